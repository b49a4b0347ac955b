// A script's and a transaction's writes reach the KV journal as one unit: a crash that cuts the
// journal anywhere inside them brings back none of them, the writes before them intact.
#include <doctest/doctest.h>

#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

// Syncs the journal, then cuts `bytes` off its end (a crash in the middle of the last write).
void crash_cutting(KvFixture& f, uint64_t bytes) {
  f.sync_batch();
  const std::string journal = f.dir() + "/kv/kv.journal";
  const uint64_t size = storage::testing::file_size(journal);
  REQUIRE(size > bytes);
  storage::testing::truncate_to(journal, size - bytes);
}

}  // namespace

TEST_SUITE("kv.atomic_batches") {
  TEST_CASE("an EVAL cut by a crash comes back with none of its writes") {
    KvFixture f;
    f.run({"SET", "before", "1"});
    CHECK(f.run({"EVAL",
                 "redis.call('set', 'a', '1') redis.call('hset', 'h', 'f', 'v') "
                 "return redis.call('incr', 'before')",
                 "0"}) == ":2\r\n");
    crash_cutting(f, 1);
    f.reopen();
    CHECK(f.run({"GET", "before"}) == "$1\r\n1\r\n");
    CHECK(f.run({"EXISTS", "a", "h"}) == ":0\r\n");
  }

  TEST_CASE("an EVAL whose journal write is whole comes back whole") {
    KvFixture f;
    f.run({"EVAL", "redis.call('set', 'a', '1') redis.call('set', 'b', '2') return 1", "0"});
    f.sync_batch();
    f.reopen();
    CHECK(f.run({"MGET", "a", "b"}) == "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
  }

  TEST_CASE("a MULTI/EXEC cut by a crash comes back with none of its writes") {
    KvFixture f;
    f.run({"SET", "before", "1"});
    f.run({"MULTI"});
    f.run({"SET", "x", "1"});
    f.run({"INCR", "before"});
    f.run({"SET", "y", "2"});
    CHECK(f.run({"EXEC"}) == "*3\r\n+OK\r\n:2\r\n+OK\r\n");
    crash_cutting(f, 9);
    f.reopen();
    CHECK(f.run({"GET", "before"}) == "$1\r\n1\r\n");
    CHECK(f.run({"EXISTS", "x", "y"}) == ":0\r\n");
  }

  TEST_CASE("function libraries are journaled and compiled again after a restart") {
    KvFixture f;
    CHECK(f.run({"FUNCTION", "LOAD",
                 "#!lua name=l\nredis.register_function('f', function() return 7 end)"}) ==
          "$1\r\nl\r\n");
    f.sync_batch();
    f.reopen();
    CHECK(f.run({"FCALL", "f", "0"}) == ":7\r\n");
    f.run({"FUNCTION", "DELETE", "l"});
    f.reopen();
    CHECK(f.run({"FCALL", "f", "0"}) == "-ERR Function not found\r\n");
  }
}

}  // namespace sluice::kv::testing
