// Shared pieces of the sorted set commands: typed lookups, Redis 7.0's score and range parsing
// (with its error words), score replies, range-to-rank resolution over the B+tree, and the write
// bookkeeping after an effect (journal, WATCH, keyspace event, blocked clients).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "broker/commands/context.h"
#include "broker/kv/zset_object.h"

namespace sluice::commands {

// Registration of each file's commands (called in order by register_zset_commands).
void register_zset_range_commands(CommandTable& table);
void register_zset_pop_commands(CommandTable& table);
void register_zset_algebra_commands(CommandTable& table);

// ZADD's options (GEOADD takes NX, XX and CH).
enum ZAddFlag : unsigned {
  kZAddNx = 1,
  kZAddXx = 2,
  kZAddGt = 4,
  kZAddLt = 8,
  kZAddIncr = 16,
  kZAddCh = 32,
};
// ZADD's checks of its options against the number of score-member pairs; replies on error.
bool zadd_check_flags(CommandContext& ctx, unsigned flags, size_t pairs);
// ZADD on the key ctx.arg(1) once its arguments are parsed and checked: adds or updates the
// members, journals the effect and replies (the count, or the score under INCR).
void zadd_scores(CommandContext& ctx, unsigned flags, std::span<const double> scores,
                 std::span<const std::string_view> members);

inline constexpr const char* kScoreRangeErr = "ERR min or max is not a float";
inline constexpr const char* kLexRangeErr = "ERR min or max not valid string range item";

kv::ZSetLimits zset_limits(core::Broker& broker);
kv::ZSetObject* read_zset(CommandContext& ctx, std::string_view key, bool* replied);
kv::ZSetObject* write_zset(CommandContext& ctx, std::string_view key, bool* replied);

// Redis's getDoubleFromObject (ZADD scores, ZINCRBY): strtod over the whole argument, no leading
// space, no NaN, no overflow or underflow to zero.
bool parse_score(std::string_view s, double* out);

// A score interval as zslParseRange reads it: "(" makes a bound exclusive; inf, -inf, +inf.
struct ScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;
};
bool parse_score_range(std::string_view min, std::string_view max, ScoreRange* out);

// A member interval as zslParseLexRange reads it: "-", "+", "[x" or "(x".
struct LexBound {
  enum Kind : uint8_t { kNegInf, kPosInf, kInclusive, kExclusive } kind = kNegInf;
  std::string_view value;
};
struct LexRange {
  LexBound min, max;
};
bool parse_lex_range(std::string_view min, std::string_view max, LexRange* out);

// The ranks [first, last) of the members inside a range (first == last when empty).
std::pair<size_t, size_t> score_range_ranks(const kv::ZTree& tree, const ScoreRange& r);
std::pair<size_t, size_t> lex_range_ranks(const kv::ZTree& tree, const LexRange& r);

// A score in Redis 7.0's spelling: RESP2 bulk "%.17g" ("inf", "-inf"), RESP3 double.
void reply_score(wire::resp::ReplyWriter& w, double score);
// The text of a score ("%.17g", inf, -inf) into buf (>= 32 bytes); returns its length.
size_t format_score(double score, char* buf);

// After an effect on the zset at `key` of the client's db: WATCH, durability hold, keyspace
// event, waiters of BZPOPMIN & co. The caller has journaled the effect.
void zset_written(CommandContext& ctx, std::string_view key, const char* event);
// Puts a command's result set at `dst` (STORE forms), journaled, with keyspace event `event`;
// an empty or null result deletes `dst` instead ("del").
void store_zset(CommandContext& ctx, std::string_view dst, std::unique_ptr<kv::ZSetObject> result,
                const char* event);
// Removes an emptied set (journaled by the removal record's replay) and emits "del".
void drop_if_empty(CommandContext& ctx, std::string_view key, const kv::ZSetObject* z);

}  // namespace sluice::commands
