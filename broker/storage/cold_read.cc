// The per-thread no-wait read state behind NoWaitReads, and warm_range() for workers.
#include "broker/storage/cold_read.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <utility>

namespace sluice::storage {
namespace {

struct State {
  bool active = false;
  bool missed = false;
  ColdMiss miss;
};

State& state() {
  thread_local State instance;
  return instance;
}

std::atomic<bool> g_supported{true};

constexpr size_t kWarmChunk = 1 << 20;

}  // namespace

NoWaitReads::NoWaitReads() {
  State& s = state();
  prev_active_ = s.active;
  prev_missed_ = s.missed;
  prev_miss_ = std::exchange(s.miss, ColdMiss{});
  s.active = g_supported.load(std::memory_order_relaxed);
  s.missed = false;
}

NoWaitReads::~NoWaitReads() {
  State& s = state();
  if (s.miss.fd >= 0) ::close(s.miss.fd);
  s.active = prev_active_;
  s.missed = prev_missed_;
  s.miss = prev_miss_;
}

bool NoWaitReads::missed() const { return state().missed; }

ColdMiss NoWaitReads::take_miss() { return std::exchange(state().miss, ColdMiss{}); }

bool NoWaitReads::missed_now() { return state().missed; }

void NoWaitReads::suspend() { state().active = false; }

bool NoWaitReads::active() { return state().active; }

void NoWaitReads::note_miss(int fd, uint64_t offset, uint64_t length) {
  State& s = state();
  if (s.missed) return;
  s.missed = true;
  s.miss.fd = ::dup(fd);
  s.miss.offset = offset;
  s.miss.length = length;
}

void NoWaitReads::unsupported() {
  g_supported.store(false, std::memory_order_relaxed);
  state().active = false;
}

uint64_t warm_range(int fd, uint64_t offset, uint64_t length) {
  uint64_t done = 0;
  if (fd >= 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, kWarmChunk));
    auto buf = std::make_unique_for_overwrite<char[]>(chunk);
    while (done < length) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length - done, chunk));
      ssize_t r = ::pread(fd, buf.get(), n, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      done += static_cast<uint64_t>(r);
    }
    ::close(fd);
  }
  return done;
}

}  // namespace sluice::storage
