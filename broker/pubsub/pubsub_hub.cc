#include "broker/pubsub/pubsub_hub.h"

#include <algorithm>

#include "broker/core/glob.h"
#include "broker/pubsub/message_frame.h"

namespace sluice::pubsub {
namespace {

// Queues a shared frame on one receiver. The host schedules the write (once per loop
// iteration) and checks the output-buffer limit; a client over it is closed later, from the
// loop, so the subscriber list being walked never changes under us.
void deliver(core::Client& client, const Frame& frame) {
  client.out.append_shared(frame);
  if (client.host) client.host->output_ready(client);
}

void erase_subscriber(std::vector<core::Client*>& subs, core::Client* client) {
  auto it = std::find(subs.begin(), subs.end(), client);
  if (it != subs.end()) subs.erase(it);
}

std::set<std::string>& client_set(core::Client& client, ChannelSpace space) {
  return space == ChannelSpace::kGlobal ? client.channels : client.shard_channels;
}

}  // namespace

size_t PubSubHub::deliver_to_channel(const ChannelMap& map, std::string_view kind,
                                     std::string_view channel, std::string_view message) {
  auto it = map.find(channel);
  if (it == map.end()) return 0;
  LazyFrames frames;
  for (core::Client* c : it->second) {
    deliver(*c, frames.get(c->protocol, [&](int protocol) {
      return make_message_frame(protocol, kind, channel, message);
    }));
  }
  return it->second.size();
}

std::vector<std::pair<std::string_view, size_t>> PubSubHub::pattern_subscribers() const {
  std::vector<std::pair<std::string_view, size_t>> out;
  out.reserve(patterns_.size());
  for (const auto& entry : patterns_) out.emplace_back(entry->pattern, entry->subscribers.size());
  return out;
}

size_t PubSubHub::publish(std::string_view channel, std::string_view message) {
  ++messages_published_;
  size_t receivers = deliver_to_channel(channels_, "message", channel, message);
  for (const auto& entry : patterns_) {
    if (!core::glob_match(entry->pattern, channel)) continue;
    LazyFrames frames;
    for (core::Client* c : entry->subscribers) {
      deliver(*c, frames.get(c->protocol, [&](int protocol) {
        return make_pmessage_frame(protocol, entry->pattern, channel, message);
      }));
    }
    receivers += entry->subscribers.size();
  }
  return receivers;
}

size_t PubSubHub::spublish(std::string_view channel, std::string_view message) {
  ++messages_published_;
  return deliver_to_channel(shard_channels_, "smessage", channel, message);
}

bool PubSubHub::subscribe(core::Client& client, ChannelSpace space, std::string_view channel) {
  auto [pos, added] = client_set(client, space).emplace(channel);
  if (!added) return false;
  ChannelMap& map = space_map(space);
  auto it = map.find(channel);
  if (it == map.end()) it = map.emplace(std::string(channel), Subscribers{}).first;
  it->second.push_back(&client);
  return true;
}

bool PubSubHub::unsubscribe(core::Client& client, ChannelSpace space, std::string_view channel) {
  auto& mine = client_set(client, space);
  auto pos = mine.find(std::string(channel));
  if (pos == mine.end()) return false;
  mine.erase(pos);
  ChannelMap& map = space_map(space);
  auto it = map.find(channel);
  if (it != map.end()) {
    erase_subscriber(it->second, &client);
    if (it->second.empty()) map.erase(it);
  }
  return true;
}

bool PubSubHub::psubscribe(core::Client& client, std::string_view pattern) {
  auto [pos, added] = client.patterns.emplace(pattern);
  if (!added) return false;
  auto it = pattern_index_.find(pattern);
  PatternEntry* entry = nullptr;
  if (it == pattern_index_.end()) {
    patterns_.push_back(std::make_unique<PatternEntry>());
    entry = patterns_.back().get();
    entry->pattern.assign(pattern);
    pattern_index_.emplace(entry->pattern, entry);
  } else {
    entry = it->second;
  }
  entry->subscribers.push_back(&client);
  return true;
}

bool PubSubHub::punsubscribe(core::Client& client, std::string_view pattern) {
  auto pos = client.patterns.find(std::string(pattern));
  if (pos == client.patterns.end()) return false;
  client.patterns.erase(pos);
  auto it = pattern_index_.find(pattern);
  if (it == pattern_index_.end()) return true;
  PatternEntry* entry = it->second;
  erase_subscriber(entry->subscribers, &client);
  if (entry->subscribers.empty()) {
    pattern_index_.erase(it);
    std::erase_if(patterns_, [&](const auto& p) { return p.get() == entry; });
  }
  return true;
}

void PubSubHub::remove_client(core::Client& client) {
  while (!client.channels.empty()) {
    std::string channel = *client.channels.begin();
    unsubscribe(client, ChannelSpace::kGlobal, channel);
  }
  while (!client.shard_channels.empty()) {
    std::string channel = *client.shard_channels.begin();
    unsubscribe(client, ChannelSpace::kShard, channel);
  }
  while (!client.patterns.empty()) {
    std::string pattern = *client.patterns.begin();
    punsubscribe(client, pattern);
  }
}

std::vector<std::string_view> PubSubHub::channels(ChannelSpace space,
                                                  const std::string_view* pattern) const {
  std::vector<std::string_view> out;
  for (const auto& [name, subs] : space_map(space)) {
    if (!pattern || core::glob_match(*pattern, name)) out.push_back(name);
  }
  return out;
}

size_t PubSubHub::subscriber_count(ChannelSpace space, std::string_view channel) const {
  const ChannelMap& map = space_map(space);
  auto it = map.find(channel);
  return it == map.end() ? 0 : it->second.size();
}

}  // namespace sluice::pubsub
