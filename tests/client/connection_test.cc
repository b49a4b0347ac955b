// Connection against a scripted FakeServer: ordering, handshake fallback, errors, timeouts,
// pushes, reconnects. Each test counts its callbacks and checks the counts at the end.
#include "client/connection.h"

#include <doctest/doctest.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/client/fake_server.h"

namespace sluice::client {
namespace {

using testing::FakeServer;
using testing::hello3_reply;
using testing::run_until;

// A loop that must end with no handles left open (every close callback ran).
struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  uv_loop_t* get() { return &loop; }
};

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// Answers like a RESP3 server: HELLO, PING, ECHO; everything else gets an error.
std::string basic_responder(const std::vector<std::string>& argv) {
  if (argv[0] == "HELLO") return hello3_reply();
  if (argv[0] == "PING") return "+PONG\r\n";
  if (argv[0] == "ECHO") return bulk(argv[1]);
  return "-ERR unknown command '" + argv[0] + "'\r\n";
}

ConnectionOptions options_for(const FakeServer& server) {
  ConnectionOptions o;
  o.port = server.port();
  o.reconnect_initial_ms = 5;
  return o;
}

}  // namespace

TEST_SUITE("client.connection") {
  TEST_CASE("pipelined replies reach their callbacks in command order") {
    Loop loop;
    FakeServer server(loop.get(), basic_responder);
    auto conn = std::make_unique<Connection>(loop.get(), options_for(server));
    std::vector<std::string> got;
    for (int i = 0; i < 200; ++i) {
      conn->command({"ECHO", std::to_string(i)}, [&got](Result<Value> r) {
        REQUIRE(r.ok());
        got.push_back(r->str);
      });
    }
    REQUIRE(run_until(loop.get(), [&] { return got.size() == 200; }));
    for (int i = 0; i < 200; ++i) CHECK(got[static_cast<size_t>(i)] == std::to_string(i));
    CHECK(conn->protocol() == 3);
    CHECK(conn->connects() == 1);
    CHECK(server.accepted == 1);
    conn.reset();
    server.close();
  }

  TEST_CASE("an error reply is a kReply error carrying the server's code and text") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>& argv) -> std::string {
      if (argv[0] == "HELLO") return hello3_reply();
      return "-NOGROUP No such key 'k' or consumer group 'g'\r\n";
    });
    Connection conn(loop.get(), options_for(server));
    int calls = 0;
    conn.command({"XREADGROUP"}, [&](Result<Value> r) {
      ++calls;
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind() == ErrorKind::kReply);
      CHECK(r.error().code() == "NOGROUP");
      CHECK(r.error().is_reply("NOGROUP"));
      CHECK(r.error().message() == "NOGROUP No such key 'k' or consumer group 'g'");
    });
    REQUIRE(run_until(loop.get(), [&] { return calls == 1; }));
    server.close();
  }

  TEST_CASE("a server that refuses HELLO gets RESP2 with AUTH and CLIENT SETNAME instead") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>& argv) -> std::string {
      if (argv[0] == "HELLO") return "-ERR unknown command 'HELLO'\r\n";
      if (argv[0] == "AUTH" || argv[0] == "CLIENT" || argv[0] == "SELECT") return "+OK\r\n";
      return basic_responder(argv);
    });
    ConnectionOptions o = options_for(server);
    o.password = "secret";
    o.client_name = "worker-1";
    o.database = 2;
    Connection conn(loop.get(), o);
    int pongs = 0;
    conn.command({"PING"}, [&](Result<Value> r) {
      REQUIRE(r.ok());
      CHECK(r->str == "PONG");
      ++pongs;
    });
    REQUIRE(run_until(loop.get(), [&] { return pongs == 1; }));
    CHECK(conn.protocol() == 2);
    REQUIRE(server.received.size() == 5);
    CHECK(server.received[0] == std::vector<std::string>{"HELLO", "3", "AUTH", "default", "secret",
                                                         "SETNAME", "worker-1"});
    CHECK(server.received[1] == std::vector<std::string>{"AUTH", "secret"});
    CHECK(server.received[2] == std::vector<std::string>{"CLIENT", "SETNAME", "worker-1"});
    CHECK(server.received[3] == std::vector<std::string>{"SELECT", "2"});
    CHECK(server.received[4] == std::vector<std::string>{"PING"});
    server.close();
  }

  TEST_CASE("a rejected password fails queued commands and does not retry") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>&) -> std::string {
      return "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    });
    ConnectionOptions o = options_for(server);
    o.password = "wrong";
    Connection conn(loop.get(), o);
    int failures = 0;
    int disconnects = 0;
    conn.set_disconnect_handler([&](const Error& e) {
      ++disconnects;
      CHECK(e.kind() == ErrorKind::kConnectFailed);
    });
    conn.command({"PING"}, [&](Result<Value> r) {
      ++failures;
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind() == ErrorKind::kConnectFailed);
      CHECK(r.error().message().find("WRONGPASS") != std::string::npos);
    });
    REQUIRE(run_until(loop.get(), [&] { return failures == 1; }));
    CHECK(disconnects == 1);
    CHECK(conn.state() == ConnectionState::kDisconnected);
    CHECK(server.accepted == 1);
    server.close();
  }

  TEST_CASE("a missing reply times out, fails the commands behind it, and the link recovers") {
    Loop loop;
    // The first connection stalls after its handshake, as a hung server would.
    FakeServer* stalled = nullptr;
    FakeServer server(loop.get(), [&stalled](const std::vector<std::string>& argv) {
      if (stalled->accepted == 1 && argv[0] != "HELLO") return std::string();
      return basic_responder(argv);
    });
    stalled = &server;
    ConnectionOptions o = options_for(server);
    o.command_timeout_ms = 50;
    Connection conn(loop.get(), o);
    int timeouts = 0;
    int lost = 0;
    int pongs = 0;
    conn.command({"BLACKHOLE"}, [&](Result<Value> r) {
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind() == ErrorKind::kTimeout);
      ++timeouts;
      conn.command({"PING"}, [&](Result<Value> p) {
        REQUIRE(p.ok());
        ++pongs;
      });
    });
    // No timeout of its own: it fails because the reset takes the connection with it.
    conn.command(
        {"PING"},
        [&](Result<Value> r) {
          REQUIRE_FALSE(r.ok());
          CHECK(r.error().kind() == ErrorKind::kConnectionLost);
          ++lost;
        },
        0);
    REQUIRE(run_until(loop.get(), [&] { return pongs == 1; }));
    CHECK(timeouts == 1);
    CHECK(lost == 1);
    CHECK(conn.connects() == 2);
    server.close();
  }

  TEST_CASE("an unreachable server fails after the configured number of attempts") {
    Loop loop;
    int port = 0;
    {
      FakeServer probe(loop.get(), basic_responder);  // a port that was free a moment ago
      port = probe.port();
    }
    uv_run(loop.get(), UV_RUN_NOWAIT);
    ConnectionOptions o;
    o.port = port;
    o.reconnect_initial_ms = 1;
    o.max_connect_attempts = 3;
    Connection conn(loop.get(), o);
    int disconnects = 0;
    int failures = 0;
    conn.set_disconnect_handler([&](const Error& e) {
      CHECK(e.kind() == ErrorKind::kConnectFailed);
      ++disconnects;
    });
    conn.command({"PING"}, [&](Result<Value> r) {
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind() == ErrorKind::kConnectFailed);
      CHECK(r.error().message().find("refused") != std::string::npos);
      ++failures;
    });
    REQUIRE(run_until(loop.get(), [&] { return failures == 1; }));
    CHECK(disconnects == 3);
    CHECK(conn.state() == ConnectionState::kDisconnected);
    int late = 0;
    conn.command({"PING"}, [&](Result<Value> r) {
      CHECK_FALSE(r.ok());
      ++late;
    });
    CHECK(late == 0);  // never called inside command()
    REQUIRE(run_until(loop.get(), [&] { return late == 1; }));
  }

  TEST_CASE("RESP3 pushes go to the push handler between ordinary replies") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>& argv) -> std::string {
      if (argv[0] == "TRIGGER") {
        return ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+DONE\r\n";
      }
      return basic_responder(argv);
    });
    Connection conn(loop.get(), options_for(server));
    int pushes = 0;
    int replies = 0;
    conn.set_push_handler([&](const Value& v) {
      CHECK(v.type == Value::Type::kPush);
      CHECK(v.elems[2].str == "hi");
      ++pushes;
    });
    conn.command({"TRIGGER"}, [&](Result<Value> r) {
      REQUIRE(r.ok());
      CHECK(r->str == "DONE");
      ++replies;
    });
    REQUIRE(run_until(loop.get(), [&] { return replies == 1; }));
    CHECK(pushes == 1);
    server.close();
  }

  TEST_CASE("RESP2 subscribed-mode messages are recognised as pushes") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>& argv) -> std::string {
      if (argv[0] == "SUBSCRIBE") {
        return "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
               "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhey\r\n";
      }
      if (argv[0] == "PING") return "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
      return basic_responder(argv);
    });
    ConnectionOptions o = options_for(server);
    o.protocol = 2;
    Connection conn(loop.get(), o);
    std::vector<std::string> kinds;
    int pings = 0;
    conn.set_push_handler([&](const Value& v) { kinds.push_back(v.elems[0].str); });
    conn.send_pubsub({"SUBSCRIBE", "ch"});
    conn.command({"PING"}, [&](Result<Value> r) {
      REQUIRE(r.ok());
      CHECK(r->elems[0].str == "pong");
      ++pings;
    });
    REQUIRE(run_until(loop.get(), [&] { return pings == 1; }));
    CHECK(kinds == std::vector<std::string>{"subscribe", "message"});
    server.close();
  }

  TEST_CASE("commands issued while the link is down are sent after the reconnect") {
    Loop loop;
    FakeServer server(loop.get(), basic_responder);
    Connection conn(loop.get(), options_for(server));
    int readies = 0;
    int disconnects = 0;
    conn.set_ready_handler([&] { ++readies; });
    conn.set_disconnect_handler([&](const Error& e) {
      CHECK(e.kind() == ErrorKind::kConnectionLost);
      ++disconnects;
    });
    REQUIRE(run_until(loop.get(), [&] { return readies == 1; }));
    server.drop_clients();
    REQUIRE(run_until(loop.get(), [&] { return disconnects == 1; }));
    std::vector<std::string> got;
    for (int i = 0; i < 10; ++i) {
      conn.command({"ECHO", std::to_string(i)}, [&](Result<Value> r) {
        REQUIRE(r.ok());
        got.push_back(r->str);
      });
    }
    REQUIRE(run_until(loop.get(), [&] { return got.size() == 10; }));
    CHECK(got.front() == "0");
    CHECK(got.back() == "9");
    CHECK(readies == 2);
    CHECK(server.accepted == 2);
    server.close();
  }

  TEST_CASE("a reply callback may destroy its connection") {
    Loop loop;
    FakeServer server(loop.get(), basic_responder);
    auto conn = std::make_unique<Connection>(loop.get(), options_for(server));
    int calls = 0;
    conn->command({"PING"}, [&](Result<Value> r) {
      CHECK(r.ok());
      ++calls;
      conn.reset();
    });
    conn->command({"PING"}, [&](Result<Value>) { ++calls; });  // dropped, never called
    REQUIRE(run_until(loop.get(), [&] { return conn == nullptr; }));
    server.close();
    uv_run(loop.get(), UV_RUN_DEFAULT);
    CHECK(calls == 1);
  }

  TEST_CASE("close() fails queued and in-flight commands with kClosed") {
    Loop loop;
    FakeServer server(loop.get(), [](const std::vector<std::string>&) { return std::string(); });
    Connection conn(loop.get(), options_for(server));
    int closed = 0;
    for (int i = 0; i < 3; ++i) {
      conn.command({"PING"}, [&](Result<Value> r) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind() == ErrorKind::kClosed);
        ++closed;
      });
    }
    conn.close();
    CHECK(closed == 3);
    CHECK(conn.state() == ConnectionState::kDisconnected);
    server.close();
  }
}

}  // namespace sluice::client
