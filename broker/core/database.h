// Database: one of the `databases` numbered keyspaces. A ScanTable from key to Object
// (string_view lookups, Redis-style SCAN cursors), plus the TTL index (a min-heap of
// (expire_at, key) with lazy deletion of stale heap entries). Expiry is lazy on access plus an
// active sweep (expire_cycle) with a time budget.
//
// The database does not persist anything itself: removals caused by expiry are reported through
// the on_expired hook so the owner can journal them and emit keyspace events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/core/object.h"
#include "broker/core/scan_table.h"

namespace sluice::core {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Database {
 public:
  using Table = ScanTable<std::unique_ptr<Object>>;
  using Entry = Table::Entry;
  using KeyList = std::vector<std::pair<std::string, std::unique_ptr<Object>>>;
  // Called with the key and the object just removed by expiry (lazy or active).
  using ExpiredHook = std::function<void(Database&, std::string_view key, std::unique_ptr<Object>)>;

  explicit Database(int index) : index_(index) {}
  int index() const { return index_; }

  // Finds a live key; an expired key is removed first (through the hook) and nullptr returned.
  Object* find(std::string_view key, int64_t now_ms);
  // Finds without expiring (for internal use: e.g. persistence, DEBUG).
  Object* find_raw(std::string_view key);

  // Inserts or replaces. The replaced object (if any) is returned so the caller can release its
  // storage. The TTL of the new object is taken from obj->expire_at_ms.
  std::unique_ptr<Object> put(std::string_view key, std::unique_ptr<Object> obj);
  std::unique_ptr<Object> remove(std::string_view key);
  // Sets or clears (0) the TTL of an existing key.
  void set_expire(std::string_view key, Object* obj, int64_t at_ms);

  size_t size() const { return table_.size(); }
  size_t expires() const { return expires_count_; }
  // Average remaining TTL of keys with a TTL, as INFO keyspace's avg_ttl (ms).
  int64_t avg_ttl_ms(int64_t now_ms) const;
  // Removes every key, returning them (owner releases storage).
  KeyList clear();
  // Exchanges every key (and TTL) with `other` (SWAPDB); indexes and hooks stay.
  void swap_contents(Database& other);

  // Visits every key, expired or not: fn(const std::string& key, Object& obj). No writes inside.
  template <typename F>
  void for_each(F&& fn) const {
    table_.for_each([&](Entry& e) { fn(static_cast<const std::string&>(e.key), *e.value); });
  }
  // One SCAN step: visits one bucket's keys (expired or not) and returns the next cursor.
  template <typename F>
  uint64_t scan_step(uint64_t cursor, F&& fn) const {
    return table_.scan_step(
        cursor, [&](Entry& e) { fn(static_cast<const std::string&>(e.key), *e.value); });
  }
  // A random key (expired or not), or nullptr when empty.
  const std::string* random_key();
  // Eviction sampling (core/eviction.h): fn(const std::string& key, Object& obj) for up to
  // `count` keys: the keys of neighbouring buckets from a random one (as Redis samples), or
  // random keys of those with a TTL (maybe repeated).
  template <typename F>
  void sample(size_t count, F&& fn) {
    table_.some_entries(
        count, [this] { return next_random(); },
        [&](Entry& e) {
          if (e.value) fn(static_cast<const std::string&>(e.key), *e.value);
        });
  }
  template <typename F>
  void sample_volatile(size_t count, F&& fn) {
    if (expires_count_ == 0) return;
    // The heap holds every key with a TTL, plus stale entries (at most about 3 in 4, see
    // expire_cycle): a few draws per wanted key find live ones.
    for (size_t tries = 0, found = 0; found < count && tries < 4 * count + 8; ++tries) {
      const HeapEntry& h = heap_[next_random() % heap_.size()];
      Entry* e = table_.find(h.key);
      if (!e || !e->value || e->value->expire_at_ms != h.at_ms) continue;
      ++found;
      fn(static_cast<const std::string&>(e->key), *e->value);
    }
  }
  // The key with a TTL that expires first (volatile-ttl), or nullptr when no key has a TTL.
  // Stale heap entries met on the way are dropped.
  const std::string* soonest_expiring();

  // Active expiry: removes expired keys, at least `max_keys` of them when that many are due, and
  // more while the call has spent less than its time budget. Returns how many it removed.
  size_t expire_cycle(int64_t now_ms, size_t max_keys);

  ExpiredHook on_expired;
  uint64_t expired_keys = 0;  // stat: keys removed by expiry

 private:
  struct HeapEntry {
    int64_t at_ms;
    std::string key;
    bool operator>(const HeapEntry& o) const { return at_ms > o.at_ms; }
  };
  void expire_now(std::string_view key);
  void heap_push(int64_t at_ms, std::string key);
  void heap_pop();
  uint64_t next_random();

  int index_;
  Table table_;
  size_t expires_count_ = 0;
  std::vector<HeapEntry> heap_;  // a min-heap by at_ms (std::push_heap with greater<>)
  uint64_t random_state_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace sluice::core
