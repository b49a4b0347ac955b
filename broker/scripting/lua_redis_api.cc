// The `redis` table and math.random. Every C function here raises Lua errors only from its own
// frame, after the C++ work it called has returned (Lua 5.1 built as C unwinds with longjmp, which
// would skip destructors): the engine's lua_* methods report "raise" instead of raising.
#include "broker/scripting/lua_redis_api.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <lua.hpp>
#include <string>

#include "broker/commands/command_table.h"

namespace sluice::scripting {
namespace {

constexpr const char* kRedisVersion = "7.0.15";
constexpr lua_Number kRedisVersionNum = 0x07000f;
constexpr int kLogDebug = 0;
constexpr int kLogWarning = 3;

ScriptEngine* engine_of(lua_State* L) {
  return static_cast<ScriptEngine*>(lua_touserdata(L, lua_upvalueindex(1)));
}

int raise_error(lua_State* L, const char* text) {
  push_error_table(L, text, std::strlen(text));
  return lua_error(L);
}

int redis_call(lua_State* L) {
  int n = engine_of(L)->lua_command(L, true);
  return n < 0 ? lua_error(L) : n;
}

int redis_pcall(lua_State* L) { return engine_of(L)->lua_command(L, false); }

int redis_setresp(lua_State* L) {
  int n = engine_of(L)->lua_setresp(L);
  return n < 0 ? lua_error(L) : n;
}

int redis_register_function(lua_State* L) {
  int n = engine_of(L)->lua_register_function(L);
  return n < 0 ? lua_error(L) : n;
}

void write_log(int level, lua_State* L, int argc) {
  std::string text;
  for (int i = 2; i <= argc; ++i) {
    size_t len = 0;
    const char* s = lua_tolstring(L, i, &len);
    if (!s) continue;
    if (i != 2) text += ' ';
    text.append(s, len);
  }
  switch (level) {
    case 0:
    case 1:
      spdlog::debug("{}", text);
      break;
    case 2:
      spdlog::info("{}", text);
      break;
    default:
      spdlog::warn("{}", text);
  }
}

int redis_log(lua_State* L) {
  int argc = lua_gettop(L);
  if (argc < 2) return raise_error(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return raise_error(L, "First argument must be a number (log level).");
  int level = static_cast<int>(lua_tonumber(L, 1));
  if (level < kLogDebug || level > kLogWarning) return raise_error(L, "Invalid debug level.");
  write_log(level, L, argc);
  return 0;
}

int redis_sha1hex(lua_State* L) {
  if (lua_gettop(L) != 1) return raise_error(L, "wrong number of arguments");
  size_t len = 0;
  const char* s = lua_tolstring(L, 1, &len);
  Sha1Hex hex = sha1_hex(s ? std::string_view(s, len) : std::string_view());
  lua_pushlstring(L, hex.data(), hex.size());
  return 1;
}

int redis_error_reply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error_table(L, "wrong number or type of arguments");
    return 1;
  }
  size_t len = 0;
  const char* s = lua_tolstring(L, 1, &len);
  if (len > 0 && s[0] == '-') {
    push_error_table(L, s, len);
  } else {
    lua_pushliteral(L, "-");
    lua_pushvalue(L, 1);
    lua_concat(L, 2);
    s = lua_tolstring(L, -1, &len);
    push_error_table(L, s, len);
  }
  return 1;
}

int redis_status_reply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error_table(L, "wrong number or type of arguments");
    return 1;
  }
  lua_newtable(L);
  lua_pushstring(L, "ok");
  lua_pushvalue(L, -3);
  lua_settable(L, -3);
  return 1;
}

int redis_set_repl(lua_State* L) {
  if (!engine_of(L)->running().active) {
    return raise_error(L, "redis.set_repl can only be called inside a script invocation");
  }
  if (lua_gettop(L) != 1) return raise_error(L, "redis.set_repl() requires two arguments.");
  int flags = static_cast<int>(lua_tonumber(L, -1));
  if ((flags & ~3) != 0) {
    return raise_error(
        L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
  }
  // Sluice journals effects whatever the flags say (there is no replica stream to skip).
  return 0;
}

int redis_replicate_commands(lua_State* L) {
  lua_pushboolean(L, 1);
  return 1;
}

int redis_breakpoint(lua_State* L) {
  lua_pushboolean(L, 0);
  return 1;
}

int redis_debug(lua_State*) { return 0; }

bool known_command(lua_State* L, int argc) {
  size_t len = 0;
  const char* name = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : nullptr;
  if (!name) return false;
  const auto& table = commands::command_table();
  const commands::CommandSpec* spec = table.find(std::string_view(name, len));
  if (spec && !spec->subcommands.empty() && argc >= 2 && lua_type(L, 2) == LUA_TSTRING) {
    size_t sub_len = 0;
    const char* sub = lua_tolstring(L, 2, &sub_len);
    spec = table.find_sub(*spec, std::string_view(sub, sub_len));
  }
  return spec != nullptr;
}

// There are no ACL users: every known command is permitted.
int redis_acl_check_cmd(lua_State* L) {
  if (!engine_of(L)->running().active) {
    return raise_error(L, "redis.acl_check_cmd can only be called inside a script invocation");
  }
  int argc = lua_gettop(L);
  if (argc == 0)
    return raise_error(L, "Please specify at least one argument for this redis lib call");
  if (!known_command(L, argc))
    return raise_error(L, "Invalid command passed to redis.acl_check_cmd()");
  lua_pushboolean(L, 1);
  return 1;
}

// Redis's rand48 (the same sequence as redis-server: seeded with 0x1234ABCD330E at start).
uint64_t g_rand48 = 0x1234ABCD330Eull;

int32_t next_rand48() {
  g_rand48 = (0x5DEECE66Dull * g_rand48 + 0xB) & ((1ull << 48) - 1);
  return static_cast<int32_t>(g_rand48 >> 17);
}

int math_random(lua_State* L) {
  if (!engine_of(L)->running().active) {
    return luaL_error(L, "math.random can only be called inside a script invocation");
  }
  constexpr int32_t kMax = INT32_MAX;
  lua_Number r = static_cast<lua_Number>(next_rand48() % kMax) / static_cast<lua_Number>(kMax);
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, r);
      break;
    case 1: {
      int u = luaL_checkint(L, 1);
      luaL_argcheck(L, 1 <= u, 1, "interval is empty");
      lua_pushnumber(L, std::floor(r * u) + 1);
      break;
    }
    case 2: {
      int l = luaL_checkint(L, 1);
      int u = luaL_checkint(L, 2);
      luaL_argcheck(L, l <= u, 2, "interval is empty");
      lua_pushnumber(L, std::floor(r * (u - l + 1)) + l);
      break;
    }
    default:
      return luaL_error(L, "wrong number of arguments");
  }
  return 1;
}

int math_randomseed(lua_State* L) {
  if (!engine_of(L)->running().active) {
    return luaL_error(L, "math.randomseed can only be called inside a script invocation");
  }
  int32_t seed = luaL_checkint(L, 1);
  g_rand48 = (static_cast<uint64_t>(static_cast<uint32_t>(seed)) << 16) | 0x330E;
  return 0;
}

void set_function(lua_State* L, ScriptEngine* engine, const char* name, lua_CFunction fn) {
  lua_pushstring(L, name);
  lua_pushlightuserdata(L, engine);
  lua_pushcclosure(L, fn, 1);
  lua_settable(L, -3);
}

void set_number(lua_State* L, const char* name, lua_Number value) {
  lua_pushstring(L, name);
  lua_pushnumber(L, value);
  lua_settable(L, -3);
}

void set_log_and_version(lua_State* L, ScriptEngine* engine) {
  set_function(L, engine, "log", redis_log);
  set_number(L, "LOG_DEBUG", 0);
  set_number(L, "LOG_VERBOSE", 1);
  set_number(L, "LOG_NOTICE", 2);
  set_number(L, "LOG_WARNING", 3);
  set_number(L, "REDIS_VERSION_NUM", kRedisVersionNum);
  lua_pushstring(L, "REDIS_VERSION");
  lua_pushstring(L, kRedisVersion);
  lua_settable(L, -3);
}

}  // namespace

void push_error_table(lua_State* L, const char* text, size_t len) {
  // "-CODE msg" -> "CODE msg"; "-msg" and "msg" -> "ERR msg"; CR/LF trimmed at both ends.
  std::string_view s(text, len);
  std::string_view code = "ERR";
  std::string_view msg = s;
  if (!s.empty() && s[0] == '-') {
    size_t sp = s.find(' ');
    if (sp == std::string_view::npos) {
      msg = s.substr(1);
    } else {
      code = s.substr(1, sp - 1);
      msg = s.substr(sp + 1);
    }
  }
  while (!msg.empty() && (msg.front() == '\r' || msg.front() == '\n')) msg.remove_prefix(1);
  while (!msg.empty() && (msg.back() == '\r' || msg.back() == '\n')) msg.remove_suffix(1);
  lua_newtable(L);
  lua_pushstring(L, "err");
  lua_pushlstring(L, code.data(), code.size());
  lua_pushliteral(L, " ");
  lua_pushlstring(L, msg.data(), msg.size());
  lua_concat(L, 3);
  lua_settable(L, -3);
}

void push_redis_api(lua_State* L, ScriptEngine* engine, RedisApi kind) {
  lua_newtable(L);
  if (kind == RedisApi::kFunctionLoad) {
    set_function(L, engine, "register_function", redis_register_function);
    set_log_and_version(L, engine);
    return;
  }
  set_function(L, engine, "call", redis_call);
  set_function(L, engine, "pcall", redis_pcall);
  set_log_and_version(L, engine);
  set_function(L, engine, "setresp", redis_setresp);
  set_function(L, engine, "sha1hex", redis_sha1hex);
  set_function(L, engine, "error_reply", redis_error_reply);
  set_function(L, engine, "status_reply", redis_status_reply);
  set_function(L, engine, "set_repl", redis_set_repl);
  set_number(L, "REPL_NONE", 0);
  set_number(L, "REPL_AOF", 1);
  set_number(L, "REPL_SLAVE", 2);
  set_number(L, "REPL_REPLICA", 2);
  set_number(L, "REPL_ALL", 3);
  set_function(L, engine, "replicate_commands", redis_replicate_commands);
  set_function(L, engine, "breakpoint", redis_breakpoint);
  set_function(L, engine, "debug", redis_debug);
  set_function(L, engine, "acl_check_cmd", redis_acl_check_cmd);
}

void install_math_random(lua_State* L, ScriptEngine* engine) {
  lua_getglobal(L, "math");
  set_function(L, engine, "random", math_random);
  set_function(L, engine, "randomseed", math_randomseed);
  lua_pop(L, 1);
}

}  // namespace sluice::scripting
