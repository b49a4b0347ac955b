// XRANGE in pages (the replay workload): pages with COUNT return exactly the entries of one
// unbounded range, and a page read from disk costs one pread thanks to the scan's size hint.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "broker/stream/stream.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;

uint64_t g_preads = 0;

ssize_t counting_pread(int fd, void* buf, size_t n, off_t offset) {
  ++g_preads;
  return ::pread(fd, buf, n, offset);
}

struct HookGuard {
  ~HookGuard() { storage::reset_io_hooks(); }
};

std::unique_ptr<Stream> open_stream(const std::string& dir, uint64_t segment_bytes) {
  StreamOptions o;
  o.log.segment_bytes = segment_bytes;
  o.log.tail_cache_bytes = 64 * 1024;
  auto s = Stream::open(dir, o, nullptr);
  REQUIRE(s.is_ok());
  return std::move(*s);
}

void fill(Stream& s, uint64_t n) {
  const std::string value(100, 'x');
  for (uint64_t i = 1; i <= n; ++i) {
    std::string_view fields[] = {"field", value};
    REQUIRE(s.append(StreamId{i, 0}, fields).is_ok());
  }
}

std::vector<StreamId> page(const Stream& s, StreamId from, uint64_t count) {
  std::vector<StreamId> ids;
  REQUIRE(s.range(from, StreamId::max(), false, count, [&](StreamId id, std::string_view) {
             ids.push_back(id);
             return true;
           }).is_ok());
  return ids;
}

TEST_SUITE("stream.range") {
  TEST_CASE("pages of a range with tombstones add up to the whole range, across segments") {
    TempDir dir;
    auto s = open_stream(dir.path(), 64 * 1024);
    fill(*s, 6000);
    std::vector<StreamId> doomed;
    for (uint64_t i = 3; i <= 6000; i += 7) doomed.push_back(StreamId{i, 0});
    for (uint64_t i = 2000; i <= 2600; ++i) doomed.push_back(StreamId{i, 0});  // a long hole
    std::sort(doomed.begin(), doomed.end());
    doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
    REQUIRE(s->remove(doomed).is_ok());
    REQUIRE(s->sync().is_ok());
    s.reset();
    s = open_stream(dir.path(), 64 * 1024);
    REQUIRE(s->log().segment_count() > 5);

    const std::vector<StreamId> all = page(*s, StreamId::min(), 0);
    REQUIRE(all.size() == s->length());
    for (uint64_t count : {1, 37, 1000, 100000}) {
      CAPTURE(count);
      std::vector<StreamId> paged;
      StreamId from = StreamId::min();
      for (;;) {
        std::vector<StreamId> ids = page(*s, from, count);
        CHECK(ids.size() <= count);
        paged.insert(paged.end(), ids.begin(), ids.end());
        if (ids.size() < count || !ids.back().increment(&from)) break;
      }
      CHECK(paged == all);
    }
  }

  TEST_CASE("a page of 1000 entries read from disk takes one pread") {
    TempDir dir;
    auto s = open_stream(dir.path(), 64 * 1024 * 1024);
    fill(*s, 5000);
    REQUIRE(s->sync().is_ok());
    s.reset();
    s = open_stream(dir.path(), 64 * 1024 * 1024);

    HookGuard guard;
    storage::io_hooks().pread = &counting_pread;
    StreamId from{1, 0};
    for (uint64_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      g_preads = 0;
      std::vector<StreamId> ids = page(*s, from, 1000);
      REQUIRE(ids.size() == 1000);
      CHECK(ids.front() == StreamId{1 + 1000 * i, 0});
      CHECK(g_preads == 1);
      REQUIRE(ids.back().increment(&from));
    }
  }
}

}  // namespace
}  // namespace sluice::stream
