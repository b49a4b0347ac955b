#include "broker/commands/server_stats.h"

#include <unistd.h>

#include <fstream>

namespace sluice::commands {

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace sluice::commands
