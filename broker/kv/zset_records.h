// Journal records of sorted sets (wire/schema/zset.fbs) and the sorted set KvTypeModule: what
// commands emit for each effect, and how replay, snapshots and COPY rebuild a set.
#pragma once

#include <span>
#include <string_view>

#include "broker/kv/kv_types.h"
#include "broker/kv/zset_object.h"

namespace sluice::kv {

inline constexpr uint8_t kZSetAddRecord = 48;
inline constexpr uint8_t kZSetRemRecord = 49;

// The module registered in kv_types.cc.
extern const KvTypeModule kZSetModule;

// These members (of `set`, at `key`) now have the scores they hold (ZADD, ZINCRBY): one record.
void record_zset_scores(KvRecordSink& out, int db, std::string_view key, const ZSetObject& set,
                        std::span<const ZMember* const> members);
// These members were removed (ZREM, pops, range removals), in records of bounded size.
void record_zset_removed(KvRecordSink& out, int db, std::string_view key,
                         std::span<const std::string_view> members);
// The whole value of `key`, replacing what it held (STORE results, snapshots), in chunks.
void record_zset_value(KvRecordSink& out, int db, std::string_view key, const ZSetObject& set);

}  // namespace sluice::kv
