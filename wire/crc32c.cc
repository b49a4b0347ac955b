// CRC32C with SSE4.2's crc32 instruction.
//
// One crc32 instruction has a latency of three cycles but the CPU can start one every cycle, so
// a single dependent chain uses a third of it. Buffers of at least three blocks are therefore
// cut into three equal blocks whose CRCs run side by side and are then joined: the register
// after A||B, started from x, is Z(x) ^ crc_from_zero(B), where Z is the linear map "feed
// |B| zero bytes". Z for a fixed block length is applied with four 256-entry tables (one per
// byte of the register), built once from the one-zero-bit map by squaring. Two block lengths:
// 2 KiB for large buffers (segment writes) and 64 bytes for record-sized ones (a stream entry's
// frame is a few hundred bytes); what remains goes through one chain as before.
#include "wire/crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>

namespace sluice::wire {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

// A 32x32 matrix over GF(2): column i is the image of bit i.
using Matrix = std::array<uint32_t, 32>;

uint32_t apply(const Matrix& m, uint32_t v) {
  uint32_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) out ^= m[i];
  }
  return out;
}

Matrix multiply(const Matrix& a, const Matrix& b) {  // a after b
  Matrix out{};
  for (int i = 0; i < 32; ++i) out[i] = apply(a, b[i]);
  return out;
}

// The map "feed `bytes` zero bytes" on the CRC register, as four byte-indexed tables.
struct ZeroShift {
  std::array<std::array<uint32_t, 256>, 4> table{};

  explicit ZeroShift(size_t bytes) {
    Matrix bit{};  // one zero bit: shift right, fold the polynomial in when bit 0 falls out
    bit[0] = kPoly;
    for (int i = 1; i < 32; ++i) bit[i] = 1u << (i - 1);
    Matrix result{};
    for (int i = 0; i < 32; ++i) result[i] = 1u << i;
    Matrix power = bit;
    for (size_t n = bytes * 8; n != 0; n >>= 1) {
      if (n & 1) result = multiply(power, result);
      power = multiply(power, power);
    }
    for (uint32_t k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) table[k][b] = apply(result, b << (8 * k));
    }
  }

  uint32_t operator()(uint32_t v) const {
    return table[0][v & 0xff] ^ table[1][(v >> 8) & 0xff] ^ table[2][(v >> 16) & 0xff] ^
           table[3][v >> 24];
  }
};

inline uint64_t load64(const unsigned char* p) {
  uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

// Runs the register over three consecutive blocks of `block` bytes each (block % 8 == 0) in
// parallel chains and joins them.
inline uint32_t three_blocks(uint32_t c, const unsigned char* p, size_t block,
                             const ZeroShift& shift) {
  uint64_t c0 = c;
  uint64_t c1 = 0;
  uint64_t c2 = 0;
  const unsigned char* end = p + block;
  for (; p < end; p += 8) {
    c0 = _mm_crc32_u64(c0, load64(p));
    c1 = _mm_crc32_u64(c1, load64(p + block));
    c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
  }
  const uint32_t joined = shift(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
  return shift(joined) ^ static_cast<uint32_t>(c2);
}

constexpr size_t kLongBlock = 2048;
constexpr size_t kShortBlock = 64;

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n) {
  static const ZeroShift long_shift(kLongBlock);
  static const ZeroShift short_shift(kShortBlock);
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (n >= 3 * kLongBlock) {
    c = three_blocks(c, p, kLongBlock, long_shift);
    p += 3 * kLongBlock;
    n -= 3 * kLongBlock;
  }
  while (n >= 3 * kShortBlock) {
    c = three_blocks(c, p, kShortBlock, short_shift);
    p += 3 * kShortBlock;
    n -= 3 * kShortBlock;
  }
  uint64_t c64 = c;
  while (n >= 8) {
    c64 = _mm_crc32_u64(c64, load64(p));
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n > 0) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
  return ~c;
}

}  // namespace sluice::wire
