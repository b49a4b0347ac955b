// The commands layer's side of access control: the broker's user registry, the catalog built
// from the command table, the keys and channels of a command as the ACL checks them, and the
// denial bookkeeping (NOPERM texts, ACL LOG, INFO counters) shared by the dispatcher, EXEC and
// scripts.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/acl/acl.h"
#include "broker/commands/command_table.h"
#include "broker/core/broker.h"

namespace sluice::commands {

// INFO stats acl_access_denied_*.
struct AclStats {
  uint64_t denied_auth = 0;
  uint64_t denied_cmd = 0;
  uint64_t denied_key = 0;
  uint64_t denied_channel = 0;
};

// The broker's ACL state (Broker::acl), created on first use.
struct AclState : core::BrokerExtension {
  AclState() : registry(&command_table().acl_catalog()) {}
  acl::Registry registry;
  AclStats stats;
};

AclState& acl_state(core::Broker& broker);
inline acl::Registry& acl_registry(core::Broker& broker) { return acl_state(broker).registry; }

// The user a client runs as (null in Client::user means "default").
inline acl::User& client_user(core::Broker& broker, const core::Client& client) {
  return client.user ? *client.user : acl_registry(broker).default_user();
}

// Whether a new connection starts authenticated: the default user is on and nopass.
inline bool default_user_opens(core::Broker& broker) {
  const acl::User& u = acl_registry(broker).default_user();
  return u.enabled() && u.nopass();
}

// AUTH and HELLO AUTH: on success the client runs as the user; on failure logs and counts it.
bool acl_authenticate(core::Broker& broker, core::Client& client, std::string_view username,
                      std::string_view password);

// Loads `user` lines and `aclfile` from the config into the registry and applies requirepass;
// returns "" or the error (the server refuses to start).
std::string acl_startup(core::Broker& broker);

// acl-pubsub-default allchannels (Redis 7.0): a new user, each new selector and `reset` start
// with allchannels rather than resetchannels. Returns `rules` with that made explicit (unchanged
// under the default, resetchannels, which is how users start anyway).
std::vector<std::string> with_pubsub_default(const config::Config& config, bool new_user,
                                             std::span<const std::string_view> rules);
// The same for `user <name> <rules...>` lines (config file, aclfile).
std::vector<std::vector<std::string>> lines_with_pubsub_default(
    const config::Config& config, const std::vector<std::vector<std::string>>& lines);

// Reads an aclfile into lines of words; returns "" or the error (Redis's words).
std::string read_aclfile(const std::string& path, std::vector<std::vector<std::string>>* lines);

// Checks argv (of the resolved command or subcommand `spec`) against the user's rules.
acl::Verdict acl_check(const acl::User& user, const CommandSpec& spec,
                       std::span<const std::string_view> argv, size_t* bad_pos);

// Counts a denial, adds the ACL LOG entry. `context` is "toplevel", "multi" or "lua".
void acl_note_denial(core::Broker& broker, core::Client& client, acl::Verdict verdict,
                     const char* context, const CommandSpec& spec,
                     std::span<const std::string_view> argv, size_t bad_pos);
// A failed AUTH/HELLO AUTH for `username`.
void acl_note_auth_failure(core::Broker& broker, const core::Client& client,
                           std::string_view username);
// A failed login that did not come from a client connection (the metrics port's credentials):
// the same record, its client-info describing the peer at `addr` (our end: `laddr`).
void acl_note_remote_auth_failure(core::Broker& broker, std::string_view username,
                                  const std::string& addr, const std::string& laddr, int fd);

// "NOPERM this user has no permissions to ..." (top level).
std::string acl_denied_text(acl::Verdict verdict, const CommandSpec& spec);

// After the user's rules changed: closes its clients subscribed to a channel or pattern it may
// no longer use (Redis's ACLKillPubsubClientsIfNeeded).
void acl_kill_unsubscribed(core::Broker& broker, const acl::User* user);

// Closes the connections of `user` (deleted, or retired by ACL LOAD) and points them at no
// user; the script client is never one of them.
void acl_disconnect_user(core::Broker& broker, const acl::User* user);

}  // namespace sluice::commands
