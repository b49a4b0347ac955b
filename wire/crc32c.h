// CRC32C (Castagnoli) with the CPU's crc32 instruction, and LevelDB-style masking so that a CRC
// stored inside data that is itself checksummed does not weaken the outer check.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::wire {

// Extends `crc` (the CRC of some prefix) with n more bytes. crc32c_extend(0, p, n) == crc32c(p, n).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32c(const void* data, size_t n) { return crc32c_extend(0, data, n); }

inline constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }
inline uint32_t crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace sluice::wire
