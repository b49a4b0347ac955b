// ScanTable: a chained hash table with power-of-two buckets, keyed by binary-safe strings, that
// supports Redis's stateless SCAN cursor. std::unordered_map cannot: its prime bucket counts
// reshuffle every key on rehash, so a cursor would miss keys. Here a key's bucket is the low bits
// of its hash, and the cursor walks bucket indexes with the high bits incremented first
// (reverse-binary counting, Redis's dictScan), so a bucket visited before a resize maps onto
// buckets that are also already visited after it: every key present for the whole scan is
// returned at least once, however the table grows or shrinks between calls.
//
// Lookups take string_view and allocate nothing. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::core {

template <typename V>
class ScanTable {
 public:
  struct Entry {
    Entry* next;
    size_t hash;
    std::string key;
    V value;
  };

  ScanTable() = default;
  ~ScanTable() { clear(); }
  ScanTable(const ScanTable&) = delete;
  ScanTable& operator=(const ScanTable&) = delete;
  ScanTable(ScanTable&& other) noexcept { swap(other); }
  ScanTable& operator=(ScanTable&& other) noexcept {
    if (this != &other) {
      clear();
      swap(other);
    }
    return *this;
  }

  void swap(ScanTable& other) noexcept {
    buckets_.swap(other.buckets_);
    std::swap(size_, other.size_);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t bucket_count() const { return buckets_.size(); }

  static size_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  Entry* find(std::string_view key) const {
    if (size_ == 0) return nullptr;
    size_t h = hash_of(key);
    for (Entry* e = buckets_[h & (buckets_.size() - 1)]; e; e = e->next) {
      if (e->hash == h && e->key == key) return e;
    }
    return nullptr;
  }

  // The entry for `key`, created with a value-initialized V when absent (*created says which).
  Entry* insert(std::string_view key, bool* created) {
    if (Entry* e = find(key)) {
      *created = false;
      return e;
    }
    *created = true;
    if (size_ + 1 > buckets_.size()) resize(buckets_.empty() ? 4 : buckets_.size() * 2);
    size_t h = hash_of(key);
    Entry*& head = buckets_[h & (buckets_.size() - 1)];
    head = new Entry{head, h, std::string(key), V{}};
    ++size_;
    return head;
  }

  // Removes `key`; returns whether it existed and moves its value to *out when given.
  bool erase(std::string_view key, V* out = nullptr) {
    if (size_ == 0) return false;
    size_t h = hash_of(key);
    Entry** link = &buckets_[h & (buckets_.size() - 1)];
    for (Entry* e = *link; e; link = &e->next, e = e->next) {
      if (e->hash == h && e->key == key) {
        *link = e->next;
        if (out) *out = std::move(e->value);
        delete e;
        --size_;
        // Shrink lazily so a table that held many keys gives its buckets back.
        if (buckets_.size() > 64 && size_ * 8 < buckets_.size()) resize(buckets_.size() / 4);
        return true;
      }
    }
    return false;
  }

  // Visits every entry: fn(Entry&). fn must not insert or erase.
  template <typename F>
  void for_each(F&& fn) const {
    for (Entry* head : buckets_) {
      for (Entry* e = head; e;) {
        Entry* next = e->next;
        fn(*e);
        e = next;
      }
    }
  }

  // Visits the entries of the bucket at `cursor` and returns the next cursor (0: scan complete).
  template <typename F>
  uint64_t scan_step(uint64_t cursor, F&& fn) const {
    if (buckets_.empty()) return 0;
    const uint64_t mask = buckets_.size() - 1;
    for (Entry* e = buckets_[cursor & mask]; e; e = e->next) fn(*e);
    cursor |= ~mask;
    cursor = reverse_bits(cursor);
    ++cursor;
    return reverse_bits(cursor);
  }

  // A uniformly chosen bucket's random entry (as Redis's dictGetFairRandomKey approximates);
  // `rnd` returns uniform 64-bit values. nullptr when empty.
  template <typename Rng>
  Entry* random_entry(Rng&& rnd) const {
    if (size_ == 0) return nullptr;
    const size_t mask = buckets_.size() - 1;
    Entry* head = nullptr;
    while (!head) head = buckets_[rnd() & mask];
    size_t len = 0;
    for (Entry* e = head; e; e = e->next) ++len;
    size_t pick = rnd() % len;
    while (pick--) head = head->next;
    return head;
  }

  // Up to `count` entries for eviction sampling, as Redis's dictGetSomeKeys takes them: every
  // entry of consecutive buckets from a random one on (at most 10 * count buckets looked at).
  // One random bucket per key instead would cost a cache miss on the bucket array for each key
  // and a walk of its chain to count it; neighbouring buckets share cache lines. fn(Entry&) must
  // not change the table.
  template <typename Rng, typename F>
  void some_entries(size_t count, Rng&& rnd, F&& fn) const {
    if (size_ == 0 || count == 0) return;
    const size_t mask = buckets_.size() - 1;
    size_t at = rnd() & mask;
    size_t taken = 0;
    for (size_t steps = 0; taken < count && steps < 10 * count + 16;
         ++steps, at = (at + 1) & mask) {
      for (Entry* e = buckets_[at]; e && taken < count; e = e->next) {
        fn(*e);
        ++taken;
      }
    }
  }

  // Removes every entry, handing each (key, value) to fn.
  template <typename F>
  void drain(F&& fn) {
    std::vector<Entry*> buckets;
    buckets.swap(buckets_);
    size_ = 0;
    for (Entry* head : buckets) {
      for (Entry* e = head; e;) {
        Entry* next = e->next;
        fn(std::move(e->key), std::move(e->value));
        delete e;
        e = next;
      }
    }
  }

  void clear() {
    drain([](std::string&&, V&&) {});
  }

 private:
  static uint64_t reverse_bits(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
    v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((v & 0x0F0F0F0F0F0F0F0Full) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFull) | ((v & 0x00FF00FF00FF00FFull) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFull) | ((v & 0x0000FFFF0000FFFFull) << 16);
    return (v >> 32) | (v << 32);
  }

  void resize(size_t n) {
    std::vector<Entry*> fresh(n, nullptr);
    const size_t mask = n - 1;
    for (Entry* head : buckets_) {
      for (Entry* e = head; e;) {
        Entry* next = e->next;
        Entry*& slot = fresh[e->hash & mask];
        e->next = slot;
        slot = e;
        e = next;
      }
    }
    buckets_.swap(fresh);
  }

  std::vector<Entry*> buckets_;
  size_t size_ = 0;
};

}  // namespace sluice::core
