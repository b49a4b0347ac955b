// Bitmap commands on string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
// Argument order, error texts and edge cases follow Redis 7.0 (a missing key is an endless run
// of zero bits; writes grow the string with zero bytes and leave it "raw"). Writes journal only
// the bytes they changed (KvStore::record_string_range), BITOP the whole result.
#include <algorithm>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/bit_args.h"
#include "broker/commands/kv_support.h"
#include "broker/kv/bitops.h"

namespace sluice::commands {
namespace {

using kv::StringObject;
namespace bits = kv::bits;

// The string at `key` made ready for a bit write reaching byte `last_byte`: created or grown
// with zero bytes as needed. nullptr after a WRONGTYPE reply. *dirty: created or grown.
StringObject* string_for_bit_write(CommandContext& ctx, std::string_view key, uint64_t last_byte,
                                   bool* dirty) {
  bool replied = false;
  StringObject* s = write_string(ctx, key, &replied);
  if (replied) return nullptr;
  *dirty = false;
  if (!s) {
    s = static_cast<StringObject*>(
        replace_key(ctx, ctx.client.db, key, std::make_unique<StringObject>()));
    *dirty = true;
  }
  if (s->value.size() <= last_byte) {
    s->value.resize(last_byte + 1, '\0');
    *dirty = true;
  }
  return s;
}

// A string that turned "raw" without any other change is journaled whole, so that OBJECT
// ENCODING says the same after a restart.
void journal_raw_flip(CommandContext& ctx, std::string_view key, StringObject* s, bool was_raw) {
  s->raw = true;
  if (!was_raw) ctx.broker.kv().record_string(ctx.client.db, key, *s);
}

void setbit(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  uint64_t offset = 0;
  if (!bit_offset_arg(ctx, ctx.arg(2), 0, &offset)) return;
  int64_t on = 0;
  if (!parse_int(ctx.arg(3), &on) || (on != 0 && on != 1)) {
    return ctx.error_text("ERR bit is not an integer or out of range");
  }
  const uint64_t byte = offset >> 3;
  bool dirty = false;
  StringObject* s = string_for_bit_write(ctx, key, byte, &dirty);
  if (!s) return;
  const bool was_raw = s->raw;
  auto& b = reinterpret_cast<uint8_t&>(s->value[byte]);
  const int shift = 7 - static_cast<int>(offset & 7);
  const int old = (b >> shift) & 1;
  if (dirty || old != on) {
    b = static_cast<uint8_t>((b & ~(1u << shift)) | (static_cast<unsigned>(on) << shift));
    s->raw = true;
    ctx.broker.kv().record_string_range(ctx.client.db, key, byte,
                                        std::string_view(s->value).substr(byte, 1));
    kv_written(ctx, key);
    ctx.broker.notify('$', "setbit", key, ctx.client.db);
  } else {
    journal_raw_flip(ctx, key, s, was_raw);
  }
  ctx.reply.integer(old);
}

void getbit(CommandContext& ctx) {
  uint64_t offset = 0;
  if (!bit_offset_arg(ctx, ctx.arg(2), 0, &offset)) return;
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(s ? bits::get_bit(s->value, offset) : 0);
}

// BITCOUNT/BITPOS's BYTE|BIT argument. Replies on failure.
bool unit_arg(CommandContext& ctx, std::string_view arg, bool* is_bit) {
  if (iequals(arg, "bit")) {
    *is_bit = true;
  } else if (iequals(arg, "byte")) {
    *is_bit = false;
  } else {
    ctx.syntax_error();
    return false;
  }
  return true;
}

// Redis's index normalisation: negative from the end, then clamped into [0, total - 1].
void clamp_range(int64_t total, int64_t* start, int64_t* end) {
  if (*start < 0) *start += total;
  if (*end < 0) *end += total;
  if (*start < 0) *start = 0;
  if (*end < 0) *end = 0;
  if (*end >= total) *end = total - 1;
}

void bitcount(CommandContext& ctx) {
  // Redis 7.0 answers 0 for a missing key before it looks at the range arguments.
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) return ctx.reply.integer(0);
  const auto* p = reinterpret_cast<const uint8_t*>(s->value.data());
  const auto len = static_cast<int64_t>(s->value.size());
  if (ctx.argc() == 2)
    return ctx.reply.integer(static_cast<int64_t>(bits::popcount(p, s->value.size())));
  if (ctx.argc() != 4 && ctx.argc() != 5) return ctx.syntax_error();
  int64_t start = 0;
  int64_t end = 0;
  if (!int_arg(ctx, ctx.arg(2), &start) || !int_arg(ctx, ctx.arg(3), &end)) return;
  if (start < 0 && end < 0 && start > end) return ctx.reply.integer(0);
  bool is_bit = false;
  if (ctx.argc() == 5 && !unit_arg(ctx, ctx.arg(4), &is_bit)) return;
  clamp_range(is_bit ? len * 8 : len, &start, &end);
  if (start > end) return ctx.reply.integer(0);
  if (is_bit) {
    return ctx.reply.integer(static_cast<int64_t>(
        bits::count_range(p, static_cast<uint64_t>(start), static_cast<uint64_t>(end))));
  }
  ctx.reply.integer(
      static_cast<int64_t>(bits::popcount(p + start, static_cast<size_t>(end - start + 1))));
}

void bitpos(CommandContext& ctx) {
  int64_t bit = 0;
  if (!int_arg(ctx, ctx.arg(2), &bit)) return;
  if (bit != 0 && bit != 1) return ctx.error_text("ERR The bit argument must be 1 or 0.");
  bool replied = false;
  StringObject* s = read_string(ctx, ctx.arg(1), &replied);
  if (replied) return;
  // A missing key is an endless run of zeros.
  if (!s) return ctx.reply.integer(bit ? -1 : 0);
  const auto len = static_cast<int64_t>(s->value.size());
  int64_t start = 0;
  int64_t end = len - 1;
  bool is_bit = false;
  bool end_given = false;
  if (ctx.argc() >= 4 && ctx.argc() <= 6) {
    if (!int_arg(ctx, ctx.arg(3), &start)) return;
    if (ctx.argc() == 6 && !unit_arg(ctx, ctx.arg(5), &is_bit)) return;
    if (ctx.argc() >= 5) {
      if (!int_arg(ctx, ctx.arg(4), &end)) return;
      end_given = true;
    }
    clamp_range(is_bit ? len * 8 : len, &start, &end);
  } else if (ctx.argc() != 3) {
    return ctx.syntax_error();
  }
  if (start > end) return ctx.reply.integer(-1);
  const uint64_t first_bit =
      is_bit ? static_cast<uint64_t>(start) : static_cast<uint64_t>(start) * 8;
  const uint64_t last_bit =
      is_bit ? static_cast<uint64_t>(end) : static_cast<uint64_t>(end) * 8 + 7;
  int64_t pos = bits::find_bit(reinterpret_cast<const uint8_t*>(s->value.data()), first_bit,
                               last_bit, bit == 1);
  // Looking for a clear bit without an explicit end, the string counts as zero-padded: the
  // answer is the first bit after it.
  if (pos < 0 && bit == 0 && !end_given) pos = static_cast<int64_t>(last_bit + 1);
  ctx.reply.integer(pos);
}

void bitop(CommandContext& ctx) {
  std::string_view op_name = ctx.arg(1);
  bits::BitOp op;
  if (iequals(op_name, "and")) {
    op = bits::BitOp::kAnd;
  } else if (iequals(op_name, "or")) {
    op = bits::BitOp::kOr;
  } else if (iequals(op_name, "xor")) {
    op = bits::BitOp::kXor;
  } else if (iequals(op_name, "not")) {
    op = bits::BitOp::kNot;
  } else {
    return ctx.syntax_error();
  }
  if (op == bits::BitOp::kNot && ctx.argc() != 4) {
    return ctx.error_text("ERR BITOP NOT must be called with a single source key.");
  }
  std::vector<std::string_view> sources;
  sources.reserve(ctx.argc() - 3);
  for (size_t i = 3; i < ctx.argc(); ++i) {
    bool replied = false;
    StringObject* s = read_string(ctx, ctx.arg(i), &replied);
    if (replied) return;
    sources.push_back(s ? std::string_view(s->value) : std::string_view());
  }
  auto result = std::make_unique<StringObject>();
  bits::bitop(op, sources, &result->value);
  const auto length = static_cast<int64_t>(result->value.size());
  std::string_view dest = ctx.arg(2);
  const int db = ctx.client.db;
  if (length > 0) {
    result->raw = true;
    auto* s = static_cast<StringObject*>(replace_key(ctx, db, dest, std::move(result)));
    ctx.broker.kv().record_string(db, dest, *s);
    kv_written(ctx, dest);
    ctx.broker.notify('$', "set", dest, db);
  } else if (delete_key(ctx, db, dest)) {
    kv_written(ctx, dest);
    ctx.broker.notify('g', "del", dest, db);
  }
  ctx.reply.integer(length);
}

}  // namespace

// BITFIELD lives in bitfield_command.cc.
void register_bitfield_commands(CommandTable& t);

void register_bitmap_commands(CommandTable& t) {
  CommandFamily cmd{"bitmap"};
  const uint32_t kW = kWrite | kDenyOom;
  t.add(cmd("setbit", 4, kW, setbit, "@write @bitmap @slow",
            "Sets or clears the bit at offset in the string value stored at key", "2.2.0"));
  t.add(cmd("getbit", 3, kReadonly | kFast, getbit, "@read @bitmap @fast",
            "Returns the bit value at offset in the string value stored at key", "2.2.0"));
  t.add(cmd("bitcount", -2, kReadonly, bitcount, "@read @bitmap @slow",
            "Count set bits in a string", "2.6.0"));
  t.add(cmd("bitpos", -3, kReadonly, bitpos, "@read @bitmap @slow",
            "Find first bit set or clear in a string", "2.8.7"));
  t.add(cmd("bitop", -4, kW, bitop, "@write @bitmap @slow",
            "Perform bitwise operations between strings", "2.6.0", 2, -1, 1));
  register_bitfield_commands(t);
}

}  // namespace sluice::commands
