// Reading frames out of a segment whose bytes are partly in its file (read with pread in large
// blocks) and partly in memory (unflushed appends and the hot tail cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/storage/record_frame.h"
#include "wire/status.h"

namespace sluice::storage {

struct CompressedLayout;

// Where a segment's bytes live: [0, mem_start) in the file behind fd, [mem_start, end()) in mem.
// With a layout the file is compressed (compressed_segment.h): offsets stay logical and file
// reads decompress whole blocks.
struct SegmentBytes {
  int fd = -1;
  uint64_t mem_start = 0;
  std::string_view mem;
  const std::string* path = nullptr;
  const CompressedLayout* layout = nullptr;
  uint64_t end() const { return mem_start + mem.size(); }
};

inline constexpr size_t kFirstReadBlock = 64 * 1024;
inline constexpr size_t kMaxReadBlock = 256 * 1024;

// Memory for file reads that can outlive one FrameCursor, so that scan after scan reuses one
// allocation. reserve() keeps no contents when it grows.
class ReadBuffer {
 public:
  char* reserve(size_t n);
  size_t capacity() const { return cap_; }
  const char* data() const { return data_.get(); }
  void release();

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
};

// Iterates the frames in [pos, end) forward. File bytes are read in blocks that start at
// first_block and double up to max_block (or grow to fit one big frame), into `buffer` if given
// (which must outlive the cursor and not be used by anything else meanwhile), else into memory
// of the cursor's own. A FrameView returned by next() stays valid until the following call.
class FrameCursor {
 public:
  enum class Step { kFrame, kEnd, kBad, kIoError };

  FrameCursor(const SegmentBytes& src, uint64_t pos, uint64_t end, size_t max_record_bytes,
              size_t first_block = kFirstReadBlock, size_t max_block = kMaxReadBlock,
              ReadBuffer* buffer = nullptr);
  FrameCursor(const FrameCursor&) = delete;
  FrameCursor& operator=(const FrameCursor&) = delete;

  Step next(FrameView* frame);
  // Starts on bytes [pos, pos + bytes.size()) of the file already in memory (read ahead) instead
  // of reading them; they must stay valid for the cursor's life. Their first `checked` bytes are
  // whole frames already verified: next() skips their checksums. Call before the first next().
  void start_with(std::string_view bytes, uint64_t checked);
  // Goes on at `pos`, a frame boundary after the frame last returned (past a damaged range).
  void seek(uint64_t pos) { pos_ = pos; }
  // Whether the frame last returned lies in the verified bytes given to start_with().
  bool verified() const { return frame_pos_ < checked_end_; }
  // Offset of the frame last returned, or of the bad frame.
  uint64_t offset() const { return frame_pos_; }
  FrameStatus bad_status() const { return bad_; }
  const wire::Status& io_status() const { return io_; }

 private:
  wire::Status refill(size_t want);
  // refill() for a compressed file: the window becomes the decompressed block holding pos_.
  // False (with bad_ set) when that block is damaged.
  bool refill_block(wire::Status* io);

  SegmentBytes src_;
  uint64_t pos_;
  uint64_t end_;
  uint64_t file_end_;  // end of the bytes to read from the file (shrinks on a short read)
  size_t max_record_bytes_;
  size_t block_;
  size_t max_block_;
  ReadBuffer own_;
  ReadBuffer* buffer_;
  const char* win_ = nullptr;  // the bytes [win_start_, win_start_ + win_len_) of the file
  uint64_t win_start_ = 0;
  size_t win_len_ = 0;
  uint64_t frame_pos_ = 0;
  uint64_t checked_end_ = 0;
  uint64_t block_end_ = 0;  // window bytes below this come from a verified compressed block
  std::shared_ptr<const std::string> zblock_;
  FrameStatus bad_ = FrameStatus::kOk;
  wire::Status io_;
};

// Returns in *out a view of bytes [begin, end), reading the file part into *holder. A file that
// ends early is kCorruption.
wire::Status load_range(const SegmentBytes& src, uint64_t begin, uint64_t end,
                        std::unique_ptr<char[]>* holder, std::string_view* out);

}  // namespace sluice::storage
