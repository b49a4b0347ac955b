// BlockingRegistry: clients parked by blocking reads (XREAD/XREADGROUP BLOCK), FIFO per key,
// with deadlines. A write signals its key; before the next poll the registry retries the
// waiters of each signalled key in arrival order (only those queued when the pass began, as
// Redis bounds each pass). A waiter leaves every key when it is served, times out, or its
// client disconnects — a waiter that disconnects consumed nothing, so nothing is lost.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/core/client.h"

namespace sluice::blocking {

class BlockingRegistry {
 public:
  enum class Wake { kSignal, kTimeout };
  // Called to retry a parked command for the signalled `key` (empty on timeout). Returns true
  // when it wrote the client's reply (served); false keeps it waiting. On kTimeout it must write
  // the timeout reply and return true.
  using Retry = std::function<bool(core::Client& client, Wake why, std::string_view key)>;

  // Parks `client` on (db, keys) until served or deadline_ms (0 = wait forever).
  void block(core::Client& client, int db, const std::vector<std::string>& keys,
             int64_t deadline_ms, Retry retry);
  // New data (or deletion) on a key: its waiters are retried before the next poll.
  void signal(int db, std::string_view key);
  // Every key of database `db` that has waiters (SWAPDB brought new values under them).
  void signal_db(int db);
  // Retries waiters of signalled keys. Returns the number of clients served.
  size_t serve_ready();
  // Times out waiters whose deadline passed.
  size_t expire(int64_t now_ms);
  // The earliest deadline, or 0 when none.
  int64_t next_deadline() const;
  // Drops a client's waiter (disconnect). No reply is written.
  void remove(core::Client& client);
  // Serves a client's waiter as timed out now (CLIENT UNBLOCK); false if not blocked.
  bool unblock_now(core::Client& client);
  size_t blocked_clients() const { return waiters_.size(); }
  bool has_ready() const { return !ready_.empty(); }
  // Drops every waiter (DEBUG RELOAD): each is served as timed out.
  void clear();

 private:
  struct Waiter {
    uint64_t id;
    core::Client* client;
    int db;
    std::vector<std::string> keys;
    int64_t deadline_ms;
    Retry retry;
  };
  using KeyId = std::pair<int, std::string>;
  struct KeyHash {
    size_t operator()(const KeyId& k) const {
      return std::hash<std::string>{}(k.second) ^
             (static_cast<size_t>(k.first) * 0x9e3779b97f4a7c15ull);
    }
  };
  void finish(uint64_t waiter_id);

  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Waiter> waiters_;
  std::unordered_map<KeyId, std::list<uint64_t>, KeyHash> by_key_;
  std::multimap<int64_t, uint64_t> deadlines_;
  std::vector<KeyId> ready_;
};

}  // namespace sluice::blocking
