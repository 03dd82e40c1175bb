"""Batch calls: ``submit_batch`` (``ORDER_DTYPE``) and ``apply_batch`` (``COMMAND_DTYPE``).

Results must equal the per-call API on the same flow; an invalid array or row is refused
as a whole (nothing applied, the error names the row and the column); business outcomes
are per-row statuses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hftbook as hb
from book_state import snapshot

ADD, CANCEL, MODIFY = 0, 1, 2
SIDES = ("buy", "sell")
TIFS = ("gtc", "ioc", "fok")
STPS = (None, "none", "cancel_newest", "cancel_oldest", "cancel_both")


def new_book(**kwargs: object) -> hb.OrderBook:
    kwargs.setdefault("tick_size", "0.01")
    b = hb.OrderBook("B", clock="manual", **kwargs)
    b.set_time(1_000)
    return b


def commands(rows: list[dict[str, int]], dtype: np.dtype = hb.COMMAND_DTYPE) -> np.ndarray:
    a = np.zeros(len(rows), dtype=dtype)
    for i, row in enumerate(rows):
        for k, v in row.items():
            a[k][i] = v
    return a


def fills_of(arr: np.ndarray) -> list[tuple[int, ...]]:
    cols = [
        "seq",
        "timestamp",
        "maker_id",
        "taker_id",
        "price_ticks",
        "qty",
        "maker_remaining",
        "taker_side",
    ]
    return [tuple(int(r[c]) for c in cols) for r in arr]


def report_fills(r: hb.ExecutionReport) -> list[tuple[int, ...]]:
    return [
        (
            f.seq,
            f.timestamp,
            f.maker_id,
            f.taker_id,
            f.price_ticks,
            f.qty,
            f.maker_remaining,
            0 if f.taker_side == "buy" else 1,
        )
        for f in r.fills
    ]


def per_call(book: hb.OrderBook, row: np.void) -> tuple[int, str, str, int, int, list]:
    """Apply one command row through the per-call API; the outcome in batch terms."""
    kind = int(row["kind"]) if "kind" in row.dtype.names else ADD
    oid = int(row["order_id"])
    try:
        if kind == ADD:
            stp = int(row["stp"])
            market = row["order_type"] == 1  # a market row's price_ticks 0 means no price
            r = book.submit(
                SIDES[row["side"]],
                price_ticks=None if market and row["price_ticks"] == 0 else int(row["price_ticks"]),
                qty=int(row["qty"]),
                order_type=("limit", "market")[row["order_type"]],
                tif=TIFS[row["tif"]],
                post_only=bool(row["post_only"]),
                display_qty=int(row["display_qty"]) or None,
                account=int(row["account"]),
                stp=STPS[stp],
                order_id=oid or None,
            )
        elif kind == CANCEL:
            r = book.cancel(oid)
        else:
            r = book.modify(oid, price_ticks=int(row["price_ticks"]), qty=int(row["qty"]) or None)
    except hb.UnknownOrder:
        return oid, "rejected", "unknown_order", 0, 0, []
    except hb.DuplicateOrderId:
        return oid, "rejected", "duplicate_order_id", 0, 0, []
    return r.order_id, r.status, r.reason or "", r.filled_qty, r.remaining_qty, report_fills(r)


def assert_same_as_per_call(
    cmds: np.ndarray, run: Callable[[hb.OrderBook, np.ndarray], hb.BatchResult], **kw: object
) -> hb.BatchResult:
    batch_book, call_book = new_book(**kw), new_book(**kw)
    res = run(batch_book, cmds)
    assert isinstance(res, hb.BatchResult)
    assert len(res) == len(cmds)
    for arr, dt in [
        (res.order_ids, np.uint64),
        (res.status, np.uint8),
        (res.reason, np.uint8),
        (res.filled_qty, np.uint64),
        (res.remaining_qty, np.uint64),
    ]:
        assert arr.dtype == dt
        assert arr.shape == (len(cmds),)
    assert res.fills.dtype == hb.FILL_DTYPE
    all_fills = []
    for i, row in enumerate(cmds):
        oid, status, reason, filled, remaining, fills = per_call(call_book, row)
        got = (
            int(res.order_ids[i]),
            hb.STATUS_NAMES[res.status[i]],
            hb.REASON_NAMES[res.reason[i]],
            int(res.filled_qty[i]),
            int(res.remaining_qty[i]),
        )
        assert got == (oid, status, reason, filled, remaining), f"row {i}: {row}"
        all_fills += fills
    assert fills_of(res.fills) == all_fills
    assert snapshot(batch_book) == snapshot(call_book)
    batch_book.check_invariants()
    return res


# --------------------------------------------------------------------------- equivalence


def test_submit_batch_matches_per_call() -> None:
    rows = [
        {"side": 1, "price_ticks": 10_010, "qty": 5, "order_id": 1},
        {"side": 1, "price_ticks": 10_012, "qty": 9, "display_qty": 3, "order_id": 2},
        {"side": 1, "price_ticks": 10_010, "qty": 4},
        {"side": 0, "price_ticks": 10_000, "qty": 6},
        {"side": 0, "price_ticks": 10_011, "qty": 7},  # takes 5 + 2 at 10_010
        {"side": 0, "price_ticks": 10_012, "qty": 50, "tif": 2},  # FOK not fillable
        {"side": 0, "price_ticks": 10_012, "qty": 5, "tif": 1},  # IOC over two levels
        {"side": 1, "price_ticks": 9_990, "qty": 1, "post_only": 1},  # would take
        {"side": 0, "qty": 3, "order_type": 1, "tif": 1},  # market: iceberg replenished
        {"side": 1, "price_ticks": 10_020, "qty": 2, "account": 5, "order_id": 30},
        {"side": 0, "price_ticks": 10_020, "qty": 9, "account": 5, "stp": 3},  # oldest
        {"side": 0, "price_ticks": 10_000, "qty": 1, "order_id": 1},  # 1 is filled: reuse
    ]
    res = assert_same_as_per_call(commands(rows, hb.ORDER_DTYPE), lambda b, a: b.submit_batch(a))
    assert res.status.tolist() == [0, 0, 0, 0, 2, 4, 2, 4, 2, 0, 1, 0]


def test_apply_batch_matches_per_call_mixed_flow() -> None:
    rows = [
        {"kind": ADD, "side": 0, "price_ticks": 100, "qty": 10, "order_id": 7},
        {"kind": ADD, "side": 0, "price_ticks": 101, "qty": 7, "order_id": 8},
        {"kind": ADD, "side": 1, "price_ticks": 105, "qty": 5},
        {"kind": MODIFY, "order_id": 7, "price_ticks": 100, "qty": 4},  # keeps priority
        {"kind": MODIFY, "order_id": 8, "price_ticks": 106, "qty": 0},  # crosses; qty kept
        {"kind": CANCEL, "order_id": 7},
        {"kind": CANCEL, "order_id": 7},  # not resting any more
        {"kind": MODIFY, "order_id": 99, "price_ticks": 1, "qty": 1},  # unknown
        {"kind": ADD, "side": 1, "price_ticks": 106, "qty": 1, "order_id": 8},  # 8 is live
        {"kind": ADD, "side": 1, "qty": 3, "order_type": 1, "tif": 1},
    ]
    res = assert_same_as_per_call(commands(rows), lambda b, a: b.apply_batch(a))
    names = [hb.STATUS_NAMES[s] for s in res.status]
    assert names[5:9] == ["cancelled", "rejected", "rejected", "rejected"]
    assert [hb.REASON_NAMES[r] for r in res.reason[5:9]] == [
        "requested",
        "unknown_order",
        "unknown_order",
        "duplicate_order_id",
    ]


@st.composite
def flows(draw: st.DrawFn) -> list[dict[str, int]]:
    n = draw(st.integers(1, 60))
    rows = []
    for _ in range(n):
        kind = draw(st.sampled_from([ADD, ADD, ADD, CANCEL, MODIFY]))
        if kind == ADD:
            qty = draw(st.integers(1, 20))
            order_type = draw(st.sampled_from([0, 0, 0, 1]))
            tif = (
                draw(st.sampled_from([0, 0, 1, 2]))
                if order_type == 0
                else draw(st.sampled_from([1, 2]))
            )
            rests = order_type == 0 and tif == 0
            rows.append(
                {
                    "kind": ADD,
                    "side": draw(st.integers(0, 1)),
                    # A market order takes no price: 0.
                    "price_ticks": draw(st.integers(95, 105)) if order_type == 0 else 0,
                    "qty": qty,
                    "display_qty": draw(st.integers(0, qty)) if rests else 0,
                    "order_type": order_type,
                    "tif": tif,
                    "post_only": int(rests and draw(st.integers(0, 4)) == 0),
                    "account": draw(st.sampled_from([0, 1, 2])),
                    "stp": draw(st.integers(0, 4)),
                    "order_id": draw(st.sampled_from([0, 0, 0, *range(1, 12)])),
                }
            )
        else:
            rows.append(
                {
                    "kind": kind,
                    "order_id": draw(st.integers(0, 15)),
                    "price_ticks": draw(st.integers(95, 105)),
                    "qty": draw(st.integers(0, 20)),
                }
            )
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=flows())
def test_apply_batch_matches_per_call_random(rows: list[dict[str, int]]) -> None:
    assert_same_as_per_call(commands(rows), lambda b, a: b.apply_batch(a))


@settings(max_examples=40, deadline=None)
@given(rows=flows())
def test_submit_batch_equals_apply_batch_of_adds(rows: list[dict[str, int]]) -> None:
    adds = [r for r in rows if r["kind"] == ADD]
    orders = commands([{k: v for k, v in r.items() if k != "kind"} for r in adds], hb.ORDER_DTYPE)
    a, b = new_book(), new_book()
    ra, rb = a.submit_batch(orders), b.apply_batch(commands(adds))
    for col in ("order_ids", "status", "reason", "filled_qty", "remaining_qty"):
        assert getattr(ra, col).tolist() == getattr(rb, col).tolist()
    assert fills_of(ra.fills) == fills_of(rb.fills)
    assert snapshot(a) == snapshot(b)


def test_submit_batch_ignores_no_kind_column() -> None:
    """ORDER_DTYPE has no kind: byte 36 (padding there) must not turn rows into cancels."""
    raw = commands([{"side": 0, "price_ticks": 5, "qty": 1}] * 3, hb.ORDER_DTYPE)
    raw.view(np.uint8).reshape(3, 48)[:, 36] = CANCEL
    b = new_book()
    assert b.submit_batch(raw).status.tolist() == [0, 0, 0]
    assert len(b) == 3


def test_batch_continues_a_per_call_book() -> None:
    b = new_book()
    b.submit("sell", price_ticks=10, qty=5, order_id=1)
    res = b.apply_batch(
        commands(
            [
                {"kind": ADD, "side": 0, "price_ticks": 10, "qty": 2},
                {"kind": CANCEL, "order_id": 1},
            ]
        )
    )
    assert res.order_ids.tolist() == [2, 1]  # assigned ids continue the book's counter
    assert res.filled_qty.tolist() == [2, 0]
    assert fills_of(res.fills)[0][2:6] == (1, 2, 10, 2)
    assert len(b) == 0
    assert b.submit("buy", price_ticks=1, qty=1).order_id == 3


# --------------------------------------------------------------------------- lot size


def test_lot_size_conversion() -> None:
    rows = [
        {"kind": ADD, "side": 1, "price_ticks": 500, "qty": 300, "display_qty": 100, "order_id": 1},
        {"kind": ADD, "side": 0, "price_ticks": 500, "qty": 250},
        {"kind": MODIFY, "order_id": 1, "price_ticks": 500, "qty": 20},
        {"kind": ADD, "side": 0, "price_ticks": 500, "qty": 100, "tif": 1},
    ]
    res = assert_same_as_per_call(
        commands(rows), lambda b, a: b.apply_batch(a), lot_size=10, min_qty=10
    )
    assert res.filled_qty.tolist() == [0, 250, 0, 20]
    assert res.remaining_qty.tolist() == [300, 0, 20, 0]
    assert res.fills["qty"].tolist() == [100, 100, 50, 20]
    assert res.fills["maker_remaining"].tolist() == [200, 100, 50, 0]


@pytest.mark.parametrize(("field", "value"), [("qty", 25), ("display_qty", 5)])
def test_lot_size_off_grid_row(field: str, value: int) -> None:
    b = new_book(lot_size=10)
    b.submit("buy", price_ticks=1, qty=10)
    before = snapshot(b)
    a = commands([{"side": 0, "price_ticks": 2, "qty": 30}] * 3, hb.ORDER_DTYPE)
    a[field][1] = value
    with pytest.raises(hb.InvalidQuantity) as info:
        b.submit_batch(a)
    e = info.value
    assert (e.row, e.field, e.value) == (1, field, value)
    assert "row 1" in str(e)
    assert f"{field} {value} is not a multiple of lot_size 10" in str(e)
    assert snapshot(b) == before


def test_lot_size_limits_in_units() -> None:
    b = new_book(lot_size=10, min_qty=20, max_qty=100)
    a = commands(
        [{"side": 0, "price_ticks": 2, "qty": 20}, {"side": 0, "price_ticks": 2, "qty": 10}],
        hb.ORDER_DTYPE,
    )
    with pytest.raises(hb.InvalidQuantity) as info:
        b.submit_batch(a)
    assert (info.value.row, info.value.field) == (1, "qty")
    assert "qty 10 is below min_qty 20" in str(info.value)
    assert len(b) == 0


# --------------------------------------------------------------------------- validation


@pytest.fixture
def book() -> hb.OrderBook:
    b = new_book()
    b.submit("buy", price_ticks=100, qty=5, order_id=1)
    b.submit("sell", price_ticks=110, qty=5, order_id=2, display_qty=2)
    return b


def refused(
    book: hb.OrderBook,
    exc: type[hb.HftbookError],
    call: Callable[[], object],
    *,
    field: str,
    row: int | None,
    words: tuple[str, ...] = (),
) -> hb.HftbookError:
    before = snapshot(book)
    with pytest.raises(exc) as info:
        call()
    e = info.value
    assert type(e) is exc, f"{type(e).__name__}: {e}"
    assert isinstance(e, ValueError)
    assert (e.field, e.row) == (field, row), str(e)
    for w in words:
        assert w in str(e), (w, str(e))
    assert snapshot(book) == before
    book.check_invariants()
    return e


@pytest.mark.parametrize("method", ["submit_batch", "apply_batch"])
def test_wrong_dtype(book: hb.OrderBook, method: str) -> None:
    other = hb.COMMAND_DTYPE if method == "submit_batch" else hb.ORDER_DTYPE
    expected = "ORDER_DTYPE" if method == "submit_batch" else "COMMAND_DTYPE"
    for arr in (
        np.zeros(3, dtype=other),
        np.zeros(3, dtype=np.float64),
        np.zeros(3, dtype=[("qty", "<u8")]),
        np.zeros(3, dtype="V48"),
    ):
        refused(
            book,
            hb.InvalidOrder,
            lambda arr=arr: getattr(book, method)(arr),
            field="array",
            row=None,
            words=(f"dtype hftbook.{expected}",),
        )


@pytest.mark.parametrize("method", ["submit_batch", "apply_batch"])
@pytest.mark.parametrize("value", [[(0, 100, 1)], (), None, "orders", b"x" * 48, 3])
def test_not_an_ndarray(book: hb.OrderBook, method: str, value: object) -> None:
    refused(
        book,
        hb.InvalidOrder,
        lambda: getattr(book, method)(value),
        field="array",
        row=None,
        words=("numpy array",),
    )


def test_not_one_dimensional(book: hb.OrderBook) -> None:
    a = commands([{"side": 0, "price_ticks": 1, "qty": 1}] * 4, hb.ORDER_DTYPE)
    refused(
        book,
        hb.InvalidOrder,
        lambda: book.submit_batch(a.reshape(2, 2)),
        field="array",
        row=None,
        words=("1-D", "2 dimensions"),
    )
    refused(book, hb.InvalidOrder, lambda: book.submit_batch(a[0]), field="array", row=None)


def test_not_contiguous(book: hb.OrderBook) -> None:
    a = commands([{"kind": CANCEL, "order_id": 1}] * 6)
    refused(
        book,
        hb.InvalidOrder,
        lambda: book.apply_batch(a[::2]),
        field="array",
        row=None,
        words=("contiguous",),
    )
    refused(
        book,
        hb.InvalidOrder,
        lambda: book.apply_batch(a[::-1]),
        field="array",
        row=None,
        words=("contiguous",),
    )
    res = book.apply_batch(np.ascontiguousarray(a[::2]))
    assert hb.STATUS_NAMES[res.status[0]] == "cancelled"


def test_misaligned() -> None:
    """The rows are copied out of the array before the batch runs, so an array at an odd
    address is read like any other."""
    book = new_book()
    buf = np.zeros(4 * 48 + 1, dtype=np.uint8)
    a = buf[1:].view(hb.ORDER_DTYPE)
    assert a.ctypes.data % 8 != 0
    a["qty"] = [1, 2, 3, 4]
    a["price_ticks"] = [50, 51, 52, 53]
    a["order_id"] = [11, 12, 13, 14]
    res = book.submit_batch(a)
    assert res.status.tolist() == [0, 0, 0, 0]
    assert [(o["order_id"], o["price_ticks"], o["qty"]) for o in book.orders("buy")] == [
        (14, 53, 4),
        (13, 52, 3),
        (12, 51, 2),
        (11, 50, 1),
    ]
    other = new_book()
    other.submit_batch(a.copy())
    assert snapshot(other) == snapshot(book)


# ------------------------------------------------------------------ records as bytes


def rows_bytes(a: np.ndarray) -> np.ndarray:
    """The records of a structured array as a (rows, itemsize) uint8 matrix."""
    return np.frombuffer(a.tobytes(), dtype=np.uint8).reshape(len(a), a.dtype.itemsize)


def test_command_arrays_are_fully_initialised_and_round_trip_as_bytes() -> None:
    """Every byte of a command array the core builds is set: the same workload gives the
    same bytes, and the padding bytes (42..48) are zero. (The core's ``Command`` used to end
    its fields at byte 44 and leave 4 uninitialised bytes per row.)"""
    from hftbook._core import workload_flow, workload_w1, workload_w2

    for make in (
        lambda: workload_w1(5_000, 3),
        lambda: workload_w2(5_000, 3)[1],
        lambda: workload_flow("swing_25", 2_000, 3),
    ):
        a, b = make(), make()
        assert a.dtype == hb.COMMAND_DTYPE
        assert a.tobytes() == b.tobytes()
        assert not rows_bytes(a)[:, 42:].any()
    # The bytes are the records: rebuilt from them, the batch does the same.
    cmds = workload_w2(5_000, 3)[1]
    again = np.frombuffer(bytearray(cmds.tobytes()), dtype=hb.COMMAND_DTYPE)
    b1, b2 = new_book(), new_book()
    r1, r2 = b1.apply_batch(cmds), b2.apply_batch(again)
    assert r1.fills.tobytes() == r2.fills.tobytes()
    assert snapshot(b1) == snapshot(b2)


def test_fill_level_and_order_arrays_are_fully_initialised() -> None:
    """Fills, depth and L3 arrays built by the core are the same bytes for the same flow,
    and a fill's padding bytes (57..64) are zero."""
    from hftbook._core import workload_w2

    pre, ops = workload_w2(20_000, 9)
    books = [new_book(), new_book()]
    results = []
    for b in books:
        b.apply_batch(pre)
        results.append(b.apply_batch(ops))
    f1, f2 = (r.fills for r in results)
    assert len(f1) > 1_000
    assert f1.dtype == hb.FILL_DTYPE
    assert f1.tobytes() == f2.tobytes()
    assert not rows_bytes(f1)[:, 57:].any()
    d1, d2 = (b.depth(50) for b in books)
    assert d1.bids.dtype == hb.LEVEL_DTYPE
    assert d1.bids.dtype.itemsize == 28
    assert d1.bids.tobytes() == d2.bids.tobytes()
    assert d1.asks.tobytes() == d2.asks.tobytes()
    o1, o2 = (b.orders("sell") for b in books)
    assert o1.dtype == hb.BOOK_ORDER_DTYPE
    assert o1.dtype.itemsize == 60
    assert o1.tobytes() == o2.tobytes()
    # The fields land where the dtype says: the first L3 row is the best ask's head.
    head = books[0].order(int(o1["order_id"][0]))
    assert head is not None
    assert (o1["price_ticks"][0], o1["qty"][0]) == (head.price_ticks, head.qty)
    assert o1["price_ticks"][0] == d1.asks["price_ticks"][0]


# ------------------------------------------------------------------ no room to rest


def test_no_room_to_rest_raises_capacity_error_and_changes_nothing() -> None:
    """When the order arena cannot grow (simulated with a one-chunk limit: 4096 orders), a
    new order is refused before it trades with a ``CapacityError`` naming the arena; batch
    rows get ``no_room``. (The book used to match the order, fail to store its residual
    silently, and report it resting.)"""
    book = new_book()
    book._set_arena_chunk_limit(1)
    n = 4096
    orders = np.zeros(n, dtype=hb.ORDER_DTYPE)
    orders["order_id"] = np.arange(1, n + 1)
    orders["side"] = np.arange(n) % 2
    orders["price_ticks"] = np.where(orders["side"] == 0, 900, 1000) + np.arange(n) % 10
    orders["qty"] = 5
    assert (book.submit_batch(orders).status == 0).all()
    before = snapshot(book)
    for call in (
        lambda: book.submit("buy", price_ticks=950, qty=1),
        # Would sweep the 1000 level, then rest: it does not trade either.
        lambda: book.submit("buy", price_ticks=1000, qty=1_000_000),
        lambda: book.submit("sell", price_ticks=1001, qty=1, order_id=99_999),
    ):
        with pytest.raises(hb.CapacityError) as err:
            call()
        assert "order arena" in str(err.value)
        assert isinstance(err.value, MemoryError)
        assert snapshot(book) == before
    extra = orders[:1].copy()
    extra["order_id"] = 0
    res = book.submit_batch(extra)
    assert [hb.STATUS_NAMES[s] for s in res.status] == ["rejected"]
    assert [hb.REASON_NAMES[r] for r in res.reason] == ["no_room"]
    assert snapshot(book) == before
    # A modify that re-queues the order reuses its own slot.
    assert book.modify(3, price_ticks=905).status == "new"
    # A cancel makes room for one order.
    book.cancel(4)
    assert book.submit("buy", price_ticks=950, qty=1).status == "new"
    with pytest.raises(hb.CapacityError):
        book.submit("buy", price_ticks=950, qty=1)
    book._set_arena_chunk_limit(None)
    assert book.submit("buy", price_ticks=950, qty=1).status == "new"
    book.check_invariants()
    assert len(book) == n + 1


@pytest.mark.parametrize(
    ("column", "value", "exc", "field"),
    [
        ("side", 2, hb.InvalidOrder, "side"),
        ("side", 255, hb.InvalidOrder, "side"),
        ("order_type", 2, hb.InvalidOrder, "order_type"),
        ("tif", 3, hb.InvalidOrder, "tif"),
        ("stp", 5, hb.InvalidOrder, "stp"),
        ("post_only", 2, hb.InvalidOrder, "post_only"),
        ("qty", 0, hb.InvalidQuantity, "qty"),
        ("display_qty", 11, hb.InvalidQuantity, "display_qty"),
        ("price_ticks", 2**62, hb.InvalidPrice, "price_ticks"),
        ("price_ticks", -(2**62), hb.InvalidPrice, "price_ticks"),
        ("price_ticks", np.iinfo(np.int64).min, hb.InvalidPrice, "price_ticks"),
    ],
)
@pytest.mark.parametrize("method", ["submit_batch", "apply_batch"])
def test_bad_row_refuses_the_whole_batch(
    book: hb.OrderBook, method: str, column: str, value: int, exc: type, field: str
) -> None:
    dtype = hb.ORDER_DTYPE if method == "submit_batch" else hb.COMMAND_DTYPE
    # Rows before the bad one would trade and rest: none of them may be applied.
    rows = [{"side": 0, "price_ticks": 110, "qty": 10}, {"side": 1, "price_ticks": 90, "qty": 3}]
    rows += [{"side": i % 2, "price_ticks": 95 + i, "qty": 10} for i in range(8)]
    a = commands(rows, dtype)
    a[column][7] = value
    e = refused(
        book,
        exc,
        lambda: getattr(book, method)(a),
        field=field,
        row=7,
        words=("row 7", field, str(value)),
    )
    assert e.value == value


def test_bad_kind(book: hb.OrderBook) -> None:
    a = commands([{"kind": CANCEL, "order_id": 1}, {"kind": 3, "order_id": 2}])
    e = refused(
        book,
        hb.InvalidOrder,
        lambda: book.apply_batch(a),
        field="kind",
        row=1,
        words=("row 1", "kind", "3"),
    )
    assert e.value == 3


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"side": 0, "price_ticks": 5, "qty": 5, "tif": 1, "post_only": 1}, "post_only"),
        ({"side": 0, "qty": 5, "order_type": 1, "tif": 1, "post_only": 1}, "post_only"),
        ({"side": 0, "price_ticks": 5, "qty": 5, "tif": 2, "display_qty": 1}, "display_qty"),
        ({"side": 0, "qty": 5, "order_type": 1, "tif": 1, "display_qty": 1}, "display_qty"),
    ],
)
def test_bad_combination_row(book: hb.OrderBook, row: dict[str, int], field: str) -> None:
    a = commands([{"side": 0, "price_ticks": 5, "qty": 1}, row], hb.ORDER_DTYPE)
    refused(
        book,
        hb.InvalidOrder,
        lambda: book.submit_batch(a),
        field=field,
        row=1,
        words=("row 1", field),
    )


@pytest.mark.parametrize("n", [2, 20_000])  # short: exact checks; long: the fast test first
@pytest.mark.parametrize("method", ["submit_batch", "apply_batch"])
def test_market_row_with_a_price_is_refused(book: hb.OrderBook, method: str, n: int) -> None:
    """A market order takes no price: price_ticks must be 0 on a market row."""
    dtype = hb.ORDER_DTYPE if method == "submit_batch" else hb.COMMAND_DTYPE
    a = np.zeros(n, dtype=dtype)
    a["side"] = np.arange(n) % 2
    a["price_ticks"] = np.where(a["side"] == 0, 90, 120)
    a["qty"] = 1
    bad = n - 1 if n == 2 else n // 2 + 3
    a["order_type"][bad], a["tif"][bad], a["price_ticks"][bad] = 1, 1, 105
    e = refused(
        book,
        hb.InvalidOrder,
        lambda: getattr(book, method)(a),
        field="price_ticks",
        row=bad,
        words=(f"row {bad}", "price_ticks", "market order", "tif ioc"),
    )
    assert e.value == 105
    a["price_ticks"][bad] = 0  # the same row without a price is a valid market order
    res = getattr(book, method)(a)
    assert len(res.status) == n


def test_bad_modify_row(book: hb.OrderBook) -> None:
    a = commands(
        [
            {"kind": CANCEL, "order_id": 1},
            {"kind": MODIFY, "order_id": 2, "price_ticks": 2**62, "qty": 1},
        ]
    )
    refused(book, hb.InvalidPrice, lambda: book.apply_batch(a), field="price_ticks", row=1)
    limited = new_book(max_qty=10)
    limited.submit("buy", price_ticks=1, qty=5, order_id=1)
    a = commands([{"kind": MODIFY, "order_id": 1, "price_ticks": 1, "qty": 11}])
    refused(
        limited,
        hb.InvalidQuantity,
        lambda: limited.apply_batch(a),
        field="qty",
        row=0,
        words=("qty 11 is above max_qty 10",),
    )


def test_bad_last_row_of_a_long_batch(book: hb.OrderBook) -> None:
    n = 20_000
    a = np.zeros(n, dtype=hb.COMMAND_DTYPE)
    a["side"] = np.arange(n) % 2
    a["price_ticks"] = np.where(a["side"] == 0, 90, 120) - (np.arange(n) % 7)
    a["qty"] = 1
    a["qty"][-1] = 0
    refused(book, hb.InvalidQuantity, lambda: book.apply_batch(a), field="qty", row=n - 1)


# --------------------------------------------------------------------------- per-row outcomes


def test_business_outcomes_are_row_statuses(book: hb.OrderBook) -> None:
    rows = [
        {"kind": ADD, "side": 0, "price_ticks": 110, "qty": 50, "tif": 2},  # FOK unfillable
        {"kind": ADD, "side": 0, "price_ticks": 110, "qty": 1, "post_only": 1},  # would take
        {"kind": CANCEL, "order_id": 999},  # unknown
        {"kind": MODIFY, "order_id": 999, "price_ticks": 5, "qty": 1},  # unknown
        {"kind": ADD, "side": 0, "price_ticks": 99, "qty": 1, "order_id": 1},  # 1 is live
        {"kind": ADD, "side": 0, "price_ticks": 110, "qty": 7, "tif": 1},  # IOC partial
        {"kind": ADD, "side": 1, "price_ticks": 105, "qty": 1, "account": 3, "order_id": 40},
        {"kind": ADD, "side": 0, "price_ticks": 105, "qty": 1, "account": 3},  # STP newest
        {"kind": ADD, "side": 0, "price_ticks": 101, "qty": 2, "tif": 2},  # nothing at 101
        {"kind": ADD, "side": 1, "qty": 2, "order_type": 1, "tif": 1},
    ]
    res = book.apply_batch(commands(rows))
    outcome = [
        (hb.STATUS_NAMES[s], hb.REASON_NAMES[r])
        for s, r in zip(res.status, res.reason, strict=True)
    ]
    assert outcome == [
        ("rejected", "fok_not_fillable"),
        ("rejected", "post_only_would_take"),
        ("rejected", "unknown_order"),
        ("rejected", "unknown_order"),
        ("rejected", "duplicate_order_id"),
        ("cancelled", "unfilled_ioc"),
        ("new", ""),
        ("cancelled", "self_trade"),
        ("rejected", "fok_not_fillable"),
        ("filled", ""),
    ]
    assert res.order_ids[2:5].tolist() == [999, 999, 1]
    assert res.filled_qty.tolist() == [0, 0, 0, 0, 0, 5, 0, 0, 0, 2]
    assert sorted(book.orders("buy")["order_id"].tolist()) == [1]
    assert book.order(1).qty == 3
    assert book.orders("sell")["order_id"].tolist() == [40]
    book.check_invariants()


def test_empty_arrays(book: hb.OrderBook) -> None:
    before = snapshot(book)
    for res in (
        book.submit_batch(np.zeros(0, dtype=hb.ORDER_DTYPE)),
        book.apply_batch(np.zeros(0, dtype=hb.COMMAND_DTYPE)),
    ):
        assert len(res) == 0
        assert res.order_ids.shape == (0,)
        assert res.status.dtype == np.uint8
        assert res.fills.dtype == hb.FILL_DTYPE
        assert len(res.fills) == 0
    assert snapshot(book) == before


def test_result_arrays_are_independent_of_the_input(book: hb.OrderBook) -> None:
    a = commands([{"side": 0, "price_ticks": 50, "qty": 3}], hb.ORDER_DTYPE)
    res = book.submit_batch(a)
    a["qty"] = 99
    assert res.remaining_qty.tolist() == [3]
    assert book.order(int(res.order_ids[0])).qty == 3


# --------------------------------------------------------------------------- size


def test_one_million_row_apply_batch() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    a = np.zeros(n, dtype=hb.COMMAND_DTYPE)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    kind = rng.choice([ADD, CANCEL, MODIFY], size=n, p=[0.7, 0.2, 0.1]).astype(np.uint8)
    side = rng.integers(0, 2, size=n, dtype=np.uint8)
    offset = rng.integers(-5, 50, size=n)
    a["kind"] = kind
    a["side"] = side
    a["price_ticks"] = np.where(side == 0, 10_000 - offset, 10_001 + offset)
    a["qty"] = rng.integers(1, 20, size=n)
    a["order_id"] = ids
    # cancels / modifies target earlier rows' ids (live, filled or never added)
    target = np.maximum(np.arange(1, n + 1) - rng.integers(1, 200, size=n), 1)
    a["order_id"] = np.where(kind == ADD, ids, target)
    a["qty"] = np.where(kind == CANCEL, 0, a["qty"])
    b = hb.OrderBook("BIG", tick_size="0.01")
    res = b.apply_batch(a)
    assert len(res) == n
    assert res.status.max() <= 4
    assert (res.order_ids == a["order_id"]).all()
    adds = kind == ADD
    assert set(np.unique(res.status[adds]).tolist()) <= {0, 1, 2, 3}
    assert set(np.unique(res.status[kind == CANCEL]).tolist()) == {3, 4}
    assert int(res.filled_qty.sum()) == int(res.fills["qty"].sum())
    assert len(res.fills) == b.trade_count > 0
    b.check_invariants()
    d = b.depth(1)
    assert d.bids["price_ticks"][0] < d.asks["price_ticks"][0]


def test_a_bad_code_lists_the_valid_codes_and_their_names() -> None:
    book = hb.OrderBook("X", tick_size="0.01")
    c = np.zeros(1, hb.COMMAND_DTYPE)
    c["qty"], c["price_ticks"], c["kind"] = 1, 100, 9
    want = r"kind.*code 9 is not valid \(valid: 0 add, 1 cancel, 2 modify\)"
    with pytest.raises(hb.InvalidOrder, match=want):
        book.apply_batch(c)
    c["kind"], c["tif"] = 0, 7
    with pytest.raises(hb.InvalidOrder, match=r"0 gtc, 1 ioc, 2 fok"):
        book.apply_batch(c)
