// SegmentedLog recovery: torn tails, bit rot in active and sealed segments, quarantine, index
// rebuilds, and segments rolled but not yet durable when the process died.
#include <doctest/doctest.h>

#include <map>
#include <random>

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
using testing::Record;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

StreamId key_at(uint64_t i) { return {500 + i, 1}; }

struct Built {
  std::vector<Record> records;
  std::vector<std::string> segments;  // .log paths in key order
};

// Writes n records (sizes vary) into a log at dir; synced unless told otherwise.
Built build_log(const std::string& dir, uint64_t n, bool sync = true) {
  Built out;
  auto log = open_log(dir, small_options());
  for (uint64_t i = 0; i < n; ++i) {
    Record r{key_at(i), 1, make_payload(key_at(i), 5 + i * 53 % 200)};
    REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
    out.records.push_back(r);
  }
  REQUIRE((sync ? log->sync() : log->flush()).is_ok());
  out.segments = testing::files_with_suffix(dir, ".log");
  return out;
}

// Offsets of the frames in a segment file, plus its size at the end.
std::vector<uint64_t> frame_offsets(const std::string& path) {
  auto bytes = read_file(path);
  REQUIRE(bytes.is_ok());
  std::vector<uint64_t> offsets;
  std::string_view rest = *bytes;
  uint64_t pos = 0;
  while (!rest.empty()) {
    FrameView frame;
    REQUIRE(decode_frame(rest, 1 << 20, &frame) == FrameStatus::kOk);
    offsets.push_back(pos);
    pos += frame.total_bytes;
    rest.remove_prefix(frame.total_bytes);
  }
  offsets.push_back(pos);
  return offsets;
}

std::vector<Record> prefix(const std::vector<Record>& records, size_t n) {
  return std::vector<Record>(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
}

// Records stored in the segments before `segment` (by file order).
size_t records_before_segment(const Built& built, size_t segment) {
  size_t n = 0;
  for (size_t s = 0; s < segment; ++s) n += frame_offsets(built.segments[s]).size() - 1;
  return n;
}

}  // namespace

TEST_SUITE("storage.recovery") {
  TEST_CASE("a torn frame at end of the active segment is truncated, not reported as corruption") {
    TempDir root;
    constexpr uint64_t kRecords = 100;
    // Learn the layout once, then cut the last frame at every byte offset.
    Built reference = build_log(root.sub("reference"), kRecords);
    const std::string active_name =
        reference.segments.back().substr(reference.segments.back().rfind('/'));
    auto offsets = frame_offsets(reference.segments.back());
    const uint64_t last_start = offsets[offsets.size() - 2];
    const uint64_t size = offsets.back();
    REQUIRE(reference.segments.size() > 2);
    for (uint64_t cut = last_start; cut < size; ++cut) {
      CAPTURE(cut);
      const std::string dir = root.sub("cut" + std::to_string(cut));
      testing::copy_dir(root.sub("reference"), dir);
      testing::truncate_to(dir + active_name, cut);
      RecoveryReport report;
      auto log = open_log(dir, small_options(), &report);
      CHECK(report.truncated_bytes == cut - last_start);
      CHECK(report.records == kRecords - 1);
      CHECK(report.corrupt.empty());
      if (cut > last_start)
        CHECK(report.truncated_detail.find(active_name.substr(1)) != std::string::npos);
      CHECK(testing::file_size(dir + active_name) == last_start);
      CHECK(collect_all(*log) == prefix(reference.records, kRecords - 1));
      CHECK(log->last_key() == key_at(kRecords - 2));
      // The log keeps working: append, sync, reopen.
      REQUIRE(log->append(key_at(100), 2, make_payload(key_at(100), 7)).is_ok());
      REQUIRE(log->sync().is_ok());
      log.reset();
      RecoveryReport again;
      auto reopened = open_log(dir, small_options(), &again);
      CHECK(again.truncated_bytes == 0);
      CHECK(again.records == kRecords);
    }
  }

  TEST_CASE("flipped bits in the active segment cut the log at the damaged frame") {
    TempDir root;
    std::mt19937 rng(1234);
    Built built = build_log(root.sub("reference"), 80);
    const std::string active_name = built.segments.back().substr(built.segments.back().rfind('/'));
    const auto offsets = frame_offsets(built.segments.back());
    for (int trial = 0; trial < 40; ++trial) {
      const std::string dir = root.sub("t" + std::to_string(trial));
      testing::copy_dir(root.sub("reference"), dir);
      const std::string active = dir + active_name;
      const size_t active_first = records_before_segment(built, built.segments.size() - 1);
      const uint64_t size = offsets.back();
      const uint64_t flip_at = rng() % size;
      testing::corrupt_byte(active, flip_at, static_cast<uint8_t>(1u << (rng() % 8)));
      // The damaged frame is the last one starting at or before flip_at.
      size_t frame = 0;
      while (offsets[frame + 1] <= flip_at) ++frame;
      CAPTURE(trial);
      CAPTURE(flip_at);
      RecoveryReport report;
      auto log = open_log(dir, small_options(), &report);
      CHECK(report.truncated_bytes == size - offsets[frame]);
      CHECK(report.records == active_first + frame);
      CHECK(collect_all(*log) == prefix(built.records, active_first + frame));
    }
  }

  TEST_CASE("a record whose key cannot be read cuts the active segment like a bad checksum") {
    TempDir dir;
    {
      auto log = open_log(dir.path(), small_options());
      REQUIRE(log->append(key_at(0), 1, make_payload(key_at(0), 10)).is_ok());
      REQUIRE(log->append(key_at(1), 1, make_payload(key_at(1), 10)).is_ok());
      std::string unreadable = make_payload(key_at(2), 10);
      unreadable[16] = '!';
      REQUIRE(log->append(key_at(2), 1, unreadable).is_ok());
      REQUIRE(log->append(key_at(3), 1, make_payload(key_at(3), 10)).is_ok());
      REQUIRE(log->sync().is_ok());
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.records == 2);
    CHECK(report.truncated_bytes == 2 * frame_bytes(26));
    CHECK(report.truncated_detail.find("last good key 501-1") != std::string::npos);
    CHECK(log->last_key() == key_at(1));
  }

  TEST_CASE("a flipped bit in a sealed segment is found on read, and at open once unindexed") {
    TempDir dir;
    Built built = build_log(dir.path(), 200);
    REQUIRE(built.segments.size() > 4);
    const std::string victim = built.segments[1];
    auto offsets = frame_offsets(victim);
    testing::corrupt_byte(victim, offsets[2] + 20);

    SUBCASE("a trusted segment is not scanned at open, but a read through it fails") {
      RecoveryReport report;
      auto log = open_log(dir.path(), small_options(), &report);
      CHECK(report.records == 200);
      bool all_ok = true;
      wire::Status st = log->scan(StreamId::min(), StreamId::max(), false,
                                  [&](StreamId, uint8_t, std::string_view) { return all_ok; });
      CHECK(st.code() == wire::ErrorCode::kCorruption);
      CHECK(st.detail().find(victim) != std::string::npos);
      st = log->scan(StreamId::min(), StreamId::max(), true,
                     [&](StreamId, uint8_t, std::string_view) { return true; });
      CHECK(st.code() == wire::ErrorCode::kCorruption);
    }
    SUBCASE("without its index the segment is scanned and open fails naming it") {
      REQUIRE(::unlink((victim.substr(0, victim.size() - 4) + ".idx").c_str()) == 0);
      RecoveryReport report;
      auto log = SegmentedLog::open(dir.path(), small_options(), testing::test_key_of, &report);
      REQUIRE_FALSE(log.is_ok());
      CHECK(log.code() == wire::ErrorCode::kCorruption);
      CHECK(log.status().detail().find(victim) != std::string::npos);
      CHECK(report.corrupt == std::vector<std::string>{victim});
      CHECK(testing::file_exists(victim));
    }
    SUBCASE("quarantine mode renames it .corrupt and opens the rest") {
      REQUIRE(::unlink((victim.substr(0, victim.size() - 4) + ".idx").c_str()) == 0);
      LogOptions options = small_options();
      options.quarantine_corrupt = true;
      RecoveryReport report;
      auto log = open_log(dir.path(), options, &report);
      CHECK(report.corrupt == std::vector<std::string>{victim});
      CHECK_FALSE(testing::file_exists(victim));
      CHECK(testing::file_exists(victim + ".corrupt"));
      const size_t lost = offsets.size() - 1;
      CHECK(report.records == 200 - lost);
      auto records = collect_all(*log);
      CHECK(records.size() == 200 - lost);
      auto expected = built.records;
      const size_t first_lost = records_before_segment(built, 1);
      expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(first_lost),
                     expected.begin() + static_cast<std::ptrdiff_t>(first_lost + lost));
      CHECK(records == expected);
      CHECK(log->segment_count() == built.segments.size() - 1);
    }
  }

  TEST_CASE("a missing, damaged or mismatched index is rebuilt by scanning") {
    TempDir dir;
    Built built = build_log(dir.path(), 200);
    auto idx_files = testing::files_with_suffix(dir.path(), ".idx");
    REQUIRE(idx_files.size() >= 5);
    std::vector<std::string> originals;
    for (const auto& path : idx_files) originals.push_back(*read_file(path));
    REQUIRE(::unlink(idx_files[0].c_str()) == 0);
    testing::corrupt_byte(idx_files[1], 70);
    testing::truncate_to(idx_files[2], 30);
    testing::copy_file(idx_files[4], idx_files[3]);  // another segment's index
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.rebuilt_indexes == 4);
    CHECK(report.truncated_bytes == 0);
    CHECK(collect_all(*log) == built.records);
    for (size_t i = 0; i < idx_files.size(); ++i) {
      auto rebuilt = read_file(idx_files[i]);
      REQUIRE(rebuilt.is_ok());
      CHECK(*rebuilt == originals[i]);
    }
  }

  TEST_CASE("segments rolled but never synced are recovered whole when their bytes survived") {
    TempDir dir;
    Built built = build_log(dir.path(), 150, /*sync=*/false);
    CHECK(testing::files_with_suffix(dir.path(), ".idx").empty());
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.rebuilt_indexes == built.segments.size() - 1);
    CHECK(report.truncated_bytes == 0);
    CHECK(collect_all(*log) == built.records);
    CHECK(testing::files_with_suffix(dir.path(), ".idx").size() == built.segments.size() - 1);
  }

  TEST_CASE("a torn frame in a rolled, unsynced segment cuts the log there and drops later ones") {
    TempDir dir;
    Built built = build_log(dir.path(), 150, /*sync=*/false);
    REQUIRE(built.segments.size() > 4);
    const size_t torn_segment = 2;
    auto offsets = frame_offsets(built.segments[torn_segment]);
    const uint64_t cut = offsets[3] + 10;
    uint64_t lost = cut - offsets[3];
    for (size_t s = torn_segment + 1; s < built.segments.size(); ++s) {
      lost += testing::file_size(built.segments[s]);
    }
    testing::truncate_to(built.segments[torn_segment], cut);
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.truncated_bytes == lost);
    const size_t kept = records_before_segment(built, torn_segment) + 3;
    CHECK(collect_all(*log) == prefix(built.records, kept));
    CHECK(testing::files_with_suffix(dir.path(), ".log").size() == torn_segment + 1);
    REQUIRE(log->append(key_at(1000), 1, make_payload(key_at(1000), 4)).is_ok());
    REQUIRE(log->sync().is_ok());
    log.reset();
    CHECK(collect_all(*open_log(dir.path(), small_options())).size() == kept + 1);
  }

  TEST_CASE("empty segment files and leftover temporary files are removed at open") {
    TempDir dir;
    Built built = build_log(dir.path(), 50);
    const std::string empty = dir.path() + "/18000000000000000000-00000000000000000000.log";
    {
      std::FILE* f = std::fopen(empty.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fclose(f);
    }
    const std::string tmp = built.segments[0].substr(0, built.segments[0].size() - 4) + ".idx.tmp";
    {
      std::FILE* f = std::fopen(tmp.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fclose(f);
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK_FALSE(testing::file_exists(empty));
    CHECK_FALSE(testing::file_exists(tmp));
    CHECK(collect_all(*log) == built.records);
  }
}

}  // namespace sluice::storage
