#include "broker/commands/kv_support.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "broker/blocking/blocking_registry.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

core::Object* lookup_read(CommandContext& ctx, std::string_view key, bool touch) {
  core::Object* obj = ctx.db().find(key, ctx.now_ms);
  auto& st = ctx.broker.stats();
  if (!obj) {
    ++st.keyspace_misses;
    return nullptr;
  }
  ++st.keyspace_hits;
  if (touch && !ctx.client.no_touch) core::note_access(*obj, ctx.now_ms, ctx.broker.config());
  return obj;
}

core::Object* lookup_write(CommandContext& ctx, std::string_view key) {
  core::Object* obj = ctx.db().find(key, ctx.now_ms);
  if (obj) core::note_access(*obj, ctx.now_ms, ctx.broker.config());
  return obj;
}

kv::StringObject* read_string(CommandContext& ctx, std::string_view key, bool* replied) {
  return read_typed<kv::StringObject, core::ObjectType::kString>(ctx, key, replied);
}

kv::StringObject* write_string(CommandContext& ctx, std::string_view key, bool* replied) {
  return write_typed<kv::StringObject, core::ObjectType::kString>(ctx, key, replied);
}

kv::HashObject* read_hash(CommandContext& ctx, std::string_view key, bool* replied) {
  return read_typed<kv::HashObject, core::ObjectType::kHash>(ctx, key, replied);
}

kv::HashObject* write_hash(CommandContext& ctx, std::string_view key, bool* replied) {
  return write_typed<kv::HashObject, core::ObjectType::kHash>(ctx, key, replied);
}

core::Object* replace_key(CommandContext& ctx, int db, std::string_view key,
                          std::unique_ptr<core::Object> obj) {
  core::Object* stored = obj.get();
  stored->last_access_ms = ctx.now_ms;
  auto old = ctx.broker.db(db).put(key, std::move(obj));
  if (old) ctx.broker.release_object(db, key, std::move(old));
  // A new value may serve clients blocked on the key (RENAME, MOVE, COPY, STORE results).
  ctx.broker.blocking().signal(db, key);
  return stored;
}

void persist_ttl(CommandContext& ctx, int db, std::string_view key, core::Object& obj) {
  if (obj.type() == core::ObjectType::kStream) {
    auto& s = static_cast<stream::Stream&>(obj);
    wire::Status st = s.persist_expire();
    if (!st) ctx.broker.set_storage_failed(st.detail());
    return;
  }
  ctx.broker.kv().record_expire(db, key, obj.expire_at_ms);
}

void set_ttl(CommandContext& ctx, int db, std::string_view key, core::Object& obj, int64_t at_ms) {
  ctx.broker.db(db).set_expire(key, &obj, at_ms);
  persist_ttl(ctx, db, key, obj);
}

bool delete_key(CommandContext& ctx, int db, std::string_view key) {
  return ctx.broker.delete_key(db, key);
}

bool int_arg(CommandContext& ctx, std::string_view arg, int64_t* out) {
  if (wire::parse_i64(arg, out)) return true;
  ctx.not_integer();
  return false;
}

bool parse_long_double(std::string_view s, long double* out) {
  if (s.empty() || s.size() > 5000) return false;
  if (std::isspace(static_cast<unsigned char>(s.front())) ||
      std::isspace(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  long double v = std::strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || errno == ERANGE || std::isnan(v)) return false;
  *out = v;
  return true;
}

bool cursor_arg(CommandContext& ctx, std::string_view arg, uint64_t* out) {
  // strtoull semantics, as Redis's parseScanCursorOrReply: an optional sign ("-1" wraps to the
  // largest cursor), digits, nothing else; no leading blank; overflow is an error.
  auto invalid = [&] {
    ctx.error_text("ERR invalid cursor");
    return false;
  };
  if (arg.empty()) {
    *out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (arg[0] == '+' || arg[0] == '-') {
    negative = arg[0] == '-';
    ++i;
  }
  if (i == arg.size()) return invalid();
  uint64_t v = 0;
  for (; i < arg.size(); ++i) {
    char c = arg[i];
    if (c < '0' || c > '9' || v > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) {
      return invalid();
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = negative ? ~v + 1 : v;
  return true;
}

bool parse_block_timeout(CommandContext& ctx, std::string_view arg, int64_t* deadline_ms) {
  long double seconds = 0;
  if (!parse_long_double(arg, &seconds)) {
    ctx.error_text("ERR timeout is not a float or out of range");
    return false;
  }
  const long double ms = std::ceil(seconds * 1000.0L);
  // Redis converts with a plain cast: out of range, x86 gives INT64_MIN, a "negative" timeout.
  constexpr long double kLimit = 9223372036854775808.0L;
  const int64_t t = (ms >= kLimit || ms < -kLimit) ? INT64_MIN : static_cast<int64_t>(ms);
  if (t < 0) {
    ctx.error_text("ERR timeout is negative");
    return false;
  }
  // A deadline past the int64 range never comes (Redis's overflows to one it never reaches).
  *deadline_ms = t == 0 || t > INT64_MAX - ctx.now_ms ? 0 : ctx.now_ms + t;
  return true;
}

}  // namespace sluice::commands
