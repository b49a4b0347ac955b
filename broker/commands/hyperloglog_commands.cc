// HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST over string values in Redis's
// byte format (kv/hyperloglog.h), so values move between Sluice and redis-server with GET/SET.
// Journaling: a sparse value (at most hll-sparse-max-bytes) is journaled whole; a dense one
// that stays dense journals only the bytes of the registers that changed plus the cache byte.
#include <cstring>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/kv_support.h"
#include "broker/kv/hyperloglog.h"

namespace sluice::commands {
namespace {

using kv::StringObject;

constexpr const char* kNotHllErr = "WRONGTYPE Key is not a valid HyperLogLog string value.";
constexpr const char* kCorruptHllErr = "INVALIDOBJ Corrupted HLL object detected";
// Changed byte ranges closer than this are journaled as one record (a record costs about this).
constexpr size_t kJournalGap = 48;

// The HLL string in `obj`, or nullptr after replying WRONGTYPE (not a string, or a string that
// is not an HLL).
StringObject* as_hll(CommandContext& ctx, core::Object* obj) {
  if (obj->type() != core::ObjectType::kString) {
    ctx.wrong_type();
    return nullptr;
  }
  auto* s = static_cast<StringObject*>(obj);
  if (!kv::hll::looks_like_hll(s->value)) {
    ctx.error_text(kNotHllErr);
    return nullptr;
  }
  return s;
}

// Redis makes a private "raw" copy of a value before an HLL command may write to it; OBJECT
// ENCODING shows it. A flip is journaled (whole value) so a restart shows the same.
void make_raw(CommandContext& ctx, std::string_view key, StringObject* s) {
  if (s->raw) return;
  s->raw = true;
  ctx.broker.kv().record_string(ctx.client.db, key, *s);
}

StringObject* create_hll(CommandContext& ctx, std::string_view key) {
  auto fresh = std::make_unique<StringObject>(kv::hll::make_empty());
  fresh->raw = true;
  return static_cast<StringObject*>(replace_key(ctx, ctx.client.db, key, std::move(fresh)));
}

size_t sparse_max_bytes(CommandContext& ctx) {
  return static_cast<size_t>(ctx.broker.config().hll_sparse_max_bytes);
}

// Journals a dense value's changed registers and its cache byte.
void journal_dense_changes(CommandContext& ctx, std::string_view key, const StringObject& s,
                           std::vector<uint32_t>& changed) {
  auto ranges = kv::hll::dense_byte_ranges(changed, kJournalGap);
  std::string_view v = s.value;
  auto record = [&](size_t begin, size_t end) {
    ctx.broker.kv().record_string_range(ctx.client.db, key, begin, v.substr(begin, end - begin));
  };
  const size_t cache_byte = kv::hll::kHeaderSize - 1;
  size_t next = 0;
  if (!ranges.empty() && ranges.front().first <= cache_byte + kJournalGap) {
    record(cache_byte, ranges.front().second);
    next = 1;
  } else {
    record(cache_byte, cache_byte + 1);
  }
  for (; next < ranges.size(); ++next) record(ranges[next].first, ranges[next].second);
}

void pfadd(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  core::Object* obj = lookup_write(ctx, key);
  StringObject* s = nullptr;
  const bool created = obj == nullptr;
  if (created) {
    s = create_hll(ctx, key);
  } else {
    s = as_hll(ctx, obj);
    if (!s) return;
    make_raw(ctx, key, s);
  }
  static std::vector<uint32_t> changed;  // reused: the loop runs one command at a time
  changed.clear();
  const bool was_dense = !created && kv::hll::is_dense(s->value);
  const size_t max_bytes = sparse_max_bytes(ctx);
  bool updated = created;
  bool corrupt = false;
  for (size_t i = 2; i < ctx.argc() && !corrupt; ++i) {
    auto r = kv::hll::add(s->value, ctx.arg(i), max_bytes, was_dense ? &changed : nullptr);
    if (r == kv::hll::SetResult::kChanged) updated = true;
    corrupt = r == kv::hll::SetResult::kCorrupt;
  }
  const int db = ctx.client.db;
  if (corrupt) {
    // Registers set before the corrupt opcode was met stay set, as in Redis.
    if (updated) ctx.broker.kv().record_string(db, key, *s);
    return ctx.error_text(kCorruptHllErr);
  }
  if (updated) {
    kv::hll::invalidate_cache(s->value);
    if (was_dense && kv::hll::is_dense(s->value)) {
      journal_dense_changes(ctx, key, *s, changed);
    } else {
      ctx.broker.kv().record_string(db, key, *s);
    }
    kv_written(ctx, key);
    ctx.broker.notify('$', "pfadd", key, db);
  }
  ctx.reply.integer(updated ? 1 : 0);
}

void pfcount(CommandContext& ctx) {
  if (ctx.argc() > 2) {
    // Several keys: merge into a temporary set of registers; nothing is cached.
    static uint8_t registers[kv::hll::kRegisters];
    std::memset(registers, 0, sizeof registers);
    for (size_t i = 1; i < ctx.argc(); ++i) {
      core::Object* obj = lookup_read(ctx, ctx.arg(i));
      if (!obj) continue;
      StringObject* s = as_hll(ctx, obj);
      if (!s) return;
      if (!kv::hll::merge_into(registers, s->value)) return ctx.error_text(kCorruptHllErr);
    }
    return ctx.reply.integer(static_cast<int64_t>(kv::hll::count_registers(registers)));
  }
  std::string_view key = ctx.arg(1);
  core::Object* obj = lookup_read(ctx, key);
  if (!obj) return ctx.reply.integer(0);
  StringObject* s = as_hll(ctx, obj);
  if (!s) return;
  make_raw(ctx, key, s);
  uint64_t card = 0;
  if (kv::hll::cache_valid(s->value)) {
    card = kv::hll::cached_cardinality(s->value);
  } else {
    if (!kv::hll::count(s->value, &card)) return ctx.error_text(kCorruptHllErr);
    kv::hll::set_cached_cardinality(s->value, card);
    // The cache is part of the value's bytes (GET shows it), so it is journaled, but the reply
    // need not wait for it: a lost cache only costs a recount.
    ctx.broker.kv().record_string_range(ctx.client.db, key, 8,
                                        std::string_view(s->value).substr(8, 8));
    ctx.broker.key_modified(ctx.client.db, key);
  }
  ctx.reply.integer(static_cast<int64_t>(card));
}

void pfmerge(CommandContext& ctx) {
  static uint8_t registers[kv::hll::kRegisters];
  std::memset(registers, 0, sizeof registers);
  bool any_dense = false;
  // The destination is a source too.
  for (size_t i = 1; i < ctx.argc(); ++i) {
    core::Object* obj = lookup_read(ctx, ctx.arg(i));
    if (!obj) continue;
    StringObject* s = as_hll(ctx, obj);
    if (!s) return;
    any_dense = any_dense || kv::hll::is_dense(s->value);
    if (!kv::hll::merge_into(registers, s->value)) return ctx.error_text(kCorruptHllErr);
  }
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  core::Object* obj = lookup_write(ctx, key);
  StringObject* s = nullptr;
  if (obj) {
    s = static_cast<StringObject*>(obj);
    s->raw = true;
  } else {
    s = create_hll(ctx, key);
  }
  // With a dense source the result is dense at once (a sparse one would be promoted anyway).
  bool corrupt = any_dense && !kv::hll::to_dense(s->value);
  const size_t max_bytes = sparse_max_bytes(ctx);
  for (uint32_t i = 0; i < kv::hll::kRegisters && !corrupt; ++i) {
    if (registers[i] == 0) continue;
    kv::hll::set_register(s->value, i, registers[i], max_bytes);
  }
  if (!corrupt) kv::hll::invalidate_cache(s->value);
  ctx.broker.kv().record_string(db, key, *s);
  kv_written(ctx, key);
  if (corrupt) return ctx.error_text(kCorruptHllErr);
  ctx.broker.notify('$', "pfadd", key, db);
  ctx.reply.ok();
}

void pfdebug(CommandContext& ctx) {
  std::string_view sub = ctx.arg(1);
  std::string_view key = ctx.arg(2);
  core::Object* obj = lookup_write(ctx, key);
  if (!obj) return ctx.error_text("ERR The specified key does not exist");
  StringObject* s = as_hll(ctx, obj);
  if (!s) return;
  make_raw(ctx, key, s);
  const int db = ctx.client.db;
  // GETREG and TODENSE turn a sparse value dense for good.
  auto densify = [&](bool* converted) {
    *converted = false;
    if (kv::hll::is_dense(s->value)) return true;
    if (!kv::hll::to_dense(s->value)) return false;
    *converted = true;
    ctx.broker.kv().record_string(db, key, *s);
    kv_written(ctx, key);
    return true;
  };
  bool converted = false;
  if (iequals(sub, "getreg")) {
    if (!densify(&converted)) return ctx.error_text(kCorruptHllErr);
    ctx.reply.array(kv::hll::kRegisters);
    for (uint32_t i = 0; i < kv::hll::kRegisters; ++i) {
      ctx.reply.integer(kv::hll::dense_register(s->value, i));
    }
  } else if (iequals(sub, "decode")) {
    if (kv::hll::is_dense(s->value)) return ctx.error_text("ERR HLL encoding is not sparse");
    std::string text;
    if (!kv::hll::describe_sparse(s->value, &text)) return ctx.error_text(kCorruptHllErr);
    ctx.reply.bulk(text);
  } else if (iequals(sub, "encoding")) {
    ctx.reply.simple(kv::hll::is_dense(s->value) ? "dense" : "sparse");
  } else if (iequals(sub, "todense")) {
    if (!densify(&converted)) return ctx.error_text(kCorruptHllErr);
    ctx.reply.integer(converted ? 1 : 0);
  } else {
    ctx.error_text("ERR Unknown PFDEBUG subcommand '" + std::string(sub) + "'");
  }
}

void pfselftest(CommandContext& ctx) {
  std::string failed = kv::hll::self_test();
  if (!failed.empty()) return ctx.error_text(failed);
  ctx.reply.ok();
}

}  // namespace

void register_hyperloglog_commands(CommandTable& t) {
  CommandFamily cmd{"hyperloglog"};
  t.add(cmd("pfadd", -2, kWrite | kDenyOom | kFast, pfadd, "@write @hyperloglog @fast",
            "Adds the specified elements to the specified HyperLogLog.", "2.8.9"));
  t.add(cmd("pfcount", -2, kReadonly | kMayReplicate, pfcount, "@read @hyperloglog @slow",
            "Return the approximated cardinality of the set(s) observed by the HyperLogLog at "
            "key(s).",
            "2.8.9", 1, -1, 1));
  t.add(cmd("pfmerge", -2, kWrite | kDenyOom, pfmerge, "@write @hyperloglog @slow",
            "Merge N different HyperLogLogs into a single one.", "2.8.9", 1, -1, 1));
  t.add(cmd("pfdebug", 3, kWrite | kDenyOom | kAdmin, pfdebug,
            "@write @hyperloglog @admin @slow @dangerous",
            "Internal commands for debugging HyperLogLog values", "2.8.9", 2, 2, 1));
  t.add(cmd("pfselftest", 1, kAdmin, pfselftest, "@hyperloglog @admin @slow @dangerous",
            "An internal command for testing HyperLogLog values", "2.8.9", 0, 0, 0));
}

}  // namespace sluice::commands
