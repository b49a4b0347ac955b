// PubSubHub: channel, pattern and shard-channel subscriptions, and fan-out of published
// messages, serialised once per protocol and shared by every receiving connection.
#pragma once

#include <cstddef>
#include <string_view>

#include "broker/core/client.h"

namespace sluice::core {
class Broker;
}

namespace sluice::pubsub {

class PubSubHub {
 public:
  explicit PubSubHub(core::Broker& broker) : broker_(broker) {}
  // Delivers `message` to subscribers of `channel` and of matching patterns; returns receivers.
  size_t publish(std::string_view channel, std::string_view message);
  // Drops every subscription of a client (disconnect, RESET).
  void remove_client(core::Client& client);
  // INFO stats.
  size_t channel_count() const;
  size_t pattern_count() const;
  size_t shard_channel_count() const;

 private:
  core::Broker& broker_;
};

}  // namespace sluice::pubsub
