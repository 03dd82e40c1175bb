"""LOBSTER load (and replay) throughput on every shared sample: median of N runs.

    python benches/lobster_load.py            # 9 runs of each, every sample, zip and CSV
    python benches/lobster_load.py -n 15 --replay --json out.json

One row is a message row and its orderbook row. ``zip`` times
``hftbook.data.lobster.load(sample.zip)`` (reading, inflating and parsing both members);
``csv`` times ``load(message.csv)`` on the same members extracted to a temporary directory
(reading both files and parsing them). Runs of the two paths are interleaved so that load
from other processes on a shared machine hits both alike. ``--replay`` also times
``replay(data)`` (replay + validation of every row) in messages per second, interleaved with
``replay(data, progress=...)`` (a callback that draws nothing: the cost of the progress
counter and its reporter thread). Needs a release
build (``maturin develop -r``) for meaningful figures.

The shared data is ``../shared/data`` next to the repository (or ``$HFTBOOK_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from hftbook.data import lobster


def shared_lobster() -> Path:
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    d = root / "lobster"
    if not d.is_dir():
        sys.exit(f"shared data not found at {d} (set HFTBOOK_SHARED_DATA)")
    return d


def _stats(rows: int, secs: list[float]) -> dict[str, float]:
    med = statistics.median(secs)
    return {
        "median_seconds": med,
        "median_rows_per_second": rows / med,
        "best_rows_per_second": rows / min(secs),
        "worst_rows_per_second": rows / max(secs),
    }


def _no_display(done: int, total: int) -> None:
    """A progress callback that draws nothing (times the counter and reporter thread)."""


def bench(n: int, do_replay: bool) -> list[dict[str, Any]]:
    d = shared_lobster()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hftbook-lobster-bench-") as tmp:
        cases: list[tuple[str, Path | None, Path]] = []
        for z in sorted(d.glob("LOBSTER_SampleFile_*.zip")):
            out = Path(tmp) / z.stem
            with zipfile.ZipFile(z) as zf:
                names = [m for m in zf.namelist() if m.endswith(".csv")]
                zf.extractall(out, members=names)
            msg = next(out.glob("*_message_*.csv"))
            cases.append((z.stem.replace("LOBSTER_SampleFile_", ""), z, msg))
        cases.extend(
            (f"{msg.parent.name} (CSV only)", None, msg)
            for msg in sorted(d.glob("truncated_*/*_message_*.csv"))
        )
        for name, z, msg in cases:
            rows = lobster.load(msg).rows
            t_zip: list[float] = []
            t_csv: list[float] = []
            for _ in range(n):
                if z is not None:
                    t0 = time.perf_counter()
                    lobster.load(z)
                    t_zip.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                data = lobster.load(msg)
                t_csv.append(time.perf_counter() - t0)
            r: dict[str, Any] = {"sample": name, "rows": rows, "runs": n}
            if t_zip:
                r["zip"] = _stats(rows, t_zip)
            r["csv"] = _stats(rows, t_csv)
            if do_replay:
                # (older versions have no progress argument: then only the plain replay)
                has_progress = "progress" in inspect.signature(lobster.replay).parameters
                t_rep: list[float] = []
                t_prog: list[float] = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    lobster.replay(data)
                    t_rep.append(time.perf_counter() - t0)
                    if has_progress:
                        t0 = time.perf_counter()
                        lobster.replay(data, progress=_no_display)
                        t_prog.append(time.perf_counter() - t0)
                r["replay"] = _stats(rows, t_rep)
                if t_prog:
                    r["replay_with_progress"] = _stats(rows, t_prog)
            results.append(r)
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=9, help="runs of each measurement (default 9)")
    p.add_argument("--replay", action="store_true", help="also time replay + validation")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args()
    res = bench(args.n, args.replay)
    print(f"median of {args.n} runs (best-worst), M rows/s; load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'sample':<28}{'rows':>9}  {'zip':>20}  {'csv':>20}  {'replay (M msg/s)':>20}  "
        f"{'with progress':>20}"
    )

    def cell(s: dict[str, float] | None) -> str:
        if s is None:
            return "-"
        return (
            f"{s['median_rows_per_second'] / 1e6:.2f} ({s['best_rows_per_second'] / 1e6:.2f}-"
            f"{s['worst_rows_per_second'] / 1e6:.2f})"
        )

    for r in res:
        print(
            f"{r['sample']:<28}{r['rows']:>9,}  {cell(r.get('zip')):>20}  "
            f"{cell(r['csv']):>20}  {cell(r.get('replay')):>20}  "
            f"{cell(r.get('replay_with_progress')):>20}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
