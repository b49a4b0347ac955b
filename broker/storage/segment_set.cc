// SegmentSet write side: append into memory, one write per segment on flush, sync bookkeeping,
// asynchronous sealing and whole-segment removal.
#include "broker/storage/segment_set.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "broker/storage/atomic_file.h"
#include "broker/storage/compressed_segment.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "wire/check.h"

namespace sluice::storage {
namespace {

uint32_t frame_payload_len(const char* frame) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(frame[4 + i])} << (8 * i);
  return v;
}

}  // namespace

Status SegmentSet::storage_failed() const {
  return Status(wire::ErrorCode::kStorageFailed,
                "log " + dir + " refuses writes after an I/O error");
}

Status SegmentSet::fail(const Status& cause) {
  if (!failed) storage_log().error("log {} failed, refusing writes: {}", dir, cause.detail());
  failed = true;
  return Status(wire::ErrorCode::kStorageFailed, cause.detail());
}

Segment* SegmentSet::active() {
  if (segments.empty() || segments.back()->state != SegmentState::kActive) return nullptr;
  return segments.back().get();
}

Status SegmentSet::append(StreamId key, uint8_t type, std::string_view payload) {
  if (failed) return storage_failed();
  if (any_key && key <= last_key) {
    return Status(wire::ErrorCode::kInvalidArgument,
                  "log key " + key_text(key) + " is not above " + key_text(last_key));
  }
  if (type == 0 || payload.size() > options.max_record_bytes) {
    return Status(wire::ErrorCode::kInvalidArgument, "record of type 0 or over max_record_bytes");
  }
  Segment* seg = active();
  if (seg != nullptr && seg->end() >= options.segment_bytes) {
    seg->state = SegmentState::kSealing;
    seg = nullptr;
  }
  if (seg == nullptr) {
    auto fresh = std::make_unique<Segment>();
    fresh->serial = next_serial++;
    fresh->base_key = key;
    fresh->path = segment_path(dir, key);
    fresh->index = SparseIndex(options.index_interval_bytes);
    seg = fresh.get();
    segments.push_back(std::move(fresh));
  }
  const uint64_t pos = seg->end();
  if (seg->buf.empty()) seg->buf_first_key = key;
  append_frame(&seg->buf, type, payload);
  seg->index.on_frame(key, pos);
  seg->last_key = key;
  ++seg->records;
  last_key = key;
  any_key = true;
  if (seg->end() >= options.segment_bytes) seg->state = SegmentState::kSealing;
  return Status::ok();
}

Status SegmentSet::reopen_for_write(Segment& seg) {
  if (seg.file) return Status::ok();
  if (!seg.on_disk) return io_error("reopen " + seg.path, ENOENT);
  int fd = ::open(seg.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return io_error("reopen " + seg.path, errno);
  seg.attach(std::make_shared<FileHandle>(fd));
  return Status::ok();
}

Status SegmentSet::open_for_write(Segment& seg) {
  if (seg.file || seg.on_disk) return reopen_for_write(seg);
  // The directory's descriptor for the sync that makes the new entry durable is opened now,
  // not at the sync: it counts in the descriptor budget from here on (open_files.h).
  if (!dir_handle) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return io_error("open directory " + dir, errno);
    dir_handle = FileHandle::pinned_directory(dfd);
  }
  int fd = ::open(seg.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("create " + seg.path, errno);
  seg.attach(std::make_shared<FileHandle>(fd));
  ++dir_changes;
  return Status::ok();
}

Status SegmentSet::flush_segment(Segment& seg) {
  Status opened = open_for_write(seg);
  if (!opened) return fail(opened);
  seg.idle.used();
  std::string_view unflushed(seg.buf.data() + (seg.flushed - seg.buf_start),
                             seg.end() - seg.flushed);
  uint64_t written = 0;
  Status st = pwrite_all(seg.file->fd(), unflushed, seg.flushed, seg.path, &written);
  if (!st) {
    // Bytes of a failed write are not data: cut them off so a restart sees the last good size.
    if (written > 0 && ::ftruncate(seg.file->fd(), static_cast<off_t>(seg.flushed)) != 0) {
      storage_log().error("cannot cut a partial write off {} at {}: {}", seg.path, seg.flushed,
                          std::strerror(errno));
    }
    return fail(st);
  }
  seg.flushed = seg.end();
  if (seg.state == SegmentState::kSealing) {
    seg.buf_start = seg.flushed;
    std::string().swap(seg.buf);
    seg.index.shrink();
  } else {
    trim_cache(seg);
  }
  return Status::ok();
}

Status SegmentSet::flush() {
  if (failed) return storage_failed();
  // The first segment with unflushed bytes (those after it have nothing on disk yet).
  round_serial = next_serial;
  round_offset = 0;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    const Segment& seg = **it;
    if (seg.state != SegmentState::kSealed && seg.flushed < seg.end()) {
      round_serial = seg.serial;
      round_offset = seg.flushed;
    }
  }
  for (auto& seg : segments) {
    if (seg->state == SegmentState::kSealed || seg->flushed == seg->end()) continue;
    Status st = flush_segment(*seg);
    if (!st) return st;
  }
  finish_ready_seals();
  poll_compressions();
  return Status::ok();
}

// Keeps the tail cache within tail_cache_bytes: once the buffer passes the budget, the oldest
// flushed frames are dropped down to half of it, so each byte is moved at most once.
void SegmentSet::trim_cache(Segment& seg) {
  if (seg.buf.size() <= options.tail_cache_bytes) return;
  const uint64_t keep = options.tail_cache_bytes / 2;
  uint64_t cut = seg.buf_start;
  while (cut < seg.flushed && seg.end() - cut > keep) {
    cut += frame_bytes(frame_payload_len(seg.buf.data() + (cut - seg.buf_start)));
  }
  if (cut == seg.buf_start) return;
  seg.buf.erase(0, cut - seg.buf_start);
  seg.buf_start = cut;
  // A burst of appends between flushes may have grown the buffer far past the budget.
  if (seg.buf.capacity() > 2 * options.tail_cache_bytes + seg.buf.size()) seg.buf.shrink_to_fit();
  if (seg.buf.empty()) return;
  FrameView frame;
  bool ok = decode_frame(seg.buf, options.max_record_bytes, &frame) == FrameStatus::kOk &&
            key_of(frame.payload, &seg.buf_first_key);
  SLUICE_CHECK(ok, "tail cache of %s starts with an unreadable frame", seg.path.c_str());
}

void SegmentSet::finish_ready_seals() {
  for (auto& seg : segments) {
    if (seg->state != SegmentState::kSealing || seg->flushed != seg->end() ||
        seg->synced < seg->flushed) {
      continue;
    }
    SegmentSummary summary{seg->flushed, seg->base_key, seg->last_key, seg->records};
    Status st = write_file_replace(seg->index_path(), encode_index_file(summary, seg->index));
    if (!st) storage_log().warn("cannot write the index of {}: {}", seg->path, st.detail());
    seg->state = SegmentState::kSealed;
    schedule_compression(*seg);
  }
}

SegmentSet::~SegmentSet() {
  for (auto& seg : segments) cancel_compression(*seg);
}

void SegmentSet::schedule_compression(Segment& seg) {
  if (!options.compress_sealed || failed || seg.state != SegmentState::kSealed ||
      seg.compressed_bytes != 0 || seg.compress_job || !seg.damaged.empty() || seg.flushed == 0) {
    return;
  }
  auto job = std::make_shared<CompressJob>();
  job->path = seg.path;
  job->logical_size = seg.flushed;
  job->level = options.compression_level;
  job->block_bytes = options.compression_block_bytes;
  job->max_record_bytes = options.max_record_bytes;
  seg.compress_job = job;
  submit_compress_job(std::move(job));
}

void SegmentSet::cancel_compression(Segment& seg) {
  if (!seg.compress_job) return;
  std::lock_guard lock(seg.compress_job->mu);
  seg.compress_job->cancelled = true;
}

void SegmentSet::poll_compressions() const {
  for (auto& seg : segments) {
    if (!seg->compress_job || !seg->compress_job->done.load(std::memory_order_acquire)) continue;
    if (seg->compress_job->replaced) {
      seg->compressed_bytes = seg->compress_job->file_size;
      // The raw file is gone from the directory; its descriptor goes once nothing reads it (a
      // pending sync or read-ahead may hold it), and reads open the compressed file.
      if (seg->file && seg->file->layout() == nullptr) seg->detach();
    }
    seg->compress_job.reset();
  }
}

SegmentSet::SyncTargets SegmentSet::sync_targets() {
  SyncTargets targets;
  if (failed) return targets;
  std::vector<std::shared_ptr<FileHandle>> held;
  PendingSync pending;
  for (auto& seg : segments) {
    if (seg->state == SegmentState::kSealed || !seg->file || seg->synced >= seg->flushed) continue;
    targets.fds.push_back(seg->file->fd());
    held.push_back(seg->file);
    pending.sizes.emplace_back(seg->serial, seg->flushed);
  }
  if (dir_changes > dir_synced) {
    if (!dir_handle) {
      int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        fail(io_error("open directory " + dir, errno));
        return SyncTargets{};
      }
      dir_handle = FileHandle::pinned_directory(fd);
    }
    targets.fds.push_back(dir_handle->fd());
    held.push_back(dir_handle);
  }
  if (targets.fds.empty()) return targets;  // token 0: nothing to sync, nothing to mark
  pending.dir_changes = dir_changes;
  pending.token = next_token++;
  targets.token = pending.token;
  targets.hold = std::make_shared<std::vector<std::shared_ptr<FileHandle>>>(std::move(held));
  pending.held = targets.hold;
  pending_syncs.push_back(std::move(pending));
  return targets;
}

void SegmentSet::mark_synced(uint64_t token) {
  while (!pending_syncs.empty() && pending_syncs.front().token <= token) {
    const PendingSync& done = pending_syncs.front();
    for (auto [serial, size] : done.sizes) {
      for (auto& seg : segments) {
        if (seg->serial == serial) seg->synced = std::max(seg->synced, size);
      }
    }
    dir_synced = std::max(dir_synced, done.dir_changes);
    pending_syncs.pop_front();
  }
  // The directory descriptor is opened again for the next creation or unlink (pending syncs
  // hold theirs): a stream between segment changes keeps none.
  if (dir_synced >= dir_changes) dir_handle.reset();
  finish_ready_seals();
  poll_compressions();
}

void SegmentSet::mark_sync_failed(uint64_t token, const Status& cause) {
  while (!pending_syncs.empty() && pending_syncs.front().token <= token) pending_syncs.pop_front();
  fail(cause);
}

Status SegmentSet::sync() {
  Status st = flush();
  if (!st) return st;
  SyncTargets targets = sync_targets();
  if (failed) return storage_failed();
  for (int fd : targets.fds) {
    st = datasync(fd, dir);
    if (!st) {
      mark_sync_failed(targets.token, st);
      return storage_failed();
    }
  }
  mark_synced(targets.token);
  return Status::ok();
}

bool SegmentSet::needs_sync() const {
  if (dir_changes > dir_synced) return true;
  return std::any_of(segments.begin(), segments.end(), [](const auto& seg) {
    return seg->state != SegmentState::kSealed && seg->file && seg->synced < seg->flushed;
  });
}

void SegmentSet::unlink_segment(Segment& seg) {
  cancel_compression(seg);
  if (::unlink(seg.path.c_str()) == 0) {
    ++dir_changes;
  } else if (errno != ENOENT) {
    storage_log().error("cannot remove {}: {}", seg.path, std::strerror(errno));
  }
  if (::unlink(seg.index_path().c_str()) == 0) ++dir_changes;
}

void SegmentSet::drop_before(StreamId key) {
  size_t n = 0;
  while (n < segments.size() && segments[n]->last_key < key) unlink_segment(*segments[n++]);
  segments.erase(segments.begin(), segments.begin() + static_cast<std::ptrdiff_t>(n));
}

Status SegmentSet::roll_back(CutTo cut) {
  Status result;
  bool unlinked = false;
  for (const auto& seg : segments) {
    if (cut == CutTo::kNothing) break;
    if (seg->state == SegmentState::kSealed || !seg->on_disk) continue;  // sealed: all synced
    uint64_t keep = seg->synced;
    if (cut == CutTo::kBeforeLastFlush) {
      if (seg->serial < round_serial) continue;
      keep = seg->serial == round_serial ? round_offset : 0;
    }
    if (keep >= seg->flushed) continue;
    Status opened = keep == 0 ? Status::ok() : open_for_write(*seg);
    if (!opened) {
      result = opened;
    } else if (keep == 0) {
      if (::unlink(seg->path.c_str()) != 0 && errno != ENOENT) {
        result = io_error("unlink " + seg->path, errno);
      }
      unlinked = true;
    } else if (::ftruncate(seg->file->fd(), static_cast<off_t>(keep)) != 0) {
      result = io_error("truncate " + seg->path, errno);
    }
    if (result) {
      storage_log().info(
          "log {}: cut {} back to {} bytes ({})", dir, seg->path, keep,
          cut == CutTo::kSynced ? "its synced size" : "its size before the failed flush");
    }
  }
  if (unlinked) {
    Status st = sync_dir(dir);
    if (result) result = st;
  }
  failed = true;  // the owner reopens the log from disk; this object writes nothing more
  return result;
}

Status SegmentSet::remove_all() {
  for (const auto& seg : segments) unlink_segment(*seg);
  segments.clear();
  Status st = sync_dir(dir);
  if (st) dir_synced = dir_changes;
  return st;
}

}  // namespace sluice::storage
