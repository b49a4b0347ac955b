// Big values in the KV layer: big strings journaled and snapshotted from their own bytes (and
// chunked), replay that never installs part of a value, SET keeping a big argument without a
// copy, and snapshots written by a forked child while commands go on.
#include <doctest/doctest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/commands/dispatch.h"
#include "broker/kv/big_value_records.h"
#include "broker/kv/forked_child.h"
#include "broker/kv/kv_object.h"
#include "broker/kv/kv_store.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

struct Records final : BigValueSink {
  std::vector<std::string> payloads;
  std::vector<uint8_t> types;
  void emit_parts(uint8_t type, std::string_view head, std::string_view body) override {
    types.push_back(type);
    payloads.push_back(std::string(head) + std::string(body));
  }
};

std::string value_of(size_t n) {
  std::string v(n, '\0');
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return v;
}

}  // namespace

TEST_SUITE("kv.big_value") {
  TEST_CASE("a big string's chunks replay into the whole value, and only once all arrived") {
    StringObject s(value_of(10000));
    s.expire_at_ms = 1234567;
    s.raw = true;
    Records out;
    emit_big_string(out, 3, "key", s, 4096);
    REQUIRE(out.payloads.size() == 3);

    OneDbTarget target(3);
    BigValueReplay replay;
    REQUIRE(replay.replay(target, kStringBytesRecord, out.payloads[0]).is_ok());
    REQUIRE(replay.replay(target, kStringBytesRecord, out.payloads[1]).is_ok());
    CHECK(target.db.find_raw("key") == nullptr);  // not before its last chunk
    REQUIRE(replay.replay(target, kStringBytesRecord, out.payloads[2]).is_ok());
    auto* got = static_cast<StringObject*>(target.db.find_raw("key"));
    REQUIRE(got != nullptr);
    CHECK(got->value == s.value);
    CHECK(got->expire_at_ms == 1234567);
    CHECK(got->raw);

    // A torn write: the first chunks, then the journal goes on with another record.
    OneDbTarget torn(3);
    BigValueReplay again;
    REQUIRE(again.replay(torn, kStringBytesRecord, out.payloads[0]).is_ok());
    again.interrupted();
    CHECK(again.replay(torn, kStringBytesRecord, out.payloads[1]).code() ==
          wire::ErrorCode::kCorruption);
    CHECK(torn.db.find_raw("key") == nullptr);
  }

  TEST_CASE("a big string in one record, and bad records, replay as they should") {
    StringObject s(value_of(3000));
    Records out;
    emit_big_string(out, 3, "k", s);
    REQUIRE(out.payloads.size() == 1);
    OneDbTarget target(3);
    BigValueReplay replay;
    REQUIRE(replay.replay(target, kStringBytesRecord, out.payloads[0]).is_ok());
    CHECK(static_cast<StringObject*>(target.db.find_raw("k"))->value == s.value);
    CHECK(replay.replay(target, kStringBytesRecord, out.payloads[0].substr(0, 20)).code() ==
          wire::ErrorCode::kCorruption);
    std::string bad_meta = out.payloads[0];
    bad_meta[0] = '\x7f';  // meta_len past the payload
    bad_meta[1] = '\x7f';
    CHECK(replay.replay(target, kStringBytesRecord, bad_meta).code() ==
          wire::ErrorCode::kCorruption);
  }

  TEST_CASE("a big hash field's chunks replay into the hash, next to its other fields") {
    const std::string v = value_of(9000);
    Records out;
    emit_big_hash_field(out, 3, "h", "big", v, true, 4000);
    REQUIRE(out.payloads.size() == 3);
    CHECK(out.types == std::vector<uint8_t>(3, kHashFieldBytesRecord));
    OneDbTarget target(3);
    auto small = std::make_unique<HashObject>();
    small->set("a", "1");
    target.db.put("h", std::move(small));
    BigValueReplay replay;
    for (const std::string& p : out.payloads) {
      REQUIRE(replay.replay(target, kHashFieldBytesRecord, p).is_ok());
    }
    auto* h = static_cast<HashObject*>(target.db.find_raw("h"));
    REQUIRE(h != nullptr);
    CHECK(h->size() == 2);
    CHECK(*h->get("a") == "1");
    CHECK(*h->get("big") == v);
    CHECK(h->is_table());
    // A record of one type does not continue a value of the other.
    Records str;
    StringObject s(value_of(9000));
    emit_big_string(str, 3, "h", s, 4000);
    BigValueReplay mixed;
    REQUIRE(mixed.replay(target, kHashFieldBytesRecord, out.payloads[0]).is_ok());
    CHECK(mixed.replay(target, kStringBytesRecord, str.payloads[1]).code() ==
          wire::ErrorCode::kCorruption);
  }

  TEST_CASE("SET keeps a big argument's buffer instead of copying it") {
    KvFixture f;
    std::vector<std::string> owned{value_of(kBigValueBytes + 10)};
    const char* bytes = owned[0].data();
    std::vector<std::string_view> argv{"SET", "k", owned[0]};
    core::Client client(7, nullptr);
    f.broker().add_client(&client);
    client.owned_args = owned;
    commands::execute(f.broker(), client, argv);
    client.owned_args = {};
    auto* s = static_cast<StringObject*>(f.broker().db(0).find_raw("k"));
    REQUIRE(s != nullptr);
    CHECK(s->value.data() == bytes);
    CHECK(owned[0].empty());
    f.broker().remove_client(&client);
    const std::string expected = value_of(kBigValueBytes + 10);
    f.reopen();
    CHECK(static_cast<StringObject*>(f.broker().db(0).find_raw("k"))->value == expected);
  }

  TEST_CASE("big strings, hashes and overwrites come back after a restart and a snapshot") {
    KvFixture f;
    const std::string big = value_of(kBigValueBytes * 2 + 5);
    f.run({"SET", "s", big, "PX", "100000000"});
    f.run({"HSET", "h", "f", big});
    f.run({"SET", "o", big});
    f.run({"SET", "o", "small now"});
    f.run({"APPEND", "s", "+tail"});
    f.reopen();
    CHECK(f.run({"GET", "s"}) == "$" + std::to_string(big.size() + 5) + "\r\n" + big + "+tail\r\n");
    CHECK(f.run({"HGET", "h", "f"}) == "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n");
    CHECK(f.run({"GET", "o"}) == "$9\r\nsmall now\r\n");
    CHECK(f.broker().db(0).find_raw("s")->expire_at_ms > 0);
    REQUIRE(f.broker().kv().write_snapshot().is_ok());
    f.reopen();
    CHECK(f.run({"STRLEN", "s"}) == ":" + std::to_string(big.size() + 5) + "\r\n");
    CHECK(f.run({"HSTRLEN", "h", "f"}) == ":" + std::to_string(big.size()) + "\r\n");
  }

  TEST_CASE("HSET journals big values in argument order with the small ones around them") {
    KvFixture f;
    const std::string big = value_of(kBigValueBytes + 3);
    f.run({"HSET", "h", "a", "1", "x", big, "b", "2", "x", "small again", "y", big});
    f.run({"HSET", "h", "a", big});
    f.reopen();
    CHECK(f.run({"HLEN", "h"}) == ":4\r\n");
    CHECK(f.run({"HGET", "h", "x"}) == "$11\r\nsmall again\r\n");
    CHECK(f.run({"HGET", "h", "a"}) == "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n");
    CHECK(f.run({"HGET", "h", "y"}) == "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n");
    CHECK(f.run({"HGET", "h", "b"}) == "$1\r\n2\r\n");
  }

  TEST_CASE("a hash's snapshot is cut into records of at most 1024 fields") {
    KvFixture f;
    for (int i = 0; i < 2500; ++i) {
      f.run({"HSET", "h", "f" + std::to_string(i), "v" + std::to_string(i)});
    }
    f.run({"HSET", "h", "big", value_of(kBigValueBytes)});
    f.run({"PEXPIRE", "h", "100000000"});
    REQUIRE(f.broker().kv().write_snapshot().is_ok());
    f.reopen();
    CHECK(f.run({"HLEN", "h"}) == ":2501\r\n");
    CHECK(f.run({"HGET", "h", "f2499"}) == "$5\r\nv2499\r\n");
    CHECK(f.run({"HSTRLEN", "h", "big"}) == ":" + std::to_string(kBigValueBytes) + "\r\n");
    CHECK(f.broker().db(0).find_raw("h")->expire_at_ms > 0);
  }

  TEST_CASE("a big argument queued by MULTI moves into the queue and then into the value") {
    KvFixture f;
    core::Client client(7, nullptr);
    f.broker().add_client(&client);
    std::vector<std::string_view> multi{"MULTI"};
    commands::execute(f.broker(), client, multi);
    std::vector<std::string> owned{value_of(kBigValueBytes + 7)};
    const char* bytes = owned[0].data();
    std::vector<std::string_view> set{"SET", "k", owned[0]};
    client.owned_args = owned;
    commands::execute(f.broker(), client, set);
    client.owned_args = {};
    CHECK(owned[0].empty());
    std::vector<std::string_view> exec{"EXEC"};
    commands::execute(f.broker(), client, exec);
    auto* s = static_cast<StringObject*>(f.broker().db(0).find_raw("k"));
    REQUIRE(s != nullptr);
    CHECK(s->value.data() == bytes);
    CHECK(s->value == value_of(kBigValueBytes + 7));
    f.broker().remove_client(&client);
  }

  TEST_CASE("HSET keeps big arguments' buffers, even for a field given twice") {
    KvFixture f;
    std::vector<std::string> owned{value_of(kBigValueBytes + 1), value_of(kBigValueBytes + 2)};
    const char* second = owned[1].data();
    std::vector<std::string_view> argv{"HSET", "h", "f", owned[0], "f", owned[1]};
    core::Client client(7, nullptr);
    f.broker().add_client(&client);
    client.owned_args = owned;
    commands::execute(f.broker(), client, argv);
    client.owned_args = {};
    f.broker().remove_client(&client);
    auto* h = static_cast<HashObject*>(f.broker().db(0).find_raw("h"));
    REQUIRE(h != nullptr);
    CHECK(h->get("f")->data() == second);
    f.reopen();
    CHECK(f.run({"HSTRLEN", "h", "f"}) == ":" + std::to_string(kBigValueBytes + 2) + "\r\n");
  }

  TEST_CASE("a background snapshot holds what was written while the child ran") {
    KvFixture f;
    f.broker().kv().set_snapshot_threshold(4096);
    int n = 0;
    for (; !f.broker().kv().snapshot_running() && n < 10000; ++n) {
      f.run({"SET", "k" + std::to_string(n), "value-" + std::to_string(n)});
    }
    REQUIRE(f.broker().kv().snapshot_running());
    // Writes while the child writes: they go to the journal and into the new snapshot's tail.
    const int started_at = n;
    for (; n < started_at + 50; ++n) f.run({"SET", "k" + std::to_string(n), "late"});
    f.run({"DEL", "k0"});
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() == 1);
    f.reopen();
    CHECK(f.broker().db(0).size() == static_cast<size_t>(n - 1));
    CHECK(f.run({"EXISTS", "k0"}) == ":0\r\n");
    CHECK(f.run({"GET", "k1"}) == "$7\r\nvalue-1\r\n");
    CHECK(f.run({"GET", "k" + std::to_string(n - 1)}) == "$4\r\nlate\r\n");
  }

  TEST_CASE("a forked child reports success, failure and being killed") {
    ForkedChild child;
    std::string error;
    REQUIRE(child.start([] { return true; }, &error));
    CHECK(child.poll(true) == ForkedChild::State::kSucceeded);
    CHECK(child.poll() == ForkedChild::State::kIdle);
    REQUIRE(child.start([] { return false; }, &error));
    std::string why;
    CHECK(child.poll(true, &why) == ForkedChild::State::kFailed);
    CHECK(why == "exited with status 1");
    REQUIRE(child.start(
        [] {
          ::pause();
          return true;
        },
        &error));
    CHECK(child.running());
    child.kill();
    CHECK_FALSE(child.running());
  }
}

}  // namespace sluice::kv::testing
