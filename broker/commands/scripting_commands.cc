// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS, FLUSH, KILL, DEBUG, HELP). The
// scripting engine (broker/scripting/) runs the scripts; this file reads the arguments.
#include "broker/commands/arg_parse.h"
#include "broker/commands/command_table.h"
#include "broker/commands/context.h"
#include "broker/scripting/scripting.h"

namespace sluice::commands {
namespace {

void eval(CommandContext& ctx) { scripting::engine(ctx.broker).eval(ctx, false, false); }
void evalsha(CommandContext& ctx) { scripting::engine(ctx.broker).eval(ctx, true, false); }
void eval_ro(CommandContext& ctx) { scripting::engine(ctx.broker).eval(ctx, false, true); }
void evalsha_ro(CommandContext& ctx) { scripting::engine(ctx.broker).eval(ctx, true, true); }

void script_load(CommandContext& ctx) {
  scripting::engine(ctx.broker).script_load(ctx, ctx.arg(2));
}

void script_exists(CommandContext& ctx) {
  auto& engine = scripting::engine(ctx.broker);
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i)
    ctx.reply.integer(engine.script_exists(ctx.arg(i)) ? 1 : 0);
}

void script_flush(CommandContext& ctx) {
  if (ctx.argc() > 3 ||
      (ctx.argc() == 3 && !iequals(ctx.arg(2), "SYNC") && !iequals(ctx.arg(2), "ASYNC"))) {
    return ctx.error_text("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
  }
  scripting::engine(ctx.broker).script_flush();
  ctx.reply.ok();
}

void script_kill(CommandContext& ctx) { scripting::engine(ctx.broker).kill(ctx, true); }

void script_debug(CommandContext& ctx) {
  std::string_view mode = ctx.arg(2);
  if (iequals(mode, "NO")) return ctx.reply.ok();
  if (iequals(mode, "YES") || iequals(mode, "SYNC")) {
    return ctx.error_text("ERR The Lua debugger (SCRIPT DEBUG) is not supported by Sluice");
  }
  ctx.error_text("ERR Use SCRIPT DEBUG YES/SYNC/NO");
}

void script_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DEBUG (YES|SYNC|NO)",
      "    Set the debug mode for subsequent scripts executed.",
      "EXISTS <sha1> [<sha1> ...]",
      "    Return information about the existence of the scripts in the script cache.",
      "FLUSH [ASYNC|SYNC]",
      "    Flush the Lua scripts cache. Very dangerous on replicas.",
      "    When called without the optional mode argument, the behavior is determined by the",
      "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
      "    * ASYNC: Asynchronously flush the scripts cache.",
      "    * SYNC: Synchronously flush the scripts cache.",
      "KILL",
      "    Kill the currently executing Lua script.",
      "LOAD <script>",
      "    Load a script into the scripts cache without executing it.",
      "HELP",
      "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_scripting_commands(CommandTable& t) {
  CommandFamily f{"scripting"};
  constexpr uint32_t kEvalFlags =
      kNoScript | kStale | kSkipMonitor | kNoMandatoryKeys | kMovableKeys;
  t.add(f("eval", -3, kEvalFlags | kMayReplicate, eval, "@slow @scripting",
          "Executes a server-side Lua script.", "2.6.0", 0, 0, 0));
  t.add(f("evalsha", -3, kEvalFlags | kMayReplicate, evalsha, "@slow @scripting",
          "Executes a server-side Lua script by SHA1 digest.", "2.6.0", 0, 0, 0));
  t.add(f("eval_ro", -3, kEvalFlags | kReadonly, eval_ro, "@slow @scripting",
          "Executes a read-only server-side Lua script.", "7.0.0", 0, 0, 0));
  t.add(f("evalsha_ro", -3, kEvalFlags | kReadonly, evalsha_ro, "@slow @scripting",
          "Executes a read-only server-side Lua script by SHA1 digest.", "7.0.0", 0, 0, 0));
  CommandSpec script = f("script", -2, 0, nullptr, "@slow",
                         "A container for Lua scripts management commands.", "2.6.0", 0, 0, 0);
  auto sub = [&](std::string name, int arity, uint32_t flags, Handler h, std::string summary) {
    script.subcommands.push_back(f(std::move(name), arity, flags, h, "@slow @scripting",
                                   std::move(summary), "2.6.0", 0, 0, 0));
  };
  sub("load", 3, kNoScript | kStale, script_load,
      "Loads a server-side Lua script to the script cache.");
  sub("exists", -3, kNoScript, script_exists,
      "Determines whether server-side Lua scripts exist in the script cache.");
  sub("flush", -2, kNoScript, script_flush,
      "Removes all server-side Lua scripts from the script cache.");
  sub("kill", 2, kNoScript | kAllowBusy, script_kill,
      "Terminates a server-side Lua script during execution.");
  sub("debug", 3, kNoScript, script_debug, "Sets the debug mode of server-side Lua scripts.");
  sub("help", 2, kLoading | kStale, script_help,
      "Returns helpful text about the different subcommands.");
  t.add(std::move(script));
}

}  // namespace sluice::commands
