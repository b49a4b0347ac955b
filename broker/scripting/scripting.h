// Lua scripting and Functions (EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL) with Redis 7.0's semantics.
//
// The contract:
// - What a script may do. It runs in PUC Lua 5.1 with Redis's environment: the base library
//   without loadfile/dofile/print/getfenv/setfenv/module/require, string, table, math (with
//   Redis's random), coroutine, cjson, cmsgpack, bit, struct, os.clock, the `redis` table, and
//   KEYS/ARGV (EVAL) or (keys, args) arguments (functions). Globals are locked: assigning one, or
//   changing any library table, fails with "Attempt to modify a readonly table"; reading a missing
//   one fails with "Script attempted to access nonexistent global variable 'x'". Library code
//   loaded by FUNCTION LOAD sees only redis.register_function, redis.log and the version fields.
// - How it calls commands. redis.call/redis.pcall go through commands::call_for_script, the
//   dispatcher's own door: the same lookup, arity and flag checks (noscript refused, writes
//   refused in EVAL_RO/FCALL_RO/no-writes scripts, MISCONF after a storage failure), the same
//   handler, stats, keyspace events, journaling and WATCH invalidation as a client's command. The
//   command runs on the engine's script client, which carries the caller's database (a SELECT in
//   the script stays in the script) and the protocol chosen with redis.setresp; blocking commands
//   answer at once. Replies are converted to Lua values straight from their RESP bytes.
// - What is atomic. A script runs to its end before any other command; other clients are only
//   served from its hook once it has run longer than busy-reply-threshold, and then only with
//   -BUSY or the commands Redis allows (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE...). SCRIPT
//   KILL stops a script that has not written (else -UNKILLABLE); FUNCTION KILL stops a function.
// - What is durable. The KV journal records of a script (and of a MULTI/EXEC) are written as one
//   batch (storage/journal.h): after a crash replay applies all of them or none. Stream logs are
//   separate files: a script that writes both KV keys and streams may, after a crash in between
//   the two writes, come back with one part only (README, "Scripting"). Function libraries are
//   journaled in the KV journal (and its snapshots) and compiled again after a restart; the
//   script cache is not persisted, as in Redis.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/broker.h"
#include "broker/scripting/sha1.h"

struct lua_State;

namespace sluice::commands {
class CommandContext;
}

namespace sluice::scripting {

// Flags of an EVAL script (#!lua flags=...) or a function (register_function flags).
enum ScriptFlag : uint32_t {
  kNoWrites = 1u << 0,
  kAllowOom = 1u << 1,
  kAllowStale = 1u << 2,
  kNoCluster = 1u << 3,
  kAllowCrossSlotKeys = 1u << 4,
  kEvalCompat = 1u << 5,  // an EVAL script without a shebang (Redis 6 rules: EVAL_RO only forbids
                          // writes, no check before it runs)
};

// A Lua state and the registry references the engine uses on every run (lua_env.cc).
struct LuaEnv {
  lua_State* L = nullptr;
  int globals_ref = 0;       // the real globals table (KEYS and ARGV are set in it for EVAL)
  int handler_ref = 0;       // message handler for lua_pcall: error tables with source and line
  int globals_meta_ref = 0;  // metatable of the globals proxy; its __index is the globals, or the
                             // load API while a library loads (functions)
  int load_api_ref = 0;      // functions: the globals library code sees while it loads
  int keys_ref = 0;          // EVAL: the KEYS and ARGV tables, refilled for every script
  int argv_ref = 0;
  int keys_count = 0;  // how many entries the last script got in each
  int argv_count = 0;
};

// A script in the cache.
struct CachedScript {
  Sha1Hex sha;
  std::string body;
  int ref = 0;  // compiled function in the eval state's registry
  uint32_t flags = 0;
  bool evictable = false;  // added by EVAL (SCRIPT LOAD scripts stay)
  std::list<CachedScript*>::iterator lru;
};

struct Library;

// A function registered by a library.
struct Function {
  std::string name;
  std::string description;
  bool has_description = false;
  uint32_t flags = 0;
  int ref = 0;  // the callback in the function state's registry
  Library* library = nullptr;
};

struct Library {
  std::string name;
  std::string code;
  std::vector<std::unique_ptr<Function>> functions;  // in registration order
};

// What is running now (one script at a time: scripts cannot nest).
struct RunState {
  bool active = false;
  bool is_eval = true;
  bool read_only = false;  // writes refused (EVAL_RO, FCALL_RO, no-writes)
  bool wrote = false;      // called a write command: SCRIPT KILL refuses
  bool allow_oom = false;  // flagged allow-oom: denyoom commands run over maxmemory
  bool killed = false;     // SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE: stop at the next hook
  bool busy = false;       // past busy-reply-threshold: other clients get -BUSY
  bool held = false;       // the caller's reply waits for durability (appendfsync always)
  int64_t start_ms = 0;
  std::string_view name;  // the sha (EVAL) or the function's name, for errors and FUNCTION STATS
  std::span<const std::string_view> command;  // the caller's command (FUNCTION STATS)
  core::Client* caller = nullptr;
  lua_State* L = nullptr;
};

class ScriptEngine final : public core::BrokerExtension {
 public:
  explicit ScriptEngine(core::Broker& broker);
  ~ScriptEngine() override;
  ScriptEngine(const ScriptEngine&) = delete;
  ScriptEngine& operator=(const ScriptEngine&) = delete;

  // EVAL / EVALSHA / EVAL_RO / EVALSHA_RO (args as the command got them).
  void eval(commands::CommandContext& ctx, bool by_sha, bool read_only);
  // FCALL / FCALL_RO.
  void fcall(commands::CommandContext& ctx, bool read_only);

  // SCRIPT LOAD: compiles and caches; replies with the sha or the compile error.
  void script_load(commands::CommandContext& ctx, std::string_view body);
  bool script_exists(std::string_view sha) const;
  void script_flush();
  // SCRIPT KILL (eval = true) / FUNCTION KILL: replies OK or Redis's error.
  void kill(commands::CommandContext& ctx, bool eval);

  // FUNCTION LOAD / DELETE / FLUSH / RESTORE. Each returns an error text (empty on success);
  // a change is journaled.
  std::string function_load(std::string_view code, bool replace, std::string* library_name);
  std::string function_delete(std::string_view library_name);
  void function_flush();
  std::string function_restore(std::string_view payload, std::string_view policy);
  std::string function_dump() const;
  const std::vector<const Library*> libraries() const;
  size_t function_count() const { return functions_.size(); }
  size_t library_count() const { return libraries_.size(); }
  const RunState& running() const { return run_; }

  // INFO memory figures (Redis's field names).
  uint64_t eval_vm_bytes() const;
  uint64_t function_vm_bytes() const;
  uint64_t cached_scripts_bytes() const { return scripts_bytes_; }
  uint64_t functions_bytes() const;
  size_t cached_script_count() const { return by_sha_.size(); }
  uint64_t evicted_scripts() const { return evicted_scripts_; }

  // Called from the Lua side (lua_redis_api.cc, lua_env.cc). Each leaves its result (or error
  // table) on the stack and returns what the C function must return, or -1 when the error table
  // on top must be raised; they never raise themselves, so no C++ object is live when Lua
  // longjmps.
  int lua_command(lua_State* L, bool raise);
  int lua_setresp(lua_State* L);
  int lua_register_function(lua_State* L);
  // The count hook: -1 when the script must stop (the error table is on the stack).
  int lua_hook(lua_State* L);

  // After Broker::open(): compiles the journaled function libraries again (restart, DEBUG
  // RELOAD). Called by engine() when the broker's generation changed.
  void reload_functions();
  uint64_t loaded_generation = UINT64_MAX;

 private:
  CachedScript* find_by_sha(std::string_view sha);
  Function* find_function(std::string_view name);
  // Compiles `body` into the cache; nullptr with *error set on a shebang or compile error.
  CachedScript* compile_script(std::string_view body, bool evictable, std::string* error);
  void evict_if_needed();
  // Runs the function on top of the run state's stack with its arguments pushed, replies.
  void run(commands::CommandContext& ctx, lua_State* L, int nargs);
  void begin_run(commands::CommandContext& ctx, lua_State* L, bool is_eval, bool read_only,
                 std::string_view name);
  void end_run();
  void persist_functions();
  // Refills the reused KEYS or ARGV table (*ref, global `name`) with `items`.
  void fill_array(lua_State* L, int* ref, int* count, const char* name,
                  std::span<const std::string_view> items);
  void reset_eval_env();
  void reset_function_env();
  std::string load_library(std::string_view code, bool replace, bool journal,
                           std::string* library_name);

  core::Broker& broker_;
  LuaEnv eval_env_;
  LuaEnv function_env_;
  core::Client script_client_;
  RunState run_;

  // Script cache: by body (EVAL finds its script without hashing it with SHA-1) and by sha.
  std::unordered_map<std::string_view, std::unique_ptr<CachedScript>> by_body_;
  std::unordered_map<std::string_view, CachedScript*> by_sha_;
  std::list<CachedScript*> eval_lru_;  // evictable scripts, most recently used first
  uint64_t scripts_bytes_ = 0;
  uint64_t evicted_scripts_ = 0;
  uint64_t eval_calls_ = 0;

  std::unordered_map<std::string, std::unique_ptr<Library>> libraries_;
  // By lowercase name (FCALL is case-insensitive, as Redis).
  std::unordered_map<std::string, Function*, core::StringHash, std::equal_to<>> functions_;
  Library* loading_ = nullptr;  // the library whose code is running (register_function target)
  int64_t load_deadline_ms_ = 0;

  // redis.call's reused buffers: argument views and number texts.
  std::vector<std::string_view> argv_;
  std::vector<char> numbers_;
};

// A function flag's name in FUNCTION LIST ("no-writes", ...).
std::string_view function_flag_name(uint32_t flag);

// The broker's engine, created on first use; recompiles the journaled function libraries after
// the broker (re)opened.
ScriptEngine& engine(core::Broker& broker);

// At most this many scripts added by EVAL stay cached; the least recently used go first (SCRIPT
// LOAD scripts are never evicted), as Redis 7.4 bounds its cache.
inline constexpr size_t kMaxEvalScripts = 500;

}  // namespace sluice::scripting
