r"""Order-flow statistics of a message stream, for fitting and checking the simulator's flow.

The input is a *normalized message table*: parallel numpy arrays, one row per message, in time
order.

==============  =======  ==================================================================
key             dtype    meaning
==============  =======  ==================================================================
``ts_ns``       int64    timestamp in nanoseconds (any origin; never decreasing)
``kind``        int64    :data:`ADD`, :data:`PARTIAL_CANCEL`, :data:`CANCEL` or :data:`EXECUTION`
``order_id``    int64    id of the order the message is about (executions: the resting order)
``side``        int64    +1 buy, -1 sell; for executions the side of the *resting* order
``price_ticks`` int64    price in ticks
``qty``         int64    size in lots (added, removed, or executed)
``best_bid``    int64    best bid in ticks *before* the message, :data:`NO_PRICE` if none
``best_ask``    int64    best ask in ticks *before* the message, :data:`NO_PRICE` if none
``bid_qty``     int64    optional: size at the best bid before the message (lots)
==============  =======  ==================================================================

:func:`flow_stats` turns a table into the statistics the simulator's background flow agents are
parameterized with (see ``docs/flow_calibration.md``); :func:`lobster_messages` builds a table
from a LOBSTER message/orderbook pair, :func:`engine_messages` from a (simulated) engine's event
stream, and :func:`pool` concatenates tables of several symbols.

    >>> import numpy as np
    >>> t = {k: np.array(v, dtype=np.int64) for k, v in dict(
    ...     ts_ns=[0, 1_000_000_000, 2_000_000_000, 3_000_000_000],
    ...     kind=[ADD, ADD, EXECUTION, CANCEL],
    ...     order_id=[1, 2, 1, 2],
    ...     side=[1, -1, 1, -1],
    ...     price_ticks=[100, 103, 100, 103],
    ...     qty=[5, 7, 5, 7],
    ...     best_bid=[100, 100, 100, 100],
    ...     best_ask=[102, 102, 102, 102],
    ... ).items()}
    >>> s = flow_stats(**t)
    >>> s["mix"]["add"], s["trade_share"], s["marketable_share"]
    (0.5, 0.25, 0.3333333333333333)
    >>> s["add_distance"]["pmf"][:3]  # d = 0 (buy joins the bid), d = 1 (sell one tick behind)
    [0.5, 0.5, 0.0]
    >>> s["life"]["cancelled_share"], s["life"]["executed_share"], s["life"]["quantiles_s"]["p50"]
    (0.5, 0.5, 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ADD",
    "CANCEL",
    "EXECUTION",
    "NO_PRICE",
    "PARTIAL_CANCEL",
    "TABLE_KEYS",
    "engine_messages",
    "flow_stats",
    "lobster_messages",
    "pool",
]

#: A new resting (limit) order.
ADD = 1
#: A partial cancel: ``qty`` lots removed from a resting order that stays in the book.
PARTIAL_CANCEL = 2
#: A full cancel (delete) of a resting order.
CANCEL = 3
#: An execution against a resting order (``side`` is the resting order's side).
EXECUTION = 4
#: ``best_bid`` / ``best_ask`` value for an empty side (no real touch is at tick 0).
NO_PRICE = 0

#: Keys of a normalized message table (``bid_qty`` is optional).
TABLE_KEYS = ("ts_ns", "kind", "order_id", "side", "price_ticks", "qty", "best_bid", "best_ask")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# LOBSTER message types -> kinds; 6 (cross trade) and 7 (halt) are dropped.
_LOBSTER_KIND = {1: ADD, 2: PARTIAL_CANCEL, 3: CANCEL, 4: EXECUTION, 5: EXECUTION}
_LOBSTER_PRICE_UNITS_PER_DOLLAR = 10_000


def _read_bytes(src: str | Path | IO[bytes]) -> bytes:
    if isinstance(src, str | Path):
        return Path(src).read_bytes()
    data = src.read()
    if isinstance(data, str):  # a text-mode file
        return data.encode()
    return bytes(data)


def lobster_messages(
    message_csv: str | Path | IO[bytes],
    orderbook_csv: str | Path | IO[bytes],
    tick: float = 0.01,
) -> dict[str, I64]:
    r"""Normalize a LOBSTER message/orderbook pair into a message table (see the module doc).

    ``message_csv`` and ``orderbook_csv`` are paths or binary file objects (for example the
    members of a sample zip opened with :mod:`zipfile`). Types 1/2/3 become :data:`ADD`,
    :data:`PARTIAL_CANCEL` and :data:`CANCEL`; 4 (visible) and 5 (hidden) executions become
    :data:`EXECUTION`; 6 (cross trade) and 7 (halt) rows are dropped. Prices are converted to
    ticks of ``tick`` dollars, rounding half up (only type-5 hidden executions sit on half
    ticks, and execution prices are not used by :func:`flow_stats`). The touch before message
    *i* is orderbook row *i - 1*; before the first message it is unknown and given as
    :data:`NO_PRICE` (an empty book). Sizes stay in shares (one lot = one share).

    >>> import io
    >>> msgs = b"1.0,1,7,5,1000000,1\n2.5,4,7,5,1000000,1\n"
    >>> book = b"1000200,3,1000000,5\n1000200,3,-9999999999,0\n"
    >>> t = lobster_messages(io.BytesIO(msgs), io.BytesIO(book))
    >>> t["ts_ns"].tolist(), t["price_ticks"].tolist(), t["best_bid"].tolist()
    ([1000000000, 2500000000], [10000, 10000], [0, 10000])
    """
    from hftbook.data.lobster import (
        EMPTY_ASK_PRICE,
        EMPTY_BID_PRICE,
        parse_messages,
        parse_orderbook,
    )

    m = parse_messages(_read_bytes(message_csv), name=str(getattr(message_csv, "name", "msgs")))
    ob = parse_orderbook(_read_bytes(orderbook_csv), name=str(getattr(orderbook_csv, "name", "ob")))
    if len(m) != len(ob):
        raise ValueError(f"{len(m)} messages but {len(ob)} orderbook rows")
    units = round(tick * _LOBSTER_PRICE_UNITS_PER_DOLLAR)

    ask = np.where(ob[:, 0] == EMPTY_ASK_PRICE, NO_PRICE, (ob[:, 0] + units // 2) // units)
    bid = np.where(ob[:, 2] == EMPTY_BID_PRICE, NO_PRICE, (ob[:, 2] + units // 2) // units)
    before = np.concatenate(([0], np.arange(len(ob) - 1)))
    known = np.arange(len(ob)) > 0  # no book before the first message

    kind_of = np.zeros(8, dtype=np.int64)
    for lob, kind in _LOBSTER_KIND.items():
        kind_of[lob] = kind
    kind_all = kind_of[np.clip(m[:, 1], 0, 7)]
    keep = kind_all > 0
    return {
        "ts_ns": m[keep, 0].astype(np.int64),
        "kind": kind_all[keep],
        "order_id": m[keep, 2].astype(np.int64),
        "side": m[keep, 5].astype(np.int64),
        "price_ticks": ((m[keep, 4] + units // 2) // units).astype(np.int64),
        "qty": m[keep, 3].astype(np.int64),
        "best_bid": np.where(known, bid[before], NO_PRICE)[keep].astype(np.int64),
        "best_ask": np.where(known, ask[before], NO_PRICE)[keep].astype(np.int64),
        "bid_qty": np.where(known, ob[before, 3], 0)[keep].astype(np.int64),
    }


def engine_messages(events: npt.NDArray[Any], symbol: int) -> dict[str, I64]:
    r"""Normalize one symbol of an engine's event stream into a message table (module doc).

    ``events`` are :data:`hftbook.EVENT_DTYPE` rows (for example everything a
    :class:`hftbook.Simulation` run passes to ``on_batch``), ``symbol`` an index into the
    engine's symbols; only that symbol's events are used, in ``symbol_seq`` order. The table
    mirrors what a LOBSTER file shows of the same book, for every account (background flow and
    strategies alike):

    - :data:`ADD`: an order that *rests*, with the lots it rests with. A limit order that
      trades on arrival and rests its remainder is an add of the remainder, after the
      executions; an order that never rests (an IOC, a fully filled order) has no add, and
      only its executions against resting orders appear.
    - :data:`EXECUTION`: one per maker ``fill``: the resting order, its side, price and the
      lots traded. The aggressor's own fills are not messages.
    - :data:`CANCEL`: a ``cancelled`` or ``expired`` event of an order that rested (``qty`` =
      the lots removed), whatever the reason (user, expiry, mass cancel, self-trade). The
      cancel of an arriving order's unfilled rest (``unfilled_ioc``) is not a message.
    - :data:`PARTIAL_CANCEL`: a ``modified`` event that keeps the price and lowers the lots
      (``qty`` = the lots removed). A modify that moves the price or raises the lots loses
      priority: it is a :data:`CANCEL` of the old order and, if it rests again, an
      :data:`ADD` under a new (negative) order id, as NASDAQ's replace gives a new order
      reference.
    - ``ts_ns`` is ``ts_processed``; ``best_bid`` / ``best_ask`` / ``bid_qty`` are the touch
      before the message, from the L2 levels of the ``book`` events seen so far (the engine
      option ``book_events=True``). The engine publishes a command's book events after all its
      fills and cancels, so the levels are also updated at each maker fill, cancel and partial
      cancel as it happens (the book events that follow then agree): each execution of a
      sweep sees the touch left by the one before, as in LOBSTER.

    Approximations: the stream should start with the book empty (orders and levels from
    before it are unknown: their executions and cancels are still messages, but they have no
    add and the touch misses their levels until a book event names them); hidden and iceberg
    quantities are invisible in the levels; stop orders are not followed (an order counts from
    its ``accepted`` event). Without book events, an order rests if its command ends with
    lots left and no cancel, and every touch is :data:`NO_PRICE`.

    >>> import numpy as np
    >>> from hftbook import EVENT_DTYPE, EVENT_KINDS
    >>> rows = [  # (kind, order_id, side, price, qty, leaves_qty, flags, ts, cmd)
    ...     ("accepted", 1, 1, 102, 5, 5, 0, 10, 1), ("book", 0, 1, 102, 5, 1, 0, 10, 1),
    ...     ("accepted", 2, 0, 102, 8, 8, 0, 20, 2),  # a buy of 8 takes 5, rests 3 at 102
    ...     ("fill", 2, 0, 102, 5, 3, 0, 20, 2), ("fill", 1, 1, 102, 5, 0, 1, 20, 2),
    ...     ("book", 0, 0, 102, 3, 1, 0, 20, 2), ("book", 0, 1, 102, 0, 0, 0, 20, 2),
    ... ]
    >>> ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    >>> for r, (k, *v) in zip(ev, rows):
    ...     r["kind"] = EVENT_KINDS.index(k)
    ...     for f, x in zip(["order_id", "side", "price_ticks", "qty", "leaves_qty", "flags",
    ...                      "ts_processed", "cmd_seq"], v):
    ...         r[f] = x
    >>> t = engine_messages(ev, symbol=0)
    >>> t["kind"].tolist(), t["order_id"].tolist(), t["qty"].tolist(), t["side"].tolist()
    ([1, 4, 1], [1, 1, 2], [5, 5, 3], [-1, -1, 1])
    >>> t["best_ask"].tolist()  # the touch before each message
    [0, 102, 0]
    """
    import heapq

    from hftbook.engine import ENGINE_REASONS, EVENT_KINDS

    k_acc, k_fill, k_cx, k_mod, k_exp, k_book = (
        EVENT_KINDS.index(n)
        for n in ("accepted", "fill", "cancelled", "modified", "expired", "book")
    )
    r_ioc = ENGINE_REASONS.index("unfilled_ioc")
    ev = events[events["symbol"] == symbol]
    ev = ev[np.argsort(ev["symbol_seq"], kind="stable")]
    have_book = bool(np.any(ev["kind"] == k_book))

    levels: tuple[dict[int, int], dict[int, int]] = ({}, {})  # side 0 buy / 1 sell: lots
    heaps: tuple[list[int], list[int]] = ([], [])  # -price of bids, price of asks (lazy)
    resting: dict[int, list[int]] = {}  # engine id -> [table id, side, price, leaves]
    pending: list[int] | None = None  # the arriving order: [engine id, table id, side,
    #                                   price, leaves, cmd_seq]
    next_id = -1
    out: list[tuple[int, ...]] = []

    def set_level(side: int, price: int, lots: int) -> None:
        lv = levels[side]
        if lots > 0:
            if price not in lv:
                heapq.heappush(heaps[side], -price if side == 0 else price)
            lv[price] = lots
        else:
            lv.pop(price, None)

    def best(side: int) -> int:
        h, lv = heaps[side], levels[side]
        while h and (-h[0] if side == 0 else h[0]) not in lv:
            heapq.heappop(h)
        return NO_PRICE if not h else (-h[0] if side == 0 else h[0])

    def emit(ts: int, kind: int, oid: int, side: int, price: int, qty: int) -> None:
        bb, ba = best(0), best(1)
        out.append(
            (ts, kind, oid, 1 if side == 0 else -1, price, qty, bb, ba, levels[0].get(bb, 0))
        )

    def settle(p: list[int], ts: int) -> None:
        eid, tid, side, price, leaves, _ = p
        if leaves > 0:
            emit(ts, ADD, tid, side, price, leaves)
            resting[eid] = [tid, side, price, leaves]

    cols = (
        ev["kind"],
        ev["order_id"],
        ev["side"],
        ev["price_ticks"],
        ev["qty"],
        ev["leaves_qty"],
        ev["flags"],
        ev["ts_processed"],
        ev["cmd_seq"],
        ev["reason"],
    )
    ts = 0
    for kind, oid, side, price, qty, leaves, flags, ts, cmd, reason in zip(
        *(c.tolist() for c in cols), strict=True
    ):
        if pending is not None and cmd != pending[5]:
            if not have_book:
                settle(pending, ts)
            pending = None
        if kind == k_acc:
            pending = [oid, oid, side, price, leaves, cmd]
        elif kind == k_fill:
            if flags & 1:  # the maker's side of the trade
                r = resting.get(oid)
                emit(ts, EXECUTION, oid if r is None else r[0], side, price, qty)
                set_level(side, price, levels[side].get(price, 0) - qty)
                if r is not None:
                    r[3] = leaves
                    if leaves == 0:
                        del resting[oid]
            elif pending is not None and pending[0] == oid:
                pending[4] = leaves
        elif kind in (k_cx, k_exp):
            r = resting.pop(oid, None)
            if pending is not None and pending[0] == oid:
                pending = None  # never rested (IOC rest, no liquidity, self-trade)
            elif r is not None or reason != r_ioc:
                emit(ts, CANCEL, oid if r is None else r[0], side, price, qty)
                set_level(side, price, levels[side].get(price, 0) - qty)
        elif kind == k_mod:
            r = resting.get(oid)
            if r is None:
                continue  # an order from before the stream: its old size is unknown
            tid, r_side, r_price, old = r
            if price == r_price and qty < old:
                emit(ts, PARTIAL_CANCEL, tid, r_side, price, old - qty)
                set_level(r_side, price, levels[r_side].get(price, 0) - (old - qty))
                r[3] = qty
            elif price != r_price or qty > old:
                emit(ts, CANCEL, tid, r_side, r_price, old)
                set_level(r_side, r_price, levels[r_side].get(r_price, 0) - old)
                del resting[oid]
                pending = [oid, next_id, r_side, price, qty, cmd]
                next_id -= 1
        elif kind == k_book:
            if (
                pending is not None
                and side == pending[2]
                and price == pending[3]
                and cmd == pending[5]
            ):
                settle(pending, ts)
                pending = None
            set_level(side, price, qty)
    if pending is not None and not have_book:
        settle(pending, ts)

    keys = (*TABLE_KEYS, "bid_qty")
    arr = np.array(out, dtype=np.int64).reshape(len(out), len(keys))
    return {k: arr[:, i].copy() for i, k in enumerate(keys)}


def pool(tables: Sequence[Mapping[str, I64]]) -> dict[str, I64]:
    """Concatenate message tables of different symbols into one, for pooled statistics.

    Each table is shifted in time to start 1 ns after the previous one ends (so the pooled time
    span is the sum of the spans and executions of different tables never group together), and
    order ids are offset so they cannot collide. ``bid_qty`` is kept only if every table has it.

    >>> import numpy as np
    >>> a = {k: np.array([5, 9], dtype=np.int64) for k in TABLE_KEYS}
    >>> p = pool([a, a])
    >>> p["ts_ns"].tolist(), p["order_id"].tolist()
    ([5, 9, 10, 14], [5, 9, 10, 14])
    """
    keys = list(TABLE_KEYS) + (["bid_qty"] if all("bid_qty" in t for t in tables) else [])
    out: dict[str, list[I64]] = {k: [] for k in keys}
    t_end: int | None = None
    id_end: int | None = None
    for t in tables:
        if len(t["ts_ns"]) == 0:
            continue
        shift = 0 if t_end is None else t_end + 1 - int(t["ts_ns"][0])
        id_offset = 0 if id_end is None else id_end + 1 - int(np.min(t["order_id"]))
        for k in keys:
            v = np.asarray(t[k], dtype=np.int64)
            if k == "ts_ns":
                v = v + shift
            elif k == "order_id":
                v = v + id_offset
            out[k].append(v)
        t_end = int(t["ts_ns"][-1]) + shift
        id_end = int(np.max(t["order_id"])) + id_offset
    return {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in out.items()}


def _quantile(x: npt.ArrayLike, q: float) -> float | None:
    a = np.asarray(x, dtype=np.float64)
    return float(np.quantile(a, q)) if a.size else None


def _lognormal(x: npt.ArrayLike) -> tuple[float | None, float | None]:
    """Fit a lognormal by the moments of log(x) (the maximum-likelihood fit)."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return None, None
    lg = np.log(a)
    return float(lg.mean()), float(lg.std())


def _size_model(sizes: I64, coverage: float) -> dict[str, Any]:
    """The most common sizes that together cover ``coverage`` of ``sizes``, plus a lognormal rest.

    ``values`` are ascending, ``pmf`` are their shares of *all* sizes (so ``1 - sum(pmf)`` is
    the share of the rest), and the rest (sizes not in ``values``) is fitted lognormal.
    """
    if sizes.size == 0:
        return {"values": [], "pmf": [], "rest_log_mu": None, "rest_log_sigma": None}
    vals, counts = np.unique(sizes, return_counts=True)
    order = np.lexsort((vals, -counts))  # most common first, ties by the smaller size
    cum = np.cumsum(counts[order]) / sizes.size
    n_keep = int(np.searchsorted(cum, coverage - 1e-12) + 1)
    keep = np.sort(order[:n_keep])
    rest = sizes[~np.isin(sizes, vals[keep])]
    mu, sigma = _lognormal(rest)
    return {
        "values": [int(v) for v in vals[keep]],
        "pmf": [float(c) / sizes.size for c in counts[keep]],
        "rest_log_mu": mu,
        "rest_log_sigma": sigma,
    }


def _log_quantiles(life_s: npt.NDArray[np.float64]) -> list[float]:
    """ln(life) at p = 0, 0.01, ..., 1 (empty without data)."""
    if not life_s.size:
        return []
    return [float(v) for v in np.log(np.quantile(life_s, np.linspace(0.0, 1.0, 101)))]


def flow_stats(
    ts_ns: npt.ArrayLike,
    kind: npt.ArrayLike,
    order_id: npt.ArrayLike,
    side: npt.ArrayLike,
    price_ticks: npt.ArrayLike,
    qty: npt.ArrayLike,
    best_bid: npt.ArrayLike,
    best_ask: npt.ArrayLike,
    bid_qty: npt.ArrayLike | None = None,
    *,
    min_bin: int | None = None,
    max_bin: int = 50,
    size_coverage: float = 0.9,
) -> dict[str, Any]:
    """Order-flow statistics of a normalized message table (see the module doc for the columns).

    Returns a JSON-ready dict (``None`` where a statistic has no data):

    - ``message_rate_per_s``: messages / (last - first timestamp).
    - ``mix``: shares of ``add``, ``partial_cancel``, ``cancel`` and ``execution`` messages;
      ``trade_share`` repeats the execution share.
    - ``marketable_share``: aggressor orders / (aggressor orders + adds). An aggressor order is
      the group of executions with the same timestamp and the same resting side.
    - ``add_distance``: distance ``d`` of each add behind the same-side touch before it, in
      ticks (``best_bid - price`` for a buy, ``price - best_ask`` for a sell; ``d < 0`` improves
      inside the spread, ``0`` joins). Adds with that side empty are skipped. ``pmf`` covers
      ``d = min .. max_bin`` (``min`` = ``min_bin``, or the smallest ``d`` seen; smaller ``d``
      are counted in the first bin), ``tail_share`` is ``P(d > max_bin)`` and ``tail_alpha``
      the power-law exponent of that tail, ``p(d) ~ d**-alpha``, by the discrete
      maximum-likelihood approximation ``1 + n / sum(log(d / (max_bin + 0.5)))``.
      ``inside_fraction`` gives, for adds inside the spread with both sides present, ``-d`` as a
      share of the spread at ``p = 0, 0.05, ..., 1`` (21 values).
    - ``add_size`` / ``aggressor_size`` (summed size of each aggressor group): ``values`` (the
      most common sizes, ascending, covering ``size_coverage``), their ``pmf`` (shares of all),
      and ``rest_log_mu`` / ``rest_log_sigma``, a lognormal fitted to the other sizes.
    - ``life``: how adds end. ``cancelled_share`` have a :data:`CANCEL`; ``executed_share`` have
      no cancel and executions that, with partial cancels, use up their size; ``open_share`` is
      the rest (still live at the end, or their end was not seen). ``log_mu`` / ``log_sigma``
      fit a lognormal to the life in seconds (add to cancel) of the cancelled adds (a life of 0
      counts as 1 ns), ``quantiles_s`` gives its ``p10``, ``p50``, ``p90``, ``p99``, and
      ``log_quantiles`` the natural log of the life (s) at ``p = 0, 0.01, ..., 1`` (101 values,
      the empirical distribution the simulated flow draws from). ``by_place`` splits the adds
      by where they went, ``inside`` (``d < 0``), ``join`` (``d = 0``) and ``behind``
      (``d > 0``); each has its ``share`` of the adds, ``cancelled_share`` and
      ``log_quantiles`` (orders inside the spread are cancelled much sooner: they are the
      fleeting quotes).
    - ``partial_cancel``: ``share_of_adds`` with at least one :data:`PARTIAL_CANCEL`, and
      ``fraction_mean``: mean over partial cancels of ``qty`` / the order's size just before
      (its added size minus earlier partial cancels and executions).
    - ``spread_ticks``: ``p50`` and ``mean`` of ``best_ask - best_bid`` over messages with both
      sides present (event-weighted, not time-weighted).
    - ``touch_depth_lots``: ``p50`` of ``bid_qty`` over messages with a bid (``None`` without
      ``bid_qty``).

    Only messages about orders whose add is in the table count for ``life`` and
    ``partial_cancel``; order ids must be unique per add.

    >>> import numpy as np
    >>> z = np.zeros(2, dtype=np.int64)
    >>> s = flow_stats([0, 10**9], [ADD, ADD], [1, 2], [1, -1], [99, 101], [100, 3],
    ...                z + 100, z + 101, bid_qty=z + 8)
    >>> s["message_rate_per_s"], s["add_distance"]["min"], s["add_distance"]["pmf"][:2]
    (2.0, 0, [0.5, 0.5])
    >>> s["add_size"]["values"], s["spread_ticks"]["p50"], s["touch_depth_lots"]["p50"]
    ([3, 100], 1.0, 8.0)
    >>> s["life"]["open_share"], s["life"]["log_mu"]
    (1.0, None)
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    kd = np.asarray(kind, dtype=np.int64)
    oid = np.asarray(order_id, dtype=np.int64)
    sd = np.asarray(side, dtype=np.int64)
    px = np.asarray(price_ticks, dtype=np.int64)
    q = np.asarray(qty, dtype=np.int64)
    bb = np.asarray(best_bid, dtype=np.int64)
    ba = np.asarray(best_ask, dtype=np.int64)
    n = ts.size
    if any(a.shape != (n,) for a in (kd, oid, sd, px, q, bb, ba)):
        raise ValueError("all columns must be 1-d arrays of the same length")
    if n and np.any(np.diff(ts) < 0):
        raise ValueError("ts_ns must never decrease")

    span_s = float(ts[-1] - ts[0]) / 1e9 if n else 0.0
    is_add, is_pc = kd == ADD, kd == PARTIAL_CANCEL
    is_cx, is_ex = kd == CANCEL, kd == EXECUTION
    counts = {
        k: int(m.sum())
        for k, m in (
            ("add", is_add),
            ("partial_cancel", is_pc),
            ("cancel", is_cx),
            ("execution", is_ex),
        )
    }
    total = sum(counts.values())
    mix = {k: (c / total if total else None) for k, c in counts.items()}

    # aggressor orders: executions grouped by (timestamp, resting side)
    ex_key = ts[is_ex] * 2 + (sd[is_ex] > 0)
    groups, inverse = np.unique(ex_key, return_inverse=True)
    aggr_size = np.bincount(inverse, weights=q[is_ex], minlength=groups.size).astype(np.int64)
    n_aggr, n_add = int(groups.size), counts["add"]

    # distance of each add behind the same-side touch before it
    buy, sell = is_add & (sd > 0) & (bb != NO_PRICE), is_add & (sd < 0) & (ba != NO_PRICE)
    d = np.concatenate((bb[buy] - px[buy], px[sell] - ba[sell]))
    add_distance: dict[str, Any]
    if d.size:
        lo = int(d.min()) if min_bin is None else min_bin
        hi = max(max_bin, lo)
        inside = np.clip(d[d <= hi], lo, None) - lo
        pmf = np.bincount(inside, minlength=hi - lo + 1) / d.size
        tail = d[d > hi].astype(np.float64)
        alpha = 1.0 + tail.size / float(np.log(tail / (hi + 0.5)).sum()) if tail.size else None
        add_distance = {
            "min": lo,
            "pmf": [float(p) for p in pmf],
            "tail_share": float(tail.size / d.size),
            "tail_alpha": alpha,
        }
    else:
        add_distance = {"min": min_bin, "pmf": [], "tail_share": None, "tail_alpha": None}
    # where each add went (d per add row; NaN when its side's touch was empty), and how far
    # inside the spread the improving ones went, as a share of the spread
    add_rows = np.flatnonzero(is_add)
    a_side = sd[add_rows]
    d_add = np.where(a_side > 0, bb[add_rows] - px[add_rows], px[add_rows] - ba[add_rows]).astype(
        np.float64
    )
    d_add[np.where(a_side > 0, bb[add_rows], ba[add_rows]) == NO_PRICE] = np.nan
    two_sided = (bb[add_rows] != NO_PRICE) & (ba[add_rows] != NO_PRICE)
    improving = two_sided & (d_add < 0)
    frac_in = -d_add[improving] / (ba[add_rows] - bb[add_rows])[improving]
    add_distance["inside_fraction"] = (
        [float(v) for v in np.quantile(frac_in, np.linspace(0.0, 1.0, 21))] if frac_in.size else []
    )

    # link every message to the add of its order (if the add is in the table)
    add_idx = np.flatnonzero(is_add)
    add_ids = oid[add_idx]
    if np.unique(add_ids).size != add_ids.size:
        raise ValueError("order ids must be unique per add")
    by_id = np.argsort(add_ids, kind="stable")
    sorted_ids = add_ids[by_id]
    if n_add:
        a_of = by_id[np.clip(np.searchsorted(sorted_ids, oid), 0, n_add - 1)]
        # only messages after their order's add
        linked = ~is_add & (add_ids[a_of] == oid) & (np.arange(n) > add_idx[a_of])
    else:
        a_of, linked = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)

    add_size = q[add_idx]
    cancel_t = np.full(n_add, np.iinfo(np.int64).max, dtype=np.int64)
    sel = linked & is_cx
    np.minimum.at(cancel_t, a_of[sel], ts[sel])
    cancelled = cancel_t != np.iinfo(np.int64).max
    executed_q = np.bincount(a_of[linked & is_ex], weights=q[linked & is_ex], minlength=n_add)
    pc_q = np.bincount(a_of[linked & is_pc], weights=q[linked & is_pc], minlength=n_add)
    executed = ~cancelled & (executed_q > 0) & (executed_q + pc_q >= add_size)
    life_s = np.maximum(cancel_t[cancelled] - ts[add_idx[cancelled]], 1) / 1e9
    mu, sigma = _lognormal(life_s)
    life: dict[str, Any] = {
        "cancelled_share": float(cancelled.mean()) if n_add else None,
        "executed_share": float(executed.mean()) if n_add else None,
        "open_share": float((~cancelled & ~executed).mean()) if n_add else None,
        "log_mu": mu,
        "log_sigma": sigma,
        "quantiles_s": {
            f"p{round(p * 100)}": _quantile(life_s, p) for p in (0.10, 0.50, 0.90, 0.99)
        },
        "log_quantiles": _log_quantiles(life_s),
    }
    by_place: dict[str, dict[str, Any]] = {}
    all_life = np.full(n_add, np.nan)
    all_life[cancelled] = np.maximum(cancel_t[cancelled] - ts[add_idx[cancelled]], 1) / 1e9
    for place, m in (
        ("inside", d_add < 0),
        ("join", d_add == 0),
        ("behind", d_add > 0),
    ):
        k = int(m.sum())
        by_place[place] = {
            "share": k / n_add if n_add else None,
            "cancelled_share": float(cancelled[m].mean()) if k else None,
            "log_quantiles": _log_quantiles(all_life[m & cancelled]),
        }
    life["by_place"] = by_place

    # partial cancels: size just before = added size - earlier reductions of the same order
    red = np.flatnonzero(linked & (is_pc | is_ex))  # in time order
    order = np.argsort(a_of[red], kind="stable")
    r_idx, r_a = red[order], a_of[red][order]
    cum = np.cumsum(q[r_idx])
    first = np.concatenate(([True], r_a[1:] != r_a[:-1])) if r_a.size else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(r_a.size), 0))
    earlier = cum - q[r_idx] - (cum[start] - q[r_idx[start]])
    before = add_size[r_a] - earlier
    pcm = kd[r_idx] == PARTIAL_CANCEL
    frac = np.minimum(q[r_idx][pcm] / np.maximum(before[pcm], 1), 1.0)
    partial_cancel = {
        "share_of_adds": float(np.isin(np.arange(n_add), r_a[pcm]).mean()) if n_add else None,
        "fraction_mean": float(frac.mean()) if frac.size else None,
    }

    both = (bb != NO_PRICE) & (ba != NO_PRICE)
    spread = (ba[both] - bb[both]).astype(np.float64)
    depth = None
    if bid_qty is not None:
        bq = np.asarray(bid_qty, dtype=np.int64)
        depth = _quantile(bq[bb != NO_PRICE], 0.5)

    return {
        "message_rate_per_s": n / span_s if span_s > 0 else None,
        "mix": mix,
        "trade_share": mix["execution"],
        "marketable_share": n_aggr / (n_aggr + n_add) if n_aggr + n_add else None,
        "add_distance": add_distance,
        "add_size": _size_model(add_size, size_coverage),
        "aggressor_size": _size_model(aggr_size, size_coverage),
        "life": life,
        "partial_cancel": partial_cancel,
        "spread_ticks": {
            "p50": _quantile(spread, 0.5),
            "mean": float(spread.mean()) if spread.size else None,
        },
        "touch_depth_lots": {"p50": depth},
    }
