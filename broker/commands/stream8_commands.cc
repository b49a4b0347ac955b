// The stream commands Redis 8 added: XDELEX and XACKDEL (8.2, deletion with control over the
// consumer groups' references), XCFGSET (8.6, the limits of idempotent producers) and XNACK (8.8,
// pending entries released back to their group). Every change is journaled like its Redis 7
// counterpart: entry deletions as tombstones in the stream's control journal, PEL changes as
// group-store records.
#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/group_support.h"
#include "broker/commands/stream_support.h"
#include "broker/stream/group_refs.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

using stream::ConsumerGroup;
using stream::RefPolicy;
using stream::RemovedRefs;
using stream::Stream;

// The per-ID replies of XDELEX and XACKDEL.
constexpr int64_t kNotFound = -1;
constexpr int64_t kDeleted = 1;
constexpr int64_t kStillReferenced = 2;

// Options of XDELEX / XACKDEL from argument `first` on: [KEEPREF | DELREF | ACKED] and the
// "IDS numids id..." block, in any order. Every ID is validated before anything changes.
struct DeleteArgs {
  RefPolicy policy = RefPolicy::kKeepRef;
  std::vector<StreamId> ids;
};

// "IDS numids id..." with ctx.arg(*i) == "IDS": appends the IDs (all validated) and leaves *i on
// the last one. Replies the error and returns false on bad input.
bool parse_ids_block(CommandContext& ctx, size_t* i, std::vector<StreamId>* ids) {
  int64_t numids;
  if (!wire::parse_i64(ctx.arg(*i + 1), &numids) || numids <= 0) {
    ctx.error_text("ERR Number of IDs must be a positive integer");
    return false;
  }
  const size_t first_id = *i + 2;
  if (static_cast<uint64_t>(numids) > ctx.argc() - first_id) {
    ctx.error_text("ERR The `numids` parameter must match the number of arguments");
    return false;
  }
  ids->reserve(static_cast<size_t>(numids));
  for (size_t k = 0; k < static_cast<size_t>(numids); ++k) {
    StreamId id;
    if (!parse_strict_id(ctx, ctx.arg(first_id + k), 0, &id)) return false;
    ids->push_back(id);
  }
  *i = first_id + static_cast<size_t>(numids) - 1;
  return true;
}

bool parse_delete_args(CommandContext& ctx, size_t first, DeleteArgs* out) {
  bool have_ids = false;
  for (size_t i = first; i < ctx.argc(); ++i) {
    std::string_view opt = ctx.arg(i);
    if (parse_ref_policy(opt, &out->policy)) continue;
    if (iequals(opt, "IDS") && !have_ids && i + 1 < ctx.argc()) {
      if (!parse_ids_block(ctx, &i, &out->ids)) return false;
      have_ids = true;
      continue;
    }
    ctx.syntax_error();
    return false;
  }
  if (!have_ids) {
    ctx.syntax_error();
    return false;
  }
  return true;
}

void reply_all_not_found(CommandContext& ctx, size_t n) {
  ctx.reply.array(n);
  for (size_t i = 0; i < n; ++i) ctx.reply.integer(kNotFound);
}

// Journals the PEL changes `removed`; false after replying an error.
bool journal_refs(CommandContext& ctx, Stream& s, const std::vector<RemovedRefs>& removed) {
  if (removed.empty()) return true;
  auto store = group_store_or_reply(ctx, s);
  if (!store) return false;
  wire::Status st = stream::journal_removed_refs(*store, removed);
  if (!st.is_ok()) {
    ctx.error(st);
    return false;
  }
  group_written(ctx, s);
  return true;
}

// Deletes `doomed` (the entries the per-ID replies promised to delete) and journals it.
bool delete_entries(CommandContext& ctx, Stream& s, std::vector<StreamId>& doomed) {
  if (doomed.empty()) return true;
  std::sort(doomed.begin(), doomed.end());
  auto removed = s.remove(doomed);
  if (!removed) {
    ctx.error(removed.status());
    return false;
  }
  stream_written(ctx, s);
  ctx.broker.notify('t', "xdel", s.key, ctx.client.db);
  return true;
}

// XDELEX key [KEEPREF | DELREF | ACKED] IDS numids id...
void xdelex(CommandContext& ctx) {
  DeleteArgs a;
  if (!parse_delete_args(ctx, 2, &a)) return;
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return reply_all_not_found(ctx, a.ids.size());
  std::vector<int64_t> results;
  std::vector<StreamId> doomed;
  std::vector<RemovedRefs> refs;
  std::set<StreamId> seen;  // an ID named twice is gone the second time
  for (StreamId id : a.ids) {
    const bool exists = !seen.count(id) && s->contains(id);
    if (!exists) {
      // DELREF clears dangling references to an entry that is already gone.
      if (a.policy == RefPolicy::kDelRef) {
        for (auto& r : stream::remove_refs(*s, std::span(&id, 1))) refs.push_back(std::move(r));
      }
      results.push_back(kNotFound);
      continue;
    }
    // As documented for XDELEX, ACKED deletes nothing on a stream without consumer groups.
    if (a.policy == RefPolicy::kAcked && (s->groups.empty() || stream::entry_referenced(*s, id))) {
      results.push_back(kStillReferenced);
      continue;
    }
    if (a.policy == RefPolicy::kDelRef) {
      for (auto& r : stream::remove_refs(*s, std::span(&id, 1))) refs.push_back(std::move(r));
    }
    seen.insert(id);
    doomed.push_back(id);
    results.push_back(kDeleted);
  }
  if (!journal_refs(ctx, *s, refs)) return;
  if (!delete_entries(ctx, *s, doomed)) return;
  ctx.reply.array(results.size());
  for (int64_t r : results) ctx.reply.integer(r);
}

// XACKDEL key group [KEEPREF | DELREF | ACKED] IDS numids id...
void xackdel(CommandContext& ctx) {
  DeleteArgs a;
  if (!parse_delete_args(ctx, 3, &a)) return;
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  // Without the group nothing can be acknowledged (XACK replies 0 there).
  if (!g) return reply_all_not_found(ctx, a.ids.size());
  std::vector<int64_t> results;
  std::vector<StreamId> doomed;
  std::vector<RemovedRefs> refs;
  RemovedRefs acked{g, {}};
  std::set<StreamId> seen;
  for (StreamId id : a.ids) {
    if (!g->pel.remove(id)) {
      results.push_back(kNotFound);
      continue;
    }
    acked.ids.push_back(id);
    const bool exists = !seen.count(id) && s->contains(id);
    if (exists && a.policy == RefPolicy::kAcked && stream::entry_referenced(*s, id)) {
      results.push_back(kStillReferenced);
      continue;
    }
    if (a.policy == RefPolicy::kDelRef) {
      for (auto& r : stream::remove_refs(*s, std::span(&id, 1), g)) refs.push_back(std::move(r));
    }
    if (!exists) {
      results.push_back(kNotFound);
      continue;
    }
    seen.insert(id);
    doomed.push_back(id);
    results.push_back(kDeleted);
  }
  if (!acked.ids.empty()) refs.push_back(std::move(acked));
  if (!journal_refs(ctx, *s, refs)) return;
  if (!delete_entries(ctx, *s, doomed)) return;
  ctx.reply.array(results.size());
  for (int64_t r : results) ctx.reply.integer(r);
}

// XNACK key group SILENT|FAIL|FATAL IDS numids id... [RETRYCOUNT n] [FORCE] (Redis 8.8): the
// pending entries go back to the group, owned by no consumer, with delivery time 0 (so any
// claim takes them first); SILENT takes back one delivery, FAIL keeps the count, FATAL sets it
// to LLONG_MAX, RETRYCOUNT sets it. FORCE also makes entries of the stream that are not pending
// pending that way. Replies how many entries were released.
void xnack(CommandContext& ctx) {
  enum class Mode : uint8_t { kNone, kSilent, kFail, kFatal };
  Mode mode = Mode::kNone;
  std::vector<StreamId> ids;
  bool have_ids = false;
  std::optional<uint64_t> retry_count;
  bool force = false;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    std::string_view opt = ctx.arg(i);
    const bool more = i + 1 < ctx.argc();
    if (iequals(opt, "SILENT") || iequals(opt, "FAIL") || iequals(opt, "FATAL")) {
      if (mode != Mode::kNone) return ctx.syntax_error();
      mode = iequals(opt, "SILENT") ? Mode::kSilent
             : iequals(opt, "FAIL") ? Mode::kFail
                                    : Mode::kFatal;
    } else if (iequals(opt, "IDS") && !have_ids && more) {
      if (!parse_ids_block(ctx, &i, &ids)) return;
      have_ids = true;
    } else if (iequals(opt, "RETRYCOUNT") && more) {
      int64_t n;
      if (!wire::parse_i64(ctx.arg(++i), &n)) return ctx.not_integer();
      if (n < 0) return ctx.error_text("ERR Invalid RETRYCOUNT option argument for XNACK");
      retry_count = static_cast<uint64_t>(n);
    } else if (iequals(opt, "FORCE")) {
      force = true;
    } else {
      return ctx.syntax_error();
    }
  }
  if (mode == Mode::kNone || !have_ids) return ctx.syntax_error();
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ConsumerGroup* g = s ? find_group(*s, ctx.arg(2)) : nullptr;
  if (!g) return ctx.reply.integer(0);
  constexpr auto kFatalCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  std::vector<StreamId> released;
  std::vector<uint64_t> counts;
  for (StreamId id : ids) {
    uint64_t count;
    if (const stream::Pending* p = g->pel.find(id)) {
      count = mode == Mode::kSilent  ? (p->delivery_count > 0 ? p->delivery_count - 1 : 0)
              : mode == Mode::kFatal ? kFatalCount
                                     : p->delivery_count;
    } else if (force && s->contains(id)) {
      count = mode == Mode::kFatal ? kFatalCount : 0;
    } else {
      continue;
    }
    if (retry_count) count = *retry_count;
    g->pel.assign(id, nullptr, 0, count);
    released.push_back(id);
    counts.push_back(count);
  }
  if (!released.empty()) {
    auto store = group_store_or_reply(ctx, *s);
    if (!store) return;
    wire::Status st = store->nack(*g, released, counts);
    if (!st.is_ok()) return ctx.error(st);
    group_written(ctx, *s);
  }
  ctx.reply.integer(static_cast<int64_t>(released.size()));
}

// XCFGSET key [IDMP-DURATION seconds] [IDMP-MAXSIZE n] (Redis 8.6).
void xcfgset(CommandContext& ctx) {
  std::optional<int64_t> duration;
  std::optional<int64_t> max_size;
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    std::string_view opt = ctx.arg(i);
    if (i + 1 >= ctx.argc()) return ctx.syntax_error();
    int64_t v = 0;
    const bool number = wire::parse_i64(ctx.arg(i + 1), &v);
    if (iequals(opt, "IDMP-DURATION")) {
      if (!number || v < 1 || v > stream::IdmpState::kMaxDurationS) {
        return ctx.error_text("ERR invalid duration");
      }
      duration = v;
    } else if (iequals(opt, "IDMP-MAXSIZE")) {
      if (!number || v < 1 || v > stream::IdmpState::kMaxMaxSize) {
        return ctx.error_text("ERR invalid maxsize");
      }
      max_size = v;
    } else {
      return ctx.syntax_error();
    }
  }
  if (!duration && !max_size) return ctx.syntax_error();
  bool replied;
  Stream* s = lookup_stream(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.error_text("ERR no such key");
  s->idmp.configure(duration.value_or(s->idmp.duration_s()), max_size.value_or(s->idmp.max_size()));
  auto store = group_store_or_reply(ctx, *s);
  if (!store) return;
  wire::Status st = store->idmp_config(s->idmp);
  if (!st.is_ok()) return ctx.error(st);
  group_written(ctx, *s);
  ctx.reply.ok();
}

}  // namespace

void register_stream8_commands(CommandTable& t) {
  const CommandFamily cmd{"stream"};
  t.add(cmd("xdelex", -5, kWrite | kFast, xdelex, "@write @stream @fast",
            "Deletes one or multiple entries from the stream.", "8.2.0"));
  t.add(cmd("xackdel", -6, kWrite | kFast, xackdel, "@write @stream @fast",
            "Acknowledges and conditionally deletes one or multiple entries for a stream consumer "
            "group.",
            "8.2.0"));
  t.add(cmd("xnack", -7, kWrite | kFast, xnack, "@write @stream @fast",
            "Releases pending messages back to the group's PEL without acknowledging them, "
            "making them available for re-delivery.",
            "8.8.0"));
  t.add(cmd("xcfgset", -2, kWrite | kFast, xcfgset, "@write @stream @fast",
            "Sets the IDMP configuration parameters for a stream.", "8.6.0"));
}

}  // namespace sluice::commands
