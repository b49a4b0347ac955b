// GroupConsumer: one step at a time (create group, read history, read new, reclaim), each step
// started by the previous one's callback, so at most one read is ever in flight.
#include "client/consumer_loop.h"

#include <uv.h>

namespace sluice::client {

// Outstanding commands of one batch (acks, dead-letter moves); the loop continues at zero.
struct GroupConsumer::Batch {
  int outstanding = 1;  // the processing pass itself
};

// A heap timer, so the consumer can be destroyed while the handle is still closing.
struct GroupConsumer::RetryTimer {
  uv_timer_t timer;
  GroupConsumer* owner;
};

GroupConsumer::GroupConsumer(uv_loop_t* loop, ConnectionOptions connection,
                             GroupConsumerOptions options, Handler handler)
    : conn_(std::make_unique<Connection>(loop, std::move(connection))),
      streams_(*conn_),
      options_(std::move(options)),
      handler_(std::move(handler)),
      retry_timer_(new RetryTimer{}) {
  if (options_.dead_letter_stream.empty()) options_.dead_letter_stream = options_.stream + ":dead";
  uv_timer_init(loop, &retry_timer_->timer);
  retry_timer_->owner = this;
  retry_timer_->timer.data = retry_timer_;
  // After a reconnect, entries read just before the drop may be pending with us unhandled.
  conn_->set_ready_handler([this] { read_history_ = true; });
}

GroupConsumer::~GroupConsumer() {
  conn_.reset();
  retry_timer_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_->timer),
           [](uv_handle_t* h) { delete static_cast<RetryTimer*>(h->data); });
}

void GroupConsumer::start() {
  if (state_ != State::kIdle) return;
  state_ = State::kRunning;
  last_reclaim_ms_ = uv_now(conn_->loop());
  ensure_group();
}

void GroupConsumer::stop(std::function<void()> on_stopped) {
  if (state_ != State::kRunning) {
    if (on_stopped) on_stopped();
    return;
  }
  stopping_ = true;
  on_stopped_ = std::move(on_stopped);
  // Waiting out an error pause: nothing is in flight, so stop now.
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_timer_->timer))) {
    uv_timer_stop(&retry_timer_->timer);
    step_ends();
  }
}

void GroupConsumer::abort() {
  if (state_ == State::kAborted) return;
  state_ = State::kAborted;
  uv_timer_stop(&retry_timer_->timer);
  conn_->close();
}

bool GroupConsumer::step_ends() {
  if (state_ != State::kRunning) return true;
  if (!stopping_) return false;
  state_ = State::kStopped;
  stopping_ = false;
  if (auto done = std::move(on_stopped_)) done();
  return true;
}

void GroupConsumer::failed(const Error& error) {
  ++stats_.errors;
  if (on_error_) on_error_(error);
  if (step_ends()) return;
  if (conn_->state() == ConnectionState::kDisconnected) {
    state_ = State::kStopped;  // the connection gave up; nothing left to retry on
    return;
  }
  uv_timer_start(
      &retry_timer_->timer,
      [](uv_timer_t* t) {
        auto* rt = static_cast<RetryTimer*>(t->data);
        if (rt->owner != nullptr) rt->owner->next();
      },
      options_.retry_delay_ms, 0);
}

void GroupConsumer::ensure_group() {
  streams_.ensure_group(options_.stream, options_.group, options_.group_start_id,
                        [this](Result<Unit> r) {
                          if (state_ != State::kRunning) return;
                          if (!r) {
                            failed(r.error());
                            return;
                          }
                          next();
                        });
}

void GroupConsumer::next() {
  if (step_ends()) return;
  const uint64_t now = uv_now(conn_->loop());
  if (now - last_reclaim_ms_ >= options_.reclaim_interval_ms) {
    reclaim();
  } else {
    read();
  }
}

void GroupConsumer::read() {
  const bool history = read_history_;
  GroupReadOptions ro;
  ro.count = options_.count;
  if (!history) ro.block_ms = options_.block_ms;
  streams_.xreadgroup(options_.group, options_.consumer, {{options_.stream, history ? "0" : ">"}},
                      ro, [this, history](Result<std::vector<StreamBatch>> r) {
                        if (state_ != State::kRunning) return;
                        if (!r) {
                          // The stream or group vanished (deleted, or a server without its data):
                          // recreate.
                          if (r.error().is_reply("NOGROUP")) {
                            ++stats_.errors;
                            if (on_error_) on_error_(r.error());
                            if (!step_ends()) ensure_group();
                            return;
                          }
                          failed(r.error());
                          return;
                        }
                        std::vector<StreamEntry> entries;
                        if (!r->empty()) entries = std::move(r->front().entries);
                        if (history && entries.empty()) read_history_ = false;
                        if (entries.empty()) {
                          next();
                          return;
                        }
                        if (history) {
                          with_delivery_counts(std::move(entries), false);
                        } else {
                          process(std::move(entries), {}, false);
                        }
                      });
}

void GroupConsumer::reclaim() {
  streams_.xautoclaim(options_.stream, options_.group, options_.consumer, options_.min_idle_ms,
                      reclaim_cursor_, options_.count, [this](Result<AutoClaimResult> r) {
                        if (state_ != State::kRunning) return;
                        if (!r) {
                          last_reclaim_ms_ = uv_now(conn_->loop());
                          failed(r.error());
                          return;
                        }
                        stats_.deleted += r->deleted.size();
                        reclaim_cursor_ = r->next_start.to_string();
                        // Keep draining while a scan is under way and finding entries; else wait an
                        // interval.
                        if (r->next_start.is_zero() || r->entries.empty()) {
                          last_reclaim_ms_ = uv_now(conn_->loop());
                        }
                        if (r->entries.empty()) {
                          next();
                          return;
                        }
                        stats_.reclaimed += r->entries.size();
                        with_delivery_counts(std::move(r->entries), true);
                      });
}

// Entries this consumer owns but did not get from ">": their delivery counts come from the
// PEL, which is what decides whether they go to the dead letters.
void GroupConsumer::with_delivery_counts(std::vector<StreamEntry> entries, bool reclaimed) {
  PendingQuery q;
  q.start = entries.front().id.to_string();
  q.end = entries.back().id.to_string();
  q.count = static_cast<int64_t>(entries.size()) + 1000;
  q.consumer = options_.consumer;
  auto shared = std::make_shared<std::vector<StreamEntry>>(std::move(entries));
  streams_.xpending(options_.stream, options_.group, q,
                    [this, shared, reclaimed](Result<std::vector<PendingEntry>> r) {
                      if (state_ != State::kRunning) return;
                      if (!r) {
                        failed(r.error());
                        return;
                      }
                      std::map<StreamId, int64_t> counts;
                      for (const PendingEntry& p : *r) counts[p.id] = p.delivery_count;
                      process(std::move(*shared), counts, reclaimed);
                    });
}

void GroupConsumer::process(std::vector<StreamEntry> entries,
                            const std::map<StreamId, int64_t>& counts, bool reclaimed) {
  auto batch = std::make_shared<Batch>();
  std::vector<StreamId> acks;
  for (const StreamEntry& e : entries) {
    if (e.deleted) {
      ++stats_.deleted;
      acks.push_back(e.id);
      continue;
    }
    auto it = counts.find(e.id);
    if (!counts.empty() && it == counts.end()) continue;  // no longer ours: someone claimed it
    const int64_t delivery_count = it == counts.end() ? 1 : it->second;
    if (delivery_count > options_.max_deliveries) {
      dead_letter(e, delivery_count, batch);
      continue;
    }
    ++stats_.handled;
    const bool ok = handler_(e, Delivery{delivery_count, reclaimed});
    if (state_ == State::kAborted) return;  // a crash acknowledges nothing
    if (ok) {
      acks.push_back(e.id);
    } else {
      ++stats_.failed;
    }
  }
  if (!acks.empty()) {
    ++batch->outstanding;
    streams_.xack(options_.stream, options_.group, acks, [this, batch](Result<int64_t> r) {
      if (state_ == State::kAborted) return;
      if (r) {
        stats_.acked += static_cast<uint64_t>(*r);
      } else {
        ++stats_.errors;
        if (on_error_) on_error_(r.error());
      }
      batch_done(batch);
    });
  }
  batch_done(batch);
}

void GroupConsumer::dead_letter(const StreamEntry& entry, int64_t delivery_count,
                                const std::shared_ptr<Batch>& batch) {
  Fields fields{{"origin-stream", options_.stream},
                {"origin-id", entry.id.to_string()},
                {"group", options_.group},
                {"consumer", options_.consumer},
                {"delivery-count", std::to_string(delivery_count)}};
  fields.insert(fields.end(), entry.fields.begin(), entry.fields.end());
  ++batch->outstanding;
  const StreamId id = entry.id;
  // XACK only after the copy is stored, so a failure leaves the entry pending, not lost.
  streams_.xadd(options_.dead_letter_stream, fields, {}, [this, batch, id](Result<StreamId> r) {
    if (state_ == State::kAborted) return;
    if (!r) {
      ++stats_.errors;
      if (on_error_) on_error_(r.error());
      batch_done(batch);
      return;
    }
    streams_.xack(options_.stream, options_.group, {id}, [this, batch](Result<int64_t> ack) {
      if (state_ == State::kAborted) return;
      if (ack) {
        ++stats_.dead_lettered;
      } else {
        ++stats_.errors;
        if (on_error_) on_error_(ack.error());
      }
      batch_done(batch);
    });
  });
}

void GroupConsumer::batch_done(const std::shared_ptr<Batch>& batch) {
  if (--batch->outstanding > 0) return;
  if (state_ != State::kRunning) return;
  next();
}

}  // namespace sluice::client
