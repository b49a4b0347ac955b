// SHA-1 (FIPS 180-4) of a byte string, as the lowercase hex digest Redis names scripts by
// (EVALSHA, SCRIPT LOAD, redis.sha1hex).
#pragma once

#include <array>
#include <string_view>

namespace sluice::scripting {

using Sha1Hex = std::array<char, 40>;

// The 40 lowercase hex characters of SHA-1(data).
Sha1Hex sha1_hex(std::string_view data);

}  // namespace sluice::scripting
