// Segment file names and descriptor ownership.
#include "broker/storage/segment_file.h"

#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>

namespace sluice::storage {
namespace {

constexpr size_t kDigits = 20;
constexpr std::string_view kLogSuffix = ".log";

bool parse_padded_u64(std::string_view digits, uint64_t* out) {
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

uint64_t next_segment_uid() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
  if (pinned_) pin_descriptors(-1);
}

Segment::Segment()
    : idle([this] {
        if (!file_idle()) return false;
        detach();
        return true;
      }) {}

void Segment::attach(std::shared_ptr<FileHandle> handle) {
  file = std::move(handle);
  on_disk = true;
  idle.opened();
}

void Segment::detach() {
  file.reset();
  idle.closed();
}

bool Segment::file_idle() const {
  if (!file || file.use_count() > 1) return false;
  // (Bytes appended but not yet flushed keep it open too: the flush would reopen it at once,
  // outside the budget's reckoning.)
  return state == SegmentState::kSealed || (synced >= flushed && end() <= flushed);
}

std::string Segment::index_path() const {
  return path.substr(0, path.size() - kLogSuffix.size()) + ".idx";
}

std::string segment_path(const std::string& dir, StreamId base_key) {
  char name[64];
  std::snprintf(name, sizeof(name), "/%020" PRIu64 "-%020" PRIu64 ".log", base_key.ms,
                base_key.seq);
  return dir + name;
}

std::optional<StreamId> parse_segment_name(std::string_view name) {
  if (name.size() != 2 * kDigits + 1 + kLogSuffix.size()) return std::nullopt;
  if (name[kDigits] != '-' || name.substr(2 * kDigits + 1) != kLogSuffix) return std::nullopt;
  StreamId key;
  if (!parse_padded_u64(name.substr(0, kDigits), &key.ms) ||
      !parse_padded_u64(name.substr(kDigits + 1, kDigits), &key.seq)) {
    return std::nullopt;
  }
  return key;
}

std::string key_text(StreamId key) {
  char buf[48];
  int n = std::snprintf(buf, sizeof(buf), "%" PRIu64 "-%" PRIu64, key.ms, key.seq);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace sluice::storage
