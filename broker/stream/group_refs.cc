#include "broker/stream/group_refs.h"

#include "broker/stream/stream.h"

namespace sluice::stream {

bool entry_referenced(const Stream& s, StreamId id) {
  for (const auto& [name, g] : s.groups) {
    if (id > g->last_delivered_id) return true;
    if (g->pel.find(id)) return true;
  }
  return false;
}

std::optional<StreamId> first_referenced_id(const Stream& s) {
  std::optional<StreamId> first;
  auto consider = [&first](StreamId id) {
    if (!first || id < *first) first = id;
  };
  for (const auto& [name, g] : s.groups) {
    if (!g->pel.empty()) consider(g->pel.entries().begin()->first);
    StreamId undelivered;
    if (g->last_delivered_id.increment(&undelivered)) consider(undelivered);
  }
  return first;
}

std::vector<RemovedRefs> remove_refs(Stream& s, std::span<const StreamId> ids,
                                     const ConsumerGroup* skip) {
  std::vector<RemovedRefs> removed;
  for (auto& [name, g] : s.groups) {
    if (g.get() == skip) continue;
    RemovedRefs r{g.get(), {}};
    for (StreamId id : ids) {
      if (g->pel.remove(id)) r.ids.push_back(id);
    }
    if (!r.ids.empty()) removed.push_back(std::move(r));
  }
  return removed;
}

std::vector<RemovedRefs> remove_refs_between(Stream& s, StreamId from, StreamId to) {
  std::vector<RemovedRefs> removed;
  for (auto& [name, g] : s.groups) {
    RemovedRefs r{g.get(), {}};
    for (auto it = g->pel.lower_bound(from); it != g->pel.end() && it->first < to;) {
      r.ids.push_back(it->first);
      it = g->pel.erase(it);
    }
    if (!r.ids.empty()) removed.push_back(std::move(r));
  }
  return removed;
}

wire::Status journal_removed_refs(GroupStore& store, const std::vector<RemovedRefs>& removed) {
  for (const RemovedRefs& r : removed) {
    wire::Status st = store.ack(*r.group, r.ids);
    if (!st.is_ok()) return st;
  }
  return {};
}

wire::Result<uint64_t> trim_with_refs(Stream& s, const TrimSpec& spec, RefPolicy policy,
                                      bool* groups_changed) {
  *groups_changed = false;
  TrimSpec capped = spec;
  if (policy == RefPolicy::kAcked) {
    std::optional<StreamId> keep = first_referenced_id(s);
    if (keep && (!capped.keep_from || *keep < *capped.keep_from)) capped.keep_from = keep;
  }
  const StreamId old_start = s.start();
  auto removed = s.trim(capped);
  if (!removed || *removed == 0 || policy != RefPolicy::kDelRef) return removed;
  std::vector<RemovedRefs> refs = remove_refs_between(s, old_start, s.start());
  if (refs.empty()) return removed;
  *groups_changed = true;
  wire::Status st;
  auto store = group_store(s, &st);
  if (!store) return st;
  st = journal_removed_refs(*store, refs);
  if (!st.is_ok()) return st;
  return removed;
}

}  // namespace sluice::stream
