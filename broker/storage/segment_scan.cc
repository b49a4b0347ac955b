// SegmentSet read side: forward and reverse range scans over segments, seeking with the sparse
// index, reading the file in large blocks and the tail straight from memory.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "broker/storage/atomic_file.h"
#include "broker/storage/compressed_segment.h"
#include "broker/storage/journal.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/read_ahead.h"
#include "broker/storage/segment_check.h"
#include "broker/storage/segment_set.h"

namespace sluice::storage {
namespace {

// Sealed segments keep at most this many descriptors open per log (least recently read closed).
constexpr size_t kMaxOpenSealedFiles = 8;
// A reverse scan of file bytes reads whole index blocks, at least this much per pread.
constexpr uint64_t kReverseChunkBytes = 256 * 1024;
// A forward scan told how many bytes it will likely read makes its first pread that large,
// within these bounds.
constexpr uint64_t kMinHintedBlock = 4 * 1024;
constexpr uint64_t kMaxHintedBlock = 1024 * 1024;
// The shared scan buffer is kept up to this size; a larger one (grown for a big record) is freed.
constexpr size_t kKeptScanBufferBytes = kMaxHintedBlock;

// Forward scans read file bytes into one buffer per thread, reused from scan to scan (storage
// reads all run on the loop thread), instead of allocating per scan. A scan started from inside
// another scan's visitor finds that buffer taken and uses memory of its own.
class ScanBuffer {
 public:
  ScanBuffer() : buffer_(shared().busy ? &own_ : &shared().buffer) {
    if (buffer_ != &own_) shared().busy = true;
  }
  ~ScanBuffer() {
    if (buffer_ == &own_) return;
    if (buffer_->capacity() > kKeptScanBufferBytes) buffer_->release();
    shared().busy = false;
  }
  ScanBuffer(const ScanBuffer&) = delete;
  ScanBuffer& operator=(const ScanBuffer&) = delete;
  ReadBuffer* get() { return buffer_; }

 private:
  struct Shared {
    ReadBuffer buffer;
    bool busy = false;
  };
  static Shared& shared() {
    thread_local Shared instance;
    return instance;
  }
  ReadBuffer own_;
  ReadBuffer* buffer_;
};

// Scans running on this thread (a visitor may start another): finished compressions are taken
// note of only outside every scan, since that may close a descriptor a scan reads.
thread_local int scan_depth = 0;
struct ScanDepth {
  explicit ScanDepth(const SegmentSet& set) {
    if (scan_depth++ == 0) set.poll_compressions();
  }
  ~ScanDepth() { --scan_depth; }
  ScanDepth(const ScanDepth&) = delete;
  ScanDepth& operator=(const ScanDepth&) = delete;
};

const char* frame_problem(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kTruncated:
      return "frame cut short";
    case FrameStatus::kBadCrc:
      return "checksum mismatch";
    case FrameStatus::kBadHeader:
      return "bad frame header";
  }
  return "unknown";
}

struct FoundRecord {
  StreamId key;
  uint8_t type;
  std::string_view payload;
};

}  // namespace

Status SegmentSet::ensure_readable(Segment& seg) const {
  seg.last_used = ++read_clock;
  if (seg.file) {
    seg.idle.used();
    return Status::ok();
  }
  // An unsealed segment whose descriptor the budget closed: reopened for writing too, raw.
  if (seg.state != SegmentState::kSealed) return reopen_for_write(seg);
  int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open " + seg.path, errno);
  std::shared_ptr<const CompressedLayout> layout;
  Status st = probe_segment_file(fd, seg.path, &layout);
  if (!st) {
    ::close(fd);
    return st;
  }
  seg.attach(std::make_shared<FileHandle>(fd, std::move(layout)));
  size_t open_sealed = 0;
  Segment* oldest = nullptr;
  for (const auto& s : segments) {
    if (s->state != SegmentState::kSealed || !s->file) continue;
    ++open_sealed;
    if (oldest == nullptr || s->last_used < oldest->last_used) oldest = s.get();
  }
  if (open_sealed > kMaxOpenSealedFiles && oldest != nullptr) oldest->detach();
  return Status::ok();
}

SegmentBytes SegmentSet::bytes_of(const Segment& seg) const {
  return SegmentBytes{seg.file ? seg.file->fd() : -1, seg.buf_start, seg.buf, &seg.path,
                      seg.file ? seg.file->layout() : nullptr};
}

Status SegmentSet::bad_frame(const Segment& seg, uint64_t offset, const char* why) const {
  std::string detail =
      "corrupt record in " + seg.path + " at offset " + std::to_string(offset) + ": " + why;
  if (recovering && !options.quarantine_corrupt) {
    detail +=
        "; nothing was changed. With recovery-on-corruption quarantine the server starts without "
        "the damaged records, moved aside";
  }
  storage_log().error("{}", detail);
  return Status(wire::ErrorCode::kCorruption, std::move(detail));
}

Status SegmentSet::damaged_frame(Segment& seg, uint64_t offset, const char* why,
                                 uint64_t* resume) const {
  for (auto [begin, end] : seg.damaged) {
    if (begin <= offset && offset < end) {
      *resume = end;
      return Status::ok();
    }
  }
  // Bytes in memory were written by this process and cannot be damaged: that would be a bug.
  const uint64_t file_end = std::min(seg.flushed, seg.buf_start);
  if (offset >= file_end || (recovering && !options.quarantine_corrupt)) {
    return bad_frame(seg, offset, why);
  }
  Status st = ensure_readable(seg);
  if (!st) return st;
  size_t at = 0;
  while (segments[at].get() != &seg) ++at;
  std::optional<StreamId> prev_last;
  if (at > 0) prev_last = segments[at - 1]->last_key;
  SegmentCheck check;
  st = check_any_segment(seg.file->fd(), seg.file->layout(), seg.path, file_end, seg.base_key,
                         prev_last, options, key_of, &check);
  if (!st) return st;
  const auto holds = [&](const DamagedRange& r) { return r.begin <= offset && offset < r.end; };
  if (std::none_of(check.damaged.begin(), check.damaged.end(), holds)) {
    return bad_frame(seg, offset, why);  // did not show again: report, do not guess
  }
  // The first intact key after the file's last damaged range, if it is not in the file.
  StreamId next_key = StreamId::max();
  if (!seg.buf.empty()) {
    next_key = seg.buf_first_key;
  } else if (at + 1 < segments.size()) {
    next_key = segments[at + 1]->base_key;
  }
  std::vector<KeyGap> gaps;
  for (const DamagedRange& r : check.damaged) {
    const bool known = std::any_of(seg.damaged.begin(), seg.damaged.end(), [&](const auto& d) {
      return d.first == r.begin && d.second == r.end;
    });
    if (known) continue;
    std::string moved = "the range is zeros, nothing to keep";
    if (!r.zero) {
      auto copy = quarantine_range(seg.file->fd(), seg.path, r.file_begin, r.file_end);
      moved = copy ? "bytes copied to " + *copy
                   : "could not copy the bytes aside (" + copy.status().detail() + ")";
    }
    count_corrupt_range(r.records);
    gaps.push_back({r.key_before.value_or(StreamId{}), r.key_after.value_or(next_key)});
    storage_log().error(
        "corrupt data met by a read in {} at offsets {}-{} ({}): about {} records lost, after "
        "key {}, before key {}; {}; reads skip it and serve every intact record",
        seg.path, r.begin, r.end, r.why, r.records,
        r.key_before ? key_text(*r.key_before) : std::string("(none)"),
        key_text(r.key_after.value_or(next_key)), moved);
  }
  seg.damaged.clear();
  for (const DamagedRange& r : check.damaged) seg.damaged.emplace_back(r.begin, r.end);
  // Records still readable: the intact frames of the file plus those in memory.
  uint64_t in_memory = 0;
  for (size_t off = 0; off < seg.buf.size();) {
    FrameView frame;
    if (decode_frame(std::string_view(seg.buf).substr(off), options.max_record_bytes, &frame) !=
        FrameStatus::kOk) {
      break;
    }
    ++in_memory;
    off += frame.total_bytes;
  }
  seg.records = check.records + in_memory;
  if (seg.state == SegmentState::kSealed && ::unlink(seg.index_path().c_str()) == 0) {
    storage_log().warn(
        "removed the index of {}: the next start checks the whole file again ({})", seg.path,
        options.quarantine_corrupt ? "and rewrites it without the damaged ranges"
                                   : "and, under recovery-on-corruption refuse, refuses to start");
  }
  lost.insert(lost.end(), gaps.begin(), gaps.end());
  for (auto [begin, end] : seg.damaged) {
    if (begin <= offset && offset < end) *resume = end;
  }
  if (!gaps.empty() && on_loss) on_loss(gaps);
  return Status::ok();
}

size_t SegmentSet::first_segment_for(StreamId key) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), key,
                             [](StreamId k, const auto& seg) { return k < seg->base_key; });
  return it == segments.begin() ? 0 : static_cast<size_t>(it - segments.begin()) - 1;
}

Status SegmentSet::scan_forward(StreamId from, StreamId to, const Visitor& visit,
                                uint64_t expected_bytes) const {
  if (from > to) return Status::ok();
  ScanDepth depth(*this);
  ScanBuffer buffer;
  uint64_t visited_bytes = 0;  // of the records visited so far, counted against expected_bytes
  // Whether this scan continues the last stopped one (only then it reads ahead when it stops).
  const bool sequential = read_ahead::continues(this, from);
  for (size_t i = first_segment_for(from); i < segments.size(); ++i) {
    Segment& seg = *segments[i];
    if (seg.base_key > to) break;
    if (seg.last_key < from) continue;
    uint64_t start = seg.index.seek(from);
    if (!seg.buf.empty() && from >= seg.buf_first_key) start = std::max(start, seg.buf_start);
    size_t first_block = kFirstReadBlock;
    if (start < seg.buf_start) {
      Status st = ensure_readable(seg);
      if (!st) return st;
      if (expected_bytes > visited_bytes) {
        // Read the records before `from` in the index block (at most up to the next index
        // entry) and what the caller still expects, in one pread.
        const uint64_t skip =
            from <= seg.base_key ? 0 : seg.index.seek_end(from, seg.end()) - start;
        const uint64_t expected = std::min(expected_bytes - visited_bytes, kMaxHintedBlock);
        first_block =
            static_cast<size_t>(std::clamp(skip + expected, kMinHintedBlock, kMaxHintedBlock));
      }
    }
    FrameCursor cursor(bytes_of(seg), start, seg.end(), options.max_record_bytes, first_block,
                       kMaxReadBlock, buffer.get());
    read_ahead::Ahead ahead;
    if (start < seg.buf_start) {
      ahead = read_ahead::take(seg.uid, start);
      if (!ahead.bytes.empty()) cursor.start_with(ahead.bytes, ahead.checked);
    }
    size_t verified = 0;  // frames taken from ahead.keys
    FrameView frame;
    for (;;) {
      FrameCursor::Step step = cursor.next(&frame);
      if (step == FrameCursor::Step::kEnd) break;
      if (step == FrameCursor::Step::kIoError) return cursor.io_status();
      StreamId key;
      const char* problem = nullptr;
      if (step == FrameCursor::Step::kBad) {
        problem = frame_problem(cursor.bad_status());
      } else if (cursor.verified() && verified < ahead.keys.size()) {
        key = ahead.keys[verified++];
      } else if (!key_of(frame.payload, &key)) {
        problem = "record without a valid key";
      }
      if (problem != nullptr) {
        uint64_t resume = 0;
        Status st = damaged_frame(seg, cursor.offset(), problem, &resume);
        if (!st) return st;
        cursor.seek(resume);
        continue;
      }
      if (key < from) continue;
      if (key > to) return Status::ok();
      visited_bytes += frame.total_bytes;
      if (!visit(key, frame.type, frame.payload)) {
        stopped_at(seg, key, cursor.offset() + frame.total_bytes,
                   std::max(expected_bytes, visited_bytes), sequential);
        return Status::ok();
      }
    }
  }
  return Status::ok();
}

// The scan stopped after `key`, whose frame ends at `next`: the next page likely starts right
// after it, at an index position no lower than seek(key), and visits about `page_bytes`.
void SegmentSet::stopped_at(const Segment& seg, StreamId key, uint64_t next, uint64_t page_bytes,
                            bool sequential) const {
  const uint64_t file_bytes = std::min(seg.flushed, seg.buf_start);
  if (next >= file_bytes || !seg.file) return;
  const uint64_t pos = seg.index.seek(key);
  const uint64_t len = std::clamp((next - pos) + page_bytes, kMinHintedBlock, kMaxHintedBlock);
  read_ahead::stopped(this, seg.uid, seg.file, key, pos, std::min(len, file_bytes - pos),
                      options.max_record_bytes, key_of, sequential);
}

void prepare_read_buffers() {
  ScanBuffer buffer;
  std::memset(buffer.get()->reserve(kKeptScanBufferBytes), 0, kKeptScanBufferBytes);
  read_ahead::prepare(kMaxHintedBlock);
}

// Walks index blocks backwards: each chunk [start, end) lies between frame boundaries (index
// entries, the start of the in-memory tail, 0 or the segment end), is read forward in one go and
// its records are emitted in reverse.
Status SegmentSet::scan_reverse(StreamId from, StreamId to, const Visitor& visit) const {
  if (from > to || segments.empty()) return Status::ok();
  ScanDepth depth(*this);
  std::vector<FoundRecord> found;
  std::unique_ptr<char[]> holder;
  for (size_t i = first_segment_for(to) + 1; i-- > 0;) {
    Segment& seg = *segments[i];
    if (seg.base_key > to) continue;
    if (seg.last_key < from) return Status::ok();
    const std::vector<IndexEntry>& entries = seg.index.entries();
    auto after = std::upper_bound(entries.begin(), entries.end(), to,
                                  [](StreamId k, const IndexEntry& e) { return k < e.key; });
    uint64_t end = after == entries.end() ? seg.end() : after->pos;
    while (end > 0) {
      size_t k = seg.index.entries_before(end);
      uint64_t start = k == 0 ? 0 : entries[k - 1].pos;
      if (end > seg.buf_start) {
        start = std::max(start, seg.buf_start);
      } else {
        while (end - start < kReverseChunkBytes && k > 0) {
          --k;
          start = k == 0 ? 0 : entries[k - 1].pos;
        }
        Status st = ensure_readable(seg);
        if (!st) return st;
      }
      std::string_view chunk;
      Status st = load_range(bytes_of(seg), start, end, &holder, &chunk);
      if (!st) return st;
      found.clear();
      for (size_t off = 0; off < chunk.size();) {
        FrameView frame;
        FrameStatus fs = decode_frame(chunk.substr(off), options.max_record_bytes, &frame);
        StreamId key;
        const char* problem = nullptr;
        if (fs != FrameStatus::kOk) {
          problem = frame_problem(fs);
        } else if (!key_of(frame.payload, &key)) {
          problem = "record without a valid key";
        }
        if (problem != nullptr) {
          uint64_t resume = 0;
          st = damaged_frame(seg, start + off, problem, &resume);
          if (!st) return st;
          off = static_cast<size_t>(std::min(resume, end) - start);
          continue;
        }
        found.push_back({key, frame.type, frame.payload});
        off += frame.total_bytes;
      }
      for (auto it = found.rbegin(); it != found.rend(); ++it) {
        if (it->key > to) continue;
        if (it->key < from || !visit(it->key, it->type, it->payload)) return Status::ok();
      }
      end = start;
    }
  }
  return Status::ok();
}

}  // namespace sluice::storage
