// A crash between a trim's segment unlinks (immediate) and its state record (journaled with the
// next flush): recovery finds the journaled start behind the log's first record and must leave
// the stream exactly as an exact XTRIM MINID to that record would, durably.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"
#include "tests/broker/stream/stream_test_util.h"

namespace sluice::stream {
namespace {

using storage::testing::copy_file;
using storage::testing::file_exists;
using storage::testing::file_size;
using storage::testing::TempDir;
using testing::describe;
using testing::open_stream;
using testing::small_options;

void append(Stream& s, StreamId id) {
  const std::string value = "value-" + id.to_string();
  std::string_view fields[] = {"v", value};
  REQUIRE(s.append(id, fields).is_ok());
}

// Appends (10 * i)-0 for i in [from, to).
void append_range(Stream& s, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i) append(s, StreamId{10 * i, 0});
}

void xdel(Stream& s, std::vector<StreamId> ids) { REQUIRE(s.remove(ids).is_ok()); }

uint64_t trim_exact(Stream& s, TrimSpec::Strategy strategy, uint64_t maxlen, StreamId minid) {
  TrimSpec t;
  t.strategy = strategy;
  t.maxlen = maxlen;
  t.minid = minid;
  auto removed = s.trim(t);
  REQUIRE(removed.is_ok());
  return *removed;
}

// The stream in `dir` as it would be after a crash that kept the segment unlinks (and the log)
// of `trim` but lost the control journal records written since just before it: the journal is
// put back to its bytes from then. Unlinks wait for the state record's fdatasync, so only a disk
// that loses synced writes can do this; the repair is the defence for it. Returns the stream
// reopened from that state.
template <typename Trim>
std::unique_ptr<Stream> crash_during(std::unique_ptr<Stream> s, const std::string& dir,
                                     const TempDir& saved, Trim trim) {
  REQUIRE(s->sync().is_ok());
  const std::string journal = dir + "/control.journal";
  REQUIRE_FALSE(file_exists(dir + "/control.snap"));
  copy_file(journal, saved.sub("control.journal"));
  const size_t segments = s->log().segment_count();
  trim(*s);
  // The trim's unlinks wait for its state record to be durable: with the sync both reach the
  // disk, and the journal is then put back as if the disk had lost its last writes.
  REQUIRE(s->sync().is_ok());
  REQUIRE(s->log().segment_count() < segments);
  s.reset();
  copy_file(saved.sub("control.journal"), journal);
  return open_stream(dir);
}

TEST_SUITE("stream.trim_crash") {
  TEST_CASE(
      "a trim whose unlinks outlived its state record reopens as XTRIM MINID to the first "
      "surviving entry") {
    TempDir dir, saved;
    const std::string crashed_dir = dir.sub("crashed");
    const std::string twin_dir = dir.sub("twin");
    auto crashed = open_stream(crashed_dir);
    auto twin = open_stream(twin_dir);
    // Both streams get the same history up to the trim whose state record is lost.
    auto both = [&](auto op) {
      op(*crashed);
      op(*twin);
    };
    both([](Stream& s) { append_range(s, 1, 401); });
    both([](Stream& s) { xdel(s, {{20, 0}, {500, 0}, {3500, 0}}); });

    uint64_t keep = 120;
    StreamId lost_past{500, 0};  // the first surviving entry is above this
    SUBCASE("with no state record before the trim") {}
    SUBCASE("after an earlier trim, losing only records the old state counted") {
      both([](Stream& s) { trim_exact(s, TrimSpec::Strategy::kMaxLen, 380, {}); });
    }
    SUBCASE("after an earlier trim and more appends, losing records it never counted") {
      both([](Stream& s) { trim_exact(s, TrimSpec::Strategy::kMaxLen, 390, {}); });
      both([](Stream& s) { append_range(s, 401, 500); });
      both([](Stream& s) { xdel(s, {{4020, 0}, {4800, 0}}); });
      keep = 30;
      lost_past = StreamId{4020, 0};  // past the earlier trim's anchor (4000-0) and a tombstone
    }
    SUBCASE("after XSETID changed entries-added") {
      both([](Stream& s) { REQUIRE(s.set_id(s.last_id(), 1000, StreamId{3600, 0}).is_ok()); });
      both([](Stream& s) { append_range(s, 401, 450); });
    }

    const uint64_t added_before = crashed->entries_added();
    crashed = crash_during(std::move(crashed), crashed_dir, saved, [&](Stream& s) {
      // Exact MAXLEN into the middle of a segment, unlinking the segments before it.
      trim_exact(s, TrimSpec::Strategy::kMaxLen, keep, {});
    });
    const StreamId first_kept = crashed->log().first_key();
    REQUIRE(first_kept > lost_past);
    trim_exact(*twin, TrimSpec::Strategy::kMinId, 0, first_kept);

    CHECK(crashed->start() == first_kept);
    CHECK(crashed->first_id() == first_kept);
    CHECK(crashed->entries_added() == added_before);
    CHECK(crashed->max_deleted_id() == twin->max_deleted_id());
    CHECK(crashed->length() == twin->length());
    const std::string state = describe(*crashed);
    CHECK(state == describe(*twin));

    // The repair was journaled: reopening finds a consistent state and writes nothing more.
    const std::string journal = crashed_dir + "/control.journal";
    const uint64_t journal_bytes = file_size(journal);
    crashed.reset();
    crashed = open_stream(crashed_dir);
    CHECK(describe(*crashed) == state);
    crashed.reset();
    CHECK(file_size(journal) == journal_bytes);

    // And the stream keeps working as its twin does.
    crashed = open_stream(crashed_dir);
    both([](Stream& s) { append_range(s, 600, 650); });
    both([](Stream& s) { xdel(s, {{6100, 0}}); });
    both([](Stream& s) { trim_exact(s, TrimSpec::Strategy::kMaxLen, 60, {}); });
    CHECK(describe(*crashed) == describe(*twin));
    REQUIRE(crashed->sync().is_ok());
    crashed.reset();
    crashed = open_stream(crashed_dir);
    CHECK(describe(*crashed) == describe(*twin));
  }

  TEST_CASE("a trim of everything whose state record was lost keeps what the log still has") {
    TempDir dir, saved;
    auto s = open_stream(dir.path());
    append_range(*s, 1, 301);
    xdel(*s, {{30, 0}});
    const StreamId last = s->last_id();
    uint64_t survivors = 0;
    s = crash_during(std::move(s), dir.path(), saved, [&](Stream& st) {
      trim_exact(st, TrimSpec::Strategy::kMaxLen, 0, {});
      // The active segment takes the new entry, so it outlives the trim with the old entries
      // it held; the sealed ones go.
      append(st, StreamId{5000, 0});
      REQUIRE(st.sync().is_ok());
      survivors = st.log().segment_info(0).records;
    });
    // Reopened as XTRIM MINID to the first record the log still has.
    REQUIRE(survivors > 1);
    CHECK(s->length() == survivors);
    CHECK(s->first_id() == s->log().first_key());
    CHECK(s->first_id() < last);
    CHECK(s->last_id() == StreamId{5000, 0});
    CHECK(s->last_entry_id() == StreamId{5000, 0});
    CHECK(s->entries_added() == 301);
    CHECK(s->deleted_count() == 0);
  }

  TEST_CASE("retention whose state record was lost reopens as it was before the crash") {
    TempDir dir, saved;
    auto s = open_stream(dir.path());
    append_range(*s, 1, 401);
    xdel(*s, {{20, 0}, {3000, 0}});
    std::string state;
    s = crash_during(std::move(s), dir.path(), saved, [&](Stream& st) {
      REQUIRE(*st.drop_oldest_segments(3) > 0);
      state = describe(st);
    });
    // Retention moves the start to the first entry of the oldest kept segment, so the repair
    // restores exactly what it left.
    CHECK(describe(*s) == state);
    s.reset();
    s = open_stream(dir.path());
    CHECK(describe(*s) == state);
  }

  TEST_CASE("a stream whose start is legitimately behind its log is not repaired") {
    TempDir dir;
    auto s = open_stream(dir.path());
    append_range(*s, 1, 201);
    // Trim everything: the start moves past the last entry; later entries start further on.
    trim_exact(*s, TrimSpec::Strategy::kMaxLen, 0, {});
    append_range(*s, 300, 320);
    REQUIRE(s->sync().is_ok());
    const std::string state = describe(*s);
    const uint64_t journal_bytes = file_size(dir.sub("control.journal"));
    s.reset();
    s = open_stream(dir.path());
    CHECK(describe(*s) == state);
    CHECK(s->start() < s->log().first_key());
    s.reset();
    CHECK(file_size(dir.sub("control.journal")) == journal_bytes);
  }

  TEST_CASE("pending entries lost with the trim behave as after XTRIM") {
    TempDir dir, saved;
    const std::string crashed_dir = dir.sub("crashed");
    auto s = open_stream(crashed_dir);
    auto twin = open_stream(dir.sub("twin"));
    append_range(*s, 1, 401);
    append_range(*twin, 1, 401);
    {
      wire::Status error;
      auto store = group_store(*s, &error);
      REQUIRE(store.has_value());
      auto g = std::make_unique<ConsumerGroup>("g");
      g->entries_read = 0;  // XGROUP CREATE g 0
      ConsumerGroup* group = g.get();
      s->groups.emplace("g", std::move(g));
      REQUIRE(store->group_state(*group, true).is_ok());
      bool created = false;
      Consumer* c = group->ensure_consumer("alice", 1, &created);
      std::vector<StreamId> ids{{10, 0}, {20, 0}, {3990, 0}};
      for (StreamId id : ids) {
        group->pel.assign(id, c, 1, 1);
        group->advance_cursor(*s, id);
      }
      REQUIRE(store->deliver(*group, *c, 1, ids, {}, true).is_ok());
    }
    s = crash_during(std::move(s), crashed_dir, saved,
                     [](Stream& st) { trim_exact(st, TrimSpec::Strategy::kMaxLen, 100, {}); });
    trim_exact(*twin, TrimSpec::Strategy::kMinId, 0, s->log().first_key());
    REQUIRE(s->groups.empty());
    uint64_t truncated = 0;
    REQUIRE(load_stream_groups(*s, &truncated).is_ok());
    REQUIRE(s->groups.count("g") == 1);
    ConsumerGroup& group = *s->groups.find("g")->second;
    // The PEL keeps the vanished entries (XCLAIM / XAUTOCLAIM meet them as deleted).
    CHECK(group.pel.entries().size() == 3);
    CHECK_FALSE(s->contains(StreamId{10, 0}));
    CHECK_FALSE(s->contains(StreamId{20, 0}));
    CHECK(s->contains(StreamId{3990, 0}));
    CHECK(group_lag(*s, group) == group_lag(*twin, group));
    // A group behind the first entry: its lag is estimated from entries-added and the length.
    group.last_delivered_id = StreamId{20, 0};
    group.entries_read = kEntriesReadUnknown;
    CHECK(group_lag(*s, group) == std::optional<int64_t>(static_cast<int64_t>(s->length())));
    CHECK(group_lag(*s, group) == group_lag(*twin, group));
  }
}

}  // namespace
}  // namespace sluice::stream
