// Sluice console: a single-page view of the broker over its JSON API (/api/...).
// Plain JavaScript, no framework, no network beyond the broker. Every value from the server
// reaches the DOM as text (textContent or Text nodes), never as HTML.
"use strict";

(() => {
  const viewEl = document.getElementById("view");
  const errorEl = document.getElementById("error");
  const whoamiEl = document.getElementById("whoami");
  const SVG_NS = "http://www.w3.org/2000/svg";
  let whoami = { user: "", admin: false };
  let current = null; // the context of the view on screen

  // ---------- DOM helpers ----------

  // h("td", {class: "num", "data-col": "length"}, "42"): strings become text nodes.
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    appendAll(e, children);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "value") e.value = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
  }
  function appendAll(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
  }
  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  }

  // ---------- formatting ----------

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  function human(n, base, units) {
    if (!isNum(n)) return "";
    let i = 0;
    let v = n;
    while (Math.abs(v) >= base && i < units.length - 1) {
      v /= base;
      i++;
    }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + units[i];
  }
  const bytesHuman = (n) => human(n, 1024, ["B", "K", "M", "G", "T", "P"]);
  const countHuman = (n) => human(n, 1000, ["", "k", "M", "G", "T"]);
  function durationHuman(ms) {
    if (!isNum(ms)) return "";
    const s = ms / 1000;
    if (s < 1) return ms + "ms";
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
    return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  }
  function dateTime(ms) {
    if (!isNum(ms)) return "";
    const d = new Date(ms);
    if (isNaN(d.getTime())) return "";
    const p = (x, n = 2) => String(x).padStart(n, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  }
  // The milliseconds part of a stream ID ("1700000000000-3" -> 1700000000000).
  function idMs(id) {
    const m = /^(\d+)-\d+$/.exec(String(id));
    return m ? Number(m[1]) : NaN;
  }
  // A value as INFO/XINFO gives it: numbers as they are, null as "(nil)", objects as JSON.
  function plain(v) {
    if (v === null || v === undefined) return "(nil)";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function retentionText(r) {
    if (!r || typeof r !== "object") return plain(r);
    const parts = Object.entries(r)
      .filter(([, v]) => v !== null && v !== undefined && v !== 0 && v !== "")
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
    return parts.length ? parts.join(" ") : "none";
  }
  // A field value: JSON objects and arrays pretty-printed, anything else as text.
  function fieldValue(v) {
    const s = String(v);
    const t = s.trim();
    if ((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"))) {
      try {
        const parsed = JSON.parse(t);
        return h("pre", { class: "json", "data-test": "json" }, JSON.stringify(parsed, null, 2));
      } catch (_) {
        /* not JSON: shown as text */
      }
    }
    return s;
  }
  function quoteArg(a) {
    const s = String(a);
    return /^[\x21-\x7e]+$/.test(s) && !/["'\\]/.test(s) ? s : JSON.stringify(s);
  }

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    }
    const s = q.toString();
    return s ? "?" + s : "";
  }
  async function api(path, params, init) {
    const res = await fetch("/api/" + path + query(params), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", ...(init && init.headers) },
      ...(init || {}),
    });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const msg = body && body.error ? body.error : res.status + " " + res.statusText;
      throw new ApiError(res.status, msg);
    }
    return body;
  }
  function post(path, obj) {
    return api(path, null, {
      method: "POST",
      body: JSON.stringify(obj),
      headers: { "Content-Type": "application/json", Accept: "application/json" },
    });
  }
  function showError(err) {
    if (!err) {
      errorEl.hidden = true;
      errorEl.textContent = "";
      return;
    }
    let msg = err.message || String(err);
    if (err.status === 401) msg = "Credentials needed: reload the page to sign in.";
    else if (err.status === 403) msg = "Not allowed for this user: " + msg;
    errorEl.textContent = msg;
    errorEl.hidden = false;
  }

  // ---------- view context: timers that stop when the view changes ----------

  function newContext() {
    const ctx = {
      alive: true,
      timers: new Set(),
      // Runs fn now and then every ms after each run ends (never two at once); paused while
      // the tab is hidden.
      every(ms, fn) {
        const loop = async () => {
          if (!ctx.alive) return;
          if (!document.hidden) {
            try {
              await fn();
              if (ctx.alive) showError(null);
            } catch (e) {
              if (ctx.alive) showError(e);
            }
          }
          if (!ctx.alive) return;
          const t = setTimeout(() => {
            ctx.timers.delete(t);
            loop();
          }, ms);
          ctx.timers.add(t);
        };
        loop();
      },
      stop() {
        ctx.alive = false;
        for (const t of ctx.timers) clearTimeout(t);
        ctx.timers.clear();
      },
    };
    return ctx;
  }

  // ---------- tables ----------

  // columns: [{key, label, num, sortable, render(row) -> node|string, cls(row) -> string}]
  // opts: {test, rowTest, rowAttrs(row), onRowClick(row), sort: {key, order}, onSort(key, order)}
  function makeTable(columns, opts) {
    const thead = h("thead");
    const headRow = h("tr");
    const ths = new Map();
    for (const c of columns) {
      const th = h("th", {
        class: [c.num ? "num" : "", c.sortable ? "sortable" : ""].join(" ").trim() || undefined,
        "data-col": c.key,
        "data-test": "col-" + c.key,
        title: c.title,
      }, c.label);
      if (c.sortable && opts.onSort) {
        th.addEventListener("click", () => {
          const s = opts.sort;
          const order = s.key === c.key && s.order === "asc" ? "desc" : s.key === c.key ? "asc" : (c.num ? "desc" : "asc");
          opts.sort = { key: c.key, order };
          markSort();
          opts.onSort(c.key, order);
        });
      }
      ths.set(c.key, th);
      headRow.append(th);
    }
    thead.append(headRow);
    const tbody = h("tbody");
    const table = h("table", { "data-test": opts.test }, thead, tbody);
    function markSort() {
      for (const [k, th] of ths) {
        th.classList.remove("sorted-asc", "sorted-desc");
        if (opts.sort && opts.sort.key === k) th.classList.add("sorted-" + opts.sort.order);
      }
    }
    markSort();
    let shown = null; // the rows on screen, to skip a rebuild when nothing changed
    function setRows(rows, emptyText) {
      const key = JSON.stringify([rows, emptyText]);
      if (key === shown) return;
      shown = key;
      const frag = document.createDocumentFragment();
      for (const row of rows) {
        const tr = h("tr", { "data-test": opts.rowTest, ...(opts.rowAttrs ? opts.rowAttrs(row) : {}) });
        if (opts.onRowClick) {
          tr.classList.add("clickable");
          tr.addEventListener("click", (ev) => {
            if (ev.target.closest("a,button,input")) return;
            opts.onRowClick(row);
          });
        }
        for (const c of columns) {
          const v = c.render ? c.render(row) : row[c.key];
          const td = h("td", {
            "data-col": c.key,
            class: [c.num ? "num" : "", c.cls ? c.cls(row) : "", c.wrap ? "wrap" : ""].join(" ").trim() || undefined,
            title: c.tip ? c.tip(row) : undefined,
          });
          appendAll(td, [v instanceof Node ? v : plain(v)]);
          tr.append(td);
        }
        frag.append(tr);
      }
      clear(tbody);
      if (!rows.length && emptyText) {
        tbody.append(h("tr", { "data-test": "empty" }, h("td", { colspan: columns.length, class: "muted" }, emptyText)));
      }
      tbody.append(frag);
    }
    return { el: h("div", { class: "table-wrap" }, table), table, tbody, setRows, markSort };
  }

  function sortRows(rows, key, order) {
    const dir = order === "desc" ? -1 : 1;
    return rows.slice().sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (isNum(x) && isNum(y)) return (x - y) * dir;
      const ix = idMs(x);
      const iy = idMs(y);
      if (!isNaN(ix) && !isNaN(iy)) {
        const sx = Number(String(x).split("-")[1]);
        const sy = Number(String(y).split("-")[1]);
        return (ix - iy || sx - sy) * dir;
      }
      return String(x).localeCompare(String(y)) * dir;
    });
  }

  // ---------- charts (SVG, ours) ----------

  // A line chart of [t, v] points over [t0, t1]; long series are reduced to the maximum of
  // each pixel column, so a one-second spike stays visible.
  function makeChart(title, test, color, format) {
    const W = 600;
    const H = 120;
    const nowEl = h("span", { class: "now", "data-test": "chart-now" });
    const maxEl = h("span", { class: "muted small", "data-test": "chart-max" });
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
    for (const y of [0.5, H / 2, H - 0.5]) root.append(svg("line", { class: "grid", x1: 0, x2: W, y1: y, y2: y }));
    const area = svg("path", { class: "area", fill: `var(${color})` });
    const line = svg("path", { class: "line", stroke: `var(${color})` });
    root.append(area, line);
    const leftEl = h("span", { "data-test": "chart-from" });
    const el = h("div", { class: "chart", "data-test": test },
      h("div", { class: "head" }, h("span", null, title), h("span", null, nowEl, " ", maxEl)),
      root,
      h("div", { class: "head muted small" }, leftEl, h("span", null, "now")));
    function update(points, t0, t1) {
      let max = 0;
      for (const p of points) if (isNum(p[1]) && p[1] > max) max = p[1];
      const top = max > 0 ? max * 1.1 : 1;
      const span = Math.max(1, t1 - t0);
      const cols = new Map(); // pixel column -> max value
      for (const [t, v] of points) {
        if (!isNum(v)) continue;
        const x = Math.round(((t - t0) / span) * W);
        const prev = cols.get(x);
        if (prev === undefined || v > prev) cols.set(x, v);
      }
      const xs = [...cols.keys()].sort((a, b) => a - b);
      let d = "";
      for (const x of xs) {
        const y = H - (cols.get(x) / top) * (H - 2) - 1;
        d += (d ? "L" : "M") + x + " " + y.toFixed(1);
      }
      line.setAttribute("d", d);
      area.setAttribute("d", xs.length ? d + `L${xs[xs.length - 1]} ${H}L${xs[0]} ${H}Z` : "");
      const last = points.length ? points[points.length - 1][1] : null;
      nowEl.textContent = isNum(last) ? format(last) : "–";
      nowEl.setAttribute("data-value", isNum(last) ? String(last) : "");
      maxEl.textContent = "max " + format(max);
      leftEl.textContent = "−" + durationHuman(span);
      el.setAttribute("data-points", String(points.length));
    }
    return { el, update };
  }

  // ---------- views ----------

  function card(label, test) {
    const value = h("div", { class: "value", "data-test": "value" });
    const sub = h("div", { class: "sub" });
    const el = h("div", { class: "card", "data-test": test }, h("div", { class: "label" }, label), value, sub);
    return {
      el,
      set(v, subText) {
        value.textContent = v;
        sub.textContent = subText || "";
      },
    };
  }

  function overviewView(ctx) {
    const fields = [
      ["version", "Version", (v) => [v]],
      ["uptime_s", "Uptime", (v) => [durationHuman(v * 1000), v + " s"]],
      ["role", "Role", (v) => [v]],
      ["connected_clients", "Connected clients", (v) => [v]],
      ["blocked_clients", "Blocked clients", (v) => [v]],
      ["used_memory", "Memory (data)", (v) => [bytesHuman(v), v + " bytes"]],
      ["used_memory_rss", "Memory (RSS)", (v) => [bytesHuman(v), v + " bytes"]],
      ["stream_disk_bytes", "Stream disk", (v) => [bytesHuman(v), v + " bytes"]],
      ["streams", "Streams", (v) => [v]],
      ["keys", "Keys", (v) => [v]],
      ["total_commands", "Commands", (v) => [v, "total processed"]],
      ["total_errors", "Errors", (v) => [v, "total error replies"]],
      ["xadd_total", "XADD", (v) => [v, "total"]],
      ["deliveries_total", "Deliveries", (v) => [v, "total to groups"]],
      ["pubsub_channels", "Pub/Sub channels", (v) => [v]],
      ["pubsub_patterns", "Pub/Sub patterns", (v) => [v]],
    ];
    const cards = new Map(fields.map(([k, label]) => [k, card(label, "overview-" + k)]));
    const charts = [
      ["commands", "Commands/s", "--chart1", (v) => countHuman(v)],
      ["xadd", "XADD/s", "--chart2", (v) => countHuman(v)],
      ["deliveries", "Deliveries/s", "--chart3", (v) => countHuman(v)],
      ["errors", "Errors/s", "--chart4", (v) => countHuman(v)],
      ["used_memory", "Memory (data)", "--chart2", bytesHuman],
      ["clients", "Clients", "--chart1", (v) => String(v)],
    ].map(([k, title, color, fmt]) => [k, makeChart(title, "chart-" + k, color, fmt)]);
    viewEl.append(
      h("h1", null, "Overview"),
      h("div", { class: "cards", "data-test": "overview-cards" }, [...cards.values()].map((c) => c.el)),
      h("div", { class: "charts", "data-test": "overview-charts" }, charts.map(([, c]) => c.el)));
    ctx.every(1000, async () => {
      const [o, hist] = await Promise.all([api("overview"), api("history")]);
      if (!ctx.alive) return;
      for (const [k, , fmt] of fields) {
        const c = cards.get(k);
        const v = o[k];
        const [main, sub] = v === undefined ? ["–"] : fmt(v);
        c.set(plain(main), sub);
        c.el.setAttribute("data-value", plain(v));
      }
      const step = hist.interval_ms || 1000;
      const now = hist.now_ms || Date.now();
      for (const [k, chart] of charts) {
        const values = (hist.series && hist.series[k]) || [];
        const n = values.length;
        const pts = values.map((v, i) => [now - (n - 1 - i) * step, v]);
        chart.update(pts, now - 3600 * 1000 + step, now);
      }
    });
  }

  const streamsState = { pattern: "", db: "", sort: "key", order: "asc", offset: 0, limit: 50 };

  function streamsView(ctx, params) {
    const st = streamsState;
    // #/streams?pattern=&db=&sort=&order=&offset=&limit= (kept in the address as they change)
    for (const k of ["pattern", "db", "sort", "order"]) if (params.has(k)) st[k] = params.get(k);
    for (const k of ["offset", "limit"]) if (params.has(k) && isFinite(Number(params.get(k)))) st[k] = Number(params.get(k));
    const pattern = h("input", {
      type: "search", placeholder: "key pattern, e.g. orders:*", value: st.pattern,
      "data-test": "streams-filter", "aria-label": "key pattern",
    });
    const db = h("input", { type: "number", min: 0, placeholder: "all", value: st.db, style: "width:6em", "data-test": "streams-db", "aria-label": "database" });
    const limit = h("select", { "data-test": "streams-limit", "aria-label": "rows per page" },
      [25, 50, 100, 200].map((n) => h("option", { value: n, selected: n === st.limit }, n + " a page")));
    const info = h("span", { class: "muted", "data-test": "streams-range" });
    const prev = h("button", { "data-test": "streams-prev" }, "← Previous");
    const next = h("button", { "data-test": "streams-next" }, "Next →");
    const link = (r) => h("a", { href: streamHref(r.db, r.key), "data-test": "stream-link" }, r.key);
    const table = makeTable([
      { key: "db", label: "db", num: true },
      { key: "key", label: "key", sortable: true, render: link, cls: () => "wrap" },
      { key: "length", label: "length", num: true, sortable: true },
      { key: "first_id", label: "first ID", cls: () => "id" },
      { key: "last_id", label: "last ID", sortable: true, cls: () => "id" },
      { key: "last_entry_ms", label: "last entry", render: (r) => dateTime(r.last_entry_ms) || "–", tip: (r) => plain(r.last_entry_ms) },
      { key: "disk_bytes", label: "disk", num: true, sortable: true, render: (r) => bytesHuman(r.disk_bytes), tip: (r) => plain(r.disk_bytes) + " bytes" },
      { key: "ram_bytes", label: "RAM", num: true, render: (r) => bytesHuman(r.ram_bytes), tip: (r) => plain(r.ram_bytes) + " bytes" },
      { key: "retention", label: "retention", render: (r) => retentionText(r.retention), cls: () => "small" },
      { key: "groups", label: "groups", num: true, sortable: true },
      { key: "max_lag", label: "max lag", num: true, sortable: true, render: (r) => (r.max_lag === null ? "–" : plain(r.max_lag)),
        cls: (r) => (isNum(r.max_lag) && r.max_lag > 0 ? "lag-bad" : "") },
    ], {
      test: "streams-table", rowTest: "stream-row",
      rowAttrs: (r) => ({ "data-key": r.key, "data-db": r.db }),
      sort: { key: st.sort, order: st.order },
      onSort: (key, order) => { st.sort = key; st.order = order; st.offset = 0; refresh(); },
    });
    viewEl.append(
      h("h1", null, "Streams"),
      h("div", { class: "toolbar" }, pattern, h("label", null, "db ", db), limit, info, prev, next),
      table.el);
    let seq = 0;
    async function load() {
      const my = ++seq;
      const q = query({ pattern: st.pattern, db: st.db, sort: st.sort, order: st.order, offset: st.offset || "", limit: st.limit === 50 ? "" : st.limit });
      if (location.hash !== "#/streams" + q) history.replaceState(null, "", "#/streams" + q);
      const res = await api("streams", {
        db: st.db, pattern: st.pattern, sort: st.sort, order: st.order, offset: st.offset, limit: st.limit,
      });
      if (!ctx.alive || my !== seq) return;
      const items = res.items || [];
      table.setRows(items, st.pattern ? "No stream matches this pattern." : "No streams.");
      const total = res.total || 0;
      info.textContent = (total ? `${st.offset + 1}–${st.offset + items.length} of ${total}` : "0 of 0") +
        (res.truncated ? " (page cut at the server's size limit)" : "");
      info.setAttribute("data-total", String(total));
      prev.disabled = st.offset <= 0;
      next.disabled = st.offset + items.length >= total;
    }
    function refresh() {
      load().then(() => showError(null), showError);
    }
    let debounce = null;
    pattern.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { st.pattern = pattern.value.trim(); st.offset = 0; refresh(); }, 250);
    });
    db.addEventListener("change", () => { st.db = db.value; st.offset = 0; refresh(); });
    limit.addEventListener("change", () => { st.limit = Number(limit.value); st.offset = 0; refresh(); });
    prev.addEventListener("click", () => { st.offset = Math.max(0, st.offset - st.limit); refresh(); });
    next.addEventListener("click", () => { st.offset += st.limit; refresh(); });
    ctx.every(2000, load);
  }

  function streamHref(db, key, group) {
    return `#/stream/${db}/${encodeURIComponent(key)}` + (group !== undefined ? "?group=" + encodeURIComponent(group) : "");
  }

  function groupState(g) {
    if (!isNum(g.lag)) return g.pending > 0 ? "pending" : "unknown lag";
    if (g.lag > 0) return "lagging";
    if (g.pending > 0) return "pending";
    return "caught up";
  }

  function entryList(items, test) {
    const box = h("div", { "data-test": test });
    if (!items.length) box.append(h("div", { class: "muted", "data-test": "no-entries" }, "No entries."));
    for (const it of items) {
      const ms = idMs(it.id);
      const rows = (it.fields || []).map(([f, v]) =>
        h("tr", null, h("td", { class: "field" }, String(f)), h("td", { "data-field": String(f) }, fieldValue(v))));
      box.append(h("div", { class: "entry", "data-test": "entry", "data-id": it.id },
        h("span", { class: "eid mono" }, it.id),
        h("span", { class: "etime" }, dateTime(ms)),
        it.truncated ? h("span", { class: "etime", "data-test": "truncated" }, "values cut at the server's limit") : null,
        h("table", null, h("tbody", null, rows))));
    }
    return box;
  }

  function streamView(ctx, db, key, params) {
    const admin = whoami.admin;
    let selected = params.get("group");
    const kv = h("dl", { class: "kv", "data-test": "stream-info" });
    const groupFilter = h("input", { type: "search", placeholder: "group name", "data-test": "groups-filter", "aria-label": "group name" });
    const stateFilter = h("select", { "data-test": "groups-state", "aria-label": "state" },
      ["all", "lagging", "pending", "caught up"].map((s) => h("option", { value: s }, s)));
    const minLag = h("input", { type: "number", min: 0, placeholder: "min lag", style: "width:8em", "data-test": "groups-min-lag", "aria-label": "minimum lag" });
    let groups = [];
    const gsort = { key: "lag", order: "desc" };
    const groupsTable = makeTable([
      { key: "name", label: "group", sortable: true, cls: () => "wrap" },
      { key: "state", label: "state", render: (g) => h("span", { class: "badge " + groupState(g).replace(" ", "-") }, groupState(g)) },
      { key: "consumers", label: "consumers", num: true, sortable: true },
      { key: "pending", label: "pending", num: true, sortable: true },
      { key: "entries_read", label: "entries read", num: true, sortable: true },
      { key: "last_delivered_id", label: "last delivered ID", sortable: true, cls: () => "id" },
      { key: "lag", label: "lag", num: true, sortable: true, cls: (g) => (isNum(g.lag) && g.lag > 0 ? "lag-bad" : "") },
      { key: "dead_letter", label: "dead letter", render: (g) => (g.dead_letter ? retentionText(g.dead_letter) : "–"), cls: () => "small" },
    ], {
      test: "groups-table", rowTest: "group-row",
      rowAttrs: (g) => ({ "data-group": g.name, class: g.name === selected ? "selected" : undefined }),
      onRowClick: (g) => selectGroup(g.name),
      sort: gsort,
      onSort: (k, o) => { gsort.key = k; gsort.order = o; renderGroups(); },
    });
    function renderGroups() {
      const name = groupFilter.value.trim().toLowerCase();
      const state = stateFilter.value;
      const min = minLag.value === "" ? null : Number(minLag.value);
      const rows = groups.filter((g) =>
        (!name || g.name.toLowerCase().includes(name)) &&
        (state === "all" || groupState(g) === state) &&
        (min === null || (isNum(g.lag) && g.lag >= min)));
      groupsTable.setRows(sortRows(rows, gsort.key, gsort.order), groups.length ? "No group matches." : "No consumer groups.");
    }
    for (const e of [groupFilter, stateFilter, minLag]) e.addEventListener("input", renderGroups);

    const groupBox = h("div", { "data-test": "group-detail" });
    const browser = h("div", { class: "panel", "data-test": "entry-browser" });
    const adminBox = admin ? h("div", { class: "panel", "data-test": "stream-admin" }) : null;
    appendAll(viewEl, [
      h("div", { class: "muted small" }, h("a", { href: "#/streams" }, "Streams"), " / db " + db),
      h("h1", { "data-test": "stream-key" }, key),
      h("div", { class: "panel" }, kv),
      h("h2", null, "Consumer groups"),
      h("div", { class: "toolbar" }, groupFilter, stateFilter, minLag),
      groupsTable.el,
      groupBox,
      h("h2", null, "Entries"),
      browser,
      adminBox ? [h("h2", null, "Admin"), adminBox] : null]);

    async function loadStream() {
      const s = await api("stream", { db, key });
      if (!ctx.alive) return;
      clear(kv);
      for (const [k, v] of Object.entries(s)) {
        if (k === "groups") continue;
        kv.append(h("div", null, h("dt", null, k),
          h("dd", { "data-field": k, title: plain(v) }, k === "retention" ? retentionText(v) : plain(v))));
      }
      groups = s.groups || [];
      renderGroups();
      if (selected !== null && detail) detail.refreshGroup(groups.find((g) => g.name === selected));
    }

    let detail = null;
    function selectGroup(name) {
      selected = name;
      history.replaceState(null, "", streamHref(db, key, name));
      for (const tr of groupsTable.tbody.querySelectorAll("tr[data-group]")) {
        tr.classList.toggle("selected", tr.getAttribute("data-group") === name);
      }
      if (detail) detail.stop();
      clear(groupBox);
      detail = groupDetail(ctx, groupBox, db, key, name, () => groups.find((g) => g.name === name));
    }

    ctx.every(2000, loadStream);
    if (selected !== null) selectGroup(selected);
    entryBrowser(ctx, browser, db, key);
    if (adminBox) streamAdmin(adminBox, db, key);
  }

  function groupDetail(parentCtx, box, db, key, group, findGroup) {
    const ctx = newContext();
    const stopParent = parentCtx.stop;
    parentCtx.stop = () => { ctx.stop(); stopParent(); };
    const admin = whoami.admin;
    const lagChart = makeChart("Lag of " + group, "lag-chart", "--chart4", (v) => String(v));
    const consumers = makeTable([
      { key: "name", label: "consumer", cls: () => "wrap" },
      { key: "pending", label: "pending", num: true },
      { key: "idle_ms", label: "idle ms", num: true, tip: (c) => durationHuman(c.idle_ms) },
      { key: "inactive_ms", label: "inactive ms", num: true, tip: (c) => durationHuman(c.inactive_ms) },
      admin ? { key: "actions", label: "", render: (c) => h("button", {
        class: "danger", "data-test": "delete-consumer",
        onclick: () => deleteConsumer(c),
      }, "Delete") } : null,
    ].filter(Boolean), { test: "consumers-table", rowTest: "consumer-row", rowAttrs: (c) => ({ "data-consumer": c.name }) });
    const pendingNote = h("div", { class: "muted small", "data-test": "pending-note" });
    let maxDeliveries = null;
    const pending = makeTable([
      { key: "id", label: "ID", cls: () => "id" },
      { key: "consumer", label: "consumer", cls: () => "wrap" },
      { key: "idle_ms", label: "idle ms", num: true, tip: (p) => durationHuman(p.idle_ms) },
      { key: "deliveries", label: "deliveries", num: true, cls: () => "deliveries" },
    ], {
      test: "pending-table", rowTest: "pending-row",
      rowAttrs: (p) => {
        let cls;
        if (isNum(maxDeliveries) && maxDeliveries > 0) {
          if (p.deliveries >= maxDeliveries) cls = "at-dlq";
          else if (p.deliveries >= Math.max(1, Math.floor(maxDeliveries * 0.8), maxDeliveries - 1)) cls = "near-dlq";
        }
        return { "data-id": p.id, class: cls, "data-dlq": cls };
      },
    });
    const pendingCount = 100;
    const pendingMore = h("button", { "data-test": "pending-more" }, "Next " + pendingCount + " →");
    const pendingFirst = h("button", { "data-test": "pending-first" }, "First");
    let pendingStart = "-";
    const unconsumed = h("div", { "data-test": "unconsumed" });
    const setidBox = admin ? h("div", { class: "toolbar", "data-test": "setid" }) : null;
    if (setidBox) {
      const idInput = h("input", { value: "0", "data-test": "setid-id", "aria-label": "new last-delivered ID", style: "width:16em" });
      const result = h("span", { class: "result", "data-test": "setid-result" });
      setidBox.append(
        h("span", null, "Rewind (XGROUP SETID) to"), idInput,
        h("button", {
          "data-test": "setid-submit",
          onclick: async () => {
            if (!confirm(`Set the last-delivered ID of group "${group}" to ${idInput.value}?`)) return;
            try {
              await post("group/setid", { db: Number(db), key, group, id: idInput.value.trim() });
              result.textContent = "done";
              refreshAll();
            } catch (e) {
              result.textContent = e.message;
            }
          },
        }, "Rewind"), result);
    }
    appendAll(box, [
      h("h2", null, "Group ", h("span", { class: "mono", "data-test": "group-name" }, group)),
      lagChart.el,
      h("div", { class: "cols" },
        h("div", null, h("h3", null, "Consumers"), consumers.el),
        h("div", null, h("h3", null, "Not yet consumed"), h("div", { class: "panel scroll" }, unconsumed))),
      h("h3", null, "Pending entries"), pendingNote,
      h("div", { class: "pager" }, pendingFirst, pendingMore),
      pending.el,
      setidBox ? [h("h3", null, "Admin"), setidBox] : null,
    ]);
    async function deleteConsumer(c) {
      if (!confirm(`Delete consumer "${c.name}" of group "${group}"? Its ${c.pending} pending entries are dropped.`)) return;
      try {
        await post("consumer/delete", { db: Number(db), key, group, consumer: c.name });
        refreshAll();
      } catch (e) {
        showError(e);
      }
    }
    async function loadLag() {
      const res = await api("lag", { db, key, group });
      if (!ctx.alive) return;
      const pts = (res.points || []).slice();
      const now = pts.length ? Math.max(pts[pts.length - 1][0], Date.now()) : Date.now();
      // Lag is a level: the last sample holds until now.
      if (pts.length && pts[pts.length - 1][0] < now) pts.push([now, pts[pts.length - 1][1]]);
      const from = pts.length ? Math.min(pts[0][0], now - 60000) : now - 60000;
      lagChart.update(pts, from, now);
      lagChart.el.setAttribute("data-samples", String((res.points || []).length));
    }
    async function loadConsumers() {
      const rows = await api("consumers", { db, key, group });
      if (ctx.alive) consumers.setRows(rows || [], "No consumers.");
    }
    async function loadPending() {
      const res = await api("pending", { db, key, group, start: pendingStart, end: "+", count: pendingCount });
      if (!ctx.alive) return;
      maxDeliveries = res.max_deliveries;
      pendingNote.textContent = isNum(maxDeliveries)
        ? `Dead-letter limit: ${maxDeliveries} deliveries; entries at or near it are highlighted.`
        : "No dead-letter limit set for this group.";
      const items = res.items || [];
      pending.setRows(items, "No pending entries.");
      pendingMore.disabled = items.length < pendingCount;
      pendingMore.onclick = () => {
        if (items.length) { pendingStart = "(" + items[items.length - 1].id; loadPending().catch(showError); }
      };
      pendingFirst.disabled = pendingStart === "-";
    }
    pendingFirst.addEventListener("click", () => { pendingStart = "-"; loadPending().catch(showError); });
    async function loadUnconsumed() {
      const res = await api("unconsumed", { db, key, group, count: 10 });
      if (!ctx.alive) return;
      clear(unconsumed);
      unconsumed.append(entryList(res.items || [], "unconsumed-entries"));
    }
    function refreshAll() {
      Promise.all([loadConsumers(), loadPending(), loadUnconsumed(), loadLag()]).catch(showError);
    }
    ctx.every(2000, () => Promise.all([loadLag(), loadConsumers(), loadPending(), loadUnconsumed()]));
    return {
      stop: () => ctx.stop(),
      refreshGroup: (g) => { if (!g) pendingNote.textContent = "This group no longer exists."; void findGroup; },
    };
  }

  function entryBrowser(ctx, box, db, key) {
    const count = h("select", { "data-test": "entries-count", "aria-label": "entries a page" },
      [10, 20, 50, 100].map((n) => h("option", { value: n, selected: n === 20 }, n + " a page")));
    const first = h("button", { "data-test": "entries-first" }, "⇤ Oldest");
    const older = h("button", { "data-test": "entries-older" }, "← Older");
    const newer = h("button", { "data-test": "entries-newer" }, "Newer →");
    const last = h("button", { "data-test": "entries-last" }, "Newest ⇥");
    const when = h("input", { type: "datetime-local", step: "0.001", "data-test": "entries-time", "aria-label": "jump to date and time" });
    const go = h("button", { "data-test": "entries-jump" }, "Go");
    const status = h("span", { class: "muted small", "data-test": "entries-status" });
    const list = h("div", { "data-test": "entries" });
    box.append(h("div", { class: "pager" }, first, older, newer, last, count, when, go, status), list);
    let items = [];
    function show(newItems, note) {
      if (!newItems.length && items.length) {
        status.textContent = note || "No more entries that way.";
        return;
      }
      items = newItems;
      clear(list);
      list.append(entryList(items, "entry-list"));
      status.textContent = items.length ? `${items[0].id} … ${items[items.length - 1].id}` : "The stream is empty.";
    }
    const n = () => Number(count.value);
    const run = (p) => p.catch(showError);
    async function load(params, reverse, note) {
      const res = await api("entries", { db, key, count: n(), ...params });
      if (!ctx.alive) return;
      const got = res.items || [];
      show(reverse ? got.slice().reverse() : got, note);
    }
    first.onclick = () => run(load({ start: "-", end: "+" }));
    last.onclick = () => run(load({ start: "-", end: "+", rev: 1 }, true));
    newer.onclick = () => run(items.length ? load({ start: "(" + items[items.length - 1].id, end: "+" }, false, "No newer entries.") : load({ start: "-", end: "+" }));
    older.onclick = () => run(items.length ? load({ start: "-", end: "(" + items[0].id, rev: 1 }, true, "No older entries.") : load({ start: "-", end: "+" }));
    count.onchange = () => run(items.length ? load({ start: items[0].id, end: "+" }) : load({ start: "-", end: "+" }));
    go.onclick = () => {
      const ms = when.valueAsNumber; // datetime-local: the local wall clock read as UTC
      if (!isNum(ms)) return;
      const local = ms + new Date(ms).getTimezoneOffset() * 60000;
      run(load({ time: Math.round(local) }, false, "No entries at or after that time."));
    };
    run(load({ start: "-", end: "+" }));
  }

  function streamAdmin(box, db, key) {
    const fields = h("textarea", { "data-test": "xadd-fields", "aria-label": "fields", placeholder: "field value (one pair a line)" });
    fields.value = "source console\nmessage hello";
    const xaddResult = h("span", { class: "result", "data-test": "xadd-result" });
    const channel = h("input", { placeholder: "channel", "data-test": "publish-channel", "aria-label": "channel", value: key });
    const message = h("input", { placeholder: "message", "data-test": "publish-message", "aria-label": "message", value: "test" });
    const pubResult = h("span", { class: "result", "data-test": "publish-result" });
    appendAll(box, [
      h("h3", null, "Add a test entry (XADD)"), fields,
      h("div", { class: "toolbar" }, h("button", {
        "data-test": "xadd-submit",
        onclick: async () => {
          const pairs = fields.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
            const i = l.search(/\s/);
            return i < 0 ? [l, ""] : [l.slice(0, i), l.slice(i).trim()];
          });
          try {
            const res = await post("xadd", { db: Number(db), key, fields: pairs });
            xaddResult.textContent = "added " + plain(res && res.id !== undefined ? res.id : res);
          } catch (e) {
            xaddResult.textContent = e.message;
          }
        },
      }, "Add entry"), xaddResult),
      publishForm(channel, message, pubResult)]);
  }

  function publishForm(channel, message, result) {
    return [h("h3", null, "Publish a test message"), h("div", { class: "toolbar" }, channel, message, h("button", {
      "data-test": "publish-submit",
      onclick: async () => {
        try {
          const res = await post("publish", { channel: channel.value, message: message.value });
          result.textContent = "receivers: " + plain(res && res.receivers !== undefined ? res.receivers : res);
        } catch (e) {
          result.textContent = e.message;
        }
      },
    }, "Publish"), result)];
  }

  function pubsubView(ctx) {
    const rate = card("Messages/s", "pubsub-rate");
    const counts = { channels: card("Channels", "pubsub-channel-count"), patterns: card("Patterns", "pubsub-pattern-count"), shard: card("Shard channels", "pubsub-shard-count") };
    const chart = makeChart("Messages/s (since this page opened)", "chart-messages", "--chart1", (v) => countHuman(v));
    const samples = [];
    const chans = makeTable([{ key: "name", label: "channel", cls: () => "wrap" }, { key: "subscribers", label: "subscribers", num: true }],
      { test: "channels-table", rowTest: "channel-row", rowAttrs: (r) => ({ "data-name": r.name }) });
    const pats = makeTable([{ key: "pattern", label: "pattern", cls: () => "wrap" }, { key: "subscribers", label: "subscribers", num: true }],
      { test: "patterns-table", rowTest: "pattern-row", rowAttrs: (r) => ({ "data-name": r.pattern }) });
    const shards = makeTable([{ key: "name", label: "shard channel", cls: () => "wrap" }, { key: "subscribers", label: "subscribers", num: true }],
      { test: "shard-table", rowTest: "shard-row", rowAttrs: (r) => ({ "data-name": r.name }) });
    viewEl.append(h("h1", null, "Pub/Sub"),
      h("div", { class: "cards" }, rate.el, counts.channels.el, counts.patterns.el, counts.shard.el),
      h("div", { class: "charts" }, chart.el),
      h("div", { class: "cols" },
        h("div", null, h("h2", null, "Channels"), chans.el),
        h("div", null, h("h2", null, "Patterns"), pats.el, h("h2", null, "Shard channels"), shards.el)));
    if (whoami.admin) {
      viewEl.append(h("div", { class: "panel", "data-test": "pubsub-admin" }, publishForm(
        h("input", { placeholder: "channel", "data-test": "publish-channel", "aria-label": "channel" }),
        h("input", { placeholder: "message", "data-test": "publish-message", "aria-label": "message", value: "test" }),
        h("span", { class: "result", "data-test": "publish-result" }))));
    }
    ctx.every(1000, async () => {
      const p = await api("pubsub");
      if (!ctx.alive) return;
      const byName = (a, b) => String(a.name ?? a.pattern).localeCompare(String(b.name ?? b.pattern));
      chans.setRows((p.channels || []).slice().sort(byName), "No channels with subscribers.");
      pats.setRows((p.patterns || []).slice().sort(byName), "No pattern subscriptions.");
      shards.setRows((p.shard_channels || []).slice().sort(byName), "No shard channels.");
      rate.set(plain(p.messages_per_s));
      rate.el.setAttribute("data-value", plain(p.messages_per_s));
      counts.channels.set(String((p.channels || []).length));
      counts.patterns.set(String((p.patterns || []).length));
      counts.shard.set(String((p.shard_channels || []).length));
      samples.push([Date.now(), p.messages_per_s]);
      if (samples.length > 3600) samples.shift();
      chart.update(samples, Math.min(samples[0][0], Date.now() - 60000), Date.now());
    });
  }

  function clientsView(ctx) {
    const filter = h("input", { type: "search", placeholder: "filter", "data-test": "clients-filter", "aria-label": "filter" });
    const count = h("span", { class: "muted", "data-test": "clients-count" });
    const wrap = h("div");
    viewEl.append(h("h1", null, "Clients"), h("div", { class: "toolbar" }, filter, count), wrap);
    let rows = [];
    let table = null;
    let cols = "";
    const sort = { key: "id", order: "asc" };
    function render() {
      const keys = [];
      for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
      if (keys.join(",") !== cols) {
        cols = keys.join(",");
        table = makeTable(keys.map((k) => ({ key: k, label: k, sortable: true, num: rows.some((r) => isNum(r[k])) })), {
          test: "clients-table", rowTest: "client-row", rowAttrs: (r) => ({ "data-id": r.id }), sort,
          onSort: () => render(),
        });
        clear(wrap);
        wrap.append(table.el);
      }
      const f = filter.value.trim().toLowerCase();
      const shown = f ? rows.filter((r) => Object.values(r).some((v) => String(v).toLowerCase().includes(f))) : rows;
      table.setRows(sortRows(shown, sort.key, sort.order), "No clients.");
      count.textContent = `${shown.length} of ${rows.length}`;
    }
    filter.addEventListener("input", () => table && render());
    ctx.every(2000, async () => {
      rows = (await api("clients")) || [];
      if (ctx.alive) render();
    });
  }

  function slowlogView(ctx) {
    const count = h("select", { "data-test": "slowlog-count", "aria-label": "entries" },
      [10, 32, 128].map((n) => h("option", { value: n, selected: n === 128 }, n + " newest")));
    const table = makeTable([
      { key: "id", label: "id", num: true },
      { key: "time", label: "time", render: (r) => dateTime(r.time * 1000), tip: (r) => plain(r.time) },
      { key: "duration_us", label: "duration µs", num: true },
      { key: "args", label: "command", render: (r) => (r.args || []).map(quoteArg).join(" "), cls: () => "wrap mono" },
      { key: "client", label: "client" },
      { key: "name", label: "name" },
    ], { test: "slowlog-table", rowTest: "slowlog-row", rowAttrs: (r) => ({ "data-id": r.id, "data-args": JSON.stringify(r.args || []) }) });
    viewEl.append(h("h1", null, "Slow log"), h("div", { class: "toolbar" }, count), table.el);
    const load = async () => {
      const rows = await api("slowlog", { count: count.value });
      if (ctx.alive) table.setRows(rows || [], "The slow log is empty.");
    };
    count.addEventListener("change", () => load().catch(showError));
    ctx.every(5000, load);
  }

  // ---------- routing ----------

  const routes = [
    [/^\/?$/, "overview", (ctx) => overviewView(ctx)],
    [/^\/streams$/, "streams", (ctx, m, params) => streamsView(ctx, params)],
    [/^\/stream\/(\d+)\/(.+)$/, "streams", (ctx, m, params) => streamView(ctx, m[1], decodeURIComponent(m[2]), params)],
    [/^\/pubsub$/, "pubsub", (ctx) => pubsubView(ctx)],
    [/^\/clients$/, "clients", (ctx) => clientsView(ctx)],
    [/^\/slowlog$/, "slowlog", (ctx) => slowlogView(ctx)],
  ];

  function route() {
    if (current) current.stop();
    showError(null);
    clear(viewEl);
    const hash = location.hash.replace(/^#/, "");
    const q = hash.indexOf("?");
    const path = q < 0 ? hash : hash.slice(0, q);
    const params = new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
    const ctx = newContext();
    current = ctx;
    for (const [re, nav, view] of routes) {
      const m = re.exec(path);
      if (!m) continue;
      for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.route === nav);
      viewEl.setAttribute("data-view", nav);
      view(ctx, m, params);
      return;
    }
    viewEl.setAttribute("data-view", "missing");
    viewEl.append(h("h1", null, "Not found"), h("p", null, h("a", { href: "#/" }, "Back to the overview")));
  }

  async function start() {
    try {
      whoami = await api("whoami");
      whoamiEl.textContent = (whoami.user || "default") + (whoami.admin ? " (admin)" : " (read-only)");
      whoamiEl.setAttribute("data-admin", whoami.admin ? "1" : "0");
    } catch (e) {
      showError(e);
    }
    document.body.setAttribute("data-ready", "1");
    window.addEventListener("hashchange", route);
    route();
  }
  start();
})();
