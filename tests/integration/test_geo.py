"""Geo commands against a reference redis-server: random points (clustered cities, the whole
globe, the poles and the antimeridian) get the same scores; random GEOSEARCH / GEORADIUS
queries of every shape and option give byte-identical replies under RESP2 and RESP3, and the
STORE forms store the same sets; geo keys are sorted sets to both the geo and the zset
commands; the data survives a restart and kill -9 under appendfsync always."""

import random

from sluice_harness import *  # noqa: F401,F403

UNITS = ["m", "km", "ft", "mi"]


def pair(protocol=2):
    """(sluice, redis) raw connections, both servers flushed."""
    ours = shared_server().conn(protocol=protocol)
    theirs = shared_server(redis=True).conn(protocol=protocol)
    for c in (ours, theirs):
        assert_eq(c.call("FLUSHALL"), "OK")
    return ours, theirs


def random_points(rng, n):
    """n (lon, lat, member) with repeated positions, dense clusters and edge coordinates."""
    centres = [(13.36, 38.11), (-122.42, 37.77), (179.9, -16.5), (-179.95, 65.0), (0.0, 0.0),
               (151.2, -33.87), (10.0, 84.9), (-70.0, -84.5)]
    points = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.6:
            lon0, lat0 = rng.choice(centres)
            spread = rng.choice([0.01, 0.2, 3.0])
            lon = max(-180.0, min(180.0, lon0 + rng.uniform(-spread, spread)))
            lat = max(-85.05112878, min(85.05112878, lat0 + rng.uniform(-spread, spread)))
        elif kind < 0.95:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05112878, 85.05112878)
        else:
            lon, lat = rng.choice([(180, 85.05112878), (-180, -85.05112878), (0, 85.05112878),
                                   (-180, 0), (180, 0)])
        points.append((repr(lon), repr(lat), f"p{i}"))
    return points


def both(ours, theirs, *args):
    a, b = ours.command(*args), theirs.command(*args)
    assert_eq(a, b, f"reply to {' '.join(map(str, args))}")
    return a


def load(ours, theirs, key, points):
    for start in range(0, len(points), 50):
        args = ["GEOADD", key]
        for p in points[start:start + 50]:
            args.extend(p)
        both(ours, theirs, *args)
    both(ours, theirs, "ZRANGE", key, "0", "-1", "WITHSCORES")


def random_query(rng, key, points, store=None):
    """A random GEOSEARCH / GEOSEARCHSTORE / GEORADIUS* command over `points`."""
    lon, lat, member = rng.choice(points)
    if rng.random() < 0.5:
        lon = repr(max(-180.0, min(180.0, float(lon) + rng.uniform(-1, 1))))
        lat = repr(max(-85.05112878, min(85.05112878, float(lat) + rng.uniform(-1, 1))))
    unit = rng.choice(UNITS)
    scale = {"m": 1, "km": 1000, "ft": 0.3048, "mi": 1609.34}[unit]
    size = lambda: repr(round(10 ** rng.uniform(1, 7.3) / scale, rng.choice([0, 3])))  # noqa: E731
    opts = []
    sort = rng.choice([None, "ASC", "DESC"])
    if sort:
        opts.append(sort)
    # COUNT without ANY below the number of results is only compared with distinct distances.
    if rng.random() < 0.4:
        opts += ["COUNT", str(rng.randint(1, 50))]
        if rng.random() < 0.5:
            opts.append("ANY")
    if store is None:
        for w in ("WITHDIST", "WITHCOORD", "WITHHASH"):
            if rng.random() < 0.5:
                opts.append(w)
    form = rng.choice(["search", "search", "radius", "bymember"])
    if form == "search":
        frm = ["FROMMEMBER", member] if rng.random() < 0.5 else ["FROMLONLAT", lon, lat]
        by = (["BYRADIUS", size(), unit] if rng.random() < 0.5 else ["BYBOX", size(), size(), unit])
        if store:
            if rng.random() < 0.5:
                opts.append("STOREDIST")
            return ["GEOSEARCHSTORE", store, key] + frm + by + opts
        return ["GEOSEARCH", key] + frm + by + opts
    if store:
        opts += [rng.choice(["STORE", "STOREDIST"]), store]
    ro = "" if store else rng.choice(["", "_RO"])
    if form == "radius":
        return ["GEORADIUS" + ro, key, lon, lat, size(), unit] + opts
    return ["GEORADIUSBYMEMBER" + ro, key, member, size(), unit] + opts


@test_both(timeout=300)
def random_searches_give_redis_replies_byte_for_byte(protocol):
    ours, theirs = pair(protocol)
    rng = random.Random(20261205 + protocol)
    points = random_points(rng, 600)
    load(ours, theirs, "g", points)
    # Duplicated positions under other names (equal scores order by name).
    load(ours, theirs, "g", [(lon, lat, m + "-twin") for lon, lat, m in points[:40]])
    for _ in range(1500):
        both(ours, theirs, *random_query(rng, "g", points))


@test(timeout=300)
def store_forms_store_what_redis_stores():
    ours, theirs = pair()
    rng = random.Random(77)
    points = random_points(rng, 400)
    load(ours, theirs, "g", points)
    for i in range(400):
        cmd = random_query(rng, "g", points, store=f"dst{i % 7}")
        both(ours, theirs, *cmd)
        both(ours, theirs, "ZRANGE", f"dst{i % 7}", "0", "-1", "WITHSCORES")
        both(ours, theirs, "OBJECT", "ENCODING", f"dst{i % 7}")
        both(ours, theirs, "EXISTS", f"dst{i % 7}")


@test_both
def point_queries_agree_with_redis(protocol):
    ours, theirs = pair(protocol)
    rng = random.Random(5 + protocol)
    points = random_points(rng, 300)
    load(ours, theirs, "g", points)
    members = [m for _, _, m in points] + ["missing"]
    for _ in range(300):
        a, b = rng.choice(members), rng.choice(members)
        both(ours, theirs, "GEODIST", "g", a, b, rng.choice(UNITS))
        both(ours, theirs, "GEOPOS", "g", a, b)
        both(ours, theirs, "GEOHASH", "g", a, b)


@test
def geo_keys_are_sorted_sets():
    r = shared_server().client()
    r.flushall()
    assert_eq(r.geoadd("g", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]),
              2)
    assert_eq(r.type("g"), b"zset")
    assert_eq(r.zcard("g"), 2)
    assert_eq(r.zrange("g", 0, -1), [b"Palermo", b"Catania"])
    assert_eq(r.zscore("g", "Palermo"), 3479099956230698.0)
    # A plain ZADD with a geohash score is a position, and ZREM removes it from searches.
    r.zadd("g", {"Copy": 3479099956230698})
    assert_eq(r.geopos("g", "Copy"), r.geopos("g", "Palermo"))
    r.zrem("g", "Catania")
    assert_eq(r.execute_command("GEORADIUS_RO", "g", 15, 37, 200, "km"), [b"Copy", b"Palermo"])
    # SORT and COPY see a sorted set.
    r.copy("g", "g2")
    assert_eq(r.execute_command("GEODIST", "g2", "Palermo", "Copy"), 0.0)
    assert_eq(r.sort("g2", alpha=True), [b"Copy", b"Palermo"])


@test(timeout=60)
def geo_data_survives_a_restart_and_kill_9():
    with Server("--appendfsync", "always") as srv:
        c = srv.conn()
        rng = random.Random(3)
        points = random_points(rng, 500)
        for start in range(0, len(points), 100):
            args = []
            for p in points[start:start + 100]:
                args.extend(p)
            c.call("GEOADD", "g", *args)
        c.call("GEOSEARCHSTORE", "near", "g", "FROMLONLAT", "13.36", "38.11", "BYRADIUS", "500",
               "km", "STOREDIST")
        c.call("GEORADIUS", "g", "0", "0", "5000", "km", "STORE", "far")
        c.call("ZREM", "g", "p0", "p1")
        keys = ("g", "near", "far")
        expected = {k: c.command("ZRANGE", k, "0", "-1", "WITHSCORES") for k in keys}
        assert_true(c.call("ZCARD", "near") > 0 and c.call("ZCARD", "far") > 0, "stored results")
        search = ["GEOSEARCH", "g", "FROMLONLAT", "-122.4", "37.7", "BYBOX", "800", "600", "km",
                  "ASC", "WITHDIST", "WITHCOORD", "WITHHASH"]
        before = c.command(*search)
        assert_true(before.startswith(b"*") and not before.startswith(b"*0"), "search finds")
        c.close()
        srv.restart()
        c = srv.conn()
        for k in keys:
            assert_eq(c.command("ZRANGE", k, "0", "-1", "WITHSCORES"), expected[k],
                      f"{k} after restart")
        assert_eq(c.command(*search), before, "search after restart")
        assert_eq(c.call("GEOADD", "g", "1", "2", "late"), 1)
        late = c.command("GEOPOS", "g", "late")
        c.close()
        srv.kill9()
        srv.start()
        c = srv.conn()
        assert_eq(c.command("GEOPOS", "g", "late"), late, "acknowledged GEOADD after kill -9")
        assert_eq(c.call("ZCARD", "g"), 499)
        c.close()


@test
def commands_describe_themselves_like_redis():
    ours = shared_server().conn()
    theirs = shared_server(redis=True).conn()
    for name in ("geoadd", "geodist", "geohash", "geopos", "georadius", "georadius_ro",
                 "georadiusbymember", "georadiusbymember_ro", "geosearch", "geosearchstore"):
        a = ours.call("COMMAND", "INFO", name)[0]
        b = theirs.call("COMMAND", "INFO", name)[0]
        # name, arity, flags, first key, last key, step, ACL categories (key specs are not kept).
        assert_eq(a[0:2], b[0:2], name)
        assert_eq(sorted(a[2]), sorted(b[2]), f"{name} flags")
        assert_eq(a[3:6], b[3:6], f"{name} key positions")
        assert_eq(sorted(a[6]), sorted(b[6]), f"{name} categories")
        da = ours.call("COMMAND", "DOCS", name)[1]
        db = theirs.call("COMMAND", "DOCS", name)[1]
        fa, fb = dict(zip(da[0::2], da[1::2])), dict(zip(db[0::2], db[1::2]))
        for field in (b"summary", b"since", b"group"):
            assert_eq(fa[field], fb[field], f"{name} docs {field}")
    ours.close()
    theirs.close()


if __name__ == "__main__":
    main()
