// Idempotent producers (Redis 8.6 IDMP): tracked IDs expire by age and by count per producer,
// IDMPAUTO's content IDs are stable, and the state comes back the same from the group journal,
// whether replayed record by record or from a snapshot.
#include "broker/stream/idmp.h"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "broker/stream/group_store.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;

TEST_SUITE("stream.idmp") {
  TEST_CASE("an idempotent ID is found until it expires or is pushed out by newer ones") {
    IdmpState s;
    s.configure(10, 2);
    s.add("p", "a", {1, 0}, 1000);
    s.add("p", "b", {2, 0}, 2000);
    s.add("q", "a", {3, 0}, 2000);
    CHECK(s.find("p", "a") == StreamId{1, 0});
    CHECK(s.find("q", "a") == StreamId{3, 0});
    s.add("p", "c", {4, 0}, 3000);  // p holds at most 2: "a" goes
    CHECK_FALSE(s.find("p", "a").has_value());
    CHECK(s.iids_tracked() == 3);
    s.expire(12000);  // older than 10 s: p's "b" and q's "a"
    CHECK_FALSE(s.find("p", "b").has_value());
    CHECK(s.find("p", "c") == StreamId{4, 0});
    CHECK(s.pids_tracked() == 1);
    CHECK(s.iids_added() == 4);
  }

  TEST_CASE("content IDs depend on every field and on where fields split") {
    std::vector<std::string_view> a{"f", "v", "g", "w"};
    std::vector<std::string_view> b{"f", "vg", "", "w"};
    CHECK(content_iid(a) == content_iid(a));
    CHECK(content_iid(a) != content_iid(b));
    CHECK(content_iid(a).size() == 32);
  }

  TEST_CASE("IDMP state is rebuilt from the journal and from a snapshot") {
    TempDir dir;
    GroupMap groups;
    IdmpState state;
    auto journal = GroupStore::open(dir.path(), &groups, nullptr, &state);
    REQUIRE(journal.is_ok());
    GroupStore store(**journal, groups, &state);
    state.configure(3600, 5);
    REQUIRE(store.idmp_config(state).is_ok());
    state.add("p", "i1", {7, 1}, 5000);
    REQUIRE(store.idmp_add(state, "p", "i1", {7, 1}, 5000).is_ok());
    state.count_duplicate();
    REQUIRE(store.idmp_duplicate(state).is_ok());
    REQUIRE((*journal)->flush().is_ok());

    auto reread = [&](IdmpState* out) {
      GroupMap g;
      auto j = GroupStore::open(dir.path(), &g, nullptr, out);
      REQUIRE(j.is_ok());
      return std::move(*j);
    };
    IdmpState replayed;
    reread(&replayed);
    CHECK(replayed.duration_s() == 3600);
    CHECK(replayed.max_size() == 5);
    CHECK(replayed.find("p", "i1") == StreamId{7, 1});
    CHECK(replayed.iids_added() == 1);
    CHECK(replayed.iids_duplicates() == 1);

    REQUIRE((*journal)->write_snapshot(GroupStore::snapshot_frames(groups, &state)).is_ok());
    journal->reset();
    IdmpState from_snapshot;
    reread(&from_snapshot);
    CHECK(from_snapshot.configured());
    CHECK(from_snapshot.max_size() == 5);
    CHECK(from_snapshot.find("p", "i1") == StreamId{7, 1});
    CHECK(from_snapshot.iids_added() == 1);
    CHECK(from_snapshot.iids_duplicates() == 1);
  }
}

}  // namespace
}  // namespace sluice::stream
