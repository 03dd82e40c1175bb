"""The ``hftbook`` command line.

Subcommands, one module each, registered in :data:`COMMANDS`:

* ``simulate`` (:mod:`hftbook.cli.simulate`): strategies against a simulated market on the
  engine, with a report folder (the default when no subcommand is given); ``--book``: a
  seeded synthetic order flow through bare books, with per-call latency percentiles.
* ``engine`` (:mod:`hftbook.cli.engine`): the same kind of flow through :class:`hftbook.Engine`.
* ``replay`` (:mod:`hftbook.cli.replay`): recorded market data (LOBSTER, Databento MBO, ITCH)
  and engine journals.
* ``audit`` (:mod:`hftbook.cli.audit`): an order's life (commands and events) from a journal.
* ``perf`` (:mod:`hftbook.cli.perf`): print, export or compare latency reports.
* ``bench`` (:mod:`hftbook.cli.bench`): hftbook against the installed peer order books.

Every subcommand module imports :mod:`hftbook.cli._base` (:class:`Command`,
:class:`UsageError`, the parser, argument types) and the library modules it drives, never
this module or another subcommand; the library modules import no CLI module.

Errors a user can cause (a bad option value, an unwritable ``--json`` path) print one line on
stderr and exit with status 2; Ctrl-C stops a run early, prints what it did and exits 130.

    >>> from hftbook.cli import main
    >>> main(["simulate", "--max-ops", "2000", "--seconds", "0"])
    2
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import hftbook
from hftbook.cli._base import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Command, Parser, UsageError
from hftbook.cli.audit import AUDIT
from hftbook.cli.bench import BENCH
from hftbook.cli.engine import ENGINE
from hftbook.cli.perf import PERF
from hftbook.cli.replay import REPLAY
from hftbook.cli.simulate import SIMULATE

__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "main"]

#: The subcommands, in ``--help`` order. The first is run when none is given.
COMMANDS: tuple[Command, ...] = (SIMULATE, ENGINE, REPLAY, AUDIT, PERF, BENCH)


# -------------------------------------------------------------------------------------- main

_TOP_LEVEL_FLAGS = ("-h", "--help", "--version")


#: One exit-status convention for every subcommand, shown in every --help.
_EXIT_CODES = (
    "exit status: 0 ok; 1 the run's check failed (e.g. a replay row mismatch); 2 bad input "
    "or usage; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)"
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of :data:`COMMANDS`.

    >>> build_parser().parse_args(["simulate", "--max-ops", "10"]).max_ops
    10
    """
    parser = Parser(
        prog="hftbook",
        description="hftbook: a limit order book and matching engine with a Rust hot path.",
        epilog=_EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"hftbook {hftbook.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, epilog=_EXIT_CODES)
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
    if not args_list:
        # Say what runs and where it writes, on stderr (stdout stays the summary).
        print(
            "hftbook: no command given: running `hftbook simulate` (about 10 s; reports go to "
            "runs/<UTC time>/ here). Commands: "
            + ", ".join(c.name for c in COMMANDS)
            + "; see `hftbook --help`.",
            file=sys.stderr,
        )
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
