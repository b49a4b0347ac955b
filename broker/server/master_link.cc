#include "broker/server/master_link.h"

#include <fcntl.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "broker/commands/arg_parse.h"
#include "broker/commands/dispatch.h"
#include "broker/replication/replication.h"
#include "broker/server/connection.h"
#include "broker/server/server.h"
#include "broker/server/tls.h"
#include "wire/resp/reply_writer.h"

namespace sluice::server {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
};

bool resolve(const std::string& host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  if (uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    return false;
  }
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

}  // namespace

MasterLink::MasterLink(Server* server, std::string host, int port)
    : server_(server), host_(std::move(host)), port_(port) {
  uv_tcp_init(server_->loop(), &tcp_);
  tcp_.data = this;
  connect_req_.data = this;
}

MasterLink::~MasterLink() {
  if (file_fd_ >= 0) ::close(file_fd_);
  // Listed until here (not unlisted by stop(), which may run while CLIENT KILL walks the list).
  if (client_) server_->broker().remove_client(client_.get());
}

void MasterLink::close_soon(core::Client&) {
  if (closing_) return;
  spdlog::info("replication: the link to master {}:{} was killed (CLIENT KILL); reconnecting",
               host_, port_);
  server_->set_master(host_, port_);  // stops this link
}

void MasterLink::start_streaming(bool continued) {
  auto& broker = server_->broker();
  auto& repl = replication::of(broker);
  const bool keep = continued && repl.master_client_id != 0;
  if (!keep) {
    repl.master_client_id = broker.next_client_id();
    repl.master_client_created_ms = core::now_ms();
  }
  client_ = std::make_unique<core::Client>(repl.master_client_id, this);
  client_->master = true;
  client_->authenticated = true;
  client_->addr = tcp_endpoint(&tcp_, false);
  client_->laddr = tcp_endpoint(&tcp_, true);
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) client_->fd = fd;
  client_->created_ms = repl.master_client_created_ms;
  client_->last_interaction_ms = core::now_ms();
  client_->db = continued ? repl.applied_db() : 0;
  broker.add_client(client_.get());
  txn_raw_.clear();
  parser_.reset();
  state_ = State::kStreaming;
}

void MasterLink::start() {
  auto& repl = replication::of(server_->broker());
  repl.link = replication::LinkStatus::kConnecting;
  if (server_->broker().config().tls_replication) {
    std::string err;
    ssl_ctx_st* ctx = server_->client_tls_context(&err);
    if (ctx == nullptr) return fail("TLS: " + err);
    tls_ = std::make_unique<TlsSession>(ctx, true);
  }
  sockaddr_storage addr;
  if (!resolve(host_, port_, &addr)) return fail("cannot resolve " + host_);
  int rc =
      uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr), on_connect);
  if (rc != 0) fail(uv_strerror(rc));
}

void MasterLink::stop() {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
}

void MasterLink::on_close(uv_handle_t* h) { delete static_cast<MasterLink*>(h->data); }

void MasterLink::fail(const std::string& why) {
  if (closing_) return;
  spdlog::warn("replication: link to master {}:{} lost: {}", host_, port_, why);
  auto& repl = replication::of(server_->broker());
  if (repl.failover_state == replication::Replication::FailoverState::kInProgress) {
    return repl.abort_failover("Failover target link lost: " + why);  // stops this link
  }
  if (repl.link != replication::LinkStatus::kNone) {
    repl.link = replication::LinkStatus::kConnecting;
  }
  repl.link_down_since_ms = core::now_ms();
  server_->master_link_closed(this);
  stop();
}

void MasterLink::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<MasterLink*>(req->data);
  if (self->closing_) return;
  if (status != 0) return self->fail(uv_strerror(status));
  replication::of(self->server_->broker()).link = replication::LinkStatus::kHandshake;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), on_alloc, on_read);
  self->state_ = State::kPing;
  if (self->tls_) {
    // The ClientHello; PING follows once the handshake is done.
    if (self->tls_->handshake() == TlsSession::Status::kError) {
      return self->fail("TLS handshake: " + self->tls_->error());
    }
    self->send_raw(self->tls_->take_output());
    return;
  }
  self->send_command({"PING"});
}

bool MasterLink::tls_received(const char* data, size_t n) {
  tls_->feed(data, n);
  if (!tls_->established()) {
    TlsSession::Status st = tls_->handshake();
    if (tls_->has_output()) send_raw(tls_->take_output());
    if (st == TlsSession::Status::kError) {
      fail("TLS handshake: " + tls_->error());
      return false;
    }
    if (st != TlsSession::Status::kDone) return false;
    send_command({"PING"});
  }
  for (;;) {
    size_t at = in_.size();
    in_.resize(at + sizeof(read_buf_));
    size_t got = 0;
    TlsSession::Status st = tls_->read(in_.data() + at, sizeof(read_buf_), &got);
    in_.resize(at + got);
    if (st == TlsSession::Status::kDone) continue;
    if (tls_->has_output()) send_raw(tls_->take_output());
    if (st == TlsSession::Status::kWantInput) return true;
    fail(st == TlsSession::Status::kClosed ? "connection closed" : "TLS: " + tls_->error());
    return false;
  }
}

void MasterLink::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<MasterLink*>(h->data);
  buf->base = self->read_buf_;
  buf->len = sizeof(self->read_buf_);
}

void MasterLink::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<MasterLink*>(s->data);
  if (self->closing_) return;
  if (nread < 0) return self->fail(nread == UV_EOF ? "connection closed" : uv_strerror(nread));
  if (nread == 0) return;
  replication::of(self->server_->broker()).last_io_ms = core::now_ms();
  if (self->tls_) {
    if (!self->tls_received(buf->base, static_cast<size_t>(nread))) return;
  } else {
    self->in_.append(buf->base, static_cast<size_t>(nread));
  }
  self->process();
}

void MasterLink::send(std::string bytes) {
  if (closing_) return;
  if (tls_) {
    tls_->write(bytes.data(), bytes.size());
    return send_raw(tls_->take_output());
  }
  send_raw(std::move(bytes));
}

void MasterLink::send_raw(std::string bytes) {
  if (closing_ || bytes.empty()) return;
  auto* w = new WriteReq;
  w->data = std::move(bytes);
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1,
                    [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
  if (rc != 0) {
    delete w;
    fail(uv_strerror(rc));
  }
}

void MasterLink::send_command(std::initializer_list<std::string_view> argv) {
  std::string out;
  wire::resp::ReplyWriter::append_header(&out, '*', argv.size());
  for (std::string_view a : argv) wire::resp::ReplyWriter::append_bulk(&out, a);
  send(std::move(out));
}

bool MasterLink::take_line(std::string* line) {
  // A master may send bare newlines while it prepares a payload (Redis does): skip them.
  while (in_pos_ < in_.size() && in_[in_pos_] == '\n') ++in_pos_;
  size_t end = in_.find("\r\n", in_pos_);
  if (end == std::string::npos) return false;
  line->assign(in_, in_pos_, end - in_pos_);
  in_pos_ = end + 2;
  return true;
}

void MasterLink::handshake_reply(const std::string& line) {
  auto& broker = server_->broker();
  auto& repl = replication::of(broker);
  const auto& cfg = broker.config();
  switch (state_) {
    case State::kPing:
      if (!line.empty() && line[0] == '-' && line.rfind("-NOAUTH", 0) != 0) {
        return fail("PING: " + line);
      }
      if (!cfg.masterauth.empty()) {
        state_ = State::kAuth;
        if (cfg.masteruser.empty()) {
          send_command({"AUTH", cfg.masterauth});
        } else {
          send_command({"AUTH", cfg.masteruser, cfg.masterauth});
        }
        return;
      }
      [[fallthrough]];
    case State::kAuth: {
      if (state_ == State::kAuth && !line.empty() && line[0] == '-') {
        return fail("AUTH: " + line);
      }
      state_ = State::kPort;
      int port = cfg.replica_announce_port ? static_cast<int>(cfg.replica_announce_port)
                                           : server_->listening_port();
      std::string port_text = std::to_string(port);
      if (!cfg.replica_announce_ip.empty()) {
        send_command(
            {"REPLCONF", "listening-port", port_text, "ip-address", cfg.replica_announce_ip});
      } else {
        send_command({"REPLCONF", "listening-port", port_text});
      }
      return;
    }
    case State::kPort:
      state_ = State::kCapa;
      send_command({"REPLCONF", "capa", "eof", "capa", "psync2"});
      return;
    case State::kCapa: {
      state_ = State::kPsync;
      std::string off = std::to_string(repl.offset() + 1);
      if (repl.failover_state == replication::Replication::FailoverState::kInProgress) {
        send_command({"PSYNC", repl.replid(), off, "FAILOVER"});
      } else {
        send_command({"PSYNC", repl.replid(), off});
      }
      return;
    }
    case State::kPsync:
      if (repl.failover_state == replication::Replication::FailoverState::kInProgress) {
        if (line.rfind("+FULLRESYNC ", 0) == 0 || line.rfind("+CONTINUE", 0) == 0) {
          repl.finish_failover();
        } else {
          // This link goes with the failover: the server is a master again.
          return repl.abort_failover("Failover target rejected psync request");
        }
      }
      if (line.rfind("+FULLRESYNC ", 0) == 0) {
        size_t sp = line.find(' ', 12);
        if (sp == std::string::npos) return fail("bad FULLRESYNC: " + line);
        std::string id = line.substr(12, sp - 12);
        // The new ID and offset are adopted once the data is in place (until then a restart
        // must not pair them with the old data).
        sync_id_ = std::move(id);
        sync_offset_ = std::strtoull(line.c_str() + sp + 1, nullptr, 10);
        repl.mark_state_unsafe();
        repl.link = replication::LinkStatus::kTransfer;
        state_ = State::kBulkHeader;
        return;
      }
      if (line.rfind("+CONTINUE", 0) == 0) {
        if (line.size() > 10) repl.adopt_new_id(line.substr(10));
        spdlog::info("replication: partial resync with {}:{} from offset {}", host_, port_,
                     repl.offset() + 1);
        repl.link = replication::LinkStatus::kConnected;
        start_streaming(true);
        send_ack();
        return;
      }
      return fail("PSYNC: " + line);
    default:
      return;
  }
}

void MasterLink::process() {
  std::string line;
  while (!closing_) {
    if (state_ == State::kStreaming) {
      apply_stream();
      break;
    }
    if (state_ == State::kBulk) {
      if (!receive_payload()) return;
      if (bulk_left_ > 0) break;
      if (!install_payload()) return;
      continue;
    }
    if (!take_line(&line)) break;
    if (state_ == State::kBulkHeader) {
      if (line.empty() || line[0] != '$') return fail("bad payload header: " + line);
      bulk_len_ = std::strtoull(line.c_str() + 1, nullptr, 10);
      bulk_left_ = bulk_len_;
      entry_head_.clear();
      std::error_code ec;
      std::filesystem::remove_all(incoming_dir(), ec);
      std::filesystem::create_directories(incoming_dir(), ec);
      if (ec) return fail("cannot create " + incoming_dir() + ": " + ec.message());
      state_ = State::kBulk;
      continue;
    }
    handshake_reply(line);
  }
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > (1u << 20)) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
}

std::string MasterLink::incoming_dir() const {
  return server_->broker().config().dir + "/repl-sync-incoming";
}

bool MasterLink::receive_payload() {
  while (bulk_left_ > 0 && in_pos_ < in_.size()) {
    size_t avail = static_cast<size_t>(std::min<uint64_t>(in_.size() - in_pos_, bulk_left_));
    const char* p = in_.data() + in_pos_;
    size_t used = 0;
    if (file_fd_ < 0) {
      // An entry's header: name length (u32 LE), name, file length (u64 LE).
      size_t want = 4;
      uint32_t name_len = 0;
      if (entry_head_.size() >= 4) {
        std::memcpy(&name_len, entry_head_.data(), 4);
        want = 4 + size_t{name_len} + 8;
      }
      used = std::min(avail, want - entry_head_.size());
      entry_head_.append(p, used);
      if (entry_head_.size() == want && want > 4) {
        std::string name = entry_head_.substr(4, name_len);
        std::memcpy(&file_left_, entry_head_.data() + 4 + name_len, 8);
        entry_head_.clear();
        if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos) {
          fail("bad payload entry " + name);
          return false;
        }
        std::filesystem::path path = std::filesystem::path(incoming_dir()) / name;
        std::error_code ec;
        std::filesystem::create_directories(path.parent_path(), ec);
        file_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (file_fd_ < 0) {
          fail("cannot create " + path.string() + ": " + std::strerror(errno));
          return false;
        }
      }
    } else {
      used = static_cast<size_t>(std::min<uint64_t>(avail, file_left_));
      size_t done = 0;
      while (done < used) {
        ssize_t n = ::write(file_fd_, p + done, used - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          fail(std::string("cannot write the master's data: ") + std::strerror(errno));
          return false;
        }
        done += static_cast<size_t>(n);
      }
      file_left_ -= used;
    }
    if (file_fd_ >= 0 && file_left_ == 0) {
      ::close(file_fd_);
      file_fd_ = -1;
    }
    in_pos_ += used;
    bulk_left_ -= used;
  }
  if (bulk_left_ == 0 && (file_fd_ >= 0 || !entry_head_.empty())) {
    fail("truncated payload");
    return false;
  }
  return true;
}

bool MasterLink::install_payload() {
  std::string err = server_->install_synced_data(incoming_dir());
  if (!err.empty()) {
    fail("loading the master's data: " + err);
    return false;
  }
  auto& repl = replication::of(server_->broker());
  repl.adopt(sync_id_, sync_offset_);
  repl.save_state();
  spdlog::info("replication: full sync with {}:{} done ({} bytes), offset {}", host_, port_,
               bulk_len_, repl.offset());
  repl.link = replication::LinkStatus::kConnected;
  start_streaming(false);
  send_ack();
  return true;
}

void MasterLink::apply_stream() {
  auto& broker = server_->broker();
  auto& repl = replication::of(broker);
  client_->last_interaction_ms = core::now_ms();
  while (!closing_ && in_pos_ < in_.size()) {
    std::string_view data(in_.data() + in_pos_, in_.size() - in_pos_);
    size_t consumed = 0;
    auto outcome = parser_.parse(data, &argv_, &consumed);
    if (outcome == wire::resp::RequestParser::Outcome::kIncomplete) return;
    if (outcome == wire::resp::RequestParser::Outcome::kError) {
      return fail("bad replication stream: " + parser_.error());
    }
    std::string_view bytes = data.substr(0, consumed);
    bool getack = argv_.size() >= 2 && commands::iequals(argv_[0], "replconf") &&
                  commands::iequals(argv_[1], "getack");
    core::Client& client = *client_;
    if (!argv_.empty() && !getack) commands::execute(broker, client, argv_);
    client.out.reset();
    in_pos_ += consumed;
    // A transaction counts (offset, backlog, sub-replicas) once its EXEC ran: a link lost
    // inside it resumes from its MULTI, which the new master client runs whole.
    if (client.in_multi) {
      txn_raw_.append(bytes);
    } else if (!txn_raw_.empty()) {
      txn_raw_.append(bytes);
      repl.feed_raw(txn_raw_, client.db);
      txn_raw_.clear();
    } else {
      repl.feed_raw(bytes, client.db);
    }
    if (getack) send_ack();
  }
}

void MasterLink::send_ack() {
  if (state_ != State::kStreaming) return;
  std::string off = std::to_string(replication::of(server_->broker()).offset());
  send_command({"REPLCONF", "ACK", off});
}

void MasterLink::cron() { send_ack(); }

}  // namespace sluice::server
