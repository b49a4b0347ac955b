// OutputQueue: order of staged and shared bytes, partial consumption, the durability gate, and
// replies whose length prefix is slotted in after their body (open_prefix/close_prefix).
#include "broker/core/output_queue.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

namespace sluice::core {
namespace {

// Every byte releasable at `durable`, in order.
std::string pending(const OutputQueue& q, uint64_t durable = 0) {
  std::vector<iovec> iov;
  q.releasable(durable, &iov, 1024);
  std::string out;
  for (const auto& v : iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

// Writes `body` as a deferred-prefix reply: "*<n>\r\n" + body.
void prefixed(OutputQueue& q, const std::string& body, size_t n) {
  size_t mark = q.open_prefix();
  q.staging()->append(body);
  std::string prefix = "*" + std::to_string(n) + "\r\n";
  q.close_prefix(mark, prefix);
}

}  // namespace

TEST_CASE("staged and shared bytes come out in append order and are consumed from the front") {
  OutputQueue q;
  q.staging()->append("+a\r\n");
  q.append_shared(std::make_shared<const std::string>("+shared\r\n"));
  q.staging()->append("+b\r\n");
  CHECK(pending(q) == "+a\r\n+shared\r\n+b\r\n");
  CHECK(q.bytes() == 17);
  q.consume(6);
  CHECK(pending(q) == "hared\r\n+b\r\n");
  q.consume(11);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}

TEST_CASE("a held reply is released only once its epoch is durable") {
  OutputQueue q;
  q.staging()->append("+now\r\n");
  q.hold(5);
  q.staging()->append("+later\r\n");
  CHECK(pending(q, 4) == "+now\r\n");
  CHECK(q.waiting_for_durability(4));
  CHECK(pending(q, 5) == "+now\r\n+later\r\n");
  CHECK_FALSE(q.waiting_for_durability(5));
}

TEST_CASE("a deferred prefix lands right before its body") {
  SUBCASE("nothing queued before it: the body does not move") {
    OutputQueue q;
    prefixed(q, "BODY", 7);
    CHECK(pending(q) == "*7\r\nBODY");
    CHECK(q.bytes() == 8);
    CHECK(q.staging_pending() == 8);
  }
  SUBCASE("a short pipelined reply before it moves instead of the body") {
    OutputQueue q;
    q.staging()->append("+OK\r\n");
    prefixed(q, std::string(1000, 'x'), 1000);
    CHECK(pending(q) == "+OK\r\n*1000\r\n" + std::string(1000, 'x'));
  }
  SUBCASE("a long reply before a short body: the body moves") {
    OutputQueue q;
    q.staging()->append(std::string(500, 'p'));
    prefixed(q, "B", 1);
    CHECK(pending(q) == std::string(500, 'p') + "*1\r\nB");
  }
  SUBCASE("after partly written bytes, and followed by more replies") {
    OutputQueue q;
    q.staging()->append("+first\r\n+second\r\n");
    q.consume(8);  // "+first\r\n" went out
    prefixed(q, "ENTRIES", 3);
    q.staging()->append(":1\r\n");
    CHECK(pending(q) == "+second\r\n*3\r\nENTRIES:1\r\n");
    q.consume(9);
    CHECK(pending(q) == "*3\r\nENTRIES:1\r\n");
  }
  SUBCASE("the largest count fills the room") {
    OutputQueue q;
    std::string prefix = "*18446744073709551615\r\n";
    size_t mark = q.open_prefix();
    q.staging()->append("E");
    q.close_prefix(mark, prefix);
    CHECK(pending(q) == prefix + "E");
  }
  SUBCASE("abort drops the room and the partial body") {
    OutputQueue q;
    q.staging()->append("+keep\r\n");
    size_t mark = q.open_prefix();
    q.staging()->append("partial");
    q.abort_prefix(mark);
    CHECK(pending(q) == "+keep\r\n");
  }
}

TEST_CASE("truncate_staging counts unsent bytes, so it survives a moved prefix") {
  OutputQueue q;
  q.staging()->append("+a\r\n");
  size_t mark = q.staging_pending();
  prefixed(q, "XYZ", 1);  // moves "+a\r\n" forward
  CHECK(pending(q) == "+a\r\n*1\r\nXYZ");
  q.truncate_staging(mark);  // the command's reply is dropped (CLIENT REPLY OFF)
  CHECK(pending(q) == "+a\r\n");
  q.staging()->append("+b\r\n");
  CHECK(pending(q) == "+a\r\n+b\r\n");
}

TEST_CASE("fail_held turns each held reply into the error and keeps pushes and earlier replies") {
  OutputQueue q;
  q.staging()->append("+early\r\n");
  q.seal_staging();  // as before an asynchronous write: its address must not change
  std::vector<iovec> in_flight;
  q.releasable(0, &in_flight, 16);
  q.hold(7);
  q.staging()->append("$2\r\nhi\r\n*2\r\n:1\r\n:2\r\n");
  q.append_shared(std::make_shared<const std::string>(">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"));
  q.staging()->append(":42\r\n");
  q.fail_held(6, "MISCONF no space");
  CHECK(pending(q, 6) ==
        "+early\r\n-MISCONF no space\r\n-MISCONF no space\r\n"
        ">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n-MISCONF no space\r\n");
  CHECK_FALSE(q.waiting_for_durability(6));
  // The bytes handed out before stay where they were.
  std::vector<iovec> now;
  q.releasable(6, &now, 16);
  CHECK(now[0].iov_base == in_flight[0].iov_base);
}

TEST_CASE("fail_held leaves a queue with nothing held as it is") {
  OutputQueue q;
  q.hold(3);
  q.staging()->append("+OK\r\n");
  q.fail_held(3, "MISCONF x");
  CHECK(pending(q, 3) == "+OK\r\n");
}

TEST_CASE("fail_uncommitted turns the replies queued since commit() into errors") {
  OutputQueue q;
  q.staging()->append("+one\r\n:1\r\n");
  q.consume(3);  // part of the first reply went out
  q.commit();
  q.staging()->append("$3\r\nabc\r\n");
  prefixed(q, ":1\r\n:2\r\n", 2);
  q.fail_uncommitted("MISCONF full");
  CHECK(pending(q) == "e\r\n:1\r\n-MISCONF full\r\n-MISCONF full\r\n");
  // Errors are committed: a second failure does not touch them.
  q.fail_uncommitted("MISCONF again");
  CHECK(pending(q) == "e\r\n:1\r\n-MISCONF full\r\n-MISCONF full\r\n");
  q.consume(q.bytes());
  CHECK(q.empty());
}

TEST_CASE("a failed batch keeps the published messages of a RESP2 subscriber") {
  OutputQueue q;
  q.commit();
  q.staging()->append("+PONG\r\n");
  q.append_shared(
      std::make_shared<const std::string>("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n"));
  q.fail_uncommitted("MISCONF full");
  CHECK(pending(q) == "-MISCONF full\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n");
}

}  // namespace sluice::core
