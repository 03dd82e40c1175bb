"""Python strategies trading in-process against the engine (live mode).

Subclass :class:`Strategy`, override the callbacks you need, and attach it to a running
engine with :meth:`hftbook.Engine.add_strategy`. Each strategy runs on its own dispatcher
thread, on its own account: it receives the public market data of its symbols (trades,
book changes, status) and its own account's order events, never another account's.

>>> import hftbook as hb
>>> class Buyer(hb.Strategy):
...     def on_start(self):
...         self.buy("AAPL", 5, price="100.00")
...     def on_fill(self, fill):
...         self.filled = getattr(self, "filled", 0) + fill.qty
>>> with hb.Engine(symbols={"AAPL": {}}) as e:
...     s = e.add_strategy(Buyer(), account=7)
...     _ = e.submit("AAPL", "sell", price="100.00", qty=5)
...     s.wait(lambda st: getattr(st, "filled", 0) == 5)
>>> s.filled, e.pnl(7)["AAPL"]["net"]
(5, Decimal('5'))

Callbacks run one at a time per strategy. An exception in one is logged with the strategy's
name and traceback and stops that strategy (its open orders cancelled); the engine and the
other strategies go on. A strategy's reaction time (the shard processing the events of a
batch → the strategy's orders from that batch queued, engine clock) is recorded:
:meth:`Strategy.reaction_stats`.

What this module does not do yet: the simulation mode (simulated clock, deterministic
interleaving of background flow and strategies, a latency model) of issue 13; here the
engine runs live, on the wall clock, with any other producers.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hftbook.engine import Engine, Event

__all__ = ["Strategy"]

_log = logging.getLogger("hftbook.strategy")

_PRIVATE = ("accepted", "rejected", "fill", "cancelled", "modified", "triggered", "expired")
_PUBLIC = ("trade", "book", "status")


class Strategy:
    """Base class of a strategy. Override the callbacks; call the actions.

    Attributes (set when attached): ``engine``, ``account``, ``symbols`` (the symbols it
    receives market data for), ``name`` (default: the class name), ``running``,
    ``error`` (the exception that stopped it, if one did).
    """

    engine: Engine
    account: int
    symbols: tuple[str, ...]
    name: str
    running: bool = False
    error: BaseException | None = None

    # -- callbacks (override) ----------------------------------------------------------------

    def on_start(self) -> None:
        """Called once, on the strategy's thread, before any event."""

    def on_events(self, batch: np.ndarray) -> None:
        """Every batch as the raw numpy array (``EVENT_DTYPE``), before the callbacks below."""

    def on_book(self, symbol: str, book: Any) -> None:
        """A symbol's book changed (a trade or a level) in the batch.

        ``book`` is its lock-free :class:`hftbook.BookReader` (``top()``, ``depth(n)``).
        """

    def on_trade(self, trade: Event) -> None:
        """A public trade print of one of the strategy's symbols."""

    def on_fill(self, fill: Event) -> None:
        """A fill of one of the strategy's own orders."""

    def on_order_event(self, event: Event) -> None:
        """Any other event of the strategy's own orders.

        Accepted, rejected, cancelled, modified, triggered, expired.
        """

    def on_timer(self, name: str) -> None:
        """A timer set with :meth:`set_timer` fired."""

    def on_stop(self) -> None:
        """Called once when the strategy stops (engine stop, :meth:`stop`, or an error)."""

    # -- actions ---------------------------------------------------------------------------

    def buy(self, symbol: str, qty: int, price: Any = None, **options: Any) -> int:
        """Submit a buy on the strategy's account; returns the order id.

        A market order when ``price`` is None, else a limit order. ``options`` are
        :meth:`hftbook.Engine.submit`'s.
        """
        return self._submit(symbol, "buy", qty, price, options)

    def sell(self, symbol: str, qty: int, price: Any = None, **options: Any) -> int:
        """Submit a sell (see :meth:`buy`)."""
        return self._submit(symbol, "sell", qty, price, options)

    def cancel(self, order_id: int) -> None:
        """Cancel one of the strategy's orders."""
        self.engine.cancel(order_id, account=self.account)
        self._acted()

    def modify(self, order_id: int, *, price: Any = None, qty: int | None = None) -> None:
        """Modify one of the strategy's orders (new price and/or open quantity)."""
        self.engine.modify(order_id, price=price, qty=qty, account=self.account)
        self._acted()

    def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel every open order of the strategy (of ``symbol`` only, if given)."""
        self.engine.mass_cancel(account=self.account, symbol=symbol)
        self._acted()

    def position(self, symbol: str) -> dict[str, Any]:
        """The strategy's position and PnL in ``symbol`` (see :meth:`hftbook.Engine.pnl`).

        A flat, empty one before its first fill there.
        """
        got = self.engine.pnl(self.account).get(symbol)
        if got is None:
            zero = Decimal(0)
            return {
                "net": zero,
                "avg_price": None,
                "realized": zero,
                "unrealized": zero,
                "fees": zero,
                "total": zero,
                "bought": 0,
                "sold": 0,
                "trades": 0,
            }
        return dict(got)

    def pnl(self) -> dict[str, Any]:
        """The strategy's PnL per symbol and in total (:meth:`hftbook.Engine.pnl`)."""
        return self.engine.pnl(self.account)

    def set_timer(self, name: str, interval: float, repeat: bool = True) -> None:
        """Call :meth:`on_timer` with ``name`` after ``interval`` seconds.

        And every ``interval`` after that while ``repeat``. Setting a name again replaces it.
        """
        if not interval > 0:
            from hftbook.exceptions import HftbookError

            raise HftbookError(
                f"interval = {interval}: a timer needs a positive interval in seconds",
                "interval",
                interval,
            )
        self._timers[name] = (time.monotonic() + interval, interval if repeat else 0.0)

    def cancel_timer(self, name: str) -> None:
        """Forget a timer."""
        self._timers.pop(name, None)

    def stop(self) -> None:
        """Stop the strategy: no more callbacks after :meth:`on_stop`; open orders stay."""
        self._stopping.set()

    # -- introspection -----------------------------------------------------------------------

    def reaction_stats(self) -> dict[str, float]:
        """Reaction time of the strategy, µs (``count``, ``p50``, ``p90``, ``p99``, ``max``).

        From the shard processing the events of a batch to each order the strategy queued
        while handling it; the last 100,000 orders.
        """
        with self._lock:
            r = np.array(self._reactions, dtype=np.float64)
        if not len(r):
            return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
        p50, p90, p99 = np.percentile(r, [50, 90, 99]) / 1e3
        return {
            "count": len(r),
            "p50": float(p50),
            "p90": float(p90),
            "p99": float(p99),
            "max": float(r.max() / 1e3),
        }

    def wait(self, cond: Callable[[Strategy], bool], timeout: float = 20.0) -> None:
        """Block until ``cond(self)`` holds (checked after every batch).

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        end = time.monotonic() + timeout
        with self._cv:
            while not cond(self):
                if self.error is not None:
                    raise RuntimeError(f"strategy {self.name} stopped: {self.error!r}")
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"strategy {self.name}: condition not met in {timeout} s")
                self._cv.wait(min(left, 0.05))

    # -- machinery ---------------------------------------------------------------------------

    def _attach(self, engine: Engine, account: int, symbols: Iterable[str] | None) -> None:
        self.engine = engine
        self.account = account
        self.symbols = tuple(engine.symbols if symbols is None else symbols)
        if not getattr(self, "name", None):
            self.name = type(self).__name__
        self._timers: dict[str, tuple[float, float]] = {}
        self._reactions: list[int] = []
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._stopping = threading.Event()
        self._batch_ts = 0
        self._sym_idx = {engine.symbols.index(s) for s in self.symbols}
        self._core = engine._subscribe(0, sorted(self._sym_idx), [0, account], 65536, False)
        self.running = True
        self._thread = threading.Thread(
            target=self._run, name=f"hftbook-strategy-{self.name}", daemon=True
        )
        self._thread.start()

    def _submit(self, symbol: str, side: str, qty: int, price: Any, options: dict[str, Any]) -> int:
        if price is None:
            options.setdefault("order_type", "market")
        oid = int(self.engine.submit(symbol, side, price, qty, account=self.account, **options))
        self._acted()
        return oid

    def _acted(self) -> None:
        if self._batch_ts:
            r = self.engine.now() - self._batch_ts
            with self._lock:
                self._reactions.append(r)
                if len(self._reactions) > 100_000:
                    del self._reactions[:50_000]

    def _call(self, fn: Callable[..., object], *args: Any) -> bool:
        try:
            fn(*args)
            return True
        except BaseException as e:  # contained: the strategy stops, nothing else does
            self.error = e
            _log.error(
                "strategy %s (account %d) raised in %s and was stopped:\n%s",
                self.name,
                self.account,
                getattr(fn, "__name__", "callback"),
                "".join(traceback.format_exception(e)),
            )
            try:
                self.engine.mass_cancel(account=self.account)
            except Exception:
                _log.exception("strategy %s: cancelling its orders failed", self.name)
            return False

    def _dispatch(self, arr: np.ndarray) -> bool:
        from hftbook.engine import EVENT_KINDS

        kinds = arr["kind"]
        private = np.isin(kinds, [EVENT_KINDS.index(k) for k in _PRIVATE])
        # Never another account's private events (account 0's orders included).
        arr = arr[~private | (arr["account"] == self.account)]
        if not len(arr):
            return True
        self._batch_ts = int(arr["ts_processed"].max())
        if type(self).on_events is not Strategy.on_events and not self._call(self.on_events, arr):
            return False
        names = self.engine.symbols
        kinds = arr["kind"]
        trade, book = EVENT_KINDS.index("trade"), EVENT_KINDS.index("book")
        touched = sorted({int(s) for s in arr["symbol"][(kinds == trade) | (kinds == book)]})
        for s in touched:
            if s in self._sym_idx and not self._call(self.on_book, names[s], self.engine.book(s)):
                return False
        for ev in self.engine.to_events(arr):
            if ev.kind == "trade":
                ok = self._call(self.on_trade, ev)
            elif ev.kind == "fill":
                ok = self._call(self.on_fill, ev)
            elif ev.kind in _PRIVATE:
                ok = self._call(self.on_order_event, ev)
            else:
                ok = True
            if not ok:
                return False
        return True

    def _fire_timers(self) -> bool:
        now = time.monotonic()
        for name, (at, every) in list(self._timers.items()):
            if at <= now:
                if every > 0:
                    self._timers[name] = (now + every, every)
                else:
                    self._timers.pop(name, None)
                self._batch_ts = 0
                if not self._call(self.on_timer, name):
                    return False
        return True

    def _next_wait(self) -> float:
        if not self._timers:
            return 0.05
        soonest = min(at for at, _ in self._timers.values())
        return max(0.0, min(0.05, soonest - time.monotonic()))

    def _run(self) -> None:
        ok = self._call(self.on_start)
        while ok and not self._stopping.is_set():
            arr = self._core.pop(65536, self._next_wait())
            if len(arr):
                ok = self._dispatch(arr)
            if ok:
                ok = self._fire_timers()
            with self._cv:
                self._cv.notify_all()
        if ok:
            # Deliver what is left, then stop.
            arr = self._core.pop(65536, 0.0)
            if len(arr):
                self._dispatch(arr)
        self._call(self.on_stop)
        self._core.close()
        self.running = False
        with self._cv:
            self._cv.notify_all()

    def _join(self, timeout: float) -> None:
        self._stopping.set()
        self._thread.join(timeout)
