// Blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP. When a list has elements they
// act as LPOP, RPOP, LMOVE and LMPOP do. Otherwise the client waits in the BlockingRegistry, FIFO
// per key; a key's waiters are retried after the command that created the list (Redis wakes them
// when a list is added to the keyspace), so inside MULTI/EXEC only after EXEC. A retry serves the
// waiter only from a non-empty list: a key that was deleted or now holds another type keeps the
// waiter waiting, as in Redis 7.0. A waiter that disconnects was never served, so nothing it
// would have popped is lost. Inside MULTI (ctx.may_block() false) they answer as timed out.
#include <memory>
#include <string>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/list_support.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

using blocking::BlockingRegistry;

// What a blocked client waits to do, kept for its retries.
struct ListWait {
  enum class Kind : uint8_t { kPop, kMpop, kMove };
  Kind kind = Kind::kPop;
  ListEnd from = ListEnd::kHead;
  ListEnd to = ListEnd::kHead;
  int64_t count = 1;
  std::string dst;  // BLMOVE / BRPOPLPUSH
  std::vector<std::string> keys;
};

// Serves a waiter from `key` if it holds a non-empty list. Returns whether a reply was written.
bool serve(core::Broker& broker, int db, const ListWait& w, core::Client& client,
           std::string_view key) {
  const int64_t now = core::now_ms();
  core::Object* obj = broker.db(db).find(key, now);
  if (!obj || obj->type() != core::ObjectType::kList) return false;
  auto& list = static_cast<ListObject&>(*obj);
  if (list.size() == 0) return false;
  wire::resp::ReplyWriter reply(client.out.staging(), client.protocol);
  if (w.kind == ListWait::Kind::kMove) {
    core::Object* dst = broker.db(db).find(w.dst, now);
    if (dst && dst->type() != core::ObjectType::kList) {
      // Redis unblocks the client with the error; the element stays where it was.
      reply.error(kWrongTypeErr);
      return true;
    }
  }
  // Under appendfsync always the pop is durable before its reply leaves.
  if (broker.config().appendfsync == config::AppendFsync::kAlways) {
    client.out.hold(broker.pending_epoch());
  }
  switch (w.kind) {
    case ListWait::Kind::kPop:
      reply.array(2);
      reply.bulk(key);
      pop_elements(broker, db, key, list, w.from, 1, reply);
      break;
    case ListWait::Kind::kMpop:
      reply.array(2);
      reply.bulk(key);
      reply.array(std::min(static_cast<uint64_t>(w.count), uint64_t{list.size()}));
      pop_elements(broker, db, key, list, w.from, static_cast<size_t>(w.count), reply);
      break;
    case ListWait::Kind::kMove:
      move_element(broker, db, key, list, w.dst, w.from, w.to, now, reply);
      break;
  }
  // The replication stream gets the pop it did (replication.h).
  auto end_name = [](ListEnd e) { return e == ListEnd::kHead ? "LEFT" : "RIGHT"; };
  std::string count = std::to_string(w.count);
  const char* pop = w.from == ListEnd::kHead ? "LPOP" : "RPOP";
  if (w.kind == ListWait::Kind::kMove) {
    std::string_view argv[] = {"LMOVE", key, w.dst, end_name(w.from), end_name(w.to)};
    replication::of(broker).emit(db, argv);
  } else if (w.kind == ListWait::Kind::kMpop) {
    std::string_view argv[] = {pop, key, count};
    replication::of(broker).emit(db, argv);
  } else {
    std::string_view argv[] = {pop, key};
    replication::of(broker).emit(db, argv);
  }
  return true;
}

void block_on(CommandContext& ctx, std::shared_ptr<ListWait> wait, int64_t deadline_ms) {
  core::Broker* broker = &ctx.broker;
  const int db = ctx.client.db;
  auto retry = [broker, db, wait](core::Client& client, BlockingRegistry::Wake why,
                                  std::string_view key) {
    if (why == BlockingRegistry::Wake::kTimeout) {
      wire::resp::ReplyWriter(client.out.staging(), client.protocol).null_array();
      return true;
    }
    return serve(*broker, db, *wait, client, key);
  };
  ctx.broker.blocking().block(ctx.client, db, wait->keys, deadline_ms, std::move(retry));
  ctx.blocked = true;
}

void bpop_generic(CommandContext& ctx, ListEnd end) {
  int64_t deadline = 0;
  if (!parse_block_timeout(ctx, ctx.arg(ctx.argc() - 1), &deadline)) return;
  const size_t nkeys = ctx.argc() - 2;
  for (size_t k = 0; k < nkeys; ++k) {
    std::string_view key = ctx.arg(1 + k);
    bool replied;
    ListObject* list = write_list(ctx, key, &replied);
    if (replied) return;
    if (!list || list->size() == 0) continue;
    ctx.reply.array(2);
    ctx.reply.bulk(key);
    pop_elements(ctx.broker, ctx.client.db, key, *list, end, 1, ctx.reply);
    ctx.wrote = true;
    return;
  }
  if (!ctx.may_block()) return ctx.reply.null_array();
  auto wait = std::make_shared<ListWait>();
  wait->kind = ListWait::Kind::kPop;
  wait->from = end;
  for (size_t k = 0; k < nkeys; ++k) wait->keys.emplace_back(ctx.arg(1 + k));
  block_on(ctx, std::move(wait), deadline);
}

void blpop(CommandContext& ctx) { bpop_generic(ctx, ListEnd::kHead); }
void brpop(CommandContext& ctx) { bpop_generic(ctx, ListEnd::kTail); }

void blmove_generic(CommandContext& ctx, ListEnd from, ListEnd to, std::string_view timeout) {
  int64_t deadline = 0;
  if (!parse_block_timeout(ctx, timeout, &deadline)) return;
  std::string_view src_key = ctx.arg(1);
  std::string_view dst_key = ctx.arg(2);
  bool replied;
  ListObject* src = write_list(ctx, src_key, &replied);
  if (replied) return;
  if (src) {
    write_list(ctx, dst_key, &replied);
    if (replied) return;
    move_element(ctx.broker, ctx.client.db, src_key, *src, dst_key, from, to, ctx.now_ms,
                 ctx.reply);
    ctx.wrote = true;
    return;
  }
  // As LMOVE on a missing list: a null bulk string, not the null array of a timeout.
  if (!ctx.may_block()) return ctx.reply.null();
  auto wait = std::make_shared<ListWait>();
  wait->kind = ListWait::Kind::kMove;
  wait->from = from;
  wait->to = to;
  wait->dst = std::string(dst_key);
  wait->keys.emplace_back(src_key);
  block_on(ctx, std::move(wait), deadline);
}

void blmove(CommandContext& ctx) {
  ListEnd from;
  ListEnd to;
  if (!parse_list_end(ctx, ctx.arg(3), &from) || !parse_list_end(ctx, ctx.arg(4), &to)) return;
  blmove_generic(ctx, from, to, ctx.arg(5));
}

void brpoplpush(CommandContext& ctx) {
  blmove_generic(ctx, ListEnd::kTail, ListEnd::kHead, ctx.arg(3));
}

void blmpop(CommandContext& ctx) {
  size_t nkeys = 0;
  ListEnd end;
  int64_t count = 0;
  if (!parse_mpop(ctx, 2, &nkeys, &end, &count)) return;
  int64_t deadline = 0;
  if (!parse_block_timeout(ctx, ctx.arg(1), &deadline)) return;
  for (size_t k = 0; k < nkeys; ++k) {
    std::string_view key = ctx.arg(3 + k);
    bool replied;
    ListObject* list = write_list(ctx, key, &replied);
    if (replied) return;
    if (list && list->size() > 0) return mpop_reply(ctx, key, *list, end, count);
  }
  if (!ctx.may_block()) return ctx.reply.null_array();
  auto wait = std::make_shared<ListWait>();
  wait->kind = ListWait::Kind::kMpop;
  wait->from = end;
  wait->count = count;
  for (size_t k = 0; k < nkeys; ++k) wait->keys.emplace_back(ctx.arg(3 + k));
  block_on(ctx, std::move(wait), deadline);
}

}  // namespace

void register_list_blocking_commands(CommandTable& t) {
  const CommandFamily cmd{"list"};
  const uint32_t kB = kWrite | kNoScript | kBlocking;
  t.add(cmd("blpop", -3, kB, blpop, "@write @list @slow @blocking",
            "Removes and returns the first element in a list. Blocks until an element is "
            "available otherwise. Deletes the list if the last element was popped.",
            "2.0.0", 1, -2, 1));
  t.add(cmd("brpop", -3, kB, brpop, "@write @list @slow @blocking",
            "Removes and returns the last element in a list. Blocks until an element is available "
            "otherwise. Deletes the list if the last element was popped.",
            "2.0.0", 1, -2, 1));
  t.add(cmd("blmove", 6, kB | kDenyOom, blmove, "@write @list @slow @blocking",
            "Pops an element from a list, pushes it to another list and returns it. Blocks until "
            "an element is available otherwise. Deletes the list if the last element was moved.",
            "6.2.0", 1, 2, 1));
  t.add(cmd("brpoplpush", 4, kB | kDenyOom, brpoplpush, "@write @list @slow @blocking",
            "Pops an element from a list, pushes it to another list and returns it. Block until "
            "an element is available otherwise. Deletes the list if the last element was popped.",
            "2.2.0", 1, 2, 1));
  t.add(cmd("blmpop", -5, kWrite | kBlocking | kMovableKeys, blmpop, "@write @list @slow @blocking",
            "Pops the first element from one of multiple lists. Blocks until an element is "
            "available otherwise. Deletes the list if the last element was popped.",
            "7.0.0", 0, 0, 0));
}

}  // namespace sluice::commands
