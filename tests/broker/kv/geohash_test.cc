#include "broker/kv/geohash.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace sluice::kv::geo {
namespace {

// A cell is 360 / 2^26 degrees of longitude and 170.1 / 2^26 of latitude wide; a decoded
// point is the cell's centre, so it is within half a cell of the input.
constexpr double kHalfCellLon = 360.0 / (1 << 26) / 2;
constexpr double kHalfCellLat = (kLatMax - kLatMin) / (1 << 26) / 2;

// Reference haversine, written independently of geohash.cc.
double haversine(double lon1, double lat1, double lon2, double lat2) {
  const double r = std::acos(-1.0) / 180;
  const double dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
  const double a = std::pow(std::sin(dlat / 2), 2) +
                   std::cos(lat1 * r) * std::cos(lat2 * r) * std::pow(std::sin(dlon / 2), 2);
  return 2 * kEarthRadiusMeters * std::asin(std::sqrt(a));
}

TEST_SUITE("kv.geohash") {
  TEST_CASE("the scores and geohash strings of Redis's documented Sicily example") {
    double palermo = 0, catania = 0;
    REQUIRE(point_score(13.361389, 38.115556, &palermo));
    REQUIRE(point_score(15.087269, 37.502669, &catania));
    CHECK(static_cast<uint64_t>(palermo) == 3479099956230698ULL);
    CHECK(static_cast<uint64_t>(catania) == 3479447370796909ULL);
    CHECK(geohash_string(palermo) == "sqc8b49rny0");
    CHECK(geohash_string(catania) == "sqdtr74hyu0");
    double lon1 = 0, lat1 = 0, lon2 = 0, lat2 = 0;
    decode_score(palermo, &lon1, &lat1);
    decode_score(catania, &lon2, &lat2);
    // GEODIST Sicily Palermo Catania: "166274.1516".
    CHECK(std::round(distance(lon1, lat1, lon2, lat2) * 1e4) == 1662741516.0);
  }

  TEST_CASE("a point decodes to the centre of its cell, within half a cell of where it was put") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> lon_d(kLongMin, kLongMax), lat_d(kLatMin, kLatMax);
    for (int i = 0; i < 20000; ++i) {
      const double lon = lon_d(rng), lat = lat_d(rng);
      double score = 0;
      REQUIRE(point_score(lon, lat, &score));
      CHECK(score < 4503599627370496.0);  // 2^52
      double x = 0, y = 0;
      decode_score(score, &x, &y);
      CHECK(std::fabs(x - lon) <= kHalfCellLon * 1.0000001);
      CHECK(std::fabs(y - lat) <= kHalfCellLat * 1.0000001);
      // Re-encoding the centre gives the same cell.
      double again = 0;
      REQUIRE(point_score(x, y, &again));
      CHECK(again == score);
    }
  }

  TEST_CASE("points outside the WGS84 limits have no score") {
    double s = 0;
    CHECK_FALSE(point_score(180.0000001, 0, &s));
    CHECK_FALSE(point_score(-180.0000001, 0, &s));
    CHECK_FALSE(point_score(0, 85.05112879, &s));
    CHECK_FALSE(point_score(0, -85.05112879, &s));
    CHECK(point_score(-180, -85.05112878, &s));
    CHECK(s == 0);
  }

  TEST_CASE("scores that are not geohashes convert as x86-64's double to uint64 cast does") {
    CHECK(score_bits(5.9) == 5);
    CHECK(score_bits(-5.0) == static_cast<uint64_t>(-5));
    CHECK(score_bits(9223372036854775808.0) == (uint64_t{1} << 63));
    CHECK(score_bits(HUGE_VAL) == 0);
    CHECK(score_bits(1e300) == 0);
    CHECK(score_bits(-HUGE_VAL) == (uint64_t{1} << 63));
  }

  TEST_CASE("neighbour cells touch the centre cell on the expected side, wrapping in longitude") {
    std::mt19937_64 rng(5);
    for (int step : {1, 2, 7, 13, 26}) {
      for (int i = 0; i < 200; ++i) {
        const double lon = std::uniform_real_distribution<double>(-179, 179)(rng);
        const double lat = std::uniform_real_distribution<double>(-80, 80)(rng);
        HashBits h;
        REQUIRE(encode_wgs84(lon, lat, step, &h));
        Area c, e, w, n, s;
        const Neighbors nb = neighbors(h);
        REQUIRE(decode(Range{-180, 180}, Range{kLatMin, kLatMax}, h, &c));
        decode(Range{-180, 180}, Range{kLatMin, kLatMax}, nb.east, &e);
        decode(Range{-180, 180}, Range{kLatMin, kLatMax}, nb.west, &w);
        decode(Range{-180, 180}, Range{kLatMin, kLatMax}, nb.north, &n);
        decode(Range{-180, 180}, Range{kLatMin, kLatMax}, nb.south, &s);
        const double width = c.longitude.max - c.longitude.min;
        CHECK(std::fmod(e.longitude.min - c.longitude.max + 360, 360) == doctest::Approx(0));
        CHECK(std::fmod(c.longitude.min - w.longitude.max + 360, 360) == doctest::Approx(0));
        CHECK(e.latitude.min == c.latitude.min);
        CHECK(w.latitude.min == c.latitude.min);
        CHECK(n.longitude.min == c.longitude.min);
        CHECK(s.longitude.min == c.longitude.min);
        if (c.latitude.max < kLatMax) CHECK(n.latitude.min == doctest::Approx(c.latitude.max));
        if (c.latitude.min > kLatMin) CHECK(s.latitude.max == doctest::Approx(c.latitude.min));
        CHECK(e.longitude.max - e.longitude.min == doctest::Approx(width));
      }
    }
    HashBits east_edge;
    REQUIRE(encode_wgs84(179.9, 0, 4, &east_edge));
    Area wrapped;
    decode(Range{-180, 180}, Range{kLatMin, kLatMax}, neighbors(east_edge).east, &wrapped);
    CHECK(wrapped.longitude.min == -180);
  }

  TEST_CASE("distance is the haversine distance, symmetric, and meridian-exact for equal lon") {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> lon_d(-180, 180), lat_d(-85, 85);
    for (int i = 0; i < 5000; ++i) {
      const double a = lon_d(rng), b = lat_d(rng), c = lon_d(rng), d = lat_d(rng);
      const double dist = distance(a, b, c, d);
      CHECK(dist == doctest::Approx(haversine(a, b, c, d)).epsilon(1e-9));
      CHECK(dist == doctest::Approx(distance(c, d, a, b)).epsilon(1e-12));
    }
    CHECK(distance(10, 0, 10, 1) == lat_distance(0, 1));
    CHECK(lat_distance(0, 1) == doctest::Approx(kEarthRadiusMeters * std::acos(-1.0) / 180));
    CHECK(distance(0, 0, 180, 0) == doctest::Approx(kEarthRadiusMeters * std::acos(-1.0)));
  }

  TEST_CASE("a search covers every point of a random radius: its cells contain all hits") {
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> lon_d(-180, 180), lat_d(-84, 84);
    for (int round = 0; round < 300; ++round) {
      Shape shape;
      shape.lon = lon_d(rng);
      shape.lat = lat_d(rng);
      shape.radius = std::pow(10, std::uniform_real_distribution<double>(1, 6.5)(rng));
      const auto cells = search_cells(shape);
      for (int i = 0; i < 300; ++i) {
        // Points near the centre, some inside the radius.
        const double lon = std::clamp(
            shape.lon + std::uniform_real_distribution<double>(-1, 1)(rng) * shape.radius / 50000,
            -180.0, 180.0);
        const double lat = std::clamp(
            shape.lat + std::uniform_real_distribution<double>(-1, 1)(rng) * shape.radius / 80000,
            kLatMin, kLatMax);
        double score = 0, x = 0, y = 0, dist = 0;
        REQUIRE(point_score(lon, lat, &score));
        decode_score(score, &x, &y);
        // A point on the east edge (lon 180) or the north edge has a score past 2^52, in no
        // cell: Redis cannot find it either (see the next test).
        if (score >= 4503599627370496.0 || !within(shape, x, y, &dist)) continue;
        bool covered = false;
        for (const HashBits& cell : cells) {
          if (cell.is_zero()) continue;
          uint64_t min = 0, max = 0;
          cell_score_range(cell, &min, &max);
          covered |= score >= static_cast<double>(min) && score < static_cast<double>(max);
        }
        CHECK_MESSAGE(covered, shape.lon, " ", shape.lat, " r=", shape.radius, " p=", x, " ", y);
      }
    }
  }

  TEST_CASE("points on the east or north edge get a score past 52 bits, as in Redis") {
    // The offset of lon 180 is exactly 2^26 cells, one bit above the 26 that are interleaved.
    double east = 0, north = 0, inside = 0;
    REQUIRE(point_score(180, 10, &east));
    REQUIRE(point_score(10, kLatMax, &north));
    REQUIRE(point_score(179.99, 10, &inside));
    CHECK(east >= 4503599627370496.0);
    CHECK(north >= 4503599627370496.0);
    CHECK(inside < 4503599627370496.0);
    double x = 0, y = 0;
    decode_score(east, &x, &y);
    CHECK(x == 180);  // clamped
  }

  TEST_CASE("the search step shrinks as the radius grows and towards the poles") {
    CHECK(estimate_steps(0, 0) == 26);
    CHECK(estimate_steps(1, 0) == 24);
    CHECK(estimate_steps(1000, 0) >= estimate_steps(100000, 0));
    CHECK(estimate_steps(1000, 70) == estimate_steps(1000, 0) - 1);
    CHECK(estimate_steps(1000, -81) == estimate_steps(1000, 0) - 2);
    CHECK(estimate_steps(5e7, 0) == 1);
  }

  TEST_CASE("a box search accepts points by their meridian and parallel offsets") {
    Shape box;
    box.kind = Shape::Kind::kBox;
    box.lon = 10;
    box.lat = 45;
    box.width = 200000;
    box.height = 100000;
    double dist = 0;
    CHECK(within(box, 10, 45.4, &dist));
    CHECK(dist == doctest::Approx(lat_distance(45, 45.4)));
    CHECK_FALSE(within(box, 10, 45.5, &dist));  // 55.6 km north
    CHECK(within(box, 11.2, 45, &dist));        // 94.5 km east
    CHECK_FALSE(within(box, 11.3, 45, &dist));  // 102 km east
  }
}

}  // namespace
}  // namespace sluice::kv::geo
