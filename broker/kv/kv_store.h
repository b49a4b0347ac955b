// KvStore: persistence of the KV layer (strings, hashes, TTLs) through a journal of effects
// plus snapshots in <dir>/kv/ (records in wire/schema/kv.fbs), under the same appendfsync
// policy as streams: commands append records to an in-memory buffer (a memcpy), the server
// flushes once per loop iteration and syncs on the thread pool.
//
// Recovery (open): load kv.snap, replay kv.journal, then drop keys whose absolute TTL passed
// while the server was down (journaling their removal, so a later write to the same key is
// never replayed onto the stale value). When the journal grows past a threshold (and twice the
// last snapshot), flush() replaces the snapshot with the current keys and empties the journal.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "broker/core/durability.h"
#include "broker/kv/kv_records.h"
#include "broker/kv/kv_types.h"
#include "wire/status.h"

namespace sluice::core {
class Broker;
class Object;
}  // namespace sluice::core

namespace sluice::storage {
class Journal;
}

namespace sluice::kv {

class StringObject;

// A deep copy of a KV-layer object, TTL included (COPY). nullptr for streams.
std::unique_ptr<core::Object> clone_kv_object(const core::Object& obj);

// As a KvRecordSink, the store journals what the type modules and commands emit: build a record
// in fbb(), Finish() it, emit(type).
class KvStore : public core::DurableSource, public KvRecordSink, public KvReplayTarget {
 public:
  explicit KvStore(core::Broker& broker);
  ~KvStore() override;
  // Loads every database's KV keys from disk. Throws std::runtime_error on corruption.
  void open();
  // Flushes and fdatasyncs the journal (shutdown, DEBUG RELOAD).
  void close();

  // Journals the removal of a string or hash key (DEL, expiry, overwrite by another type).
  void record_delete(int db, std::string_view key);
  // The whole value and TTL of a string key (SET, INCR, GETEX...).
  void record_string(int db, std::string_view key, const StringObject& value);
  // APPEND / SETRANGE.
  void record_string_range(int db, std::string_view key, uint64_t offset, std::string_view bytes);
  // HSET-like: field, value, field, value...
  void record_hash_set(int db, std::string_view key, std::span<const std::string_view> pairs);
  void record_hash_del(int db, std::string_view key, std::span<const std::string_view> fields);
  // A string's or hash's TTL (absolute ms, 0 = none). Streams journal their own.
  void record_expire(int db, std::string_view key, int64_t at_ms);
  // FLUSHDB (db) or FLUSHALL (-1): one record instead of one per key.
  void record_flush(int db);
  // RENAME/MOVE (copy = false) or COPY (copy = true) of a string or hash key.
  void record_move(int db, std::string_view key, int to_db, std::string_view to_key, bool copy);
  void record_swapdb(int db, int to_db);

  // Journal size (bytes) past which flush() writes a snapshot. Tests lower it.
  void set_snapshot_threshold(uint64_t bytes) { snapshot_threshold_ = bytes; }
  uint64_t snapshots_written() const { return snapshots_written_; }
  uint64_t journal_bytes() const;
  // Writes a snapshot now (flush() does when the journal is large).
  wire::Status write_snapshot();

  void emit(uint8_t type) override;
  core::Database* replay_db(int index) override;

  wire::Status flush() override;
  bool needs_sync() const override;
  void collect_sync(core::SyncBatch& batch) override;
  void roll_back(core::RollBack how) override;

 private:
  wire::Status replay(uint8_t type, std::string_view payload);
  void drop_expired_after_load();

  core::Broker& broker_;
  std::unique_ptr<storage::Journal> journal_;
  uint64_t snapshot_threshold_ = 64ull << 20;
  uint64_t last_snapshot_bytes_ = 0;
  uint64_t snapshots_written_ = 0;
  bool rolled_back_ = false;  // close() writes nothing (roll_back())
};

}  // namespace sluice::kv
