"""Measures how long the web console's streams page and stream page take to load in headless
Chromium with many streams and a group lagging by many entries (issue #17's "must show").
Not a test (no thresholds): it prints the load times, from navigation start to the view showing
its data, as measured by the page's own clock (performance.now()).

    SLUICE_SERVER=build/release/sluice-server /usr/bin/python3 tests/integration/console_load.py \\
        [--streams 10000] [--lag 1000000] [--runs 5] [--screenshots DIR --traffic-s 120]

With --hold PORT it starts no server: it keeps two console windows (overview, streams list)
open on http://127.0.0.1:PORT/ until SIGTERM, reloading a window whose page could not load
(the server restarting); used to measure command latency with a console open:
    console_load.py --hold 9391 &  shared/bench/compare --only kv --quick \
        --candidate 'build/release/sluice-server --port {port} --dir {dir} --metrics-port 9391'

With --screenshots it then runs light traffic (XADD, XREADGROUP, XACK, PUBLISH) for --traffic-s
seconds and saves overview.png, streams.png and stream-lagging-group.png into DIR (the
screenshots of docs/console/ come from such a run).
"""

import argparse
import random
import signal
import statistics
import subprocess
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from sluice_harness import Server, free_port

# Resolves with performance.now() once every selector matches at least one element.
WAIT_JS = """
const [selectors, done] = arguments;
const ready = () => selectors.every(s => document.querySelector(s));
if (ready()) { done(performance.now()); return; }
const obs = new MutationObserver(() => { if (ready()) { obs.disconnect(); done(performance.now()); } });
obs.observe(document.documentElement, {childList: true, subtree: true, attributes: true});
"""


def chromium():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def hold(port):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    driver = chromium()
    ready = "return !!(document.body && document.body.dataset.ready === '1')"
    try:
        for i, view in enumerate(("#/", "#/streams")):
            if i:
                driver.switch_to.new_window("window")
            # (the server may not be listening yet: compare starts it after this)
            while not stop.is_set():
                try:
                    driver.get(f"http://127.0.0.1:{port}/{view}")
                    break
                except Exception:  # noqa: BLE001
                    stop.wait(0.2)
        print("console windows open", flush=True)
        while not stop.is_set():
            for handle in driver.window_handles:
                driver.switch_to.window(handle)
                try:
                    if not driver.execute_script(ready):
                        driver.refresh()
                except Exception:  # noqa: BLE001 - the server may be restarting
                    pass
            stop.wait(2)
    finally:
        driver.quit()


def fill(srv, streams, lag):
    r = srv.client(socket_timeout=600)  # creating 10,000 streams creates 10,000 segment files
    pipe = r.pipeline(transaction=False)
    for i in range(streams):
        pipe.xadd(f"stream:{i:06d}", {"n": str(i), "payload": '{"a":1}'})
        if i % 10 == 0:
            pipe.xgroup_create(f"stream:{i:06d}", "g", id="0")
        if len(pipe) >= 500:
            pipe.execute()
    pipe.execute()
    subprocess.run(["redis-benchmark", "-p", str(srv.port), "-n", str(lag), "-P", "1000", "-c", "2",
                    "-q", "XADD", "big", "*", "field", "value-of-an-entry"],
                   check=True, stdout=subprocess.DEVNULL)
    r.xgroup_create("big", "lagging", id="0")
    r.xreadgroup("lagging", "worker-1", {"big": ">"}, count=100)
    info = {g["name"].decode(): g for g in r.xinfo_groups("big")}
    return r.xlen("big"), info["lagging"]["lag"]


def measure(driver, url, selectors, runs):
    times = []
    for _ in range(runs):
        driver.get("about:blank")
        driver.get(url)
        times.append(driver.execute_async_script(WAIT_JS, selectors))
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--lag", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--screenshots", default=None)
    ap.add_argument("--hold", type=int, default=None)
    ap.add_argument("--traffic-s", type=float, default=120)
    args = ap.parse_args()
    if args.hold:
        return hold(args.hold)
    port = free_port()
    with Server("--metrics-port", port) as srv:
        length, lag = fill(srv, args.streams, args.lag)
        print(f"{args.streams} streams + 'big' ({length} entries), group 'lagging' lag {lag}")
        driver = chromium()
        driver.set_script_timeout(60)
        try:
            base = f"http://127.0.0.1:{port}/"
            pages = [
                ("streams page (sorted by key)", base + "#/streams",
                 ['[data-test="stream-row"]']),
                ("streams page (sorted by max lag)", base + "#/streams?sort=max_lag&order=desc",
                 ['[data-test="stream-row"][data-key="big"]']),
                ("stream page of 'big', group 'lagging' selected", base + "#/stream/0/big?group=lagging",
                 ['[data-test="group-row"]', '[data-test="entries"] [data-test="entry"]',
                  '[data-test="pending-row"]', '[data-test="consumer-row"]',
                  '[data-test="unconsumed"] [data-test="entry"]']),
            ]
            for name, url, selectors in pages:
                times = measure(driver, url, selectors, args.runs)
                print(f"{name}: median {statistics.median(times):.0f} ms, "
                      f"min {min(times):.0f} ms, max {max(times):.0f} ms over {len(times)} loads")
            if args.screenshots:
                screenshots(srv, driver, base, args.screenshots, args.traffic_s)
        finally:
            driver.quit()


def traffic(srv, stop):
    """A few hundred commands a second with some variation, so the charts have a shape."""
    r = srv.client()
    r.xgroup_create("orders", "billing", id="$", mkstream=True)
    r.xgroup_create("orders", "shipping", id="$")
    p = srv.client().pubsub()
    p.subscribe("orders.events")
    t0 = time.monotonic()
    while not stop.is_set():
        phase = (time.monotonic() - t0) / 20
        n = int(20 + 15 * (1 + __import__("math").sin(phase)) + random.randint(0, 8))
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd("orders", {"order": str(random.randint(1, 99999)),
                                 "body": '{"sku":"A%d","qty":%d}' % (i, i % 4 + 1)})
            pipe.publish("orders.events", "new")
        pipe.execute()
        got = r.xreadgroup("billing", "bill-1", {"orders": ">"}, count=n)
        if got:
            ids = [eid for eid, _ in got[0][1]]
            r.xack("orders", "billing", *ids[: max(1, len(ids) - 2)])
        got = r.xreadgroup("shipping", "ship-1", {"orders": ">"}, count=max(1, n // 2))
        if random.random() < 0.05:
            try:
                r.execute_command("XADD", "orders", "bad-id", "f", "v")  # an error reply
            except Exception:  # noqa: BLE001 - the error is the point
                pass
        time.sleep(0.2)
    p.close()


def screenshots(srv, driver, base, out, seconds):
    from pathlib import Path
    Path(out).mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    t = threading.Thread(target=traffic, args=(srv, stop), daemon=True)
    t.start()
    time.sleep(seconds)
    for name, url, sel in (
            ("overview", base + "#/", '[data-test="chart-commands"][data-points]'),
            ("streams", base + "#/streams?sort=max_lag&order=desc", '[data-test="stream-row"]'),
            ("stream-lagging-group", base + "#/stream/0/big?group=lagging",
             '[data-test="pending-row"]')):
        driver.get("about:blank")
        driver.get(url)
        driver.execute_async_script(WAIT_JS, [sel])
        time.sleep(3)  # the lag chart and the other panels fill in
        driver.save_screenshot(str(Path(out) / f"{name}.png"))
    stop.set()
    t.join()


if __name__ == "__main__":
    main()
