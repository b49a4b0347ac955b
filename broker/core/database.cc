#include "broker/core/database.h"

namespace sluice::core {

std::string_view type_name(ObjectType type) {
  switch (type) {
    case ObjectType::kString:
      return "string";
    case ObjectType::kHash:
      return "hash";
    case ObjectType::kStream:
      return "stream";
  }
  return "none";
}

Object* Database::find(std::string_view key, int64_t now_ms) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  Object* obj = it->second.get();
  if (obj->expire_at_ms != 0 && obj->expire_at_ms <= now_ms) {
    expire_now(it);
    return nullptr;
  }
  return obj;
}

Object* Database::find_raw(std::string_view key) {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second.get();
}

std::unique_ptr<Object> Database::put(std::string_view key, std::unique_ptr<Object> obj) {
  std::unique_ptr<Object> old;
  auto it = map_.find(key);
  int64_t at = obj->expire_at_ms;
  if (it == map_.end()) {
    it = map_.emplace(std::string(key), std::move(obj)).first;
  } else {
    if (it->second->expire_at_ms != 0) --expires_count_;
    old = std::move(it->second);
    it->second = std::move(obj);
  }
  if (at != 0) {
    ++expires_count_;
    heap_.push({at, it->first});
  }
  return old;
}

std::unique_ptr<Object> Database::remove(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (it->second->expire_at_ms != 0) --expires_count_;
  auto obj = std::move(it->second);
  map_.erase(it);
  return obj;
}

void Database::set_expire(std::string_view key, Object* obj, int64_t at_ms) {
  if (obj->expire_at_ms != 0) --expires_count_;
  obj->expire_at_ms = at_ms;
  if (at_ms != 0) {
    ++expires_count_;
    heap_.push({at_ms, std::string(key)});
  }
}

int64_t Database::avg_ttl_ms(int64_t now_ms) const {
  if (expires_count_ == 0) return 0;
  int64_t sum = 0, n = 0;
  for (const auto& [key, obj] : map_) {
    if (obj->expire_at_ms != 0 && obj->expire_at_ms > now_ms) {
      sum += obj->expire_at_ms - now_ms;
      ++n;
    }
  }
  return n ? sum / n : 0;
}

Database::Map Database::clear() {
  Map out;
  out.swap(map_);
  expires_count_ = 0;
  heap_ = {};
  return out;
}

void Database::expire_now(Map::iterator it) {
  std::string key = it->first;
  auto obj = std::move(it->second);
  if (obj->expire_at_ms != 0) --expires_count_;
  map_.erase(it);
  ++expired_keys;
  if (on_expired) on_expired(*this, key, std::move(obj));
}

size_t Database::expire_cycle(int64_t now_ms, size_t max_keys) {
  size_t removed = 0;
  while (!heap_.empty() && removed < max_keys && heap_.top().at_ms <= now_ms) {
    HeapEntry top = heap_.top();
    heap_.pop();
    auto it = map_.find(top.key);
    // Stale heap entries (key gone, TTL changed or removed) are skipped.
    if (it == map_.end() || it->second->expire_at_ms != top.at_ms) continue;
    expire_now(it);
    ++removed;
  }
  // Keep the heap from growing without bound when TTLs are rewritten often.
  if (heap_.size() > 4 * (expires_count_ + 64)) {
    decltype(heap_) fresh;
    for (const auto& [key, obj] : map_) {
      if (obj->expire_at_ms != 0) fresh.push({obj->expire_at_ms, key});
    }
    heap_.swap(fresh);
  }
  return removed;
}

}  // namespace sluice::core
