"""hftbook against the order books a user would pick instead, in one process (the full run).

Usage: python benches/peers/run.py [--quick] [--ops N] [--reps 3] [--seed 42] [--out DIR]
                                   [--rows ROW,ROW] [--no-memory] [--no-progress]

Installs nothing: the peers are the `peers` extra (`pip install '.[peers]'`); a peer that is
not installed is reported as skipped. Defaults: 1M W1 adds, 1M W2 ops, 3 interleaved
repetitions, bytes per order from 1M resting orders per child process. --quick is 100k ops.
Writes DIR/peers.json and DIR/peers.md (default DIR: docs/peers). The drivers, the event
translation for the non-matching books and the agreement check live in the package
(hftbook/bench/: _drivers.py, peers.py, __init__.py); `hftbook bench` is the same run,
quick by default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from hftbook.bench import ROWS, BenchConfig, print_summary, run_bench, to_markdown

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k ops instead of 1M")
    ap.add_argument("--ops", type=int, default=None, help="W1 adds and W2 ops (default 1M)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rows", default=None, help=", ".join(ROWS))
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "peers")
    a = ap.parse_args()
    ops = a.ops or (100_000 if a.quick else 1_000_000)
    cfg = BenchConfig(
        ops=ops,
        reps=a.reps,
        seed=a.seed,
        rows=None if a.rows is None else tuple(s.strip() for s in a.rows.split(",")),
        memory=not a.no_memory,
    )
    console = Console(width=max(Console().width, 180))
    res = run_bench(
        cfg, progress=not a.no_progress, console=console, log=lambda s: console.print(s)
    )
    print_summary(res, console)
    a.out.mkdir(parents=True, exist_ok=True)
    command = "python benches/peers/run.py " + " ".join(sys.argv[1:])
    (a.out / "peers.json").write_text(
        json.dumps({**res.to_dict(), "command": command.strip()}, indent=2) + "\n",
        encoding="utf-8",
    )
    (a.out / "peers.md").write_text(to_markdown(res, command.strip()), encoding="utf-8")
    console.print(f"wrote {a.out / 'peers.json'} and {a.out / 'peers.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
