// Journal: big records written in place (append_now, frame_header), also inside batches.
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

  TEST_CASE("append_now inside a batch is buffered with it, so the batch stays one unit") {
    TempDir dir;
    {
      auto opened = open_journal(dir.path());
      opened.journal->begin_batch();
      REQUIRE(opened.journal->append(1, "small").is_ok());
      REQUIRE(opened.journal->append_now(2, "big-", std::string(4096, 'x')).is_ok());
      opened.journal->end_batch();
      REQUIRE(opened.journal->sync().is_ok());
    }
    auto reopened = open_journal(dir.path());
    REQUIRE(reopened.replayed.size() == 2);
    CHECK(reopened.replayed[1].payload == "big-" + std::string(4096, 'x'));
  }
}

}  // namespace sluice::storage
