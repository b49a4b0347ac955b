// Error rendering for the client's Result type.
#include "client/result.h"

namespace sluice::client {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kReply:
      return "reply error";
    case ErrorKind::kConnectFailed:
      return "connect failed";
    case ErrorKind::kConnectionLost:
      return "connection lost";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kProtocol:
      return "protocol error";
    case ErrorKind::kClosed:
      return "client closed";
    case ErrorKind::kUnexpectedReply:
      return "unexpected reply";
  }
  return "error";
}

std::string_view Error::code() const {
  if (kind_ != ErrorKind::kReply) return {};
  std::string_view text = message_;
  return text.substr(0, text.find(' '));
}

std::string Error::to_string() const {
  std::string out = error_kind_name(kind_);
  out += ": ";
  out += message_;
  return out;
}

}  // namespace sluice::client
