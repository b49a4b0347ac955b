// Typed stream commands: argument builders (namespace cmd), reply parsers that accept both the
// RESP2 and RESP3 shapes, and Streams, an async wrapper that pairs the two on a Connection.
// Builders and parsers are pure functions so a blocking caller (SyncClient) shares them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/connection.h"
#include "client/result.h"
#include "wire/stream_id.h"

namespace sluice::client {

using wire::StreamId;
using Fields = std::vector<std::pair<std::string, std::string>>;

struct StreamEntry {
  StreamId id;
  Fields fields;
  // A pending entry deleted from the stream: XREADGROUP history reads return its ID with no
  // fields.
  bool deleted = false;

  const std::string* field(std::string_view name) const;
};

struct StreamBatch {
  std::string stream;
  std::vector<StreamEntry> entries;
};

enum class TrimStrategy { kNone, kMaxLen, kMinId };

struct TrimOptions {
  TrimStrategy strategy = TrimStrategy::kNone;
  bool approximate = false;  // "~": the server may keep a few more entries, trimming faster
  std::string threshold;     // a length for MAXLEN, an ID for MINID
  int64_t limit = 0;         // LIMIT (approximate only); 0: the server's default

  static TrimOptions maxlen(uint64_t n, bool approximate = false);
  static TrimOptions minid(StreamId id, bool approximate = false);
};

struct XAddOptions {
  std::string id = "*";  // "*", "ms-*" or an explicit "ms-seq"
  bool no_mkstream = false;
  TrimOptions trim;
};

struct ReadOptions {
  int64_t count = 0;                 // 0: no COUNT
  std::optional<uint64_t> block_ms;  // BLOCK; 0 blocks forever
};

struct GroupReadOptions {
  int64_t count = 0;
  std::optional<uint64_t> block_ms;
  bool noack = false;
};

struct PendingSummary {
  int64_t count = 0;
  std::optional<StreamId> smallest;
  std::optional<StreamId> largest;
  std::vector<std::pair<std::string, int64_t>> consumers;  // name, pending count
};

struct PendingEntry {
  StreamId id;
  std::string consumer;
  int64_t idle_ms = 0;
  int64_t delivery_count = 0;
};

struct PendingQuery {
  std::string start = "-";
  std::string end = "+";
  int64_t count = 100;
  std::string consumer;     // empty: every consumer
  int64_t min_idle_ms = 0;  // IDLE filter; 0: none
};

struct ClaimOptions {
  std::optional<int64_t> idle_ms;
  std::optional<int64_t> time_ms;
  std::optional<int64_t> retry_count;
  bool force = false;
  bool justid = false;
};

struct AutoClaimResult {
  StreamId next_start;               // 0-0 once the whole PEL has been scanned
  std::vector<StreamEntry> entries;  // with JUSTID, IDs only (empty fields)
  std::vector<StreamId> deleted;     // pending IDs no longer in the stream (removed from PEL)
};

// A RESP3 map or RESP2 flat [k, v, k, v] reply (XINFO), kept as values for lookup.
struct InfoMap {
  std::vector<std::pair<std::string, Value>> fields;

  const Value* get(std::string_view name) const;
  int64_t integer(std::string_view name, int64_t fallback = -1) const;
  std::string text(std::string_view name) const;
};

using StreamKeys = std::vector<std::pair<std::string, std::string>>;  // stream, ID

// Argument builders: each returns the full command line.
namespace cmd {
std::vector<std::string> xadd(std::string_view key, const Fields& fields,
                              const XAddOptions& options = {});
std::vector<std::string> xrange(std::string_view key, std::string_view start, std::string_view end,
                                int64_t count = 0);
std::vector<std::string> xrevrange(std::string_view key, std::string_view end,
                                   std::string_view start, int64_t count = 0);
std::vector<std::string> xread(const StreamKeys& streams, const ReadOptions& options = {});
std::vector<std::string> xreadgroup(std::string_view group, std::string_view consumer,
                                    const StreamKeys& streams,
                                    const GroupReadOptions& options = {});
std::vector<std::string> xack(std::string_view key, std::string_view group,
                              const std::vector<StreamId>& ids);
std::vector<std::string> xpending(std::string_view key, std::string_view group);
std::vector<std::string> xpending(std::string_view key, std::string_view group,
                                  const PendingQuery& query);
std::vector<std::string> xclaim(std::string_view key, std::string_view group,
                                std::string_view consumer, int64_t min_idle_ms,
                                const std::vector<StreamId>& ids, const ClaimOptions& options = {});
std::vector<std::string> xautoclaim(std::string_view key, std::string_view group,
                                    std::string_view consumer, int64_t min_idle_ms,
                                    std::string_view start, int64_t count = 0, bool justid = false);
std::vector<std::string> xgroup_create(std::string_view key, std::string_view group,
                                       std::string_view id, bool mkstream = true);
std::vector<std::string> xgroup_destroy(std::string_view key, std::string_view group);
std::vector<std::string> xgroup_setid(std::string_view key, std::string_view group,
                                      std::string_view id);
std::vector<std::string> xgroup_delconsumer(std::string_view key, std::string_view group,
                                            std::string_view consumer);
std::vector<std::string> xinfo_stream(std::string_view key);
std::vector<std::string> xinfo_groups(std::string_view key);
std::vector<std::string> xinfo_consumers(std::string_view key, std::string_view group);
std::vector<std::string> xlen(std::string_view key);
std::vector<std::string> xdel(std::string_view key, const std::vector<StreamId>& ids);
std::vector<std::string> xtrim(std::string_view key, const TrimOptions& trim);
}  // namespace cmd

// Reply parsers. Each takes the reply of the matching builder's command.
namespace parse {
Result<StreamId> id(const Value& v);
Result<int64_t> integer(const Value& v);
Status ok(const Value& v);
Result<std::vector<StreamEntry>> entries(const Value& v);
Result<std::vector<StreamBatch>> read(const Value& v);  // XREAD, XREADGROUP; null: none
Result<std::vector<StreamId>> ids(const Value& v);      // XCLAIM JUSTID
Result<PendingSummary> pending_summary(const Value& v);
Result<std::vector<PendingEntry>> pending_entries(const Value& v);
Result<AutoClaimResult> autoclaim(const Value& v);
Result<InfoMap> info(const Value& v);
Result<std::vector<InfoMap>> info_list(const Value& v);  // XINFO GROUPS, XINFO CONSUMERS
}  // namespace parse

// Async typed stream commands on a Connection the caller keeps alive. Blocking reads get a
// timeout of their BLOCK time plus the connection's command timeout (when it has one).
class Streams {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  explicit Streams(Connection& connection) : conn_(connection) {}

  void xadd(std::string_view key, const Fields& fields, const XAddOptions& options,
            Callback<StreamId> cb);
  void xrange(std::string_view key, std::string_view start, std::string_view end, int64_t count,
              Callback<std::vector<StreamEntry>> cb);
  void xrevrange(std::string_view key, std::string_view end, std::string_view start, int64_t count,
                 Callback<std::vector<StreamEntry>> cb);
  void xread(const StreamKeys& streams, const ReadOptions& options,
             Callback<std::vector<StreamBatch>> cb);
  void xreadgroup(std::string_view group, std::string_view consumer, const StreamKeys& streams,
                  const GroupReadOptions& options, Callback<std::vector<StreamBatch>> cb);
  void xack(std::string_view key, std::string_view group, const std::vector<StreamId>& ids,
            Callback<int64_t> cb);
  void xpending(std::string_view key, std::string_view group, Callback<PendingSummary> cb);
  void xpending(std::string_view key, std::string_view group, const PendingQuery& query,
                Callback<std::vector<PendingEntry>> cb);
  void xclaim(std::string_view key, std::string_view group, std::string_view consumer,
              int64_t min_idle_ms, const std::vector<StreamId>& ids, const ClaimOptions& options,
              Callback<std::vector<StreamEntry>> cb);
  void xautoclaim(std::string_view key, std::string_view group, std::string_view consumer,
                  int64_t min_idle_ms, std::string_view start, int64_t count,
                  Callback<AutoClaimResult> cb);
  // Creates the group; an existing group (BUSYGROUP) counts as success.
  void ensure_group(std::string_view key, std::string_view group, std::string_view id,
                    Callback<Unit> cb);
  void xinfo_stream(std::string_view key, Callback<InfoMap> cb);
  void xinfo_groups(std::string_view key, Callback<std::vector<InfoMap>> cb);
  void xinfo_consumers(std::string_view key, std::string_view group,
                       Callback<std::vector<InfoMap>> cb);
  void xlen(std::string_view key, Callback<int64_t> cb);

  // Pages through [start, end] (or [end, start] backwards) page_size entries at a time, each
  // page starting after the last ID of the previous one. on_page returns false to stop early.
  // done gets the number of entries delivered.
  void page(std::string_view key, std::string_view start, std::string_view end, int64_t page_size,
            bool reverse, std::function<bool(const std::vector<StreamEntry>&)> on_page,
            Callback<int64_t> done);

  // Runs args and converts the reply with parser.
  template <typename T, typename Parser>
  void call(std::vector<std::string> args, Parser parser, Callback<T> cb,
            uint64_t timeout_ms = Connection::kDefaultTimeout) {
    conn_.command(
        std::move(args),
        [parser, cb = std::move(cb)](Result<Value> r) {
          if (!r) {
            cb(r.error());
            return;
          }
          cb(parser(*r));
        },
        timeout_ms);
  }

  uint64_t blocking_timeout(const std::optional<uint64_t>& block_ms) const;
  Connection& connection() { return conn_; }

 private:
  Connection& conn_;
};

}  // namespace sluice::client
