// Sets through the KV journal and snapshots: every effect replays to the same members, SPOP's
// random choices included, and encodings come back as Redis would load them.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "broker/core/broker.h"
#include "broker/kv/kv_store.h"
#include "broker/kv/set_object.h"
#include "broker/kv/set_records.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

struct SetState {
  std::set<std::string> members;
  std::string encoding;
  int64_t expire_at_ms = 0;
  bool operator==(const SetState&) const = default;
};

// The set at (db, key) as stored, or an empty state with encoding "none".
SetState state_of(KvFixture& f, const std::string& key, int db = 0) {
  SetState st{{}, "none", 0};
  core::Object* obj = f.broker().db(db).find_raw(key);
  if (!obj) return st;
  REQUIRE(obj->type() == core::ObjectType::kSet);
  const auto& s = static_cast<const SetObject&>(*obj);
  s.for_each([&](std::string_view m) { st.members.emplace(m); });
  st.encoding = std::string(s.encoding());
  st.expire_at_ms = s.expire_at_ms;
  return st;
}

std::vector<std::string> numbers(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

void sadd(KvFixture& f, const std::string& key, const std::vector<std::string>& members) {
  std::vector<std::string_view> argv = {"SADD", key};
  for (const auto& m : members) argv.push_back(m);
  f.run_argv(argv);
}

// Records emitted by a snapshot, counted by type, with the members each carries.
class CountingSink final : public KvRecordSink {
 public:
  void emit(uint8_t type) override {
    types.push_back(type);
    sizes.push_back(fbb_.GetSize());
    fbb_.Clear();
  }
  std::vector<uint8_t> types;
  std::vector<size_t> sizes;
};

TEST_SUITE("kv.set_store") {
  TEST_CASE("every set write comes back after a restart, SPOP's random choices included") {
    KvFixture f;
    sadd(f, "ints", numbers(0, 40));
    sadd(f, "words", {"a", "b", "c", "d", "e", "f", "g", "h"});
    CHECK(f.run({"SREM", "ints", "3", "x", "5"}) == ":2\r\n");
    CHECK(f.run({"SMOVE", "ints", "moved", "7"}) == ":1\r\n");
    CHECK(f.run({"SMOVE", "words", "moved", "a"}) == ":1\r\n");
    f.run({"SPOP", "ints"});
    f.run({"SPOP", "ints", "3"});   // a few: removed one by one
    f.run({"SPOP", "words", "6"});  // most: the rest is rebuilt
    sadd(f, "popall", {"1", "2"});
    f.run({"SPOP", "popall", "5"});
    sadd(f, "x", {"1", "2", "3", "q"});
    sadd(f, "y", {"2", "3", "4", "q"});
    f.run({"SET", "dst", "string value"});
    CHECK(f.run({"SINTERSTORE", "dst", "x", "y"}) == ":3\r\n");
    CHECK(f.run({"SUNIONSTORE", "u", "x", "y"}) == ":5\r\n");
    CHECK(f.run({"SDIFFSTORE", "d", "x", "y"}) == ":1\r\n");
    f.run({"SET", "gone", "v"});
    CHECK(f.run({"SDIFFSTORE", "gone", "x", "x"}) == ":0\r\n");
    CHECK(f.run({"EXPIRE", "u", "1000"}) == ":1\r\n");
    sadd(f, "ttl", numbers(0, 10));
    CHECK(f.run({"EXPIRE", "ttl", "1000"}) == ":1\r\n");
    f.run({"SPOP", "ttl", "9"});  // the rebuild keeps the TTL
    const std::vector<std::string> keys = {"ints", "words", "moved", "popall", "x",  "y",
                                           "dst",  "u",     "d",     "gone",   "ttl"};
    std::vector<SetState> before;
    for (const auto& k : keys) before.push_back(state_of(f, k));
    CHECK(before[3].encoding == "none");
    CHECK(before[9].encoding == "none");
    CHECK(before[7].expire_at_ms > 0);
    CHECK(before[10].expire_at_ms > 0);
    CHECK(before[10].members.size() == 1);
    f.reopen();
    for (size_t i = 0; i < keys.size(); ++i) {
      CAPTURE(keys[i]);
      CHECK(state_of(f, keys[i]) == before[i]);
    }
    CHECK(f.run({"TYPE", "dst"}) == "+set\r\n");
    CHECK(f.run({"EXISTS", "gone"}) == ":0\r\n");
  }

  TEST_CASE("a set that became a hash table replays as one from the journal, as Redis's AOF") {
    KvFixture f;
    sadd(f, "s", {"1", "2", "a"});
    f.run({"SREM", "s", "a"});
    CHECK(state_of(f, "s").encoding == "hashtable");
    f.reopen();
    CHECK(state_of(f, "s").encoding == "hashtable");
    CHECK(state_of(f, "s").members == std::set<std::string>{"1", "2"});
  }

  TEST_CASE("a snapshot is loaded as Redis loads an RDB file: all-integer small sets are intsets") {
    KvFixture f;
    sadd(f, "s", {"1", "2", "a"});
    f.run({"SREM", "s", "a"});
    sadd(f, "big", numbers(0, 600));
    f.run({"SREM", "big", "0"});
    REQUIRE(f.broker().kv().write_snapshot());
    f.reopen();
    CHECK(state_of(f, "s").encoding == "intset");
    CHECK(state_of(f, "s").members == std::set<std::string>{"1", "2"});
    // 599 integers are more than set-max-intset-entries: a hash table either way.
    CHECK(state_of(f, "big").encoding == "hashtable");
    CHECK(state_of(f, "big").members.size() == 599);
  }

  TEST_CASE("replay applies the set-max-intset-entries in force when the server starts") {
    KvFixture f;
    sadd(f, "s", numbers(0, 10));
    CHECK(state_of(f, "s").encoding == "intset");
    f.config().set_max_intset_entries = 5;
    f.reopen();
    CHECK(state_of(f, "s").encoding == "hashtable");
    CHECK(state_of(f, "s").members.size() == 10);
  }

  TEST_CASE("a big set is snapshotted in chunks of at most 1024 members") {
    SetObject s(false);
    for (int i = 0; i < 3000; ++i) s.add("member-" + std::to_string(i), kSetMaxIntsetEntries);
    CountingSink sink;
    kSetModule.snapshot(sink, 0, "big", s);
    CHECK(sink.types.size() == 3);
    SetObject ints;
    for (int i = 0; i < 100; ++i) ints.add_int(i, kSetMaxIntsetEntries);
    CountingSink small;
    kSetModule.snapshot(small, 0, "ints", ints);
    CHECK(small.types.size() == 1);
  }

  TEST_CASE("a snapshot of many chunks plus the journal after it restores every member") {
    KvFixture f;
    f.broker().kv().set_snapshot_threshold(4096);
    std::vector<std::string> words;
    for (int i = 0; i < 5000; ++i) words.push_back("w" + std::to_string(i));
    sadd(f, "big", words);
    f.run({"SREM", "big", "w1", "w2"});
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() >= 1);
    f.run({"SREM", "big", "w3"});
    sadd(f, "big", {"extra"});
    SetState before = state_of(f, "big");
    CHECK(before.members.size() == 4998);
    f.reopen();
    CHECK(state_of(f, "big") == before);
  }

  TEST_CASE("COPY, RENAME and MOVE of sets replay to the same keyspace") {
    KvFixture f;
    sadd(f, "a", {"1", "2", "3"});
    sadd(f, "h", {"x", "1"});
    f.run({"SREM", "h", "x"});
    CHECK(f.run({"COPY", "h", "h2"}) == ":1\r\n");
    CHECK(f.run({"RENAME", "a", "a2"}) == "+OK\r\n");
    CHECK(f.run({"MOVE", "a2", "3"}) == ":1\r\n");
    f.reopen();
    CHECK(state_of(f, "h2").encoding == "hashtable");
    CHECK(state_of(f, "h2").members == std::set<std::string>{"1"});
    CHECK(state_of(f, "a2", 3).members == std::set<std::string>{"1", "2", "3"});
    CHECK(state_of(f, "a2").encoding == "none");
  }
}

}  // namespace
}  // namespace sluice::kv::testing
