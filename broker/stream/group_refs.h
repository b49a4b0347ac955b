// References of consumer groups to stream entries, for Redis 8.2's KEEPREF / DELREF / ACKED
// (XDELEX, XACKDEL, and trimming by XADD / XTRIM). An entry is referenced while some group still
// needs it: it is pending in that group's PEL, or the group has not delivered it yet (its ID is
// above the group's last-delivered-id). In-memory questions and changes only: the caller journals
// the PEL changes through the group store (journal_removed_refs).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "broker/stream/consumer_group.h"
#include "broker/stream/group_store.h"
#include "wire/status.h"
#include "wire/stream_id.h"

namespace sluice::stream {

class Stream;
struct TrimSpec;

// What a deletion or trim does to the PEL references of every group.
enum class RefPolicy : uint8_t {
  kKeepRef,  // delete the entry, leave PEL references dangling (XDEL's behaviour)
  kDelRef,   // delete the entry and its references in every group's PEL
  kAcked,    // delete only entries no group references
};

// Whether some group still needs `id` (see the file comment). False when there are no groups.
bool entry_referenced(const Stream& s, StreamId id);

// The smallest ID some group still needs, or nullopt when no group needs anything (no groups,
// or every group has delivered and acknowledged everything). Trimming with ACKED keeps this ID
// and everything after it.
std::optional<StreamId> first_referenced_id(const Stream& s);

// PEL references removed from one group.
struct RemovedRefs {
  ConsumerGroup* group = nullptr;
  std::vector<StreamId> ids;
};

// Removes the PEL references to `ids` from every group (except `skip`, whose references the
// caller handles). Returns what was removed, per group, groups without changes left out.
std::vector<RemovedRefs> remove_refs(Stream& s, std::span<const StreamId> ids,
                                     const ConsumerGroup* skip = nullptr);
// Removes every PEL reference with from <= id < to from every group.
std::vector<RemovedRefs> remove_refs_between(Stream& s, StreamId from, StreamId to);
// Journals the removals as acknowledgements.
wire::Status journal_removed_refs(GroupStore& store, const std::vector<RemovedRefs>& removed);

// XTRIM / XADD trimming with a reference policy: ACKED keeps everything from
// first_referenced_id() on; DELREF also removes the trimmed entries' references from every PEL
// and journals that (*groups_changed is then true). Returns the number of entries removed.
wire::Result<uint64_t> trim_with_refs(Stream& s, const TrimSpec& spec, RefPolicy policy,
                                      bool* groups_changed);

}  // namespace sluice::stream
