// DUMP / RESTORE payloads in Redis's RDB object format, so a value moves between redis-server 7.0
// and Sluice in both directions. A payload is one type byte, the object, then the version and
// CRC footer (wire/rdb_format.h). What Sluice writes, per type (Redis 7.0's choices):
//
//   0  string        an RDB string (integers of up to 32 bits in the integer encodings)
//   16 hash          listpack of field, value, ... (a small hash, in its insertion order)
//   4  hash          count, then field and value strings (a hash table)
//   18 list          quicklist 2: node count, then per node container 2 (packed) and a listpack
//   11 set           an intset blob (every member an integer and few of them)
//   2  set           count, then member strings
//   17 sorted set    listpack of member, score, ... in score order (small sets)
//   5  sorted set    count, then member string and 8-byte little-endian double, highest first
//
// RESTORE also reads Redis's older encodings: 1 list and 3 sorted set (string scores) of plain
// strings, 10 ziplist list, 14 quicklist of ziplists, 12 ziplist sorted set, 13 ziplist hash.
// Streams (15, 19) live in the stream engine, not in an Object the codec can build or read: they
// go through rdb_stream.h.
//
// Restored values are built with today's encoding limits, as Redis converts what it loads. Any
// malformed payload is refused (empty collections and duplicate members too), never half-loaded.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "broker/core/object.h"
#include "broker/kv/kv_object.h"
#include "broker/kv/list_object.h"
#include "broker/kv/set_object.h"
#include "broker/kv/zset_object.h"
#include "wire/status.h"

namespace sluice::kv {

// What rdb_dump and rdb_restore answer for a stream (callers use rdb_stream.h instead).
inline constexpr std::string_view kRdbStreamUnsupported =
    "ERR streams are serialised by rdb_dump_stream / rdb_restore_stream";
inline constexpr std::string_view kRdbBadPayload = "ERR DUMP payload version or checksum are wrong";
inline constexpr std::string_view kRdbBadFormat = "ERR Bad data format";

// Encoding limits a restored value is built with (CONFIG list-max-listpack-size, ...).
struct RdbLoadLimits {
  ListLimits list;
  size_t set_max_intset_entries = kSetMaxIntsetEntries;
  ZSetLimits zset;
  HashLimits hash;
};

// The DUMP payload of `obj` (TTL not included). A stream is kInvalidArgument with
// kRdbStreamUnsupported: its entries live in the stream engine (see rdb_dump_stream).
wire::Result<std::string> rdb_dump(const core::Object& obj);

// The value a payload holds, without TTL. Errors are kInvalidArgument carrying the whole reply
// text: kRdbBadPayload (version or CRC), kRdbBadFormat; a stream payload is
// kRdbStreamUnsupported.
wire::Result<std::unique_ptr<core::Object>> rdb_restore(std::string_view payload,
                                                        const RdbLoadLimits& limits);

}  // namespace sluice::kv
