// Keyspace commands: DEL UNLINK EXISTS TYPE KEYS SCAN RENAME RENAMENX RANDOMKEY TOUCH COPY MOVE
// SWAPDB OBJECT. They work on every key type; streams keep their data in their own logs, so
// moving one calls StreamEngine::relocate() and copying one re-appends its entries.
#include <string>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/core/glob.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

void del(CommandContext& ctx) {
  int64_t n = 0;
  const int db = ctx.client.db;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string_view key = ctx.arg(i);
    if (!lookup_write(ctx, key)) continue;
    delete_key(ctx, db, key);
    ctx.broker.notify('g', "del", key, db);
    ctx.wrote = true;
    ++n;
  }
  ctx.reply.integer(n);
}

void exists(CommandContext& ctx) {
  // As Redis's EXISTS: counted as a hit or miss, but not an access (LRU/LFU unchanged).
  int64_t n = 0;
  for (size_t i = 1; i < ctx.argc(); ++i) n += lookup_read(ctx, ctx.arg(i), false) ? 1 : 0;
  ctx.reply.integer(n);
}

void touch(CommandContext& ctx) {
  int64_t n = 0;
  for (size_t i = 1; i < ctx.argc(); ++i) n += lookup_read(ctx, ctx.arg(i)) ? 1 : 0;
  ctx.reply.integer(n);
}

void type(CommandContext& ctx) {
  core::Object* obj = ctx.db().find(ctx.arg(1), ctx.now_ms);
  ctx.reply.simple(obj ? core::type_name(obj->type()) : "none");
}

void keys(CommandContext& ctx) {
  std::string_view pattern = ctx.arg(1);
  const bool all = pattern == "*";
  std::vector<std::string_view> out;
  ctx.db().for_each([&](const std::string& key, const core::Object& obj) {
    if (obj.expire_at_ms != 0 && obj.expire_at_ms <= ctx.now_ms) return;
    if (all || core::glob_match(pattern, key)) out.emplace_back(key);
  });
  ctx.reply.array(out.size());
  for (std::string_view k : out) ctx.reply.bulk(k);
}

// Maps a TYPE filter name to an object type; false for unknown names (they match nothing).
bool type_filter(std::string_view name, core::ObjectType* out) {
  for (auto t : core::kAllObjectTypes) {
    if (iequals(name, core::type_name(t))) {
      *out = t;
      return true;
    }
  }
  return false;
}

void scan(CommandContext& ctx) {
  uint64_t cursor = 0;
  if (!cursor_arg(ctx, ctx.arg(1), &cursor)) return;
  std::string_view pattern;
  std::string_view type_name;
  bool has_type = false;
  int64_t count = 10;
  for (size_t i = 2; i < ctx.argc(); i += 2) {
    bool has_value = i + 1 < ctx.argc();
    if (iequals(ctx.arg(i), "COUNT") && has_value) {
      if (!int_arg(ctx, ctx.arg(i + 1), &count)) return;
      if (count < 1) return ctx.syntax_error();
    } else if (iequals(ctx.arg(i), "MATCH") && has_value) {
      pattern = ctx.arg(i + 1);
    } else if (iequals(ctx.arg(i), "TYPE") && has_value) {
      type_name = ctx.arg(i + 1);
      has_type = true;
    } else {
      return ctx.syntax_error();
    }
  }
  core::ObjectType wanted{};
  const bool known_type = has_type && type_filter(type_name, &wanted);
  const bool match_all = pattern.empty() || pattern == "*";
  std::vector<std::string> found;
  auto keep = [&](const std::string& key, const core::Object& obj) {
    if (has_type && (!known_type || obj.type() != wanted)) return;
    if (!match_all && !core::glob_match(pattern, key)) return;
    found.push_back(key);
  };
  // Redis visits at most count*10 buckets per call, stopping once it has `count` keys.
  int64_t max_steps = count > INT64_MAX / 10 ? INT64_MAX : count * 10;
  uint64_t next = cursor;
  if (ctx.db().size() > 0) {
    do {
      next = ctx.db().scan_step(next, keep);
    } while (next != 0 && max_steps-- > 0 && found.size() < static_cast<size_t>(count));
  } else {
    next = 0;
  }
  // Expired keys are filtered (and reclaimed) after the walk, as Redis does.
  std::vector<std::string> live;
  live.reserve(found.size());
  for (auto& k : found) {
    if (ctx.db().find(k, ctx.now_ms)) live.push_back(std::move(k));
  }
  ctx.reply.array(2);
  ctx.reply.bulk(std::to_string(next));
  ctx.reply.array(live.size());
  for (const auto& k : live) ctx.reply.bulk(k);
}

void randomkey(CommandContext& ctx) {
  // Expired keys found on the way are reclaimed; give up after a bounded number of tries when
  // every key is expired (Redis does the same).
  for (int tries = 0; tries < 100; ++tries) {
    const std::string* key = ctx.db().random_key();
    if (!key) return ctx.reply.null();
    std::string copy = *key;
    if (ctx.db().find(copy, ctx.now_ms)) return ctx.reply.bulk(copy);
  }
  ctx.reply.null();
}

// Moves the object at (db, key) to (to_db, to_key), replacing what was there; journals it.
void move_object(CommandContext& ctx, int db, std::string_view key, int to_db,
                 std::string_view to_key) {
  auto obj = ctx.broker.db(db).remove(key);
  if (obj->type() == core::ObjectType::kStream) {
    auto& s = static_cast<stream::Stream&>(*obj);
    wire::Status st = ctx.broker.streams().relocate(s, to_db, to_key);
    if (!st) ctx.broker.set_storage_failed(st.detail());
  } else {
    // Journal before the destination's old value is released: its deletion record must not
    // follow (and undo) the move on replay, so drop a KV destination silently first.
    core::Object* dst = ctx.broker.db(to_db).find_raw(to_key);
    if (dst && dst->type() != core::ObjectType::kStream) ctx.broker.db(to_db).remove(to_key);
    ctx.broker.kv().record_move(db, key, to_db, to_key, false);
  }
  ctx.broker.key_modified(db, key);
  ctx.broker.key_modified(to_db, to_key);
  int64_t ttl = obj->expire_at_ms;
  obj->expire_at_ms = 0;  // re-applied below so the TTL index learns the new key
  core::Object* stored = replace_key(ctx, to_db, to_key, std::move(obj));
  if (ttl != 0) ctx.broker.db(to_db).set_expire(to_key, stored, ttl);
  if (serves_waiters(stored->type())) ctx.broker.blocking().signal(to_db, to_key);
}

void rename_generic(CommandContext& ctx, bool nx) {
  std::string_view from = ctx.arg(1);
  std::string_view to = ctx.arg(2);
  const int db = ctx.client.db;
  if (!lookup_write(ctx, from)) return ctx.error_text(kNoSuchKeyErr);
  if (from == to) return nx ? ctx.reply.integer(0) : ctx.reply.ok();
  if (lookup_write(ctx, to) && nx) return ctx.reply.integer(0);
  move_object(ctx, db, from, db, to);
  ctx.wrote = true;
  ctx.broker.notify('g', "rename_from", from, db);
  ctx.broker.notify('g', "rename_to", to, db);
  nx ? ctx.reply.integer(1) : ctx.reply.ok();
}

void rename(CommandContext& ctx) { rename_generic(ctx, false); }
void renamenx(CommandContext& ctx) { rename_generic(ctx, true); }

bool db_index(CommandContext& ctx, std::string_view arg, int* out) {
  int64_t v = 0;
  if (!wire::parse_i64(arg, &v) || v < INT32_MIN || v > INT32_MAX) {
    ctx.not_integer();
    return false;
  }
  if (v < 0 || v >= ctx.broker.db_count()) {
    ctx.error_text("ERR DB index is out of range");
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

void move(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  int to_db = 0;
  if (!db_index(ctx, ctx.arg(2), &to_db)) return;
  const int db = ctx.client.db;
  if (to_db == db) return ctx.error_text("ERR source and destination objects are the same");
  if (!lookup_write(ctx, key)) return ctx.reply.integer(0);
  if (ctx.broker.db(to_db).find(key, ctx.now_ms)) return ctx.reply.integer(0);
  move_object(ctx, db, key, to_db, key);
  ctx.wrote = true;
  ctx.broker.notify('g', "move_from", key, db);
  ctx.broker.notify('g', "move_to", key, to_db);
  ctx.reply.integer(1);
}

// A new stream at (db, key) holding the same entries (same IDs) and metadata as `src`.
std::unique_ptr<core::Object> copy_stream(CommandContext& ctx, const stream::Stream& src, int db,
                                          std::string_view key) {
  auto created = ctx.broker.streams().create(db, key);
  if (!created) {
    ctx.error(created.status());
    return nullptr;
  }
  stream::Stream& dst = **created;
  std::vector<std::string_view> fields;
  wire::Status failure;
  wire::Status st = src.range(wire::StreamId::min(), wire::StreamId::max(), false, 0,
                              [&](wire::StreamId id, std::string_view resp) {
                                fields.clear();
                                if (!stream::entry_fields(resp, &fields)) return false;
                                failure = dst.append(id, fields);
                                return failure.is_ok();
                              });
  if (st.is_ok()) st = failure;
  if (st.is_ok()) st = dst.set_id(src.last_id(), src.entries_added(), src.max_deleted_id());
  if (!st) {
    ctx.broker.streams().destroy(std::move(*created));
    ctx.error(st);
    return nullptr;
  }
  ctx.broker.streams().mark_dirty(dst);
  return std::move(*created);
}

void copy(CommandContext& ctx) {
  std::string_view from = ctx.arg(1);
  std::string_view to = ctx.arg(2);
  const int db = ctx.client.db;
  int to_db = db;
  bool replace = false;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    if (iequals(ctx.arg(i), "REPLACE")) {
      replace = true;
    } else if (iequals(ctx.arg(i), "DB") && i + 1 < ctx.argc()) {
      if (!db_index(ctx, ctx.arg(++i), &to_db)) return;
    } else {
      return ctx.syntax_error();
    }
  }
  if (db == to_db && from == to) {
    return ctx.error_text("ERR source and destination objects are the same");
  }
  core::Object* src = lookup_write(ctx, from);
  if (!src) return ctx.reply.integer(0);
  core::Object* dst = ctx.broker.db(to_db).find(to, ctx.now_ms);
  if (dst && !replace) return ctx.reply.integer(0);
  std::unique_ptr<core::Object> fresh;
  if (src->type() == core::ObjectType::kStream) {
    fresh = copy_stream(ctx, static_cast<stream::Stream&>(*src), to_db, to);
    if (!fresh) return;
  } else {
    fresh = kv::clone_kv_object(*src);
    if (dst && dst->type() != core::ObjectType::kStream) ctx.broker.db(to_db).remove(to);
    ctx.broker.kv().record_move(db, from, to_db, to, true);
  }
  int64_t ttl = src->expire_at_ms;
  fresh->expire_at_ms = 0;
  core::Object* stored = replace_key(ctx, to_db, to, std::move(fresh));
  if (ttl != 0) {
    if (stored->type() == core::ObjectType::kStream) {
      set_ttl(ctx, to_db, to, *stored, ttl);
    } else {
      ctx.broker.db(to_db).set_expire(to, stored, ttl);
    }
  }
  ctx.broker.key_modified(to_db, to);
  if (serves_waiters(stored->type())) ctx.broker.blocking().signal(to_db, to);
  ctx.wrote = true;
  ctx.broker.notify('g', "copy_to", to, to_db);
  ctx.reply.integer(1);
}

void swapdb(CommandContext& ctx) {
  int64_t a = 0;
  int64_t b = 0;
  if (!wire::parse_i64(ctx.arg(1), &a) || a < INT32_MIN || a > INT32_MAX) {
    return ctx.error_text("ERR invalid first DB index");
  }
  if (!wire::parse_i64(ctx.arg(2), &b) || b < INT32_MIN || b > INT32_MAX) {
    return ctx.error_text("ERR invalid second DB index");
  }
  if (a < 0 || a >= ctx.broker.db_count() || b < 0 || b >= ctx.broker.db_count()) {
    return ctx.error_text("ERR DB index is out of range");
  }
  if (a != b) {
    const int ia = static_cast<int>(a);
    const int ib = static_cast<int>(b);
    // Watchers of a key that exists on either side of the swap are dirty.
    ctx.broker.touch_all_watched(ia);
    ctx.broker.touch_all_watched(ib);
    ctx.broker.db(ia).swap_contents(ctx.broker.db(ib));
    ctx.broker.kv().record_swapdb(ia, ib);
    for (int d : {ia, ib}) {
      std::vector<stream::Stream*> streams;
      ctx.broker.db(d).for_each([&](const std::string&, core::Object& obj) {
        if (obj.type() == core::ObjectType::kStream) {
          streams.push_back(static_cast<stream::Stream*>(&obj));
        }
      });
      for (stream::Stream* s : streams) {
        std::string key = s->key;
        wire::Status st = ctx.broker.streams().relocate(*s, d, key);
        if (!st) ctx.broker.set_storage_failed(st.detail());
      }
    }
    ctx.broker.touch_all_watched(ia);
    ctx.broker.touch_all_watched(ib);
    // Clients stay blocked on their database number: the keys they wait on may now exist.
    ctx.broker.blocking().signal_db(ia);
    ctx.broker.blocking().signal_db(ib);
    ctx.wrote = true;
  }
  ctx.reply.ok();
}

void object_encoding(CommandContext& ctx) {
  core::Object* obj = ctx.db().find(ctx.arg(2), ctx.now_ms);
  if (!obj) return ctx.reply.null();
  ctx.reply.bulk(obj->encoding());
}

void object_idletime(CommandContext& ctx) {
  core::Object* obj = ctx.db().find(ctx.arg(2), ctx.now_ms);
  if (!obj) return ctx.reply.null();
  if (core::lfu_policy(ctx.broker.config())) {
    return ctx.error_text(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
        "switching between policies at runtime LRU and LFU data will take some time to adjust.");
  }
  int64_t idle = obj->last_access_ms == 0 ? 0 : (ctx.now_ms - obj->last_access_ms) / 1000;
  ctx.reply.integer(idle < 0 ? 0 : idle);
}

void object_freq(CommandContext& ctx) {
  core::Object* obj = ctx.db().find(ctx.arg(2), ctx.now_ms);
  if (!obj) return ctx.reply.null();
  if (!core::lfu_policy(ctx.broker.config())) {
    return ctx.error_text(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
        "that when switching between policies at runtime LRU and LFU data will take some time "
        "to adjust.");
  }
  ctx.reply.integer(core::lfu_decayed(*obj, ctx.now_ms, ctx.broker.config().lfu_decay_time));
}

void object_refcount(CommandContext& ctx) {
  core::Object* obj = ctx.db().find(ctx.arg(2), ctx.now_ms);
  if (!obj) return ctx.reply.null();
  ctx.reply.integer(1);
}

void object_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "ENCODING <key>",
      "    Return the kind of internal representation used in order to store the value",
      "    associated with a <key>.",
      "FREQ <key>",
      "    Return the access frequency index of the <key>. The returned integer is",
      "    proportional to the logarithm of the recent access frequency of the key.",
      "IDLETIME <key>",
      "    Return the idle time of the <key>, that is the approximated number of",
      "    seconds elapsed since the last access to the key.",
      "REFCOUNT <key>",
      "    Return the number of references of the value associated with the specified",
      "    <key>.",
      "HELP",
      "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_keyspace_commands(CommandTable& t) {
  const CommandFamily cmd{"generic"};
  t.add(cmd("del", -2, kWrite, del, "@keyspace @write @slow", "Deletes one or more keys.", "1.0.0",
            1, -1, 1));
  t.add(cmd("unlink", -2, kWrite | kFast, del, "@keyspace @write @fast",
            "Asynchronously deletes one or more keys.", "4.0.0", 1, -1, 1));
  t.add(cmd("exists", -2, kReadonly | kFast, exists, "@keyspace @read @fast",
            "Determines whether one or more keys exist.", "1.0.0", 1, -1, 1));
  t.add(cmd("touch", -2, kReadonly | kFast, touch, "@keyspace @read @fast",
            "Returns the number of existing keys out of those specified after updating the time "
            "they were last accessed.",
            "3.2.1", 1, -1, 1));
  t.add(cmd("type", 2, kReadonly | kFast, type, "@keyspace @read @fast",
            "Determines the type of value stored at a key.", "1.0.0"));
  t.add(cmd("keys", 2, kReadonly, keys, "@keyspace @read @slow @dangerous",
            "Returns all key names that match a pattern.", "1.0.0", 0, 0, 0));
  t.add(cmd("scan", -2, kReadonly, scan, "@keyspace @read @slow",
            "Iterates over the key names in the database.", "2.8.0", 0, 0, 0));
  t.add(cmd("rename", 3, kWrite, rename, "@keyspace @write @slow",
            "Renames a key and overwrites the destination.", "1.0.0", 1, 2, 1));
  t.add(cmd("renamenx", 3, kWrite | kFast, renamenx, "@keyspace @write @fast",
            "Renames a key only when the target key name doesn't exist.", "1.0.0", 1, 2, 1));
  t.add(cmd("randomkey", 1, kReadonly, randomkey, "@keyspace @read @slow",
            "Returns a random key name from the database.", "1.0.0", 0, 0, 0));
  t.add(cmd("copy", -3, kWrite | kDenyOom, copy, "@keyspace @write @slow",
            "Copies the value of a key to a new key.", "6.2.0", 1, 2, 1));
  t.add(cmd("move", 3, kWrite | kFast, move, "@keyspace @write @fast",
            "Moves a key to another database.", "1.0.0"));
  t.add(cmd("swapdb", 3, kWrite | kFast, swapdb, "@keyspace @write @fast @dangerous",
            "Swaps two Redis databases.", "4.0.0", 0, 0, 0));
  CommandSpec object = cmd("object", -2, 0, nullptr, "@slow",
                           "A container for object introspection commands.", "2.2.3", 0, 0, 0);
  auto sub = [&](std::string name, int arity, Handler h, std::string summary) {
    return cmd("object|" + name, arity, kReadonly, h, "@keyspace @read @slow", std::move(summary),
               "2.2.3", 2, 2, 1);
  };
  object.subcommands.push_back(
      sub("encoding", 3, object_encoding, "Returns the internal encoding of a Redis object."));
  object.subcommands.push_back(sub("freq", 3, object_freq,
                                   "Returns the logarithmic access frequency counter of a Redis "
                                   "object."));
  object.subcommands.push_back(sub("idletime", 3, object_idletime,
                                   "Returns the time since the last access to a Redis object."));
  object.subcommands.push_back(
      sub("refcount", 3, object_refcount, "Returns the reference count of a value of a key."));
  CommandSpec help = sub("help", 2, object_help,
                         "Returns helpful text about the different "
                         "subcommands.");
  help.first_key = help.last_key = help.key_step = 0;
  help.flags = kLoading | kStale;  // as Redis: no key, so not a read
  help.acl_categories = "@keyspace @slow";
  object.subcommands.push_back(std::move(help));
  t.add(std::move(object));
  register_expire_commands(t);
}

}  // namespace sluice::commands
