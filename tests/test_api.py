"""The public Python API: construction, price/quantity conversion, enums, queries, value
objects and their reprs, the lock-free reader."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest

import hftbook as hb


@pytest.fixture
def book() -> hb.OrderBook:
    return hb.OrderBook("AAPL", tick_size="0.01", clock="manual")


def l3(book: hb.OrderBook, side: str) -> list[tuple[int, int, int, int, int]]:
    """(id, price_ticks, qty, visible, hidden) of one side in priority order."""
    return [
        (
            int(o["order_id"]),
            int(o["price_ticks"]),
            int(o["qty"]),
            int(o["visible_qty"]),
            int(o["hidden_qty"]),
        )
        for o in book.orders(side)
    ]


def levels(arr: np.ndarray) -> list[tuple[int, int, int]]:
    return [(int(p), int(q), int(n)) for p, q, n in arr[["price_ticks", "qty", "orders"]]]


# --------------------------------------------------------------------------- module


def test_module_exports() -> None:
    for name in hb.__all__:
        assert hasattr(hb, name), name
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", hb.__version__)
    assert hb.STATUS_NAMES == ("new", "partially_filled", "filled", "cancelled", "rejected")
    assert [s.value for s in hb.OrderStatus] == list(hb.STATUS_NAMES)
    reasons = {i: r for i, r in enumerate(hb.REASON_NAMES) if r}
    assert reasons == {
        1: "requested",
        2: "unfilled_ioc",
        3: "self_trade",
        11: "fok_not_fillable",
        12: "post_only_would_take",
        13: "unknown_order",
        14: "no_liquidity",
        15: "self_trade",
        16: "invalid",
        20: "duplicate_order_id",
        21: "no_room",
    }
    assert hb.REASON_NAMES[0] == ""


def test_exception_hierarchy() -> None:
    for cls in (hb.InvalidPrice, hb.InvalidQuantity, hb.DuplicateOrderId):
        assert issubclass(cls, hb.InvalidOrder)
    assert issubclass(hb.InvalidOrder, ValueError)
    assert issubclass(hb.InvalidOrder, hb.HftbookError)
    assert issubclass(hb.UnknownOrder, KeyError)
    assert issubclass(hb.UnknownOrder, hb.HftbookError)
    assert not issubclass(hb.UnknownOrder, ValueError)
    assert issubclass(hb.CapacityError, MemoryError)
    assert issubclass(hb.CapacityError, hb.HftbookError)
    assert not issubclass(hb.CapacityError, ValueError)


# --------------------------------------------------------------------------- construction


def test_defaults() -> None:
    b = hb.OrderBook("MSFT")
    assert b.symbol == "MSFT"
    assert b.tick_size == Decimal("0.01")
    assert isinstance(b.tick_size, Decimal)
    assert b.lot_size == 1
    assert (len(b), b.seq, b.trade_count) == (0, 0, 0)


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        ("0.01", Decimal("0.01")),
        ("0.0100", Decimal("0.01")),
        (Decimal("0.05"), Decimal("0.05")),
        ("0.25", Decimal("0.25")),
        ("5", Decimal("5")),
        (1, Decimal("1")),
        ("0.000001", Decimal("0.000001")),
    ],
)
def test_tick_size_forms(tick: object, expected: Decimal) -> None:
    b = hb.OrderBook("X", tick_size=tick)
    assert b.tick_size == expected
    assert str(b.tick_size) == str(expected)


def test_tick_size_grid_quarter() -> None:
    b = hb.OrderBook("X", tick_size="0.25")
    assert b.submit("buy", price="1.75", qty=1).status == "new"
    assert b.best_bid().price_ticks == 7
    assert b.best_bid().price == Decimal("1.75")
    with pytest.raises(hb.InvalidPrice):
        b.submit("buy", price="1.80", qty=1)


def test_tick_size_integer_grid() -> None:
    b = hb.OrderBook("X", tick_size="5")
    b.submit("sell", price=15, qty=1)
    b.submit("sell", price="20", qty=1)
    assert levels(b.depth().asks) == [(3, 1, 1), (4, 1, 1)]
    assert b.best_ask().price == Decimal("15")
    with pytest.raises(hb.InvalidPrice):
        b.submit("sell", price=17, qty=1)


def test_lot_size_conversion() -> None:
    b = hb.OrderBook("X", tick_size="0.01", lot_size=100, clock="manual")
    r = b.submit("sell", price="10.00", qty=500, order_id=1, display_qty=200)
    assert (r.status, r.remaining_qty) == ("new", 500)
    assert levels(b.depth().asks) == [(1000, 200, 1)]
    assert l3(b, "sell") == [(1, 1000, 500, 200, 300)]
    o = b.order(1)
    assert (o.qty, o.visible_qty, o.hidden_qty, o.display_qty) == (500, 200, 300, 200)
    assert b.volume_at("10.00") == 200
    r = b.submit("buy", price="10.00", qty=300)
    assert (r.status, r.filled_qty) == ("filled", 300)
    assert [(f.qty, f.maker_remaining) for f in r.fills] == [(200, 300), (100, 200)]
    assert b.best_ask().qty == 100
    assert b.modify(1, qty=100).remaining_qty == 100
    with pytest.raises(hb.InvalidQuantity, match="lot_size 100"):
        b.submit("buy", price="10.00", qty=150)
    assert b.cancel(1).cancelled_qty == 100


def test_min_max_qty_in_units() -> None:
    b = hb.OrderBook("X", lot_size=10, min_qty=20, max_qty=100)
    assert b.submit("buy", price="1", qty=20).status == "new"
    assert b.submit("buy", price="1", qty=100).status == "new"
    with pytest.raises(hb.InvalidQuantity):
        b.submit("buy", price="1", qty=10)
    with pytest.raises(hb.InvalidQuantity):
        b.submit("buy", price="1", qty=110)
    assert len(b) == 2


@pytest.mark.parametrize(
    ("mode", "taker_status", "fills", "cancelled_makers", "asks", "bids"),
    [
        ("none", "filled", 1, [], 0, 0),
        ("cancel_newest", "cancelled", 0, [], 5, 0),
        (hb.StpMode.CANCEL_OLDEST, "new", 0, [(1, 5)], 0, 5),
        ("CANCEL_BOTH", "cancelled", 0, [(1, 5)], 0, 0),
    ],
)
def test_stp_default(
    mode: str,
    taker_status: str,
    fills: int,
    cancelled_makers: list[tuple[int, int]],
    asks: int,
    bids: int,
) -> None:
    b = hb.OrderBook("X", stp_default=mode)
    b.submit("sell", price="10", qty=5, account=7, order_id=1)
    r = b.submit("buy", price="10", qty=5, account=7, order_id=2)
    assert r.status == taker_status
    assert len(r.fills) == fills
    assert r.self_trade_cancels == cancelled_makers
    assert sum(b.depth().asks["qty"]) == asks
    assert sum(b.depth().bids["qty"]) == bids
    # A per-order mode overrides the book default; account 0 never self-trades.
    b2 = hb.OrderBook("X", stp_default=mode)
    b2.submit("sell", price="10", qty=5, account=7)
    assert b2.submit("buy", price="10", qty=5, account=7, stp="none").status == "filled"
    b2.submit("sell", price="10", qty=5)
    assert b2.submit("buy", price="10", qty=5).status == "filled"


def test_manual_clock_timestamps(book: hb.OrderBook) -> None:
    book.set_time(1_000)
    book.submit("sell", price="10.00", qty=5, order_id=1)
    book.set_time(2_500)
    book.submit("sell", price="10.00", qty=5, order_id=2)
    assert [int(t) for t in book.orders("sell")["timestamp"]] == [1_000, 2_500]
    assert book.order(2).timestamp == 2_500
    book.set_time(9_999)
    r = book.submit("buy", price="10.00", qty=7)
    assert [f.timestamp for f in r.fills] == [9_999, 9_999]
    # a size decrease keeps the order's time priority and timestamp
    book.set_time(12_000)
    book.modify(2, qty=2)
    assert book.order(2).timestamp == 2_500
    # a size increase loses it
    book.modify(2, qty=4)
    assert book.order(2).timestamp == 12_000


def test_monotonic_clock_timestamps_advance() -> None:
    b = hb.OrderBook("X")
    stamps = []
    for i in range(1, 50):
        b.submit("buy", price_ticks=i, qty=1, order_id=i)
        stamps.append(b.order(i).timestamp)
    assert stamps == sorted(stamps)
    assert stamps[-1] > stamps[0]
    with pytest.raises(hb.InvalidOrder, match="manual"):
        b.set_time(5)


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    "price",
    [
        "100.25",
        "100.250",
        " 100.25",
        "+100.25",
        Decimal("100.25"),
        Decimal("100.2500"),
        100.25,
        np.float64(100.25),
    ],
)
def test_price_forms_agree(book: hb.OrderBook, price: object) -> None:
    book.submit("buy", price=price, qty=1, order_id=1)
    assert book.order(1).price_ticks == 10_025
    assert book.order(1).price == Decimal("100.25")


@pytest.mark.parametrize(
    ("price", "ticks"),
    [
        (100, 10_000),
        (-3, -300),
        (0, 0),
        (Decimal("1E+2"), 10_000),
        (Decimal("-0.05"), -5),
        ("-0.05", -5),
        (1.1, 110),  # not exactly 1.1 in binary, but the nearest double to it
        (0.3, 30),
        (-0.0, 0),
        (1e-2, 1),
        (12345678.91, 1_234_567_891),
    ],
)
def test_price_exact_conversion(book: hb.OrderBook, price: object, ticks: int) -> None:
    book.submit("buy", price=price, qty=1, order_id=1)
    assert book.order(1).price_ticks == ticks


@pytest.mark.parametrize("price", [100.255, 0.1 + 0.2, 1.0 + 2**-40, 100.001, float("inf")])
def test_float_off_grid_rejected(book: hb.OrderBook, price: float) -> None:
    with pytest.raises(hb.InvalidPrice):
        book.submit("buy", price=price, qty=1)
    assert len(book) == 0


def test_float_sum_that_is_the_nearest_double_is_accepted(book: hb.OrderBook) -> None:
    p = 0.1 + 0.7  # 0.7999999999999999, not the nearest double to 0.80
    with pytest.raises(hb.InvalidPrice):
        book.submit("buy", price=p, qty=1)
    p = 0.5 + 0.25  # exactly 0.75
    assert book.submit("buy", price=p, qty=1, order_id=1).status == "new"
    assert book.order(1).price_ticks == 75


def test_price_ticks(book: hb.OrderBook) -> None:
    book.submit("sell", price_ticks=10_030, qty=2, order_id=1)
    assert book.order(1).price == Decimal("100.30")
    assert book.volume_at(price_ticks=10_030) == 2
    book.modify(1, price_ticks=10_040)
    assert book.order(1).price_ticks == 10_040
    extreme = (1 << 62) - 1
    book.submit("sell", price_ticks=extreme, qty=1, order_id=2)
    book.submit("buy", price_ticks=-extreme, qty=1, order_id=3)
    assert book.order(2).price == Decimal(extreme) / 100
    assert book.volume_at(price_ticks=extreme) == 1
    assert book.spread() == Decimal(10_040 + extreme) / 100
    book.check_invariants()


def test_prices_at_both_range_ends_on_one_side(book: hb.OrderBook) -> None:
    extreme = (1 << 62) - 1
    for side in ("buy", "sell"):
        book.submit(side, price_ticks=extreme, qty=1, order_id=1)
        book.submit(side, price_ticks=-extreme, qty=2, order_id=2)
        book.check_invariants()
        assert book.volume_at(price_ticks=extreme) == 1
        assert book.volume_at(price_ticks=-extreme) == 2
        expected = [(extreme, 1, 1), (-extreme, 2, 1)]
        if side == "sell":
            expected.reverse()
        depth = book.depth()
        assert levels(depth.bids if side == "buy" else depth.asks) == expected
        book.cancel(1)
        book.cancel(2)
        assert len(book) == 0


# --------------------------------------------------------------------------- enums / strings


def test_enums_and_case_insensitive_strings(book: hb.OrderBook) -> None:
    book.submit(hb.Side.SELL, price="10", qty=5, order_id=1)
    book.submit("SELL", price="10", qty=5, order_id=2)
    book.submit("Sell", price="10", qty=5, order_id=3, tif=hb.TimeInForce.GTC)
    assert book.best_ask().orders == 3
    r = book.submit("BUY", qty=4, order_type=hb.OrderType.MARKET)
    assert r.status == hb.OrderStatus.FILLED
    r = book.submit(hb.Side.BUY, qty=4, order_type="Market", tif="IoC")
    assert r.status == "filled"
    r = book.submit("buy", price="10", qty=100, tif="FOK")
    assert r.status == "rejected"
    assert r.fills == []
    assert book.orders(hb.Side.SELL)["order_id"].tolist() == [2, 3]
    assert book.orders("SELL")["order_id"].tolist() == [2, 3]
    o = book.order(2)
    assert o.side == hb.Side.SELL
    assert o.side == "sell"
    f = book.submit("buy", price="10", qty=1).fills[0]
    assert f.taker_side == hb.Side.BUY
    assert hb.Side.BUY == "buy"
    assert hb.StpMode("cancel_oldest") is hb.StpMode.CANCEL_OLDEST


# --------------------------------------------------------------------------- queries


def test_empty_book_queries(book: hb.OrderBook) -> None:
    assert book.best_bid() is None
    assert book.best_ask() is None
    assert book.spread() is None
    assert book.mid() is None
    d = book.depth()
    assert d.bids.shape == (0,)
    assert d.asks.shape == (0,)
    assert d.bids.dtype == hb.LEVEL_DTYPE
    assert book.orders("buy").dtype == hb.BOOK_ORDER_DTYPE
    assert len(book.orders("sell")) == 0
    assert book.order(1) is None
    assert book.volume_at("100") == 0
    assert 1 not in book
    assert len(book) == 0
    book.check_invariants()


def test_one_sided_book_has_no_spread_or_mid(book: hb.OrderBook) -> None:
    book.submit("buy", price="100", qty=1)
    assert book.best_bid() is not None
    assert book.spread() is None
    assert book.mid() is None


def test_best_spread_mid_exact(book: hb.OrderBook) -> None:
    book.submit("buy", price="100.25", qty=3)
    book.submit("buy", price="100.24", qty=4)
    book.submit("sell", price="100.30", qty=5)
    book.submit("sell", price="100.30", qty=6)
    bid, ask = book.best_bid(), book.best_ask()
    assert (bid.price, bid.price_ticks, bid.qty, bid.orders) == (Decimal("100.25"), 10_025, 3, 1)
    assert (ask.price, ask.price_ticks, ask.qty, ask.orders) == (Decimal("100.30"), 10_030, 11, 2)
    assert isinstance(bid.price, Decimal)
    spread, mid = book.spread(), book.mid()
    assert isinstance(spread, Decimal)
    assert isinstance(mid, Decimal)
    assert spread == Decimal("0.05")
    assert mid == Decimal("100.275")


def test_depth_arrays(book: hb.OrderBook) -> None:
    for i, p in enumerate(["100.00", "99.99", "99.98", "99.97"], start=1):
        book.submit("buy", price=p, qty=i, order_id=i)
    book.submit("buy", price="99.99", qty=10, order_id=9)
    book.submit("sell", price="100.05", qty=7, display_qty=2, order_id=20)
    book.submit("sell", price="100.02", qty=1, order_id=21)
    d = book.depth()
    assert d.bids.dtype == hb.LEVEL_DTYPE
    assert d.bids.dtype.names == ("price_ticks", "price", "qty", "orders")
    assert d.bids.dtype["price_ticks"] == np.dtype("<i8")
    assert d.bids.dtype["price"] == np.dtype("<f8")
    assert d.bids.dtype["qty"] == np.dtype("<u8")
    assert d.bids.dtype["orders"] == np.dtype("<u4")
    assert levels(d.bids) == [(10_000, 1, 1), (9_999, 12, 2), (9_998, 3, 1), (9_997, 4, 1)]
    assert levels(d.asks) == [(10_002, 1, 1), (10_005, 2, 1)]  # the iceberg shows its display
    assert d.bids["price"].tolist() == [100.0, 99.99, 99.98, 99.97]
    assert d.seq == book.seq
    bids, asks = book.depth(2)
    assert levels(bids) == [(10_000, 1, 1), (9_999, 12, 2)]
    assert len(asks) == 2
    assert len(book.depth(0).bids) == 0
    # The arrays are copies: mutating them does not touch the book.
    bids["qty"][:] = 0
    assert book.best_bid().qty == 1


def test_orders_l3_priority(book: hb.OrderBook) -> None:
    book.set_time(5)
    book.submit("sell", price="10.01", qty=1, order_id=1, account=3)
    book.submit("sell", price="10.00", qty=2, order_id=2)
    book.submit("sell", price="10.01", qty=3, order_id=3)
    book.submit("sell", price="10.00", qty=9, display_qty=4, order_id=4)
    book.submit("sell", price="10.02", qty=5, order_id=5)
    o = book.orders("sell")
    assert o.dtype == hb.BOOK_ORDER_DTYPE
    assert o.dtype.names == (
        "order_id",
        "price_ticks",
        "price",
        "qty",
        "visible_qty",
        "hidden_qty",
        "account",
        "timestamp",
    )
    assert l3(book, "sell") == [
        (2, 1000, 2, 2, 0),
        (4, 1000, 9, 4, 5),
        (1, 1001, 1, 1, 0),
        (3, 1001, 3, 3, 0),
        (5, 1002, 5, 5, 0),
    ]
    assert o["account"].tolist() == [0, 0, 3, 0, 0]
    assert o["timestamp"].tolist() == [5] * 5
    assert o["price"].tolist() == [10.0, 10.0, 10.01, 10.01, 10.02]
    # Priority changes: order 2 grows (back of its level); order 3 shrinks (keeps its place).
    book.modify(2, qty=3)
    book.modify(3, qty=1)
    assert [r[0] for r in l3(book, "sell")] == [4, 2, 1, 3, 5]
    assert len(book.orders("buy")) == 0


def test_order_lookup(book: hb.OrderBook) -> None:
    book.set_time(77)
    book.submit("buy", price="99.50", qty=10, display_qty=3, account=42, order_id=7)
    o = book.order(7)
    assert isinstance(o, hb.Order)
    assert (o.order_id, o.side, o.price, o.price_ticks) == (7, "buy", Decimal("99.50"), 9_950)
    assert (o.qty, o.visible_qty, o.hidden_qty, o.display_qty) == (10, 3, 7, 3)
    assert (o.account, o.timestamp) == (42, 77)
    assert book.order(8) is None
    assert o == book.order(7)
    assert hash(o) == hash(book.order(7))
    book.submit("sell", price="99.50", qty=10)
    assert book.order(7) is None


def test_volume_at(book: hb.OrderBook) -> None:
    book.submit("buy", price="99.00", qty=3)
    book.submit("buy", price="99.00", qty=20, display_qty=5)
    book.submit("sell", price="101.00", qty=4)
    assert book.volume_at("99.00") == 8
    assert book.volume_at(Decimal("99")) == 8
    assert book.volume_at(99) == 8
    assert book.volume_at(99.0) == 8
    assert book.volume_at(price_ticks=9_900) == 8
    assert book.volume_at("101") == 4
    assert book.volume_at("100") == 0


def test_len_and_contains(book: hb.OrderBook) -> None:
    book.submit("buy", price="1", qty=1, order_id=5)
    r = book.submit("buy", price="1", qty=1)
    assert len(book) == 2
    assert 5 in book
    assert r.order_id == 1
    assert 1 in book
    assert 6 not in book
    assert 0 not in book
    book.cancel(5)
    assert 5 not in book
    assert len(book) == 1


def test_assigned_ids_skip_live_caller_ids(book: hb.OrderBook) -> None:
    book.submit("buy", price="1", qty=1, order_id=2)
    ids = [book.submit("buy", price="1", qty=1).order_id for _ in range(3)]
    assert ids == [1, 3, 4]
    assert book.orders("buy")["order_id"].tolist() == [2, 1, 3, 4]


def test_big_caller_ids(book: hb.OrderBook) -> None:
    big = 2**64 - 1
    book.submit("buy", price="1", qty=1, order_id=big)
    assert big in book
    assert book.order(big).order_id == big
    assert book.orders("buy")["order_id"].tolist() == [big]
    assert book.cancel(big).order_id == big


def test_numpy_integer_arguments(book: hb.OrderBook) -> None:
    book.submit("buy", price="1", qty=np.int64(3), order_id=np.uint64(11))
    oid = book.orders("buy")["order_id"][0]
    book.modify(oid, qty=book.orders("buy")["qty"][0] - np.uint64(1))
    assert book.order(11).qty == 2
    book.submit("buy", price_ticks=np.int32(50), qty=1, display_qty=np.int8(1), order_id=12)
    assert book.order(12).price_ticks == 50
    assert book.cancel(oid).cancelled_qty == 2


# --------------------------------------------------------------------------- reports


def test_execution_report_fields(book: hb.OrderBook) -> None:
    book.set_time(10)
    book.submit("sell", price="100.25", qty=3, order_id=1)
    book.submit("sell", price="100.30", qty=2, order_id=2)
    book.submit("sell", price="100.40", qty=9, order_id=3)
    book.set_time(20)
    r = book.submit("buy", price="100.30", qty=6, order_id=10)
    assert isinstance(r, hb.ExecutionReport)
    assert (r.order_id, r.status, r.reason) == (10, "partially_filled", None)
    assert (r.filled_qty, r.remaining_qty, r.cancelled_qty) == (5, 1, 0)
    assert bool(r)
    f1, f2 = r.fills
    assert isinstance(f1, hb.Fill)
    assert (f1.maker_id, f1.taker_id, f1.price, f1.price_ticks, f1.qty) == (
        1,
        10,
        Decimal("100.25"),
        10_025,
        3,
    )
    assert (f1.maker_remaining, f1.taker_side, f1.seq, f1.timestamp) == (0, "buy", 1, 20)
    assert (f2.maker_id, f2.price, f2.qty, f2.seq) == (2, Decimal("100.30"), 2, 2)
    # exact volume-weighted average: (3 * 100.25 + 2 * 100.30) / 5
    assert r.avg_price == Decimal("100.27")
    assert isinstance(r.avg_price, Decimal)
    assert r.self_trade_cancels == []
    assert f1 == r.fills[0]
    assert f1 != f2
    assert hash(f1) == hash(r.fills[0])
    assert book.trade_count == 2


def test_avg_price_not_rounded(book: hb.OrderBook) -> None:
    book.submit("sell", price="1.00", qty=1)
    book.submit("sell", price="1.01", qty=2)
    r = book.submit("buy", price="1.01", qty=3)
    assert r.avg_price == (Decimal("1.00") + 2 * Decimal("1.01")) / 3
    assert book.submit("buy", price="1", qty=1).avg_price is None


def test_report_statuses_and_reasons(book: hb.OrderBook) -> None:
    book.submit("sell", price="10", qty=5, order_id=1)
    r = book.submit("buy", price="9", qty=1, post_only=True)
    assert (r.status, r.reason) == ("new", None)
    r = book.submit("buy", price="10", qty=1, post_only=True)
    assert (r.status, r.reason, bool(r)) == ("rejected", "post_only_would_take", False)
    r = book.submit("buy", price="10", qty=6, tif="fok")
    assert (r.status, r.reason, r.filled_qty, r.cancelled_qty) == (
        "rejected",
        "fok_not_fillable",
        0,
        0,
    )
    r = book.submit("buy", price="10", qty=7, tif="ioc")
    assert (r.status, r.reason, r.filled_qty, r.cancelled_qty, r.remaining_qty) == (
        "cancelled",
        "unfilled_ioc",
        5,
        2,
        0,
    )
    r = book.submit("buy", qty=1, order_type="market")
    assert (r.status, r.reason, r.cancelled_qty) == ("cancelled", "unfilled_ioc", 1)
    r = book.cancel(next(iter(book.orders("buy")["order_id"].tolist())))
    assert (r.status, r.reason, r.cancelled_qty, r.remaining_qty) == (
        "cancelled",
        "requested",
        1,
        0,
    )
    assert len(book) == 0


def test_cancel_report_acknowledges_side_price_and_qty(book: hb.OrderBook) -> None:
    book.submit("buy", price="99.95", qty=5, order_id=1)
    book.submit("buy", price="99.95", qty=3, order_id=2)
    book.submit("sell", price="100.10", qty=10, display_qty=2, order_id=3)  # iceberg
    book.submit("buy", price="100.10", qty=1, tif="ioc")  # 9 left: 1 shown, 8 reserve
    resting = {o.order_id: o for o in (book.order(1), book.order(2), book.order(3))}
    for oid, side, price, ticks, qty in [
        (3, "sell", Decimal("100.10"), 10_010, 9),
        (1, "buy", Decimal("99.95"), 9_995, 5),
        (2, "buy", Decimal("99.95"), 9_995, 3),  # the level's last order
    ]:
        was = resting[oid]
        r = book.cancel(oid)
        assert (r.order_id, r.status, r.reason) == (oid, "cancelled", "requested")
        assert (r.side, r.price, r.price_ticks, r.cancelled_qty) == (side, price, ticks, qty)
        assert (r.side, r.price, r.price_ticks, r.cancelled_qty) == (
            was.side,
            was.price,
            was.price_ticks,
            was.qty,
        )
        assert isinstance(r.price, Decimal)
        assert (r.filled_qty, r.remaining_qty, r.fills, r.self_trade_cancels) == (0, 0, [], [])
    assert len(book) == 0
    with pytest.raises(hb.UnknownOrder):
        book.cancel(1)


def test_cancel_report_units_and_negative_prices() -> None:
    b = hb.OrderBook("X", tick_size="0.25", lot_size=100)
    b.submit("sell", price="-1.75", qty=700, order_id=7)
    r = b.cancel(7)
    assert (r.side, r.price, r.price_ticks, r.cancelled_qty) == ("sell", Decimal("-1.75"), -7, 700)


def test_side_and_price_are_none_on_submit_and_modify_reports(book: hb.OrderBook) -> None:
    reports = [
        book.submit("sell", price="10", qty=5, order_id=1),
        book.submit("buy", price="11", qty=7, tif="ioc"),  # cancelled residual
        book.submit("buy", price="9", qty=2, order_id=2),
        book.modify(2, qty=1),
        book.modify(2, price="9.5"),
    ]
    for r in reports:
        assert (r.side, r.price, r.price_ticks) == (None, None, None)
    assert reports[1].status == "cancelled"


def test_self_trade_cancels_on_report() -> None:
    b = hb.OrderBook("X", stp_default="cancel_oldest")
    b.submit("sell", price="10", qty=2, account=1, order_id=1)
    b.submit("sell", price="10", qty=3, account=2, order_id=2)
    b.submit("sell", price="10", qty=4, account=1, order_id=3)
    r = b.submit("buy", price="10", qty=9, account=1, order_id=4)
    assert r.self_trade_cancels == [(1, 2), (3, 4)]
    assert [(f.maker_id, f.qty) for f in r.fills] == [(2, 3)]
    assert (r.status, r.remaining_qty) == ("partially_filled", 6)
    assert b.best_bid().qty == 6
    assert b.best_ask() is None


def test_modify_reports(book: hb.OrderBook) -> None:
    book.submit("sell", price="10.05", qty=4, order_id=1)
    book.submit("buy", price="10.00", qty=5, order_id=2)
    r = book.modify(2, qty=3)
    assert (r.order_id, r.status, r.remaining_qty, r.fills) == (2, "new", 3, [])
    r = book.modify(2, price="10.05", qty=6)
    assert (r.status, r.filled_qty, r.remaining_qty) == ("partially_filled", 4, 2)
    assert [(f.maker_id, f.taker_id, f.price) for f in r.fills] == [(1, 2, Decimal("10.05"))]
    assert book.best_bid().price == Decimal("10.05")
    r = book.modify(2)
    assert (r.status, r.remaining_qty) == ("new", 2)


def test_seq_and_trade_count(book: hb.OrderBook) -> None:
    assert (book.seq, book.trade_count) == (0, 0)
    book.submit("sell", price="1", qty=1, order_id=1)
    book.submit("sell", price="1", qty=1, order_id=2)
    assert (book.seq, book.trade_count) == (2, 0)
    book.submit("buy", price="1", qty=2)
    assert (book.seq, book.trade_count) == (3, 2)
    book.submit("buy", price="1", qty=2, order_id=5)
    book.modify(5, qty=1)
    book.cancel(5)
    assert (book.seq, book.trade_count) == (6, 2)
    with pytest.raises(hb.UnknownOrder):
        book.cancel(5)
    with pytest.raises(hb.InvalidPrice):
        book.submit("buy", price="1.001", qty=1)
    assert (book.seq, book.trade_count) == (6, 2)


# --------------------------------------------------------------------------- reprs


def test_reprs(book: hb.OrderBook) -> None:
    assert repr(book) == 'OrderBook(symbol="AAPL", tick_size=0.01, orders=0, bid=None, ask=None)'
    book.set_time(3)
    r = book.submit("sell", price="100.25", qty=10, order_id=1)
    assert repr(r) == (
        "ExecutionReport(order_id=1, status='new', filled_qty=0, remaining_qty=10, "
        "cancelled_qty=0, fills=0, reason=None)"
    )
    book.submit("buy", price="100.00", qty=2, account=9, order_id=2)
    assert repr(book) == (
        'OrderBook(symbol="AAPL", tick_size=0.01, orders=2, bid=100.00x2, ask=100.25x10)'
    )
    r = book.submit("buy", price="100.25", qty=4, order_id=3, tif="ioc")
    assert repr(r) == (
        "ExecutionReport(order_id=3, status='filled', filled_qty=4, remaining_qty=0, "
        "cancelled_qty=0, fills=1, reason=None)"
    )
    assert repr(r.fills[0]) == (
        "Fill(seq=1, maker_id=1, taker_id=3, price=100.25, qty=4, taker_side='buy')"
    )
    r = book.submit("buy", price="1", qty=1, tif="fok")
    assert repr(r).endswith("reason='fok_not_fillable')")
    assert repr(book.cancel(2)) == (
        "ExecutionReport(order_id=2, status='cancelled', filled_qty=0, remaining_qty=0, "
        "cancelled_qty=2, fills=0, reason='requested', side='buy', price=100.00)"
    )
    book.submit("buy", price="100.00", qty=2, account=9, order_id=2)
    assert repr(book.best_ask()) == "Level(price=100.25, qty=6, orders=1)"
    assert repr(book.order(2)) == (
        "Order(order_id=2, side='buy', price=100.00, qty=2, visible_qty=2, account=9)"
    )
    assert repr(book.depth()) == f"Depth(seq={book.seq}, bids=1 levels, asks=1 levels)"
    assert repr(book.reader()) == "BookReader()"
    res = book.submit_batch(np.zeros(0, dtype=hb.ORDER_DTYPE))
    assert repr(res) == "BatchResult(rows=0, fills=0)"


def test_reader_depth_repr_without_seq_is_not_rust_syntax(book: hb.OrderBook) -> None:
    d = book.reader().depth()
    assert "Some(" not in repr(d)
    assert repr(d) in (
        "Depth(seq=0, bids=0 levels, asks=0 levels)",
        "Depth(seq=None, bids=0 levels, asks=0 levels)",
    )


# --------------------------------------------------------------------------- reader


def test_reader_top_and_depth(book: hb.OrderBook) -> None:
    reader = book.reader()
    assert isinstance(reader, hb.BookReader)
    assert reader.top() == (0, None, None)
    book.submit("buy", price="99.99", qty=3)
    book.submit("buy", price="99.98", qty=1)
    book.submit("sell", price="100.01", qty=2, display_qty=1)
    seq, bid, ask = reader.top()
    assert seq == book.seq == 3
    assert bid == book.best_bid()
    assert ask == book.best_ask()
    assert (bid.price, bid.qty, ask.price, ask.qty) == (
        Decimal("99.99"),
        3,
        Decimal("100.01"),
        1,
    )
    d = reader.depth()
    assert d.seq == book.seq
    assert levels(d.bids) == levels(book.depth().bids)
    assert levels(d.asks) == levels(book.depth().asks)
    assert levels(reader.depth(1).bids) == [(9_999, 3, 1)]


def test_reader_outlives_its_book() -> None:
    b = hb.OrderBook("X")
    b.submit("buy", price="1", qty=1)
    reader = b.reader()
    del b
    seq, bid, ask = reader.top()
    assert (seq, bid.qty, ask) == (1, 1, None)


def test_submit_argument_parsing_matches_a_python_signature() -> None:
    """`submit` has its own vectorcall argument parser: it must behave like the signature."""
    import inspect

    b = hb.OrderBook("ARGS", tick_size="0.01")
    sig = inspect.signature(hb.OrderBook.submit)
    assert list(sig.parameters)[:4] == ["self", "side", "price", "qty"]
    assert sig.parameters["price_ticks"].kind is inspect.Parameter.KEYWORD_ONLY
    # Positional, keyword, keyword names built at run time (not interned), explicit None.
    r1 = b.submit("buy", "1.00", 2)
    r2 = b.submit(side="buy", price="1.00", qty=2, order_id=None, tif=None, stp=None)
    name = "".join(["price", "_ticks"])
    r3 = b.submit("buy", qty=2, **{name: 100})
    assert [len(b), r1.order_id < r2.order_id < r3.order_id] == [3, True]
    assert b.volume_at("1.00") == 6
    for call, message in [
        (lambda: b.submit(), "missing 1 required positional argument: 'side'"),
        (lambda: b.submit("buy", 1, 2, 3), "at most 3 positional arguments (4 given)"),
        (lambda: b.submit("buy", qty=1, colour="red"), "unexpected keyword argument 'colour'"),
        (lambda: b.submit("buy", "1", price="2", qty=1), "multiple values for argument 'price'"),
        (lambda: b.submit("buy", "1", 1, post_only=None), "'post_only' must be a bool"),
    ]:
        with pytest.raises(TypeError, match=re.escape(message)):
            call()
    assert len(b) == 3
    # A method taken from the class still checks its `self`.
    with pytest.raises(TypeError):
        hb.OrderBook.submit(object(), "buy", "1", 1)  # type: ignore[arg-type]
