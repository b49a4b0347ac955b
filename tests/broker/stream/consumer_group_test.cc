// The in-memory consumer group: the two-level PEL stays consistent through deliveries, claims,
// acks and consumer deletion, and the Redis 7 entries-read / lag arithmetic over stream metadata.
#include "broker/stream/consumer_group.h"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;

// Every PEL entry is in its owner's set and every owned ID is in the PEL with that owner.
void check_consistent(ConsumerGroup& g) {
  size_t owned = 0;
  for (auto& [name, c] : g.consumers) {
    owned += c->pending.size();
    for (StreamId id : c->pending) {
      Pending* p = g.pel.find(id);
      REQUIRE(p != nullptr);
      CHECK(p->consumer == c.get());
    }
  }
  CHECK(owned == g.pel.size());
}

std::unique_ptr<Stream> open_stream(const TempDir& dir) {
  auto s = Stream::open(dir.sub("s"), StreamOptions{}, nullptr);
  REQUIRE(s.is_ok());
  return std::move(*s);
}

void add(Stream& s, StreamId id) {
  std::vector<std::string_view> fields{"f", "v"};
  REQUIRE(s.append(id, fields).is_ok());
}

TEST_SUITE("stream.groups") {
  TEST_CASE("an entry delivered to one consumer and claimed by another moves between their sets") {
    ConsumerGroup g("g");
    bool created = false;
    Consumer* a = g.ensure_consumer("a", 1, &created);
    CHECK(created);
    Consumer* b = g.ensure_consumer("b", 1, &created);
    g.pel.assign({1, 0}, a, 10, 1);
    g.pel.assign({2, 0}, a, 10, 1);
    g.pel.assign({1, 0}, b, 20, 2);
    check_consistent(g);
    CHECK(a->pending.size() == 1);
    CHECK(b->pending.count({1, 0}) == 1);
    CHECK(g.pel.find({1, 0})->delivery_count == 2);
    CHECK(g.pel.find({1, 0})->delivery_time_ms == 20);
  }

  TEST_CASE("acknowledging removes the entry from the group and from its owner") {
    ConsumerGroup g("g");
    bool created = false;
    Consumer* a = g.ensure_consumer("a", 1, &created);
    for (uint64_t i = 1; i <= 5; ++i) g.pel.assign({i, 0}, a, 0, 1);
    CHECK(g.pel.remove({3, 0}));
    CHECK_FALSE(g.pel.remove({3, 0}));
    CHECK(g.pel.size() == 4);
    CHECK(a->pending.count({3, 0}) == 0);
    check_consistent(g);
  }

  TEST_CASE("deleting a consumer drops its pending entries and reports how many") {
    ConsumerGroup g("g");
    bool created = false;
    Consumer* a = g.ensure_consumer("a", 1, &created);
    Consumer* b = g.ensure_consumer("b", 1, &created);
    g.pel.assign({1, 0}, a, 0, 1);
    g.pel.assign({2, 0}, b, 0, 1);
    g.pel.assign({3, 0}, a, 0, 1);
    CHECK(g.delete_consumer("a") == 2);
    CHECK(g.delete_consumer("a") == 0);
    CHECK(g.pel.size() == 1);
    CHECK(g.find_consumer("a") == nullptr);
    check_consistent(g);
  }

  TEST_CASE("ensure_consumer returns the existing consumer without changing it") {
    ConsumerGroup g("g");
    bool created = false;
    Consumer* a = g.ensure_consumer("a", 5, &created);
    Consumer* again = g.ensure_consumer("a", 9, &created);
    CHECK_FALSE(created);
    CHECK(a == again);
    CHECK(a->seen_time_ms == 5);
  }

  TEST_CASE("a PEL of a million entries is range-scanned from any point") {
    ConsumerGroup g("g");
    bool created = false;
    Consumer* a = g.ensure_consumer("a", 1, &created);
    for (uint64_t i = 0; i < 1000000; ++i) g.pel.assign({i, 0}, a, 0, 1);
    auto it = g.pel.lower_bound({999990, 0});
    int n = 0;
    for (; it != g.pel.end(); ++it) ++n;
    CHECK(n == 10);
    CHECK(a->pending.size() == 1000000);
  }

  TEST_CASE("the read counter counts deliveries while the stream has no tombstones") {
    TempDir dir;
    auto s = open_stream(dir);
    for (uint64_t i = 1; i <= 3; ++i) add(*s, {i, 0});
    ConsumerGroup g("g");
    g.entries_read = 0;
    g.advance_cursor(*s, {1, 0});
    g.advance_cursor(*s, {2, 0});
    CHECK(g.entries_read == 2);
    CHECK(group_lag(*s, g) == 1);
  }

  TEST_CASE("an unknown read counter is estimated from the stream's first and last IDs") {
    TempDir dir;
    auto s = open_stream(dir);
    for (uint64_t i = 1; i <= 3; ++i) add(*s, {i, 0});
    CHECK(estimate_entries_read(*s, {3, 0}) == 3);
    CHECK(estimate_entries_read(*s, {1, 0}) == 1);
    CHECK(estimate_entries_read(*s, {0, 5}) == 0);
    CHECK(estimate_entries_read(*s, {2, 0}) == kEntriesReadUnknown);
    CHECK(estimate_entries_read(*s, {9, 0}) == kEntriesReadUnknown);
    ConsumerGroup g("g");
    g.last_delivered_id = {2, 0};
    CHECK_FALSE(group_lag(*s, g).has_value());
    g.last_delivered_id = {3, 0};
    CHECK(group_lag(*s, g) == 0);
  }

  TEST_CASE("a tombstone after the group's cursor makes the lag unknown") {
    TempDir dir;
    auto s = open_stream(dir);
    for (uint64_t i = 1; i <= 4; ++i) add(*s, {i, 0});
    ConsumerGroup g("g");
    g.entries_read = 0;
    g.advance_cursor(*s, {1, 0});
    StreamId del[] = {{3, 0}};
    REQUIRE(s->remove(del).is_ok());
    CHECK(has_tombstones_from(*s, g.last_delivered_id));
    CHECK_FALSE(group_lag(*s, g).has_value());
    CHECK_FALSE(has_tombstones_from(*s, {4, 0}));
  }

  TEST_CASE("a never-used stream has lag 0 for every group") {
    TempDir dir;
    auto s = open_stream(dir);
    ConsumerGroup g("g");
    g.last_delivered_id = {5, 0};
    CHECK(group_lag(*s, g) == 0);
    CHECK(estimate_entries_read(*s, {5, 0}) == 0);
  }
}

}  // namespace
}  // namespace sluice::stream
