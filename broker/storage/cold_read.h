// Cold reads: storage reads that would wait for the disk, refused on the loop thread.
//
// The loop thread answers every client, so a pread of stream history that is not in the page
// cache (a replay of old segments, a consumer group created at 0) would stall them all for the
// disk's latency. While a NoWaitReads guard lives on a thread, pread_full() there reads only what
// the page cache holds (preadv2 with RWF_NOWAIT): at the first byte that would wait for the disk
// it fails with kIo and records a ColdMiss (where, and a dup of the descriptor, so the bytes stay
// readable even if the segment is closed or unlinked meanwhile). The command layer then drops the
// command's partial reply, has a worker thread read those bytes into the page cache
// (warm_range()) and runs the command again (broker/commands/cold_read.h).
//
// Why RWF_NOWAIT rather than a guess: it is exact (the kernel says whether the read would block,
// whatever the segment layout or compression above it), costs nothing extra when the bytes are
// cached (it is the read itself), and needs no per-segment bookkeeping. mincore() would need a
// mapping of every segment, and a "recently read" flag cannot see what the kernel evicted. A
// kernel or file system that does not support it (EOPNOTSUPP) makes every read wait, as before.
// A no-wait read also turns the kernel's read-ahead off for its descriptor (POSIX_FADV_RANDOM):
// RWF_NOWAIT does not wait for data, but a read that finds pages missing still starts read-ahead
// I/O in the caller, and that submission blocked the loop for milliseconds in measurements (GET
// p99 during a cold 2 GB replay: 2.4 ms with it, 0.7 ms without). The workers read what is
// missing instead, in large explicit ranges.
//
// Not for code that changed state already: a command calls suspend() before its first effect,
// after which reads wait for the disk again (synchronously) until the guard ends.
#pragma once

#include <cstdint>

namespace sluice::storage {

struct ColdMiss {
  int fd = -1;  // a dup of the segment's descriptor, owned by whoever holds the miss; -1: none
  uint64_t offset = 0;
  uint64_t length = 0;  // bytes the refused read wanted from offset on
};

class NoWaitReads {
 public:
  NoWaitReads();
  ~NoWaitReads();
  NoWaitReads(const NoWaitReads&) = delete;
  NoWaitReads& operator=(const NoWaitReads&) = delete;

  // Whether a read was refused since this guard began.
  bool missed() const;
  // The refused read; the caller owns its descriptor. Empty (fd -1) when none.
  ColdMiss take_miss();

  // For code running under a guard (or not): whether a read on this thread was refused since
  // the innermost guard began. A command checks it before it acts on what it read (a lookup
  // that found nothing may only have been refused).
  static bool missed_now();
  // The caller is about to change state: reads on this thread wait for the disk again until the
  // guard ends (a refusal now could not be undone by running the command again).
  static void suspend();
  // Whether reads on this thread are now refused when cold (used by pread_full()).
  static bool active();
  // pread_full() was refused at `offset` of `fd` wanting `length` bytes: records it (the first
  // refusal of a guard only) and keeps refusing every read until the guard ends.
  static void note_miss(int fd, uint64_t offset, uint64_t length);
  // RWF_NOWAIT is not supported here: every read waits from now on (process-wide).
  static void unsupported();

 private:
  bool prev_active_;
  bool prev_missed_;
  ColdMiss prev_miss_;
};

// Reads [offset, offset + length) of `fd` (stopping at end of file) so that the page cache holds
// those bytes, then closes `fd`. Blocks: for worker threads. Returns the bytes read.
uint64_t warm_range(int fd, uint64_t offset, uint64_t length);

}  // namespace sluice::storage
