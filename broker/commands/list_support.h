// Helpers shared by the list commands (list_commands.cc) and the blocking list commands
// (list_blocking.cc): typed lookups, LEFT/RIGHT, and the effects of a pop or a move — reply,
// journal, keyspace events, WATCH, removal of an emptied list — written against the broker and a
// database rather than a CommandContext, because a blocked client is served outside of any
// command of its own.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "broker/commands/context.h"
#include "broker/commands/kv_support.h"
#include "broker/kv/list_object.h"

namespace sluice::commands {

using kv::ListObject;
using ListEnd = ListObject::End;

void register_list_blocking_commands(CommandTable& table);

inline bool is_head(ListEnd end) { return end == ListEnd::kHead; }

// LEFT or RIGHT (any case); replies "syntax error" otherwise.
bool parse_list_end(CommandContext& ctx, std::string_view arg, ListEnd* out);

// The list at `key`, or nullptr if missing; another type replies WRONGTYPE and sets *replied.
inline ListObject* read_list(CommandContext& ctx, std::string_view key, bool* replied) {
  return read_typed<ListObject, core::ObjectType::kList>(ctx, key, replied);
}
inline ListObject* write_list(CommandContext& ctx, std::string_view key, bool* replied) {
  return write_typed<ListObject, core::ObjectType::kList>(ctx, key, replied);
}

// Appends `count` RESP bulk strings straight into a reply buffer: the buffer is sized once from
// the first element (grown again only if later ones are larger), and each element is one
// memcpy, without a std::string append per piece. finish() (or the destructor) trims the buffer
// to what was written.
class BulkAppender {
 public:
  BulkAppender(std::string* out, size_t count) : out_(out), used_(out->size()), left_(count) {}
  ~BulkAppender() { finish(); }
  BulkAppender(const BulkAppender&) = delete;
  BulkAppender& operator=(const BulkAppender&) = delete;

  void add(std::string_view v) {
    const size_t need = v.size() + kOverhead;
    if (out_->size() - used_ < need) grow(need);
    char* p = out_->data() + used_;
    *p++ = '$';
    p = std::to_chars(p, p + 20, v.size()).ptr;
    *p++ = '\r';
    *p++ = '\n';
    std::memcpy(p, v.data(), v.size());
    p += v.size();
    *p++ = '\r';
    *p++ = '\n';
    used_ = static_cast<size_t>(p - out_->data());
    if (left_ > 0) --left_;
  }
  void finish() { out_->resize(used_); }

 private:
  static constexpr size_t kOverhead = 1 + 20 + 4;  // '$', the length, two CRLFs
  void grow(size_t need) {
    const size_t want = used_ + std::max(need * std::max<size_t>(left_, 1), out_->size() - used_);
    out_->resize(std::max(want, out_->size() + need));
  }
  std::string* out_;
  size_t used_;
  size_t left_;
};

// Node limits from list-max-listpack-size.
inline kv::ListLimits list_limits(core::Broker& broker) {
  return kv::ListLimits::from_config(broker.config().list_max_listpack_size);
}

// A new empty list at (db, key), where no live key is. Clients blocked on the key are signalled
// (Redis wakes them when a key is added); the caller pushes, then journals.
ListObject* create_list(core::Broker& broker, int db, std::string_view key, int64_t now_ms);

// Pops min(n, size) elements (n >= 1) at `end`, writing each as a bulk reply; journals the pop,
// emits lpop/rpop, touches WATCH, and deletes the list when emptied ("del"). Returns the count.
size_t pop_elements(core::Broker& broker, int db, std::string_view key, ListObject& list,
                    ListEnd end, size_t n, wire::resp::ReplyWriter& reply);

// LMOVE's effect: pops at `from` of src, pushes at `to` of the list at dst_key (created when
// missing; the caller checked it is not another type), replies the element as a bulk string.
// Events in Redis's order: the push on the destination, the pop on the source, del if emptied.
void move_element(core::Broker& broker, int db, std::string_view src_key, ListObject& src,
                  std::string_view dst_key, ListEnd from, ListEnd to, int64_t now_ms,
                  wire::resp::ReplyWriter& reply);

// LMPOP/BLMPOP arguments from numkeys on: numkeys, the keys, LEFT|RIGHT, [COUNT n] (count 1
// when absent), with Redis's errors. Replies and returns false on error.
bool parse_mpop(CommandContext& ctx, size_t numkeys_at, size_t* nkeys, ListEnd* end,
                int64_t* count);
// LMPOP's reply for the first non-empty list: [key, [elements]], with the pop's effects.
void mpop_reply(CommandContext& ctx, std::string_view key, ListObject& list, ListEnd end,
                int64_t count);

}  // namespace sluice::commands
