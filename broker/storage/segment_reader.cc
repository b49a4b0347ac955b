// FrameCursor and load_range: block reads of segment files merged with in-memory bytes.
#include "broker/storage/segment_reader.h"

#include <algorithm>
#include <cstring>

#include "broker/storage/atomic_file.h"
#include "broker/storage/compressed_segment.h"

namespace sluice::storage {
namespace {

uint32_t header_payload_len(const char* frame) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(frame[4 + i])} << (8 * i);
  return v;
}

}  // namespace

char* ReadBuffer::reserve(size_t n) {
  if (cap_ < n) {
    data_.reset();
    data_ = std::make_unique_for_overwrite<char[]>(n);
    cap_ = n;
  }
  return data_.get();
}

void ReadBuffer::release() {
  data_.reset();
  cap_ = 0;
}

FrameCursor::FrameCursor(const SegmentBytes& src, uint64_t pos, uint64_t end,
                         size_t max_record_bytes, size_t first_block, size_t max_block,
                         ReadBuffer* buffer)
    : src_(src),
      pos_(pos),
      end_(std::min(end, src.end())),
      file_end_(std::min(end_, src.mem_start)),
      max_record_bytes_(max_record_bytes),
      block_(first_block),
      max_block_(std::max(first_block, max_block)),
      buffer_(buffer != nullptr ? buffer : &own_) {}

void FrameCursor::start_with(std::string_view bytes, uint64_t checked) {
  win_ = bytes.data();
  win_start_ = pos_;
  win_len_ = static_cast<size_t>(std::min<uint64_t>(bytes.size(), file_end_ - pos_));
  checked_end_ = pos_ + std::min<uint64_t>(checked, win_len_);
}

FrameCursor::Step FrameCursor::next(FrameView* frame) {
  frame_pos_ = pos_;
  if (pos_ >= end_) return Step::kEnd;
  if (pos_ >= src_.mem_start) {
    std::string_view bytes = src_.mem.substr(pos_ - src_.mem_start, end_ - pos_);
    bad_ = decode_frame(bytes, max_record_bytes_, frame);
    if (bad_ != FrameStatus::kOk) return Step::kBad;
    pos_ += frame->total_bytes;
    return Step::kFrame;
  }
  for (;;) {
    const uint64_t win_end = win_start_ + win_len_;
    size_t needed = kFrameHeaderBytes;
    if (pos_ >= win_start_ && pos_ < win_end) {
      std::string_view window(win_ + (pos_ - win_start_), win_end - pos_);
      bad_ = decode_frame(window, max_record_bytes_, frame,
                          pos_ >= checked_end_ && pos_ >= block_end_);
      if (bad_ == FrameStatus::kOk) {
        pos_ += frame->total_bytes;
        return Step::kFrame;
      }
      // (Blocks of a compressed file hold whole frames: one cut short there is damage.)
      if (bad_ != FrameStatus::kTruncated || win_end >= file_end_ || src_.layout != nullptr) {
        return Step::kBad;
      }
      if (window.size() >= kFrameHeaderBytes)
        needed = frame_bytes(header_payload_len(window.data()));
    } else if (pos_ >= file_end_) {
      bad_ = FrameStatus::kTruncated;
      return Step::kBad;
    }
    if (src_.layout != nullptr) {
      if (!refill_block(&io_)) return io_ ? Step::kBad : Step::kIoError;
      continue;
    }
    io_ = refill(std::max(block_, needed));
    if (!io_) return Step::kIoError;
    block_ = std::min(block_ * 2, max_block_);
  }
}

wire::Status FrameCursor::refill(size_t want) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(want, file_end_ - pos_));
  // The old window is dropped first: reserve() may move the memory and the read overwrites it.
  win_len_ = 0;
  char* dest = buffer_->reserve(n);
  size_t got = 0;
  wire::Status st = pread_full(src_.fd, dest, n, pos_, &got, *src_.path);
  if (!st) return st;
  win_ = dest;
  win_start_ = pos_;
  win_len_ = got;
  if (got < n) file_end_ = pos_ + got;
  return st;
}

bool FrameCursor::refill_block(wire::Status* io) {
  *io = wire::Status::ok();
  win_len_ = 0;
  zblock_.reset();
  const CompressedLayout& layout = *src_.layout;
  const size_t i = layout.block_of(pos_);
  if (i >= layout.blocks.size()) {
    bad_ = FrameStatus::kBadCrc;  // past the intact blocks of a damaged file
    return false;
  }
  wire::Status st = read_block(src_.fd, *src_.path, layout, i, &zblock_);
  if (!st) {
    if (st.code() != wire::ErrorCode::kCorruption) *io = st;
    bad_ = FrameStatus::kBadCrc;
    return false;
  }
  win_ = zblock_->data();
  win_start_ = layout.blocks[i].logical;
  win_len_ = static_cast<size_t>(std::min<uint64_t>(zblock_->size(), file_end_ - win_start_));
  block_end_ = win_start_ + win_len_;
  return true;
}

wire::Status load_range(const SegmentBytes& src, uint64_t begin, uint64_t end,
                        std::unique_ptr<char[]>* holder, std::string_view* out) {
  if (begin >= src.mem_start) {
    *out = src.mem.substr(begin - src.mem_start, end - begin);
    return wire::Status::ok();
  }
  const size_t n = end - begin;
  const size_t file_n = std::min(end, src.mem_start) - begin;
  *holder = std::make_unique_for_overwrite<char[]>(n);
  size_t got = 0;
  wire::Status st;
  if (src.layout == nullptr) {
    st = pread_full(src.fd, holder->get(), file_n, begin, &got, *src.path);
  } else {
    // A damaged block reads as zeros: no frame verifies there, so the caller meets a bad frame
    // at the block's start and handles it as any damaged record.
    const CompressedLayout& layout = *src.layout;
    for (uint64_t pos = begin; pos < begin + file_n && pos < layout.logical_size;) {
      const size_t i = layout.block_of(pos);
      const uint64_t block_end =
          i < layout.blocks.size() ? layout.logical_end(i) : layout.logical_size;
      const size_t take = static_cast<size_t>(std::min(block_end, begin + file_n) - pos);
      std::shared_ptr<const std::string> block;
      st = i < layout.blocks.size() ? read_block(src.fd, *src.path, layout, i, &block)
                                    : wire::Status(wire::ErrorCode::kCorruption, "lost block");
      if (st) {
        std::memcpy(holder->get() + (pos - begin), block->data() + (pos - layout.blocks[i].logical),
                    take);
      } else if (st.code() == wire::ErrorCode::kCorruption) {
        std::memset(holder->get() + (pos - begin), 0, take);
        st = wire::Status::ok();
      } else {
        return st;
      }
      pos += take;
      got += take;
    }
  }
  if (!st) return st;
  if (got < file_n) {
    return wire::Status(wire::ErrorCode::kCorruption,
                        *src.path + ": file ends at " + std::to_string(begin + got) +
                            ", expected " + std::to_string(begin + file_n));
  }
  if (end > src.mem_start) std::memcpy(holder->get() + file_n, src.mem.data(), end - src.mem_start);
  *out = std::string_view(holder->get(), n);
  return wire::Status::ok();
}

}  // namespace sluice::storage
