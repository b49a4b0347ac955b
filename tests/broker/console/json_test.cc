// The console's JSON writer and parser, and its query-string decoding.
#include "broker/console/json.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "broker/console/query.h"

namespace sluice::console {
namespace {

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(&out, s);
  return out;
}

TEST_SUITE("console.json") {
  TEST_CASE("strings: quotes, backslashes and controls are escaped, UTF-8 passes through") {
    CHECK(quoted("plain") == "\"plain\"");
    CHECK(quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(quoted("\n\r\t") == "\"\\n\\r\\t\"");
    CHECK(quoted(std::string_view("\0\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\\u007f\"");
    CHECK(quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  }

  TEST_CASE("strings: every byte outside a valid UTF-8 sequence is written as \\u00XX") {
    CHECK(quoted("\xff\x01"
                 "ab") == "\"\\u00ff\\u0001ab\"");
    CHECK(quoted("\xc3") == "\"\\u00c3\"");                                   // truncated sequence
    CHECK(quoted("\xc0\xaf") == "\"\\u00c0\\u00af\"");                        // overlong
    CHECK(quoted("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\"");             // a surrogate
    CHECK(quoted("\xf4\x90\x80\x80") == "\"\\u00f4\\u0090\\u0080\\u0080\"");  // past U+10FFFF
    CHECK(quoted("a\xe2\x82") == "\"a\\u00e2\\u0082\"");
  }

  TEST_CASE("the writer places commas and colons") {
    std::string out;
    JsonWriter w(&out);
    w.begin_object();
    w.field("a", int64_t{-1});
    w.key("b");
    w.begin_array();
    w.uinteger(18446744073709551615ull);
    w.null();
    w.boolean(true);
    w.begin_object();
    w.end_object();
    w.begin_array();
    w.end_array();
    w.number(0.5);
    w.number(std::numeric_limits<double>::infinity());
    w.end_array();
    w.field("c", "x");
    w.end_object();
    CHECK(out == "{\"a\":-1,\"b\":[18446744073709551615,null,true,{},[],0.5,null],\"c\":\"x\"}");
  }

  TEST_CASE("the parser reads objects, arrays, escapes and numbers") {
    JsonValue v;
    std::string error;
    REQUIRE(
        parse_json(" {\"db\": 1, \"key\":\"a\\u00e9\\ud83d\\ude00\\n\", \"fields\":[[\"f\",\"v\"]],"
                   " \"x\": [true, false, null, -1.5e2]} ",
                   &v, &error));
    CHECK(v.type == JsonValue::Type::kObject);
    REQUIRE(v.find("db") != nullptr);
    CHECK(v.find("db")->text == "1");
    CHECK(v.find("key")->text == "a\xc3\xa9\xf0\x9f\x98\x80\n");
    const JsonValue* fields = v.find("fields");
    REQUIRE(fields->items.size() == 1);
    CHECK(fields->items[0].items[1].text == "v");
    const JsonValue* x = v.find("x");
    REQUIRE(x->items.size() == 4);
    CHECK(x->items[0].boolean);
    CHECK(x->items[2].type == JsonValue::Type::kNull);
    CHECK(x->items[3].number == -150);
    CHECK(v.find("missing") == nullptr);
  }

  TEST_CASE("the parser refuses malformed documents and deep nesting") {
    JsonValue v;
    std::string error;
    for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":1,}", "[1 2]", "\"abc", "tru", "01x",
                            "{} x", "\"\\x\"", "\"\\ud800\"", "\"a\nb\"", "-", "1."}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_json(bad, &v, &error));
      CHECK_FALSE(error.empty());
    }
    std::string deep(kMaxJsonDepth + 2, '[');
    deep += std::string(kMaxJsonDepth + 2, ']');
    CHECK_FALSE(parse_json(deep, &v, &error));
    CHECK(error.find("deeply") != std::string::npos);
  }

  TEST_CASE("query parameters are percent-decoded; malformed escapes count as absent") {
    CHECK(query_param("db=1&key=a%20b+c%2B", "key") == "a b c+");
    CHECK(query_param("db=1&key=a", "db") == "1");
    CHECK(query_param("key=%FF%00x", "key") == std::string("\xff\0x", 3));
    CHECK(query_param("flag&k=v", "flag") == "");
    CHECK(query_param("k=1&k=2", "k") == "1");
    CHECK_FALSE(query_param("k=%4", "k").has_value());
    CHECK_FALSE(query_param("k=%zz", "k").has_value());
    CHECK_FALSE(query_param("a=1", "k").has_value());
    CHECK_FALSE(query_param("", "k").has_value());
  }
}

}  // namespace
}  // namespace sluice::console
