"""The peer drivers of ``hftbook bench``: the order books a user would pick instead.

An optional module: ``import hftbook`` and the ``hftbook`` command line never import it;
:func:`hftbook.bench.driver` does, the first time a peer row is asked for. The packages it
drives are the ``peers`` extra (``pip install 'hftbook[peers]'``); each is imported lazily
with :func:`importlib.import_module`, and a missing one makes its driver report itself
skipped (:meth:`~hftbook.bench.Driver.unavailable`) rather than fail.

* ``liquibook`` (C++ matching engine, SWIG), ``limit-order-book`` and the pure-Python
  :class:`SortedDictBook` (on ``sortedcontainers``) match W2 themselves;
* ``nautilus-trader``'s L3 book and ``order-book``'s level book do not match: they are fed
  hftbook's market-by-order events or level sizes (:func:`hftbook.bench.derive_feeds`).

    >>> from hftbook.bench import Workloads, reference_w2
    >>> wl = Workloads.generate(200, 42)
    >>> out = SortedDictDriver().w2(wl, [0] * len(wl.ops))
    >>> ref = reference_w2(wl)
    >>> (out.traded, out.best_bid, out.best_ask) == (ref.traded, ref.best_bid, ref.best_ask)
    True
"""

from __future__ import annotations

import importlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from hftbook.bench._drivers import (
    ADD,
    CANCEL,
    IOC,
    Driver,
    LevelUpdate,
    Outcome,
    Row,
    Workloads,
)

__all__ = [
    "PEER_DRIVERS",
    "LimitOrderBookDriver",
    "LiquibookDriver",
    "NautilusDriver",
    "OrderBookDriver",
    "SortedDictBook",
    "SortedDictDriver",
]


class SortedDictBook:
    """A price-time priority matching book in pure Python: the baseline a user writes.

    Levels are ``sortedcontainers.SortedDict`` entries ``price -> [deque, live orders]``;
    an order is a list ``[id, remaining]``. A cancel zeroes the order and leaves it in its
    deque (lazy deletion, O(1)); matching skips zeroed orders; a level whose live count drops
    to 0 is removed.

        >>> book = SortedDictBook()
        >>> book.add(True, 100, 5, 1), book.add(False, 101, 5, 2)
        (0, 0)
        >>> book.add(False, 100, 7, 3), book.best_bid(), book.best_ask()
        (5, None, 100)
        >>> book.cancel(3), book.cancel(3), book.best_ask()
        (True, False, 101)
    """

    def __init__(self) -> None:
        sc = importlib.import_module("sortedcontainers")
        self.bids: Any = sc.SortedDict()
        self.asks: Any = sc.SortedDict()
        self.orders: dict[int, tuple[list[int], bool, int]] = {}

    def add(self, is_buy: bool, price: int | None, qty: int, oid: int, ioc: bool = False) -> int:
        """Match an order; rest its remainder unless IOC or market; return the traded qty.

        ``price`` None is a market order.
        """
        opp = self.asks if is_buy else self.bids
        traded = 0
        orders = self.orders
        while qty and opp:
            best, lvl = opp.peekitem(0) if is_buy else opp.peekitem(-1)
            if price is not None and (best > price if is_buy else best < price):
                break
            dq = lvl[0]
            while qty and dq:
                o = dq[0]
                if o[1] == 0:
                    dq.popleft()
                    continue
                take = o[1] if o[1] < qty else qty
                o[1] -= take
                qty -= take
                traded += take
                if o[1] == 0:
                    dq.popleft()
                    del orders[o[0]]
                    lvl[1] -= 1
            if lvl[1] == 0:
                del opp[best]
        if qty and price is not None and not ioc:
            own = self.bids if is_buy else self.asks
            lvl = own.get(price)
            if lvl is None:
                lvl = own[price] = [deque(), 0]
            o = [oid, qty]
            lvl[0].append(o)
            lvl[1] += 1
            orders[oid] = (o, is_buy, price)
        return traded

    def cancel(self, oid: int) -> bool:
        """Remove a resting order; False if it is not resting."""
        e = self.orders.pop(oid, None)
        if e is None:
            return False
        o, is_buy, price = e
        o[1] = 0
        side = self.bids if is_buy else self.asks
        lvl = side[price]
        lvl[1] -= 1
        if lvl[1] == 0:
            del side[price]
        return True

    def best_bid(self) -> int | None:
        """The highest bid price, or None."""
        return int(self.bids.peekitem(-1)[0]) if self.bids else None

    def best_ask(self) -> int | None:
        """The lowest ask price, or None."""
        return int(self.asks.peekitem(0)[0]) if self.asks else None


class SortedDictDriver(Driver):
    """The pure-Python :class:`SortedDictBook`."""

    name = "pure-Python SortedDict"
    package = "sortedcontainers"
    module = "sortedcontainers"
    what = "pure Python: SortedDict of price levels + deque FIFO (written in the bench)"

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = SortedDictBook()
        add = book.add
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _s, is_buy, price, qty, oid in wl.w1:
            s = clock()
            add(is_buy, price, qty, oid)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, 0, book.best_bid(), book.best_ask(), cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = SortedDictBook()
        add, cancel = book.add, book.cancel
        for _s, is_buy, price, qty, oid in wl.prefill:
            add(is_buy, price, qty, oid)
        clock = time.perf_counter_ns
        traded = 0
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for code, _s, is_buy, price, qty, oid in wl.ops:
            s = clock()
            if code == ADD:
                add(is_buy, price, qty, oid)
            elif code == CANCEL:
                cancel(oid)
            elif code == IOC:
                traded += add(is_buy, price, qty, oid, True)
            else:
                traded += add(is_buy, None, qty, oid)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, traded, book.best_bid(), book.best_ask(), cpu)

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        book = SortedDictBook()
        add = book.add
        for rows in chunks:
            for _s, is_buy, price, qty, oid in rows:
                add(is_buy, price, qty, oid)
        return book


def _level(x: int) -> int | None:
    return x or None  # the C/C++ peers report 0 for an empty side


class LiquibookDriver(Driver):
    """``liquibook``: a C++ matching engine behind a SWIG wrapper.

    Its ``DepthOrderBook`` with an order listener that overrides every callback (the base
    class raises otherwise) and counts the filled quantity; nothing else reports a fill. A
    resting order is a ``SimpleOrder`` object kept in a dict by our id so that it can be
    cancelled. IOC limits use its ``oc_immediate_or_cancel`` condition, market orders price 0.
    """

    name = "liquibook"
    package = "liquibook"
    module = "liquibook"
    what = "C++ matching engine, SWIG wrapper (DepthOrderBook + order listener)"

    def _book(self) -> tuple[Any, Any, list[int]]:
        lq = importlib.import_module("liquibook")
        counts = [0, 0]  # filled quantity, rejects

        class Listener(lq.OrderListener):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                lq.OrderListener.__init__(self)

            def on_accept(self, order: Any) -> None:
                pass

            def on_reject(self, order: Any, reason: Any) -> None:
                counts[1] += 1

            def on_fill(self, passive: Any, aggressive: Any, qty: int, cost: int) -> None:
                counts[0] += qty

            def on_cancel(self, order: Any) -> None:
                pass

            def on_cancel_reject(self, order: Any, reason: Any) -> None:
                counts[1] += 1

            def on_replace(self, order: Any, size_delta: Any, new_price: Any) -> None:
                pass

            def on_replace_reject(self, order: Any, reason: Any) -> None:
                counts[1] += 1

            def on_trigger_stop(self, order: Any) -> None:
                pass

        book = lq.DepthOrderBook()
        listener = Listener()
        book.set_order_listener(listener)
        book.set_symbol("W")
        book._bench_listener = listener  # keep the Python listener alive with the book
        return lq, book, counts

    @staticmethod
    def _top(book: Any) -> tuple[int | None, int | None]:
        d = book.depth()
        return _level(int(d.bids().price())), _level(int(d.asks().price()))

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        lq, book, counts = self._book()
        so, add = lq.SimpleOrder, book.add
        orders: dict[int, Any] = {}
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _s, is_buy, price, qty, oid in wl.w1:
            s = clock()
            o = so(is_buy, price, qty)
            orders[oid] = o
            add(o)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, counts[0], *self._top(book), cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        lq, book, counts = self._book()
        so, add, cancel = lq.SimpleOrder, book.add, book.cancel
        ioc = lq.oc_immediate_or_cancel
        orders: dict[int, Any] = {}
        for _s, is_buy, price, qty, oid in wl.prefill:
            o = so(is_buy, price, qty)
            orders[oid] = o
            add(o)
        counts[0] = 0
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for code, _s, is_buy, price, qty, oid in wl.ops:
            s = clock()
            if code == ADD:
                o = so(is_buy, price, qty)
                orders[oid] = o
                add(o)
            elif code == CANCEL:
                o = orders.pop(oid, None)
                if o is not None:
                    cancel(o)
            elif code == IOC:
                add(so(is_buy, price, qty, 0, ioc))
            else:
                add(so(is_buy, 0, qty))
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        if counts[1]:
            raise RuntimeError(f"liquibook rejected {counts[1]} requests on W2")
        return Outcome(dt, counts[0], *self._top(book), cpu)

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        lq, book, _ = self._book()
        so, add = lq.SimpleOrder, book.add
        orders: dict[int, Any] = {}
        for rows in chunks:
            for _s, is_buy, price, qty, oid in rows:
                o = so(is_buy, price, qty)
                orders[oid] = o
                add(o)
        return book, orders


class LimitOrderBookDriver(Driver):
    """``limit-order-book``: a C++ matching book behind ctypes.

    Guard: cancelling an id it does not hold aborts the whole process (an uncaught C++
    exception), so every cancel is preceded by ``has(id)`` (included in the timing: its
    API reports no fills, so a caller cannot know otherwise whether an order is still
    resting). It has no IOC: an IOC limit is sent as a limit at the same price; W2 sizes it
    to fill completely, so nothing rests when the books agree. It reports no fills either:
    the traded quantity comes from an untimed extra pass that reads the opposite side's
    volume before and after each marketable order.
    """

    name = "limit-order-book"
    package = "limit-order-book"
    module = "limit_order_book"
    what = "C++ matching book, ctypes"

    def _book(self) -> Any:
        return importlib.import_module("limit_order_book").LimitOrderBook()

    @staticmethod
    def _top(book: Any) -> tuple[int | None, int | None]:
        bid = int(book.best_buy()) if book.count_buy() else None
        ask = int(book.best_sell()) if book.count_sell() else None
        return bid, ask

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = self._book()
        lb, ls = book.limit_buy, book.limit_sell
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _s, is_buy, price, qty, oid in wl.w1:
            s = clock()
            if is_buy:
                lb(oid, qty, price)
            else:
                ls(oid, qty, price)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, 0, *self._top(book), cpu)

    def _fresh(self, wl: Workloads) -> Any:
        book = self._book()
        for _s, is_buy, price, qty, oid in wl.prefill:
            (book.limit_buy if is_buy else book.limit_sell)(oid, qty, price)
        return book

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = self._fresh(wl)
        lb, ls, mb, ms = book.limit_buy, book.limit_sell, book.market_buy, book.market_sell
        has, cancel = book.has, book.cancel
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for code, _s, is_buy, price, qty, oid in wl.ops:
            s = clock()
            if code == ADD or code == IOC:
                if is_buy:
                    lb(oid, qty, price)
                else:
                    ls(oid, qty, price)
            elif code == CANCEL:
                if has(oid):  # an unknown id would abort the process
                    cancel(oid)
            elif is_buy:
                mb(oid, qty)
            else:
                ms(oid, qty)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, *self._top(book), cpu)

    def traded_check(self, wl: Workloads) -> int | None:
        book = self._fresh(wl)
        traded = 0
        for code, _s, is_buy, price, qty, oid in wl.ops:
            if code == ADD:
                (book.limit_buy if is_buy else book.limit_sell)(oid, qty, price)
            elif code == CANCEL:
                if book.has(oid):
                    book.cancel(oid)
            else:
                vol = book.volume_sell if is_buy else book.volume_buy
                before = vol()
                if code == IOC:
                    (book.limit_buy if is_buy else book.limit_sell)(oid, qty, price)
                else:
                    (book.market_buy if is_buy else book.market_sell)(oid, qty)
                traded += before - vol()
        return traded

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        book = self._book()
        lb, ls = book.limit_buy, book.limit_sell
        for rows in chunks:
            for _s, is_buy, price, qty, oid in rows:
                if is_buy:
                    lb(oid, qty, price)
                else:
                    ls(oid, qty, price)
        return book


class NautilusDriver(Driver):
    """``nautilus-trader``'s ``OrderBook`` (L3, market-by-order): a data book, no matching.

    Fed the W2 stream as market-by-order events derived from hftbook's reports
    (:func:`derive_feeds`): one ``BookOrder`` built and applied per event (add / update /
    delete); a W2 op is one timed call even when it makes several events (a marketable order
    touching 3 makers is 3 events). Prices are integer ticks with precision 0 (no rounding
    of fractional prices; the top is read back with ``round``, never truncated). Its traded
    quantity is hftbook's by construction, so only the final best bid / ask is compared.
    """

    name = "nautilus-trader"
    package = "nautilus_trader"
    module = "nautilus_trader.model.book"
    kind = "book-only"
    what = "Rust/Cython L3 OrderBook (no matching): fed MBO add/update/delete events"
    checks_traded = False

    def _mods(self) -> tuple[Any, Any, Any, Any, Any]:
        book_m = importlib.import_module("nautilus_trader.model.book")
        data = importlib.import_module("nautilus_trader.model.data")
        enums = importlib.import_module("nautilus_trader.model.enums")
        ids = importlib.import_module("nautilus_trader.model.identifiers")
        objs = importlib.import_module("nautilus_trader.model.objects")
        book = book_m.OrderBook(ids.InstrumentId.from_str("W.SIM"), enums.BookType.L3_MBO)
        sides = (enums.OrderSide.SELL, enums.OrderSide.BUY)
        return book, data.BookOrder, objs.Price, objs.Quantity, sides

    @staticmethod
    def _top(book: Any) -> tuple[int | None, int | None]:
        b, a = book.best_bid_price(), book.best_ask_price()
        return (
            None if b is None else round(b.as_double()),
            None if a is None else round(a.as_double()),
        )

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book, bo, px, qt, sides = self._mods()
        add = book.add
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _s, is_buy, price, qty, oid in wl.w1:
            s = clock()
            add(bo(sides[is_buy], px(price, 0), qt(qty, 0), oid), 0)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, *self._top(book), cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        mbo, _ = wl.feeds()
        book, bo, px, qt, sides = self._mods()
        add, update, delete = book.add, book.update, book.delete
        for _s, is_buy, price, qty, oid in wl.prefill:
            add(bo(sides[is_buy], px(price, 0), qt(qty, 0), oid), 0)
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for evs in mbo:
            s = clock()
            for action, is_buy, price, size, oid in evs:
                o = bo(sides[is_buy], px(price, 0), qt(size, 0), oid)
                if action == 0:
                    add(o, 0)
                elif action == 1:
                    update(o, 0)
                else:
                    delete(o, 0)
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, *self._top(book), cpu)

    def build_w1(self, chunks: Iterable[list[Row]]) -> object:
        book, bo, px, qt, sides = self._mods()
        add = book.add
        for rows in chunks:
            for _s, is_buy, price, qty, oid in rows:
                add(bo(sides[is_buy], px(price, 0), qt(qty, 0), oid), 0)
        return book


class OrderBookDriver(Driver):
    """``order-book``: a C book of price levels (no orders, no matching).

    Fed what an L2 feed carries: the new total size of each level an op changes (0 removes
    the level), derived from hftbook's reports (:func:`derive_feeds`); W1's level totals are
    a running sum computed before the timed loop. One W2 op is one timed call even when it
    changes several levels. Its bytes per resting order are not measured (it holds levels).
    """

    name = "order-book"
    package = "order-book"
    module = "order_book"
    kind = "levels"
    what = "C price-level book (no orders, no matching): fed level sizes"
    checks_traded = False
    memory = False

    @staticmethod
    def _top(book: Any) -> tuple[int | None, int | None]:
        b = int(book.bids.index(0)[0]) if len(book.bids) else None
        a = int(book.asks.index(0)[0]) if len(book.asks) else None
        return b, a

    def w1(self, wl: Workloads, lat: list[int]) -> Outcome:
        book = importlib.import_module("order_book").OrderBook()
        totals: dict[tuple[bool, int], int] = {}
        updates: list[LevelUpdate] = []
        for _s, is_buy, price, qty, _oid in wl.w1:
            t = totals[(is_buy, price)] = totals.get((is_buy, price), 0) + qty
            updates.append((is_buy, price, t))
        bids, asks = book.bids, book.asks
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for is_buy, price, size in updates:
            s = clock()
            if is_buy:
                bids[price] = size
            else:
                asks[price] = size
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, *self._top(book), cpu)

    def w2(self, wl: Workloads, lat: list[int]) -> Outcome:
        _, l2 = wl.feeds()
        book = importlib.import_module("order_book").OrderBook()
        bids, asks = book.bids, book.asks
        totals: dict[tuple[bool, int], int] = {}
        for _s, is_buy, price, qty, _oid in wl.prefill:
            totals[(is_buy, price)] = totals.get((is_buy, price), 0) + qty
        for (is_buy, price), size in totals.items():
            (bids if is_buy else asks)[price] = size
        clock = time.perf_counter_ns
        i = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for ups in l2:
            s = clock()
            for is_buy, price, size in ups:
                side = bids if is_buy else asks
                if size:
                    side[price] = size
                else:
                    del side[price]
            lat[i] = clock() - s
            i += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        return Outcome(dt, None, *self._top(book), cpu)


#: The peer drivers by row name (see :data:`hftbook.bench.ROWS` for the table order).
PEER_DRIVERS: dict[str, type[Driver]] = {
    d.name: d
    for d in (
        LiquibookDriver,
        LimitOrderBookDriver,
        NautilusDriver,
        SortedDictDriver,
        OrderBookDriver,
    )
}
