// Stream: one stream key, stored as a SegmentedLog of entries plus a control journal
// (tombstones, trims, XSETID, TTL). In RAM: the metadata below, the deleted-ID set, the log's
// segment list and sparse indexes, its hot tail cache, and the consumer groups. Entries
// themselves are read from the log on demand, so a stream can be far larger than memory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "broker/core/object.h"
#include "broker/storage/journal.h"
#include "broker/storage/segmented_log.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/idmp.h"
#include "broker/stream/stream_node.h"
#include "wire/status.h"
#include "wire/stream_id.h"

namespace sluice::stream {

struct TrimSpec {
  enum class Strategy : uint8_t { kNone, kMaxLen, kMinId };
  Strategy strategy = Strategy::kNone;
  bool approx = false;
  uint64_t maxlen = 0;
  StreamId minid;
  // -1: default (approx: 100 * node_max_entries, 10000 when that is 0, at most 1000000, as in
  // Redis; exact: no limit)
  int64_t limit = -1;
  // Entries with IDs >= keep_from stay whatever the strategy says (trimming with ACKED stops at
  // the first entry a consumer group still references).
  std::optional<StreamId> keep_from;
};

// Retention limits (stream-retention-ms / stream-retention-bytes); 0 turns a limit off.
struct RetentionPolicy {
  int64_t max_age_ms = 0;
  uint64_t max_bytes = 0;
  bool enabled() const { return max_age_ms > 0 || max_bytes > 0; }
};

struct StreamOptions {
  storage::LogOptions log;
  int64_t node_max_entries = 100;  // stream-node-max-entries
  int64_t node_max_bytes = 4096;   // stream-node-max-bytes
};

// How XADD asked for its ID.
struct IdRequest {
  enum class Kind : uint8_t { kAuto, kAutoSeq, kExplicit };  // "*", "ms-*", "ms-seq"
  Kind kind = Kind::kAuto;
  StreamId id;  // ms (and seq for kExplicit)
};

class Stream final : public core::Object {
 public:
  using EntryVisitor = std::function<bool(StreamId id, std::string_view resp)>;

  std::string_view encoding() const override { return "stream"; }

  // Opens the stream stored in `dir` (creating an empty one if the directory is new).
  static wire::Result<std::unique_ptr<Stream>> open(std::string dir, const StreamOptions& options,
                                                    storage::RecoveryReport* report);
  ~Stream() override;

  uint64_t number = 0;  // directory number under <dir>/db<N>/streams/
  int db = 0;
  std::string key;

  uint64_t length() const { return records_ - deleted_.size(); }
  StreamId last_id() const { return last_id_; }
  StreamId first_id() const { return first_id_; }  // 0-0 when empty
  uint64_t entries_added() const { return entries_added_; }
  StreamId max_deleted_id() const { return max_deleted_id_; }
  const std::string& dir() const { return dir_; }
  const storage::SegmentedLog& log() const { return *log_; }

  // The ID XADD would assign; errors as Redis (kIdTooSmall, kIdZero, exhausted).
  wire::Result<StreamId> next_id(const IdRequest& request, int64_t now_ms) const;
  // Appends an entry with an ID from next_id().
  wire::Status append(StreamId id, std::span<const std::string_view> fields);
  // stream-node-max-entries / stream-node-max-bytes as they are now (Redis reads them at every
  // XADD and trim).
  void set_node_limits(int64_t max_entries, int64_t max_bytes) {
    options_.node_max_entries = max_entries;
    options_.node_max_bytes = max_bytes;
  }
  // XTRIM / XADD trimming. Returns the number of entries removed.
  wire::Result<uint64_t> trim(const TrimSpec& spec);
  // Retention works in whole segments and never drops the newest one. Returns how many of the
  // oldest segments are past `policy` at now_ms: those whose last entry's ms part is older than
  // now_ms - max_age_ms, then more while the log is larger than max_bytes.
  size_t expired_segments(int64_t now_ms, const RetentionPolicy& policy) const;
  // Drops the `count` oldest segments (fewer than segment_count()). The result is that of an
  // exact XTRIM MINID at the first ID of the segment after them, but the counts come from
  // segment metadata, so the dropped entries are not read. Returns the entries removed.
  wire::Result<uint64_t> drop_oldest_segments(size_t count);
  // XDEL. Returns how many of `ids` existed and were deleted.
  wire::Result<uint64_t> remove(std::span<const StreamId> ids);
  // XSETID (validation is the caller's).
  wire::Status set_id(StreamId last_id, std::optional<uint64_t> entries_added,
                      std::optional<StreamId> max_deleted_id);

  // Visits live entries with from <= id <= to (descending with reverse), at most `count`
  // (0 = no limit). The resp view is valid during the callback only.
  wire::Status range(StreamId from, StreamId to, bool reverse, uint64_t count,
                     const EntryVisitor& visit) const;
  // The live entry with exactly `id`, if any.
  bool lookup(StreamId id, const EntryVisitor& visit) const;
  bool contains(StreamId id) const;
  // ID of the last live entry (0-0 when empty).
  StreamId last_entry_id() const;

  // Journals the key's TTL (the value lives in Object::expire_at_ms).
  wire::Status persist_expire();

  // Durability.
  wire::Status flush();
  bool needs_sync() const;
  storage::SegmentedLog& mutable_log() { return *log_; }
  storage::Journal& control() { return *control_; }
  wire::Status sync();
  // Cuts the log and both journals back (SegmentedLog::roll_back): storage failed, the stream
  // is reopened from disk next.
  wire::Status roll_back(storage::CutTo cut);
  // Segments wholly behind the start are unlinked only once the state record that moved the
  // start is durable: a crash in between finds the old state with all its records, never the
  // records unlinked and the start that explains it lost. pending_drop() is the start a sync
  // taken now makes durable (with the control journal flushed); start_durable(s) unlinks the
  // segments behind s once that sync completed.
  std::optional<StreamId> pending_drop() const;
  void start_durable(StreamId start);
  // Leading segments whose records are all behind the start (unlinked at the next sync).
  size_t dead_segments() const;
  // Removes every file (the key was deleted). The object stays valid until destroyed.
  wire::Status destroy_files();
  bool failed() const;

  // Consumer groups, ordered by name (XINFO order).
  std::map<std::string, std::unique_ptr<ConsumerGroup>, std::less<>> groups;
  // The groups module's journal (opened by it; lives in this directory).
  std::unique_ptr<storage::Journal> group_journal;
  // Idempotent producers (XADD IDMP), journaled in group_journal with the groups.
  IdmpState idmp;

  // Estimated RAM of this stream (INFO streams).
  uint64_t memory_bytes() const;
  uint64_t deleted_count() const { return deleted_.size(); }
  StreamId start() const { return start_; }

 private:
  struct HeadNode {
    bool valid = false;
    uint64_t live = 0;
    uint64_t total = 0;
    StreamId last_id;
    StreamId next_start;
  };
  Stream() : core::Object(core::ObjectType::kStream) {}
  wire::Status recover(const StreamOptions& options, storage::RecoveryReport* report);
  // Recovery after a crash that kept a trim's unlinks but lost its state record: moves start_ to
  // the log's first record and recounts records_ from segment metadata, as an exact XTRIM MINID
  // to that record would. `lost_appends`: entries appended after the state's anchor whose records
  // are gone. Returns true if it changed anything (the caller journals the state).
  bool repair_lost_head(uint64_t lost_appends);
  wire::Status write_state();
  wire::Status maybe_snapshot();
  void recompute_first_id();
  // Records were lost to damage in the log (`gaps`): drops their tombstones and recounts.
  void recount_after_loss(std::span<const storage::KeyGap> gaps);
  const HeadNode& head_node();
  // Whether the entry appended next starts a stream node (restores the tail node's model from
  // the log after a restart first).
  bool starts_node(StreamId id, std::span<const std::string_view> fields);
  void restore_tail_node();
  // Moves the logical start forward (trims, retention, deletions at the head), journals the new
  // state and leaves the segments behind it to start_durable().
  wire::Status move_start(StreamId new_start, uint64_t records_removed);
  // Moves the start past the tombstones at the head of the stream, and journals it (XDEL).
  wire::Status compact_head();
  // Moves start_ past the tombstones between it and the first live entry; true if it moved.
  bool skip_head_tombstones();
  uint64_t segment_records(size_t from) const;  // log records in segments from..last
  // About how many log bytes a forward range scan reads to visit `count` live entries (from the
  // log's average record size, tombstones included, with some slack): the log's read hint.
  uint64_t expected_scan_bytes(uint64_t count) const;
  // The ID right after the last log record / last_id, for an "everything passed" start.
  StreamId after_last() const;

  std::string dir_;
  std::optional<StreamId> drop_pending_;  // a start whose segments behind wait for a sync
  StreamOptions options_;
  std::unique_ptr<storage::SegmentedLog> log_;
  std::unique_ptr<storage::Journal> control_;
  EntryEncoder encoder_;

  StreamId last_id_;
  StreamId first_id_;
  StreamId max_deleted_id_;
  StreamId start_;  // logical start: log records below are gone
  uint64_t entries_added_ = 0;
  uint64_t records_ = 0;  // log records >= start_ (live or tombstoned)
  uint64_t next_ordinal_ = 0;
  std::set<StreamId> deleted_;  // tombstoned IDs >= start_
  HeadNode head_;
  // Node boundaries: with node_marks_ (streams created by this version) each node's first entry
  // carries node_start, placed by tail_node_ as Redis places them; older streams group entries
  // by ordinal / node_max_entries.
  bool node_marks_ = true;
  bool tail_restored_ = false;
  NodeModel tail_node_;
};

}  // namespace sluice::stream
