// StreamId {ms, seq}: the ID of a stream entry, ordered as Redis orders them.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

namespace sluice::wire {

struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;

  auto operator<=>(const StreamId&) const = default;

  static constexpr StreamId min() { return {0, 0}; }
  static constexpr StreamId max() {
    return {std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max()};
  }
  bool is_zero() const { return ms == 0 && seq == 0; }

  // The next ID in order; false when this is max().
  bool increment(StreamId* out) const;
  // The previous ID in order; false when this is 0-0.
  bool decrement(StreamId* out) const;

  // Writes "ms-seq" into buf (at least kMaxText bytes), returns the length.
  static constexpr size_t kMaxText = 41;
  size_t format(char* buf) const;
  std::string to_string() const;

  // 16 big-endian bytes: byte order equals ID order.
  void encode_be(uint8_t out[16]) const;
  static StreamId decode_be(const uint8_t in[16]);
};

// Parses "ms" or "ms-seq" as Redis's streamParseID does: each part goes through string2ull,
// whose strtoull fallback also takes leading zeros, blanks and a sign ("01-+2" is 1-2); at most
// 127 bytes, read up to the first NUL. When the "-seq" part is absent, seq is `missing_seq`.
// With `allow_seq_star`, "ms-*" is accepted and *seq_star set. Returns false for anything
// else, including "-", "+", "$", "*" (callers handle those).
bool parse_stream_id(std::string_view text, StreamId* out, uint64_t missing_seq = 0,
                     bool allow_seq_star = false, bool* seq_star = nullptr);

// Strict unsigned 64-bit decimal parse, as Redis's string2ull: digits only, no overflow.
bool parse_u64(std::string_view text, uint64_t* out);
// Strict signed 64-bit decimal parse, as Redis's string2ll.
bool parse_i64(std::string_view text, int64_t* out);

}  // namespace sluice::wire
