// What ReplyWriter writes, ReplyParser reads back, in both protocols.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "wire/resp/reply_parser.h"
#include "wire/resp/reply_writer.h"

namespace {

using sluice::wire::resp::ReplyParser;
using sluice::wire::resp::ReplyWriter;
using sluice::wire::resp::Value;
using Type = Value::Type;

// Writes one reply of every shape, nested, then parses it back at every split point.
Value write_and_parse(int protocol) {
  std::string out;
  ReplyWriter w(&out, protocol);
  w.array(12);
  w.simple("OK");
  w.error("ERR boom");
  w.integer(-7);
  w.bulk(std::string_view("a\r\n\0", 4));
  w.null();
  w.null_array();
  w.map(1);
  w.bulk("k");
  w.set(2);
  w.integer(1);
  w.integer(2);
  w.push(1);
  w.bulk("p");
  w.dbl(2.5);
  w.dbl(-std::numeric_limits<double>::infinity());
  w.boolean(true);
  w.verbatim("hello");

  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  for (size_t len = 0; len < out.size(); ++len) {
    REQUIRE(parser.parse(std::string_view(out).substr(0, len), &v, &consumed) ==
            ReplyParser::Outcome::kIncomplete);
  }
  REQUIRE(parser.parse(out, &v, &consumed) == ReplyParser::Outcome::kValue);
  CHECK(consumed == out.size());
  return v;
}

}  // namespace

TEST_SUITE("wire.resp.round_trip") {
  TEST_CASE("a RESP3 reply of every shape parses back to the same types and values") {
    const Value v = write_and_parse(3);
    REQUIRE(v.type == Type::kArray);
    REQUIRE(v.elems.size() == 12);
    CHECK(v.elems[0].str == "OK");
    CHECK(v.elems[1].is_error());
    CHECK(v.elems[1].str == "ERR boom");
    CHECK(v.elems[2].integer == -7);
    CHECK(v.elems[3].str == std::string_view("a\r\n\0", 4));
    CHECK(v.elems[4].is_null());
    CHECK(v.elems[5].is_null());
    CHECK(v.elems[6].type == Type::kMap);
    REQUIRE(v.elems[6].elems.size() == 2);
    CHECK(v.elems[6].elems[1].type == Type::kSet);
    CHECK(v.elems[6].elems[1].elems.size() == 2);
    CHECK(v.elems[7].type == Type::kPush);
    CHECK(v.elems[8].type == Type::kDouble);
    CHECK(v.elems[8].dbl == 2.5);
    CHECK(v.elems[9].dbl == -INFINITY);
    CHECK(v.elems[10].type == Type::kBoolean);
    CHECK(v.elems[10].integer == 1);
    CHECK(v.elems[11].type == Type::kVerbatim);
    CHECK(v.elems[11].str == "hello");
  }

  TEST_CASE("a RESP2 reply degrades each RESP3 shape as Redis does and still parses") {
    const Value v = write_and_parse(2);
    REQUIRE(v.type == Type::kArray);
    REQUIRE(v.elems.size() == 12);
    CHECK(v.elems[4].is_null());
    CHECK(v.elems[5].is_null());
    CHECK(v.elems[6].type == Type::kArray);
    REQUIRE(v.elems[6].elems.size() == 2);
    CHECK(v.elems[6].elems[1].type == Type::kArray);
    CHECK(v.elems[7].type == Type::kArray);
    CHECK(v.elems[8].type == Type::kBulk);
    CHECK(v.elems[8].str == "2.5");
    CHECK(v.elems[9].str == "-inf");
    CHECK(v.elems[10].type == Type::kInteger);
    CHECK(v.elems[10].integer == 1);
    CHECK(v.elems[11].type == Type::kBulk);
    CHECK(v.elems[11].str == "hello");
  }

  TEST_CASE("doubles survive the trip exactly through %.17g") {
    for (double d : {0.1, 1.0 / 3, 1e-300, 123456789.123456789, -2.2250738585072014e-308}) {
      CAPTURE(d);
      std::string out;
      ReplyWriter(&out, 3).dbl(d);
      ReplyParser parser;
      Value v;
      size_t consumed = 0;
      REQUIRE(parser.parse(out, &v, &consumed) == ReplyParser::Outcome::kValue);
      CHECK(v.dbl == d);
    }
  }
}
