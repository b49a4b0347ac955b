// Users, rules and checks of broker/acl/ without a server: password hashing, rule parsing and
// printing, the permission check, and the protected-mode decision.
#include "broker/acl/acl.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/acl/sha256.h"

namespace sluice::acl {
namespace {

// A small catalog: get and strlen (read string), set (write string), del (write keyspace),
// client with id/kill, select, publish.
struct Fixture {
  Catalog catalog;
  int get, set, client, client_id, client_kill, select, publish;
  Fixture() {
    catalog.add("strlen", category_bits("@read @string @fast"), -1, false);
    catalog.add("del", category_bits("@write @keyspace @slow"), -1, false);
    get = catalog.add("get", category_bits("@read @string @fast"), -1, false);
    set = catalog.add("set", category_bits("@write @string @slow"), -1, false);
    client = catalog.add("client", category_bits("@slow"), -1, false);
    client_id = catalog.add("client|id", category_bits("@slow @connection"), client, false);
    client_kill =
        catalog.add("client|kill", category_bits("@admin @slow @dangerous"), client, false);
    select = catalog.add("select", category_bits("@fast @connection"), -1, false);
    publish = catalog.add("publish", category_bits("@pubsub @fast"), -1, false);
  }
  std::string apply(User& u, std::vector<std::string_view> rules) { return u.apply(rules); }
};

Verdict run(const User& u, int id, std::vector<std::string_view> argv,
            std::vector<KeyRef> keys = {}, std::vector<ChannelRef> channels = {}) {
  size_t pos = 0;
  return u.check(Request{id, argv, keys, channels}, &pos);
}

}  // namespace

TEST_SUITE("acl") {
  TEST_CASE("sha256 gives the FIPS 180-4 digests, across the one- and two-block padding") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }

  TEST_CASE("a new user is off with no permissions and prints as Redis 7.0 does") {
    Fixture f;
    User u(&f.catalog, "alice");
    CHECK(u.describe() == "off resetchannels -@all");
    CHECK_FALSE(u.unrestricted());
    CHECK(run(u, f.get, {"get", "k"}) == Verdict::kCommand);
  }

  TEST_CASE("passwords are stored hashed; nopass, resetpass and < remove them") {
    Fixture f;
    User u(&f.catalog, "alice");
    REQUIRE(f.apply(u, {"on", ">secret"}) == "");
    CHECK(u.passwords() == std::vector<std::string>{sha256_hex("secret")});
    CHECK(u.password_ok("secret"));
    CHECK_FALSE(u.password_ok("other"));
    CHECK(f.apply(u, {"<nope"}) ==
          "Error in ACL SETUSER modifier '<nope': The password you are trying to remove from the "
          "user does not exist");
    REQUIRE(f.apply(u, {"off"}) == "");
    CHECK_FALSE(u.password_ok("secret"));
    REQUIRE(f.apply(u, {"on", "nopass"}) == "");
    CHECK(u.password_ok("anything"));
    REQUIRE(f.apply(u, {"resetpass"}) == "");
    CHECK_FALSE(u.password_ok("anything"));
  }

  TEST_CASE("a failing rule leaves the user unchanged") {
    Fixture f;
    User u(&f.catalog, "alice");
    CHECK(f.apply(u, {"on", "+get", "+nosuch"}) ==
          "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
    CHECK(u.describe() == "off resetchannels -@all");
  }

  TEST_CASE("key patterns check read and write access separately") {
    Fixture f;
    User u(&f.catalog, "alice");
    REQUIRE(f.apply(u, {"on", "+@all", "%R~r*", "%W~w*", "~b*"}) == "");
    CHECK(run(u, f.get, {"get", "r1"}, {{1, kKeyRead}}) == Verdict::kOk);
    CHECK(run(u, f.set, {"set", "r1", "v"}, {{1, kKeyWrite}}) == Verdict::kKey);
    CHECK(run(u, f.set, {"set", "w1", "v"}, {{1, kKeyWrite}}) == Verdict::kOk);
    CHECK(run(u, f.get, {"get", "w1"}, {{1, kKeyRead}}) == Verdict::kKey);
    CHECK(run(u, f.set, {"set", "b1", "v"}, {{1, kKeyReadWrite}}) == Verdict::kOk);
    CHECK(u.root().describe_keys() == "%R~r* %W~w* ~b*");
    // As Redis 7.0: a pattern given again gains the new access; "%RW~*" is not allkeys.
    REQUIRE(f.apply(u, {"%W~r*", "%RW~*"}) == "");
    CHECK(u.root().describe_keys() == "~r* %W~w* ~b* ~*");
    CHECK_FALSE(u.root().all_keys());
  }

  TEST_CASE("subcommands and first arguments are allowed one by one") {
    Fixture f;
    User u(&f.catalog, "alice");
    REQUIRE(f.apply(u, {"on", "+client|id", "+select|0"}) == "");
    CHECK(run(u, f.client_id, {"client", "id"}) == Verdict::kOk);
    CHECK(run(u, f.client_kill, {"client", "kill"}) == Verdict::kCommand);
    CHECK(run(u, f.select, {"select", "0"}) == Verdict::kOk);
    CHECK(run(u, f.select, {"select", "1"}) == Verdict::kCommand);
    CHECK(u.root().describe_commands() == "-@all +client|id +select|0");
  }

  TEST_CASE("channels: glob for PUBLISH, the literal pattern for PSUBSCRIBE") {
    Fixture f;
    User u(&f.catalog, "alice");
    REQUIRE(f.apply(u, {"on", "+@all", "~*", "&news.*"}) == "");
    CHECK(run(u, f.publish, {"publish", "news.x", "m"}, {}, {{1, false}}) == Verdict::kOk);
    CHECK(run(u, f.publish, {"publish", "other", "m"}, {}, {{1, false}}) == Verdict::kChannel);
    CHECK(u.channel_allowed("news.*", true));
    CHECK_FALSE(u.channel_allowed("news.x*", true));
  }

  TEST_CASE("a selector allows what the root selector does not") {
    Fixture f;
    User u(&f.catalog, "alice");
    REQUIRE(f.apply(u, {"on", "+get", "~a*", "(+set", "~s*)"}) == "");
    CHECK(u.describe() == "on ~a* resetchannels -@all +get (~s* resetchannels -@all +set)");
    CHECK(run(u, f.set, {"set", "s1", "v"}, {{1, kKeyWrite}}) == Verdict::kOk);
    CHECK(run(u, f.set, {"set", "a1", "v"}, {{1, kKeyWrite}}) == Verdict::kKey);
    REQUIRE(f.apply(u, {"clearselectors"}) == "");
    CHECK(run(u, f.set, {"set", "s1", "v"}, {{1, kKeyWrite}}) == Verdict::kCommand);
  }

  TEST_CASE("the default user is unrestricted until a rule takes something away") {
    Fixture f;
    Registry r(&f.catalog);
    CHECK(r.default_user().unrestricted());
    CHECK(r.list_lines() == std::vector<std::string>{"user default on nopass ~* &* +@all"});
    const std::string_view rules[] = {"-set"};
    REQUIRE(r.set_user("default", rules) == "");
    CHECK_FALSE(r.default_user().unrestricted());
    CHECK(r.list_lines() == std::vector<std::string>{"user default on nopass ~* &* +@all -set"});
  }

  TEST_CASE("load_lines replaces users all or nothing and keeps the default user's address") {
    Fixture f;
    Registry r(&f.catalog);
    const User* def = &r.default_user();
    std::vector<std::unique_ptr<User>> retired;
    CHECK(r.load_lines({{"user", "bob", "on", "nopass", "+get"}, {"user", "bob", "on"}},
                       &retired) == "line 2: Duplicate user 'bob' found");
    CHECK(r.find("bob") == nullptr);
    REQUIRE(r.load_lines({{"user", "bob", "on", "nopass", "~*", "+get"},
                          {"user", "default", "on", ">pw", "+@all", "~*"}},
                         &retired) == "");
    CHECK(&r.default_user() == def);
    CHECK(r.authenticate("default", "pw") == def);
    CHECK(r.authenticate("bob", "x") != nullptr);
  }

  TEST_CASE("protected mode refuses non-loopback clients only while the default user is nopass") {
    Fixture f;
    Registry r(&f.catalog);
    CHECK(protected_mode_refuses(true, r.default_user(), "10.0.0.5"));
    CHECK(protected_mode_refuses(true, r.default_user(), "2001:db8::1"));
    CHECK_FALSE(protected_mode_refuses(true, r.default_user(), "127.0.0.1"));
    CHECK_FALSE(protected_mode_refuses(true, r.default_user(), "::1"));
    CHECK_FALSE(protected_mode_refuses(true, r.default_user(), "::ffff:127.0.0.1"));
    CHECK_FALSE(protected_mode_refuses(false, r.default_user(), "10.0.0.5"));
    r.set_default_password("pw");
    CHECK_FALSE(protected_mode_refuses(true, r.default_user(), "10.0.0.5"));
  }
}

}  // namespace sluice::acl
