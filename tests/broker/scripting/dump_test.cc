// SHA-1 names of scripts and the FUNCTION DUMP payload codec (CRC-64/Jones, RDB strings, LZF).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/scripting/function_dump.h"
#include "broker/scripting/sha1.h"

namespace sluice::scripting {
namespace {

std::string hex(std::string_view data) {
  Sha1Hex h = sha1_hex(data);
  return std::string(h.data(), h.size());
}

}  // namespace

TEST_SUITE("scripting.codecs") {
  TEST_CASE("SHA-1 matches the standard test vectors at every padding boundary") {
    CHECK(hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(hex("return 1") == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    CHECK(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(hex(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // 55, 56 and 64 bytes: the length fits in the last block, or needs another one.
    CHECK(hex(std::string(55, 'x')) != hex(std::string(56, 'x')));
    CHECK(hex(std::string(64, 'x')).size() == 40);
  }

  TEST_CASE("CRC-64/Jones has Redis's check value") {
    CHECK(crc64_jones(0, "123456789") == 0xe9c6d914c4b8d9caull);
  }

  TEST_CASE("a dump decodes back to the same libraries; Redis's own payload decodes too") {
    std::vector<std::string_view> codes{"#!lua name=a\ncode a", std::string_view("x\0y", 3)};
    std::string big(20000, 'z');
    codes.push_back(big);
    std::vector<std::string> out;
    std::string error;
    REQUIRE(decode_function_dump(encode_function_dump(codes), &out, &error));
    CHECK(out == std::vector<std::string>{"#!lua name=a\ncode a", std::string("x\0y", 3), big});
    // FUNCTION DUMP of redis-server 7.0.15 with one library.
    static const char kRedisDump[] =
        "\xf5@F#!lua name=lib1\nredis.register_function('f1', function() return 1 end)\n\x00"
        "\x98\xfa"
        "C\x9b\xf0\xa7\xa5\xa2";
    const std::string redis_dump(kRedisDump, sizeof kRedisDump - 1);
    out.clear();
    REQUIRE(decode_function_dump(redis_dump, &out, &error));
    CHECK(out == std::vector<std::string>{
                     "#!lua name=lib1\nredis.register_function('f1', function() return 1 end)"});
    CHECK(encode_function_dump({out[0]}) == redis_dump);
  }

  TEST_CASE("LZF-compressed strings in a payload are expanded") {
    // 0xF5, then an LZF string (0xC3, compressed length 6, original length 10): a 3-byte literal
    // "abc" (ctrl 2) and a back reference of length 7 at distance 3 (ctrl 0xA0 | 0, offset 2).
    std::string body = std::string(
        "\xf5\xc3\x06\x0a\x02"
        "abc"
        "\xa0\x02",
        10);
    body += std::string("\x0a\x00", 2);
    uint64_t crc = crc64_jones(0, body);
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>(crc >> (8 * i)));
    std::vector<std::string> out;
    std::string error;
    REQUIRE_MESSAGE(decode_function_dump(body, &out, &error), error);
    CHECK(out == std::vector<std::string>{"abcabcabca"});
  }

  TEST_CASE("a payload with a bad checksum, version or opcode is refused with Redis's text") {
    std::string good = encode_function_dump({"#!lua name=a\nx"});
    std::vector<std::string> out;
    std::string error;
    std::string bad_crc = good;
    bad_crc.back() ^= 1;
    CHECK_FALSE(decode_function_dump(bad_crc, &out, &error));
    CHECK(error == "ERR DUMP payload version or checksum are wrong");
    CHECK_FALSE(decode_function_dump("short", &out, &error));
    std::string bad_op = good;
    bad_op[0] = 0x01;
    uint64_t crc = crc64_jones(0, std::string_view(bad_op).substr(0, bad_op.size() - 8));
    for (int i = 0; i < 8; ++i) bad_op[bad_op.size() - 8 + i] = static_cast<char>(crc >> (8 * i));
    CHECK_FALSE(decode_function_dump(bad_op, &out, &error));
    CHECK(error == "ERR given type is not a function");
  }
}

}  // namespace sluice::scripting
