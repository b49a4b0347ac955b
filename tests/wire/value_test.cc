// Value::debug_string renders replies as redis-cli does.
#include "wire/resp/value.h"

#include <doctest/doctest.h>

#include <string>

#include "wire/resp/reply_parser.h"

namespace {

using sluice::wire::resp::ReplyParser;
using sluice::wire::resp::Value;

std::string render(std::string_view wire) {
  ReplyParser parser;
  Value v;
  size_t consumed = 0;
  REQUIRE(parser.parse(wire, &v, &consumed) == ReplyParser::Outcome::kValue);
  return v.debug_string();
}

}  // namespace

TEST_SUITE("wire.resp.value") {
  TEST_CASE("scalars render with redis-cli's type labels") {
    CHECK(render("+OK\r\n") == "OK");
    CHECK(render("-ERR nope\r\n") == "(error) ERR nope");
    CHECK(render(":42\r\n") == "(integer) 42");
    CHECK(render("$5\r\nhello\r\n") == "\"hello\"");
    CHECK(render("$-1\r\n") == "(nil)");
    CHECK(render("_\r\n") == "(nil)");
    CHECK(render(",1.5\r\n") == "(double) 1.5");
    CHECK(render("#t\r\n") == "(true)");
    CHECK(render("#f\r\n") == "(false)");
    CHECK(render("=9\r\ntxt:hello\r\n") == "hello");
    CHECK(render("(123\r\n") == "(big number) 123");
  }

  TEST_CASE("bulk strings are quoted with escapes for unprintable bytes") {
    CHECK(render(std::string_view("$8\r\na\"b\\\n\0\x7f\xff\r\n", 14)) ==
          "\"a\\\"b\\\\\\n\\x00\\x7f\\xff\"");
  }

  TEST_CASE("aggregates are numbered and nested entries indented") {
    CHECK(render("*2\r\n$1\r\na\r\n:1\r\n") == "1) \"a\"\n2) (integer) 1");
    CHECK(render("*2\r\n*2\r\n+x\r\n+y\r\n+z\r\n") == "1) 1) x\n   2) y\n2) z");
    CHECK(render("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n") == "1# a => (integer) 1\n2# b => (integer) 2");
    CHECK(render("~1\r\n+a\r\n") == "1~ a");
    CHECK(render(">1\r\n+a\r\n") == "1) a");
    CHECK(render("*0\r\n") == "(empty array)");
    CHECK(render("%0\r\n") == "(empty hash)");
    CHECK(render("~0\r\n") == "(empty set)");
    CHECK(render(">0\r\n") == "(empty push)");
  }

  TEST_CASE("index numbers are right-aligned to the widest one") {
    std::string wire = "*10\r\n";
    for (int i = 0; i < 10; ++i) wire += ":" + std::to_string(i) + "\r\n";
    const std::string text = render(wire);
    CHECK(text.substr(0, 14) == " 1) (integer) ");
    CHECK(text.find("\n10) (integer) 9") != std::string::npos);
  }

  TEST_CASE("value predicates reflect the type") {
    Value v;
    CHECK(v.is_null());
    v.type = Value::Type::kSet;
    CHECK(v.is_aggregate());
    CHECK_FALSE(v.is_error());
  }
}
