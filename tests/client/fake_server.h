// FakeServer: a scripted RESP server on the test's own uv loop, for client behaviour a real
// server will not show on demand (refused HELLO, a reply that never comes, a dropped link).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wire/resp/request_parser.h"

namespace sluice::client::testing {

class FakeServer {
 public:
  // Returns the bytes to answer argv with; empty sends nothing.
  using Responder = std::function<std::string(const std::vector<std::string>& argv)>;

  FakeServer(uv_loop_t* loop, Responder responder) : responder_(std::move(responder)) {
    listener_ = new Listener{};
    listener_->owner = this;
    uv_tcp_init(loop, &listener_->tcp);
    listener_->tcp.data = listener_;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&listener_->tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_->tcp), 64, on_connection);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&listener_->tcp, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~FakeServer() { close(); }

  int port() const { return port_; }
  // Drops every client connection (the listener stays).
  void drop_clients() {
    for (Client* c : clients_) close_client(c);
    clients_.clear();
  }
  void close() {
    drop_clients();
    if (listener_ != nullptr) {
      listener_->owner = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_->tcp),
               [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
      listener_ = nullptr;
    }
  }
  // Sends bytes to every connected client, unprompted.
  void broadcast(const std::string& bytes) {
    for (Client* c : clients_) send(c, bytes);
  }

  int accepted = 0;
  std::vector<std::vector<std::string>> received;

 private:
  struct Listener {
    uv_tcp_t tcp;
    FakeServer* owner;
  };
  struct Client {
    uv_tcp_t tcp;
    FakeServer* owner;
    std::string in;
    wire::resp::RequestParser parser;
  };
  struct Write {
    uv_write_t req;
    std::string bytes;
  };

  static void on_connection(uv_stream_t* server, int status) {
    auto* listener = static_cast<Listener*>(server->data);
    if (status != 0 || listener->owner == nullptr) return;
    auto* c = new Client{};
    c->owner = listener->owner;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp));
    listener->owner->clients_.push_back(c);
    ++listener->owner->accepted;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t n, uv_buf_t* buf) {
          buf->base = new char[n];
          buf->len = n;
        },
        on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    std::unique_ptr<char[]> owned(buf->base);
    auto* c = static_cast<Client*>(stream->data);
    if (c->owner == nullptr) return;
    if (nread < 0) {
      FakeServer* self = c->owner;
      std::erase(self->clients_, c);
      self->close_client(c);
      return;
    }
    c->in.append(buf->base, static_cast<size_t>(nread));
    size_t offset = 0;
    while (true) {
      std::vector<std::string_view> argv;
      size_t consumed = 0;
      auto outcome = c->parser.parse(std::string_view(c->in).substr(offset), &argv, &consumed);
      if (outcome != wire::resp::RequestParser::Outcome::kCommand) break;
      std::vector<std::string> args(argv.begin(), argv.end());
      offset += consumed;
      c->owner->received.push_back(args);
      std::string reply = c->owner->responder_(args);
      if (c->owner == nullptr) return;  // the responder dropped this client
      if (!reply.empty()) send(c, reply);
    }
    c->in.erase(0, offset);
  }

  static void send(Client* c, const std::string& bytes) {
    auto* w = new Write{};
    w->bytes = bytes;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
             [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); });
  }

  void close_client(Client* c) {
    c->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
  }

  Responder responder_;
  Listener* listener_ = nullptr;
  std::vector<Client*> clients_;
  int port_ = 0;
};

// The RESP3 HELLO reply, trimmed to what the client reads.
inline std::string hello3_reply() {
  return "%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n";
}

// Runs the loop until pred() holds; fails the test if the loop runs dry first.
template <typename Pred>
bool run_until(uv_loop_t* loop, Pred pred) {
  while (!pred()) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !pred()) return false;
  }
  return true;
}

}  // namespace sluice::client::testing
