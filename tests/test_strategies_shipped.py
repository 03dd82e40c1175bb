"""The shipped strategies (hftbook.strategies) against the live engine: the market maker's
quotes, skew, sizing, inventory limit and stop; momentum's entries, limits, cooldown and
flattening; TWAP's schedule, carry-over, limit price and average price. The other side of
every trade is account 0 via ``engine.submit``. Deadlines are generous; nothing is timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

import hftbook as hb
from hftbook.strategies import TWAP, MarketMaker, Momentum

D = Decimal
MM, MO, TW = 7, 8, 9  # the strategies' accounts


def engine() -> hb.Engine:
    # book_events: the market maker follows the others' quotes (not only the trades).
    return hb.Engine(symbols={"AAPL": {"tick_size": "0.01"}}, book_events=True).start()


def tops(e: hb.Engine) -> tuple[tuple[Decimal, int] | None, tuple[Decimal, int] | None]:
    """The best bid and ask of AAPL as (price, qty)."""
    d = e.book("AAPL").depth(1)
    out = [
        (D(int(lv["price_ticks"][0])) / 100, int(lv["qty"][0])) if len(lv) else None
        for lv in (d.bids, d.asks)
    ]
    return out[0], out[1]


def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met"
        time.sleep(0.005)


def market(e: hb.Engine, bid: str = "99.00", ask: str = "101.00", qty: int = 10_000) -> None:
    """Account 0's background quotes."""
    e.submit("AAPL", "buy", price=bid, qty=qty)
    e.submit("AAPL", "sell", price=ask, qty=qty)


# -- market maker ----------------------------------------------------------------------------


def test_market_maker_quotes_both_sides_around_the_mid() -> None:
    e = engine()
    market(e)
    mm = e.add_strategy(MarketMaker(size=10, half_spread_ticks=2, skew_ticks_per_lot=0), MM)
    mm.wait(lambda s: tops(e) == ((D("99.98"), 10), (D("100.02"), 10)), timeout=10)
    # The others' mid moves: the quotes follow (their own quotes are not the mid).
    e.submit("AAPL", "buy", price="99.50", qty=5)
    mm.wait(lambda s: tops(e) == ((D("100.23"), 10), (D("100.27"), 10)), timeout=10)
    e.stop()
    assert mm.error is None


def test_market_maker_without_a_two_sided_market_uses_the_last_trade() -> None:
    e = engine()
    mm = e.add_strategy(MarketMaker(size=5, half_spread_ticks=1), MM)
    e.submit("AAPL", "sell", price="50.00", qty=1)
    time.sleep(0.05)
    assert tops(e) == (None, (D("50.00"), 1))  # one side, no trade: no quotes
    e.submit("AAPL", "buy", price="50.00", qty=1)
    mm.wait(lambda s: tops(e) == ((D("49.99"), 5), (D("50.01"), 5)), timeout=10)
    e.stop()


def test_market_maker_skews_and_shrinks_with_inventory() -> None:
    e = engine()
    market(e)
    mm = e.add_strategy(
        MarketMaker(size=10, half_spread_ticks=2, skew_ticks_per_lot=1, max_inventory=20), MM
    )
    mm.wait(lambda s: tops(e) == ((D("99.98"), 10), (D("100.02"), 10)), timeout=10)
    e.submit("AAPL", "sell", qty=10, order_type="market")  # fills its whole bid: long 10
    # r = 100.00 - 10 ticks; the bid (adding to the long) is 10 * (1 - 10/20) = 5.
    mm.wait(lambda s: tops(e) == ((D("99.88"), 5), (D("99.92"), 10)), timeout=10)
    assert e.pnl(MM)["AAPL"]["net"] == 10
    e.submit("AAPL", "buy", qty=10, order_type="market")  # lifts its ask: flat again
    mm.wait(lambda s: tops(e) == ((D("99.98"), 10), (D("100.02"), 10)), timeout=10)
    e.submit("AAPL", "buy", qty=4, order_type="market")  # short 4: the ask shrinks
    # r = 100.04; the ask (adding to the short) is 10 * (1 - 4/20) = 8.
    mm.wait(lambda s: tops(e) == ((D("100.02"), 10), (D("100.06"), 8)), timeout=10)
    e.stop()
    assert e.pnl(MM)["AAPL"]["net"] == -4


@pytest.mark.parametrize("requote", ["modify", "cancel"])
def test_market_maker_never_exceeds_max_inventory(requote: str) -> None:
    e = engine()
    market(e)
    mm = e.add_strategy(
        MarketMaker(
            size=10, half_spread_ticks=1, skew_ticks_per_lot=0.5, max_inventory=30, requote=requote
        ),
        MM,
    )
    mm.wait(lambda s: tops(e)[0] == (D("99.99"), 10), timeout=10)
    # A paced stream of aggressive sells (the quotes get time to come back), then bursts
    # racing the requotes.
    for _ in range(300):
        e.submit("AAPL", "sell", qty=3, order_type="market")
        time.sleep(0.002)
        if mm.inventory("AAPL") >= 25:
            break
    for _ in range(5):
        for _ in range(20):
            e.submit("AAPL", "sell", qty=7, order_type="market")
        time.sleep(0.02)
    time.sleep(0.2)
    e.stop()
    got = e.pnl(MM)["AAPL"]
    assert got["sold"] == 0
    assert 25 <= got["bought"] <= 30  # long only: the position never went past 30
    assert mm.inventory("AAPL") == got["net"]
    assert mm.error is None


def test_market_maker_cancels_all_on_stop() -> None:
    e = engine()
    market(e)
    mm = e.add_strategy(MarketMaker(symbols=["AAPL"], size=10, half_spread_ticks=3), MM)
    mm.wait(lambda s: tops(e) == ((D("99.97"), 10), (D("100.03"), 10)), timeout=10)
    mm.stop()
    until(lambda: not mm.running)
    until(lambda: tops(e) == ((D("99.00"), 10_000), (D("101.00"), 10_000)))
    e.stop()
    evs = [x for x in e.events() if x.account == MM]
    accepted = {x.order_id for x in evs if x.kind == "accepted"}
    cancelled = {x.order_id for x in evs if x.kind == "cancelled"}
    assert accepted
    assert accepted == cancelled


# -- momentum --------------------------------------------------------------------------------


def prints(e: hb.Engine, prices: list[str]) -> None:
    """Account 0 trades 1 with itself... via a resting bid that a sell then takes."""
    for px in prices:
        e.submit("AAPL", "buy", price=px, qty=1)
        e.submit("AAPL", "sell", price=px, qty=1)


def ticks(px: str) -> int:
    return int(D(px) * 100)


def test_momentum_enters_long_on_a_rising_tape_once_per_cooldown() -> None:
    e = engine()
    market(e)
    mo = e.add_strategy(
        Momentum("AAPL", lookback=5, threshold_bps=5, qty=10, cooldown_ms=60_000), MO
    )
    prints(e, ["100.00", "100.01", "100.02", "100.03"])
    time.sleep(0.05)
    assert mo.position_qty == 0  # the window is not full
    prints(e, ["100.10"])  # +10 bps over the window
    mo.wait(lambda s: s.position_qty == 10, timeout=10)
    # Still rising (its own print at 101.00 too): no second entry within the cooldown.
    prints(e, ["100.20", "100.30", "100.40"])
    mo.wait(lambda s: ticks("100.40") in s.prices, timeout=10)
    e.stop()
    assert mo.entries == 1
    pnl = e.pnl(MO)["AAPL"]
    assert pnl["net"] == 10
    assert pnl["avg_price"] == D("101.00")  # bought at the far touch


def test_momentum_respects_max_position() -> None:
    e = engine()
    market(e)
    mo = e.add_strategy(
        Momentum("AAPL", lookback=20, threshold_bps=1, qty=10, max_position=25, cooldown_ms=0),
        MO,
    )
    # A slow rise: every window starts with a print of it, below the entries at 101.00.
    tape = [f"{D('100.00') + D(i) / 100}" for i in range(30)]
    prints(e, tape)
    mo.wait(lambda s: ticks(tape[-1]) in s.prices, timeout=10)
    e.stop()
    assert e.pnl(MO)["AAPL"]["bought"] == 25
    assert e.pnl(MO)["AAPL"]["sold"] == 0


def test_momentum_flattens_when_the_signal_turns() -> None:
    e = engine()
    market(e)
    mo = e.add_strategy(
        Momentum("AAPL", lookback=3, threshold_bps=5, qty=10, cooldown_ms=60_000), MO
    )
    prints(e, ["100.00", "100.05", "100.10"])
    mo.wait(lambda s: s.position_qty == 10, timeout=10)
    # The window now ends with its own buy at 101.00; falling prints turn the signal.
    prints(e, ["100.50", "100.40", "100.30"])
    mo.wait(lambda s: s.position_qty == 0, timeout=10)
    e.stop()
    pnl = e.pnl(MO)["AAPL"]
    assert (pnl["bought"], pnl["sold"], pnl["net"]) == (10, 10, 0)
    assert mo.entries == 1  # no short entry: the cooldown
    assert mo.flattens >= 1


# -- TWAP ------------------------------------------------------------------------------------


def test_twap_child_orders_sum_to_the_quantity_when_liquidity_is_there() -> None:
    e = engine()
    e.submit("AAPL", "sell", price="100.00", qty=1000)
    # The first slice reads the book in on_start: the ask must have rested by then (`submit`
    # returns before the shard ran the order).
    until(lambda: tops(e)[1] is not None)
    done: list[TWAP] = []
    # Slices 0.2 s apart: a late timer merges the slices it missed into the next one (0.04 s
    # apart, a loaded machine once saw 4 children instead of 5).
    tw = e.add_strategy(TWAP("AAPL", "buy", 100, 1.0, slices=5, on_done=done.append), TW)
    tw.wait(lambda s: s.done, timeout=10)
    e.stop()
    assert sum(q for _oid, q in tw.children) == 100
    assert len(tw.children) == 5
    assert (tw.filled, tw.remaining, tw.avg_price) == (100, 0, D("100.000000"))
    assert done == [tw]
    assert e.pnl(TW)["AAPL"]["bought"] == 100


def test_twap_carries_what_a_slice_did_not_fill() -> None:
    e = engine()
    e.submit("AAPL", "sell", price="100.00", qty=25)
    until(lambda: tops(e)[1] is not None)  # rested before the first slice reads the book
    # Slices 0.5 s apart: the liquidity below must arrive between the third and the last
    # slice, on a loaded machine too (0.2 s apart, a late test thread missed it).
    tw = e.add_strategy(TWAP("AAPL", "buy", 40, 2.0, slices=4), TW)
    tw.wait(lambda s: s.filled == 25, timeout=10)  # the third slice got 5 of 10
    e.submit("AAPL", "sell", price="100.10", qty=100)  # before the last slice (t = 1.5 s)
    tw.wait(lambda s: s.done, timeout=10)
    e.stop()
    assert [q for _oid, q in tw.children] == [10, 10, 10, 15]
    assert (tw.filled, tw.remaining) == (40, 0)
    # (25 * 100.00 + 15 * 100.10) / 40
    assert tw.avg_price == D("100.037500")


def test_twap_sell_respects_its_limit_price() -> None:
    e = engine()
    e.submit("AAPL", "buy", price="100.00", qty=30)
    e.submit("AAPL", "buy", price="99.95", qty=100)
    until(lambda: len(e.book("AAPL").depth(2).bids) == 2)  # both rested before the first slice
    done: list[TWAP] = []
    tw = e.add_strategy(
        TWAP(
            "AAPL",
            "sell",
            60,
            0.15,
            slices=3,
            limit_price="100.00",
            sweep_levels=3,
            on_done=done.append,
        ),
        TW,
    )
    tw.wait(lambda s: s.done, timeout=10)
    e.stop()
    fills = [x for x in e.events() if x.kind == "fill" and x.account == TW]
    assert fills
    assert all(x.price == D("100.00") for x in fills)
    assert (tw.filled, tw.remaining, tw.avg_price) == (30, 30, D("100.000000"))
    assert done == [tw]
