#include "broker/core/output_queue.h"

#include <algorithm>
#include <cstring>

#include "wire/check.h"
#include "wire/resp/reply_parser.h"

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
  consumed_total_ += n;
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

void OutputQueue::fail_held(uint64_t durable_epoch, std::string_view error) {
  uint64_t pos = consumed_total_;
  for (const auto& c : chunks_) {
    if (c.epoch > durable_epoch) return fail_from(pos, error);
    pos += c.remaining();
  }
  if (staging_epoch_ > durable_epoch && staging_.size() > staging_offset_) fail_from(pos, error);
}

void OutputQueue::fail_uncommitted(std::string_view error) {
  if (committed_ < consumed_total_ + bytes())
    fail_from(std::max(committed_, consumed_total_), error);
}

void OutputQueue::fail_from(uint64_t from, std::string_view error) {
  // Take every byte from `from` on out of the queue, as pieces: owned reply bytes, and shared
  // frames (published messages, which are no command's reply and stay). Bytes before `from`
  // stay where they are: some may be in an asynchronous write that holds their addresses.
  struct Piece {
    std::string owned;
    std::shared_ptr<const std::string> shared;
  };
  std::vector<Piece> tail;
  uint64_t pos = consumed_total_;
  size_t keep_chunks = chunks_.size();
  for (size_t i = 0; i < chunks_.size(); ++i) {
    Chunk& c = chunks_[i];
    const uint64_t end = pos + c.remaining();
    if (end > from) {
      const std::string& d = c.data();
      const size_t cut = c.offset + static_cast<size_t>(from > pos ? from - pos : 0);
      chunk_bytes_ -= d.size() - cut;
      if (c.shared && cut == 0) {
        tail.push_back({{}, c.shared});
      } else {
        // A reply boundary inside a shared frame cannot be: it is one whole message.
        SLUICE_CHECK(!c.shared, "reply boundary inside a shared frame at %llu",
                     static_cast<unsigned long long>(from));
        tail.push_back({d.substr(cut), nullptr});
      }
      if (keep_chunks == chunks_.size()) {
        keep_chunks = i;
        if (cut > c.offset) {
          c.owned.resize(cut);
          keep_chunks = i + 1;
        }
      }
    }
    pos = end;
  }
  chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(keep_chunks), chunks_.end());
  if (pos + (staging_.size() - staging_offset_) > from) {
    const size_t cut = staging_offset_ + static_cast<size_t>(from > pos ? from - pos : 0);
    tail.push_back({staging_.substr(cut), nullptr});
    staging_.resize(cut);
  }
  staging_epoch_ = 0;  // the errors go out at once
  // One error for each reply; RESP3 pushes and shared frames stay.
  const std::string line = "-" + std::string(error) + "\r\n";
  wire::resp::ReplyParser parser;
  for (Piece& piece : tail) {
    if (piece.shared) {
      append_shared(std::move(piece.shared));
      continue;
    }
    for (std::string_view rest = piece.owned; !rest.empty();) {
      wire::resp::Value value;
      size_t consumed = 0;
      if (parser.parse(rest, &value, &consumed) != wire::resp::ReplyParser::Outcome::kValue) {
        staging_ += line;  // not RESP: cannot happen; one error, never garbage
        break;
      }
      if (value.type == wire::resp::Value::Type::kPush) {
        staging_.append(rest.substr(0, consumed));
      } else {
        staging_ += line;
      }
      rest.remove_prefix(consumed);
    }
  }
  commit();
}

void OutputQueue::clear() {
  consumed_total_ += bytes();  // positions keep counting every byte queued
  chunks_.clear();
  chunk_bytes_ = 0;
  staging_.clear();
  staging_offset_ = 0;
}

}  // namespace sluice::core
