#include "broker/server/connection.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/dispatch.h"
#include "broker/replication/replication.h"
#include "broker/server/server.h"
#include "broker/server/tls.h"
#include "broker/server/uring.h"
#include "broker/storage/open_files.h"
#include "wire/resp/reply_writer.h"

namespace sluice::server {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Reads of a big bulk: large enough that syscalls cost little, small enough to stay in cache.
constexpr size_t kBigReadChunk = 256 * 1024;
// Bytes read from one connection in one loop iteration before the others get their turn (the
// socket stays readable, so the next poll returns at once). Redis reads 16 KiB per client per
// iteration, or what a big argument still needs.
constexpr size_t kReadBudget = 64 * 1024;
constexpr size_t kBigReadBudget = 256 * 1024;
constexpr size_t kMaxIov = 64;
// A command batch that queued output on at least this many other connections makes its
// connection a fan-out source (re-read during the reply sweep).
constexpr uint64_t kFanoutSourceMin = 8;
// TLS: plaintext replies encrypted ahead of the socket at most. The rest waits in the reply
// queue, where the output-buffer limits count it, as they count a plain connection's backlog.
constexpr size_t kTlsEncryptAhead = 256 * 1024;
// An output source (a full sync) is asked for more while less than this is queued.
constexpr uint64_t kSourceLowWater = 4u << 20;

}  // namespace

std::string tcp_endpoint(uv_tcp_t* tcp, bool local) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  int rc = local ? uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len)
                 : uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return "?:0";
  char ip[64] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

Connection::Connection(Server* server, uint64_t id) : server_(server), client_(id, this) {
  uv_tcp_init(server->loop(), &tcp_);
  tcp_.data = this;
  write_req_.data = this;
  // Both read live when a header needs them: AUTH, RESET and CONFIG SET change them mid-batch.
  parser_.set_auth_check(
      [](const void* self) { return static_cast<const Connection*>(self)->auth_required(); }, this);
  parser_.set_max_bulk_len_source(&server->broker().config().proto_max_bulk_len);
}

Connection::~Connection() = default;

void Connection::use_tls(std::unique_ptr<TlsSession> session) { tls_ = std::move(session); }

void Connection::start() {
  auto& broker = server_->broker();
  client_.addr = tcp_endpoint(&tcp_, false);
  client_.laddr = tcp_endpoint(&tcp_, true);
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) client_.fd = fd;
  client_.created_ms = core::now_ms();
  client_.last_interaction_ms = client_.created_ms;
  client_.authenticated = commands::default_user_opens(broker);
  uv_tcp_nodelay(&tcp_, 1);
  if (broker.config().tcp_keepalive > 0) {
    uv_tcp_keepalive(&tcp_, 1, static_cast<unsigned>(broker.config().tcp_keepalive));
  }
  broker.add_client(&client_);
  reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read) == 0;
  if (!reading_) close();
}

void Connection::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  *buf = static_cast<Connection*>(h->data)->read_buffer();
}

uv_buf_t Connection::read_buffer() {
  const uint64_t iteration = server_->iteration();
  if (iteration != read_iteration_) {
    read_iteration_ = iteration;
    read_bytes_ = 0;
  }
  if (read_bytes_ >= (big_filling_ ? kBigReadBudget : kReadBudget)) return uv_buf_init(nullptr, 0);
  if (tls_) [[unlikely]] {
    // Ciphertext goes to the scratch buffer, plaintext into the input below (input_space).
    std::span<char> scratch = TlsSession::read_scratch();
    return uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
  }
  return input_space();
}

uv_buf_t Connection::input_space() {
  if (big_filling_) {
    std::string& big = big_args_.back();
    // Zero-fill a chunk ahead (std::string has no uninitialized growth); capacity was reserved,
    // so the bytes never move. Reads stop exactly at the bulk's end, as Redis's do.
    if (big.size() == big_filled_) big.resize(std::min(big_total_, big_filled_ + kBigReadChunk));
    return uv_buf_init(big.data() + big_filled_, static_cast<unsigned>(big.size() - big_filled_));
  }
  // Drop consumed bytes before growing, so the buffer holds only unparsed input.
  if (input_pos_ > 0) {
    input_.consume(input_pos_);
    input_pos_ = 0;
  }
  // A bulk still being received needs at most kBigBulk + 2 more bytes: bigger ones go to
  // big_args_.
  size_t want = std::max(kReadChunk, parser_.bytes_hint());
  return uv_buf_init(input_.reserve(want), static_cast<unsigned>(want));
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(s->data);
  // The read budget of this iteration is spent: level-triggered polling comes back next time.
  if (nread == UV_ENOBUFS) return;
  if (nread < 0) {
    self->close();
    return;
  }
  if (nread == 0) return;
  if (self->tls_) [[unlikely]] {
    self->tls_received(buf->base, static_cast<size_t>(nread));
    return;
  }
  self->received(static_cast<size_t>(nread));
}

void Connection::tls_received(const char* data, size_t n) {
  tls_->feed(data, n);
  if (!tls_->established()) {
    TlsSession::Status status = tls_->handshake();
    if (status == TlsSession::Status::kError) {
      // Plaintext on the TLS port, an unknown CA, no client certificate...: this client only.
      spdlog::info("Error accepting a TLS client connection from {}: {}", client_.addr,
                   tls_->error());
      if (write_in_flight_ == 0) {
        std::string_view alert = tls_->output();  // best effort
        uv_buf_t b =
            uv_buf_init(const_cast<char*>(alert.data()), static_cast<unsigned>(alert.size()));
        if (b.len > 0) uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
      }
      close();
      return;
    }
    if (tls_->has_output()) server_->schedule_flush(this);
    if (status != TlsSession::Status::kDone) return;
    spdlog::debug("TLS client {} ({}) connected, certificate: {}", client_.id, client_.addr,
                  tls_->peer_subject());
  }
  // Everything fed is decrypted now: bytes left inside OpenSSL would wait for a socket event
  // that may never come.
  while (!closing_ && !close_requested && !client_.close_after_reply) {
    uv_buf_t space = input_space();
    size_t got = 0;
    TlsSession::Status status = tls_->read(space.base, space.len, &got);
    if (status == TlsSession::Status::kDone) {
      received(got);
      continue;
    }
    if (status == TlsSession::Status::kWantInput) break;
    if (status == TlsSession::Status::kError) {
      spdlog::info("TLS error from client {} ({}): {}", client_.id, client_.addr, tls_->error());
    }
    close();
    return;
  }
  // Post-handshake messages (session tickets, key updates) go out with the next flush.
  if (!closing_ && tls_->has_output()) server_->schedule_flush(this);
}

void Connection::received(size_t n) {
  server_->count_input();
  read_bytes_ += n;
  if (big_filling_) {
    big_filled_ += n;
  } else {
    input_.commit(n);
  }
  server_->broker().stats().total_net_input_bytes += n;
  client_.last_interaction_ms = core::now_ms();
  // As Redis, checked after each read, before parsing: the connection is closed without a reply.
  if (query_buffer_bytes() > server_->broker().config().client_query_buffer_limit) {
    spdlog::warn("closing client {} ({}) that reached max query buffer length ({} bytes)",
                 client_.id, client_.addr, query_buffer_bytes());
    close();
    return;
  }
  if (big_filling_) {
    if (big_filled_ < big_total_) return;
    std::string& big = big_args_.back();
    big.resize(big_total_ - 2);
    parser_.supply_big_bulk(big);
    big_filling_ = false;
  }
  uint64_t foreign = server_->foreign_outputs();
  process_input();
  // Deliveries to a handful of connections are not worth a re-read (Server::write_replies).
  if (server_->foreign_outputs() - foreign >= kFanoutSourceMin) server_->note_fanout_source(this);
}

size_t Connection::query_buffer_bytes() const {
  if (big_filling_) return big_filled_;
  return input_.size() - input_pos_ - std::min(input_.size() - input_pos_, parser_.parsed_bytes());
}

core::ClientHost::QueryBuffer Connection::query_buffer() const {
  // input_pos_ counts the commands of this batch already taken, the running one included
  // (Redis trims its buffer only after the batch); 0 between batches.
  size_t used = input_pos_ + query_buffer_bytes();
  size_t free = big_filling_ ? big_total_ - big_filled_ : input_.capacity() - input_.size();
  return {used, free};
}

bool Connection::auth_required() const { return !client_.authenticated; }

void Connection::begin_big_bulk(wire::resp::RequestParser::BigBulk bulk) {
  std::string_view data = input_.view(input_pos_);
  if (big_args_.capacity() == 0) big_args_.reserve(4);
  std::string& big = big_args_.emplace_back();
  big_total_ = bulk.length + 2;
  big.reserve(big_total_);
  // What already arrived (less than the whole bulk, or the parser would have taken it) moves
  // over once; the rest is read in place.
  big.append(data.substr(bulk.offset));
  big_filled_ = big.size();
  input_.truncate(input_pos_ + bulk.offset);
  big_filling_ = true;
}

bool Connection::read_now() {
  if (closing_ || close_requested || !reading_ || client_.blocked || client_.fd < 0) return false;
  uv_buf_t buf = read_buffer();
  if (buf.len == 0) return false;
  ssize_t n = ::read(client_.fd, buf.base, buf.len);
  // Nothing there, end of file or an error: libuv's next poll reports the last two.
  if (n <= 0) return false;
  if (tls_) [[unlikely]] {
    tls_received(buf.base, static_cast<size_t>(n));
    return true;
  }
  received(static_cast<size_t>(n));
  return true;
}

void Connection::process_input() {
  if (closing_ || close_requested) return;
  auto& broker = server_->broker();
  // While a big bulk fills, nothing new can be parsed (the loop below starts one and stops).
  while (!big_filling_ && !client_.blocked && !client_.close_after_reply &&
         input_pos_ < input_.size()) {
    size_t consumed = 0;
    std::string_view data = input_.view(input_pos_);
    auto outcome = parser_.parse(data, &argv_, &consumed);
    if (outcome == wire::resp::RequestParser::Outcome::kIncomplete) {
      if (auto big = parser_.big_bulk(); big.length > 0) begin_big_bulk(big);
      break;
    }
    if (outcome == wire::resp::RequestParser::Outcome::kError) {
      protocol_error(parser_.error());
      return;
    }
    if (argv_.empty()) {
      input_pos_ += consumed;
      continue;
    }
    // Over the storage descriptor budget (a pipeline or a stream of requests touching thousands
    // of streams whose files are busy until the next sync): the command waits until a sync has
    // made files idle (storage/open_files.h). Checked before running it, so that a client
    // sending one command at a time waits too; a resumed connection runs one command first, so
    // it progresses even when nothing can be closed.
    // (A command whose big argument was received apart is not held: it cannot be parsed again.)
    if (!files_pass_ && big_args_.empty() && storage::open_files_over_limit()) [[unlikely]] {
      server_->defer_for_files(this);
      break;
    }
    files_pass_ = false;
    input_pos_ += consumed;
    if (big_args_.empty()) {
      commands::execute(broker, client_, argv_);
    } else {
      client_.owned_args = big_args_;
      commands::execute(broker, client_, argv_);
      client_.owned_args = {};
      big_args_.clear();  // what the command did not keep
    }
  }
  // Compact: keep only unparsed bytes (argv views are dead by now). The parser's progress on a
  // partial command is relative to the first unparsed byte, so it survives the move.
  if (input_pos_ > 0) {
    input_.consume(input_pos_);
    input_pos_ = 0;
  }
  input_.shrink_if_idle();
  // A blocked client keeps being read (pipelined bytes wait in the buffer, bounded by
  // client-query-buffer-limit), so a disconnect while blocked is noticed at once and its
  // waiter removed.
  if (client_.close_after_reply) {
    if (reading_) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
      reading_ = false;
    }
  }
  if (!client_.out.empty() || client_.close_after_reply) server_->schedule_flush(this);
  check_output_limits();
}

void Connection::protocol_error(const std::string& text) {
  spdlog::debug("protocol error from client {} ({}): {}", client_.id, client_.addr, text);
  wire::resp::ReplyWriter w(client_.out.staging(), client_.protocol);
  w.error("ERR " + text);
  client_.close_after_reply = true;
  input_.clear();
  input_pos_ = 0;
  parser_.reset();
  big_args_.clear();
  big_filling_ = false;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
  server_->schedule_flush(this);
}

size_t Connection::gather_output() {
  iov_.clear();
  if (closing_ || write_in_flight_ > 0) return 0;  // on_write will flush again
  return client_.out.releasable(server_->broker().durable_epoch(), &iov_, kMaxIov);
}

void Connection::pull_source() {
  if (client_.out_source && !closing_ && client_.out.bytes() < kSourceLowWater) {
    client_.out_source->refill(client_);
    client_.out.commit();  // file bytes, not replies of this iteration's batch
  }
}

void Connection::flush() {
  if (tls_) [[unlikely]] {
    tls_flush();
    return;
  }
  pull_source();
  size_t total = gather_output();
  if (total == 0) {
    if (!closing_ && write_in_flight_ == 0) finish_if_drained();
    return;
  }
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_),
                       reinterpret_cast<const uv_buf_t*>(iov_.data()),
                       static_cast<unsigned>(iov_.size()));
  if (n == UV_ENOSYS) n = 0;
  wrote(n, total);
}

bool Connection::queue_send(SendRing& ring) {
  if (tls_) [[unlikely]] {
    tls_flush();
    return false;
  }
  pull_source();
  size_t total = gather_output();
  if (total == 0) {
    if (!closing_ && write_in_flight_ == 0) finish_if_drained();
    return false;
  }
  msg_ = msghdr{};
  msg_.msg_iov = iov_.data();
  msg_.msg_iovlen = iov_.size();
  if (client_.fd < 0 || !ring.queue_sendmsg(client_.fd, &msg_, reinterpret_cast<uint64_t>(this))) {
    flush();
    return false;
  }
  send_total_ = total;
  return true;
}

void Connection::sent(int result) { wrote(result, send_total_); }

void Connection::wrote(ssize_t n, size_t total) {
  if (closing_) return;
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    close();
    return;
  }
  auto& broker = server_->broker();
  broker.stats().total_net_output_bytes += static_cast<uint64_t>(n);
  client_.out.consume(static_cast<size_t>(n));
  // With an output source attached, what is left (after asking for more) goes to libuv: its
  // completion brings the next refill, so the source advances as fast as the socket drains.
  const bool sourcing = client_.out_source != nullptr;
  if (sourcing) pull_source();
  if (static_cast<size_t>(n) < total || iov_.size() == kMaxIov || sourcing) {
    // The socket is full: hand the rest to libuv, which writes it when writable. The queued
    // bytes must keep their addresses until on_write, so close the staging buffer first.
    client_.out.seal_staging();
    iov_.clear();
    size_t rest = client_.out.releasable(broker.durable_epoch(), &iov_, kMaxIov);
    if (rest > 0) {
      int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_),
                        reinterpret_cast<const uv_buf_t*>(iov_.data()),
                        static_cast<unsigned>(iov_.size()), on_write);
      if (rc != 0) {
        close();
        return;
      }
      write_in_flight_ = rest;
      return;
    }
  }
  finish_if_drained();
}

void Connection::tls_flush() {
  if (closing_ || write_in_flight_ > 0) return;  // on_write flushes again
  auto& broker = server_->broker();
  for (;;) {
    pull_source();
    size_t ahead = tls_->output_bytes();
    if (ahead < kTlsEncryptAhead && tls_->established()) {
      iov_.clear();
      size_t total = client_.out.releasable(broker.durable_epoch(), &iov_, kMaxIov);
      size_t room = std::min(total, kTlsEncryptAhead - ahead);
      size_t done = 0;
      for (const iovec& v : iov_) {
        if (done == room) break;
        size_t take = std::min(v.iov_len, room - done);
        tls_->write(static_cast<const char*>(v.iov_base), take);
        done += take;
      }
      if (done > 0) {
        broker.stats().total_net_output_bytes += done;
        client_.out.consume(done);
      }
    }
    std::string_view cipher = tls_->output();
    if (cipher.empty()) {
      finish_if_drained();
      return;
    }
    uv_buf_t b =
        uv_buf_init(const_cast<char*>(cipher.data()), static_cast<unsigned>(cipher.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
      close();
      return;
    }
    tls_->consume_output(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < cipher.size()) {
      // The socket is full: libuv writes the rest when it can. Those bytes stay where they are
      // until on_write, since no ciphertext is taken out of OpenSSL while a write is in flight.
      std::string_view rest = cipher.substr(static_cast<size_t>(n));
      uv_buf_t r = uv_buf_init(const_cast<char*>(rest.data()), static_cast<unsigned>(rest.size()));
      if (uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &r, 1, on_write) != 0) {
        close();
        return;
      }
      write_in_flight_ = rest.size();
      return;
    }
  }
}

void Connection::finish_if_drained() {
  if (client_.close_after_reply &&
      !client_.out.waiting_for_durability(server_->broker().durable_epoch()) &&
      client_.out.empty()) {
    close();
  }
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  size_t n = self->write_in_flight_;
  self->write_in_flight_ = 0;
  if (self->closing_) return;
  if (status < 0) {
    self->close();
    return;
  }
  if (self->tls_) [[unlikely]] {
    self->tls_->consume_output(n);  // the plaintext left the reply queue when encrypted
  } else {
    self->server_->broker().stats().total_net_output_bytes += n;
    self->client_.out.consume(n);
  }
  self->server_->schedule_flush(self);
}

void Connection::check_output_limits() {
  auto& cfg = server_->broker().config();
  const config::OutputBufferLimit& lim =
      client_.is_pubsub_client() ? cfg.obl_pubsub : cfg.obl_normal;
  // The queue keeps bytes handed to uv_write until on_write, so it already covers libuv's
  // write_queue_size: adding that would count them twice and cut clients at half the limit.
  uint64_t used = client_.out.bytes();
  bool over = false;
  if (lim.hard_bytes > 0 && used >= lim.hard_bytes) over = true;
  if (!over && lim.soft_bytes > 0 && used >= lim.soft_bytes) {
    int64_t now = core::now_ms();
    if (client_.obl_soft_since_ms == 0) {
      client_.obl_soft_since_ms = now;
    } else if (now - client_.obl_soft_since_ms > static_cast<int64_t>(lim.soft_seconds) * 1000) {
      // As Redis: closed once over the soft limit for longer than soft_seconds.
      over = true;
    }
  } else if (lim.soft_bytes > 0) {
    client_.obl_soft_since_ms = 0;
  }
  if (over && !close_requested) {
    spdlog::warn(
        "Client id={} addr={} name={} scheduled to be closed ASAP for overcoming of output buffer "
        "limits.",
        client_.id, client_.addr, client_.name);
    ++server_->broker().stats().client_obl_disconnections;
    close_soon(client_);
  }
}

void Connection::output_ready(core::Client&) {
  if (closing_ || close_requested) return;
  // The replication stream to a replica is one receiver for every write: it must not make each
  // writer a fan-out source (Server::write_replies would re-read them all through the sweep).
  if (!client_.replica) server_->count_foreign_output();
  server_->schedule_flush(this);
  check_output_limits();
}

void Connection::close_soon(core::Client&) {
  if (close_requested || closing_) return;
  close_requested = true;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
  server_->schedule_close(this);
}

void Connection::unblocked(core::Client&) {
  if (closing_ || close_requested) return;
  if (!reading_ && !client_.close_after_reply) {
    reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read) == 0;
  }
  resume_pending = true;
  server_->schedule_flush(this);
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  auto& broker = server_->broker();
  broker.blocking().remove(client_);
  if (client_.replica) replication::of(broker).detach(client_);
  server_->connection_closed(this);
  broker.remove_client(&client_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
}

void Connection::on_close(uv_handle_t* h) { delete static_cast<Connection*>(h->data); }

}  // namespace sluice::server
