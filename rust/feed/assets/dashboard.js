// hftbook live dashboard: one WebSocket to this server's /ws (protocol: docs/feed.md).
// Keeps an L2 book from the l2 channel's snapshot and deltas and resubscribes when a delta's
// cseq skips (the gap rule); shows the tape, the stats channel (throughput, latencies,
// lanes, breaker, halts, strategies' PnL and positions). No libraries, nothing fetched
// from anywhere but this server.
"use strict";

(function () {
  const LADDER_LEVELS = 15;
  const DEPTH_LEVELS = 60;
  const TAPE_ROWS = 60;
  const LATENCY_POINTS = 240;
  const STAGES = ["queue_wait", "match", "publish"];
  const params = new URLSearchParams(location.search);
  // Test hook: drop every Nth l2 delta before it is applied, as if the network lost it.
  const dropEvery = Math.max(0, parseInt(params.get("drop") || "0", 10) || 0);
  // The book streams (snapshot + every delta) unless that is more than the page can
  // take: above STREAM_LIMIT deltas/s it samples instead (a snapshot every SAMPLE_MS:
  // subscribe + unsubscribe) and tries streaming again after RETRY_MS.
  // ?mode=stream or ?mode=sample fixes the mode.
  const forcedMode = ["stream", "sample"].includes(params.get("mode")) ? params.get("mode") : null;
  const STREAM_LIMIT = 5000;
  const SAMPLE_MS = 250;
  const RETRY_MS = 15000;

  const $ = (id) => document.getElementById(id);
  const st = {
    sockets: { book: null, tape: null },
    connState: { book: "connecting", tape: "connecting" },
    symbols: [],
    symbol: null,
    tick: 0.01,
    bids: new Map(), // ticks -> [price text, qty, orders]
    asks: new Map(),
    synced: false,
    cseq: new Map(), // channel -> last cseq seen
    resyncs: 0,
    dropped: 0,
    deltas: 0,
    trades: 0,
    pendingTrades: [],
    status: new Map(), // symbol -> state
    latency: [], // per stats message: series name -> ns
    series: [], // latency series names, in order of appearance
    lastStats: null,
    reconnects: 0,
    dirtyBook: true,
    dirtyStats: false,
    resyncFlagUntil: 0,
    mode: forcedMode || "stream",
    modeSince: Date.now(),
    l2Count: 0,
    l2CountAt: Date.now(),
  };
  window.hftbookDashboard = st; // read by tests and curious people

  function ticks(price) {
    return Math.round(parseFloat(price) / st.tick);
  }

  // Two sockets: "book" (l2, status, stats: when it falls behind the server sends fresh
  // snapshots) and "tape" (trades: never skipped, so a tape that falls behind is
  // disconnected by the server; it reconnects and the ladder is not held up meanwhile).
  function send(which, op, channels) {
    const ws = st.sockets[which];
    if (ws && ws.readyState === WebSocket.OPEN && channels.length) {
      ws.send(JSON.stringify({ op: op, channels: channels }));
    }
  }

  function channels(which, sym) {
    if (!sym) return [];
    if (which === "book") return st.mode === "stream" ? ["l2." + sym] : [];
    return ["trades." + sym];
  }

  function sampleBook() {
    if (st.mode !== "sample" || !st.symbol) return;
    const ch = "l2." + st.symbol;
    // Each subscription numbers its messages from 1: until its snapshot, deltas are not
    // ours to apply (a conflation may have dropped the snapshot they follow).
    if (st.sockets.book && st.sockets.book.readyState === WebSocket.OPEN) st.synced = false;
    send("book", "subscribe", [ch]);
    send("book", "unsubscribe", [ch]);
  }

  function setMode(mode) {
    if (mode === st.mode) return;
    const ch = "l2." + st.symbol;
    st.mode = mode;
    st.modeSince = Date.now();
    if (!st.symbol) return;
    if (mode === "sample") {
      send("book", "unsubscribe", [ch]);
      sampleBook();
    } else {
      st.cseq.delete(ch);
      st.synced = false;
      send("book", "subscribe", [ch]);
    }
  }

  // Once a second: the delta rate decides the mode.
  function checkMode() {
    const now = Date.now();
    const rate = (1000 * st.l2Count) / Math.max(1, now - st.l2CountAt);
    st.l2Rate = rate;
    st.l2Count = 0;
    st.l2CountAt = now;
    if (forcedMode) return;
    if (st.mode === "stream" && rate > STREAM_LIMIT) setMode("sample");
    else if (st.mode === "sample" && now - st.modeSince > RETRY_MS) setMode("stream");
    const el = $("book-mode");
    el.textContent = st.mode === "stream" ? "streaming" : "sampled " + 1000 / SAMPLE_MS + "/s";
    el.className = "pill " + (st.mode === "stream" ? "ok" : "warn");
  }

  function resetBook() {
    st.bids = new Map();
    st.asks = new Map();
    st.synced = false;
    st.dirtyBook = true;
  }

  function setConn() {
    const el = $("conn");
    const b = st.connState.book;
    const t = st.connState.tape;
    if (b === "live" && t === "live") {
      el.textContent = "live";
      el.className = "pill ok";
    } else {
      el.textContent = "book " + b + " · tape " + t;
      el.className = "pill " + (b === "live" ? "warn" : "bad");
    }
  }

  function connect(which) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws");
    st.sockets[which] = ws;
    st.connState[which] = "connecting";
    setConn();
    ws.onopen = function () {
      st.connState[which] = "live";
      setConn();
      let chans = channels(which, st.symbol);
      if (which === "book") {
        st.cseq.clear();
        resetBook();
        chans = chans.concat(["stats"], st.symbols.map((s) => "status." + s.name));
      }
      send(which, "subscribe", chans);
    };
    ws.onmessage =
      which === "tape"
        ? function (ev) {
            // Trades are many: keep the text of the last few, parse them when drawn.
            st.trades += 1;
            st.pendingTrades.push(ev.data);
            if (st.pendingTrades.length > 2 * TAPE_ROWS) {
              st.pendingTrades.splice(0, st.pendingTrades.length - TAPE_ROWS);
            }
          }
        : function (ev) {
            let msg;
            try {
              msg = JSON.parse(ev.data);
            } catch (e) {
              return;
            }
            onMessage(msg);
          };
    ws.onclose = function (ev) {
      if (st.sockets[which] !== ws) {
        return;
      }
      st.reconnects += 1;
      st.connState[which] = "reconnecting" + (ev.reason ? " (" + ev.reason + ")" : "");
      setConn();
      setTimeout(() => connect(which), 500);
    };
  }

  function onMessage(m) {
    const ch = m.ch || "";
    const dot = ch.indexOf(".");
    const kind = dot < 0 ? ch : ch.slice(0, dot);
    const sym = dot < 0 ? null : ch.slice(dot + 1);
    if (kind === "l2") {
      if (sym !== st.symbol) {
        return;
      }
      onL2(m, ch);
    } else if (kind === "status") {
      st.status.set(sym, m.state === "halted" ? "halted (" + m.reason + ")" : "trading");
      st.dirtyStats = true;
    } else if (kind === "stats") {
      onStats(m);
    }
  }

  function onL2(m, ch) {
    if (m.type === "snapshot") {
      st.tick = parseFloat(m.tick) || st.tick;
      st.bids = new Map();
      st.asks = new Map();
      for (const [p, q, n] of m.bids) st.bids.set(ticks(p), [p, q, n]);
      for (const [p, q, n] of m.asks) st.asks.set(ticks(p), [p, q, n]);
      st.synced = true;
      st.cseq.set(ch, m.cseq);
      st.dirtyBook = true;
      return;
    }
    if (m.type !== "delta") {
      return;
    }
    st.deltas += 1;
    st.l2Count += 1;
    if (dropEvery > 0 && st.deltas % dropEvery === 0) {
      st.dropped += 1;
      return; // lost on purpose: the next delta's cseq skips
    }
    if (!st.synced) {
      return; // waiting for the snapshot
    }
    const last = st.cseq.get(ch) || 0;
    if (m.cseq !== last + 1) {
      // Gap: the book is stale. Subscribe again (sampling: the next sample does);
      // ignore deltas until the snapshot.
      st.synced = false;
      st.resyncs += 1;
      st.resyncFlagUntil = Date.now() + 2000;
      if (st.mode === "stream") send("book", "subscribe", [ch]);
      return;
    }
    st.cseq.set(ch, m.cseq);
    const side = m.side === "bid" ? st.bids : st.asks;
    const k = ticks(m.price);
    if (m.qty === 0) {
      side.delete(k);
    } else {
      side.set(k, [m.price, m.qty, m.orders]);
    }
    st.dirtyBook = true;
  }

  // Latency series: "STAGE p50" / "STAGE p99" for the shards' stages and
  // "reaction NAME p50/p99" for the strategies; each point maps a series to ns (or null).
  function latencySources(m) {
    const src = [];
    for (const s of STAGES) src.push([s, m.latency_ns ? m.latency_ns[s] : null]);
    for (const [name, v] of Object.entries(m.reaction_ns || {})) src.push(["reaction " + name, v]);
    return src;
  }

  function onStats(m) {
    st.lastStats = m;
    const point = {};
    for (const [name, v] of latencySources(m)) {
      for (const q of ["p50", "p99"]) {
        const key = name + " " + q;
        if (!st.series.includes(key)) st.series.push(key);
        point[key] = v ? v[q] : null;
      }
    }
    st.latency.push(point);
    if (st.latency.length > LATENCY_POINTS) {
      st.latency.shift();
    }
    st.dirtyStats = true;
  }

  // -- rendering ---------------------------------------------------------------------------

  function sorted(map, desc) {
    const keys = Array.from(map.keys());
    keys.sort((a, b) => (desc ? b - a : a - b));
    return keys;
  }

  function fmtQty(q) {
    return Number(q).toLocaleString("en-US");
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function ladderRow(level, side, best, cum, maxQty) {
    const tr = document.createElement("tr");
    tr.className = "level " + side + (best ? " best" : "");
    cell(tr, String(level[2]));
    const q = cell(tr, fmtQty(level[1]));
    const bar = document.createElement("span");
    bar.className = "size";
    bar.style.width = Math.max(2, Math.round((100 * level[1]) / maxQty)) + "%";
    q.appendChild(bar);
    cell(tr, level[0], "px");
    cell(tr, fmtQty(cum), "dim");
    return tr;
  }

  function renderBook() {
    const bidKeys = sorted(st.bids, true);
    const askKeys = sorted(st.asks, false);
    const bb = bidKeys.length ? st.bids.get(bidKeys[0]) : null;
    const ba = askKeys.length ? st.asks.get(askKeys[0]) : null;
    $("best-bid").textContent = bb ? bb[0] : "–";
    $("best-bid-qty").textContent = bb ? "× " + fmtQty(bb[1]) : "";
    $("best-ask").textContent = ba ? ba[0] : "–";
    $("best-ask-qty").textContent = ba ? "× " + fmtQty(ba[1]) : "";
    $("spread").textContent =
      bb && ba ? ((askKeys[0] - bidKeys[0]) * st.tick).toFixed(decimals()) : "–";
    document.body.dataset.synced = st.synced ? "1" : "0";

    const shownBids = bidKeys.slice(0, LADDER_LEVELS);
    const shownAsks = askKeys.slice(0, LADDER_LEVELS);
    let maxQty = 1;
    for (const k of shownBids) maxQty = Math.max(maxQty, st.bids.get(k)[1]);
    for (const k of shownAsks) maxQty = Math.max(maxQty, st.asks.get(k)[1]);

    const asks = document.createDocumentFragment();
    let cum = 0;
    const askRows = [];
    shownAsks.forEach((k, i) => {
      const lv = st.asks.get(k);
      cum += lv[1];
      askRows.push(ladderRow(lv, "ask", i === 0, cum, maxQty));
    });
    for (let i = askRows.length - 1; i >= 0; i--) asks.appendChild(askRows[i]);
    $("ladder-asks").replaceChildren(asks);

    const bids = document.createDocumentFragment();
    cum = 0;
    shownBids.forEach((k, i) => {
      const lv = st.bids.get(k);
      cum += lv[1];
      bids.appendChild(ladderRow(lv, "bid", i === 0, cum, maxQty));
    });
    $("ladder-bids").replaceChildren(bids);
    drawDepth(bidKeys, askKeys);
  }

  function decimals() {
    const s = String(st.tick);
    const i = s.indexOf(".");
    return i < 0 ? 0 : s.length - i - 1;
  }

  function canvasCtx(id) {
    const c = $(id);
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.font = "11px monospace";
    return [c, ctx];
  }

  function drawDepth(bidKeys, askKeys) {
    const [c, ctx] = canvasCtx("depth-chart");
    let bids = bidKeys.slice(0, DEPTH_LEVELS);
    let asks = askKeys.slice(0, DEPTH_LEVELS);
    if (!bids.length && !asks.length) {
      ctx.fillStyle = "#7d8a97";
      ctx.fillText(st.synced ? "empty book" : "waiting for the snapshot", 10, 20);
      return;
    }
    // A window centred on the touch, as wide as the nearer side's depth reaches (a far
    // level on one side would squeeze the other into a corner).
    let lo;
    let hi;
    if (bids.length && asks.length) {
      const mid = (bids[0] + asks[0]) / 2;
      const reach = Math.max(
        asks[0] - mid + 1,
        Math.min(mid - bids[bids.length - 1], asks[asks.length - 1] - mid)
      );
      lo = Math.floor(mid - reach);
      hi = Math.ceil(mid + reach);
      bids = bids.filter((k) => k >= lo);
      asks = asks.filter((k) => k <= hi);
    } else {
      lo = bids.length ? bids[bids.length - 1] : asks[0];
      hi = asks.length ? asks[asks.length - 1] : bids[0];
    }
    const span = Math.max(1, hi - lo);
    let total = 0;
    const cb = [];
    for (const k of bids) {
      total += st.bids.get(k)[1];
      cb.push([k, total]);
    }
    const maxBid = total;
    total = 0;
    const ca = [];
    for (const k of asks) {
      total += st.asks.get(k)[1];
      ca.push([k, total]);
    }
    const maxQ = Math.max(1, maxBid, total);
    const pad = 24;
    const w = c.width - 2 * pad;
    const h = c.height - 2 * pad;
    const x = (k) => pad + ((k - lo) / span) * w;
    const y = (q) => c.height - pad - (q / maxQ) * h;
    const area = (pts, edge, color, fill) => {
      if (!pts.length) return;
      ctx.beginPath();
      ctx.moveTo(x(pts[0][0]), y(0));
      let prev = 0;
      for (const [k, q] of pts) {
        ctx.lineTo(x(k), y(prev));
        ctx.lineTo(x(k), y(q));
        prev = q;
      }
      ctx.lineTo(x(edge), y(prev));
      ctx.lineTo(x(edge), y(0));
      ctx.closePath();
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    area(cb, lo, "#3fb950", "rgba(63,185,80,0.25)");
    area(ca, hi, "#f85149", "rgba(248,81,73,0.25)");
    ctx.fillStyle = "#7d8a97";
    const d = decimals();
    ctx.fillText((lo * st.tick).toFixed(d), pad, c.height - 6);
    const hiText = (hi * st.tick).toFixed(d);
    ctx.fillText(hiText, c.width - pad - ctx.measureText(hiText).width, c.height - 6);
    ctx.fillText(fmtQty(maxQ), 4, pad - 8);
  }

  function fmtNs(v) {
    if (v === null || v === undefined) return "–";
    if (v < 1000) return v + " ns";
    if (v < 1e6) return (v / 1e3).toFixed(1) + " µs";
    if (v < 1e9) return (v / 1e6).toFixed(2) + " ms";
    return (v / 1e9).toFixed(2) + " s";
  }

  function fmtTime(ts) {
    if (ts < 1e15) {
      return (ts / 1e9).toFixed(6) + " s"; // simulated time from 0
    }
    const d = new Date(ts / 1e6);
    return d.toISOString().slice(11, 23);
  }

  function renderTape() {
    if (!st.pendingTrades.length) return;
    const body = $("tape-rows");
    for (const old of body.querySelectorAll("tr.fresh")) old.classList.remove("fresh");
    const frag = document.createDocumentFragment();
    const first = Math.max(0, st.pendingTrades.length - TAPE_ROWS);
    for (let i = st.pendingTrades.length - 1; i >= first; i--) {
      let t;
      try {
        t = JSON.parse(st.pendingTrades[i]);
      } catch (e) {
        continue;
      }
      if (t.ch !== "trades." + st.symbol) continue;
      const tr = document.createElement("tr");
      tr.className = "trade fresh " + t.aggressor;
      cell(tr, fmtTime(t.ts));
      cell(tr, t.price);
      cell(tr, fmtQty(t.qty));
      cell(tr, t.aggressor);
      frag.appendChild(tr);
    }
    st.pendingTrades = [];
    body.insertBefore(frag, body.firstChild);
    while (body.children.length > TAPE_ROWS) body.removeChild(body.lastChild);
    $("trade-count").textContent = fmtQty(st.trades);
  }

  function fillTable(id, rows) {
    const body = $(id).querySelector("tbody");
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const c of r) {
        if (Array.isArray(c)) cell(tr, c[0], c[1]);
        else cell(tr, c);
      }
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
  }

  function renderStats() {
    const m = st.lastStats;
    const symStatus = st.status.get(st.symbol) || "–";
    const ss = $("sym-status");
    ss.textContent = symStatus;
    ss.className = "pill " + (symStatus === "trading" ? "ok" : symStatus === "–" ? "" : "bad");
    if (!m) return;
    $("orders-rate").textContent = fmtQty(Math.round(m.orders_per_s));
    $("events-rate").textContent = fmtQty(Math.round(m.events_per_s));
    const br = $("breaker");
    br.textContent = m.breaker;
    br.className = "pill " + (m.breaker === "closed" ? "ok" : "bad");
    $("halted").textContent = m.halted.length ? m.halted.join(", ") : "none";
    fillTable(
      "strategies",
      m.accounts.map((a) => {
        const pos = Object.entries(a.positions)
          .map(([s, n]) => s + " " + (n > 0 ? "+" : "") + n)
          .join("  ");
        return [
          a.label || "account " + a.account,
          String(a.account),
          [a.pnl.toFixed(2), a.pnl >= 0 ? "pos" : "neg"],
          pos || "flat",
        ];
      })
    );
    fillTable(
      "lanes",
      m.shards.map((s) => [
        String(s.shard),
        String(s.priority),
        String(s.normal),
        s.priority_high + " / " + s.normal_high,
        String(s.waits),
      ])
    );
    fillTable(
      "latency",
      latencySources(m).map(([s, v]) => {
        v = v || {};
        return [s, fmtNs(v.p50), fmtNs(v.p90), fmtNs(v.p99), fmtNs(v.max)];
      })
    );
    drawLatency();
  }

  function drawLatency() {
    const [c, ctx] = canvasCtx("latency-chart");
    const pts = st.latency;
    const series = st.series;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of pts)
      for (const k of series) {
        const v = p[k];
        if (v !== null && v !== undefined && v > 0) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    if (!isFinite(lo)) {
      ctx.fillStyle = "#7d8a97";
      ctx.fillText("no latency samples yet", 10, 20);
      return;
    }
    const llo = Math.floor(Math.log10(lo));
    const lhi = Math.max(llo + 1, Math.ceil(Math.log10(hi)));
    const pad = 44;
    const w = c.width - pad - 6;
    const h = c.height - 2 * 12;
    const x = (i) => pad + (i / Math.max(1, LATENCY_POINTS - 1)) * w;
    const y = (v) => 12 + h - ((Math.log10(v) - llo) / (lhi - llo)) * h;
    ctx.strokeStyle = "#26303b";
    ctx.fillStyle = "#7d8a97";
    for (let e = llo; e <= lhi; e++) {
      ctx.beginPath();
      ctx.moveTo(pad, y(10 ** e));
      ctx.lineTo(c.width - 6, y(10 ** e));
      ctx.stroke();
      ctx.fillText(fmtNs(10 ** e), 0, y(10 ** e) + 4);
    }
    const colors = ["#58a6ff", "#3fb950", "#d29922", "#a371f7", "#f85149", "#39c5cf"];
    const off = LATENCY_POINTS - pts.length;
    series.forEach((k, i) => {
      ctx.strokeStyle = colors[Math.floor(i / 2) % colors.length];
      ctx.setLineDash(k.endsWith("p99") ? [4, 3] : []);
      ctx.beginPath();
      let moved = false;
      pts.forEach((p, j) => {
        const v = p[k];
        if (v === null || v === undefined || v <= 0) {
          moved = false;
          return;
        }
        if (moved) ctx.lineTo(x(off + j), y(v));
        else ctx.moveTo(x(off + j), y(v));
        moved = true;
      });
      ctx.stroke();
    });
    ctx.setLineDash([]);
    const lg = $("latency-legend");
    const names = [];
    for (let i = 0; i < series.length; i += 2) names.push(series[i].replace(/ p50$/, ""));
    if (lg.dataset.names !== names.join("|")) {
      lg.dataset.names = names.join("|");
      const frag = document.createDocumentFragment();
      names.forEach((text, i) => {
        const span = document.createElement("span");
        const sw = document.createElement("i");
        sw.className = "c" + (i % colors.length);
        span.appendChild(sw);
        span.appendChild(document.createTextNode(text + " (p50 solid, p99 dashed)"));
        frag.appendChild(span);
      });
      lg.replaceChildren(frag);
    }
  }

  function render() {
    if (st.dirtyBook) {
      st.dirtyBook = false;
      renderBook();
    }
    renderTape();
    if (st.dirtyStats) {
      st.dirtyStats = false;
      renderStats();
    }
    $("resyncs").textContent = String(st.resyncs);
    $("resync-flag").classList.toggle("hidden", Date.now() > st.resyncFlagUntil);
  }

  function chooseSymbol(name) {
    if (name === st.symbol) return;
    for (const w of ["book", "tape"]) send(w, "unsubscribe", channels(w, st.symbol));
    st.symbol = name;
    resetBook();
    st.pendingTrades = [];
    st.trades = 0;
    $("tape-rows").replaceChildren();
    $("trade-count").textContent = "0";
    const sym = st.symbols.find((s) => s.name === name);
    if (sym) st.tick = parseFloat(sym.tick) || st.tick;
    st.cseq.delete("l2." + name);
    for (const w of ["book", "tape"]) send(w, "subscribe", channels(w, name));
    const url = new URL(location.href);
    url.searchParams.set("symbol", name);
    history.replaceState(null, "", url);
    st.dirtyStats = true;
  }

  function start() {
    fetch("/symbols")
      .then((r) => r.json())
      .then((j) => {
        st.symbols = j.symbols || [];
        const sel = $("symbol");
        for (const s of st.symbols) {
          const o = document.createElement("option");
          o.value = s.name;
          o.textContent = s.name;
          sel.appendChild(o);
        }
        const want = params.get("symbol");
        const first = st.symbols.find((s) => s.name === want) || st.symbols[0];
        if (first) {
          sel.value = first.name;
          st.symbol = first.name;
          st.tick = parseFloat(first.tick) || st.tick;
        }
        sel.addEventListener("change", () => chooseSymbol(sel.value));
        connect("book");
        connect("tape");
      })
      .catch((e) => {
        $("conn").textContent = "cannot load /symbols: " + e;
        $("conn").className = "pill bad";
      });
    setInterval(render, 100);
    setInterval(sampleBook, SAMPLE_MS);
    setInterval(checkMode, 1000);
  }

  start();
})();
