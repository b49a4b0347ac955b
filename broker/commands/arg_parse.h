// Small argument helpers shared by command handlers: case-insensitive keyword match and
// Redis-strict number parsing.
#pragma once

#include <cctype>
#include <cstdint>
#include <string_view>

#include "wire/stream_id.h"

namespace sluice::commands {

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

inline bool parse_int(std::string_view s, int64_t* out) { return wire::parse_i64(s, out); }

}  // namespace sluice::commands
