// Read-ahead for sequential scans: paging through a log with run_read_ahead() between pages
// returns exactly what paging without it does, takes the pages' file reads off the scans, is
// not spent on scans at random places, and never serves a damaged frame it read ahead.
#include "broker/storage/read_ahead.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
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

// One page the way XRANGE asks for it: `count` records from `from` on, with a read hint.
Status page(const SegmentedLog& log, StreamId from, size_t count, uint64_t hint,
            std::vector<Record>* out) {
  out->clear();
  return log.scan(
      from, StreamId::max(), false,
      [&](StreamId k, uint8_t t, std::string_view p) {
        out->push_back({k, t, std::string(p)});
        return out->size() < count;
      },
      hint);
}

StreamId after(StreamId id) {
  StreamId next;
  REQUIRE(id.increment(&next));
  return next;
}

// A log of `n` records of 150-byte bodies in one large segment, reopened so all of it is read
// from the file.
std::unique_ptr<SegmentedLog> file_log(const std::string& dir, uint64_t n) {
  LogOptions options;
  options.segment_bytes = 8 * 1024 * 1024;
  options.tail_cache_bytes = 64 * 1024;
  {
    auto log = open_log(dir, options);
    for (uint64_t i = 1; i <= n; ++i) {
      REQUIRE(log->append({i, 0}, 1, make_payload({i, 0}, 150)).is_ok());
    }
    REQUIRE(log->sync().is_ok());
  }
  return open_log(dir, options);
}

TEST_SUITE("storage.read_ahead") {
  TEST_CASE("from the third page of a replay on, scans read nothing from the file") {
    TempDir dir;
    auto log = file_log(dir.path(), 5000);
    const uint64_t frame = log->disk_bytes() / 5000;
    PreadCounter preads;
    std::vector<Record> got;
    StreamId from = StreamId::min();
    uint64_t next_key = 1;
    for (int n = 0; n < 40; ++n) {
      CAPTURE(n);
      preads.take();
      REQUIRE(page(*log, from, 100, 101 * frame, &got).is_ok());
      REQUIRE(got.size() == 100);
      CHECK(got.front().key == StreamId{next_key, 0});
      CHECK(got.back().key == StreamId{next_key + 99, 0});
      CHECK(got.back().payload == make_payload({next_key + 99, 0}, 150));
      // The first page starts cold; the second continues it (and asks for read-ahead); from
      // the third on the bytes are already in memory.
      CHECK(preads.take() == (n < 2 ? 1u : 0u));
      run_read_ahead();
      CHECK(preads.take() == (n < 1 ? 0u : 1u));
      next_key += 100;
      from = after(got.back().key);
    }
  }

  TEST_CASE("paging with read-ahead returns what a model says, across segments and appends") {
    TempDir dir;
    LogOptions options = testing::small_options();
    options.segment_bytes = 16 * 1024;
    auto log = open_log(dir.path(), options);
    std::map<StreamId, Record> model;
    std::mt19937_64 rng(20261125);
    uint64_t ms = 0;
    auto append_some = [&](int n) {
      for (int i = 0; i < n; ++i) {
        ms += 1 + rng() % 2;
        const StreamId key{ms, rng() % 3};
        Record r{key, 1, make_payload(key, rng() % 300)};
        REQUIRE(log->append(key, r.type, r.payload).is_ok());
        model[key] = std::move(r);
      }
    };
    append_some(2000);
    REQUIRE(log->sync().is_ok());
    for (int replay = 0; replay < 12; ++replay) {
      CAPTURE(replay);
      const size_t count = 1 + rng() % 120;
      const uint64_t hint = rng() % 2 == 0 ? 0 : count * 170;
      StreamId from{rng() % (ms / 2), 0};
      std::vector<Record> got;
      for (;;) {
        CAPTURE(from.to_string());
        REQUIRE(page(*log, from, count, hint, &got).is_ok());
        CHECK(got == expected_range(model, from, StreamId::max(), false, count));
        if (got.size() < count) break;
        from = after(got.back().key);
        run_read_ahead();
        // New records land behind the read position now and then, sealing segments.
        if (rng() % 8 == 0) append_some(40);
        if (rng() % 16 == 0) REQUIRE(log->sync().is_ok());
      }
    }
  }

  TEST_CASE("scans at random places do not read ahead") {
    TempDir dir;
    auto log = file_log(dir.path(), 5000);
    PreadCounter preads;
    std::mt19937_64 rng(7);
    std::vector<Record> got;
    for (int n = 0; n < 50; ++n) {
      const uint64_t key = 1 + rng() % 4800;
      REQUIRE(page(*log, {key, 0}, 50, 0, &got).is_ok());
      REQUIRE(got.size() == 50);
      CHECK(got.front().key == StreamId{key, 0});
      preads.take();
      run_read_ahead();
      CHECK(preads.take() == 0);
    }
  }

  TEST_CASE("a damaged frame in read-ahead bytes is reported, not served") {
    TempDir dir;
    auto log = file_log(dir.path(), 3000);
    const uint64_t frame = log->disk_bytes() / 3000;
    std::string segment;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.path().extension() == ".log") segment = e.path().string();
    }
    REQUIRE(!segment.empty());
    std::vector<Record> got;
    StreamId from = StreamId::min();
    for (int n = 0; n < 3; ++n) {
      REQUIRE(page(*log, from, 100, 101 * frame, &got).is_ok());
      from = after(got.back().key);
    }
    // Record 351 (in the fourth page) loses a bit of its body before the read-ahead runs.
    const int fd = ::open(segment.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    const off_t at = static_cast<off_t>(350 * frame + 40);
    char byte = 0;
    REQUIRE(::pread(fd, &byte, 1, at) == 1);
    byte = static_cast<char>(byte ^ 0x04);
    REQUIRE(::pwrite(fd, &byte, 1, at) == 1);
    ::close(fd);
    run_read_ahead();
    Status st = page(*log, from, 100, 101 * frame, &got);
    CHECK(st.code() == wire::ErrorCode::kCorruption);
    CHECK(st.detail().find("checksum") != std::string::npos);
    // The 50 good records before it were visited; the damaged one was not.
    CHECK(got.size() == 50);
    CHECK(got.back().key == StreamId{350, 0});
  }
}

}  // namespace
}  // namespace sluice::storage
