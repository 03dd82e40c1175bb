"""Share of the book's instructions spent in the order-id index (issue 10's goal: <= 15 %).

Runs ``rust/core/examples/icount.rs`` (bench profile: release code with debug info) under
callgrind for each case and sums the instructions on the source lines of ``IdMap`` and
``IdIndex`` in ``rust/core/src/book/arena.rs`` (from ``struct IdMap`` to the tests), inlined
into the book or not, against everything the run spends in ``run_ops*``:

    python benches/idindex_share.py                      # the five flows, seq ids, W1, W2
    python benches/idindex_share.py --cases skip:flow_static

Deterministic (instruction counts), so one run is the figure.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARENA = ROOT / "rust" / "core" / "src" / "book" / "arena.rs"
CASES = (
    "skip:flow_normal",
    "skip:flow_static",
    "skip:flow_swing_25",
    "skip:flow_swing_40",
    "skip:flow_flash_crash",
    "skip:flow_normal_seq_ids",
    "skip:w1",
    "skip:w2",
)
_LINE = re.compile(r"^\s*([\d,]+|\.)\s+(.*)$")


def index_lines() -> tuple[int, int]:
    """First and last line (1-based) of the id index's code in arena.rs."""
    lines = ARENA.read_text().splitlines()
    lo = next(i for i, s in enumerate(lines, 1) if s.startswith("struct IdMap"))
    hi = next(i for i, s in enumerate(lines, 1) if s.startswith("#[cfg(test)]"))
    return lo, hi - 1


def share(binary: Path, case: str, out_dir: Path, lo: int, hi: int) -> tuple[int, int]:
    ladder, workload = case.split(":")
    n = "50000" if workload.startswith("flow") else "200000"
    out = out_dir / f"cg.{workload}"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=*run_ops*",
            f"--callgrind-out-file={out}",
            str(binary),
            ladder,
            workload,
            n,
            "1",
        ],
        capture_output=True,
        check=True,
    )
    ann = subprocess.run(
        ["callgrind_annotate", "--auto=yes", "--context=1000000", "--show-percs=no", str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    total_m = re.search(r"([\d,]+)\s+(?:\(100.0%\)\s+)?PROGRAM TOTALS", ann)
    if total_m is None:
        raise RuntimeError(f"{case}: no total in the callgrind output")
    total = int(total_m.group(1).replace(",", ""))
    # Debug info names the file absolutely or relative to the workspace.
    markers = [f"-- Auto-annotated source: {m}" for m in (ARENA, ARENA.relative_to(ROOT))]
    marker = next((m for m in markers if m in ann), None)
    if marker is None:
        raise RuntimeError(f"{case}: arena.rs is not annotated (no debug info?)")
    section = ann.split(marker)[1].split("-- Auto-annotated source:")[0]
    n_line = 0
    spent = 0
    for line in section.splitlines():
        m = _LINE.match(line)
        if m is None or m.group(2).lstrip().startswith("=>"):
            continue
        n_line += 1
        if m.group(1) != "." and lo <= n_line <= hi:
            spent += int(m.group(1).replace(",", ""))
    return total, spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument(
        "--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    )
    args = ap.parse_args()
    subprocess.run(
        ["cargo", "build", "--profile", "bench", "-q", "-p", "hftbook-core", "--example", "icount"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": args.target_dir},
    )
    # The bench profile's examples land in the release directory.
    binary = Path(args.target_dir) / "release" / "examples" / "icount"
    lo, hi = index_lines()
    print(f"id index: arena.rs lines {lo}-{hi}")
    print(f"{'case':28} {'instructions':>14} {'id index':>12} {'share':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            total, spent = share(binary, case, Path(tmp), lo, hi)
            print(f"{case:28} {total:>14,} {spent:>12,} {100 * spent / total:>6.1f}%")


if __name__ == "__main__":
    main()
