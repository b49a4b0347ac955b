// Journal background snapshots: begin_snapshot() retires the live journal while appends go on,
// SnapshotWriter writes the snapshot somewhere else, finish_snapshot() drops what it covers.
// Whatever point a crash stops this at, reopening replays every record exactly once, in order.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "broker/storage/journal.h"
#include "broker/storage/snapshot_writer.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::TempDir;

struct Opened {
  std::unique_ptr<Journal> journal;
  std::vector<std::string> replayed;  // "s:" for snapshot records, "j:" for journal records
};

Opened open_journal(const std::string& dir) {
  Opened out;
  auto journal = Journal::open(dir, "kv", [&](uint8_t, std::string_view payload, bool snap) {
    out.replayed.push_back((snap ? "s:" : "j:") + std::string(payload));
    return wire::Status::ok();
  });
  REQUIRE_MESSAGE(journal.is_ok(), journal.status().detail());
  out.journal = std::move(*journal);
  return out;
}

void append(Journal& j, int from, int to) {
  for (int i = from; i < to; ++i) REQUIRE(j.append(1, "r" + std::to_string(i)).is_ok());
  REQUIRE(j.flush().is_ok());
}

std::vector<std::string> records(const char* prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::string("r") + std::to_string(i));
  return out;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A snapshot holding records [0, n) as the child would write it.
void write_snapshot_of(const Journal::SnapshotTarget& target, int n) {
  SnapshotWriter file;
  REQUIRE(file.open(target).is_ok());
  for (int i = 0; i < n; ++i) REQUIRE(file.append(1, "r" + std::to_string(i)).is_ok());
  REQUIRE(file.finish().is_ok());
}

size_t journal_files(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("kv.journal", 0) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST_SUITE("storage.journal") {
  TEST_CASE("a completed background snapshot replaces the retired journal") {
    TempDir dir;
    {
      auto o = open_journal(dir.path());
      append(*o.journal, 0, 10);
      auto target = o.journal->begin_snapshot();
      REQUIRE(target.is_ok());
      CHECK(o.journal->snapshot_in_progress());
      CHECK(journal_files(dir.path()) == 2);
      append(*o.journal, 10, 15);  // appends go on while the snapshot is written
      write_snapshot_of(*target, 10);
      o.journal->finish_snapshot(*target, true);
      CHECK_FALSE(o.journal->snapshot_in_progress());
      CHECK(journal_files(dir.path()) == 1);
      REQUIRE(o.journal->sync().is_ok());
    }
    CHECK(open_journal(dir.path()).replayed == records("s:", 0, 10) + records("j:", 10, 15));
  }

  TEST_CASE("a crash before the snapshot is written replays the retired and the live journal") {
    TempDir dir;
    {
      auto o = open_journal(dir.path());
      append(*o.journal, 0, 10);
      REQUIRE(o.journal->begin_snapshot().is_ok());
      append(*o.journal, 10, 15);
      REQUIRE(o.journal->sync().is_ok());
    }  // no snapshot file: the child died, or the server did
    auto o = open_journal(dir.path());
    CHECK(o.replayed == records("j:", 0, 15));
    // The next snapshot covers both generations.
    auto target = o.journal->begin_snapshot();
    REQUIRE(target.is_ok());
    write_snapshot_of(*target, 15);
    o.journal->finish_snapshot(*target, true);
    append(*o.journal, 15, 17);
    REQUIRE(o.journal->sync().is_ok());
    o.journal.reset();
    CHECK(journal_files(dir.path()) == 1);
    CHECK(open_journal(dir.path()).replayed == records("s:", 0, 15) + records("j:", 15, 17));
  }

  TEST_CASE("a crash after the snapshot is in place but before the parent saw it") {
    TempDir dir;
    {
      auto o = open_journal(dir.path());
      append(*o.journal, 0, 10);
      auto target = o.journal->begin_snapshot();
      REQUIRE(target.is_ok());
      append(*o.journal, 10, 12);
      write_snapshot_of(*target, 10);
      REQUIRE(o.journal->sync().is_ok());
    }  // finish_snapshot never ran: the retired journal is still on disk
    CHECK(journal_files(dir.path()) == 2);
    CHECK(open_journal(dir.path()).replayed == records("s:", 0, 10) + records("j:", 10, 12));
    CHECK(journal_files(dir.path()) == 1);
  }

  TEST_CASE("failed snapshots keep every retired journal until one succeeds") {
    TempDir dir;
    auto o = open_journal(dir.path());
    append(*o.journal, 0, 5);
    auto first = o.journal->begin_snapshot();
    REQUIRE(first.is_ok());
    append(*o.journal, 5, 8);
    o.journal->finish_snapshot(*first, false);
    auto second = o.journal->begin_snapshot();
    REQUIRE(second.is_ok());
    CHECK(second->generation == first->generation + 1);
    append(*o.journal, 8, 9);
    o.journal->finish_snapshot(*second, false);
    REQUIRE(o.journal->sync().is_ok());
    CHECK(journal_files(dir.path()) == 3);
    o.journal.reset();
    auto again = open_journal(dir.path());
    CHECK(again.replayed == records("j:", 0, 9));
    auto third = again.journal->begin_snapshot();
    REQUIRE(third.is_ok());
    write_snapshot_of(*third, 9);
    again.journal->finish_snapshot(*third, true);
    CHECK(journal_files(dir.path()) == 1);
  }

  TEST_CASE("the retired journal and the directory are synced before the live journal") {
    TempDir dir;
    auto o = open_journal(dir.path());
    append(*o.journal, 0, 3);  // flushed, not synced
    REQUIRE(o.journal->begin_snapshot().is_ok());
    append(*o.journal, 3, 4);
    std::vector<int> fds;
    o.journal->sync_fds(&fds);
    REQUIRE(fds.size() == 3);  // retired journal, directory, live journal
    CHECK(fds.back() == o.journal->fd());
    const uint64_t pos = o.journal->flushed_offset();
    for (int fd : fds) REQUIRE(::fdatasync(fd) == 0);
    o.journal->mark_synced(pos);
    fds.clear();
    o.journal->sync_fds(&fds);
    CHECK(fds.size() == 1);
    CHECK_FALSE(o.journal->needs_sync());
  }

  TEST_CASE("only one background snapshot at a time, and no synchronous one meanwhile") {
    TempDir dir;
    auto o = open_journal(dir.path());
    auto target = o.journal->begin_snapshot();
    REQUIRE(target.is_ok());
    CHECK_FALSE(o.journal->begin_snapshot().is_ok());
    CHECK_FALSE(o.journal->write_snapshot("").is_ok());
    o.journal->finish_snapshot(*target, false);
    CHECK(o.journal->write_snapshot("").is_ok());
  }
}

}  // namespace sluice::storage
