// GEO commands: GEOADD GEODIST GEOHASH GEOPOS GEOSEARCH GEOSEARCHSTORE GEORADIUS
// GEORADIUSBYMEMBER and the _RO forms. A geo key is a sorted set whose scores are 52-bit
// geohashes (broker/kv/geohash.h), so these read and write it through the sorted set code: GEOADD
// is ZADD with computed scores, a search scans score ranges of the 9 cells around the centre.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/commands/arg_parse.h"
#include "broker/commands/error_text.h"
#include "broker/commands/kv_support.h"
#include "broker/commands/zset_support.h"
#include "broker/kv/geohash.h"

namespace sluice::commands {
namespace {

namespace geo = kv::geo;
using kv::ZMember;
using kv::ZSetObject;

constexpr const char* kDecodeMemberErr = "ERR could not decode requested zset member";

// Redis's extractLongLatOrReply: two floats within the WGS84 limits.
bool lonlat_arg(CommandContext& ctx, size_t i, double* lon, double* lat) {
  if (!parse_score(ctx.arg(i), lon) || !parse_score(ctx.arg(i + 1), lat)) {
    ctx.error_text(kNotFloatErr);
    return false;
  }
  if (*lon < geo::kLongMin || *lon > geo::kLongMax || *lat < geo::kLatMin || *lat > geo::kLatMax) {
    std::string text(700, '\0');
    int n = std::snprintf(text.data(), text.size(), "ERR invalid longitude,latitude pair %f,%f",
                          *lon, *lat);
    text.resize(static_cast<size_t>(n));
    ctx.error_text(text);
    return false;
  }
  return true;
}

// Meters per unit: m, km, ft, mi (any case).
bool unit_arg(CommandContext& ctx, std::string_view unit, double* to_meters) {
  if (iequals(unit, "m")) {
    *to_meters = 1;
  } else if (iequals(unit, "km")) {
    *to_meters = 1000;
  } else if (iequals(unit, "ft")) {
    *to_meters = 0.3048;
  } else if (iequals(unit, "mi")) {
    *to_meters = 1609.34;
  } else {
    ctx.error_text("ERR unsupported unit provided. please use M, KM, FT, MI");
    return false;
  }
  return true;
}

// <radius> <unit>
bool radius_arg(CommandContext& ctx, size_t i, geo::Shape* shape) {
  if (!parse_score(ctx.arg(i), &shape->radius)) {
    ctx.error_text("ERR need numeric radius");
    return false;
  }
  if (shape->radius < 0) {
    ctx.error_text("ERR radius cannot be negative");
    return false;
  }
  shape->kind = geo::Shape::Kind::kCircle;
  return unit_arg(ctx, ctx.arg(i + 1), &shape->conversion);
}

// <width> <height> <unit>
bool box_arg(CommandContext& ctx, size_t i, geo::Shape* shape) {
  if (!parse_score(ctx.arg(i), &shape->width)) {
    ctx.error_text("ERR need numeric width");
    return false;
  }
  if (!parse_score(ctx.arg(i + 1), &shape->height)) {
    ctx.error_text("ERR need numeric height");
    return false;
  }
  if (shape->height < 0 || shape->width < 0) {
    ctx.error_text("ERR height or width cannot be negative");
    return false;
  }
  shape->kind = geo::Shape::Kind::kBox;
  return unit_arg(ctx, ctx.arg(i + 2), &shape->conversion);
}

// The position of a member as the centre of a search; false if it is not in the set.
bool member_position(const ZSetObject& z, std::string_view member, geo::Shape* shape) {
  const ZMember* m = z.find(member);
  if (!m) return false;
  geo::decode_score(m->score, &shape->lon, &shape->lat);
  return true;
}

// A distance as Redis prints it, in a bulk string under RESP3 too: scaled by 10^4 and rounded
// to an integer with llrint (ties to even on the scaled double, which is not always what
// "%.4f" gives), then written with four decimals.
void reply_distance(CommandContext& ctx, double meters) {
  const long long scaled = std::llrint(meters * 10000.0);
  const unsigned long long magnitude = scaled < 0 ? 0ULL - static_cast<unsigned long long>(scaled)
                                                  : static_cast<unsigned long long>(scaled);
  char buf[48];
  int n = std::snprintf(buf, sizeof(buf), "%s%llu.%04llu", scaled < 0 ? "-" : "", magnitude / 10000,
                        magnitude % 10000);
  ctx.reply.bulk(std::string_view(buf, static_cast<size_t>(n)));
}

// A coordinate as Redis's addReplyHumanLongDouble: "%.17Lf" without trailing zeros, in a bulk
// string (RESP2) or a double (RESP3).
void reply_coordinate(CommandContext& ctx, double v) {
  const std::string text = wire::resp::format_long_double(v);
  if (!ctx.reply.resp3()) return ctx.reply.bulk(text);
  std::string* out = ctx.reply.buffer();
  out->push_back(',');
  out->append(text);
  out->append("\r\n", 2);
}

void geoadd(CommandContext& ctx) {
  unsigned flags = 0;
  size_t i = 2;
  for (; i < ctx.argc(); ++i) {
    std::string_view a = ctx.arg(i);
    if (iequals(a, "nx")) {
      flags |= kZAddNx;
    } else if (iequals(a, "xx")) {
      flags |= kZAddXx;
    } else if (iequals(a, "ch")) {
      flags |= kZAddCh;
    } else {
      break;
    }
  }
  if ((ctx.argc() - i) % 3 != 0 || ((flags & kZAddNx) && (flags & kZAddXx))) {
    return ctx.syntax_error();
  }
  const size_t n = (ctx.argc() - i) / 3;
  std::vector<double> scores(n);
  std::vector<std::string_view> members(n);
  for (size_t j = 0; j < n; ++j) {
    double lon = 0, lat = 0;
    if (!lonlat_arg(ctx, i + 3 * j, &lon, &lat)) return;
    geo::point_score(lon, lat, &scores[j]);
    members[j] = ctx.arg(i + 3 * j + 2);
  }
  if (!zadd_check_flags(ctx, flags, n)) return;
  zadd_scores(ctx, flags, scores, members);
}

void geodist(CommandContext& ctx) {
  double to_meters = 1;
  if (ctx.argc() == 5) {
    if (!unit_arg(ctx, ctx.arg(4), &to_meters)) return;
  } else if (ctx.argc() > 5) {
    return ctx.syntax_error();
  }
  bool replied = false;
  const ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  const ZMember* a = z ? z->find(ctx.arg(2)) : nullptr;
  const ZMember* b = z ? z->find(ctx.arg(3)) : nullptr;
  if (!a || !b) return ctx.reply.null();
  double lon1 = 0, lat1 = 0, lon2 = 0, lat2 = 0;
  geo::decode_score(a->score, &lon1, &lat1);
  geo::decode_score(b->score, &lon2, &lat2);
  reply_distance(ctx, geo::distance(lon1, lat1, lon2, lat2) / to_meters);
}

void geohash(CommandContext& ctx) {
  bool replied = false;
  const ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const ZMember* m = z ? z->find(ctx.arg(i)) : nullptr;
    m ? ctx.reply.bulk(geo::geohash_string(m->score)) : ctx.reply.null();
  }
}

void geopos(CommandContext& ctx) {
  bool replied = false;
  const ZSetObject* z = read_zset(ctx, ctx.arg(1), &replied);
  if (replied) return;
  ctx.reply.array(ctx.argc() - 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    const ZMember* m = z ? z->find(ctx.arg(i)) : nullptr;
    if (!m) {
      ctx.reply.null_array();
      continue;
    }
    double lon = 0, lat = 0;
    geo::decode_score(m->score, &lon, &lat);
    ctx.reply.array(2);
    reply_coordinate(ctx, lon);
    reply_coordinate(ctx, lat);
  }
}

// Which search command runs georadius_generic.
enum SearchFlag : unsigned {
  kRadiusCoords = 1,  // GEORADIUS[_RO] key lon lat radius unit
  kRadiusMember = 2,  // GEORADIUSBYMEMBER[_RO] key member radius unit
  kSearch = 4,        // GEOSEARCH key, GEOSEARCHSTORE dst key
  kSearchStore = 8,   // GEOSEARCHSTORE
  kNoStore = 16,      // the _RO forms
};

enum class Sort { kNone, kAsc, kDesc };

struct GeoPoint {
  const ZMember* member;
  double lon, lat;
  double dist;  // meters
  double score;
};

// The points of `z` inside the shape, cell by cell as Redis visits them. With `limit` > 0 (ANY),
// stops once that many are found.
std::vector<GeoPoint> search_points(const ZSetObject& z, const geo::Shape& shape, size_t limit) {
  std::vector<GeoPoint> out;
  const auto cells = geo::search_cells(shape);
  // Very large radii can give equal neighbour cells; Redis skips a cell equal to the last one
  // scanned, except when that was the centre.
  size_t last_scanned = 0;
  for (size_t i = 0; i < cells.size(); ++i) {
    const geo::HashBits cell = cells[i];
    if (cell.is_zero()) continue;
    if (last_scanned != 0 && cell.bits == cells[last_scanned].bits &&
        cell.step == cells[last_scanned].step) {
      continue;
    }
    if (limit && out.size() >= limit) break;
    uint64_t min = 0, max = 0;
    geo::cell_score_range(cell, &min, &max);
    ScoreRange range{static_cast<double>(min), static_cast<double>(max), false, true};
    auto [first, last] = score_range_ranks(z.tree(), range);
    kv::ZTree::Pos p = z.tree().at_rank(first);
    for (size_t r = first; r < last && p.valid(); ++r, p = kv::ZTree::next(p)) {
      GeoPoint g{p.member(), 0, 0, 0, p.score()};
      geo::decode_score(g.score, &g.lon, &g.lat);
      if (geo::within(shape, g.lon, g.lat, &g.dist)) out.push_back(g);
      if (limit && out.size() >= limit) break;
    }
    last_scanned = i;
  }
  return out;
}

// Redis sorts a COUNT-limited result with pqsort: Bentley and McIlroy's quicksort (median of
// three, ninther above 40 elements, three-way partition, insertion sort below 7 elements) that
// only sorts the parts overlapping ranks [lo, hi]. Equal distances
// come out in its order, so this follows it step by step over v[a, a + n).
template <typename Cmp>
void partial_quicksort(std::vector<GeoPoint>& v, ptrdiff_t a, ptrdiff_t n, ptrdiff_t lo,
                       ptrdiff_t hi, const Cmp& cmp) {
  auto at = [&](ptrdiff_t i) -> GeoPoint& { return v[static_cast<size_t>(i)]; };
  auto swap_at = [&](ptrdiff_t i, ptrdiff_t j) { std::swap(at(i), at(j)); };
  auto med3 = [&](ptrdiff_t i, ptrdiff_t j, ptrdiff_t k) {
    if (cmp(at(i), at(j)) < 0) {
      return cmp(at(j), at(k)) < 0 ? j : (cmp(at(i), at(k)) < 0 ? k : i);
    }
    return cmp(at(j), at(k)) > 0 ? j : (cmp(at(i), at(k)) < 0 ? i : k);
  };
  auto insertion_sort = [&] {
    for (ptrdiff_t m = a + 1; m < a + n; ++m) {
      for (ptrdiff_t l = m; l > a && cmp(at(l - 1), at(l)) > 0; --l) swap_at(l, l - 1);
    }
  };
  auto overlaps = [&](ptrdiff_t first, ptrdiff_t count) {
    return !(hi < first || lo > first + count - 1);
  };
  for (;;) {
    if (n < 7) return insertion_sort();
    ptrdiff_t pm = a + n / 2;
    if (n > 7) {
      ptrdiff_t pl = a, pn = a + n - 1;
      if (n > 40) {
        const ptrdiff_t d = n / 8;
        pl = med3(pl, pl + d, pl + 2 * d);
        pm = med3(pm - d, pm, pm + d);
        pn = med3(pn - 2 * d, pn - d, pn);
      }
      pm = med3(pl, pm, pn);
    }
    swap_at(a, pm);
    ptrdiff_t pa = a + 1, pb = a + 1, pc = a + n - 1, pd = a + n - 1;
    for (;;) {
      int r = 0;
      while (pb <= pc && (r = cmp(at(pb), at(a))) <= 0) {
        if (r == 0) {
          swap_at(pa++, pb);
        }
        ++pb;
      }
      while (pb <= pc && (r = cmp(at(pc), at(a))) >= 0) {
        if (r == 0) {
          swap_at(pc, pd--);
        }
        --pc;
      }
      if (pb > pc) break;
      swap_at(pb++, pc--);
    }
    const ptrdiff_t end = a + n;
    ptrdiff_t r = std::min(pa - a, pb - pa);
    for (ptrdiff_t i = 0; i < r; ++i) swap_at(a + i, pb - r + i);
    r = std::min(pd - pc, end - pd - 1);
    for (ptrdiff_t i = 0; i < r; ++i) swap_at(pb + i, end - r + i);
    if ((r = pb - pa) > 1 && overlaps(a, r)) partial_quicksort(v, a, r, lo, hi, cmp);
    if ((r = pd - pc) <= 1) return;
    a = end - r;
    n = r;
    if (!overlaps(a, n)) return;
  }
}

// Redis's order for the first `returned` points: a stable sort when all are returned (glibc's
// qsort is a merge sort), its partial quicksort otherwise.
void sort_points(std::vector<GeoPoint>& points, Sort sort, size_t returned) {
  if (sort == Sort::kNone) return;
  const bool asc = sort == Sort::kAsc;
  auto cmp = [asc](const GeoPoint& a, const GeoPoint& b) {
    if (a.dist == b.dist) return 0;
    return (a.dist < b.dist) == asc ? -1 : 1;
  };
  if (returned == points.size()) {
    std::stable_sort(points.begin(), points.end(),
                     [&](const GeoPoint& a, const GeoPoint& b) { return cmp(a, b) < 0; });
  } else {
    partial_quicksort(points, 0, static_cast<ptrdiff_t>(points.size()), 0,
                      static_cast<ptrdiff_t>(returned) - 1, cmp);
  }
}

// STORE / STOREDIST: the first `returned` points as a sorted set at `dst`, scored by geohash, or
// by distance in units of `dist_unit` meters when it is not 0.
void store_points(CommandContext& ctx, std::string_view dst, const std::vector<GeoPoint>& points,
                  size_t returned, double dist_unit, const char* event) {
  std::unique_ptr<ZSetObject> result;
  if (returned) {
    result = std::make_unique<ZSetObject>();
    result->set_skiplist();
    const kv::ZSetLimits limits = zset_limits(ctx.broker);
    for (size_t i = 0; i < returned; ++i) {
      const GeoPoint& g = points[i];
      const double score = dist_unit != 0 ? g.dist / dist_unit : g.score;
      // A huge radius can scan a cell twice, listing its points twice: the last score stays.
      if (ZMember* m = result->find(g.member->view())) {
        result->update(m, score);
      } else {
        result->insert(g.member->view(), score, limits);
      }
    }
  }
  store_zset(ctx, dst, std::move(result), event);
}

// The first `returned` points, each with its requested extras (distance in units of
// `conversion` meters, geohash score, coordinates).
void reply_points(CommandContext& ctx, const std::vector<GeoPoint>& points, size_t returned,
                  bool withdist, bool withhash, bool withcoord, double conversion) {
  const size_t options = size_t{withdist} + size_t{withhash} + size_t{withcoord};
  ctx.reply.array(returned);
  for (size_t i = 0; i < returned; ++i) {
    const GeoPoint& g = points[i];
    if (options) ctx.reply.array(options + 1);
    ctx.reply.bulk(g.member->view());
    if (withdist) reply_distance(ctx, g.dist / conversion);
    if (withhash) ctx.reply.integer(static_cast<int64_t>(g.score));
    if (withcoord) {
      ctx.reply.array(2);
      reply_coordinate(ctx, g.lon);
      reply_coordinate(ctx, g.lat);
    }
  }
}

// georadiusGeneric: `src` is the index of the source key.
void georadius_generic(CommandContext& ctx, size_t src, unsigned flags) {
  bool replied = false;
  const ZSetObject* z = read_zset(ctx, ctx.arg(src), &replied);
  if (replied) return;

  geo::Shape shape;
  size_t base_args = 0;
  std::optional<std::string_view> store_key;
  bool store_dist = false;
  if (flags & kRadiusCoords) {
    base_args = 6;
    if (!lonlat_arg(ctx, 2, &shape.lon, &shape.lat)) return;
    if (!radius_arg(ctx, 4, &shape)) return;
  } else if (flags & kRadiusMember) {
    base_args = 5;
    // Without a source key the arguments are still parsed, to know which reply to give.
    if (z) {
      if (!member_position(*z, ctx.arg(2), &shape)) return ctx.error_text(kDecodeMemberErr);
      if (!radius_arg(ctx, 3, &shape)) return;
    }
  } else {
    base_args = 2;
    if (flags & kSearchStore) {
      base_args = 3;
      store_key = ctx.arg(1);
    }
  }

  bool withdist = false, withhash = false, withcoord = false;
  bool frommember = false, fromlonlat = false, byradius = false, bybox = false;
  bool any = false;
  Sort sort = Sort::kNone;
  int64_t count = 0;
  const bool search = flags & kSearch;
  const bool can_store = !(flags & kNoStore) && !search;
  for (size_t i = base_args; i < ctx.argc(); ++i) {
    const size_t left = ctx.argc() - i - 1;
    std::string_view a = ctx.arg(i);
    if (iequals(a, "withdist")) {
      withdist = true;
    } else if (iequals(a, "withhash")) {
      withhash = true;
    } else if (iequals(a, "withcoord")) {
      withcoord = true;
    } else if (iequals(a, "any")) {
      any = true;
    } else if (iequals(a, "asc")) {
      sort = Sort::kAsc;
    } else if (iequals(a, "desc")) {
      sort = Sort::kDesc;
    } else if (iequals(a, "count") && left >= 1) {
      if (!int_arg(ctx, ctx.arg(i + 1), &count)) return;
      if (count <= 0) return ctx.error_text("ERR COUNT must be > 0");
      ++i;
    } else if (iequals(a, "store") && left >= 1 && can_store) {
      store_key = ctx.arg(i + 1);
      store_dist = false;
      ++i;
    } else if (iequals(a, "storedist") && left >= 1 && can_store) {
      store_key = ctx.arg(i + 1);
      store_dist = true;
      ++i;
    } else if (iequals(a, "storedist") && (flags & kSearchStore)) {
      store_dist = true;
    } else if (iequals(a, "frommember") && left >= 1 && search && !fromlonlat) {
      if (z && !member_position(*z, ctx.arg(i + 1), &shape)) {
        return ctx.error_text(kDecodeMemberErr);
      }
      frommember = true;
      ++i;
    } else if (iequals(a, "fromlonlat") && left >= 2 && search && !frommember) {
      if (!lonlat_arg(ctx, i + 1, &shape.lon, &shape.lat)) return;
      fromlonlat = true;
      i += 2;
    } else if (iequals(a, "byradius") && left >= 2 && search && !bybox) {
      if (!radius_arg(ctx, i + 1, &shape)) return;
      byradius = true;
      i += 2;
    } else if (iequals(a, "bybox") && left >= 3 && search && !byradius) {
      if (!box_arg(ctx, i + 1, &shape)) return;
      bybox = true;
      i += 3;
    } else {
      return ctx.syntax_error();
    }
  }

  if (store_key && (withdist || withhash || withcoord)) {
    return ctx.error_text((flags & kSearchStore)
                              ? "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH "
                                "and WITHCOORD options"
                              : "ERR STORE option in GEORADIUS is not compatible with WITHDIST, "
                                "WITHHASH and WITHCOORD options");
  }
  if (search && !(frommember || fromlonlat)) {
    return ctx.error_text("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for " +
                          std::string(ctx.arg(0)));
  }
  if (search && !(byradius || bybox)) {
    return ctx.error_text("ERR exactly one of BYRADIUS and BYBOX can be specified for " +
                          std::string(ctx.arg(0)));
  }
  if (any && count == 0) return ctx.error_text("ERR the ANY argument requires COUNT argument");

  if (!z) {
    if (!store_key) return ctx.reply.array(0);
    store_zset(ctx, *store_key, nullptr, "");
    return ctx.reply.integer(0);
  }

  // COUNT without an order returns the nearest ones (unless ANY).
  if (count != 0 && sort == Sort::kNone && !any) sort = Sort::kAsc;

  std::vector<GeoPoint> points =
      search_points(*z, shape, any ? static_cast<size_t>(count) : size_t{0});
  if (points.empty() && !store_key) return ctx.reply.array(0);

  const size_t returned = count == 0 || points.size() < static_cast<uint64_t>(count)
                              ? points.size()
                              : static_cast<size_t>(count);
  sort_points(points, sort, returned);

  if (store_key) {
    store_points(ctx, *store_key, points, returned, store_dist ? shape.conversion : 0,
                 search ? "geosearchstore" : "georadiusstore");
    return ctx.reply.integer(static_cast<int64_t>(returned));
  }
  reply_points(ctx, points, returned, withdist, withhash, withcoord, shape.conversion);
}

void georadius(CommandContext& ctx) { georadius_generic(ctx, 1, kRadiusCoords); }
void georadius_ro(CommandContext& ctx) { georadius_generic(ctx, 1, kRadiusCoords | kNoStore); }
void georadiusbymember(CommandContext& ctx) { georadius_generic(ctx, 1, kRadiusMember); }
void georadiusbymember_ro(CommandContext& ctx) {
  georadius_generic(ctx, 1, kRadiusMember | kNoStore);
}
void geosearch(CommandContext& ctx) { georadius_generic(ctx, 1, kSearch); }
void geosearchstore(CommandContext& ctx) { georadius_generic(ctx, 2, kSearch | kSearchStore); }

}  // namespace

void register_geo_commands(CommandTable& t) {
  const CommandFamily cmd{"geo"};
  const uint32_t kW = kWrite | kDenyOom;
  t.add(
      cmd("geoadd", -5, kW, geoadd, "@write @geo @slow",
          "Add one or more geospatial items in the geospatial index represented using a sorted set",
          "3.2.0"));
  t.add(cmd("geodist", -4, kReadonly, geodist, "@read @geo @slow",
            "Returns the distance between two members of a geospatial index", "3.2.0"));
  t.add(cmd("geohash", -2, kReadonly, geohash, "@read @geo @slow",
            "Returns members of a geospatial index as standard geohash strings", "3.2.0"));
  t.add(cmd("geopos", -2, kReadonly, geopos, "@read @geo @slow",
            "Returns longitude and latitude of members of a geospatial index", "3.2.0"));
  t.add(cmd("georadius", -6, kW | kMovableKeys, georadius, "@write @geo @slow",
            "Query a sorted set representing a geospatial index to fetch members matching a given "
            "maximum distance from a point",
            "3.2.0"));
  t.add(cmd("georadius_ro", -6, kReadonly, georadius_ro, "@read @geo @slow",
            "A read-only variant for GEORADIUS", "3.2.10"));
  t.add(cmd("georadiusbymember", -5, kW | kMovableKeys, georadiusbymember, "@write @geo @slow",
            "Query a sorted set representing a geospatial index to fetch members matching a given "
            "maximum distance from a member",
            "3.2.0"));
  t.add(cmd("georadiusbymember_ro", -5, kReadonly, georadiusbymember_ro, "@read @geo @slow",
            "A read-only variant for GEORADIUSBYMEMBER", "3.2.10"));
  t.add(cmd("geosearch", -7, kReadonly, geosearch, "@read @geo @slow",
            "Query a sorted set representing a geospatial index to fetch members inside an area of "
            "a box or a circle.",
            "6.2.0"));
  t.add(cmd("geosearchstore", -8, kW, geosearchstore, "@write @geo @slow",
            "Query a sorted set representing a geospatial index to fetch members inside an area of "
            "a box or a circle, and store the result in another key.",
            "6.2.0", 1, 2, 1));
}

}  // namespace sluice::commands
