#include "broker/commands/context.h"

#include "broker/commands/cold_read.h"
#include "broker/commands/error_text.h"

namespace sluice::commands {

void CommandContext::error_text(std::string_view full_text) {
  failed = true;
  reply.error(full_text);
  auto& st = broker.stats();
  ++st.total_error_replies;
  size_t sp = full_text.find(' ');
  ++st.errors[std::string(full_text.substr(0, sp))];
}

void CommandContext::error(const wire::Status& status) {
  // A read refused as cold is no error: the command runs again later (cold_read.h).
  if (cold_read_missed()) return;
  error_text(commands::error_text(status));
}

void CommandContext::error(wire::ErrorCode code, std::string detail) {
  error(wire::Status(code, std::move(detail)));
}

void CommandContext::syntax_error() { error_text(kSyntaxErr); }

void CommandContext::help_lines(std::span<const char* const> lines) {
  reply.array(lines.size());
  for (const char* l : lines) reply.simple(l);
}

void CommandContext::wrong_arity() {
  error_text("ERR wrong number of arguments for '" + spec->name + "' command");
}

void CommandContext::wrong_type() { error_text(kWrongTypeErr); }

void CommandContext::not_integer() { error_text(kNotIntegerErr); }

}  // namespace sluice::commands
