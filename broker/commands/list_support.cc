#include "broker/commands/list_support.h"

#include <cmath>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/kv/list_records.h"

namespace sluice::commands {

bool parse_list_end(CommandContext& ctx, std::string_view arg, ListEnd* out) {
  if (iequals(arg, "LEFT")) {
    *out = ListEnd::kHead;
  } else if (iequals(arg, "RIGHT")) {
    *out = ListEnd::kTail;
  } else {
    ctx.syntax_error();
    return false;
  }
  return true;
}

ListObject* create_list(core::Broker& broker, int db, std::string_view key, int64_t now_ms) {
  auto fresh = std::make_unique<ListObject>(list_limits(broker));
  ListObject* list = fresh.get();
  list->last_access_ms = now_ms;
  broker.db(db).put(key, std::move(fresh));
  broker.blocking().signal(db, key);
  return list;
}

size_t pop_elements(core::Broker& broker, int db, std::string_view key, ListObject& list,
                    ListEnd end, size_t n, wire::resp::ReplyWriter& reply) {
  n = std::min(n, list.size());
  char num[kv::list_codec::kNumBufBytes];
  if (n == 1) {
    reply.bulk(list.peek(end, num));
    list.pop(end);
  } else {
    BulkAppender bulks(reply.buffer(), n);
    for (size_t i = 0; i < n; ++i) {
      bulks.add(list.peek(end, num));
      list.pop(end);
    }
  }
  kv::record_list_pop(broker.kv(), db, key, is_head(end), n);
  broker.key_modified(db, key);
  broker.notify('l', is_head(end) ? "lpop" : "rpop", key, db);
  if (list.size() == 0) {
    // The journaled pop removes the emptied list on replay too.
    broker.db(db).remove(key);
    broker.notify('g', "del", key, db);
  }
  return n;
}

void move_element(core::Broker& broker, int db, std::string_view src_key, ListObject& src,
                  std::string_view dst_key, ListEnd from, ListEnd to, int64_t now_ms,
                  wire::resp::ReplyWriter& reply) {
  char num[kv::list_codec::kNumBufBytes];
  std::string_view element = src.peek(from, num);
  reply.bulk(element);
  core::Object* found = broker.db(db).find(dst_key, now_ms);
  ListObject* dst =
      found ? static_cast<ListObject*>(found) : create_list(broker, db, dst_key, now_ms);
  dst->set_limits(list_limits(broker));
  if (dst == &src) {
    // A rotation: the element must be copied out before its bytes move.
    std::string copy(element);
    src.pop(from);
    src.push(to, copy);
  } else {
    dst->push(to, element);
    src.pop(from);
  }
  kv::record_list_move(broker.kv(), db, src_key, dst_key, is_head(from), is_head(to));
  broker.key_modified(db, dst_key);
  broker.notify('l', is_head(to) ? "lpush" : "rpush", dst_key, db);
  broker.key_modified(db, src_key);
  broker.notify('l', is_head(from) ? "lpop" : "rpop", src_key, db);
  if (src.size() == 0) {
    broker.db(db).remove(src_key);
    broker.notify('g', "del", src_key, db);
  }
}

bool parse_mpop(CommandContext& ctx, size_t numkeys_at, size_t* nkeys, ListEnd* end,
                int64_t* count) {
  int64_t numkeys = 0;
  if (!parse_int(ctx.arg(numkeys_at), &numkeys) || numkeys < 1) {
    ctx.error_text("ERR numkeys should be greater than 0");
    return false;
  }
  const size_t where_at = numkeys_at + 1;
  if (static_cast<uint64_t>(numkeys) >= ctx.argc() - where_at) {
    ctx.syntax_error();
    return false;
  }
  const size_t end_at = where_at + static_cast<size_t>(numkeys);
  if (!parse_list_end(ctx, ctx.arg(end_at), end)) return false;
  *count = -1;
  for (size_t i = end_at + 1; i < ctx.argc(); ++i) {
    if (*count == -1 && iequals(ctx.arg(i), "COUNT") && i + 1 < ctx.argc()) {
      if (!parse_int(ctx.arg(++i), count) || *count < 1) {
        ctx.error_text("ERR count should be greater than 0");
        return false;
      }
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  if (*count == -1) *count = 1;
  *nkeys = static_cast<size_t>(numkeys);
  return true;
}

void mpop_reply(CommandContext& ctx, std::string_view key, ListObject& list, ListEnd end,
                int64_t count) {
  ctx.reply.array(2);
  ctx.reply.bulk(key);
  ctx.reply.array(std::min(static_cast<uint64_t>(count), uint64_t{list.size()}));
  pop_elements(ctx.broker, ctx.client.db, key, list, end, static_cast<size_t>(count), ctx.reply);
  ctx.wrote = true;
}
}  // namespace sluice::commands
