// XREADGROUP: new entries (">") move the group's cursor and enter the PEL of the reading
// consumer; an explicit ID re-reads that consumer's own pending history. When nothing is served
// and BLOCK was given, the client waits FIFO per key (BlockingRegistry); each wake-up delivers
// from the group's current cursor, so every new entry goes to exactly one waiter. With CLAIM
// (Redis 8.4) a ">" read first claims the group's entries pending for at least min-idle-time,
// longest idle first, then reads new ones; every entry then carries its idle time and the number
// of earlier deliveries.
#include <algorithm>
#include <memory>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/cold_read.h"
#include "broker/commands/dead_letter.h"
#include "broker/commands/error_text.h"
#include "broker/commands/group_support.h"
#include "broker/commands/replication_effects.h"
#include "broker/commands/stream_support.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

using stream::Consumer;
using stream::ConsumerGroup;
using stream::GroupStore;
using stream::Stream;

// What a blocked XREADGROUP waits for, kept for its retries.
struct GroupReadWait {
  std::vector<std::string> keys;
  std::string group;
  std::string consumer;
  uint64_t count = 0;
  bool noack = false;
  int64_t claim_min_idle = -1;
  ReadOptions caps;  // MAXCOUNT / MAXSIZE only
};

// An entry as the CLAIM form replies it: [id, fields, idle ms, earlier deliveries].
void append_with_delivery(std::string* out, std::string_view resp, int64_t idle,
                          uint64_t delivered) {
  constexpr std::string_view kPair = "*2\r\n";
  out->append("*4\r\n");
  out->append(resp.substr(resp.starts_with(kPair) ? kPair.size() : 0));
  out->append(":" + std::to_string(idle) + "\r\n:" + std::to_string(delivered) + "\r\n");
}

// The consumer that reads, created if needed, with its seen time refreshed.
Consumer* reading_consumer(core::Broker& broker, int db, std::string_view key, ConsumerGroup& g,
                           std::string_view name, int64_t now) {
  bool created = false;
  Consumer* c = g.ensure_consumer(name, now, &created);
  c->seen_time_ms = now;
  if (created) notify_consumer_created(broker, db, key);
  return c;
}

// Delivers up to `count` (0 = all) entries after the group's cursor to consumer
// `consumer_name` (`c` if already known, else found or created once the entries are read),
// appending their RESP to *out. Journals the delivery (or only the consumer's seen time). Returns
// the count. The entries are read before anything changes: a read refused as cold
// (cold_read.h) returns 0 with nothing changed.
uint64_t deliver_new(core::Broker& broker, int db, std::string_view key, Stream& s,
                     ConsumerGroup& g, Consumer* c, std::string_view consumer_name, int64_t now,
                     uint64_t count, bool noack, bool claim_form, ReadBudget& budget,
                     GroupStore& store, std::string* out, wire::Status* st) {
  thread_local std::vector<StreamId> read;
  thread_local std::vector<StreamId> ids;
  read.clear();
  ids.clear();
  StreamId from;
  const size_t out_mark = out->size();
  if (budget.open() && g.last_delivered_id.increment(&from)) {
    count = budget.narrow(count);
    *st = s.range(from, StreamId::max(), false, count, [&](StreamId id, std::string_view resp) {
      const size_t mark = out->size();
      if (claim_form) {
        append_with_delivery(out, resp, 0, 0);
      } else {
        out->append(resp);
      }
      if (!budget.take(out->size() - mark)) {
        out->resize(mark);  // past MAXSIZE: neither replied nor delivered
        return false;
      }
      read.push_back(id);
      return true;
    });
    if (cold_read_missed()) {
      out->resize(out_mark);
      return 0;
    }
  }
  cold_read_commit();
  if (c == nullptr) c = reading_consumer(broker, db, key, g, consumer_name, now);
  for (StreamId id : read) {
    g.advance_cursor(s, id);
    if (!noack) {
      g.pel.assign(id, c, now, 1);
      ids.push_back(id);
    }
  }
  const uint64_t n = read.size();
  const bool moved = n > 0;
  if (!st->is_ok()) return n;
  if (n > 0) c->active_time_ms = now;
  if (moved || !ids.empty()) {
    *st = store.deliver(g, *c, now, ids, {}, true);
  } else {
    *st = store.consumer_seen(g, *c);
  }
  propagate_delivery(broker, db, key, g, c->name, now, ids, {});
  broker.stats().stream_deliveries += n;
  return n;
}

// The group's entries pending for at least `min_idle` ms at `now`, longest idle first.
std::vector<StreamId> claimable(const ConsumerGroup& g, int64_t now, int64_t min_idle) {
  std::vector<std::pair<int64_t, StreamId>> found;
  for (const auto& [id, p] : g.pel.entries()) {
    if (now - p.delivery_time_ms >= min_idle) found.emplace_back(p.delivery_time_ms, id);
  }
  std::sort(found.begin(), found.end());
  std::vector<StreamId> ids;
  ids.reserve(found.size());
  for (const auto& f : found) ids.push_back(f.second);
  return ids;
}

// CLAIM: moves up to `count` (0 = all) idle pending entries to `c`, longest idle first, with a
// new delivery time and one more delivery; pending entries whose stream entry is gone leave the
// PEL (as XAUTOCLAIM does). Appends the claimed entries in the CLAIM form. Returns the count.
// An entry that this claim would deliver more often than the group's dead-letter limit goes to
// its dead-letter stream instead (dead_letter.h).
uint64_t claim_idle(core::Broker& broker, int db, std::string_view key, Stream& s, ConsumerGroup& g,
                    Consumer& c, int64_t now, int64_t min_idle, uint64_t count, ReadBudget& budget,
                    GroupStore& store, std::string* out, wire::Status* st) {
  thread_local std::vector<StreamId> ids;
  thread_local std::vector<uint64_t> counts;
  thread_local std::vector<StreamId> gone;
  ids.clear();
  counts.clear();
  gone.clear();
  // Lookups and changes interleave here: reads wait for the disk (cold_read.h).
  cold_read_commit();
  for (StreamId id : claimable(g, now, min_idle)) {
    if ((count != 0 && ids.size() >= count) || !budget.open()) break;
    stream::Pending* p = g.pel.find(id);
    // An entry released by XNACK has no delivery time: its idle time shows as -1 (XPENDING's).
    const int64_t idle = p->consumer ? now - p->delivery_time_ms : -1;
    const uint64_t delivered = p->delivery_count;
    const uint64_t next_count =
        delivered < static_cast<uint64_t>(INT64_MAX) ? delivered + 1 : delivered;
    if (dead_letter_due(g, next_count)) {
      if (dead_letter(broker, db, now, s, g, id, kDeadLetterMaxDeliveries, store, st)) continue;
      if (!st->is_ok()) return ids.size();
    }
    const size_t mark = out->size();
    bool found = s.lookup(id, [&](StreamId, std::string_view resp) {
      append_with_delivery(out, resp, idle, delivered);
      return false;
    });
    if (!found) {
      g.pel.remove(id);
      gone.push_back(id);
      continue;
    }
    if (!budget.take(out->size() - mark)) {
      out->resize(mark);  // past MAXSIZE: stays pending where it was
      break;
    }
    g.pel.assign(id, &c, now, next_count);
    ids.push_back(id);
    counts.push_back(next_count);
  }
  if (!gone.empty()) {
    *st = store.ack(g, gone);
    if (!st->is_ok()) return ids.size();
  }
  if (!ids.empty()) {
    c.active_time_ms = now;
    *st = store.deliver(g, c, now, ids, counts, false);
  }
  // Replicas get the claim as XCLAIM effects (the entries gone from the stream leave the PEL).
  if (st->is_ok() && (!ids.empty() || !gone.empty())) {
    propagate_claim(broker, db, key, g, c.name, now, ids, counts, gone, false);
  }
  return ids.size();
}

// A ">" read: with CLAIM (claim_min_idle >= 0) the idle pending entries first, then new entries
// up to the rest of `count`.
uint64_t deliver_claim_and_new(core::Broker& broker, int db, std::string_view key, Stream& s,
                               ConsumerGroup& g, std::string_view consumer_name, int64_t now,
                               uint64_t count, bool noack, int64_t claim_min_idle,
                               ReadBudget& budget, GroupStore& store, std::string* out,
                               wire::Status* st) {
  if (claim_min_idle < 0) {
    return deliver_new(broker, db, key, s, g, nullptr, consumer_name, now, count, noack, false,
                       budget, store, out, st);
  }
  cold_read_commit();
  Consumer* c = reading_consumer(broker, db, key, g, consumer_name, now);
  uint64_t n =
      claim_idle(broker, db, key, s, g, *c, now, claim_min_idle, count, budget, store, out, st);
  if (!st->is_ok()) return n;
  if (count != 0 && n >= count) return n;
  return n + deliver_new(broker, db, key, s, g, c, consumer_name, now, count == 0 ? 0 : count - n,
                         noack, true, budget, store, out, st);
}

// Re-delivers `c`'s pending entries with IDs > `after` (deleted entries show as [id, nil]);
// those past the group's dead-letter limit go to its dead-letter stream instead.
uint64_t deliver_history(core::Broker& broker, int db, std::string_view key, Stream& s,
                         ConsumerGroup& g, Consumer& c, StreamId after, int64_t now, uint64_t count,
                         int protocol, ReadBudget& budget, GroupStore& store, std::string* out,
                         wire::Status* st) {
  thread_local std::vector<StreamId> ids;
  thread_local std::vector<uint64_t> counts;
  ids.clear();
  counts.clear();
  uint64_t n = 0;
  StreamId from;
  if (after.increment(&from)) {
    // The entries are read first and the PEL changed after: a read refused as cold
    // (cold_read.h) returns with nothing changed. Dead-lettering changes state at once, so
    // reads after it wait for the disk.
    for (auto it = c.pending.lower_bound(from); it != c.pending.end();) {
      if ((count != 0 && n >= count) || !budget.open()) break;
      StreamId id = *it;
      ++it;  // dead-lettering removes `id` from c.pending
      if (stream::Pending* p = g.pel.find(id); p && dead_letter_due(g, p->delivery_count + 1)) {
        cold_read_commit();
        if (dead_letter(broker, db, now, s, g, id, kDeadLetterMaxDeliveries, store, st)) continue;
        if (!st->is_ok()) return n;
      }
      const size_t mark = out->size();
      bool found = s.lookup(id, [&](StreamId, std::string_view resp) {
        out->append(resp);
        return false;
      });
      if (cold_read_missed()) return 0;
      if (!found) {
        wire::resp::ReplyWriter w(out, protocol);
        w.array(2);
        reply_id(w, id);
        w.null_array();
      }
      if (!budget.take(out->size() - mark)) {
        out->resize(mark);  // past MAXSIZE: not re-delivered
        break;
      }
      if (found) ids.push_back(id);
      ++n;
    }
    cold_read_commit();
    for (StreamId id : ids) {
      stream::Pending* p = g.pel.find(id);
      p->delivery_time_ms = now;
      ++p->delivery_count;
      counts.push_back(p->delivery_count);
    }
  }
  if (!ids.empty()) {
    *st = store.deliver(g, c, now, ids, counts, false);
  } else {
    *st = store.consumer_seen(g, c);
  }
  propagate_delivery(broker, db, key, g, c.name, now, ids, counts);
  broker.stats().stream_deliveries += ids.size();
  return n;
}

}  // namespace

void xreadgroup(CommandContext& ctx) {
  propagate_nothing(ctx.broker);  // deliveries send their effects (replication_effects.h)
  ReadOptions opts;
  if (!parse_read_options(ctx, true, &opts)) return;
  const int64_t timeout = opts.timeout;
  const int64_t count = opts.count;
  const size_t streams_arg = opts.streams_arg;
  const size_t nstreams = opts.nstreams;
  const bool noack = opts.noack;
  const std::string_view group_name = opts.group;
  const std::string_view consumer_name = opts.consumer;

  // Validate every key, group and ID before serving any (Redis replies one error, no data).
  struct Target {
    Stream* s;
    ConsumerGroup* g;
    bool history;
    StreamId after;
  };
  std::vector<Target> targets;
  targets.reserve(nstreams);
  for (size_t k = 0; k < nstreams; ++k) {
    std::string_view key = ctx.arg(streams_arg + k);
    std::string_view id_arg = ctx.arg(streams_arg + nstreams + k);
    bool replied;
    Stream* s = lookup_stream(ctx, key, &replied);
    if (replied) return;
    ConsumerGroup* g = s ? find_group(*s, group_name) : nullptr;
    if (!g) {
      return reply_nogroup(ctx, "No such key '" + std::string(key) + "' or consumer group '" +
                                    std::string(group_name) + "' in XREADGROUP with GROUP option");
    }
    Target t{s, g, false, {}};
    if (id_arg == "$") {
      return ctx.error_text(
          "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
          "history of this consumer by specifying a proper ID, or use the > ID to get new "
          "messages. The $ ID would just return an empty result set.");
    }
    if (id_arg != ">") {
      if (!parse_strict_id(ctx, id_arg, 0, &t.after)) return;
      // Redis marks ">" internally as the maximum ID: that ID reads new entries too.
      t.history = t.after != StreamId::max();
    }
    targets.push_back(t);
  }

  std::string body;
  size_t served = 0;
  const int db = ctx.client.db;
  ReadBudget budget(opts);
  for (size_t k = 0; k < nstreams && budget.open(); ++k) {
    Target& t = targets[k];
    std::string_view key = ctx.arg(streams_arg + k);
    bool serve = t.history;
    if (!serve && t.s->length() > 0 && t.s->last_entry_id() > t.g->last_delivered_id) serve = true;
    if (!serve && opts.claim_min_idle >= 0 &&
        !claimable(*t.g, ctx.now_ms, opts.claim_min_idle).empty()) {
      serve = true;
    }
    // last_entry_id() may have been refused as cold (it then says 0-0): run again later.
    if (cold_read_missed()) return;
    // As in Redis 7.0, the consumer is created (and seen) only when something is served.
    if (!serve) continue;
    auto store = group_store_or_reply(ctx, *t.s);
    if (!store) return;
    group_written(ctx, *t.s);
    wire::Status st;
    thread_local std::string entries;
    entries.clear();
    uint64_t n = 0;
    if (t.history) {
      // Only seen time changes here; a consumer with pending entries exists already.
      Consumer* c = reading_consumer(ctx.broker, db, key, *t.g, consumer_name, ctx.now_ms);
      n = deliver_history(ctx.broker, db, key, *t.s, *t.g, *c, t.after, ctx.now_ms,
                          static_cast<uint64_t>(count), ctx.client.protocol, budget, *store,
                          &entries, &st);
    } else {
      n = deliver_claim_and_new(ctx.broker, db, key, *t.s, *t.g, consumer_name, ctx.now_ms,
                                static_cast<uint64_t>(count), noack, opts.claim_min_idle, budget,
                                *store, &entries, &st);
    }
    if (cold_read_missed()) return;  // nothing changed: the command runs again (cold_read.h)
    if (!st.is_ok()) return ctx.error(st);
    // A stream whose first entry found MAXSIZE used up is left out of the reply.
    if (n == 0 && !budget.open()) continue;
    ++served;
    wire::resp::ReplyWriter r(&body, ctx.client.protocol);
    if (!r.resp3()) r.array(2);
    r.bulk(key);
    r.array(n);
    r.raw(entries);
  }
  if (served > 0) {
    if (ctx.reply.resp3()) {
      ctx.reply.map(served);
    } else {
      ctx.reply.array(served);
    }
    ctx.reply.raw(body);
    return;
  }
  if (timeout < 0 || !ctx.may_block()) return ctx.reply.null_array();

  auto wait = std::make_shared<GroupReadWait>();
  for (size_t k = 0; k < nstreams; ++k) wait->keys.emplace_back(ctx.arg(streams_arg + k));
  wait->group = std::string(group_name);
  wait->consumer = std::string(consumer_name);
  wait->count = static_cast<uint64_t>(count);
  wait->noack = noack;
  wait->claim_min_idle = opts.claim_min_idle;
  wait->caps.maxcount = opts.maxcount;
  wait->caps.maxsize = opts.maxsize;
  core::Broker* broker = &ctx.broker;
  auto retry = [broker, db, wait](core::Client& client, blocking::BlockingRegistry::Wake why,
                                  std::string_view key) {
    wire::resp::ReplyWriter r(client.out.staging(), client.protocol);
    if (why == blocking::BlockingRegistry::Wake::kTimeout) {
      r.null_array();
      return true;
    }
    if (std::find(wait->keys.begin(), wait->keys.end(), key) == wait->keys.end()) return false;
    core::Object* obj = broker->db(db).find(key, core::now_ms());
    if (!obj || obj->type() != core::ObjectType::kStream) {
      r.error("UNBLOCKED the stream key no longer exists");
      return true;
    }
    auto* s = static_cast<Stream*>(obj);
    ConsumerGroup* g = find_group(*s, wait->group);
    if (!g) {
      r.error("NOGROUP the consumer group this client was blocked on no longer exists");
      return true;
    }
    if (!(s->last_id() > g->last_delivered_id) &&
        (wait->claim_min_idle < 0 || claimable(*g, core::now_ms(), wait->claim_min_idle).empty())) {
      return false;
    }
    wire::Status st;
    if (!s->group_journal) {
      // Unreachable in practice: the group exists, so its journal is open.
      r.error("ERR consumer group journal is not open");
      return true;
    }
    GroupStore store(*s->group_journal, s->groups, &s->idmp);
    // Under appendfsync always the delivery is durable before its reply leaves.
    if (broker->config().appendfsync == config::AppendFsync::kAlways) {
      client.out.hold(broker->pending_epoch());
    }
    int64_t now = core::now_ms();
    thread_local std::string entries;
    entries.clear();
    ReadBudget wake_budget(wait->caps);
    uint64_t n =
        deliver_claim_and_new(*broker, db, key, *s, *g, wait->consumer, now, wait->count,
                              wait->noack, wait->claim_min_idle, wake_budget, store, &entries, &st);
    broker->streams().mark_dirty(*s);
    if (!st.is_ok()) {
      r.error(error_text(st));
      return true;
    }
    if (r.resp3()) {
      r.map(1);
    } else {
      r.array(1);
      r.array(2);
    }
    r.bulk(key);
    r.array(n);
    r.raw(entries);
    return true;
  };
  int64_t deadline = timeout > 0 ? ctx.now_ms + timeout : 0;
  ctx.broker.blocking().block(ctx.client, db, wait->keys, deadline, retry);
  ctx.blocked = true;
}

}  // namespace sluice::commands
