#include "broker/commands/stream_support.h"

#include <charconv>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/stream/stream_engine.h"

namespace sluice::commands {

stream::Stream* lookup_stream(CommandContext& ctx, std::string_view key, bool* replied) {
  *replied = false;
  core::Object* obj = ctx.db().find(key, ctx.now_ms);
  if (!obj) return nullptr;
  if (obj->type() != core::ObjectType::kStream) {
    ctx.wrong_type();
    *replied = true;
    return nullptr;
  }
  return static_cast<stream::Stream*>(obj);
}

stream::Stream* create_stream(CommandContext& ctx, std::string_view key) {
  auto created = ctx.broker.streams().create(ctx.client.db, key);
  if (!created) {
    ctx.error(created.status());
    return nullptr;
  }
  stream::Stream* s = created->get();
  ctx.db().put(key, std::move(*created));
  return s;
}

void stream_written(CommandContext& ctx, stream::Stream& s) {
  ctx.broker.streams().mark_dirty(s);
  ctx.wrote = true;
  ctx.broker.key_modified(ctx.client.db, s.key);
}

int64_t acked_active_since(const CommandContext& ctx) {
  const int64_t limit = ctx.broker.config().stream_group_inactive_ms;
  return limit > 0 ? ctx.now_ms - limit : stream::kEveryGroup;
}

bool parse_ref_policy(std::string_view arg, stream::RefPolicy* out) {
  if (iequals(arg, "KEEPREF")) {
    *out = stream::RefPolicy::kKeepRef;
  } else if (iequals(arg, "DELREF")) {
    *out = stream::RefPolicy::kDelRef;
  } else if (iequals(arg, "ACKED")) {
    *out = stream::RefPolicy::kAcked;
  } else {
    return false;
  }
  return true;
}

bool parse_strict_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                     StreamId* out) {
  if (!wire::parse_stream_id(arg, out, missing_seq)) {
    ctx.error_text(kInvalidStreamIdErr);
    return false;
  }
  return true;
}

bool parse_interval_id(CommandContext& ctx, std::string_view arg, uint64_t missing_seq,
                       StreamId* out, bool* exclusive) {
  *exclusive = false;
  if (arg.size() > 1 && arg[0] == '(') {
    *exclusive = true;
    arg.remove_prefix(1);
  }
  if (*exclusive && (arg == "-" || arg == "+")) {
    ctx.error_text(kInvalidStreamIdErr);
    return false;
  }
  if (arg == "-") {
    *out = StreamId::min();
    return true;
  }
  if (arg == "+") {
    *out = StreamId::max();
    return true;
  }
  return parse_strict_id(ctx, arg, missing_seq, out);
}

bool parse_count(CommandContext& ctx, std::string_view arg, int64_t* out) {
  if (!wire::parse_i64(arg, out)) {
    ctx.not_integer();
    return false;
  }
  if (*out < 0) *out = 0;
  return true;
}

bool parse_read_options(CommandContext& ctx, bool xreadgroup, ReadOptions* out) {
  bool have_group = false;
  for (size_t i = 1; i < ctx.argc(); ++i) {
    size_t more = ctx.argc() - i - 1;
    std::string_view o = ctx.arg(i);
    if (iequals(o, "BLOCK") && more) {
      if (ctx.client.script) {
        // As Redis: BLOCK makes no sense inside a script, and says so (MULTI just never blocks).
        ctx.error_text("ERR " + std::string(ctx.arg(0)) +
                       " command is not allowed with BLOCK option from scripts");
        return false;
      }
      ++i;
      if (!wire::parse_i64(ctx.arg(i), &out->timeout)) {
        ctx.error_text("ERR timeout is not an integer or out of range");
        return false;
      }
      if (out->timeout < 0) {
        ctx.error_text("ERR timeout is negative");
        return false;
      }
    } else if (iequals(o, "COUNT") && more) {
      ++i;
      if (!parse_count(ctx, ctx.arg(i), &out->count)) return false;
    } else if (iequals(o, "STREAMS") && more) {
      out->streams_arg = i + 1;
      size_t n = ctx.argc() - out->streams_arg;
      if (n % 2 != 0) {
        // Redis 7.0 names XREAD here for both commands.
        ctx.error_text(
            "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
            "specified.");
        return false;
      }
      out->nstreams = n / 2;
      break;
    } else if (iequals(o, "GROUP") && more >= 2) {
      if (!xreadgroup) {
        ctx.error_text(
            "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
        return false;
      }
      out->group = ctx.arg(i + 1);
      out->consumer = ctx.arg(i + 2);
      have_group = true;
      i += 2;
    } else if (xreadgroup && iequals(o, "CLAIM") && more) {
      ++i;
      if (!wire::parse_i64(ctx.arg(i), &out->claim_min_idle)) {
        ctx.not_integer();
        return false;
      }
      if (out->claim_min_idle < 0) {
        ctx.error_text("ERR min-idle-time must be a positive integer");
        return false;
      }
    } else if ((iequals(o, "MAXCOUNT") || iequals(o, "MAXSIZE")) && more) {
      // Redis 8.10: caps across all the streams of the call.
      const bool maxcount = iequals(o, "MAXCOUNT");
      ++i;
      int64_t v;
      if (!wire::parse_i64(ctx.arg(i), &v) || v <= 0) {
        ctx.error_text(maxcount ? "ERR MAXCOUNT must be a positive integer"
                                : "ERR MAXSIZE must be a positive integer");
        return false;
      }
      (maxcount ? out->maxcount : out->maxsize) = v;
    } else if (iequals(o, "NOACK")) {
      if (!xreadgroup) {
        ctx.error_text(
            "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
        return false;
      }
      out->noack = true;
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  if (out->streams_arg == 0) {
    ctx.syntax_error();
    return false;
  }
  if (xreadgroup && !have_group) {
    ctx.error_text("ERR Missing GROUP option for XREADGROUP");
    return false;
  }
  if (out->maxcount > 0 && out->count > out->maxcount) {
    ctx.error_text("ERR MAXCOUNT must be greater than or equal to COUNT");
    return false;
  }
  return true;
}

void reply_id(wire::resp::ReplyWriter& reply, StreamId id) {
  char buf[StreamId::kMaxText];
  size_t n = id.format(buf);
  reply.bulk(std::string_view(buf, n));
}

wire::Status append_range(core::OutputQueue& out, const stream::Stream& s, StreamId from,
                          StreamId to, bool reverse, uint64_t count) {
  // The entries go straight into the output queue; the array header, whose count is known only
  // at the end, is slotted in front of them afterwards (no copy of the entries).
  std::string& staging = *out.staging();
  size_t mark = out.open_prefix();
  uint64_t n = 0;
  wire::Status st = s.range(from, to, reverse, count, [&](StreamId, std::string_view resp) {
    staging.append(resp);
    ++n;
    return true;
  });
  if (!st.is_ok()) {
    out.abort_prefix(mark);
    return st;
  }
  char header[core::OutputQueue::kPrefixRoom];
  header[0] = '*';
  auto [end, ec] = std::to_chars(header + 1, header + sizeof(header) - 2, n);
  (void)ec;
  end[0] = '\r';
  end[1] = '\n';
  out.close_prefix(mark, std::string_view(header, static_cast<size_t>(end + 2 - header)));
  return st;
}

wire::Status append_budgeted(std::string* out, const stream::Stream& s, StreamId after,
                             uint64_t count, ReadBudget& budget, uint64_t* n) {
  thread_local std::string entries;
  entries.clear();
  *n = 0;
  StreamId from;
  wire::Status st;
  if (budget.open() && after.increment(&from)) {
    st = s.range(from, StreamId::max(), false, budget.narrow(count),
                 [&](StreamId, std::string_view resp) {
                   if (!budget.take(resp.size())) return false;
                   entries.append(resp);
                   ++*n;
                   return true;
                 });
  }
  out->append("*" + std::to_string(*n) + "\r\n");
  out->append(entries);
  return st;
}

void reply_range(CommandContext& ctx, const stream::Stream& s, StreamId from, StreamId to,
                 bool reverse, uint64_t count) {
  wire::Status st = append_range(ctx.client.out, s, from, to, reverse, count);
  if (!st.is_ok()) ctx.error(st);
}

}  // namespace sluice::commands
