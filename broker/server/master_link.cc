#include "broker/server/master_link.h"

#include <netdb.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "broker/commands/arg_parse.h"
#include "broker/commands/dispatch.h"
#include "broker/replication/replication.h"
#include "broker/server/server.h"
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
    : server_(server), host_(std::move(host)), port_(port), client_(0, this) {
  client_.master = true;
  client_.authenticated = true;
  client_.addr = host_ + ":" + std::to_string(port_);
  client_.name = "";
  uv_tcp_init(server_->loop(), &tcp_);
  tcp_.data = this;
  connect_req_.data = this;
}

MasterLink::~MasterLink() = default;

void MasterLink::start() {
  auto& repl = replication::of(server_->broker());
  repl.link = replication::LinkStatus::kConnecting;
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
  self->send_command({"PING"});
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
  self->in_.append(buf->base, static_cast<size_t>(nread));
  self->process();
}

void MasterLink::send(std::string bytes) {
  if (closing_) return;
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
      send_command({"PSYNC", repl.replid(), off});
      return;
    }
    case State::kPsync:
      if (line.rfind("+FULLRESYNC ", 0) == 0) {
        size_t sp = line.find(' ', 12);
        if (sp == std::string::npos) return fail("bad FULLRESYNC: " + line);
        std::string id = line.substr(12, sp - 12);
        uint64_t off = std::strtoull(line.c_str() + sp + 1, nullptr, 10);
        repl.adopt(std::move(id), off);
        repl.link = replication::LinkStatus::kTransfer;
        state_ = State::kBulkHeader;
        return;
      }
      if (line.rfind("+CONTINUE", 0) == 0) {
        if (line.size() > 10) repl.adopt_new_id(line.substr(10));
        spdlog::info("replication: partial resync with {}:{} from offset {}", host_, port_,
                     repl.offset() + 1);
        repl.link = replication::LinkStatus::kConnected;
        state_ = State::kStreaming;
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
      if (in_.size() - in_pos_ < bulk_len_) break;
      if (!load_payload()) return;
      continue;
    }
    if (!take_line(&line)) break;
    if (state_ == State::kBulkHeader) {
      if (line.empty() || line[0] != '$') return fail("bad payload header: " + line);
      bulk_len_ = std::strtoull(line.c_str() + 1, nullptr, 10);
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

bool MasterLink::load_payload() {
  std::string_view payload(in_.data() + in_pos_, bulk_len_);
  std::string err = server_->replace_data(payload);
  in_pos_ += bulk_len_;
  if (!err.empty()) {
    fail("loading the master's data: " + err);
    return false;
  }
  auto& repl = replication::of(server_->broker());
  spdlog::info("replication: full sync with {}:{} done ({} bytes), offset {}", host_, port_,
               bulk_len_, repl.offset());
  repl.link = replication::LinkStatus::kConnected;
  client_.db = 0;
  parser_.reset();
  state_ = State::kStreaming;
  send_ack();
  return true;
}

void MasterLink::apply_stream() {
  auto& broker = server_->broker();
  auto& repl = replication::of(broker);
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
    if (!argv_.empty() && !getack) commands::execute(broker, client_, argv_);
    client_.out.reset();
    in_pos_ += consumed;
    repl.feed_raw(bytes);
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
