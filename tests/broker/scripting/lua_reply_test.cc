// Conversions between RESP replies and Lua values (lua_reply.h): every reply type onto the Lua
// stack, every Lua value back into RESP2 and RESP3, and the number formats.
#include "broker/scripting/lua_reply.h"

#include <doctest/doctest.h>

#include <cmath>

#include "tests/broker/scripting/lua_test_util.h"

namespace sluice::scripting::testing {
namespace {

std::string to_lua(LuaState& L, const std::string& resp) {
  const char* end = push_reply(L.get(), resp.data(), resp.data() + resp.size());
  if (!end) return "<malformed>";
  CHECK(end == resp.data() + resp.size());
  std::string out = L.render(-1);
  lua_pop(L.get(), 1);
  return out;
}

std::string to_resp(LuaState& L, const std::string& expr, int caller, int script) {
  std::string code = "return " + expr;
  REQUIRE(luaL_loadbuffer(L.get(), code.data(), code.size(), "=t") == 0);
  REQUIRE(lua_pcall(L.get(), 0, 1, 0) == 0);
  std::string out;
  wire::resp::ReplyWriter w(&out, caller);
  write_reply(L.get(), w, script);
  CHECK(lua_gettop(L.get()) == 0);
  return out;
}

}  // namespace

TEST_SUITE("scripting.conversions") {
  TEST_CASE("RESP2 replies become numbers, strings, false, ok/err tables and arrays") {
    LuaState L;
    CHECK(to_lua(L, ":42\r\n") == "42");
    CHECK(to_lua(L, "$5\r\nhello\r\n") == "'hello'");
    CHECK(to_lua(L, "$-1\r\n") == "false");
    CHECK(to_lua(L, "*-1\r\n") == "false");
    CHECK(to_lua(L, "+OK\r\n") == "{ok='OK'}");
    CHECK(to_lua(L, "-WRONGTYPE bad\r\n") ==
          "{err='WRONGTYPE bad', ignore_error_stats_update=true}");
    CHECK(to_lua(L, "-NOSPACE\r\n") == "{err='ERR NOSPACE', ignore_error_stats_update=true}");
    CHECK(to_lua(L, "*3\r\n:1\r\n$-1\r\n*1\r\n$1\r\na\r\n") == "{[1]=1, [2]=false, [3]={[1]='a'}}");
    CHECK(to_lua(L, "$4\r\na\r\nb\r\n") == "'a\r\nb'");
  }

  TEST_CASE("RESP3 replies become nil, booleans and map/set/double/big_number/verbatim tables") {
    LuaState L;
    CHECK(to_lua(L, "_\r\n") == "nil");
    CHECK(to_lua(L, "#t\r\n") == "true");
    CHECK(to_lua(L, "#f\r\n") == "false");
    CHECK(to_lua(L, "%1\r\n$1\r\nk\r\n:1\r\n") == "{map={k=1}}");
    CHECK(to_lua(L, "~2\r\n$1\r\na\r\n$1\r\nb\r\n") == "{set={a=true, b=true}}");
    CHECK(to_lua(L, ",1.5\r\n") == "{double=1.5}");
    CHECK(to_lua(L, ",inf\r\n") == "{double=inf}");
    CHECK(to_lua(L, "(123456789012345678901234\r\n") == "{big_number='123456789012345678901234'}");
    CHECK(to_lua(L, "=8\r\ntxt:text\r\n") == "{verbatim_string={format='txt', string='text'}}");
    // Attributes are skipped; the value after them is the reply.
    CHECK(to_lua(L, "|1\r\n$1\r\na\r\n:1\r\n:7\r\n") == "7");
  }

  TEST_CASE("truncated or malformed replies are reported, not read past their end") {
    LuaState L;
    CHECK(to_lua(L, "$5\r\nhel") == "<malformed>");
    CHECK(to_lua(L, "*2\r\n:1\r\n") == "<malformed>");
    CHECK(to_lua(L, ":12") == "<malformed>");
    CHECK(to_lua(L, "?\r\n") == "<malformed>");
    CHECK(lua_gettop(L.get()) == 0);
  }

  TEST_CASE("Lua values become replies as Redis converts them") {
    LuaState L;
    CHECK(to_resp(L, "3.99", 2, 2) == ":3\r\n");
    CHECK(to_resp(L, "-3.99", 2, 2) == ":-3\r\n");
    CHECK(to_resp(L, "0/0", 2, 2) == ":-9223372036854775808\r\n");
    CHECK(to_resp(L, "'x'", 2, 2) == "$1\r\nx\r\n");
    CHECK(to_resp(L, "true", 2, 2) == ":1\r\n");
    CHECK(to_resp(L, "false", 2, 2) == "$-1\r\n");
    CHECK(to_resp(L, "false", 3, 2) == "_\r\n");
    CHECK(to_resp(L, "false", 3, 3) == "#f\r\n");
    CHECK(to_resp(L, "true", 2, 3) == ":1\r\n");
    CHECK(to_resp(L, "nil", 2, 2) == "$-1\r\n");
    CHECK(to_resp(L, "{1, 'a', nil, 4}", 2, 2) == "*2\r\n:1\r\n$1\r\na\r\n");
    CHECK(to_resp(L, "{ok='fine'}", 2, 2) == "+fine\r\n");
    CHECK(to_resp(L, "{err='ERR bad\\nline'}", 2, 2) == "-ERR bad line\r\n");
    CHECK(to_resp(L, "{map={a=1}}", 3, 2) == "%1\r\n$1\r\na\r\n:1\r\n");
    CHECK(to_resp(L, "{map={a=1}}", 2, 2) == "*2\r\n$1\r\na\r\n:1\r\n");
    CHECK(to_resp(L, "{set={a=true}}", 3, 2) == "~1\r\n$1\r\na\r\n");
    CHECK(to_resp(L, "{double=3.5}", 3, 2) == ",3.5\r\n");
    CHECK(to_resp(L, "{double=3.5}", 2, 2) == "$3\r\n3.5\r\n");
    CHECK(to_resp(L, "{big_number='12'}", 3, 2) == "(12\r\n");
    CHECK(to_resp(L, "{verbatim_string={format='txt', string='hi'}}", 3, 2) == "=6\r\ntxt:hi\r\n");
    CHECK(to_resp(L, "{double='x'}", 2, 2) == "*0\r\n");
    CHECK(to_resp(L, "function() end", 2, 2) == "$-1\r\n");
  }

  TEST_CASE("a table that contains itself ends in an error reply, not a crash") {
    LuaState L;
    REQUIRE(luaL_loadstring(L.get(), "local t = {} t[1] = t return t") == 0);
    REQUIRE(lua_pcall(L.get(), 0, 1, 0) == 0);
    std::string out;
    wire::resp::ReplyWriter w(&out, 2);
    write_reply(L.get(), w, 2);
    CHECK(out.find("-ERR reached lua stack limit\r\n") != std::string::npos);
    CHECK(lua_gettop(L.get()) == 0);
  }

  TEST_CASE("numbers are sent to commands as %.17g, integers without a fraction") {
    char buf[32];
    auto fmt = [&](double v) { return std::string(buf, format_number_arg(v, buf)); };
    CHECK(fmt(0) == "0");
    CHECK(fmt(-0.0) == "-0");
    CHECK(fmt(12345) == "12345");
    CHECK(fmt(-60000) == "-60000");
    CHECK(fmt(0.1) == "0.10000000000000001");
    CHECK(fmt(1e16) == "10000000000000000");
    CHECK(fmt(1e17) == "1e+17");
    CHECK(fmt(1e20) == "1e+20");
    CHECK(fmt(INFINITY) == "inf");
    CHECK(lua_number_to_int64(1e300) == INT64_MIN);
    CHECK(lua_number_to_int64(-2.9) == -2);
  }
}

}  // namespace sluice::scripting::testing
