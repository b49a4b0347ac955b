// Disk full and I/O errors, injected through the io_hooks() test hook: the log or journal turns
// failed, writes are refused, reads keep working, and nothing stored before is damaged.
#include <doctest/doctest.h>

#include <cerrno>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::collect_all;
using testing::make_payload;
using testing::open_log;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

// Writes half of the first request, then fails every call with ENOSPC, as a filling disk does.
ssize_t disk_fills_up(int fd, const void* buf, size_t n, off_t off) {
  static bool wrote_half = false;
  if (!wrote_half && n > 1) {
    wrote_half = true;
    return ::pwrite(fd, buf, n / 2, off);
  }
  wrote_half = false;
  errno = ENOSPC;
  return -1;
}

int sync_fails(int) {
  errno = EIO;
  return -1;
}

struct HookGuard {
  ~HookGuard() { reset_io_hooks(); }
};

void append_range(SegmentedLog& log, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) {
    REQUIRE(log.append({i, 0}, 1, make_payload({i, 0}, 40)).is_ok());
  }
}

}  // namespace

TEST_SUITE("storage.log") {
  TEST_CASE("a full disk fails the log: writes refused, reads work, stored data intact") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_range(*log, 1, 51);
    REQUIRE(log->sync().is_ok());
    const auto files_before = testing::files_with_suffix(dir.path(), ".log");
    const uint64_t active_size = testing::file_size(files_before.back());
    append_range(*log, 51, 56);  // stays within the active segment
    {
      HookGuard guard;
      io_hooks().pwrite = &disk_fills_up;
      wire::Status st = log->flush();
      CHECK(st.code() == wire::ErrorCode::kStorageFailed);
    }
    CHECK(log->failed());
    // The half-written bytes were cut off again.
    CHECK(testing::file_size(files_before.back()) == active_size);
    CHECK(log->append({100, 0}, 1, make_payload({100, 0}, 1)).code() ==
          wire::ErrorCode::kStorageFailed);
    CHECK(log->flush().code() == wire::ErrorCode::kStorageFailed);
    CHECK(log->sync().code() == wire::ErrorCode::kStorageFailed);
    CHECK(log->sync_targets().fds.empty());
    // Reads still serve everything appended, from disk and memory.
    auto all = collect_all(*log);
    REQUIRE(all.size() == 55);
    CHECK(all.back().key == StreamId{55, 0});
    log.reset();

    RecoveryReport report;
    auto reopened = open_log(dir.path(), small_options(), &report);
    CHECK(report.truncated_bytes == 0);
    auto stored = collect_all(*reopened);
    REQUIRE(stored.size() == 50);
    CHECK(stored.back().key == StreamId{50, 0});
  }

  TEST_CASE("a failing fdatasync fails the log and the failure is not retried") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_range(*log, 1, 30);
    {
      HookGuard guard;
      io_hooks().fdatasync = &sync_fails;
      CHECK(log->sync().code() == wire::ErrorCode::kStorageFailed);
    }
    CHECK(log->failed());
    CHECK(log->sync().code() == wire::ErrorCode::kStorageFailed);
    CHECK(collect_all(*log).size() == 29);
  }

  TEST_CASE("a worker's failed fdatasync reported with mark_sync_failed fails the log") {
    TempDir dir;
    auto log = open_log(dir.path(), small_options());
    append_range(*log, 1, 10);
    REQUIRE(log->flush().is_ok());
    auto targets = log->sync_targets();
    log->mark_sync_failed(targets.token, wire::Status(wire::ErrorCode::kIo, "fdatasync: EIO"));
    CHECK(log->failed());
    CHECK(log->append({20, 0}, 1, make_payload({20, 0}, 1)).code() ==
          wire::ErrorCode::kStorageFailed);
    CHECK(collect_all(*log).size() == 9);
  }
}

TEST_SUITE("storage.journal") {
  TEST_CASE("a full disk fails the journal and leaves its file as it was") {
    TempDir dir;
    auto noop = [](uint8_t, std::string_view, bool) { return wire::Status::ok(); };
    auto journal = Journal::open(dir.path(), "groups", noop);
    REQUIRE(journal.is_ok());
    REQUIRE((*journal)->append(1, "kept").is_ok());
    REQUIRE((*journal)->sync().is_ok());
    const uint64_t size = testing::file_size(dir.sub("groups.journal"));
    REQUIRE((*journal)->append(1, "a longer record that will not fit").is_ok());
    {
      HookGuard guard;
      io_hooks().pwrite = &disk_fills_up;
      CHECK((*journal)->flush().code() == wire::ErrorCode::kStorageFailed);
      CHECK((*journal)->write_snapshot("").code() == wire::ErrorCode::kStorageFailed);
    }
    CHECK((*journal)->failed());
    CHECK((*journal)->append(1, "x").code() == wire::ErrorCode::kStorageFailed);
    CHECK(testing::file_size(dir.sub("groups.journal")) == size);
    journal->reset();
    std::vector<std::string> seen;
    auto reopened = Journal::open(dir.path(), "groups", [&](uint8_t, std::string_view p, bool) {
      seen.emplace_back(p);
      return wire::Status::ok();
    });
    REQUIRE(reopened.is_ok());
    CHECK(seen == std::vector<std::string>{"kept"});
  }

  TEST_CASE("a failed snapshot write keeps the old snapshot and journal") {
    TempDir dir;
    auto noop = [](uint8_t, std::string_view, bool) { return wire::Status::ok(); };
    auto journal = Journal::open(dir.path(), "kv", noop);
    REQUIRE(journal.is_ok());
    REQUIRE((*journal)->append(1, "one").is_ok());
    REQUIRE((*journal)->sync().is_ok());
    {
      HookGuard guard;
      io_hooks().fdatasync = &sync_fails;
      std::string frames;
      append_frame(&frames, 1, "snapshot");
      CHECK((*journal)->write_snapshot(frames).code() == wire::ErrorCode::kStorageFailed);
    }
    CHECK_FALSE(testing::file_exists(dir.sub("kv.snap")));
    CHECK_FALSE(testing::file_exists(dir.sub("kv.snap.tmp")));
    journal->reset();
    std::vector<std::string> seen;
    auto reopened = Journal::open(dir.path(), "kv", [&](uint8_t, std::string_view p, bool) {
      seen.emplace_back(p);
      return wire::Status::ok();
    });
    REQUIRE(reopened.is_ok());
    CHECK(seen == std::vector<std::string>{"one"});
  }
}

}  // namespace sluice::storage
