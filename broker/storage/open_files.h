// The descriptor budget of the storage layer. Every stream keeps files it may need again (its
// active segment, sealed segments being read, its control and group journals), and a broker with
// tens of thousands of streams would otherwise hold several descriptors per stream and hit
// RLIMIT_NOFILE, refusing writes and new clients. Instead each such descriptor is an IdleFile in
// one process-wide least-recently-used list; at safe points (once per event-loop iteration and
// between streams during recovery) close_idle_files() closes the least recently used ones that
// are idle while more than the limit are open. The owner reopens a closed file on its next use.
//
// Idle is the owner's rule, and it never closes a file whose bytes are not yet durable or that
// a sync or a read on another thread may still use: a segment or journal with bytes written but
// not fdatasynced is busy (the sync worker fdatasyncs that descriptor), and a segment whose
// FileHandle is shared (a pending sync's hold, a read-ahead) is busy. So a closed file never
// loses an fdatasync error and a worker never touches a closed or reused descriptor. The limit is
// soft: when everything is busy, files stay open beyond it rather than failing a write.
//
// Why not close at every open: a scan reading a segment holds its raw descriptor while its visitor
// may open others; closing only at safe points keeps every descriptor in use valid.
// Not thread-safe: the loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace sluice::storage {

class IdleFile {
 public:
  // `close_if_idle` closes the owner's descriptor (calling closed()) and returns true, or returns
  // false when the file is busy.
  explicit IdleFile(std::function<bool()> close_if_idle);
  ~IdleFile();
  IdleFile(const IdleFile&) = delete;
  IdleFile& operator=(const IdleFile&) = delete;

  void opened();  // the owner opened its descriptor: most recently used
  void used();    // the owner used it: most recently used (no-op while closed)
  void closed();  // the owner closed it
  bool is_open() const { return linked_; }

 private:
  friend struct OpenFileList;
  IdleFile* prev_ = nullptr;  // towards the most recently used
  IdleFile* next_ = nullptr;  // towards the least recently used
  bool linked_ = false;
  std::function<bool()> close_if_idle_;
};

// How many storage descriptors may stay open (default 4096; the server sets it from
// RLIMIT_NOFILE, maxclients and its own needs at start).
void set_open_files_limit(size_t limit);
size_t open_files_limit();
// Descriptors a pending sync pins (directories awaiting an fsync, retired journals): they are
// not closable, but they count against the limit, so idle files make room for them.
void pin_descriptors(int delta);
// Storage descriptors open now (closable and pinned), and those closed because they were idle
// over the limit.
size_t open_files();
uint64_t idle_files_closed();
// Closes least recently used idle files while more than the limit are open (a safe point: no
// scan in progress). Returns how many it closed.
size_t close_idle_files();
// More storage descriptors are open than the limit allows, even after closing the idle ones: the
// server stops taking commands that could open more (a pipeline creating thousands of streams)
// until a sync makes files idle again. Cheap when under the limit.
bool open_files_over_limit();

}  // namespace sluice::storage
