#include "broker/stream/group_store.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "broker/storage/record_frame.h"
#include "broker/stream/stream.h"
#include "wire/schema/group_generated.h"

namespace sluice::stream {
namespace {

using wire::ErrorCode;
using wire::Status;

schema::EntryId to_fb(StreamId id) { return schema::EntryId(id.ms, id.seq); }
StreamId from_fb(const schema::EntryId* id) {
  return id ? StreamId{id->ms(), id->seq()} : StreamId{};
}

std::string_view as_view(const flatbuffers::FlatBufferBuilder& fbb) {
  return {reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

std::string_view sv(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

template <typename T>
const T* verified_root(std::string_view payload) {
  // A snapshot may hold millions of consumers (tables): lift the verifier's table limit.
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), 64,
                          1u << 31);
  if (!v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(payload.data());
}

Status corrupt(const char* what) {
  return {ErrorCode::kCorruption, std::string("bad consumer-group record: ") + what};
}

// One builder reused by every record (the loop is single-threaded).
flatbuffers::FlatBufferBuilder& builder() {
  thread_local flatbuffers::FlatBufferBuilder fbb(1024);
  fbb.Clear();
  return fbb;
}

// The snapshot's owner index of a PEL entry released by XNACK.
constexpr uint32_t kNoOwner = 0xffffffffu;

flatbuffers::Offset<schema::DeadLetterIntent> intent_to_fb(flatbuffers::FlatBufferBuilder& fbb,
                                                           const DeadLetterIntent& in) {
  auto key = fbb.CreateString(in.dlq_key.data(), in.dlq_key.size());
  std::vector<flatbuffers::Offset<flatbuffers::String>> fields;
  fields.reserve(in.fields.size());
  for (const std::string& f : in.fields) fields.push_back(fbb.CreateString(f.data(), f.size()));
  auto fv = fbb.CreateVector(fields);
  schema::EntryId id = to_fb(in.dlq_id);
  return schema::CreateDeadLetterIntent(fbb, in.seq, key, &id, fv);
}

bool intent_from_fb(const schema::DeadLetterIntent* r, DeadLetterIntent* out) {
  if (!r || !r->dlq_key() || !r->dlq_id()) return false;
  const auto* fields = r->fields();
  if (!fields) return false;
  out->seq = r->seq();
  out->dlq_key = std::string(sv(r->dlq_key()));
  out->dlq_id = from_fb(r->dlq_id());
  out->fields.clear();
  out->fields.reserve(fields->size());
  for (const flatbuffers::String* f : *fields) {
    if (!f) return false;
    out->fields.emplace_back(sv(f));
  }
  return true;
}

// A replayed dead letter with its intent (records before intents existed have none).
Status replay_intent(ConsumerGroup* g, const schema::DeadLetterIntent* r) {
  if (!r) return {};
  DeadLetterIntent in;
  if (!intent_from_fb(r, &in)) return corrupt("dead-letter intent");
  if (in.dlq_key == g->dlq_key) g->dlq_last_id = std::max(g->dlq_last_id, in.dlq_id);
  if (in.seq > g->dead_letters_confirmed) g->unconfirmed_dead_letters.push_back(std::move(in));
  return {};
}

ConsumerGroup* find_group(GroupMap* groups, const flatbuffers::String* name) {
  auto it = groups->find(sv(name));
  if (it != groups->end()) return it->second.get();
  // Records only name groups that exist at that point of the journal; tolerate it anyway.
  spdlog::warn("storage: consumer-group record for unknown group '{}' ignored", sv(name));
  return nullptr;
}

Consumer* consumer_for(ConsumerGroup* g, const flatbuffers::String* name) {
  bool created = false;
  return g->ensure_consumer(sv(name), 0, &created);
}

Status apply_snapshot(GroupMap* groups, const schema::GroupsSnapshot* snap) {
  groups->clear();
  const auto* all = snap->groups();
  if (!all) return {};
  for (flatbuffers::uoffset_t gi = 0; gi < all->size(); ++gi) {
    const schema::GroupSnapshot* gs = all->Get(gi);
    if (!gs) return corrupt("snapshot group");
    auto g = std::make_unique<ConsumerGroup>(std::string(sv(gs->name())));
    g->last_delivered_id = from_fb(gs->last_delivered_id());
    g->entries_read = gs->entries_read();
    g->max_deliveries = gs->max_deliveries();
    g->dlq_key = std::string(sv(gs->dlq_key()));
    g->dead_letters = gs->dead_letters();
    g->consumer_max_idle_ms = gs->consumer_max_idle();
    g->dlq_last_id = from_fb(gs->dlq_last_id());
    g->dead_letters_confirmed = gs->dead_letters_confirmed();
    if (const auto* intents = gs->unconfirmed_dead_letters()) {
      for (const schema::DeadLetterIntent* in : *intents) {
        Status st = replay_intent(g.get(), in);
        if (!st.is_ok()) return st;
      }
    }
    std::vector<Consumer*> by_index;
    if (const auto* consumers = gs->consumers()) {
      by_index.reserve(consumers->size());
      for (flatbuffers::uoffset_t i = 0; i < consumers->size(); ++i) {
        const schema::ConsumerSnapshot* cs = consumers->Get(i);
        if (!cs) return corrupt("snapshot consumer");
        bool created = false;
        Consumer* c = g->ensure_consumer(sv(cs->name()), cs->seen_time(), &created);
        c->active_time_ms = cs->active_time();
        by_index.push_back(c);
      }
    }
    const auto* ids = gs->pel_ids();
    const auto* owners = gs->owners();
    const auto* times = gs->delivery_times();
    const auto* counts = gs->delivery_counts();
    size_t n = ids ? ids->size() : 0;
    if (n > 0 && (!owners || !times || !counts || owners->size() != n || times->size() != n ||
                  counts->size() != n)) {
      return corrupt("snapshot PEL vectors differ in length");
    }
    for (size_t i = 0; i < n; ++i) {
      uint32_t owner = owners->Get(static_cast<flatbuffers::uoffset_t>(i));
      if (owner != kNoOwner && owner >= by_index.size()) {
        return corrupt("snapshot PEL owner out of range");
      }
      auto idx = static_cast<flatbuffers::uoffset_t>(i);
      g->pel.assign(from_fb(ids->Get(idx)), owner == kNoOwner ? nullptr : by_index[owner],
                    times->Get(idx), counts->Get(idx));
    }
    std::string name = g->name;
    (*groups)[name] = std::move(g);
  }
  return {};
}

Status apply_idmp_snapshot(IdmpState* idmp, const schema::IdmpSnapshot* r) {
  idmp->restore(r->duration(), r->max_size(), r->configured(), r->added(), r->duplicates());
  const auto* pids = r->pids();
  const auto* owners = r->owners();
  const auto* iids = r->iids();
  const auto* ids = r->ids();
  const auto* times = r->times();
  size_t n = iids ? iids->size() : 0;
  if (n > 0 && (!pids || !owners || !ids || !times || owners->size() != n || ids->size() != n ||
                times->size() != n)) {
    return corrupt("idmp snapshot vectors differ in length");
  }
  for (size_t i = 0; i < n; ++i) {
    auto idx = static_cast<flatbuffers::uoffset_t>(i);
    uint32_t owner = owners->Get(idx);
    if (owner >= pids->size()) return corrupt("idmp snapshot owner out of range");
    idmp->restore_iid(sv(pids->Get(owner)), sv(iids->Get(idx)), from_fb(ids->Get(idx)),
                      times->Get(idx));
  }
  return {};
}

std::string idmp_snapshot_frame(const IdmpState& idmp) {
  flatbuffers::FlatBufferBuilder fbb(1024 + idmp.iids_tracked() * 64);
  std::vector<flatbuffers::Offset<flatbuffers::String>> pids;
  std::vector<uint32_t> owners;
  std::vector<flatbuffers::Offset<flatbuffers::String>> iids;
  std::vector<schema::EntryId> ids;
  std::vector<int64_t> times;
  for (const auto& [pid, p] : idmp.producers()) {
    auto owner = static_cast<uint32_t>(pids.size());
    pids.push_back(fbb.CreateString(pid.data(), pid.size()));
    for (const IdmpState::Iid& e : p.order) {
      owners.push_back(owner);
      iids.push_back(fbb.CreateString(e.iid.data(), e.iid.size()));
      ids.push_back(to_fb(e.id));
      times.push_back(e.added_ms);
    }
  }
  auto pv = fbb.CreateVector(pids);
  auto ov = fbb.CreateVector(owners);
  auto iv = fbb.CreateVector(iids);
  auto idv = fbb.CreateVectorOfStructs(ids);
  auto tv = fbb.CreateVector(times);
  fbb.Finish(schema::CreateIdmpSnapshot(fbb, idmp.duration_s(), idmp.max_size(), idmp.configured(),
                                        idmp.iids_added(), idmp.iids_duplicates(), pv, ov, iv, idv,
                                        tv));
  std::string frame;
  storage::append_frame(&frame, kIdmpSnapshotRecord, as_view(fbb));
  return frame;
}

}  // namespace

bool GroupStore::exists(const std::string& dir) {
  struct stat st {};
  return ::stat((dir + "/" + kJournalName + ".journal").c_str(), &st) == 0 ||
         ::stat((dir + "/" + kJournalName + ".snap").c_str(), &st) == 0;
}

wire::Result<std::unique_ptr<storage::Journal>> GroupStore::open(const std::string& dir,
                                                                 GroupMap* groups,
                                                                 uint64_t* truncated_bytes,
                                                                 IdmpState* idmp) {
  groups->clear();
  if (idmp) idmp->clear();
  auto replay = [groups, idmp](uint8_t type, std::string_view payload, bool) {
    return apply(groups, type, payload, idmp);
  };
  return storage::Journal::open(dir, kJournalName, replay, truncated_bytes);
}

Status GroupStore::apply(GroupMap* groups, uint8_t type, std::string_view payload,
                         IdmpState* idmp) {
  switch (type) {
    case kIdmpConfigRecord: {
      const auto* r = verified_root<schema::IdmpConfig>(payload);
      if (!r) return corrupt("idmp config");
      if (idmp) idmp->configure(r->duration(), r->max_size());
      return {};
    }
    case kIdmpAddRecord: {
      const auto* r = verified_root<schema::IdmpAdd>(payload);
      if (!r || !r->pid() || !r->iid()) return corrupt("idmp add");
      if (idmp) {
        idmp->add(sv(r->pid()), sv(r->iid()), from_fb(r->id()), r->time());
        idmp->set_counters(r->added(), idmp->iids_duplicates());
      }
      return {};
    }
    case kIdmpDuplicateRecord: {
      const auto* r = verified_root<schema::IdmpDuplicate>(payload);
      if (!r) return corrupt("idmp duplicate");
      if (idmp) idmp->set_counters(idmp->iids_added(), r->duplicates());
      return {};
    }
    case kIdmpSnapshotRecord: {
      const auto* r = verified_root<schema::IdmpSnapshot>(payload);
      if (!r) return corrupt("idmp snapshot");
      if (idmp) return apply_idmp_snapshot(idmp, r);
      return {};
    }
    case kGroupsSnapshotRecord: {
      const auto* r = verified_root<schema::GroupsSnapshot>(payload);
      if (!r) return corrupt("snapshot");
      return apply_snapshot(groups, r);
    }
    case kGroupStateRecord: {
      const auto* r = verified_root<schema::GroupState>(payload);
      if (!r || !r->group()) return corrupt("group state");
      auto& slot = (*groups)[std::string(sv(r->group()))];
      if (!slot || r->create()) slot = std::make_unique<ConsumerGroup>(std::string(sv(r->group())));
      slot->last_delivered_id = from_fb(r->last_delivered_id());
      slot->entries_read = r->entries_read();
      return {};
    }
    case kGroupDestroyRecord: {
      const auto* r = verified_root<schema::GroupDestroy>(payload);
      if (!r || !r->group()) return corrupt("group destroy");
      auto it = groups->find(sv(r->group()));
      if (it != groups->end()) groups->erase(it);
      return {};
    }
    case kConsumerSeenRecord: {
      const auto* r = verified_root<schema::ConsumerSeen>(payload);
      if (!r || !r->group() || !r->consumer()) return corrupt("consumer");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g) return {};
      Consumer* c = consumer_for(g, r->consumer());
      c->seen_time_ms = r->seen_time();
      c->active_time_ms = r->active_time();
      return {};
    }
    case kConsumerDeleteRecord: {
      const auto* r = verified_root<schema::ConsumerDelete>(payload);
      if (!r || !r->group() || !r->consumer()) return corrupt("consumer delete");
      ConsumerGroup* g = find_group(groups, r->group());
      if (g) g->delete_consumer(sv(r->consumer()));
      return {};
    }
    case kDeliverRecord: {
      const auto* r = verified_root<schema::Deliver>(payload);
      if (!r || !r->group() || !r->consumer()) return corrupt("deliver");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g) return {};
      Consumer* c = consumer_for(g, r->consumer());
      c->seen_time_ms = r->seen_time();
      c->active_time_ms = r->active_time();
      const auto* ids = r->ids();
      const auto* counts = r->counts();
      size_t n = ids ? ids->size() : 0;
      if (counts && counts->size() != 0 && counts->size() != n) {
        return corrupt("deliver counts differ from ids");
      }
      for (size_t i = 0; i < n; ++i) {
        auto idx = static_cast<flatbuffers::uoffset_t>(i);
        uint64_t count = counts && counts->size() ? counts->Get(idx) : 1;
        g->pel.assign(from_fb(ids->Get(idx)), c, r->delivery_time(), count);
      }
      if (r->set_cursor()) {
        g->last_delivered_id = from_fb(r->last_delivered_id());
        g->entries_read = r->entries_read();
      }
      return {};
    }
    case kNackRecord: {
      const auto* r = verified_root<schema::Nack>(payload);
      if (!r || !r->group()) return corrupt("nack");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g || !r->ids()) return {};
      const auto* counts = r->counts();
      if (!counts || counts->size() != r->ids()->size()) return corrupt("nack counts");
      for (flatbuffers::uoffset_t i = 0; i < r->ids()->size(); ++i) {
        g->pel.assign(from_fb(r->ids()->Get(i)), nullptr, 0, counts->Get(i));
      }
      return {};
    }
    case kGroupDlqRecord: {
      const auto* r = verified_root<schema::GroupDlq>(payload);
      if (!r || !r->group()) return corrupt("group dlq");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g) return {};
      g->max_deliveries = r->max_deliveries();
      if (sv(r->dlq_key()) != g->dlq_key) g->dlq_last_id = StreamId{};
      g->dlq_key = std::string(sv(r->dlq_key()));
      return {};
    }
    case kGroupConsumerIdleRecord: {
      const auto* r = verified_root<schema::GroupConsumerIdle>(payload);
      if (!r || !r->group()) return corrupt("group consumer idle");
      ConsumerGroup* g = find_group(groups, r->group());
      if (g) g->consumer_max_idle_ms = r->max_idle();
      return {};
    }
    case kDeadLetterRecord: {
      const auto* r = verified_root<schema::DeadLetter>(payload);
      if (!r || !r->group()) return corrupt("dead letter");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g) return {};
      if (r->ids()) {
        for (const auto* id : *r->ids()) g->pel.remove(from_fb(id));
      }
      g->dead_letters = r->dead_letters();
      Status st = replay_intent(g, r->intent());
      if (!st.is_ok()) return st;
      g->confirm_dead_letters(r->confirmed());
      return {};
    }
    case kAckRecord: {
      const auto* r = verified_root<schema::Ack>(payload);
      if (!r || !r->group()) return corrupt("ack");
      ConsumerGroup* g = find_group(groups, r->group());
      if (!g || !r->ids()) return {};
      for (const auto* id : *r->ids()) g->pel.remove(from_fb(id));
      return {};
    }
    default:
      return {ErrorCode::kCorruption, "unknown consumer-group record type " + std::to_string(type)};
  }
}

std::string GroupStore::snapshot_frames(const GroupMap& groups, const IdmpState* idmp) {
  size_t pel_total = 0;
  for (const auto& [name, g] : groups) pel_total += g->pel.size();
  flatbuffers::FlatBufferBuilder fbb(1024 + pel_total * 40);
  std::vector<flatbuffers::Offset<schema::GroupSnapshot>> group_offsets;
  for (const auto& [name, g] : groups) {
    std::vector<flatbuffers::Offset<schema::ConsumerSnapshot>> consumers;
    std::unordered_map<const Consumer*, uint32_t> index;
    for (const auto& [cname, c] : g->consumers) {
      index.emplace(c.get(), static_cast<uint32_t>(consumers.size()));
      consumers.push_back(
          schema::CreateConsumerSnapshot(fbb, fbb.CreateString(c->name.data(), c->name.size()),
                                         c->seen_time_ms, c->active_time_ms));
    }
    std::vector<schema::EntryId> ids;
    std::vector<uint32_t> owners;
    std::vector<int64_t> times;
    std::vector<uint64_t> counts;
    ids.reserve(g->pel.size());
    owners.reserve(g->pel.size());
    times.reserve(g->pel.size());
    counts.reserve(g->pel.size());
    for (const auto& [id, p] : g->pel.entries()) {
      ids.push_back(to_fb(id));
      owners.push_back(p.consumer ? index.at(p.consumer) : kNoOwner);
      times.push_back(p.delivery_time_ms);
      counts.push_back(p.delivery_count);
    }
    schema::EntryId last = to_fb(g->last_delivered_id);
    auto gname = fbb.CreateString(g->name.data(), g->name.size());
    auto cv = fbb.CreateVector(consumers);
    auto iv = fbb.CreateVectorOfStructs(ids);
    auto ov = fbb.CreateVector(owners);
    auto tv = fbb.CreateVector(times);
    auto nv = fbb.CreateVector(counts);
    flatbuffers::Offset<flatbuffers::String> dv;
    if (g->has_dlq()) dv = fbb.CreateString(g->dlq_key.data(), g->dlq_key.size());
    // A snapshot is durable before the DLQ appends of this iteration are: it keeps their intents.
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<schema::DeadLetterIntent>>> uv;
    if (!g->unconfirmed_dead_letters.empty()) {
      std::vector<flatbuffers::Offset<schema::DeadLetterIntent>> intents;
      for (const DeadLetterIntent& in : g->unconfirmed_dead_letters) {
        intents.push_back(intent_to_fb(fbb, in));
      }
      uv = fbb.CreateVector(intents);
    }
    schema::EntryId dlq_last = to_fb(g->dlq_last_id);
    group_offsets.push_back(schema::CreateGroupSnapshot(
        fbb, gname, &last, g->entries_read, cv, iv, ov, tv, nv, g->max_deliveries, dv,
        g->dead_letters, g->consumer_max_idle_ms, &dlq_last, g->dead_letters_confirmed, uv));
  }
  fbb.Finish(schema::CreateGroupsSnapshot(fbb, fbb.CreateVector(group_offsets)));
  std::string frames;
  storage::append_frame(&frames, kGroupsSnapshotRecord, as_view(fbb));
  if (idmp && idmp->in_use()) frames += idmp_snapshot_frame(*idmp);
  return frames;
}

Status GroupStore::commit(uint8_t type, std::string_view payload) {
  Status st = journal_.append(type, payload);
  if (!st.is_ok()) return st;
  uint64_t bytes = journal_.journal_bytes();
  if (bytes < kMinSnapshotJournalBytes) return {};
  uint64_t estimate = 0;
  for (const auto& [name, g] : groups_) {
    estimate += 128 + g->pel.size() * 40 + g->consumers.size() * 64;
  }
  if (idmp_) estimate += 128 + idmp_->iids_tracked() * 96;
  if (bytes < 2 * estimate) return {};
  return journal_.write_snapshot(snapshot_frames(groups_, idmp_));
}

Status GroupStore::group_state(const ConsumerGroup& g, bool create) {
  auto& fbb = builder();
  schema::EntryId last = to_fb(g.last_delivered_id);
  fbb.Finish(schema::CreateGroupState(fbb, fbb.CreateString(g.name.data(), g.name.size()), &last,
                                      g.entries_read, create));
  return commit(kGroupStateRecord, as_view(fbb));
}

Status GroupStore::group_destroy(std::string_view group) {
  auto& fbb = builder();
  fbb.Finish(schema::CreateGroupDestroy(fbb, fbb.CreateString(group.data(), group.size())));
  return commit(kGroupDestroyRecord, as_view(fbb));
}

Status GroupStore::consumer_seen(const ConsumerGroup& g, const Consumer& c) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  auto cname = fbb.CreateString(c.name.data(), c.name.size());
  fbb.Finish(schema::CreateConsumerSeen(fbb, gname, cname, c.seen_time_ms, c.active_time_ms));
  return commit(kConsumerSeenRecord, as_view(fbb));
}

Status GroupStore::consumer_delete(const ConsumerGroup& g, std::string_view consumer) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  auto cname = fbb.CreateString(consumer.data(), consumer.size());
  fbb.Finish(schema::CreateConsumerDelete(fbb, gname, cname));
  return commit(kConsumerDeleteRecord, as_view(fbb));
}

Status GroupStore::deliver(const ConsumerGroup& g, const Consumer& c, int64_t delivery_time_ms,
                           std::span<const StreamId> ids, std::span<const uint64_t> counts,
                           bool set_cursor) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  auto cname = fbb.CreateString(c.name.data(), c.name.size());
  schema::EntryId* fb_ids = nullptr;
  auto iv = fbb.CreateUninitializedVectorOfStructs(ids.size(), &fb_ids);
  for (size_t i = 0; i < ids.size(); ++i) fb_ids[i] = to_fb(ids[i]);
  flatbuffers::Offset<flatbuffers::Vector<uint64_t>> cv;
  if (!counts.empty()) cv = fbb.CreateVector(counts.data(), counts.size());
  schema::EntryId last = to_fb(g.last_delivered_id);
  fbb.Finish(schema::CreateDeliver(fbb, gname, cname, delivery_time_ms, c.seen_time_ms,
                                   c.active_time_ms, iv, cv, set_cursor, &last, g.entries_read));
  return commit(kDeliverRecord, as_view(fbb));
}

Status GroupStore::ack(const ConsumerGroup& g, std::span<const StreamId> ids) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  schema::EntryId* fb_ids = nullptr;
  auto iv = fbb.CreateUninitializedVectorOfStructs(ids.size(), &fb_ids);
  for (size_t i = 0; i < ids.size(); ++i) fb_ids[i] = to_fb(ids[i]);
  fbb.Finish(schema::CreateAck(fbb, gname, iv));
  return commit(kAckRecord, as_view(fbb));
}

Status GroupStore::nack(const ConsumerGroup& g, std::span<const StreamId> ids,
                        std::span<const uint64_t> counts) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  schema::EntryId* fb_ids = nullptr;
  auto iv = fbb.CreateUninitializedVectorOfStructs(ids.size(), &fb_ids);
  for (size_t i = 0; i < ids.size(); ++i) fb_ids[i] = to_fb(ids[i]);
  auto cv = fbb.CreateVector(counts.data(), counts.size());
  fbb.Finish(schema::CreateNack(fbb, gname, iv, cv));
  return commit(kNackRecord, as_view(fbb));
}

Status GroupStore::group_dlq(const ConsumerGroup& g) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  auto key = fbb.CreateString(g.dlq_key.data(), g.dlq_key.size());
  fbb.Finish(schema::CreateGroupDlq(fbb, gname, g.max_deliveries, key));
  return commit(kGroupDlqRecord, as_view(fbb));
}

Status GroupStore::group_consumer_idle(const ConsumerGroup& g) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  fbb.Finish(schema::CreateGroupConsumerIdle(fbb, gname, g.consumer_max_idle_ms));
  return commit(kGroupConsumerIdleRecord, as_view(fbb));
}

Status GroupStore::dead_letter(const ConsumerGroup& g, std::span<const StreamId> ids,
                               const DeadLetterIntent* intent) {
  auto& fbb = builder();
  auto gname = fbb.CreateString(g.name.data(), g.name.size());
  schema::EntryId* fb_ids = nullptr;
  auto iv = fbb.CreateUninitializedVectorOfStructs(ids.size(), &fb_ids);
  for (size_t i = 0; i < ids.size(); ++i) fb_ids[i] = to_fb(ids[i]);
  flatbuffers::Offset<schema::DeadLetterIntent> in;
  if (intent) in = intent_to_fb(fbb, *intent);
  fbb.Finish(
      schema::CreateDeadLetter(fbb, gname, iv, g.dead_letters, in, g.dead_letters_confirmed));
  return commit(kDeadLetterRecord, as_view(fbb));
}

Status GroupStore::idmp_config(const IdmpState& idmp) {
  auto& fbb = builder();
  fbb.Finish(schema::CreateIdmpConfig(fbb, idmp.duration_s(), idmp.max_size()));
  return commit(kIdmpConfigRecord, as_view(fbb));
}

Status GroupStore::idmp_add(const IdmpState& idmp, std::string_view pid, std::string_view iid,
                            StreamId id, int64_t time_ms) {
  auto& fbb = builder();
  auto p = fbb.CreateString(pid.data(), pid.size());
  auto i = fbb.CreateString(iid.data(), iid.size());
  schema::EntryId eid = to_fb(id);
  fbb.Finish(schema::CreateIdmpAdd(fbb, p, i, &eid, time_ms, idmp.iids_added()));
  return commit(kIdmpAddRecord, as_view(fbb));
}

Status GroupStore::idmp_duplicate(const IdmpState& idmp) {
  auto& fbb = builder();
  fbb.Finish(schema::CreateIdmpDuplicate(fbb, idmp.iids_duplicates()));
  return commit(kIdmpDuplicateRecord, as_view(fbb));
}

Status load_stream_groups(Stream& s, uint64_t* truncated_bytes) {
  if (!GroupStore::exists(s.dir())) return {};
  auto journal = GroupStore::open(s.dir(), &s.groups, truncated_bytes, &s.idmp);
  if (!journal) return journal.status();
  s.group_journal = std::move(*journal);
  return {};
}

std::optional<GroupStore> group_store(Stream& s, Status* error) {
  if (!s.group_journal) {
    GroupMap scratch;
    auto journal = GroupStore::open(s.dir(), &scratch);
    if (!journal) {
      *error = journal.status();
      return std::nullopt;
    }
    s.group_journal = std::move(*journal);
  }
  return std::optional<GroupStore>(std::in_place, *s.group_journal, s.groups, &s.idmp);
}

}  // namespace sluice::stream
