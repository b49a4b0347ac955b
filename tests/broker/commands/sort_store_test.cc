// SORT ... STORE hands its result to the list type through set_sort_list_store(). Lists live
// elsewhere, so a recording store stands in for them here: what it receives is exactly what
// Redis would push onto the stored list.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/commands/command_table.h"
#include "broker/commands/sort_source.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::commands {
namespace {

struct Recorded {
  std::string key;
  std::vector<std::string> elements;
  int calls = 0;
};
Recorded g_recorded;

void record_store(CommandContext&, std::string_view key, std::vector<std::string>&& elements) {
  g_recorded.key = std::string(key);
  g_recorded.elements = std::move(elements);
  ++g_recorded.calls;
}

using Strings = std::vector<std::string>;

TEST_SUITE("commands.sort") {
  TEST_CASE("SORT ... STORE stores the sorted elements, or GET's values with missing ones empty") {
    kv::testing::KvFixture f;
    command_table();  // registers every command (and the list type's store) before the swap
    SortListStore previous = set_sort_list_store(&record_store);
    g_recorded = {};
    f.run({"SADD", "s", "3", "1", "2", "10"});
    f.run({"SET", "w_1", "one"});
    f.run({"SET", "w_10", "ten"});
    CHECK(f.run({"SORT", "s", "STORE", "dst"}) == ":4\r\n");
    CHECK(g_recorded.key == "dst");
    CHECK(g_recorded.elements == Strings{"1", "2", "3", "10"});
    CHECK(f.run({"SORT", "s", "DESC", "LIMIT", "1", "2", "GET", "#", "GET", "w_*", "STORE",
                 "d2"}) == ":4\r\n");
    CHECK(g_recorded.elements == Strings{"3", "", "2", ""});
    // A set sorted BY a constant into STORE is sorted ALPHA, so hash order never reaches a list.
    f.run({"SADD", "h", "pear", "apple", "fig", "10", "9"});
    CHECK(f.run({"SORT", "h", "BY", "nosort", "STORE", "d3"}) == ":5\r\n");
    CHECK(g_recorded.elements == Strings{"10", "9", "apple", "fig", "pear"});
    CHECK(g_recorded.calls == 3);
    // An empty result deletes the destination without calling the list type.
    f.run({"SET", "d4", "old"});
    CHECK(f.run({"SORT", "s", "LIMIT", "9", "1", "STORE", "d4"}) == ":0\r\n");
    CHECK(f.run({"EXISTS", "d4"}) == ":0\r\n");
    CHECK(g_recorded.calls == 3);
    set_sort_list_store(previous);
  }
}

}  // namespace
}  // namespace sluice::commands
