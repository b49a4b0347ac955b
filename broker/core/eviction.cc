#include "broker/core/eviction.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "broker/core/broker.h"
#include "broker/core/memory.h"
#include "broker/kv/kv_store.h"
#include "broker/stream/stream_engine.h"

namespace sluice::core {
namespace {

constexpr size_t kPoolSize = 16;  // Redis's EVPOOL_SIZE
constexpr int64_t kStreamBytesRefreshMs = 100;

enum class Policy : uint8_t { kNoEviction, kLru, kLfu, kRandom, kTtl };

struct PolicyChoice {
  Policy policy;
  bool volatile_only;
};

PolicyChoice parse_policy(const std::string& name) {
  const bool vol = name.starts_with("volatile-");
  if (name.ends_with("-lru")) return {Policy::kLru, vol};
  if (name.ends_with("-lfu")) return {Policy::kLfu, vol};
  if (name.ends_with("-random")) return {Policy::kRandom, vol};
  if (name == "volatile-ttl") return {Policy::kTtl, true};
  return {Policy::kNoEviction, false};
}

uint64_t random_u64() {
  thread_local uint64_t state = 0x2545f4914f6cdd1dull ^ static_cast<uint64_t>(now_us());
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ull;
}

// Redis's evictionTimeLimitUs: 50 us per step up to 10, then +15% per step, 100 = no limit.
uint64_t time_limit_us(int64_t tenacity) {
  if (tenacity <= 10) return 50u * static_cast<uint64_t>(std::max<int64_t>(tenacity, 0));
  if (tenacity < 100) return static_cast<uint64_t>(500.0 * std::pow(1.15, tenacity - 10.0));
  return std::numeric_limits<uint64_t>::max();
}

// How good a candidate the key is (higher = evict first).
uint64_t score_of(const Object& obj, Policy policy, int64_t now_ms, const config::Config& cfg) {
  if (policy == Policy::kLfu) return 255 - lfu_decayed(obj, now_ms, cfg.lfu_decay_time);
  if (policy == Policy::kTtl) {
    return std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(obj.expire_at_ms);
  }
  const int64_t idle = now_ms - obj.last_access_ms;
  return idle > 0 ? static_cast<uint64_t>(idle) : 0;
}

void pool_insert(EvictionState& st, uint64_t score, int db, const std::string& key) {
  auto& pool = st.pool;
  // A key scoring no better than the pool's worst stays out (checked first: the duplicate check
  // below compares keys). If it is in the pool already, its older score stays: as good a guess.
  if (pool.size() >= kPoolSize && score <= pool.front().score) return;
  for (auto& c : pool) {
    if (c.db == db && c.key == key) {
      c.score = score;
      std::sort(pool.begin(), pool.end(),
                [](const auto& a, const auto& b) { return a.score < b.score; });
      return;
    }
  }
  if (pool.size() >= kPoolSize) pool.erase(pool.begin());
  auto at = std::upper_bound(pool.begin(), pool.end(), score,
                             [](uint64_t s, const auto& c) { return s < c.score; });
  pool.insert(at, EvictionState::Candidate{score, db, key});
}

// The next key to evict, by the pool (LRU, LFU), the TTL heap or a random draw.
bool pick_key(Broker& b, EvictionState& st, PolicyChoice pc, int64_t now_ms, int* db_out,
              std::string* key_out) {
  const auto& cfg = b.config();
  const int dbs = b.db_count();
  if (pc.policy == Policy::kRandom) {
    for (int i = 0; i < dbs; ++i) {
      Database& db = b.db(static_cast<int>(++st.next_db % static_cast<unsigned>(dbs)));
      bool found = false;
      // A few draws: stream keys are skipped.
      auto take = [&](const std::string& key, Object& obj) {
        if (found || obj.type() == ObjectType::kStream) return;
        *db_out = db.index();
        *key_out = key;
        found = true;
      };
      if (pc.volatile_only) {
        db.sample_volatile(8, take);
      } else {
        db.sample(8, take);
      }
      if (found) return true;
    }
    return false;
  }
  if (pc.policy == Policy::kTtl) {
    // Exact where Redis samples: the soonest expiry of all databases. A stream at the top of a
    // database's TTL heap cannot be evicted; then that choice falls back to Redis's sampling
    // (below, scored by TTL) rather than digging under it.
    const std::string* best = nullptr;
    int best_db = 0;
    int64_t best_at = 0;
    bool stream_on_top = false;
    for (int i = 0; i < dbs; ++i) {
      const std::string* k = b.db(i).soonest_expiring();
      if (!k) continue;
      Object* obj = b.db(i).find_raw(*k);
      if (!obj) continue;
      if (obj->type() == ObjectType::kStream) {
        stream_on_top = true;
        continue;
      }
      if (!best || obj->expire_at_ms < best_at) {
        best = k;
        best_db = i;
        best_at = obj->expire_at_ms;
      }
    }
    if (!stream_on_top) {
      if (!best) return false;
      *db_out = best_db;
      *key_out = *best;
      return true;
    }
  }
  // LRU / LFU (and TTL when sampling): refill the pool from every database, then take the best
  // candidate that is still there (and still has a TTL for volatile-*).
  // Redis takes any count; more than a few hundred per database only costs time.
  const size_t samples = static_cast<size_t>(std::clamp<int64_t>(cfg.maxmemory_samples, 1, 1024));
  for (int round = 0; round < 4; ++round) {
    bool sampled = false;
    for (int i = 0; i < dbs; ++i) {
      Database& db = b.db(i);
      auto add = [&](const std::string& key, Object& obj) {
        if (obj.type() == ObjectType::kStream) return;
        sampled = true;
        pool_insert(st, score_of(obj, pc.policy, now_ms, cfg), i, key);
      };
      if (pc.volatile_only) {
        db.sample_volatile(samples, add);
      } else {
        db.sample(samples, add);
      }
    }
    while (!st.pool.empty()) {
      EvictionState::Candidate c = std::move(st.pool.back());
      st.pool.pop_back();
      if (c.db >= dbs) continue;
      Object* obj = b.db(c.db).find_raw(c.key);
      if (!obj || obj->type() == ObjectType::kStream) continue;
      if (pc.volatile_only && obj->expire_at_ms == 0) continue;
      *db_out = c.db;
      *key_out = std::move(c.key);
      return true;
    }
    if (!sampled) return false;
  }
  return false;
}

// Streams' RAM is summed over every stream, so it is cached: for up to `max_age_ms`.
uint64_t not_counted_bytes(Broker& broker, int64_t now_ms, int64_t max_age_ms) {
  EvictionState& st = broker.eviction;
  if (st.stream_bytes_ms < 0 || now_ms - st.stream_bytes_ms >= max_age_ms ||
      now_ms < st.stream_bytes_ms) {
    st.stream_bytes = broker.streams().totals().memory_bytes;
    st.stream_bytes_ms = now_ms;
  }
  return st.stream_bytes + broker.kv().journal_buffer_bytes();
}

uint64_t counted_bytes(Broker& broker, int64_t now_ms, int64_t max_age_ms) {
  const uint64_t used = used_memory();
  const uint64_t skip = not_counted_bytes(broker, now_ms, max_age_ms);
  return used > skip ? used - skip : 0;
}

}  // namespace

bool lfu_policy(const config::Config& cfg) { return cfg.maxmemory_policy.ends_with("-lfu"); }

uint8_t lfu_decayed(const Object& obj, int64_t now_ms, int64_t decay_minutes) {
  // Redis keeps the minute of the last decrement beside the counter and advances it at every
  // access, so it is the last access time: ours in ms. A key not accessed since it was loaded
  // (0) has not decayed.
  if (decay_minutes <= 0 || obj.last_access_ms == 0) return obj.lfu_counter;
  const int64_t elapsed_minutes = (now_ms - obj.last_access_ms) / 60000;
  const int64_t periods = elapsed_minutes > 0 ? elapsed_minutes / decay_minutes : 0;
  if (periods <= 0) return obj.lfu_counter;
  return periods >= obj.lfu_counter ? 0 : static_cast<uint8_t>(obj.lfu_counter - periods);
}

void note_access(Object& obj, int64_t now_ms, const config::Config& cfg) {
  if (lfu_policy(cfg)) {
    uint8_t counter = lfu_decayed(obj, now_ms, cfg.lfu_decay_time);
    // Redis's LFULogIncr: the higher the counter, the less likely it grows.
    if (counter < 255) {
      const double r = static_cast<double>(random_u64() >> 11) * 0x1.0p-53;
      const double base = counter > kLfuInitVal ? counter - kLfuInitVal : 0;
      const double p = 1.0 / (base * static_cast<double>(cfg.lfu_log_factor) + 1.0);
      if (r < p) ++counter;
    }
    obj.lfu_counter = counter;
  }
  obj.last_access_ms = now_ms;
}

uint64_t mem_not_counted_for_evict(Broker& broker, int64_t now_ms) {
  return not_counted_bytes(broker, now_ms, kStreamBytesRefreshMs);
}

uint64_t memory_for_eviction(Broker& broker, int64_t now_ms) {
  return counted_bytes(broker, now_ms, kStreamBytesRefreshMs);
}

EvictResult perform_evictions(Broker& broker, int64_t now_ms, bool unlimited) {
  const auto& cfg = broker.config();
  note_peak_memory();
  if (cfg.maxmemory == 0) return EvictResult::kOk;
  uint64_t used = memory_for_eviction(broker, now_ms);
  if (used <= cfg.maxmemory) return EvictResult::kOk;
  // Over by the cached figure: streams may have grown since (a burst of XADD), so look again
  // (at most once per millisecond) before evicting or refusing anything.
  used = counted_bytes(broker, now_ms, 1);
  if (used <= cfg.maxmemory) return EvictResult::kOk;
  const PolicyChoice pc = parse_policy(cfg.maxmemory_policy);
  if (pc.policy == Policy::kNoEviction) return EvictResult::kFail;
  const uint64_t limit_us = unlimited ? std::numeric_limits<uint64_t>::max()
                                      : time_limit_us(cfg.maxmemory_eviction_tenacity);
  const auto start = std::chrono::steady_clock::now();
  uint64_t evicted = 0;
  std::string key;
  while (used > cfg.maxmemory) {
    int db = 0;
    if (!pick_key(broker, broker.eviction, pc, now_ms, &db, &key)) return EvictResult::kFail;
    broker.delete_key(db, key);
    broker.notify('e', "evicted", key, db);
    if (broker.key_removed) broker.key_removed(db, key);
    ++broker.stats().evicted_keys;
    ++evicted;
    used = counted_bytes(broker, now_ms, 1);
    if (evicted % 16 == 0 && used > cfg.maxmemory) {
      const auto spent = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - start);
      if (static_cast<uint64_t>(spent.count()) >= limit_us) return EvictResult::kRunning;
    }
  }
  return EvictResult::kOk;
}

}  // namespace sluice::core
