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

The same class runs in **simulation mode** (:class:`hftbook.Simulation`): no thread, the
simulator calls it between steps of the simulated market, its timers run on simulated time
and its orders reach the book after the simulated order-entry latency. See
``docs/strategies.md`` for what differs between the modes.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hftbook.engine import Engine, Event

__all__ = ["Strategy"]

_log = logging.getLogger("hftbook.strategy")
_perf_ns = time.perf_counter_ns

_PRIVATE = ("accepted", "rejected", "fill", "cancelled", "modified", "triggered", "expired")
_PUBLIC = ("trade", "book", "status")


def _codes() -> tuple[list[int], int, int, int]:
    from hftbook._core import EVENT_KINDS

    kinds = list(EVENT_KINDS)
    return (
        [kinds.index(k) for k in _PRIVATE],
        kinds.index("trade"),
        kinds.index("book"),
        kinds.index("engine"),
    )


_PRIVATE_CODES, _TRADE_CODE, _BOOK_CODE, _ENGINE_CODE = _codes()
_FILL_CODE = _PRIVATE_CODES[_PRIVATE.index("fill")]
#: The private kinds are the first codes: ``kind < _N_PRIVATE`` tests for one.
_N_PRIVATE = len(_PRIVATE_CODES)
assert sorted(_PRIVATE_CODES) == list(range(_N_PRIVATE)), "private event kinds come first"


def select_rows(arr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``arr[mask]`` for a structured array, copied as raw records.

    Boolean indexing of a structured dtype copies field by field, about 10 times slower
    than copying the records whole through an unstructured view of the same bytes.
    """
    if arr.flags.c_contiguous and arr.dtype.fields is not None:
        raw = np.dtype((np.void, arr.dtype.itemsize))
        out: np.ndarray = arr.view(raw)[mask].view(arr.dtype)
        return out
    got: np.ndarray = arr[mask]
    return got


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
    _lock: threading.Lock
    # Reaction times (ns): the hot path appends to _reactions_new; _merge_reactions moves
    # them into the bounded history (and to a feed server's tap) in batches.
    _reactions_new: list[int]
    _reaction_tap: list[int] | None

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

        A market order when ``price`` is None (and no ``price_ticks=`` option), else a
        limit order. ``options`` are :meth:`hftbook.Engine.submit`'s: ``price_ticks=`` gives
        the limit price in ticks (an int: no Decimal to build or parse on the hot path).
        """
        if price is None and "price_ticks" not in options:
            options.setdefault("order_type", "market")
        if options:
            oid = self.engine.submit(symbol, "buy", price, qty, account=self.account, **options)
        else:
            oid = self.engine.submit(symbol, "buy", price, qty, account=self.account)
        ts = self._batch_ts
        if ts:
            if self._sim:
                self._reactions_new.append(_perf_ns() - ts)  # see _acted
            else:
                self._acted()
        return oid

    def sell(self, symbol: str, qty: int, price: Any = None, **options: Any) -> int:
        """Submit a sell (see :meth:`buy`)."""
        if price is None and "price_ticks" not in options:
            options.setdefault("order_type", "market")
        if options:
            oid = self.engine.submit(symbol, "sell", price, qty, account=self.account, **options)
        else:
            oid = self.engine.submit(symbol, "sell", price, qty, account=self.account)
        ts = self._batch_ts
        if ts:
            if self._sim:
                self._reactions_new.append(_perf_ns() - ts)  # see _acted
            else:
                self._acted()
        return oid

    def cancel(self, order_id: int) -> None:
        """Cancel one of the strategy's orders."""
        self.engine.cancel(order_id, account=self.account)
        ts = self._batch_ts
        if ts:
            if self._sim:
                self._reactions_new.append(_perf_ns() - ts)  # see _acted
            else:
                self._acted()

    def modify(
        self,
        order_id: int,
        *,
        price: Any = None,
        qty: int | None = None,
        price_ticks: int | None = None,
    ) -> None:
        """Modify one of the strategy's orders (new price and/or open quantity).

        ``price_ticks`` gives the new price in ticks instead of ``price``.
        """
        self.engine.modify(
            order_id, price=price, qty=qty, price_ticks=price_ticks, account=self.account
        )
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

    def now(self) -> int:
        """The engine's clock, ns (simulated time in simulation mode)."""
        return int(self.engine.now())

    def set_timer(self, name: str, interval: float, repeat: bool = True) -> None:
        """Call :meth:`on_timer` with ``name`` after ``interval`` seconds.

        And every ``interval`` after that while ``repeat``. Setting a name again replaces it.
        Seconds of the wall clock live, of simulated time in simulation mode.
        """
        if not interval > 0:
            from hftbook.exceptions import HftbookError

            raise HftbookError(
                f"interval = {interval}: a timer needs a positive interval in seconds",
                "interval",
                interval,
            )
        every = max(1, round(interval * 1e9))
        self._timers[name] = (self._now_ns() + every, every if repeat else 0)

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
            self._merge_reactions()
            r = np.array(list(self._reactions), dtype=np.float64)
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

    def _merge_reactions(self) -> None:
        """Move the reactions measured since the last merge into the history (and the tap).

        Live: the caller holds ``_lock``; simulation: the driver's thread calls it.
        """
        new = self._reactions_new
        if not new:
            return
        self._reactions_new = []
        self._reactions.extend(new)
        tap = self._reaction_tap
        if tap is not None:
            tap.extend(new)
            if len(tap) > 100_000:
                del tap[: len(tap) - 100_000]

    def _take_reactions(self) -> list[int]:
        """The reactions (ns) measured since the last call, for a feed server.

        The first call starts the tap.
        """
        with self._lock:
            self._merge_reactions()
            tap = self._reaction_tap
            self._reaction_tap = []
        return tap or []

    def _attach(self, engine: Engine, account: int, symbols: Iterable[str] | None) -> None:
        self.engine = engine
        self.account = account
        self.symbols = tuple(engine.symbols if symbols is None else symbols)
        if not getattr(self, "name", None):
            self.name = type(self).__name__
        self._timers: dict[str, tuple[int, int]] = {}
        self._reactions: deque[int] = deque(maxlen=100_000)
        self._reactions_new = []
        self._reaction_tap = None
        self._callback_ns: list[int] = []
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._stopping = threading.Event()
        self._batch_ts = 0
        self._sym_idx = {engine.symbols.index(s) for s in self.symbols}
        # ``_sym_lut[symbol]``: whether the strategy receives that symbol (last entry False:
        # indexes past it are clipped to it).
        self._sym_lut = np.zeros(max(self._sym_idx, default=-1) + 2, dtype=bool)
        self._sym_lut[sorted(self._sym_idx)] = True
        self._want_lut: np.ndarray | None = None
        self._want_any = False
        self._sim = bool(engine.is_simulation)
        self._started = False
        self.running = True
        if self._sim:
            # Simulation mode: the simulator calls the strategy; no thread, no subscription.
            return
        self._core = engine._subscribe(0, sorted(self._sym_idx), [0, account], 65536, False)
        self._thread = threading.Thread(
            target=self._run, name=f"hftbook-strategy-{self.name}", daemon=True
        )
        self._thread.start()

    def _now_ns(self) -> int:
        return int(self.engine.now()) if self._sim else time.monotonic_ns()

    def _acted(self) -> None:
        if self._batch_ts:
            # Live: engine time from the shard processing the batch; simulation: wall time
            # from the batch reaching the strategy (the simulated latency is a constant).
            if self._sim:
                # One thread calls the strategy and nothing else appends: no lock.
                self._reactions_new.append(time.perf_counter_ns() - self._batch_ts)
                return
            r = self.engine.now() - self._batch_ts
            with self._lock:
                self._reactions_new.append(r)

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

    def _dispatch(self, arr: np.ndarray, own_only: bool = False) -> bool:
        """Deliver ``arr``; ``own_only``: its private events are all this strategy's."""
        kinds = arr["kind"]
        # Never another account's private events (account 0's orders included).
        keep = None if own_only else (kinds >= _N_PRIVATE) | (arr["account"] == self.account)
        if self._sim:
            # No subscription filters for us: keep our symbols (and engine-wide events).
            syms = arr["symbol"]
            nsym = len(self.engine.symbols)
            # Fast path: the strategy receives every symbol (the batch has no other: it was
            # made before `nsym` was read, and symbols are only ever added).
            if len(self._sym_idx) != nsym:
                lut = self._sym_lut
                ours = lut[np.minimum(syms, len(lut) - 1)] | (kinds == _ENGINE_CODE)
                keep = ours if keep is None else keep & ours
        if keep is not None and not keep.all():
            arr = select_rows(arr, keep)
            if not len(arr):
                return True
            kinds = arr["kind"]
        self._batch_ts = time.perf_counter_ns() if self._sim else int(arr["ts_processed"].max())
        cls = type(self)
        if cls.on_events is not Strategy.on_events and not self._call(self.on_events, arr):
            return False
        names = self.engine.symbols
        if cls.on_book is not Strategy.on_book:
            moved = arr["symbol"][(kinds == _TRADE_CODE) | (kinds == _BOOK_CODE)]
            for s in np.unique(moved).tolist():
                if s in self._sym_idx and not self._call(
                    self.on_book, names[s], self.engine.book(s)
                ):
                    return False
        # Event objects only for the callbacks this strategy has.
        want = self._want_lut
        if want is None:
            want = np.zeros(256, dtype=bool)
            if cls.on_trade is not Strategy.on_trade:
                want[_TRADE_CODE] = True
            if cls.on_fill is not Strategy.on_fill:
                want[_FILL_CODE] = True
            if cls.on_order_event is not Strategy.on_order_event:
                want[[c for c in _PRIVATE_CODES if c != _FILL_CODE]] = True
            self._want_lut = want
            self._want_any = bool(want.any())
        if not self._want_any:
            return True
        wanted = want[kinds]
        if not wanted.any():
            return True
        for ev in self.engine.to_events(select_rows(arr, wanted)):
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
        now = self._now_ns()
        for name, (at, every) in sorted(self._timers.items(), key=lambda kv: (kv[1][0], kv[0])):
            if at <= now and name in self._timers:
                if every > 0:
                    # Simulation: the next at the timer's own grid; live: from now.
                    nxt = at + every if self._sim else now + every
                    self._timers[name] = (max(nxt, at + 1), every)
                else:
                    self._timers.pop(name, None)
                self._batch_ts = 0
                if not self._call(self.on_timer, name):
                    return False
        return True

    def _next_timer_ns(self) -> int | None:
        return min((at for at, _ in self._timers.values()), default=None)

    def _next_wait(self) -> float:
        soonest = self._next_timer_ns()
        if soonest is None:
            return 0.05
        return max(0.0, min(0.05, (soonest - time.monotonic_ns()) / 1e9))

    def _run(self) -> None:
        ok = self._call(self.on_start)
        while ok and not self._stopping.is_set():
            arr = self._core.pop(65536, self._next_wait())
            if len(arr):
                ok = self._dispatch(arr)
                if len(self._reactions_new) > 65_536:
                    with self._lock:
                        self._merge_reactions()
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
        if self._sim:
            self._sim_stop()
            return
        self._thread.join(timeout)

    # -- simulation mode (called by hftbook.Simulation) ---------------------------------------

    def _sim_start(self) -> None:
        if not self._started:
            self._started = True
            if not self._call(self.on_start):
                self._sim_stop()

    def _sim_events(self, arr: np.ndarray, own_only: bool = False) -> None:
        if not self.running:
            return
        if self._stopping.is_set():
            self._sim_stop()
            return
        t0 = time.perf_counter_ns()
        ok = self._dispatch(arr, own_only)
        self._callback_ns.append(time.perf_counter_ns() - t0)
        if len(self._reactions_new) > 65_536:
            self._merge_reactions()
        if not ok:
            self._sim_stop()

    def _sim_timers(self) -> None:
        if self.running and not self._fire_timers():
            self._sim_stop()

    def _sim_stop(self) -> None:
        if not self.running:
            return
        self._timers.clear()
        self._call(self.on_stop)
        self.running = False

    def callback_stats(self) -> dict[str, float]:
        """Wall time the strategy's callbacks took per batch, µs (simulation mode).

        ``count``, ``total_s``, ``p50``, ``p90``, ``p99``, ``max``.
        """
        r = np.array(getattr(self, "_callback_ns", ()), dtype=np.float64)
        if not len(r):
            return {"count": 0, "total_s": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
        p50, p90, p99 = np.percentile(r, [50, 90, 99]) / 1e3
        return {
            "count": len(r),
            "total_s": float(r.sum() / 1e9),
            "p50": float(p50),
            "p90": float(p90),
            "p99": float(p99),
            "max": float(r.max() / 1e3),
        }
