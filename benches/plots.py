"""Draw the committed performance plots from the suite's JSON results.

    python benches/plots.py                       # docs/peers/peers.json -> docs/img/*.png
    python benches/plots.py --peers RUN.json --out DIR

Plots:

* ``peers_throughput.png``: W1 adds/s and W2 ops/s per CPU second of every row of the peer
  comparison (log scale), labelled with the ratio to hftbook per call.
* ``peers_latency.png``: W2 per-call p50 / p99 / p99.9 of every row that has them (log scale).
* ``icount.png``: instructions per operation of each case of the CI instruction-count gate
  (``benches/icount_baseline.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

ROOT = Path(__file__).resolve().parents[1]


def _ok_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in run["rows"] if r.get("status") == "ok"]


def throughput(run: dict[str, Any], out: Path) -> Path:
    rows = _ok_rows(run)
    names = [r["name"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, wl, title in zip(
        axes, ("w1", "w2"), ("W1: resting adds", "W2: trading mix"), strict=True
    ):
        vals = [(r.get(wl) or {}).get("cpu_ops_per_s") or 0.0 for r in rows]
        colors = [
            "#1f77b4"
            if r["name"].startswith("hftbook")
            else "#999999"
            if r["kind"] == "floor"
            else "#ff7f0e"
            for r in rows
        ]
        y = range(len(rows))
        ax.barh(list(y), vals, color=colors)
        ax.set_xscale("log")
        ax.set_xlim(1e5, 3e7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{title}, ops per CPU second (log)")
        for i, r in enumerate(rows):
            ratio = (r.get(wl) or {}).get("ratio_to_hftbook")
            if vals[i] and ratio is not None:
                ax.text(
                    vals[i], i, f" {vals[i] / 1e6:.2f}M ({ratio:.2f}x)", va="center", fontsize=8
                )
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0].set_yticks(list(range(len(rows))), names)
    axes[0].invert_yaxis()
    m = run.get("machine", {})
    fig.suptitle(
        f"hftbook vs peers, {run['config']['ops']:,} ops, median of {run['config']['reps']} "
        f"interleaved reps ({m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"load {m.get('loadavg', ['?'])[0]})",
        fontsize=10,
    )
    fig.tight_layout()
    path = out / "peers_throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency(run: dict[str, Any], out: Path) -> Path:
    rows = [r for r in _ok_rows(run) if (r.get("w2") or {}).get("p50_ns")]
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.27
    for j, (key, label) in enumerate((("p50_ns", "p50"), ("p99_ns", "p99"), ("p999_ns", "p99.9"))):
        vals = [r["w2"][key] / 1000.0 for r in rows]
        ax.bar([i + (j - 1) * width for i in range(len(rows))], vals, width, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("µs per call (log)")
    ax.set_xticks(list(range(len(rows))), names, rotation=20, ha="right", fontsize=8)
    ax.set_title("W2 per-call latency (perf_counter_ns pair around each call)", fontsize=10)
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    path = out / "peers_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def icount(baseline: dict[str, Any], out: Path) -> Path:
    cases = sorted(baseline.items(), key=lambda kv: kv[0])
    cases = [(k, v) for k, v in cases if v["per_op"] < 1e5]  # the sweep is two ops
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.barh([k for k, _ in cases], [v["per_op"] for _, v in cases], color="#1f77b4")
    for i, (_, v) in enumerate(cases):
        ax.text(v["per_op"], i, f" {v['per_op']:.0f}", va="center", fontsize=8)
    ax.set_xlabel("instructions per operation (callgrind, run_ops inclusive)")
    ax.set_title("CI instruction-count gate cases (benches/icount_baseline.json)", fontsize=10)
    ax.invert_yaxis()
    fig.tight_layout()
    path = out / "icount.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=Path, default=ROOT / "docs" / "peers" / "peers.json")
    ap.add_argument("--icount", type=Path, default=ROOT / "benches" / "icount_baseline.json")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    run = json.loads(a.peers.read_text())
    for p in (
        throughput(run, a.out),
        latency(run, a.out),
        icount(json.loads(a.icount.read_text()), a.out),
    ):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
