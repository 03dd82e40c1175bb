"""Simulation mode: strategies trading against a simulated market, reproducibly.

A :class:`Simulation` is an :class:`hftbook.Engine` in simulation mode (the same shards,
matching, risk checks and positions, driven on this thread in simulated time, no shard
threads) plus per-symbol background order flow calibrated to real NASDAQ books, and the
strategies attached to it. The simulated market and the strategies take turns:

1. the engine processes the market up to the end of the next window of ``batch_ns``
   simulated nanoseconds in which something happened (background orders, the strategies'
   earlier orders arriving, timers);
2. the window's events reach every strategy ``market_data_latency_ns`` after the window's
   end (its :meth:`~hftbook.Strategy.on_events`, ``on_book``, ``on_trade``, ``on_fill``,
   ``on_order_event`` callbacks run then, at that simulated time);
3. what the strategies send is stamped with that time and reaches the book
   ``order_entry_latency_ns`` later, in the order they sent it;
4. timers fire at their simulated times.

Everything is ordered by simulated time and then by the order things were queued in, so
the same seed, configuration and strategies give the same fills, positions, PnL and event
stream on any machine at any speed.

>>> import hftbook as hb
>>> class Bid(hb.Strategy):
...     def on_start(self):
...         self.buy("AAPL", 100, price="99.00")
...     def on_fill(self, fill):
...         self.filled = getattr(self, "filled", 0) + fill.qty
>>> sim = hb.Simulation(symbols={"AAPL": {"reference_price": "100.00"}}, seed=1)
>>> s = sim.add_strategy(Bid(), account=7)
>>> stats = sim.run(seconds=0.05)
>>> stats["background_orders"] > 0, stats["simulated_s"] >= 0.05
(True, True)
>>> sim.stop()["clean"]
True
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hftbook.engine import Engine
from hftbook.exceptions import HftbookError

if TYPE_CHECKING:
    from hftbook.strategy import Strategy

__all__ = ["Simulation"]


class Simulation:
    """A simulated market on an engine in simulation mode, with strategies.

    Args:
        config: engine configuration (a TOML file, or a mapping) as for
            :class:`hftbook.Engine`; its ``[simulation]`` table, if any, supplies the
            defaults of the simulation settings below.
        symbols: symbols to trade (``{"AAPL": {"reference_price": "150.00"}, ...}``).
        seed: seed of every random draw of the background flow.
        order_entry_latency_ns: a strategy's order reaches the book this long after it
            was sent (simulated ns).
        market_data_latency_ns: a strategy sees what happened this long after it did.
        rate_per_s: background messages per simulated second, per symbol.
        volatility: annualised volatility of each symbol's fundamental price.
        background: background flow on (per symbol: ``flow={"AAPL": {"background": False}}``).
        flow: per-symbol overrides of ``rate_per_s``, ``volatility``, ``background``,
            ``start_ticks``.
        batch_ns: width of the windows strategies receive events in (simulated ns).
        journal_dir: journal every command the simulation sequences (the background flow's
            included) into this fresh directory; ``hb.replay_journal(dir)`` and
            ``hb.Engine.recover(dir)`` then reach the simulation's :meth:`state_hash`.
        fsync: the journal's sync policy (``"never"`` by default: a simulation can be run
            again; events are never held for durability in simulation mode).
        **options: engine options (``shards=``, ``book_events=``, ...).
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        symbols: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int | None = None,
        order_entry_latency_ns: int | None = None,
        market_data_latency_ns: int | None = None,
        rate_per_s: float | None = None,
        volatility: float | None = None,
        background: bool | None = None,
        flow: Mapping[str, Mapping[str, Any]] | None = None,
        batch_ns: int = 100_000,
        journal_dir: str | os.PathLike[str] | None = None,
        fsync: str = "never",
        **options: Any,
    ) -> None:
        given = {
            "seed": seed,
            "order_entry_latency_ns": order_entry_latency_ns,
            "market_data_latency_ns": market_data_latency_ns,
            "rate_per_s": rate_per_s,
            "volatility": volatility,
            "background": background,
        }
        sim: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if flow:
            sim["symbols"] = {k: dict(v) for k, v in flow.items()}
        if not isinstance(batch_ns, int) or batch_ns <= 0:
            raise HftbookError(
                f"batch_ns = {batch_ns!r}: a positive number of nanoseconds", "batch_ns", batch_ns
            )
        options.setdefault("book_events", True)
        self.engine: Engine = Engine(
            config,
            symbols=symbols,
            simulation=sim,
            journal_dir=journal_dir,
            fsync=fsync,
            **options,
        )
        self.batch_ns = batch_ns
        lat = self.engine._sim_latency
        assert lat is not None  # an engine built with simulation= is in simulation mode
        entry, md = lat
        self.order_entry_latency_ns: int = int(entry)
        self.market_data_latency_ns: int = int(md)
        self._wall_s = 0.0
        self._batches = 0
        self._delivered = 0

    # -- setup -------------------------------------------------------------------------------

    def add_strategy(
        self, strategy: Strategy, account: int, symbols: Iterable[str] | None = None
    ) -> Strategy:
        """Attach ``strategy`` on ``account`` (see :meth:`hftbook.Engine.add_strategy`)."""
        return self.engine.add_strategy(strategy, account, symbols)

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies attached."""
        return self.engine.strategies

    # -- running -----------------------------------------------------------------------------

    def run(
        self,
        seconds: float | None = None,
        *,
        until_ns: int | None = None,
        wall_seconds: float | None = None,
        max_orders: int | None = None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        progress_every_s: float = 0.25,
        on_batch: Callable[[np.ndarray], None] | None = None,
        every_account: bool = True,
    ) -> dict[str, Any]:
        """Run the simulated market for ``seconds`` of simulated time (or to ``until_ns``).

        Stops earlier after ``wall_seconds`` of wall time or ``max_orders`` background
        orders (both only decide *when* to stop, at a window boundary: the run is a prefix
        of the full one). Can be called again to continue. Returns :meth:`stats`.

        ``on_batch``, if given, is called with each window's events (numpy
        :data:`hftbook.EVENT_DTYPE`, every account's, private events included) before the
        strategies see them: for recording and counting, not for trading. Without it, or
        with ``every_account=False``, the windows carry only the public events and the
        strategies' own private events (the background flow's accepted / cancelled / fill
        events, about half of all, are never turned into rows; they are still hashed and
        journaled), and ``events_delivered`` counts those rows.
        """
        e = self.engine
        if e.state == "created":
            e.start()
        now = int(e.now())
        if until_ns is None:
            if seconds is None:
                raise HftbookError("give seconds= or until_ns=", "seconds", None)
            if not seconds > 0:
                raise HftbookError(f"seconds = {seconds}: must be positive", "seconds", seconds)
            until_ns = now + round(seconds * 1e9)
        md = self.market_data_latency_ns
        strategies = self.engine.strategies
        for s in strategies:
            e._sim_set_time(now)
            s._sim_start()
        wall0 = time.perf_counter()
        next_progress = wall0 + progress_every_s
        # Feed servers on this engine get the strategies' reaction times from this thread
        # (the one that runs the strategies), every 0.25 s.
        feeds = [f for f in getattr(e, "_feeds", ()) if f.running]
        next_push = wall0 + 0.25
        # Strategies never see another account's private events: unless on_batch wants
        # every row, those are dropped in Rust before any row is built.
        every = on_batch is not None and every_account
        accounts = None if every else sorted({s.account for s in strategies})
        # With one account's private events in the windows, they are all that strategy's.
        own_only = accounts is not None and len(accounts) == 1
        t = now
        sim_run, set_time, batch_ns = e._sim_run, e._sim_set_time, self.batch_ns
        perf = time.perf_counter
        while t < until_ns:
            limit = until_ns
            for s in strategies:
                if s._timers and s.running:
                    nt = s._next_timer_ns()
                    if nt is not None:
                        # A timer at T sees what happened up to T - md.
                        limit = min(limit, max(nt - md, t + 1))
            t, arr = sim_run(limit, batch_ns, accounts)
            n = len(arr)
            if n:
                self._batches += 1
                self._delivered += n
                if on_batch is not None:
                    on_batch(arr)
                set_time(t + md)
                for s in strategies:
                    s._sim_events(arr, own_only)
            for s in strategies:
                if s._timers and s.running:
                    nt = s._next_timer_ns()
                    if nt is not None and nt <= t + md:
                        set_time(nt)
                        s._sim_timers()
            wall = perf()
            if wall_seconds is not None and wall - wall0 >= wall_seconds:
                break
            if max_orders is not None and self.counters()["background_orders"] >= max_orders:
                break
            if on_progress is not None and wall >= next_progress:
                next_progress = wall + progress_every_s
                on_progress(self.stats())
            if feeds and wall >= next_push:
                next_push = wall + 0.25
                for f in feeds:
                    f.push_reactions()
        for f in feeds:
            f.push_reactions()
        self._wall_s += time.perf_counter() - wall0
        return self.stats()

    def stop(self, drain: bool = True) -> dict[str, Any]:
        """Stop the strategies (``on_stop``) and the engine; see :meth:`hftbook.Engine.stop`."""
        return self.engine.stop(drain)

    # -- results -----------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """The simulator's counters (background orders and cancels, API commands, events)."""
        c = self.engine._sim_counters()
        return dict(c) if c is not None else {}

    def stats(self) -> dict[str, Any]:
        """Counters, simulated and wall time, throughput and per-strategy callback time."""
        c = self.counters()
        wall = self._wall_s
        out: dict[str, Any] = dict(c)
        out["simulated_s"] = c.get("now", 0) / 1e9
        out["wall_s"] = wall
        out["batches"] = self._batches
        out["events_delivered"] = self._delivered
        out["background_orders_per_s"] = c.get("background_orders", 0) / wall if wall else 0.0
        out["events_per_s"] = c.get("events", 0) / wall if wall else 0.0
        out["strategies"] = {
            s.name: {
                "account": s.account,
                "running": s.running,
                "error": repr(s.error) if s.error is not None else None,
                "callbacks": s.callback_stats(),
                "reaction_us": s.reaction_stats(),
            }
            for s in self.engine.strategies
        }
        return out

    def event_hash(self) -> str:
        """Hash of every event the simulated engine emitted so far (32 hex digits)."""
        return str(self.engine.event_hash())

    def state_hash(self) -> str:
        """Hash of the books and the engine's state now (32 hex digits)."""
        return str(self.engine.state_hash())

    def __repr__(self) -> str:
        c = self.counters()
        return (
            f"Simulation(symbols={list(self.engine.symbols)}, t={c.get('now', 0) / 1e9:.6f} s, "
            f"background_orders={c.get('background_orders', 0)}, "
            f"strategies={[s.name for s in self.engine.strategies]})"
        )
