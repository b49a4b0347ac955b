// The bit offset argument shared by SETBIT, GETBIT and BITFIELD, with Redis's limit and error.
#pragma once

#include <cstdint>
#include <string_view>

#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"

namespace sluice::commands {

// A bit offset below proto-max-bulk-len bytes. With `field_width` > 0 (BITFIELD), "#N" means
// the N-th field of that width. Replies on failure.
inline bool bit_offset_arg(CommandContext& ctx, std::string_view arg, int field_width,
                           uint64_t* out) {
  const bool hash = field_width > 0 && !arg.empty() && arg[0] == '#';
  if (hash) arg.remove_prefix(1);
  int64_t v = 0;
  bool ok = parse_int(arg, &v) && v >= 0;
  if (ok && hash) ok = !__builtin_mul_overflow(v, static_cast<int64_t>(field_width), &v);
  if (!ok || static_cast<uint64_t>(v >> 3) >= ctx.broker.config().proto_max_bulk_len) {
    ctx.error_text("ERR bit offset is not an integer or out of range");
    return false;
  }
  *out = static_cast<uint64_t>(v);
  return true;
}

}  // namespace sluice::commands
