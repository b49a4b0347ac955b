// FUNCTION (LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE, STATS, KILL, HELP), FCALL and FCALL_RO.
// The scripting engine (broker/scripting/) keeps the libraries and runs the functions.
#include "broker/commands/arg_parse.h"
#include "broker/commands/command_table.h"
#include "broker/commands/context.h"
#include "broker/commands/error_text.h"
#include "broker/core/glob.h"
#include "broker/scripting/scripting.h"

namespace sluice::commands {
namespace {

void fcall(CommandContext& ctx) { scripting::engine(ctx.broker).fcall(ctx, false); }
void fcall_ro(CommandContext& ctx) { scripting::engine(ctx.broker).fcall(ctx, true); }

void function_load(CommandContext& ctx) {
  bool replace = false;
  size_t i = 2;
  for (; i + 1 < ctx.argc(); ++i) {
    if (!iequals(ctx.arg(i), "REPLACE")) {
      return ctx.error_text("ERR Unknown option given: " + std::string(ctx.arg(i)));
    }
    replace = true;
  }
  if (i >= ctx.argc()) return ctx.error_text("ERR Function code is missing");
  std::string name;
  std::string error = scripting::engine(ctx.broker).function_load(ctx.arg(i), replace, &name);
  if (!error.empty()) return ctx.error_text(error);
  ctx.wrote = true;
  ctx.reply.bulk(name);
}

void function_delete(CommandContext& ctx) {
  std::string error = scripting::engine(ctx.broker).function_delete(ctx.arg(2));
  if (!error.empty()) return ctx.error_text(error);
  ctx.wrote = true;
  ctx.reply.ok();
}

void function_flush(CommandContext& ctx) {
  if (ctx.argc() > 3 ||
      (ctx.argc() == 3 && !iequals(ctx.arg(2), "SYNC") && !iequals(ctx.arg(2), "ASYNC"))) {
    return ctx.error_text("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
  }
  scripting::engine(ctx.broker).function_flush();
  ctx.wrote = true;
  ctx.reply.ok();
}

void reply_function(wire::resp::ReplyWriter& r, const scripting::Function& fn) {
  r.map(3);
  r.bulk("name");
  r.bulk(fn.name);
  r.bulk("description");
  if (fn.has_description) {
    r.bulk(fn.description);
  } else {
    r.null();
  }
  r.bulk("flags");
  size_t n = 0;
  for (uint32_t bit = 1; bit <= scripting::kAllowCrossSlotKeys; bit <<= 1)
    n += (fn.flags & bit) ? 1 : 0;
  r.set(n);
  for (uint32_t bit = 1; bit <= scripting::kAllowCrossSlotKeys; bit <<= 1) {
    if (fn.flags & bit) r.simple(scripting::function_flag_name(bit));
  }
}

void function_list(CommandContext& ctx) {
  bool with_code = false;
  std::string_view pattern;
  bool have_pattern = false;
  for (size_t i = 2; i < ctx.argc(); ++i) {
    if (!with_code && iequals(ctx.arg(i), "WITHCODE")) {
      with_code = true;
      continue;
    }
    if (!have_pattern && iequals(ctx.arg(i), "LIBRARYNAME")) {
      if (i + 1 >= ctx.argc()) return ctx.error_text("ERR library name argument was not given");
      pattern = ctx.arg(++i);
      have_pattern = true;
      continue;
    }
    return ctx.error_text("ERR Unknown argument " + std::string(ctx.arg(i)));
  }
  std::vector<const scripting::Library*> libs;
  for (const scripting::Library* lib : scripting::engine(ctx.broker).libraries()) {
    if (!have_pattern || core::glob_match(pattern, lib->name, true)) libs.push_back(lib);
  }
  auto& r = ctx.reply;
  r.array(libs.size());
  for (const scripting::Library* lib : libs) {
    r.map(with_code ? 4 : 3);
    r.bulk("library_name");
    r.bulk(lib->name);
    r.bulk("engine");
    r.bulk("LUA");
    r.bulk("functions");
    r.array(lib->functions.size());
    for (const auto& fn : lib->functions) reply_function(r, *fn);
    if (with_code) {
      r.bulk("library_code");
      r.bulk(lib->code);
    }
  }
}

void function_dump(CommandContext& ctx) {
  ctx.reply.bulk(scripting::engine(ctx.broker).function_dump());
}

void function_restore(CommandContext& ctx) {
  if (ctx.argc() > 4) {
    return ctx.error_text("ERR unknown subcommand or wrong number of arguments for '" +
                          std::string(ctx.arg(1)) + "'. Try FUNCTION HELP.");
  }
  std::string_view policy = "APPEND";
  if (ctx.argc() == 4) {
    if (iequals(ctx.arg(3), "FLUSH")) {
      policy = "FLUSH";
    } else if (iequals(ctx.arg(3), "REPLACE")) {
      policy = "REPLACE";
    } else if (!iequals(ctx.arg(3), "APPEND")) {
      return ctx.error_text(
          "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
    }
  }
  std::string error = scripting::engine(ctx.broker).function_restore(ctx.arg(2), policy);
  if (!error.empty()) return ctx.error_text(error);
  ctx.wrote = true;
  ctx.reply.ok();
}

void function_stats(CommandContext& ctx) {
  auto& engine = scripting::engine(ctx.broker);
  if (engine.running().active && engine.running().is_eval) {
    // As Redis: during a busy EVAL script only SCRIPT KILL is offered.
    return ctx.error_text(busy_script_error(core::BusyScript::kEval));
  }
  auto& r = ctx.reply;
  r.map(2);
  r.bulk("running_script");
  const scripting::RunState& run = engine.running();
  if (!run.active) {
    r.null();
  } else {
    r.map(3);
    r.bulk("name");
    r.bulk(run.name);
    r.bulk("command");
    r.array(run.command.size());
    for (std::string_view a : run.command) r.bulk(a);
    r.bulk("duration_ms");
    r.integer(core::now_ms() - run.start_ms);
  }
  r.bulk("engines");
  r.map(1);
  r.bulk("LUA");
  r.map(2);
  r.bulk("libraries_count");
  r.integer(static_cast<int64_t>(engine.library_count()));
  r.bulk("functions_count");
  r.integer(static_cast<int64_t>(engine.function_count()));
}

void function_kill(CommandContext& ctx) { scripting::engine(ctx.broker).kill(ctx, false); }

void function_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "LOAD [REPLACE] <FUNCTION CODE>",
      "    Create a new library with the given library name and code.",
      "DELETE <LIBRARY NAME>",
      "    Delete the given library.",
      "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
      "    Return general information on all the libraries:",
      "    * Library name",
      "    * The engine used to run the Library",
      "    * Library description",
      "    * Functions list",
      "    * Library code (if WITHCODE is given)",
      "    It also possible to get only function that matches a pattern using LIBRARYNAME "
      "argument.",
      "STATS",
      "    Return information about the current function running:",
      "    * Function name",
      "    * Command used to run the function",
      "    * Duration in MS that the function is running",
      "    If no function is running, return nil",
      "    In addition, returns a list of available engines.",
      "KILL",
      "    Kill the current running function.",
      "FLUSH [ASYNC|SYNC]",
      "    Delete all the libraries.",
      "    When called without the optional mode argument, the behavior is determined by the",
      "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
      "    * ASYNC: Asynchronously flush the libraries.",
      "    * SYNC: Synchronously flush the libraries.",
      "DUMP",
      "    Return a serialized payload representing the current libraries, can be restored using "
      "FUNCTION RESTORE command",
      "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
      "    Restore the libraries represented by the given payload, it is possible to give a "
      "restore policy to",
      "    control how to handle existing libraries (default APPEND):",
      "    * FLUSH: delete all existing libraries.",
      "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
      "abort.",
      "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
      "replace the old",
      "      libraries with the new libraries (notice that even on this option there is a chance "
      "of failure",
      "      in case of functions name collision with another library).",
      "HELP",
      "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_function_commands(CommandTable& t) {
  CommandFamily f{"scripting"};
  constexpr uint32_t kCallFlags =
      kNoScript | kStale | kSkipMonitor | kNoMandatoryKeys | kMovableKeys;
  t.add(f("fcall", -3, kCallFlags | kMayReplicate, fcall, "@slow @scripting", "Invokes a function.",
          "7.0.0", 0, 0, 0));
  t.add(f("fcall_ro", -3, kCallFlags | kReadonly, fcall_ro, "@slow @scripting",
          "Invokes a read-only function.", "7.0.0", 0, 0, 0));
  CommandSpec fn = f("function", -2, 0, nullptr, "@slow", "A container for function commands.",
                     "7.0.0", 0, 0, 0);
  auto sub = [&](std::string name, int arity, uint32_t flags, Handler h, std::string acl,
                 std::string summary) {
    fn.subcommands.push_back(
        f(std::move(name), arity, flags, h, std::move(acl), std::move(summary), "7.0.0", 0, 0, 0));
  };
  sub("load", -3, kWrite | kDenyOom | kNoScript, function_load, "@write @slow @scripting",
      "Creates a library.");
  sub("delete", 3, kWrite | kNoScript, function_delete, "@write @slow @scripting",
      "Deletes a library and its functions.");
  sub("flush", -2, kWrite | kNoScript, function_flush, "@write @slow @scripting",
      "Deletes all libraries and functions.");
  sub("list", -2, kNoScript, function_list, "@slow @scripting",
      "Returns information about all libraries.");
  sub("dump", 2, kNoScript, function_dump, "@slow @scripting",
      "Dumps all libraries into a serialized binary payload.");
  sub("restore", -3, kWrite | kDenyOom | kNoScript, function_restore, "@write @slow @scripting",
      "Restores all libraries from a payload.");
  sub("stats", 2, kNoScript | kAllowBusy, function_stats, "@slow @scripting",
      "Returns information about a function during execution.");
  sub("kill", 2, kNoScript | kAllowBusy, function_kill, "@slow @scripting",
      "Terminates a function during execution.");
  sub("help", 2, kLoading | kStale, function_help, "@slow @scripting",
      "Returns helpful text about the different subcommands.");
  t.add(std::move(fn));
}

}  // namespace sluice::commands
