// The CLIENT LIST / CLIENT INFO line for one client, in Redis 7.0's field order.
#pragma once

#include <string>
#include <string_view>

#include "broker/core/broker.h"

namespace sluice::commands {

// `argv_mem`: the bytes of the arguments of the command `client` runs now (argv-mem), 0 for a
// client between commands.
std::string client_info_line(core::Broker& broker, const core::Client& client, int64_t now_ms,
                             size_t argv_mem = 0);
// CLIENT LIST / KILL TYPE: "normal", "pubsub", "master" (the link a replica applies its master's
// stream on) or "replica"/"slave" (a replica attached to this master). `type` is lowercase.
bool client_has_type(const core::Client& client, std::string_view type);
// Names and SETINFO values: printable ASCII, no spaces (Redis's validateClientAttr).
bool valid_client_name(std::string_view name);

}  // namespace sluice::commands
