#include "broker/core/eviction.h"

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>

#include "broker/core/database.h"
#include "broker/core/memory.h"
#include "broker/kv/kv_object.h"

namespace sluice::core {
namespace {

std::unique_ptr<Object> str(std::string_view v, int64_t expire_at = 0) {
  auto s = std::make_unique<kv::StringObject>(v);
  s->expire_at_ms = expire_at;
  return s;
}

config::Config lfu_config() {
  config::Config cfg;
  cfg.maxmemory_policy = "allkeys-lfu";
  return cfg;
}

TEST_SUITE("core.eviction") {
  TEST_CASE("a new key's LFU counter is 5 and its first access always counts") {
    kv::StringObject s("v");
    CHECK(s.lfu_counter == kLfuInitVal);
    const config::Config cfg = lfu_config();
    note_access(s, 1'000'000, cfg);
    CHECK(s.lfu_counter == 6);
    CHECK(s.last_access_ms == 1'000'000);
  }

  TEST_CASE("the LFU counter grows logarithmically: many accesses, a small counter") {
    kv::StringObject s("v");
    const config::Config cfg = lfu_config();
    for (int i = 0; i < 1000; ++i) note_access(s, 1'000'000, cfg);
    // Redis's table for lfu-log-factor 10: 1K hits give about 18.
    CHECK(s.lfu_counter > 10);
    CHECK(s.lfu_counter < 30);
  }

  TEST_CASE("the LFU counter decays by one per lfu-decay-time minutes without access") {
    kv::StringObject s("v");
    s.lfu_counter = 20;
    s.last_access_ms = 1'000'000;
    CHECK(lfu_decayed(s, 1'000'000 + 59'999, 1) == 20);
    CHECK(lfu_decayed(s, 1'000'000 + 3 * 60'000, 1) == 17);
    CHECK(lfu_decayed(s, 1'000'000 + 6 * 60'000, 2) == 17);
    CHECK(lfu_decayed(s, 1'000'000 + 100 * 60'000, 1) == 0);
    CHECK(lfu_decayed(s, 1'000'000 + 100 * 60'000, 0) == 20);
  }

  TEST_CASE("under an LRU policy an access stamps the time and leaves the LFU counter alone") {
    kv::StringObject s("v");
    config::Config cfg;
    cfg.maxmemory_policy = "allkeys-lru";
    note_access(s, 5000, cfg);
    CHECK(s.lfu_counter == kLfuInitVal);
    CHECK(s.last_access_ms == 5000);
    CHECK_FALSE(lfu_policy(cfg));
    CHECK(lfu_policy(lfu_config()));
  }

  TEST_CASE("volatile sampling returns only live keys with a TTL") {
    Database db(0);
    for (int i = 0; i < 100; ++i) db.put("p" + std::to_string(i), str("v"));
    for (int i = 0; i < 100; ++i) db.put("t" + std::to_string(i), str("v", 1000 + i));
    // TTLs rewritten and keys removed leave stale heap entries behind.
    for (int i = 0; i < 50; ++i) db.remove("t" + std::to_string(i));
    std::set<std::string> seen;
    db.sample_volatile(200, [&](const std::string& key, Object& obj) {
      CHECK(obj.expire_at_ms != 0);
      seen.insert(key);
    });
    CHECK_FALSE(seen.empty());
    for (const auto& k : seen) CHECK(k[0] == 't');
    std::set<std::string> all;
    db.sample(50, [&](const std::string& key, Object&) { all.insert(key); });
    CHECK_FALSE(all.empty());
  }

  TEST_CASE("the soonest expiring key skips stale heap entries") {
    Database db(0);
    db.put("a", str("v", 500));
    db.put("b", str("v", 700));
    db.put("c", str("v", 900));
    REQUIRE(db.soonest_expiring() != nullptr);
    CHECK(*db.soonest_expiring() == "a");
    db.remove("a");
    CHECK(*db.soonest_expiring() == "b");
    Object* b = db.find_raw("b");
    db.set_expire("b", b, 2000);
    CHECK(*db.soonest_expiring() == "c");
    db.set_expire("c", db.find_raw("c"), 0);
    CHECK(*db.soonest_expiring() == "b");
    db.remove("b");
    CHECK(db.soonest_expiring() == nullptr);
  }

  TEST_CASE("used_memory counts what new allocates and delete releases") {
    const uint64_t before = used_memory();
    auto block = std::make_unique<char[]>(1 << 20);
    CHECK(used_memory() >= before + (1 << 20));
    block.reset();
    CHECK(used_memory() < before + 4096);
    void* p = counted_malloc(100000);
    CHECK(used_memory() >= before + 100000);
    p = counted_realloc(p, 300000);
    CHECK(used_memory() >= before + 300000);
    counted_free(p);
    CHECK(used_memory() < before + 4096);
  }
}

}  // namespace
}  // namespace sluice::core
