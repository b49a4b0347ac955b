#include "broker/commands/client_info.h"

#include "broker/commands/acl_check.h"

namespace sluice::commands {

bool valid_client_name(std::string_view name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

bool client_has_type(const core::Client& c, std::string_view type) {
  if (type == "master") return c.master;
  if (type == "replica" || type == "slave") return c.replica;
  if (type == "pubsub") return c.is_pubsub_client();
  return !c.master && !c.replica && !c.is_pubsub_client();
}

std::string client_info_line(core::Broker& broker, const core::Client& c, int64_t now_ms,
                             size_t argv_mem) {
  std::string flags;
  if (c.replica) flags += 'S';
  if (c.master) flags += 'M';
  if (c.is_pubsub_client()) flags += 'P';
  if (c.in_multi) flags += 'x';
  if (c.blocked) flags += 'b';
  if (c.close_after_reply) flags += 'c';
  if (c.no_evict) flags += 'e';
  if (c.no_touch) flags += 'T';
  if (c.monitor) flags += 'O';
  if (c.tracking.on) flags += 't';
  if (c.tracking.broken_redirect) flags += 'R';
  if (c.tracking.bcast) flags += 'B';
  if (flags.empty()) flags = "N";
  std::string out;
  out.reserve(320);
  auto kv = [&](std::string_view k, const std::string& v) {
    if (!out.empty()) out += ' ';
    out.append(k);
    out += '=';
    out += v;
  };
  kv("id", std::to_string(c.id));
  kv("addr", c.addr);
  kv("laddr", c.laddr);
  kv("fd", std::to_string(c.fd));
  kv("name", c.name);
  kv("age", std::to_string((now_ms - c.created_ms) / 1000));
  kv("idle", std::to_string((now_ms - c.last_interaction_ms) / 1000));
  kv("flags", flags);
  kv("db", std::to_string(c.db));
  kv("sub", std::to_string(c.channels.size()));
  kv("psub", std::to_string(c.patterns.size()));
  kv("ssub", std::to_string(c.shard_channels.size()));
  kv("multi", c.in_multi ? std::to_string(c.multi_queue.size()) : "-1");
  core::ClientHost::QueryBuffer qb =
      c.host ? c.host->query_buffer() : core::ClientHost::QueryBuffer{};
  kv("qbuf", std::to_string(qb.used));
  kv("qbuf-free", std::to_string(qb.free));
  kv("argv-mem", std::to_string(argv_mem));
  // Queued MULTI commands: their argument bytes plus a pointer per argument (Redis's
  // argv_len_sums).
  size_t multi_mem = 0;
  for (const auto& cmd : c.multi_queue) {
    multi_mem += cmd.size() * sizeof(void*);
    for (const auto& arg : cmd) multi_mem += arg.size();
  }
  kv("multi-mem", std::to_string(multi_mem));
  kv("rbs", "16384");
  kv("rbp", "0");
  kv("obl", "0");
  kv("oll", "0");
  kv("omem", std::to_string(c.out.bytes()));
  kv("tot-mem", std::to_string(c.out.bytes() + multi_mem + argv_mem + 16384));
  kv("events", "r");
  kv("cmd", std::string(c.last_command));
  kv("user", c.master ? std::string("(superuser)") : client_user(broker, c).name());
  kv("redir", c.tracking.on ? std::to_string(c.tracking.redirect) : "-1");
  kv("resp", std::to_string(c.protocol));
  kv("lib-name", c.lib_name);
  kv("lib-ver", c.lib_ver);
  return out;
}

}  // namespace sluice::commands
