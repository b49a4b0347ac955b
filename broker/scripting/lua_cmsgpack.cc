// cmsgpack: MessagePack for Lua scripts with the behaviour of lua-cmsgpack 0.4, the version Redis
// bundles (cmsgpack.pack, unpack, unpack_one, unpack_limit). Written for Sluice from the
// MessagePack specification and that library's documented behaviour.
//
// pack(v1, v2, ...) concatenates the encodings of its arguments:
//   nil, booleans; numbers that hold an integer (finite, equal to their int64 conversion) as the
//   smallest MessagePack integer, others as float32 when that is exact, else float64; strings as
//   fixstr / str8 / str16 / str32; a table whose keys are exactly 1..n as an array, any other
//   table as a map (nested deeper than 16 tables, or a function/userdata: nil).
// unpack(s) returns every value encoded in s; unpack_one(s [, offset]) and
// unpack_limit(s, limit [, offset]) return the offset to continue from (-1 at the end) and then
// the values. Bad input raises "Missing bytes in input." or "Bad data format in input.".
//
// Encoding appends to one reused buffer (no Lua calls can raise between its use and the result
// except out-of-memory); decoding pushes values as it reads and holds only plain C values.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <lua.hpp>
#include <string>

#include "broker/scripting/lua_libs.h"

namespace sluice::scripting {
namespace {

constexpr int kMaxNesting = 16;

// The encode buffer, reused across calls (the loop is single-threaded).
std::string& encode_buffer() {
  static std::string buffer;
  return buffer;
}

void put_be(std::string& out, uint8_t tag, uint64_t v, int bytes) {
  char b[9];
  b[0] = static_cast<char>(tag);
  for (int i = 0; i < bytes; ++i) b[1 + i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
  out.append(b, static_cast<size_t>(bytes) + 1);
}

void encode_integer(std::string& out, int64_t v) {
  if (v >= 0) {
    auto u = static_cast<uint64_t>(v);
    if (u < 128) {
      out.push_back(static_cast<char>(u));
    } else if (u <= 0xff) {
      put_be(out, 0xcc, u, 1);
    } else if (u <= 0xffff) {
      put_be(out, 0xcd, u, 2);
    } else if (u <= 0xffffffffull) {
      put_be(out, 0xce, u, 4);
    } else {
      put_be(out, 0xcf, u, 8);
    }
    return;
  }
  auto u = static_cast<uint64_t>(v);
  if (v >= -32) {
    out.push_back(static_cast<char>(v));
  } else if (v >= -128) {
    put_be(out, 0xd0, u, 1);
  } else if (v >= -32768) {
    put_be(out, 0xd1, u, 2);
  } else if (v >= -2147483648ll) {
    put_be(out, 0xd2, u, 4);
  } else {
    put_be(out, 0xd3, u, 8);
  }
}

void encode_number(std::string& out, lua_Number n) {
  if (!std::isinf(n) && !std::isnan(n) && n >= -9223372036854775808.0 &&
      n < 9223372036854775808.0 && static_cast<lua_Number>(static_cast<int64_t>(n)) == n) {
    encode_integer(out, static_cast<int64_t>(n));
    return;
  }
  auto f = static_cast<float>(n);
  if (static_cast<double>(f) == n) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_be(out, 0xca, bits, 4);
  } else {
    uint64_t bits;
    std::memcpy(&bits, &n, sizeof bits);
    put_be(out, 0xcb, bits, 8);
  }
}

void encode_string(std::string& out, const char* s, size_t len) {
  if (len < 32) {
    out.push_back(static_cast<char>(0xa0 | len));
  } else if (len <= 0xff) {
    put_be(out, 0xd9, len, 1);
  } else if (len <= 0xffff) {
    put_be(out, 0xda, len, 2);
  } else {
    put_be(out, 0xdb, len, 4);
  }
  out.append(s, len);
}

// The table at the top: array length when its keys are exactly 1..n, else -1.
long array_length(lua_State* L) {
  long count = 0;
  lua_Number max = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return -1;
    }
    lua_Number k = lua_tonumber(L, -1);
    if (k <= 0 || std::floor(k) != k) {
      lua_pop(L, 1);
      return -1;
    }
    if (k > max) max = k;
    ++count;
  }
  return max == static_cast<lua_Number>(count) ? count : -1;
}

void encode_value(lua_State* L, std::string& out, int level);

void encode_table(lua_State* L, std::string& out, int level) {
  luaL_checkstack(L, 3, "cmsgpack: nesting too deep");
  long n = array_length(L);
  if (n >= 0) {
    if (n < 16) {
      out.push_back(static_cast<char>(0x90 | n));
    } else if (n <= 0xffff) {
      put_be(out, 0xdc, static_cast<uint64_t>(n), 2);
    } else {
      put_be(out, 0xdd, static_cast<uint64_t>(n), 4);
    }
    for (long i = 1; i <= n; ++i) {
      lua_rawgeti(L, -1, static_cast<int>(i));
      encode_value(L, out, level + 1);
    }
    return;
  }
  uint64_t pairs = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    ++pairs;
  }
  if (pairs < 16) {
    out.push_back(static_cast<char>(0x80 | pairs));
  } else if (pairs <= 0xffff) {
    put_be(out, 0xde, pairs, 2);
  } else {
    put_be(out, 0xdf, pairs, 4);
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    encode_value(L, out, level + 1);  // key
    encode_value(L, out, level + 1);  // value
  }
}

// Encodes the value on top and pops it.
void encode_value(lua_State* L, std::string& out, int level) {
  int t = lua_type(L, -1);
  if (t == LUA_TTABLE && level == kMaxNesting) t = LUA_TNIL;
  switch (t) {
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      encode_string(out, s, len);
      break;
    }
    case LUA_TBOOLEAN:
      out.push_back(static_cast<char>(lua_toboolean(L, -1) ? 0xc3 : 0xc2));
      break;
    case LUA_TNUMBER:
      encode_number(out, lua_tonumber(L, -1));
      break;
    case LUA_TTABLE:
      encode_table(L, out, level);
      break;
    default:
      out.push_back(static_cast<char>(0xc0));
  }
  lua_pop(L, 1);
}

int cmsgpack_pack(lua_State* L) {
  int n = lua_gettop(L);
  if (n == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  std::string& out = encode_buffer();
  out.clear();
  for (int i = 1; i <= n; ++i) {
    lua_pushvalue(L, i);
    encode_value(L, out, 0);
  }
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

// --- decoding ----------------------------------------------------------------------------------

enum class DecodeError { kNone, kEof, kBadFormat };

struct Cursor {
  const unsigned char* p;
  size_t left;
  DecodeError err = DecodeError::kNone;
  bool need(size_t n) {
    if (left < n) err = DecodeError::kEof;
    return err == DecodeError::kNone;
  }
  uint64_t be(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    p += n;
    left -= n;
    return v;
  }
};

void decode_value(lua_State* L, Cursor& c);

void decode_string(lua_State* L, Cursor& c, size_t len_bytes, size_t fixed_len) {
  size_t len = fixed_len;
  if (len_bytes > 0) {
    if (!c.need(len_bytes)) return;
    len = static_cast<size_t>(c.be(len_bytes));
  }
  if (!c.need(len)) return;
  lua_pushlstring(L, reinterpret_cast<const char*>(c.p), len);
  c.p += len;
  c.left -= len;
}

void decode_array(lua_State* L, Cursor& c, uint64_t n) {
  luaL_checkstack(L, 3, "cmsgpack: nesting too deep");
  lua_newtable(L);
  for (uint64_t i = 0; i < n && c.err == DecodeError::kNone; ++i) {
    lua_pushnumber(L, static_cast<lua_Number>(i + 1));
    decode_value(L, c);
    if (c.err != DecodeError::kNone) return;
    lua_settable(L, -3);
  }
}

void decode_map(lua_State* L, Cursor& c, uint64_t n) {
  luaL_checkstack(L, 3, "cmsgpack: nesting too deep");
  lua_newtable(L);
  for (uint64_t i = 0; i < n && c.err == DecodeError::kNone; ++i) {
    decode_value(L, c);
    if (c.err != DecodeError::kNone) return;
    decode_value(L, c);
    if (c.err != DecodeError::kNone) return;
    lua_settable(L, -3);
  }
}

void decode_value(lua_State* L, Cursor& c) {
  if (!c.need(1)) return;
  unsigned tag = c.p[0];
  ++c.p;
  --c.left;
  if (tag < 0x80) return lua_pushnumber(L, tag);
  if (tag >= 0xe0) return lua_pushnumber(L, static_cast<int8_t>(tag));
  if ((tag & 0xe0) == 0xa0) return decode_string(L, c, 0, tag & 0x1f);
  if ((tag & 0xf0) == 0x90) return decode_array(L, c, tag & 0x0f);
  if ((tag & 0xf0) == 0x80) return decode_map(L, c, tag & 0x0f);
  switch (tag) {
    case 0xc0:
      return lua_pushnil(L);
    case 0xc2:
      return lua_pushboolean(L, 0);
    case 0xc3:
      return lua_pushboolean(L, 1);
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
      size_t n = size_t{1} << (tag - 0xcc);
      if (!c.need(n)) return;
      return lua_pushnumber(L, static_cast<lua_Number>(c.be(n)));
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      size_t n = size_t{1} << (tag - 0xd0);
      if (!c.need(n)) return;
      uint64_t v = c.be(n);
      if (n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);
      return lua_pushnumber(L, static_cast<lua_Number>(static_cast<int64_t>(v)));
    }
    case 0xca: {
      if (!c.need(4)) return;
      auto bits = static_cast<uint32_t>(c.be(4));
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return lua_pushnumber(L, f);
    }
    case 0xcb: {
      if (!c.need(8)) return;
      uint64_t bits = c.be(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return lua_pushnumber(L, d);
    }
    case 0xd9:
    case 0xc4:
      return decode_string(L, c, 1, 0);
    case 0xda:
    case 0xc5:
      return decode_string(L, c, 2, 0);
    case 0xdb:
    case 0xc6:
      return decode_string(L, c, 4, 0);
    case 0xdc:
      if (!c.need(2)) return;
      return decode_array(L, c, c.be(2));
    case 0xdd:
      if (!c.need(4)) return;
      return decode_array(L, c, c.be(4));
    case 0xde:
      if (!c.need(2)) return;
      return decode_map(L, c, c.be(2));
    case 0xdf:
      if (!c.need(4)) return;
      return decode_map(L, c, c.be(4));
    default:
      c.err = DecodeError::kBadFormat;
  }
}

// Decodes up to `limit` values from `offset` (limit < 0: all). With offsets (unpack_one,
// unpack_limit) the next offset comes first, -1 once the input is used up.
int unpack(lua_State* L, lua_Integer limit, lua_Integer offset, bool with_offset) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  if (offset < 0 || (with_offset && limit < 0)) {
    return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.",
                      static_cast<int>(offset), static_cast<int>(len));
  }
  if (static_cast<size_t>(offset) > len) {
    return luaL_error(L, "Start offset %d greater than input length %d.", static_cast<int>(offset),
                      static_cast<int>(len));
  }
  Cursor c{reinterpret_cast<const unsigned char*>(s) + offset, len - static_cast<size_t>(offset)};
  int base = lua_gettop(L);
  lua_Integer count = 0;
  while (c.left > 0 && (limit < 0 || count < limit)) {
    luaL_checkstack(L, 2, "cmsgpack: too many results");
    decode_value(L, c);
    if (c.err == DecodeError::kEof) {
      lua_settop(L, base);
      return luaL_error(L, "Missing bytes in input.");
    }
    if (c.err == DecodeError::kBadFormat) {
      lua_settop(L, base);
      return luaL_error(L, "Bad data format in input.");
    }
    ++count;
  }
  if (!with_offset) return static_cast<int>(count);
  lua_pushinteger(L, c.left == 0 ? -1 : static_cast<lua_Integer>(len - c.left));
  lua_insert(L, base + 1);
  return static_cast<int>(count) + 1;
}

int cmsgpack_unpack(lua_State* L) { return unpack(L, -1, 0, false); }

int cmsgpack_unpack_one(lua_State* L) {
  lua_Integer offset = luaL_optinteger(L, 2, 0);
  lua_settop(L, 1);
  return unpack(L, 1, offset, true);
}

int cmsgpack_unpack_limit(lua_State* L) {
  lua_Integer limit = luaL_checkinteger(L, 2);
  lua_Integer offset = luaL_optinteger(L, 3, 0);
  lua_settop(L, 1);
  return unpack(L, limit, offset, true);
}

const luaL_Reg kCmsgpackFunctions[] = {{"pack", cmsgpack_pack},
                                       {"unpack", cmsgpack_unpack},
                                       {"unpack_one", cmsgpack_unpack_one},
                                       {"unpack_limit", cmsgpack_unpack_limit},
                                       {nullptr, nullptr}};

}  // namespace

int luaopen_cmsgpack(lua_State* L) {
  luaL_register(L, luaL_checkstring(L, 1), kCmsgpackFunctions);
  lua_pushliteral(L, "cmsgpack");
  lua_setfield(L, -2, "_NAME");
  lua_pushliteral(L, "lua-cmsgpack 0.4.0");
  lua_setfield(L, -2, "_VERSION");
  lua_pushliteral(L, "Copyright (C) 2012, Salvatore Sanfilippo");
  lua_setfield(L, -2, "_COPYRIGHT");
  lua_pushliteral(L, "MessagePack C implementation for Lua");
  lua_setfield(L, -2, "_DESCRIPTION");
  return 1;
}

}  // namespace sluice::scripting
