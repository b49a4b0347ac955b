// Runs one command for a client: lookup, arity, auth, subscribed-mode and MULTI rules, the
// busy-script and storage-failure gates, the handler, then stats, slow log and the durability
// hold. Scripts run their commands through the same door (call_for_script).
#pragma once

#include <span>
#include <string_view>

#include "broker/core/broker.h"

namespace sluice::commands {

// Executes argv (argv[0] = command name). Returns true if the client was blocked by the command
// (it must not run further input until unblocked).
bool execute(core::Broker& broker, core::Client& client, std::span<const std::string_view> argv);

// Runs a command that passed every check (used by EXEC for queued commands). With defer_cold,
// a read of stream history that would wait for the disk parks the client instead
// (cold_read.h); client.reading_cold then tells. `now_us` (core::now_us()) is the command's
// start: its time for expiry and its duration's start, one clock read for both.
void run_checked(core::Broker& broker, core::Client& client, const struct CommandSpec& spec,
                 std::span<const std::string_view> argv, int64_t now_us, bool defer_cold = false);

// Why a script's command did not run (call_for_script); scripting/ words each one as Redis does.
enum class ScriptCall : uint8_t {
  kRan,            // the handler ran; its reply (maybe an error reply) is in the client's staging
  kUnknown,        // no such command or subcommand
  kArity,          // wrong number of arguments
  kNoScript,       // flagged noscript (EVAL, MULTI, CLIENT, BLPOP...)
  kReadOnly,       // a write command from EVAL_RO, FCALL_RO or a no-writes script
  kMisconf,        // a write command after a storage failure
  kNoPermCommand,  // the script's user may not run the command (ACL)
  kNoPermKey,      // ... or touch one of its keys
  kNoPermChannel,  // ... or one of its channels
  kOom,            // a denyoom command while over maxmemory, before the script wrote anything
};

// Runs one command on behalf of a Lua script, on the script's own client (`script_client`: the
// script's database, the protocol chosen with redis.setresp, `script` set so blocking commands
// answer at once). Same lookup, arity and flag checks as execute() (noscript; writes refused when
// `read_only`; the MISCONF gate; denyoom commands refused over maxmemory unless `allow_oom`), then
// the same handler run and stats; the handler journals, emits keyspace events and invalidates WATCH
// as for any client. The reply is left in script_client.out's staging buffer for the caller to
// convert and clear. *flags gets the command's flags (kWrite tells the script it wrote). Allocates
// nothing on the way. `acl_context` names the caller in ACL LOG ("lua"; the web console's admin
// actions are "toplevel", commands of their own).
ScriptCall call_for_script(core::Broker& broker, core::Client& script_client,
                           std::span<const std::string_view> argv, bool read_only, bool allow_oom,
                           uint32_t* flags, const char* acl_context = "lua");

}  // namespace sluice::commands
