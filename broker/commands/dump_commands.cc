// DUMP, RESTORE and RESTORE-ASKING: values serialised in Redis's RDB object format
// (kv/rdb_codec.h, kv/rdb_stream.h), so payloads move between redis-server 7.0 and Sluice both
// ways. A restored value is journaled whole, as a snapshot would write it; a restored stream is
// appended entry by entry to a new log, and its groups are journaled as XGROUP CREATE and
// deliveries would be.
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/list_support.h"
#include "broker/commands/set_support.h"
#include "broker/commands/zset_support.h"
#include "broker/kv/rdb_codec.h"
#include "broker/kv/rdb_stream.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

// A stream's entries (read from its log), metadata and groups, by value for the codec.
wire::Result<kv::RdbStream> describe_stream(const stream::Stream& s) {
  kv::RdbStream out;
  std::vector<std::string_view> fields;
  bool parsed = true;
  wire::Status st = s.range(wire::StreamId::min(), wire::StreamId::max(), false, 0,
                            [&](wire::StreamId id, std::string_view resp) {
                              fields.clear();
                              parsed = stream::entry_fields(resp, &fields);
                              if (!parsed) return false;
                              out.entries.push_back({id, {fields.begin(), fields.end()}});
                              return true;
                            });
  if (!st) return st;
  if (!parsed) return wire::Status(wire::ErrorCode::kCorruption, "unreadable stream entry");
  out.length = out.entries.size();
  out.last_id = s.last_id();
  out.first_id = s.first_id();
  out.max_deleted_id = s.max_deleted_id();
  out.entries_added = s.entries_added();
  for (const auto& [name, g] : s.groups) {
    kv::RdbStream::Group group{name, g->last_delivered_id, g->entries_read, {}, {}};
    for (const auto& [id, p] : g->pel.entries()) {
      group.pel.push_back({id, p.delivery_time_ms, p.delivery_count});
    }
    for (const auto& [cname, c] : g->consumers) {
      group.consumers.push_back({cname, c->seen_time_ms, {c->pending.begin(), c->pending.end()}});
    }
    out.groups.push_back(std::move(group));
  }
  return out;
}

void dump(CommandContext& ctx) {
  core::Object* obj = lookup_read(ctx, ctx.arg(1));
  if (!obj) return ctx.reply.null();
  if (obj->type() == core::ObjectType::kStream) {
    auto described = describe_stream(static_cast<const stream::Stream&>(*obj));
    if (!described) return ctx.error(described.status());
    return ctx.reply.bulk(kv::rdb_dump_stream(*described));
  }
  auto payload = kv::rdb_dump(*obj);
  if (!payload) return ctx.error(payload.status());
  ctx.reply.bulk(*payload);
}

struct RestoreOptions {
  bool replace = false;
  bool absttl = false;
  int64_t idle_seconds = -1;  // IDLETIME, -1 = not given
  int64_t freq = -1;          // FREQ, -1 = not given
};

// Redis parses the options before it looks at the key, the TTL or the payload; IDLETIME and FREQ
// exclude each other.
bool parse_restore_options(CommandContext& ctx, RestoreOptions* opt) {
  for (size_t i = 4; i < ctx.argc(); ++i) {
    std::string_view a = ctx.arg(i);
    const bool more = i + 1 < ctx.argc();
    if (iequals(a, "REPLACE")) {
      opt->replace = true;
    } else if (iequals(a, "ABSTTL")) {
      opt->absttl = true;
    } else if (iequals(a, "IDLETIME") && more && opt->freq == -1) {
      if (!int_arg(ctx, ctx.arg(++i), &opt->idle_seconds)) return false;
      if (opt->idle_seconds < 0) {
        ctx.error_text("ERR Invalid IDLETIME value, must be >= 0");
        return false;
      }
    } else if (iequals(a, "FREQ") && more && opt->idle_seconds == -1) {
      if (!int_arg(ctx, ctx.arg(++i), &opt->freq)) return false;
      if (opt->freq < 0 || opt->freq > 255) {
        ctx.error_text("ERR Invalid FREQ value, must be >= 0 and <= 255");
        return false;
      }
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  return true;
}

// The groups of a restored stream, in memory and in its group journal: each group, its
// consumers, and each pending entry delivered to its owner with its time and count.
wire::Status restore_groups(stream::Stream& s, const kv::RdbStream& rs) {
  wire::Status st;
  auto store = stream::group_store(s, &st);
  if (!store) return st;
  for (const kv::RdbStream::Group& rg : rs.groups) {
    auto owned = std::make_unique<stream::ConsumerGroup>(rg.name);
    stream::ConsumerGroup& g = *owned;
    g.last_delivered_id = rg.last_delivered_id;
    g.entries_read = rg.entries_read;
    s.groups.emplace(g.name, std::move(owned));
    if (!(st = store->group_state(g, true))) return st;
    std::map<wire::StreamId, const kv::RdbStream::Pending*> pel;
    for (const kv::RdbStream::Pending& p : rg.pel) pel.emplace(p.id, &p);
    for (const kv::RdbStream::Consumer& rc : rg.consumers) {
      bool created = false;
      stream::Consumer* c = g.ensure_consumer(rc.name, rc.seen_time_ms, &created);
      if (!(st = store->consumer_seen(g, *c))) return st;
      for (const wire::StreamId& id : rc.pending) {
        const kv::RdbStream::Pending& p = *pel.at(id);
        g.pel.assign(id, c, p.delivery_time_ms, p.delivery_count);
        st = store->deliver(g, *c, p.delivery_time_ms, std::span(&id, 1),
                            std::span(&p.delivery_count, 1), false);
        if (!st) return st;
      }
    }
  }
  return st;
}

// A new stream at (db, key) holding a restored stream's entries, metadata and groups; nullptr
// (error replied) when the engine fails.
std::unique_ptr<core::Object> build_stream(CommandContext& ctx, int db, std::string_view key,
                                           const kv::RdbStream& rs) {
  auto created = ctx.broker.streams().create(db, key);
  if (!created) {
    ctx.error(created.status());
    return nullptr;
  }
  stream::Stream& dst = **created;
  wire::Status st;
  std::vector<std::string_view> fields;
  for (const kv::RdbStream::Entry& e : rs.entries) {
    fields.assign(e.fields.begin(), e.fields.end());
    if (!(st = dst.append(e.id, fields))) break;
  }
  if (st) st = dst.set_id(rs.last_id, rs.entries_added, rs.max_deleted_id);
  if (st && !rs.groups.empty()) st = restore_groups(dst, rs);
  if (!st) {
    ctx.broker.streams().destroy(std::move(*created));
    ctx.error(st);
    return nullptr;
  }
  ctx.broker.streams().mark_dirty(dst);
  return std::move(*created);
}

void restore(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  std::string_view payload = ctx.arg(3);
  const int db = ctx.client.db;
  RestoreOptions opt;
  if (!parse_restore_options(ctx, &opt)) return;
  if (!opt.replace && lookup_write(ctx, key)) {
    return ctx.error_text("BUSYKEY Target key name already exists.");
  }
  int64_t ttl = 0;
  if (!int_arg(ctx, ctx.arg(2), &ttl)) return;
  if (ttl < 0) return ctx.error_text("ERR Invalid TTL value, must be >= 0");

  std::unique_ptr<core::Object> fresh;
  std::optional<kv::RdbStream> stream_value;
  if (kv::rdb_payload_is_stream(payload)) {
    auto loaded = kv::rdb_restore_stream(payload);
    if (!loaded) return ctx.error(loaded.status());
    stream_value = std::move(*loaded);
  } else {
    kv::RdbLoadLimits limits;
    limits.list = list_limits(ctx.broker);
    limits.set_max_intset_entries = intset_limit(ctx);
    limits.zset = zset_limits(ctx.broker);
    auto loaded = kv::rdb_restore(payload, limits);
    if (!loaded) return ctx.error(loaded.status());
    fresh = std::move(*loaded);
  }

  if (ttl != 0 && !opt.absttl) {
    ttl = ttl > std::numeric_limits<int64_t>::max() - ctx.now_ms
              ? std::numeric_limits<int64_t>::max()
              : ttl + ctx.now_ms;
  }
  if (ttl != 0 && ttl <= ctx.now_ms) {
    // Already expired: the value is dropped, but REPLACE still deletes what the key held.
    if (opt.replace && delete_key(ctx, db, key)) {
      kv_written(ctx, key);
      ctx.broker.notify('g', "del", key, db);
    }
    return ctx.reply.ok();
  }
  if (stream_value && !(fresh = build_stream(ctx, db, key, *stream_value))) return;

  core::Object* stored = replace_key(ctx, db, key, std::move(fresh));
  if (!stream_value) ctx.broker.kv().record_value(db, key, *stored);
  if (ttl != 0) set_ttl(ctx, db, key, *stored, ttl);
  // IDLETIME back-dates the access time (FREQ has no counter to set: Sluice keeps none).
  if (opt.idle_seconds > 0) {
    const int64_t idle_ms = std::min(opt.idle_seconds, ctx.now_ms / 1000) * 1000;
    stored->last_access_ms = std::max<int64_t>(1, ctx.now_ms - idle_ms);
  }
  kv_written(ctx, key);
  ctx.broker.notify('g', "restore", key, db);
  ctx.reply.ok();
}

}  // namespace

void register_dump_commands(CommandTable& t) {
  const CommandFamily cmd{"generic"};
  t.add(cmd("dump", 2, kReadonly, dump, "@keyspace @read @slow",
            "Return a serialized version of the value stored at the specified key.", "2.6.0"));
  t.add(cmd("restore", -4, kWrite | kDenyOom, restore, "@keyspace @write @slow @dangerous",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            "2.6.0"));
  CommandSpec asking = cmd("restore-asking", -4, kWrite | kDenyOom | kAsking, restore,
                           "@keyspace @write @slow @dangerous",
                           "An internal command for migrating keys in a cluster", "3.0.0");
  asking.group = "server";
  t.add(std::move(asking));
}

}  // namespace sluice::commands
