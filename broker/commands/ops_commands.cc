// Operations commands: MONITOR, LATENCY (DOCTOR, GRAPH, HISTOGRAM, HISTORY, LATEST, RESET) and
// LOLWUT. MEMORY is in memory_commands.cc, the CLIENT PAUSE/TRACKING family in client_ops.cc.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/monitor.h"

namespace sluice::commands {

void append_quoted(std::string* out, std::string_view arg) {
  out->push_back('"');
  for (char ch : arg) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\a':
        out->append("\\a");
        break;
      case '\b':
        out->append("\\b");
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out->push_back(ch);
        } else {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out->append(buf);
        }
    }
  }
  out->push_back('"');
}

void feed_monitors(core::Broker& broker, const core::Client& client,
                   std::span<const std::string_view> argv) {
  int64_t us = core::now_us();
  char head[64];
  std::snprintf(head, sizeof(head), "+%lld.%06lld [%d ", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000), client.db);
  std::string line(head);
  line += client.script ? "lua" : client.addr;
  line += ']';
  // Passwords never reach a monitor: AUTH's arguments, HELLO's AUTH user and password.
  const bool is_auth = iequals(argv[0], "AUTH");
  const bool is_hello = iequals(argv[0], "HELLO");
  size_t redact_from = argv.size(), redact_to = argv.size();
  if (is_auth) {
    redact_from = 1;
  } else if (is_hello) {
    for (size_t i = 2; i + 2 < argv.size(); ++i) {
      if (iequals(argv[i], "AUTH")) {
        redact_from = i + 1;
        redact_to = i + 3;
        break;
      }
    }
  }
  for (size_t i = 0; i < argv.size(); ++i) {
    line += ' ';
    if (i >= redact_from && i < redact_to) {
      line += "\"(redacted)\"";
    } else {
      append_quoted(&line, argv[i]);
    }
  }
  line += "\r\n";
  for (core::Client* m : broker.monitors) {
    m->out.staging()->append(line);
    m->host->output_ready(*m);
  }
}

namespace {

void monitor(CommandContext& ctx) {
  auto& c = ctx.client;
  // A second MONITOR is ignored without a reply, as in Redis.
  if (c.monitor) return;
  c.monitor = true;
  ctx.broker.monitors.push_back(&c);
  ctx.reply.ok();
}

// --- LATENCY ---

void latency_latest(CommandContext& ctx) {
  auto& r = ctx.reply;
  const auto& events = ctx.broker.latency.events;
  r.array(events.size());
  for (const auto& [name, s] : events) {
    const core::LatencySample& last = s.latest();
    r.array(4);
    r.bulk(name);
    r.integer(last.time_s);
    r.integer(static_cast<int64_t>(last.latency_ms));
    r.integer(static_cast<int64_t>(s.max_ms));
  }
}

// An event's samples, oldest first.
std::vector<core::LatencySample> samples_of(const core::LatencySeries& s) {
  std::vector<core::LatencySample> out;
  for (size_t i = 0; i < core::LatencySeries::kLen; ++i) {
    const auto& x = s.samples[(s.next + i) % core::LatencySeries::kLen];
    if (x.time_s != 0) out.push_back(x);
  }
  return out;
}

void latency_history(CommandContext& ctx) {
  const auto& events = ctx.broker.latency.events;
  auto it = events.find(ctx.arg(2));
  if (it == events.end()) return ctx.reply.array(0);
  auto samples = samples_of(it->second);
  ctx.reply.array(samples.size());
  for (const auto& x : samples) {
    ctx.reply.array(2);
    ctx.reply.integer(x.time_s);
    ctx.reply.integer(static_cast<int64_t>(x.latency_ms));
  }
}

void latency_reset(CommandContext& ctx) {
  auto& events = ctx.broker.latency.events;
  int64_t n = 0;
  if (ctx.argc() == 2) {
    n = static_cast<int64_t>(events.size());
    events.clear();
  } else {
    for (size_t i = 2; i < ctx.argc(); ++i) {
      auto it = events.find(ctx.arg(i));
      if (it == events.end()) continue;
      events.erase(it);
      ++n;
    }
  }
  ctx.reply.integer(n);
}

std::string age_text(int64_t seconds) {
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

void latency_graph(CommandContext& ctx) {
  const auto& events = ctx.broker.latency.events;
  auto it = events.find(ctx.arg(2));
  if (it == events.end()) {
    return ctx.error_text("ERR No samples available for event '" + std::string(ctx.arg(2)) + "'");
  }
  auto samples = samples_of(it->second);
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& x : samples) {
    lo = std::min(lo, x.latency_ms);
    hi = std::max(hi, x.latency_ms);
  }
  // One column per sample, its height scaled between the lowest and the highest; under it, the
  // sample's age, written top to bottom.
  constexpr int kRows = 4;
  std::string out = it->first + " - high " + std::to_string(hi) + " ms, low " + std::to_string(lo) +
                    " ms (all time high " + std::to_string(it->second.max_ms) + " ms)\n";
  out += std::string(80, '-') + "\n";
  std::vector<int> height;
  for (const auto& x : samples) {
    height.push_back(
        hi == lo ? kRows : 1 + static_cast<int>((x.latency_ms - lo) * (kRows - 1) / (hi - lo)));
  }
  for (int row = kRows; row >= 1; --row) {
    std::string line;
    for (int h : height) line += h >= row ? (h == row ? '#' : '|') : ' ';
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  out += std::string(samples.size(), '_') + "\n";
  std::vector<std::string> ages;
  size_t tall = 0;
  for (const auto& x : samples) {
    ages.push_back(age_text(std::max<int64_t>(0, ctx.now_ms / 1000 - x.time_s)));
    tall = std::max(tall, ages.back().size());
  }
  for (size_t row = 0; row < tall; ++row) {
    std::string line;
    for (const auto& a : ages) line += row < a.size() ? a[row] : ' ';
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  ctx.reply.verbatim(out);
}

void latency_doctor(CommandContext& ctx) {
  const auto& events = ctx.broker.latency.events;
  const auto& cfg = ctx.broker.config();
  std::string out;
  if (events.empty()) {
    out =
        "No latency spike was recorded since this server started (or since LATENCY RESET). "
        "Nothing to worry about.\n";
    if (cfg.latency_monitor_threshold == 0) {
      out +=
          "\nNote: the latency monitor is off. Turn it on with CONFIG SET "
          "latency-monitor-threshold <milliseconds> to record commands slower than that.\n";
    }
    return ctx.reply.verbatim(out);
  }
  out = "Sluice latency report. Events recorded since start or the last LATENCY RESET:\n\n";
  int n = 0;
  for (const auto& [name, s] : events) {
    auto samples = samples_of(s);
    uint64_t sum = 0;
    int64_t first = samples.empty() ? 0 : samples.front().time_s;
    for (const auto& x : samples) sum += x.latency_ms;
    uint64_t avg = samples.empty() ? 0 : sum / samples.size();
    out += std::to_string(++n) + ". " + name + ": " + std::to_string(samples.size()) +
           " latency spikes (average " + std::to_string(avg) + "ms, mean deviation from it " +
           "ignored). Worst of all: " + std::to_string(s.max_ms) +
           "ms. Latest: " + std::to_string(s.latest().latency_ms) + "ms, " +
           age_text(std::max<int64_t>(0, ctx.now_ms / 1000 - s.latest().time_s)) +
           " ago. Observed since " + age_text(std::max<int64_t>(0, ctx.now_ms / 1000 - first)) +
           " ago.\n";
  }
  out += "\nAdvice:\n";
  bool slow_cmds = events.count("command") || events.count("fast-command");
  if (slow_cmds) {
    out += "- Commands took longer than latency-monitor-threshold (" +
           std::to_string(cfg.latency_monitor_threshold) +
           " ms). SLOWLOG GET lists the slowest ones; LATENCY HISTOGRAM shows how each command's "
           "calls are spread. O(N) commands over big values (KEYS, SMEMBERS, HGETALL, LRANGE 0 -1, "
           "SORT) are the usual cause: prefer SCAN-style iteration.\n";
  }
  if (events.count("fast-command")) {
    out +=
        "- Even O(1)/O(log N) commands were slow: the host was likely busy (CPU contention, "
        "swapping, a noisy neighbour) or the server was stalled by something else, such as a "
        "long script.\n";
  }
  ctx.reply.verbatim(out);
}

// Calls and cumulative counts per power-of-two microsecond bucket, as Redis prints them.
void reply_histogram(wire::resp::ReplyWriter& r, const core::LatencyHistogram& h) {
  r.map(2);
  r.bulk("calls");
  r.integer(static_cast<int64_t>(h.count));
  r.bulk("histogram_usec");
  size_t n = 0;
  for (uint64_t b : h.buckets) n += b ? 1 : 0;
  r.map(n);
  uint64_t seen = 0;
  for (size_t k = 0; k < h.buckets.size(); ++k) {
    if (h.buckets[k] == 0) continue;
    seen += h.buckets[k];
    r.integer(static_cast<int64_t>(core::LatencyHistogram::bucket_us(k)));
    r.integer(static_cast<int64_t>(seen));
  }
}

void latency_histogram(CommandContext& ctx) {
  std::vector<const CommandSpec*> specs;
  auto consider = [&](const CommandSpec& s) {
    if (s.stats.latency.count > 0 && std::find(specs.begin(), specs.end(), &s) == specs.end()) {
      specs.push_back(&s);
    }
  };
  const CommandTable& table = command_table();
  if (ctx.argc() == 2) {
    table.for_each(consider);
  } else {
    for (size_t i = 2; i < ctx.argc(); ++i) {
      std::string_view name = ctx.arg(i);
      size_t bar = name.find('|');
      const CommandSpec* s = table.find(name.substr(0, bar));
      if (!s) continue;
      if (bar != std::string_view::npos) {
        s = table.find_sub(*s, name.substr(bar + 1));
        if (s) consider(*s);
        continue;
      }
      consider(*s);
      for (const auto& sub : s->subcommands) consider(sub);
    }
  }
  ctx.reply.map(specs.size());
  for (const CommandSpec* s : specs) {
    ctx.reply.bulk(s->name);
    reply_histogram(ctx.reply, s->stats.latency);
  }
}

void latency_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DOCTOR",
      "    Return a report in plain words about the latency events recorded.",
      "GRAPH <event>",
      "    Return an ASCII graph of the samples of <event>.",
      "HISTORY <event>",
      "    Return the samples of <event> as [timestamp, milliseconds] pairs.",
      "LATEST",
      "    Return each event's latest sample: [event, timestamp, latest ms, all-time max ms].",
      "RESET [<event> ...]",
      "    Forget the samples of the given events (all events when none is named).",
      "HISTOGRAM [COMMAND ...]",
      "    Return the cumulative distribution of latencies of the given commands (all when none "
      "is named).",
      "HELP",
      "    Print this help."};
  ctx.help_lines(kLines);
}

// --- LOLWUT ---

void lolwut(CommandContext& ctx) {
  int64_t version = 0;
  // Redis 7.0 reads only VERSION; its default drawing takes no other argument.
  if (ctx.argc() >= 3 && iequals(ctx.arg(1), "VERSION") && !parse_int(ctx.arg(2), &version)) {
    return ctx.not_integer();
  }
  static const char* kArt =
      "  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
      "  ~~  ___                 ___     ~~\n"
      "  ~~ |   |~~~~~~~~~~~~~~~|   |    ~~\n"
      "  ~~ |   |  S L U I C E  |   |    ~~\n"
      "  ~~ |___|~~~~~~~~~~~~~~~|___|    ~~\n"
      "  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
      "  streams flow, the gate keeps time.\n\n";
  ctx.reply.verbatim(std::string(kArt) + "Sluice ver. 7.0.15 (Redis ver. 7.0.15)\n");
}

}  // namespace

void register_ops_commands(CommandTable& t) {
  CommandFamily f{"server"};
  constexpr uint32_t kAdminFlags = kAdmin | kNoScript | kLoading | kStale;
  constexpr const char* kAdminCats = "@admin @slow @dangerous";
  t.add(f("monitor", 1, kAdminFlags, monitor, kAdminCats,
          "Listens for all requests received by the server in real-time.", "1.0.0", 0, 0, 0));
  t.add(f("lolwut", -1, kReadonly | kFast, lolwut, "@read @fast",
          "Displays computer art and the Redis version", "5.0.0", 0, 0, 0));
  CommandSpec latency = f("latency", -2, 0, nullptr, "@slow",
                          "A container for latency diagnostics commands.", "2.8.13", 0, 0, 0);
  auto sub = [&](const char* name, int arity, Handler h, const char* summary,
                 const char* since = "2.8.13") {
    latency.subcommands.push_back(
        f(name, arity, kAdminFlags, h, kAdminCats, summary, since, 0, 0, 0));
  };
  sub("doctor", 2, latency_doctor, "Returns a human-readable latency analysis report.");
  sub("graph", 3, latency_graph, "Returns a latency graph for an event.");
  sub("histogram", -2, latency_histogram,
      "Returns the cumulative distribution of latencies of a subset or all commands.", "7.0.0");
  sub("history", 3, latency_history, "Returns timestamp-latency samples for an event.");
  sub("latest", 2, latency_latest, "Returns the latest latency samples for all events.");
  sub("reset", -2, latency_reset, "Resets the latency data for one or more events.");
  latency.subcommands.push_back(f("help", 2, kLoading | kStale, latency_help, "@slow",
                                  "Returns helpful text about the different subcommands.", "2.8.13",
                                  0, 0, 0));
  t.add(std::move(latency));
}

}  // namespace sluice::commands
