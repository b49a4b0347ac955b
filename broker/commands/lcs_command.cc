// LCS: the longest common subsequence of two string values, as Redis 7.0 computes it — the
// classic dynamic-programming table of prefix LCS lengths, then a walk back from the end that
// prefers stepping in the first string on ties, so the subsequence and the IDX match ranges
// (listed from the end of the strings) are the ones Redis reports. The table costs 4 bytes per
// (len(a)+1)(len(b)+1) cell and is refused past proto-max-bulk-len, with Redis's error.
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/kv_support.h"

namespace sluice::commands {
namespace {

using kv::StringObject;

struct Match {
  uint32_t a_start, a_end, b_start, b_end;
};

void lcs(CommandContext& ctx) {
  core::Object* obj_a = lookup_read(ctx, ctx.arg(1));
  core::Object* obj_b = lookup_read(ctx, ctx.arg(2));
  if ((obj_a && obj_a->type() != core::ObjectType::kString) ||
      (obj_b && obj_b->type() != core::ObjectType::kString)) {
    return ctx.error_text("ERR The specified keys must contain string values");
  }
  std::string_view a = obj_a ? std::string_view(static_cast<StringObject*>(obj_a)->value) : "";
  std::string_view b = obj_b ? std::string_view(static_cast<StringObject*>(obj_b)->value) : "";
  bool want_len = false;
  bool want_idx = false;
  bool with_match_len = false;
  int64_t min_match_len = 0;
  for (size_t j = 3; j < ctx.argc(); ++j) {
    std::string_view opt = ctx.arg(j);
    if (iequals(opt, "idx")) {
      want_idx = true;
    } else if (iequals(opt, "len")) {
      want_len = true;
    } else if (iequals(opt, "withmatchlen")) {
      with_match_len = true;
    } else if (iequals(opt, "minmatchlen") && j + 1 < ctx.argc()) {
      if (!int_arg(ctx, ctx.arg(++j), &min_match_len)) return;
      if (min_match_len < 0) min_match_len = 0;
    } else {
      return ctx.syntax_error();
    }
  }
  if (want_idx && want_len) {
    return ctx.error_text("ERR If you want both the length and indexes, please just use IDX.");
  }
  if (a.size() >= UINT32_MAX - 1 || b.size() >= UINT32_MAX - 1) {
    return ctx.error_text("ERR String too long for LCS");
  }
  const uint64_t cells = (static_cast<uint64_t>(a.size()) + 1) * (b.size() + 1);
  if (cells * sizeof(uint32_t) > ctx.broker.config().proto_max_bulk_len) {
    return ctx.error_text(
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
  }
  const auto alen = static_cast<uint32_t>(a.size());
  const auto blen = static_cast<uint32_t>(b.size());
  const size_t row = blen + 1;
  // table[i * row + j]: LCS length of a[0, i) and b[0, j).
  std::vector<uint32_t> table(cells, 0);
  for (uint32_t i = 1; i <= alen; ++i) {
    uint32_t* cur = &table[i * row];
    const uint32_t* up = cur - row;
    const char ca = a[i - 1];
    for (uint32_t j = 1; j <= blen; ++j) {
      cur[j] = ca == b[j - 1] ? up[j - 1] + 1 : std::max(up[j], cur[j - 1]);
    }
  }
  const uint32_t total = table[alen * row + blen];
  if (want_len) return ctx.reply.integer(total);

  std::string common(total, '\0');
  std::vector<Match> matches;
  uint32_t i = alen;
  uint32_t j = blen;
  uint32_t left = total;
  bool in_range = false;
  Match cur{};
  while (i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      common[--left] = a[i - 1];
      if (!in_range) {
        cur = {i - 1, i - 1, j - 1, j - 1};
        in_range = true;
      } else {
        // Walking back along a diagonal extends the current range.
        --cur.a_start;
        --cur.b_start;
      }
      emit = cur.a_start == 0 || cur.b_start == 0;
      --i;
      --j;
    } else {
      if (table[(i - 1) * row + j] > table[i * row + j - 1]) {
        --i;
      } else {
        --j;
      }
      emit = in_range;
    }
    if (emit) {
      const uint32_t len = cur.a_end - cur.a_start + 1;
      if (min_match_len == 0 || len >= static_cast<uint64_t>(min_match_len)) {
        matches.push_back(cur);
      }
      in_range = false;
    }
  }
  if (!want_idx) return ctx.reply.bulk(common);
  ctx.reply.map(2);
  ctx.reply.bulk("matches");
  ctx.reply.array(matches.size());
  for (const Match& m : matches) {
    ctx.reply.array(with_match_len ? 3 : 2);
    ctx.reply.array(2);
    ctx.reply.integer(m.a_start);
    ctx.reply.integer(m.a_end);
    ctx.reply.array(2);
    ctx.reply.integer(m.b_start);
    ctx.reply.integer(m.b_end);
    if (with_match_len) ctx.reply.integer(m.a_end - m.a_start + 1);
  }
  ctx.reply.bulk("len");
  ctx.reply.integer(total);
}

}  // namespace

void register_lcs_commands(CommandTable& t) {
  CommandFamily cmd{"string"};
  t.add(cmd("lcs", -3, kReadonly, lcs, "@read @string @slow", "Find longest common substring",
            "7.0.0", 1, 2, 1));
}

}  // namespace sluice::commands
