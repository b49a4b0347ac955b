// BITFIELD and BITFIELD_RO: GET/SET/INCRBY of signed (i1..i64) and unsigned (u1..u63) integers
// at any bit offset of a string ("#N" = the N-th field of that width), with OVERFLOW
// WRAP|SAT|FAIL applying to the operations after it. As in Redis 7.0 every operation is parsed
// before any runs, the string grows once to the farthest bit written, and one "setbit" event
// follows when a field changed or the string was created or grown. The changed bytes are
// journaled as one range.
#include <algorithm>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/bit_args.h"
#include "broker/commands/kv_support.h"
#include "broker/kv/bitops.h"

namespace sluice::commands {
namespace {

using kv::StringObject;
namespace bits = kv::bits;

enum class FieldOp : uint8_t { kGet, kSet, kIncrBy };

struct FieldCommand {
  FieldOp op;
  bits::Overflow overflow;
  bool is_signed;
  int width;
  uint64_t offset;
  int64_t value;  // SET's value or INCRBY's increment
};

// "i1".."i64" or "u1".."u63" (lowercase letter, digits as string2ll reads them).
bool field_type_arg(CommandContext& ctx, std::string_view arg, bool* is_signed, int* width) {
  int64_t n = 0;
  bool ok = arg.size() >= 2 && (arg[0] == 'i' || arg[0] == 'u') && parse_int(arg.substr(1), &n);
  if (ok) {
    *is_signed = arg[0] == 'i';
    ok = n >= 1 && n <= (*is_signed ? 64 : 63);
  }
  if (!ok) {
    ctx.error_text(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but "
        "i64 is.");
    return false;
  }
  *width = static_cast<int>(n);
  return true;
}

// Parses every operation into `out`. Replies on failure.
bool parse_fields(CommandContext& ctx, std::vector<FieldCommand>* out, bool* writes) {
  bits::Overflow overflow = bits::Overflow::kWrap;
  *writes = false;
  for (size_t j = 2; j < ctx.argc(); ++j) {
    const size_t left = ctx.argc() - j - 1;
    std::string_view name = ctx.arg(j);
    FieldCommand f{};
    if (iequals(name, "get") && left >= 2) {
      f.op = FieldOp::kGet;
    } else if (iequals(name, "set") && left >= 3) {
      f.op = FieldOp::kSet;
    } else if (iequals(name, "incrby") && left >= 3) {
      f.op = FieldOp::kIncrBy;
    } else if (iequals(name, "overflow") && left >= 1) {
      std::string_view how = ctx.arg(++j);
      if (iequals(how, "wrap")) {
        overflow = bits::Overflow::kWrap;
      } else if (iequals(how, "sat")) {
        overflow = bits::Overflow::kSat;
      } else if (iequals(how, "fail")) {
        overflow = bits::Overflow::kFail;
      } else {
        ctx.error_text("ERR Invalid OVERFLOW type specified");
        return false;
      }
      continue;
    } else {
      ctx.syntax_error();
      return false;
    }
    f.overflow = overflow;
    if (!field_type_arg(ctx, ctx.arg(j + 1), &f.is_signed, &f.width)) return false;
    if (!bit_offset_arg(ctx, ctx.arg(j + 2), f.width, &f.offset)) return false;
    if (f.op != FieldOp::kGet) {
      if (!int_arg(ctx, ctx.arg(j + 3), &f.value)) return false;
      *writes = true;
      j += 3;
    } else {
      j += 2;
    }
    out->push_back(f);
  }
  return true;
}

void bitfield_generic(CommandContext& ctx, bool read_only_command) {
  static std::vector<FieldCommand> fields;  // reused: the loop runs one command at a time
  fields.clear();
  bool writes = false;
  if (!parse_fields(ctx, &fields, &writes)) return;
  if (read_only_command && writes) {
    return ctx.error_text("ERR BITFIELD_RO only supports the GET subcommand");
  }
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  StringObject* s = nullptr;
  size_t old_len = 0;
  bool was_raw = true;
  bool grew = false;
  if (writes) {
    uint64_t last_bit = 0;
    for (const auto& f : fields) {
      if (f.op != FieldOp::kGet) {
        last_bit = std::max(last_bit, f.offset + static_cast<uint64_t>(f.width) - 1);
      }
    }
    bool replied = false;
    s = write_string(ctx, key, &replied);
    if (replied) return;
    if (!s) {
      s = static_cast<StringObject*>(replace_key(ctx, db, key, std::make_unique<StringObject>()));
      grew = true;
    }
    old_len = s->value.size();
    was_raw = s->raw;
    s->raw = true;
    if (s->value.size() <= (last_bit >> 3)) {
      s->value.resize((last_bit >> 3) + 1, '\0');
      grew = true;
    }
  } else {
    bool replied = false;
    s = read_string(ctx, key, &replied);
    if (replied) return;
  }
  std::string_view value = s ? std::string_view(s->value) : std::string_view();
  auto* p = s ? reinterpret_cast<uint8_t*>(s->value.data()) : nullptr;

  size_t changes = 0;
  uint64_t lo = UINT64_MAX;  // bytes written, for the journal
  uint64_t hi = 0;
  ctx.reply.array(fields.size());
  for (const auto& f : fields) {
    if (f.op == FieldOp::kGet) {
      if (f.is_signed) {
        ctx.reply.integer(bits::get_signed(value, f.offset, f.width));
      } else {
        ctx.reply.integer(static_cast<int64_t>(bits::get_unsigned(value, f.offset, f.width)));
      }
      continue;
    }
    uint64_t stored = 0;
    const uint64_t old_bits = bits::get_unsigned(value, f.offset, f.width);
    int64_t reply_value = 0;
    bool ok;
    if (f.is_signed) {
      const int64_t old = bits::get_signed(value, f.offset, f.width);
      int64_t next = 0;
      ok = f.op == FieldOp::kSet ? bits::add_signed(f.value, 0, f.width, f.overflow, &next)
                                 : bits::add_signed(old, f.value, f.width, f.overflow, &next);
      stored = static_cast<uint64_t>(next);
      reply_value = f.op == FieldOp::kSet ? old : next;
    } else {
      const uint64_t old = bits::get_unsigned(value, f.offset, f.width);
      uint64_t next = 0;
      ok = f.op == FieldOp::kSet
               ? bits::add_unsigned(static_cast<uint64_t>(f.value), 0, f.width, f.overflow, &next)
               : bits::add_unsigned(old, f.value, f.width, f.overflow, &next);
      stored = next;
      reply_value = static_cast<int64_t>(f.op == FieldOp::kSet ? old : next);
    }
    if (!ok) {
      ctx.reply.null();
      continue;
    }
    bits::set_field(p, f.offset, f.width, stored);
    ctx.reply.integer(reply_value);
    // A write that leaves the bits as they were changes nothing (no event), unless the string
    // was created or grown for this command.
    if (!grew && bits::get_unsigned(value, f.offset, f.width) == old_bits) continue;
    ++changes;
    lo = std::min(lo, f.offset >> 3);
    hi = std::max(hi, (f.offset + static_cast<uint64_t>(f.width) - 1) >> 3);
  }
  if (!writes) return;
  // Growth is journaled even when every write failed, so the length survives a restart.
  if (s->value.size() > old_len) {
    lo = std::min<uint64_t>(lo, old_len);
    hi = s->value.size() - 1;
  }
  if (lo <= hi) {
    ctx.broker.kv().record_string_range(db, key, lo,
                                        std::string_view(s->value).substr(lo, hi - lo + 1));
  } else if (!was_raw) {
    ctx.broker.kv().record_string(db, key, *s);
  }
  if (changes > 0) {
    kv_written(ctx, key);
    ctx.broker.notify('$', "setbit", key, db);
  }
}

void bitfield(CommandContext& ctx) { bitfield_generic(ctx, false); }
void bitfield_ro(CommandContext& ctx) { bitfield_generic(ctx, true); }

}  // namespace

void register_bitfield_commands(CommandTable& t) {
  CommandFamily cmd{"bitmap"};
  t.add(cmd("bitfield", -2, kWrite | kDenyOom, bitfield, "@write @bitmap @slow",
            "Perform arbitrary bitfield integer operations on strings", "3.2.0"));
  t.add(cmd("bitfield_ro", -2, kReadonly | kFast, bitfield_ro, "@read @bitmap @fast",
            "Perform arbitrary bitfield integer operations on strings. Read-only variant of "
            "BITFIELD",
            "6.0.0"));
}

}  // namespace sluice::commands
