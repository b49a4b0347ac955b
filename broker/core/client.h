// Client: everything the command layer knows about one connection, without libuv. The server's
// Connection owns a Client and implements ClientHost so engines can wake it (blocked reads,
// pub/sub deliveries) or ask for it to be closed.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "broker/core/output_queue.h"

namespace sluice::acl {
class User;
}

namespace sluice::core {

class Client;

class ClientHost {
 public:
  virtual ~ClientHost() = default;
  // New output was queued for the client outside of its own command (a wake-up, a message).
  virtual void output_ready(Client& client) = 0;
  // Close the connection soon, from the loop, never in the middle of a fan-out.
  virtual void close_soon(Client& client) = 0;
  // A blocked client became unblocked: resume processing its pipelined input.
  virtual void unblocked(Client& client) = 0;
  // CLIENT LIST's qbuf and qbuf-free, as Redis 7.0 reports them: the query buffer's bytes
  // (while the client's own command runs, from the start of what was read with it; otherwise
  // the unparsed rest, the arguments of a partial command already taken out) and its free
  // space. Clients without a connection have none.
  struct QueryBuffer {
    size_t used = 0;
    size_t free = 0;
  };
  virtual QueryBuffer query_buffer() const { return {}; }
};

enum class ReplyMode : uint8_t { kOn, kOff, kSkip };

// Output produced on demand, as the socket drains (a replica's full sync reads its files this
// way): the connection calls refill() before writing whenever little is queued, and keeps
// writing asynchronously while a source is attached. refill() appends to client.out and, once
// it has nothing more, detaches itself (client.out_source = nullptr) as its last action.
class OutputSource {
 public:
  virtual ~OutputSource() = default;
  virtual void refill(Client& client) = 0;
};

class Client {
 public:
  Client(uint64_t client_id, ClientHost* client_host) : id(client_id), host(client_host) {}

  const uint64_t id;
  ClientHost* const host;

  OutputQueue out;
  int protocol = 2;
  int db = 0;
  // Connections set it when accepted (the default user needs no password, or not); clients made
  // in-process (tests, the script client) start logged in as the default user.
  bool authenticated = true;
  // The ACL user the client runs as (acl/); null means the default user.
  acl::User* user = nullptr;
  bool close_after_reply = false;
  ReplyMode reply_mode = ReplyMode::kOn;
  bool no_evict = false;
  bool no_touch = false;
  std::string name;
  std::string lib_name;
  std::string lib_ver;
  std::string addr;   // "ip:port" of the peer
  std::string laddr;  // "ip:port" of our socket
  int fd = -1;
  int64_t created_ms = 0;
  int64_t last_interaction_ms = 0;
  // The name of the command it runs or ran last: a view of its spec's name (the command table
  // lives as long as the process), so setting it on every command copies nothing.
  std::string_view last_command = "NULL";
  uint64_t commands_processed = 0;
  // While a command runs: the buffers some of its arguments view (big bulks the connection
  // received whole, or a queued transaction's arguments), which the command may keep instead
  // of copying (take_owned_arg).
  std::span<std::string> owned_args;

  // Pub/Sub subscriptions (pubsub/ keeps the reverse index).
  std::set<std::string> channels;
  std::set<std::string> patterns;
  std::set<std::string> shard_channels;
  size_t subscription_count() const {
    return channels.size() + patterns.size() + shard_channels.size();
  }
  bool is_pubsub_client() const { return subscription_count() > 0; }

  // MULTI/EXEC state (kv/transaction.*).
  bool in_multi = false;
  bool multi_error = false;  // a queued command was rejected: EXECABORT
  bool watch_dirty = false;  // a watched key changed: EXEC returns nil
  std::vector<std::vector<std::string>> multi_queue;
  std::vector<std::pair<int, std::string>> watched_keys;  // (db, key)

  // The fake client a Lua script runs its commands on (scripting/): it is never blocked, never
  // listed by CLIENT LIST, and its commands act as non-blocking.
  bool script = false;

  // Replication: the connection this replica applies its master's stream on (no replies, no
  // read-only check), or a replica attached to this master (it gets the stream).
  bool master = false;
  bool replica = false;
  int replica_port = 0;                // REPLCONF listening-port
  std::string replica_ip;              // REPLCONF ip-address
  OutputSource* out_source = nullptr;  // see OutputSource

  // Blocking state (blocking/).
  bool blocked = false;
  uint64_t blocked_waiter = 0;

  // Cold reads (commands/cold_read.h): the command that waits for stream history to be read
  // into the page cache off the loop thread, to run again then (blocked is set meanwhile, so
  // the client's further input waits too), and how many times in a row it waited.
  bool reading_cold = false;
  std::vector<std::string> cold_argv;
  uint32_t cold_rounds = 0;

  // MONITOR: every command any client runs is shown to this client (Broker::monitors).
  bool monitor = false;
  // CLIENT PAUSE: a command this client sent while the server was paused, to run at unpause
  // (blocked is set meanwhile, so its further input waits too).
  bool paused = false;
  std::vector<std::string> postponed;

  // CLIENT TRACKING (server-assisted client-side caching, core/tracking.h).
  struct Tracking {
    bool on = false;
    bool bcast = false;
    bool optin = false;
    bool optout = false;
    bool noloop = false;
    bool caching = false;  // CLIENT CACHING yes|no given for the next command
    bool broken_redirect = false;
    uint64_t redirect = 0;              // 0 = invalidations go to this connection (RESP3)
    std::vector<std::string> prefixes;  // BCAST
  } tracking;

  // Output buffer limit bookkeeping: when the soft limit was first exceeded (0 = not now).
  int64_t obl_soft_since_ms = 0;
};

// Moves the bytes of argument `arg` into *out when it views one of client.owned_args of at
// least kTakeMinBytes (a heap buffer: `arg` keeps viewing the same bytes, now owned by *out).
// False otherwise: the caller copies.
inline constexpr size_t kTakeMinBytes = 4096;
inline bool take_owned_arg(Client& client, std::string_view arg, std::string* out) {
  if (arg.size() < kTakeMinBytes) return false;
  for (std::string& buf : client.owned_args) {
    if (buf.data() == arg.data() && buf.size() == arg.size()) {
      *out = std::move(buf);
      buf = std::string();
      return true;
    }
  }
  return false;
}

}  // namespace sluice::core
