// ConsumerGroup: a stream's consumer group — last-delivered-id, entries-read, consumers and the
// pending entries list. (Built out by the consumer-group module; the stream owns the groups.)
#pragma once

#include <cstdint>
#include <string>

#include "wire/stream_id.h"

namespace sluice::stream {

class ConsumerGroup {
 public:
  explicit ConsumerGroup(std::string group_name) : name(std::move(group_name)) {}
  std::string name;
  wire::StreamId last_delivered_id;
  int64_t entries_read = -1;  // -1: unknown (Redis's SCG_INVALID_ENTRIES_READ)
};

}  // namespace sluice::stream
