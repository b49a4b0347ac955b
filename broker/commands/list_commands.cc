// List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM LTRIM
// LPOS LMOVE RPOPLPUSH LMPOP (the blocking ones are in list_blocking.cc). Each parses its
// arguments in Redis's order (so the same bad input gets the same error), operates on the
// ListObject, journals the effect, emits Redis's keyspace event and replies.
#include <algorithm>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/list_support.h"
#include "broker/commands/sort_source.h"
#include "broker/kv/list_records.h"

namespace sluice::commands {
namespace {

using kv::list_codec::kMaxElementBytes;
using kv::list_codec::kNumBufBytes;

bool elements_fit(CommandContext& ctx, size_t first) {
  for (size_t i = first; i < ctx.argc(); ++i) {
    if (ctx.arg(i).size() > kMaxElementBytes) {
      ctx.error_text("ERR list element is too large");
      return false;
    }
  }
  return true;
}

void push_generic(CommandContext& ctx, ListEnd end, bool only_existing) {
  std::string_view key = ctx.arg(1);
  if (!elements_fit(ctx, 2)) return;
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  const int db = ctx.client.db;
  if (!list) {
    if (only_existing) return ctx.reply.integer(0);
    list = create_list(ctx.broker, db, key, ctx.now_ms);
  }
  list->set_limits(list_limits(ctx.broker));
  for (size_t i = 2; i < ctx.argc(); ++i) list->push(end, ctx.arg(i));
  kv::record_list_push(ctx.broker.kv(), db, key, is_head(end), ctx.args.subspan(2));
  kv_written(ctx, key);
  ctx.broker.notify('l', is_head(end) ? "lpush" : "rpush", key, db);
  ctx.reply.integer(static_cast<int64_t>(list->size()));
}

void lpush(CommandContext& ctx) { push_generic(ctx, ListEnd::kHead, false); }
void rpush(CommandContext& ctx) { push_generic(ctx, ListEnd::kTail, false); }
void lpushx(CommandContext& ctx) { push_generic(ctx, ListEnd::kHead, true); }
void rpushx(CommandContext& ctx) { push_generic(ctx, ListEnd::kTail, true); }

void pop_generic(CommandContext& ctx, ListEnd end) {
  if (ctx.argc() > 3) return ctx.wrong_arity();
  const bool has_count = ctx.argc() == 3;
  int64_t count = 1;
  if (has_count && (!parse_int(ctx.arg(2), &count) || count < 0)) {
    return ctx.error_text("ERR value is out of range, must be positive");
  }
  std::string_view key = ctx.arg(1);
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  if (!list) return has_count ? ctx.reply.null_array() : ctx.reply.null();
  if (count == 0) return ctx.reply.array(0);
  if (has_count) ctx.reply.array(std::min(static_cast<uint64_t>(count), uint64_t{list->size()}));
  pop_elements(ctx.broker, ctx.client.db, key, *list, end, static_cast<size_t>(count), ctx.reply);
  ctx.wrote = true;
}

void lpop(CommandContext& ctx) { pop_generic(ctx, ListEnd::kHead); }
void rpop(CommandContext& ctx) { pop_generic(ctx, ListEnd::kTail); }

void llen(CommandContext& ctx) {
  bool replied;
  ListObject* list = read_list(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(list ? static_cast<int64_t>(list->size()) : 0);
}

// Redis's LRANGE/LTRIM index arithmetic: negative indexes count from the end, start clamps to
// 0, end to the last element. False when the range is empty.
bool clamp_range(int64_t start, int64_t end, size_t len, size_t* first, size_t* last) {
  const auto n = static_cast<int64_t>(len);
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0) start = 0;
  if (start > end || start >= n) return false;
  if (end >= n) end = n - 1;
  *first = static_cast<size_t>(start);
  *last = static_cast<size_t>(end);
  return true;
}

void lrange(CommandContext& ctx) {
  int64_t start = 0;
  int64_t end = 0;
  if (!int_arg(ctx, ctx.arg(2), &start) || !int_arg(ctx, ctx.arg(3), &end)) return;
  bool replied;
  ListObject* list = read_list(ctx, ctx.arg(1), &replied);
  if (replied) return;
  size_t first = 0;
  size_t last = 0;
  if (!list || !clamp_range(start, end, list->size(), &first, &last)) return ctx.reply.array(0);
  const size_t n = last - first + 1;
  ctx.reply.array(n);
  // Each element goes from its node straight into the reply buffer.
  BulkAppender bulks(ctx.reply.buffer(), n);
  auto it = list->iterate_from(first);
  std::string_view v;
  for (size_t i = 0; i < n && it.next(&v); ++i) bulks.add(v);
}

// A list index argument normalized against `len`; false when out of range.
bool list_index(int64_t index, size_t len, size_t* out) {
  const auto n = static_cast<int64_t>(len);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return false;
  *out = static_cast<size_t>(index);
  return true;
}

void lindex(CommandContext& ctx) {
  bool replied;
  ListObject* list = read_list(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!list) return ctx.reply.null();
  int64_t index = 0;
  if (!int_arg(ctx, ctx.arg(2), &index)) return;
  size_t at = 0;
  if (!list_index(index, list->size(), &at)) return ctx.reply.null();
  char num[kNumBufBytes];
  ctx.reply.bulk(list->at(at, num));
}

void lset(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  if (!list) return ctx.error_text(kNoSuchKeyErr);
  int64_t index = 0;
  if (!int_arg(ctx, ctx.arg(2), &index)) return;
  if (!elements_fit(ctx, 3)) return;
  size_t at = 0;
  if (!list_index(index, list->size(), &at)) return ctx.error_text("ERR index out of range");
  list->set_limits(list_limits(ctx.broker));
  list->set(at, ctx.arg(3));
  const int db = ctx.client.db;
  kv::record_list_set(ctx.broker.kv(), db, key, at, ctx.arg(3));
  kv_written(ctx, key);
  ctx.broker.notify('l', "lset", key, db);
  ctx.reply.ok();
}

void linsert(CommandContext& ctx) {
  bool after = false;
  if (iequals(ctx.arg(2), "AFTER")) {
    after = true;
  } else if (!iequals(ctx.arg(2), "BEFORE")) {
    return ctx.syntax_error();
  }
  std::string_view key = ctx.arg(1);
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  if (!list) return ctx.reply.integer(0);
  if (!elements_fit(ctx, 4)) return;
  const int64_t pivot = list->find_first(ctx.arg(3));
  if (pivot < 0) return ctx.reply.integer(-1);
  const auto at = static_cast<size_t>(pivot) + (after ? 1 : 0);
  list->set_limits(list_limits(ctx.broker));
  list->insert(at, ctx.arg(4));
  const int db = ctx.client.db;
  kv::record_list_insert(ctx.broker.kv(), db, key, at, ctx.arg(4));
  kv_written(ctx, key);
  ctx.broker.notify('l', "linsert", key, db);
  ctx.reply.integer(static_cast<int64_t>(list->size()));
}

// After LREM or LTRIM: an emptied list goes, with Redis's "del" event.
void drop_if_empty(CommandContext& ctx, std::string_view key, const ListObject& list) {
  if (list.size() != 0) return;
  ctx.db().remove(key);  // the journaled LREM/LTRIM removes it on replay too
  ctx.broker.notify('g', "del", key, ctx.client.db);
}

void lrem(CommandContext& ctx) {
  int64_t count = 0;
  if (!int_arg(ctx, ctx.arg(2), &count)) return;
  std::string_view key = ctx.arg(1);
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  if (!list) return ctx.reply.integer(0);
  const size_t removed = list->remove(ctx.arg(3), count);
  if (removed > 0) {
    const int db = ctx.client.db;
    kv::record_list_rem(ctx.broker.kv(), db, key, count, ctx.arg(3));
    kv_written(ctx, key);
    ctx.broker.notify('l', "lrem", key, db);
    drop_if_empty(ctx, key, *list);
  }
  ctx.reply.integer(static_cast<int64_t>(removed));
}

void ltrim(CommandContext& ctx) {
  int64_t start = 0;
  int64_t end = 0;
  if (!int_arg(ctx, ctx.arg(2), &start) || !int_arg(ctx, ctx.arg(3), &end)) return;
  std::string_view key = ctx.arg(1);
  bool replied;
  ListObject* list = write_list(ctx, key, &replied);
  if (replied) return;
  if (!list) return ctx.reply.ok();
  const size_t len = list->size();
  size_t first = 0;
  size_t last = 0;
  size_t front = len;
  size_t back = 0;
  if (clamp_range(start, end, len, &first, &last)) {
    front = first;
    back = len - 1 - last;
  }
  const int db = ctx.client.db;
  if (front + back > 0) {
    list->trim(front, back);
    kv::record_list_trim(ctx.broker.kv(), db, key, front, back);
  }
  // Redis signals the key modified and emits ltrim even when nothing was trimmed.
  kv_written(ctx, key);
  ctx.broker.notify('l', "ltrim", key, db);
  drop_if_empty(ctx, key, *list);
  ctx.reply.ok();
}

void lpos(CommandContext& ctx) {
  int64_t rank = 1;
  int64_t count = -1;  // -1: no COUNT option
  int64_t maxlen = 0;
  for (size_t i = 3; i < ctx.argc(); i += 2) {
    std::string_view opt = ctx.arg(i);
    if (i + 1 >= ctx.argc()) return ctx.syntax_error();
    std::string_view value = ctx.arg(i + 1);
    if (iequals(opt, "RANK")) {
      if (!int_arg(ctx, value, &rank)) return;
      if (rank == 0) {
        return ctx.error_text(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
            "or use negative to start from the end of the list");
      }
    } else if (iequals(opt, "COUNT")) {
      if (!parse_int(value, &count) || count < 0) {
        return ctx.error_text("ERR COUNT can't be negative");
      }
    } else if (iequals(opt, "MAXLEN")) {
      if (!parse_int(value, &maxlen) || maxlen < 0) {
        return ctx.error_text("ERR MAXLEN can't be negative");
      }
    } else {
      return ctx.syntax_error();
    }
  }
  bool replied;
  ListObject* list = read_list(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const bool many = count != -1;
  if (!list) return many ? ctx.reply.array(0) : ctx.reply.null();
  // Redis negates a negative RANK in place: INT64_MIN stays negative, which makes every match
  // from the tail qualify and COUNT never stop the scan.
  size_t want = many ? static_cast<size_t>(count) : 1;
  if (rank == INT64_MIN) {
    rank = -1;
    if (many) want = 0;
  }
  std::vector<int64_t> found;
  list->positions(ctx.arg(2), rank, want, static_cast<size_t>(maxlen), &found);
  if (!many) return found.empty() ? ctx.reply.null() : ctx.reply.integer(found.front());
  ctx.reply.array(found.size());
  for (int64_t p : found) ctx.reply.integer(p);
}

void lmove_generic(CommandContext& ctx, ListEnd from, ListEnd to) {
  std::string_view src_key = ctx.arg(1);
  std::string_view dst_key = ctx.arg(2);
  bool replied;
  ListObject* src = write_list(ctx, src_key, &replied);
  if (replied) return;
  if (!src) return ctx.reply.null();
  write_list(ctx, dst_key, &replied);
  if (replied) return;
  move_element(ctx.broker, ctx.client.db, src_key, *src, dst_key, from, to, ctx.now_ms, ctx.reply);
  ctx.wrote = true;
}

void lmove(CommandContext& ctx) {
  ListEnd from;
  ListEnd to;
  if (!parse_list_end(ctx, ctx.arg(3), &from) || !parse_list_end(ctx, ctx.arg(4), &to)) return;
  lmove_generic(ctx, from, to);
}

void rpoplpush(CommandContext& ctx) { lmove_generic(ctx, ListEnd::kTail, ListEnd::kHead); }

void lmpop(CommandContext& ctx) {
  size_t nkeys = 0;
  ListEnd end;
  int64_t count = 0;
  if (!parse_mpop(ctx, 1, &nkeys, &end, &count)) return;
  for (size_t k = 0; k < nkeys; ++k) {
    std::string_view key = ctx.arg(2 + k);
    bool replied;
    ListObject* list = write_list(ctx, key, &replied);
    if (replied) return;
    if (list && list->size() > 0) return mpop_reply(ctx, key, *list, end, count);
  }
  ctx.reply.null_array();
}

// SORT reads a list in its own order; BY <constant> keeps it and reads only the LIMIT range.
class ListSortSource final : public SortSource {
 public:
  explicit ListSortSource(const ListObject& list) : list_(list) {}
  size_t size() const override { return list_.size(); }
  bool ordered() const override { return true; }
  void read(size_t start, size_t count, bool reverse,
            const std::function<void(std::string_view)>& fn) const override {
    if (start >= list_.size() || count == 0) return;
    count = std::min(count, list_.size() - start);
    if (reverse) {
      // Positions counted from the tail: elements [size-start-count, size-start), last first.
      const size_t first = list_.size() - start - count;
      std::vector<std::string> picked;
      picked.reserve(count);
      auto it = list_.iterate_from(first);
      std::string_view v;
      for (size_t i = 0; i < count && it.next(&v); ++i) picked.emplace_back(v);
      for (auto e = picked.rbegin(); e != picked.rend(); ++e) fn(*e);
      return;
    }
    auto it = list_.iterate_from(start);
    std::string_view v;
    for (size_t i = 0; i < count && it.next(&v); ++i) fn(v);
  }

 private:
  const ListObject& list_;
};

}  // namespace

std::unique_ptr<SortSource> list_sort_source(const core::Object& list) {
  return std::make_unique<ListSortSource>(static_cast<const ListObject&>(list));
}

void store_sorted_list(CommandContext& ctx, std::string_view key,
                       std::vector<std::string>&& elements) {
  const int db = ctx.client.db;
  auto fresh = std::make_unique<ListObject>(list_limits(ctx.broker));
  for (const std::string& e : elements) fresh->push(ListEnd::kTail, e);
  replace_key(ctx, db, key, std::move(fresh));
  // The journal rebuilds it: the key's removal, then one push of every element.
  ctx.broker.kv().record_delete(db, key);
  std::vector<std::string_view> views(elements.begin(), elements.end());
  kv::record_list_push(ctx.broker.kv(), db, key, false, views);
}

void register_list_commands(CommandTable& t) {
  const CommandFamily cmd{"list"};
  const uint32_t kW = kWrite | kDenyOom;
  t.add(cmd("lpush", -3, kW | kFast, lpush, "@write @list @fast",
            "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
            "1.0.0"));
  t.add(cmd("rpush", -3, kW | kFast, rpush, "@write @list @fast",
            "Appends one or more elements to a list. Creates the key if it doesn't exist.",
            "1.0.0"));
  t.add(cmd("lpushx", -3, kW | kFast, lpushx, "@write @list @fast",
            "Prepends one or more elements to a list only when the list exists.", "2.2.0"));
  t.add(cmd("rpushx", -3, kW | kFast, rpushx, "@write @list @fast",
            "Appends an element to a list only when the list exists.", "2.2.0"));
  t.add(cmd("lpop", -2, kWrite | kFast, lpop, "@write @list @fast",
            "Returns the first elements in a list after removing it. Deletes the list if the last "
            "element was popped.",
            "1.0.0"));
  t.add(cmd("rpop", -2, kWrite | kFast, rpop, "@write @list @fast",
            "Returns and removes the last elements of a list. Deletes the list if the last element "
            "was popped.",
            "1.0.0"));
  t.add(cmd("llen", 2, kReadonly | kFast, llen, "@read @list @fast",
            "Returns the length of a list.", "1.0.0"));
  t.add(cmd("lrange", 4, kReadonly, lrange, "@read @list @slow",
            "Returns a range of elements from a list.", "1.0.0"));
  t.add(cmd("lindex", 3, kReadonly, lindex, "@read @list @slow",
            "Returns an element from a list by its index.", "1.0.0"));
  t.add(cmd("lset", 4, kW, lset, "@write @list @slow",
            "Sets the value of an element in a list by its index.", "1.0.0"));
  t.add(cmd("linsert", 5, kW, linsert, "@write @list @slow",
            "Inserts an element before or after another element in a list.", "2.2.0"));
  t.add(cmd("lrem", 4, kWrite, lrem, "@write @list @slow",
            "Removes elements from a list. Deletes the list if the last element was removed.",
            "1.0.0"));
  t.add(cmd("ltrim", 4, kWrite, ltrim, "@write @list @slow",
            "Removes elements from both ends a list. Deletes the list if all elements were "
            "trimmed.",
            "1.0.0"));
  t.add(cmd("lpos", -3, kReadonly, lpos, "@read @list @slow",
            "Returns the index of matching elements in a list.", "6.0.6"));
  t.add(cmd("lmove", 5, kW, lmove, "@write @list @slow",
            "Returns an element after popping it from one list and pushing it to another. Deletes "
            "the list if the last element was moved.",
            "6.2.0", 1, 2, 1));
  t.add(cmd("rpoplpush", 3, kW, rpoplpush, "@write @list @slow",
            "Returns the last element of a list after removing and pushing it to another list. "
            "Deletes the list if the last element was popped.",
            "1.2.0", 1, 2, 1));
  t.add(cmd("lmpop", -4, kWrite | kMovableKeys, lmpop, "@write @list @slow",
            "Returns multiple elements from a list after removing them. Deletes the list if the "
            "last element was popped.",
            "7.0.0", 0, 0, 0));
  register_list_blocking_commands(t);
}

}  // namespace sluice::commands
