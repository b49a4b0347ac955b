// IdmpState: a stream's idempotent-producer state (Redis 8.6's IDMP): for every producer ID the
// most recent idempotent IDs it added, each with the stream ID it produced and when, so that a
// resent XADD ... IDMP finds the original entry instead of adding a duplicate. IDs are dropped
// after IDMP-DURATION seconds, and beyond IDMP-MAXSIZE per producer the oldest go first. The
// state is journaled with the stream's consumer groups (group_store.h); expiry needs no record,
// since every record carries its time and replay drops the same IDs again.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "wire/stream_id.h"

namespace sluice::stream {

class IdmpState {
 public:
  static constexpr int64_t kDefaultDurationS = 100;
  static constexpr int64_t kDefaultMaxSize = 100;
  static constexpr int64_t kMaxDurationS = 86400;
  static constexpr int64_t kMaxMaxSize = 10000;

  struct Iid {
    std::string iid;
    wire::StreamId id;
    int64_t added_ms = 0;
  };
  struct Producer {
    std::deque<Iid> order;  // oldest first
    std::unordered_map<std::string, wire::StreamId> ids;
  };

  int64_t duration_s() const { return duration_s_; }
  int64_t max_size() const { return max_size_; }
  uint64_t iids_added() const { return iids_added_; }
  uint64_t iids_duplicates() const { return iids_duplicates_; }
  size_t pids_tracked() const { return producers_.size(); }
  size_t iids_tracked() const;
  // XINFO STREAM shows the IDMP fields once the stream was configured or used.
  bool in_use() const { return configured_ || iids_added_ > 0; }
  const std::map<std::string, Producer, std::less<>>& producers() const { return producers_; }
  bool configured() const { return configured_; }

  // Drops the IDs older than the duration at `now_ms`.
  void expire(int64_t now_ms);
  // The stream ID produced for (pid, iid), if still tracked (call expire() first).
  std::optional<wire::StreamId> find(std::string_view pid, std::string_view iid) const;
  // Records (pid, iid) -> id added at `now_ms`, evicting the producer's oldest beyond max_size.
  void add(std::string_view pid, std::string_view iid, wire::StreamId id, int64_t now_ms);
  // XCFGSET: new limits, every producer's IDs cleared.
  void configure(int64_t duration_s, int64_t max_size);
  void set_counters(uint64_t added, uint64_t duplicates) {
    iids_added_ = added;
    iids_duplicates_ = duplicates;
  }
  void count_duplicate() { ++iids_duplicates_; }
  // Replay of a snapshot: everything as it was.
  void restore(int64_t duration_s, int64_t max_size, bool configured, uint64_t added,
               uint64_t duplicates);
  // Replay of a snapshot: one tracked ID, oldest first, counters untouched.
  void restore_iid(std::string_view pid, std::string_view iid, wire::StreamId id, int64_t added_ms);
  void clear() { *this = IdmpState(); }

 private:
  int64_t duration_s_ = kDefaultDurationS;
  int64_t max_size_ = kDefaultMaxSize;
  bool configured_ = false;
  uint64_t iids_added_ = 0;
  uint64_t iids_duplicates_ = 0;
  std::map<std::string, Producer, std::less<>> producers_;
};

// IDMPAUTO: the idempotent ID of an entry's content (its field/value pairs), the same on every
// run: 128 bits of two FNV-1a variants over length-prefixed fields, in hex.
std::string content_iid(std::span<const std::string_view> fields);

}  // namespace sluice::stream
