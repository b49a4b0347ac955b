#include "broker/kv/kv_store.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "broker/core/broker.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

TEST_SUITE("kv.store") {
  TEST_CASE("strings, hashes and TTLs come back after a restart") {
    KvFixture f;
    CHECK(f.run({"SET", "s", "v", "EX", "1000"}) == "+OK\r\n");
    CHECK(f.run({"HSET", "h", "a", "1", "b", "2"}) == ":2\r\n");
    CHECK(f.run({"HDEL", "h", "a"}) == ":1\r\n");
    CHECK(f.run({"INCRBY", "n", "41"}) == ":41\r\n");
    CHECK(f.run({"INCR", "n"}) == ":42\r\n");
    CHECK(f.run({"APPEND", "ap", "ab"}) == ":2\r\n");
    CHECK(f.run({"SETRANGE", "ap", "4", "z"}) == ":5\r\n");
    const int64_t expire_at = f.broker().db(0).find_raw("s")->expire_at_ms;
    f.reopen();
    CHECK(f.run({"GET", "s"}) == "$1\r\nv\r\n");
    // The TTL is stored as an absolute time: the same instant after the restart.
    CHECK(f.broker().db(0).find_raw("s")->expire_at_ms == expire_at);
    CHECK(f.run({"HGETALL", "h"}) == "*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    CHECK(f.run({"GET", "n"}) == "$2\r\n42\r\n");
    CHECK(f.run({"GET", "ap"}) == std::string("$5\r\nab\0\0z\r\n", 11));
    CHECK(f.run({"OBJECT", "ENCODING", "ap"}) == "$3\r\nraw\r\n");
  }

  TEST_CASE("keys that expired while the server was down are dropped, and the drop is journaled") {
    KvFixture f;
    f.run({"HSET", "h", "old", "1"});
    f.run({"SET", "s", "v"});
    // Expire them in the past as seen by the next start, without going through the cycle.
    auto& db = f.broker().db(0);
    db.set_expire("h", db.find_raw("h"), 1);
    f.broker().kv().record_expire(0, "h", 1);
    f.broker().flush_storage();
    f.reopen();
    CHECK(f.run({"EXISTS", "h"}) == ":0\r\n");
    CHECK(f.run({"HSET", "h", "new", "2"}) == ":1\r\n");
    f.reopen();
    CHECK(f.run({"HGETALL", "h"}) == "*2\r\n$3\r\nnew\r\n$1\r\n2\r\n");
    CHECK(f.run({"GET", "s"}) == "$1\r\nv\r\n");
  }

  TEST_CASE("a snapshot replaces the journal and recovery combines both") {
    KvFixture f;
    f.broker().kv().set_snapshot_threshold(512);
    for (int i = 0; i < 50; ++i) {
      std::string k = "k" + std::to_string(i);
      f.run({"SET", k, "value-" + std::to_string(i)});
    }
    // The snapshot is written by a forked child; waiting for it completes it.
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() >= 1);
    CHECK(std::filesystem::exists(f.dir() + "/kv/kv.snap"));
    f.run({"DEL", "k0"});
    f.run({"HSET", "h", "f", "v"});
    f.run({"PEXPIRE", "h", "100000"});
    f.reopen();
    CHECK(f.broker().db(0).size() == 50);
    CHECK(f.run({"EXISTS", "k0"}) == ":0\r\n");
    CHECK(f.run({"GET", "k49"}) == "$8\r\nvalue-49\r\n");
    CHECK(f.broker().db(0).find_raw("h")->expire_at_ms > 0);
  }

  TEST_CASE("a background snapshot sees the keys as they were when it began, writes go on") {
    KvFixture f;
    for (int i = 0; i < 200; ++i) f.run({"SET", "k" + std::to_string(i), std::string(100, 'a')});
    REQUIRE(f.broker().kv().start_background_snapshot());
    // While the child writes, the parent changes what it is writing.
    f.run({"SET", "k1", "changed"});
    f.run({"DEL", "k2"});
    f.run({"HSET", "h", "f", "v"});
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() == 1);
    f.run({"SET", "k3", "after"});
    f.sync_batch();
    f.reopen();
    CHECK(f.broker().db(0).size() == 200);
    CHECK(f.run({"GET", "k1"}) == "$7\r\nchanged\r\n");
    CHECK(f.run({"EXISTS", "k2"}) == ":0\r\n");
    CHECK(f.run({"GET", "k3"}) == "$5\r\nafter\r\n");
    CHECK(f.run({"HGET", "h", "f"}) == "$1\r\nv\r\n");
  }

  TEST_CASE("a background snapshot that fails loses nothing, and the next one covers it all") {
    KvFixture f;
    for (int i = 0; i < 20; ++i) f.run({"SET", "k" + std::to_string(i), "v"});
    // A directory where the child wants its temporary file: open() fails in the child.
    const std::string tmp = f.dir() + "/kv/kv.snap.tmp";
    std::filesystem::create_directory(tmp);
    REQUIRE(f.broker().kv().start_background_snapshot());
    f.run({"SET", "late", "1"});
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() == 0);
    f.reopen();
    CHECK(f.broker().db(0).size() == 21);
    std::filesystem::remove(tmp);
    REQUIRE(f.broker().kv().start_background_snapshot());
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() == 1);
    f.reopen();
    CHECK(f.broker().db(0).size() == 21);
  }

  TEST_CASE("closing while a background snapshot runs stops it; reopening loses nothing") {
    KvFixture f;
    for (int i = 0; i < 20; ++i) f.run({"SET", "k" + std::to_string(i), "v"});
    REQUIRE(f.broker().kv().start_background_snapshot());
    f.run({"SET", "late", "1"});
    f.reopen();  // close() kills the child
    CHECK_FALSE(f.broker().kv().snapshot_running());
    CHECK(f.broker().db(0).size() == 21);
  }

  TEST_CASE("flush, swapdb, rename, move and copy replay to the same keyspace") {
    KvFixture f;
    f.run({"SET", "a", "1"});
    f.run({"SET", "b", "2", "EX", "500"});
    f.run({"HSET", "h", "f", "v"});
    f.run({"RENAME", "a", "a2"});
    f.run({"COPY", "b", "b2"});
    f.run({"MOVE", "h", "5"});
    f.run({"SWAPDB", "0", "2"});
    f.run({"SELECT", "2"});
    f.run({"SET", "gone", "x"});
    f.run({"FLUSHDB"});
    f.run({"SET", "after", "y"});
    f.reopen();
    CHECK(f.broker().db(0).size() == 0);
    CHECK(f.broker().db(2).size() == 1);
    CHECK(f.broker().db(2).find_raw("after") != nullptr);
    CHECK(f.broker().db(5).find_raw("h") != nullptr);
    f.run({"SELECT", "2"});
    f.run({"FLUSHALL"});
    f.run({"SET", "z", "1"});
    f.reopen();
    CHECK(f.broker().db(5).size() == 0);
    CHECK(f.broker().db(2).size() == 1);
    CHECK(f.broker().db(2).find_raw("z") != nullptr);
  }

  TEST_CASE("a rename over a stream key and back keeps both stores consistent") {
    KvFixture f;
    CHECK(f.run({"XADD", "x", "1-1", "f", "v"}) == "$3\r\n1-1\r\n");
    f.run({"SET", "s", "v"});
    CHECK(f.run({"RENAME", "s", "x"}) == "+OK\r\n");
    CHECK(f.run({"TYPE", "x"}) == "+string\r\n");
    f.run({"XADD", "y", "2-1", "f", "v"});
    CHECK(f.run({"RENAME", "y", "x"}) == "+OK\r\n");
    f.reopen();
    CHECK(f.run({"TYPE", "x"}) == "+stream\r\n");
    CHECK(f.run({"EXISTS", "s", "y"}) == ":0\r\n");
  }
}

}  // namespace
}  // namespace sluice::kv::testing
