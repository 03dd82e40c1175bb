r"""NASDAQ TotalView-ITCH 5.0: parse, encode, generate, and build per-symbol books.

Streams use NASDAQ's ``BinaryFILE`` framing (each message preceded by its 2-byte big-endian
length). Parsing, encoding and book building run in Rust with the GIL released. Prices are
4-decimal fixed point (``uint32``, 1 unit = $0.0001); timestamps are ns since midnight.

No real ITCH sample ships with hftbook: :func:`generate_itch` writes a seeded, realistic
stream (directory, adds with and without MPID, executions, cancels, deletes, replaces,
non-displayed trades, several symbols) together with the generator's own reference books.

    >>> from hftbook.data.itch import encode_itch, generate_itch, read_itch, replay_itch
    >>> sample = generate_itch(2_000, seed=1, symbols=("AAPL", "MSFT"))
    >>> msgs = read_itch(sample.data)
    >>> len(msgs), bytes(msgs["msg_type"][:4].tobytes())
    (2000, b'SRHR')
    >>> encode_itch(msgs) == sample.data
    True
    >>> rep = replay_itch(sample.data)
    >>> [b.symbol for b in rep.books]
    ['AAPL', 'MSFT']
    >>> rep.matches(sample.reference)
    True
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hftbook import _core

__all__ = [
    "ITCH_DTYPE",
    "ITCH_LEVEL_DTYPE",
    "ItchReport",
    "ItchSample",
    "SymbolBook",
    "encode_itch",
    "generate_itch",
    "plot_report",
    "print_report",
    "read_itch",
    "replay_itch",
    "write_itch",
]

#: One ITCH message, flattened: fields a type does not use are zero (empty bytes).
#: ``event_code`` is the system event code (S) or the trading state (H). Packed, 85 bytes,
#: the layout the Rust core writes directly.
ITCH_DTYPE = np.dtype(
    [
        ("msg_type", "S1"),
        ("locate", "<u2"),
        ("tracking", "<u2"),
        ("timestamp", "<u8"),
        ("order_ref", "<u8"),
        ("new_order_ref", "<u8"),
        ("side", "S1"),
        ("shares", "<u4"),
        ("price", "<u4"),
        ("stock", "S8"),
        ("match_number", "<u8"),
        ("mpid", "S4"),
        ("printable", "S1"),
        ("event_code", "S1"),
        ("reason", "S4"),
        ("reserved", "u1"),
        ("market_category", "S1"),
        ("financial_status", "S1"),
        ("round_lot_size", "<u4"),
        ("round_lots_only", "S1"),
        ("issue_classification", "S1"),
        ("issue_subtype", "S2"),
        ("authenticity", "S1"),
        ("short_sale_threshold", "S1"),
        ("ipo_flag", "S1"),
        ("luld_tier", "S1"),
        ("etp_flag", "S1"),
        ("etp_leverage", "<u4"),
        ("inverse", "S1"),
    ]
)

#: One price level: ``price`` in 1e-4 dollars, displayed shares, order count.
ITCH_LEVEL_DTYPE = np.dtype([("price", "<i8"), ("qty", "<u8"), ("orders", "<u4")])

_Source = str | os.PathLike[str] | bytes


def _split(source: _Source) -> tuple[str | None, bytes | None]:
    if isinstance(source, bytes | bytearray | memoryview):
        return None, bytes(source)
    return os.fspath(source), None


def read_itch(source: _Source) -> npt.NDArray[np.void]:
    """Parse an ITCH 5.0 ``BinaryFILE`` (a path or bytes) into an :data:`ITCH_DTYPE` array.

    Raises:
        DataFormatError: missing file, or a truncated or corrupt stream (``offset`` is the
            byte offset of the bad message, ``field`` what is wrong with it).
    """
    path, data = _split(source)
    out: npt.NDArray[np.void] = _core._itch_parse(ITCH_DTYPE, path, data)
    return out


def encode_itch(messages: npt.NDArray[np.void]) -> bytes:
    """Encode an :data:`ITCH_DTYPE` array into a ``BinaryFILE`` stream.

    The inverse of :func:`read_itch`; fields a message type does not carry are not written.
    """
    messages = np.asarray(messages)
    if messages.dtype != ITCH_DTYPE:
        raise TypeError(f"messages must have dtype ITCH_DTYPE, got {messages.dtype}")
    return _core._itch_encode(np.ascontiguousarray(messages).tobytes())


def write_itch(messages: npt.NDArray[np.void], path: str | os.PathLike[str]) -> None:
    """Encode messages (:data:`ITCH_DTYPE`) and write them to ``path``."""
    Path(path).write_bytes(encode_itch(messages))


def _levels(d: dict[str, Any]) -> npt.NDArray[np.void]:
    out = np.zeros(len(d["price"]), dtype=ITCH_LEVEL_DTYPE)
    for k in ("price", "qty", "orders"):
        out[k] = d[k]
    return out


@dataclass(frozen=True)
class ItchSample:
    """A generated stream and the generator's own books after its last message."""

    data: bytes
    #: symbol -> (bids, asks) as :data:`ITCH_LEVEL_DTYPE` arrays, best first.
    reference: dict[str, tuple[npt.NDArray[np.void], npt.NDArray[np.void]]]

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the stream to ``path``."""
        Path(path).write_bytes(self.data)


def generate_itch(
    messages: int, *, seed: int = 0, symbols: tuple[str, ...] | list[str] = ("AAPL", "MSFT")
) -> ItchSample:
    """Generate a seeded, realistic ITCH 5.0 stream of ``messages`` messages."""
    if messages < 0:
        raise ValueError(f"messages must be >= 0, got {messages}")
    data, refs = _core._itch_generate(messages, seed, list(symbols))
    return ItchSample(
        data=data,
        reference={r["symbol"]: (_levels(r["bids"]), _levels(r["asks"])) for r in refs},
    )


@dataclass(frozen=True)
class SymbolBook:
    """The final book of one symbol and its message counts."""

    symbol: str
    locate: int
    trading_state: str
    resting_orders: int
    adds: int
    executions: int
    executed_shares: int
    cancels: int
    deletes: int
    replaces: int
    trades: int
    trade_shares: int
    #: the book's tick in dollars: set by ``ticks=`` or the Reg NMS Rule 612 quoting increment
    #: of the first order ($0.01 at or above $1.00, $0.0001 below).
    tick: Decimal
    #: times a book on the $0.01 tick met a sub-penny order (a stock quoted below $1.00) and was
    #: moved, queues intact, to $0.0001.
    reticks: int
    #: execution (C) and trade (P) prices off the tick: they never touch the book.
    off_tick_prices: int
    bids: npt.NDArray[np.void] = field(repr=False, compare=False)
    asks: npt.NDArray[np.void] = field(repr=False, compare=False)
    #: top-of-book changes (``timestamp``, ``bid``, ``bid_qty``, ``ask``, ``ask_qty``; price 0
    #: and qty 0 for an empty side) when replayed with ``track=True``.
    tops: dict[str, npt.NDArray[Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def best_bid(self) -> Decimal | None:
        """Best bid price in dollars."""
        return Decimal(int(self.bids["price"][0])).scaleb(-4) if len(self.bids) else None

    @property
    def best_ask(self) -> Decimal | None:
        """Best ask price in dollars."""
        return Decimal(int(self.asks["price"][0])).scaleb(-4) if len(self.asks) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no arrays)."""
        return {
            "symbol": self.symbol,
            "locate": self.locate,
            "trading_state": self.trading_state,
            "resting_orders": self.resting_orders,
            "bid_levels": len(self.bids),
            "ask_levels": len(self.asks),
            "best_bid": None if self.best_bid is None else str(self.best_bid),
            "best_ask": None if self.best_ask is None else str(self.best_ask),
            "adds": self.adds,
            "executions": self.executions,
            "executed_shares": self.executed_shares,
            "cancels": self.cancels,
            "deletes": self.deletes,
            "replaces": self.replaces,
            "trades": self.trades,
            "trade_shares": self.trade_shares,
            "tick": str(self.tick),
            "reticks": self.reticks,
            "off_tick_prices": self.off_tick_prices,
        }


@dataclass(frozen=True)
class ItchReport:
    """What :func:`replay_itch` built: per-symbol books, message counts, throughput."""

    source: str
    bytes: int
    messages: int
    seconds: float
    type_counts: dict[str, int]
    system_events: str
    books: list[SymbolBook]

    @property
    def messages_per_second(self) -> float:
        """Messages parsed and applied per second."""
        return self.messages / self.seconds if self.seconds > 0 else float("inf")

    def book(self, symbol: str) -> SymbolBook:
        """The book of ``symbol`` (KeyError if it was not built)."""
        for b in self.books:
            if b.symbol == symbol:
                return b
        raise KeyError(symbol)

    def matches(
        self, reference: dict[str, tuple[npt.NDArray[np.void], npt.NDArray[np.void]]]
    ) -> bool:
        """Whether every reference book (e.g. :attr:`ItchSample.reference`) equals ours."""
        try:
            return all(
                np.array_equal(self.book(s).bids, b) and np.array_equal(self.book(s).asks, a)
                for s, (b, a) in reference.items()
            )
        except KeyError:
            return False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no arrays)."""
        return {
            "format": "itch5",
            "source": self.source,
            "bytes": self.bytes,
            "messages": self.messages,
            "seconds": self.seconds,
            "messages_per_second": self.messages_per_second,
            "type_counts": self.type_counts,
            "system_events": self.system_events,
            "books": [b.to_dict() for b in self.books],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as JSON text; also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def __repr__(self) -> str:
        return (
            f"ItchReport(source={self.source!r}, messages={self.messages}, "
            f"books={len(self.books)}, {self.messages_per_second:,.0f} msg/s)"
        )


def replay_itch(
    source: _Source,
    *,
    symbols: tuple[str, ...] | list[str] | None = None,
    track: bool = False,
    progress: Callable[[int, int], None] | None = None,
    ticks: Mapping[str, str | Decimal] | None = None,
) -> ItchReport:
    """Build per-symbol books from an ITCH 5.0 stream (a path or bytes).

    ``symbols``: build books only for these (others are parsed and skipped). ``track``:
    record every top-of-book change (for plots). ``progress(bytes_read, total)``: for a
    file, called about 10 times a second from the calling thread while the replay runs in
    a worker thread without the GIL.

    Each book runs on the tick the instrument is quoted in (Reg NMS Rule 612): $0.01 when its
    first order is at or above $1.00, $0.0001 below; a sub-penny order on a cent book moves
    that book to $0.0001 (counted in ``SymbolBook.reticks``). ``ticks`` sets a symbol's tick
    instead (``{"AAPL": "0.01"}``); an order off a tick so set is an error. Prices in the
    report stay in ITCH units (1e-4 dollars) whatever the tick.

    >>> r = replay_itch(generate_itch(2_000, seed=1, symbols=("AAPL",)).data)
    >>> r.book("AAPL").tick
    Decimal('0.01')

    Raises:
        DataFormatError: a missing file, a truncated or corrupt stream, or a message the book
            cannot apply (unknown order, an execution larger than the order, a crossing add);
            ``offset`` is the message's byte offset and ``field`` the field at fault.
    """
    path, data = _split(source)
    syms = None if symbols is None else list(symbols)
    tick_units = _tick_units(ticks)
    if progress is None or path is None:
        d = _core._itch_replay(path, data, syms, track, None, tick_units)
    else:
        d = _with_progress(path, syms, track, progress, tick_units)
    books = [
        SymbolBook(
            symbol=b["symbol"],
            locate=b["locate"],
            trading_state=b["trading_state"],
            resting_orders=b["resting_orders"],
            adds=b["adds"],
            executions=b["executions"],
            executed_shares=b["executed_shares"],
            cancels=b["cancels"],
            deletes=b["deletes"],
            replaces=b["replaces"],
            trades=b["trades"],
            trade_shares=b["trade_shares"],
            tick=Decimal(int(b["tick"])).scaleb(-4).normalize(),
            reticks=b["reticks"],
            off_tick_prices=b["off_tick_prices"],
            bids=_levels(b["bids"]),
            asks=_levels(b["asks"]),
            tops=b.get("tops"),
        )
        for b in d["books"]
    ]
    return ItchReport(
        source=d["source"],
        bytes=d["bytes"],
        messages=d["messages"],
        seconds=d["seconds"],
        type_counts=dict(d["type_counts"]),
        system_events=d["system_events"],
        books=books,
    )


def _tick_units(ticks: Mapping[str, str | Decimal] | None) -> list[tuple[str, int]] | None:
    """``{symbol: tick in dollars}`` as ITCH units (1e-4 dollars), checked."""
    if ticks is None:
        return None
    out = []
    for sym, t in ticks.items():
        try:
            units = Decimal(str(t)).scaleb(4)
        except ArithmeticError:
            raise ValueError(f"ticks[{sym!r}]: {t!r} is not a price") from None
        if units <= 0 or units != units.to_integral_value():
            raise ValueError(
                f"ticks[{sym!r}]: {t!r} must be a positive multiple of $0.0001 (ITCH's unit)"
            )
        out.append((sym, int(units)))
    return out


def _with_progress(
    path: str,
    symbols: list[str] | None,
    track: bool,
    progress: Callable[[int, int], None],
    ticks: list[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    total = os.path.getsize(path) if os.path.isfile(path) else 0
    counter = _core._ByteCounter()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = _core._itch_replay(path, None, symbols, track, counter, ticks)
        except BaseException as e:  # re-raised in the calling thread
            box["error"] = e

    worker = threading.Thread(target=work, name="hftbook-itch-replay", daemon=True)
    worker.start()
    while worker.is_alive():
        progress(counter.value(), total)
        worker.join(0.1)
    progress(counter.value(), total)
    if "error" in box:
        raise box["error"]
    result: dict[str, Any] = box["result"]
    return result


# ------------------------------------------------------------------------------------ output


def print_report(report: ItchReport, console: Any = None) -> None:
    """A rich summary table of a report."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(
        f"[bold]hftbook replay itch[/]: {report.source}: {report.messages:,} messages, "
        f"{report.bytes:,} bytes, {report.messages_per_second:,.0f} msg/s "
        f"({report.seconds * 1e3:.1f} ms), system events {report.system_events or '-'}"
    )
    t = Table(title="per-symbol books (state: trading state of the last H)", box=None)
    cols = ("symbol", "tick", "adds", "execs", "cxl+del", "repl", "trades", "off-tick", "resting")
    for col in (*cols, "bid", "ask"):
        t.add_column(col, justify="left" if col == "symbol" else "right")
    for b in report.books:
        t.add_row(
            f"{b.symbol} ({b.trading_state or '-'})",
            str(b.tick) + (f" ({b.reticks} retick)" if b.reticks else ""),
            str(b.adds),
            str(b.executions),
            str(b.cancels + b.deletes),
            str(b.replaces),
            str(b.trades),
            str(b.off_tick_prices),
            str(b.resting_orders),
            "-" if b.best_bid is None else str(b.best_bid),
            "-" if b.best_ask is None else str(b.best_ask),
        )
    console.print(t)


#: Time intervals of the size panel of :func:`plot_report` (when there are more changes).
PLOT_SIZE_BUCKETS = 100


def plot_report(report: ItchReport, path: str | Path) -> None:
    """Plot the first book's best bid/ask and top-level size over time as a PNG.

    The size panel shows the median size at the best bid and ask (and the 25-75 % range) in
    each of :data:`PLOT_SIZE_BUCKETS` equal time intervals, or every change when there are
    fewer changes than intervals: thousands of changes drawn one by one make a solid block.
    Needs the top-of-book track: replay with ``track=True``.
    """
    from hftbook.data._plot import plot_book

    b = report.books[0]
    tops = b.tops or {}
    bid = tops["bid"].astype(np.float64) / 1e4
    ask = tops["ask"].astype(np.float64) / 1e4
    bid[tops["bid_qty"] == 0] = np.nan
    ask[tops["ask_qty"] == 0] = np.nan
    plot_book(
        path,
        tops["timestamp"].astype(np.int64),
        bid,
        ask,
        tops["bid_qty"].astype(np.float64),
        tops["ask_qty"].astype(np.float64),
        f"{b.symbol} reconstructed from ITCH 5.0 ({len(bid):,} top-of-book changes)",
        depth_label="size at the best level",
        depth_buckets=PLOT_SIZE_BUCKETS if len(bid) > PLOT_SIZE_BUCKETS else None,
    )


if __name__ == "__main__":  # `python -m hftbook.data.itch ...` is `hftbook replay itch ...`
    from hftbook.cli import main

    raise SystemExit(main(["replay", "itch", *sys.argv[1:]]))
