"""Exceptions raised by hftbook.

Every error names the field, the value and the rule it broke, and a call that raises leaves
the book exactly as it was::

    >>> import hftbook as hb
    >>> book = hb.OrderBook("AAPL", tick_size="0.01")
    >>> try:
    ...     book.submit("buy", price="100.255", qty=10)
    ... except hb.InvalidPrice as e:
    ...     print(e.field, e.value, "|", e)
    price 100.255 | price 100.255 is not a multiple of tick_size 0.01
"""

from __future__ import annotations

__all__ = [
    "Backpressure",
    "CapacityError",
    "ConfigError",
    "DataFormatError",
    "DuplicateOrderId",
    "EngineStateError",
    "EngineStopped",
    "HftbookError",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidQuantity",
    "JournalError",
    "ReportError",
    "UnknownOrder",
    "UnknownSymbol",
]


class HftbookError(Exception):
    """Base class of every hftbook error.

    Attributes:
        field: the request field at fault (``"price"``, ``"qty"``, ``"order_id"``, ...), or None.
        value: the offending value as given, or None.
        row: for batch calls, the index of the first invalid row, else None.
    """

    field: str | None
    value: object
    row: int | None

    def __init__(
        self,
        message: str,
        field: str | None = None,
        value: object = None,
        row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.row = row

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidOrder(HftbookError, ValueError):
    """The request breaks an order rule; nothing was changed."""


class InvalidPrice(InvalidOrder):
    """The price is not a number, not on the tick grid, or out of range."""


class InvalidQuantity(InvalidOrder):
    """The quantity is zero, off the lot grid, or outside min_qty..max_qty."""


class DuplicateOrderId(InvalidOrder):
    """The caller-supplied order id is already used by a live order."""


class UnknownOrder(HftbookError, KeyError):
    """Cancel or modify of an order that is not resting (unknown, filled or cancelled)."""


class CapacityError(HftbookError, MemoryError):
    """The book ran out of room for a resting order; nothing was changed.

    The message names what ran out: memory for the order arena (which grows 4096 orders at
    a time) or the 2^32 - 2 orders a book can index. Checked before the order trades, so a
    submit or modify that raises it has not matched either.
    """


class ReportError(HftbookError, ValueError):
    """A latency report, threshold or operation name is not valid (``field`` says where)."""


class DataFormatError(HftbookError, ValueError):
    """A market-data file, array or stream does not follow its format; nothing was replayed.

    Attributes:
        path: the file at fault (as the caller named it, ``"<bytes>"`` for a buffer), or None.
        line: the 1-based line of a text file, or None.
        field: the column (``"Price"``, ``"BidSize_3"``) or message field at fault, ``"row"``
            for a whole row, or ``"row count"`` when two files that go together differ in
            length; or None.
        offset: the byte offset in a binary stream (ITCH, Databento DBN), or None.
    """

    path: str | None
    line: int | None
    offset: int | None

    def __init__(
        self,
        message: str,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        *,
        offset: int | None = None,
    ) -> None:
        super().__init__(message, field=field, row=None if line is None else line - 1)
        self.path = path
        self.line = line
        self.offset = offset


class UnknownSymbol(HftbookError, KeyError):
    """The engine does not trade this symbol (add it with ``Engine.add_symbol``)."""


class Backpressure(HftbookError):
    """An engine lane stayed full: the command was not queued.

    Attributes:
        lane: ``"priority"`` or ``"normal"``.
        shard: the shard whose lane was full.
        waited: seconds the call waited (0 with ``on_full = "reject"``).
        enqueued: for ``submit_batch``, rows queued before the lane refused (in row order).
    """

    def __init__(self, message: str, lane: str, shard: int, waited: float, enqueued: int) -> None:
        super().__init__(message)
        self.lane = lane
        self.shard = shard
        self.waited = waited
        self.enqueued = enqueued


class EngineStopped(HftbookError, RuntimeError):
    """The engine is stopping or stopped and takes no new commands."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class EngineStateError(HftbookError, RuntimeError):
    """A lifecycle call in the wrong state (start twice, resume while running, ...)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class JournalError(HftbookError):
    """The engine's journal cannot be created, read, recovered or written.

    Attributes:
        kind: ``"io"`` (the OS refused), ``"corrupt"`` (bytes the format does not allow, where
            a torn write cannot explain them), ``"missing_segment"``, ``"config_mismatch"``
            (another configuration's journal), ``"diverged"`` (a replay did not reproduce
            what the journal records), ``"invalid"`` (config or symbols file) or
            ``"failed"`` (the running journal stopped writing; nothing more is acknowledged).
        file: the segment or file it is about, or None.
        offset: the byte offset in that file, or None.
    """

    def __init__(
        self, message: str, kind: str, file: str | None = None, offset: int | None = None
    ) -> None:
        super().__init__(message, "journal", file)
        self.kind = kind
        self.file = file
        self.offset = offset


class ConfigError(HftbookError, ValueError):
    """An engine configuration breaks a rule.

    Attributes:
        key: the dotted key (``"symbols.AAPL.band_pct"``).
        value: the value as written.
        rule: the rule it breaks.
        file: the file it came from, or None.
    """

    def __init__(
        self, message: str, key: str, value: str, rule: str, file: str | None = None
    ) -> None:
        super().__init__(message, field=key, value=value)
        self.key = key
        self.rule = rule
        self.file = file
