// Fuzzes ReplyParser: the input is parsed as one read and again as two reads split at a
// fuzzer-chosen point, and both must yield the same replies and the same error.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "wire/check.h"
#include "wire/resp/reply_parser.h"

namespace {

using sluice::wire::resp::ReplyParser;
using sluice::wire::resp::Value;
using Outcome = ReplyParser::Outcome;

bool same(const Value& a, const Value& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
      std::memcmp(&a.dbl, &b.dbl, sizeof(double)) != 0 || a.elems.size() != b.elems.size() ||
      a.attributes.size() != b.attributes.size()) {
    return false;
  }
  for (size_t i = 0; i < a.elems.size(); ++i) {
    if (!same(a.elems[i], b.elems[i])) return false;
  }
  for (size_t i = 0; i < a.attributes.size(); ++i) {
    if (!same(a.attributes[i], b.attributes[i])) return false;
  }
  return true;
}

struct Run {
  std::vector<Value> replies;
  std::vector<size_t> sizes;
  bool failed = false;
  std::string error;
};

Run run(std::string_view input, const std::vector<size_t>& read_ends, size_t max_depth) {
  Run result;
  ReplyParser parser;
  parser.max_depth = max_depth;
  size_t offset = 0;
  for (size_t end : read_ends) {
    while (offset < end) {
      std::string_view buffer = input.substr(offset, end - offset);
      Value value;
      size_t consumed = 0;
      const Outcome outcome = parser.parse(buffer, &value, &consumed);
      if (outcome == Outcome::kIncomplete) {
        SLUICE_CHECK(consumed == 0, "incomplete consumed %zu", consumed);
        break;
      }
      if (outcome == Outcome::kError) {
        SLUICE_CHECK(consumed == 0, "error consumed %zu", consumed);
        result.failed = true;
        result.error = parser.error();
        return result;
      }
      SLUICE_CHECK(consumed > 0 && consumed <= buffer.size(), "consumed %zu of %zu", consumed,
                   buffer.size());
      (void)value.debug_string();
      result.replies.push_back(std::move(value));
      result.sizes.push_back(consumed);
      offset += consumed;
    }
  }
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0 picks the split point, byte 1 the nesting limit; the rest is the stream.
  const size_t split_seed = data[0];
  const size_t max_depth = data[1] % 16 == 0 ? 512 : data[1] % 16;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const size_t split = input.empty() ? 0 : split_seed * 131 % (input.size() + 1);

  const Run whole = run(input, {input.size()}, max_depth);
  const Run parts = run(input, {split, input.size()}, max_depth);
  SLUICE_CHECK(whole.replies.size() == parts.replies.size(), "%zu vs %zu replies (split at %zu)",
               whole.replies.size(), parts.replies.size(), split);
  for (size_t i = 0; i < whole.replies.size(); ++i) {
    SLUICE_CHECK(same(whole.replies[i], parts.replies[i]) && whole.sizes[i] == parts.sizes[i],
                 "reply %zu differs (split at %zu)", i, split);
  }
  SLUICE_CHECK(whole.failed == parts.failed && whole.error == parts.error,
               "error '%s' vs '%s' (split at %zu)", whole.error.c_str(), parts.error.c_str(),
               split);
  return 0;
}
