// The read-ahead slot of the loop thread: one pending request and what the last run read.
#include "broker/storage/read_ahead.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "broker/storage/compressed_segment.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/segment_file.h"
#include "broker/storage/segment_reader.h"

namespace sluice::storage {
namespace {

struct Slot {
  // The log and key after which the last stopped scan stopped.
  const void* stop_log = nullptr;
  StreamId stop_key;
  // The request run_read_ahead() will serve.
  bool pending = false;
  uint64_t want_uid = 0;
  std::weak_ptr<FileHandle> want_file;
  uint64_t want_pos = 0;
  size_t want_len = 0;
  size_t max_record_bytes = 0;
  KeyOfFn key_of;
  // What the last run read: bytes [start, start + len) of segment `uid`, whose verified frames
  // start at offsets[i] (relative to start) and have keys[i]; the last one ends at `checked`.
  ReadBuffer buffer;
  uint64_t uid = 0;
  uint64_t start = 0;
  size_t len = 0;
  size_t checked = 0;
  std::vector<uint64_t> offsets;
  std::vector<StreamId> keys;
  ReadAheadStats stats;
};

Slot& slot() {
  thread_local Slot instance;
  return instance;
}

// Verifies whole frames from the start of what was read, keeping their offsets and keys.
void check_frames(Slot& s) {
  s.offsets.clear();
  s.keys.clear();
  const std::string_view bytes(s.buffer.data(), s.len);
  size_t off = 0;
  while (off < bytes.size()) {
    FrameView frame;
    StreamId key;
    if (decode_frame(bytes.substr(off), s.max_record_bytes, &frame) != FrameStatus::kOk ||
        !s.key_of(frame.payload, &key)) {
      break;  // a frame cut by the end of the read, or a bad one the scan will report
    }
    s.offsets.push_back(off);
    s.keys.push_back(key);
    off += frame.total_bytes;
  }
  s.checked = off;
}

}  // namespace

void run_read_ahead() {
  Slot& s = slot();
  if (!s.pending) return;
  s.pending = false;
  s.uid = 0;
  s.len = 0;
  std::shared_ptr<FileHandle> file = s.want_file.lock();
  s.want_file.reset();
  if (!file) return;
  static const std::string kWhat = "read-ahead";
  char* dest = s.buffer.reserve(s.want_len);
  size_t got = 0;
  // A compressed file's blocks are decompressed here (and stay in the block cache).
  if (!read_logical(file->fd(), kWhat, file->layout(), dest, s.want_len, s.want_pos, &got)) {
    return;
  }
  s.uid = s.want_uid;
  s.start = s.want_pos;
  s.len = got;
  ++s.stats.reads;
  s.stats.bytes += got;
  check_frames(s);
}

ReadAheadStats read_ahead_stats() { return slot().stats; }

namespace read_ahead {

void prepare(size_t bytes) { std::memset(slot().buffer.reserve(bytes), 0, bytes); }

bool continues(const void* log, StreamId from) {
  const Slot& s = slot();
  StreamId next;
  return s.stop_log == log && s.stop_key.increment(&next) && from == next;
}

void stopped(const void* log, uint64_t segment_uid, const std::shared_ptr<FileHandle>& file,
             StreamId key, uint64_t pos, uint64_t len, size_t max_record_bytes, KeyOfFn key_of,
             bool sequential) {
  Slot& s = slot();
  s.stop_log = log;
  s.stop_key = key;
  s.pending = false;
  if (!sequential || len == 0 || !file) return;
  s.pending = true;
  s.want_uid = segment_uid;
  s.want_file = file;
  s.want_pos = pos;
  s.want_len = static_cast<size_t>(len);
  s.max_record_bytes = max_record_bytes;
  s.key_of = std::move(key_of);
}

Ahead take(uint64_t segment_uid, uint64_t pos) {
  Slot& s = slot();
  Ahead out;
  if (s.uid != segment_uid || pos < s.start || pos >= s.start + s.len) return out;
  const uint64_t rel = pos - s.start;
  ++s.stats.hits;
  out.bytes = std::string_view(s.buffer.data() + rel, s.len - rel);
  // Verified frames count only if `pos` is one of their starts.
  auto it = std::lower_bound(s.offsets.begin(), s.offsets.end(), rel);
  if (it != s.offsets.end() && *it == rel) {
    const auto i = static_cast<size_t>(it - s.offsets.begin());
    out.checked = s.checked - rel;
    out.keys = std::span<const StreamId>(s.keys).subspan(i);
  }
  return out;
}

}  // namespace read_ahead
}  // namespace sluice::storage
