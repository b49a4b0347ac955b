// Journal: an append-only file of framed records with snapshot + rotate, for state that is
// replayed rather than range-read: a stream's control records (tombstones, trims, XSETID),
// consumer-group effects, the KV layer.
//
// Files in the owner's directory, for a journal named <name>:
//   <name>.snap      the latest snapshot: frames, written atomically (tmp, fsync, rename, fsync
//   dir) <name>.journal   records appended since that snapshot
// Each file starts with a 16-byte header: magic ("SLSN" / "SLJN", 4), version (4, little
// endian, 1), generation (8, little endian). write_snapshot bumps the generation in the new
// snapshot before it resets the journal, so a crash between the two leaves a journal of an older
// generation, which recovery discards instead of replaying it twice.
// Recovery: load every snapshot frame, then every journal frame, in order; a torn tail of the
// journal is truncated (reported), a bad frame in the middle stops replay with kCorruption.
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

  // Buffers a record; flush() writes, sync targets as in SegmentedLog.
  Status append(uint8_t type, std::string_view payload);
  Status flush();
  bool has_unflushed() const;
  bool needs_sync() const;
  int fd() const;
  // A position that only grows (across snapshots too): read it before fdatasync(fd()) on a
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
  // Replaces the snapshot with `frames` (already framed with append_frame) and empties the
  // journal. Durable when it returns OK (it fsyncs). Runs on the calling thread.
  Status write_snapshot(std::string_view frames);
  Status destroy();  // remove both files
  bool failed() const;

 private:
  struct Impl;
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes `bytes` to `path` atomically: path.tmp, fdatasync, rename, fsync the directory.
Status write_file_atomic(const std::string& path, std::string_view bytes);
// Reads a whole file. kNotFound if it does not exist.
wire::Result<std::string> read_file(const std::string& path);
// fsync a directory (after creating, renaming or unlinking in it).
Status sync_dir(const std::string& dir);

}  // namespace sluice::storage
