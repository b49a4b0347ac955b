// Helpers shared by the stream and consumer-group commands: key lookup with WRONGTYPE, ID
// parsing with Redis's rules and error words, replies of IDs and entries, write bookkeeping.
#pragma once

#include <string_view>

#include "broker/commands/context.h"
#include "broker/stream/group_refs.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

using wire::StreamId;

// The stream at `key` in the client's db, or nullptr. On a key of another type, replies
// WRONGTYPE and sets *replied.
stream::Stream* lookup_stream(CommandContext& ctx, std::string_view key, bool* replied);
// Creates an empty stream at `key` (the key must not exist). Replies the error on failure.
stream::Stream* create_stream(CommandContext& ctx, std::string_view key);
// After a write: schedule the flush, hold the reply for durability, wake blocked readers,
// invalidate WATCH.
void stream_written(CommandContext& ctx, stream::Stream& s);

// "ms" or "ms-seq" (strict: no "-", "+", "$", "*"). Replies the error on failure.
bool parse_strict_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                     StreamId* out);
// XRANGE-style interval bound: "-", "+", "(id" exclusive, or an ID. Replies on failure.
bool parse_interval_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                       StreamId* out, bool* exclusive);
// KEEPREF | DELREF | ACKED (Redis 8.2, any case): sets *out and returns true for one of them.
bool parse_ref_policy(std::string_view arg, stream::RefPolicy* out);
// COUNT argument: integer, negatives become 0. Replies on failure.
bool parse_count(CommandContext& ctx, std::string_view arg, int64_t* out);

// The options XREAD and XREADGROUP share, parsed in one loop as Redis does (GROUP and NOACK
// only for XREADGROUP, STREAMS last). Replies the error and returns false on bad input.
struct ReadOptions {
  int64_t timeout = -1;    // BLOCK ms; -1 = do not block
  int64_t count = 0;       // 0 = no limit
  size_t streams_arg = 0;  // index of the first key
  size_t nstreams = 0;
  bool noack = false;
  int64_t claim_min_idle = -1;  // CLAIM min-idle-time (XREADGROUP, Redis 8.4); -1 = not given
  std::string_view group;
  std::string_view consumer;
};
bool parse_read_options(CommandContext& ctx, bool xreadgroup, ReadOptions* out);

void reply_id(wire::resp::ReplyWriter& reply, StreamId id);
// Replies the entries of [from, to] (reverse for XREVRANGE), at most count (0 = all) as an array
// of [id, [field, value...]] — copied from the stored RESP bytes.
void reply_range(CommandContext& ctx, const stream::Stream& s, StreamId from, StreamId to,
                 bool reverse, uint64_t count);
// Appends the same array (without error handling) to `out`'s staging bytes.
wire::Status append_range(core::OutputQueue& out, const stream::Stream& s, StreamId from,
                          StreamId to, bool reverse, uint64_t count);

}  // namespace sluice::commands
