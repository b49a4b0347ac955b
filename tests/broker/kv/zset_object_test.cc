// ZSetObject and its B+tree against a model (std::set of (score, member) + std::map of scores):
// random adds, score updates, removals, pops, rank queries, score and lex ranges, at sizes that
// cross the listpack -> skiplist conversion, the index threshold and several tree levels.
#include "broker/kv/zset_object.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sluice::kv {
namespace {

using Entry = std::pair<double, std::string>;

struct EntryLess {
  bool operator()(const Entry& a, const Entry& b) const {
    if (a.first != b.first) return a.first < b.first;
    return compare_members(a.second, b.second) < 0;
  }
};

struct Model {
  std::set<Entry, EntryLess> order;
  std::map<std::string, double> scores;
};

void check_same(const ZSetObject& z, const Model& m) {
  REQUIRE(z.size() == m.order.size());
  size_t rank = 0;
  auto it = m.order.begin();
  for (ZTree::Pos p = z.tree().first(); p.valid(); p = ZTree::next(p), ++it, ++rank) {
    REQUIRE(it != m.order.end());
    CHECK(p.score() == it->first);
    CHECK(p.member()->view() == it->second);
    CHECK(p.member()->score == it->first);
  }
  CHECK(it == m.order.end());
  // Backwards through the leaf links.
  auto rit = m.order.rbegin();
  for (ZTree::Pos p = z.tree().last(); p.valid(); p = ZTree::prev(p), ++rit) {
    REQUIRE(rit != m.order.rend());
    CHECK(p.member()->view() == rit->second);
  }
  CHECK(rit == m.order.rend());
}

// Rank of the first model entry for which `before` is false.
template <typename Before>
size_t model_seek(const Model& m, Before before) {
  size_t r = 0;
  for (const auto& e : m.order) {
    if (!before(e.first, e.second)) break;
    ++r;
  }
  return r;
}

void run_random(size_t universe, size_t steps, uint64_t seed, bool same_score) {
  std::mt19937_64 rng(seed);
  ZSetObject z;
  Model m;
  ZSetLimits limits;
  auto member_name = [&](size_t i) { return "m:" + std::to_string(i); };
  auto random_score = [&]() -> double {
    if (same_score) return 0;
    switch (rng() % 4) {
      case 0:
        return static_cast<double>(rng() % 16);  // many ties: order by member
      case 1:
        return static_cast<double>(rng() % 1000) / 7.0;
      case 2:
        return -static_cast<double>(rng() % 100);
      default:
        return static_cast<double>(rng() % 100000);
    }
  };
  for (size_t step = 0; step < steps; ++step) {
    const unsigned op = static_cast<unsigned>(rng() % 100);
    std::string name = member_name(rng() % universe);
    if (op < 50) {
      double score = random_score();
      ZMember* found = z.find(name);
      auto mit = m.scores.find(name);
      REQUIRE((found != nullptr) == (mit != m.scores.end()));
      if (found) {
        m.order.erase({mit->second, name});
        z.update(found, score);
      } else {
        z.insert(name, score, limits);
      }
      // The object may store -0 as 0 (listpack); the model follows what it reports.
      double stored = z.find(name)->score;
      CHECK(stored == score);
      m.scores[name] = stored;
      m.order.insert({stored, name});
    } else if (op < 70) {
      bool had = m.scores.count(name) > 0;
      CHECK(z.erase(name) == had);
      if (had) {
        m.order.erase({m.scores[name], name});
        m.scores.erase(name);
      }
    } else if (op < 78 && z.size() > 0) {
      // Pops from either end, and removals at random ranks.
      size_t rank = rng() % 3 == 0 ? 0 : (rng() % 2 ? z.size() - 1 : rng() % z.size());
      auto it = std::next(m.order.begin(), static_cast<long>(rank));
      z.erase_at_rank(rank);
      m.scores.erase(it->second);
      m.order.erase(it);
    } else if (op < 90 && z.size() > 0) {
      // Rank of a present member and the member at a rank.
      auto it = std::next(m.order.begin(), static_cast<long>(rng() % m.order.size()));
      size_t rank = static_cast<size_t>(std::distance(m.order.begin(), it));
      const ZMember* zm = z.find(it->second);
      REQUIRE(zm != nullptr);
      CHECK(z.rank(zm) == rank);
      ZTree::Pos p = z.tree().at_rank(rank);
      REQUIRE(p.valid());
      CHECK(p.member() == zm);
    } else if (op < 96 && (m.order.size() < 4000 || step % 64 == 0)) {
      // Score range bounds, inclusive and exclusive.
      double bound = random_score();
      bool exclusive = rng() % 2;
      auto before = [&](double s) { return exclusive ? s <= bound : s < bound; };
      auto seek = z.tree().seek([&](double s, const ZMember*) { return before(s); });
      size_t expect = model_seek(m, [&](double s, const std::string&) { return before(s); });
      CHECK(seek.rank == expect);
      CHECK(seek.pos.valid() == (expect < m.order.size()));
    } else if (same_score && op >= 96) {
      // Lex bounds (meaningful when every score is the same).
      std::string bound = member_name(rng() % universe);
      auto seek = z.tree().seek([&](double, const ZMember* x) { return x->view() < bound; });
      size_t expect =
          model_seek(m, [&](double, const std::string& v) { return std::string_view(v) < bound; });
      CHECK(seek.rank == expect);
    }
    if (step % (997 + m.order.size()) == 0) check_same(z, m);
  }
  check_same(z, m);
  // Drain by popping the minimum: the tree shrinks back to nothing.
  while (z.size() > 0) {
    ZTree::Pos first = z.tree().first();
    REQUIRE(first.valid());
    CHECK(first.member()->view() == m.order.begin()->second);
    z.erase_at_rank(0);
    m.order.erase(m.order.begin());
  }
  CHECK(z.tree().node_bytes() == 0);
}

}  // namespace

TEST_SUITE("kv.zset") {
  TEST_CASE("random adds, updates, removals, pops and rank queries agree with an ordered model") {
    SUBCASE("a handful of members") { run_random(8, 3000, 1, false); }
    SUBCASE("around the listpack limit") { run_random(200, 20000, 2, false); }
    SUBCASE("a few thousand members, three tree levels of churn") {
      run_random(5000, 60000, 3, false);
    }
    SUBCASE("tens of thousands of members") { run_random(40000, 100000, 4, false); }
  }

  TEST_CASE("with one score for every member the order is the member bytes (lex ranges)") {
    run_random(3000, 40000, 5, true);
  }

  TEST_CASE("ascending and descending inserts fill leaves and drain without leaks") {
    ZSetObject z;
    ZSetLimits limits;
    for (int i = 0; i < 20000; ++i) z.insert("a" + std::to_string(i), i, limits);
    for (int i = 0; i < 20000; ++i) z.insert("b" + std::to_string(i), -i, limits);
    CHECK(z.size() == 40000);
    // Appends at either end leave full leaves: close to 16 bytes per entry in the leaves.
    CHECK(z.tree().node_bytes() < 40000 * 20);
    ZTree::Pos first = z.tree().first();
    ZTree::Pos last = z.tree().last();
    REQUIRE(first.valid());
    REQUIRE(last.valid());
    CHECK(first.member()->view() == "b19999");
    CHECK(last.member()->view() == "a19999");
    for (int i = 0; i < 20000; ++i) CHECK(z.erase("a" + std::to_string(i)));
    CHECK(z.size() == 20000);
    CHECK(z.rank(z.find("b0")) == 19999);
    while (z.size() > 0) z.erase_at_rank(z.size() - 1);
    CHECK(z.tree().node_bytes() == 0);
  }

  TEST_CASE("the encoding becomes skiplist past the listpack limits and stays so") {
    ZSetLimits limits{4, 8};
    ZSetObject z;
    for (int i = 0; i < 4; ++i) z.insert("m" + std::to_string(i), i, limits);
    CHECK(z.encoding() == "listpack");
    z.insert("m4", 4, limits);
    CHECK(z.encoding() == "skiplist");
    for (int i = 0; i < 5; ++i) z.erase("m" + std::to_string(i));
    CHECK(z.encoding() == "skiplist");

    ZSetObject longer;
    longer.insert("123456789", 1, limits);
    CHECK(longer.encoding() == "skiplist");
  }

  TEST_CASE("a listpack stores -0 as 0, a skiplist keeps the sign, conversion back clears it") {
    ZSetLimits limits;
    ZSetObject small;
    ZMember* a = small.insert("a", -0.0, limits);
    CHECK(!std::signbit(a->score));
    ZSetObject big;
    big.set_skiplist();
    ZMember* b = big.insert("b", -0.0, limits);
    CHECK(std::signbit(b->score));
    ZTree::Pos first = big.tree().first();
    REQUIRE(first.valid());
    CHECK(std::signbit(first.score()));
    big.convert_if_small(limits);
    CHECK(big.encoding() == "listpack");
    CHECK(!std::signbit(b->score));
    CHECK(!std::signbit(first.score()));
  }

  TEST_CASE("the member index finds every member after erases that shift long probe runs") {
    // Erase in random order (as pops do) from tables at up to 70% load, where runs are long
    // enough that some entries sit 7 or more slots from home (the "rehash" distance), and the
    // shrinks that follow rebuild the table; every present member must stay findable, every
    // erased one gone, and one ZSCAN must visit each present member exactly once.
    std::mt19937_64 rng(7);
    ZMemberIndex index;
    std::vector<ZMember*> members;
    for (int i = 0; i < 30000; ++i) {
      std::string name = "element:" + std::to_string(rng() % 1000000000) + ":" + std::to_string(i);
      ZMember* m = ZMember::create(name, i);
      members.push_back(m);
      index.insert(m, ZMemberIndex::hash(name));
    }
    std::shuffle(members.begin(), members.end(), rng);
    auto check_all = [&](size_t erased) {
      REQUIRE(index.size() == members.size() - erased);
      for (size_t k = 0; k < members.size(); ++k) {
        std::string_view v = members[k]->view();
        ZMember* found = index.find(v, ZMemberIndex::hash(v));
        REQUIRE(found == (k < erased ? nullptr : members[k]));
      }
      std::set<const ZMember*> seen;
      uint64_t cursor = 0;
      do {
        cursor = index.scan(cursor, 100, [&](const ZMember& m) { CHECK(seen.insert(&m).second); });
      } while (cursor != 0);
      CHECK(seen.size() == index.size());
    };
    check_all(0);
    for (size_t k = 0; k < members.size(); ++k) {
      std::string_view v = members[k]->view();
      index.erase(members[k], ZMemberIndex::hash(v));
      if (k % 3001 == 0 || k + 1 == members.size()) check_all(k + 1);
    }
    CHECK(index.size() == 0);
    for (ZMember* m : members) ZMember::destroy(m);
  }

  TEST_CASE("members of any length keep their bytes, empty and binary ones too") {
    ZSetLimits limits;
    ZSetObject z;
    std::string big(100000, 'x');
    std::string bin("a\0b", 3);
    z.insert(big, 1, limits);
    z.insert("", 2, limits);
    z.insert(bin, 3, limits);
    CHECK(z.find(big)->view() == big);
    CHECK(z.find("")->score == 2);
    CHECK(z.find(bin)->view().size() == 3);
    CHECK(z.find("a") == nullptr);
  }
}

}  // namespace sluice::kv
