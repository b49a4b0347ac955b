// ACL: SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT GENPASS LOG LOAD SAVE DRYRUN HELP.
#include <cstdio>
#include <fstream>
#include <random>

#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/context.h"

namespace sluice::commands {
namespace {

constexpr const char* kNoAclFile =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users "
    "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
    "configuration file set) in order to store users in the Redis configuration.";

void acl_setuser(CommandContext& ctx) {
  std::string_view name = ctx.arg(2);
  if (name.find_first_of(std::string_view(" \0", 2)) != std::string_view::npos) {
    return ctx.error_text("ERR Usernames can't contain spaces or null characters");
  }
  auto& registry = acl_registry(ctx.broker);
  const std::vector<std::string> rules =
      with_pubsub_default(ctx.broker.config(), registry.find(name) == nullptr, ctx.args.subspan(3));
  const std::vector<std::string_view> views(rules.begin(), rules.end());
  std::string err = registry.set_user(name, views);
  if (!err.empty()) return ctx.error_text("ERR " + err);
  acl_kill_unsubscribed(ctx.broker, registry.find(name));
  ctx.reply.ok();
}

void selector_fields(CommandContext& ctx, const acl::Selector& s) {
  ctx.reply.bulk("commands");
  ctx.reply.bulk(s.describe_commands());
  ctx.reply.bulk("keys");
  ctx.reply.bulk(s.describe_keys());
  ctx.reply.bulk("channels");
  ctx.reply.bulk(s.describe_channels());
}

void acl_getuser(CommandContext& ctx) {
  const acl::User* u = acl_registry(ctx.broker).find(ctx.arg(2));
  if (!u) return ctx.reply.null();
  auto& r = ctx.reply;
  r.map(6);
  r.bulk("flags");
  auto flags = u->flags();
  r.set(flags.size());
  for (const auto& f : flags) r.bulk(f);
  r.bulk("passwords");
  r.array(u->passwords().size());
  for (const auto& p : u->passwords()) r.bulk(p);
  selector_fields(ctx, u->root());
  r.bulk("selectors");
  r.array(u->extra_selectors().size());
  for (const auto& s : u->extra_selectors()) {
    r.map(3);
    selector_fields(ctx, s);
  }
}

void acl_deluser(CommandContext& ctx) {
  auto& registry = acl_registry(ctx.broker);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    if (ctx.arg(i) == "default") {
      return ctx.error_text("ERR The 'default' user cannot be removed");
    }
  }
  int64_t deleted = 0;
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const acl::User* u = registry.find(ctx.arg(i));
    if (!u) continue;
    acl_disconnect_user(ctx.broker, u);
    registry.del_user(ctx.arg(i));
    ++deleted;
  }
  ctx.reply.integer(deleted);
}

void acl_list(CommandContext& ctx) {
  auto lines = acl_registry(ctx.broker).list_lines();
  ctx.reply.array(lines.size());
  for (const auto& l : lines) ctx.reply.bulk(l);
}

void acl_users(CommandContext& ctx) {
  auto users = acl_registry(ctx.broker).users();
  ctx.reply.array(users.size());
  for (const auto* u : users) ctx.reply.bulk(u->name());
}

void acl_whoami(CommandContext& ctx) { ctx.reply.bulk(client_user(ctx.broker, ctx.client).name()); }

void acl_cat(CommandContext& ctx) {
  if (ctx.argc() == 2) {
    ctx.reply.array(acl::kCategoryCount);
    for (const char* c : acl::kCategoryNames) ctx.reply.bulk(c);
    return;
  }
  uint32_t bit = acl::category_bit(ctx.arg(2));
  if (bit == 0) return ctx.error_text("ERR Unknown category '" + std::string(ctx.arg(2)) + "'");
  const acl::Catalog& catalog = command_table().acl_catalog();
  std::vector<std::string_view> names;
  for (size_t id = 0; id < catalog.size(); ++id) {
    const auto& c = catalog.at(static_cast<int>(id));
    if (c.categories & bit) names.push_back(c.name);
  }
  ctx.reply.array(names.size());
  for (auto n : names) ctx.reply.bulk(n);
}

void acl_genpass(CommandContext& ctx) {
  int64_t bits = 256;
  if (ctx.argc() == 3) {
    if (!parse_int(ctx.arg(2), &bits)) return ctx.not_integer();
    if (bits <= 0 || bits > 4096) {
      return ctx.error_text(
          "ERR ACL GENPASS argument must be the number of bits for the output password, a "
          "positive number up to 4096");
    }
  }
  const size_t chars = static_cast<size_t>((bits + 3) / 4);
  std::random_device rd;  // /dev/urandom
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(chars);
  while (out.size() < chars) {
    uint32_t r = rd();
    for (int i = 0; i < 8 && out.size() < chars; ++i, r >>= 4) out += kHex[r & 15];
  }
  ctx.reply.bulk(out);
}

void acl_log(CommandContext& ctx) {
  auto& registry = acl_registry(ctx.broker);
  int64_t count = 10;
  if (ctx.argc() == 3) {
    if (iequals(ctx.arg(2), "RESET")) {
      registry.reset_log();
      return ctx.reply.ok();
    }
    if (!parse_int(ctx.arg(2), &count)) return ctx.not_integer();
    if (count < 0) count = 0;
  }
  const auto& entries = registry.log_entries();
  size_t n = std::min(entries.size(), static_cast<size_t>(count));
  auto& r = ctx.reply;
  r.array(n);
  const int64_t now = core::now_ms();
  for (size_t i = 0; i < n; ++i) {
    const auto& e = entries[i];
    r.map(7);
    r.bulk("count");
    r.integer(static_cast<int64_t>(e.count));
    r.bulk("reason");
    r.bulk(e.reason);
    r.bulk("context");
    r.bulk(e.context);
    r.bulk("object");
    r.bulk(e.object);
    r.bulk("username");
    r.bulk(e.username);
    r.bulk("age-seconds");
    r.dbl(static_cast<double>(now - e.created_ms) / 1000.0);
    r.bulk("client-info");
    r.bulk(e.client_info);
  }
}

// Closes the clients of users an ACL LOAD replaced, then lets them go.
void retire_users(core::Broker& broker, std::vector<std::unique_ptr<acl::User>>& retired) {
  for (const auto& u : retired) acl_disconnect_user(broker, u.get());
  retired.clear();
}

void acl_load(CommandContext& ctx) {
  const std::string& path = ctx.broker.config().aclfile;
  if (path.empty()) return ctx.error_text(kNoAclFile);
  std::vector<std::vector<std::string>> lines;
  if (std::string err = read_aclfile(path, &lines); !err.empty()) {
    return ctx.error_text("ERR " + err);
  }
  std::vector<std::unique_ptr<acl::User>> retired;
  std::string err =
      acl_registry(ctx.broker)
          .load_lines(lines_with_pubsub_default(ctx.broker.config(), lines), &retired);
  if (!err.empty()) return ctx.error_text("ERR " + path + ":" + err);
  retire_users(ctx.broker, retired);
  acl_kill_unsubscribed(ctx.broker, &acl_registry(ctx.broker).default_user());
  ctx.reply.ok();
}

void acl_save(CommandContext& ctx) {
  const std::string& path = ctx.broker.config().aclfile;
  if (path.empty()) return ctx.error_text(kNoAclFile);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& l : acl_registry(ctx.broker).list_lines()) out << l << '\n';
    out.flush();
    if (!out.good()) {
      std::remove(tmp.c_str());
      return ctx.error_text(
          "ERR There was an error trying to save the ACLs. Please check the server logs for more "
          "information");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return ctx.error_text(
        "ERR There was an error trying to save the ACLs. Please check the server logs for more "
        "information");
  }
  ctx.reply.ok();
}

void acl_dryrun(CommandContext& ctx) {
  const acl::User* u = acl_registry(ctx.broker).find(ctx.arg(2));
  if (!u) return ctx.error_text("ERR User '" + std::string(ctx.arg(2)) + "' not found");
  std::span<const std::string_view> argv = ctx.args.subspan(3);
  const CommandTable& table = command_table();
  const CommandSpec* spec = table.find(argv[0]);
  if (spec && !spec->subcommands.empty() && argv.size() >= 2) spec = table.find_sub(*spec, argv[1]);
  if (!spec) return ctx.error_text("ERR Command '" + std::string(argv[0]) + "' not found");
  const int n = static_cast<int>(argv.size());
  if (spec->arity >= 0 ? n != spec->arity : n < -spec->arity) {
    return ctx.error_text("ERR wrong number of arguments for '" + spec->name + "' command");
  }
  size_t bad = 0;
  switch (acl_check(*u, *spec, argv, &bad)) {
    case acl::Verdict::kOk:
      return ctx.reply.ok();
    case acl::Verdict::kKey:
      return ctx.reply.bulk("This user has no permissions to access the '" +
                            std::string(argv[bad]) + "' key");
    case acl::Verdict::kChannel:
      return ctx.reply.bulk("This user has no permissions to access the '" +
                            std::string(argv[bad]) + "' channel");
    default:
      return ctx.reply.bulk("This user has no permissions to run the '" + spec->name + "' command");
  }
}

void acl_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CAT [<category>]",
      "    List all commands that belong to <category>, or all command categories",
      "    when no category is specified.",
      "DELUSER <username> [<username> ...]",
      "    Delete a list of users.",
      "DRYRUN <username> <command> [<arg> ...]",
      "    Returns whether the user can execute the given command without executing the command.",
      "GETUSER <username>",
      "    Get the user's details.",
      "GENPASS [<bits>]",
      "    Generate a secure 256-bit user password. The optional `bits` argument can",
      "    be used to specify a different size.",
      "LIST",
      "    Show users details in config file format.",
      "LOAD",
      "    Reload users from the ACL file.",
      "LOG [<count> | RESET]",
      "    Show the ACL log entries.",
      "SAVE",
      "    Save the current config to the ACL file.",
      "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.",
      "USERS",
      "    List all the registered usernames.",
      "WHOAMI",
      "    Return the current connection username.",
      "HELP",
      "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_acl_commands(CommandTable& t) {
  CommandFamily cmd{"server"};
  const uint32_t kAdminFlags = kAdmin | kNoScript | kLoading | kStale;
  const uint32_t kPlainFlags = kNoScript | kLoading | kStale;
  const char* kAdminCats = "@admin @slow @dangerous";
  CommandSpec acl = cmd("acl", -2, 0, nullptr, "@slow",
                        "A container for Access List Control commands.", "6.0.0", 0, 0, 0);
  auto sub = [&](std::string name, int arity, uint32_t flags, Handler h, const char* cats,
                 std::string summary) {
    return cmd("acl|" + name, arity, flags, h, cats, std::move(summary), "6.0.0", 0, 0, 0);
  };
  acl.subcommands.push_back(sub("cat", -2, kPlainFlags, acl_cat, "@slow",
                                "Lists the ACL categories, or the commands inside a category."));
  acl.subcommands.push_back(sub("deluser", -3, kAdminFlags, acl_deluser, kAdminCats,
                                "Deletes ACL users, and terminates their connections."));
  CommandSpec dryrun = sub("dryrun", -4, kAdminFlags, acl_dryrun, kAdminCats,
                           "Simulates the execution of a command by a user, without executing the "
                           "command.");
  dryrun.since = "7.0.0";
  acl.subcommands.push_back(std::move(dryrun));
  acl.subcommands.push_back(sub("genpass", -2, kPlainFlags, acl_genpass, "@slow",
                                "Generates a pseudorandom, secure password that can be used to "
                                "identify ACL users."));
  acl.subcommands.push_back(
      sub("getuser", 3, kAdminFlags, acl_getuser, kAdminCats, "Lists the ACL rules of a user."));
  acl.subcommands.push_back(sub("help", 2, kLoading | kStale, acl_help, "@slow",
                                "Returns helpful text about the different subcommands."));
  acl.subcommands.push_back(sub("list", 2, kAdminFlags, acl_list, kAdminCats,
                                "Dumps the effective rules in ACL file format."));
  acl.subcommands.push_back(sub("load", 2, kAdminFlags, acl_load, kAdminCats,
                                "Reloads the rules from the configured ACL file."));
  acl.subcommands.push_back(sub("log", -2, kAdminFlags, acl_log, kAdminCats,
                                "Lists recent security events generated due to ACL rules."));
  acl.subcommands.push_back(sub("save", 2, kAdminFlags, acl_save, kAdminCats,
                                "Saves the effective ACL rules in the configured ACL file."));
  acl.subcommands.push_back(sub("setuser", -3, kAdminFlags, acl_setuser, kAdminCats,
                                "Creates and modifies an ACL user and its rules."));
  acl.subcommands.push_back(
      sub("users", 2, kAdminFlags, acl_users, kAdminCats, "Lists all ACL users."));
  acl.subcommands.push_back(sub("whoami", 2, kPlainFlags, acl_whoami, "@slow",
                                "Returns the authenticated username of the current connection."));
  t.add(std::move(acl));
}

}  // namespace sluice::commands
