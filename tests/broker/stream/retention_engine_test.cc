// Background retention through the broker: StreamEngine::apply_retention with an injected clock,
// driven and observed with real commands (XINFO, XPENDING, XAUTOCLAIM, INFO, CONFIG SET), across
// a reopen of the whole broker (what DEBUG RELOAD and a restart do).
#include <doctest/doctest.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/stream/stream_engine.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::stream {
namespace {

using kv::testing::KvFixture;

// A broker whose streams roll a segment every 4 KiB.
struct RetentionFixture : KvFixture {
  RetentionFixture() { config().stream_segment_bytes = 4096; }

  // Entries (1000 + i)-0 for i in [0, n): with the 40-byte value, ~60 entries per segment.
  void fill(const std::string& key, int n) {
    const std::string value(40, 'v');
    for (int i = 0; i < n; ++i) {
      std::string id = std::to_string(1000 + i) + "-0";
      REQUIRE(call({"XADD", key, id, "f", value}) ==
              "$" + std::to_string(id.size()) + "\r\n" + id + "\r\n");
    }
  }
  Stream& stream(const std::string& key) {
    core::Object* obj = broker().db(0).find(key, 0);
    REQUIRE(obj != nullptr);
    REQUIRE(obj->type() == core::ObjectType::kStream);
    return *static_cast<Stream*>(obj);
  }
  StreamEngine::RetentionPass retain(int64_t now_ms, size_t max_streams = 100,
                                     size_t max_segments = 1000) {
    auto pass = broker().streams().apply_retention(now_ms, max_streams, max_segments);
    broker().flush_storage();
    // The dropped segments are unlinked once the state that dropped them is durable.
    sync_batch();
    return pass;
  }
  // What clients see of a stream and its group `g` (nothing that depends on the clock).
  std::string observe(const std::string& key) {
    std::string out;
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"XLEN", key},
                                               {"XRANGE", key, "-", "+"},
                                               {"XINFO", "STREAM", key},
                                               {"XINFO", "GROUPS", key},
                                               {"XPENDING", key, "g"},
                                               {"XREVRANGE", key, "+", "-", "COUNT", "3"}}) {
      out += call(args) + "\n";
    }
    return out;
  }
  // Runs one command and returns its whole reply, however the command queued it (some replies
  // are built around a reserved length prefix, so a mark in the staging buffer is not enough).
  std::string call(const std::vector<std::string>& args) {
    core::Client& client = *broker().find_client(1);
    client.out.clear();
    std::vector<std::string_view> views(args.begin(), args.end());
    commands::execute(broker(), client, views);
    broker().flush_storage();
    std::vector<iovec> iov;
    client.out.releasable(UINT64_MAX, &iov, SIZE_MAX);
    std::string reply;
    for (const iovec& v : iov) reply.append(static_cast<const char*>(v.iov_base), v.iov_len);
    client.out.clear();
    return reply;
  }
};

int64_t info_field(RetentionFixture& f, const std::string& name) {
  std::string info = f.call({"INFO", "streams"});
  size_t at = info.find(name + ":");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + name.size() + 1));
}

TEST_SUITE("stream.retention") {
  TEST_CASE("retention is off by default and with both options at 0") {
    RetentionFixture f;
    f.fill("s", 300);
    auto pass = f.retain(INT64_MAX);
    CHECK(pass.streams_visited == 0);
    CHECK(pass.segments_dropped == 0);
    CHECK(f.call({"XLEN", "s"}) == ":300\r\n");
  }

  TEST_CASE("age retention drops old segments and CONFIG SET applies at once") {
    RetentionFixture f;
    f.fill("s", 300);
    const size_t segments = f.stream("s").log().segment_count();
    REQUIRE(segments >= 4);
    REQUIRE(f.call({"CONFIG", "SET", "stream-retention-ms", "100"}) == "+OK\r\n");
    // At 1100 nothing is older than 1000.
    CHECK(f.retain(1100).segments_dropped == 0);
    // The second segment's last entry becomes older than the cutoff.
    const uint64_t last_of_1 = f.stream("s").log().segment_info(1).last_key.ms;
    auto pass = f.retain(static_cast<int64_t>(last_of_1) + 101);
    CHECK(pass.streams_visited == 1);
    CHECK(pass.segments_dropped == 2);
    const Stream& s = f.stream("s");
    CHECK(s.log().segment_count() == segments - 2);
    CHECK(pass.entries_dropped == 300 - s.length());
    CHECK(s.first_id().ms == last_of_1 + 1);
    CHECK(f.call({"XRANGE", "s", "-", "+", "COUNT", "1"}).find(s.first_id().to_string()) !=
          std::string::npos);
    CHECK(info_field(f, "stream_retention_dropped_segments") == 2);
    CHECK(info_field(f, "stream_retention_dropped_entries") ==
          static_cast<int64_t>(pass.entries_dropped));
    // Off again: nothing more is dropped, however old.
    REQUIRE(f.call({"CONFIG", "SET", "stream-retention-ms", "0"}) == "+OK\r\n");
    CHECK(f.retain(INT64_MAX).segments_dropped == 0);
    // Everything old: all but the newest segment.
    REQUIRE(f.call({"CONFIG", "SET", "stream-retention-ms", "1"}) == "+OK\r\n");
    f.retain(INT64_MAX);
    CHECK(f.stream("s").log().segment_count() == 1);
    CHECK(f.call({"CONFIG", "RESETSTAT"}) == "+OK\r\n");
    CHECK(info_field(f, "stream_retention_dropped_segments") == 0);
  }

  TEST_CASE("size retention keeps each stream's log within the limit, except its newest segment") {
    RetentionFixture f;
    f.fill("a", 500);
    f.fill("b", 100);
    REQUIRE(f.call({"CONFIG", "SET", "stream-retention-bytes", "10000"}) == "+OK\r\n");
    f.retain(0);
    for (const char* key : {"a", "b"}) {
      const Stream& s = f.stream(key);
      CHECK((s.log().disk_bytes() <= 10000 || s.log().segment_count() == 1));
      CHECK(s.last_id() == (std::string(key) == "a" ? StreamId{1499, 0} : StreamId{1099, 0}));
    }
    const uint64_t len_a = f.stream("a").length();
    CHECK(len_a < 500);
    // XADD goes on, retention keeps the length bounded.
    const std::string value(40, 'v');
    for (int i = 1500; i < 3000; ++i) {
      f.call({"XADD", "a", std::to_string(i) + "-0", "f", value});
      if (i % 100 == 0) f.retain(0);
    }
    f.retain(0);
    CHECK(f.stream("a").log().disk_bytes() <= 10000);
    CHECK(f.stream("a").length() <= len_a + 100);
  }

  TEST_CASE("each call visits a bounded number of streams and segments, resuming where it ended") {
    RetentionFixture f;
    for (int k = 0; k < 5; ++k) f.fill("s" + std::to_string(k), 300);
    const size_t segments = f.stream("s0").log().segment_count();
    REQUIRE(segments >= 4);
    f.config().stream_retention_ms = 1;
    auto pass = f.retain(INT64_MAX, 2, 1000);
    CHECK(pass.streams_visited == 2);
    CHECK(pass.segments_dropped == 2 * (segments - 1));
    // A segment budget of one: the stream keeps its turn until it is done.
    pass = f.retain(INT64_MAX, 100, 1);
    CHECK(pass.streams_visited == 1);
    CHECK(pass.segments_dropped == 1);
    while (true) {
      pass = f.retain(INT64_MAX, 2, 2);
      CHECK(pass.streams_visited <= 2);
      CHECK(pass.segments_dropped <= 2);
      if (pass.segments_dropped == 0) break;
    }
    for (int k = 0; k < 5; ++k) CHECK(f.stream("s" + std::to_string(k)).log().segment_count() == 1);
    CHECK(info_field(f, "stream_retention_dropped_segments") ==
          static_cast<int64_t>(5 * (segments - 1)));
  }

  TEST_CASE("after retention, groups, PELs and lag read as after XTRIM MINID, also reopened") {
    RetentionFixture f;
    // Stream "r" loses its old segments to retention; "t" gets the same commands and then
    // XTRIM MINID = at the first kept ID. Clients must not be able to tell them apart.
    auto build = [&](const std::string& key) {
      f.fill(key, 300);
      REQUIRE(f.call({"XGROUP", "CREATE", key, "g", "0"}) == "+OK\r\n");
      REQUIRE(f.call({"XGROUP", "CREATE", key, "late", "1250-0"}) == "+OK\r\n");
      f.call({"XREADGROUP", "GROUP", "g", "alice", "COUNT", "20", "STREAMS", key, ">"});
      f.call({"XREADGROUP", "GROUP", "g", "bob", "COUNT", "150", "STREAMS", key, ">"});
      f.call({"XACK", key, "g", "1003-0", "1004-0"});
      f.call({"XDEL", key, "1001-0", "1100-0", "1299-0"});
    };
    build("r");
    f.config().stream_retention_ms = 1;
    auto pass = f.retain(1500);  // every segment but the newest is older than 1499
    REQUIRE(pass.segments_dropped > 0);
    f.config().stream_retention_ms = 0;
    const StreamId first_kept = f.stream("r").start();
    build("t");
    f.call({"XTRIM", "t", "MINID", "=", first_kept.to_string()});

    const std::string seen = f.observe("r");
    REQUIRE(seen.find("1298-0") != std::string::npos);
    CHECK(seen == f.observe("t"));
    CHECK(f.stream("r").length() < 297);
    // Dropped pending entries stay pending; XAUTOCLAIM reports them as deleted, as after XTRIM.
    CHECK(f.call({"XPENDING", "r", "g"}).find(":168\r\n") != std::string::npos);
    const std::string claimed =
        f.call({"XAUTOCLAIM", "r", "g", "carol", "0", "0-0", "COUNT", "200", "JUSTID"});
    CHECK(claimed ==
          f.call({"XAUTOCLAIM", "t", "g", "carol", "0", "0-0", "COUNT", "200", "JUSTID"}));
    CHECK(claimed.find("1000-0") != std::string::npos);
    CHECK(f.observe("r") == f.observe("t"));

    const std::string before = f.observe("r");
    f.reopen();
    CHECK(f.observe("r") == before);
    CHECK(f.observe("t") == before);
  }
}

}  // namespace
}  // namespace sluice::stream
