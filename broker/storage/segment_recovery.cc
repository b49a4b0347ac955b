// Directory recovery for SegmentedLog: load sidecars, check what is not trusted, move damaged
// ranges aside, cut torn writes.
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
#include "broker/storage/compressed_segment.h"
#include "broker/storage/journal.h"
#include "broker/storage/quarantine.h"
#include "broker/storage/segment_check.h"
#include "broker/storage/segment_reader.h"

namespace sluice::storage {
namespace {

struct Candidate {
  StreamId key;
  std::string path;
  uint64_t size = 0;     // of the file
  uint64_t logical = 0;  // of its frames: size, or a compressed file's logical size
  bool compressed = false;
  bool trusted = false;  // its .idx verifies
  SegmentSummary summary;
  SparseIndex index = SparseIndex();
};

void remove_segment_files(const std::string& log_path, const std::string& idx_path) {
  if (::unlink(log_path.c_str()) != 0 && errno != ENOENT) {
    storage_log().error("cannot remove {}: {}", log_path, std::strerror(errno));
  }
  ::unlink(idx_path.c_str());
}

std::string idx_path_of(const std::string& log_path) {
  return log_path.substr(0, log_path.size() - 4) + ".idx";
}

Status list_candidates(const std::string& dir, std::vector<Candidate>* out,
                       RecoveryReport* report) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return io_error("opendir " + dir, errno);
  while (dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    std::string path = dir + "/" + std::string(name);
    if (name.ends_with(".tmp")) {
      ::unlink(path.c_str());  // an interrupted sidecar write or segment rewrite
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
    if (c.size == 0) {
      // Created when its first record was flushed, but that record never reached the disk: the
      // process (or the machine) stopped before the write was synced.
      storage_log().warn(
          "segment {} is empty: records from key {} on never reached the disk (they were not "
          "synced before the process stopped); removing the file",
          c.path, key_text(c.key));
      remove_segment_files(c.path, idx_path_of(c.path));
      ++report->empty_segments;
      count_empty_segment();
      continue;
    }
    c.logical = c.size;
    auto idx = read_file(idx_path_of(c.path));
    const bool have_idx = idx && decode_index_file(*idx, &c.summary, &c.index);
    if (!have_idx || c.summary.file_bytes != c.size) {
      // Perhaps compressed (its .idx then gives the logical size): the header tells.
      int fd = ::open(c.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return io_error("open " + c.path, errno);
      char head[kCompressedHeaderBytes];
      size_t got = 0;
      Status read = pread_full(fd, head, sizeof(head), 0, &got, c.path);
      ::close(fd);
      if (!read) return read;
      if (is_compressed_header(std::string_view(head, got))) {
        c.compressed = true;
        c.logical = 0;
        if (got == sizeof(head)) {
          for (int i = 0; i < 8; ++i) {
            c.logical |= uint64_t{static_cast<uint8_t>(head[24 + i])} << (8 * i);
          }
        }
      }
    }
    if (have_idx) {
      c.trusted = c.summary.file_bytes == c.logical && c.summary.first_key == c.key;
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
  seg->on_disk = true;
  seg->flushed = seg->synced = seg->buf_start = c.logical;
  if (c.compressed) seg->compressed_bytes = c.size;
  seg->records = c.summary.records;
  seg->index = std::move(c.index);
  return seg;
}

std::string keys_between(const DamagedRange& r) {
  return "after key " + (r.key_before ? key_text(*r.key_before) : std::string("(none)")) +
         ", before key " + (r.key_after ? key_text(*r.key_after) : std::string("(end of file)"));
}

// Reports the damaged ranges of a checked file and copies the corrupt ones aside; torn writes (at
// the end of an unsealed file) are only reported. Fails for corruption in a sealed file unless
// quarantining.
Status report_damage(int fd, const Candidate& c, const SegmentCheck& check, bool sealed,
                     const LogOptions& options, RecoveryReport* report) {
  const DamagedRange* first_corrupt = nullptr;
  for (const DamagedRange& r : check.damaged) {
    if (!(r.torn && !sealed)) {
      first_corrupt = &r;
      break;
    }
  }
  if (first_corrupt != nullptr) {
    report->corrupt.push_back(c.path);
    if (sealed && !options.quarantine_corrupt) {
      const DamagedRange& r = *first_corrupt;
      std::string detail = "corrupt sealed segment " + c.path + " at offset " +
                           std::to_string(r.begin) + ": " + r.why + " (" +
                           std::to_string(r.end - r.begin) + " bytes, " + keys_between(r) +
                           "); nothing was changed. With recovery-on-corruption quarantine the "
                           "server starts without the damaged records, moved aside";
      storage_log().error("{}", detail);
      return Status(wire::ErrorCode::kCorruption, std::move(detail));
    }
  }
  for (const DamagedRange& r : check.damaged) {
    const uint64_t bytes = r.end - r.begin;
    report->truncated_detail = c.path + " at offset " + std::to_string(r.begin) + ": " + r.why +
                               ", " + std::to_string(bytes) + " bytes, last good key " +
                               (r.key_before ? key_text(*r.key_before) : std::string("(none)"));
    if (r.torn && !sealed) {
      storage_log().warn("torn write at end of {} at offset {} ({}): truncated {} bytes", c.path,
                         r.begin, r.why, bytes);
      report->truncated_bytes += bytes;
      count_torn_bytes(bytes);
      continue;
    }
    std::string moved = "the range is zeros, nothing to keep";
    if (!r.zero) {
      auto copy = quarantine_range(fd, c.path, r.file_begin, r.file_end);
      if (!copy) return copy.status();
      moved = "bytes copied to " + *copy;
      report->quarantined_bytes += bytes;
      report->quarantine_files.push_back(*copy);
    }
    ++report->corrupt_ranges;
    report->lost_records += r.records;
    count_corrupt_range(r.records);
    storage_log().error(
        "corrupt data in {} at offsets {}-{} ({}): about {} records lost, {}; {}; the intact "
        "records before and after are kept",
        c.path, r.begin, r.end, r.why, r.records, keys_between(r), moved);
  }
  return Status::ok();
}

// The records of the last tail_cache_bytes of seg's file go into its in-memory tail.
Status load_tail(Segment& seg, int fd, const LogOptions& options, const KeyOfFn& key_of) {
  const uint64_t size = seg.flushed;
  const uint64_t from = size > options.tail_cache_bytes ? size - options.tail_cache_bytes : 0;
  const auto& entries = seg.index.entries();
  const size_t k = seg.index.entries_before(from + 1);
  SegmentBytes src{fd, size, {}, &seg.path};
  FrameCursor cursor(src, k == 0 ? 0 : entries[k - 1].pos, size, options.max_record_bytes);
  FrameView frame;
  for (;;) {
    FrameCursor::Step step = cursor.next(&frame);
    if (step == FrameCursor::Step::kIoError) return cursor.io_status();
    if (step != FrameCursor::Step::kFrame) return Status::ok();  // no frame starts after `from`
    if (cursor.offset() >= from) break;
  }
  std::string tail(size - cursor.offset(), '\0');
  size_t got = 0;
  Status st = pread_full(fd, tail.data(), tail.size(), cursor.offset(), &got, seg.path);
  if (!st) return st;
  FrameView first;
  StreamId first_key;
  if (got != tail.size() ||
      decode_frame(tail, options.max_record_bytes, &first) != FrameStatus::kOk ||
      !key_of(first.payload, &first_key)) {
    return Status(wire::ErrorCode::kCorruption, seg.path + ": its end changed while loading");
  }
  seg.buf_start = cursor.offset();
  seg.buf = std::move(tail);
  seg.buf_first_key = first_key;
  return Status::ok();
}

}  // namespace

wire::Result<RecoveredSegments> recover_segments(const std::string& dir, const LogOptions& options,
                                                 const KeyOfFn& key_of, RecoveryReport* report) {
  Status st = make_dirs(dir);
  if (!st) return st;
  std::vector<Candidate> candidates;
  st = list_candidates(dir, &candidates, report);
  if (!st) return st;

  // Everything before the last trusted segment was sealed once, so it must be intact.
  size_t sealed_region = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].trusted) sealed_region = i + 1;
  }

  RecoveredSegments out;
  std::optional<StreamId> prev_last;
  uint64_t serial = 0;
  std::vector<size_t> open_gaps;  // report->lost entries whose `before` is the next segment
  auto close_gaps = [&](StreamId before) {
    for (size_t g : open_gaps) report->lost[g].before = before;
    open_gaps.clear();
  };
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate& c = candidates[i];
    const bool last = i + 1 == candidates.size();
    if (c.trusted && (!prev_last || c.key > *prev_last)) {
      close_gaps(c.key);
      out.segments.push_back(trusted_segment(c, ++serial));
      prev_last = c.summary.last_key;
      continue;
    }
    int fd = ::open(c.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_error("open " + c.path, errno);
    std::shared_ptr<const CompressedLayout> layout;
    st = probe_segment_file(fd, c.path, &layout);
    if (!st) {
      ::close(fd);
      return st;
    }
    auto file = std::make_shared<FileHandle>(fd, layout);
    const uint64_t logical = layout ? layout->logical_size : c.size;
    SegmentCheck check;
    st = check_any_segment(fd, layout.get(), c.path, logical, c.key, prev_last, options, key_of,
                           &check);
    if (!st) return st;
    // A compressed file was written whole once its segment was sealed: any damage is corruption.
    const bool sealed = i < sealed_region || layout != nullptr;
    st = report_damage(fd, c, check, sealed, options, report);
    if (!st) return st;
    if (check.records > 0) close_gaps(check.first_key);
    for (const DamagedRange& r : check.damaged) {
      report->lost.push_back(
          {r.key_before.value_or(StreamId{}), r.key_after.value_or(StreamId::max())});
      if (!r.key_after) open_gaps.push_back(report->lost.size() - 1);
    }

    uint64_t size = logical;
    if (check.records == 0) {
      // Nothing intact: the bytes worth keeping are in quarantine files now.
      storage_log().warn("segment {} holds no intact record: removed", c.path);
      file.reset();
      remove_segment_files(c.path, idx_path_of(c.path));
      continue;
    }
    if (layout != nullptr && !check.damaged.empty()) {
      // Repaired as a raw file without the damaged blocks; the log compresses it again.
      std::vector<std::pair<uint64_t, uint64_t>> skip;
      for (const DamagedRange& r : check.damaged) skip.emplace_back(r.begin, r.end);
      int raw_fd = -1;
      st = decompress_without(fd, c.path, *layout, skip, &raw_fd, &size);
      if (!st) return st;
      file = std::make_shared<FileHandle>(raw_fd);
      fd = raw_fd;
      layout.reset();
      SegmentCheck again;
      st = check_segment(fd, c.path, size, c.key, prev_last, options, key_of, &again);
      if (!st) return st;
      if (!again.damaged.empty() || again.records != check.records) {
        return Status(wire::ErrorCode::kCorruption,
                      c.path + ": the decompressed segment does not verify");
      }
      check = std::move(again);
      ::unlink(idx_path_of(c.path).c_str());
    } else if (!check.damaged.empty()) {
      const bool only_tail = check.damaged.size() == 1 && check.damaged[0].end == c.size;
      if (only_tail) {
        size = check.damaged[0].begin;
        if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
          return io_error("truncate " + c.path, errno);
        }
      } else {
        int rewritten = -1;
        st = rewrite_without(fd, c.path, c.size, check.damaged, &rewritten);
        if (!st) return st;
        file = std::make_shared<FileHandle>(rewritten);
        fd = rewritten;
        size = 0;
        for (const DamagedRange& r : check.damaged) size += r.end - r.begin;
        size = c.size - size;
        SegmentCheck again;
        st = check_segment(fd, c.path, size, c.key, prev_last, options, key_of, &again);
        if (!st) return st;
        if (!again.damaged.empty() || again.records != check.records) {
          return Status(wire::ErrorCode::kCorruption,
                        c.path + ": the rewritten segment does not verify");
        }
        check = std::move(again);
      }
      ::unlink(idx_path_of(c.path).c_str());
    }

    auto seg = std::make_unique<Segment>();
    seg->serial = ++serial;
    seg->base_key = c.key;
    seg->last_key = check.last_key;
    seg->path = c.path;
    seg->flushed = seg->synced = seg->buf_start = size;
    seg->records = check.records;
    seg->index = std::move(check.index);
    seg->attach(file);
    if (layout != nullptr) seg->compressed_bytes = c.size;
    // Its bytes may be in the page cache only (the process died, not the machine): make them
    // durable before an index vouches for them. A disk that cannot sync now (full, or failing:
    // this may be a reload after a failed write) gets no index; the next start checks the file.
    const bool durable = datasync(fd, c.path).is_ok();
    if (!durable) storage_log().warn("cannot fdatasync {} during recovery", c.path);
    // A compressed segment stays sealed even when it is the last one: appends start a new one
    // (as after a trusted sealed segment), and a start needs no disk space to rewrite it.
    if (last && layout == nullptr) {
      ::unlink(seg->index_path().c_str());
      st = load_tail(*seg, fd, options, key_of);
      if (!st) return st;
    } else {
      seg->state = SegmentState::kSealed;
      SegmentSummary summary{size, seg->base_key, seg->last_key, seg->records};
      st = durable ? write_file_replace(seg->index_path(), encode_index_file(summary, seg->index))
                   : Status(wire::ErrorCode::kIo, "not synced");
      if (st) {
        ++report->rebuilt_indexes;
        storage_log().info("rebuilt index of {}", c.path);
      } else {
        // Sidecars are optional: without one the segment is checked again at the next start.
        storage_log().warn("cannot write the index of {}: {}", c.path, st.detail());
      }
    }
    prev_last = seg->last_key;
    out.segments.push_back(std::move(seg));
  }
  close_gaps(StreamId::max());

  for (const auto& seg : out.segments) report->records += seg->records;
  report->segments = out.segments.size();
  st = sync_dir(dir);
  if (!st) storage_log().warn("recovery of {}: {}", dir, st.detail());
  return out;
}

}  // namespace sluice::storage
