// ChildProcess: runs a function in a forked child, for work that must see a consistent picture
// of the server's memory without stopping the loop while it runs (the KV snapshot writer, as
// Redis's BGSAVE). The child gets a copy-on-write image of the parent at fork() and only this
// thread; it must not log, take locks other than malloc's (glibc resets those at fork) or touch
// the event loop, and it leaves with _exit so nothing of the parent's shutdown runs twice.
// The parent polls for the result; fork() itself only copies page tables.
#pragma once

#include <sys/types.h>

#include <functional>

namespace sluice::storage {

class ChildProcess {
 public:
  enum class State { kNone, kRunning, kSucceeded, kFailed };

  ChildProcess() = default;
  ~ChildProcess();  // kills a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Forks and runs `body` in the child, which exits with its return value (0 = success).
  // False when fork failed (errno is kept).
  bool start(const std::function<int()>& body);
  // kRunning while it runs; kSucceeded/kFailed once (then kNone again).
  State poll();
  // Waits for the child to exit (kSucceeded/kFailed), or kNone when none runs.
  State wait();
  // Kills the child and reaps it.
  void kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  State reap(int options);

  pid_t pid_ = -1;
};

}  // namespace sluice::storage
