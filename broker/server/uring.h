// SendRing: a minimal io_uring used for one thing — sending the replies of a loop iteration
// with one system call instead of one writev per connection.
//
// Why: on the virtual machines Sluice is measured on, a system call costs about a microsecond of
// entry and exit alone, as much as the work of a small send; a fan-out sweep over 100 subscribers
// or a loop iteration answering 50 unpipelined clients pays it once per connection. Batched
// sends are issued with MSG_DONTWAIT, so each completes (fully, partly or with EAGAIN) inside
// io_uring_enter: nothing stays in flight after submit_and_reap() returns, buffers only need to
// live through that call, and the rest of the server keeps libuv's ownership of every socket.
// Reads stay with libuv. Built on the raw system calls (<linux/io_uring.h>), no liburing.
//
// create() returns null when the kernel refuses io_uring (ENOSYS, EPERM under seccomp,
// kernel.io_uring_disabled): callers then write with writev as before.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct io_uring_sqe;
struct io_uring_cqe;

namespace sluice::server {

class SendRing {
 public:
  // `entries`: the most sends one submit_and_reap() carries. Null and `why` set on failure.
  static std::unique_ptr<SendRing> create(unsigned entries, std::string* why);
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  unsigned capacity() const { return capacity_; }
  // A submit failed: the caller should stop using the ring (and fall back to writev).
  bool failed() const { return failed_; }
  // Queues sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL). `msg` and its iovecs must stay valid
  // until submit_and_reap() returns. False when capacity() sends are already queued.
  bool queue_sendmsg(int fd, const msghdr* msg, uint64_t tag);
  struct Completion {
    uint64_t tag;
    int32_t result;  // bytes sent, or -errno
  };
  // Submits what is queued and waits for all of it (immediate: the sends do not block). Every
  // queued send gets one completion, in no particular order; if the ring itself fails, the
  // sends it could not report complete with -EIO.
  const std::vector<Completion>& submit_and_reap();

 private:
  SendRing() = default;

  int fd_ = -1;
  unsigned capacity_ = 0;
  unsigned queued_ = 0;
  bool failed_ = false;
  // Rings (mmapped).
  void* sq_ptr_ = nullptr;
  size_t sq_len_ = 0;
  void* cq_ptr_ = nullptr;
  size_t cq_len_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_len_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  // Tags of the sends queued since the last submit (to fail them if the ring breaks).
  std::unique_ptr<uint64_t[]> pending_tags_;
  std::unique_ptr<bool[]> pending_done_;
  std::vector<Completion> completions_;
};

}  // namespace sluice::server
