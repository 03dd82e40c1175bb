"""Trading through ``hftbook.Engine`` from Python: the numpy event dtype and the Event
objects, matching (fills on both sides, IOC, FOK, post-only, stops, GTD, DAY), cancels of
orders still queued, modify, mass cancel, and subscribers (filters, conflation)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

import hftbook as hb
from engine_util import Collector, engine, finish, kinds, wait_until

pytestmark = pytest.mark.timeout(120)

SPEC_FIELDS = (
    "seq",
    "symbol",
    "symbol_seq",
    "kind",
    "order_id",
    "client_id",
    "account",
    "side",
    "price_ticks",
    "qty",
    "leaves_qty",
    "maker_id",
    "taker_id",
    "reason",
    "ts_enqueued",
    "ts_processed",
)


def test_poll_dtype_and_mappings() -> None:
    e = engine()
    e.start()
    bid = e.submit("MSFT", "buy", price="100.05", qty=4, client_id=99, account=3)
    ask = e.submit("MSFT", "sell", price="100.00", qty=3, account=4)
    e.stop()
    arr = e.poll(1000, 1.0)
    assert arr.dtype == hb.EVENT_DTYPE
    assert set(SPEC_FIELDS) <= set(arr.dtype.names)
    names = [hb.EVENT_KINDS[k] for k in arr["kind"]]
    assert names == ["accepted", "accepted", "fill", "fill", "trade"]
    assert {e.symbols[s] for s in arr["symbol"]} == {"MSFT"}
    assert arr["symbol_seq"].tolist() == [1, 2, 3, 4, 5]
    assert np.all(np.diff(arr["seq"].astype(np.int64)) > 0)
    assert arr["order_id"].tolist()[:4] == [bid, ask, ask, bid]
    assert arr["client_id"].tolist()[:4] == [99, 0, 0, 99]
    assert arr["account"].tolist() == [3, 4, 4, 3, 0]
    assert arr["side"].tolist()[:4] == [0, 1, 1, 0]
    assert arr["price_ticks"].tolist() == [2001, 2000, 2001, 2001, 2001]
    assert arr["qty"].tolist() == [4, 3, 3, 3, 3]
    assert arr["leaves_qty"].tolist()[:4] == [4, 3, 0, 1]
    fills = arr[arr["kind"] == hb.EVENT_KINDS.index("fill")]
    assert set(fills["maker_id"].tolist()) == {bid}
    assert set(fills["taker_id"].tolist()) == {ask}
    assert all(hb.ENGINE_REASONS[r] == "" for r in arr["reason"])
    assert np.all(arr["ts_processed"] >= arr["ts_enqueued"])
    assert np.all(arr["ts_enqueued"] > 0)
    # Nothing left, and poll with max_events hands out at most that many.
    assert len(e.poll(10)) == 0


def test_poll_max_events() -> None:
    e = engine()
    e.start()
    for i in range(10):
        e.submit("AAPL", "buy", price="1.00", qty=1 + i)
    e.stop()
    got = [len(e.poll(3)) for _ in range(5)]
    assert got == [3, 3, 3, 1, 0]


def test_event_objects() -> None:
    e = engine()
    e.start()
    bid = e.submit("MSFT", "buy", price="100.05", qty=4, client_id=7, account=2)
    ask = e.submit("MSFT", "sell", price="100", qty=3, client_id=8, account=5)
    evs = finish(e)
    acc = evs[0]
    assert (acc.kind, acc.symbol, acc.order_id, acc.client_id, acc.account) == (
        "accepted",
        "MSFT",
        bid,
        7,
        2,
    )
    assert acc.side == "buy"
    assert acc.price == Decimal("100.05")
    assert acc.price_ticks == 2001
    assert isinstance(evs[1].price, Decimal)
    assert str(evs[1].price) == "100.00"
    taker, maker = evs[2], evs[3]
    assert (taker.kind, maker.kind) == ("fill", "fill")
    assert (taker.order_id, taker.client_id, taker.is_maker) == (ask, 8, False)
    assert (maker.order_id, maker.client_id, maker.is_maker) == (bid, 7, True)
    for f in (taker, maker):
        assert (f.maker_id, f.taker_id, f.qty, f.price) == (bid, ask, 3, Decimal("100.05"))
        assert f.reason == ""
        assert f.text == ""
        assert not f.gap
        assert f.ts_processed >= f.ts_enqueued > 0
    assert (taker.leaves_qty, maker.leaves_qty) == (0, 1)
    trade = evs[4]
    assert (trade.kind, trade.order_id, trade.account, trade.side) == ("trade", 0, 0, "sell")
    assert (trade.maker_id, trade.taker_id, trade.qty) == (bid, ask, 3)
    assert [ev.seq for ev in evs] == sorted(ev.seq for ev in evs)
    assert "fill" in repr(taker)
    assert "MSFT" in repr(taker)


def test_lot_size_quantities_are_units_everywhere() -> None:
    e = engine({"LOT": {"tick_size": "0.05", "lot_size": 10}})
    e.start()
    bid = e.submit("LOT", "buy", price="1.00", qty=30)
    e.submit("LOT", "sell", price="1.00", qty=20)
    a = e.commands_array(1)
    a["side"], a["price_ticks"], a["qty"], a["order_type"] = 1, 20, 10, 0
    e.submit_batch(a)
    a["qty"] = 15
    with pytest.raises(hb.InvalidQuantity, match="row 0"):
        e.submit_batch(a)
    evs = finish(e)
    assert [(ev.kind, ev.qty, ev.leaves_qty) for ev in evs if ev.order_id == bid] == [
        ("accepted", 30, 30),
        ("fill", 20, 10),
        ("fill", 10, 0),
    ]
    assert e.book("LOT").depth(5).bids.size == 0


def test_ioc_residual_is_cancelled_with_a_reason() -> None:
    e = engine()
    e.start()
    ask = e.submit("AAPL", "sell", price="10.00", qty=2)
    ioc = e.submit("AAPL", "buy", price="10.00", qty=5, tif="ioc", client_id=4)
    none = e.submit("AAPL", "buy", price="9.00", qty=5, tif="ioc")
    mkt = e.submit("AAPL", "buy", qty=1, order_type="market")
    evs = finish(e)
    mine = [ev for ev in evs if ev.order_id == ioc]
    assert [ev.kind for ev in mine] == ["accepted", "fill", "cancelled"]
    cancel = mine[-1]
    assert (cancel.reason, cancel.qty, cancel.leaves_qty, cancel.client_id) == (
        "unfilled_ioc",
        3,
        0,
        4,
    )
    assert [ev.kind for ev in evs if ev.order_id == ask][-1] == "fill"
    # Nothing to trade against: the IOC and the market order do not rest.
    for oid, qty in ((none, 5), (mkt, 1)):
        mine = [ev for ev in evs if ev.order_id == oid]
        assert [(ev.kind, ev.reason) for ev in mine] == [
            ("accepted", ""),
            ("cancelled", "unfilled_ioc"),
        ]
        assert (mine[-1].qty, mine[-1].leaves_qty) == (qty, 0)
    assert next(ev for ev in evs if ev.order_id == mkt).price is None  # no price on a market
    assert e.book("AAPL").depth(5).bids.size == 0


def test_fok() -> None:
    e = engine()
    e.start()
    e.submit("AAPL", "sell", price="10.00", qty=2)
    e.submit("AAPL", "sell", price="10.01", qty=2)
    kill = e.submit("AAPL", "buy", price="10.01", qty=5, tif="fok")
    fill = e.submit("AAPL", "buy", price="10.01", qty=4, tif="fok")
    evs = finish(e)
    k = [ev for ev in evs if ev.order_id == kill]
    assert [ev.kind for ev in k][-1] in ("rejected", "cancelled")
    assert k[-1].reason == "fok_not_fillable"
    assert not [ev for ev in k if ev.kind == "fill"]
    f = [ev for ev in evs if ev.order_id == fill and ev.kind == "fill"]
    assert sum(ev.qty for ev in f) == 4
    assert f[-1].leaves_qty == 0


def test_post_only() -> None:
    e = engine()
    e.start()
    e.submit("AAPL", "sell", price="10.00", qty=2)
    taker = e.submit("AAPL", "buy", price="10.00", qty=1, post_only=True)
    maker = e.submit("AAPL", "buy", price="9.99", qty=1, post_only=True)
    evs = finish(e)
    t = [ev for ev in evs if ev.order_id == taker]
    assert [ev.kind for ev in t] == ["rejected"]
    assert t[0].reason == "post_only_would_take"
    assert "post only" in t[0].text
    assert kinds(evs, maker) == ["accepted"]
    top = e.book("AAPL").depth(5)
    assert top.bids["price_ticks"].tolist() == [999]
    assert top.asks["qty"].tolist() == [2]


def test_stop_and_stop_limit_trigger_on_the_last_trade() -> None:
    e = engine()
    e.start()
    c = Collector(e)
    sell_stop = e.submit("AAPL", "sell", qty=2, order_type="stop", stop_price="9.90", client_id=1)
    buy_stop_limit = e.submit(
        "AAPL", "buy", price="10.20", qty=1, order_type="stop_limit", stop_price="10.10"
    )
    # Resting liquidity the stops will take once triggered.
    e.submit("AAPL", "buy", price="9.80", qty=5)
    e.submit("AAPL", "sell", price="10.20", qty=5)
    c.wait_kind("accepted", 4)
    assert kinds(c.events, sell_stop) == ["accepted"]
    # A trade at 9.90 triggers the sell stop (last <= stop), not the buy stop-limit.
    e.submit("AAPL", "buy", price="9.90", qty=1)
    e.submit("AAPL", "sell", price="9.90", qty=1)
    c.wait_kind("triggered", 1, order_id=sell_stop)
    c.until(lambda evs: kinds(evs, sell_stop)[-1] == "fill", "stop fill")
    s = c.of(sell_stop)
    assert [ev.kind for ev in s] == ["accepted", "triggered", "fill"]
    assert s[1].price == Decimal("9.90")
    assert s[1].client_id == 1
    assert s[2].price == Decimal("9.80")
    assert s[2].qty == 2
    assert kinds(c.events, buy_stop_limit) == ["accepted"]
    # A trade at 10.10 or above triggers the buy stop-limit, which takes 10.20.
    e.submit("AAPL", "sell", price="10.15", qty=1)
    e.submit("AAPL", "buy", price="10.15", qty=1)
    c.wait_kind("triggered", 1, order_id=buy_stop_limit)
    c.until(lambda evs: kinds(evs, buy_stop_limit)[-1] == "fill", "stop-limit fill")
    fill = c.of(buy_stop_limit)[-1]
    assert fill.price == Decimal("10.20")
    assert fill.leaves_qty == 0
    assert e.last_trade("AAPL") == Decimal("10.20")
    finish(e)


def test_cancel_a_pending_stop() -> None:
    e = engine()
    e.start()
    stop = e.submit("AAPL", "sell", qty=2, order_type="stop", stop_price="9.90")
    e.cancel(stop)
    evs = finish(e)
    assert kinds(evs, stop) == ["accepted", "cancelled"]


def test_gtd_expires_on_the_engine_clock() -> None:
    e = engine()
    e.start()
    c = Collector(e)
    gtd = e.submit("AAPL", "buy", price="10.00", qty=3, tif="gtd", expire_at=e.now() + 50_000_000)
    gtc = e.submit("AAPL", "buy", price="10.00", qty=1)
    (exp,) = c.wait_kind("expired", 1, order_id=gtd)
    assert exp.reason == "expiry"
    assert exp.qty == 3
    assert exp.leaves_qty == 0
    assert exp.ts_processed >= exp.ts_enqueued
    c.pump()
    assert kinds(c.events, gtc) == ["accepted"]
    assert e.book("AAPL").depth(5).bids["qty"].tolist() == [1]
    finish(e)


def test_day_orders_expire_at_end_session() -> None:
    e = engine()
    e.start()
    day = e.submit("AAPL", "buy", price="10.00", qty=3, tif="day", client_id=5)
    day2 = e.submit("MSFT", "sell", price="20.00", qty=1, tif="day")
    gtc = e.submit("AAPL", "buy", price="9.00", qty=1)
    e.end_session()
    evs = finish(e)
    for oid in (day, day2):
        mine = [ev for ev in evs if ev.order_id == oid]
        assert [ev.kind for ev in mine] == ["accepted", "expired"]
        assert mine[-1].reason == "expiry"
    assert [ev for ev in evs if ev.order_id == day][-1].client_id == 5
    assert kinds(evs, gtc) == ["accepted"]


def test_cancel_of_an_order_still_queued_never_reports_unknown() -> None:
    """Cancels take the priority lane; submitted before start, the cancel is dequeued
    first, yet it acts on the order it names once that order runs."""
    e = engine()
    ids = [e.submit("AAPL", "buy", price="10.00", qty=1 + i) for i in range(20)]
    for oid in ids[::2]:
        e.cancel(oid)
    urgent = e.submit("AAPL", "sell", price="11.00", qty=1, urgent=True)
    e.cancel(urgent)
    e.start()
    evs = finish(e)
    assert not [ev for ev in evs if ev.kind == "rejected"], evs
    for i, oid in enumerate(ids):
        want = ["accepted", "cancelled"] if i % 2 == 0 else ["accepted"]
        assert kinds(evs, oid) == want
        if i % 2 == 0:
            assert [ev.reason for ev in evs if ev.order_id == oid][-1] == "user"
    assert kinds(evs, urgent) == ["accepted", "cancelled"]
    assert e.stats()["shards"][0]["parked"] >= 1


def test_cancel_twice_and_cancel_filled() -> None:
    e = engine()
    e.start()
    c = Collector(e)
    oid = e.submit("AAPL", "buy", price="10.00", qty=1)
    e.cancel(oid)
    e.cancel(oid)
    # The shard takes the priority lane between batches, so a sell queued now could reach
    # the book before these cancels and trade with the bid: wait for the cancel first.
    c.wait_kind("cancelled", 1, order_id=oid)
    filled = e.submit("AAPL", "sell", price="10.00", qty=1)
    e.submit("AAPL", "buy", price="10.00", qty=1)
    c.wait_kind("fill", 1, order_id=filled)  # a cancel sent now would jump the queue
    e.cancel(filled)
    evs = c.events + finish(e)
    assert kinds(evs, oid) == ["accepted", "cancelled", "rejected"]
    rej = [ev for ev in evs if ev.order_id == oid][-1]
    assert rej.reason == "unknown_order"
    assert str(oid) in rej.text
    assert kinds(evs, filled)[-1] == "rejected"


def test_modify() -> None:
    e = engine()
    e.start()
    oid = e.submit("AAPL", "buy", price="10.00", qty=5, client_id=3)
    e.modify(oid, qty=2)
    e.modify(oid, price="10.05")
    e.modify(oid, price_ticks=1004, qty=4, urgent=True)
    evs = finish(e)
    mods = [ev for ev in evs if ev.order_id == oid and ev.kind == "modified"]
    assert [(m.price_ticks, m.leaves_qty) for m in mods] == [(1000, 2), (1005, 2), (1004, 4)]
    assert {m.client_id for m in mods} == {3}
    assert e.book("AAPL").depth(5).bids[["price_ticks", "qty"]].tolist() == [(1004, 4)]


def test_mass_cancel_filters() -> None:
    e = engine()
    e.start()
    orders: dict[tuple[str, int, str], int] = {}
    for sym in ("AAPL", "MSFT"):
        for acct in (1, 2):
            for side, px in (("buy", "10.00"), ("sell", "20.00")):
                orders[(sym, acct, side)] = e.submit(sym, side, price=px, qty=1, account=acct)
    c = Collector(e)
    c.wait_kind("accepted", len(orders))

    def cancelled() -> set[tuple[str, int, str]]:
        c.pump()
        ids = {ev.order_id for ev in c.events if ev.kind == "cancelled"}
        return {k for k, v in orders.items() if v in ids}

    e.mass_cancel(account=1, symbol="AAPL", side="buy")
    c.wait_kind("cancelled", 1)
    assert cancelled() == {("AAPL", 1, "buy")}
    e.mass_cancel(symbol="MSFT", side="sell")
    c.wait_kind("cancelled", 3)
    assert cancelled() == {("AAPL", 1, "buy"), ("MSFT", 1, "sell"), ("MSFT", 2, "sell")}
    e.mass_cancel(account=2)
    c.wait_kind("cancelled", 6)
    e.mass_cancel()
    c.wait_kind("cancelled", 8)
    assert cancelled() == set(orders)
    assert {ev.reason for ev in c.events if ev.kind == "cancelled"} == {"mass_cancel"}
    finish(e)


def test_self_trade_prevention() -> None:
    e = engine()
    e.start()
    rest = e.submit("AAPL", "sell", price="10.00", qty=1, account=9)
    new = e.submit("AAPL", "buy", price="10.00", qty=1, account=9, stp="cancel_newest")
    evs = finish(e)
    assert not [ev for ev in evs if ev.kind == "fill"]
    assert [ev.reason for ev in evs if ev.order_id == new][-1] == "self_trade"
    assert kinds(evs, rest) == ["accepted"]


def test_book_events_and_reader() -> None:
    e = engine(book_events=True)
    e.start()
    e.submit("AAPL", "buy", price="10.00", qty=2)
    e.submit("AAPL", "buy", price="10.00", qty=3)
    e.submit("AAPL", "sell", price="10.00", qty=5)
    evs = finish(e)
    book = [(ev.side, ev.price_ticks, ev.qty, ev.leaves_qty) for ev in evs if ev.kind == "book"]
    assert book[0] == ("buy", 1000, 2, 1)
    assert ("buy", 1000, 5, 2) in book
    assert book[-1] == ("buy", 1000, 0, 0)
    assert e.book("AAPL").top()[1] is None


# -- subscribers ------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Any) -> None:
        with self.lock:
            self.events.extend(batch)


def test_subscribe_filters() -> None:
    e = engine()
    all_, fills, msft, acct = Sink(), Sink(), Sink(), Sink()
    subs = [
        e.subscribe(all_),
        e.subscribe(fills, kinds=["fill", "trade"]),
        e.subscribe(msft, symbols=["MSFT"]),
        e.subscribe(acct, accounts=[7], kinds=["accepted", "fill"]),
    ]
    e.start()
    for sym, px in (("AAPL", "10.00"), ("MSFT", "20.00")):
        e.submit(sym, "buy", price=px, qty=2, account=7)
        e.submit(sym, "sell", price=px, qty=1, account=8)
    polled = finish(e)
    for s in subs:
        s.close()
        assert s.errors == []
    assert [ev.seq for ev in all_.events] == [ev.seq for ev in polled]
    assert {ev.kind for ev in fills.events} == {"fill", "trade"}
    assert len(fills.events) == 6
    assert {ev.symbol for ev in msft.events} == {"MSFT"}
    assert len(msft.events) == 5
    assert {ev.account for ev in acct.events} == {7}
    assert sorted(ev.kind for ev in acct.events) == ["accepted", "accepted", "fill", "fill"]


def test_subscribe_bad_arguments() -> None:
    e = engine()
    with pytest.raises(hb.HftbookError, match="nope") as info:
        e.subscribe(print, kinds=["nope"])
    assert info.value.field == "kinds"
    with pytest.raises(hb.UnknownSymbol, match="ZZZ"):
        e.subscribe(print, symbols=["ZZZ"])
    with pytest.raises(hb.InvalidOrder, match="accounts") as ainfo:
        e.subscribe(print, accounts=[-1])
    assert ainfo.value.value == -1
    e.stop()


def test_subscribe_as_array_and_callback_errors_are_kept() -> None:
    e = engine()
    got: list[np.ndarray] = []
    sub = e.subscribe(got.append, as_array=True)

    def boom(batch: Any) -> None:
        raise RuntimeError("boom")

    bad = e.subscribe(boom)
    e.start()
    e.submit("AAPL", "buy", price="1.00", qty=1)
    wait_until(lambda: sum(len(a) for a in got) >= 1 and len(bad.errors) >= 1, "callbacks")
    finish(e)
    sub.close()
    bad.close()
    assert got[0].dtype == hb.EVENT_DTYPE
    assert isinstance(bad.errors[0], RuntimeError)


def test_lossless_subscriber_never_drops_order_events() -> None:
    """A slow lossless subscriber with a tiny queue: the shard waits, nothing is lost.
    (The breaker is off: the queueing delay the wait causes would open it.)"""
    e = engine(breaker={"enabled": False})
    seen = Sink()
    slow_seen = []

    def slow(batch: Any) -> None:
        slow_seen.extend(batch)
        threading.Event().wait(0.001)

    sub = e.subscribe(slow, kinds=["accepted", "fill", "cancelled"], capacity=4)
    fast = e.subscribe(seen)
    e.start()
    n = 300
    for i in range(n):
        e.submit("AAPL", "buy" if i % 2 else "sell", price="10.00", qty=1)
    polled = finish(e)
    sub.close()
    fast.close()
    want = [ev.seq for ev in polled if ev.kind in ("accepted", "fill", "cancelled")]
    assert [ev.seq for ev in slow_seen] == want
    assert len(want) == n + n  # every order accepted, and every order filled once
    assert sub.conflated == 0
    assert not any(ev.gap for ev in slow_seen)


def test_conflating_subscriber_gets_a_gap_marker_then_a_snapshot() -> None:
    e = engine(book_events=True)
    # No dispatcher: nobody pops for now. Room for 64 events: book events only.
    core = e._subscribe(1 << hb.EVENT_KINDS.index("book"), [0], None, 64, True)
    e.start()
    for i in range(100):
        e.submit("AAPL", "buy", price=f"{10 + i % 10}.00", qty=1)
    c = Collector(e)
    c.wait_kind("accepted", 100)
    wait_until(lambda: core.conflated == 36, "conflation")
    first = e.to_events(core.pop(100, 0.1))
    assert len(first) == 64
    assert not any(ev.gap or ev.snapshot for ev in first)
    # Room again: the shard sends the snapshot (while quiet, or with the next event).
    snap = e.to_events(core.pop(100, 5.0))
    header, levels = snap[0], snap[1:]
    assert header.gap
    assert header.snapshot
    assert header.side is None
    assert header.detail == len(levels) == 10
    assert all(ev.snapshot and not ev.gap and ev.side == "buy" for ev in levels)
    assert [ev.price_ticks for ev in levels] == [1900 - 100 * k for k in range(10)]
    assert all(ev.qty == 10 for ev in levels)
    assert header.symbol_seq == 200  # as of the last event (100 accepted + 100 book)
    # Then the deltas go on.
    e.submit("AAPL", "buy", price="5.00", qty=1)
    (nxt,) = e.to_events(core.pop(100, 5.0))
    assert (nxt.kind, nxt.price_ticks, nxt.qty, nxt.gap) == ("book", 500, 1, False)
    finish(e)
    core.close()
