"""Instructions per call of the Python per-call API on W2 (callgrind; deterministic).

Usage: python benches/py_percall_instr.py [--ops 30000]   (needs valgrind and a release build)

Replays the first --ops operations of the W2 stream through `benches/py_w2.py`'s own per-call
loop (its untimed pass) under callgrind, four times: with collection toggled on the
`OrderBook.submit` and `OrderBook.cancel` entry points (instructions per submit and per cancel,
everything inside the call), and for the whole program with --ops and with 0 ops (their
difference over --ops is the whole loop per operation, Python included; the quanta clock's
start-up calibration, which spins for a variable time, is subtracted from both). Wall-clock
figures on a shared 2-core machine move by tens of percent between runs; these do not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(n: int, size: int) -> None:
    sys.path.insert(0, str(HERE))
    from py_w2 import _rows, per_call

    from hftbook._core import workload_w2

    prefill, ops = workload_w2(size, 42)  # the same stream in every run
    rows = _rows(ops)[:n]
    per_call(prefill, rows, timed=False)


def _callgrind(out: Path, n: int, size: int, toggle: str | None) -> tuple[int, int]:
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if toggle:
        cmd.append(f"--toggle-collect={toggle}")
    cmd += [sys.executable, __file__, "--child", str(n), str(size)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    m = re.search(r"^summary: (\d+)", out.read_text(), re.M) or re.search(
        r"^totals: (\d+)", out.read_text(), re.M
    )
    if m is None:
        raise SystemExit(f"no totals in {out}")
    ann = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    calib = 0
    for line in ann.splitlines():
        if "quanta::Clock::new [" in line:
            calib = int(line.split()[0].replace(",", ""))
            break
    return int(m.group(1)), calib


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=30_000)
    ap.add_argument("--child", type=int, nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        _child(*a.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        sub, _ = _callgrind(t / "sub", a.ops, a.ops, "*submit_fast*")
        can, _ = _callgrind(t / "can", a.ops, a.ops, "*cancel_fast*")
        whole, whole_cal = _callgrind(t / "whole", a.ops, a.ops, None)
        zero, zero_cal = _callgrind(t / "zero", 0, a.ops, None)
    from hftbook._core import workload_w2

    kinds = workload_w2(a.ops, 42)[1]["kind"].tolist()
    n_sub, n_can, n_mod = (kinds.count(k) for k in (0, 1, 2))
    per_op = ((whole - whole_cal) - (zero - zero_cal)) / a.ops
    inside = (sub + can) / a.ops
    print(
        f"W2 per-call loop, first {a.ops} ops ({n_sub} submits, {n_can} cancels, {n_mod} modifies)"
    )
    print(f"  instructions per submit (whole entry point): {sub / max(n_sub, 1):8.0f}")
    print(f"  instructions per cancel (whole entry point): {can / max(n_can, 1):8.0f}")
    print(f"  whole loop per op:                           {per_op:8.0f}")
    print(f"    of which inside submit/cancel:             {inside:8.0f}")
    print(f"    outside (Python loop, report dealloc, GC): {per_op - inside:8.0f}")
    print(f"  (raw: whole {whole} - calibration {whole_cal}, zero {zero} - calibration {zero_cal})")


if __name__ == "__main__":
    main()
