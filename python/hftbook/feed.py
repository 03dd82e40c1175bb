"""Client of the hftbook market-data feed served by :meth:`hftbook.Engine.serve`.

``connect(url, channels)`` returns a :class:`FeedClient`: iterate it (``for msg in client``,
blocking) or ``async for msg in client``; each message is a dict as the server sent it
(protocol in ``docs/feed.md``). The client keeps a local book per ``l2.SYM`` channel from its
snapshot and deltas; :meth:`FeedClient.book` returns it as the same numpy arrays
``engine.book(sym).depth(n)`` returns (``LEVEL_DTYPE``, best first).

Gap rule: on every channel the server numbers the messages it sends this client ``cseq``
1, 2, 3, ... A ``delta`` whose ``cseq`` is not the previous one plus one means messages were
lost (the server conflated this client, or a bug): the client drops the book, subscribes to
the channel again and applies nothing until the fresh ``snapshot`` (counted in
:attr:`FeedClient.resyncs`). ``seq`` is the engine's per-symbol sequence number: it counts
every event of the symbol (orders, fills, ...), so it jumps between two deltas; it must
only increase from one delta to the next, which the client checks too.

Encodings: ``connect(url, channels, encoding="binary")`` asks the server for binary frames
(``/ws?encoding=binary``, layout in ``docs/feed.md``). The client decodes them with
:mod:`struct` and numpy and keeps the same local books; the messages it yields then carry
prices as integer ticks (``price_ticks``; a snapshot's ``bids``/``asks`` are numpy arrays of
``price_ticks``, ``qty``, ``orders``). A frame of another version raises
:class:`FeedProtocolError`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from hftbook._dtypes import LEVEL_DTYPE

__all__ = ["FeedClient", "FeedClosed", "FeedProtocolError", "LocalBook", "connect"]

#: Largest message accepted from the server (an L2 snapshot of a deep book is large).
MAX_MESSAGE = 64 * 1024 * 1024

#: The binary encoding's version this client reads (the first byte of every frame).
WIRE_VERSION = 1
#: Header: version, type, reserved, symbol id, seq, cseq.
_HEADER = struct.Struct("<BBHIQQ")
_COUNTS = struct.Struct("<II")
_DELTA = struct.Struct("<qQQB7x")
_L1 = struct.Struct("<qQqQ")
_TRADE = struct.Struct("<qQQB7x")
_STATUS = struct.Struct("<BBB")
_SYMBOL = struct.Struct("<QBB")
#: One level of a binary snapshot.
WIRE_LEVEL_DTYPE = np.dtype([("price_ticks", "<i8"), ("qty", "<u8"), ("orders", "<u8")])
_T_SNAPSHOT, _T_DELTA, _T_L1, _T_TRADE, _T_STATUS, _T_SYMBOL = 1, 2, 3, 4, 5, 6
_SIDES = ("bid", "ask")
_AGGRESSORS = ("buy", "sell")


class FeedClosed(Exception):
    """The server closed the connection with an error code (``code``, ``reason``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"feed closed by the server: {code} {reason}")
        self.code = code
        self.reason = reason


class FeedProtocolError(Exception):
    """A frame from the server this client cannot read.

    Another binary version, a truncated message or one of an unknown type.
    """


class LocalBook:
    """An L2 book kept from a channel's ``snapshot`` and ``delta`` messages."""

    def __init__(self, tick: str) -> None:
        self.tick = Decimal(tick)
        self.bids: dict[int, tuple[int, int]] = {}
        self.asks: dict[int, tuple[int, int]] = {}
        self.seq = 0

    def ticks(self, price: str) -> int:
        """Price text → ticks."""
        return int(Decimal(price) / self.tick)

    def snapshot(self, msg: dict[str, Any]) -> None:
        """Replace the book with a snapshot's levels (JSON or binary message)."""
        bids, asks = msg["bids"], msg["asks"]
        if isinstance(bids, np.ndarray):
            self.bids = _levels(bids)
            self.asks = _levels(asks)
        else:
            self.bids = {self.ticks(p): (int(q), int(n)) for p, q, n in bids}
            self.asks = {self.ticks(p): (int(q), int(n)) for p, q, n in asks}
        self.seq = int(msg["seq"])

    def delta(self, msg: dict[str, Any]) -> None:
        """Apply one level change (``qty`` 0: the level is gone)."""
        side = self.bids if msg["side"] == "bid" else self.asks
        px = msg["price_ticks"] if "price_ticks" in msg else self.ticks(msg["price"])
        if msg["qty"] == 0:
            side.pop(px, None)
        else:
            side[px] = (int(msg["qty"]), int(msg["orders"]))
        self.seq = int(msg["seq"])

    def arrays(self, n: int | None = None) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]:
        """``(bids, asks)`` as ``LEVEL_DTYPE`` arrays, best first, ``n`` levels a side."""

        def side(levels: dict[int, tuple[int, int]], reverse: bool) -> npt.NDArray[np.void]:
            keys = sorted(levels, reverse=reverse)[:n]
            out = np.zeros(len(keys), dtype=LEVEL_DTYPE)
            for i, k in enumerate(keys):
                q, o = levels[k]
                out[i] = (k, float(self.tick * k), q, o)
            return out

        return side(self.bids, True), side(self.asks, False)


def _levels(a: npt.NDArray[np.void]) -> dict[int, tuple[int, int]]:
    """Binary snapshot levels → ``{price_ticks: (qty, orders)}``."""
    return dict(
        zip(
            a["price_ticks"].tolist(),
            zip(a["qty"].tolist(), a["orders"].tolist(), strict=True),
            strict=True,
        )
    )


def _tick_text(mantissa: int, scale: int) -> str:
    """The tick size ``mantissa * 10**-scale`` as the server writes it in JSON."""
    return str(Decimal(mantissa).scaleb(-scale))


class FeedClient:
    """A feed subscription that keeps local books; see the module docs.

    Use it as a blocking iterator (``for msg in client``) or an async one (``async for``),
    not both. Iteration ends when the server closes normally (1000, 1001: server shutting
    down); another close code raises :class:`FeedClosed` (for example 1008 "slow consumer:
    trades would be lost").
    """

    def __init__(
        self,
        url: str,
        channels: Iterable[str],
        *,
        open_timeout: float = 10.0,
        encoding: str = "json",
    ) -> None:
        if encoding not in ("json", "binary"):
            raise ValueError(f"encoding must be 'json' or 'binary', not {encoding!r}")
        self.url = url
        self.encoding = encoding
        self.channels = tuple(channels)
        self.open_timeout = open_timeout
        #: Resubscriptions after a ``cseq`` gap or a ``seq`` going back.
        self.resyncs = 0
        #: Snapshots applied.
        self.snapshots = 0
        self._books: dict[str, LocalBook] = {}
        self._cseq: dict[str, int] = {}
        self._waiting: set[str] = set()
        #: Binary encoding: symbol id → (name, tick text), from the server's symbol messages.
        self._symbols: dict[int, tuple[str, str]] = {}
        self._sync: SyncConnection | None = None
        self._async: AsyncConnection | None = None

    # -- message handling (shared by both iterators) ----------------------------------------

    def _connect_url(self) -> str:
        if self.encoding == "json":
            return self.url
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}encoding={self.encoding}"

    def _decode(self, frame: bytes) -> dict[str, Any] | None:
        """A binary frame → a message dict (None for a ``symbol`` message, kept here)."""
        if len(frame) < _HEADER.size:
            if frame and frame[0] != WIRE_VERSION:
                raise FeedProtocolError(
                    f"binary frame of version {frame[0]}: this client reads version {WIRE_VERSION}"
                )
            raise FeedProtocolError(f"binary frame of {len(frame)} bytes: shorter than its header")
        version, ty, _, sid, seq, cseq = _HEADER.unpack_from(frame)
        if version != WIRE_VERSION:
            raise FeedProtocolError(
                f"binary frame of version {version}: this client reads version {WIRE_VERSION}"
                " (upgrade hftbook, or connect with encoding='json')"
            )
        at = _HEADER.size
        try:
            if ty == _T_SYMBOL:
                mantissa, scale, n = _SYMBOL.unpack_from(frame, at)
                start = at + _SYMBOL.size
                raw = frame[start : start + n]
                if len(raw) != n:
                    raise FeedProtocolError("binary symbol message: truncated name")
                self._symbols[sid] = (raw.decode(), _tick_text(mantissa, scale))
                return None
            sym = self._symbols.get(sid)
            if sym is None:
                raise FeedProtocolError(f"binary message for symbol id {sid} before its symbol")
            name = sym[0]
            if ty == _T_DELTA:
                px, qty, orders, side = _DELTA.unpack_from(frame, at)
                return {
                    "ch": "l2." + name, "cseq": cseq, "seq": seq, "type": "delta",
                    "side": _SIDES[side & 1], "price_ticks": px, "qty": qty, "orders": orders,
                }  # fmt: skip
            if ty == _T_TRADE:
                px, qty, ts, aggr = _TRADE.unpack_from(frame, at)
                return {
                    "ch": "trades." + name, "cseq": cseq, "seq": seq, "type": "trade",
                    "price_ticks": px, "qty": qty, "aggressor": _AGGRESSORS[aggr & 1], "ts": ts,
                }  # fmt: skip
            if ty == _T_L1:
                bp, bq, ap, aq = _L1.unpack_from(frame, at)
                return {
                    "ch": "l1." + name, "cseq": cseq, "seq": seq, "type": "l1",
                    "bid": (bp, bq) if bq else None, "ask": (ap, aq) if aq else None,
                }  # fmt: skip
            if ty == _T_SNAPSHOT:
                nb, na = _COUNTS.unpack_from(frame, at)
                at += _COUNTS.size
                size = WIRE_LEVEL_DTYPE.itemsize
                if len(frame) != at + size * (nb + na):
                    raise FeedProtocolError(
                        f"binary snapshot of {len(frame)} bytes for {nb} + {na} levels"
                    )
                levels = np.frombuffer(frame, dtype=WIRE_LEVEL_DTYPE, offset=at)
                return {
                    "ch": "l2." + name, "cseq": cseq, "seq": seq, "type": "snapshot",
                    "tick": sym[1], "bids": levels[:nb], "asks": levels[nb:],
                }  # fmt: skip
            if ty == _T_STATUS:
                halted, _code, n = _STATUS.unpack_from(frame, at)
                start = at + _STATUS.size
                raw = frame[start : start + n]
                if len(raw) != n:
                    raise FeedProtocolError("binary status message: truncated reason")
                reason = raw.decode()
                return {
                    "ch": "status." + name, "cseq": cseq, "seq": seq, "type": "status",
                    "state": "halted" if halted else "trading", "reason": reason,
                }  # fmt: skip
        except (struct.error, UnicodeDecodeError) as e:
            raise FeedProtocolError(f"binary message of type {ty}: {e}") from e
        raise FeedProtocolError(f"binary message of unknown type {ty}")

    def _handle(self, data: str | bytes) -> tuple[dict[str, Any] | None, list[str]]:
        """Apply one message.

        Returns it (None: nothing to yield) and the channels to subscribe to again.
        """
        if isinstance(data, bytes):
            dec = self._decode(data)
            if dec is None:
                return None, []
            msg = dec
        else:
            msg = json.loads(data)
        ch = str(msg["ch"])
        cseq = int(msg["cseq"])
        prev = self._cseq.get(ch)
        self._cseq[ch] = cseq
        kind = msg["type"]
        if kind == "snapshot":
            sym = ch.split(".", 1)[1]
            book = LocalBook(str(msg["tick"]))
            book.snapshot(msg)
            self._books[sym] = book
            self._waiting.discard(ch)
            self.snapshots += 1
        elif kind == "delta":
            sym = ch.split(".", 1)[1]
            book_ = self._books.get(sym)
            if ch in self._waiting or book_ is None:
                return msg, []
            if prev is None or cseq != prev + 1 or int(msg["seq"]) <= book_.seq:
                # Lost messages: this book is stale until a fresh snapshot.
                del self._books[sym]
                self._waiting.add(ch)
                self.resyncs += 1
                return msg, [ch]
            book_.delta(msg)
        return msg, []

    @staticmethod
    def _request(op: str, channels: Iterable[str]) -> str:
        return json.dumps({"op": op, "channels": list(channels)})

    @staticmethod
    def _closed(e: ConnectionClosed) -> None:
        """Raise :class:`FeedClosed` unless the close was normal."""
        rcvd = e.rcvd
        if rcvd is not None and rcvd.code not in (1000, 1001):
            raise FeedClosed(rcvd.code, rcvd.reason) from e

    # -- blocking ---------------------------------------------------------------------------

    def open(self) -> Self:
        """Connect (blocking) and subscribe; iteration does it when needed."""
        if self._sync is None:
            # Entered as a context manager: websockets >= 17 warns on a bare connect().
            self._sync = sync_connect(
                self._connect_url(), open_timeout=self.open_timeout, max_size=MAX_MESSAGE
            ).__enter__()
            self._sync.send(self._request("subscribe", self.channels))
        return self

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message (applied to the books).

        None after ``timeout`` seconds, or when the server closed normally.
        """
        ws = self.open()._sync
        assert ws is not None
        while True:
            try:
                data = ws.recv(timeout)
            except TimeoutError:
                return None
            except ConnectionClosed as e:
                self._closed(e)
                return None
            msg, again = self._handle(data)
            if again:
                ws.send(self._request("subscribe", again))
            if msg is not None:
                return msg

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.open()
        while True:
            msg = self.recv()
            if msg is None:
                return
            yield msg

    def subscribe(self, channels: Iterable[str]) -> None:
        """Subscribe to more channels (blocking connection); again = fresh snapshots."""
        ch = list(channels)
        self.channels += tuple(c for c in ch if c not in self.channels)
        if self._sync is not None:
            self._sync.send(self._request("subscribe", ch))

    def close(self) -> None:
        """Close the blocking connection."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- async ------------------------------------------------------------------------------

    async def aopen(self) -> Self:
        """Connect (asyncio) and subscribe; ``async for`` does it when needed."""
        if self._async is None:
            self._async = await async_connect(
                self._connect_url(), open_timeout=self.open_timeout, max_size=MAX_MESSAGE
            )
            await self._async.send(self._request("subscribe", self.channels))
        return self

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        await self.aopen()
        ws = self._async
        assert ws is not None
        while True:
            try:
                text = await ws.recv()
            except ConnectionClosed as e:
                self._closed(e)
                return
            msg, again = self._handle(text)
            if again:
                await ws.send(self._request("subscribe", again))
            if msg is not None:
                yield msg

    async def aclose(self) -> None:
        """Close the asyncio connection."""
        if self._async is not None:
            await self._async.close()
            self._async = None

    async def __aenter__(self) -> Self:
        return await self.aopen()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- books ------------------------------------------------------------------------------

    def book(
        self, symbol: str, n: int | None = None
    ) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]:
        """The local book of ``symbol`` (an ``l2`` channel) as ``(bids, asks)``.

        numpy arrays of ``LEVEL_DTYPE``, best first, like ``engine.book(symbol).depth(n)``;
        empty before its first snapshot (or while it resyncs).
        """
        b = self._books.get(symbol)
        if b is None:
            empty = np.zeros(0, dtype=LEVEL_DTYPE)
            return empty, empty.copy()
        return b.arrays(n)

    def synced(self, symbol: str) -> bool:
        """Whether ``symbol``'s local book is current (snapshot received, no gap pending)."""
        return symbol in self._books


def connect(
    url: str, channels: Iterable[str], *, open_timeout: float = 10.0, encoding: str = "json"
) -> FeedClient:
    """A client of the feed at ``url`` (``server.url``) for ``channels``.

    Channels: ``"l1.AAPL"``, ``"l2.AAPL"``, ``"trades.AAPL"``, ``"status.AAPL"``, ``"stats"``.
    It connects when first iterated (``for`` blocking, ``async for`` asyncio) or used as a
    context manager. ``encoding="binary"`` asks for binary frames (module docs).
    """
    return FeedClient(url, channels, open_timeout=open_timeout, encoding=encoding)
