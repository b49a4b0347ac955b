// Transactions: MULTI EXEC DISCARD WATCH UNWATCH. dispatch.cc queues commands while the client
// is in MULTI (flagging EXECABORT when one is rejected); EXEC runs the queue with run_checked.
// WATCH is optimistic locking: Broker::key_modified marks watchers dirty on any write, expiry,
// FLUSH or SWAPDB, and EXEC then refuses with a null array.
#include <string>
#include <vector>

#include "broker/commands/acl_check.h"
#include "broker/commands/command_table.h"
#include "broker/commands/dispatch.h"
#include "broker/commands/kv_support.h"
#include "broker/storage/open_files.h"
#include "wire/check.h"

namespace sluice::commands {
namespace {

void discard_transaction(core::Broker& broker, core::Client& client) {
  client.in_multi = false;
  client.multi_error = false;
  client.multi_queue.clear();
  broker.unwatch_all(client);
}

void multi(CommandContext& ctx) {
  if (ctx.client.in_multi) return ctx.error_text("ERR MULTI calls can not be nested");
  ctx.client.in_multi = true;
  ctx.client.multi_error = false;
  ctx.client.multi_queue.clear();
  ctx.reply.ok();
}

void discard(CommandContext& ctx) {
  if (!ctx.client.in_multi) return ctx.error_text("ERR DISCARD without MULTI");
  discard_transaction(ctx.broker, ctx.client);
  ctx.reply.ok();
}

// A watched key whose TTL passed since WATCH counts as modified: looking it up reclaims it,
// and the expiry hook marks the watchers dirty.
void expire_watched(core::Broker& broker, core::Client& client, int64_t now_ms) {
  auto watched = client.watched_keys;
  for (const auto& [db, key] : watched) broker.db(db).find(key, now_ms);
}

void exec(CommandContext& ctx) {
  core::Client& client = ctx.client;
  if (!client.in_multi) return ctx.error_text("ERR EXEC without MULTI");
  expire_watched(ctx.broker, client, ctx.now_ms);
  if (client.multi_error) {
    discard_transaction(ctx.broker, client);
    return ctx.error_text("EXECABORT Transaction discarded because of previous errors.");
  }
  if (client.watch_dirty) {
    discard_transaction(ctx.broker, client);
    return ctx.reply.null_array();
  }
  const CommandTable& table = command_table();
  auto spec_of = [&](const std::vector<std::string>& cmd) {
    const CommandSpec* spec = table.find(cmd[0]);
    if (spec && !spec->subcommands.empty() && cmd.size() >= 2) spec = table.find_sub(*spec, cmd[1]);
    // Every queued command passed lookup and arity checks when it was queued.
    SLUICE_CHECK(spec != nullptr, "queued command %s vanished from the table", cmd[0].c_str());
    return spec;
  };
  // A transaction with writes is refused as a whole once storage failed (Redis treats EXEC as
  // a write command when it queued one).
  if (ctx.broker.storage_failed()) {
    for (const auto& cmd : client.multi_queue) {
      if (spec_of(cmd)->flags & kWrite) {
        discard_transaction(ctx.broker, client);
        return ctx.error(wire::ErrorCode::kStorageFailed, ctx.broker.storage_error());
      }
    }
  }
  // Writes made by the transaction itself must not abort anything it watched.
  ctx.broker.unwatch_all(client);
  std::vector<std::vector<std::string>> queue;
  queue.swap(client.multi_queue);
  ctx.reply.array(queue.size());
  std::vector<std::string_view> argv;
  // The transaction's KV journal records are one unit on disk: replay after a crash applies all
  // of them or none (storage/journal.h).
  ctx.broker.kv().begin_batch();
  for (auto& cmd : queue) {
    argv.assign(cmd.begin(), cmd.end());
    const CommandSpec* spec = spec_of(cmd);
    // The queue owns the arguments: a command may keep a big one instead of copying it.
    client.owned_args = cmd;
    // Rules may have changed since the command was queued: checked again, as Redis does.
    const acl::User& user = client_user(ctx.broker, client);
    size_t bad_pos = 0;
    acl::Verdict verdict = acl::Verdict::kOk;
    if (!user.unrestricted()) verdict = acl_check(user, *spec, argv, &bad_pos);
    if (verdict != acl::Verdict::kOk) {
      acl_note_denial(ctx.broker, client, verdict, "multi", *spec, argv, bad_pos);
      const char* reason = verdict == acl::Verdict::kKey
                               ? "no permission to touch the specified keys"
                           : verdict == acl::Verdict::kChannel
                               ? "no permission to access one of the channels used as arguments"
                               : "no permission to execute the command or subcommand";
      ctx.reply.error(std::string("NOPERM ACLs rules changed between the moment the transaction "
                                  "was accumulated and the EXEC call. This command is no longer "
                                  "allowed for the following reason: ") +
                      reason);
      client.owned_args = {};
      continue;
    }
    run_checked(ctx.broker, client, *spec, argv, core::now_us());
    client.owned_args = {};
    // Between two commands no scan is running: idle stream files over the descriptor budget
    // make room for those a long transaction's streams will open (storage/open_files.h).
    storage::close_idle_files();
  }
  ctx.broker.kv().end_batch();
  client.in_multi = false;
  client.multi_error = false;
}

void watch(CommandContext& ctx) {
  if (ctx.client.in_multi) return ctx.error_text("ERR WATCH inside MULTI is not allowed");
  for (size_t i = 1; i < ctx.argc(); ++i) {
    // An already expired key is reclaimed first, so its expiry does not dirty this WATCH.
    ctx.db().find(ctx.arg(i), ctx.now_ms);
    ctx.broker.watch(ctx.client, ctx.client.db, ctx.arg(i));
  }
  ctx.reply.ok();
}

void unwatch(CommandContext& ctx) {
  ctx.broker.unwatch_all(ctx.client);
  ctx.reply.ok();
}

}  // namespace

void register_transaction_commands(CommandTable& t) {
  auto cmd = [](std::string name, int arity, uint32_t flags, Handler h, std::string summary,
                std::string since) {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags | kNoScript | kLoading | kStale;
    s.handler = h;
    s.group = "transactions";
    s.acl_categories = "@fast @transaction";
    s.summary = std::move(summary);
    s.since = std::move(since);
    return s;
  };
  t.add(cmd("multi", 1, kFast | kAllowBusy, multi, "Starts a transaction.", "1.2.0"));
  CommandSpec e =
      cmd("exec", 1, kSkipSlowlog, exec, "Executes all commands in a transaction.", "1.2.0");
  e.acl_categories = "@slow @transaction";
  t.add(std::move(e));
  t.add(cmd("discard", 1, kFast | kAllowBusy, discard, "Discards a transaction.", "2.0.0"));
  CommandSpec w =
      cmd("watch", -2, kFast | kAllowBusy, watch,
          "Monitors changes to keys to determine the execution of a transaction.", "2.2.0");
  w.first_key = 1;
  w.last_key = -1;
  w.key_step = 1;
  t.add(std::move(w));
  t.add(cmd("unwatch", 1, kFast | kAllowBusy, unwatch,
            "Forgets about watched keys of a transaction.", "2.2.0"));
}

}  // namespace sluice::commands
