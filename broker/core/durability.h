// DurableSource: an engine with buffered writes (stream logs, group and KV journals). The server
// flushes every source once per loop iteration and syncs them on the thread pool according to
// appendfsync; nothing here blocks the loop on fsync.
#pragma once

#include <functional>
#include <vector>

#include "wire/status.h"

namespace sluice::core {

// fds to fdatasync on a worker thread, and what to run back on the loop afterwards.
struct SyncBatch {
  std::vector<int> fds;
  std::vector<std::function<void()>> on_synced;  // loop thread, after every fd synced OK
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
};

}  // namespace sluice::core
