#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "broker/core/database.h"
#include "broker/core/scan_table.h"
#include "broker/kv/kv_object.h"

namespace sluice::core {
namespace {

std::unique_ptr<Object> str(std::string_view v, int64_t expire_at = 0) {
  auto s = std::make_unique<kv::StringObject>(v);
  s->expire_at_ms = expire_at;
  return s;
}

TEST_SUITE("kv.keyspace") {
  TEST_CASE(
      "a scan returns every key present for the whole scan while the table grows and shrinks") {
    ScanTable<int> table;
    bool created = false;
    for (int i = 0; i < 1000; ++i) table.insert("orig" + std::to_string(i), &created);
    std::set<std::string> seen;
    uint64_t cursor = 0;
    int step = 0;
    do {
      cursor = table.scan_step(cursor, [&](auto& e) { seen.insert(e.key); });
      ++step;
      if (step < 50) {
        for (int i = 0; i < 200; ++i)
          table.insert("grow" + std::to_string(step * 1000 + i), &created);
      } else if (step < 100) {
        for (int i = 0; i < 200; ++i) table.erase("grow" + std::to_string((step - 50) * 1000 + i));
      }
    } while (cursor != 0);
    for (int i = 0; i < 1000; ++i) CHECK(seen.count("orig" + std::to_string(i)) == 1);
  }

  TEST_CASE("lookups find keys with embedded zero bytes and erase frees them") {
    ScanTable<int> table;
    bool created = false;
    std::string key("a\0b", 3);
    table.insert(key, &created)->value = 7;
    CHECK(created);
    REQUIRE(table.find(key) != nullptr);
    CHECK(table.find(key)->value == 7);
    CHECK(table.find("a") == nullptr);
    int out = 0;
    CHECK(table.erase(key, &out));
    CHECK(out == 7);
    CHECK(table.size() == 0);
  }

  TEST_CASE("an expired key is removed on access and reported through the hook") {
    Database db(0);
    std::vector<std::string> expired;
    db.on_expired = [&](Database&, std::string_view key, std::unique_ptr<Object>) {
      expired.emplace_back(key);
    };
    db.put("k", str("v", 1000));
    CHECK(db.expires() == 1);
    CHECK(db.find("k", 999) != nullptr);
    CHECK(db.find("k", 1000) == nullptr);
    CHECK(expired == std::vector<std::string>{"k"});
    CHECK(db.size() == 0);
    CHECK(db.expires() == 0);
    CHECK(db.expired_keys == 1);
  }

  TEST_CASE("the active cycle reclaims keys that are never accessed again") {
    Database db(0);
    int hooks = 0;
    db.on_expired = [&](Database&, std::string_view, std::unique_ptr<Object>) { ++hooks; };
    for (int i = 0; i < 100; ++i) db.put("k" + std::to_string(i), str("v", 500 + i));
    db.put("keep", str("v"));
    CHECK(db.expire_cycle(549, 1000) == 50);
    CHECK(db.size() == 51);
    CHECK(db.expire_cycle(10000, 1000) == 50);
    CHECK(db.size() == 1);
    CHECK(hooks == 100);
  }

  TEST_CASE("a rewritten or removed TTL leaves a stale heap entry that the cycle skips") {
    Database db(0);
    db.put("k", str("v", 100));
    Object* obj = db.find_raw("k");
    db.set_expire("k", obj, 0);
    CHECK(db.expires() == 0);
    CHECK(db.expire_cycle(1000, 10) == 0);
    CHECK(db.size() == 1);
    db.set_expire("k", obj, 5000);
    CHECK(db.expire_cycle(1000, 10) == 0);
    CHECK(db.expire_cycle(5000, 10) == 1);
  }

  TEST_CASE("swapping contents exchanges keys and TTL bookkeeping, not the indexes") {
    Database a(0), b(1);
    a.put("x", str("1", 100));
    b.put("y", str("2"));
    b.put("z", str("3"));
    a.swap_contents(b);
    CHECK(a.index() == 0);
    CHECK(a.size() == 2);
    CHECK(b.size() == 1);
    CHECK(b.expires() == 1);
    CHECK(a.expires() == 0);
    CHECK(b.expire_cycle(200, 10) == 1);
  }

  TEST_CASE("a small hash keeps insertion order and becomes a table past its limits") {
    kv::HashObject h;
    h.set("b", "1");
    h.set("a", "2");
    h.set("b", "3");
    std::vector<std::string> order;
    h.for_each([&](const std::string& f, const std::string&) { order.push_back(f); });
    CHECK(order == std::vector<std::string>{"b", "a"});
    CHECK(h.encoding() == "listpack");
    h.prepare_for(1, 65);
    CHECK(h.encoding() == "hashtable");
    CHECK(*h.get("b") == "3");
    kv::HashObject big;
    for (int i = 0; i < 512; ++i) big.set(std::to_string(i), "v");
    CHECK(big.encoding() == "listpack");  // hash-max-listpack-entries is 512, as in Redis 7.0
    big.set("512", "v");
    CHECK(big.encoding() == "hashtable");
    CHECK(big.size() == 513);
  }

  TEST_CASE("string encodings are reported as Redis would") {
    kv::StringObject s("12345");
    CHECK(s.encoding() == "int");
    s.value = "hello";
    CHECK(s.encoding() == "embstr");
    s.value.assign(45, 'x');
    CHECK(s.encoding() == "raw");
    s.value = "1";
    s.raw = true;
    CHECK(s.encoding() == "raw");
  }
}

}  // namespace
}  // namespace sluice::core
