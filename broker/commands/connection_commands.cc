// Connection commands: PING ECHO HELLO AUTH QUIT RESET SELECT and CLIENT.
#include <string>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/client_info.h"
#include "broker/commands/client_ops.h"
#include "broker/commands/context.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

constexpr const char* kRedisVersion = "7.0.15";

void ping(CommandContext& ctx) {
  if (ctx.argc() > 2) return ctx.wrong_arity();
  // RESP2 subscribed mode answers ["pong", msg] (Redis's pubsub PING).
  if (ctx.client.protocol == 2 && ctx.client.is_pubsub_client()) {
    ctx.reply.array(2);
    ctx.reply.bulk("pong");
    ctx.reply.bulk(ctx.argc() == 2 ? ctx.arg(1) : "");
    return;
  }
  if (ctx.argc() == 2) return ctx.reply.bulk(ctx.arg(1));
  ctx.reply.simple("PONG");
}

void echo(CommandContext& ctx) { ctx.reply.bulk(ctx.arg(1)); }

constexpr const char* kWrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

void auth(CommandContext& ctx) {
  if (ctx.argc() > 3) return ctx.syntax_error();
  if (ctx.argc() == 2 && acl_registry(ctx.broker).default_user().nopass()) {
    return ctx.error_text(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
  }
  std::string_view user = ctx.argc() == 3 ? ctx.arg(1) : "default";
  std::string_view pass = ctx.argc() == 3 ? ctx.arg(2) : ctx.arg(1);
  if (!acl_authenticate(ctx.broker, ctx.client, user, pass)) return ctx.error_text(kWrongPass);
  ctx.reply.ok();
}

void hello(CommandContext& ctx) {
  int64_t ver = ctx.client.protocol;
  size_t i = 1;
  if (ctx.argc() >= 2) {
    if (!parse_int(ctx.arg(1), &ver)) {
      return ctx.error_text("ERR Protocol version is not an integer or out of range");
    }
    i = 2;
    if (ver < 2 || ver > 3) return ctx.error_text("NOPROTO unsupported protocol version");
  }
  std::string_view setname;
  bool has_setname = false;
  for (; i < ctx.argc(); ++i) {
    bool more = i + 1 < ctx.argc();
    if (iequals(ctx.arg(i), "AUTH") && i + 2 < ctx.argc()) {
      std::string_view user = ctx.arg(i + 1), pass = ctx.arg(i + 2);
      i += 2;
      if (!acl_authenticate(ctx.broker, ctx.client, user, pass)) {
        return ctx.error_text(kWrongPass);
      }
    } else if (iequals(ctx.arg(i), "SETNAME") && more) {
      setname = ctx.arg(++i);
      has_setname = true;
      if (!valid_client_name(setname)) {
        return ctx.error_text(
            "ERR Client names cannot contain spaces, newlines or special characters.");
      }
    } else {
      return ctx.error_text("ERR Syntax error in HELLO option '" + std::string(ctx.arg(i)) + "'");
    }
  }
  if (!ctx.client.authenticated) {
    return ctx.error_text(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "AUTH <user> <pass> option can be used to authenticate the client and select the "
        "RESP protocol version at the same time");
  }
  if (has_setname) ctx.client.name = std::string(setname);
  ctx.client.protocol = static_cast<int>(ver);
  ctx.reply = wire::resp::ReplyWriter(ctx.client.out.staging(), ctx.client.protocol);
  auto& r = ctx.reply;
  r.map(7);
  r.bulk("server");
  r.bulk("redis");
  r.bulk("version");
  r.bulk(kRedisVersion);
  r.bulk("proto");
  r.integer(ver);
  r.bulk("id");
  r.integer(static_cast<int64_t>(ctx.client.id));
  r.bulk("mode");
  r.bulk("standalone");
  r.bulk("role");
  r.bulk(replication::of(ctx.broker).is_replica() ? "replica" : "master");
  r.bulk("modules");
  r.array(0);
}

void quit(CommandContext& ctx) {
  ctx.reply.ok();
  ctx.client.close_after_reply = true;
}

void reset(CommandContext& ctx) {
  auto& c = ctx.client;
  c.in_multi = false;
  c.multi_error = false;
  c.multi_queue.clear();
  ctx.broker.unwatch_all(c);
  ctx.broker.pubsub().remove_client(c);
  // As Redis's RESET: out of MONITOR mode, tracking off.
  if (c.monitor) {
    c.monitor = false;
    std::erase(ctx.broker.monitors, &c);
  }
  ctx.broker.tracking().disable(c);
  c.db = 0;
  c.protocol = 2;
  c.name.clear();
  c.reply_mode = core::ReplyMode::kOn;
  c.no_evict = false;
  c.no_touch = false;
  c.user = nullptr;
  c.authenticated = default_user_opens(ctx.broker);
  ctx.reply = wire::resp::ReplyWriter(c.out.staging(), c.protocol);
  ctx.reply.simple("RESET");
}

void select(CommandContext& ctx) {
  int64_t idx;
  if (!parse_int(ctx.arg(1), &idx)) return ctx.not_integer();
  if (idx < 0 || idx >= ctx.broker.db_count()) {
    return ctx.error_text("ERR DB index is out of range");
  }
  ctx.client.db = static_cast<int>(idx);
  ctx.reply.ok();
}

void client_id(CommandContext& ctx) { ctx.reply.integer(static_cast<int64_t>(ctx.client.id)); }

void client_setname(CommandContext& ctx) {
  if (!valid_client_name(ctx.arg(2))) {
    return ctx.error_text(
        "ERR Client names cannot contain spaces, newlines or special characters.");
  }
  ctx.client.name = std::string(ctx.arg(2));
  ctx.reply.ok();
}

void client_getname(CommandContext& ctx) {
  if (ctx.client.name.empty()) return ctx.reply.null();
  ctx.reply.bulk(ctx.client.name);
}

void client_setinfo(CommandContext& ctx) {
  std::string_view attr = ctx.arg(2), value = ctx.arg(3);
  if (!valid_client_name(value)) {
    return ctx.error_text("ERR " + std::string(attr) +
                          " cannot contain spaces, newlines or special characters.");
  }
  if (iequals(attr, "LIB-NAME")) {
    ctx.client.lib_name = std::string(value);
  } else if (iequals(attr, "LIB-VER")) {
    ctx.client.lib_ver = std::string(value);
  } else {
    return ctx.error_text("ERR Unrecognized option '" + std::string(attr) + "'");
  }
  ctx.reply.ok();
}

// The bytes of the running command's arguments (CLIENT LIST/INFO argv-mem of the caller).
size_t argv_bytes(CommandContext& ctx) {
  size_t n = 0;
  for (size_t i = 0; i < ctx.argc(); ++i) n += ctx.arg(i).size();
  return n;
}

void client_list(CommandContext& ctx) {
  std::string type_filter;
  std::vector<uint64_t> ids;
  for (size_t i = 2; i < ctx.argc(); ++i) {
    if (iequals(ctx.arg(i), "TYPE") && i + 1 < ctx.argc()) {
      std::string_view t = ctx.arg(++i);
      if (iequals(t, "normal") || iequals(t, "pubsub") || iequals(t, "master") ||
          iequals(t, "replica") || iequals(t, "slave")) {
        type_filter = std::string(t);
        for (auto& ch : type_filter) ch = static_cast<char>(std::tolower(ch));
      } else {
        return ctx.error_text("ERR Unknown client type '" + std::string(t) + "'");
      }
    } else if (iequals(ctx.arg(i), "ID") && i + 1 < ctx.argc()) {
      for (++i; i < ctx.argc(); ++i) {
        int64_t id;
        if (!parse_int(ctx.arg(i), &id) || id <= 0) {
          return ctx.error_text("ERR Invalid client ID");
        }
        ids.push_back(static_cast<uint64_t>(id));
      }
    } else {
      return ctx.syntax_error();
    }
  }
  std::string out;
  for (const auto& [id, c] : ctx.broker.clients()) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    if (!type_filter.empty() && !client_has_type(*c, type_filter)) continue;
    out += client_info_line(ctx.broker, *c, ctx.now_ms, c == &ctx.client ? argv_bytes(ctx) : 0);
    out += '\n';
  }
  ctx.reply.verbatim(out);
}

void client_info(CommandContext& ctx) {
  ctx.reply.verbatim(client_info_line(ctx.broker, ctx.client, ctx.now_ms, argv_bytes(ctx)) + "\n");
}

void client_kill(CommandContext& ctx) {
  // Old form: CLIENT KILL ip:port
  if (ctx.argc() == 3) {
    for (const auto& [id, c] : ctx.broker.clients()) {
      if (c->addr == ctx.arg(2)) {
        ctx.broker.control->kill_client(*c);
        return ctx.reply.ok();
      }
    }
    return ctx.error_text("ERR No such client");
  }
  if ((ctx.argc() - 2) % 2 != 0) return ctx.syntax_error();
  uint64_t want_id = 0;
  std::string addr, laddr, type;
  bool skipme = true;
  const acl::User* kill_user = nullptr;
  for (size_t i = 2; i + 1 < ctx.argc(); i += 2) {
    std::string_view opt = ctx.arg(i), val = ctx.arg(i + 1);
    if (iequals(opt, "ID")) {
      int64_t id;
      if (!parse_int(val, &id) || id <= 0)
        return ctx.error_text("ERR client-id should be greater than 0");
      want_id = static_cast<uint64_t>(id);
    } else if (iequals(opt, "ADDR")) {
      addr = std::string(val);
    } else if (iequals(opt, "LADDR")) {
      laddr = std::string(val);
    } else if (iequals(opt, "TYPE")) {
      type = std::string(val);
      for (auto& ch : type) ch = static_cast<char>(std::tolower(ch));
      if (type != "normal" && type != "pubsub" && type != "master" && type != "replica" &&
          type != "slave") {
        return ctx.error_text("ERR Unknown client type '" + std::string(val) + "'");
      }
    } else if (iequals(opt, "USER")) {
      kill_user = acl_registry(ctx.broker).find(val);
      if (!kill_user) return ctx.error_text("ERR No such user '" + std::string(val) + "'");
    } else if (iequals(opt, "SKIPME")) {
      if (iequals(val, "yes")) {
        skipme = true;
      } else if (iequals(val, "no")) {
        skipme = false;
      } else {
        return ctx.syntax_error();
      }
    } else {
      return ctx.syntax_error();
    }
  }
  int64_t killed = 0;
  // The master client (a replica's link, listed while it streams) is killed like the others:
  // its link closes and a new one connects at once (server/master_link.h).
  for (const auto& [id, c] : ctx.broker.clients()) {
    if (want_id && id != want_id) continue;
    if (!addr.empty() && c->addr != addr) continue;
    if (!laddr.empty() && c->laddr != laddr) continue;
    if (!type.empty() && !client_has_type(*c, type)) continue;
    if (skipme && c == &ctx.client) continue;
    // The master client runs as no user (Redis's "(superuser)"), so USER never matches it.
    if (kill_user && (c->master || &client_user(ctx.broker, *c) != kill_user)) continue;
    ctx.broker.control->kill_client(*c);
    ++killed;
  }
  ctx.reply.integer(killed);
}

void client_reply(CommandContext& ctx) {
  std::string_view mode = ctx.arg(2);
  if (iequals(mode, "ON")) {
    ctx.client.reply_mode = core::ReplyMode::kOn;
    ctx.reply.ok();
  } else if (iequals(mode, "OFF")) {
    ctx.client.reply_mode = core::ReplyMode::kOff;
  } else if (iequals(mode, "SKIP")) {
    if (ctx.client.reply_mode == core::ReplyMode::kOn)
      ctx.client.reply_mode = core::ReplyMode::kSkip;
  } else {
    ctx.syntax_error();
  }
}

void client_onoff(CommandContext& ctx, bool* flag) {
  if (iequals(ctx.arg(2), "ON")) {
    *flag = true;
  } else if (iequals(ctx.arg(2), "OFF")) {
    *flag = false;
  } else {
    return ctx.syntax_error();
  }
  ctx.reply.ok();
}

void client_no_evict(CommandContext& ctx) { client_onoff(ctx, &ctx.client.no_evict); }
void client_no_touch(CommandContext& ctx) { client_onoff(ctx, &ctx.client.no_touch); }

void client_unblock(CommandContext& ctx) {
  int64_t id;
  if (!parse_int(ctx.arg(2), &id)) return ctx.not_integer();
  bool as_error = false;
  if (ctx.argc() == 4) {
    if (iequals(ctx.arg(3), "ERROR")) {
      as_error = true;
    } else if (!iequals(ctx.arg(3), "TIMEOUT")) {
      return ctx.error_text("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
  }
  core::Client* target = ctx.broker.find_client(static_cast<uint64_t>(id));
  // A client waiting for CLIENT PAUSE to end is not blocked on keys: it stays put, as in Redis.
  // Nor is one waiting for a cold read (cold_read.h): its command runs once the bytes are read.
  if (!target || !target->blocked || target->paused || target->reading_cold) {
    return ctx.reply.integer(0);
  }
  if (as_error) {
    wire::resp::ReplyWriter w(target->out.staging(), target->protocol);
    w.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    ctx.broker.blocking().remove(*target);
    target->host->unblocked(*target);
  } else {
    ctx.broker.blocking().unblock_now(*target);
  }
  target->host->output_ready(*target);
  ctx.reply.integer(1);
}

void client_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CACHING (YES|NO)",
      "    In OPTIN/OPTOUT tracking mode, track (or not) the keys read by the next command.",
      "GETREDIR",
      "    Return the ID of the client receiving this connection's invalidations (-1: tracking "
      "is off, 0: none).",
      "GETNAME",
      "    Return the name of the current connection.",
      "ID",
      "    Return the ID of the current connection.",
      "INFO",
      "    Return information about the current client connection.",
      "KILL <ip:port>",
      "    Kill connection made from <ip:port>.",
      "KILL <option> <value> [<option> <value> [...]]",
      "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
      "LIST [options ...]",
      "    Return information about client connections.",
      "UNPAUSE",
      "    End the current client pause: waiting commands run now.",
      "PAUSE <timeout> [WRITE|ALL]",
      "    Hold the commands of all clients (or only their writes) for <timeout> milliseconds.",
      "REPLY (ON|OFF|SKIP)",
      "    Control the replies sent to the current connection.",
      "SETNAME <name>",
      "    Assign the name <name> to the current connection.",
      "SETINFO <LIB-NAME|LIB-VER> <value>",
      "    Set client library name or version.",
      "UNBLOCK <clientid> [TIMEOUT|ERROR]",
      "    Unblock the specified blocked client.",
      "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
      "         [OPTIN] [OPTOUT] [NOLOOP]",
      "    Turn server-assisted client-side caching on or off for this connection.",
      "TRACKINGINFO",
      "    Show this connection's tracking mode, redirect and prefixes.",
      "NO-EVICT (ON|OFF)",
      "    Protect the current client connection from eviction.",
      "NO-TOUCH (ON|OFF)",
      "    Do not touch the LRU/LFU of keys read by this client.",
      "HELP",
      "    Print this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_connection_commands(CommandTable& t) {
  auto conn = [](std::string name, int arity, uint32_t flags, Handler h, std::string summary) {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags;
    s.handler = h;
    s.group = "connection";
    s.acl_categories = "@fast @connection";
    s.summary = std::move(summary);
    s.since = "1.0.0";
    return s;
  };
  t.add(conn("ping", -1, kFast | kSubscribedOk, ping, "Returns the server's liveliness response."));
  t.add(conn("echo", 2, kFast | kLoading | kStale, echo, "Returns the given string."));
  t.add(conn("auth", -2, kNoAuth | kNoScript | kFast | kLoading | kStale | kAllowBusy, auth,
             "Authenticates the connection."));
  t.add(conn("hello", -1, kNoAuth | kNoScript | kFast | kLoading | kStale | kAllowBusy, hello,
             "Handshakes with the Redis server."));
  t.add(conn("quit", -1,
             kNoAuth | kNoScript | kFast | kSubscribedOk | kLoading | kStale | kAllowBusy, quit,
             "Closes the connection."));
  t.add(conn("reset", 1,
             kNoAuth | kNoScript | kFast | kSubscribedOk | kLoading | kStale | kAllowBusy, reset,
             "Resets the connection."));
  t.add(conn("select", 2, kFast | kLoading | kStale, select, "Changes the selected database."));
  CommandSpec client =
      conn("client", -2, 0, nullptr, "A container for client connection commands.");
  client.acl_categories = "@slow";
  auto sub = [&](std::string name, int arity, Handler h, std::string summary) {
    // As Redis: scripts may not use CLIENT (but may ask for its help). The subcommands that act
    // on other connections are admin and @dangerous, so `-@dangerous` or `-@admin` in an ACL
    // rule denies them as it does in Redis; the rest are @slow @connection.
    uint32_t flags = kLoading | kStale | (name == "help" ? 0u : kNoScript);
    const bool admin = name == "kill" || name == "list" || name == "pause" || name == "unpause" ||
                       name == "unblock" || name == "no-evict";
    if (admin) flags |= kAdmin;
    CommandSpec s = conn(std::move(name), arity, flags, h, std::move(summary));
    s.acl_categories = admin ? "@admin @slow @dangerous @connection" : "@slow @connection";
    return s;
  };
  client.subcommands.push_back(
      sub("id", 2, client_id, "Returns the unique client ID of the connection."));
  client.subcommands.push_back(sub("setname", 3, client_setname, "Sets the connection name."));
  client.subcommands.push_back(
      sub("getname", 2, client_getname, "Returns the name of the connection."));
  client.subcommands.push_back(
      sub("setinfo", 4, client_setinfo, "Sets information specific to the client or connection."));
  client.subcommands.push_back(sub("list", -2, client_list, "Lists open connections."));
  client.subcommands.push_back(
      sub("info", 2, client_info, "Returns information about the connection."));
  client.subcommands.push_back(sub("kill", -3, client_kill, "Terminates open connections."));
  client.subcommands.push_back(
      sub("reply", 3, client_reply, "Instructs the server whether to reply to commands."));
  client.subcommands.push_back(
      sub("no-evict", 3, client_no_evict, "Sets the client eviction mode of the connection."));
  client.subcommands.push_back(
      sub("no-touch", 3, client_no_touch,
          "Controls whether commands sent by the client affect the LRU/LFU of accessed keys."));
  client.subcommands.push_back(
      sub("unblock", -3, client_unblock,
          "Unblocks a client blocked by a blocking command from a different connection."));
  client.subcommands.push_back(sub(
      "getredir", 2, client_getredir,
      "Returns the client ID to which the connection's tracking notifications are redirected."));
  client.subcommands.push_back(sub("pause", -3, client_pause, "Suspends commands processing."));
  client.subcommands.push_back(
      sub("unpause", 2, client_unpause, "Resumes processing commands from paused clients."));
  client.subcommands.push_back(sub("tracking", -3, client_tracking,
                                   "Controls server-assisted client-side caching for the "
                                   "connection."));
  client.subcommands.push_back(sub("caching", 3, client_caching,
                                   "Instructs the server whether to track the keys in the "
                                   "next request."));
  client.subcommands.push_back(
      sub("trackinginfo", 2, client_trackinginfo,
          "Returns information about server-assisted client-side caching for the connection."));
  client.subcommands.push_back(
      sub("help", 2, client_help, "Returns helpful text about the different subcommands."));
  t.add(std::move(client));
}

}  // namespace sluice::commands
