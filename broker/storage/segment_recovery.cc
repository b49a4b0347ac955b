// Directory recovery for SegmentedLog: load sidecars, scan what is not trusted, cut the tail.
#include "broker/storage/segment_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/segment_reader.h"

namespace sluice::storage {
namespace {

constexpr size_t kRecoveryReadBlock = 1024 * 1024;

struct Candidate {
  StreamId key;
  std::string path;
  uint64_t size = 0;
  bool trusted = false;  // its .idx verifies
  SegmentSummary summary;
  SparseIndex index;
};

struct ScanResult {
  uint64_t good_bytes = 0;  // end of the last good frame
  uint64_t records = 0;
  StreamId last_key;
  bool clean = true;  // every byte belongs to a good frame
  bool torn = false;  // the bad part is a frame cut short at EOF, or zeros up to EOF
  std::string why;
  std::optional<uint64_t> tail_start;  // first frame inside the last tail_cache_bytes
  StreamId tail_key;
  SparseIndex index;
};

const char* frame_problem(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kTruncated:
      return "frame cut short at end of file";
    case FrameStatus::kBadCrc:
      return "checksum mismatch";
    case FrameStatus::kBadHeader:
      return "bad frame header";
  }
  return "unknown";
}

Status all_zero(int fd, uint64_t from, uint64_t to, const std::string& path, bool* zero) {
  std::string block(kRecoveryReadBlock, '\0');
  *zero = true;
  for (uint64_t pos = from; pos < to;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(block.size(), to - pos));
    size_t got = 0;
    Status st = pread_full(fd, block.data(), n, pos, &got, path);
    if (!st) return st;
    if (got == 0) break;
    if (std::any_of(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(got),
                    [](char c) { return c != 0; })) {
      *zero = false;
      return Status::ok();
    }
    pos += got;
  }
  return Status::ok();
}

Status scan_segment(int fd, const Candidate& c, const std::optional<StreamId>& prev_last,
                    const LogOptions& options, const KeyOfFn& key_of, ScanResult* out) {
  SegmentBytes src{fd, c.size, {}, &c.path};
  FrameCursor cursor(src, 0, c.size, options.max_record_bytes, kRecoveryReadBlock,
                     kRecoveryReadBlock);
  const uint64_t tail_from =
      c.size > options.tail_cache_bytes ? c.size - options.tail_cache_bytes : 0;
  out->index = SparseIndex(options.index_interval_bytes);
  FrameView frame;
  for (;;) {
    FrameCursor::Step step = cursor.next(&frame);
    if (step == FrameCursor::Step::kEnd) return Status::ok();
    if (step == FrameCursor::Step::kIoError) return cursor.io_status();
    if (step == FrameCursor::Step::kBad) {
      out->why = frame_problem(cursor.bad_status());
      out->torn = cursor.bad_status() == FrameStatus::kTruncated;
      break;
    }
    StreamId key;
    const char* problem = nullptr;
    if (!key_of(frame.payload, &key)) {
      problem = "record without a valid key";
    } else if (out->records == 0 && key != c.key) {
      problem = "first key does not match the file name";
    } else if (out->records == 0 && prev_last && key <= *prev_last) {
      problem = "keys out of order across segments";
    } else if (out->records > 0 && key <= out->last_key) {
      problem = "keys out of order";
    }
    if (problem != nullptr) {
      out->why = problem;
      break;
    }
    out->index.on_frame(key, cursor.offset());
    if (!out->tail_start && cursor.offset() >= tail_from) {
      out->tail_start = cursor.offset();
      out->tail_key = key;
    }
    ++out->records;
    out->last_key = key;
    out->good_bytes = cursor.offset() + frame.total_bytes;
  }
  out->clean = false;
  if (out->tail_start && *out->tail_start >= out->good_bytes) out->tail_start.reset();
  if (!out->torn) {
    bool zero = false;
    Status st = all_zero(fd, out->good_bytes, c.size, c.path, &zero);
    if (!st) return st;
    out->torn = zero;
  }
  return Status::ok();
}

void remove_segment_files(const std::string& log_path, const std::string& idx_path) {
  if (::unlink(log_path.c_str()) != 0 && errno != ENOENT) {
    storage_log().error("cannot remove {}: {}", log_path, std::strerror(errno));
  }
  ::unlink(idx_path.c_str());
}

std::string idx_path_of(const std::string& log_path) {
  return log_path.substr(0, log_path.size() - 4) + ".idx";
}

Status list_candidates(const std::string& dir, std::vector<Candidate>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return io_error("opendir " + dir, errno);
  while (dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    std::string path = dir + "/" + std::string(name);
    if (name.ends_with(".tmp")) {
      ::unlink(path.c_str());  // an interrupted sidecar write
      continue;
    }
    if (auto key = parse_segment_name(name)) {
      Candidate c;
      c.key = *key;
      c.path = std::move(path);
      out->push_back(std::move(c));
    }
  }
  ::closedir(d);
  std::sort(out->begin(), out->end(),
            [](const Candidate& a, const Candidate& b) { return a.key < b.key; });
  std::vector<Candidate> kept;
  for (Candidate& c : *out) {
    struct stat st {};
    if (::stat(c.path.c_str(), &st) != 0) return io_error("stat " + c.path, errno);
    c.size = static_cast<uint64_t>(st.st_size);
    if (c.size == 0) {  // created, never written: nothing to recover
      remove_segment_files(c.path, idx_path_of(c.path));
      continue;
    }
    auto idx = read_file(idx_path_of(c.path));
    if (idx && decode_index_file(*idx, &c.summary, &c.index)) {
      c.trusted = c.summary.file_bytes == c.size && c.summary.first_key == c.key;
    }
    kept.push_back(std::move(c));
  }
  *out = std::move(kept);
  return Status::ok();
}

std::unique_ptr<Segment> trusted_segment(Candidate& c, uint64_t serial) {
  auto seg = std::make_unique<Segment>();
  seg->serial = serial;
  seg->base_key = c.key;
  seg->last_key = c.summary.last_key;
  seg->path = c.path;
  seg->state = SegmentState::kSealed;
  seg->flushed = seg->synced = seg->buf_start = c.size;
  seg->records = c.summary.records;
  seg->index = std::move(c.index);
  return seg;
}

}  // namespace

wire::Result<RecoveredSegments> recover_segments(const std::string& dir, const LogOptions& options,
                                                 const KeyOfFn& key_of, RecoveryReport* report) {
  Status st = make_dirs(dir);
  if (!st) return st;
  std::vector<Candidate> candidates;
  st = list_candidates(dir, &candidates);
  if (!st) return st;

  // Everything before the last trusted segment was sealed once, so it must be intact.
  size_t sealed_region = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].trusted) sealed_region = i + 1;
  }

  RecoveredSegments out;
  std::optional<StreamId> prev_last;
  uint64_t serial = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    const bool last = i + 1 == candidates.size();
    if (c.trusted && (!prev_last || c.key > *prev_last)) {
      out.segments.push_back(trusted_segment(c, ++serial));
      prev_last = c.summary.last_key;
      continue;
    }
    int fd = ::open(c.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_error("open " + c.path, errno);
    auto file = std::make_shared<FileHandle>(fd);
    ScanResult scan;
    if (!c.trusted) {
      st = scan_segment(fd, c, prev_last, options, key_of, &scan);
      if (!st) return st;
    } else {
      scan.clean = false;
      scan.why = "keys out of order across segments";
    }

    if (scan.clean) {
      auto seg = std::make_unique<Segment>();
      seg->serial = ++serial;
      seg->base_key = c.key;
      seg->last_key = scan.last_key;
      seg->path = c.path;
      seg->flushed = seg->synced = seg->buf_start = c.size;
      seg->records = scan.records;
      seg->index = std::move(scan.index);
      seg->file = file;
      st = datasync(fd, c.path);
      if (!st) return st;
      if (last) {
        ::unlink(seg->index_path().c_str());
        if (scan.tail_start) {
          seg->buf_start = *scan.tail_start;
          seg->buf_first_key = scan.tail_key;
          seg->buf.resize(c.size - seg->buf_start);
          size_t got = 0;
          st = pread_full(fd, seg->buf.data(), seg->buf.size(), seg->buf_start, &got, c.path);
          if (!st) return st;
          if (got != seg->buf.size()) return io_error("short read of " + c.path, EIO);
        }
      } else {
        seg->state = SegmentState::kSealed;
        SegmentSummary summary{c.size, seg->base_key, seg->last_key, seg->records};
        st = write_file_replace(seg->index_path(), encode_index_file(summary, seg->index));
        if (!st) return st;
        ++report->rebuilt_indexes;
        storage_log().info("rebuilt index of {}", c.path);
      }
      prev_last = seg->last_key;
      out.segments.push_back(std::move(seg));
      continue;
    }

    const std::string where = c.path + " at offset " + std::to_string(scan.good_bytes);
    if (i < sealed_region) {
      report->corrupt.push_back(c.path);
      if (!options.quarantine_corrupt) {
        storage_log().error("corrupt sealed segment {}: {}", where, scan.why);
        return Status(wire::ErrorCode::kCorruption,
                      "corrupt sealed segment " + where + ": " + scan.why);
      }
      const std::string quarantined = c.path + ".corrupt";
      if (::rename(c.path.c_str(), quarantined.c_str()) != 0) {
        return io_error("rename " + c.path, errno);
      }
      ::unlink(idx_path_of(c.path).c_str());
      storage_log().error("corrupt sealed segment {}: {}; quarantined as {}", where, scan.why,
                          quarantined);
      continue;
    }

    // The unsealed tail: cut the log at the first bad frame.
    uint64_t lost = c.size - scan.good_bytes;
    for (size_t j = i + 1; j < candidates.size(); ++j) {
      lost += candidates[j].size;
      remove_segment_files(candidates[j].path, idx_path_of(candidates[j].path));
    }
    if (::ftruncate(fd, static_cast<off_t>(scan.good_bytes)) != 0) {
      return io_error("truncate " + c.path, errno);
    }
    st = datasync(fd, c.path);
    if (!st) return st;
    ::unlink(idx_path_of(c.path).c_str());
    const StreamId last_good = scan.records > 0 ? scan.last_key : prev_last.value_or(StreamId{});
    report->truncated_bytes += lost;
    report->truncated_detail = where + ": " + scan.why + ", cut " + std::to_string(lost) +
                               " bytes, last good key " + key_text(last_good);
    if (scan.torn && last) {
      storage_log().warn("torn write at end of {}: truncated {} bytes", where, lost);
    } else {
      storage_log().error("lost data in {}: {}; cut {} bytes, last good key {}", where, scan.why,
                          lost, key_text(last_good));
    }
    if (scan.records == 0) {
      remove_segment_files(c.path, idx_path_of(c.path));
      break;
    }
    auto seg = std::make_unique<Segment>();
    seg->serial = ++serial;
    seg->base_key = c.key;
    seg->last_key = scan.last_key;
    seg->path = c.path;
    seg->flushed = seg->synced = seg->buf_start = scan.good_bytes;
    seg->records = scan.records;
    seg->index = std::move(scan.index);
    seg->file = file;
    out.segments.push_back(std::move(seg));
    break;
  }

  for (const auto& seg : out.segments) report->records += seg->records;
  report->segments = out.segments.size();
  st = sync_dir(dir);
  if (!st) return st;
  return out;
}

}  // namespace sluice::storage
