// Process figures that INFO and the metrics endpoint both report, computed in one place.
#pragma once

#include <cstdint>

namespace sluice::commands {

// Resident set size of this process in bytes (INFO used_memory, sluice_used_memory_bytes).
uint64_t rss_bytes();

}  // namespace sluice::commands
