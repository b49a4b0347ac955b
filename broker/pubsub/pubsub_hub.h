// PubSubHub: channel, pattern and shard-channel subscriptions, and fan-out of published
// messages, serialised once per protocol and shared by every receiving connection.
//
// Contract: the hub keeps raw Client pointers; a client must be passed to remove_client()
// before it is destroyed (Broker::remove_client does). The per-client view of the subscriptions
// lives in Client::channels / patterns / shard_channels and is kept in step by the hub, so
// Client::is_pubsub_client() is always the RESP2 subscribed-mode test.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/client.h"
#include "broker/core/database.h"

namespace sluice::core {
class Broker;
}

namespace sluice::pubsub {

// The two namespaces of exact-name channels: PUBLISH/SUBSCRIBE and SPUBLISH/SSUBSCRIBE never
// see each other's messages.
enum class ChannelSpace : uint8_t { kGlobal, kShard };

class PubSubHub {
 public:
  explicit PubSubHub(core::Broker& broker) : broker_(broker) {}
  PubSubHub(const PubSubHub&) = delete;
  PubSubHub& operator=(const PubSubHub&) = delete;

  // Delivers `message` to subscribers of `channel` and of matching patterns; returns receivers
  // (a client subscribed both to the channel and to a matching pattern counts, and receives,
  // twice, as in Redis).
  size_t publish(std::string_view channel, std::string_view message);
  // SPUBLISH: only the shard channel's subscribers, as `smessage`.
  size_t spublish(std::string_view channel, std::string_view message);

  // Each returns whether the subscription set changed (subscribing twice is a no-op).
  bool subscribe(core::Client& client, ChannelSpace space, std::string_view channel);
  bool unsubscribe(core::Client& client, ChannelSpace space, std::string_view channel);
  bool psubscribe(core::Client& client, std::string_view pattern);
  bool punsubscribe(core::Client& client, std::string_view pattern);

  // Drops every subscription of a client (disconnect, RESET), without replies.
  void remove_client(core::Client& client);

  // PUBSUB CHANNELS / SHARDCHANNELS: active channels matching `pattern` (all when null).
  std::vector<std::string_view> channels(ChannelSpace space, const std::string_view* pattern) const;
  // PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel (patterns not counted).
  size_t subscriber_count(ChannelSpace space, std::string_view channel) const;

  // INFO stats; pattern_count() is the number of distinct patterns (PUBSUB NUMPAT).
  size_t channel_count() const { return channels_.size(); }
  size_t pattern_count() const { return patterns_.size(); }
  size_t shard_channel_count() const { return shard_channels_.size(); }
  // Messages published since start (PUBLISH and SPUBLISH, with or without receivers).
  uint64_t messages_published() const { return messages_published_; }
  // Every subscribed pattern with its subscriber count, in first-subscription order.
  std::vector<std::pair<std::string_view, size_t>> pattern_subscribers() const;

 private:
  // Subscribers in subscription order: delivery order is stable and matches Redis's lists.
  using Subscribers = std::vector<core::Client*>;
  using ChannelMap =
      std::unordered_map<std::string, Subscribers, core::StringHash, std::equal_to<>>;
  struct PatternEntry {
    std::string pattern;
    Subscribers subscribers;
  };

  ChannelMap& space_map(ChannelSpace space) {
    return space == ChannelSpace::kGlobal ? channels_ : shard_channels_;
  }
  const ChannelMap& space_map(ChannelSpace space) const {
    return space == ChannelSpace::kGlobal ? channels_ : shard_channels_;
  }
  size_t deliver_to_channel(const ChannelMap& map, std::string_view kind, std::string_view channel,
                            std::string_view message);

  [[maybe_unused]] core::Broker& broker_;
  ChannelMap channels_;
  ChannelMap shard_channels_;
  // Patterns in first-subscription order; pattern_index_ finds one by its text.
  std::vector<std::unique_ptr<PatternEntry>> patterns_;
  std::unordered_map<std::string_view, PatternEntry*> pattern_index_;
  uint64_t messages_published_ = 0;
};

}  // namespace sluice::pubsub
