#include <doctest/doctest.h>

#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

TEST_SUITE("kv.transactions") {
  TEST_CASE("EXEC runs the queued commands and replies with each reply in an array") {
    KvFixture f;
    CHECK(f.run({"MULTI"}) == "+OK\r\n");
    CHECK(f.run({"SET", "k", "v"}) == "+QUEUED\r\n");
    CHECK(f.run({"INCR", "k"}) == "+QUEUED\r\n");
    CHECK(f.run({"EXEC"}) == "*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n");
  }

  TEST_CASE("a rejected queued command aborts EXEC with EXECABORT") {
    KvFixture f;
    f.run({"MULTI"});
    CHECK(f.run({"SET", "k"}) == "-ERR wrong number of arguments for 'set' command\r\n");
    CHECK(f.run({"EXEC"}) == "-EXECABORT Transaction discarded because of previous errors.\r\n");
    CHECK(f.run({"GET", "k"}) == "$-1\r\n");
  }

  TEST_CASE("a watched key that expires makes EXEC return a null array") {
    KvFixture f;
    f.run({"SET", "k", "v", "PX", "100000"});
    CHECK(f.run({"WATCH", "k"}) == "+OK\r\n");
    auto& db = f.broker().db(0);
    db.set_expire("k", db.find_raw("k"), 1);  // its TTL has now passed
    f.run({"MULTI"});
    f.run({"PING"});
    CHECK(f.run({"EXEC"}) == "*-1\r\n");
  }

  TEST_CASE("a watched key touched by FLUSHALL makes EXEC fail, an untouched one does not") {
    KvFixture f;
    f.run({"WATCH", "k"});
    f.run({"MULTI"});
    f.run({"SET", "k", "1"});
    CHECK(f.run({"EXEC"}) == "*1\r\n+OK\r\n");
    f.run({"WATCH", "k"});
    f.run({"FLUSHALL"});
    f.run({"MULTI"});
    f.run({"SET", "k", "2"});
    CHECK(f.run({"EXEC"}) == "*-1\r\n");
  }
}

}  // namespace
}  // namespace sluice::kv::testing
