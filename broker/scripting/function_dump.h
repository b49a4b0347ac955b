// FUNCTION DUMP / RESTORE payloads in Redis's format, so libraries move between redis-server and
// Sluice in both directions:
//
//   for each library: 0xF5 (RDB_OPCODE_FUNCTION2), the library's code as an RDB string
//   2 bytes   RDB version, little endian (10, Redis 7.0's)
//   8 bytes   CRC-64/Jones of everything before it, little endian
//
// An RDB string is a length (1, 2, 5 or 9 bytes: 00xxxxxx, 01xxxxxx xxxxxxxx, 0x80 + 32-bit BE,
// 0x81 + 64-bit BE) and the bytes, or 0xC3 + compressed length + original length + LZF data
// (Redis compresses strings over 20 bytes when that saves space). Sluice writes plain strings and
// reads both (wire/rdb_format.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/rdb_format.h"

namespace sluice::scripting {

using wire::rdb::crc64_jones;

std::string encode_function_dump(const std::vector<std::string_view>& library_codes);

// The libraries' code in a payload; false with *error set (Redis's text) when it is not one.
bool decode_function_dump(std::string_view payload, std::vector<std::string>* codes,
                          std::string* error);

}  // namespace sluice::scripting
