// StreamId: parsing as Redis's streamParseID does, arithmetic with carry, text and byte forms.
#include "wire/stream_id.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

using sluice::wire::parse_i64;
using sluice::wire::parse_stream_id;
using sluice::wire::parse_u64;
using sluice::wire::StreamId;

constexpr uint64_t kMax = UINT64_MAX;

bool parses_to(std::string_view text, StreamId expected, uint64_t missing_seq = 0) {
  StreamId id{7, 7};
  return parse_stream_id(text, &id, missing_seq) && id == expected;
}

bool rejects(std::string_view text) {
  StreamId id;
  return !parse_stream_id(text, &id, 0, true, nullptr);
}

}  // namespace

TEST_SUITE("wire.stream_id") {
  TEST_CASE("ms-seq and bare ms forms parse, the missing seq taken from the caller") {
    CHECK(parses_to("1-2", {1, 2}));
    CHECK(parses_to("0-0", {0, 0}));
    CHECK(parses_to("1700000000000-15", {1700000000000, 15}));
    CHECK(parses_to("5", {5, 0}));
    CHECK(parses_to("5", {5, kMax}, kMax));
    CHECK(parses_to("18446744073709551615-18446744073709551615", StreamId::max()));
  }

  TEST_CASE("ms-* is accepted only when the caller allows it, and reports the star") {
    StreamId id;
    bool star = false;
    CHECK(parse_stream_id("12-*", &id, 0, true, &star));
    CHECK(star);
    CHECK(id == StreamId{12, 0});
    CHECK(parse_stream_id("12-3", &id, 0, true, &star));
    CHECK_FALSE(star);
    CHECK_FALSE(parse_stream_id("12-*", &id));
    CHECK(rejects("*-1"));
    CHECK(rejects("12-**"));
  }

  TEST_CASE("malformed IDs and the special forms are rejected") {
    for (std::string_view text :
         {"", "-", "+", "$", "*", ">", "1-", "-1", "a", "1-a", "1-2-3", "1.5",
          "18446744073709551616", "1-18446744073709551616", "1--1", "1-2 x", "- 1"}) {
      CAPTURE(text);
      CHECK(rejects(text));
    }
    CHECK(rejects(std::string(128, '1')));
  }

  TEST_CASE("string2ull's strtoull fallback is honoured: leading zeros, blanks and '+'") {
    CHECK(parses_to("01-02", {1, 2}));
    CHECK(parses_to("+1-+2", {1, 2}));
    CHECK(parses_to(" 1- 2", {1, 2}));
    CHECK(parses_to("00000000000000000000000000001", {1, 0}));
    // A non-canonical negative wraps modulo 2^64 in strtoull, and Redis keeps the result.
    CHECK(parses_to("1--01", {1, kMax}));
    CHECK(parses_to("1--0", {1, 0}));
  }

  TEST_CASE("text ends at a NUL byte, as Redis reads the ID from a C string") {
    CHECK(parses_to(std::string_view("3-4\0junk", 8), {3, 4}));
    CHECK(parses_to(std::string(127, '0'), {0, 0}));
  }

  TEST_CASE("increment and decrement carry between ms and seq") {
    StreamId out;
    CHECK(StreamId{1, 2}.increment(&out));
    CHECK(out == StreamId{1, 3});
    CHECK(StreamId{1, kMax}.increment(&out));
    CHECK(out == StreamId{2, 0});
    CHECK_FALSE(StreamId::max().increment(&out));
    CHECK(StreamId{1, 2}.decrement(&out));
    CHECK(out == StreamId{1, 1});
    CHECK(StreamId{2, 0}.decrement(&out));
    CHECK(out == StreamId{1, kMax});
    CHECK_FALSE(StreamId::min().decrement(&out));
    CHECK(StreamId::min().is_zero());
    CHECK_FALSE(StreamId{0, 1}.is_zero());
  }

  TEST_CASE("format writes ms-seq and fits the largest ID in kMaxText bytes") {
    char buf[StreamId::kMaxText];
    const size_t len = StreamId::max().format(buf);
    CHECK(len == StreamId::kMaxText);
    CHECK(std::string_view(buf, len) == "18446744073709551615-18446744073709551615");
    CHECK(StreamId{0, 0}.to_string() == "0-0");
    CHECK(StreamId{1700000000000, 3}.to_string() == "1700000000000-3");
  }

  TEST_CASE("big-endian encoding sorts bytewise in ID order and decodes back") {
    const std::vector<StreamId> ids = {{0, 0},      {0, 1},   {0, 256},  {1, 0},
                                       {255, kMax}, {256, 0}, {kMax, 0}, {kMax, kMax}};
    std::vector<std::string> encoded;
    for (const StreamId& id : ids) {
      uint8_t bytes[16];
      id.encode_be(bytes);
      CHECK(StreamId::decode_be(bytes) == id);
      encoded.emplace_back(reinterpret_cast<const char*>(bytes), 16);
    }
    CHECK(std::is_sorted(encoded.begin(), encoded.end()));
    uint8_t bytes[16];
    StreamId{0x0102030405060708, 0x090a0b0c0d0e0f10}.encode_be(bytes);
    for (int i = 0; i < 16; ++i) CHECK(bytes[i] == i + 1);
  }

  TEST_CASE("ordering compares ms first, then seq") {
    CHECK(StreamId{1, kMax} < StreamId{2, 0});
    CHECK(StreamId{2, 1} > StreamId{2, 0});
    CHECK(StreamId{3, 3} == StreamId{3, 3});
  }

  TEST_CASE("parse_u64 takes digits only and refuses overflow") {
    uint64_t v = 0;
    CHECK((parse_u64("0", &v) && v == 0));
    CHECK((parse_u64("18446744073709551615", &v) && v == kMax));
    CHECK((parse_u64("007", &v) && v == 7));
    for (std::string_view bad : {"", "18446744073709551616", "+1", "-1", " 1", "1 ", "1a", "0x1"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_u64(bad, &v));
    }
  }

  TEST_CASE("parse_i64 accepts only string2ll's canonical decimal form") {
    int64_t v = 0;
    CHECK((parse_i64("0", &v) && v == 0));
    CHECK((parse_i64("-1", &v) && v == -1));
    CHECK((parse_i64("9223372036854775807", &v) && v == INT64_MAX));
    CHECK((parse_i64("-9223372036854775808", &v) && v == INT64_MIN));
    for (std::string_view bad :
         {"", "-", "-0", "01", "+1", " 1", "1 ", "1a", "9223372036854775808",
          "-9223372036854775809", "99999999999999999999", "000000000000000000001"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_i64(bad, &v));
    }
  }
}
