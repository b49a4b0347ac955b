// EVAL and the script cache: shebang flags, compilation, lookup by body and by SHA-1, eviction.
//
// EVAL finds its compiled function by the body itself (a hash of the bytes and one comparison),
// not by its SHA-1: hashing a 100-byte script with SHA-1 costs more than the rest of the lookup,
// and the cache must hold the body anyway (SCRIPT LOAD, FUNCTION-less EVALSHA). The SHA-1 is
// computed once, when a body is first seen.
#include <cctype>
#include <cstring>
#include <lua.hpp>

#include "broker/commands/context.h"
#include "broker/commands/kv_support.h"
#include "broker/scripting/lua_env.h"
#include "broker/scripting/scripting.h"
#include "wire/stream_id.h"

namespace sluice::scripting {
namespace {

constexpr const char* kOomError = "OOM command not allowed when used memory > 'maxmemory'.";

// A script or function that may write (no allow-oom, no no-writes) is refused as a whole when
// the memory check before its command found no room, as Redis flags it denyoom.
bool over_maxmemory(core::Broker& broker, uint32_t flags) {
  return !(flags & (kNoWrites | kAllowOom)) && broker.config().maxmemory != 0 &&
         broker.eviction.over_limit_before_command;
}

bool parse_script_flag(std::string_view word, uint32_t* flags) {
  if (word == "no-writes") {
    *flags |= kNoWrites;
  } else if (word == "allow-oom") {
    *flags |= kAllowOom;
  } else if (word == "allow-stale") {
    *flags |= kAllowStale;
  } else if (word == "no-cluster") {
    *flags |= kNoCluster;
  } else if (word == "allow-cross-slot-keys") {
    *flags |= kAllowCrossSlotKeys;
  } else {
    return false;
  }
  return true;
}

// An EVAL script's "#!lua flags=a,b" line. Errors in Redis's words.
bool parse_shebang(std::string_view body, uint32_t* flags, std::string* error) {
  *flags = 0;
  if (body.substr(0, 2) != "#!") {
    *flags = kEvalCompat;
    return true;
  }
  size_t eol = body.find('\n');
  if (eol == std::string_view::npos) {
    *error = "ERR Invalid script shebang";
    return false;
  }
  std::string_view line = body.substr(2, eol - 2);
  size_t sp = line.find(' ');
  std::string_view engine = line.substr(0, sp);
  if (engine != "lua") {
    *error = "ERR Unexpected engine in script shebang: " + std::string(body.substr(0, eol));
    return false;
  }
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp);
  while (!rest.empty()) {
    size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find(' ');
    std::string_view opt = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (opt.substr(0, 6) != "flags=") {
      *error = "ERR Unknown lua shebang option: " + std::string(opt);
      return false;
    }
    std::string_view list = opt.substr(6);
    *flags = 0;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view word = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (!word.empty() && !parse_script_flag(word, flags)) {
        *error = "ERR Unexpected flag in script shebang: " + std::string(word);
        return false;
      }
    }
  }
  return true;
}

bool parse_numkeys(commands::CommandContext& ctx, size_t first_after, int64_t* numkeys) {
  if (!commands::int_arg(ctx, ctx.arg(2), numkeys)) return false;
  if (*numkeys < 0) {
    ctx.error_text("ERR Number of keys can't be negative");
    return false;
  }
  if (static_cast<uint64_t>(*numkeys) > ctx.argc() - first_after) {
    ctx.error_text("ERR Number of keys can't be greater than number of args");
    return false;
  }
  return true;
}

void push_string_array(lua_State* L, std::span<const std::string_view> items) {
  lua_createtable(L, static_cast<int>(items.size()), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    lua_pushlstring(L, items[i].data(), items[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

}  // namespace

CachedScript* ScriptEngine::find_by_sha(std::string_view sha) {
  if (sha.size() != 40) return nullptr;
  char lower[40];
  for (size_t i = 0; i < 40; ++i) {
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(sha[i])));
  }
  auto it = by_sha_.find(std::string_view(lower, 40));
  return it == by_sha_.end() ? nullptr : it->second;
}

CachedScript* ScriptEngine::compile_script(std::string_view body, bool evictable,
                                           std::string* error) {
  uint32_t flags = 0;
  if (!parse_shebang(body, &flags, error)) return nullptr;
  auto script = std::make_unique<CachedScript>();
  script->sha = sha1_hex(body);
  if (CachedScript* same = find_by_sha(std::string_view(script->sha.data(), 40))) return same;
  script->body.assign(body);
  // The shebang line stays a line (so line numbers match Redis's) but becomes a comment.
  std::string source;
  std::string_view code = body;
  if (!(flags & kEvalCompat)) {
    source.assign(body);
    source[0] = '-';
    source[1] = '-';
    code = source;
  }
  lua_State* L = eval_env_.L;
  if (luaL_loadbuffer(L, code.data(), code.size(), "@user_script") != 0) {
    *error = "ERR Error compiling script (new function): ";
    *error += lua_tostring(L, -1);
    lua_pop(L, 1);
    return nullptr;
  }
  script->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  script->flags = flags;
  script->evictable = evictable;
  CachedScript* raw = script.get();
  if (evictable) {
    eval_lru_.push_front(raw);
    raw->lru = eval_lru_.begin();
  }
  scripts_bytes_ += raw->body.size() + sizeof(CachedScript);
  by_sha_.emplace(std::string_view(raw->sha.data(), 40), raw);
  by_body_.emplace(std::string_view(raw->body), std::move(script));
  evict_if_needed();
  return raw;
}

void ScriptEngine::evict_if_needed() {
  while (eval_lru_.size() > kMaxEvalScripts) {
    CachedScript* victim = eval_lru_.back();
    eval_lru_.pop_back();
    luaL_unref(eval_env_.L, LUA_REGISTRYINDEX, victim->ref);
    scripts_bytes_ -= victim->body.size() + sizeof(CachedScript);
    by_sha_.erase(std::string_view(victim->sha.data(), 40));
    by_body_.erase(std::string_view(victim->body));
    ++evicted_scripts_;
  }
}

void ScriptEngine::eval(commands::CommandContext& ctx, bool by_sha, bool read_only) {
  int64_t numkeys = 0;
  if (!parse_numkeys(ctx, 3, &numkeys)) return;
  std::string_view body_or_sha = ctx.arg(1);
  CachedScript* script = nullptr;
  if (by_sha) {
    script = find_by_sha(body_or_sha);
    if (!script) return ctx.error_text("NOSCRIPT No matching script. Please use EVAL.");
  } else {
    auto it = by_body_.find(body_or_sha);
    if (it != by_body_.end()) {
      script = it->second.get();
    } else {
      std::string error;
      script = compile_script(body_or_sha, true, &error);
      if (!script) return ctx.error_text(error);
    }
  }
  if (script->evictable && script->lru != eval_lru_.begin()) {
    eval_lru_.splice(eval_lru_.begin(), eval_lru_, script->lru);
  }
  if (!(script->flags & kEvalCompat)) {
    if (read_only && !(script->flags & kNoWrites)) {
      return ctx.error_text("ERR Can not execute a script with write flag using *_ro command.");
    }
    if (!(script->flags & kNoWrites) && broker_.storage_failed()) {
      return ctx.error_text("MISCONF Sluice cannot persist writes: " + broker_.storage_error() +
                            ". Writes are refused until the server is restarted; reads keep "
                            "working.");
    }
    if (over_maxmemory(broker_, script->flags)) return ctx.error_text(kOomError);
  }
  lua_State* L = eval_env_.L;
  auto keys = ctx.args.subspan(3, static_cast<size_t>(numkeys));
  auto args = ctx.args.subspan(3 + static_cast<size_t>(numkeys));
  lua_rawgeti(L, LUA_REGISTRYINDEX, eval_env_.handler_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, script->ref);
  fill_array(L, &eval_env_.keys_ref, &eval_env_.keys_count, "KEYS", keys);
  fill_array(L, &eval_env_.argv_ref, &eval_env_.argv_count, "ARGV", args);
  begin_run(ctx, L, true, read_only || (script->flags & kNoWrites),
            std::string_view(script->sha.data(), 40));
  run_.allow_oom = (script->flags & kAllowOom) != 0;
  run(ctx, L, 0);
  end_run();
}

// KEYS and ARGV are the same two tables for every script, refilled each time: creating two
// tables per EVAL was a tenth of its cost (allocation and garbage collection). A script may have
// changed its table (KEYS[9] = 'x', KEYS.n = 1); then it gets a fresh one, so nothing leaks
// from one script to the next.
void ScriptEngine::fill_array(lua_State* L, int* ref, int* count, const char* name,
                              std::span<const std::string_view> items) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, *ref);
  const int n = static_cast<int>(items.size());
  for (int i = 0; i < n; ++i) {
    const std::string_view item = items[static_cast<size_t>(i)];
    lua_pushlstring(L, item.data(), item.size());
    lua_rawseti(L, -2, i + 1);
  }
  for (int i = n + 1; i <= *count; ++i) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  *count = n;
  if (n > 0) {
    lua_pushinteger(L, n);
  } else {
    lua_pushnil(L);
  }
  if (lua_next(L, -2) == 0) {  // nothing after items[n-1]: the table holds exactly the items
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 3);
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  push_string_array(L, items);
  lua_pushvalue(L, -1);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(L, LUA_REGISTRYINDEX, eval_env_.globals_ref);
  lua_insert(L, -2);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

void ScriptEngine::script_load(commands::CommandContext& ctx, std::string_view body) {
  CachedScript* script = nullptr;
  auto it = by_body_.find(body);
  if (it != by_body_.end()) {
    script = it->second.get();
  } else {
    std::string error;
    script = compile_script(body, false, &error);
    if (!script) return ctx.error_text(error);
  }
  // SCRIPT LOAD pins a script EVAL added: it is no longer evicted.
  if (script->evictable) {
    eval_lru_.erase(script->lru);
    script->evictable = false;
  }
  ctx.reply.bulk(std::string_view(script->sha.data(), 40));
}

bool ScriptEngine::script_exists(std::string_view sha) const {
  return const_cast<ScriptEngine*>(this)->find_by_sha(sha) != nullptr;
}

void ScriptEngine::script_flush() {
  by_sha_.clear();
  by_body_.clear();
  eval_lru_.clear();
  scripts_bytes_ = 0;
  // A fresh state frees everything the old scripts allocated (as Redis recreates its state).
  reset_eval_env();
}

uint64_t ScriptEngine::eval_vm_bytes() const {
  return static_cast<uint64_t>(lua_gc(eval_env_.L, LUA_GCCOUNT, 0)) * 1024 +
         static_cast<uint64_t>(lua_gc(eval_env_.L, LUA_GCCOUNTB, 0));
}

uint64_t ScriptEngine::function_vm_bytes() const {
  return static_cast<uint64_t>(lua_gc(function_env_.L, LUA_GCCOUNT, 0)) * 1024 +
         static_cast<uint64_t>(lua_gc(function_env_.L, LUA_GCCOUNTB, 0));
}

ScriptEngine& engine(core::Broker& broker) {
  if (!broker.scripting) broker.scripting = std::make_unique<ScriptEngine>(broker);
  auto& e = static_cast<ScriptEngine&>(*broker.scripting);
  if (e.loaded_generation != broker.generation()) {
    e.loaded_generation = broker.generation();
    e.reload_functions();
  }
  return e;
}

void ScriptEngine::fcall(commands::CommandContext& ctx, bool read_only) {
  Function* found = find_function(ctx.arg(1));
  if (!found) return ctx.error_text("ERR Function not found");
  int64_t numkeys = 0;
  if (!wire::parse_i64(ctx.arg(2), &numkeys))
    return ctx.error_text("ERR Bad number of keys provided");
  if (numkeys > static_cast<int64_t>(ctx.argc() - 3)) {
    return ctx.error_text("ERR Number of keys can't be greater than number of args");
  }
  if (numkeys < 0) return ctx.error_text("ERR Number of keys can't be negative");
  const Function& fn = *found;
  if (read_only && !(fn.flags & kNoWrites)) {
    return ctx.error_text("ERR Can not execute a script with write flag using *_ro command.");
  }
  if (!(fn.flags & kNoWrites) && broker_.storage_failed()) {
    return ctx.error_text("MISCONF Sluice cannot persist writes: " + broker_.storage_error() +
                          ". Writes are refused until the server is restarted; reads keep "
                          "working.");
  }
  if (over_maxmemory(broker_, fn.flags)) return ctx.error_text(kOomError);
  lua_State* L = function_env_.L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, function_env_.handler_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn.ref);
  push_string_array(L, ctx.args.subspan(3, static_cast<size_t>(numkeys)));
  push_string_array(L, ctx.args.subspan(3 + static_cast<size_t>(numkeys)));
  begin_run(ctx, L, false, read_only || (fn.flags & kNoWrites), fn.name);
  run_.allow_oom = (fn.flags & kAllowOom) != 0;
  run(ctx, L, 2);
  end_run();
}

}  // namespace sluice::scripting
