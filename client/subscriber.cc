// Subscriber: keeps the wanted channel and pattern sets and replays them on each ready.
#include "client/subscriber.h"

namespace sluice::client {

bool parse_message(const Value& push, Message* out) {
  if (push.elems.empty()) return false;
  const std::string& kind = push.elems[0].str;
  if ((kind == "message" || kind == "smessage") && push.elems.size() == 3) {
    out->kind = kind == "message" ? Message::Kind::kMessage : Message::Kind::kShardMessage;
    out->pattern.clear();
    out->channel = push.elems[1].str;
    out->payload = push.elems[2].str;
    return true;
  }
  if (kind == "pmessage" && push.elems.size() == 4) {
    out->kind = Message::Kind::kPatternMessage;
    out->pattern = push.elems[1].str;
    out->channel = push.elems[2].str;
    out->payload = push.elems[3].str;
    return true;
  }
  return false;
}

Subscriber::Subscriber(uv_loop_t* loop, ConnectionOptions options)
    : conn_(std::make_unique<Connection>(loop, std::move(options))) {
  conn_->set_ready_handler([this] { on_ready(); });
  conn_->set_push_handler([this](const Value& v) { on_push(v); });
}

void Subscriber::subscribe(const std::vector<std::string>& channels) {
  channels_.insert(channels.begin(), channels.end());
  if (conn_->ready()) send("SUBSCRIBE", channels);
}

void Subscriber::psubscribe(const std::vector<std::string>& patterns) {
  patterns_.insert(patterns.begin(), patterns.end());
  if (conn_->ready()) send("PSUBSCRIBE", patterns);
}

void Subscriber::unsubscribe(const std::vector<std::string>& channels) {
  for (const auto& c : channels) channels_.erase(c);
  if (conn_->ready()) send("UNSUBSCRIBE", channels);
}

void Subscriber::punsubscribe(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) patterns_.erase(p);
  if (conn_->ready()) send("PUNSUBSCRIBE", patterns);
}

void Subscriber::send(const char* command, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::vector<std::string> args{command};
  args.insert(args.end(), names.begin(), names.end());
  conn_->send_pubsub(std::move(args));
}

void Subscriber::on_ready() {
  confirmed_ = 0;
  if (conn_->connects() > 1) ++resubscriptions_;
  send("SUBSCRIBE", {channels_.begin(), channels_.end()});
  send("PSUBSCRIBE", {patterns_.begin(), patterns_.end()});
}

void Subscriber::on_push(const Value& push) {
  Message msg;
  if (parse_message(push, &msg)) {
    ++messages_;
    if (on_message_) on_message_(msg);
    return;
  }
  if (push.elems.size() != 3 || push.elems[2].type != Value::Type::kInteger) return;
  const std::string& kind = push.elems[0].str;
  if (kind != "subscribe" && kind != "psubscribe" && kind != "unsubscribe" &&
      kind != "punsubscribe" && kind != "ssubscribe" && kind != "sunsubscribe") {
    return;
  }
  confirmed_ = push.elems[2].integer;
  if (on_subscription_) on_subscription_(kind, push.elems[1].str, confirmed_);
}

}  // namespace sluice::client
