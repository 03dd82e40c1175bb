"""``hftbook replay FORMAT ...``: replay recorded market data and check the book against it.

One :class:`ReplayFormat` per format, in :data:`REPLAY_FORMATS`: its options and its run,
which drives the reader and replay of :mod:`hftbook.data.lobster`, :mod:`hftbook.data.mbo`
or :mod:`hftbook.data.itch`. A new format plugs in with one entry.

    >>> from hftbook.cli import main
    >>> main(["replay"])
    2
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hftbook.cli._base import EXIT_USAGE, Command, UsageError, check_writable, int_at_least
from hftbook.data import (
    _progress,  # by module: tests swap _progress.progress_bar
    itch,
    lobster,
    mbo,
)
from hftbook.exceptions import DataFormatError, JournalError
from hftbook.journal import replay_journal

__all__ = ["REPLAY", "REPLAY_FORMATS", "ReplayFormat"]


@dataclass(frozen=True)
class ReplayFormat:
    """One format of ``hftbook replay``: ``add_arguments(parser)`` and ``run(args) -> int``."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------------------------ lobster


def _add_lobster_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        type=Path,
        metavar="MESSAGE.csv|SAMPLE.zip",
        help="a LOBSTER message file (its orderbook file is found by name unless --orderbook "
        "is given) or a LOBSTER sample zip",
    )
    p.add_argument("--orderbook", type=Path, default=None, metavar="ORDERBOOK.csv")
    p.add_argument(
        "--levels",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="levels to compare (default: all levels of the orderbook file)",
    )
    p.add_argument(
        "--no-edge-sync",
        action="store_true",
        help="do not synchronise the window edges from the orderbook file (the replay then "
        "goes stale within a few dozen rows; see docs/replay.md)",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report")
    p.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="PATH",
        help="plot the reconstructed best bid/ask and the size at each over time",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress display")


def _run_lobster(args: argparse.Namespace) -> int:
    """0 if every row matched, 1 if not; a usage error (2) on bad input."""
    prog = "hftbook replay lobster"
    for opt, path in (("--json", args.json), ("--png", args.png)):
        if path is not None:
            try:
                check_writable(path)
            except OSError as e:
                raise UsageError(prog, f"cannot write {opt} {path}: {e}") from None
    console = Console()
    with _progress.progress_bar(disable=args.no_progress) as bar:
        try:
            task = bar.add_task("reading and parsing", total=None)
            data = lobster.load(args.source, args.orderbook)
            bar.update(task, description="replaying messages", total=data.rows, completed=0)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            report = lobster.replay(
                data,
                levels=args.levels,
                edge_sync=not args.no_edge_sync,
                progress=None if args.no_progress else show,
            )
            bar.update(task, description="writing outputs")
        except DataFormatError as e:
            raise UsageError(prog, str(e)) from None
        if args.png is not None:
            lobster.plot_report(report, data, args.png)
    lobster.print_report(report, data, console)
    if args.json is not None:
        out = report.to_dict()
        out["parse_rows_per_second"] = data.parse_rows_per_second
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if report.rows_matched == report.rows_compared else 1


# ---------------------------------------------------------------------------------------- mbo


def _add_mbo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        help="Databento MBO file: CSV, or DBN (.dbn / .dbn.zst; told by its first bytes)",
    )
    parser.add_argument(
        "--expected", type=Path, help="reference MBP-10 CSV to compare with, row by row"
    )
    parser.add_argument("--out", type=Path, help="write the MBP-10 rows to this CSV")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument(
        "--png",
        type=Path,
        help="plot the reconstructed best bid/ask and depth here (the first instrument's book)",
    )
    parser.add_argument(
        "--tick-size", help="book tick in dollars (default: coarsest exact power of ten)"
    )
    parser.add_argument(
        "--emit",
        choices=("reference", "top_change"),
        default="reference",
        help="row rule: the reference output's (default) or only when the top 10 change",
    )
    ends = parser.add_mutually_exclusive_group()
    ends.add_argument(
        "--crlf",
        action="store_const",
        const=True,
        dest="crlf",
        help="end --out lines with CRLF (default: as --expected's lines end, else LF)",
    )
    ends.add_argument(
        "--lf", action="store_const", const=False, dest="crlf", help="end --out lines with LF"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def _run_mbo(args: argparse.Namespace) -> int:
    """0 when every row matched (or without ``--expected``), 1 on a mismatch or a data error.

    A data error is one line on stderr.
    """
    try:
        with _progress.progress_bar(disable=args.no_progress) as bar:
            task = bar.add_task("replaying MBO records", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            report = mbo.run_mbo(
                args.file,
                expected=args.expected,
                out=args.out,
                tick_size=args.tick_size,
                emit=args.emit,
                crlf=args.crlf,
                progress=None if args.no_progress else show,
            )
    except (DataFormatError, ValueError) as e:
        # Bad input is 2 for every subcommand; 1 means the replay ran and a check failed.
        print(f"hftbook replay mbo: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    mbo.print_report(report)
    if args.json is not None:
        report.to_json(args.json)
    if args.png is not None:
        mbo.plot_report(report, args.png)
    if report.rows_equal is not None and report.rows_equal_pct != 100.0:
        return 1
    return 0


# --------------------------------------------------------------------------------------- itch


def _add_itch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="ITCH 5.0 BinaryFILE (2-byte length framing)")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument(
        "--symbols",
        nargs="+",
        metavar="SYMBOL",
        help="build books only for these symbols (also accepts AAPL,MSFT)",
    )
    parser.add_argument(
        "--png",
        type=Path,
        help="plot the first symbol's best bid/ask and top-level size over time here "
        "(tracks every top-of-book change: pass --symbols on large files)",
    )
    parser.add_argument(
        "--tick",
        action="append",
        default=[],
        metavar="SYMBOL=TICK",
        help="book SYMBOL on TICK dollars (e.g. AAPL=0.01) instead of the Reg NMS Rule 612 "
        "increment of its first order; repeatable",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def _run_itch(args: argparse.Namespace) -> int:
    """0 on success, 2 on bad input (one line on stderr)."""
    symbols = None
    if args.symbols:
        symbols = [s for part in args.symbols for s in part.split(",") if s]
    ticks: dict[str, str] = {}
    for item in args.tick:
        sym, eq, tick = item.partition("=")
        if not eq or not sym or not tick:
            print(
                f"hftbook replay itch: error: --tick {item!r}: expected SYMBOL=TICK, "
                "e.g. AAPL=0.01",
                file=sys.stderr,
            )
            return EXIT_USAGE
        ticks[sym] = tick
    try:
        with _progress.progress_bar(disable=args.no_progress, in_bytes=True) as bar:
            task = bar.add_task("replaying", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            report = itch.replay_itch(
                args.file,
                symbols=symbols,
                track=args.png is not None,
                progress=None if args.no_progress else show,
                ticks=ticks or None,
            )
    except (DataFormatError, ValueError) as e:
        print(f"hftbook replay itch: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    itch.print_report(report)
    if args.json is not None:
        report.to_json(args.json)
    if args.png is not None and report.books:
        itch.plot_report(report, args.png)
    return 0


# ------------------------------------------------------------------------------------ journal


def _add_journal_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="an engine's journal directory (journal_dir=)")
    parser.add_argument("--json", type=Path, help="write the summary as JSON here")
    parser.add_argument(
        "--expect-state-hash",
        metavar="HEX",
        help="exit 1 unless the rebuilt state has this hash (Engine.state_hash())",
    )
    parser.add_argument(
        "--expect-event-hash",
        metavar="HEX",
        help="exit 1 unless the re-emitted events have this hash (Engine.event_hash())",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def _run_journal(args: argparse.Namespace) -> int:
    """0 ok, 1 an expected hash differs, 2 a journal that cannot be read (one line)."""
    prog = "hftbook replay journal"
    if args.json is not None:
        try:
            check_writable(args.json)
        except OSError as e:
            raise UsageError(prog, f"cannot write --json {args.json}: {e}") from None
    if not (args.dir / "config.toml").is_file():
        raise UsageError(prog, f"{args.dir} is not a journal directory (no config.toml)")
    try:
        with _progress.progress_bar(disable=args.no_progress, in_bytes=True) as bar:
            task = bar.add_task("replaying the journal", total=None)

            def show(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            r = replay_journal(args.dir, progress=None if args.no_progress else show)
    except JournalError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    kinds = np.bincount(r.events["kind"], minlength=11) if len(r.events) else None
    summary = {
        "journal": str(args.dir),
        "records": r.records,
        "segments": r.segments,
        "symbols": list(r.symbols),
        "events": len(r.events),
        "trades": int(kinds[7]) if kinds is not None else 0,
        "state_hash": r.state_hash,
        "event_hash": r.event_hash,
        "seconds": round(r.seconds, 6),
        "records_per_second": round(r.records_per_second),
        "torn_tail": r.repair,
    }
    table = Table(title=f"journal replay: {args.dir}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("records", f"{r.records:,} in {r.segments} segment(s)")
    table.add_row("symbols", escape(", ".join(r.symbols) or "none"))
    table.add_row("events re-emitted", f"{len(r.events):,} ({summary['trades']:,} trades)")
    table.add_row("replay speed", f"{r.records_per_second:,.0f} records/s ({r.seconds:.3f} s)")
    table.add_row("state hash", r.state_hash)
    table.add_row("event hash", r.event_hash)
    if r.repair is not None:
        table.add_row(
            "torn tail",
            escape(
                f"{r.repair['segment']} at byte {r.repair['offset']}: {r.repair['reason']} "
                "(not cut: a replay never writes; Engine.recover cuts it)"
            ),
        )
    code = 0
    for label, want, got in (
        ("state", args.expect_state_hash, r.state_hash),
        ("event", args.expect_event_hash, r.event_hash),
    ):
        if want is not None:
            ok = want.strip().lower() == got
            summary[f"{label}_hash_matches"] = ok
            table.add_row(
                f"{label} hash check",
                "[green]matches[/]" if ok else f"[red]DIFFERS[/] (expected {escape(want)})",
            )
            code = code or (0 if ok else 1)
    Console().print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return code


# ------------------------------------------------------------------------------------ command

#: The formats, by name, in ``--help`` order.
REPLAY_FORMATS: dict[str, ReplayFormat] = {
    f.name: f
    for f in (
        ReplayFormat(
            "lobster",
            "LOBSTER message + orderbook files (CSV pair or sample zip), checked row by row",
            _add_lobster_arguments,
            _run_lobster,
        ),
        ReplayFormat(
            "mbo",
            "Databento MBO (CSV or DBN, plain or zstd) replayed into one book per instrument, "
            "MBP-10 rows checked against an expected file",
            _add_mbo_arguments,
            _run_mbo,
        ),
        ReplayFormat(
            "itch",
            "NASDAQ TotalView-ITCH 5.0 binary file: per-symbol books built in Rust",
            _add_itch_arguments,
            _run_itch,
        ),
        ReplayFormat(
            "journal",
            "an engine's journal: rebuild the exact state, re-emit the events, print both hashes",
            _add_journal_arguments,
            _run_journal,
        ),
    )
}


def _add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="format", metavar="FORMAT", parser_class=type(p))
    for fmt in REPLAY_FORMATS.values():
        sp = sub.add_parser(fmt.name, help=fmt.help, description=fmt.help)
        fmt.add_arguments(sp)
        sp.set_defaults(_replay_run=fmt.run)


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "format", None) is None:
        raise UsageError(
            "hftbook replay",
            f"a format is required: one of {', '.join(REPLAY_FORMATS)} (see hftbook replay --help)",
        )
    code: int = args._replay_run(args)
    return code


REPLAY = Command(
    name="replay",
    help="replay recorded market data (LOBSTER, Databento MBO, NASDAQ ITCH 5.0) and check the "
    "book against it, or an engine's journal",
    add_arguments=_add_arguments,
    run=_run,
)
