"""Bytes per resting order seen from Python: W1 (1M non-crossing adds, one submit per order)
into a fresh OrderBook in a fresh child process.

Usage: python benches/memory_py.py [--orders 1000000] [--seed 1] [--rows hftbook,liquibook,...]

Reports the RSS growth per order (/proc/self/statm around the build, the workload generated
before the baseline) and, for hftbook when the extension exposes `memory_stats`, the
allocator's live-bytes growth per order. Other rows (installed peers) are measured the same
way; see hftbook/bench/__init__.py (memory_child) for the method. The Rust-level figure is
benches/memory.sh.
"""

from __future__ import annotations

import argparse
import json

from hftbook.bench import ROWS, driver, measure_memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", default="hftbook")
    ap.add_argument("--json")
    a = ap.parse_args()
    out = {}
    for name in (s.strip() for s in a.rows.split(",")):
        d = driver(name) if name in ROWS else None
        if d is None or not d.memory:
            raise SystemExit(f"no memory figure for row {name!r}")
        why = d.unavailable()
        out[name] = {"skipped": why} if why else measure_memory(name, a.orders, a.seed)
        print(f"{name}: {json.dumps(out[name])}", flush=True)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"orders": a.orders, "seed": a.seed, "rows": out}, f, indent=2)


if __name__ == "__main__":
    main()
