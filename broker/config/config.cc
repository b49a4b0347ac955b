// The option table behind ConfigStore: one row per option with its getter and setter, so the
// file loader, the command-line overrides, CONFIG GET/SET and CONFIG REWRITE share one truth.
#include "broker/config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "broker/core/glob.h"

namespace sluice::config {
namespace {

using Values = std::vector<std::string>;

struct Option {
  const char* name;
  bool is_mutable;
  std::function<std::string(const Config&)> get;
  // Returns an error message, empty on success.
  std::function<std::string(Config&, const Values&)> set;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool parse_i64_text(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string join(const Values& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ' ';
    out += v[i];
  }
  return out;
}

template <typename T>
Option num_opt(const char* name, bool is_mutable, int64_t lo, int64_t hi, T Config::*field) {
  return {name, is_mutable, [field](const Config& c) { return std::to_string(c.*field); },
          [field, lo, hi](Config& c, const Values& v) -> std::string {
            int64_t x;
            if (v.size() != 1 || !parse_i64_text(v[0], &x)) {
              return "argument couldn't be parsed into an integer";
            }
            if (x < lo || x > hi) {
              return "argument must be between " + std::to_string(lo) + " and " +
                     std::to_string(hi) + " inclusive";
            }
            c.*field = static_cast<T>(x);
            return {};
          }};
}

// A memory size; with lo/hi, Redis's range check and its message.
Option mem_opt(const char* name, bool is_mutable, uint64_t Config::*field, uint64_t lo = 0,
               uint64_t hi = UINT64_MAX) {
  return {name, is_mutable, [field](const Config& c) { return std::to_string(c.*field); },
          [field, lo, hi](Config& c, const Values& v) -> std::string {
            uint64_t x;
            if (v.size() != 1 || !parse_memory(v[0], &x)) {
              return "argument must be a memory value";
            }
            if (x < lo || x > hi) {
              return "argument must be between " + std::to_string(lo) + " and " +
                     std::to_string(hi) + " inclusive";
            }
            c.*field = x;
            return {};
          }};
}

Option bool_opt(const char* name, bool is_mutable, bool Config::*field) {
  return {name, is_mutable,
          [field](const Config& c) { return std::string(c.*field ? "yes" : "no"); },
          [field](Config& c, const Values& v) -> std::string {
            if (v.size() != 1) return "argument must be 'yes' or 'no'";
            std::string s = lower(v[0]);
            if (s == "yes") {
              c.*field = true;
            } else if (s == "no") {
              c.*field = false;
            } else {
              return "argument must be 'yes' or 'no'";
            }
            return {};
          }};
}

Option str_opt(const char* name, bool is_mutable, std::string Config::*field) {
  return {name, is_mutable, [field](const Config& c) { return c.*field; },
          [field](Config& c, const Values& v) -> std::string {
            c.*field = join(v);
            return {};
          }};
}

Option enum_opt(const char* name, bool is_mutable, std::vector<std::string> allowed,
                std::string Config::*field) {
  return {name, is_mutable, [field](const Config& c) { return c.*field; },
          [field, allowed](Config& c, const Values& v) -> std::string {
            std::string s = v.size() == 1 ? lower(v[0]) : std::string();
            if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
              std::string names;
              for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
              return "argument(s) must be one of the following: " + names;
            }
            c.*field = s;
            return {};
          }};
}

// The space-separated words of every value ("a b", "c" -> a, b, c).
Values split_words(const Values& v) {
  Values words;
  for (const auto& s : v) {
    std::istringstream in(s);
    std::string w;
    while (in >> w) words.push_back(w);
  }
  return words;
}

std::string obl_text(const OutputBufferLimit& l) {
  return std::to_string(l.hard_bytes) + " " + std::to_string(l.soft_bytes) + " " +
         std::to_string(l.soft_seconds);
}

// "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60" (any subset of classes).
std::string set_obl(Config& c, const Values& v) {
  Values words;
  for (const auto& s : v) {
    std::istringstream in(s);
    std::string w;
    while (in >> w) words.push_back(w);
  }
  if (words.empty() || words.size() % 4 != 0)
    return "Wrong number of arguments in buffer limit configuration.";
  std::vector<std::pair<OutputBufferLimit*, OutputBufferLimit>> updates;
  for (size_t i = 0; i < words.size(); i += 4) {
    std::string cls = lower(words[i]);
    OutputBufferLimit* target = nullptr;
    if (cls == "normal") target = &c.obl_normal;
    if (cls == "pubsub") target = &c.obl_pubsub;
    if (cls == "replica" || cls == "slave") target = &c.obl_replica;
    if (!target) return "Invalid client class specified in buffer limit configuration.";
    OutputBufferLimit l;
    int64_t secs;
    if (!parse_memory(words[i + 1], &l.hard_bytes) || !parse_memory(words[i + 2], &l.soft_bytes) ||
        !parse_i64_text(words[i + 3], &secs) || secs < 0) {
      return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
    }
    l.soft_seconds = static_cast<uint64_t>(secs);
    updates.emplace_back(target, l);
  }
  for (auto& [target, l] : updates) *target = l;
  return {};
}

const std::vector<Option>& options() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    t.push_back({"bind", false, [](const Config& c) { return join(c.bind); },
                 [](Config& c, const Values& v) -> std::string {
                   Values addrs = split_words(v);
                   if (addrs.empty()) return "Too many bind addresses specified.";
                   c.bind = addrs;
                   return {};
                 }});
    t.push_back(num_opt("port", false, 0, 65535, &Config::port));
    t.push_back(num_opt("tcp-backlog", false, 0, INT32_MAX, &Config::tcp_backlog));
    t.push_back(num_opt("tcp-keepalive", true, 0, INT32_MAX, &Config::tcp_keepalive));
    t.push_back(bool_opt("io-uring", false, &Config::io_uring));
    t.push_back(num_opt("busy-poll-us", true, 0, 1000000, &Config::busy_poll_us));
    t.push_back(num_opt("timeout", true, 0, INT32_MAX, &Config::timeout));
    t.push_back(num_opt("maxclients", true, 1, 1000000, &Config::maxclients));
    t.push_back(str_opt("requirepass", true, &Config::requirepass));
    t.push_back(str_opt("aclfile", false, &Config::aclfile));
    t.push_back(num_opt("acllog-max-len", true, 0, INT32_MAX, &Config::acllog_max_len));
    t.push_back(bool_opt("protected-mode", true, &Config::protected_mode));
    // Redis 7.0: both between 1mb and LONG_MAX.
    t.push_back(
        mem_opt("proto-max-bulk-len", true, &Config::proto_max_bulk_len, 1 << 20, INT64_MAX));
    t.push_back(mem_opt("client-query-buffer-limit", true, &Config::client_query_buffer_limit,
                        1 << 20, INT64_MAX));
    t.push_back({"client-output-buffer-limit", true,
                 [](const Config& c) {
                   return "normal " + obl_text(c.obl_normal) + " slave " + obl_text(c.obl_replica) +
                          " pubsub " + obl_text(c.obl_pubsub);
                 },
                 set_obl});
    t.push_back(num_opt("databases", false, 1, 1000000, &Config::databases));
    t.push_back(num_opt("hz", true, 1, 500, &Config::hz));
    t.push_back(enum_opt("loglevel", true, {"debug", "verbose", "notice", "warning", "nothing"},
                         &Config::loglevel));
    t.push_back(str_opt("logfile", false, &Config::logfile));
    t.push_back(str_opt("pidfile", false, &Config::pidfile));
    t.push_back({"daemonize", false,
                 [](const Config& c) { return std::string(c.daemonize ? "yes" : "no"); },
                 [](Config& c, const Values& v) -> std::string {
                   if (v.size() != 1) return "argument must be 'yes' or 'no'";
                   std::string s = lower(v[0]);
                   if (s == "yes")
                     return "daemonize yes is not supported: run sluice-server under a supervisor";
                   if (s != "no") return "argument must be 'yes' or 'no'";
                   c.daemonize = false;
                   return {};
                 }});
    t.push_back(str_opt("dir", false, &Config::dir));
    t.push_back(bool_opt("appendonly", true, &Config::appendonly));
    t.push_back({"appendfsync", true,
                 [](const Config& c) {
                   switch (c.appendfsync) {
                     case AppendFsync::kAlways:
                       return std::string("always");
                     case AppendFsync::kNo:
                       return std::string("no");
                     case AppendFsync::kEverysec:
                       break;
                   }
                   return std::string("everysec");
                 },
                 [](Config& c, const Values& v) -> std::string {
                   std::string s = v.size() == 1 ? lower(v[0]) : std::string();
                   if (s == "always") {
                     c.appendfsync = AppendFsync::kAlways;
                   } else if (s == "everysec") {
                     c.appendfsync = AppendFsync::kEverysec;
                   } else if (s == "no") {
                     c.appendfsync = AppendFsync::kNo;
                   } else {
                     return "argument(s) must be one of the following: always, everysec, no";
                   }
                   return {};
                 }});
    t.push_back(str_opt("save", true, &Config::save));
    t.push_back(str_opt("dbfilename", true, &Config::dbfilename));
    t.push_back(str_opt("appendfilename", false, &Config::appendfilename));
    t.push_back({"recovery-on-corruption", false,
                 [](const Config& c) {
                   return std::string(c.recovery_quarantine ? "quarantine" : "refuse");
                 },
                 [](Config& c, const Values& v) -> std::string {
                   std::string s = v.size() == 1 ? lower(v[0]) : std::string();
                   if (s == "quarantine") {
                     c.recovery_quarantine = true;
                   } else if (s == "refuse") {
                     c.recovery_quarantine = false;
                   } else {
                     return "argument(s) must be one of the following: refuse, quarantine";
                   }
                   return {};
                 }});
    t.push_back(mem_opt("stream-segment-bytes", true, &Config::stream_segment_bytes));
    t.push_back(
        num_opt("stream-node-max-entries", true, 0, INT64_MAX, &Config::stream_node_max_entries));
    t.push_back(
        num_opt("stream-node-max-bytes", true, 0, INT64_MAX, &Config::stream_node_max_bytes));
    t.push_back(num_opt("stream-retention-ms", true, 0, INT64_MAX, &Config::stream_retention_ms));
    t.push_back(
        num_opt("stream-group-inactive-ms", true, 0, INT64_MAX, &Config::stream_group_inactive_ms));
    t.push_back(mem_opt("stream-retention-bytes", true, &Config::stream_retention_bytes));
    t.push_back(mem_opt("stream-tail-cache-bytes", true, &Config::stream_tail_cache_bytes));
    t.push_back(num_opt("list-max-listpack-size", true, INT32_MIN, INT32_MAX,
                        &Config::list_max_listpack_size));
    t.push_back(num_opt("list-max-ziplist-size", true, INT32_MIN, INT32_MAX,
                        &Config::list_max_listpack_size));  // Redis's older name, an alias
    t.push_back(num_opt("list-compress-depth", true, 0, INT32_MAX, &Config::list_compress_depth));
    t.push_back(num_opt("active-expire-effort", true, 1, 10, &Config::active_expire_effort));
    t.push_back(mem_opt("maxmemory", true, &Config::maxmemory));
    t.push_back(mem_opt("hll-sparse-max-bytes", true, &Config::hll_sparse_max_bytes));
    t.push_back(enum_opt("maxmemory-policy", true,
                         {"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                          "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"},
                         &Config::maxmemory_policy));
    t.push_back(num_opt("maxmemory-samples", true, 1, INT32_MAX, &Config::maxmemory_samples));
    t.push_back(
        num_opt("maxmemory-eviction-tenacity", true, 0, 100, &Config::maxmemory_eviction_tenacity));
    t.push_back(num_opt("lfu-log-factor", true, 0, INT32_MAX, &Config::lfu_log_factor));
    t.push_back(num_opt("lfu-decay-time", true, 0, INT32_MAX, &Config::lfu_decay_time));
    t.push_back(
        num_opt("set-max-intset-entries", true, 0, INT64_MAX, &Config::set_max_intset_entries));
    // Redis 7.0 names and their pre-7.0 aliases, one value each.
    for (const char* name : {"zset-max-listpack-entries", "zset-max-ziplist-entries"}) {
      t.push_back(num_opt(name, true, 0, INT64_MAX, &Config::zset_max_listpack_entries));
    }
    for (const char* name : {"zset-max-listpack-value", "zset-max-ziplist-value"}) {
      t.push_back(num_opt(name, true, 0, INT64_MAX, &Config::zset_max_listpack_value));
    }
    t.push_back({"notify-keyspace-events", true,
                 [](const Config& c) { return c.notify_keyspace_events; },
                 [](Config& c, const Values& v) -> std::string {
                   std::string canonical;
                   if (v.size() != 1 || !canonical_keyspace_events(v[0], &canonical)) {
                     return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
                   }
                   c.notify_keyspace_events = canonical;
                   return {};
                 }});
    t.push_back(
        num_opt("slowlog-log-slower-than", true, -1, INT64_MAX, &Config::slowlog_log_slower_than));
    t.push_back(num_opt("slowlog-max-len", true, 0, INT64_MAX, &Config::slowlog_max_len));
    t.push_back(bool_opt("latency-tracking", true, &Config::latency_tracking));
    t.push_back(num_opt("latency-monitor-threshold", true, 0, INT64_MAX,
                        &Config::latency_monitor_threshold));
    t.push_back(
        num_opt("tracking-table-max-keys", true, 0, INT64_MAX, &Config::tracking_table_max_keys));
    t.push_back(num_opt("busy-reply-threshold", true, 0, INT64_MAX, &Config::busy_reply_threshold));
    t.push_back(num_opt("lua-time-limit", true, 0, INT64_MAX, &Config::busy_reply_threshold));
    t.push_back(num_opt("metrics-port", false, 0, 65535, &Config::metrics_port));
    // CONFIG GET shows the addresses in effect; "" (the default) follows `bind`.
    t.push_back({"metrics-bind", false, [](const Config& c) { return join(metrics_addresses(c)); },
                 [](Config& c, const Values& v) -> std::string {
                   c.metrics_bind = split_words(v);
                   return {};
                 }});
    t.push_back(num_opt("metrics-max-series", true, 0, INT64_MAX, &Config::metrics_max_series));
    t.push_back(str_opt("metrics-token", true, &Config::metrics_token));
    // Changed at runtime by REPLICAOF, not CONFIG SET (as in Redis).
    t.push_back({"replicaof", false, [](const Config& c) { return c.replicaof; },
                 [](Config& c, const Values& v) -> std::string {
                   Values words = split_words(v);
                   if (words.empty() ||
                       (words.size() == 2 && lower(words[0]) == "no" && lower(words[1]) == "one")) {
                     c.replicaof.clear();
                     return {};
                   }
                   if (words.size() != 2) return "wrong number of arguments";
                   char* end = nullptr;
                   long port = std::strtol(words[1].c_str(), &end, 10);
                   if (*end != '\0' || port <= 0 || port > 65535) return "Invalid master port";
                   c.replicaof = words[0] + " " + words[1];
                   return {};
                 }});
    for (const char* name : {"replica-read-only", "slave-read-only"}) {
      t.push_back(bool_opt(name, true, &Config::replica_read_only));
    }
    t.push_back(
        mem_opt("repl-backlog-size", true, &Config::repl_backlog_size, 16 * 1024, INT64_MAX));
    t.push_back(
        num_opt("repl-ping-replica-period", true, 1, INT32_MAX, &Config::repl_ping_replica_period));
    for (const char* name : {"replica-priority", "slave-priority"}) {
      t.push_back(num_opt(name, true, 0, INT32_MAX, &Config::replica_priority));
    }
    t.push_back(str_opt("replica-announce-ip", true, &Config::replica_announce_ip));
    t.push_back(num_opt("replica-announce-port", true, 0, 65535, &Config::replica_announce_port));
    t.push_back(str_opt("masterauth", true, &Config::masterauth));
    t.push_back(str_opt("masteruser", true, &Config::masteruser));
    for (const char* name : {"replica-serve-stale-data", "slave-serve-stale-data"}) {
      t.push_back(bool_opt(name, true, &Config::replica_serve_stale_data));
    }
    for (const char* name : {"min-replicas-to-write", "min-slaves-to-write"}) {
      t.push_back(num_opt(name, true, 0, INT32_MAX, &Config::min_replicas_to_write));
    }
    for (const char* name : {"min-replicas-max-lag", "min-slaves-max-lag"}) {
      t.push_back(num_opt(name, true, 0, INT32_MAX, &Config::min_replicas_max_lag));
    }
    t.push_back(bool_opt("metrics-tls", false, &Config::metrics_tls));
    // TLS: CONFIG SET of any of the mutable ones rebuilds the context (Server::apply_tls_config).
    t.push_back(num_opt("tls-port", true, 0, 65535, &Config::tls_port));
    t.push_back(str_opt("tls-cert-file", true, &Config::tls_cert_file));
    t.push_back(str_opt("tls-key-file", true, &Config::tls_key_file));
    t.push_back(str_opt("tls-key-file-pass", true, &Config::tls_key_file_pass));
    t.push_back(str_opt("tls-ca-cert-file", true, &Config::tls_ca_cert_file));
    t.push_back(str_opt("tls-ca-cert-dir", true, &Config::tls_ca_cert_dir));
    t.push_back(
        enum_opt("tls-auth-clients", true, {"no", "yes", "optional"}, &Config::tls_auth_clients));
    t.push_back(str_opt("tls-protocols", true, &Config::tls_protocols));
    t.push_back(str_opt("tls-ciphers", true, &Config::tls_ciphers));
    t.push_back(str_opt("tls-ciphersuites", true, &Config::tls_ciphersuites));
    t.push_back(bool_opt("tls-prefer-server-ciphers", true, &Config::tls_prefer_server_ciphers));
    t.push_back(bool_opt("tls-session-caching", true, &Config::tls_session_caching));
    t.push_back(
        num_opt("tls-session-cache-size", true, 0, INT32_MAX, &Config::tls_session_cache_size));
    t.push_back(num_opt("tls-session-cache-timeout", true, 0, INT32_MAX,
                        &Config::tls_session_cache_timeout));
    t.push_back(str_opt("tls-dh-params-file", true, &Config::tls_dh_params_file));
    // Accepted for redis.conf compatibility; unused: the link to a master is plain TCP and
    // there is no cluster.
    t.push_back(str_opt("tls-client-cert-file", true, &Config::tls_client_cert_file));
    t.push_back(str_opt("tls-client-key-file", true, &Config::tls_client_key_file));
    t.push_back(str_opt("tls-client-key-file-pass", true, &Config::tls_client_key_file_pass));
    t.push_back(bool_opt("tls-replication", true, &Config::tls_replication));
    t.push_back(bool_opt("tls-cluster", true, &Config::tls_cluster));
    return t;
  }();
  return table;
}

const Option* find_option(std::string_view name) {
  std::string key = lower(name);
  if (key == "slave-output-buffer-limit") key = "client-output-buffer-limit";
  if (key == "slaveof") key = "replicaof";
  for (const auto& o : options()) {
    if (key == o.name) return &o;
  }
  return nullptr;
}

// Splits a config line into words, honouring "double" and 'single' quotes.
}  // namespace

bool split_line(const std::string& line, std::vector<std::string>* out) {
  out->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string word;
    if (line[i] == '"' || line[i] == '\'') {
      char q = line[i++];
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '\\' && q == '"' && i + 1 < line.size()) {
          char e = line[i + 1];
          word += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          i += 2;
        } else if (line[i] == q) {
          closed = true;
          ++i;
          break;
        } else {
          word += line[i++];
        }
      }
      if (!closed) return false;
    } else {
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])))
        word += line[i++];
    }
    out->push_back(word);
  }
  return true;
}

const std::vector<std::string>& metrics_addresses(const Config& config) {
  return config.metrics_bind.empty() ? config.bind : config.metrics_bind;
}

bool parse_memory(std::string_view text, uint64_t* out) {
  std::string s = lower(text);
  uint64_t mul = 1;
  auto ends = [&](std::string_view suf) { return s.size() > suf.size() && s.ends_with(suf); };
  if (ends("gb")) {
    mul = 1ull << 30;
    s.resize(s.size() - 2);
  } else if (ends("mb")) {
    mul = 1ull << 20;
    s.resize(s.size() - 2);
  } else if (ends("kb")) {
    mul = 1ull << 10;
    s.resize(s.size() - 2);
  } else if (ends("g")) {
    mul = 1000ull * 1000 * 1000;
    s.resize(s.size() - 1);
  } else if (ends("m")) {
    mul = 1000ull * 1000;
    s.resize(s.size() - 1);
  } else if (ends("k")) {
    mul = 1000;
    s.resize(s.size() - 1);
  } else if (ends("b")) {
    s.resize(s.size() - 1);
  }
  int64_t v;
  if (!parse_i64_text(s, &v) || v < 0) return false;
  if (mul > 1 && static_cast<uint64_t>(v) > UINT64_MAX / mul) return false;
  *out = static_cast<uint64_t>(v) * mul;
  return true;
}

bool canonical_keyspace_events(std::string_view flags, std::string* canonical) {
  // Redis's class bits and the order keyspaceEventsFlagsToString prints them in.
  bool g = false, s = false, l = false, h = false, z = false, x = false, e = false, t = false,
       m = false, d = false, n = false, k = false, ev = false, dollar = false;
  for (char ch : flags) {
    switch (ch) {
      case 'A':
        g = dollar = l = s = h = z = x = e = t = d = true;
        break;
      case 'g':
        g = true;
        break;
      case '$':
        dollar = true;
        break;
      case 'l':
        l = true;
        break;
      case 's':
        s = true;
        break;
      case 'h':
        h = true;
        break;
      case 'z':
        z = true;
        break;
      case 'x':
        x = true;
        break;
      case 'e':
        e = true;
        break;
      case 'K':
        k = true;
        break;
      case 'E':
        ev = true;
        break;
      case 't':
        t = true;
        break;
      case 'm':
        m = true;
        break;
      case 'd':
        d = true;
        break;
      case 'n':
        n = true;
        break;
      default:
        return false;
    }
  }
  std::string out;
  if (g && dollar && l && s && h && z && x && e && t && d) {
    out += 'A';
  } else {
    if (g) out += 'g';
    if (dollar) out += '$';
    if (l) out += 'l';
    if (s) out += 's';
    if (h) out += 'h';
    if (z) out += 'z';
    if (x) out += 'x';
    if (e) out += 'e';
    if (t) out += 't';
    if (d) out += 'd';
    // As Redis 7.0 prints it: 'n' belongs to the class letters, so "A" hides it.
    if (n) out += 'n';
  }
  if (k) out += 'K';
  if (ev) out += 'E';
  if (m) out += 'm';
  // As Redis: without K or E nothing is delivered, but the flags are kept as given.
  *canonical = out;
  return true;
}

namespace {

// Options whose values are passwords: error messages name them without their values.
bool is_secret(std::string_view name) {
  std::string n = lower(name);
  return n == "requirepass" || n == "masterauth" || n == "metrics-token";
}

}  // namespace

ConfigStore::ConfigStore(Config* config) : c_(config) {}

void ConfigStore::load(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& args) {
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("Fatal error, can't open config file '" + path + "'");
    char resolved[4096];
    c_->config_file = realpath(path.c_str(), resolved) ? resolved : path;
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      Values words;
      if (!split_line(line, &words)) {
        throw std::runtime_error("*** FATAL CONFIG FILE ERROR *** in '" + path + "' line " +
                                 std::to_string(lineno) +
                                 ": unbalanced quotes in configuration line");
      }
      if (words.empty() || words[0][0] == '#') continue;
      Values values(words.begin() + 1, words.end());
      std::string err;
      if (lower(words[0]) == "user") {
        // Each `user` line declares one ACL user; acl/ parses the rules at startup.
        c_->acl_users.push_back(words);
      } else if (lower(words[0]) == "rename-command") {
        if (values.size() != 2) {
          err = "wrong number of arguments";
        } else {
          c_->renamed_commands.emplace_back(lower(values[0]), values[1]);
        }
      } else {
        err = set(words[0], values, true);
      }
      if (!err.empty()) {
        // A secret's value never reaches the log: the line is shown without its arguments.
        std::string shown = is_secret(words[0]) ? words[0] + " <redacted>" : line;
        throw std::runtime_error("*** FATAL CONFIG FILE ERROR *** in '" + path + "' line " +
                                 std::to_string(lineno) + ": '" + shown + "': " + err);
      }
    }
  }
  for (const auto& [name, value] : args) {
    std::string err = set(name, {value}, true);
    if (!err.empty()) {
      throw std::runtime_error("*** FATAL CONFIG ERROR *** option '--" + name + " " +
                               (is_secret(name) ? std::string("<redacted>") : value) + "': " + err);
    }
  }
}

std::string ConfigStore::set(std::string_view name, const std::vector<std::string>& values,
                             bool at_startup) {
  const Option* o = find_option(name);
  if (!o) return "Bad directive or wrong number of arguments";
  if (!at_startup && !o->is_mutable) return "can't set immutable config";
  std::string err = o->set(*c_, values);
  if (err.empty() && !at_startup && on_change) on_change(o->name);
  return err;
}

bool ConfigStore::get(std::string_view name, std::string* value) const {
  const Option* o = find_option(name);
  if (!o) return false;
  *value = o->get(*c_);
  return true;
}

std::vector<std::string> ConfigStore::match(std::string_view pattern) const {
  std::vector<std::string> out;
  for (const auto& o : options()) {
    if (core::glob_match(pattern, o.name, true)) out.emplace_back(o.name);
  }
  return out;
}

bool ConfigStore::exists(std::string_view name) const { return find_option(name) != nullptr; }

bool ConfigStore::is_mutable(std::string_view name) const {
  const Option* o = find_option(name);
  return o && o->is_mutable;
}

std::string ConfigStore::rewrite() const {
  if (c_->config_file.empty()) return "The server is running without a config file";
  std::ifstream in(c_->config_file);
  std::vector<std::string> lines;
  std::vector<bool> written(options().size(), false);
  std::string line;
  while (std::getline(in, line)) {
    Values words;
    if (split_line(line, &words) && !words.empty() && words[0][0] != '#') {
      const Option* o = find_option(words[0]);
      if (o) {
        size_t idx = static_cast<size_t>(o - options().data());
        if (written[idx]) continue;  // drop duplicates of an option already written
        written[idx] = true;
        std::string value = o->get(*c_);
        lines.push_back(std::string(o->name) + " " + (value.empty() ? "\"\"" : value));
        continue;
      }
    }
    lines.push_back(line);
  }
  // As Redis: the role is kept even when the file had no replicaof line (a REPLICAOF, FAILOVER
  // or Sentinel failover at runtime made this server a replica).
  const Option* replicaof = find_option("replicaof");
  if (replicaof && !written[static_cast<size_t>(replicaof - options().data())] &&
      !c_->replicaof.empty()) {
    lines.push_back("replicaof " + c_->replicaof);
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  std::string tmp = c_->config_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return "Rewriting config file: can't open " + tmp;
    f << out;
    if (!f.good()) return "Rewriting config file: write failed";
  }
  if (std::rename(tmp.c_str(), c_->config_file.c_str()) != 0) {
    return "Rewriting config file: rename failed";
  }
  return {};
}

}  // namespace sluice::config
