// MetricsHttp: the Prometheus endpoint (metrics-port), a minimal HTTP/1.1 server on the broker's
// loop, and the web console's door: GET /metrics is answered here, every other path goes to
// Options::other (console/console_api.h) when set. Every connection carries one request (head
// and a Content-Length body of at most http::kMaxRequestBodyBytes) and gets one response with
// "Connection: close";
// the server then half-closes and drops the connection once the client closes its side.
// Bounded everywhere, so a scraper or an attacker cannot stall or bloat the broker: request
// heads of http::kMaxRequestHeadBytes, kMaxConnections served at once (more get 503, and past
// four times that they are closed unanswered), and kConnectionTimeoutMs per connection.
// With a TlsContext (metrics-tls) it serves HTTPS: the same, inside a TLS session per connection
// (connections past kMaxConnections are closed without the 503, which needs a handshake).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/server/http_request.h"

namespace sluice::server {

class TlsContext;

// The HTTP client a request came from, for the authorizer's records (ACL LOG).
struct HttpPeer {
  std::string addr;   // "ip:port" of the client
  std::string laddr;  // "ip:port" of the metrics listener
  int fd = -1;
};

class MetricsHttp {
 public:
  static constexpr size_t kMaxConnections = 16;
  static constexpr uint64_t kConnectionTimeoutMs = 10000;
  // After the response, how long a client that keeps its side open may take to close it.
  static constexpr uint64_t kLingerMs = 2000;

  struct Options {
    std::vector<std::string> addresses;  // IPv4 or IPv6 literals
    int port = 0;
    const TlsContext* tls = nullptr;  // HTTPS with the broker's current TLS context; null: HTTP
    // Checks each request's Authorization header (asked per request, so it follows runtime
    // changes of passwords); null: no credentials needed.
    std::function<bool(const http::Credentials&, const HttpPeer&)> authorize;
    // Answers requests for paths other than /metrics (it checks credentials itself); null: 404.
    http::OtherHandler other;
  };
  // Produces the body of GET /metrics; runs on the loop thread, once per scrape.
  using Renderer = std::function<std::string()>;

  MetricsHttp(uv_loop_t* loop, Options options, Renderer render);
  // The owner must have called close() and run the loop until the close callbacks ran.
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Binds and listens on every address and logs where. On failure logs why, closes what it
  // opened and returns false.
  bool start();
  // Closes the listeners and every connection (idempotent). The handles are released by their
  // close callbacks, so the loop must run once more before this object is destroyed.
  void close();

  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;

  static void on_connection(uv_stream_t* listener, int status);
  static void on_timer(uv_timer_t* timer);
  void close_connection(Connection* conn);
  // Writes the connection's one response, then half-closes and drains until the client closes.
  void send(Connection* conn, std::string response);
  void connection_closed(Connection* conn);
  // HTTPS: ciphertext from the client; handshakes, then feeds the request parser.
  void tls_received(Connection* conn, const char* data, size_t n);
  // The response to the request `conn` has read, its credentials checked as coming from it.
  std::string respond(Connection* conn);

  uv_loop_t* loop_;
  Options options_;
  Renderer render_;
  std::vector<std::unique_ptr<uv_tcp_t>> listeners_;
  uv_timer_t timer_;  // closes connections past their deadline; runs while there are any
  bool timer_initialized_ = false;
  bool closed_ = false;
  std::unordered_set<Connection*> connections_;
};

}  // namespace sluice::server
