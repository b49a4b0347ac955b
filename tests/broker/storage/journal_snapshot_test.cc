// Journal: big records written in place (append_now, frame_header) and snapshots written
// while appends go on (begin_snapshot, SnapshotWriter, finish_snapshot / abort_snapshot).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/snapshot_writer.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::TempDir;

struct Replayed {
  uint8_t type = 0;
  std::string payload;
  bool from_snapshot = false;
  bool operator==(const Replayed&) const = default;
};

struct Opened {
  std::unique_ptr<Journal> journal;
  std::vector<Replayed> replayed;
};

Opened open_journal(const std::string& dir) {
  Opened out;
  auto journal = Journal::open(dir, "kv", [&](uint8_t type, std::string_view payload, bool snap) {
    out.replayed.push_back({type, std::string(payload), snap});
    return wire::Status::ok();
  });
  REQUIRE_MESSAGE(journal.is_ok(), journal.status().detail());
  out.journal = std::move(*journal);
  return out;
}

}  // namespace

TEST_SUITE("storage.journal_snapshot") {
  TEST_CASE("a frame written in pieces is the frame append_frame builds") {
    for (size_t n : {0, 1, 7, 8, 9, 100}) {
      CAPTURE(n);
      const std::string head = "head-" + std::to_string(n);
      const std::string body(n, 'b');
      std::string whole;
      append_frame(&whole, 7, head + body);
      const auto header = frame_header(7, head, body);
      std::string pieces(header.data(), header.size());
      pieces += head + body;
      pieces.resize(whole.size(), '\0');
      CHECK(pieces == whole);
    }
  }

  TEST_CASE("append_now writes after what was buffered, in order, and replays") {
    TempDir dir;
    const std::string big(3 << 20, 'z');
    {
      auto opened = open_journal(dir.path());
      REQUIRE(opened.journal->append(1, "before").is_ok());
      REQUIRE(opened.journal->append_now(2, "head:", big).is_ok());
      CHECK_FALSE(opened.journal->has_unflushed());
      REQUIRE(opened.journal->append(1, "after").is_ok());
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == std::vector<Replayed>{{1, "before", false},
                                                     {2, "head:" + big, false},
                                                     {1, "after", false}});
  }

  TEST_CASE("append_now that fails leaves no partial frame and fails the journal") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      REQUIRE(opened.journal->append(1, "kept").is_ok());
      REQUIRE(opened.journal->sync().is_ok());
      static int calls = 0;
      calls = 0;
      // The header goes through, the body does not: the header must be cut off again.
      io_hooks().pwrite = [](int fd, const void* buf, size_t n, off_t off) -> ssize_t {
        if (++calls >= 2) {
          errno = ENOSPC;
          return -1;
        }
        return ::pwrite(fd, buf, n, off);
      };
      CHECK(opened.journal->append_now(2, "head", std::string(1 << 20, 'x')).code() ==
            wire::ErrorCode::kStorageFailed);
      reset_io_hooks();
      CHECK(opened.journal->failed());
    }
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == std::vector<Replayed>{{1, "kept", false}});
  }

  TEST_CASE("a snapshot written meanwhile gets the records appended since it began") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      REQUIRE(opened.journal->append(1, "old-1").is_ok());
      REQUIRE(opened.journal->append(1, "old-2").is_ok());
      auto target = opened.journal->begin_snapshot();
      REQUIRE(target.is_ok());
      CHECK(opened.journal->snapshot_in_progress());
      // Appends go on while the writer (a forked child, in the store) writes the state.
      REQUIRE(opened.journal->append(1, "during-1").is_ok());
      REQUIRE(opened.journal->flush().is_ok());
      REQUIRE(opened.journal->append_now(2, "during-", std::string(2 << 20, 'd')).is_ok());
      SnapshotWriter writer;
      REQUIRE(writer.open(*target).is_ok());
      REQUIRE(writer.append(9, "state").is_ok());
      REQUIRE(writer.append(9, "big-state:", std::string(2 << 20, 's')).is_ok());
      REQUIRE(writer.finish().is_ok());
      REQUIRE(opened.journal->append(1, "during-2").is_ok());  // buffered at finish
      auto size = opened.journal->finish_snapshot();
      REQUIRE(size.is_ok());
      CHECK(*size == testing::file_size(dir.sub("kv.snap")));
      CHECK_FALSE(opened.journal->snapshot_in_progress());
      CHECK(opened.journal->journal_bytes() == 0);
      REQUIRE(opened.journal->append(1, "after").is_ok());
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    const std::vector<Replayed> expected{
        {9, "state", true},    {9, "big-state:" + std::string(2 << 20, 's'), true},
        {1, "during-1", true}, {2, "during-" + std::string(2 << 20, 'd'), true},
        {1, "during-2", true}, {1, "after", false},
    };
    CHECK(reopened.replayed == expected);
  }

  TEST_CASE("an aborted snapshot, or one left unfinished by a crash, changes nothing") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      REQUIRE(opened.journal->append(1, "a").is_ok());
      auto target = opened.journal->begin_snapshot();
      REQUIRE(target.is_ok());
      CHECK_FALSE(opened.journal->begin_snapshot().is_ok());  // one at a time
      SnapshotWriter writer;
      REQUIRE(writer.open(*target).is_ok());
      REQUIRE(writer.append(9, "partial").is_ok());
      REQUIRE(writer.finish().is_ok());
      opened.journal->abort_snapshot();
      CHECK_FALSE(testing::file_exists(dir.sub("kv.snap.tmp")));
      REQUIRE(opened.journal->append(1, "b").is_ok());
      // A second one is left behind as a crash would leave it.
      auto second = opened.journal->begin_snapshot();
      REQUIRE(second.is_ok());
      SnapshotWriter again;
      REQUIRE(again.open(*second).is_ok());
      REQUIRE(again.append(9, "never swapped in").is_ok());
      REQUIRE(again.finish().is_ok());
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == std::vector<Replayed>{{1, "a", false}, {1, "b", false}});
    CHECK_FALSE(testing::file_exists(dir.sub("kv.snap.tmp")));
  }

  TEST_CASE("a snapshot that cannot be swapped in leaves the journal whole") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      REQUIRE(opened.journal->append(1, "a").is_ok());
      auto target = opened.journal->begin_snapshot();
      REQUIRE(target.is_ok());
      // The writer never created the file (it failed): finish reports it, the journal goes on.
      CHECK_FALSE(opened.journal->finish_snapshot().is_ok());
      CHECK_FALSE(opened.journal->failed());
      CHECK_FALSE(opened.journal->snapshot_in_progress());
      REQUIRE(opened.journal->append(1, "b").is_ok());
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == std::vector<Replayed>{{1, "a", false}, {1, "b", false}});
  }
}

}  // namespace sluice::storage
