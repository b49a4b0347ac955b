#include "broker/core/output_queue.h"

#include <algorithm>
#include <cstring>

namespace sluice::core {

void OutputQueue::seal_staging() {
  if (staging_.size() == staging_offset_) {
    staging_.clear();
    staging_offset_ = 0;
    return;
  }
  Chunk c;
  c.owned = std::move(staging_);
  c.offset = staging_offset_;
  c.epoch = staging_epoch_;
  chunk_bytes_ += c.remaining();
  chunks_.push_back(std::move(c));
  staging_ = std::string();
  staging_offset_ = 0;
}

size_t OutputQueue::open_prefix() {
  size_t mark = staging_.size();
  staging_.append(kPrefixRoom, '\0');
  return mark;
}

void OutputQueue::close_prefix(size_t mark, std::string_view prefix) {
  size_t gap = kPrefixRoom - prefix.size();
  std::memcpy(staging_.data() + mark + gap, prefix.data(), prefix.size());
  size_t before = mark - staging_offset_;
  size_t after = staging_.size() - mark - gap;
  if (before <= after) {
    std::memmove(staging_.data() + staging_offset_ + gap, staging_.data() + staging_offset_,
                 before);
    staging_offset_ += gap;
  } else {
    staging_.erase(mark, gap);
  }
}

void OutputQueue::truncate_staging(size_t pending) {
  if (staging_pending() > pending) staging_.resize(staging_offset_ + pending);
}

void OutputQueue::append_shared(std::shared_ptr<const std::string> frame) {
  seal_staging();
  Chunk c;
  c.shared = std::move(frame);
  c.epoch = staging_epoch_;
  chunk_bytes_ += c.remaining();
  chunks_.push_back(std::move(c));
}

void OutputQueue::hold(uint64_t epoch) {
  if (epoch == staging_epoch_) return;
  seal_staging();
  staging_epoch_ = epoch;
}

size_t OutputQueue::releasable(uint64_t durable_epoch, std::vector<iovec>* iov,
                               size_t max_iov) const {
  size_t total = 0;
  for (const auto& c : chunks_) {
    if (c.epoch > durable_epoch || iov->size() >= max_iov) return total;
    const std::string& d = c.data();
    iov->push_back({const_cast<char*>(d.data() + c.offset), d.size() - c.offset});
    total += d.size() - c.offset;
  }
  if (staging_.size() > staging_offset_ && staging_epoch_ <= durable_epoch &&
      iov->size() < max_iov) {
    iov->push_back(
        {const_cast<char*>(staging_.data() + staging_offset_), staging_.size() - staging_offset_});
    total += staging_.size() - staging_offset_;
  }
  return total;
}

bool OutputQueue::waiting_for_durability(uint64_t durable_epoch) const {
  for (const auto& c : chunks_) {
    if (c.epoch > durable_epoch) return true;
  }
  return staging_.size() > staging_offset_ && staging_epoch_ > durable_epoch;
}

void OutputQueue::consume(size_t n) {
  while (n > 0 && !chunks_.empty()) {
    Chunk& c = chunks_.front();
    size_t take = std::min(n, c.remaining());
    c.offset += take;
    chunk_bytes_ -= take;
    n -= take;
    if (c.remaining() == 0) chunks_.pop_front();
  }
  if (n > 0) {
    staging_offset_ += n;
    if (staging_offset_ >= staging_.size()) {
      staging_.clear();
      staging_offset_ = 0;
    }
  }
  if (staging_offset_ > 0 && staging_offset_ == staging_.size()) {
    staging_.clear();
    staging_offset_ = 0;
  }
}

void OutputQueue::clear() {
  chunks_.clear();
  chunk_bytes_ = 0;
  staging_.clear();
  staging_offset_ = 0;
}

}  // namespace sluice::core
