// Damage in the middle of segments: a byte flipped at every position of the active segment and of
// a sealed one, under both recovery-on-corruption policies, at open and when a read first meets
// it. Every intact record stays readable, the damaged one is reported, and its bytes are kept in
// a quarantine file: nothing is deleted.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

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
using testing::collect;
using testing::collect_all;
using testing::frame_offsets;
using testing::key_at;
using testing::make_payload;
using testing::open_log;
using testing::Record;
using testing::records_before_segment;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

// Bytes between flipped positions. Every header byte of the frames tried is flipped as well; set
// SLUICE_FLIP_STRIDE=1 to flip every byte (a longer run, by hand).
uint64_t flip_stride() {
  const char* env = std::getenv("SLUICE_FLIP_STRIDE");
  const long stride = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
  return stride > 0 ? static_cast<uint64_t>(stride) : 13;
}

// The positions to flip in a segment of frames at `offsets`: every header byte of the first,
// second and last frame, and every flip_stride()-th byte.
std::vector<uint64_t> flip_positions(const std::vector<uint64_t>& offsets) {
  std::vector<uint64_t> out;
  for (size_t frame : {size_t{0}, size_t{1}, offsets.size() - 2}) {
    for (uint64_t i = 0; i < kFrameHeaderBytes; ++i) out.push_back(offsets[frame] + i);
  }
  for (uint64_t at = 0; at < offsets.back(); at += flip_stride()) out.push_back(at);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

LogOptions with_policy(bool quarantine) {
  LogOptions options = small_options();
  options.quarantine_corrupt = quarantine;
  return options;
}

std::string name_of(const std::string& path) { return path.substr(path.rfind('/')); }

std::string idx_of(const std::string& log_path) {
  return log_path.substr(0, log_path.size() - 4) + ".idx";
}

// The frame (index into offsets) holding byte `at`.
size_t frame_holding(const std::vector<uint64_t>& offsets, uint64_t at) {
  size_t frame = 0;
  while (offsets[frame + 1] <= at) ++frame;
  return frame;
}

std::vector<Record> without(std::vector<Record> records, size_t index) {
  records.erase(records.begin() + static_cast<std::ptrdiff_t>(index));
  return records;
}

// Checks that `report` names exactly one quarantine file for `segment` holding `bytes`.
void check_quarantined(const RecoveryReport& report, const std::string& segment, uint64_t offset,
                       const std::string& bytes) {
  REQUIRE(report.quarantine_files.size() == 1);
  CHECK(report.quarantine_files[0] == segment + ".corrupt-" + std::to_string(offset));
  CHECK(*read_file(report.quarantine_files[0]) == bytes);
  CHECK(report.quarantined_bytes == bytes.size());
}

}  // namespace

TEST_SUITE("storage.corruption") {
  TEST_CASE("a byte flipped anywhere in the active segment loses only its record, kept aside") {
    TempDir root(TempDir::Where::kRam);
    Built built = build_log(root.sub("reference"), 80);
    const std::string active_name = name_of(built.segments.back());
    const auto offsets = frame_offsets(built.segments.back());
    const size_t active_first = records_before_segment(built, built.segments.size() - 1);
    const uint64_t size = offsets.back();
    REQUIRE(offsets.size() > 5);
    uint64_t trials = 0;
    for (bool quarantine : {false, true}) {
      for (uint64_t flip_at : flip_positions(offsets)) {
        CAPTURE(quarantine);
        CAPTURE(flip_at);
        const std::string dir = root.sub("t" + std::to_string(trials++));
        testing::copy_dir(root.sub("reference"), dir);
        const std::string active = dir + active_name;
        testing::corrupt_byte(active, flip_at, static_cast<uint8_t>(1u << (flip_at % 8)));
        const size_t frame = frame_holding(offsets, flip_at);
        const std::string damaged =
            read_file(active)->substr(offsets[frame], offsets[frame + 1] - offsets[frame]);
        RecoveryReport report;
        auto log = open_log(dir, with_policy(quarantine), &report);
        CHECK(report.truncated_bytes == 0);
        CHECK(report.corrupt == std::vector<std::string>{active});
        CHECK(report.corrupt_ranges == 1);
        CHECK(report.lost_records >= 1);
        CHECK(report.records == built.records.size() - 1);
        check_quarantined(report, active, offsets[frame], damaged);
        const auto expected = without(built.records, active_first + frame);
        CHECK(collect_all(*log) == expected);
        // Nothing deleted: what left the segment is in the quarantine file.
        CHECK(testing::file_size(active) + damaged.size() == size);
        // The log goes on: append, sync, reopen without further reports.
        REQUIRE(log->append(key_at(1000), 1, make_payload(key_at(1000), 9)).is_ok());
        REQUIRE(log->sync().is_ok());
        log.reset();
        RecoveryReport again;
        auto reopened = open_log(dir, with_policy(quarantine), &again);
        CHECK(again.corrupt.empty());
        CHECK(again.quarantine_files.empty());
        CHECK(collect_all(*reopened).size() == expected.size() + 1);
      }
    }
    MESSAGE("active-segment positions tried: " << trials);
  }

  TEST_CASE("a byte flipped anywhere in a sealed segment refuses to start or is moved aside") {
    TempDir root(TempDir::Where::kRam);
    Built built = build_log(root.sub("reference"), 200);
    REQUIRE(built.segments.size() > 4);
    const std::string victim_name = name_of(built.segments[1]);
    const auto offsets = frame_offsets(built.segments[1]);
    const size_t first = records_before_segment(built, 1);
    uint64_t trials = 0;
    for (uint64_t flip_at : flip_positions(offsets)) {
      CAPTURE(flip_at);
      const std::string dir = root.sub("t" + std::to_string(trials++));
      testing::copy_dir(root.sub("reference"), dir);
      const std::string victim = dir + victim_name;
      testing::corrupt_byte(victim, flip_at, static_cast<uint8_t>(0x80u >> (flip_at % 8)));
      REQUIRE(::unlink(idx_of(victim).c_str()) == 0);  // checked at open, as after a read met it
      const std::string flipped = *read_file(victim);
      const size_t frame = frame_holding(offsets, flip_at);
      {
        auto refused = SegmentedLog::open(dir, with_policy(false), testing::test_key_of);
        REQUIRE_FALSE(refused.is_ok());
        CHECK(refused.code() == wire::ErrorCode::kCorruption);
        CHECK(refused.status().detail().find(victim + " at offset " +
                                             std::to_string(offsets[frame])) != std::string::npos);
        CHECK(*read_file(victim) == flipped);
        CHECK(
            testing::files_with_suffix(dir, ".corrupt-" + std::to_string(offsets[frame])).empty());
      }
      RecoveryReport report;
      auto log = open_log(dir, with_policy(true), &report);
      CHECK(report.corrupt == std::vector<std::string>{victim});
      CHECK(report.corrupt_ranges == 1);
      check_quarantined(report, victim, offsets[frame],
                        flipped.substr(offsets[frame], offsets[frame + 1] - offsets[frame]));
      const auto expected = without(built.records, first + frame);
      CHECK(collect_all(*log) == expected);
      CHECK(collect(*log, StreamId::min(), StreamId::max(), true).size() == expected.size());
      CHECK(testing::file_exists(idx_of(victim)));
      log.reset();
      RecoveryReport again;
      auto reopened = open_log(dir, with_policy(false), &again);
      CHECK(again.corrupt.empty());
      CHECK(collect_all(*reopened) == expected);
    }
    MESSAGE("sealed-segment positions tried: " << trials << " (x2 policies)");
  }

  TEST_CASE(
      "a damaged record of a trusted sealed segment met by a read is skipped and moved aside") {
    TempDir root(TempDir::Where::kRam);
    Built built = build_log(root.sub("reference"), 200);
    const std::string victim_name = name_of(built.segments[2]);
    const auto offsets = frame_offsets(built.segments[2]);
    const size_t first = records_before_segment(built, 2);
    const size_t frames = offsets.size() - 1;
    uint64_t trial = 0;
    for (size_t frame : {size_t{0}, size_t{1}, frames / 2, frames - 1}) {
      for (uint64_t within : {uint64_t{0}, uint64_t{5}, uint64_t{9}, uint64_t{20}}) {
        for (bool reverse : {false, true}) {
          const uint64_t flip_at = offsets[frame] + within;
          CAPTURE(frame);
          CAPTURE(within);
          CAPTURE(reverse);
          const std::string dir = root.sub("t" + std::to_string(trial++));
          testing::copy_dir(root.sub("reference"), dir);
          const std::string victim = dir + victim_name;
          testing::corrupt_byte(victim, flip_at, 0x10);
          const std::string flipped = *read_file(victim);
          auto log = open_log(dir, with_policy(false));
          log->finish_recovery();
          std::vector<KeyGap> heard;
          log->set_loss_listener([&](std::span<const KeyGap> gaps) {
            heard.insert(heard.end(), gaps.begin(), gaps.end());
          });
          const auto ranges_before = corruption_stats().corrupt_ranges;
          const auto expected = without(built.records, first + frame);
          auto records = collect(*log, StreamId::min(), StreamId::max(), reverse);
          if (reverse) std::reverse(records.begin(), records.end());
          CHECK(records == expected);
          CHECK(corruption_stats().corrupt_ranges == ranges_before + 1);
          REQUIRE(heard.size() == 1);
          CHECK(heard[0].after == key_at(first + frame - 1));
          CHECK(heard[0].before == key_at(first + frame + 1));
          CHECK(log->lost_gaps().size() == 1);
          CHECK(log->segment_info(2).records == frames - 1);
          const std::string copy = victim + ".corrupt-" + std::to_string(offsets[frame]);
          CHECK(*read_file(copy) ==
                flipped.substr(offsets[frame], offsets[frame + 1] - offsets[frame]));
          // Met again: skipped quietly, not reported twice.
          CHECK(collect_all(*log) == expected);
          CHECK(heard.size() == 1);
          CHECK(corruption_stats().corrupt_ranges == ranges_before + 1);
          // The next start checks the file again: refuse stops there, quarantine repairs it.
          CHECK_FALSE(testing::file_exists(idx_of(victim)));
          CHECK(*read_file(victim) == flipped);
          log.reset();
          auto refused = SegmentedLog::open(dir, with_policy(false), testing::test_key_of);
          CHECK(refused.code() == wire::ErrorCode::kCorruption);
          RecoveryReport report;
          auto repaired = open_log(dir, with_policy(true), &report);
          CHECK(report.corrupt_ranges == 1);
          CHECK(collect_all(*repaired) == expected);
        }
      }
    }
  }

  TEST_CASE("a last frame whose length field is damaged is corruption, not a torn write") {
    TempDir dir(TempDir::Where::kRam);
    Built built = build_log(dir.path(), 40);
    const std::string active = built.segments.back();
    const auto offsets = frame_offsets(active);
    const uint64_t last = offsets[offsets.size() - 2];
    const std::string frame = read_file(active)->substr(last);
    testing::corrupt_byte(active, last + 5, 0x01);  // payload_len grows by 256
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.truncated_bytes == 0);
    CHECK(report.corrupt_ranges == 1);
    REQUIRE(report.quarantine_files.size() == 1);
    std::string damaged = frame;
    damaged[5] = static_cast<char>(damaged[5] ^ 0x01);
    CHECK(*read_file(report.quarantine_files[0]) == damaged);
    CHECK(collect_all(*log) == without(built.records, built.records.size() - 1));
  }

  TEST_CASE("two damaged records and a zeroed page in the active segment: everything else stays") {
    TempDir dir(TempDir::Where::kRam);
    Built built = build_log(dir.path(), 80);
    const std::string active = built.segments.back();
    const auto offsets = frame_offsets(active);
    REQUIRE(offsets.size() > 8);
    const size_t first = records_before_segment(built, built.segments.size() - 1);
    testing::corrupt_byte(active, offsets[1] + 30, 0x04);
    testing::corrupt_byte(active, offsets[5] + 2, 0x40);
    {
      // Frame 3 reads as zeros, as a page the disk never wrote.
      const std::string zeros(offsets[4] - offsets[3], '\0');
      int fd = ::open(active.c_str(), O_RDWR);
      REQUIRE(fd >= 0);
      REQUIRE(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offsets[3])) ==
              static_cast<ssize_t>(zeros.size()));
      ::close(fd);
    }
    RecoveryReport report;
    auto log = open_log(dir.path(), small_options(), &report);
    CHECK(report.corrupt_ranges == 3);
    CHECK(report.quarantine_files.size() == 2);  // the zeros hold nothing to keep
    auto expected = built.records;
    for (size_t f : {size_t{5}, size_t{3}, size_t{1}}) {
      expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(first + f));
    }
    CHECK(collect_all(*log) == expected);
    REQUIRE(report.lost.size() == 3);
    CHECK(report.lost[1].after == key_at(first + 2));
    CHECK(report.lost[1].before == key_at(first + 4));
  }
}

}  // namespace sluice::storage
