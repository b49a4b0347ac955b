// Hash commands: HSET HSETNX HMSET HGET HMGET HGETALL HDEL HEXISTS HLEN HSTRLEN HINCRBY
// HINCRBYFLOAT HKEYS HVALS HRANDFIELD HSCAN.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/core/glob.h"

namespace sluice::commands {
namespace {

using kv::HashObject;

// The hash at key for a write, created (not yet journaled) when missing.
HashObject* hash_for_write(CommandContext& ctx, std::string_view key, bool* replied) {
  HashObject* h = write_hash(ctx, key, replied);
  if (h || *replied) return h;
  return static_cast<HashObject*>(
      replace_key(ctx, ctx.client.db, key, std::make_unique<HashObject>()));
}

// Sets a field, keeping the argument's buffer as the value when it is a big bulk the
// connection received whole (no copy). Returns whether the field is new.
bool set_field(CommandContext& ctx, HashObject* h, std::string_view field, std::string_view value) {
  if (!ctx.client.owned_args.empty()) {
    std::string taken;
    if (ctx.take_arg(value, &taken)) {
      const bool created = h->set(field, {}, kv::hash_limits(ctx.broker.config()));
      *h->get_mut(field) = std::move(taken);
      return created;
    }
  }
  return h->set(field, value, kv::hash_limits(ctx.broker.config()));
}

void hset_generic(CommandContext& ctx, bool reply_ok) {
  if (ctx.argc() % 2 == 1) return ctx.wrong_arity();
  std::string_view key = ctx.arg(1);
  bool replied = false;
  HashObject* h = hash_for_write(ctx, key, &replied);
  if (replied) return;
  for (size_t i = 2; i < ctx.argc(); i += 2)
    h->prepare_for(ctx.arg(i).size(), ctx.arg(i + 1).size(), kv::hash_limits(ctx.broker.config()));
  // Journaled first: a big value is written from its argument, which set_field may then move
  // into the hash.
  ctx.broker.kv().record_hash_set(ctx.client.db, key, ctx.args.subspan(2));
  int64_t created = 0;
  for (size_t i = 2; i < ctx.argc(); i += 2)
    created += set_field(ctx, h, ctx.arg(i), ctx.arg(i + 1));
  kv_written(ctx, key);
  ctx.broker.notify('h', "hset", key, ctx.client.db);
  if (reply_ok) return ctx.reply.ok();
  ctx.reply.integer(created);
}

void hset(CommandContext& ctx) { hset_generic(ctx, false); }
void hmset(CommandContext& ctx) { hset_generic(ctx, true); }

void hsetnx(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  HashObject* h = write_hash(ctx, key, &replied);
  if (replied) return;
  if (h && h->get(ctx.arg(2))) return ctx.reply.integer(0);
  if (!h) h = hash_for_write(ctx, key, &replied);
  h->prepare_for(ctx.arg(2).size(), ctx.arg(3).size(), kv::hash_limits(ctx.broker.config()));
  ctx.broker.kv().record_hash_set(ctx.client.db, key, ctx.args.subspan(2, 2));
  set_field(ctx, h, ctx.arg(2), ctx.arg(3));
  kv_written(ctx, key);
  ctx.broker.notify('h', "hset", key, ctx.client.db);
  ctx.reply.integer(1);
}

void hget(CommandContext& ctx) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const std::string* v = h ? h->get(ctx.arg(2)) : nullptr;
  ctx.reply.bulk_or_null(v);
}

void hmget(CommandContext& ctx) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) ctx.reply.bulk_or_null(h ? h->get(ctx.arg(i)) : nullptr);
}

enum Parts { kFields = 1, kValues = 2 };

void hgetall_generic(CommandContext& ctx, int parts) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  size_t n = h ? h->size() : 0;
  if (parts == (kFields | kValues)) {
    ctx.reply.map(n);
  } else {
    ctx.reply.array(n);
  }
  if (!h) return;
  h->for_each([&](const std::string& f, const std::string& v) {
    if (parts & kFields) ctx.reply.bulk(f);
    if (parts & kValues) ctx.reply.bulk(v);
  });
}

void hgetall(CommandContext& ctx) { hgetall_generic(ctx, kFields | kValues); }
void hkeys(CommandContext& ctx) { hgetall_generic(ctx, kFields); }
void hvals(CommandContext& ctx) { hgetall_generic(ctx, kValues); }

void hdel(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  HashObject* h = write_hash(ctx, key, &replied);
  if (replied) return;
  if (!h) return ctx.reply.integer(0);
  int64_t deleted = 0;
  for (size_t i = 2; i < ctx.argc(); ++i) deleted += h->erase(ctx.arg(i));
  if (deleted > 0) {
    const int db = ctx.client.db;
    bool emptied = h->size() == 0;
    ctx.broker.kv().record_hash_del(db, key, ctx.args.subspan(2));
    if (emptied) ctx.db().remove(key);  // the journaled HDEL removes an emptied hash on replay
    kv_written(ctx, key);
    ctx.broker.notify('h', "hdel", key, db);
    if (emptied) ctx.broker.notify('g', "del", key, db);
  }
  ctx.reply.integer(deleted);
}

void hexists(CommandContext& ctx) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(h && h->get(ctx.arg(2)) ? 1 : 0);
}

void hlen(CommandContext& ctx) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(h ? static_cast<int64_t>(h->size()) : 0);
}

void hstrlen(CommandContext& ctx) {
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const std::string* v = h ? h->get(ctx.arg(2)) : nullptr;
  ctx.reply.integer(v ? static_cast<int64_t>(v->size()) : 0);
}

void store_field(CommandContext& ctx, HashObject* h, std::string_view key, std::string_view field,
                 std::string_view value, const char* event) {
  const kv::HashLimits limits = kv::hash_limits(ctx.broker.config());
  h->prepare_for(field.size(), value.size(), limits);
  h->set(field, value, limits);
  std::string_view pair[2] = {field, value};
  ctx.broker.kv().record_hash_set(ctx.client.db, key, pair);
  kv_written(ctx, key);
  ctx.broker.notify('h', event, key, ctx.client.db);
}

void hincrby(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  int64_t by = 0;
  if (!int_arg(ctx, ctx.arg(3), &by)) return;
  bool replied = false;
  HashObject* h = write_hash(ctx, key, &replied);
  if (replied) return;
  int64_t value = 0;
  if (h) {
    if (const std::string* cur = h->get(ctx.arg(2))) {
      if (!wire::parse_i64(*cur, &value)) return ctx.error_text("ERR hash value is not an integer");
    }
  }
  if ((by < 0 && value < 0 && by < std::numeric_limits<int64_t>::min() - value) ||
      (by > 0 && value > 0 && by > std::numeric_limits<int64_t>::max() - value)) {
    return ctx.error_text("ERR increment or decrement would overflow");
  }
  value += by;
  if (!h) h = hash_for_write(ctx, key, &replied);
  store_field(ctx, h, key, ctx.arg(2), std::to_string(value), "hincrby");
  ctx.reply.integer(value);
}

void hincrbyfloat(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  long double by = 0;
  if (!parse_long_double(ctx.arg(3), &by)) return ctx.error_text(kNotFloatErr);
  if (std::isnan(by) || std::isinf(by)) return ctx.error_text("ERR value is NaN or Infinity");
  bool replied = false;
  HashObject* h = write_hash(ctx, key, &replied);
  if (replied) return;
  long double value = 0;
  if (h) {
    if (const std::string* cur = h->get(ctx.arg(2))) {
      if (!parse_long_double(*cur, &value)) return ctx.error_text("ERR hash value is not a float");
    }
  }
  value += by;
  if (std::isnan(value) || std::isinf(value)) {
    return ctx.error_text("ERR increment would produce NaN or Infinity");
  }
  std::string text = wire::resp::format_long_double(value);
  if (!h) h = hash_for_write(ctx, key, &replied);
  store_field(ctx, h, key, ctx.arg(2), text, "hincrbyfloat");
  ctx.reply.bulk(text);
}

std::mt19937_64& rng() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

void reply_pair(CommandContext& ctx, const std::string* f, const std::string* v, bool withvalues) {
  if (withvalues && ctx.reply.resp3()) ctx.reply.array(2);
  ctx.reply.bulk(*f);
  if (withvalues) ctx.reply.bulk(*v);
}

void hrandfield(CommandContext& ctx) {
  bool withvalues = false;
  int64_t count = 0;
  if (ctx.argc() >= 3) {
    if (ctx.argc() == 4 && iequals(ctx.arg(3), "WITHVALUES")) {
      withvalues = true;
    } else if (ctx.argc() >= 4) {
      return ctx.syntax_error();
    }
    if (!int_arg(ctx, ctx.arg(2), &count)) return;
    if (count < -std::numeric_limits<int64_t>::max()) {
      return ctx.error_text(
          "ERR value is out of range, value must between -9223372036854775807 and "
          "9223372036854775807");
    }
  }
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  auto rnd = [] { return rng()(); };
  if (ctx.argc() == 2) {
    if (!h) return ctx.reply.null();
    auto [f, v] = h->random(rnd);
    return ctx.reply.bulk(*f);
  }
  if (!h || count == 0) return ctx.reply.array(0);
  const size_t size = h->size();
  const bool resp2_flat = withvalues && !ctx.reply.resp3();
  if (count < 0) {
    // Repetitions allowed: |count| independent picks.
    auto n = static_cast<uint64_t>(-count);
    ctx.reply.array(resp2_flat ? n * 2 : n);
    for (uint64_t i = 0; i < n; ++i) {
      auto [f, v] = h->random(rnd);
      reply_pair(ctx, f, v, withvalues);
    }
    return;
  }
  if (static_cast<uint64_t>(count) >= size) {
    ctx.reply.array(resp2_flat ? size * 2 : size);
    h->for_each(
        [&](const std::string& f, const std::string& v) { reply_pair(ctx, &f, &v, withvalues); });
    return;
  }
  // Distinct picks: choose `count` positions out of the iteration order.
  std::vector<std::pair<const std::string*, const std::string*>> all;
  all.reserve(size);
  h->for_each([&](const std::string& f, const std::string& v) { all.emplace_back(&f, &v); });
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    std::swap(all[i], all[i + rng()() % (size - i)]);
  }
  ctx.reply.array(resp2_flat ? static_cast<size_t>(count) * 2 : static_cast<size_t>(count));
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    reply_pair(ctx, all[i].first, all[i].second, withvalues);
  }
}

void hscan(CommandContext& ctx) {
  uint64_t cursor = 0;
  if (!cursor_arg(ctx, ctx.arg(2), &cursor)) return;
  std::string_view pattern;
  int64_t count = 10;
  for (size_t i = 3; i < ctx.argc(); i += 2) {
    bool has_value = i + 1 < ctx.argc();
    if (iequals(ctx.arg(i), "COUNT") && has_value) {
      if (!int_arg(ctx, ctx.arg(i + 1), &count)) return;
      if (count < 1) return ctx.syntax_error();
    } else if (iequals(ctx.arg(i), "MATCH") && has_value) {
      pattern = ctx.arg(i + 1);
    } else {
      return ctx.syntax_error();
    }
  }
  bool replied = false;
  HashObject* h = read_hash(ctx, ctx.arg(1), &replied);
  if (replied) return;
  std::vector<std::pair<std::string_view, std::string_view>> out;
  const bool match_all = pattern.empty() || pattern == "*";
  auto keep = [&](const std::string& f, const std::string& v) {
    if (match_all || core::glob_match(pattern, f)) out.emplace_back(f, v);
  };
  uint64_t next = 0;
  if (h && !h->is_table()) {
    // A listpack hash is returned whole in one call, as Redis does.
    h->for_each(keep);
  } else if (h) {
    // Redis visits at most count*10 buckets per call, stopping once it has `count` fields.
    int64_t max_steps = count > INT64_MAX / 10 ? INT64_MAX : count * 10;
    next = cursor;
    do {
      next = h->scan_step(next, keep);
    } while (next != 0 && max_steps-- > 0 && out.size() < static_cast<size_t>(count));
  }
  ctx.reply.array(2);
  ctx.reply.bulk(std::to_string(next));
  ctx.reply.array(out.size() * 2);
  for (auto& [f, v] : out) {
    ctx.reply.bulk(f);
    ctx.reply.bulk(v);
  }
}

}  // namespace

void register_hash_commands(CommandTable& t) {
  const CommandFamily cmd{"hash"};
  const uint32_t kW = kWrite | kDenyOom;
  t.add(cmd("hset", -4, kW | kFast, hset, "@write @hash @fast",
            "Creates or modifies the value of a field in a hash.", "2.0.0"));
  t.add(cmd("hmset", -4, kW | kFast, hmset, "@write @hash @fast",
            "Sets the values of multiple fields.", "2.0.0"));
  t.add(cmd("hsetnx", 4, kW | kFast, hsetnx, "@write @hash @fast",
            "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0"));
  t.add(cmd("hget", 3, kReadonly | kFast, hget, "@read @hash @fast",
            "Returns the value of a field in a hash.", "2.0.0"));
  t.add(cmd("hmget", -3, kReadonly | kFast, hmget, "@read @hash @fast",
            "Returns the values of all fields in a hash.", "2.0.0"));
  t.add(cmd("hgetall", 2, kReadonly, hgetall, "@read @hash @slow",
            "Returns all fields and values in a hash.", "2.0.0"));
  t.add(cmd("hkeys", 2, kReadonly, hkeys, "@read @hash @slow", "Returns all fields in a hash.",
            "2.0.0"));
  t.add(cmd("hvals", 2, kReadonly, hvals, "@read @hash @slow", "Returns all values in a hash.",
            "2.0.0"));
  t.add(cmd("hdel", -3, kWrite | kFast, hdel, "@write @hash @fast",
            "Deletes one or more fields and their values from a hash. Deletes the hash if no "
            "fields remain.",
            "2.0.0"));
  t.add(cmd("hexists", 3, kReadonly | kFast, hexists, "@read @hash @fast",
            "Determines whether a field exists in a hash.", "2.0.0"));
  t.add(cmd("hlen", 2, kReadonly | kFast, hlen, "@read @hash @fast",
            "Returns the number of fields in a hash.", "2.0.0"));
  t.add(cmd("hstrlen", 3, kReadonly | kFast, hstrlen, "@read @hash @fast",
            "Returns the length of the value of a field.", "3.2.0"));
  t.add(cmd("hincrby", 4, kW | kFast, hincrby, "@write @hash @fast",
            "Increments the integer value of a field in a hash by a number. Uses 0 as initial "
            "value if the field doesn't exist.",
            "2.0.0"));
  t.add(cmd("hincrbyfloat", 4, kW | kFast, hincrbyfloat, "@write @hash @fast",
            "Increments the floating point value of a field by a number. Uses 0 as initial value "
            "if the field doesn't exist.",
            "2.6.0"));
  t.add(cmd("hrandfield", -2, kReadonly, hrandfield, "@read @hash @slow",
            "Returns one or more random fields from a hash.", "6.2.0"));
  t.add(cmd("hscan", -3, kReadonly, hscan, "@read @hash @slow",
            "Iterates over fields and values of a hash.", "2.8.0"));
}

}  // namespace sluice::commands
