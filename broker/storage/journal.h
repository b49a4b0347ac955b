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
// A snapshot may also be written by another process (a fork) while appends go on: see
// begin_snapshot(). It ends the same way, with one rename, so a crash leaves either the old
// snapshot and the whole journal or the new snapshot, which holds every record appended since.
// Not thread-safe: only fdatasync(fd()) may run on another thread, and the Journal must outlive
// such a call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // Appends a record whose payload is `head` followed by `body` and writes it now, after what
  // was buffered, straight from those bytes: a big value is neither copied into the buffer nor
  // referenced after this returns. A few writes per call, so for big payloads only.
  Status append_now(uint8_t type, std::string_view head, std::string_view body);
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

  // Journal bytes since the last snapshot (owner decides when to snapshot).
  uint64_t journal_bytes() const;
  // Replaces the snapshot with `frames` (already framed with append_frame) and empties the
  // journal. Durable when it returns OK (it fsyncs). Runs on the calling thread.
  Status write_snapshot(std::string_view frames);

  // A snapshot written while appends go on:
  //   begin_snapshot() writes what is buffered and says where the new snapshot goes;
  //   a SnapshotWriter (possibly in a forked child) writes the state as of that moment there;
  //   finish_snapshot() copies the records appended since begin_snapshot() to its end, makes it
  //   durable, renames it over <name>.snap and empties the journal; or abort_snapshot() drops
  //   it. A failed finish leaves the journal as it was (only a failure after the rename fails
  //   the journal).
  struct SnapshotTarget {
    std::string path;    // <name>.snap.tmp
    std::string header;  // the file header the writer starts with
  };
  wire::Result<SnapshotTarget> begin_snapshot();
  // The new snapshot's size in bytes.
  wire::Result<uint64_t> finish_snapshot();
  void abort_snapshot();
  bool snapshot_in_progress() const;
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
