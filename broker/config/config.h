// Config: every option Sluice understands, typed, read from a redis.conf-style file plus
// `--name value` overrides, and readable/settable at runtime through CONFIG GET/SET.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

enum class AppendFsync { kAlways, kEverysec, kNo };

struct OutputBufferLimit {
  uint64_t hard_bytes = 0;
  uint64_t soft_bytes = 0;
  uint64_t soft_seconds = 0;
};

struct Config {
  // network
  std::vector<std::string> bind{"127.0.0.1"};
  int port = 6379;
  int tcp_backlog = 511;
  int tcp_keepalive = 300;
  int64_t busy_poll_us = 100;  // poll without sleeping this long after dense requests
  bool io_uring = false;       // batch reply sends through io_uring (off: no gain measured here)
  int timeout = 0;
  int64_t maxclients = 10000;
  std::string requirepass;  // the default user's password (acl/)
  // access control: `user <name> <rules...>` lines of the config file (not CONFIG GET/SET) or an
  // aclfile (ACL LOAD/SAVE), never both; ACL LOG length.
  std::vector<std::vector<std::string>> acl_users;  // each line's words, "user" first
  std::string aclfile;
  int64_t acllog_max_len = 128;
  bool protected_mode = true;
  // rename-command lines of the config file: (command, new name or "" to remove it).
  std::vector<std::pair<std::string, std::string>> renamed_commands;
  uint64_t proto_max_bulk_len = 512ull * 1024 * 1024;
  uint64_t client_query_buffer_limit = 1024ull * 1024 * 1024;
  OutputBufferLimit obl_normal{0, 0, 0};
  OutputBufferLimit obl_pubsub{32ull << 20, 8ull << 20, 60};
  OutputBufferLimit obl_replica{256ull << 20, 64ull << 20, 60};
  // general
  int databases = 16;
  int hz = 10;
  std::string loglevel = "notice";
  std::string logfile;
  std::string pidfile;
  bool daemonize = false;
  std::string config_file;  // absolute path of the file loaded, for CONFIG REWRITE
  // persistence
  std::string dir = ".";
  bool appendonly = true;  // accepted; Sluice always persists
  AppendFsync appendfsync = AppendFsync::kEverysec;
  std::string save = "3600 1 300 100 60 10000";   // accepted; Sluice always persists
  std::string dbfilename = "dump.rdb";            // accepted; unused
  std::string appendfilename = "appendonly.aof";  // accepted; unused
  bool recovery_quarantine = false;               // recovery-on-corruption quarantine|refuse
  // streams
  uint64_t stream_segment_bytes = 8ull << 20;
  int64_t stream_node_max_entries = 100;
  int64_t stream_node_max_bytes = 4096;
  int64_t stream_retention_ms = 0;
  // A consumer group with no consumer seen for this long (and not created or loaded within it)
  // no longer holds back ACKED deletions and trims (Sluice; 0: off, groups always count).
  int64_t stream_group_inactive_ms = 0;
  uint64_t stream_retention_bytes = 0;
  uint64_t stream_tail_cache_bytes = 256 * 1024;
  std::string stream_segment_compression = "zstd";  // zstd | none (sealed segments)
  int64_t stream_segment_compression_level = 3;     // zstd level, 1-19
  // kv
  int64_t active_expire_effort = 1;
  // memory limit and eviction (core/eviction.h)
  uint64_t maxmemory = 0;
  std::string maxmemory_policy = "noeviction";
  int64_t maxmemory_samples = 5;
  int64_t maxmemory_eviction_tenacity = 10;
  int64_t lfu_log_factor = 10;
  int64_t lfu_decay_time = 1;
  // Encoding thresholds of the collection types (what OBJECT ENCODING reports; Redis's names).
  int64_t set_max_intset_entries = 512;
  // sorted sets: when OBJECT ENCODING turns from listpack to skiplist (zset-max-ziplist-* too)
  int64_t zset_max_listpack_entries = 128;
  int64_t zset_max_listpack_value = 64;
  // hashes: when OBJECT ENCODING turns from listpack to hashtable (hash-max-ziplist-* too)
  int64_t hash_max_listpack_entries = 512;
  uint64_t hash_max_listpack_value = 64;
  // lists: node size (Redis's quicklist fill) and compression depth (accepted, not applied)
  int64_t list_max_listpack_size = -2;
  int64_t list_compress_depth = 0;
  uint64_t hll_sparse_max_bytes = 3000;  // a sparse HyperLogLog turns dense past this size
  // pubsub
  std::string notify_keyspace_events;  // canonical flag string, as CONFIG GET shows it
  // misc
  int64_t slowlog_log_slower_than = 10000;
  int64_t slowlog_max_len = 128;
  bool latency_tracking = true;
  int64_t latency_monitor_threshold = 0;  // ms; 0 = the latency monitor is off
  // client-side caching: keys remembered for CLIENT TRACKING before the oldest are invalidated
  // (0 = no limit)
  int64_t tracking_table_max_keys = 1000000;
  // scripting: a script running longer than this (ms) lets other clients in, to get -BUSY or
  // SCRIPT KILL it (0 = never). lua-time-limit is the old name of the same option.
  int64_t busy_reply_threshold = 5000;
  // metrics: Prometheus text over HTTP
  int metrics_port = 0;                   // 0 = no metrics endpoint
  std::vector<std::string> metrics_bind;  // empty = the addresses of `bind`
  int64_t metrics_max_series = 10000;     // per-stream/group/consumer samples in one scrape
  std::string metrics_token;              // Bearer token accepted by the metrics endpoint
  // replication (broker/replication/replication.h)
  std::string replicaof;                  // "host port" of the master; empty: this is a master
  bool replica_read_only = true;          // replica-read-only (slave-read-only)
  uint64_t repl_backlog_size = 1 << 20;   // bytes of the replication stream kept for PSYNC
  int64_t repl_ping_replica_period = 10;  // seconds between PINGs in the replication stream
  int64_t replica_priority = 100;         // replica-priority (slave-priority), for Sentinel
  std::string replica_announce_ip;        // the address the master reports for this replica
  int64_t replica_announce_port = 0;      // the port it reports (0: the listening port)
  std::string masterauth;                 // AUTH sent to the master (with masteruser if set)
  std::string masteruser;
  bool replica_serve_stale_data = true;  // a replica whose link is down still answers reads
  int64_t min_replicas_to_write = 0;     // writes refused (-NOREPLICAS) below this many replicas
  int64_t min_replicas_max_lag = 10;     // ... that acknowledged within this many seconds
  bool metrics_tls = false;              // serve metrics-port over TLS (the tls-* context)
  bool console_admin = false;            // the web console may change state (console_api.h)
  // TLS (Redis's tls-* names): a listener on tls-port beside `port` (or alone with port 0)
  int tls_port = 0;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_key_file_pass;
  std::string tls_ca_cert_file;
  std::string tls_ca_cert_dir;
  std::string tls_auth_clients = "yes";  // yes | no | optional
  std::string tls_protocols;             // "" = "TLSv1.2 TLSv1.3"
  std::string tls_ciphers;               // TLSv1.2 and older; "" = OpenSSL's default
  std::string tls_ciphersuites;          // TLSv1.3; "" = OpenSSL's default
  bool tls_prefer_server_ciphers = false;
  bool tls_session_caching = true;
  int64_t tls_session_cache_size = 20480;
  int64_t tls_session_cache_timeout = 300;
  std::string tls_dh_params_file;  // "" = OpenSSL's built-in DH parameters
  // Accepted, unused: the link to a master (replicaof) is plain TCP.
  std::string tls_client_cert_file;
  std::string tls_client_key_file;
  std::string tls_client_key_file_pass;
  bool tls_replication = false;
  bool tls_cluster = false;
  // INFO latencystats percentiles (latency-tracking-info-percentiles).
  std::vector<double> latency_tracking_info_percentiles{50.0, 99.0, 99.9};
  // Redis 7.0 parameters with no effect in Sluice (config/sluice.conf says why), by canonical
  // name, as CONFIG GET shows them; absent: the default.
  std::map<std::string, std::string, std::less<>> redis_only;
};

// Whether the server needs a TLS context (tls-port or metrics-tls).
inline bool tls_enabled(const Config& config) { return config.tls_port != 0 || config.metrics_tls; }

// The addresses the metrics endpoint listens on: metrics-bind, or bind's when it is empty.
const std::vector<std::string>& metrics_addresses(const Config& config);

// Parses notify-keyspace-events flags ("KEA", "Ex", ...) into Redis's canonical order; false on
// an unknown flag.
bool canonical_keyspace_events(std::string_view flags, std::string* canonical);

// A percentile as Redis prints it ("%f" without trailing zeros: 50, 99.9).
std::string percentile_text(double pct);

// One option as CONFIG and the loader see it.
struct OptionInfo {
  std::string name;
  bool mutable_at_runtime;
};

class ConfigStore {
 public:
  explicit ConfigStore(Config* config);

  // Loads a file then overrides (`--name value ...` already split into name/value pairs).
  // Throws std::runtime_error naming the file, line and option on a bad file or value.
  void load(const std::string& path, const std::vector<std::pair<std::string, std::string>>& args);

  // Sets one option from its text; returns an error message (empty on success).
  std::string set(std::string_view name, const std::vector<std::string>& values, bool at_startup);
  // The value as CONFIG GET prints it; false for an unknown option.
  bool get(std::string_view name, std::string* value) const;
  // Names matching a Redis glob pattern (case-insensitive), each once, in table order.
  std::vector<std::string> match(std::string_view pattern) const;
  bool exists(std::string_view name) const;
  bool is_mutable(std::string_view name) const;
  // Why CONFIG SET refuses the option at runtime (Redis's text), empty if it may be set.
  std::string refusal(std::string_view name) const;
  // Rewrites the loaded config file with the current values (CONFIG REWRITE).
  std::string rewrite() const;

  // Called after a runtime CONFIG SET of the named option (the server applies it).
  std::function<void(std::string_view name)> on_change;

 private:
  Config* c_;
};

// Splits a config (or aclfile) line into words as redis.conf is read: quotes, \n \r \t and
// \" escapes inside double quotes; false on an unclosed quote.
bool split_line(const std::string& line, std::vector<std::string>* out);

// Redis-like memory parsing: "1gb", "64mb", "100k", plain bytes.
bool parse_memory(std::string_view text, uint64_t* out);

}  // namespace sluice::config
