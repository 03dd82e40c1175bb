"""Instruction-count regression gate (run by CI through scripts/test.sh).

Wall-clock figures swing by +-50 % on the shared 2-core machines this project runs on, so CI
gates on instructions instead: each case below runs ``rust/core/examples/icount.rs`` under
``valgrind --tool=callgrind`` and reads the inclusive instruction count of ``run_ops`` (or
``run_ops_with_reports``; the book work only: workload generation and setup are outside
it), plus that of ``validate_helper``, the second thread a large batch validates on. The
counts are compared with the committed baseline ``benches/icount_baseline.json``; a case
more than ``--tolerance`` (default 3 %) above its baseline fails the gate.

    python benches/icount_gate.py              # check against the baseline
    python benches/icount_gate.py --update     # rewrite the baseline (after a deliberate change)
    python benches/icount_gate.py --only w2_skip,w1_skip

A case more than the tolerance *below* its baseline passes, with a note to update the
baseline so that the improvement is locked in. A case with no baseline yet is measured and
reported ("no baseline") without failing the gate; ``--update --only <cases>`` adds just
those cases to the baseline, leaving the others as they are.

The ``flow_*`` cases replay the five market flows (``workload::flow``: adds, cancels,
modifies and refused cancels / modifies of dead orders, about two messages per order) on an
empty book through ``workload::run_with_reports``, so their count includes delivering every
report to a gateway's log; ``n`` is their number of orders and the per-op figure is per
message (the example prints the messages applied as ``ops``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "benches" / "icount_baseline.json"


@dataclass(frozen=True)
class Case:
    name: str
    ladder: str
    workload: str
    n: int
    what: str
    # What the example's "ops" counts: operations, or a flow's messages.
    unit: str = "op"

    @property
    def ops_hint(self) -> str:
        return f"{self.workload} n={self.n} on {self.ladder}"


# Orders of each flow case (about twice as many messages).
FLOW_ORDERS = 50_000


def _flow(name: str, ladder: str, flow: str, seq_ids: bool = False) -> Case:
    """A market-flow case: ``FLOW_ORDERS`` orders, reports delivered, counted per message."""
    ids = ", ids in arrival order" if seq_ids else ""
    return Case(
        name,
        ladder,
        f"flow_{flow}_seq_ids" if seq_ids else f"flow_{flow}",
        FLOW_ORDERS,
        f"{flow} flow, {FLOW_ORDERS // 1000}k orders{ids}, reports delivered, {ladder} ladder",
        "msg",
    )


CASES: tuple[Case, ...] = (
    Case("w2_skip", "skip", "w2", 200_000, "W2 trading mix, SkipLadder"),
    Case("w2_btree", "btree", "w2", 200_000, "W2 trading mix, BTreeMap ladder"),
    Case("w1_skip", "skip", "w1", 200_000, "W1 resting adds"),
    Case("batch_w2_skip", "skip", "batch_w2", 200_000, "W2 through batch::apply"),
    Case("sweep_10k_skip", "skip", "sweep", 20_000, "market orders through 10k levels a side"),
    Case("cancel_storm_skip", "skip", "cancel_storm", 100_000, "cancel 100k resting orders"),
    Case("deep_100k_skip", "skip", "deep", 100_000, "100k levels a side, adds+cancels"),
    Case("huge_level_skip", "skip", "huge_level", 200_000, "200k orders on one level"),
    _flow("flow_normal_skip", "skip", "normal"),
    _flow("flow_static_skip", "skip", "static"),
    _flow("flow_swing25_skip", "skip", "swing_25"),
    _flow("flow_swing40_skip", "skip", "swing_40"),
    _flow("flow_flash_crash_skip", "skip", "flash_crash"),
    _flow("flow_normal_btree", "btree", "normal"),
    _flow("flow_swing25_btree", "btree", "swing_25"),
    _flow("flow_normal_seq_skip", "skip", "normal", seq_ids=True),
)

# `run_ops`, or `run_ops_with_reports` (the flow cases).
_RUN_OPS = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*run_ops", re.MULTILINE)
# A large batch validates on two threads: the helper thread's share is under this frame.
_HELPER = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*validate_helper", re.MULTILINE)


def build(target_dir: str) -> Path:
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "hftbook-core", "--example", "icount"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": target_dir},
    )
    return Path(target_dir) / "release" / "examples" / "icount"


def count(binary: Path, case: Case, out_dir: Path) -> tuple[int, str]:
    out = out_dir / f"cg.{case.name}"
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            str(binary),
            case.ladder,
            case.workload,
            str(case.n),
            "1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{case.name}: icount failed:\n{run.stderr[-2000:]}")
    summary = run.stdout.strip()
    ann = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = _RUN_OPS.search(ann)
    if m is None:
        raise RuntimeError(f"{case.name}: run_ops not found in {out}")
    helper = _HELPER.search(ann)
    extra = int(helper.group(1).replace(",", "")) if helper else 0
    return int(m.group(1).replace(",", "")) + extra, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="rewrite the baseline")
    ap.add_argument("--tolerance", type=float, default=3.0, help="allowed increase, %%")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument(
        "--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    )
    args = ap.parse_args(argv)
    for tool in ("valgrind", "callgrind_annotate", "cargo"):
        if shutil.which(tool) is None:
            print(f"icount gate: {tool} not found on PATH", file=sys.stderr)
            return 2
    only = {s for s in args.only.split(",") if s}
    unknown = only - {c.name for c in CASES}
    if unknown:
        print(f"icount gate: unknown case(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not only or c.name in only]
    baseline: dict[str, dict[str, object]] = (
        json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    )
    binary = build(args.target_dir)
    results: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    missing: list[str] = []
    w = max(20, *(len(c.name) for c in cases))
    print(
        f"{'case':<{w}} {'instructions':>15} {'baseline':>15} {'change':>8}  "
        f"{'per op/msg':>14} {'run':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            t0 = time.monotonic()
            ir, summary = count(binary, case, Path(tmp))
            secs = time.monotonic() - t0
            ops = int(summary.split()[1])
            results[case.name] = {
                "instructions": ir,
                "per_op": round(ir / ops, 1),
                "unit": case.unit,
                "what": case.what,
                "run": summary,
                "args": [case.ladder, case.workload, case.n, 1],
            }
            per = f"{ir / ops:8.1f} /{case.unit:<4}"
            base = baseline.get(case.name, {}).get("instructions")
            if isinstance(base, int) and base > 0:
                change = 100.0 * (ir - base) / base
                verdict = ""
                if change > args.tolerance:
                    verdict = f"  REGRESSION (> +{args.tolerance:g} %)"
                    failed.append(case.name)
                elif change < -args.tolerance:
                    verdict = "  improved: run with --update to lock it in"
                print(
                    f"{case.name:<{w}} {ir:>15,} {base:>15,} {change:>+7.2f}%  "
                    f"{per} {secs:5.1f}s{verdict}"
                )
            else:
                print(
                    f"{case.name:<{w}} {ir:>15,} {'(none)':>15} {'':>8}  {per} {secs:5.1f}s"
                    "  no baseline"
                )
                missing.append(case.name)
    if args.update:
        merged = {**baseline, **results}
        BASELINE.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
        print(f"baseline written to {BASELINE.relative_to(ROOT)}")
        return 0
    if missing:
        print(
            f"icount gate: no baseline for {', '.join(missing)}: measured, not checked. "
            f"Add them with `python benches/icount_gate.py --update --only "
            f"{','.join(missing)}`."
        )
    if failed:
        print(
            f"icount gate FAILED: {', '.join(failed)} (more instructions than the baseline "
            f"allows). If the change is deliberate, run "
            f"`python benches/icount_gate.py --update` and commit the new baseline.",
            file=sys.stderr,
        )
        return 1
    checked = len(cases) - len(missing)
    print(f"icount gate passed ({checked} cases checked, tolerance +{args.tolerance:g} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
