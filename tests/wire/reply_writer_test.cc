// ReplyWriter: the exact bytes Redis 7.0 sends for each reply shape, in RESP2 and RESP3.
#include "wire/resp/reply_writer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

namespace {

using sluice::wire::resp::format_double;
using sluice::wire::resp::format_long_double;
using sluice::wire::resp::ReplyWriter;

std::string write(int protocol, const std::function<void(ReplyWriter&)>& fn) {
  std::string out;
  ReplyWriter writer(&out, protocol);
  fn(writer);
  return out;
}

// The bytes in RESP2 and RESP3 for the same call.
void check_both(const std::function<void(ReplyWriter&)>& fn, std::string_view resp2,
                std::string_view resp3) {
  CHECK(write(2, fn) == resp2);
  CHECK(write(3, fn) == resp3);
}

}  // namespace

TEST_SUITE("wire.resp.reply_writer") {
  TEST_CASE("simple strings, errors and OK are one line in both protocols") {
    check_both([](ReplyWriter& w) { w.simple("PONG"); }, "+PONG\r\n", "+PONG\r\n");
    check_both([](ReplyWriter& w) { w.ok(); }, "+OK\r\n", "+OK\r\n");
    check_both([](ReplyWriter& w) { w.error("ERR unknown command"); }, "-ERR unknown command\r\n",
               "-ERR unknown command\r\n");
  }

  TEST_CASE("CR and LF inside a status or error become spaces so the stream stays valid") {
    check_both([](ReplyWriter& w) { w.error("ERR a\r\nb"); }, "-ERR a  b\r\n", "-ERR a  b\r\n");
    check_both([](ReplyWriter& w) { w.simple("x\ny"); }, "+x y\r\n", "+x y\r\n");
  }

  TEST_CASE("integers are written in decimal, including the extremes") {
    check_both([](ReplyWriter& w) { w.integer(0); }, ":0\r\n", ":0\r\n");
    check_both([](ReplyWriter& w) { w.integer(-42); }, ":-42\r\n", ":-42\r\n");
    check_both([](ReplyWriter& w) { w.integer(std::numeric_limits<int64_t>::min()); },
               ":-9223372036854775808\r\n", ":-9223372036854775808\r\n");
    check_both([](ReplyWriter& w) { w.integer(std::numeric_limits<int64_t>::max()); },
               ":9223372036854775807\r\n", ":9223372036854775807\r\n");
  }

  TEST_CASE("bulk strings carry their length and may hold any bytes") {
    check_both([](ReplyWriter& w) { w.bulk("hello"); }, "$5\r\nhello\r\n", "$5\r\nhello\r\n");
    check_both([](ReplyWriter& w) { w.bulk(""); }, "$0\r\n\r\n", "$0\r\n\r\n");
    check_both([](ReplyWriter& w) { w.bulk(std::string_view("a\r\n\0", 4)); },
               std::string_view("$4\r\na\r\n\0\r\n", 10),
               std::string_view("$4\r\na\r\n\0\r\n", 10));
  }

  TEST_CASE("null is $-1 in RESP2 and _ in RESP3; a null array is *-1 in RESP2") {
    check_both([](ReplyWriter& w) { w.null(); }, "$-1\r\n", "_\r\n");
    check_both([](ReplyWriter& w) { w.null_array(); }, "*-1\r\n", "_\r\n");
    const std::string s = "v";
    check_both([&](ReplyWriter& w) { w.bulk_or_null(&s); }, "$1\r\nv\r\n", "$1\r\nv\r\n");
    check_both([](ReplyWriter& w) { w.bulk_or_null(nullptr); }, "$-1\r\n", "_\r\n");
  }

  TEST_CASE("aggregate headers degrade to arrays in RESP2") {
    check_both([](ReplyWriter& w) { w.array(3); }, "*3\r\n", "*3\r\n");
    check_both([](ReplyWriter& w) { w.array(0); }, "*0\r\n", "*0\r\n");
    check_both([](ReplyWriter& w) { w.map(2); }, "*4\r\n", "%2\r\n");
    check_both([](ReplyWriter& w) { w.map(0); }, "*0\r\n", "%0\r\n");
    check_both([](ReplyWriter& w) { w.set(5); }, "*5\r\n", "~5\r\n");
    check_both([](ReplyWriter& w) { w.push(3); }, "*3\r\n", ">3\r\n");
  }

  TEST_CASE("booleans are #t/#f in RESP3 and :1/:0 in RESP2") {
    check_both([](ReplyWriter& w) { w.boolean(true); }, ":1\r\n", "#t\r\n");
    check_both([](ReplyWriter& w) { w.boolean(false); }, ":0\r\n", "#f\r\n");
  }

  TEST_CASE("doubles use %.17g, a bulk string in RESP2 and ',' in RESP3") {
    check_both([](ReplyWriter& w) { w.dbl(1.5); }, "$3\r\n1.5\r\n", ",1.5\r\n");
    check_both([](ReplyWriter& w) { w.dbl(0.1); }, "$19\r\n0.10000000000000001\r\n",
               ",0.10000000000000001\r\n");
    check_both([](ReplyWriter& w) { w.dbl(3); }, "$1\r\n3\r\n", ",3\r\n");
    check_both([](ReplyWriter& w) { w.dbl(1e300); }, "$23\r\n1.0000000000000001e+300\r\n",
               ",1.0000000000000001e+300\r\n");
    check_both([](ReplyWriter& w) { w.dbl(std::numeric_limits<double>::infinity()); },
               "$3\r\ninf\r\n", ",inf\r\n");
    check_both([](ReplyWriter& w) { w.dbl(-std::numeric_limits<double>::infinity()); },
               "$4\r\n-inf\r\n", ",-inf\r\n");
    check_both([](ReplyWriter& w) { w.dbl(-0.0); }, "$2\r\n-0\r\n", ",-0\r\n");
  }

  TEST_CASE("verbatim strings carry a three-letter format in RESP3 and are plain bulks in RESP2") {
    check_both([](ReplyWriter& w) { w.verbatim("hello"); }, "$5\r\nhello\r\n",
               "=9\r\ntxt:hello\r\n");
    check_both([](ReplyWriter& w) { w.verbatim("# x", "mkd"); }, "$3\r\n# x\r\n",
               "=7\r\nmkd:# x\r\n");
  }

  TEST_CASE("the static helpers write headers and bulks without a writer") {
    std::string out;
    ReplyWriter::append_header(&out, '>', 3);
    ReplyWriter::append_bulk(&out, "message");
    ReplyWriter::append_header(&out, '*', std::numeric_limits<uint64_t>::max());
    CHECK(out == ">3\r\n$7\r\nmessage\r\n*18446744073709551615\r\n");
  }

  TEST_CASE("raw bytes are appended unchanged and the protocol is reported") {
    std::string out;
    ReplyWriter writer(&out, 3);
    CHECK(writer.resp3());
    CHECK(writer.protocol() == 3);
    CHECK(writer.buffer() == &out);
    writer.raw("+x\r\n");
    CHECK(out == "+x\r\n");
    CHECK_FALSE(ReplyWriter(&out, 2).resp3());
  }

  TEST_CASE("format_double matches Redis 7.0's %.17g spelling") {
    CHECK(format_double(0) == "0");
    CHECK(format_double(-2.5) == "-2.5");
    CHECK(format_double(123456789012345678.0) == "1.2345678901234568e+17");
    CHECK(format_double(1e-5) == "1.0000000000000001e-05");
    CHECK(format_double(std::nan("")) == "nan");
  }

  TEST_CASE("format_long_double prints as INCRBYFLOAT does, without trailing zeros") {
    CHECK(format_long_double(10.5L) == "10.5");
    CHECK(format_long_double(3.0L) == "3");
    CHECK(format_long_double(0.1L) == "0.1");
    CHECK(format_long_double(-1.25L) == "-1.25");
    CHECK(format_long_double(5.0e3L) == "5000");
    CHECK(format_long_double(-0.0L) == "0");
    CHECK(format_long_double(-1e-30L) == "0");
    CHECK(format_long_double(1e-17L) == "0.00000000000000001");
    CHECK(format_long_double(std::numeric_limits<long double>::infinity()) == "inf");
    CHECK(format_long_double(-std::numeric_limits<long double>::infinity()) == "-inf");
    CHECK(format_long_double(std::nanl("")) == "nan");
    CHECK(format_long_double(1e200L).size() == 201);
  }
}
