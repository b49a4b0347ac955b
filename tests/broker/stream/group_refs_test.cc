// Consumer-group references to entries (Redis 8.2's KEEPREF / DELREF / ACKED): which entries a
// group still needs, where an ACKED trim stops, and that DELREF trims journal the PEL changes so
// the group state read back from disk matches.
#include "broker/stream/group_refs.h"

#include <doctest/doctest.h>

#include <memory>
#include <string_view>
#include <vector>

#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"
#include "tests/broker/stream/stream_test_util.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;
using testing::open_stream;

void add(Stream& s, uint64_t ms) {
  std::vector<std::string_view> fields{"f", "v"};
  REQUIRE(s.append({ms, 0}, fields).is_ok());
}

// A group with cursor `last` whose consumer "c" has `pending` in its PEL.
ConsumerGroup& add_group(Stream& s, const std::string& name, StreamId last,
                         const std::vector<StreamId>& pending) {
  auto g = std::make_unique<ConsumerGroup>(name);
  g->last_delivered_id = last;
  bool created = false;
  Consumer* c = g->ensure_consumer("c", 1, &created);
  for (StreamId id : pending) g->pel.assign(id, c, 1, 1);
  ConsumerGroup* raw = g.get();
  s.groups.emplace(name, std::move(g));
  wire::Status st;
  auto store = group_store(s, &st);
  REQUIRE(store);
  REQUIRE(store->group_state(*raw, true).is_ok());
  REQUIRE(store->deliver(*raw, *c, 1, pending, {}, false).is_ok());
  return *raw;
}

std::vector<StreamId> pel_ids(const ConsumerGroup& g) {
  std::vector<StreamId> out;
  for (const auto& [id, p] : g.pel.entries()) out.push_back(id);
  return out;
}

TEST_SUITE("stream.group_refs") {
  TEST_CASE("an entry released to no consumer (XNACK) replays from the journal and a snapshot") {
    TempDir dir;
    auto s = open_stream(dir.sub("s"));
    for (uint64_t ms = 1; ms <= 2; ++ms) add(*s, ms);
    ConsumerGroup& g = add_group(*s, "g", {2, 0}, {{1, 0}, {2, 0}});
    Consumer* c = g.find_consumer("c");
    g.pel.assign({1, 0}, nullptr, 0, 7);
    CHECK(c->pending.size() == 1);
    wire::Status st;
    auto store = group_store(*s, &st);
    REQUIRE(store);
    std::vector<StreamId> ids{{1, 0}};
    std::vector<uint64_t> counts{7};
    REQUIRE(store->nack(g, ids, counts).is_ok());
    REQUIRE(s->group_journal->flush().is_ok());
    auto check = [&](const GroupMap& groups) {
      const ConsumerGroup& r = *groups.at("g");
      const Pending* p = r.pel.find({1, 0});
      REQUIRE(p != nullptr);
      CHECK(p->consumer == nullptr);
      CHECK(p->delivery_count == 7);
      CHECK(p->delivery_time_ms == 0);
      CHECK(r.pel.find({2, 0})->consumer->name == "c");
    };
    GroupMap replayed;
    REQUIRE(GroupStore::open(s->dir(), &replayed).is_ok());
    check(replayed);
    REQUIRE(s->group_journal->write_snapshot(GroupStore::snapshot_frames(s->groups)).is_ok());
    GroupMap from_snapshot;
    REQUIRE(GroupStore::open(s->dir(), &from_snapshot).is_ok());
    check(from_snapshot);
  }

  TEST_CASE("an entry is referenced while pending somewhere or not yet delivered to a group") {
    TempDir dir;
    auto s = open_stream(dir.sub("s"));
    for (uint64_t ms = 1; ms <= 4; ++ms) add(*s, ms);
    CHECK_FALSE(entry_referenced(*s, {1, 0}));
    CHECK_FALSE(first_referenced_id(*s).has_value());
    add_group(*s, "a", {3, 0}, {{2, 0}});
    add_group(*s, "b", {1, 0}, {});
    CHECK_FALSE(entry_referenced(*s, {1, 0}));
    CHECK(entry_referenced(*s, {2, 0}));  // pending in a
    CHECK(entry_referenced(*s, {3, 0}));  // not delivered to b
    CHECK(first_referenced_id(*s) == StreamId{1, 1});
  }

  TEST_CASE("removing references touches every group but the skipped one") {
    TempDir dir;
    auto s = open_stream(dir.sub("s"));
    ConsumerGroup& a = add_group(*s, "a", {5, 0}, {{1, 0}, {2, 0}});
    ConsumerGroup& b = add_group(*s, "b", {5, 0}, {{2, 0}, {3, 0}});
    std::vector<StreamId> ids{{2, 0}, {3, 0}};
    auto removed = remove_refs(*s, ids, &a);
    REQUIRE(removed.size() == 1);
    CHECK(removed[0].group == &b);
    CHECK(pel_ids(a) == std::vector<StreamId>{{1, 0}, {2, 0}});
    CHECK(pel_ids(b).empty());
    auto between = remove_refs_between(*s, {1, 0}, {2, 0});
    REQUIRE(between.size() == 1);
    CHECK(pel_ids(a) == std::vector<StreamId>{{2, 0}});
  }

  TEST_CASE("an ACKED trim stops at the first referenced entry, exact and approximate") {
    TempDir dir;
    auto s = open_stream(dir.sub("s"));  // 10 entries per node
    for (uint64_t ms = 1; ms <= 40; ++ms) add(*s, ms);
    add_group(*s, "g", {40, 0}, {{25, 0}});
    bool changed = false;
    TrimSpec exact;
    exact.strategy = TrimSpec::Strategy::kMaxLen;
    exact.maxlen = 0;
    auto removed = trim_with_refs(*s, exact, RefPolicy::kAcked, &changed);
    REQUIRE(removed.is_ok());
    CHECK(*removed == 24);
    CHECK(s->first_id() == StreamId{25, 0});
    CHECK_FALSE(changed);
    s->groups["g"]->pel.remove({25, 0});
    TrimSpec approx;
    approx.strategy = TrimSpec::Strategy::kMinId;
    approx.approx = true;
    approx.minid = {41, 0};                       // would drop every node but for the cap
    s->groups["g"]->last_delivered_id = {33, 0};  // 34 on is undelivered: node 31-40 stays
    removed = trim_with_refs(*s, approx, RefPolicy::kAcked, &changed);
    REQUIRE(removed.is_ok());
    CHECK(*removed == 6);
    CHECK(s->first_id() == StreamId{31, 0});
  }

  TEST_CASE("a DELREF trim drops the trimmed entries' references, durably") {
    TempDir dir;
    const std::string path = dir.sub("s");
    {
      auto s = open_stream(path);
      for (uint64_t ms = 1; ms <= 6; ++ms) add(*s, ms);
      add_group(*s, "g", {6, 0}, {{2, 0}, {5, 0}});
      TrimSpec spec;
      spec.strategy = TrimSpec::Strategy::kMinId;
      spec.minid = {4, 0};
      bool changed = false;
      auto removed = trim_with_refs(*s, spec, RefPolicy::kDelRef, &changed);
      REQUIRE(removed.is_ok());
      CHECK(*removed == 3);
      CHECK(changed);
      CHECK(pel_ids(*s->groups["g"]) == std::vector<StreamId>{{5, 0}});
      REQUIRE(s->flush().is_ok());
      REQUIRE(s->sync().is_ok());
    }
    auto s = open_stream(path);
    REQUIRE(load_stream_groups(*s, nullptr).is_ok());
    REQUIRE(s->groups.count("g") == 1);
    CHECK(pel_ids(*s->groups["g"]) == std::vector<StreamId>{{5, 0}});
    CHECK(s->first_id() == StreamId{4, 0});
  }
}

}  // namespace
}  // namespace sluice::stream
