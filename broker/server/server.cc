#include "broker/server/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/client_ops.h"
#include "broker/commands/cold_read.h"
#include "broker/commands/error_text.h"
#include "broker/commands/metrics_text.h"
#include "broker/console/console_api.h"
#include "broker/console/json.h"
#include "broker/replication/replication.h"
#include "broker/server/connection.h"
#include "broker/server/master_link.h"
#include "broker/server/metrics_http.h"
#include "broker/server/tls.h"
#include "broker/server/uring.h"
#include "broker/storage/cold_read.h"
#include "broker/storage/open_files.h"
#include "broker/storage/read_ahead.h"
#include "broker/stream/stream_engine.h"

namespace sluice::server {
namespace {

// Fan-out sweep stride (see write_replies) and the most sends one io_uring_enter carries.
constexpr size_t kSweepStride = 16;
constexpr unsigned kRingEntries = 64;

// Work item for fdatasync on the thread pool.
struct SyncWork {
  uv_work_t req;
  Server* server;
  core::SyncBatch batch;
  uint64_t epoch;
  uint64_t generation;
  int error = 0;
  int failed_fd = -1;
};

// Byte comparison whose time does not depend on where the strings differ.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// The metrics endpoint and the console ask for credentials once a password guards the broker:
// the default user is disabled or has a password (requirepass), another user has a password, or
// metrics-token is set.
bool http_guarded(core::Broker& broker) {
  acl::Registry& registry = commands::acl_registry(broker);
  bool guarded = !broker.config().metrics_token.empty() || !commands::default_user_opens(broker);
  for (const acl::User* user : registry.users()) guarded = guarded || !user->passwords().empty();
  return guarded;
}

// Accepted for /metrics: Basic with a user and its password (no user or "default": the default
// user's), or Bearer with metrics-token. Credentials given and refused are a failed login: ACL
// LOG (reason auth, the user as given, or "metrics-token" for a bearer token) and
// acl_access_denied_auth, as a failed AUTH.
bool metrics_request_allowed(core::Broker& broker, const http::Credentials& creds,
                             const HttpPeer& peer) {
  const std::string& token = broker.config().metrics_token;
  acl::Registry& registry = commands::acl_registry(broker);
  if (!http_guarded(broker)) return true;
  std::string_view username;
  switch (creds.scheme) {
    case http::Credentials::Scheme::kBearer:
      if (!token.empty() && same_secret(creds.secret, token)) return true;
      username = "metrics-token";
      break;
    case http::Credentials::Scheme::kBasic:
      // Both sides string_view: a std::string temporary would leave `username` dangling.
      username = creds.user.empty() ? std::string_view("default") : std::string_view(creds.user);
      if (registry.authenticate(username, creds.secret) != nullptr) return true;
      break;
    case http::Credentials::Scheme::kNone:
      return false;  // no login attempted: only the 401
  }
  commands::acl_note_remote_auth_failure(broker, username, peer.addr, peer.laddr, peer.fd);
  return false;
}

// The console's user: Basic credentials name one (checked even when nothing is guarded);
// without them, the default user while nothing is guarded. The metrics-token does not open the
// console. False: 401.
bool console_user(core::Broker& broker, const http::Credentials& creds, acl::User** user) {
  acl::Registry& registry = commands::acl_registry(broker);
  if (creds.scheme == http::Credentials::Scheme::kBasic) {
    *user = registry.authenticate(creds.user.empty() ? "default" : creds.user, creds.secret);
    return *user != nullptr;
  }
  if (http_guarded(broker)) return false;
  *user = &registry.default_user();
  return true;
}

}  // namespace

Server::Server(config::Config* config) : config_(config), broker_(config) {
  uv_loop_init(&loop_);
  broker_.control = this;
}

Server::~Server() { uv_loop_close(&loop_); }

int64_t Server::uptime_ms() const { return core::now_ms() - started_ms_; }

bool Server::listen_all() {
  // port 0 with a tls-port: TLS only (as Redis). port 0 alone: an ephemeral port (tests).
  if (config_->port != 0 || config_->tls_port == 0) {
    if (!listen_on(config_->port, false, &port_)) return false;
  }
  if (config_->tls_port != 0 && !listen_on(config_->tls_port, true, &tls_port_)) return false;
  return true;
}

bool Server::listen_on(int port, bool tls, int* bound) {
  for (const auto& addr : config_->bind) {
    auto tcp = std::make_unique<uv_tcp_t>();
    uv_tcp_init(&loop_, tcp.get());
    tcp->data = this;
    sockaddr_storage ss{};
    bool v6 = addr.find(':') != std::string::npos;
    int rc = v6 ? uv_ip6_addr(addr.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
                : uv_ip4_addr(addr.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
    if (rc == 0) rc = uv_tcp_bind(tcp.get(), reinterpret_cast<const sockaddr*>(&ss), 0);
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), config_->tcp_backlog,
                     tls ? on_tls_connection : on_connection);
    }
    if (rc != 0) {
      spdlog::critical("Could not create server {}TCP listening socket {}:{}: {}",
                       tls ? "TLS " : "", addr, port, uv_strerror(rc));
      uv_close(reinterpret_cast<uv_handle_t*>(tcp.release()),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      return false;
    }
    if (*bound == 0) {
      sockaddr_storage local{};
      int len = sizeof(local);
      uv_tcp_getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&local), &len);
      *bound = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    }
    (tls ? tls_listeners_ : listeners_).push_back(std::move(tcp));
  }
  return true;
}

std::string Server::apply_tls_config() {
  if (!tls_ && !config::tls_enabled(*config_)) return {};  // off, and stays off
  // The first context is kept only once it loaded; later ones replace the current one inside.
  std::unique_ptr<TlsContext> first = tls_ ? nullptr : std::make_unique<TlsContext>();
  TlsContext& ctx = tls_ ? *tls_ : *first;
  std::string err = ctx.configure(*config_);
  if (err.empty() && config_->tls_port != tls_port_) err = relisten_tls();
  if (!err.empty()) {
    spdlog::warn("Failed to update TLS configuration: {}", err);
    return err;
  }
  if (first) tls_ = std::move(first);
  spdlog::info("TLS configuration reloaded: new connections use it");
  return {};
}

std::string Server::relisten_tls() {
  std::vector<std::unique_ptr<uv_tcp_t>> old;
  old.swap(tls_listeners_);
  int bound = 0;
  if (config_->tls_port != 0 && !listen_on(config_->tls_port, true, &bound)) {
    close_listeners(&tls_listeners_);
    tls_listeners_.swap(old);
    return "could not listen on tls-port " + std::to_string(config_->tls_port);
  }
  close_listeners(&old);
  tls_port_ = bound;
  if (bound != 0) spdlog::info("Accepting TLS connections on port {}", bound);
  return {};
}

void Server::close_listeners(std::vector<std::unique_ptr<uv_tcp_t>>* listeners) {
  for (auto& l : *listeners) {
    uv_close(reinterpret_cast<uv_handle_t*>(l.release()),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  listeners->clear();
}

int Server::run() {
  started_ms_ = core::now_ms();
  broker_.start_time_ms = started_ms_;
  if (std::string err = commands::apply_command_renames(config_->renamed_commands); !err.empty()) {
    spdlog::critical("Fatal config error in rename-command: {}", err);
    return 1;
  }
  if (std::string err = commands::acl_startup(broker_); !err.empty()) {
    spdlog::critical("Aborting Sluice startup because of ACL errors: {}", err);
    return 1;
  }
  try {
    broker_.open();
  } catch (const std::exception& e) {
    spdlog::critical("Fatal error loading the data in '{}': {}", config_->dir, e.what());
    return 1;
  }
  load_repl_state();
  replication::of(broker_).remove_stale_checkpoints();
  if (!config_->replicaof.empty()) {
    auto& repl = replication::of(broker_);
    size_t sp = config_->replicaof.find(' ');
    repl.master_host = config_->replicaof.substr(0, sp);
    repl.master_port = std::atoi(config_->replicaof.c_str() + sp + 1);
    repl.link = replication::LinkStatus::kConnecting;
    repl.link_down_since_ms = started_ms_;
  }
  if (config::tls_enabled(*config_)) {
    tls_ = std::make_unique<TlsContext>();
    std::string err = tls_->configure(*config_);
    if (!err.empty()) {
      spdlog::critical("Failed to configure TLS: {}", err);
      broker_.close();
      uv_run(&loop_, UV_RUN_NOWAIT);
      return 1;
    }
  }
  if (config_->metrics_port != 0) {
    console_ = std::make_unique<console::ConsoleApi>(broker_);
    metrics_ = std::make_unique<MetricsHttp>(
        &loop_,
        MetricsHttp::Options{
            config::metrics_addresses(*config_), config_->metrics_port,
            config_->metrics_tls ? tls_.get() : nullptr,
            [this](const http::Credentials& creds, const HttpPeer& peer) {
              return metrics_request_allowed(broker_, creds, peer);
            },
            [this](const http::Request& request) { return console_response(request); }},
        [this] { return commands::render_metrics(broker_, core::now_ms()); });
  }
  if ((metrics_ && !metrics_->start()) || !listen_all()) {
    if (metrics_) metrics_->close();
    broker_.close();
    uv_run(&loop_, UV_RUN_NOWAIT);
    return 1;
  }
  storage::prepare_read_buffers();
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, on_prepare);
  uv_idle_init(&loop_, &spin_);
  spin_.data = this;
  if (config_->io_uring) {
    std::string why;
    ring_ = SendRing::create(kRingEntries, &why);
    if (!ring_) spdlog::warn("io_uring unavailable ({}): replies are written with writev", why);
  }
  uv_timer_init(&loop_, &console_timer_);
  console_timer_.data = this;
  if (console_) {
    console_->tick(core::now_ms());
    uv_timer_start(&console_timer_, on_console_timer, 1000, 1000);
  }
  uv_timer_init(&loop_, &cron_);
  cron_.data = this;
  uv_timer_start(&cron_, on_cron, 100, static_cast<uint64_t>(1000 / std::max(1, config_->hz)));
  uv_timer_init(&loop_, &fsync_timer_);
  fsync_timer_.data = this;
  uv_timer_start(&fsync_timer_, on_fsync_timer, 1000, 1000);
  uv_timer_init(&loop_, &block_timer_);
  block_timer_.data = this;
  uv_signal_init(&loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_init(&loop_, &sigint_);
  sigint_.data = this;
  uv_signal_start(&sigint_, on_signal, SIGINT);

  if (tls_port_ != 0) spdlog::info("Accepting TLS connections on port {}", tls_port_);
  spdlog::info("Sluice {} ready to accept connections on port {} (dir {}, pid {}, appendfsync {})",
               SLUICE_VERSION, port_, config_->dir, getpid(),
               config_->appendfsync == config::AppendFsync::kAlways     ? "always"
               : config_->appendfsync == config::AppendFsync::kEverysec ? "everysec"
                                                                        : "no");
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Drain close callbacks.
  uv_run(&loop_, UV_RUN_DEFAULT);
  spdlog::info("Sluice is now ready to exit, bye bye...");
  return exit_code_;
}

void Server::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0 || self->shutting_down_) return;
  self->accept_on(listener, false);
}

void Server::on_tls_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0 || self->shutting_down_) return;
  self->accept_on(listener, true);
}

void Server::accept_on(uv_stream_t* listener, bool tls) {
  auto* conn = new Connection(this, broker_.next_client_id());
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn->handle())) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(conn->handle()),
             [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
    return;
  }
  // The context current now: a reload later does not touch this connection.
  if (tls) conn->use_tls(std::make_unique<TlsSession>(tls_->get()));
  admit(conn);
}

void Server::accept_fd(int fd, bool tls) {
  auto* conn = new Connection(this, broker_.next_client_id());
  if (tls) conn->use_tls(std::make_unique<TlsSession>(tls_->get()));
  if (uv_tcp_open(conn->handle(), fd) != 0) {
    ::close(fd);
    uv_close(reinterpret_cast<uv_handle_t*>(conn->handle()),
             [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
    return;
  }
  admit(conn);
}

void Server::admit(Connection* conn) {
  Server* self = this;
  ++self->broker_.stats().total_connections_received;
  if (self->connections_.size() >= static_cast<size_t>(self->config_->maxclients)) {
    ++self->broker_.stats().rejected_connections;
    static const char kMsg[] = "-ERR max number of clients reached\r\n";
    uv_buf_t b = uv_buf_init(const_cast<char*>(kMsg), sizeof(kMsg) - 1);
    // (A TLS client could not read it before a handshake: it is just closed.)
    if (!conn->tls()) uv_try_write(reinterpret_cast<uv_stream_t*>(conn->handle()), &b, 1);
    uv_close(reinterpret_cast<uv_handle_t*>(conn->handle()),
             [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
    return;
  }
  if (self->config_->protected_mode) {
    sockaddr_storage peer{};
    int len = sizeof(peer);
    char ip[INET6_ADDRSTRLEN] = {};
    if (uv_tcp_getpeername(conn->handle(), reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      if (peer.ss_family == AF_INET6) {
        uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&peer), ip, sizeof(ip));
      } else {
        uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&peer), ip, sizeof(ip));
      }
    }
    if (acl::protected_mode_refuses(true, commands::acl_registry(broker_).default_user(), ip)) {
      ++self->broker_.stats().rejected_connections;
      uv_buf_t b = uv_buf_init(const_cast<char*>(acl::kProtectedModeDenied),
                               static_cast<unsigned>(std::strlen(acl::kProtectedModeDenied)));
      uv_try_write(reinterpret_cast<uv_stream_t*>(conn->handle()), &b, 1);
      uv_close(reinterpret_cast<uv_handle_t*>(conn->handle()),
               [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
      return;
    }
  }
  self->connections_.insert(conn);
  conn->start();
}

void Server::schedule_flush(Connection* conn) {
  if (conn->wants_flush) return;
  conn->wants_flush = true;
  flush_list_.push_back(conn);
}

void Server::schedule_close(Connection* conn) { close_list_.push_back(conn); }

void Server::connection_closed(Connection* conn) {
  connections_.erase(conn);
  std::erase(flush_list_, conn);
  std::erase(close_list_, conn);
  std::erase(sources_, conn);
  std::erase(files_deferred_, conn);
}

void Server::defer_for_files(Connection* conn) {
  if (std::find(files_deferred_.begin(), files_deferred_.end(), conn) == files_deferred_.end()) {
    files_deferred_.push_back(conn);
  }
}

void Server::note_fanout_source(Connection* conn) {
  if (std::find(sources_.begin(), sources_.end(), conn) == sources_.end()) {
    sources_.push_back(conn);
  }
}

void Server::on_prepare(uv_prepare_t* h) { static_cast<Server*>(h->data)->before_poll(); }

// Inside a script past busy-reply-threshold: the loop is stuck in the script, and uv_run cannot be
// entered again. So new connections are accepted straight from the listening sockets and every
// other connection is read without waiting; the dispatcher answers -BUSY to what is not allowed
// (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE... run), and the replies are written at once. The
// script's caller is left alone: its input buffer holds the command that is running.
void Server::serve_while_busy(core::Client* running) {
  if (shutting_down_ || shutdown_after_script_) return;
  for (bool tls : {false, true}) {
    for (auto& l : tls ? tls_listeners_ : listeners_) {
      uv_os_fd_t lfd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(l.get()), &lfd) != 0) continue;
      for (int i = 0; i < 64; ++i) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        accept_fd(fd, tls);
      }
    }
  }
  std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* c : conns) {
    if (&c->client() == running || c->closing() || connections_.count(c) == 0) continue;
    c->read_now();
  }
  std::vector<Connection*> list;
  list.swap(flush_list_);
  for (Connection* c : list) {
    if (&c->client() == running || connections_.count(c) == 0) {
      flush_list_.push_back(c);
      continue;
    }
    c->wants_flush = false;
    c->flush();
    if (!c->closing() && c->wants_flush == false && !c->client().out.empty()) schedule_flush(c);
  }
}

void Server::before_poll() {
  if (shutdown_after_script_) {
    // SHUTDOWN NOSAVE stopped a busy script; the loop is back, so shut down now.
    shutdown_after_script_ = false;
    request_shutdown(false);
    return;
  }
  ++iterations_;
  // 0. FAILOVER waiting for its target to catch up.
  {
    auto& repl = replication::of(broker_);
    if (repl.failover_state == replication::Replication::FailoverState::kWaitForSync) {
      repl.update_failover(core::now_ms());
    }
  }
  // A CLIENT PAUSE that ended (or was lifted): the commands it held run now, in order.
  if (!broker_.paused_clients.empty() || broker_.paused()) {
    commands::resume_paused_if_due(broker_, core::now_ms());
  }
  // 1. Blocked clients whose keys got data (each retry may queue output and signal again).
  auto& blocking = broker_.blocking();
  if (blocking.has_ready()) blocking.serve_ready();
  // Unblocked clients resume their pipelined input.
  for (size_t i = 0; i < flush_list_.size(); ++i) {
    Connection* c = flush_list_[i];
    if (c->resume_pending) {
      c->resume_pending = false;
      c->process_input();
    }
  }
  if (blocking.has_ready()) blocking.serve_ready();
  // 2. Storage writes of this iteration go to the OS (one write per dirty file). Once they are
  // there, this iteration's replies may go (except under `always`, where they wait for the
  // sync); if a write failed, the batch is undone and its replies become errors first.
  broker_.flush_storage();
  if (broker_.rollback_pending()) {
    roll_back_storage();
  } else if (config_->appendfsync != config::AppendFsync::kAlways) {
    commit_replies(flush_list_);
  }
  // 3. appendfsync always: one fdatasync for everything this iteration wrote (group commit).
  if (config_->appendfsync == config::AppendFsync::kAlways && !sync_running_ &&
      !broker_.rollback_pending() &&
      (broker_.storage_needs_sync() ||
       std::any_of(flush_list_.begin(), flush_list_.end(), [&](Connection* c) {
         return c->client().out.waiting_for_durability(broker_.durable_epoch());
       }))) {
    start_sync(true);
  }
  // Connections held over the descriptor budget: a sync now, not at the next tick, makes the
  // files they wrote idle.
  if (!files_deferred_.empty() && !sync_running_ && !broker_.rollback_pending() &&
      !broker_.storage_failed() && broker_.storage_needs_sync()) {
    start_sync(false);
  }
  // 4. Replies, after the BCAST invalidations collected in this iteration (client tracking).
  if (broker_.tracking().has_broadcast()) broker_.tracking().broadcast();
  write_replies();
  // 5. Clients to close (output-buffer limits, CLIENT KILL): never mid fan-out.
  std::vector<Connection*> closing;
  closing.swap(close_list_);
  for (Connection* c : closing) c->close();
  arm_block_timer();
  // Streams' idle files over the descriptor budget are closed here, where no scan is running.
  storage::close_idle_files();
  // Held connections go on once the sync that frees their files is done (or when none runs:
  // then a command an iteration, until files are idle again).
  if (!files_deferred_.empty() && !sync_running_) {
    for (Connection* c : files_deferred_) {
      c->pass_files_budget();
      c->resume_pending = true;
      schedule_flush(c);
    }
    files_deferred_.clear();
    uv_idle_start(&spin_, [](uv_idle_t*) {});
  }
  // 6. With the replies out, read what a paging client will likely ask for next; bytes not in
  // the page cache are read by a worker instead, a few pages' worth (the next pages then find
  // them there).
  storage::NoWaitReads cold_guard;
  storage::run_read_ahead();
  if (cold_guard.missed()) {
    storage::ColdMiss miss = cold_guard.take_miss();
    const uint64_t length = std::max<uint64_t>(miss.length, kReadAheadWarmBytes);
    // Only a hint: never queued behind other warm reads (a client may be waiting for those).
    const bool room = cold_warms_running_ < kMaxColdWarms;
    if (!(room && warm_cold_read(0, miss.fd, miss.offset, length)) && miss.fd >= 0) {
      ::close(miss.fd);
    }
  }
}

bool Server::warm_cold_read(uint64_t client_id, int fd, uint64_t offset, uint64_t length) {
  if (fd < 0) return false;
  ColdWarm job{client_id, fd, offset, length};
  if (cold_warms_running_ >= kMaxColdWarms) {
    cold_warms_waiting_.push_back(job);
  } else {
    start_warm(job);
  }
  return true;
}

void Server::start_warm(ColdWarm job) {
  struct WarmWork {
    uv_work_t req;
    Server* server;
    ColdWarm job;
    uint64_t got = 0;
  };
  auto* work = new WarmWork{{}, this, job};
  work->req.data = work;
  ++cold_warms_running_;
  uv_queue_work(
      &loop_, &work->req,
      [](uv_work_t* req) {
        auto* w = static_cast<WarmWork*>(req->data);
        w->got = storage::warm_range(w->job.fd, w->job.offset, w->job.length);
      },
      [](uv_work_t* req, int) {
        auto* w = static_cast<WarmWork*>(req->data);
        Server* self = w->server;
        --self->cold_warms_running_;
        auto& stats = self->broker_.stats();
        ++stats.cold_read_warms;
        stats.cold_read_warm_bytes += w->got;
        const uint64_t client_id = w->job.client_id;
        delete w;
        if (!self->cold_warms_waiting_.empty()) {
          ColdWarm next = self->cold_warms_waiting_.front();
          self->cold_warms_waiting_.pop_front();
          self->start_warm(next);
        }
        if (client_id != 0) commands::resume_cold_read(self->broker_, client_id);
      });
}

// Fan-out sweep. Writing the replies of one iteration costs one write per connection, and with
// pub/sub most of them are subscribers receiving what one publisher sent: the cost per delivered
// message is that of a write divided by the messages it carries. So while a long list is being
// written, the connections whose commands fed it (the fan-out sources) are read again every
// kSweepStride writes, their new commands run, and their replies go out at once: a publisher
// keeps publishing during the sweep, and every subscriber write carries all that arrived since
// that subscriber's previous write instead of one publisher batch. Subscribers that got new
// messages after their write in this sweep are written next iteration, which then polls without
// waiting. When nothing new arrives each re-read is one read that finds nothing.

bool Server::reread_sources(const std::vector<Connection*>& sources) {
  bool got = false;
  for (Connection* s : sources) {
    if (connections_.count(s) == 0 || s->closing()) continue;
    if (s->read_now()) {
      got = true;
      // Its writes reach the OS before its replies leave, as in before_poll.
      broker_.flush_storage();
      if (broker_.storage_failed()) break;
      if (config_->appendfsync != config::AppendFsync::kAlways) s->client().out.commit();
      s->flush();
    }
  }
  return got;
}

void Server::commit_replies(std::span<Connection* const> conns) {
  for (Connection* c : conns) c->client().out.commit();
}

void Server::roll_back_storage() {
  const bool always = config_->appendfsync == config::AppendFsync::kAlways;
  if (sync_running_) {
    if (always) return;  // the sync's completion rolls back; every reply it covers is held
    wait_for_worker();   // its files are about to be closed
    // Its fdatasyncs are done, but its completion runs later: what it holds (every segment file
    // it synced) would stay open while the data is reloaded, and with thousands of streams the
    // reload would run out of descriptors. It completes here instead (a failed sync's marks are
    // dropped: its completion reports the error).
    if (running_batch_) {
      std::vector<std::function<void()>> done;
      done.swap(running_batch_->on_synced);
      if (*running_error_ == 0) {
        for (auto& f : done) f();
      }
    }
  }
  const uint64_t durable = broker_.durable_epoch();
  const std::string text =
      commands::error_text(wire::Status(wire::ErrorCode::kStorageFailed, broker_.storage_error()));
  try {
    broker_.roll_back_storage();
  } catch (const std::exception& e) {
    // Nothing consistent is left to serve: stop, as Redis stops when its AOF cannot be written.
    spdlog::critical("cannot reload the data after a storage failure: {}; exiting", e.what());
    spdlog::shutdown();
    std::_Exit(1);
  }
  for (Connection* c : connections_) {
    core::OutputQueue& out = c->client().out;
    if (always) {
      out.fail_held(durable, text);
    } else {
      out.fail_uncommitted(text);
    }
    if (!out.empty()) schedule_flush(c);
  }
  // Keys the batch changed are back as they were: transactions watching anything must retry.
  broker_.touch_all_watched(-1);
}

void Server::write_replies() {
  std::vector<Connection*> list;
  list.swap(flush_list_);
  std::vector<Connection*> sources;
  if (list.size() > kSweepStride) sources.swap(sources_);
  sources_.clear();
  // Without fan-out sources there is nothing to re-read: batches only bounded by the ring.
  size_t stride = sources.empty() ? (ring_ ? ring_->capacity() : list.size()) : kSweepStride;
  bool more = false;
  for (size_t begin = 0; begin < list.size(); begin += stride) {
    size_t end = std::min(list.size(), begin + stride);
    write_batch(std::span<Connection* const>(list.data() + begin, end - begin));
    if (!sources.empty() && end < list.size() && reread_sources(sources)) more = true;
    if (broker_.rollback_pending()) {
      // A source's writes failed: nothing more goes out before the batch is undone.
      for (size_t i = end; i < list.size(); ++i) {
        list[i]->wants_flush = false;
        schedule_flush(list[i]);
      }
      roll_back_storage();
      more = true;
      break;
    }
  }
  // Busy polling: while requests arrive densely (less than busy-poll-us apart), poll without
  // sleeping until busy-poll-us have passed since the last one. A client writing to a server
  // asleep in epoll_wait pays for waking it (an inter-processor interrupt, costly on virtual
  // machines) inside its own write; to a polling server it does not, so request/response
  // clients get more done per second. Sparse traffic (a request a millisecond) never spins.
  int64_t now_us = static_cast<int64_t>(uv_hrtime() / 1000);
  const int64_t window = config_->busy_poll_us;
  if (inputs_ != inputs_seen_) {
    inputs_seen_ = inputs_;
    dense_input_ = now_us - last_input_us_ < window;
    last_input_us_ = now_us;
  }
  bool spin = more || (window > 0 && dense_input_ && now_us - last_input_us_ < window);
  if (spin) {
    uv_idle_start(&spin_, [](uv_idle_t*) {});
  } else {
    uv_idle_stop(&spin_);
  }
}

void Server::write_batch(std::span<Connection* const> batch) {
  if (ring_) {
    bool queued = false;
    for (Connection* c : batch) {
      c->wants_flush = false;
      if (c->queue_send(*ring_)) queued = true;
    }
    if (queued) {
      for (const SendRing::Completion& done : ring_->submit_and_reap()) {
        reinterpret_cast<Connection*>(done.tag)->sent(done.result);
      }
      if (ring_->failed()) {
        spdlog::warn("io_uring send failed; writing replies with writev from now on");
        ring_.reset();
      }
    }
  } else {
    for (Connection* c : batch) {
      c->wants_flush = false;
      c->flush();
    }
  }
  for (Connection* c : batch) {
    if (!c->closing() && c->client().out.waiting_for_durability(broker_.durable_epoch())) {
      // Keep it listed: it flushes again when the sync completes.
      schedule_flush(c);
    }
  }
}

void Server::start_sync(bool for_durability) {
  auto* work = new SyncWork;
  work->req.data = work;
  work->server = this;
  work->batch = broker_.collect_sync();
  work->epoch = for_durability ? broker_.issue_sync_epoch() : 0;
  work->generation = broker_.generation();
  sync_running_ = true;
  running_batch_ = &work->batch;
  running_error_ = &work->error;
  broker_.sync_running = true;  // engines keep deleted files' fds open until it finishes
  worker_busy_.store(true);
  uv_queue_work(
      &loop_, &work->req,
      [](uv_work_t* req) {
        auto* w = static_cast<SyncWork*>(req->data);
        for (int fd : w->batch.fds) {
          // EBADF: the file was deleted and closed while this batch waited (a stream removed
          // by DEL or FLUSHALL); there is nothing left to make durable.
          if (fdatasync(fd) != 0 && errno != EBADF) {
            w->error = errno;
            w->failed_fd = fd;
            break;
          }
        }
        w->server->worker_busy_.store(false);
      },
      [](uv_work_t* req, int) {
        auto* w = static_cast<SyncWork*>(req->data);
        Server* self = w->server;
        self->sync_running_ = false;
        self->running_batch_ = nullptr;
        self->running_error_ = nullptr;
        self->broker_.sync_running = false;
        if (w->error != 0) {
          std::string why = std::string("fdatasync failed: ") + std::strerror(w->error);
          spdlog::error("storage: {} (fd {})", why, w->failed_fd);
          self->broker_.set_storage_failed(why);
        } else if (w->generation == self->broker_.generation()) {
          // (After DEBUG RELOAD or a rollback the engines that asked for this sync are gone.)
          for (auto& done : w->batch.on_synced) done();
        }
        // Held replies go only after a successful sync. After a failure (here, or a write
        // that failed while this sync ran) the batch is undone and they become errors.
        if (w->epoch != 0 && w->error == 0) self->broker_.set_durable_epoch(w->epoch);
        if (self->broker_.rollback_pending()) self->roll_back_storage();
        if (w->epoch != 0 || w->error != 0) {
          for (Connection* c : self->connections_) {
            if (!c->client().out.empty()) self->schedule_flush(c);
          }
        }
        delete w;
      });
}

void Server::on_fsync_timer(uv_timer_t* h) {
  auto* self = static_cast<Server*>(h->data);
  // everysec: every tick. no: every 30 s anyway, because a full segment is sealed (its index
  // written, its fd closed) only once a sync covers it, and a crash should not leave more
  // than that to rescan.
  auto policy = self->config_->appendfsync;
  bool due = policy == config::AppendFsync::kEverysec ||
             (policy == config::AppendFsync::kNo && ++self->fsync_ticks_ % 30 == 0);
  if (due && !self->sync_running_ && !self->broker_.storage_failed() &&
      self->broker_.storage_needs_sync()) {
    self->start_sync(false);
  }
}

void Server::on_cron(uv_timer_t* h) { static_cast<Server*>(h->data)->cron(); }

void Server::on_console_timer(uv_timer_t* h) {
  auto* self = static_cast<Server*>(h->data);
  if (self->console_) self->console_->tick(core::now_ms());
}

std::string Server::console_response(const http::Request& request) {
  const bool head = request.method == "HEAD";
  acl::User* user = nullptr;
  if (!console_user(broker_, http::parse_authorization(request.authorization), &user)) {
    std::string body;
    console::JsonWriter w(&body);
    w.begin_object();
    w.field("error", "credentials required (HTTP Basic with an ACL user)");
    w.end_object();
    return http::build_response(401, console::kJsonContentType, body, head,
                                "Cache-Control: no-store\r\n");
  }
  console::ApiResponse r = console_->handle(
      {request.method, request.path, request.query, request.body, request.content_type, user},
      core::now_ms());
  std::string extra = r.is_asset ? "Cache-Control: no-cache\r\n" : "Cache-Control: no-store\r\n";
  extra += "X-Content-Type-Options: nosniff\r\n";
  if (!r.allow.empty()) {
    extra += "Allow: ";
    extra += r.allow;
    extra += "\r\n";
  }
  return http::build_response(r.status, r.content_type, r.body, head, extra);
}

void Server::cron() {
  int64_t now = core::now_ms();
  // A replica's applied stream reaches the files (and repl-state its offset) before the cron's
  // compactions snapshot the engines, so no snapshot holds what repl-state does not count.
  if (replication::of(broker_).is_replica() && !broker_.storage_failed()) broker_.flush_storage();
  // Storage failed and rolled back: once a second, see whether the disk takes writes again.
  if (broker_.storage_failed() && !broker_.rollback_pending() && now - last_probe_ms_ >= 1000) {
    last_probe_ms_ = now;
    broker_.probe_storage();
  }
  // Active expiry with a time budget: a slice of keys per database per tick.
  size_t budget = 20 * static_cast<size_t>(config_->active_expire_effort) * 10;
  // Not during CLIENT PAUSE: as in Redis, the dataset stays still while writes are held.
  if (!broker_.paused()) {
    for (int i = 0; i < broker_.db_count(); ++i) broker_.db(i).expire_cycle(now, budget);
    // maxmemory: eviction that ran out of its time budget (maxmemory-eviction-tenacity) goes on
    // here too, not only before the next command (Redis's eviction time event). A replica
    // leaves it to its master (replica-ignore-maxmemory).
    if (config_->maxmemory != 0 && !replication::of(broker_).is_replica()) {
      core::perform_evictions(broker_, now);
    }
  }
  // Stream retention: a bounded slice of streams per tick.
  broker_.streams().apply_retention(now);
  // Idle-consumer limits of consumer groups (XGROUP SETCONSUMERIDLE).
  broker_.streams().reap_idle_consumers(now);
  // Idle clients.
  if (config_->timeout > 0) {
    std::vector<Connection*> idle;
    for (Connection* c : connections_) {
      const auto& cl = c->client();
      if (cl.blocked || cl.is_pubsub_client()) continue;
      if (now - cl.last_interaction_ms > static_cast<int64_t>(config_->timeout) * 1000) {
        idle.push_back(c);
      }
    }
    for (Connection* c : idle) c->close();
  }
  // Output-buffer soft limits are time based: re-check clients with queued output.
  for (Connection* c : connections_) {
    if (c->client().obl_soft_since_ms != 0) c->output_ready(c->client());
  }
  replication_cron(now);
}

void Server::replication_cron(int64_t now) {
  if (now - last_repl_cron_ms_ < 1000) return;
  last_repl_cron_ms_ = now;
  auto& repl = replication::of(broker_);
  if (repl.is_replica()) {
    if (master_link_) {
      master_link_->cron();
    } else if (!shutting_down_) {
      master_link_ = new MasterLink(this, repl.master_host, repl.master_port);
      master_link_->start();
    }
  } else if (now - last_repl_ping_ms_ >= config_->repl_ping_replica_period * 1000) {
    last_repl_ping_ms_ = now;
    repl.ping_replicas();
  }
}

void Server::set_master(const std::string& host, int port) {
  if (master_link_) {
    master_link_->stop();
    master_link_ = nullptr;
  }
  if (host.empty()) return;
  master_link_ = new MasterLink(this, host, port);
  master_link_->start();
}

ssl_ctx_st* Server::client_tls_context(std::string* err) {
  // Built for every connection attempt, so changed tls-* files apply to the next one (a session
  // keeps a reference to the context it started with).
  auto ctx = std::make_unique<TlsContext>();
  *err = ctx->configure_client(*config_);
  if (!err->empty()) return nullptr;
  client_tls_ = std::move(ctx);
  return client_tls_->get();
}

void Server::master_link_closed(MasterLink* link) {
  if (master_link_ == link) master_link_ = nullptr;
}

std::string Server::install_synced_data(const std::string& incoming) {
  namespace fs = std::filesystem;
  broker_.blocking().clear();
  wait_for_worker();
  broker_.close();
  const fs::path root(config_->dir);
  std::error_code ec;
  // Only directories hold data (top-level files are logs, pid files, configs); the incoming
  // copy and checkpoints being sent to replicas of this server stay.
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("repl-sync", 0) != 0) {
      fs::remove_all(entry.path(), ec);
    }
  }
  std::string err;
  for (const auto& entry : fs::directory_iterator(incoming, ec)) {
    fs::rename(entry.path(), root / entry.path().filename(), ec);
    if (ec) {
      err = "cannot move " + entry.path().string() + ": " + ec.message();
      break;
    }
  }
  fs::remove_all(incoming, ec);
  try {
    broker_.open();
  } catch (const std::exception& e) {
    if (err.empty()) err = e.what();
  }
  return err;
}

void Server::save_repl_state() {
  auto& repl = replication::of(broker_);
  if (!repl.is_replica() && repl.replicas.empty() && repl.offset() == 0) return;
  repl.save_state(true);
}

void Server::load_repl_state() { replication::of(broker_).load_state(); }

void Server::arm_block_timer() {
  int64_t next = broker_.blocking().next_deadline();
  if (broker_.pause_end_ms != 0 && (next == 0 || broker_.pause_end_ms < next)) {
    next = broker_.pause_end_ms;
  }
  if (next == 0) {
    uv_timer_stop(&block_timer_);
    return;
  }
  int64_t wait = std::max<int64_t>(0, next - core::now_ms());
  uv_timer_start(&block_timer_, on_block_timer, static_cast<uint64_t>(wait), 0);
}

void Server::on_block_timer(uv_timer_t* h) {
  auto* self = static_cast<Server*>(h->data);
  self->broker_.blocking().expire(core::now_ms());
  // The end of a CLIENT PAUSE also wakes the loop; before_poll runs the held commands.
}

void Server::on_signal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Server*>(h->data);
  spdlog::warn("Received {} scheduling shutdown...", signum == SIGINT ? "SIGINT" : "SIGTERM");
  self->request_shutdown(true);
}

void Server::request_shutdown(bool save) {
  if (shutting_down_) return;
  if (!save && broker_.busy_script != core::BusyScript::kNone) {
    // We are inside the script's hook: stop the script first (its unfinished writes are
    // dropped), shut down once the loop has it back.
    broker_.abort_script = true;
    shutdown_after_script_ = true;
    return;
  }
  shutting_down_ = true;
  spdlog::info("User requested shutdown...");
  begin_shutdown();
}

void Server::begin_shutdown() {
  close_listeners(&listeners_);
  close_listeners(&tls_listeners_);
  if (metrics_) metrics_->close();
  // Best-effort flush of pending replies, then close every connection.
  for (Connection* c : std::vector<Connection*>(connections_.begin(), connections_.end())) {
    c->flush();
    c->close();
  }
  if (master_link_) {
    master_link_->stop();
    master_link_ = nullptr;
  }
  wait_for_worker();
  broker_.close();  // final flush + fdatasync of every log and journal
  save_repl_state();
  uv_prepare_stop(&prepare_);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_idle_stop(&spin_);
  uv_close(reinterpret_cast<uv_handle_t*>(&spin_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&cron_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&fsync_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&block_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&console_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
}

uint64_t Server::connected_clients() const {
  return connections_.size() + (master_link_ && master_link_->streaming() ? 1 : 0);
}

void Server::kill_client(core::Client& client) { client.host->close_soon(client); }

void Server::wait_for_worker() {
  // A worker may be inside fdatasync on fds the engines are about to close.
  while (worker_busy_.load()) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

void Server::sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string Server::reload() {
  broker_.blocking().clear();
  wait_for_worker();
  broker_.close();
  try {
    broker_.open();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

}  // namespace sluice::server
