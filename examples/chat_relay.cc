// chat_relay: one stream per room. Every user reads all rooms live with XREAD BLOCK from "$",
// users post with XADD trimmed to --maxlen (exact), and a late joiner loads the last messages
// with XREVRANGE. The summary checks every post reached every user and the rooms stay trimmed.
#include <uv.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/stream_api.h"
#include "examples/example_args.h"

using namespace sluice::client;  // NOLINT: an example reads better without the prefixes

namespace {

// One user's live view of one room: XREAD BLOCK from "$" first, then from the last ID it saw,
// so nothing posted between two reads is missed. A reader per room, because "$" on a
// multi-room XREAD says nothing about the rooms that did not wake it.
struct Reader {
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Streams> streams;
  std::string room;
  std::string position = "$";
  int64_t received = 0;
  bool stopped = false;

  void read() {
    ReadOptions ro;
    ro.block_ms = 1000;
    ro.count = 100;
    streams->xread({{room, position}}, ro, [this](Result<std::vector<StreamBatch>> r) {
      if (stopped) return;
      if (!r) {
        std::fprintf(stderr, "XREAD: %s\n", r.error().to_string().c_str());
        return;
      }
      for (const StreamBatch& b : *r) {
        if (!b.entries.empty()) position = b.entries.back().id.to_string();
        received += static_cast<int64_t>(b.entries.size());
      }
      read();
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  sluice::examples::Args args(argc, argv,
                              "chat_relay: rooms as streams, live readers from $, history "
                              "with XREVRANGE, trimming with MAXLEN.");
  ConnectionOptions conn;
  conn.host = args.str("host", "127.0.0.1", "server host");
  conn.port = static_cast<int>(args.num("port", 6379, "server port"));
  const int rooms = static_cast<int>(args.num("rooms", 3, "chat rooms"));
  const int users = static_cast<int>(args.num("users", 4, "users (each reads every room live)"));
  const int64_t messages = args.num("messages", 50, "messages posted per room");
  const int64_t maxlen = args.num("maxlen", 20, "MAXLEN = each room is trimmed to");
  const int64_t history = args.num("history", 5, "messages a late joiner loads");
  const std::string prefix =
      args.str("prefix", "chat" + std::to_string(uv_hrtime() / 1000000), "room key prefix");
  const int64_t timeout_ms = args.num("timeout-ms", 60000, "give up after this long");
  args.finish();

  uv_loop_t* loop = uv_default_loop();
  std::vector<std::string> room_keys;
  for (int r = 0; r < rooms; ++r) room_keys.push_back(prefix + ":room:" + std::to_string(r));

  std::vector<std::unique_ptr<Reader>> readers;
  for (int u = 0; u < users; ++u) {
    for (const auto& key : room_keys) {
      auto reader = std::make_unique<Reader>();
      reader->conn = std::make_unique<Connection>(loop, conn);
      reader->streams = std::make_unique<Streams>(*reader->conn);
      reader->room = key;
      reader->read();
      readers.push_back(std::move(reader));
    }
  }

  auto poster_conn = std::make_unique<Connection>(loop, conn);
  Streams poster(*poster_conn);
  uv_timer_t tick;  // keeps the loop awake for the timeout checks
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 50, 50);
  const uint64_t started = uv_now(loop);
  auto timed_out = [&] { return uv_now(loop) - started > static_cast<uint64_t>(timeout_ms); };

  // "$" means "after the last entry when my XREAD arrives": post only once every reader is
  // blocked, which INFO clients shows.
  bool all_blocked = false;
  std::function<void()> poll_blocked = [&] {
    poster_conn->command({"INFO", "clients"}, [&](Result<Value> r) {
      if (!r) return;
      const auto pos = r->str.find("blocked_clients:");
      if (pos != std::string::npos && std::stoll(r->str.substr(pos + 16)) >= users * rooms) {
        all_blocked = true;
      } else if (!timed_out()) {
        poll_blocked();
      }
    });
  };
  poll_blocked();
  while (!all_blocked && !timed_out()) uv_run(loop, UV_RUN_ONCE);

  // Users post in rounds, one message per room, and a round starts once every reader has the
  // previous one: with exact MAXLEN trimming a burst larger than --maxlen would be trimmed
  // away before a live reader gets to it, which is what trimming means.
  int64_t posted = 0;
  int64_t post_errors = 0;
  XAddOptions trim;
  trim.trim = TrimOptions::maxlen(static_cast<uint64_t>(maxlen));
  auto delivered = [&] {
    int64_t n = 0;
    for (auto& r : readers) n += r->received;
    return n;
  };
  const int64_t expected = messages * rooms * users;
  for (int64_t m = 0; m < messages && post_errors == 0 && !timed_out(); ++m) {
    for (int r = 0; r < rooms; ++r) {
      const std::string user = "user" + std::to_string((m + r) % users);
      poster.xadd(room_keys[static_cast<size_t>(r)],
                  {{"user", user}, {"text", "message " + std::to_string(m)}}, trim,
                  [&](Result<StreamId> id) { id ? ++posted : ++post_errors; });
    }
    while (delivered() < (m + 1) * rooms * users && !timed_out()) uv_run(loop, UV_RUN_ONCE);
  }
  for (auto& r : readers) r->stopped = true;

  // A late joiner: the last messages of room 0, newest first from XREVRANGE, shown oldest
  // first; and every room's length after trimming.
  std::vector<StreamEntry> last;
  int64_t min_len = -1;
  int64_t max_len = -1;
  int pending = 1 + rooms;
  poster.xrevrange(room_keys[0], "+", "-", history, [&](Result<std::vector<StreamEntry>> r) {
    if (r) last = std::move(*r);
    --pending;
  });
  for (const auto& key : room_keys) {
    poster.xlen(key, [&](Result<int64_t> n) {
      if (n) {
        min_len = min_len < 0 ? *n : std::min(min_len, *n);
        max_len = std::max(max_len, *n);
      }
      --pending;
    });
  }
  while (pending > 0 && !timed_out()) uv_run(loop, UV_RUN_ONCE);
  std::printf("history of %s (last %zu):\n", room_keys[0].c_str(), last.size());
  for (auto it = last.rbegin(); it != last.rend(); ++it) {
    std::printf("  %s <%s> %s\n", it->id.to_string().c_str(), it->field("user")->c_str(),
                it->field("text")->c_str());
  }
  const int64_t want_len = std::min(messages, maxlen);
  const bool ok = delivered() == expected && post_errors == 0 &&
                  static_cast<int64_t>(last.size()) == std::min(history, want_len) &&
                  min_len == want_len && max_len == want_len;
  std::printf(
      "SUMMARY %s rooms=%d users=%d posted=%lld delivered=%lld expected=%lld "
      "history=%zu room_len=%lld\n",
      ok ? "ok" : "FAILED", rooms, users, static_cast<long long>(posted),
      static_cast<long long>(delivered()), static_cast<long long>(expected), last.size(),
      static_cast<long long>(max_len));

  readers.clear();
  poster_conn.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return ok ? 0 : 1;
}
