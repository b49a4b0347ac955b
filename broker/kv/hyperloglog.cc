#include "broker/kv/hyperloglog.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace sluice::kv::hll {
namespace {

constexpr char kMagic[4] = {'H', 'Y', 'L', 'L'};
constexpr uint8_t kStaleBit = 0x80;  // in byte 15, the last of the cached cardinality

// Sparse opcodes.
constexpr uint8_t kXZeroBit = 0x40;
constexpr uint8_t kValBit = 0x80;
constexpr uint32_t kZeroMaxRun = 64;
constexpr uint32_t kValMaxRun = 4;

inline bool op_is_val(uint8_t op) { return (op & kValBit) != 0; }
inline bool op_is_xzero(uint8_t op) { return (op & 0xc0) == kXZeroBit; }
inline uint8_t val_value(uint8_t op) { return static_cast<uint8_t>(((op >> 2) & 0x1f) + 1); }
inline uint32_t val_run(uint8_t op) { return (op & 3u) + 1; }
inline uint8_t make_val(uint8_t value, uint32_t run) {
  return static_cast<uint8_t>(kValBit | ((value - 1) << 2) | (run - 1));
}

// One decoded opcode.
struct Op {
  uint32_t run;   // registers covered
  uint8_t value;  // 0 for ZERO/XZERO
  uint8_t size;   // bytes: 2 for XZERO, else 1
};

// Decodes the opcode at p[i]; false if an XZERO is cut short by the end.
inline bool read_op(const uint8_t* p, size_t i, size_t end, Op* op) {
  const uint8_t b = p[i];
  if (op_is_val(b)) {
    *op = {val_run(b), val_value(b), 1};
  } else if (op_is_xzero(b)) {
    if (i + 1 >= end) return false;
    *op = {((static_cast<uint32_t>(b & 0x3f) << 8) | p[i + 1]) + 1, 0, 2};
  } else {
    *op = {(b & 0x3fu) + 1, 0, 1};
  }
  return true;
}

// Appends the opcodes of `run` zero registers (run <= 16384) to out; returns the new length.
inline size_t put_zeros(uint8_t* out, size_t n, uint32_t run) {
  if (run <= kZeroMaxRun) {
    out[n++] = static_cast<uint8_t>(run - 1);
  } else {
    out[n++] = static_cast<uint8_t>(kXZeroBit | ((run - 1) >> 8));
    out[n++] = static_cast<uint8_t>((run - 1) & 0xff);
  }
  return n;
}

inline uint8_t* bytes_of(std::string& s) { return reinterpret_cast<uint8_t*>(s.data()); }
inline const uint8_t* bytes_of(std::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// Dense registers: register i occupies the 6 bits from bit 6*i, least significant first.
inline uint8_t get_reg(const uint8_t* regs, uint32_t i) {
  const uint32_t bit = i * 6;
  const uint32_t byte = bit >> 3;
  const uint32_t shift = bit & 7;
  unsigned v = regs[byte] >> shift;
  if (shift > 2) v |= static_cast<unsigned>(regs[byte + 1]) << (8 - shift);
  return static_cast<uint8_t>(v & 63);
}

inline void put_reg(uint8_t* regs, uint32_t i, uint8_t value) {
  const uint32_t bit = i * 6;
  const uint32_t byte = bit >> 3;
  const uint32_t shift = bit & 7;
  regs[byte] = static_cast<uint8_t>((regs[byte] & ~(63u << shift)) | (value << shift));
  if (shift > 2) {
    const uint32_t rest = 8 - shift;
    regs[byte + 1] = static_cast<uint8_t>((regs[byte + 1] & ~(63u >> rest)) | (value >> rest));
  }
}

SetResult dense_set(std::string& value, uint32_t index, uint8_t count,
                    std::vector<uint32_t>* changed) {
  uint8_t* regs = bytes_of(value) + kHeaderSize;
  if (get_reg(regs, index) >= count) return SetResult::kUnchanged;
  put_reg(regs, index, count);
  if (changed) changed->push_back(index);
  return SetResult::kChanged;
}

// Joins VAL opcodes of equal value whose runs fit in one, looking at five opcodes from `from`
// (the opcode before the one just rewritten), so that a value built by any sequence of adds
// keeps the same bytes as Redis's.
void merge_adjacent_vals(std::string& value, size_t from) {
  size_t i = from;
  for (int budget = 5; i < value.size() && budget > 0; --budget) {
    const uint8_t* p = bytes_of(value);
    const uint8_t b = p[i];
    if (!op_is_val(b)) {
      i += op_is_xzero(b) ? 2 : 1;
      continue;
    }
    if (i + 1 < value.size() && op_is_val(p[i + 1]) && val_value(b) == val_value(p[i + 1])) {
      const uint32_t run = val_run(b) + val_run(p[i + 1]);
      if (run <= kValMaxRun) {
        value[i + 1] = static_cast<char>(make_val(val_value(b), run));
        value.erase(i, 1);
        continue;  // the joined opcode may join the next one too
      }
    }
    ++i;
  }
}

SetResult sparse_set(std::string& value, uint32_t index, uint8_t count, size_t sparse_max_bytes) {
  auto promote = [&]() {
    if (!to_dense(value)) return SetResult::kCorrupt;
    return dense_set(value, index, count, nullptr);
  };
  if (count > kSparseMaxValue) return promote();

  // Find the opcode covering `index`: it starts at byte `pos` and register `first`.
  const uint8_t* p = bytes_of(value);
  const size_t end = value.size();
  size_t pos = kHeaderSize;
  size_t prev = 0;     // 0: `pos` is the first opcode
  uint64_t first = 0;  // 64 bits: a corrupt value may cover far more than 16384 registers
  Op op{};
  bool found = false;
  while (pos < end) {
    if (!read_op(p, pos, end, &op)) return SetResult::kCorrupt;
    if (index < first + op.run) {
      found = true;
      break;
    }
    prev = pos;
    pos += op.size;
    first += op.run;
  }
  if (!found) return SetResult::kCorrupt;

  // Offsets inside the run, which is at most 16384 long.
  const auto before = static_cast<uint32_t>(index - first);
  const uint32_t after = op.run - 1 - before;
  if (op.value != 0) {
    if (op.value >= count) return SetResult::kUnchanged;
    if (op.run == 1) {
      value[pos] = static_cast<char>(make_val(count, 1));
      merge_adjacent_vals(value, prev ? prev : kHeaderSize);
      return SetResult::kChanged;
    }
  } else if (op.size == 1 && op.run == 1) {
    value[pos] = static_cast<char>(make_val(count, 1));
    merge_adjacent_vals(value, prev ? prev : kHeaderSize);
    return SetResult::kChanged;
  }

  // Split the run into (before, our register, after): at most 5 bytes.
  uint8_t seq[5];
  size_t n = 0;
  if (op.value == 0) {
    if (before != 0) n = put_zeros(seq, n, before);
    seq[n++] = make_val(count, 1);
    if (after != 0) n = put_zeros(seq, n, after);
  } else {
    if (before != 0) seq[n++] = make_val(op.value, before);
    seq[n++] = make_val(count, 1);
    if (after != 0) seq[n++] = make_val(op.value, after);
  }
  if (n > op.size && value.size() + (n - op.size) > sparse_max_bytes) return promote();
  value.replace(pos, op.size, reinterpret_cast<const char*>(seq), n);
  merge_adjacent_vals(value, prev ? prev : kHeaderSize);
  return SetResult::kChanged;
}

// Ertl's sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), summed until it stops changing.
double sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  double previous;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (previous != z);
  return z;
}

// Ertl's tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3.
double tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  double previous;
  do {
    x = std::sqrt(x);
    previous = z;
    y *= 0.5;
    const double d = 1.0 - x;
    z -= d * d * y;
  } while (previous != z);
  return z / 3.0;
}

bool sparse_histogram(std::string_view value, int* hist) {
  const uint8_t* p = bytes_of(value);
  const size_t end = value.size();
  uint32_t total = 0;
  Op op{};
  for (size_t i = kHeaderSize; i < end; i += op.size) {
    if (!read_op(p, i, end, &op)) return false;
    hist[op.value] += static_cast<int>(op.run);
    total += op.run;
    if (total > kRegisters) return false;
  }
  return total == kRegisters;
}

void dense_histogram(const uint8_t* regs, int* hist) {
  // Four 6-bit registers in every 3 bytes.
  for (uint32_t i = 0; i < kRegisters / 4; ++i, regs += 3) {
    const uint32_t w =
        regs[0] | (static_cast<uint32_t>(regs[1]) << 8) | (static_cast<uint32_t>(regs[2]) << 16);
    ++hist[w & 63];
    ++hist[(w >> 6) & 63];
    ++hist[(w >> 12) & 63];
    ++hist[w >> 18];
  }
}

}  // namespace

uint64_t murmur_hash64a(const void* data, size_t len, uint64_t seed) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ull;
  constexpr int r = 47;
  uint64_t h = seed ^ (len * m);
  const auto* p = static_cast<const uint8_t*>(data);
  const uint8_t* blocks_end = p + (len & ~size_t{7});
  for (; p != blocks_end; p += 8) {
    uint64_t k = 0;
    for (int b = 7; b >= 0; --b) k = (k << 8) | p[b];  // little-endian on any host
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const size_t tail = len & 7;
  if (tail != 0) {
    for (size_t b = tail; b-- > 0;) h ^= static_cast<uint64_t>(p[b]) << (8 * b);
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

Pattern pattern_of(std::string_view element) {
  const uint64_t hash = murmur_hash64a(element.data(), element.size(), kSeed);
  const auto index = static_cast<uint32_t>(hash & (kRegisters - 1));
  // A sentinel bit past the Q used bits bounds the run length at Q + 1.
  const uint64_t rest = (hash >> kPrecision) | (1ull << kQ);
  return {index, static_cast<uint8_t>(__builtin_ctzll(rest) + 1)};
}

bool looks_like_hll(std::string_view value) {
  if (value.size() < kHeaderSize || std::memcmp(value.data(), kMagic, 4) != 0) return false;
  const auto encoding = static_cast<uint8_t>(value[4]);
  if (encoding > kSparse) return false;
  return encoding != kDense || value.size() == kDenseSize;
}

std::string make_empty() {
  std::string v(kHeaderSize, '\0');
  std::memcpy(v.data(), kMagic, 4);
  v[4] = static_cast<char>(kSparse);
  uint8_t ops[2];
  size_t n = put_zeros(ops, 0, kRegisters);
  v.append(reinterpret_cast<const char*>(ops), n);
  return v;
}

bool cache_valid(std::string_view value) {
  return (static_cast<uint8_t>(value[15]) & kStaleBit) == 0;
}

uint64_t cached_cardinality(std::string_view value) {
  uint64_t card = 0;
  for (int i = 7; i >= 0; --i) card = (card << 8) | static_cast<uint8_t>(value[8 + i]);
  return card;
}

void set_cached_cardinality(std::string& value, uint64_t card) {
  for (int i = 0; i < 8; ++i) value[8 + i] = static_cast<char>((card >> (8 * i)) & 0xff);
}

void invalidate_cache(std::string& value) {
  value[15] = static_cast<char>(static_cast<uint8_t>(value[15]) | kStaleBit);
}

SetResult set_register(std::string& value, uint32_t index, uint8_t count, size_t sparse_max_bytes,
                       std::vector<uint32_t>* changed) {
  if (is_dense(value)) return dense_set(value, index, count, changed);
  return sparse_set(value, index, count, sparse_max_bytes);
}

bool to_dense(std::string& value) {
  if (is_dense(value)) return true;
  std::string dense(kDenseSize, '\0');
  std::memcpy(dense.data(), value.data(), kHeaderSize);  // magic and cached cardinality
  dense[4] = static_cast<char>(kDense);
  uint8_t* regs = bytes_of(dense) + kHeaderSize;
  const uint8_t* p = bytes_of(value);
  const size_t end = value.size();
  uint32_t reg = 0;
  Op op{};
  for (size_t i = kHeaderSize; i < end; i += op.size) {
    if (!read_op(p, i, end, &op) || op.run > kRegisters - reg) return false;
    if (op.value != 0) {
      for (uint32_t k = 0; k < op.run; ++k) put_reg(regs, reg + k, op.value);
    }
    reg += op.run;
  }
  if (reg != kRegisters) return false;
  value.swap(dense);
  return true;
}

uint8_t dense_register(std::string_view value, uint32_t index) {
  return get_reg(bytes_of(value) + kHeaderSize, index);
}

bool merge_into(uint8_t* max, std::string_view value) {
  if (is_dense(value)) {
    const uint8_t* regs = bytes_of(value) + kHeaderSize;
    for (uint32_t i = 0; i < kRegisters; ++i) max[i] = std::max(max[i], get_reg(regs, i));
    return true;
  }
  const uint8_t* p = bytes_of(value);
  const size_t end = value.size();
  uint32_t reg = 0;
  Op op{};
  for (size_t i = kHeaderSize; i < end; i += op.size) {
    if (!read_op(p, i, end, &op)) return false;
    if (op.run > kRegisters - reg) return false;
    if (op.value != 0) {
      for (uint32_t k = 0; k < op.run; ++k) max[reg + k] = std::max(max[reg + k], op.value);
    }
    reg += op.run;
  }
  return reg == kRegisters;
}

uint64_t estimate(const int* hist) {
  const double m = kRegisters;
  double z = m * tau((m - hist[kQ + 1]) / m);
  for (int j = kQ; j >= 1; --j) {
    z += hist[j];
    z *= 0.5;
  }
  z += m * sigma(hist[0] / m);
  constexpr double kAlphaInf = 0.721347520444481703680;  // 1 / (2 ln 2)
  const double e = kAlphaInf * m * m / z;
  // Registers no real set produces (all at the maximum...) make z zero or tiny. Redis's
  // rounding then overflows to LLONG_MIN, which it stores and replies; so do we.
  if (!(e < 9223372036854775808.0)) return 1ull << 63;
  return static_cast<uint64_t>(std::llround(e));
}

bool count(std::string_view value, uint64_t* out) {
  int hist[64] = {};
  if (is_dense(value)) {
    dense_histogram(bytes_of(value) + kHeaderSize, hist);
  } else if (!sparse_histogram(value, hist)) {
    return false;
  }
  *out = estimate(hist);
  return true;
}

uint64_t count_registers(const uint8_t* registers) {
  int hist[64] = {};
  for (uint32_t i = 0; i < kRegisters; ++i) ++hist[registers[i] & 63];
  return estimate(hist);
}

bool describe_sparse(std::string_view value, std::string* out) {
  const uint8_t* p = bytes_of(value);
  const size_t end = value.size();
  out->clear();
  Op op{};
  char buf[32];
  for (size_t i = kHeaderSize; i < end; i += op.size) {
    if (!read_op(p, i, end, &op)) return false;
    int n;
    if (op.value != 0) {
      n = std::snprintf(buf, sizeof buf, "v:%u,%u ", op.value, op.run);
    } else {
      n = std::snprintf(buf, sizeof buf, "%c:%u ", op.size == 2 ? 'Z' : 'z', op.run);
    }
    out->append(buf, static_cast<size_t>(n));
  }
  if (!out->empty()) out->pop_back();
  return true;
}

std::vector<std::pair<size_t, size_t>> dense_byte_ranges(std::vector<uint32_t>& registers,
                                                         size_t gap) {
  std::sort(registers.begin(), registers.end());
  std::vector<std::pair<size_t, size_t>> ranges;
  for (uint32_t r : registers) {
    const size_t first_bit = static_cast<size_t>(r) * 6;
    const size_t begin = kHeaderSize + first_bit / 8;
    const size_t end = kHeaderSize + (first_bit + 5) / 8 + 1;
    if (!ranges.empty() && begin <= ranges.back().second + gap) {
      ranges.back().second = std::max(ranges.back().second, end);
    } else {
      ranges.emplace_back(begin, end);
    }
  }
  return ranges;
}

}  // namespace sluice::kv::hll
