// TTL commands: EXPIRE PEXPIRE EXPIREAT PEXPIREAT (NX XX GT LT), TTL PTTL EXPIRETIME
// PEXPIRETIME PERSIST, for every key type. TTLs are absolute unix ms in memory and on disk.
#include <limits>
#include <string>

#include "broker/commands/arg_parse.h"
#include "broker/commands/kv_support.h"

namespace sluice::commands {
namespace {

enum ExpireFlag : uint32_t { kNx = 1, kXx = 2, kGt = 4, kLt = 8 };

void expire_generic(CommandContext& ctx, int64_t base_ms, bool seconds) {
  std::string_view key = ctx.arg(1);
  uint32_t flags = 0;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    std::string_view opt = ctx.arg(i);
    if (iequals(opt, "NX")) {
      flags |= kNx;
    } else if (iequals(opt, "XX")) {
      flags |= kXx;
    } else if (iequals(opt, "GT")) {
      flags |= kGt;
    } else if (iequals(opt, "LT")) {
      flags |= kLt;
    } else {
      return ctx.error_text("ERR Unsupported option " + std::string(opt));
    }
  }
  if ((flags & kNx) && (flags & (kXx | kGt | kLt))) {
    return ctx.error_text("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if ((flags & kGt) && (flags & kLt)) {
    return ctx.error_text("ERR GT and LT options at the same time are not compatible");
  }
  int64_t when = 0;
  if (!int_arg(ctx, ctx.arg(2), &when)) return;
  auto invalid = [&] {
    ctx.error_text("ERR invalid expire time in '" + ctx.spec->name + "' command");
  };
  if (seconds) {
    if (when > std::numeric_limits<int64_t>::max() / 1000 ||
        when < std::numeric_limits<int64_t>::min() / 1000) {
      return invalid();
    }
    when *= 1000;
  }
  if (when > std::numeric_limits<int64_t>::max() - base_ms) return invalid();
  when += base_ms;
  core::Object* obj = lookup_write(ctx, key);
  if (!obj) return ctx.reply.integer(0);
  const int64_t current = obj->expire_at_ms;  // 0: persistent, an infinite TTL for GT/LT
  if (((flags & kNx) && current != 0) || ((flags & kXx) && current == 0) ||
      ((flags & kGt) && (current == 0 || when <= current)) ||
      ((flags & kLt) && current != 0 && when >= current)) {
    return ctx.reply.integer(0);
  }
  const int db = ctx.client.db;
  if (when <= ctx.now_ms) {
    // A time in the past deletes the key at once (Redis's checkAlreadyExpired).
    delete_key(ctx, db, key);
    ctx.wrote = true;
    ctx.broker.notify('g', "del", key, db);
    return ctx.reply.integer(1);
  }
  set_ttl(ctx, db, key, *obj, when);
  kv_written(ctx, key);
  ctx.broker.notify('g', "expire", key, db);
  ctx.reply.integer(1);
}

void expire(CommandContext& ctx) { expire_generic(ctx, ctx.now_ms, true); }
void pexpire(CommandContext& ctx) { expire_generic(ctx, ctx.now_ms, false); }
void expireat(CommandContext& ctx) { expire_generic(ctx, 0, true); }
void pexpireat(CommandContext& ctx) { expire_generic(ctx, 0, false); }

enum class TtlKind { kTtl, kPttl, kExpireTime, kPexpireTime };

void ttl_generic(CommandContext& ctx, TtlKind kind) {
  core::Object* obj = ctx.db().find(ctx.arg(1), ctx.now_ms);
  if (!obj) return ctx.reply.integer(-2);
  if (obj->expire_at_ms == 0) return ctx.reply.integer(-1);
  int64_t remaining = obj->expire_at_ms - ctx.now_ms;
  if (remaining < 0) remaining = 0;
  switch (kind) {
    case TtlKind::kTtl:
      return ctx.reply.integer((remaining + 500) / 1000);
    case TtlKind::kPttl:
      return ctx.reply.integer(remaining);
    case TtlKind::kExpireTime:
      return ctx.reply.integer((obj->expire_at_ms + 500) / 1000);
    case TtlKind::kPexpireTime:
      return ctx.reply.integer(obj->expire_at_ms);
  }
}

void ttl(CommandContext& ctx) { ttl_generic(ctx, TtlKind::kTtl); }
void pttl(CommandContext& ctx) { ttl_generic(ctx, TtlKind::kPttl); }
void expiretime(CommandContext& ctx) { ttl_generic(ctx, TtlKind::kExpireTime); }
void pexpiretime(CommandContext& ctx) { ttl_generic(ctx, TtlKind::kPexpireTime); }

void persist(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  core::Object* obj = lookup_write(ctx, key);
  if (!obj || obj->expire_at_ms == 0) return ctx.reply.integer(0);
  set_ttl(ctx, ctx.client.db, key, *obj, 0);
  kv_written(ctx, key);
  ctx.broker.notify('g', "persist", key, ctx.client.db);
  ctx.reply.integer(1);
}

}  // namespace

void register_expire_commands(CommandTable& t) {
  const CommandFamily cmd{"generic"};
  const uint32_t kW = kWrite | kFast;
  const char* kWc = "@keyspace @write @fast";
  const char* kRc = "@keyspace @read @fast";
  t.add(
      cmd("expire", -3, kW, expire, kWc, "Sets the expiration time of a key in seconds.", "1.0.0"));
  t.add(cmd("pexpire", -3, kW, pexpire, kWc, "Sets the expiration time of a key in milliseconds.",
            "2.6.0"));
  t.add(cmd("expireat", -3, kW, expireat, kWc,
            "Sets the expiration time of a key to a Unix timestamp.", "1.2.0"));
  t.add(cmd("pexpireat", -3, kW, pexpireat, kWc,
            "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0"));
  t.add(cmd("ttl", 2, kReadonly | kFast, ttl, kRc,
            "Returns the expiration time in seconds of a key.", "1.0.0"));
  t.add(cmd("pttl", 2, kReadonly | kFast, pttl, kRc,
            "Returns the expiration time in milliseconds of a key.", "2.6.0"));
  t.add(cmd("expiretime", 2, kReadonly | kFast, expiretime, kRc,
            "Returns the expiration time of a key as a Unix timestamp.", "7.0.0"));
  t.add(cmd("pexpiretime", 2, kReadonly | kFast, pexpiretime, kRc,
            "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0"));
  t.add(cmd("persist", 2, kW, persist, kWc, "Removes the expiration time of a key.", "2.2.0"));
}

}  // namespace sluice::commands
