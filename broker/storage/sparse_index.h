// SparseIndex: one (key, file offset) entry per ~interval bytes of a segment, so a read seeks
// close to its key and scans forward from there; and the .idx sidecar that stores it for a
// sealed segment.
//
// Sidecar layout (all integers little endian):
//   offset   size  field
//   0        4     magic "SLIX"
//   4        4     version (1)
//   8        8     bytes of the segment file this index describes
//   16       16    first key (ms, seq)
//   32       16    last key (ms, seq)
//   48       8     record count
//   56       8     entry count n
//   64       24*n  entries: key ms (8), key seq (8), file offset (8)
//   64+24n   4     masked crc32c of bytes [0, 64 + 24n)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/stream_id.h"

namespace sluice::storage {

using wire::StreamId;

struct IndexEntry {
  StreamId key;
  uint64_t pos = 0;  // file offset of the frame holding `key`
};

// What a sidecar says about its segment besides the entries.
struct SegmentSummary {
  uint64_t file_bytes = 0;
  StreamId first_key;
  StreamId last_key;
  uint64_t records = 0;
};

class SparseIndex {
 public:
  explicit SparseIndex(uint32_t interval_bytes = 32 * 1024)
      : interval_(interval_bytes < 8 ? 8 : interval_bytes) {}

  // Called for every frame, in file order, with the frame's key and offset. Adds an entry when
  // the frame starts at least interval bytes after the previous entry (offset 0 is implicit).
  void on_frame(StreamId key, uint64_t pos) {
    if (pos >= next_pos_) {
      entries_.push_back({key, pos});
      next_pos_ = pos + interval_;
    }
  }

  // Offset of the last entry whose key <= key (0 if none): a forward scan for `key` starts there.
  uint64_t seek(StreamId key) const;
  // Offset of the first entry whose key > key (segment_end if none): a record with `key` starts
  // before it, so [seek(key), seek_end(key, end)) is the stretch a scan may skip to reach it.
  uint64_t seek_end(StreamId key, uint64_t segment_end) const;
  // Number of entries whose offset < pos.
  size_t entries_before(uint64_t pos) const;
  const std::vector<IndexEntry>& entries() const { return entries_; }
  size_t memory_bytes() const { return entries_.capacity() * sizeof(IndexEntry); }

  // Releases spare capacity once the segment is sealed.
  void shrink() { entries_.shrink_to_fit(); }

 private:
  friend bool decode_index_file(std::string_view bytes, SegmentSummary* summary,
                                SparseIndex* index);
  uint32_t interval_;
  uint64_t next_pos_ = interval_;
  std::vector<IndexEntry> entries_;
};

std::string encode_index_file(const SegmentSummary& summary, const SparseIndex& index);
// False if the bytes are not a well-formed sidecar (bad magic, version, size or CRC, or entries
// out of order or beyond file_bytes).
bool decode_index_file(std::string_view bytes, SegmentSummary* summary, SparseIndex* index);

}  // namespace sluice::storage
