// notify_fanout: many subscribers on channels and patterns, one publisher. Each message carries
// its send time; the summary compares deliveries with what PUBLISH reported and prints the
// delivery latency percentiles.
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/subscriber.h"
#include "examples/example_args.h"

using namespace sluice::client;  // NOLINT: an example reads better without the prefixes

int main(int argc, char** argv) {
  sluice::examples::Args args(argc, argv,
                              "notify_fanout: PUBLISH to channels and patterns, count the "
                              "deliveries and measure their latency.");
  ConnectionOptions conn;
  conn.host = args.str("host", "127.0.0.1", "server host");
  conn.port = static_cast<int>(args.num("port", 6379, "server port"));
  const int subscribers = static_cast<int>(args.num("subscribers", 50, "channel subscribers"));
  const int pattern_subscribers =
      static_cast<int>(args.num("pattern-subscribers", 10, "subscribers to <prefix>.*"));
  const int channels = static_cast<int>(args.num("channels", 4, "channels"));
  const int64_t messages = args.num("messages", 1000, "messages to publish (round-robin)");
  const int64_t batch = args.num("batch", 50, "messages published per loop iteration");
  const std::string prefix =
      args.str("prefix", "fanout" + std::to_string(uv_hrtime() / 1000000), "channel prefix");
  const int64_t timeout_ms = args.num("timeout-ms", 60000, "give up after this long");
  args.finish();
  if (channels <= 0) return 2;

  uv_loop_t* loop = uv_default_loop();
  std::vector<uint64_t> latencies_ns;
  std::vector<std::unique_ptr<Subscriber>> subs;
  auto on_message = [&](const Message& m) {
    const uint64_t sent = std::stoull(m.payload.substr(0, m.payload.find(':')));
    latencies_ns.push_back(uv_hrtime() - sent);
  };
  // Channel subscribers spread over the channels; pattern subscribers see every channel.
  for (int i = 0; i < subscribers + pattern_subscribers; ++i) {
    subs.push_back(std::make_unique<Subscriber>(loop, conn));
    subs.back()->set_message_handler(on_message);
    if (i < subscribers) {
      subs.back()->subscribe({prefix + ".ch" + std::to_string(i % channels)});
    } else {
      subs.back()->psubscribe({prefix + ".*"});
    }
  }
  const uint64_t started = uv_now(loop);
  auto timed_out = [&] { return uv_now(loop) - started > static_cast<uint64_t>(timeout_ms); };
  auto all_confirmed = [&] {
    for (auto& s : subs) {
      if (s->confirmed() != 1) return false;
    }
    return true;
  };
  // A timer keeps the loop awake so the timeout checks run even when nothing arrives.
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 50, 50);
  while (!all_confirmed() && !timed_out()) uv_run(loop, UV_RUN_ONCE);
  std::printf("%zu subscribers confirmed (%d on channels, %d on %s.*)\n", subs.size(), subscribers,
              pattern_subscribers, prefix.c_str());

  auto publisher_owner = std::make_unique<Connection>(loop, conn);
  Connection& publisher = *publisher_owner;
  int64_t published = 0;
  int64_t replies = 0;
  int64_t receivers = 0;  // the sum of PUBLISH replies: what the server promised to deliver
  bool failed = false;
  while (replies < messages && !timed_out() && !failed) {
    for (int64_t i = 0; i < batch && published < messages; ++i, ++published) {
      const std::string channel = prefix + ".ch" + std::to_string(published % channels);
      publisher.command(
          {"PUBLISH", channel, std::to_string(uv_hrtime()) + ":" + std::to_string(published)},
          [&](Result<Value> r) {
            ++replies;
            if (!r) {
              std::fprintf(stderr, "PUBLISH: %s\n", r.error().to_string().c_str());
              failed = true;
              return;
            }
            receivers += r->integer;
          });
    }
    uv_run(loop, UV_RUN_ONCE);
  }
  while (static_cast<int64_t>(latencies_ns.size()) < receivers && !timed_out()) {
    uv_run(loop, UV_RUN_ONCE);
  }

  // What the subscriptions imply, independently of the server's count.
  int64_t expected = 0;
  for (int64_t m = 0; m < messages; ++m) {
    int64_t on_channel = 0;
    for (int i = 0; i < subscribers; ++i) on_channel += (i % channels) == (m % channels);
    expected += on_channel + pattern_subscribers;
  }
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto pct = [&](double p) -> unsigned long long {
    if (latencies_ns.empty()) return 0;
    size_t idx = static_cast<size_t>(p * static_cast<double>(latencies_ns.size() - 1));
    return latencies_ns[idx] / 1000;
  };
  const auto delivered = static_cast<int64_t>(latencies_ns.size());
  const bool ok = !failed && delivered == expected && receivers == expected;
  std::printf("PUBLISH reported %lld receivers in total\n", static_cast<long long>(receivers));
  std::printf(
      "SUMMARY %s published=%lld delivered=%lld expected=%lld p50_us=%llu p90_us=%llu "
      "p99_us=%llu max_us=%llu\n",
      ok ? "ok" : "FAILED", static_cast<long long>(published), static_cast<long long>(delivered),
      static_cast<long long>(expected), pct(0.50), pct(0.90), pct(0.99), pct(1.0));

  subs.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  publisher_owner.reset();
  uv_run(loop, UV_RUN_DEFAULT);  // lets every connection finish closing
  uv_loop_close(loop);
  return ok ? 0 : 1;
}
