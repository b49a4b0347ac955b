#include "broker/kv/bitops.h"

#include <algorithm>
#include <cstring>

namespace sluice::kv::bits {
namespace {

__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

inline uint64_t load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

inline void store64(uint8_t* p, uint64_t w) { std::memcpy(p, &w, sizeof w); }

// Eight bytes as a number whose most significant bit is the first bit of p[0].
inline uint64_t load64_msb_first(const uint8_t* p) { return __builtin_bswap64(load64(p)); }

// Four independent sums keep the adds out of one dependency chain.
template <int (*Count)(unsigned long long)>
inline uint64_t popcount_words(const uint8_t* p, size_t n) {
  uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    c0 += static_cast<uint64_t>(Count(load64(p + i)));
    c1 += static_cast<uint64_t>(Count(load64(p + i + 8)));
    c2 += static_cast<uint64_t>(Count(load64(p + i + 16)));
    c3 += static_cast<uint64_t>(Count(load64(p + i + 24)));
  }
  for (; i + 8 <= n; i += 8) c0 += static_cast<uint64_t>(Count(load64(p + i)));
  uint64_t tail = 0;
  if (i < n) std::memcpy(&tail, p + i, n - i);
  return c0 + c1 + c2 + c3 + static_cast<uint64_t>(Count(tail));
}

// Without a popcount instruction: the bit-parallel sum of Hacker's Delight (5-2).
int popcount_swar(unsigned long long x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

uint64_t popcount_portable(const uint8_t* p, size_t n) {
  return popcount_words<popcount_swar>(p, n);
}

#if defined(__x86_64__)
// The build targets baseline x86-64, which lacks POPCNT; this copy is compiled for it and chosen
// at startup when the CPU has it (all x86-64 CPUs of the last fifteen years do).
__attribute__((target("popcnt"))) int popcount_insn(unsigned long long x) {
  return __builtin_popcountll(x);
}
__attribute__((target("popcnt"))) uint64_t popcount_hw(const uint8_t* p, size_t n) {
  return popcount_words<popcount_insn>(p, n);
}
using PopcountFn = uint64_t (*)(const uint8_t*, size_t);
PopcountFn choose_popcount() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("popcnt") ? popcount_hw : popcount_portable;
}
#endif

}  // namespace

uint64_t popcount(const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  static const PopcountFn fn = choose_popcount();
  return fn(p, n);
#else
  return popcount_portable(p, n);
#endif
}

uint64_t count_range(const uint8_t* p, uint64_t first_bit, uint64_t last_bit) {
  const uint64_t first_byte = first_bit >> 3;
  const uint64_t last_byte = last_bit >> 3;
  // Masks of the bits inside the range in the first and last bytes.
  const auto head = static_cast<uint8_t>(0xffu >> (first_bit & 7));
  const auto tail = static_cast<uint8_t>(0xffu << (7 - (last_bit & 7)));
  if (first_byte == last_byte) {
    return static_cast<uint64_t>(popcount_swar(p[first_byte] & head & tail));
  }
  uint64_t n = static_cast<uint64_t>(popcount_swar(p[first_byte] & head)) +
               static_cast<uint64_t>(popcount_swar(p[last_byte] & tail));
  return n + popcount(p + first_byte + 1, last_byte - first_byte - 1);
}

int64_t find_bit(const uint8_t* p, uint64_t first_bit, uint64_t last_bit, bool bit) {
  uint64_t pos = first_bit;
  const uint64_t end = last_bit + 1;
  // Bit by bit up to a byte boundary, then whole words, whole bytes, and the last bits.
  for (; pos < end && (pos & 7) != 0; ++pos) {
    if (((p[pos >> 3] >> (7 - (pos & 7))) & 1) == bit) return static_cast<int64_t>(pos);
  }
  const uint64_t flip = bit ? 0 : ~0ull;
  // Skip 32 bytes at a time while none of them can hold the bit (no byte order needed).
  for (; pos + 256 <= end; pos += 256) {
    const uint8_t* q = p + (pos >> 3);
    const uint64_t a = load64(q), b = load64(q + 8), c = load64(q + 16), d = load64(q + 24);
    if (bit ? (a | b | c | d) != 0 : (a & b & c & d) != ~0ull) break;
  }
  for (; pos + 64 <= end; pos += 64) {
    uint64_t w = load64_msb_first(p + (pos >> 3)) ^ flip;
    if (w != 0) return static_cast<int64_t>(pos + static_cast<uint64_t>(__builtin_clzll(w)));
  }
  for (; pos + 8 <= end; pos += 8) {
    auto b = static_cast<uint8_t>(p[pos >> 3] ^ static_cast<uint8_t>(flip));
    if (b != 0) return static_cast<int64_t>(pos + static_cast<uint64_t>(__builtin_clz(b)) - 24);
  }
  for (; pos < end; ++pos) {
    if (((p[pos >> 3] >> (7 - (pos & 7))) & 1) == bit) return static_cast<int64_t>(pos);
  }
  return -1;
}

void bitop(BitOp op, std::span<const std::string_view> sources, std::string* out) {
  size_t maxlen = 0;
  for (auto s : sources) maxlen = std::max(maxlen, s.size());
  out->assign(maxlen, '\0');
  if (sources.empty() || maxlen == 0) return;
  auto* dst = reinterpret_cast<uint8_t*>(out->data());
  const auto* first = reinterpret_cast<const uint8_t*>(sources[0].data());
  if (op == BitOp::kNot) {
    size_t i = 0;
    for (; i + 8 <= maxlen; i += 8) store64(dst + i, ~load64(first + i));
    for (; i < maxlen; ++i) dst[i] = static_cast<uint8_t>(~first[i]);
    return;
  }
  if (!sources[0].empty()) std::memcpy(dst, first, sources[0].size());  // a missing key has no data
  for (size_t k = 1; k < sources.size(); ++k) {
    const auto* src = reinterpret_cast<const uint8_t*>(sources[k].data());
    const size_t n = sources[k].size();
    size_t i = 0;
    switch (op) {
      case BitOp::kAnd:
        for (; i + 8 <= n; i += 8) store64(dst + i, load64(dst + i) & load64(src + i));
        for (; i < n; ++i) dst[i] &= src[i];
        // Past the end of a shorter source its bytes are zeros.
        std::memset(dst + n, 0, maxlen - n);
        break;
      case BitOp::kOr:
        for (; i + 8 <= n; i += 8) store64(dst + i, load64(dst + i) | load64(src + i));
        for (; i < n; ++i) dst[i] |= src[i];
        break;
      case BitOp::kXor:
        for (; i + 8 <= n; i += 8) store64(dst + i, load64(dst + i) ^ load64(src + i));
        for (; i < n; ++i) dst[i] ^= src[i];
        break;
      case BitOp::kNot:
        break;
    }
  }
}

uint64_t get_unsigned(std::string_view value, uint64_t offset, int bits) {
  // The field spans at most 9 bytes; gather them (zeros past the end) most significant first.
  const uint64_t first_byte = offset >> 3;
  const uint64_t last_byte = (offset + static_cast<uint64_t>(bits) - 1) >> 3;
  UInt128 acc = 0;
  for (uint64_t b = first_byte; b <= last_byte; ++b) {
    uint8_t byte = b < value.size() ? static_cast<uint8_t>(value[b]) : 0;
    acc = (acc << 8) | byte;
  }
  const uint64_t span_bits = (last_byte - first_byte + 1) * 8;
  const uint64_t drop = span_bits - (offset & 7) - static_cast<uint64_t>(bits);
  acc >>= drop;
  const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  return static_cast<uint64_t>(acc) & mask;
}

int64_t get_signed(std::string_view value, uint64_t offset, int bits) {
  uint64_t u = get_unsigned(value, offset, bits);
  if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~0ull << bits;  // sign-extend
  return static_cast<int64_t>(u);
}

void set_field(uint8_t* p, uint64_t offset, int bits, uint64_t v) {
  const uint64_t first_byte = offset >> 3;
  const uint64_t last_byte = (offset + static_cast<uint64_t>(bits) - 1) >> 3;
  const uint64_t nbytes = last_byte - first_byte + 1;
  UInt128 acc = 0;
  for (uint64_t b = 0; b < nbytes; ++b) acc = (acc << 8) | p[first_byte + b];
  const uint64_t drop = nbytes * 8 - (offset & 7) - static_cast<uint64_t>(bits);
  const uint64_t field_mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  const UInt128 mask = static_cast<UInt128>(field_mask) << drop;
  acc = (acc & ~mask) | (static_cast<UInt128>(v & field_mask) << drop);
  for (uint64_t b = nbytes; b-- > 0;) {
    p[first_byte + b] = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
}

bool add_signed(int64_t value, int64_t incr, int bits, Overflow policy, int64_t* result) {
  const Int128 max = (static_cast<Int128>(1) << (bits - 1)) - 1;
  const Int128 min = -max - 1;
  const Int128 sum = static_cast<Int128>(value) + incr;
  if (sum >= min && sum <= max) {
    *result = static_cast<int64_t>(sum);
    return true;
  }
  switch (policy) {
    case Overflow::kFail:
      return false;
    case Overflow::kSat:
      *result = static_cast<int64_t>(sum > max ? max : min);
      return true;
    case Overflow::kWrap:
      break;
  }
  // Two's complement wrap: keep the low `bits` bits and sign-extend them.
  uint64_t low = static_cast<uint64_t>(static_cast<UInt128>(sum));
  if (bits < 64) {
    low &= (1ull << bits) - 1;
    if ((low >> (bits - 1)) & 1) low |= ~0ull << bits;
  }
  *result = static_cast<int64_t>(low);
  return true;
}

bool add_unsigned(uint64_t value, int64_t incr, int bits, Overflow policy, uint64_t* result) {
  const Int128 max = (static_cast<Int128>(1) << bits) - 1;
  const Int128 sum = static_cast<Int128>(value) + incr;
  if (sum >= 0 && sum <= max) {
    *result = static_cast<uint64_t>(sum);
    return true;
  }
  switch (policy) {
    case Overflow::kFail:
      return false;
    case Overflow::kSat:
      *result = sum > max ? static_cast<uint64_t>(max) : 0;
      return true;
    case Overflow::kWrap:
      break;
  }
  *result = static_cast<uint64_t>(static_cast<UInt128>(sum)) & static_cast<uint64_t>(max);
  return true;
}

}  // namespace sluice::kv::bits
