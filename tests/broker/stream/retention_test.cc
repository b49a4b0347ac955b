// Retention (stream-retention-ms / stream-retention-bytes): which segments expire, and that
// dropping them leaves a stream exactly as an exact XTRIM MINID at the first kept ID would, in
// memory and after reopening.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"
#include "tests/broker/stream/stream_test_util.h"

namespace sluice::stream {
namespace {

using storage::testing::copy_file;
using storage::testing::file_exists;
using storage::testing::files_with_suffix;
using storage::testing::TempDir;
using testing::describe;
using testing::open_stream;
using testing::small_options;

void append(Stream& s, StreamId id, const std::string& value = "value") {
  std::string_view fields[] = {"v", value};
  REQUIRE(s.append(id, fields).is_ok());
}

// Entries with IDs (10 * i)-0 for i in [0, n): the ms part is a clock that grows by 10.
std::unique_ptr<Stream> stream_of(const std::string& dir, uint64_t n) {
  auto s = open_stream(dir);
  for (uint64_t i = 0; i < n; ++i) append(*s, StreamId{10 * i, 0});
  return s;
}

std::string without_start(std::string described) {
  const size_t at = described.find(" start=");
  if (at != std::string::npos) described.erase(at, described.find(' ', at + 1) - at);
  return described;
}

uint64_t records_from(const Stream& s, size_t first_segment) {
  uint64_t n = 0;
  for (size_t i = first_segment; i < s.log().segment_count(); ++i) {
    n += s.log().segment_info(i).records;
  }
  return n;
}

TEST_SUITE("stream.retention") {
  TEST_CASE("age retention expires the segments whose last entry is older than the cutoff") {
    TempDir dir;
    auto s = stream_of(dir.path(), 400);
    const size_t segments = s->log().segment_count();
    REQUIRE(segments >= 5);
    const int64_t age = 1000;
    RetentionPolicy policy{age, 0};
    // Cutoff just past the last entry of segment 2: segments 0..2 are older, 3 is not.
    const uint64_t last_of_2 = s->log().segment_info(2).last_key.ms;
    CHECK(s->expired_segments(static_cast<int64_t>(last_of_2) + 1 + age, policy) == 3);
    // Cutoff equal to the last entry of segment 2: that entry is not older, so only 0..1.
    CHECK(s->expired_segments(static_cast<int64_t>(last_of_2) + age, policy) == 2);
    // Nothing is that old yet, or the clock is before the retention window.
    CHECK(s->expired_segments(age, policy) == 0);
    CHECK(s->expired_segments(0, policy) == 0);
    // Everything is old: all but the newest segment.
    CHECK(s->expired_segments(INT64_MAX, policy) == segments - 1);

    const StreamId kept_first = s->log().segment_info(3).first_key;
    const uint64_t kept_records = records_from(*s, 3);
    auto removed = s->drop_oldest_segments(3);
    REQUIRE(removed.is_ok());
    // The dropped segments are unlinked once the state that dropped them is durable.
    REQUIRE(s->sync().is_ok());
    CHECK(*removed == 400 - kept_records);
    CHECK(s->log().segment_count() == segments - 3);
    CHECK(s->length() == kept_records);
    CHECK(s->first_id() == kept_first);
    CHECK(s->entries_added() == 400);
    CHECK(s->last_id() == StreamId{3990, 0});
    CHECK(s->expired_segments(static_cast<int64_t>(last_of_2) + 1 + age, policy) == 0);
  }

  TEST_CASE("size retention drops the oldest segments until the log fits, never the newest") {
    TempDir dir;
    auto s = stream_of(dir.path(), 400);
    const size_t segments = s->log().segment_count();
    REQUIRE(segments >= 5);
    const uint64_t total = s->log().disk_bytes();
    const uint64_t first = s->log().segment_info(0).bytes;
    CHECK(s->expired_segments(0, RetentionPolicy{0, total}) == 0);
    CHECK(s->expired_segments(0, RetentionPolicy{0, total - first}) == 1);
    CHECK(s->expired_segments(0, RetentionPolicy{0, total - first - 1}) == 2);
    CHECK(s->expired_segments(0, RetentionPolicy{0, 1}) == segments - 1);

    const uint64_t limit = total / 2;
    const size_t expired = s->expired_segments(0, RetentionPolicy{0, limit});
    REQUIRE(*s->drop_oldest_segments(expired) > 0);
    REQUIRE(s->sync().is_ok());
    CHECK(s->log().disk_bytes() <= limit);
    CHECK(s->log().disk_bytes() + s->log().segment_info(0).bytes > limit);
    // Appending more makes the log too large again; retention keeps up.
    for (uint64_t i = 400; i < 600; ++i) append(*s, StreamId{10 * i, 0});
    REQUIRE(*s->drop_oldest_segments(s->expired_segments(0, RetentionPolicy{0, limit})) > 0);
    REQUIRE(s->sync().is_ok());
    CHECK(s->log().disk_bytes() <= limit);
    CHECK(s->last_id() == StreamId{5990, 0});
  }

  TEST_CASE("the newest segment is never dropped, however old or large") {
    TempDir dir;
    auto s = stream_of(dir.path(), 20);
    REQUIRE(s->log().segment_count() == 1);
    CHECK(s->expired_segments(INT64_MAX, RetentionPolicy{1, 1}) == 0);
    CHECK(*s->drop_oldest_segments(1) == 0);
    CHECK(s->length() == 20);

    // With several segments, the newest one survives even when it is sealed and full.
    for (uint64_t i = 20; i < 300; ++i) append(*s, StreamId{10 * i, 0});
    const size_t segments = s->log().segment_count();
    REQUIRE(segments > 1);
    const size_t expired = s->expired_segments(INT64_MAX, RetentionPolicy{1, 1});
    CHECK(expired == segments - 1);
    REQUIRE(s->drop_oldest_segments(expired).is_ok());
    REQUIRE(s->sync().is_ok());
    CHECK(s->log().segment_count() == 1);
    CHECK(s->length() == s->log().segment_info(0).records);
    CHECK(s->last_id() == StreamId{2990, 0});
    CHECK(s->last_entry_id() == StreamId{2990, 0});
  }

  TEST_CASE("dropping segments equals an exact XTRIM MINID at the first kept ID, reopened too") {
    // Twin streams get the same appends, deletes and trims; `kept` loses segments to retention
    // where `trimmed` gets XTRIM MINID = at the same ID.
    TempDir dir;
    auto kept = open_stream(dir.sub("retention"));
    auto trimmed = open_stream(dir.sub("xtrim"));
    std::mt19937_64 rng(20261125);
    uint64_t ms = 1;
    std::vector<StreamId> ids;
    uint64_t drops = 0;
    for (int step = 0; step < 2500; ++step) {
      const int op = static_cast<int>(rng() % 100);
      if (op < 70) {
        ms += rng() % 3;
        StreamId id{ms, rng() % 2};
        if (!ids.empty() && id <= ids.back()) id = StreamId{ids.back().ms, ids.back().seq + 1};
        const std::string value(rng() % 60, 'x');
        append(*kept, id, value);
        append(*trimmed, id, value);
        ids.push_back(id);
      } else if (op < 85 && !ids.empty()) {
        std::vector<StreamId> doomed{ids[rng() % ids.size()], ids[rng() % ids.size()]};
        std::sort(doomed.begin(), doomed.end());
        doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
        CHECK(*kept->remove(doomed) == *trimmed->remove(doomed));
      } else if (op < 88) {
        // A trim into the middle of a segment, so retention starts from a mid-segment start.
        TrimSpec t;
        t.strategy = TrimSpec::Strategy::kMaxLen;
        t.maxlen = kept->length() - std::min<uint64_t>(kept->length(), rng() % 20);
        CHECK(*kept->trim(t) == *trimmed->trim(t));
      } else if (op < 97) {
        const size_t segments = kept->log().segment_count();
        if (segments < 2) continue;
        const size_t count = 1 + rng() % (segments - 1);
        TrimSpec t;
        t.strategy = TrimSpec::Strategy::kMinId;
        t.minid = kept->log().segment_info(count).first_key;
        auto by_retention = kept->drop_oldest_segments(count);
        REQUIRE(by_retention.is_ok());
        auto by_trim = trimmed->trim(t);
        REQUIRE(by_trim.is_ok());
        CHECK(*by_retention == *by_trim);
        // Unlinked once the new start is durable.
        REQUIRE(kept->sync().is_ok());
        REQUIRE(trimmed->sync().is_ok());
        CHECK(kept->log().segment_count() == segments - count);
        CHECK(trimmed->log().segment_count() == segments - count);
        ++drops;
      } else {
        REQUIRE(kept->sync().is_ok());
        REQUIRE(trimmed->sync().is_ok());
        kept.reset();
        trimmed.reset();
        kept = open_stream(dir.sub("retention"));
        trimmed = open_stream(dir.sub("xtrim"));
      }
      // The start is not compared: below the first live entry its exact value is free (a
      // trim that lands between records moves it, a drop at a segment boundary need not).
      REQUIRE(without_start(describe(*kept)) == without_start(describe(*trimmed)));
    }
    CHECK(drops > 30);
  }

  TEST_CASE("reopening after retention gives the same state, and finishes an interrupted drop") {
    TempDir dir;
    const std::string log_dir = dir.sub("s/log");
    auto s = stream_of(dir.sub("s"), 400);
    StreamId deleted[] = {StreamId{10, 0}, StreamId{3000, 0}};
    REQUIRE(*s->remove(deleted) == 2);
    REQUIRE(s->sync().is_ok());
    // Keep copies of the segments about to be dropped.
    const std::vector<std::string> before = files_with_suffix(log_dir, ".log");
    TempDir saved;
    for (const auto& path : before) {
      copy_file(path, saved.path() + "/" + std::filesystem::path(path).filename().string());
    }
    REQUIRE(*s->drop_oldest_segments(3) > 0);
    REQUIRE(s->sync().is_ok());
    const std::string state = describe(*s);
    const size_t segments = s->log().segment_count();
    s.reset();

    s = open_stream(dir.sub("s"));
    CHECK(describe(*s) == state);
    CHECK(s->log().segment_count() == segments);
    s.reset();

    // A crash after the state record reached the disk but before the unlinks did: the dropped
    // segments are back in the directory. Reopening removes them and serves the same state.
    for (size_t i = 0; i < 3; ++i) {
      const std::string name = std::filesystem::path(before[i]).filename().string();
      REQUIRE_FALSE(file_exists(before[i]));
      copy_file(saved.path() + "/" + name, before[i]);
    }
    s = open_stream(dir.sub("s"));
    CHECK(describe(*s) == state);
    CHECK(s->log().segment_count() == segments);
    for (size_t i = 0; i < 3; ++i) CHECK_FALSE(file_exists(before[i]));
  }
}

}  // namespace
}  // namespace sluice::stream
