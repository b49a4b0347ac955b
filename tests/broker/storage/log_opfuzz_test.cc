// An op-fuzz for SegmentedLog (after Redpanda's opfuzz): random appends, flushes, syncs (direct
// and through sync_targets on a "worker"), drop_before, crashes that lose every unsynced byte,
// and clean reopens, checked against an in-memory model after every step that matters.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::collect;
using testing::expected_range;
using testing::make_payload;
using testing::open_log;
using testing::Record;
using testing::TempDir;
using wire::StreamId;

class OpFuzz {
 public:
  explicit OpFuzz(uint64_t seed) : rng_(seed) {
    options_ = testing::small_options();
    log_ = open_log(dir_.path(), options_);
  }

  void run(int ops) {
    for (int op = 0; op < ops; ++op) {
      CAPTURE(op);
      const uint64_t r = rng_() % 100;
      if (r < 55) {
        append();
      } else if (r < 63) {
        REQUIRE(log_->flush().is_ok());
      } else if (r < 68) {
        REQUIRE(log_->sync().is_ok());
        remember_sync_point();
      } else if (r < 73) {
        worker_sync();
      } else if (r < 77) {
        drop();
      } else if (r < 81) {
        crash();
      } else if (r < 84) {
        reopen();
      } else {
        verify();
      }
    }
    verify();
    reopen();
    verify();
  }

  uint64_t crashes = 0;
  uint64_t drops = 0;
  uint64_t max_segments = 0;

 private:
  void append() {
    StreamId key{next_ms_, rng_() % 3};
    next_ms_ += 1 + rng_() % 3;
    const size_t body = rng_() % 6 == 0 ? 300 + rng_() % 1500 : rng_() % 200;
    Record record{key, static_cast<uint8_t>(1 + rng_() % 3), make_payload(key, body)};
    REQUIRE(log_->append(key, record.type, record.payload).is_ok());
    model_[key] = record;
    max_segments = std::max<uint64_t>(max_segments, log_->segment_count());
  }

  // Sizes of the segment files now: what a completed sync has made durable.
  std::map<std::string, uint64_t> file_sizes() const {
    std::map<std::string, uint64_t> sizes;
    for (const auto& path : testing::files_with_suffix(dir_.path(), ".log")) {
      sizes[path] = testing::file_size(path);
    }
    return sizes;
  }

  void remember_sync_point() {
    synced_sizes_ = file_sizes();
    durable_ = model_;
  }

  // The owner's thread-pool path: targets now, more appends meanwhile, fdatasync, mark_synced.
  void worker_sync() {
    REQUIRE(log_->flush().is_ok());
    auto targets = log_->sync_targets();
    auto sizes = file_sizes();
    auto model_then = model_;
    for (int extra = static_cast<int>(rng_() % 4); extra > 0; --extra) append();
    if (rng_() % 2 == 0) REQUIRE(log_->flush().is_ok());
    for (int fd : targets.fds) REQUIRE(::fdatasync(fd) == 0);
    log_->mark_synced(targets.token);
    // Files flushed after the targets were taken are durable only up to their earlier size.
    for (auto& [path, size] : sizes) {
      if (!synced_sizes_.count(path) || synced_sizes_[path] < size) synced_sizes_[path] = size;
    }
    for (auto it = synced_sizes_.begin(); it != synced_sizes_.end();) {
      it = testing::file_exists(it->first) ? std::next(it) : synced_sizes_.erase(it);
    }
    durable_ = std::move(model_then);
  }

  void drop() {
    if (model_.empty()) return;
    auto it = model_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(rng_() % model_.size()));
    const StreamId key = rng_() % 10 == 0 ? StreamId{next_ms_ + 10, 0} : it->first;
    if (key > start_) start_ = key;
    log_->drop_before(key);
    ++drops;
  }

  // A power cut: whatever no completed sync covered is gone.
  void crash() {
    log_.reset();
    for (const auto& path : testing::files_with_suffix(dir_.path(), ".log")) {
      auto synced = synced_sizes_.find(path);
      if (synced == synced_sizes_.end()) {
        std::filesystem::remove(path);
        std::filesystem::remove(path.substr(0, path.size() - 4) + ".idx");
      } else if (testing::file_size(path) > synced->second) {
        testing::truncate_to(path, synced->second);
      }
    }
    model_ = durable_;
    RecoveryReport report;
    log_ = open_log(dir_.path(), options_, &report);
    CHECK(report.truncated_bytes == 0);
    CHECK(report.corrupt.empty());
    remember_sync_point();
    ++crashes;
    verify();
  }

  void reopen() {
    log_.reset();
    RecoveryReport report;
    log_ = open_log(dir_.path(), options_, &report);
    CHECK(report.truncated_bytes == 0);
    CHECK(report.corrupt.empty());
    remember_sync_point();
  }

  // Records below the logical start may survive in a kept segment; they must still be genuine.
  void verify() {
    auto all = collect(*log_, StreamId::min(), StreamId::max());
    std::vector<Record> live;
    for (const Record& r : all) {
      if (r.key >= start_) {
        live.push_back(r);
        continue;
      }
      auto it = model_.find(r.key);
      REQUIRE(it != model_.end());
      CHECK(it->second == r);
    }
    CHECK(live == expected_range(model_, start_, StreamId::max(), false));
    for (int round = 0; round < 4; ++round) {
      const uint64_t span = std::max(next_ms_, start_.ms) + 2 - start_.ms;
      StreamId from{start_.ms + rng_() % span, rng_() % 3};
      StreamId to{from.ms + rng_() % 400, rng_() % 3};
      const bool reverse = rng_() % 2 == 0;
      const size_t limit = 1 + rng_() % 50;
      CHECK(collect(*log_, from, to, reverse, limit) ==
            expected_range(model_, from, to, reverse, limit));
    }
  }

  TempDir dir_;
  std::mt19937_64 rng_;
  LogOptions options_;
  std::unique_ptr<SegmentedLog> log_;
  std::map<StreamId, Record> model_;    // everything appended and not lost to a crash
  std::map<StreamId, Record> durable_;  // the model as of the last completed sync
  std::map<std::string, uint64_t> synced_sizes_;
  StreamId start_;  // the owner's logical start, moved by drop_before
  uint64_t next_ms_ = 1;
};

}  // namespace

TEST_SUITE("storage.recovery") {
  TEST_CASE("random appends, drops, rolls, crashes and reopens agree with an in-memory model") {
    for (uint64_t seed : {20240601ull, 7ull}) {
      CAPTURE(seed);
      OpFuzz fuzz(seed);
      fuzz.run(2500);
      CHECK(fuzz.crashes > 10);
      CHECK(fuzz.drops > 10);
      CHECK(fuzz.max_segments > 5);
    }
  }
}

}  // namespace sluice::storage
