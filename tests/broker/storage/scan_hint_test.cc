// Read-size hints for forward scans: a hint only changes how much each pread asks for, never
// what a scan returns, whether it is right, far too small or far too large; and a well-sized
// hint serves a page of records with one pread.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::expected_range;
using testing::make_payload;
using testing::open_log;
using testing::PreadCounter;
using testing::Record;
using testing::TempDir;
using wire::StreamId;

std::vector<Record> collect_hinted(const SegmentedLog& log, StreamId from, StreamId to,
                                   size_t limit, uint64_t expected_bytes) {
  std::vector<Record> out;
  Status st = log.scan(
      from, to, false,
      [&](StreamId k, uint8_t t, std::string_view p) {
        out.push_back({k, t, std::string(p)});
        return out.size() < limit;
      },
      expected_bytes);
  REQUIRE_MESSAGE(st.is_ok(), st.detail());
  return out;
}

TEST_SUITE("storage.scan_hint") {
  TEST_CASE("a scan with a read hint returns what one without does, however wrong the hint") {
    TempDir dir;
    LogOptions options;
    options.segment_bytes = 64 * 1024;
    options.index_interval_bytes = 1024;
    options.tail_cache_bytes = 2048;
    auto log = open_log(dir.path(), options);
    std::map<StreamId, Record> model;
    std::mt19937_64 rng(20261201);
    uint64_t ms = 1;
    auto append_some = [&](int n) {
      for (int i = 0; i < n; ++i) {
        ms += 1 + rng() % 3;
        const StreamId key{ms, rng() % 2};
        // Mostly small records, now and then one larger than the smallest hinted read.
        const size_t body = rng() % 50 == 0 ? 6000 + rng() % 20000 : rng() % 400;
        Record r{key, 1, make_payload(key, body)};
        REQUIRE(log->append(key, r.type, r.payload).is_ok());
        model[key] = std::move(r);
      }
    };
    auto check_queries = [&] {
      REQUIRE(log->segment_count() > 10);
      const uint64_t average = log->disk_bytes() / model.size();
      for (int q = 0; q < 150; ++q) {
        // From an existing key, between keys, or below everything; to a key or the end.
        StreamId from{rng() % (ms + 2), rng() % 3};
        StreamId to = rng() % 3 == 0 ? StreamId{from.ms + rng() % 2000, 0} : StreamId::max();
        const size_t limits[] = {1, 7, 100, 1000, SIZE_MAX};
        const size_t limit = limits[rng() % 5];
        const std::vector<Record> want = expected_range(model, from, to, false, limit);
        const uint64_t pages = limit == SIZE_MAX ? model.size() : limit;
        const uint64_t hints[] = {
            0, 1, 64, (pages + 1) * average, pages * 2, 1 << 20, uint64_t{1} << 40, UINT64_MAX};
        for (uint64_t hint : hints) {
          CAPTURE(from.to_string());
          CAPTURE(to.to_string());
          CAPTURE(limit);
          CAPTURE(hint);
          CHECK(collect_hinted(*log, from, to, limit, hint) == want);
        }
      }
    };
    append_some(3000);
    check_queries();  // sealed, sealing and active segments, partly still in memory
    REQUIRE(log->sync().is_ok());
    log.reset();
    log = open_log(dir.path(), options);
    check_queries();  // everything read back from files
    append_some(500);
    check_queries();
  }

  TEST_CASE("a scan from inside another scan's visitor reads its own records") {
    TempDir dir;
    LogOptions options = testing::small_options();
    auto log = open_log(dir.path(), options);
    std::map<StreamId, Record> model;
    for (uint64_t i = 1; i <= 600; ++i) {
      Record r{{i, 0}, 1, make_payload({i, 0}, 40 + i % 90)};
      REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
      model[r.key] = r;
    }
    REQUIRE(log->sync().is_ok());
    std::vector<Record> outer;
    Status st = log->scan(
        StreamId{10, 0}, StreamId{400, 0}, false,
        [&](StreamId k, uint8_t t, std::string_view p) {
          outer.push_back({k, t, std::string(p)});
          if (k.ms % 50 == 0) {
            // The inner scan reads other file bytes than the outer one is walking through.
            const StreamId from{600 - k.ms, 0};
            CHECK(collect_hinted(*log, from, StreamId::max(), 30, 30 * 150) ==
                  expected_range(model, from, StreamId::max(), false, 30));
          }
          return true;
        },
        200 * 150);
    REQUIRE(st.is_ok());
    CHECK(outer == expected_range(model, StreamId{10, 0}, StreamId{400, 0}, false));
  }

  TEST_CASE("a page of records sized by its hint is read with one pread") {
    TempDir dir;
    LogOptions options;
    options.segment_bytes = 8 * 1024 * 1024;
    options.tail_cache_bytes = 64 * 1024;
    auto log = open_log(dir.path(), options);
    for (uint64_t i = 1; i <= 5000; ++i) {
      REQUIRE(log->append({i, 0}, 1, make_payload({i, 0}, 150)).is_ok());
    }
    REQUIRE(log->sync().is_ok());
    log.reset();
    log = open_log(dir.path(), options);
    const uint64_t frame = log->disk_bytes() / 5000;
    REQUIRE(frame == 184);

    PreadCounter preads;
    for (uint64_t from : {uint64_t{1}, uint64_t{1234}, uint64_t{3000}}) {
      CAPTURE(from);
      preads.take();
      auto page = collect_hinted(*log, {from, 0}, StreamId::max(), 1000, 1001 * frame);
      REQUIRE(page.size() == 1000);
      CHECK(page.front().key == StreamId{from, 0});
      CHECK(preads.take() == 1);
      // Without the hint, reads start at 64 KiB and double: more than one for the same page.
      CHECK(collect_hinted(*log, {from, 0}, StreamId::max(), 1000, 0) == page);
      CHECK(preads.take() > 1);
    }
  }
}

}  // namespace
}  // namespace sluice::storage
