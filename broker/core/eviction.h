// Eviction under maxmemory, after Redis's evict.c. Before a command runs (the dispatcher) and
// when CONFIG SET lowers maxmemory, perform_evictions() removes keys chosen by
// maxmemory-policy until the memory that counts (used_memory() minus the in-RAM part of streams,
// INFO mem_not_counted_for_evict) is within maxmemory:
//
//   *-lru     the key idle longest among sampled ones (last_access_ms)
//   *-lfu     the key with the lowest LFU counter among sampled ones (Redis's logarithmic
//             counter, incremented with probability 1/((counter-5)*lfu-log-factor+1) per access,
//             decremented by one per lfu-decay-time minutes without access)
//   *-random  a random key
//   volatile-ttl  the key whose TTL ends first (exact: the TTL heap's top)
//
// allkeys-* choose among every key, volatile-* among keys with a TTL only. LRU and LFU sample
// maxmemory-samples keys of each database into a pool of the 16 best candidates kept across
// calls, as Redis does. Stream keys are never candidates: their entries live on disk and their
// RAM is not counted. A key is evicted through the same path as DEL (journaled, so it stays gone
// after a restart; WATCH touched; blocked clients signalled) and the keyspace event "evicted".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/object.h"

namespace sluice::core {

class Broker;

// Redis's LFU_INIT_VAL: the counter of a new key.
inline constexpr uint8_t kLfuInitVal = 5;

// Whether the policy keeps LFU counters (OBJECT FREQ works; OBJECT IDLETIME does not).
bool lfu_policy(const config::Config& cfg);
// The key's LFU counter after decay at `now_ms` (OBJECT FREQ); the object is not changed.
uint8_t lfu_decayed(const Object& obj, int64_t now_ms, int64_t decay_minutes);
// An access by a command: under an LFU policy the counter decays, then maybe grows; the access
// time is stamped.
void note_access(Object& obj, int64_t now_ms, const config::Config& cfg);

enum class EvictResult : uint8_t {
  kOk,       // within maxmemory (or no limit)
  kRunning,  // keys were evicted but the time budget ran out first: the next command goes on
  kFail,     // over maxmemory and nothing (more) can be evicted: denyoom commands get -OOM
};

// The eviction pool and round-robin state kept between calls (one per broker).
struct EvictionState {
  struct Candidate {
    uint64_t score = 0;  // higher = better to evict
    int db = 0;
    std::string key;
  };
  std::vector<Candidate> pool;  // ascending by score, at most kPoolSize
  unsigned next_db = 0;         // the random policies' round robin
  uint64_t stream_bytes = 0;    // streams' RAM at stream_bytes_ms (refreshed every 100 ms)
  int64_t stream_bytes_ms = -1;
  bool over_limit_before_command = false;  // the last check found no room (scripts, EXEC)
};

// Memory that counts against maxmemory.
uint64_t memory_for_eviction(Broker& broker, int64_t now_ms);
// Bytes of used_memory() that do not count (streams' in-RAM part).
uint64_t mem_not_counted_for_evict(Broker& broker, int64_t now_ms);
// Evicts until within maxmemory. `unlimited` ignores the tenacity time budget (CONFIG SET).
EvictResult perform_evictions(Broker& broker, int64_t now_ms, bool unlimited = false);

}  // namespace sluice::core
