// Helpers for KV tests: a Broker over a temporary directory and a client that runs commands
// through the real dispatcher and returns the raw RESP reply.
#pragma once

#include <doctest/doctest.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/commands/dispatch.h"
#include "broker/config/config.h"
#include "broker/core/broker.h"
#include "broker/kv/kv_types.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::kv::testing {

// A replay target of one database with index `index` and a default configuration, for tests that
// replay records without a broker.
class OneDbTarget final : public KvReplayTarget {
 public:
  explicit OneDbTarget(int index = 0) : index_(index), db(index) {}
  core::Database* replay_db(int i) override { return i == index_ ? &db : nullptr; }
  const config::Config& replay_config() const override { return config; }

 private:
  int index_;

 public:
  core::Database db;
  config::Config config;
};

class KvFixture {
 public:
  KvFixture() {
    config_.dir = dir_.path();
    broker_ = std::make_unique<core::Broker>(&config_);
    broker_->open();
    client_ = std::make_unique<core::Client>(1, nullptr);
    broker_->add_client(client_.get());
  }
  ~KvFixture() {
    broker_->remove_client(client_.get());
    broker_->close();
  }

  // Runs one command and returns its raw reply bytes.
  std::string run(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> argv(args);
    return run_argv(argv);
  }
  // The same for arguments built at run time.
  std::string run_argv(std::vector<std::string_view> argv) {
    client_->out.clear();
    commands::execute(*broker_, *client_, argv);
    // The server flushes storage once per loop iteration; do the same after every command.
    broker_->flush_storage();
    // Everything queued, held for durability or not (a range reply may have moved bytes).
    std::vector<iovec> iov;
    client_->out.releasable(UINT64_MAX, &iov, SIZE_MAX);
    std::string reply;
    for (const auto& v : iov) reply.append(static_cast<const char*>(v.iov_base), v.iov_len);
    return reply;
  }

  // One background sync as the server runs it (every second under everysec): fdatasync every
  // file of the batch, then its completions on this thread.
  void sync_batch() {
    core::SyncBatch batch = broker_->collect_sync();
    for (int fd : batch.fds) REQUIRE(::fdatasync(fd) == 0);
    for (auto& done : batch.on_synced) done();
  }

  // Closes and reopens the broker from disk (a graceful restart).
  void reopen() {
    broker_->remove_client(client_.get());
    broker_->close();
    broker_->open();
    client_ = std::make_unique<core::Client>(1, nullptr);
    broker_->add_client(client_.get());
  }

  core::Broker& broker() { return *broker_; }
  config::Config& config() { return config_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  storage::testing::TempDir dir_;
  config::Config config_;
  std::unique_ptr<core::Broker> broker_;
  std::unique_ptr<core::Client> client_;
};

}  // namespace sluice::kv::testing
