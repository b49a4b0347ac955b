// The Lua libraries Sluice writes itself because Debian packages none: cmsgpack (MessagePack,
// as lua-cmsgpack: BullMQ packs job data with it) and struct (binary packing as Roberto
// Ierusalimschy's struct library: Redisson uses it). cjson and bit come from Debian.
#pragma once

struct lua_State;

namespace sluice::scripting {

// Standard Lua module openers: register the library as a global table named `name` (the first
// argument) and leave it on the stack.
int luaopen_cmsgpack(lua_State* L);
int luaopen_struct(lua_State* L);

}  // namespace sluice::scripting
