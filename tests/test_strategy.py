"""Python strategies against the live engine: what each receives (its own account's order
events, never another's), the actions, timers, error containment, reaction times."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hftbook as hb


class Recorder(hb.Strategy):
    def __init__(self) -> None:
        self.seen: list[hb.Event] = []
        self.books: list[str] = []
        self.batches = 0
        self.timers: list[str] = []
        self.started = self.stopped = False

    def on_start(self) -> None:
        self.started = True

    def on_events(self, batch: np.ndarray) -> None:
        assert batch.dtype == hb.EVENT_DTYPE
        self.batches += 1

    def on_book(self, symbol: str, book: Any) -> None:
        self.books.append(symbol)

    def on_trade(self, trade: hb.Event) -> None:
        self.seen.append(trade)

    def on_fill(self, fill: hb.Event) -> None:
        self.seen.append(fill)

    def on_order_event(self, event: hb.Event) -> None:
        self.seen.append(event)

    def on_timer(self, name: str) -> None:
        self.timers.append(name)

    def on_stop(self) -> None:
        self.stopped = True


def test_a_strategy_sees_its_own_orders_and_the_market_only() -> None:
    e = hb.Engine(symbols={"AAPL": {}, "MSFT": {}}).start()
    a, b = Recorder(), Recorder()
    e.add_strategy(a, account=1)
    e.add_strategy(b, account=2, symbols=["AAPL"])
    mine = a.buy("AAPL", 3, price="10.00")
    e.submit("AAPL", "sell", price="10.00", qty=3, account=2)  # b's account, not via b
    e.submit("MSFT", "sell", price="20.00", qty=1, account=5)
    e.submit("MSFT", "buy", price="20.00", qty=1, account=6)
    a.wait(lambda s: sum(1 for x in s.seen if x.kind == "trade") == 2)
    b.wait(lambda s: any(x.kind == "fill" for x in s.seen))
    e.stop()
    assert a.started
    assert a.stopped
    assert b.stopped
    assert {x.account for x in a.seen if x.kind != "trade"} == {1}
    assert [x.kind for x in a.seen if x.order_id == mine] == ["accepted", "fill"]
    # b trades AAPL only: the MSFT trade never reaches it; its fills are account 2's.
    assert all(x.symbol == "AAPL" for x in b.seen)
    assert {x.account for x in b.seen if x.kind != "trade"} == {2}
    assert "AAPL" in a.books
    assert "MSFT" in a.books
    assert set(b.books) == {"AAPL"}
    assert a.batches >= 1
    assert a.position("AAPL")["net"] == 3
    assert a.position("MSFT")["net"] == 0
    assert a.pnl()["AAPL"]["trades"] == 1
    assert e.strategies == (a, b)


def test_an_error_stops_that_strategy_only(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(hb.Strategy):
        def on_start(self) -> None:
            self.resting = self.buy("AAPL", 1, price="9.00")

        def on_trade(self, trade: hb.Event) -> None:
            raise ValueError("bad signal")

    e = hb.Engine(symbols={"AAPL": {}}).start()
    broken, ok = Broken(), Recorder()
    with caplog.at_level(logging.ERROR, logger="hftbook.strategy"):
        e.add_strategy(broken, account=1)
        e.add_strategy(ok, account=2)
        e.submit("AAPL", "sell", price="10.00", qty=1, account=3)
        e.submit("AAPL", "buy", price="10.00", qty=1, account=4)
        deadline = time.monotonic() + 20
        while broken.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not broken.running
        assert isinstance(broken.error, ValueError)
        # Its resting order was cancelled; the other strategy goes on.
        ok.wait(lambda s: any(x.kind == "trade" for x in s.seen))
        e.submit("AAPL", "sell", price="11.00", qty=1, account=3)
        e.submit("AAPL", "buy", price="11.00", qty=1, account=4)
        ok.wait(lambda s: sum(1 for x in s.seen if x.kind == "trade") == 2)
    evs = list(e.events(timeout=0.2))
    assert any(x.order_id == broken.resting and x.kind == "cancelled" for x in evs)
    e.stop()
    text = caplog.text
    assert "strategy Broken (account 1) raised in on_trade" in text
    assert "ValueError: bad signal" in text
    assert ok.running is False
    assert ok.error is None


def test_timers_reaction_times_and_actions() -> None:
    class Quoter(hb.Strategy):
        def on_start(self) -> None:
            self.set_timer("once", 0.01, repeat=False)
            self.set_timer("tick", 0.01)
            self.fired: list[str] = []
            self.quotes = 0

        def on_timer(self, name: str) -> None:
            self.fired.append(name)
            if name == "tick" and self.fired.count("tick") == 3:
                self.cancel_timer("tick")

        def on_trade(self, trade: hb.Event) -> None:
            self.quotes += 1
            oid = self.sell("AAPL", 1, price="12.00")
            self.modify(oid, qty=2)
            self.cancel(oid)

    e = hb.Engine(symbols={"AAPL": {}}).start()
    q = e.add_strategy(Quoter(), account=9)
    q.wait(lambda s: s.fired.count("tick") == 3 and "once" in s.fired)
    for _ in range(5):
        e.submit("AAPL", "sell", price="10.00", qty=1)
        e.submit("AAPL", "buy", price="10.00", qty=1)
    q.wait(lambda s: s.quotes == 5)
    time.sleep(0.1)
    assert q.fired.count("once") == 1
    assert q.fired.count("tick") == 3
    stats = q.reaction_stats()
    assert stats["count"] == 15  # sell + modify + cancel per trade
    assert 0 < stats["p50"] <= stats["p99"] <= stats["max"]
    with pytest.raises(hb.HftbookError, match="interval"):
        q.set_timer("bad", 0)
    with pytest.raises(hb.HftbookError, match="already running"):
        e.add_strategy(q, account=10)
    with pytest.raises(hb.InvalidOrder, match="account"):
        e.add_strategy(Recorder(), account=0)
    e.stop()


_KINDS = len(hb.EVENT_KINDS)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, _KINDS - 1),  # kind
            st.integers(0, 4),  # symbol
            st.integers(-(2**40), 2**40),  # price_ticks
            st.integers(0, 2**40),  # qty
        ),
        max_size=60,
    ),
    touch=st.integers(0, 2**_KINDS - 1),
    own=st.integers(0, 2**_KINDS - 1),
    offset=st.booleans(),
)
def test_scan_events_matches_numpy(
    rows: list[tuple[int, int, int, int]], touch: int, own: int, offset: bool
) -> None:
    """``_scan_events`` (the market maker's one pass over a window) against numpy: the
    touched symbols, the last trade price per symbol, the own rows' fields in order; also
    on a misaligned view (it copies instead of borrowing)."""
    from hftbook._core import _scan_events

    arr = np.zeros(len(rows), dtype=hb.EVENT_DTYPE)
    for i, (k, s, px, q) in enumerate(rows):
        arr[i]["kind"], arr[i]["symbol"], arr[i]["price_ticks"], arr[i]["qty"] = k, s, px, q
        arr[i]["order_id"], arr[i]["side"], arr[i]["leaves_qty"], arr[i]["reason"] = (
            i + 1,
            i % 2,
            q // 2,
            i % 7,
        )
    if offset:  # the same records at an address that is not 8-byte aligned
        raw = np.zeros(arr.nbytes + 1, dtype=np.uint8)
        raw[1:] = arr.view(np.uint8)
        arr = raw[1:].view(hb.EVENT_DTYPE)
    touched, last, own_rows = _scan_events(arr, touch, own)
    kinds = arr["kind"].astype(np.int64)
    in_touch = (touch >> kinds) & 1 == 1
    assert touched == sorted(set(arr["symbol"][in_touch].tolist()))
    trade = arr["kind"] == hb.EVENT_KINDS.index("trade")
    want_last = dict(
        zip(arr["symbol"][trade].tolist(), arr["price_ticks"][trade].tolist(), strict=True)
    )
    assert last == sorted(want_last.items())
    sel = arr[(own >> kinds) & 1 == 1]
    fields = ("order_id", "kind", "symbol", "side", "price_ticks", "qty", "leaves_qty", "reason")
    assert own_rows == list(zip(*[sel[f].tolist() for f in fields], strict=True))


def test_scan_events_refuses_other_arrays() -> None:
    from hftbook._core import _scan_events

    for bad in (np.zeros(3, dtype=hb.ENGINE_COMMAND_DTYPE), np.zeros((2, 2)), [1, 2]):
        with pytest.raises(TypeError, match="EVENT_DTYPE"):
            _scan_events(bad, 1, 1)
    strided = np.zeros(4, dtype=hb.EVENT_DTYPE)[::2]
    with pytest.raises(TypeError, match="C-contiguous"):
        _scan_events(strided, 1, 1)
