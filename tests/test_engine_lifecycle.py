"""``hftbook.Engine`` protection, control and lifecycle from Python: backpressure, pause and
resume, symbol halts (operator and volatility), price bands, the circuit breaker, hot reload
and the file watcher, logging, stop / drop, the lock-free book reader and ``stats()``.

Every wait has a generous deadline only to turn a hang into a failure; nothing asserts speed.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import hftbook as hb
from engine_util import DEADLINE, Collector, engine, finish, kinds, queued, wait_until

pytestmark = pytest.mark.timeout(120)


def engine_events(evs: list[hb.Event], reason: str) -> list[hb.Event]:
    return [ev for ev in evs if ev.kind == "engine" and ev.reason == reason]


def paused(**options: Any) -> tuple[hb.Engine, Collector]:
    """A running engine, paused (its normal lane is not drained while paused)."""
    e = engine(**options)
    e.start()
    c = Collector(e)
    e.pause()
    c.until(lambda evs: bool(engine_events(evs, "pause")), "the pause event")
    return e, c


# -- backpressure ------------------------------------------------------------------------------


def test_backpressure_reject_raises_at_once() -> None:
    e, c = paused(lane_capacity=2, on_full="reject")
    a = e.submit("AAPL", "buy", price="10.00", qty=1)
    b = e.submit("AAPL", "buy", price="10.00", qty=2)
    with pytest.raises(hb.Backpressure) as info:
        e.submit("AAPL", "buy", price="10.00", qty=3)
    err = info.value
    assert (err.lane, err.shard, err.waited, err.enqueued) == ("normal", 0, 0.0, 0)
    assert "full" in str(err)
    sh = e.stats()["shards"][0]
    assert (sh["backpressure_rejections"], sh["backpressure_waits"]) == (1, 0)
    assert sh["normal_queued"] == 2
    assert sh["normal_depth"] == 2
    e.resume()
    evs = c.events + finish(e)
    accepted = [ev.order_id for ev in evs if ev.kind == "accepted"]
    assert accepted == [a, b]  # the refused order left no trace
    assert [ev for ev in evs if ev.kind == "rejected"] == []


def test_backpressure_block_times_out() -> None:
    e, c = paused(lane_capacity=2, on_full="block", full_timeout_ms=100)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    with pytest.raises(hb.Backpressure) as info:
        e.submit("AAPL", "buy", price="10.00", qty=1)
    assert info.value.lane == "normal"
    assert info.value.waited > 0
    sh = e.stats()["shards"][0]
    assert (sh["backpressure_waits"], sh["backpressure_rejections"]) == (1, 1)
    e.resume()
    evs = c.events + finish(e)
    assert len([ev for ev in evs if ev.kind == "accepted"]) == 2


def test_backpressure_block_waits_for_room() -> None:
    """A producer blocked on a full lane goes through once the shard drains it (the GIL is
    released while it waits: the resuming thread runs)."""
    e, c = paused(lane_capacity=2, on_full="block", full_timeout_ms=60_000)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    resumer = threading.Timer(0.05, e.resume)
    resumer.start()
    third = e.submit("AAPL", "buy", price="10.00", qty=1)
    resumer.join(DEADLINE)
    sh = e.stats()["shards"][0]
    assert (sh["backpressure_waits"], sh["backpressure_rejections"]) == (1, 0)
    evs = c.events + finish(e)
    assert kinds(evs, third) == ["accepted"]


def test_backpressure_on_the_priority_lane() -> None:
    e = engine(priority_capacity=2, on_full="reject")  # not started: nothing drains
    oid = e.submit("AAPL", "buy", price="10.00", qty=1)
    e.cancel(oid)
    e.halt("MSFT")
    with pytest.raises(hb.Backpressure) as info:
        e.cancel(oid)
    assert info.value.lane == "priority"
    with pytest.raises(hb.Backpressure):
        e.submit("AAPL", "buy", price="10.00", qty=1, urgent=True)
    assert e.stats()["shards"][0]["backpressure_rejections"] == 2
    e.start()
    evs = finish(e)
    assert kinds(evs, oid) == ["accepted", "cancelled"]
    assert not [ev for ev in evs if ev.kind == "rejected"]


# -- pause / resume -----------------------------------------------------------------------------


def test_pause_queues_new_orders_and_runs_cancels() -> None:
    e = engine()
    e.start()
    c = Collector(e)
    rest = e.submit("AAPL", "sell", price="10.00", qty=1)
    gone = e.submit("AAPL", "sell", price="11.00", qty=1)
    c.wait_kind("accepted", 2)
    e.pause()
    assert e.state == "paused"
    taker = e.submit("AAPL", "buy", price="10.00", qty=1)
    e.cancel(gone)
    c.wait_kind("cancelled", 1, order_id=gone)
    c.pump()
    assert kinds(c.events, taker) == []
    assert not [ev for ev in c.events if ev.kind == "fill"]
    assert e.book("AAPL").depth(5).asks["price_ticks"].tolist() == [1000]
    e.resume()
    c.wait_kind("fill", 2)
    assert kinds(c.events, taker) == ["accepted", "fill"]
    assert kinds(c.events, rest) == ["accepted", "fill"]
    pauses = [ev.text for ev in engine_events(c.events, "pause")]
    assert pauses == ["engine paused", "engine resumed"]
    finish(e)


def test_pause_can_reject_new_orders() -> None:
    e, c = paused(paused_orders="reject")
    oid = e.submit("AAPL", "buy", price="10.00", qty=1)
    (rej,) = c.wait_kind("rejected", 1, order_id=oid)
    assert rej.reason == "paused"
    assert "paused" in rej.text
    e.resume()
    ok = e.submit("AAPL", "buy", price="10.00", qty=1)
    c.wait_kind("accepted", 1, order_id=ok)
    finish(e)


# -- halts, bands, breaker -----------------------------------------------------------------------


def test_operator_halt_and_resume() -> None:
    e = engine()
    e.start()
    c = Collector(e)
    resting = e.submit("AAPL", "buy", price="10.00", qty=1)
    c.wait_kind("accepted", 1)
    e.halt("AAPL")
    (st,) = c.wait_kind("status", 1)
    assert (st.symbol, st.reason) == ("AAPL", "halted")
    assert "halted" in st.text
    assert e.is_halted("AAPL")
    assert not e.is_halted("MSFT")
    refused = e.submit("AAPL", "buy", price="10.00", qty=1)
    other = e.submit("MSFT", "buy", price="10.00", qty=1)
    e.cancel(resting)
    c.wait_kind("cancelled", 1, order_id=resting)
    (rej,) = c.wait_kind("rejected", 1, order_id=refused)
    assert rej.reason == "halted"
    assert "halted" in rej.text
    c.wait_kind("accepted", 1, order_id=other)
    e.resume("AAPL")
    c.wait_kind("status", 2)
    assert c.events
    assert [ev.reason for ev in c.events if ev.kind == "status"] == [
        "halted",
        "trading",
    ]
    assert not e.is_halted("AAPL")
    again = e.submit("AAPL", "buy", price="10.00", qty=1)
    c.wait_kind("accepted", 1, order_id=again)
    finish(e)


def test_volatility_halt_rejects_then_resumes_by_itself() -> None:
    e = engine(
        {
            "AAPL": {
                "tick_size": "0.01",
                "halt_pct": 2.0,
                "halt_window_ms": 60_000,
                "halt_duration_ms": 100,
            }
        }
    )
    e.start()
    c = Collector(e)
    e.submit("AAPL", "sell", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    e.submit("AAPL", "sell", price="10.50", qty=1)
    e.submit("AAPL", "buy", price="10.50", qty=1)  # a 5 % move: halts
    (st,) = c.wait_kind("status", 1, reason="volatility")
    assert st.symbol == "AAPL"
    assert st.detail >= 400
    assert "bps" in st.text
    assert e.is_halted("AAPL") or [ev for ev in c.events if ev.reason == "trading"]
    (back,) = c.wait_kind("status", 1, reason="trading")
    assert back.seq > st.seq
    ok = e.submit("AAPL", "buy", price="10.40", qty=1)
    c.wait_kind("accepted", 1, order_id=ok)
    finish(e)


def test_volatility_halt_rejects_new_orders_with_the_reason() -> None:
    e = engine(
        {
            "AAPL": {
                "tick_size": "0.01",
                "halt_pct": 2.0,
                "halt_window_ms": 60_000,
                "halt_duration_ms": 3_600_000,
            }
        }
    )
    e.start()
    c = Collector(e)
    resting = e.submit("AAPL", "buy", price="9.00", qty=1)
    e.submit("AAPL", "sell", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    e.submit("AAPL", "sell", price="10.50", qty=1)
    e.submit("AAPL", "buy", price="10.50", qty=1)
    c.wait_kind("status", 1, reason="volatility")
    refused = e.submit("AAPL", "buy", price="10.50", qty=1)
    (rej,) = c.wait_kind("rejected", 1, order_id=refused)
    assert rej.reason == "halted"
    e.cancel(resting)  # cancels still work
    c.wait_kind("cancelled", 1, order_id=resting)
    e.resume("AAPL")  # an operator may end it early
    c.wait_kind("status", 1, reason="trading")
    finish(e)


def test_price_band() -> None:
    e = engine(
        {
            "AAPL": {"tick_size": "0.01", "band_pct": 5, "reference_price": "100.00"},
            "MSFT": {"tick_size": "0.01", "band_ticks": 10, "reference_price": "50.00"},
        }
    )
    e.start()
    hi = e.submit("AAPL", "buy", price="105.01", qty=1)
    lo = e.submit("AAPL", "sell", price="94.99", qty=1)
    ok = e.submit("AAPL", "buy", price="105.00", qty=1)
    mhi = e.submit("MSFT", "sell", price="50.11", qty=1)
    mok = e.submit("MSFT", "sell", price="50.10", qty=1)
    mkt = e.submit("AAPL", "sell", qty=1, order_type="market")  # unpriced: no band check
    evs = finish(e)
    (r,) = [ev for ev in evs if ev.order_id == hi]
    assert (r.kind, r.reason, r.detail) == ("rejected", "price_band", 10_500)
    assert "105.00" in r.text
    assert "105.01" in r.text
    (r2,) = [ev for ev in evs if ev.order_id == lo]
    assert (r2.reason, r2.detail) == ("price_band", 9_500)
    (r3,) = [ev for ev in evs if ev.order_id == mhi]
    assert (r3.reason, r3.detail) == ("price_band", 5_010)
    assert kinds(evs, ok) == ["accepted", "fill"]
    assert kinds(evs, mok) == ["accepted"]
    assert kinds(evs, mkt) == ["accepted", "fill"]  # unpriced: took the 105.00 bid
    assert e.stats()["rejections"] == {"price_band": 3}


def test_circuit_breaker_open_half_open_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hftbook")
    e = engine(
        {"AAPL": {"tick_size": "0.01", "band_ticks": 10, "reference_price": "10.00"}},
        breaker={"window": 4, "reject_rate": 0.5, "cooldown_ms": 50, "probe_orders": 2},
    )
    e.start()
    c = Collector(e)
    resting = e.submit("AAPL", "buy", price="10.00", qty=1)
    for _ in range(3):
        e.submit("AAPL", "buy", price="20.00", qty=1)  # out of band: 3 of 4 rejected
    c.until(lambda evs: engine_events(evs, "breaker"), "breaker open")
    opened = engine_events(c.events, "breaker")[0]
    assert (opened.detail, opened.text) == (1, "circuit breaker open")
    # While open (or once half-open) an in-band order is refused or probes; a cancel works.
    e.cancel(resting)
    c.wait_kind("cancelled", 1, order_id=resting)
    c.until(lambda evs: len(engine_events(evs, "breaker")) >= 2, "half open")
    half = engine_events(c.events, "breaker")[1]
    assert half.text == "circuit breaker half_open"
    e.submit("AAPL", "buy", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.01", qty=1)
    c.until(lambda evs: len(engine_events(evs, "breaker")) >= 3, "breaker closed")
    closed = engine_events(c.events, "breaker")[2]
    assert closed.text == "circuit breaker closed"
    assert e.stats()["breaker"] == "closed"
    finish(e)
    e._pump_logs()
    lines = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert any("open" in m for m in lines)
    assert any("closed" in m for m in lines)


def test_breaker_open_rejects_new_orders() -> None:
    e = engine(
        {"AAPL": {"tick_size": "0.01", "band_ticks": 10, "reference_price": "10.00"}},
        breaker={"window": 2, "reject_rate": 0.5, "cooldown_ms": 3_600_000},
    )
    e.start()
    c = Collector(e)
    e.submit("AAPL", "buy", price="20.00", qty=1)
    e.submit("AAPL", "buy", price="20.00", qty=1)
    c.until(lambda evs: engine_events(evs, "breaker"), "breaker open")
    assert e.stats()["breaker"] == "open"
    refused = e.submit("AAPL", "buy", price="10.00", qty=1)
    (rej,) = c.wait_kind("rejected", 1, order_id=refused)
    assert rej.reason == "breaker_open"
    assert "breaker" in rej.text
    finish(e)


def test_breaker_opens_on_queueing_delay() -> None:
    e = engine(breaker={"max_queue_delay_us": 1000, "cooldown_ms": 3_600_000})
    late = e.submit("AAPL", "buy", price="10.00", qty=1)
    time.sleep(0.01)  # queued before start: it waits at least this long
    e.start()
    evs = finish(e)
    assert engine_events(evs, "breaker")[0].detail == 1
    assert [ev.reason for ev in evs if ev.order_id == late] == ["breaker_open"]


# -- configuration: reload and watch ---------------------------------------------------------------

TOML = """
[engine]
shards = 1
batch_size = 64

[symbols.AAPL]
tick_size = "0.01"
band_pct = {band}
reference_price = "100.00"
"""


def write(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns == before:  # coarse file system clock: make the change visible
        os.utime(path, ns=(st.st_atime_ns, before + 1_000_000))


def test_reload_config_valid_restart_only_and_invalid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hftbook")
    path = tmp_path / "hftbook.toml"
    write(path, TOML.format(band=5))
    e = hb.Engine(path)
    e.start()
    c = Collector(e)
    out = e.submit("AAPL", "buy", price="110.00", qty=1)
    c.wait_kind("rejected", 1, order_id=out)
    # A safe change applies.
    write(path, TOML.format(band=20).replace("batch_size = 64", "batch_size = 32"))
    r = e.reload_config()
    assert set(r["applied"]) == {"engine.batch_size", "symbols.AAPL (bands, halts)"}
    assert r["restart_only"] == []
    assert r["added_symbols"] == []
    ok = e.submit("AAPL", "buy", price="110.00", qty=1)
    c.wait_kind("accepted", 1, order_id=ok)
    # A restart-only change is reported, not applied; a new symbol is added.
    write(
        path,
        TOML.format(band=20).replace("shards = 1", "shards = 2")
        + '\n[symbols.NEW]\ntick_size = "0.5"\n',
    )
    r = e.reload_config()
    assert r["restart_only"] == ["engine.shards"]
    assert r["added_symbols"] == ["NEW"]
    assert e.shards == 1
    assert "NEW" in e.symbols
    new = e.submit("NEW", "sell", price="1.5", qty=1)
    c.wait_kind("accepted", 1, order_id=new)
    # An invalid file raises, emits an event, and the running config stays.
    write(path, TOML.format(band=-3))
    with pytest.raises(hb.ConfigError) as info:
        e.reload_config()
    assert info.value.key == "symbols.AAPL.band_pct"
    assert info.value.file == str(path)
    write(path, "[engine\n")
    with pytest.raises(hb.ConfigError):
        e.reload_config()
    c.until(lambda evs: len(engine_events(evs, "config_rejected")) == 2, "config_rejected")
    applied = engine_events(c.events, "config_applied")
    assert len(applied) == 2
    assert applied[1].detail == 1
    far = e.submit("AAPL", "buy", price="125.00", qty=1)
    still = e.submit("AAPL", "buy", price="115.00", qty=1)
    c.wait_kind("accepted", 1, order_id=still)
    assert [ev.reason for ev in c.wait_kind("rejected", 1, order_id=far)] == ["price_band"]
    finish(e)
    msgs = [r.getMessage() for r in caplog.records if r.name == "hftbook"]
    assert any("configuration reloaded" in m for m in msgs)
    assert sum("configuration rejected" in m for m in msgs) == 2


def test_reload_config_from_a_dict_and_without_a_file() -> None:
    e = engine()
    with pytest.raises(hb.ConfigError, match="no config file"):
        e.reload_config()
    r = e.reload_config(
        {
            "symbols": {
                **{k: dict(v) for k, v in e._config_dict["symbols"].items()},
                "NEW": {"tick_size": "1"},
            }
        }
    )
    assert r["added_symbols"] == ["NEW"]
    with pytest.raises(hb.ConfigError) as info:
        e.reload_config({"engine": {"batch_size": 0}})
    assert info.value.key == "engine.batch_size"
    e.start()
    evs = finish(e)
    assert [ev.reason for ev in evs if ev.kind == "engine"] == [
        "config_applied",
        "config_rejected",
    ]


def test_watch_config_picks_up_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "hftbook.toml"
    write(path, TOML.format(band=5))
    e = hb.Engine(path)
    with pytest.raises(hb.ConfigError, match="no config file"):
        engine().watch_config()
    e.start()
    e.watch_config(interval=0.02)
    c = Collector(e)
    write(path, TOML.format(band=50))
    c.until(lambda evs: engine_events(evs, "config_applied"), "the watcher's reload")
    ok = e.submit("AAPL", "buy", price="140.00", qty=1)
    c.wait_kind("accepted", 1, order_id=ok)
    write(path, "not toml [")
    c.until(lambda evs: engine_events(evs, "config_rejected"), "the watcher's rejection")
    e.stop_watching()
    assert e._watch is None
    finish(e)


# -- logging --------------------------------------------------------------------------------------


def test_logging_lifecycle_config_halt_never_per_order(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hftbook")
    with engine() as e:
        e.add_symbol("NEW", tick_size="0.1")
        for i in range(200):
            e.submit("AAPL", "buy" if i % 2 else "sell", price="10.00", qty=1)
        e.halt("MSFT")
        e.pause()
        e.resume()
        c = Collector(e)
        c.wait_kind("status", 1)
    e._pump_logs()
    recs = [r for r in caplog.records if r.name == "hftbook"]
    topics = [getattr(r, "hftbook_topic", None) for r in recs]
    assert {"lifecycle", "config", "halt"} <= set(topics), topics
    assert all(isinstance(getattr(r, "hftbook_ts_ns", None), int) for r in recs)
    msgs = [r.getMessage() for r in recs]
    assert any("started" in m for m in msgs)
    assert any("stopped" in m for m in msgs)
    assert any("NEW" in m for m in msgs)
    assert any("MSFT halted" in m for m in msgs)
    assert len(recs) < 20, msgs  # 200 orders, no line per order


# -- lifecycle ----------------------------------------------------------------------------------


def threads_now() -> int:
    return len(os.listdir("/proc/self/task"))


def test_context_manager_and_states() -> None:
    e = engine()
    assert e.state == "created"
    with e as same:
        assert same is e
        assert e.state == "running"
        e.submit("AAPL", "buy", price="1.00", qty=1)
    assert e.state == "stopped"
    assert [ev.kind for ev in e.events()] == ["accepted"]
    with pytest.raises(ValueError, match="inside"), engine() as e2:
        raise ValueError("inside")
    assert e2.state == "stopped"
    assert "stopped" in repr(e2)
    assert "AAPL" in repr(e2)


def test_stop_with_full_lanes_drains_everything() -> None:
    e = engine(lane_capacity=4096)
    ids = [e.submit("AAPL", "buy", price="1.00", qty=1) for _ in range(500)]
    for oid in ids[:50]:
        e.cancel(oid)
    assert e.stats()["shards"][0]["normal_depth"] == 500
    report = e.stop()
    assert set(report) == {"drained", "refused", "events_discarded", "clean"}
    assert report == {"drained": 550, "refused": 0, "events_discarded": 0, "clean": True}
    evs = list(e.events())
    assert sum(ev.kind == "accepted" for ev in evs) == 500
    assert sum(ev.kind == "cancelled" for ev in evs) == 50
    assert e.stats()["shards"][0]["normal_depth"] == 0


def test_stop_without_drain_refuses_visibly() -> None:
    e = engine()
    ids = [e.submit("AAPL", "buy", price="1.00", qty=1) for _ in range(100)]
    report = e.stop(drain=False)
    assert report["refused"] == 100
    assert report["drained"] == 0
    assert report["clean"]
    evs = list(e.events())
    assert [ev.order_id for ev in evs] == ids
    assert {(ev.kind, ev.reason) for ev in evs} == {("rejected", "shutdown")}
    assert "stopped" in evs[0].text


def test_stop_while_nobody_polls_reports_discarded_events() -> None:
    e = engine(event_capacity=64, breaker={"enabled": False})
    for _ in range(200):
        e.submit("AAPL", "buy", price="1.00", qty=1)
    e.start()
    report = e.stop(timeout=0.2)
    assert not report["clean"]
    assert report["events_discarded"] > 0
    got = list(e.events())
    assert len(got) + report["events_discarded"] == 200


def _run_and_drop(n_orders: int) -> None:
    e = engine(shards=2)
    e.start()
    for i in range(n_orders):
        e.submit("AAPL" if i % 2 else "MSFT", "buy", price="1.00", qty=1)
    e.poll(10, 1.0)


def test_drop_without_stop_leaves_no_thread() -> None:
    gc.collect()
    before = threads_now()
    _run_and_drop(100)
    gc.collect()
    wait_until(lambda: threads_now() <= before, f"threads back to {before}")


def test_stop_joins_every_thread() -> None:
    gc.collect()
    before = threads_now()
    e = engine(shards=2)
    e.start()
    assert threads_now() >= before + 2
    e.stop()
    assert threads_now() == before


def test_book_reader_from_another_thread_while_the_shard_writes() -> None:
    e = engine()
    e.start()
    reader = e.book("AAPL")
    stop = threading.Event()
    seen = {"reads": 0, "both": 0}
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                _seq, bid, ask = reader.top()
                d = reader.depth(5)
                seen["reads"] += 1
                if bid is not None and ask is not None:
                    seen["both"] += 1
                    assert bid.price < ask.price, (bid, ask)
                bids = d.bids["price_ticks"].tolist()
                asks = d.asks["price_ticks"].tolist()
                assert bids == sorted(bids, reverse=True)
                assert asks == sorted(asks)
                # Each side is read whole; the two sides are one snapshot only when the
                # writer ran no operation during the read (seq set).
                if bids and asks and d.seq is not None:
                    assert bids[0] < asks[0]
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    for i in range(3000):
        off = (i * 7) % 11 - 5
        if i % 2:
            e.submit("AAPL", "buy", price_ticks=1000 + off, qty=1 + i % 3)
        else:
            e.submit("AAPL", "sell", price_ticks=1001 + off, qty=1 + i % 3)
    c = Collector(e)
    c.until(lambda evs: e.stats()["commands"] == 3000, "all commands")
    stop.set()
    t.join(DEADLINE)
    assert not t.is_alive()
    assert not errors, errors
    assert seen["reads"] > 0
    finish(e)
    _seq, bid, ask = e.book("AAPL").top()
    assert bid is not None
    assert ask is not None
    assert bid.price < ask.price
    assert isinstance(bid.price, Decimal)


# -- stats --------------------------------------------------------------------------------------


def test_stats_counters_match_what_was_sent() -> None:
    e = engine(shards=2)
    e.start()
    ids = [e.submit("AAPL", "buy", price="1.00", qty=1) for _ in range(40)]
    ids += [e.submit("MSFT", "sell", price="2.00", qty=1) for _ in range(24)]
    for oid in ids[:10]:
        e.cancel(oid)
    e.cancel(ids[0])  # a second cancel: rejected unknown_order
    evs = finish(e)
    s = e.stats()
    for key in (
        "shards",
        "state",
        "breaker",
        "orders_issued",
        "commands",
        "events",
        "rejections",
        "cpu_seconds",
    ):
        assert key in s
    assert s["state"] == "stopped"
    assert s["breaker"] == "closed"
    assert s["orders_issued"] == 64
    assert s["commands"] == 64 + 11
    assert s["events"] == len(evs)
    assert s["rejections"] == {"unknown_order": 1}
    assert s["cpu_seconds"] > 0
    assert len(s["shards"]) == 2
    assert sum(sh["normal_queued"] for sh in s["shards"]) == 64
    assert sum(sh["priority_queued"] for sh in s["shards"]) == 11
    assert queued(e) == 75
    for sh in s["shards"]:
        for k in (
            "commands",
            "events",
            "rejections",
            "priority_depth",
            "normal_depth",
            "priority_high_water",
            "normal_high_water",
            "backpressure_waits",
            "backpressure_rejections",
            "parked",
            "parks",
            "event_waits",
            "events_discarded",
            "cpu_seconds",
            "latency",
        ):
            assert k in sh, k
        assert sh["priority_depth"] == sh["normal_depth"] == 0
        lat = sh["latency"]
        assert set(lat) == {"queue_wait", "match", "publish"}
        assert lat["queue_wait"]["count"] == sh["commands"]
        for stage in lat.values():
            assert set(stage) == {"count", "p50_ns", "p99_ns", "p999_ns", "max_ns"}
            if stage["count"]:
                assert 0 < stage["p50_ns"] <= stage["p99_ns"] <= stage["p999_ns"] <= stage["max_ns"]
        assert lat["publish"]["count"] > 0
    assert sum(sh["latency"]["match"]["count"] for sh in s["shards"]) > 0
