// DurableSource: an engine with buffered writes (stream logs, group and KV journals). The server
// flushes every source once per loop iteration and syncs them on the thread pool according to
// appendfsync; nothing here blocks the loop on fsync.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "wire/status.h"

namespace sluice::core {

// fds to fdatasync on a worker thread, and what to run back on the loop afterwards.
struct SyncBatch {
  std::vector<int> fds;
  std::vector<std::function<void()>> on_synced;  // loop thread, after every fd synced OK
};

// The epoch whose sync makes the latest write durable (Broker::write_epoch). Engines note every
// write they buffer through it, inline: one store, no call.
struct WriteEpoch {
  uint64_t issued = 0;  // the last sync epoch issued
  uint64_t write = 0;   // the epoch of the sync that will cover the latest write
  void note_write() { write = issued + 1; }
};

// What a failed batch is, so what a rollback cuts.
enum class RollBack : uint8_t {
  kToSynced,     // appendfsync always: every write not yet fdatasynced (no reply went out for it)
  kLastFlush,    // a flush failed: what that flush wrote (this iteration's writes, not replied)
  kBuffersOnly,  // anything else: only the writes not flushed yet (this iteration's)
};

class DurableSource {
 public:
  virtual ~DurableSource() = default;
  // Writes buffered bytes to the OS. A failure turns the broker's storage failed.
  virtual wire::Status flush() = 0;
  // Whether flushed bytes still await fdatasync.
  virtual bool needs_sync() const = 0;
  // Adds the fds to sync and the completions to run.
  virtual void collect_sync(SyncBatch& batch) = 0;
  // Storage failed: cuts this source's files back to what may have been acknowledged, so that a
  // reopen finds none of the failed batch (see RollBack). Buffered writes are dropped and the
  // source writes nothing more: the broker reopens every engine from disk next.
  virtual void roll_back(RollBack how) = 0;
};

}  // namespace sluice::core
