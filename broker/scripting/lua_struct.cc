// struct: binary packing for Lua scripts, with the semantics of the struct library Redis bundles
// (struct.pack, struct.unpack, struct.size). Written for Sluice from its documented behaviour.
//
// A format is a sequence of options:
//   >  <  =  !n   big, little, native endian; maximum alignment n (default: the native one)
//   b B h H l L T i[n] I[n]   signed/unsigned char, short, long, size_t, int of n bytes (<= 32)
//   f d          float, double
//   s            zero-terminated string
//   c[n]         n raw bytes (pack: c0 = the whole string; unpack: c0 = the previous number read)
//   x            one padding byte;  ' ' is ignored
// Integers are packed from Lua numbers through a signed or unsigned 64-bit integer; unpack returns
// the values and then the position after the last byte read.
//
// Only plain C values live in these functions: luaL_* checks may longjmp out of any of them.
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstring>
#include <lua.hpp>

#include "broker/scripting/lua_libs.h"

namespace sluice::scripting {
namespace {

constexpr int kMaxIntSize = 32;
constexpr bool kNativeLittle = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
// The platform's strictest alignment for these types (a double's, or an int's if larger).
constexpr int kMaxAlign = alignof(double) > sizeof(int) ? alignof(double) : sizeof(int);

struct Format {
  bool little = kNativeLittle;
  int align = 1;
};

int read_number(lua_State* L, const char** fmt, int fallback) {
  if (!std::isdigit(static_cast<unsigned char>(**fmt))) return fallback;
  int n = 0;
  do {
    int digit = *(*fmt)++ - '0';
    if (n > (INT_MAX - digit) / 10) luaL_error(L, "integral size overflow");
    n = n * 10 + digit;
  } while (std::isdigit(static_cast<unsigned char>(**fmt)));
  return n;
}

size_t option_size(lua_State* L, int opt, const char** fmt) {
  switch (opt) {
    case 'B':
    case 'b':
      return sizeof(char);
    case 'H':
    case 'h':
      return sizeof(short);
    case 'L':
    case 'l':
      return sizeof(long);
    case 'T':
      return sizeof(size_t);
    case 'f':
      return sizeof(float);
    case 'd':
      return sizeof(double);
    case 'x':
      return 1;
    case 'c':
      return static_cast<size_t>(read_number(L, fmt, 1));
    case 'i':
    case 'I': {
      int size = read_number(L, fmt, sizeof(int));
      if (size > kMaxIntSize) {
        luaL_error(L, "integral size %d is larger than limit of %d", size, kMaxIntSize);
      }
      return static_cast<size_t>(size);
    }
    default:
      return 0;
  }
}

// Padding bytes before an item of `size` at offset `at`.
size_t padding(size_t at, const Format& f, int opt, size_t size) {
  if (size == 0 || opt == 'c') return 0;
  if (size > static_cast<size_t>(f.align)) size = static_cast<size_t>(f.align);
  return (size - (at & (size - 1))) & (size - 1);
}

void control_option(lua_State* L, int opt, const char** fmt, Format* f) {
  switch (opt) {
    case ' ':
      return;
    case '>':
      f->little = false;
      return;
    case '<':
      f->little = true;
      return;
    case '=':
      f->little = kNativeLittle;
      return;
    case '!': {
      int a = read_number(L, fmt, kMaxAlign);
      if (a <= 0 || (a & (a - 1)) != 0) luaL_error(L, "alignment %d is not a power of 2", a);
      f->align = a;
      return;
    }
    default: {
      const char* msg = lua_pushfstring(L, "invalid format option '%c'", opt);
      luaL_argerror(L, 1, msg);
    }
  }
}

void put_integer(lua_State* L, luaL_Buffer* b, int arg, bool little, size_t size) {
  lua_Number n = luaL_checknumber(L, arg);
  uint64_t value =
      n < 0 ? static_cast<uint64_t>(static_cast<int64_t>(n)) : static_cast<uint64_t>(n);
  char bytes[kMaxIntSize];
  for (size_t i = 0; i < size; ++i) {
    bytes[little ? i : size - 1 - i] = static_cast<char>(value & 0xff);
    value = i < 7 ? value >> 8 : 0;
  }
  luaL_addlstring(b, bytes, size);
}

// Native bytes of a float or double, reversed when the format's order is not the native one.
void fix_order(char* bytes, size_t size, bool little) {
  if (little == kNativeLittle) return;
  for (size_t i = 0, j = size - 1; i < j; ++i, --j) {
    char t = bytes[i];
    bytes[i] = bytes[j];
    bytes[j] = t;
  }
}

int struct_pack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Format f;
  int arg = 2;
  size_t total = 0;
  lua_pushnil(L);  // keeps the arguments apart from the buffer's stack use
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (*fmt != '\0') {
    int opt = *fmt++;
    size_t size = option_size(L, opt, &fmt);
    size_t pad = padding(total, f, opt, size);
    total += pad;
    while (pad-- > 0) luaL_addchar(&b, '\0');
    switch (opt) {
      case 'b':
      case 'B':
      case 'h':
      case 'H':
      case 'l':
      case 'L':
      case 'T':
      case 'i':
      case 'I':
        put_integer(L, &b, arg++, f.little, size);
        break;
      case 'x':
        luaL_addchar(&b, '\0');
        break;
      case 'f': {
        float v = static_cast<float>(luaL_checknumber(L, arg++));
        char bytes[sizeof v];
        std::memcpy(bytes, &v, sizeof v);
        fix_order(bytes, sizeof v, f.little);
        luaL_addlstring(&b, bytes, sizeof v);
        break;
      }
      case 'd': {
        double v = luaL_checknumber(L, arg++);
        char bytes[sizeof v];
        std::memcpy(bytes, &v, sizeof v);
        fix_order(bytes, sizeof v, f.little);
        luaL_addlstring(&b, bytes, sizeof v);
        break;
      }
      case 'c':
      case 's': {
        size_t len = 0;
        const char* s = luaL_checklstring(L, arg++, &len);
        if (size == 0) size = len;
        luaL_argcheck(L, len >= size, arg, "string too short");
        luaL_addlstring(&b, s, size);
        if (opt == 's') {
          luaL_addchar(&b, '\0');
          ++size;
        }
        break;
      }
      default:
        control_option(L, opt, &fmt, &f);
    }
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

lua_Number get_integer(const char* bytes, bool little, bool is_signed, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) {
    size_t at = little ? size - 1 - i : i;
    v = (v << 8) | static_cast<unsigned char>(bytes[at]);
  }
  if (!is_signed) return static_cast<lua_Number>(v);
  if (size < 8) {
    uint64_t sign = uint64_t{1} << (size * 8 - 1);
    if (v & sign) v |= ~uint64_t{0} << (size * 8 - 1);
  }
  return static_cast<lua_Number>(static_cast<int64_t>(v));
}

int struct_unpack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  size_t len = 0;
  const char* data = luaL_checklstring(L, 2, &len);
  lua_Integer start = luaL_optinteger(L, 3, 1);
  luaL_argcheck(L, start >= 1, 3, "offset must be 1 or greater");
  size_t pos = static_cast<size_t>(start) - 1;
  Format f;
  int n = 0;
  while (*fmt) {
    int opt = *fmt++;
    size_t size = option_size(L, opt, &fmt);
    pos += padding(pos, f, opt, size);
    luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");
    switch (opt) {
      case 'b':
      case 'B':
      case 'h':
      case 'H':
      case 'l':
      case 'L':
      case 'T':
      case 'i':
      case 'I':
        lua_pushnumber(L, get_integer(data + pos, f.little, std::islower(opt) != 0, size));
        ++n;
        break;
      case 'x':
        break;
      case 'f': {
        char bytes[sizeof(float)];
        std::memcpy(bytes, data + pos, sizeof bytes);
        fix_order(bytes, sizeof bytes, f.little);
        float v;
        std::memcpy(&v, bytes, sizeof v);
        lua_pushnumber(L, v);
        ++n;
        break;
      }
      case 'd': {
        char bytes[sizeof(double)];
        std::memcpy(bytes, data + pos, sizeof bytes);
        fix_order(bytes, sizeof bytes, f.little);
        double v;
        std::memcpy(&v, bytes, sizeof v);
        lua_pushnumber(L, v);
        ++n;
        break;
      }
      case 'c':
        if (size == 0) {
          if (n == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
          size = static_cast<size_t>(lua_tonumber(L, -1));
          lua_pop(L, 1);
          --n;
          luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
        }
        lua_pushlstring(L, data + pos, size);
        ++n;
        break;
      case 's': {
        const void* zero = std::memchr(data + pos, '\0', len - pos);
        if (!zero) luaL_error(L, "unfinished string in data");
        size = static_cast<size_t>(static_cast<const char*>(zero) - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        ++n;
        break;
      }
      default:
        control_option(L, opt, &fmt, &f);
    }
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos + 1));
  return n + 1;
}

int struct_size(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Format f;
  size_t pos = 0;
  while (*fmt) {
    int opt = *fmt++;
    size_t size = option_size(L, opt, &fmt);
    pos += padding(pos, f, opt, size);
    if (opt == 's') {
      luaL_argerror(L, 1, "option 's' has no fixed size");
    } else if (opt == 'c' && size == 0) {
      luaL_argerror(L, 1, "option 'c0' has no fixed size");
    }
    if (!std::isalnum(opt)) control_option(L, opt, &fmt, &f);
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos));
  return 1;
}

const luaL_Reg kStructFunctions[] = {
    {"pack", struct_pack}, {"unpack", struct_unpack}, {"size", struct_size}, {nullptr, nullptr}};

}  // namespace

int luaopen_struct(lua_State* L) {
  luaL_register(L, luaL_checkstring(L, 1), kStructFunctions);
  return 1;
}

}  // namespace sluice::scripting
