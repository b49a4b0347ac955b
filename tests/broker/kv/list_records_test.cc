#include "broker/kv/list_records.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/kv/kv_store.h"
#include "broker/kv/list_object.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

// Collects emitted records (type, payload), as the snapshot writer would frame them.
class RecordList final : public KvRecordSink {
 public:
  void emit(uint8_t type) override {
    records.emplace_back(type, std::string(finished()));
    fbb_.Clear();
  }
  std::vector<std::pair<uint8_t, std::string>> records;
};

std::vector<std::string> elements_of(const ListObject& l) {
  std::vector<std::string> out;
  auto it = l.iterate_from(0);
  std::string_view v;
  while (it.next(&v)) out.emplace_back(v);
  return out;
}

TEST_SUITE("kv.list_records") {
  TEST_CASE("every list command's effect comes back after a restart") {
    KvFixture f;
    f.run({"RPUSH", "l", "a", "b", "c", "d", "e", "f", "a"});
    f.run({"LPUSH", "l", "z", "12345"});
    f.run({"LPOP", "l"});
    f.run({"RPOP", "l", "2"});
    f.run({"LSET", "l", "-1", "E"});
    f.run({"LINSERT", "l", "AFTER", "b", "b2"});
    f.run({"LREM", "l", "-1", "c"});
    f.run({"LTRIM", "l", "1", "-1"});
    f.run({"LMOVE", "l", "l", "LEFT", "RIGHT"});
    f.run({"RPOPLPUSH", "l", "m"});
    f.run({"LMPOP", "2", "none", "l", "RIGHT", "COUNT", "1"});
    f.run({"RPUSHX", "m", "x"});
    f.run({"RPUSH", "gone", "1", "2"});
    f.run({"LPOP", "gone", "5"});
    f.run({"RPUSH", "trimmed", "1"});
    f.run({"LTRIM", "trimmed", "1", "0"});
    f.run({"RPUSH", "ttl", "v"});
    f.run({"EXPIRE", "ttl", "1000"});
    const std::string l = f.run({"LRANGE", "l", "0", "-1"});
    const std::string m = f.run({"LRANGE", "m", "0", "-1"});
    CHECK(l == "*3\r\n$1\r\nb\r\n$2\r\nb2\r\n$1\r\nd\r\n");
    CHECK(m == "*2\r\n$1\r\na\r\n$1\r\nx\r\n");
    f.reopen();
    CHECK(f.run({"LRANGE", "l", "0", "-1"}) == l);
    CHECK(f.run({"LRANGE", "m", "0", "-1"}) == m);
    CHECK(f.run({"EXISTS", "gone", "trimmed"}) == ":0\r\n");
    CHECK(f.run({"TTL", "ttl"}) != ":-1\r\n");
    CHECK(f.run({"TYPE", "ttl"}) == "+list\r\n");
  }

  TEST_CASE("a snapshot holds a long list in chunks, and the journal after it replays on top") {
    KvFixture f;
    f.broker().kv().set_snapshot_threshold(4096);
    for (int i = 0; i < 3000; ++i) f.run({"RPUSH", "big", "element-" + std::to_string(i)});
    REQUIRE(f.broker().kv().wait_for_snapshot().is_ok());
    CHECK(f.broker().kv().snapshots_written() >= 1);
    f.run({"LPOP", "big", "10"});
    f.run({"LSET", "big", "0", "first"});
    const std::string all = f.run({"LRANGE", "big", "0", "-1"});
    f.reopen();
    CHECK(f.run({"LRANGE", "big", "0", "-1"}) == all);
    CHECK(f.run({"LLEN", "big"}) == ":2990\r\n");
  }

  TEST_CASE("the list module snapshots at most 1024 elements per record and replays them") {
    ListObject l;
    for (int i = 0; i < 2500; ++i) l.push(ListObject::End::kTail, std::to_string(i * 7));
    l.push(ListObject::End::kHead, std::string(3 << 20, 'x'));  // over the byte cap alone
    RecordList out;
    kListModule.snapshot(out, 0, "k", l);
    CHECK(out.records.size() == 4);
    OneDbTarget target;
    for (const auto& [type, payload] : out.records) {
      REQUIRE(kListModule.replay(target, type, payload).is_ok());
    }
    auto* copy = static_cast<ListObject*>(target.db.find_raw("k"));
    REQUIRE(copy != nullptr);
    CHECK(elements_of(*copy) == elements_of(l));
  }

  TEST_CASE("a record that does not verify is corruption") {
    OneDbTarget target;
    CHECK(!kListModule.replay(target, 16, "not a flatbuffer").is_ok());
    CHECK(!kListModule.replay(target, 31, "").is_ok());
  }

  TEST_CASE("COPY gets a deep copy") {
    KvFixture f;
    f.run({"RPUSH", "a", "1", "2", "3"});
    f.run({"COPY", "a", "b"});
    f.run({"RPUSH", "b", "4"});
    f.run({"LSET", "a", "0", "x"});
    CHECK(f.run({"LRANGE", "a", "0", "-1"}) == "*3\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\n3\r\n");
    CHECK(f.run({"LRANGE", "b", "0", "-1"}) ==
          "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n");
    f.reopen();
    CHECK(f.run({"LRANGE", "b", "0", "-1"}) ==
          "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n");
  }
}

}  // namespace
}  // namespace sluice::kv::testing
