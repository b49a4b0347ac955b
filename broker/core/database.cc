#include "broker/core/database.h"

#include <algorithm>
#include <chrono>

namespace sluice::core {
namespace {

// Wall time the active sweep may spend per database per call beyond its key quota, so a burst of
// expiring keys is reclaimed quickly without stalling the loop (Redis spends up to 25% of a
// cron tick).
constexpr auto kExpireCycleBudget = std::chrono::microseconds(2500);

}  // namespace

std::string_view type_name(ObjectType type) {
  switch (type) {
    case ObjectType::kString:
      return "string";
    case ObjectType::kHash:
      return "hash";
    case ObjectType::kStream:
      return "stream";
    case ObjectType::kList:
      return "list";
    case ObjectType::kSet:
      return "set";
    case ObjectType::kZSet:
      return "zset";
  }
  return "none";
}

Object* Database::find(std::string_view key, int64_t now_ms) {
  Entry* e = table_.find(key);
  if (!e) return nullptr;
  Object* obj = e->value.get();
  if (obj->expire_at_ms != 0 && obj->expire_at_ms <= now_ms) {
    expire_now(key);
    return nullptr;
  }
  return obj;
}

Object* Database::find_raw(std::string_view key) {
  Entry* e = table_.find(key);
  return e ? e->value.get() : nullptr;
}

std::unique_ptr<Object> Database::put(std::string_view key, std::unique_ptr<Object> obj) {
  std::unique_ptr<Object> old;
  int64_t at = obj->expire_at_ms;
  bool created = false;
  Entry* e = table_.insert(key, &created);
  if (!created) {
    if (e->value->expire_at_ms != 0) --expires_count_;
    old = std::move(e->value);
  }
  e->value = std::move(obj);
  if (at != 0) {
    ++expires_count_;
    heap_push(at, e->key);
  }
  return old;
}

std::unique_ptr<Object> Database::remove(std::string_view key) {
  std::unique_ptr<Object> obj;
  if (!table_.erase(key, &obj)) return nullptr;
  if (obj->expire_at_ms != 0) --expires_count_;
  return obj;
}

void Database::set_expire(std::string_view key, Object* obj, int64_t at_ms) {
  if (obj->expire_at_ms != 0) --expires_count_;
  obj->expire_at_ms = at_ms;
  if (at_ms != 0) {
    ++expires_count_;
    heap_push(at_ms, std::string(key));
  }
}

int64_t Database::avg_ttl_ms(int64_t now_ms) const {
  if (expires_count_ == 0) return 0;
  int64_t sum = 0, n = 0;
  table_.for_each([&](const Entry& e) {
    int64_t at = e.value->expire_at_ms;
    if (at != 0 && at > now_ms) {
      sum += at - now_ms;
      ++n;
    }
  });
  return n ? sum / n : 0;
}

Database::KeyList Database::clear() {
  KeyList out;
  out.reserve(table_.size());
  table_.drain([&](std::string&& key, std::unique_ptr<Object>&& obj) {
    out.emplace_back(std::move(key), std::move(obj));
  });
  expires_count_ = 0;
  heap_.clear();
  return out;
}

void Database::swap_contents(Database& other) {
  table_.swap(other.table_);
  std::swap(expires_count_, other.expires_count_);
  std::swap(heap_, other.heap_);
}

uint64_t Database::next_random() {
  // xorshift64*: cheap, and RANDOMKEY and eviction sampling need no cryptographic quality.
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return random_state_ * 2685821657736338717ull;
}

const std::string* Database::random_key() {
  Entry* e = table_.random_entry([this] { return next_random(); });
  return e ? &e->key : nullptr;
}

void Database::heap_push(int64_t at_ms, std::string key) {
  heap_.push_back({at_ms, std::move(key)});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
}

void Database::heap_pop() {
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
  heap_.pop_back();
}

const std::string* Database::soonest_expiring() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.front();
    Entry* e = table_.find(top.key);
    if (e && e->value->expire_at_ms == top.at_ms) return &e->key;
    heap_pop();
  }
  return nullptr;
}

void Database::expire_now(std::string_view key) {
  std::unique_ptr<Object> obj;
  std::string owned(key);  // `key` may point into the entry about to be freed
  table_.erase(owned, &obj);
  if (obj->expire_at_ms != 0) --expires_count_;
  ++expired_keys;
  if (on_expired) on_expired(*this, owned, std::move(obj));
}

size_t Database::expire_cycle(int64_t now_ms, size_t max_keys) {
  size_t removed = 0;
  const auto start = std::chrono::steady_clock::now();
  while (!heap_.empty() && heap_.front().at_ms <= now_ms) {
    if (removed >= max_keys && removed % 32 == 0 &&
        std::chrono::steady_clock::now() - start > kExpireCycleBudget) {
      break;
    }
    HeapEntry top = std::move(heap_.front());
    heap_pop();
    Entry* e = table_.find(top.key);
    // Stale heap entries (key gone, TTL changed or removed) are skipped.
    if (!e || e->value->expire_at_ms != top.at_ms) continue;
    expire_now(top.key);
    ++removed;
  }
  // Keep the heap from growing without bound when TTLs are rewritten often.
  if (heap_.size() > 4 * (expires_count_ + 64)) {
    decltype(heap_) fresh;
    table_.for_each([&](const Entry& e) {
      if (e.value->expire_at_ms != 0) fresh.push_back({e.value->expire_at_ms, e.key});
    });
    std::make_heap(fresh.begin(), fresh.end(), std::greater<>{});
    heap_.swap(fresh);
  }
  return removed;
}

}  // namespace sluice::core
