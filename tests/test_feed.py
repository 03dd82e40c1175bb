"""The market-data feed server (``Engine.serve``) and its Python client on loopback."""

from __future__ import annotations

import asyncio
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


def test_client_book_equals_engine_depth() -> None:
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
    client = hb.feed.connect(server.url, ["l2.AAPL", "l2.MSFT", "trades.AAPL", "l1.AAPL"])

    def run() -> None:
        deadline = time.monotonic() + DEADLINE
        kinds: list[str] = []
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
                if done.is_set() and matches(client, e, "AAPL") and matches(client, e, "MSFT"):
                    result["ok"] = True
                    break
        result["kinds"] = kinds

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
    finally:
        e.stop()
    assert not server.running


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
