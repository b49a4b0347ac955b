// SegmentedLog: the public facade over SegmentSet (segment_set.h), plus open and destroy.
#include "broker/storage/segmented_log.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/segment_recovery.h"
#include "broker/storage/segment_set.h"

namespace sluice::storage {

struct SegmentedLog::Impl : SegmentSet {};

SegmentedLog::SegmentedLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SegmentedLog::~SegmentedLog() {
  if (impl_ && !impl_->failed) impl_->flush();
}

wire::Result<std::unique_ptr<SegmentedLog>> SegmentedLog::open(std::string dir, LogOptions options,
                                                               KeyOfFn key_of,
                                                               RecoveryReport* report) {
  RecoveryReport local;
  if (report == nullptr) report = &local;
  *report = RecoveryReport{};
  auto recovered = recover_segments(dir, options, key_of, report);
  if (!recovered) return recovered.status();
  auto impl = std::make_unique<Impl>();
  impl->dir = std::move(dir);
  impl->options = options;
  impl->key_of = std::move(key_of);
  impl->segments = std::move(recovered->segments);
  impl->lost = report->lost;
  for (const auto& seg : impl->segments) {
    impl->next_serial = std::max(impl->next_serial, seg->serial + 1);
  }
  if (!impl->segments.empty()) {
    impl->last_key = impl->segments.back()->last_key;
    impl->any_key = true;
  }
  // Sealed segments still raw (written before compression was on, or repaired) get compressed.
  for (auto& seg : impl->segments) impl->schedule_compression(*seg);
  return std::unique_ptr<SegmentedLog>(new SegmentedLog(std::move(impl)));
}

Status SegmentedLog::append(StreamId key, uint8_t type, std::string_view payload) {
  return impl_->append(key, type, payload);
}

Status SegmentedLog::scan(StreamId from, StreamId to, bool reverse, const Visitor& visit,
                          uint64_t expected_bytes) const {
  return reverse ? impl_->scan_reverse(from, to, visit)
                 : impl_->scan_forward(from, to, visit, expected_bytes);
}

Status SegmentedLog::find(StreamId key, const Visitor& visit) const {
  bool found = false;
  Status st = impl_->scan_forward(key, key, [&](StreamId k, uint8_t type, std::string_view p) {
    found = true;
    visit(k, type, p);
    return false;
  });
  if (!st) return st;
  if (!found) return Status(wire::ErrorCode::kNotFound, "no record " + key_text(key));
  return Status::ok();
}

void SegmentedLog::drop_before(StreamId key) { impl_->drop_before(key); }

Status SegmentedLog::clear() { return impl_->remove_all(); }

Status SegmentedLog::destroy() {
  Status st = impl_->remove_all();
  if (!st) return st;
  DIR* d = ::opendir(impl_->dir.c_str());
  if (d != nullptr) {
    while (dirent* entry = ::readdir(d)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      ::unlink((impl_->dir + "/" + std::string(name)).c_str());
    }
    ::closedir(d);
  }
  if (::rmdir(impl_->dir.c_str()) != 0 && errno != ENOENT) {
    return io_error("rmdir " + impl_->dir, errno);
  }
  return sync_dir(parent_dir(impl_->dir));
}

Status SegmentedLog::flush() { return impl_->flush(); }

bool SegmentedLog::has_unflushed() const {
  return std::any_of(impl_->segments.begin(), impl_->segments.end(),
                     [](const auto& seg) { return seg->flushed < seg->end(); });
}

bool SegmentedLog::needs_sync() const { return impl_->needs_sync(); }

size_t SegmentedLog::descriptors_to_open() const {
  const auto& segs = impl_->segments;
  if (segs.empty() || segs.back()->state != SegmentState::kActive) return 2;
  return segs.back()->file ? 0 : 1;
}

SegmentedLog::SyncTargets SegmentedLog::sync_targets() { return impl_->sync_targets(); }

void SegmentedLog::mark_synced(uint64_t token) { impl_->mark_synced(token); }

void SegmentedLog::mark_sync_failed(uint64_t token, const Status& cause) {
  impl_->mark_sync_failed(token, cause);
}

Status SegmentedLog::sync() { return impl_->sync(); }

Status SegmentedLog::roll_back(CutTo cut) { return impl_->roll_back(cut); }

void SegmentedLog::finish_recovery() { impl_->recovering = false; }

void SegmentedLog::set_loss_listener(LossListener listener) {
  impl_->on_loss = std::move(listener);
}

const std::vector<KeyGap>& SegmentedLog::lost_gaps() const { return impl_->lost; }

bool SegmentedLog::failed() const { return impl_->failed; }

bool SegmentedLog::empty() const { return impl_->segments.empty(); }

StreamId SegmentedLog::first_key() const {
  return impl_->segments.empty() ? StreamId{} : impl_->segments.front()->base_key;
}

StreamId SegmentedLog::last_key() const { return impl_->last_key; }

uint64_t SegmentedLog::disk_bytes() const {
  uint64_t total = 0;
  for (const auto& seg : impl_->segments) {
    total += seg->compressed_bytes != 0 ? seg->compressed_bytes : seg->end();
  }
  return total;
}

uint64_t SegmentedLog::record_bytes() const {
  uint64_t total = 0;
  for (const auto& seg : impl_->segments) total += seg->end();
  return total;
}

void SegmentedLog::poll_compressions() { impl_->poll_compressions(); }

size_t SegmentedLog::segment_count() const { return impl_->segments.size(); }

SegmentedLog::SegmentInfo SegmentedLog::segment_info(size_t i) const {
  const Segment& seg = *impl_->segments.at(i);
  return SegmentInfo{seg.base_key, seg.last_key, seg.records,
                     seg.compressed_bytes != 0 ? seg.compressed_bytes : seg.end()};
}

uint64_t SegmentedLog::memory_bytes() const {
  uint64_t total = sizeof(Impl);
  for (const auto& seg : impl_->segments) {
    total +=
        sizeof(Segment) + seg->path.capacity() + seg->buf.capacity() + seg->index.memory_bytes();
  }
  return total;
}

const std::string& SegmentedLog::dir() const { return impl_->dir; }

}  // namespace sluice::storage
