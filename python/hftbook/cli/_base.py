"""The base of every ``hftbook`` subcommand.

:class:`Command`, :class:`UsageError`, the parser class, the exit statuses and small
argument types.

This module imports no subcommand and no library module: the subcommand modules import it,
and :mod:`hftbook.cli` imports them (the layout of pip's ``cli/base_command.py`` and
``commands/__init__.py``).

    >>> int_at_least(1)("1_000")
    1000
    >>> positive_float("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive number, got 0
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Parser",
    "UsageError",
    "check_writable",
    "int_at_least",
    "non_negative_float",
    "positive_float",
]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in the command line: reported as ``prog: error: message``, exit status 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message


class Parser(argparse.ArgumentParser):
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


def positive_float(text: str) -> float:
    """An argument type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


def non_negative_float(text: str) -> float:
    """An argument type: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return v


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argument type: an integer >= ``lo`` (``_`` separators allowed)."""

    def parse(text: str) -> int:
        try:
            v = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text}")
        return v

    return parse


def check_writable(path: Path) -> None:
    """Raise OSError unless ``path`` can be written: fail before a long run, not after it."""
    if path.is_dir():
        raise OSError(f"{path} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise OSError(f"directory {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise OSError(f"{path} is not writable")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(f"directory {parent} is not writable")
