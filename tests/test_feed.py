"""The market-data feed server (``Engine.serve``) and its Python client on loopback."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families

import hftbook as hb
from hftbook.feed import FeedClosed

DEADLINE = 20.0


def started_engine() -> hb.Engine:
    e = hb.Engine(
        symbols={"AAPL": {"tick_size": "0.01"}, "MSFT": {"tick_size": "0.05"}},
        book_events=True,
    )
    e.start()
    return e


def settle(e: hb.Engine) -> None:
    """Wait until the engine executed every order submitted so far."""
    deadline = time.monotonic() + DEADLINE
    while (s := e.stats())["commands"] < s["orders_issued"]:
        assert time.monotonic() < deadline
        time.sleep(0.001)


def same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    return a.dtype == b.dtype and len(a) == len(b) and bool(np.all(a == b))


def matches(client: hb.feed.FeedClient, e: hb.Engine, sym: str) -> bool:
    bids, asks = client.book(sym)
    depth = e.book(sym).depth(10_000)
    return client.synced(sym) and same(bids, depth.bids) and same(asks, depth.asks)


@pytest.mark.parametrize("encoding", ["json", "binary"])
def test_client_book_equals_engine_depth(encoding: str) -> None:
    e = started_engine()
    for i in range(5):
        e.submit("AAPL", "buy", price_ticks=10_000 - i, qty=10 + i)
        e.submit("MSFT", "sell", price_ticks=4_000 + i, qty=3)
    settle(e)
    server = e.serve()
    assert server.url == f"ws://127.0.0.1:{server.port}/ws"
    assert server.http_url == f"http://127.0.0.1:{server.port}"
    done = threading.Event()
    subscribed = threading.Event()
    result: dict[str, Any] = {}
    client = hb.feed.connect(
        server.url, ["l2.AAPL", "l2.MSFT", "trades.AAPL", "l1.AAPL"], encoding=encoding
    )

    def run() -> None:
        deadline = time.monotonic() + DEADLINE
        kinds: list[str] = []
        msgs: list[dict[str, Any]] = []
        with client:
            # The orders below must come after the snapshots, or a loaded machine can
            # deliver them all inside the snapshots and no delta is ever seen.
            while not (client.synced("AAPL") and client.synced("MSFT")):
                assert time.monotonic() < deadline
                msg = client.recv(timeout=0.05)
                if msg is not None:
                    kinds.append(msg["type"])
            subscribed.set()
            while time.monotonic() < deadline:
                msg = client.recv(timeout=0.05)
                if msg is not None:
                    kinds.append(msg["type"])
                    msgs.append(msg)
                if done.is_set() and matches(client, e, "AAPL") and matches(client, e, "MSFT"):
                    result["ok"] = True
                    break
        result["kinds"] = kinds
        result["msgs"] = msgs

    t = threading.Thread(target=run)
    t.start()
    try:
        assert subscribed.wait(DEADLINE)
        for i in range(30):
            e.submit("AAPL", "buy", price_ticks=9_990 - i, qty=2)
            e.submit("AAPL", "sell", price_ticks=10_010 + i, qty=3)
            e.submit("MSFT", "buy", price_ticks=3_900 - i, qty=1)
        e.submit("AAPL", "sell", price_ticks=9_998, qty=25)  # trades through two levels
        e.submit("MSFT", "buy", price_ticks=4_001, qty=4)
        settle(e)
        done.set()
        t.join(DEADLINE + 5)
        assert result.get("ok"), result
        kinds = result["kinds"]
        assert kinds[0] == "snapshot"
        assert {"snapshot", "delta", "trade", "l1"} <= set(kinds)
        assert client.resyncs == 0
        bids, _ = client.book("AAPL", 3)
        assert bids.dtype == hb.LEVEL_DTYPE
        assert len(bids) == 3
        trades = [m for m in result["msgs"] if m["type"] == "trade"]
        assert trades, result["kinds"]
        t0 = trades[0]
        assert t0["ch"] == "trades.AAPL"
        assert t0["aggressor"] == "sell"
        assert t0["qty"] > 0
        assert t0["ts"] > 0
        if encoding == "binary":
            assert t0["price_ticks"] in (10_000, 9_999)
            l1 = [m for m in result["msgs"] if m["type"] == "l1"][-1]
            assert isinstance(l1["bid"], tuple)
        else:
            assert t0["price"] in ("100.00", "99.99")
    finally:
        e.stop()
    assert not server.running


def test_binary_and_json_clients_agree_message_for_message() -> None:
    """The same channel in both encodings: same cseq, seq, types, levels, prices."""
    e = started_engine()
    e.submit("MSFT", "buy", price_ticks=2_000, qty=4)
    settle(e)
    try:
        with e.serve() as server:
            chans = ["l2.MSFT", "l1.MSFT", "trades.MSFT", "status.MSFT"]
            js = hb.feed.connect(server.url, chans).open()
            bn = hb.feed.connect(server.url, chans, encoding="binary").open()
            for c in (js, bn):
                deadline = time.monotonic() + DEADLINE
                while not c.synced("MSFT"):
                    assert time.monotonic() < deadline
                    c.recv(timeout=0.05)
            for i in range(10):
                e.submit("MSFT", "sell", price_ticks=2_010 + i, qty=1 + i)
            e.submit("MSFT", "sell", price_ticks=2_000, qty=1)
            settle(e)
            got: dict[str, list[dict[str, Any]]] = {"j": [], "b": []}
            for name, c in (("j", js), ("b", bn)):
                deadline = time.monotonic() + DEADLINE
                while not any(m["type"] == "trade" for m in got[name]) or not matches(c, e, "MSFT"):
                    assert time.monotonic() < deadline
                    m = c.recv(timeout=0.05)
                    if m is not None:
                        got[name].append(m)
            tick = 0.05
            for a, b in zip(got["j"], got["b"], strict=False):
                assert (a["ch"], a["cseq"], a["seq"], a["type"]) == (
                    b["ch"],
                    b["cseq"],
                    b["seq"],
                    b["type"],
                ), (a, b)
                if a["type"] in ("delta", "trade"):
                    assert abs(float(a["price"]) - b["price_ticks"] * tick) < 1e-9
                    assert a["qty"] == b["qty"]
            assert same(js.book("MSFT")[0], bn.book("MSFT")[0])
            assert same(js.book("MSFT")[1], bn.book("MSFT")[1])
            js.close()
            bn.close()
    finally:
        e.stop()


def test_binary_frames_of_another_version_raise() -> None:
    import struct

    from hftbook.feed import FeedProtocolError

    c = hb.feed.FeedClient("ws://127.0.0.1:1/ws", [], encoding="binary")
    header = struct.pack("<BBHIQQ", 2, 2, 0, 0, 1, 1)
    with pytest.raises(FeedProtocolError, match="version 2: this client reads version 1"):
        c._handle(header + bytes(32))
    with pytest.raises(FeedProtocolError, match="shorter than its header"):
        c._handle(bytes([1, 2, 0]))
    with pytest.raises(FeedProtocolError, match="version 9"):
        c._handle(bytes([9]))
    # A message for a symbol the server never described, an unknown type, a truncated one.
    with pytest.raises(FeedProtocolError, match="symbol id 0 before its symbol"):
        c._handle(struct.pack("<BBHIQQ", 1, 2, 0, 0, 1, 1) + bytes(32))
    name = b"AAPL"
    sym = struct.pack("<BBHIQQ", 1, 6, 0, 0, 0, 0) + struct.pack("<QBB", 1, 2, len(name)) + name
    assert c._handle(sym) == (None, [])
    with pytest.raises(FeedProtocolError, match="unknown type 99"):
        c._handle(struct.pack("<BBHIQQ", 1, 99, 0, 0, 1, 1))
    with pytest.raises(FeedProtocolError, match="type 2"):
        c._handle(struct.pack("<BBHIQQ", 1, 2, 0, 0, 1, 1) + bytes(5))
    with pytest.raises(FeedProtocolError, match="snapshot of"):
        c._handle(struct.pack("<BBHIQQ", 1, 1, 0, 0, 1, 1) + struct.pack("<II", 1, 0))
    with pytest.raises(FeedProtocolError, match="truncated reason"):
        c._handle(struct.pack("<BBHIQQ", 1, 5, 0, 0, 1, 1) + struct.pack("<BBB", 1, 2, 8) + b"oper")
    with pytest.raises(FeedProtocolError, match="truncated name"):
        c._handle(struct.pack("<BBHIQQ", 1, 6, 0, 1, 0, 0) + struct.pack("<QBB", 1, 2, 9) + b"AB")
    # A well-formed status decodes.
    msg, again = c._handle(
        struct.pack("<BBHIQQ", 1, 5, 0, 0, 7, 3) + struct.pack("<BBB", 1, 2, 8) + b"operator"
    )
    assert again == []
    assert msg == {
        "ch": "status.AAPL", "cseq": 3, "seq": 7, "type": "status",
        "state": "halted", "reason": "operator",
    }  # fmt: skip
    with pytest.raises(ValueError, match="encoding"):
        hb.feed.connect("ws://x/ws", [], encoding="xml")


def test_binary_stats_channel_is_json_text() -> None:
    e = started_engine()
    try:
        with e.serve(stats_interval=0.05) as server:
            with hb.feed.connect(server.url, ["stats"], encoding="binary") as c:
                msg = c.recv(timeout=DEADLINE)
                assert msg is not None
                assert msg["ch"] == "stats"
                assert msg["type"] == "stats"
    finally:
        e.stop()


def test_async_iterator_receives_a_snapshot_and_deltas() -> None:
    e = started_engine()
    server = e.serve()

    async def main() -> list[str]:
        seen: list[str] = []
        client = hb.feed.connect(server.url, ["l2.AAPL"])
        async for msg in client:
            seen.append(msg["type"])
            if msg["type"] == "snapshot":
                e.submit("AAPL", "buy", price_ticks=100, qty=1)
            if msg["type"] == "delta":
                assert client.book("AAPL")[0]["qty"][0] == 1
                break
        await client.aclose()
        return seen

    try:
        assert asyncio.run(asyncio.wait_for(main(), DEADLINE)) == ["snapshot", "delta"]
    finally:
        with server:
            e.stop()


def test_unknown_channel_closes_with_a_reason() -> None:
    e = started_engine()
    try:
        with e.serve() as server:
            client = hb.feed.connect(server.url, ["l2.NOPE"])
            with pytest.raises(FeedClosed) as info:
                list(client)
            assert info.value.code == 1008
            assert info.value.reason == "unknown channel: l2.NOPE"
    finally:
        e.stop()


def test_metrics_parse_with_prometheus_client() -> None:
    e = started_engine()
    try:
        e.submit("AAPL", "buy", price_ticks=100, qty=1)
        settle(e)
        with e.serve() as server:
            client = hb.feed.connect(server.url, ["l1.AAPL"]).open()
            deadline = time.monotonic() + DEADLINE
            while True:
                with urllib.request.urlopen(server.http_url + "/metrics", timeout=5) as r:
                    text = r.read().decode()
                families = {f.name: f for f in text_string_to_metric_families(text)}
                clients = families["hftbook_feed_clients"].samples[0].value
                if clients == 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert clients == 1
            client.close()
            for name in [
                "hftbook_feed_messages_sent",
                "hftbook_feed_conflations",
                "hftbook_feed_disconnects",
                "hftbook_engine_events",
                "hftbook_engine_orders",
                "hftbook_engine_lane_depth",
                "hftbook_engine_breaker_state",
            ]:
                assert name in families, (name, sorted(families))
            assert families["hftbook_engine_orders"].type == "counter"
            assert families["hftbook_engine_orders"].samples[0].value == 1
            lanes = {
                (s.labels["shard"], s.labels["lane"])
                for s in families["hftbook_engine_lane_depth"].samples
            }
            assert ("0", "normal") in lanes
            state = {
                s.labels["state"]: s.value for s in families["hftbook_engine_breaker_state"].samples
            }
            assert state["closed"] == 1
            # Prometheus asks for OpenMetrics and gets it, with its # EOF trailer.
            req = urllib.request.Request(
                server.http_url + "/metrics",
                headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
            )
            with urllib.request.urlopen(req, timeout=5) as r:
                assert r.headers["Content-Type"].startswith("application/openmetrics-text")
                om = r.read().decode()
            assert om.endswith("# EOF\n")
            om_families = {f.name: f for f in om_parse(om)}
            assert om_families["hftbook_engine_orders"].type == "counter"
            assert om_families["hftbook_engine_orders"].samples[0].value == 1
    finally:
        e.stop()


# ----------------------------------------------------------------------------- security

TOKEN = "s3cret-token-0123456789"


def _post(url: str, token: str | None = None, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text.startswith(b"{") else {}


def test_control_routes_exist_only_with_a_token() -> None:
    e = started_engine()
    try:
        with e.serve() as server:
            code, _ = _post(server.http_url + "/control/halt/AAPL", TOKEN)
            assert code == 404
        with pytest.raises(ValueError, match="at least 16"):
            e.serve(token="short")
    finally:
        e.stop()


def test_control_routes_need_the_token_and_act() -> None:
    e = started_engine()
    try:
        e.submit("AAPL", "buy", price_ticks=10_000, qty=5, account=7)
        settle(e)
        with e.serve(token=TOKEN) as server:
            base = server.http_url + "/control"
            for tok in (None, "wrong-token-0123456789", TOKEN + "x"):
                code, body = _post(base + "/halt/AAPL", tok)
                assert code == 401, tok
                assert body == {"ok": False, "error": "missing or wrong bearer token"}
            with hb.feed.connect(server.url, ["status.AAPL"]) as client:
                first = client.recv(timeout=DEADLINE)
                assert first is not None
                assert first["state"] == "trading"
                assert _post(base + "/halt/AAPL", TOKEN) == (200, {"ok": True, "halted": "AAPL"})
                msg = client.recv(timeout=DEADLINE)
                assert msg is not None
                assert msg["state"] == "halted", msg
            code, body = _post(base + "/halt/NOPE", TOKEN)
            assert (code, body["error"]) == (400, "unknown symbol: NOPE")
            assert _post(base + "/resume/AAPL", TOKEN)[0] == 200
            # The kill switch cancels the account's resting order.
            assert _post(base + "/kill/7", TOKEN) == (
                200,
                {"ok": True, "account": 7, "killed": True},
            )
            deadline = time.monotonic() + DEADLINE
            while len(e.book("AAPL").depth(10).bids):
                assert time.monotonic() < deadline, "the killed account's order stayed"
                time.sleep(0.005)
            assert _post(base + "/reset_kill/7", TOKEN)[0] == 200
            code, body = _post(base + "/kill/seven", TOKEN)
            assert (code, body["error"]) == (400, 'account "seven" is not a number')
            # Reload: a good config applies, a bad one is refused and the engine keeps its own.
            good = (
                b"[engine]\nbook_events = true\nbatch_size = 16\n"
                b'[symbols.AAPL]\ntick_size = "0.01"\n[symbols.MSFT]\ntick_size = "0.05"\n'
            )
            code, body = _post(base + "/reload", TOKEN, good)
            assert code == 200, body
            assert "engine.batch_size" in body["applied"], body
            code, body = _post(base + "/reload", TOKEN, b"[engine]\nbatch_size = 0\n")
            assert code == 400, body
            assert "batch_size" in body["error"], body
    finally:
        e.stop()


def test_browser_origins_are_checked() -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    e = started_engine()
    try:
        with e.serve(allowed_origins=["http://dashboards.example"]) as server:
            own = f"http://127.0.0.1:{server.port}"
            for origin in (own, "http://dashboards.example"):
                with ws_connect(server.url, origin=origin) as ws:  # type: ignore[arg-type]
                    ws.send('{"op": "subscribe", "channels": ["l1.AAPL"]}')
                    assert json.loads(ws.recv(timeout=DEADLINE))["ch"] == "l1.AAPL"
            with pytest.raises(InvalidStatus) as ei:
                ws_connect(server.url, origin="http://evil.example")  # type: ignore[arg-type]
            assert ei.value.response.status_code == 403
    finally:
        e.stop()


# ----------------------------------------------------------------------------- histograms


def _scrape(url: str, openmetrics: bool = False) -> dict[str, Any]:
    headers = {"Accept": "application/openmetrics-text;version=1.0.0"} if openmetrics else {}
    req = urllib.request.Request(url + "/metrics", headers=headers)
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read().decode()
    parse = om_parse if openmetrics else text_string_to_metric_families
    return {f.name: f for f in parse(text)}


def _histograms(family: Any) -> dict[tuple[tuple[str, str], ...], tuple[float, float]]:
    """Check every histogram of a family is well-formed; ``{labels: (count, sum)}``."""
    assert family.type == "histogram", family.type
    series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for s in family.samples:
        labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        d = series.setdefault(labels, {"buckets": []})
        if s.name.endswith("_bucket"):
            d["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            d["count"] = s.value
        elif s.name.endswith("_sum"):
            d["sum"] = s.value
    out = {}
    for labels, d in series.items():
        buckets = d["buckets"]
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds), (labels, bounds)
        assert bounds[-1] == float("inf"), (labels, bounds)
        counts = [c for _, c in buckets]
        assert all(a <= b for a, b in itertools.pairwise(counts)), (labels, counts)
        assert counts[-1] == d["count"], (labels, counts[-1], d["count"])
        assert d["sum"] >= 0
        out[labels] = (d["count"], d["sum"])
    return out


@pytest.mark.parametrize("openmetrics", [False, True])
def test_stage_latency_histograms_fill_with_traffic(openmetrics: bool) -> None:
    e = started_engine()
    try:
        with e.serve() as server:
            name = "hftbook_engine_stage_latency_seconds"
            for i in range(200):
                e.submit("AAPL", "buy" if i % 2 else "sell", price_ticks=10_000, qty=1)
            settle(e)
            server.observe_reaction("MM", np.array([1_500, 20_000, 3_000_000], dtype=np.uint64))
            deadline = time.monotonic() + DEADLINE
            while True:
                h = _histograms(_scrape(server.http_url, openmetrics)[name])
                stages = {dict(k)["stage"]: v for k, v in h.items()}
                # Shards copy their histograms out every 10 ms and when idle.
                if stages.get("queue_wait", (0, 0))[0] >= 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert set(stages) == {"queue_wait", "match", "publish", "strategy_reaction"}
            count, total = stages["queue_wait"]
            assert count >= 200, stages
            assert total > 0
            assert stages["match"][0] >= 1  # sampled 1 in 16
            assert stages["publish"][0] >= 1
            assert stages["strategy_reaction"][0] == 3
            assert abs(stages["strategy_reaction"][1] - 0.0030215) < 1e-5
            # No journal: no journal metrics.
            assert "hftbook_journal_fsync_seconds" not in _scrape(server.http_url)
    finally:
        e.stop()


def test_journal_fsync_histogram_and_lag(tmp_path: Any) -> None:
    e = hb.Engine(
        symbols={"AAPL": {"tick_size": "0.01"}},
        book_events=True,
        journal_dir=tmp_path / "j",
        fsync="always",
    )
    e.start()
    try:
        with e.serve() as server:
            for i in range(50):
                e.submit("AAPL", "buy", price_ticks=10_000 - i, qty=1)
            settle(e)
            fams = _scrape(server.http_url)
            h = _histograms(fams["hftbook_journal_fsync_seconds"])
            ((count, total),) = h.values()
            assert count >= 1
            assert total > 0
            assert count <= e.journal_stats()["syncs"]  # type: ignore[index]
            assert fams["hftbook_journal_lag_records"].type == "gauge"
            assert fams["hftbook_journal_lag_records"].samples[0].value >= 0
            assert fams["hftbook_journal_records"].samples[0].value >= 50
    finally:
        e.stop()


def test_serve_priority_and_pump_options_are_checked() -> None:
    e = started_engine()
    try:
        for field, value in (
            ("nice", -1),
            ("nice", 20),
            ("nice", 1.5),
            ("nice", True),
            ("pump_interval", 0.0),
            ("pump_interval", 1.0),
            ("pump_interval", "fast"),
            ("idle", 1),
            ("idle", "yes"),
        ):
            with pytest.raises(hb.HftbookError) as info:
                e.serve(**{field: value})
            assert info.value.field == field
            assert repr(value) in str(info.value)
        # The binding checks too (the Python layer is not the only caller).
        with pytest.raises(ValueError, match="nice = 25"):
            e._serve("127.0.0.1", 0, 4096, 250, None, [], 25, 250)
        with pytest.raises(ValueError, match="pump_interval"):
            e._serve("127.0.0.1", 0, 4096, 250, None, [], 10, 5)
        # In range: a working server (the engine's priority; a 1 ms pump), and one whose
        # threads run under SCHED_IDLE (served on the time the engine leaves: here, all).
        for opts in ({"nice": 0, "pump_interval": 0.001}, {"nice": 19, "idle": True}):
            with e.serve(**opts) as server:  # type: ignore[arg-type]
                with hb.feed.connect(server.url, ["l2.AAPL"]) as client:
                    deadline = time.monotonic() + DEADLINE
                    while not client.synced("AAPL"):
                        assert time.monotonic() < deadline
                        client.recv(timeout=0.05)
    finally:
        e.stop()
