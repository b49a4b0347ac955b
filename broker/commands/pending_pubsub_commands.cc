// Placeholder until pubsub_commands.cc lands: no pub/sub commands are registered yet.
#include "broker/commands/command_table.h"

namespace sluice::commands {

void register_pubsub_commands(CommandTable&) {}

}  // namespace sluice::commands
