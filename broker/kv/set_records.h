// Journal and snapshot records of sets (wire/schema/set.fbs, frame types 32-47) and the set's
// KvTypeModule. Commands journal through these helpers into ctx.broker.kv().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "broker/kv/kv_records.h"
#include "broker/kv/kv_types.h"
#include "broker/kv/set_object.h"

namespace sluice::kv {

extern const KvTypeModule kSetModule;

// Members per snapshot record: a big set is written as many records, none of them huge.
inline constexpr size_t kSetSnapshotChunk = 1024;

// SADD-like: these members were added to the set at (db, key), which is created if missing.
void record_set_add(KvRecordSink& out, int db, std::string_view key,
                    std::span<const std::string_view> members);
// SREM-like: these members were removed; an emptied set is removed on replay too.
void record_set_rem(KvRecordSink& out, int db, std::string_view key,
                    std::span<const std::string_view> members);
// The key now holds exactly `value` (a *STORE, or SPOP's rebuild with keep_ttl).
void record_set_store(KvRecordSink& out, int db, std::string_view key, const SetObject& value,
                      bool keep_ttl);

}  // namespace sluice::kv
