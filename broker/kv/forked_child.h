// ForkedChild: runs a function in a forked child process, as Redis runs BGSAVE and
// BGREWRITEAOF: the child sees memory as it was at fork() (copy-on-write), so it can write a
// consistent snapshot of every key while the parent goes on serving and journaling. The parent
// polls for the end (one waitpid per call) or waits for it; a child still running when this is
// destroyed is killed.
//
// In the child, before the function runs: every inherited descriptor but 0-2 is closed (the
// listening sockets, client sockets and journal files are the parent's), SIGTERM and SIGINT get
// their default action, and the child dies with its parent. The function must be safe after
// fork() in a threaded process: no logging, no locks (malloc is fine with glibc).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

namespace sluice::kv {

class ForkedChild {
 public:
  enum class State { kIdle, kRunning, kSucceeded, kFailed };

  ForkedChild() = default;
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;
  ~ForkedChild();

  // Forks; the child runs `body` and exits 0 if it returned true, 1 otherwise. False (and
  // *error set) if fork() failed.
  bool start(const std::function<bool()>& body, std::string* error);
  // kRunning while the child runs; once it ended, kSucceeded or kFailed (with *why) exactly
  // once, then kIdle. With wait, blocks until it ends.
  State poll(bool wait = false, std::string* why = nullptr);
  // SIGKILL and reap.
  void kill();
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

}  // namespace sluice::kv
