// MasterLink: a replica's connection to its master (replication/replication.h states the
// protocol). Handshake (PING, AUTH, REPLCONF listening-port / capa, PSYNC), then either the full
// sync payload (written file by file into repl-sync-incoming/ as it arrives, then swapped in
// for the data and the engines reopened) or +CONTINUE, then the live stream, applied command by
// command on a client flagged `master`. During a FAILOVER of this server the PSYNC carries
// FAILOVER and its reply ends (or aborts) it. With tls-replication the connection speaks TLS (a
// client TlsSession over memory BIOs, as the server's connections). Sends REPLCONF ACK every
// second (cron) and on GETACK. On any error the link closes; the server's cron makes a new one.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/client.h"
#include "wire/resp/request_parser.h"
#include "wire/tls_session.h"

namespace sluice::server {

class Server;
using TlsSession = wire::TlsSession;

class MasterLink final : public core::ClientHost {
 public:
  MasterLink(Server* server, std::string host, int port);
  ~MasterLink() override;
  // Connects. On failure the link closes itself (closed() turns true).
  void start();
  // Closes the connection; the object is deleted by its close callback.
  void stop();
  // Once a second: REPLCONF ACK when streaming.
  void cron();
  bool closed() const { return closing_; }
  // The master client exists and is listed.
  bool streaming() const { return client_ != nullptr; }

  // ClientHost: the master's client gets no replies. CLIENT KILL of it drops the link and a new
  // one connects at once (PSYNC, usually +CONTINUE), as Redis's replica reconnects.
  void output_ready(core::Client& client) override { client.out.reset(); }
  void close_soon(core::Client&) override;
  void unblocked(core::Client&) override {}

 private:
  enum class State : uint8_t {
    kConnecting,
    kPing,
    kAuth,
    kPort,
    kCapa,
    kPsync,
    kBulkHeader,
    kBulk,
    kStreaming
  };
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_close(uv_handle_t* h);
  void send(std::string bytes);
  // Writes bytes to the socket as they are (ciphertext under TLS).
  void send_raw(std::string bytes);
  // TLS: ciphertext read; runs the handshake (PING once established) and decrypts into in_.
  bool tls_received(const char* data, size_t n);
  void send_command(std::initializer_list<std::string_view> argv);
  void fail(const std::string& why);
  void process();
  // One reply line of the handshake, or false when it is not complete yet.
  bool take_line(std::string* line);
  void handshake_reply(const std::string& line);
  // Writes the payload bytes that arrived to files under incoming_dir(); false on failure.
  bool receive_payload();
  bool install_payload();
  std::string incoming_dir() const;
  void apply_stream();
  void send_ack();
  // The stream starts: the master client is made and listed (CLIENT LIST, flags=M). After a
  // partial resync it keeps the ID, age and database of the one before (Redis's cached master).
  void start_streaming(bool continued);

  Server* server_;
  std::string host_;
  int port_;
  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  State state_ = State::kConnecting;
  std::string in_;
  size_t in_pos_ = 0;
  char read_buf_[64 * 1024];
  uint64_t bulk_len_ = 0;
  // The payload being received: bytes left, the current entry's header bytes, and the file
  // being written with the bytes it still expects.
  uint64_t bulk_left_ = 0;
  std::string sync_id_;  // from +FULLRESYNC
  uint64_t sync_offset_ = 0;
  std::string entry_head_;
  int file_fd_ = -1;
  uint64_t file_left_ = 0;
  std::unique_ptr<core::Client> client_;  // while streaming, listed in the broker's clients
  std::string txn_raw_;  // the stream bytes of an open MULTI, counted once its EXEC ran
  wire::resp::RequestParser parser_;
  std::vector<std::string_view> argv_;
  bool closing_ = false;
  std::unique_ptr<TlsSession> tls_;  // tls-replication
};

}  // namespace sluice::server
