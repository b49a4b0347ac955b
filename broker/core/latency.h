// The latency monitor (LATENCY LATEST/HISTORY/GRAPH/DOCTOR/RESET) and per-command latency
// histograms (LATENCY HISTOGRAM): plain data, filled by the dispatcher.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace sluice::core {

// Calls by duration in power-of-two buckets: bucket k holds calls of at most 1024 * 2^k ns
// (about 2^k us), the boundaries Redis's HDR histogram reports in LATENCY HISTOGRAM.
struct LatencyHistogram {
  static constexpr size_t kBuckets = 40;
  std::array<uint64_t, kBuckets> buckets{};
  uint64_t count = 0;
  void add_us(uint64_t us) {
    // Bucket k >= 1 holds [1024 * 2^(k-1), 1024 * 2^k) ns.
    size_t k = static_cast<size_t>(std::bit_width((us * 1000) >> 10));
    ++buckets[std::min(k, kBuckets - 1)];
    ++count;
  }
  // The upper bound of bucket k in microseconds, as Redis prints it.
  static uint64_t bucket_us(size_t k) { return (uint64_t{1024} << k) / 1000; }
  // The smallest bucket bound below which `fraction` of the calls fall (INFO latencystats).
  double percentile_us(double fraction) const {
    if (count == 0) return 0;
    uint64_t want = static_cast<uint64_t>(fraction * static_cast<double>(count) + 0.5);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (size_t k = 0; k < kBuckets; ++k) {
      seen += buckets[k];
      if (seen >= want) return static_cast<double>(uint64_t{1024} << k) / 1000.0;
    }
    return static_cast<double>(uint64_t{1024} << (kBuckets - 1)) / 1000.0;
  }
};

struct LatencySample {
  int64_t time_s = 0;  // 0 = empty slot
  uint64_t latency_ms = 0;
};

// One event's last 160 samples (one per second at most, the highest kept) and its all-time max.
struct LatencySeries {
  static constexpr size_t kLen = 160;
  std::array<LatencySample, kLen> samples{};
  size_t next = 0;
  uint64_t max_ms = 0;
  const LatencySample& latest() const { return samples[(next + kLen - 1) % kLen]; }
};

struct LatencyMonitor {
  std::map<std::string, LatencySeries, std::less<>> events;
  void add(std::string_view event, uint64_t ms, int64_t now_s) {
    auto it = events.find(event);
    if (it == events.end()) it = events.emplace(std::string(event), LatencySeries{}).first;
    LatencySeries& s = it->second;
    if (ms > s.max_ms) s.max_ms = ms;
    LatencySample& prev = s.samples[(s.next + LatencySeries::kLen - 1) % LatencySeries::kLen];
    if (prev.time_s == now_s) {
      if (ms > prev.latency_ms) prev.latency_ms = ms;
      return;
    }
    s.samples[s.next] = LatencySample{now_s, ms};
    s.next = (s.next + 1) % LatencySeries::kLen;
  }
};

}  // namespace sluice::core
