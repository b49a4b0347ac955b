// PendingList: a consumer group's pending entries list (PEL), Redis's two-level PEL. The group
// keeps every pending ID in an ordered map with its owner, last delivery time and delivery
// count; each consumer keeps an ordered set of the IDs it owns. Both levels are ordered by ID,
// so XPENDING ranges, the XAUTOCLAIM cursor and a consumer's history are plain range scans.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "wire/stream_id.h"

namespace sluice::stream {

using wire::StreamId;

struct Consumer {
  explicit Consumer(std::string consumer_name) : name(std::move(consumer_name)) {}
  std::string name;
  int64_t seen_time_ms = 0;     // last time the consumer read or claimed (XINFO idle)
  int64_t active_time_ms = -1;  // last successful delivery or claim (-1: never)
  std::set<StreamId> pending;   // IDs it owns, a subset of the group's PEL
};

struct Pending {
  Consumer* consumer = nullptr;  // null: released by XNACK, owned by no consumer
  int64_t delivery_time_ms = 0;
  uint64_t delivery_count = 0;
};

// Invariant (checked by SLUICE_CHECK in debug paths of the tests): an ID is in entries() with
// owner c exactly when it is in c->pending.
class PendingList {
 public:
  using Map = std::map<StreamId, Pending>;

  // Makes `id` pending for `owner` (null: for no consumer, XNACK) with the given delivery time
  // and count, moving it from its previous owner if it had one.
  void assign(StreamId id, Consumer* owner, int64_t delivery_time_ms, uint64_t delivery_count);
  // Removes `id` from the PEL and its owner; false if it was not pending.
  bool remove(StreamId id);
  // Removes every entry `owner` holds; returns how many.
  uint64_t remove_all_of(Consumer* owner);

  Pending* find(StreamId id);
  const Pending* find(StreamId id) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const Map& entries() const { return entries_; }
  Map::iterator lower_bound(StreamId id) { return entries_.lower_bound(id); }
  Map::iterator end() { return entries_.end(); }
  // Erases the entry at `it` (and from its owner), returns the next one.
  Map::iterator erase(Map::iterator it);

 private:
  Map entries_;
};

}  // namespace sluice::stream
