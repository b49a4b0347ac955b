// Big values in the KV journal and snapshot: a string, or a hash field's value, of
// kBigValueBytes or more is not built into a flatbuffer (which would copy it, twice counting the
// journal's buffer). Its record is a small head followed by the value's bytes, written from
// where they lie (the object, or the command's argument). A value longer than one record may be
// (Journal's limit) is cut into chunks written back to back; replay applies it only once its
// last chunk is read, so a torn write never leaves part of a value.
//
// Records kStringBytes (10) and kHashFieldBytes (11), payload (little endian):
//   0   u32  meta_len: bytes of the flatbuffer at offset 24 — a KvString (db, key, expire_at_ms,
//            raw; no value) for a string, a KvHashSet (db, key, fields = [field],
//            table_encoding) for a hash field
//   4   u32  reserved, zero
//   8   u64  the value's whole length
//   16  u64  offset of this chunk in the value
//   24  meta, zero-padded to a multiple of 8
//   ..  the chunk's bytes, to the end of the payload
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/kv/kv_types.h"
#include "wire/status.h"

namespace sluice::kv {

class StringObject;

inline constexpr uint8_t kStringBytesRecord = 10;
inline constexpr uint8_t kHashFieldBytesRecord = 11;
inline constexpr size_t kBigValueBytes = 1u << 20;
// Bytes of a value per record: well under the journal's record limit.
inline constexpr size_t kBigValueChunk = 256u << 20;

// Where a big value's records go: called once per chunk with the record's head and its bytes.
class BigValueSink {
 public:
  virtual ~BigValueSink() = default;
  virtual void emit_parts(uint8_t type, std::string_view head, std::string_view body) = 0;
};

// Emits the records of string `value` at (db, key), `chunk` bytes of it at most per record.
void emit_big_string(BigValueSink& out, int db, std::string_view key, const StringObject& value,
                     size_t chunk = kBigValueChunk);
// Emits the records that set `field` of the hash at (db, key) to `value` (creating the hash).
void emit_big_hash_field(BigValueSink& out, int db, std::string_view key, std::string_view field,
                         std::string_view value, bool table_encoding,
                         size_t chunk = kBigValueChunk);

// Replays kStringBytes and kHashFieldBytes records, holding a chunked value until its last
// chunk.
class BigValueReplay {
 public:
  BigValueReplay();
  ~BigValueReplay();
  wire::Status replay(KvReplayTarget& target, uint8_t type, std::string_view payload);
  // Any other record: a chunked value left incomplete before it was never acknowledged.
  void interrupted();

 private:
  struct Pending;
  wire::Status apply(KvReplayTarget& target, Pending& value);
  std::unique_ptr<Pending> pending_;
};

}  // namespace sluice::kv
