// The replication effects of the stream commands whose arguments do not determine their result
// (replication.h lists them): XADD with its concrete ID (and its IDMP entry), trimming as an exact
// MAXLEN with its reference policy, and group deliveries (XREADGROUP, its CLAIM option) as XCLAIM /
// XGROUP SETID.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "broker/core/broker.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_refs.h"
#include "wire/stream_id.h"

namespace sluice::commands {

// What an XADD did besides appending: its trimming (with the reference policy it used) and its
// idempotency entry (IDMP producer-id iid; IDMPAUTO goes as IDMP with the iid it computed).
struct XaddEffects {
  bool trimmed = false;
  uint64_t length = 0;  // the stream's length after the XADD
  stream::RefPolicy policy = stream::RefPolicy::kKeepRef;
  bool idmp = false;
  std::string_view idmp_pid;
  std::string_view idmp_iid;
};
// XADD key [KEEPREF|DELREF|ACKED] [IDMP pid iid] [MAXLEN = <length after>] <id> field value ...
void propagate_xadd(core::Broker& broker, int db, std::string_view key, wire::StreamId id,
                    std::span<const std::string_view> fields, const XaddEffects& effects);
// XTRIM key MAXLEN = <length after> [DELREF|ACKED]
void propagate_xtrim(core::Broker& broker, int db, std::string_view key, uint64_t length,
                     stream::RefPolicy policy);
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
// A dead-lettered entry (dead_letter.h): XADD dlq-key <its ID> <fields>, then XACK key group id.
// The group's dead-letter counter is the master's own (a replica counts none).
void propagate_dead_letter(core::Broker& broker, int db, std::string_view dlq_key,
                           wire::StreamId dlq_id, std::span<const std::string_view> fields,
                           std::string_view key, std::string_view group, wire::StreamId id);
// Marks the running command as handled: nothing is sent for it unless it emits effects.
void propagate_nothing(core::Broker& broker);

}  // namespace sluice::commands
