// Function libraries: FUNCTION LOAD (library metadata, running the code with the load-time API,
// redis.register_function), DELETE, FLUSH, RESTORE, and their persistence in the KV journal.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <lua.hpp>

#include "broker/kv/kv_store.h"
#include "broker/scripting/function_dump.h"
#include "broker/scripting/lua_env.h"
#include "broker/scripting/lua_redis_api.h"
#include "broker/scripting/scripting.h"

namespace sluice::scripting {
namespace {

// FUNCTION LOAD's library code must finish within this long (as Redis).
constexpr int64_t kLoadTimeoutMs = 500;

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

constexpr const char* kBadNameText =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one "
    "character long";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "#!lua name=<lib>": the library name, or an error in Redis's words.
bool parse_library_header(std::string_view code, std::string* name, std::string* error) {
  if (code.substr(0, 2) != "#!") {
    *error = "ERR Missing library metadata";
    return false;
  }
  size_t eol = code.find('\n');
  if (eol == std::string_view::npos) {
    *error = "ERR Invalid library metadata";
    return false;
  }
  std::string_view line = code.substr(2, eol - 2);
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < line.size();) {
    size_t start = line.find_first_not_of(" \t\r", i);
    if (start == std::string_view::npos) break;
    size_t end = line.find_first_of(" \t\r", start);
    if (end == std::string_view::npos) end = line.size();
    parts.push_back(line.substr(start, end - start));
    i = end;
  }
  std::string_view engine = parts.empty() ? std::string_view() : parts[0];
  if (lower(engine) != "lua") {
    *error = "ERR Engine '" + std::string(engine) + "' not found";
    return false;
  }
  bool have_name = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].substr(0, 5) == "name=") {
      if (have_name) {
        *error = "ERR Invalid metadata value, name argument was given multiple times";
        return false;
      }
      have_name = true;
      name->assign(parts[i].substr(5));
    } else {
      *error = "ERR Invalid metadata value given: " + std::string(parts[i]);
      return false;
    }
  }
  if (!have_name) {
    *error = "ERR Library name was not given";
    return false;
  }
  return true;
}

int raise_registration(lua_State* L, const char* text) {
  push_error_table(L, text, std::strlen(text));
  return -1;
}

bool parse_function_flags(lua_State* L, int idx, uint32_t* flags) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    uint32_t f = 0;
    const char* s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    std::string_view w(s);
    if (w == "no-writes") {
      f = kNoWrites;
    } else if (w == "allow-oom") {
      f = kAllowOom;
    } else if (w == "allow-stale") {
      f = kAllowStale;
    } else if (w == "no-cluster") {
      f = kNoCluster;
    } else if (w == "allow-cross-slot-keys") {
      f = kAllowCrossSlotKeys;
    } else {
      lua_pop(L, 2);
      return false;
    }
    *flags |= f;
    lua_pop(L, 1);
  }
  return true;
}

const std::pair<uint32_t, const char*> kFlagNames[] = {
    {kNoWrites, "no-writes"},
    {kAllowOom, "allow-oom"},
    {kAllowStale, "allow-stale"},
    {kNoCluster, "no-cluster"},
    {kAllowCrossSlotKeys, "allow-cross-slot-keys"}};

}  // namespace

Function* ScriptEngine::find_function(std::string_view name) {
  char buf[64];
  std::string big;
  std::string_view key;
  if (name.size() <= sizeof buf) {
    for (size_t i = 0; i < name.size(); ++i) {
      buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
    key = std::string_view(buf, name.size());
  } else {
    big = lower(name);
    key = big;
  }
  auto it = functions_.find(key);
  return it == functions_.end() ? nullptr : it->second;
}

// redis.register_function(name, callback) or redis.register_function{function_name=...,
// callback=..., flags={...}, description=...}, while library code loads.
int ScriptEngine::lua_register_function(lua_State* L) {
  if (!loading_)
    return raise_registration(
        L, "redis.register_function can only be called on FUNCTION LOAD command");
  int argc = lua_gettop(L);
  if (argc < 1 || argc > 2) {
    return raise_registration(L, "wrong number of arguments to redis.register_function");
  }
  uint32_t flags = 0;
  int name_idx = 0;
  int callback_idx = 0;
  int description_idx = 0;
  if (argc == 1) {
    if (!lua_istable(L, 1)) {
      return raise_registration(L,
                                "calling redis.register_function with a single argument is "
                                "only applicable to Lua table (representing named arguments).");
    }
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      // Stack: table, key, value. Keep the values on the stack (indices noted) while iterating.
      const char* key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
      std::string_view k = key ? std::string_view(key) : std::string_view();
      if (k == "function_name") {
        if (!lua_isstring(L, -1)) {
          return raise_registration(
              L, "function_name argument given to redis.register_function must be a string");
        }
        lua_pushvalue(L, -1);
        lua_insert(L, 2);  // below the key/value pair
        name_idx = 2;
        if (callback_idx) ++callback_idx;
        if (description_idx) ++description_idx;
      } else if (k == "callback") {
        if (!lua_isfunction(L, -1)) {
          return raise_registration(
              L, "callback argument given to redis.register_function must be a function");
        }
        lua_pushvalue(L, -1);
        lua_insert(L, 2);
        callback_idx = 2;
        if (name_idx) ++name_idx;
        if (description_idx) ++description_idx;
      } else if (k == "description") {
        if (!lua_isstring(L, -1)) {
          return raise_registration(
              L, "description argument given to redis.register_function must be a string");
        }
        lua_pushvalue(L, -1);
        lua_insert(L, 2);
        description_idx = 2;
        if (name_idx) ++name_idx;
        if (callback_idx) ++callback_idx;
      } else if (k == "flags") {
        if (!lua_istable(L, -1)) {
          return raise_registration(L,
                                    "flags argument to redis.register_function must be a table "
                                    "representing function flags");
        }
        if (!parse_function_flags(L, lua_gettop(L), &flags)) {
          return raise_registration(L, "unknown flag given");
        }
      } else {
        return raise_registration(L, "unknown argument given to redis.register_function");
      }
      lua_pop(L, 1);
    }
    if (!name_idx) {
      return raise_registration(L, "redis.register_function must get a function name argument");
    }
    if (!callback_idx) {
      return raise_registration(L, "redis.register_function must get a callback argument");
    }
  } else {
    if (!lua_isstring(L, 1)) {
      return raise_registration(L, "first argument to redis.register_function must be a string");
    }
    if (!lua_isfunction(L, 2)) {
      return raise_registration(L, "second argument to redis.register_function must be a function");
    }
    name_idx = 1;
    callback_idx = 2;
  }
  size_t name_len = 0;
  const char* name = lua_tolstring(L, name_idx, &name_len);
  if (!valid_name(std::string_view(name, name_len))) {
    return raise_registration(L, kBadNameText);
  }
  for (const auto& existing : loading_->functions) {
    if (lower(existing->name) == lower(std::string_view(name, name_len))) {
      return raise_registration(L, "Function already exists in the library");
    }
  }
  auto fn = std::make_unique<Function>();
  fn->name.assign(name, name_len);
  fn->flags = flags;
  if (description_idx) {
    size_t len = 0;
    const char* d = lua_tolstring(L, description_idx, &len);
    fn->description.assign(d, len);
    fn->has_description = true;
  }
  lua_pushvalue(L, callback_idx);
  fn->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  fn->library = loading_;
  loading_->functions.push_back(std::move(fn));
  return 0;
}

std::string ScriptEngine::load_library(std::string_view code, bool replace, bool journal,
                                       std::string* library_name) {
  std::string name;
  std::string error;
  if (!parse_library_header(code, &name, &error)) return error;
  if (!valid_name(name)) return std::string("ERR ") + kBadNameText;
  auto old = libraries_.find(name);
  if (old != libraries_.end() && !replace) return "ERR Library '" + name + "' already exists";

  lua_State* L = function_env_.L;
  std::string source(code);
  source[0] = '-';
  source[1] = '-';
  if (luaL_loadbuffer(L, source.data(), source.size(), "@user_function") != 0) {
    error = std::string("ERR Error compiling function: ") + lua_tostring(L, -1);
    lua_settop(L, 0);
    return error;
  }
  auto lib = std::make_unique<Library>();
  lib->name = name;
  lib->code.assign(code);
  // Library code runs with the load-time API as its globals, under a time limit.
  lua_rawgeti(L, LUA_REGISTRYINDEX, function_env_.globals_meta_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, function_env_.load_api_ref);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  loading_ = lib.get();
  load_deadline_ms_ = core::now_ms() + kLoadTimeoutMs;
  lua_sethook(
      L,
      [](lua_State* s, lua_Debug*) {
        lua_getfield(s, LUA_REGISTRYINDEX, "sluice.engine");
        auto* e = static_cast<ScriptEngine*>(lua_touserdata(s, -1));
        lua_pop(s, 1);
        if (e->lua_hook(s) < 0) lua_error(s);
      },
      LUA_MASKCOUNT, 100000);
  int status = lua_pcall(L, 0, 0, 0);
  lua_sethook(L, nullptr, 0, 0);
  loading_ = nullptr;
  lua_rawgeti(L, LUA_REGISTRYINDEX, function_env_.globals_meta_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, function_env_.globals_ref);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  auto drop_new = [&] {
    for (const auto& fn : lib->functions) luaL_unref(L, LUA_REGISTRYINDEX, fn->ref);
  };
  if (status != 0) {
    std::string msg;
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "ERR unknown error";
      lua_pop(L, 1);
    } else {
      msg = std::string("ERR ") + (lua_isstring(L, -1) ? lua_tostring(L, -1) : "unknown error");
    }
    lua_settop(L, 0);
    drop_new();
    return "ERR Error registering functions: " + msg;
  }
  lua_settop(L, 0);
  if (lib->functions.empty()) return "ERR No functions registered";
  for (const auto& fn : lib->functions) {
    Function* clash = find_function(fn->name);
    if (clash && clash->library->name != name) {
      drop_new();
      return "ERR Function " + fn->name + " already exists";
    }
  }
  if (old != libraries_.end()) {
    for (const auto& fn : old->second->functions) {
      functions_.erase(lower(fn->name));
      luaL_unref(L, LUA_REGISTRYINDEX, fn->ref);
    }
    libraries_.erase(old);
  }
  for (const auto& fn : lib->functions) functions_[lower(fn->name)] = fn.get();
  libraries_[name] = std::move(lib);
  if (library_name) *library_name = name;
  if (journal) persist_functions();
  return {};
}

std::string ScriptEngine::function_load(std::string_view code, bool replace,
                                        std::string* library_name) {
  return load_library(code, replace, true, library_name);
}

std::string ScriptEngine::function_delete(std::string_view library_name) {
  auto it = libraries_.find(std::string(library_name));
  if (it == libraries_.end()) return "ERR Library not found";
  for (const auto& fn : it->second->functions) {
    functions_.erase(lower(fn->name));
    luaL_unref(function_env_.L, LUA_REGISTRYINDEX, fn->ref);
  }
  libraries_.erase(it);
  persist_functions();
  return {};
}

void ScriptEngine::function_flush() {
  functions_.clear();
  libraries_.clear();
  reset_function_env();
  persist_functions();
}

std::string ScriptEngine::function_restore(std::string_view payload, std::string_view policy) {
  std::vector<std::string> codes;
  std::string error;
  if (!decode_function_dump(payload, &codes, &error)) return error;
  // Load into a scratch engine first: a payload that does not load leaves everything as it was.
  std::vector<std::string> names;
  {
    ScriptEngine scratch(broker_);
    for (const std::string& code : codes) {
      std::string name;
      error = scratch.load_library(code, false, false, &name);
      if (!error.empty()) return error;
      names.push_back(name);
    }
  }
  bool flush = policy == "FLUSH";
  bool replace = policy == "REPLACE";
  if (!flush) {
    for (size_t i = 0; i < codes.size(); ++i) {
      if (!replace && libraries_.count(names[i]))
        return "ERR Library " + names[i] + " already exists";
    }
  }
  // Keep the current libraries to put back if the merged set does not load.
  std::vector<std::string> before;
  for (const auto& [n, lib] : libraries_) before.push_back(lib->code);
  if (flush) {
    functions_.clear();
    libraries_.clear();
    reset_function_env();
  }
  for (const std::string& code : codes) {
    error = load_library(code, true, false, nullptr);
    if (!error.empty()) {
      functions_.clear();
      libraries_.clear();
      reset_function_env();
      for (const std::string& c : before) load_library(c, true, false, nullptr);
      return error;
    }
  }
  persist_functions();
  return {};
}

std::string ScriptEngine::function_dump() const {
  std::vector<std::string_view> codes;
  for (const Library* lib : libraries()) codes.push_back(lib->code);
  return encode_function_dump(codes);
}

const std::vector<const Library*> ScriptEngine::libraries() const {
  std::vector<const Library*> out;
  for (const auto& [name, lib] : libraries_) out.push_back(lib.get());
  std::sort(out.begin(), out.end(),
            [](const Library* a, const Library* b) { return a->name < b->name; });
  return out;
}

uint64_t ScriptEngine::functions_bytes() const {
  uint64_t bytes = 0;
  for (const auto& [name, lib] : libraries_) {
    bytes += sizeof(Library) + lib->name.size() + lib->code.size();
    for (const auto& fn : lib->functions) {
      bytes += sizeof(Function) + fn->name.size() + fn->description.size();
    }
  }
  return bytes;
}

void ScriptEngine::persist_functions() {
  std::vector<std::string> codes;
  for (const Library* lib : libraries()) codes.push_back(lib->code);
  broker_.function_libraries = codes;
  broker_.kv().record_functions(codes);
}

void ScriptEngine::reload_functions() {
  functions_.clear();
  libraries_.clear();
  reset_function_env();
  for (const std::string& code : broker_.function_libraries) {
    std::string error = load_library(code, true, false, nullptr);
    if (!error.empty()) spdlog::error("function library could not be loaded again: {}", error);
  }
}

std::string_view function_flag_name(uint32_t flag) {
  for (const auto& [bit, name] : kFlagNames) {
    if (bit == flag) return name;
  }
  return {};
}

}  // namespace sluice::scripting
