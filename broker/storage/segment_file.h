// One segment of a SegmentedLog in memory: its file, sizes, sparse index and the bytes still
// held in memory (unflushed appends plus the hot tail cache), and the file-name scheme.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/storage/open_files.h"
#include "broker/storage/sparse_index.h"
#include "wire/stream_id.h"

namespace sluice::storage {

// An open file descriptor, closed when the last owner lets go. Segments share their handle with
// in-flight SyncTargets, so a worker never fdatasyncs a descriptor that was closed (or reused)
// because the segment was sealed, dropped or the log destroyed meanwhile.
struct CompressedLayout;
struct CompressJob;

class FileHandle {
 public:
  explicit FileHandle(int fd, std::shared_ptr<const CompressedLayout> layout = nullptr)
      : fd_(fd), layout_(std::move(layout)) {}
  // A directory's descriptor held for a sync: pinned in the descriptor budget until closed.
  static std::shared_ptr<FileHandle> pinned_directory(int fd) {
    auto h = std::make_shared<FileHandle>(fd);
    h->pinned_ = true;
    pin_descriptors(1);
    return h;
  }
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }
  // How the file is compressed (compressed_segment.h); null for a raw segment file.
  const CompressedLayout* layout() const { return layout_.get(); }

 private:
  int fd_;
  bool pinned_ = false;
  std::shared_ptr<const CompressedLayout> layout_;
};

enum class SegmentState {
  kActive,   // takes appends
  kSealing,  // full; waits until its bytes are durable, then gets its .idx
  kSealed,   // durable, immutable, .idx written
};

// A serial unique among all segments this process ever opened (0 is never returned).
uint64_t next_segment_uid();

struct Segment {
  Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  uint64_t serial = 0;  // unique within the log, names the segment in pending sync tokens
  uint64_t uid = next_segment_uid();  // unique in the process: names it to the read-ahead
  StreamId base_key;                  // first key, also the file name
  StreamId last_key;
  std::string path;  // <dir>/<base>.log
  SegmentState state = SegmentState::kActive;
  // Null until created, while a sealed segment is unread, or after the descriptor budget closed
  // it while idle (open_files.h); set and cleared only through attach() and detach().
  std::shared_ptr<FileHandle> file;
  bool on_disk = false;  // the file exists (an unsealed segment reopens it instead of creating it)
  IdleFile idle;         // `file` in the descriptor budget
  uint64_t flushed = 0;  // bytes written to the file
  uint64_t synced = 0;   // bytes known durable
  uint64_t records = 0;
  // Bytes [buf_start, end()) of the segment. [flushed, end()) is not yet written; the rest is the
  // hot tail cache. buf_start is always a frame boundary; empty once the segment is sealed.
  std::string buf;
  uint64_t buf_start = 0;
  StreamId buf_first_key;  // key of the frame at buf_start (when buf is not empty)
  SparseIndex index;
  uint64_t last_used = 0;  // read clock, to close the least recently read sealed files
  // Damaged ranges [begin, end) of the file found by reads since open: reads skip them. (Recovery
  // repairs files at open, so this is empty unless damage appeared while the process ran.)
  std::vector<std::pair<uint64_t, uint64_t>> damaged;
  // Compression (compressed_segment.h): the file's size when it is compressed (0 while raw), and
  // the job that is compressing it (until the log sees it done).
  uint64_t compressed_bytes = 0;
  std::shared_ptr<CompressJob> compress_job;

  uint64_t end() const { return buf_start + buf.size(); }
  std::string index_path() const;
  void attach(std::shared_ptr<FileHandle> handle);
  void detach();
  // Whether the descriptor budget may close `file` now: no sync, read-ahead or other reader
  // shares the handle, and an unsealed segment has every appended byte written and fdatasynced.
  bool file_idle() const;
};

// "<dir>/<ms:020>-<seq:020>.log".
std::string segment_path(const std::string& dir, StreamId base_key);
// Parses a segment file name ("<ms:020>-<seq:020>.log"); nullopt for any other name.
std::optional<StreamId> parse_segment_name(std::string_view name);
// "ms-seq", for logs and errors (does not depend on stream_id.cc).
std::string key_text(StreamId key);

}  // namespace sluice::storage
