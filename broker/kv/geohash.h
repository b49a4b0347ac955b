// Geohash math of the GEO commands, done the way Redis 7.0 does it so that scores, positions,
// distances and search results are the same bit for bit. A point is a 52-bit integer (26 bits
// of latitude and 26 of longitude interleaved, longitude in the odd bits) stored as a sorted set
// score; the latitude range is the Web Mercator one, +-85.05112878, not +-90. Distances are
// haversine on a sphere of radius 6372797.560856 m. A search scans the geohash box around the
// centre and its 8 neighbours at a step chosen from the radius, then filters by true distance.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace sluice::kv::geo {

inline constexpr double kLatMin = -85.05112878;
inline constexpr double kLatMax = 85.05112878;
inline constexpr double kLongMin = -180;
inline constexpr double kLongMax = 180;
inline constexpr int kStepMax = 26;  // 52 bits
inline constexpr double kEarthRadiusMeters = 6372797.560856;

// `step` bits of each coordinate, interleaved in the low 2 * step bits. A zero hash at step 0
// marks an unused neighbour box.
struct HashBits {
  uint64_t bits = 0;
  uint8_t step = 0;
  bool is_zero() const { return bits == 0 && step == 0; }
};

struct Range {
  double min = 0, max = 0;
};

// The cell a hash names.
struct Area {
  HashBits hash;
  Range longitude, latitude;
};

// Encodes a point within the given ranges at `step` bits per coordinate. False (and a zero
// hash) when the point is outside the ranges or the WGS84 limits.
bool encode(Range longitude, Range latitude, double lon, double lat, int step, HashBits* out);
// Encodes with the WGS84 ranges (longitude +-180, latitude +-85.05112878).
bool encode_wgs84(double lon, double lat, int step, HashBits* out);
// The cell of a hash within the given ranges; false for a zero hash.
bool decode(Range longitude, Range latitude, HashBits hash, Area* out);
// The centre of a cell, clamped to the WGS84 limits.
void area_center(const Area& area, double* lon, double* lat);
// A hash shifted up to 52 bits (the sorted set score's integer).
uint64_t align52(HashBits hash);

// The integer a sorted set score stands for, converted as C's (uint64_t) cast does on x86-64
// (so a score that is not a geohash decodes to the same position as in Redis).
uint64_t score_bits(double score);
// The position of a sorted set score, as GEOPOS reports it.
void decode_score(double score, double* lon, double* lat);
// The score of a point (GEOADD), or false outside the WGS84 limits.
bool point_score(double lon, double lat, double* score);
// The standard 11-character geohash of a score (re-encoded with latitude +-90), as GEOHASH.
std::string geohash_string(double score);

// Great-circle distance in meters (haversine; meridian distance when the longitudes agree).
double distance(double lon1, double lat1, double lon2, double lat2);
// Distance along a meridian between two latitudes, in meters.
double lat_distance(double lat1, double lat2);

// The 8 neighbours of a cell at the same step (wrapping around in both coordinates).
struct Neighbors {
  HashBits north, south, east, west, north_east, north_west, south_east, south_west;
};
Neighbors neighbors(HashBits hash);

// The area a search covers: a circle (radius) or a box (width x height) around (lon, lat), in
// units of `conversion` meters.
struct Shape {
  enum class Kind { kCircle, kBox } kind = Kind::kCircle;
  double lon = 0, lat = 0;
  double conversion = 1;
  double radius = 0;
  double width = 0, height = 0;
};

// Whether a point lies in the shape; *dist gets its distance to the centre in meters.
bool within(const Shape& shape, double lon, double lat, double* dist);

// The geohash cells to scan for a shape, in Redis's order: centre, N, S, E, W, NE, NW, SE, SW.
// Cells the search cannot reach are zero hashes.
std::array<HashBits, 9> search_cells(const Shape& shape);
// The score interval [min, max) of a cell's points.
void cell_score_range(HashBits cell, uint64_t* min, uint64_t* max);

// The step (bits per coordinate) of the search cells for a radius at a latitude.
int estimate_steps(double range_meters, double lat);

}  // namespace sluice::kv::geo
