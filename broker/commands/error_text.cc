#include "broker/commands/error_text.h"

namespace sluice::commands {

using wire::ErrorCode;

std::string error_text(const wire::Status& status) {
  const std::string& d = status.detail();
  switch (status.code()) {
    case ErrorCode::kOk:
      return "ERR internal: error reply for a success";
    case ErrorCode::kSyntax:
      return d.empty() ? kSyntaxErr : "ERR " + d;
    case ErrorCode::kWrongType:
      return kWrongTypeErr;
    case ErrorCode::kNoSuchKey:
      return kNoSuchKeyErr;
    case ErrorCode::kNotInteger:
      return d.empty() ? kNotIntegerErr : "ERR " + d;
    case ErrorCode::kNotFloat:
      return d.empty() ? kNotFloatErr : "ERR " + d;
    case ErrorCode::kOutOfRange:
      return "ERR " + d;
    case ErrorCode::kInvalidStreamId:
      return kInvalidStreamIdErr;
    case ErrorCode::kIdTooSmall:
      return "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    case ErrorCode::kIdZero:
      return "ERR The ID specified in XADD must be greater than 0-0";
    case ErrorCode::kNoGroup:
      // detail: "No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option", etc.
      return "NOGROUP " + d;
    case ErrorCode::kBusyGroup:
      return "BUSYGROUP Consumer Group name already exists";
    case ErrorCode::kStorageFailed:
      return "MISCONF Sluice cannot persist writes: " +
             (d.empty() ? std::string("storage failed") : d) +
             ". Writes are refused until the disk takes writes again (retried every second); "
             "reads keep working.";
    case ErrorCode::kIo:
      return "ERR I/O error: " + d;
    case ErrorCode::kCorruption:
      return "ERR corrupt data: " + d;
    case ErrorCode::kNotFound:
      return d.empty() ? "ERR not found" : "ERR " + d;
    case ErrorCode::kInvalidArgument:
      return d;  // the full text, prefix included
  }
  return "ERR " + d;
}

}  // namespace sluice::commands
