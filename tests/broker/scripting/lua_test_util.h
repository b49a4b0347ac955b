// Helpers for the scripting unit tests: a plain Lua state with the libraries under test, running
// a chunk and rendering Lua values as text (tables with their keys sorted).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <lua.hpp>
#include <string>
#include <vector>

#include "broker/scripting/lua_libs.h"

extern "C" int luaopen_cjson(lua_State* L);

namespace sluice::scripting::testing {

class LuaState {
 public:
  LuaState() : L_(luaL_newstate()) {
    luaL_openlibs(L_);
    for (auto [name, open] : {std::pair<const char*, lua_CFunction>{"cmsgpack", luaopen_cmsgpack},
                              {"struct", luaopen_struct}}) {
      lua_pushcfunction(L_, open);
      lua_pushstring(L_, name);
      lua_call(L_, 1, 0);
    }
    lua_pushcfunction(L_, luaopen_cjson);
    lua_call(L_, 0, 1);
    lua_setglobal(L_, "cjson");
  }
  ~LuaState() { lua_close(L_); }
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;
  lua_State* get() { return L_; }

  // Runs `code`; returns its results rendered and joined by ", ", or "error: <message>".
  std::string run(const std::string& code) {
    int top = lua_gettop(L_);
    if (luaL_loadbuffer(L_, code.data(), code.size(), "=test") != 0 ||
        lua_pcall(L_, 0, LUA_MULTRET, 0) != 0) {
      std::string msg = std::string("error: ") + lua_tostring(L_, -1);
      lua_settop(L_, top);
      return msg;
    }
    std::string out;
    for (int i = top + 1; i <= lua_gettop(L_); ++i) {
      if (!out.empty()) out += ", ";
      out += render(i);
    }
    lua_settop(L_, top);
    return out;
  }

  // The value at `idx`: strings quoted, tables as {k=v, ...} with sorted keys.
  std::string render(int idx) {
    if (idx < 0) idx = lua_gettop(L_) + idx + 1;
    switch (lua_type(L_, idx)) {
      case LUA_TNIL:
        return "nil";
      case LUA_TBOOLEAN:
        return lua_toboolean(L_, idx) ? "true" : "false";
      case LUA_TNUMBER: {
        lua_pushvalue(L_, idx);
        std::string s = lua_tostring(L_, -1);
        lua_pop(L_, 1);
        return s;
      }
      case LUA_TSTRING: {
        size_t len = 0;
        const char* s = lua_tolstring(L_, idx, &len);
        return "'" + std::string(s, len) + "'";
      }
      case LUA_TTABLE: {
        std::vector<std::string> items;
        lua_pushnil(L_);
        while (lua_next(L_, idx)) {
          std::string key;
          if (lua_type(L_, -2) == LUA_TSTRING) {
            key = lua_tostring(L_, -2);
          } else {
            key = "[" + render(-2) + "]";
          }
          items.push_back(key + "=" + render(-1));
          lua_pop(L_, 1);
        }
        std::sort(items.begin(), items.end());
        std::string out = "{";
        for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
        return out + "}";
      }
      default:
        return lua_typename(L_, lua_type(L_, idx));
    }
  }

 private:
  lua_State* L_;
};

// Bytes as Lua source: "\ddd" escapes for every byte.
inline std::string lua_bytes(const std::string& bytes) {
  std::string out = "'";
  for (unsigned char c : bytes) out += "\\" + std::to_string(c);
  return out + "'";
}

}  // namespace sluice::scripting::testing
