// How a stream entry is stored: a StreamEntry flatbuffer whose `resp` field holds the exact
// bytes XRANGE/XREAD/XCLAIM send for the entry — the same in RESP2 and RESP3 — so reading an
// entry back is a copy, never a re-encoding.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wire/stream_id.h"

namespace sluice::stream {

using wire::StreamId;

inline constexpr uint8_t kEntryRecord = 1;  // SegmentedLog record type

// Appends "*2\r\n$<n>\r\n<id>\r\n*<2f>\r\n" + each field/value as a bulk string.
void encode_entry_resp(std::string* out, StreamId id, std::span<const std::string_view> fields);

class EntryEncoder {
 public:
  // Builds the record payload; the view is valid until the next call (or release()).
  std::string_view encode(StreamId id, uint64_t ordinal, std::span<const std::string_view> fields,
                          bool node_start = false);
  // Gives back the memory of a big entry once its payload was used (every stream has an
  // encoder: a giant XADD must not keep one its size for good).
  void release() {
    if (fbb_.GetSize() > kKeptBytes) fbb_.Reset();
  }

 private:
  static constexpr size_t kKeptBytes = 1u << 20;
  flatbuffers::FlatBufferBuilder fbb_{1024};
};

struct EntryView {
  StreamId id;
  uint64_t ordinal = 0;
  bool node_start = false;  // the first entry of a stream node
  std::string_view resp;    // the whole entry reply: [id, [f, v, ...]]
};

// Decodes a payload read from the log (trusted: frames are CRC-checked). With `verify`, runs the
// flatbuffers verifier first (recovery).
bool decode_entry(std::string_view payload, EntryView* out, bool verify = false);

// Splits an entry's RESP bytes into its field/value bulks (for XINFO and tests).
bool entry_fields(std::string_view resp, std::vector<std::string_view>* fields);

}  // namespace sluice::stream
