#include "broker/console/console_api.h"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/client_info.h"
#include "broker/commands/command_table.h"
#include "broker/commands/dispatch.h"
#include "broker/commands/server_stats.h"
#include "broker/console/json.h"
#include "broker/console/query.h"
#include "broker/core/glob.h"
#include "broker/core/memory.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/replication/replication.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/stream.h"
#include "broker/stream/stream_engine.h"
#include "wire/resp/reply_parser.h"
#include "wire/stream_id.h"

#if __has_include("broker/console/assets.h")
#include "broker/console/assets.h"
#define SLUICE_CONSOLE_ASSETS 1
#endif

namespace sluice::console {
namespace {

using stream::ConsumerGroup;
using stream::Stream;
using wire::StreamId;

constexpr std::string_view kGetAllow = "GET, HEAD";
constexpr std::string_view kPostAllow = "POST";

ApiResponse error_response(int status, std::string_view message) {
  ApiResponse r;
  r.status = status;
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("error", message);
  w.end_object();
  return r;
}

void write_id(JsonWriter& w, StreamId id) {
  char buf[48];
  w.string(std::string_view(buf, id.format(buf)));
}

void write_optional(JsonWriter& w, std::optional<int64_t> v) {
  if (v) {
    w.integer(*v);
  } else {
    w.null();
  }
}

// An entry's RESP (the XRANGE element: [id, [f, v, ...]]) as {"id","fields":[[f,v],...]}, with
// values cut at kMaxValueBytes and at most kMaxFieldsPerEntry pairs ("truncated": true if cut).
void write_entry(JsonWriter& w, StreamId id, std::string_view resp) {
  w.begin_object();
  w.key("id");
  write_id(w, id);
  w.key("fields");
  w.begin_array();
  wire::resp::ReplyParser parser;
  wire::resp::Value v;
  size_t consumed = 0;
  bool truncated = false;
  if (parser.parse(resp, &v, &consumed) == wire::resp::ReplyParser::Outcome::kValue &&
      v.elems.size() == 2) {
    const auto& fields = v.elems[1].elems;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (i / 2 >= kMaxFieldsPerEntry) {
        truncated = true;
        break;
      }
      w.begin_array();
      for (size_t k = 0; k < 2; ++k) {
        std::string_view s = fields[i + k].str;
        if (s.size() > kMaxValueBytes) {
          s = s.substr(0, kMaxValueBytes);
          truncated = true;
        }
        w.string(s);
      }
      w.end_array();
    }
  }
  w.end_array();
  if (truncated) w.field("truncated", true);
  w.end_object();
}

// One request being answered: its user, parameters and the first error met.
class Call {
 public:
  Call(core::Broker& b, const acl::User& u, std::string_view query, int64_t now)
      : broker(b), user(u), now_ms(now), query_(query) {}

  core::Broker& broker;
  const acl::User& user;
  const int64_t now_ms;
  std::optional<ApiResponse> error;

  std::optional<std::string> param(std::string_view name) const {
    return query_param(query_, name);
  }

  bool fail(int status, std::string message) {
    if (!error) error = error_response(status, message);
    return false;
  }

  // An integer parameter within [min, max]; `def` when absent.
  bool int_param(std::string_view name, int64_t def, int64_t min, int64_t max, int64_t* out) {
    auto v = param(name);
    if (!v || v->empty()) {
      *out = def;
      return true;
    }
    int64_t n;
    if (!wire::parse_i64(*v, &n) || n < min || n > max) {
      return fail(400, "invalid " + std::string(name) + ": an integer from " + std::to_string(min) +
                           " to " + std::to_string(max) + " is expected");
    }
    *out = n;
    return true;
  }

  // A count or limit: default kDefaultLimit, capped at kMaxLimit.
  bool count_param(std::string_view name, uint64_t* out) {
    int64_t n;
    if (!int_param(name, static_cast<int64_t>(kDefaultLimit), 1, INT64_MAX, &n)) return false;
    *out = std::min<uint64_t>(static_cast<uint64_t>(n), kMaxLimit);
    return true;
  }

  bool db_param(int* out) {
    int64_t n;
    if (!int_param("db", 0, 0, broker.db_count() - 1, &n)) return false;
    *out = static_cast<int>(n);
    return true;
  }

  bool required(std::string_view name, std::string* out) {
    auto v = param(name);
    if (!v) return fail(400, "missing parameter " + std::string(name));
    *out = std::move(*v);
    return true;
  }

  // Whether the user may run argv (the command equivalent to what is shown). Commands that take
  // more words than given get placeholders: the command and its keys are what count.
  bool permits(std::span<const std::string_view> args) const {
    if (user.unrestricted()) return true;
    const commands::CommandTable& table = commands::command_table();
    const commands::CommandSpec* spec = table.find(args[0]);
    if (spec && !spec->subcommands.empty() && args.size() >= 2) {
      spec = table.find_sub(*spec, args[1]);
    }
    if (!spec) return false;
    const size_t arity = static_cast<size_t>(spec->arity >= 0 ? spec->arity : -spec->arity);
    std::vector<std::string_view> argv(args.begin(), args.end());
    while (argv.size() < arity) argv.push_back("0");
    size_t bad_pos = 0;
    return commands::acl_check(user, *spec, argv, &bad_pos) == acl::Verdict::kOk;
  }
  bool permits(std::initializer_list<std::string_view> args) const {
    return permits(std::span<const std::string_view>(args.begin(), args.size()));
  }

  bool require(std::initializer_list<std::string_view> args) {
    if (permits(args)) return true;
    std::string what(*args.begin());
    if (args.size() >= 2) what += " " + std::string(*(args.begin() + 1));
    return fail(403, "NOPERM this user may not run " + what + " on what this page shows");
  }

  // The live stream at (db, key) or null (404 set).
  Stream* stream(int db, std::string_view key) {
    core::Object* obj = broker.db(db).find_raw(key);
    if (!obj || obj->type() != core::ObjectType::kStream ||
        (obj->expire_at_ms != 0 && obj->expire_at_ms <= now_ms)) {
      fail(404, "no such stream");
      return nullptr;
    }
    return static_cast<Stream*>(obj);
  }

  ConsumerGroup* group(Stream& s, std::string_view name) {
    auto it = s.groups.find(name);
    if (it == s.groups.end()) {
      fail(404, "no such consumer group");
      return nullptr;
    }
    return it->second.get();
  }

  // db, key (and group): the stream (and group) a page is about, after `command` (with the key
  // as its third word, or second for XRANGE/XPENDING) is checked against the user's rules.
  Stream* stream_param(int* db, std::string* key, std::initializer_list<std::string_view> command) {
    if (!db_param(db) || !required("key", key)) return nullptr;
    std::vector<std::string_view> argv(command);
    argv.push_back(*key);
    if (!permits(argv)) {
      fail(403, "NOPERM this user may not read this key");
      return nullptr;
    }
    return stream(*db, *key);
  }

  // A range bound as XRANGE takes it: "-", "+", "ms", "ms-seq", "(ms-seq". False with 400 on a
  // malformed one; *empty when an exclusive bound leaves nothing (past the last possible ID).
  bool range_bound(std::string_view name, bool is_end, StreamId* out, bool* empty) {
    auto v = param(name);
    std::string text = v ? *v : std::string(is_end ? "+" : "-");
    // An unencoded "+" arrives as a space (form encoding); no ID is a space, so take it as "+".
    if (text.empty()) text = is_end ? "+" : "-";
    if (text == " ") text = "+";
    if (text == "-") {
      *out = StreamId::min();
      return true;
    }
    if (text == "+") {
      *out = StreamId::max();
      return true;
    }
    bool exclusive = text.front() == '(';
    if (exclusive) text.erase(0, 1);
    StreamId id;
    if (!wire::parse_stream_id(text, &id, is_end ? UINT64_MAX : 0)) {
      return fail(400, "invalid " + std::string(name) + ": an ID (ms-seq) is expected");
    }
    if (exclusive) {
      bool ok = is_end ? id.decrement(&id) : id.increment(&id);
      if (!ok) *empty = true;
    }
    *out = id;
    return true;
  }

 private:
  std::string_view query_;
};

// ---- GET handlers --------------------------------------------------------------------------

ApiResponse whoami(Call& c) {
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("user", c.user.name());
  w.field("admin", c.broker.config().console_admin);
  w.end_object();
  return r;
}

uint64_t xadd_calls() {
  static const commands::CommandSpec* xadd = commands::command_table().find("xadd");
  return xadd ? xadd->stats.calls : 0;
}

ApiResponse overview(Call& c) {
  if (!c.require({"INFO"})) return *c.error;
  core::Broker& b = c.broker;
  const core::Stats& st = b.stats();
  stream::StreamEngine::Totals totals = b.streams().totals();
  uint64_t keys = 0;
  for (int i = 0; i < b.db_count(); ++i) keys += b.db(i).size();
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("version", SLUICE_VERSION);
  w.field("uptime_s", b.control ? b.control->uptime_ms() / 1000 : int64_t{0});
  w.field("role", replication::of(b).is_replica() ? "slave" : "master");
  w.field("connected_clients", b.control ? b.control->connected_clients() : uint64_t{0});
  w.field("blocked_clients", static_cast<uint64_t>(b.blocking().blocked_clients()));
  w.field("used_memory", core::used_memory());
  w.field("used_memory_rss", commands::rss_bytes());
  w.field("stream_disk_bytes", totals.disk_bytes);
  w.field("streams", totals.streams);
  w.field("keys", keys);
  w.field("total_commands", st.total_commands_processed);
  w.field("total_errors", st.total_error_replies);
  w.field("xadd_total", xadd_calls());
  w.field("deliveries_total", st.stream_deliveries);
  w.field("pubsub_channels", static_cast<uint64_t>(b.pubsub().channel_count()));
  w.field("pubsub_patterns", static_cast<uint64_t>(b.pubsub().pattern_count()));
  w.end_object();
  return r;
}

ApiResponse history_json(Call& c, const History& h) {
  if (!c.require({"INFO"})) return *c.error;
  ApiResponse r;
  r.body.reserve(h.size() * History::kSeriesCount * 8 + 256);
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("interval_ms", History::kIntervalMs);
  w.field("now_ms", h.last_ms());
  w.key("series");
  w.begin_object();
  for (size_t s = 0; s < History::kSeriesCount; ++s) {
    w.key(History::kNames[s]);
    w.begin_array();
    for (size_t i = 0; i < h.size(); ++i) w.uinteger(h.at(static_cast<History::Series>(s), i));
    w.end_array();
  }
  w.end_object();
  w.end_object();
  return r;
}

ApiResponse lag_json(Call& c, const LagHistory& lags) {
  int db;
  std::string key, group;
  Stream* s = c.stream_param(&db, &key, {"XINFO", "GROUPS"});
  if (!s || !c.required("group", &group) || !c.group(*s, group)) return *c.error;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("interval_ms", LagHistory::kIntervalMs);
  w.key("points");
  w.begin_array();
  for (const auto& [ms, value] : lags.points(s->number, group)) {
    w.begin_array();
    w.integer(ms);
    write_optional(w, value);
    w.end_array();
  }
  w.end_array();
  w.end_object();
  return r;
}

// The largest known lag of the stream's groups (nullopt without groups or none known).
std::optional<int64_t> max_lag(const Stream& s) {
  std::optional<int64_t> out;
  for (const auto& [name, g] : s.groups) {
    std::optional<int64_t> l = stream::group_lag(s, *g);
    if (l && (!out || *l > *out)) out = l;
  }
  return out;
}

void write_retention(JsonWriter& w, const config::Config& cfg) {
  w.key("retention");
  w.begin_object();
  w.field("max_age_ms", cfg.stream_retention_ms);
  w.field("max_bytes", cfg.stream_retention_bytes);
  w.end_object();
}

ApiResponse streams(Call& c) {
  std::optional<int> only_db;
  if (c.param("db")) {
    int db;
    if (!c.db_param(&db)) return *c.error;
    only_db = db;
  }
  std::string pattern = c.param("pattern").value_or("");
  std::string sort = c.param("sort").value_or("key");
  std::string order = c.param("order").value_or("asc");
  if (sort.empty()) sort = "key";
  if (order.empty()) order = "asc";
  enum class By { kKey, kLength, kLastId, kGroups, kMaxLag, kDiskBytes } by;
  if (sort == "key") {
    by = By::kKey;
  } else if (sort == "length") {
    by = By::kLength;
  } else if (sort == "last_id") {
    by = By::kLastId;
  } else if (sort == "groups") {
    by = By::kGroups;
  } else if (sort == "max_lag") {
    by = By::kMaxLag;
  } else if (sort == "disk_bytes") {
    by = By::kDiskBytes;
  } else {
    return error_response(400,
                          "invalid sort: key, length, last_id, groups, max_lag or "
                          "disk_bytes is expected");
  }
  if (order != "asc" && order != "desc") {
    return error_response(400, "invalid order: asc or desc is expected");
  }
  int64_t offset;
  uint64_t limit;
  if (!c.int_param("offset", 0, 0, INT64_MAX, &offset) || !c.count_param("limit", &limit)) {
    return *c.error;
  }

  struct Row {
    const Stream* s;
    int64_t lag;  // max_lag sort only: INT64_MIN when unknown
    uint64_t disk;
  };
  std::vector<Row> rows;
  const auto& all = c.broker.streams().by_number();
  rows.reserve(all.size());
  for (const auto& [number, s] : all) {
    if (only_db && s->db != *only_db) continue;
    if (s->expire_at_ms != 0 && s->expire_at_ms <= c.now_ms) continue;
    if (!pattern.empty() && !core::glob_match(pattern, s->key)) continue;
    if (!c.permits({"XINFO", "STREAM", s->key})) continue;
    Row row{s, 0, 0};
    if (by == By::kMaxLag) row.lag = max_lag(*s).value_or(INT64_MIN);
    if (by == By::kDiskBytes) row.disk = s->log().disk_bytes();
    rows.push_back(row);
  }
  // The sort key's order (-1, 0, 1): by key, (db, key) itself; otherwise ties are broken by
  // (db, key) ascending whatever the order.
  auto three_way = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  auto primary = [&](const Row& a, const Row& b) -> int {
    switch (by) {
      case By::kKey:
        return a.s->db != b.s->db ? three_way(a.s->db, b.s->db) : a.s->key.compare(b.s->key);
      case By::kLength:
        return three_way(a.s->length(), b.s->length());
      case By::kLastId:
        return three_way(a.s->last_id(), b.s->last_id());
      case By::kGroups:
        return three_way(a.s->groups.size(), b.s->groups.size());
      case By::kMaxLag:
        return three_way(a.lag, b.lag);
      case By::kDiskBytes:
        return three_way(a.disk, b.disk);
    }
    return 0;
  };
  const bool desc = order == "desc";
  // Only the requested page needs its order: partial_sort of offset + limit rows.
  const size_t end = std::min<size_t>(rows.size(), static_cast<size_t>(offset) + limit);
  auto cmp = [&](const Row& a, const Row& b) {
    if (int p = primary(a, b); p != 0) return desc ? p > 0 : p < 0;
    return a.s->db != b.s->db ? a.s->db < b.s->db : a.s->key < b.s->key;
  };
  if (static_cast<size_t>(offset) < rows.size()) {
    std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(end), rows.end(),
                      cmp);
  }

  ApiResponse r;
  JsonWriter w(&r.body);
  const config::Config& cfg = c.broker.config();
  w.begin_object();
  w.field("total", static_cast<uint64_t>(rows.size()));
  w.field("offset", offset);
  w.key("items");
  w.begin_array();
  bool truncated = false;
  for (size_t i = static_cast<size_t>(offset); i < end; ++i) {
    if (r.body.size() >= kMaxPageBytes) {
      truncated = true;  // huge keys: the rest of the page is left out
      break;
    }
    const Stream& s = *rows[i].s;
    const bool empty = s.length() == 0;
    w.begin_object();
    w.field("db", s.db);
    w.field("key", s.key);
    w.field("length", s.length());
    w.key("first_id");
    if (empty) {
      w.null();
    } else {
      write_id(w, s.first_id());
    }
    w.key("last_id");
    write_id(w, s.last_id());
    w.key("last_entry_ms");
    if (empty) {
      w.null();
    } else {
      w.uinteger(s.last_entry_id().ms);
    }
    w.field("disk_bytes", s.log().disk_bytes());
    w.field("ram_bytes", s.memory_bytes());
    write_retention(w, cfg);
    w.field("groups", static_cast<uint64_t>(s.groups.size()));
    w.key("max_lag");
    write_optional(w, max_lag(s));
    w.end_object();
  }
  w.end_array();
  if (truncated) w.field("truncated", true);
  w.end_object();
  return r;
}

ApiResponse stream_info(Call& c) {
  int db;
  std::string key;
  Stream* s = c.stream_param(&db, &key, {"XINFO", "STREAM"});
  if (!s) return *c.error;
  const bool empty = s->length() == 0;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  w.field("db", db);
  w.field("key", key);
  w.field("length", s->length());
  w.key("last_generated_id");
  write_id(w, s->last_id());
  w.key("max_deleted_entry_id");
  write_id(w, s->max_deleted_id());
  w.field("entries_added", s->entries_added());
  w.key("recorded_first_entry_id");
  write_id(w, s->first_id());
  w.key("first_entry_id");
  if (empty) {
    w.null();
  } else {
    write_id(w, s->first_id());
  }
  w.key("last_entry_id");
  if (empty) {
    w.null();
  } else {
    write_id(w, s->last_entry_id());
  }
  w.field("disk_bytes", s->log().disk_bytes());
  w.field("ram_bytes", s->memory_bytes());
  w.field("segments", static_cast<uint64_t>(s->log().segment_count()));
  write_retention(w, c.broker.config());
  w.key("groups");
  w.begin_array();
  for (const auto& [name, g] : s->groups) {
    w.begin_object();
    w.field("name", name);
    w.field("consumers", static_cast<uint64_t>(g->consumers.size()));
    w.field("pending", static_cast<uint64_t>(g->pel.size()));
    w.key("last_delivered_id");
    write_id(w, g->last_delivered_id);
    w.key("entries_read");
    write_optional(w, g->entries_read == stream::kEntriesReadUnknown
                          ? std::nullopt
                          : std::optional<int64_t>(g->entries_read));
    w.key("lag");
    write_optional(w, stream::group_lag(*s, *g));
    w.field("consumer_max_idle_ms", g->consumer_max_idle_ms);
    w.key("dead_letter");
    if (g->has_dlq()) {
      w.begin_object();
      w.field("max_deliveries", g->max_deliveries);
      w.field("stream", g->dlq_key);
      w.field("dead_letters", g->dead_letters);
      w.end_object();
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return r;
}

ApiResponse consumers(Call& c) {
  int db;
  std::string key, name;
  Stream* s = c.stream_param(&db, &key, {"XINFO", "CONSUMERS"});
  ConsumerGroup* g = s && c.required("group", &name) ? c.group(*s, name) : nullptr;
  if (!g) return *c.error;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_array();
  size_t n = 0;
  for (const auto& [cname, consumer] : g->consumers) {
    if (n++ == kMaxListed) break;
    w.begin_object();
    w.field("name", cname);
    w.field("pending", static_cast<uint64_t>(consumer->pending.size()));
    w.field("idle_ms", std::max<int64_t>(0, c.now_ms - consumer->seen_time_ms));
    w.field("inactive_ms", consumer->active_time_ms < 0
                               ? int64_t{-1}
                               : std::max<int64_t>(0, c.now_ms - consumer->active_time_ms));
    if (g->consumer_max_idle_ms > 0) w.field("stale", g->consumer_stale(*consumer, c.now_ms));
    w.end_object();
  }
  w.end_array();
  return r;
}

ApiResponse pending(Call& c) {
  int db;
  std::string key, name;
  Stream* s = c.stream_param(&db, &key, {"XPENDING"});
  ConsumerGroup* g = s && c.required("group", &name) ? c.group(*s, name) : nullptr;
  if (!g) return *c.error;
  StreamId start, end;
  bool empty = false;
  uint64_t count;
  if (!c.range_bound("start", false, &start, &empty) || !c.range_bound("end", true, &end, &empty) ||
      !c.count_param("count", &count)) {
    return *c.error;
  }
  std::optional<std::string> consumer_name = c.param("consumer");
  const stream::Consumer* only = nullptr;
  if (consumer_name && !consumer_name->empty()) {
    auto it = g->consumers.find(*consumer_name);
    if (it == g->consumers.end()) return error_response(404, "no such consumer");
    only = it->second.get();
  }
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  w.key("max_deliveries");
  write_optional(w, g->has_dlq() ? std::optional<int64_t>(static_cast<int64_t>(g->max_deliveries))
                                 : std::nullopt);
  w.key("items");
  w.begin_array();
  auto item = [&](StreamId id, const stream::Pending& p) {
    w.begin_object();
    w.key("id");
    write_id(w, id);
    w.key("consumer");
    if (p.consumer) {
      w.string(p.consumer->name);
    } else {
      w.null();
    }
    w.field("idle_ms", std::max<int64_t>(0, c.now_ms - p.delivery_time_ms));
    w.field("deliveries", p.delivery_count);
    w.end_object();
  };
  uint64_t n = 0;
  if (!empty && start <= end) {
    if (only) {
      for (auto it = only->pending.lower_bound(start);
           it != only->pending.end() && *it <= end && n < count; ++it, ++n) {
        if (const stream::Pending* p = g->pel.find(*it)) item(*it, *p);
      }
    } else {
      const auto& entries = g->pel.entries();
      for (auto it = entries.lower_bound(start);
           it != entries.end() && it->first <= end && n < count; ++it, ++n) {
        item(it->first, it->second);
      }
    }
  }
  w.end_array();
  w.end_object();
  return r;
}

// Writes up to `count` entries of s between from and to ("items"), and "next".
ApiResponse entry_page(const Stream& s, StreamId from, StreamId to, bool reverse, uint64_t count,
                       bool empty, const std::function<void(JsonWriter&)>& extra) {
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  if (extra) extra(w);
  w.key("items");
  w.begin_array();
  uint64_t n = 0;
  StreamId last;
  bool full = false;  // the page reached kMaxPageBytes before `count` entries
  if (!empty && from <= to) {
    wire::Status st = s.range(from, to, reverse, count, [&](StreamId id, std::string_view resp) {
      write_entry(w, id, resp);
      last = id;
      ++n;
      full = r.body.size() >= kMaxPageBytes;
      return !full;
    });
    if (!st.is_ok()) return error_response(500, "reading the stream failed: " + st.detail());
  }
  w.end_array();
  w.key("next");
  if (n == count || (full && n > 0)) {
    char buf[48];
    std::string next = "(" + std::string(buf, last.format(buf));
    w.string(next);
  } else {
    w.null();
  }
  w.end_object();
  return r;
}

ApiResponse entries(Call& c) {
  int db;
  std::string key;
  Stream* s = c.stream_param(&db, &key, {"XRANGE"});
  if (!s) return *c.error;
  StreamId from, to;
  bool empty = false;
  uint64_t count;
  int64_t rev;
  if (!c.range_bound("start", false, &from, &empty) || !c.range_bound("end", true, &to, &empty) ||
      !c.count_param("count", &count) || !c.int_param("rev", 0, 0, 1, &rev)) {
    return *c.error;
  }
  if (auto time = c.param("time"); time && !time->empty()) {
    uint64_t ms;
    if (!wire::parse_u64(*time, &ms)) {
      return error_response(400, "invalid time: milliseconds since the epoch are expected");
    }
    from = StreamId{ms, 0};
  }
  return entry_page(*s, from, to, rev == 1, count, empty, nullptr);
}

ApiResponse unconsumed(Call& c) {
  int db;
  std::string key, name;
  Stream* s = c.stream_param(&db, &key, {"XRANGE"});
  ConsumerGroup* g = s && c.required("group", &name) ? c.group(*s, name) : nullptr;
  if (!g) return *c.error;
  uint64_t count;
  if (!c.count_param("count", &count)) return *c.error;
  StreamId from;
  bool empty = !g->last_delivered_id.increment(&from);
  return entry_page(*s, from, StreamId::max(), false, count, empty, [&](JsonWriter& w) {
    w.key("last_delivered_id");
    write_id(w, g->last_delivered_id);
    w.key("lag");
    write_optional(w, stream::group_lag(*s, *g));
  });
}

ApiResponse pubsub_info(Call& c, const History& h) {
  if (!c.require({"PUBSUB", "CHANNELS"})) return *c.error;
  pubsub::PubSubHub& hub = c.broker.pubsub();
  bool truncated = false;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_object();
  for (auto space : {pubsub::ChannelSpace::kGlobal, pubsub::ChannelSpace::kShard}) {
    w.key(space == pubsub::ChannelSpace::kGlobal ? "channels" : "shard_channels");
    w.begin_array();
    std::vector<std::string_view> names = hub.channels(space, nullptr);
    std::sort(names.begin(), names.end());
    size_t n = 0;
    for (std::string_view name : names) {
      if (!c.user.unrestricted() && !c.user.channel_allowed(name, false)) continue;
      if (n++ == kMaxListed || r.body.size() >= kMaxPageBytes) {
        truncated = true;
        break;
      }
      w.begin_object();
      w.field("name", name);
      w.field("subscribers", static_cast<uint64_t>(hub.subscriber_count(space, name)));
      w.end_object();
    }
    w.end_array();
  }
  w.key("patterns");
  w.begin_array();
  size_t n = 0;
  for (const auto& [pattern, subscribers] : hub.pattern_subscribers()) {
    if (!c.user.unrestricted() && !c.user.channel_allowed(pattern, true)) continue;
    if (n++ == kMaxListed || r.body.size() >= kMaxPageBytes) {
      truncated = true;
      break;
    }
    w.begin_object();
    w.field("pattern", pattern);
    w.field("subscribers", static_cast<uint64_t>(subscribers));
    w.end_object();
  }
  w.end_array();
  w.field("messages_per_s", h.latest(History::kPublished));
  w.field("truncated", truncated);
  w.end_object();
  return r;
}

ApiResponse clients(Call& c) {
  if (!c.require({"CLIENT", "LIST"})) return *c.error;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_array();
  size_t n = 0;
  for (const auto& [id, client] : c.broker.clients()) {
    if (n++ == kMaxListed || r.body.size() >= kMaxPageBytes) break;
    std::string line = commands::client_info_line(c.broker, *client, c.now_ms);
    w.begin_object();
    std::string_view rest = line;
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      std::string_view field = rest.substr(0, sp);
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
      size_t eq = field.find('=');
      if (eq == std::string_view::npos) continue;
      w.field(field.substr(0, eq), field.substr(eq + 1));
    }
    w.end_object();
  }
  w.end_array();
  return r;
}

ApiResponse slowlog(Call& c) {
  if (!c.require({"SLOWLOG", "GET"})) return *c.error;
  uint64_t count;
  if (!c.count_param("count", &count)) return *c.error;
  const auto& log = c.broker.slowlog;
  ApiResponse r;
  JsonWriter w(&r.body);
  w.begin_array();
  uint64_t n = 0;
  for (auto it = log.rbegin(); it != log.rend() && n < count; ++it, ++n) {
    w.begin_object();
    w.field("id", it->id);
    w.field("time", it->time_s);
    w.field("duration_us", it->duration_us);
    w.key("args");
    w.begin_array();
    for (const std::string& a : it->args) {
      w.string(std::string_view(a).substr(0, kMaxValueBytes));
    }
    w.end_array();
    w.field("client", it->addr);
    w.field("name", it->name);
    w.end_object();
  }
  w.end_array();
  return r;
}

// ---- POST handlers -------------------------------------------------------------------------

// A string member of the body; 400 when missing or not a string.
bool body_string(const JsonValue& body, std::string_view name, std::string* out,
                 std::optional<ApiResponse>* error) {
  const JsonValue* v = body.find(name);
  if (!v || !v->is_string()) {
    *error = error_response(400, "missing string member " + std::string(name));
    return false;
  }
  *out = v->text;
  return true;
}

bool body_db(const JsonValue& body, int db_count, int* out, std::optional<ApiResponse>* error) {
  const JsonValue* v = body.find("db");
  if (!v) {
    *out = 0;
    return true;
  }
  int64_t n = -1;
  if (!(v->type == JsonValue::Type::kNumber || v->is_string()) || !wire::parse_i64(v->text, &n) ||
      n < 0 || n >= db_count) {
    *error = error_response(
        400, "invalid db: an index from 0 to " + std::to_string(db_count - 1) + " is expected");
    return false;
  }
  *out = static_cast<int>(n);
  return true;
}

}  // namespace

ConsoleApi::ConsoleApi(core::Broker& broker) : broker_(broker), client_(0, nullptr) {
  client_.script = true;
  client_.authenticated = true;
  client_.name = "console";
}

ConsoleApi::~ConsoleApi() = default;

void ConsoleApi::tick(int64_t now_ms) {
  history_.tick(now_ms, History::read(broker_));
  lag_.tick(broker_, now_ms);
}

namespace {

// Runs argv as `user` in database `db` on the console's client; the reply as a parsed value, or
// the error response.
std::optional<ApiResponse> run_admin(core::Broker& broker, core::Client& client, acl::User* user,
                                     int db, std::span<const std::string_view> argv,
                                     wire::resp::Value* reply) {
  client.db = db;
  client.user = user;
  client.protocol = 2;
  client.out.reset();
  uint32_t flags = 0;
  commands::ScriptCall outcome =
      commands::call_for_script(broker, client, argv, false, false, &flags, "toplevel");
  switch (outcome) {
    case commands::ScriptCall::kRan:
      break;
    case commands::ScriptCall::kNoPermCommand:
      return error_response(403, "NOPERM this user has no permissions to run the '" +
                                     std::string(argv[0]) + "' command");
    case commands::ScriptCall::kNoPermKey:
      return error_response(403,
                            "NOPERM this user has no permissions to access one of the keys "
                            "used as arguments");
    case commands::ScriptCall::kNoPermChannel:
      return error_response(403,
                            "NOPERM this user has no permissions to access one of the "
                            "channels used as arguments");
    case commands::ScriptCall::kReadOnly:
      return error_response(403, "READONLY You can't write against a read only replica.");
    case commands::ScriptCall::kMisconf:
      return error_response(500, "MISCONF storage failed: writes are refused");
    case commands::ScriptCall::kOom:
      return error_response(400, "OOM command not allowed when used memory > 'maxmemory'.");
    default:
      return error_response(400, "the command was refused");
  }
  std::string bytes(client.out.staging_view());
  client.out.reset();
  client.user = nullptr;
  wire::resp::ReplyParser parser;
  size_t consumed = 0;
  if (parser.parse(bytes, reply, &consumed) != wire::resp::ReplyParser::Outcome::kValue) {
    return error_response(500, "unreadable reply");
  }
  if (reply->is_error()) {
    const std::string& text = reply->str;
    int status = 400;
    if (text.starts_with("NOGROUP") || text.starts_with("ERR no such key")) status = 404;
    if (text.starts_with("NOPERM")) status = 403;
    return error_response(status, text);
  }
  return std::nullopt;
}

}  // namespace

ApiResponse ConsoleApi::handle(const ApiRequest& request, int64_t now_ms) {
  acl::User& user = request.user ? *request.user : commands::acl_registry(broker_).default_user();
  std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";

  if (!path.starts_with("/api/")) {
#ifdef SLUICE_CONSOLE_ASSETS
    if (const Asset* asset = find_asset(path)) {
      if (!get) {
        ApiResponse r = error_response(405, "method not allowed: use GET");
        r.allow = kGetAllow;
        return r;
      }
      ApiResponse r;
      r.body = std::string(asset->body);
      r.content_type = asset->content_type;
      r.is_asset = true;
      return r;
    }
#endif
    return error_response(404, "not found");
  }

  Call c(broker_, user, request.query, now_ms);
  using GetHandler = ApiResponse (*)(Call&);
  struct GetRoute {
    std::string_view path;
    GetHandler handler;
  };
  static const GetRoute kGets[] = {
      {"/api/whoami", whoami},      {"/api/overview", overview},     {"/api/streams", streams},
      {"/api/stream", stream_info}, {"/api/consumers", consumers},   {"/api/pending", pending},
      {"/api/entries", entries},    {"/api/unconsumed", unconsumed}, {"/api/clients", clients},
      {"/api/slowlog", slowlog},
  };
  static const std::string_view kPosts[] = {"/api/group/setid", "/api/consumer/delete",
                                            "/api/publish", "/api/xadd"};
  const bool is_history = path == "/api/history" || path == "/api/lag" || path == "/api/pubsub";
  GetHandler handler = nullptr;
  for (const auto& route : kGets) {
    if (route.path == path) handler = route.handler;
  }
  const bool is_post = std::find(std::begin(kPosts), std::end(kPosts), path) != std::end(kPosts);
  if (!handler && !is_history && !is_post) return error_response(404, "no such API endpoint");
  if (is_post ? !post : !get) {
    ApiResponse r = error_response(
        405, is_post ? "method not allowed: use POST" : "method not allowed: use GET");
    r.allow = is_post ? kPostAllow : kGetAllow;
    return r;
  }
  if (handler) return handler(c);
  if (path == "/api/history") return history_json(c, history_);
  if (path == "/api/lag") return lag_json(c, lag_);
  if (path == "/api/pubsub") return pubsub_info(c, history_);

  // Admin actions.
  if (!broker_.config().console_admin) {
    return error_response(403, "the console is read-only: set console-admin yes to allow this");
  }
  std::string_view type = request.content_type.substr(0, request.content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  if (!commands::iequals(type, "application/json")) {
    return error_response(415, "the body must be sent as Content-Type: application/json");
  }
  JsonValue body;
  std::string why;
  if (!parse_json(request.body, &body, &why)) return error_response(400, "invalid JSON: " + why);
  if (body.type != JsonValue::Type::kObject) {
    return error_response(400, "the body must be a JSON object");
  }
  std::optional<ApiResponse> error;
  int db = 0;
  wire::resp::Value reply;
  ApiResponse r;
  JsonWriter w(&r.body);
  if (path == "/api/group/setid") {
    std::string key, group, id;
    if (!body_db(body, broker_.db_count(), &db, &error) ||
        !body_string(body, "key", &key, &error) || !body_string(body, "group", &group, &error) ||
        !body_string(body, "id", &id, &error)) {
      return *error;
    }
    std::string_view argv[] = {"XGROUP", "SETID", key, group, id};
    if (auto e = run_admin(broker_, client_, &user, db, argv, &reply)) return *e;
    w.begin_object();
    w.field("ok", true);
    w.end_object();
  } else if (path == "/api/consumer/delete") {
    std::string key, group, consumer;
    if (!body_db(body, broker_.db_count(), &db, &error) ||
        !body_string(body, "key", &key, &error) || !body_string(body, "group", &group, &error) ||
        !body_string(body, "consumer", &consumer, &error)) {
      return *error;
    }
    std::string_view argv[] = {"XGROUP", "DELCONSUMER", key, group, consumer};
    if (auto e = run_admin(broker_, client_, &user, db, argv, &reply)) return *e;
    w.begin_object();
    w.field("ok", true);
    w.field("pending", reply.integer);
    w.end_object();
  } else if (path == "/api/publish") {
    std::string channel, message;
    if (!body_string(body, "channel", &channel, &error) ||
        !body_string(body, "message", &message, &error)) {
      return *error;
    }
    std::string_view argv[] = {"PUBLISH", channel, message};
    if (auto e = run_admin(broker_, client_, &user, 0, argv, &reply)) return *e;
    w.begin_object();
    w.field("ok", true);
    w.field("receivers", reply.integer);
    w.end_object();
  } else {  // /api/xadd
    std::string key;
    if (!body_db(body, broker_.db_count(), &db, &error) ||
        !body_string(body, "key", &key, &error)) {
      return *error;
    }
    const JsonValue* fields = body.find("fields");
    if (!fields || fields->type != JsonValue::Type::kArray || fields->items.empty() ||
        fields->items.size() > kMaxFieldsPerEntry) {
      return error_response(400, "fields: 1 to " + std::to_string(kMaxFieldsPerEntry) +
                                     " [field, value] pairs are expected");
    }
    std::vector<std::string_view> argv = {"XADD", key, "*"};
    for (const JsonValue& pair : fields->items) {
      if (pair.type != JsonValue::Type::kArray || pair.items.size() != 2 ||
          !pair.items[0].is_string() || !pair.items[1].is_string()) {
        return error_response(400, "fields: each one must be a [field, value] pair of strings");
      }
      argv.push_back(pair.items[0].text);
      argv.push_back(pair.items[1].text);
    }
    if (auto e = run_admin(broker_, client_, &user, db, argv, &reply)) return *e;
    w.begin_object();
    w.field("ok", true);
    w.field("id", reply.str);
    w.end_object();
  }
  return r;
}

}  // namespace sluice::console
