// Runs one command for a client: lookup, arity, auth, subscribed-mode and MULTI rules, the
// storage-failure gate, the handler, then stats, slow log and the durability hold.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "broker/core/broker.h"

namespace sluice::commands {

// Executes argv (argv[0] = command name). Returns true if the client was blocked by the command
// (it must not run further input until unblocked). `owned` holds the buffers that some of argv
// view (big bulks the connection received whole): the command may keep them (take_arg).
bool execute(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv,
             std::span<std::string> owned = {});

// Runs a command that passed every check (used by EXEC for queued commands).
void run_checked(core::Broker& broker, core::Client& client, const struct CommandSpec& spec,
                 std::span<const std::string_view> argv, int64_t now_ms,
                 std::span<std::string> owned = {});

}  // namespace sluice::commands
