// A disk that fills up in the middle of a batch: ENOSPC injected at every write and every
// fdatasync of a sequence of batches (a log and a journal written together, as a stream's files
// are). After roll_back and a reopen the files hold exactly the batches that were acknowledged
// (under appendfsync always: synced; otherwise: flushed before the failed one), and once the
// disk takes writes again the reopened log and journal go on.
#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
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

constexpr int kBatches = 6;
constexpr int kPerBatch = 9;

struct HookGuard {
  ~HookGuard() { reset_io_hooks(); }
};

// Counts the writes and fdatasyncs storage makes; the one numbered `fail_at` (from 1) fails with
// ENOSPC (a write first stores half its bytes, as a filling disk does) and so does every one
// after it, until the disk "gets space" again (reset_io_hooks).
struct Faults {
  static inline int writes = 0;
  static inline int syncs = 0;
  static inline int fail_write_at = 0;  // 0: never
  static inline int fail_sync_at = 0;
  static inline bool full = false;

  static void arm(int write_at, int sync_at) {
    writes = syncs = 0;
    fail_write_at = write_at;
    fail_sync_at = sync_at;
    full = false;
    io_hooks().pwrite = &pwrite;
    io_hooks().fdatasync = &fdatasync;
  }
  static ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
    if (full) {
      errno = ENOSPC;
      return -1;
    }
    if (++writes == fail_write_at) {
      full = true;
      return ::pwrite(fd, buf, n / 2, off);
    }
    return ::pwrite(fd, buf, n, off);
  }
  static int fdatasync(int fd) {
    if (full || ++syncs == fail_sync_at) {
      full = true;
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  }
};

StreamId key_of(int batch, int i) { return {static_cast<uint64_t>(1000 + batch * 100 + i), 0}; }

std::string journal_record(int batch) { return "batch-" + std::to_string(batch); }

struct Outcome {
  int acknowledged = 0;  // batches acknowledged before the failure
  bool failed = false;
};

// Runs the batches until one fails, rolls back as the server would, and returns how many were
// acknowledged. always: each batch is flushed then synced, acknowledged after the sync.
Outcome run_batches(const std::string& dir, bool always, int write_at, int sync_at) {
  Outcome out;
  auto log = open_log(dir + "/log", small_options());
  auto noop = [](uint8_t, std::string_view, bool) { return wire::Status::ok(); };
  auto journal = Journal::open(dir, "control", noop);
  REQUIRE(journal.is_ok());
  HookGuard guard;
  Faults::arm(write_at, sync_at);
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kPerBatch; ++i) {
      REQUIRE(log->append(key_of(b, i), 1, make_payload(key_of(b, i), 100 + 37 * i)).is_ok());
    }
    REQUIRE((*journal)->append(1, journal_record(b)).is_ok());
    wire::Status st = log->flush();
    wire::Status jst = (*journal)->flush();
    if (st.is_ok() && jst.is_ok() && always) {
      // One group commit, as the server runs it: fdatasync every file, then mark them synced
      // only if all of them were.
      auto targets = log->sync_targets();
      const uint64_t journal_offset = (*journal)->flushed_offset();
      std::vector<int> fds = targets.fds;
      fds.push_back((*journal)->fd());
      for (int fd : fds) {
        if (st.is_ok()) st = datasync(fd, dir);
      }
      if (st.is_ok()) {
        log->mark_synced(targets.token);
        (*journal)->mark_synced(journal_offset);
      }
    }
    if (!st.is_ok() || !jst.is_ok()) {
      const CutTo cut = always ? CutTo::kSynced : CutTo::kBeforeLastFlush;
      CHECK(log->roll_back(cut).is_ok());
      CHECK((*journal)->roll_back(cut).is_ok());
      out.failed = true;
      return out;
    }
    out.acknowledged = b + 1;
  }
  return out;
}

void check_holds(const std::string& dir, int batches) {
  RecoveryReport report;
  auto log = open_log(dir + "/log", small_options(), &report);
  CHECK(report.corrupt.empty());
  auto records = collect_all(*log);
  REQUIRE(records.size() == static_cast<size_t>(batches * kPerBatch));
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < kPerBatch; ++i) CHECK(records[b * kPerBatch + i].key == key_of(b, i));
  }
  std::vector<std::string> replayed;
  auto journal = Journal::open(dir, "control", [&](uint8_t, std::string_view p, bool) {
    replayed.emplace_back(p);
    return wire::Status::ok();
  });
  REQUIRE(journal.is_ok());
  REQUIRE(replayed.size() == static_cast<size_t>(batches));
  for (int b = 0; b < batches; ++b) CHECK(replayed[b] == journal_record(b));
}

// The disk has space again: the reopened files take a batch, durably.
void check_resumes(const std::string& dir, int batches) {
  {
    auto log = open_log(dir + "/log", small_options());
    auto journal = Journal::open(
        dir, "control", [](uint8_t, std::string_view, bool) { return wire::Status::ok(); });
    REQUIRE(journal.is_ok());
    for (int i = 0; i < kPerBatch; ++i) {
      REQUIRE(log->append(key_of(batches, i), 1, make_payload(key_of(batches, i), 50)).is_ok());
    }
    REQUIRE((*journal)->append(1, journal_record(batches)).is_ok());
    REQUIRE(log->sync().is_ok());
    REQUIRE((*journal)->sync().is_ok());
  }
  check_holds(dir, batches + 1);
}

}  // namespace

TEST_SUITE("storage.rollback") {
  TEST_CASE("ENOSPC at any write of a batch: the earlier batches stay, none of the failed one") {
    TempDir root(TempDir::Where::kRam);
    for (bool always : {false, true}) {
      int failures = 0;
      for (int write_at = 1;; ++write_at) {
        CAPTURE(always);
        CAPTURE(write_at);
        const std::string dir =
            root.sub(std::string(always ? "a" : "e") + std::to_string(write_at));
        const Outcome outcome = run_batches(dir, always, write_at, 0);
        if (!outcome.failed) break;  // past the last write: every batch went through
        ++failures;
        check_holds(dir, outcome.acknowledged);
        check_resumes(dir, outcome.acknowledged);
      }
      MESSAGE(std::string(always ? "always" : "everysec")
              << ": failed at each of " << failures << " writes");
      CHECK(failures > kBatches * 2);
    }
  }

  TEST_CASE("a failed fdatasync under always cuts the batch it covered and nothing before") {
    TempDir root(TempDir::Where::kRam);
    int failures = 0;
    for (int sync_at = 1;; ++sync_at) {
      CAPTURE(sync_at);
      const std::string dir = root.sub("s" + std::to_string(sync_at));
      const Outcome outcome = run_batches(dir, true, 0, sync_at);
      if (!outcome.failed) break;
      ++failures;
      check_holds(dir, outcome.acknowledged);
      check_resumes(dir, outcome.acknowledged);
    }
    MESSAGE("failed at each of " << failures << " fdatasyncs");
    CHECK(failures >= kBatches * 2);
  }

  TEST_CASE("the write probe fails while the disk is full and succeeds once it has space") {
    TempDir dir;
    {
      HookGuard guard;
      Faults::arm(1, 0);
      CHECK_FALSE(probe_writable(dir.path(), 4096).is_ok());
    }
    CHECK(probe_writable(dir.path(), 4096).is_ok());
    CHECK(testing::files_with_suffix(dir.path(), "probe").empty());
  }
}

}  // namespace sluice::storage
