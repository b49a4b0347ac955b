// crc32c: the Castagnoli check value, incremental extension and LevelDB-style masking.
#include "wire/crc32c.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace {

// Bit at a time, straight from the definition: the reference the fast paths are checked against.
uint32_t crc32c_bitwise(const unsigned char* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int b = 0; b < 8; ++b) c = (c >> 1) ^ ((c & 1) ? 0x82f63b78u : 0);
  }
  return ~c;
}

using sluice::wire::crc32c;
using sluice::wire::crc32c_extend;
using sluice::wire::crc32c_mask;
using sluice::wire::crc32c_unmask;

}  // namespace

TEST_SUITE("wire.crc32c") {
  TEST_CASE("the standard check value for \"123456789\" is 0xE3069283") {
    CHECK(crc32c("123456789", 9) == 0xE3069283u);
  }

  TEST_CASE("known vectors from RFC 3720 match") {
    const std::string zeros(32, '\0');
    CHECK(crc32c(zeros.data(), zeros.size()) == 0x8a9136aau);
    const std::string ones(32, '\xff');
    CHECK(crc32c(ones.data(), ones.size()) == 0x62a8ab43u);
    std::string ascending;
    for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
    CHECK(crc32c(ascending.data(), ascending.size()) == 0x46dd794eu);
    CHECK(crc32c("", 0) == 0);
  }

  TEST_CASE("extending a prefix's CRC with the rest equals the CRC of the whole") {
    std::string data;
    for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 37 + 11));
    const uint32_t whole = crc32c(data.data(), data.size());
    for (size_t split = 0; split <= data.size(); ++split) {
      CAPTURE(split);
      const uint32_t prefix = crc32c(data.data(), split);
      CHECK(crc32c_extend(prefix, data.data() + split, data.size() - split) == whole);
    }
  }

  TEST_CASE("every length and alignment agrees with the bit-at-a-time definition") {
    // Lengths cross the three-block paths (3 x 64 and 3 x 2048 bytes) and their remainders.
    std::mt19937 rng(20261125);
    std::string data(3 * 3 * 2048 + 700, '\0');
    for (char& ch : data) ch = static_cast<char>(rng());
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    for (size_t offset = 0; offset < 8; ++offset) {
      for (size_t n = 0; n + offset <= data.size(); n += (n < 1200 ? 1 : 97)) {
        CAPTURE(offset);
        CAPTURE(n);
        REQUIRE(crc32c(bytes + offset, n) == crc32c_bitwise(bytes + offset, n));
      }
    }
  }

  TEST_CASE("masking changes the value and unmasking restores it") {
    for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xffffffffu, 0x80000000u}) {
      CAPTURE(crc);
      CHECK(crc32c_mask(crc) != crc);
      CHECK(crc32c_unmask(crc32c_mask(crc)) == crc);
      CHECK(crc32c_mask(crc32c_mask(crc)) != crc);
    }
  }
}
