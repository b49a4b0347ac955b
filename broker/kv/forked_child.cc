// ForkedChild: fork, the child's clean slate, waitpid.
#include "broker/kv/forked_child.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace sluice::kv {

ForkedChild::~ForkedChild() { kill(); }

bool ForkedChild::start(const std::function<bool()>& body, std::string* error) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    *error = std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    std::signal(SIGTERM, SIG_DFL);
    std::signal(SIGINT, SIG_DFL);
    ::close_range(3, ~0U, 0);
    // _exit: no atexit handlers, no destructors of the parent's objects, no flushing of their
    // buffers.
    ::_exit(body() ? 0 : 1);
  }
  pid_ = pid;
  return true;
}

ForkedChild::State ForkedChild::poll(bool wait, std::string* why) {
  if (pid_ <= 0) return State::kIdle;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return State::kRunning;
  pid_ = -1;
  if (r < 0) {
    if (why) *why = std::string("waitpid: ") + std::strerror(errno);
    return State::kFailed;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return State::kSucceeded;
  if (why) {
    *why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                               : "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return State::kFailed;
}

void ForkedChild::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  poll(true);
}

}  // namespace sluice::kv
