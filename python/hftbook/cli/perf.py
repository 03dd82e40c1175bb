"""``hftbook perf``: show a latency report, or compare one against a baseline.

* ``hftbook perf report RUN.json [--html OUT.html] [--png OUT.png] [--csv OUT.csv]`` prints
  the per-operation table of a :class:`~hftbook.profiling.LatencyReport` JSON file (the
  ``latency.json`` that ``hftbook simulate`` writes) and optionally exports it.
* ``hftbook perf compare BASE.json NEW.json [--threshold p99=10%] ...`` prints every checked
  statistic and exits 1 if one regressed beyond its threshold (default ``p50=10%`` and
  ``p99=10%``; ``--threshold add.p99_9=25%`` limits one operation).

Bad input (a missing or unreadable file, a file that is not a latency report, an unknown
statistic or operation) prints one line on stderr and exits 2.

    >>> from hftbook.cli import main
    >>> main(["perf", "compare", "missing-base.json", "missing-new.json"])
    2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hftbook._console import print_whole
from hftbook.cli._base import Command, UsageError
from hftbook.exceptions import ReportError
from hftbook.profiling import (
    DEFAULT_THRESHOLDS,
    STAT_NAMES,
    Comparison,
    LatencyReport,
    comparisons,
    parse_threshold,
)

__all__ = ["EXIT_REGRESSION", "PERF", "print_whole", "report_table"]

#: Exit status of ``perf compare`` when a statistic regressed.
EXIT_REGRESSION = 1


class _Error(Exception):
    """A user mistake, reported as a one-line usage error by :func:`_run`."""


def _threshold(text: str) -> tuple[str, float]:
    try:
        return parse_threshold(text)
    except ReportError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="perf_command", metavar="{report,compare}")
    rep = sub.add_parser(
        "report",
        help="print a latency report; export it as HTML / PNG / CSV",
        description="Print a latency report (JSON) as a table; optionally export it.",
    )
    rep.add_argument("run", type=Path, metavar="RUN.json", help="latency report JSON file")
    rep.add_argument("--html", type=Path, metavar="PATH", help="write a self-contained HTML page")
    rep.add_argument("--png", type=Path, metavar="PATH", help="write the plots as PNG")
    rep.add_argument("--csv", type=Path, metavar="PATH", help="write the statistics as CSV")
    cmp_ = sub.add_parser(
        "compare",
        help="compare a latency report with a baseline; exit 1 on a regression",
        description="Compare NEW against BASE; exit 1 if a statistic grew beyond its threshold.",
    )
    cmp_.add_argument("base", type=Path, metavar="BASE.json", help="baseline report")
    cmp_.add_argument("new", type=Path, metavar="NEW.json", help="report to check")
    defaults = ", ".join(f"{k}={v:.0%}" for k, v in DEFAULT_THRESHOLDS.items())
    defaults = defaults.replace("%", "%%")  # argparse %-formats help strings
    cmp_.add_argument(
        "--threshold",
        type=_threshold,
        action="append",
        default=None,
        metavar="[OP.]STAT=LIMIT",
        help=f"allowed relative increase, repeatable (e.g. p99=10%%, add.p99_9=0.25; "
        f"default {defaults})",
    )


def _load(path: Path, what: str) -> LatencyReport:
    try:
        return LatencyReport.read(path)
    except OSError as e:
        raise _Error(f"cannot read {what} {path}: {e.strerror or e}") from None
    except ReportError as e:
        raise _Error(f"{path} is not a latency report: {e}") from None


def _fmt(v: float) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def report_table(
    report: LatencyReport, title: str = "Latency per operation (ns)", *, by_stat: bool = False
) -> Table:
    """The statistics of every operation as a rich Table.

    One row per operation, or with ``by_stat=True`` one row per statistic and a column per
    operation (narrow enough for an 80-column terminal). Numbers never wrap.

    >>> from hftbook.profiling import _example_json
    >>> report_table(LatencyReport.from_json(_example_json([100, 300]))).row_count
    1
    >>> report_table(LatencyReport.from_json(_example_json([100])), by_stat=True).row_count
    10
    """
    t = Table(title=title, title_justify="left")
    ops = list(report.operations.values())
    if by_stat:
        t.add_column("stat", no_wrap=True)
        for o in ops:
            t.add_column(o.name, justify="right", no_wrap=True)
        for k in STAT_NAMES:
            t.add_row(k.replace("_", "."), *(_fmt(o.stats()[k]) for o in ops))
        return t
    t.add_column("op", no_wrap=True)
    for k in STAT_NAMES:
        t.add_column(k.replace("_", "."), justify="right", no_wrap=True)
    for o in ops:
        t.add_row(o.name, *(_fmt(v) for v in o.stats().values()))
    return t


def _write(what: str, path: Path, write: Callable[[Path], object]) -> None:
    try:
        write(path)
    except OSError as e:
        raise _Error(f"cannot write {what} {path}: {e.strerror or e}") from None


def _report(args: argparse.Namespace, console: Console) -> int:
    rep = _load(args.run, "report")
    print_whole(console, report_table(rep), narrow=report_table(rep, by_stat=True))
    console.print(f"clock source: {rep.clock_source}")
    exports: tuple[tuple[str, Path | None, Callable[[Path], object]], ...] = (
        ("--html", args.html, rep.to_html),
        ("--png", args.png, rep.plot),
        ("--csv", args.csv, rep.to_csv),
    )
    for what, path, write in exports:
        if path is not None:
            _write(what, path, write)
            console.print(f"wrote {path}")
    return 0


def _compare_table(rows: list[Comparison]) -> Table:
    t = Table(title="Latency comparison (ns)", title_justify="left")
    for col in ("op", "stat", "baseline", "current", "change", "threshold", "verdict"):
        t.add_column(col, justify="left" if col in ("op", "stat", "verdict") else "right")
    for c in rows:
        t.add_row(
            c.operation,
            c.stat,
            _fmt(c.baseline),
            _fmt(c.current),
            f"{c.change:+.1%}",
            f"{c.threshold:.1%}",
            "[bold red]REGRESSION[/]" if c.regressed else "[green]ok[/]",
        )
    return t


def _compare(args: argparse.Namespace, console: Console) -> int:
    thresholds = None if args.threshold is None else dict(args.threshold)
    base = _load(args.base, "baseline")
    new = _load(args.new, "report")
    try:
        rows = comparisons(base, new, thresholds)
    except ReportError as e:
        raise _Error(str(e)) from None
    print_whole(console, _compare_table(rows))
    bad = [c for c in rows if c.regressed]
    if bad:
        console.print(f"[bold red]{len(bad)} regression(s)[/] in {len(rows)} checks")
        return EXIT_REGRESSION
    console.print(f"no regression in {len(rows)} checks")
    return 0


def _run(args: argparse.Namespace) -> int:
    prog = "hftbook perf"
    if args.perf_command is None:
        raise UsageError(prog, f"a command is required: report or compare (see {prog} --help)")
    console = Console()
    try:
        if args.perf_command == "report":
            return _report(args, console)
        return _compare(args, console)
    except _Error as e:
        raise UsageError(f"{prog} {args.perf_command}", str(e)) from None


PERF = Command(
    name="perf",
    help="latency reports: print / export one, or compare one against a baseline",
    add_arguments=_add_arguments,
    run=_run,
)
