// Replication commands: REPLICAOF / SLAVEOF, ROLE, WAIT, and what a replica sends its master
// (REPLCONF, PSYNC / SYNC). The stream itself is replication/replication.h's.
#include <spdlog/spdlog.h>

#include <string>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

// WAIT parks its client on this key of database 0; REPLCONF ACK signals it.
constexpr std::string_view kWaitKey = "\x01sluice-replication-wait";

void replicaof(CommandContext& ctx) {
  auto& repl = replication::of(ctx.broker);
  if (repl.failover_state != replication::Replication::FailoverState::kNone) {
    return ctx.error_text("ERR REPLICAOF not allowed while failing over.");
  }
  if (iequals(ctx.arg(1), "no") && iequals(ctx.arg(2), "one")) {
    repl.unfollow();
    return ctx.reply.ok();
  }
  int64_t port = 0;
  if (!parse_int(ctx.arg(2), &port) || port < 0 || port > 65535) {
    return ctx.error_text("ERR Invalid master port");
  }
  std::string host(ctx.arg(1));
  if (repl.is_replica() && repl.master_host == host && repl.master_port == port) {
    return ctx.reply.simple("OK Already connected to specified master");
  }
  repl.follow(host, static_cast<int>(port), ctx.now_ms);
  ctx.reply.ok();
}

// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (replication.h describes the steps).
void failover(CommandContext& ctx) {
  using State = replication::Replication::FailoverState;
  auto& repl = replication::of(ctx.broker);
  if (ctx.argc() == 2 && iequals(ctx.arg(1), "abort")) {
    if (repl.failover_state == State::kNone) {
      return ctx.error_text("ERR No failover in progress.");
    }
    repl.abort_failover("Failover manually aborted");
    return ctx.reply.ok();
  }
  int64_t timeout_ms = 0;
  bool force = false;
  bool to = false;
  int64_t port = 0;
  std::string host;
  for (size_t j = 1; j < ctx.argc(); ++j) {
    if (iequals(ctx.arg(j), "timeout") && j + 1 < ctx.argc() && timeout_ms == 0) {
      if (!parse_int(ctx.arg(j + 1), &timeout_ms)) return ctx.not_integer();
      if (timeout_ms <= 0) return ctx.error_text("ERR FAILOVER timeout must be greater than 0");
      ++j;
    } else if (iequals(ctx.arg(j), "to") && j + 2 < ctx.argc() && !to) {
      if (!parse_int(ctx.arg(j + 2), &port)) return ctx.not_integer();
      host = std::string(ctx.arg(j + 1));
      to = true;
      j += 2;
    } else if (iequals(ctx.arg(j), "force") && !force) {
      force = true;
    } else {
      return ctx.syntax_error();
    }
  }
  if (repl.failover_state != State::kNone) {
    return ctx.error_text("ERR FAILOVER already in progress.");
  }
  if (repl.is_replica()) {
    return ctx.error_text("ERR FAILOVER is not valid when server is a replica.");
  }
  if (repl.replicas.empty()) return ctx.error_text("ERR FAILOVER requires connected replicas.");
  if (force && (timeout_ms == 0 || !to)) {
    return ctx.error_text(
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
  }
  if (to) {
    replication::AttachedReplica* target = repl.find_replica(host, static_cast<int>(port));
    if (!target) return ctx.error_text("ERR FAILOVER target HOST and PORT is not a replica.");
    if (!target->online) return ctx.error_text("ERR FAILOVER target replica is not online.");
  }
  repl.failover_host = to ? host : std::string();
  repl.failover_port = to ? static_cast<int>(port) : 0;
  repl.failover_end_ms = timeout_ms ? ctx.now_ms + timeout_ms : 0;
  repl.failover_force = force;
  repl.start_failover();
  ctx.reply.ok();
}

void role(CommandContext& ctx) {
  auto& repl = replication::of(ctx.broker);
  auto& r = ctx.reply;
  if (!repl.is_replica()) {
    r.array(3);
    r.bulk("master");
    r.integer(static_cast<int64_t>(repl.offset()));
    size_t online = 0;
    for (const auto& a : repl.replicas) online += a.online ? 1 : 0;
    r.array(online);
    for (const auto& a : repl.replicas) {
      if (!a.online) continue;
      r.array(3);
      r.bulk(a.ip);
      r.bulk(std::to_string(a.port));
      r.bulk(std::to_string(a.ack_offset));
    }
    return;
  }
  r.array(5);
  r.bulk("slave");
  r.bulk(repl.master_host);
  r.integer(repl.master_port);
  const char* state = "connect";
  switch (repl.link) {
    case replication::LinkStatus::kConnecting:
      state = "connecting";
      break;
    case replication::LinkStatus::kHandshake:
      state = "handshake";
      break;
    case replication::LinkStatus::kTransfer:
      state = "sync";
      break;
    case replication::LinkStatus::kConnected:
      state = "connected";
      break;
    case replication::LinkStatus::kNone:
      break;
  }
  r.bulk(state);
  r.integer(repl.link == replication::LinkStatus::kConnected ? static_cast<int64_t>(repl.offset())
                                                             : -1);
}

void replconf(CommandContext& ctx) {
  auto& repl = replication::of(ctx.broker);
  if ((ctx.argc() % 2) == 0) return ctx.syntax_error();
  for (size_t i = 1; i + 1 < ctx.argc(); i += 2) {
    std::string_view opt = ctx.arg(i);
    std::string_view val = ctx.arg(i + 1);
    if (iequals(opt, "ack")) {
      // No reply: the master never answers an ACK.
      int64_t off = 0;
      replication::AttachedReplica* a = repl.find_replica(ctx.client);
      if (a && parse_int(val, &off) && off >= 0) {
        a->ack_offset = std::max<uint64_t>(a->ack_offset, static_cast<uint64_t>(off));
        a->ack_ms = ctx.now_ms;
        ctx.broker.blocking().signal(0, kWaitKey);
      }
      return;
    }
    if (iequals(opt, "listening-port")) {
      int64_t port = 0;
      if (!parse_int(val, &port))
        return ctx.error_text("ERR value is not an integer or out of range");
      ctx.client.replica_port = static_cast<int>(port);
      if (auto* a = repl.find_replica(ctx.client)) a->port = static_cast<int>(port);
    } else if (iequals(opt, "ip-address")) {
      ctx.client.replica_ip = std::string(val);
    } else if (iequals(opt, "capa") || iequals(opt, "getack") || iequals(opt, "rdb-only") ||
               iequals(opt, "rdb-filter-only")) {
      // capabilities: the stream is the same for every replica
    } else {
      return ctx.error_text("ERR Unrecognized REPLCONF option: " + std::string(opt));
    }
  }
  ctx.reply.ok();
}

void psync(CommandContext& ctx) {
  auto& repl = replication::of(ctx.broker);
  // PSYNC <replid> <offset> FAILOVER: this replica's master hands over (FAILOVER on it).
  if (ctx.argc() > 3 && iequals(ctx.arg(3), "failover")) {
    if (!repl.is_replica()) return ctx.error_text("ERR PSYNC FAILOVER can't be sent to a master.");
    if (ctx.arg(1) != repl.replid()) {
      return ctx.error_text("ERR PSYNC FAILOVER replid must match my replid.");
    }
    repl.unfollow();
    spdlog::info("MASTER MODE enabled (failover request from '{}')", ctx.client.addr);
  }
  if (repl.failover_state != replication::Replication::FailoverState::kNone) {
    return ctx.error_text("NOMASTERLINK Can't SYNC while failing over");
  }
  if (repl.is_replica() && repl.link != replication::LinkStatus::kConnected) {
    return ctx.error_text("NOMASTERLINK Can't SYNC while not connected with my master");
  }
  bool sync = ctx.argc() == 1;
  repl.psync(ctx.client, sync ? "?" : ctx.arg(1), sync ? "-1" : ctx.arg(2));
  if (auto* a = repl.find_replica(ctx.client)) {
    if (ctx.client.replica_port) a->port = ctx.client.replica_port;
    if (!ctx.client.replica_ip.empty()) a->ip = ctx.client.replica_ip;
  }
}

void wait_cmd(CommandContext& ctx) {
  auto& repl = replication::of(ctx.broker);
  if (repl.is_replica()) {
    return ctx.error_text(
        "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 "
        "if a replica is configured to be writable (which is not the default) writes to "
        "replicas are just local and are not propagated.");
  }
  int64_t numreplicas = 0;
  int64_t timeout = 0;
  if (!parse_int(ctx.arg(1), &numreplicas)) {
    return ctx.error_text("ERR value is not an integer or out of range");
  }
  if (!parse_int(ctx.arg(2), &timeout)) {
    return ctx.error_text("ERR timeout is not an integer or out of range");
  }
  if (timeout < 0) return ctx.error_text("ERR timeout is negative");
  const uint64_t target = repl.offset();
  int acked = repl.replicas_acked(target);
  if (acked >= numreplicas || !ctx.may_block()) return ctx.reply.integer(acked);
  repl.request_acks();
  core::Broker* broker = &ctx.broker;
  auto retry = [broker, target, numreplicas](
                   core::Client& client, blocking::BlockingRegistry::Wake why, std::string_view) {
    int n = replication::of(*broker).replicas_acked(target);
    if (why == blocking::BlockingRegistry::Wake::kSignal && n < numreplicas) return false;
    wire::resp::ReplyWriter(client.out.staging(), client.protocol).integer(n);
    return true;
  };
  std::vector<std::string> keys{std::string(kWaitKey)};
  ctx.broker.blocking().block(ctx.client, 0, keys, timeout > 0 ? ctx.now_ms + timeout : 0, retry);
  ctx.blocked = true;
}

}  // namespace

void register_replication_commands(CommandTable& t) {
  auto add = [&t](std::string name, int arity, uint32_t flags, Handler h, std::string summary,
                  std::string cats) {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags;
    s.handler = h;
    s.group = "server";
    s.acl_categories = std::move(cats);
    s.summary = std::move(summary);
    t.add(std::move(s));
  };
  add("replicaof", 3, kAdmin | kNoScript | kStale, replicaof,
      "Configures a server as replica of another, or promotes it to a master.",
      "@admin @slow @dangerous");
  add("slaveof", 3, kAdmin | kNoScript | kStale, replicaof,
      "Sets a Redis server as a replica of another, or promotes it to being a master.",
      "@admin @slow @dangerous");
  add("role", 1, kNoScript | kLoading | kStale | kFast, role, "Returns the replication role.",
      "@admin @fast @dangerous");
  add("replconf", -1, kAdmin | kNoScript | kLoading | kStale | kAllowBusy, replconf,
      "An internal command for configuring the replication stream.", "@admin @slow @dangerous");
  add("psync", -3, kAdmin | kNoScript | kNoMulti, psync, "An internal command used in replication.",
      "@admin @slow @dangerous");
  add("sync", 1, kAdmin | kNoScript | kNoMulti, psync, "An internal command used in replication.",
      "@admin @slow @dangerous");
  add("failover", -1, kAdmin | kNoScript | kStale, failover,
      "Start a coordinated failover between this server and one of its replicas.",
      "@admin @slow @dangerous");
  add("wait", 3, kNoScript, wait_cmd,
      "Blocks until the asynchronous replication of all preceding write commands sent by the "
      "connection is completed.",
      "@slow @connection");
}

}  // namespace sluice::commands
