// Big string values in the KV journal and snapshot. A string of kBigStringBytes or more is not
// built into a flatbuffer (which would copy it, twice counting the journal's buffer): its record
// is a small head followed by the value's bytes, written from the StringObject itself. A value
// longer than one record may be (Journal's limit) is cut into chunks written back to back; replay
// installs it only once its last chunk is read, so a torn write never leaves part of a value.
//
// Record kStringBytes (10), payload (little endian):
//   0   u32  meta_len: bytes of the KvString flatbuffer at offset 24 (db, key, expire_at_ms, raw;
//            its value field is left out)
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
inline constexpr size_t kBigStringBytes = 1u << 20;
// Bytes of a value per record: well under the journal's record limit.
inline constexpr size_t kBigStringChunk = 256u << 20;

// Where a big string's records go: called once per chunk with the record's head and its bytes.
class BigStringSink {
 public:
  virtual ~BigStringSink() = default;
  virtual void emit_parts(uint8_t type, std::string_view head, std::string_view body) = 0;
};

// Emits the records of `value` at (db, key), `chunk` bytes of it at most per record.
void emit_big_string(BigStringSink& out, int db, std::string_view key, const StringObject& value,
                     size_t chunk = kBigStringChunk);

// Replays kStringBytes records, holding a chunked value until its last chunk.
class BigStringReplay {
 public:
  BigStringReplay();
  ~BigStringReplay();
  wire::Status replay(KvReplayTarget& target, std::string_view payload);
  // Any other record: a chunked value left incomplete before it was never acknowledged.
  void interrupted();

 private:
  struct Pending;
  std::unique_ptr<Pending> pending_;
};

}  // namespace sluice::kv
