// HyperLogLog values in Redis's own byte format, so that PFCOUNT gives the same numbers as
// redis-server and a value copied with GET/SET works on either server. An HLL is a plain
// string:
//
//   offset 0   "HYLL"                    magic
//   offset 4   encoding                  0 = dense, 1 = sparse
//   offset 5   3 unused bytes            zero
//   offset 8   cached cardinality        8 bytes little-endian; bit 7 of byte 15 set means
//                                        the cache is stale (PFADD sets only that bit)
//   offset 16  registers                 16384 registers (P = 14) holding run lengths 0..51
//
// Dense: 12288 bytes, register i in the 6 bits starting at bit 6*i, least significant bit
// first (bit 0 of a byte is its least significant bit), so a register may straddle two bytes.
// Sparse: a run-length code covering exactly 16384 registers, three opcodes:
//   ZERO   00xxxxxx            x+1 (1..64) registers at zero
//   XZERO  01xxxxxx yyyyyyyy   (x<<8 | y)+1 (1..16384) registers at zero
//   VAL    1vvvvvxx            x+1 (1..4) registers at value v+1 (1..32)
// A sparse value becomes dense for good when a register needs a value above 32 or when it
// would grow past hll-sparse-max-bytes (header included).
//
// An element's register and run length come from a 64-bit MurmurHash2 (MurmurHash64A, seed
// 0xadc83b19): the low 14 bits pick the register, and the run length is one more than the
// number of trailing zeros of the other 50 bits (51 when they are all zero).
// The cardinality estimate is Otmar Ertl's improved raw estimator ("New cardinality estimation
// algorithms for HyperLogLog sketches", 2017), computed from the histogram of register values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kv::hll {

inline constexpr int kPrecision = 14;
inline constexpr uint32_t kRegisters = 1u << kPrecision;
inline constexpr int kQ = 64 - kPrecision;  // hash bits that feed the run length
inline constexpr int kMaxRunLength = kQ + 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kDenseSize = kHeaderSize + (kRegisters * 6 + 7) / 8;
inline constexpr uint8_t kDense = 0;
inline constexpr uint8_t kSparse = 1;
inline constexpr int kSparseMaxValue = 32;
inline constexpr uint64_t kSeed = 0xadc83b19ull;
inline constexpr size_t kDefaultSparseMaxBytes = 3000;

// Austin Appleby's MurmurHash64A, reading 8-byte blocks as little-endian numbers.
uint64_t murmur_hash64a(const void* data, size_t len, uint64_t seed);

struct Pattern {
  uint32_t index;  // register
  uint8_t count;   // run length, 1..51
};
Pattern pattern_of(std::string_view element);

// What PFADD & co check before touching a value: long enough, the magic, a known encoding, and
// the exact length if dense. Sparse opcodes are checked when they are walked.
bool looks_like_hll(std::string_view value);
inline bool is_dense(std::string_view value) { return value[4] == kDense; }

// A new, empty HLL: sparse, one XZERO opcode, cached cardinality 0 (valid).
std::string make_empty();

bool cache_valid(std::string_view value);
uint64_t cached_cardinality(std::string_view value);
void set_cached_cardinality(std::string& value, uint64_t card);
void invalidate_cache(std::string& value);

enum class SetResult { kUnchanged, kChanged, kCorrupt };

// Raises register `index` to `count` if it is lower (sparse values may turn dense). For a dense
// value that was dense before the call, `changed` (if given) receives the changed register.
SetResult set_register(std::string& value, uint32_t index, uint8_t count, size_t sparse_max_bytes,
                       std::vector<uint32_t>* changed = nullptr);
inline SetResult add(std::string& value, std::string_view element, size_t sparse_max_bytes,
                     std::vector<uint32_t>* changed = nullptr) {
  Pattern p = pattern_of(element);
  return set_register(value, p.index, p.count, sparse_max_bytes, changed);
}

// Rewrites a sparse value as dense (header kept). False if the sparse code is corrupt.
bool to_dense(std::string& value);

// Register `index` of a dense value.
uint8_t dense_register(std::string_view value, uint32_t index);

// max[i] = max(max[i], register i of value) for kRegisters registers. False if corrupt.
bool merge_into(uint8_t* max, std::string_view value);

// The cardinality of a value (false if corrupt), or of registers one byte each.
bool count(std::string_view value, uint64_t* out);
uint64_t count_registers(const uint8_t* registers);
// The estimator over a histogram: hist[v] = number of registers holding v (64 entries).
uint64_t estimate(const int* hist);

// PFDEBUG DECODE's text ("Z:1646 v:1,1 z:3 ..."). False if corrupt.
bool describe_sparse(std::string_view value, std::string* out);

// For journaling a dense value's changed registers: the byte ranges [begin, end) of the value
// that hold them, sorted, with ranges closer than `gap` bytes joined.
std::vector<std::pair<size_t, size_t>> dense_byte_ranges(std::vector<uint32_t>& registers,
                                                         size_t gap);

// PFSELFTEST: checks the register layout and the estimator's error. Empty on success, else
// what failed.
std::string self_test();

}  // namespace sluice::kv::hll
