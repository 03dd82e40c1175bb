"""One test per error: the exception class and its builtin base, ``e.field`` / ``e.value``, a
message naming the field, the value and the rule, and a book left exactly as it was."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal

import pytest

import hftbook as hb
from book_state import snapshot

UNSET = object()


def raises(
    book: hb.OrderBook | None,
    exc: type[hb.HftbookError],
    call: Callable[[], object],
    *,
    field: str | None,
    value: object = UNSET,
    words: Iterable[str] = (),
) -> hb.HftbookError:
    """``call`` raises exactly ``exc`` with this field/value and message words; the book is
    unchanged."""
    before = snapshot(book) if book is not None else None
    with pytest.raises(exc) as info:
        call()
    e = info.value
    assert type(e) is exc, f"{type(e).__name__}: {e}"
    if issubclass(exc, hb.UnknownOrder):
        assert isinstance(e, KeyError)
        assert not isinstance(e, ValueError)
    else:
        assert isinstance(e, ValueError)
        assert isinstance(e, hb.InvalidOrder)
    assert isinstance(e, hb.HftbookError)
    assert e.field == field, str(e)
    if value is not UNSET:
        assert e.value == value, (e.value, str(e))
        assert type(e.value) is type(value)
    assert e.row is None
    message = str(e)
    assert message == e.args[0]
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"
    if book is not None:
        assert snapshot(book) == before
        book.check_invariants()
    return e


@pytest.fixture
def book() -> hb.OrderBook:
    """A book with resting orders on both sides (icebergs, accounts) and a trade printed."""
    b = hb.OrderBook("ERR", tick_size="0.01", clock="manual")
    b.set_time(100)
    b.submit("buy", price="99.90", qty=10, order_id=1)
    b.submit("buy", price="99.80", qty=30, display_qty=5, order_id=2, account=4)
    b.submit("sell", price="100.10", qty=7, order_id=3)
    b.submit("sell", price="100.20", qty=12, order_id=4, account=4)
    b.submit("sell", price="100.10", qty=2, order_id=5)
    b.submit("buy", price="100.10", qty=1, order_id=6)  # trades with 3
    return b


@pytest.fixture
def lot_book() -> hb.OrderBook:
    b = hb.OrderBook("LOT", tick_size="0.05", lot_size=10, min_qty=20, max_qty=1000)
    b.submit("buy", price="10.00", qty=100, order_id=1)
    b.submit("sell", price="10.50", qty=50, order_id=2)
    return b


# --------------------------------------------------------------------------- InvalidPrice


def test_price_off_tick_str(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price="100.255", qty=1),
        field="price",
        value="100.255",
        words=["price", "100.255", "not a multiple of tick_size 0.01"],
    )


def test_price_off_tick_float(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=100.255, qty=1),
        field="price",
        value=100.255,
        words=["price 100.255", "tick_size 0.01"],
    )


def test_price_float_not_nearest_double_to_a_tick(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=0.1 + 0.2, qty=1),
        field="price",
        value=0.1 + 0.2,
        words=["0.30000000000000004", "tick_size 0.01"],
    )


def test_price_off_tick_decimal(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("sell", price=Decimal("100.101"), qty=1),
        field="price",
        value=Decimal("100.101"),
        words=["100.101", "tick_size"],
    )


@pytest.mark.parametrize("text", ["abc", "", "1.2.3", "12a", "--1", "1e", "1e2.5", "0x10"])
def test_price_not_a_number(book: hb.OrderBook, text: str) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=text, qty=1),
        field="price",
        value=text,
        words=["price", repr(text).strip("'"), "not a decimal number"],
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Inf")])
def test_price_nan_and_infinity(book: hb.OrderBook, value: object) -> None:
    e = raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=value, qty=1),
        field="price",
        words=["price", "not a decimal number"],
    )
    assert str(e.value) == str(value) or (isinstance(value, float) and math.isnan(e.value))


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        ("46116860184273879.04", "46116860184273879.04"),  # 2^62 ticks: one past the end
        ("-46116860184273879.04", "-46116860184273879.04"),
        (10**40, str(10**40)),
        ("1" + "0" * 40, "1" + "0" * 40),
        (Decimal("1E+40"), "1E+40"),
        (1e300, "1e+300"),
    ],
)
def test_price_out_of_range(book: hb.OrderBook, price: object, shown: str) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=price, qty=1),
        field="price",
        value=price,
        words=["price", shown, "outside the representable range"],
    )


@pytest.mark.parametrize(
    ("text", "ticks"),
    [("1e2", 10_000), ("1E+2", 10_000), ("1.5e1", 1_500), ("1e-2", 1), ("-2.5E-1", -25)],
)
def test_price_exponent_notation_is_read_like_decimal(text: str, ticks: int) -> None:
    """A str in exponent notation means what ``Decimal(text)`` means: exact, on the tick."""
    b = hb.OrderBook("EXP", tick_size="0.01")
    r = b.submit("buy", price=text, qty=1)
    assert b.order(r.order_id).price == Decimal(text)
    assert b.order(r.order_id).price_ticks == ticks
    r2 = b.submit("buy", price=Decimal(text), qty=1)  # the Decimal gives the same ticks
    assert b.order(r2.order_id).price_ticks == ticks


@pytest.mark.parametrize("value", ["1e-3", "1.2345e1", Decimal("1E-3")])
def test_price_exponent_notation_off_tick(book: hb.OrderBook, value: object) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=value, qty=1),
        field="price",
        value=value,
        words=["price", str(value), "not a multiple of tick_size 0.01"],
    )


@pytest.mark.parametrize("value", ["1e30", "1E+30", Decimal("1e30"), "-1e30", "1e17"])
def test_price_exponent_notation_out_of_range(book: hb.OrderBook, value: object) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("sell", price=value, qty=1),
        field="price",
        value=value,
        words=["price", str(value), "outside the representable range ±(2^62 - 1) ticks"],
    )


def test_price_ticks_out_of_range(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price_ticks=2**62, qty=1),
        field="price_ticks",
        value=2**62,
        words=["price_ticks", str(2**62), "integer within ±(2^62 - 1)"],
    )
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price_ticks=-(2**70), qty=1),
        field="price_ticks",
        value=-(2**70),
        words=[str(-(2**70))],
    )


@pytest.mark.parametrize("value", [True, False, [100], b"100", object, 1j])
def test_price_wrong_type(book: hb.OrderBook, value: object) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=value, qty=1),
        field="price",
        value=value,
        words=["price must be a str, Decimal, int or float", type(value).__name__],
    )


@pytest.mark.parametrize("value", [1.0, "100", True, None])
def test_price_ticks_wrong_type(book: hb.OrderBook, value: object) -> None:
    if value is None:  # price_ticks=None means "not given": a limit order then lacks a price
        raises(
            book,
            hb.InvalidPrice,
            lambda: book.submit("buy", price_ticks=None, qty=1),
            field="price",
            words=["limit order needs a price"],
        )
        return
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price_ticks=value, qty=1),
        field="price_ticks",
        value=value,
        words=["price_ticks", repr(value), "integer"],
    )


def test_price_missing_on_limit(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", qty=1),
        field="price",
        words=["limit order needs a price"],
    )
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price=None, qty=1),
        field="price",
        words=["limit order needs a price"],
    )


def test_price_and_price_ticks_both(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.submit("buy", price="100", price_ticks=10_000, qty=1),
        field="price",
        words=["price", "price_ticks", "not both"],
    )


def test_price_invalid_on_modify(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.modify(1, price="99.905"),
        field="price",
        value="99.905",
        words=["99.905", "tick_size 0.01"],
    )
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.modify(1, price_ticks=2**62),
        field="price_ticks",
        value=2**62,
        words=[str(2**62)],
    )
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.modify(1, price="1", price_ticks=1),
        field="price",
        words=["not both"],
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"price": "100.00"}, "price", "100.00"),
        ({"price": Decimal("99.9")}, "price", Decimal("99.9")),
        ({"price": "1.001"}, "price", "1.001"),  # off the tick too: the combination comes first
        ({"price": 100}, "price", 100),
        ({"price_ticks": 10_000}, "price_ticks", 10_000),
        ({"price_ticks": 0}, "price_ticks", 0),
    ],
)
@pytest.mark.parametrize("tif", [None, "ioc", "fok"])
def test_market_order_takes_no_price(
    book: hb.OrderBook, kwargs: dict[str, object], field: str, value: object, tif: str | None
) -> None:
    """A price on a market order was silently ignored; it is refused, naming the argument."""
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", qty=1, order_type="market", tif=tif, **kwargs),
        field=field,
        value=value,
        words=[field, "market order takes no price", "order_type='limit'", "tif='ioc'"],
    )
    assert book.submit("buy", qty=1, order_type="market").status == "filled"
    assert book.submit("buy", qty=1, order_type="market", price=None).status == "filled"


def test_price_invalid_on_volume_at(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidPrice,
        lambda: book.volume_at("99.901"),
        field="price",
        value="99.901",
        words=["99.901", "tick_size"],
    )


# --------------------------------------------------------------------------- InvalidQuantity


def test_qty_zero(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99", qty=0),
        field="qty",
        value=0,
        words=["qty", "positive", "0"],
    )


@pytest.mark.parametrize("qty", [-1, -(2**70), 2**64])
def test_qty_negative_or_too_big(book: hb.OrderBook, qty: int) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99", qty=qty),
        field="qty",
        value=qty,
        words=["qty", str(qty), "exceeds the largest" if qty > 0 else "non-negative integer"],
    )


@pytest.mark.parametrize("qty", [1.0, 2.5, "3", True, Decimal(4), None])
def test_qty_wrong_type(book: hb.OrderBook, qty: object) -> None:
    if qty is None:
        raises(
            book,
            hb.InvalidQuantity,
            lambda: book.submit("buy", price="99", qty=None),
            field="qty",
            words=["qty is required"],
        )
        return
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99", qty=qty),
        field="qty",
        value=qty,
        words=["qty", repr(qty), "integer"],
    )


def test_qty_missing(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99"),
        field="qty",
        words=["qty is required"],
    )


def test_qty_off_lot(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.submit("buy", price="10", qty=25),
        field="qty",
        value=25,
        words=["qty 25", "not a multiple of lot_size 10"],
    )


def test_display_qty_off_lot(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.submit("buy", price="10", qty=100, display_qty=15),
        field="display_qty",
        value=15,
        words=["display_qty 15", "lot_size 10"],
    )


def test_qty_below_min_qty(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.submit("buy", price="10", qty=10),
        field="qty",
        value=10,
        words=["qty 10 is below min_qty 20"],
    )


def test_qty_above_max_qty(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.submit("buy", price="10", qty=1010),
        field="qty",
        value=1010,
        words=["qty 1010 is above max_qty 1000"],
    )


def test_display_qty_above_qty(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99", qty=5, display_qty=6),
        field="display_qty",
        value=6,
        words=["display_qty 6 is larger than qty 5"],
    )


def test_display_qty_above_qty_in_units(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.submit("buy", price="10", qty=50, display_qty=60),
        field="display_qty",
        value=60,
        words=["display_qty 60 is larger than qty 50"],
    )


def test_display_qty_negative(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.submit("buy", price="99", qty=5, display_qty=-1),
        field="display_qty",
        value=-1,
        words=["display_qty", "-1"],
    )


def test_modify_qty_zero(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.modify(1, qty=0),
        field="qty",
        value=0,
        words=["qty", "positive"],
    )


def test_modify_qty_limits_in_units(lot_book: hb.OrderBook) -> None:
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.modify(1, qty=10),
        field="qty",
        value=10,
        words=["qty 10 is below min_qty 20"],
    )
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.modify(1, qty=2000),
        field="qty",
        value=2000,
        words=["qty 2000 is above max_qty 1000"],
    )
    raises(
        lot_book,
        hb.InvalidQuantity,
        lambda: lot_book.modify(1, qty=55),
        field="qty",
        value=55,
        words=["qty 55", "lot_size 10"],
    )


def test_modify_qty_wrong_type(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidQuantity,
        lambda: book.modify(1, qty=2.0),
        field="qty",
        value=2.0,
        words=["qty 2.0", "integer"],
    )


# --------------------------------------------------------------------------- DuplicateOrderId


def test_duplicate_live_order_id(book: hb.OrderBook) -> None:
    for oid, side, price in [(1, "buy", "99"), (2, "sell", "101"), (3, "sell", "100.10")]:
        raises(
            book,
            hb.DuplicateOrderId,
            lambda oid=oid, side=side, price=price: book.submit(
                side, price=price, qty=1, order_id=oid
            ),
            field="order_id",
            value=oid,
            words=[f"order_id {oid}", "already used by a live order"],
        )


def test_duplicate_id_even_when_the_order_would_not_rest(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.DuplicateOrderId,
        lambda: book.submit("sell", qty=1, order_type="market", order_id=1),
        field="order_id",
        value=1,
        words=["order_id 1"],
    )


def test_ids_reusable_after_fill_or_cancel(book: hb.OrderBook) -> None:
    book.cancel(1)
    assert book.submit("buy", price="99", qty=1, order_id=1).status == "new"
    book.submit("buy", price="100.10", qty=9)  # fills 3 (6 left) and 5 (2)
    assert 3 not in book
    assert book.submit("sell", price="101", qty=1, order_id=3).status == "new"


# --------------------------------------------------------------------------- UnknownOrder


def test_cancel_unknown(book: hb.OrderBook) -> None:
    e = raises(
        book,
        hb.UnknownOrder,
        lambda: book.cancel(999),
        field="order_id",
        value=999,
        words=["order_id 999", "not resting"],
    )
    assert str(e) == "order_id 999 is not resting on the book (unknown, filled or cancelled)"


def test_modify_unknown(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.UnknownOrder,
        lambda: book.modify(999, qty=1),
        field="order_id",
        value=999,
        words=["order_id 999", "not resting"],
    )
    raises(
        book,
        hb.UnknownOrder,
        lambda: book.modify(0, price="99"),
        field="order_id",
        value=0,
        words=["order_id 0"],
    )


def test_unknown_after_fill(book: hb.OrderBook) -> None:
    book.submit("sell", price="99.90", qty=10)  # fills order 1
    assert 1 not in book
    raises(book, hb.UnknownOrder, lambda: book.cancel(1), field="order_id", value=1)
    raises(book, hb.UnknownOrder, lambda: book.modify(1, qty=3), field="order_id", value=1)
    # The taker of an IOC / a market order never rests either.
    r = book.submit("buy", qty=1, order_type="market")
    raises(book, hb.UnknownOrder, lambda: book.cancel(r.order_id), field="order_id")


def test_unknown_after_cancel(book: hb.OrderBook) -> None:
    book.cancel(4)
    raises(
        book,
        hb.UnknownOrder,
        lambda: book.cancel(4),
        field="order_id",
        value=4,
        words=["order_id 4", "not resting"],
    )
    raises(book, hb.UnknownOrder, lambda: book.modify(4, price="100.30"), field="order_id")


def test_unknown_after_rejection(book: hb.OrderBook) -> None:
    r = book.submit("buy", price="100.20", qty=1, post_only=True, order_id=77)
    assert r.status == "rejected"
    raises(book, hb.UnknownOrder, lambda: book.cancel(77), field="order_id", value=77)


# --------------------------------------------------------------------------- InvalidOrder


@pytest.mark.parametrize("side", ["bux", "", "b", "long", None, 0, 1, b"buy", hb.OrderType.LIMIT])
def test_bad_side(book: hb.OrderBook, side: object) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit(side, price="99", qty=1),
        field="side",
        value=side,
        words=["side", repr(side), "not one of buy, sell"],
    )


def test_bad_side_in_orders_query(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.orders("both"),
        field="side",
        value="both",
        words=["'both'", "buy, sell"],
    )


@pytest.mark.parametrize("tif", ["day", "gtd", "", 0])
def test_bad_tif(book: hb.OrderBook, tif: object) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=1, tif=tif),
        field="tif",
        value=tif,
        words=["tif", repr(tif), "not one of gtc, ioc, fok"],
    )


@pytest.mark.parametrize("order_type", ["stop", "LIMITED", 1])
def test_bad_order_type(book: hb.OrderBook, order_type: object) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=1, order_type=order_type),
        field="order_type",
        value=order_type,
        words=["order_type", repr(order_type), "not one of limit, market"],
    )


@pytest.mark.parametrize("stp", ["x", "cancel", "newest", 2])
def test_bad_stp(book: hb.OrderBook, stp: object) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=1, account=4, stp=stp),
        field="stp",
        value=stp,
        words=["stp", repr(stp), "none, cancel_newest, cancel_oldest, cancel_both"],
    )


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_post_only_needs_gtc(book: hb.OrderBook, tif: str) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=1, tif=tif, post_only=True),
        field="post_only",
        value=True,
        words=["post_only", "tif gtc"],
    )


def test_post_only_market(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", qty=1, order_type="market", post_only=True),
        field="post_only",
        value=True,
        words=["post_only", "limit order"],
    )


def test_iceberg_market(book: hb.OrderBook) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", qty=5, order_type="market", display_qty=2),
        field="display_qty",
        value=2,
        words=["display_qty", "market order never rests"],
    )


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_iceberg_needs_gtc(book: hb.OrderBook, tif: str) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=5, display_qty=2, tif=tif),
        field="display_qty",
        value=2,
        words=["display_qty", "tif gtc"],
    )


@pytest.mark.parametrize("order_id", [0, -1, -3, 2**64, True, "7", 7.0])
def test_bad_order_id(book: hb.OrderBook, order_id: object) -> None:
    raises(
        book,
        hb.InvalidOrder,
        lambda: book.submit("buy", price="99", qty=1, order_id=order_id),
        field="order_id",
        value=order_id,
        words=["order_id", repr(order_id), "integer in 1..=2^64-1"],
    )


def test_set_time_on_monotonic_clock() -> None:
    b = hb.OrderBook("X")
    raises(b, hb.InvalidOrder, lambda: b.set_time(5), field="clock", words=["manual"])


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("tick", ["0", "-0.01", "abc", "", "1e", "-1e-2", Decimal("0"), 0])
def test_bad_tick_size(tick: object) -> None:
    raises(
        None,
        hb.InvalidOrder,
        lambda: hb.OrderBook("X", tick_size=tick),
        field="tick_size",
        value=tick,
        words=["tick_size", "positive decimal"],
    )


@pytest.mark.parametrize(("tick", "exact"), [("1e-2", "0.01"), (Decimal("1E-7"), "0.0000001")])
def test_tick_size_in_exponent_notation(tick: object, exact: str) -> None:
    assert hb.OrderBook("X", tick_size=tick).tick_size == Decimal(exact)


def test_bad_lot_size() -> None:
    raises(
        None,
        hb.InvalidQuantity,
        lambda: hb.OrderBook("X", lot_size=0),
        field="lot_size",
        value=0,
        words=["lot_size 0", "at least 1"],
    )


def test_bad_min_max_qty() -> None:
    raises(
        None,
        hb.InvalidQuantity,
        lambda: hb.OrderBook("X", lot_size=10, min_qty=15),
        field="min_qty",
        value=15,
        words=["min_qty 15", "multiple of lot_size"],
    )
    raises(
        None,
        hb.InvalidQuantity,
        lambda: hb.OrderBook("X", min_qty=0),
        field="min_qty",
        value=0,
        words=["min_qty 0", "positive"],
    )
    raises(
        None,
        hb.InvalidQuantity,
        lambda: hb.OrderBook("X", min_qty=10, max_qty=5),
        field="max_qty",
        value=5,
        words=["max_qty 5", ">= min_qty"],
    )


def test_bad_stp_default() -> None:
    raises(
        None,
        hb.InvalidOrder,
        lambda: hb.OrderBook("X", stp_default="sometimes"),
        field="stp_default",
        value="sometimes",
        words=["stp_default", "'sometimes'", "cancel_newest"],
    )


def test_bad_clock() -> None:
    raises(
        None,
        hb.InvalidOrder,
        lambda: hb.OrderBook("X", clock="wall"),
        field="clock",
        value="wall",
        words=["clock", "wall", "monotonic, manual"],
    )


@pytest.mark.parametrize("bad_id", [-1, -(2**70), 2**64])
def test_cancel_and_modify_of_an_impossible_id_is_unknown_order(bad_id: int) -> None:
    book = hb.OrderBook("ERR", tick_size="0.01")
    book.submit("buy", price="1.00", qty=1)
    before = (len(book), book.seq)
    with pytest.raises(hb.UnknownOrder) as e:
        book.cancel(bad_id)
    assert e.value.field == "order_id"
    assert e.value.value == bad_id
    assert str(bad_id) in str(e.value)
    with pytest.raises(hb.UnknownOrder):
        book.modify(bad_id, qty=1)
    assert bad_id not in book
    assert book.order(bad_id) is None
    assert (len(book), book.seq) == before


@pytest.mark.parametrize("bad", [-1, 2**32, "7", 1.5, True])
def test_account_out_of_range_or_wrong_type_is_invalid_order(bad: object) -> None:
    book = hb.OrderBook("ERR", tick_size="0.01")
    with pytest.raises(hb.InvalidOrder) as e:
        book.submit("buy", price="1.00", qty=1, account=bad)
    assert e.value.field == "account"
    assert e.value.value == bad
    assert "account" in str(e.value)
    assert len(book) == 0


def test_non_integer_order_id_lookup_is_invalid_order() -> None:
    book = hb.OrderBook("ERR", tick_size="0.01")
    with pytest.raises(hb.InvalidOrder) as e:
        book.cancel("x")  # type: ignore[arg-type]
    assert e.value.field == "order_id"


def test_a_quantity_too_large_for_the_core_says_so_with_the_limit() -> None:
    book = hb.OrderBook("X", tick_size="0.01")
    for qty in (2**64, 10**30):
        with pytest.raises(hb.InvalidQuantity, match="exceeds the largest quantity") as info:
            book.submit("buy", price="1.00", qty=qty)
        assert str(2**64 - 1) in str(info.value)
        assert info.value.field == "qty"
    with pytest.raises(hb.InvalidQuantity, match="non-negative integer"):
        book.submit("buy", price="1.00", qty=-1)
