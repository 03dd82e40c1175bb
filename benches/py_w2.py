"""Python API throughput on the W1/W2 workloads: per call (submit/cancel) and apply_batch.

Usage: python benches/py_w2.py [--ops 1000000] [--reps 3] [--json out.json]
       python benches/py_w2.py --workload swing_25 --ops 200000   # a market flow

``--workload`` is ``w2`` (default: ``--ops`` ops on the 10k-order prefill) or one of the five
market flows (``hftbook._core.FLOW_NAMES``: ``--ops`` orders, about twice as many messages,
on an empty book; rates are then per message).

Per-call figures include the Python loop and one perf_counter_ns pair per call (as the peer
table in docs/performance.md does; ``timer_floor_*`` is that pair's own cost, an empty
interval); ops/s is measured on a separate untimed-per-call pass.
Medians over --reps repetitions (after --warmup unrecorded ones), each on a fresh book built
from the same seeded workload.
"""

from __future__ import annotations

import os

# numpy's import-time self-check makes one BLAS call, after which OpenBLAS's worker threads
# busy-wait for a while: on a 2-core machine they take the second core (11 % of all samples
# of an apply_batch run, perf). Nothing here does linear algebra: one BLAS thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np

import hftbook as hb
from hftbook._core import FLOW_NAMES, workload_flow, workload_w2

SIDES = ("buy", "sell")
TIFS = ("gtc", "ioc", "fok")
TYPES = ("limit", "market")


def _rows(ops: np.ndarray) -> list[tuple[Any, ...]]:
    return list(
        zip(
            ops["kind"].tolist(),
            [SIDES[s] for s in ops["side"].tolist()],
            ops["price_ticks"].tolist(),
            ops["qty"].tolist(),
            ops["order_id"].tolist(),
            [TIFS[t] for t in ops["tif"].tolist()],
            [TYPES[t] for t in ops["order_type"].tolist()],
            strict=True,
        )
    )


def _fresh(prefill: np.ndarray) -> hb.OrderBook:
    book = hb.OrderBook("W2", tick_size="0.01")
    book.apply_batch(prefill)
    return book


def per_call(prefill: np.ndarray, rows: list[tuple[Any, ...]], timed: bool) -> tuple[float, Any]:
    book = _fresh(prefill)
    submit, cancel, modify = book.submit, book.cancel, book.modify
    lat = np.empty(len(rows), dtype=np.int64) if timed else None
    clock = time.perf_counter_ns
    t0 = time.perf_counter()
    for i, (kind, side, price, qty, oid, tif, otype) in enumerate(rows):
        if timed:
            s = clock()
        if kind == 0:
            if otype == "limit" and tif == "gtc":
                submit(side, price_ticks=price, qty=qty, order_id=oid)
            elif otype == "limit":
                submit(side, price_ticks=price, qty=qty, order_id=oid, tif=tif)
            else:
                submit(side, qty=qty, order_id=oid, order_type="market")
        elif kind == 1:
            try:
                cancel(oid)
            except hb.UnknownOrder:
                pass
        else:
            try:
                modify(oid, price_ticks=price, qty=qty or None)
            except hb.UnknownOrder:  # the flows modify some orders after their cancel
                pass
        if timed:
            lat[i] = clock() - s  # type: ignore[index]
    dt = time.perf_counter() - t0
    return len(rows) / dt, lat


def timer_floor(n: int = 200_000) -> tuple[float, float]:
    """p50 and p99 of an empty timed interval: what each per-call latency includes for the
    two clock reads around it (reported so the call's own share can be read off)."""
    clock = time.perf_counter_ns
    lat = np.empty(n, dtype=np.int64)
    for i in range(n):
        s = clock()
        lat[i] = clock() - s
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def batch(prefill: np.ndarray, ops: np.ndarray) -> float:
    book = _fresh(prefill)
    t0 = time.perf_counter()
    book.apply_batch(ops)
    return len(ops) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="unrecorded repetitions first (the first runs in a process fault in fresh memory)",
    )
    ap.add_argument(
        "--workload",
        default="w2",
        choices=("w2", *FLOW_NAMES),
        help="w2, or a market flow (then --ops is its orders, about half its messages)",
    )
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.workload == "w2":
        prefill, ops = workload_w2(a.ops, a.seed)
    else:
        prefill, ops = np.zeros(0, dtype=hb.COMMAND_DTYPE), workload_flow(a.workload, a.ops, a.seed)
    rows = _rows(ops)
    rates, batch_rates, p50, p99, p999 = [], [], [], [], []
    for _ in range(a.warmup):
        per_call(prefill, rows, timed=False)
        batch(prefill, ops)
    for _ in range(a.reps):
        r, _ = per_call(prefill, rows, timed=False)
        rates.append(r)
        _, lat = per_call(prefill, rows, timed=True)
        p50.append(float(np.percentile(lat, 50)))
        p99.append(float(np.percentile(lat, 99)))
        p999.append(float(np.percentile(lat, 99.9)))
        batch_rates.append(batch(prefill, ops))
    floor50, floor99 = timer_floor()
    out = {
        "workload": a.workload,
        "ops": a.ops,
        "messages": len(ops),
        "reps": a.reps,
        "warmup": a.warmup,
        "per_call_ops_per_s": statistics.median(rates),
        "per_call_p50_ns": statistics.median(p50),
        "per_call_p99_ns": statistics.median(p99),
        "per_call_p999_ns": statistics.median(p999),
        "timer_floor_p50_ns": floor50,
        "timer_floor_p99_ns": floor99,
        "apply_batch_ops_per_s": statistics.median(batch_rates),
        "per_rep": {
            "per_call_ops_per_s": rates,
            "per_call_p99_ns": p99,
            "apply_batch_ops_per_s": batch_rates,
        },
    }
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
