#include "broker/server/uring.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::server {
namespace {

int sys_setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(
      syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}

unsigned load_acquire(const unsigned* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store_release(unsigned* p, unsigned v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

}  // namespace

std::unique_ptr<SendRing> SendRing::create(unsigned entries, std::string* why) {
  std::unique_ptr<SendRing> ring(new SendRing());
  io_uring_params p{};
  // Only the loop thread submits; completions are reaped only in submit_and_reap(), so task work
  // may wait for our next enter instead of interrupting the loop (kernels >= 6.1).
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int fd = sys_setup(entries, &p);
  if (fd < 0 && errno == EINVAL) {
    p = io_uring_params{};
    fd = sys_setup(entries, &p);
  }
  if (fd < 0) {
    *why = std::string("io_uring_setup: ") + std::strerror(errno);
    return nullptr;
  }
  ring->fd_ = fd;
  if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_SUBMIT_STABLE)) {
    *why = "io_uring: kernel too old (no NODROP/SUBMIT_STABLE)";
    return nullptr;
  }
  ring->sq_len_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  ring->cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) ring->sq_len_ = ring->cq_len_ = std::max(ring->sq_len_, ring->cq_len_);
  void* sq = mmap(nullptr, ring->sq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                  IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) {
    *why = std::string("io_uring mmap: ") + std::strerror(errno);
    return nullptr;
  }
  ring->sq_ptr_ = sq;
  void* cq = sq;
  if (!single) {
    cq = mmap(nullptr, ring->cq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
              IORING_OFF_CQ_RING);
    if (cq == MAP_FAILED) {
      *why = std::string("io_uring mmap: ") + std::strerror(errno);
      return nullptr;
    }
    ring->cq_ptr_ = cq;
  }
  ring->sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, ring->sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    *why = std::string("io_uring mmap: ") + std::strerror(errno);
    return nullptr;
  }
  ring->sqes_ = static_cast<io_uring_sqe*>(sqes);
  auto* sqb = static_cast<char*>(sq);
  auto* cqb = static_cast<char*>(cq);
  ring->sq_tail_ = reinterpret_cast<unsigned*>(sqb + p.sq_off.tail);
  ring->sq_mask_ = *reinterpret_cast<unsigned*>(sqb + p.sq_off.ring_mask);
  ring->sq_array_ = reinterpret_cast<unsigned*>(sqb + p.sq_off.array);
  ring->cq_head_ = reinterpret_cast<unsigned*>(cqb + p.cq_off.head);
  ring->cq_tail_ = reinterpret_cast<unsigned*>(cqb + p.cq_off.tail);
  ring->cq_mask_ = *reinterpret_cast<unsigned*>(cqb + p.cq_off.ring_mask);
  ring->cqes_ = reinterpret_cast<io_uring_cqe*>(cqb + p.cq_off.cqes);
  // At most one batch is ever outstanding and the CQ ring is at least as large as the SQ ring.
  ring->capacity_ = p.sq_entries;
  ring->pending_tags_ = std::make_unique<uint64_t[]>(ring->capacity_);
  ring->pending_done_ = std::make_unique<bool[]>(ring->capacity_);
  return ring;
}

SendRing::~SendRing() {
  if (sqes_ != nullptr) munmap(sqes_, sqes_len_);
  if (cq_ptr_ != nullptr) munmap(cq_ptr_, cq_len_);
  if (sq_ptr_ != nullptr) munmap(sq_ptr_, sq_len_);
  if (fd_ >= 0) ::close(fd_);
}

bool SendRing::queue_sendmsg(int fd, const msghdr* msg, uint64_t tag) {
  if (queued_ >= capacity_) return false;
  unsigned tail = *sq_tail_;
  unsigned index = tail & sq_mask_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = IORING_OP_SENDMSG;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(msg);
  sqe->len = 1;
  sqe->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
  // The tag is the slot in pending_tags_, so a failed ring can tell which sends completed.
  sqe->user_data = queued_;
  pending_tags_[queued_] = tag;
  pending_done_[queued_] = false;
  sq_array_[index] = index;
  store_release(sq_tail_, tail + 1);
  ++queued_;
  return true;
}

const std::vector<SendRing::Completion>& SendRing::submit_and_reap() {
  completions_.clear();
  if (queued_ == 0) return completions_;
  // Wait for every submitted send: they complete inline (MSG_DONTWAIT), so this does not block;
  // it also runs any deferred completion work.
  int rc;
  do {
    rc = sys_enter(fd_, queued_, queued_, IORING_ENTER_GETEVENTS);
  } while (rc < 0 && errno == EINTR);
  unsigned head = *cq_head_;
  unsigned tail = load_acquire(cq_tail_);
  while (head != tail) {
    const io_uring_cqe& cqe = cqes_[head & cq_mask_];
    auto slot = static_cast<unsigned>(cqe.user_data);
    if (slot < queued_ && !pending_done_[slot]) {
      pending_done_[slot] = true;
      completions_.push_back({pending_tags_[slot], cqe.res});
    }
    ++head;
  }
  store_release(cq_head_, head);
  // A send the kernel did not report (the enter failed): never left in flight.
  if (completions_.size() < queued_) {
    // Sends never submitted are taken back out of the submission queue (only this thread
    // writes its tail, and the kernel reads no further than the tail it was given).
    unsigned submitted = rc > 0 ? static_cast<unsigned>(rc) : 0;
    if (submitted < queued_) store_release(sq_tail_, *sq_tail_ - (queued_ - submitted));
    for (unsigned i = 0; i < queued_; ++i) {
      if (!pending_done_[i]) completions_.push_back({pending_tags_[i], -EIO});
    }
    failed_ = true;
  }
  queued_ = 0;
  return completions_;
}

}  // namespace sluice::server
