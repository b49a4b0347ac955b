// Message frames: a published message encoded once as the exact bytes every receiver of one
// protocol gets (`*` arrays for RESP2, `>` pushes for RESP3), to be shared by reference.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace sluice::pubsub {

using Frame = std::shared_ptr<const std::string>;

// [kind, channel, payload]: kind is "message" or "smessage".
Frame make_message_frame(int protocol, std::string_view kind, std::string_view channel,
                         std::string_view payload);
// ["pmessage", pattern, channel, payload].
Frame make_pmessage_frame(int protocol, std::string_view pattern, std::string_view channel,
                          std::string_view payload);

// Frames of one message, built on first use for each protocol: a fan-out to RESP2-only
// subscribers never encodes the RESP3 form.
class LazyFrames {
 public:
  template <typename Build>
  const Frame& get(int protocol, Build&& build) {
    Frame& f = protocol >= 3 ? resp3_ : resp2_;
    if (!f) f = build(protocol);
    return f;
  }

 private:
  Frame resp2_;
  Frame resp3_;
};

}  // namespace sluice::pubsub
