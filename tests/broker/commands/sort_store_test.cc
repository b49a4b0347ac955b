// SORT ... STORE writes its result as a list: the stored list holds exactly what SORT would have
// replied (GET's missing values as empty strings), replaces what was at the key, is journaled,
// and an empty result deletes the destination.
#include <doctest/doctest.h>

#include <string>

#include "tests/broker/kv/kv_test_util.h"

namespace sluice::commands {

TEST_SUITE("commands.sort") {
  TEST_CASE("SORT ... STORE stores the sorted elements, or GET's values with missing ones empty") {
    kv::testing::KvFixture f;
    f.run({"SADD", "s", "3", "1", "2", "10"});
    f.run({"SET", "w_1", "one"});
    f.run({"SET", "w_10", "ten"});
    CHECK(f.run({"SORT", "s", "STORE", "dst"}) == ":4\r\n");
    CHECK(f.run({"LRANGE", "dst", "0", "-1"}) ==
          "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$2\r\n10\r\n");
    f.run({"SET", "d2", "a string first"});
    CHECK(f.run({"SORT", "s", "DESC", "LIMIT", "1", "2", "GET", "#", "GET", "w_*", "STORE",
                 "d2"}) == ":4\r\n");
    CHECK(f.run({"LRANGE", "d2", "0", "-1"}) == "*4\r\n$1\r\n3\r\n$0\r\n\r\n$1\r\n2\r\n$0\r\n\r\n");
    // A set sorted BY a constant into STORE is sorted ALPHA, so hash order never reaches a list.
    f.run({"SADD", "h", "pear", "apple", "fig", "10", "9"});
    CHECK(f.run({"SORT", "h", "BY", "nosort", "STORE", "d3"}) == ":5\r\n");
    CHECK(f.run({"LRANGE", "d3", "0", "-1"}) ==
          "*5\r\n$2\r\n10\r\n$1\r\n9\r\n$5\r\napple\r\n$3\r\nfig\r\n$4\r\npear\r\n");
    // Lists and sorted sets sort too; BY <constant> keeps their own order.
    f.run({"RPUSH", "l", "b", "c", "a"});
    CHECK(f.run({"SORT", "l", "BY", "nosort", "DESC", "LIMIT", "0", "2", "STORE", "d5"}) ==
          ":2\r\n");
    CHECK(f.run({"LRANGE", "d5", "0", "-1"}) == "*2\r\n$1\r\na\r\n$1\r\nc\r\n");
    f.run({"ZADD", "z", "1", "x", "2", "y"});
    CHECK(f.run({"SORT", "z", "BY", "nosort"}) == "*2\r\n$1\r\nx\r\n$1\r\ny\r\n");
    // An empty result deletes the destination.
    f.run({"SET", "d4", "old"});
    CHECK(f.run({"SORT", "s", "LIMIT", "9", "1", "STORE", "d4"}) == ":0\r\n");
    CHECK(f.run({"EXISTS", "d4"}) == ":0\r\n");
    f.reopen();
    CHECK(f.run({"LRANGE", "d2", "0", "-1"}) == "*4\r\n$1\r\n3\r\n$0\r\n\r\n$1\r\n2\r\n$0\r\n\r\n");
    CHECK(f.run({"TYPE", "d3"}) == "+list\r\n");
    CHECK(f.run({"LLEN", "d5"}) == ":2\r\n");
  }
}

}  // namespace sluice::commands
