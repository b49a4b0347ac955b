// Dead-letter streams (XGROUP SETDLQ, a Sluice extension): a group given a maximum number of
// deliveries moves an entry that would be delivered more often than that (XREADGROUP history and
// CLAIM re-deliveries, XCLAIM, XAUTOCLAIM), or that is XNACKed FATAL, to its dead-letter stream
// and acknowledges it. The DLQ entry and the acknowledgement are made in the same command, so
// they reach the disk in the same flush and group commit, and the reply waits for that sync.
//
// Crash atomicity. The DLQ append goes to the DLQ's segment log, the PEL removal to the source
// stream's group journal: two files, two write()s, two fdatasyncs. A crash (kill -9 between the
// writes, or a power loss that made only one file durable) could leave (a) the DLQ entry without
// the PEL removal, so the entry would be dead-lettered again (a duplicate), or (b) the removal
// without the DLQ entry: a lost poison message. Neither survives recovery:
// - The group journal is the record of intent. Its DeadLetter record carries the DLQ key, the
//   DLQ entry ID assigned and the entry's whole field list (a DeadLetterIntent). The group keeps
//   the intents in memory until a completed sync shows their DLQ appends durable (a sync batch
//   covers every file written by the flushes before it: StreamEngine::flush/collect_sync);
//   snapshots of the group journal keep the intents still unconfirmed, and each DeadLetter
//   record carries the count confirmed so far, so replay only yields the recent ones.
// - (b) At open, once every stream is loaded (StreamEngine::recover_dead_letters), an intent
//   whose DLQ ID is above the DLQ's last ID was lost (a log only loses its tail): it is appended
//   again with that exact ID, the DLQ recreated if its creation was lost. A DLQ whose last ID is
//   at or past it kept the entry or had it deleted or trimmed since: left alone.
// - (a) For each group with a DLQ and pending entries, DLQ entries past the last DLQ ID the
//   group's journal recorded (dlq_last_id; without one, from the oldest pending delivery time)
//   that name this stream, group and a still-pending ID finish their dead letter: the entry
//   leaves the PEL, the count grows, and a DeadLetter record is journaled.
// Writes are not ordered between the two files (a Journal's rollback point is its latest flush,
// so flushing group journals in a pass of their own would break undoing a failed batch); the
// correctness comes from recovery alone.
// Why intents rather than one atomic write: the two streams' files are independent logs (each
// one trimmed, compacted, deleted or renamed on its own), and a cross-file commit record would
// cost every stream an extra journal; dead letters are rare, so carrying the entry twice for the
// one sync that makes them durable is cheap.
// Left open: a DLQ deleted (DEL) after dead letters not yet confirmed in the journal, followed by
// a crash, gets those entries back at restart (recovery cannot tell that deletion from a lost
// creation). Replicas get the effect as XADD + XACK (propagate_dead_letter), as before.
#pragma once

#include <cstdint>
#include <string_view>

#include "broker/core/broker.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"
#include "broker/stream/stream.h"

namespace sluice::commands {

inline constexpr std::string_view kDeadLetterMaxDeliveries = "max-deliveries";
inline constexpr std::string_view kDeadLetterFatal = "fatal";

// Whether a delivery that brings the entry's count to `next_count` must dead-letter it instead.
inline bool dead_letter_due(const stream::ConsumerGroup& g, uint64_t next_count) {
  return g.has_dlq() && next_count > g.max_deliveries;
}

// Appends pending entry `id` of `g` (on stream `s` of database `db`) to the group's dead-letter
// stream with its metadata and `reason`, removes it from the PEL and journals both. Returns true
// if it was dead-lettered; false (nothing changed) when the DLQ key holds another type or the
// entry no longer exists. A storage failure is returned in *st.
// Both streams are marked dirty; a command handler still sets ctx.wrote (group_written).
bool dead_letter(core::Broker& broker, int db, int64_t now_ms, stream::Stream& s,
                 stream::ConsumerGroup& g, wire::StreamId id, std::string_view reason,
                 stream::GroupStore& store, wire::Status* st);

}  // namespace sluice::commands
