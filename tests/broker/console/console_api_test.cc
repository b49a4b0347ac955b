// The web console's JSON API over a real broker: exact bodies for a small stream state, bad
// requests (400/404/405), the limits, ACL filtering and the admin actions (403 unless
// console-admin is yes and the user's rules allow the command).
#include "broker/console/console_api.h"

#include <doctest/doctest.h>

#include <string>

#include "broker/commands/acl_check.h"
#include "broker/console/assets.h"
#include "broker/console/json.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/stream/stream.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::console {
namespace {

using kv::testing::KvFixture;

stream::Stream& stream_of(KvFixture& f, const std::string& key, int db = 0) {
  auto* s = static_cast<stream::Stream*>(f.broker().db(db).find_raw(key));
  REQUIRE(s != nullptr);
  return *s;
}

// Five entries; group g read 3 (alice 2, bob 1) and acked 1-1: lag 2, pending 2; group late
// created at $: lag 0.
void build_state(KvFixture& f) {
  for (const char* id : {"1-1", "2-1", "3-1", "4-1", "5-1"}) f.run({"XADD", "s", id, "f", "v"});
  REQUIRE(f.run({"XGROUP", "CREATE", "s", "g", "0"}) == "+OK\r\n");
  f.run({"XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"});
  f.run({"XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "s", ">"});
  f.run({"XACK", "s", "g", "1-1"});
  REQUIRE(f.run({"XGROUP", "CREATE", "s", "late", "$"}) == "+OK\r\n");
}

struct Api {
  explicit Api(KvFixture& fixture) : f(fixture), api(fixture.broker()) {}

  ApiResponse call(std::string_view method, std::string_view path, std::string_view query = {},
                   std::string_view body = {}, acl::User* user = nullptr, int64_t now = 0) {
    return api.handle({method, path, query, body, type, user}, now ? now : core::now_ms());
  }
  ApiResponse get(std::string_view path, std::string_view query = {}, acl::User* user = nullptr,
                  int64_t now = 0) {
    return call("GET", path, query, {}, user, now);
  }
  ApiResponse post(std::string_view path, std::string_view body, acl::User* user = nullptr) {
    return call("POST", path, {}, body, user);
  }
  JsonValue json(const ApiResponse& r) {
    JsonValue v;
    std::string error;
    REQUIRE_MESSAGE(parse_json(r.body, &v, &error), error, " in ", r.body);
    return v;
  }

  KvFixture& f;
  ConsoleApi api;
  std::string_view type = "application/json";
};

std::string error_of(const ApiResponse& r) {
  JsonValue v;
  std::string error;
  REQUIRE(parse_json(r.body, &v, &error));
  REQUIRE(v.find("error") != nullptr);
  return v.find("error")->text;
}

acl::User* make_user(KvFixture& f, std::initializer_list<std::string_view> rules) {
  std::vector<std::string_view> argv = {"ACL", "SETUSER", "alice"};
  argv.insert(argv.end(), rules.begin(), rules.end());
  REQUIRE(f.run_argv(argv) == "+OK\r\n");
  acl::User* u = commands::acl_registry(f.broker()).find("alice");
  REQUIRE(u != nullptr);
  return u;
}

TEST_SUITE("console.api") {
  TEST_CASE("whoami names the user and whether admin actions are on") {
    KvFixture f;
    Api a(f);
    ApiResponse r = a.get("/api/whoami");
    CHECK(r.status == 200);
    CHECK(r.content_type == "application/json; charset=utf-8");
    CHECK(r.body == "{\"user\":\"default\",\"admin\":false}");
    f.config().console_admin = true;
    CHECK(a.get("/api/whoami").body == "{\"user\":\"default\",\"admin\":true}");
    acl::User* u = make_user(f, {"on", ">pw", "~*", "+@all"});
    CHECK(a.get("/api/whoami", {}, u).body == "{\"user\":\"alice\",\"admin\":true}");
  }

  TEST_CASE("stream shows XINFO STREAM's figures and every group as XINFO GROUPS") {
    KvFixture f;
    build_state(f);
    Api a(f);
    ApiResponse r = a.get("/api/stream", "db=0&key=s");
    REQUIRE(r.status == 200);
    stream::Stream& s = stream_of(f, "s");
    std::string expected =
        "{\"db\":0,\"key\":\"s\",\"length\":5,\"last_generated_id\":\"5-1\","
        "\"max_deleted_entry_id\":\"0-0\",\"entries_added\":5,\"recorded_first_entry_id\":\"1-1\","
        "\"first_entry_id\":\"1-1\",\"last_entry_id\":\"5-1\",\"disk_bytes\":" +
        std::to_string(s.log().disk_bytes()) +
        ",\"ram_bytes\":" + std::to_string(s.memory_bytes()) +
        ",\"segments\":" + std::to_string(s.log().segment_count()) +
        ",\"retention\":{\"max_age_ms\":0,\"max_bytes\":0},\"groups\":["
        "{\"name\":\"g\",\"consumers\":2,\"pending\":2,\"last_delivered_id\":\"3-1\","
        "\"entries_read\":3,\"lag\":2,\"consumer_max_idle_ms\":0,\"dead_letter\":null},"
        "{\"name\":\"late\",\"consumers\":0,\"pending\":0,\"last_delivered_id\":\"5-1\","
        "\"entries_read\":null,\"lag\":0,\"consumer_max_idle_ms\":0,\"dead_letter\":null}]}";
    CHECK(r.body == expected);
    // The same figures XINFO GROUPS gives.
    std::string xinfo = f.run({"XINFO", "GROUPS", "s"});
    CHECK(xinfo.find("$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:2\r\n"
                     "$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:3\r\n"
                     "$3\r\nlag\r\n:2\r\n") != std::string::npos);
    CHECK(xinfo.find("$1\r\ng\r\n") != std::string::npos);
    CHECK(xinfo.find("$4\r\nlate\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
                     "$17\r\nlast-delivered-id\r\n$3\r\n5-1\r\n$12\r\nentries-read\r\n$-1\r\n"
                     "$3\r\nlag\r\n:0\r\n") != std::string::npos);
  }

  TEST_CASE("consumers, pending and unconsumed entries of a group, with exact idle times") {
    KvFixture f;
    build_state(f);
    Api a(f);
    stream::Stream& s = stream_of(f, "s");
    const stream::ConsumerGroup& g = *s.groups.at("g");
    const int64_t seen_alice = g.consumers.at("alice")->seen_time_ms;
    const int64_t seen_bob = g.consumers.at("bob")->seen_time_ms;
    const int64_t now = seen_alice + 2500;
    ApiResponse r = a.get("/api/consumers", "key=s&group=g", nullptr, now);
    CHECK(r.body ==
          "[{\"name\":\"alice\",\"pending\":1,\"idle_ms\":2500,\"inactive_ms\":2500},"
          "{\"name\":\"bob\",\"pending\":1,\"idle_ms\":" +
              std::to_string(now - seen_bob) +
              ",\"inactive_ms\":" + std::to_string(now - seen_bob) + "}]");
    const int64_t delivered_2 = g.pel.find(stream::StreamId{2, 1})->delivery_time_ms;
    const int64_t delivered_3 = g.pel.find(stream::StreamId{3, 1})->delivery_time_ms;
    r = a.get("/api/pending", "key=s&group=g", nullptr, now);
    CHECK(r.body ==
          "{\"max_deliveries\":null,\"items\":["
          "{\"id\":\"2-1\",\"consumer\":\"alice\",\"idle_ms\":" +
              std::to_string(now - delivered_2) +
              ",\"deliveries\":1},{\"id\":\"3-1\",\"consumer\":\"bob\",\"idle_ms\":" +
              std::to_string(now - delivered_3) + ",\"deliveries\":1}]}");
    r = a.get("/api/pending", "key=s&group=g&consumer=bob&start=(2-1&end=+&count=5", nullptr, now);
    CHECK(a.json(r).find("items")->items.size() == 1);
    CHECK(a.json(r).find("items")->items[0].find("id")->text == "3-1");
    r = a.get("/api/pending", "key=s&group=g&start=(3-1", nullptr, now);
    CHECK(r.body == "{\"max_deliveries\":null,\"items\":[]}");
    r = a.get("/api/unconsumed", "key=s&group=g");
    CHECK(r.body ==
          "{\"last_delivered_id\":\"3-1\",\"lag\":2,\"items\":["
          "{\"id\":\"4-1\",\"fields\":[[\"f\",\"v\"]]},"
          "{\"id\":\"5-1\",\"fields\":[[\"f\",\"v\"]]}],\"next\":null}");
    r = a.get("/api/unconsumed", "key=s&group=late");
    CHECK(r.body == "{\"last_delivered_id\":\"5-1\",\"lag\":0,\"items\":[],\"next\":null}");
    CHECK(a.get("/api/pending", "key=s&group=g&consumer=nobody").status == 404);
  }

  TEST_CASE("entries page forward and back by exclusive IDs and jump to a time") {
    KvFixture f;
    build_state(f);
    Api a(f);
    ApiResponse r = a.get("/api/entries", "key=s&count=2");
    CHECK(r.body ==
          "{\"items\":[{\"id\":\"1-1\",\"fields\":[[\"f\",\"v\"]]},"
          "{\"id\":\"2-1\",\"fields\":[[\"f\",\"v\"]]}],\"next\":\"(2-1\"}");
    r = a.get("/api/entries", "key=s&count=2&start=%282-1");
    CHECK(a.json(r).find("items")->items[0].find("id")->text == "3-1");
    CHECK(a.json(r).find("next")->text == "(4-1");
    r = a.get("/api/entries", "key=s&count=2&start=(4-1");
    CHECK(a.json(r).find("items")->items.size() == 1);
    CHECK(a.json(r).find("next")->type == JsonValue::Type::kNull);
    r = a.get("/api/entries", "key=s&count=2&rev=1");
    CHECK(r.body ==
          "{\"items\":[{\"id\":\"5-1\",\"fields\":[[\"f\",\"v\"]]},"
          "{\"id\":\"4-1\",\"fields\":[[\"f\",\"v\"]]}],\"next\":\"(4-1\"}");
    r = a.get("/api/entries", "key=s&count=2&rev=1&end=(4-1");
    CHECK(a.json(r).find("items")->items[0].find("id")->text == "3-1");
    r = a.get("/api/entries", "key=s&count=1&time=3");
    CHECK(a.json(r).find("items")->items[0].find("id")->text == "3-1");
    // "+" unencoded reads as a space (form encoding) and still means the last ID.
    r = a.get("/api/entries", "key=s&start=4&end=+");
    CHECK(a.json(r).find("items")->items.size() == 2);
    r = a.get("/api/entries", "key=s&start=%2B");
    CHECK(r.body == "{\"items\":[],\"next\":null}");
    r = a.get("/api/entries", "key=s&start=2&end=3");
    CHECK(a.json(r).find("items")->items.size() == 2);
    r = a.get("/api/entries", "key=s&start=(18446744073709551615-18446744073709551615");
    CHECK(r.body == "{\"items\":[],\"next\":null}");
  }

  TEST_CASE("long values are cut at kMaxValueBytes with a flag; binary bytes are escaped") {
    KvFixture f;
    std::string big(kMaxValueBytes + 10, 'x');
    f.run({"XADD", "b", "1-1", "k", big});
    f.run({"XADD", "b", "2-1", std::string_view("\xff\x01", 2), "v"});
    Api a(f);
    JsonValue v = a.json(a.get("/api/entries", "key=b"));
    const JsonValue& first = v.find("items")->items[0];
    CHECK(first.find("fields")->items[0].items[1].text.size() == kMaxValueBytes);
    CHECK(first.find("truncated")->boolean);
    // A page stops once it passed kMaxPageBytes, with `next` to go on from.
    for (int i = 0; i < 300; ++i) f.run({"XADD", "big", "*", "v", big});
    ApiResponse full = a.get("/api/entries", "key=big&count=500");
    JsonValue page = a.json(full);
    const size_t got = page.find("items")->items.size();
    CHECK(got < 300);
    CHECK(full.body.size() >= kMaxPageBytes);
    CHECK(full.body.size() < kMaxPageBytes + kMaxValueBytes + 100);  // one entry past at most
    CHECK(page.find("next")->text == "(" + page.find("items")->items[got - 1].find("id")->text);
    ApiResponse r = a.get("/api/entries", "key=b&start=2-1");
    CHECK(r.body ==
          "{\"items\":[{\"id\":\"2-1\",\"fields\":[[\"\\u00ff\\u0001\",\"v\"]]}],\"next\":null}");
  }

  TEST_CASE("streams: every database, sorted, filtered by pattern, paged and capped") {
    KvFixture f;
    build_state(f);
    f.run({"XADD", "a", "9-1", "f", "v"});
    f.run({"XADD", "a", "10-1", "f", "v"});
    f.run({"SELECT", "1"});
    f.run({"XADD", "z", "7-1", "f", "v"});
    f.run({"SET", "notastream", "x"});
    f.run({"SELECT", "0"});
    Api a(f);
    auto keys = [&](std::string_view query) {
      JsonValue v = a.json(a.get("/api/streams", query));
      std::string out = std::to_string(static_cast<int64_t>(v.find("total")->number)) + ":";
      for (const auto& item : v.find("items")->items) {
        out += item.find("db")->text + "/" + item.find("key")->text + " ";
      }
      return out;
    };
    CHECK(keys("") == "3:0/a 0/s 1/z ");
    CHECK(keys("db=1") == "1:1/z ");
    CHECK(keys("sort=length&order=desc") == "3:0/s 0/a 1/z ");
    CHECK(keys("sort=last_id") == "3:0/s 1/z 0/a ");
    // Ties stay in (db, key) order either way.
    CHECK(keys("sort=max_lag&order=desc") == "3:0/s 0/a 1/z ");
    CHECK(keys("sort=groups&order=asc") == "3:0/a 1/z 0/s ");
    CHECK(keys("order=desc") == "3:1/z 0/s 0/a ");
    CHECK(keys("sort=groups&order=desc&limit=1") == "3:0/s ");
    CHECK(keys("offset=1&limit=1") == "3:0/s ");
    CHECK(keys("offset=5") == "3:");
    CHECK(keys("pattern=[az]") == "2:0/a 1/z ");
    ApiResponse r = a.get("/api/streams", "db=1");
    stream::Stream& z = stream_of(f, "z", 1);
    CHECK(r.body ==
          "{\"total\":1,\"offset\":0,\"items\":[{\"db\":1,\"key\":\"z\",\"length\":1,"
          "\"first_id\":\"7-1\",\"last_id\":\"7-1\",\"last_entry_ms\":7,\"disk_bytes\":" +
              std::to_string(z.log().disk_bytes()) +
              ",\"ram_bytes\":" + std::to_string(z.memory_bytes()) +
              ",\"retention\":{\"max_age_ms\":0,\"max_bytes\":0},\"groups\":0,"
              "\"max_lag\":null}]}");
    JsonValue s = a.json(a.get("/api/streams", "pattern=s"));
    CHECK(s.find("items")->items[0].find("max_lag")->text == "2");
    // The limit is capped.
    for (int i = 0; i < static_cast<int>(kMaxLimit) + 5; ++i) {
      std::string key = "k" + std::to_string(i);
      f.run({"XADD", key, "*", "f", "v"});
    }
    JsonValue all = a.json(a.get("/api/streams", "limit=100000"));
    CHECK(all.find("items")->items.size() == kMaxLimit);
    CHECK(all.find("total")->text == std::to_string(kMaxLimit + 8));
  }

  TEST_CASE("bad requests: 400 with the reason, 404 for unknown paths and keys, 405 with Allow") {
    KvFixture f;
    build_state(f);
    f.run({"SET", "str", "x"});
    Api a(f);
    for (const char* query :
         {"key=s&db=99", "key=s&db=x", "db=0", "key=s&count=0", "key=s&count=abc", "key=s&start=zz",
          "key=s&rev=2", "key=s&time=-5"}) {
      CAPTURE(query);
      ApiResponse r = a.get("/api/entries", query);
      CHECK(r.status == 400);
      CHECK_FALSE(error_of(r).empty());
    }
    CHECK(error_of(a.get("/api/entries", "db=0")) == "missing parameter key");
    CHECK(a.get("/api/streams", "sort=size").status == 400);
    CHECK(a.get("/api/streams", "order=up").status == 400);
    CHECK(a.get("/api/streams", "offset=-1").status == 400);
    CHECK(a.get("/api/consumers", "key=s").status == 400);
    ApiResponse r = a.get("/api/nothing");
    CHECK(r.status == 404);
    CHECK(r.body == "{\"error\":\"no such API endpoint\"}");
    CHECK(a.get("/api/stream", "key=missing").status == 404);
    CHECK(error_of(a.get("/api/stream", "key=str")) == "no such stream");
    CHECK(a.get("/api/consumers", "key=s&group=nope").status == 404);
    CHECK(a.get("/api/lag", "key=s&group=nope").status == 404);
    r = a.post("/api/overview", "{}");
    CHECK(r.status == 405);
    CHECK(r.allow == "GET, HEAD");
    r = a.get("/api/xadd");
    CHECK(r.status == 405);
    CHECK(r.allow == "POST");
    CHECK(a.call("DELETE", "/api/stream", "key=s").status == 405);
    CHECK(a.call("HEAD", "/api/stream", "key=s").status == 200);
  }

  TEST_CASE("the console shows only what the user may read") {
    KvFixture f;
    build_state(f);
    f.run({"XADD", "secret", "1-1", "f", "v"});
    f.run({"PUBLISH", "x", "y"});
    Api a(f);
    acl::User* u = make_user(f, {"on", ">pw", "~s", "&news*", "+@read", "+xinfo", "-info"});
    JsonValue v = a.json(a.get("/api/streams", {}, u));
    CHECK(v.find("total")->text == "1");
    CHECK(v.find("items")->items[0].find("key")->text == "s");
    CHECK(a.get("/api/stream", "key=s", u).status == 200);
    ApiResponse r = a.get("/api/stream", "key=secret", u);
    CHECK(r.status == 403);
    CHECK(a.get("/api/stream", "key=missing-but-forbidden", u).status == 403);
    CHECK(a.get("/api/entries", "key=secret", u).status == 403);
    CHECK(a.get("/api/overview", {}, u).status == 403);
    CHECK(a.get("/api/history", {}, u).status == 403);
    CHECK(a.get("/api/clients", {}, u).status == 403);
    CHECK(a.get("/api/whoami", {}, u).status == 200);
  }

  TEST_CASE("admin actions are refused while console-admin is no") {
    KvFixture f;
    build_state(f);
    Api a(f);
    ApiResponse r = a.post("/api/group/setid", "{\"key\":\"s\",\"group\":\"g\",\"id\":\"0\"}");
    CHECK(r.status == 403);
    CHECK(error_of(r).find("console-admin") != std::string::npos);
    CHECK(stream_of(f, "s").groups.at("g")->last_delivered_id == stream::StreamId{3, 1});
  }

  TEST_CASE("admin actions change state as the commands do, checked by the user's ACL") {
    KvFixture f;
    build_state(f);
    f.config().console_admin = true;
    Api a(f);
    ApiResponse r =
        a.post("/api/group/setid", "{\"db\":0,\"key\":\"s\",\"group\":\"g\",\"id\":\"1-1\"}");
    CHECK(r.body == "{\"ok\":true}");
    CHECK(f.run({"XINFO", "GROUPS", "s"}).find("$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n") !=
          std::string::npos);
    r = a.post("/api/consumer/delete", "{\"key\":\"s\",\"group\":\"g\",\"consumer\":\"bob\"}");
    CHECK(r.body == "{\"ok\":true,\"pending\":1}");
    CHECK(stream_of(f, "s").groups.at("g")->consumers.count("bob") == 0);
    r = a.post("/api/xadd", "{\"key\":\"new\",\"fields\":[[\"a\",\"1\"],[\"b\",\"2\"]]}");
    REQUIRE(r.status == 200);
    std::string id = a.json(r).find("id")->text;
    CHECK(f.run({"XLEN", "new"}) == ":1\r\n");
    CHECK(f.run({"XRANGE", "new", "-", "+"}).find("$" + std::to_string(id.size()) + "\r\n" + id) !=
          std::string::npos);
    r = a.post("/api/publish", "{\"channel\":\"c\",\"message\":\"m\"}");
    CHECK(r.body == "{\"ok\":true,\"receivers\":0}");
    CHECK(f.broker().pubsub().messages_published() == 1);
    // Errors of the command.
    r = a.post("/api/group/setid", "{\"key\":\"s\",\"group\":\"nope\",\"id\":\"0\"}");
    CHECK(r.status == 404);
    CHECK(error_of(r).starts_with("NOGROUP"));
    r = a.post("/api/group/setid", "{\"key\":\"s\",\"group\":\"g\",\"id\":\"bad\"}");
    CHECK(r.status == 400);
    CHECK(error_of(r) == "ERR Invalid stream ID specified as stream command argument");
    // Bad bodies.
    CHECK(a.post("/api/xadd", "not json").status == 400);
    a.type = "text/plain";
    CHECK(a.post("/api/xadd", "{\"key\":\"k\",\"fields\":[[\"a\",\"b\"]]}").status == 415);
    a.type = "Application/JSON; charset=utf-8";
    CHECK(a.post("/api/xadd", "{\"key\":\"k\",\"fields\":[[\"a\",\"b\"]]}").status == 200);
    a.type = "application/json";
    CHECK(a.post("/api/xadd", "[]").status == 400);
    CHECK(a.post("/api/xadd", "{\"key\":\"k\",\"fields\":[]}").status == 400);
    CHECK(a.post("/api/xadd", "{\"key\":\"k\",\"fields\":[[\"a\"]]}").status == 400);
    CHECK(a.post("/api/xadd", "{\"key\":1,\"fields\":[[\"a\",\"b\"]]}").status == 400);
    CHECK(a.post("/api/xadd", "{\"db\":99,\"key\":\"k\",\"fields\":[[\"a\",\"b\"]]}").status ==
          400);
    // The user's rules: keys s* only, no PUBLISH.
    acl::User* u = make_user(f, {"on", ">pw", "~s*", "+@all", "-publish"});
    r = a.post("/api/xadd", "{\"key\":\"other\",\"fields\":[[\"a\",\"b\"]]}", u);
    CHECK(r.status == 403);
    CHECK(f.run({"EXISTS", "other"}) == ":0\r\n");
    r = a.post("/api/publish", "{\"channel\":\"c\",\"message\":\"m\"}", u);
    CHECK(r.status == 403);
    r = a.post("/api/xadd", "{\"key\":\"s2\",\"fields\":[[\"a\",\"b\"]]}", u);
    CHECK(r.status == 200);
  }

  TEST_CASE("pubsub lists channels, patterns and shard channels with subscriber counts") {
    KvFixture f;
    core::Client sub(50, nullptr);
    f.broker().add_client(&sub);
    f.broker().pubsub().subscribe(sub, pubsub::ChannelSpace::kGlobal, "news");
    f.broker().pubsub().subscribe(sub, pubsub::ChannelSpace::kGlobal, "alerts");
    f.broker().pubsub().psubscribe(sub, "news.*");
    f.broker().pubsub().psubscribe(sub, "news*");
    f.broker().pubsub().subscribe(sub, pubsub::ChannelSpace::kShard, "orders");
    Api a(f);
    ApiResponse r = a.get("/api/pubsub");
    CHECK(r.body ==
          "{\"channels\":[{\"name\":\"alerts\",\"subscribers\":1},"
          "{\"name\":\"news\",\"subscribers\":1}],"
          "\"shard_channels\":[{\"name\":\"orders\",\"subscribers\":1}],"
          "\"patterns\":[{\"pattern\":\"news.*\",\"subscribers\":1},"
          "{\"pattern\":\"news*\",\"subscribers\":1}],"
          "\"messages_per_s\":0,\"truncated\":false}");
    acl::User* u = make_user(f, {"on", ">pw", "resetchannels", "&news*", "+@all"});
    JsonValue v = a.json(a.get("/api/pubsub", {}, u));
    CHECK(v.find("channels")->items.size() == 1);
    CHECK(v.find("shard_channels")->items.size() == 0);
    // A pattern shows when the user could subscribe to it: the same pattern (as PSUBSCRIBE).
    REQUIRE(v.find("patterns")->items.size() == 1);
    CHECK(v.find("patterns")->items[0].find("pattern")->text == "news*");
    f.broker().pubsub().remove_client(sub);
    f.broker().remove_client(&sub);
  }

  TEST_CASE("overview, clients and slowlog") {
    KvFixture f;
    f.run({"CONFIG", "RESETSTAT"});  // command counts are process-wide
    build_state(f);
    f.run({"CONFIG", "SET", "slowlog-log-slower-than", "0"});
    f.run({"PING"});
    Api a(f);
    JsonValue v = a.json(a.get("/api/overview"));
    CHECK(v.find("streams")->text == "1");
    CHECK(v.find("keys")->text == "1");
    CHECK(v.find("xadd_total")->text == "5");
    CHECK(v.find("deliveries_total")->text == "3");
    CHECK(v.find("role")->text == "master");
    CHECK(v.find("version")->text == SLUICE_VERSION);
    JsonValue log = a.json(a.get("/api/slowlog", "count=1"));
    REQUIRE(log.items.size() == 1);
    CHECK(log.items[0].find("args")->items[0].text == "PING");
    JsonValue clients = a.json(a.get("/api/clients"));
    REQUIRE(clients.items.size() == 1);
    CHECK(clients.items[0].find("id")->text == "1");
    CHECK(clients.items[0].find("cmd") != nullptr);
  }

  TEST_CASE("history: per-second differences of the counters, oldest first, in a fixed ring") {
    History h;
    History::Reading r{};
    h.tick(1000, r);
    CHECK(h.size() == 0);
    for (int i = 1; i <= 3; ++i) {
      r[History::kCommands] += static_cast<uint64_t>(10 * i);
      r[History::kUsedMemory] = static_cast<uint64_t>(1000 + i);
      h.tick(1000 + i * 1000, r);
    }
    REQUIRE(h.size() == 3);
    CHECK(h.at(History::kCommands, 0) == 10);
    CHECK(h.at(History::kCommands, 2) == 30);
    CHECK(h.at(History::kUsedMemory, 2) == 1003);
    r[History::kCommands] = 0;  // CONFIG RESETSTAT
    h.tick(5000, r);
    CHECK(h.latest(History::kCommands) == 0);
    for (size_t i = 0; i < History::kSeconds + 10; ++i) {
      r[History::kCommands] += i;
      h.tick(static_cast<int64_t>(6000 + i * 1000), r);
    }
    CHECK(h.size() == History::kSeconds);
    CHECK(h.at(History::kCommands, 0) == 10);
    CHECK(h.latest(History::kCommands) == History::kSeconds + 9);

    KvFixture f;
    Api a(f);
    f.run({"PING"});
    a.api.tick(100000);
    f.run({"PING"});
    f.run({"PING"});
    a.api.tick(101000);
    ApiResponse resp = a.get("/api/history");
    JsonValue v = a.json(resp);
    CHECK(v.find("interval_ms")->text == "1000");
    CHECK(v.find("now_ms")->text == "101000");
    CHECK(v.find("series")->find("commands")->items.size() == 1);
    CHECK(v.find("series")->find("commands")->items[0].text == "2");
  }

  TEST_CASE("lag history samples each group at most every kIntervalMs") {
    KvFixture f;
    build_state(f);
    Api a(f);
    a.api.tick(1000000);
    a.api.tick(1000000 + 1000);  // too soon: no new sample
    f.run({"XADD", "s", "6-1", "f", "v"});
    a.api.tick(1000000 + LagHistory::kIntervalMs);
    ApiResponse r = a.get("/api/lag", "key=s&group=g");
    CHECK(r.body == "{\"interval_ms\":10000,\"points\":[[1000000,2],[1010000,3]]}");
    CHECK(a.api.lag_history().tracked() == 2);
    f.run({"XGROUP", "DESTROY", "s", "late"});
    a.api.tick(1000000 + 2 * LagHistory::kIntervalMs);
    CHECK(a.api.lag_history().tracked() == 1);
    f.run({"DEL", "s"});
    a.api.tick(1000000 + 3 * LagHistory::kIntervalMs);
    CHECK(a.api.lag_history().tracked() == 0);
  }

  TEST_CASE("the page's files are served at / and /<name>; other paths outside /api/ are 404") {
    KvFixture f;
    Api a(f);
    ApiResponse r = a.get("/");
    CHECK(r.status == 200);
    CHECK(r.is_asset);
    REQUIRE(find_asset("/") != nullptr);
    CHECK(r.content_type == find_asset("/")->content_type);
    CHECK(r.body == find_asset("/")->body);
    CHECK(r.content_type.starts_with("text/html"));
    CHECK(a.get("/no-such-file.js").status == 404);
    r = a.post("/", "{}");
    CHECK(r.status == 405);
    CHECK(r.allow == "GET, HEAD");
  }
}

}  // namespace
}  // namespace sluice::console
