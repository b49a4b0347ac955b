// Set algebra: SMEMBERS SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE. Results
// come out in the order Redis 7.0 gives them: SINTER in the iteration order of the smallest set,
// SUNION and SDIFF in the order of a result set built the way Redis builds it (an intset while
// every member is an integer, so numeric order). A *STORE journals the set it stored.
#include <algorithm>
#include <memory>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/set_support.h"
#include "broker/kv/set_records.h"

namespace sluice::commands {
namespace {

using kv::SetObject;
using Sets = std::vector<const SetObject*>;

// The sets at `keys` (nullptr for a missing key) read as Redis's lookupKeyRead. False when a key
// holds another type: WRONGTYPE was replied.
bool load_sets(CommandContext& ctx, std::span<const std::string_view> keys, Sets* out) {
  out->clear();
  out->reserve(keys.size());
  for (std::string_view key : keys) {
    bool replied = false;
    out->push_back(read_set(ctx, key, &replied));
    if (replied) return false;
  }
  return true;
}

void add_members(SetObject& dst, const SetObject& src, size_t limit) {
  if (src.is_intset()) {
    for (int64_t v : src.ints()) dst.add_int(v, limit);
  } else {
    src.for_each([&](std::string_view m) { dst.add(m, limit); });
  }
}

// Puts `result` at `dst` (replacing any value and TTL) and replies its size; an empty result
// deletes `dst` instead. `event` is the keyspace event of a stored result.
void store_result(CommandContext& ctx, std::string_view dst, std::unique_ptr<SetObject> result,
                  const char* event) {
  const int db = ctx.client.db;
  if (result->empty()) {
    if (delete_key(ctx, db, dst)) {
      ctx.wrote = true;
      ctx.broker.notify('g', "del", dst, db);
    }
    return ctx.reply.integer(0);
  }
  const auto n = static_cast<int64_t>(result->size());
  auto* stored = static_cast<SetObject*>(replace_key(ctx, db, dst, std::move(result)));
  kv::record_set_store(ctx.broker.kv(), db, dst, *stored, false);
  kv_written(ctx, dst);
  ctx.broker.notify('s', event, dst, db);
  ctx.reply.integer(n);
}

struct InterOptions {
  bool store = false;  // SINTERSTORE into dst
  std::string_view dst;
  bool cardinality_only = false;  // SINTERCARD
  uint64_t limit = 0;             // SINTERCARD LIMIT, 0 = none
};

void sinter_generic(CommandContext& ctx, std::span<const std::string_view> keys,
                    const InterOptions& opt) {
  Sets sets;
  if (!load_sets(ctx, keys, &sets)) return;
  const bool store = opt.store;
  if (std::find(sets.begin(), sets.end(), nullptr) != sets.end()) {
    // A missing key is an empty set, and so is the intersection.
    if (store) return store_result(ctx, opt.dst, std::make_unique<SetObject>(), "sinterstore");
    if (opt.cardinality_only) return ctx.reply.integer(0);
    return ctx.reply.set(0);
  }
  // Smallest first (a stable sort, as glibc's qsort is for these sizes): its members are the
  // candidates, in its iteration order.
  std::stable_sort(sets.begin(), sets.end(),
                   [](const SetObject* a, const SetObject* b) { return a->size() < b->size(); });
  const SetObject& first = *sets[0];
  auto in_others_int = [&](int64_t v) {
    for (size_t j = 1; j < sets.size(); ++j) {
      if (sets[j] != &first && !sets[j]->contains_int(v)) return false;
    }
    return true;
  };
  auto in_others = [&](std::string_view m) {
    for (size_t j = 1; j < sets.size(); ++j) {
      if (sets[j] != &first && !sets[j]->contains(m)) return false;
    }
    return true;
  };
  if (opt.cardinality_only) {
    uint64_t n = 0;
    if (first.is_intset()) {
      for (int64_t v : first.ints()) {
        if (in_others_int(v) && ++n == opt.limit) break;
      }
    } else {
      // ScanTable::for_each cannot stop early; counting past the limit is only wasted work.
      first.for_each([&](std::string_view m) {
        if ((opt.limit == 0 || n < opt.limit) && in_others(m)) ++n;
      });
    }
    return ctx.reply.integer(static_cast<int64_t>(n));
  }
  std::vector<int64_t> ints;
  std::vector<std::string_view> members;
  if (first.is_intset()) {
    for (int64_t v : first.ints()) {
      if (in_others_int(v)) ints.push_back(v);
    }
  } else {
    first.for_each([&](std::string_view m) {
      if (in_others(m)) members.push_back(m);
    });
  }
  if (store) {
    auto result = std::make_unique<SetObject>(true);
    const size_t limit = intset_limit(ctx);
    for (int64_t v : ints) result->add_int(v, limit);
    for (std::string_view m : members) result->add(m, limit);
    return store_result(ctx, opt.dst, std::move(result), "sinterstore");
  }
  ctx.reply.set(ints.size() + members.size());
  kv::MemberBuf buf;
  for (int64_t v : ints) ctx.reply.bulk(kv::format_member(v, buf));
  for (std::string_view m : members) ctx.reply.bulk(m);
}

void smembers(CommandContext& ctx) {
  bool replied = false;
  SetObject* s = read_set(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.set(0);
  ctx.reply.set(s->size());
  s->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
}

void sinter(CommandContext& ctx) { sinter_generic(ctx, ctx.args.subspan(1), {}); }

void sinterstore(CommandContext& ctx) {
  InterOptions opt;
  opt.store = true;
  opt.dst = ctx.arg(1);
  sinter_generic(ctx, ctx.args.subspan(2), opt);
}

void sintercard(CommandContext& ctx) {
  int64_t numkeys = 0;
  if (!wire::parse_i64(ctx.arg(1), &numkeys) || numkeys < 1) {
    return ctx.error_text("ERR numkeys should be greater than 0");
  }
  if (numkeys > static_cast<int64_t>(ctx.argc() - 2)) {
    return ctx.error_text("ERR Number of keys can't be greater than number of args");
  }
  InterOptions opt;
  opt.cardinality_only = true;
  for (size_t i = 2 + static_cast<size_t>(numkeys); i < ctx.argc(); ++i) {
    if (iequals(ctx.arg(i), "LIMIT") && i + 1 < ctx.argc()) {
      int64_t limit = 0;
      if (!wire::parse_i64(ctx.arg(++i), &limit) || limit < 0) {
        return ctx.error_text("ERR LIMIT can't be negative");
      }
      opt.limit = static_cast<uint64_t>(limit);
    } else {
      return ctx.syntax_error();
    }
  }
  sinter_generic(ctx, ctx.args.subspan(2, static_cast<size_t>(numkeys)), opt);
}

enum class SetOp { kUnion, kDiff };

// The union or difference of `sets`, built as Redis builds it: an intset that converts as the
// members require, so its iteration order is Redis's.
std::unique_ptr<SetObject> union_diff(const Sets& input, SetOp op, size_t limit) {
  auto result = std::make_unique<SetObject>(true);
  if (op == SetOp::kUnion) {
    for (const SetObject* s : input) {
      if (s) add_members(*result, *s, limit);
    }
    return result;
  }
  const SetObject* first = input[0];
  if (!first) return result;
  for (size_t j = 1; j < input.size(); ++j) {
    if (input[j] == first) return result;  // the first set minus itself
  }
  // As Redis: check each member of the first set against the others when that is less work than
  // adding the first set whole and removing every other set's members.
  uint64_t check_work = 0;
  uint64_t remove_work = 0;
  for (const SetObject* s : input) {
    if (!s) continue;
    check_work += first->size();
    remove_work += s->size();
  }
  if (check_work / 2 <= remove_work) {
    Sets others(input.begin() + 1, input.end());
    std::erase(others, nullptr);
    // Bigger sets first: a member in common is found sooner.
    std::stable_sort(others.begin(), others.end(),
                     [](const SetObject* a, const SetObject* b) { return a->size() > b->size(); });
    first->for_each([&](std::string_view m) {
      for (const SetObject* s : others) {
        if (s->contains(m)) return;
      }
      result->add(m, limit);
    });
    return result;
  }
  add_members(*result, *first, limit);
  for (size_t j = 1; j < input.size() && !result->empty(); ++j) {
    if (input[j]) input[j]->for_each([&](std::string_view m) { result->remove(m); });
  }
  return result;
}

void union_diff_command(CommandContext& ctx, SetOp op, bool store) {
  std::span<const std::string_view> keys = ctx.args.subspan(store ? 2 : 1);
  Sets sets;
  if (!load_sets(ctx, keys, &sets)) return;
  auto result = union_diff(sets, op, intset_limit(ctx));
  if (store) {
    return store_result(ctx, ctx.arg(1), std::move(result),
                        op == SetOp::kUnion ? "sunionstore" : "sdiffstore");
  }
  ctx.reply.set(result->size());
  result->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
}

void sunion(CommandContext& ctx) { union_diff_command(ctx, SetOp::kUnion, false); }
void sunionstore(CommandContext& ctx) { union_diff_command(ctx, SetOp::kUnion, true); }
void sdiff(CommandContext& ctx) { union_diff_command(ctx, SetOp::kDiff, false); }
void sdiffstore(CommandContext& ctx) { union_diff_command(ctx, SetOp::kDiff, true); }

}  // namespace

void register_set_algebra_commands(CommandTable& t) {
  const CommandFamily cmd{"set"};
  t.add(cmd("smembers", 2, kReadonly, smembers, "@read @set @slow", "Get all the members in a set",
            "1.0.0"));
  t.add(cmd("sinter", -2, kReadonly, sinter, "@read @set @slow", "Intersect multiple sets", "1.0.0",
            1, -1, 1));
  CommandSpec card =
      cmd("sintercard", -3, kReadonly | kMovableKeys, sintercard, "@read @set @slow",
          "Intersect multiple sets and return the cardinality of the result", "7.0.0", 0, 0, 0);
  t.add(std::move(card));
  t.add(cmd("sinterstore", -3, kWrite | kDenyOom, sinterstore, "@write @set @slow",
            "Intersect multiple sets and store the resulting set in a key", "1.0.0", 1, -1, 1));
  t.add(cmd("sunion", -2, kReadonly, sunion, "@read @set @slow", "Add multiple sets", "1.0.0", 1,
            -1, 1));
  t.add(cmd("sunionstore", -3, kWrite | kDenyOom, sunionstore, "@write @set @slow",
            "Add multiple sets and store the resulting set in a key", "1.0.0", 1, -1, 1));
  t.add(cmd("sdiff", -2, kReadonly, sdiff, "@read @set @slow", "Subtract multiple sets", "1.0.0", 1,
            -1, 1));
  t.add(cmd("sdiffstore", -3, kWrite | kDenyOom, sdiffstore, "@write @set @slow",
            "Subtract multiple sets and store the resulting set in a key", "1.0.0", 1, -1, 1));
}

}  // namespace sluice::commands
