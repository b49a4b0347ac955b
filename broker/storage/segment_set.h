// SegmentSet: the state behind a SegmentedLog (its segments in key order, sync bookkeeping) and
// the operations on it. segment_set.cc holds the write side (append, flush, sync, seal, drop),
// segment_scan.cc the read side; segmented_log.cc is the public facade and recovery glue.
//
// Sealing is asynchronous: a full segment turns kSealing and stays among the sync targets (its
// descriptor open) until a mark_synced() covers its last byte; only then is its .idx written
// (tmp + rename without fsync: the sidecar verifies itself and describes bytes already durable)
// and the segment becomes kSealed. A token's descriptors stay open until mark_synced() or
// mark_sync_failed() retires it (and while the caller keeps SyncTargets::hold), so sealing,
// dropping or the read-side descriptor cache never makes a worker fdatasync a closed or reused
// descriptor.
// Not thread-safe: every method runs on the owner's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/storage/segment_file.h"
#include "broker/storage/segment_reader.h"
#include "broker/storage/segmented_log.h"

namespace sluice::storage {

struct SegmentSet {
  using Visitor = SegmentedLog::Visitor;
  using SyncTargets = SegmentedLog::SyncTargets;

  struct PendingSync {
    uint64_t token = 0;
    std::vector<std::pair<uint64_t, uint64_t>> sizes;  // (segment serial, flushed bytes)
    uint64_t dir_changes = 0;
    std::shared_ptr<const void> held;  // the token's descriptors stay open until it is marked
  };

  std::string dir;
  LogOptions options;
  KeyOfFn key_of;
  std::vector<std::unique_ptr<Segment>> segments;  // key order; only the last may be kActive
  StreamId last_key;
  bool any_key = false;  // last_key is meaningful (something was ever appended or recovered)
  uint64_t next_serial = 1;
  bool failed = false;
  std::shared_ptr<FileHandle> dir_handle;
  uint64_t dir_changes = 0;  // file creations and unlinks in dir so far
  uint64_t dir_synced = 0;   // dir_changes covered by a completed sync
  uint64_t next_token = 1;
  std::deque<PendingSync> pending_syncs;
  mutable uint64_t read_clock = 0;
  // Until the owner's recovery is done (SegmentedLog::finish_recovery), a read that meets a
  // damaged record fails under the refuse policy (the owner then refuses to start); afterwards,
  // and under quarantine, the damage is isolated and skipped (damaged_frame()).
  bool recovering = true;
  mutable std::vector<KeyGap> lost;  // at open and since: where records are missing
  // Where the latest flush() began writing: the first segment with unflushed bytes and its size
  // on disk then (segments after it had nothing on disk). roll_back(false) returns files there.
  uint64_t round_serial = 0;
  uint64_t round_offset = 0;
  SegmentedLog::LossListener on_loss;

  SegmentSet() = default;
  SegmentSet(const SegmentSet&) = delete;
  SegmentSet& operator=(const SegmentSet&) = delete;
  ~SegmentSet();

  // Compression of sealed segments (segment_set.cc).
  void schedule_compression(Segment& seg);
  void poll_compressions() const;  // (changes segments, never the set's own fields)

  // Write side (segment_set.cc).
  Status append(StreamId key, uint8_t type, std::string_view payload);
  Status flush();
  SyncTargets sync_targets();
  void mark_synced(uint64_t token);
  void mark_sync_failed(uint64_t token, const Status& cause);
  Status sync();
  bool needs_sync() const;
  void drop_before(StreamId key);
  Status remove_all();
  Status roll_back(CutTo cut);
  Status fail(const Status& cause);
  Status storage_failed() const;

  // Read side (segment_scan.cc).
  // expected_bytes (0: unknown) sizes the first file read of each segment; see SegmentedLog::scan.
  Status scan_forward(StreamId from, StreamId to, const Visitor& visit,
                      uint64_t expected_bytes = 0) const;
  Status scan_reverse(StreamId from, StreamId to, const Visitor& visit) const;

 private:
  Segment* active();
  // Opens an unsealed segment's file for writing: creates it, or reopens it after the
  // descriptor budget closed it.
  Status open_for_write(Segment& seg);
  static Status reopen_for_write(Segment& seg);  // (an unsealed segment already on disk)
  Status flush_segment(Segment& seg);
  void trim_cache(Segment& seg);
  void finish_ready_seals();
  void unlink_segment(Segment& seg);
  Status ensure_readable(Segment& seg) const;
  void cancel_compression(Segment& seg);
  SegmentBytes bytes_of(const Segment& seg) const;
  Status bad_frame(const Segment& seg, uint64_t offset, const char* why) const;
  // A read met a frame at `offset` of seg's file that does not verify (see `recovering`). Checks
  // the whole file, copies newly found damaged ranges aside, reports them, and returns in *resume
  // the end of the range holding `offset`, where the read goes on.
  Status damaged_frame(Segment& seg, uint64_t offset, const char* why, uint64_t* resume) const;
  size_t first_segment_for(StreamId key) const;
  void stopped_at(const Segment& seg, StreamId key, uint64_t next, uint64_t page_bytes,
                  bool sequential) const;
};

}  // namespace sluice::storage
