#include "broker/console/history.h"

#include "broker/commands/command_table.h"
#include "broker/core/memory.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/stream_engine.h"

namespace sluice::console {

History::Reading History::read(core::Broker& broker) {
  static const commands::CommandSpec* xadd = commands::command_table().find("xadd");
  const core::Stats& st = broker.stats();
  Reading r{};
  r[kCommands] = st.total_commands_processed;
  r[kXadd] = xadd ? xadd->stats.calls : 0;
  r[kDeliveries] = st.stream_deliveries;
  r[kErrors] = st.total_error_replies;
  r[kPublished] = broker.pubsub().messages_published();
  r[kUsedMemory] = core::used_memory();
  r[kClients] = broker.control ? broker.control->connected_clients() : 0;
  return r;
}

History::History()
    : rings_(std::make_unique<std::array<std::array<uint64_t, kSeconds>, kSeriesCount>>()) {}

void History::tick(int64_t now_ms, const Reading& reading) {
  last_ms_ = now_ms;
  if (!primed_) {
    primed_ = true;
    previous_ = reading;
    return;
  }
  for (size_t s = 0; s < kSeriesCount; ++s) {
    uint64_t v = reading[s];
    if (s < kUsedMemory) v = reading[s] >= previous_[s] ? reading[s] - previous_[s] : 0;
    (*rings_)[s][head_] = v;
  }
  previous_ = reading;
  head_ = (head_ + 1) % kSeconds;
  if (size_ < kSeconds) ++size_;
}

uint64_t History::at(Series series, size_t i) const {
  size_t oldest = (head_ + kSeconds - size_) % kSeconds;
  return (*rings_)[series][(oldest + i) % kSeconds];
}

void LagHistory::release(std::map<TrackKey, Ring*, std::less<>>::iterator it) {
  free_.push_back(it->second);
  tracks_.erase(it);
}

void LagHistory::tick(core::Broker& broker, int64_t now_ms) {
  const auto& streams = broker.streams().by_number();
  auto it = streams.upper_bound(cursor_);
  if (it == streams.end()) {
    // Wrapped: the groups of streams numbered from the cursor on that are no longer open are
    // gone (the others were visited after the cursor passed them).
    for (auto t = tracks_.lower_bound(TrackKey{cursor_, std::string()}); t != tracks_.end();) {
      if (!streams.contains(t->first.first)) {
        release(t++);
      } else {
        ++t;
      }
    }
    cursor_ = 0;
    it = streams.begin();
  }
  for (size_t visited = 0; it != streams.end() && visited < kStreamsPerTick; ++it, ++visited) {
    const uint64_t number = it->first;
    const stream::Stream& s = *it->second;
    // Tracks of streams numbered between the previous visit and this one: those streams are gone.
    auto t = tracks_.upper_bound(TrackKey{cursor_, std::string()});
    while (t != tracks_.end() && t->first.first < number) {
      if (t->first.first > cursor_) {
        release(t++);
      } else {
        ++t;
      }
    }
    cursor_ = number;
    for (auto u = tracks_.lower_bound(TrackKey{number, std::string()});
         u != tracks_.end() && u->first.first == number; ++u) {
      u->second->seen = false;
    }
    for (const auto& [name, g] : s.groups) {
      auto found = tracks_.find(TrackKey{number, name});
      Ring* ring;
      if (found != tracks_.end()) {
        ring = found->second;
      } else {
        if (tracks_.size() >= kMaxGroups) continue;
        if (free_.empty()) {
          pool_.push_back(std::make_unique<Ring>());
          free_.push_back(pool_.back().get());
        }
        ring = free_.back();
        free_.pop_back();
        ring->head = 0;
        ring->size = 0;
        tracks_.emplace(TrackKey{number, name}, ring);
      }
      ring->seen = true;
      if (ring->size > 0) {
        size_t newest = (ring->head + kSamples - 1) % kSamples;
        if (now_ms - ring->ms[newest] < kIntervalMs) continue;
      }
      std::optional<int64_t> lag = stream::group_lag(s, *g);
      ring->ms[ring->head] = now_ms;
      ring->lag[ring->head] = lag ? *lag : kUnknown;
      ring->head = (ring->head + 1) % kSamples;
      if (ring->size < kSamples) ++ring->size;
    }
    // Groups of this stream that were destroyed.
    for (auto u = tracks_.lower_bound(TrackKey{number, std::string()});
         u != tracks_.end() && u->first.first == number;) {
      if (!u->second->seen) {
        release(u++);
      } else {
        ++u;
      }
    }
  }
}

std::vector<LagHistory::Point> LagHistory::points(uint64_t stream_number,
                                                  std::string_view group) const {
  std::vector<Point> out;
  auto it = tracks_.find(TrackKey{stream_number, std::string(group)});
  if (it == tracks_.end()) return out;
  const Ring& ring = *it->second;
  out.reserve(ring.size);
  size_t oldest = (ring.head + kSamples - ring.size) % kSamples;
  for (size_t i = 0; i < ring.size; ++i) {
    size_t k = (oldest + i) % kSamples;
    out.emplace_back(ring.ms[k],
                     ring.lag[k] == kUnknown ? std::nullopt : std::optional<int64_t>(ring.lag[k]));
  }
  return out;
}

}  // namespace sluice::console
