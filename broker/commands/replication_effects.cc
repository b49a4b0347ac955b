#include "broker/commands/replication_effects.h"

#include <string>
#include <vector>

#include "broker/replication/replication.h"

namespace sluice::commands {

namespace {

// The policy keyword for a trim; KEEPREF (the default) needs none.
std::string_view policy_word(stream::RefPolicy policy) {
  switch (policy) {
    case stream::RefPolicy::kDelRef:
      return "DELREF";
    case stream::RefPolicy::kAcked:
      return "ACKED";
    default:
      return {};
  }
}

}  // namespace

void propagate_xadd(core::Broker& broker, int db, std::string_view key, wire::StreamId id,
                    std::span<const std::string_view> fields, const XaddEffects& effects) {
  auto& repl = replication::of(broker);
  if (!repl.active()) return propagate_nothing(broker);
  std::string id_text = id.to_string();
  std::string len_text = std::to_string(effects.length);
  std::vector<std::string_view> argv{"XADD", key};
  if (effects.idmp) argv.insert(argv.end(), {"IDMP", effects.idmp_pid, effects.idmp_iid});
  if (effects.trimmed) {
    if (auto word = policy_word(effects.policy); !word.empty()) argv.push_back(word);
    argv.insert(argv.end(), {"MAXLEN", "=", len_text});
  }
  argv.push_back(id_text);
  argv.insert(argv.end(), fields.begin(), fields.end());
  repl.emit(db, argv);
}

void propagate_dead_letter(core::Broker& broker, int db, std::string_view dlq_key,
                           wire::StreamId dlq_id, std::span<const std::string_view> fields,
                           std::string_view key, std::string_view group, wire::StreamId id) {
  auto& repl = replication::of(broker);
  if (!repl.active()) return;
  propagate_xadd(broker, db, dlq_key, dlq_id, fields, XaddEffects{});
  const std::string id_text = id.to_string();
  const std::string_view ack[] = {"XACK", key, group, id_text};
  repl.emit(db, ack);
}

void propagate_xtrim(core::Broker& broker, int db, std::string_view key, uint64_t length,
                     stream::RefPolicy policy) {
  std::string len_text = std::to_string(length);
  std::vector<std::string_view> argv{"XTRIM", key, "MAXLEN", "=", len_text};
  if (auto word = policy_word(policy); !word.empty()) argv.push_back(word);
  replication::of(broker).emit(db, argv);
}

void propagate_delivery(core::Broker& broker, int db, std::string_view key,
                        const stream::ConsumerGroup& g, std::string_view consumer, int64_t now,
                        std::span<const wire::StreamId> ids, std::span<const uint64_t> counts) {
  auto& repl = replication::of(broker);
  if (!repl.active()) return propagate_nothing(broker);
  std::vector<std::vector<std::string>> cmds;
  const std::string k(key), group(g.name), name(consumer), cursor = g.last_delivered_id.to_string();
  cmds.push_back({"XGROUP", "CREATECONSUMER", k, group, name});
  for (size_t i = 0; i < ids.size(); ++i) {
    cmds.push_back({"XCLAIM", k, group, name, "0", ids[i].to_string(), "TIME", std::to_string(now),
                    "RETRYCOUNT", std::to_string(counts.empty() ? 1 : counts[i]), "FORCE", "JUSTID",
                    "LASTID", cursor});
  }
  std::vector<std::string> setid{"XGROUP", "SETID", k, group, cursor};
  if (g.entries_read != stream::kEntriesReadUnknown) {
    setid.insert(setid.end(), {"ENTRIESREAD", std::to_string(g.entries_read)});
  }
  cmds.push_back(std::move(setid));
  repl.emit_all(db, cmds);
}

void propagate_claim(core::Broker& broker, int db, std::string_view key,
                     const stream::ConsumerGroup& g, std::string_view consumer, int64_t time,
                     std::span<const wire::StreamId> claimed, std::span<const uint64_t> counts,
                     std::span<const wire::StreamId> gone, bool cursor_moved) {
  auto& repl = replication::of(broker);
  if (!repl.active()) return propagate_nothing(broker);
  std::vector<std::vector<std::string>> cmds;
  const std::string k(key), group(g.name), name(consumer), cursor = g.last_delivered_id.to_string();
  if (!gone.empty()) {
    std::vector<std::string> ack{"XACK", k, group};
    for (auto id : gone) ack.push_back(id.to_string());
    cmds.push_back(std::move(ack));
  }
  for (size_t i = 0; i < claimed.size(); ++i) {
    cmds.push_back({"XCLAIM", k, group, name, "0", claimed[i].to_string(), "TIME",
                    std::to_string(time), "RETRYCOUNT", std::to_string(counts[i]), "FORCE",
                    "JUSTID", "LASTID", cursor});
  }
  if (cursor_moved && claimed.empty()) {
    std::vector<std::string> setid{"XGROUP", "SETID", k, group, cursor};
    if (g.entries_read != stream::kEntriesReadUnknown) {
      setid.insert(setid.end(), {"ENTRIESREAD", std::to_string(g.entries_read)});
    }
    cmds.push_back(std::move(setid));
  }
  repl.emit_all(db, cmds);
}

void propagate_nothing(core::Broker& broker) { replication::of(broker).emit_all(0, {}); }

}  // namespace sluice::commands
