"""Concurrency: lock-free readers while a large ``apply_batch`` runs without the GIL, and
several Python threads calling into one book (they serialize or get a clean RuntimeError,
never a crash or a corrupted book). No timing assertions: every wait has a timeout only to
turn a hang into a failure."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

import hftbook as hb

pytestmark = pytest.mark.timeout(240)

JOIN_TIMEOUT = 180.0
ADD, CANCEL, MODIFY = 0, 1, 2


def flow(n: int, seed: int, first_id: int = 1) -> np.ndarray:
    """A busy mixed flow near the touch: adds (a third of them marketable), cancels and
    modifies of recent ids. The top of book moves on most rows."""
    rng = np.random.default_rng(seed)
    a = np.zeros(n, dtype=hb.COMMAND_DTYPE)
    row_ids = np.arange(first_id, first_id + n)
    kind = rng.choice([ADD, CANCEL, MODIFY], size=n, p=[0.7, 0.2, 0.1]).astype(np.uint8)
    side = rng.integers(0, 2, size=n, dtype=np.uint8)
    offset = rng.integers(-4, 12, size=n)  # negative offsets cross the spread
    a["kind"] = kind
    a["side"] = side
    a["price_ticks"] = np.where(side == 0, 10_000 - offset, 10_001 + offset)
    a["qty"] = np.where(kind == CANCEL, 0, rng.integers(1, 10, size=n))
    target = np.maximum(row_ids - rng.integers(1, 100, size=n), first_id)
    a["order_id"] = np.where(kind == ADD, row_ids, target)
    return a


class Runner(threading.Thread):
    """A daemon thread running ``target``; any exception is kept for the test to raise."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as e:
            self.error = e


def join_all(threads: list[Runner]) -> None:
    for t in threads:
        t.join(JOIN_TIMEOUT)
        assert not t.is_alive(), "thread hung"
    for t in threads:
        if t.error is not None:
            raise t.error


def check_busy(e: RuntimeError) -> None:
    """PyO3's clean refusal of a call on a book another thread is using."""
    assert "borrow" in str(e).lower(), str(e)


def check_levels(depth: hb.Depth) -> None:
    bids = depth.bids["price_ticks"].tolist()
    asks = depth.asks["price_ticks"].tolist()
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert len(set(bids)) == len(bids)
    assert len(set(asks)) == len(asks)
    if bids and asks:
        assert bids[0] < asks[0], (bids[0], asks[0])
    assert (depth.bids["qty"] > 0).all()
    assert (depth.asks["orders"] > 0).all()


def test_readers_during_apply_batch() -> None:
    book = hb.OrderBook("T", tick_size="0.01")
    book.apply_batch(flow(20_000, seed=1))
    reader = book.reader()  # before the batch: reader() needs the book for a moment
    start_seq = reader.top()[0]
    assert start_seq == book.seq
    big = flow(2_000_000, seed=2, first_id=10_000_000)

    done = threading.Event()
    started = threading.Barrier(3, timeout=JOIN_TIMEOUT)
    seen: list[list[int]] = [[], []]
    consistent_depths = [0]
    result: list[hb.BatchResult] = []

    def writer() -> None:
        started.wait()
        result.append(book.apply_batch(big))
        done.set()

    def poll_top(out: list[int]) -> None:
        started.wait()
        last = -1
        while True:
            finished = done.is_set()
            seq, bid, ask = reader.top()
            assert seq >= last, (seq, last)
            last = seq
            out.append(seq)
            if bid is not None:
                assert bid.qty > 0
                assert bid.orders > 0
            if ask is not None:
                assert ask.qty > 0
            if bid is not None and ask is not None:
                assert bid.price_ticks < ask.price_ticks, (seq, bid, ask)
                assert bid.price < ask.price
            if finished:
                return

    def poll_depth() -> None:
        while not done.is_set():
            d = reader.depth(20)
            if d.seq is not None:
                consistent_depths[0] += 1
                check_levels(d)

    threads = [Runner(writer), Runner(lambda: poll_top(seen[0])), Runner(lambda: poll_top(seen[1]))]
    for t in threads:
        t.start()
    depth_thread = Runner(poll_depth)
    depth_thread.start()
    join_all([*threads, depth_thread])

    end_seq = book.seq
    assert end_seq > start_seq
    assert len(result) == 1
    assert len(result[0]) == len(big)
    for s in seen:
        assert s[0] >= start_seq
        assert s[-1] == end_seq  # the last read, after the batch, sees its end state
        assert s == sorted(s)
    # The GIL is released while the batch runs: the pollers saw states inside it.
    inside = [x for s in seen for x in s if start_seq < x < end_seq]
    assert inside, "no reader ran while apply_batch was running"
    book.check_invariants()
    seq, bid, ask = reader.top()
    assert (seq, bid, ask) == (book.seq, book.best_bid(), book.best_ask())
    final = reader.depth(50)
    assert final.seq == book.seq
    mine = book.depth(50)
    assert final.bids.tobytes() == mine.bids.tobytes()
    assert final.asks.tobytes() == mine.asks.tobytes()


def test_book_calls_during_apply_batch_fail_cleanly() -> None:
    """While one thread is inside apply_batch (GIL released, book borrowed), other threads'
    calls on that book raise RuntimeError (already borrowed) and change nothing."""
    book = hb.OrderBook("T", tick_size="0.01")
    big = flow(1_500_000, seed=3)
    done = threading.Event()
    started = threading.Event()
    outcomes = {"ok": 0, "busy": 0}
    accepted: list[int] = []
    refused: list[int] = []

    def writer() -> None:
        started.set()
        book.apply_batch(big)
        done.set()

    def other() -> None:
        started.wait(JOIN_TIMEOUT)
        oid = 50_000_000
        while not done.is_set():
            oid += 1
            # Far from the batch's prices: an accepted order rests and stays.
            try:
                book.submit("buy", price_ticks=1_000 + oid % 50, qty=1, order_id=oid)
                accepted.append(oid)
            except RuntimeError as e:
                check_busy(e)
                refused.append(oid)
            for call in (book.best_bid, book.depth, lambda: len(book), lambda: book.seq):
                try:
                    call()
                    outcomes["ok"] += 1
                except RuntimeError as e:
                    check_busy(e)
                    outcomes["busy"] += 1

    threads = [Runner(writer), Runner(other)]
    for t in threads:
        t.start()
    join_all(threads)

    book.check_invariants()
    for oid in accepted:
        o = book.order(oid)
        assert o is not None
        assert (o.side, o.qty) == ("buy", 1)
    for oid in refused:
        assert oid not in book
    assert outcomes["ok"] + outcomes["busy"] > 0


def test_two_threads_submit_to_one_book() -> None:
    """Two threads trading against each other on one book: calls serialize (or raise
    RuntimeError), every trade is reported once, and quantity is conserved."""
    book = hb.OrderBook("T", tick_size="0.01")
    n = 20_000
    results: dict[str, list[tuple[int, hb.ExecutionReport]]] = {"buy": [], "sell": []}
    cancels: dict[str, list[hb.ExecutionReport]] = {"buy": [], "sell": []}
    busy = {"buy": 0, "sell": 0}
    barrier = threading.Barrier(2, timeout=JOIN_TIMEOUT)

    def trader(side: str, first_id: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        prices = (10_000 + rng.integers(-3, 4, size=n)).tolist()
        qtys = rng.integers(1, 6, size=n).tolist()
        barrier.wait()
        for i in range(n):
            try:
                r = book.submit(side, price_ticks=prices[i], qty=qtys[i], order_id=first_id + i)
            except RuntimeError as e:
                check_busy(e)
                busy[side] += 1
                continue
            results[side].append((qtys[i], r))
            if i % 7 == 0 and r.remaining_qty:
                try:
                    cancels[side].append(book.cancel(r.order_id))
                except hb.UnknownOrder:
                    pass  # the other thread filled it in between
                except RuntimeError as e:
                    check_busy(e)
                    busy[side] += 1

    threads = [Runner(lambda: trader("buy", 1, 11)), Runner(lambda: trader("sell", 10**9, 12))]
    for t in threads:
        t.start()
    join_all(threads)
    book.check_invariants()

    submitted = [(q, r) for side in results for q, r in results[side]]
    assert len(submitted) >= 2 * n - busy["buy"] - busy["sell"]
    reports = {r.order_id: r for _, r in submitted}
    assert len(reports) == len(submitted)
    for q, r in submitted:
        assert r.status in ("new", "partially_filled", "filled")
        assert r.filled_qty + r.remaining_qty == q
    fills = [f for _, r in submitted for f in r.fills]
    # every trade printed is reported exactly once, to its taker
    assert sorted(f.seq for f in fills) == list(range(1, book.trade_count + 1))
    for f in fills:
        assert f.maker_id in reports
        assert f.maker_id != f.taker_id
    traded = sum(f.qty for f in fills)
    assert traded == sum(r.filled_qty for r in reports.values())
    # each unit is traded (once as taker, once as maker), rests, or was cancelled
    resting = int(book.orders("buy")["qty"].sum() + book.orders("sell")["qty"].sum())
    cancelled = sum(c.cancelled_qty for side in cancels for c in cancels[side])
    assert sum(q for q, _ in submitted) == 2 * traded + resting + cancelled
    for side in ("buy", "sell"):
        for oid in book.orders(side)["order_id"].tolist():
            assert oid in reports


@pytest.mark.parametrize("adds_only", [False, True], ids=["apply_batch", "submit_batch"])
def test_rewriting_the_array_during_a_batch_changes_nothing(adds_only: bool) -> None:
    """A thread that scribbles invalid rows (bad side, kind and order type codes,
    out-of-range prices, zero quantities) into the array while a large batch runs without
    the GIL changes nothing the book sees: the batch applies the rows as they were when it
    was called. (It used to read the array after releasing the GIL, so rows rewritten
    after validation reached the book unchecked: a data race, an error half-way through,
    or a corrupted book.)"""
    from book_state import snapshot

    n = 1_500_000
    cmds = flow(n, seed=5)
    if adds_only:
        adds = cmds[cmds["kind"] == ADD]
        arr = np.zeros(len(adds), dtype=hb.ORDER_DTYPE)
        for name in hb.ORDER_DTYPE.names:
            arr[name] = adds[name]
    else:
        arr = cmds
    rows = len(arr)
    pristine = arr.copy()

    def run(book: hb.OrderBook, a: np.ndarray) -> hb.BatchResult:
        return book.submit_batch(a) if adds_only else book.apply_batch(a)

    ref = hb.OrderBook("T", tick_size="0.01", clock="manual")
    expected = run(ref, pristine)

    book = hb.OrderBook("T", tick_size="0.01", clock="manual")
    reader = book.reader()
    start_seq = reader.top()[0]
    done = threading.Event()
    result: list[hb.BatchResult] = []
    first_write_seq: list[int] = []

    def writer() -> None:
        try:
            result.append(run(book, arr))
        finally:
            done.set()

    def vandal() -> None:
        rng = np.random.default_rng(1)
        # Start once the book has applied rows: validation is over, application under way.
        while reader.top()[0] == start_seq and not done.is_set():
            pass
        while not done.is_set():
            seq = reader.top()[0]
            for column, value in (
                ("side", 9),
                ("price_ticks", 2**62),
                ("price_ticks", -(2**63)),
                ("qty", 0),
                ("order_type", 7),
                ("tif", 200),
                ("kind", 7),
            ):
                if column in arr.dtype.names:
                    arr[column][rng.integers(rows // 8, rows, size=2_000)] = value
            if not first_write_seq:
                first_write_seq.append(seq)

    threads = [Runner(writer), Runner(vandal)]
    for t in threads:
        t.start()
    join_all(threads)

    # The scribbling happened while the batch was being applied.
    assert first_write_seq, "the batch finished before the other thread wrote"
    assert start_seq < first_write_seq[0] < book.seq
    assert (arr != pristine).any()
    book.check_invariants()
    (res,) = result
    for column in ("order_ids", "status", "reason", "filled_qty", "remaining_qty"):
        assert np.array_equal(getattr(res, column), getattr(expected, column)), column
    assert res.fills.tobytes() == expected.fills.tobytes()
    assert snapshot(book) == snapshot(ref)
