// Helpers for the DUMP/RESTORE codec tests.
#pragma once

#include <string>
#include <string_view>

namespace sluice::kv::testing {

// Bytes from hex text ("0a00" -> "\x0a\x00"), for payloads captured from redis-server.
inline std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

}  // namespace sluice::kv::testing
