// Fuzzes RequestParser: the input is parsed as one read and again as two reads split at a
// fuzzer-chosen point, and both must yield the same commands and the same error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/check.h"
#include "wire/resp/request_parser.h"

namespace {

using sluice::wire::resp::RequestLimits;
using sluice::wire::resp::RequestParser;
using Outcome = RequestParser::Outcome;

struct Run {
  std::vector<std::vector<std::string>> commands;
  bool failed = false;
  std::string error;
  bool too_big_on_short_read = false;  // a "too big" error that only a short read can cause
};

// Feeds `input` as a connection would, in reads ending at each of `read_ends`.
Run run(std::string_view input, const std::vector<size_t>& read_ends, const RequestLimits& limits) {
  Run result;
  RequestParser parser(limits);
  std::vector<std::string_view> argv;
  size_t offset = 0;
  for (size_t end : read_ends) {
    while (offset < end) {
      std::string_view buffer = input.substr(offset, end - offset);
      size_t consumed = 0;
      const Outcome outcome = parser.parse(buffer, &argv, &consumed);
      if (outcome == Outcome::kIncomplete) {
        SLUICE_CHECK(consumed == 0, "incomplete consumed %zu", consumed);
        break;
      }
      if (outcome == Outcome::kError) {
        result.failed = true;
        result.error = parser.error();
        result.too_big_on_short_read = end < input.size() &&
                                       result.error.find("too big") != std::string::npos &&
                                       buffer.size() > limits.max_inline_len;
        return result;
      }
      SLUICE_CHECK(consumed > 0 && consumed <= buffer.size(), "consumed %zu of %zu", consumed,
                   buffer.size());
      result.commands.emplace_back(argv.begin(), argv.end());
      offset += consumed;
    }
  }
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0 picks the split point, byte 1 small or default limits; the rest is the stream.
  const size_t split_seed = data[0];
  const bool small_limits = (data[1] & 1) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  RequestLimits limits;
  if (small_limits) {
    limits.max_bulk_len = 32;
    limits.max_multibulk_len = 8;
    limits.max_inline_len = 48;
  }
  const size_t split = input.empty() ? 0 : split_seed * 131 % (input.size() + 1);

  const Run whole = run(input, {input.size()}, limits);
  const Run parts = run(input, {split, input.size()}, limits);
  if (parts.too_big_on_short_read) {
    // Redis refuses an over-long partial line as soon as it sees it; a longer read could have
    // completed it. Only the commands before it must agree.
    SLUICE_CHECK(parts.commands.size() <= whole.commands.size(), "more commands when split");
    for (size_t i = 0; i < parts.commands.size(); ++i) {
      SLUICE_CHECK(parts.commands[i] == whole.commands[i], "command %zu differs", i);
    }
    return 0;
  }
  SLUICE_CHECK(whole.commands == parts.commands, "%zu vs %zu commands (split at %zu)",
               whole.commands.size(), parts.commands.size(), split);
  SLUICE_CHECK(whole.failed == parts.failed && whole.error == parts.error,
               "error '%s' vs '%s' (split at %zu)", whole.error.c_str(), parts.error.c_str(),
               split);
  return 0;
}
