"""The web console (/ on the metrics port) in headless Chromium, driven by Selenium, against a
real server holding streams in two databases, consumer groups with lag, pending entries (one
close to its dead-letter limit) and pub/sub subscribers: the overview, the streams list, one
stream (groups, consumers, pending list, entry browser, not-yet-consumed view), pub/sub, clients
and the slow log show what INFO, XINFO, XPENDING, XRANGE, PUBSUB, CLIENT LIST and SLOWLOG report;
admin actions work only for an admin; with a password the page needs HTTP Basic credentials and
an ACL user sees only its streams; values reach the page as text. Screenshots are saved under
<build dir>/test-artifacts/console/ (the build dir of $SLUICE_SERVER)."""

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from sluice_harness import (Server, assert_eq, assert_true, free_port, run, server_binary,
                            shared_server, test)

HTTP_PORT = free_port()
WAIT_S = 30  # how long a page may take to show something before the test fails
ORDERS = 120  # entries of the "orders" stream
BULK = 24  # extra streams "bulk:00".."bulk:23", so the streams list has more than one page

_server = None
_driver = None
_subscribers = []


def artifacts_dir():
    d = Path(server_binary()).resolve().parent / "test-artifacts" / "console"
    d.mkdir(parents=True, exist_ok=True)
    return d


def server():
    global _server
    srv = shared_server("--metrics-port", HTTP_PORT, "--console-admin", "yes")
    if _server is not srv:
        _server = srv
        fill(srv)
    return srv


def fill(srv):
    """Streams in db 0 and 1, groups with lag and pending entries, JSON field values, a stream
    whose key and values are HTML, pub/sub subscribers."""
    r = srv.client()
    base = 1_700_000_000_000
    for i in range(ORDERS):
        payload = json.dumps({"order": i, "items": [{"sku": f"A{i}", "qty": i % 3 + 1}]})
        r.xadd("orders", {"payload": payload, "n": str(i)}, id=f"{base + i * 1000}-0")
    r.xgroup_create("orders", "billing", id="0")
    r.xgroup_create("orders", "shipping", id="0")
    r.xgroup_create("orders", "audit", id="0")
    # billing: everything read, 100 acknowledged, 20 pending over two consumers.
    got = r.xreadgroup("billing", "bill-1", {"orders": ">"}, count=110)[0][1]
    r.xack("orders", "billing", *[eid for eid, _ in got[:100]])
    r.xreadgroup("billing", "bill-2", {"orders": ">"}, count=10)
    # A dead-letter limit of 5 and one entry delivered 4 times: close to the limit.
    r.execute_command("XGROUP", "SETDLQ", "orders", "billing", "MAXDELIVERIES", "5",
                      "STREAM", "orders:dlq")
    near = got[100][0]
    r.execute_command("XCLAIM", "orders", "billing", "bill-2", "0", near, "RETRYCOUNT", "4")
    # shipping: 30 read and pending on one consumer, 90 not read yet (lag 90).
    r.xreadgroup("shipping", "ship-1", {"orders": ">"}, count=30)
    # audit: all read and acknowledged (caught up).
    got = r.xreadgroup("audit", "audit-1", {"orders": ">"}, count=ORDERS)[0][1]
    r.xack("orders", "audit", *[eid for eid, _ in got])
    for i in range(40):
        r.xadd("events:clicks", {"page": f"/p/{i}", "user": str(i % 7)})
    for i in range(15):
        r.xadd("events:views", {"page": f"/v/{i}"})
    r.xgroup_create("events:clicks", "stats", id="0")
    r.xreadgroup("stats", "s1", {"events:clicks": ">"}, count=25)
    for i in range(BULK):
        r.xadd(f"bulk:{i:02d}", {"i": str(i)})
    r.xadd("<img src=x onerror=alert(1)>", {"<b>field</b>": "<script>alert(2)</script>"})
    r1 = srv.client(db=1)
    for i in range(7):
        r1.xadd("db1:stream", {"x": str(i)})
    r1.xgroup_create("db1:stream", "g1", id="0")
    r.set("plain-key", "v")
    # Pub/sub: two subscribers of "news", one of "alerts", one pattern subscriber.
    for channels, patterns in ((["news", "alerts"], []), (["news"], []), ([], ["news.*"])):
        p = srv.client().pubsub()
        if channels:
            p.subscribe(*channels)
        if patterns:
            p.psubscribe(*patterns)
        p.get_message(timeout=1)
        _subscribers.append(p)


def driver():
    global _driver
    if _driver is None:
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,1000", "--hide-scrollbars"):
            opts.add_argument(arg)
        _driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        _driver.set_page_load_timeout(WAIT_S)
    return _driver


def base_url():
    return f"http://127.0.0.1:{HTTP_PORT}/"


def open_view(hash_):
    """Loads the page at #hash_ afresh (every view starts from a clean page)."""
    d = driver()
    d.get("about:blank")  # a new document, not a same-document move to another #address
    d.get(base_url() + "#" + hash_)
    wait(lambda: d.execute_script("return document.body.dataset.ready === '1'"), "page ready")
    return d


def wait(predicate, what):
    try:
        return WebDriverWait(driver(), WAIT_S, poll_frequency=0.1).until(lambda _d: predicate())
    except TimeoutException:
        raise AssertionError(f"the page never showed: {what}") from None


def rows(test_id):
    """[{column: text}] of the rows marked data-test=test_id."""
    return driver().execute_script("""
        return [...document.querySelectorAll('[data-test="' + arguments[0] + '"]')].map(tr => {
          const o = {};
          for (const td of tr.querySelectorAll(':scope > td[data-col]')) o[td.dataset.col] = td.textContent;
          for (const a of tr.attributes) if (a.name.startsWith('data-')) o['@' + a.name.slice(5)] = a.value;
          o['@class'] = tr.className;
          return o;
        });""", test_id)


def text_of(css):
    return driver().execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


def attr_of(css, name):
    return driver().execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        css, name)


def screenshot(name, full=False):
    """Saves the window (or, with full, the whole page: the window grown to the page's height)
    as <artifacts>/name.png."""
    d = driver()
    size = d.get_window_size()
    if full:
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(size["width"], min(max(height, size["height"]), 4000))
    path = artifacts_dir() / f"{name}.png"
    d.save_screenshot(str(path))
    if full:
        d.set_window_size(size["width"], size["height"])
    assert_true(path.stat().st_size > 0, f"screenshot {path} is empty")
    return path


def api(path):
    with urllib.request.urlopen(base_url() + "api/" + path, timeout=10) as resp:
        return json.loads(resp.read())


def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def groups_info(key, db=0):
    """XINFO GROUPS as {name: {field: text}}."""
    out = {}
    for g in server().client(db=db).xinfo_groups(key):
        out[s(g["name"])] = {s(k): ("(nil)" if v is None else s(v)) for k, v in g.items()}
    return out


def set_text(css, value):
    """Types value over the field's text, as a user would (input events fire)."""
    e = driver().find_element(By.CSS_SELECTOR, css)
    e.send_keys(Keys.CONTROL, "a")
    e.send_keys(Keys.DELETE)
    if value:
        e.send_keys(value)


def click(css):
    """Clicks the element; finds it again if a refresh replaced it in between."""
    for attempt in range(5):
        try:
            driver().find_element(By.CSS_SELECTOR, css).click()
            return
        except StaleElementReferenceException:
            if attempt == 4:
                raise


# ---------------------------------------------------------------------------------------------


@test
def the_overview_shows_the_servers_figures_and_charts_full_at_once():
    srv = server()
    r = srv.client()
    d = open_view("/")
    wait(lambda: attr_of('[data-test="overview-streams"]', "data-value") not in (None, ""),
         "overview figures")
    info = r.info()
    assert_eq(attr_of('[data-test="overview-version"]', "data-value"), s(info["sluice_version"]))
    assert_eq(attr_of('[data-test="overview-role"]', "data-value"), s(info["role"]))
    streams = sum(1 for db in (0, 1) for _ in srv.client(db=db).scan_iter(_type="stream"))
    assert_eq(attr_of('[data-test="overview-streams"]', "data-value"), str(streams))
    keys = r.dbsize() + srv.client(db=1).dbsize()
    assert_eq(attr_of('[data-test="overview-keys"]', "data-value"), str(keys))
    assert_eq(attr_of('[data-test="overview-pubsub_channels"]', "data-value"),
              str(len(r.pubsub_channels())))
    assert_eq(attr_of('[data-test="overview-pubsub_patterns"]', "data-value"),
              str(r.pubsub_numpat()))
    xadds = attr_of('[data-test="overview-xadd_total"]', "data-value")
    assert_true(int(xadds) >= ORDERS + 40 + 15 + BULK + 1 + 7, f"xadd_total {xadds}")
    # Every chart is drawn from the server's history: as many points as it holds, at once.
    hist = api("history")
    for series in ("commands", "xadd", "deliveries", "errors", "used_memory", "clients"):
        css = f'[data-test="chart-{series}"]'
        held = len(hist["series"][series])
        assert_true(held > 0, f"the server's {series} history is empty")
        wait(lambda: int(attr_of(css, "data-points") or 0) >= held,
             f"the {series} chart with the {held} points of the history")
        path = d.execute_script(
            "return document.querySelector(arguments[0] + ' path.line').getAttribute('d')", css)
        assert_true(path.startswith("M"), f"{series}: no line drawn")
    # XADD/s: the chart's last value is the history's last value (or a newer second's).
    assert_true(attr_of('[data-test="chart-xadd"] [data-test="chart-now"]', "data-value") != "",
                "XADD/s has a current value")
    screenshot("overview")
    d.set_window_size(390, 844)  # a phone
    screenshot("overview-phone")
    width = d.execute_script("return document.documentElement.scrollWidth")
    assert_true(width <= 390, f"the phone layout scrolls sideways ({width}px)")
    d.set_window_size(1400, 1000)
    # Dark theme: the browser's preference switches the colours.
    background = lambda: d.execute_script("return getComputedStyle(document.body).backgroundColor")
    light = background()
    d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                      {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    dark = background()
    assert_true(light != dark, f"the same background in light and dark ({light})")
    screenshot("overview-dark")
    d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                      {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    assert_eq(background(), light)


@test
def the_streams_list_shows_each_stream_as_xinfo_reports_it_and_filters_sorts_and_pages():
    srv = server()
    open_view("/streams")
    wait(lambda: len(rows("stream-row")) == 50 or
         attr_of('[data-test="streams-range"]', "data-total") is not None, "streams rows")
    total = int(attr_of('[data-test="streams-range"]', "data-total"))
    streams = sum(1 for db in (0, 1) for _ in srv.client(db=db).scan_iter(_type="stream"))
    assert_eq(total, streams)
    assert_true(total > 25, "more than one page of 25")
    listed = {(r["@db"], r["@key"]): r for r in rows("stream-row")}
    assert_eq(len(listed), total)
    for db in (0, 1):
        c = srv.client(db=db)
        for key in c.scan_iter(_type="stream"):
            key = s(key)
            row = listed[(str(db), key)]
            xi = c.xinfo_stream(key)
            assert_eq(row["length"], str(xi["length"]), key)
            assert_eq(row["last_id"], s(xi["last-generated-id"]), key)
            assert_eq(row["first_id"], s(xi["first-entry"][0]) if xi["first-entry"] else "(nil)", key)
            groups = c.xinfo_groups(key)
            assert_eq(row["groups"], str(len(groups)), key)
            lags = [g["lag"] for g in groups if g["lag"] is not None]
            if lags:
                assert_eq(row["max_lag"], str(max(lags)), key)
    assert_eq(listed[("0", "orders")]["max_lag"], "90")
    # The key is shown as text, not as markup.
    html_key = "<img src=x onerror=alert(1)>"
    assert_eq(listed[("0", html_key)]["key"], html_key)
    assert_eq(driver().execute_script("return document.querySelectorAll('main img').length"), 0)
    screenshot("streams")

    # Filter by key pattern.
    set_text('[data-test="streams-filter"]', "events:*")
    wait(lambda: sorted(r["@key"] for r in rows("stream-row")) == ["events:clicks", "events:views"],
         "only events:* after filtering")
    # Sort by length, descending (a click on a numeric column sorts it largest first).
    set_text('[data-test="streams-filter"]', "")
    wait(lambda: len(rows("stream-row")) == total, "all streams again")
    click('[data-test="streams-table"] th[data-col="length"]')
    lengths = {}
    for db in (0, 1):
        c = srv.client(db=db)
        for key in c.scan_iter(_type="stream"):
            lengths[(str(db), s(key))] = c.xlen(key)
    expected = sorted(lengths.values(), reverse=True)
    wait(lambda: [int(r["length"]) for r in rows("stream-row")] == expected,
         f"lengths sorted largest first {expected}")
    assert_eq(rows("stream-row")[0]["@key"], "orders")
    # Pages of 25: the first, the second, back again; together every stream once.
    click('[data-test="streams-table"] th[data-col="key"]')
    Select(driver().find_element(By.CSS_SELECTOR, '[data-test="streams-limit"]')).select_by_value("25")
    wait(lambda: len(rows("stream-row")) == 25, "a page of 25")
    first = [r["@key"] for r in rows("stream-row")]
    assert_eq(first, sorted(first))
    click('[data-test="streams-next"]')
    wait(lambda: len(rows("stream-row")) == total - 25, "the second page")
    second = [r["@key"] for r in rows("stream-row")]
    assert_eq(sorted(first + second), sorted(k for _, k in lengths))
    assert_eq(text_of('[data-test="streams-range"]'), f"26–{total} of {total}")
    click('[data-test="streams-prev"]')
    wait(lambda: [r["@key"] for r in rows("stream-row")] == first, "back to the first page")
    Select(driver().find_element(By.CSS_SELECTOR, '[data-test="streams-limit"]')).select_by_value("50")


@test
def the_streams_list_lag_refreshes_live():
    srv = server()
    open_view("/streams")
    wait(lambda: any(r["@key"] == "events:clicks" for r in rows("stream-row")), "events:clicks")
    lag = lambda: next(r["max_lag"] for r in rows("stream-row") if r["@key"] == "events:clicks")
    assert_eq(lag(), "15")
    c = srv.client()
    for i in range(5):
        c.xadd("events:clicks", {"page": "/late", "user": "x"})
    wait(lambda: lag() == "20", "the lag of events:clicks rising to 20 without a reload")
    c.xreadgroup("stats", "s1", {"events:clicks": ">"}, count=20)
    wait(lambda: lag() == "0", "the lag of events:clicks falling to 0")


@test
def the_stream_page_shows_groups_consumers_and_pending_as_xinfo_and_xpending_report():
    srv = server()
    r = srv.client()
    d = open_view("/stream/0/orders?group=shipping")
    wait(lambda: len(rows("group-row")) == 3, "three groups")
    xi = r.xinfo_stream("orders")
    for field, want in (("length", xi["length"]), ("last_generated_id", xi["last-generated-id"]),
                        ("entries_added", xi["entries-added"]),
                        ("max_deleted_entry_id", xi["max-deleted-entry-id"]),
                        ("recorded_first_entry_id", xi["recorded-first-entry-id"])):
        assert_eq(text_of(f'[data-test="stream-info"] dd[data-field="{field}"]'), s(want), field)
    info = groups_info("orders")
    shown = {g["@group"]: g for g in rows("group-row")}
    for name, g in info.items():
        row = shown[name]
        assert_eq(row["consumers"], g["consumers"], name)
        assert_eq(row["pending"], g["pending"], name)
        assert_eq(row["entries_read"], g["entries-read"], name)
        assert_eq(row["last_delivered_id"], g["last-delivered-id"], name)
        assert_eq(row["lag"], g["lag"], name)
    assert_eq(shown["shipping"]["state"], "lagging")
    assert_eq(shown["audit"]["state"], "caught up")
    assert_eq(shown["billing"]["state"], "pending")
    # Largest lag first by default; filtering by state and by lag.
    assert_eq(rows("group-row")[0]["@group"], "shipping")
    Select(d.find_element(By.CSS_SELECTOR, '[data-test="groups-state"]')).select_by_value("caught up")
    wait(lambda: [g["@group"] for g in rows("group-row")] == ["audit"], "only the caught-up group")
    Select(d.find_element(By.CSS_SELECTOR, '[data-test="groups-state"]')).select_by_value("all")
    set_text('[data-test="groups-min-lag"]', "1")
    wait(lambda: [g["@group"] for g in rows("group-row")] == ["shipping"], "only groups lagging")
    set_text('[data-test="groups-min-lag"]', "")
    wait(lambda: len(rows("group-row")) == 3, "all groups again")

    # The selected group: consumers, pending list, lag chart.
    wait(lambda: len(rows("consumer-row")) == 1 and len(rows("pending-row")) == 30,
         "shipping's consumer and its 30 pending entries")
    consumers = {s(c["name"]): c for c in r.xinfo_consumers("orders", "shipping")}
    for row in rows("consumer-row"):
        assert_eq(row["pending"], str(consumers[row["@consumer"]]["pending"]))
    xp = r.xpending_range("orders", "shipping", "-", "+", 100)
    assert_eq([p["@id"] for p in rows("pending-row")], [s(p["message_id"]) for p in xp])
    assert_eq([p["consumer"] for p in rows("pending-row")], [s(p["consumer"]) for p in xp])
    assert_eq([p["deliveries"] for p in rows("pending-row")],
              [str(p["times_delivered"]) for p in xp])
    wait(lambda: attr_of('[data-test="lag-chart"]', "data-samples") not in (None, "0"),
         "the lag chart of shipping")
    lag = api("lag?db=0&key=orders&group=shipping")
    assert_eq(lag["points"][-1][1], 90)
    screenshot("stream-lagging-group")
    screenshot("stream-lagging-group-full", full=True)

    # billing: a dead-letter limit of 5, the entry delivered 4 times stands out.
    click('[data-test="group-row"][data-group="billing"] td[data-col="name"]')
    wait(lambda: len(rows("pending-row")) == 20, "billing's 20 pending entries")
    xp = r.xpending_range("orders", "billing", "-", "+", 100)
    assert_eq([p["@id"] for p in rows("pending-row")], [s(p["message_id"]) for p in xp])
    assert_eq([p["deliveries"] for p in rows("pending-row")],
              [str(p["times_delivered"]) for p in xp])
    flagged = [p["@id"] for p in rows("pending-row") if p.get("@dlq")]
    near = [s(p["message_id"]) for p in xp if p["times_delivered"] >= 4]
    assert_eq(flagged, near)
    assert_eq(len(near), 1)
    assert_true("5" in text_of('[data-test="pending-note"]'), "the limit is named")
    consumers = {s(c["name"]): c for c in r.xinfo_consumers("orders", "billing")}
    wait(lambda: sorted(c["@consumer"] for c in rows("consumer-row")) == sorted(consumers),
         "billing's consumers")
    for row in rows("consumer-row"):
        assert_eq(row["pending"], str(consumers[row["@consumer"]]["pending"]))
    assert_true("group=billing" in d.current_url, d.current_url)


@test
def the_not_yet_consumed_view_lists_the_entries_after_the_last_delivered_id():
    srv = server()
    r = srv.client()
    open_view("/stream/0/orders?group=shipping")
    last = s(r.xinfo_groups("orders")[[s(g["name"]) for g in r.xinfo_groups("orders")].index("shipping")]["last-delivered-id"])
    want = [s(eid) for eid, _ in r.xrange("orders", min="(" + last, count=10)]
    css = '[data-test="unconsumed"] [data-test="entry"]'
    wait(lambda: d_ids(css) == want, f"the next 10 entries after {last}")


def d_ids(css):
    return driver().execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.id)", css)


@test
def the_entry_browser_pages_forward_and_back_and_jumps_to_a_time():
    srv = server()
    r = srv.client()
    d = open_view("/stream/0/orders")
    css = '[data-test="entry-browser"] [data-test="entries"] [data-test="entry"]'
    all_ids = [s(eid) for eid, _ in r.xrange("orders")]
    wait(lambda: d_ids(css) == all_ids[:20], "the 20 oldest entries")
    # JSON values are pretty-printed, as text.
    first_json = d.execute_script(
        "return document.querySelector(arguments[0] + ' [data-field=payload] pre.json').textContent", css)
    assert_eq(json.loads(first_json), json.loads(s(r.xrange("orders", count=1)[0][1][b"payload"])))
    assert_true("\n  " in first_json, "indented JSON")
    seen = list(d_ids(css))
    while True:
        before = d_ids(css)
        click('[data-test="entries-newer"]')
        try:
            wait(lambda: d_ids(css) != before or
                 "No newer" in (text_of('[data-test="entries-status"]') or ""), "the next page")
        except AssertionError:
            raise
        if d_ids(css) == before:
            break
        seen += d_ids(css)
    assert_eq(seen, all_ids)
    # Back: the previous page is the 20 entries before the oldest shown.
    shown = d_ids(css)
    click('[data-test="entries-older"]')
    i = all_ids.index(shown[0])
    wait(lambda: d_ids(css) == all_ids[max(0, i - 20):i], "the previous page")
    click('[data-test="entries-last"]')
    wait(lambda: d_ids(css) == all_ids[-20:], "the newest page")
    click('[data-test="entries-first"]')
    wait(lambda: d_ids(css) == all_ids[:20], "the oldest page again")
    # A date-time jump: the entry at 50 s after the first one and the 19 after it.
    target = all_ids[50]
    ms = int(target.split("-")[0])
    d.execute_script("""
        const e = document.querySelector('[data-test="entries-time"]');
        const local = new Date(arguments[0]);
        const p = (x, n = 2) => String(x).padStart(n, '0');
        e.value = `${local.getFullYear()}-${p(local.getMonth() + 1)}-${p(local.getDate())}T` +
                  `${p(local.getHours())}:${p(local.getMinutes())}:${p(local.getSeconds())}.${p(local.getMilliseconds(), 3)}`;
        """, ms)
    click('[data-test="entries-jump"]')
    wait(lambda: d_ids(css) == all_ids[50:70], f"the entries from {target}")


@test
def pubsub_clients_and_slowlog_views_match_the_server():
    srv = server()
    r = srv.client()
    open_view("/pubsub")
    numsub = {s(k): v for k, v in r.pubsub_numsub("news", "alerts")}
    wait(lambda: {c["@name"]: c["subscribers"] for c in rows("channel-row")} ==
         {k: str(v) for k, v in numsub.items()}, f"channels {numsub}")
    wait(lambda: [p["@name"] for p in rows("pattern-row")] == ["news.*"], "the pattern")
    assert_eq(rows("pattern-row")[0]["subscribers"], "1")
    screenshot("pubsub")

    open_view("/clients")
    wait(lambda: len(rows("client-row")) > 0, "clients")
    listed = {str(c["id"]): c for c in r.client_list()}
    shown = {c["@id"]: c for c in rows("client-row")}
    # The subscribers' connections are long-lived: each is shown with CLIENT LIST's fields.
    subs = [i for i, c in listed.items() if int(c.get("sub", 0)) or int(c.get("psub", 0))]
    assert_eq(len(subs), 3)
    for i in subs:
        assert_eq(shown[i]["addr"], listed[i]["addr"])
        assert_eq(shown[i]["sub"], str(listed[i]["sub"]))
        assert_eq(shown[i]["psub"], str(listed[i]["psub"]))
        assert_eq(shown[i]["cmd"], listed[i]["cmd"])
    screenshot("clients")

    r.config_set("slowlog-log-slower-than", "0")
    r.set("slow:marker", "x")
    r.config_set("slowlog-log-slower-than", "10000")
    log = srv.conn().call("SLOWLOG", "GET", "128")  # [id, time, duration, args, client, name]
    open_view("/slowlog")
    wait(lambda: len(rows("slowlog-row")) >= len(log), "slow log rows")
    shown = {row["@id"]: row for row in rows("slowlog-row")}
    for entry in log:
        row = shown[str(entry[0])]
        assert_eq(row["duration_us"], str(entry[2]))
        assert_eq(json.loads(row["@args"]), [s(a) for a in entry[3]])
        assert_eq(row["client"], s(entry[4]))
    marker = ["set", "slow:marker", "x"]
    assert_true(any([a.lower() for a in json.loads(row["@args"])] == marker
                    for row in shown.values()),
                "SET slow:marker is in the slow log")
    screenshot("slowlog")


@test
def an_admin_rewinds_a_group_adds_an_entry_and_deletes_a_consumer_from_the_page():
    srv = server()
    r = srv.client()
    d = open_view("/stream/0/events:views")
    wait(lambda: attr_of("#whoami", "data-admin") == "1", "an admin user")
    r.xgroup_create("events:views", "replay", id="$")
    r.xreadgroup("replay", "idle-worker", {"events:views": "0"})
    wait(lambda: [g["@group"] for g in rows("group-row")] == ["replay"], "the new group")
    click('[data-test="group-row"][data-group="replay"] td[data-col="name"]')
    wait(lambda: d.find_elements(By.CSS_SELECTOR, '[data-test="setid-id"]'), "the rewind form")
    set_text('[data-test="setid-id"]', "0")
    click('[data-test="setid-submit"]')
    d.switch_to.alert.accept()
    wait(lambda: groups_info("events:views")["replay"]["last-delivered-id"] == "0-0",
         "XGROUP SETID applied")
    wait(lambda: next(g["lag"] for g in rows("group-row") if g["@group"] == "replay") == "15",
         "the page showing the rewound lag")
    # Delete the idle consumer.
    wait(lambda: [c["@consumer"] for c in rows("consumer-row")] == ["idle-worker"], "the consumer")
    click('[data-test="consumer-row"][data-consumer="idle-worker"] [data-test="delete-consumer"]')
    d.switch_to.alert.accept()
    wait(lambda: r.xinfo_consumers("events:views", "replay") == [], "XGROUP DELCONSUMER applied")
    # Add a test entry.
    before = r.xlen("events:views")
    d.find_element(By.CSS_SELECTOR, '[data-test="xadd-fields"]').clear()
    d.find_element(By.CSS_SELECTOR, '[data-test="xadd-fields"]').send_keys("source console\nnote a b")
    click('[data-test="xadd-submit"]')
    wait(lambda: r.xlen("events:views") == before + 1, "XADD applied")
    added = r.xrevrange("events:views", count=1)[0]
    wait(lambda: text_of('[data-test="xadd-result"]') == "added " + s(added[0]),
         "the new entry's ID on the page")
    assert_eq(added[1], {b"source": b"console", b"note": b"a b"})
    # Publish a test message to a subscribed channel.
    p = srv.client().pubsub()
    p.subscribe("console-test")
    p.get_message(timeout=1)
    set_text('[data-test="publish-channel"]', "console-test")
    set_text('[data-test="publish-message"]', "hello <b>")
    click('[data-test="publish-submit"]')
    wait(lambda: text_of('[data-test="publish-result"]') == "receivers: 1", "one receiver")
    msg = p.get_message(timeout=5)
    assert_eq(msg["data"], b"hello <b>")
    p.close()


@test
def a_read_only_console_shows_no_admin_controls_and_the_api_refuses_admin_actions():
    with Server("--metrics-port", (port := free_port())) as srv:
        c = srv.client()
        c.xadd("s", {"f": "v"})
        c.xgroup_create("s", "g", id="0")
        c.xreadgroup("g", "c1", {"s": ">"})
        d = driver()
        d.get(f"http://127.0.0.1:{port}/#/stream/0/s?group=g")
        wait(lambda: attr_of("#whoami", "data-admin") == "0", "a read-only user")
        wait(lambda: len(rows("consumer-row")) == 1, "the consumer")
        for t in ("setid", "delete-consumer", "xadd-submit", "publish-submit", "stream-admin"):
            assert_eq(d.find_elements(By.CSS_SELECTOR, f'[data-test="{t}"]'), [], t)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/xadd", method="POST",
                                     data=b'{"db":0,"key":"s","fields":[["a","b"]]}')
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("a read-only console accepted XADD")
        except urllib.error.HTTPError as err:
            assert_eq(err.code, 403)
        assert_eq(c.xlen("s"), 1)


@test
def with_a_password_the_console_asks_for_credentials_and_shows_only_what_the_user_may_read():
    with Server("--metrics-port", (port := free_port()), "--requirepass", "pw") as srv:
        c = srv.client(password="pw")
        c.xadd("events:a", {"f": "v"})
        c.xadd("secret:b", {"f": "v"})
        c.acl_setuser("reader", enabled=True, passwords=["+rpw"], keys=["events:*"],
                      commands=["+@read", "+@connection"])
        # Without credentials: 401 and the Basic challenge the browser answers with its prompt.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
            raise AssertionError("the page was served without credentials")
        except urllib.error.HTTPError as err:
            assert_eq(err.code, 401)
            assert_true(err.headers.get("WWW-Authenticate", "").startswith("Basic"),
                        str(err.headers.get("WWW-Authenticate")))
        d = driver()
        d.get("about:blank")
        token = base64.b64encode(b"reader:rpw").decode()
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Basic " + token}})
        try:
            d.get(f"http://127.0.0.1:{port}/#/streams")
            wait(lambda: text_of("#whoami") == "reader (read-only)", "the signed-in user")
            wait(lambda: [r["@key"] for r in rows("stream-row")] == ["events:a"],
                 "only the stream the user may read")
        finally:
            d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


@test
def markup_in_keys_fields_and_values_stays_text():
    srv = server()
    key = "<img src=x onerror=alert(1)>"
    d = open_view("/stream/0/" + urllib.parse.quote(key, safe=""))
    css = '[data-test="entries"] [data-test="entry"]'
    wait(lambda: len(d_ids(css)) == 1, "the entry")
    assert_eq(text_of('[data-test="stream-key"]'), key)
    assert_eq(text_of(css + ' td.field'), "<b>field</b>")
    assert_eq(text_of(css + ' td[data-field="<b>field</b>"]'), "<script>alert(2)</script>")
    assert_eq(d.execute_script("return document.querySelectorAll('main img, main b, main script').length"), 0)
    assert_true(srv.client().ping())


def close_browser():
    global _driver
    if _driver is not None:
        _driver.quit()
        _driver = None
    for p in _subscribers:
        p.close()


if __name__ == "__main__":
    try:
        status = run()
    finally:
        close_browser()
    sys.exit(status)
