// Consumer-group commands: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS/CONSUMERS and
// the groups of XINFO STREAM FULL (XREADGROUP is in group_read.cc). Each handler parses with
// Redis's argument order and error words, changes the group in memory, journals the effect
// (group_store.h), then replies.
#include <algorithm>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/cold_read.h"
#include "broker/commands/dead_letter.h"
#include "broker/commands/error_text.h"
#include "broker/commands/group_api.h"
#include "broker/commands/group_support.h"
#include "broker/commands/replication_effects.h"
#include "broker/commands/stream_support.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {

using stream::Consumer;
using stream::ConsumerGroup;
using stream::GroupStore;
using stream::Pending;
using stream::Stream;

void reply_nogroup(CommandContext& ctx, std::string text) {
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  ctx.error(wire::ErrorCode::kNoGroup, std::move(text));
}

ConsumerGroup* find_group(Stream& s, std::string_view name) {
  auto it = s.groups.find(name);
  return it == s.groups.end() ? nullptr : it->second.get();
}

std::optional<GroupStore> group_store_or_reply(CommandContext& ctx, Stream& s) {
  wire::Status st;
  auto store = stream::group_store(s, &st);
  if (!store) ctx.error(st);
  return store;
}

void group_written(CommandContext& ctx, Stream& s) {
  ctx.broker.streams().mark_dirty(s);
  ctx.wrote = true;
}

void notify_consumer_created(core::Broker& broker, int db, std::string_view key) {
  broker.notify('t', "xgroup-createconsumer", key, db);
}

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

void notify(CommandContext& ctx, const char* event, std::string_view key) {
  ctx.broker.notify('t', event, key, ctx.client.db);
}

int64_t elapsed_since(int64_t now, int64_t then) { return std::max<int64_t>(0, now - then); }

// XCLAIM and XAUTOCLAIM read entries and change the PEL as they go. Reading the entries they will
// visit first, with nothing changed, lets a read refused as cold (cold_read.h) return: false then.
// Otherwise their reads wait for the disk from here on (the bytes were just read: they are cached).
bool touch_entries(const Stream& s, std::span<const StreamId> ids) {
  if (!cold_read_active()) return true;
  for (StreamId id : ids) {
    s.lookup(id, [](StreamId, std::string_view) { return false; });
    if (cold_read_missed()) return false;
  }
  cold_read_commit();
  return true;
}

// The entries XAUTOCLAIM visits from `start`: as its loop, one per attempt, until `count` were
// claimed or found deleted (a dead-lettered entry counts as claimed here: it is read too).
bool touch_autoclaim(const Stream& s, const ConsumerGroup& g, StreamId start, int64_t now,
                     int64_t min_idle, int64_t count, int64_t attempts) {
  if (!cold_read_active()) return true;
  for (auto it = g.pel.entries().lower_bound(start);
       attempts-- > 0 && count > 0 && it != g.pel.entries().end(); ++it) {
    const bool exists = s.lookup(it->first, [](StreamId, std::string_view) { return false; });
    if (cold_read_missed()) return false;
    if (exists && min_idle != 0 && now - it->second.delivery_time_ms < min_idle) continue;
    --count;
  }
  cold_read_commit();
  return true;
}

void subcommand_syntax_error(CommandContext& ctx) {
  std::string cmd(ctx.arg(0));
  for (auto& ch : cmd) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string sub(ctx.arg(1).substr(0, 128));
  std::replace(sub.begin(), sub.end(), '\r', ' ');
  std::replace(sub.begin(), sub.end(), '\n', ' ');
  ctx.error_text("ERR unknown subcommand or wrong number of arguments for '" + sub + "'. Try " +
                 cmd + " HELP.");
}

// ---- XGROUP ----------------------------------------------------------------------------------

// The parts every XGROUP subcommand with a key shares (Redis's xgroupCommand prologue).
struct XGroupArgs {
  bool mkstream = false;
  int64_t entries_read = stream::kEntriesReadUnknown;
  Stream* s = nullptr;
  ConsumerGroup* g = nullptr;
};

// Parses options, looks up key and group. Replies and returns false on an error.
bool xgroup_prologue(CommandContext& ctx, bool create, bool setid, bool group_needed,
                     XGroupArgs* a) {
  if (create || setid) {
    for (size_t i = 5; i < ctx.argc();) {
      if (create && iequals(ctx.arg(i), "MKSTREAM")) {
        a->mkstream = true;
        ++i;
      } else if (iequals(ctx.arg(i), "ENTRIESREAD") && i + 1 < ctx.argc()) {
        if (!wire::parse_i64(ctx.arg(i + 1), &a->entries_read)) {
          ctx.not_integer();
          return false;
        }
        if (a->entries_read < 0 && a->entries_read != stream::kEntriesReadUnknown) {
          ctx.error_text("ERR value for ENTRIESREAD must be positive or -1");
          return false;
        }
        i += 2;
      } else {
        subcommand_syntax_error(ctx);
        return false;
      }
    }
  }
  bool replied;
  a->s = lookup_stream(ctx, ctx.arg(2), &replied);
  if (replied) return false;
  if (!a->mkstream) {
    if (!a->s) {
      ctx.error_text(
          "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
          "want to use the MKSTREAM option to create an empty stream automatically.");
      return false;
    }
    a->g = find_group(*a->s, ctx.arg(3));
    if (!a->g && group_needed) {
      reply_nogroup(ctx, "No such consumer group " + quoted(ctx.arg(3)) + " for key name " +
                             quoted(ctx.arg(2)));
      return false;
    }
  } else if (a->s) {
    a->g = find_group(*a->s, ctx.arg(3));
  }
  return true;
}

void xgroup_create(CommandContext& ctx) {
  XGroupArgs a;
  if (!xgroup_prologue(ctx, true, false, false, &a)) return;
  if (ctx.argc() > 8) return subcommand_syntax_error(ctx);
  StreamId id;
  if (ctx.arg(4) == "$") {
    id = a.s ? a.s->last_id() : StreamId{};
  } else if (!parse_strict_id(ctx, ctx.arg(4), 0, &id)) {
    return;
  }
  if (a.g) return ctx.error(wire::ErrorCode::kBusyGroup);
  std::string_view key = ctx.arg(2);
  if (!a.s) {
    if (!(a.s = create_stream(ctx, key))) return;
    stream_written(ctx, *a.s);
  }
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  auto g = std::make_unique<ConsumerGroup>(std::string(ctx.arg(3)));
  g->last_delivered_id = id;
  g->entries_read = a.entries_read;
  ConsumerGroup* raw = g.get();
  a.s->groups.emplace(raw->name, std::move(g));
  wire::Status st = store->group_state(*raw, true);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.ok();
  notify(ctx, "xgroup-create", key);
}

void xgroup_setid(CommandContext& ctx) {
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, true, true, &a)) return;
  if (ctx.argc() != 5 && ctx.argc() != 7) return subcommand_syntax_error(ctx);
  StreamId id;
  std::string_view arg = ctx.arg(4);
  if (arg == "$") {
    id = a.s->last_id();
  } else if (arg == "-") {
    id = StreamId::min();
  } else if (arg == "+") {
    id = StreamId::max();
  } else if (!parse_strict_id(ctx, arg, 0, &id)) {
    return;
  }
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  a.g->last_delivered_id = id;
  a.g->entries_read = a.entries_read;
  wire::Status st = store->group_state(*a.g, false);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.ok();
  notify(ctx, "xgroup-setid", ctx.arg(2));
}

void xgroup_destroy(CommandContext& ctx) {
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, false, false, &a)) return;
  if (!a.g) return ctx.reply.integer(0);
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  std::string name = a.g->name;
  a.s->groups.erase(name);
  wire::Status st = store->group_destroy(name);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.integer(1);
  notify(ctx, "xgroup-destroy", ctx.arg(2));
  // Readers blocked on this group get NOGROUP.
  ctx.broker.blocking().signal(ctx.client.db, ctx.arg(2));
}

void xgroup_createconsumer(CommandContext& ctx) {
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, false, true, &a)) return;
  bool created = false;
  Consumer* c = a.g->ensure_consumer(ctx.arg(4), ctx.now_ms, &created);
  if (!created) return ctx.reply.integer(0);
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  wire::Status st = store->consumer_seen(*a.g, *c);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.integer(1);
  notify_consumer_created(ctx.broker, ctx.client.db, ctx.arg(2));
}

void xgroup_delconsumer(CommandContext& ctx) {
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, false, true, &a)) return;
  uint64_t pending = 0;
  if (a.g->find_consumer(ctx.arg(4))) {
    auto store = group_store_or_reply(ctx, *a.s);
    if (!store) return;
    pending = a.g->delete_consumer(ctx.arg(4));
    wire::Status st = store->consumer_delete(*a.g, ctx.arg(4));
    if (!st.is_ok()) return ctx.error(st);
    group_written(ctx, *a.s);
  }
  ctx.reply.integer(static_cast<int64_t>(pending));
  notify(ctx, "xgroup-delconsumer", ctx.arg(2));
}

// XGROUP SETDLQ key group MAXDELIVERIES n STREAM dlq-key | XGROUP SETDLQ key group OFF
// (Sluice extension, dead_letter.h). Options parse before the key is looked up, as Redis's
// XGROUP does; the dead-letter key may not be the group's own stream nor hold another type.
void xgroup_setdlq(CommandContext& ctx) {
  uint64_t max_deliveries = 0;
  std::string_view dlq_key;
  bool off = false;
  if (ctx.argc() == 5 && iequals(ctx.arg(4), "OFF")) {
    off = true;
  } else {
    bool have_max = false, have_key = false;
    for (size_t i = 4; i < ctx.argc(); i += 2) {
      if (i + 1 >= ctx.argc()) return ctx.syntax_error();
      if (iequals(ctx.arg(i), "MAXDELIVERIES") && !have_max) {
        int64_t n;
        if (!wire::parse_i64(ctx.arg(i + 1), &n)) return ctx.not_integer();
        if (n < 1) return ctx.error_text("ERR MAXDELIVERIES must be positive");
        max_deliveries = static_cast<uint64_t>(n);
        have_max = true;
      } else if (iequals(ctx.arg(i), "STREAM") && !have_key) {
        dlq_key = ctx.arg(i + 1);
        have_key = true;
      } else {
        return ctx.syntax_error();
      }
    }
    if (!have_max || !have_key) return ctx.syntax_error();
  }
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, false, true, &a)) return;
  if (!off) {
    if (dlq_key == ctx.arg(2)) {
      return ctx.error_text("ERR the dead-letter stream must be another key than the stream");
    }
    core::Object* obj = ctx.db().find(dlq_key, ctx.now_ms);
    if (obj && obj->type() != core::ObjectType::kStream) return ctx.wrong_type();
  }
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  a.g->max_deliveries = max_deliveries;
  if (a.g->dlq_key != dlq_key) a.g->dlq_last_id = wire::StreamId{};
  a.g->dlq_key = off ? std::string() : std::string(dlq_key);
  wire::Status st = store->group_dlq(*a.g);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.ok();
  notify(ctx, "xgroup-setdlq", ctx.arg(2));
}

// XGROUP SETCONSUMERIDLE key group milliseconds|OFF (Sluice extension): consumers without
// pending entries idle that long are deleted by the server's cron (StreamEngine::
// reap_idle_consumers); those with pending entries show as stale.
void xgroup_setconsumeridle(CommandContext& ctx) {
  int64_t ms = 0;
  if (!iequals(ctx.arg(4), "OFF")) {
    if (!wire::parse_i64(ctx.arg(4), &ms)) return ctx.not_integer();
    if (ms < 1) return ctx.error_text("ERR the idle time must be positive (or OFF)");
  }
  XGroupArgs a;
  if (!xgroup_prologue(ctx, false, false, true, &a)) return;
  auto store = group_store_or_reply(ctx, *a.s);
  if (!store) return;
  a.g->consumer_max_idle_ms = ms;
  wire::Status st = store->group_consumer_idle(*a.g);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *a.s);
  ctx.reply.ok();
}

// Redis's text exactly (redis_diff compares it); SETDLQ is documented in the README.
void xgroup_help(CommandContext& ctx) {
  static const char* kLines[] = {"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                                 "CREATE <key> <groupname> <id|$> [option]",
                                 "    Create a new consumer group. Options are:",
                                 "    * MKSTREAM",
                                 "      Create the empty stream if it does not exist.",
                                 "    * ENTRIESREAD entries_read",
                                 "      Set the group's entries_read counter (internal use).",
                                 "CREATECONSUMER <key> <groupname> <consumer>",
                                 "    Create a new consumer in the specified group.",
                                 "DELCONSUMER <key> <groupname> <consumer>",
                                 "    Remove the specified consumer.",
                                 "DESTROY <key> <groupname>",
                                 "    Remove the specified group.",
                                 "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                                 "    Set the current group ID and entries_read counter.",
                                 "HELP",
                                 "    Prints this help."};
  ctx.help_lines(kLines);
}

// ---- XACK ------------------------------------------------------------------------------------

void xack(CommandContext& ctx) {
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  if (!g) return ctx.reply.integer(0);
  // All IDs are parsed before any is acknowledged: the reply cannot be an error after a change.
  thread_local std::vector<StreamId> ids;
  ids.clear();
  for (size_t i = 3; i < ctx.argc(); ++i) {
    StreamId id;
    if (!parse_strict_id(ctx, ctx.arg(i), 0, &id)) return;
    ids.push_back(id);
  }
  thread_local std::vector<StreamId> acked;
  acked.clear();
  for (StreamId id : ids) {
    if (g->pel.remove(id)) acked.push_back(id);
  }
  if (!acked.empty()) {
    auto store = group_store_or_reply(ctx, *s);
    if (!store) return;
    wire::Status st = store->ack(*g, acked);
    if (!st.is_ok()) return ctx.error(st);
    group_written(ctx, *s);
  }
  ctx.reply.integer(static_cast<int64_t>(acked.size()));
}

// ---- XPENDING --------------------------------------------------------------------------------

void xpending(CommandContext& ctx) {
  const size_t argc = ctx.argc();
  const bool summary = argc == 3;
  if (argc != 3 && (argc < 6 || argc > 9)) return ctx.syntax_error();
  int64_t min_idle = 0;
  int64_t count = 0;
  StreamId start, end;
  std::string_view consumer_name;
  bool consumer_given = false;
  if (argc >= 6) {
    size_t first = 3;
    if (iequals(ctx.arg(3), "IDLE")) {
      if (!wire::parse_i64(ctx.arg(4), &min_idle)) return ctx.not_integer();
      if (argc < 8) return ctx.syntax_error();
      first += 2;
    }
    if (!wire::parse_i64(ctx.arg(first + 2), &count)) return ctx.not_integer();
    if (count < 0) count = 0;
    bool ex;
    if (!parse_interval_id(ctx, ctx.arg(first), 0, &start, &ex)) return;
    if (ex && !start.increment(&start)) {
      return ctx.error_text("ERR invalid start ID for the interval");
    }
    if (!parse_interval_id(ctx, ctx.arg(first + 1), UINT64_MAX, &end, &ex)) return;
    if (ex && !end.decrement(&end)) return ctx.error_text("ERR invalid end ID for the interval");
    if (first + 3 < argc) {
      consumer_name = ctx.arg(first + 3);
      consumer_given = true;
    }
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  if (!g) {
    return reply_nogroup(
        ctx, "No such key " + quoted(ctx.arg(1)) + " or consumer group " + quoted(ctx.arg(2)));
  }
  auto& r = ctx.reply;
  if (summary) {
    r.array(4);
    r.integer(static_cast<int64_t>(g->pel.size()));
    if (g->pel.empty()) {
      r.null();
      r.null();
      r.null_array();
      return;
    }
    reply_id(r, g->pel.entries().begin()->first);
    reply_id(r, g->pel.entries().rbegin()->first);
    size_t with_pending = 0;
    for (const auto& [name, c] : g->consumers) with_pending += c->pending.empty() ? 0 : 1;
    r.array(with_pending);
    for (const auto& [name, c] : g->consumers) {
      if (c->pending.empty()) continue;
      r.array(2);
      r.bulk(name);
      r.bulk(std::to_string(c->pending.size()));
    }
    return;
  }
  const int64_t now = ctx.now_ms;
  thread_local std::string body;
  body.clear();
  wire::resp::ReplyWriter w(&body, ctx.client.protocol);
  size_t n = 0;
  auto emit = [&](StreamId id, const Pending& p) {
    if (min_idle != 0 && now - p.delivery_time_ms < min_idle) return;
    ++n;
    --count;
    w.array(4);
    reply_id(w, id);
    // An entry released by XNACK has no owner and no delivery time.
    w.bulk(p.consumer ? std::string_view(p.consumer->name) : std::string_view());
    w.integer(p.consumer ? elapsed_since(now, p.delivery_time_ms) : -1);
    w.integer(static_cast<int64_t>(p.delivery_count));
  };
  if (consumer_given) {
    Consumer* c = g->find_consumer(consumer_name);
    if (!c) return r.array(0);
    for (auto it = c->pending.lower_bound(start); count > 0 && it != c->pending.end(); ++it) {
      if (*it > end) break;
      emit(*it, *g->pel.find(*it));
    }
  } else {
    const auto& entries = g->pel.entries();
    for (auto it = entries.lower_bound(start); count > 0 && it != entries.end(); ++it) {
      if (it->first > end) break;
      emit(it->first, it->second);
    }
  }
  r.array(n);
  r.raw(body);
}

// ---- XCLAIM ----------------------------------------------------------------------------------

void xclaim(CommandContext& ctx) {
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  if (!g) {
    return reply_nogroup(
        ctx, "No such key " + quoted(ctx.arg(1)) + " or consumer group " + quoted(ctx.arg(2)));
  }
  int64_t min_idle;
  if (!wire::parse_i64(ctx.arg(4), &min_idle)) {
    return ctx.error_text("ERR Invalid min-idle-time argument for XCLAIM");
  }
  if (min_idle < 0) min_idle = 0;
  std::vector<StreamId> ids;
  size_t j = 5;
  for (; j < ctx.argc(); ++j) {
    StreamId id;
    if (!wire::parse_stream_id(ctx.arg(j), &id, 0)) break;
    ids.push_back(id);
  }
  const int64_t now = ctx.now_ms;
  int64_t delivery_time = -1;
  int64_t retry_count = -1;
  bool force = false, justid = false;
  StreamId last_id;
  for (; j < ctx.argc(); ++j) {
    bool more = j + 1 < ctx.argc();
    std::string_view opt = ctx.arg(j);
    if (iequals(opt, "FORCE")) {
      force = true;
    } else if (iequals(opt, "JUSTID")) {
      justid = true;
    } else if (iequals(opt, "IDLE") && more) {
      if (!wire::parse_i64(ctx.arg(++j), &delivery_time)) {
        return ctx.error_text("ERR Invalid IDLE option argument for XCLAIM");
      }
      delivery_time = now - delivery_time;
    } else if (iequals(opt, "TIME") && more) {
      if (!wire::parse_i64(ctx.arg(++j), &delivery_time)) {
        return ctx.error_text("ERR Invalid TIME option argument for XCLAIM");
      }
    } else if (iequals(opt, "RETRYCOUNT") && more) {
      if (!wire::parse_i64(ctx.arg(++j), &retry_count)) {
        return ctx.error_text("ERR Invalid RETRYCOUNT option argument for XCLAIM");
      }
    } else if (iequals(opt, "LASTID") && more) {
      if (!parse_strict_id(ctx, ctx.arg(++j), 0, &last_id)) return;
    } else {
      std::string text = "ERR Unrecognized XCLAIM option '" + std::string(opt) + "'";
      std::replace(text.begin(), text.end(), '\r', ' ');
      std::replace(text.begin(), text.end(), '\n', ' ');
      return ctx.error_text(text);
    }
  }
  // A bogus delivery time (clock skew on the client) becomes now rather than an error.
  if (delivery_time < 0 || delivery_time > now) delivery_time = now;

  auto store = group_store_or_reply(ctx, *s);
  if (!store) return;
  if (!touch_entries(*s, ids)) return;
  bool cursor_moved = false;
  if (last_id > g->last_delivered_id) {
    g->last_delivered_id = last_id;
    cursor_moved = true;
  }
  Consumer* c = nullptr;
  std::vector<StreamId> claimed, gone;
  std::vector<uint64_t> counts;
  thread_local std::string body;
  body.clear();
  wire::resp::ReplyWriter w(&body, ctx.client.protocol);
  for (StreamId id : ids) {
    Pending* p = g->pel.find(id);
    thread_local std::string entry_buf;
    entry_buf.clear();
    bool exists = s->lookup(id, [&](StreamId, std::string_view resp) {
      if (!justid) entry_buf.assign(resp);
      return false;
    });
    if (!exists) {
      // The entry is gone: drop its stale PEL entry.
      if (p && g->pel.remove(id)) gone.push_back(id);
      continue;
    }
    int64_t prior_count = 0;
    if (!p) {
      if (!force) continue;
      prior_count = 1;  // FORCE creates the PEL entry, delivered once before this claim
    } else {
      if (min_idle != 0 && now - p->delivery_time_ms < min_idle) continue;
      prior_count = static_cast<int64_t>(p->delivery_count);
    }
    if (!c) {
      bool created = false;
      c = g->ensure_consumer(ctx.arg(3), now, &created);
      c->seen_time_ms = now;
      if (created) notify_consumer_created(ctx.broker, ctx.client.db, ctx.arg(1));
    }
    // Past the group's dead-letter limit the claim dead-letters the entry instead.
    if (p && retry_count < 0 && !justid && dead_letter_due(*g, p->delivery_count + 1)) {
      wire::Status dst;
      bool moved = dead_letter(ctx.broker, ctx.client.db, now, *s, *g, id, kDeadLetterMaxDeliveries,
                               *store, &dst);
      if (!dst.is_ok()) return ctx.error(dst);
      if (moved) {
        group_written(ctx, *s);
        continue;
      }
    }
    uint64_t new_count = static_cast<uint64_t>(prior_count);
    if (retry_count >= 0) {
      new_count = static_cast<uint64_t>(retry_count);
    } else if (!justid) {
      ++new_count;
    }
    g->pel.assign(id, c, delivery_time, new_count);
    c->active_time_ms = now;
    claimed.push_back(id);
    counts.push_back(new_count);
    if (justid) {
      reply_id(w, id);
    } else {
      w.raw(entry_buf);
    }
  }
  wire::Status st;
  if (cursor_moved) st = store->group_state(*g, false);
  if (st.is_ok() && !gone.empty()) st = store->ack(*g, gone);
  if (st.is_ok() && !claimed.empty())
    st = store->deliver(*g, *c, delivery_time, claimed, counts, false);
  if (!st.is_ok()) return ctx.error(st);
  if (cursor_moved || !gone.empty() || !claimed.empty()) group_written(ctx, *s);
  propagate_claim(ctx.broker, ctx.client.db, ctx.arg(1), *g, ctx.arg(3), delivery_time, claimed,
                  counts, gone, cursor_moved);
  ctx.reply.array(claimed.size());
  ctx.reply.raw(body);
}

// ---- XAUTOCLAIM ------------------------------------------------------------------------------

void xautoclaim(CommandContext& ctx) {
  int64_t min_idle;
  if (!wire::parse_i64(ctx.arg(4), &min_idle)) {
    return ctx.error_text("ERR Invalid min-idle-time argument for XAUTOCLAIM");
  }
  if (min_idle < 0) min_idle = 0;
  StreamId start;
  bool ex;
  if (!parse_interval_id(ctx, ctx.arg(5), 0, &start, &ex)) return;
  if (ex && !start.increment(&start)) {
    return ctx.error_text("ERR invalid start ID for the interval");
  }
  constexpr int64_t kAttemptsFactor = 10;
  int64_t count = 100;
  bool justid = false;
  for (size_t j = 6; j < ctx.argc(); ++j) {
    bool more = j + 1 < ctx.argc();
    if (iequals(ctx.arg(j), "COUNT") && more) {
      const int64_t max_count = INT64_MAX / 16;
      if (!wire::parse_i64(ctx.arg(j + 1), &count) || count < 1 || count > max_count)
        return ctx.error_text("ERR COUNT must be > 0");
      ++j;
    } else if (iequals(ctx.arg(j), "JUSTID")) {
      justid = true;
    } else {
      return ctx.syntax_error();
    }
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  if (!g) {
    return reply_nogroup(
        ctx, "No such key " + quoted(ctx.arg(1)) + " or consumer group " + quoted(ctx.arg(2)));
  }
  auto store = group_store_or_reply(ctx, *s);
  if (!store) return;
  const int64_t now = ctx.now_ms;
  if (!touch_autoclaim(*s, *g, start, now, min_idle, count, count * kAttemptsFactor)) return;
  int64_t attempts = count * kAttemptsFactor;
  Consumer* c = nullptr;
  std::vector<StreamId> claimed, gone;
  std::vector<uint64_t> counts;
  thread_local std::string body;
  body.clear();
  wire::resp::ReplyWriter w(&body, ctx.client.protocol);
  auto it = g->pel.lower_bound(start);
  while (attempts-- > 0 && count > 0 && it != g->pel.end()) {
    StreamId id = it->first;
    Pending& p = it->second;
    thread_local std::string entry_buf;
    entry_buf.clear();
    bool exists = s->lookup(id, [&](StreamId, std::string_view resp) {
      if (!justid) entry_buf.assign(resp);
      return false;
    });
    if (!exists) {
      it = g->pel.erase(it);
      gone.push_back(id);
      --count;
      continue;
    }
    if (min_idle != 0 && now - p.delivery_time_ms < min_idle) {
      ++it;
      continue;
    }
    if (!justid && dead_letter_due(*g, p.delivery_count + 1)) {
      ++it;  // dead-lettering erases `id` from the PEL
      wire::Status dst;
      bool moved = dead_letter(ctx.broker, ctx.client.db, now, *s, *g, id, kDeadLetterMaxDeliveries,
                               *store, &dst);
      if (!dst.is_ok()) return ctx.error(dst);
      if (moved) {
        group_written(ctx, *s);
        --count;
        continue;
      }
      it = g->pel.lower_bound(id);
    }
    if (!c) {
      bool created = false;
      c = g->ensure_consumer(ctx.arg(3), now, &created);
      c->seen_time_ms = now;
      if (created) notify_consumer_created(ctx.broker, ctx.client.db, ctx.arg(1));
    }
    uint64_t new_count = p.delivery_count + (justid ? 0 : 1);
    ++it;
    g->pel.assign(id, c, now, new_count);
    c->active_time_ms = now;
    claimed.push_back(id);
    counts.push_back(new_count);
    if (justid) {
      reply_id(w, id);
    } else {
      w.raw(entry_buf);
    }
    --count;
  }
  StreamId cursor = it == g->pel.end() ? StreamId{} : it->first;
  wire::Status st;
  if (!gone.empty()) st = store->ack(*g, gone);
  if (st.is_ok() && !claimed.empty()) st = store->deliver(*g, *c, now, claimed, counts, false);
  if (!st.is_ok()) return ctx.error(st);
  if (!gone.empty() || !claimed.empty()) group_written(ctx, *s);
  propagate_claim(ctx.broker, ctx.client.db, ctx.arg(1), *g, ctx.arg(3), now, claimed, counts, gone,
                  false);
  auto& r = ctx.reply;
  r.array(3);
  reply_id(r, cursor);
  r.array(claimed.size());
  r.raw(body);
  r.array(gone.size());
  for (StreamId id : gone) reply_id(r, id);
}

void reply_lag(wire::resp::ReplyWriter& r, const Stream& s, const ConsumerGroup& g) {
  auto lag = stream::group_lag(s, g);
  if (lag) {
    r.integer(*lag);
  } else {
    r.null();
  }
}

void reply_entries_read(wire::resp::ReplyWriter& r, const ConsumerGroup& g) {
  if (g.entries_read != stream::kEntriesReadUnknown) {
    r.integer(g.entries_read);
  } else {
    r.null();
  }
}

}  // namespace

// ---- XINFO -----------------------------------------------------------------------------------

void xinfo_groups(CommandContext& ctx) {
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(2), &replied);
  if (replied) return;
  if (!s) return ctx.error(wire::ErrorCode::kNoSuchKey);
  auto& r = ctx.reply;
  r.array(s->groups.size());
  for (const auto& [name, g] : s->groups) {
    // Groups with a dead-letter stream show its settings and count (Sluice); others reply
    // exactly as Redis.
    r.map(6 + (g->has_dlq() ? 3 : 0) + (g->consumer_max_idle_ms > 0 ? 1 : 0));
    r.bulk("name");
    r.bulk(name);
    r.bulk("consumers");
    r.integer(static_cast<int64_t>(g->consumers.size()));
    r.bulk("pending");
    r.integer(static_cast<int64_t>(g->pel.size()));
    r.bulk("last-delivered-id");
    reply_id(r, g->last_delivered_id);
    r.bulk("entries-read");
    reply_entries_read(r, *g);
    r.bulk("lag");
    reply_lag(r, *s, *g);
    if (g->consumer_max_idle_ms > 0) {
      r.bulk("consumer-max-idle");
      r.integer(g->consumer_max_idle_ms);
    }
    if (g->has_dlq()) {
      r.bulk("max-deliveries");
      r.integer(static_cast<int64_t>(g->max_deliveries));
      r.bulk("dead-letter-stream");
      r.bulk(g->dlq_key);
      r.bulk("dead-letters");
      r.integer(static_cast<int64_t>(g->dead_letters));
    }
  }
}

void xinfo_consumers(CommandContext& ctx) {
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(2), &replied);
  if (replied) return;
  if (!s) return ctx.error(wire::ErrorCode::kNoSuchKey);
  ConsumerGroup* g = find_group(*s, ctx.arg(3));
  if (!g) {
    return reply_nogroup(ctx, "No such consumer group " + quoted(ctx.arg(3)) + " for key name " +
                                  quoted(ctx.arg(2)));
  }
  auto& r = ctx.reply;
  const int64_t now = ctx.now_ms;
  r.array(g->consumers.size());
  for (const auto& [name, c] : g->consumers) {
    // With an idle-consumer limit (Sluice), `stale` tells a consumer past it (one with pending
    // entries: the others are deleted); without one the reply is Redis's.
    const bool limited = g->consumer_max_idle_ms > 0;
    r.map(limited ? 4 : 3);
    r.bulk("name");
    r.bulk(name);
    r.bulk("pending");
    r.integer(static_cast<int64_t>(c->pending.size()));
    r.bulk("idle");
    r.integer(elapsed_since(now, c->seen_time_ms));
    if (limited) {
      r.bulk("stale");
      r.integer(g->consumer_stale(*c, now) ? 1 : 0);
    }
  }
}

void reply_groups_full(CommandContext& ctx, const Stream& s, uint64_t count) {
  auto& r = ctx.reply;
  r.array(s.groups.size());
  for (const auto& [name, g] : s.groups) {
    r.map(7);
    r.bulk("name");
    r.bulk(name);
    r.bulk("last-delivered-id");
    reply_id(r, g->last_delivered_id);
    r.bulk("entries-read");
    reply_entries_read(r, *g);
    r.bulk("lag");
    reply_lag(r, s, *g);
    r.bulk("pel-count");
    r.integer(static_cast<int64_t>(g->pel.size()));
    r.bulk("pending");
    size_t n = count == 0 ? g->pel.size() : std::min<size_t>(count, g->pel.size());
    r.array(n);
    size_t i = 0;
    for (const auto& [id, p] : g->pel.entries()) {
      if (i++ == n) break;
      r.array(4);
      reply_id(r, id);
      r.bulk(p.consumer ? std::string_view(p.consumer->name) : std::string_view());
      r.integer(p.delivery_time_ms);
      r.integer(static_cast<int64_t>(p.delivery_count));
    }
    r.bulk("consumers");
    r.array(g->consumers.size());
    for (const auto& [cname, c] : g->consumers) {
      r.map(4);
      r.bulk("name");
      r.bulk(cname);
      r.bulk("seen-time");
      r.integer(c->seen_time_ms);
      r.bulk("pel-count");
      r.integer(static_cast<int64_t>(c->pending.size()));
      r.bulk("pending");
      size_t cn = count == 0 ? c->pending.size() : std::min<size_t>(count, c->pending.size());
      r.array(cn);
      size_t k = 0;
      for (StreamId id : c->pending) {
        if (k++ == cn) break;
        const Pending* p = g->pel.find(id);
        r.array(3);
        reply_id(r, id);
        r.integer(p->delivery_time_ms);
        r.integer(static_cast<int64_t>(p->delivery_count));
      }
    }
  }
}

void register_group_commands(CommandTable& t) {
  const CommandFamily cmd{"stream"};
  CommandSpec read = cmd("xreadgroup", -7, kWrite | kBlocking | kMovableKeys, xreadgroup,
                         "@write @stream @slow @blocking",
                         "Returns new or historical messages from a stream for a consumer in a "
                         "group. Blocks until a message is available otherwise.",
                         "5.0.0");
  read.first_key = read.last_key = read.key_step = 0;
  t.add(std::move(read));
  t.add(cmd("xack", -4, kWrite | kFast, xack, "@write @stream @fast",
            "Returns the number of messages that were successfully acknowledged by the consumer "
            "group member of a stream.",
            "5.0.0"));
  t.add(cmd("xpending", -3, kReadonly, xpending, "@read @stream @slow",
            "Returns the information and entries from a stream consumer group's pending entries "
            "list.",
            "5.0.0"));
  t.add(cmd("xclaim", -6, kWrite | kFast, xclaim, "@write @stream @fast",
            "Changes, or acquires, ownership of a message in a consumer group, as if the message "
            "was delivered a consumer group member.",
            "5.0.0"));
  t.add(cmd("xautoclaim", -6, kWrite | kFast, xautoclaim, "@write @stream @fast",
            "Changes, or acquires, ownership of messages in a consumer group, as if the messages "
            "were delivered to as consumer group member.",
            "6.2.0"));
  CommandSpec group =
      cmd("xgroup", -2, 0, nullptr, "@slow", "A container for consumer groups commands.", "5.0.0");
  group.first_key = group.last_key = group.key_step = 0;
  auto sub = [&](std::string name, int arity, uint32_t flags, Handler h, std::string summary,
                 std::string since) {
    CommandSpec s = cmd(std::move(name), arity, flags, h, "@write @stream @slow",
                        std::move(summary), std::move(since));
    s.first_key = s.last_key = 2;
    return s;
  };
  group.subcommands.push_back(
      sub("create", -5, kWrite | kDenyOom, xgroup_create, "Creates a consumer group.", "5.0.0"));
  group.subcommands.push_back(sub("setid", -5, kWrite, xgroup_setid,
                                  "Sets the last-delivered ID of a consumer group.", "5.0.0"));
  group.subcommands.push_back(
      sub("destroy", 4, kWrite, xgroup_destroy, "Destroys a consumer group.", "5.0.0"));
  group.subcommands.push_back(sub("createconsumer", 5, kWrite | kDenyOom, xgroup_createconsumer,
                                  "Creates a consumer in a consumer group.", "6.2.0"));
  group.subcommands.push_back(sub("delconsumer", 5, kWrite, xgroup_delconsumer,
                                  "Deletes a consumer from a consumer group.", "5.0.0"));
  group.subcommands.push_back(sub("setdlq", -5, kWrite, xgroup_setdlq,
                                  "Sets or removes a consumer group's dead-letter stream "
                                  "(Sluice extension).",
                                  SLUICE_VERSION));
  group.subcommands.push_back(sub("setconsumeridle", 5, kWrite, xgroup_setconsumeridle,
                                  "Sets or removes a consumer group's idle-consumer limit "
                                  "(Sluice extension).",
                                  SLUICE_VERSION));
  CommandSpec help = sub("help", 2, kLoading | kStale, xgroup_help,
                         "Returns helpful text about the different subcommands.", "5.0.0");
  help.acl_categories = "@stream @slow";
  help.first_key = help.last_key = help.key_step = 0;
  group.subcommands.push_back(std::move(help));
  t.add(std::move(group));
}

}  // namespace sluice::commands
