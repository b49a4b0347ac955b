// String commands: GET SET SETNX SETEX PSETEX GETEX GETDEL GETSET MGET MSET MSETNX INCR INCRBY
// INCRBYFLOAT DECR DECRBY APPEND STRLEN GETRANGE SUBSTR SETRANGE. Each parses, operates on a
// StringObject, journals the effect (the resulting value, an absolute TTL) and replies.
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"

namespace sluice::commands {
namespace {

using kv::StringObject;

enum SetFlags : uint32_t {
  kSetNx = 1u << 0,
  kSetXx = 1u << 1,
  kSetGet = 1u << 2,
  kSetKeepTtl = 1u << 3,
  kSetPersist = 1u << 4,
  kSetEx = 1u << 5,
  kSetPx = 1u << 6,
  kSetExAt = 1u << 7,
  kSetPxAt = 1u << 8,
};
constexpr uint32_t kAnyExpire = kSetEx | kSetPx | kSetExAt | kSetPxAt;

void invalid_expire(CommandContext& ctx) {
  ctx.error_text("ERR invalid expire time in '" + ctx.spec->name + "' command");
}

// Converts an EX/PX/EXAT/PXAT argument to an absolute time in ms (Redis's
// getExpireMillisecondsOrReply). Replies on failure.
bool expire_ms(CommandContext& ctx, std::string_view arg, uint32_t unit_flag, int64_t* at_ms) {
  int64_t v = 0;
  if (!int_arg(ctx, arg, &v)) return false;
  if (v <= 0 ||
      ((unit_flag & (kSetEx | kSetExAt)) && v > std::numeric_limits<int64_t>::max() / 1000)) {
    invalid_expire(ctx);
    return false;
  }
  if (unit_flag & (kSetEx | kSetExAt)) v *= 1000;
  if (unit_flag & (kSetEx | kSetPx)) {
    if (v > std::numeric_limits<int64_t>::max() - ctx.now_ms) {
      invalid_expire(ctx);
      return false;
    }
    v += ctx.now_ms;
  }
  *at_ms = v;
  return true;
}

// Parses SET's or GETEX's options from args[first]. Replies on failure.
bool parse_set_options(CommandContext& ctx, size_t first, bool for_getex, uint32_t* flags,
                       int64_t* at_ms) {
  *flags = 0;
  std::string_view expire_arg;
  for (size_t j = first; j < ctx.argc(); ++j) {
    std::string_view opt = ctx.arg(j);
    bool has_next = j + 1 < ctx.argc();
    uint32_t f = *flags;
    if (!for_getex && iequals(opt, "NX") && !(f & kSetXx)) {
      *flags |= kSetNx;
    } else if (!for_getex && iequals(opt, "XX") && !(f & kSetNx)) {
      *flags |= kSetXx;
    } else if (!for_getex && iequals(opt, "GET")) {
      *flags |= kSetGet;
    } else if (!for_getex && iequals(opt, "KEEPTTL") && !(f & (kSetPersist | kAnyExpire))) {
      *flags |= kSetKeepTtl;
    } else if (for_getex && iequals(opt, "PERSIST") && !(f & (kAnyExpire | kSetKeepTtl))) {
      *flags |= kSetPersist;
    } else if (has_next && !(f & (kSetKeepTtl | kSetPersist | kAnyExpire)) &&
               (iequals(opt, "EX") || iequals(opt, "PX") || iequals(opt, "EXAT") ||
                iequals(opt, "PXAT"))) {
      *flags |= iequals(opt, "EX")     ? kSetEx
                : iequals(opt, "PX")   ? kSetPx
                : iequals(opt, "EXAT") ? kSetExAt
                                       : kSetPxAt;
      expire_arg = ctx.arg(++j);
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  *at_ms = 0;
  if (*flags & kAnyExpire) return expire_ms(ctx, expire_arg, *flags & kAnyExpire, at_ms);
  return true;
}

// Stores `value` at `key` keeping or setting the TTL, journals it and notifies. `existing` is the
// live object at key, if any (of any type).
void store_string(CommandContext& ctx, std::string_view key, std::string_view value,
                  core::Object* existing, bool keep_ttl, int64_t at_ms) {
  const int db = ctx.client.db;
  StringObject* s = nullptr;
  if (existing && existing->type() == core::ObjectType::kString) {
    s = static_cast<StringObject*>(existing);
    if (!ctx.take_arg(value, &s->value)) s->value.assign(value);
    s->raw = false;
    s->last_access_ms = ctx.now_ms;
    if (!keep_ttl && s->expire_at_ms != at_ms) ctx.db().set_expire(key, s, at_ms);
  } else {
    auto fresh = std::make_unique<StringObject>();
    if (!ctx.take_arg(value, &fresh->value)) fresh->value.assign(value);
    if (keep_ttl && existing) fresh->expire_at_ms = existing->expire_at_ms;
    if (!keep_ttl) fresh->expire_at_ms = at_ms;
    s = static_cast<StringObject*>(replace_key(ctx, db, key, std::move(fresh)));
  }
  ctx.broker.kv().record_string(db, key, *s);
  kv_written(ctx, key);
  ctx.broker.notify('$', "set", key, db);
  if (at_ms != 0 && !keep_ttl) ctx.broker.notify('g', "expire", key, db);
}

void get(CommandContext& ctx) {
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.null();
  ctx.reply.bulk(s->value);
}

void set(CommandContext& ctx) {
  uint32_t flags = 0;
  int64_t at_ms = 0;
  if (!parse_set_options(ctx, 3, false, &flags, &at_ms)) return;
  std::string_view key = ctx.arg(1);
  core::Object* existing = lookup_write(ctx, key);
  if (flags & kSetGet) {
    if (existing && existing->type() != core::ObjectType::kString) return ctx.wrong_type();
    if (existing) {
      ctx.reply.bulk(static_cast<StringObject*>(existing)->value);
    } else {
      ctx.reply.null();
    }
  }
  if (((flags & kSetNx) && existing) || ((flags & kSetXx) && !existing)) {
    if (!(flags & kSetGet)) ctx.reply.null();
    return;
  }
  store_string(ctx, key, ctx.arg(2), existing, flags & kSetKeepTtl, at_ms);
  if (!(flags & kSetGet)) ctx.reply.ok();
}

void setnx(CommandContext& ctx) {
  core::Object* existing = lookup_write(ctx, ctx.arg(1));
  if (existing) return ctx.reply.integer(0);
  store_string(ctx, ctx.arg(1), ctx.arg(2), nullptr, false, 0);
  ctx.reply.integer(1);
}

void setex_generic(CommandContext& ctx, uint32_t unit) {
  int64_t at_ms = 0;
  if (!expire_ms(ctx, ctx.arg(2), unit, &at_ms)) return;
  core::Object* existing = lookup_write(ctx, ctx.arg(1));
  store_string(ctx, ctx.arg(1), ctx.arg(3), existing, false, at_ms);
  ctx.reply.ok();
}

void setex(CommandContext& ctx) { setex_generic(ctx, kSetEx); }
void psetex(CommandContext& ctx) { setex_generic(ctx, kSetPx); }

void getex(CommandContext& ctx) {
  uint32_t flags = 0;
  int64_t at_ms = 0;
  if (!parse_set_options(ctx, 2, true, &flags, &at_ms)) return;
  std::string_view key = ctx.arg(1);
  bool replied = false;
  StringObject* s = read_string(ctx, key, &replied);
  if (replied) return;
  if (!s) return ctx.reply.null();
  ctx.reply.bulk(s->value);
  const int db = ctx.client.db;
  if ((flags & kAnyExpire) && at_ms <= ctx.now_ms) {
    // An expiry in the past deletes the key (Redis's checkAlreadyExpired).
    delete_key(ctx, db, key);
    ctx.broker.notify('g', "del", key, db);
  } else if (flags & kAnyExpire) {
    set_ttl(ctx, db, key, *s, at_ms);
    kv_written(ctx, key);
    ctx.broker.notify('g', "expire", key, db);
  } else if ((flags & kSetPersist) && s->expire_at_ms != 0) {
    set_ttl(ctx, db, key, *s, 0);
    kv_written(ctx, key);
    ctx.broker.notify('g', "persist", key, db);
  }
}

void getdel(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  StringObject* s = read_string(ctx, key, &replied);
  if (replied) return;
  if (!s) return ctx.reply.null();
  ctx.reply.bulk(s->value);
  delete_key(ctx, ctx.client.db, key);
  ctx.broker.notify('g', "del", key, ctx.client.db);
}

void getset(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  core::Object* existing = lookup_write(ctx, key);
  if (existing && existing->type() != core::ObjectType::kString) return ctx.wrong_type();
  if (existing) {
    ctx.reply.bulk(static_cast<StringObject*>(existing)->value);
  } else {
    ctx.reply.null();
  }
  store_string(ctx, key, ctx.arg(2), existing, false, 0);
}

void mget(CommandContext& ctx) {
  ctx.reply.array(ctx.argc() - 1);
  for (size_t i = 1; i < ctx.argc(); ++i) {
    core::Object* obj = lookup_read(ctx, ctx.arg(i));
    if (obj && obj->type() == core::ObjectType::kString) {
      ctx.reply.bulk(static_cast<StringObject*>(obj)->value);
    } else {
      ctx.reply.null();
    }
  }
}

void mset_generic(CommandContext& ctx, bool nx) {
  if (ctx.argc() % 2 == 0) return ctx.wrong_arity();
  if (nx) {
    for (size_t i = 1; i < ctx.argc(); i += 2) {
      if (lookup_write(ctx, ctx.arg(i))) return ctx.reply.integer(0);
    }
  }
  for (size_t i = 1; i < ctx.argc(); i += 2) {
    store_string(ctx, ctx.arg(i), ctx.arg(i + 1), lookup_write(ctx, ctx.arg(i)), false, 0);
  }
  if (nx) return ctx.reply.integer(1);
  ctx.reply.ok();
}

void mset(CommandContext& ctx) { mset_generic(ctx, false); }
void msetnx(CommandContext& ctx) { mset_generic(ctx, true); }

// Stores a computed value into an existing string (TTL kept) or a new key.
void store_computed(CommandContext& ctx, std::string_view key, StringObject* s,
                    std::string_view value) {
  const int db = ctx.client.db;
  if (s) {
    s->value.assign(value);
    s->raw = false;
  } else {
    s = static_cast<StringObject*>(
        replace_key(ctx, db, key, std::make_unique<StringObject>(value)));
  }
  ctx.broker.kv().record_string(db, key, *s);
  kv_written(ctx, key);
}

void incr_generic(CommandContext& ctx, int64_t by) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  StringObject* s = write_string(ctx, key, &replied);
  if (replied) return;
  int64_t value = 0;
  if (s && !kv::looks_like_int(s->value, &value)) return ctx.not_integer();
  if ((by < 0 && value < 0 && by < std::numeric_limits<int64_t>::min() - value) ||
      (by > 0 && value > 0 && by > std::numeric_limits<int64_t>::max() - value)) {
    return ctx.error_text("ERR increment or decrement would overflow");
  }
  value += by;
  char buf[24];
  char* end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // snprintf costs 10x more
  store_computed(ctx, key, s, std::string_view(buf, static_cast<size_t>(end - buf)));
  ctx.broker.notify('$', "incrby", key, ctx.client.db);
  ctx.reply.integer(value);
}

void incr(CommandContext& ctx) { incr_generic(ctx, 1); }
void decr(CommandContext& ctx) { incr_generic(ctx, -1); }

void incrby(CommandContext& ctx) {
  int64_t by = 0;
  if (!int_arg(ctx, ctx.arg(2), &by)) return;
  incr_generic(ctx, by);
}

void decrby(CommandContext& ctx) {
  int64_t by = 0;
  if (!int_arg(ctx, ctx.arg(2), &by)) return;
  if (by == std::numeric_limits<int64_t>::min()) {
    return ctx.error_text("ERR decrement would overflow");
  }
  incr_generic(ctx, -by);
}

void incrbyfloat(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  StringObject* s = write_string(ctx, key, &replied);
  if (replied) return;
  long double value = 0;
  long double by = 0;
  if ((s && !parse_long_double(s->value, &value)) || !parse_long_double(ctx.arg(2), &by)) {
    return ctx.error_text(kNotFloatErr);
  }
  value += by;
  if (std::isnan(value) || std::isinf(value)) {
    return ctx.error_text("ERR increment would produce NaN or Infinity");
  }
  std::string text = wire::resp::format_long_double(value);
  store_computed(ctx, key, s, text);
  ctx.broker.notify('$', "incrbyfloat", key, ctx.client.db);
  ctx.reply.bulk(text);
}

bool check_string_length(CommandContext& ctx, uint64_t size) {
  if (size > ctx.broker.config().proto_max_bulk_len) {
    ctx.error_text("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    return false;
  }
  return true;
}

void append(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  std::string_view data = ctx.arg(2);
  bool replied = false;
  StringObject* s = write_string(ctx, key, &replied);
  if (replied) return;
  const int db = ctx.client.db;
  if (!s) {
    s = static_cast<StringObject*>(replace_key(ctx, db, key, std::make_unique<StringObject>(data)));
    ctx.broker.kv().record_string(db, key, *s);
  } else {
    if (!check_string_length(ctx, s->value.size() + data.size())) return;
    uint64_t offset = s->value.size();
    s->value.append(data);
    s->raw = true;
    ctx.broker.kv().record_string_range(db, key, offset, data);
  }
  kv_written(ctx, key);
  ctx.broker.notify('$', "append", key, db);
  ctx.reply.integer(static_cast<int64_t>(s->value.size()));
}

void strlen_cmd(CommandContext& ctx) {
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(s ? static_cast<int64_t>(s->value.size()) : 0);
}

void getrange(CommandContext& ctx) {
  int64_t start = 0;
  int64_t end = 0;
  if (!int_arg(ctx, ctx.arg(2), &start) || !int_arg(ctx, ctx.arg(3), &end)) return;
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.bulk("");
  const auto len = static_cast<int64_t>(s->value.size());
  if (start < 0 && end < 0 && start > end) return ctx.reply.bulk("");
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return ctx.reply.bulk("");
  ctx.reply.bulk(std::string_view(s->value).substr(static_cast<size_t>(start),
                                                   static_cast<size_t>(end - start + 1)));
}

void setrange(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  std::string_view data = ctx.arg(3);
  int64_t offset = 0;
  if (!int_arg(ctx, ctx.arg(2), &offset)) return;
  if (offset < 0) return ctx.error_text("ERR offset is out of range");
  bool replied = false;
  StringObject* s = write_string(ctx, key, &replied);
  if (replied) return;
  const int db = ctx.client.db;
  if (!s) {
    if (data.empty()) return ctx.reply.integer(0);
    if (!check_string_length(ctx, static_cast<uint64_t>(offset) + data.size())) return;
    s = static_cast<StringObject*>(replace_key(ctx, db, key, std::make_unique<StringObject>()));
  } else {
    if (data.empty()) return ctx.reply.integer(static_cast<int64_t>(s->value.size()));
    if (!check_string_length(ctx, static_cast<uint64_t>(offset) + data.size())) return;
  }
  const size_t off = static_cast<size_t>(offset);
  if (s->value.size() < off + data.size()) s->value.resize(off + data.size(), '\0');
  s->value.replace(off, data.size(), data);
  s->raw = true;
  ctx.broker.kv().record_string_range(db, key, static_cast<uint64_t>(offset), data);
  kv_written(ctx, key);
  ctx.broker.notify('$', "setrange", key, db);
  ctx.reply.integer(static_cast<int64_t>(s->value.size()));
}

}  // namespace

void register_kv_commands(CommandTable& t) {
  auto cmd = [](std::string name, int arity, uint32_t flags, Handler h, std::string cats,
                std::string summary, std::string since, int last_key = 1, int step = 1) {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags;
    s.handler = h;
    s.first_key = 1;
    s.last_key = last_key;
    s.key_step = step;
    s.group = "string";
    s.acl_categories = std::move(cats);
    s.summary = std::move(summary);
    s.since = std::move(since);
    return s;
  };
  const uint32_t kW = kWrite | kDenyOom;
  t.add(cmd("get", 2, kReadonly | kFast, get, "@read @string @fast",
            "Returns the string value of a key.", "1.0.0"));
  t.add(cmd("set", -3, kW, set, "@write @string @slow",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't "
            "exist.",
            "1.0.0"));
  t.add(cmd("setnx", 3, kW | kFast, setnx, "@write @string @fast",
            "Set the string value of a key only when the key doesn't exist.", "1.0.0"));
  t.add(cmd("setex", 4, kW, setex, "@write @string @slow",
            "Sets the string value and expiration time of a key. Creates the key if it doesn't "
            "exist.",
            "2.0.0"));
  t.add(cmd("psetex", 4, kW, psetex, "@write @string @slow",
            "Sets both string value and expiration time in milliseconds of a key. The key is "
            "created if it doesn't exist.",
            "2.6.0"));
  t.add(cmd("getex", -2, kWrite | kFast, getex, "@write @string @fast",
            "Returns the string value of a key after setting its expiration time.", "6.2.0"));
  t.add(cmd("getdel", 2, kWrite | kFast, getdel, "@write @string @fast",
            "Returns the string value of a key after deleting the key.", "6.2.0"));
  t.add(cmd("getset", 3, kW | kFast, getset, "@write @string @fast",
            "Returns the previous string value of a key after setting it to a new value.",
            "1.0.0"));
  t.add(cmd("mget", -2, kReadonly | kFast, mget, "@read @string @fast",
            "Atomically returns the string values of one or more keys.", "1.0.0", -1, 1));
  t.add(cmd("mset", -3, kW, mset, "@write @string @slow",
            "Atomically creates or modifies the string values of one or more keys.", "1.0.1", -1,
            2));
  t.add(cmd("msetnx", -3, kW, msetnx, "@write @string @slow",
            "Atomically modifies the string values of one or more keys only when all keys don't "
            "exist.",
            "1.0.1", -1, 2));
  t.add(cmd("incr", 2, kW | kFast, incr, "@write @string @fast",
            "Increments the integer value of a key by one. Uses 0 as initial value if the key "
            "doesn't exist.",
            "1.0.0"));
  t.add(cmd("decr", 2, kW | kFast, decr, "@write @string @fast",
            "Decrements the integer value of a key by one. Uses 0 as initial value if the key "
            "doesn't exist.",
            "1.0.0"));
  t.add(cmd("incrby", 3, kW | kFast, incrby, "@write @string @fast",
            "Increments the integer value of a key by a number. Uses 0 as initial value if the "
            "key doesn't exist.",
            "1.0.0"));
  t.add(cmd("decrby", 3, kW | kFast, decrby, "@write @string @fast",
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the "
            "key doesn't exist.",
            "1.0.0"));
  t.add(cmd("incrbyfloat", 3, kW | kFast, incrbyfloat, "@write @string @fast",
            "Increment the floating point value of a key by a number. Uses 0 as initial value if "
            "the key doesn't exist.",
            "2.6.0"));
  t.add(cmd("append", 3, kW | kFast, append, "@write @string @fast",
            "Appends a string to the value of a key. Creates the key if it doesn't exist.",
            "2.0.0"));
  t.add(cmd("strlen", 2, kReadonly | kFast, strlen_cmd, "@read @string @fast",
            "Returns the length of a string value.", "2.2.0"));
  t.add(cmd("getrange", 4, kReadonly, getrange, "@read @string @slow",
            "Returns a substring of the string stored at a key.", "2.4.0"));
  t.add(cmd("substr", 4, kReadonly, getrange, "@read @string @slow",
            "Get a substring of the string stored at a key", "1.0.0"));
  t.add(cmd("setrange", 4, kW, setrange, "@write @string @slow",
            "Overwrites a part of a string value with another by an offset. Creates the key if "
            "it doesn't exist.",
            "2.2.0"));
  register_hash_commands(t);
}

}  // namespace sluice::commands
