// Sorted set algebra: ZUNION ZINTER ZDIFF, their STORE forms, and ZINTERCARD, with WEIGHTS and
// AGGREGATE SUM|MIN|MAX. Inputs are ZSources: sorted sets, and plain sets as Redis accepts them
// (every member scoring 1). Scores follow
// Redis to the bit: inputs are visited smallest first (a stable sort by size), weight * score
// that is NaN (inf * 0) counts as 0, and a SUM of inf and -inf is 0.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/zset_support.h"
#include "broker/kv/set_object.h"
#include "broker/kv/zset_records.h"

namespace sluice::commands {
namespace {

using kv::ZMember;
using kv::ZSetObject;
using kv::ZTree;

enum class SetOp { kUnion, kInter, kDiff };
enum class Aggregate { kSum, kMin, kMax };

// One input: a sorted set, a plain set (every member scores 1), or a missing key (no members).
struct ZSource {
  const ZSetObject* zset = nullptr;
  const kv::SetObject* set = nullptr;
  // An intset's members as text: results keep views of members, and an intset formats each
  // into a scratch buffer. Heap-held so the views survive moves of the ZSource.
  std::shared_ptr<const std::vector<std::string>> int_members;
  double weight = 1;

  size_t size() const { return zset ? zset->size() : set ? set->size() : 0; }
  // fn(std::string_view member, double score) for every member, in the source's order.
  template <typename F>
  void for_each(F&& fn) const {
    if (int_members) {
      for (const std::string& m : *int_members) fn(std::string_view(m), 1.0);
      return;
    }
    if (set) {
      set->for_each([&](std::string_view m) { fn(m, 1.0); });
      return;
    }
    if (!zset) return;
    for (ZTree::Pos p = zset->tree().first(); p.valid(); p = ZTree::next(p)) {
      fn(p.member()->view(), p.score());
    }
  }
  bool score_of(std::string_view member, double* score) const {
    if (set) {
      if (!set->contains(member)) return false;
      *score = 1.0;
      return true;
    }
    const ZMember* m = zset ? zset->find(member) : nullptr;
    if (m) *score = m->score;
    return m != nullptr;
  }
};

// The ZSource of a looked-up key; false (WRONGTYPE) for a key that cannot be an input.
bool as_source(core::Object* obj, ZSource* out) {
  if (!obj) return true;
  if (obj->type() == core::ObjectType::kSet) {
    out->set = static_cast<const kv::SetObject*>(obj);
    if (out->set->encoding() == "intset") {
      auto text = std::make_shared<std::vector<std::string>>();
      text->reserve(out->set->size());
      out->set->for_each([&](std::string_view m) { text->emplace_back(m); });
      out->int_members = std::move(text);
    }
    return true;
  }
  if (obj->type() != core::ObjectType::kZSet) return false;
  out->zset = static_cast<const ZSetObject*>(obj);
  return true;
}

double weighted(double weight, double score) {
  double v = weight * score;
  return std::isnan(v) ? 0 : v;
}

void aggregate(double* target, double v, Aggregate how) {
  switch (how) {
    case Aggregate::kSum:
      *target += v;
      if (std::isnan(*target)) *target = 0;
      break;
    case Aggregate::kMin:
      *target = v < *target ? v : *target;
      break;
    case Aggregate::kMax:
      *target = v > *target ? v : *target;
      break;
  }
}

using Result = std::vector<std::pair<double, std::string_view>>;

// The members and scores of the operation, unordered.
void compute(SetOp op, std::vector<ZSource>& src, Aggregate how, size_t limit, Result* out) {
  if (op == SetOp::kDiff) {
    src[0].for_each([&](std::string_view m, double s) {
      double unused;
      for (size_t i = 1; i < src.size(); ++i) {
        if (src[i].score_of(m, &unused)) return;
      }
      out->emplace_back(s, m);
    });
    return;
  }
  std::stable_sort(src.begin(), src.end(),
                   [](const ZSource& a, const ZSource& b) { return a.size() < b.size(); });
  if (op == SetOp::kInter) {
    if (src[0].size() == 0) return;
    src[0].for_each([&](std::string_view m, double s) {
      if (limit && out->size() >= limit) return;
      double score = weighted(src[0].weight, s);
      for (size_t i = 1; i < src.size(); ++i) {
        double other;
        if (!src[i].score_of(m, &other)) return;
        aggregate(&score, weighted(src[i].weight, other), how);
      }
      out->emplace_back(score, m);
    });
    return;
  }
  std::unordered_map<std::string_view, size_t> at;
  for (const ZSource& s : src) {
    s.for_each([&](std::string_view m, double score) {
      double v = weighted(s.weight, score);
      auto [it, added] = at.try_emplace(m, out->size());
      if (added) {
        out->emplace_back(v, m);
      } else {
        aggregate(&(*out)[it->second].first, v, how);
      }
    });
  }
}

// zunionInterDiffGenericCommand. `numkeys_at` is the index of numkeys; `dst` is set for the
// STORE forms; `card` for ZINTERCARD.
void zsetop_generic(CommandContext& ctx, size_t numkeys_at, const std::string_view* dst, SetOp op,
                    bool card) {
  int64_t numkeys = 0;
  if (!int_arg(ctx, ctx.arg(numkeys_at), &numkeys)) return;
  if (numkeys < 1) {
    return ctx.error_text("ERR at least 1 input key is needed for '" + ctx.spec->name +
                          "' command");
  }
  if (static_cast<uint64_t>(numkeys) > ctx.argc() - numkeys_at - 1) return ctx.syntax_error();
  const auto n = static_cast<size_t>(numkeys);
  std::vector<ZSource> src(n);
  for (size_t i = 0; i < n; ++i) {
    std::string_view key = ctx.arg(numkeys_at + 1 + i);
    core::Object* obj = dst ? lookup_write(ctx, key) : lookup_read(ctx, key);
    if (!as_source(obj, &src[i])) return ctx.wrong_type();
  }
  Aggregate how = Aggregate::kSum;
  bool withscores = false;
  int64_t limit = 0;
  for (size_t j = numkeys_at + 1 + n; j < ctx.argc();) {
    const size_t remaining = ctx.argc() - j;
    std::string_view a = ctx.arg(j);
    if (card) {
      if (iequals(a, "LIMIT") && remaining >= 2) {
        if (!wire::parse_i64(ctx.arg(j + 1), &limit) || limit < 0) {
          return ctx.error_text("ERR LIMIT can't be negative");
        }
        j += 2;
        continue;
      }
      return ctx.syntax_error();
    }
    if (op != SetOp::kDiff && remaining >= n + 1 && iequals(a, "WEIGHTS")) {
      for (size_t i = 0; i < n; ++i) {
        if (!parse_score(ctx.arg(j + 1 + i), &src[i].weight)) {
          return ctx.error_text("ERR weight value is not a float");
        }
      }
      j += n + 1;
    } else if (op != SetOp::kDiff && remaining >= 2 && iequals(a, "AGGREGATE")) {
      std::string_view how_arg = ctx.arg(j + 1);
      if (iequals(how_arg, "SUM")) {
        how = Aggregate::kSum;
      } else if (iequals(how_arg, "MIN")) {
        how = Aggregate::kMin;
      } else if (iequals(how_arg, "MAX")) {
        how = Aggregate::kMax;
      } else {
        return ctx.syntax_error();
      }
      j += 2;
    } else if (!dst && iequals(a, "WITHSCORES")) {
      withscores = true;
      ++j;
    } else {
      return ctx.syntax_error();
    }
  }

  Result result;
  compute(op, src, how, card ? static_cast<size_t>(limit) : 0, &result);
  if (card) return ctx.reply.integer(static_cast<int64_t>(result.size()));
  if (dst) {
    const int db = ctx.client.db;
    const char* event = op == SetOp::kUnion   ? "zunionstore"
                        : op == SetOp::kInter ? "zinterstore"
                                              : "zdiffstore";
    if (result.empty()) {
      if (delete_key(ctx, db, *dst)) {
        ctx.broker.notify('g', "del", *dst, db);
        ctx.wrote = true;
      }
      return ctx.reply.integer(0);
    }
    // Built as a skiplist and turned back into a listpack if small enough, as Redis does.
    auto stored = std::make_unique<ZSetObject>();
    stored->set_skiplist();
    const kv::ZSetLimits limits = zset_limits(ctx.broker);
    for (const auto& [score, member] : result) stored->insert(member, score, limits);
    stored->convert_if_small(limits);
    const size_t size = stored->size();
    result.clear();  // its views may point into the destination's old value
    auto* z = static_cast<ZSetObject*>(replace_key(ctx, db, *dst, std::move(stored)));
    kv::record_zset_value(ctx.broker.kv(), db, *dst, *z);
    zset_written(ctx, *dst, event);
    return ctx.reply.integer(static_cast<int64_t>(size));
  }
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
    return kv::entry_less(a.first, a.second, b.first, b.second);
  });
  const bool pairs = withscores && ctx.reply.resp3();
  ctx.reply.array(withscores && !pairs ? result.size() * 2 : result.size());
  for (const auto& [score, member] : result) {
    if (pairs) ctx.reply.array(2);
    ctx.reply.bulk(member);
    if (withscores) reply_score(ctx.reply, score);
  }
}

void zunion(CommandContext& ctx) { zsetop_generic(ctx, 1, nullptr, SetOp::kUnion, false); }
void zinter(CommandContext& ctx) { zsetop_generic(ctx, 1, nullptr, SetOp::kInter, false); }
void zdiff(CommandContext& ctx) { zsetop_generic(ctx, 1, nullptr, SetOp::kDiff, false); }
void zintercard(CommandContext& ctx) { zsetop_generic(ctx, 1, nullptr, SetOp::kInter, true); }

void store_generic(CommandContext& ctx, SetOp op) {
  std::string_view dst = ctx.arg(1);
  zsetop_generic(ctx, 2, &dst, op, false);
}
void zunionstore(CommandContext& ctx) { store_generic(ctx, SetOp::kUnion); }
void zinterstore(CommandContext& ctx) { store_generic(ctx, SetOp::kInter); }
void zdiffstore(CommandContext& ctx) { store_generic(ctx, SetOp::kDiff); }

}  // namespace

void register_zset_algebra_commands(CommandTable& t) {
  const CommandFamily cmd{"sorted-set"};
  const uint32_t kReadMovable = kReadonly | kMovableKeys;
  const uint32_t kStore = kWrite | kDenyOom | kMovableKeys;
  t.add(cmd("zunion", -3, kReadMovable, zunion, "@read @sortedset @slow",
            "Returns the union of multiple sorted sets.", "6.2.0", 0, 0, 0));
  t.add(cmd("zinter", -3, kReadMovable, zinter, "@read @sortedset @slow",
            "Returns the intersect of multiple sorted sets.", "6.2.0", 0, 0, 0));
  t.add(cmd("zdiff", -3, kReadMovable, zdiff, "@read @sortedset @slow",
            "Returns the difference between multiple sorted sets.", "6.2.0", 0, 0, 0));
  t.add(cmd("zintercard", -3, kReadMovable, zintercard, "@read @sortedset @slow",
            "Returns the number of members of the intersect of multiple sorted sets.", "7.0.0", 0,
            0, 0));
  t.add(cmd("zunionstore", -4, kStore, zunionstore, "@write @sortedset @slow",
            "Stores the union of multiple sorted sets in a key.", "2.0.0", 1, 1, 1));
  t.add(cmd("zinterstore", -4, kStore, zinterstore, "@write @sortedset @slow",
            "Stores the intersect of multiple sorted sets in a key.", "2.0.0", 1, 1, 1));
  t.add(cmd("zdiffstore", -4, kStore, zdiffstore, "@write @sortedset @slow",
            "Stores the difference of multiple sorted sets in a key.", "6.2.0", 1, 1, 1));
}

}  // namespace sluice::commands
