"""``hftbook simulate``: strategies on the engine in simulation mode, with a report.

By default (:mod:`hftbook.simulate_engine`): three symbols with background flow, the
shipped MarketMaker and TWAP on their own accounts with risk limits, user strategies
(``--strategy``), about 10 s of wall time, and a report folder ``runs/<UTC timestamp>/``.
With ``--book``: the older bare-book synthetic flow (:mod:`hftbook.simulate`) and its
latency reports.

The default command: ``hftbook --seconds 3`` means ``hftbook simulate --seconds 3``.

    >>> from hftbook.cli import main
    >>> main(["simulate", "--book", "--mix", "1,2,3"])
    2
    >>> main(["simulate", "--mix", "1,2,3,4"])  # a --book option without --book
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


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


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


#: Options of the bare-book simulation only (``--book``), with their argparse defaults.
_BOOK_ONLY: dict[str, object] = {
    "books": None,
    "tick_size": _DEFAULT.tick_size,
    "lot_size": _DEFAULT.lot_size,
    "vol": _DEFAULT.volatility,
    "rate": _DEFAULT.arrival_rate,
    "accounts": _DEFAULT.accounts,
    "mix": _DEFAULT.mix,
    "json": None,
    "no_reports": False,
}
#: Options of the engine simulation only (not with ``--book``).
_ENGINE_ONLY: dict[str, object] = {
    "config": None,
    "sim_seconds": None,
    "strategy": [],
    "serve": None,
    "speed": None,
}


def _add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--book",
        action="store_true",
        help="the bare-book simulation instead: a Python-drawn flow straight into books, "
        "per-call latency reports (the options marked [--book])",
    )
    run = p.add_argument_group("run length")
    run.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        help=f"wall-clock run time in seconds (default {_DEFAULT.seconds:g}; with --sim-seconds "
        "or --max-ops: no wall limit unless given)",
    )
    run.add_argument(
        "--sim-seconds",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop after S seconds of simulated time (deterministic for a seed)",
    )
    run.add_argument(
        "--max-ops",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="stop after N background orders (deterministic for a seed; --book: exactly N "
        "operations, overrides --seconds)",
    )
    eng = p.add_argument_group("strategies and engine")
    eng.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="engine TOML configuration, with an optional [simulation] table (a run's "
        "config.toml reproduces it)",
    )
    eng.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="MODULE:CLASS",
        help="also run this hftbook.Strategy subclass (module:Class or path/file.py:Class; "
        "repeatable; accounts 100, 101, ...)",
    )
    live = p.add_argument_group("watch it live")
    live.add_argument(
        "--serve",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve the market-data feed (/ws), Prometheus metrics (/metrics) and the "
        "browser dashboard (/) on 127.0.0.1:PORT (0: a free port) and pace the run: "
        "simulated time follows the wall clock x --speed; without --seconds it runs until "
        "Ctrl-C",
    )
    live.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        metavar="X",
        help="with --serve: simulated seconds per wall-clock second (default 1.0)",
    )
    flow = p.add_argument_group("flow")
    flow.add_argument(
        "--seed",
        type=int_at_least(0),
        default=None,
        help=f"flow seed (default: the config's [simulation] seed, else 42; --book: "
        f"{_DEFAULT.seed})",
    )
    books = flow.add_mutually_exclusive_group()
    books.add_argument(
        "--symbols",
        type=_symbols,
        default=None,
        metavar="SYM[,SYM...]",
        help="the symbols (default AAPL,MSFT,GOOG; --book: one book per symbol, default "
        f"{','.join(_DEFAULT.symbols)})",
    )
    books.add_argument(
        "--books",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="[--book] N books named BOOK1..BOOKN instead of --symbols",
    )
    flow.add_argument(
        "--tick-size",
        default=_DEFAULT.tick_size,
        help="[--book] tick size of every book (default %(default)s)",
    )
    flow.add_argument(
        "--lot-size",
        type=int_at_least(1),
        default=_DEFAULT.lot_size,
        help="[--book] units per lot (default %(default)s)",
    )
    flow.add_argument(
        "--vol",
        type=non_negative_float,
        default=_DEFAULT.volatility,
        help="[--book] annualised volatility of each mid, GBM in simulated time "
        "(default %(default)s)",
    )
    flow.add_argument(
        "--rate",
        type=positive_float,
        default=_DEFAULT.arrival_rate,
        help="[--book] events per simulated second per book (default %(default)s)",
    )
    flow.add_argument(
        "--accounts",
        type=int_at_least(1),
        default=_DEFAULT.accounts,
        help="[--book] number of trading accounts (default %(default)s)",
    )
    flow.add_argument(
        "--mix",
        type=_mix,
        default=_DEFAULT.mix,
        metavar="ADD,CANCEL,MODIFY,MATCH",
        help=f"[--book] event probabilities, summing to 1 "
        f"(default {','.join(map(str, _DEFAULT.mix))})",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="[--book] also write the summary as JSON",
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    out.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the report: config.toml, report.json/.html, pnl/inventory/callbacks"
        ".png (--book: latency.json/.html/.png and summary.json; default runs/<UTC timestamp>/)",
    )
    out.add_argument("--no-reports", action="store_true", help="[--book] do not write the reports")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _run_simulate(args: argparse.Namespace) -> int:
    prog = "hftbook simulate"
    if not args.book:
        return _run_engine(args)
    for dest, default in _ENGINE_ONLY.items():
        if getattr(args, dest) != default:
            raise UsageError(prog, f"{_flag(dest)} runs on the engine: not with --book")
    if args.seconds is None:
        args.seconds = _DEFAULT.seconds
    if args.seed is None:
        args.seed = _DEFAULT.seed
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


def _run_engine(args: argparse.Namespace) -> int:
    """``hftbook simulate`` without ``--book``: strategies on the engine, and the report."""
    from hftbook.exceptions import HftbookError
    from hftbook.simulate_engine import (
        EngineSimConfig,
        StrategyLoadError,
        print_engine_summary,
        run_engine_simulation,
        write_engine_reports,
    )

    prog = "hftbook simulate"
    for dest, default in _BOOK_ONLY.items():
        if getattr(args, dest) != default:
            raise UsageError(
                prog, f"{_flag(dest)} is an option of the bare-book simulation: add --book"
            )
    if args.config is not None and not args.config.is_file():
        raise UsageError(prog, f"--config {args.config}: no such file")
    if args.speed is not None and args.serve is None:
        raise UsageError(prog, "--speed paces a served run: add --serve PORT")
    wall = args.seconds
    if (
        wall is None
        and args.sim_seconds is None
        and args.max_ops is None
        and args.serve is None  # served: until Ctrl-C
    ):
        wall = _DEFAULT.seconds
    out_dir = args.out if args.out is not None else _default_run_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OSError(f"{out_dir} is not writable")
    except OSError as e:
        raise UsageError(prog, f"cannot write --out {out_dir}: {e.strerror or e}") from None
    cfg = EngineSimConfig(
        symbols=args.symbols,
        seed=args.seed,
        wall_seconds=wall,
        sim_seconds=args.sim_seconds,
        max_ops=args.max_ops,
        config=args.config,
        strategies=tuple(args.strategy),
        serve=args.serve,
        speed=1.0 if args.speed is None else args.speed,
    )
    console = Console()
    try:
        result = run_engine_simulation(
            cfg, progress=not args.no_progress, console=console, journal_dir=out_dir / "journal"
        )
    except StrategyLoadError as e:
        raise UsageError(prog, str(e)) from None
    except (HftbookError, OSError, ValueError) as e:
        msg = " ".join(str(e).split())
        raise UsageError(prog, f"{type(e).__name__}: {msg}") from None
    print_engine_summary(result, console)
    try:
        paths = write_engine_reports(result, out_dir)
    except OSError as e:
        raise UsageError(prog, f"cannot write --out {out_dir}: {e.strerror or e}") from None
    console.print(f"report: {out_dir}/ ({', '.join(p.name for p in paths)})")
    return EXIT_INTERRUPTED if result.stopped_by == "interrupted" else EXIT_OK


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
    help="strategies against a simulated market on the engine, with a report "
    "(--book: the bare-book synthetic flow and its latency reports)",
    add_arguments=_add_simulate_arguments,
    run=_run_simulate,
)
