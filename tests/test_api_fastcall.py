"""The per-call fast paths of `OrderBook.submit`, `cancel` and `modify`.

`submit`, `cancel` and `modify` are vectorcall entry points with their own argument parsing,
and `submit` builds the common order shape (interned literals, exact ints) without the
general conversions; reports come from a free list of their own. Every call must behave
exactly as the general path does: same results for every accepted spelling of an argument,
same typed errors naming the field and the value, same `TypeError`s as PyO3's parser.
"""

from __future__ import annotations

import gc
import re
import sys
import threading
from typing import Any

import numpy as np
import pytest

import hftbook as hb


def _book() -> hb.OrderBook:
    return hb.OrderBook("FAST", tick_size="0.01", clock="manual")


def _state(book: hb.OrderBook) -> list[Any]:
    return [
        [tuple(int(x) for x in o[["order_id", "price_ticks", "qty"]]) for o in book.orders(s)]
        for s in ("buy", "sell")
    ]


def _report(r: hb.ExecutionReport) -> tuple[Any, ...]:
    return (
        r.order_id,
        r.status,
        r.filled_qty,
        r.remaining_qty,
        r.cancelled_qty,
        r.reason,
        [(f.maker_id, f.taker_id, f.price_ticks, f.qty) for f in r.fills],
        r.self_trade_cancels,
        r.side,
        r.price_ticks,
    )


def _runtime(text: str) -> str:
    """An equal str that is not the interned literal (built at run time)."""
    s = "".join([text[:1], text[1:]])
    assert s == text
    return s


class _Str(str):
    pass


class _Int(int):
    pass


def _spellings() -> list[tuple[str, dict[str, Any]]]:
    """Argument spellings that must give the same result as the plain literal/int ones."""
    return [
        ("runtime side", {"side": _runtime("buy")}),
        ("upper side", {"side": "BUY"}),
        ("str subclass side", {"side": _Str("buy")}),
        ("enum side", {"side": hb.Side.BUY}),
        ("int subclass qty", {"qty": _Int(5)}),
        ("numpy qty", {"qty": np.int64(5)}),
        ("numpy uint qty", {"qty": np.uint32(5)}),
        ("int subclass ticks", {"price_ticks": _Int(10_000)}),
        ("numpy ticks", {"price_ticks": np.int32(10_000)}),
        ("numpy id", {"order_id": np.uint64(77)}),
        ("runtime tif", {"tif": _runtime("gtc")}),
        ("upper tif", {"tif": "GTC"}),
        ("runtime type", {"order_type": _runtime("limit")}),
        ("account", {"account": 3}),
        ("numpy account", {"account": np.int16(3)}),
        ("post_only False", {"post_only": False}),
        ("explicit None", {"stp": None, "display_qty": None, "price": None}),
    ]


@pytest.mark.parametrize(("name", "override"), _spellings(), ids=[n for n, _ in _spellings()])
def test_submit_spellings_match_the_plain_call(name: str, override: dict[str, Any]) -> None:
    plain: dict[str, Any] = {"side": "buy", "price_ticks": 10_000, "qty": 5, "order_id": 77}
    if "account" in override:
        plain["account"] = 3
    if "tif" in override:
        plain["tif"] = "gtc"
    if "order_type" in override:
        plain["order_type"] = "limit"
    a, b = _book(), _book()
    for bk in (a, b):
        bk.submit("sell", price_ticks=10_000, qty=2, order_id=1)
        bk.submit("sell", price_ticks=10_001, qty=2, order_id=2)
    ra = a.submit(**plain)
    rb = b.submit(**{**plain, **override})
    assert _report(ra) == _report(rb), name
    assert _state(a) == _state(b)


def test_submit_fast_shapes_match_the_general_path() -> None:
    """Every shape the W2 stream uses (gtc/ioc limit, market), checked against `price`
    in units (which always takes the general path)."""
    a, b = _book(), _book()
    for bk in (a, b):
        for i in range(10):
            bk.submit("sell", price_ticks=10_010 + i, qty=3, order_id=100 + i)
            bk.submit("buy", price_ticks=9_990 - i, qty=3, order_id=200 + i)
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"price_ticks": 10_011}, {"price": "100.11"}),
        ({"price_ticks": 10_012, "tif": "ioc"}, {"price": "100.12", "tif": "IOC"}),
        ({"price_ticks": 10_030, "tif": "fok"}, {"price": "100.30", "tif": "Fok"}),
        ({"order_type": "market"}, {"order_type": "MARKET"}),
    ]
    for n, (fast, general) in enumerate(calls):
        for side in ("buy", "sell"):
            ra = a.submit(side, qty=4, order_id=1000 + n * 2 + (side == "sell"), **fast)
            rb = b.submit(side.upper(), qty=4, order_id=1000 + n * 2 + (side == "sell"), **general)
            assert _report(ra) == _report(rb)
            assert _state(a) == _state(b)
    a.check_invariants()


def test_submit_assigned_ids_match() -> None:
    a, b = _book(), _book()
    ids_a = [a.submit("buy", price_ticks=100 + i, qty=1).order_id for i in range(5)]
    ids_b = [b.submit("buy", price="1.00", qty=1, order_id=None).order_id for i in range(5)]
    assert ids_a == ids_b


@pytest.mark.parametrize(
    ("kwargs", "exc", "field", "value", "message"),
    [
        ({"qty": True}, hb.InvalidQuantity, "qty", True, "qty True must be a non-negative"),
        ({"qty": -1}, hb.InvalidQuantity, "qty", -1, "qty -1 must be a non-negative"),
        ({"qty": 2**64}, hb.InvalidQuantity, "qty", 2**64, "exceeds the largest quantity"),
        ({"qty": 1.0}, hb.InvalidQuantity, "qty", 1.0, "qty 1.0 must be a non-negative"),
        ({"qty": 0}, hb.InvalidQuantity, "qty", 0, "qty"),
        ({"qty": None}, hb.InvalidQuantity, "qty", None, "qty is required"),
        ({"price_ticks": True}, hb.InvalidPrice, "price_ticks", True, "price_ticks True"),
        ({"price_ticks": 2**62}, hb.InvalidPrice, "price_ticks", 2**62, "within ±(2^62 - 1)"),
        ({"price_ticks": "100"}, hb.InvalidPrice, "price_ticks", "100", "price_ticks '100'"),
        ({"price_ticks": None}, hb.InvalidPrice, "price", None, "price"),
        ({"order_id": 0}, hb.InvalidOrder, "order_id", 0, "order_id 0 must be an integer"),
        ({"order_id": -5}, hb.InvalidOrder, "order_id", -5, "order_id -5 must be"),
        ({"order_id": True}, hb.InvalidOrder, "order_id", True, "order_id True must be"),
        ({"order_id": 1}, hb.DuplicateOrderId, "order_id", 1, "1"),
        ({"account": -1}, hb.InvalidOrder, "account", -1, "account -1 must be an integer"),
        ({"account": 2**32}, hb.InvalidOrder, "account", 2**32, "0..=4294967295"),
        ({"side": "hold"}, hb.InvalidOrder, "side", "hold", "side 'hold' is not one of"),
        ({"side": 1}, hb.InvalidOrder, "side", 1, "side 1 is not one of buy, sell"),
        ({"tif": "day"}, hb.InvalidOrder, "tif", "day", "tif 'day' is not one of"),
        ({"order_type": "stop"}, hb.InvalidOrder, "order_type", "stop", "order_type 'stop'"),
    ],
)
def test_submit_errors_name_field_and_value(
    kwargs: dict[str, Any], exc: type[Exception], field: str, value: Any, message: str
) -> None:
    b = _book()
    b.submit("sell", price_ticks=10_100, qty=1, order_id=1)
    before = _state(b)
    call: dict[str, Any] = {"side": "buy", "price_ticks": 10_000, "qty": 3, "order_id": 2}
    call.update(kwargs)
    with pytest.raises(exc) as info:
        b.submit(**call)
    err = info.value
    assert message in str(err)
    assert err.field == field  # type: ignore[attr-defined]
    assert err.value == value  # type: ignore[attr-defined]
    assert type(err.value) is type(value)  # type: ignore[attr-defined]
    assert _state(b) == before
    assert len(b) == 1


def test_submit_lot_size_goes_through_the_fast_path_and_its_errors() -> None:
    b = hb.OrderBook("LOT", tick_size="0.01", lot_size=100, clock="manual")
    r = b.submit("buy", price_ticks=100, qty=300, order_id=1)
    assert (r.remaining_qty, b.volume_at(price_ticks=100)) == (300, 300)
    with pytest.raises(hb.InvalidQuantity, match="qty 250 is not a multiple of lot_size 100"):
        b.submit("buy", price_ticks=100, qty=250, order_id=2)
    assert len(b) == 1


# --------------------------------------------------------------------------- cancel/modify


def test_cancel_argument_parsing_matches_pyo3() -> None:
    b = _book()
    b.submit("buy", price_ticks=100, qty=1, order_id=1)
    b.submit("buy", price_ticks=100, qty=1, order_id=2)
    b.submit("buy", price_ticks=100, qty=1, order_id=3)
    assert b.cancel(1).order_id == 1
    assert b.cancel(order_id=2).order_id == 2
    assert b.cancel(**{_runtime("order_id"): 3}).status == "cancelled"
    assert len(b) == 0
    for call, message in [
        (lambda: b.cancel(), "missing 1 required positional argument: 'order_id'"),
        (lambda: b.cancel(1, 2), "takes 1 positional arguments but 2 were given"),
        (lambda: b.cancel(x=1), "got an unexpected keyword argument 'x'"),
        (lambda: b.cancel(order_id=1, x=2), "got an unexpected keyword argument 'x'"),
        (lambda: b.cancel(1, order_id=1), "got multiple values for argument 'order_id'"),
    ]:
        # PyO3's messages, whole (the method's qualified name first).
        with pytest.raises(TypeError, match="^" + re.escape("OrderBook.cancel() " + message)):
            call()
    with pytest.raises(TypeError):
        hb.OrderBook.cancel(object(), 1)  # type: ignore[arg-type]
    assert hb.OrderBook.cancel.__text_signature__ == "($self, order_id)"


@pytest.mark.parametrize(
    ("order_id", "exc", "message"),
    [
        (5, hb.UnknownOrder, "order_id 5 is not resting on the book"),
        (-1, hb.UnknownOrder, "order_id -1 is not resting on the book"),
        (2**70, hb.UnknownOrder, f"order_id {2**70} is not resting"),
        (None, hb.InvalidOrder, "order_id None must be an integer"),
        (True, hb.InvalidOrder, "order_id True must be an integer"),
        (1.0, hb.InvalidOrder, "order_id 1.0 must be an integer"),
    ],
)
def test_cancel_errors(order_id: Any, exc: type[Exception], message: str) -> None:
    b = _book()
    b.submit("buy", price_ticks=100, qty=1, order_id=1)
    with pytest.raises(exc, match=re.escape(message)) as info:
        b.cancel(order_id)
    assert info.value.field == "order_id"  # type: ignore[attr-defined]
    assert info.value.value == order_id  # type: ignore[attr-defined]
    assert len(b) == 1


@pytest.mark.parametrize("oid", [1, _Int(1), np.int64(1), np.uint64(1)])
def test_cancel_accepts_any_integer(oid: Any) -> None:
    b = _book()
    b.submit("buy", price_ticks=100, qty=1, order_id=1)
    r = b.cancel(oid)
    assert (r.order_id, r.side, r.price_ticks, r.cancelled_qty) == (1, "buy", 100, 1)
    assert len(b) == 0


def test_modify_argument_parsing_matches_pyo3() -> None:
    b = _book()
    b.submit("buy", price_ticks=100, qty=10, order_id=1)
    assert b.modify(1, None, 8).remaining_qty == 8
    assert b.modify(1, "1.01").remaining_qty == 8
    assert b.modify(order_id=1, qty=6, price_ticks=None).remaining_qty == 6
    assert b.modify(1, **{_runtime("price_ticks"): 99}).remaining_qty == 6
    assert b.orders("buy")["price_ticks"].tolist() == [99]
    for call, message in [
        (lambda: b.modify(), "missing 1 required positional argument: 'order_id'"),
        (lambda: b.modify(1, 2, 3, 4), "takes from 1 to 3 positional arguments but 4 were given"),
        (lambda: b.modify(1, x=2), "got an unexpected keyword argument 'x'"),
        (lambda: b.modify(1, "1", price="2"), "got multiple values for argument 'price'"),
        (
            lambda: b.modify(1, 2, 3, price_ticks=4, order_id=3),
            "got multiple values for argument 'order_id'",
        ),
        (lambda: b.modify(qty=1), "missing 1 required positional argument: 'order_id'"),
    ]:
        with pytest.raises(TypeError, match="^" + re.escape("OrderBook.modify() " + message)):
            call()
    assert hb.OrderBook.modify.__text_signature__ == (
        "($self, order_id, price=None, qty=None, *, price_ticks=None)"
    )
    with pytest.raises(hb.InvalidQuantity, match="qty True") as info:
        b.modify(1, qty=True)
    assert info.value.value is True
    with pytest.raises(hb.UnknownOrder):
        b.modify(2, qty=1)
    assert b.orders("buy")["qty"].tolist() == [6]


# --------------------------------------------------------------------------- reports


def test_reports_are_independent_objects() -> None:
    b = _book()
    kept = [b.submit("buy", price_ticks=100 + i, qty=1 + i, order_id=1 + i) for i in range(300)]
    # Churn the free list: many short-lived reports after the kept ones.
    for i in range(2000):
        b.submit("sell", price_ticks=20_000 + i, qty=1, order_id=10_000 + i)
        b.cancel(10_000 + i)
    assert len({id(r) for r in kept}) == 300
    assert [(r.order_id, r.remaining_qty, r.status) for r in kept] == [
        (1 + i, 1 + i, "new") for i in range(300)
    ]
    sweep = b.submit("sell", qty=302, order_type="market")
    again = b.submit("sell", qty=297, order_type="market")
    assert [(f.maker_id, f.qty) for f in sweep.fills] == [(300, 300), (299, 2)]
    assert [(f.maker_id, f.qty) for f in again.fills] == [(299, 297)]
    assert (sweep.filled_qty, again.filled_qty) == (302, 297)


def test_report_type_reference_count_is_balanced() -> None:
    """Each report holds one reference to its (heap) type, released when it dies."""
    b = _book()
    kept = [b.submit("buy", price_ticks=100, qty=1) for _ in range(10)]
    del kept
    gc.collect()
    before = sys.getrefcount(hb.ExecutionReport)
    kept = [b.submit("buy", price_ticks=100, qty=1) for _ in range(100)]
    kept += [b.modify(r.order_id, qty=2) for r in kept[:50]]
    kept += [b.cancel(r.order_id) for r in kept[:50]]
    during = sys.getrefcount(hb.ExecutionReport)  # (not inside `assert`: pytest keeps a ref)
    assert during == before + 200
    for _ in range(5000):
        b.cancel(b.submit("buy", price_ticks=100, qty=1).order_id)
    del kept
    gc.collect()
    after = sys.getrefcount(hb.ExecutionReport)
    assert after == before


def test_reports_cross_threads() -> None:
    """Reports made on other threads and dropped on the main one (the free list is shared)."""
    b = _book()
    made: list[hb.ExecutionReport] = []
    lock = threading.Lock()

    def work(base: int) -> None:
        for i in range(500):
            with lock:
                made.append(b.submit("buy", price_ticks=100, qty=1, order_id=base + i))

    threads = [threading.Thread(target=work, args=(k * 1000 + 1,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.order_id for r in made) == sorted(
        k * 1000 + 1 + i for k in range(3) for i in range(500)
    )
    made.clear()
    gc.collect()
    assert b.submit("buy", price_ticks=100, qty=1, order_id=9999).order_id == 9999
    assert len(b) == 1501


@pytest.mark.parametrize(
    "n",
    [1, 7, 255, 256, 2**15 - 1, 2**15, 2**30 - 1, 2**30, 2**30 + 1, 2**31, 2**45 + 3, 2**47],
)
def test_ints_of_every_size_are_read_exactly(n: int) -> None:
    """Small ints are read from the int object itself, larger ones through the C API."""
    b = hb.OrderBook("INT", tick_size="1", clock="manual")
    r = b.submit("buy", price_ticks=n, qty=n, order_id=n)
    assert (r.order_id, r.remaining_qty) == (n, n)
    assert b.orders("buy")[["order_id", "price_ticks", "qty"]].tolist() == [(n, n, n)]
    r = b.submit("sell", price_ticks=-n, qty=n, order_id=n + 1)
    assert r.filled_qty == n
    assert r.fills[0].price_ticks == n
    b.submit("sell", price_ticks=n + 5, qty=1, order_id=n + 2)
    b.submit("buy", price_ticks=-n, qty=3, order_id=n + 3)
    assert b.orders("buy")["price_ticks"].tolist() == [-n]
    assert b.cancel(n + 2).cancelled_qty == 1
    assert b.cancel(n + 3).cancelled_qty == 3
    assert len(b) == 0


def _same_names_two_arities(b: hb.OrderBook) -> hb.ExecutionReport:
    r = b.submit("buy", price_ticks=100, qty=1)
    b.submit("buy", None, 5, price_ticks=100, qty=1)  # 'qty' given twice
    return r


def test_keyword_layout_cache_checks_positionals() -> None:
    """Call sites in one code object share their keyword-name tuple: the cached layout of
    ('price_ticks', 'qty') from a call with one positional must not be used for a call
    with three, where 'qty' is also positional."""
    consts = _same_names_two_arities.__code__.co_consts
    assert consts.count(("price_ticks", "qty")) == 1
    b = _book()
    for _ in range(3):
        with pytest.raises(TypeError, match=re.escape("multiple values for argument 'qty'")):
            _same_names_two_arities(b)
    assert len(b) == 3
    # Many call shapes (more than the cache holds), each twice, all placed correctly.
    for i in range(40):
        names = ["price_ticks", "qty", "order_id", "account", "tif"][: 2 + i % 4]
        kwargs: dict[str, Any] = {
            "price_ticks": 200 + i,
            "qty": 1 + i,
            "order_id": 1000 + i,
            "account": 7,
            "tif": "gtc",
        }
        picked = {n: kwargs[n] for n in (names if i % 2 else reversed(names))}
        r = b.submit("sell", **picked)
        assert r.remaining_qty == 1 + i
        if "order_id" in picked:
            assert r.order_id == 1000 + i
    assert len(b) == 43
