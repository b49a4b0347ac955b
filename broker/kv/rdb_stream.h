// DUMP payloads of streams in Redis 7.0's format (RDB type 19, stream listpacks 2), so a stream
// moves between redis-server 7.0 and Sluice with its entries, metadata and consumer groups. The
// stream is described by value (RdbStream): the caller gathers it from, or builds it in, the
// stream engine.
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
// Reading accepts type 19 and Redis 6's type 15 (no first ID, max deleted ID, entries added or
// entries read), skips entries flagged deleted (flag 1), and refuses anything inconsistent:
// IDs out of order or past the last ID, a PEL entry without an owner or owned twice, a consumer
// owning an ID its group does not have pending.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/status.h"
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

// Whether a payload with a valid footer holds a stream (RDB type 15 or 19).
bool rdb_payload_is_stream(std::string_view payload);
// The stream a payload holds. Errors are kInvalidArgument with the whole reply text
// (kRdbBadPayload, kRdbBadFormat from rdb_codec.h).
wire::Result<RdbStream> rdb_restore_stream(std::string_view payload);

}  // namespace sluice::kv
