// Helpers shared by the string, hash, keyspace, expire and transaction commands: typed lookups
// that reply WRONGTYPE, the write bookkeeping (journal, WATCH, keyspace events), and Redis's
// number parsing with its error words.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "broker/commands/context.h"
#include "broker/kv/kv_object.h"
#include "broker/kv/kv_store.h"

namespace sluice::commands {

// Registered by register_kv_commands (hash_commands.cc) and register_keyspace_commands
// (expire_commands.cc).
void register_hash_commands(CommandTable& table);
void register_expire_commands(CommandTable& table);

// A live key for a read: counts keyspace hits/misses and refreshes the access time and LFU
// counter (unless the client asked for CLIENT NO-TOUCH, or `touch` is false: EXISTS).
core::Object* lookup_read(CommandContext& ctx, std::string_view key, bool touch = true);
// A live key for a write (no stats), access time refreshed.
core::Object* lookup_write(CommandContext& ctx, std::string_view key);

// The object of type T (kType) at `key`, or nullptr if missing. A key of another type replies
// WRONGTYPE and sets *replied. read_typed counts keyspace hits and misses; write_typed does not.
template <typename T, core::ObjectType kType>
T* as_typed(CommandContext& ctx, core::Object* obj, bool* replied) {
  *replied = false;
  if (!obj) return nullptr;
  if (obj->type() != kType) {
    ctx.wrong_type();
    *replied = true;
    return nullptr;
  }
  return static_cast<T*>(obj);
}
template <typename T, core::ObjectType kType>
T* read_typed(CommandContext& ctx, std::string_view key, bool* replied) {
  return as_typed<T, kType>(ctx, lookup_read(ctx, key), replied);
}
template <typename T, core::ObjectType kType>
T* write_typed(CommandContext& ctx, std::string_view key, bool* replied) {
  return as_typed<T, kType>(ctx, lookup_write(ctx, key), replied);
}

// The string / hash at `key`, or nullptr if missing. A key of another type replies WRONGTYPE
// and sets *replied.
kv::StringObject* read_string(CommandContext& ctx, std::string_view key, bool* replied);
kv::StringObject* write_string(CommandContext& ctx, std::string_view key, bool* replied);
kv::HashObject* read_hash(CommandContext& ctx, std::string_view key, bool* replied);
kv::HashObject* write_hash(CommandContext& ctx, std::string_view key, bool* replied);

// Puts `obj` at `key` in database `db`, releasing (and journaling the removal of) what was
// there, and signals clients blocked on the key. Returns the stored object. The caller journals
// the new value afterwards.
core::Object* replace_key(CommandContext& ctx, int db, std::string_view key,
                          std::unique_ptr<core::Object> obj);

// After a write to `key` in the client's db: the reply waits for durability, WATCH is touched.
inline void kv_written(CommandContext& ctx, std::string_view key) {
  ctx.wrote = true;
  ctx.broker.key_modified(ctx.client.db, key);
}

// Whether a key of this type arriving under a name (RENAME, MOVE, COPY, SWAPDB) may serve
// clients blocked on that name, as Redis signals a key when it is added: lists (BLPOP...) and
// sorted sets (BZPOPMIN...).
inline bool serves_waiters(core::ObjectType type) {
  return type == core::ObjectType::kList || type == core::ObjectType::kZSet;
}

// Journals a key's TTL (string, hash, or stream through its own control journal).
void persist_ttl(CommandContext& ctx, int db, std::string_view key, core::Object& obj);
// Sets a key's TTL in memory and journals it.
void set_ttl(CommandContext& ctx, int db, std::string_view key, core::Object& obj, int64_t at_ms);
// Deletes a key of any type (journaled, WATCH touched). Returns whether it existed.
bool delete_key(CommandContext& ctx, int db, std::string_view key);

// Integer argument; replies "value is not an integer or out of range" on failure.
bool int_arg(CommandContext& ctx, std::string_view arg, int64_t* out);
// Redis's string2ld for INCRBYFLOAT & co: no spaces, no NaN, at most 5000 bytes.
bool parse_long_double(std::string_view s, long double* out);
// A blocking timeout in seconds as Redis 7.0 parses it (a long double, times 1000 rounded up;
// "timeout is negative", "timeout is not a float or out of range"). *deadline_ms is 0 for "wait
// forever", else an absolute time. Replies and returns false on error.
bool parse_block_timeout(CommandContext& ctx, std::string_view arg, int64_t* deadline_ms);
// Cursor argument of SCAN/HSCAN; replies "invalid cursor" on failure.
bool cursor_arg(CommandContext& ctx, std::string_view arg, uint64_t* out);

}  // namespace sluice::commands
