#include "broker/replication/replication.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "wire/resp/reply_writer.h"

namespace sluice::replication {
namespace {

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}

void put_u64(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

}  // namespace

std::string random_id() {
  static const char* kHex = "0123456789abcdef";
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 40; ++i) id += kHex[rd() % 16];
  return id;
}

Replication& of(core::Broker& broker) {
  if (!broker.replication) broker.replication = std::make_unique<Replication>(broker);
  return static_cast<Replication&>(*broker.replication);
}

Replication::Replication(core::Broker& broker) : broker_(broker), replid_(random_id()) {
  broker_.key_removed = [this](int db, std::string_view key) { expired(db, key); };
  broker_.flush_hook = [this](bool flushed) { on_flush(flushed); };
}

Replication::~Replication() {
  broker_.flush_hook = nullptr;
  if (state_fd_ >= 0) ::close(state_fd_);
}

namespace {

// The kernel's ID of this boot ("-" when unknown): a different one means the machine restarted
// since a line was written, and what the page cache held may not have reached the disk.
const std::string& boot_id() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string s;
    if (!(in >> s) || s.size() > 36) return std::string("-");
    return s;
  }();
  return id;
}

}  // namespace

void Replication::write_state(char mark) {
  if (state_fd_ < 0) {
    std::string path = broker_.config().dir + "/repl-state";
    state_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (state_fd_ < 0) return;
  }
  // Fixed length, one pwrite: a process crash leaves either the old line or the new one.
  char line[128];
  int n =
      std::snprintf(line, sizeof(line), "%-40s %020llu %c %-36s %05d\n", replid_.c_str(),
                    static_cast<unsigned long long>(offset_), mark, boot_id().c_str(), applied_db_);
  if (::pwrite(state_fd_, line, static_cast<size_t>(n), 0) != n) return;
  if (mark == 's') {
    // Durable, and its directory entry too (the file may be new).
    ::fdatasync(state_fd_);
    int dfd = ::open(broker_.config().dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  state_marked_ = mark != 'c';
  if (!state_marked_) {
    state_offset_ = offset_;
    state_id_ = replid_;
  }
}

void Replication::on_flush(bool flushed) {
  if ((!is_replica() && !backlog_active_) || state_held_) return;  // no history to keep
  const bool moved = state_offset_ != offset_ || state_id_ != replid_;
  if (!flushed) {
    if (moved && !state_marked_) write_state('i');
  } else if (moved || state_marked_) {
    write_state('c');
  }
}

void Replication::load_state() {
  std::ifstream in(broker_.config().dir + "/repl-state");
  std::string id;
  uint64_t offset = 0;
  std::string mark = "c";  // files written by older versions had no mark: clean shutdowns
  std::string boot;        // nor a boot ID
  int db = 0;              // nor the stream's database (0, what they assumed)
  if (!(in >> id >> offset) || id.size() != 40) return;
  in >> mark >> boot >> db;
  if (mark != "c" && mark != "s") {
    spdlog::warn(
        "replication: the last run stopped while flushing; the replication offset is "
        "not trusted (a full sync follows)");
    return;
  }
  if (mark == "c" && !boot.empty() && boot != "-" && boot_id() != "-" && boot != boot_id()) {
    spdlog::warn(
        "replication: the machine restarted since the last run, which did not shut down "
        "cleanly; the data may hold less than the replication offset says, so it is not "
        "trusted (a full sync follows)");
    return;
  }
  adopt(id, offset);
  applied_db_ = db >= 0 && db < broker_.config().databases ? db : 0;
  state_offset_ = offset;
  state_id_ = id;
}

void Replication::expired(int db, std::string_view key) {
  if (!active()) return;
  open_multi_if_nested();
  select_db(db);
  std::string_view argv[] = {"DEL", key};
  append_command(argv);
}

void Replication::promote() {
  master_host.clear();
  master_port = 0;
  link = LinkStatus::kNone;
  replid2_ = replid_;
  second_offset_ = static_cast<int64_t>(offset_) + 1;
  replid_ = random_id();
  stream_db_ = -1;
  backlog_active_ = true;
}

void Replication::follow(const std::string& host, int port, int64_t now_ms) {
  // A master's own stream is in the database it last SELECTed; a replica's PSYNC with this
  // history continues from there.
  if (!is_replica()) applied_db_ = stream_db_ < 0 ? 0 : stream_db_;
  // The replicas of this server are dropped: they follow it again after its full sync.
  if (broker_.control) {
    for (auto& r : replicas) broker_.control->kill_client(*r.client);
  }
  master_host = host;
  master_port = port;
  link = LinkStatus::kConnecting;
  link_down_since_ms = now_ms;
  broker_.config().replicaof = host + " " + std::to_string(port);
  if (broker_.control) broker_.control->set_master(host, port);
}

void Replication::unfollow() {
  if (!is_replica()) return;
  if (broker_.control) broker_.control->set_master("", 0);
  promote();
  broker_.config().replicaof.clear();
}

const char* Replication::failover_state_name() const {
  switch (failover_state) {
    case FailoverState::kWaitForSync:
      return "waiting-for-sync";
    case FailoverState::kInProgress:
      return "failover-in-progress";
    case FailoverState::kNone:
      break;
  }
  return "no-failover";
}

void Replication::start_failover() {
  failover_state = FailoverState::kWaitForSync;
  broker_.failover_paused = true;
  request_acks();
}

AttachedReplica* Replication::find_replica(std::string_view host, int port) {
  for (auto& r : replicas) {
    if (r.port == port && r.ip.size() == host.size() &&
        std::equal(host.begin(), host.end(), r.ip.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return &r;
    }
  }
  return nullptr;
}

void Replication::update_failover(int64_t now_ms) {
  if (failover_state != FailoverState::kWaitForSync) return;
  if (failover_end_ms != 0 && failover_end_ms <= now_ms) {
    if (!failover_force) return abort_failover("Replica never caught up before timeout");
    spdlog::info("FAILOVER to {}:{} time out exceeded, failing over.", failover_host,
                 failover_port);
    failover_state = FailoverState::kInProgress;
    return follow(failover_host, failover_port, now_ms);
  }
  AttachedReplica* target = nullptr;
  if (!failover_host.empty()) {
    target = find_replica(failover_host, failover_port);
  } else {
    for (auto& r : replicas) {
      if (r.online && r.ack_offset == offset_) {
        target = &r;
        failover_host = r.ip;
        failover_port = r.port;
        break;
      }
    }
  }
  if (target && target->online && target->ack_offset == offset_) {
    spdlog::info("Failover target {}:{} is synced, failing over.", failover_host, failover_port);
    failover_state = FailoverState::kInProgress;
    follow(failover_host, failover_port, now_ms);
  }
}

void Replication::finish_failover() {
  failover_state = FailoverState::kNone;
  failover_host.clear();
  failover_port = 0;
  failover_end_ms = 0;
  failover_force = false;
  broker_.failover_paused = false;
}

void Replication::abort_failover(const std::string& why) {
  if (failover_state == FailoverState::kNone) return;
  if (failover_host.empty()) {
    spdlog::info("FAILOVER to any replica aborted: {}", why);
  } else {
    spdlog::info("FAILOVER to {}:{} aborted: {}", failover_host, failover_port, why);
  }
  if (failover_state == FailoverState::kInProgress) unfollow();
  finish_failover();
}

void Replication::adopt(std::string replid, uint64_t offset) {
  replid_ = std::move(replid);
  replid2_ = std::string(40, '0');
  second_offset_ = -1;
  offset_ = offset;
  backlog_.clear();
  backlog_active_ = true;
  stream_db_ = -1;
  applied_db_ = 0;
}

void Replication::adopt_new_id(std::string replid) {
  if (replid == replid_) return;
  replid2_ = replid_;
  second_offset_ = static_cast<int64_t>(offset_) + 1;
  replid_ = std::move(replid);
}

bool Replication::can_continue(std::string_view replid, uint64_t psync_offset) const {
  if (!backlog_active_) return false;
  bool id_ok = replid == replid_ || (replid == replid2_ && second_offset_ >= 0 &&
                                     psync_offset <= static_cast<uint64_t>(second_offset_));
  if (!id_ok) return false;
  return psync_offset >= backlog_first_offset() && psync_offset <= offset_ + 1;
}

std::string Replication::backlog_from(uint64_t psync_offset) const {
  return backlog_.substr(psync_offset - backlog_first_offset());
}

void Replication::append(std::string_view bytes) {
  offset_ += bytes.size();
  backlog_.append(bytes);
  // Trim in halves so an append costs O(1) amortized: up to twice the configured size is kept.
  const uint64_t limit = std::max<uint64_t>(broker_.config().repl_backlog_size, 16 * 1024);
  if (backlog_.size() > 2 * limit) backlog_.erase(0, backlog_.size() - limit);
  for (auto& r : replicas) {
    if (r.sync) r.pending.append(bytes);
    if (!r.online) continue;
    r.client->out.staging()->append(bytes);
    r.client->host->output_ready(*r.client);
  }
}

void Replication::append_command(std::span<const std::string_view> argv) {
  std::string buf;
  wire::resp::ReplyWriter::append_header(&buf, '*', argv.size());
  for (std::string_view a : argv) wire::resp::ReplyWriter::append_bulk(&buf, a);
  append(buf);
}

void Replication::select_db(int db) {
  if (db == stream_db_) return;
  std::string n = std::to_string(db);
  std::string_view argv[] = {"SELECT", n};
  append_command(argv);
  stream_db_ = db;
}

void Replication::open_multi_if_nested() {
  if (depth_ > 1 && !multi_open_) {
    std::string_view argv[] = {"MULTI"};
    append_command(argv);
    multi_open_ = true;
  }
}

void Replication::emit(int db, std::span<const std::string_view> argv) {
  emitted_ = true;
  if (!active()) return;
  open_multi_if_nested();
  select_db(db);
  append_command(argv);
}

void Replication::emit_all(int db, const std::vector<std::vector<std::string>>& commands) {
  emitted_ = true;
  if (!active() || commands.empty()) return;
  open_multi_if_nested();
  bool wrap = commands.size() > 1 && !multi_open_;
  select_db(db);
  if (wrap) {
    std::string_view m[] = {"MULTI"};
    append_command(m);
  }
  std::vector<std::string_view> argv;
  for (const auto& c : commands) {
    argv.assign(c.begin(), c.end());
    append_command(argv);
  }
  if (wrap) {
    std::string_view e[] = {"EXEC"};
    append_command(e);
  }
}

void Replication::end_command(Scope scope, int db, std::span<const std::string_view> argv,
                              bool wrote) {
  if (!emitted_ && wrote) emit(db, argv);
  --depth_;
  if (depth_ == 0 && multi_open_) {
    std::string_view e[] = {"EXEC"};
    append_command(e);
    multi_open_ = false;
  }
  emitted_ = scope.emitted_before || emitted_;
  if (depth_ == 0) emitted_ = false;
}

void Replication::feed_raw(std::string_view bytes, int db) {
  backlog_active_ = true;
  append(bytes);
  applied_db_ = db;
}

AttachedReplica* Replication::find_replica(const core::Client& client) {
  for (auto& r : replicas) {
    if (r.client == &client) return &r;
  }
  return nullptr;
}

void Replication::detach(core::Client& client) {
  client.out_source = nullptr;
  replicas.erase(std::remove_if(replicas.begin(), replicas.end(),
                                [&](const AttachedReplica& r) { return r.client == &client; }),
                 replicas.end());
}

int Replication::good_replicas(int64_t now_ms, int64_t max_lag_s) const {
  int n = 0;
  for (const auto& r : replicas) {
    if (r.online && r.ack_ms > 0 && now_ms - r.ack_ms <= max_lag_s * 1000) ++n;
  }
  return n;
}

int Replication::replicas_acked(uint64_t offset) const {
  int n = 0;
  for (const auto& r : replicas) {
    if (r.online && r.ack_offset >= offset) ++n;
  }
  return n;
}

void Replication::request_acks() {
  if (!active() || replicas.empty()) return;
  std::string_view argv[] = {"REPLCONF", "GETACK", "*"};
  append_command(argv);
}

void Replication::ping_replicas() {
  // Not while a failover waits for the replicas to reach the offset (as Redis).
  if (!active() || replicas.empty() || failover_state != FailoverState::kNone) return;
  std::string_view argv[] = {"PING"};
  append_command(argv);
}

namespace {

// Files that are only appended to (segments) or replaced whole by a rename (snapshots, retired
// journals): a hard link keeps their bytes up to the recorded length. Others are copied.
bool linkable(const std::string& name) {
  return ends_with(name, ".log") || ends_with(name, ".snap") ||
         name.find(".journal.") != std::string::npos;
}

constexpr std::string_view kCheckpointPrefix = "repl-sync-ckpt-";
constexpr size_t kRefillBytes = 4u << 20;

}  // namespace

FullSync::FullSync(Replication& repl, std::string dir, std::vector<File> files)
    : repl_(repl), dir_(std::move(dir)), files_(std::move(files)) {}

FullSync::~FullSync() {
  if (fd_ >= 0) ::close(fd_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

uint64_t FullSync::payload_bytes() const {
  uint64_t n = 0;
  for (const File& f : files_) n += 4 + f.name.size() + 8 + f.size;
  return n;
}

void FullSync::refill(core::Client& client) {
  std::string* out = client.out.staging();
  size_t budget = kRefillBytes;
  while (budget > 0 && index_ < files_.size()) {
    const File& f = files_[index_];
    if (!header_sent_) {
      put_u32(out, static_cast<uint32_t>(f.name.size()));
      out->append(f.name);
      put_u64(out, f.size);
      header_sent_ = true;
      pos_ = 0;
      fd_ = ::open((dir_ + "/" + f.name).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return repl_.sync_failed(client, "cannot open " + f.name);
    }
    if (pos_ < f.size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(budget, f.size - pos_));
      size_t old = out->size();
      out->resize(old + n);
      ssize_t got = ::pread(fd_, out->data() + old, n, static_cast<off_t>(pos_));
      if (got <= 0) {
        out->resize(old);
        return repl_.sync_failed(client, "cannot read " + f.name);
      }
      out->resize(old + static_cast<size_t>(got));
      pos_ += static_cast<uint64_t>(got);
      budget -= static_cast<size_t>(got);
    }
    if (pos_ == f.size) {
      ::close(fd_);
      fd_ = -1;
      header_sent_ = false;
      ++index_;
    }
  }
  if (index_ == files_.size()) repl_.sync_sent(client);  // destroys this: nothing after it
}

std::unique_ptr<FullSync> Replication::make_checkpoint() {
  namespace fs = std::filesystem;
  broker_.flush_storage();
  const fs::path root(broker_.config().dir);
  std::string dir_name = std::string(kCheckpointPrefix) + std::to_string(++checkpoints_);
  const fs::path ckpt = root / dir_name;
  std::error_code ec;
  fs::remove_all(ckpt, ec);
  std::vector<std::string> names;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string name = fs::relative(it->path(), root, ec).generic_string();
    // Top-level files (logs, pid, config) are not data; temporary and sidecar files are
    // rebuilt or dropped by recovery.
    if (name.find('/') == std::string::npos || name.rfind("repl-sync", 0) == 0) continue;
    if (ends_with(name, ".tmp") || ends_with(name, ".idx") || ends_with(name, ".corrupt")) {
      continue;
    }
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  std::vector<FullSync::File> files;
  for (std::string& name : names) {
    const fs::path src = root / name;
    const fs::path dst = ckpt / name;
    fs::create_directories(dst.parent_path(), ec);
    bool ok = false;
    if (linkable(name)) ok = ::link(src.c_str(), dst.c_str()) == 0;
    if (!ok) ok = fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    struct stat st {};
    // A file removed since the listing (a trimmed segment) is simply not part of the copy.
    if (!ok || ::stat(dst.c_str(), &st) != 0) continue;
    files.push_back({std::move(name), static_cast<uint64_t>(st.st_size)});
  }
  return std::make_unique<FullSync>(*this, ckpt.string(), std::move(files));
}

void Replication::remove_stale_checkpoints() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(broker_.config().dir, ec)) {
    // Checkpoints being sent and payloads being received (replicas) by the previous run.
    if (entry.is_directory() && entry.path().filename().string().rfind("repl-sync-", 0) == 0) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

void Replication::sync_sent(core::Client& client) {
  AttachedReplica* r = find_replica(client);
  client.out_source = nullptr;
  if (!r) return;
  client.out.staging()->append(r->pending);
  r->pending = std::string();
  r->online = true;
  r->sync.reset();
}

void Replication::sync_failed(core::Client& client, const std::string& why) {
  spdlog::warn("replication: full sync to {} failed: {}", client.addr, why);
  client.out_source = nullptr;
  if (broker_.control) broker_.control->kill_client(client);
  if (AttachedReplica* r = find_replica(client)) r->sync.reset();  // destroys the caller
}

bool Replication::psync(core::Client& client, std::string_view replid,
                        std::string_view offset_text) {
  uint64_t psync_offset = 0;
  bool offset_ok = !offset_text.empty() && offset_text[0] != '-';
  if (offset_ok) {
    for (char c : offset_text) {
      if (c < '0' || c > '9') offset_ok = false;
    }
    if (offset_ok) psync_offset = std::stoull(std::string(offset_text));
  }
  AttachedReplica* r = find_replica(client);
  if (!r) {
    r = &replicas.emplace_back();
    r->client = &client;
  }
  r->ip = client.addr.substr(0, client.addr.rfind(':'));
  client.replica = true;
  std::string* out = client.out.staging();
  if (offset_ok && can_continue(replid, psync_offset)) {
    out->append("+CONTINUE " + replid_ + "\r\n");
    out->append(backlog_from(psync_offset));
    r->online = true;
    r->ack_offset = psync_offset - 1;
    ++sync_partial_ok;
    return true;
  }
  if (replid != "?") ++sync_partial_err;
  ++sync_full;
  backlog_active_ = true;
  stream_db_ = -1;
  r->sync = make_checkpoint();
  r->pending.clear();
  r->online = false;
  r->ack_offset = offset_;
  out->append("+FULLRESYNC " + replid_ + " " + std::to_string(offset_) + "\r\n");
  out->append("$" + std::to_string(r->sync->payload_bytes()) + "\r\n");
  client.out_source = r->sync.get();
  client.host->output_ready(client);
  return false;
}

}  // namespace sluice::replication
