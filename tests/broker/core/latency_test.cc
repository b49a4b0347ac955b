// The latency monitor's samples and the per-command histograms behind LATENCY LATEST/HISTORY
// and LATENCY HISTOGRAM.
#include "broker/core/latency.h"

#include <doctest/doctest.h>

namespace sluice::core {

TEST_SUITE("core.latency") {
  TEST_CASE("a call lands in the power-of-two bucket whose bound covers it, as Redis prints it") {
    LatencyHistogram h;
    h.add_us(0);     // under 1024 ns: the first bucket, printed as 1 us
    h.add_us(1);     // 1000 ns: still the first
    h.add_us(2);     // 2000 ns: up to 2048 ns
    h.add_us(1000);  // 1,000,000 ns: up to 1,048,576 ns
    CHECK(h.count == 4);
    CHECK(h.buckets[0] == 2);
    CHECK(h.buckets[1] == 1);
    CHECK(h.buckets[10] == 1);
    CHECK(LatencyHistogram::bucket_us(0) == 1);
    CHECK(LatencyHistogram::bucket_us(1) == 2);
    CHECK(LatencyHistogram::bucket_us(10) == 1048);
  }

  TEST_CASE("a call longer than the last bound is counted in the last bucket") {
    LatencyHistogram h;
    h.add_us(uint64_t{1} << 50);
    CHECK(h.buckets[LatencyHistogram::kBuckets - 1] == 1);
  }

  TEST_CASE("percentiles are the bounds of the buckets where the fraction is reached") {
    LatencyHistogram h;
    for (int i = 0; i < 99; ++i) h.add_us(1);
    h.add_us(1000);
    CHECK(h.percentile_us(0.50) == doctest::Approx(1.024));
    CHECK(h.percentile_us(0.999) == doctest::Approx(1048.576));
  }

  TEST_CASE("samples of one second keep the highest; the series keeps the last 160 seconds") {
    LatencyMonitor m;
    m.add("command", 30, 1000);
    m.add("command", 50, 1000);
    m.add("command", 40, 1000);
    const LatencySeries& s = m.events.at("command");
    CHECK(s.latest().time_s == 1000);
    CHECK(s.latest().latency_ms == 50);
    CHECK(s.max_ms == 50);
    for (int64_t t = 1001; t < 1001 + 200; ++t) m.add("command", 10, t);
    CHECK(s.latest().time_s == 1200);
    CHECK(s.max_ms == 50);  // the all-time high outlives its sample
    size_t kept = 0;
    for (const auto& x : s.samples) kept += x.time_s >= 1041 ? 1 : 0;
    CHECK(kept == LatencySeries::kLen);
  }
}

}  // namespace sluice::core
