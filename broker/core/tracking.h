// Server-assisted client-side caching (CLIENT TRACKING), as Redis's tracking.c behaves: the keys
// each tracking client read (by key name, over all databases), the BCAST prefixes, and the
// invalidation messages sent when such a key changes — a RESP3 `invalidate` push, or through
// REDIRECT a Pub/Sub message on `__redis__:invalidate` for a RESP2 subscriber. Broker::key_modified
// calls invalidate() for every write, expiry and deletion, whoever made it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/core/client.h"

namespace sluice::core {

class Broker;

class Tracking {
 public:
  explicit Tracking(Broker& broker) : broker_(broker) {}

  // CLIENT TRACKING on: sets the client's mode (the caller validated the options). BCAST with
  // no prefix tracks every key (the empty prefix).
  void enable(Client& c, uint64_t redirect, bool bcast, bool optin, bool optout, bool noloop,
              const std::vector<std::string>& prefixes);
  void disable(Client& c);
  // After a read-only command of a tracking client: remembers the keys it read (OPTIN/OPTOUT
  // and CLIENT CACHING decide whether this command counts).
  void remember(Client& c, std::span<const std::string_view> keys);
  // A key changed: clients that read it are told (and forgotten), BCAST prefixes matching it
  // collect it for broadcast(). `current` is the client whose command made the change.
  void invalidate(std::string_view key, Client* current);
  // FLUSHDB/FLUSHALL: every tracking client gets a null invalidation; the table empties.
  void invalidate_all(Client* current);
  // Invalidations caused by `current`'s own command go after its reply.
  void flush_pending(Client& current);
  bool has_pending() const { return !pending_.empty(); }
  // Sends what the BCAST prefixes collected (once per loop iteration, before replies go out).
  void broadcast();
  bool has_broadcast() const { return broadcast_dirty_; }
  // A client went away: drops its BCAST registrations.
  void remove_client(Client& c) {
    if (c.tracking.on) disable(c);
  }

  // Whether a write may concern anyone (Broker::key_modified's fast path).
  bool active() const { return !table_.empty() || !prefixes_.empty(); }

  // INFO: tracking_clients, tracking_total_keys/_items/_prefixes.
  size_t tracking_clients() const { return tracking_clients_; }
  size_t table_keys() const { return table_.size(); }
  size_t table_items() const { return table_items_; }
  size_t prefix_count() const { return prefixes_.size(); }

  // Whether `a` and `b` overlap (one is a prefix of the other), for CLIENT TRACKING's check.
  static bool overlap(std::string_view a, std::string_view b) {
    return a.size() <= b.size() ? b.substr(0, a.size()) == a : a.substr(0, b.size()) == b;
  }

 private:
  struct Prefix {
    std::unordered_set<uint64_t> clients;
    std::map<std::string, uint64_t, std::less<>> keys;  // key -> id of the client that wrote it
  };
  // Sends one invalidation to `c` (or its redirect target): the keys, or null for a flush.
  void send(Client& c, const std::vector<std::string_view>* keys);
  void write_message(Client& target, const std::vector<std::string_view>* keys);
  // Drops `key` from the table and sends its invalidation to the clients that read it.
  void forget(std::string_view key, Client* current);

  Broker& broker_;
  std::unordered_map<std::string, std::unordered_set<uint64_t>> table_;
  std::map<std::string, Prefix, std::less<>> prefixes_;
  bool broadcast_dirty_ = false;
  size_t tracking_clients_ = 0;
  size_t table_items_ = 0;                           // (key, client) pairs in table_
  std::vector<std::optional<std::string>> pending_;  // nullopt: a flush
};

}  // namespace sluice::core
