// The web console's memory of the last hour, kept by the server itself so that a chart is full
// the moment the page opens (console_api.h serves it as GET /api/history and GET /api/lag).
//
// History: once per second (a timer on the loop calls tick()), the broker's cumulative counters
// are read and the difference with the previous tick is stored: commands, XADD calls, stream
// deliveries, error replies and published messages per second; used memory and connected
// clients are stored as they are. kSeconds samples per series in fixed rings allocated once:
// a tick is O(1) and allocates nothing. A counter that went down (CONFIG RESETSTAT) counts 0.
//
// LagHistory: the lag of consumer groups over time. Each tick visits at most kStreamsPerTick
// streams, going on from where the previous tick stopped (in stream-number order, wrapping), and
// records a sample (wall ms, lag) for each of their groups when kIntervalMs passed since the
// group's previous sample. So every group is sampled every kIntervalMs as long as there are at
// most kStreamsPerTick * kIntervalMs / 1000 streams; beyond, every (streams / kStreamsPerTick)
// seconds. At most kMaxGroups groups are tracked (first come; a slot is freed when its group or
// stream goes away), each with the last kSamples samples. A slot's ring is allocated when a
// group is first tracked, never per tick.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/core/broker.h"

namespace sluice::console {

class History {
 public:
  static constexpr size_t kSeconds = 3600;
  static constexpr int64_t kIntervalMs = 1000;

  enum Series : size_t {
    kCommands,    // commands processed (INFO total_commands_processed), per second
    kXadd,        // XADD calls (INFO commandstats cmdstat_xadd calls), per second
    kDeliveries,  // entries delivered by XREADGROUP (new and re-delivered), per second
    kErrors,      // error replies (INFO total_error_replies), per second
    kPublished,   // PUBLISH/SPUBLISH messages, per second
    kUsedMemory,  // INFO used_memory, bytes
    kClients,     // INFO connected_clients
    kSeriesCount
  };
  static constexpr std::array<std::string_view, kSeriesCount> kNames = {
      "commands", "xadd", "deliveries", "errors", "published", "used_memory", "clients"};

  // Cumulative counters (the first five series) and gauges, as read at one tick.
  using Reading = std::array<uint64_t, kSeriesCount>;
  static Reading read(core::Broker& broker);

  History();

  // Records one tick. The first tick only remembers the counters (no rate yet).
  void tick(int64_t now_ms, const Reading& reading);
  size_t size() const { return size_; }
  int64_t last_ms() const { return last_ms_; }
  // The value of `series` in the i-th oldest stored second (i < size()).
  uint64_t at(Series series, size_t i) const;
  // The newest value of `series` (0 before the second tick).
  uint64_t latest(Series series) const { return size_ == 0 ? 0 : at(series, size_ - 1); }

 private:
  std::unique_ptr<std::array<std::array<uint64_t, kSeconds>, kSeriesCount>> rings_;
  Reading previous_{};
  bool primed_ = false;
  size_t head_ = 0;  // next slot written
  size_t size_ = 0;
  int64_t last_ms_ = 0;
};

class LagHistory {
 public:
  static constexpr size_t kMaxGroups = 1024;
  static constexpr size_t kSamples = 360;
  static constexpr int64_t kIntervalMs = 10000;
  static constexpr size_t kStreamsPerTick = 1000;

  // One sample: wall-clock ms and the lag (nullopt when XINFO would show nil).
  using Point = std::pair<int64_t, std::optional<int64_t>>;

  // Visits the next streams (see above).
  void tick(core::Broker& broker, int64_t now_ms);
  // The samples of group `group` of the stream numbered `stream_number`, oldest first.
  std::vector<Point> points(uint64_t stream_number, std::string_view group) const;
  size_t tracked() const { return tracks_.size(); }

 private:
  struct Ring {
    std::array<int64_t, kSamples> ms;
    std::array<int64_t, kSamples> lag;  // kUnknown: nil
    size_t head = 0;
    size_t size = 0;
    bool seen = false;  // the group was found during the current visit of its stream
  };
  static constexpr int64_t kUnknown = INT64_MIN;
  using TrackKey = std::pair<uint64_t, std::string>;

  void release(std::map<TrackKey, Ring*, std::less<>>::iterator it);

  std::map<TrackKey, Ring*, std::less<>> tracks_;
  std::vector<std::unique_ptr<Ring>> pool_;  // every ring ever allocated
  std::vector<Ring*> free_;
  uint64_t cursor_ = 0;  // the last stream number visited
};

}  // namespace sluice::console
