// Server commands: COMMAND, CONFIG, DBSIZE, FLUSHDB, FLUSHALL, TIME, DEBUG, SHUTDOWN, SLOWLOG,
// ROLE, LASTSAVE, SAVE/BGSAVE/BGREWRITEAOF (accepted: Sluice always persists). INFO is in
// info_command.cc.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/error_text.h"
#include "broker/core/glob.h"
#include "broker/kv/kv_store.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void reply_flags(wire::resp::ReplyWriter& r, uint32_t flags) {
  static const std::pair<uint32_t, const char*> kNames[] = {{kWrite, "write"},
                                                            {kReadonly, "readonly"},
                                                            {kDenyOom, "denyoom"},
                                                            {kAdmin, "admin"},
                                                            {kPubSub, "pubsub"},
                                                            {kNoScript, "noscript"},
                                                            {kBlocking, "blocking"},
                                                            {kLoading, "loading"},
                                                            {kStale, "stale"},
                                                            {kSkipMonitor, "skip_monitor"},
                                                            {kFast, "fast"},
                                                            {kNoAuth, "no_auth"},
                                                            {kNoMandatoryKeys, "no_mandatory_keys"},
                                                            {kNoMulti, "no_multi"},
                                                            {kMovableKeys, "movablekeys"},
                                                            {kAllowBusy, "allow_busy"},
                                                            {kAsking, "asking"}};
  size_t n = 0;
  for (const auto& [bit, name] : kNames) n += (flags & bit) ? 1 : 0;
  r.set(n);
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) r.simple(name);
  }
}

void reply_command_info(wire::resp::ReplyWriter& r, const CommandSpec& spec) {
  r.array(10);
  r.bulk(spec.name);
  r.integer(spec.arity);
  reply_flags(r, spec.flags);
  r.integer(spec.first_key);
  r.integer(spec.last_key);
  r.integer(spec.key_step);
  auto cats = split_words(spec.acl_categories);
  r.set(cats.size());
  for (const auto& c : cats) r.simple(c);
  r.set(0);  // tips
  r.set(0);  // key specs (a set in Redis 7.0's RESP3 reply)
  // Subcommands: an array, or an empty set when there are none (as Redis 7.0 replies in RESP3).
  if (spec.subcommands.empty()) {
    r.set(0);
  } else {
    r.array(spec.subcommands.size());
  }
  for (const auto& sub : spec.subcommands) reply_command_info(r, sub);
}

void reply_command_docs(wire::resp::ReplyWriter& r, const CommandSpec& spec) {
  bool subs = !spec.subcommands.empty();
  r.map(subs ? 4 : 3);
  r.bulk("summary");
  r.bulk(spec.summary);
  r.bulk("since");
  r.bulk(spec.since.empty() ? "1.0.0" : spec.since);
  r.bulk("group");
  r.bulk(spec.group);
  if (subs) {
    r.bulk("subcommands");
    r.map(spec.subcommands.size());
    for (const auto& sub : spec.subcommands) {
      r.bulk(sub.name);
      reply_command_docs(r, sub);
    }
  }
}

const CommandSpec* find_full(std::string_view name) {
  size_t bar = name.find('|');
  if (bar == std::string_view::npos) return command_table().find(name);
  const CommandSpec* parent = command_table().find(name.substr(0, bar));
  return parent ? command_table().find_sub(*parent, name.substr(bar + 1)) : nullptr;
}

void command_all(CommandContext& ctx) {
  const auto& all = command_table().all();
  ctx.reply.array(all.size());
  for (const auto* spec : all) reply_command_info(ctx.reply, *spec);
}

void command_count(CommandContext& ctx) {
  ctx.reply.integer(static_cast<int64_t>(command_table().all().size()));
}

void command_info(CommandContext& ctx) {
  if (ctx.argc() == 2) return command_all(ctx);
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const CommandSpec* spec = find_full(ctx.arg(i));
    if (spec) {
      reply_command_info(ctx.reply, *spec);
    } else {
      ctx.reply.null_array();
    }
  }
}

void command_docs(CommandContext& ctx) {
  std::vector<const CommandSpec*> specs;
  if (ctx.argc() == 2) {
    specs = command_table().all();
  } else {
    for (size_t i = 2; i < ctx.argc(); ++i) {
      if (const CommandSpec* s = find_full(ctx.arg(i))) specs.push_back(s);
    }
  }
  ctx.reply.map(specs.size());
  for (const auto* s : specs) {
    ctx.reply.bulk(s->name);
    reply_command_docs(ctx.reply, *s);
  }
}

void command_list(CommandContext& ctx) {
  std::string_view pattern, category;
  if (ctx.argc() > 2) {
    if (ctx.argc() != 5 || !iequals(ctx.arg(2), "FILTERBY")) return ctx.syntax_error();
    if (iequals(ctx.arg(3), "PATTERN")) {
      pattern = ctx.arg(4);
    } else if (iequals(ctx.arg(3), "ACLCAT")) {
      category = ctx.arg(4);
    } else if (iequals(ctx.arg(3), "MODULE")) {
      ctx.reply.array(0);
      return;
    } else {
      return ctx.syntax_error();
    }
  }
  std::vector<std::string> names;
  auto consider = [&](const CommandSpec& s) {
    if (!pattern.empty() && !core::glob_match(pattern, s.name, true)) return;
    if (!category.empty() &&
        s.acl_categories.find("@" + std::string(category)) == std::string::npos) {
      return;
    }
    names.push_back(s.name);
  };
  for (const auto* s : command_table().all()) {
    consider(*s);
    for (const auto& sub : s->subcommands) consider(sub);
  }
  ctx.reply.array(names.size());
  for (const auto& n : names) ctx.reply.bulk(n);
}

// The spec and key positions of the full command in args[2..] (COMMAND GETKEYS and
// GETKEYSANDFLAGS); false after replying with the error.
bool full_command_keys(CommandContext& ctx, const CommandSpec** spec_out,
                       std::vector<size_t>* pos) {
  std::span<const std::string_view> cmd = ctx.args.subspan(2);
  const CommandSpec* spec = command_table().find(cmd[0]);
  if (!spec) {
    ctx.error_text("ERR Invalid command specified");
    return false;
  }
  if ((spec->arity > 0 && static_cast<int>(cmd.size()) != spec->arity) ||
      static_cast<int>(cmd.size()) < -spec->arity) {
    ctx.error_text("ERR Invalid number of arguments specified for command");
    return false;
  }
  if (!spec->subcommands.empty() && cmd.size() > 1) {
    if (const CommandSpec* sub = command_table().find_sub(*spec, cmd[1])) spec = sub;
  }
  *pos = command_key_positions(*spec, cmd);
  if (pos->empty()) {
    ctx.error_text("ERR The command has no key arguments");
    return false;
  }
  *spec_out = spec;
  return true;
}

void command_getkeys(CommandContext& ctx) {
  const CommandSpec* spec;
  std::vector<size_t> pos;
  if (!full_command_keys(ctx, &spec, &pos)) return;
  ctx.reply.array(pos.size());
  for (size_t p : pos) ctx.reply.bulk(ctx.arg(2 + p));
}

// Redis's key-spec flags of the `nth` key of a command: what the commands that name them
// declare, else read-only access for read commands and read-write update for writes.
std::vector<const char*> key_flags(const CommandSpec& spec, size_t nth) {
  const std::string& n = spec.name;
  auto any = [&](std::initializer_list<const char*> names) {
    for (const char* x : names) {
      if (n == x) return true;
    }
    return false;
  };
  if (any({"set", "mset", "setex", "psetex"})) return {"OW", "update"};
  if (any({"del", "unlink"})) return {"RM", "delete"};
  if (any({"lpush", "rpush", "lpushx", "rpushx", "sadd", "append"})) return {"RW", "insert"};
  if (any({"incr", "decr", "incrby", "decrby", "incrbyfloat"})) {
    return {"RW", "access", "update"};
  }
  if (n == "getdel") return {"RW", "access", "delete"};
  if (any({"exists", "type", "ttl", "pttl", "expiretime", "pexpiretime", "strlen"})) return {"RO"};
  if (any({"rpoplpush", "lmove"})) {
    if (nth == 0) return {"RW", "access", "delete"};
    return {"RW", "insert"};
  }
  if (any({"rename", "renamenx"})) {
    if (nth == 0) return {"RW", "access", "delete"};
    return {"OW", n == "rename" ? "update" : "insert"};
  }
  if (spec.flags & kReadonly) return {"RO", "access"};
  return {"RW", "update"};
}

void command_getkeysandflags(CommandContext& ctx) {
  const CommandSpec* spec;
  std::vector<size_t> pos;
  if (!full_command_keys(ctx, &spec, &pos)) return;
  ctx.reply.array(pos.size());
  for (size_t i = 0; i < pos.size(); ++i) {
    ctx.reply.array(2);
    ctx.reply.bulk(ctx.arg(2 + pos[i]));
    auto flags = key_flags(*spec, i);
    ctx.reply.set(flags.size());
    for (const char* f : flags) ctx.reply.simple(f);
  }
}

void command_help(CommandContext& ctx) {
  static const char* kLines[] = {"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                                 "(no subcommand)",
                                 "    Return details about all commands.",
                                 "COUNT",
                                 "    Return the total number of commands in this server.",
                                 "LIST",
                                 "    Return a list of all commands in this server.",
                                 "INFO [<command-name> ...]",
                                 "    Return details about multiple commands.",
                                 "DOCS [<command-name> ...]",
                                 "    Return documentation details about multiple commands.",
                                 "GETKEYS <full-command>",
                                 "    Return the keys from a full command.",
                                 "GETKEYSANDFLAGS <full-command>",
                                 "    Return the keys and the access flags from a full command.",
                                 "HELP",
                                 "    Print this help."};
  ctx.help_lines(kLines);
}

void command(CommandContext& ctx) {
  if (ctx.argc() == 1) return command_all(ctx);
  // Subcommands are dispatched through the table; this only runs for plain COMMAND.
  command_all(ctx);
}

void config_get(CommandContext& ctx) {
  auto& store = ctx.broker.config_store();
  std::vector<std::string> names;
  for (size_t i = 2; i < ctx.argc(); ++i) {
    for (auto& n : store.match(ctx.arg(i))) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  ctx.reply.map(names.size());
  for (const auto& n : names) {
    std::string v;
    store.get(n, &v);
    ctx.reply.bulk(n);
    ctx.reply.bulk(v);
  }
}

void config_set(CommandContext& ctx) {
  if ((ctx.argc() - 2) % 2 != 0) return ctx.wrong_arity();
  auto& store = ctx.broker.config_store();
  // Validate every pair first so a failure leaves nothing half-applied.
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    std::string name(ctx.arg(i));
    if (!store.exists(name)) {
      return ctx.error_text("ERR Unknown option or number of arguments for CONFIG SET - '" + name +
                            "'");
    }
    std::string why = store.refusal(name);
    if (!why.empty()) {
      return ctx.error_text("ERR CONFIG SET failed (possibly related to argument '" + name +
                            "') - " + why);
    }
    for (size_t j = 2; j < i; j += 2) {
      if (iequals(ctx.arg(j), ctx.arg(i))) {
        return ctx.error_text("ERR CONFIG SET failed (possibly related to argument '" + name +
                              "') - duplicate parameter");
      }
    }
  }
  config::Config backup = ctx.broker.config();
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    std::string name(ctx.arg(i));
    std::string err = store.set(name, {std::string(ctx.arg(i + 1))}, false);
    if (!err.empty()) {
      ctx.broker.config() = backup;
      return ctx.error_text("ERR CONFIG SET failed (possibly related to argument '" + name +
                            "') - " + err);
    }
  }
  // TLS options apply together, once (a new certificate and its key in one CONFIG SET).
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    if (!iequals(ctx.arg(i).substr(0, 4), "tls-") || ctx.broker.control == nullptr) continue;
    if (!ctx.broker.control->apply_tls_config().empty()) {
      ctx.broker.config() = backup;
      return ctx.error_text("ERR CONFIG SET failed (possibly related to argument '" +
                            std::string(ctx.arg(i)) +
                            "') - Unable to update TLS configuration. Check server logs.");
    }
    break;
  }
  // A lower maxmemory (or a policy that can now evict) takes effect at once: evict down to it.
  const auto& now_cfg = ctx.broker.config();
  if (now_cfg.maxmemory != 0 && !replication::of(ctx.broker).is_replica() &&
      (now_cfg.maxmemory != backup.maxmemory ||
       now_cfg.maxmemory_policy != backup.maxmemory_policy)) {
    core::perform_evictions(ctx.broker, ctx.now_ms, /*unlimited=*/true);
  }
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    // requirepass is the default user's password (acl/).
    if (iequals(ctx.arg(i), "requirepass")) {
      acl_registry(ctx.broker).set_default_password(ctx.broker.config().requirepass);
    }
  }
  ctx.reply.ok();
}

void config_resetstat(CommandContext& ctx) {
  auto& st = ctx.broker.stats();
  st = core::Stats{};
  command_table().for_each([](const CommandSpec& spec) { spec.stats = core::CommandStats{}; });
  ctx.broker.slowlog.clear();
  acl_state(ctx.broker).stats = AclStats{};
  for (int i = 0; i < ctx.broker.db_count(); ++i) ctx.broker.db(i).expired_keys = 0;
  ctx.reply.ok();
}

void config_rewrite(CommandContext& ctx) {
  std::string err = ctx.broker.config_store().rewrite();
  if (!err.empty()) return ctx.error_text("ERR " + err);
  ctx.reply.ok();
}

void config_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GET <pattern>",
      "    Return parameters matching the glob-like <pattern> and their values.",
      "SET <directive> <value>",
      "    Set the configuration <directive> to <value>.",
      "RESETSTAT",
      "    Reset statistics reported by the INFO command.",
      "REWRITE",
      "    Rewrite the configuration file.",
      "HELP",
      "    Print this help."};
  ctx.help_lines(kLines);
}

void dbsize(CommandContext& ctx) { ctx.reply.integer(static_cast<int64_t>(ctx.db().size())); }

bool parse_flush_mode(CommandContext& ctx) {
  if (ctx.argc() > 2) {
    ctx.syntax_error();
    return false;
  }
  if (ctx.argc() == 2 && !iequals(ctx.arg(1), "ASYNC") && !iequals(ctx.arg(1), "SYNC")) {
    ctx.syntax_error();
    return false;
  }
  return true;
}

void flush_db(core::Broker& broker, int db) {
  // One KV journal record for the whole database; streams release their own files.
  broker.touch_all_watched(db);
  broker.kv().record_flush(db);
  auto keys = broker.db(db).clear();
  for (auto& [key, obj] : keys) {
    if (obj->type() == core::ObjectType::kStream) broker.release_object(db, key, std::move(obj));
  }
}

void flushdb(CommandContext& ctx) {
  if (!parse_flush_mode(ctx)) return;
  flush_db(ctx.broker, ctx.client.db);
  ctx.broker.tracking().invalidate_all(ctx.broker.current_client);
  ctx.wrote = true;
  ctx.reply.ok();
}

void flushall(CommandContext& ctx) {
  if (!parse_flush_mode(ctx)) return;
  for (int i = 0; i < ctx.broker.db_count(); ++i) flush_db(ctx.broker, i);
  ctx.broker.tracking().invalidate_all(ctx.broker.current_client);
  ctx.wrote = true;
  ctx.reply.ok();
}

void time_cmd(CommandContext& ctx) {
  int64_t us = core::now_us();
  ctx.reply.array(2);
  ctx.reply.bulk(std::to_string(us / 1000000));
  ctx.reply.bulk(std::to_string(us % 1000000));
}

void debug(CommandContext& ctx) {
  std::string_view sub = ctx.arg(1);
  if (iequals(sub, "SLEEP") && ctx.argc() == 3) {
    double secs = 0;
    try {
      secs = std::stod(std::string(ctx.arg(2)));
    } catch (...) {
      return ctx.error_text("ERR value is not a valid float");
    }
    ctx.broker.control->sleep_ms(static_cast<int64_t>(secs * 1000));
    return ctx.reply.ok();
  }
  if (iequals(sub, "RELOAD")) {
    std::string err = ctx.broker.control->reload();
    if (!err.empty()) return ctx.error_text("ERR Error trying to load the data: " + err);
    return ctx.reply.ok();
  }
  if (iequals(sub, "SET-ACTIVE-EXPIRE") && ctx.argc() == 3) return ctx.reply.ok();
  if (iequals(sub, "HELP")) {
    ctx.reply.array(5);
    ctx.reply.simple("DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    ctx.reply.simple("SLEEP <seconds>");
    ctx.reply.simple("    Stop the server for <seconds>. Decimals allowed.");
    ctx.reply.simple("RELOAD");
    ctx.reply.simple("    Drop all in-memory state and reopen every stream and key from disk.");
    return;
  }
  ctx.error_text("ERR unknown subcommand '" + std::string(sub) + "'. Try DEBUG HELP.");
}

void shutdown(CommandContext& ctx) {
  bool nosave = false;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view a = ctx.arg(i);
    if (!iequals(a, "NOSAVE") && !iequals(a, "SAVE") && !iequals(a, "NOW") &&
        !iequals(a, "FORCE") && !iequals(a, "ABORT")) {
      return ctx.syntax_error();
    }
    if (iequals(a, "ABORT")) return ctx.error_text("ERR No shutdown in progress.");
    if (iequals(a, "NOSAVE")) nosave = true;
  }
  if (ctx.broker.busy_script != core::BusyScript::kNone && !nosave) {
    // As Redis: past busy-reply-threshold only SHUTDOWN NOSAVE may stop the server.
    return ctx.error_text(busy_script_error(ctx.broker.busy_script));
  }
  // Sluice persists every write as it happens; SAVE/NOSAVE only change what Redis would do
  // (and NOSAVE during a busy script drops the script's unfinished writes).
  ctx.broker.control->request_shutdown(!nosave);
}

void slowlog_get(CommandContext& ctx) {
  int64_t count = 10;
  if (ctx.argc() == 3) {
    if (!parse_int(ctx.arg(2), &count) || count < -1) {
      return ctx.error_text("ERR count should be greater than or equal to -1");
    }
  }
  const auto& log = ctx.broker.slowlog;
  size_t n = count == -1 ? log.size() : std::min(log.size(), static_cast<size_t>(count));
  ctx.reply.array(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& e = log[log.size() - 1 - i];
    ctx.reply.array(6);
    ctx.reply.integer(static_cast<int64_t>(e.id));
    ctx.reply.integer(e.time_s);
    ctx.reply.integer(e.duration_us);
    ctx.reply.array(e.args.size());
    for (const auto& a : e.args) ctx.reply.bulk(a);
    ctx.reply.bulk(e.addr);
    ctx.reply.bulk(e.name);
  }
}

void slowlog_len(CommandContext& ctx) {
  ctx.reply.integer(static_cast<int64_t>(ctx.broker.slowlog.size()));
}

void slowlog_reset(CommandContext& ctx) {
  ctx.broker.slowlog.clear();
  ctx.reply.ok();
}

void slowlog_help(CommandContext& ctx) {
  ctx.reply.array(7);
  ctx.reply.simple("SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
  ctx.reply.simple("GET [<count>]");
  ctx.reply.simple("    Return top <count> entries from the slowlog (default: 10, -1 mean all).");
  ctx.reply.simple("LEN");
  ctx.reply.simple("    Return the length of the slowlog.");
  ctx.reply.simple("RESET");
  ctx.reply.simple("    Reset the slowlog.");
}

void lastsave(CommandContext& ctx) { ctx.reply.integer(ctx.now_ms / 1000); }

void save(CommandContext& ctx) {
  // Every write is already in the logs; SAVE makes it durable now.
  ctx.broker.flush_storage();
  ctx.wrote = true;
  ctx.reply.ok();
}

void bgsave(CommandContext& ctx) { ctx.reply.simple("Background saving started"); }

void bgrewriteaof(CommandContext& ctx) {
  ctx.reply.simple("Background append only file rewriting started");
}

}  // namespace

void info(CommandContext& ctx);  // info_command.cc

void register_server_commands(CommandTable& t) {
  auto srv = [](std::string name, int arity, uint32_t flags, Handler h, std::string summary,
                std::string cats = "@admin @slow @dangerous") {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags;
    s.handler = h;
    s.group = "server";
    s.acl_categories = std::move(cats);
    s.summary = std::move(summary);
    s.since = "1.0.0";
    return s;
  };
  CommandSpec cmd = srv("command", -1, kLoading | kStale, command,
                        "Returns detailed information about all commands.", "@slow @connection");
  cmd.subcommands.push_back(srv("count", 2, kLoading | kStale, command_count,
                                "Returns a count of commands.", "@slow @connection"));
  cmd.subcommands.push_back(srv("info", -2, kLoading | kStale, command_info,
                                "Returns information about one, multiple or all commands.",
                                "@slow @connection"));
  cmd.subcommands.push_back(srv(
      "docs", -2, kLoading | kStale, command_docs,
      "Returns documentary information about one, multiple or all commands.", "@slow @connection"));
  cmd.subcommands.push_back(srv("list", -2, kLoading | kStale, command_list,
                                "Returns a list of command names.", "@slow @connection"));
  cmd.subcommands.push_back(srv("getkeys", -4, kLoading | kStale, command_getkeys,
                                "Extracts the key names from an arbitrary command.",
                                "@slow @connection"));
  cmd.subcommands.push_back(srv("getkeysandflags", -4, kLoading | kStale, command_getkeysandflags,
                                "Extracts the key names and access flags for an arbitrary command.",
                                "@slow @connection"));
  cmd.subcommands.push_back(srv("help", 2, kLoading | kStale, command_help,
                                "Returns helpful text about the different subcommands.",
                                "@slow @connection"));
  // COMMAND with no subcommand is legal: dispatch only looks up subcommands when argc >= 2.
  t.add(std::move(cmd));

  CommandSpec config =
      srv("config", -2, 0, nullptr, "A container for server configuration commands.", "@slow");
  config.subcommands.push_back(srv("get", -3, kAdmin | kNoScript | kLoading | kStale, config_get,
                                   "Returns the effective values of configuration parameters."));
  config.subcommands.push_back(srv("set", -4, kAdmin | kNoScript | kLoading | kStale, config_set,
                                   "Sets configuration parameters in-flight."));
  config.subcommands.push_back(srv("resetstat", 2, kAdmin | kNoScript | kLoading | kStale,
                                   config_resetstat, "Resets the server's statistics."));
  config.subcommands.push_back(srv("rewrite", 2, kAdmin | kNoScript | kLoading | kStale,
                                   config_rewrite,
                                   "Persists the effective configuration to file."));
  config.subcommands.push_back(srv("help", 2, kLoading | kStale, config_help,
                                   "Returns helpful text about the different subcommands.",
                                   "@slow"));
  t.add(std::move(config));

  t.add(srv("info", -1, kLoading | kStale, info,
            "Returns information and statistics about the server.", "@slow @dangerous"));
  t.add(srv("dbsize", 1, kReadonly | kFast, dbsize, "Returns the number of keys in the database.",
            "@keyspace @read @fast"));
  t.add(srv("flushdb", -1, kWrite, flushdb, "Removes all keys from the current database.",
            "@keyspace @write @slow @dangerous"));
  t.add(srv("flushall", -1, kWrite, flushall, "Removes all keys from all databases.",
            "@keyspace @write @slow @dangerous"));
  t.add(srv("time", 1, kLoading | kStale | kFast, time_cmd, "Returns the server time.", "@fast"));
  t.add(srv("debug", -2, kAdmin | kNoScript | kLoading | kStale, debug,
            "A container for debugging commands."));
  t.add(srv("shutdown", -1, kAdmin | kNoScript | kLoading | kStale | kNoMulti | kAllowBusy,
            shutdown,
            "Synchronously saves the database(s) to disk and shuts down the Redis server."));
  CommandSpec slowlog =
      srv("slowlog", -2, 0, nullptr, "A container for slow log commands.", "@slow");
  slowlog.subcommands.push_back(
      srv("get", -2, kAdmin | kLoading | kStale, slowlog_get, "Returns the slow log's entries."));
  slowlog.subcommands.push_back(srv("len", 2, kAdmin | kLoading | kStale, slowlog_len,
                                    "Returns the number of entries in the slow log."));
  slowlog.subcommands.push_back(srv("reset", 2, kAdmin | kLoading | kStale, slowlog_reset,
                                    "Clears all entries from the slow log."));
  slowlog.subcommands.push_back(srv("help", 2, kLoading | kStale, slowlog_help,
                                    "Show helpful text about the different subcommands", "@slow"));
  t.add(std::move(slowlog));
  t.add(srv("lastsave", 1, kLoading | kStale | kFast, lastsave,
            "Returns the Unix timestamp of the last successful save to disk.",
            "@admin @fast @dangerous"));
  t.add(srv("save", 1, kAdmin | kNoScript | kNoMulti, save,
            "Synchronously saves the database(s) to disk."));
  t.add(srv("bgsave", -1, kAdmin | kNoScript, bgsave,
            "Asynchronously saves the database(s) to disk."));
  t.add(srv("bgrewriteaof", 1, kAdmin | kNoScript, bgrewriteaof,
            "Asynchronously rewrites the append-only file to disk."));
}

}  // namespace sluice::commands
