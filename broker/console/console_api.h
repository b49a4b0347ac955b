// The web console's JSON API, served on metrics-port beside /metrics (server/metrics_http.h
// routes every other path here). No libuv: the server calls handle() for each request and
// tick() once per second, both on the loop thread.
//
// Access. The server resolves the caller to an ACL user first (HTTP Basic with a user and its
// password; anonymous = the default user while no password guards the broker; otherwise 401),
// and the API shows only what that user could read with the equivalent commands: streams whose
// key XINFO STREAM may read, groups and consumers as XINFO GROUPS/CONSUMERS, pending entries as
// XPENDING, entries as XRANGE, channels the user's channel rules allow, clients as CLIENT LIST,
// the slow log as SLOWLOG GET and server figures as INFO (403 {"error"} when denied; the list of
// streams silently leaves out keys the user may not read). Admin actions (POST) also need
// `console-admin yes` (default no: read-only) and run as that user through the dispatcher's
// door for scripts (commands::call_for_script): ACL-checked, journaled, replicated, shown to
// MONITOR and counted like any command.
//
// Responses: Content-Type application/json; charset=utf-8, Cache-Control: no-store. Errors are
// {"error": "..."}: 400 bad parameters or body, 403 denied, 404 unknown path, stream, group or
// consumer, 405 wrong method (with Allow), 413 body over 64 KiB (server), 415 a POST body that
// is not application/json. Numbers are integers
// as INFO/XINFO give them (null where XINFO gives nil); IDs are "ms-seq" strings; times in ms.
// Strings are bytes: invalid UTF-8 is written as \u00XX per byte (json.h). Query parameters are
// form-decoded (%XX, '+' as a space; an unencoded range bound "+" still means "+"), so binary
// keys can be addressed with %XX.
//
// Endpoints (db: a database index, default 0; every list is bounded):
//   GET /api/whoami     {"user","admin"}  admin: console-admin is yes
//   GET /api/overview   {"version","uptime_s","role","connected_clients","blocked_clients",
//                        "used_memory","used_memory_rss","stream_disk_bytes","streams","keys",
//                        "total_commands","total_errors","xadd_total","deliveries_total",
//                        "pubsub_channels","pubsub_patterns"}
//   GET /api/history    {"interval_ms":1000,"now_ms","series":{"commands","xadd","deliveries",
//                        "errors","published","used_memory","clients"}}: one value per second,
//                        oldest first, at most 3600 (history.h)
//   GET /api/lag?db&key&group  {"interval_ms","points":[[ms,lag|null],...]} (history.h)
//   GET /api/streams?db&pattern&sort&order&offset&limit
//                       {"total","offset","items":[{"db","key","length","first_id",
//                        "last_id","last_entry_ms","disk_bytes","ram_bytes","retention":
//                        {"max_age_ms","max_bytes"},"groups","max_lag"}]}
//                        db omitted: every database. pattern: a glob (as SCAN MATCH). sort:
//                        key|length|last_id|groups|max_lag|disk_bytes (default key), order:
//                        asc|desc, limit at most kMaxLimit. first_id/last_entry_ms: null when
//                        empty; last_id is the last generated ID; max_lag: the largest known
//                        lag of its groups (null without groups or when none is known).
//                        Over in-memory metadata only: O(n log n) in the number of streams.
//   GET /api/stream?db&key  {"db","key","length","last_generated_id","max_deleted_entry_id",
//                        "entries_added","recorded_first_entry_id","first_entry_id",
//                        "last_entry_id","disk_bytes","ram_bytes","segments","retention",
//                        "groups":[{"name","consumers","pending","last_delivered_id",
//                        "entries_read","lag","consumer_max_idle_ms","dead_letter":
//                        {"max_deliveries","stream","dead_letters"}|null}]}
//   GET /api/consumers?db&key&group  [{"name","pending","idle_ms","inactive_ms"}]
//                        inactive_ms: since the last successful read or claim, -1 if never
//   GET /api/pending?db&key&group&start&end&count&consumer
//                       {"max_deliveries":n|null,"items":[{"id","consumer","idle_ms",
//                        "deliveries"}]} (XPENDING's extended form; start/end default - and +)
//   GET /api/entries?db&key&start&end&count&rev  or  ...&time=<ms>
//                       {"items":[{"id","fields":[[f,v],...]}],"next":"(id"|null}
//                        start/end: "-", "+", "ms", "ms-seq" or "(ms-seq" (exclusive), as XRANGE;
//                        rev=1 lists from end down to start (XREVRANGE). time=<ms> starts at the
//                        first entry at or after that time. next: the start (end with rev) of the
//                        following page when the page was full, else null.
//   GET /api/unconsumed?db&key&group&count  {"last_delivered_id","lag","items":[...as entries]}
//                        the entries after the group's last-delivered ID
//   GET /api/pubsub     {"channels":[{"name","subscribers"}],"patterns":[{"pattern",
//                        "subscribers"}],"shard_channels":[{"name","subscribers"}],
//                        "messages_per_s","truncated"}
//   GET /api/clients    [{CLIENT LIST field: value, ...}] (values as strings)
//   GET /api/slowlog?count  [{"id","time","duration_us","args","client","name"}] newest first
//   POST /api/group/setid      {"db","key","group","id"}        XGROUP SETID   -> {"ok":true}
//   POST /api/consumer/delete  {"db","key","group","consumer"}  XGROUP DELCONSUMER
//                                                               -> {"ok":true,"pending":n}
//   POST /api/publish          {"channel","message"}            PUBLISH ->
//   {"ok":true,"receivers":n} POST /api/xadd             {"db","key","fields":[[f,v],...]} XADD key
//   * ... -> {"ok":true,"id"} POST bodies are JSON objects ("db" a number or a numeric string); an
//   error reply of the command is 400 {"error": its text} (404 for NOGROUP and missing keys, 403
//   for NOPERM).
//
// Limits: count/limit at most kMaxLimit (default kDefaultLimit); field values and slow log
// arguments longer than kMaxValueBytes are cut there, with "truncated": true on their entry;
// at most kMaxFieldsPerEntry field pairs per entry, kMaxListed channels/patterns/clients, and a
// list stops once its body passed kMaxPageBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/acl/acl.h"
#include "broker/console/history.h"
#include "broker/core/broker.h"
#include "broker/core/client.h"

namespace sluice::console {

inline constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";
inline constexpr size_t kDefaultLimit = 50;
inline constexpr size_t kMaxLimit = 500;
inline constexpr size_t kMaxValueBytes = 4096;
inline constexpr size_t kMaxFieldsPerEntry = 256;
inline constexpr size_t kMaxListed = 1000;
// A list stops growing once the body reaches this many bytes (huge keys or values): entries then
// end early with "next" set, /api/streams pages with "truncated": true, pub/sub lists with
// "truncated": true, clients shorter.
inline constexpr size_t kMaxPageBytes = 1 << 20;

struct ApiRequest {
  std::string_view method;        // "GET", "HEAD", "POST", ...
  std::string_view path;          // "/api/overview"
  std::string_view query;         // as sent, percent-encoded, without '?'
  std::string_view body;          // POST: the JSON body
  std::string_view content_type;  // the body's Content-Type header ("" if none)
  acl::User* user = nullptr;      // the signed-in user; null: the default user
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON (or an asset's bytes)
  std::string_view content_type = kJsonContentType;
  std::string_view allow;  // 405: the methods the path takes
  bool is_asset = false;   // a page asset (cacheable), not API JSON
};

class ConsoleApi {
 public:
  explicit ConsoleApi(core::Broker& broker);
  ~ConsoleApi();
  ConsoleApi(const ConsoleApi&) = delete;
  ConsoleApi& operator=(const ConsoleApi&) = delete;

  // Answers one request (paths under /api/; others: the page's assets when built in, else 404).
  ApiResponse handle(const ApiRequest& request, int64_t now_ms);
  // Once per second: the history and lag samples.
  void tick(int64_t now_ms);

  const History& history() const { return history_; }
  const LagHistory& lag_history() const { return lag_; }

 private:
  core::Broker& broker_;
  History history_;
  LagHistory lag_;
  core::Client client_;  // runs the admin actions (as a script's client: never listed or blocked)
};

}  // namespace sluice::console
