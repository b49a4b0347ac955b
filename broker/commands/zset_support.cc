#include "broker/commands/zset_support.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/kv_support.h"
#include "broker/kv/zset_records.h"

namespace sluice::commands {
namespace {

// strtod needs a terminated string: short arguments are copied to the stack.
template <typename F>
auto with_cstr(std::string_view s, F&& fn) {
  char small[128];
  if (s.size() < sizeof(small)) {
    std::memcpy(small, s.data(), s.size());
    small[s.size()] = '\0';
    return fn(static_cast<const char*>(small), s.size());
  }
  std::string big(s);
  return fn(big.c_str(), big.size());
}

// One bound of zslParseRange: strtod up to the first NUL (the C string Redis sees), any NaN
// refused.
bool parse_range_item(std::string_view s, double* out, bool* exclusive) {
  *exclusive = !s.empty() && s[0] == '(';
  if (*exclusive) s.remove_prefix(1);
  return with_cstr(s, [&](const char* c, size_t) {
    char* end = nullptr;
    double v = std::strtod(c, &end);
    if (*end != '\0' || std::isnan(v)) return false;
    *out = v;
    return true;
  });
}

bool parse_lex_item(std::string_view s, LexBound* out) {
  if (s.empty()) return false;
  switch (s[0]) {
    case '+':
    case '-':
      if (s.size() != 1) return false;
      out->kind = s[0] == '+' ? LexBound::kPosInf : LexBound::kNegInf;
      return true;
    case '(':
    case '[':
      out->kind = s[0] == '(' ? LexBound::kExclusive : LexBound::kInclusive;
      out->value = s.substr(1);
      return true;
    default:
      return false;
  }
}

}  // namespace

kv::ZSetLimits zset_limits(core::Broker& broker) {
  const auto& c = broker.config();
  return {static_cast<size_t>(c.zset_max_listpack_entries),
          static_cast<size_t>(c.zset_max_listpack_value)};
}

kv::ZSetObject* read_zset(CommandContext& ctx, std::string_view key, bool* replied) {
  return read_typed<kv::ZSetObject, core::ObjectType::kZSet>(ctx, key, replied);
}

kv::ZSetObject* write_zset(CommandContext& ctx, std::string_view key, bool* replied) {
  return write_typed<kv::ZSetObject, core::ObjectType::kZSet>(ctx, key, replied);
}

bool parse_score(std::string_view s, double* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  return with_cstr(s, [&](const char* c, size_t len) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(c, &end);
    if (static_cast<size_t>(end - c) != len || std::isnan(v)) return false;
    if (errno == ERANGE && (std::isinf(v) || v == 0)) return false;
    *out = v;
    return true;
  });
}

bool parse_score_range(std::string_view min, std::string_view max, ScoreRange* out) {
  return parse_range_item(min, &out->min, &out->minex) &&
         parse_range_item(max, &out->max, &out->maxex);
}

bool parse_lex_range(std::string_view min, std::string_view max, LexRange* out) {
  return parse_lex_item(min, &out->min) && parse_lex_item(max, &out->max);
}

std::pair<size_t, size_t> score_range_ranks(const kv::ZTree& tree, const ScoreRange& r) {
  size_t first =
      tree.seek([&](double s, const kv::ZMember*) { return r.minex ? s <= r.min : s < r.min; })
          .rank;
  size_t last =
      tree.seek([&](double s, const kv::ZMember*) { return r.maxex ? s < r.max : s <= r.max; })
          .rank;
  return {first, last < first ? first : last};
}

std::pair<size_t, size_t> lex_range_ranks(const kv::ZTree& tree, const LexRange& r) {
  auto before_min = [&](double, const kv::ZMember* m) {
    switch (r.min.kind) {
      case LexBound::kNegInf:
        return false;
      case LexBound::kPosInf:
        return true;
      case LexBound::kInclusive:
        return kv::compare_members(m->view(), r.min.value) < 0;
      case LexBound::kExclusive:
        return kv::compare_members(m->view(), r.min.value) <= 0;
    }
    return false;
  };
  auto within_max = [&](double, const kv::ZMember* m) {
    switch (r.max.kind) {
      case LexBound::kNegInf:
        return false;
      case LexBound::kPosInf:
        return true;
      case LexBound::kInclusive:
        return kv::compare_members(m->view(), r.max.value) <= 0;
      case LexBound::kExclusive:
        return kv::compare_members(m->view(), r.max.value) < 0;
    }
    return false;
  };
  size_t first = tree.seek(before_min).rank;
  size_t last = tree.seek(within_max).rank;
  return {first, last < first ? first : last};
}

size_t format_score(double score, char* buf) {
  if (std::isinf(score)) {
    const char* text = score > 0 ? "inf" : "-inf";
    size_t n = score > 0 ? 3 : 4;
    std::memcpy(buf, text, n);
    return n;
  }
  auto [end, ec] = std::to_chars(buf, buf + 32, score, std::chars_format::general, 17);
  return static_cast<size_t>(end - buf);
}

void reply_score(wire::resp::ReplyWriter& w, double score) {
  char buf[64];
  char* text = buf + 8;
  size_t n = format_score(score, text);
  std::string* out = w.buffer();
  if (w.resp3()) {
    out->push_back(',');
    out->append(text, n);
    out->append("\r\n", 2);
    return;
  }
  wire::resp::ReplyWriter::append_bulk(out, std::string_view(text, n));
}

void zset_written(CommandContext& ctx, std::string_view key, const char* event) {
  const int db = ctx.client.db;
  kv_written(ctx, key);
  ctx.broker.notify('z', event, key, db);
  ctx.broker.blocking().signal(db, key);
}

void store_zset(CommandContext& ctx, std::string_view dst, std::unique_ptr<kv::ZSetObject> result,
                const char* event) {
  const int db = ctx.client.db;
  if (!result || result->size() == 0) {
    if (delete_key(ctx, db, dst)) {
      ctx.broker.notify('g', "del", dst, db);
      ctx.wrote = true;
    }
    return;
  }
  result->convert_if_small(zset_limits(ctx.broker));
  auto* stored = static_cast<kv::ZSetObject*>(replace_key(ctx, db, dst, std::move(result)));
  kv::record_zset_value(ctx.broker.kv(), db, dst, *stored);
  zset_written(ctx, dst, event);
}

void drop_if_empty(CommandContext& ctx, std::string_view key, const kv::ZSetObject* z) {
  if (z->size() != 0) return;
  // The removal record emptied the set on replay too; no delete record is needed.
  ctx.db().remove(key);
  ctx.broker.notify('g', "del", key, ctx.client.db);
}

}  // namespace sluice::commands
