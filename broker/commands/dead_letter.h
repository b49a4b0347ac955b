// Dead-letter streams (XGROUP SETDLQ, a Sluice extension): a group given a maximum number of
// deliveries moves an entry that would be delivered more often than that (XREADGROUP history and
// CLAIM re-deliveries, XCLAIM, XAUTOCLAIM), or that is XNACKed FATAL, to its dead-letter stream
// and acknowledges it. The DLQ entry and the acknowledgement are made in the same command, so
// they reach the disk in the same flush and group commit, and the reply waits for that sync.
#pragma once

#include <cstdint>
#include <string_view>

#include "broker/core/broker.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

inline constexpr std::string_view kDeadLetterMaxDeliveries = "max-deliveries";
inline constexpr std::string_view kDeadLetterFatal = "fatal";

// Whether a delivery that brings the entry's count to `next_count` must dead-letter it instead.
inline bool dead_letter_due(const stream::ConsumerGroup& g, uint64_t next_count) {
  return g.has_dlq() && next_count > g.max_deliveries;
}

// Appends pending entry `id` of `g` (on stream `s` of database `db`) to the group's dead-letter
// stream with its metadata and `reason`, removes it from the PEL and journals both. Returns true
// if it was dead-lettered; false (nothing changed) when the DLQ key holds another type or the
// entry no longer exists. A storage failure is returned in *st.
// Both streams are marked dirty; a command handler still sets ctx.wrote (group_written).
bool dead_letter(core::Broker& broker, int db, int64_t now_ms, stream::Stream& s,
                 stream::ConsumerGroup& g, wire::StreamId id, std::string_view reason,
                 stream::GroupStore& store, wire::Status* st);

}  // namespace sluice::commands
