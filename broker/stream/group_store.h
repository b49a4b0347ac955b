// GroupStore: durability of a stream's consumer groups. Every change is appended to the journal
// "groups" (groups.journal in the stream's directory) as an effect record with absolute values
// (wire/schema/group.fbs); once the journal outgrows the state it describes, the whole state is
// written as a snapshot (groups.snap) and the journal restarts. Recovery loads the snapshot and
// replays the journal, cutting a torn tail (storage::Journal does both).
//
// The in-memory change is made by the caller first (consumer_group.h); the record then says
// what the state now is. Records are buffered: they reach the file when the stream is flushed
// and are fdatasynced with the stream's log by the group commit, so under appendfsync always a
// reply that depends on them waits for that sync (CommandContext::wrote).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "broker/storage/journal.h"
#include "broker/stream/consumer_group.h"
#include "broker/stream/idmp.h"
#include "wire/status.h"

namespace sluice::stream {

class Stream;

enum GroupRecordType : uint8_t {
  kGroupStateRecord = 1,
  kGroupDestroyRecord = 2,
  kConsumerSeenRecord = 3,
  kConsumerDeleteRecord = 4,
  kDeliverRecord = 5,
  kAckRecord = 6,
  kGroupsSnapshotRecord = 7,
  // Idempotent producers (idmp.h) share the journal: stream metadata kept like the groups'.
  kIdmpConfigRecord = 8,
  kIdmpAddRecord = 9,
  kIdmpDuplicateRecord = 10,
  kIdmpSnapshotRecord = 11,
  kNackRecord = 12,
  kGroupDlqRecord = 13,
  kDeadLetterRecord = 14,
  kGroupConsumerIdleRecord = 15,
};

class GroupStore {
 public:
  static constexpr const char* kJournalName = "groups";
  // Journal bytes always tolerated before a snapshot; beyond, a snapshot is written once the
  // journal is twice the estimated snapshot size, so snapshots cost O(1) per record amortized.
  static constexpr uint64_t kMinSnapshotJournalBytes = 4u << 20;

  // Whether `dir` holds a group journal or snapshot.
  static bool exists(const std::string& dir);
  // Opens dir/groups.{snap,journal} (creating them) and replays them into *groups and *idmp
  // (both cleared; IDMP records are skipped when idmp is null).
  static wire::Result<std::unique_ptr<storage::Journal>> open(const std::string& dir,
                                                              GroupMap* groups,
                                                              uint64_t* truncated_bytes = nullptr,
                                                              IdmpState* idmp = nullptr);
  // Applies one record to *groups or *idmp (replay).
  static wire::Status apply(GroupMap* groups, uint8_t type, std::string_view payload,
                            IdmpState* idmp = nullptr);
  // The whole state as snapshot frames (the IDMP state too when given and in use).
  static std::string snapshot_frames(const GroupMap& groups, const IdmpState* idmp = nullptr);

  // A writer over `journal` for the state in `groups` (and `idmp`, which snapshots include). All
  // must outlive it.
  GroupStore(storage::Journal& journal, const GroupMap& groups, const IdmpState* idmp = nullptr)
      : journal_(journal), groups_(groups), idmp_(idmp) {}

  // XGROUP CREATE (create) or SETID: the group's cursor and read counter.
  wire::Status group_state(const ConsumerGroup& g, bool create);
  wire::Status group_destroy(std::string_view group);
  // A consumer was created or its seen/active time changed with no delivery.
  wire::Status consumer_seen(const ConsumerGroup& g, const Consumer& c);
  wire::Status consumer_delete(const ConsumerGroup& g, std::string_view consumer);
  // `ids` are now pending for `c` with delivery time `delivery_time_ms` and the delivery counts
  // in `counts` (empty: all 1); with `set_cursor` the group's cursor is recorded too.
  wire::Status deliver(const ConsumerGroup& g, const Consumer& c, int64_t delivery_time_ms,
                       std::span<const StreamId> ids, std::span<const uint64_t> counts,
                       bool set_cursor);
  // `ids` left the PEL (XACK, or their entries no longer exist).
  wire::Status ack(const ConsumerGroup& g, std::span<const StreamId> ids);
  // XNACK: `ids` are now pending for no consumer, delivery time 0, with the delivery counts in
  // `counts`.
  wire::Status nack(const ConsumerGroup& g, std::span<const StreamId> ids,
                    std::span<const uint64_t> counts);
  // XGROUP SETDLQ: the group's dead-letter settings.
  wire::Status group_dlq(const ConsumerGroup& g);
  // `ids` were dead-lettered: they left the PEL and g.dead_letters is the new count. `intent`
  // (if any) is the DLQ append to redo should a crash lose it (dead_letter.h); the record also
  // carries g.dead_letters_confirmed.
  wire::Status dead_letter(const ConsumerGroup& g, std::span<const StreamId> ids,
                           const DeadLetterIntent* intent = nullptr);
  // XGROUP SETCONSUMERIDLE: the group's idle-consumer limit.
  wire::Status group_consumer_idle(const ConsumerGroup& g);
  // XCFGSET: the limits now in `idmp` (its IDs cleared).
  wire::Status idmp_config(const IdmpState& idmp);
  // XADD IDMP added `id` for (pid, iid) at `time_ms`; `idmp` already holds it.
  wire::Status idmp_add(const IdmpState& idmp, std::string_view pid, std::string_view iid,
                        StreamId id, int64_t time_ms);
  // XADD IDMP found a duplicate (`idmp` already counted it).
  wire::Status idmp_duplicate(const IdmpState& idmp);

 private:
  wire::Status commit(uint8_t type, std::string_view payload);

  storage::Journal& journal_;
  const GroupMap& groups_;
  const IdmpState* idmp_;
};

// Loads a stream's groups at open, if it has group files (StreamEngine::open).
wire::Status load_stream_groups(Stream& s, uint64_t* truncated_bytes);
// The writer for a stream's groups, opening its journal on first use. Null on failure, with
// the cause in *error.
std::optional<GroupStore> group_store(Stream& s, wire::Status* error);

}  // namespace sluice::stream
