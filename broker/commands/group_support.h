// Helpers shared by the consumer-group commands (group_commands.cc, group_read.cc): group
// lookup with Redis's NOGROUP texts, the group journal writer, write bookkeeping.
#pragma once

#include <optional>
#include <string_view>

#include "broker/commands/context.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

// "NOGROUP <text>", with CR/LF in key or group names turned into spaces as Redis does.
void reply_nogroup(CommandContext& ctx, std::string text);

stream::ConsumerGroup* find_group(stream::Stream& s, std::string_view name);

// The journal writer of `s`'s groups; replies the error and returns nullopt on failure.
std::optional<stream::GroupStore> group_store_or_reply(CommandContext& ctx, stream::Stream& s);

// After a change of group state: schedule the flush and hold the reply until it is durable.
// (Unlike entry writes, group changes do not invalidate WATCH, as in Redis.)
void group_written(CommandContext& ctx, stream::Stream& s);

// Emits the keyspace event "xgroup-createconsumer" (consumers created implicitly too).
void notify_consumer_created(core::Broker& broker, int db, std::string_view key);

// XREADGROUP (group_read.cc).
void xreadgroup(CommandContext& ctx);

}  // namespace sluice::commands
