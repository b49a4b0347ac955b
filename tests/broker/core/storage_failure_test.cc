// A full disk seen by the whole broker: three clients (XADD, SET + HSET, XREADGROUP) run loop
// iterations as Server::before_poll drives them (flush, roll back on failure, commit or group
// commit), with ENOSPC injected at every write and EIO at every fdatasync. The batch that fails
// gets -MISCONF for every reply and leaves no trace; everything acknowledged before is there,
// in memory, after a restart, and after the disk has space again, when writes resume in place.
#include <doctest/doctest.h>
#include <sys/uio.h>

#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "broker/commands/dispatch.h"
#include "broker/commands/error_text.h"
#include "broker/config/config.h"
#include "broker/core/broker.h"
#include "broker/storage/atomic_file.h"
#include "tests/broker/storage/temp_dir.h"
#include "wire/resp/reply_parser.h"

namespace sluice::core {
namespace {

using wire::resp::Value;

// The write (or fdatasync) numbered fail_at, counted from arm(), fails, and so does every one
// after it until disarm(): a disk that filled up.
struct DiskFull {
  static inline int writes = 0;
  static inline int syncs = 0;
  static inline int write_at = 0;
  static inline int sync_at = 0;
  static inline bool full = false;

  static void arm(int w, int s) {
    writes = syncs = 0;
    write_at = w;
    sync_at = s;
    full = false;
    storage::io_hooks().pwrite = &pwrite;
    storage::io_hooks().fdatasync = &fdatasync;
  }
  static void disarm() { storage::reset_io_hooks(); }
  static ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
    if (full) {
      errno = ENOSPC;
      return -1;
    }
    if (++writes == write_at) {
      full = true;
      return ::pwrite(fd, buf, n / 2, off);
    }
    return ::pwrite(fd, buf, n, off);
  }
  static int fdatasync(int fd) {
    if (full || ++syncs == sync_at) {
      full = true;
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  }
};

struct Disarm {
  ~Disarm() { DiskFull::disarm(); }
};

// A broker and three clients, driven as the server drives them.
class Loop {
 public:
  explicit Loop(config::AppendFsync policy) {
    config_.dir = dir_.path();
    config_.appendfsync = policy;
    config_.stream_segment_bytes = 4096;
    broker_ = std::make_unique<Broker>(&config_);
    broker_->open();
    for (int i = 0; i < 4; ++i) {
      clients_.push_back(std::make_unique<Client>(static_cast<uint64_t>(i + 1), nullptr));
      broker_->add_client(clients_.back().get());
    }
  }
  ~Loop() {
    for (auto& c : clients_) broker_->remove_client(c.get());
    broker_->close();
  }

  void send(int client, std::vector<std::string> args) {
    std::vector<std::string_view> argv(args.begin(), args.end());
    commands::execute(*broker_, *clients_[client], argv);
  }

  // The end of a loop iteration, as Server::before_poll and the sync's completion run it.
  void end_iteration() {
    broker_->flush_storage();
    if (broker_->rollback_pending()) return roll_back();
    if (config_.appendfsync != config::AppendFsync::kAlways) {
      for (auto& c : clients_) c->out.commit();
      return;
    }
    const uint64_t epoch = broker_->issue_sync_epoch();
    SyncBatch batch = broker_->collect_sync();
    bool ok = true;
    for (int fd : batch.fds) {
      if (ok && !storage::datasync(fd, "test").is_ok()) ok = false;
    }
    if (!ok) {
      broker_->set_storage_failed("fdatasync failed");
      return roll_back();
    }
    for (auto& done : batch.on_synced) done();
    broker_->set_durable_epoch(epoch);
  }

  // What client i may receive now, parsed (and taken from its queue).
  std::vector<Value> replies(int client) {
    OutputQueue& out = clients_[client]->out;
    std::vector<iovec> iov;
    const size_t n = out.releasable(broker_->durable_epoch(), &iov, SIZE_MAX);
    std::string bytes;
    for (const auto& v : iov) bytes.append(static_cast<const char*>(v.iov_base), v.iov_len);
    out.consume(n);
    std::vector<Value> values;
    wire::resp::ReplyParser parser;
    for (std::string_view rest = bytes; !rest.empty();) {
      Value v;
      size_t used = 0;
      REQUIRE(parser.parse(rest, &v, &used) == wire::resp::ReplyParser::Outcome::kValue);
      values.push_back(std::move(v));
      rest.remove_prefix(used);
    }
    return values;
  }

  Value call(std::vector<std::string> args) {
    send(3, std::move(args));
    end_iteration();
    auto got = replies(3);
    REQUIRE(got.size() == 1);
    return got[0];
  }

  void restart() {
    for (auto& c : clients_) broker_->remove_client(c.get());
    broker_->close();
    broker_->open();
    for (auto& c : clients_) {
      c->out.clear();
      broker_->add_client(c.get());
    }
  }

  Broker& broker() { return *broker_; }

 private:
  void roll_back() {
    const uint64_t durable = broker_->durable_epoch();
    const std::string text = commands::error_text(
        wire::Status(wire::ErrorCode::kStorageFailed, broker_->storage_error()));
    broker_->roll_back_storage();
    for (auto& c : clients_) {
      if (config_.appendfsync == config::AppendFsync::kAlways) {
        c->out.fail_held(durable, text);
      } else {
        c->out.fail_uncommitted(text);
      }
    }
  }

  storage::testing::TempDir dir_{storage::testing::TempDir::Where::kRam};
  config::Config config_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::unique_ptr<Client>> clients_;
};

bool misconf(const Value& v) { return v.is_error() && v.str.rfind("MISCONF", 0) == 0; }

// What the clients were told.
struct Model {
  std::vector<uint64_t> entries;  // s0 entries n-1 acknowledged
  std::map<std::string, std::string> keys;
  std::set<std::string> hash_fields;
  std::set<uint64_t> delivered;  // to group g, by acknowledged XREADGROUPs
  uint64_t next = 1;
};

// One iteration of writes from clients 0-2. Returns false if it failed (every reply MISCONF).
bool iteration(Loop& loop, Model& model) {
  const uint64_t first = model.next;
  for (int i = 0; i < 3; ++i) {
    loop.send(0, {"XADD", "s0", std::to_string(model.next++) + "-1", "v", std::string(300, 'x')});
  }
  const std::string key = "k" + std::to_string(first);
  loop.send(1, {"SET", key, "value-" + key});
  loop.send(1, {"HSET", "h", "f" + std::to_string(first), "v"});
  loop.send(2, {"XREADGROUP", "GROUP", "g", "w", "COUNT", "2", "STREAMS", "s0", ">"});
  loop.end_iteration();
  auto xadds = loop.replies(0);
  auto kv = loop.replies(1);
  auto reads = loop.replies(2);
  REQUIRE(xadds.size() == 3);
  REQUIRE(kv.size() == 2);
  REQUIRE(reads.size() == 1);
  if (misconf(xadds[0])) {
    for (const auto* replies : {&xadds, &kv, &reads}) {
      for (const Value& v : *replies) CHECK_MESSAGE(misconf(v), v.debug_string());
    }
    return false;
  }
  for (uint64_t n = first; n < model.next; ++n) model.entries.push_back(n);
  for (const Value& v : xadds) CHECK_FALSE(v.is_error());
  CHECK(kv[0].str == "OK");
  model.keys[key] = "value-" + key;
  model.hash_fields.insert("f" + std::to_string(first));
  if (!reads[0].is_null()) {
    for (const Value& e : reads[0].elems[0].elems[1].elems) {
      model.delivered.insert(std::stoull(e.elems[0].str.substr(0, e.elems[0].str.find('-'))));
    }
  }
  return true;
}

void verify(Loop& loop, const Model& model, const char* when) {
  CAPTURE(when);
  Value range = loop.call({"XRANGE", "s0", "-", "+"});
  std::vector<uint64_t> ids;
  for (const Value& e : range.elems) {
    ids.push_back(std::stoull(e.elems[0].str.substr(0, e.elems[0].str.find('-'))));
  }
  CHECK(ids == model.entries);
  for (const auto& [key, value] : model.keys) CHECK(loop.call({"GET", key}).str == value);
  CHECK(loop.call({"HLEN", "h"}).integer == static_cast<int64_t>(model.hash_fields.size()));
  Value pending = loop.call({"XPENDING", "s0", "g", "-", "+", "1000"});
  std::set<uint64_t> pel;
  for (const Value& p : pending.elems) {
    pel.insert(std::stoull(p.elems[0].str.substr(0, p.elems[0].str.find('-'))));
  }
  CHECK(pel == model.delivered);
  // Nothing of the failed batch: the next key and entry do not exist.
  CHECK(loop.call({"EXISTS", "k" + std::to_string(model.next - 3)}).integer ==
        (model.keys.count("k" + std::to_string(model.next - 3)) ? 1 : 0));
}

void run_with_fault(config::AppendFsync policy, int write_at, int sync_at, bool* failed) {
  Loop loop(policy);
  Model model;
  REQUIRE(loop.call({"XGROUP", "CREATE", "s0", "g", "$", "MKSTREAM"}).str == "OK");
  *failed = false;
  {
    Disarm disarm;
    DiskFull::arm(write_at, sync_at);
    for (int i = 0; i < 8 && !*failed; ++i) *failed = !iteration(loop, model);
  }
  if (!*failed) return;
  CHECK(loop.broker().storage_failed());
  CHECK(loop.broker().stats().storage_rollbacks == 1);
  verify(loop, model, "after the rollback, storage failed");
  CHECK(misconf(loop.call({"SET", "more", "x"})));
  loop.restart();
  verify(loop, model, "after a restart");
  // Fail again, then the disk gets space: a probe write succeeds and writes resume in place.
  {
    Disarm disarm;
    DiskFull::arm(1, 0);
    CHECK_FALSE(iteration(loop, model));
    CHECK_FALSE(loop.broker().probe_storage());
  }
  CHECK(loop.broker().probe_storage());
  CHECK_FALSE(loop.broker().storage_failed());
  CHECK(iteration(loop, model));
  verify(loop, model, "after writes resumed");
  loop.restart();
  verify(loop, model, "after writes resumed and a restart");
}

}  // namespace

TEST_SUITE("core.storage_failure") {
  TEST_CASE("ENOSPC at any write of a batch under everysec and always: acknowledged stays") {
    for (auto policy : {config::AppendFsync::kEverysec, config::AppendFsync::kAlways}) {
      int failures = 0;
      for (int write_at = 1; write_at < 200; ++write_at) {
        CAPTURE(policy == config::AppendFsync::kAlways);
        CAPTURE(write_at);
        bool failed = false;
        run_with_fault(policy, write_at, 0, &failed);
        if (!failed) break;
        ++failures;
      }
      MESSAGE("failed batches tried: " << failures);
      CHECK(failures >= 16);
    }
  }

  TEST_CASE("EIO at any fdatasync under always: the batch it covered is undone") {
    int failures = 0;
    for (int sync_at = 1; sync_at < 200; ++sync_at) {
      CAPTURE(sync_at);
      bool failed = false;
      run_with_fault(config::AppendFsync::kAlways, 0, sync_at, &failed);
      if (!failed) break;
      ++failures;
    }
    MESSAGE("failed syncs tried: " << failures);
    CHECK(failures >= 8);
  }
}

}  // namespace sluice::core
