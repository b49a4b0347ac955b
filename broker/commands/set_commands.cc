// Set commands on one key: SADD SREM SCARD SISMEMBER SMISMEMBER SMOVE SRANDMEMBER SPOP SSCAN
// (the multi-key algebra is in set_algebra_commands.cc). Each write journals its effect (SPOP
// the members it removed), touches WATCH and emits Redis's keyspace events.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/set_support.h"
#include "broker/commands/sort_source.h"
#include "broker/core/glob.h"
#include "broker/kv/set_records.h"
#include "broker/replication/replication.h"

namespace sluice::commands {
namespace {

using kv::MemberBuf;
using kv::SetObject;

constexpr const char* kPositiveErr = "ERR value is out of range, must be positive";

auto rnd() {
  return [] { return set_rng()(); };
}

void sadd(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  bool replied = false;
  SetObject* s = write_set(ctx, key, &replied);
  if (replied) return;
  if (!s) {
    s = static_cast<SetObject*>(replace_key(ctx, db, key, SetObject::create_for(ctx.arg(2))));
  }
  const size_t limit = intset_limit(ctx);
  int64_t added = 0;
  for (size_t i = 2; i < ctx.argc(); ++i) added += s->add(ctx.arg(i), limit);
  if (added > 0) {
    kv::record_set_add(ctx.broker.kv(), db, key, ctx.args.subspan(2));
    kv_written(ctx, key);
    ctx.broker.notify('s', "sadd", key, db);
  }
  ctx.reply.integer(added);
}

void srem(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  bool replied = false;
  SetObject* s = write_set(ctx, key, &replied);
  if (replied) return;
  if (!s) return ctx.reply.integer(0);
  int64_t removed = 0;
  for (size_t i = 2; i < ctx.argc() && !s->empty(); ++i) removed += s->remove(ctx.arg(i));
  if (removed > 0) {
    const bool emptied = s->empty();
    kv::record_set_rem(ctx.broker.kv(), db, key, ctx.args.subspan(2));
    if (emptied) ctx.db().remove(key);  // the journaled removal deletes an emptied set on replay
    kv_written(ctx, key);
    ctx.broker.notify('s', "srem", key, db);
    if (emptied) ctx.broker.notify('g', "del", key, db);
  }
  ctx.reply.integer(removed);
}

void scard(CommandContext& ctx) {
  bool replied = false;
  SetObject* s = read_set(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(s ? static_cast<int64_t>(s->size()) : 0);
}

void sismember(CommandContext& ctx) {
  bool replied = false;
  SetObject* s = read_set(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.integer(s && s->contains(ctx.arg(2)) ? 1 : 0);
}

void smismember(CommandContext& ctx) {
  bool replied = false;
  SetObject* s = read_set(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) ctx.reply.integer(s && s->contains(ctx.arg(i)) ? 1 : 0);
}

void smove(CommandContext& ctx) {
  std::string_view src_key = ctx.arg(1);
  std::string_view dst_key = ctx.arg(2);
  std::string_view member = ctx.arg(3);
  const int db = ctx.client.db;
  core::Object* src_obj = lookup_write(ctx, src_key);
  core::Object* dst_obj = lookup_write(ctx, dst_key);
  // A missing source answers 0 before any type check, as Redis does.
  if (!src_obj) return ctx.reply.integer(0);
  if (src_obj->type() != core::ObjectType::kSet ||
      (dst_obj && dst_obj->type() != core::ObjectType::kSet)) {
    return ctx.wrong_type();
  }
  auto* src = static_cast<SetObject*>(src_obj);
  auto* dst = static_cast<SetObject*>(dst_obj);
  if (src == dst) return ctx.reply.integer(src->contains(member) ? 1 : 0);
  if (!src->remove(member)) return ctx.reply.integer(0);
  kv::record_set_rem(ctx.broker.kv(), db, src_key, ctx.args.subspan(3, 1));
  ctx.broker.notify('s', "srem", src_key, db);
  if (src->empty()) {
    ctx.db().remove(src_key);
    ctx.broker.notify('g', "del", src_key, db);
  }
  kv_written(ctx, src_key);
  if (!dst) {
    dst = static_cast<SetObject*>(replace_key(ctx, db, dst_key, SetObject::create_for(member)));
  }
  if (dst->add(member, intset_limit(ctx))) {
    kv::record_set_add(ctx.broker.kv(), db, dst_key, ctx.args.subspan(3, 1));
    kv_written(ctx, dst_key);
    ctx.broker.notify('s', "sadd", dst_key, db);
  }
  ctx.reply.integer(1);
}

// Replies `count` distinct random members of `s` (0 < count < size), in random order.
void reply_distinct_members(CommandContext& ctx, const SetObject& s, size_t count) {
  const size_t size = s.size();
  ctx.reply.array(count);
  auto& rng = set_rng();
  MemberBuf buf;
  if (s.is_intset()) {
    // Partial Fisher-Yates over positions: the first `count` after the shuffle are the picks.
    std::vector<uint32_t> pos(size);
    for (size_t i = 0; i < size; ++i) pos[i] = static_cast<uint32_t>(i);
    for (size_t i = 0; i < count; ++i) {
      std::swap(pos[i], pos[i + rng() % (size - i)]);
      ctx.reply.bulk(kv::format_member(s.ints()[pos[i]], buf));
    }
    return;
  }
  if (count * 3 > size) {
    // Most of the set is wanted: shuffle views of every member (Redis's "case 3").
    std::vector<std::string_view> all;
    all.reserve(size);
    s.for_each([&](std::string_view m) { all.push_back(m); });
    for (size_t i = 0; i < count; ++i) {
      std::swap(all[i], all[i + rng() % (size - i)]);
      ctx.reply.bulk(all[i]);
    }
    return;
  }
  // A few members of a big set: random picks, skipping repeats (Redis's "case 4").
  std::unordered_set<const char*> seen;
  seen.reserve(count * 2);
  for (size_t picked = 0; picked < count;) {
    std::string_view m = s.random_member(rnd(), buf);
    if (!seen.insert(m.data()).second) continue;
    ctx.reply.bulk(m);
    ++picked;
  }
}

void srandmember(CommandContext& ctx) {
  if (ctx.argc() > 3) return ctx.syntax_error();
  std::string_view key = ctx.arg(1);
  bool replied = false;
  MemberBuf buf;
  if (ctx.argc() == 2) {
    SetObject* s = read_set(ctx, key, &replied);
    if (replied) return;
    if (!s) return ctx.reply.null();
    return ctx.reply.bulk(s->random_member(rnd(), buf));
  }
  int64_t count = 0;
  if (!int_arg(ctx, ctx.arg(2), &count)) return;
  if (count == INT64_MIN) {
    return ctx.error_text(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
  }
  SetObject* s = read_set(ctx, key, &replied);
  if (replied) return;
  if (!s || count == 0) return ctx.reply.array(0);
  const size_t size = s->size();
  if (count < 0 || count == 1) {
    // Repetitions allowed: independent picks.
    const auto n = static_cast<uint64_t>(count < 0 ? -count : count);
    ctx.reply.array(n);
    for (uint64_t i = 0; i < n; ++i) ctx.reply.bulk(s->random_member(rnd(), buf));
    return;
  }
  if (static_cast<uint64_t>(count) >= size) {
    ctx.reply.array(size);
    s->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
    return;
  }
  reply_distinct_members(ctx, *s, static_cast<size_t>(count));
}

void spop_one(CommandContext& ctx) {
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  bool replied = false;
  SetObject* s = write_set(ctx, key, &replied);
  if (replied) return;
  if (!s) return ctx.reply.null();
  MemberBuf buf;
  std::string_view member = s->random_member(rnd(), buf);
  ctx.reply.bulk(member);
  kv::record_set_rem(ctx.broker.kv(), db, key, std::span<const std::string_view>(&member, 1));
  std::string_view srem[] = {"SREM", key, member};  // the replication effect (replication.h)
  replication::of(ctx.broker).emit(db, srem);
  s->remove(member);  // `member` may view the entry it removes: not used after this
  ctx.broker.notify('s', "spop", key, db);
  if (s->empty()) {
    ctx.db().remove(key);
    ctx.broker.notify('g', "del", key, db);
  }
  kv_written(ctx, key);
}

// SPOP of the whole set: replied in the order SUNION of the key would give (Redis answers
// through it), which is numeric when the members are integers that fit an intset.
void spop_all(CommandContext& ctx, SetObject& s) {
  ctx.reply.set(s.size());
  if (!s.is_intset() && s.size() <= intset_limit(ctx)) {
    SetObject rebuilt(true);
    s.for_each([&](std::string_view m) { rebuilt.add(m, intset_limit(ctx)); });
    rebuilt.for_each([&](std::string_view m) { ctx.reply.bulk(m); });
  } else {
    s.for_each([&](std::string_view m) { ctx.reply.bulk(m); });
  }
  delete_key(ctx, ctx.client.db, ctx.arg(1));
  ctx.broker.notify('g', "del", ctx.arg(1), ctx.client.db);
}

void spop_count(CommandContext& ctx) {
  int64_t count = 0;
  if (!wire::parse_i64(ctx.arg(2), &count) || count < 0) return ctx.error_text(kPositiveErr);
  std::string_view key = ctx.arg(1);
  const int db = ctx.client.db;
  bool replied = false;
  SetObject* s = write_set(ctx, key, &replied);
  if (replied) return;
  if (!s || count == 0) return ctx.reply.set(0);
  const size_t size = s->size();
  ctx.broker.notify('s', "spop", key, db);
  kv_written(ctx, key);
  if (static_cast<uint64_t>(count) >= size) return spop_all(ctx, *s);
  const size_t n = static_cast<size_t>(count);
  const size_t remaining = size - n;
  ctx.reply.set(n);
  MemberBuf buf;
  if (remaining * 5 > n) {
    // Few members leave: pop them one by one.
    std::vector<std::string> popped;
    popped.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      std::string_view m = s->random_member(rnd(), buf);
      ctx.reply.bulk(m);
      popped.emplace_back(m);
      s->remove(popped.back());
    }
    std::vector<std::string_view> views(popped.begin(), popped.end());
    kv::record_set_rem(ctx.broker.kv(), db, key, views);
    views.insert(views.begin(), {"SREM", key});
    replication::of(ctx.broker).emit(db, views);
    return;
  }
  // Most members leave: move the few that stay into a new set, reply what is left of the old
  // one, and keep the new one (re-encoded as Redis's rebuilt set is). Journaled as the new
  // contents, which are the smaller side.
  std::unique_ptr<SetObject> kept;
  const size_t limit = intset_limit(ctx);
  for (size_t i = 0; i < remaining; ++i) {
    std::string m(s->random_member(rnd(), buf));
    if (!kept) kept = SetObject::create_for(m);
    kept->add(m, limit);
    s->remove(m);
  }
  s->for_each([&](std::string_view m) { ctx.reply.bulk(m); });
  s->swap_contents(*kept);
  kv::record_set_store(ctx.broker.kv(), db, key, *s, true);
  std::vector<std::vector<std::string>> effects{{"DEL", std::string(key)},
                                                {"SADD", std::string(key)}};
  s->for_each([&](std::string_view m) { effects.back().emplace_back(m); });
  replication::of(ctx.broker).emit_all(db, effects);
}

void spop(CommandContext& ctx) {
  if (ctx.argc() > 3) return ctx.syntax_error();
  if (ctx.argc() == 3) return spop_count(ctx);
  spop_one(ctx);
}

void sscan(CommandContext& ctx) {
  uint64_t cursor = 0;
  if (!cursor_arg(ctx, ctx.arg(2), &cursor)) return;
  bool replied = false;
  SetObject* s = read_set(ctx, ctx.arg(1), &replied);
  if (replied) return;
  if (!s) {
    // Redis answers a missing key before it looks at the options.
    ctx.reply.array(2);
    ctx.reply.bulk("0");
    return ctx.reply.array(0);
  }
  std::string_view pattern;
  int64_t count = 10;
  for (size_t i = 3; i < ctx.argc(); i += 2) {
    bool has_value = i + 1 < ctx.argc();
    if (iequals(ctx.arg(i), "COUNT") && has_value) {
      if (!int_arg(ctx, ctx.arg(i + 1), &count)) return;
      if (count < 1) return ctx.syntax_error();
    } else if (iequals(ctx.arg(i), "MATCH") && has_value) {
      pattern = ctx.arg(i + 1);
    } else {
      return ctx.syntax_error();
    }
  }
  const bool match_all = pattern.empty() || pattern == "*";
  std::vector<std::string> out;
  auto keep = [&](std::string_view m) {
    if (match_all || core::glob_match(pattern, m)) out.emplace_back(m);
  };
  uint64_t next = 0;
  if (s->is_intset()) {
    // An intset is returned whole in one call, with cursor 0, as Redis does.
    s->for_each(keep);
  } else {
    // Redis visits at most count*10 buckets per call, stopping once it has `count` members.
    int64_t max_steps = count > INT64_MAX / 10 ? INT64_MAX : count * 10;
    next = cursor;
    do {
      next = s->scan_step(next, keep);
    } while (next != 0 && max_steps-- > 0 && out.size() < static_cast<size_t>(count));
  }
  ctx.reply.array(2);
  ctx.reply.bulk(std::to_string(next));
  ctx.reply.array(out.size());
  for (const auto& m : out) ctx.reply.bulk(m);
}

// SORT over a set: every member, in iteration order (no order of its own).
class SetSortSource final : public SortSource {
 public:
  explicit SetSortSource(const SetObject& set) : set_(set) {}
  size_t size() const override { return set_.size(); }
  bool ordered() const override { return false; }
  void read(size_t, size_t, bool, const std::function<void(std::string_view)>& fn) const override {
    set_.for_each(fn);
  }

 private:
  const SetObject& set_;
};

}  // namespace

std::unique_ptr<SortSource> set_sort_source(const core::Object& set) {
  return std::make_unique<SetSortSource>(static_cast<const SetObject&>(set));
}

void register_set_commands(CommandTable& t) {
  const CommandFamily cmd{"set"};
  t.add(cmd("sadd", -3, kWrite | kDenyOom | kFast, sadd, "@write @set @fast",
            "Add one or more members to a set", "1.0.0"));
  t.add(cmd("srem", -3, kWrite | kFast, srem, "@write @set @fast",
            "Remove one or more members from a set", "1.0.0"));
  t.add(cmd("scard", 2, kReadonly | kFast, scard, "@read @set @fast",
            "Get the number of members in a set", "1.0.0"));
  t.add(cmd("sismember", 3, kReadonly | kFast, sismember, "@read @set @fast",
            "Determine if a given value is a member of a set", "1.0.0"));
  t.add(cmd("smismember", -3, kReadonly | kFast, smismember, "@read @set @fast",
            "Returns the membership associated with the given elements for a set", "6.2.0"));
  t.add(cmd("smove", 4, kWrite | kFast, smove, "@write @set @fast",
            "Move a member from one set to another", "1.0.0", 1, 2, 1));
  t.add(cmd("srandmember", -2, kReadonly, srandmember, "@read @set @slow",
            "Get one or multiple random members from a set", "1.0.0"));
  t.add(cmd("spop", -2, kWrite | kFast, spop, "@write @set @fast",
            "Remove and return one or multiple random members from a set", "1.0.0"));
  t.add(cmd("sscan", -3, kReadonly, sscan, "@read @set @slow", "Incrementally iterate Set elements",
            "2.8.0"));
  register_set_algebra_commands(t);
}

}  // namespace sluice::commands
