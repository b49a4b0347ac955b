// Conversions between RESP replies and Lua values, as Redis 7.0 converts them.
//
// Command reply -> Lua (what redis.call returns), read straight from the reply's bytes:
//   integer -> number; bulk -> string; null bulk / null array -> false (RESP2 replies) or nil
//   (the RESP3 null); status -> {ok=...}; error -> {err=..., ignore_error_stats_update=true};
//   array -> array table; RESP3 (redis.setresp(3)): map -> {map={k=v...}}, set -> {set={m=true}},
//   double -> {double=n}, boolean -> boolean, big number -> {big_number=s}, verbatim ->
//   {verbatim_string={string=s, format=f}}; attributes are skipped.
// Lua -> the script's reply: number -> integer (truncated); string -> bulk; true -> 1 (RESP2
// script)
//   or a boolean; false -> null or a boolean; nil -> null; a table with err / ok / double /
//   big_number / verbatim_string / map / set fields -> that reply; any other table -> an array of
//   its elements 1..n up to the first nil.
#pragma once

#include <cstddef>

#include "wire/resp/reply_writer.h"

struct lua_State;

namespace sluice::scripting {

// Pushes the reply in [p, end) onto L (one value). Returns the byte after the reply, or nullptr
// when the bytes are not one well-formed reply (nothing usable is then left on the stack). Holds
// no C++ object across Lua calls (a memory error may longjmp out of it).
const char* push_reply(lua_State* L, const char* p, const char* end);

// Converts the value on top of L (and pops it) into a reply written by `out`. `script_resp` is
// the protocol the script chose with redis.setresp (Lua booleans depend on it). Runs in protected
// mode: a Lua error while converting (out of memory) leaves an error reply instead.
void write_reply(lua_State* L, wire::resp::ReplyWriter& out, int script_resp);

// A Lua number as Redis sends it as a command argument ("%.17g"), into buf (>= 32 bytes);
// returns the length.
size_t format_number_arg(double value, char* buf);

// A Lua number as an integer reply: truncated toward zero; NaN and out-of-range values become
// INT64_MIN, as the x86 conversion Redis relies on gives.
int64_t lua_number_to_int64(double value);

}  // namespace sluice::scripting
