// Records for SegmentedLog tests: a payload carries its key in its first 16 bytes (little endian
// ms, seq) followed by a deterministic body, so tests can check both key and content.
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
#include "broker/storage/segmented_log.h"

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

}  // namespace sluice::storage::testing
