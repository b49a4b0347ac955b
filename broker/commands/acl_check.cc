#include "broker/commands/acl_check.h"

#include <fstream>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/client_info.h"

namespace sluice::commands {
namespace {

// Write commands whose keys are read too (Redis's key specs with ACCESS): %W~ alone is not
// enough for them, as in Redis.
bool write_reads_key(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "incr",    "incrby",       "decr",      "decrby",     "incrbyfloat", "getset",     "getdel",
      "getex",   "lpop",         "rpop",      "spop",       "blpop",       "brpop",      "zpopmin",
      "zpopmax", "bzpopmin",     "bzpopmax",  "lmpop",      "blmpop",      "zmpop",      "bzmpop",
      "hincrby", "hincrbyfloat", "zincrby",   "xreadgroup", "xclaim",      "xautoclaim", "pfmerge",
      "lmove",   "blmove",       "rpoplpush", "brpoplpush", "smove",       "rename",     "renamenx",
      "eval",    "evalsha",      "fcall"};
  for (auto n : kNames) {
    if (n == name) return true;
  }
  return false;
}

// Commands whose first key is a destination written, the other keys sources read.
bool destination_first(std::string_view name) {
  static constexpr std::string_view kNames[] = {"sinterstore", "sunionstore", "sdiffstore",
                                                "zrangestore", "bitop"};
  for (auto n : kNames) {
    if (n == name) return true;
  }
  return false;
}

int64_t numkeys_at(std::span<const std::string_view> argv, size_t pos) {
  int64_t n = 0;
  if (pos >= argv.size() || !parse_int(argv[pos], &n) || n < 0) return 0;
  return std::min<int64_t>(n, static_cast<int64_t>(argv.size() - pos - 1));
}

void add_range(std::vector<acl::KeyRef>* keys, size_t from, size_t count, uint8_t access) {
  for (size_t i = 0; i < count; ++i) keys->push_back(acl::KeyRef{from + i, access});
}

void collect_keys(const CommandSpec& spec, std::span<const std::string_view> argv,
                  std::vector<acl::KeyRef>* keys) {
  const std::string_view name = spec.name;
  uint8_t access = (spec.flags & kWrite) ? acl::kKeyWrite : acl::kKeyRead;
  if ((spec.flags & kWrite) && write_reads_key(name)) access = acl::kKeyReadWrite;
  // A script's keys may be read and written (EVAL_RO and FCALL_RO only read them).
  if (name == "eval" || name == "evalsha" || name == "fcall") access = acl::kKeyReadWrite;
  if (spec.flags & kMovableKeys) {
    if (name == "eval" || name == "evalsha" || name == "fcall" || name == "eval_ro" ||
        name == "evalsha_ro" || name == "fcall_ro") {
      add_range(keys, 3, static_cast<size_t>(numkeys_at(argv, 2)), access);
    } else if (name == "xread" || name == "xreadgroup") {
      for (size_t i = 1; i < argv.size(); ++i) {
        if (iequals(argv[i], "STREAMS")) {
          add_range(keys, i + 1, (argv.size() - i - 1) / 2, access);
          break;
        }
      }
    } else if (name == "blmpop" || name == "bzmpop") {
      add_range(keys, 3, static_cast<size_t>(numkeys_at(argv, 2)), access);
    } else if (name == "zunionstore" || name == "zinterstore" || name == "zdiffstore") {
      keys->push_back(acl::KeyRef{1, acl::kKeyWrite});
      add_range(keys, 3, static_cast<size_t>(numkeys_at(argv, 2)), acl::kKeyRead);
    } else if (name == "migrate") {
      for (size_t p : command_key_positions(spec, argv)) {
        keys->push_back(acl::KeyRef{p, acl::kKeyReadWrite});
      }
    } else if (name == "sort" || name == "sort_ro") {
      keys->push_back(acl::KeyRef{1, acl::kKeyRead});
      for (size_t i = 2; i + 1 < argv.size(); ++i) {
        if (iequals(argv[i], "STORE")) keys->push_back(acl::KeyRef{i + 1, acl::kKeyWrite});
      }
    } else {
      // lmpop, zmpop, sintercard, zunion, zinter, zdiff, zintercard: numkeys, then the keys.
      add_range(keys, 2, static_cast<size_t>(numkeys_at(argv, 1)), access);
    }
    return;
  }
  std::vector<size_t> pos = command_key_positions(spec, argv);
  for (size_t i = 0; i < pos.size(); ++i) {
    uint8_t a = access;
    if (destination_first(name)) a = i == 0 ? acl::kKeyWrite : acl::kKeyRead;
    if (name == "copy") a = i == 0 ? acl::kKeyRead : acl::kKeyWrite;
    if (i > 0 && (name == "lmove" || name == "blmove" || name == "rpoplpush" ||
                  name == "brpoplpush" || name == "rename" || name == "renamenx")) {
      a = acl::kKeyWrite;
    }
    if (name == "set") {
      bool get = false;
      for (size_t j = 3; j < argv.size(); ++j) get = get || iequals(argv[j], "GET");
      if (get) a = acl::kKeyReadWrite;
    }
    keys->push_back(acl::KeyRef{pos[i], a});
  }
}

void collect_channels(const CommandSpec& spec, std::span<const std::string_view> argv,
                      std::vector<acl::ChannelRef>* channels) {
  const std::string_view name = spec.name;
  if (name == "publish" || name == "spublish") {
    channels->push_back(acl::ChannelRef{1, false});
  } else if (name == "subscribe" || name == "ssubscribe" || name == "psubscribe") {
    for (size_t i = 1; i < argv.size(); ++i) {
      channels->push_back(acl::ChannelRef{i, name == "psubscribe"});
    }
  }
}

}  // namespace

std::vector<std::string> with_pubsub_default(const config::Config& config, bool new_user,
                                             std::span<const std::string_view> rules) {
  std::vector<std::string> out(rules.begin(), rules.end());
  auto it = config.redis_only.find("acl-pubsub-default");
  if (it == config.redis_only.end() || it->second != "allchannels") return out;
  out.clear();
  if (new_user) out.emplace_back("allchannels");
  for (std::string_view r : rules) {
    // A selector, given whole or split over arguments ("(~x*", "+get)").
    if (!r.empty() && r.front() == '(') {
      out.push_back("(&* " + std::string(r.substr(1)));
      continue;
    }
    out.emplace_back(r);
    if (iequals(r, "reset")) out.emplace_back("allchannels");
  }
  return out;
}

std::vector<std::vector<std::string>> lines_with_pubsub_default(
    const config::Config& config, const std::vector<std::vector<std::string>>& lines) {
  std::vector<std::vector<std::string>> out;
  for (const auto& words : lines) {
    if (words.size() < 2) {
      out.push_back(words);
      continue;
    }
    std::vector<std::string_view> rules(words.begin() + 2, words.end());
    std::vector<std::string> line{words[0], words[1]};
    for (auto& r : with_pubsub_default(config, true, rules)) line.push_back(std::move(r));
    out.push_back(std::move(line));
  }
  return out;
}

std::string read_aclfile(const std::string& path, std::vector<std::vector<std::string>>* lines) {
  std::ifstream in(path);
  if (!in) return "Error loading ACLs, opening file '" + path + "': No such file or directory";
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string>& words = lines->emplace_back();
    if (!config::split_line(line, &words)) {
      return "line " + std::to_string(lines->size()) + ": unbalanced quotes in acl line";
    }
  }
  return {};
}

AclState& acl_state(core::Broker& broker) {
  if (!broker.acl) broker.acl = std::make_unique<AclState>();
  return static_cast<AclState&>(*broker.acl);
}

acl::Verdict acl_check(const acl::User& user, const CommandSpec& spec,
                       std::span<const std::string_view> argv, size_t* bad_pos) {
  std::vector<acl::KeyRef> keys;
  std::vector<acl::ChannelRef> channels;
  collect_keys(spec, argv, &keys);
  collect_channels(spec, argv, &channels);
  acl::Request request{spec.acl_id, argv, keys, channels};
  return user.check(request, bad_pos);
}

void acl_note_denial(core::Broker& broker, core::Client& client, acl::Verdict verdict,
                     const char* context, const CommandSpec& spec,
                     std::span<const std::string_view> argv, size_t bad_pos) {
  AclState& state = acl_state(broker);
  client.last_command = spec.name;  // as Redis, CLIENT LIST shows the denied command
  acl::LogEntry e;
  e.context = context;
  switch (verdict) {
    case acl::Verdict::kCommand:
      ++state.stats.denied_cmd;
      e.reason = "command";
      e.object = spec.name;
      break;
    case acl::Verdict::kKey:
      ++state.stats.denied_key;
      e.reason = "key";
      e.object = std::string(argv[bad_pos]);
      break;
    case acl::Verdict::kChannel:
      ++state.stats.denied_channel;
      e.reason = "channel";
      e.object = std::string(argv[bad_pos]);
      break;
    default:
      return;
  }
  e.username = client_user(broker, client).name();
  e.created_ms = core::now_ms();
  e.client_info = client_info_line(broker, client, e.created_ms);
  state.registry.log(std::move(e),
                     static_cast<size_t>(std::max<int64_t>(broker.config().acllog_max_len, 0)));
}

void acl_note_auth_failure(core::Broker& broker, const core::Client& client,
                           std::string_view username) {
  AclState& state = acl_state(broker);
  ++state.stats.denied_auth;
  acl::LogEntry e;
  e.reason = "auth";
  e.context = client.in_multi ? "multi" : "toplevel";
  e.object = "AUTH";
  e.username = std::string(username);
  e.created_ms = core::now_ms();
  e.client_info = client_info_line(broker, client, e.created_ms);
  state.registry.log(std::move(e),
                     static_cast<size_t>(std::max<int64_t>(broker.config().acllog_max_len, 0)));
}

void acl_note_remote_auth_failure(core::Broker& broker, std::string_view username,
                                  const std::string& addr, const std::string& laddr, int fd) {
  core::Client peer(0, nullptr);
  peer.addr = addr;
  peer.laddr = laddr;
  peer.fd = fd;
  peer.created_ms = core::now_ms();
  peer.last_interaction_ms = peer.created_ms;
  acl_note_auth_failure(broker, peer, username);
}

std::string acl_denied_text(acl::Verdict verdict, const CommandSpec& spec) {
  switch (verdict) {
    case acl::Verdict::kKey:
      return "NOPERM this user has no permissions to access one of the keys used as arguments";
    case acl::Verdict::kChannel:
      return "NOPERM this user has no permissions to access one of the channels used as "
             "arguments";
    default:
      return "NOPERM this user has no permissions to run the '" + spec.name + "' command";
  }
}

void acl_kill_unsubscribed(core::Broker& broker, const acl::User* user) {
  const bool is_default = user == &acl_registry(broker).default_user();
  for (const auto& [id, client] : broker.clients()) {
    if (client->user != user && !(is_default && client->user == nullptr)) continue;
    bool lost = false;
    for (const auto& ch : client->channels) lost = lost || !user->channel_allowed(ch, false);
    for (const auto& ch : client->shard_channels) lost = lost || !user->channel_allowed(ch, false);
    for (const auto& p : client->patterns) lost = lost || !user->channel_allowed(p, true);
    if (lost && broker.control) broker.control->kill_client(*client);
  }
}

void acl_disconnect_user(core::Broker& broker, const acl::User* user) {
  acl::User& revoked = acl_registry(broker).revoked_user();
  for (const auto& [id, client] : broker.clients()) {
    if (client->user != user) continue;
    client->user = &revoked;
    client->authenticated = false;
    if (broker.control) broker.control->kill_client(*client);
  }
}

bool acl_authenticate(core::Broker& broker, core::Client& client, std::string_view username,
                      std::string_view password) {
  acl::User* user = acl_registry(broker).authenticate(username, password);
  if (!user) {
    acl_note_auth_failure(broker, client, username);
    return false;
  }
  client.user = user;
  client.authenticated = true;
  return true;
}

std::string acl_startup(core::Broker& broker) {
  auto& cfg = broker.config();
  acl::Registry& registry = acl_registry(broker);
  if (!cfg.aclfile.empty() && !cfg.acl_users.empty()) {
    return "Configuring Redis with users defined in redis.conf and at the same setting an ACL "
           "file path is invalid. This setup is very likely to lead to configuration errors and "
           "security holes, please define either an ACL file or declare users directly in your "
           "redis.conf, but not both.";
  }
  std::vector<std::unique_ptr<acl::User>> retired;
  if (!cfg.acl_users.empty()) {
    std::string err = registry.load_lines(lines_with_pubsub_default(cfg, cfg.acl_users), &retired);
    if (!err.empty()) return "Error in user declaration: " + err;
  }
  if (!cfg.requirepass.empty()) registry.set_default_password(cfg.requirepass);
  if (!cfg.aclfile.empty()) {
    std::vector<std::vector<std::string>> lines;
    std::string err = read_aclfile(cfg.aclfile, &lines);
    if (err.empty()) err = registry.load_lines(lines_with_pubsub_default(cfg, lines), &retired);
    if (!err.empty()) return err;
  }
  return {};
}

}  // namespace sluice::commands
