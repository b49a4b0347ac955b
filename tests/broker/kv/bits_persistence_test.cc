// Bitmaps and HyperLogLogs journal partial writes (a byte range, changed registers); after a
// restart every value must be byte for byte what the clients last saw.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/kv/kv_store.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::kv::testing {
namespace {

std::vector<std::string> values(KvFixture& f, const std::vector<std::string_view>& keys) {
  std::vector<std::string> out;
  for (auto k : keys) {
    out.push_back(f.run({"GET", k}));
    out.push_back(f.run({"OBJECT", "ENCODING", k}));
  }
  return out;
}

TEST_SUITE("kv.store") {
  TEST_CASE("bit writes come back byte for byte after a restart") {
    KvFixture f;
    CHECK(f.run({"SETBIT", "b", "7", "1"}) == ":0\r\n");
    CHECK(f.run({"SETBIT", "b", "1000", "1"}) == ":0\r\n");
    CHECK(f.run({"SETBIT", "b", "7", "0"}) == ":1\r\n");
    f.run({"SET", "n", "123"});
    f.run({"SETBIT", "n", "0", "0"});  // no change, but the string turns raw
    f.run({"BITFIELD", "f", "SET", "i16", "#3", "-300", "INCRBY", "u4", "1", "9"});
    f.run({"BITFIELD", "f2", "OVERFLOW", "FAIL", "SET", "u8", "100", "300"});  // grows only
    f.run({"SET", "ttl", "abc", "EX", "1000"});
    f.run({"SETBIT", "ttl", "100", "1"});
    f.run({"BITOP", "XOR", "x", "b", "f"});
    const std::vector<std::string_view> keys = {"b", "n", "f", "f2", "ttl", "x"};
    auto before = values(f, keys);
    f.reopen();
    CHECK(values(f, keys) == before);
    CHECK(f.run({"TTL", "ttl"}) != ":-1\r\n");
    CHECK(f.run({"GETBIT", "b", "1000"}) == ":1\r\n");
  }

  TEST_CASE("HyperLogLogs come back byte for byte after a restart, sparse, dense and promoted") {
    KvFixture f;
    f.run({"PFADD", "sparse", "a", "b", "c"});
    f.run({"PFCOUNT", "sparse"});  // the cached count is part of the value
    // Sparse, then promoted to dense past hll-sparse-max-bytes.
    for (int i = 0; i < 1500; ++i) {
      const std::string e = "e" + std::to_string(i);
      f.run({"PFADD", "grow", e, e + "x"});
    }
    CHECK(f.run({"PFDEBUG", "ENCODING", "grow"}) == "+dense\r\n");
    // Dense and staying dense: only the changed registers are journaled.
    for (int i = 0; i < 500; ++i) f.run({"PFADD", "grow", "late" + std::to_string(i)});
    f.run({"PFADD", "todense", "x"});
    f.run({"PFDEBUG", "TODENSE", "todense"});
    f.run({"PFMERGE", "merged", "sparse", "todense"});
    f.run({"PFADD", "empty"});
    const std::vector<std::string_view> keys = {"sparse", "grow", "todense", "merged", "empty"};
    f.run({"PFADD", "grow", "stale-again"});
    // PFCOUNT refreshes the stale cached count: the new bytes are journaled too.
    const std::string count = f.run({"PFCOUNT", "grow"});
    auto before = values(f, keys);
    f.reopen();
    CHECK(values(f, keys) == before);
    CHECK(f.run({"PFCOUNT", "grow"}) == count);
    // And from a snapshot plus a journal tail.
    REQUIRE(f.broker().kv().write_snapshot());
    f.run({"PFADD", "grow", "after-snapshot"});
    before = values(f, keys);
    f.reopen();
    CHECK(values(f, keys) == before);
  }
}

}  // namespace
}  // namespace sluice::kv::testing
