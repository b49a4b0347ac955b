// Recovery of a SegmentedLog's directory at open: which segments to trust, which to scan, where
// to cut a torn or corrupt tail, and which sealed segments are corrupt.
//
// Rules (see also segmented_log.h):
// - A segment whose .idx verifies (CRC, file size, first key) is sealed and trusted unscanned.
// - A segment without a valid .idx that comes before some segment with one is known to have been
//   sealed (sidecars are written only after the data is durable): it is scanned strictly, and a
//   bad frame is corruption (fatal, or quarantined as <file>.corrupt). Its index is rebuilt.
// - Segments after the last valid .idx are the unsealed tail (the active segment, and segments
//   rolled before a crash but not yet durable). They are scanned; at the first bad frame the log
//   is cut: that file is truncated there and later segments are removed. A frame cut short at
//   end of the last file (or a zero-filled end) is a torn write, logged at WARN; anything else
//   is logged at ERROR with the bytes lost and the last good key.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/storage/segment_file.h"
#include "broker/storage/segmented_log.h"

namespace sluice::storage {

struct RecoveredSegments {
  std::vector<std::unique_ptr<Segment>> segments;  // in key order; the last may be kActive
};

wire::Result<RecoveredSegments> recover_segments(const std::string& dir, const LogOptions& options,
                                                 const KeyOfFn& key_of, RecoveryReport* report);

}  // namespace sluice::storage
