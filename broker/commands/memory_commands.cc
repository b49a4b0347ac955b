// MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP. A value's size is estimated as Redis
// counts it (object header, allocator size classes, per-entry overhead; big collections
// sampled) so that `redis-cli --memkeys` ranks keys as it would on redis-server. A stream's
// entries live on disk: its figure is what it keeps in memory.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"
#include "broker/commands/server_stats.h"
#include "broker/kv/kv_object.h"
#include "broker/kv/list_object.h"
#include "broker/kv/set_object.h"
#include "broker/kv/zset_object.h"
#include "broker/stream/stream.h"

namespace sluice::commands {
namespace {

// The allocator size class of an n-byte allocation (jemalloc's: 8, multiples of 16 up to 128,
// then four classes per doubling), as Redis's zmalloc_size reports it.
size_t alloc_size(size_t n) {
  if (n <= 8) return 8;
  if (n <= 128) return (n + 15) / 16 * 16;
  size_t base = 128;
  while (base * 2 < n) base *= 2;
  size_t step = base / 4;
  return (n + step - 1) / step * step;
}

constexpr size_t kObjectHeader = 16;  // Redis's robj
constexpr size_t kDictEntry = 24;
constexpr int64_t kDefaultSamples = 5;

size_t sds_size(size_t len) { return alloc_size(len + (len < 256 ? 3 : 5) + 1); }

// Sums fn(element) over at most `samples` elements and scales the sum to `total` elements.
template <typename Visit>
size_t sampled(size_t total, int64_t samples, Visit&& visit) {
  size_t seen = 0, bytes = 0;
  visit([&](size_t one) {
    if (samples > 0 && seen >= static_cast<size_t>(samples)) return;
    bytes += one;
    ++seen;
  });
  return seen == 0 ? 0 : bytes * total / seen;
}

size_t table_size(size_t n) {
  size_t buckets = 4;
  while (buckets < n) buckets *= 2;
  return buckets * sizeof(void*);
}

size_t value_bytes(const core::Object& obj, int64_t samples) {
  switch (obj.type()) {
    case core::ObjectType::kString: {
      const auto& s = static_cast<const kv::StringObject&>(obj);
      std::string_view enc = s.encoding();
      if (enc == "int") return kObjectHeader;
      if (enc == "embstr") return alloc_size(kObjectHeader + s.value.size() + 4);
      return kObjectHeader + sds_size(s.value.size());
    }
    case core::ObjectType::kHash: {
      const auto& h = static_cast<const kv::HashObject&>(obj);
      if (!h.is_table()) {
        size_t bytes = 7;
        h.for_each(
            [&](const std::string& f, const std::string& v) { bytes += f.size() + v.size() + 4; });
        return kObjectHeader + alloc_size(bytes);
      }
      return kObjectHeader + table_size(h.size()) + sampled(h.size(), samples, [&](auto add) {
               h.for_each([&](const std::string& f, const std::string& v) {
                 add(kDictEntry + sds_size(f.size()) + sds_size(v.size()));
               });
             });
    }
    case core::ObjectType::kList: {
      const auto& l = static_cast<const kv::ListObject&>(obj);
      return kObjectHeader + 48 + l.allocated_bytes();
    }
    case core::ObjectType::kSet: {
      const auto& s = static_cast<const kv::SetObject&>(obj);
      if (s.encoding() == "intset") return kObjectHeader + alloc_size(8 + 8 * s.size());
      if (s.encoding() == "listpack") {
        size_t bytes = 7;
        s.for_each([&](std::string_view m) { bytes += m.size() + 2; });
        return kObjectHeader + alloc_size(bytes);
      }
      return kObjectHeader + table_size(s.size()) + sampled(s.size(), samples, [&](auto add) {
               s.for_each([&](std::string_view m) { add(kDictEntry + sds_size(m.size())); });
             });
    }
    case core::ObjectType::kZSet:
      return kObjectHeader + static_cast<const kv::ZSetObject&>(obj).memory_bytes();
    case core::ObjectType::kStream:
      return kObjectHeader + sizeof(stream::Stream);
  }
  return kObjectHeader;
}

void memory_usage(CommandContext& ctx) {
  int64_t samples = kDefaultSamples;
  for (size_t i = 3; i < ctx.argc(); ++i) {
    if (iequals(ctx.arg(i), "SAMPLES") && i + 1 < ctx.argc()) {
      if (!parse_int(ctx.arg(++i), &samples)) return ctx.not_integer();
      if (samples < 0) return ctx.syntax_error();
    } else {
      return ctx.syntax_error();
    }
  }
  std::string_view key = ctx.arg(2);
  const core::Object* obj = ctx.db().find(key, ctx.now_ms);
  if (!obj) return ctx.reply.null();
  size_t total = value_bytes(*obj, samples) + sds_size(key.size()) + kDictEntry;
  ctx.reply.integer(static_cast<int64_t>(total));
}

struct MemoryFigures {
  uint64_t rss = 0;
  uint64_t allocated = 0;  // malloc's in-use bytes
  uint64_t arena = 0;      // bytes malloc holds from the system
  uint64_t keys = 0;
  uint64_t clients_bytes = 0;
};

MemoryFigures memory_figures(core::Broker& broker) {
  MemoryFigures m;
  m.rss = rss_bytes();
  struct mallinfo2 mi = mallinfo2();
  m.allocated = mi.uordblks + mi.hblkhd;
  m.arena = mi.arena + mi.hblkhd;
  for (int i = 0; i < broker.db_count(); ++i) m.keys += broker.db(i).size();
  for (const auto& [id, c] : broker.clients()) m.clients_bytes += c->out.bytes() + 16384;
  return m;
}

void memory_stats(CommandContext& ctx) {
  auto& b = ctx.broker;
  MemoryFigures m = memory_figures(b);
  std::vector<int> dbs;
  for (int i = 0; i < b.db_count(); ++i) {
    if (b.db(i).size() > 0 || b.db(i).expires() > 0) dbs.push_back(i);
  }
  uint64_t overhead = m.clients_bytes;
  for (int i : dbs) overhead += table_size(b.db(i).size()) + table_size(b.db(i).expires());
  uint64_t dataset = m.allocated > overhead ? m.allocated - overhead : 0;
  auto ratio = [](uint64_t a, uint64_t bb) {
    return bb == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(bb);
  };
  auto& r = ctx.reply;
  r.map(27 + dbs.size());
  auto num = [&](const char* k, uint64_t v) {
    r.bulk(k);
    r.integer(static_cast<int64_t>(v));
  };
  auto dbl = [&](const char* k, double v) {
    r.bulk(k);
    r.dbl(v);
  };
  num("peak.allocated", m.allocated);
  num("total.allocated", m.allocated);
  num("startup.allocated", 0);
  num("replication.backlog", 0);
  num("clients.slaves", 0);
  num("clients.normal", m.clients_bytes);
  num("cluster.links", 0);
  num("aof.buffer", 0);
  num("lua.caches", 0);
  num("functions.caches", 0);
  for (int i : dbs) {
    r.bulk("db." + std::to_string(i));
    r.map(3);
    num("overhead.hashtable.main", table_size(b.db(i).size()));
    num("overhead.hashtable.expires", table_size(b.db(i).expires()));
    num("overhead.hashtable.slot-to-keys", 0);
  }
  num("overhead.total", overhead);
  num("keys.count", m.keys);
  num("keys.bytes-per-key", m.keys ? dataset / m.keys : 0);
  num("dataset.bytes", dataset);
  dbl("dataset.percentage", 100.0 * ratio(dataset, m.allocated));
  dbl("peak.percentage", 100.0);
  num("allocator.allocated", m.allocated);
  num("allocator.active", m.arena);
  num("allocator.resident", m.rss);
  dbl("allocator-fragmentation.ratio", ratio(m.arena, m.allocated));
  num("allocator-fragmentation.bytes", m.arena > m.allocated ? m.arena - m.allocated : 0);
  dbl("allocator-rss.ratio", ratio(m.rss, m.arena));
  num("allocator-rss.bytes", m.rss > m.arena ? m.rss - m.arena : 0);
  dbl("rss-overhead.ratio", 1.0);
  num("rss-overhead.bytes", 0);
  dbl("fragmentation", ratio(m.rss, m.allocated));
  num("fragmentation.bytes", m.rss > m.allocated ? m.rss - m.allocated : 0);
}

void memory_doctor(CommandContext& ctx) {
  MemoryFigures m = memory_figures(ctx.broker);
  std::string out;
  constexpr uint64_t kSmall = 5 * 1024 * 1024;
  if (m.allocated < kSmall) {
    out =
        "This instance holds very little data, so there is nothing meaningful to diagnose yet. "
        "Ask again once it holds a real workload.\n";
  } else {
    std::vector<std::string> issues;
    double frag = m.allocated ? static_cast<double>(m.rss) / static_cast<double>(m.allocated) : 0;
    if (frag > 1.4) {
      issues.push_back("- High fragmentation: the process holds " + std::to_string(m.rss) +
                       " bytes of RSS "
                       "for " +
                       std::to_string(m.allocated) +
                       " bytes in use. MEMORY PURGE returns free "
                       "pages to the system.");
    }
    if (m.clients_bytes > m.allocated / 2) {
      issues.push_back(
          "- Client output buffers hold a large part of memory: look for slow readers with "
          "CLIENT LIST (omem) and set client-output-buffer-limit.");
    }
    if (issues.empty()) {
      out =
          "No memory problems found: allocation, fragmentation and client buffers look "
          "healthy.\n";
    } else {
      out = "Sluice memory report, issues found:\n\n";
      for (const auto& i : issues) out += i + "\n";
    }
  }
  out +=
      "\nNote: stream entries are kept on disk, not in memory; only their metadata and hot "
      "tail count here.\n";
  ctx.reply.verbatim(out);
}

void memory_malloc_stats(CommandContext& ctx) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  if (!f) return ctx.reply.bulk("Stats not supported for the current allocator");
  malloc_info(0, f);
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);  // NOLINT(cppcoreguidelines-no-malloc): open_memstream's buffer
  ctx.reply.verbatim(out);
}

void memory_purge(CommandContext& ctx) {
  malloc_trim(0);
  ctx.reply.ok();
}

void memory_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DOCTOR",
      "    Return a report in plain words about memory problems found.",
      "MALLOC-STATS",
      "    Return the memory allocator's own statistics.",
      "PURGE",
      "    Ask the allocator to give free pages back to the system.",
      "STATS",
      "    Return a breakdown of the server's memory use.",
      "USAGE <key> [SAMPLES <count>]",
      "    Return the bytes used by <key> and its value. Elements of big collections are",
      "    sampled <count> times (default: 5, 0 samples every element).",
      "HELP",
      "    Print this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_memory_commands(CommandTable& t) {
  CommandFamily f{"server"};
  CommandSpec memory = f("memory", -2, 0, nullptr, "@slow",
                         "A container for memory diagnostics commands.", "4.0.0", 0, 0, 0);
  auto sub = [&](const char* name, int arity, uint32_t flags, Handler h, const char* cats,
                 const char* summary, int first = 0) {
    memory.subcommands.push_back(
        f(name, arity, flags, h, cats, summary, "4.0.0", first, first, first ? 1 : 0));
  };
  sub("doctor", 2, 0, memory_doctor, "@slow", "Outputs a memory problems report.");
  sub("malloc-stats", 2, 0, memory_malloc_stats, "@slow", "Returns the allocator statistics.");
  sub("purge", 2, 0, memory_purge, "@slow", "Asks the allocator to release memory.");
  sub("stats", 2, 0, memory_stats, "@slow", "Returns details about memory usage.");
  sub("usage", -3, kReadonly, memory_usage, "@read @slow", "Estimates the memory usage of a key.",
      2);
  sub("help", 2, kLoading | kStale, memory_help, "@slow",
      "Returns helpful text about the different subcommands.");
  t.add(std::move(memory));
}

}  // namespace sluice::commands
