// Connection: one client socket. Reads into an input buffer, parses and runs every complete
// command in order, and queues replies; the server writes them once per loop iteration
// (before polling), with writev.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <string>
#include <vector>

#include "broker/core/client.h"
#include "broker/server/input_buffer.h"
#include "wire/resp/request_parser.h"

namespace sluice::server {

class SendRing;
class Server;

class Connection final : public core::ClientHost {
 public:
  Connection(Server* server, uint64_t id);
  ~Connection() override;

  uv_tcp_t* handle() { return &tcp_; }
  core::Client& client() { return client_; }

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
  void received(size_t n);
  size_t gather_output();
  void wrote(ssize_t n, size_t total);
  void finish_if_drained();
  void check_output_limits();

  Server* server_;
  uv_tcp_t tcp_;
  uv_write_t write_req_;
  core::Client client_;
  wire::resp::RequestParser parser_;
  InputBuffer input_;
  size_t input_pos_ = 0;  // start of the unparsed bytes
  std::vector<std::string_view> argv_;
  std::vector<iovec> iov_;
  size_t write_in_flight_ = 0;
  msghdr msg_{};           // a queued batch send (SendRing)
  size_t send_total_ = 0;  // its byte count  // bytes handed to uv_write, not yet completed
  bool reading_ = false;
  bool closing_ = false;
};

}  // namespace sluice::server
