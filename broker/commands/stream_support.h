// Helpers shared by the stream and consumer-group commands: key lookup with WRONGTYPE, ID
// parsing with Redis's rules and error words, replies of IDs and entries, write bookkeeping.
#pragma once

#include <algorithm>
#include <cstdint>
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

// stream-node-max-entries / -bytes as configured now, for the next append or `~` trim.
inline void use_node_limits(const CommandContext& ctx, stream::Stream& s) {
  s.set_node_limits(ctx.broker.config().stream_node_max_entries,
                    ctx.broker.config().stream_node_max_bytes);
}

// "ms" or "ms-seq" (strict: no "-", "+", "$", "*"). Replies the error on failure.
bool parse_strict_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                     StreamId* out);
// XRANGE-style interval bound: "-", "+", "(id" exclusive, or an ID. Replies on failure.
bool parse_interval_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                       StreamId* out, bool* exclusive);
// KEEPREF | DELREF | ACKED (Redis 8.2, any case): sets *out and returns true for one of them.
bool parse_ref_policy(std::string_view arg, stream::RefPolicy* out);
// The `active_since_ms` of group_refs.h for this command: now - stream-group-inactive-ms, or
// every group when that is 0.
int64_t acked_active_since(const CommandContext& ctx);
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
  int64_t maxcount = 0;         // MAXCOUNT (Redis 8.10): entries of the whole reply; 0 = no cap
  int64_t maxsize = 0;          // MAXSIZE (Redis 8.10): entry bytes of the whole reply; 0 = no cap
  std::string_view group;
  std::string_view consumer;
};
bool parse_read_options(CommandContext& ctx, bool xreadgroup, ReadOptions* out);

// The MAXCOUNT / MAXSIZE caps of one XREAD or XREADGROUP reply, shared by all its streams
// (served in the order named). An entry's size is its RESP bytes as the reply carries them (the
// CLAIM form's two extra integers included). The first entry of a reply is always taken, however
// large, so a reader always makes progress; after it, an entry that would pass MAXSIZE ends the
// reply (no later entry or stream is served), as does reaching MAXCOUNT.
class ReadBudget {
 public:
  ReadBudget() = default;
  explicit ReadBudget(const ReadOptions& opts)
      : entries_left_(opts.maxcount > 0 ? static_cast<uint64_t>(opts.maxcount) : kNoCap),
        bytes_left_(opts.maxsize > 0 ? static_cast<uint64_t>(opts.maxsize) : kNoCap),
        capped_(opts.maxcount > 0 || opts.maxsize > 0) {}
  // Whether any cap was given.
  bool capped() const { return capped_; }
  // False once a cap ended the reply.
  bool open() const { return !closed_ && entries_left_ > 0; }
  // Takes an entry of `bytes` if it fits (true), else closes the budget (false).
  bool take(size_t bytes) {
    if (!open() || (taken_ > 0 && bytes > bytes_left_)) {
      closed_ = true;
      return false;
    }
    --entries_left_;
    bytes_left_ -= std::min<uint64_t>(bytes, bytes_left_);
    ++taken_;
    return true;
  }
  // A per-stream COUNT (0 = all) narrowed to the entries left.
  uint64_t narrow(uint64_t count) const {
    if (entries_left_ == kNoCap) return count;
    return count == 0 ? entries_left_ : std::min(count, entries_left_);
  }

 private:
  static constexpr uint64_t kNoCap = UINT64_MAX;
  uint64_t entries_left_ = kNoCap;
  uint64_t bytes_left_ = kNoCap;
  uint64_t taken_ = 0;
  bool capped_ = false;
  bool closed_ = false;
};

void reply_id(wire::resp::ReplyWriter& reply, StreamId id);
// Replies the entries of [from, to] (reverse for XREVRANGE), at most count (0 = all) as an array
// of [id, [field, value...]] — copied from the stored RESP bytes.
void reply_range(CommandContext& ctx, const stream::Stream& s, StreamId from, StreamId to,
                 bool reverse, uint64_t count);
// Appends the same array (without error handling) to `out`'s staging bytes.
wire::Status append_range(core::OutputQueue& out, const stream::Stream& s, StreamId from,
                          StreamId to, bool reverse, uint64_t count);
// Appends to *out the entries after `after` (at most count, 0 = all) that `budget` takes, as
// an array; *n gets their number.
wire::Status append_budgeted(std::string* out, const stream::Stream& s, StreamId after,
                             uint64_t count, ReadBudget& budget, uint64_t* n);

}  // namespace sluice::commands
