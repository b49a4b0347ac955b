// PFSELFTEST: an in-server check of the HyperLogLog code on this build and CPU. It writes and
// reads back every dense register, adds the same elements to a value kept sparse and to a dense
// one (their registers and estimates must agree), and checks the estimate's error against the
// HyperLogLog bound. The elements come from a fixed-seed generator, so the outcome is the same
// on every run.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "broker/kv/hyperloglog.h"

namespace sluice::kv::hll {
namespace {

uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string failure(const char* fmt, uint64_t a, uint64_t b) {
  char buf[160];
  int n = std::snprintf(buf, sizeof buf, fmt, static_cast<unsigned long long>(a),
                        static_cast<unsigned long long>(b));
  return std::string(buf, static_cast<size_t>(n));
}

std::string check_dense_layout() {
  uint64_t rng = 1;
  std::string dense = make_empty();
  if (!to_dense(dense)) return "TESTFAILED cannot convert an empty HLL to dense";
  std::vector<uint8_t> expected(kRegisters);
  for (int round = 0; round < 4; ++round) {
    // Rewrite every register: set_register only raises, so start from a fresh value each round.
    std::string v = dense;
    for (uint32_t i = 0; i < kRegisters; ++i) {
      expected[i] = static_cast<uint8_t>(splitmix64(&rng) % 64);
      if (expected[i] != 0) set_register(v, i, expected[i], 0);
    }
    for (uint32_t i = 0; i < kRegisters; ++i) {
      if (dense_register(v, i) != expected[i]) {
        return failure("TESTFAILED Register error at index %llu (expected %llu)", i, expected[i]);
      }
    }
  }
  return {};
}

std::string check_sparse_and_estimate() {
  uint64_t rng = 2;
  std::string sparse = make_empty();
  std::string dense = make_empty();
  if (!to_dense(dense)) return "TESTFAILED cannot convert an empty HLL to dense";
  const double bound = 5 * 1.04 / std::sqrt(static_cast<double>(kRegisters));
  uint64_t added = 0;
  for (uint64_t checkpoint = 10; checkpoint <= 100000; checkpoint *= 2) {
    for (; added < checkpoint; ++added) {
      char element[24];
      int n = std::snprintf(element, sizeof element, "%llx",
                            static_cast<unsigned long long>(splitmix64(&rng)));
      std::string_view e(element, static_cast<size_t>(n));
      // A sparse value may not grow without limit; once it turns dense both are dense.
      if (add(sparse, e, 4 * kDefaultSparseMaxBytes) == SetResult::kCorrupt)
        return "TESTFAILED sparse corrupted";
      add(dense, e, 0);
    }
    uint64_t from_sparse = 0;
    uint64_t from_dense = 0;
    if (!count(sparse, &from_sparse) || !count(dense, &from_dense)) {
      return "TESTFAILED an HLL built by adds does not count";
    }
    if (from_sparse != from_dense) {
      return failure("TESTFAILED sparse and dense disagree (%llu vs %llu)", from_sparse,
                     from_dense);
    }
    const double err = std::fabs(static_cast<double>(from_dense) - static_cast<double>(added));
    if (err > bound * static_cast<double>(added) + 1) {
      return failure("TESTFAILED estimate %llu for %llu elements is out of bounds", from_dense,
                     added);
    }
  }
  return {};
}

}  // namespace

std::string self_test() {
  std::string failed = check_dense_layout();
  if (failed.empty()) failed = check_sparse_and_estimate();
  return failed;
}

}  // namespace sluice::kv::hll
