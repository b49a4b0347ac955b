// Lists in the KV journal and snapshot: the KvTypeModule of lists (record types 16-31, schema in
// wire/schema/list.fbs) and the functions the list commands journal their effects with.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "broker/kv/kv_records.h"
#include "broker/kv/kv_types.h"

namespace sluice::kv {

extern const KvTypeModule kListModule;

// LPUSH-like (head) or RPUSH-like: the elements pushed one after the other, the list created
// when missing.
void record_list_push(KvRecordSink& out, int db, std::string_view key, bool head,
                      std::span<const std::string_view> elements);
void record_list_pop(KvRecordSink& out, int db, std::string_view key, bool head, uint64_t count);
void record_list_set(KvRecordSink& out, int db, std::string_view key, uint64_t index,
                     std::string_view element);
void record_list_insert(KvRecordSink& out, int db, std::string_view key, uint64_t index,
                        std::string_view element);
void record_list_rem(KvRecordSink& out, int db, std::string_view key, int64_t count,
                     std::string_view element);
void record_list_trim(KvRecordSink& out, int db, std::string_view key, uint64_t front,
                      uint64_t back);
void record_list_move(KvRecordSink& out, int db, std::string_view key, std::string_view to_key,
                      bool from_head, bool to_head);

}  // namespace sluice::kv
