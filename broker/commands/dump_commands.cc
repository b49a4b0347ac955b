// DUMP, RESTORE and RESTORE-ASKING: values serialised in Redis's RDB object format
// (kv/rdb_codec.h, kv/rdb_stream.h), so payloads move between redis-server 7.0 and Sluice both
// ways. A restored value is journaled whole, as a snapshot would write it; a restored stream is
// appended entry by entry to a new log, and its groups are journaled as XGROUP CREATE and
// deliveries would be.
//
// MIGRATE sends DUMP payloads to another server as RESTORE commands over a connection of its
// own, as Redis 7.0 does, and like Redis it waits for the target on the event loop (each
// connect, write and read bounded by the timeout argument): the command is atomic for this
// server's clients, which wait meanwhile. Unlike Redis it does not keep the connection for the
// next MIGRATE (each one connects, sends SELECT, and closes).
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/list_support.h"
#include "broker/commands/replication_effects.h"
#include "broker/commands/set_support.h"
#include "broker/commands/zset_support.h"
#include "broker/core/eviction.h"
#include "broker/kv/rdb_codec.h"
#include "broker/kv/rdb_stream.h"
#include "broker/replication/replication.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

// A stream's entries (read from its log), metadata and groups, by value for the codec.
wire::Result<kv::RdbStream> describe_stream(const stream::Stream& s) {
  kv::RdbStream out;
  std::vector<std::string_view> fields;
  bool parsed = true;
  wire::Status st = s.range(wire::StreamId::min(), wire::StreamId::max(), false, 0,
                            [&](wire::StreamId id, std::string_view resp) {
                              fields.clear();
                              parsed = stream::entry_fields(resp, &fields);
                              if (!parsed) return false;
                              out.entries.push_back({id, {fields.begin(), fields.end()}});
                              return true;
                            });
  if (!st) return st;
  if (!parsed) return wire::Status(wire::ErrorCode::kCorruption, "unreadable stream entry");
  out.length = out.entries.size();
  out.last_id = s.last_id();
  out.first_id = s.first_id();
  out.max_deleted_id = s.max_deleted_id();
  out.entries_added = s.entries_added();
  for (const auto& [name, g] : s.groups) {
    kv::RdbStream::Group group{name, g->last_delivered_id, g->entries_read, {}, {}};
    for (const auto& [id, p] : g->pel.entries()) {
      group.pel.push_back({id, p.delivery_time_ms, p.delivery_count});
    }
    for (const auto& [cname, c] : g->consumers) {
      group.consumers.push_back({cname, c->seen_time_ms, {c->pending.begin(), c->pending.end()}});
    }
    out.groups.push_back(std::move(group));
  }
  return out;
}

// The DUMP payload of a value (streams read their entries from the log).
wire::Result<std::string> dump_payload(const core::Object& obj) {
  if (obj.type() == core::ObjectType::kStream) {
    auto described = describe_stream(static_cast<const stream::Stream&>(obj));
    if (!described) return described.status();
    return kv::rdb_dump_stream(*described);
  }
  return kv::rdb_dump(obj);
}

void dump(CommandContext& ctx) {
  core::Object* obj = lookup_read(ctx, ctx.arg(1));
  if (!obj) return ctx.reply.null();
  auto payload = dump_payload(*obj);
  if (!payload) return ctx.error(payload.status());
  ctx.reply.bulk(*payload);
}

struct RestoreOptions {
  bool replace = false;
  bool absttl = false;
  int64_t idle_seconds = -1;  // IDLETIME, -1 = not given
  int64_t freq = -1;          // FREQ, -1 = not given
};

// Redis parses the options before it looks at the key, the TTL or the payload; IDLETIME and FREQ
// exclude each other.
bool parse_restore_options(CommandContext& ctx, RestoreOptions* opt) {
  for (size_t i = 4; i < ctx.argc(); ++i) {
    std::string_view a = ctx.arg(i);
    const bool more = i + 1 < ctx.argc();
    if (iequals(a, "REPLACE")) {
      opt->replace = true;
    } else if (iequals(a, "ABSTTL")) {
      opt->absttl = true;
    } else if (iequals(a, "IDLETIME") && more && opt->freq == -1) {
      if (!int_arg(ctx, ctx.arg(++i), &opt->idle_seconds)) return false;
      if (opt->idle_seconds < 0) {
        ctx.error_text("ERR Invalid IDLETIME value, must be >= 0");
        return false;
      }
    } else if (iequals(a, "FREQ") && more && opt->idle_seconds == -1) {
      if (!int_arg(ctx, ctx.arg(++i), &opt->freq)) return false;
      if (opt->freq < 0 || opt->freq > 255) {
        ctx.error_text("ERR Invalid FREQ value, must be >= 0 and <= 255");
        return false;
      }
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  return true;
}

// The groups of a restored stream, in memory and in its group journal: each group, its
// consumers, and each pending entry delivered to its owner with its time and count.
wire::Status restore_groups(stream::Stream& s, const kv::RdbStream& rs) {
  wire::Status st;
  auto store = stream::group_store(s, &st);
  if (!store) return st;
  for (const kv::RdbStream::Group& rg : rs.groups) {
    auto owned = std::make_unique<stream::ConsumerGroup>(rg.name);
    stream::ConsumerGroup& g = *owned;
    g.last_delivered_id = rg.last_delivered_id;
    g.entries_read = rg.entries_read;
    s.groups.emplace(g.name, std::move(owned));
    if (!(st = store->group_state(g, true))) return st;
    std::map<wire::StreamId, const kv::RdbStream::Pending*> pel;
    for (const kv::RdbStream::Pending& p : rg.pel) pel.emplace(p.id, &p);
    for (const kv::RdbStream::Consumer& rc : rg.consumers) {
      bool created = false;
      stream::Consumer* c = g.ensure_consumer(rc.name, rc.seen_time_ms, &created);
      if (!(st = store->consumer_seen(g, *c))) return st;
      for (const wire::StreamId& id : rc.pending) {
        const kv::RdbStream::Pending& p = *pel.at(id);
        g.pel.assign(id, c, p.delivery_time_ms, p.delivery_count);
        st = store->deliver(g, *c, p.delivery_time_ms, std::span(&id, 1),
                            std::span(&p.delivery_count, 1), false);
        if (!st) return st;
      }
    }
  }
  return st;
}

// A new stream at (db, key) holding a restored stream's entries, metadata and groups; nullptr
// (error replied) when the engine fails.
std::unique_ptr<core::Object> build_stream(CommandContext& ctx, int db, std::string_view key,
                                           const kv::RdbStream& rs) {
  auto created = ctx.broker.streams().create(db, key);
  if (!created) {
    ctx.error(created.status());
    return nullptr;
  }
  stream::Stream& dst = **created;
  wire::Status st;
  std::vector<std::string_view> fields;
  for (const kv::RdbStream::Entry& e : rs.entries) {
    fields.assign(e.fields.begin(), e.fields.end());
    if (!(st = dst.append(e.id, fields))) break;
  }
  if (st) st = dst.set_id(rs.last_id, rs.entries_added, rs.max_deleted_id);
  if (st && !rs.groups.empty()) st = restore_groups(dst, rs);
  if (!st) {
    ctx.broker.streams().destroy(std::move(*created));
    ctx.error(st);
    return nullptr;
  }
  ctx.broker.streams().mark_dirty(dst);
  return std::move(*created);
}

void restore(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  std::string_view payload = ctx.arg(3);
  const int db = ctx.client.db;
  RestoreOptions opt;
  if (!parse_restore_options(ctx, &opt)) return;
  if (!opt.replace && lookup_write(ctx, key)) {
    return ctx.error_text("BUSYKEY Target key name already exists.");
  }
  int64_t ttl = 0;
  if (!int_arg(ctx, ctx.arg(2), &ttl)) return;
  if (ttl < 0) return ctx.error_text("ERR Invalid TTL value, must be >= 0");

  std::unique_ptr<core::Object> fresh;
  std::optional<kv::RdbStream> stream_value;
  if (kv::rdb_payload_is_stream(payload)) {
    auto loaded = kv::rdb_restore_stream(payload);
    if (!loaded) return ctx.error(loaded.status());
    stream_value = std::move(*loaded);
  } else {
    kv::RdbLoadLimits limits;
    limits.list = list_limits(ctx.broker);
    limits.set_max_intset_entries = intset_limit(ctx);
    limits.zset = zset_limits(ctx.broker);
    limits.hash = kv::hash_limits(ctx.broker.config());
    auto loaded = kv::rdb_restore(payload, limits);
    if (!loaded) return ctx.error(loaded.status());
    fresh = std::move(*loaded);
  }

  if (ttl != 0 && !opt.absttl) {
    ttl = ttl > std::numeric_limits<int64_t>::max() - ctx.now_ms
              ? std::numeric_limits<int64_t>::max()
              : ttl + ctx.now_ms;
  }
  if (ttl != 0 && ttl <= ctx.now_ms) {
    // Already expired: the value is dropped, but REPLACE still deletes what the key held.
    if (opt.replace && delete_key(ctx, db, key)) {
      kv_written(ctx, key);
      ctx.broker.notify('g', "del", key, db);
    }
    return ctx.reply.ok();
  }
  if (stream_value && !(fresh = build_stream(ctx, db, key, *stream_value))) return;

  core::Object* stored = replace_key(ctx, db, key, std::move(fresh));
  if (!stream_value) ctx.broker.kv().record_value(db, key, *stored);
  if (ttl != 0) set_ttl(ctx, db, key, *stored, ttl);
  // As Redis's objectSetLRUOrLFU: FREQ sets the LFU counter under an LFU policy, IDLETIME
  // back-dates the access time under any other; the option the policy does not use is ignored.
  if (core::lfu_policy(ctx.broker.config())) {
    if (opt.freq >= 0) {
      stored->lfu_counter = static_cast<uint8_t>(opt.freq);
      stored->last_access_ms = ctx.now_ms;
    }
  } else if (opt.idle_seconds > 0) {
    const int64_t idle_ms = std::min(opt.idle_seconds, ctx.now_ms / 1000) * 1000;
    stored->last_access_ms = std::max<int64_t>(1, ctx.now_ms - idle_ms);
  }
  kv_written(ctx, key);
  ctx.broker.notify('g', "restore", key, db);
  ctx.reply.ok();
}

// ---- MIGRATE ----

// A blocking connection to the target; every step waits at most the MIGRATE timeout.
class TargetLink {
 public:
  explicit TargetLink(int timeout_ms) : timeout_ms_(timeout_ms) {}
  ~TargetLink() {
    if (fd_ >= 0) ::close(fd_);
  }
  TargetLink(const TargetLink&) = delete;
  TargetLink& operator=(const TargetLink&) = delete;

  // As Redis's blocking connect: false if the address does not resolve, the socket cannot be
  // made or the connect neither completes nor fails within the timeout. A connect that is
  // refused later shows as a failed write, as it does in Redis.
  bool connect(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return false;
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
    fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (::connect(fd_, found->ai_addr, found->ai_addrlen) == 0) return true;
    if (errno != EINPROGRESS) return true;  // reported by the first write
    return wait(POLLOUT);
  }

  bool write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLOUT)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  // One reply line without its CRLF (the replies MIGRATE reads are all one line).
  bool read_line(std::string* line) {
    line->clear();
    while (true) {
      size_t nl = buffered_.find('\n');
      if (nl != std::string::npos) {
        *line = buffered_.substr(0, nl);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        buffered_.erase(0, nl + 1);
        return true;
      }
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffered_.append(chunk, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLIN)) return false;
      } else {
        return false;
      }
    }
  }

 private:
  bool wait(short events) {
    pollfd p{fd_, events, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, timeout_ms_);
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
  }

  int fd_ = -1;
  int timeout_ms_;
  std::string buffered_;
};

void append_command(std::string* out, std::initializer_list<std::string_view> args) {
  *out += '*' + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    *out += '$' + std::to_string(a.size()) + "\r\n";
    out->append(a);
    *out += "\r\n";
  }
}

// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
//   [AUTH2 username password] [KEYS key [key ...]]
void migrate(CommandContext& ctx) {
  bool copy = false, replace = false;
  std::optional<std::string_view> user, password;
  size_t first_key = 3, num_keys = 1;
  for (size_t j = 6; j < ctx.argc(); ++j) {
    const size_t more = ctx.argc() - j - 1;
    std::string_view a = ctx.arg(j);
    if (iequals(a, "COPY")) {
      copy = true;
    } else if (iequals(a, "REPLACE")) {
      replace = true;
    } else if (iequals(a, "AUTH")) {
      if (more < 1) return ctx.error_text("ERR syntax error");
      password = ctx.arg(++j);
    } else if (iequals(a, "AUTH2")) {
      if (more < 2) return ctx.error_text("ERR syntax error");
      user = ctx.arg(++j);
      password = ctx.arg(++j);
    } else if (iequals(a, "KEYS")) {
      if (!ctx.arg(3).empty()) {
        return ctx.error_text(
            "ERR When using MIGRATE KEYS option, the key argument must be set to the empty "
            "string");
      }
      first_key = j + 1;
      num_keys = more;
      break;
    } else {
      return ctx.error_text("ERR syntax error");
    }
  }
  int64_t timeout = 0, dbid = 0;
  if (!int_arg(ctx, ctx.arg(5), &timeout) || !int_arg(ctx, ctx.arg(4), &dbid)) return;
  if (timeout <= 0) timeout = 1000;
  const int timeout_ms = static_cast<int>(std::min<int64_t>(timeout, INT32_MAX));

  // The keys that exist (expired ones do not).
  std::vector<std::string_view> keys;
  std::vector<core::Object*> objects;
  for (size_t j = 0; j < num_keys; ++j) {
    std::string_view key = ctx.arg(first_key + j);
    if (core::Object* obj = lookup_read(ctx, key)) {
      keys.push_back(key);
      objects.push_back(obj);
    }
  }
  if (keys.empty()) return ctx.reply.simple("NOKEY");

  std::string out;
  if (password) {
    if (user) {
      append_command(&out, {"AUTH", *user, *password});
    } else {
      append_command(&out, {"AUTH", *password});
    }
  }
  const std::string db_text = std::to_string(dbid);
  append_command(&out, {"SELECT", db_text});
  for (size_t j = 0; j < keys.size(); ++j) {
    int64_t ttl = 0;
    if (objects[j]->expire_at_ms != 0)
      ttl = std::max<int64_t>(1, objects[j]->expire_at_ms - ctx.now_ms);
    auto payload = dump_payload(*objects[j]);
    if (!payload) return ctx.error(payload.status());
    const std::string ttl_text = std::to_string(ttl);
    if (replace) {
      append_command(&out, {"RESTORE", keys[j], ttl_text, *payload, "REPLACE"});
    } else {
      append_command(&out, {"RESTORE", keys[j], ttl_text, *payload});
    }
  }

  TargetLink link(timeout_ms);
  if (!link.connect(std::string(ctx.arg(1)), std::string(ctx.arg(2)))) {
    return ctx.error_text("IOERR error or timeout connecting to the client");
  }
  if (!link.write_all(out))
    return ctx.error_text("IOERR error or timeout writing to target instance");
  std::string auth_reply, select_reply, reply;
  if ((password && !link.read_line(&auth_reply)) || !link.read_line(&select_reply)) {
    return ctx.error_text("IOERR error or timeout reading to target instance");
  }
  // As Redis: a key whose RESTORE succeeded leaves this server (without COPY) even when
  // another failed; the first error the target gave is the reply.
  std::string target_error;
  std::vector<std::string_view> del{"DEL"};
  const int db = ctx.client.db;
  bool read_failed = false;
  for (size_t j = 0; j < keys.size(); ++j) {
    if (!link.read_line(&reply)) {
      read_failed = true;
      break;
    }
    const std::string* failed = !auth_reply.empty() && auth_reply[0] == '-'       ? &auth_reply
                                : !select_reply.empty() && select_reply[0] == '-' ? &select_reply
                                : !reply.empty() && reply[0] == '-'               ? &reply
                                                                                  : nullptr;
    if (failed) {
      if (target_error.empty()) target_error = failed->substr(1);
    } else if (!copy && delete_key(ctx, db, keys[j])) {
      ctx.broker.notify('g', "del", keys[j], db);
      ctx.wrote = true;
      del.push_back(keys[j]);
    }
  }
  // Replicas see the deletions, not the MIGRATE.
  if (del.size() > 1) {
    replication::of(ctx.broker).emit(db, del);
  } else {
    propagate_nothing(ctx.broker);
  }
  if (read_failed) return ctx.error_text("IOERR error or timeout reading to target instance");
  if (!target_error.empty()) {
    return ctx.error_text("ERR Target instance replied with error: " + target_error);
  }
  ctx.reply.ok();
}

}  // namespace

void register_dump_commands(CommandTable& t) {
  const CommandFamily cmd{"generic"};
  t.add(cmd("dump", 2, kReadonly, dump, "@keyspace @read @slow",
            "Return a serialized version of the value stored at the specified key.", "2.6.0"));
  t.add(cmd("restore", -4, kWrite | kDenyOom, restore, "@keyspace @write @slow @dangerous",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            "2.6.0"));
  CommandSpec asking = cmd("restore-asking", -4, kWrite | kDenyOom | kAsking, restore,
                           "@keyspace @write @slow @dangerous",
                           "An internal command for migrating keys in a cluster", "3.0.0");
  asking.group = "server";
  t.add(std::move(asking));
  t.add(cmd("migrate", -6, kWrite | kMovableKeys, migrate, "@keyspace @write @slow @dangerous",
            "Atomically transfer a key from a Redis instance to another one.", "2.6.0", 3, 3, 1));
}

}  // namespace sluice::commands
