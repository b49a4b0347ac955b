// Journal: replay order, snapshots that replace the journal, crash between snapshot and journal
// reset, torn tails, mid-journal corruption, and the atomic file helpers.
#include "broker/storage/journal.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/storage/record_frame.h"
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
  uint64_t truncated = 0;
};

Opened open_journal(const std::string& dir, const std::string& name = "groups") {
  Opened out;
  auto journal = Journal::open(
      dir, name,
      [&](uint8_t type, std::string_view payload, bool from_snapshot) {
        out.replayed.push_back({type, std::string(payload), from_snapshot});
        return wire::Status::ok();
      },
      &out.truncated);
  REQUIRE_MESSAGE(journal.is_ok(), journal.status().detail());
  out.journal = std::move(*journal);
  return out;
}

std::string payload_of(int i) { return "record-" + std::to_string(i) + std::string(i % 13, '.'); }

std::vector<Replayed> journal_records(int from, int to) {
  std::vector<Replayed> out;
  for (int i = from; i < to; ++i)
    out.push_back({static_cast<uint8_t>(1 + i % 5), payload_of(i), false});
  return out;
}

void append_records(Journal& journal, int from, int to) {
  for (const Replayed& r : journal_records(from, to))
    REQUIRE(journal.append(r.type, r.payload).is_ok());
}

}  // namespace

TEST_SUITE("storage.journal") {
  TEST_CASE("records replay in order after reopening") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      CHECK(opened.replayed.empty());
      append_records(*opened.journal, 0, 100);
      CHECK(opened.journal->has_unflushed());
      REQUIRE(opened.journal->sync().is_ok());
      CHECK_FALSE(opened.journal->has_unflushed());
      CHECK_FALSE(opened.journal->needs_sync());
    }
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == journal_records(0, 100));
    CHECK(reopened.truncated == 0);
    append_records(*reopened.journal, 100, 110);
    REQUIRE(reopened.journal->sync().is_ok());
    reopened.journal.reset();
    CHECK(open_journal(dir.path()).replayed == journal_records(0, 110));
  }

  TEST_CASE("a snapshot replaces the journal and later records replay after it") {
    TempDir dir;
    std::string frames;
    append_frame(&frames, 9, "state-a");
    append_frame(&frames, 9, "state-b");
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 20);
      REQUIRE(opened.journal->sync().is_ok());
      CHECK(opened.journal->journal_bytes() > 0);
      append_records(*opened.journal, 20, 25);  // buffered: covered by the snapshot
      REQUIRE(opened.journal->write_snapshot(frames).is_ok());
      CHECK(opened.journal->journal_bytes() == 0);
      CHECK_FALSE(opened.journal->has_unflushed());
      append_records(*opened.journal, 30, 35);
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    std::vector<Replayed> expected{{9, "state-a", true}, {9, "state-b", true}};
    for (const Replayed& r : journal_records(30, 35)) expected.push_back(r);
    CHECK(reopened.replayed == expected);
  }

  TEST_CASE("a journal older than its snapshot is discarded, not replayed twice") {
    TempDir dir;
    const std::string journal_path = dir.sub("groups.journal");
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 10);
      REQUIRE(opened.journal->sync().is_ok());
      testing::copy_file(journal_path, dir.sub("old.journal"));
      std::string frames;
      append_frame(&frames, 9, "everything so far");
      REQUIRE(opened.journal->write_snapshot(frames).is_ok());
    }
    // The crash came after the snapshot's rename but before the journal was reset.
    testing::copy_file(dir.sub("old.journal"), journal_path);
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == std::vector<Replayed>{{9, "everything so far", true}});
    append_records(*reopened.journal, 50, 52);
    REQUIRE(reopened.journal->sync().is_ok());
    reopened.journal.reset();
    auto again = open_journal(dir.path());
    std::vector<Replayed> expected{{9, "everything so far", true}};
    for (const Replayed& r : journal_records(50, 52)) expected.push_back(r);
    CHECK(again.replayed == expected);
  }

  TEST_CASE("a torn journal tail is truncated at every byte offset of the last frame") {
    TempDir root;
    const int kRecords = 12;
    const uint64_t last_frame = frame_bytes(payload_of(kRecords - 1).size());
    for (uint64_t cut = 0; cut < last_frame; ++cut) {
      CAPTURE(cut);
      const std::string dir = root.sub("cut" + std::to_string(cut));
      {
        auto opened = open_journal(dir);
        append_records(*opened.journal, 0, kRecords);
        REQUIRE(opened.journal->sync().is_ok());
      }
      const std::string path = dir + "/groups.journal";
      const uint64_t full = testing::file_size(path);
      testing::truncate_to(path, full - last_frame + cut);
      auto reopened = open_journal(dir);
      CHECK(reopened.truncated == cut);
      CHECK(reopened.replayed == journal_records(0, kRecords - 1));
      CHECK(testing::file_size(path) == full - last_frame);
      append_records(*reopened.journal, 100, 101);
      REQUIRE(reopened.journal->sync().is_ok());
      reopened.journal.reset();
      auto again = open_journal(dir);
      CHECK(again.truncated == 0);
      CHECK(again.replayed.size() == kRecords);
    }
  }

  TEST_CASE("a damaged whole last frame is cut after its bytes are copied aside") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 5);
      REQUIRE(opened.journal->sync().is_ok());
    }
    const std::string path = dir.sub("groups.journal");
    const uint64_t size = testing::file_size(path);
    const uint64_t last = size - frame_bytes(payload_of(4).size());
    testing::corrupt_byte(path, size - 3, 0x80);
    const std::string damaged = read_file(path)->substr(last);
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == journal_records(0, 4));
    CHECK(reopened.truncated == damaged.size());
    CHECK(*read_file(path + ".corrupt-" + std::to_string(last)) == damaged);
  }

  TEST_CASE("a last frame cut short is a torn write: cut without a copy") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 5);
      REQUIRE(opened.journal->sync().is_ok());
    }
    const std::string path = dir.sub("groups.journal");
    const uint64_t size = testing::file_size(path);
    testing::truncate_to(path, size - 5);
    auto reopened = open_journal(dir.path());
    CHECK(reopened.replayed == journal_records(0, 4));
    CHECK(reopened.truncated == frame_bytes(payload_of(4).size()) - 5);
    CHECK(testing::files_with_suffix(
              dir.path(), ".corrupt-" + std::to_string(size - frame_bytes(payload_of(4).size())))
              .empty());
  }

  TEST_CASE("a bad frame followed by valid frames is corruption") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 5);
      REQUIRE(opened.journal->sync().is_ok());
    }
    // Damage the second record's payload (header 16 bytes, first frame, then 16 more).
    const uint64_t second = 16 + frame_bytes(payload_of(0).size());
    testing::corrupt_byte(dir.sub("groups.journal"), second + 18);
    auto journal = Journal::open(
        dir.path(), "groups", [](uint8_t, std::string_view, bool) { return wire::Status::ok(); });
    REQUIRE_FALSE(journal.is_ok());
    CHECK(journal.code() == wire::ErrorCode::kCorruption);
    CHECK(journal.status().detail().find("groups.journal") != std::string::npos);
  }

  TEST_CASE("a damaged snapshot is corruption") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      std::string frames;
      append_frame(&frames, 3, "snapshot state");
      REQUIRE(opened.journal->write_snapshot(frames).is_ok());
    }
    testing::corrupt_byte(dir.sub("groups.snap"), 20);
    auto journal = Journal::open(
        dir.path(), "groups", [](uint8_t, std::string_view, bool) { return wire::Status::ok(); });
    CHECK(journal.code() == wire::ErrorCode::kCorruption);
  }

  TEST_CASE("an error returned by replay stops open with that error") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      append_records(*opened.journal, 0, 3);
      REQUIRE(opened.journal->sync().is_ok());
    }
    int calls = 0;
    auto journal = Journal::open(dir.path(), "groups", [&](uint8_t, std::string_view, bool) {
      return ++calls == 2 ? wire::Status(wire::ErrorCode::kInvalidArgument, "bad op")
                          : wire::Status::ok();
    });
    CHECK(journal.code() == wire::ErrorCode::kInvalidArgument);
    CHECK(calls == 2);
  }

  TEST_CASE("flushed_offset only grows, across snapshots too, and drives needs_sync") {
    TempDir dir;
    auto opened = open_journal(dir.path());
    Journal& journal = *opened.journal;
    const uint64_t start = journal.flushed_offset();
    append_records(journal, 0, 3);
    CHECK_FALSE(journal.needs_sync());
    REQUIRE(journal.flush().is_ok());
    CHECK(journal.needs_sync());
    const uint64_t flushed = journal.flushed_offset();
    CHECK(flushed > start);
    REQUIRE(::fdatasync(journal.fd()) == 0);  // as a worker would
    journal.mark_synced(flushed);
    CHECK_FALSE(journal.needs_sync());
    append_records(journal, 3, 4);
    REQUIRE(journal.flush().is_ok());
    const uint64_t before_snapshot = journal.flushed_offset();
    REQUIRE(journal.write_snapshot("").is_ok());
    CHECK(journal.flushed_offset() > before_snapshot);
    CHECK_FALSE(journal.needs_sync());
    append_records(journal, 4, 5);
    REQUIRE(journal.flush().is_ok());
    journal.mark_synced(before_snapshot);  // a stale worker result must not hide new bytes
    CHECK(journal.needs_sync());
  }

  TEST_CASE("destroy removes the snapshot and the journal") {
    TempDir dir;
    auto opened = open_journal(dir.path());
    append_records(*opened.journal, 0, 3);
    REQUIRE(opened.journal->write_snapshot("").is_ok());
    REQUIRE(opened.journal->destroy().is_ok());
    CHECK_FALSE(testing::file_exists(dir.sub("groups.journal")));
    CHECK_FALSE(testing::file_exists(dir.sub("groups.snap")));
    CHECK_FALSE(opened.journal->append(1, "late").is_ok());
  }

  TEST_CASE("write_file_atomic replaces a file whole and leaves no temporary behind") {
    TempDir dir;
    const std::string path = dir.sub("meta");
    CHECK(read_file(path).code() == wire::ErrorCode::kNotFound);
    REQUIRE(write_file_atomic(path, "first version").is_ok());
    REQUIRE(write_file_atomic(path, std::string("second\0version", 14)).is_ok());
    auto content = read_file(path);
    REQUIRE(content.is_ok());
    CHECK(*content == std::string("second\0version", 14));
    CHECK_FALSE(testing::file_exists(path + ".tmp"));
    CHECK(sync_dir(dir.path()).is_ok());
    CHECK(sync_dir(dir.sub("missing")).code() == wire::ErrorCode::kIo);
  }
}

}  // namespace sluice::storage
