// Sorted set range commands: ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE,
// ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE and
// ZREMRANGEBYRANK/BYSCORE/BYLEX. Every range is first resolved to ranks on the counted B+tree,
// so reply lengths are known up front and LIMIT offsets cost O(log n), not a walk.
#include <memory>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/zset_support.h"
#include "broker/kv/zset_records.h"

namespace sluice::commands {
namespace {

using kv::ZMember;
using kv::ZSetObject;
using kv::ZTree;

enum class RangeType { kAuto, kRank, kScore, kLex };
enum class Direction { kAuto, kForward, kReverse };

// Ranks selected by a range: `count` entries starting at rank `start`, walking backwards from
// it when reversed.
struct Selection {
  size_t start = 0;
  size_t count = 0;
  bool reverse = false;
};

// Z[REV]RANGE by rank: Redis's index sanitizing.
Selection rank_selection(size_t size, int64_t start, int64_t end, bool reverse) {
  const auto len = static_cast<int64_t>(size);
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (start > end || start >= len) return {};
  if (end >= len) end = len - 1;
  auto n = static_cast<size_t>(end - start + 1);
  return {reverse ? size - 1 - static_cast<size_t>(start) : static_cast<size_t>(start), n, reverse};
}

// A score or lex range's ranks [first, last) with LIMIT offset count (count < 0: no limit).
Selection limited_selection(size_t first, size_t last, int64_t offset, int64_t limit,
                            bool reverse) {
  const size_t n = last - first;
  if (offset < 0 || static_cast<uint64_t>(offset) >= n) return {};
  size_t count = n - static_cast<size_t>(offset);
  if (limit >= 0 && static_cast<uint64_t>(limit) < count) count = static_cast<size_t>(limit);
  if (count == 0) return {};
  auto off = static_cast<size_t>(offset);
  return {reverse ? last - 1 - off : first + off, count, reverse};
}

template <typename F>
void for_selection(const ZTree& tree, const Selection& sel, F&& fn) {
  ZTree::Pos p = tree.at_rank(sel.start);
  for (size_t i = 0; i < sel.count && p.valid(); ++i) {
    fn(p);
    p = sel.reverse ? ZTree::prev(p) : ZTree::next(p);
  }
}

// Stores the selection of `src` (nullptr: nothing) at `dst`: replaces it, or deletes it when
// the selection is empty. Replies with the stored count.
void store_selection(CommandContext& ctx, std::string_view dst, const ZSetObject* src,
                     const Selection& sel) {
  std::unique_ptr<ZSetObject> result;
  if (src && sel.count != 0) {
    result = std::make_unique<ZSetObject>();
    result->set_skiplist();
    const kv::ZSetLimits limits = zset_limits(ctx.broker);
    for_selection(src->tree(), sel,
                  [&](ZTree::Pos p) { result->insert(p.member()->view(), p.score(), limits); });
  }
  const size_t n = result ? result->size() : 0;
  store_zset(ctx, dst, std::move(result), "zrangestore");
  ctx.reply.integer(static_cast<int64_t>(n));
}

// zrangeGenericCommand: `first` is the index of the source key; min and max follow it, then the
// options. `dst` is set for ZRANGESTORE.
void zrange_generic(CommandContext& ctx, size_t first, const std::string_view* dst, RangeType type,
                    Direction direction) {
  bool withscores = false;
  int64_t offset = 0, limit = -1;
  bool has_limit = false;
  for (size_t j = first + 3; j < ctx.argc(); ++j) {
    const size_t left = ctx.argc() - j - 1;
    std::string_view a = ctx.arg(j);
    if (!dst && iequals(a, "withscores")) {
      withscores = true;
    } else if (iequals(a, "limit") && left >= 2) {
      if (!int_arg(ctx, ctx.arg(j + 1), &offset) || !int_arg(ctx, ctx.arg(j + 2), &limit)) return;
      has_limit = true;
      j += 2;
    } else if (direction == Direction::kAuto && iequals(a, "rev")) {
      direction = Direction::kReverse;
    } else if (type == RangeType::kAuto && iequals(a, "bylex")) {
      type = RangeType::kLex;
    } else if (type == RangeType::kAuto && iequals(a, "byscore")) {
      type = RangeType::kScore;
    } else {
      return ctx.syntax_error();
    }
  }
  const bool reverse = direction == Direction::kReverse;
  if (type == RangeType::kAuto) type = RangeType::kRank;
  if (has_limit && type == RangeType::kRank) {
    return ctx.error_text(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  }
  if (withscores && type == RangeType::kLex) {
    return ctx.error_text("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
  }
  std::string_view min = ctx.arg(first + 1);
  std::string_view max = ctx.arg(first + 2);
  if (reverse && type != RangeType::kRank) std::swap(min, max);
  int64_t start = 0, end = 0;
  ScoreRange score_range;
  LexRange lex_range;
  switch (type) {
    case RangeType::kAuto:
    case RangeType::kRank:
      if (!int_arg(ctx, min, &start) || !int_arg(ctx, max, &end)) return;
      break;
    case RangeType::kScore:
      if (!parse_score_range(min, max, &score_range)) return ctx.error_text(kScoreRangeErr);
      break;
    case RangeType::kLex:
      if (!parse_lex_range(min, max, &lex_range)) return ctx.error_text(kLexRangeErr);
      break;
  }
  bool replied = false;
  ZSetObject* z = read_zset(ctx, ctx.arg(first), &replied);
  if (replied) return;
  Selection sel;
  if (z) {
    if (type == RangeType::kRank) {
      sel = rank_selection(z->size(), start, end, reverse);
    } else {
      auto [lo, hi] = type == RangeType::kScore ? score_range_ranks(z->tree(), score_range)
                                                : lex_range_ranks(z->tree(), lex_range);
      sel = limited_selection(lo, hi, offset, limit, reverse);
    }
  }
  if (dst) return store_selection(ctx, *dst, z, sel);
  const bool pairs = withscores && ctx.reply.resp3();
  ctx.reply.array(withscores && !pairs ? sel.count * 2 : sel.count);
  if (!z) return;
  for_selection(z->tree(), sel, [&](ZTree::Pos p) {
    if (pairs) ctx.reply.array(2);
    ctx.reply.bulk(p.member()->view());
    if (withscores) reply_score(ctx.reply, p.score());
  });
}

void zrange(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kAuto, Direction::kAuto);
}
void zrangestore(CommandContext& ctx) {
  std::string_view dst = ctx.arg(1);
  zrange_generic(ctx, 2, &dst, RangeType::kAuto, Direction::kAuto);
}
void zrevrange(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kRank, Direction::kReverse);
}
void zrangebyscore(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kScore, Direction::kForward);
}
void zrevrangebyscore(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kScore, Direction::kReverse);
}
void zrangebylex(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kLex, Direction::kForward);
}
void zrevrangebylex(CommandContext& ctx) {
  zrange_generic(ctx, 1, nullptr, RangeType::kLex, Direction::kReverse);
}

void zremrange_generic(CommandContext& ctx, RangeType type) {
  std::string_view key = ctx.arg(1);
  int64_t start = 0, end = 0;
  ScoreRange score_range;
  LexRange lex_range;
  const char* event = "zremrangebyrank";
  if (type == RangeType::kRank) {
    if (!int_arg(ctx, ctx.arg(2), &start) || !int_arg(ctx, ctx.arg(3), &end)) return;
  } else if (type == RangeType::kScore) {
    event = "zremrangebyscore";
    if (!parse_score_range(ctx.arg(2), ctx.arg(3), &score_range)) {
      return ctx.error_text(kScoreRangeErr);
    }
  } else {
    event = "zremrangebylex";
    if (!parse_lex_range(ctx.arg(2), ctx.arg(3), &lex_range)) return ctx.error_text(kLexRangeErr);
  }
  bool replied = false;
  ZSetObject* z = write_zset(ctx, key, &replied);
  if (replied) return;
  if (!z) return ctx.reply.integer(0);
  Selection sel;
  if (type == RangeType::kRank) {
    sel = rank_selection(z->size(), start, end, false);
  } else {
    auto [lo, hi] = type == RangeType::kScore ? score_range_ranks(z->tree(), score_range)
                                              : lex_range_ranks(z->tree(), lex_range);
    sel = {lo, hi - lo, false};
  }
  if (sel.count == 0) return ctx.reply.integer(0);
  // Journal the names before the members are freed.
  std::vector<std::string_view> names;
  names.reserve(sel.count);
  for_selection(z->tree(), sel, [&](ZTree::Pos p) { names.push_back(p.member()->view()); });
  kv::record_zset_removed(ctx.broker.kv(), ctx.client.db, key, names);
  names.clear();
  for (size_t i = 0; i < sel.count; ++i) z->erase_at_rank(sel.start);
  zset_written(ctx, key, event);
  drop_if_empty(ctx, key, z);
  ctx.reply.integer(static_cast<int64_t>(sel.count));
}

void zremrangebyrank(CommandContext& ctx) { zremrange_generic(ctx, RangeType::kRank); }
void zremrangebyscore(CommandContext& ctx) { zremrange_generic(ctx, RangeType::kScore); }
void zremrangebylex(CommandContext& ctx) { zremrange_generic(ctx, RangeType::kLex); }

}  // namespace

void register_zset_range_commands(CommandTable& t) {
  const CommandFamily cmd{"sorted-set"};
  const char* kRead = "@read @sortedset @slow";
  const char* kWriteCat = "@write @sortedset @slow";
  t.add(cmd("zrange", -4, kReadonly, zrange, kRead,
            "Returns members in a sorted set within a range of indexes.", "1.2.0"));
  t.add(cmd("zrangestore", -5, kWrite | kDenyOom, zrangestore, kWriteCat,
            "Stores a range of members from sorted set in a key.", "6.2.0", 1, 2, 1));
  t.add(cmd("zrevrange", -4, kReadonly, zrevrange, kRead,
            "Returns members in a sorted set within a range of indexes in reverse order.",
            "1.2.0"));
  t.add(cmd("zrangebyscore", -4, kReadonly, zrangebyscore, kRead,
            "Returns members in a sorted set within a range of scores.", "1.0.5"));
  t.add(cmd("zrevrangebyscore", -4, kReadonly, zrevrangebyscore, kRead,
            "Returns members in a sorted set within a range of scores in reverse order.", "2.2.0"));
  t.add(cmd("zrangebylex", -4, kReadonly, zrangebylex, kRead,
            "Returns members in a sorted set within a lexicographical range.", "2.8.9"));
  t.add(cmd("zrevrangebylex", -4, kReadonly, zrevrangebylex, kRead,
            "Returns members in a sorted set within a lexicographical range in reverse order.",
            "2.8.9"));
  t.add(cmd("zremrangebyrank", 4, kWrite, zremrangebyrank, kWriteCat,
            "Removes members in a sorted set within a range of indexes. Deletes the sorted set if "
            "all members were removed.",
            "2.0.0"));
  t.add(cmd("zremrangebyscore", 4, kWrite, zremrangebyscore, kWriteCat,
            "Removes members in a sorted set within a range of scores. Deletes the sorted set if "
            "all members were removed.",
            "1.2.0"));
  t.add(cmd("zremrangebylex", 4, kWrite, zremrangebylex, kWriteCat,
            "Removes members in a sorted set within a lexicographical range. Deletes the sorted "
            "set if all members were removed.",
            "2.8.9"));
}

}  // namespace sluice::commands
