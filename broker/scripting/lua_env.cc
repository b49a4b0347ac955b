// The sandboxed Lua state scripts run in: Redis 7.0's libraries and globals, locked with
// metatables (Redis patches its private Lua with read-only tables; PUC Lua 5.1 has none, so every
// table a script could reach is an empty proxy whose metatable forwards reads and refuses writes).
//
// Layout: the real globals table G (libraries are proxies in it) sits behind an empty proxy that
// is the state's globals (LUA_GLOBALSINDEX): functions compiled later, loadstring's chunks and
// coroutines all see the proxy. G's own metatable raises Redis's error for a missing global. The
// raw* functions, next, pairs and setmetatable are wrapped so they see through proxies without
// handing the real tables out, and refuse to change them.
#include "broker/scripting/lua_env.h"

#include <cmath>
#include <cstring>
#include <ctime>
#include <lua.hpp>

#include "broker/scripting/lua_libs.h"
#include "broker/scripting/lua_redis_api.h"

extern "C" {
int luaopen_cjson(lua_State* L);
int luaopen_bit(lua_State* L);
}

namespace sluice::scripting {
namespace {

constexpr const char* kProxiesKey = "sluice.proxies";  // registry: proxy -> real table (weak)
constexpr const char* kReadonlyText = "Attempt to modify a readonly table";

// The real table behind a proxy (pushed), or nothing pushed and false.
bool push_target(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return false;
  lua_getfield(L, LUA_REGISTRYINDEX, kProxiesKey);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return false;
  }
  return true;
}

// __index of the globals: reading a global nobody defined is an error, as in Redis.
int missing_global(lua_State* L) {
  const char* name = lua_tostring(L, 2);
  return luaL_error(L, "Script attempted to access nonexistent global variable '%s'",
                    name ? name : "?");
}

// __newindex of every proxy.
int readonly_newindex(lua_State* L) { return luaL_error(L, kReadonlyText); }

// Raised from a wrapped builtin: Redis's text without a position (its check is inside the C
// builtin, which has none).
int readonly_plain(lua_State* L) {
  lua_pushstring(L, kReadonlyText);
  return lua_error(L);
}

int wrapped_rawset(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (push_target(L, 1)) return readonly_plain(L);
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

int wrapped_rawget(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  if (push_target(L, 1)) lua_replace(L, 1);
  lua_settop(L, 2);
  lua_rawget(L, 1);
  return 1;
}

int wrapped_setmetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table expected");
  if (push_target(L, 1)) return readonly_plain(L);
  if (luaL_getmetafield(L, 1, "__metatable")) luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

// next over a proxy walks the real table; the real table itself is never returned.
int wrapped_next(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (push_target(L, 1)) lua_replace(L, 1);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

int wrapped_pairs(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, lua_upvalueindex(1));  // wrapped next
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

// pcall as Redis 7 has it: an error table ({err=...}, what redis.call raises) comes back as its
// message, so scripts written for older versions keep working.
int redis_pcall(lua_State* L) {
  int argc = lua_gettop(L);
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  if (lua_pcall(L, argc - 1, LUA_MULTRET, 0) != 0) {
    lua_remove(L, 1);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      if (lua_isstring(L, -1)) {
        lua_replace(L, -2);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pushboolean(L, 0);
    lua_insert(L, 1);
  }
  return lua_gettop(L);
}

int os_clock(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(std::clock()) / CLOCKS_PER_SEC);
  return 1;
}

// Message handler of every script call: turns the error into Redis's error table and adds where
// it happened (the script's line, not the C function that raised it).
int error_handler(lua_State* L) {
  lua_Debug ar;
  bool where = lua_getstack(L, 1, &ar) && lua_getinfo(L, "nSl", &ar);
  if (where && std::strcmp(ar.what, "C") == 0)
    where = lua_getstack(L, 2, &ar) && lua_getinfo(L, "nSl", &ar);
  if (!lua_istable(L, 1)) {
    const char* text = nullptr;
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
      text = lua_tostring(L, 1);
    } else if (t == LUA_TNIL) {
      text = "nil";
    } else if (t == LUA_TBOOLEAN) {
      text = lua_toboolean(L, 1) ? "true" : "false";
    } else {
      lua_pushfstring(L, "%s: %p", lua_typename(L, t), lua_topointer(L, 1));
      text = lua_tostring(L, -1);
    }
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushfstring(L, "ERR %s", text);
    lua_settable(L, -3);
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  if (where) {
    lua_pushstring(L, ar.source);
    lua_setfield(L, 1, "source");
    lua_pushinteger(L, ar.currentline);
    lua_setfield(L, 1, "line");
  }
  lua_settop(L, 1);
  return 1;
}

void open_lib(lua_State* L, const char* name, lua_CFunction open) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

// Replaces the table at `idx` by a read-only proxy (left on the stack top).
void push_proxy(lua_State* L, int idx) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_newtable(L);  // the proxy
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  // getmetatable(proxy) shows an empty table, never the metatable that leads to the real one.
  lua_newtable(L);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_getfield(L, LUA_REGISTRYINDEX, kProxiesKey);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

// G[name] = proxy(G[name]) for a library table in the globals at `globals`.
void protect_field(lua_State* L, int globals, const char* name) {
  lua_getfield(L, globals, name);
  if (lua_istable(L, -1)) {
    push_proxy(L, -1);
    lua_setfield(L, globals, name);
  }
  lua_pop(L, 1);
}

void set_missing_global_error(lua_State* L, int idx) {
  lua_newtable(L);
  lua_pushcfunction(L, missing_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, idx < 0 ? idx - 1 : idx);
}

}  // namespace

LuaEnv create_lua_env(ScriptEngine* engine, bool functions) {
  LuaEnv env;
  lua_State* L = luaL_newstate();
  env.L = L;
  // A weak-keyed registry of proxies (proxy -> real table).
  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, kProxiesKey);

  open_lib(L, "", luaopen_base);
  open_lib(L, LUA_TABLIBNAME, luaopen_table);
  open_lib(L, LUA_STRLIBNAME, luaopen_string);
  open_lib(L, LUA_MATHLIBNAME, luaopen_math);
  // Debian builds lua-cjson without its global: set it as Redis's copy does.
  lua_pushcfunction(L, luaopen_cjson);
  lua_call(L, 0, 1);
  lua_setglobal(L, "cjson");
  open_lib(L, "struct", luaopen_struct);
  open_lib(L, "cmsgpack", luaopen_cmsgpack);
  open_lib(L, "bit", luaopen_bit);
  lua_settop(L, 0);

  lua_pushvalue(L, LUA_GLOBALSINDEX);
  const int g = lua_gettop(L);
  for (const char* name : {"dofile", "loadfile", "print", "getfenv", "setfenv", "newproxy"}) {
    lua_pushnil(L);
    lua_setfield(L, g, name);
  }
  lua_pushcfunction(L, redis_pcall);
  lua_setfield(L, g, "pcall");
  lua_pushcfunction(L, wrapped_rawset);
  lua_setfield(L, g, "rawset");
  lua_pushcfunction(L, wrapped_rawget);
  lua_setfield(L, g, "rawget");
  lua_pushcfunction(L, wrapped_setmetatable);
  lua_setfield(L, g, "setmetatable");
  lua_pushcfunction(L, wrapped_next);
  lua_pushvalue(L, -1);
  lua_setfield(L, g, "next");
  lua_pushcclosure(L, wrapped_pairs, 1);
  lua_setfield(L, g, "pairs");
  lua_pushcfunction(L, error_handler);
  lua_pushvalue(L, -1);
  env.handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (functions) {
    lua_pop(L, 1);
  } else {
    lua_setfield(L, g, "__redis__err__handler");  // EVAL's globals list it, as Redis's do
  }
  // os: only os.clock (Redis 7.2's addition; 7.0 has no os at all).
  lua_newtable(L);
  lua_pushcfunction(L, os_clock);
  lua_setfield(L, -2, "clock");
  lua_setfield(L, g, "os");
  install_math_random(L, engine);
  push_redis_api(L, engine, functions ? RedisApi::kFunctionRuntime : RedisApi::kEval);
  lua_setfield(L, g, "redis");

  // String methods reach the string table through the string metatable: point it at the proxy,
  // and hide the metatable itself behind one.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  const int string_meta = lua_gettop(L);
  for (const char* name : {"string", "table", "math", "coroutine", "cjson", "bit", "struct",
                           "cmsgpack", "redis", "os"}) {
    protect_field(L, g, name);
  }
  lua_getfield(L, g, "string");
  lua_setfield(L, string_meta, "__index");
  push_proxy(L, string_meta);
  lua_setfield(L, string_meta, "__metatable");
  lua_settop(L, g);

  // The globals proxy becomes the state's globals; G keeps the real entries.
  lua_newtable(L);  // proxy
  const int proxy = lua_gettop(L);
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, g);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, readonly_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_newtable(L);
  lua_setfield(L, -2, "__metatable");
  lua_pushvalue(L, -1);
  env.globals_meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setmetatable(L, proxy);
  lua_getfield(L, LUA_REGISTRYINDEX, kProxiesKey);
  lua_pushvalue(L, proxy);
  lua_pushvalue(L, g);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_pushvalue(L, proxy);
  lua_setfield(L, g, "_G");
  set_missing_global_error(L, g);

  if (functions) {
    // What library code sees while FUNCTION LOAD runs it: `redis` with register_function, log
    // and the version fields, nothing else (Redis's load-time API).
    lua_newtable(L);
    const int api = lua_gettop(L);
    push_redis_api(L, engine, RedisApi::kFunctionLoad);
    set_missing_global_error(L, -1);
    push_proxy(L, -1);
    lua_setfield(L, api, "redis");
    lua_pop(L, 1);
    set_missing_global_error(L, api);
    env.load_api_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }

  if (!functions) {
    lua_newtable(L);
    lua_pushvalue(L, -1);
    env.keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setfield(L, g, "KEYS");
    lua_newtable(L);
    lua_pushvalue(L, -1);
    env.argv_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_setfield(L, g, "ARGV");
  }
  lua_pushvalue(L, g);
  env.globals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, proxy);
  lua_replace(L, LUA_GLOBALSINDEX);
  lua_settop(L, 0);
  return env;
}

void destroy_lua_env(LuaEnv& env) {
  if (env.L) lua_close(env.L);
  env = LuaEnv{};
}

}  // namespace sluice::scripting
