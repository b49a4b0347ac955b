// Compressed sealed segments: the block format read back, seeks by key, reopening, a damaged
// block losing only its own records, a torn compressed file, a crash before the rename, and
// readers that hold the raw file while it is replaced.
#include "broker/storage/compressed_segment.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/storage/journal.h"
#include "broker/storage/read_ahead.h"
#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::collect;
using testing::collect_all;
using testing::corrupt_byte;
using testing::file_exists;
using testing::file_size;
using testing::files_with_suffix;
using testing::key_at;
using testing::make_payload;
using testing::open_log;
using testing::Record;
using testing::small_options;
using testing::TempDir;
using testing::truncate_to;
using wire::StreamId;

// Declared first in a test: when the test ends, no compression it started is still running (the
// compressor thread is shared by the whole process, and other tests count preads).
struct NoCompressionLeftRunning {
  ~NoCompressionLeftRunning() { wait_for_compressions(); }
};

LogOptions compressed_options(bool quarantine = false) {
  LogOptions options = small_options();
  options.compress_sealed = true;
  options.compression_block_bytes = 512;  // several blocks per 4 KiB segment
  options.quarantine_corrupt = quarantine;
  return options;
}

bool compressed_file(const std::string& path) {
  auto bytes = read_file(path);
  REQUIRE(bytes.is_ok());
  return is_compressed_header(*bytes);
}

struct Written {
  std::vector<Record> records;
  std::vector<std::string> segments;
};

// n records written and synced with compression on; returns once every sealed segment is
// compressed.
Written write_compressed(const std::string& dir, uint64_t n) {
  Written out;
  auto log = open_log(dir, compressed_options());
  for (uint64_t i = 0; i < n; ++i) {
    // Compressible bodies (the test records repeat a 26-letter cycle).
    Record r{key_at(i), 1, make_payload(key_at(i), 20 + i * 53 % 200)};
    REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
    out.records.push_back(r);
  }
  REQUIRE(log->sync().is_ok());
  wait_for_compressions();
  log->poll_compressions();
  out.segments = files_with_suffix(dir, ".log");
  return out;
}

std::vector<Record> without(const std::vector<Record>& all, const std::vector<Record>& got) {
  std::vector<Record> missing;
  for (const Record& r : all) {
    if (std::find(got.begin(), got.end(), r) == got.end()) missing.push_back(r);
  }
  return missing;
}

// Whether `missing` is a run of consecutive records of `all`.
bool consecutive(const std::vector<Record>& all, const std::vector<Record>& missing) {
  if (missing.empty()) return true;
  auto it = std::find(all.begin(), all.end(), missing.front());
  for (const Record& r : missing) {
    if (it == all.end() || !(*it == r)) return false;
    ++it;
  }
  return true;
}

// The file offset of a byte inside the compressed bytes of block `i` of a compressed segment.
uint64_t inside_block(const std::string& path, size_t i) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::shared_ptr<const CompressedLayout> layout;
  REQUIRE(probe_segment_file(fd, path, &layout).is_ok());
  ::close(fd);
  REQUIRE(layout != nullptr);
  REQUIRE(layout->blocks.size() > i);
  return layout->blocks[i].physical + kBlockHeaderBytes + 5;
}

TEST_CASE("sealed segments are compressed in blocks and read back unchanged") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  Written w = write_compressed(dir.path(), 400);
  REQUIRE(w.segments.size() > 3);
  uint64_t raw = 0;
  uint64_t stored = 0;
  for (size_t s = 0; s + 1 < w.segments.size(); ++s) {
    CHECK_MESSAGE(compressed_file(w.segments[s]), w.segments[s]);
    stored += file_size(w.segments[s]);
  }
  CHECK_FALSE(compressed_file(w.segments.back()));  // the active segment stays raw
  auto log = open_log(dir.path(), compressed_options());
  raw = log->record_bytes() - file_size(w.segments.back());
  CHECK(stored < raw / 2);
  CHECK(collect_all(*log) == w.records);
  std::vector<Record> reversed(w.records.rbegin(), w.records.rend());
  CHECK(collect(*log, StreamId::min(), StreamId::max(), true) == reversed);
  CHECK(log->disk_bytes() == stored + file_size(w.segments.back()));
}

TEST_CASE("a seek by key into a compressed segment finds exactly the range asked for") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  Written w = write_compressed(dir.path(), 300);
  auto log = open_log(dir.path(), compressed_options());
  for (uint64_t i = 0; i < 300; i += 7) {
    const uint64_t last = std::min<uint64_t>(i + 11, 299);
    std::vector<Record> want(w.records.begin() + static_cast<std::ptrdiff_t>(i),
                             w.records.begin() + static_cast<std::ptrdiff_t>(last + 1));
    CHECK(collect(*log, key_at(i), key_at(last)) == want);
    std::vector<Record> back(want.rbegin(), want.rend());
    CHECK(collect(*log, key_at(i), key_at(last), true) == back);
    Record found;
    REQUIRE(log->find(key_at(i),
                      [&](StreamId k, uint8_t t, std::string_view p) {
                        found = Record{k, t, std::string(p)};
                        return true;
                      })
                .is_ok());
    CHECK(found == w.records[i]);
  }
}

TEST_CASE("paged replay over compressed segments with read-ahead returns every record once") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  Written w = write_compressed(dir.path(), 400);
  auto log = open_log(dir.path(), compressed_options());
  std::vector<Record> got;
  StreamId from = StreamId::min();
  for (;;) {
    auto page = collect(*log, from, StreamId::max(), false, 17);
    if (page.empty()) break;
    got.insert(got.end(), page.begin(), page.end());
    REQUIRE(page.back().key.increment(&from));
    run_read_ahead();
  }
  CHECK(got == w.records);
  CHECK(read_ahead_stats().hits > 0);
}

TEST_CASE(
    "compressed segments are trusted at reopen, readable without compression, and checked "
    "when their index is gone") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  Written w = write_compressed(dir.path(), 300);
  {
    RecoveryReport report;
    LogOptions plain = small_options();  // compression off: the files stay readable
    auto log = open_log(dir.path(), plain, &report);
    CHECK(report.rebuilt_indexes == 0);
    CHECK(collect_all(*log) == w.records);
  }
  ::unlink((w.segments[1].substr(0, w.segments[1].size() - 4) + ".idx").c_str());
  RecoveryReport report;
  auto log = open_log(dir.path(), compressed_options(), &report);
  CHECK(report.rebuilt_indexes == 1);
  CHECK(report.corrupt_ranges == 0);
  CHECK(compressed_file(w.segments[1]));
  CHECK(collect_all(*log) == w.records);
}

TEST_CASE("a flipped byte in a compressed block loses only that block's records") {
  NoCompressionLeftRunning quiet;
  for (bool at_open : {false, true}) {
    CAPTURE(at_open);
    TempDir dir;
    Written w = write_compressed(dir.path(), 400);
    const std::string& victim = w.segments[1];
    corrupt_byte(victim, inside_block(victim, 2));
    if (at_open) {
      ::unlink((victim.substr(0, victim.size() - 4) + ".idx").c_str());
      // Refuse: the server would not start, and nothing is changed.
      auto refused =
          SegmentedLog::open(dir.path(), compressed_options(false), testing::test_key_of);
      CHECK(refused.status().code() == wire::ErrorCode::kCorruption);
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), compressed_options(true), &report);
    log->finish_recovery();
    // A reverse scan meets the damage first when it was not found at open.
    auto reversed = collect(*log, StreamId::min(), StreamId::max(), true);
    auto got = collect_all(*log);
    CHECK(reversed == std::vector<Record>(got.rbegin(), got.rend()));
    auto missing = without(w.records, got);
    CHECK(!missing.empty());
    CHECK(missing.size() < 20);  // one 512-byte block, never the whole 4 KiB segment
    CHECK(consecutive(w.records, missing));
    CHECK(got.size() + missing.size() == w.records.size());
    bool quarantined = false;
    for (const auto& f : testing::files_with_suffix(dir.path(), "")) {
      if (f.find(".corrupt-") != std::string::npos) quarantined = true;
    }
    CHECK(quarantined);
    CHECK(!log->lost_gaps().empty());
    if (at_open) CHECK(report.corrupt_ranges == 1);
    // A second read serves the same records, and a reopen keeps them.
    CHECK(collect_all(*log) == got);
    log.reset();
    wait_for_compressions();
    auto again = open_log(dir.path(), compressed_options(true));
    CHECK(collect_all(*again) == got);
  }
}

TEST_CASE("a torn compressed file keeps the records of its intact blocks") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  Written w = write_compressed(dir.path(), 400);
  const std::string& victim = w.segments[2];
  truncate_to(victim, file_size(victim) / 2);
  RecoveryReport report;
  auto log = open_log(dir.path(), compressed_options(true), &report);
  log->finish_recovery();
  auto got = collect_all(*log);
  auto missing = without(w.records, got);
  CHECK(!missing.empty());
  CHECK(consecutive(w.records, missing));
  CHECK(got.size() + missing.size() == w.records.size());
  // The kept part of that segment is its beginning.
  auto first_of_segment = std::find_if(w.records.begin(), w.records.end(), [&](const Record& r) {
    return r.key == log->segment_info(2).first_key;
  });
  REQUIRE(first_of_segment != w.records.end());
  CHECK(std::find(got.begin(), got.end(), *first_of_segment) != got.end());
}

TEST_CASE("a crash before the rename leaves the raw segment; the temporary copy is removed") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  std::vector<Record> records;
  std::vector<std::string> segments;
  {
    auto log = open_log(dir.path(), small_options());  // raw, as before the compressor ran
    for (uint64_t i = 0; i < 200; ++i) {
      Record r{key_at(i), 1, make_payload(key_at(i), 40)};
      REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
      records.push_back(r);
    }
    REQUIRE(log->sync().is_ok());
    segments = files_with_suffix(dir.path(), ".log");
  }
  TempDir backup;
  testing::copy_file(segments[0], backup.path() + "/raw");
  // The compressor wrote and synced its copy, then the process died before the rename.
  CompressJob job;
  job.path = segments[0];
  job.logical_size = file_size(segments[0]);
  job.block_bytes = 512;
  job.max_record_bytes = 1 << 20;
  int fd = ::open(segments[0].c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  job.source_fd = fd;
  run_compress_job(job);
  ::close(fd);
  REQUIRE(job.replaced);
  REQUIRE(compressed_file(segments[0]));
  // Put the raw file back and the compressed copy beside it, as at the moment of the crash.
  const std::string tmp = segments[0] + ".z.tmp";
  REQUIRE(::rename(segments[0].c_str(), tmp.c_str()) == 0);
  testing::copy_file(backup.path() + "/raw", segments[0]);
  REQUIRE_FALSE(compressed_file(segments[0]));
  REQUIRE(file_exists(tmp));
  auto log = open_log(dir.path(), compressed_options());
  CHECK_FALSE(file_exists(tmp));
  CHECK(collect_all(*log) == records);
  // And compression then runs again.
  wait_for_compressions();
  log->poll_compressions();
  CHECK(compressed_file(segments[0]));
  CHECK(collect_all(*log) == records);
}

TEST_CASE("a cancelled compression changes nothing") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  std::vector<std::string> segments;
  {
    auto log = open_log(dir.path(), small_options());
    for (uint64_t i = 0; i < 100; ++i) {
      REQUIRE(log->append(key_at(i), 1, make_payload(key_at(i), 40)).is_ok());
    }
    REQUIRE(log->sync().is_ok());
    segments = files_with_suffix(dir.path(), ".log");
  }
  CompressJob job;
  job.path = segments[0];
  job.logical_size = file_size(segments[0]);
  job.max_record_bytes = 1 << 20;
  int fd = ::open(segments[0].c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  job.source_fd = fd;
  job.cancelled = true;
  run_compress_job(job);
  ::close(fd);
  CHECK_FALSE(job.replaced);
  CHECK_FALSE(compressed_file(segments[0]));
  CHECK_FALSE(file_exists(segments[0] + ".z.tmp"));
}

TEST_CASE(
    "a reader holding the raw file keeps reading while it is replaced; trims drop compressed "
    "segments") {
  NoCompressionLeftRunning quiet;
  TempDir dir;
  std::vector<Record> records;
  auto log = open_log(dir.path(), compressed_options());
  for (uint64_t i = 0; i < 300; ++i) {
    Record r{key_at(i), 1, make_payload(key_at(i), 60)};
    REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
    records.push_back(r);
  }
  REQUIRE(log->sync().is_ok());
  wait_for_compressions();
  // Not polled yet: the log still reads the raw files it has open (their names now lead to the
  // compressed copies).
  CHECK(collect_all(*log) == records);
  log->poll_compressions();
  CHECK(collect_all(*log) == records);
  const size_t before = log->segment_count();
  const StreamId cut = log->segment_info(2).first_key;
  log->drop_before(cut);
  CHECK(log->segment_count() == before - 2);
  auto it =
      std::find_if(records.begin(), records.end(), [&](const Record& r) { return r.key == cut; });
  CHECK(collect_all(*log) == std::vector<Record>(it, records.end()));
  REQUIRE(log->sync().is_ok());
  log.reset();
  auto reopened = open_log(dir.path(), compressed_options());
  CHECK(collect_all(*reopened) == std::vector<Record>(it, records.end()));
}

}  // namespace
}  // namespace sluice::storage
