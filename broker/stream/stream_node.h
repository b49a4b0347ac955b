// Redis's stream nodes, as far as approximate trimming needs them. Redis keeps a stream as a
// radix tree of listpacks ("nodes"); XADD opens a new node when the tail one holds
// stream-node-max-entries entries (live and deleted) or when its listpack bytes plus the new
// entry's field and value bytes reach stream-node-max-bytes, and `~` trims drop whole nodes
// only. NodeModel follows the tail node's listpack size byte for byte (the encodings of
// listpack.c: integers in 1-9 bytes, strings with a 1, 2 or 5 byte header, a 1-5 byte back
// length per element; the master entry with the first entry's field names; entries whose fields
// equal the master's store only their values), so Sluice starts a node exactly where Redis
// would, and the stream's log marks each node's first entry.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/stream_id.h"

namespace sluice::stream {

using wire::StreamId;

class NodeModel {
 public:
  // Accounts an appended entry (`fields`: field, value, field, value...) and returns whether it
  // starts a new node under the limits (0 = no limit, as in Redis: the byte limit is then
  // 1 GiB). `force_new` starts a node whatever the limits (the first entry a restore replays).
  bool add(StreamId id, std::span<const std::string_view> fields, int64_t max_entries,
           int64_t max_bytes, bool force_new = false);
  // The tail node is gone (its entries all deleted or trimmed): the next entry opens a node.
  void reset() { open_ = false; }
  bool open() const { return open_; }
  StreamId first_id() const { return master_id_; }
  // The ordinal (appends before it) of the node's first entry, kept by the stream.
  uint64_t first_ordinal = 0;
  // Entries of the tail node no longer in the log (trimmed, their segment unlinked) when it is
  // restored after a restart: counted as deleted, each of `bytes_each` listpack bytes.
  void add_missing(uint64_t n, uint64_t bytes_each);
  // An entry of the tail node was deleted: a node with no live entry left is freed (Redis).
  void entry_deleted(StreamId id);
  uint64_t bytes() const { return bytes_; }
  uint64_t entries() const { return valid_ + deleted_; }

 private:
  bool open_ = false;
  uint64_t bytes_ = 0;    // lpBytes of the tail listpack
  uint64_t valid_ = 0;    // the master entry's count: live entries
  uint64_t deleted_ = 0;  // and its deleted count
  StreamId master_id_;
  std::vector<std::string> master_fields_;
};

}  // namespace sluice::stream
