// Placeholder until group_commands.cc lands: no consumer-group commands are registered yet.
#include "broker/commands/command_table.h"
#include "broker/commands/group_api.h"

namespace sluice::commands {

void register_group_commands(CommandTable&) {}
void xinfo_groups(CommandContext& ctx) { ctx.reply.array(0); }
void xinfo_consumers(CommandContext& ctx) { ctx.reply.array(0); }
void reply_groups_full(CommandContext& ctx, const stream::Stream&, uint64_t) {
  ctx.reply.array(0);
}

}  // namespace sluice::commands
