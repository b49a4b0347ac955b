// The replication effects of the stream commands whose arguments do not determine their result
// (replication.h lists them): XADD with its concrete ID, trimming as an exact MAXLEN, and group
// deliveries as XCLAIM / XGROUP SETID.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "broker/core/broker.h"
#include "broker/stream/consumer_group.h"
#include "wire/stream_id.h"

namespace sluice::commands {

// XADD key [MAXLEN = <length after>] <id> field value ...
void propagate_xadd(core::Broker& broker, int db, std::string_view key, wire::StreamId id,
                    std::span<const std::string_view> fields, bool trimmed, uint64_t length);
// XTRIM key MAXLEN = <length after>
void propagate_xtrim(core::Broker& broker, int db, std::string_view key, uint64_t length);
// `consumer` of `g` now owns `ids` with delivery time `now` and `counts` (empty: all 1); the
// group's cursor and read counter are sent too.
void propagate_delivery(core::Broker& broker, int db, std::string_view key,
                        const stream::ConsumerGroup& g, std::string_view consumer, int64_t now,
                        std::span<const wire::StreamId> ids, std::span<const uint64_t> counts);
// XCLAIM / XAUTOCLAIM: `gone` left the PEL (their entries were deleted), `claimed` now belong to
// `consumer` with delivery time `time` and `counts`; `cursor_moved`: XCLAIM LASTID moved it.
void propagate_claim(core::Broker& broker, int db, std::string_view key,
                     const stream::ConsumerGroup& g, std::string_view consumer, int64_t time,
                     std::span<const wire::StreamId> claimed, std::span<const uint64_t> counts,
                     std::span<const wire::StreamId> gone, bool cursor_moved);
// Marks the running command as handled: nothing is sent for it unless it emits effects.
void propagate_nothing(core::Broker& broker);

}  // namespace sluice::commands
