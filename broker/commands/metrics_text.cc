#include "broker/commands/metrics_text.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/command_table.h"
#include "broker/commands/prometheus_text.h"
#include "broker/commands/server_stats.h"
#include "broker/core/memory.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/storage/open_files.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/read_ahead.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

using prometheus::Family;
using prometheus::MetricType;

constexpr MetricType kCounter = MetricType::kCounter;
constexpr MetricType kGauge = MetricType::kGauge;

// Samples left for the per-stream families; take(n) reserves n or none.
class SeriesBudget {
 public:
  explicit SeriesBudget(uint64_t limit) : left_(limit) {}
  bool take(uint64_t n) {
    if (n > left_) {
      truncated_ = true;
      return false;
    }
    left_ -= n;
    return true;
  }
  bool truncated() const { return truncated_; }

 private:
  uint64_t left_;
  bool truncated_ = false;
};

struct StreamRef {
  int db;
  std::string_view key;
  const stream::Stream* stream;
};

// Every live stream, in (db, key) order so scrapes list them the same way each time and a
// truncated scrape always keeps the same ones.
std::vector<StreamRef> live_streams(core::Broker& broker, int64_t now_ms) {
  std::vector<StreamRef> out;
  for (int i = 0; i < broker.db_count(); ++i) {
    broker.db(i).for_each([&](const std::string& key, core::Object& obj) {
      if (obj.type() != core::ObjectType::kStream) return;
      if (obj.expire_at_ms != 0 && obj.expire_at_ms <= now_ms) return;
      out.push_back({i, key, static_cast<const stream::Stream*>(&obj)});
    });
  }
  std::sort(out.begin(), out.end(), [](const StreamRef& a, const StreamRef& b) {
    return a.db != b.db ? a.db < b.db : a.key < b.key;
  });
  return out;
}

void append_server_families(core::Broker& broker, std::string* out) {
  const core::Stats& st = broker.stats();
  const core::ServerControl* control = broker.control;

  Family::single(out, "sluice_uptime_seconds", kGauge, "Seconds since the server started.",
                 control ? static_cast<double>(control->uptime_ms()) / 1000.0 : 0.0);

  Family connected("sluice_connected_clients", kGauge,
                   "Client connections open now (metrics connections not included).");
  connected.add(control ? control->connected_clients() : uint64_t{0});
  connected.append_to(out);

  Family::single(out, "sluice_blocked_clients", kGauge,
                 "Clients blocked in XREAD, XREADGROUP or another blocking command.",
                 broker.blocking().blocked_clients());

  Family::single(out, "sluice_connections_received_total", kCounter,
                 "Client connections accepted since start.", st.total_connections_received);

  Family::single(out, "sluice_rejected_connections_total", kCounter,
                 "Client connections refused because maxclients was reached.",
                 st.rejected_connections);

  Family::single(out, "sluice_net_input_bytes_total", kCounter, "Bytes read from clients.",
                 st.total_net_input_bytes);

  Family::single(out, "sluice_net_output_bytes_total", kCounter, "Bytes written to clients.",
                 st.total_net_output_bytes);

  Family::single(out, "sluice_used_memory_bytes", kGauge,
                 "Bytes allocated by the server (INFO used_memory).", core::used_memory());
  Family::single(out, "sluice_used_memory_rss_bytes", kGauge,
                 "Resident set size of the server process (INFO used_memory_rss).", rss_bytes());

  Family::single(out, "sluice_storage_failed", kGauge,
                 "1 after a failed write or fdatasync, until the disk takes writes again.",
                 broker.storage_failed() ? 1 : 0);

  Family::single(out, "sluice_storage_write_failures_total", kCounter,
                 "Failed writes or fdatasyncs that turned storage failed.", st.io_errors);

  Family::single(out, "sluice_storage_rollbacks_total", kCounter,
                 "Failed batches undone: their writes cut from disk, their replies -MISCONF.",
                 st.storage_rollbacks);

  Family::single(out, "sluice_storage_resumes_total", kCounter,
                 "Times writes resumed after a failure, without a restart.", st.storage_resumes);

  const storage::CorruptionStats damage = storage::corruption_stats();
  Family::single(out, "sluice_storage_corrupt_ranges_total", kCounter,
                 "Damaged ranges found in segments and journals (not torn writes).",
                 damage.corrupt_ranges);

  Family::single(out, "sluice_storage_corrupt_records_total", kCounter,
                 "Records lost in damaged ranges (counted from frame headers).",
                 damage.corrupt_records);

  Family::single(out, "sluice_storage_quarantined_bytes_total", kCounter,
                 "Bytes of damaged ranges copied into quarantine files.", damage.quarantined_bytes);

  Family::single(out, "sluice_storage_quarantine_files_total", kCounter,
                 "Quarantine files written (<file>.corrupt-<offset>).", damage.quarantine_files);

  Family::single(out, "sluice_storage_torn_write_bytes_total", kCounter,
                 "Bytes of torn writes cut at the end of files by recovery.", damage.torn_bytes);

  Family::single(out, "sluice_storage_empty_segments_total", kCounter,
                 "0-byte segment files removed by recovery.", damage.empty_segments);
}

void append_command_families(core::Broker& broker, std::string* out) {
  const core::Stats& st = broker.stats();

  Family::single(out, "sluice_commands_processed_total", kCounter,
                 "Commands processed (INFO total_commands_processed).",
                 st.total_commands_processed);

  Family calls("sluice_commands_total", kCounter, "Calls per command (INFO commandstats).");
  Family usec("sluice_commands_usec_total", kCounter, "Microseconds spent executing each command.");
  Family rejected_calls("sluice_commands_rejected_total", kCounter,
                        "Calls refused before running (arity, NOAUTH, subscribed mode, MISCONF).");
  Family failed_calls("sluice_commands_failed_total", kCounter,
                      "Calls that executed and replied with an error.");
  command_table().for_each([&](const CommandSpec& spec) {
    const core::CommandStats& cs = spec.stats;
    if (cs.calls == 0 && cs.rejected_calls == 0) return;
    calls.add({{"cmd", spec.name}}, cs.calls);
    usec.add({{"cmd", spec.name}}, cs.usec);
    rejected_calls.add({{"cmd", spec.name}}, cs.rejected_calls);
    failed_calls.add({{"cmd", spec.name}}, cs.failed_calls);
  });
  calls.append_to(out);
  usec.append_to(out);
  rejected_calls.append_to(out);
  failed_calls.append_to(out);

  Family::single(out, "sluice_error_replies_total", kCounter, "Error replies sent.",
                 st.total_error_replies);

  Family errors("sluice_errors_total", kCounter,
                "Error replies by error prefix (INFO errorstats).");
  for (const auto& [prefix, n] : st.errors) errors.add({{"prefix", prefix}}, n);
  errors.append_to(out);
}

void append_keyspace_families(core::Broker& broker, std::string* out) {
  const core::Stats& st = broker.stats();

  Family keys("sluice_keys", kGauge, "Keys per non-empty database (INFO keyspace).");
  Family expires("sluice_keys_with_expiry", kGauge, "Keys with a TTL per non-empty database.");
  uint64_t expired = 0;
  for (int i = 0; i < broker.db_count(); ++i) {
    core::Database& db = broker.db(i);
    expired += db.expired_keys;
    if (db.size() == 0) continue;
    std::string index = std::to_string(i);
    keys.add({{"db", index}}, db.size());
    expires.add({{"db", index}}, db.expires());
  }
  keys.append_to(out);
  expires.append_to(out);

  Family::single(out, "sluice_expired_keys_total", kCounter, "Keys removed by expiry.", expired);

  Family::single(out, "sluice_keyspace_hits_total", kCounter, "Key lookups that found the key.",
                 st.keyspace_hits);

  Family::single(out, "sluice_keyspace_misses_total", kCounter, "Key lookups that found nothing.",
                 st.keyspace_misses);

  pubsub::PubSubHub& hub = broker.pubsub();
  Family::single(out, "sluice_pubsub_channels", kGauge, "Channels with at least one subscriber.",
                 hub.channel_count());

  Family::single(out, "sluice_pubsub_patterns", kGauge, "Distinct subscribed patterns.",
                 hub.pattern_count());

  Family::single(out, "sluice_pubsub_shard_channels", kGauge,
                 "Shard channels with at least one subscriber.", hub.shard_channel_count());

  stream::StreamEngine::Totals totals = broker.streams().totals();
  Family::single(out, "sluice_streams", kGauge, "Stream keys (INFO streams).", totals.streams);

  Family::single(out, "sluice_stream_entries", kGauge, "Entries in all streams.", totals.entries);

  Family::single(out, "sluice_stream_groups", kGauge, "Consumer groups of all streams.",
                 totals.groups);

  Family::single(out, "sluice_stream_disk_bytes", kGauge, "Bytes of stream segment files on disk.",
                 totals.disk_bytes);
  Family::single(out, "sluice_stream_uncompressed_bytes", kGauge,
                 "Bytes the stream segment files would take uncompressed (sealed segments are "
                 "compressed under stream-segment-compression zstd).",
                 totals.record_bytes);
  Family::single(out, "sluice_stream_open_files", kGauge,
                 "Stream files (segments, journals) kept open; idle ones close beyond the limit.",
                 storage::open_files());

  const storage::ReadAheadStats ahead = storage::read_ahead_stats();
  Family::single(out, "sluice_stream_read_ahead_reads_total", kCounter,
                 "File reads made ahead of sequential stream scans (replays).", ahead.reads);
  Family::single(out, "sluice_stream_read_ahead_hits_total", kCounter,
                 "Stream scans that started on bytes read ahead.", ahead.hits);
}

void append_stream_families(core::Broker& broker, int64_t now_ms, std::string* out) {
  Family length("sluice_stream_length", kGauge, "Entries in the stream (XLEN).");
  Family last_id("sluice_stream_last_id_ms", kGauge,
                 "Milliseconds part of the stream's last generated ID (a unix time in ms).");
  Family added("sluice_stream_entries_added_total", kCounter,
               "Entries ever added to the stream (XINFO STREAM entries-added).");
  Family lag("sluice_group_lag", kGauge,
             "Entries not yet delivered to the group, as XINFO GROUPS lag; absent when "
             "XINFO shows nil (deletions make it unknowable).");
  Family pending("sluice_group_pending", kGauge,
                 "Entries delivered to the group and not yet acknowledged (its PEL).");
  Family consumers("sluice_group_consumers", kGauge, "Consumers in the group.");
  Family delivered("sluice_group_last_delivered_id_ms", kGauge,
                   "Milliseconds part of the group's last-delivered-id.");
  Family consumer_pending("sluice_consumer_pending", kGauge,
                          "Entries the consumer holds unacknowledged.");
  Family dead_letters("sluice_group_dead_letters_total", kCounter,
                      "Entries moved to the group's dead-letter stream (XGROUP SETDLQ); only "
                      "groups with one.");
  Family stale("sluice_group_stale_consumers", kGauge,
               "Consumers with pending entries idle past the group's idle-consumer limit "
               "(XGROUP SETCONSUMERIDLE); only groups with one.");
  Family consumer_idle("sluice_consumer_idle_seconds", kGauge,
                       "Seconds since the consumer last read or claimed (XINFO CONSUMERS idle).");

  SeriesBudget budget(
      static_cast<uint64_t>(std::max<int64_t>(0, broker.config().metrics_max_series)));
  std::string db_label;
  for (const StreamRef& ref : live_streams(broker, now_ms)) {
    if (!budget.take(3)) break;
    const stream::Stream& s = *ref.stream;
    db_label = std::to_string(ref.db);
    length.add({{"db", db_label}, {"stream", ref.key}}, s.length());
    last_id.add({{"db", db_label}, {"stream", ref.key}}, s.last_id().ms);
    added.add({{"db", db_label}, {"stream", ref.key}}, s.entries_added());
    for (const auto& [group_name, g] : s.groups) {
      std::optional<int64_t> group_lag = stream::group_lag(s, *g);
      const bool limited = g->consumer_max_idle_ms > 0;
      if (!budget.take((group_lag ? 4 : 3) + (g->has_dlq() ? 1 : 0) + (limited ? 1 : 0))) break;
      std::initializer_list<prometheus::Label> labels = {
          {"db", db_label}, {"stream", ref.key}, {"group", group_name}};
      if (group_lag) lag.add(labels, *group_lag);
      pending.add(labels, g->pel.size());
      consumers.add(labels, g->consumers.size());
      delivered.add(labels, g->last_delivered_id.ms);
      if (g->has_dlq()) dead_letters.add(labels, g->dead_letters);
      if (limited) {
        uint64_t n = 0;
        for (const auto& [cname, c] : g->consumers) n += g->consumer_stale(*c, now_ms) ? 1 : 0;
        stale.add(labels, n);
      }
      for (const auto& [consumer_name, c] : g->consumers) {
        if (!budget.take(2)) break;
        std::initializer_list<prometheus::Label> consumer_labels = {{"db", db_label},
                                                                    {"stream", ref.key},
                                                                    {"group", group_name},
                                                                    {"consumer", consumer_name}};
        consumer_pending.add(consumer_labels, c->pending.size());
        consumer_idle.add(
            consumer_labels,
            static_cast<double>(std::max<int64_t>(0, now_ms - c->seen_time_ms)) / 1000.0);
      }
      if (budget.truncated()) break;
    }
    if (budget.truncated()) break;
  }
  for (const Family* f : {&length, &last_id, &added, &lag, &pending, &consumers, &delivered,
                          &dead_letters, &stale, &consumer_pending, &consumer_idle}) {
    f->append_to(out);
  }
  Family::single(out, "sluice_metrics_truncated", kGauge,
                 "1 when metrics-max-series left some stream, group or consumer series out of "
                 "this scrape.",
                 budget.truncated() ? 1 : 0);
}

}  // namespace

std::string render_metrics(core::Broker& broker, int64_t now_ms) {
  std::string out;
  append_server_families(broker, &out);
  append_command_families(broker, &out);
  append_keyspace_families(broker, &out);
  append_stream_families(broker, now_ms, &out);
  return out;
}

}  // namespace sluice::commands
