// Subscriber: pub/sub on a dedicated connection that remembers its channels and patterns and
// subscribes to them again after every reconnect, so a server restart costs the messages
// published while it was down and nothing more.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "client/connection.h"

namespace sluice::client {

struct Message {
  enum class Kind { kMessage, kPatternMessage, kShardMessage };
  Kind kind = Kind::kMessage;
  std::string channel;
  std::string pattern;  // the matching pattern, for kPatternMessage
  std::string payload;
};

// Parses a pub/sub push ("message", "pmessage", "smessage"); false for anything else.
bool parse_message(const Value& push, Message* out);

class Subscriber {
 public:
  using MessageHandler = std::function<void(const Message&)>;
  // kind is "subscribe", "psubscribe", "unsubscribe" or "punsubscribe"; count is the number of
  // subscriptions the connection holds after it.
  using SubscriptionHandler =
      std::function<void(std::string_view kind, const std::string& name, int64_t count)>;

  Subscriber(uv_loop_t* loop, ConnectionOptions options);

  void subscribe(const std::vector<std::string>& channels);
  void psubscribe(const std::vector<std::string>& patterns);
  void unsubscribe(const std::vector<std::string>& channels);
  void punsubscribe(const std::vector<std::string>& patterns);

  void set_message_handler(MessageHandler handler) { on_message_ = std::move(handler); }
  void set_subscription_handler(SubscriptionHandler handler) {
    on_subscription_ = std::move(handler);
  }

  // Subscriptions the server has confirmed on the current connection.
  int64_t confirmed() const { return confirmed_; }
  // How many times the whole set was subscribed again after a reconnect.
  uint64_t resubscriptions() const { return resubscriptions_; }
  uint64_t messages() const { return messages_; }
  const std::set<std::string>& channels() const { return channels_; }
  const std::set<std::string>& patterns() const { return patterns_; }
  Connection& connection() { return *conn_; }

 private:
  void on_ready();
  void on_push(const Value& push);
  void send(const char* command, const std::vector<std::string>& names);

  std::unique_ptr<Connection> conn_;
  std::set<std::string> channels_;
  std::set<std::string> patterns_;
  MessageHandler on_message_;
  SubscriptionHandler on_subscription_;
  int64_t confirmed_ = 0;
  uint64_t resubscriptions_ = 0;
  uint64_t messages_ = 0;
};

}  // namespace sluice::client
