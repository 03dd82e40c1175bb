r"""Databento MBO (market by order), CSV or DBN: read, replay into the hftbook book, emit MBP-10.

A file is Databento's CSV export or its native binary encoding, DBN (``.dbn``, or
``.dbn.zst`` in a zstd stream), told apart by its first bytes (the ``DBN`` prefix or a zstd
frame), not by its name. DBN is decoded with Databento's own ``dbn`` crate. Either is parsed
in Rust (no per-row Python) and replayed into the real :class:`hftbook.OrderBook` core with
the GIL released; a file with several instruments gets one book per ``instrument_id``
(named by the DBN metadata's symbology mappings), and :attr:`MboReport.instruments` counts
each. :func:`write_dbn` encodes records as DBN with Databento's encoder.

Prices stay exact: Databento's fixed point (1 unit = 1e-9 dollars) is kept as ``int64``
and the book uses integer ticks of the largest power of ten that divides every price of the
file (``tick_size`` overrides).

The MBP-10 rows follow the convention of the Blockhouse reference output (``mbp.csv`` of
the ARL sample, reproduced byte for byte): the initial ``R`` starts from an empty book;
``T`` and ``F`` do not change the book, the ``C`` after them does, and a ``T``→``F``→``C``
becomes one ``T`` row on the resting side; a ``T`` with side ``N`` is a row with the book
unchanged; an ``A``/``C`` is written when its level's depth is at most 10 (see
``docs/mbo_itch.md``). ``emit="top_change"`` writes a row only when the top 10 change.

    >>> from hftbook.data.mbo import read_mbo, replay_mbo, run_mbo
    >>> head = "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
    >>> head += "channel_id,order_id,flags,ts_in_delta,sequence,symbol\n"
    >>> t = "2025-07-17T08:00:00.000000000Z"
    >>> rows = [f"{t},{t},160,2,7,{a},{s},{p},{q},0,{i},130,0,{n},XYZ\n"
    ...         for n, (a, s, p, q, i) in enumerate([("A", "B", "9.99", 100, 1),
    ...             ("A", "A", "10.01", 50, 2), ("T", "B", "10.01", 20, 0),
    ...             ("F", "A", "10.01", 20, 2), ("C", "A", "10.01", 20, 2)])]
    >>> data = (head + "".join(rows)).encode()
    >>> read_mbo(data)["action"].tolist()
    [b'A', b'A', b'T', b'F', b'C']
    >>> mbp = replay_mbo(data)
    >>> mbp["action"].tolist(), mbp["side"].tolist(), mbp["ask_sz"][:, 0].tolist()
    ([b'A', b'A', b'T'], [b'B', b'A', b'A'], [0, 50, 30])
    >>> run_mbo(data).rows
    3

The same records as DBN (zstd) replay to the same rows:

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "x.dbn.zst"
    ...     write_dbn(load(data), path)
    ...     zstd_frame = path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    ...     rep, rows = run_mbo(path), replay_mbo(path)
    >>> zstd_frame
    True
    >>> rep.format, rep.rows, [(i.instrument_id, i.symbol, i.records) for i in rep.instruments]
    ('dbn.zst', 3, [(7, 'XYZ', 5)])
    >>> bool((rows == mbp).all())
    True
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hftbook import _core
from hftbook.data._progress import ProgressFn, with_progress

__all__ = [
    "MBO_DTYPE",
    "MBP10_DTYPE",
    "UNDEF_PRICE",
    "InstrumentCounts",
    "MboReport",
    "load",
    "plot_report",
    "print_report",
    "read_mbo",
    "replay_mbo",
    "run_mbo",
    "write_dbn",
    "write_mbp10_csv",
]

#: Databento's "no price" value of the ``price`` fields (``2**63 - 1``).
UNDEF_PRICE: int = _core.MBO_UNDEF_PRICE

#: One MBO record. Times are ns since the Unix epoch, ``price`` is in 1e-9 dollars
#: (:data:`UNDEF_PRICE` when empty), ``action``/``side`` are the file's letters, ``line`` is
#: the record's 1-based line in a CSV file or its 1-based record number in a DBN file.
MBO_DTYPE = np.dtype(
    [
        ("ts_recv", "<i8"),
        ("ts_event", "<i8"),
        ("rtype", "u1"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("action", "S1"),
        ("side", "S1"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("channel_id", "u1"),
        ("order_id", "<u8"),
        ("flags", "u1"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
        ("symbol", "U16"),
        ("line", "<u4"),
    ]
)

_L = 10
#: One MBP-10 row: the event (``price`` in 1e-9 dollars) and 10 levels per side (prices
#: :data:`UNDEF_PRICE` and sizes 0 on empty levels). ``ts_recv`` is the event's ``ts_event``,
#: as in the reference output.
MBP10_DTYPE = np.dtype(
    [
        ("ts_recv", "<i8"),
        ("ts_event", "<i8"),
        ("publisher_id", "<u2"),
        ("instrument_id", "<u4"),
        ("action", "S1"),
        ("side", "S1"),
        ("depth", "u1"),
        ("price", "<i8"),
        ("size", "<u4"),
        ("flags", "u1"),
        ("ts_in_delta", "<i4"),
        ("sequence", "<u4"),
        ("bid_px", "<i8", (_L,)),
        ("bid_sz", "<u4", (_L,)),
        ("bid_ct", "<u4", (_L,)),
        ("ask_px", "<i8", (_L,)),
        ("ask_sz", "<u4", (_L,)),
        ("ask_ct", "<u4", (_L,)),
        ("symbol", "U16"),
        ("order_id", "<u8"),
    ]
)

_Source = str | os.PathLike[str] | bytes


def _split(source: _Source) -> tuple[str | None, bytes | None]:
    if isinstance(source, bytes | bytearray | memoryview):
        return None, bytes(source)
    return os.fspath(source), None


def _tick_nanos(tick_size: str | Decimal | int | None) -> int | None:
    if tick_size is None:
        return None
    d = Decimal(str(tick_size)) * 1_000_000_000
    if d <= 0 or d != d.to_integral_value():
        raise ValueError(
            f"tick_size {tick_size} must be a positive multiple of 0.000000001 (Databento's "
            "price unit)"
        )
    return int(d)


def _records(cols: dict[str, Any]) -> npt.NDArray[np.void]:
    n = len(cols["ts_recv"])
    out = np.empty(n, dtype=MBO_DTYPE)
    for name in MBO_DTYPE.names or ():
        if name in ("action", "side"):
            out[name] = cols[name].view("S1")
        elif name == "symbol":
            syms = np.asarray(cols["symbols"] or [""], dtype="U16")
            out[name] = syms[cols["symbol"]]
        else:
            out[name] = cols[name]
    return out


def _mbp_rows(cols: dict[str, Any]) -> npt.NDArray[np.void]:
    n = len(cols["ts_recv"])
    out = np.empty(n, dtype=MBP10_DTYPE)
    for name in MBP10_DTYPE.names or ():
        if name in ("action", "side"):
            out[name] = cols[name].view("S1")
        elif name == "symbol":
            syms = np.asarray(cols["symbols"] or [""], dtype="U16")
            out[name] = syms[cols["symbol"]]
        elif name[:3] in ("bid", "ask"):
            out[name] = cols[name].reshape(n, _L)
        else:
            out[name] = cols[name]
    return out


def read_mbo(source: _Source) -> npt.NDArray[np.void]:
    """Read a Databento MBO file (a path, or the file's bytes) into an :data:`MBO_DTYPE` array.

    The file is CSV or DBN (plain or zstd), told by its first bytes. A DBN record's symbol
    comes from the file's symbology mappings (empty without one).

    Raises:
        DataFormatError: the file is missing or empty; a CSV row has the wrong number of
            fields or a field that does not parse (``path``, ``line`` and ``field`` say where);
            a DBN file is truncated or corrupt, or of a schema other than MBO (``offset`` is
            the byte offset, also in the message).
    """
    path, data = _split(source)
    return _records(_core._mbo_read(path, data))


def load(source: _Source) -> npt.NDArray[np.void]:
    r"""Load a Databento MBO file, CSV or DBN (``.dbn`` / ``.dbn.zst``), as :func:`read_mbo`.

    ``source`` is a path or the file's bytes; the encoding is told by the first bytes, so a
    DBN file under any name (or a CSV named ``.dbn``) is read as what it is.

        >>> from hftbook.data.mbo import load, write_dbn
        >>> import tempfile, pathlib
        >>> t = "2025-07-17T08:00:00.000000000Z"
        >>> csv = ("ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
        ...        "channel_id,order_id,flags,ts_in_delta,sequence,symbol\n"
        ...        f"{t},{t},160,2,7,A,B,9.99,100,0,1,130,0,1,XYZ\n").encode()
        >>> recs = load(csv)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = pathlib.Path(d) / "one.dbn"
        ...     write_dbn(recs, path)
        ...     back = load(path)
        >>> back["price"].tolist(), back["symbol"].tolist(), back["line"].tolist()
        ([9990000000], ['XYZ'], [1])

    Raises:
        DataFormatError: as :func:`read_mbo`.
    """
    return read_mbo(source)


def write_dbn(
    records: npt.NDArray[np.void], path: str | os.PathLike[str], *, zstd: bool | None = None
) -> None:
    """Encode MBO records (:data:`MBO_DTYPE`) as a DBN file with Databento's encoder.

    ``zstd``: compress the stream (``None``, the default: when ``path`` ends in ``.zst``).
    The metadata has schema ``mbo``, the dataset of the first record's publisher, and one
    symbology mapping per (symbol, ``instrument_id``) over the dates of its records, so that
    :func:`load` names the records as ``records`` does. ``line`` is not written (DBN records
    are numbered by their position).

    Raises:
        TypeError: ``records`` is not an :data:`MBO_DTYPE` array.
        DataFormatError: a record DBN cannot hold (a time before 1970), or ``path`` cannot be
            written.
    """
    records = np.asarray(records)
    if records.dtype != MBO_DTYPE:
        raise TypeError(f"records must have dtype MBO_DTYPE, got {records.dtype}")
    if zstd is None:
        zstd = os.fspath(path).endswith(".zst")
    syms, codes = np.unique(records["symbol"], return_inverse=True)
    cols = {
        k: np.ascontiguousarray(records[k])
        for k in MBO_DTYPE.names or ()
        if k not in ("symbol", "line")
    }
    cols["action"] = cols["action"].view(np.uint8)
    cols["side"] = cols["side"].view(np.uint8)
    _core._mbo_write_dbn(
        cols, [str(s) for s in syms], codes.astype(np.uint32).ravel(), path, bool(zstd)
    )


def replay_mbo(
    source: _Source,
    *,
    tick_size: str | Decimal | int | None = None,
    emit: str = "reference",
) -> npt.NDArray[np.void]:
    """Replay an MBO file (CSV or DBN) and return its MBP-10 rows (:data:`MBP10_DTYPE`).

    Each instrument (``instrument_id``) has its own book; the rows of all of them come in
    file order, each with its instrument's book.

    ``emit``: ``"reference"`` (the reference output's rule) or ``"top_change"`` (a row only
    when the top 10 levels change). ``tick_size`` in dollars (default: the coarsest power of
    ten that represents every price exactly).

    Raises:
        DataFormatError: as :func:`read_mbo`, or a record the book cannot apply (cancel of an
            unknown order, a cancel larger than the order, an add that would cross the book).
    """
    path, data = _split(source)
    cols = _core._mbo_replay(path, data, tick_nanos=_tick_nanos(tick_size), emit=emit)
    return _mbp_rows(cols)


def write_mbp10_csv(
    rows: npt.NDArray[np.void], path: str | os.PathLike[str], *, crlf: bool = False
) -> None:
    """Write MBP-10 rows in the reference CSV format.

    An unnamed index column, ISO-8601 times, prices as the shortest decimal, empty levels as
    an empty price and zero sizes. ``crlf=True`` ends lines with CR LF like the reference
    ``mbp.csv``.
    """
    rows = np.asarray(rows)
    if rows.dtype != MBP10_DTYPE:
        raise TypeError(f"rows must have dtype MBP10_DTYPE, got {rows.dtype}")
    syms, codes = np.unique(rows["symbol"], return_inverse=True)
    scalar = {
        k: np.ascontiguousarray(rows[k])
        for k in MBP10_DTYPE.names or ()
        if k != "symbol" and k[:3] not in ("bid", "ask")
    }
    scalar["action"] = scalar["action"].view(np.uint8)
    scalar["side"] = scalar["side"].view(np.uint8)
    levels = {
        k: np.ascontiguousarray(rows[k]) for k in MBP10_DTYPE.names or () if k[:3] in ("bid", "ask")
    }
    text = _core._mbp10_csv(
        scalar, levels, [str(s) for s in syms], codes.astype(np.uint32).ravel(), crlf
    )
    Path(path).write_bytes(text)


@dataclass(frozen=True)
class InstrumentCounts:
    """One instrument's book in a replay (a file with several instruments has one each)."""

    instrument_id: int
    #: The symbol of the instrument's first record ("" when the file does not name it).
    symbol: str
    records: int
    rows: int
    book_events: int
    resting_orders: int


@dataclass(frozen=True)
class MboReport:
    """What :func:`run_mbo` did: counts, throughput, and the row-by-row comparison.

    ``format`` is the source's encoding (``"csv"``, ``"dbn"`` or ``"dbn.zst"``);
    ``instruments`` has the counts of each instrument's book in order of first appearance.
    """

    source: str
    records: int
    rows: int
    book_events: int
    resting_orders: int
    tick_size: Decimal
    seconds_parse: float
    seconds_replay: float
    emit: str
    expected: str | None = None
    rows_expected: int | None = None
    rows_equal: int | None = None
    first_mismatch: dict[str, Any] | None = None
    out: str | None = None
    format: str = "csv"
    instruments: tuple[InstrumentCounts, ...] = ()
    mbp: npt.NDArray[np.void] = field(
        default_factory=lambda: np.empty(0, MBP10_DTYPE), repr=False, compare=False
    )

    @property
    def seconds(self) -> float:
        """Parse plus replay time."""
        return self.seconds_parse + self.seconds_replay

    @property
    def records_per_second(self) -> float:
        """MBO records per second, parse and replay together."""
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    @property
    def rows_equal_pct(self) -> float | None:
        """Rows equal to the expected file's, as % of the larger row count."""
        if self.rows_equal is None or self.rows_expected is None:
            return None
        denom = max(self.rows_expected, self.rows)
        return 100.0 * self.rows_equal / denom if denom else 100.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no arrays)."""
        return {
            "format": "databento_mbo",
            "encoding": self.format,
            "source": self.source,
            "records": self.records,
            "rows": self.rows,
            "book_events": self.book_events,
            "resting_orders": self.resting_orders,
            "tick_size": str(self.tick_size),
            "emit": self.emit,
            "seconds_parse": self.seconds_parse,
            "seconds_replay": self.seconds_replay,
            "records_per_second": self.records_per_second,
            "expected": self.expected,
            "rows_expected": self.rows_expected,
            "rows_equal": self.rows_equal,
            "rows_equal_pct": self.rows_equal_pct,
            "first_mismatch": self.first_mismatch,
            "out": self.out,
            "instruments": [vars(i) for i in self.instruments],
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as JSON text; also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def __repr__(self) -> str:
        match = ""
        if self.rows_equal_pct is not None:
            match = (
                f", rows_equal={self.rows_equal}/{self.rows_expected} ({self.rows_equal_pct:.2f} %)"
            )
        return (
            f"MboReport(source={self.source!r}, records={self.records}, rows={self.rows}"
            f"{match}, {self.records_per_second:,.0f} records/s)"
        )


def run_mbo(
    source: _Source,
    *,
    expected: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    tick_size: str | Decimal | int | None = None,
    emit: str = "reference",
    crlf: bool | None = None,
    progress: ProgressFn | None = None,
) -> MboReport:
    """Replay ``source``, optionally write and compare the MBP-10 CSV; return a report.

    The rows go to ``out`` if given and are compared row by row (as text) with the
    ``expected`` CSV if given. ``crlf`` chooses the line ends of ``out``: ``True`` CR LF,
    ``False`` LF, ``None`` (the default) the same as ``expected``'s first line, or LF without
    ``expected``; so ``out`` equals a matching ``expected`` byte for byte.
    Everything runs in Rust without the GIL.
    ``progress(records_done, records_total)`` is called about 10 times a second from a
    reporter thread while the work runs, and once more at the end (the total is 0 until the
    file is parsed).

    Raises:
        DataFormatError: as :func:`replay_mbo`, or ``expected`` cannot be read.
    """
    path, data = _split(source)
    tick_nanos = _tick_nanos(tick_size)

    def work(counter: _core._Counter | None) -> dict[str, Any]:
        cols: dict[str, Any] = _core._mbo_replay(
            path,
            data,
            tick_nanos=tick_nanos,
            emit=emit,
            expected=expected,
            out=out,
            crlf=crlf,
            counter=counter,
        )
        return cols

    cols = with_progress(work, progress)
    mm = cols.get("first_mismatch")
    return MboReport(
        source=cols["source"],
        records=cols["records"],
        rows=len(cols["ts_recv"]),
        book_events=cols["book_events"],
        resting_orders=cols["resting_orders"],
        tick_size=Decimal(cols["tick_nanos"]).scaleb(-9).normalize(),
        seconds_parse=cols["seconds_parse"],
        seconds_replay=cols["seconds_replay"],
        emit=emit,
        expected=None if expected is None else os.fspath(expected),
        rows_expected=cols.get("rows_expected"),
        rows_equal=cols.get("rows_equal"),
        first_mismatch=None
        if mm is None
        else {"row": mm[0], "column": mm[1], "ours": mm[2], "expected": mm[3]},
        out=None if out is None else os.fspath(out),
        format=cols["format"],
        instruments=tuple(InstrumentCounts(*i) for i in cols["instruments"]),
        mbp=_mbp_rows(cols),
    )


# ------------------------------------------------------------------------------------ output


def plot_report(report: MboReport, path: str | Path, instrument_id: int | None = None) -> None:
    """Plot the reconstructed best bid/ask and the top-10 depth over time as a PNG.

    A file with several instruments has a book each: the plot is of ``instrument_id``'s
    (default: the first instrument of the file).
    """
    from hftbook.data._plot import plot_book

    m = report.mbp
    if instrument_id is None and len(m):
        instrument_id = int(m["instrument_id"][0])
    if instrument_id is not None:
        m = m[m["instrument_id"] == instrument_id]
    bid = m["bid_px"][:, 0].astype(np.float64) / 1e9
    ask = m["ask_px"][:, 0].astype(np.float64) / 1e9
    bid[m["bid_px"][:, 0] == UNDEF_PRICE] = np.nan
    ask[m["ask_px"][:, 0] == UNDEF_PRICE] = np.nan
    # far-away placeholder quotes (e.g. $2147.48) would flatten the plot: clip to 5x the median
    for a in (bid, ask):
        med = np.nanmedian(a) if np.isfinite(a).any() else np.nan
        if np.isfinite(med):
            a[a > 5 * med] = np.nan
    sym = str(m["symbol"][0]) if len(m) else ""
    plot_book(
        path,
        m["ts_event"],
        bid,
        ask,
        m["bid_sz"].sum(axis=1).astype(np.float64),
        m["ask_sz"].sum(axis=1).astype(np.float64),
        f"{sym} reconstructed from Databento MBO ({len(m)} MBP-10 rows)",
        depth_label="size in the top 10 levels",
    )


def print_report(report: MboReport, console: Any = None) -> None:
    """A rich summary table of a report."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"hftbook replay mbo: {report.source}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    t.add_row("encoding", report.format)
    t.add_row("MBO records", f"{report.records:,}")
    t.add_row("book events applied", f"{report.book_events:,}")
    t.add_row("MBP-10 rows emitted", f"{report.rows:,}")
    if report.rows_equal is not None:
        t.add_row(
            "rows matched",
            f"{report.rows_equal:,} / {report.rows_expected:,} ({report.rows_equal_pct:.2f} %)",
        )
        if report.first_mismatch is not None:
            mm = report.first_mismatch
            t.add_row(
                "first mismatch",
                f"row {mm['row']} column {mm['column']}: ours {mm['ours']!r}, "
                f"expected {mm['expected']!r}",
            )
    t.add_row("tick size", str(report.tick_size))
    t.add_row("resting orders at end", f"{report.resting_orders:,}")
    t.add_row(
        "throughput",
        f"{report.records_per_second:,.0f} records/s ({report.seconds * 1e3:.1f} ms)",
    )
    console.print(t)
    if len(report.instruments) > 1:
        per = Table(title="books by instrument")
        for name in ("instrument_id", "symbol", "records", "rows", "book events", "resting"):
            per.add_column(name, justify="left" if name == "symbol" else "right")
        for i in report.instruments:
            per.add_row(
                str(i.instrument_id),
                i.symbol,
                f"{i.records:,}",
                f"{i.rows:,}",
                f"{i.book_events:,}",
                f"{i.resting_orders:,}",
            )
        console.print(per)


if __name__ == "__main__":  # `python -m hftbook.data.mbo ...` is `hftbook replay mbo ...`
    from hftbook.cli import main

    raise SystemExit(main(["replay", "mbo", *sys.argv[1:]]))
