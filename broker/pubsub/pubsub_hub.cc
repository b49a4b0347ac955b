#include "broker/pubsub/pubsub_hub.h"

namespace sluice::pubsub {

size_t PubSubHub::publish(std::string_view, std::string_view) { return 0; }
void PubSubHub::remove_client(core::Client&) {}
size_t PubSubHub::channel_count() const { return 0; }
size_t PubSubHub::pattern_count() const { return 0; }
size_t PubSubHub::shard_channel_count() const { return 0; }

}  // namespace sluice::pubsub
