// The option table behind ConfigStore: one row per option with its getter and setter, so the
// file loader, the command-line overrides, CONFIG GET/SET and CONFIG REWRITE share one truth.
#include "broker/config/config.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
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
  // The older name Redis still accepts (CONFIG GET answers under the name asked).
  const char* alias = nullptr;
  // Redis's PROTECTED_CONFIG: CONFIG SET refuses it unless enable-protected-configs allows.
  bool is_protected = false;
  // A byte count: CONFIG REWRITE writes it with Redis's units (20mb).
  bool is_memory = false;
};

// A byte count as CONFIG REWRITE writes it: the largest of gb, mb, kb dividing it exactly.
std::string memory_text(const std::string& bytes) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), n);
  if (ec != std::errc() || ptr != bytes.data() + bytes.size() || n == 0) return bytes;
  if (n % (1ull << 30) == 0) return std::to_string(n >> 30) + "gb";
  if (n % (1ull << 20) == 0) return std::to_string(n >> 20) + "mb";
  if (n % (1ull << 10) == 0) return std::to_string(n >> 10) + "kb";
  return bytes;
}

Option aliased(Option o, const char* alias) {
  o.alias = alias;
  return o;
}

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
template <typename T>
Option mem_opt(const char* name, bool is_mutable, T Config::*field, uint64_t lo = 0,
               uint64_t hi = UINT64_MAX) {
  return {name,
          is_mutable,
          [field](const Config& c) { return std::to_string(c.*field); },
          [field, lo, hi](Config& c, const Values& v) -> std::string {
            uint64_t x;
            if (v.size() != 1 || !parse_memory(v[0], &x)) {
              return "argument must be a memory value";
            }
            if (x < lo || x > hi) {
              return "argument must be between " + std::to_string(lo) + " and " +
                     std::to_string(hi) + " inclusive";
            }
            c.*field = static_cast<T>(x);
            return {};
          },
          nullptr,
          false,
          /*is_memory=*/true};
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

// ---- Redis 7.0 parameters that cannot apply to Sluice ----
// Each is accepted from the config file, the command line and CONFIG SET with Redis's type,
// range and error texts, kept in Config::redis_only, shown by CONFIG GET and written by CONFIG
// REWRITE; config/sluice.conf says why each has no effect.

enum class Kind : uint8_t { kBool, kInt, kOctal, kMemory, kMemoryPercent, kEnum, kFlags, kString };

struct Param {
  const char* name;
  const char* alias;  // nullptr: none
  Kind kind;
  bool is_mutable;
  const char* def;  // the default as CONFIG GET prints it
  int64_t lo = 0;   // kInt, kOctal, kMemory, kMemoryPercent: Redis's bounds
  int64_t hi = 0;
  // kEnum / kFlags: the accepted names in Redis's order; "relative=yes" is accepted and shown as
  // yes; with kFlags a name of value 0 ("default") is what an empty set prints.
  const char* choices = nullptr;
  // Extra check of the normalised value (empty: fine).
  std::string (*check)(const std::string& shown) = nullptr;
};

std::string check_hostname(const std::string& v) {
  for (char ch : v) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') {
      return "Hostnames may only contain alphanumeric characters, hyphens or dots";
    }
  }
  return {};
}

std::string check_dirname(const std::string& v) {
  if (v.find('/') != std::string::npos) return "appenddirname can't be a path, just a dirname";
  return {};
}

// proc-title-template: balanced braces around Redis's variable names.
std::string check_title(const std::string& v) {
  static const char* kVars[] = {"{title}",    "{listen-addr}", "{server-mode}", "{port}",
                                "{tls-port}", "{unixsocket}",  "{config-file}"};
  size_t i = 0;
  while (i < v.size()) {
    if (v[i] == '}') return "template format is invalid or contains unknown variables";
    if (v[i] != '{') {
      ++i;
      continue;
    }
    size_t end = v.find('}', i);
    if (end == std::string::npos) return "template format is invalid or contains unknown variables";
    std::string var = v.substr(i, end - i + 1);
    if (std::find_if(std::begin(kVars), std::end(kVars), [&](const char* k) { return var == k; }) ==
        std::end(kVars)) {
      return "template format is invalid or contains unknown variables";
    }
    i = end + 1;
  }
  if (v.find("{title}") == std::string::npos) {
    return "template format is invalid or contains unknown variables";
  }
  return {};
}

// As a redis-server built without its own jemalloc (Debian's): there is no defragmenter.
std::string check_no_defrag(const std::string& v) {
  if (v == "yes") {
    return "Active defragmentation cannot be enabled: it requires a Redis server compiled with a "
           "modified Jemalloc like the one shipped by default with the Redis source distribution";
  }
  return {};
}

std::string check_shutdown(const std::string& v) {
  std::istringstream in(v);
  std::string w;
  bool save = false, nosave = false;
  while (in >> w) {
    save |= w == "save";
    nosave |= w == "nosave";
  }
  if (save && nosave) return "shutdown options SAVE and NOSAVE can't be used simultaneously";
  return {};
}

constexpr int64_t kIntMax = INT32_MAX;
constexpr int64_t kLongMax = INT64_MAX;
constexpr const char* kProtectedChoices = "no yes local";

const Param kRedisOnlyParams[] = {
    // bool
    {"rdbchecksum", nullptr, Kind::kBool, false, "yes"},
    {"io-threads-do-reads", nullptr, Kind::kBool, false, "no"},
    {"always-show-logo", nullptr, Kind::kBool, false, "no"},
    {"rdbcompression", nullptr, Kind::kBool, true, "yes"},
    {"rdb-del-sync-files", nullptr, Kind::kBool, true, "no"},
    {"activerehashing", nullptr, Kind::kBool, true, "yes"},
    {"stop-writes-on-bgsave-error", nullptr, Kind::kBool, true, "yes"},
    {"set-proc-title", nullptr, Kind::kBool, false, "yes"},
    {"dynamic-hz", nullptr, Kind::kBool, true, "yes"},
    {"lazyfree-lazy-eviction", nullptr, Kind::kBool, true, "no"},
    {"lazyfree-lazy-expire", nullptr, Kind::kBool, true, "no"},
    {"lazyfree-lazy-server-del", nullptr, Kind::kBool, true, "no"},
    {"lazyfree-lazy-user-del", nullptr, Kind::kBool, true, "no"},
    {"lazyfree-lazy-user-flush", nullptr, Kind::kBool, true, "no"},
    {"repl-disable-tcp-nodelay", nullptr, Kind::kBool, true, "no"},
    {"repl-diskless-sync", nullptr, Kind::kBool, true, "yes"},
    {"aof-rewrite-incremental-fsync", nullptr, Kind::kBool, true, "yes"},
    {"no-appendfsync-on-rewrite", nullptr, Kind::kBool, true, "no"},
    {"cluster-require-full-coverage", nullptr, Kind::kBool, true, "yes"},
    {"rdb-save-incremental-fsync", nullptr, Kind::kBool, true, "yes"},
    {"aof-load-truncated", nullptr, Kind::kBool, true, "yes"},
    {"aof-use-rdb-preamble", nullptr, Kind::kBool, true, "yes"},
    {"aof-timestamp-enabled", nullptr, Kind::kBool, true, "no"},
    {"cluster-replica-no-failover", "cluster-slave-no-failover", Kind::kBool, true, "no"},
    {"replica-lazy-flush", "slave-lazy-flush", Kind::kBool, true, "no"},
    {"replica-ignore-maxmemory", "slave-ignore-maxmemory", Kind::kBool, true, "yes"},
    {"replica-ignore-disk-write-errors", nullptr, Kind::kBool, true, "no"},
    {"replica-announced", nullptr, Kind::kBool, true, "yes"},
    {"jemalloc-bg-thread", nullptr, Kind::kBool, true, "yes"},
    {"activedefrag", nullptr, Kind::kBool, true, "no", 0, 0, nullptr, check_no_defrag},
    {"syslog-enabled", nullptr, Kind::kBool, false, "no"},
    {"cluster-enabled", nullptr, Kind::kBool, false, "no"},
    {"cluster-allow-reads-when-down", nullptr, Kind::kBool, true, "no"},
    {"cluster-allow-pubsubshard-when-down", nullptr, Kind::kBool, true, "yes"},
    {"cluster-allow-replica-migration", nullptr, Kind::kBool, true, "yes"},
    {"crash-log-enabled", nullptr, Kind::kBool, true, "yes"},
    {"crash-memcheck-enabled", nullptr, Kind::kBool, true, "yes"},
    {"disable-thp", nullptr, Kind::kBool, false, "yes"},
    {"aof-disable-auto-gc", nullptr, Kind::kBool, true, "no"},
    // strings
    {"unixsocket", nullptr, Kind::kString, false, ""},
    {"cluster-announce-ip", nullptr, Kind::kString, true, ""},
    {"cluster-config-file", nullptr, Kind::kString, false, "nodes.conf"},
    {"cluster-announce-hostname", nullptr, Kind::kString, true, "", 0, 0, nullptr, check_hostname},
    {"syslog-ident", nullptr, Kind::kString, false, "redis"},
    {"appenddirname", nullptr, Kind::kString, false, "appendonlydir", 0, 0, nullptr, check_dirname},
    {"server_cpulist", nullptr, Kind::kString, false, ""},
    {"bio_cpulist", nullptr, Kind::kString, false, ""},
    {"aof_rewrite_cpulist", nullptr, Kind::kString, false, ""},
    {"bgsave_cpulist", nullptr, Kind::kString, false, ""},
    {"ignore-warnings", nullptr, Kind::kString, true, ""},
    {"proc-title-template", nullptr, Kind::kString, true, "{title} {listen-addr} {server-mode}", 0,
     0, nullptr, check_title},
    {"bind-source-addr", nullptr, Kind::kString, true, ""},
    // enums
    {"supervised", nullptr, Kind::kEnum, false, "no", 0, 0, "upstart systemd auto no"},
    {"syslog-facility", nullptr, Kind::kEnum, false, "local0", 0, 0,
     "user local0 local1 local2 local3 local4 local5 local6 local7"},
    {"repl-diskless-load", nullptr, Kind::kEnum, true, "disabled", 0, 0,
     "disabled on-empty-db swapdb"},
    {"oom-score-adj", nullptr, Kind::kEnum, true, "no", 0, 0, "no yes relative=yes absolute"},
    {"acl-pubsub-default", nullptr, Kind::kEnum, true, "resetchannels", 0, 0,
     "allchannels resetchannels"},
    {"sanitize-dump-payload", nullptr, Kind::kEnum, true, "no", 0, 0, "no yes clients"},
    {"enable-protected-configs", nullptr, Kind::kEnum, false, "no", 0, 0, kProtectedChoices},
    {"enable-debug-command", nullptr, Kind::kEnum, false, "no", 0, 0, kProtectedChoices},
    {"enable-module-command", nullptr, Kind::kEnum, false, "no", 0, 0, kProtectedChoices},
    {"cluster-preferred-endpoint-type", nullptr, Kind::kEnum, true, "ip", 0, 0,
     "ip hostname unknown-endpoint"},
    {"propagation-error-behavior", nullptr, Kind::kEnum, true, "ignore", 0, 0,
     "ignore panic panic-on-replicas"},
    {"shutdown-on-sigint", nullptr, Kind::kFlags, true, "default", 0, 0,
     "default save nosave now force", check_shutdown},
    {"shutdown-on-sigterm", nullptr, Kind::kFlags, true, "default", 0, 0,
     "default save nosave now force", check_shutdown},
    // integers
    {"io-threads", nullptr, Kind::kInt, false, "1", 1, 128},
    {"auto-aof-rewrite-percentage", nullptr, Kind::kInt, true, "100", 0, kIntMax},
    {"cluster-replica-validity-factor", "cluster-slave-validity-factor", Kind::kInt, true, "10", 0,
     kIntMax},
    {"cluster-migration-barrier", nullptr, Kind::kInt, true, "1", 0, kIntMax},
    {"active-defrag-cycle-min", nullptr, Kind::kInt, true, "1", 1, 99},
    {"active-defrag-cycle-max", nullptr, Kind::kInt, true, "25", 1, 99},
    {"active-defrag-threshold-lower", nullptr, Kind::kInt, true, "10", 0, 1000},
    {"active-defrag-threshold-upper", nullptr, Kind::kInt, true, "100", 0, 1000},
    {"repl-diskless-sync-delay", nullptr, Kind::kInt, true, "5", 0, kIntMax},
    {"cluster-port", nullptr, Kind::kInt, false, "0", 0, 65535},
    {"cluster-announce-bus-port", nullptr, Kind::kInt, true, "0", 0, 65535},
    {"cluster-announce-port", nullptr, Kind::kInt, true, "0", 0, 65535},
    {"cluster-announce-tls-port", nullptr, Kind::kInt, true, "0", 0, 65535},
    {"repl-timeout", nullptr, Kind::kInt, true, "60", 1, kIntMax},
    {"shutdown-timeout", nullptr, Kind::kInt, true, "10", 0, kIntMax},
    {"repl-diskless-sync-max-replicas", nullptr, Kind::kInt, true, "0", 0, kIntMax},
    {"socket-mark-id", nullptr, Kind::kInt, false, "0", 0, UINT32_MAX},
    {"unixsocketperm", nullptr, Kind::kOctal, false, "0", 0, 0777},
    {"active-defrag-max-scan-fields", nullptr, Kind::kInt, true, "1000", 1, kLongMax},
    {"cluster-node-timeout", nullptr, Kind::kInt, true, "15000", 0, kLongMax},
    {"repl-backlog-ttl", nullptr, Kind::kInt, true, "3600", 0, kLongMax},
    // memory sizes
    {"active-defrag-ignore-bytes", nullptr, Kind::kMemory, true, "104857600", 1, kLongMax},
    {"cluster-link-sendbuf-limit", nullptr, Kind::kMemory, true, "0", 0, -1},
    {"auto-aof-rewrite-min-size", nullptr, Kind::kMemory, true, "67108864", 0, kLongMax},
    {"maxmemory-clients", nullptr, Kind::kMemoryPercent, true, "0", 0, kLongMax},
    // several values
    {"oom-score-adj-values", nullptr, Kind::kString, true, "0 200 800"},
};

// Parses one value of a Param into the text CONFIG GET shows; returns Redis's error text.
std::string parse_param(const Param& p, const Values& v, std::string* shown) {
  const std::string text = join(v);
  auto range_error = [&](uint64_t hi) {
    return "argument must be between " + std::to_string(p.lo) + " and " + std::to_string(hi) +
           " inclusive";
  };
  switch (p.kind) {
    case Kind::kBool: {
      std::string s = lower(text);
      if (v.size() != 1 || (s != "yes" && s != "no")) return "argument must be 'yes' or 'no'";
      *shown = s;
      break;
    }
    case Kind::kInt:
    case Kind::kOctal: {
      int64_t x = 0;
      bool ok;
      if (p.kind == Kind::kOctal) {
        char* end = nullptr;
        x = std::strtoll(text.c_str(), &end, 8);
        ok = !text.empty() && *end == '\0';
      } else {
        ok = parse_i64_text(text, &x);
      }
      if (v.size() != 1 || !ok) return "argument couldn't be parsed into an integer";
      if (x < p.lo || x > p.hi) return range_error(static_cast<uint64_t>(p.hi));
      char buf[32];
      snprintf(buf, sizeof(buf), p.kind == Kind::kOctal ? "%llo" : "%lld",
               static_cast<long long>(x));
      *shown = buf;
      break;
    }
    case Kind::kMemoryPercent:
      if (text.size() > 1 && text.back() == '%') {
        int64_t pct = 0;
        if (!parse_i64_text(std::string_view(text).substr(0, text.size() - 1), &pct) || pct < 0) {
          return "argument must be a memory or percent value";
        }
        if (pct > 100) return "percentage argument must be less or equal to 100";
        *shown = pct == 0 ? "0" : std::to_string(pct) + "%";
        break;
      }
      [[fallthrough]];
    case Kind::kMemory: {
      uint64_t x = 0;
      if (v.size() != 1 || !parse_memory(text, &x)) {
        return p.kind == Kind::kMemory ? "argument must be a memory value"
                                       : "argument must be a memory or percent value";
      }
      const uint64_t hi = static_cast<uint64_t>(p.hi);  // -1: ULLONG_MAX
      if (x < static_cast<uint64_t>(p.lo) || x > hi) return range_error(hi);
      *shown = std::to_string(x);
      break;
    }
    case Kind::kEnum:
    case Kind::kFlags: {
      // Each choice: "name" or "name=shown-as".
      std::vector<std::pair<std::string, std::string>> choices;
      std::string names;
      for (const auto& w : split_words({p.choices})) {
        size_t eq = w.find('=');
        choices.emplace_back(w.substr(0, eq), eq == std::string::npos ? w : w.substr(eq + 1));
        names += (names.empty() ? "" : ", ") + choices.back().first;
      }
      Values words = p.kind == Kind::kFlags ? split_words(v) : Values{lower(text)};
      std::vector<bool> chosen(choices.size(), false);
      if (words.empty() || (p.kind == Kind::kEnum && v.size() != 1)) {
        return "argument(s) must be one of the following: " + names;
      }
      for (const auto& w : words) {
        auto it = std::find_if(choices.begin(), choices.end(),
                               [&](const auto& ch) { return ch.first == lower(w); });
        if (it == choices.end()) return "argument(s) must be one of the following: " + names;
        // The shown name's position: flags print in the table's order.
        for (size_t i = 0; i < choices.size(); ++i) {
          if (choices[i].first == it->second) chosen[i] = true;
        }
      }
      shown->clear();
      for (size_t i = 0; i < choices.size(); ++i) {
        // kFlags: the first choice is the empty set's name, printed only alone.
        if (!chosen[i] || (p.kind == Kind::kFlags && i == 0)) continue;
        *shown += (shown->empty() ? "" : " ") + choices[i].first;
      }
      if (shown->empty()) *shown = choices[0].first;
      break;
    }
    case Kind::kString:
      *shown = text;
      if (std::string_view(p.name) == "oom-score-adj-values") {
        Values nums = split_words(v);
        if (nums.size() != 3) return "wrong number of arguments";
        shown->clear();
        for (const auto& n : nums) {
          int64_t x = 0;
          if (!parse_i64_text(n, &x) || x < -2000 || x > 2000) {
            return "Invalid oom-score-adj-values, elements must be between -2000 and 2000.";
          }
          *shown += (shown->empty() ? "" : " ") + std::to_string(x);
        }
      }
      break;
  }
  return p.check ? p.check(*shown) : std::string();
}

Option param_option(const Param& p) {
  Option o{p.name, p.is_mutable,
           [name = p.name, def = p.def](const Config& c) {
             auto it = c.redis_only.find(name);
             return it == c.redis_only.end() ? std::string(def) : it->second;
           },
           [&p](Config& c, const Values& v) -> std::string {
             std::string shown;
             std::string err = parse_param(p, v, &shown);
             if (err.empty()) c.redis_only[p.name] = shown;
             return err;
           }};
  o.alias = p.alias;
  o.is_memory = p.kind == Kind::kMemory;
  return o;
}

}  // namespace

std::string percentile_text(double pct) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%f", pct);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

namespace {

// latency-tracking-info-percentiles: the percentiles INFO latencystats prints.
std::string percentiles_text(const Config& c) {
  std::string out;
  for (double p : c.latency_tracking_info_percentiles) {
    out += (out.empty() ? "" : " ") + percentile_text(p);
  }
  return out;
}

std::string set_percentiles(Config& c, const Values& v) {
  std::vector<double> out;
  for (const auto& w : split_words(v)) {
    char* end = nullptr;
    double x = std::strtod(w.c_str(), &end);
    if (w.empty() || *end != '\0' || std::isnan(x)) {
      return "Invalid latency-tracking-info-percentiles parameters";
    }
    if (x < 0.0 || x > 100.0) {
      return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
    }
    out.push_back(x);
  }
  c.latency_tracking_info_percentiles = out;
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
    t.push_back(num_opt("maxclients", true, 1, UINT32_MAX, &Config::maxclients));
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
    // Any non-negative value is accepted and held within 1..500, as Redis does.
    t.push_back({"hz", true, [](const Config& c) { return std::to_string(c.hz); },
                 [](Config& c, const Values& v) -> std::string {
                   std::string err = num_opt("hz", true, 0, INT32_MAX, &Config::hz).set(c, v);
                   c.hz = std::clamp(c.hz, 1, 500);
                   return err;
                 }});
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
    Option dir = str_opt("dir", false, &Config::dir);
    dir.is_protected = true;
    t.push_back(dir);
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
    t.push_back({"dbfilename", true, [](const Config& c) { return c.dbfilename; },
                 [](Config& c, const Values& v) -> std::string {
                   std::string name = join(v);
                   if (name.find('/') != std::string::npos) {
                     return "dbfilename can't be a path, just a filename";
                   }
                   c.dbfilename = name;
                   return {};
                 },
                 nullptr, /*is_protected=*/true});
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
        mem_opt("stream-node-max-bytes", true, &Config::stream_node_max_bytes, 0, INT64_MAX));
    t.push_back(num_opt("stream-retention-ms", true, 0, INT64_MAX, &Config::stream_retention_ms));
    t.push_back(
        num_opt("stream-group-inactive-ms", true, 0, INT64_MAX, &Config::stream_group_inactive_ms));
    t.push_back(mem_opt("stream-retention-bytes", true, &Config::stream_retention_bytes));
    t.push_back(mem_opt("stream-tail-cache-bytes", true, &Config::stream_tail_cache_bytes));
    t.push_back(enum_opt("stream-segment-compression", true, {"zstd", "none"},
                         &Config::stream_segment_compression));
    t.push_back(num_opt("stream-segment-compression-level", true, 1, 19,
                        &Config::stream_segment_compression_level));
    t.push_back(aliased(num_opt("list-max-listpack-size", true, INT32_MIN, INT32_MAX,
                                &Config::list_max_listpack_size),
                        "list-max-ziplist-size"));
    t.push_back(num_opt("list-compress-depth", true, 0, INT32_MAX, &Config::list_compress_depth));
    t.push_back(num_opt("active-expire-effort", true, 1, 10, &Config::active_expire_effort));
    t.push_back(mem_opt("maxmemory", true, &Config::maxmemory));
    t.push_back(mem_opt("hll-sparse-max-bytes", true, &Config::hll_sparse_max_bytes, 0, INT64_MAX));
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
    // Redis 7.0 names and their pre-7.0 aliases.
    t.push_back(aliased(num_opt("zset-max-listpack-entries", true, 0, INT64_MAX,
                                &Config::zset_max_listpack_entries),
                        "zset-max-ziplist-entries"));
    t.push_back(aliased(
        mem_opt("zset-max-listpack-value", true, &Config::zset_max_listpack_value, 0, INT64_MAX),
        "zset-max-ziplist-value"));
    t.push_back(aliased(num_opt("hash-max-listpack-entries", true, 0, INT64_MAX,
                                &Config::hash_max_listpack_entries),
                        "hash-max-ziplist-entries"));
    t.push_back(aliased(
        mem_opt("hash-max-listpack-value", true, &Config::hash_max_listpack_value, 0, INT64_MAX),
        "hash-max-ziplist-value"));
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
    t.push_back(
        aliased(num_opt("busy-reply-threshold", true, 0, INT64_MAX, &Config::busy_reply_threshold),
                "lua-time-limit"));
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
    t.push_back(aliased({"replicaof", false, [](const Config& c) { return c.replicaof; },
                         [](Config& c, const Values& v) -> std::string {
                           Values words = split_words(v);
                           if (words.empty() || (words.size() == 2 && lower(words[0]) == "no" &&
                                                 lower(words[1]) == "one")) {
                             c.replicaof.clear();
                             return {};
                           }
                           if (words.size() != 2) return "wrong number of arguments";
                           char* end = nullptr;
                           long port = std::strtol(words[1].c_str(), &end, 10);
                           if (*end != '\0' || port <= 0 || port > 65535)
                             return "Invalid master port";
                           c.replicaof = words[0] + " " + words[1];
                           return {};
                         }},
                        "slaveof"));
    t.push_back(aliased(bool_opt("replica-read-only", true, &Config::replica_read_only),
                        "slave-read-only"));
    // As Redis: any size is accepted, and the backlog is at least 16kb (CONFIG GET shows that).
    t.push_back({"repl-backlog-size", true,
                 [](const Config& c) { return std::to_string(c.repl_backlog_size); },
                 [](Config& c, const Values& v) -> std::string {
                   std::string err =
                       mem_opt("repl-backlog-size", true, &Config::repl_backlog_size, 1, INT64_MAX)
                           .set(c, v);
                   if (err.empty())
                     c.repl_backlog_size = std::max<uint64_t>(c.repl_backlog_size, 16 * 1024);
                   return err;
                 },
                 nullptr, false, /*is_memory=*/true});
    t.push_back(aliased(
        num_opt("repl-ping-replica-period", true, 1, INT32_MAX, &Config::repl_ping_replica_period),
        "repl-ping-slave-period"));
    t.push_back(aliased(num_opt("replica-priority", true, 0, INT32_MAX, &Config::replica_priority),
                        "slave-priority"));
    t.push_back(aliased(str_opt("replica-announce-ip", true, &Config::replica_announce_ip),
                        "slave-announce-ip"));
    t.push_back(
        aliased(num_opt("replica-announce-port", true, 0, 65535, &Config::replica_announce_port),
                "slave-announce-port"));
    t.push_back(str_opt("masterauth", true, &Config::masterauth));
    t.push_back(str_opt("masteruser", true, &Config::masteruser));
    t.push_back(
        aliased(bool_opt("replica-serve-stale-data", true, &Config::replica_serve_stale_data),
                "slave-serve-stale-data"));
    t.push_back(aliased(
        num_opt("min-replicas-to-write", true, 0, INT32_MAX, &Config::min_replicas_to_write),
        "min-slaves-to-write"));
    t.push_back(
        aliased(num_opt("min-replicas-max-lag", true, 0, INT32_MAX, &Config::min_replicas_max_lag),
                "min-slaves-max-lag"));
    t.push_back(bool_opt("metrics-tls", false, &Config::metrics_tls));
    t.push_back(bool_opt("console-admin", true, &Config::console_admin));
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
    t.push_back({"latency-tracking-info-percentiles", true, percentiles_text, set_percentiles});
    for (const Param& p : kRedisOnlyParams) t.push_back(param_option(p));
    return t;
  }();
  return table;
}

const Option* find_option(std::string_view name) {
  std::string key = lower(name);
  if (key == "slave-output-buffer-limit") key = "client-output-buffer-limit";
  for (const auto& o : options()) {
    if (key == o.name || (o.alias && key == o.alias)) return &o;
  }
  return nullptr;
}

// Lines Redis 7.0 still reads from a config file and ignores.
bool is_deprecated(std::string_view name) {
  std::string key = lower(name);
  return key == "list-max-ziplist-entries" || key == "list-max-ziplist-value" ||
         key == "lua-replicate-commands";
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
  // One file; `include <path|glob>` lines load other files where they stand, as Redis does.
  std::function<void(const std::string&, int)> load_file = [&](const std::string& file, int depth) {
    if (depth > 16) {
      throw std::runtime_error("*** FATAL CONFIG FILE ERROR *** in '" + file +
                               "': too many nested includes");
    }
    std::ifstream in(file);
    if (!in) throw std::runtime_error("Fatal error, can't open config file '" + file + "'");
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      Values words;
      if (!split_line(line, &words)) {
        throw std::runtime_error("*** FATAL CONFIG FILE ERROR *** in '" + file + "' line " +
                                 std::to_string(lineno) +
                                 ": unbalanced quotes in configuration line");
      }
      if (words.empty() || words[0][0] == '#') continue;
      Values values(words.begin() + 1, words.end());
      std::string err;
      if (lower(words[0]) == "include") {
        if (values.size() != 1) {
          err = "wrong number of arguments";
        } else if (values[0].find_first_of("*?[") == std::string::npos) {
          load_file(values[0], depth + 1);
        } else {
          // A pattern: the matching files in name order; none is fine.
          glob_t found{};
          if (::glob(values[0].c_str(), 0, nullptr, &found) == 0) {
            std::vector<std::string> files(found.gl_pathv, found.gl_pathv + found.gl_pathc);
            globfree(&found);
            for (const auto& f : files) load_file(f, depth + 1);
          } else {
            globfree(&found);
          }
        }
      } else if (lower(words[0]) == "user") {
        // Each `user` line declares one ACL user; acl/ parses the rules at startup.
        c_->acl_users.push_back(words);
      } else if (lower(words[0]) == "rename-command") {
        if (values.size() != 2) {
          err = "wrong number of arguments";
        } else {
          c_->renamed_commands.emplace_back(lower(values[0]), values[1]);
        }
      } else if (is_deprecated(words[0])) {
        // Accepted and ignored, as Redis 7.0 does (it logs a warning).
      } else {
        err = set(words[0], values, true);
      }
      if (!err.empty()) {
        // A secret's value never reaches the log: the line is shown without its arguments.
        std::string shown = is_secret(words[0]) ? words[0] + " <redacted>" : line;
        throw std::runtime_error("*** FATAL CONFIG FILE ERROR *** in '" + file + "' line " +
                                 std::to_string(lineno) + ": '" + shown + "': " + err);
      }
    }
  };
  if (!path.empty()) {
    if (!std::ifstream(path)) {
      throw std::runtime_error("Fatal error, can't open config file '" + path + "'");
    }
    char resolved[4096];
    c_->config_file = realpath(path.c_str(), resolved) ? resolved : path;
    load_file(path, 0);
  }
  for (const auto& [name, value] : args) {
    if (is_deprecated(name)) continue;
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
    if (o.alias && core::glob_match(pattern, o.alias, true)) out.emplace_back(o.alias);
  }
  return out;
}

bool ConfigStore::exists(std::string_view name) const { return find_option(name) != nullptr; }

bool ConfigStore::is_mutable(std::string_view name) const {
  const Option* o = find_option(name);
  return o && o->is_mutable;
}

std::string ConfigStore::refusal(std::string_view name) const {
  const Option* o = find_option(name);
  if (!o) return "unknown option";
  // As Redis: a protected option is refused while enable-protected-configs is "no" ("local"
  // is taken as allowing it, every Sluice client being treated alike).
  if (o->is_protected) {
    std::string allowed;
    get("enable-protected-configs", &allowed);
    if (allowed == "no") return "can't set protected config";
  }
  if (!o->is_mutable) return "can't set immutable config";
  return {};
}

std::string ConfigStore::rewrite() const {
  if (c_->config_file.empty()) return "The server is running without a config file";
  std::ifstream in(c_->config_file);
  std::vector<std::string> lines;
  std::vector<bool> written(options().size(), false);
  auto line_for = [&](const Option& o) {
    std::string value = o.get(*c_);
    if (o.is_memory) value = memory_text(value);
    return std::string(o.name) + " " + (value.empty() ? "\"\"" : value);
  };
  std::string line;
  while (std::getline(in, line)) {
    Values words;
    const bool parsed = split_line(line, &words);
    if (parsed && (words.empty() || words[0][0] == '#')) {
      lines.push_back(line);
      continue;
    }
    const Option* o = parsed ? find_option(words[0]) : nullptr;
    if (o) {
      // An alias is written under the option's name; later duplicates are dropped.
      size_t idx = static_cast<size_t>(o - options().data());
      if (written[idx]) continue;
      written[idx] = true;
      lines.push_back(line_for(*o));
    } else if (parsed && (lower(words[0]) == "user" || lower(words[0]) == "rename-command" ||
                          lower(words[0]) == "include" || is_deprecated(words[0]))) {
      lines.push_back(line);
    } else {
      // As Redis: a line it cannot read is kept as a comment.
      lines.push_back("# ??? " + line);
    }
  }
  // Options set away from their defaults and absent from the file are appended, as Redis does.
  static const Config defaults;
  bool header = false;
  for (size_t i = 0; i < options().size(); ++i) {
    const Option& o = options()[i];
    if (written[i] || o.get(*c_) == o.get(defaults)) continue;
    if (!header) {
      lines.push_back("");
      lines.push_back("# Generated by CONFIG REWRITE");
      header = true;
    }
    lines.push_back(line_for(o));
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
