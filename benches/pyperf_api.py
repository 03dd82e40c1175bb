"""pyperf benchmarks of the Python API: per-call submit / cancel / modify, apply_batch on W2,
depth(10) and orders() on the W2 book.

Usage: python benches/pyperf_api.py [pyperf options, e.g. -o api.json --fast]
       python -m pyperf compare_to base.json api.json

pyperf runs worker processes and reports mean +- std per call (per op for apply_batch). Each
timed loop calls the method with pre-built arguments only (ids and prices generated before
the timer starts); the book a loop works on is built untimed:
- submit: passive GTC limit adds (W2's passive add prices, fresh ids) onto the W2 prefill;
- cancel: cancels of orders rested untimed just before;
- modify: size decreases (100 -> 50 lots, keeps priority) of orders rested untimed;
- apply_batch_w2: one apply_batch of W2_OPS ops on the prefilled book, per op;
- depth10 / orders_buy: reads of the W2 book after W2_OPS ops (about 10k resting orders).
"""

from __future__ import annotations

import itertools
import time

import pyperf

import hftbook as hb
from hftbook._core import workload_w2

W2_OPS = 100_000
SEED = 42

PREFILL, OPS = workload_w2(W2_OPS, SEED)
_passive = OPS[(OPS["kind"] == 0) & (OPS["tif"] == 0) & (OPS["order_type"] == 0)]
# (side, price) of W2's passive adds: near the touch, never crossing the prefilled book.
ADDS = list(
    zip(
        ["buy" if s == 0 else "sell" for s in _passive["side"].tolist()],
        _passive["price_ticks"].tolist(),
        strict=True,
    )
)
FIRST_ID = 10_000_000


def _book() -> hb.OrderBook:
    book = hb.OrderBook("W2", tick_size="0.01")
    book.apply_batch(PREFILL)
    return book


def _rest(book: hb.OrderBook, loops: int) -> list[int]:
    """Rest `loops` orders of 100 lots, deep enough never to cross; return their ids."""
    ids = list(range(FIRST_ID, FIRST_ID + loops))
    for oid, (side, price) in zip(ids, itertools.cycle(ADDS), strict=False):
        book.submit(
            side, price_ticks=price - 5000 if side == "buy" else price + 5000, qty=100, order_id=oid
        )
    return ids


def t_submit(loops: int) -> float:
    book = _book()
    submit = book.submit
    args = [
        (side, price, FIRST_ID + i) for i, (side, price) in zip(range(loops), itertools.cycle(ADDS))
    ]
    t0 = time.perf_counter()
    for side, price, oid in args:
        submit(side, price_ticks=price, qty=10, order_id=oid)
    return time.perf_counter() - t0


def t_cancel(loops: int) -> float:
    book = _book()
    ids = _rest(book, loops)
    cancel = book.cancel
    t0 = time.perf_counter()
    for oid in ids:
        cancel(oid)
    return time.perf_counter() - t0


def t_modify(loops: int) -> float:
    book = _book()
    ids = _rest(book, loops)
    modify = book.modify
    t0 = time.perf_counter()
    for oid in ids:
        modify(oid, qty=50)
    return time.perf_counter() - t0


def t_apply_batch(loops: int) -> float:
    total = 0.0
    for _ in range(loops):
        book = _book()
        t0 = time.perf_counter()
        book.apply_batch(OPS)
        total += time.perf_counter() - t0
    return total


_READ_BOOK = _book()
_READ_BOOK.apply_batch(OPS)


def t_depth(loops: int) -> float:
    depth = _READ_BOOK.depth
    t0 = time.perf_counter()
    for _ in range(loops):
        depth(10)
    return time.perf_counter() - t0


def t_orders(loops: int) -> float:
    orders = _READ_BOOK.orders
    t0 = time.perf_counter()
    for _ in range(loops):
        orders("buy")
    return time.perf_counter() - t0


def main() -> None:
    runner = pyperf.Runner()
    runner.metadata["hftbook"] = hb.__version__
    runner.metadata["w2_ops"] = str(W2_OPS)
    runner.metadata["book_orders_for_reads"] = str(len(_READ_BOOK))
    runner.bench_time_func("submit", t_submit)
    runner.bench_time_func("cancel", t_cancel)
    runner.bench_time_func("modify", t_modify)
    runner.bench_time_func("apply_batch_w2_per_op", t_apply_batch, inner_loops=W2_OPS)
    runner.bench_time_func("depth10", t_depth)
    runner.bench_time_func("orders_buy", t_orders)


if __name__ == "__main__":
    main()
