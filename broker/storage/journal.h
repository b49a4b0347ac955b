// Journal: an append-only file of framed records with snapshot + rotate, for state that is
// replayed rather than range-read: a stream's control records (tombstones, trims, XSETID),
// consumer-group effects, the KV layer.
//
// Files in the owner's directory, for a journal named <name>:
//   <name>.snap         the latest snapshot: frames, written atomically (tmp, fsync, rename,
//                       fsync dir)
//   <name>.journal      records appended since that snapshot (or since the last rotation)
//   <name>.journal.<g>  a journal of generation g retired by begin_snapshot(): records a
//                       background snapshot in progress will cover, kept until it has
// Each file starts with a 16-byte header: magic ("SLSN" / "SLJN", 4), version (4, little
// endian, 1), generation (8, little endian). A snapshot of generation S covers every journal of
// a generation below S. write_snapshot bumps the generation in the new snapshot before it resets
// the journal, so a crash between the two leaves a journal of an older generation, which
// recovery discards instead of replaying it twice.
// Recovery: load every snapshot frame, then the retired journals not covered by it (oldest
// first), then the live journal, in order; a torn tail is truncated (reported), a bad frame in
// the middle stops replay with kCorruption.
//
// Background snapshots (the KV layer writes its snapshot in a forked child so a large keyspace
// never stalls the loop): begin_snapshot() retires the live journal and starts a new one of the
// next generation, and returns where the snapshot of the state at that moment goes; anyone may
// write it there with SnapshotWriter (it renames it into place when complete); finish_snapshot()
// then deletes the retired journals it covers, or, when the writer failed, leaves them to be
// replayed. A retired journal's unsynced tail and the directory entries stay in the sync targets
// (sync_fds) until a sync covers them, so rotation never costs the loop an fsync.
// Batches: records appended between begin_batch() and end_batch() follow a marker frame (type
// kBatchRecordType, payload: the byte length of the batch's frames, 8 bytes little endian), and
// replay applies them only once all are present and valid: a batch cut by a crash is a torn tail
// and is dropped whole.
// Not thread-safe: only fdatasync(fd()) may run on another thread, and the Journal must outlive
// such a call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "wire/status.h"

namespace sluice::storage {

using wire::Status;

class Journal {
 public:
  using Replay = std::function<Status(uint8_t type, std::string_view payload, bool from_snapshot)>;

  // Opens dir/<name>.{snap,journal}, replays both through `replay`, and is ready to append.
  static wire::Result<std::unique_ptr<Journal>> open(std::string dir, std::string name,
                                                     const Replay& replay,
                                                     uint64_t* truncated_bytes = nullptr);
  ~Journal();

  // Where a background snapshot goes, from begin_snapshot().
  struct SnapshotTarget {
    std::string tmp_path;    // written by SnapshotWriter
    std::string final_path;  // <name>.snap
    std::string dir;
    uint64_t generation = 0;  // the snapshot's; it covers every journal below it
  };
  // Record type byte reserved for batch markers in every journal.
  static constexpr uint8_t kBatchRecordType = 255;

  // Buffers a record; flush() writes, sync targets as in SegmentedLog.
  Status append(uint8_t type, std::string_view payload);
  // Opens a batch (nested calls only count); end_batch() closes it. A batch of fewer than two
  // records gets no marker. flush() writes nothing of an open batch.
  void begin_batch();
  void end_batch();
  // Drops the open batch's records (nothing of it was written yet).
  void abort_batch();
  bool in_batch() const;
  // Appends a record whose payload is `head` followed by `body` and writes it now, after what
  // was buffered, straight from those bytes: a big value is neither copied into the buffer nor
  // referenced after this returns. A few writes per call, so for big payloads only. Inside a
  // batch it is buffered like append(), so the batch stays one unit.
  Status append_now(uint8_t type, std::string_view head, std::string_view body);
  Status flush();
  bool has_unflushed() const;
  bool needs_sync() const;
  // The live journal's descriptor; -1 while the descriptor budget has it closed, which is only
  // while !needs_sync() (open_files.h).
  int fd() const;
  // Descriptors the next flush may open (open_files.h): 1 while the budget has it closed.
  size_t descriptors_to_open() const { return fd() < 0 ? 1 : 0; }
  // Every fd a sync must fdatasync, in order: retired journals with unsynced bytes, the
  // directory after a rotation, then the live journal.
  void sync_fds(std::vector<int>* fds) const;
  // A position that only grows (across snapshots too): read it before syncing sync_fds() on a
  // worker, pass it to mark_synced() after.
  uint64_t flushed_offset() const;
  void mark_synced(uint64_t offset);
  // A worker's fdatasync(fd()) failed: the journal turns failed().
  void mark_sync_failed(const Status& cause);
  Status sync();
  // Storage failed and what was written since must go: cuts the file back as `cut` says
  // (kBeforeLastFlush only for a journal flushed in the failed batch) and drops buffered
  // records. The journal is failed() afterwards and writes nothing more: reopen it to go on.
  Status roll_back(CutTo cut);

  // Journal bytes since the last snapshot (owner decides when to snapshot).
  uint64_t journal_bytes() const;
  // Bytes of RAM held by the buffer of records not yet written (its capacity).
  uint64_t buffer_bytes() const;
  // Replaces the snapshot with `frames` (already framed with append_frame) and empties the
  // journal. Durable when it returns OK (it fsyncs). Runs on the calling thread. Not while a
  // background snapshot is in progress.
  Status write_snapshot(std::string_view frames);
  // Flushes, retires the live journal and starts the next generation (no fsync on the calling
  // thread). The snapshot of the state at this moment goes to the returned target.
  wire::Result<SnapshotTarget> begin_snapshot();
  // After the writer of `target` finished: `written` says whether the snapshot is in place.
  void finish_snapshot(const SnapshotTarget& target, bool written);
  bool snapshot_in_progress() const;
  Status destroy();  // remove both files
  bool failed() const;

 private:
  struct Impl;
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The 16-byte header a snapshot file of `generation` starts with (SnapshotWriter writes it).
std::string snapshot_file_header(uint64_t generation);

// Writes `bytes` to `path` atomically: path.tmp, fdatasync, rename, fsync the directory.
Status write_file_atomic(const std::string& path, std::string_view bytes);
// Reads a whole file. kNotFound if it does not exist.
wire::Result<std::string> read_file(const std::string& path);
// fsync a directory (after creating, renaming or unlinking in it).
Status sync_dir(const std::string& dir);

}  // namespace sluice::storage
