"""The workloads of ``hftbook bench``, the driver interface and the built-in rows.

Every driver replays the same seeded workloads of :mod:`hftbook._core` one Python call per
operation and times each call with a :func:`time.perf_counter_ns` pair:

* **W1** -- ``n`` non-crossing GTC limit adds within 500 ticks of the mid
  (:func:`hftbook._core.workload_w1`).
* **W2** -- a book prefilled with 10 000 orders (not timed), then ``n`` ops: ~60 % passive
  adds near the touch, ~30 % cancels of live orders, ~10 % marketable orders (half IOC limits
  priced at the last level they reach, half market orders) that trade against 1-3 levels
  (:func:`hftbook._core.workload_w2`). Every marketable order is sized to fill completely.

The drivers of books that do not match are fed what the matching produces instead, computed
once from hftbook's own reports on the same stream (:func:`derive_feeds`): market-by-order
events (add / update / delete of resting orders) for ``nautilus-trader``'s L3 book, and
absolute price-level sizes for ``order-book``.

This module holds the rows that need nothing but hftbook (hftbook per call, hftbook
``apply_batch``, the no-op floor). The drivers of the other order books are in
:mod:`hftbook.bench.peers`, imported by :func:`driver` only when one of those rows is asked
for; the packages they drive are the ``peers`` extra (``pip install 'hftbook[peers]'``).

    >>> wl = Workloads.generate(200, 42)
    >>> out = driver("hftbook").w2(wl, [0] * len(wl.ops))
    >>> ref = reference_w2(wl)
    >>> (out.traded, out.best_bid, out.best_ask) == (ref.traded, ref.best_bid, ref.best_ask)
    True
    >>> ROWS[:2]
    ('hftbook', 'hftbook apply_batch')
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

import hftbook as hb
from hftbook._core import workload_w1, workload_w2

__all__ = [
    "PEERS_INSTALL",
    "PEERS_MODULE",
    "ROWS",
    "Driver",
    "FloorDriver",
    "HftbookBatchDriver",
    "HftbookDriver",
    "Outcome",
    "Reference",
    "Workloads",
    "derive_feeds",
    "driver",
    "drivers",
    "reference_w2",
]

#: How to install the packages the peer rows drive (the ``peers`` extra).
PEERS_INSTALL = "pip install 'hftbook[peers]'"

#: Op codes of :attr:`Workloads.ops`.
ADD, CANCEL, IOC, MARKET = 0, 1, 2, 3

#: W1 row / prefill row: (side, is_buy, price_ticks, qty, order_id).
Row = tuple[str, bool, int, int, int]
#: W2 op: (code, side, is_buy, price_ticks, qty, order_id); a cancel has price 0, qty 0.
Op = tuple[int, str, bool, int, int, int]
#: A market-by-order event: (action, is_buy, price_ticks, size, order_id); action 0 add,
#: 1 update (size is the new remaining size), 2 delete.
MboEvent = tuple[int, bool, int, int, int]
#: A price-level update: (is_buy, price_ticks, new level size; 0 removes the level).
LevelUpdate = tuple[bool, int, int]


def _rows(cmds: npt.NDArray[np.void]) -> list[Row]:
    sides = ["buy" if s == 0 else "sell" for s in cmds["side"].tolist()]
    return list(
        zip(
            sides,
            [s == "buy" for s in sides],
            cmds["price_ticks"].tolist(),
            cmds["qty"].tolist(),
            cmds["order_id"].tolist(),
            strict=True,
        )
    )


def _ops(cmds: npt.NDArray[np.void]) -> list[Op]:
    kind = cmds["kind"]
    if np.any(kind > 1):
        raise ValueError("the peer drivers replay adds and cancels only (found a modify)")
    code = np.where(
        kind == 1,
        CANCEL,
        np.where(cmds["order_type"] == 1, MARKET, np.where(cmds["tif"] == 1, IOC, ADD)),
    )
    if np.any((kind == 0) & (cmds["tif"] == 2)):
        raise ValueError("the peer drivers do not replay FOK orders")
    sides = ["buy" if s == 0 else "sell" for s in cmds["side"].tolist()]
    return list(
        zip(
            code.tolist(),
            sides,
            [s == "buy" for s in sides],
            cmds["price_ticks"].tolist(),
            cmds["qty"].tolist(),
            cmds["order_id"].tolist(),
            strict=True,
        )
    )


@dataclass
class Workloads:
    """The seeded W1 and W2 streams, as numpy command arrays and as Python rows."""

    n: int
    seed: int
    w1_array: npt.NDArray[np.void]
    prefill_array: npt.NDArray[np.void]
    ops_array: npt.NDArray[np.void]
    w1: list[Row]
    prefill: list[Row]
    ops: list[Op]
    _feeds: tuple[list[tuple[MboEvent, ...]], list[tuple[LevelUpdate, ...]]] | None = None

    @classmethod
    def generate(cls, n: int, seed: int, w1_n: int | None = None) -> Workloads:
        """W1 of ``w1_n`` (default ``n``) adds and W2 of ``n`` ops, from ``seed``."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        w1_array = workload_w1(n if w1_n is None else w1_n, seed)
        prefill_array, ops_array = workload_w2(n, seed)
        return cls(
            n=n,
            seed=seed,
            w1_array=w1_array,
            prefill_array=prefill_array,
            ops_array=ops_array,
            w1=_rows(w1_array),
            prefill=_rows(prefill_array),
            ops=_ops(ops_array),
        )

    def feeds(self) -> tuple[list[tuple[MboEvent, ...]], list[tuple[LevelUpdate, ...]]]:
        """Per-op MBO events and level updates for the books that do not match (cached)."""
        if self._feeds is None:
            self._feeds = derive_feeds(self)
        return self._feeds


@dataclass
class Outcome:
    """What one timed pass did: wall and CPU time of the whole loop and the final state."""

    seconds: float
    traded: int | None
    best_bid: int | None
    best_ask: int | None
    #: CPU seconds of the process over the loop: unlike ``seconds`` it leaves out the time
    #: the process waited for a core (a shared machine), so it is the steadier figure.
    cpu_seconds: float | None = None


@dataclass(frozen=True)
class Reference:
    """hftbook's result on W2 (``apply_batch``) with its fills, the yardstick of the feeds."""

    traded: int
    best_bid: int | None
    best_ask: int | None
    batch: hb.BatchResult


def _top(book: hb.OrderBook) -> tuple[int | None, int | None]:
    b, a = book.best_bid(), book.best_ask()
    return (None if b is None else b.price_ticks, None if a is None else a.price_ticks)


def reference_w2(wl: Workloads) -> Reference:
    """Replay W2 through a fresh hftbook with ``apply_batch``: traded qty, top, reports."""
    book = hb.OrderBook("W2", tick_size="0.01")
    book.apply_batch(wl.prefill_array)
    res = book.apply_batch(wl.ops_array)
    bid, ask = _top(book)
    return Reference(int(res.fills["qty"].sum()), bid, ask, res)


def derive_feeds(
    wl: Workloads,
) -> tuple[list[tuple[MboEvent, ...]], list[tuple[LevelUpdate, ...]]]:
    """Translate W2 into what a non-matching book is fed, from hftbook's reports.

    For each op: a passive add that rests becomes an MBO *add*; a cancel becomes a *delete*
    of the order (side and price from the add); a marketable order becomes, for each maker
    it trades with (in the order of hftbook's fills), an *update* to the maker's remaining
    size or a *delete* when it is filled, plus an *add* of the taker's resting remainder if
    a GTC order rests after trading. Level updates carry the level's new total size after
    the change (0: the level is gone), one per level touched, in order.
    """
    ref = reference_w2(wl)
    res = ref.batch
    fills = res.fills
    f_taker = fills["taker_id"].tolist()
    f_maker = fills["maker_id"].tolist()
    f_qty = fills["qty"].tolist()
    f_rem = fills["maker_remaining"].tolist()
    remaining = res.remaining_qty.tolist()
    status = res.status.tolist()
    resting_status = {i for i, s in enumerate(hb.STATUS_NAMES) if s in ("new", "partially_filled")}

    live: dict[int, list[Any]] = {}  # id -> [is_buy, price, remaining]
    level: dict[tuple[bool, int], int] = {}
    for _side, is_buy, price, qty, oid in wl.prefill:
        live[oid] = [is_buy, price, qty]
        level[(is_buy, price)] = level.get((is_buy, price), 0) + qty

    mbo: list[tuple[MboEvent, ...]] = []
    l2: list[tuple[LevelUpdate, ...]] = []
    fi, nf = 0, len(f_taker)
    for i, (code, _side, is_buy, price, _qty, oid) in enumerate(wl.ops):
        ev: list[MboEvent] = []
        lv: list[LevelUpdate] = []
        if code == CANCEL:
            o = live.pop(oid, None)
            if o is not None:
                key = (o[0], o[1])
                total = level[key] - o[2]
                level[key] = total
                ev.append((2, o[0], o[1], 0, oid))
                lv.append((o[0], o[1], total))
            mbo.append(tuple(ev))
            l2.append(tuple(lv))
            continue
        while fi < nf and f_taker[fi] == oid:
            m = live[f_maker[fi]]
            key = (m[0], m[1])
            total = level[key] - f_qty[fi]
            level[key] = total
            m[2] = f_rem[fi]
            if f_rem[fi] == 0:
                del live[f_maker[fi]]
                ev.append((2, m[0], m[1], 0, f_maker[fi]))
            else:
                ev.append((1, m[0], m[1], f_rem[fi], f_maker[fi]))
            if lv and lv[-1][0] == key[0] and lv[-1][1] == key[1]:
                lv[-1] = (key[0], key[1], total)
            else:
                lv.append((key[0], key[1], total))
            fi += 1
        rem = remaining[i]
        if code == ADD and rem > 0 and status[i] in resting_status:
            live[oid] = [is_buy, price, rem]
            key = (is_buy, price)
            total = level.get(key, 0) + rem
            level[key] = total
            ev.append((0, is_buy, price, rem, oid))
            lv.append((is_buy, price, total))
        mbo.append(tuple(ev))
        l2.append(tuple(lv))
    if fi != nf:
        raise RuntimeError(f"derive_feeds: {nf - fi} fills were not matched to their taker")
    return mbo, l2


# ------------------------------------------------------------------------------------ drivers


class Driver:
    """One contender. Subclasses set the class attributes and implement the passes.

    ``w1`` / ``w2`` build a fresh book (the W2 prefill is not timed), replay the stream one
    call per op, store each call's nanoseconds in ``lat`` (or leave it untouched when the
    driver has no per-call figure) and return the :class:`Outcome`.
    """

    name: ClassVar[str]
    package: ClassVar[str | None] = None  #: PyPI distribution, None for built-in rows
    module: ClassVar[str | None] = None  #: module to import to check availability
    kind: ClassVar[str] = "matching"  #: matching | batch | book-only | levels | floor
    what: ClassVar[str] = ""
    per_call: ClassVar[bool] = True
    #: Whether its traded quantity and final top are compared with hftbook's.
    checks_traded: ClassVar[bool] = True
    memory: ClassVar[bool] = True  #: whether bytes per resting order are measured

    def unavailable(self) -> str | None:
        """Why this driver cannot run here (a missing package), or None."""
        if self.module is None:
            return None
        try:
            importlib.import_module(self.module)
        except ImportError as e:
            return f"not installed ({e.name or self.module}); {PEERS_INSTALL}"
        return None

    def version(self) -> str | None:
        """The installed version of :attr:`package` (hftbook's own for built-in rows)."""
        if self.kind == "floor":
            return None
        pkg = self.package or "hftbook"
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return hb.__version__ if pkg == "hftbook" else None

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        """Time W1 (one add per call)."""
        raise NotImplementedError

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        """Time W2 (one op per call, after the untimed prefill)."""
        raise NotImplementedError

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        """Build a book from W1 ``chunks`` (for the memory child); returns what keeps it alive."""
        raise NotImplementedError

    def traded_check(self, wl: Workloads) -> int | None:
        """Traded quantity on W2 when the timed pass cannot see it (untimed extra pass)."""
        return None


class HftbookDriver(Driver):
    """hftbook, one ``submit`` / ``cancel`` call per op."""

    name = "hftbook"
    what = "this package: Rust core, PyO3, per call"

    def _fresh(self, wl: Workloads) -> hb.OrderBook:
        book = hb.OrderBook("W2", tick_size="0.01")
        book.apply_batch(wl.prefill_array)
        return book

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = hb.OrderBook("W1", tick_size="0.01")
        submit = book.submit
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for side, _b, price, qty, oid in wl.w1:
            s = clock()
            submit(side, price_ticks=price, qty=qty, order_id=oid)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        bid, ask = _top(book)
        return Outcome(dt, 0, bid, ask, cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = self._fresh(wl)
        submit, cancel = book.submit, book.cancel
        clock = time.perf_counter_ns
        traded = 0
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for code, side, _b, price, qty, oid in wl.ops:
            s = clock()
            if code == ADD:
                submit(side, price_ticks=price, qty=qty, order_id=oid)
            elif code == CANCEL:
                cancel(oid)
            elif code == IOC:
                traded += submit(
                    side, price_ticks=price, qty=qty, order_id=oid, tif="ioc"
                ).filled_qty
            else:
                traded += submit(side, qty=qty, order_id=oid, order_type="market").filled_qty
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        bid, ask = _top(book)
        return Outcome(dt, traded, bid, ask, cpu)

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        book = hb.OrderBook("W1", tick_size="0.01")
        submit = book.submit
        for rows in chunks:
            for side, _b, price, qty, oid in rows:
                submit(side, price_ticks=price, qty=qty, order_id=oid)
        return book


class HftbookBatchDriver(HftbookDriver):
    """hftbook, the whole stream in one ``apply_batch`` call (GIL released)."""

    name = "hftbook apply_batch"
    what = "this package: one apply_batch call (numpy commands)"
    kind = "batch"
    per_call = False
    memory = False

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = hb.OrderBook("W1", tick_size="0.01")
        t0, c0 = time.perf_counter(), time.process_time()
        book.apply_batch(wl.w1_array)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        bid, ask = _top(book)
        return Outcome(dt, 0, bid, ask, cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = self._fresh(wl)
        t0, c0 = time.perf_counter(), time.process_time()
        res = book.apply_batch(wl.ops_array)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        bid, ask = _top(book)
        return Outcome(dt, int(res.fills["qty"].sum()), bid, ask, cpu)


class FloorDriver(Driver):
    """A Python call that does nothing, with the arguments of an add: the floor."""

    name = "no-op Python call"
    kind = "floor"
    what = "the floor: a Python function call that does nothing"
    checks_traded = False
    memory = False

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        def noop(is_buy: bool, price: int, qty: int, oid: int) -> None:
            return None

        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _s, is_buy, price, qty, oid in wl.w1:
            s = clock()
            noop(is_buy, price, qty, oid)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, None, None, cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        def noop(is_buy: bool, price: int, qty: int, oid: int) -> None:
            return None

        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _c, _s, is_buy, price, qty, oid in wl.ops:
            s = clock()
            noop(is_buy, price, qty, oid)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, None, None, cpu)


#: Every row of the table, in table order. The rows other than hftbook's own and the floor
#: are the peers: their drivers are in :data:`PEERS_MODULE`.
ROWS: tuple[str, ...] = (
    "hftbook",
    "hftbook apply_batch",
    "liquibook",
    "limit-order-book",
    "nautilus-trader",
    "pure-Python SortedDict",
    "order-book",
    "no-op Python call",
)

#: The module of the peer drivers (optional: imported only when a peer row runs).
PEERS_MODULE = "hftbook.bench.peers"

_BUILTIN: dict[str, type[Driver]] = {
    d.name: d for d in (HftbookDriver, HftbookBatchDriver, FloorDriver)
}
_INSTANCES: dict[str, Driver] = {}


def driver(name: str) -> Driver:
    """The driver of the row called ``name`` (imports :data:`PEERS_MODULE` for a peer row)."""
    d = _INSTANCES.get(name)
    if d is not None:
        return d
    if name not in ROWS:
        raise KeyError(f"unknown bench row {name!r}; known: {', '.join(ROWS)}")
    cls = _BUILTIN.get(name)
    if cls is None:
        peers: Any = importlib.import_module(PEERS_MODULE)
        cls = peers.PEER_DRIVERS[name]
    d = _INSTANCES[name] = cls()
    return d


def drivers(names: Iterable[str] | None = None) -> list[Driver]:
    """The drivers of ``names`` (default: every row, in table order)."""
    return [driver(n) for n in (ROWS if names is None else names)]
