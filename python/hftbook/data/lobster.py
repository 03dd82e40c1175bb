r"""LOBSTER files: fast readers and a replay validated row by row against the recorded book.

A LOBSTER pair is a message file (``Time,Type,OrderID,Size,Price,Direction`` per row) and an
orderbook file (``AskPrice,AskSize,BidPrice,BidSize`` per level; row *k* is the book after
message *k*). Both are parsed in Rust from the raw bytes (no per-row Python) into ``int64``
arrays: messages ``(N, 6)`` with the time as integer nanoseconds after midnight, orderbook
``(N, 4L)``. Prices stay in LOBSTER units (dollars x 10000).

:func:`replay` seeds a book from orderbook row 0, applies every message with the GIL released,
runs *edge-sync* (on by default; see ``docs/replay.md`` and the Rust module
``hftbook_core::lobster``) and compares our top L levels with every recorded row. It also
measures, for each visible execution of an order the replay saw added, its position in the
level's FIFO and the time it waited.

    >>> from hftbook.data import lobster
    >>> msgs = b"1.0,1,7,5,1000000,1\n2.5,4,7,5,1000000,1\n"
    >>> book = b"9999999999,0,1000000,5\n9999999999,0,-9999999999,0\n"
    >>> data = lobster.LobsterData.from_bytes(msgs, book)
    >>> report = lobster.replay(data)
    >>> report.rows_matched, report.match_percent, report.fifo_conformity_percent
    (1, 100.0, 100.0)
    >>> report.time_to_fill_seconds.tolist()
    [1.5]
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hftbook import _core
from hftbook.data._progress import ProgressFn, with_progress
from hftbook.exceptions import DataFormatError

__all__ = [
    "EMPTY_ASK_PRICE",
    "EMPTY_BID_PRICE",
    "DataFormatError",
    "LobsterData",
    "LobsterReplayReport",
    "load",
    "parse_messages",
    "parse_orderbook",
    "plot_report",
    "print_report",
    "replay",
]

#: Price LOBSTER writes for an empty ask level (dollars x 10000).
EMPTY_ASK_PRICE = 9_999_999_999
#: Price LOBSTER writes for an empty bid level.
EMPTY_BID_PRICE = -9_999_999_999

_MESSAGE_RE = re.compile(r"_message_(\d+)\.csv$")
_ORDERBOOK_RE = re.compile(r"_orderbook_(\d+)\.csv$")

I64Array = npt.NDArray[np.int64]


def parse_messages(data: bytes, *, name: str = "messages") -> I64Array:
    """Parse message-file bytes into an ``int64`` array ``(N, 6)`` (time in nanoseconds).

    A time written with more than 9 decimals (LOBSTER's exporter prints some as floats at full
    precision, ``43002.632812672004``) is rounded to the nearest nanosecond, a 10th decimal of
    5 or more rounding up; :func:`load` counts such rows in ``LobsterData.rounded_times``.

    >>> parse_messages(b"34200.004241176,1,16113575,18,5853300,1").tolist()
    [[34200004241176, 1, 16113575, 18, 5853300, 1]]
    >>> parse_messages(b"43002.632812672004,3,7,100,5853300,-1")[0, 0]
    np.int64(43002632812672)

    Raises:
        DataFormatError: naming ``name``, the line and the field.
    """
    return _parse_messages_counted(data, name)[0]


def _parse_messages_counted(data: bytes, name: str) -> tuple[I64Array, int]:
    """Messages and the rows whose time was rounded to the nanosecond."""
    out: tuple[I64Array, int] = _core.parse_lobster_messages(data, name)
    return out


def parse_orderbook(data: bytes, *, name: str = "orderbook") -> I64Array:
    r"""Parse orderbook-file bytes into an ``int64`` array ``(N, 4 x levels)``.

    >>> parse_orderbook(b"5859400,200,5853300,18\n").shape
    (1, 4)

    Raises:
        DataFormatError: naming ``name``, the line and the field.
    """
    out: I64Array = _core.parse_lobster_orderbook(data, name)
    return out


def _check_rows(messages: I64Array, orderbook: I64Array, mname: str, oname: str) -> None:
    n, m = len(messages), len(orderbook)
    if n != m:
        raise DataFormatError(
            f"{oname}: line {min(n, m) + 1}, field row count: the message file {mname} has "
            f"{n} rows but the orderbook file has {m}; row k of the orderbook must be the "
            "book after message k",
            path=oname,
            line=min(n, m) + 1,
            field="row count",
        )


@dataclass(frozen=True)
class LobsterData:
    """A parsed LOBSTER pair: ``messages`` ``(N, 6)`` and ``orderbook`` ``(N, 4L)``, int64.

    ``parse_seconds`` is the time spent in the CSV parsers (``read_seconds`` includes reading
    and, for a zip, decompressing). ``rounded_times`` counts the message rows whose time had
    more than 9 decimals and was rounded to the nearest nanosecond (0 on a clean file).
    """

    messages: I64Array
    orderbook: I64Array
    message_file: str = "messages"
    orderbook_file: str = "orderbook"
    parse_seconds: float = 0.0
    read_seconds: float = 0.0
    rounded_times: int = 0

    @property
    def levels(self) -> int:
        """Levels in the orderbook file."""
        return int(self.orderbook.shape[1]) // 4

    @property
    def rows(self) -> int:
        """Rows (messages)."""
        return int(self.messages.shape[0])

    @property
    def parse_rows_per_second(self) -> float:
        """Rows parsed per second (one row = a message row and its orderbook row)."""
        return self.rows / self.parse_seconds if self.parse_seconds > 0 else math.inf

    @classmethod
    def from_bytes(
        cls,
        messages: bytes,
        orderbook: bytes,
        *,
        message_file: str = "messages",
        orderbook_file: str = "orderbook",
    ) -> LobsterData:
        """Parse a pair given as bytes; raises :class:`DataFormatError` on bad input."""
        t0 = time.perf_counter()
        m, rounded = _parse_messages_counted(messages, message_file)
        b = parse_orderbook(orderbook, name=orderbook_file)
        dt = time.perf_counter() - t0
        _check_rows(m, b, message_file, orderbook_file)
        return cls(m, b, message_file, orderbook_file, dt, dt, rounded)


def load(source: str | Path, orderbook: str | Path | None = None) -> LobsterData:
    """Read a LOBSTER pair: a sample zip, or a message CSV plus its orderbook CSV.

    All of it runs in Rust without the GIL: a zip's two members are inflated (libdeflate)
    on two threads, the message file is parsed while the orderbook is still being inflated
    or read, and the orderbook is then parsed on every core into one array.

    With a message CSV and no ``orderbook``, the orderbook file is found next to it by name
    (``..._message_L.csv`` -> ``..._orderbook_L.csv``).

    Raises:
        DataFormatError: a missing, unreadable or truncated file, a wrong column count, a
            non-numeric field, or files whose row counts differ (naming file, line, field).
    """
    t0 = time.perf_counter()
    src = Path(source)
    if orderbook is None and src.suffix.lower() == ".zip":
        m, b, mname, oname, parse, rounded = _core.load_lobster_zip(src, str(src))
    else:
        if orderbook is None:
            if not _MESSAGE_RE.search(src.name):
                raise DataFormatError(
                    f"{src}: give the orderbook file too (its name is not *_message_<L>.csv, "
                    "so the orderbook cannot be found by name)",
                    path=str(src),
                )
            orderbook = src.with_name(_MESSAGE_RE.sub(r"_orderbook_\1.csv", src.name))
        m, b, mname, oname, parse, rounded = _core.load_lobster_csv(
            src, orderbook, str(src), str(orderbook)
        )
    _check_rows(m, b, mname, oname)
    return LobsterData(m, b, mname, oname, parse, time.perf_counter() - t0, rounded)


def _summary(a: npt.NDArray[Any]) -> dict[str, float | int]:
    if len(a) == 0:
        return {"count": 0}
    q = np.percentile(a, [50, 90, 99])
    return {
        "count": len(a),
        "mean": float(a.mean()),
        "median": float(q[0]),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": float(a.max()),
    }


@dataclass(frozen=True, repr=False)
class LobsterReplayReport:
    """What a LOBSTER replay found. Arrays are numpy; :meth:`to_dict` is the JSON summary.

    Execution arrays (``exec_*``) have one entry per visible execution (type 4) of an order
    the replay knew (added in the window or seeded from message 0): message index, order id,
    lots, ``queue_position`` (orders ahead in the level FIFO; 0 = head), ``qty_ahead`` (lots
    ahead) and ``time_to_fill_ns`` (execution time minus the order's add time).
    """

    messages: int
    levels: int
    edge_sync: bool
    rows_compared: int
    rows_matched: int
    first_mismatch: dict[str, Any] | None
    rows_synced: int
    levels_injected: int
    levels_dropped: int
    size_adjustments: int
    unknown_id_reductions: int
    type_counts: dict[int, int]
    replay_seconds: float
    message_file: str
    orderbook_file: str
    parse_seconds: float
    rounded_times: int
    time_ns: I64Array = field(compare=False)
    exec_index: npt.NDArray[np.uint64] = field(compare=False)
    exec_order_id: npt.NDArray[np.uint64] = field(compare=False)
    exec_size: npt.NDArray[np.uint64] = field(compare=False)
    queue_position: npt.NDArray[np.uint32] = field(compare=False)
    qty_ahead: npt.NDArray[np.uint64] = field(compare=False)
    time_to_fill_ns: I64Array = field(compare=False)
    trades: dict[str, npt.NDArray[Any]] = field(compare=False)
    halts: dict[str, npt.NDArray[Any]] = field(compare=False)
    best_bid_price: I64Array = field(compare=False)
    best_bid_size: npt.NDArray[np.uint64] = field(compare=False)
    best_ask_price: I64Array = field(compare=False)
    best_ask_size: npt.NDArray[np.uint64] = field(compare=False)

    @property
    def match_percent(self) -> float | None:
        """Rows matched as a percentage of rows compared (None without validation)."""
        if self.rows_compared == 0:
            return None
        return 100.0 * self.rows_matched / self.rows_compared

    @property
    def at_head(self) -> npt.NDArray[np.bool_]:
        """Per known-order execution: whether it was at the head of its level's FIFO."""
        head: npt.NDArray[np.bool_] = self.queue_position == 0
        return head

    @property
    def fifo_conformity_percent(self) -> float | None:
        """Share of known-order executions that hit the head of the FIFO (None if none)."""
        n = len(self.queue_position)
        return None if n == 0 else 100.0 * float(np.count_nonzero(self.at_head)) / n

    @property
    def time_to_fill_seconds(self) -> npt.NDArray[np.float64]:
        """``time_to_fill_ns`` in seconds."""
        return self.time_to_fill_ns / 1e9

    @property
    def replay_messages_per_second(self) -> float:
        """Messages replayed (and validated) per second."""
        return self.messages / self.replay_seconds if self.replay_seconds > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (figures and distributions, not the per-row arrays)."""
        return {
            "message_file": self.message_file,
            "orderbook_file": self.orderbook_file,
            "messages": self.messages,
            "levels": self.levels,
            "edge_sync": self.edge_sync,
            "type_counts": {str(k): v for k, v in self.type_counts.items()},
            "rows_compared": self.rows_compared,
            "rows_matched": self.rows_matched,
            "match_percent": self.match_percent,
            "first_mismatch": self.first_mismatch,
            "edge_sync_actions": {
                "rows_synced": self.rows_synced,
                "levels_injected": self.levels_injected,
                "levels_dropped": self.levels_dropped,
                "size_adjustments": self.size_adjustments,
            },
            "unknown_id_reductions": self.unknown_id_reductions,
            "queue": {
                "known_executions": len(self.queue_position),
                "fifo_conformity_percent": self.fifo_conformity_percent,
                "queue_position": _summary(self.queue_position),
                "qty_ahead": _summary(self.qty_ahead),
                "time_to_fill_seconds": _summary(self.time_to_fill_seconds),
            },
            "trades": {"hidden": int(self.type_counts[5]), "cross": int(self.type_counts[6])},
            "halts": len(self.halts["index"]),
            "rounded_times": self.rounded_times,
            "parse_seconds": self.parse_seconds,
            "replay_seconds": self.replay_seconds,
            "replay_messages_per_second": self.replay_messages_per_second,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        pct = self.match_percent
        fifo = self.fifo_conformity_percent
        return (
            f"LobsterReplayReport(messages={self.messages}, levels={self.levels}, "
            f"rows_matched={self.rows_matched}/{self.rows_compared}"
            f"{'' if pct is None else f' ({pct:.2f}%)'}, "
            f"fifo_conformity={'n/a' if fifo is None else f'{fifo:.2f}%'}, "
            f"known_executions={len(self.queue_position)}, "
            f"replay={self.replay_messages_per_second:,.0f} msg/s)"
        )


def replay(
    source: LobsterData | str | Path,
    orderbook: str | Path | None = None,
    *,
    levels: int | None = None,
    edge_sync: bool = True,
    validate: bool = True,
    progress: ProgressFn | None = None,
) -> LobsterReplayReport:
    """Replay a LOBSTER pair into a fresh book and check it against every orderbook row.

    Args:
        source: a :class:`LobsterData`, a sample zip, or a message CSV (see :func:`load`).
        orderbook: the orderbook CSV when ``source`` is a message CSV.
        levels: levels to compare (default: all levels of the orderbook file).
        edge_sync: synchronise the window edges from the orderbook file (see the module doc).
        validate: compare with every row (otherwise rows_compared is 0).
        progress: ``progress(messages_done, messages_total)``, called about 10 times a
            second from a reporter thread while the replay runs without the GIL, and once
            more at the end (``hftbook replay lobster`` draws its progress bar with it).

    Raises:
        DataFormatError: bad input (file, line and field named).
    """
    data = source if isinstance(source, LobsterData) else load(source, orderbook)
    if levels is not None and not 1 <= levels <= data.levels:
        raise DataFormatError(
            f"levels={levels} but {data.orderbook_file} has {data.levels} levels "
            f"(use 1..{data.levels})",
            path=data.orderbook_file,
            field="levels",
        )
    messages = np.ascontiguousarray(data.messages, dtype=np.int64)
    book = np.ascontiguousarray(data.orderbook, dtype=np.int64)

    def work(counter: _core._Counter | None) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        r = _core.replay_lobster(
            messages,
            book,
            levels,
            edge_sync=edge_sync,
            validate=validate,
            message_file=data.message_file,
            orderbook_file=data.orderbook_file,
            counter=counter,
        )
        return r, time.perf_counter() - t0

    r, elapsed = with_progress(work, progress)
    mm = r["first_mismatch"]
    if mm is not None:
        mm = {"line": mm["index"] + 1, **mm}
    counts = r["type_counts"]
    return LobsterReplayReport(
        messages=r["messages"],
        levels=r["levels"],
        edge_sync=r["edge_sync"],
        rows_compared=r["rows_compared"],
        rows_matched=r["rows_matched"],
        first_mismatch=mm,
        rows_synced=r["rows_synced"],
        levels_injected=r["levels_injected"],
        levels_dropped=r["levels_dropped"],
        size_adjustments=r["size_adjustments"],
        unknown_id_reductions=r["unknown_id_reductions"],
        type_counts={k: int(counts[k]) for k in range(1, 8)},
        replay_seconds=elapsed,
        message_file=data.message_file,
        orderbook_file=data.orderbook_file,
        parse_seconds=data.parse_seconds,
        rounded_times=data.rounded_times,
        time_ns=data.messages[:, 0],
        exec_index=r["exec_index"],
        exec_order_id=r["exec_order_id"],
        exec_size=r["exec_size"],
        queue_position=r["exec_queue_position"],
        qty_ahead=r["exec_qty_ahead"],
        time_to_fill_ns=r["exec_time_to_fill_ns"],
        trades={
            k: r[f"trade_{k}"] for k in ("index", "time_ns", "type", "price", "size", "direction")
        },
        halts={"index": r["halt_index"], "code": r["halt_code"]},
        best_bid_price=r["best_bid_price"],
        best_bid_size=r["best_bid_size"],
        best_ask_price=r["best_ask_price"],
        best_ask_size=r["best_ask_size"],
    )


# ------------------------------------------------------------------------------------ output


def _dollars(p: I64Array, empty: int) -> npt.NDArray[np.float64]:
    out = p / 10_000.0
    out[p == empty] = np.nan
    return out


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def print_report(report: LobsterReplayReport, data: LobsterData, console: Any) -> None:
    """Print the summary table of a replay with rich."""
    from rich.table import Table

    d = report.to_dict()
    q = d["queue"]
    t = Table(title=f"LOBSTER replay: {Path(report.message_file.split('!')[-1]).name}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    pct = report.match_percent
    t.add_row("messages", f"{report.messages:,}")
    t.add_row("levels compared", str(report.levels))
    t.add_row("edge-sync", "on" if report.edge_sync else "off")
    t.add_row(
        "rows matched",
        f"{report.rows_matched:,} / {report.rows_compared:,} ({_fmt(pct, '.3f', ' %')})",
    )
    t.add_row("rows edge-sync touched", f"{report.rows_synced:,}")
    t.add_row("known-order executions", f"{q['known_executions']:,}")
    t.add_row("FIFO conformity", _fmt(report.fifo_conformity_percent, ".2f", " %"))
    qp, qa, ttf = q["queue_position"], q["qty_ahead"], q["time_to_fill_seconds"]
    if qp["count"]:
        t.add_row("queue position (mean / p99)", f"{qp['mean']:.3f} / {qp['p99']:.0f}")
        t.add_row("qty ahead (mean / p99)", f"{qa['mean']:.1f} / {qa['p99']:.0f}")
        t.add_row("time to fill (median / p90)", f"{ttf['median']:.3f} s / {ttf['p90']:.1f} s")
    t.add_row("hidden executions (type 5)", f"{report.type_counts[5]:,}")
    t.add_row("times rounded to the nanosecond", f"{report.rounded_times:,}")
    t.add_row("parse", f"{data.parse_rows_per_second:,.0f} rows/s ({data.parse_seconds:.3f} s)")
    t.add_row(
        "replay + validate",
        f"{report.replay_messages_per_second:,.0f} msg/s ({report.replay_seconds:.3f} s)",
    )
    console.print(t)
    mm = report.first_mismatch
    if mm is not None:
        console.print(
            f"[bold red]first mismatch[/] at message {mm['index']} (line {mm['line']}): "
            f"{mm['message']}\n  ours:     {mm['ours']}\n  recorded: {mm['recorded']}\n"
            f"  previous: {mm['previous']}"
        )


def plot_report(report: LobsterReplayReport, data: LobsterData, path: str | Path) -> None:
    """Plot the reconstructed best bid/ask and the size at each over time as a PNG."""
    from hftbook.data.plot import plot_top_of_book

    plot_top_of_book(
        path,
        report.time_ns / 1e9,
        _dollars(report.best_bid_price, EMPTY_BID_PRICE),
        _dollars(report.best_ask_price, EMPTY_ASK_PRICE),
        report.best_bid_size,
        report.best_ask_size,
        title=f"{Path(data.message_file.split('!')[-1]).name}: reconstructed top of book",
    )
