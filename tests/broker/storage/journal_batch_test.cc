// Journal batches: the records of a script or transaction replay all together or not at all,
// whatever byte the crash cut the journal at; an open batch is never written; a batch of one
// record costs no marker.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::TempDir;

struct Opened {
  std::unique_ptr<Journal> journal;
  std::vector<std::string> replayed;
  uint64_t truncated = 0;
};

Opened open_kv(const std::string& dir) {
  Opened out;
  auto journal = Journal::open(
      dir, "kv",
      [&](uint8_t, std::string_view payload, bool) {
        out.replayed.emplace_back(payload);
        return wire::Status::ok();
      },
      &out.truncated);
  REQUIRE_MESSAGE(journal.is_ok(), journal.status().detail());
  out.journal = std::move(*journal);
  return out;
}

std::vector<std::string> names(const char* prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

void append_all(Journal& j, const std::vector<std::string>& payloads) {
  for (const auto& p : payloads) REQUIRE(j.append(1, p).is_ok());
}

}  // namespace

TEST_SUITE("storage.journal_batch") {
  TEST_CASE("a batch replays whole after a reopen, between plain records") {
    TempDir dir;
    {
      auto o = open_kv(dir.path());
      append_all(*o.journal, {"before"});
      o.journal->begin_batch();
      append_all(*o.journal, names("in-batch-", 5));
      o.journal->end_batch();
      append_all(*o.journal, {"after"});
      REQUIRE(o.journal->sync().is_ok());
    }
    std::vector<std::string> expected{"before"};
    for (const auto& n : names("in-batch-", 5)) expected.push_back(n);
    expected.push_back("after");
    CHECK(open_kv(dir.path()).replayed == expected);
  }

  TEST_CASE("a batch cut at any byte by a crash is dropped whole, the records before it stay") {
    TempDir root;
    // The journal's file size with only the record before the batch, and with the batch.
    uint64_t before_batch = 0;
    uint64_t with_batch = 0;
    {
      auto o = open_kv(root.sub("probe"));
      append_all(*o.journal, {"kept"});
      REQUIRE(o.journal->sync().is_ok());
      before_batch = testing::file_size(root.sub("probe/kv.journal"));
      o.journal->begin_batch();
      append_all(*o.journal, names("part-", 3));
      o.journal->end_batch();
      REQUIRE(o.journal->sync().is_ok());
      with_batch = testing::file_size(root.sub("probe/kv.journal"));
    }
    REQUIRE(with_batch > before_batch);
    for (uint64_t cut = before_batch; cut < with_batch; ++cut) {
      CAPTURE(cut);
      const std::string dir = root.sub("cut" + std::to_string(cut));
      testing::copy_dir(root.sub("probe"), dir);
      testing::truncate_to(dir + "/kv.journal", cut);
      auto o = open_kv(dir);
      CHECK(o.replayed == std::vector<std::string>{"kept"});
      CHECK(o.truncated == cut - before_batch);
      // The torn batch is gone from the file: later records are not replayed after its remains.
      append_all(*o.journal, {"later"});
      REQUIRE(o.journal->sync().is_ok());
      o.journal.reset();
      CHECK(open_kv(dir).replayed == std::vector<std::string>{"kept", "later"});
    }
  }

  TEST_CASE("nothing of an open batch is flushed; aborting it drops its records") {
    TempDir dir;
    {
      auto o = open_kv(dir.path());
      append_all(*o.journal, {"a"});
      o.journal->begin_batch();
      append_all(*o.journal, {"b", "c"});
      REQUIRE(o.journal->flush().is_ok());
      CHECK(testing::file_size(dir.sub("kv.journal")) == 16 + frame_bytes(1));
      CHECK(o.journal->in_batch());
      o.journal->abort_batch();
      CHECK_FALSE(o.journal->in_batch());
      append_all(*o.journal, {"d"});
      REQUIRE(o.journal->sync().is_ok());
    }
    CHECK(open_kv(dir.path()).replayed == std::vector<std::string>{"a", "d"});
  }

  TEST_CASE("nested batches count as the outermost one") {
    TempDir dir;
    uint64_t bytes_after_inner = 0;
    {
      auto o = open_kv(dir.path());
      o.journal->begin_batch();
      append_all(*o.journal, {"x"});
      o.journal->begin_batch();
      append_all(*o.journal, {"y"});
      o.journal->end_batch();
      REQUIRE(o.journal->flush().is_ok());
      bytes_after_inner = testing::file_size(dir.sub("kv.journal"));
      append_all(*o.journal, {"z"});
      o.journal->end_batch();
      REQUIRE(o.journal->sync().is_ok());
    }
    CHECK(bytes_after_inner == 16);  // the header only: the outer batch was still open
    CHECK(open_kv(dir.path()).replayed == std::vector<std::string>{"x", "y", "z"});
  }

  TEST_CASE("a batch of one record or none writes no marker") {
    TempDir dir;
    auto o = open_kv(dir.path());
    o.journal->begin_batch();
    o.journal->end_batch();
    o.journal->begin_batch();
    append_all(*o.journal, {"only"});
    o.journal->end_batch();
    REQUIRE(o.journal->sync().is_ok());
    CHECK(testing::file_size(dir.sub("kv.journal")) == 16 + frame_bytes(4));
  }

  TEST_CASE("a corrupt record inside a batch with records after it is corruption, not a tail") {
    TempDir dir;
    uint64_t batch_at = 0;
    {
      auto o = open_kv(dir.path());
      batch_at = 16;
      o.journal->begin_batch();
      append_all(*o.journal, names("r", 3));
      o.journal->end_batch();
      append_all(*o.journal, {"after"});
      REQUIRE(o.journal->sync().is_ok());
    }
    // Flip a byte of the first record inside the batch (after the 24-byte marker).
    testing::corrupt_byte(dir.sub("kv.journal"), batch_at + frame_bytes(8) + 17);
    auto reopened = Journal::open(
        dir.path(), "kv", [](uint8_t, std::string_view, bool) { return wire::Status::ok(); });
    CHECK_FALSE(reopened.is_ok());
    CHECK(reopened.code() == wire::ErrorCode::kCorruption);
  }
}

}  // namespace sluice::storage
