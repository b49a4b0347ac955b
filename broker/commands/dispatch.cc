#include "broker/commands/dispatch.h"

#include <algorithm>
#include <optional>
#include <string>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/client_ops.h"
#include "broker/commands/cold_read.h"
#include "broker/commands/command_table.h"
#include "broker/commands/context.h"
#include "broker/commands/error_text.h"
#include "broker/commands/monitor.h"
#include "broker/replication/replication.h"
#include "broker/storage/cold_read.h"
#include "broker/storage/open_files.h"

namespace sluice::commands {
namespace {

bool arity_ok(const CommandSpec& spec, size_t argc) {
  auto n = static_cast<int>(argc);
  return spec.arity >= 0 ? n == spec.arity : n >= -spec.arity;
}

void reject(core::Broker& broker, core::Client& client, std::string text) {
  // Redis replaces newlines so the error stays one protocol line.
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  wire::resp::ReplyWriter w(client.out.staging(), client.protocol);
  w.error(text);
  auto& st = broker.stats();
  ++st.total_error_replies;
  ++st.errors[text.substr(0, text.find(' '))];
}

std::string unknown_command_text(std::span<const std::string_view> argv) {
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < 128; ++i) {
    size_t room = 128 - args.size();
    args += "'";
    args.append(argv[i].substr(0, room));
    args += "' ";
  }
  return "ERR unknown command '" + std::string(argv[0].substr(0, 128)) +
         "', with args beginning with: " + args;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

constexpr const char* kOomText = "OOM command not allowed when used memory > 'maxmemory'.";

// Whether EXEC would run a command flagged denyoom (Redis's mstate.cmd_flags).
bool queued_denyoom(const core::Client& client) {
  const CommandTable& table = command_table();
  for (const auto& argv : client.multi_queue) {
    if (argv.empty()) continue;
    const CommandSpec* spec = table.find(argv[0]);
    if (spec && !spec->subcommands.empty() && argv.size() >= 2) {
      if (const CommandSpec* sub = table.find_sub(*spec, argv[1])) spec = sub;
    }
    if (spec && (spec->flags & kDenyOom)) return true;
  }
  return false;
}

// EXEC refused: the transaction is discarded and says why (Redis's execCommandAbort).
void abort_exec(core::Broker& broker, core::Client& client, const std::string& why) {
  client.in_multi = false;
  client.multi_error = false;
  client.multi_queue.clear();
  broker.unwatch_all(client);
  reject(broker, client, "EXECABORT Transaction discarded because of: " + why);
}

bool is_transaction_control(const CommandSpec& spec) {
  return spec.name == "exec" || spec.name == "discard" || spec.name == "multi" ||
         spec.name == "watch" || spec.name == "quit" || spec.name == "reset";
}

// Commands whose TTL argument is relative to the clock: the replication stream gets them
// followed by PEXPIREAT with the absolute time they set, so a replica expires the key when the
// master does.
bool has_relative_ttl(const CommandSpec& spec) {
  const std::string& n = spec.name;
  return n == "set" || n == "setex" || n == "psetex" || n == "getex" || n == "expire" ||
         n == "pexpire" || n == "restore" || n == "restore-asking";
}

void propagate_with_absolute_ttl(core::Broker& broker, replication::Replication& repl, int db,
                                 std::span<const std::string_view> argv) {
  repl.emit(db, argv);
  core::Object* obj = broker.db(db).find(argv[1], core::now_ms());
  if (!obj || obj->expire_at_ms <= 0) return;
  std::string at = std::to_string(obj->expire_at_ms);
  std::string_view pexpireat[] = {"PEXPIREAT", argv[1], at};
  repl.emit(db, pexpireat);
}

// After a read-only command: the keys a tracking client read (a script's reads count for its
// caller), so that a later write of one of them invalidates its cached copy.
void remember_read_keys(core::Broker& broker, core::Client& client, const CommandSpec& spec,
                        std::span<const std::string_view> argv) {
  core::Client* tracker = client.script ? broker.current_client : &client;
  if (!tracker || !tracker->tracking.on || tracker->tracking.bcast) return;
  auto pos = command_key_positions(spec, argv);
  if (pos.empty()) return;
  std::vector<std::string_view> keys;
  keys.reserve(pos.size());
  for (size_t p : pos) keys.push_back(argv[p]);
  broker.tracking().remember(*tracker, keys);
}

// The handler and its bookkeeping, shared by clients' commands and scripts' commands: stats,
// latency histogram and monitor, MONITOR feed, key tracking and the replication stream.
inline int64_t run_handler(core::Broker& broker, core::Client& client, const CommandSpec& spec,
                           std::span<const std::string_view> argv, int64_t t0) {
  const int64_t now_ms = t0 / 1000;
  core::Client* const outer = broker.current_client;
  if (!client.script) broker.current_client = &client;
  // Scripts show their EVAL before the commands they run; the others show once they ran (a
  // SELECT shows its new database). Admin commands are never shown.
  const bool show = !broker.monitors.empty() && !(spec.flags & kAdmin);
  if (show && (spec.flags & kSkipMonitor)) feed_monitors(broker, client, argv);
  CommandContext ctx(broker, client, argv, &spec, now_ms);
  // The one place writes reach the replication stream: a write that did not emit its effects
  // itself (replication.h) goes verbatim; a container (EXEC, a script) goes as what it ran.
  auto& repl = replication::of(broker);
  auto scope = repl.begin_command();
  const int db = client.db;
  spec.handler(ctx);
  // A read refused as cold (cold_read.h): the command changed nothing and runs again later; it
  // counts once, when it is answered.
  if (storage::NoWaitReads::missed_now()) [[unlikely]] {
    repl.end_command(scope, db, argv, false);
    broker.current_client = outer;
    return 0;
  }
  // PUBLISH goes to replicas too (their subscribers get the message), as in Redis.
  const bool wrote = ((spec.flags & kWrite) && !ctx.failed && !ctx.blocked) ||
                     (repl.active() && (spec.name == "publish" || spec.name == "spublish"));
  if (wrote && repl.active() && argv.size() >= 2 && has_relative_ttl(spec)) {
    propagate_with_absolute_ttl(broker, repl, db, argv);
  }
  repl.end_command(scope, db, argv, wrote);
  int64_t took = core::now_us() - t0;
  ++broker.stats().total_commands_processed;
  ++client.commands_processed;
  auto& cs = spec.stats;
  ++cs.calls;
  cs.usec += static_cast<uint64_t>(took);
  if (ctx.failed) ++cs.failed_calls;
  const auto& cfg = broker.config();
  if (cfg.latency_tracking) cs.latency.add_us(static_cast<uint64_t>(took));
  if (cfg.latency_monitor_threshold > 0 && took / 1000 >= cfg.latency_monitor_threshold) {
    broker.latency.add((spec.flags & kFast) ? "fast-command" : "command",
                       static_cast<uint64_t>(took / 1000), now_ms / 1000);
  }
  if (show && !(spec.flags & kSkipMonitor)) feed_monitors(broker, client, argv);
  if (spec.flags & kReadonly) remember_read_keys(broker, client, spec, argv);
  broker.current_client = outer;
  return took;
}

}  // namespace

ScriptCall call_for_script(core::Broker& broker, core::Client& script_client,
                           std::span<const std::string_view> argv, bool read_only, bool allow_oom,
                           uint32_t* flags, const char* acl_context) {
  const CommandTable& table = command_table();
  const CommandSpec* spec = table.find(argv[0]);
  if (!spec) return ScriptCall::kUnknown;
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    spec = table.find_sub(*spec, argv[1]);
    if (!spec) return ScriptCall::kUnknown;
  }
  if (!arity_ok(*spec, argv.size())) return ScriptCall::kArity;
  *flags = spec->flags;
  if (spec->flags & kNoScript) return ScriptCall::kNoScript;
  const acl::User& user = client_user(broker, script_client);
  if (!user.unrestricted()) {
    size_t bad_pos = 0;
    acl::Verdict verdict = acl_check(user, *spec, argv, &bad_pos);
    if (verdict != acl::Verdict::kOk) {
      acl_note_denial(broker, script_client, verdict, acl_context, *spec, argv, bad_pos);
      switch (verdict) {
        case acl::Verdict::kKey:
          return ScriptCall::kNoPermKey;
        case acl::Verdict::kChannel:
          return ScriptCall::kNoPermChannel;
        default:
          return ScriptCall::kNoPermCommand;
      }
    }
  }
  if (spec->flags & kWrite) {
    if (read_only) return ScriptCall::kReadOnly;
    if (broker.config().replica_read_only && replication::of(broker).is_replica()) {
      return ScriptCall::kReadOnly;
    }
    if (broker.storage_failed()) return ScriptCall::kMisconf;
  }
  // As Redis's scriptVerifyOOM: over maxmemory when the script started, a command that may grow
  // memory is refused unless the script already wrote (it cannot be stopped halfway).
  if ((spec->flags & kDenyOom) && !allow_oom && broker.config().maxmemory != 0 &&
      broker.eviction.over_limit_before_command) {
    return ScriptCall::kOom;
  }
  run_handler(broker, script_client, *spec, argv, core::now_us());
  // As between a transaction's commands (transaction_commands.cc): room in the descriptor
  // budget for the files a long script's streams will open.
  storage::close_idle_files();
  return ScriptCall::kRan;
}

void run_checked(core::Broker& broker, core::Client& client, const CommandSpec& spec,
                 std::span<const std::string_view> argv, int64_t now_us, bool defer_cold) {
  const auto& cfg = broker.config();
  // Under `always` a reply goes only once what it may show is durable: a write's reply waits for
  // the next sync; any other reply waits for the sync of the latest write (a read may show it),
  // as Redis writes its AOF before any reply of the iteration. If that sync fails, the write is
  // undone and these replies become -MISCONF errors (Server::roll_back_storage). A RESP2
  // subscriber only (un)subscribes and pings: nothing it gets depends on storage. Neither do the
  // few commands a busy script lets through (SCRIPT KILL...), and no sync can run meanwhile.
  if (cfg.appendfsync == config::AppendFsync::kAlways &&
      broker.busy_script == core::BusyScript::kNone) {
    const uint64_t epoch = (spec.flags & kWrite) ? broker.pending_epoch() : broker.write_epoch();
    if (epoch > broker.durable_epoch() && !(client.protocol == 2 && client.is_pubsub_client())) {
      client.out.hold(epoch);
    }
  }

  size_t mark = client.out.staging_pending();
  core::ReplyMode mode_before = client.reply_mode;

  // Set before it runs, as Redis: CLIENT INFO shows itself as cmd=client|info.
  client.last_command = spec.name;
  std::optional<storage::NoWaitReads> cold_guard;
  if (defer_cold) cold_guard.emplace();
  int64_t took = run_handler(broker, client, spec, argv, now_us);
  if (cold_guard && cold_guard->missed()) [[unlikely]] {
    // Refused a cold read: drop what it replied (and a wait it may have started on what it saw
    // as nothing), then park the client until a worker has warmed the bytes (cold_read.h).
    client.out.truncate_staging(mark);
    if (client.blocked) broker.blocking().remove(client);
    storage::ColdMiss miss = cold_guard->take_miss();
    cold_guard.reset();
    if (!defer_cold_read(broker, client, argv, miss.fd, miss.offset, miss.length)) {
      run_checked(broker, client, spec, argv, core::now_us(), false);
    }
    return;
  }
  cold_guard.reset();

  // CLIENT REPLY OFF|SKIP: drop this command's reply (not CLIENT REPLY ON's own +OK). The
  // (un)subscribe confirmations are pushes, sent regardless (as Redis 7.0, in RESP2 too).
  const bool pushes = (spec.flags & kPubSub) && (spec.flags & kSubscribedOk);
  if (mode_before == core::ReplyMode::kSkip) {
    if (!pushes) client.out.truncate_staging(mark);
    if (client.reply_mode == core::ReplyMode::kSkip) client.reply_mode = core::ReplyMode::kOn;
  } else if (mode_before == core::ReplyMode::kOff && client.reply_mode != core::ReplyMode::kOn &&
             !pushes) {
    client.out.truncate_staging(mark);
  }
  // Again after it ran: EXEC's queued commands set theirs, and the client shows cmd=exec.
  client.last_command = spec.name;

  if (cfg.slowlog_log_slower_than >= 0 && took >= cfg.slowlog_log_slower_than &&
      !(spec.flags & kSkipSlowlog)) {
    core::SlowlogEntry e;
    e.id = broker.slowlog_next_id++;
    e.time_s = now_us / 1000000;
    e.duration_us = took;
    for (size_t i = 0; i < argv.size() && i < 32; ++i) {
      std::string_view a = argv[i];
      if (a.size() > 128) {
        e.args.push_back(std::string(a.substr(0, 128)) + "... (" + std::to_string(a.size() - 128) +
                         " more bytes)");
      } else {
        e.args.emplace_back(a);
      }
    }
    if (argv.size() > 32) {
      e.args.back() = "... (" + std::to_string(argv.size() - 31) + " more arguments)";
    }
    e.addr = client.addr;
    e.name = client.name;
    broker.slowlog.push_back(std::move(e));
    while (broker.slowlog.size() > static_cast<size_t>(std::max<int64_t>(cfg.slowlog_max_len, 0))) {
      broker.slowlog.erase(broker.slowlog.begin());
    }
  }
}

bool execute(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv) {
  if (argv.empty()) return false;
  const CommandTable& table = command_table();
  const CommandSpec* spec = table.find(argv[0]);
  auto flag_multi_error = [&] {
    if (client.in_multi) client.multi_error = true;
  };
  if (!spec) {
    flag_multi_error();
    reject(broker, client, unknown_command_text(argv));
    return false;
  }
  if (!arity_ok(*spec, argv.size())) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client, "ERR wrong number of arguments for '" + spec->name + "' command");
    return false;
  }
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = table.find_sub(*spec, argv[1]);
    if (!sub) {
      flag_multi_error();
      reject(broker, client,
             "ERR unknown subcommand '" + std::string(argv[1].substr(0, 128)) + "'. Try " +
                 upper(argv[0]) + " HELP.");
      return false;
    }
    spec = sub;
    if (!arity_ok(*spec, argv.size())) {
      flag_multi_error();
      ++spec->stats.rejected_calls;
      reject(broker, client, "ERR wrong number of arguments for '" + spec->name + "' command");
      return false;
    }
  }
  if (!client.authenticated && !(spec->flags & kNoAuth)) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client, "NOAUTH Authentication required.");
    return false;
  }
  // One load and a branch for a user with every permission (the default user as shipped).
  // The master's link runs as no user (Redis's superuser master client): never checked.
  const acl::User& user = client_user(broker, client);
  if (!client.master && !user.unrestricted()) {
    size_t bad_pos = 0;
    acl::Verdict verdict = acl_check(user, *spec, argv, &bad_pos);
    if (verdict != acl::Verdict::kOk) {
      acl_note_denial(broker, client, verdict, client.in_multi ? "multi" : "toplevel", *spec, argv,
                      bad_pos);
      flag_multi_error();
      ++spec->stats.rejected_calls;
      reject(broker, client, acl_denied_text(verdict, *spec));
      return false;
    }
  }
  if (client.protocol == 2 && client.is_pubsub_client() && !(spec->flags & kSubscribedOk)) {
    ++spec->stats.rejected_calls;
    reject(broker, client,
           "ERR Can't execute '" + spec->name +
               "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
               "this context");
    return false;
  }
  if (broker.busy_script != core::BusyScript::kNone && !(spec->flags & kAllowBusy)) {
    // A script runs past busy-reply-threshold (we are inside it, serving from its hook): as in
    // Redis, before MULTI queueing, so a transaction sent meanwhile fails with EXECABORT.
    ++spec->stats.rejected_calls;
    if (spec->handler == nullptr || spec->name != "exec" || !client.in_multi) {
      flag_multi_error();
      reject(broker, client, busy_script_error(broker.busy_script));
      return false;
    }
    abort_exec(broker, client, busy_script_error(broker.busy_script));
    return false;
  }
  // In Redis's processCommand order: maxmemory, min-replicas, read-only replica, stale data,
  // then CLIENT PAUSE. The master's link on a replica is never refused nor paused (its stream is
  // applied as sent), nor are this master's replicas (their REPLCONF ACKs).
  auto& repl = replication::of(broker);
  const auto& cfg = broker.config();
  // maxmemory: evict before any command (as Redis does); when that cannot make room, refuse
  // what may grow memory: denyoom commands, EXEC of a transaction holding one, and anything
  // queued in MULTI. Not while a busy script runs (we are inside it): the keyspace stays as it is.
  // A replica ignores maxmemory (Redis's replica-ignore-maxmemory yes): its master evicts and
  // sends the evictions as DEL.
  if (cfg.maxmemory != 0 && broker.busy_script == core::BusyScript::kNone && !broker.paused() &&
      !repl.is_replica()) {
    const bool out_of_memory =
        core::perform_evictions(broker, core::now_ms()) == core::EvictResult::kFail;
    broker.eviction.over_limit_before_command = out_of_memory;
    if (out_of_memory && !client.master) {
      const bool is_exec = spec->name == "exec";
      bool refuse =
          (spec->flags & kDenyOom) || (is_exec && client.in_multi && queued_denyoom(client));
      if (client.in_multi && !is_exec && spec->name != "discard" && spec->name != "quit" &&
          spec->name != "reset") {
        refuse = true;
      }
      if (refuse) {
        ++spec->stats.rejected_calls;
        if (is_exec && client.in_multi) {
          abort_exec(broker, client, kOomText);
        } else {
          flag_multi_error();
          reject(broker, client, kOomText);
        }
        return false;
      }
    }
  }
  if ((spec->flags & kWrite) && !repl.is_replica() && cfg.min_replicas_to_write > 0 &&
      repl.good_replicas(core::now_ms(), cfg.min_replicas_max_lag) < cfg.min_replicas_to_write) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client, "NOREPLICAS Not enough good replicas to write.");
    return false;
  }
  if ((spec->flags & kWrite) && !client.master && cfg.replica_read_only && repl.is_replica()) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client, "READONLY You can't write against a read only replica.");
    return false;
  }
  if (repl.is_replica() && !cfg.replica_serve_stale_data && !client.master &&
      repl.link != replication::LinkStatus::kConnected && !(spec->flags & kStale)) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client,
           "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    return false;
  }
  if (broker.paused() && !client.master && !client.replica &&
      must_wait_for_pause(broker, client, *spec)) {
    // CLIENT PAUSE: the command waits (and the client's later input behind it), then runs.
    postpone(broker, client, argv);
    return true;
  }
  if (client.in_multi && !is_transaction_control(*spec)) {
    if (spec->flags & kNoMulti) {
      client.multi_error = true;
      reject(broker, client, "ERR Command not allowed inside a transaction");
      return false;
    }
    // Big arguments move into the queue (and from there into the values EXEC stores).
    std::vector<std::string> queued(argv.size());
    for (size_t i = 0; i < argv.size(); ++i) {
      if (!core::take_owned_arg(client, argv[i], &queued[i])) queued[i].assign(argv[i]);
    }
    client.multi_queue.push_back(std::move(queued));
    client.out.staging()->append("+QUEUED\r\n");
    return false;
  }
  if (broker.storage_failed() && (spec->flags & kWrite)) {
    flag_multi_error();
    ++spec->stats.rejected_calls;
    reject(broker, client,
           error_text(wire::Status(wire::ErrorCode::kStorageFailed, broker.storage_error())));
    return false;
  }
  run_checked(broker, client, *spec, argv, core::now_us(),
              may_defer_cold_read(broker, client, *spec));
  if (client.reading_cold) return true;
  // CLIENT CACHING covers the next command only (a whole transaction when queued in MULTI).
  if (client.tracking.caching && !client.in_multi && spec->name.rfind("client|", 0) != 0) {
    client.tracking.caching = false;
  }
  // Invalidations this command caused for its own client follow its reply.
  if (broker.tracking().has_pending()) broker.tracking().flush_pending(client);
  // As Redis does after every command: clients blocked on keys this command made ready are
  // served now, before the next command runs, so a pipelined LPUSH + LLEN sees the waiter's pop
  // and two pipelined pushes feed two waiters in order (EXEC counts as one command).
  auto& blocking = broker.blocking();
  if (blocking.has_ready()) blocking.serve_ready();
  return client.blocked;
}

}  // namespace sluice::commands
