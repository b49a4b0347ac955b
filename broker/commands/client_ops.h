// CLIENT PAUSE/UNPAUSE and client-side caching (CLIENT TRACKING, CACHING, TRACKINGINFO,
// GETREDIR): handlers registered with CLIENT's other subcommands, and the dispatcher's and
// server's side of a pause.
#pragma once

#include <span>
#include <string_view>

#include "broker/commands/command_table.h"
#include "broker/core/broker.h"

namespace sluice::commands {

class CommandContext;

void client_pause(CommandContext& ctx);
void client_unpause(CommandContext& ctx);
void client_tracking(CommandContext& ctx);
void client_caching(CommandContext& ctx);
void client_trackinginfo(CommandContext& ctx);
void client_getredir(CommandContext& ctx);

// Whether `spec` must wait under the current pause (ALL: everything; WRITE: writes and
// commands that may replicate, EXEC of a transaction holding one).
bool must_wait_for_pause(const core::Broker& broker, const core::Client& client,
                         const CommandSpec& spec);
// Keeps the command for later and blocks the client: it runs when the pause ends.
void postpone(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv);
// Ends a pause whose time is up, and runs the postponed commands once no pause is on (the
// server calls it before polling and from its timer).
void resume_paused_if_due(core::Broker& broker, int64_t now_ms);

}  // namespace sluice::commands
