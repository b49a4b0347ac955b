// Records for SegmentedLog tests: a payload carries its key in its first 16 bytes (little endian
// ms, seq) followed by a deterministic body, so tests can check both key and content; and logs
// of such records built on disk (build_log) with their frame layout (frame_offsets).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage::testing {

inline std::string make_payload(wire::StreamId key, size_t body_bytes) {
  std::string out(16 + body_bytes, '\0');
  std::memcpy(out.data(), &key.ms, 8);
  std::memcpy(out.data() + 8, &key.seq, 8);
  for (size_t i = 0; i < body_bytes; ++i) {
    out[16 + i] = static_cast<char>('a' + (key.ms * 7 + key.seq * 13 + i) % 26);
  }
  return out;
}

// A payload whose body starts with '!' has no valid key (to simulate an unreadable record).
inline bool test_key_of(std::string_view payload, wire::StreamId* key) {
  if (payload.size() < 16 || (payload.size() > 16 && payload[16] == '!')) return false;
  std::memcpy(&key->ms, payload.data(), 8);
  std::memcpy(&key->seq, payload.data() + 8, 8);
  return true;
}

// Counts the preads storage makes (through io_hooks()) while alive, and restores the real call
// when it goes.
class PreadCounter {
 public:
  PreadCounter() {
    count_ = 0;
    io_hooks().pread = &counted;
  }
  ~PreadCounter() { reset_io_hooks(); }
  PreadCounter(const PreadCounter&) = delete;
  PreadCounter& operator=(const PreadCounter&) = delete;
  // Preads since the previous take() (or since construction).
  uint64_t take() {
    const uint64_t n = count_;
    count_ = 0;
    return n;
  }

 private:
  static ssize_t counted(int fd, void* buf, size_t n, off_t offset) {
    ++count_;
    return ::pread(fd, buf, n, offset);
  }
  static inline uint64_t count_ = 0;
};

inline LogOptions small_options() {
  LogOptions options;
  options.segment_bytes = 4096;
  options.index_interval_bytes = 256;
  options.tail_cache_bytes = 1024;
  return options;
}

struct Record {
  wire::StreamId key;
  uint8_t type = 0;
  std::string payload;
  bool operator==(const Record&) const = default;
};

inline std::vector<Record> collect(const SegmentedLog& log, wire::StreamId from, wire::StreamId to,
                                   bool reverse = false, size_t limit = SIZE_MAX) {
  std::vector<Record> out;
  wire::Status st =
      log.scan(from, to, reverse, [&](wire::StreamId k, uint8_t t, std::string_view p) {
        out.push_back({k, t, std::string(p)});
        return out.size() < limit;
      });
  REQUIRE_MESSAGE(st.is_ok(), st.detail());
  return out;
}

inline std::vector<Record> collect_all(const SegmentedLog& log) {
  return collect(log, wire::StreamId::min(), wire::StreamId::max());
}

inline std::unique_ptr<SegmentedLog> open_log(const std::string& dir, LogOptions options,
                                              RecoveryReport* report = nullptr) {
  auto log = SegmentedLog::open(dir, options, test_key_of, report);
  REQUIRE_MESSAGE(log.is_ok(), log.status().detail());
  return std::move(*log);
}

// What the log should return for [from, to], from a model keyed like the log.
inline std::vector<Record> expected_range(const std::map<wire::StreamId, Record>& model,
                                          wire::StreamId from, wire::StreamId to, bool reverse,
                                          size_t limit = SIZE_MAX) {
  std::vector<Record> out;
  if (from > to) return out;
  auto lo = model.lower_bound(from);
  auto hi = model.upper_bound(to);
  if (!reverse) {
    for (auto it = lo; it != hi && out.size() < limit; ++it) out.push_back(it->second);
  } else {
    for (auto it = hi; it != lo && out.size() < limit;) out.push_back((--it)->second);
  }
  return out;
}

// Keys of build_log's records.
inline wire::StreamId key_at(uint64_t i) { return {500 + i, 1}; }

struct Built {
  std::vector<Record> records;
  std::vector<std::string> segments;  // .log paths in key order
};

// Writes n records (sizes vary) into a log at dir; synced unless told otherwise.
inline Built build_log(const std::string& dir, uint64_t n, bool sync = true) {
  Built out;
  auto log = open_log(dir, small_options());
  for (uint64_t i = 0; i < n; ++i) {
    Record r{key_at(i), 1, make_payload(key_at(i), 5 + i * 53 % 200)};
    REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
    out.records.push_back(r);
  }
  REQUIRE((sync ? log->sync() : log->flush()).is_ok());
  out.segments = files_with_suffix(dir, ".log");
  return out;
}

// Offsets of the frames in a segment file, plus its size at the end.
inline std::vector<uint64_t> frame_offsets(const std::string& path) {
  auto bytes = read_file(path);
  REQUIRE(bytes.is_ok());
  std::vector<uint64_t> offsets;
  std::string_view rest = *bytes;
  uint64_t pos = 0;
  while (!rest.empty()) {
    FrameView frame;
    REQUIRE(decode_frame(rest, 1 << 20, &frame) == FrameStatus::kOk);
    offsets.push_back(pos);
    pos += frame.total_bytes;
    rest.remove_prefix(frame.total_bytes);
  }
  offsets.push_back(pos);
  return offsets;
}

inline std::vector<Record> prefix(const std::vector<Record>& records, size_t n) {
  return std::vector<Record>(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
}

// Records stored in the segments before `segment` (by file order).
inline size_t records_before_segment(const Built& built, size_t segment) {
  size_t n = 0;
  for (size_t s = 0; s < segment; ++s) n += frame_offsets(built.segments[s]).size() - 1;
  return n;
}

}  // namespace sluice::storage::testing
