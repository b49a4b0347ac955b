// SegmentedLog recovery: torn tails, bit rot in active and sealed segments, quarantine, index
// rebuilds, and segments rolled but not yet durable when the process died.
#include <doctest/doctest.h>

#include <map>
#include <random>

#include "broker/storage/journal.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::build_log;
using testing::Built;
using testing::collect_all;
using testing::frame_offsets;
using testing::key_at;
using testing::make_payload;
using testing::open_log;
using testing::prefix;
using testing::Record;
using testing::records_before_segment;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

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

  TEST_CASE("a record whose key cannot be read is moved aside like a bad checksum") {
    TempDir dir;
    std::string unreadable = make_payload(key_at(2), 10);
    unreadable[16] = '!';
    {
      auto log = open_log(dir.path(), small_options());
      REQUIRE(log->append(key_at(0), 1, make_payload(key_at(0), 10)).is_ok());
      REQUIRE(log->append(key_at(1), 1, make_payload(key_at(1), 10)).is_ok());
      REQUIRE(log->append(key_at(2), 1, unreadable).is_ok());
      REQUIRE(log->append(key_at(3), 1, make_payload(key_at(3), 10)).is_ok());
      REQUIRE(log->sync().is_ok());
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.records == 3);
    CHECK(report.truncated_bytes == 0);
    CHECK(report.corrupt_ranges == 1);
    CHECK(report.lost_records == 1);
    CHECK(report.quarantined_bytes == frame_bytes(26));
    REQUIRE(report.quarantine_files.size() == 1);
    std::string expected_frame;
    append_frame(&expected_frame, 1, unreadable);
    CHECK(*read_file(report.quarantine_files[0]) == expected_frame);
    CHECK(report.truncated_detail.find("last good key 501-1") != std::string::npos);
    auto records = collect_all(*log);
    REQUIRE(records.size() == 3);
    CHECK(records[2].key == key_at(3));
    CHECK(log->last_key() == key_at(3));
  }

  TEST_CASE("a flipped bit in a sealed segment is found on read, and at open once unindexed") {
    TempDir dir;
    Built built = build_log(dir.path(), 200);
    REQUIRE(built.segments.size() > 4);
    const std::string victim = built.segments[1];
    auto offsets = frame_offsets(victim);
    testing::corrupt_byte(victim, offsets[2] + 20);

    SUBCASE("a trusted segment is not scanned at open; a read through it fails until recovery") {
      RecoveryReport report;
      auto log = open_log(dir.path(), small_options(), &report);
      CHECK(report.records == 200);
      bool all_ok = true;
      wire::Status st = log->scan(StreamId::min(), StreamId::max(), false,
                                  [&](StreamId, uint8_t, std::string_view) { return all_ok; });
      CHECK(st.code() == wire::ErrorCode::kCorruption);
      CHECK(st.detail().find(victim) != std::string::npos);
      CHECK(st.detail().find("offset " + std::to_string(offsets[2])) != std::string::npos);
      st = log->scan(StreamId::min(), StreamId::max(), true,
                     [&](StreamId, uint8_t, std::string_view) { return true; });
      CHECK(st.code() == wire::ErrorCode::kCorruption);
      CHECK(testing::files_with_suffix(dir.path(), "").size() == 2 * built.segments.size() - 1);
    }
    SUBCASE("without its index the segment is checked and open fails naming file and offset") {
      REQUIRE(::unlink((victim.substr(0, victim.size() - 4) + ".idx").c_str()) == 0);
      const std::string before = *read_file(victim);
      RecoveryReport report;
      auto log = SegmentedLog::open(dir.path(), small_options(), testing::test_key_of, &report);
      REQUIRE_FALSE(log.is_ok());
      CHECK(log.code() == wire::ErrorCode::kCorruption);
      CHECK(log.status().detail().find(victim + " at offset " + std::to_string(offsets[2])) !=
            std::string::npos);
      CHECK(log.status().detail().find("recovery-on-corruption quarantine") != std::string::npos);
      CHECK(report.corrupt == std::vector<std::string>{victim});
      CHECK(*read_file(victim) == before);
      CHECK(testing::files_with_suffix(dir.path(), "").size() == 2 * built.segments.size() - 2);
    }
    SUBCASE("quarantine moves the damaged record aside and keeps the rest of the segment") {
      REQUIRE(::unlink((victim.substr(0, victim.size() - 4) + ".idx").c_str()) == 0);
      const std::string damaged = read_file(victim)->substr(offsets[2], offsets[3] - offsets[2]);
      LogOptions options = small_options();
      options.quarantine_corrupt = true;
      RecoveryReport report;
      auto log = open_log(dir.path(), options, &report);
      CHECK(report.corrupt == std::vector<std::string>{victim});
      REQUIRE(report.quarantine_files ==
              std::vector<std::string>{victim + ".corrupt-" + std::to_string(offsets[2])});
      CHECK(*read_file(report.quarantine_files[0]) == damaged);
      CHECK(report.records == 199);
      auto expected = built.records;
      expected.erase(expected.begin() +
                     static_cast<std::ptrdiff_t>(records_before_segment(built, 1) + 2));
      CHECK(collect_all(*log) == expected);
      CHECK(log->segment_count() == built.segments.size());
      CHECK(testing::file_size(victim) == offsets.back() - damaged.size());
      log.reset();
      RecoveryReport again;
      auto reopened = open_log(dir.path(), options, &again);
      CHECK(again.corrupt.empty());
      CHECK(again.rebuilt_indexes == 0);
      CHECK(collect_all(*reopened) == expected);
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

  TEST_CASE("a torn frame at the end of a rolled, unsynced segment is cut; later segments stay") {
    TempDir dir;
    Built built = build_log(dir.path(), 150, /*sync=*/false);
    REQUIRE(built.segments.size() > 4);
    const size_t torn_segment = 2;
    auto offsets = frame_offsets(built.segments[torn_segment]);
    const size_t kept_frames = offsets.size() - 2;  // its last frame is cut short
    const uint64_t cut = offsets[kept_frames] + 10;
    testing::truncate_to(built.segments[torn_segment], cut);
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.truncated_bytes == 10);
    CHECK(report.corrupt.empty());
    REQUIRE(report.lost.size() == 1);
    const size_t lost_index = records_before_segment(built, torn_segment) + kept_frames;
    CHECK(report.lost[0].after == key_at(lost_index - 1));
    CHECK(report.lost[0].before == key_at(lost_index + 1));
    auto expected = built.records;
    expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(lost_index));
    CHECK(collect_all(*log) == expected);
    CHECK(testing::files_with_suffix(dir.path(), ".log").size() == built.segments.size());
    REQUIRE(log->append(key_at(1000), 1, make_payload(key_at(1000), 4)).is_ok());
    REQUIRE(log->sync().is_ok());
    log.reset();
    CHECK(collect_all(*open_log(dir.path(), small_options())).size() == expected.size() + 1);
  }

  TEST_CASE("empty segment files are removed and reported, leftover temporary files removed") {
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
    const uint64_t empty_before = corruption_stats().empty_segments;
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK_FALSE(testing::file_exists(empty));
    CHECK_FALSE(testing::file_exists(tmp));
    CHECK(report.empty_segments == 1);
    CHECK(corruption_stats().empty_segments == empty_before + 1);
    CHECK(collect_all(*log) == built.records);
  }
}

}  // namespace sluice::storage
