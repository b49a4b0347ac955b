// Bit arithmetic on string values, as Redis's bitmap commands see them: the value is a byte
// array and bit 0 is the most significant bit of byte 0. Counting and searching work a word
// at a time; BITFIELD's integers may straddle bytes and read bits past the end as zeros.
// No RESP here: commands/bitmap_commands.cc parses and replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sluice::kv::bits {

// Set bits in the bytes [p, p + n).
uint64_t popcount(const uint8_t* p, size_t n);

// Set bits among the bit positions [first_bit, last_bit] (inclusive, first_bit <= last_bit,
// both inside the buffer).
uint64_t count_range(const uint8_t* p, uint64_t first_bit, uint64_t last_bit);

// The position of the first bit equal to `bit` among [first_bit, last_bit] (inclusive, both
// inside the buffer), or -1 when there is none.
int64_t find_bit(const uint8_t* p, uint64_t first_bit, uint64_t last_bit, bool bit);

// The bit at `offset` of `value` (0 past its end).
inline int get_bit(std::string_view value, uint64_t offset) {
  const uint64_t byte = offset >> 3;
  if (byte >= value.size()) return 0;
  return (static_cast<uint8_t>(value[byte]) >> (7 - (offset & 7))) & 1;
}

enum class BitOp { kAnd, kOr, kXor, kNot };

// BITOP: the result is as long as the longest source, shorter sources read as zero-padded.
// kNot takes exactly one source.
void bitop(BitOp op, std::span<const std::string_view> sources, std::string* out);

// BITFIELD integers: `bits` (1..64) bits starting at bit `offset`, most significant bit first.
uint64_t get_unsigned(std::string_view value, uint64_t offset, int bits);
int64_t get_signed(std::string_view value, uint64_t offset, int bits);
// Writes the low `bits` bits of `v` at `offset`; the caller made the buffer long enough.
void set_field(uint8_t* p, uint64_t offset, int bits, uint64_t v);

enum class Overflow { kWrap, kSat, kFail };

// The result of `value + incr` stored in a field of `bits` bits under the overflow policy.
// Returns false only when it overflows under kFail (nothing may be written then).
bool add_signed(int64_t value, int64_t incr, int bits, Overflow policy, int64_t* result);
bool add_unsigned(uint64_t value, int64_t incr, int bits, Overflow policy, uint64_t* result);

}  // namespace sluice::kv::bits
