#include "broker/kv/set_object.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "wire/stream_id.h"

namespace sluice::kv {
namespace {

// A model of a set plus the encoding Redis would report for it.
struct Model {
  std::set<std::string> members;
  bool table = false;  // stays true once converted

  bool add(const std::string& m, size_t limit) {
    int64_t v = 0;
    bool is_int = wire::parse_i64(m, &v);
    if (!is_int) table = true;
    bool created = members.insert(m).second;
    if (created && !table && members.size() > limit) table = true;
    return created;
  }
};

std::set<std::string> contents(const SetObject& s) {
  std::set<std::string> out;
  s.for_each([&](std::string_view m) { CHECK(out.emplace(m).second); });
  return out;
}

void check_same(const SetObject& s, const Model& model) {
  REQUIRE(s.size() == model.members.size());
  CHECK(s.is_intset() == !model.table);
  CHECK(s.encoding() == (model.table ? "hashtable" : "intset"));
  CHECK(contents(s) == model.members);
}

// Members drawn from a small universe so that adds, removes and pops collide often: integers in
// [-limit, limit] and, with probability `text_share`, words that are not integers (some look
// close: "01", "+3", "-0", " 5").
std::string random_member(std::mt19937_64& rng, int64_t range, double text_share) {
  std::uniform_real_distribution<double> coin(0, 1);
  if (coin(rng) < text_share) {
    static const char* kNear[] = {"01", "+3", "-0", " 5", "1.0", "9223372036854775808"};
    if (coin(rng) < 0.2) return kNear[rng() % std::size(kNear)];
    return "m" + std::to_string(rng() % static_cast<uint64_t>(range));
  }
  return std::to_string(static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * range + 1)) - range);
}

TEST_SUITE("kv.set") {
  TEST_CASE("an integer first member makes an intset, anything else a hash table") {
    CHECK(SetObject::create_for("12")->is_intset());
    CHECK(SetObject::create_for("-9223372036854775808")->is_intset());
    CHECK_FALSE(SetObject::create_for("012")->is_intset());
    CHECK_FALSE(SetObject::create_for("x")->is_intset());
    CHECK_FALSE(SetObject::create_for("")->is_intset());
  }

  TEST_CASE("an intset iterates in numeric order and finds members only in canonical form") {
    SetObject s;
    for (const char* m : {"10", "-3", "7", "0", "9223372036854775807", "-9223372036854775808"}) {
      CHECK(s.add(m, kSetMaxIntsetEntries));
    }
    CHECK_FALSE(s.add("7", kSetMaxIntsetEntries));
    std::vector<std::string> order;
    s.for_each([&](std::string_view m) { order.emplace_back(m); });
    CHECK(order == std::vector<std::string>{"-9223372036854775808", "-3", "0", "7", "10",
                                            "9223372036854775807"});
    CHECK(s.contains("7"));
    CHECK_FALSE(s.contains("07"));
    CHECK_FALSE(s.contains("+7"));
    CHECK_FALSE(s.remove("07"));
    CHECK(s.contains_int(-3));
    CHECK(s.is_intset());
  }

  TEST_CASE("the intset becomes a hash table past the limit or at a non-integer, for good") {
    SetObject s;
    for (int i = 0; i < 4; ++i) CHECK(s.add(std::to_string(i), 4));
    CHECK(s.is_intset());
    CHECK_FALSE(s.add("3", 4));  // not added: no conversion, as in Redis
    CHECK(s.is_intset());
    CHECK(s.add("4", 4));
    CHECK_FALSE(s.is_intset());
    CHECK(s.remove("4"));
    CHECK_FALSE(s.is_intset());
    CHECK(s.contains_int(2));
    SetObject t;
    CHECK(t.add("1", 512));
    CHECK(t.add("a", 512));
    CHECK(t.remove("a"));
    CHECK(t.encoding() == "hashtable");
    CHECK(contents(t) == std::set<std::string>{"1"});
  }

  TEST_CASE("random adds, removes and pops agree with a std::set at every size around the limit") {
    std::mt19937_64 rng(12345);
    // Limits and universes chosen so that sets cross the intset limit in both directions of
    // the run; some runs are integers only, some mixed.
    struct Run {
      size_t limit;
      int64_t range;
      double text_share;
      int ops;
    };
    for (Run run : {Run{8, 6, 0.0, 400}, Run{8, 20, 0.0, 600}, Run{64, 50, 0.0, 3000},
                    Run{512, 400, 0.0, 6000}, Run{512, 700, 0.0, 8000}, Run{16, 30, 0.05, 2000},
                    Run{512, 2000, 0.01, 12000}, Run{0, 5, 0.0, 100}}) {
      CAPTURE(run.limit);
      CAPTURE(run.range);
      SetObject s;
      Model model;
      for (int op = 0; op < run.ops; ++op) {
        const uint64_t kind = rng() % 10;
        if (kind < 6) {
          std::string m = random_member(rng, run.range, run.text_share);
          CHECK(s.add(m, run.limit) == model.add(m, run.limit));
        } else if (kind < 8) {
          std::string m = random_member(rng, run.range, run.text_share);
          CHECK(s.remove(m) == (model.members.erase(m) == 1));
        } else if (kind < 9) {
          if (s.empty()) continue;
          MemberBuf buf;
          std::string m(s.random_member([&] { return rng(); }, buf));
          REQUIRE(model.members.count(m) == 1);
          CHECK(s.remove(m));
          model.members.erase(m);
        } else {
          std::string m = random_member(rng, run.range, run.text_share);
          CHECK(s.contains(m) == (model.members.count(m) == 1));
        }
        if (op % 97 == 0) check_same(s, model);
      }
      check_same(s, model);
      auto copy = s.clone();
      check_same(*copy, model);
    }
  }

  TEST_CASE("every member is picked by random_member in both encodings") {
    std::mt19937_64 rng(7);
    for (bool table : {false, true}) {
      SetObject s;
      for (int i = 0; i < 50; ++i) s.add(std::to_string(i), kSetMaxIntsetEntries);
      if (table) s.convert_to_table();
      std::set<std::string> seen;
      MemberBuf buf;
      for (int i = 0; i < 5000; ++i) seen.emplace(s.random_member([&] { return rng(); }, buf));
      CHECK(seen == contents(s));
    }
  }

  TEST_CASE("SSCAN steps return every member present for the whole scan while the table resizes") {
    std::mt19937_64 rng(99);
    for (int round = 0; round < 20; ++round) {
      CAPTURE(round);
      SetObject s;
      s.convert_to_table();
      std::set<std::string> stable;
      for (int i = 0; i < 300; ++i) {
        std::string m = "s" + std::to_string(i);
        s.add(m, 0);
        stable.insert(m);
      }
      // Members added and removed between steps make the table grow and shrink mid-scan; the
      // guarantee is for the members present from start to end (`stable`).
      std::vector<std::string> transient;
      const bool grow = round % 2 == 0;
      if (!grow) {
        // Start big and shrink mid-scan: the table halves and quarters under the cursor.
        for (int i = 0; i < 3000; ++i) {
          std::string m = "t" + std::to_string(i);
          s.add(m, 0);
          transient.push_back(m);
        }
      }
      const size_t size_before = s.size();
      std::set<std::string> returned;
      uint64_t cursor = 0;
      int steps = 0;
      do {
        cursor = s.scan_step(cursor, [&](std::string_view m) { returned.emplace(m); });
        for (int k = 0; k < 40; ++k) {
          if (grow && steps < 50) {
            std::string m = "g" + std::to_string(rng() % 1000000);
            if (s.add(m, 0)) transient.push_back(m);
          } else if (!grow && !transient.empty()) {
            s.remove(transient.back());
            transient.pop_back();
          }
        }
        ++steps;
      } while (cursor != 0 && steps < 100000);
      CHECK(s.size() != size_before);
      CHECK(cursor == 0);
      for (const auto& m : stable) CHECK(returned.count(m) == 1);
    }
  }

  TEST_CASE("swap_contents exchanges members and encodings, not the TTL") {
    SetObject a;
    a.add("1", 512);
    a.expire_at_ms = 77;
    SetObject b(false);
    b.add("x", 512);
    a.swap_contents(b);
    CHECK(a.encoding() == "hashtable");
    CHECK(contents(a) == std::set<std::string>{"x"});
    CHECK(b.is_intset());
    CHECK(a.expire_at_ms == 77);
    CHECK(b.expire_at_ms == 0);
  }
}

}  // namespace
}  // namespace sluice::kv
