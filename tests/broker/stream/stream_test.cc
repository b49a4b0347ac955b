// The stream engine against a model: appends, XDEL, exact and approximate trims and reopening
// from disk must always agree with a plain in-memory list that applies Redis's rules directly.
#include "broker/stream/stream.h"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/broker/storage/temp_dir.h"

namespace sluice::stream {
namespace {

using storage::testing::TempDir;

constexpr int64_t kNodeEntries = 10;

StreamOptions small_options() {
  StreamOptions o;
  o.log.segment_bytes = 4096;  // many segments, so trims drop files
  o.log.index_interval_bytes = 512;
  o.log.tail_cache_bytes = 1024;
  o.node_max_entries = kNodeEntries;
  return o;
}

std::unique_ptr<Stream> open_stream(const std::string& dir) {
  auto s = Stream::open(dir, small_options(), nullptr);
  REQUIRE(s.is_ok());
  return std::move(*s);
}

// The model: every appended entry with the Redis stream node it went into and whether it is
// deleted.
struct ModelEntry {
  StreamId id;
  uint64_t node;
  std::string value;
  bool deleted = false;
};

struct Model {
  std::vector<ModelEntry> entries;  // entries >= the logical start, in ID order
  // Redis's tail node: a new one opens when it holds kNodeEntries entries (deleted and trimmed
  // ones included) or once it lost all its live entries (Redis frees it).
  uint64_t tail_node = 0;
  uint64_t tail_count = 0;
  uint64_t tail_live = 0;
  bool tail_open = false;

  uint64_t node_for_append() {
    if (!tail_open || tail_count >= static_cast<uint64_t>(kNodeEntries)) {
      ++tail_node;
      tail_count = 0;
      tail_live = 0;
      tail_open = true;
    }
    ++tail_count;
    ++tail_live;
    return tail_node;
  }
  // A live entry left (XDEL or a trim).
  void gone(const ModelEntry& e) {
    if (!tail_open || e.node != tail_node) return;
    if (--tail_live == 0) tail_open = false;
  }
  StreamId last_id;
  uint64_t entries_added = 0;
  StreamId max_deleted;

  uint64_t length() const {
    uint64_t n = 0;
    for (const auto& e : entries) n += e.deleted ? 0 : 1;
    return n;
  }
  void drop_front(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (!entries[i].deleted) gone(entries[i]);
    }
    entries.erase(entries.begin(), entries.begin() + static_cast<long>(n));
  }

  // Exact MAXLEN: remove the oldest live entries until length == maxlen.
  uint64_t trim_exact_maxlen(uint64_t maxlen) {
    uint64_t len = length(), removed = 0;
    size_t i = 0;
    while (len > maxlen && i < entries.size()) {
      if (!entries[i].deleted) {
        --len;
        ++removed;
      }
      ++i;
    }
    drop_front(i);
    return removed;
  }
  uint64_t trim_exact_minid(StreamId minid) {
    uint64_t removed = 0;
    size_t i = 0;
    while (i < entries.size() && entries[i].id < minid) {
      if (!entries[i].deleted) ++removed;
      ++i;
    }
    drop_front(i);
    return removed;
  }
  // Approximate: whole nodes, Redis's streamTrim loop.
  uint64_t trim_approx(bool by_len, uint64_t maxlen, StreamId minid, uint64_t limit) {
    uint64_t len = length(), removed = 0;
    while (!entries.empty()) {
      if (by_len && len <= maxlen) break;
      uint64_t node = entries.front().node;
      size_t end = 0;
      uint64_t live = 0;
      while (end < entries.size() && entries[end].node == node) {
        live += entries[end].deleted ? 0 : 1;
        ++end;
      }
      if (limit && removed + live > limit) break;
      bool remove = by_len ? len - live >= maxlen : entries[end - 1].id < minid;
      if (!remove) break;
      len -= live;
      removed += live;
      drop_front(end);
    }
    return removed;
  }
};

void expect_same(const Stream& s, const Model& m) {
  REQUIRE(s.length() == m.length());
  CHECK(s.last_id() == m.last_id);
  CHECK(s.entries_added() == m.entries_added);
  CHECK(s.max_deleted_id() == m.max_deleted);
  std::vector<std::string> got, want;
  s.range(StreamId::min(), StreamId::max(), false, 0, [&](StreamId id, std::string_view resp) {
    got.push_back(id.to_string() + "|" + std::string(resp));
    return true;
  });
  for (const auto& e : m.entries) {
    if (e.deleted) continue;
    std::string resp;
    std::string_view fields[] = {"v", e.value};
    encode_entry_resp(&resp, e.id, fields);
    want.push_back(e.id.to_string() + "|" + resp);
  }
  CHECK(got == want);
  StreamId first = m.length() ? StreamId{} : StreamId{};
  for (const auto& e : m.entries) {
    if (!e.deleted) {
      first = e.id;
      break;
    }
  }
  CHECK(s.first_id() == first);
}

TEST_SUITE("stream.engine") {
  TEST_CASE("appends, deletes, trims and reopening agree with a model of Redis's rules") {
    TempDir dir;
    auto s = open_stream(dir.path());
    Model m;
    std::mt19937_64 rng(20261124);
    int64_t clock = 1000;
    for (int step = 0; step < 3000; ++step) {
      int op = static_cast<int>(rng() % 100);
      if (op < 60) {
        IdRequest req;
        req.kind = rng() % 2 ? IdRequest::Kind::kAuto : IdRequest::Kind::kExplicit;
        req.id = StreamId{m.last_id.ms + rng() % 3, rng() % 5};
        clock += static_cast<int64_t>(rng() % 2);
        auto id = s->next_id(req, clock);
        if (!id) {
          CHECK(req.id <= m.last_id);
          continue;
        }
        std::string value = std::to_string(step);
        std::string_view fields[] = {"v", value};
        REQUIRE(s->append(*id, fields).is_ok());
        m.entries.push_back({*id, m.node_for_append(), value});
        m.last_id = *id;
        ++m.entries_added;
      } else if (op < 72 && !m.entries.empty()) {
        std::vector<StreamId> ids;
        for (int k = 0; k < 3; ++k) ids.push_back(m.entries[rng() % m.entries.size()].id);
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        uint64_t want = 0;
        for (auto& e : m.entries) {
          if (!e.deleted && std::find(ids.begin(), ids.end(), e.id) != ids.end()) {
            e.deleted = true;
            m.gone(e);
            ++want;
            m.max_deleted = std::max(m.max_deleted, e.id);
          }
        }
        auto got = s->remove(ids);
        REQUIRE(got.is_ok());
        CHECK(*got == want);
      } else if (op < 80) {
        TrimSpec t;
        t.strategy = TrimSpec::Strategy::kMaxLen;
        t.maxlen = m.length() > 0 ? rng() % (m.length() + 5) : 0;
        auto got = s->trim(t);
        REQUIRE(got.is_ok());
        CHECK(*got == m.trim_exact_maxlen(t.maxlen));
      } else if (op < 85 && !m.entries.empty()) {
        TrimSpec t;
        t.strategy = TrimSpec::Strategy::kMinId;
        t.minid = m.entries[rng() % m.entries.size()].id;
        auto got = s->trim(t);
        REQUIRE(got.is_ok());
        CHECK(*got == m.trim_exact_minid(t.minid));
      } else if (op < 93) {
        TrimSpec t;
        t.approx = true;
        bool by_len = rng() % 3 != 0;
        t.strategy = by_len ? TrimSpec::Strategy::kMaxLen : TrimSpec::Strategy::kMinId;
        t.maxlen = rng() % 60;
        t.minid = m.entries.empty() ? StreamId{} : m.entries[rng() % m.entries.size()].id;
        t.limit = rng() % 4 == 0 ? static_cast<int64_t>(rng() % 30) : -1;
        uint64_t limit = t.limit >= 0 ? static_cast<uint64_t>(t.limit) : 100 * kNodeEntries;
        auto got = s->trim(t);
        REQUIRE(got.is_ok());
        CHECK(*got == m.trim_approx(by_len, t.maxlen, t.minid, limit));
      } else {
        // Restart: flush, drop the in-memory state and recover from the directory.
        REQUIRE(s->sync().is_ok());
        s.reset();
        s = open_stream(dir.path());
      }
      expect_same(*s, m);
    }
  }

  TEST_CASE("a deleted last entry's ID is never reused, even after reopening") {
    TempDir dir;
    auto s = open_stream(dir.path());
    std::string_view fields[] = {"f", "v"};
    REQUIRE(s->append(StreamId{5, 0}, fields).is_ok());
    StreamId ids[] = {StreamId{5, 0}};
    REQUIRE(*s->remove(ids) == 1);
    REQUIRE(s->sync().is_ok());
    s.reset();
    s = open_stream(dir.path());
    IdRequest req;
    req.kind = IdRequest::Kind::kExplicit;
    req.id = StreamId{5, 0};
    CHECK(s->next_id(req, 1).code() == wire::ErrorCode::kIdTooSmall);
    req.kind = IdRequest::Kind::kAuto;
    CHECK(*s->next_id(req, 1) == StreamId{5, 1});
    CHECK(s->length() == 0);
    CHECK(s->max_deleted_id() == StreamId{5, 0});
  }

  TEST_CASE("xsetid state survives reopening and a trim to empty keeps the last ID") {
    TempDir dir;
    auto s = open_stream(dir.path());
    std::string_view fields[] = {"f", "v"};
    for (uint64_t i = 1; i <= 30; ++i) REQUIRE(s->append(StreamId{i, 0}, fields).is_ok());
    TrimSpec t;
    t.strategy = TrimSpec::Strategy::kMaxLen;
    t.maxlen = 0;
    REQUIRE(*s->trim(t) == 30);
    REQUIRE(s->set_id(StreamId{99, 0}, 77, StreamId{50, 0}).is_ok());
    REQUIRE(s->sync().is_ok());
    s.reset();
    s = open_stream(dir.path());
    CHECK(s->length() == 0);
    CHECK(s->last_id() == StreamId{99, 0});
    CHECK(s->entries_added() == 77);
    CHECK(s->max_deleted_id() == StreamId{50, 0});
    CHECK(s->first_id() == StreamId{});
  }
}

}  // namespace
}  // namespace sluice::stream
