#include "broker/pubsub/message_frame.h"

#include "wire/resp/reply_writer.h"

namespace sluice::pubsub {
namespace {

using wire::resp::ReplyWriter;

// Upper bound of a bulk string's encoding: "$" + up to 20 digits + 2 CRLFs.
size_t bulk_size(std::string_view s) { return s.size() + 25; }

std::string* start(std::string* out, int protocol, size_t parts) {
  ReplyWriter::append_header(out, protocol >= 3 ? '>' : '*', parts);
  return out;
}

}  // namespace

Frame make_message_frame(int protocol, std::string_view kind, std::string_view channel,
                         std::string_view payload) {
  auto frame = std::make_shared<std::string>();
  frame->reserve(8 + bulk_size(kind) + bulk_size(channel) + bulk_size(payload));
  start(frame.get(), protocol, 3);
  ReplyWriter::append_bulk(frame.get(), kind);
  ReplyWriter::append_bulk(frame.get(), channel);
  ReplyWriter::append_bulk(frame.get(), payload);
  return frame;
}

Frame make_pmessage_frame(int protocol, std::string_view pattern, std::string_view channel,
                          std::string_view payload) {
  auto frame = std::make_shared<std::string>();
  frame->reserve(8 + bulk_size("pmessage") + bulk_size(pattern) + bulk_size(channel) +
                 bulk_size(payload));
  start(frame.get(), protocol, 4);
  ReplyWriter::append_bulk(frame.get(), "pmessage");
  ReplyWriter::append_bulk(frame.get(), pattern);
  ReplyWriter::append_bulk(frame.get(), channel);
  ReplyWriter::append_bulk(frame.get(), payload);
  return frame;
}

}  // namespace sluice::pubsub
