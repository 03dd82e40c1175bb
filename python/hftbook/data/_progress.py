"""Progress for long Rust calls.

The call releases the GIL and updates a shared counter; a reporter thread reads it about
10 times a second.

    >>> from hftbook.data._progress import with_progress
    >>> seen = []
    >>> with_progress(lambda counter: 42, lambda done, total: seen.append((done, total)))
    42
    >>> seen[-1]
    (0, 0)
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from hftbook import _core

__all__ = ["ProgressFn", "progress_bar", "with_progress"]

T = TypeVar("T")

#: ``progress(done, total)``: units done so far and the total (0 while unknown).
ProgressFn = Callable[[int, int], None]


def with_progress(
    work: Callable[[_core._Counter | None], T],
    progress: ProgressFn | None,
    *,
    interval: float = 0.1,
) -> T:
    """``work(counter)``, with ``progress(done, total)`` called every ``interval`` seconds.

    Without ``progress`` this is just ``work(None)``. Otherwise ``work`` still runs on the
    calling thread (it must release the GIL) while a small reporter thread calls
    ``progress`` from the counter; the last call, with the final figures, is made on the
    calling thread once ``work`` has returned (also if it raised), and none follows it.
    """
    if progress is None:
        return work(None)
    counter = _core._Counter()
    done = threading.Event()
    lock = threading.Lock()

    def report() -> None:
        while not done.wait(interval):
            with lock:
                if done.is_set():
                    return
                progress(counter.value(), counter.total())

    # A bare thread: `threading.Thread.start` would wait until the new thread runs, and on a
    # busy machine that wait (not the replay) can take milliseconds. The reporter is never
    # joined: under the lock it stops once `done` is set, so no stale figure comes after the
    # final call below.
    _thread.start_new_thread(report, ())
    try:
        return work(counter)
    finally:
        with lock:
            done.set()
            progress(counter.value(), counter.total())


def progress_bar(*, disable: bool = False, console: Any = None, in_bytes: bool = False) -> Any:
    """The rich progress display the ``hftbook replay`` commands share.

    Description, bar, ``done/total`` and elapsed time, on stderr (stdout stays for the
    report), removed when done. ``console``: another rich console to draw on. ``in_bytes``:
    count bytes (size and transfer speed) instead of ``done/total`` units.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    counts: list[ProgressColumn] = (
        [DownloadColumn(), TransferSpeedColumn()] if in_bytes else [MofNCompleteColumn()]
    )
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        *counts,
        TimeElapsedColumn(),
        console=console if console is not None else Console(stderr=True),
        disable=disable,
        transient=True,
    )
