"""The ``hftbook replay FORMAT ...`` command: replay recorded market data and check the book.

Each format is a module that exposes ``add_cli_arguments(parser)`` and ``run_cli(args) -> int``;
:data:`REPLAY_FORMATS` maps the format name to that module (imported only when needed), so a
new format plugs in with one entry. This module imports nothing from :mod:`hftbook.cli` at
import time (that module imports this one), hence :func:`replay_command`.

    >>> from hftbook.cli import main
    >>> main(["replay"])
    2
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hftbook.cli import Command

__all__ = ["REPLAY_FORMATS", "replay_command"]

#: Format name -> (module exposing add_cli_arguments/run_cli, one-line help).
REPLAY_FORMATS: dict[str, tuple[str, str]] = {
    "lobster": (
        "hftbook.data.lobster",
        "LOBSTER message + orderbook files (CSV pair or sample zip), checked row by row",
    ),
    "mbo": (
        "hftbook.data.mbo",
        "Databento MBO CSV replayed into the book, MBP-10 rows checked against an expected file",
    ),
    "itch": (
        "hftbook.data.itch",
        "NASDAQ TotalView-ITCH 5.0 binary file: per-symbol books built in Rust",
    ),
}


def _add_replay_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="format", metavar="FORMAT", parser_class=type(p))
    for name, (module, help_text) in REPLAY_FORMATS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod: Any = importlib.import_module(module)
        mod.add_cli_arguments(sp)
        sp.set_defaults(_replay_module=module)


def _run_replay(args: argparse.Namespace) -> int:
    if getattr(args, "format", None) is None:
        from hftbook.cli import UsageError

        raise UsageError(
            "hftbook replay",
            f"a format is required: one of {', '.join(REPLAY_FORMATS)} (see hftbook replay --help)",
        )
    mod: Any = importlib.import_module(args._replay_module)
    code: int = mod.run_cli(args)
    return code


def replay_command() -> Command:
    """The ``replay`` :class:`~hftbook.cli.Command` (built on first use: no import cycle)."""
    from hftbook.cli import Command

    return Command(
        name="replay",
        help="replay recorded market data (lobster) and check the book against it",
        add_arguments=_add_replay_arguments,
        run=_run_replay,
    )
