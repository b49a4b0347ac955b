// Connection: one client socket. Reads into an input buffer, parses and runs every complete
// command in order, and queues replies; the server writes them once per loop iteration
// (before polling), with writev. A big bulk (RequestParser::kBigBulk bytes or more) is read
// straight into a buffer of its exact size, which a command may keep (no copy), as Redis reads
// big arguments into an sds of the right size. Each loop iteration reads a bounded number of
// bytes from a connection, so one client sending a giant value or pipeline cannot hold the loop.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/core/client.h"
#include "broker/server/input_buffer.h"
#include "wire/resp/request_parser.h"
#include "wire/tls_session.h"

namespace sluice::server {

using TlsSession = wire::TlsSession;

// "ip:port" of the peer (local = false) or of our end of a TCP connection; "?:0" if unknown.
std::string tcp_endpoint(uv_tcp_t* tcp, bool local);

class SendRing;
class Server;

class Connection final : public core::ClientHost {
 public:
  Connection(Server* server, uint64_t id);
  ~Connection() override;

  uv_tcp_t* handle() { return &tcp_; }
  core::Client& client() { return client_; }

  // Makes this a TLS connection (before start): the handshake runs on the first bytes read.
  void use_tls(std::unique_ptr<TlsSession> session);
  bool tls() const { return tls_ != nullptr; }
  // Starts reading after accept.
  void start();
  // Writes what is releasable. Called by the server before polling.
  void flush();
  // The same through a batch: queues a send of what is releasable on `ring` (true), or does
  // what flush() does when there is nothing to send or the ring is full (false). After the
  // ring's submit, sent() takes the result.
  bool queue_send(SendRing& ring);
  void sent(int result);
  // Closes the socket (idempotent); the object is deleted in the close callback.
  void close();
  bool closing() const { return closing_; }
  bool wants_flush = false;  // queued in the server's flush list
  bool close_requested = false;
  bool resume_pending = false;  // unblocked: run pipelined input before the next flush
  // Resumed after waiting for the descriptor budget (Server::defer_for_files): its next command
  // runs whatever the budget says.
  void pass_files_budget() { files_pass_ = true; }

  // ClientHost
  void output_ready(core::Client& client) override;
  void close_soon(core::Client& client) override;
  void unblocked(core::Client& client) override;

  // Runs the commands already in the input buffer (after a read, or after being unblocked).
  void process_input();
  // Reads whatever the socket holds now (outside libuv's poll) and runs it. False when nothing
  // was read. Used by the server's fan-out sweep.
  bool read_now();

 private:
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_close(uv_handle_t* h);
  void protocol_error(const std::string& text);
  // Where the next read goes: the big bulk being received, or the input buffer. An empty
  // buffer when this iteration's read budget is spent.
  uv_buf_t read_buffer();
  // The same without the read budget (plaintext already read off the socket).
  uv_buf_t input_space();
  void received(size_t n);
  // TLS: ciphertext read from the socket; runs the handshake, then decrypts into the input.
  void tls_received(const char* data, size_t n);
  // TLS: encrypts releasable replies (a bounded amount ahead of the socket) and writes them.
  void tls_flush();
  void begin_big_bulk(wire::resp::RequestParser::BigBulk bulk);
  // Unparsed input as Redis counts it against client-query-buffer-limit.
  size_t query_buffer_bytes() const;
  QueryBuffer query_buffer() const override;
  bool auth_required() const;
  size_t gather_output();
  void wrote(ssize_t n, size_t total);
  void finish_if_drained();
  // Asks the client's output source for more when little is queued.
  void pull_source();
  void check_output_limits();

  Server* server_;
  uv_tcp_t tcp_;
  uv_write_t write_req_;
  core::Client client_;
  wire::resp::RequestParser parser_;
  InputBuffer input_;
  size_t input_pos_ = 0;  // start of the unparsed bytes
  std::vector<std::string_view> argv_;
  // The current command's big bulks; while big_filling_, the last one is being received: it
  // holds big_filled_ bytes of big_total_ (the bulk and its CRLF) and is zero-filled up to its
  // size() ahead of the reads.
  std::vector<std::string> big_args_;
  size_t big_filled_ = 0;
  size_t big_total_ = 0;
  bool files_pass_ = false;
  bool big_filling_ = false;
  uint64_t read_iteration_ = 0;  // the loop iteration read_bytes_ counts for
  size_t read_bytes_ = 0;
  std::vector<iovec> iov_;
  size_t write_in_flight_ = 0;
  msghdr msg_{};           // a queued batch send (SendRing)
  size_t send_total_ = 0;  // its byte count  // bytes handed to uv_write, not yet completed
  bool reading_ = false;
  bool closing_ = false;
  // Null for plain connections: their paths test this one pointer and nothing else.
  std::unique_ptr<TlsSession> tls_;
};

}  // namespace sluice::server
