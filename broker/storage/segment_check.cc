// check_segment and rewrite_without (see segment_check.h).
#include "broker/storage/segment_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "wire/crc32c.h"

namespace sluice::storage {
namespace {

constexpr size_t kBlockBytes = 1024 * 1024;

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

// Bytes of a file by position, read in large blocks and kept until a view outside them.
class FileWindow {
 public:
  FileWindow(int fd, const std::string& path, uint64_t size) : fd_(fd), path_(path), size_(size) {}

  // Bytes [pos, pos + len), fewer at the end of the file.
  Status view(uint64_t pos, size_t len, std::string_view* out) {
    len = static_cast<size_t>(std::min<uint64_t>(len, pos < size_ ? size_ - pos : 0));
    if (len == 0) {
      *out = std::string_view();
      return Status::ok();
    }
    if (pos < start_ || pos + len > start_ + buf_.size()) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(std::max(len, kBlockBytes), size_ - pos));
      buf_.resize(n);
      size_t got = 0;
      Status st = pread_full(fd_, buf_.data(), n, pos, &got, path_);
      if (!st) return st;
      buf_.resize(got);
      start_ = pos;
      if (got < len) len = got;
    }
    *out = std::string_view(buf_.data() + (pos - start_), len);
    return Status::ok();
  }
  uint64_t size() const { return size_; }

 private:
  int fd_;
  const std::string& path_;
  uint64_t size_;
  std::string buf_;
  uint64_t start_ = 0;
};

struct Probe {
  FrameStatus status = FrameStatus::kOk;
  const char* why = nullptr;  // null: an intact frame with an acceptable key
  StreamId key;
  uint64_t total = 0;
};

class Checker {
 public:
  Checker(FileWindow& file, StreamId name_key, const LogOptions& options, const KeyOfFn& key_of)
      : file_(file), name_key_(name_key), options_(options), key_of_(key_of) {}

  // The frame at pos, with its key checked against `last` (the last good key) and, for the first
  // frame of the file, against the name.
  Status probe(uint64_t pos, const std::optional<StreamId>& last, bool first, Probe* out) {
    *out = Probe{};
    std::string_view bytes;
    Status st = file_.view(pos, kFrameHeaderBytes, &bytes);
    if (!st) return st;
    FrameView frame;
    FrameStatus fs = decode_frame(bytes, options_.max_record_bytes, &frame);
    if (fs == FrameStatus::kTruncated && bytes.size() == kFrameHeaderBytes) {
      const uint64_t total = frame_bytes(get_u32(bytes.data() + 4));
      if (pos + total <= file_.size()) {
        st = file_.view(pos, static_cast<size_t>(total), &bytes);
        if (!st) return st;
        fs = decode_frame(bytes, options_.max_record_bytes, &frame);
      }
    }
    out->status = fs;
    switch (fs) {
      case FrameStatus::kOk:
        break;
      case FrameStatus::kTruncated:
        out->why = "frame cut short at end of file";
        return Status::ok();
      case FrameStatus::kBadCrc:
        out->why = "checksum mismatch";
        return Status::ok();
      case FrameStatus::kBadHeader:
        out->why = "bad frame header";
        return Status::ok();
    }
    out->total = frame.total_bytes;
    if (!key_of_(frame.payload, &out->key)) {
      out->why = "record without a valid key";
    } else if (first && out->key < name_key_) {
      out->why = "first key below the file name";
    } else if (last && out->key <= *last) {
      out->why = "keys out of order";
    }
    return Status::ok();
  }

  // The first 8-aligned offset in [from, size) holding an intact frame whose key is above
  // `last`; size when none.
  Status next_intact(uint64_t from, const std::optional<StreamId>& last, bool first, uint64_t* at,
                     StreamId* key) {
    for (uint64_t pos = from; pos + kFrameHeaderBytes <= file_.size(); pos += 8) {
      Probe p;
      Status st = probe(pos, last, first, &p);
      if (!st) return st;
      if (p.why == nullptr) {
        *at = pos;
        *key = p.key;
        return Status::ok();
      }
    }
    *at = file_.size();
    return Status::ok();
  }

  // Whether the bytes [begin, size) are one whole frame whose length field alone is damaged
  // (so that it looks cut short): with the length the file implies, the checksum matches.
  Status whole_frame_with_bad_length(uint64_t begin, bool* whole) {
    *whole = false;
    const uint64_t rest = file_.size() - begin;
    if (rest < kFrameHeaderBytes || rest % 8 != 0 || rest > kBlockBytes) return Status::ok();
    std::string_view bytes;
    Status st = file_.view(begin, static_cast<size_t>(rest), &bytes);
    if (!st) return st;
    std::string frame(bytes);
    const uint32_t crc = wire::crc32c_unmask(get_u32(frame.data()));
    const uint64_t padded = rest - kFrameHeaderBytes;
    for (uint64_t len = padded >= 7 ? padded - 7 : 0; len <= padded; ++len) {
      for (int i = 0; i < 4; ++i) frame[4 + i] = static_cast<char>((len >> (8 * i)) & 0xff);
      if (wire::crc32c(frame.data() + 4, frame.size() - 4) == crc) {
        *whole = true;
        return Status::ok();
      }
    }
    return Status::ok();
  }

  Status all_zero(uint64_t begin, uint64_t end, bool* zero) {
    *zero = true;
    for (uint64_t pos = begin; pos < end;) {
      std::string_view bytes;
      Status st =
          file_.view(pos, static_cast<size_t>(std::min<uint64_t>(kBlockBytes, end - pos)), &bytes);
      if (!st) return st;
      if (bytes.empty()) break;
      if (std::any_of(bytes.begin(), bytes.end(), [](char c) { return c != 0; })) {
        *zero = false;
        return Status::ok();
      }
      pos += bytes.size();
    }
    return Status::ok();
  }

  // How many frames [begin, end) held, following the lengths in their headers for as long as
  // they stay plausible (at least 1).
  Status count_frames(uint64_t begin, uint64_t end, uint64_t* records) {
    uint64_t n = 0;
    for (uint64_t pos = begin; pos < end;) {
      ++n;
      std::string_view bytes;
      Status st = file_.view(pos, kFrameHeaderBytes, &bytes);
      if (!st) return st;
      if (bytes.size() < kFrameHeaderBytes || bytes[8] == 0) break;
      const uint32_t len = get_u32(bytes.data() + 4);
      if (len > options_.max_record_bytes) break;
      pos += frame_bytes(len);
    }
    *records = std::max<uint64_t>(n, 1);
    return Status::ok();
  }

 private:
  FileWindow& file_;
  StreamId name_key_;
  const LogOptions& options_;
  const KeyOfFn& key_of_;
};

}  // namespace

Status check_segment(int fd, const std::string& path, uint64_t size, StreamId name_key,
                     const std::optional<StreamId>& prev_last, const LogOptions& options,
                     const KeyOfFn& key_of, SegmentCheck* out) {
  *out = SegmentCheck{};
  out->index = SparseIndex(options.index_interval_bytes);
  FileWindow file(fd, path, size);
  Checker checker(file, name_key, options, key_of);
  std::optional<StreamId> last = prev_last;
  uint64_t pos = 0;
  while (pos < size) {
    Probe p;
    Status st = checker.probe(pos, last, out->records == 0, &p);
    if (!st) return st;
    if (p.why == nullptr) {
      if (out->records == 0) out->first_key = p.key;
      out->index.on_frame(p.key, pos);
      ++out->records;
      out->last_key = p.key;
      last = p.key;
      pos += p.total;
      continue;
    }
    DamagedRange range;
    range.begin = pos;
    range.why = p.why;
    range.key_before = last;
    StreamId next_key;
    st = checker.next_intact(pos + 8, last, out->records == 0, &range.end, &next_key);
    if (!st) return st;
    if (range.end < size) range.key_after = next_key;
    st = checker.all_zero(range.begin, range.end, &range.zero);
    if (!st) return st;
    range.torn = range.end == size && (range.zero || p.status == FrameStatus::kTruncated);
    if (range.torn && !range.zero) {
      bool whole = false;
      st = checker.whole_frame_with_bad_length(range.begin, &whole);
      if (!st) return st;
      if (whole) {
        range.torn = false;
        range.why = "frame length damaged";
      }
    }
    st = checker.count_frames(range.begin, range.end, &range.records);
    if (!st) return st;
    range.file_begin = range.begin;
    range.file_end = range.end;
    out->damaged.push_back(range);
    pos = range.end;
  }
  return Status::ok();
}

Status check_compressed_segment(int fd, const std::string& path, const CompressedLayout& layout,
                                StreamId name_key, const std::optional<StreamId>& prev_last,
                                const LogOptions& options, const KeyOfFn& key_of,
                                SegmentCheck* out) {
  *out = SegmentCheck{};
  out->index = SparseIndex(options.index_interval_bytes);
  std::optional<StreamId> last = prev_last;
  DamagedRange* open_range = nullptr;  // the latest range, while no intact frame followed it
  auto damage = [&](uint64_t begin, uint64_t end, uint64_t file_begin, uint64_t file_end,
                    const char* why, uint64_t records) {
    if (open_range != nullptr && open_range->end == begin) {
      open_range->end = end;
      open_range->file_end = file_end;
      open_range->records += records;
      return;
    }
    DamagedRange r;
    r.begin = begin;
    r.end = end;
    r.file_begin = file_begin;
    r.file_end = file_end;
    r.why = why;
    r.records = std::max<uint64_t>(records, 1);
    r.key_before = last;
    out->damaged.push_back(r);
    open_range = &out->damaged.back();
  };
  struct Found {
    StreamId key;
    uint64_t pos;
  };
  std::vector<Found> found;
  for (size_t i = 0; i < layout.blocks.size(); ++i) {
    const uint64_t begin = layout.blocks[i].logical;
    const uint64_t end = layout.logical_end(i);
    std::shared_ptr<const std::string> bytes;
    Status st = read_block(fd, path, layout, i, &bytes);
    const char* why = nullptr;
    if (!st) {
      if (st.code() != wire::ErrorCode::kCorruption) return st;
      why = "compressed block does not verify";
    }
    found.clear();
    std::optional<StreamId> prev = last;
    for (size_t off = 0; why == nullptr && off < bytes->size();) {
      FrameView frame;
      StreamId key;
      if (decode_frame(std::string_view(*bytes).substr(off), options.max_record_bytes, &frame) !=
          FrameStatus::kOk) {
        why = "bad frame in a compressed block";
      } else if (!key_of(frame.payload, &key)) {
        why = "record without a valid key";
      } else if ((out->records == 0 && found.empty() && key < name_key) || (prev && key <= *prev)) {
        why = "keys out of order";
      } else {
        found.push_back({key, begin + off});
        prev = key;
        off += frame.total_bytes;
      }
    }
    if (why != nullptr) {
      uint64_t records = 1;
      char h[kBlockHeaderBytes];
      size_t got = 0;
      if (pread_full(fd, h, sizeof(h), layout.blocks[i].physical, &got, path) && got == sizeof(h) &&
          get_u32(h) == 0x425a4c53) {
        records = std::min<uint64_t>(get_u32(h + 24), (end - begin) / kFrameHeaderBytes);
      }
      damage(begin, end, layout.blocks[i].physical, layout.physical_end(i), why, records);
      continue;
    }
    if (open_range != nullptr && !found.empty()) {
      open_range->key_after = found.front().key;
      open_range = nullptr;
    }
    for (const Found& f : found) {
      if (out->records == 0) out->first_key = f.key;
      out->index.on_frame(f.key, f.pos);
      ++out->records;
      out->last_key = f.key;
      last = f.key;
    }
  }
  if (layout.blocks_end < layout.logical_size) {
    damage(layout.blocks_end, layout.logical_size, layout.index_offset, layout.file_size,
           "compressed file cut short (block index lost)", 1);
  }
  return Status::ok();
}

Status check_any_segment(int fd, const CompressedLayout* layout, const std::string& path,
                         uint64_t size, StreamId name_key, const std::optional<StreamId>& prev_last,
                         const LogOptions& options, const KeyOfFn& key_of, SegmentCheck* out) {
  if (layout != nullptr) {
    return check_compressed_segment(fd, path, *layout, name_key, prev_last, options, key_of, out);
  }
  return check_segment(fd, path, size, name_key, prev_last, options, key_of, out);
}

Status rewrite_without(int fd, const std::string& path, uint64_t size,
                       const std::vector<DamagedRange>& damaged, int* new_fd) {
  return replace_file_durably(
      path,
      [&](int out, const std::string& tmp) {
        std::string block(kBlockBytes, '\0');
        uint64_t written = 0;
        uint64_t pos = 0;
        size_t next_range = 0;
        while (pos < size) {
          if (next_range < damaged.size() && damaged[next_range].begin <= pos) {
            pos = std::max(pos, damaged[next_range++].end);
            continue;
          }
          const uint64_t stop = next_range < damaged.size() ? damaged[next_range].begin : size;
          const size_t n = static_cast<size_t>(std::min<uint64_t>(block.size(), stop - pos));
          size_t got = 0;
          Status st = pread_full(fd, block.data(), n, pos, &got, path);
          if (st && got != n) st = io_error("short read of " + path, EIO);
          if (st) st = pwrite_all(out, std::string_view(block.data(), n), written, tmp);
          if (!st) return st;
          written += n;
          pos += n;
        }
        return Status::ok();
      },
      new_fd);
}

}  // namespace sluice::storage
