// StreamEngine: every stream on disk. Streams live in <dir>/streams/<number>/ with a `meta` file
// naming their database and key (binary-safe; numbered directories because keys can be longer
// than NAME_MAX, and RENAME/MOVE/SWAPDB only rewrite `meta`). The engine opens them at start,
// creates and destroys them, and is the DurableSource that flushes and syncs their files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "broker/core/durability.h"
#include "broker/core/object.h"
#include "broker/stream/stream.h"

namespace sluice::core {
class Broker;
}

namespace sluice::stream {

class StreamEngine final : public core::DurableSource {
 public:
  explicit StreamEngine(core::Broker& broker);
  ~StreamEngine() override;

  // Recovers every stream and inserts it into its database. Throws std::runtime_error when a
  // stream cannot be recovered (corruption without quarantine).
  void open();
  // Flushes and fdatasyncs every stream (shutdown, DEBUG RELOAD).
  void close();

  // A new, empty stream for (db, key); the caller puts it into the database.
  wire::Result<std::unique_ptr<Stream>> create(int db, std::string_view key);
  // The key was removed: delete the stream's files. Frees the object once no sync uses its fds.
  void destroy(std::unique_ptr<core::Object> obj);
  // The key was renamed or moved (RENAME, MOVE, SWAPDB): rewrite its meta file.
  wire::Status relocate(Stream& stream, int db, std::string_view key);
  // Notes that a stream has buffered writes to flush this iteration (and that a write happened:
  // Broker::note_write).
  void mark_dirty(Stream& stream) {
    if (dirty_.insert(stream.number).second) reserve_descriptors(stream);
    epochs_.note_write();
  }

  // A group of `stream` dead-lettered an entry (dead_letter.h): marks it dirty, and tracks its
  // intents until a completed sync shows the DLQ appends durable.
  void note_dead_letter(Stream& stream) {
    dead_letter_streams_.insert(stream.number);
    mark_dirty(stream);
  }
  // What recovery repaired at open (recover_dead_letters()).
  struct DeadLetterRepair {
    uint64_t appended = 0;  // DLQ appends lost in a crash, made again from the group journal
    uint64_t resolved = 0;  // entries in a DLQ whose removal from the PEL was lost, removed now
  };
  const DeadLetterRepair& dead_letter_repair() const { return dead_letter_repair_; }

  StreamOptions options() const;
  std::string streams_dir() const;

  // Retention (stream-retention-ms, stream-retention-bytes; read at every call, so CONFIG SET
  // applies at once). Each call visits at most max_streams streams, going on from where the
  // previous call stopped, and drops at most max_segments segments in all; a stream left with
  // expired segments is visited first next time. A drop is a trim (Stream::drop_oldest_segments)
  // with the same effects as XTRIM: WATCH invalidation and an `xtrim` keyspace event.
  struct RetentionPass {
    uint64_t streams_visited = 0;
    uint64_t segments_dropped = 0;
    uint64_t entries_dropped = 0;
  };
  static constexpr size_t kRetentionStreamsPerCall = 256;
  static constexpr size_t kRetentionSegmentsPerCall = 64;
  RetentionPass apply_retention(int64_t now_ms, size_t max_streams = kRetentionStreamsPerCall,
                                size_t max_segments = kRetentionSegmentsPerCall);

  // Idle-consumer limits (XGROUP SETCONSUMERIDLE): deletes, in every group with a limit, the
  // consumers without pending entries idle for at least the limit, journaling each deletion and
  // emitting `xgroup-delconsumer`. Returns how many were deleted (server cron, every tick).
  uint64_t reap_idle_consumers(int64_t now_ms);
  uint64_t consumers_reaped() const { return consumers_reaped_; }

  // INFO streams.
  struct Totals {
    uint64_t streams = 0;
    uint64_t entries = 0;
    uint64_t disk_bytes = 0;
    uint64_t record_bytes = 0;  // disk_bytes before compression of sealed segments
    uint64_t memory_bytes = 0;
    uint64_t segments = 0;
    uint64_t groups = 0;
    uint64_t dead_letters = 0;     // entries moved to dead-letter streams, all groups (lifetime)
    uint64_t stale_consumers = 0;  // consumers past their group's idle limit, pending entries
  };
  Totals totals() const;
  // Every group with a dead-letter stream (INFO streams), in stream-number order.
  struct DeadLetterGroup {
    int db;
    const std::string* key;
    const ConsumerGroup* group;
  };
  std::vector<DeadLetterGroup> dead_letter_groups() const;
  // Every open stream by its number (the web console's lag sampler walks them in order).
  const std::map<uint64_t, Stream*>& by_number() const { return by_number_; }
  uint64_t recovered_truncated_bytes() const { return truncated_bytes_; }

  // core::DurableSource
  wire::Status flush() override;
  bool needs_sync() const override;
  void collect_sync(core::SyncBatch& batch) override;
  void roll_back(core::RollBack how) override;

 private:
  Stream* find(uint64_t number);
  void free_graveyard();
  // At open, once every stream is loaded: makes each dead letter whole again (dead_letter.h).
  void recover_dead_letters();
  // Journals the dead-letter confirmations that completed syncs brought (flush(), close()).
  void journal_dead_letter_confirmations();
  void redo_lost_dead_letter_appends();
  void resolve_dead_letters_still_pending();

  core::Broker& broker_;
  core::WriteEpoch& epochs_;
  uint64_t next_number_ = 1;
  std::map<uint64_t, Stream*> by_number_;  // ordered: retention resumes at a number
  std::unordered_set<uint64_t> dirty_;
  std::unordered_set<uint64_t> unsynced_;  // flushed, not yet fdatasynced
  std::vector<std::unique_ptr<core::Object>> graveyard_;
  // The descriptors this iteration's dirty streams will open at flush, counted in the storage
  // descriptor budget from the first write on (open_files.h): a pipeline writing to thousands
  // of streams whose files are closed stops before the flush would run out of descriptors.
  void reserve_descriptors(Stream& stream);
  void release_reserved_descriptors();
  size_t reserved_descriptors_ = 0;
  std::vector<int> pending_dir_fds_;     // new stream dirs / meta files to fsync once
  std::vector<uint64_t> flushed_round_;  // streams the latest flush() wrote
  std::vector<uint64_t> created_round_;  // streams created since the last good flush()
  std::set<uint64_t> created_unsynced_;  // streams created since the last completed sync
  bool rolled_back_ = false;             // close() writes nothing (roll_back())
  uint64_t truncated_bytes_ = 0;
  uint64_t retention_cursor_ = 0;
  uint64_t consumers_reaped_ = 0;  // the stream number retention visits next
  int streams_dir_fd_ = -1;
  std::unordered_set<uint64_t> dead_letter_streams_;  // streams with unconfirmed dead letters
  DeadLetterRepair dead_letter_repair_;
};

}  // namespace sluice::stream
