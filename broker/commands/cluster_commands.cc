// CLUSTER, READONLY, READWRITE, ASKING and MODULE, answered as a Redis 7.0 server started with
// `cluster-enabled no` and `enable-module-command no` (Debian's defaults) answers them. Sluice
// has no cluster mode and loads no modules, and clients probe both: cluster-aware clients send
// CLUSTER INFO or READONLY to learn which mode they face, and tools list modules to decide what
// they may use. So the table has every one of these commands with Redis's arity, flags and ACL
// categories (COMMAND INFO, ACL rules and argument errors behave as Redis's), and each answers
// what such a Redis answers: CLUSTER's subcommands and the three connection commands say that
// cluster support is disabled, MODULE LIST is empty, MODULE LOAD, LOADEX and UNLOAD are refused.
#include "broker/commands/context.h"

namespace sluice::commands {
namespace {

void cluster_disabled(CommandContext& ctx) {
  ctx.error_text("ERR This instance has cluster support disabled");
}

void module_list(CommandContext& ctx) { ctx.reply.array(0); }

void module_refused(CommandContext& ctx) {
  ctx.error_text(
      "ERR MODULE command not allowed. Sluice loads no modules: LOAD, LOADEX and UNLOAD are "
      "refused, as a Redis server refuses them with enable-module-command set to \"no\".");
}

void module_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "LIST",
      "    List the loaded modules (Sluice loads none: the list is empty).",
      "LOAD <path> [<arg> ...]",
      "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
      "UNLOAD <name>",
      "    Refused: Sluice has no module support.",
      "HELP",
      "    Print this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_cluster_commands(CommandTable& t) {
  CommandFamily cluster_family{"cluster"};
  CommandSpec cluster = cluster_family("cluster", -2, 0, nullptr, "@slow",
                                       "A container for cluster commands.", "3.0.0", 0, 0, 0);
  // Every subcommand answers that cluster support is disabled; what differs is what ACL rules
  // and COMMAND INFO see (Redis 7.0's arity, flags and categories).
  auto sub = [&](const char* name, int arity, bool admin, uint32_t more, const char* summary) {
    cluster.subcommands.push_back(cluster_family(
        name, arity, kStale | more | (admin ? uint32_t{kAdmin} : 0u), cluster_disabled,
        admin ? "@admin @slow @dangerous" : "@slow", summary, "3.0.0", 0, 0, 0));
  };
  sub("addslots", -3, true, 0, "Assigns new hash slots to a node.");
  sub("addslotsrange", -4, true, 0, "Assigns new hash slot ranges to a node.");
  sub("bumpepoch", 2, true, 0, "Advances the cluster config epoch.");
  sub("count-failure-reports", 3, true, 0, "Returns the number of active failure reports.");
  sub("countkeysinslot", 3, false, 0, "Returns the number of keys in a hash slot.");
  sub("delslots", -3, true, 0, "Sets hash slots as unbound for a node.");
  sub("delslotsrange", -4, true, 0, "Sets hash slot ranges as unbound for a node.");
  sub("failover", -2, true, 0, "Forces a replica to perform a manual failover of its master.");
  sub("flushslots", 2, true, 0, "Deletes all slots information from a node.");
  sub("forget", 3, true, 0, "Removes a node from the nodes table.");
  sub("getkeysinslot", 4, false, 0, "Returns the key names in a hash slot.");
  sub("help", 2, false, kLoading, "Returns helpful text about the different subcommands.");
  sub("info", 2, false, 0, "Returns information about the state of a node.");
  sub("keyslot", 3, false, 0, "Returns the hash slot for a key.");
  sub("links", 2, false, 0, "Returns a list of all TCP links to and from peer nodes.");
  sub("meet", -4, true, 0, "Forces a node to handshake with another node.");
  sub("myid", 2, false, 0, "Returns the ID of a node.");
  sub("nodes", 2, false, 0, "Returns the cluster configuration for a node.");
  sub("replicas", 3, true, 0, "Lists the replica nodes of a master node.");
  sub("replicate", 3, true, 0, "Configures a node as replica of a master node.");
  sub("reset", -2, true, kNoScript, "Resets a node.");
  sub("saveconfig", 2, true, 0, "Forces a node to save the cluster configuration to disk.");
  sub("set-config-epoch", 3, true, 0, "Sets the configuration epoch for a new node.");
  sub("setslot", -4, true, 0, "Binds a hash slot to a node.");
  sub("shards", 2, false, 0, "Returns the mapping of cluster slots to shards.");
  sub("slaves", 3, true, 0, "Lists the replica nodes of a master node.");
  sub("slots", 2, false, 0, "Returns the mapping of cluster slots to nodes.");
  t.add(std::move(cluster));

  t.add(cluster_family("asking", 1, kFast, cluster_disabled, "@fast @connection",
                       "Signals that a cluster client is following an -ASK redirect.", "3.0.0", 0,
                       0, 0));
  t.add(cluster_family(
      "readonly", 1, kFast | kLoading | kStale, cluster_disabled, "@fast @connection",
      "Enables read-only queries for a connection to a cluster replica node.", "3.0.0", 0, 0, 0));
  t.add(cluster_family(
      "readwrite", 1, kFast | kLoading | kStale, cluster_disabled, "@fast @connection",
      "Enables read-write queries for a connection to a cluster replica node.", "3.0.0", 0, 0, 0));

  CommandFamily server_family{"server"};
  CommandSpec module = server_family("module", -2, 0, nullptr, "@slow",
                                     "A container for module commands.", "4.0.0", 0, 0, 0);
  auto msub = [&](const char* name, int arity, uint32_t flags, Handler h, const char* cats,
                  const char* summary) {
    module.subcommands.push_back(
        server_family(name, arity, flags, h, cats, summary, "4.0.0", 0, 0, 0));
  };
  constexpr const char* kAdminCats = "@admin @slow @dangerous";
  msub("help", 2, kLoading | kStale, module_help, "@slow",
       "Returns helpful text about the different subcommands.");
  msub("list", 2, kAdmin | kNoScript, module_list, kAdminCats, "Returns all loaded modules.");
  msub("load", -3, kAdmin | kNoScript, module_refused, kAdminCats, "Loads a module.");
  msub("loadex", -3, kAdmin | kNoScript, module_refused, kAdminCats,
       "Loads a module using extended parameters.");
  msub("unload", 3, kAdmin | kNoScript, module_refused, kAdminCats, "Unloads a module.");
  t.add(std::move(module));
}

}  // namespace sluice::commands
