// Checking every frame of a segment file, finding its damaged ranges and the intact frames after
// them; and rewriting a file without its damaged ranges. Recovery at open and reads that meet a
// damaged record use them.
//
// Frames start at 8-aligned offsets (every frame's size is a multiple of 8), so after a frame
// that does not verify the next intact one is found by trying each 8-aligned offset after it. A
// candidate must look like a frame (type set, reserved bytes zero, length within
// max_record_bytes and within the file), decode whole with a matching checksum, carry a readable
// key, and that key must be above the last good key: a random match needs a plausible header and
// then has odds of 2^-32, and key order rejects an old frame's copy. (A value that itself holds
// the bytes of a valid frame with a higher key could still pass; nothing else can.)
// A damaged range is torn when it runs to the end of the file and is either a frame whose header
// promises more bytes than the file has or zeros only: the shape of a write the process did not
// finish. Anything else is corruption.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/storage/compressed_segment.h"
#include "broker/storage/segmented_log.h"
#include "broker/storage/sparse_index.h"

namespace sluice::storage {

struct DamagedRange {
  uint64_t begin = 0;
  uint64_t end = 0;      // exclusive: the next intact frame, or the end of the file
  bool torn = false;     // see the file comment
  bool zero = false;     // every byte is zero: nothing to keep
  const char* why = "";  // what was wrong with the frame at `begin`
  uint64_t records = 0;  // records it held, by chaining frame headers from `begin` (>= 1)
  // The bytes of the file that hold the range, for quarantine: [begin, end) for a raw file, the
  // damaged blocks' bytes for a compressed one (whose begin/end are logical offsets).
  uint64_t file_begin = 0;
  uint64_t file_end = 0;
  std::optional<StreamId> key_before;  // the last good key before it (or the previous segment's)
  std::optional<StreamId> key_after;   // the first good key after it in this file
};

struct SegmentCheck {
  uint64_t records = 0;  // intact frames
  StreamId first_key;    // of the intact frames, when records > 0
  StreamId last_key;
  SparseIndex index = SparseIndex();  // over the intact frames, at their offsets in the file
  std::vector<DamagedRange> damaged;  // in file order
};

// Checks the frames of bytes [0, size) of `fd` (the segment named `name_key`): checksum, header,
// a readable key, keys increasing, the first at or above name_key and above prev_last.
Status check_segment(int fd, const std::string& path, uint64_t size, StreamId name_key,
                     const std::optional<StreamId>& prev_last, const LogOptions& options,
                     const KeyOfFn& key_of, SegmentCheck* out);

// check_segment for a compressed file (compressed_segment.h): a block that does not verify (or
// holds a frame that does not) is a damaged range over its logical bytes; so are the bytes after
// the last intact block of a file whose block index was lost. Offsets are logical.
Status check_compressed_segment(int fd, const std::string& path, const CompressedLayout& layout,
                                StreamId name_key, const std::optional<StreamId>& prev_last,
                                const LogOptions& options, const KeyOfFn& key_of,
                                SegmentCheck* out);

// Checks the segment file behind `fd` in whichever format it has (layout null: raw).
Status check_any_segment(int fd, const CompressedLayout* layout, const std::string& path,
                         uint64_t size, StreamId name_key, const std::optional<StreamId>& prev_last,
                         const LogOptions& options, const KeyOfFn& key_of, SegmentCheck* out);

// Replaces the file at `path` (open as `fd`, `size` bytes) with a copy of its bytes outside
// `damaged`: written to path + ".tmp", fdatasynced, renamed over path, directory fsynced (a crash
// at any point leaves either file whole). Returns the new file's descriptor (read-write) in
// *new_fd. Quarantine the damaged bytes first: this drops them.
Status rewrite_without(int fd, const std::string& path, uint64_t size,
                       const std::vector<DamagedRange>& damaged, int* new_fd);

}  // namespace sluice::storage
