// What the stream commands need from the consumer-group commands (group_commands.cc).
#pragma once

#include <cstdint>

#include "broker/commands/context.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

// XINFO GROUPS <key> and XINFO CONSUMERS <key> <group>.
void xinfo_groups(CommandContext& ctx);
void xinfo_consumers(CommandContext& ctx);
// The "groups" value of XINFO STREAM FULL: every group with its PEL (at most `count` entries
// each, 0 = all) and consumers.
void reply_groups_full(CommandContext& ctx, const stream::Stream& s, uint64_t count);

}  // namespace sluice::commands
