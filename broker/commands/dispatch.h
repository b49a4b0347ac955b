// Runs one command for a client: lookup, arity, auth, subscribed-mode and MULTI rules, the
// storage-failure gate, the handler, then stats, slow log and the durability hold.
#pragma once

#include <span>
#include <string_view>

#include "broker/core/broker.h"

namespace sluice::commands {

// Executes argv (argv[0] = command name). Returns true if the client was blocked by the command
// (it must not run further input until unblocked).
bool execute(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv);

// Runs a command that passed every check (used by EXEC for queued commands).
void run_checked(core::Broker& broker, core::Client& client, const struct CommandSpec& spec,
                 std::span<const std::string_view> argv, int64_t now_ms);

}  // namespace sluice::commands
