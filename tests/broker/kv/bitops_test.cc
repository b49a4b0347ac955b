#include "broker/kv/bitops.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sluice::kv::bits {
namespace {

int naive_bit(const std::string& s, uint64_t pos) {
  return (static_cast<uint8_t>(s[pos >> 3]) >> (7 - (pos & 7))) & 1;
}

std::string random_bytes(std::mt19937_64& rng, size_t n, int density_percent) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n * 8; ++i) {
    if (static_cast<int>(rng() % 100) < density_percent)
      s[i >> 3] |= static_cast<char>(0x80 >> (i & 7));
  }
  return s;
}

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

TEST_SUITE("kv.bitops") {
  TEST_CASE("popcount and count_range agree with a bit-by-bit count at every length and edge") {
    std::mt19937_64 rng(7);
    for (size_t n : {0, 1, 7, 8, 9, 31, 32, 33, 100, 1000}) {
      std::string s = random_bytes(rng, n, 40);
      uint64_t expected = 0;
      for (uint64_t i = 0; i < n * 8; ++i) expected += static_cast<uint64_t>(naive_bit(s, i));
      CHECK(popcount(bytes(s), n) == expected);
      if (n == 0) continue;
      for (int trial = 0; trial < 50; ++trial) {
        uint64_t a = rng() % (n * 8);
        uint64_t b = rng() % (n * 8);
        if (a > b) std::swap(a, b);
        uint64_t want = 0;
        for (uint64_t i = a; i <= b; ++i) want += static_cast<uint64_t>(naive_bit(s, i));
        CHECK(count_range(bytes(s), a, b) == want);
      }
    }
  }

  TEST_CASE("find_bit returns the first matching bit of a range, or -1") {
    std::mt19937_64 rng(11);
    for (int density : {0, 1, 50, 99, 100}) {
      std::string s = random_bytes(rng, 200, density);
      for (int trial = 0; trial < 200; ++trial) {
        uint64_t a = rng() % 1600;
        uint64_t b = rng() % 1600;
        if (a > b) std::swap(a, b);
        for (bool bit : {false, true}) {
          int64_t want = -1;
          for (uint64_t i = a; i <= b; ++i) {
            if (naive_bit(s, i) == static_cast<int>(bit)) {
              want = static_cast<int64_t>(i);
              break;
            }
          }
          CHECK(find_bit(bytes(s), a, b, bit) == want);
        }
      }
    }
  }

  TEST_CASE("bitop pads shorter sources with zeros and NOT inverts every byte") {
    std::string out;
    std::vector<std::string_view> src = {std::string_view("\xff\x0f", 2),
                                         std::string_view("\x0f\xff\x01", 3)};
    bitop(BitOp::kAnd, src, &out);
    CHECK(out == std::string("\x0f\x0f\x00", 3));
    bitop(BitOp::kOr, src, &out);
    CHECK(out == std::string("\xff\xff\x01", 3));
    bitop(BitOp::kXor, src, &out);
    CHECK(out == std::string("\xf0\xf0\x01", 3));
    std::vector<std::string_view> one = {
        std::string_view("\x00\xf0\x12\x34\x56\x78\x9a\xbc\xde", 9)};
    bitop(BitOp::kNot, one, &out);
    CHECK(out == std::string("\xff\x0f\xed\xcb\xa9\x87\x65\x43\x21", 9));
    // A missing key (no data at all) first, as BITOP OR dest missing k does.
    std::vector<std::string_view> missing_first = {std::string_view(),
                                                   std::string_view("\x01\x02", 2)};
    bitop(BitOp::kOr, missing_first, &out);
    CHECK(out == std::string("\x01\x02", 2));
    bitop(BitOp::kAnd, missing_first, &out);
    CHECK(out == std::string("\0\0", 2));
    std::vector<std::string_view> empty = {std::string_view(), std::string_view()};
    bitop(BitOp::kOr, empty, &out);
    CHECK(out.empty());
  }

  TEST_CASE(
      "a field written at any offset and width reads back, and its neighbours keep their bits") {
    std::mt19937_64 rng(3);
    for (int trial = 0; trial < 2000; ++trial) {
      std::string s = random_bytes(rng, 24, 50);
      const std::string before = s;
      const int width = 1 + static_cast<int>(rng() % 64);
      const uint64_t offset = rng() % (24 * 8 - static_cast<uint64_t>(width) + 1);
      const uint64_t v = rng();
      set_field(reinterpret_cast<uint8_t*>(s.data()), offset, width, v);
      const uint64_t mask = width == 64 ? ~0ull : (1ull << width) - 1;
      CHECK(get_unsigned(s, offset, width) == (v & mask));
      for (uint64_t i = 0; i < 24 * 8; ++i) {
        if (i < offset || i >= offset + static_cast<uint64_t>(width)) {
          CHECK(naive_bit(s, i) == naive_bit(before, i));
        }
      }
    }
  }

  TEST_CASE("fields read past the end of the string as zeros and signed fields are sign-extended") {
    std::string s("\xff", 1);
    CHECK(get_unsigned(s, 4, 8) == 0xf0);
    CHECK(get_signed(s, 4, 8) == -16);
    CHECK(get_unsigned(s, 100, 64) == 0);
    CHECK(get_signed(s, 0, 1) == -1);
    CHECK(get_unsigned(s, 0, 1) == 1);
    CHECK(get_bit(s, 7) == 1);
    CHECK(get_bit(s, 8) == 0);
  }

  TEST_CASE("overflow policies: wrap, saturate, or fail") {
    int64_t r = 0;
    CHECK(add_signed(127, 1, 8, Overflow::kWrap, &r));
    CHECK(r == -128);
    CHECK(add_signed(127, 1, 8, Overflow::kSat, &r));
    CHECK(r == 127);
    CHECK_FALSE(add_signed(127, 1, 8, Overflow::kFail, &r));
    CHECK(add_signed(-128, -1000, 8, Overflow::kSat, &r));
    CHECK(r == -128);
    CHECK(add_signed(200, 0, 8, Overflow::kWrap, &r));  // SET i8 200
    CHECK(r == -56);
    CHECK(add_signed(INT64_MAX, 1, 64, Overflow::kWrap, &r));
    CHECK(r == INT64_MIN);
    CHECK(add_signed(-1, INT64_MIN, 64, Overflow::kSat, &r));
    CHECK(r == INT64_MIN);
    CHECK_FALSE(add_signed(-1, INT64_MIN, 64, Overflow::kFail, &r));
    CHECK(add_signed(0, -1, 1, Overflow::kWrap, &r));
    CHECK(r == -1);
    uint64_t u = 0;
    CHECK(add_unsigned(255, 1, 8, Overflow::kWrap, &u));
    CHECK(u == 0);
    CHECK(add_unsigned(static_cast<uint64_t>(-5), 0, 8, Overflow::kWrap, &u));  // SET u8 -5
    CHECK(u == 251);
    CHECK(add_unsigned(static_cast<uint64_t>(-5), 0, 8, Overflow::kSat, &u));
    CHECK(u == 255);
    CHECK(add_unsigned(3, -10, 8, Overflow::kSat, &u));
    CHECK(u == 0);
    CHECK(add_unsigned(3, -10, 8, Overflow::kWrap, &u));
    CHECK(u == 249);
    CHECK_FALSE(add_unsigned(3, -10, 8, Overflow::kFail, &u));
    CHECK(add_unsigned((1ull << 63) - 1, 1, 63, Overflow::kWrap, &u));
    CHECK(u == 0);
  }
}

}  // namespace
}  // namespace sluice::kv::bits
