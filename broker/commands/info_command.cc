// INFO: Redis's sections and field names, plus a `streams` section of Sluice's own.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/server_stats.h"
#include "broker/core/memory.h"
#include "broker/kv/kv_store.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/replication/replication.h"
#include "broker/scripting/scripting.h"
#include "broker/storage/open_files.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/read_ahead.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {
namespace {

std::string human(uint64_t bytes) {
  char buf[64];
  double b = static_cast<double>(bytes);
  if (bytes < 1024) {
    snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(bytes));
  } else if (bytes < (1ull << 20)) {
    snprintf(buf, sizeof(buf), "%.2fK", b / 1024);
  } else if (bytes < (1ull << 30)) {
    snprintf(buf, sizeof(buf), "%.2fM", b / (1 << 20));
  } else {
    snprintf(buf, sizeof(buf), "%.2fG", b / (1ull << 30));
  }
  return buf;
}

struct Writer {
  std::string out;
  bool first = true;
  void section(const char* name) {
    if (!first) out += "\r\n";
    first = false;
    out += "# ";
    out += name;
    out += "\r\n";
  }
  template <typename T>
  void field(const char* k, const T& v) {
    out += k;
    out += ':';
    if constexpr (std::is_arithmetic_v<T>) {
      out += std::to_string(v);
    } else {
      out += v;
    }
    out += "\r\n";
  }
};

}  // namespace

void info(CommandContext& ctx) {
  std::set<std::string> want;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string s(ctx.arg(i));
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    want.insert(s);
  }
  bool all = want.count("all") || want.count("everything");
  bool dflt = want.empty() || want.count("default");
  auto on = [&](const char* name, bool in_default = true) {
    return all || (dflt && in_default) || want.count(name);
  };
  auto& b = ctx.broker;
  auto& cfg = b.config();
  auto& st = b.stats();
  Writer w;
  int64_t now = ctx.now_ms;
  if (on("server")) {
    utsname u{};
    uname(&u);
    w.section("Server");
    w.field("redis_version", "7.0.15");
    w.field("sluice_version", SLUICE_VERSION);
    w.field("redis_git_sha1", "00000000");
    w.field("redis_git_dirty", 0);
    w.field("redis_build_id", "0");
    w.field("redis_mode", "standalone");
    w.field("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
    w.field("arch_bits", 64);
    w.field("monotonic_clock", "POSIX clock_gettime");
    w.field("multiplexing_api", "epoll");
    w.field("sluice_reply_io", b.control ? b.control->reply_io() : "writev");
    w.field("atomicvar_api", "c11-builtin");
    w.field("gcc_version", std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
                               std::to_string(__GNUC_PATCHLEVEL__));
    w.field("process_id", static_cast<int64_t>(getpid()));
    w.field("process_supervised", "no");
    w.field("run_id", b.run_id);
    w.field("tcp_port", b.control ? b.control->listening_port() : cfg.port);
    w.field("server_time_usec", core::now_us());
    int64_t up = b.control ? b.control->uptime_ms() / 1000 : 0;
    w.field("uptime_in_seconds", up);
    w.field("uptime_in_days", up / 86400);
    w.field("hz", cfg.hz);
    w.field("configured_hz", cfg.hz);
    w.field("lru_clock", (now / 1000) & ((1 << 24) - 1));
    w.field("executable", b.executable);
    w.field("config_file", cfg.config_file);
    w.field("io_threads_active", 0);
  }
  if (on("clients")) {
    w.section("Clients");
    w.field("connected_clients", b.control ? b.control->connected_clients() : 0);
    w.field("cluster_connections", 0);
    w.field("maxclients", cfg.maxclients);
    w.field("client_recent_max_input_buffer", 0);
    w.field("client_recent_max_output_buffer", 0);
    // Clients held by CLIENT PAUSE count as blocked, as in Redis.
    w.field("blocked_clients", b.blocking().blocked_clients() + b.paused_clients.size());
    w.field("tracking_clients", b.tracking().tracking_clients());
    w.field("clients_in_timeout_table", b.blocking().blocked_clients());
  }
  if (on("memory")) {
    // used_memory counts the allocator's live blocks, as Redis's zmalloc does (core/memory.h).
    uint64_t rss = rss_bytes();
    core::note_peak_memory();
    uint64_t used = core::used_memory();
    uint64_t peak = core::peak_used_memory();
    w.section("Memory");
    w.field("used_memory", used);
    w.field("used_memory_human", human(used));
    w.field("used_memory_rss", rss);
    w.field("used_memory_rss_human", human(rss));
    w.field("used_memory_peak", peak);
    w.field("used_memory_peak_human", human(peak));
    // Scripting (Redis 7.0's fields, plus number_of_libraries).
    auto& scripts = scripting::engine(b);
    uint64_t vm_eval = scripts.eval_vm_bytes();
    uint64_t vm_functions = scripts.function_vm_bytes();
    uint64_t scripts_eval = scripts.cached_scripts_bytes();
    uint64_t functions_mem = scripts.functions_bytes();
    w.field("used_memory_lua", vm_eval);
    w.field("used_memory_vm_eval", vm_eval);
    w.field("used_memory_lua_human", human(vm_eval));
    w.field("used_memory_scripts_eval", scripts_eval);
    w.field("number_of_cached_scripts", scripts.cached_script_count());
    w.field("number_of_functions", scripts.function_count());
    w.field("number_of_libraries", scripts.library_count());
    w.field("used_memory_vm_functions", vm_functions);
    w.field("used_memory_vm_total", vm_eval + vm_functions);
    w.field("used_memory_vm_total_human", human(vm_eval + vm_functions));
    w.field("used_memory_functions", functions_mem);
    w.field("used_memory_scripts", scripts_eval + functions_mem);
    w.field("used_memory_scripts_human", human(scripts_eval + functions_mem));
    w.field("maxmemory", cfg.maxmemory);
    w.field("maxmemory_human", human(cfg.maxmemory));
    w.field("maxmemory_policy", cfg.maxmemory_policy);
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f",
                  used ? static_cast<double>(rss) / static_cast<double>(used) : 0.0);
    w.field("mem_fragmentation_ratio", ratio);
    w.field("mem_not_counted_for_evict", core::mem_not_counted_for_evict(b, core::now_ms()));
    w.field("mem_allocator", "libc");
  }
  if (on("persistence")) {
    w.section("Persistence");
    w.field("loading", b.loading ? 1 : 0);
    w.field("async_loading", 0);
    w.field("current_cow_peak", 0);
    w.field("rdb_changes_since_last_save", 0);
    w.field("rdb_bgsave_in_progress", 0);
    w.field("rdb_last_save_time", now / 1000);
    w.field("rdb_last_bgsave_status", "ok");
    w.field("aof_enabled", 1);
    // Redis's AOF rewrite is our KV snapshot, written by a forked child as well.
    w.field("aof_rewrite_in_progress", b.kv().snapshot_running() ? 1 : 0);
    w.field("aof_rewrite_scheduled", 0);
    w.field("aof_last_write_status", b.storage_failed() ? "err" : "ok");
    w.field("aof_last_bgrewrite_status", b.kv().snapshot_failures() > 0 ? "err" : "ok");
    w.field("aof_rewrites", b.kv().snapshots_written());
    w.field("aof_rewrites_consecutive_failures", b.kv().snapshot_failures());
    w.field("appendfsync", cfg.appendfsync == config::AppendFsync::kAlways     ? "always"
                           : cfg.appendfsync == config::AppendFsync::kEverysec ? "everysec"
                                                                               : "no");
    w.field("storage_status", b.storage_failed() ? "failed" : "ok");
    w.field("storage_error", b.storage_error());
    w.field("durable_epoch", b.durable_epoch());
    w.field("storage_write_failures", st.io_errors);
    w.field("storage_rollbacks", st.storage_rollbacks);
    w.field("storage_resumes", st.storage_resumes);
    const storage::CorruptionStats damage = storage::corruption_stats();
    w.field("storage_corrupt_ranges", damage.corrupt_ranges);
    w.field("storage_corrupt_records", damage.corrupt_records);
    w.field("storage_quarantined_bytes", damage.quarantined_bytes);
    w.field("storage_quarantine_files", damage.quarantine_files);
    w.field("storage_torn_write_bytes", damage.torn_bytes);
    w.field("storage_empty_segments_removed", damage.empty_segments);
  }
  if (on("stats")) {
    uint64_t expired = 0;
    for (int i = 0; i < b.db_count(); ++i) expired += b.db(i).expired_keys;
    w.section("Stats");
    w.field("total_connections_received", st.total_connections_received);
    w.field("total_commands_processed", st.total_commands_processed);
    w.field("instantaneous_ops_per_sec", 0);
    w.field("total_net_input_bytes", st.total_net_input_bytes);
    w.field("total_net_output_bytes", st.total_net_output_bytes);
    w.field("rejected_connections", st.rejected_connections);
    w.field("expired_keys", expired);
    w.field("evicted_keys", b.stats().evicted_keys);
    w.field("evicted_scripts", scripting::engine(b).evicted_scripts());
    w.field("keyspace_hits", st.keyspace_hits);
    w.field("keyspace_misses", st.keyspace_misses);
    w.field("pubsub_channels", b.pubsub().channel_count());
    w.field("pubsub_patterns", b.pubsub().pattern_count());
    w.field("pubsubshard_channels", b.pubsub().shard_channel_count());
    w.field("tracking_total_keys", b.tracking().table_keys());
    w.field("tracking_total_items", b.tracking().table_items());
    w.field("tracking_total_prefixes", b.tracking().prefix_count());
    w.field("total_error_replies", st.total_error_replies);
    w.field("client_output_buffer_limit_disconnections", st.client_obl_disconnections);
    w.field("io_errors", st.io_errors);
    w.field("sync_full", replication::of(b).sync_full);
    w.field("sync_partial_ok", replication::of(b).sync_partial_ok);
    w.field("sync_partial_err", replication::of(b).sync_partial_err);
    const AclStats& denied = acl_state(b).stats;
    w.field("acl_access_denied_auth", denied.denied_auth);
    w.field("acl_access_denied_cmd", denied.denied_cmd);
    w.field("acl_access_denied_key", denied.denied_key);
    w.field("acl_access_denied_channel", denied.denied_channel);
  }
  if (on("replication")) {
    auto& repl = replication::of(b);
    w.section("Replication");
    w.field("role", repl.is_replica() ? "slave" : "master");
    if (repl.is_replica()) {
      const bool up = repl.link == replication::LinkStatus::kConnected;
      w.field("master_host", repl.master_host);
      w.field("master_port", repl.master_port);
      w.field("master_link_status", up ? "up" : "down");
      w.field("master_last_io_seconds_ago",
              up ? static_cast<int64_t>((now - repl.last_io_ms) / 1000) : int64_t{-1});
      w.field("master_sync_in_progress", repl.link == replication::LinkStatus::kTransfer ? 1 : 0);
      w.field("slave_read_repl_offset", repl.offset());
      w.field("slave_repl_offset", repl.offset());
      if (!up) {
        w.field("master_link_down_since_seconds",
                static_cast<int64_t>((now - repl.link_down_since_ms) / 1000));
      }
      w.field("slave_priority", cfg.replica_priority);
      w.field("slave_read_only", cfg.replica_read_only ? 1 : 0);
      w.field("replica_announced", 1);
    }
    // As Redis: every attached replica, a full sync in progress as state=send_bulk.
    size_t listed = 0;
    for (const auto& r : repl.replicas) listed += r.online || r.sync ? 1 : 0;
    w.field("connected_slaves", listed);
    size_t n = 0;
    for (const auto& r : repl.replicas) {
      if (!r.online && !r.sync) continue;
      w.field(("slave" + std::to_string(n++)).c_str(),
              "ip=" + r.ip + ",port=" + std::to_string(r.port) + ",state=" +
                  (r.online ? "online" : "send_bulk") + ",offset=" + std::to_string(r.ack_offset) +
                  ",lag=" + std::to_string(r.ack_ms ? (now - r.ack_ms) / 1000 : 0));
    }
    w.field("master_failover_state", repl.failover_state_name());
    w.field("master_replid", repl.replid());
    w.field("master_replid2", repl.replid2());
    w.field("master_repl_offset", repl.offset());
    w.field("second_repl_offset", repl.second_offset());
    w.field("repl_backlog_active", repl.backlog_histlen() > 0 || repl.active() ? 1 : 0);
    w.field("repl_backlog_size", cfg.repl_backlog_size);
    w.field("repl_backlog_first_byte_offset",
            repl.active() || repl.backlog_histlen() > 0 ? repl.backlog_first_offset() : 0);
    w.field("repl_backlog_histlen", repl.backlog_histlen());
  }
  if (on("cpu")) {
    rusage self{};
    getrusage(RUSAGE_SELF, &self);
    auto secs = [](const timeval& tv) {
      char buf[32];
      snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
               static_cast<long>(tv.tv_usec));
      return std::string(buf);
    };
    w.section("CPU");
    w.field("used_cpu_sys", secs(self.ru_stime));
    w.field("used_cpu_user", secs(self.ru_utime));
  }
  if (on("modules")) w.section("Modules");
  if (on("streams")) {
    auto t = b.streams().totals();
    w.section("Streams");
    w.field("streams", t.streams);
    w.field("stream_entries", t.entries);
    w.field("stream_groups", t.groups);
    w.field("stream_segments", t.segments);
    w.field("stream_disk_bytes", t.disk_bytes);
    w.field("stream_uncompressed_bytes", t.record_bytes);
    w.field("stream_memory_bytes", t.memory_bytes);
    w.field("stream_recovery_truncated_bytes", b.streams().recovered_truncated_bytes());
    w.field("stream_retention_dropped_segments", st.stream_retention_dropped_segments);
    w.field("stream_retention_dropped_entries", st.stream_retention_dropped_entries);
    const storage::ReadAheadStats ahead = storage::read_ahead_stats();
    w.field("stream_read_ahead_reads", ahead.reads);
    w.field("stream_read_ahead_bytes", ahead.bytes);
    w.field("stream_read_ahead_hits", ahead.hits);
    w.field("stream_cold_reads_deferred", st.cold_reads_deferred);
    w.field("stream_cold_read_warms", st.cold_read_warms);
    w.field("stream_cold_read_warm_bytes", st.cold_read_warm_bytes);
    w.field("stream_open_files", storage::open_files());
    w.field("stream_open_files_limit", storage::open_files_limit());
    w.field("stream_idle_files_closed", storage::idle_files_closed());
    // Dead-letter streams (XGROUP SETDLQ): the total, then one line per group that has one.
    w.field("stream_dead_letters", t.dead_letters);
    w.field("stream_consumers_reaped", b.streams().consumers_reaped());
    w.field("stream_stale_consumers", t.stale_consumers);
    size_t n = 0;
    for (const auto& d : b.streams().dead_letter_groups()) {
      std::string v = "db=" + std::to_string(d.db) + ",stream=" + *d.key +
                      ",group=" + d.group->name + ",dead_letter_stream=" + d.group->dlq_key +
                      ",max_deliveries=" + std::to_string(d.group->max_deliveries) +
                      ",dead_letters=" + std::to_string(d.group->dead_letters);
      std::replace(v.begin(), v.end(), '\r', ' ');
      std::replace(v.begin(), v.end(), '\n', ' ');
      w.field(("stream_dlq" + std::to_string(n++)).c_str(), v);
    }
  }
  if (on("errorstats")) {
    w.section("Errorstats");
    for (const auto& [prefix, n] : st.errors) {
      w.field(("errorstat_" + prefix).c_str(), "count=" + std::to_string(n));
    }
  }
  if (on("commandstats", false)) {
    w.section("Commandstats");
    command_table().for_each([&](const CommandSpec& spec) {
      const core::CommandStats& cs = spec.stats;
      if (cs.calls == 0 && cs.rejected_calls == 0) return;
      char per[64];
      snprintf(per, sizeof(per), "%.2f",
               cs.calls ? static_cast<double>(cs.usec) / static_cast<double>(cs.calls) : 0.0);
      w.field(("cmdstat_" + spec.name).c_str(),
              "calls=" + std::to_string(cs.calls) + ",usec=" + std::to_string(cs.usec) +
                  ",usec_per_call=" + per + ",rejected_calls=" + std::to_string(cs.rejected_calls) +
                  ",failed_calls=" + std::to_string(cs.failed_calls));
    });
  }
  if (on("latencystats", false)) {
    // Percentiles from the LATENCY HISTOGRAM buckets (their upper bounds), as Redis's
    // latency_percentiles_usec_<command> lines.
    w.section("Latencystats");
    command_table().for_each([&](const CommandSpec& spec) {
      const core::LatencyHistogram& h = spec.stats.latency;
      if (h.count == 0) return;
      // One pN=value per latency-tracking-info-percentiles entry (none: an empty value).
      std::string line;
      for (double pct : ctx.broker.config().latency_tracking_info_percentiles) {
        char part[96];
        snprintf(part, sizeof(part), "%sp%s=%.3f", line.empty() ? "" : ",",
                 config::percentile_text(pct).c_str(), h.percentile_us(pct / 100.0));
        line += part;
      }
      w.field(("latency_percentiles_usec_" + spec.name).c_str(), line);
    });
  }
  if (on("cluster")) {
    w.section("Cluster");
    w.field("cluster_enabled", 0);
  }
  if (on("keyspace")) {
    w.section("Keyspace");
    for (int i = 0; i < b.db_count(); ++i) {
      auto& db = b.db(i);
      if (db.size() == 0) continue;
      w.field(("db" + std::to_string(i)).c_str(),
              "keys=" + std::to_string(db.size()) + ",expires=" + std::to_string(db.expires()) +
                  ",avg_ttl=" + std::to_string(db.avg_ttl_ms(now)));
    }
  }
  ctx.reply.verbatim(w.out);
}

}  // namespace sluice::commands
