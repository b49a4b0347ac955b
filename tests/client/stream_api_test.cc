// Stream command builders and reply parsers, fed with the exact RESP2 and RESP3 bytes Redis
// 7.0 sends.
#include "client/stream_api.h"

#include <doctest/doctest.h>

#include "wire/resp/reply_parser.h"

namespace sluice::client {
namespace {

Value resp(std::string_view bytes) {
  wire::resp::ReplyParser parser;
  Value v;
  size_t consumed = 0;
  REQUIRE(parser.parse(bytes, &v, &consumed) == wire::resp::ReplyParser::Outcome::kValue);
  REQUIRE(consumed == bytes.size());
  return v;
}

using Args = std::vector<std::string>;

}  // namespace

TEST_SUITE("client.stream_api") {
  TEST_CASE("XADD puts NOMKSTREAM and the trim clause before the ID") {
    XAddOptions o;
    o.no_mkstream = true;
    o.trim = TrimOptions::maxlen(1000, true);
    o.trim.limit = 50;
    CHECK(cmd::xadd("s", {{"f", "v"}}, o) ==
          Args{"XADD", "s", "NOMKSTREAM", "MAXLEN", "~", "1000", "LIMIT", "50", "*", "f", "v"});
    XAddOptions exact;
    exact.id = "5-1";
    exact.trim = TrimOptions::minid(StreamId{3, 0});
    CHECK(cmd::xadd("s", {{"a", "1"}, {"b", "2"}}, exact) ==
          Args{"XADD", "s", "MINID", "=", "3-0", "5-1", "a", "1", "b", "2"});
  }

  TEST_CASE("XREAD and XREADGROUP list every key before every ID") {
    ReadOptions r;
    r.count = 10;
    r.block_ms = 0;
    CHECK(cmd::xread({{"a", "$"}, {"b", "0"}}, r) ==
          Args{"XREAD", "COUNT", "10", "BLOCK", "0", "STREAMS", "a", "b", "$", "0"});
    GroupReadOptions g;
    g.block_ms = 500;
    g.noack = true;
    CHECK(cmd::xreadgroup("g", "c1", {{"s", ">"}}, g) ==
          Args{"XREADGROUP", "GROUP", "g", "c1", "BLOCK", "500", "NOACK", "STREAMS", "s", ">"});
  }

  TEST_CASE("XPENDING, XCLAIM and XAUTOCLAIM spell their options as Redis documents them") {
    PendingQuery q;
    q.min_idle_ms = 100;
    q.count = 5;
    q.consumer = "c1";
    CHECK(cmd::xpending("s", "g", q) ==
          Args{"XPENDING", "s", "g", "IDLE", "100", "-", "+", "5", "c1"});
    ClaimOptions c;
    c.retry_count = 3;
    c.justid = true;
    CHECK(cmd::xclaim("s", "g", "c2", 1000, {{1, 0}, {2, 5}}, c) ==
          Args{"XCLAIM", "s", "g", "c2", "1000", "1-0", "2-5", "RETRYCOUNT", "3", "JUSTID"});
    CHECK(cmd::xautoclaim("s", "g", "c2", 60000, "0-0", 25) ==
          Args{"XAUTOCLAIM", "s", "g", "c2", "60000", "0-0", "COUNT", "25"});
    CHECK(cmd::xtrim("s", TrimOptions::maxlen(0)) == Args{"XTRIM", "s", "MAXLEN", "=", "0"});
  }

  TEST_CASE("entries parse with their fields in order") {
    auto r = parse::entries(
        resp("*2\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
             "*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nc\r\n$0\r\n\r\n"));
    REQUIRE(r.ok());
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].id == StreamId{1, 1});
    CHECK((*r)[0].fields == Fields{{"a", "1"}, {"b", "2"}});
    CHECK(*(*r)[0].field("b") == "2");
    CHECK((*r)[0].field("zz") == nullptr);
    CHECK((*r)[1].fields == Fields{{"c", ""}});
  }

  TEST_CASE("a history read marks deleted pending entries instead of failing") {
    auto r = parse::read(resp("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n7-0\r\n*-1\r\n"));
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].entries[0].deleted);
    CHECK((*r)[0].entries[0].id == StreamId{7, 0});
  }

  TEST_CASE("XREAD replies parse alike from RESP2 arrays and RESP3 maps") {
    const char* resp2 =
        "*2\r\n*2\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        "*2\r\n$1\r\nb\r\n*0\r\n";
    const char* resp3 =
        "%2\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        "$1\r\nb\r\n*0\r\n";
    for (const char* bytes : {resp2, resp3}) {
      auto r = parse::read(resp(bytes));
      REQUIRE(r.ok());
      REQUIRE(r->size() == 2);
      CHECK((*r)[0].stream == "a");
      CHECK((*r)[0].entries.size() == 1);
      CHECK((*r)[1].stream == "b");
      CHECK((*r)[1].entries.empty());
    }
    auto timeout2 = parse::read(resp("*-1\r\n"));
    auto timeout3 = parse::read(resp("_\r\n"));
    REQUIRE(timeout2.ok());
    REQUIRE(timeout3.ok());
    CHECK(timeout2->empty());
    CHECK(timeout3->empty());
  }

  TEST_CASE("the XPENDING summary parses with and without pending entries") {
    auto some = parse::pending_summary(
        resp("*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n3-0\r\n*2\r\n*2\r\n$2\r\nc1\r\n$1\r\n2\r\n"
             "*2\r\n$2\r\nc2\r\n$1\r\n1\r\n"));
    REQUIRE(some.ok());
    CHECK(some->count == 3);
    CHECK(*some->smallest == StreamId{1, 0});
    CHECK(*some->largest == StreamId{3, 0});
    CHECK(some->consumers == std::vector<std::pair<std::string, int64_t>>{{"c1", 2}, {"c2", 1}});
    auto none = parse::pending_summary(resp("*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"));
    REQUIRE(none.ok());
    CHECK(none->count == 0);
    CHECK_FALSE(none->smallest.has_value());
    CHECK(none->consumers.empty());
  }

  TEST_CASE("extended XPENDING rows carry consumer, idle time and delivery count") {
    auto r = parse::pending_entries(resp("*1\r\n*4\r\n$3\r\n5-0\r\n$2\r\nc1\r\n:1500\r\n:3\r\n"));
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].id == StreamId{5, 0});
    CHECK((*r)[0].consumer == "c1");
    CHECK((*r)[0].idle_ms == 1500);
    CHECK((*r)[0].delivery_count == 3);
  }

  TEST_CASE("XAUTOCLAIM yields the next cursor, the claimed entries and the deleted IDs") {
    auto r = parse::autoclaim(
        resp("*3\r\n$3\r\n0-0\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
             "*1\r\n$3\r\n1-0\r\n"));
    REQUIRE(r.ok());
    CHECK(r->next_start.is_zero());
    REQUIRE(r->entries.size() == 1);
    CHECK(r->entries[0].id == StreamId{2, 0});
    CHECK(r->deleted == std::vector<StreamId>{{1, 0}});
    auto justid = parse::autoclaim(resp("*3\r\n$3\r\n9-0\r\n*1\r\n$3\r\n4-0\r\n*0\r\n"));
    REQUIRE(justid.ok());
    CHECK(justid->next_start == StreamId{9, 0});
    CHECK(justid->entries[0].id == StreamId{4, 0});
  }

  TEST_CASE("XINFO maps read alike from RESP2 flat arrays and RESP3 maps") {
    for (const char* bytes : {"*4\r\n$6\r\nlength\r\n:2\r\n$4\r\nname\r\n$1\r\ng\r\n",
                              "%2\r\n$6\r\nlength\r\n:2\r\n$4\r\nname\r\n$1\r\ng\r\n"}) {
      auto r = parse::info(resp(bytes));
      REQUIRE(r.ok());
      CHECK(r->integer("length") == 2);
      CHECK(r->text("name") == "g");
      CHECK(r->get("missing") == nullptr);
      CHECK(r->integer("missing", 7) == 7);
    }
  }

  TEST_CASE("replies of the wrong shape are kUnexpectedReply errors, not crashes") {
    auto bad_id = parse::id(resp("$5\r\nhello\r\n"));
    REQUIRE_FALSE(bad_id.ok());
    CHECK(bad_id.error().kind() == ErrorKind::kUnexpectedReply);
    CHECK_FALSE(parse::entries(resp(":1\r\n")).ok());
    CHECK_FALSE(parse::read(resp("*1\r\n:1\r\n")).ok());
    CHECK_FALSE(parse::pending_summary(resp("*0\r\n")).ok());
    CHECK_FALSE(parse::autoclaim(resp("*1\r\n$3\r\n0-0\r\n")).ok());
    CHECK_FALSE(parse::info(resp("*1\r\n:1\r\n")).ok());
    CHECK(parse::ok(resp("+OK\r\n")).ok());
    CHECK_FALSE(parse::ok(resp("+QUEUED\r\n")).ok());
  }
}

}  // namespace sluice::client
