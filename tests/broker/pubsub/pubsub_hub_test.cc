// PubSubHub: who receives a message, in which frame, how subscriptions are counted, and that a
// fan-out shares one buffer per protocol instead of copying per subscriber.
#include "broker/pubsub/pubsub_hub.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/broker.h"

namespace sluice::pubsub {
namespace {

struct RecordingHost : core::ClientHost {
  int ready = 0;
  void output_ready(core::Client&) override { ++ready; }
  void close_soon(core::Client&) override {}
  void unblocked(core::Client&) override {}
};

// Everything queued for a client, concatenated, and the queue emptied.
std::string drain(core::Client& c) {
  std::vector<iovec> iov;
  size_t n = c.out.releasable(0, &iov, 1024);
  std::string out;
  for (const auto& v : iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  c.out.consume(n);
  return out;
}

// The frames' addresses, to tell shared buffers from copies.
std::vector<const void*> frame_addresses(core::Client& c) {
  std::vector<iovec> iov;
  c.out.releasable(0, &iov, 1024);
  std::vector<const void*> out;
  for (const auto& v : iov) out.push_back(v.iov_base);
  return out;
}

struct Fixture {
  config::Config cfg;
  core::Broker broker{&cfg};
  PubSubHub hub{broker};
  RecordingHost host;
  std::vector<std::unique_ptr<core::Client>> clients;

  core::Client& client(int protocol = 2) {
    clients.push_back(std::make_unique<core::Client>(clients.size() + 1, &host));
    clients.back()->protocol = protocol;
    return *clients.back();
  }
};

}  // namespace

TEST_SUITE("pubsub.hub") {
  TEST_CASE("a channel subscriber receives a message array and publish counts it") {
    Fixture f;
    auto& c = f.client();
    CHECK(f.hub.subscribe(c, ChannelSpace::kGlobal, "news"));
    CHECK(f.hub.publish("news", "hello") == 1);
    CHECK(drain(c) == "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    CHECK(f.hub.publish("other", "x") == 0);
    CHECK(drain(c).empty());
    CHECK(f.host.ready == 1);
  }

  TEST_CASE("a RESP3 subscriber receives a push frame") {
    Fixture f;
    auto& c = f.client(3);
    f.hub.subscribe(c, ChannelSpace::kGlobal, "news");
    f.hub.publish("news", "hi");
    CHECK(drain(c) == ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
  }

  TEST_CASE("a pattern subscriber receives pmessage with the pattern and the channel") {
    Fixture f;
    auto& c = f.client();
    CHECK(f.hub.psubscribe(c, "news.*"));
    CHECK(f.hub.publish("news.art", "m") == 1);
    CHECK(drain(c) == "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$8\r\nnews.art\r\n$1\r\nm\r\n");
    CHECK(f.hub.publish("sport", "m") == 0);
  }

  TEST_CASE("a client on both a channel and a matching pattern gets and counts two messages") {
    Fixture f;
    auto& c = f.client();
    f.hub.subscribe(c, ChannelSpace::kGlobal, "a.b");
    f.hub.psubscribe(c, "a.*");
    f.hub.psubscribe(c, "*");
    CHECK(f.hub.publish("a.b", "x") == 3);
    std::string got = drain(c);
    CHECK(got.rfind("*3\r\n$7\r\nmessage", 0) == 0);  // the channel message comes first
    CHECK(got.find("pmessage") != std::string::npos);
  }

  TEST_CASE("shard channels are their own namespace, delivered as smessage") {
    Fixture f;
    auto& s = f.client();
    auto& g = f.client();
    f.hub.subscribe(s, ChannelSpace::kShard, "orders");
    f.hub.subscribe(g, ChannelSpace::kGlobal, "orders");
    f.hub.psubscribe(g, "*");
    CHECK(f.hub.spublish("orders", "1") == 1);
    CHECK(drain(s) == "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\n1\r\n");
    CHECK(drain(g).empty());
    CHECK(f.hub.publish("orders", "2") == 2);
    CHECK(drain(s).empty());
  }

  TEST_CASE("every subscriber of one protocol shares the same frame buffer") {
    Fixture f;
    std::vector<core::Client*> subs;
    for (int i = 0; i < 10; ++i) {
      subs.push_back(&f.client(i % 2 == 0 ? 2 : 3));
      f.hub.subscribe(*subs.back(), ChannelSpace::kGlobal, "fan");
    }
    CHECK(f.hub.publish("fan", "payload") == 10);
    const void* resp2 = frame_addresses(*subs[0]).at(0);
    const void* resp3 = frame_addresses(*subs[1]).at(0);
    CHECK(resp2 != resp3);
    for (size_t i = 0; i < subs.size(); ++i) {
      CHECK(frame_addresses(*subs[i]).at(0) == (i % 2 == 0 ? resp2 : resp3));
    }
  }

  TEST_CASE("subscribers receive in subscription order and messages keep publish order") {
    Fixture f;
    auto& a = f.client();
    auto& b = f.client();
    f.hub.subscribe(b, ChannelSpace::kGlobal, "c");
    f.hub.subscribe(a, ChannelSpace::kGlobal, "c");
    for (int i = 0; i < 5; ++i) f.hub.publish("c", std::to_string(i));
    std::string expect;
    for (int i = 0; i < 5; ++i) {
      expect += "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\n" + std::to_string(i) + "\r\n";
    }
    CHECK(drain(a) == expect);
    CHECK(drain(b) == expect);
  }

  TEST_CASE("subscribing twice is a no-op and unsubscribing drops the channel when empty") {
    Fixture f;
    auto& a = f.client();
    auto& b = f.client();
    CHECK(f.hub.subscribe(a, ChannelSpace::kGlobal, "x"));
    CHECK_FALSE(f.hub.subscribe(a, ChannelSpace::kGlobal, "x"));
    f.hub.subscribe(b, ChannelSpace::kGlobal, "x");
    CHECK(f.hub.channel_count() == 1);
    CHECK(f.hub.subscriber_count(ChannelSpace::kGlobal, "x") == 2);
    CHECK(f.hub.unsubscribe(a, ChannelSpace::kGlobal, "x"));
    CHECK_FALSE(f.hub.unsubscribe(a, ChannelSpace::kGlobal, "x"));
    CHECK(f.hub.publish("x", "m") == 1);
    f.hub.unsubscribe(b, ChannelSpace::kGlobal, "x");
    CHECK(f.hub.channel_count() == 0);
    CHECK(f.hub.subscriber_count(ChannelSpace::kGlobal, "x") == 0);
  }

  TEST_CASE("pattern_count counts distinct patterns, not subscriptions") {
    Fixture f;
    auto& a = f.client();
    auto& b = f.client();
    f.hub.psubscribe(a, "p.*");
    f.hub.psubscribe(b, "p.*");
    f.hub.psubscribe(b, "q.*");
    CHECK(f.hub.pattern_count() == 2);
    f.hub.punsubscribe(a, "p.*");
    CHECK(f.hub.pattern_count() == 2);
    f.hub.punsubscribe(b, "p.*");
    CHECK(f.hub.pattern_count() == 1);
    CHECK(f.hub.publish("p.1", "m") == 0);
    CHECK(f.hub.publish("q.1", "m") == 1);
  }

  TEST_CASE("remove_client drops every kind of subscription and the client's own sets") {
    Fixture f;
    auto& a = f.client();
    auto& b = f.client();
    f.hub.subscribe(a, ChannelSpace::kGlobal, "c1");
    f.hub.subscribe(a, ChannelSpace::kGlobal, "c2");
    f.hub.subscribe(a, ChannelSpace::kShard, "s1");
    f.hub.psubscribe(a, "p*");
    f.hub.subscribe(b, ChannelSpace::kGlobal, "c1");
    f.hub.remove_client(a);
    CHECK_FALSE(a.is_pubsub_client());
    CHECK(f.hub.channel_count() == 1);
    CHECK(f.hub.shard_channel_count() == 0);
    CHECK(f.hub.pattern_count() == 0);
    CHECK(f.hub.publish("c1", "m") == 1);
    CHECK(drain(a).empty());
  }

  TEST_CASE("channels lists active channels, filtered by a glob when one is given") {
    Fixture f;
    auto& a = f.client();
    f.hub.subscribe(a, ChannelSpace::kGlobal, "news.a");
    f.hub.subscribe(a, ChannelSpace::kGlobal, "news.b");
    f.hub.subscribe(a, ChannelSpace::kGlobal, "");
    f.hub.subscribe(a, ChannelSpace::kShard, "news.s");
    std::string_view pat = "news.*";
    auto all = f.hub.channels(ChannelSpace::kGlobal, nullptr);
    auto some = f.hub.channels(ChannelSpace::kGlobal, &pat);
    CHECK(all.size() == 3);
    CHECK(some.size() == 2);
    CHECK(f.hub.channels(ChannelSpace::kShard, &pat).size() == 1);
  }

  TEST_CASE("payloads are binary safe") {
    Fixture f;
    auto& a = f.client();
    std::string chan("c\0h", 3);
    std::string msg("\r\n\0x", 4);
    f.hub.subscribe(a, ChannelSpace::kGlobal, chan);
    CHECK(f.hub.publish(chan, msg) == 1);
    CHECK(drain(a) == std::string("*3\r\n$7\r\nmessage\r\n$3\r\nc\0h\r\n$4\r\n\r\n\0x\r\n", 36));
  }
}

}  // namespace sluice::pubsub
