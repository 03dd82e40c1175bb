"""``hftbook engine``: a seeded synthetic multi-symbol flow through :class:`hftbook.Engine`.

The run itself is :func:`hftbook.engine_run.run_engine`. SIGINT (Ctrl-C) and SIGTERM stop it
gracefully; the exit status is then 130 or 143.

    >>> from hftbook.cli import main
    >>> main(["engine", "--shards", "0", "--max-orders", "10"])
    2
"""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

from rich.console import Console

import hftbook as hb
from hftbook.cli._base import EXIT_OK, Command, UsageError
from hftbook.engine_run import SIGNAL_EXIT, EngineRunConfig, print_engine_summary, run_engine

__all__ = ["ENGINE"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``hftbook engine``."""
    d = EngineRunConfig()
    p.add_argument("--config", help="an hftbook.toml to start from (see docs/engine.md)")
    p.add_argument(
        "--symbols",
        default=",".join(d.symbols),
        help=f"comma-separated symbols (default {','.join(d.symbols)})",
    )
    p.add_argument("--shards", type=int, default=d.shards, help="shard threads (default 1)")
    p.add_argument(
        "--seconds", type=float, default=d.seconds, help="run time, 0 = until --max-orders"
    )
    p.add_argument("--max-orders", type=int, default=0, help="commands to send (0 = no bound)")
    p.add_argument(
        "--rate",
        type=float,
        default=d.rate,
        help=f"commands offered per second (default {d.rate:,.0f}; 0 = as fast as possible)",
    )
    p.add_argument("--batch", type=int, default=d.batch, help="rows per submit_batch call")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--tick-size", default=d.tick_size)
    p.add_argument("--json", type=Path, help="write the result as JSON here")


def _run(args: argparse.Namespace) -> int:
    """Run ``hftbook engine`` from parsed arguments; returns the exit status."""
    prog = "hftbook engine"
    try:
        cfg = EngineRunConfig(
            symbols=tuple(s.strip() for s in args.symbols.split(",")),
            shards=args.shards,
            seconds=args.seconds,
            max_orders=args.max_orders,
            rate=args.rate,
            batch=args.batch,
            seed=args.seed,
            tick_size=args.tick_size,
            config=args.config,
        )
        console = Console()
        result = run_engine(cfg, console)
    except (ValueError, hb.HftbookError) as e:
        raise UsageError(prog, str(e)) from None
    print_engine_summary(result, console)
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise UsageError(prog, f"cannot write --json {args.json}: {e.strerror or e}") from None
    if result.interrupted:
        return SIGNAL_EXIT[signal.Signals[result.interrupted]]
    return EXIT_OK


ENGINE = Command(
    name="engine",
    help="run a seeded synthetic multi-symbol flow through hftbook.Engine (Ctrl-C stops it "
    "gracefully)",
    add_arguments=_add_arguments,
    run=_run,
)
