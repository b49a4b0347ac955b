// Shared by the stream tests that need many small segments (trims and retention unlink files).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>

#include "broker/stream/stream.h"

namespace sluice::stream::testing {

inline StreamOptions small_options() {
  StreamOptions o;
  o.log.segment_bytes = 4096;  // many segments, so trims unlink files
  o.log.index_interval_bytes = 512;
  o.log.tail_cache_bytes = 1024;
  o.node_max_entries = 10;
  return o;
}

inline std::unique_ptr<Stream> open_stream(const std::string& dir) {
  auto s = Stream::open(dir, small_options(), nullptr);
  REQUIRE(s.is_ok());
  return std::move(*s);
}

// Everything a client can observe of a stream, plus its logical start and tombstone count.
inline std::string describe(const Stream& s) {
  std::string out =
      "len=" + std::to_string(s.length()) + " first=" + s.first_id().to_string() +
      " last=" + s.last_id().to_string() + " added=" + std::to_string(s.entries_added()) +
      " maxdel=" + s.max_deleted_id().to_string() + " start=" + s.start().to_string() +
      " tombstones=" + std::to_string(s.deleted_count()) +
      " last_entry=" + s.last_entry_id().to_string() + "\n";
  s.range(StreamId::min(), StreamId::max(), false, 0, [&](StreamId id, std::string_view resp) {
    out += id.to_string() + " " + std::string(resp) + "\n";
    return true;
  });
  return out;
}

}  // namespace sluice::stream::testing
