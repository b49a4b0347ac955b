// Running scripts: EVAL/FCALL setup and teardown, redis.call's path into the dispatcher, the count
// hook (busy-reply-threshold, SCRIPT KILL, FUNCTION LOAD's time limit) and the error replies.
#include <spdlog/spdlog.h>

#include <cstring>
#include <lua.hpp>

#include "broker/commands/context.h"
#include "broker/commands/dispatch.h"
#include "broker/commands/error_text.h"
#include "broker/kv/kv_store.h"
#include "broker/scripting/lua_env.h"
#include "broker/scripting/lua_redis_api.h"
#include "broker/scripting/lua_reply.h"
#include "broker/scripting/scripting.h"

namespace sluice::scripting {
namespace {

// Instructions between two calls of the count hook (as Redis).
constexpr int kHookInstructions = 100000;

const char* script_call_error(commands::ScriptCall outcome) {
  switch (outcome) {
    case commands::ScriptCall::kUnknown:
      return "Unknown Redis command called from script";
    case commands::ScriptCall::kArity:
      return "Wrong number of args calling Redis command from script";
    case commands::ScriptCall::kNoScript:
      return "This Redis command is not allowed from script";
    case commands::ScriptCall::kReadOnly:
      return "Write commands are not allowed from read-only scripts.";
    case commands::ScriptCall::kOom:
      return "-OOM command not allowed when used memory > 'maxmemory'.";
    case commands::ScriptCall::kNoPermCommand:
      return "The user executing the script can't run this command or subcommand";
    case commands::ScriptCall::kNoPermKey:
      return "The user executing the script can't access at least one of the keys mentioned in "
             "the command arguments";
    case commands::ScriptCall::kNoPermChannel:
      return "The user executing the script can't publish to the channel mentioned in the "
             "command";
    case commands::ScriptCall::kRan:
    case commands::ScriptCall::kMisconf:
      break;
  }
  return "";
}

// Marks the error table on top as already counted by the command that made it.
void mark_counted(lua_State* L) {
  lua_pushstring(L, "ignore_error_stats_update");
  lua_pushboolean(L, 1);
  lua_settable(L, -3);
}

void count_hook(lua_State* L, lua_Debug*) {
  lua_getfield(L, LUA_REGISTRYINDEX, "sluice.engine");
  auto* engine = static_cast<ScriptEngine*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (engine && engine->lua_hook(L) < 0) lua_error(L);
}

// A string field of the table at `idx`, or null.
const char* string_field(lua_State* L, int idx, const char* name, size_t* len) {
  lua_getfield(L, idx, name);
  const char* s = lua_isstring(L, -1) ? lua_tolstring(L, -1, len) : nullptr;
  lua_pop(L, 1);  // the table still holds the string
  return s;
}

}  // namespace

ScriptEngine::ScriptEngine(core::Broker& broker) : broker_(broker), script_client_(0, nullptr) {
  script_client_.script = true;
  script_client_.authenticated = true;
  script_client_.name = "lua";
  argv_.reserve(16);
  numbers_.resize(16 * 32);
  reset_eval_env();
  reset_function_env();
}

ScriptEngine::~ScriptEngine() {
  destroy_lua_env(eval_env_);
  destroy_lua_env(function_env_);
}

void ScriptEngine::reset_eval_env() {
  destroy_lua_env(eval_env_);
  eval_env_ = create_lua_env(this, false);
  lua_pushlightuserdata(eval_env_.L, this);
  lua_setfield(eval_env_.L, LUA_REGISTRYINDEX, "sluice.engine");
}

void ScriptEngine::reset_function_env() {
  destroy_lua_env(function_env_);
  function_env_ = create_lua_env(this, true);
  lua_pushlightuserdata(function_env_.L, this);
  lua_setfield(function_env_.L, LUA_REGISTRYINDEX, "sluice.engine");
}

void ScriptEngine::begin_run(commands::CommandContext& ctx, lua_State* L, bool is_eval,
                             bool read_only, std::string_view name) {
  run_ = RunState{};
  run_.active = true;
  run_.is_eval = is_eval;
  run_.read_only = read_only;
  run_.start_ms = core::now_ms();
  run_.name = name;
  run_.command = ctx.args;
  run_.caller = &ctx.client;
  run_.L = L;
  script_client_.db = ctx.client.db;
  script_client_.user = ctx.client.user;
  script_client_.protocol = 2;
  script_client_.out.reset();
  // A script's KV journal records are one unit on disk.
  broker_.kv().begin_batch();
  if (broker_.config().busy_reply_threshold > 0) {
    lua_sethook(L, count_hook, LUA_MASKCOUNT, kHookInstructions);
  }
}

void ScriptEngine::end_run() {
  lua_sethook(run_.L, nullptr, 0, 0);
  if (broker_.abort_script) {
    // SHUTDOWN NOSAVE stopped the script: its unfinished writes are not persisted.
    broker_.kv().abort_batch();
  } else {
    broker_.kv().end_batch();
  }
  if (run_.busy) {
    spdlog::warn("Slow script ended after {} ms ({})", core::now_ms() - run_.start_ms,
                 run_.killed ? "killed" : "finished");
    broker_.busy_script = core::BusyScript::kNone;
  }
  run_.active = false;
  run_.caller = nullptr;
  script_client_.out.reset();
}

// Runs the function below its `nargs` arguments on L's stack (the handler below it) and writes
// the reply to the caller.
void ScriptEngine::run(commands::CommandContext& ctx, lua_State* L, int nargs) {
  int handler = lua_gettop(L) - nargs - 1;
  int status = lua_pcall(L, nargs, 1, handler);
  ++eval_calls_;
  if (run_.held) ctx.client.out.hold(broker_.pending_epoch());
  if (status == 0) {
    write_reply(L, ctx.reply, script_client_.protocol);
  } else if (lua_istable(L, -1)) {
    size_t len = 0;
    size_t source_len = 0;
    const char* msg = string_field(L, -1, "err", &len);
    const char* source = string_field(L, -1, "source", &source_len);
    lua_getfield(L, -1, "line");
    std::string line = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
    lua_pop(L, 1);
    lua_getfield(L, -1, "ignore_error_stats_update");
    bool counted = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    std::string text = msg ? std::string(msg, len) : std::string("ERR unknown error");
    if (source && !line.empty()) {
      text += " script: ";
      text += run_.name;
      text += ", on ";
      text.append(source, source_len);
      text += ":" + line + ".";
    }
    for (char& c : text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    if (counted) {
      ctx.reply.error(text);
    } else {
      ctx.error_text(text);
    }
    lua_pop(L, 1);
  } else {
    const char* msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "execution failure";
    std::string text = "ERR Error running script " + std::string(run_.name) + ", " +
                       std::string(msg).substr(0, 100);
    for (char& c : text) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    ctx.error_text(text);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
}

int ScriptEngine::lua_command(lua_State* L, bool raise) {
  if (!run_.active) {
    push_error_table(L, "redis.call/pcall can only be called inside a script invocation");
    return -1;
  }
  const int argc = lua_gettop(L);
  if (argc == 0) {
    static constexpr char kText[] = "Please specify at least one argument for this redis lib call";
    push_error_table(L, kText, sizeof kText - 1);
    mark_counted(L);
    return raise ? -1 : 1;
  }
  argv_.clear();
  if (numbers_.size() < static_cast<size_t>(argc) * 32) numbers_.resize(argc * 32);
  for (int i = 1; i <= argc; ++i) {
    int t = lua_type(L, i);
    if (t == LUA_TNUMBER) {
      char* buf = numbers_.data() + (i - 1) * 32;
      argv_.emplace_back(buf, format_number_arg(lua_tonumber(L, i), buf));
    } else if (t == LUA_TSTRING) {
      size_t len = 0;
      const char* s = lua_tolstring(L, i, &len);
      argv_.emplace_back(s, len);
    } else {
      static constexpr char kText[] = "Lua redis lib command arguments must be strings or integers";
      push_error_table(L, kText, sizeof kText - 1);
      mark_counted(L);
      return raise ? -1 : 1;
    }
  }
  uint32_t flags = 0;
  commands::ScriptCall outcome = commands::ScriptCall::kUnknown;
  try {
    outcome = commands::call_for_script(broker_, script_client_, argv_, run_.read_only,
                                        run_.wrote || run_.allow_oom, &flags);
  } catch (const std::exception& e) {
    // Nothing may unwind through Lua's C frames: report it as the command's error.
    spdlog::error("command {} from a script failed: {}", argv_[0], e.what());
    script_client_.out.reset();
    push_error_table(L, "internal error");
    mark_counted(L);
    return raise ? -1 : 1;
  }
  if (outcome != commands::ScriptCall::kRan) {
    if (outcome == commands::ScriptCall::kMisconf) {
      lua_pushliteral(L, "-MISCONF Sluice cannot persist writes: ");
      lua_pushlstring(L, broker_.storage_error().data(), broker_.storage_error().size());
      lua_pushliteral(L, ". Writes are refused until the server is restarted; reads keep working.");
      lua_concat(L, 3);
      size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      push_error_table(L, s, len);
      lua_remove(L, -2);
    } else {
      const char* text = script_call_error(outcome);
      push_error_table(L, text, std::strlen(text));
    }
    mark_counted(L);
    return raise ? -1 : 1;
  }
  if (flags & commands::kWrite) {
    run_.wrote = true;
    run_.held = broker_.config().appendfsync == config::AppendFsync::kAlways;
  }
  // The reply is in the script client's staging bytes (commands never hold or share output on
  // the client that runs them).
  std::string_view bytes = script_client_.out.staging_view();
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  bool is_error = p < end && *p == '-';
  const char* next = push_reply(L, p, end);
  script_client_.out.reset();
  if (!next) {
    push_error_table(L, "the command's reply could not be read");
    mark_counted(L);
    return raise ? -1 : 1;
  }
  return raise && is_error ? -1 : 1;
}

int ScriptEngine::lua_setresp(lua_State* L) {
  if (!run_.active) {
    push_error_table(L, "redis.setresp can only be called inside a script invocation");
    return -1;
  }
  if (lua_gettop(L) != 1) {
    push_error_table(L, "redis.setresp() requires one argument.");
    return -1;
  }
  int resp = static_cast<int>(lua_tonumber(L, 1));
  if (resp != 2 && resp != 3) {
    push_error_table(L, "RESP version must be 2 or 3.");
    return -1;
  }
  script_client_.protocol = resp;
  return 0;
}

int ScriptEngine::lua_hook(lua_State* L) {
  int64_t now = core::now_ms();
  if (loading_) {
    if (now >= load_deadline_ms_) {
      push_error_table(L, "FUNCTION LOAD timeout");
      return -1;
    }
    return 0;
  }
  if (!run_.active) return 0;
  if (!run_.busy && !run_.killed && broker_.config().busy_reply_threshold > 0 &&
      now - run_.start_ms >= broker_.config().busy_reply_threshold) {
    run_.busy = true;
    broker_.busy_script = run_.is_eval ? core::BusyScript::kEval : core::BusyScript::kFunction;
    spdlog::warn(
        "Slow script detected: still in execution after {} milliseconds. You can try killing "
        "the script using the {} command. Script name is: {}.",
        now - run_.start_ms, run_.is_eval ? "SCRIPT KILL" : "FUNCTION KILL", run_.name);
  }
  if (run_.busy && broker_.control) broker_.control->serve_while_busy(run_.caller);
  if (broker_.abort_script) run_.killed = true;
  if (run_.killed) {
    // From now on every line raises again, so a pcall in the script cannot swallow the kill.
    lua_sethook(L, count_hook, LUA_MASKLINE, 0);
    static constexpr char kText[] = "Script killed by user with SCRIPT KILL...";
    push_error_table(L, kText, sizeof kText - 1);
    return -1;
  }
  return 0;
}

void ScriptEngine::kill(commands::CommandContext& ctx, bool eval) {
  if (!run_.active || !run_.busy) {
    return ctx.error_text("NOTBUSY No scripts in execution right now.");
  }
  if (run_.wrote) {
    return ctx.error_text(
        "UNKILLABLE Sorry the script already executed write commands against the dataset. You "
        "can either wait the script termination or kill the server in a hard way using the "
        "SHUTDOWN NOSAVE command.");
  }
  if (eval != run_.is_eval) {
    return ctx.error_text(commands::busy_script_error(run_.is_eval ? core::BusyScript::kEval
                                                                   : core::BusyScript::kFunction));
  }
  run_.killed = true;
  ctx.reply.ok();
}

}  // namespace sluice::scripting
