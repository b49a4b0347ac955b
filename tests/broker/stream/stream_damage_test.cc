// A stream whose log lost a record to damage (a flipped byte in a sealed segment): every other
// entry stays readable, the length and the tombstones follow what the log still has, and
// entries-added does not move. Found at open, or by a read long after it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "broker/stream/entry_codec.h"
#include "broker/stream/stream.h"
#include "tests/broker/storage/log_test_util.h"
#include "tests/broker/storage/temp_dir.h"
#include "tests/broker/stream/stream_test_util.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;
using testing::describe;

constexpr uint64_t kEntries = 300;

StreamId id_at(uint64_t i) { return {1000 + i, 0}; }

StreamOptions with_policy(bool quarantine) {
  StreamOptions o = testing::small_options();
  o.log.quarantine_corrupt = quarantine;
  return o;
}

std::unique_ptr<Stream> open_with(const std::string& dir, bool quarantine) {
  auto s = Stream::open(dir, with_policy(quarantine), nullptr);
  REQUIRE_MESSAGE(s.is_ok(), s.status().detail());
  return std::move(*s);
}

// Where the record of `id` lies: its segment file and frame offset.
struct Located {
  std::string segment;
  uint64_t offset = 0;
};

Located locate(const std::string& log_dir, StreamId id) {
  for (const std::string& path : storage::testing::files_with_suffix(log_dir, ".log")) {
    auto bytes = storage::read_file(path);
    REQUIRE(bytes.is_ok());
    for (uint64_t off = 0; off < bytes->size();) {
      storage::FrameView frame;
      REQUIRE(storage::decode_frame(std::string_view(*bytes).substr(off), 1 << 20, &frame) ==
              storage::FrameStatus::kOk);
      EntryView e;
      REQUIRE(decode_entry(frame.payload, &e, true));
      if (e.id == id) return {path, off};
      off += frame.total_bytes;
    }
  }
  FAIL("no record " << id.to_string());
  return {};
}

// kEntries entries, `deleted` tombstoned. The XDEL journals a state record (the start moves to
// the first entry), so recovery scans none of these records: damage in them is first met by a
// read, unless the segment's index is gone (unindexed(): the segment is checked at open).
void build(const std::string& dir, StreamId deleted) {
  auto s = open_with(dir, false);
  for (uint64_t i = 0; i < kEntries; ++i) {
    const std::string value = "value-" + std::to_string(i);
    std::string_view fields[] = {"f", value};
    REQUIRE(s->append(id_at(i), fields).is_ok());
  }
  StreamId ids[] = {deleted};
  REQUIRE(*s->remove(ids) == 1);
  REQUIRE(s->sync().is_ok());
}

void unindexed(const Located& at) {
  REQUIRE(::unlink((at.segment.substr(0, at.segment.size() - 4) + ".idx").c_str()) == 0);
}

std::vector<StreamId> ids_of(const Stream& s) {
  std::vector<StreamId> out;
  s.range(StreamId::min(), StreamId::max(), false, 0, [&](StreamId id, std::string_view) {
    out.push_back(id);
    return true;
  });
  return out;
}

std::vector<StreamId> expected_ids(std::initializer_list<StreamId> gone) {
  std::vector<StreamId> out;
  for (uint64_t i = 0; i < kEntries; ++i) {
    if (std::find(gone.begin(), gone.end(), id_at(i)) == gone.end()) out.push_back(id_at(i));
  }
  return out;
}

}  // namespace

TEST_SUITE("stream.damage") {
  TEST_CASE("a live entry lost to damage at open: the others stay, the length drops by one") {
    TempDir dir(TempDir::Where::kRam);
    build(dir.path(), id_at(151));
    Located at = locate(dir.path() + "/log", id_at(150));
    storage::testing::corrupt_byte(at.segment, at.offset + 40);
    unindexed(at);
    SUBCASE("refuse: the stream does not open, naming the file and offset") {
      auto s = Stream::open(dir.path(), with_policy(false), nullptr);
      REQUIRE_FALSE(s.is_ok());
      CHECK(s.status().detail().find(at.segment + " at offset " + std::to_string(at.offset)) !=
            std::string::npos);
    }
    SUBCASE("quarantine") {
      auto s = open_with(dir.path(), true);
      CHECK(s->length() == kEntries - 2);
      CHECK(s->entries_added() == kEntries);
      CHECK(s->deleted_count() == 1);
      CHECK(ids_of(*s) == expected_ids({id_at(150), id_at(151)}));
      const std::string before = describe(*s);
      s.reset();
      CHECK(describe(*open_with(dir.path(), true)) == before);
    }
  }

  TEST_CASE("a tombstoned entry lost to damage takes its tombstone with it") {
    TempDir dir(TempDir::Where::kRam);
    build(dir.path(), id_at(151));
    Located at = locate(dir.path() + "/log", id_at(151));
    storage::testing::corrupt_byte(at.segment, at.offset + 2);
    unindexed(at);
    auto s = open_with(dir.path(), true);
    CHECK(s->length() == kEntries - 1);
    CHECK(s->deleted_count() == 0);
    CHECK(ids_of(*s) == expected_ids({id_at(151)}));
  }

  TEST_CASE("damage first met by a read long after open is skipped under both policies") {
    for (bool quarantine : {false, true}) {
      CAPTURE(quarantine);
      TempDir dir(TempDir::Where::kRam);
      build(dir.path(), id_at(151));
      Located at = locate(dir.path() + "/log", id_at(20));
      storage::testing::corrupt_byte(at.segment, at.offset + 33);
      auto s = open_with(dir.path(), quarantine);
      CHECK(s->length() == kEntries - 1);  // not read yet
      CHECK(ids_of(*s) == expected_ids({id_at(20), id_at(151)}));
      CHECK(s->length() == kEntries - 2);
      CHECK(s->first_id() == id_at(0));
      CHECK(s->entries_added() == kEntries);
      CHECK(storage::testing::file_exists(at.segment + ".corrupt-" + std::to_string(at.offset)));
      const std::string_view fields[] = {"f", "more"};
      REQUIRE(s->append(id_at(kEntries), fields).is_ok());
      REQUIRE(s->sync().is_ok());
      CHECK(s->length() == kEntries - 1);
      s.reset();
      // The next start checks the file again: refuse stops, quarantine repairs it.
      auto reopened = Stream::open(dir.path(), with_policy(quarantine), nullptr);
      REQUIRE(reopened.is_ok() == quarantine);
      if (quarantine) {
        CHECK((*reopened)->length() == kEntries - 1);
        CHECK((*reopened)->entries_added() == kEntries + 1);
      }
    }
  }
}

}  // namespace sluice::stream
