// sluice-replay-bench: what one page of a replay costs the server, per entry, below the network.
//
// Builds a stream of N entries (100-byte values, as ../shared/bench's replay workload), flushes
// it to its segment files, then pages through it with Stream::range(COUNT 1000) the way XRANGE
// does, three ways:
//   cold        every page reads its bytes from the file (pread from the page cache);
//   read-ahead  storage::run_read_ahead() runs between pages (as the server loop does while the
//               client reads the previous page) and only the page itself is timed;
//   ahead-only  the time run_read_ahead() itself takes per entry (what moved off the page).
// Each mode runs several rounds; the best round is reported, in ns per entry, with the ratio to
// `cold`. Numbers are for comparing builds on one machine, not absolute.
//
//   sluice-replay-bench [entries=300000] [rounds=5]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/read_ahead.h"
#include "broker/stream/stream.h"

namespace {

using sluice::stream::Stream;
using sluice::wire::StreamId;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 1000;

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

struct Pass {
  double page_ns = 0;   // inside Stream::range
  double ahead_ns = 0;  // inside run_read_ahead()
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

Pass replay(const Stream& s, bool read_ahead) {
  Pass p;
  StreamId from = StreamId::min();
  for (;;) {
    uint64_t got = 0;
    StreamId last;
    auto t0 = Clock::now();
    auto st = s.range(from, StreamId::max(), false, kPage, [&](StreamId id, std::string_view resp) {
      p.bytes += resp.size();
      last = id;
      ++got;
      return true;
    });
    p.page_ns += ns_since(t0);
    if (!st.is_ok()) {
      std::fprintf(stderr, "range failed: %s\n", st.detail().c_str());
      std::exit(1);
    }
    p.entries += got;
    if (got < kPage) break;
    if (!last.increment(&from)) break;
    if (read_ahead) {
      auto t1 = Clock::now();
      sluice::storage::run_read_ahead();
      p.ahead_ns += ns_since(t1);
    }
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  char tmpl[] = "/tmp/sluice-replay-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  {
    auto opened = Stream::open(dir + "/s", sluice::stream::StreamOptions{}, nullptr);
    if (!opened.is_ok()) {
      std::fprintf(stderr, "open failed: %s\n", opened.status().detail().c_str());
      return 1;
    }
    Stream& s = **opened;
    const std::string value(100, 'v');
    for (uint64_t i = 1; i <= n; ++i) {
      const std::string_view fields[] = {"f", value};
      if (!s.append(StreamId{1700000000000 + i / 8, i % 8}, fields).is_ok()) return 1;
    }
    if (!s.flush().is_ok()) return 1;
    sluice::storage::prepare_read_buffers();

    Pass best_cold;
    Pass best_ahead;
    best_cold.page_ns = best_ahead.page_ns = 1e300;
    for (int r = 0; r < rounds; ++r) {
      Pass cold = replay(s, false);
      Pass ahead = replay(s, true);
      if (cold.entries != n || ahead.entries != n || cold.bytes != ahead.bytes) {
        std::fprintf(stderr, "replay returned %llu / %llu entries, expected %llu\n",
                     static_cast<unsigned long long>(cold.entries),
                     static_cast<unsigned long long>(ahead.entries),
                     static_cast<unsigned long long>(n));
        return 1;
      }
      if (cold.page_ns < best_cold.page_ns) best_cold = cold;
      if (ahead.page_ns < best_ahead.page_ns) best_ahead = ahead;
    }
    const double cold_per = best_cold.page_ns / static_cast<double>(n);
    const double ahead_per = best_ahead.page_ns / static_cast<double>(n);
    const double off_per = best_ahead.ahead_ns / static_cast<double>(n);
    std::printf("entries=%llu page=%llu rounds=%d (best round; ns per entry)\n",
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(kPage), rounds);
    std::printf("%-12s %8.1f ns  1.00x\n", "cold", cold_per);
    std::printf("%-12s %8.1f ns  %.2fx\n", "read-ahead", ahead_per, ahead_per / cold_per);
    std::printf("%-12s %8.1f ns  %.2fx\n", "ahead-only", off_per, off_per / cold_per);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
