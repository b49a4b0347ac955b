// ReplyParser: every RESP2/RESP3 type, partial input at every byte, limits and garbage.
#include "wire/resp/reply_parser.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <string_view>

namespace {

using sluice::wire::resp::ReplyParser;
using sluice::wire::resp::Value;
using Outcome = ReplyParser::Outcome;
using Type = Value::Type;

// Parses a complete reply; every proper prefix must be kIncomplete and consume nothing.
Value parse_whole(std::string_view wire) {
  CAPTURE(wire);
  ReplyParser parser;
  Value value;
  size_t consumed = 99;
  for (size_t len = 0; len < wire.size(); ++len) {
    CAPTURE(len);
    CHECK(parser.parse(wire.substr(0, len), &value, &consumed) == Outcome::kIncomplete);
    CHECK(consumed == 0);
  }
  REQUIRE(parser.parse(wire, &value, &consumed) == Outcome::kValue);
  CHECK(consumed == wire.size());
  return value;
}

// The bytes must be rejected, and no prefix of them may be accepted as a value.
std::string parse_error(std::string_view wire) {
  CAPTURE(wire);
  ReplyParser parser;
  Value value;
  size_t consumed = 0;
  for (size_t len = 0; len < wire.size(); ++len) {
    CHECK(parser.parse(wire.substr(0, len), &value, &consumed) != Outcome::kValue);
  }
  REQUIRE(parser.parse(wire, &value, &consumed) == Outcome::kError);
  CHECK(consumed == 0);
  CHECK_FALSE(parser.error().empty());
  return parser.error();
}

}  // namespace

TEST_SUITE("wire.resp.reply_parser") {
  TEST_CASE("simple strings, errors and integers are parsed from one line") {
    Value v = parse_whole("+OK\r\n");
    CHECK(v.type == Type::kSimple);
    CHECK(v.str == "OK");
    v = parse_whole("-ERR bad thing\r\n");
    CHECK(v.is_error());
    CHECK(v.str == "ERR bad thing");
    v = parse_whole(":-9223372036854775808\r\n");
    CHECK(v.type == Type::kInteger);
    CHECK(v.integer == INT64_MIN);
    CHECK(parse_whole("+\r\n").str.empty());
  }

  TEST_CASE("bulk strings may hold CR, LF and NUL bytes") {
    Value v = parse_whole(std::string_view("$5\r\na\r\n\0b\r\n", 11));
    CHECK(v.type == Type::kBulk);
    CHECK(v.str == std::string_view("a\r\n\0b", 5));
    CHECK(parse_whole("$0\r\n\r\n").str.empty());
  }

  TEST_CASE("RESP2 and RESP3 nulls are all kNull") {
    CHECK(parse_whole("$-1\r\n").is_null());
    CHECK(parse_whole("*-1\r\n").is_null());
    CHECK(parse_whole("_\r\n").is_null());
  }

  TEST_CASE("RESP3 scalars: double, boolean, blob error, verbatim, big number") {
    Value v = parse_whole(",3.25\r\n");
    CHECK(v.type == Type::kDouble);
    CHECK(v.dbl == 3.25);
    CHECK(parse_whole(",1e300\r\n").dbl == 1e300);
    CHECK(parse_whole(",-0.5\r\n").dbl == -0.5);
    CHECK(parse_whole(",inf\r\n").dbl == INFINITY);
    CHECK(parse_whole(",-inf\r\n").dbl == -INFINITY);
    CHECK(parse_whole(",+inf\r\n").dbl == INFINITY);
    CHECK(std::isnan(parse_whole(",nan\r\n").dbl));
    CHECK(parse_whole(",10\r\n").dbl == 10);

    v = parse_whole("#t\r\n");
    CHECK(v.type == Type::kBoolean);
    CHECK(v.integer == 1);
    CHECK(parse_whole("#f\r\n").integer == 0);

    v = parse_whole("!21\r\nSYNTAX invalid syntax\r\n");
    CHECK(v.is_error());
    CHECK(v.str == "SYNTAX invalid syntax");

    v = parse_whole("=15\r\ntxt:Some string\r\n");
    CHECK(v.type == Type::kVerbatim);
    CHECK(v.str == "Some string");
    CHECK(parse_whole("=4\r\nmkd:\r\n").str.empty());

    v = parse_whole("(3492890328409238509324850943850943825024385\r\n");
    CHECK(v.type == Type::kBigNumber);
    CHECK(v.str == "3492890328409238509324850943850943825024385");
    CHECK(parse_whole("(-12\r\n").str == "-12");
  }

  TEST_CASE("aggregates: array, map, set and push, nested") {
    Value v = parse_whole("*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n_\r\n");
    REQUIRE(v.type == Type::kArray);
    REQUIRE(v.elems.size() == 3);
    CHECK(v.elems[0].integer == 1);
    CHECK(v.elems[1].str == "foo");
    REQUIRE(v.elems[2].elems.size() == 2);
    CHECK(v.elems[2].elems[1].is_null());

    v = parse_whole("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
    REQUIRE(v.type == Type::kMap);
    REQUIRE(v.elems.size() == 4);
    CHECK(v.elems[2].str == "second");
    CHECK(v.elems[3].integer == 2);

    v = parse_whole("~2\r\n+a\r\n+b\r\n");
    CHECK(v.type == Type::kSet);
    CHECK(v.elems.size() == 2);

    v = parse_whole(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
    CHECK(v.type == Type::kPush);
    CHECK(v.is_aggregate());
    CHECK(v.elems.size() == 3);

    CHECK(parse_whole("*0\r\n").elems.empty());
    CHECK(parse_whole("%0\r\n").type == Type::kMap);
  }

  TEST_CASE("an attribute map is attached to the value that follows it") {
    Value v = parse_whole(
        "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n");
    REQUIRE(v.type == Type::kArray);
    CHECK(v.elems.size() == 2);
    REQUIRE(v.attributes.size() == 2);
    CHECK(v.attributes[0].str == "key-popularity");
    CHECK(v.attributes[1].type == Type::kMap);

    v = parse_whole("*2\r\n|1\r\n+ttl\r\n:3600\r\n+a\r\n+b\r\n");
    REQUIRE(v.elems.size() == 2);
    CHECK(v.elems[0].attributes.size() == 2);
    CHECK(v.elems[0].str == "a");
    CHECK(v.elems[1].attributes.empty());
  }

  TEST_CASE("only the first reply is consumed when several are buffered") {
    ReplyParser parser;
    Value v;
    size_t consumed = 0;
    std::string_view wire = "+OK\r\n:5\r\n";
    REQUIRE(parser.parse(wire, &v, &consumed) == Outcome::kValue);
    CHECK(consumed == 5);
    REQUIRE(parser.parse(wire.substr(consumed), &v, &consumed) == Outcome::kValue);
    CHECK(v.integer == 5);
    CHECK(consumed == 4);
  }

  TEST_CASE("nesting beyond max_depth is an error, up to it is fine") {
    ReplyParser parser;
    parser.max_depth = 3;
    Value v;
    size_t consumed = 0;
    CHECK(parser.parse("*1\r\n*1\r\n*1\r\n:1\r\n", &v, &consumed) == Outcome::kValue);
    CHECK(parser.parse("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &v, &consumed) == Outcome::kError);
    CHECK(parser.error() == "nesting too deep");
    CHECK(parser.parse("*1\r\n*1\r\n*1\r\n*-1\r\n", &v, &consumed) == Outcome::kValue);
    CHECK(parser.parse("|1\r\n|1\r\n|1\r\n|1\r\n+a\r\n+b\r\n+c\r\n+d\r\n+v\r\n", &v, &consumed) ==
          Outcome::kError);
  }

  TEST_CASE(
      "hostile nesting with the default limit fails cleanly instead of exhausting the stack") {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += "*1\r\n";
    deep += ":1\r\n";
    ReplyParser parser;
    Value v;
    size_t consumed = 0;
    CHECK(parser.parse(deep, &v, &consumed) == Outcome::kError);
    std::string attrs;
    for (int i = 0; i < 100000; ++i) attrs += "|0\r\n";
    CHECK(parser.parse(attrs, &v, &consumed) == Outcome::kIncomplete);
  }

  TEST_CASE("garbage and malformed frames are errors") {
    CHECK(parse_error("?\r\n") == "Protocol error, got '?' as reply type byte");
    CHECK(parse_error("hello\r\n") == "Protocol error, got 'h' as reply type byte");
    parse_error(":abc\r\n");
    parse_error(":1.5\r\n");
    parse_error(":\r\n");
    parse_error("$-2\r\n");
    parse_error("$x\r\n");
    parse_error("$3\r\nabcde\r\n");
    parse_error("+OK\rX");
    parse_error("*-2\r\n");
    parse_error("%-1\r\n");
    parse_error("~x\r\n");
    parse_error("_x\r\n");
    parse_error(",abc\r\n");
    parse_error(",\r\n");
    parse_error("#x\r\n");
    parse_error("#\r\n");
    parse_error("(12a\r\n");
    parse_error("(\r\n");
    parse_error("!-1\r\n");
    parse_error("=3\r\ntxt\r\n");
    parse_error("=5\r\ntxtxx\r\n");
    parse_error("*2\r\n:1\r\n?\r\n");
    CHECK(parse_error("|1\r\n+a\r\n?") == "Protocol error, got '?' as reply type byte");
  }

  TEST_CASE("a large declared length with little data is incomplete, not an allocation") {
    ReplyParser parser;
    Value v;
    size_t consumed = 0;
    CHECK(parser.parse("*9223372036854775807\r\n:1\r\n", &v, &consumed) == Outcome::kIncomplete);
    CHECK(parser.parse("$9223372036854775807\r\nabc", &v, &consumed) == Outcome::kIncomplete);
    CHECK(parser.parse("%4611686018427387904\r\n", &v, &consumed) == Outcome::kError);
  }
}
