// XDEL at the head of a stream moves its start past the deleted entries: under the worker
// pattern (add, process, delete, a few in flight) the tombstones kept stay bounded by what is
// in flight, segments of deleted entries are unlinked, and everything a client can see is what
// a model of Redis's rules says, in memory and after reopening.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"
#include "tests/broker/stream/stream_test_util.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;
using testing::open_stream;

// What clients see of a stream, from the stream and from a model of its live entries.
struct Visible {
  uint64_t length;
  StreamId first;
  StreamId last;
  StreamId max_deleted;
  uint64_t added;
  std::vector<StreamId> ids;
  bool operator==(const Visible&) const = default;
};

// A summary for failure messages.
std::ostream& operator<<(std::ostream& os, const Visible& v) {
  std::string out = "len=" + std::to_string(v.length) + " first=" + v.first.to_string() +
                    " last=" + v.last.to_string() + " maxdel=" + v.max_deleted.to_string() +
                    " added=" + std::to_string(v.added) + " ids=" + std::to_string(v.ids.size());
  if (!v.ids.empty())
    out += " [" + v.ids.front().to_string() + ".." + v.ids.back().to_string() + "]";
  return os << out;
}

Visible seen(const Stream& s) {
  Visible v{s.length(), s.first_id(), s.last_id(), s.max_deleted_id(), s.entries_added(), {}};
  REQUIRE(s.range(StreamId::min(), StreamId::max(), false, 0, [&](StreamId id, std::string_view) {
             v.ids.push_back(id);
             return true;
           }).is_ok());
  return v;
}

struct Model {
  std::map<uint64_t, StreamId> live;  // by add order
  StreamId last;
  StreamId max_deleted;
  uint64_t added = 0;
  Visible visible() const {
    Visible v{live.size(), live.empty() ? StreamId{} : live.begin()->second,
              last,        max_deleted,
              added,       {}};
    for (const auto& [n, id] : live) v.ids.push_back(id);
    return v;
  }
};

TEST_SUITE("stream.head_tombstones") {
  TEST_CASE("the worker pattern keeps tombstones bounded and unlinks deleted segments") {
    TempDir dir;
    auto s = open_stream(dir.path());
    Model model;
    std::mt19937_64 rng(20261125);
    std::deque<std::pair<uint64_t, StreamId>> in_flight;  // added, not yet deleted
    uint64_t max_tombstones = 0;
    size_t max_segments = 0;
    for (uint64_t n = 0; n < 6000; ++n) {
      const StreamId id{1000 + n, 0};
      const std::string value(40, static_cast<char>('a' + n % 26));
      std::string_view fields[] = {"v", value};
      REQUIRE(s->append(id, fields).is_ok());
      model.live[n] = id;
      model.last = id;
      ++model.added;
      in_flight.emplace_back(n, id);
      // Up to 20 entries in flight; finished ones are deleted a little out of order.
      while (in_flight.size() > 20 || (n == 5999 && !in_flight.empty())) {
        const size_t pick = rng() % std::min<size_t>(in_flight.size(), 4);
        const auto [k, victim] = in_flight[pick];
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(pick));
        const StreamId ids[] = {victim};
        auto removed = s->remove(ids);
        REQUIRE(removed.is_ok());
        CHECK(*removed == 1);
        model.live.erase(k);
        model.max_deleted = std::max(model.max_deleted, victim);
      }
      // Tombstones are kept only for deletions after the first live entry (IDs are consecutive
      // here: [head, id] holds id - head + 1 entries, the live ones and the deleted ones).
      const uint64_t after_head =
          model.live.empty() ? 0 : id.ms - model.live.begin()->second.ms + 1 - model.live.size();
      CHECK(s->deleted_count() == after_head);
      max_tombstones = std::max(max_tombstones, s->deleted_count());
      // A background sync a second (everysec) unlinks the segments behind the start.
      if (n % 200 == 0) REQUIRE(s->sync().is_ok());
      max_segments = std::max(max_segments, s->log().segment_count());
      if (n % 500 == 0) CHECK(seen(*s) == model.visible());
    }
    REQUIRE(s->sync().is_ok());
    CHECK(max_tombstones < 100);
    CHECK(s->length() == 0);
    CHECK(s->deleted_count() == 0);
    // Segments of deleted entries went as the head moved: never more than a few at once.
    CHECK(max_segments < 15);
    CHECK(s->log().segment_count() <= 1);
    const Visible before = seen(*s);
    CHECK(before == model.visible());
    CHECK(before.last == StreamId{6999, 0});
    CHECK(before.max_deleted == StreamId{6999, 0});
    CHECK(before.added == 6000);

    s.reset();
    s = open_stream(dir.path());
    CHECK(seen(*s) == before);
    // IDs keep growing after everything was deleted.
    auto next = s->next_id(IdRequest{}, 5);
    REQUIRE(next.is_ok());
    CHECK(*next > StreamId{6999, 0});
  }

  TEST_CASE("deleting inside the stream keeps tombstones; deleting the head then drops them") {
    TempDir dir;
    auto s = open_stream(dir.path());
    for (uint64_t n = 1; n <= 300; ++n) {
      std::string_view fields[] = {"v", "x"};
      REQUIRE(s->append(StreamId{n, 0}, fields).is_ok());
    }
    std::vector<StreamId> middle;
    for (uint64_t n = 2; n <= 250; ++n) middle.push_back(StreamId{n, 0});
    REQUIRE(s->remove(middle).is_ok());
    CHECK(s->deleted_count() == middle.size());  // the first entry still holds the head
    CHECK(s->first_id() == StreamId{1, 0});
    const StreamId head[] = {StreamId{1, 0}};
    REQUIRE(s->remove(head).is_ok());
    CHECK(s->deleted_count() == 0);
    CHECK(s->first_id() == StreamId{251, 0});
    CHECK(s->length() == 50);
    CHECK(s->max_deleted_id() == StreamId{250, 0});
    const Visible before = seen(*s);
    REQUIRE(s->sync().is_ok());
    s.reset();
    s = open_stream(dir.path());
    CHECK(seen(*s) == before);
    CHECK(s->deleted_count() == 0);
  }
}

}  // namespace
}  // namespace sluice::stream
