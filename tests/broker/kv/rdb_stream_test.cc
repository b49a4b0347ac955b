// Stream DUMP payloads: redis-server 7.0's payload decodes, streams with many nodes, deletions
// and consumer groups round-trip, and inconsistent payloads are refused. Also randomly damaged
// payloads of every type, which must never crash a parser (run under ASan by the asan preset).
#include "broker/kv/rdb_stream.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "broker/kv/kv_object.h"
#include "broker/kv/rdb_codec.h"
#include "tests/broker/kv/rdb_test_util.h"
#include "wire/rdb_format.h"

namespace sluice::kv {
namespace {

using testing::from_hex;

bool same(const RdbStream& a, const RdbStream& b) {
  if (a.entries.size() != b.entries.size() || a.groups.size() != b.groups.size()) return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    if (a.entries[i].id != b.entries[i].id || a.entries[i].fields != b.entries[i].fields) {
      return false;
    }
  }
  for (size_t i = 0; i < a.groups.size(); ++i) {
    const auto& x = a.groups[i];
    const auto& y = b.groups[i];
    if (x.name != y.name || x.last_delivered_id != y.last_delivered_id ||
        x.entries_read != y.entries_read || x.pel.size() != y.pel.size() ||
        x.consumers.size() != y.consumers.size()) {
      return false;
    }
    for (size_t k = 0; k < x.pel.size(); ++k) {
      if (x.pel[k].id != y.pel[k].id || x.pel[k].delivery_time_ms != y.pel[k].delivery_time_ms ||
          x.pel[k].delivery_count != y.pel[k].delivery_count) {
        return false;
      }
    }
    for (size_t k = 0; k < x.consumers.size(); ++k) {
      if (x.consumers[k].name != y.consumers[k].name ||
          x.consumers[k].seen_time_ms != y.consumers[k].seen_time_ms ||
          x.consumers[k].pending != y.consumers[k].pending) {
        return false;
      }
    }
  }
  return a.length == b.length && a.last_id == b.last_id && a.first_id == b.first_id &&
         a.max_deleted_id == b.max_deleted_id && a.entries_added == b.entries_added;
}

// 600 entries (several nodes) with the master's fields or others, IDs whose seq goes down when
// ms goes up, and one group with two consumers owning pending entries.
RdbStream sample_stream() {
  RdbStream s;
  for (uint64_t i = 0; i < 600; ++i) {
    RdbStream::Entry e;
    e.id = {1700000000000 + i / 4, (i / 4) % 2 == 0 ? 10 + i % 4 : i % 4};
    if (i % 7 == 3) {
      e.fields = {"other", std::to_string(i), "x", std::string(i % 50, 'y')};
    } else {
      e.fields = {"name", "user" + std::to_string(i), "n", std::to_string(i * 1000003)};
    }
    s.entries.push_back(e);
  }
  s.length = s.entries.size();
  s.first_id = s.entries.front().id;
  s.last_id = {1800000000000, 7};
  s.max_deleted_id = {1700000000000, 2};
  s.entries_added = 700;
  RdbStream::Group g;
  g.name = "workers";
  g.last_delivered_id = s.entries[9].id;
  g.entries_read = 10;
  for (size_t i = 0; i < 10; i += 2) {
    g.pel.push_back({s.entries[i].id, 1733000000000 + static_cast<int64_t>(i), i + 1});
  }
  g.consumers.push_back({"alice", 1733000000123, {s.entries[0].id, s.entries[4].id}});
  g.consumers.push_back(
      {"bob", 1733000000456, {s.entries[2].id, s.entries[6].id, s.entries[8].id}});
  g.consumers.push_back({"idle", 5, {}});
  s.groups.push_back(g);
  RdbStream::Group fresh;
  fresh.name = "new";
  fresh.last_delivered_id = s.last_id;
  s.groups.push_back(fresh);
  return s;
}

std::string error_of(std::string_view payload) {
  auto r = rdb_restore_stream(payload);
  return r.is_ok() ? "(no error)" : r.status().detail();
}

}  // namespace

TEST_SUITE("kv.rdb_stream") {
  TEST_CASE("redis-server 7.0's stream payload decodes") {
    // XADD st1 1-1 f v; DUMP st1 (redis-server 7.0.15).
    const std::string payload = from_hex(
        "130110000000000000000100000000000000011d1d0000000a0001010001010181660200010201000100"
        "018176020401ff0101010101000001000a00ff55ab626ac035db");
    REQUIRE(rdb_payload_is_stream(payload));
    auto s = rdb_restore_stream(payload);
    REQUIRE(s.is_ok());
    REQUIRE(s->entries.size() == 1);
    CHECK(s->entries[0].id == wire::StreamId{1, 1});
    CHECK(s->entries[0].fields == std::vector<std::string>{"f", "v"});
    CHECK(s->length == 1);
    CHECK(s->last_id == wire::StreamId{1, 1});
    CHECK(s->entries_added == 1);
    CHECK(s->groups.empty());
    // Sluice writes the same listpack; only compression may differ, so compare decoded.
    auto back = rdb_restore_stream(rdb_dump_stream(*s));
    REQUIRE(back.is_ok());
    CHECK(same(*back, *s));
  }

  TEST_CASE("streams with many nodes, deletions and groups round-trip") {
    const RdbStream s = sample_stream();
    const std::string payload = rdb_dump_stream(s);
    auto back = rdb_restore_stream(payload);
    REQUIRE_MESSAGE(back.is_ok(), (back.is_ok() ? "" : back.status().detail()));
    CHECK(same(*back, s));
    RdbStream empty;
    empty.last_id = {9, 9};
    empty.max_deleted_id = {9, 9};
    empty.entries_added = 3;
    auto empty_back = rdb_restore_stream(rdb_dump_stream(empty));
    REQUIRE(empty_back.is_ok());
    CHECK(same(*empty_back, empty));
    CHECK_FALSE(rdb_payload_is_stream(from_hex("0001760a009108ceb219388ace")));
  }

  TEST_CASE("randomly damaged payloads with a valid footer are refused or restore, never crash") {
    // Seeds of every type; each mutation changes, flips, inserts or cuts bytes of the body, then
    // reseals it so the parsers (not the CRC) have to catch the damage.
    std::vector<std::string> seeds;
    StringObject str(std::string(300, 'a') + "bcdefg" + std::string(100, 'a'));
    seeds.push_back(*rdb_dump(str));
    HashObject hash;
    for (int i = 0; i < 20; ++i) hash.set("f" + std::to_string(i), std::to_string(i * 977));
    seeds.push_back(*rdb_dump(hash));
    ListObject list;
    for (int i = 0; i < 300; ++i) {
      list.push(ListObject::End::kTail,
                i % 3 ? std::to_string(i * 77777) : std::string(static_cast<size_t>(i % 90), 'z'));
    }
    seeds.push_back(*rdb_dump(list));
    SetObject ints(true);
    SetObject members(false);
    for (int i = 0; i < 30; ++i) {
      ints.add_int(i * 100000, 512);
      members.add("m" + std::to_string(i), 512);
    }
    seeds.push_back(*rdb_dump(ints));
    seeds.push_back(*rdb_dump(members));
    ZSetObject small;
    ZSetObject big;
    for (int i = 0; i < 200; ++i) {
      if (i < 30) small.insert("m" + std::to_string(i), i / 7.0, ZSetLimits{});
      big.insert("m" + std::to_string(i), i / 7.0, ZSetLimits{});
    }
    seeds.push_back(*rdb_dump(small));
    seeds.push_back(*rdb_dump(big));
    RdbStream st = sample_stream();
    st.entries.resize(60);
    st.length = 60;
    seeds.push_back(rdb_dump_stream(st));

    std::mt19937_64 rng(20261205);
    size_t restored = 0;
    size_t refused = 0;
    for (int iter = 0; iter < 20000; ++iter) {
      const std::string& seed = seeds[rng() % seeds.size()];
      std::string body = seed.substr(0, seed.size() - 10);
      for (int m = 1 + static_cast<int>(rng() % 4); m > 0; --m) {
        const size_t at = rng() % body.size();
        switch (rng() % 4) {
          case 0:
            body[at] = static_cast<char>(rng());
            break;
          case 1:
            body[at] = static_cast<char>(body[at] ^ (1 << (rng() % 8)));
            break;
          case 2:
            body.resize(std::max<size_t>(1, at));
            break;
          default:
            body.insert(at, 1, static_cast<char>(rng()));
        }
      }
      wire::rdb::seal_payload(body);
      std::string error;
      if (rdb_payload_is_stream(body)) {
        auto r = rdb_restore_stream(body);
        if (!r.is_ok()) error = r.status().detail();
      } else {
        auto r = rdb_restore(body, {});
        if (!r.is_ok()) error = r.status().detail();
      }
      if (error.empty()) {
        ++restored;
      } else {
        REQUIRE(error == kRdbBadFormat);
        ++refused;
      }
    }
    CHECK(refused > 0);
    CHECK(restored > 0);
  }

  TEST_CASE("Redis 6's stream type (15) restores, without the 7.0 metadata") {
    RdbStream s;
    s.entries.push_back({{1, 1}, {"f", "v"}});
    s.entries.push_back({{2, 0}, {"g", "w"}});
    s.length = 2;
    s.last_id = {2, 0};
    s.first_id = {1, 1};
    s.entries_added = 2;
    std::string body = rdb_dump_stream(s);
    body.resize(body.size() - 10);
    // Type 15 has no first ID, max deleted ID or entries added: the five one-byte lengths
    // before the final group count (0) go.
    body[0] = 15;
    body.erase(body.size() - 6, 5);
    wire::rdb::seal_payload(body);
    REQUIRE(rdb_payload_is_stream(body));
    auto back = rdb_restore_stream(body);
    REQUIRE_MESSAGE(back.is_ok(), (back.is_ok() ? "" : back.status().detail()));
    CHECK(same(*back, s));
  }

  TEST_CASE("inconsistent stream payloads are refused") {
    SUBCASE("a pending entry nobody owns") {
      RdbStream s = sample_stream();
      s.groups[0].consumers[0].pending.pop_back();
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
    }
    SUBCASE("a consumer owning an ID its group does not have pending") {
      RdbStream s = sample_stream();
      s.groups[0].consumers[2].pending.push_back(s.entries[100].id);
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
    }
    SUBCASE("entries out of order, or past the last ID") {
      RdbStream s = sample_stream();
      std::swap(s.entries[200], s.entries[201]);
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
      s = sample_stream();
      s.last_id = {1, 0};
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
    }
    SUBCASE("a length that does not match the entries") {
      RdbStream s = sample_stream();
      s.length = 5;
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
    }
    SUBCASE("two groups of one name") {
      RdbStream s = sample_stream();
      s.groups[1].name = s.groups[0].name;
      CHECK(error_of(rdb_dump_stream(s)) == kRdbBadFormat);
    }
    SUBCASE("every truncation, and a bad checksum") {
      RdbStream s = sample_stream();
      s.entries.resize(20);
      s.length = 20;
      s.groups.pop_back();
      const std::string payload = rdb_dump_stream(s);
      const std::string body = payload.substr(0, payload.size() - 10);
      for (size_t len = 0; len < body.size(); ++len) {
        std::string cut = body.substr(0, len);
        wire::rdb::seal_payload(cut);
        CAPTURE(len);
        CHECK(error_of(cut) == kRdbBadFormat);
      }
      std::string bad = payload;
      bad[5] ^= 1;
      CHECK(error_of(bad) == kRdbBadPayload);
    }
  }
}

}  // namespace sluice::kv
