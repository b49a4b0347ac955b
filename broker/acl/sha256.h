// SHA-256 (FIPS 180-4), for ACL passwords: Redis stores and prints each password as the
// lowercase hex digest of its bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::acl {

std::array<uint8_t, 32> sha256(std::string_view data);
// 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

}  // namespace sluice::acl
