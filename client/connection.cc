// Connection: state machine (connect, handshake, ready, backoff), write batching through a
// prepare handle, and reply matching. The Impl outlives the Connection until libuv has closed
// every handle, so a callback may destroy the Connection safely.
#include "client/connection.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <memory>
#include <string_view>
#include <utility>

#include "wire/resp/reply_parser.h"
#include "wire/tls_session.h"

namespace sluice::client {
namespace {

constexpr uint64_t kTimeoutTickMs = 10;

bool is_subscribe_kind(std::string_view kind) {
  return kind == "subscribe" || kind == "psubscribe" || kind == "ssubscribe";
}

bool is_pubsub_kind(std::string_view kind) {
  return is_subscribe_kind(kind) || kind == "message" || kind == "pmessage" || kind == "smessage" ||
         kind == "unsubscribe" || kind == "punsubscribe" || kind == "sunsubscribe";
}

// The client SSL_CTX for `tls`, or null with *error set.
SSL_CTX* make_tls_context(const TlsOptions& tls, const std::string& host, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  auto fail = [&](const std::string& what) {
    *error = what + ": " + wire::openssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  if (ctx == nullptr) return fail("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (tls.verify_server) {
    const bool loaded = tls.ca_file.empty()
                            ? SSL_CTX_set_default_verify_paths(ctx) == 1
                            : SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) == 1;
    if (!loaded) return fail("cannot load CA certificates " + tls.ca_file);
    const std::string& name = tls.server_name.empty() ? host : tls.server_name;
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    // An IP literal is matched against the certificate's IP addresses, a name against its DNS
    // names.
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1 &&
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) {
      return fail("bad server name " + name);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
      return fail("cannot load client certificate " + tls.cert_file);
    }
    const std::string& key = tls.key_file.empty() ? tls.cert_file : tls.key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return fail("cannot load client key " + key);
    }
  }
  return ctx;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

void encode_command(const std::vector<std::string>& args, std::string* out) {
  out->push_back('*');
  out->append(std::to_string(args.size()));
  out->append("\r\n");
  for (const std::string& arg : args) {
    out->push_back('$');
    out->append(std::to_string(arg.size()));
    out->append("\r\n");
    out->append(arg);
    out->append("\r\n");
  }
}

class Connection::Impl {
 public:
  Impl(uv_loop_t* loop, ConnectionOptions options) : loop_(loop), options_(std::move(options)) {
    for (uv_timer_t* t : {&connect_timer_, &retry_timer_, &timeout_timer_}) {
      uv_timer_init(loop_, t);
      t->data = this;
    }
    uv_prepare_init(loop_, &prepare_);
    prepare_.data = this;
    open_handles_ = 4;
    if (options_.tls.enabled) tls_ctx_ = make_tls_context(options_.tls, options_.host, &tls_error_);
    start_connect();
  }

  ~Impl() { SSL_CTX_free(tls_ctx_); }

  // Called by ~Connection: no more user callbacks, close everything, self-delete when done.
  void detach(bool notify) {
    if (detached_) return;
    if (notify) fail_everything(Error(ErrorKind::kClosed, "connection closed by the client"));
    detached_ = true;
    user_closed_ = true;
    push_handler_ = nullptr;
    ready_handler_ = nullptr;
    disconnect_handler_ = nullptr;
    in_flight_.clear();
    offline_.clear();
    deferred_.clear();
    close_socket();
    state_ = ConnectionState::kDisconnected;
    for (uv_timer_t* t : {&connect_timer_, &retry_timer_, &timeout_timer_}) {
      uv_close(reinterpret_cast<uv_handle_t*>(t), on_handle_closed);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), on_handle_closed);
  }

  void close() {
    if (user_closed_) return;
    user_closed_ = true;
    uv_timer_stop(&retry_timer_);
    uv_timer_stop(&connect_timer_);
    close_socket();
    state_ = ConnectionState::kDisconnected;
    fail_everything(Error(ErrorKind::kClosed, "connection closed by the client"));
  }

  void command(std::vector<std::string> args, ReplyCallback cb, uint64_t timeout_ms, bool pubsub) {
    if (detached_) return;
    if (timeout_ms == kDefaultTimeout) timeout_ms = options_.command_timeout_ms;
    const uint64_t deadline = timeout_ms == 0 ? 0 : uv_now(loop_) + timeout_ms;
    Queued q{{}, std::move(cb), deadline, pubsub, subscribe_kind(args)};
    encode_command(args, &q.bytes);
    switch (state_) {
      case ConnectionState::kReady:
        write_now(std::move(q));
        break;
      case ConnectionState::kConnecting:
      case ConnectionState::kWaitingToReconnect:
        if (offline_.size() >= options_.max_offline_queue) {
          defer_failure(std::move(q.callback),
                        Error(ErrorKind::kConnectionLost, "offline queue is full"));
        } else {
          offline_.push_back(std::move(q));
          arm_timeout_timer();
        }
        break;
      case ConnectionState::kDisconnected:
        defer_failure(std::move(q.callback),
                      user_closed_ ? Error(ErrorKind::kClosed, "connection closed by the client")
                                   : last_error_);
        break;
    }
  }

  PushCallback push_handler_;
  std::function<void()> ready_handler_;
  std::function<void(const Error&)> disconnect_handler_;
  ConnectionState state_ = ConnectionState::kConnecting;
  int protocol_ = 2;
  uint64_t connects_ = 0;
  uv_loop_t* loop_;
  ConnectionOptions options_;

  size_t in_flight_count() const { return in_flight_.size(); }

 private:
  struct Queued {
    std::string bytes;
    ReplyCallback callback;
    uint64_t deadline;  // loop time in ms; 0: none
    bool pubsub;        // no reply slot
    bool subscribes;    // enters RESP2 subscribed mode
  };
  struct Pending {
    ReplyCallback callback;  // user callback, or a handshake step
    uint64_t deadline;
  };
  // One TCP connection attempt. Heap-allocated so a stale socket can finish closing after the
  // Impl has moved on to the next attempt (or been deleted).
  struct Socket {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    Impl* owner;
  };
  struct WriteReq {
    uv_write_t req;
    std::string bytes;
  };

  static bool subscribe_kind(const std::vector<std::string>& args) {
    return !args.empty() && is_subscribe_kind(lower(args[0]));
  }

  // --- connecting ---

  void start_connect() {
    state_ = ConnectionState::kConnecting;
    if (!tls_error_.empty()) {
      // A TLS setup that cannot load will not load on a retry either.
      handshake_failed(Error(ErrorKind::kConnectFailed, "TLS: " + tls_error_));
      return;
    }
    sockaddr_storage addr{};
    if (!resolve(&addr)) {
      connect_failed(Error(ErrorKind::kConnectFailed, "cannot resolve host " + options_.host));
      return;
    }
    socket_ = new Socket{};
    socket_->owner = this;
    uv_tcp_init(loop_, &socket_->tcp);
    socket_->tcp.data = socket_;
    socket_->connect_req.data = socket_;
    int rc = uv_tcp_connect(&socket_->connect_req, &socket_->tcp,
                            reinterpret_cast<const sockaddr*>(&addr), on_connect);
    if (rc != 0) {
      connect_failed(Error(ErrorKind::kConnectFailed, endpoint() + ": " + uv_strerror(rc)));
      return;
    }
    uv_timer_start(&connect_timer_, on_connect_timeout, options_.connect_timeout_ms, 0);
  }

  bool resolve(sockaddr_storage* out) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(out);
    if (uv_ip4_addr(options_.host.c_str(), options_.port, v4) == 0) return true;
    auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
    if (uv_ip6_addr(options_.host.c_str(), options_.port, v6) == 0) return true;
    // A host name: resolve synchronously (a name lookup per connect is rare and short).
    uv_getaddrinfo_t req;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const std::string port = std::to_string(options_.port);
    if (uv_getaddrinfo(loop_, &req, nullptr, options_.host.c_str(), port.c_str(), &hints) != 0) {
      return false;
    }
    bool found = req.addrinfo != nullptr;
    if (found) std::memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return found;
  }

  std::string endpoint() const { return options_.host + ":" + std::to_string(options_.port); }

  static void on_connect(uv_connect_t* req, int status) {
    auto* sock = static_cast<Socket*>(req->data);
    Impl* self = sock->owner;
    if (self == nullptr) return;  // a stale attempt, already being closed
    if (status != 0) {
      self->connect_failed(
          Error(ErrorKind::kConnectFailed, self->endpoint() + ": " + uv_strerror(status)));
      return;
    }
    uv_tcp_nodelay(&sock->tcp, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&sock->tcp), on_alloc, on_read);
    if (self->tls_ctx_ != nullptr) {
      // The ClientHello goes first; HELLO/AUTH once the session is established.
      self->tls_ = std::make_unique<wire::TlsSession>(self->tls_ctx_, true);
      self->tls_->handshake();
      self->write_socket(self->tls_->take_output());
      return;
    }
    self->handshake();
  }

  static void on_connect_timeout(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    self->connect_failed(Error(ErrorKind::kConnectFailed,
                               self->endpoint() + ": connect timed out after " +
                                   std::to_string(self->options_.connect_timeout_ms) + " ms"));
  }

  void handshake() {
    if (options_.protocol >= 3) {
      std::vector<std::string> hello{"HELLO", "3"};
      if (!options_.password.empty()) {
        hello.insert(
            hello.end(),
            {"AUTH", options_.username.empty() ? "default" : options_.username, options_.password});
      }
      if (!options_.client_name.empty())
        hello.insert(hello.end(), {"SETNAME", options_.client_name});
      internal(std::move(hello), [this](Result<Value> r) {
        if (r) {
          protocol_ = 3;
          finish_handshake(false);
        } else if (r.error().kind() != ErrorKind::kReply) {
          return;  // the attempt failed underneath; connect_failed handles it
        } else if (is_auth_failure(r.error())) {
          handshake_failed(r.error());
        } else {
          protocol_ = 2;  // an older server: NOPROTO or unknown command
          finish_handshake(true);
        }
      });
    } else {
      protocol_ = 2;
      finish_handshake(true);
    }
  }

  static bool is_auth_failure(const Error& e) {
    return e.is_reply("WRONGPASS") || e.is_reply("NOAUTH") ||
           (e.kind() == ErrorKind::kReply &&
            e.message().find("invalid password") != std::string::npos);
  }

  // The RESP2 path sends AUTH and SETNAME itself; both paths SELECT. The last step makes the
  // connection ready; a failure of any step fails the attempt.
  void finish_handshake(bool resp2_setup) {
    std::vector<std::vector<std::string>> steps;
    if (resp2_setup && !options_.password.empty()) {
      if (options_.username.empty()) {
        steps.push_back({"AUTH", options_.password});
      } else {
        steps.push_back({"AUTH", options_.username, options_.password});
      }
    }
    if (resp2_setup && !options_.client_name.empty()) {
      steps.push_back({"CLIENT", "SETNAME", options_.client_name});
    }
    if (options_.database != 0) steps.push_back({"SELECT", std::to_string(options_.database)});
    if (steps.empty()) {
      become_ready();
      return;
    }
    auto remaining = std::make_shared<size_t>(steps.size());
    for (auto& step : steps) {
      internal(std::move(step), [this, remaining](Result<Value> r) {
        if (state_ != ConnectionState::kConnecting) return;       // an earlier step failed
        if (!r && r.error().kind() != ErrorKind::kReply) return;  // the attempt failed
        if (!r) {
          handshake_failed(r.error());
          return;
        }
        if (--*remaining == 0) become_ready();
      });
    }
  }

  void handshake_failed(const Error& e) {
    // Credentials or database that the server rejects will not get better by retrying.
    last_error_ = e.kind() == ErrorKind::kConnectFailed
                      ? e
                      : Error(ErrorKind::kConnectFailed, "handshake rejected: " + e.message());
    uv_timer_stop(&connect_timer_);
    close_socket();
    state_ = ConnectionState::kDisconnected;
    user_closed_ = true;
    Error err = last_error_;
    fail_everything(err);
    if (!detached_ && disconnect_handler_) disconnect_handler_(err);
  }

  void internal(std::vector<std::string> args, ReplyCallback cb) {
    Queued q{{}, std::move(cb), 0, false, false};
    encode_command(args, &q.bytes);
    write_now(std::move(q));
  }

  void become_ready() {
    uv_timer_stop(&connect_timer_);
    state_ = ConnectionState::kReady;
    attempts_ = 0;
    ++connects_;
    std::deque<Queued> queued = std::move(offline_);
    offline_.clear();
    for (Queued& q : queued) write_now(std::move(q));
    if (ready_handler_) ready_handler_();
  }

  void connect_failed(const Error& e) {
    uv_timer_stop(&connect_timer_);
    close_socket();
    ++attempts_;
    last_error_ = e;
    const bool give_up = !options_.reconnect || user_closed_ ||
                         (options_.max_connect_attempts >= 0 &&
                          attempts_ >= static_cast<uint64_t>(options_.max_connect_attempts));
    // The state changes first, so commands issued from the callbacks below are queued (or
    // refused), never written into the dead socket's bookkeeping.
    state_ = give_up ? ConnectionState::kDisconnected : ConnectionState::kWaitingToReconnect;
    fail_in_flight(Error(ErrorKind::kConnectionLost, e.message()));
    if (detached_) return;
    if (give_up) {
      fail_offline(e);
    } else if (!user_closed_) {
      schedule_retry();
    }
    if (!detached_ && disconnect_handler_) disconnect_handler_(e);
  }

  void schedule_retry() {
    uint64_t delay = options_.reconnect_initial_ms;
    for (uint64_t i = 1; i < attempts_ && delay < options_.reconnect_max_ms; ++i) delay *= 2;
    delay = std::min(delay, options_.reconnect_max_ms);
    uv_timer_start(&retry_timer_, on_retry, delay, 0);
  }

  static void on_retry(uv_timer_t* timer) { static_cast<Impl*>(timer->data)->start_connect(); }

  // A ready (or handshaking) connection broke: fail what was in flight, then reconnect at
  // once; backoff applies from the second attempt on.
  void connection_lost(const Error& e) {
    if (state_ == ConnectionState::kConnecting) {
      connect_failed(e);
      return;
    }
    close_socket();
    last_error_ = e;
    const bool retry = options_.reconnect && !user_closed_;
    state_ = retry ? ConnectionState::kWaitingToReconnect : ConnectionState::kDisconnected;
    fail_in_flight(e);
    if (detached_) return;
    if (!retry) {
      fail_offline(e);
    } else if (!user_closed_) {
      attempts_ = 0;
      start_connect();
    }
    if (!detached_ && disconnect_handler_) disconnect_handler_(e);
  }

  void close_socket() {
    if (socket_ == nullptr) return;
    socket_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp),
             [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    socket_ = nullptr;
    tls_.reset();
    in_buf_.clear();
    out_.clear();
    resp2_subscribed_ = false;
    uv_prepare_stop(&prepare_);
  }

  // --- writing ---

  void write_now(Queued q) {
    out_ += q.bytes;
    if (q.subscribes) resp2_subscribed_ = true;
    if (!q.pubsub) {
      in_flight_.push_back(Pending{std::move(q.callback), q.deadline});
      if (q.deadline != 0) arm_timeout_timer();
    }
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&prepare_))) {
      uv_prepare_start(&prepare_, on_prepare);
    }
  }

  void defer_failure(ReplyCallback cb, Error e) {
    if (!cb) return;
    deferred_.emplace_back(std::move(cb), std::move(e));
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&prepare_))) {
      uv_prepare_start(&prepare_, on_prepare);
    }
  }

  // Before the loop polls: write everything queued this iteration in one uv_write, and run
  // failure callbacks that command() must not run synchronously.
  static void on_prepare(uv_prepare_t* handle) {
    auto* self = static_cast<Impl*>(handle->data);
    uv_prepare_stop(handle);
    if (!self->out_.empty() && self->socket_ != nullptr) {
      std::string bytes = std::move(self->out_);
      self->out_.clear();
      if (self->tls_) {
        self->tls_->write(bytes.data(), bytes.size());
        bytes = self->tls_->take_output();
      }
      self->write_socket(std::move(bytes));
      if (self->detached_) return;
    }
    std::deque<std::pair<ReplyCallback, Error>> failures = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& [cb, err] : failures) {
      cb(std::move(err));
      if (self->detached_) return;
    }
  }

  // One uv_write of `bytes` (ciphertext under TLS) on the current socket.
  void write_socket(std::string bytes) {
    if (bytes.empty() || socket_ == nullptr) return;
    auto* w = new WriteReq{};
    w->bytes = std::move(bytes);
    w->req.data = socket_;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&socket_->tcp), &buf, 1, on_write);
    if (rc != 0) {
      delete w;
      connection_lost(
          Error(ErrorKind::kConnectionLost, std::string("write failed: ") + uv_strerror(rc)));
    }
  }

  static void on_write(uv_write_t* req, int status) {
    auto* w = reinterpret_cast<WriteReq*>(req);
    auto* sock = static_cast<Socket*>(req->data);
    delete w;
    if (status != 0 && sock->owner != nullptr) {
      sock->owner->connection_lost(
          Error(ErrorKind::kConnectionLost, std::string("write failed: ") + uv_strerror(status)));
    }
  }

  // --- reading ---

  static void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* sock = static_cast<Socket*>(stream->data);
    std::unique_ptr<char[]> owned(buf->base);
    Impl* self = sock->owner;
    if (self == nullptr || nread == 0) return;
    if (nread < 0) {
      self->connection_lost(Error(ErrorKind::kConnectionLost,
                                  nread == UV_EOF
                                      ? std::string("server closed the connection")
                                      : std::string(uv_strerror(static_cast<int>(nread)))));
      return;
    }
    if (self->tls_) {
      self->tls_received(buf->base, static_cast<size_t>(nread));
      return;
    }
    self->in_buf_.append(buf->base, static_cast<size_t>(nread));
    self->parse_replies();
  }

  // Ciphertext from the server: the handshake first (then HELLO/AUTH), then plaintext replies.
  void tls_received(const char* data, size_t n) {
    wire::TlsSession& tls = *tls_;
    tls.feed(data, n);
    if (!tls.established()) {
      wire::TlsSession::Status status = tls.handshake();
      write_socket(tls.take_output());
      if (tls_.get() != &tls) return;  // the write failed and closed the socket
      if (status == wire::TlsSession::Status::kError) {
        connect_failed(Error(ErrorKind::kConnectFailed,
                             endpoint() + ": TLS handshake failed: " + tls.error()));
        return;
      }
      if (status != wire::TlsSession::Status::kDone) return;
      handshake();
      if (tls_.get() != &tls) return;
    }
    char plain[16 * 1024];
    while (true) {
      size_t got = 0;
      wire::TlsSession::Status status = tls.read(plain, sizeof(plain), &got);
      if (status == wire::TlsSession::Status::kDone) {
        in_buf_.append(plain, got);
        continue;
      }
      if (status == wire::TlsSession::Status::kWantInput) break;
      // A refused client certificate shows here under TLS 1.3: the server's alert.
      connection_lost(
          Error(ErrorKind::kConnectionLost, status == wire::TlsSession::Status::kClosed
                                                ? std::string("server closed the TLS session")
                                                : "TLS: " + tls.error()));
      return;
    }
    write_socket(tls.take_output());  // post-handshake messages (key updates)
    if (tls_.get() != &tls) return;
    parse_replies();
  }

  void parse_replies() {
    size_t offset = 0;
    Socket* sock = socket_;
    while (offset < in_buf_.size()) {
      Value value;
      size_t consumed = 0;
      auto outcome = parser_.parse(std::string_view(in_buf_).substr(offset), &value, &consumed);
      if (outcome == wire::resp::ReplyParser::Outcome::kIncomplete) break;
      if (outcome == wire::resp::ReplyParser::Outcome::kError) {
        connection_lost(Error(ErrorKind::kProtocol, parser_.error()));
        return;
      }
      offset += consumed;
      dispatch(std::move(value));
      // A callback may have closed this socket or the whole client.
      if (detached_ || socket_ != sock) return;
    }
    in_buf_.erase(0, offset);
  }

  bool is_push(const Value& v) {
    if (v.type == Value::Type::kPush) return true;
    if (!resp2_subscribed_ || v.type != Value::Type::kArray || v.elems.empty()) return false;
    const Value& kind = v.elems[0];
    return kind.type == Value::Type::kBulk && is_pubsub_kind(kind.str);
  }

  void dispatch(Value value) {
    if (is_push(value)) {
      if (value.elems.size() >= 3 && value.elems[2].type == Value::Type::kInteger &&
          value.elems[2].integer == 0 &&
          (value.elems[0].str == "unsubscribe" || value.elems[0].str == "punsubscribe")) {
        resp2_subscribed_ = false;
      }
      if (push_handler_) push_handler_(value);
      return;
    }
    if (in_flight_.empty()) {
      connection_lost(Error(ErrorKind::kProtocol, "a reply arrived with no command waiting"));
      return;
    }
    Pending p = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (!p.callback) return;
    if (value.is_error()) {
      p.callback(Error(ErrorKind::kReply, std::move(value.str)));
    } else {
      p.callback(std::move(value));
    }
  }

  // --- timeouts ---

  void arm_timeout_timer() {
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timeout_timer_))) {
      uv_timer_start(&timeout_timer_, on_timeout_tick, kTimeoutTickMs, kTimeoutTickMs);
    }
  }

  static void on_timeout_tick(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    const uint64_t now = uv_now(self->loop_);
    bool any_deadline = false;
    bool expired_in_flight = false;
    for (Pending& p : self->in_flight_) {
      if (p.deadline == 0) continue;
      any_deadline = true;
      if (p.deadline <= now) expired_in_flight = true;
    }
    // Queued commands that time out before the connection is back just fail.
    std::vector<ReplyCallback> expired_offline;
    for (auto it = self->offline_.begin(); it != self->offline_.end();) {
      if (it->deadline != 0 && it->deadline <= now) {
        expired_offline.push_back(std::move(it->callback));
        it = self->offline_.erase(it);
      } else {
        any_deadline |= it->deadline != 0;
        ++it;
      }
    }
    if (!any_deadline) uv_timer_stop(timer);
    for (ReplyCallback& cb : expired_offline) {
      if (cb) cb(Error(ErrorKind::kTimeout, "timed out waiting for the connection"));
      if (self->detached_) return;
    }
    if (expired_in_flight) {
      // Fail the expired ones with kTimeout and the rest with kConnectionLost, then reconnect.
      for (Pending& p : self->in_flight_) {
        if (p.deadline != 0 && p.deadline <= now && p.callback) {
          ReplyCallback cb = std::move(p.callback);
          p.callback = [cb = std::move(cb)](Result<Value>) {
            cb(Error(ErrorKind::kTimeout, "no reply within the command timeout"));
          };
        }
      }
      self->connection_lost(Error(ErrorKind::kConnectionLost, "reset after a command timed out"));
    }
  }

  // --- failing ---

  void fail_in_flight(const Error& e) {
    std::deque<Pending> failed = std::move(in_flight_);
    in_flight_.clear();
    for (Pending& p : failed) {
      if (p.callback) p.callback(e);
      if (detached_) return;
    }
  }

  void fail_offline(const Error& e) {
    std::deque<Queued> failed = std::move(offline_);
    offline_.clear();
    for (Queued& q : failed) {
      if (q.callback) q.callback(e);
      if (detached_) return;
    }
  }

  void fail_everything(const Error& e) {
    fail_in_flight(e);
    if (!detached_) fail_offline(e);
    std::deque<std::pair<ReplyCallback, Error>> failures = std::move(deferred_);
    deferred_.clear();
    for (auto& [cb, err] : failures) {
      if (detached_) return;
      cb(std::move(err));
    }
  }

  static void on_handle_closed(uv_handle_t* handle) {
    auto* self = static_cast<Impl*>(handle->data);
    if (--self->open_handles_ == 0) delete self;
  }

  Socket* socket_ = nullptr;
  SSL_CTX* tls_ctx_ = nullptr;             // options_.tls.enabled and loaded
  std::string tls_error_;                  // why the TLS context did not load
  std::unique_ptr<wire::TlsSession> tls_;  // the current socket's session
  uv_timer_t connect_timer_;
  uv_timer_t retry_timer_;
  uv_timer_t timeout_timer_;
  uv_prepare_t prepare_;
  int open_handles_ = 0;
  bool detached_ = false;
  bool user_closed_ = false;
  bool resp2_subscribed_ = false;
  uint64_t attempts_ = 0;
  Error last_error_{ErrorKind::kConnectFailed, "not connected"};
  std::string in_buf_;
  std::string out_;
  std::deque<Pending> in_flight_;
  std::deque<Queued> offline_;
  std::deque<std::pair<ReplyCallback, Error>> deferred_;
  wire::resp::ReplyParser parser_;
};

Connection::Connection(uv_loop_t* loop, ConnectionOptions options)
    : impl_(new Impl(loop, std::move(options))) {}

Connection::~Connection() { impl_->detach(false); }

void Connection::command(std::vector<std::string> args, ReplyCallback callback,
                         uint64_t timeout_ms) {
  impl_->command(std::move(args), std::move(callback), timeout_ms, false);
}

void Connection::send_pubsub(std::vector<std::string> args) {
  impl_->command(std::move(args), nullptr, 0, true);
}

void Connection::close() { impl_->close(); }
void Connection::set_push_handler(PushCallback h) { impl_->push_handler_ = std::move(h); }
void Connection::set_ready_handler(std::function<void()> h) {
  impl_->ready_handler_ = std::move(h);
}
void Connection::set_disconnect_handler(std::function<void(const Error&)> h) {
  impl_->disconnect_handler_ = std::move(h);
}
ConnectionState Connection::state() const { return impl_->state_; }
int Connection::protocol() const { return impl_->protocol_; }
uint64_t Connection::connects() const { return impl_->connects_; }
size_t Connection::in_flight() const { return impl_->in_flight_count(); }
const ConnectionOptions& Connection::options() const { return impl_->options_; }
uv_loop_t* Connection::loop() const { return impl_->loop_; }

}  // namespace sluice::client
