#include "broker/kv/kv_types.h"

#include <array>

#include "broker/kv/list_records.h"
#include "broker/kv/set_records.h"
#include "broker/kv/zset_records.h"

namespace sluice::kv {
namespace {

// One line per collection type module (each defined beside its type).
const auto kModules = std::to_array<const KvTypeModule*>({
    &kSetModule,
    &kZSetModule,
    &kListModule,
});

}  // namespace

std::span<const KvTypeModule* const> kv_type_modules() { return kModules; }

const KvTypeModule* find_kv_type_module(core::ObjectType type) {
  for (const KvTypeModule* m : kModules) {
    if (m->type == type) return m;
  }
  return nullptr;
}

const KvTypeModule* find_kv_record_module(uint8_t record_type) {
  for (const KvTypeModule* m : kModules) {
    if (record_type >= m->first_record && record_type <= m->last_record) return m;
  }
  return nullptr;
}

}  // namespace sluice::kv
