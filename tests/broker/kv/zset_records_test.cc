// Sorted sets through the real dispatcher and the KV journal: every effect replays to the same
// members, scores (bit for bit) and encodings after a restart, from the journal, from a snapshot
// written in chunks, and from both.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "broker/kv/kv_store.h"
#include "broker/kv/zset_object.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv {
namespace {

using testing::KvFixture;

ZSetObject* zset_at(KvFixture& f, std::string_view key, int db = 0) {
  core::Object* obj = f.broker().db(db).find_raw(key);
  if (!obj || obj->type() != core::ObjectType::kZSet) return nullptr;
  return static_cast<ZSetObject*>(obj);
}

// The members and the exact bits of their scores, in order.
std::string dump(const ZSetObject* z) {
  if (!z) return "<none>";
  std::string out(z->encoding());
  z->for_each([&](const ZMember& m) {
    uint64_t bits;
    std::memcpy(&bits, &m.score, sizeof(bits));
    out += " " + std::string(m.view()) + "=" + std::to_string(bits);
  });
  return out;
}

}  // namespace

TEST_SUITE("kv.zset") {
  TEST_CASE("every sorted set effect replays to the same members, scores and encodings") {
    KvFixture f;
    f.run({"ZADD", "z", "1", "a", "2", "b", "3", "c", "0.1", "d", "-0", "e"});
    f.run({"ZINCRBY", "z", "0.2", "d"});
    f.run({"ZADD", "z", "INCR", "5", "a"});
    f.run({"ZADD", "z", "GT", "CH", "10", "b", "0", "c"});
    f.run({"ZREM", "z", "c", "nope"});
    f.run({"ZADD", "gone", "1", "x"});
    f.run({"ZPOPMIN", "gone"});
    f.run({"ZADD", "p", "1", "a", "2", "b", "3", "c", "4", "d"});
    f.run({"ZPOPMAX", "p", "2"});
    f.run({"ZMPOP", "1", "p", "MIN"});
    f.run({"CONFIG", "SET", "zset-max-listpack-entries", "0"});
    f.run({"ZADD", "sk", "-0", "neg", "inf", "top", "-inf", "bottom"});
    f.run({"CONFIG", "SET", "zset-max-listpack-entries", "128"});
    f.run({"ZADD", "r", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"});
    f.run({"ZREMRANGEBYSCORE", "r", "(1", "2"});
    f.run({"ZREMRANGEBYRANK", "r", "-1", "-1"});
    f.run({"ZADD", "lex", "0", "a", "0", "b", "0", "c"});
    f.run({"ZREMRANGEBYLEX", "lex", "[b", "+"});
    f.run({"ZUNIONSTORE", "u", "2", "z", "r", "WEIGHTS", "2", "3"});
    f.run({"ZRANGESTORE", "rs", "z", "0", "1"});
    f.run({"SET", "str", "x"});
    f.run({"ZINTERSTORE", "str", "1", "z"});
    f.run({"ZADD", "m", "7", "seven"});
    f.run({"RENAME", "m", "m2"});
    f.run({"COPY", "sk", "skcopy"});
    f.run({"MOVE", "skcopy", "2"});
    f.run({"EXPIRE", "u", "1000"});

    const char* keys[] = {"z", "gone", "p", "sk", "r", "lex", "u", "rs", "str", "m", "m2"};
    std::string before[std::size(keys)];
    for (size_t i = 0; i < std::size(keys); ++i) before[i] = dump(zset_at(f, keys[i]));
    std::string moved = dump(zset_at(f, "skcopy", 2));
    CHECK(before[1] == "<none>");
    CHECK(before[3].rfind("skiplist", 0) == 0);
    const ZSetObject* sk = zset_at(f, "sk");
    REQUIRE(sk != nullptr);
    CHECK(std::signbit(sk->find("neg")->score));
    CHECK(!std::signbit(zset_at(f, "z")->find("e")->score));  // a listpack has no -0

    SUBCASE("from the journal") {}
    SUBCASE("from a snapshot written in chunks, then more journal") {
      f.broker().kv().set_snapshot_threshold(1);
      CHECK(f.broker().kv().write_snapshot().is_ok());
      CHECK(f.broker().kv().snapshots_written() >= 1);
    }
    f.reopen();
    for (size_t i = 0; i < std::size(keys); ++i) {
      CAPTURE(keys[i]);
      CHECK(dump(zset_at(f, keys[i])) == before[i]);
    }
    CHECK(dump(zset_at(f, "skcopy", 2)) == moved);
    core::Object* u = f.broker().db(0).find_raw("u");
    REQUIRE(u != nullptr);
    CHECK(u->expire_at_ms > 0);
  }

  TEST_CASE("a large set is snapshotted in chunks and comes back whole, with later journal") {
    KvFixture f;
    f.run({"CONFIG", "SET", "zset-max-listpack-entries", "1000000"});
    for (int i = 0; i < 5000; ++i) {
      std::string member = "member:" + std::to_string(i);
      std::string score = std::to_string((i * 7919) % 5000) + ".25";
      f.run({"ZADD", "big", score, member});
    }
    f.broker().kv().set_snapshot_threshold(1);
    CHECK(f.broker().kv().write_snapshot().is_ok());
    f.run({"ZREM", "big", "member:1"});
    f.run({"ZADD", "big", "-1", "member:2"});
    std::string before = dump(zset_at(f, "big"));
    CHECK(before.rfind("listpack", 0) == 0);  // under the raised threshold
    f.reopen();
    CHECK(dump(zset_at(f, "big")) == before);
    CHECK(zset_at(f, "big")->size() == 4999);
  }
}

}  // namespace sluice::kv
