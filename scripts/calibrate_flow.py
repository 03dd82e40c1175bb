"""Fit the simulator's background order flow to the real LOBSTER samples.

Reads the GOOG 2012-06-21 level-10 sample (straight from its zip) and the truncated AAPL
level-10 pair from the shared data directory (``$HFTBOOK_SHARED_DATA``, else
``../shared/data`` next to the repository), computes :func:`hftbook.flowstats.flow_stats` per
symbol and pooled, prints a table and writes ``rust/engine/src/sim/calibration.json``.

    python scripts/calibrate_flow.py              # print the table, write the JSON
    python scripts/calibrate_flow.py --markdown   # print the table as markdown (for the docs)
    python scripts/calibrate_flow.py --check      # exit 1 if the JSON on disk is stale
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "rust" / "engine" / "src" / "sim" / "calibration.json"

# this checkout's package, whatever hftbook the interpreter has installed
sys.path.insert(0, str(ROOT / "python"))
from hftbook.flowstats import flow_stats, lobster_messages, pool  # noqa: E402

TICK = 0.01
#: Distance bins: d = MIN_BIN .. MAX_BIN ticks; d < MIN_BIN (deep inside a wide spread, about
#: 0.11% of GOOG adds) is counted in the MIN_BIN bin, d > MAX_BIN is the power-law tail.
MIN_BIN, MAX_BIN = -50, 50
SIZE_COVERAGE = 0.9
SIGNIFICANT = 6

GOOG_ZIP = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_10.zip"
AAPL_STEM = "lobster/truncated_aapl_10/AAPL_2012-06-21_34200000_57600000"
SOURCES = ["LOBSTER GOOG 2012-06-21 level 10", "LOBSTER AAPL 2012-06-21 (truncated)"]
NOTE = (
    "fitted = flow_stats of GOOG and AAPL pooled message by message (the AAPL sample is its "
    "first 999 messages, 49 s after the open, so the pool is 99.3% GOOG). LOBSTER types 1/2/3 "
    "are add/partial_cancel/cancel, 4 (visible) and 5 (hidden) executions are execution; "
    "types 6 (cross trade) and 7 (halt) would be dropped, and none occur in these samples. "
    "A level-10 file holds only events inside the top 10 price levels, so far-away adds and "
    "their cancels are missing. Add distance d < -50 is counted in the -50 bin. Sizes are "
    "shares (1 lot = 1 share); life in seconds."
)


def shared_data() -> Path:
    """The shared data directory, resolved as the tests do."""
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else ROOT.parent / "shared" / "data"
    if not (root / "lobster").is_dir():
        raise SystemExit(f"shared data not found at {root} (set HFTBOOK_SHARED_DATA)")
    return root


def load_tables(root: Path) -> dict[str, dict[str, Any]]:
    """The normalized message tables of GOOG (from the zip, in memory) and AAPL."""
    with zipfile.ZipFile(root / GOOG_ZIP) as z:
        names = z.namelist()
        msg = next(n for n in names if "_message_" in n)
        book = next(n for n in names if "_orderbook_" in n)
        with z.open(msg) as m, z.open(book) as o:
            goog = lobster_messages(m, o, tick=TICK)
    aapl = lobster_messages(
        root / f"{AAPL_STEM}_message_10.csv", root / f"{AAPL_STEM}_orderbook_10.csv", tick=TICK
    )
    return {"GOOG": goog, "AAPL": aapl}


def _round(x: Any) -> Any:
    """Round floats to SIGNIFICANT digits, recursively, so the JSON stays readable."""
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, float):
        if x == 0.0 or not math.isfinite(x):
            return x
        return round(x, SIGNIFICANT - 1 - math.floor(math.log10(abs(x))))
    return x


def _stats(table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _round(
        flow_stats(**table, min_bin=MIN_BIN, max_bin=MAX_BIN, size_coverage=SIZE_COVERAGE)
    )
    return out


def build_calibration(tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The calibration document written to ``calibration.json``."""
    fitted = _stats(pool(list(tables.values())))
    return {
        "source": SOURCES,
        "tick": TICK,
        "symbols": {name: _stats(t) for name, t in tables.items()},
        "fitted": {"note": NOTE, **fitted},
    }


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def summary_rows(
    cal: dict[str, Any], extra: dict[str, dict[str, Any]] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the side-by-side table (one column per symbol, fitted, then extra)."""
    cols = {**cal["symbols"], "fitted": cal["fitted"], **(extra or {})}

    def d_share(s: dict[str, Any], test: Any) -> float:
        ad = s["add_distance"]
        return float(sum(p for i, p in enumerate(ad["pmf"]) if test(ad["min"] + i)))

    def top(model: dict[str, Any], n: int = 3) -> str:
        pairs = sorted(zip(model["pmf"], model["values"], strict=True), reverse=True)[:n]
        return ", ".join(f"{v} ({p:.0%})" for p, v in pairs)

    metrics: list[tuple[str, Any]] = [
        ("messages / s", lambda s: _fmt(s["message_rate_per_s"])),
        ("mix add", lambda s: _fmt(s["mix"]["add"], ".4f")),
        ("mix partial cancel", lambda s: _fmt(s["mix"]["partial_cancel"], ".5f")),
        ("mix cancel", lambda s: _fmt(s["mix"]["cancel"], ".4f")),
        ("mix execution (trade share)", lambda s: _fmt(s["mix"]["execution"], ".4f")),
        ("marketable share", lambda s: _fmt(s["marketable_share"], ".4f")),
        ("add d < 0 (inside spread)", lambda s: _fmt(d_share(s, lambda d: d < 0), ".3f")),
        ("add d = 0 (join)", lambda s: _fmt(d_share(s, lambda d: d == 0), ".3f")),
        ("add 0 < d <= 50", lambda s: _fmt(d_share(s, lambda d: d > 0), ".3f")),
        ("add d > 50 (tail share)", lambda s: _fmt(s["add_distance"]["tail_share"], ".4f")),
        ("tail alpha", lambda s: _fmt(s["add_distance"]["tail_alpha"], ".3f")),
        ("add size: top values", lambda s: top(s["add_size"])),
        ("add size: # values for 90%", lambda s: str(len(s["add_size"]["values"]))),
        (
            "add size rest lognormal mu, sigma",
            lambda s: (
                f"{_fmt(s['add_size']['rest_log_mu'], '.3f')}, "
                f"{_fmt(s['add_size']['rest_log_sigma'], '.3f')}"
            ),
        ),
        ("aggressor size: top values", lambda s: top(s["aggressor_size"])),
        ("aggressor size: # values for 90%", lambda s: str(len(s["aggressor_size"]["values"]))),
        (
            "life: cancelled / executed / open",
            lambda s: " / ".join(
                _fmt(s["life"][k], ".3f")
                for k in ("cancelled_share", "executed_share", "open_share")
            ),
        ),
        (
            "life (cancelled) log mu, sigma",
            lambda s: f"{_fmt(s['life']['log_mu'], '.3f')}, {_fmt(s['life']['log_sigma'], '.3f')}",
        ),
        (
            "life p10 / p50 / p90 / p99 (s)",
            lambda s: " / ".join(
                _fmt(s["life"]["quantiles_s"][k], ".3g") for k in ("p10", "p50", "p90", "p99")
            ),
        ),
        (
            "life p50 (s): inside / join / behind",
            lambda s: " / ".join(_place_p50(s, k) for k in ("inside", "join", "behind")),
        ),
        (
            "cancelled: inside / join / behind",
            lambda s: " / ".join(
                _fmt(s["life"]["by_place"][k]["cancelled_share"], ".3f")
                for k in ("inside", "join", "behind")
            ),
        ),
        (
            "inside adds: improvement / spread p25 / p50 / p75",
            lambda s: " / ".join(
                _fmt(s["add_distance"]["inside_fraction"][i], ".3f")
                if s["add_distance"]["inside_fraction"]
                else "-"
                for i in (5, 10, 15)
            ),
        ),
        (
            "partial cancel: share of adds",
            lambda s: _fmt(s["partial_cancel"]["share_of_adds"], ".5f"),
        ),
        (
            "partial cancel: mean fraction",
            lambda s: _fmt(s["partial_cancel"]["fraction_mean"], ".3f"),
        ),
        (
            "spread ticks p50 / mean",
            lambda s: (
                f"{_fmt(s['spread_ticks']['p50'], '.0f')} / "
                f"{_fmt(s['spread_ticks']['mean'], '.2f')}"
            ),
        ),
        ("best bid size p50 (lots)", lambda s: _fmt(s["touch_depth_lots"]["p50"], ".0f")),
    ]
    header = ["statistic", *cols]
    return header, [[name, *(f(s) for s in cols.values())] for name, f in metrics]


def _place_p50(s: dict[str, Any], place: str) -> str:
    """Median life (s) of the cancelled orders placed at ``place``."""
    q = s["life"]["by_place"][place]["log_quantiles"]
    return _fmt(math.exp(q[50]), ".3g") if q else "-"


def render(
    cal: dict[str, Any], markdown: bool, extra: dict[str, dict[str, Any]] | None = None
) -> str:
    """The summary table as aligned text or as a markdown table (``extra``: more columns)."""
    header, rows = summary_rows(cal, extra)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    )


def to_json(cal: dict[str, Any]) -> str:
    """The exact text written to ``calibration.json``."""
    return json.dumps(cal, indent=2, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Compute, print and write the calibration."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--check", action="store_true", help="only check the JSON on disk is fresh")
    args = ap.parse_args(argv)
    cal = build_calibration(load_tables(shared_data()))
    if args.check:
        fresh = OUT.is_file() and OUT.read_text() == to_json(cal)
        print(f"{OUT.relative_to(ROOT)}: {'up to date' if fresh else 'STALE'}")
        return 0 if fresh else 1
    print(render(cal, args.markdown))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(to_json(cal))
    print(f"\nwrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
