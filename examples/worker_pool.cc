// worker_pool: a producer XADDs jobs; a pool of GroupConsumers processes them. One worker can
// be told to crash mid-batch (its unacknowledged jobs are taken over by the others through
// XAUTOCLAIM) and some jobs can be poison (always failing: they end in the dead-letter stream).
// The summary proves every job was processed or dead-lettered and nothing is left pending.
#include <uv.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/consumer_loop.h"
#include "client/stream_api.h"
#include "examples/example_args.h"

using namespace sluice::client;  // NOLINT: an example reads better without the prefixes

int main(int argc, char** argv) {
  sluice::examples::Args args(argc, argv,
                              "worker_pool: jobs on a stream, a consumer group of workers, "
                              "crash takeover and a dead-letter stream.");
  ConnectionOptions conn;
  conn.host = args.str("host", "127.0.0.1", "server host");
  conn.port = static_cast<int>(args.num("port", 6379, "server port"));
  const int64_t jobs = args.num("jobs", 200, "jobs to produce");
  const int workers = static_cast<int>(args.num("workers", 4, "workers in the group"));
  const int crash_worker =
      static_cast<int>(args.num("crash-worker", 1, "worker that crashes (-1: none)"));
  const int64_t crash_after = args.num("crash-after", 5, "jobs the crashing worker handles first");
  const int64_t poison = args.num("poison", 1, "jobs that always fail");
  GroupConsumerOptions group;
  group.stream = args.str("stream", "worker_pool:" + std::to_string(uv_hrtime() / 1000000),
                          "job stream (a fresh name per run by default)");
  group.group = args.str("group", "workers", "consumer group");
  group.max_deliveries = args.num("max-deliveries", 3, "deliveries before dead-lettering");
  group.min_idle_ms = args.num("min-idle-ms", 500, "reclaim jobs idle longer than this");
  group.reclaim_interval_ms =
      static_cast<uint64_t>(args.num("reclaim-interval-ms", 200, "how often to XAUTOCLAIM"));
  group.block_ms = static_cast<uint64_t>(args.num("block-ms", 500, "XREADGROUP BLOCK"));
  group.count = args.num("count", 10, "entries per read");
  const int64_t timeout_ms = args.num("timeout-ms", 60000, "give up after this long");
  args.finish();

  uv_loop_t* loop = uv_default_loop();
  auto producer = std::make_unique<Connection>(loop, conn);
  Streams streams(*producer);

  std::set<int64_t> processed;  // unique job numbers handled successfully
  int64_t handled_total = 0;
  std::vector<std::unique_ptr<GroupConsumer>> pool;
  for (int w = 0; w < workers; ++w) {
    GroupConsumerOptions o = group;
    o.consumer = "worker-" + std::to_string(w);
    const bool crashes = w == crash_worker;
    auto handler = [&, crashes, w](const StreamEntry& e, const Delivery&) {
      if (e.field("poison") != nullptr) return false;  // retried, then dead-lettered
      GroupConsumer& me = *pool[static_cast<size_t>(w)];
      ++handled_total;
      if (crashes && me.stats().handled > static_cast<uint64_t>(crash_after)) {
        std::printf("%s: crashing after %lld jobs, before acking its batch\n",
                    me.options().consumer.c_str(), static_cast<long long>(crash_after));
        me.abort();
        return true;
      }
      processed.insert(std::stoll(*e.field("job")));
      return true;
    };
    pool.push_back(std::make_unique<GroupConsumer>(loop, conn, o, handler));
  }

  // Create the group before producing so the workers see every job.
  int produced = 0;
  bool producing_failed = false;
  streams.ensure_group(group.stream, group.group, "0", [&](Result<Unit> r) {
    if (!r) {
      std::fprintf(stderr, "XGROUP CREATE failed: %s\n", r.error().to_string().c_str());
      producing_failed = true;
      return;
    }
    for (int64_t j = 0; j < jobs; ++j) {
      Fields f{{"job", std::to_string(j)}};
      if (j < poison) f.emplace_back("poison", "1");
      streams.xadd(group.stream, f, {}, [&](Result<StreamId> id) {
        if (!id) {
          producing_failed = true;
          std::fprintf(stderr, "XADD failed: %s\n", id.error().to_string().c_str());
        }
        ++produced;
      });
    }
    for (auto& worker : pool) worker->start();
  });

  // Every 100 ms: done when every good job is processed, every poison job dead-lettered, and
  // the group's PEL is empty.
  struct Monitor {
    uv_timer_t timer;
    std::function<void()> tick;
  } monitor;
  uv_timer_init(loop, &monitor.timer);
  monitor.timer.data = &monitor;
  const uint64_t started = uv_now(loop);
  bool finished = false;
  bool ok = false;
  int64_t pending = -1;
  bool checking = false;
  int stopped = 0;
  auto finish = [&](bool success) {
    finished = true;
    ok = success;
    uv_timer_stop(&monitor.timer);
    for (auto& worker : pool) {
      worker->stop([&] { ++stopped; });
    }
  };
  monitor.tick = [&] {
    if (producing_failed) return finish(false);
    if (uv_now(loop) - started > static_cast<uint64_t>(timeout_ms)) return finish(false);
    uint64_t dead = 0;
    for (auto& worker : pool) dead += worker->stats().dead_lettered;
    const bool all_seen = produced == jobs &&
                          static_cast<int64_t>(processed.size()) == jobs - poison &&
                          static_cast<int64_t>(dead) == poison;
    if (!all_seen || checking) return;
    checking = true;
    streams.xpending(group.stream, group.group, [&](Result<PendingSummary> r) {
      checking = false;
      if (!r || finished) return;
      pending = r->count;
      if (pending == 0) finish(true);
    });
  };
  uv_timer_start(
      &monitor.timer, [](uv_timer_t* t) { static_cast<Monitor*>(t->data)->tick(); }, 100, 100);

  while (!finished || stopped < workers) uv_run(loop, UV_RUN_ONCE);

  uint64_t acked = 0, dead = 0, reclaimed = 0, crashed = 0;
  for (auto& worker : pool) {
    const ConsumerStats& s = worker->stats();
    std::printf("%-10s handled=%llu acked=%llu failed=%llu reclaimed=%llu dead_lettered=%llu%s\n",
                worker->options().consumer.c_str(), static_cast<unsigned long long>(s.handled),
                static_cast<unsigned long long>(s.acked), static_cast<unsigned long long>(s.failed),
                static_cast<unsigned long long>(s.reclaimed),
                static_cast<unsigned long long>(s.dead_lettered),
                worker->aborted() ? " (crashed)" : "");
    acked += s.acked;
    dead += s.dead_lettered;
    reclaimed += s.reclaimed;
    crashed += worker->aborted() ? 1 : 0;
  }
  std::printf("dead-letter stream: %s:dead\n", group.stream.c_str());
  std::printf(
      "SUMMARY %s jobs=%lld processed=%zu acked=%llu dead_lettered=%llu pending=%lld "
      "reclaimed=%llu redelivered=%lld crashed_workers=%llu\n",
      ok ? "ok" : "FAILED", static_cast<long long>(jobs), processed.size(),
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(dead),
      static_cast<long long>(pending), static_cast<unsigned long long>(reclaimed),
      static_cast<long long>(handled_total - static_cast<int64_t>(processed.size())),
      static_cast<unsigned long long>(crashed));

  pool.clear();
  producer.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&monitor.timer), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return ok ? 0 : 1;
}
