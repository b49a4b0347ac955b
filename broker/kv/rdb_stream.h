// DUMP payloads of streams in Redis 7.0's format (RDB type 19, stream listpacks 2), so a stream
// DUMPed by Sluice RESTOREs in redis-server 7.0 with its entries, metadata and consumer groups.
// The stream is described by value (RdbStream), gathered by the caller from its engine.
//
//   node count, then per node: the master ID (16 bytes: ms, seq big endian) as a string and a
//     listpack: master entry [count, deleted (0), field count, fields..., 0], then per entry
//     [flags (2 = same fields as the master), ms - master ms, seq - master seq, (field count,
//     field, value... | values...), element count of the entry minus one]
//   length, last ID (ms, seq), first ID, max deleted entry ID, entries added (lengths)
//   group count, per group: name, last delivered ID (ms, seq), entries read (-1 unknown, as a
//     64-bit length), PEL count, per pending entry: ID (16 bytes), delivery time (8 bytes LE ms),
//     delivery count; consumer count, per consumer: name, seen time (8 bytes LE), the IDs it owns
//
// RESTORE of a stream payload is not supported (kRdbStreamUnsupported).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/stream_id.h"

namespace sluice::kv {

struct RdbStream {
  struct Entry {
    wire::StreamId id;
    std::vector<std::string> fields;  // field, value, field, value...
  };
  struct Pending {
    wire::StreamId id;
    int64_t delivery_time_ms = 0;
    uint64_t delivery_count = 0;
  };
  struct Consumer {
    std::string name;
    int64_t seen_time_ms = 0;
    std::vector<wire::StreamId> pending;  // ascending
  };
  struct Group {
    std::string name;
    wire::StreamId last_delivered_id;
    int64_t entries_read = -1;
    std::vector<Pending> pel;  // ascending
    std::vector<Consumer> consumers;
  };
  std::vector<Entry> entries;  // ascending
  uint64_t length = 0;
  wire::StreamId last_id;
  wire::StreamId first_id;
  wire::StreamId max_deleted_id;
  uint64_t entries_added = 0;
  std::vector<Group> groups;
};

// The DUMP payload of `s`, footer included.
std::string rdb_dump_stream(const RdbStream& s);

}  // namespace sluice::kv
