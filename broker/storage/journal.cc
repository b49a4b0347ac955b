// Journal: snapshot + append-only journal of framed records, replayed in order at open.
#include "broker/storage/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "broker/storage/atomic_file.h"
#include "broker/storage/open_files.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/record_frame.h"

namespace sluice::storage {
namespace {

constexpr size_t kFileHeaderBytes = 16;
constexpr uint32_t kFileVersion = 1;
constexpr char kSnapMagic[4] = {'S', 'L', 'S', 'N'};
constexpr char kJournalMagic[4] = {'S', 'L', 'J', 'N'};
constexpr size_t kMaxJournalRecordBytes = 512u * 1024 * 1024 + 4096;
constexpr size_t kKeptPendingCapacity = 16u << 20;

std::string file_header(const char (&magic)[4], uint64_t generation) {
  std::string out(magic, 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((kFileVersion >> (8 * i)) & 0xff));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((generation >> (8 * i)) & 0xff));
  return out;
}

// Parses a file header; false if the magic or version is wrong or the bytes are too short.
bool parse_header(std::string_view bytes, const char (&magic)[4], uint64_t* generation) {
  if (bytes.size() < kFileHeaderBytes || std::memcmp(bytes.data(), magic, 4) != 0) return false;
  uint64_t version = 0;
  uint64_t gen = 0;
  for (int i = 0; i < 4; ++i) version |= uint64_t{static_cast<uint8_t>(bytes[4 + i])} << (8 * i);
  for (int i = 0; i < 8; ++i) gen |= uint64_t{static_cast<uint8_t>(bytes[8 + i])} << (8 * i);
  if (version != kFileVersion) return false;
  *generation = gen;
  return true;
}

// True if some whole, valid frame starts at an 8-aligned offset in bytes[from, end).
bool valid_frame_after(std::string_view bytes, size_t from) {
  for (size_t off = from; off + kFrameHeaderBytes <= bytes.size(); off += 8) {
    FrameView frame;
    if (decode_frame(bytes.substr(off), kMaxJournalRecordBytes, &frame) == FrameStatus::kOk) {
      return true;
    }
  }
  return false;
}

// The generation in a retired journal's name (<name>.journal.<g>), or false if `file` is not one.
bool retired_generation(std::string_view file, std::string_view journal_name, uint64_t* gen) {
  if (file.size() <= journal_name.size() + 1 ||
      file.substr(0, journal_name.size()) != journal_name || file[journal_name.size()] != '.') {
    return false;
  }
  std::string_view digits = file.substr(journal_name.size() + 1);
  uint64_t g = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    g = g * 10 + static_cast<uint64_t>(c - '0');
  }
  *gen = g;
  return true;
}

}  // namespace

struct Journal::Impl {
  // A journal file retired by begin_snapshot(): its fd stays open until a sync covers end_pos.
  struct Retired {
    int fd;
    uint64_t begin_pos;  // logical position of its file offset 0
    uint64_t end_pos;    // logical position of its end
  };

  std::string dir;
  std::string name;
  std::string snap_path;
  std::string journal_path;
  int fd = -1;
  uint64_t generation = 0;           // of the live journal
  uint64_t snapshot_generation = 0;  // of the snapshot on disk (covers journals below it)
  std::vector<Retired> retired;
  int dir_fd = -1;                // open while the directory awaits a sync
  uint64_t dir_dirty_pos = 0;     // the sync covering this position also covers the directory
  uint64_t snapshot_pending = 0;  // generation of the background snapshot in progress (0: none)
  std::string pending;
  uint64_t file_bytes = 0;   // bytes in the journal file, header included
  uint64_t base = 0;         // logical position of file offset 0 (grows at each snapshot)
  uint64_t synced = 0;       // logical position known durable
  uint64_t round_start = 0;  // file size when the latest flush() began
  bool failed = false;
  bool destroyed = false;
  int batch_depth = 0;
  size_t batch_start = 0;    // offset of the open batch's marker in `pending`
  size_t batch_records = 0;  // records appended since
  // The live journal's descriptor in the storage descriptor budget (open_files.h): closed while
  // everything written is synced and no rotation or snapshot is under way, reopened on use.
  IdleFile idle{[this] { return close_if_idle(); }};

  uint64_t flushed_pos() const { return base + file_bytes; }

  bool close_if_idle() {
    if (fd < 0 || synced < flushed_pos() || !pending.empty() || !retired.empty() || dir_fd >= 0 ||
        snapshot_pending != 0 || failed || destroyed) {
      return false;
    }
    ::close(fd);
    fd = -1;
    idle.closed();
    return true;
  }
  // The live journal's descriptor, reopened if the budget closed it.
  Status ensure_fd() {
    if (fd >= 0) {
      idle.used();
      return Status::ok();
    }
    if (destroyed) return storage_failed();
    fd = ::open(journal_path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_error("reopen " + journal_path, errno);
    idle.opened();
    return Status::ok();
  }

  Status storage_failed() const {
    if (destroyed) return Status(wire::ErrorCode::kInvalidArgument, "journal was destroyed");
    return Status(wire::ErrorCode::kStorageFailed,
                  "journal " + journal_path + " refuses writes after an I/O error");
  }
  Status fail(const Status& cause) {
    if (!failed) storage_log().error("journal {} failed: {}", journal_path, cause.detail());
    failed = true;
    return Status(wire::ErrorCode::kStorageFailed, cause.detail());
  }

  // Empties the journal file down to a header of `gen` and makes that durable.
  Status reset_file(uint64_t gen) {
    Status opened = ensure_fd();
    if (!opened) return opened;
    if (::ftruncate(fd, 0) != 0) return io_error("truncate " + journal_path, errno);
    Status st = pwrite_all(fd, file_header(kJournalMagic, gen), 0, journal_path);
    if (st) st = datasync(fd, journal_path);
    if (!st) return st;
    base += file_bytes + kFileHeaderBytes;
    file_bytes = kFileHeaderBytes;
    synced = flushed_pos();
    round_start = file_bytes;  // what came before is in the snapshot, durable
    return Status::ok();
  }

  std::string retired_path(uint64_t gen) const { return journal_path + "." + std::to_string(gen); }

  // Writes pieces at the end of the file, one after the other; on failure cuts what was written
  // and fails the journal.
  Status write_at_end(std::initializer_list<std::string_view> pieces) {
    Status opened = ensure_fd();
    if (!opened) return fail(opened);
    uint64_t offset = file_bytes;
    for (std::string_view piece : pieces) {
      uint64_t written = 0;
      Status st = pwrite_all(fd, piece, offset, journal_path, &written);
      offset += written;
      if (!st) {
        if (offset > file_bytes && ::ftruncate(fd, static_cast<off_t>(file_bytes)) != 0) {
          storage_log().error("cannot cut a partial write off {}: {}", journal_path,
                              std::strerror(errno));
        }
        return fail(st);
      }
    }
    file_bytes = offset;
    return Status::ok();
  }

  // Closes the fds of retired journals a sync up to `pos` covered (and the directory's).
  void release_synced(uint64_t pos) {
    std::erase_if(retired, [pos](const Retired& r) {
      if (r.end_pos > pos) return false;
      ::close(r.fd);
      pin_descriptors(-1);
      return true;
    });
    if (dir_fd >= 0 && dir_dirty_pos <= pos) {
      ::close(dir_fd);
      dir_fd = -1;
      pin_descriptors(-1);
    }
  }

  // Removes retired journal files below `gen` (a snapshot of `gen` covers them).
  void unlink_retired_below(uint64_t gen) {
    for (uint64_t g : list_retired()) {
      if (g < gen) ::unlink(retired_path(g).c_str());
    }
  }

  std::vector<uint64_t> list_retired() const {
    std::vector<uint64_t> gens;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return gens;
    const std::string journal_file = name + ".journal";
    while (dirent* e = ::readdir(d)) {
      uint64_t g = 0;
      if (retired_generation(e->d_name, journal_file, &g)) gens.push_back(g);
    }
    ::closedir(d);
    std::sort(gens.begin(), gens.end());
    return gens;
  }

  Status replay_snapshot(const Replay& replay);
  Status replay_retired(const Replay& replay, uint64_t* truncated_bytes);
  Status replay_journal(const Replay& replay, uint64_t* truncated_bytes);
};

namespace {

// Replays the frames of journal bytes from after the header; returns where replay stopped (the
// end, or the start of a torn tail). kCorruption for a bad frame followed by valid ones.
wire::Result<size_t> replay_frames(std::string_view bytes, const std::string& path,
                                   const Journal::Replay& replay, FrameStatus* last_status) {
  size_t off = kFileHeaderBytes;
  while (off < bytes.size()) {
    FrameView frame;
    FrameStatus fs = decode_frame(bytes.substr(off), kMaxJournalRecordBytes, &frame);
    if (fs != FrameStatus::kOk) {
      if (fs != FrameStatus::kTruncated && valid_frame_after(bytes, off + 8)) {
        return Status(wire::ErrorCode::kCorruption,
                      "journal " + path + " corrupt at offset " + std::to_string(off) +
                          " (valid records follow); nothing was changed");
      }
      *last_status = fs;
      break;
    }
    if (frame.type == Journal::kBatchRecordType) {
      // A batch: replay it only if every one of its frames is there and valid.
      uint64_t len = 0;
      for (size_t i = 0; i < 8 && i < frame.payload.size(); ++i) {
        len |= uint64_t{static_cast<uint8_t>(frame.payload[i])} << (8 * i);
      }
      const size_t first = off + frame.total_bytes;
      if (frame.payload.size() != 8 || len > bytes.size() - first) break;  // cut by a crash
      const size_t end = first + static_cast<size_t>(len);
      size_t at = first;
      bool whole = true;
      while (at < end) {
        FrameView inner;
        FrameStatus is = decode_frame(bytes.substr(at, end - at), kMaxJournalRecordBytes, &inner);
        if (is != FrameStatus::kOk || inner.type == Journal::kBatchRecordType) {
          if (is != FrameStatus::kTruncated && valid_frame_after(bytes, end)) {
            return Status(wire::ErrorCode::kCorruption,
                          "journal " + path + " corrupt at offset " + std::to_string(at));
          }
          whole = false;
          break;
        }
        at += inner.total_bytes;
      }
      if (!whole) break;
      for (at = first; at < end;) {
        FrameView inner;
        decode_frame(bytes.substr(at, end - at), kMaxJournalRecordBytes, &inner);
        Status st = replay(inner.type, inner.payload, false);
        if (!st) return st;
        at += inner.total_bytes;
      }
      off = end;
      continue;
    }
    Status st = replay(frame.type, frame.payload, false);
    if (!st) return st;
    off += frame.total_bytes;
  }
  return off;
}

}  // namespace

Status Journal::Impl::replay_retired(const Replay& replay, uint64_t* truncated_bytes) {
  for (uint64_t g : list_retired()) {
    const std::string path = retired_path(g);
    if (g < snapshot_generation) {
      // Covered by the snapshot: the snapshot was renamed into place before this was removed.
      ::unlink(path.c_str());
      continue;
    }
    auto content = read_file(path);
    if (!content) return content.status();
    std::string_view bytes = *content;
    uint64_t file_gen = 0;
    if (!parse_header(bytes, kJournalMagic, &file_gen) || file_gen != g) {
      return Status(wire::ErrorCode::kCorruption, "journal " + path + " has a bad header");
    }
    FrameStatus last_status = FrameStatus::kOk;
    auto stop = replay_frames(bytes, path, replay, &last_status);
    if (!stop) return stop.status();
    if (*stop < bytes.size()) {
      // Its tail was not yet synced when the server stopped; what follows in newer journals
      // was appended later and is kept, as after any torn write.
      storage_log().warn("torn write at end of {} at offset {}: {} bytes ignored", path, *stop,
                         bytes.size() - *stop);
      *truncated_bytes += bytes.size() - *stop;
    }
    generation = std::max(generation, g + 1);
  }
  return Status::ok();
}

Status Journal::Impl::replay_snapshot(const Replay& replay) {
  auto snap = read_file(snap_path);
  if (!snap) return snap.code() == wire::ErrorCode::kNotFound ? Status::ok() : snap.status();
  std::string_view bytes = *snap;
  if (!parse_header(bytes, kSnapMagic, &generation)) {
    return Status(wire::ErrorCode::kCorruption, "snapshot " + snap_path + " has a bad header");
  }
  snapshot_generation = generation;
  for (size_t off = kFileHeaderBytes; off < bytes.size();) {
    FrameView frame;
    FrameStatus fs = decode_frame(bytes.substr(off), kMaxJournalRecordBytes, &frame);
    if (fs != FrameStatus::kOk) {
      return Status(wire::ErrorCode::kCorruption,
                    "snapshot " + snap_path + " corrupt at offset " + std::to_string(off));
    }
    Status st = replay(frame.type, frame.payload, true);
    if (!st) return st;
    off += frame.total_bytes;
  }
  return Status::ok();
}

Status Journal::Impl::replay_journal(const Replay& replay, uint64_t* truncated_bytes) {
  auto content = read_file(journal_path);
  if (!content) return content.status();
  std::string_view bytes = *content;
  file_bytes = bytes.size();
  uint64_t journal_gen = 0;
  if (bytes.size() < kFileHeaderBytes) {
    // New, or the header of a reset was torn: an empty journal of the current generation.
    if (!bytes.empty()) {
      storage_log().warn("torn header in {}: reset ({} bytes)", journal_path, bytes.size());
      *truncated_bytes += bytes.size();
    }
    file_bytes = 0;
    return reset_file(generation);
  }
  if (!parse_header(bytes, kJournalMagic, &journal_gen) ||
      (journal_gen > generation && journal_gen != snapshot_generation + 1)) {
    return Status(wire::ErrorCode::kCorruption, "journal " + journal_path + " has a bad header");
  }
  if (journal_gen < generation) {
    storage_log().info("journal {} predates snapshot {}: discarded", journal_path, snap_path);
    file_bytes = 0;
    return reset_file(generation);
  }
  // A crash right after begin_snapshot() leaves a live journal one generation past the snapshot
  // on disk (its retired predecessor was replayed above, or was empty).
  generation = journal_gen;
  FrameStatus last_status = FrameStatus::kOk;
  auto stop = replay_frames(bytes, journal_path, replay, &last_status);
  if (!stop) return stop.status();
  size_t off = *stop;
  if (off < bytes.size()) {
    const uint64_t cut = bytes.size() - off;
    const bool zero = std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(off), bytes.end(),
                                  [](char c) { return c == 0; });
    if (last_status == FrameStatus::kTruncated || zero) {
      storage_log().warn("torn write at end of {} at offset {}: truncated {} bytes", journal_path,
                         off, cut);
      count_torn_bytes(cut);
    } else {
      // A whole last record that does not verify: it may have been acknowledged, so its bytes
      // are kept aside before the cut.
      auto copy = quarantine_range(fd, journal_path, off, bytes.size());
      if (!copy) return copy.status();
      count_corrupt_range(1);
      storage_log().error(
          "corrupt last record in {} at offset {} ({} bytes): not replayed; bytes copied to {}",
          journal_path, off, cut, *copy);
    }
    *truncated_bytes += cut;
    if (::ftruncate(fd, static_cast<off_t>(off)) != 0) {
      return io_error("truncate " + journal_path, errno);
    }
    // A disk that cannot sync now (this may be a reload after a failed write) leaves the cut
    // to be made again by the next recovery: nothing after `off` is replayed either way.
    Status st = datasync(fd, journal_path);
    if (!st) storage_log().warn("cannot fdatasync {} after the cut: {}", journal_path, st.detail());
    file_bytes = off;
  }
  synced = flushed_pos();
  return Status::ok();
}

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Journal::~Journal() {
  if (impl_->fd >= 0) ::close(impl_->fd);
  for (const Impl::Retired& r : impl_->retired) ::close(r.fd);
  pin_descriptors(-static_cast<int>(impl_->retired.size()));
  if (impl_->dir_fd >= 0) {
    ::close(impl_->dir_fd);
    pin_descriptors(-1);
  }
}

wire::Result<std::unique_ptr<Journal>> Journal::open(std::string dir, std::string name,
                                                     const Replay& replay,
                                                     uint64_t* truncated_bytes) {
  uint64_t local_truncated = 0;
  if (truncated_bytes == nullptr) truncated_bytes = &local_truncated;
  *truncated_bytes = 0;
  Status st = make_dirs(dir);
  if (!st) return st;
  auto impl = std::make_unique<Impl>();
  impl->snap_path = dir + "/" + name + ".snap";
  impl->journal_path = dir + "/" + name + ".journal";
  impl->dir = std::move(dir);
  impl->name = std::move(name);
  ::unlink((impl->snap_path + ".tmp").c_str());
  st = impl->replay_snapshot(replay);
  if (!st) return st;
  st = impl->replay_retired(replay, truncated_bytes);
  if (!st) return st;
  struct stat info {};
  const bool existed = ::stat(impl->journal_path.c_str(), &info) == 0;
  impl->fd = ::open(impl->journal_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (impl->fd < 0) return io_error("open " + impl->journal_path, errno);
  std::unique_ptr<Journal> journal(new Journal(std::move(impl)));
  st = journal->impl_->replay_journal(replay, truncated_bytes);
  if (!st) return st;
  if (!existed) {
    st = sync_dir(journal->impl_->dir);
    if (!st) return st;
  }
  journal->impl_->idle.opened();
  return journal;
}

Status Journal::append(uint8_t type, std::string_view payload) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  if (type == 0 || payload.size() > kMaxJournalRecordBytes) {
    return Status(wire::ErrorCode::kInvalidArgument, "journal record of type 0 or too large");
  }
  append_frame(&impl_->pending, type, payload);
  if (impl_->batch_depth > 0) ++impl_->batch_records;
  return Status::ok();
}

namespace {
constexpr size_t kBatchMarkerBytes = frame_bytes(8);
}  // namespace

void Journal::begin_batch() {
  if (impl_->batch_depth++ > 0) return;
  impl_->batch_start = impl_->pending.size();
  impl_->batch_records = 0;
  impl_->pending.resize(impl_->batch_start + kBatchMarkerBytes);  // filled in by end_batch()
}

void Journal::end_batch() {
  if (impl_->batch_depth == 0 || --impl_->batch_depth > 0) return;
  std::string& p = impl_->pending;
  if (impl_->batch_records < 2) {
    p.erase(impl_->batch_start, kBatchMarkerBytes);
    return;
  }
  const uint64_t len = p.size() - impl_->batch_start - kBatchMarkerBytes;
  char payload[8];
  for (int i = 0; i < 8; ++i) payload[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  encode_frame(p.data() + impl_->batch_start, kBatchRecordType, std::string_view(payload, 8));
}

void Journal::abort_batch() {
  if (impl_->batch_depth == 0) return;
  impl_->batch_depth = 0;
  impl_->pending.resize(impl_->batch_start);
}

bool Journal::in_batch() const { return impl_->batch_depth > 0; }

Status Journal::flush() {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  impl_->round_start = impl_->file_bytes;
  // Nothing of an open batch is written: it goes out whole once it is closed.
  const size_t ready = impl_->batch_depth > 0 ? impl_->batch_start : impl_->pending.size();
  if (ready == 0) return Status::ok();
  std::string_view out(impl_->pending.data(), ready);
  uint64_t written = 0;
  Status st = impl_->ensure_fd();
  if (!st) return impl_->fail(st);
  st = pwrite_all(impl_->fd, out, impl_->file_bytes, impl_->journal_path, &written);
  if (!st) {
    if (written > 0 && ::ftruncate(impl_->fd, static_cast<off_t>(impl_->file_bytes)) != 0) {
      storage_log().error("cannot cut a partial write off {}: {}", impl_->journal_path,
                          std::strerror(errno));
    }
    return impl_->fail(st);
  }
  impl_->file_bytes += ready;
  if (ready == impl_->pending.size()) {
    impl_->pending.clear();
    // A burst of big records should not keep its buffer for good.
    if (impl_->pending.capacity() > kKeptPendingCapacity) std::string().swap(impl_->pending);
  } else {
    impl_->pending.erase(0, ready);
    impl_->batch_start = 0;
  }
  return Status::ok();
}

Status Journal::append_now(uint8_t type, std::string_view head, std::string_view body) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  const size_t n = head.size() + body.size();
  if (type == 0 || n > kMaxJournalRecordBytes) {
    return Status(wire::ErrorCode::kInvalidArgument, "journal record of type 0 or too large");
  }
  if (impl_->batch_depth > 0) {
    // Written with the rest of the batch, so that replay sees all of it or none.
    std::string payload;
    payload.reserve(n);
    payload.append(head).append(body);
    return append(type, payload);
  }
  Status st = flush();
  if (!st) return st;
  const auto header = frame_header(type, head, body);
  static constexpr char kZeros[8] = {};
  return impl_->write_at_end({std::string_view(header.data(), header.size()), head, body,
                              std::string_view(kZeros, padded_len(n) - n)});
}

bool Journal::has_unflushed() const { return !impl_->pending.empty(); }
bool Journal::needs_sync() const { return impl_->synced < impl_->flushed_pos(); }
int Journal::fd() const { return impl_->fd; }
uint64_t Journal::flushed_offset() const { return impl_->flushed_pos(); }

void Journal::sync_fds(std::vector<int>* fds) const {
  for (const Impl::Retired& r : impl_->retired) fds->push_back(r.fd);
  if (impl_->dir_fd >= 0) fds->push_back(impl_->dir_fd);
  if (impl_->fd >= 0) fds->push_back(impl_->fd);  // (closed only while all of it is synced)
}

void Journal::mark_synced(uint64_t offset) {
  impl_->synced = std::max(impl_->synced, std::min(offset, impl_->flushed_pos()));
  impl_->release_synced(impl_->synced);
}

void Journal::mark_sync_failed(const Status& cause) { impl_->fail(cause); }

Status Journal::sync() {
  Status st = flush();
  if (!st) return st;
  if (!needs_sync()) return Status::ok();
  const uint64_t pos = impl_->flushed_pos();
  std::vector<int> fds;
  sync_fds(&fds);
  for (int fd : fds) {
    st = datasync(fd, impl_->journal_path);
    if (!st) return impl_->fail(st);
  }
  mark_synced(pos);
  return Status::ok();
}

Status Journal::roll_back(CutTo cut) {
  Impl& j = *impl_;
  j.pending.clear();
  Status result;
  if (!j.destroyed && cut == CutTo::kSynced) {
    // Retired journals keep only what was synced too (a rotation happened since the last sync).
    for (const Impl::Retired& r : j.retired) {
      if (j.synced >= r.end_pos) continue;
      const uint64_t keep = std::max(j.synced, r.begin_pos) - r.begin_pos;
      if (keep >= kFileHeaderBytes && ::ftruncate(r.fd, static_cast<off_t>(keep)) != 0) {
        result = io_error("truncate a retired journal of " + j.journal_path, errno);
      }
    }
  }
  if (!j.destroyed && cut != CutTo::kNothing) {
    const uint64_t keep =
        cut == CutTo::kSynced
            ? std::max<uint64_t>(j.synced - std::min(j.synced, j.base), kFileHeaderBytes)
            : j.round_start;
    if (keep < j.file_bytes && keep >= kFileHeaderBytes) {
      Status opened = j.ensure_fd();
      if (!opened) {
        result = opened;
      } else if (::ftruncate(j.fd, static_cast<off_t>(keep)) != 0) {
        result = io_error("truncate " + j.journal_path, errno);
      } else {
        storage_log().info(
            "journal {}: cut back to {} bytes ({})", j.journal_path, keep,
            cut == CutTo::kSynced ? "its synced size" : "its size before the failed flush");
        j.file_bytes = keep;
      }
    }
  }
  j.failed = true;  // the owner reopens it from disk; this object writes nothing more
  return result;
}

uint64_t Journal::buffer_bytes() const { return impl_->pending.capacity(); }

uint64_t Journal::journal_bytes() const {
  return impl_->file_bytes - kFileHeaderBytes + impl_->pending.size();
}

Status Journal::write_snapshot(std::string_view frames) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  if (impl_->snapshot_pending != 0) {
    return Status(wire::ErrorCode::kInvalidArgument, "a background snapshot is in progress");
  }
  const uint64_t next_gen = impl_->generation + 1;
  std::string content = file_header(kSnapMagic, next_gen);
  content.append(frames);
  Status st = write_file_atomic(impl_->snap_path, content);
  if (!st) return impl_->fail(st);
  impl_->generation = next_gen;
  impl_->snapshot_generation = next_gen;
  impl_->pending.clear();
  st = impl_->reset_file(next_gen);
  if (!st) return impl_->fail(st);
  impl_->unlink_retired_below(next_gen);
  return Status::ok();
}

wire::Result<Journal::SnapshotTarget> Journal::begin_snapshot() {
  Impl& j = *impl_;
  if (j.failed || j.destroyed) return j.storage_failed();
  if (j.snapshot_pending != 0) {
    return Status(wire::ErrorCode::kInvalidArgument, "a background snapshot is in progress");
  }
  if (j.batch_depth > 0) {
    return Status(wire::ErrorCode::kInvalidArgument, "a batch is open");
  }
  Status st = flush();
  if (!st) return st;
  st = j.ensure_fd();
  if (!st) return st;
  const uint64_t next_gen = j.generation + 1;
  // The directory fd is opened first: nothing below may fail half way.
  if (j.dir_fd < 0) {
    j.dir_fd = ::open(j.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j.dir_fd < 0) return io_error("open " + j.dir, errno);
    pin_descriptors(1);
  }
  const std::string retired = j.retired_path(j.generation);
  if (::rename(j.journal_path.c_str(), retired.c_str()) != 0) {
    return j.fail(io_error("rename " + j.journal_path, errno));
  }
  const int fd = ::open(j.journal_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return j.fail(io_error("open " + j.journal_path, errno));
  st = pwrite_all(fd, file_header(kJournalMagic, next_gen), 0, j.journal_path);
  if (!st) {
    ::close(fd);
    return j.fail(st);
  }
  const uint64_t retired_end = j.flushed_pos();
  if (j.synced >= retired_end) {
    ::close(j.fd);
  } else {
    j.retired.push_back({j.fd, j.base, retired_end});
    pin_descriptors(1);
  }
  j.fd = fd;
  j.base = retired_end;
  j.file_bytes = kFileHeaderBytes;
  j.round_start = kFileHeaderBytes;
  j.dir_dirty_pos = j.flushed_pos();
  j.generation = next_gen;
  j.snapshot_pending = next_gen;
  return SnapshotTarget{j.snap_path + ".tmp", j.snap_path, j.dir, next_gen};
}

void Journal::finish_snapshot(const SnapshotTarget& target, bool written) {
  impl_->snapshot_pending = 0;
  if (!written) {
    // The retired journals stay and are replayed; the next snapshot covers them too.
    ::unlink(target.tmp_path.c_str());
    return;
  }
  impl_->snapshot_generation = target.generation;
  impl_->unlink_retired_below(target.generation);
}

bool Journal::snapshot_in_progress() const { return impl_->snapshot_pending != 0; }

std::string snapshot_file_header(uint64_t generation) {
  return file_header(kSnapMagic, generation);
}

Status Journal::destroy() {
  impl_->pending.clear();
  impl_->destroyed = true;  // nothing may be written to the removed files
  for (const std::string& path : {impl_->journal_path, impl_->snap_path}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink " + path, errno);
  }
  impl_->unlink_retired_below(UINT64_MAX);
  return sync_dir(impl_->dir);
}

bool Journal::failed() const { return impl_->failed; }

}  // namespace sluice::storage
