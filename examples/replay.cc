// replay: re-reads a stream from an ID or a point in time, page by page with XRANGE, and keeps
// going through a server restart: the connection reconnects and the replay resumes after the
// last ID it printed, so no entry is skipped or repeated. --seed writes numbered entries first
// so the summary can prove the replay has no gaps.
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/stream_api.h"
#include "examples/example_args.h"

using namespace sluice::client;  // NOLINT: an example reads better without the prefixes

namespace {

// "1700000000000" (ms since the epoch) or "-30s" / "-5m" / "-2h" (relative to now) -> ms.
bool parse_time(const std::string& text, uint64_t* ms) {
  if (text.empty()) return false;
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  if (text[0] != '-') return sluice::wire::parse_u64(text, ms);
  const char unit = text.back();
  uint64_t n = 0;
  if (!sluice::wire::parse_u64(text.substr(1, text.size() - 2), &n)) return false;
  const uint64_t scale = unit == 's' ? 1000 : unit == 'm' ? 60000 : unit == 'h' ? 3600000 : 0;
  if (scale == 0 || n * scale > now) return false;
  *ms = now - n * scale;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::examples::Args args(argc, argv,
                              "replay: read a stream from an ID or a time, page by page, "
                              "resuming through server restarts.");
  ConnectionOptions conn;
  conn.host = args.str("host", "127.0.0.1", "server host");
  conn.port = static_cast<int>(args.num("port", 6379, "server port"));
  conn.reconnect_max_ms = 500;
  const std::string stream =
      args.str("stream", "replay:" + std::to_string(uv_hrtime() / 1000000), "stream to replay");
  std::string from = args.str("from", "-", "first ID to replay (\"-\": the beginning)");
  const std::string from_time =
      args.str("from-time", "", "start at a time instead: epoch ms, or -30s, -5m, -2h");
  const int64_t seed = args.num("seed", 1000, "numbered entries to XADD first (0: none)");
  const int64_t page_size = args.num("page-size", 100, "entries per XRANGE page");
  const int64_t page_delay_ms = args.num("page-delay-ms", 0, "pause between pages");
  const int64_t print = args.num("print", 3, "entries to print from the start and the end");
  args.finish();
  if (!from_time.empty()) {
    uint64_t ms = 0;
    if (!parse_time(from_time, &ms)) {
      std::fprintf(stderr, "bad --from-time '%s'\n", from_time.c_str());
      return 2;
    }
    from = std::to_string(ms) + "-0";  // IDs are millisecond timestamps
  }

  uv_loop_t* loop = uv_default_loop();
  auto connection = std::make_unique<Connection>(loop, conn);
  Streams streams(*connection);

  // Seed: numbered entries, written in one pipeline.
  int64_t seeded = 0;
  bool failed = false;
  for (int64_t i = 0; i < seed; ++i) {
    streams.xadd(stream, {{"n", std::to_string(i)}}, {}, [&](Result<StreamId> r) {
      if (!r) {
        std::fprintf(stderr, "XADD: %s\n", r.error().to_string().c_str());
        failed = true;
      }
      ++seeded;
    });
  }
  while (seeded < seed && !failed) uv_run(loop, UV_RUN_ONCE);

  // The replay ends at the entry that was last when it started.
  std::vector<StreamEntry> last;
  bool have_last = false;
  streams.xrevrange(stream, "+", "-", 1, [&](Result<std::vector<StreamEntry>> r) {
    if (r) last = std::move(*r);
    failed |= !r;
    have_last = true;
  });
  while (!have_last) uv_run(loop, UV_RUN_ONCE);
  if (failed) return 1;
  if (last.empty()) {
    std::printf("stream %s is empty\nSUMMARY ok replayed=0\n", stream.c_str());
    return 0;
  }
  const StreamId end_id = last[0].id;
  std::printf("replaying %s from %s to %s\n", stream.c_str(), from.c_str(),
              end_id.to_string().c_str());

  uv_timer_t pause;
  uv_timer_init(loop, &pause);
  int64_t replayed = 0, pages = 0, retries = 0, gaps = 0, out_of_order = 0;
  int64_t prev_n = -1;
  StreamId prev_id;
  bool have_prev = false;
  bool done = false;
  std::string start = from;
  std::vector<StreamEntry> tail;
  std::function<void()> next_page;
  auto later = [&](uint64_t ms) {
    pause.data = &next_page;
    uv_timer_start(
        &pause, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, ms, 0);
  };
  next_page = [&] {
    streams.xrange(
        stream, start, end_id.to_string(), page_size, [&](Result<std::vector<StreamEntry>> r) {
          if (!r) {
            // The server went away mid-page: the connection reconnects on its own; ask for the
            // same page again (from the last ID printed) once it is back.
            ++retries;
            std::printf("page %lld failed (%s), retrying\n", static_cast<long long>(pages + 1),
                        r.error().to_string().c_str());
            later(100);
            return;
          }
          ++pages;
          for (const StreamEntry& e : *r) {
            if (have_prev && !(prev_id < e.id)) ++out_of_order;
            if (const std::string* n = e.field("n"); n != nullptr && seed > 0) {
              const int64_t value = std::stoll(*n);
              if (prev_n >= 0 && value != prev_n + 1) ++gaps;
              prev_n = value;
            }
            if (replayed < print) {
              std::printf("  %s n=%s\n", e.id.to_string().c_str(),
                          e.field("n") ? e.field("n")->c_str() : "?");
            }
            tail.push_back(e);
            if (static_cast<int64_t>(tail.size()) > print) tail.erase(tail.begin());
            prev_id = e.id;
            have_prev = true;
            ++replayed;
          }
          std::printf("page %lld: %zu entries up to %s\n", static_cast<long long>(pages), r->size(),
                      have_prev ? prev_id.to_string().c_str() : "-");
          std::fflush(stdout);
          if (r->empty() || prev_id == end_id) {
            done = true;
            return;
          }
          start = "(" + prev_id.to_string();
          if (page_delay_ms > 0) {
            later(static_cast<uint64_t>(page_delay_ms));
          } else {
            next_page();
          }
        });
  };
  next_page();
  while (!done) uv_run(loop, UV_RUN_ONCE);

  std::printf("  ...\n");
  for (const StreamEntry& e : tail) {
    std::printf("  %s n=%s\n", e.id.to_string().c_str(),
                e.field("n") ? e.field("n")->c_str() : "?");
  }
  const uint64_t reconnects = connection->connects() - 1;
  const bool ok = gaps == 0 && out_of_order == 0 && (seed == 0 || from != "-" || replayed >= seed);
  std::printf(
      "SUMMARY %s replayed=%lld pages=%lld retries=%lld gaps=%lld out_of_order=%lld "
      "reconnects=%llu\n",
      ok ? "ok" : "FAILED", static_cast<long long>(replayed), static_cast<long long>(pages),
      static_cast<long long>(retries), static_cast<long long>(gaps),
      static_cast<long long>(out_of_order), static_cast<unsigned long long>(reconnects));

  connection.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&pause), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return ok ? 0 : 1;
}
