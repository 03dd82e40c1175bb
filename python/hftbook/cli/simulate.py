"""``hftbook simulate``: drive books with a seeded synthetic order flow (:mod:`hftbook.simulate`).

The default command: ``hftbook --seconds 3`` means ``hftbook simulate --seconds 3``.

    >>> from hftbook.cli import main
    >>> main(["simulate", "--mix", "1,2,3"])
    2
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from hftbook.cli._base import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Command,
    UsageError,
    check_writable,
    int_at_least,
    non_negative_float,
    positive_float,
)
from hftbook.simulate import (
    KIND_NAMES,
    SimulationConfig,
    print_summary,
    run_simulation,
    write_reports,
)

__all__ = ["SIMULATE"]

_DEFAULT = SimulationConfig()


def _symbols(text: str) -> tuple[str, ...]:
    syms = tuple(s.strip() for s in text.split(","))
    if not text.strip() or any(not s for s in syms):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of symbols (e.g. AAPL,MSFT)"
        )
    return syms


def _mix(text: str) -> tuple[float, float, float, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 4 comma-separated numbers ({','.join(KIND_NAMES)})"
        )
    return (parts[0], parts[1], parts[2], parts[3])


def _add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    run = p.add_argument_group("run length")
    run.add_argument(
        "--seconds",
        type=positive_float,
        default=_DEFAULT.seconds,
        help="wall-clock run time in seconds (default %(default)s)",
    )
    run.add_argument(
        "--max-ops",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="run exactly N operations instead (deterministic for a seed; overrides --seconds)",
    )
    flow = p.add_argument_group("flow")
    flow.add_argument(
        "--seed",
        type=int_at_least(0),
        default=_DEFAULT.seed,
        help="flow seed (default %(default)s)",
    )
    books = flow.add_mutually_exclusive_group()
    books.add_argument(
        "--symbols",
        type=_symbols,
        default=None,
        metavar="SYM[,SYM...]",
        help=f"one book per symbol (default {','.join(_DEFAULT.symbols)})",
    )
    books.add_argument(
        "--books",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="N books named BOOK1..BOOKN instead of --symbols",
    )
    flow.add_argument(
        "--tick-size",
        default=_DEFAULT.tick_size,
        help="tick size of every book (default %(default)s)",
    )
    flow.add_argument(
        "--lot-size",
        type=int_at_least(1),
        default=_DEFAULT.lot_size,
        help="units per lot (default %(default)s)",
    )
    flow.add_argument(
        "--vol",
        type=non_negative_float,
        default=_DEFAULT.volatility,
        help="annualised volatility of each mid, GBM in simulated time (default %(default)s)",
    )
    flow.add_argument(
        "--rate",
        type=positive_float,
        default=_DEFAULT.arrival_rate,
        help="events per simulated second per book (default %(default)s)",
    )
    flow.add_argument(
        "--accounts",
        type=int_at_least(1),
        default=_DEFAULT.accounts,
        help="number of trading accounts (default %(default)s)",
    )
    flow.add_argument(
        "--mix",
        type=_mix,
        default=_DEFAULT.mix,
        metavar="ADD,CANCEL,MODIFY,MATCH",
        help=f"event probabilities, summing to 1 (default {','.join(map(str, _DEFAULT.mix))})",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the summary as JSON"
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the profiler reports: latency.json/.html/.png and summary.json "
        "(default runs/<UTC timestamp>/)",
    )
    out.add_argument("--no-reports", action="store_true", help="do not write the reports")


def _run_simulate(args: argparse.Namespace) -> int:
    prog = "hftbook simulate"
    if args.books is not None:
        symbols: tuple[str, ...] = tuple(f"BOOK{i}" for i in range(1, args.books + 1))
    elif args.symbols is not None:
        symbols = args.symbols
    else:
        symbols = _DEFAULT.symbols
    try:
        cfg = SimulationConfig(
            symbols=symbols,
            seconds=args.seconds,
            max_ops=args.max_ops,
            seed=args.seed,
            tick_size=args.tick_size,
            lot_size=args.lot_size,
            volatility=args.vol,
            arrival_rate=args.rate,
            accounts=args.accounts,
            mix=args.mix,
        )
    except ValueError as e:
        raise UsageError(prog, str(e)) from None
    json_path: Path | None = args.json
    if json_path is not None:
        try:
            check_writable(json_path)
        except OSError as e:
            raise UsageError(prog, f"cannot write --json {json_path}: {e}") from None

    out_dir: Path | None = None
    if not args.no_reports:
        out_dir = args.out if args.out is not None else _default_run_dir()
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if not os.access(out_dir, os.W_OK | os.X_OK):
                raise OSError(f"{out_dir} is not writable")
        except OSError as e:
            raise UsageError(prog, f"cannot write --out {out_dir}: {e.strerror or e}") from None

    result = run_simulation(cfg, progress=not args.no_progress)
    console = Console()
    print_summary(result, console)
    if out_dir is not None:
        try:
            paths = write_reports(result, out_dir)
        except OSError as e:
            raise UsageError(prog, f"cannot write --out {out_dir}: {e.strerror or e}") from None
        console.print(f"reports: {out_dir}/ ({', '.join(p.name for p in paths)})")
    if json_path is not None:
        try:
            with json_path.open("w", encoding="utf-8") as f:
                json.dump(result.to_dict(), f, indent=2)
                f.write("\n")
        except OSError as e:
            raise UsageError(prog, f"cannot write --json {json_path}: {e.strerror or e}") from None
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _default_run_dir() -> Path:
    """``runs/<UTC timestamp>/`` (with a suffix if that folder exists already)."""
    import datetime as dt

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("runs") / stamp
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


SIMULATE = Command(
    name="simulate",
    help="drive books with a seeded synthetic order flow; report throughput and latency",
    add_arguments=_add_simulate_arguments,
    run=_run_simulate,
)
