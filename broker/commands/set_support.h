// Helpers shared by the set commands (set_commands.cc, set_algebra_commands.cc) and SORT: typed
// lookups, the configured intset limit, the random source of SPOP/SRANDMEMBER.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string_view>

#include "broker/commands/kv_support.h"
#include "broker/kv/set_object.h"

namespace sluice::commands {

// Called by register_set_commands (set_commands.cc).
void register_set_algebra_commands(CommandTable& table);

inline kv::SetObject* read_set(CommandContext& ctx, std::string_view key, bool* replied) {
  return read_typed<kv::SetObject, core::ObjectType::kSet>(ctx, key, replied);
}
inline kv::SetObject* write_set(CommandContext& ctx, std::string_view key, bool* replied) {
  return write_typed<kv::SetObject, core::ObjectType::kSet>(ctx, key, replied);
}

// set-max-intset-entries as SetObject::add takes it.
inline size_t intset_limit(CommandContext& ctx) {
  int64_t v = ctx.broker.config().set_max_intset_entries;
  return v < 0 ? 0 : static_cast<size_t>(v);
}

// The random source of SPOP and SRANDMEMBER (uniform 64-bit values). Only replies depend on it:
// what a pop removed is journaled as members.
inline std::mt19937_64& set_rng() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

}  // namespace sluice::commands
