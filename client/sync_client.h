// SyncClient: a blocking facade over Connection for scripts, setup code and tests. It owns a
// private uv loop and runs it until each call's reply arrives; never use it on a loop thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/result.h"

namespace sluice::client {

class SyncClient {
 public:
  // Connects lazily: the first call waits for the handshake (bounded by the options' connect
  // timeout and reconnect policy). A command timeout of 0 in options is replaced by 30 s so a
  // call can never hang forever.
  explicit SyncClient(ConnectionOptions options);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  Result<Value> call(std::vector<std::string> args,
                     uint64_t timeout_ms = Connection::kDefaultTimeout);
  // Converts the reply with a parser from stream_api.h (parse::id, parse::entries...).
  template <typename Parser>
  auto call(std::vector<std::string> args, Parser parser) -> decltype(parser(Value{})) {
    Result<Value> r = call(std::move(args));
    if (!r) return r.error();
    return parser(*r);
  }
  // Sends every command in one write and returns the replies in order.
  std::vector<Result<Value>> pipeline(std::vector<std::vector<std::string>> commands);

  // Waits until the connection is ready or has given up; true if ready.
  bool wait_ready();
  Connection& connection() { return *conn_; }

 private:
  uv_loop_t* loop_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace sluice::client
