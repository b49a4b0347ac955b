#include "broker/stream/consumer_group.h"

#include <algorithm>
#include <chrono>

#include "broker/stream/stream.h"

namespace sluice::stream {

using wire::StreamId;

Consumer* ConsumerGroup::find_consumer(std::string_view consumer_name) {
  auto it = consumers.find(consumer_name);
  return it == consumers.end() ? nullptr : it->second.get();
}

int64_t ConsumerGroup::wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t ConsumerGroup::last_active_ms() const {
  int64_t t = base_time_ms;
  for (const auto& [consumer_name, c] : consumers) t = std::max(t, c->seen_time_ms);
  return t;
}

Consumer* ConsumerGroup::ensure_consumer(std::string_view consumer_name, int64_t now_ms,
                                         bool* created) {
  auto it = consumers.find(consumer_name);
  *created = it == consumers.end();
  if (!*created) return it->second.get();
  auto c = std::make_unique<Consumer>(std::string(consumer_name));
  c->seen_time_ms = now_ms;
  Consumer* raw = c.get();
  consumers.emplace(raw->name, std::move(c));
  return raw;
}

uint64_t ConsumerGroup::delete_consumer(std::string_view consumer_name) {
  auto it = consumers.find(consumer_name);
  if (it == consumers.end()) return 0;
  uint64_t n = pel.remove_all_of(it->second.get());
  consumers.erase(it);
  return n;
}

void ConsumerGroup::advance_cursor(const Stream& s, StreamId id) {
  if (!(id > last_delivered_id)) return;
  if (entries_read != kEntriesReadUnknown && !has_tombstones_from(s, id)) {
    // A valid counter and no tombstone ahead: the counter can simply count this entry.
    ++entries_read;
  } else if (s.entries_added() > 0) {
    entries_read = estimate_entries_read(s, id);
  }
  last_delivered_id = id;
}

bool has_tombstones_from(const Stream& s, StreamId start) {
  StreamId max_deleted = s.max_deleted_id();
  if (s.length() == 0 || max_deleted.is_zero()) return false;
  if (s.first_id() > max_deleted) return false;  // the latest tombstone is before the first entry
  return start <= max_deleted;
}

int64_t estimate_entries_read(const Stream& s, StreamId id) {
  const auto added = static_cast<int64_t>(s.entries_added());
  if (added == 0) return 0;  // a never-used stream: every counter is 0
  if (s.length() == 0 && id <= s.last_id()) return added;
  if (id == s.last_id()) return added;
  if (id > s.last_id()) return kEntriesReadUnknown;  // a future ID
  StreamId max_deleted = s.max_deleted_id();
  if (max_deleted.is_zero() || max_deleted < s.first_id()) {
    // No fragmentation ahead of the first entry.
    const auto length = static_cast<int64_t>(s.length());
    if (id < s.first_id()) return added - length;
    if (id == s.first_id()) return added - length + 1;
  }
  return kEntriesReadUnknown;
}

std::optional<int64_t> group_lag(const Stream& s, const ConsumerGroup& g) {
  const auto added = static_cast<int64_t>(s.entries_added());
  if (added == 0) return 0;
  if (g.entries_read != kEntriesReadUnknown && !has_tombstones_from(s, g.last_delivered_id)) {
    return added - g.entries_read;
  }
  int64_t read = estimate_entries_read(s, g.last_delivered_id);
  if (read == kEntriesReadUnknown) return std::nullopt;
  return added - read;
}

}  // namespace sluice::stream
