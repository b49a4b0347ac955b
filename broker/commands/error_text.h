// ErrorCode -> the exact Redis error text. The only place that spells error replies.
#pragma once

#include <string>

#include "wire/status.h"

namespace sluice::commands {

// The full error line without the leading '-' and trailing CRLF,
// e.g. "WRONGTYPE Operation against a key holding the wrong kind of value".
std::string error_text(const wire::Status& status);

inline constexpr const char* kSyntaxErr = "ERR syntax error";
inline constexpr const char* kWrongTypeErr =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr const char* kNotIntegerErr = "ERR value is not an integer or out of range";
inline constexpr const char* kNotFloatErr = "ERR value is not a valid float";
inline constexpr const char* kInvalidStreamIdErr =
    "ERR Invalid stream ID specified as stream command argument";
inline constexpr const char* kNoSuchKeyErr = "ERR no such key";

}  // namespace sluice::commands
