#include "broker/replication/replication.h"

#include <algorithm>
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

void Replication::adopt(std::string replid, uint64_t offset) {
  replid_ = std::move(replid);
  replid2_ = std::string(40, '0');
  second_offset_ = -1;
  offset_ = offset;
  backlog_.clear();
  backlog_active_ = true;
  stream_db_ = -1;
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

void Replication::feed_raw(std::string_view bytes) {
  backlog_active_ = true;
  append(bytes);
}

AttachedReplica* Replication::find_replica(const core::Client& client) {
  for (auto& r : replicas) {
    if (r.client == &client) return &r;
  }
  return nullptr;
}

void Replication::detach(core::Client& client) {
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
  if (!active() || replicas.empty()) return;
  std::string_view argv[] = {"PING"};
  append_command(argv);
}

std::string Replication::snapshot_payload() {
  namespace fs = std::filesystem;
  broker_.flush_storage();
  std::string out;
  const fs::path root(broker_.config().dir);
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    fs::path rel = fs::relative(it->path(), root, ec);
    std::string name = rel.generic_string();
    // Top-level files (logs, pid, config) are not data; temporary and sidecar files are
    // rebuilt or dropped by recovery.
    if (name.find('/') == std::string::npos || name.rfind("repl-sync", 0) == 0) continue;
    if (ends_with(name, ".tmp") || ends_with(name, ".idx") || ends_with(name, ".corrupt")) {
      continue;
    }
    files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  for (const auto& rel : files) {
    std::ifstream in(root / rel, std::ios::binary);
    if (!in) continue;
    in.seekg(0, std::ios::end);
    std::string bytes(static_cast<size_t>(in.tellg()), '\0');
    in.seekg(0);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<size_t>(in.gcount()));
    std::string name = rel.generic_string();
    put_u32(&out, static_cast<uint32_t>(name.size()));
    out += name;
    put_u64(&out, bytes.size());
    out += bytes;
  }
  return out;
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
    replicas.push_back({&client, {}, 0, false, 0, 0});
    r = &replicas.back();
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
  std::string payload = snapshot_payload();
  out->append("+FULLRESYNC " + replid_ + " " + std::to_string(offset_) + "\r\n");
  out->append("$" + std::to_string(payload.size()) + "\r\n");
  out->append(payload);
  r->online = true;
  r->ack_offset = offset_;
  return false;
}

}  // namespace sluice::replication
