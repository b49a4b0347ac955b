// GroupConsumer: the read-handle-ack loop of a consumer group member. It reads with
// XREADGROUP BLOCK, hands each entry to a handler, XACKs the ones handled, periodically takes
// over entries other consumers left idle (XAUTOCLAIM), and moves an entry delivered more than
// max_deliveries times to a dead-letter stream instead of retrying it forever.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/stream_api.h"

namespace sluice::client {

struct GroupConsumerOptions {
  std::string stream;
  std::string group;
  std::string consumer;
  std::string group_start_id = "0";  // where the group starts if this consumer creates it
  int64_t count = 10;                // entries per XREADGROUP / XAUTOCLAIM
  uint64_t block_ms = 1000;          // also bounds how long a graceful stop waits
  int64_t min_idle_ms = 30000;       // reclaim entries pending longer than this
  uint64_t reclaim_interval_ms = 5000;
  int64_t max_deliveries = 5;      // an entry delivered more often goes to the dead letters
  std::string dead_letter_stream;  // empty: "<stream>:dead"
  uint64_t retry_delay_ms = 100;   // pause after an error before the next attempt
};

// What the handler learns about a delivery besides the entry.
struct Delivery {
  int64_t delivery_count = 1;  // 1 on first delivery; includes this one
  bool reclaimed = false;      // taken over from an idle consumer (or a failed earlier try)
};

struct ConsumerStats {
  uint64_t handled = 0;        // handler calls
  uint64_t acked = 0;          // entries XACK removed from the PEL
  uint64_t failed = 0;         // handler returned false (left pending for a retry)
  uint64_t reclaimed = 0;      // entries taken over by XAUTOCLAIM
  uint64_t dead_lettered = 0;  // entries moved to the dead-letter stream
  uint64_t deleted = 0;        // pending entries no longer in the stream (acked away)
  uint64_t errors = 0;         // failed commands (the loop retries)
};

// Contract: the handler runs on the loop thread and returns true when the entry is done (it
// is then acknowledged) or false to leave it pending for a later retry. The dead-letter entry
// holds the fields origin-stream, origin-id, group, consumer, delivery-count, followed by the
// original fields. The GroupConsumer must outlive its callbacks: destroy it after stop()
// reports, or after abort(), not from inside the handler.
class GroupConsumer {
 public:
  using Handler = std::function<bool(const StreamEntry&, const Delivery&)>;

  GroupConsumer(uv_loop_t* loop, ConnectionOptions connection, GroupConsumerOptions options,
                Handler handler);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  // Creates the group if needed (MKSTREAM), then re-reads this consumer's own pending entries
  // (left by an earlier run) before new ones.
  void start();
  // Finishes the read in flight and its batch (acks included), then calls on_stopped.
  void stop(std::function<void()> on_stopped);
  // Stops at once as a crash would: closes the connection, acknowledges nothing more. Safe
  // to call from the handler.
  void abort();

  void set_error_handler(std::function<void(const Error&)> handler) {
    on_error_ = std::move(handler);
  }
  bool running() const { return state_ == State::kRunning; }
  bool aborted() const { return state_ == State::kAborted; }
  const ConsumerStats& stats() const { return stats_; }
  const GroupConsumerOptions& options() const { return options_; }
  Connection& connection() { return *conn_; }

 private:
  enum class State { kIdle, kRunning, kStopped, kAborted };
  struct Batch;
  struct RetryTimer;

  void ensure_group();
  void next();
  void read();
  void reclaim();
  void with_delivery_counts(std::vector<StreamEntry> entries, bool reclaimed);
  void process(std::vector<StreamEntry> entries, const std::map<StreamId, int64_t>& counts,
               bool reclaimed);
  void dead_letter(const StreamEntry& entry, int64_t delivery_count,
                   const std::shared_ptr<Batch>& batch);
  void batch_done(const std::shared_ptr<Batch>& batch);
  void failed(const Error& error);
  bool step_ends();  // true when the loop must not continue (stopping, stopped, aborted)

  std::unique_ptr<Connection> conn_;
  Streams streams_;
  GroupConsumerOptions options_;
  Handler handler_;
  std::function<void(const Error&)> on_error_;
  std::function<void()> on_stopped_;
  State state_ = State::kIdle;
  bool stopping_ = false;
  bool read_history_ = true;
  std::string reclaim_cursor_ = "0-0";
  uint64_t last_reclaim_ms_ = 0;
  ConsumerStats stats_;
  RetryTimer* retry_timer_;
};

}  // namespace sluice::client
