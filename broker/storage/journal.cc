// Journal: snapshot + append-only journal of framed records, replayed in order at open.
#include "broker/storage/journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "broker/storage/atomic_file.h"
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

}  // namespace

struct Journal::Impl {
  std::string dir;
  std::string snap_path;
  std::string journal_path;
  int fd = -1;
  uint64_t generation = 0;
  std::string pending;
  uint64_t file_bytes = 0;  // bytes in the journal file, header included
  uint64_t base = 0;        // logical position of file offset 0 (grows at each snapshot)
  uint64_t synced = 0;      // logical position known durable
  bool failed = false;
  bool destroyed = false;
  bool snapshot_begun = false;  // begin_snapshot() ... finish/abort
  uint64_t snapshot_from = 0;   // journal file offset at begin_snapshot()
  uint64_t snapshot_generation = 0;

  uint64_t flushed_pos() const { return base + file_bytes; }

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
    if (::ftruncate(fd, 0) != 0) return io_error("truncate " + journal_path, errno);
    Status st = pwrite_all(fd, file_header(kJournalMagic, gen), 0, journal_path);
    if (st) st = datasync(fd, journal_path);
    if (!st) return st;
    base += file_bytes + kFileHeaderBytes;
    file_bytes = kFileHeaderBytes;
    synced = flushed_pos();
    return Status::ok();
  }

  // Writes `pieces` back to back at the end of the journal file. On failure cuts off what was
  // written and fails the journal.
  Status write_at_end(std::initializer_list<std::string_view> pieces) {
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

  Status replay_snapshot(const Replay& replay);
  Status replay_journal(const Replay& replay, uint64_t* truncated_bytes);
};

Status Journal::Impl::replay_snapshot(const Replay& replay) {
  auto snap = read_file(snap_path);
  if (!snap) return snap.code() == wire::ErrorCode::kNotFound ? Status::ok() : snap.status();
  std::string_view bytes = *snap;
  if (!parse_header(bytes, kSnapMagic, &generation)) {
    return Status(wire::ErrorCode::kCorruption, "snapshot " + snap_path + " has a bad header");
  }
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
  if (!parse_header(bytes, kJournalMagic, &journal_gen) || journal_gen > generation) {
    return Status(wire::ErrorCode::kCorruption, "journal " + journal_path + " has a bad header");
  }
  if (journal_gen < generation) {
    storage_log().info("journal {} predates snapshot {}: discarded", journal_path, snap_path);
    file_bytes = 0;
    return reset_file(generation);
  }
  size_t off = kFileHeaderBytes;
  while (off < bytes.size()) {
    FrameView frame;
    FrameStatus fs = decode_frame(bytes.substr(off), kMaxJournalRecordBytes, &frame);
    if (fs != FrameStatus::kOk) {
      if (fs != FrameStatus::kTruncated && valid_frame_after(bytes, off + 8)) {
        return Status(wire::ErrorCode::kCorruption,
                      "journal " + journal_path + " corrupt at offset " + std::to_string(off));
      }
      break;
    }
    Status st = replay(frame.type, frame.payload, false);
    if (!st) return st;
    off += frame.total_bytes;
  }
  if (off < bytes.size()) {
    const uint64_t cut = bytes.size() - off;
    storage_log().warn("torn write at end of {} at offset {}: truncated {} bytes", journal_path,
                       off, cut);
    *truncated_bytes += cut;
    if (::ftruncate(fd, static_cast<off_t>(off)) != 0) {
      return io_error("truncate " + journal_path, errno);
    }
    Status st = datasync(fd, journal_path);
    if (!st) return st;
    file_bytes = off;
  }
  synced = flushed_pos();
  return Status::ok();
}

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Journal::~Journal() {
  if (impl_->fd >= 0) ::close(impl_->fd);
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
  ::unlink((impl->snap_path + ".tmp").c_str());
  st = impl->replay_snapshot(replay);
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
  return journal;
}

Status Journal::append(uint8_t type, std::string_view payload) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  if (type == 0 || payload.size() > kMaxJournalRecordBytes) {
    return Status(wire::ErrorCode::kInvalidArgument, "journal record of type 0 or too large");
  }
  append_frame(&impl_->pending, type, payload);
  return Status::ok();
}

Status Journal::flush() {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  if (impl_->pending.empty()) return Status::ok();
  uint64_t written = 0;
  Status st =
      pwrite_all(impl_->fd, impl_->pending, impl_->file_bytes, impl_->journal_path, &written);
  if (!st) {
    if (written > 0 && ::ftruncate(impl_->fd, static_cast<off_t>(impl_->file_bytes)) != 0) {
      storage_log().error("cannot cut a partial write off {}: {}", impl_->journal_path,
                          std::strerror(errno));
    }
    return impl_->fail(st);
  }
  impl_->file_bytes += impl_->pending.size();
  impl_->pending.clear();
  // A burst of big records should not keep its buffer for good.
  if (impl_->pending.capacity() > kKeptPendingCapacity) std::string().swap(impl_->pending);
  return Status::ok();
}

Status Journal::append_now(uint8_t type, std::string_view head, std::string_view body) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  const size_t n = head.size() + body.size();
  if (type == 0 || n > kMaxJournalRecordBytes) {
    return Status(wire::ErrorCode::kInvalidArgument, "journal record of type 0 or too large");
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

void Journal::mark_synced(uint64_t offset) {
  impl_->synced = std::max(impl_->synced, std::min(offset, impl_->flushed_pos()));
}

void Journal::mark_sync_failed(const Status& cause) { impl_->fail(cause); }

Status Journal::sync() {
  Status st = flush();
  if (!st) return st;
  if (!needs_sync()) return Status::ok();
  const uint64_t pos = impl_->flushed_pos();
  st = datasync(impl_->fd, impl_->journal_path);
  if (!st) return impl_->fail(st);
  mark_synced(pos);
  return Status::ok();
}

uint64_t Journal::journal_bytes() const {
  return impl_->file_bytes - kFileHeaderBytes + impl_->pending.size();
}

Status Journal::write_snapshot(std::string_view frames) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  abort_snapshot();
  const uint64_t next_gen = impl_->generation + 1;
  std::string content = file_header(kSnapMagic, next_gen);
  content.append(frames);
  Status st = write_file_atomic(impl_->snap_path, content);
  if (!st) return impl_->fail(st);
  impl_->generation = next_gen;
  impl_->pending.clear();
  st = impl_->reset_file(next_gen);
  if (!st) return impl_->fail(st);
  return Status::ok();
}

wire::Result<Journal::SnapshotTarget> Journal::begin_snapshot() {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
  if (impl_->snapshot_begun) {
    return Status(wire::ErrorCode::kInvalidArgument, "a snapshot is already being written");
  }
  Status st = flush();
  if (!st) return st;
  impl_->snapshot_begun = true;
  impl_->snapshot_from = impl_->file_bytes;
  impl_->snapshot_generation = impl_->generation + 1;
  return SnapshotTarget{impl_->snap_path + ".tmp",
                        file_header(kSnapMagic, impl_->snapshot_generation)};
}

bool Journal::snapshot_in_progress() const { return impl_->snapshot_begun; }

void Journal::abort_snapshot() {
  if (!impl_->snapshot_begun) return;
  impl_->snapshot_begun = false;
  ::unlink((impl_->snap_path + ".tmp").c_str());
}

wire::Result<uint64_t> Journal::finish_snapshot() {
  if (!impl_->snapshot_begun) {
    return Status(wire::ErrorCode::kInvalidArgument, "no snapshot is being written");
  }
  Status st = flush();
  if (!st) {
    abort_snapshot();
    return st;
  }
  const std::string tmp = impl_->snap_path + ".tmp";
  uint64_t snapshot_bytes = 0;
  // The records appended since begin_snapshot() follow the writer's frames in the new snapshot.
  auto copy_tail = [&]() -> Status {
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CLOEXEC);
    if (out < 0) return io_error("open " + tmp, errno);
    struct stat info {};
    Status result = ::fstat(out, &info) == 0 ? Status::ok() : io_error("stat " + tmp, errno);
    uint64_t to = static_cast<uint64_t>(info.st_size);
    const uint64_t total = to + (impl_->file_bytes - impl_->snapshot_from);
    std::string chunk;
    for (uint64_t from = impl_->snapshot_from; result && from < impl_->file_bytes;) {
      chunk.resize(std::min<uint64_t>(impl_->file_bytes - from, 1u << 20));
      size_t got = 0;
      result = pread_full(impl_->fd, chunk.data(), chunk.size(), from, &got, impl_->journal_path);
      if (result && got != chunk.size()) {
        result = Status(wire::ErrorCode::kIo, "short read of " + impl_->journal_path);
      }
      if (result) result = pwrite_all(out, chunk, to, tmp);
      from += chunk.size();
      to += chunk.size();
    }
    if (result) result = datasync(out, tmp);
    if (::close(out) != 0 && result) result = io_error("close " + tmp, errno);
    if (result && ::rename(tmp.c_str(), impl_->snap_path.c_str()) != 0) {
      result = io_error("rename " + tmp, errno);
    }
    snapshot_bytes = total;
    return result;
  };
  st = copy_tail();
  if (!st) {
    abort_snapshot();
    return st;
  }
  impl_->snapshot_begun = false;
  impl_->generation = impl_->snapshot_generation;
  // From here the new snapshot is in place: a journal that cannot be reset would be replayed
  // onto it twice, or discarded with appends the snapshot does not hold, so failing is final.
  st = sync_dir(impl_->dir);
  if (st) st = impl_->reset_file(impl_->generation);
  if (!st) return impl_->fail(st);
  return snapshot_bytes;
}

Status Journal::destroy() {
  abort_snapshot();
  impl_->pending.clear();
  impl_->destroyed = true;  // nothing may be written to the removed files
  for (const std::string& path : {impl_->journal_path, impl_->snap_path}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink " + path, errno);
  }
  return sync_dir(impl_->dir);
}

bool Journal::failed() const { return impl_->failed; }

}  // namespace sluice::storage
