"""Compare the simulator's background order flow with the real LOBSTER samples it is fitted to.

Runs a seeded :class:`hftbook.Simulation` (three symbols, background flow only, the default
rate), turns each symbol's events into LOBSTER-like messages with
:func:`hftbook.flowstats.engine_messages`, pools them, and computes the same
:func:`hftbook.flowstats.flow_stats` as ``scripts/calibrate_flow.py`` does for the real samples.
The simulated clock is rescaled to the sample's (the flow runs ``rate_per_s`` / the fitted
message rate times faster, lives included), and the first ``WARMUP_S`` simulated seconds,
while the book fills from empty, are left out (their orders' later messages are ignored, as
those of orders added before a LOBSTER file starts are).

    python scripts/flow_vs_real.py              # print the table, write docs/img/flow_vs_real.png
    python scripts/flow_vs_real.py --markdown   # the table for docs/flow_calibration.md
    python scripts/flow_vs_real.py --check      # exit 1 if the table in the docs is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "flow_calibration.md"
#: Docs that show the simulated table.
DOCS = (DOC, ROOT / "docs" / "strategies.md")
PLOT = ROOT / "docs" / "img" / "flow_vs_real.png"

sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "scripts"))
import calibrate_flow as cf  # noqa: E402

import hftbook as hb  # noqa: E402
from hftbook.flowstats import CANCEL, NO_PRICE, engine_messages, pool  # noqa: E402

#: The simulation: symbols and reference prices (near the samples' $580), seed, length.
SYMBOLS = {"GOOG": "580.00", "AAPL": "585.00", "AMZN": "220.00"}
SEED = 1
SECONDS = 2.0
WARMUP_S = 0.25
#: Background messages per simulated second per symbol: the simulator's default.
RATE_PER_S = 100_000.0


def fitted_rate() -> float:
    """The fitted message rate (messages per second of the sample's time) in calibration.json."""
    return float(json.loads(cf.OUT.read_text())["fitted"]["message_rate_per_s"])


def simulated_tables(
    seed: int = SEED, seconds: float = SECONDS, warmup_s: float = WARMUP_S
) -> dict[str, dict[str, Any]]:
    """Per symbol, the message table of a simulation, on the sample's clock, warm-up dropped."""
    sim = hb.Simulation(
        symbols={s: {"reference_price": p} for s, p in SYMBOLS.items()},
        seed=seed,
        rate_per_s=RATE_PER_S,
    )
    chunks: list[np.ndarray] = []
    sim.run(seconds=seconds, on_batch=chunks.append)
    sim.stop()
    events = np.concatenate(chunks)
    scale = RATE_PER_S / fitted_rate()  # sample seconds per simulated second
    out: dict[str, dict[str, Any]] = {}
    for name in SYMBOLS:
        t = engine_messages(events, sim.engine.symbols.index(name))
        keep = t["ts_ns"] >= round(warmup_s * 1e9)
        t = {k: v[keep] for k, v in t.items()}
        t["ts_ns"] = np.round(t["ts_ns"] * scale).astype(np.int64)
        out[name] = t
    return out


def build() -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The real calibration, the simulated statistics, and the tables (real and simulated)."""
    real = cf.load_tables(cf.shared_data())
    cal = cf.build_calibration(real)
    sim_tables = simulated_tables()
    simulated = cf._stats(pool(list(sim_tables.values())))
    tables = {
        **real,
        "fitted": pool(list(real.values())),
        "simulated": pool(list(sim_tables.values())),
    }
    return cal, simulated, tables


def render(cal: dict[str, Any], simulated: dict[str, Any], markdown: bool) -> str:
    """The side-by-side table: GOOG, AAPL, fitted, and the simulated flow."""
    return cf.render(cal, markdown, extra={"simulated": simulated})


def cancelled_lives_s(t: dict[str, Any]) -> np.ndarray:
    """Life (add to full cancel) in seconds of each cancelled add of a table."""
    adds = np.flatnonzero(t["kind"] == 1)
    ids = t["order_id"][adds]
    order = np.argsort(ids)
    cx = np.flatnonzero(t["kind"] == CANCEL)
    pos = np.clip(np.searchsorted(ids[order], t["order_id"][cx]), 0, max(len(ids) - 1, 0))
    if not len(ids):
        return np.zeros(0)
    a = adds[order][pos]
    ok = (ids[order][pos] == t["order_id"][cx]) & (a < cx)
    return np.maximum(t["ts_ns"][cx[ok]] - t["ts_ns"][a[ok]], 1) / 1e9


def plot(cal: dict[str, Any], simulated: dict[str, Any], tables: dict[str, Any]) -> None:
    """Add-distance pmf, cancelled lives and spreads, GOOG vs simulated, to ``PLOT``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"GOOG": "C0", "simulated": "C3"}
    stats = {"GOOG": cal["symbols"]["GOOG"], "simulated": simulated}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    ax = axes[0]
    for name, s in stats.items():
        ad = s["add_distance"]
        d = np.arange(ad["min"], ad["min"] + len(ad["pmf"]))
        sel = (d >= -30) & (d <= 50)
        ax.step(d[sel], np.asarray(ad["pmf"])[sel], where="mid", color=colors[name], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("add distance d behind the touch (ticks)")
    ax.set_ylabel("share of adds")
    ax.set_title("where limit orders are added")
    ax.legend(fontsize=8)
    ax = axes[1]
    for name in stats:
        life = np.sort(cancelled_lives_s(tables[name]))
        ax.step(life, np.arange(1, len(life) + 1) / len(life), color=colors[name], label=name)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1e4)
    ax.set_xlabel("life of cancelled orders (s, sample clock)")
    ax.set_ylabel("cumulative share")
    ax.set_title("how long orders live before a cancel")
    ax = axes[2]
    for name in stats:
        t = tables[name]
        both = (t["best_bid"] != NO_PRICE) & (t["best_ask"] != NO_PRICE)
        spread = t["best_ask"][both] - t["best_bid"][both]
        pmf = np.bincount(np.clip(spread, 0, 80), minlength=81) / max(len(spread), 1)
        ax.step(np.arange(81), pmf, where="mid", color=colors[name], label=name)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel("spread before a message (ticks; 80 = 80+)")
    ax.set_ylabel("share of messages")
    ax.set_title("spread")
    fig.suptitle(
        f"LOBSTER GOOG 2012-06-21 vs simulated background flow (seed {SEED}, "
        f"{len(SYMBOLS)} symbols x {SECONDS - WARMUP_S:g} s after warm-up)",
        fontsize=10,
    )
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=72, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Simulate, compare, print the table, and write the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--check", action="store_true", help="only check the docs table is fresh")
    args = ap.parse_args(argv)
    cal, simulated, tables = build()
    if args.check:
        table = render(cal, simulated, markdown=True)
        stale = [d for d in DOCS if table not in d.read_text()]
        for d in DOCS:
            print(
                f"{d.relative_to(ROOT)} simulated table: {'STALE' if d in stale else 'up to date'}"
            )
        return 1 if stale else 0
    print(render(cal, simulated, args.markdown))
    plot(cal, simulated, tables)
    print(f"\nwrote {PLOT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
