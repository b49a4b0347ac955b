// Status and Result<T>: how every layer below the command handlers reports expected failures.
// Only broker/commands/error_text.cc turns an ErrorCode into the exact Redis error string.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace sluice::wire {

enum class ErrorCode : uint16_t {
  kOk = 0,
  kSyntax,           // ERR syntax error
  kWrongType,        // WRONGTYPE Operation against a key holding the wrong kind of value
  kNoSuchKey,        // ERR no such key
  kNotInteger,       // ERR value is not an integer or out of range
  kNotFloat,         // ERR value is not a valid float
  kOutOfRange,       // ERR ... is out of range (detail carries the full text)
  kInvalidStreamId,  // ERR Invalid stream ID specified as stream command argument
  kIdTooSmall,       // ERR The ID specified in XADD is equal or smaller than the target ...
  kIdZero,           // ERR The ID specified in XADD must be greater than 0-0
  kNoGroup,          // NOGROUP No such key '<key>' or consumer group '<group>' ...
  kBusyGroup,        // BUSYGROUP Consumer Group name already exists
  kStorageFailed,    // MISCONF ... writes are refused after a storage error
  kIo,               // I/O error (detail)
  kCorruption,       // corrupt data on disk (detail)
  kNotFound,         // a lookup found nothing (storage-level)
  kInvalidArgument,  // detail is the whole error text, prefix included ("ERR ...")
};

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string detail = {}) : code_(code), detail_(std::move(detail)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorCode code() const { return code_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string detail_;
};

// A value or a failed Status. Holds exactly one of the two.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  Result(ErrorCode code, std::string detail = {}) : v_(Status(code, std::move(detail))) {}

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Status& status() const { return std::get<1>(v_); }
  ErrorCode code() const { return is_ok() ? ErrorCode::kOk : status().code(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice::wire
