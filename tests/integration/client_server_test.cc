// The client library against a real server process (sluice-server, or redis-server with
// SLUICE_TEST_REFERENCE=redis): typed stream helpers, blocking reads, reconnect after the
// server is killed and restarted, resubscribe, and the group consumer's ack, takeover and
// dead-letter paths. Every test runs under RESP2 and RESP3.
#include <doctest/doctest.h>
#include <uv.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/consumer_loop.h"
#include "client/stream_api.h"
#include "client/subscriber.h"
#include "client/sync_client.h"
#include "tests/client/server_process.h"

namespace sluice::client {
namespace {

using testing::ServerProcess;

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  uv_loop_t* get() { return &loop; }
  template <typename Pred>
  bool run_until(Pred pred) {
    while (!pred()) {
      if (uv_run(&loop, UV_RUN_ONCE) == 0 && !pred()) return false;
    }
    return true;
  }
};

ConnectionOptions opts(const ServerProcess& server, int protocol) {
  ConnectionOptions o;
  o.port = server.port();
  o.protocol = protocol;
  o.reconnect_initial_ms = 10;
  o.reconnect_max_ms = 200;
  o.command_timeout_ms = 20000;
  return o;
}

template <typename F>
void both_protocols(F f) {
  for (int protocol : {2, 3}) {
    CAPTURE(protocol);
    f(protocol);
  }
}

}  // namespace

TEST_SUITE("integration.client") {
  TEST_CASE("the handshake negotiates the requested protocol and typed XADD/XRANGE work") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      SyncClient c(opts(server, protocol));
      const std::string key = "t1:" + std::to_string(protocol);
      for (int i = 1; i <= 5; ++i) {
        XAddOptions o;
        o.id = std::to_string(i) + "-0";
        o.trim = TrimOptions::maxlen(3);
        auto id = c.call(cmd::xadd(key, {{"n", std::to_string(i)}}, o), parse::id);
        REQUIRE(id.ok());
        CHECK(*id == StreamId{static_cast<uint64_t>(i), 0});
      }
      CHECK(c.connection().protocol() == protocol);
      auto len = c.call(cmd::xlen(key), parse::integer);
      REQUIRE(len.ok());
      CHECK(*len == 3);
      auto entries = c.call(cmd::xrevrange(key, "+", "-", 2), parse::entries);
      REQUIRE(entries.ok());
      REQUIRE(entries->size() == 2);
      CHECK(*(*entries)[0].field("n") == "5");
      auto small = c.call(cmd::xadd(key, {{"n", "x"}}, XAddOptions{"1-0", false, {}}), parse::id);
      REQUIRE_FALSE(small.ok());
      CHECK(small.error().kind() == ErrorKind::kReply);
      CHECK(small.error().message() ==
            "ERR The ID specified in XADD is equal or smaller than the target stream top item");
      auto info = c.call(cmd::xinfo_stream(key), parse::info);
      REQUIRE(info.ok());
      CHECK(info->integer("length") == 3);
    });
  }

  TEST_CASE("paging walks a stream forwards and backwards without gaps or repeats") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      const std::string key = "pages:" + std::to_string(protocol);
      {
        SyncClient c(opts(server, protocol));
        std::vector<std::vector<std::string>> adds;
        for (int i = 1; i <= 25; ++i) adds.push_back(cmd::xadd(key, {{"i", std::to_string(i)}}));
        for (auto& r : c.pipeline(std::move(adds))) REQUIRE(r.ok());
      }
      Connection conn(loop.get(), opts(server, protocol));
      Streams streams(conn);
      std::vector<std::string> forward;
      std::vector<std::string> backward;
      int pages = 0;
      int done = 0;
      auto collect = [&](std::vector<std::string>* out) {
        return [&pages, out](const std::vector<StreamEntry>& page) {
          ++pages;
          for (const auto& e : page) out->push_back(*e.field("i"));
          return true;
        };
      };
      auto finished = [&](Result<int64_t> r) {
        REQUIRE(r.ok());
        CHECK(*r == 25);
        ++done;
      };
      streams.page(key, "-", "+", 10, false, collect(&forward), finished);
      streams.page(key, "-", "+", 10, true, collect(&backward), finished);
      REQUIRE(loop.run_until([&] { return done == 2; }));
      CHECK(pages == 6);
      REQUIRE(forward.size() == 25);
      REQUIRE(backward.size() == 25);
      for (int i = 0; i < 25; ++i) {
        CHECK(forward[static_cast<size_t>(i)] == std::to_string(i + 1));
        CHECK(backward[static_cast<size_t>(i)] == std::to_string(25 - i));
      }
    });
  }

  TEST_CASE("XREAD BLOCK from $ wakes on an XADD from another connection") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      const std::string key = "block:" + std::to_string(protocol);
      Connection reader(loop.get(), opts(server, protocol));
      Connection writer(loop.get(), opts(server, protocol));
      Streams rs(reader);
      Streams ws(writer);
      int woke = 0;
      int added = 0;
      ReadOptions ro;
      ro.block_ms = 0;
      rs.xread({{key, "$"}}, ro, [&](Result<std::vector<StreamBatch>> r) {
        REQUIRE(r.ok());
        REQUIRE(r->size() == 1);
        CHECK((*r)[0].stream == key);
        REQUIRE((*r)[0].entries.size() == 1);
        CHECK(*(*r)[0].entries[0].field("msg") == "hello");
        ++woke;
      });
      // PING on the reader's own pipeline would queue behind the block; ask the writer how
      // many clients are blocked instead, and add once the reader is.
      std::function<void()> add_when_blocked = [&] {
        writer.command({"INFO", "clients"}, [&](Result<Value> r) {
          REQUIRE(r.ok());
          if (r->str.find("blocked_clients:1") == std::string::npos) {
            add_when_blocked();
            return;
          }
          ws.xadd(key, {{"msg", "hello"}}, {}, [&](Result<StreamId> id) {
            REQUIRE(id.ok());
            ++added;
          });
        });
      };
      add_when_blocked();
      REQUIRE(loop.run_until([&] { return woke == 1 && added == 1; }));
    });
  }

  TEST_CASE("commands issued while the server is down complete after it restarts") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      Connection conn(loop.get(), opts(server, protocol));
      int disconnects = 0;
      conn.set_disconnect_handler([&](const Error&) { ++disconnects; });
      int first = 0;
      conn.command({"PING"}, [&](Result<Value> r) {
        REQUIRE(r.ok());
        ++first;
      });
      REQUIRE(loop.run_until([&] { return first == 1; }));
      server.kill9();
      REQUIRE(loop.run_until([&] { return disconnects >= 1; }));
      std::vector<std::string> replies;
      for (int i = 0; i < 5; ++i) {
        conn.command({"ECHO", std::to_string(i)}, [&](Result<Value> r) {
          REQUIRE(r.ok());
          replies.push_back(r->str);
        });
      }
      // Let a few reconnect attempts fail against the dead port before the server returns.
      REQUIRE(loop.run_until([&] { return disconnects >= 3; }));
      CHECK(replies.empty());
      server.start();
      REQUIRE(loop.run_until([&] { return replies.size() == 5; }));
      CHECK(replies == std::vector<std::string>{"0", "1", "2", "3", "4"});
      CHECK(conn.connects() == 2);
      CHECK(conn.protocol() == protocol);
    });
  }

  TEST_CASE("a subscriber gets its channels and patterns back after the server restarts") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      const std::string p = "sub" + std::to_string(protocol) + ".";
      Subscriber sub(loop.get(), opts(server, protocol));
      std::vector<std::string> got;
      sub.set_message_handler([&](const Message& m) {
        got.push_back(m.channel + "=" + m.payload +
                      (m.kind == Message::Kind::kPatternMessage ? " via " + m.pattern : ""));
      });
      sub.subscribe({p + "news"});
      sub.psubscribe({p + "alerts.*"});
      REQUIRE(loop.run_until([&] { return sub.confirmed() == 2; }));
      auto publish = [&](const std::string& channel, const std::string& msg) {
        SyncClient pub(opts(server, protocol));
        auto n = pub.call({"PUBLISH", channel, msg}, parse::integer);
        REQUIRE(n.ok());
        CHECK(*n == 1);
      };
      publish(p + "news", "one");
      publish(p + "alerts.fire", "two");
      REQUIRE(loop.run_until([&] { return got.size() == 2; }));
      server.kill9();
      server.start();
      REQUIRE(loop.run_until([&] { return sub.resubscriptions() == 1 && sub.confirmed() == 2; }));
      publish(p + "news", "three");
      publish(p + "alerts.flood", "four");
      REQUIRE(loop.run_until([&] { return got.size() == 4; }));
      CHECK(got == std::vector<std::string>{
                       p + "news=one", p + "alerts.fire=two via " + p + "alerts.*",
                       p + "news=three", p + "alerts.flood=four via " + p + "alerts.*"});
      CHECK(sub.messages() == 4);
    });
  }

  TEST_CASE("XPENDING, XCLAIM, XAUTOCLAIM and XINFO report a group's state") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      SyncClient c(opts(server, protocol));
      const std::string key = "pel:" + std::to_string(protocol);
      REQUIRE(c.call(cmd::xgroup_create(key, "g", "0"), parse::ok).ok());
      auto busy = c.call(cmd::xgroup_create(key, "g", "0"), parse::ok);
      REQUIRE_FALSE(busy.ok());
      CHECK(busy.error().is_reply("BUSYGROUP"));
      for (int i = 1; i <= 3; ++i) {
        REQUIRE(c.call(cmd::xadd(key, {{"i", std::to_string(i)}},
                                 {std::to_string(i) + "-0", false, {}}),
                       parse::id)
                    .ok());
      }
      GroupReadOptions ro;
      ro.count = 10;
      auto read = c.call(cmd::xreadgroup("g", "alice", {{key, ">"}}, ro), parse::read);
      REQUIRE(read.ok());
      REQUIRE((*read)[0].entries.size() == 3);
      auto summary = c.call(cmd::xpending(key, "g"), parse::pending_summary);
      REQUIRE(summary.ok());
      CHECK(summary->count == 3);
      CHECK(*summary->smallest == StreamId{1, 0});
      CHECK(summary->consumers == std::vector<std::pair<std::string, int64_t>>{{"alice", 3}});
      auto claimed = c.call(cmd::xclaim(key, "g", "bob", 0, {{1, 0}}), parse::entries);
      REQUIRE(claimed.ok());
      REQUIRE(claimed->size() == 1);
      CHECK(*(*claimed)[0].field("i") == "1");
      auto rows = c.call(cmd::xpending(key, "g", PendingQuery{}), parse::pending_entries);
      REQUIRE(rows.ok());
      REQUIRE(rows->size() == 3);
      CHECK((*rows)[0].consumer == "bob");
      CHECK((*rows)[0].delivery_count == 2);
      REQUIRE(c.call(cmd::xdel(key, {{3, 0}}), parse::integer).ok());
      auto auto_claimed =
          c.call(cmd::xautoclaim(key, "g", "carol", 0, "0-0", 10), parse::autoclaim);
      REQUIRE(auto_claimed.ok());
      CHECK(auto_claimed->entries.size() == 2);
      CHECK(auto_claimed->deleted == std::vector<StreamId>{{3, 0}});
      auto acked = c.call(cmd::xack(key, "g", {{1, 0}, {2, 0}}), parse::integer);
      REQUIRE(acked.ok());
      CHECK(*acked == 2);
      auto groups = c.call(cmd::xinfo_groups(key), parse::info_list);
      REQUIRE(groups.ok());
      REQUIRE(groups->size() == 1);
      CHECK((*groups)[0].text("name") == "g");
      CHECK((*groups)[0].integer("pending") == 0);
      auto consumers = c.call(cmd::xinfo_consumers(key, "g"), parse::info_list);
      REQUIRE(consumers.ok());
      CHECK(consumers->size() == 3);
    });
  }

  TEST_CASE("a group consumer acks what it handles and dead-letters a poison entry") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      const std::string key = "jobs:" + std::to_string(protocol);
      {
        SyncClient c(opts(server, protocol));
        for (int i = 0; i < 20; ++i) {
          REQUIRE(c.call(cmd::xadd(key, {{"job", std::to_string(i)}}), parse::id).ok());
        }
      }
      GroupConsumerOptions o;
      o.stream = key;
      o.group = "workers";
      o.consumer = "w1";
      o.count = 5;
      o.block_ms = 100;
      o.min_idle_ms = 20;
      o.reclaim_interval_ms = 20;
      o.max_deliveries = 3;
      std::set<std::string> done;
      int poison_tries = 0;
      GroupConsumer consumer(loop.get(), opts(server, protocol), o,
                             [&](const StreamEntry& e, const Delivery& d) {
                               if (*e.field("job") == "7") {
                                 ++poison_tries;
                                 CHECK(d.delivery_count == poison_tries);
                                 return false;
                               }
                               done.insert(*e.field("job"));
                               return true;
                             });
      consumer.start();
      REQUIRE(loop.run_until([&] { return consumer.stats().dead_lettered == 1; }));
      bool stopped = false;
      consumer.stop([&] { stopped = true; });
      REQUIRE(loop.run_until([&] { return stopped; }));
      CHECK(done.size() == 19);
      CHECK(poison_tries == 3);
      CHECK(consumer.stats().acked == 19);
      CHECK(consumer.stats().failed == 3);
      SyncClient c(opts(server, protocol));
      auto pending = c.call(cmd::xpending(key, "workers"), parse::pending_summary);
      REQUIRE(pending.ok());
      CHECK(pending->count == 0);
      auto dead = c.call(cmd::xrange(key + ":dead", "-", "+"), parse::entries);
      REQUIRE(dead.ok());
      REQUIRE(dead->size() == 1);
      const StreamEntry& d = (*dead)[0];
      CHECK(*d.field("origin-stream") == key);
      CHECK(*d.field("group") == "workers");
      CHECK(*d.field("delivery-count") == "4");
      CHECK(*d.field("job") == "7");
      auto origin =
          c.call(cmd::xrange(key, *d.field("origin-id"), *d.field("origin-id")), parse::entries);
      REQUIRE(origin.ok());
      REQUIRE(origin->size() == 1);
      CHECK(*(*origin)[0].field("job") == "7");
    });
  }

  TEST_CASE("entries a crashed consumer held are taken over by another one") {
    ServerProcess server;
    both_protocols([&](int protocol) {
      Loop loop;
      const std::string key = "takeover:" + std::to_string(protocol);
      {
        SyncClient c(opts(server, protocol));
        for (int i = 0; i < 10; ++i) {
          REQUIRE(c.call(cmd::xadd(key, {{"job", std::to_string(i)}}), parse::id).ok());
        }
      }
      GroupConsumerOptions o;
      o.stream = key;
      o.group = "g";
      o.count = 10;
      o.block_ms = 50;
      o.min_idle_ms = 30;
      o.reclaim_interval_ms = 30;
      std::multiset<std::string> handled;
      std::unique_ptr<GroupConsumer> crasher;
      o.consumer = "crasher";
      crasher = std::make_unique<GroupConsumer>(
          loop.get(), opts(server, protocol), o, [&](const StreamEntry& e, const Delivery&) {
            handled.insert(*e.field("job"));
            if (handled.size() == 3) crasher->abort();  // dies before its batch is acked
            return true;
          });
      crasher->start();
      REQUIRE(loop.run_until([&] { return crasher->aborted(); }));
      o.consumer = "survivor";
      int reclaimed_deliveries = 0;
      GroupConsumer survivor(loop.get(), opts(server, protocol), o,
                             [&](const StreamEntry& e, const Delivery& d) {
                               handled.insert(*e.field("job"));
                               if (d.reclaimed) ++reclaimed_deliveries;
                               return true;
                             });
      survivor.start();
      REQUIRE(loop.run_until([&] { return survivor.stats().acked == 10; }));
      bool stopped = false;
      survivor.stop([&] { stopped = true; });
      REQUIRE(loop.run_until([&] { return stopped; }));
      // At-least-once: the three the crasher handled but never acked run again.
      CHECK(reclaimed_deliveries == 10);
      CHECK(survivor.stats().reclaimed == 10);
      CHECK(crasher->stats().acked == 0);
      CHECK(handled.size() == 13);
      std::set<std::string> unique(handled.begin(), handled.end());
      CHECK(unique.size() == 10);
      SyncClient c(opts(server, protocol));
      auto pending = c.call(cmd::xpending(key, "g"), parse::pending_summary);
      REQUIRE(pending.ok());
      CHECK(pending->count == 0);
    });
  }
}

}  // namespace sluice::client
