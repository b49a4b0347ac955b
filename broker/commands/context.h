// CommandContext: what a handler gets — the arguments, the reply writer for this client's
// protocol, the client, the broker and the command's clock snapshot.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "broker/commands/command_table.h"
#include "broker/core/broker.h"
#include "wire/resp/reply_writer.h"
#include "wire/status.h"

namespace sluice::commands {

class CommandContext {
 public:
  CommandContext(core::Broker& b, core::Client& c, std::span<const std::string_view> argv,
                 const CommandSpec* command, int64_t now)
      : broker(b),
        client(c),
        args(argv),
        spec(command),
        now_ms(now),
        reply(c.out.staging(), c.protocol) {}

  core::Broker& broker;
  core::Client& client;
  std::span<const std::string_view> args;  // args[0] is the command name as sent
  const CommandSpec* spec;
  const int64_t now_ms;
  wire::resp::ReplyWriter reply;

  core::Database& db() { return broker.db(client.db); }
  size_t argc() const { return args.size(); }
  std::string_view arg(size_t i) const { return args[i]; }
  // For a command that keeps an argument as a value: moves its bytes into *out when the
  // connection received them into a buffer of their own (a big bulk), so a giant value is not
  // copied; false otherwise (the caller copies). `arg` is the argument's view (from arg(i)); it
  // keeps viewing the same bytes, now owned by *out.
  bool take_arg(std::string_view arg, std::string* out) {
    return core::take_owned_arg(client, arg, out);
  }

  // Replies with the Redis text for `status` (see error_text.h).
  void error(const wire::Status& status);
  void error(wire::ErrorCode code, std::string detail = {});
  // "-ERR <text>"
  void error_text(std::string_view full_text);
  void syntax_error();
  void wrong_arity();  // for the current command (or subcommand)
  void wrong_type();
  void not_integer();
  // A HELP subcommand's reply: its lines as an array of simple strings.
  void help_lines(std::span<const char* const> lines);

  // Whether a command that finds nothing may park the client (BLPOP, XREAD BLOCK...). Inside
  // MULTI/EXEC and inside a Lua script a blocking command answers at once as if its timeout had
  // passed, as in Redis.
  bool may_block() const { return !client.in_multi && !client.script && !client.master; }

  // Set by handlers that wrote durable state, so the reply waits for the sync under `always`.
  bool wrote = false;
  // Set by the command when it parked the client (blocking read): no reply was written yet.
  bool blocked = false;
  // Set when the reply is an error (stats).
  bool failed = false;
};

}  // namespace sluice::commands
