// KvStore: persistence of the KV layer (strings, hashes, TTLs) through a journal of effects
// plus snapshots in <dir>/kv/ (records in wire/schema/kv.fbs), under the same appendfsync
// policy as streams: commands append records to an in-memory buffer (a memcpy), the server
// flushes once per loop iteration and syncs on the thread pool.
//
// Recovery (open): load kv.snap, replay kv.journal, then drop keys whose absolute TTL passed
// while the server was down (journaling their removal, so a later write to the same key is
// never replayed onto the stale value).
//
// Snapshots run in the background, as Redis's BGSAVE: when the journal grows past a threshold
// (and twice the last snapshot), flush() retires the journal (Journal::begin_snapshot) and forks
// a child that writes every key as it was at that moment, while the loop goes on serving and
// journaling into the next generation. The loop pays for fork()'s page-table copy only, so a
// collection of millions of members never stalls it. A later flush() reaps the child; if it
// failed, the retired journals stay and are replayed, so nothing depends on the child.
// Big strings and hash values are journaled and snapshotted from their own bytes
// (big_value_records.h), never copied into a buffer.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/durability.h"
#include "broker/kv/big_value_records.h"
#include "broker/kv/forked_child.h"
#include "broker/kv/kv_records.h"
#include "broker/kv/kv_types.h"
#include "broker/storage/journal.h"
#include "wire/status.h"

namespace sluice::storage {
class SnapshotWriter;
}

namespace sluice::core {
class Broker;
class Object;
}  // namespace sluice::core

namespace sluice::kv {

class StringObject;

// A deep copy of a KV-layer object, TTL included (COPY). nullptr for streams.
std::unique_ptr<core::Object> clone_kv_object(const core::Object& obj);

// As a KvRecordSink, the store journals what the type modules and commands emit: build a record
// in fbb(), Finish() it, emit(type).
class KvStore : public core::DurableSource,
                public KvRecordSink,
                public KvReplayTarget,
                private BigValueSink {
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
  // HSET-like: field, value, field, value... Written before this returns when a value is big
  // (the caller may then move the arguments' bytes into the hash).
  void record_hash_set(int db, std::string_view key, std::span<const std::string_view> pairs);
  void record_hash_del(int db, std::string_view key, std::span<const std::string_view> fields);
  // The whole value of a key that holds nothing in the journal's view (RESTORE): a string,
  // hash, list, set or sorted set, TTL excluded.
  void record_value(int db, std::string_view key, const core::Object& obj);
  // A string's or hash's TTL (absolute ms, 0 = none). Streams journal their own.
  void record_expire(int db, std::string_view key, int64_t at_ms);
  // FLUSHDB (db) or FLUSHALL (-1): one record instead of one per key.
  void record_flush(int db);
  // RENAME/MOVE (copy = false) or COPY (copy = true) of a string or hash key.
  void record_move(int db, std::string_view key, int to_db, std::string_view to_key, bool copy);
  void record_swapdb(int db, int to_db);
  // The code of every function library (scripting/): replay puts it in
  // Broker::function_libraries.
  void record_functions(const std::vector<std::string>& libraries);

  // A script's or a transaction's records reach the journal as one unit: replay after a crash
  // applies all of them or none (storage::Journal batches). Batches nest; the outermost counts.
  void begin_batch();
  void end_batch();
  // Drops the records of the open batch (SHUTDOWN NOSAVE stopped a script midway).
  void abort_batch();

  // Journal size (bytes) past which flush() starts a background snapshot. Tests lower it.
  void set_snapshot_threshold(uint64_t bytes) { snapshot_threshold_ = bytes; }
  uint64_t snapshots_written() const { return snapshots_written_; }
  uint64_t journal_bytes() const;
  // RAM held by the journal's buffer of unwritten records (INFO mem_not_counted_for_evict).
  uint64_t journal_buffer_bytes() const;
  // Writes a snapshot now, on this thread (a background one in progress is abandoned).
  wire::Status write_snapshot();
  // Starts a background snapshot (flush() does when the journal is large). False when one is
  // already running, a batch is open or the journal could not be rotated.
  bool start_background_snapshot();
  bool snapshot_running() const { return child_.running(); }
  // Background snapshots that failed since the last one that succeeded (INFO).
  uint64_t snapshot_failures() const { return snapshot_failures_; }
  // Waits for a background snapshot to end and completes it (tests, shutdown-like waits).
  wire::Status wait_for_snapshot();

  void emit(uint8_t type) override;
  core::Database* replay_db(int index) override;
  const config::Config& replay_config() const override;

  wire::Status flush() override;
  bool needs_sync() const override;
  void collect_sync(core::SyncBatch& batch) override;
  void roll_back(core::RollBack how) override;

 private:
  wire::Status replay(uint8_t type, std::string_view payload);
  void drop_expired_after_load();
  // The Lua function libraries, as the first snapshot record.
  void snapshot_functions(KvRecordSink& out) const;
  void emit_parts(uint8_t type, std::string_view head, std::string_view body) override;
  // Every key's records (and the function libraries) into `out`: in a forked child, or on the
  // loop for write_snapshot. No logging (see ForkedChild).
  bool write_state(storage::SnapshotWriter& out) const;
  // Completes a background snapshot that ended: `written` says whether its file is in place.
  void finish_background_snapshot(bool written, const std::string& why);
  void stop_background_snapshot();

  core::Broker& broker_;
  std::unique_ptr<storage::Journal> journal_;
  BigValueReplay big_replay_;
  ForkedChild child_;
  storage::Journal::SnapshotTarget snapshot_target_;
  uint64_t snapshot_threshold_ = 64ull << 20;
  uint64_t last_snapshot_bytes_ = 0;
  uint64_t snapshots_written_ = 0;
  uint64_t snapshot_failures_ = 0;
  int64_t next_snapshot_ms_ = 0;  // after a failed one, not before this
  int64_t last_poll_ms_ = 0;
  bool rolled_back_ = false;  // close() writes nothing (roll_back())
};

}  // namespace sluice::kv
