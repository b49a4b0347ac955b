#include "broker/server/metrics_http.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

#include "broker/server/connection.h"
#include "broker/server/http_request.h"
#include "broker/server/tls.h"
#include "wire/check.h"

namespace sluice::server {

// One HTTP connection. Lives from accept to its close callback; every libuv request it issues
// (one write, one shutdown) completes before that callback, cancelled if need be.
struct MetricsHttp::Connection {
  explicit Connection(MetricsHttp* server) : owner(server) {
    write_req.data = this;
    shutdown_req.data = this;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }

  MetricsHttp* owner;
  uv_tcp_t tcp{};
  uv_write_t write_req{};
  uv_shutdown_t shutdown_req{};
  http::RequestParser parser;
  std::unique_ptr<TlsSession> tls;  // HTTPS only
  std::string response;             // owned until the write callback
  char read_buffer[4096];           // one read at a time per stream, so one buffer suffices
  uint64_t deadline_ms = 0;         // uv_now() after which the connection is closed
  bool responded = false;           // from here on, input is read and discarded
  bool peer_closed = false;         // EOF seen while the response was still being written
  bool closing = false;
};

namespace {

bool is_ipv6(const std::string& address) { return address.find(':') != std::string::npos; }

std::string endpoint_url(const std::string& address, int port, bool tls) {
  std::string host = is_ipv6(address) ? "[" + address + "]" : address;
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(port) + "/metrics";
}

// A write that owns its bytes (TLS handshake messages): freed by its callback, which libuv runs
// (cancelled if need be) before the stream's close callback.
void write_owned(uv_stream_t* stream, std::string bytes) {
  if (bytes.empty()) return;
  struct Owned {
    uv_write_t req;
    std::string bytes;
  };
  auto* w = new Owned{{}, std::move(bytes)};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  if (uv_write(&w->req, stream, &buf, 1,
               [](uv_write_t* req, int) { delete static_cast<Owned*>(req->data); }) != 0) {
    delete w;
  }
}

}  // namespace

MetricsHttp::MetricsHttp(uv_loop_t* loop, Options options, Renderer render)
    : loop_(loop), options_(std::move(options)), render_(std::move(render)) {}

MetricsHttp::~MetricsHttp() {
  SLUICE_CHECK(connections_.empty() && listeners_.empty(),
               "metrics endpoint destroyed with %zu connections and %zu listeners open",
               connections_.size(), listeners_.size());
}

bool MetricsHttp::start() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_initialized_ = true;
  for (const auto& address : options_.addresses) {
    auto tcp = std::make_unique<uv_tcp_t>();
    uv_tcp_init(loop_, tcp.get());
    tcp->data = this;
    sockaddr_storage ss{};
    int rc = is_ipv6(address)
                 ? uv_ip6_addr(address.c_str(), options_.port, reinterpret_cast<sockaddr_in6*>(&ss))
                 : uv_ip4_addr(address.c_str(), options_.port, reinterpret_cast<sockaddr_in*>(&ss));
    if (rc == 0) rc = uv_tcp_bind(tcp.get(), reinterpret_cast<const sockaddr*>(&ss), 0);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), 128, on_connection);
    }
    listeners_.push_back(std::move(tcp));
    if (rc != 0) {
      spdlog::critical("Could not create the metrics listening socket {}:{}: {}", address,
                       options_.port, uv_strerror(rc));
      close();
      return false;
    }
    spdlog::info("Metrics endpoint listening on {}",
                 endpoint_url(address, options_.port, options_.tls != nullptr));
  }
  return true;
}

void MetricsHttp::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& listener : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener.release()),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  listeners_.clear();
  for (Connection* conn : std::vector<Connection*>(connections_.begin(), connections_.end())) {
    close_connection(conn);
  }
  if (timer_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void MetricsHttp::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<MetricsHttp*>(listener->data);
  if (status < 0) {
    spdlog::warn("metrics endpoint: accept failed: {}", uv_strerror(status));
    return;
  }
  auto* conn = new Connection(self);
  uv_tcp_init(self->loop_, &conn->tcp);
  conn->tcp.data = conn;
  self->connections_.insert(conn);
  if (uv_accept(listener, conn->stream()) != 0) {
    self->close_connection(conn);
    return;
  }
  if (self->closed_ || self->connections_.size() > kMaxConnections * 4) {
    self->close_connection(conn);  // a flood: not even a 503
    return;
  }
  if (self->options_.tls != nullptr) {
    if (self->connections_.size() > kMaxConnections) {
      self->close_connection(conn);
      return;
    }
    conn->tls = std::make_unique<TlsSession>(self->options_.tls->get());
  }
  conn->deadline_ms = uv_now(self->loop_) + kConnectionTimeoutMs;
  uv_read_start(
      conn->stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(h->data);
        *buf = uv_buf_init(c->read_buffer, sizeof(c->read_buffer));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Connection*>(s->data);
        if (c->closing) return;
        if (nread < 0) {
          // EOF while the response is still going out: finish it, then close.
          if (nread == UV_EOF && c->responded && !c->peer_closed) {
            c->peer_closed = true;
            if (c->response.empty()) c->owner->close_connection(c);  // already written
            return;
          }
          c->owner->close_connection(c);
          return;
        }
        if (nread == 0 || c->responded) return;
        if (c->tls) {
          c->owner->tls_received(c, buf->base, static_cast<size_t>(nread));
          return;
        }
        auto state = c->parser.feed(std::string_view(buf->base, static_cast<size_t>(nread)));
        if (state != http::ParseState::kIncomplete) {
          c->owner->send(c, c->owner->respond(c));
        }
      });
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&self->timer_))) {
    uv_timer_start(&self->timer_, on_timer, 1000, 1000);
  }
  if (self->connections_.size() > kMaxConnections) {
    // Answered at once, but through the same write, half-close and drain as any response:
    // closing over the unread request would reset the connection and lose the 503.
    conn->deadline_ms = uv_now(self->loop_) + kLingerMs;
    self->send(conn, std::string(http::service_unavailable_response()));
  }
}

std::string MetricsHttp::respond(Connection* conn) {
  http::Authorizer authorize;
  if (options_.authorize) {
    authorize = [this, conn](const http::Credentials& creds) {
      uv_os_fd_t fd = -1;
      uv_fileno(reinterpret_cast<const uv_handle_t*>(&conn->tcp), &fd);
      return options_.authorize(
          creds, HttpPeer{tcp_endpoint(&conn->tcp, false), tcp_endpoint(&conn->tcp, true), fd});
    };
  }
  return http::route_response(conn->parser, render_, authorize, options_.other);
}

void MetricsHttp::tls_received(Connection* conn, const char* data, size_t n) {
  TlsSession& tls = *conn->tls;
  tls.feed(data, n);
  if (!tls.established()) {
    TlsSession::Status status = tls.handshake();
    write_owned(conn->stream(), tls.take_output());
    if (status == TlsSession::Status::kError) {
      spdlog::info("metrics endpoint: TLS handshake failed: {}", tls.error());
      close_connection(conn);
      return;
    }
    if (status != TlsSession::Status::kDone) return;
  }
  char plain[4096];
  while (!conn->responded) {
    size_t got = 0;
    TlsSession::Status status = tls.read(plain, sizeof(plain), &got);
    if (status == TlsSession::Status::kWantInput) break;
    if (status != TlsSession::Status::kDone) {
      close_connection(conn);
      return;
    }
    if (conn->parser.feed(std::string_view(plain, got)) != http::ParseState::kIncomplete) {
      std::string response = respond(conn);
      tls.write(response.data(), response.size());
      tls.shutdown();
      send(conn, tls.take_output());
      return;
    }
  }
  write_owned(conn->stream(), tls.take_output());
}

void MetricsHttp::send(Connection* conn, std::string response) {
  conn->responded = true;
  conn->response = std::move(response);
  uv_buf_t buf = uv_buf_init(conn->response.data(), static_cast<unsigned>(conn->response.size()));
  int rc = uv_write(&conn->write_req, conn->stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    c->response.clear();
    c->response.shrink_to_fit();
    if (c->closing) return;
    if (status < 0 || c->peer_closed) {
      c->owner->close_connection(c);
      return;
    }
    // Half-close, then wait for the client to close its side: closing at once could reset
    // the connection over unread input and lose the response on its way.
    int src = uv_shutdown(&c->shutdown_req, c->stream(), [](uv_shutdown_t* sreq, int sstatus) {
      auto* sc = static_cast<Connection*>(sreq->data);
      if (sc->closing) return;
      if (sstatus < 0 || sc->peer_closed) {
        sc->owner->close_connection(sc);
        return;
      }
      sc->deadline_ms = std::min(sc->deadline_ms, uv_now(sc->owner->loop_) + kLingerMs);
    });
    if (src != 0) c->owner->close_connection(c);
  });
  if (rc != 0) close_connection(conn);
}

void MetricsHttp::close_connection(Connection* conn) {
  if (conn->closing) return;
  conn->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), [](uv_handle_t* h) {
    auto* c = static_cast<Connection*>(h->data);
    c->owner->connection_closed(c);
  });
}

void MetricsHttp::connection_closed(Connection* conn) {
  connections_.erase(conn);
  delete conn;
  if (connections_.empty() && !closed_) uv_timer_stop(&timer_);
}

void MetricsHttp::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<MetricsHttp*>(timer->data);
  uint64_t now = uv_now(self->loop_);
  for (Connection* conn :
       std::vector<Connection*>(self->connections_.begin(), self->connections_.end())) {
    if (conn->deadline_ms <= now) self->close_connection(conn);
  }
}

}  // namespace sluice::server
