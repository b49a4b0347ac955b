#include "broker/stream/pending_list.h"

namespace sluice::stream {

void PendingList::assign(StreamId id, Consumer* owner, int64_t delivery_time_ms,
                         uint64_t delivery_count) {
  auto [it, inserted] = entries_.try_emplace(id);
  Pending& p = it->second;
  if (!inserted && p.consumer != owner && p.consumer) p.consumer->pending.erase(id);
  if (owner && (inserted || p.consumer != owner)) owner->pending.insert(owner->pending.end(), id);
  p.consumer = owner;
  p.delivery_time_ms = delivery_time_ms;
  p.delivery_count = delivery_count;
}

bool PendingList::remove(StreamId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  erase(it);
  return true;
}

PendingList::Map::iterator PendingList::erase(Map::iterator it) {
  if (it->second.consumer) it->second.consumer->pending.erase(it->first);
  return entries_.erase(it);
}

uint64_t PendingList::remove_all_of(Consumer* owner) {
  uint64_t n = owner->pending.size();
  for (StreamId id : owner->pending) entries_.erase(id);
  owner->pending.clear();
  return n;
}

Pending* PendingList::find(StreamId id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

const Pending* PendingList::find(StreamId id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace sluice::stream
