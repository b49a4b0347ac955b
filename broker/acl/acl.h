// Access control as Redis 7.0: users, their rules (ACL SETUSER's language), selectors, the
// permission check the dispatcher calls before a command runs, and the ACL LOG.
//
// Contract:
// - acl/ knows nothing of the server, the command table or RESP. The commands layer describes
//   its commands once (Catalog: names, parent/subcommand links, category bits) and asks
//   User::check() with the command's id and the argument positions of its keys and channels.
// - A User lives at a stable address from creation until Registry::del_user() (clients keep a
//   pointer to theirs). Rules change users in place; the commands layer closes the connections
//   of a deleted user before the user is destroyed.
// - User::unrestricted() is one load: the dispatcher skips the check for users with every
//   command, key and channel (the default user unless configured otherwise).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::acl {

// Redis's categories, in the order ACL CAT lists them (bit i = kCategoryNames[i]).
inline constexpr const char* kCategoryNames[] = {
    "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting"};
inline constexpr size_t kCategoryCount = std::size(kCategoryNames);
// The category's bit, or 0 for an unknown name (case-insensitive).
uint32_t category_bit(std::string_view name);
// "@write @stream @fast" -> bits.
uint32_t category_bits(std::string_view spaced_names);

// The commands as the ACL sees them. Ids are dense indexes, in the order the commands were
// added; the describing of rules (ACL LIST) walks them in that order.
class Catalog {
 public:
  struct Command {
    std::string name;  // lowercase, "parent|sub" for subcommands
    uint32_t categories = 0;
    int parent = -1;        // the container's id for a subcommand
    std::vector<int> subs;  // subcommand ids of a container
    bool no_auth = false;   // AUTH, HELLO...: always allowed, as in Redis
  };
  int add(std::string name, uint32_t categories, int parent, bool no_auth);
  int find(std::string_view name) const;  // case-insensitive; -1 if unknown
  const Command& at(int id) const { return commands_[static_cast<size_t>(id)]; }
  size_t size() const { return commands_.size(); }

 private:
  std::vector<Command> commands_;
  std::map<std::string, int, std::less<>> by_name_;
};

enum KeyAccess : uint8_t { kKeyRead = 1, kKeyWrite = 2, kKeyReadWrite = 3 };

// A key or channel argument of a command to check.
struct KeyRef {
  size_t pos;      // index in argv
  uint8_t access;  // KeyAccess bits
};
struct ChannelRef {
  size_t pos;
  bool pattern;  // PSUBSCRIBE: the pattern itself must be one the user has
};

// Why a check failed; ordered as Redis ranks the reasons across selectors.
enum class Verdict : uint8_t { kOk = 0, kCommand, kKey, kAuth, kChannel };

struct Request {
  int command_id;                          // Catalog id of the command or subcommand run
  std::span<const std::string_view> argv;  // as sent, argv[0] the command name
  std::span<const KeyRef> keys;            // may be empty for a command without keys
  std::span<const ChannelRef> channels;    // publish/subscribe channel arguments
};

struct KeyPattern {
  std::string pattern;
  uint8_t access;  // KeyAccess bits
};

// A set of permissions: the user's root one, or one of its "(...)" selectors. A command is
// allowed when one selector allows all of it.
class Selector {
 public:
  Selector(const Catalog* catalog, bool root);
  // Applies one rule ("~key*", "+get", "-@write", "allchannels"...); on error returns its
  // message (Redis's words) and the selector may be half changed (callers apply to a copy).
  std::string apply(std::string_view op);
  Verdict check(const Request& request, size_t* bad_pos) const;
  bool allows_command(int id) const;
  bool all_commands() const { return all_commands_; }
  bool all_keys() const { return all_keys_; }
  bool all_channels() const { return all_channels_; }
  bool everything() const;  // every command, key and channel
  bool channel_allowed(std::string_view channel, bool pattern) const;

  // As Redis prints them: "-@all +get", "~a* %R~b*", "&*" or "resetchannels &x".
  std::string describe_commands() const;
  std::string describe_keys() const;      // GETUSER's "keys" ("" without patterns)
  std::string describe_channels() const;  // GETUSER's "channels"
  std::string describe() const;           // keys, channels, commands (ACL LIST)

 private:
  bool bit(int id) const;
  void set_bit(int id, bool on);
  void change_command(int id, bool allow);  // the command and its subcommands
  void change_category(uint32_t bit, bool allow);

  const Catalog* catalog_;
  bool root_;
  std::vector<uint64_t> allowed_;  // one bit per catalog id, then the "future commands" bit
  bool all_commands_ = false;      // +@all and nothing taken away since
  bool all_keys_ = false;
  bool all_channels_ = false;
  std::vector<KeyPattern> keys_;
  std::vector<std::string> channels_;
  std::map<int, std::vector<std::string>> first_args_;  // +select|0: first arguments allowed
};

class User {
 public:
  User(const Catalog* catalog, std::string name);

  const std::string& name() const { return name_; }
  bool enabled() const { return enabled_; }
  bool nopass() const { return nopass_; }
  // True when the dispatcher may skip check(): every command, key and channel.
  bool unrestricted() const { return unrestricted_; }
  // Whether `password` opens this user (enabled, and nopass or a matching hash).
  bool password_ok(std::string_view password) const;

  // Applies rules in order, all or nothing: on error returns "Error in ACL SETUSER modifier
  // '<op>': <why>" and the user is unchanged. Arguments of a selector may be split over
  // several words ("(~a*", "+get)") as redis-cli sends them.
  std::string apply(std::span<const std::string_view> rules);

  Verdict check(const Request& request, size_t* bad_pos) const;
  // Whether one selector allows the command with every key (SORT's BY and GET patterns need it).
  bool all_keys_for(int command_id) const;
  // Whether every (pattern) subscription in `channels` is still allowed (after rules change).
  bool channel_allowed(std::string_view channel, bool pattern) const;

  std::string describe() const;  // "on nopass ~* &* +@all" (ACL LIST without "user <name> ")
  std::vector<std::string> flags() const;
  const std::vector<std::string>& passwords() const { return passwords_; }
  const Selector& root() const { return selectors_.front(); }
  std::span<const Selector> extra_selectors() const {
    return std::span<const Selector>(selectors_).subspan(1);
  }

 private:
  std::string apply_one(std::string_view op);
  void refresh();

  const Catalog* catalog_;
  std::string name_;
  bool enabled_ = false;
  bool nopass_ = false;
  int sanitize_payload_ = 0;            // 0 unset, 1 sanitize-payload, 2 skip-sanitize-payload
  std::vector<std::string> passwords_;  // sha256 hex, in the order added
  std::vector<Selector> selectors_;     // [0] is the root selector
  bool unrestricted_ = false;
};

// One ACL LOG entry (Redis's fields).
struct LogEntry {
  uint64_t count = 1;
  std::string reason;   // "command", "key", "channel", "auth"
  std::string context;  // "toplevel", "multi", "lua"
  std::string object;
  std::string username;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::string client_info;
  uint64_t entry_id = 0;
};

// Every user, plus the ACL LOG. Starts with the default user "on nopass ~* &* +@all".
class Registry {
 public:
  explicit Registry(const Catalog* catalog);

  const Catalog& catalog() const { return *catalog_; }
  User* find(std::string_view name) const;
  User& default_user() const { return *default_; }
  // A user that may run nothing but AUTH/HELLO-like commands, never listed: clients of a deleted
  // user point here until their connection closes.
  User& revoked_user() const { return *revoked_; }
  // Creates the user when missing (created "off" with no permissions), then applies the
  // rules, all or nothing. Returns "" or the error text (without "ERR ").
  std::string set_user(std::string_view name, std::span<const std::string_view> rules);
  // Removes a user (never "default"); false if missing. The caller has closed its clients.
  bool del_user(std::string_view name);
  // Users sorted by name.
  std::vector<const User*> users() const;
  // "user <name> <rules>" lines sorted by name (ACL LIST, ACL SAVE).
  std::vector<std::string> list_lines() const;
  // The user `name` if `password` opens it, else nullptr.
  User* authenticate(std::string_view name, std::string_view password) const;
  // requirepass: "" makes the default user nopass, anything else its only password.
  void set_default_password(std::string_view password);

  // Replaces every user from "user <name> <rules...>" lines (an aclfile or config `user`
  // lines), all or nothing; returns "" or the error. As Redis's ACL LOAD, the default user keeps
  // its address (its rules are replaced) and every other user is replaced: the old ones move to
  // *retired so the caller can close their clients before dropping them.
  // Each line is given as its words ("user", name, rules...); an empty line is skipped.
  std::string load_lines(const std::vector<std::vector<std::string>>& lines,
                         std::vector<std::unique_ptr<User>>* retired);

  // ACL LOG.
  void log(LogEntry entry, size_t max_len);
  const std::vector<LogEntry>& log_entries() const { return log_; }  // newest first
  void reset_log() { log_.clear(); }

 private:
  const Catalog* catalog_;
  std::map<std::string, std::unique_ptr<User>, std::less<>> users_;
  User* default_;
  std::unique_ptr<User> revoked_;
  std::vector<LogEntry> log_;
  uint64_t next_entry_id_ = 0;
};

// Protected mode as Redis 7.0: while `protected-mode yes` and the default user has no password
// (nopass), only clients from the loopback interface are accepted. `peer_ip` is the client's
// address without its port ("127.0.0.1", "::1", "::ffff:127.0.0.1").
bool protected_mode_refuses(bool protected_mode, const User& default_user,
                            std::string_view peer_ip);
// What a refused client is sent before its connection is closed (the whole RESP line).
extern const char kProtectedModeDenied[];

}  // namespace sluice::acl
