// SegmentedLog reads and writes: scans across segments from memory, page cache and sealed files,
// the sparse index keeping reads to a few preads, drop/clear/destroy, and sync bookkeeping.
#include "broker/storage/segmented_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <map>
#include <random>

#include "broker/storage/atomic_file.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::collect;
using testing::collect_all;
using testing::expected_range;
using testing::make_payload;
using testing::open_log;
using testing::Record;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

StreamId key_at(uint64_t i) { return {1000 + i * 3, i % 3}; }

// Appends n records with sizes 10..309 bytes; returns them keyed like the log.
std::map<StreamId, Record> append_records(SegmentedLog& log, uint64_t first, uint64_t n) {
  std::map<StreamId, Record> added;
  for (uint64_t i = first; i < first + n; ++i) {
    Record r{key_at(i), static_cast<uint8_t>(1 + i % 4),
             make_payload(key_at(i), 10 + i * 37 % 300)};
    REQUIRE(log.append(r.key, r.type, r.payload).is_ok());
    added.emplace(r.key, r);
  }
  return added;
}

// Compares many ranges (bounds on, between and outside keys; forward and reverse; with limits)
// between the log and the model.
void check_ranges(const SegmentedLog& log, const std::map<StreamId, Record>& model, uint32_t seed) {
  std::mt19937 rng(seed);
  const uint64_t n = model.size();
  auto bound = [&](uint64_t i) {
    StreamId k = key_at(i);
    switch (rng() % 3) {
      case 0:
        return k;
      case 1:
        return StreamId{k.ms, k.seq + 1};
      default:
        return StreamId{k.ms - 1, 7};
    }
  };
  CHECK(collect_all(log) == expected_range(model, StreamId::min(), StreamId::max(), false));
  CHECK(collect(log, StreamId::min(), StreamId::max(), true) ==
        expected_range(model, StreamId::min(), StreamId::max(), true));
  for (int round = 0; round < 60; ++round) {
    StreamId from = bound(rng() % (n + 2));
    StreamId to = bound(rng() % (n + 2));
    if (rng() % 8 == 0) std::swap(from, to);
    const bool reverse = rng() % 2 == 0;
    const size_t limit = rng() % 3 == 0 ? 1 + rng() % 20 : SIZE_MAX;
    CHECK(collect(log, from, to, reverse, limit) ==
          expected_range(model, from, to, reverse, limit));
  }
  for (int round = 0; round < 30; ++round) {
    StreamId k = bound(rng() % n);
    auto it = model.find(k);
    bool visited = false;
    wire::Status st = log.find(k, [&](StreamId got, uint8_t type, std::string_view payload) {
      visited = true;
      CHECK(got == k);
      REQUIRE(it != model.end());
      CHECK(type == it->second.type);
      CHECK(payload == it->second.payload);
      return true;
    });
    if (it == model.end()) {
      CHECK(st.code() == wire::ErrorCode::kNotFound);
      CHECK_FALSE(visited);
    } else {
      CHECK(st.is_ok());
      CHECK(visited);
    }
  }
}

int g_preads = 0;
ssize_t counting_pread(int fd, void* buf, size_t n, off_t off) {
  ++g_preads;
  return ::pread(fd, buf, n, off);
}

struct ReadCounter {
  ReadCounter() {
    g_preads = 0;
    io_hooks().pread = &counting_pread;
  }
  ~ReadCounter() { reset_io_hooks(); }
};

}  // namespace

TEST_SUITE("storage.log") {
  TEST_CASE("records are readable at once: unflushed, flushed and sealed on disk") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    CHECK(log->empty());
    auto model = append_records(*log, 0, 400);
    CHECK(log->segment_count() > 10);
    SUBCASE("unflushed") {
      CHECK(log->has_unflushed());
      check_ranges(*log, model, 1);
    }
    SUBCASE("flushed, not synced") {
      REQUIRE(log->flush().is_ok());
      CHECK_FALSE(log->has_unflushed());
      CHECK(log->needs_sync());
      check_ranges(*log, model, 2);
    }
    SUBCASE("synced and sealed") {
      REQUIRE(log->sync().is_ok());
      CHECK_FALSE(log->needs_sync());
      CHECK(testing::files_with_suffix(dir.path(), ".idx").size() == log->segment_count() - 1);
      check_ranges(*log, model, 3);
    }
    SUBCASE("half flushed, half in memory") {
      REQUIRE(log->flush().is_ok());
      auto more = append_records(*log, 400, 50);
      model.insert(more.begin(), more.end());
      check_ranges(*log, model, 4);
    }
    CHECK(log->first_key() == key_at(0));
    CHECK(log->last_key() == key_at(399 + (model.size() > 400 ? 50 : 0)));
  }

  TEST_CASE("reopening after sync sees every record, segment and key") {
    TempDir dir;
    std::map<StreamId, Record> model;
    size_t segments = 0;
    {
      auto log = open_log(dir.path(), small_options());
      model = append_records(*log, 0, 300);
      REQUIRE(log->sync().is_ok());
      segments = log->segment_count();
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.segments == segments);
    CHECK(report.records == 300);
    CHECK(report.truncated_bytes == 0);
    CHECK(report.rebuilt_indexes == 0);
    CHECK(report.corrupt.empty());
    CHECK(log->segment_count() == segments);
    CHECK(log->first_key() == key_at(0));
    CHECK(log->last_key() == key_at(299));
    check_ranges(*log, model, 5);
    auto more = append_records(*log, 300, 100);
    model.insert(more.begin(), more.end());
    check_ranges(*log, model, 6);
  }

  TEST_CASE("appends must have strictly increasing keys and a non-zero type") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    REQUIRE(log->append({5, 5}, 1, "x").is_ok());
    CHECK(log->append({5, 5}, 1, "x").code() == wire::ErrorCode::kInvalidArgument);
    CHECK(log->append({5, 4}, 1, "x").code() == wire::ErrorCode::kInvalidArgument);
    CHECK(log->append({5, 6}, 0, "x").code() == wire::ErrorCode::kInvalidArgument);
    CHECK(log->append({5, 6}, 1, "x").is_ok());
    CHECK(log->last_key() == StreamId{5, 6});
  }

  TEST_CASE("a range scan of 1000 cold records costs a handful of preads") {
    TempDir dir;
    LogOptions options;  // production sizes: 32 KiB index interval, 256 KiB tail cache
    options.segment_bytes = 8 * 1024 * 1024;
    auto log = open_log(dir.path(), options);
    for (uint64_t i = 0; i < 20000; ++i) {
      REQUIRE(log->append({i + 1, 0}, 1, make_payload({i + 1, 0}, 134)).is_ok());
    }
    REQUIRE(log->sync().is_ok());
    CHECK(log->memory_bytes() < log->disk_bytes() / 20);
    ReadCounter counter;
    size_t visited = 0;
    SUBCASE("forward") {
      REQUIRE(log->scan({5000, 0}, StreamId::max(), false,
                        [&](StreamId, uint8_t, std::string_view) { return ++visited < 1000; })
                  .is_ok());
    }
    SUBCASE("reverse") {
      REQUIRE(log->scan(StreamId::min(), {9000, 0}, true,
                        [&](StreamId, uint8_t, std::string_view) { return ++visited < 1000; })
                  .is_ok());
    }
    CHECK(visited == 1000);
    CHECK(g_preads <= 3);
  }

  TEST_CASE("reads of the hot tail need no syscall") {
    TempDir dir;
    LogOptions options;
    auto log = open_log(dir.path(), options);
    for (uint64_t i = 0; i < 5000; ++i) {
      REQUIRE(log->append({i + 1, 0}, 1, make_payload({i + 1, 0}, 134)).is_ok());
      if (i % 100 == 0) REQUIRE(log->flush().is_ok());
    }
    REQUIRE(log->flush().is_ok());
    ReadCounter counter;
    auto newest = collect(*log, StreamId::min(), StreamId::max(), true, 100);
    REQUIRE(newest.size() == 100);
    CHECK(newest.front().key == StreamId{5000, 0});
    auto tail = collect(*log, {4900, 0}, StreamId::max());
    CHECK(tail.size() == 101);
    CHECK(g_preads == 0);
    auto head = collect(*log, StreamId::min(), {10, 0});
    CHECK(head.size() == 10);
    CHECK(g_preads >= 1);
  }

  TEST_CASE("memory stays flat while the log grows tenfold") {
    TempDir dir;
    LogOptions options;
    options.segment_bytes = 1024 * 1024;
    auto log = open_log(dir.path(), options);
    auto fill = [&](uint64_t from, uint64_t to) {
      for (uint64_t i = from; i < to; ++i) {
        REQUIRE(log->append({i + 1, 0}, 1, make_payload({i + 1, 0}, 134)).is_ok());
        if (i % 500 == 0) REQUIRE(log->sync().is_ok());
      }
      REQUIRE(log->sync().is_ok());
    };
    fill(0, 10000);
    const uint64_t memory_small = log->memory_bytes();
    const uint64_t disk_small = log->disk_bytes();
    fill(10000, 100000);
    CHECK(log->disk_bytes() > 9 * disk_small);
    // Only index entries (24 bytes per 32 KiB) and per-segment metadata grow.
    CHECK(log->memory_bytes() < memory_small + log->disk_bytes() / 512);
  }

  TEST_CASE("drop_before unlinks whole segments behind the key and keeps the one holding it") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    auto model = append_records(*log, 0, 400);
    REQUIRE(log->sync().is_ok());
    const size_t before = log->segment_count();
    const StreamId cut = key_at(200);
    log->drop_before(cut);
    CHECK(log->segment_count() < before);
    CHECK(log->first_key() <= cut);
    CHECK(log->first_key() > key_at(0));
    CHECK(testing::files_with_suffix(dir.path(), ".log").size() == log->segment_count());
    auto all = collect_all(*log);
    REQUIRE_FALSE(all.empty());
    CHECK(all.front().key == log->first_key());
    CHECK(collect(*log, cut, StreamId::max()) ==
          expected_range(model, cut, StreamId::max(), false));
    CHECK(log->needs_sync());  // the directory change joins the next sync
    REQUIRE(log->sync().is_ok());
    CHECK_FALSE(log->needs_sync());

    RecoveryReport report;
    auto reopened = open_log(dir.path(), small_options(), &report);
    CHECK(reopened->first_key() == log->first_key());
    CHECK(collect_all(*reopened) == all);
  }

  TEST_CASE("dropping everything, including the active segment, leaves an empty log") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_records(*log, 0, 100);
    REQUIRE(log->flush().is_ok());
    append_records(*log, 100, 5);
    log->drop_before(StreamId::max());
    CHECK(log->empty());
    CHECK(collect_all(*log).empty());
    CHECK(log->last_key() == key_at(104));
    REQUIRE(log->append(key_at(200), 1, make_payload(key_at(200), 3)).is_ok());
    REQUIRE(log->sync().is_ok());
    CHECK(collect_all(*open_log(dir.path(), small_options())).size() == 1);
  }

  TEST_CASE("clear removes every segment but keeps last_key; new appends follow") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_records(*log, 0, 200);
    REQUIRE(log->sync().is_ok());
    REQUIRE(log->clear().is_ok());
    CHECK(log->empty());
    CHECK(log->segment_count() == 0);
    CHECK(log->first_key() == StreamId{});
    CHECK(log->last_key() == key_at(199));
    CHECK(testing::files_with_suffix(dir.path(), ".log").empty());
    CHECK(testing::files_with_suffix(dir.path(), ".idx").empty());
    CHECK(log->append(key_at(10), 1, "late").code() == wire::ErrorCode::kInvalidArgument);
    auto model = append_records(*log, 300, 20);
    REQUIRE(log->sync().is_ok());
    auto reopened = open_log(dir.path(), small_options());
    CHECK(collect_all(*reopened) == expected_range(model, StreamId::min(), StreamId::max(), false));
  }

  TEST_CASE("destroy removes the log's directory") {
    TempDir dir;
    const std::string path = dir.sub("stream");
    auto log = open_log(path, small_options());
    append_records(*log, 0, 100);
    REQUIRE(log->sync().is_ok());
    REQUIRE(log->destroy().is_ok());
    CHECK_FALSE(testing::file_exists(path));
  }

  TEST_CASE("sync targets cover flushed bytes until mark_synced, and seal rolled segments") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    CHECK_FALSE(log->needs_sync());
    append_records(*log, 0, 5);
    CHECK_FALSE(log->needs_sync());  // nothing flushed yet
    REQUIRE(log->flush().is_ok());
    CHECK(log->needs_sync());
    auto first = log->sync_targets();
    CHECK(first.fds.size() == 2);  // the new segment and the directory that now names it
    for (int fd : first.fds) REQUIRE(::fdatasync(fd) == 0);
    log->mark_synced(first.token);
    CHECK_FALSE(log->needs_sync());

    // Roll several segments; none is sealed (no .idx) before a sync covers it.
    append_records(*log, 5, 100);
    REQUIRE(log->flush().is_ok());
    const size_t segments = log->segment_count();
    REQUIRE(segments > 3);
    CHECK(testing::files_with_suffix(dir.path(), ".idx").empty());
    auto second = log->sync_targets();
    CHECK(second.fds.size() == segments + 1);
    // A later round taken before the first completes; marking it covers both.
    append_records(*log, 105, 3);
    REQUIRE(log->flush().is_ok());
    auto third = log->sync_targets();
    for (int fd : third.fds) REQUIRE(::fdatasync(fd) == 0);
    log->mark_synced(third.token);
    CHECK(testing::files_with_suffix(dir.path(), ".idx").size() == log->segment_count() - 1);
    CHECK_FALSE(log->needs_sync());
    log->mark_synced(second.token);  // stale: harmless
    CHECK_FALSE(log->needs_sync());
  }

  TEST_CASE("a token's descriptors stay open until it is marked, even without its hold") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_records(*log, 0, 50);
    REQUIRE(log->flush().is_ok());
    auto targets = log->sync_targets();
    REQUIRE(targets.fds.size() > 2);
    targets.hold.reset();  // an owner that copies only the fds
    log->drop_before(StreamId::max());
    REQUIRE(log->empty());
    for (int fd : targets.fds) CHECK(::fcntl(fd, F_GETFD) != -1);
    for (int fd : targets.fds) CHECK(::fdatasync(fd) == 0);
    log->mark_synced(targets.token);
    CHECK(::fcntl(targets.fds.front(), F_GETFD) == -1);  // a dropped segment: closed now
  }

  TEST_CASE("descriptors in flight stay open after the log drops or destroys their segments") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_records(*log, 0, 50);
    REQUIRE(log->flush().is_ok());
    auto targets = log->sync_targets();
    REQUIRE_FALSE(targets.fds.empty());
    REQUIRE(log->destroy().is_ok());
    log.reset();
    for (int fd : targets.fds) {
      CHECK(::fcntl(fd, F_GETFD) != -1);
      CHECK(::fdatasync(fd) == 0);
    }
    const int probe = targets.fds.front();
    targets = {};
    CHECK(::fcntl(probe, F_GETFD) == -1);
  }
}

}  // namespace sluice::storage
