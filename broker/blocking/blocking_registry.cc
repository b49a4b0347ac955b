#include "broker/blocking/blocking_registry.h"

#include <algorithm>

namespace sluice::blocking {

void BlockingRegistry::block(core::Client& client, int db, const std::vector<std::string>& keys,
                             int64_t deadline_ms, Retry retry) {
  uint64_t id = ++next_id_;
  Waiter w{id, &client, db, keys, deadline_ms, std::move(retry)};
  for (const auto& k : keys) by_key_[{db, k}].push_back(id);
  if (deadline_ms > 0) deadlines_.emplace(deadline_ms, id);
  waiters_.emplace(id, std::move(w));
  client.blocked = true;
  client.blocked_waiter = id;
}

void BlockingRegistry::signal(int db, std::string_view key) {
  if (by_key_.empty()) return;
  KeyId k{db, std::string(key)};
  if (by_key_.find(k) == by_key_.end()) return;
  if (std::find(ready_.begin(), ready_.end(), k) == ready_.end()) ready_.push_back(std::move(k));
}

void BlockingRegistry::signal_db(int db) {
  for (const auto& [k, ids] : by_key_) {
    if (k.first == db && std::find(ready_.begin(), ready_.end(), k) == ready_.end()) {
      ready_.push_back(k);
    }
  }
}

void BlockingRegistry::finish(uint64_t waiter_id) {
  auto it = waiters_.find(waiter_id);
  if (it == waiters_.end()) return;
  Waiter& w = it->second;
  for (const auto& k : w.keys) {
    auto kit = by_key_.find({w.db, k});
    if (kit == by_key_.end()) continue;
    kit->second.remove(waiter_id);
    if (kit->second.empty()) by_key_.erase(kit);
  }
  if (w.deadline_ms > 0) {
    auto range = deadlines_.equal_range(w.deadline_ms);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == waiter_id) {
        deadlines_.erase(d);
        break;
      }
    }
  }
  w.client->blocked = false;
  w.client->blocked_waiter = 0;
  waiters_.erase(it);
}

size_t BlockingRegistry::serve_ready() {
  size_t served = 0;
  // Keys signalled while serving (a served XREADGROUP may write) are handled in the next pass.
  while (!ready_.empty()) {
    std::vector<KeyId> keys;
    keys.swap(ready_);
    for (const auto& k : keys) {
      auto kit = by_key_.find(k);
      if (kit == by_key_.end()) continue;
      std::vector<uint64_t> snapshot(kit->second.begin(), kit->second.end());
      for (uint64_t id : snapshot) {
        auto it = waiters_.find(id);
        if (it == waiters_.end()) continue;
        core::Client* client = it->second.client;
        Retry retry = it->second.retry;  // the waiter may be erased by finish()
        if (retry(*client, Wake::kSignal, k.second)) {
          finish(id);
          ++served;
          client->host->unblocked(*client);
        }
      }
    }
  }
  return served;
}

size_t BlockingRegistry::expire(int64_t now_ms) {
  size_t n = 0;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ms) {
    uint64_t id = deadlines_.begin()->second;
    auto it = waiters_.find(id);
    if (it == waiters_.end()) {
      deadlines_.erase(deadlines_.begin());
      continue;
    }
    core::Client* client = it->second.client;
    Retry retry = it->second.retry;
    retry(*client, Wake::kTimeout, {});
    finish(id);
    ++n;
    client->host->unblocked(*client);
  }
  return n;
}

int64_t BlockingRegistry::next_deadline() const {
  return deadlines_.empty() ? 0 : deadlines_.begin()->first;
}

void BlockingRegistry::remove(core::Client& client) {
  if (client.blocked) finish(client.blocked_waiter);
}

bool BlockingRegistry::unblock_now(core::Client& client) {
  if (!client.blocked) return false;
  auto it = waiters_.find(client.blocked_waiter);
  if (it == waiters_.end()) return false;
  Retry retry = it->second.retry;
  retry(client, Wake::kTimeout, {});
  finish(client.blocked_waiter);
  client.host->unblocked(client);
  return true;
}

void BlockingRegistry::clear() {
  std::vector<uint64_t> ids;
  for (const auto& [id, w] : waiters_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    core::Client* client = it->second.client;
    Retry retry = it->second.retry;
    retry(*client, Wake::kTimeout, {});
    finish(id);
    client->host->unblocked(*client);
  }
  ready_.clear();
}

}  // namespace sluice::blocking
