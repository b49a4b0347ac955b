// The storage descriptor budget (open_files.h): least recently used idle files close first, busy
// ones never do, and segments and journals closed while idle reopen on their next use with
// nothing lost.
#include "broker/storage/open_files.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "broker/storage/journal.h"
#include "broker/storage/segmented_log.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::collect_all;
using testing::make_payload;
using testing::open_log;
using testing::Record;
using testing::small_options;
using testing::TempDir;
using wire::StreamId;

// Sets the process-wide limit for one test and puts the old one back.
struct LimitGuard {
  size_t old = open_files_limit();
  explicit LimitGuard(size_t limit) { set_open_files_limit(limit); }
  ~LimitGuard() { set_open_files_limit(old); }
};

// An owner with a pretend descriptor, busy or not.
struct FakeFile {
  std::string name;
  std::vector<std::string>* closed_log;
  bool busy = false;
  IdleFile idle{[this] {
    if (busy) return false;
    closed_log->push_back(name);
    idle.closed();
    return true;
  }};
};

TEST_CASE("open files: the least recently used idle files close first, busy ones stay") {
  REQUIRE(open_files() == 0);  // (every earlier test's files are gone)
  const size_t base = 0;
  std::vector<std::string> closed;
  FakeFile a{"a", &closed}, b{"b", &closed}, c{"c", &closed}, d{"d", &closed};
  a.idle.opened();
  b.idle.opened();
  c.idle.opened();
  d.idle.opened();
  CHECK(open_files() == base + 4);
  a.idle.used();  // order, most recent first: a d c b
  b.busy = true;

  LimitGuard limit(base + 2);
  CHECK(close_idle_files() == 2);
  CHECK(closed == std::vector<std::string>{"c", "d"});  // b was skipped: busy
  CHECK(open_files() == base + 2);
  CHECK(a.idle.is_open());
  CHECK(b.idle.is_open());
  CHECK_FALSE(c.idle.is_open());

  // Under the limit nothing more closes; a reopened file counts again.
  CHECK(close_idle_files() == 0);
  c.idle.opened();
  CHECK(open_files() == base + 3);
  b.busy = false;
  CHECK(close_idle_files() == 1);
  CHECK(closed.back() == "a");  // b had its second chance: it went to the front when busy
  CHECK(idle_files_closed() >= 3);
}

TEST_CASE("open files: pinned descriptors count against the limit and make idle files close") {
  REQUIRE(open_files() == 0);
  std::vector<std::string> closed;
  FakeFile a{"a", &closed}, b{"b", &closed};
  a.idle.opened();
  b.idle.opened();
  LimitGuard limit(3);
  CHECK_FALSE(open_files_over_limit());
  pin_descriptors(2);  // e.g. directories a sync still has to fsync
  CHECK(open_files() == 4);
  // Over the limit: closing the least recently used idle file is enough.
  CHECK_FALSE(open_files_over_limit());
  CHECK(closed == std::vector<std::string>{"a"});
  // Everything left busy: still over the limit after trying (the server then holds input).
  b.busy = true;
  pin_descriptors(1);
  CHECK(open_files_over_limit());
  CHECK(b.idle.is_open());
  pin_descriptors(-3);
  CHECK_FALSE(open_files_over_limit());
  CHECK(open_files() == 1);
  pin_descriptors(-5);  // (never below zero)
  CHECK(open_files() == 1);
  b.busy = false;
}

TEST_CASE("open files: a segment closed while idle reopens for appends and reads") {
  TempDir dir;
  std::map<StreamId, Record> model;
  auto log = open_log(dir.path() + "/log", small_options());
  auto append = [&](uint64_t from, uint64_t n) {
    for (uint64_t i = from; i < from + n; ++i) {
      Record r{StreamId{1000 + i, 0}, 1, make_payload(StreamId{1000 + i, 0}, 20 + i % 90)};
      REQUIRE(log->append(r.key, r.type, r.payload).is_ok());
      model.emplace(r.key, r);
    }
  };
  auto expected = [&] {
    std::vector<Record> out;
    for (const auto& [k, r] : model) out.push_back(r);
    return out;
  };
  append(0, 100);  // several sealed segments and an active one (4 KiB segments)
  REQUIRE(log->sync().is_ok());
  const size_t base = open_files();
  REQUIRE(base > 0);

  {
    LimitGuard limit(0);
    // Written but not yet synced: busy, stays open.
    append(100, 5);
    REQUIRE(log->flush().is_ok());
    const size_t before = open_files();
    close_idle_files();
    CHECK(open_files() >= 1);
    CHECK(log->needs_sync());
    REQUIRE(log->sync().is_ok());
    CHECK(close_idle_files() >= 1);
    CHECK(open_files() < before);
    CHECK(open_files() == 0);
    // Appends reopen the active segment; reads reopen what they need.
    append(105, 40);
    REQUIRE(log->sync().is_ok());
    CHECK(collect_all(*log) == expected());
    CHECK(open_files() > 0);
    close_idle_files();
    CHECK(open_files() == 0);
    CHECK(collect_all(*log) == expected());
  }
  log.reset();
  auto reopened = open_log(dir.path() + "/log", small_options());
  CHECK(collect_all(*reopened) == expected());
}

TEST_CASE("open files: a journal closed while idle reopens on the next append") {
  TempDir dir;
  std::vector<std::string> replayed;
  auto open = [&] {
    replayed.clear();
    auto j = Journal::open(dir.path(), "groups", [&](uint8_t, std::string_view p, bool) {
      replayed.emplace_back(p);
      return wire::Status::ok();
    });
    REQUIRE_MESSAGE(j.is_ok(), j.status().detail());
    return std::move(*j);
  };
  auto journal = open();
  REQUIRE(journal->append(1, "one").is_ok());
  REQUIRE(journal->flush().is_ok());
  {
    LimitGuard limit(0);
    close_idle_files();
    CHECK(journal->fd() >= 0);  // flushed, not synced: busy
    REQUIRE(journal->sync().is_ok());
    close_idle_files();
    CHECK(journal->fd() == -1);
    CHECK_FALSE(journal->needs_sync());
    REQUIRE(journal->append(1, "two").is_ok());
    REQUIRE(journal->flush().is_ok());
    CHECK(journal->fd() >= 0);
    CHECK(journal->needs_sync());
    REQUIRE(journal->sync().is_ok());
    close_idle_files();
    CHECK(journal->fd() == -1);
    // A snapshot while closed rewrites the journal through a reopened descriptor.
    std::string frames;
    REQUIRE(journal->write_snapshot(frames).is_ok());
    REQUIRE(journal->append(1, "three").is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  journal.reset();
  auto again = open();
  CHECK(replayed == std::vector<std::string>{"three"});
}

}  // namespace
}  // namespace sluice::storage
