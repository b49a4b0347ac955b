// The consumer-group journal: replay rebuilds exactly the state that was journaled, snapshots
// replace the journal, a torn journal tail is cut back to a whole record, and a bad record in
// the middle is reported rather than served.
#include "broker/stream/group_store.h"

#include <doctest/doctest.h>

#include <sstream>
#include <vector>

#include "tests/broker/storage/temp_dir.h"

namespace sluice::stream {
namespace {

using storage::testing::file_size;
using storage::testing::TempDir;
using storage::testing::truncate_to;

// A readable description of the whole state, for equality checks.
std::string describe(const GroupMap& groups) {
  std::ostringstream out;
  for (const auto& [name, g] : groups) {
    out << "group " << name << " last=" << g->last_delivered_id.to_string()
        << " read=" << g->entries_read << "\n";
    for (const auto& [cname, c] : g->consumers) {
      out << "  consumer " << cname << " seen=" << c->seen_time_ms
          << " active=" << c->active_time_ms << " owns=" << c->pending.size() << "\n";
    }
    for (const auto& [id, p] : g->pel.entries()) {
      out << "  pel " << id.to_string() << " " << p.consumer->name << " t=" << p.delivery_time_ms
          << " n=" << p.delivery_count << "\n";
    }
  }
  return out.str();
}

struct Fixture {
  TempDir dir;
  GroupMap groups;
  std::unique_ptr<storage::Journal> journal;

  Fixture() { reopen(); }
  void reopen() {
    journal.reset();
    GroupMap fresh;
    auto j = GroupStore::open(dir.path(), &fresh);
    REQUIRE(j.is_ok());
    journal = std::move(*j);
    groups = std::move(fresh);
  }
  GroupStore store() { return GroupStore(*journal, groups); }
  std::string journal_path() const { return dir.sub("groups.journal"); }

  ConsumerGroup& create(const std::string& name, StreamId last) {
    auto g = std::make_unique<ConsumerGroup>(name);
    g->last_delivered_id = last;
    ConsumerGroup* raw = g.get();
    groups.emplace(name, std::move(g));
    REQUIRE(store().group_state(*raw, true).is_ok());
    return *raw;
  }
  // XREADGROUP >: ids delivered to `consumer` at `now`.
  void deliver(ConsumerGroup& g, const std::string& consumer, std::vector<StreamId> ids,
               int64_t now) {
    bool created = false;
    Consumer* c = g.ensure_consumer(consumer, now, &created);
    c->seen_time_ms = now;
    c->active_time_ms = now;
    for (StreamId id : ids) {
      g.pel.assign(id, c, now, 1);
      g.last_delivered_id = id;
      ++g.entries_read;
    }
    REQUIRE(store().deliver(g, *c, now, ids, {}, true).is_ok());
  }
  void flush() { REQUIRE(journal->flush().is_ok()); }
};

TEST_SUITE("stream.group_store") {
  TEST_CASE("replaying the journal rebuilds groups, consumers and the PEL exactly") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    g.entries_read = 0;
    f.deliver(g, "alice", {{1, 0}, {2, 0}, {3, 0}}, 1000);
    f.deliver(g, "bob", {{4, 0}}, 1100);
    // XACK 2-0
    g.pel.remove({2, 0});
    StreamId acked[] = {{2, 0}};
    REQUIRE(f.store().ack(g, acked).is_ok());
    // XCLAIM 3-0 to bob with a retry count.
    Consumer* bob = g.find_consumer("bob");
    g.pel.assign({3, 0}, bob, 1200, 5);
    StreamId claimed[] = {{3, 0}};
    uint64_t counts[] = {5};
    REQUIRE(f.store().deliver(g, *bob, 1200, claimed, counts, false).is_ok());
    // CREATECONSUMER, then DELCONSUMER of another one.
    bool created = false;
    Consumer* carol = g.ensure_consumer("carol", 1300, &created);
    REQUIRE(f.store().consumer_seen(g, *carol).is_ok());
    ConsumerGroup& other = f.create("other", {7, 7});
    Consumer* dave = other.ensure_consumer("dave", 1400, &created);
    other.pel.assign({7, 7}, dave, 1400, 1);
    StreamId dave_ids[] = {{7, 7}};
    REQUIRE(f.store().deliver(other, *dave, 1400, dave_ids, {}, false).is_ok());
    other.delete_consumer("dave");
    REQUIRE(f.store().consumer_delete(other, "dave").is_ok());
    // SETID
    other.last_delivered_id = {9, 0};
    other.entries_read = 4;
    REQUIRE(f.store().group_state(other, false).is_ok());
    f.flush();
    const std::string before = describe(f.groups);
    f.reopen();
    CHECK(describe(f.groups) == before);
    CHECK(f.groups.at("g")->pel.find({3, 0})->delivery_count == 5);
    CHECK(f.groups.at("other")->pel.empty());
  }

  TEST_CASE("a destroyed group stays destroyed, and a re-created one starts empty") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    f.deliver(g, "alice", {{1, 0}}, 10);
    f.groups.erase("g");
    REQUIRE(f.store().group_destroy("g").is_ok());
    f.create("g", {5, 0});
    f.flush();
    f.reopen();
    REQUIRE(f.groups.count("g") == 1);
    CHECK(f.groups.at("g")->pel.empty());
    CHECK(f.groups.at("g")->consumers.empty());
    CHECK(f.groups.at("g")->last_delivered_id == StreamId{5, 0});
  }

  TEST_CASE("a snapshot replaces the journal and later records replay on top of it") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    for (uint64_t i = 1; i <= 1000; ++i) f.deliver(g, "c" + std::to_string(i % 7), {{i, 0}}, 5);
    REQUIRE(f.journal->write_snapshot(GroupStore::snapshot_frames(f.groups)).is_ok());
    CHECK(f.journal->journal_bytes() == 0);
    f.deliver(g, "late", {{2000, 0}}, 6);
    f.flush();
    const std::string before = describe(f.groups);
    f.reopen();
    CHECK(describe(f.groups) == before);
    CHECK(f.groups.at("g")->pel.size() == 1001);
  }

  TEST_CASE("a torn journal tail is cut at every byte offset, leaving the records before it") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    f.deliver(g, "alice", {{1, 0}}, 10);
    f.flush();
    const std::string prefix_state = describe(f.groups);
    const uint64_t prefix_size = file_size(f.journal_path());
    f.deliver(g, "bob", {{2, 0}, {3, 0}}, 20);
    f.flush();
    const uint64_t full_size = file_size(f.journal_path());
    REQUIRE(full_size > prefix_size);
    const std::string saved = f.dir.sub("saved");
    f.journal.reset();
    storage::testing::copy_file(f.journal_path(), saved);
    for (uint64_t cut = prefix_size; cut < full_size; ++cut) {
      storage::testing::copy_file(saved, f.journal_path());
      truncate_to(f.journal_path(), cut);
      GroupMap groups;
      uint64_t truncated = 0;
      auto j = GroupStore::open(f.dir.path(), &groups, &truncated);
      REQUIRE(j.is_ok());
      CHECK(describe(groups) == prefix_state);
      CHECK(truncated == cut - prefix_size);
      CHECK(file_size(f.journal_path()) == prefix_size);
    }
  }

  TEST_CASE("a corrupt record in the middle of the journal is reported") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    f.flush();
    const uint64_t first_end = file_size(f.journal_path());
    f.deliver(g, "alice", {{1, 0}}, 10);
    f.deliver(g, "bob", {{2, 0}}, 10);
    f.flush();
    f.journal.reset();
    storage::testing::corrupt_byte(f.journal_path(), first_end + 20);
    GroupMap groups;
    auto j = GroupStore::open(f.dir.path(), &groups);
    CHECK_FALSE(j.is_ok());
  }

  TEST_CASE("a snapshot of a large PEL round-trips with owners, times and counts") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    bool created = false;
    std::vector<Consumer*> cs;
    for (int i = 0; i < 10; ++i)
      cs.push_back(g.ensure_consumer("w" + std::to_string(i), i, &created));
    for (uint64_t i = 0; i < 200000; ++i) g.pel.assign({i, 1}, cs[i % 10], int64_t(i), i % 5 + 1);
    REQUIRE(f.journal->write_snapshot(GroupStore::snapshot_frames(f.groups)).is_ok());
    const std::string before = describe(f.groups);
    f.reopen();
    CHECK(describe(f.groups) == before);
  }

  TEST_CASE("a dead letter's intent replays until a later record confirms its DLQ append") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    g.max_deliveries = 1;
    g.dlq_key = "dlq";
    REQUIRE(f.store().group_dlq(g).is_ok());
    f.deliver(g, "alice", {{1, 0}, {2, 0}}, 10);
    auto dead_letter = [&](StreamId id, StreamId dlq_id) {
      g.pel.remove(id);
      ++g.dead_letters;
      DeadLetterIntent in{g.dead_letters, "dlq", dlq_id, {"stream", "s", "id", id.to_string()}};
      g.dlq_last_id = dlq_id;
      g.unconfirmed_dead_letters.push_back(in);
      StreamId ids[] = {id};
      REQUIRE(f.store().dead_letter(g, ids, &g.unconfirmed_dead_letters.back()).is_ok());
    };
    dead_letter({1, 0}, {100, 0});
    f.flush();
    f.reopen();
    {
      ConsumerGroup& r = *f.groups.at("g");
      CHECK(r.pel.find({1, 0}) == nullptr);
      CHECK(r.dead_letters == 1);
      CHECK(r.dlq_last_id == StreamId{100, 0});
      REQUIRE(r.unconfirmed_dead_letters.size() == 1);
      const DeadLetterIntent& in = r.unconfirmed_dead_letters.front();
      CHECK(in.seq == 1);
      CHECK(in.dlq_key == "dlq");
      CHECK(in.dlq_id == StreamId{100, 0});
      CHECK(in.fields == std::vector<std::string>{"stream", "s", "id", "1-0"});
    }
    // The first append became durable (a sync completed), then a second dead letter: its record
    // carries the confirmation, so only the second intent is left after a replay.
    ConsumerGroup& g2 = *f.groups.at("g");
    g2.confirm_dead_letters(1);
    CHECK(g2.unconfirmed_dead_letters.empty());
    g2.pel.remove({2, 0});
    ++g2.dead_letters;
    g2.unconfirmed_dead_letters.push_back({g2.dead_letters, "dlq", {101, 0}, {"k", "v"}});
    StreamId ids[] = {{2, 0}};
    REQUIRE(f.store().dead_letter(g2, ids, &g2.unconfirmed_dead_letters.back()).is_ok());
    f.flush();
    f.reopen();
    ConsumerGroup& r = *f.groups.at("g");
    CHECK(r.dead_letters == 2);
    CHECK(r.dead_letters_confirmed == 1);
    CHECK(r.dlq_last_id == StreamId{101, 0});
    REQUIRE(r.unconfirmed_dead_letters.size() == 1);
    CHECK(r.unconfirmed_dead_letters.front().seq == 2);
    CHECK(r.pel.empty());
  }

  TEST_CASE("a snapshot keeps the unconfirmed dead-letter intents and the last DLQ ID") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    g.max_deliveries = 3;
    g.dlq_key = "dlq";
    REQUIRE(f.store().group_dlq(g).is_ok());
    g.dead_letters = 5;
    g.dead_letters_confirmed = 4;
    g.dlq_last_id = {200, 1};
    g.unconfirmed_dead_letters.push_back({5, "dlq", {200, 1}, {"stream", "s", "f", "v"}});
    REQUIRE(f.journal->write_snapshot(GroupStore::snapshot_frames(f.groups)).is_ok());
    f.reopen();
    ConsumerGroup& r = *f.groups.at("g");
    CHECK(r.dead_letters == 5);
    CHECK(r.dead_letters_confirmed == 4);
    CHECK(r.dlq_last_id == StreamId{200, 1});
    REQUIRE(r.unconfirmed_dead_letters.size() == 1);
    CHECK(r.unconfirmed_dead_letters.front().dlq_id == StreamId{200, 1});
    CHECK(r.unconfirmed_dead_letters.front().fields.size() == 4);
  }

  TEST_CASE("a dead-letter record without an intent (older journals) still replays") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    f.deliver(g, "alice", {{1, 0}}, 10);
    g.pel.remove({1, 0});
    g.dead_letters = 1;
    StreamId ids[] = {{1, 0}};
    REQUIRE(f.store().dead_letter(g, ids).is_ok());
    f.flush();
    f.reopen();
    ConsumerGroup& r = *f.groups.at("g");
    CHECK(r.pel.empty());
    CHECK(r.dead_letters == 1);
    CHECK(r.unconfirmed_dead_letters.empty());
    CHECK(r.dlq_last_id == StreamId{});
  }

  TEST_CASE("changing the dead-letter stream forgets the last DLQ ID of the old one") {
    Fixture f;
    ConsumerGroup& g = f.create("g", {0, 0});
    g.max_deliveries = 1;
    g.dlq_key = "a";
    REQUIRE(f.store().group_dlq(g).is_ok());
    g.dead_letters = 1;
    g.unconfirmed_dead_letters.push_back({1, "a", {50, 0}, {"f", "v"}});
    StreamId ids[] = {{1, 0}};
    REQUIRE(f.store().dead_letter(g, ids, &g.unconfirmed_dead_letters.back()).is_ok());
    g.dlq_key = "b";
    REQUIRE(f.store().group_dlq(g).is_ok());
    f.flush();
    f.reopen();
    ConsumerGroup& r = *f.groups.at("g");
    CHECK(r.dlq_key == "b");
    CHECK(r.dlq_last_id == StreamId{});
    // The intent still names its own DLQ, so recovery redoes it there if it was lost.
    REQUIRE(r.unconfirmed_dead_letters.size() == 1);
    CHECK(r.unconfirmed_dead_letters.front().dlq_key == "a");
  }

  TEST_CASE("no group files exist until a group is created") {
    TempDir dir;
    CHECK_FALSE(GroupStore::exists(dir.path()));
    GroupMap groups;
    auto j = GroupStore::open(dir.path(), &groups);
    REQUIRE(j.is_ok());
    CHECK(GroupStore::exists(dir.path()));
  }
}

}  // namespace
}  // namespace sluice::stream
