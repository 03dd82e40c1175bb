"""Simulation-mode throughput with Python strategies in the loop, against nautilus_trader.

Workloads (ours: ``hb.Simulation`` on AAPL, MSFT, GOOG, seed 1, ``batch_ns`` 1 ms):

- ``none``: background flow, no strategy (the ceiling of the simulation loop);
- ``idle``: background flow and a strategy with ``on_events`` only (it counts the rows):
  background orders/s, engine events/s, events delivered to the strategy/s (wall);
- ``mm``: background flow and the shipped ``MarketMaker``: background orders/s and the
  share of the wall time spent in its callbacks;
- ``roundtrip``: no background flow; on each batch the strategy submits K limit buys away
  from the touch (``self.buy``) and cancels the K of the previous batch (``self.cancel``),
  N orders in all: strategy orders/s round trip (wall). The strategy keeps every batch it
  receives; after the run every order is checked, from those events, to have been
  accepted and then cancelled.

nautilus_trader 1.221 ``BacktestEngine`` runs the comparable workloads in its own venv
(``benches/nautilus_sim.py`` under ``--naut-python``), in the same run, interleaved with
ours: ``idle`` (quote ticks into an idle strategy), ``quoting`` (bid and ask every 10
quotes, cancelling the previous ones) and ``roundtrip`` (K limit orders per quote,
cancelling the previous K).

    python benches/sim_throughput.py --json sim_throughput.json        # ~2 min
    python benches/sim_throughput.py --quick                           # smoke run

Figures are medians over ``--reps`` repetitions (ours and nautilus interleaved).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# numpy's OpenBLAS threads spin after a BLAS call, on the cores the simulation uses.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import hftbook as hb
from hftbook.strategies import MarketMaker

SYMBOLS = {
    "AAPL": {"reference_price": "100.00"},
    "MSFT": {"reference_price": "300.00"},
    "GOOG": {"reference_price": "580.00"},
}
#: Round-trip orders rest 1 % below the reference price: away from the touch, inside bands.
#: (Prices as strings: the binding parses a str faster than it converts a Decimal.)
AWAY = {"AAPL": "99.00", "MSFT": "297.00", "GOOG": "574.20"}
NAUT_SCRIPT = Path(__file__).with_name("nautilus_sim.py")
DEFAULT_NAUT_PYTHON = "/work/venv-naut/bin/python"


class Idle(hb.Strategy):
    """Counts the rows it receives; nothing else."""

    def __init__(self) -> None:
        self.rows = 0

    def on_events(self, batch: np.ndarray) -> None:
        self.rows += len(batch)


class RoundTrip(hb.Strategy):
    """Each batch: K limit buys away from the touch, and cancel the previous batch's K."""

    def __init__(self, k: int, total: int) -> None:
        self.k = k
        self.total = total
        self.sent: list[int] = []
        self.prev: list[int] = []
        #: Rows received (the run is checked from the engine's state afterwards: keeping
        #: every window's array for a check put page faults into the measured loop).
        self.rows = 0

    def on_start(self) -> None:
        self._syms = [(s, AWAY[s]) for s in self.symbols]
        self._round()

    def _round(self) -> None:
        for oid in self.prev:
            self.cancel(oid)
        if len(self.sent) >= self.total:
            self.prev = []
            return
        syms = self._syms
        n = len(syms)
        buy = self.buy
        new = []
        for i in range(self.k):
            sym, px = syms[i % n]
            new.append(buy(sym, 100, px))
        self.sent += new
        self.prev = new

    def on_events(self, batch: np.ndarray) -> None:
        self.rows += len(batch)
        self._round()

    def check(self) -> dict[str, Any]:
        """Every order sent was executed and cancelled, nothing rejected: from the engine
        (no background flow: the strategy's are the only orders)."""
        e = self.engine
        st = e.stats()
        rejected = sum(st["rejections"].values())
        # Each order and its cancel: one command each; the books are empty at the end.
        empty = all(e.book(s).top()[1:] == (None, None) for s in self.symbols)
        ok = (
            self.error is None
            and len(self.sent) > 0
            and len(set(self.sent)) == len(self.sent)
            and rejected == 0
            and st["commands"] == 2 * len(self.sent)
            and empty
            and self.rows >= 2 * len(self.sent)
        )
        return {
            "sent": len(self.sent),
            "commands": st["commands"],
            "rows": self.rows,
            "rejected": rejected,
            "all_accepted_and_cancelled": bool(ok),
        }


def _cb(st: dict[str, Any], name: str) -> dict[str, float]:
    cb: dict[str, float] = st["strategies"][name]["callbacks"]
    return cb


def run_idle(seconds: float) -> dict[str, Any]:
    sim = hb.Simulation(symbols=SYMBOLS, seed=1, batch_ns=1_000_000)
    s = sim.add_strategy(Idle(), account=1)
    st = sim.run(seconds=seconds)
    assert isinstance(s, Idle)
    cb = _cb(st, "Idle")
    out = {
        "background_orders": st["background_orders"],
        "wall_s": st["wall_s"],
        "background_orders_per_s": st["background_orders_per_s"],
        "engine_events_per_s": st["events_per_s"],
        "delivered_events": s.rows,
        "delivered_events_per_s": s.rows / st["wall_s"],
        "callback_share": cb["total_s"] / st["wall_s"],
        "callback_us_p50": cb["p50"],
        "batches": st["batches"],
    }
    sim.stop()
    return out


def run_none(seconds: float) -> dict[str, Any]:
    """The same market and loop with no strategy: the ceiling for the other two."""
    sim = hb.Simulation(symbols=SYMBOLS, seed=1, batch_ns=1_000_000)
    st = sim.run(seconds=seconds)
    out = {
        "background_orders": st["background_orders"],
        "wall_s": st["wall_s"],
        "background_orders_per_s": st["background_orders_per_s"],
        "engine_events_per_s": st["events_per_s"],
    }
    sim.stop()
    return out


def run_mm(seconds: float) -> dict[str, Any]:
    sim = hb.Simulation(symbols=SYMBOLS, seed=1, batch_ns=1_000_000)
    sim.add_strategy(MarketMaker(size=100, half_spread_ticks=2, max_inventory=1000), account=1)
    st = sim.run(seconds=seconds)
    cb = _cb(st, "MarketMaker")
    out = {
        "background_orders": st["background_orders"],
        "wall_s": st["wall_s"],
        "background_orders_per_s": st["background_orders_per_s"],
        "engine_events_per_s": st["events_per_s"],
        "callback_share": cb["total_s"] / st["wall_s"],
        "callback_us_p50": cb["p50"],
        "background_orders_per_s_excl_callbacks": st["background_orders"]
        / max(st["wall_s"] - cb["total_s"], 1e-9),
        "event_hash": sim.event_hash(),
        "batches": st["batches"],
    }
    sim.stop()
    return out


def run_roundtrip(k: int, total: int) -> dict[str, Any]:
    sim = hb.Simulation(symbols=SYMBOLS, seed=1, batch_ns=1_000_000, background=False)
    s = sim.add_strategy(RoundTrip(k, total), account=1)
    assert isinstance(s, RoundTrip)
    st = sim.run(seconds=10_000.0)
    cb = _cb(st, "RoundTrip")
    out = {
        "k": k,
        "wall_s": st["wall_s"],
        "strategy_orders_per_s": len(s.sent) / st["wall_s"],
        "us_per_order": st["wall_s"] / max(len(s.sent), 1) * 1e6,
        "callback_share": cb["total_s"] / st["wall_s"],
        **s.check(),
    }
    sim.stop()
    return out


def run_nautilus(py: str, workload: str, ticks: int, k: int) -> dict[str, Any] | None:
    cmd = [py, str(NAUT_SCRIPT), "--workload", workload, "--ticks", str(ticks), "--k", str(k)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if p.returncode != 0:
        sys.stderr.write(f"nautilus {workload} failed:\n{p.stderr[-2000:]}\n")
        return None
    got: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return got


def nautilus_available(py: str) -> str | None:
    """None if usable, else why not."""
    if not os.path.exists(py):
        return f"{py} not found (python3 -m venv /work/venv-naut && pip install nautilus-trader)"
    p = subprocess.run(
        [py, "-c", "import nautilus_trader; print(nautilus_trader.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        return f"nautilus_trader not importable with {py}"
    return None


def med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: short, 1 repetition")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="simulated seconds (idle, mm)")
    ap.add_argument(
        "--k", type=int, nargs="+", default=[10, 100], help="round trip: orders per batch"
    )
    ap.add_argument("--orders", type=int, default=200_000, help="round trip: orders in all")
    ap.add_argument("--naut-python", default=DEFAULT_NAUT_PYTHON)
    ap.add_argument("--naut-ticks", type=int, default=300_000, help="nautilus idle quotes")
    ap.add_argument("--no-nautilus", action="store_true")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.seconds, a.orders, a.naut_ticks = 1, 0.2, 20_000, 30_000
    naut_why = "skipped (--no-nautilus)" if a.no_nautilus else nautilus_available(a.naut_python)
    # nautilus: the quoting load quotes every 10 ticks (2 orders); the round trip K per tick.
    naut_quoting_ticks = max(a.naut_ticks // 5, 3000)
    # nautilus round trip: a tenth of our orders (it is ~50 times slower per order).
    naut_rt_ticks = {k: max(a.orders // (k * 10), 200) for k in a.k}

    res: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("none", "idle", "mm", "n_idle", "n_quoting")
    }
    for k in a.k:
        res[f"roundtrip_k{k}"] = []
        res[f"n_roundtrip_k{k}"] = []
    for rep in range(a.reps):
        t0 = time.perf_counter()
        res["none"].append(run_none(a.seconds))
        res["idle"].append(run_idle(a.seconds))
        res["mm"].append(run_mm(a.seconds))
        for k in a.k:
            res[f"roundtrip_k{k}"].append(run_roundtrip(k, a.orders))
        if naut_why is None:
            for w, n in (("idle", a.naut_ticks), ("quoting", naut_quoting_ticks)):
                got = run_nautilus(a.naut_python, w, n, 10)
                if got is not None:
                    res["n_" + w].append(got)
            for k in a.k:
                got = run_nautilus(a.naut_python, "roundtrip", naut_rt_ticks[k], k)
                if got is not None:
                    res[f"n_roundtrip_k{k}"].append(got)
        print(f"rep {rep + 1}/{a.reps}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    rows: list[tuple[str, str, str, str]] = []
    summary: dict[str, Any] = {}

    def add(name: str, ours: float | None, theirs: float | None, unit: str) -> None:
        ratio = ours / theirs if ours and theirs else None
        summary[name] = {"hftbook": ours, "nautilus": theirs, "ratio": ratio, "unit": unit}
        rows.append(
            (
                name,
                "-" if ours is None else f"{ours:,.0f}",
                "-" if theirs is None else f"{theirs:,.0f}",
                "-" if ratio is None else f"{ratio:.1f}x",
            )
        )

    n_idle = med(res["n_idle"], "quotes_per_s") if res["n_idle"] else None
    n_q = med(res["n_quoting"], "orders_per_s") if res["n_quoting"] else None
    add(
        "no strategy: background orders/s",
        med(res["none"], "background_orders_per_s"),
        None,
        "1/s",
    )
    add("idle: background orders/s", med(res["idle"], "background_orders_per_s"), None, "1/s")
    add(
        "idle: market events delivered to the strategy/s",
        med(res["idle"], "delivered_events_per_s"),
        n_idle,
        "1/s",
    )
    add("mm: background orders/s", med(res["mm"], "background_orders_per_s"), None, "1/s")
    add(
        "mm: background orders/s excluding its callbacks",
        med(res["mm"], "background_orders_per_s_excl_callbacks"),
        None,
        "1/s",
    )
    for k in a.k:
        nr = res[f"n_roundtrip_k{k}"]
        add(
            f"roundtrip K={k}: strategy orders/s (submit+accept+cancel)",
            med(res[f"roundtrip_k{k}"], "strategy_orders_per_s"),
            med(nr, "orders_per_s") if nr else None,
            "1/s",
        )
    add("quoting (nautilus): strategy orders/s", None, n_q, "1/s")

    print(f"\nsimulation throughput, medians of {a.reps} (ours and nautilus interleaved)")
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'hftbook':>12}  {'nautilus':>12}  {'ratio':>7}")
    for name, o, t, r in rows:
        print(f"{name:{width}}  {o:>12}  {t:>12}  {r:>7}")
    print(
        f"\nidle: callback share {med(res['idle'], 'callback_share'):.1%}, "
        f"p50 {med(res['idle'], 'callback_us_p50'):.0f} µs/batch; "
        f"mm: callback share {med(res['mm'], 'callback_share'):.1%}, "
        f"p50 {med(res['mm'], 'callback_us_p50'):.0f} µs/batch"
    )
    for k in a.k:
        rt = res[f"roundtrip_k{k}"]
        print(
            f"roundtrip K={k}: {med(rt, 'us_per_order'):.2f} µs/order, callback share "
            f"{med(rt, 'callback_share'):.0%}, every order accepted then cancelled: "
            f"{all(r['all_accepted_and_cancelled'] for r in rt)}"
        )
    if naut_why is not None:
        print(f"nautilus_trader: {naut_why}")
    elif res["n_quoting"]:
        nq = statistics.median(r["us_per_order"] for r in res["n_quoting"])
        print(f"nautilus: quoting {nq:.0f} µs/order")
    if a.json:
        doc = {
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            "reps": a.reps,
            "params": vars(a),
            "nautilus": naut_why or "measured",
            "summary": summary,
            "runs": res,
        }
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
