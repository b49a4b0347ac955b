// Stream commands: XADD XLEN XRANGE XREVRANGE XREAD XDEL XTRIM XSETID, and the XINFO container.
// Each handler parses, calls the stream engine, then replies (Dragonfly's parse/op/reply split).
#include <algorithm>
#include <memory>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/error_text.h"
#include "broker/commands/group_api.h"
#include "broker/commands/group_support.h"
#include "broker/commands/replication_effects.h"
#include "broker/commands/stream_support.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_refs.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

using stream::IdRequest;
using stream::RefPolicy;
using stream::Stream;
using stream::TrimSpec;

struct AddTrimArgs {
  TrimSpec trim;
  RefPolicy policy = RefPolicy::kKeepRef;  // Redis 8.2: KEEPREF | DELREF | ACKED
  // Redis 8.6: IDMP producer-id idempotent-id, or IDMPAUTO producer-id (iid from the content).
  bool idmp = false;
  bool idmp_auto = false;
  std::string_view idmp_pid;
  std::string_view idmp_iid;
  bool limit_given = false;
  bool nomkstream = false;
  bool id_given = false;
  bool seq_given = true;
  IdRequest id;
  size_t next = 0;  // first argument after the parsed options (XADD: the field list)
};

// Redis's streamParseAddOrTrimArgsOrReply: options shared by XADD and XTRIM.
bool parse_add_trim(CommandContext& ctx, bool xadd, AddTrimArgs* a) {
  size_t i = 2;
  const size_t argc = ctx.argc();
  for (; i < argc; ++i) {
    size_t more = argc - 1 - i;
    std::string_view opt = ctx.arg(i);
    if (xadd && opt == "*") {
      a->id.kind = IdRequest::Kind::kAuto;
      break;
    }
    if (iequals(opt, "MAXLEN") && more >= 1) {
      if (a->trim.strategy == TrimSpec::Strategy::kMinId) {
        ctx.error_text(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
        return false;
      }
      std::string_view next = ctx.arg(i + 1);
      if (more >= 2 && (next == "~" || next == "=")) {
        a->trim.approx = next == "~";
        ++i;
      }
      int64_t maxlen;
      if (!wire::parse_i64(ctx.arg(i + 1), &maxlen)) {
        ctx.not_integer();
        return false;
      }
      if (maxlen < 0) {
        ctx.error_text("ERR The MAXLEN argument must be >= 0.");
        return false;
      }
      a->trim.maxlen = static_cast<uint64_t>(maxlen);
      a->trim.strategy = TrimSpec::Strategy::kMaxLen;
      ++i;
    } else if (iequals(opt, "MINID") && more >= 1) {
      if (a->trim.strategy == TrimSpec::Strategy::kMaxLen) {
        ctx.error_text(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
        return false;
      }
      std::string_view next = ctx.arg(i + 1);
      if (more >= 2 && (next == "~" || next == "=")) {
        a->trim.approx = next == "~";
        ++i;
      }
      if (!parse_strict_id(ctx, ctx.arg(i + 1), 0, &a->trim.minid)) return false;
      a->trim.strategy = TrimSpec::Strategy::kMinId;
      ++i;
    } else if (iequals(opt, "LIMIT") && more >= 1) {
      int64_t limit;
      if (!wire::parse_i64(ctx.arg(i + 1), &limit)) {
        ctx.not_integer();
        return false;
      }
      if (limit < 0) {
        ctx.error_text("ERR The LIMIT argument must be >= 0.");
        return false;
      }
      a->trim.limit = limit;
      a->limit_given = true;
      ++i;
    } else if (parse_ref_policy(opt, &a->policy)) {
    } else if (xadd && iequals(opt, "IDMP") && more >= 2 && !a->idmp) {
      a->idmp = true;
      a->idmp_pid = ctx.arg(i + 1);
      a->idmp_iid = ctx.arg(i + 2);
      i += 2;
    } else if (xadd && iequals(opt, "IDMPAUTO") && more >= 1 && !a->idmp) {
      a->idmp = a->idmp_auto = true;
      a->idmp_pid = ctx.arg(i + 1);
      ++i;
    } else if (xadd && iequals(opt, "NOMKSTREAM")) {
      a->nomkstream = true;
    } else if (xadd) {
      bool seq_star = false;
      if (!wire::parse_stream_id(opt, &a->id.id, 0, true, &seq_star)) {
        ctx.error_text(kInvalidStreamIdErr);
        return false;
      }
      a->id_given = true;
      a->seq_given = !seq_star;
      a->id.kind = seq_star ? IdRequest::Kind::kAutoSeq : IdRequest::Kind::kExplicit;
      break;
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  a->next = i + 1;
  if (a->limit_given) {
    if (a->trim.strategy == TrimSpec::Strategy::kNone) {
      ctx.error_text(
          "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
      return false;
    }
    if (!a->trim.approx) {
      ctx.error_text("ERR syntax error, LIMIT cannot be used without the special ~ option");
      return false;
    }
  }
  return true;
}

void notify(CommandContext& ctx, const char* event, std::string_view key) {
  ctx.broker.notify('t', event, key, ctx.client.db);
}

void xadd(CommandContext& ctx) {
  AddTrimArgs a;
  if (!parse_add_trim(ctx, true, &a)) return;
  size_t field_pos = a.next;
  if (field_pos > ctx.argc() || ctx.argc() - field_pos < 2 || (ctx.argc() - field_pos) % 2 == 1) {
    return ctx.wrong_arity();
  }
  if (a.id_given && a.seq_given && a.id.id.is_zero()) {
    return ctx.error(wire::ErrorCode::kIdZero);
  }
  std::string_view key = ctx.arg(1);
  bool replied;
  Stream* s = lookup_stream(ctx, key, &replied);
  if (replied) return;
  if (!s) {
    if (a.nomkstream) return ctx.reply.null();
    if (!(s = create_stream(ctx, key))) return;
  }
  std::string auto_iid;
  if (a.idmp) {
    if (a.idmp_auto) {
      auto_iid = stream::content_iid(ctx.args.subspan(field_pos));
      a.idmp_iid = auto_iid;
    }
    s->idmp.expire(ctx.now_ms);
    if (auto original = s->idmp.find(a.idmp_pid, a.idmp_iid)) {
      // A resent entry: nothing is added, the reply is the first one's ID.
      s->idmp.count_duplicate();
      auto store = group_store_or_reply(ctx, *s);
      if (!store) return;
      wire::Status st = store->idmp_duplicate(s->idmp);
      if (!st.is_ok()) return ctx.error(st);
      group_written(ctx, *s);
      // Replicas count the duplicate too: the same IDMP with the first entry's ID, which adds
      // nothing there either (and, should the iid have expired there, fails as an old ID).
      XaddEffects effects;
      effects.length = s->length();
      effects.idmp = true;
      effects.idmp_pid = a.idmp_pid;
      effects.idmp_iid = a.idmp_iid;
      propagate_xadd(ctx.broker, ctx.client.db, key, *original, ctx.args.subspan(field_pos),
                     effects);
      return reply_id(ctx.reply, *original);
    }
  }
  if (s->last_id() == StreamId::max()) {
    return ctx.error_text(
        "ERR The stream has exhausted the last possible ID, unable to add more items");
  }
  auto id = s->next_id(a.id, ctx.now_ms);
  if (!id) {
    // A stream this command just created stays (empty), as in Redis.
    return ctx.error(id.status());
  }
  use_node_limits(ctx, *s);
  wire::Status st = s->append(*id, ctx.args.subspan(field_pos));
  if (!st.is_ok()) return ctx.error(st);
  stream_written(ctx, *s);
  if (a.idmp) {
    s->idmp.add(a.idmp_pid, a.idmp_iid, *id, ctx.now_ms);
    auto store = group_store_or_reply(ctx, *s);
    if (!store) return;
    st = store->idmp_add(s->idmp, a.idmp_pid, a.idmp_iid, *id, ctx.now_ms);
    if (!st.is_ok()) return ctx.error(st);
  }
  reply_id(ctx.reply, *id);
  notify(ctx, "xadd", key);
  XaddEffects effects;
  if (a.trim.strategy != TrimSpec::Strategy::kNone) {
    bool groups_changed = false;
    auto removed =
        stream::trim_with_refs(*s, a.trim, a.policy, &groups_changed, acked_active_since(ctx));
    if (removed && *removed > 0) notify(ctx, "xtrim", key);
    effects.trimmed = removed && *removed > 0;
  }
  effects.length = s->length();
  effects.policy = a.policy;
  effects.idmp = a.idmp;
  effects.idmp_pid = a.idmp_pid;
  effects.idmp_iid = a.idmp_iid;
  propagate_xadd(ctx.broker, ctx.client.db, key, *id, ctx.args.subspan(field_pos), effects);
  ctx.broker.blocking().signal(ctx.client.db, key);
}

void xlen(CommandContext& ctx) {
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(s ? static_cast<int64_t>(s->length()) : 0);
}

void xrange_generic(CommandContext& ctx, bool reverse) {
  std::string_view start_arg = ctx.arg(reverse ? 3 : 2);
  std::string_view end_arg = ctx.arg(reverse ? 2 : 3);
  StreamId start, end;
  bool start_ex, end_ex;
  if (!parse_interval_id(ctx, start_arg, 0, &start, &start_ex)) return;
  if (start_ex && !start.increment(&start)) {
    return ctx.error_text("ERR invalid start ID for the interval");
  }
  if (!parse_interval_id(ctx, end_arg, UINT64_MAX, &end, &end_ex)) return;
  if (end_ex && !end.decrement(&end)) return ctx.error_text("ERR invalid end ID for the interval");
  int64_t count = -1;
  for (size_t j = 4; j < ctx.argc(); ++j) {
    if (iequals(ctx.arg(j), "COUNT") && j + 1 < ctx.argc()) {
      if (!parse_count(ctx, ctx.arg(j + 1), &count)) return;
      ++j;
    } else {
      return ctx.syntax_error();
    }
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.array(0);
  if (count == 0) return ctx.reply.null_array();
  reply_range(ctx, *s, start, end, reverse, count < 0 ? 0 : static_cast<uint64_t>(count));
}

void xrange(CommandContext& ctx) { xrange_generic(ctx, false); }
void xrevrange(CommandContext& ctx) { xrange_generic(ctx, true); }

// XREAD: what a blocked reader waits for, kept for its retries.
struct XReadWait {
  std::vector<std::string> keys;
  std::vector<StreamId> after;  // serve entries > after[i]
  uint64_t count = 0;
  ReadOptions caps;  // MAXCOUNT / MAXSIZE only
};

// Replies the entries after `after` for one key, wrapped as XREAD's single-key reply.
void reply_xread_one(core::Client& client, std::string_view key, const Stream& s, StreamId after,
                     uint64_t count, const ReadOptions& caps) {
  wire::resp::ReplyWriter r(client.out.staging(), client.protocol);
  if (r.resp3()) {
    r.map(1);
  } else {
    r.array(1);
    r.array(2);
  }
  r.bulk(key);
  ReadBudget budget(caps);
  if (budget.capped()) {
    // One stream: the first entry always fits, so the reply is never empty.
    uint64_t n;
    (void)append_budgeted(client.out.staging(), s, after, count, budget, &n);
    return;
  }
  StreamId from;
  if (!after.increment(&from)) {
    r.array(0);
    return;
  }
  // A read error (the log turned unreadable) still leaves a well-formed reply: no entries.
  if (!append_range(client.out, s, from, StreamId::max(), false, count).is_ok()) r.array(0);
}

// XREAD under MAXCOUNT / MAXSIZE: the streams of `serve` (nullptr = nothing after its ID) in
// order while the budget lasts; a stream the budget left without entries is not in the reply,
// and no streams at all is the null reply.
void reply_xread_budgeted(CommandContext& ctx, const XReadWait& wait,
                          const std::vector<Stream*>& serve, const std::vector<bool>& last_only,
                          const ReadOptions& opts) {
  ReadBudget budget(opts);
  std::string body;
  size_t served = 0;
  for (size_t k = 0; k < serve.size() && budget.open(); ++k) {
    if (serve[k] == nullptr) continue;
    std::string part;
    wire::resp::ReplyWriter w(&part, ctx.client.protocol);
    if (!w.resp3()) w.array(2);
    w.bulk(wait.keys[k]);
    uint64_t n;
    // A read error (the log turned unreadable) keeps what was read: a well-formed reply.
    (void)append_budgeted(&part, *serve[k], wait.after[k], last_only[k] ? 1 : wait.count, budget,
                          &n);
    if (n == 0) continue;
    body.append(part);
    ++served;
  }
  if (served == 0) return ctx.reply.null_array();
  if (ctx.reply.resp3()) {
    ctx.reply.map(served);
  } else {
    ctx.reply.array(served);
  }
  ctx.reply.raw(body);
}

void xread(CommandContext& ctx) {
  ReadOptions opts;
  if (!parse_read_options(ctx, false, &opts)) return;
  const int64_t timeout = opts.timeout;
  const size_t streams_arg = opts.streams_arg;
  const size_t nstreams = opts.nstreams;
  auto wait = std::make_shared<XReadWait>();
  wait->count = static_cast<uint64_t>(opts.count);
  wait->caps.maxcount = opts.maxcount;
  wait->caps.maxsize = opts.maxsize;
  std::vector<bool> last_only_keys;  // "+": only the last entry
  for (size_t k = 0; k < nstreams; ++k) {
    std::string_view key = ctx.arg(streams_arg + k);
    std::string_view id_arg = ctx.arg(streams_arg + nstreams + k);
    bool replied;
    Stream* s = lookup_stream(ctx, key, &replied);
    if (replied) return;
    StreamId id;
    bool last_only = false;
    if (id_arg == "$") {
      id = s ? s->last_id() : StreamId{};
    } else if (id_arg == "+") {
      // Redis 7.4: the last entry of the stream (COUNT does not apply); on an empty stream,
      // like "$", whatever is added next.
      if (s && s->length() > 0) {
        last_only = s->last_entry_id().decrement(&id);
      } else {
        id = s ? s->last_id() : StreamId{};
      }
    } else if (id_arg == ">") {
      return ctx.error_text(
          "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
          "<consumer> option.");
    } else if (!parse_strict_id(ctx, id_arg, 0, &id)) {
      return;
    }
    wait->keys.emplace_back(key);
    wait->after.push_back(id);
    last_only_keys.push_back(last_only);
  }
  // Serve synchronously every stream that has something after its ID. Which ones do is known
  // before any entry is read, so the reply is written in place: the entries go straight from the
  // log into the output queue (append_range).
  std::vector<Stream*> serve(nstreams, nullptr);
  size_t served = 0;
  for (size_t k = 0; k < nstreams; ++k) {
    bool replied;
    Stream* s = lookup_stream(ctx, wait->keys[k], &replied);
    if (!s || s->length() == 0 || !(s->last_entry_id() > wait->after[k])) continue;
    serve[k] = s;
    ++served;
  }
  if (served > 0 && ReadBudget(opts).capped()) {
    return reply_xread_budgeted(ctx, *wait, serve, last_only_keys, opts);
  }
  if (served > 0) {
    if (ctx.reply.resp3()) {
      ctx.reply.map(served);
    } else {
      ctx.reply.array(served);
    }
    for (size_t k = 0; k < nstreams; ++k) {
      if (serve[k] == nullptr) continue;
      if (!ctx.reply.resp3()) ctx.reply.array(2);
      ctx.reply.bulk(wait->keys[k]);
      StreamId from;
      wait->after[k].increment(&from);
      // A read error (the log turned unreadable) still leaves a well-formed reply: no entries.
      const uint64_t count = last_only_keys[k] ? 1 : wait->count;
      if (!append_range(ctx.client.out, *serve[k], from, StreamId::max(), false, count).is_ok()) {
        ctx.reply.array(0);
      }
    }
    return;
  }
  if (timeout < 0 || !ctx.may_block()) return ctx.reply.null_array();
  // Block: retried when one of the keys gets data, in arrival order.
  int db = ctx.client.db;
  core::Broker* broker = &ctx.broker;
  auto retry = [broker, db, wait](core::Client& client, blocking::BlockingRegistry::Wake why,
                                  std::string_view key) {
    if (why == blocking::BlockingRegistry::Wake::kTimeout) {
      wire::resp::ReplyWriter(client.out.staging(), client.protocol).null_array();
      return true;
    }
    auto it = std::find(wait->keys.begin(), wait->keys.end(), key);
    if (it == wait->keys.end()) return false;
    size_t k = static_cast<size_t>(it - wait->keys.begin());
    core::Object* obj = broker->db(db).find(key, core::now_ms());
    if (!obj || obj->type() != core::ObjectType::kStream) return false;
    const auto* s = static_cast<const Stream*>(obj);
    if (!(s->last_id() > wait->after[k])) return false;
    // Under appendfsync always the entries go out once the writes that added them are durable.
    if (broker->config().appendfsync == config::AppendFsync::kAlways &&
        broker->write_epoch() > broker->durable_epoch()) {
      client.out.hold(broker->write_epoch());
    }
    reply_xread_one(client, key, *s, wait->after[k], wait->count, wait->caps);
    return true;
  };
  int64_t deadline = timeout > 0 ? ctx.now_ms + timeout : 0;
  ctx.broker.blocking().block(ctx.client, db, wait->keys, deadline, retry);
  ctx.blocked = true;
}

void xdel(CommandContext& ctx) {
  std::vector<StreamId> ids;
  ids.reserve(ctx.argc() - 2);
  // Redis validates every ID before deleting any.
  for (size_t i = 2; i < ctx.argc(); ++i) {
    StreamId id;
    if (!parse_strict_id(ctx, ctx.arg(i), 0, &id)) return;
    ids.push_back(id);
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.integer(0);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto removed = s->remove(ids);
  if (!removed) return ctx.error(removed.status());
  if (*removed > 0) {
    stream_written(ctx, *s);
    notify(ctx, "xdel", ctx.arg(1));
  }
  ctx.reply.integer(static_cast<int64_t>(*removed));
}

void xtrim(CommandContext& ctx) {
  AddTrimArgs a;
  if (!parse_add_trim(ctx, false, &a)) return;
  if (a.trim.strategy == TrimSpec::Strategy::kNone) {
    return ctx.error_text("ERR syntax error, XTRIM must be called with a trimming strategy");
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.integer(0);
  use_node_limits(ctx, *s);
  bool groups_changed = false;
  auto removed =
      stream::trim_with_refs(*s, a.trim, a.policy, &groups_changed, acked_active_since(ctx));
  if (!removed) return ctx.error(removed.status());
  if (*removed > 0) {
    stream_written(ctx, *s);
    notify(ctx, "xtrim", ctx.arg(1));
    propagate_xtrim(ctx.broker, ctx.client.db, ctx.arg(1), s->length(), a.policy);
  } else {
    propagate_nothing(ctx.broker);
  }
  ctx.reply.integer(static_cast<int64_t>(*removed));
}

void xsetid(CommandContext& ctx) {
  StreamId id;
  if (!parse_strict_id(ctx, ctx.arg(2), 0, &id)) return;
  std::optional<uint64_t> entries_added;
  std::optional<StreamId> max_deleted;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    bool more = i + 1 < ctx.argc();
    if (iequals(ctx.arg(i), "ENTRIESADDED") && more) {
      int64_t n;
      if (!wire::parse_i64(ctx.arg(++i), &n)) return ctx.not_integer();
      if (n < 0) return ctx.error_text("ERR entries_added must be positive");
      entries_added = static_cast<uint64_t>(n);
    } else if (iequals(ctx.arg(i), "MAXDELETEDID") && more) {
      StreamId m;
      if (!parse_strict_id(ctx, ctx.arg(++i), 0, &m)) return;
      if (id < m) {
        return ctx.error_text(
            "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
      }
      max_deleted = m;
    } else {
      return ctx.syntax_error();
    }
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.error(wire::ErrorCode::kNoSuchKey);
  if (s->length() > 0) {
    if (id < s->last_entry_id()) {
      return ctx.error_text(
          "ERR The ID specified in XSETID is smaller than the target stream top item");
    }
    if (entries_added && s->length() > *entries_added) {
      return ctx.error_text(
          "ERR The entries_added specified in XSETID is smaller than the target stream length");
    }
  }
  wire::Status st = s->set_id(id, entries_added, max_deleted);
  if (!st.is_ok()) return ctx.error(st);
  stream_written(ctx, *s);
  notify(ctx, "xsetid", ctx.arg(1));
  ctx.reply.ok();
}

void reply_edge_entry(CommandContext& ctx, const Stream& s, bool last) {
  bool found = false;
  StreamId id = last ? s.last_entry_id() : s.first_id();
  if (s.length() > 0) {
    found = s.lookup(id, [&](StreamId, std::string_view resp) {
      ctx.reply.raw(resp);
      return false;
    });
  }
  if (!found) ctx.reply.null();
}

// Redis's radix tree stores ~node_max_entries entries per node; report the equivalent shape.
void radix_shape(const Stream& s, int64_t node_max, int64_t* keys, int64_t* nodes) {
  uint64_t per = node_max > 0 ? static_cast<uint64_t>(node_max) : 100;
  uint64_t len = s.length() + s.deleted_count();
  *keys = static_cast<int64_t>((len + per - 1) / per);
  *nodes = *keys == 0 ? 1 : *keys + 1;
}

void xinfo_stream(CommandContext& ctx) {
  bool full = false;
  int64_t count = 10;
  if (ctx.argc() > 3) {
    if (!iequals(ctx.arg(3), "FULL")) {
      return ctx.error_text(
          "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.");
    }
    full = true;
    if (ctx.argc() == 6 && iequals(ctx.arg(4), "COUNT")) {
      if (!wire::parse_i64(ctx.arg(5), &count)) return ctx.not_integer();
      if (count < 0) count = 0;
    } else if (ctx.argc() != 4) {
      return ctx.error_text(
          "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.");
    }
  }
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(2), &replied);
  if (replied) return;
  if (!s) return ctx.error(wire::ErrorCode::kNoSuchKey);
  auto& r = ctx.reply;
  int64_t keys, nodes;
  radix_shape(*s, ctx.broker.config().stream_node_max_entries, &keys, &nodes);
  s->idmp.expire(ctx.now_ms);
  const bool idmp = s->idmp.in_use();
  r.map((full ? 9 : 10) + (idmp ? 6 : 0));
  r.bulk("length");
  r.integer(static_cast<int64_t>(s->length()));
  r.bulk("radix-tree-keys");
  r.integer(keys);
  r.bulk("radix-tree-nodes");
  r.integer(nodes);
  r.bulk("last-generated-id");
  reply_id(r, s->last_id());
  r.bulk("max-deleted-entry-id");
  reply_id(r, s->max_deleted_id());
  r.bulk("entries-added");
  r.integer(static_cast<int64_t>(s->entries_added()));
  r.bulk("recorded-first-entry-id");
  reply_id(r, s->first_id());
  if (idmp) {
    r.bulk("idmp-duration");
    r.integer(s->idmp.duration_s());
    r.bulk("idmp-maxsize");
    r.integer(s->idmp.max_size());
    r.bulk("pids-tracked");
    r.integer(static_cast<int64_t>(s->idmp.pids_tracked()));
    r.bulk("iids-tracked");
    r.integer(static_cast<int64_t>(s->idmp.iids_tracked()));
    r.bulk("iids-added");
    r.integer(static_cast<int64_t>(s->idmp.iids_added()));
    r.bulk("iids-duplicates");
    r.integer(static_cast<int64_t>(s->idmp.iids_duplicates()));
  }
  if (!full) {
    r.bulk("groups");
    r.integer(static_cast<int64_t>(s->groups.size()));
    r.bulk("first-entry");
    reply_edge_entry(ctx, *s, false);
    r.bulk("last-entry");
    reply_edge_entry(ctx, *s, true);
    return;
  }
  r.bulk("entries");
  reply_range(ctx, *s, StreamId::min(), StreamId::max(), false, static_cast<uint64_t>(count));
  r.bulk("groups");
  reply_groups_full(ctx, *s, static_cast<uint64_t>(count));
}

void xinfo_help(CommandContext& ctx) {
  static const char* kLines[] = {"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                                 "CONSUMERS <key> <groupname>",
                                 "    Show consumers of <groupname>.",
                                 "GROUPS <key>",
                                 "    Show the stream consumer groups.",
                                 "STREAM <key> [FULL [COUNT <count>]",
                                 "    Show information about the stream.",
                                 "HELP",
                                 "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_stream_commands(CommandTable& t) {
  const CommandFamily cmd{"stream"};
  t.add(cmd("xadd", -5, kWrite | kDenyOom | kFast, xadd, "@write @stream @fast",
            "Appends a new message to a stream. Creates the key if it doesn't exist.", "5.0.0"));
  t.add(cmd("xlen", 2, kReadonly | kFast, xlen, "@read @stream @fast",
            "Return the number of messages in a stream.", "5.0.0"));
  t.add(cmd("xrange", -4, kReadonly, xrange, "@read @stream @slow",
            "Returns the messages from a stream within a range of IDs.", "5.0.0"));
  t.add(cmd("xrevrange", -4, kReadonly, xrevrange, "@read @stream @slow",
            "Returns the messages from a stream within a range of IDs in reverse order.", "5.0.0"));
  CommandSpec read =
      cmd("xread", -4, kReadonly | kBlocking | kMovableKeys, xread, "@read @stream @slow @blocking",
          "Returns messages from multiple streams with IDs greater than the ones "
          "requested. Blocks until a message is available otherwise.",
          "5.0.0");
  read.first_key = 0;
  read.last_key = 0;
  read.key_step = 0;
  t.add(std::move(read));
  t.add(cmd("xdel", -3, kWrite | kFast, xdel, "@write @stream @fast",
            "Returns the number of messages after removing them from a stream.", "5.0.0"));
  t.add(cmd("xtrim", -4, kWrite, xtrim, "@write @stream @slow",
            "Deletes messages from the beginning of a stream.", "5.0.0"));
  t.add(cmd("xsetid", -3, kWrite | kDenyOom | kFast, xsetid, "@write @stream @fast",
            "An internal command for replicating stream values.", "5.0.0"));
  CommandSpec info = cmd("xinfo", -2, 0, nullptr, "@slow",
                         "A container for stream introspection commands.", "5.0.0");
  info.first_key = info.last_key = info.key_step = 0;
  auto sub = [&](std::string name, int arity, Handler h, std::string summary) {
    CommandSpec s = cmd(std::move(name), arity, kReadonly, h, "@read @stream @slow",
                        std::move(summary), "5.0.0");
    s.first_key = 2;
    s.last_key = 2;
    return s;
  };
  info.subcommands.push_back(
      sub("stream", -3, xinfo_stream, "Returns information about a stream."));
  info.subcommands.push_back(
      sub("groups", 3, xinfo_groups, "Returns a list of the consumer groups of a stream."));
  info.subcommands.push_back(
      sub("consumers", 4, xinfo_consumers, "Returns a list of the consumers in a consumer group."));
  CommandSpec help =
      sub("help", 2, xinfo_help, "Returns helpful text about the different subcommands.");
  help.first_key = help.last_key = help.key_step = 0;
  help.flags = kLoading | kStale;  // as Redis: no key, so not a read
  help.acl_categories = "@stream @slow";
  info.subcommands.push_back(std::move(help));
  t.add(std::move(info));
}

}  // namespace sluice::commands
