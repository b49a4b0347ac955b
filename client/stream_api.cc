// Stream command builders, RESP2/RESP3 reply parsers and the async Streams wrapper.
#include "client/stream_api.h"

#include <memory>

namespace sluice::client {
namespace {

using Type = Value::Type;

Error unexpected(std::string_view what, const Value& v) {
  return Error(ErrorKind::kUnexpectedReply, std::string(what) + ": got " + v.debug_string());
}

bool is_text(const Value& v) {
  return v.type == Type::kBulk || v.type == Type::kSimple || v.type == Type::kVerbatim;
}

bool is_list(const Value& v) { return v.type == Type::kArray || v.type == Type::kSet; }

std::string id_text(StreamId id) { return id.to_string(); }

void append_ids(std::vector<std::string>* args, const std::vector<StreamId>& ids) {
  for (StreamId id : ids) args->push_back(id_text(id));
}

void append_trim(std::vector<std::string>* args, const TrimOptions& trim) {
  if (trim.strategy == TrimStrategy::kNone) return;
  args->push_back(trim.strategy == TrimStrategy::kMaxLen ? "MAXLEN" : "MINID");
  args->push_back(trim.approximate ? "~" : "=");
  args->push_back(trim.threshold);
  if (trim.approximate && trim.limit > 0) {
    args->push_back("LIMIT");
    args->push_back(std::to_string(trim.limit));
  }
}

void append_streams(std::vector<std::string>* args, const StreamKeys& streams) {
  args->push_back("STREAMS");
  for (const auto& s : streams) args->push_back(s.first);
  for (const auto& s : streams) args->push_back(s.second);
}

// Key/value pairs of a RESP3 map or a RESP2 flat array.
bool pairs_of(const Value& v, std::vector<std::pair<const Value*, const Value*>>* out) {
  if (v.type != Type::kMap && v.type != Type::kArray) return false;
  if (v.elems.size() % 2 != 0) return false;
  for (size_t i = 0; i < v.elems.size(); i += 2) out->emplace_back(&v.elems[i], &v.elems[i + 1]);
  return true;
}

Result<StreamEntry> entry(const Value& v) {
  if (v.type != Type::kArray || v.elems.size() != 2) return unexpected("stream entry", v);
  StreamEntry e;
  auto id = parse::id(v.elems[0]);
  if (!id) return id.error();
  e.id = *id;
  const Value& fields = v.elems[1];
  if (fields.is_null()) {
    e.deleted = true;
    return e;
  }
  std::vector<std::pair<const Value*, const Value*>> kv;
  if (!pairs_of(fields, &kv)) return unexpected("stream entry fields", fields);
  e.fields.reserve(kv.size());
  for (auto [k, val] : kv) e.fields.emplace_back(k->str, val->str);
  return e;
}

}  // namespace

const std::string* StreamEntry::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

TrimOptions TrimOptions::maxlen(uint64_t n, bool approximate) {
  return {TrimStrategy::kMaxLen, approximate, std::to_string(n), 0};
}

TrimOptions TrimOptions::minid(StreamId id, bool approximate) {
  return {TrimStrategy::kMinId, approximate, id.to_string(), 0};
}

const Value* InfoMap::get(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return &v;
  }
  return nullptr;
}

int64_t InfoMap::integer(std::string_view name, int64_t fallback) const {
  const Value* v = get(name);
  return v != nullptr && v->type == Type::kInteger ? v->integer : fallback;
}

std::string InfoMap::text(std::string_view name) const {
  const Value* v = get(name);
  return v != nullptr && is_text(*v) ? v->str : std::string();
}

namespace cmd {

std::vector<std::string> xadd(std::string_view key, const Fields& fields,
                              const XAddOptions& options) {
  std::vector<std::string> args{"XADD", std::string(key)};
  if (options.no_mkstream) args.push_back("NOMKSTREAM");
  append_trim(&args, options.trim);
  args.push_back(options.id);
  for (const auto& [k, v] : fields) {
    args.push_back(k);
    args.push_back(v);
  }
  return args;
}

std::vector<std::string> xrange(std::string_view key, std::string_view start, std::string_view end,
                                int64_t count) {
  std::vector<std::string> args{"XRANGE", std::string(key), std::string(start), std::string(end)};
  if (count > 0) args.insert(args.end(), {"COUNT", std::to_string(count)});
  return args;
}

std::vector<std::string> xrevrange(std::string_view key, std::string_view end,
                                   std::string_view start, int64_t count) {
  std::vector<std::string> args{"XREVRANGE", std::string(key), std::string(end),
                                std::string(start)};
  if (count > 0) args.insert(args.end(), {"COUNT", std::to_string(count)});
  return args;
}

std::vector<std::string> xread(const StreamKeys& streams, const ReadOptions& options) {
  std::vector<std::string> args{"XREAD"};
  if (options.count > 0) args.insert(args.end(), {"COUNT", std::to_string(options.count)});
  if (options.block_ms) args.insert(args.end(), {"BLOCK", std::to_string(*options.block_ms)});
  append_streams(&args, streams);
  return args;
}

std::vector<std::string> xreadgroup(std::string_view group, std::string_view consumer,
                                    const StreamKeys& streams, const GroupReadOptions& options) {
  std::vector<std::string> args{"XREADGROUP", "GROUP", std::string(group), std::string(consumer)};
  if (options.count > 0) args.insert(args.end(), {"COUNT", std::to_string(options.count)});
  if (options.block_ms) args.insert(args.end(), {"BLOCK", std::to_string(*options.block_ms)});
  if (options.noack) args.push_back("NOACK");
  append_streams(&args, streams);
  return args;
}

std::vector<std::string> xack(std::string_view key, std::string_view group,
                              const std::vector<StreamId>& ids) {
  std::vector<std::string> args{"XACK", std::string(key), std::string(group)};
  append_ids(&args, ids);
  return args;
}

std::vector<std::string> xpending(std::string_view key, std::string_view group) {
  return {"XPENDING", std::string(key), std::string(group)};
}

std::vector<std::string> xpending(std::string_view key, std::string_view group,
                                  const PendingQuery& query) {
  std::vector<std::string> args{"XPENDING", std::string(key), std::string(group)};
  if (query.min_idle_ms > 0) args.insert(args.end(), {"IDLE", std::to_string(query.min_idle_ms)});
  args.insert(args.end(), {query.start, query.end, std::to_string(query.count)});
  if (!query.consumer.empty()) args.push_back(query.consumer);
  return args;
}

std::vector<std::string> xclaim(std::string_view key, std::string_view group,
                                std::string_view consumer, int64_t min_idle_ms,
                                const std::vector<StreamId>& ids, const ClaimOptions& options) {
  std::vector<std::string> args{"XCLAIM", std::string(key), std::string(group),
                                std::string(consumer), std::to_string(min_idle_ms)};
  append_ids(&args, ids);
  if (options.idle_ms) args.insert(args.end(), {"IDLE", std::to_string(*options.idle_ms)});
  if (options.time_ms) args.insert(args.end(), {"TIME", std::to_string(*options.time_ms)});
  if (options.retry_count) {
    args.insert(args.end(), {"RETRYCOUNT", std::to_string(*options.retry_count)});
  }
  if (options.force) args.push_back("FORCE");
  if (options.justid) args.push_back("JUSTID");
  return args;
}

std::vector<std::string> xautoclaim(std::string_view key, std::string_view group,
                                    std::string_view consumer, int64_t min_idle_ms,
                                    std::string_view start, int64_t count, bool justid) {
  std::vector<std::string> args{"XAUTOCLAIM",
                                std::string(key),
                                std::string(group),
                                std::string(consumer),
                                std::to_string(min_idle_ms),
                                std::string(start)};
  if (count > 0) args.insert(args.end(), {"COUNT", std::to_string(count)});
  if (justid) args.push_back("JUSTID");
  return args;
}

std::vector<std::string> xgroup_create(std::string_view key, std::string_view group,
                                       std::string_view id, bool mkstream) {
  std::vector<std::string> args{"XGROUP", "CREATE", std::string(key), std::string(group),
                                std::string(id)};
  if (mkstream) args.push_back("MKSTREAM");
  return args;
}

std::vector<std::string> xgroup_destroy(std::string_view key, std::string_view group) {
  return {"XGROUP", "DESTROY", std::string(key), std::string(group)};
}

std::vector<std::string> xgroup_setid(std::string_view key, std::string_view group,
                                      std::string_view id) {
  return {"XGROUP", "SETID", std::string(key), std::string(group), std::string(id)};
}

std::vector<std::string> xgroup_delconsumer(std::string_view key, std::string_view group,
                                            std::string_view consumer) {
  return {"XGROUP", "DELCONSUMER", std::string(key), std::string(group), std::string(consumer)};
}

std::vector<std::string> xinfo_stream(std::string_view key) {
  return {"XINFO", "STREAM", std::string(key)};
}

std::vector<std::string> xinfo_groups(std::string_view key) {
  return {"XINFO", "GROUPS", std::string(key)};
}

std::vector<std::string> xinfo_consumers(std::string_view key, std::string_view group) {
  return {"XINFO", "CONSUMERS", std::string(key), std::string(group)};
}

std::vector<std::string> xlen(std::string_view key) { return {"XLEN", std::string(key)}; }

std::vector<std::string> xdel(std::string_view key, const std::vector<StreamId>& ids) {
  std::vector<std::string> args{"XDEL", std::string(key)};
  append_ids(&args, ids);
  return args;
}

std::vector<std::string> xtrim(std::string_view key, const TrimOptions& trim) {
  std::vector<std::string> args{"XTRIM", std::string(key)};
  append_trim(&args, trim);
  return args;
}

}  // namespace cmd

namespace parse {

Result<StreamId> id(const Value& v) {
  StreamId out;
  if (!is_text(v) || !wire::parse_stream_id(v.str, &out)) return unexpected("stream ID", v);
  return out;
}

Result<int64_t> integer(const Value& v) {
  if (v.type != Type::kInteger) return unexpected("integer", v);
  return v.integer;
}

Status ok(const Value& v) {
  if (v.type == Type::kSimple && v.str == "OK") return Unit{};
  return unexpected("OK", v);
}

Result<std::vector<StreamEntry>> entries(const Value& v) {
  if (!is_list(v)) return unexpected("stream entries", v);
  std::vector<StreamEntry> out;
  out.reserve(v.elems.size());
  for (const Value& item : v.elems) {
    auto e = entry(item);
    if (!e) return e.error();
    out.push_back(std::move(*e));
  }
  return out;
}

Result<std::vector<StreamBatch>> read(const Value& v) {
  std::vector<StreamBatch> out;
  if (v.is_null()) return out;
  std::vector<std::pair<const Value*, const Value*>> kv;
  if (v.type == Type::kMap) {
    pairs_of(v, &kv);
  } else if (v.type == Type::kArray) {
    for (const Value& item : v.elems) {
      if (item.type != Type::kArray || item.elems.size() != 2) return unexpected("XREAD", v);
      kv.emplace_back(&item.elems[0], &item.elems[1]);
    }
  } else {
    return unexpected("XREAD", v);
  }
  for (auto [key, list] : kv) {
    auto e = entries(*list);
    if (!e) return e.error();
    out.push_back(StreamBatch{key->str, std::move(*e)});
  }
  return out;
}

Result<std::vector<StreamId>> ids(const Value& v) {
  if (!is_list(v)) return unexpected("ID list", v);
  std::vector<StreamId> out;
  for (const Value& item : v.elems) {
    auto one = id(item);
    if (!one) return one.error();
    out.push_back(*one);
  }
  return out;
}

Result<PendingSummary> pending_summary(const Value& v) {
  if (v.type != Type::kArray || v.elems.size() != 4 || v.elems[0].type != Type::kInteger) {
    return unexpected("XPENDING summary", v);
  }
  PendingSummary out;
  out.count = v.elems[0].integer;
  if (!v.elems[1].is_null()) {
    auto lo = id(v.elems[1]);
    auto hi = id(v.elems[2]);
    if (!lo || !hi) return unexpected("XPENDING summary", v);
    out.smallest = *lo;
    out.largest = *hi;
  }
  if (is_list(v.elems[3])) {
    for (const Value& c : v.elems[3].elems) {
      int64_t n = 0;
      if (c.elems.size() != 2 || !wire::parse_i64(c.elems[1].str, &n)) {
        return unexpected("XPENDING consumer", c);
      }
      out.consumers.emplace_back(c.elems[0].str, n);
    }
  }
  return out;
}

Result<std::vector<PendingEntry>> pending_entries(const Value& v) {
  if (!is_list(v)) return unexpected("XPENDING entries", v);
  std::vector<PendingEntry> out;
  for (const Value& item : v.elems) {
    if (item.type != Type::kArray || item.elems.size() != 4 ||
        item.elems[2].type != Type::kInteger || item.elems[3].type != Type::kInteger) {
      return unexpected("XPENDING entry", item);
    }
    auto one = id(item.elems[0]);
    if (!one) return one.error();
    out.push_back(
        PendingEntry{*one, item.elems[1].str, item.elems[2].integer, item.elems[3].integer});
  }
  return out;
}

Result<AutoClaimResult> autoclaim(const Value& v) {
  if (v.type != Type::kArray || v.elems.size() < 2) return unexpected("XAUTOCLAIM", v);
  AutoClaimResult out;
  auto next = id(v.elems[0]);
  if (!next) return next.error();
  out.next_start = *next;
  if (!is_list(v.elems[1])) return unexpected("XAUTOCLAIM", v);
  for (const Value& item : v.elems[1].elems) {
    if (is_text(item)) {  // JUSTID
      auto one = id(item);
      if (!one) return one.error();
      out.entries.push_back(StreamEntry{*one, {}, false});
      continue;
    }
    if (item.is_null()) continue;  // Redis 6.2 reported deleted entries as nil here
    auto e = entry(item);
    if (!e) return e.error();
    out.entries.push_back(std::move(*e));
  }
  if (v.elems.size() >= 3) {
    auto deleted = ids(v.elems[2]);
    if (!deleted) return deleted.error();
    out.deleted = std::move(*deleted);
  }
  return out;
}

Result<InfoMap> info(const Value& v) {
  std::vector<std::pair<const Value*, const Value*>> kv;
  if (!pairs_of(v, &kv)) return unexpected("XINFO map", v);
  InfoMap out;
  for (auto [k, val] : kv) out.fields.emplace_back(k->str, *val);
  return out;
}

Result<std::vector<InfoMap>> info_list(const Value& v) {
  if (!is_list(v)) return unexpected("XINFO list", v);
  std::vector<InfoMap> out;
  for (const Value& item : v.elems) {
    auto one = info(item);
    if (!one) return one.error();
    out.push_back(std::move(*one));
  }
  return out;
}

}  // namespace parse

uint64_t Streams::blocking_timeout(const std::optional<uint64_t>& block_ms) const {
  if (!block_ms) return Connection::kDefaultTimeout;
  const uint64_t base = conn_.options().command_timeout_ms;
  if (*block_ms == 0 || base == 0) return 0;
  return *block_ms + base;
}

void Streams::xadd(std::string_view key, const Fields& fields, const XAddOptions& options,
                   Callback<StreamId> cb) {
  call<StreamId>(cmd::xadd(key, fields, options), parse::id, std::move(cb));
}

void Streams::xrange(std::string_view key, std::string_view start, std::string_view end,
                     int64_t count, Callback<std::vector<StreamEntry>> cb) {
  call<std::vector<StreamEntry>>(cmd::xrange(key, start, end, count), parse::entries,
                                 std::move(cb));
}

void Streams::xrevrange(std::string_view key, std::string_view end, std::string_view start,
                        int64_t count, Callback<std::vector<StreamEntry>> cb) {
  call<std::vector<StreamEntry>>(cmd::xrevrange(key, end, start, count), parse::entries,
                                 std::move(cb));
}

void Streams::xread(const StreamKeys& streams, const ReadOptions& options,
                    Callback<std::vector<StreamBatch>> cb) {
  call<std::vector<StreamBatch>>(cmd::xread(streams, options), parse::read, std::move(cb),
                                 blocking_timeout(options.block_ms));
}

void Streams::xreadgroup(std::string_view group, std::string_view consumer,
                         const StreamKeys& streams, const GroupReadOptions& options,
                         Callback<std::vector<StreamBatch>> cb) {
  call<std::vector<StreamBatch>>(cmd::xreadgroup(group, consumer, streams, options), parse::read,
                                 std::move(cb), blocking_timeout(options.block_ms));
}

void Streams::xack(std::string_view key, std::string_view group, const std::vector<StreamId>& ids,
                   Callback<int64_t> cb) {
  call<int64_t>(cmd::xack(key, group, ids), parse::integer, std::move(cb));
}

void Streams::xpending(std::string_view key, std::string_view group, Callback<PendingSummary> cb) {
  call<PendingSummary>(cmd::xpending(key, group), parse::pending_summary, std::move(cb));
}

void Streams::xpending(std::string_view key, std::string_view group, const PendingQuery& query,
                       Callback<std::vector<PendingEntry>> cb) {
  call<std::vector<PendingEntry>>(cmd::xpending(key, group, query), parse::pending_entries,
                                  std::move(cb));
}

void Streams::xclaim(std::string_view key, std::string_view group, std::string_view consumer,
                     int64_t min_idle_ms, const std::vector<StreamId>& ids,
                     const ClaimOptions& options, Callback<std::vector<StreamEntry>> cb) {
  auto args = cmd::xclaim(key, group, consumer, min_idle_ms, ids, options);
  if (options.justid) {
    call<std::vector<StreamEntry>>(
        std::move(args),
        [](const Value& v) -> Result<std::vector<StreamEntry>> {
          auto got = parse::ids(v);
          if (!got) return got.error();
          std::vector<StreamEntry> out;
          for (StreamId id : *got) out.push_back(StreamEntry{id, {}, false});
          return out;
        },
        std::move(cb));
  } else {
    call<std::vector<StreamEntry>>(std::move(args), parse::entries, std::move(cb));
  }
}

void Streams::xautoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                         int64_t min_idle_ms, std::string_view start, int64_t count,
                         Callback<AutoClaimResult> cb) {
  call<AutoClaimResult>(cmd::xautoclaim(key, group, consumer, min_idle_ms, start, count),
                        parse::autoclaim, std::move(cb));
}

void Streams::ensure_group(std::string_view key, std::string_view group, std::string_view id,
                           Callback<Unit> cb) {
  conn_.command(cmd::xgroup_create(key, group, id, true), [cb = std::move(cb)](Result<Value> r) {
    if (r || r.error().is_reply("BUSYGROUP")) {
      cb(Unit{});
    } else {
      cb(r.error());
    }
  });
}

void Streams::xinfo_stream(std::string_view key, Callback<InfoMap> cb) {
  call<InfoMap>(cmd::xinfo_stream(key), parse::info, std::move(cb));
}

void Streams::xinfo_groups(std::string_view key, Callback<std::vector<InfoMap>> cb) {
  call<std::vector<InfoMap>>(cmd::xinfo_groups(key), parse::info_list, std::move(cb));
}

void Streams::xinfo_consumers(std::string_view key, std::string_view group,
                              Callback<std::vector<InfoMap>> cb) {
  call<std::vector<InfoMap>>(cmd::xinfo_consumers(key, group), parse::info_list, std::move(cb));
}

void Streams::xlen(std::string_view key, Callback<int64_t> cb) {
  call<int64_t>(cmd::xlen(key), parse::integer, std::move(cb));
}

namespace {

struct PageState {
  Streams* streams;
  std::string key;
  std::string start;
  std::string end;
  int64_t page_size;
  bool reverse;
  int64_t delivered = 0;
  std::function<bool(const std::vector<StreamEntry>&)> on_page;
  Streams::Callback<int64_t> done;
};

void next_page(std::shared_ptr<PageState> st) {
  auto on_reply = [st](Result<std::vector<StreamEntry>> r) {
    if (!r) {
      st->done(r.error());
      return;
    }
    const std::vector<StreamEntry>& page = *r;
    st->delivered += static_cast<int64_t>(page.size());
    const bool more =
        !page.empty() && st->on_page(page) && static_cast<int64_t>(page.size()) == st->page_size;
    if (!more) {
      st->done(st->delivered);
      return;
    }
    // Exclusive ranges: the next page starts just past the last ID delivered.
    (st->reverse ? st->end : st->start) = "(" + page.back().id.to_string();
    next_page(st);
  };
  if (st->reverse) {
    st->streams->xrevrange(st->key, st->end, st->start, st->page_size, std::move(on_reply));
  } else {
    st->streams->xrange(st->key, st->start, st->end, st->page_size, std::move(on_reply));
  }
}

}  // namespace

void Streams::page(std::string_view key, std::string_view start, std::string_view end,
                   int64_t page_size, bool reverse,
                   std::function<bool(const std::vector<StreamEntry>&)> on_page,
                   Callback<int64_t> done) {
  auto st = std::make_shared<PageState>(PageState{this, std::string(key), std::string(start),
                                                  std::string(end), page_size, reverse, 0,
                                                  std::move(on_page), std::move(done)});
  next_page(std::move(st));
}

}  // namespace sluice::client
