// Crash atomicity of dead letters (StreamEngine): a dead letter touches two streams' files, the
// source group's journal and the dead-letter stream's log, and a crash can leave only one of them
// durable. Recovery at open makes each whole again; confirmations journaled after the sync that
// made DLQ appends durable keep recovery from redoing old ones. The protocol is in
// broker/commands/dead_letter.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/broker.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream_engine.h"

namespace sluice::stream {

void StreamEngine::journal_dead_letter_confirmations() {
  for (uint64_t n : dead_letter_streams_) {
    Stream* s = find(n);
    if (!s) continue;
    bool wrote = false;
    for (auto& [name, g] : s->groups) {
      if (g->dead_letters_confirmed <= g->dead_letters_confirm_journaled) continue;
      wire::Status st;
      auto store = group_store(*s, &st);
      if (store) st = store->dead_letter(*g, {});
      if (!st.is_ok()) {
        // Only costs a recheck of these dead letters at the next start.
        spdlog::warn("storage: journaling dead-letter confirmations of group '{}': {}", name,
                     st.detail());
        continue;
      }
      g->dead_letters_confirm_journaled = g->dead_letters_confirmed;
      wrote = true;
    }
    if (wrote) mark_dirty(*s);
  }
}

void StreamEngine::recover_dead_letters() {
  for (const auto& [n, s] : by_number_) {
    for (const auto& [name, g] : s->groups) {
      g->dead_letters_confirm_journaled = g->dead_letters_confirmed;
    }
  }
  redo_lost_dead_letter_appends();
  resolve_dead_letters_still_pending();
  // What recovery found in place (or put back) is confirmed, and journaled so, after the first
  // sync, like a new dead letter.
  for (const auto& [n, s] : by_number_) {
    for (const auto& [name, g] : s->groups) {
      if (!g->unconfirmed_dead_letters.empty()) note_dead_letter(*s);
    }
  }
  if (dead_letter_repair_.appended > 0 || dead_letter_repair_.resolved > 0) {
    spdlog::warn(
        "storage: dead letters repaired after a crash: {} lost dead-letter stream entries "
        "appended again, {} dead-lettered entries removed from their group's PEL",
        dead_letter_repair_.appended, dead_letter_repair_.resolved);
  }
}

// The group journal said "appended to the DLQ with ID x" but the DLQ's last ID is below x: the
// append was lost (a log only loses its tail, so every later append of that DLQ was lost too).
// A DLQ whose last ID is x or above kept it, or had it deleted or trimmed since: left alone.
void StreamEngine::redo_lost_dead_letter_appends() {
  struct Redo {
    Stream* source;
    const DeadLetterIntent* intent;
  };
  std::map<std::pair<int, std::string>, std::vector<Redo>> by_dlq;
  for (const auto& [n, s] : by_number_) {
    for (const auto& [name, g] : s->groups) {
      for (const DeadLetterIntent& in : g->unconfirmed_dead_letters) {
        by_dlq[{s->db, in.dlq_key}].push_back({s, &in});
      }
    }
  }
  for (auto& [where, redos] : by_dlq) {
    const auto& [db, key] = where;
    std::sort(redos.begin(), redos.end(),
              [](const Redo& a, const Redo& b) { return a.intent->dlq_id < b.intent->dlq_id; });
    core::Object* obj = broker_.db(db).find_raw(key);
    if (obj && obj->type() != core::ObjectType::kStream) {
      spdlog::error(
          "storage: dead-letter stream '{}' holds another type: {} dead letters not redone", key,
          redos.size());
      continue;
    }
    auto* dlq = static_cast<Stream*>(obj);
    for (const Redo& r : redos) {
      if (dlq && r.intent->dlq_id <= dlq->last_id()) continue;
      if (!dlq) {
        auto created = create(db, key);
        if (!created) {
          throw std::runtime_error("recreating dead-letter stream '" + key +
                                   "': " + created.status().detail());
        }
        dlq = created->get();
        broker_.db(db).put(key, std::move(*created));
      }
      std::vector<std::string_view> fields(r.intent->fields.begin(), r.intent->fields.end());
      wire::Status st = dlq->append(r.intent->dlq_id, fields);
      if (!st.is_ok()) {
        throw std::runtime_error("redoing a dead letter in '" + key + "': " + st.detail());
      }
      mark_dirty(*dlq);
      note_dead_letter(*r.source);
      ++dead_letter_repair_.appended;
    }
  }
}

namespace {

// The source (stream key, entry ID, group) a DLQ entry's leading fields name (dead_letter.cc
// writes "stream", key, "id", id, "group", group first).
bool dead_letter_source(std::string_view resp, std::vector<std::string_view>* fields,
                        std::string_view* key, wire::StreamId* id, std::string_view* group) {
  fields->clear();
  if (!entry_fields(resp, fields) || fields->size() < 6) return false;
  const auto& f = *fields;
  if (f[0] != "stream" || f[2] != "id" || f[4] != "group") return false;
  *key = f[1];
  *group = f[5];
  return wire::parse_stream_id(f[3], id);
}

}  // namespace

// The DLQ holds an entry of a group beyond the last DLQ ID the group's journal recorded, and the
// entry is still in the group's PEL: the DLQ append became durable, the PEL removal did not.
// Finish it, so that the entry is not dead-lettered a second time.
void StreamEngine::resolve_dead_letters_still_pending() {
  for (const auto& [n, s] : by_number_) {
    for (const auto& [name, g] : s->groups) {
      if (!g->has_dlq() || g->pel.empty()) continue;
      core::Object* obj = broker_.db(s->db).find_raw(g->dlq_key);
      if (!obj || obj->type() != core::ObjectType::kStream) continue;
      const auto* dlq = static_cast<const Stream*>(obj);
      // Without a recorded DLQ ID (no dead letter journaled yet, or journals older than intents),
      // a dead letter's DLQ ID is at least the time of the delivery that left it pending.
      wire::StreamId from;
      if (!g->dlq_last_id.is_zero()) {
        if (!g->dlq_last_id.increment(&from)) continue;
      } else {
        int64_t oldest = std::numeric_limits<int64_t>::max();
        for (const auto& [id, p] : g->pel.entries()) oldest = std::min(oldest, p.delivery_time_ms);
        from = {static_cast<uint64_t>(std::max<int64_t>(oldest, 0)), 0};
      }
      if (from > dlq->last_id()) continue;
      std::vector<DeadLetterIntent> found;
      std::vector<std::string_view> fields;
      wire::Status st = dlq->range(from, wire::StreamId::max(), false, 0,
                                   [&](wire::StreamId dlq_id, std::string_view resp) {
                                     std::string_view key, group;
                                     wire::StreamId id;
                                     if (dead_letter_source(resp, &fields, &key, &id, &group) &&
                                         key == s->key && group == name && g->pel.find(id)) {
                                       DeadLetterIntent in;
                                       in.dlq_key = g->dlq_key;
                                       in.dlq_id = dlq_id;
                                       in.fields.assign(fields.begin(), fields.end());
                                       found.push_back(std::move(in));
                                     }
                                     return true;
                                   });
      if (!st.is_ok()) {
        spdlog::error("storage: reading dead-letter stream '{}' at recovery: {}", g->dlq_key,
                      st.detail());
        continue;
      }
      if (found.empty()) continue;
      auto store = group_store(*s, &st);
      if (!store) throw std::runtime_error("group journal of '" + s->key + "': " + st.detail());
      for (DeadLetterIntent& in : found) {
        wire::StreamId id;
        wire::parse_stream_id(in.fields[3], &id);
        if (!g->pel.remove(id)) continue;
        ++g->dead_letters;
        in.seq = g->dead_letters;
        g->dlq_last_id = std::max(g->dlq_last_id, in.dlq_id);
        g->unconfirmed_dead_letters.push_back(std::move(in));
        const wire::StreamId ids[] = {id};
        st = store->dead_letter(*g, ids, &g->unconfirmed_dead_letters.back());
        if (!st.is_ok()) {
          throw std::runtime_error("group journal of '" + s->key + "': " + st.detail());
        }
        ++dead_letter_repair_.resolved;
      }
      note_dead_letter(*s);
    }
  }
}

}  // namespace sluice::stream
