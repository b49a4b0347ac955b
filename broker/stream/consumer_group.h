// ConsumerGroup: a stream's consumer group — last-delivered-id, entries-read, consumers and the
// pending entries list — and the Redis 7 arithmetic over stream metadata that XREADGROUP and
// XINFO need (entries-read estimates, lag). In-memory state only: group_store.h journals it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/stream/pending_list.h"
#include "wire/stream_id.h"

namespace sluice::stream {

class Stream;

// Redis's SCG_INVALID_ENTRIES_READ: the group's read counter is unknown.
inline constexpr int64_t kEntriesReadUnknown = -1;

// A dead letter's append to the dead-letter stream, kept until it is known durable so that
// recovery can redo it if a crash lost it (broker/commands/dead_letter.h). `seq` is the group's
// dead_letters count once this dead letter was made.
struct DeadLetterIntent {
  uint64_t seq = 0;
  std::string dlq_key;
  wire::StreamId dlq_id;
  std::vector<std::string> fields;
};

class ConsumerGroup {
 public:
  explicit ConsumerGroup(std::string group_name) : name(std::move(group_name)) {}
  ConsumerGroup(const ConsumerGroup&) = delete;
  ConsumerGroup& operator=(const ConsumerGroup&) = delete;

  std::string name;
  wire::StreamId last_delivered_id;
  int64_t entries_read = kEntriesReadUnknown;
  PendingList pel;
  // Ordered by name: the order XINFO CONSUMERS and XPENDING list them in, as Redis's rax.
  std::map<std::string, std::unique_ptr<Consumer>, std::less<>> consumers;
  // Dead-letter stream (XGROUP SETDLQ, a Sluice extension): with max_deliveries > 0, an entry
  // that would be delivered more than max_deliveries times, or is XNACKed FATAL, is appended to
  // the stream `dlq_key` (same database) and acknowledged. dead_letters counts them (lifetime).
  uint64_t max_deliveries = 0;  // 0: no dead-letter stream (Redis's behaviour)
  std::string dlq_key;
  uint64_t dead_letters = 0;

  bool has_dlq() const { return max_deliveries > 0; }
  // Crash atomicity of dead letters (dead_letter.h). dlq_last_id: the highest DLQ ID the group's
  // journal recorded for dlq_key. The dead letters with seq <= dead_letters_confirmed had their
  // DLQ appends fdatasynced; those up to dead_letters_flushed were written to the OS (the next
  // completed sync confirms them). unconfirmed_dead_letters: the others' intents, oldest first.
  wire::StreamId dlq_last_id;
  uint64_t dead_letters_confirmed = 0;
  uint64_t dead_letters_flushed = 0;
  uint64_t dead_letters_confirm_journaled = 0;  // dead_letters_confirmed as the journal has it
  std::deque<DeadLetterIntent> unconfirmed_dead_letters;
  // Dead letters up to `seq` are durable: their intents go.
  void confirm_dead_letters(uint64_t seq) {
    if (seq <= dead_letters_confirmed) return;
    dead_letters_confirmed = seq;
    while (!unconfirmed_dead_letters.empty() && unconfirmed_dead_letters.front().seq <= seq) {
      unconfirmed_dead_letters.pop_front();
    }
  }

  // Idle-consumer limit (XGROUP SETCONSUMERIDLE, a Sluice extension): consumers without pending
  // entries idle (XINFO CONSUMERS idle) for at least this many ms are deleted by the server's
  // cron; those with pending entries are reported as stale. 0: off (Redis's behaviour).
  int64_t consumer_max_idle_ms = 0;
  bool consumer_stale(const Consumer& c, int64_t now_ms) const {
    return consumer_max_idle_ms > 0 && now_ms - c.seen_time_ms >= consumer_max_idle_ms;
  }
  // When the group was created or loaded (wall clock): the start of its activity, which is
  // otherwise its consumers' seen times (last_active_ms()).
  int64_t base_time_ms = wall_ms();
  int64_t last_active_ms() const;

  static int64_t wall_ms();

  Consumer* find_consumer(std::string_view consumer_name);
  // The consumer, created (with seen time `now_ms`) if missing; *created tells which.
  Consumer* ensure_consumer(std::string_view consumer_name, int64_t now_ms, bool* created);
  // Removes a consumer and its pending entries; returns how many it had (0 if unknown).
  uint64_t delete_consumer(std::string_view consumer_name);

  // XREADGROUP delivered `id` (> last_delivered_id): advances the cursor and the read counter as
  // Redis's streamReplyWithRange does.
  void advance_cursor(const Stream& s, wire::StreamId id);
};

using GroupMap = std::map<std::string, std::unique_ptr<ConsumerGroup>, std::less<>>;

// Redis's streamEstimateDistanceFromFirstEverEntry: the logical read counter of `id`, or
// kEntriesReadUnknown when fragmentation makes it unknowable.
int64_t estimate_entries_read(const Stream& s, wire::StreamId id);
// Redis's streamRangeHasTombstones(s, start, +inf): a deleted entry may lie at or after `start`.
bool has_tombstones_from(const Stream& s, wire::StreamId start);
// The number of entries not yet delivered to the group, or nullopt when it cannot be known
// (XINFO shows nil).
std::optional<int64_t> group_lag(const Stream& s, const ConsumerGroup& g);

}  // namespace sluice::stream
