// Sorted set commands, single-member side: ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK
// ZCOUNT ZLEXCOUNT ZRANDMEMBER ZSCAN, and the registration of the whole family (ranges, pops and
// set algebra live in zset_range_commands.cc, zset_pop_commands.cc, zset_algebra_commands.cc).
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/sort_source.h"
#include "broker/commands/zset_support.h"
#include "broker/core/glob.h"
#include "broker/kv/zset_records.h"

namespace sluice::commands {
namespace {

using kv::ZMember;
using kv::ZSetObject;

constexpr const char* kNanErr = "ERR resulting score is not a number (NaN)";

// What zsetAdd did to one member.
enum class AddOutcome { kAdded, kUpdated, kUnchanged, kNop, kNan };

// Redis's zsetAdd: applies one score-member pair under the flags; *newscore gets the resulting
// score unless the pair was a no-op.
AddOutcome zset_add(ZSetObject& z, std::string_view member, double score, unsigned flags,
                    const kv::ZSetLimits& limits, double* newscore, ZMember** touched) {
  ZMember* m = z.find(member);
  if (m) {
    if (flags & kZAddNx) return AddOutcome::kNop;
    double cur = m->score;
    if (flags & kZAddIncr) {
      score += cur;
      if (std::isnan(score)) return AddOutcome::kNan;
    }
    if (((flags & kZAddLt) && score >= cur) || ((flags & kZAddGt) && score <= cur)) {
      return AddOutcome::kNop;
    }
    *newscore = score;
    if (score == cur) return AddOutcome::kUnchanged;
    z.update(m, score);
    *touched = m;
    return AddOutcome::kUpdated;
  }
  if (flags & kZAddXx) return AddOutcome::kNop;
  *newscore = score;
  *touched = z.insert(member, score, limits);
  return AddOutcome::kAdded;
}

}  // namespace

bool zadd_check_flags(CommandContext& ctx, unsigned flags, size_t pairs) {
  if (pairs == 0) {
    ctx.syntax_error();
    return false;
  }
  if ((flags & kZAddNx) && (flags & kZAddXx)) {
    ctx.error_text("ERR XX and NX options at the same time are not compatible");
    return false;
  }
  if (((flags & kZAddGt) && (flags & kZAddNx)) || ((flags & kZAddLt) && (flags & kZAddNx)) ||
      ((flags & kZAddGt) && (flags & kZAddLt))) {
    ctx.error_text("ERR GT, LT, and/or NX options at the same time are not compatible");
    return false;
  }
  if ((flags & kZAddIncr) && pairs > 1) {
    ctx.error_text("ERR INCR option supports a single increment-element pair");
    return false;
  }
  return true;
}

void zadd_scores(CommandContext& ctx, unsigned flags, std::span<const double> scores,
                 std::span<const std::string_view> members) {
  std::string_view key = ctx.arg(1);
  const size_t pairs = scores.size();
  bool replied = false;
  ZSetObject* z = write_zset(ctx, key, &replied);
  if (replied) return;
  const bool incr = flags & kZAddIncr;
  if (!z) {
    if (flags & kZAddXx) return incr ? ctx.reply.null() : ctx.reply.integer(0);
    z = static_cast<ZSetObject*>(
        replace_key(ctx, ctx.client.db, key, std::make_unique<ZSetObject>()));
  }
  const kv::ZSetLimits limits = zset_limits(ctx.broker);
  thread_local std::vector<const ZMember*> touched;
  touched.clear();
  int64_t added = 0, updated = 0, processed = 0;
  double score = 0;
  for (size_t i = 0; i < pairs; ++i) {
    ZMember* m = nullptr;
    double newscore = 0;
    AddOutcome out = zset_add(*z, members[i], scores[i], flags, limits, &newscore, &m);
    if (out == AddOutcome::kNan) {
      ctx.error_text(kNanErr);
      break;
    }
    if (out == AddOutcome::kNop) continue;
    ++processed;
    score = newscore;
    if (out == AddOutcome::kAdded) ++added;
    if (out == AddOutcome::kUpdated) ++updated;
    if (m) touched.push_back(m);
  }
  if (!touched.empty()) {
    // A member given twice is journaled twice; replay applies both in order, as here.
    kv::record_zset_scores(ctx.broker.kv(), ctx.client.db, key, *z, touched);
    zset_written(ctx, key, incr ? "zincr" : "zadd");
  }
  if (ctx.failed) return;
  if (incr) return processed ? reply_score(ctx.reply, score) : ctx.reply.null();
  ctx.reply.integer((flags & kZAddCh) ? added + updated : added);
}

namespace {

void zadd_generic(CommandContext& ctx, unsigned flags, size_t scoreidx) {
  const size_t args = ctx.argc() - scoreidx;
  if (args % 2 != 0) return ctx.syntax_error();
  const size_t pairs = args / 2;
  thread_local std::vector<double> scores;
  thread_local std::vector<std::string_view> members;
  scores.resize(pairs);
  members.resize(pairs);
  for (size_t i = 0; i < pairs; ++i) members[i] = ctx.arg(scoreidx + 2 * i + 1);
  if (!zadd_check_flags(ctx, flags, pairs)) return;
  for (size_t i = 0; i < pairs; ++i) {
    if (!parse_score(ctx.arg(scoreidx + 2 * i), &scores[i])) return ctx.error_text(kNotFloatErr);
  }
  zadd_scores(ctx, flags, scores, members);
}

void zadd(CommandContext& ctx) {
  unsigned flags = 0;
  size_t i = 2;
  for (; i < ctx.argc(); ++i) {
    std::string_view a = ctx.arg(i);
    if (iequals(a, "nx")) {
      flags |= kZAddNx;
    } else if (iequals(a, "xx")) {
      flags |= kZAddXx;
    } else if (iequals(a, "ch")) {
      flags |= kZAddCh;
    } else if (iequals(a, "incr")) {
      flags |= kZAddIncr;
    } else if (iequals(a, "gt")) {
      flags |= kZAddGt;
    } else if (iequals(a, "lt")) {
      flags |= kZAddLt;
    } else {
      break;
    }
  }
  zadd_generic(ctx, flags, i);
}

void zincrby(CommandContext& ctx) { zadd_generic(ctx, kZAddIncr, 2); }

void zrem(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied = false;
  ZSetObject* z = write_zset(ctx, key, &replied);
  if (replied) return;
  if (!z) return ctx.reply.integer(0);
  thread_local std::vector<std::string_view> removed;
  removed.clear();
  for (size_t i = 2; i < ctx.argc(); ++i) {
    if (z->erase(ctx.arg(i))) removed.push_back(ctx.arg(i));
  }
  if (!removed.empty()) {
    kv::record_zset_removed(ctx.broker.kv(), ctx.client.db, key, removed);
    zset_written(ctx, key, "zrem");
    drop_if_empty(ctx, key, z);
  }
  ctx.reply.integer(static_cast<int64_t>(removed.size()));
}

void zcard(CommandContext& ctx) {
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(z ? static_cast<int64_t>(z->size()) : 0);
}

void zscore(CommandContext& ctx) {
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const ZMember* m = z ? z->find(ctx.arg(2)) : nullptr;
  m ? reply_score(ctx.reply, m->score) : ctx.reply.null();
}

void zmscore(CommandContext& ctx) {
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const ZMember* m = z ? z->find(ctx.arg(i)) : nullptr;
    m ? reply_score(ctx.reply, m->score) : ctx.reply.null();
  }
}

void zrank_generic(CommandContext& ctx, bool reverse) {
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const ZMember* m = z ? z->find(ctx.arg(2)) : nullptr;
  if (!m) return ctx.reply.null();
  size_t rank = z->rank(m);
  ctx.reply.integer(static_cast<int64_t>(reverse ? z->size() - 1 - rank : rank));
}

void zrank(CommandContext& ctx) { zrank_generic(ctx, false); }
void zrevrank(CommandContext& ctx) { zrank_generic(ctx, true); }

void zcount(CommandContext& ctx) {
  ScoreRange range;
  if (!parse_score_range(ctx.arg(2), ctx.arg(3), &range)) return ctx.error_text(kScoreRangeErr);
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!z) return ctx.reply.integer(0);
  auto [first, last] = score_range_ranks(z->tree(), range);
  ctx.reply.integer(static_cast<int64_t>(last - first));
}

void zlexcount(CommandContext& ctx) {
  LexRange range;
  if (!parse_lex_range(ctx.arg(2), ctx.arg(3), &range)) return ctx.error_text(kLexRangeErr);
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!z) return ctx.reply.integer(0);
  auto [first, last] = lex_range_ranks(z->tree(), range);
  ctx.reply.integer(static_cast<int64_t>(last - first));
}

std::mt19937_64& rng() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

void reply_member(CommandContext& ctx, kv::ZTree::Pos p, bool withscores) {
  if (withscores && ctx.reply.resp3()) ctx.reply.array(2);
  ctx.reply.bulk(p.member()->view());
  if (withscores) reply_score(ctx.reply, p.score());
}

void zrandmember(CommandContext& ctx) {
  bool withscores = false;
  int64_t count = 0;
  if (ctx.argc() >= 3) {
    if (ctx.argc() == 4 && iequals(ctx.arg(3), "WITHSCORES")) {
      withscores = true;
    } else if (ctx.argc() >= 4) {
      return ctx.syntax_error();
    }
    if (!int_arg(ctx, ctx.arg(2), &count)) return;
    if (count < -std::numeric_limits<int64_t>::max()) {
      return ctx.error_text(
          "ERR value is out of range, value must between -9223372036854775807 and "
          "9223372036854775807");
    }
    // Redis 7.0.8+: a WITHSCORES reply of 2 * count elements must not overflow.
    constexpr int64_t kHalf = std::numeric_limits<int64_t>::max() / 2;
    if (withscores && (count < -kHalf || count > kHalf)) {
      return ctx.error_text("ERR value is out of range");
    }
  }
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const auto& tree = z ? &z->tree() : nullptr;
  if (ctx.argc() == 2) {
    if (!z) return ctx.reply.null();
    return ctx.reply.bulk(tree->at_rank(rng()() % z->size()).member()->view());
  }
  if (!z || count == 0) return ctx.reply.array(0);
  const size_t size = z->size();
  const bool flat_pairs = withscores && !ctx.reply.resp3();
  if (count < 0) {
    auto n = static_cast<uint64_t>(-count);
    ctx.reply.array(flat_pairs ? n * 2 : n);
    for (uint64_t i = 0; i < n; ++i) reply_member(ctx, tree->at_rank(rng()() % size), withscores);
    return;
  }
  auto n = static_cast<size_t>(count);
  if (n >= size) {
    // The whole set, highest score first (Redis 7.0 replies with a reversed full range).
    ctx.reply.array(flat_pairs ? size * 2 : size);
    for (auto p = tree->last(); p.valid(); p = kv::ZTree::prev(p)) reply_member(ctx, p, withscores);
    return;
  }
  // Distinct ranks: a partial shuffle when many are wanted, rejection otherwise.
  std::vector<size_t> ranks;
  ranks.reserve(n);
  if (n * 3 > size) {
    std::vector<size_t> all(size);
    for (size_t i = 0; i < size; ++i) all[i] = i;
    for (size_t i = 0; i < n; ++i) std::swap(all[i], all[i + rng()() % (size - i)]);
    ranks.assign(all.begin(), all.begin() + static_cast<long>(n));
  } else {
    std::unordered_set<size_t> picked;
    while (ranks.size() < n) {
      size_t r = rng()() % size;
      if (picked.insert(r).second) ranks.push_back(r);
    }
  }
  ctx.reply.array(flat_pairs ? n * 2 : n);
  for (size_t r : ranks) reply_member(ctx, tree->at_rank(r), withscores);
}

void zscan(CommandContext& ctx) {
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
  ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  std::vector<const ZMember*> out;
  const bool match_all = pattern.empty() || pattern == "*";
  uint64_t next = 0;
  if (z) {
    next = z->scan(cursor, static_cast<size_t>(count), [&](const ZMember& m) {
      if (match_all || core::glob_match(pattern, m.view())) out.push_back(&m);
    });
  }
  ctx.reply.array(2);
  ctx.reply.bulk(std::to_string(next));
  ctx.reply.array(out.size() * 2);
  char buf[32];
  for (const ZMember* m : out) {
    ctx.reply.bulk(m->view());
    ctx.reply.bulk(std::string_view(buf, format_score(m->score, buf)));
  }
}

// SORT reads a sorted set in score order (by rank); BY <constant> keeps that order.
class ZSetSortSource final : public SortSource {
 public:
  explicit ZSetSortSource(const kv::ZSetObject& z) : z_(z) {}
  size_t size() const override { return z_.size(); }
  bool ordered() const override { return true; }
  void read(size_t start, size_t count, bool reverse,
            const std::function<void(std::string_view)>& fn) const override {
    if (start >= z_.size()) return;
    const kv::ZTree& tree = z_.tree();
    kv::ZTree::Pos p = tree.at_rank(reverse ? z_.size() - 1 - start : start);
    for (size_t i = 0; i < count && p.valid(); ++i) {
      fn(p.member()->view());
      p = reverse ? kv::ZTree::prev(p) : kv::ZTree::next(p);
    }
  }

 private:
  const kv::ZSetObject& z_;
};

}  // namespace

std::unique_ptr<SortSource> zset_sort_source(core::Object& zset) {
  auto& z = static_cast<kv::ZSetObject&>(zset);
  z.set_skiplist();
  return std::make_unique<ZSetSortSource>(z);
}

void register_zset_commands(CommandTable& t) {
  const CommandFamily cmd{"sorted-set"};
  const uint32_t kW = kWrite | kDenyOom;
  t.add(cmd("zadd", -4, kW | kFast, zadd, "@write @sortedset @fast",
            "Adds one or more members to a sorted set, or updates their scores. Creates the key if "
            "it doesn't exist.",
            "1.2.0"));
  t.add(cmd("zincrby", 4, kW | kFast, zincrby, "@write @sortedset @fast",
            "Increments the score of a member in a sorted set.", "1.2.0"));
  t.add(cmd("zrem", -3, kWrite | kFast, zrem, "@write @sortedset @fast",
            "Removes one or more members from a sorted set. Deletes the sorted set if all members "
            "were removed.",
            "1.2.0"));
  t.add(cmd("zcard", 2, kReadonly | kFast, zcard, "@read @sortedset @fast",
            "Returns the number of members in a sorted set.", "1.2.0"));
  t.add(cmd("zscore", 3, kReadonly | kFast, zscore, "@read @sortedset @fast",
            "Returns the score of a member in a sorted set.", "1.2.0"));
  t.add(cmd("zmscore", -3, kReadonly | kFast, zmscore, "@read @sortedset @fast",
            "Returns the score of one or more members in a sorted set.", "6.2.0"));
  t.add(cmd("zrank", 3, kReadonly | kFast, zrank, "@read @sortedset @fast",
            "Returns the index of a member in a sorted set ordered by ascending scores.", "2.0.0"));
  t.add(cmd("zrevrank", 3, kReadonly | kFast, zrevrank, "@read @sortedset @fast",
            "Returns the index of a member in a sorted set ordered by descending scores.",
            "2.0.0"));
  t.add(cmd("zcount", 4, kReadonly | kFast, zcount, "@read @sortedset @fast",
            "Returns the count of members in a sorted set that have scores within a range.",
            "2.0.0"));
  t.add(cmd("zlexcount", 4, kReadonly | kFast, zlexcount, "@read @sortedset @fast",
            "Returns the number of members in a sorted set within a lexicographical range.",
            "2.8.9"));
  t.add(cmd("zrandmember", -2, kReadonly, zrandmember, "@read @sortedset @slow",
            "Returns one or more random members from a sorted set.", "6.2.0"));
  t.add(cmd("zscan", -3, kReadonly, zscan, "@read @sortedset @slow",
            "Iterates over members and scores of a sorted set.", "2.8.0"));
  register_zset_range_commands(t);
  register_zset_pop_commands(t);
  register_zset_algebra_commands(t);
}

}  // namespace sluice::commands
