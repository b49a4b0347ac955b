// The `redis` table scripts see (redis.call, pcall, log, setresp, sha1hex, error_reply, ...) and
// Redis's math.random, as C functions bound to the engine.
#pragma once

#include <string>

#include "broker/scripting/scripting.h"

namespace sluice::scripting {

enum class RedisApi {
  kEval,             // EVAL scripts
  kFunctionRuntime,  // functions while they run (the same API)
  kFunctionLoad,     // library code while FUNCTION LOAD runs it: register_function, log, versions
};

// Pushes a new `redis` table with the API of `kind`.
void push_redis_api(lua_State* L, ScriptEngine* engine, RedisApi kind);
// Replaces math.random and math.randomseed (in the global `math` table) with Redis's: a rand48
// sequence independent of libc, the same on every machine.
void install_math_random(lua_State* L, ScriptEngine* engine);

// redis.error_reply's and redis.call's error tables: "-CODE msg" or "msg" becomes
// {err = "CODE msg"} (ERR when no code), trailing CR/LF trimmed, as Redis's luaPushErrorBuff.
void push_error_table(lua_State* L, const char* text, size_t len);
inline void push_error_table(lua_State* L, const char* text) {
  push_error_table(L, text, std::char_traits<char>::length(text));
}

}  // namespace sluice::scripting
