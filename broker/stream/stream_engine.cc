#include "broker/stream/stream_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "broker/core/broker.h"
#include "broker/storage/journal.h"
#include "broker/storage/open_files.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"

namespace sluice::stream {
namespace {

using wire::ErrorCode;
using wire::Result;
using wire::Status;

constexpr std::string_view kMetaMagic = "sluice-stream-meta 1\n";

std::string meta_bytes(int db, std::string_view key) {
  std::string out(kMetaMagic);
  out += std::to_string(db) + "\n" + std::to_string(key.size()) + "\n";
  out.append(key);
  return out;
}

bool parse_meta(std::string_view bytes, int* db, std::string* key) {
  if (!bytes.starts_with(kMetaMagic)) return false;
  bytes.remove_prefix(kMetaMagic.size());
  size_t nl = bytes.find('\n');
  if (nl == std::string_view::npos) return false;
  if (std::from_chars(bytes.data(), bytes.data() + nl, *db).ec != std::errc()) return false;
  bytes.remove_prefix(nl + 1);
  nl = bytes.find('\n');
  size_t len = 0;
  if (nl == std::string_view::npos ||
      std::from_chars(bytes.data(), bytes.data() + nl, len).ec != std::errc()) {
    return false;
  }
  bytes.remove_prefix(nl + 1);
  if (bytes.size() != len) return false;
  key->assign(bytes);
  return true;
}

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return {ErrorCode::kIo, "mkdir " + path + ": " + std::strerror(errno)};
  }
  return {};
}

void remove_tree(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      struct stat st;
      if (::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        remove_tree(child);
      } else {
        ::unlink(child.c_str());
      }
    }
    ::closedir(d);
  }
  ::rmdir(path.c_str());
}

}  // namespace

StreamEngine::StreamEngine(core::Broker& broker)
    : broker_(broker), epochs_(broker.write_epochs()) {}

StreamEngine::~StreamEngine() {
  for (int fd : pending_dir_fds_) ::close(fd);
  storage::pin_descriptors(-static_cast<int>(pending_dir_fds_.size()));
  release_reserved_descriptors();
  if (streams_dir_fd_ >= 0) ::close(streams_dir_fd_);
}

std::string StreamEngine::streams_dir() const { return broker_.config().dir + "/streams"; }

StreamOptions StreamEngine::options() const {
  const auto& c = broker_.config();
  StreamOptions o;
  o.log.segment_bytes = c.stream_segment_bytes;
  o.log.tail_cache_bytes = c.stream_tail_cache_bytes;
  o.log.quarantine_corrupt = c.recovery_quarantine;
  o.log.compress_sealed = c.stream_segment_compression == "zstd";
  o.log.compression_level = static_cast<int>(c.stream_segment_compression_level);
  o.log.max_record_bytes = static_cast<uint32_t>(
      std::min<uint64_t>(c.proto_max_bulk_len * 2 + (1 << 20), UINT32_MAX - 4096));
  o.node_max_entries = c.stream_node_max_entries;
  o.node_max_bytes = c.stream_node_max_bytes;
  return o;
}

void StreamEngine::open() {
  Status st = make_dir(broker_.config().dir);
  if (st.is_ok()) st = make_dir(streams_dir());
  if (!st.is_ok()) throw std::runtime_error(st.detail());
  streams_dir_fd_ = ::open(streams_dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = ::opendir(streams_dir().c_str());
  if (!d) throw std::runtime_error("cannot open " + streams_dir() + ": " + std::strerror(errno));
  std::vector<uint64_t> numbers;
  while (dirent* e = ::readdir(d)) {
    uint64_t n = 0;
    std::string_view name = e->d_name;
    auto r = std::from_chars(name.data(), name.data() + name.size(), n);
    if (r.ec == std::errc() && r.ptr == name.data() + name.size()) numbers.push_back(n);
  }
  ::closedir(d);
  std::sort(numbers.begin(), numbers.end());
  StreamOptions opts = options();
  for (uint64_t n : numbers) {
    next_number_ = std::max(next_number_, n + 1);
    std::string dir = streams_dir() + "/" + std::to_string(n);
    auto meta = storage::read_file(dir + "/meta");
    int db = 0;
    std::string key;
    if (!meta || !parse_meta(*meta, &db, &key) || db < 0 || db >= broker_.db_count()) {
      // A stream whose creation never completed (or a database that no longer exists).
      spdlog::warn("storage: removing stream directory {} without a valid meta file", dir);
      remove_tree(dir);
      continue;
    }
    storage::RecoveryReport report;
    auto s = Stream::open(dir, opts, &report);
    if (!s) {
      throw std::runtime_error("stream '" + key + "' in " + dir + ": " + s.status().detail());
    }
    truncated_bytes_ += report.truncated_bytes;
    if (report.truncated_bytes > 0) {
      spdlog::warn("storage: stream '{}': cut {} bytes of a torn tail: {}", key,
                   report.truncated_bytes, report.truncated_detail);
    }
    std::unique_ptr<Stream> stream = std::move(*s);
    uint64_t group_truncated = 0;
    Status gst = load_stream_groups(*stream, &group_truncated);
    if (!gst.is_ok()) {
      throw std::runtime_error("consumer groups of stream '" + key + "' in " + dir + ": " +
                               gst.detail());
    }
    truncated_bytes_ += group_truncated;
    stream->number = n;
    stream->db = db;
    stream->key = key;
    by_number_[n] = stream.get();
    auto old = broker_.db(db).put(key, std::move(stream));
    if (old) {
      spdlog::warn(
          "storage: key '{}' exists both as a stream and as another type; keeping the "
          "stream",
          key);
      broker_.release_object(db, key, std::move(old));
    }
    // Tens of thousands of streams would otherwise all keep their files open (open_files.h).
    storage::close_idle_files();
  }
  spdlog::info("storage: {} streams recovered from {}", by_number_.size(), streams_dir());
  recover_dead_letters();
}

void StreamEngine::close() {
  bool synced = !rolled_back_;
  for (auto& [n, s] : by_number_) {
    if (rolled_back_) break;
    Status st = s->sync();
    if (!st.is_ok()) {
      synced = false;
      spdlog::error("storage: final sync of stream '{}': {}", s->key, st.detail());
    }
  }
  for (int fd : pending_dir_fds_) {
    ::fsync(fd);
    ::close(fd);
  }
  storage::pin_descriptors(-static_cast<int>(pending_dir_fds_.size()));
  pending_dir_fds_.clear();
  if (synced) {
    // Every DLQ append is durable now: journal that too, so the next start redoes none of them
    // (a DLQ deleted since must stay deleted).
    for (auto& [n, s] : by_number_) {
      for (auto& [name, g] : s->groups) {
        if (g->dead_letters_confirm_journaled >= g->dead_letters) continue;
        g->confirm_dead_letters(g->dead_letters);
        dead_letter_streams_.insert(n);
      }
    }
    journal_dead_letter_confirmations();
    for (uint64_t n : dead_letter_streams_) {
      Stream* s = find(n);
      Status st = s && s->group_journal ? s->group_journal->sync() : Status();
      if (!st.is_ok()) spdlog::error("storage: final sync of '{}': {}", s->key, st.detail());
    }
  }
  dirty_.clear();
  release_reserved_descriptors();
  unsynced_.clear();
  graveyard_.clear();
}

Result<std::unique_ptr<Stream>> StreamEngine::create(int db, std::string_view key) {
  uint64_t n = next_number_++;
  std::string dir = streams_dir() + "/" + std::to_string(n);
  Status st = make_dir(dir);
  if (!st.is_ok()) return st;
  // The meta file and the new directory entry are fsynced with the next sync batch, before any
  // write to this stream is acknowledged under appendfsync always.
  std::string meta = meta_bytes(db, key);
  int fd = ::open((dir + "/meta").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, meta.data(), meta.size()) != static_cast<ssize_t>(meta.size())) {
    if (fd >= 0) ::close(fd);
    remove_tree(dir);
    return Status(ErrorCode::kStorageFailed,
                  "cannot create stream: " + std::string(std::strerror(errno)));
  }
  auto s = Stream::open(dir, options(), nullptr);
  if (!s) {
    ::close(fd);
    remove_tree(dir);
    return s.status();
  }
  const size_t pinned_before = pending_dir_fds_.size();
  pending_dir_fds_.push_back(fd);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) pending_dir_fds_.push_back(dfd);
  if (streams_dir_fd_ >= 0) {
    int pfd = ::dup(streams_dir_fd_);
    if (pfd >= 0) pending_dir_fds_.push_back(pfd);
  }
  storage::pin_descriptors(static_cast<int>(pending_dir_fds_.size() - pinned_before));
  std::unique_ptr<Stream> stream = std::move(*s);
  stream->number = n;
  stream->db = db;
  stream->key = std::string(key);
  by_number_[n] = stream.get();
  unsynced_.insert(n);
  created_round_.push_back(n);
  created_unsynced_.insert(n);
  return stream;
}

void StreamEngine::destroy(std::unique_ptr<core::Object> obj) {
  auto* s = static_cast<Stream*>(obj.get());
  by_number_.erase(s->number);
  dirty_.erase(s->number);
  dead_letter_streams_.erase(s->number);
  unsynced_.erase(s->number);
  s->destroy_files();
  remove_tree(s->dir());
  graveyard_.push_back(std::move(obj));
  if (!broker_.sync_running) free_graveyard();
}

void StreamEngine::free_graveyard() { graveyard_.clear(); }

Status StreamEngine::relocate(Stream& stream, int db, std::string_view key) {
  Status st = storage::write_file_atomic(stream.dir() + "/meta", meta_bytes(db, key));
  if (!st.is_ok()) return st;
  stream.db = db;
  stream.key = std::string(key);
  return {};
}

void StreamEngine::reserve_descriptors(Stream& stream) {
  size_t n = stream.mutable_log().descriptors_to_open() + stream.control().descriptors_to_open();
  if (stream.group_journal) n += stream.group_journal->descriptors_to_open();
  if (n == 0) return;
  reserved_descriptors_ += n;
  storage::pin_descriptors(static_cast<int>(n));
}

void StreamEngine::release_reserved_descriptors() {
  if (reserved_descriptors_ == 0) return;
  storage::pin_descriptors(-static_cast<int>(reserved_descriptors_));
  reserved_descriptors_ = 0;
}

Stream* StreamEngine::find(uint64_t number) {
  auto it = by_number_.find(number);
  return it == by_number_.end() ? nullptr : it->second;
}

Status StreamEngine::flush() {
  if (!broker_.sync_running && !graveyard_.empty()) free_graveyard();
  Status result;
  flushed_round_.clear();
  journal_dead_letter_confirmations();
  for (uint64_t n : dirty_) {
    Stream* s = find(n);
    if (!s) continue;
    flushed_round_.push_back(n);
    Status st = s->flush();
    if (!st.is_ok()) result = st;
    unsynced_.insert(n);
  }
  dirty_.clear();
  release_reserved_descriptors();
  if (result.is_ok()) {
    created_round_.clear();
    // Every dirty stream (each DLQ among them) is written: the dead letters made so far are
    // confirmed by the next completed sync.
    for (uint64_t n : dead_letter_streams_) {
      if (Stream* s = find(n)) {
        for (auto& [name, g] : s->groups) g->dead_letters_flushed = g->dead_letters;
      }
    }
  }
  return result;
}

bool StreamEngine::needs_sync() const { return !unsynced_.empty() || !pending_dir_fds_.empty(); }

void StreamEngine::collect_sync(core::SyncBatch& batch) {
  free_graveyard();
  // New directories and meta files first: a stream's data is useless without its name.
  if (!pending_dir_fds_.empty()) {
    std::vector<int> fds;
    fds.swap(pending_dir_fds_);
    batch.fds.insert(batch.fds.end(), fds.begin(), fds.end());
    batch.on_synced.push_back([fds] {
      for (int fd : fds) ::close(fd);
      storage::pin_descriptors(-static_cast<int>(fds.size()));
    });
  }
  if (!created_unsynced_.empty()) {
    batch.on_synced.push_back([this, created = std::vector<uint64_t>(created_unsynced_.begin(),
                                                                     created_unsynced_.end())] {
      for (uint64_t n : created) created_unsynced_.erase(n);
    });
  }
  // Dead letters written before this batch are durable once it completes (dead_letter.h).
  if (!dead_letter_streams_.empty()) {
    std::vector<std::pair<uint64_t, std::vector<std::pair<std::string, uint64_t>>>> flushed;
    for (uint64_t n : dead_letter_streams_) {
      Stream* s = find(n);
      if (!s) continue;
      std::vector<std::pair<std::string, uint64_t>> groups;
      for (auto& [name, g] : s->groups) {
        if (!g->unconfirmed_dead_letters.empty())
          groups.emplace_back(name, g->dead_letters_flushed);
      }
      flushed.emplace_back(n, std::move(groups));
    }
    batch.on_synced.push_back([this, flushed = std::move(flushed)] {
      for (const auto& [n, groups] : flushed) {
        Stream* s = find(n);
        if (!s) {
          dead_letter_streams_.erase(n);
          continue;
        }
        for (const auto& [name, seq] : groups) {
          auto it = s->groups.find(name);
          if (it != s->groups.end()) it->second->confirm_dead_letters(seq);
        }
        bool pending = false;
        for (auto& [name, g] : s->groups) {
          pending |= !g->unconfirmed_dead_letters.empty() ||
                     g->dead_letters_confirmed > g->dead_letters_confirm_journaled;
        }
        if (!pending) dead_letter_streams_.erase(n);
      }
    });
  }
  for (uint64_t n : unsynced_) {
    Stream* s = find(n);
    if (!s) continue;
    auto targets = s->mutable_log().sync_targets();
    batch.fds.insert(batch.fds.end(), targets.fds.begin(), targets.fds.end());
    storage::Journal& control = s->control();
    uint64_t control_offset = control.flushed_offset();
    if (control.needs_sync()) batch.fds.push_back(control.fd());
    uint64_t group_offset = 0;
    if (s->group_journal) {
      group_offset = s->group_journal->flushed_offset();
      if (s->group_journal->needs_sync()) batch.fds.push_back(s->group_journal->fd());
    }
    // `hold` pins the segment files until the sync is done, even if a trim drops them.
    batch.on_synced.push_back([this, n, token = targets.token, hold = targets.hold, control_offset,
                               group_offset, drop = s->pending_drop()] {
      Stream* st = find(n);
      if (!st) return;
      st->mutable_log().mark_synced(token);
      st->control().mark_synced(control_offset);
      if (st->group_journal) st->group_journal->mark_synced(group_offset);
      if (drop) st->start_durable(*drop);
    });
  }
  unsynced_.clear();
}

void StreamEngine::roll_back(core::RollBack how) {
  rolled_back_ = true;
  auto cut = [&](Stream& s, storage::CutTo to) {
    Status st = s.roll_back(to);
    if (!st.is_ok()) spdlog::error("storage: rollback of stream '{}': {}", s.key, st.detail());
  };
  if (how == core::RollBack::kLastFlush) {
    for (uint64_t n : flushed_round_) {
      if (Stream* s = find(n)) cut(*s, storage::CutTo::kBeforeLastFlush);
    }
  }
  for (auto& [n, s] : by_number_) {
    cut(*s, how == core::RollBack::kToSynced ? storage::CutTo::kSynced : storage::CutTo::kNothing);
  }
  // Streams created by the failed batch go whole: their directory and name never became durable
  // with any of their records (and a reopen would find an empty stream).
  std::vector<uint64_t> created(created_round_.begin(), created_round_.end());
  if (how == core::RollBack::kToSynced) {
    created.assign(created_unsynced_.begin(), created_unsynced_.end());
  }
  for (uint64_t n : created) remove_tree(streams_dir() + "/" + std::to_string(n));
  if (!created.empty()) {
    Status st = storage::sync_dir(streams_dir());
    if (!st.is_ok()) spdlog::error("storage: rollback: {}", st.detail());
  }
}

StreamEngine::RetentionPass StreamEngine::apply_retention(int64_t now_ms, size_t max_streams,
                                                          size_t max_segments) {
  RetentionPass pass;
  const auto& c = broker_.config();
  const RetentionPolicy policy{c.stream_retention_ms, c.stream_retention_bytes};
  if (!policy.enabled() || broker_.storage_failed() || by_number_.empty()) return pass;
  const size_t visits = std::min(max_streams, by_number_.size());
  auto it = by_number_.lower_bound(retention_cursor_);
  while (pass.streams_visited < visits && pass.segments_dropped < max_segments) {
    if (it == by_number_.end()) it = by_number_.begin();
    Stream& s = *it->second;
    ++pass.streams_visited;
    // Segments already behind the start (unlinked at the next sync) count as gone.
    const size_t dead = s.dead_segments();
    const size_t expired = s.failed() ? 0 : s.expired_segments(now_ms, policy);
    const size_t drop = std::min(expired, dead + (max_segments - pass.segments_dropped));
    size_t dropped = 0;
    if (drop > dead) {
      auto removed = s.drop_oldest_segments(drop);
      dropped = s.dead_segments() - dead;
      if (!removed) {
        spdlog::error("storage: retention of stream '{}': {}", s.key, removed.status().detail());
      }
      if (dropped > 0) {
        pass.entries_dropped += removed ? *removed : 0;
        mark_dirty(s);
        broker_.key_modified(s.db, s.key);
        broker_.notify('t', "xtrim", s.key, s.db);
      }
      pass.segments_dropped += dropped;
    }
    // Out of budget with more to drop: this stream goes on next time.
    if (dropped > 0 && drop < expired) break;
    ++it;
  }
  retention_cursor_ = it == by_number_.end() ? 0 : it->first;
  broker_.stats().stream_retention_dropped_segments += pass.segments_dropped;
  broker_.stats().stream_retention_dropped_entries += pass.entries_dropped;
  return pass;
}

StreamEngine::Totals StreamEngine::totals() const {
  Totals t;
  for (const auto& [n, s] : by_number_) {
    ++t.streams;
    t.entries += s->length();
    t.disk_bytes += s->log().disk_bytes();
    t.record_bytes += s->log().record_bytes();
    t.memory_bytes += s->memory_bytes();
    t.segments += s->log().segment_count();
    t.groups += s->groups.size();
    for (const auto& [name, g] : s->groups) {
      t.dead_letters += g->dead_letters;
      if (g->consumer_max_idle_ms <= 0) continue;
      const int64_t now = ConsumerGroup::wall_ms();
      for (const auto& [cname, c] : g->consumers) {
        if (g->consumer_stale(*c, now)) ++t.stale_consumers;
      }
    }
  }
  return t;
}

uint64_t StreamEngine::reap_idle_consumers(int64_t now_ms) {
  uint64_t reaped = 0;
  for (const auto& [n, s] : by_number_) {
    for (const auto& [gname, g] : s->groups) {
      if (g->consumer_max_idle_ms <= 0) continue;
      std::vector<std::string> idle;
      for (const auto& [cname, c] : g->consumers) {
        if (c->pending.empty() && g->consumer_stale(*c, now_ms)) idle.push_back(cname);
      }
      if (idle.empty()) continue;
      wire::Status st;
      auto store = group_store(*s, &st);
      if (!store) {
        spdlog::warn("streams: idle consumers of group '{}' kept: {}", gname, st.detail());
        continue;
      }
      for (const std::string& cname : idle) {
        g->delete_consumer(cname);
        st = store->consumer_delete(*g, cname);
        if (!st.is_ok()) {
          spdlog::warn("streams: deleting idle consumer '{}' failed: {}", cname, st.detail());
          break;
        }
        ++reaped;
        broker_.notify('t', "xgroup-delconsumer", s->key, s->db);
      }
      mark_dirty(*s);
    }
  }
  consumers_reaped_ += reaped;
  return reaped;
}

std::vector<StreamEngine::DeadLetterGroup> StreamEngine::dead_letter_groups() const {
  std::vector<DeadLetterGroup> out;
  for (const auto& [n, s] : by_number_) {
    for (const auto& [name, g] : s->groups) {
      if (g->has_dlq()) out.push_back({s->db, &s->key, g.get()});
    }
  }
  return out;
}

}  // namespace sluice::stream
