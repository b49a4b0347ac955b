// Recovery of a SegmentedLog's directory at open: which segments to trust, which to check, what
// is damaged, and how each damaged file is repaired.
//
// Rules (see also segmented_log.h and segment_check.h):
// - A segment whose .idx verifies (CRC, file size, first key) is sealed and trusted unchecked.
// - A segment without a valid .idx that comes before some segment with one is known to have been
//   sealed (sidecars are written only after the data is durable): every byte must belong to an
//   intact frame. Damage there is corruption: with the refuse policy open fails naming the file
//   and offset and changes nothing; with quarantine it is repaired as below. Its index is rebuilt.
// - Segments after the last valid .idx are the unsealed tail (the active segment, and segments
//   rolled before a crash but not yet durable). They are repaired under either policy: a torn
//   write at the end of a file (an incomplete frame, or zeros) is cut (WARN); any other damaged
//   range, in the middle or at the end, is corruption (ERROR).
// - Repair never deletes bytes that may hold acknowledged records: each corrupt range that is not
//   all zeros is first copied into a quarantine file (quarantine.h); then a range at the very end
//   is truncated, and ranges followed by intact frames are left out of a rewritten copy of the
//   file (rewrite_without). The segment keeps its name even if its first record was lost. Every
//   intact frame before and after the damage stays; the keys lost are reported as gaps.
// - A 0-byte segment file (created, its first write never reached the disk) is removed with a
//   warning.
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
