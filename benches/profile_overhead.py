"""Python-level cost of the latency profiler: per-call time of submit + cancel with profiling
off and on, interleaved repetitions, medians.

    python benches/profile_overhead.py [--ops 200000] [--reps 7]

Build the extension in release mode first (``maturin develop -r``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import hftbook as hb


def _run(book: hb.OrderBook, n: int) -> float:
    """ns per call over n submit + n cancel calls on resting (non-crossing) orders."""
    submit, cancel = book.submit, book.cancel
    t0 = time.perf_counter_ns()
    for i in range(n):
        r = submit("buy", price_ticks=10_000 - (i & 255), qty=1)
        cancel(r.order_id)
    return (time.perf_counter_ns() - t0) / (2 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    off, on = hb.OrderBook("OFF"), hb.OrderBook("ON")
    on.profiling = True
    _run(off, 10_000)
    _run(on, 10_000)
    res: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.reps):
        res["off"].append(_run(off, args.ops))
        res["on"].append(_run(on, args.ops))
    m_off, m_on = statistics.median(res["off"]), statistics.median(res["on"])
    print(f"profiling off: {m_off:7.1f} ns per call (median of {args.reps})")
    print(f"profiling on:  {m_on:7.1f} ns per call")
    print(f"difference:    {m_on - m_off:+7.1f} ns per call")
    rep = hb.LatencyReport.of(on)
    for name in ("add", "cancel"):
        o = rep[name]
        print(f"core {name:6s}: n={o.count:,} p50={o.p50} p99={o.p99} ns")


if __name__ == "__main__":
    main()
