// Reply <-> Lua conversions (see lua_reply.h). The reader parses RESP without allocating: each
// value goes onto the Lua stack as soon as its bytes are read. Tables are built the way Redis
// builds them (lua_newtable, then the fields in the same order), so that table iteration order,
// which scripts see through pairs() and cjson.encode, is the same as on Redis.
#include "broker/scripting/lua_reply.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <lua.hpp>

namespace sluice::scripting {
namespace {

// The line starting at p (after the type byte): [p, cr) and the byte after its CRLF.
const char* line_end(const char* p, const char* end) {
  const void* cr = std::memchr(p, '\r', static_cast<size_t>(end - p));
  if (!cr) return nullptr;
  const char* c = static_cast<const char*>(cr);
  return c + 1 < end && c[1] == '\n' ? c : nullptr;
}

bool parse_ll(const char* p, const char* e, long long* out) {
  if (p == e) return false;
  bool neg = *p == '-';
  if (neg) ++p;
  if (p == e) return false;
  unsigned long long v = 0;
  for (; p < e; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + static_cast<unsigned>(*p - '0');
  }
  *out = neg ? -static_cast<long long>(v) : static_cast<long long>(v);
  return true;
}

void push_error_reply(lua_State* L, const char* p, size_t len) {
  // "CODE msg" stays as it is; a line without a space is an ERR (luaPushErrorBuff's rule).
  const char* sp = static_cast<const char*>(std::memchr(p, ' ', len));
  lua_newtable(L);
  lua_pushstring(L, "err");
  if (sp) {
    lua_pushlstring(L, p, len);
  } else {
    lua_pushliteral(L, "ERR ");
    lua_pushlstring(L, p, len);
    lua_concat(L, 2);
  }
  lua_settable(L, -3);
  // The command counted its error already; the script's reply must not count it again.
  lua_pushstring(L, "ignore_error_stats_update");
  lua_pushboolean(L, 1);
  lua_settable(L, -3);
}

// Reads one value; push = false only skips it (attributes).
const char* read_value(lua_State* L, const char* p, const char* end, bool push) {
  if (p >= end) return nullptr;
  char type = *p++;
  const char* cr = line_end(p, end);
  if (!cr) return nullptr;
  const char* next = cr + 2;
  if (push && !lua_checkstack(L, 4)) return nullptr;
  switch (type) {
    case '+':
      if (push) {
        lua_newtable(L);
        lua_pushstring(L, "ok");
        lua_pushlstring(L, p, static_cast<size_t>(cr - p));
        lua_settable(L, -3);
      }
      return next;
    case '-':
      if (push) push_error_reply(L, p, static_cast<size_t>(cr - p));
      return next;
    case ':': {
      long long v = 0;
      if (!parse_ll(p, cr, &v)) return nullptr;
      if (push) lua_pushnumber(L, static_cast<lua_Number>(v));
      return next;
    }
    case '$':
    case '=': {
      long long n = 0;
      if (!parse_ll(p, cr, &n)) return nullptr;
      if (n < 0) {
        if (push) lua_pushboolean(L, 0);
        return next;
      }
      if (end - next < n + 2) return nullptr;
      if (push) {
        if (type == '$') {
          lua_pushlstring(L, next, static_cast<size_t>(n));
        } else {
          if (n < 4) return nullptr;
          lua_newtable(L);
          lua_pushstring(L, "verbatim_string");
          lua_newtable(L);
          lua_pushstring(L, "string");
          lua_pushlstring(L, next + 4, static_cast<size_t>(n - 4));
          lua_settable(L, -3);
          lua_pushstring(L, "format");
          lua_pushlstring(L, next, 3);
          lua_settable(L, -3);
          lua_settable(L, -3);
        }
      }
      return next + n + 2;
    }
    case '*':
    case '>':
    case '~':
    case '%':
    case '|': {
      long long n = 0;
      if (!parse_ll(p, cr, &n)) return nullptr;
      if (n < 0) {
        if (push) lua_pushboolean(L, 0);
        return next;
      }
      p = next;
      if (type == '|') {
        for (long long i = 0; i < 2 * n && p; ++i) p = read_value(L, p, end, false);
        return p ? read_value(L, p, end, push) : nullptr;
      }
      if (!push) {
        long long items = type == '%' ? 2 * n : n;
        for (long long i = 0; i < items && p; ++i) p = read_value(L, p, end, false);
        return p;
      }
      if (type == '*' || type == '>') {
        lua_createtable(L, static_cast<int>(n), 0);
        for (long long i = 0; i < n; ++i) {
          p = read_value(L, p, end, true);
          if (!p) return nullptr;
          lua_rawseti(L, -2, static_cast<int>(i + 1));
        }
        return p;
      }
      lua_newtable(L);
      lua_pushstring(L, type == '%' ? "map" : "set");
      lua_newtable(L);
      for (long long i = 0; i < n; ++i) {
        p = read_value(L, p, end, true);
        if (!p) return nullptr;
        if (type == '%') {
          p = read_value(L, p, end, true);
          if (!p) return nullptr;
        } else {
          if (!lua_checkstack(L, 1)) return nullptr;
          lua_pushboolean(L, 1);
        }
        lua_settable(L, -3);
      }
      lua_settable(L, -3);
      return p;
    }
    case '_':
      if (push) lua_pushnil(L);
      return next;
    case '#':
      if (push) lua_pushboolean(L, cr - p == 1 && *p == 't');
      return next;
    case ',': {
      if (push) {
        char buf[64];
        size_t len = static_cast<size_t>(cr - p);
        if (len >= sizeof(buf)) return nullptr;
        std::memcpy(buf, p, len);
        buf[len] = '\0';
        double d = std::strtod(buf, nullptr);
        lua_newtable(L);
        lua_pushstring(L, "double");
        lua_pushnumber(L, d);
        lua_settable(L, -3);
      }
      return next;
    }
    case '(':
      if (push) {
        lua_newtable(L);
        lua_pushstring(L, "big_number");
        lua_pushlstring(L, p, static_cast<size_t>(cr - p));
        lua_settable(L, -3);
      }
      return next;
    default:
      return nullptr;
  }
}

// --- Lua -> reply ------------------------------------------------------------------------------

struct WriteArgs {
  wire::resp::ReplyWriter* out;
  int script_resp;
};

// Pushes t[name] (raw) and returns its type; the value stays on the stack.
int raw_field(lua_State* L, int t, const char* name) {
  lua_pushstring(L, name);
  lua_rawget(L, t < 0 ? t - 1 : t);
  return lua_type(L, -1);
}

void write_line(wire::resp::ReplyWriter& out, char type, const char* s, size_t len) {
  // A status or error is one protocol line: CR and LF become spaces, as Redis maps them.
  std::string* buf = out.buffer();
  buf->push_back(type);
  size_t at = buf->size();
  buf->append(s, len);
  for (size_t i = at; i < buf->size(); ++i) {
    if ((*buf)[i] == '\r' || (*buf)[i] == '\n') (*buf)[i] = ' ';
  }
  buf->append("\r\n", 2);
}

void write_value(lua_State* L, const WriteArgs& a) {
  wire::resp::ReplyWriter& out = *a.out;
  if (!lua_checkstack(L, 4)) {
    out.error("ERR reached lua stack limit");
    lua_pop(L, 1);
    return;
  }
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      out.bulk(std::string_view(s, len));
      break;
    }
    case LUA_TBOOLEAN:
      if (a.script_resp == 2) {
        if (lua_toboolean(L, -1)) {
          out.integer(1);
        } else {
          out.null();
        }
      } else {
        out.boolean(lua_toboolean(L, -1) != 0);
      }
      break;
    case LUA_TNUMBER:
      out.integer(lua_number_to_int64(lua_tonumber(L, -1)));
      break;
    case LUA_TTABLE: {
      if (raw_field(L, -1, "err") == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        write_line(out, '-', s, len);
        lua_pop(L, 2);
        return;
      }
      lua_pop(L, 1);
      if (raw_field(L, -1, "ok") == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        write_line(out, '+', s, len);
        lua_pop(L, 2);
        return;
      }
      lua_pop(L, 1);
      if (raw_field(L, -1, "double") == LUA_TNUMBER) {
        out.dbl(lua_tonumber(L, -1));
        lua_pop(L, 2);
        return;
      }
      lua_pop(L, 1);
      if (raw_field(L, -1, "big_number") == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        if (out.resp3()) {
          write_line(out, '(', s, len);
        } else {
          // RESP2 has no big numbers: a bulk string, with CR and LF mapped as in the line.
          std::string* buf = out.buffer();
          wire::resp::ReplyWriter::append_header(buf, '$', len);
          size_t at = buf->size();
          buf->append(s, len);
          for (size_t i = at; i < buf->size(); ++i) {
            if ((*buf)[i] == '\r' || (*buf)[i] == '\n') (*buf)[i] = ' ';
          }
          buf->append("\r\n", 2);
        }
        lua_pop(L, 2);
        return;
      }
      lua_pop(L, 1);
      if (raw_field(L, -1, "verbatim_string") == LUA_TTABLE) {
        if (raw_field(L, -1, "format") == LUA_TSTRING) {
          if (raw_field(L, -2, "string") == LUA_TSTRING) {
            size_t flen = 0;
            size_t len = 0;
            const char* f = lua_tolstring(L, -2, &flen);
            const char* s = lua_tolstring(L, -1, &len);
            out.verbatim(std::string_view(s, len), std::string_view(f, flen));
            lua_pop(L, 4);
            return;
          }
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      for (const char* kind : {"map", "set"}) {
        if (raw_field(L, -1, kind) == LUA_TTABLE) {
          bool map = kind[0] == 'm';
          size_t n = 0;
          lua_pushnil(L);
          while (lua_next(L, -2)) {
            ++n;
            lua_pop(L, 1);
          }
          if (map) {
            out.map(n);
          } else {
            out.set(n);
          }
          lua_pushnil(L);
          while (lua_next(L, -2)) {
            if (map) {
              lua_pushvalue(L, -2);
              write_value(L, a);  // key
              write_value(L, a);  // value
            } else {
              lua_pop(L, 1);
              lua_pushvalue(L, -1);
              write_value(L, a);
            }
          }
          lua_pop(L, 2);
          return;
        }
        lua_pop(L, 1);
      }
      size_t n = 0;
      for (;;) {
        lua_rawgeti(L, -1, static_cast<int>(n + 1));
        bool end = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (end) break;
        ++n;
      }
      out.array(n);
      for (size_t i = 1; i <= n; ++i) {
        lua_rawgeti(L, -1, static_cast<int>(i));
        write_value(L, a);
      }
      break;
    }
    default:
      out.null();
  }
  lua_pop(L, 1);
}

int write_protected(lua_State* L) {
  const auto* a = static_cast<const WriteArgs*>(lua_touserdata(L, 2));
  lua_settop(L, 1);
  write_value(L, *a);
  return 0;
}

}  // namespace

const char* push_reply(lua_State* L, const char* p, const char* end) {
  int top = lua_gettop(L);
  const char* next = read_value(L, p, end, true);
  if (!next) lua_settop(L, top);
  return next;
}

void write_reply(lua_State* L, wire::resp::ReplyWriter& out, int script_resp) {
  WriteArgs args{&out, script_resp};
  if (lua_type(L, -1) != LUA_TTABLE) {
    // No table to walk: nothing here can raise a Lua error, so no protected call is needed.
    write_value(L, args);
    return;
  }
  size_t mark = out.buffer()->size();
  lua_pushcfunction(L, write_protected);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, &args);
  if (lua_pcall(L, 2, 0, 0) != 0) {
    lua_pop(L, 1);
    out.buffer()->resize(mark);
    out.error("ERR the script's reply could not be converted (out of memory)");
  }
}

size_t format_number_arg(double value, char* buf) {
  // Integers below 1e17 print the same with %.17g and as integers; -0 keeps its sign.
  if (value == std::trunc(value) && std::fabs(value) < 1e17 &&
      !(value == 0 && std::signbit(value))) {
    long long v = static_cast<long long>(value);
    char tmp[24];
    size_t n = 0;
    unsigned long long u =
        v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    do {
      tmp[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    return len;
  }
  int n = std::snprintf(buf, 32, "%.17g", value);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

int64_t lua_number_to_int64(double value) {
  if (!(value >= -9223372036854775808.0 && value < 9223372036854775808.0)) return INT64_MIN;
  return static_cast<int64_t>(value);
}

}  // namespace sluice::scripting
