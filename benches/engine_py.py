"""The engine from Python: submit_batch end to end, and one submit call per order.

Usage: python benches/engine_py.py [--ops 1000000] [--reps 5] [--json out.json]
       python benches/engine_py.py --quick

The flow is W2 (``hftbook._core.workload_w2``: ~60 % passive adds, ~30 % cancels of live
orders, ~10 % marketable IOC / market orders, on a 10k-order prefill) generated per symbol
(seed 42 + symbol) for 4 symbols and interleaved round robin. Each repetition runs on a
fresh engine (1 shard, fresh books); the prefill is queued and its events polled untimed.

- ``batch``: ``engine.submit_batch`` of ``--chunk``-row slices of one pre-built
  ``ENGINE_COMMAND_DTYPE`` array (cancels carry the engine ids their orders will get: one
  producer, so ids are issued in row order), ``engine.poll`` as numpy after every slice, and
  after the last one until every event is back (a sentinel order per symbol, queued behind
  the flow in the same lane, marks the end). orders/s = flow rows / wall time.
- ``submit``: one Python thread calling ``engine.submit`` for each of the flow's orders (its
  adds and marketable orders, prices in ticks, arguments pre-built), polling numpy events
  every 1024 calls inside the timed loop; calls/s = calls / wall time of that loop. Also
  reported: the rate of the first 50 000 calls, which the normal lane (65 536 slots) absorbs
  without waiting for the shard (the producer's own cost); over the whole run a producer
  cannot outrun the shard for longer than a lane's worth of commands.

The breaker is switched off (``breaker.enabled = False``): a producer that outruns the shard
queues up to a full lane, and the breaker would then open on queueing delay and shed orders.
Medians over ``--reps`` repetitions (after one unrecorded warm-up). A manual loop rather
than pyperf: each repetition needs a fresh engine with its threads, and the figure is one
end-to-end wall time, not a per-call mean.
"""

from __future__ import annotations

import os

# One BLAS thread: OpenBLAS's idle workers would otherwise spin on the second core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import gc
import json
import statistics
import time
from typing import Any

import numpy as np

import hftbook as hb
from hftbook._core import workload_w2
from hftbook._dtypes import ENGINE_COMMAND_DTYPE

SYMBOLS = 4
SENTINEL = 2**64 - 1
ACCEPTED = hb.EVENT_KINDS.index("accepted")
REJECTED = hb.EVENT_KINDS.index("rejected")
POLL_MAX = 1 << 16
# The first BURST calls fit in the shard's normal lane (65 536 slots): their rate is the
# producer's own cost; over the whole run the rate is bounded by what the shard executes.
BURST = 50_000


def _engine_rows(sym: int, cmds: np.ndarray) -> np.ndarray:
    out = np.zeros(len(cmds), dtype=ENGINE_COMMAND_DTYPE)
    out["kind"] = cmds["kind"]
    out["symbol"] = sym
    out["side"] = cmds["side"]
    out["order_type"] = cmds["order_type"]
    out["tif"] = cmds["tif"]
    out["price_ticks"] = np.where(cmds["kind"] == 0, cmds["price_ticks"], 0)
    out["qty"] = np.where(cmds["kind"] == 0, cmds["qty"], 0)
    out["client_id"] = np.where(cmds["kind"] == 0, cmds["order_id"], 0)
    # W2's own (caller) id; cancels are rewritten to engine ids by _assign_ids.
    out["order_id"] = cmds["order_id"]
    return out


def _assign_ids(rows: np.ndarray, first_id: int) -> None:
    """Engine ids in submit order from first_id; cancels get the id of the order they name."""
    sub = rows["kind"] == 0
    eng = first_id + np.cumsum(sub) - 1
    key = rows["symbol"].astype(np.uint64) << np.uint64(40) | rows["order_id"].astype(np.uint64)
    sub_keys, sub_ids = key[sub], eng[sub]
    order = np.argsort(sub_keys)
    sub_keys, sub_ids = sub_keys[order], sub_ids[order]
    canc = ~sub
    pos = np.searchsorted(sub_keys, key[canc])
    if not np.array_equal(sub_keys[pos], key[canc]):
        raise RuntimeError("a cancel names an order the flow never submitted")
    rows["order_id"][canc] = sub_ids[pos]
    rows["order_id"][sub] = 0


def build(ops: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(prefill rows, flow rows) with engine ids for a fresh engine (ids from 1)."""
    per = ops // SYMBOLS
    pre, flows = [], []
    for s in range(SYMBOLS):
        p, o = workload_w2(per, seed + s)
        pre.append(_engine_rows(s, p))
        flows.append(_engine_rows(s, o))
    n_pre = sum(len(p) for p in pre)
    # (np.concatenate would drop the dtype's trailing padding: fill one array instead.)
    both = np.zeros(n_pre + per * SYMBOLS, dtype=ENGINE_COMMAND_DTYPE)
    at = 0
    for p in pre:
        both[at : at + len(p)] = p
        at += len(p)
    for s in range(SYMBOLS):
        both[n_pre + s :: SYMBOLS] = flows[s]
    _assign_ids(both, 1)
    prefill = both[:n_pre]
    # Sentinels (one per symbol) are submitted between the prefill and the flow.
    f = both[n_pre:]
    # Cancels of flow orders: their ids come after the sentinels' (prefill ids are 1..n_pre).
    f["order_id"][(f["kind"] != 0) & (f["order_id"] > n_pre)] += SYMBOLS
    return prefill, f


def _engine() -> hb.Engine:
    syms = {f"S{s}": {"tick_size": "0.01"} for s in range(SYMBOLS)}
    return hb.Engine(symbols=syms, shards=1, breaker={"enabled": False}).start()


def _sentinels(engine: hb.Engine) -> None:
    for s in range(SYMBOLS):
        engine.submit(s, "buy", price_ticks=1, qty=1, client_id=SENTINEL)


def _drain_until(engine: hb.Engine, want: int, seen: int) -> tuple[int, int, int]:
    """Poll until `want` sentinel acceptances were seen; returns (events, rejected, seen)."""
    events = rejected = 0
    deadline = time.monotonic() + 60
    while seen < want:
        arr = engine.poll(POLL_MAX, 0.001)
        events += len(arr)
        if len(arr):
            k = arr["kind"]
            rejected += int(np.count_nonzero(k == REJECTED))
            seen += int(np.count_nonzero((k == ACCEPTED) & (arr["client_id"] == SENTINEL)))
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {seen} of {want} sentinels came back")
    return events, rejected, seen


def run_batch(prefill: np.ndarray, flow: np.ndarray, chunk: int) -> dict[str, float]:
    engine = _engine()
    try:
        engine.submit_batch(prefill)
        _sentinels(engine)
        _drain_until(engine, SYMBOLS, 0)
        rows = flow.copy()  # submit_batch does not write back; a fresh copy all the same
        poll, submit_batch = engine.poll, engine.submit_batch
        events = rejected = 0
        t0 = time.perf_counter()
        for i in range(0, len(rows), chunk):
            submit_batch(rows[i : i + chunk])
            arr = poll(POLL_MAX, 0.0)
            events += len(arr)
            rejected += int(np.count_nonzero(arr["kind"] == REJECTED))
        _sentinels(engine)
        ev, rej, _ = _drain_until(engine, 2 * SYMBOLS, SYMBOLS)
        dt = time.perf_counter() - t0
        return {
            "orders_per_s": len(rows) / dt,
            "events": events + ev,
            "rejected": rejected + rej,
        }
    finally:
        engine.stop()


def _call_args(flow: np.ndarray) -> list[tuple[Any, ...]]:
    subs = flow[flow["kind"] == 0]
    sides = ("buy", "sell")
    out: list[tuple[Any, ...]] = []
    for sym, side, otype, tif, px, qty in zip(
        subs["symbol"].tolist(),
        subs["side"].tolist(),
        subs["order_type"].tolist(),
        subs["tif"].tolist(),
        subs["price_ticks"].tolist(),
        subs["qty"].tolist(),
        strict=True,
    ):
        out.append((sym, sides[side], otype, tif, px, qty))
    return out


def run_submit(prefill: np.ndarray, calls: list[tuple[Any, ...]]) -> dict[str, float]:
    engine = _engine()
    try:
        engine.submit_batch(prefill)
        _sentinels(engine)
        _drain_until(engine, SYMBOLS, 0)
        submit, poll = engine.submit, engine.poll
        events = 0
        burst_at = min(BURST, len(calls)) - 1
        t_burst = 0.0
        t0 = time.perf_counter()
        for i, (sym, side, otype, tif, px, qty) in enumerate(calls):
            if otype == 1:
                submit(sym, side, qty=qty, order_type="market")
            elif tif == 1:
                submit(sym, side, price_ticks=px, qty=qty, tif="ioc")
            else:
                submit(sym, side, price_ticks=px, qty=qty)
            if i & 1023 == 1023:
                events += len(poll(POLL_MAX, 0.0))
            if i == burst_at:
                t_burst = time.perf_counter() - t0
        dt = time.perf_counter() - t0
        return {"calls_per_s": len(calls) / dt, "burst_calls_per_s": (burst_at + 1) / t_burst}
    finally:
        engine.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=1_000_000, help="W2 ops over the 4 symbols")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=16384, help="rows per submit_batch call")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="--ops 200000 --reps 3")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.quick:
        a.ops, a.reps = 200_000, 3
    prefill, flow = build(a.ops, a.seed)
    calls = _call_args(flow)
    # The pre-built arguments (700k tuples for 1M ops) would otherwise be traversed by every
    # full collection the calls' own allocations trigger (callgrind: tupletraverse inside
    # submit); freeze them out of the collector, as a long-lived process would.
    gc.collect()
    gc.freeze()
    batch_runs, submit_runs = [], []
    run_batch(prefill, flow, a.chunk)  # warm-up
    run_submit(prefill, calls)
    for _ in range(a.reps):
        batch_runs.append(run_batch(prefill, flow, a.chunk))
        submit_runs.append(run_submit(prefill, calls))
    rates = [r["orders_per_s"] for r in batch_runs]
    call_rates = [r["calls_per_s"] for r in submit_runs]
    burst_rates = [r["burst_calls_per_s"] for r in submit_runs]
    out = {
        "symbols": SYMBOLS,
        "shards": 1,
        "flow_rows": len(flow),
        "submit_calls": len(calls),
        "chunk": a.chunk,
        "reps": a.reps,
        "batch_orders_per_s": statistics.median(rates),
        "submit_calls_per_s": statistics.median(call_rates),
        "submit_first_50k_calls_per_s": statistics.median(burst_rates),
        "events_per_run": batch_runs[-1]["events"],
        "rejected_max": max(r["rejected"] for r in batch_runs),
        "per_rep": {
            "batch_orders_per_s": rates,
            "submit_calls_per_s": call_rates,
            "submit_first_50k_calls_per_s": burst_rates,
        },
    }
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
