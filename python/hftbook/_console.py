"""Printing rich tables whole: never a cut cell, whatever the console's width."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["print_whole"]


def _width(console: Console, table: Table) -> int:
    """The width ``table`` needs to show every cell whole."""
    return console.measure(table, options=console.options.update(width=10_000)).maximum


def print_whole(console: Console, table: Table, narrow: Table | None = None) -> None:
    """Print ``table`` without cutting a cell, whatever the console's width.

    Rich shrinks and cuts cells (``4,61…``) to fit the console, whose width is 80 when the
    output is not a terminal. Here a file or pipe gets ``table`` with its lines as long as
    they need to be; a terminal too narrow for ``table`` gets ``narrow`` (if given) instead,
    and when even that does not fit, the terminal wraps the long lines: cells stay whole.
    """
    pick = table
    if console.is_terminal and narrow is not None and _width(console, table) > console.width:
        pick = min((table, narrow), key=lambda t: _width(console, t))
    need = _width(console, pick)
    if need <= console.width:
        console.print(pick)
        return
    old = console.width
    console.width = need
    try:
        console.print(pick)
    finally:
        console.width = old
