#include "broker/core/tracking.h"

#include <algorithm>

#include "broker/core/broker.h"
#include "wire/resp/reply_writer.h"

namespace sluice::core {
namespace {
constexpr std::string_view kInvalidateChannel = "__redis__:invalidate";
}

void Tracking::enable(Client& c, uint64_t redirect, bool bcast, bool optin, bool optout,
                      bool noloop, const std::vector<std::string>& prefixes) {
  auto& t = c.tracking;
  if (!t.on) ++tracking_clients_;
  t.on = true;
  t.broken_redirect = false;
  t.redirect = redirect;
  t.bcast = bcast;
  t.optin = optin;
  t.optout = optout;
  t.noloop = noloop;
  if (!bcast) return;
  auto add = [&](const std::string& p) {
    prefixes_[p].clients.insert(c.id);
    if (std::find(t.prefixes.begin(), t.prefixes.end(), p) == t.prefixes.end()) {
      t.prefixes.push_back(p);
    }
  };
  if (prefixes.empty()) add(std::string());
  for (const auto& p : prefixes) add(p);
}

void Tracking::disable(Client& c) {
  auto& t = c.tracking;
  if (!t.on) return;
  for (const auto& p : t.prefixes) {
    auto it = prefixes_.find(p);
    if (it == prefixes_.end()) continue;
    it->second.clients.erase(c.id);
    if (it->second.clients.empty()) prefixes_.erase(it);
  }
  t = Client::Tracking{};
  --tracking_clients_;
}

void Tracking::remember(Client& c, std::span<const std::string_view> keys) {
  const auto& t = c.tracking;
  if ((t.optin && !t.caching) || (t.optout && t.caching)) return;
  for (std::string_view k : keys) {
    auto it = table_.find(std::string(k));
    if (it == table_.end())
      it = table_.emplace(std::string(k), std::unordered_set<uint64_t>{}).first;
    if (it->second.insert(c.id).second) ++table_items_;
  }
  // Over tracking-table-max-keys: forget keys, telling their clients as if the keys changed
  // (Redis evicts random keys; any key will do).
  const auto max =
      static_cast<size_t>(std::max<int64_t>(0, broker_.config().tracking_table_max_keys));
  while (max > 0 && table_.size() > max) {
    std::string key = table_.begin()->first;
    forget(key, nullptr);
  }
}

void Tracking::invalidate(std::string_view key, Client* current) {
  if (!prefixes_.empty()) {
    for (auto& [prefix, p] : prefixes_) {
      if (key.substr(0, prefix.size()) != prefix) continue;
      p.keys[std::string(key)] = current ? current->id : 0;
      broadcast_dirty_ = true;
    }
  }
  if (!table_.empty()) forget(key, current);
}

void Tracking::forget(std::string_view key, Client* current) {
  auto it = table_.find(std::string(key));
  if (it == table_.end()) return;
  std::unordered_set<uint64_t> ids = std::move(it->second);
  table_.erase(it);
  table_items_ -= ids.size();
  std::vector<std::string_view> one{key};
  for (uint64_t id : ids) {
    Client* target = broker_.find_client(id);
    if (!target || !target->tracking.on || target->tracking.bcast) continue;
    if (target == current) {
      // Its command's reply goes first (flush_pending); NOLOOP drops it altogether.
      if (!target->tracking.noloop) pending_.emplace_back(std::string(key));
      continue;
    }
    send(*target, &one);
  }
}

void Tracking::invalidate_all(Client* current) {
  for (const auto& [id, c] : broker_.clients()) {
    if (!c->tracking.on) continue;
    if (c == current) {
      pending_.emplace_back(std::nullopt);
    } else {
      send(*c, nullptr);
    }
  }
  table_.clear();
  table_items_ = 0;
}

void Tracking::flush_pending(Client& current) {
  std::vector<std::optional<std::string>> pending;
  pending.swap(pending_);
  for (const auto& k : pending) {
    if (!current.tracking.on) break;
    if (k) {
      std::vector<std::string_view> one{*k};
      send(current, &one);
    } else {
      send(current, nullptr);
    }
  }
}

void Tracking::broadcast() {
  broadcast_dirty_ = false;
  std::vector<std::string_view> keys;
  for (auto& [prefix, p] : prefixes_) {
    if (p.keys.empty()) continue;
    for (uint64_t id : p.clients) {
      Client* c = broker_.find_client(id);
      if (!c) continue;
      keys.clear();
      for (const auto& [k, writer] : p.keys) {
        if (c->tracking.noloop && writer == c->id) continue;
        keys.push_back(k);
      }
      if (!keys.empty()) send(*c, &keys);
    }
    p.keys.clear();
  }
}

void Tracking::send(Client& c, const std::vector<std::string_view>* keys) {
  Client* target = &c;
  bool redirected = false;
  if (c.tracking.redirect != 0) {
    target = broker_.find_client(c.tracking.redirect);
    if (!target) {
      // The redirect target went away: a RESP3 client is told, once per message, as in Redis.
      c.tracking.broken_redirect = true;
      if (c.protocol > 2) {
        wire::resp::ReplyWriter w(c.out.staging(), c.protocol);
        w.push(2);
        w.bulk("tracking-redir-broken");
        w.integer(static_cast<int64_t>(c.tracking.redirect));
        c.host->output_ready(c);
      }
      return;
    }
    redirected = true;
  }
  // RESP2 has no push: only a redirect target in Pub/Sub mode can take the message.
  if (target->protocol <= 2 && !(redirected && target->is_pubsub_client())) return;
  write_message(*target, keys);
}

void Tracking::write_message(Client& target, const std::vector<std::string_view>* keys) {
  wire::resp::ReplyWriter w(target.out.staging(), target.protocol);
  if (target.protocol > 2) {
    w.push(2);
    w.bulk("invalidate");
  } else {
    w.array(3);
    w.bulk("message");
    w.bulk(kInvalidateChannel);
  }
  if (keys) {
    w.array(keys->size());
    for (std::string_view k : *keys) w.bulk(k);
  } else {
    w.null();
  }
  if (target.host) target.host->output_ready(target);
}

}  // namespace sluice::core
