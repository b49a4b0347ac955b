#include "broker/storage/child_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace sluice::storage {

ChildProcess::~ChildProcess() { kill(); }

bool ChildProcess::start(const std::function<int()>& body) {
  if (pid_ > 0) return false;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  pid_ = pid;
  return true;
}

ChildProcess::State ChildProcess::reap(int options) {
  if (pid_ <= 0) return State::kNone;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, options);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return State::kRunning;
  pid_ = -1;
  if (r < 0) return State::kFailed;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? State::kSucceeded : State::kFailed;
}

ChildProcess::State ChildProcess::poll() { return reap(WNOHANG); }

ChildProcess::State ChildProcess::wait() { return reap(0); }

void ChildProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  reap(0);
}

}  // namespace sluice::storage
