// MONITOR: the line every monitoring client gets for each command any client runs, in Redis's
// format: `+<unix seconds>.<micros> [<db> <addr>|lua] "arg" ...`, with AUTH and HELLO AUTH
// passwords shown as "(redacted)".
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "broker/core/broker.h"

namespace sluice::commands {

void feed_monitors(core::Broker& broker, const core::Client& client,
                   std::span<const std::string_view> argv);
// Redis's quoting of one argument (sdscatrepr): "..." with \n \r \t \a \b \\ \" and \xHH escapes.
void append_quoted(std::string* out, std::string_view arg);

}  // namespace sluice::commands
