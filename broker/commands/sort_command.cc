// SORT and SORT_RO over sets, lists and sorted sets (their elements come from a SortSource, see
// sort_source.h): BY with `*` patterns and `->field` hash lookups (BY a constant: no sorting),
// LIMIT, GET (`#` for the element, several), ASC/DESC, ALPHA, STORE into a list. As Redis 7.0:
// numeric sorting breaks ties by comparing the elements, a BY or GET key that is missing (or of
// the wrong type) sorts as 0 / replies nil, and a set sorted BY a constant into STORE is sorted
// ALPHA so that the stored list does not depend on hash order.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/blocking/blocking_registry.h"
#include "broker/commands/acl_check.h"
#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/sort_source.h"

namespace sluice::commands {
namespace {

struct SortOptions {
  bool desc = false;
  bool alpha = false;
  bool dontsort = false;  // BY a pattern without '*'
  int64_t limit_start = 0;
  int64_t limit_count = -1;
  std::optional<std::string_view> by;
  std::optional<std::string_view> store;
  std::vector<std::string_view> gets;
};

bool full_key_access(CommandContext& ctx) {
  const acl::User& user = client_user(ctx.broker, ctx.client);
  return user.unrestricted() || user.all_keys_for(ctx.spec->acl_id);
}

bool parse_options(CommandContext& ctx, bool readonly, SortOptions* o) {
  for (size_t j = 2; j < ctx.argc(); ++j) {
    std::string_view a = ctx.arg(j);
    const size_t left = ctx.argc() - j - 1;
    if (iequals(a, "ASC")) {
      o->desc = false;
    } else if (iequals(a, "DESC")) {
      o->desc = true;
    } else if (iequals(a, "ALPHA")) {
      o->alpha = true;
    } else if (iequals(a, "LIMIT") && left >= 2) {
      if (!int_arg(ctx, ctx.arg(j + 1), &o->limit_start) ||
          !int_arg(ctx, ctx.arg(j + 2), &o->limit_count)) {
        return false;
      }
      j += 2;
    } else if (!readonly && iequals(a, "STORE") && left >= 1) {
      o->store = ctx.arg(++j);
    } else if (iequals(a, "BY") && left >= 1) {
      o->by = ctx.arg(++j);
      // Once a BY without '*' was given nothing is sorted, whatever BY follows (as Redis).
      if (o->by->find('*') == std::string_view::npos) {
        o->dontsort = true;
      } else if (!full_key_access(ctx)) {
        // A pattern reads keys the ACL never saw: only for users with access to every key.
        ctx.error_text("ERR BY option of SORT denied due to insufficient ACL permissions.");
        return false;
      }
    } else if (iequals(a, "GET") && left >= 1) {
      if (!full_key_access(ctx)) {
        ctx.error_text("ERR GET option of SORT denied due to insufficient ACL permissions.");
        return false;
      }
      o->gets.push_back(ctx.arg(++j));
    } else {
      ctx.syntax_error();
      return false;
    }
  }
  return true;
}

// Redis's lookupKeyByPattern: "#" is the element itself; otherwise the first '*' is replaced by
// the element, and "key->field" (a non-empty field after the '*') reads a hash field. A pattern
// without '*', a missing key or a key of another type gives nothing. The view is valid until the
// next write.
std::optional<std::string_view> lookup_pattern(CommandContext& ctx, std::string_view pattern,
                                               std::string_view element, std::string* key) {
  if (pattern == "#") return element;
  const size_t star = pattern.find('*');
  if (star == std::string_view::npos) return std::nullopt;
  std::string_view field;
  std::string_view rest = pattern.substr(star + 1);
  const size_t arrow = rest.find("->");
  if (arrow != std::string_view::npos && arrow + 2 < rest.size()) {
    field = rest.substr(arrow + 2);
    rest = rest.substr(0, arrow);
  }
  key->assign(pattern.substr(0, star));
  key->append(element);
  key->append(rest);
  core::Object* obj = lookup_read(ctx, *key);
  if (!obj) return std::nullopt;
  if (!field.empty()) {
    if (obj->type() != core::ObjectType::kHash) return std::nullopt;
    const std::string* v = static_cast<kv::HashObject*>(obj)->get(field);
    if (!v) return std::nullopt;
    return std::string_view(*v);
  }
  if (obj->type() != core::ObjectType::kString) return std::nullopt;
  return std::string_view(static_cast<kv::StringObject*>(obj)->value);
}

// strtod as Redis's SORT uses it: leading blanks, hex, "inf" accepted; the whole C string must be
// consumed (so a NUL byte ends it); NaN and overflow are errors.
bool sort_score(std::string_view text, double* out) {
  std::string buf(text);
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(buf.c_str(), &end);
  return *end == '\0' && errno != ERANGE && !std::isnan(*out);
}

// Binary comparison (memcmp, then length), as Redis's compareStringObjects.
int compare_bytes(std::string_view a, std::string_view b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

struct Item {
  std::string element;
  double score = 0;
  std::optional<std::string> by;  // ALPHA with BY: the looked-up value, if any
};

int compare_items(const Item& a, const Item& b, const SortOptions& o) {
  int cmp = 0;
  if (!o.alpha) {
    if (a.score != b.score) {
      cmp = a.score > b.score ? 1 : -1;
    } else {
      cmp = compare_bytes(a.element, b.element);
    }
  } else if (o.by) {
    if (!a.by || !b.by) {
      cmp = a.by.has_value() == b.by.has_value() ? 0 : (a.by ? 1 : -1);
    } else {
      cmp = compare_bytes(*a.by, *b.by);
    }
  } else {
    cmp = compare_bytes(a.element, b.element);
  }
  return o.desc ? -cmp : cmp;
}

void sort_generic(CommandContext& ctx, bool readonly) {
  SortOptions o;
  if (!parse_options(ctx, readonly, &o)) return;
  core::Object* obj = lookup_read(ctx, ctx.arg(1));
  std::unique_ptr<SortSource> source;
  if (obj) {
    source = make_sort_source(*obj);
    if (!source) return ctx.wrong_type();
  }
  if (o.dontsort && source && !source->ordered() && o.store) {
    // Sorting a set BY a constant into a list would store hash order: sort ALPHA instead.
    o.dontsort = false;
    o.alpha = true;
    o.by.reset();
  }
  const int64_t len = source ? static_cast<int64_t>(source->size()) : 0;
  // LIMIT as Redis clamps it; [start, end] may be empty (end < start).
  int64_t start = std::min(std::max<int64_t>(o.limit_start, 0), len);
  const int64_t count = std::min(std::max<int64_t>(o.limit_count, -1), len);
  int64_t end = count < 0 ? len - 1 : start + count - 1;
  if (start >= len) {
    start = len - 1;
    end = len - 2;
  }
  if (end >= len) end = len - 1;

  std::vector<Item> items;
  auto load = [&](std::string_view e) { items.push_back(Item{std::string(e), 0, std::nullopt}); };
  if (source && source->ordered() && o.dontsort) {
    // Only the LIMIT range, in the native order (reversed by DESC).
    if (end >= start) {
      source->read(static_cast<size_t>(start), static_cast<size_t>(end - start + 1), o.desc, load);
    }
    end -= start;
    start = 0;
  } else if (source) {
    items.reserve(source->size());
    source->read(0, source->size(), false, load);
  }

  bool conversion_error = false;
  std::string key;
  if (!o.dontsort) {
    for (Item& item : items) {
      std::optional<std::string_view> by = item.element;
      if (o.by) {
        by = lookup_pattern(ctx, *o.by, item.element, &key);
        if (!by) continue;  // sorts as 0, or first with ALPHA
      }
      if (o.alpha) {
        if (o.by) item.by.emplace(*by);
      } else if (!sort_score(*by, &item.score)) {
        conversion_error = true;
      }
    }
    std::stable_sort(items.begin(), items.end(),
                     [&](const Item& a, const Item& b) { return compare_items(a, b, o) < 0; });
  }
  if (conversion_error)
    return ctx.error_text("ERR One or more scores can't be converted into double");

  const size_t picked = end >= start ? static_cast<size_t>(end - start + 1) : 0;
  const size_t outputlen = o.gets.empty() ? picked : o.gets.size() * picked;
  if (!o.store) {
    ctx.reply.array(outputlen);
    for (size_t j = 0; j < picked; ++j) {
      const std::string& e = items[static_cast<size_t>(start) + j].element;
      if (o.gets.empty()) ctx.reply.bulk(e);
      for (std::string_view g : o.gets) {
        auto v = lookup_pattern(ctx, g, e, &key);
        v ? ctx.reply.bulk(*v) : ctx.reply.null();
      }
    }
    return;
  }
  std::vector<std::string> result;
  result.reserve(outputlen);
  for (size_t j = 0; j < picked; ++j) {
    std::string& e = items[static_cast<size_t>(start) + j].element;
    if (o.gets.empty()) result.push_back(std::move(e));
    for (std::string_view g : o.gets) {
      auto v = lookup_pattern(ctx, g, e, &key);
      result.emplace_back(v ? *v : std::string_view());
    }
  }
  const int db = ctx.client.db;
  std::string_view dst = *o.store;
  if (result.empty()) {
    if (delete_key(ctx, db, dst)) {
      ctx.wrote = true;
      ctx.broker.notify('g', "del", dst, db);
    }
    return ctx.reply.integer(0);
  }
  store_sorted_list(ctx, dst, std::move(result));
  kv_written(ctx, dst);
  ctx.broker.notify('l', "sortstore", dst, db);
  ctx.broker.blocking().signal(db, dst);
  ctx.reply.integer(static_cast<int64_t>(outputlen));
}

void sort(CommandContext& ctx) { sort_generic(ctx, false); }
void sort_ro(CommandContext& ctx) { sort_generic(ctx, true); }

}  // namespace

std::unique_ptr<SortSource> make_sort_source(core::Object& obj) {
  switch (obj.type()) {
    case core::ObjectType::kSet:
      return set_sort_source(obj);
    case core::ObjectType::kList:
      return list_sort_source(obj);
    case core::ObjectType::kZSet:
      return zset_sort_source(obj);
    default:
      return nullptr;
  }
}

void register_sort_commands(CommandTable& t) {
  const CommandFamily cmd{"generic"};
  t.add(cmd("sort", -2, kWrite | kDenyOom | kMovableKeys, sort,
            "@write @set @sortedset @list @slow @dangerous",
            "Sort the elements in a list, set or sorted set", "1.0.0"));
  t.add(cmd("sort_ro", -2, kReadonly | kMovableKeys, sort_ro,
            "@read @set @sortedset @list @slow @dangerous",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "7.0.0"));
}

}  // namespace sluice::commands
