// Creation of the sandboxed Lua states (one for EVAL scripts, one for function libraries): see
// lua_env.cc for how globals and library tables are locked.
#pragma once

#include "broker/scripting/scripting.h"

namespace sluice::scripting {

// A new state with Redis 7.0's environment. `functions`: the function-library state (no KEYS or
// ARGV; a load-time API for library code).
LuaEnv create_lua_env(ScriptEngine* engine, bool functions);
void destroy_lua_env(LuaEnv& env);

}  // namespace sluice::scripting
