// Connection: an async RESP client connection on the caller's uv_loop_t. It connects with a
// timeout, negotiates RESP3 with HELLO 3 (falling back to RESP2 when the server refuses it),
// authenticates, pipelines commands with callbacks called in order, dispatches RESP3 pushes
// (and RESP2 subscribed-mode messages) to a push handler, and reconnects with exponential
// backoff after the connection drops. With ConnectionOptions::tls it speaks TLS (a server's
// tls-port), optionally presenting a client certificate.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "client/result.h"
#include "wire/resp/value.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;  // NOLINT: libuv's own spelling, so <uv.h> stays private

namespace sluice::client {

using wire::resp::Value;
using ReplyCallback = std::function<void(Result<Value>)>;
using PushCallback = std::function<void(const Value&)>;

// TLS to a server's tls-port (OpenSSL, the broker's memory-BIO session, wire/tls_session.h).
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;  // CA certificates (PEM) that verify the server; empty: system default
  std::string
      cert_file;         // client certificate (PEM) for tls-auth-clients yes/optional; may be empty
  std::string key_file;  // its private key (PEM)
  // The name the server's certificate must carry (DNS name or IP address); empty: `host`.
  std::string server_name;
  bool verify_server = true;  // false: accept any server certificate (tests only)
};

struct ConnectionOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // 3: HELLO 3, and RESP2 if the server answers HELLO with an error other than an auth
  // failure. 2: stay on RESP2 (AUTH and CLIENT SETNAME are sent as separate commands).
  int protocol = 3;
  std::string username;  // empty: AUTH with the password only
  std::string password;  // empty: no AUTH
  std::string client_name;
  int database = 0;
  uint64_t connect_timeout_ms = 5000;  // TCP connect plus handshake
  uint64_t command_timeout_ms = 0;     // 0: commands wait for their reply forever
  bool reconnect = true;
  uint64_t reconnect_initial_ms = 50;  // the first retry waits this long, then doubles
  uint64_t reconnect_max_ms = 2000;
  int max_connect_attempts = -1;       // consecutive failed attempts before giving up; -1: never
  size_t max_offline_queue = 1 << 20;  // commands held while (re)connecting
  TlsOptions tls;
};

enum class ConnectionState {
  kConnecting,          // TCP connect, TLS handshake or HELLO/AUTH in progress
  kReady,               // commands are written as they come
  kWaitingToReconnect,  // backing off before the next attempt
  kDisconnected,        // gave up, reconnect is off, or close() was called
};

// Contract:
// - Commands issued while connecting or reconnecting are queued and sent once ready. Commands
//   in flight when the connection drops fail with kConnectionLost and are not resent (they may
//   have run).
// - Reply callbacks run in command order, on the loop thread, never inside command() itself.
// - A command whose timeout passes fails with kTimeout and the connection is reset, because
//   later replies could no longer be matched to their commands.
// - The destructor drops pending callbacks without calling them; close() calls them with
//   kClosed. Either way the loop must keep running until the handles are closed (uv_run
//   returns once nothing else is active). Destroying the Connection inside one of its own
//   callbacks is allowed.
class Connection {
 public:
  static constexpr uint64_t kDefaultTimeout = std::numeric_limits<uint64_t>::max();

  // Starts connecting at once (the loop does the work once it runs).
  Connection(uv_loop_t* loop, ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends a command. timeout_ms: kDefaultTimeout uses options.command_timeout_ms, 0 none.
  void command(std::vector<std::string> args, ReplyCallback callback,
               uint64_t timeout_ms = kDefaultTimeout);
  // Sends a (P|S)SUBSCRIBE or (P|S)UNSUBSCRIBE command. It has no reply slot: the server
  // confirms it (once per channel) with push messages, which go to the push handler.
  void send_pubsub(std::vector<std::string> args);

  // Fails every queued and in-flight command with kClosed and stops reconnecting.
  void close();

  void set_push_handler(PushCallback handler);
  // Called every time a connection becomes ready (the first and each reconnect).
  void set_ready_handler(std::function<void()> handler);
  // Called when a ready connection drops or an attempt fails, with the reason.
  void set_disconnect_handler(std::function<void(const Error&)> handler);

  ConnectionState state() const;
  bool ready() const { return state() == ConnectionState::kReady; }
  int protocol() const;       // negotiated: 2 or 3 (meaningful once ready)
  uint64_t connects() const;  // successful handshakes so far
  size_t in_flight() const;   // commands written and awaiting replies
  const ConnectionOptions& options() const;
  uv_loop_t* loop() const;

  class Impl;

 private:
  Impl* impl_;  // deletes itself once its libuv handles are closed
};

// Encodes a command as a RESP multibulk.
void encode_command(const std::vector<std::string>& args, std::string* out);

}  // namespace sluice::client
