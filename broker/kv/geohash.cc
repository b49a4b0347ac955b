#include "broker/kv/geohash.h"

#include <cmath>
#include <numbers>

namespace sluice::kv::geo {
namespace {

constexpr uint64_t kEvenBits = 0x5555555555555555ULL;  // latitude lane
constexpr uint64_t kOddBits = 0xAAAAAAAAAAAAAAAAULL;   // longitude lane
constexpr double kDegToRad = std::numbers::pi / 180.0;
// Half the Web Mercator world width: the radius that needs only one step.
constexpr double kMercatorMax = 20037726.37;

double deg_rad(double deg) { return deg * kDegToRad; }
double rad_deg(double rad) { return rad / kDegToRad; }

// Moves a 32-bit value's bits to the even positions of a 64-bit word (bit i -> bit 2i).
uint64_t spread(uint32_t v) {
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x << 2)) & 0x3333333333333333ULL;
  x = (x | (x << 1)) & kEvenBits;
  return x;
}

// The inverse of spread for the even bits of a word.
uint32_t compact(uint64_t x) {
  x &= kEvenBits;
  x = (x | (x >> 1)) & 0x3333333333333333ULL;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x >> 16)) & 0x00000000FFFFFFFFULL;
  return static_cast<uint32_t>(x);
}

// Adds +-1 to one lane of an interleaved hash, modulo 2^step, keeping the other lane as is.
// The other lane's positions are filled with ones so that the carry (or borrow) ripples
// through them; then the lane is masked back to its width.
uint64_t move_lane(uint64_t bits, int step, int delta, bool longitude) {
  if (delta == 0) return bits;
  const int unused = 64 - step * 2;
  const uint64_t lane_mask = longitude ? kOddBits : kEvenBits;
  const uint64_t fill = (longitude ? kEvenBits : kOddBits) >> unused;
  uint64_t lane = bits & lane_mask;
  const uint64_t other = bits & ~lane_mask;
  if (delta > 0) {
    lane = lane + (fill + 1);
  } else {
    lane = (lane | fill) - (fill + 1);
  }
  lane &= lane_mask >> unused;
  return lane | other;
}

HashBits moved(HashBits h, int dlon, int dlat) {
  h.bits = move_lane(h.bits, h.step, dlon, true);
  h.bits = move_lane(h.bits, h.step, dlat, false);
  return h;
}

constexpr Range kWgs84Longitude{kLongMin, kLongMax};
constexpr Range kWgs84Latitude{kLatMin, kLatMax};

// The longitude/latitude bounds of a shape: [0] min lon, [1] min lat, [2] max lon, [3] max lat.
// A box's longitude span is widest on the edge nearer the equator.
std::array<double, 4> bounding_box(const Shape& s) {
  const bool circle = s.kind == Shape::Kind::kCircle;
  const double height = s.conversion * (circle ? s.radius : s.height / 2);
  const double width = s.conversion * (circle ? s.radius : s.width / 2);
  const double lat_delta = rad_deg(height / kEarthRadiusMeters);
  const double lon_delta_top =
      rad_deg(width / kEarthRadiusMeters / std::cos(deg_rad(s.lat + lat_delta)));
  const double lon_delta_bottom =
      rad_deg(width / kEarthRadiusMeters / std::cos(deg_rad(s.lat - lat_delta)));
  const double lon_delta = s.lat < 0 ? lon_delta_bottom : lon_delta_top;
  return {s.lon - lon_delta, s.lat - lat_delta, s.lon + lon_delta, s.lat + lat_delta};
}

}  // namespace

bool encode(Range longitude, Range latitude, double lon, double lat, int step, HashBits* out) {
  *out = HashBits{};
  if (step > 32 || step == 0) return false;
  if (latitude.max - latitude.min == 0 || longitude.max - longitude.min == 0) return false;
  if (lon > kLongMax || lon < kLongMin || lat > kLatMax || lat < kLatMin) return false;
  out->step = static_cast<uint8_t>(step);
  if (lat < latitude.min || lat > latitude.max || lon < longitude.min || lon > longitude.max) {
    return false;
  }
  double lat_offset = (lat - latitude.min) / (latitude.max - latitude.min);
  double lon_offset = (lon - longitude.min) / (longitude.max - longitude.min);
  const auto cells = static_cast<double>(uint64_t{1} << step);
  lat_offset *= cells;
  lon_offset *= cells;
  out->bits =
      spread(static_cast<uint32_t>(lat_offset)) | (spread(static_cast<uint32_t>(lon_offset)) << 1);
  return true;
}

bool encode_wgs84(double lon, double lat, int step, HashBits* out) {
  return encode(kWgs84Longitude, kWgs84Latitude, lon, lat, step, out);
}

bool decode(Range longitude, Range latitude, HashBits hash, Area* out) {
  if (hash.is_zero()) return false;
  if (latitude.max - latitude.min == 0 || longitude.max - longitude.min == 0) return false;
  out->hash = hash;
  const uint32_t lat_cell = compact(hash.bits);
  const uint32_t lon_cell = compact(hash.bits >> 1);
  const double lat_scale = latitude.max - latitude.min;
  const double lon_scale = longitude.max - longitude.min;
  const auto cells = static_cast<double>(uint64_t{1} << hash.step);
  // The +1 wraps in 32 bits, as the upper edge of the last cell does in Redis.
  const uint32_t lat_next = lat_cell + 1;
  const uint32_t lon_next = lon_cell + 1;
  out->latitude.min = latitude.min + (lat_cell * 1.0 / cells) * lat_scale;
  out->latitude.max = latitude.min + (lat_next * 1.0 / cells) * lat_scale;
  out->longitude.min = longitude.min + (lon_cell * 1.0 / cells) * lon_scale;
  out->longitude.max = longitude.min + (lon_next * 1.0 / cells) * lon_scale;
  return true;
}

void area_center(const Area& area, double* lon, double* lat) {
  double x = (area.longitude.min + area.longitude.max) / 2;
  if (x > kLongMax) x = kLongMax;
  if (x < kLongMin) x = kLongMin;
  double y = (area.latitude.min + area.latitude.max) / 2;
  if (y > kLatMax) y = kLatMax;
  if (y < kLatMin) y = kLatMin;
  *lon = x;
  *lat = y;
}

uint64_t align52(HashBits hash) { return hash.bits << (52 - hash.step * 2); }

uint64_t score_bits(double score) {
  // x86-64's cvttsd2si yields 0x8000000000000000 for out-of-range values; compilers convert to
  // unsigned through it (subtracting 2^63 first for values >= 2^63).
  constexpr double kTwo63 = 9223372036854775808.0;
  constexpr uint64_t kIndefinite = uint64_t{1} << 63;
  auto to_signed = [](double v) -> uint64_t {
    if (!(v >= -kTwo63 && v < kTwo63)) return kIndefinite;
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  };
  if (score < kTwo63) return to_signed(score);
  return to_signed(score - kTwo63) ^ kIndefinite;
}

void decode_score(double score, double* lon, double* lat) {
  Area area;
  decode(kWgs84Longitude, kWgs84Latitude, HashBits{score_bits(score), kStepMax}, &area);
  area_center(area, lon, lat);
}

bool point_score(double lon, double lat, double* score) {
  if (lon < kLongMin || lon > kLongMax || lat < kLatMin || lat > kLatMax) return false;
  HashBits h;
  encode_wgs84(lon, lat, kStepMax, &h);
  *score = static_cast<double>(align52(h));
  return true;
}

std::string geohash_string(double score) {
  static constexpr char kAlphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
  double lon = 0, lat = 0;
  decode_score(score, &lon, &lat);
  HashBits h;
  encode(Range{-180, 180}, Range{-90, 90}, lon, lat, kStepMax, &h);
  std::string out(11, '0');
  // 52 bits give ten 5-bit characters; the eleventh is always '0', as in Redis.
  for (int i = 0; i < 10; ++i) out[i] = kAlphabet[(h.bits >> (52 - (i + 1) * 5)) & 0x1f];
  return out;
}

double lat_distance(double lat1, double lat2) {
  return kEarthRadiusMeters * std::fabs(deg_rad(lat2) - deg_rad(lat1));
}

double distance(double lon1, double lat1, double lon2, double lat2) {
  const double lon1r = deg_rad(lon1);
  const double lon2r = deg_rad(lon2);
  const double v = std::sin((lon2r - lon1r) / 2);
  if (v == 0.0) return lat_distance(lat1, lat2);
  const double lat1r = deg_rad(lat1);
  const double lat2r = deg_rad(lat2);
  const double u = std::sin((lat2r - lat1r) / 2);
  const double a = u * u + std::cos(lat1r) * std::cos(lat2r) * v * v;
  return 2.0 * kEarthRadiusMeters * std::asin(std::sqrt(a));
}

Neighbors neighbors(HashBits h) {
  Neighbors n;
  n.east = moved(h, 1, 0);
  n.west = moved(h, -1, 0);
  n.south = moved(h, 0, -1);
  n.north = moved(h, 0, 1);
  n.north_west = moved(h, -1, 1);
  n.south_west = moved(h, -1, -1);
  n.north_east = moved(h, 1, 1);
  n.south_east = moved(h, 1, -1);
  return n;
}

bool within(const Shape& s, double lon, double lat, double* dist) {
  if (s.kind == Shape::Kind::kCircle) {
    *dist = distance(s.lon, s.lat, lon, lat);
    return *dist <= s.radius * s.conversion;
  }
  // The box test measures the latitude offset along a meridian and the longitude offset
  // along the point's parallel.
  const double width = s.width * s.conversion;
  const double height = s.height * s.conversion;
  if (lat_distance(lat, s.lat) > height / 2) return false;
  if (distance(lon, lat, s.lon, lat) > width / 2) return false;
  *dist = distance(s.lon, s.lat, lon, lat);
  return true;
}

int estimate_steps(double range_meters, double lat) {
  if (range_meters == 0) return kStepMax;
  int step = 1;
  while (range_meters < kMercatorMax) {
    range_meters *= 2;
    ++step;
  }
  step -= 2;  // so that the range fits the centre cell and its neighbours in most cases
  // Cells narrow towards the poles.
  if (lat > 66 || lat < -66) {
    --step;
    if (lat > 80 || lat < -80) --step;
  }
  if (step < 1) step = 1;
  if (step > kStepMax) step = kStepMax;
  return step;
}

std::array<HashBits, 9> search_cells(const Shape& s) {
  const auto [min_lon, min_lat, max_lon, max_lat] = bounding_box(s);
  double radius_meters =
      s.kind == Shape::Kind::kCircle
          ? s.radius
          : std::sqrt((s.width / 2) * (s.width / 2) + (s.height / 2) * (s.height / 2));
  radius_meters *= s.conversion;
  int steps = estimate_steps(radius_meters, s.lat);

  HashBits center;
  Area area;
  encode_wgs84(s.lon, s.lat, steps, &center);
  Neighbors n = neighbors(center);
  decode(kWgs84Longitude, kWgs84Latitude, center, &area);

  // Near a cell edge the neighbours at this step may not reach the whole bounding box: then
  // use cells twice as large.
  Area north, south, east, west;
  decode(kWgs84Longitude, kWgs84Latitude, n.north, &north);
  decode(kWgs84Longitude, kWgs84Latitude, n.south, &south);
  decode(kWgs84Longitude, kWgs84Latitude, n.east, &east);
  decode(kWgs84Longitude, kWgs84Latitude, n.west, &west);
  const bool too_small = north.latitude.max < max_lat || south.latitude.min > min_lat ||
                         east.longitude.max < max_lon || west.longitude.min > min_lon;
  if (steps > 1 && too_small) {
    --steps;
    encode_wgs84(s.lon, s.lat, steps, &center);
    n = neighbors(center);
    decode(kWgs84Longitude, kWgs84Latitude, center, &area);
  }

  // Drop the neighbours the bounding box does not reach.
  if (steps >= 2) {
    if (area.latitude.min < min_lat) n.south = n.south_west = n.south_east = HashBits{};
    if (area.latitude.max > max_lat) n.north = n.north_east = n.north_west = HashBits{};
    if (area.longitude.min < min_lon) n.west = n.south_west = n.north_west = HashBits{};
    if (area.longitude.max > max_lon) n.east = n.south_east = n.north_east = HashBits{};
  }
  return {center,       n.north,      n.south,      n.east,      n.west,
          n.north_east, n.north_west, n.south_east, n.south_west};
}

void cell_score_range(HashBits cell, uint64_t* min, uint64_t* max) {
  *min = align52(cell);
  HashBits next = cell;
  ++next.bits;
  *max = align52(next);
}

}  // namespace sluice::kv::geo
