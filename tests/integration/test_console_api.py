"""The web console's JSON API on --metrics-port against a real server: its figures match what
XINFO, XPENDING, XRANGE, PUBSUB and SLOWLOG report through redis-py; credentials and ACL rules
limit what it shows (401/403); admin actions need console-admin yes and change state as the
commands would; bad requests get 400/404/405/413 and the server stays up."""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from sluice_harness import Server, assert_eq, assert_true, free_port, main, test, wait_until


def request(port, path, method="GET", body=None, auth=None, headers=None):
    """(status, headers, parsed JSON or raw text) of one request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth is not None:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, raw = err.code, err.headers, err.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw


def get(port, path, **kw):
    status, _, body = request(port, path, **kw)
    assert_eq(status, 200, f"GET {path}: {body}")
    return body


def start(*args):
    port = free_port()
    return Server("--metrics-port", port, *args), port


def populate(client):
    """Streams with groups, lag and pending entries; returns nothing (read back via XINFO)."""
    for i in range(1, 21):
        client.xadd("orders", {"n": str(i), "payload": json.dumps({"i": i})}, id=f"{1000 + i}-0")
    client.xgroup_create("orders", "billing", id="0")
    client.xgroup_create("orders", "shipping", id="0")
    client.xreadgroup("billing", "w1", {"orders": ">"}, count=5)
    client.xreadgroup("billing", "w2", {"orders": ">"}, count=3)
    client.xack("orders", "billing", "1001-0", "1002-0")
    client.xreadgroup("shipping", "s1", {"orders": ">"}, count=1)
    for i in range(3):
        client.xadd(f"events:{i}", {"k": "v"})
    client.xgroup_create("events:0", "g", id="$")


def text(v):
    return v.decode() if isinstance(v, bytes) else v


@test
def stream_and_groups_match_xinfo():
    srv, port = start()
    with srv:
        c = srv.client()
        populate(c)
        body = get(port, "/api/stream?db=0&key=orders")
        info = c.xinfo_stream("orders")
        assert_eq(body["length"], info["length"])
        assert_eq(body["last_generated_id"], text(info["last-generated-id"]))
        assert_eq(body["entries_added"], info["entries-added"])
        assert_eq(body["max_deleted_entry_id"], text(info["max-deleted-entry-id"]))
        assert_eq(body["recorded_first_entry_id"], text(info["recorded-first-entry-id"]))
        assert_eq(body["first_entry_id"], text(info["first-entry"][0]))
        assert_eq(body["last_entry_id"], text(info["last-entry"][0]))
        groups = {g["name"]: g for g in body["groups"]}
        for g in c.xinfo_groups("orders"):
            mine = groups[text(g["name"])]
            assert_eq(mine["consumers"], g["consumers"])
            assert_eq(mine["pending"], g["pending"])
            assert_eq(mine["last_delivered_id"], text(g["last-delivered-id"]))
            assert_eq(mine["entries_read"], g["entries-read"])
            assert_eq(mine["lag"], g["lag"])
        assert_eq(groups["billing"]["lag"], 12)
        consumers = get(port, "/api/consumers?key=orders&group=billing")
        xc = c.xinfo_consumers("orders", "billing")
        assert_eq([x["name"] for x in consumers], [text(x["name"]) for x in xc])
        assert_eq([x["pending"] for x in consumers], [x["pending"] for x in xc])
        for mine, theirs in zip(consumers, xc):
            assert_true(abs(mine["idle_ms"] - theirs["idle"]) < 5000, (mine, theirs))


@test
def pending_matches_xpending():
    srv, port = start()
    with srv:
        c = srv.client()
        populate(c)
        body = get(port, "/api/pending?key=orders&group=billing&count=100")
        xp = c.xpending_range("orders", "billing", "-", "+", 100)
        assert_eq([p["id"] for p in body["items"]], [text(p["message_id"]) for p in xp])
        assert_eq([p["consumer"] for p in body["items"]], [text(p["consumer"]) for p in xp])
        assert_eq([p["deliveries"] for p in body["items"]],
                  [p["times_delivered"] for p in xp])
        assert_eq(body["max_deliveries"], None)
        only = get(port, "/api/pending?key=orders&group=billing&consumer=w2")
        xw = c.xpending_range("orders", "billing", "-", "+", 100, consumername="w2")
        assert_eq([p["id"] for p in only["items"]], [text(p["message_id"]) for p in xw])
        page = get(port, "/api/pending?key=orders&group=billing&count=2")
        assert_eq(len(page["items"]), 2)


@test
def entries_page_like_xrange_and_unconsumed_follows_the_cursor():
    srv, port = start()
    with srv:
        c = srv.client()
        populate(c)
        seen = []
        start_param = "-"
        while True:
            body = get(port, f"/api/entries?key=orders&count=7&start={urllib.parse.quote(start_param)}")
            seen += [e["id"] for e in body["items"]]
            if body["next"] is None:
                break
            start_param = body["next"]
        assert_eq(seen, [text(e[0]) for e in c.xrange("orders")])
        back = get(port, "/api/entries?key=orders&count=3&rev=1")
        assert_eq([e["id"] for e in back["items"]],
                  [text(e[0]) for e in c.xrevrange("orders", count=3)])
        first = c.xrange("orders", count=1)[0]
        assert_eq(get(port, "/api/entries?key=orders&count=1")["items"][0]["fields"],
                  [[text(k), text(v)] for k, v in first[1].items()])
        jump = get(port, "/api/entries?key=orders&count=1&time=1010")
        assert_eq(jump["items"][0]["id"], "1010-0")
        un = get(port, "/api/unconsumed?key=orders&group=billing&count=100")
        after = c.xrange("orders", min="(1008-0")
        assert_eq([e["id"] for e in un["items"]], [text(e[0]) for e in after])
        assert_eq(un["lag"], len(after))


@test
def streams_list_sorts_pages_and_reports_lag():
    srv, port = start()
    with srv:
        c = srv.client()
        populate(c)
        c.execute_command("SELECT", 2)
        c.xadd("other", {"a": "b"})
        body = get(port, "/api/streams")
        assert_eq(body["total"], 5)
        assert_eq([(i["db"], i["key"]) for i in body["items"]],
                  [(0, "events:0"), (0, "events:1"), (0, "events:2"), (0, "orders"),
                   (2, "other")])
        top = get(port, "/api/streams?sort=max_lag&order=desc&limit=1")
        assert_eq(top["items"][0]["key"], "orders")
        assert_eq(top["items"][0]["max_lag"], 19)  # shipping read 1 of 20
        assert_eq(top["items"][0]["groups"], 2)
        assert_eq(top["items"][0]["length"], 20)
        assert_eq(top["items"][0]["last_entry_ms"], 1020)
        assert_eq(get(port, "/api/streams?db=2")["total"], 1)
        assert_eq(get(port, "/api/streams?pattern=events:*&offset=1&limit=1")["items"][0]["key"],
                  "events:1")


@test
def pubsub_clients_slowlog_overview():
    srv, port = start("--slowlog-log-slower-than", "0")
    with srv:
        c = srv.client()
        populate(c)
        sub = srv.client().pubsub()
        sub.subscribe("news", "alerts")
        sub.psubscribe("news.*")
        wait_until(lambda: c.pubsub_numsub("news")[0][1] == 1)
        body = get(port, "/api/pubsub")
        assert_eq(body["channels"], [{"name": "alerts", "subscribers": 1},
                                     {"name": "news", "subscribers": 1}])
        assert_eq(body["patterns"], [{"pattern": "news.*", "subscribers": 1}])
        clients = get(port, "/api/clients")
        assert_eq(len(clients), len(c.client_list()))
        assert_true(all("id" in x and "addr" in x for x in clients), clients)
        c.execute_command("PING")
        log = get(port, "/api/slowlog?count=2")
        theirs = c.slowlog_get(2)
        assert_true(log[0]["id"] >= theirs[0]["id"] - 1, (log, theirs))
        over = get(port, "/api/overview")
        info = c.info()
        assert_eq(over["streams"], 4)
        assert_eq(over["pubsub_channels"], info["pubsub_channels"])
        assert_eq(over["pubsub_patterns"], info["pubsub_patterns"])
        assert_eq(over["xadd_total"], c.info("commandstats")["cmdstat_xadd"]["calls"])
        assert_eq(over["deliveries_total"], 9)
        assert_eq(over["role"], "master")
        assert_eq(over["version"], info["sluice_version"])
        # The history fills once per second.
        wait_until(lambda: len(get(port, "/api/history")["series"]["commands"]) >= 2, timeout=5)
        hist = get(port, "/api/history")
        assert_eq(hist["interval_ms"], 1000)
        assert_eq(sorted(hist["series"]),
                  sorted(["commands", "xadd", "deliveries", "errors", "published", "used_memory",
                          "clients"]))
        lag = get(port, "/api/lag?key=orders&group=billing")
        assert_eq(lag["points"][-1][1], 12)
        sub.close()


@test
def admin_actions_need_console_admin_and_act_like_the_commands():
    srv, port = start()
    with srv:
        c = srv.client()
        populate(c)
        body = {"key": "orders", "group": "billing", "id": "1003-0"}
        status, _, resp = request(port, "/api/group/setid", "POST", body)
        assert_eq(status, 403)
        assert_true("console-admin" in resp["error"], resp)
        assert_eq(get(port, "/api/whoami"), {"user": "default", "admin": False})
        c.config_set("console-admin", "yes")
        assert_eq(get(port, "/api/whoami"), {"user": "default", "admin": True})
        status, _, resp = request(port, "/api/group/setid", "POST", body)
        assert_eq((status, resp), (200, {"ok": True}))
        g = [x for x in c.xinfo_groups("orders") if text(x["name"]) == "billing"][0]
        assert_eq(text(g["last-delivered-id"]), "1003-0")
        # Same state as XGROUP SETID on a twin group.
        c.xgroup_create("orders", "twin", id="0")
        c.xgroup_setid("orders", "twin", "1003-0")
        t = [x for x in c.xinfo_groups("orders") if text(x["name"]) == "twin"][0]
        assert_eq(g["lag"], t["lag"])
        status, _, resp = request(port, "/api/consumer/delete", "POST",
                                  {"key": "orders", "group": "billing", "consumer": "w2"})
        assert_eq((status, resp), (200, {"ok": True, "pending": 3}))
        assert_eq([text(x["name"]) for x in c.xinfo_consumers("orders", "billing")], ["w1"])
        status, _, resp = request(port, "/api/xadd", "POST",
                                  {"db": 0, "key": "orders", "fields": [["n", "21"]]})
        assert_eq(status, 200)
        assert_eq(text(c.xrevrange("orders", count=1)[0][0]), resp["id"])
        sub = srv.client().pubsub()
        sub.subscribe("test")
        wait_until(lambda: c.pubsub_numsub("test")[0][1] == 1)
        status, _, resp = request(port, "/api/publish", "POST",
                                  {"channel": "test", "message": "hello"})
        assert_eq((status, resp), (200, {"ok": True, "receivers": 1}))
        msg = None
        deadline = time.time() + 5
        while msg is None or msg["type"] != "message":
            assert_true(time.time() < deadline, "no message")
            msg = sub.get_message(timeout=1)
        assert_eq(text(msg["data"]), "hello")
        sub.close()
        status, _, resp = request(port, "/api/group/setid", "POST",
                                  {"key": "orders", "group": "nope", "id": "0"})
        assert_eq(status, 404)
        assert_true(resp["error"].startswith("NOGROUP"), resp)


@test(timeout=60)
def admin_actions_are_journaled_and_replicated():
    port = free_port()
    with Server("--metrics-port", port, "--console-admin", "yes") as master, \
            Server("--replicaof", "127.0.0.1", master.port) as replica:
        c = master.client()
        populate(c)
        r = replica.client()
        wait_until(lambda: r.info("replication")["master_link_status"] == "up", timeout=20)
        status, _, _ = request(port, "/api/group/setid", "POST",
                               {"key": "orders", "group": "billing", "id": "1015-0"})
        assert_eq(status, 200)
        status, _, added = request(port, "/api/xadd", "POST",
                                   {"key": "orders", "fields": [["from", "console"]]})
        assert_eq(status, 200)
        status, _, _ = request(port, "/api/consumer/delete", "POST",
                               {"key": "orders", "group": "billing", "consumer": "w1"})
        assert_eq(status, 200)
        assert_eq(c.wait(1, 10000), 1)

        def billing(client):
            return [g for g in client.xinfo_groups("orders") if text(g["name"]) == "billing"][0]

        wait_until(lambda: r.xlen("orders") == 21, timeout=10)
        assert_eq(text(billing(r)["last-delivered-id"]), "1015-0")
        assert_eq(billing(r)["consumers"], billing(c)["consumers"])
        assert_eq(text(r.xrevrange("orders", count=1)[0][0]), added["id"])
        # The master's journal has them too.
        before = billing(c)
        master.restart()
        c = master.client()
        after = billing(c)
        assert_eq((text(after["last-delivered-id"]), after["consumers"], after["lag"]),
                  (text(before["last-delivered-id"]), before["consumers"], before["lag"]))
        assert_eq(text(c.xrevrange("orders", count=1)[0][0]), added["id"])


@test
def credentials_and_acl_limit_the_console():
    srv, port = start("--requirepass", "s3cret", "--console-admin", "yes")
    with srv:
        c = srv.client(password="s3cret")
        populate(c)
        c.acl_setuser("viewer", enabled=True, passwords=["+pw"], keys=["orders"],
                      commands=["+@read", "+xinfo", "+xgroup"])
        status, hdrs, _ = request(port, "/api/whoami")
        assert_eq(status, 401)
        assert_eq(hdrs["WWW-Authenticate"], 'Basic realm="sluice"')
        assert_eq(request(port, "/api/whoami", auth=("viewer", "bad"))[0], 401)
        assert_eq(get(port, "/api/whoami", auth=("viewer", "pw"))["user"], "viewer")
        listed = get(port, "/api/streams", auth=("viewer", "pw"))
        assert_eq([i["key"] for i in listed["items"]], ["orders"])
        assert_eq(request(port, "/api/stream?key=events:0", auth=("viewer", "pw"))[0], 403)
        assert_eq(request(port, "/api/overview", auth=("viewer", "pw"))[0], 403)
        assert_eq(get(port, "/api/overview", auth=("default", "s3cret"))["streams"], 4)
        # viewer may not XADD: the ACL refuses, nothing is written.
        status, _, resp = request(port, "/api/xadd", "POST",
                                  {"key": "orders", "fields": [["a", "b"]]},
                                  auth=("viewer", "pw"))
        assert_eq(status, 403)
        assert_true(resp["error"].startswith("NOPERM"), resp)
        assert_eq(c.xlen("orders"), 20)
        # ... but may rewind its group (xgroup allowed on key orders).
        status, _, _ = request(port, "/api/group/setid", "POST",
                               {"key": "orders", "group": "billing", "id": "0"},
                               auth=("viewer", "pw"))
        assert_eq(status, 200)
        denied = [e for e in c.acl_log() if text(e["username"]) == "viewer"]
        assert_true(denied, c.acl_log())
        # The console's admin action is a command of its own in ACL LOG, not a script's.
        assert_eq(text(denied[0]["context"]), "toplevel")
        assert_eq(text(denied[0]["object"]), "xadd")


@test
def bad_requests_get_clear_errors_and_the_server_stays_up():
    srv, port = start("--console-admin", "yes")
    with srv:
        c = srv.client()
        populate(c)
        for path, code in [("/api/nothing", 404), ("/api/stream?key=missing", 404),
                           ("/api/stream?key=orders&db=99", 400),
                           ("/api/entries?key=orders&count=x", 400),
                           ("/api/consumers?key=orders&group=none", 404),
                           ("/api/streams?sort=bogus", 400)]:
            status, hdrs, body = request(port, path)
            assert_eq(status, code, path)
            assert_true("error" in body, body)
            assert_eq(hdrs["Content-Type"], "application/json; charset=utf-8")
            assert_eq(hdrs["Cache-Control"], "no-store")
        status, hdrs, _ = request(port, "/api/overview", "POST", {})
        assert_eq((status, hdrs["Allow"]), (405, "GET, HEAD"))
        status, hdrs, _ = request(port, "/api/xadd")
        assert_eq((status, hdrs["Allow"]), (405, "POST"))
        assert_eq(request(port, "/api/xadd", "POST", b"{not json")[0], 400)
        # A cross-site form cannot send application/json: anything else is refused.
        status, _, _ = request(port, "/api/xadd", "POST", {"key": "k", "fields": [["a", "b"]]},
                               headers={"Content-Type": "text/plain"})
        assert_eq(status, 415)
        assert_eq(c.exists("k"), 0)
        assert_eq(request(port, "/api/xadd", "POST", b"x" * (64 * 1024 + 1))[0], 413)
        # Limits: count is capped, long values are cut.
        c.xadd("big", {"v": "x" * 10000})
        e = get(port, "/api/entries?key=big")["items"][0]
        assert_eq((len(e["fields"][0][1]), e["truncated"]), (4096, True))
        for i in range(600):
            c.xadd("many", {"i": str(i)})
        assert_eq(len(get(port, "/api/entries?key=many&count=100000")["items"]), 500)
        assert_eq(c.ping(), True)
        # The page itself, built into the binary.
        status, hdrs, page = request(port, "/")
        assert_eq(status, 200)
        assert_true(hdrs["Content-Type"].startswith("text/html"), hdrs["Content-Type"])
        assert_true(b"<html" in page.lower(), page[:200])
        assert_eq(request(port, "/no-such-file.js")[0], 404)
        # /metrics still answers.
        status, _, body = request(port, "/metrics")
        assert_eq(status, 200)


if __name__ == "__main__":
    main()
