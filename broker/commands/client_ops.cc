#include "broker/commands/client_ops.h"

#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/dispatch.h"

namespace sluice::commands {

void client_pause(CommandContext& ctx) {
  int64_t ms;
  if (!parse_int(ctx.arg(2), &ms)) {
    return ctx.error_text("ERR timeout is not an integer or out of range");
  }
  if (ms < 0) return ctx.error_text("ERR timeout is negative");
  bool writes_only = false;
  if (ctx.argc() == 4) {
    if (iequals(ctx.arg(3), "WRITE")) {
      writes_only = true;
    } else if (!iequals(ctx.arg(3), "ALL")) {
      return ctx.error_text("ERR CLIENT PAUSE mode must be WRITE or ALL");
    }
  } else if (ctx.argc() > 4) {
    return ctx.error_text("ERR unknown subcommand or wrong number of arguments for '" +
                          std::string(ctx.arg(1)) + "'. Try CLIENT HELP.");
  }
  auto& b = ctx.broker;
  // As Redis: a second pause never shortens the first, and ALL wins over WRITE.
  const int64_t end = ctx.now_ms + ms;
  b.pause_writes_only = b.pause_end_ms != 0 ? b.pause_writes_only && writes_only : writes_only;
  b.pause_end_ms = std::max(b.pause_end_ms, std::max<int64_t>(end, 1));
  ctx.reply.ok();
}

void client_unpause(CommandContext& ctx) {
  ctx.broker.pause_end_ms = 0;
  ctx.broker.pause_writes_only = false;
  ctx.reply.ok();
}

bool must_wait_for_pause(const core::Broker& broker, const core::Client& client,
                         const CommandSpec& spec) {
  if (!broker.paused() || client.script) return false;
  if (broker.pause_end_ms != 0 && !broker.pause_writes_only) return true;
  if (spec.flags & (kWrite | kMayReplicate)) return true;
  if (spec.name != "exec" || !client.in_multi) return false;
  for (const auto& queued : client.multi_queue) {
    const CommandSpec* s = command_table().find(queued[0]);
    if (s && !s->subcommands.empty() && queued.size() > 1) {
      if (const CommandSpec* sub = command_table().find_sub(*s, queued[1])) s = sub;
    }
    if (s && (s->flags & (kWrite | kMayReplicate))) return true;
  }
  return false;
}

void postpone(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv) {
  client.postponed.assign(argv.begin(), argv.end());
  for (size_t i = 0; i < argv.size(); ++i) {
    // A big argument received into a buffer of its own moves instead of being copied.
    std::string owned;
    if (core::take_owned_arg(client, argv[i], &owned)) client.postponed[i] = std::move(owned);
  }
  client.paused = true;
  client.blocked = true;
  client.blocked_waiter = 0;
  broker.paused_clients.push_back(&client);
}

void resume_paused_if_due(core::Broker& broker, int64_t now_ms) {
  if (broker.pause_end_ms != 0 && now_ms >= broker.pause_end_ms) {
    broker.pause_end_ms = 0;
    broker.pause_writes_only = false;
  }
  while (!broker.paused_clients.empty()) {
    // Under a WRITE pause, a client whose command may run now (no pause left) goes on.
    core::Client* c = broker.paused_clients.front();
    if (broker.paused()) return;
    broker.paused_clients.erase(broker.paused_clients.begin());
    c->paused = false;
    c->blocked = false;
    std::vector<std::string> args = std::move(c->postponed);
    c->postponed.clear();
    std::vector<std::string_view> argv(args.begin(), args.end());
    c->owned_args = args;
    execute(broker, *c, argv);
    c->owned_args = {};
    c->host->unblocked(*c);
    c->host->output_ready(*c);
  }
}

// --- client-side caching ---

void client_tracking(CommandContext& ctx) {
  uint64_t redirect = 0;
  bool bcast = false, optin = false, optout = false, noloop = false;
  std::vector<std::string> prefixes;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    std::string_view opt = ctx.arg(i);
    bool more = i + 1 < ctx.argc();
    if (iequals(opt, "REDIRECT") && more) {
      if (redirect != 0) {
        return ctx.error_text("ERR A client can only redirect to a single other client");
      }
      int64_t id;
      if (!parse_int(ctx.arg(++i), &id)) return ctx.not_integer();
      if (id <= 0 || !ctx.broker.find_client(static_cast<uint64_t>(id))) {
        return ctx.error_text("ERR The client ID you want redirect to does not exist");
      }
      redirect = static_cast<uint64_t>(id);
    } else if (iequals(opt, "BCAST")) {
      bcast = true;
    } else if (iequals(opt, "OPTIN")) {
      optin = true;
    } else if (iequals(opt, "OPTOUT")) {
      optout = true;
    } else if (iequals(opt, "NOLOOP")) {
      noloop = true;
    } else if (iequals(opt, "PREFIX") && more) {
      prefixes.emplace_back(ctx.arg(++i));
    } else {
      return ctx.syntax_error();
    }
  }
  auto& t = ctx.client.tracking;
  if (iequals(ctx.arg(2), "OFF")) {
    ctx.broker.tracking().disable(ctx.client);
    return ctx.reply.ok();
  }
  if (!iequals(ctx.arg(2), "ON")) return ctx.syntax_error();
  if (!bcast && !prefixes.empty()) {
    return ctx.error_text("ERR PREFIX option requires BCAST mode to be enabled");
  }
  if (t.on && t.bcast != bcast) {
    return ctx.error_text(
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and "
        "then re-enabling it with a different mode.");
  }
  if (bcast && (optin || optout)) {
    return ctx.error_text("ERR OPTIN and OPTOUT are not compatible with BCAST");
  }
  if (optin && optout) {
    return ctx.error_text("ERR You can't specify both OPTIN mode and OPTOUT mode");
  }
  if ((optin && t.optout) || (optout && t.optin)) {
    return ctx.error_text(
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and "
        "then re-enabling it with a different mode.");
  }
  if (bcast) {
    for (size_t i = 0; i < prefixes.size(); ++i) {
      for (const auto& have : t.prefixes) {
        if (core::Tracking::overlap(prefixes[i], have)) {
          return ctx.error_text("ERR Prefix '" + prefixes[i] +
                                "' overlaps with an existing prefix '" + have +
                                "'. Prefixes for a single client must not overlap.");
        }
      }
      for (size_t j = i + 1; j < prefixes.size(); ++j) {
        if (core::Tracking::overlap(prefixes[i], prefixes[j])) {
          return ctx.error_text("ERR Prefix '" + prefixes[i] +
                                "' overlaps with another provided prefix '" + prefixes[j] +
                                "'. Prefixes for a single client must not overlap.");
        }
      }
    }
  }
  ctx.broker.tracking().enable(ctx.client, redirect, bcast, optin, optout, noloop, prefixes);
  ctx.reply.ok();
}

void client_caching(CommandContext& ctx) {
  auto& t = ctx.client.tracking;
  if (!t.on) {
    return ctx.error_text(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or "
        "OPTOUT mode enabled");
  }
  if (iequals(ctx.arg(2), "YES")) {
    if (!t.optin) {
      return ctx.error_text(
          "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
    }
  } else if (iequals(ctx.arg(2), "NO")) {
    if (!t.optout) {
      return ctx.error_text(
          "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
    }
  } else {
    return ctx.syntax_error();
  }
  t.caching = true;
  ctx.reply.ok();
}

void client_trackinginfo(CommandContext& ctx) {
  const auto& t = ctx.client.tracking;
  std::vector<const char*> flags;
  if (!t.on) {
    flags.push_back("off");
  } else {
    flags.push_back("on");
    if (t.bcast) flags.push_back("bcast");
    if (t.optin) flags.push_back("optin");
    if (t.optout) flags.push_back("optout");
    if (t.caching) flags.push_back(t.optin ? "caching-yes" : "caching-no");
    if (t.noloop) flags.push_back("noloop");
    if (t.broken_redirect) flags.push_back("broken_redirect");
  }
  auto& r = ctx.reply;
  r.map(3);
  r.bulk("flags");
  r.set(flags.size());
  for (const char* f : flags) r.bulk(f);
  r.bulk("redirect");
  r.integer(t.on ? static_cast<int64_t>(t.redirect) : -1);
  r.bulk("prefixes");
  r.array(t.prefixes.size());
  for (const auto& p : t.prefixes) r.bulk(p);
}

void client_getredir(CommandContext& ctx) {
  const auto& t = ctx.client.tracking;
  ctx.reply.integer(t.on ? static_cast<int64_t>(t.redirect) : -1);
}

}  // namespace sluice::commands
