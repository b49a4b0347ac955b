// cmsgpack and struct, Sluice's own Lua libraries: the bytes they produce (as lua-cmsgpack and
// Redis's struct produce them, which the redis_diff case lua_libs checks against redis-server)
// and round trips through both.
#include <doctest/doctest.h>

#include "tests/broker/scripting/lua_test_util.h"

namespace sluice::scripting::testing {

TEST_SUITE("scripting.cmsgpack") {
  TEST_CASE("integers take the smallest MessagePack encoding, by sign and magnitude") {
    LuaState L;
    auto hex = [&](const std::string& expr) {
      return L.run(
          "local s = cmsgpack.pack(" + expr +
          ") return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end))");
    };
    CHECK(hex("0") == "'00'");
    CHECK(hex("127") == "'7f'");
    CHECK(hex("128") == "'cc80'");
    CHECK(hex("256") == "'cd0100'");
    CHECK(hex("65536") == "'ce00010000'");
    CHECK(hex("4294967296") == "'cf0000000100000000'");
    CHECK(hex("-1") == "'ff'");
    CHECK(hex("-32") == "'e0'");
    CHECK(hex("-33") == "'d0df'");
    CHECK(hex("-129") == "'d1ff7f'");
    CHECK(hex("-32769") == "'d2ffff7fff'");
    CHECK(hex("-2147483649") == "'d3ffffffff7fffffff'");
    CHECK(hex("0.5") == "'ca3f000000'");
    CHECK(hex("0.1") == "'cb3fb999999999999a'");
    CHECK(hex("true, false, nil") == "'c3c2c0'");
  }

  TEST_CASE("strings, arrays and maps use fix, 8, 16 and 32-bit headers") {
    LuaState L;
    CHECK(L.run("return #cmsgpack.pack(string.rep('a', 31)), #cmsgpack.pack(string.rep('a', 32)),"
                "#cmsgpack.pack(string.rep('a', 256)), #cmsgpack.pack(string.rep('a', 65536))") ==
          "32, 34, 259, 65541");
    CHECK(L.run("return cmsgpack.pack({}) == '\\144', cmsgpack.pack({1,2}) == '\\146\\1\\2'") ==
          "true, true");
    CHECK(L.run("return cmsgpack.pack({a=1}) == '\\129\\161a\\1'") == "true");
    // Keys 1..n without holes make an array; anything else a map.
    CHECK(L.run("return cmsgpack.pack({[1]=1,[3]=3}):byte(1) == 0x82") == "true");
    CHECK(L.run("local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t):byte(1)") ==
          "220");
  }

  TEST_CASE("values round trip, several per string, with unpack_one and unpack_limit offsets") {
    LuaState L;
    CHECK(L.run("return cmsgpack.unpack(cmsgpack.pack({1, 'two', {x = 3.5}}, true, -7))") ==
          "{[1]=1, [2]='two', [3]={x=3.5}}, true, -7");
    CHECK(L.run("return cmsgpack.unpack_one(cmsgpack.pack(1, 2))") == "1, 1");
    CHECK(L.run("return cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)") == "-1, 2");
    CHECK(L.run("return cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)") == "2, 1, 2");
    CHECK(L.run("return cmsgpack.unpack('')") == "");
  }

  TEST_CASE("bad or cut input is an error, never a crash") {
    LuaState L;
    CHECK(L.run("return cmsgpack.unpack('\\193')") == "error: test:1: Bad data format in input.");
    CHECK(L.run("return cmsgpack.unpack('\\146\\1')") == "error: test:1: Missing bytes in input.");
    CHECK(L.run("return cmsgpack.unpack('\\219\\255\\255\\255\\255')") ==
          "error: test:1: Missing bytes in input.");
    CHECK(L.run("return cmsgpack.pack()").find("MessagePack pack needs input.") !=
          std::string::npos);
    // A table that contains itself is cut at 16 levels (nil beyond).
    CHECK(L.run("local t = {} t[1] = t return #cmsgpack.pack(t)") == "17");
  }
}

TEST_SUITE("scripting.struct") {
  TEST_CASE("Redisson's formats pack and unpack back to the same values") {
    LuaState L;
    // c0 packs the whole string; unpacking, c0 takes its length from the number before it.
    CHECK(L.run("return struct.unpack('d L c0 h B I', struct.pack('d L c0 h B I', 1.5, 3, 'abc', "
                "-2, 255, 65536))") == "1.5, 'abc', -2, 255, 65536, 27");
    CHECK(L.run("return #struct.pack('d L c0 h B I', 1, 2, 'xy', 3, 4, 5)") == "25");
  }

  TEST_CASE("byte order, sizes and alignment follow the format") {
    LuaState L;
    CHECK(L.run("return struct.pack('>i4', 1) == '\\0\\0\\0\\1', struct.pack('<i4', 1) == "
                "'\\1\\0\\0\\0'") == "true, true");
    CHECK(L.run("return struct.pack('>I3', 65536) == '\\1\\0\\0'") == "true");
    CHECK(L.run("return #struct.pack('!4 b i4', 1, 2), #struct.pack('b i4', 1, 2)") == "8, 5");
    CHECK(L.run("return struct.unpack('<h', '\\255\\255')") == "-1, 3");
    CHECK(L.run("return struct.unpack('<H', '\\255\\255')") == "65535, 3");
    CHECK(L.run("return struct.size('d L h B I'), struct.size('!8 b d')") == "23, 16");
    CHECK(L.run("return struct.unpack('s', 'ab\\0cd')") == "'ab', 4");
    CHECK(L.run("return struct.unpack('B c0', '\\3abcd')") == "'abc', 5");
  }

  TEST_CASE("bad formats and short data are Lua errors with the library's words") {
    LuaState L;
    CHECK(L.run("return struct.pack('q', 1)").find("invalid format option 'q'") !=
          std::string::npos);
    CHECK(
        L.run("return struct.pack('i40', 1)").find("integral size 40 is larger than limit of 32") !=
        std::string::npos);
    CHECK(L.run("return struct.pack('!3 i', 1)").find("alignment 3 is not a power of 2") !=
          std::string::npos);
    CHECK(L.run("return struct.unpack('i4', 'ab')").find("data string too short") !=
          std::string::npos);
    CHECK(L.run("return struct.unpack('s', 'abc')").find("unfinished string in data") !=
          std::string::npos);
    CHECK(L.run("return struct.size('s')").find("option 's' has no fixed size") !=
          std::string::npos);
  }
}

}  // namespace sluice::scripting::testing
