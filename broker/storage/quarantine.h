// Moving damaged bytes aside instead of deleting them, and the process-wide counts of what
// recovery and reads found (INFO persistence, /metrics).
//
// Storage never deletes bytes that may hold acknowledged data: before a damaged range of a
// segment or journal is cut out (truncated, or left out of a rewritten file), its bytes are
// copied, durably, into a quarantine file next to the damaged file, named
// "<file>.corrupt-<offset of the range>". Nothing reads quarantine files; they are kept for the
// operator (and for tools) until removed by hand. A torn write (an incomplete last frame, or
// zeros at the end of a file: bytes the process never finished writing) is not corruption and is
// cut without a copy.
#pragma once

#include <cstdint>
#include <string>

#include "wire/status.h"

namespace sluice::storage {

// Everything below counts since the process started, across DEBUG RELOAD and storage reloads.
struct CorruptionStats {
  uint64_t corrupt_ranges = 0;   // damaged ranges found (recovery and reads)
  uint64_t corrupt_records = 0;  // records they held (counted from frame headers: at least 1 each)
  uint64_t quarantined_bytes = 0;  // bytes copied into quarantine files
  uint64_t quarantine_files = 0;   // quarantine files written
  uint64_t torn_bytes = 0;         // bytes of torn writes cut at the end of files
  uint64_t empty_segments = 0;     // 0-byte segment files removed at recovery
};
CorruptionStats corruption_stats();

void count_corrupt_range(uint64_t records);
void count_torn_bytes(uint64_t bytes);
void count_empty_segment();

// Copies bytes [begin, end) of the open file `fd` (whose path is `path`) into
// "<path>.corrupt-<begin>": written to a temporary file, fdatasynced, renamed, directory synced.
// If that name exists with the same bytes (a repair interrupted and redone) it is kept; with other
// bytes the copy gets a ".<n>" suffix. Returns the quarantine file's path. Counts the bytes and
// the file in corruption_stats() (unless it existed already).
wire::Result<std::string> quarantine_range(int fd, const std::string& path, uint64_t begin,
                                           uint64_t end);

}  // namespace sluice::storage
