"""Databento MBO decode + replay throughput, DBN (plain and zstd) beside CSV: median of N runs.

    python benches/mbo_dbn.py                  # 15 runs of each, ARL sample x 1 and x 100
    python benches/mbo_dbn.py -n 31 --copies 1 50 --json out.json

The ARL sample (``databento_arl/mbo.csv``, 5,886 records) is written to a temporary
directory as CSV, DBN and DBN+zstd with :func:`hftbook.data.mbo.write_dbn` (no data file is
kept). ``--copies K`` makes a larger file of K instruments: the sample K times over with
instrument ids, symbols and order ids of its own, records interleaved by time, so the
replay keeps K books. Each run is ``run_mbo(path)``: read + decode (``seconds_parse``) and
replay into the books with MBP-10 rows (``seconds_replay``), both timed in Rust. Runs of the
three encodings are interleaved so that load from other processes on a shared machine hits
them alike. Needs a release build (``maturin develop -r``) for meaningful figures.

The shared data is ``../shared/data`` next to the repository (or ``$HFTBOOK_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hftbook.data import mbo


def shared_arl() -> Path:
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    p = root / "databento_arl" / "mbo.csv"
    if not p.is_file():
        sys.exit(f"ARL sample not found at {p} (set HFTBOOK_SHARED_DATA)")
    return p


def copies_of(recs: npt.NDArray[np.void], k: int) -> npt.NDArray[np.void]:
    """The records ``k`` times over, one instrument each, interleaved by ``ts_recv``."""
    parts = []
    for i in range(k):
        c = recs.copy()
        c["instrument_id"] = int(c["instrument_id"][0]) + i
        c["symbol"] = f"ARL{i}" if i else "ARL"
        c["order_id"] += np.uint64(i) * np.uint64(10**12)
        c["ts_recv"] += i
        parts.append(c)
    both = np.concatenate(parts)
    return both[np.argsort(both["ts_recv"], kind="stable")]


def write_csv(recs: npt.NDArray[np.void], path: Path) -> None:
    """The records as a Databento MBO CSV (the reader's own column set)."""

    def ts(ns: int) -> str:
        s, n = divmod(int(ns), 1_000_000_000)
        return np.datetime_as_string(np.datetime64(s, "s")) + f".{n:09d}Z"

    def px(p: int) -> str:
        if p == mbo.UNDEF_PRICE:
            return ""
        whole, frac = divmod(int(p), 1_000_000_000)  # exact: no float on the way
        return f"{whole}.{frac:09d}"

    cols = "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
    cols += "channel_id,order_id,flags,ts_in_delta,sequence,symbol\n"
    lines = [cols]
    lines.extend(
        f"{ts(r['ts_recv'])},{ts(r['ts_event'])},{r['rtype']},{r['publisher_id']},"
        f"{r['instrument_id']},{r['action'].decode()},{r['side'].decode()},{px(r['price'])},"
        f"{r['size']},{r['channel_id']},{r['order_id']},{r['flags']},{r['ts_in_delta']},"
        f"{r['sequence']},{r['symbol']}\n"
        for r in recs
    )
    path.write_text("".join(lines))


def measure(paths: dict[str, Path], n: int) -> dict[str, dict[str, Any]]:
    """``n`` interleaved runs of ``run_mbo`` on each path; medians in records/s."""
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in paths}
    records: dict[str, int] = {}
    rows: dict[str, int] = {}
    for k, p in paths.items():  # warm-up (page cache, first-book clock calibration)
        rep = mbo.run_mbo(p)
        records[k], rows[k] = rep.records, rep.rows
    for _ in range(n):
        for k, p in paths.items():
            rep = mbo.run_mbo(p)
            runs[k].append((rep.seconds_parse, rep.seconds_replay))
    out: dict[str, dict[str, Any]] = {}
    for k, rs in runs.items():
        parse = statistics.median(a for a, _ in rs)
        replay = statistics.median(b for _, b in rs)
        total = statistics.median(a + b for a, b in rs)
        out[k] = {
            "records": records[k],
            "rows": rows[k],
            "bytes": paths[k].stat().st_size,
            "decode_records_per_s": records[k] / parse,
            "replay_records_per_s": records[k] / replay,
            "total_records_per_s": records[k] / total,
            "median_ms": total * 1e3,
        }
    if len({rows[k] for k in paths}) != 1:
        raise SystemExit(f"the encodings gave different row counts: {rows}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=15, help="runs of each encoding (default 15)")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 100], help="instruments per file")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    base = mbo.load(shared_arl())
    result: dict[str, Any] = {"runs": args.n, "files": {}}
    with tempfile.TemporaryDirectory() as d:
        for k in args.copies:
            recs = copies_of(base, k)
            paths = {
                "csv": Path(d) / f"x{k}.csv",
                "dbn": Path(d) / f"x{k}.dbn",
                "dbn.zst": Path(d) / f"x{k}.dbn.zst",
            }
            if k == 1:
                paths["csv"].write_bytes(shared_arl().read_bytes())
            else:
                write_csv(recs, paths["csv"])
            mbo.write_dbn(recs, paths["dbn"])
            mbo.write_dbn(recs, paths["dbn.zst"])
            figs = measure(paths, args.n)
            result["files"][f"x{k}"] = figs
            print(f"ARL x {k} ({len(recs):,} records, {k} instrument(s)), median of {args.n}:")
            print(
                f"  {'encoding':<8} {'bytes':>11} {'decode M rec/s':>15} "
                f"{'replay M rec/s':>15} {'total M rec/s':>14} {'ms':>8}"
            )
            for enc, f in figs.items():
                print(
                    f"  {enc:<8} {f['bytes']:>11,} {f['decode_records_per_s'] / 1e6:>15.2f} "
                    f"{f['replay_records_per_s'] / 1e6:>15.2f} "
                    f"{f['total_records_per_s'] / 1e6:>14.2f} {f['median_ms']:>8.1f}"
                )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
