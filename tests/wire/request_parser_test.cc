// RequestParser against Redis 7.0's request parsing, byte for byte and split at every offset.
#include "wire/resp/request_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using sluice::wire::resp::RequestLimits;
using sluice::wire::resp::RequestParser;
using Outcome = RequestParser::Outcome;
using Argv = std::vector<std::string>;

Argv to_strings(const std::vector<std::string_view>& views) {
  return Argv(views.begin(), views.end());
}

// Parses one complete frame whole, from every prefix onward, and fed one byte at a time; every
// way must yield the same argv and consume the whole frame.
void check_frame(std::string_view frame, const Argv& expected, RequestLimits limits = {}) {
  CAPTURE(frame);
  std::vector<std::string_view> argv;
  size_t consumed = 99;
  {
    RequestParser parser(limits);
    REQUIRE(parser.parse(frame, &argv, &consumed) == Outcome::kCommand);
    CHECK(consumed == frame.size());
    CHECK(to_strings(argv) == expected);
  }
  for (size_t split = 0; split < frame.size(); ++split) {
    CAPTURE(split);
    RequestParser parser(limits);
    CHECK(parser.parse(frame.substr(0, split), &argv, &consumed) == Outcome::kIncomplete);
    CHECK(consumed == 0);
    CHECK(parser.bytes_hint() > 0);
    REQUIRE(parser.parse(frame, &argv, &consumed) == Outcome::kCommand);
    CHECK(consumed == frame.size());
    CHECK(to_strings(argv) == expected);
  }
  RequestParser parser(limits);
  for (size_t len = 0; len < frame.size(); ++len) {
    CHECK(parser.parse(frame.substr(0, len), &argv, &consumed) == Outcome::kIncomplete);
  }
  REQUIRE(parser.parse(frame, &argv, &consumed) == Outcome::kCommand);
  CHECK(consumed == frame.size());
  CHECK(to_strings(argv) == expected);
}

// Feeds the input at every split point (and whole) and expects the given error text.
void check_error(std::string_view input, std::string_view expected, RequestLimits limits = {}) {
  CAPTURE(input);
  std::vector<std::string_view> argv;
  size_t consumed = 0;
  for (size_t split = 0; split <= input.size(); ++split) {
    CAPTURE(split);
    RequestParser parser(limits);
    Outcome first = parser.parse(input.substr(0, split), &argv, &consumed);
    if (first == Outcome::kError) {
      CHECK(parser.error() == expected);
      continue;
    }
    REQUIRE(first == Outcome::kIncomplete);
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kError);
    CHECK(parser.error() == expected);
  }
}

Argv parse_one(std::string_view input) {
  RequestParser parser;
  std::vector<std::string_view> argv;
  size_t consumed = 0;
  REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kCommand);
  return to_strings(argv);
}

std::string parse_error(std::string_view input, RequestLimits limits = {}) {
  RequestParser parser(limits);
  std::vector<std::string_view> argv;
  size_t consumed = 0;
  REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kError);
  return parser.error();
}

}  // namespace

TEST_SUITE("wire.resp.request_parser") {
  TEST_CASE("a multibulk command is parsed whole and from every split point") {
    check_frame("*1\r\n$4\r\nPING\r\n", {"PING"});
    check_frame("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", {"SET", "k", "hello"});
    check_frame("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", {"ECHO", ""});
    check_frame("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", {"ECHO", "a\r\nb"});
    check_frame(std::string_view("*1\r\n$3\r\n\0\1\2\r\n", 13), {std::string("\0\1\2", 3)});
  }

  TEST_CASE("a multibulk count of zero or below is an empty command that consumes its line") {
    check_frame("*0\r\n", {});
    check_frame("*-1\r\n", {});
    check_frame("*-5\r\n", {});
  }

  TEST_CASE("an inline command splits on blanks and is parsed from every split point") {
    check_frame("PING\r\n", {"PING"});
    check_frame("PING\n", {"PING"});
    check_frame("SET k v\r\n", {"SET", "k", "v"});
    check_frame("  SET   k\tv  \r\n", {"SET", "k", "v"});
    check_frame("\r\n", {});
    check_frame("\n", {});
    check_frame("   \r\n", {});
  }

  TEST_CASE("inline double quotes support Redis's escapes") {
    check_frame("SET \"a b\" \"c\\\"d\"\r\n", {"SET", "a b", "c\"d"});
    check_frame("ECHO \"\\n\\r\\t\\b\\a\\\\\\q\"\r\n", {"ECHO", "\n\r\t\b\a\\q"});
    check_frame("ECHO \"\\x41\\x7a\\xZZ\"\r\n", {"ECHO", "AzxZZ"});
    check_frame("ECHO \"\"\r\n", {"ECHO", ""});
    check_frame("ECHO a\"b c\"\r\n", {"ECHO", "ab c"});
  }

  TEST_CASE("inline single quotes keep backslashes except before a quote") {
    check_frame("ECHO 'a\\nb'\r\n", {"ECHO", "a\\nb"});
    check_frame("ECHO 'it\\'s'\r\n", {"ECHO", "it's"});
    check_frame("ECHO 'a \"b\"'\r\n", {"ECHO", "a \"b\""});
  }

  TEST_CASE("a closing quote followed by a non-blank is an unbalanced quotes error") {
    check_error("ECHO \"a\"b\r\n", "Protocol error: unbalanced quotes in request");
    check_error("ECHO 'a'b\r\n", "Protocol error: unbalanced quotes in request");
    check_error("ECHO \"abc\r\n", "Protocol error: unbalanced quotes in request");
    check_error("ECHO 'abc\r\n", "Protocol error: unbalanced quotes in request");
    check_error("ECHO \"abc\\\"\r\n", "Protocol error: unbalanced quotes in request");
  }

  TEST_CASE("a backslash outside quotes is literal") {
    CHECK(parse_one("ECHO a\\nb\r\n") == Argv{"ECHO", "a\\nb"});
  }

  TEST_CASE("like Redis, the byte after a header's CR and the two after a bulk are not checked") {
    check_frame("*1\rX$4\r\nPINGxy", {"PING"});
    check_frame("*2\r\n$1\r!a\r\n$1\r\nb\n\n", {"a", "b"});
  }

  TEST_CASE("pipelined commands are parsed one after another") {
    const std::string input =
        "*1\r\n$4\r\nPING\r\nPING\r\n*0\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nECHO \"x y\"\n";
    const std::vector<Argv> expected = {{"PING"}, {"PING"}, {}, {"GET", "k"}, {"ECHO", "x y"}};
    RequestParser parser;
    std::vector<std::string_view> argv;
    std::string_view rest = input;
    for (const Argv& want : expected) {
      size_t consumed = 0;
      REQUIRE(parser.parse(rest, &argv, &consumed) == Outcome::kCommand);
      CHECK(to_strings(argv) == want);
      rest.remove_prefix(consumed);
    }
    CHECK(rest.empty());
    size_t consumed = 7;
    CHECK(parser.parse(rest, &argv, &consumed) == Outcome::kIncomplete);
    CHECK(consumed == 0);
  }

  TEST_CASE("a partially received bulk reports how many bytes it still needs") {
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    std::string frame = "*2\r\n$3\r\nSET\r\n$100\r\n" + std::string(100, 'x') + "\r\n";
    const size_t header_end = frame.size() - 102;
    CHECK(parser.parse(std::string_view(frame).substr(0, header_end + 10), &argv, &consumed) ==
          Outcome::kIncomplete);
    CHECK(parser.bytes_hint() == 92);
    CHECK(parser.parse(frame, &argv, &consumed) == Outcome::kCommand);
    CHECK(argv.size() == 2);
    CHECK(argv[1] == std::string(100, 'x'));
  }

  TEST_CASE("reset forgets a partial command") {
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    CHECK(parser.parse("*2\r\n$3\r\nGET\r\n", &argv, &consumed) == Outcome::kIncomplete);
    parser.reset();
    CHECK(parser.parse("*1\r\n$4\r\nPING\r\n", &argv, &consumed) == Outcome::kCommand);
    CHECK(to_strings(argv) == Argv{"PING"});
  }

  TEST_CASE("multibulk header errors carry Redis's texts") {
    check_error("*x\r\n", "Protocol error: invalid multibulk length");
    check_error("*\r\n", "Protocol error: invalid multibulk length");
    check_error("*01\r\n", "Protocol error: invalid multibulk length");
    check_error("*+1\r\n", "Protocol error: invalid multibulk length");
    check_error("*-0\r\n", "Protocol error: invalid multibulk length");
    check_error("*1 \r\n", "Protocol error: invalid multibulk length");
    check_error("*99999999999999999999\r\n", "Protocol error: invalid multibulk length");
    check_error("*2147483648\r\n", "Protocol error: invalid multibulk length");
  }

  TEST_CASE("a command may have up to INT_MAX arguments, as in Redis 7.0") {
    for (std::string_view header : {"*1048577\r\n", "*2147483647\r\n"}) {
      CAPTURE(header);
      RequestParser parser;
      std::vector<std::string_view> argv;
      size_t consumed = 0;
      CHECK(parser.parse(header, &argv, &consumed) == Outcome::kIncomplete);
    }
  }

  TEST_CASE("before AUTH, more than 10 arguments or a bulk over 16 KiB closes the connection") {
    auto unauth_error = [](std::string_view input) {
      RequestParser parser;
      parser.set_auth_required(true);
      std::vector<std::string_view> argv;
      size_t consumed = 0;
      Outcome outcome = parser.parse(input, &argv, &consumed);
      return outcome == Outcome::kError ? parser.error() : std::string("(no error)");
    };
    CHECK(unauth_error("*11\r\n") == "Protocol error: unauthenticated multibulk length");
    CHECK(unauth_error("*10\r\n") == "(no error)");
    CHECK(unauth_error("*2\r\n$4\r\nAUTH\r\n$16385\r\n") ==
          "Protocol error: unauthenticated bulk length");
    CHECK(unauth_error("*2\r\n$4\r\nAUTH\r\n$16384\r\n") == "(no error)");
    CHECK(unauth_error("*2\r\n$4\r\nAUTH\r\n$100000000\r\n") ==
          "Protocol error: unauthenticated bulk length");
    // A length that is invalid for everyone gets the general error first, as in Redis.
    CHECK(unauth_error("*2147483648\r\n") == "Protocol error: invalid multibulk length");
    CHECK(unauth_error("*1\r\n$536870913\r\n") == "Protocol error: invalid bulk length");
    // Empty and negative counts are skipped whatever the state.
    CHECK(unauth_error("*0\r\n") == "(no error)");
    CHECK(unauth_error("*-1\r\n") == "(no error)");
    // Inline commands have only their 64 KiB line limit.
    CHECK(unauth_error("AUTH a b c d e f g h i j k l\r\n") == "(no error)");

    // Once authenticated, the ordinary limits apply to the next header.
    RequestParser parser;
    parser.set_auth_required(true);
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    CHECK(parser.parse("*1\r\n$4\r\nPING\r\n", &argv, &consumed) == Outcome::kCommand);
    parser.set_auth_required(false);
    CHECK(parser.parse("*11\r\n", &argv, &consumed) == Outcome::kIncomplete);
  }

  TEST_CASE("bulk header errors carry Redis's texts") {
    check_error("*1\r\n$x\r\n", "Protocol error: invalid bulk length");
    check_error("*1\r\n$-1\r\n", "Protocol error: invalid bulk length");
    check_error("*1\r\n$\r\n", "Protocol error: invalid bulk length");
    check_error("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length");
    check_error("*1\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    check_error("*2\r\n$1\r\na\r\nfoo\r\n", "Protocol error: expected '$', got 'f'");
  }

  TEST_CASE("an unexpected CR or NUL in the error text is rendered as Redis renders it") {
    CHECK(parse_error("*1\r\n\r\n") == "Protocol error: expected '$', got ' '");
    CHECK(parse_error(std::string_view("*1\r\n\0\r\n", 7)) ==
          "Protocol error: expected '$', got '");
  }

  TEST_CASE("limits turn oversized lengths into protocol errors") {
    RequestLimits limits;
    limits.max_bulk_len = 10;
    limits.max_multibulk_len = 3;
    limits.max_inline_len = 16;
    check_frame("*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$1\r\na\r\n", {"0123456789", "", "a"},
                limits);
    check_error("*1\r\n$11\r\n", "Protocol error: invalid bulk length", limits);
    check_error("*4\r\n", "Protocol error: invalid multibulk length", limits);
    check_error("PING PING PING PING", "Protocol error: too big inline request", limits);
    check_error("*11111111111111111", "Protocol error: too big mbulk count string", limits);
    check_error("*1\r\n$1111111111111111", "Protocol error: too big bulk count string", limits);
    // The inline limit applies only while the newline is missing.
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    RequestParser parser(limits);
    CHECK(parser.parse("ECHO 0123456789abcdef\r\n", &argv, &consumed) == Outcome::kCommand);
    CHECK(to_strings(argv) == Argv{"ECHO", "0123456789abcdef"});
  }

  TEST_CASE("default limits: lines over 64KB without an end are refused") {
    std::string inline_line(64 * 1024, 'a');
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    RequestParser parser;
    CHECK(parser.parse(inline_line, &argv, &consumed) == Outcome::kIncomplete);
    inline_line.push_back('a');
    CHECK(parser.parse(inline_line, &argv, &consumed) == Outcome::kError);
    CHECK(parser.error() == "Protocol error: too big inline request");

    CHECK(parse_error("*" + std::string(64 * 1024, '1')) ==
          "Protocol error: too big mbulk count string");
    CHECK(parse_error("*1\r\n$" + std::string(64 * 1024, '1')) ==
          "Protocol error: too big bulk count string");
  }

  TEST_CASE("a long inline line that has its newline is accepted") {
    const std::string arg(70 * 1024, 'z');
    CHECK(parse_one("ECHO " + arg + "\n") == Argv{"ECHO", arg});
  }

  TEST_CASE("an inline line ends at its first NUL byte, as sdssplitargs reads a C string") {
    CHECK(parse_one(std::string_view("SET a b\0c d\r\n", 13)) == Argv{"SET", "a", "b"});
  }

  TEST_CASE("a big bulk can be received outside the input and supplied whole") {
    const std::string big(RequestParser::kBigBulk + 5, 'v');
    const std::string head =
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + std::to_string(big.size()) + "\r\n";
    // The caller has the header and the first bytes of the bulk.
    std::string input = head + big.substr(0, 100);
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kIncomplete);
    const RequestParser::BigBulk bulk = parser.big_bulk();
    CHECK(bulk.offset == head.size());
    CHECK(bulk.length == big.size());
    // It takes the bulk over: keeps its input up to the offset, receives the rest elsewhere.
    input.resize(bulk.offset);
    const std::string own = big;
    parser.supply_big_bulk(own);
    CHECK(parser.big_bulk().length == 0);
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kCommand);
    CHECK(consumed == input.size());
    CHECK(to_strings(argv) == Argv{"SET", "k", big});
    CHECK(argv[2].data() == own.data());
  }

  TEST_CASE("after a supplied big bulk, parsing goes on with the bytes that follow") {
    const std::string big(RequestParser::kBigBulk, 'b');
    std::string input = "*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$" + std::to_string(big.size()) + "\r\n";
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kIncomplete);
    REQUIRE(parser.big_bulk().length == big.size());
    parser.supply_big_bulk(big);
    input += "$1\r\nv\r\n*1\r\n$4\r\nPING\r\n";
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kCommand);
    CHECK(to_strings(argv) == Argv{"HSET", "h", big, "v"});
    std::string_view rest = std::string_view(input).substr(consumed);
    REQUIRE(parser.parse(rest, &argv, &consumed) == Outcome::kCommand);
    CHECK(to_strings(argv) == Argv{"PING"});
  }

  TEST_CASE("bulks under 32 KiB are never offered for taking over") {
    const std::string head = "*1\r\n$" + std::to_string(RequestParser::kBigBulk - 1) + "\r\n";
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    REQUIRE(parser.parse(head, &argv, &consumed) == Outcome::kIncomplete);
    CHECK(parser.big_bulk().length == 0);
    CHECK(parser.bytes_hint() == RequestParser::kBigBulk + 1);
  }

  TEST_CASE("parsed_bytes counts the arguments of the incomplete command already parsed") {
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    const std::string input = "*2\r\n$3\r\nGET\r\n$5\r\nab";
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kIncomplete);
    CHECK(parser.parsed_bytes() == input.size() - 2);
    parser.reset();
    CHECK(parser.parsed_bytes() == 0);
  }

  TEST_CASE("argv views of unquoted arguments point into the input") {
    const std::string input = "*1\r\n$4\r\nPING\r\nECHO hi\r\n";
    RequestParser parser;
    std::vector<std::string_view> argv;
    size_t consumed = 0;
    REQUIRE(parser.parse(input, &argv, &consumed) == Outcome::kCommand);
    CHECK(argv[0].data() == input.data() + 8);
    std::string_view rest = std::string_view(input).substr(consumed);
    REQUIRE(parser.parse(rest, &argv, &consumed) == Outcome::kCommand);
    CHECK(argv[1].data() == rest.data() + 5);
  }
}
