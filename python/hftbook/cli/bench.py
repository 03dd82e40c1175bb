"""``hftbook bench``: hftbook side by side with the installed peer order books.

The run is :func:`hftbook.bench.run_bench`.

The peer drivers (:mod:`hftbook.bench.peers`) are imported only when a peer row runs, not to
build this command's parser: ``--rows`` is checked against the names in
:data:`hftbook.bench.ROWS`.

    >>> from hftbook.cli import main
    >>> main(["bench", "--rows", "hftbook,nope"])
    2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from hftbook.bench import ROWS, BenchConfig, print_summary, run_bench, to_markdown
from hftbook.cli._base import Command, UsageError, check_writable, int_at_least

__all__ = ["BENCH"]


def _row_list(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(","))
    for n in names:
        if n not in ROWS:
            raise argparse.ArgumentTypeError(f"unknown row {n!r}; known: {', '.join(ROWS)}")
    return names


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ops",
        type=int_at_least(1),
        default=100_000,
        metavar="N",
        help="W2 ops and W1 adds per pass (default %(default)s)",
    )
    p.add_argument(
        "--reps", type=int_at_least(1), default=3, help="interleaved repetitions (default 3)"
    )
    p.add_argument("--seed", type=int, default=42, help="workload seed (default 42)")
    p.add_argument(
        "--rows",
        type=_row_list,
        default=None,
        metavar="ROW[,ROW...]",
        help="run only these rows (default: all; missing peers are skipped): " + ", ".join(ROWS),
    )
    p.add_argument(
        "--no-memory", action="store_true", help="skip the bytes-per-order child processes"
    )
    p.add_argument(
        "--memory-orders",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="W1 orders built by each memory child (default: --ops)",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the JSON here")
    p.add_argument(
        "--markdown", type=Path, default=None, metavar="PATH", help="write the Markdown here"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    """Run ``hftbook bench``.

    Returns 0 when every row ran (a missing peer is skipped; a peer that disagrees with
    hftbook is reported in the table, not fatal), 1 when a row raised or hftbook per call
    and ``apply_batch`` disagree with hftbook's reference run.
    """
    prog = "hftbook bench"
    for opt in ("json", "markdown"):
        path: Path | None = getattr(args, opt)
        if path is not None:
            try:
                check_writable(path)
            except OSError as e:
                raise UsageError(prog, f"cannot write --{opt} {path}: {e}") from None
    if args.seed < 0:
        raise UsageError(prog, f"--seed must be >= 0, got {args.seed}")
    cfg = BenchConfig(
        ops=args.ops,
        reps=args.reps,
        seed=args.seed,
        rows=args.rows,
        memory=not args.no_memory,
        memory_orders=args.memory_orders,
    )
    console = Console()
    if not console.is_terminal or console.width < 180:
        console = Console(width=180)  # the table is wide: overflow rather than squeeze
    res = run_bench(
        cfg,
        progress=not args.no_progress,
        console=console,
        log=lambda s: console.print(f"[yellow]{s}[/]"),
    )
    print_summary(res, console)
    command = f"hftbook bench --ops {cfg.ops} --reps {cfg.reps} --seed {cfg.seed}"
    if cfg.rows is not None:
        command += f" --rows '{','.join(cfg.rows)}'"
    if not cfg.memory:
        command += " --no-memory"
    elif cfg.memory_orders is not None:
        command += f" --memory-orders {cfg.memory_orders}"
    for opt, text in (
        ("json", json.dumps(res.to_dict(), indent=2) + "\n"),
        ("markdown", to_markdown(res, command)),
    ):
        path = getattr(args, opt)
        if path is not None:
            try:
                path.write_text(text, encoding="utf-8")
            except OSError as e:
                raise UsageError(prog, f"cannot write --{opt} {path}: {e.strerror or e}") from None
    hft = [r for r in res.rows if r.name.startswith("hftbook") and r.status == "ok"]
    if any(r.agreement.get("verdict") == "disagree" for r in hft) or any(
        r.status == "error" for r in res.rows
    ):
        return 1
    return 0


BENCH = Command(
    name="bench",
    help="quick benchmark of hftbook against the installed peer order books",
    add_arguments=_add_arguments,
    run=_run,
)
