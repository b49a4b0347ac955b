#include "broker/commands/command_table.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "broker/commands/arg_parse.h"

namespace sluice::commands {

CommandTable::CommandTable() {
  register_connection_commands(*this);
  register_server_commands(*this);
  register_stream_commands(*this);
  register_group_commands(*this);
  register_stream8_commands(*this);
  register_pubsub_commands(*this);
  register_kv_commands(*this);
  register_keyspace_commands(*this);
  register_set_commands(*this);
  register_sort_commands(*this);
  register_transaction_commands(*this);
  register_zset_commands(*this);
  register_geo_commands(*this);
  register_list_commands(*this);
  register_bitmap_commands(*this);
  register_hyperloglog_commands(*this);
  register_lcs_commands(*this);
  register_scripting_commands(*this);
  register_function_commands(*this);
  register_replication_commands(*this);
  register_dump_commands(*this);
  register_ops_commands(*this);
  register_memory_commands(*this);
  register_acl_commands(*this);
  register_cluster_commands(*this);
  std::sort(ordered_.begin(), ordered_.end(),
            [](const CommandSpec* a, const CommandSpec* b) { return a->name < b->name; });
  for (const CommandSpec* s : ordered_) {
    auto* spec = const_cast<CommandSpec*>(s);
    spec->acl_id = catalog_.add(spec->name, acl::category_bits(spec->acl_categories), -1,
                                (spec->flags & kNoAuth) != 0);
    for (CommandSpec& sub : spec->subcommands) {
      sub.acl_id = catalog_.add(sub.name, acl::category_bits(sub.acl_categories), spec->acl_id,
                                (sub.flags & kNoAuth) != 0);
    }
  }
}

void CommandTable::add(CommandSpec spec) {
  for (auto& sub : spec.subcommands) {
    if (sub.name.find('|') == std::string::npos) sub.name = spec.name + "|" + sub.name;
  }
  specs_.push_back(std::make_unique<CommandSpec>(std::move(spec)));
  const CommandSpec* p = specs_.back().get();
  by_name_[p->name] = p;
  ordered_.push_back(p);
}

const CommandSpec* CommandTable::find(std::string_view name) const {
  char buf[32] = {};
  if (name.size() >= sizeof(buf)) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {
    // ASCII only, without a call per character (this runs for every command).
    const char c = name[i];
    buf[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c;
  }
  auto it = by_name_.find(std::string_view(buf, name.size()));
  return it == by_name_.end() ? nullptr : it->second;
}

const CommandSpec* CommandTable::find_sub(const CommandSpec& parent, std::string_view sub) const {
  // Names are "parent|sub" in lowercase; compare the part after '|' without building a string
  // (scripts look subcommands up on every call).
  const size_t prefix = parent.name.size() + 1;
  for (const auto& s : parent.subcommands) {
    if (s.name.size() != prefix + sub.size()) continue;
    bool same = true;
    for (size_t i = 0; i < sub.size() && same; ++i) {
      char c = sub[i];
      same = s.name[prefix + i] == (c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    }
    if (same) return &s;
  }
  return nullptr;
}

CommandSpec CommandFamily::operator()(std::string name, int arity, uint32_t flags, Handler handler,
                                      std::string acl_categories, std::string summary,
                                      std::string since, int first_key, int last_key,
                                      int key_step) const {
  CommandSpec s;
  s.name = std::move(name);
  s.arity = arity;
  s.flags = flags;
  s.handler = handler;
  s.first_key = first_key;
  s.last_key = last_key;
  s.key_step = key_step;
  s.group = group;
  s.acl_categories = std::move(acl_categories);
  s.summary = std::move(summary);
  s.since = std::move(since);
  return s;
}

std::string CommandTable::rename(std::string_view from, std::string_view to) {
  std::string key(from), target(to);
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : target) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = by_name_.find(key);
  if (it == by_name_.end()) return "No such command in rename-command";
  if (!target.empty() && by_name_.count(target)) return "Target command name already exists";
  const CommandSpec* spec = it->second;
  by_name_.erase(it);
  if (!target.empty()) by_name_[target] = spec;
  return {};
}

std::string apply_command_renames(const std::vector<std::pair<std::string, std::string>>& renames) {
  auto& table = const_cast<CommandTable&>(command_table());
  for (const auto& [from, to] : renames) {
    std::string err = table.rename(from, to);
    if (!err.empty()) return err + " '" + from + "'";
  }
  return {};
}

const CommandTable& command_table() {
  static const CommandTable table;
  return table;
}

std::vector<size_t> command_key_positions(const CommandSpec& spec,
                                          std::span<const std::string_view> args) {
  std::vector<size_t> out;
  if (spec.first_key <= 0) return out;
  int argc = static_cast<int>(args.size());
  if (spec.name == "migrate") {
    // MIGRATE's key, or with "" there the keys after KEYS (Redis's keyword key spec).
    for (int i = 6; i < argc; ++i) {
      if (iequals(args[i], "KEYS") && args[3].empty()) {
        for (int k = i + 1; k < argc; ++k) out.push_back(static_cast<size_t>(k));
        return out;
      }
    }
    if (argc > 3 && !args[3].empty()) out.push_back(3);
    return out;
  }
  int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  int step = spec.key_step > 0 ? spec.key_step : 1;
  for (int i = spec.first_key; i <= last && i < argc; i += step)
    out.push_back(static_cast<size_t>(i));
  return out;
}

}  // namespace sluice::commands
