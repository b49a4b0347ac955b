// Dead-letter streams: see dead_letter.h.
#include "broker/commands/dead_letter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/replication_effects.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {

using stream::ConsumerGroup;
using stream::Stream;
using wire::StreamId;

bool dead_letter(core::Broker& broker, int db, int64_t now_ms, Stream& s, ConsumerGroup& g,
                 StreamId id, std::string_view reason, stream::GroupStore& store,
                 wire::Status* st) {
  stream::Pending* p = g.pel.find(id);
  if (!p || !g.has_dlq()) return false;
  std::string entry;
  if (!s.lookup(id, [&](StreamId, std::string_view resp) {
        entry.assign(resp);
        return false;
      })) {
    return false;
  }
  std::vector<std::string_view> original;
  if (!stream::entry_fields(entry, &original)) return false;

  core::Object* obj = broker.db(db).find(g.dlq_key, now_ms);
  Stream* dlq = nullptr;
  if (obj) {
    if (obj->type() != core::ObjectType::kStream) {
      spdlog::warn("dead-letter stream '{}' of group '{}' holds another type: entry kept",
                   g.dlq_key, g.name);
      return false;
    }
    dlq = static_cast<Stream*>(obj);
  } else {
    auto created = broker.streams().create(db, g.dlq_key);
    if (!created) {
      *st = created.status();
      return false;
    }
    dlq = created->get();
    broker.db(db).put(g.dlq_key, std::move(*created));
  }
  if (dlq->last_id() == StreamId::max()) return false;
  auto dlq_id = dlq->next_id(stream::IdRequest{}, now_ms);
  if (!dlq_id) return false;

  const std::string id_text = id.to_string();
  const std::string count_text = std::to_string(p->delivery_count);
  const std::string consumer = p->consumer ? p->consumer->name : std::string();
  std::vector<std::string_view> fields = {"stream",     s.key,      "id",       id_text,
                                          "group",      g.name,     "consumer", consumer,
                                          "deliveries", count_text, "reason",   reason};
  fields.insert(fields.end(), original.begin(), original.end());
  *st = dlq->append(*dlq_id, fields);
  if (!st->is_ok()) return false;
  broker.streams().mark_dirty(*dlq);
  broker.key_modified(db, g.dlq_key);
  broker.notify('t', "xadd", g.dlq_key, db);
  broker.blocking().signal(db, g.dlq_key);
  propagate_dead_letter(broker, db, g.dlq_key, *dlq_id, fields, s.key, g.name, id);

  g.pel.remove(id);
  ++g.dead_letters;
  stream::DeadLetterIntent intent;
  intent.seq = g.dead_letters;
  intent.dlq_key = g.dlq_key;
  intent.dlq_id = *dlq_id;
  intent.fields.assign(fields.begin(), fields.end());
  g.dlq_last_id = std::max(g.dlq_last_id, *dlq_id);
  g.unconfirmed_dead_letters.push_back(std::move(intent));
  const StreamId ids[] = {id};
  *st = store.dead_letter(g, ids, &g.unconfirmed_dead_letters.back());
  broker.streams().note_dead_letter(s);
  return true;
}

}  // namespace sluice::commands
