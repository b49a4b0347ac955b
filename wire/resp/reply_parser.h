// Client-side parser for every RESP2 and RESP3 reply type. Incremental by re-parsing: when the
// buffer holds only part of a reply it says so and consumes nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "wire/resp/value.h"

namespace sluice::wire::resp {

class ReplyParser {
 public:
  enum class Outcome { kValue, kIncomplete, kError };

  // Parses one reply at data[0]. On kValue, *out holds it and *consumed its length.
  // kError means the bytes are not RESP (error() says why); the stream cannot be resynced.
  Outcome parse(std::string_view data, Value* out, size_t* consumed);
  const std::string& error() const { return error_; }

  size_t max_depth = 512;  // nesting limit, so hostile input cannot exhaust the stack

 private:
  std::string error_;
};

}  // namespace sluice::wire::resp
