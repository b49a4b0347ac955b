// Journal: snapshot + append-only journal of framed records, replayed in order at open.
#include "broker/storage/journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "broker/storage/atomic_file.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/record_frame.h"

namespace sluice::storage {
namespace {

constexpr size_t kFileHeaderBytes = 16;
constexpr uint32_t kFileVersion = 1;
constexpr char kSnapMagic[4] = {'S', 'L', 'S', 'N'};
constexpr char kJournalMagic[4] = {'S', 'L', 'J', 'N'};
constexpr size_t kMaxJournalRecordBytes = 512u * 1024 * 1024 + 4096;

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
  uint64_t file_bytes = 0;   // bytes in the journal file, header included
  uint64_t base = 0;         // logical position of file offset 0 (grows at each snapshot)
  uint64_t synced = 0;       // logical position known durable
  uint64_t round_start = 0;  // file size when the latest flush() began
  bool failed = false;
  bool destroyed = false;

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
    round_start = file_bytes;  // what came before is in the snapshot, durable
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
  FrameStatus last_status = FrameStatus::kOk;
  while (off < bytes.size()) {
    FrameView frame;
    FrameStatus fs = decode_frame(bytes.substr(off), kMaxJournalRecordBytes, &frame);
    if (fs != FrameStatus::kOk) {
      if (fs != FrameStatus::kTruncated && valid_frame_after(bytes, off + 8)) {
        return Status(wire::ErrorCode::kCorruption,
                      "journal " + journal_path + " corrupt at offset " + std::to_string(off) +
                          " (valid records follow); nothing was changed");
      }
      last_status = fs;
      break;
    }
    Status st = replay(frame.type, frame.payload, false);
    if (!st) return st;
    off += frame.total_bytes;
  }
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
  impl_->round_start = impl_->file_bytes;
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
  return Status::ok();
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

Status Journal::roll_back(CutTo cut) {
  Impl& j = *impl_;
  j.pending.clear();
  Status result;
  if (!j.destroyed && cut != CutTo::kNothing) {
    const uint64_t keep =
        cut == CutTo::kSynced ? j.synced - std::min(j.synced, j.base) : j.round_start;
    if (keep < j.file_bytes && keep >= kFileHeaderBytes) {
      if (::ftruncate(j.fd, static_cast<off_t>(keep)) != 0) {
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

uint64_t Journal::journal_bytes() const {
  return impl_->file_bytes - kFileHeaderBytes + impl_->pending.size();
}

Status Journal::write_snapshot(std::string_view frames) {
  if (impl_->failed || impl_->destroyed) return impl_->storage_failed();
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

Status Journal::destroy() {
  impl_->pending.clear();
  impl_->destroyed = true;  // nothing may be written to the removed files
  for (const std::string& path : {impl_->journal_path, impl_->snap_path}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink " + path, errno);
  }
  return sync_dir(impl_->dir);
}

bool Journal::failed() const { return impl_->failed; }

}  // namespace sluice::storage
