// CommandSpec and CommandTable: every command's name, arity, flags, key positions and handler.
// The dispatcher checks arity and flags before a handler runs; COMMAND answers from the table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/acl/acl.h"
#include "broker/core/broker.h"
#include "broker/core/database.h"

namespace sluice::commands {

class CommandContext;
using Handler = void (*)(CommandContext&);

enum CommandFlag : uint32_t {
  kWrite = 1u << 0,
  kReadonly = 1u << 1,
  kDenyOom = 1u << 2,
  kAdmin = 1u << 3,
  kPubSub = 1u << 4,
  kNoScript = 1u << 5,
  kBlocking = 1u << 6,
  kLoading = 1u << 7,
  kStale = 1u << 8,
  kFast = 1u << 9,
  kNoAuth = 1u << 10,
  kNoMulti = 1u << 11,
  kSubscribedOk = 1u << 12,  // allowed in RESP2 subscribed mode
  kMayReplicate = 1u << 13,
  kAllowBusy = 1u << 14,
  kSkipSlowlog = 1u << 15,
  kMovableKeys = 1u << 16,
  kStorage = 1u << 17,  // writes to durable storage: refused after a storage failure
  kSkipMonitor = 1u << 18,
  kNoMandatoryKeys = 1u << 19,
  kAsking = 1u << 20,  // COMMAND INFO only (RESTORE-ASKING): Sluice has no cluster mode
};

struct CommandSpec {
  std::string name;  // lowercase; for subcommands "parent|sub"
  int arity = 0;     // Redis style: n exact, -n at least n (counting the name)
  uint32_t flags = 0;
  int first_key = 0;  // 1-based positions; 0 = no keys
  int last_key = 0;   // -1 = last argument
  int key_step = 0;
  std::string acl_categories;  // "@write @stream @fast"
  std::string group;           // "stream", "string", "connection", ... (COMMAND DOCS)
  std::string summary;
  std::string since;
  Handler handler = nullptr;
  std::vector<CommandSpec> subcommands;
  int acl_id = -1;  // the command's id in acl_catalog()
  // INFO commandstats counters, kept here so counting a call is not a map lookup.
  mutable core::CommandStats stats;
};

// Builds the specs of one command family (its COMMAND DOCS group). Keys default to argument 1,
// the shape of most data commands.
struct CommandFamily {
  std::string group;
  CommandSpec operator()(std::string name, int arity, uint32_t flags, Handler handler,
                         std::string acl_categories, std::string summary, std::string since,
                         int first_key = 1, int last_key = 1, int key_step = 1) const;
};

class CommandTable {
 public:
  CommandTable();                                        // registers every command
  const CommandSpec* find(std::string_view name) const;  // case-insensitive
  const CommandSpec* find_sub(const CommandSpec& parent, std::string_view sub) const;
  const std::vector<const CommandSpec*>& all() const { return ordered_; }
  // Every spec including subcommands (INFO commandstats, CONFIG RESETSTAT).
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const CommandSpec* s : ordered_) {
      fn(*s);
      for (const CommandSpec& sub : s->subcommands) fn(sub);
    }
  }
  void add(CommandSpec spec);
  // rename-command: the command answers to `to` instead of `from` ("" removes it). Returns ""
  // or the error (unknown command, name taken).
  std::string rename(std::string_view from, std::string_view to);
  // Every command and subcommand with its categories, for ACL rules (ids in CommandSpec::acl_id).
  const acl::Catalog& acl_catalog() const { return catalog_; }

 private:
  acl::Catalog catalog_;
  std::vector<std::unique_ptr<CommandSpec>> specs_;
  std::unordered_map<std::string, const CommandSpec*, core::StringHash, std::equal_to<>> by_name_;
  std::vector<const CommandSpec*> ordered_;
};

const CommandTable& command_table();
// Applies the config file's rename-command lines to command_table() (once, at startup).
std::string apply_command_renames(const std::vector<std::pair<std::string, std::string>>& renames);

// Registration entry points, one per command family (each in its own file).
void register_connection_commands(CommandTable& table);
void register_server_commands(CommandTable& table);
void register_stream_commands(CommandTable& table);
void register_group_commands(CommandTable& table);
void register_stream8_commands(CommandTable& table);
void register_pubsub_commands(CommandTable& table);
void register_kv_commands(CommandTable& table);
void register_keyspace_commands(CommandTable& table);
void register_set_commands(CommandTable& table);
void register_sort_commands(CommandTable& table);
void register_transaction_commands(CommandTable& table);
void register_zset_commands(CommandTable& table);
void register_geo_commands(CommandTable& table);
void register_list_commands(CommandTable& table);
void register_bitmap_commands(CommandTable& table);  // + BITFIELD (bitfield_command.cc)
void register_hyperloglog_commands(CommandTable& table);
void register_lcs_commands(CommandTable& table);
void register_scripting_commands(CommandTable& table);    // EVAL*, SCRIPT
void register_function_commands(CommandTable& table);     // FUNCTION, FCALL*
void register_replication_commands(CommandTable& table);  // REPLICAOF, ROLE, WAIT, PSYNC...
void register_dump_commands(CommandTable& table);         // DUMP, RESTORE, RESTORE-ASKING
void register_ops_commands(CommandTable& table);          // MONITOR, LATENCY, LOLWUT
void register_memory_commands(CommandTable& table);       // MEMORY
void register_acl_commands(CommandTable& table);          // ACL
void register_cluster_commands(CommandTable& table);      // CLUSTER, READONLY..., MODULE

// Keys of a command (COMMAND GETKEYS, WATCH-style checks): positions from the spec.
std::vector<size_t> command_key_positions(const CommandSpec& spec,
                                          std::span<const std::string_view> args);

}  // namespace sluice::commands
