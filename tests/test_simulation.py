"""Simulation mode: the engine's shards in simulated time with calibrated background flow,
strategies called between windows. Determinism, the latency model, timers on simulated
time, error containment, the shipped strategies and bad settings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

import hftbook as hb
from hftbook.strategies import TWAP, MarketMaker

SYMS = {
    "AAPL": {"reference_price": "100.00"},
    "MSFT": {"reference_price": "300.00"},
    "GOOG": {"reference_price": "580.00"},
}


def _run(seed: int, seconds: float = 0.05, **kw: Any) -> tuple[hb.Simulation, MarketMaker, TWAP]:
    sim = hb.Simulation(symbols=SYMS, seed=seed, rate_per_s=20_000, **kw)
    mm = MarketMaker(size=100, half_spread_ticks=2, max_inventory=500)
    sim.add_strategy(mm, account=1)
    tw = TWAP("MSFT", "buy", 2_000, duration_s=seconds / 2, slices=10)
    sim.add_strategy(tw, account=2)
    sim.run(seconds=seconds)
    return sim, mm, tw


def _fills(sim: hb.Simulation, account: int) -> list[tuple[Any, ...]]:
    pos = sim.engine.positions(account)
    return [tuple(r) for r in pos.tolist()]


def test_same_seed_same_fills_positions_pnl_and_event_stream() -> None:
    a, _, _ = _run(11)
    b, _, _ = _run(11)
    c, _, _ = _run(12)
    for acct in (1, 2):
        assert a.engine.pnl(acct) == b.engine.pnl(acct)
        assert _fills(a, acct) == _fills(b, acct)
    assert a.event_hash() == b.event_hash()
    assert a.state_hash() == b.state_hash()
    assert a.counters() == b.counters()
    assert a.event_hash() != c.event_hash()
    # The strategies traded.
    assert a.engine.pnl(2)["MSFT"]["bought"] > 0
    for s in (a, b, c):
        s.stop()
    assert a.event_hash() == b.event_hash()


def test_window_width_does_not_change_the_market_without_strategies() -> None:
    def go(batch_ns: int) -> str:
        sim = hb.Simulation(symbols=SYMS, seed=5, rate_per_s=20_000, batch_ns=batch_ns)
        sim.run(seconds=0.02)
        h = sim.state_hash()
        sim.stop()
        return h

    assert go(50_000) == go(1_000_000)


class Probe(hb.Strategy):
    """Sends one order at its first batch; records when things reach it."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []  # (strategy's now, last event time)
        self.sent_at = 0
        self.oid = 0
        self.accepted: hb.Event | None = None
        self.timer_times: list[int] = []

    def on_start(self) -> None:
        self.set_timer("t", 0.001)

    def on_events(self, batch: np.ndarray) -> None:
        self.batches.append((self.now(), int(batch["ts_processed"].max())))
        if not self.oid:
            self.sent_at = self.now()
            self.oid = self.buy("AAPL", 100, price="90.00")

    def on_order_event(self, event: hb.Event) -> None:
        if event.kind == "accepted" and event.order_id == self.oid:
            self.accepted = event

    def on_timer(self, name: str) -> None:
        self.timer_times.append(self.now())


def test_latency_model_and_timers_on_simulated_time() -> None:
    sim = hb.Simulation(
        symbols=SYMS,
        seed=3,
        rate_per_s=20_000,
        order_entry_latency_ns=7_000,
        market_data_latency_ns=3_000,
        batch_ns=100_000,
    )
    p = sim.add_strategy(Probe(), account=4)
    assert isinstance(p, Probe)
    sim.run(seconds=0.01)
    assert sim.engine.now() >= 10_000_000
    # A window's events reach the strategy market_data_latency after the window's end (a
    # window is cut short where a timer is due: the timer sees what happened until then).
    for now, last in p.batches:
        assert (now - 3_000) % 100_000 == 0 or now % 1_000_000 == 0
        assert last <= now - 3_000
    # Its order reaches the book order_entry_latency after it was sent.
    assert p.accepted is not None
    assert p.accepted.ts_processed == p.sent_at + 7_000
    # Timers fire on simulated time: every 1 ms from the start.
    assert p.timer_times[:5] == [1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]
    assert len(p.timer_times) == 10
    sim.stop()


class Boom(hb.Strategy):
    def on_start(self) -> None:
        self.buy("AAPL", 100, price="95.00")
        self.calls = 0

    def on_order_event(self, event: hb.Event) -> None:
        assert event.kind == "accepted"

    def on_events(self, batch: np.ndarray) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("bad strategy")


def test_an_error_stops_that_strategy_only(caplog: pytest.LogCaptureFixture) -> None:
    sim = hb.Simulation(symbols=SYMS, seed=9, rate_per_s=20_000)
    boom = sim.add_strategy(Boom(), account=5)
    mm = sim.add_strategy(MarketMaker(size=10, max_inventory=100), account=6)
    with caplog.at_level(logging.ERROR, logger="hftbook.strategy"):
        stats = sim.run(seconds=0.02)
    assert not boom.running
    assert isinstance(boom.error, RuntimeError)
    assert mm.running
    assert "Boom" in caplog.text
    assert "bad strategy" in caplog.text
    assert stats["strategies"]["Boom"]["error"] is not None
    # Its resting order was cancelled (mass cancel on its account).
    pos = sim.engine.pnl(5)
    assert "AAPL" not in pos or pos["AAPL"]["bought"] <= 100
    # Nothing rests at its price any more (the background flow never bids that far down).
    bids = sim.engine.book("AAPL").depth(1000).bids
    assert not np.any(bids["price_ticks"] == 9_500)
    sim.stop()


def test_market_maker_inventory_stays_within_its_limit() -> None:
    sim = hb.Simulation(symbols=SYMS, seed=21, rate_per_s=50_000)
    mm = sim.add_strategy(MarketMaker(size=200, half_spread_ticks=1, max_inventory=400), account=1)
    worst = 0
    for _ in range(20):
        sim.run(seconds=0.005)
        for row in sim.engine.positions(1).tolist():
            worst = max(worst, abs(int(row[2])))
    assert mm.running
    assert 0 < worst <= 400
    assert sim.engine.pnl(1)["total"]["realized"] != 0
    sim.stop()


def test_twap_completes_in_simulated_time() -> None:
    sim = hb.Simulation(symbols=SYMS, seed=2, rate_per_s=50_000)
    tw = sim.add_strategy(TWAP("GOOG", "sell", 1_000, duration_s=0.01, slices=5), account=3)
    sim.run(seconds=0.02)
    assert tw.done
    assert tw.filled + tw.remaining == 1_000
    assert tw.filled > 0
    assert sim.engine.pnl(3)["GOOG"]["sold"] == tw.filled
    sim.stop()


def test_no_background_flow_only_the_strategies() -> None:
    sim = hb.Simulation(symbols=SYMS, seed=1, background=False)
    p = sim.add_strategy(Probe(), account=4)
    stats = sim.run(seconds=0.005)
    assert stats["background_orders"] == 0
    assert p.oid == 0  # nothing happened, nothing to react to
    assert len(p.timer_times) == 5
    sim.stop()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rate_per_s": -1.0}, "rate_per_s"),
        ({"volatility": 50.0}, "volatility"),
        ({"flow": {"AAPL": {"rate": 5}}}, "rate"),
        ({"flow": {"NOPE": {"rate_per_s": 5}}}, "NOPE"),
        ({"batch_ns": 0}, "batch_ns"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(hb.HftbookError, match=field):
        hb.Simulation(symbols=SYMS, **kwargs)


def test_a_live_engine_cannot_be_stepped() -> None:
    with hb.Engine(symbols={"AAPL": {}}) as e:
        assert not e.is_simulation
        with pytest.raises(hb.HftbookError):
            e._sim_run(1)


def test_a_journaled_simulation_replays_to_its_state(tmp_path: Any) -> None:
    d = tmp_path / "journal"
    sim = hb.Simulation(symbols=SYMS, seed=8, rate_per_s=20_000, journal_dir=d)
    sim.add_strategy(MarketMaker(size=100, max_inventory=500), account=1)
    sim.run(seconds=0.02)
    sim.stop()
    state, events = sim.state_hash(), sim.event_hash()
    rep = hb.replay_journal(d)
    assert rep.state_hash == state
    assert rep.event_hash == events
    with pytest.raises(hb.HftbookError):
        hb.Simulation(symbols=SYMS, journal_dir=d)


def test_twap_children_stay_within_the_accounts_max_order_qty() -> None:
    sim = hb.Simulation(symbols=SYMS, seed=2, rate_per_s=50_000)
    sim.engine.risk.set_limits(3, max_order_qty=150)
    tw = sim.add_strategy(TWAP("GOOG", "sell", 1_000, duration_s=0.01, slices=4), account=3)
    capped = sim.add_strategy(
        TWAP("AAPL", "buy", 600, duration_s=0.01, slices=2, max_child_qty=100), account=4
    )
    sim.run(seconds=0.03)
    assert tw.children
    assert all(q <= 150 for _, q in tw.children)
    assert all(q <= 100 for _, q in capped.children)
    assert tw.filled > 0
    assert capped.filled > 0
    sim.stop()


def test_background_private_events_are_left_out_unless_on_batch_wants_every_row() -> None:
    """Without ``on_batch``, the windows carry only the strategies' own private events:
    the same market (hashes, fills, the rows the strategy sees) as with every row."""

    class Rows(hb.Strategy):
        def __init__(self) -> None:
            self.rows: list[np.ndarray] = []

        def on_events(self, batch: np.ndarray) -> None:
            self.rows.append(batch.copy())

    def go(every_row: bool) -> tuple[hb.Simulation, Rows, list[np.ndarray]]:
        sim = hb.Simulation(symbols=SYMS, seed=3, rate_per_s=20_000)
        mm = MarketMaker(size=100, half_spread_ticks=2, max_inventory=500)
        sim.add_strategy(mm, account=1)
        seen = Rows()
        sim.add_strategy(seen, account=2)
        all_rows: list[np.ndarray] = []
        sim.run(seconds=0.03, on_batch=all_rows.append if every_row else None)
        return sim, seen, all_rows

    a, seen_a, every = go(True)
    b, seen_b, _ = go(False)
    assert a.event_hash() == b.event_hash()
    assert a.state_hash() == b.state_hash()
    assert a.engine.pnl(1) == b.engine.pnl(1)
    ra, rb = np.concatenate(seen_a.rows), np.concatenate(seen_b.rows)
    assert ra.tobytes() == rb.tobytes()  # the strategy saw exactly the same rows
    # With on_batch, account 0's private events were in the windows; without, they were not.
    allr = np.concatenate(every)
    private = allr["kind"] < hb.EVENT_KINDS.index("trade")
    assert (allr["account"][private] == 0).sum() > 1000
    sa, sb = a.stats(), b.stats()
    assert sb["events_delivered"] < sa["events_delivered"]
    # The binding's filter itself: other accounts' private rows gone, public rows kept.
    c = hb.Simulation(symbols=SYMS, seed=3, rate_per_s=20_000)
    c.engine.start()
    _, arr = c.engine._sim_run(int(20e6), 0, [7])
    assert len(arr) > 0
    assert not (arr["kind"] < hb.EVENT_KINDS.index("trade")).any()
    for s in (a, b, c):
        s.stop()


class TicksTrader(hb.Strategy):
    """A bid with ``price_ticks``, moved one tick up with ``modify(price_ticks=)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.oid = 0

    def on_start(self) -> None:
        self.oid = self.buy("AAPL", 100, price_ticks=9_900)

    def on_order_event(self, event: hb.Event) -> None:
        self.events.append((event.kind, event.order_id, event.price_ticks))
        if event.kind == "accepted":
            self.modify(self.oid, price_ticks=9_901)


def test_actions_take_prices_in_ticks() -> None:
    """``price_ticks=`` makes a limit order (not a market one) and moves it on a modify."""
    sim = hb.Simulation(symbols=SYMS, seed=1, background=False)
    s = sim.add_strategy(TicksTrader(), account=4)
    assert isinstance(s, TicksTrader)
    sim.run(seconds=0.01)
    assert [k for k, _, _ in s.events] == ["accepted", "modified"]
    assert s.events[0][1:] == (s.oid, 9_900)
    assert s.events[1][1:] == (s.oid, 9_901)
    _, bid, _ = sim.engine.book("AAPL").top()
    assert bid is not None
    assert (bid.price_ticks, bid.qty) == (9_901, 100)
    sim.stop()
