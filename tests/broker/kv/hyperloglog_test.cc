#include "broker/kv/hyperloglog.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

namespace sluice::kv::hll {
namespace {

// Registers of any value, one byte each.
std::vector<uint8_t> registers_of(std::string value) {
  std::vector<uint8_t> regs(kRegisters, 0);
  REQUIRE(merge_into(regs.data(), value));
  return regs;
}

std::string with_elements(const std::vector<std::string>& elements, size_t sparse_max) {
  std::string v = make_empty();
  for (const auto& e : elements) REQUIRE(add(v, e, sparse_max) != SetResult::kCorrupt);
  return v;
}

std::vector<std::string> numbered(int n, const char* prefix = "") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST_SUITE("kv.hyperloglog") {
  TEST_CASE("PFADD a b c gives the bytes redis-server 7.0 gives") {
    std::string v = with_elements({"a", "b", "c"}, kDefaultSparseMaxBytes);
    invalidate_cache(v);
    const std::string redis(
        "HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a", 27);
    CHECK(v == redis);
    std::string text;
    REQUIRE(describe_sparse(v, &text));
    CHECK(text == "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
    uint64_t card = 0;
    REQUIRE(count(v, &card));
    CHECK(card == 3);
  }

  TEST_CASE("estimates equal redis-server's for the same elements, sparse and dense") {
    uint64_t card = 0;
    std::string small = with_elements(numbered(100), kDefaultSparseMaxBytes);
    CHECK_FALSE(is_dense(small));
    REQUIRE(count(small, &card));
    CHECK(card == 100);
    std::string v = with_elements(numbered(10000), kDefaultSparseMaxBytes);
    CHECK(is_dense(v));
    REQUIRE(count(v, &card));
    CHECK(card == 9987);
  }

  TEST_CASE("an empty value is sparse, counts zero and has a valid cache") {
    std::string v = make_empty();
    CHECK(v.size() == kHeaderSize + 2);
    CHECK(looks_like_hll(v));
    CHECK(cache_valid(v));
    CHECK(cached_cardinality(v) == 0);
    uint64_t card = 1;
    REQUIRE(count(v, &card));
    CHECK(card == 0);
    set_cached_cardinality(v, 0x0102030405060708ull);
    CHECK(cache_valid(v));
    CHECK(cached_cardinality(v) == 0x0102030405060708ull);
    invalidate_cache(v);
    CHECK_FALSE(cache_valid(v));
    CHECK(static_cast<uint8_t>(v[8]) == 0x08);  // only the stale bit changes
  }

  TEST_CASE("sparse and dense values fed the same elements hold the same registers") {
    std::mt19937_64 rng(5);
    for (int n : {1, 10, 300, 2000, 20000}) {
      std::string sparse = make_empty();
      std::string dense = make_empty();
      REQUIRE(to_dense(dense));
      for (int i = 0; i < n; ++i) {
        std::string e = std::to_string(rng());
        add(sparse, e, 1 << 20);
        add(dense, e, 0);
      }
      CHECK(registers_of(sparse) == registers_of(dense));
      uint64_t a = 0, b = 0;
      REQUIRE(count(sparse, &a));
      REQUIRE(count(dense, &b));
      CHECK(a == b);
      // Converting keeps every register and the header.
      std::string converted = sparse;
      REQUIRE(to_dense(converted));
      CHECK(converted.size() == kDenseSize);
      CHECK(converted.substr(kHeaderSize) == dense.substr(kHeaderSize));
      CHECK(converted.compare(5, 11, sparse, 5, 11) == 0);
    }
  }

  TEST_CASE("a sparse value never outgrows hll-sparse-max-bytes and turns dense instead") {
    std::string v = make_empty();
    bool promoted = false;
    for (int i = 0; i < 5000 && !promoted; ++i) {
      std::string before = v;
      REQUIRE(add(v, "e" + std::to_string(i), 300) != SetResult::kCorrupt);
      if (is_dense(v)) {
        promoted = true;
        // The registers are those of the sparse value plus the new element.
        std::string expected = before;
        REQUIRE(to_dense(expected));
        Pattern p = pattern_of("e" + std::to_string(i));
        if (dense_register(expected, p.index) < p.count) {
          set_register(expected, p.index, p.count, 0);
        }
        CHECK(expected == v);
      } else {
        CHECK(v.size() <= 300);
      }
    }
    CHECK(promoted);
  }

  TEST_CASE("a run length above 32 turns a sparse value dense at once") {
    std::string v = make_empty();
    CHECK(set_register(v, 77, 33, kDefaultSparseMaxBytes) == SetResult::kChanged);
    CHECK(is_dense(v));
    CHECK(dense_register(v, 77) == 33);
    CHECK(set_register(v, 77, 20, kDefaultSparseMaxBytes) == SetResult::kUnchanged);
  }

  TEST_CASE("merging equals adding the union") {
    auto a = numbered(3000, "a");
    auto b = numbered(50, "b");
    std::vector<std::string> both = a;
    both.insert(both.end(), b.begin(), b.end());
    std::vector<uint8_t> regs(kRegisters, 0);
    REQUIRE(merge_into(regs.data(), with_elements(a, kDefaultSparseMaxBytes)));
    REQUIRE(merge_into(regs.data(), with_elements(b, kDefaultSparseMaxBytes)));
    CHECK(regs == registers_of(with_elements(both, kDefaultSparseMaxBytes)));
    uint64_t card = 0;
    REQUIRE(count(with_elements(both, kDefaultSparseMaxBytes), &card));
    CHECK(count_registers(regs.data()) == card);
  }

  TEST_CASE("sparse codes that do not cover exactly 16384 registers are reported corrupt") {
    std::string header = make_empty().substr(0, kHeaderSize);
    for (std::string ops : {std::string("\x7f\xff\x00", 3), std::string("\x7f\xfe", 2),
                            std::string("\x7f", 1), std::string()}) {
      std::string v = header + ops;
      uint64_t card = 0;
      CHECK_FALSE(count(v, &card));
      std::string d = v;
      CHECK_FALSE(to_dense(d));
      std::vector<uint8_t> regs(kRegisters, 0);
      CHECK_FALSE(merge_into(regs.data(), v));
    }
    CHECK_FALSE(looks_like_hll("HYLL"));
    CHECK_FALSE(looks_like_hll(std::string("HYLL\x02", 5) + std::string(13, '\0')));
    CHECK_FALSE(looks_like_hll(std::string("HYLL\x00", 5) + std::string(13, '\0')));
    CHECK(looks_like_hll(std::string("HYLL\x00", 5) + std::string(kDenseSize - 5, '\0')));
  }

  TEST_CASE("any bytes after a sparse header are handled without reading past the value") {
    std::mt19937_64 rng(17);
    const std::string header = make_empty().substr(0, kHeaderSize);
    int counted = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      std::string ops(rng() % 24, '\0');
      for (auto& c : ops) c = static_cast<char>(rng());
      // Mostly valid-looking codes: a long zero run first makes the totals land near 16384.
      if (trial % 2 == 0) ops = std::string("\x7f\xc0", 2) + ops;
      const std::string v = header + ops;
      uint64_t card = 0;
      bool ok = count(v, &card);
      std::vector<uint8_t> regs(kRegisters, 0);
      CHECK(merge_into(regs.data(), v) == ok);
      std::string d = v;
      CHECK(to_dense(d) == ok);
      std::string text;
      describe_sparse(v, &text);
      std::string w = v;
      set_register(w, static_cast<uint32_t>(rng() % kRegisters),
                   static_cast<uint8_t>(1 + rng() % 51), rng() % 200);
      counted += ok ? 1 : 0;
    }
    CHECK(counted > 0);
  }

  TEST_CASE("register values no element set can reach overflow the estimate as in Redis") {
    std::string v = std::string("HYLL\x00", 5) + std::string(kDenseSize - 5, '\xff');
    uint64_t card = 0;
    REQUIRE(count(v, &card));
    CHECK(card == 1ull << 63);
  }

  TEST_CASE("changed dense registers map to the bytes that hold them") {
    std::vector<uint32_t> regs = {3, 0, 1, 5000};
    auto ranges = dense_byte_ranges(regs, 0);
    REQUIRE(ranges.size() == 2);
    CHECK(ranges[0] == std::pair<size_t, size_t>{kHeaderSize, kHeaderSize + 3});
    CHECK(ranges[1] == std::pair<size_t, size_t>{kHeaderSize + 3750, kHeaderSize + 3751});
    std::vector<uint32_t> last = {kRegisters - 1};
    CHECK(dense_byte_ranges(last, 0)[0].second == kDenseSize);
  }

  TEST_CASE("the self test passes") { CHECK(self_test() == ""); }
}

}  // namespace
}  // namespace sluice::kv::hll
