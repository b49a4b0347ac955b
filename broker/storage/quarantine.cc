// Quarantine files and the corruption counters (see quarantine.h).
#include "broker/storage/quarantine.h"

#include <sys/stat.h>

#include <cerrno>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"

namespace sluice::storage {
namespace {

// Touched only on the loop thread (recovery runs there too), like the read-ahead stats.
CorruptionStats g_stats;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

CorruptionStats corruption_stats() { return g_stats; }

void count_corrupt_range(uint64_t records) {
  ++g_stats.corrupt_ranges;
  g_stats.corrupt_records += records;
}

void count_torn_bytes(uint64_t bytes) { g_stats.torn_bytes += bytes; }

void count_empty_segment() { ++g_stats.empty_segments; }

wire::Result<std::string> quarantine_range(int fd, const std::string& path, uint64_t begin,
                                           uint64_t end) {
  std::string bytes(static_cast<size_t>(end - begin), '\0');
  size_t got = 0;
  Status st = pread_full(fd, bytes.data(), bytes.size(), begin, &got, path);
  if (!st) return st;
  bytes.resize(got);
  const std::string base = path + ".corrupt-" + std::to_string(begin);
  std::string target = base;
  for (int n = 1; exists(target); ++n) {
    auto old = read_file(target);
    if (old && *old == bytes) return target;  // the same range, moved aside before
    target = base + "." + std::to_string(n);
  }
  st = write_file_atomic(target, bytes);
  if (!st) return st;
  g_stats.quarantined_bytes += bytes.size();
  ++g_stats.quarantine_files;
  return target;
}

}  // namespace sluice::storage
