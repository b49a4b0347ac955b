// DUMP/RESTORE payloads: Redis 7.0's own payloads decode (and Sluice writes the same bytes where
// it picks the same encoding), every type round-trips at sizes on both sides of its encoding
// limits, old encodings decode, and corrupt payloads are refused with Redis's texts.
#include "broker/kv/rdb_codec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "broker/kv/kv_object.h"
#include "broker/kv/rdb_blobs.h"
#include "tests/broker/kv/rdb_test_util.h"
#include "wire/rdb_format.h"

namespace sluice::kv {
namespace {

using testing::from_hex;

// A payload around a hand-made body (type byte + object).
std::string sealed(std::string body) {
  wire::rdb::seal_payload(body);
  return body;
}

std::unique_ptr<core::Object> restore_ok(std::string_view payload, RdbLoadLimits limits = {}) {
  auto r = rdb_restore(payload, limits);
  REQUIRE_MESSAGE(r.is_ok(), (r.is_ok() ? "" : r.status().detail()));
  return std::move(*r);
}

std::string restore_error(std::string_view payload) {
  auto r = rdb_restore(payload, {});
  return r.is_ok() ? "(no error)" : r.status().detail();
}

std::string dump_ok(const core::Object& obj) {
  auto r = rdb_dump(obj);
  REQUIRE(r.is_ok());
  return *r;
}

std::vector<std::string> list_items(const core::Object& obj) {
  REQUIRE(obj.type() == core::ObjectType::kList);
  std::vector<std::string> out;
  auto it = static_cast<const ListObject&>(obj).iterate_from(0);
  std::string_view v;
  while (it.next(&v)) out.emplace_back(v);
  return out;
}

std::vector<std::pair<std::string, std::string>> hash_items(const core::Object& obj) {
  REQUIRE(obj.type() == core::ObjectType::kHash);
  std::vector<std::pair<std::string, std::string>> out;
  static_cast<const HashObject&>(obj).for_each(
      [&](const std::string& f, const std::string& v) { out.emplace_back(f, v); });
  return out;
}

std::vector<std::string> set_items(const core::Object& obj) {
  REQUIRE(obj.type() == core::ObjectType::kSet);
  std::vector<std::string> out;
  static_cast<const SetObject&>(obj).for_each([&](std::string_view m) { out.emplace_back(m); });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, double>> zset_items(const core::Object& obj) {
  REQUIRE(obj.type() == core::ObjectType::kZSet);
  std::vector<std::pair<std::string, double>> out;
  static_cast<const ZSetObject&>(obj).for_each(
      [&](const ZMember& m) { out.emplace_back(std::string(m.view()), m.score); });
  return out;
}

// DUMP payloads written by redis-server 7.0.15 for small values (SET, RPUSH, HSET, SADD, ZADD).
constexpr std::string_view kRedisString = "0001760a009108ceb219388ace";  // "v"
constexpr std::string_view kRedisInt = "00c07b0a0048e253e1007a67b9";     // "123"
constexpr std::string_view kRedisBigInt = "000b31323334353637383930310a00304e52d727176510";
constexpr std::string_view kRedisList =  // a 1 -1 300 70000
    "120102171700000005008161020101dfff02c12c02f270110104ff0a000539366424d50c6b";
constexpr std::string_view kRedisHash =  // f v n 5
    "1012120000000400816602817602816e020501ff0a008490939f57b4f3c2";
constexpr std::string_view kRedisIntset = "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b";
constexpr std::string_view kRedisSet = "0202016101620a00fe642125eb033d0d";  // a b
constexpr std::string_view kRedisZSet =                                     // 1 a 2.5 b -3 c
    "111a1a0000000600816302dffd02816102010181620283322e3504ff0a00a68a1ab1a9f2dcc2";
constexpr std::string_view kRedisLzf =  // 48 x "a", LZF-compressed
    "00c30930016161e023000161610a0034c5f2cf486cd18c";

}  // namespace

TEST_SUITE("kv.rdb_codec") {
  TEST_CASE("CRC-64/Jones has Redis's check value") {
    CHECK(wire::rdb::crc64_jones(0, "123456789") == 0xe9c6d914c4b8d9caull);
  }

  TEST_CASE(
      "redis-server 7.0 payloads restore, and Sluice dumps the same values to the same bytes") {
    // (A hash-table set is written in table order, which is not Redis's: kRedisSet is checked
    // by content below.)
    for (auto hex : {kRedisString, kRedisInt, kRedisBigInt, kRedisList, kRedisHash, kRedisIntset,
                     kRedisZSet}) {
      CAPTURE(hex);
      const std::string payload = from_hex(hex);
      auto obj = restore_ok(payload);
      CHECK(dump_ok(*obj) == payload);
    }
    CHECK(static_cast<StringObject&>(*restore_ok(from_hex(kRedisInt))).value == "123");
    CHECK(static_cast<StringObject&>(*restore_ok(from_hex(kRedisBigInt))).value == "12345678901");
    CHECK(list_items(*restore_ok(from_hex(kRedisList))) ==
          std::vector<std::string>{"a", "1", "-1", "300", "70000"});
    CHECK(hash_items(*restore_ok(from_hex(kRedisHash))) ==
          std::vector<std::pair<std::string, std::string>>{{"f", "v"}, {"n", "5"}});
    auto intset = restore_ok(from_hex(kRedisIntset));
    CHECK(static_cast<SetObject&>(*intset).is_intset());
    CHECK(set_items(*intset) == std::vector<std::string>{"1", "2", "3"});
    CHECK(set_items(*restore_ok(from_hex(kRedisSet))) == std::vector<std::string>{"a", "b"});
    CHECK(zset_items(*restore_ok(from_hex(kRedisZSet))) ==
          std::vector<std::pair<std::string, double>>{{"c", -3}, {"a", 1}, {"b", 2.5}});
  }

  TEST_CASE("LZF compression expands back to the input, and gives up when it saves nothing") {
    std::string random_bytes;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 5000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      random_bytes.push_back(static_cast<char>(x));
    }
    std::string packed;
    CHECK_FALSE(wire::rdb::lzf_compress(random_bytes, random_bytes.size() - 4, &packed));
    for (std::string in : {std::string(100000, 'a'), std::string("abc") + std::string(300, 'x'),
                           random_bytes.substr(0, 3000) + random_bytes.substr(0, 3000) +
                               std::string(9000, '\0') + random_bytes.substr(100, 50)}) {
      REQUIRE(wire::rdb::lzf_compress(in, in.size() - 4, &packed));
      CHECK(packed.size() < in.size() / 2);
      std::string back;
      CHECK(wire::rdb::lzf_decompress(packed, in.size(), &back));
      CHECK(back == in);
      std::string payload;
      wire::rdb::put_string(payload, in);
      CHECK(static_cast<uint8_t>(payload[0]) == 0xC3);
    }
  }

  TEST_CASE("an LZF-compressed string restores") {
    auto obj = restore_ok(from_hex(kRedisLzf));
    CHECK(static_cast<StringObject&>(*obj).value == std::string(48, 'a'));
  }

  TEST_CASE("every type round-trips below and above its encoding limits") {
    SUBCASE("strings, integers at each width, binary bytes") {
      for (std::string v :
           {std::string(), std::string("-128"), std::string("32767"), std::string("-2147483648"),
            std::string("2147483648"), std::string("007"), std::string("-0"),
            std::string("\0\xff", 2), std::string(70000, 'q')}) {
        StringObject s(v);
        CHECK(static_cast<StringObject&>(*restore_ok(dump_ok(s))).value == v);
      }
    }
    SUBCASE("hashes") {
      for (size_t n : {1, 128, 129, 3000}) {
        HashObject h;
        for (size_t i = 0; i < n; ++i) {
          std::string f = "field:" + std::to_string(i);
          std::string v = i % 3 ? std::to_string(i * 7919) : std::string(i % 100, 'v');
          h.prepare_for(f.size(), v.size());
          h.set(f, v);
        }
        auto back = restore_ok(dump_ok(h));
        CHECK(static_cast<HashObject&>(*back).is_table() == h.is_table());
        auto a = hash_items(h);
        auto b = hash_items(*back);
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        CHECK(a == b);
      }
    }
    SUBCASE("lists, in several nodes, with integers of every listpack width") {
      ListObject list;
      std::vector<std::string> want;
      const int64_t ints[] = {0,        127,        128,           -1,        4095,
                              -4096,    4096,       32767,         -32769,    8388607,
                              -8388609, 2147483647, -2147483649LL, INT64_MAX, INT64_MIN};
      for (int round = 0; round < 400; ++round) {
        for (int64_t v : ints) want.push_back(std::to_string(v));
        want.push_back(std::string(static_cast<size_t>(round % 70), 'x'));
        want.push_back(std::string(static_cast<size_t>(round * 13), 'y'));
      }
      for (const auto& w : want) list.push(ListObject::End::kTail, w);
      CHECK(list_items(*restore_ok(dump_ok(list))) == want);
    }
    SUBCASE("sets: intsets of each width, hash tables") {
      for (std::vector<int64_t> ints :
           {std::vector<int64_t>{-5, 1, 2}, std::vector<int64_t>{-40000, 7},
            std::vector<int64_t>{INT64_MIN, 0, INT64_MAX}}) {
        SetObject set(true);
        for (int64_t v : ints) set.add_int(v, 512);
        auto back = restore_ok(dump_ok(set));
        CHECK(static_cast<SetObject&>(*back).is_intset());
        CHECK(static_cast<SetObject&>(*back).ints() == ints);
      }
      SetObject table(false);
      for (int i = 0; i < 1000; ++i) table.add("m" + std::to_string(i), 512);
      auto back = restore_ok(dump_ok(table));
      CHECK_FALSE(static_cast<SetObject&>(*back).is_intset());
      CHECK(set_items(*back) == set_items(table));
    }
    SUBCASE("sorted sets: listpack and skiplist, with infinite and fractional scores") {
      for (size_t n : {3, 200}) {
        ZSetObject z;
        ZSetLimits limits;
        z.insert("inf", INFINITY, limits);
        z.insert("-inf", -INFINITY, limits);
        z.insert("tiny", 1e-300, limits);
        for (size_t i = 0; i < n; ++i) {
          z.insert("m" + std::to_string(i), static_cast<double>(i) / 3 - 20, limits);
        }
        auto back = restore_ok(dump_ok(z));
        CHECK(static_cast<ZSetObject&>(*back).is_listpack() == z.is_listpack());
        CHECK(zset_items(*back) == zset_items(z));
      }
    }
  }

  TEST_CASE("restored values take today's encoding limits") {
    HashObject h;
    h.set("f", std::string(100, 'v'));  // listpack in the dump...
    SetObject set(true);
    for (int i = 0; i < 10; ++i) set.add_int(i, 512);
    ZSetObject z;
    for (int i = 0; i < 10; ++i) z.insert("m" + std::to_string(i), i, ZSetLimits{});
    RdbLoadLimits small;
    small.set_max_intset_entries = 4;
    small.zset.max_listpack_entries = 4;
    CHECK(static_cast<HashObject&>(*restore_ok(dump_ok(h))).is_table());  // ...but too long
    CHECK_FALSE(static_cast<SetObject&>(*restore_ok(dump_ok(set), small)).is_intset());
    CHECK_FALSE(static_cast<ZSetObject&>(*restore_ok(dump_ok(z), small)).is_listpack());
  }

  TEST_CASE("Redis's older encodings restore: plain lists and sorted sets, ziplists, quicklist 1") {
    // ziplist of "a", 5 (immediate), 300 (int16): 10 header + 3 + 2 + 4 entry bytes + 0xFF.
    const std::string ziplist = from_hex(
        "14000000"
        "0f000000"
        "0300"
        "000161"
        "03f6"
        "02c02c01"
        "ff");
    std::string body = "\x0a";
    wire::rdb::put_string(body, ziplist);
    CHECK(list_items(*restore_ok(sealed(body))) == std::vector<std::string>{"a", "5", "300"});
    body = "\x0e\x02";  // quicklist of two ziplist nodes
    wire::rdb::put_string(body, ziplist);
    wire::rdb::put_string(body, ziplist);
    CHECK(list_items(*restore_ok(sealed(body))).size() == 6);
    body = std::string("\x01\x02\x01x\xc0\x07", 6);  // plain list: "x", 7
    CHECK(list_items(*restore_ok(sealed(body))) == std::vector<std::string>{"x", "7"});
    // Sorted set with text scores (1.5, +inf) and a ziplist hash of a -> 5, 300 -> "a".
    body = std::string(
        "\x03\x02\x01"
        "a"
        "\x03"
        "1.5"
        "\x01"
        "b"
        "\xfe",
        11);
    CHECK(zset_items(*restore_ok(sealed(body))) ==
          std::vector<std::pair<std::string, double>>{{"a", 1.5}, {"b", INFINITY}});
    // Ziplist hash: a -> 5, 300 -> "a" (zlbytes 23, tail at 19).
    const std::string zl_hash = from_hex(
        "17000000"
        "13000000"
        "0400"
        "000161"
        "03f6"
        "02c02c01"
        "040161"
        "ff");
    body = "\x0d";
    wire::rdb::put_string(body, zl_hash);
    CHECK(hash_items(*restore_ok(sealed(body))) ==
          std::vector<std::pair<std::string, std::string>>{{"a", "5"}, {"300", "a"}});
    std::string wrong_prevlen = zl_hash;
    wrong_prevlen[19] = 0x05;
    body = "\x0d";
    wire::rdb::put_string(body, wrong_prevlen);
    CHECK(restore_error(sealed(body)) == kRdbBadFormat);
  }

  TEST_CASE("a bad checksum or a newer RDB version is refused with Redis's text") {
    const std::string good = from_hex(kRedisList);
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] ^= 0x20;
      CHECK(restore_error(bad) == kRdbBadPayload);
    }
    CHECK(restore_error("") == kRdbBadPayload);
    CHECK(restore_error("short") == kRdbBadPayload);
    std::string newer = "\x00\x01v";
    newer += std::string("\x0b\x00", 2);
    uint64_t crc = wire::rdb::crc64_jones(0, newer);
    for (int i = 0; i < 8; ++i) newer.push_back(static_cast<char>(crc >> (8 * i)));
    CHECK(restore_error(newer) == kRdbBadPayload);
  }

  TEST_CASE("a body that does not parse is refused as bad data format, never half-loaded") {
    for (auto hex :
         {kRedisString, kRedisList, kRedisHash, kRedisIntset, kRedisSet, kRedisZSet, kRedisLzf}) {
      const std::string payload = from_hex(hex);
      const std::string body = payload.substr(0, payload.size() - 10);
      for (size_t len = 0; len < body.size(); ++len) {
        CAPTURE(len);
        CHECK(restore_error(sealed(body.substr(0, len))) == kRdbBadFormat);
      }
    }
    // Unknown and module types; empty collections; duplicates.
    CHECK(restore_error(sealed("\x07")) == kRdbBadFormat);
    CHECK(restore_error(sealed(std::string("\x01\x00", 2))) == kRdbBadFormat);
    CHECK(restore_error(sealed(std::string("\x02\x02\x01"
                                           "a"
                                           "\x01"
                                           "a",
                                           6))) == kRdbBadFormat);
    CHECK(restore_error(sealed(std::string("\x04\x02\x01"
                                           "f\x01"
                                           "1\x01"
                                           "f\x01"
                                           "2",
                                           10))) == kRdbBadFormat);
    std::string nan_score = std::string(
        "\x03\x01\x01"
        "a"
        "\xfd",
        5);
    CHECK(restore_error(sealed(nan_score)) == kRdbBadFormat);
    rdb_blobs::ListpackWriter lp;
    std::string body = "\x11";
    lp.add("a");
    lp.add("1");
    lp.add("a");
    lp.add("2");
    wire::rdb::put_string(body, lp.finish());
    CHECK(restore_error(sealed(body)) == kRdbBadFormat);
    body = "\x10";
    wire::rdb::put_string(body, lp.finish());  // an empty listpack
    CHECK(restore_error(sealed(body)) == kRdbBadFormat);
  }

  TEST_CASE("rdb_restore leaves stream payloads to rdb_restore_stream") {
    CHECK(restore_error(sealed(std::string("\x13\x00", 2))) == kRdbStreamUnsupported);
    CHECK(restore_error(sealed(std::string("\x0f\x00", 2))) == kRdbStreamUnsupported);
  }
}

}  // namespace sluice::kv
