"""Progress for long Rust calls run in a worker thread.

The call releases the GIL and updates a shared counter; the calling thread reports the
counter about 10 times a second.

    >>> from hftbook.data._progress import with_progress
    >>> seen = []
    >>> with_progress(lambda counter: 42, lambda done, total: seen.append((done, total)))
    42
    >>> seen[-1]
    (0, 0)
"""

from __future__ import annotations

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
    """``work(counter)``, calling ``progress(done, total)`` every ``interval`` seconds.

    Without ``progress`` this is just ``work(None)`` on the calling thread. Otherwise ``work``
    runs in a worker thread (it must release the GIL to let the calling thread report) and
    its exception, if any, is raised here. ``progress`` is called at least once, at the end.
    """
    if progress is None:
        return work(None)
    counter = _core._Counter()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work(counter)
        except BaseException as e:  # re-raised in the calling thread
            box["error"] = e

    worker = threading.Thread(target=run, name="hftbook-replay", daemon=True)
    worker.start()
    while worker.is_alive():
        progress(counter.value(), counter.total())
        worker.join(interval)
    progress(counter.value(), counter.total())
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


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
