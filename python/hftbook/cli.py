"""The ``hftbook`` command line.

Subcommands (more -- ``perf``, ``replay``, ``bench`` -- plug into :data:`COMMANDS`):

* ``simulate``: drive one or more books with a seeded synthetic order flow and report
  throughput, per-call latency percentiles and the final books (the default when no
  subcommand is given).

Errors a user can cause (a bad option value, an unwritable ``--json`` path) print one line on
stderr and exit with status 2; Ctrl-C stops a run early, prints what it did and exits 130.

    >>> from hftbook.cli import main
    >>> main(["simulate", "--max-ops", "2000", "--seconds", "0"])
    2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from rich.console import Console

import hftbook
from hftbook.data.cli import replay_command
from hftbook.simulate import (
    KIND_NAMES,
    SimulationConfig,
    print_summary,
    run_simulation,
    write_reports,
)

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in the command line: reported as ``prog: error: message``, exit status 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, f"{message} (see {self.prog} --help)")


@dataclass(frozen=True)
class Command:
    """One subcommand of the ``hftbook`` command.

    ``add_arguments(parser)`` declares its options; ``run(args)`` runs it and returns the exit
    status, raising :class:`UsageError` for a user mistake.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------------------------- simulate

_DEFAULT = SimulationConfig()


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return v


def _int_at_least(lo: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text}")
        return v

    return parse


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
        type=_positive_float,
        default=_DEFAULT.seconds,
        help="wall-clock run time in seconds (default %(default)s)",
    )
    run.add_argument(
        "--max-ops",
        type=_int_at_least(1),
        default=None,
        metavar="N",
        help="run exactly N operations instead (deterministic for a seed; overrides --seconds)",
    )
    flow = p.add_argument_group("flow")
    flow.add_argument(
        "--seed",
        type=_int_at_least(0),
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
        type=_int_at_least(1),
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
        type=_int_at_least(1),
        default=_DEFAULT.lot_size,
        help="units per lot (default %(default)s)",
    )
    flow.add_argument(
        "--vol",
        type=_non_negative_float,
        default=_DEFAULT.volatility,
        help="annualised volatility of each mid, GBM in simulated time (default %(default)s)",
    )
    flow.add_argument(
        "--rate",
        type=_positive_float,
        default=_DEFAULT.arrival_rate,
        help="events per simulated second per book (default %(default)s)",
    )
    flow.add_argument(
        "--accounts",
        type=_int_at_least(1),
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


def _check_writable(path: Path) -> None:
    """Fail before a long run rather than after it."""
    if path.is_dir():
        raise OSError(f"{path} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise OSError(f"directory {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise OSError(f"{path} is not writable")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"directory {parent} is not writable")


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
            _check_writable(json_path)
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

from hftbook.bench import BENCH  # noqa: E402 (after Command: hftbook.bench builds BENCH from it)
from hftbook.engine_cli import add_engine_arguments, engine_main  # noqa: E402

ENGINE = Command(
    name="engine",
    help="run a seeded synthetic multi-symbol flow through hftbook.Engine (Ctrl-C stops it "
    "gracefully)",
    add_arguments=add_engine_arguments,
    run=lambda args: engine_main(args, UsageError),
)
from hftbook.perf_cli import PERF  # noqa: E402  (perf_cli builds PERF from Command)

#: The subcommands, in ``--help`` order. The first is run when none is given.
COMMANDS: tuple[Command, ...] = (SIMULATE, ENGINE, replay_command(), PERF, BENCH)


# -------------------------------------------------------------------------------------- main

_TOP_LEVEL_FLAGS = ("-h", "--help", "--version")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of :data:`COMMANDS`.

    >>> build_parser().parse_args(["simulate", "--max-ops", "10"]).max_ops
    10
    """
    parser = _Parser(
        prog="hftbook",
        description="hftbook: a limit order book and matching engine with a Rust hot path.",
    )
    parser.add_argument("--version", action="version", version=f"hftbook {hftbook.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 usage error, 130 interrupted).

    With no arguments it runs ``simulate`` with its defaults (about 10 seconds); options
    given without a command are ``simulate``'s.

    Example:
        >>> main(["simulate", "--symbols", "AAPL,,MSFT"])
        2
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in _TOP_LEVEL_FLAGS):
        args_list.insert(0, COMMANDS[0].name)  # `hftbook --seconds 3` means `hftbook simulate ...`
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(args_list)
        if args.command is None:
            parser.error("a command is required")
        if extra:  # report it as the subcommand's mistake, with the subcommand's --help
            raise UsageError(
                f"{parser.prog} {args.command}",
                f"unrecognized arguments: {' '.join(extra)} "
                f"(see {parser.prog} {args.command} --help)",
            )
        code: int = args._run(args)
    except UsageError as e:
        print(f"{e.prog}: error: {e.message}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help / --version
        return e.code if isinstance(e.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print("hftbook: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
