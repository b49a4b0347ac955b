// Sorted set pops: ZPOPMIN ZPOPMAX ZMPOP and the blocking BZPOPMIN BZPOPMAX BZMPOP. A blocked
// client waits FIFO per key in the BlockingRegistry (the one mechanism XREAD uses); it is served
// before the next poll after a write to one of its keys, so an add inside MULTI serves it only
// after EXEC. A waiter that disconnects has popped nothing; under appendfsync always a served
// waiter's reply waits for the sync that makes the pop durable.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/zset_support.h"
#include "broker/kv/zset_records.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

using kv::ZSetObject;
using kv::ZTree;

// Reply shapes of the pop family (Redis 7.0).
enum class PopReply : uint8_t {
  kFlat,     // ZPOPMIN: [m, s, m, s...]
  kPairs,    // ZPOPMIN with COUNT under RESP3: [[m, s], ...]
  kKeyed,    // BZPOPMIN: [key, m, s]
  kKeyPairs  // ZMPOP, BZMPOP: [key, [[m, s], ...]]
};

// Pops up to `count` members from the min or max end of `z` (at `key`, non-empty), replies in
// `shape`, journals the removal, and does the write bookkeeping; removes an emptied set.
void pop_members(core::Broker& broker, int db, std::string_view key, ZSetObject* z, bool max,
                 size_t count, wire::resp::ReplyWriter& w, PopReply shape) {
  const size_t n = std::min(count, z->size());
  switch (shape) {
    case PopReply::kFlat:
      w.array(n * 2);
      break;
    case PopReply::kPairs:
      w.array(n);
      break;
    case PopReply::kKeyed:
      w.array(3);
      w.bulk(key);
      break;
    case PopReply::kKeyPairs:
      w.array(2);
      w.bulk(key);
      w.array(n);
      break;
  }
  thread_local std::vector<std::string_view> names;
  names.clear();
  ZTree::Pos p = max ? z->tree().last() : z->tree().first();
  for (size_t i = 0; i < n; ++i) {
    if (shape == PopReply::kPairs || shape == PopReply::kKeyPairs) w.array(2);
    w.bulk(p.member()->view());
    reply_score(w, p.score());
    names.push_back(p.member()->view());
    p = max ? ZTree::prev(p) : ZTree::next(p);
  }
  kv::record_zset_removed(broker.kv(), db, key, names);
  names.clear();
  for (size_t i = 0; i < n; ++i) z->erase_at_rank(max ? z->size() - 1 : 0);
  broker.key_modified(db, key);
  broker.notify('z', max ? "zpopmax" : "zpopmin", key, db);
  if (z->size() == 0) {
    broker.db(db).remove(key);
    broker.notify('g', "del", key, db);
  }
}

// The first key (of args[first, first+n)) holding a non-empty sorted set, or nullptr. A key of
// another type on the way replies WRONGTYPE (*replied).
ZSetObject* first_nonempty(CommandContext& ctx, size_t first, size_t n, std::string_view* key,
                           bool* replied) {
  for (size_t i = first; i < first + n; ++i) {
    ZSetObject* z = write_zset(ctx, ctx.arg(i), replied);
    if (*replied) return nullptr;
    if (z && z->size() > 0) {
      *key = ctx.arg(i);
      return z;
    }
  }
  return nullptr;
}

void zpop_generic(CommandContext& ctx, bool max) {
  if (ctx.argc() > 3) return ctx.syntax_error();
  int64_t count = 1;
  const bool has_count = ctx.argc() == 3;
  if (has_count) {
    if (!wire::parse_i64(ctx.arg(2), &count) || count < 0) {
      return ctx.error_text("ERR value is out of range, must be positive");
    }
  }
  bool replied = false;
  ZSetObject* z = write_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!z || count == 0) return ctx.reply.array(0);
  const PopReply shape = has_count && ctx.reply.resp3() ? PopReply::kPairs : PopReply::kFlat;
  pop_members(ctx.broker, ctx.client.db, ctx.arg(1), z, max, static_cast<size_t>(count), ctx.reply,
              shape);
  ctx.wrote = true;
}

void zpopmin(CommandContext& ctx) { zpop_generic(ctx, false); }
void zpopmax(CommandContext& ctx) { zpop_generic(ctx, true); }

// What a blocked pop waits for, kept for its retries.
struct PopWait {
  std::vector<std::string> keys;
  bool max = false;
  size_t count = 1;
  PopReply shape = PopReply::kKeyed;
};

void block_pop(CommandContext& ctx, size_t first, size_t n, int64_t deadline, bool max,
               size_t count, PopReply shape) {
  auto wait = std::make_shared<PopWait>();
  for (size_t i = first; i < first + n; ++i) wait->keys.emplace_back(ctx.arg(i));
  wait->max = max;
  wait->count = count;
  wait->shape = shape;
  core::Broker* broker = &ctx.broker;
  const int db = ctx.client.db;
  auto retry = [broker, db, wait](core::Client& client, blocking::BlockingRegistry::Wake why,
                                  std::string_view key) {
    wire::resp::ReplyWriter r(client.out.staging(), client.protocol);
    if (why == blocking::BlockingRegistry::Wake::kTimeout) {
      r.null_array();
      return true;
    }
    if (std::find(wait->keys.begin(), wait->keys.end(), key) == wait->keys.end()) return false;
    core::Object* obj = broker->db(db).find(key, core::now_ms());
    // Another type or an empty key: keep waiting, as Redis serves only a sorted set.
    if (!obj || obj->type() != core::ObjectType::kZSet) return false;
    auto* z = static_cast<ZSetObject*>(obj);
    if (z->size() == 0) return false;
    if (broker->config().appendfsync == config::AppendFsync::kAlways) {
      client.out.hold(broker->pending_epoch());
    }
    pop_members(*broker, db, key, z, wait->max, wait->count, r, wait->shape);
    // The replication stream gets the pop it did (replication.h).
    std::string count_text = std::to_string(wait->count);
    std::string_view argv[] = {wait->max ? "ZPOPMAX" : "ZPOPMIN", key, count_text};
    replication::of(*broker).emit(db, argv);
    return true;
  };
  ctx.broker.blocking().block(ctx.client, db, wait->keys, deadline, retry);
  ctx.blocked = true;
}

// ZMPOP numkeys key... MIN|MAX [COUNT c], BZMPOP timeout numkeys ...: `at` is numkeys' index.
void zmpop_generic(CommandContext& ctx, size_t at, bool blocking) {
  int64_t deadline = 0;
  if (blocking && !parse_block_timeout(ctx, ctx.arg(1), &deadline)) return;
  int64_t numkeys = 0;
  if (!wire::parse_i64(ctx.arg(at), &numkeys) || numkeys < 1) {
    return ctx.error_text("ERR numkeys should be greater than 0");
  }
  const size_t where = at + 1 + static_cast<size_t>(numkeys);
  if (static_cast<uint64_t>(numkeys) >= ctx.argc() || where >= ctx.argc()) {
    return ctx.syntax_error();
  }
  bool max = false;
  if (iequals(ctx.arg(where), "MAX")) {
    max = true;
  } else if (!iequals(ctx.arg(where), "MIN")) {
    return ctx.syntax_error();
  }
  int64_t count = -1;
  for (size_t j = where + 1; j < ctx.argc(); ++j) {
    if (count == -1 && iequals(ctx.arg(j), "COUNT") && j + 1 < ctx.argc()) {
      ++j;
      if (!wire::parse_i64(ctx.arg(j), &count) || count < 1) {
        return ctx.error_text("ERR count should be greater than 0");
      }
    } else {
      return ctx.syntax_error();
    }
  }
  if (count == -1) count = 1;
  std::string_view key;
  bool replied = false;
  ZSetObject* z = first_nonempty(ctx, at + 1, static_cast<size_t>(numkeys), &key, &replied);
  if (replied) return;
  if (z) {
    pop_members(ctx.broker, ctx.client.db, key, z, max, static_cast<size_t>(count), ctx.reply,
                PopReply::kKeyPairs);
    ctx.wrote = true;
    return;
  }
  if (!blocking || !ctx.may_block()) return ctx.reply.null_array();
  block_pop(ctx, at + 1, static_cast<size_t>(numkeys), deadline, max, static_cast<size_t>(count),
            PopReply::kKeyPairs);
}

void zmpop(CommandContext& ctx) { zmpop_generic(ctx, 1, false); }
void bzmpop(CommandContext& ctx) { zmpop_generic(ctx, 2, true); }

void bzpop_generic(CommandContext& ctx, bool max) {
  int64_t deadline = 0;
  if (!parse_block_timeout(ctx, ctx.arg(ctx.argc() - 1), &deadline)) return;
  const size_t nkeys = ctx.argc() - 2;
  std::string_view key;
  bool replied = false;
  ZSetObject* z = first_nonempty(ctx, 1, nkeys, &key, &replied);
  if (replied) return;
  if (z) {
    pop_members(ctx.broker, ctx.client.db, key, z, max, 1, ctx.reply, PopReply::kKeyed);
    ctx.wrote = true;
    return;
  }
  if (!ctx.may_block()) return ctx.reply.null_array();
  block_pop(ctx, 1, nkeys, deadline, max, 1, PopReply::kKeyed);
}

void bzpopmin(CommandContext& ctx) { bzpop_generic(ctx, false); }
void bzpopmax(CommandContext& ctx) { bzpop_generic(ctx, true); }

}  // namespace

void register_zset_pop_commands(CommandTable& t) {
  const CommandFamily cmd{"sorted-set"};
  t.add(cmd("zpopmin", -2, kWrite | kFast, zpopmin, "@write @sortedset @fast",
            "Returns the lowest-scoring members from a sorted set after removing them. Deletes the "
            "sorted set if the last member was popped.",
            "5.0.0"));
  t.add(cmd("zpopmax", -2, kWrite | kFast, zpopmax, "@write @sortedset @fast",
            "Returns the highest-scoring members from a sorted set after removing them. Deletes "
            "the sorted set if the last member was popped.",
            "5.0.0"));
  CommandSpec zm = cmd("zmpop", -4, kWrite | kMovableKeys, zmpop, "@write @sortedset @slow",
                       "Returns the highest- or lowest-scoring members from one or more sorted "
                       "sets after removing them. Deletes the sorted set if the last member was "
                       "popped.",
                       "7.0.0", 0, 0, 0);
  t.add(std::move(zm));
  t.add(cmd("bzpopmin", -3, kWrite | kFast | kBlocking | kNoScript, bzpopmin,
            "@write @sortedset @fast @blocking",
            "Removes and returns the member with the lowest score from one or more sorted sets. "
            "Blocks until a member is available otherwise. Deletes the sorted set if the last "
            "element was popped.",
            "5.0.0", 1, -2, 1));
  t.add(cmd("bzpopmax", -3, kWrite | kFast | kBlocking | kNoScript, bzpopmax,
            "@write @sortedset @fast @blocking",
            "Removes and returns the member with the highest score from one or more sorted sets. "
            "Blocks until a member available otherwise.  Deletes the sorted set if the last "
            "element was popped.",
            "5.0.0", 1, -2, 1));
  t.add(cmd("bzmpop", -5, kWrite | kBlocking | kMovableKeys, bzmpop,
            "@write @sortedset @slow @blocking",
            "Removes and returns a member by score from one or more sorted sets. Blocks until a "
            "member is available otherwise. Deletes the sorted set if the last element was "
            "popped.",
            "7.0.0", 0, 0, 0));
}

}  // namespace sluice::commands
