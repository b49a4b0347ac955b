// Placeholder until the KV layer lands: no string, hash, keyspace or transaction commands yet.
#include "broker/commands/command_table.h"

namespace sluice::commands {

void register_kv_commands(CommandTable&) {}
void register_keyspace_commands(CommandTable&) {}
void register_transaction_commands(CommandTable&) {}

}  // namespace sluice::commands
