// SyncClient: runs its private loop one iteration at a time until the awaited replies arrive.
#include "client/sync_client.h"

#include <uv.h>

#include <optional>

namespace sluice::client {

SyncClient::SyncClient(ConnectionOptions options) : loop_(new uv_loop_t) {
  uv_loop_init(loop_);
  if (options.command_timeout_ms == 0) options.command_timeout_ms = 30000;
  conn_ = std::make_unique<Connection>(loop_, std::move(options));
}

SyncClient::~SyncClient() {
  conn_.reset();
  uv_run(loop_, UV_RUN_DEFAULT);  // lets the connection's handles finish closing
  uv_loop_close(loop_);
  delete loop_;
}

Result<Value> SyncClient::call(std::vector<std::string> args, uint64_t timeout_ms) {
  std::optional<Result<Value>> reply;
  conn_->command(
      std::move(args), [&reply](Result<Value> r) { reply.emplace(std::move(r)); }, timeout_ms);
  while (!reply) uv_run(loop_, UV_RUN_ONCE);
  return std::move(*reply);
}

std::vector<Result<Value>> SyncClient::pipeline(std::vector<std::vector<std::string>> commands) {
  std::vector<std::optional<Result<Value>>> replies(commands.size());
  size_t done = 0;
  for (size_t i = 0; i < commands.size(); ++i) {
    conn_->command(std::move(commands[i]), [&replies, &done, i](Result<Value> r) {
      replies[i].emplace(std::move(r));
      ++done;
    });
  }
  while (done < replies.size()) uv_run(loop_, UV_RUN_ONCE);
  std::vector<Result<Value>> out;
  out.reserve(replies.size());
  for (auto& r : replies) out.push_back(std::move(*r));
  return out;
}

bool SyncClient::wait_ready() {
  while (conn_->state() == ConnectionState::kConnecting ||
         conn_->state() == ConnectionState::kWaitingToReconnect) {
    uv_run(loop_, UV_RUN_ONCE);
  }
  return conn_->ready();
}

}  // namespace sluice::client
