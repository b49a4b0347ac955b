// ErrorCode -> the exact Redis error text. The only place that spells error replies.
#pragma once

#include <string>

#include "broker/core/broker.h"
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

// What a client gets while a script runs past busy-reply-threshold (Redis's words: the way out
// depends on whether an EVAL script or a function is running).
inline const char* busy_script_error(core::BusyScript kind) {
  return kind == core::BusyScript::kFunction
             ? "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN "
               "NOSAVE."
             : "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
               "NOSAVE.";
}

}  // namespace sluice::commands
