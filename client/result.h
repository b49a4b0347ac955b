// What a client call yields: a value or a typed Error. Failures are values, never exceptions, so
// a callback-driven caller can branch on them without try/catch around the loop.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice::client {

enum class ErrorKind {
  kReply,            // the server answered with an error reply; message() is its text
  kConnectFailed,    // could not connect (refused, unreachable, handshake rejected)
  kConnectionLost,   // the connection dropped while the command was in flight
  kTimeout,          // no reply within the command's timeout (the connection is reset)
  kProtocol,         // the server sent bytes that are not RESP
  kClosed,           // the client was closed before the command could complete
  kUnexpectedReply,  // a typed helper got a reply of a shape it does not understand
};

const char* error_kind_name(ErrorKind kind);

class Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // For kReply, the error's first word ("ERR", "NOGROUP", "WRONGTYPE", "BUSYGROUP"...).
  std::string_view code() const;
  bool is_reply(std::string_view code_word) const {
    return kind_ == ErrorKind::kReply && code() == code_word;
  }
  // "kind: message", for logs and test failure messages.
  std::string to_string() const;

 private:
  ErrorKind kind_;
  std::string message_;
};

// A value or an Error; holds exactly one of the two.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success carries nothing.
struct Unit {};
using Status = Result<Unit>;

}  // namespace sluice::client
