"""Seeded synthetic order flow through one or more books, with per-call latency measurement.

The flow is a merged Poisson stream of events over ``len(symbols)`` books. Each book has its
own mid price, a geometric Brownian motion in simulated time, and every event is one of:

* **add** -- a GTC limit order on a random side, ``d`` ticks behind the fair touch where
  ``d`` is power-law (Lomax) distributed; when the book lags the mid it may cross and trade;
* **cancel** -- of a live order of that book, chosen uniformly;
* **modify** -- of a live order: a size decrease (keeps priority) or a move of 1-2 ticks;
* **match** -- a marketable order (an IOC limit or a market order) sized to sweep 1-3 levels
  of the opposite side.

Every random number is drawn in vectorised numpy chunks before the chunk is replayed, and the
books run on a manual clock set to simulated time, so for a given seed the flow, the trades and
the final books are identical run to run; wall-clock only decides *when* a time-limited run
stops. Each API call is timed on its own with :func:`time.perf_counter_ns`.

    >>> from hftbook.simulate import SimulationConfig, run_simulation
    >>> cfg = SimulationConfig(symbols=("AAPL", "MSFT"), max_ops=5_000, seed=7)
    >>> a = run_simulation(cfg, progress=False)
    >>> b = run_simulation(cfg, progress=False)
    >>> a.ops, a.trades == b.trades, a.volume == b.volume, a.digest == b.digest
    (5000, True, True, True)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

import hftbook as hb
from hftbook.profiling import CpuMeter, CpuUsage, LatencyReport, memory_stats, reset_peak_memory

__all__ = [
    "KIND_NAMES",
    "BookSummary",
    "LatencyStats",
    "SimulationConfig",
    "SimulationResult",
    "print_summary",
    "run_simulation",
    "summary_tables",
    "write_reports",
]

#: Operation kinds, in the order of :attr:`SimulationConfig.mix` and of the latency arrays.
KIND_NAMES: tuple[str, ...] = ("add", "cancel", "modify", "match")
_ADD, _CANCEL, _MODIFY, _MATCH = range(4)

#: Seconds in a trading year (252 days of 6.5 hours): the unit of the annualised volatility.
TRADING_YEAR_S = 252 * 6.5 * 3600.0

#: Events generated per chunk. Fixed (never derived from the run length), so a time-limited
#: run replays a prefix of exactly the flow a ``max_ops`` run with the same seed replays.
CHUNK_EVENTS = 1 << 15

_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}")
_MAX_BOOKS = 64
_CHECK_EVERY = 1024  # events between wall-clock checks (stop condition, progress refresh)
_STPS = ("none", "cancel_newest", "cancel_oldest", "cancel_both")


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Invalid values raise ``ValueError`` with a one-line message.

    Attributes:
        symbols: one book per symbol; the flow is spread uniformly over them.
        seconds: wall-clock run time; ignored when ``max_ops`` is set.
        max_ops: stop after exactly this many operations (a deterministic run).
        seed: seed of the flow (numpy ``default_rng``).
        tick_size: tick size of every book (exact decimal string).
        lot_size: units per lot; sizes are drawn in lots.
        start_price: mid price of the first book; book ``i`` starts at
            ``start_price * (1 + i / 2)``.
        volatility: annualised volatility of each mid (GBM in simulated time).
        arrival_rate: events per simulated second per book (Poisson).
        mix: probabilities of add, cancel, modify and match events (sum 1). With the default
            the books settle at a few thousand orders over a few hundred levels: cancels pick
            a live order uniformly, so a much higher cancel share empties the books.
        sweep_levels: probabilities that a match event sweeps 1, 2 or 3 levels (sum 1).
        market_fraction: share of match events sent as market orders (the rest: IOC limits
            priced at the last level they are meant to reach).
        reprice_fraction: share of modifies that move the price (the rest shrink the size).
        distance_alpha: tail index of the add distance ``d`` from the fair touch, in ticks:
            ``P(d >= k) ~ (1 + k) ** -alpha`` (0.6 is the exponent measured on real books by
            Bouchaud, Mezard and Potters, 2002).
        max_distance: the distance is truncated to ``0..max_distance`` ticks.
        size_median: median order size in lots (log-normal).
        size_sigma: log-normal shape of order sizes.
        max_size: cap of the order size in lots.
        accounts: number of trading accounts (ids 1..accounts).
        stp: self-trade prevention mode of every book.
        max_orders: depth cap per book: while a book holds this many orders, limit adds join
            the fair touch instead of their drawn distance (so sweeps absorb them) -- the
            event mix never changes, and the book stays bounded on long runs.
        warmup_orders: the first ``warmup_orders * len(symbols)`` events are all adds, so the
            books start with some depth.

    Example:
        >>> SimulationConfig(symbols=("AAPL",), max_ops=1000).n_books
        1
        >>> SimulationConfig(seconds=0)
        Traceback (most recent call last):
        ...
        ValueError: seconds must be a positive number of seconds, got 0
    """

    symbols: tuple[str, ...] = ("AAPL", "MSFT")
    seconds: float = 10.0
    max_ops: int | None = None
    seed: int = 42
    tick_size: str = "0.01"
    lot_size: int = 1
    start_price: float = 100.0
    volatility: float = 0.4
    arrival_rate: float = 1000.0
    mix: tuple[float, float, float, float] = (0.62, 0.22, 0.06, 0.10)
    sweep_levels: tuple[float, float, float] = (0.6, 0.3, 0.1)
    market_fraction: float = 0.5
    reprice_fraction: float = 0.5
    distance_alpha: float = 0.6
    max_distance: int = 200
    size_median: float = 8.0
    size_sigma: float = 0.9
    max_size: int = 500
    accounts: int = 8
    stp: str = "cancel_oldest"
    warmup_orders: int = 100
    max_orders: int = 10_000

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_books(self) -> int:
        """Number of books (symbols)."""
        return len(self.symbols)


def _validate(c: SimulationConfig) -> None:
    def bad(msg: str) -> ValueError:
        return ValueError(msg)

    if not isinstance(c.symbols, tuple) or not c.symbols:
        raise bad("symbols must be a non-empty tuple of symbol names")
    for s in c.symbols:
        if not isinstance(s, str) or not _SYMBOL_RE.fullmatch(s):
            raise bad(
                f"symbol {s!r} is not valid (1-16 characters of letters, digits, '.', '_', '-',"
                " starting with a letter or digit)"
            )
    if len(set(c.symbols)) != len(c.symbols):
        raise bad(f"symbols must be distinct, got {','.join(c.symbols)}")
    if len(c.symbols) > _MAX_BOOKS:
        raise bad(f"at most {_MAX_BOOKS} books, got {len(c.symbols)}")
    if not (math.isfinite(c.seconds) and c.seconds > 0):
        raise bad(f"seconds must be a positive number of seconds, got {c.seconds:g}")
    if c.max_ops is not None and c.max_ops <= 0:
        raise bad(f"max_ops must be a positive integer, got {c.max_ops}")
    if not 0 <= c.seed < 2**63:
        raise bad(f"seed must be in 0..2**63-1, got {c.seed}")
    try:
        tick = Decimal(c.tick_size)
    except (InvalidOperation, TypeError, ValueError):
        raise bad(f"tick size {c.tick_size!r} is not a decimal number") from None
    if not (tick.is_finite() and tick > 0):
        raise bad(f"tick size must be positive, got {c.tick_size}")
    try:
        hb.OrderBook("CHECK", tick_size=c.tick_size, lot_size=c.lot_size, stp_default=c.stp)
    except (hb.HftbookError, OverflowError) as e:
        raise bad(str(e)) from None
    positive = {
        "start_price": c.start_price,
        "arrival_rate": c.arrival_rate,
        "distance_alpha": c.distance_alpha,
        "size_median": c.size_median,
    }
    for name, v in positive.items():
        if not (math.isfinite(v) and v > 0):
            raise bad(f"{name} must be positive, got {v}")
    if not (math.isfinite(c.volatility) and c.volatility >= 0):
        raise bad(f"volatility must be >= 0, got {c.volatility}")
    if not (math.isfinite(c.size_sigma) and c.size_sigma >= 0):
        raise bad(f"size_sigma must be >= 0, got {c.size_sigma}")
    if len(c.mix) != 4 or any(not (math.isfinite(p) and p >= 0) for p in c.mix):
        raise bad(f"mix must be 4 non-negative probabilities (add, cancel, modify, match): {c.mix}")
    if abs(sum(c.mix) - 1.0) > 1e-9:
        raise bad(f"mix probabilities must sum to 1, got {sum(c.mix):g}")
    sl = c.sweep_levels
    if (
        len(sl) != 3
        or any(not (math.isfinite(p) and p >= 0) for p in sl)
        or abs(sum(sl) - 1) > 1e-9
    ):
        raise bad(f"sweep_levels must be 3 non-negative probabilities summing to 1: {sl}")
    for name, p in (
        ("market_fraction", c.market_fraction),
        ("reprice_fraction", c.reprice_fraction),
    ):
        if not 0 <= p <= 1:
            raise bad(f"{name} must be in [0, 1], got {p}")
    for name, n, lo in (
        ("max_distance", c.max_distance, 0),
        ("max_size", c.max_size, 1),
        ("accounts", c.accounts, 1),
        ("warmup_orders", c.warmup_orders, 0),
        ("max_orders", c.max_orders, 1),
    ):
        if n < lo:
            raise bad(f"{name} must be >= {lo}, got {n}")
    if c.accounts >= 2**32:
        raise bad(f"accounts must be < 2**32, got {c.accounts}")


@dataclass(frozen=True)
class LatencyStats:
    """Latency distribution of one operation kind, in nanoseconds (0 when ``count`` is 0)."""

    count: int
    mean: float
    p50: int
    p90: int
    p99: int
    p999: int
    max: int

    @classmethod
    def of(cls, samples: npt.NDArray[np.int64]) -> LatencyStats:
        """Summarise samples (ns).

        >>> LatencyStats.of(np.array([100, 200, 300, 400], dtype=np.int64)).p50
        200
        """
        if samples.size == 0:
            return cls(0, 0.0, 0, 0, 0, 0, 0)
        q = np.percentile(samples, [50, 90, 99, 99.9], method="inverted_cdf")
        return cls(
            count=int(samples.size),
            mean=float(samples.mean()),
            p50=int(q[0]),
            p90=int(q[1]),
            p99=int(q[2]),
            p999=int(q[3]),
            max=int(samples.max()),
        )


@dataclass(frozen=True)
class BookSummary:
    """Final state of one book. Prices are exact; None when that side is empty."""

    symbol: str
    bid_price: Decimal | None
    bid_qty: int
    ask_price: Decimal | None
    ask_qty: int
    spread: Decimal | None
    orders: int
    trades: int

    @classmethod
    def of(cls, book: hb.OrderBook) -> BookSummary:
        """Read the top of ``book``.

        >>> b = hb.OrderBook("X")
        >>> _ = b.submit("buy", price="9.99", qty=3)
        >>> BookSummary.of(b).bid_price, BookSummary.of(b).ask_price
        (Decimal('9.99'), None)
        """
        bid, ask = book.best_bid(), book.best_ask()
        return cls(
            symbol=book.symbol,
            bid_price=None if bid is None else bid.price,
            bid_qty=0 if bid is None else bid.qty,
            ask_price=None if ask is None else ask.price,
            ask_qty=0 if ask is None else ask.qty,
            spread=book.spread(),
            orders=len(book),
            trades=book.trade_count,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (prices as exact decimal strings or null)."""

        def s(d: Decimal | None) -> str | None:
            return None if d is None else str(d)

        return {
            "symbol": self.symbol,
            "bid_price": s(self.bid_price),
            "bid_qty": self.bid_qty,
            "ask_price": s(self.ask_price),
            "ask_qty": self.ask_qty,
            "spread": s(self.spread),
            "orders": self.orders,
            "trades": self.trades,
        }


@dataclass
class SimulationResult:
    """What a run did and how fast.

    Attributes:
        config: the configuration that ran.
        ops: API calls made (submit, cancel and modify; each is one operation).
        kind_counts: operations per kind (``KIND_NAMES``), as executed.
        orders_submitted: submit calls (adds and marketable orders).
        cancels: cancel calls.
        modifies: modify calls.
        trades: trades printed by all books.
        volume: traded quantity (units), summed over all books.
        crossing_adds: limit adds that traded on arrival (the book lagged the mid).
        fallbacks: cancel/modify/match events replaced by an add (no live order or no
            opposite liquidity).
        capped_adds: limit adds placed at the touch because their book was at ``max_orders``.
        resting_orders: orders resting on all books at the end.
        wall_time_s: wall-clock time of the whole run (generation and bookkeeping included).
        engine_time_s: sum of the timed API calls.
        generation_time_s: time spent drawing the random flow.
        timer_overhead_ns: median cost of an empty ``perf_counter_ns`` pair, included in
            every latency sample.
        latencies: per kind, every timed call (ns).
        books: the final books (for further inspection).
        summaries: each book's final top of book.
        digest: SHA-256 of every book's final L3 state (equal for equal runs).
        interrupted: the run was stopped by Ctrl-C.
        latency_report: the Rust profiler's per-operation latency of the core calls (TSC,
            without the Python call overhead), pooled over the books.
        memory: the extension's heap (``hftbook.profiling.memory_stats``) over the run:
            ``live_bytes_start``, ``live_bytes_end``, ``peak_bytes``, ``allocations``.
        cpu: CPU use of the process and of each thread over the run.
    """

    config: SimulationConfig
    ops: int
    kind_counts: dict[str, int]
    orders_submitted: int
    cancels: int
    modifies: int
    trades: int
    volume: int
    crossing_adds: int
    fallbacks: int
    capped_adds: int
    resting_orders: int
    wall_time_s: float
    engine_time_s: float
    generation_time_s: float
    timer_overhead_ns: int
    latencies: dict[str, npt.NDArray[np.int64]] = field(repr=False)
    books: tuple[hb.OrderBook, ...] = field(repr=False)
    summaries: tuple[BookSummary, ...]
    digest: str
    interrupted: bool = False
    latency_report: LatencyReport | None = field(default=None, repr=False)
    memory: dict[str, int] = field(default_factory=dict)
    cpu: CpuUsage | None = field(default=None, repr=False)

    @property
    def throughput(self) -> float:
        """Operations per wall-clock second (whole loop: generation and bookkeeping too)."""
        return self.ops / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def engine_throughput(self) -> float:
        """Operations per second of time spent inside the timed API calls."""
        return self.ops / self.engine_time_s if self.engine_time_s > 0 else 0.0

    def latency_stats(self) -> dict[str, LatencyStats]:
        """Per kind (``KIND_NAMES``) and ``"all"``: latency percentiles in ns."""
        out = {k: LatencyStats.of(self.latencies[k]) for k in KIND_NAMES}
        out["all"] = LatencyStats.of(np.concatenate([self.latencies[k] for k in KIND_NAMES]))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (what ``hftbook simulate --json`` writes).

        Keys: ``version``, ``config``, ``ops``, ``kind_counts``, ``orders_submitted``,
        ``cancels``, ``modifies``, ``trades``, ``volume``, ``crossing_adds``, ``fallbacks``,
        ``capped_adds``, ``resting_orders``, ``wall_time_s``, ``engine_time_s``,
        ``generation_time_s``, ``throughput_ops_s``, ``engine_throughput_ops_s``,
        ``timer_overhead_ns``, ``latency_ns`` (per kind and ``all``: ``count``, ``mean``,
        ``p50``, ``p90``, ``p99``, ``p99_9``, ``max``), ``books`` (list of ``symbol``,
        ``bid_price``, ``bid_qty``, ``ask_price``, ``ask_qty``, ``spread``, ``orders``,
        ``trades``), ``digest``, ``interrupted``.
        """
        cfg = self.config
        return {
            "version": hb.__version__,
            "config": {
                "symbols": list(cfg.symbols),
                "seconds": None if cfg.max_ops is not None else cfg.seconds,
                "max_ops": cfg.max_ops,
                "seed": cfg.seed,
                "tick_size": cfg.tick_size,
                "lot_size": cfg.lot_size,
                "volatility": cfg.volatility,
                "arrival_rate": cfg.arrival_rate,
                "mix": dict(zip(KIND_NAMES, cfg.mix, strict=True)),
                "accounts": cfg.accounts,
                "stp": cfg.stp,
            },
            "ops": self.ops,
            "kind_counts": dict(self.kind_counts),
            "orders_submitted": self.orders_submitted,
            "cancels": self.cancels,
            "modifies": self.modifies,
            "trades": self.trades,
            "volume": self.volume,
            "crossing_adds": self.crossing_adds,
            "fallbacks": self.fallbacks,
            "capped_adds": self.capped_adds,
            "resting_orders": self.resting_orders,
            "wall_time_s": self.wall_time_s,
            "engine_time_s": self.engine_time_s,
            "generation_time_s": self.generation_time_s,
            "throughput_ops_s": self.throughput,
            "engine_throughput_ops_s": self.engine_throughput,
            "timer_overhead_ns": self.timer_overhead_ns,
            "latency_ns": {
                k: {
                    "count": s.count,
                    "mean": s.mean,
                    "p50": s.p50,
                    "p90": s.p90,
                    "p99": s.p99,
                    "p99_9": s.p999,
                    "max": s.max,
                }
                for k, s in self.latency_stats().items()
            },
            "books": [s.to_dict() for s in self.summaries],
            "digest": self.digest,
            "interrupted": self.interrupted,
        }


@dataclass
class _Chunk:
    """One chunk of pre-drawn events, as Python lists (fast scalar access in the loop)."""

    book: list[int]
    kind: list[int]
    side: list[int]
    price: list[int]  # limit price in ticks of an add
    touch: list[int]  # the fair touch (distance 0) on the add's side, in ticks
    qty: list[int]  # units
    account: list[int]
    pick: list[float]  # which live order a cancel/modify targets
    frac: list[float]  # modify variant / size fraction; sweep depth into the last level
    levels: list[int]  # levels a match sweeps (1..3)
    market: list[bool]
    delta: list[int]  # price move of a repricing modify, in ticks
    ts: list[int]  # simulated time, ns

    def __len__(self) -> int:
        return len(self.kind)


class _FlowGenerator:
    """Draws the event stream chunk by chunk from one seeded numpy Generator."""

    def __init__(self, cfg: SimulationConfig, tick: float) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.n_books = cfg.n_books
        mids = cfg.start_price * (1.0 + 0.5 * np.arange(self.n_books)) / tick
        self.log_mid = np.log(np.maximum(mids, 1.0))
        self.last_t = np.zeros(self.n_books)
        self.t = 0.0
        self.emitted = 0
        self.warmup = cfg.warmup_orders * self.n_books
        # Cumulative probabilities without the last one (1.0), for inverse-CDF draws.
        self.mix_cdf = np.cumsum(cfg.mix)[:-1]
        self.sweep_cdf = np.cumsum(cfg.sweep_levels)[:-1]
        self.sigma2 = cfg.volatility**2 / TRADING_YEAR_S  # variance per simulated second

    def next_chunk(self, n: int = CHUNK_EVENTS) -> _Chunk:
        cfg, rng = self.cfg, self.rng
        # Draw order is part of the flow's definition: keep it fixed.
        dt = rng.exponential(1.0 / (cfg.arrival_rate * self.n_books), n)
        book = rng.integers(0, self.n_books, n)
        kind = np.searchsorted(self.mix_cdf, rng.random(n), side="right")
        side = rng.integers(0, 2, n)
        # Lomax (Pareto II) truncated to [0, max_distance + 1) by inverse CDF, floored to ticks.
        a, top = cfg.distance_alpha, cfg.max_distance + 1.0
        tail = 1.0 - (1.0 + top) ** -a
        dist = np.minimum(np.floor((1.0 - rng.random(n) * tail) ** (-1.0 / a) - 1.0), top - 1)
        lots = np.floor(rng.lognormal(math.log(cfg.size_median), cfg.size_sigma, n))
        lots = np.clip(lots, 1, cfg.max_size).astype(np.int64)
        account = rng.integers(1, cfg.accounts + 1, n)
        pick = rng.random(n)
        frac = rng.random(n)
        levels = np.searchsorted(self.sweep_cdf, rng.random(n), side="right") + 1
        market = rng.random(n) < cfg.market_fraction
        delta = np.array([-2, -1, 1, 2])[rng.integers(0, 4, n)]
        z = rng.standard_normal(n)

        t = self.t + np.cumsum(dt)
        self.t = float(t[-1])
        mid = np.empty(n)
        for b in range(self.n_books):
            m = book == b
            tb = t[m]
            if tb.size == 0:
                continue
            dtb = np.diff(tb, prepend=self.last_t[b])
            incr = -0.5 * self.sigma2 * dtb + np.sqrt(self.sigma2 * dtb) * z[m]
            lm = self.log_mid[b] + np.cumsum(incr)
            mid[m] = lm
            self.log_mid[b] = lm[-1]
            self.last_t[b] = tb[-1]
        bid_ref = np.floor(np.exp(mid))
        touch = np.where(side == 0, bid_ref, bid_ref + 1.0)
        price = np.where(side == 0, touch - dist, touch + dist)
        price = np.maximum(price, 1.0).astype(np.int64)
        touch = np.maximum(touch, 1.0).astype(np.int64)

        if self.emitted < self.warmup:
            kind[: self.warmup - self.emitted] = _ADD
        self.emitted += n

        return _Chunk(
            book=book.tolist(),
            kind=kind.tolist(),
            side=side.tolist(),
            price=price.tolist(),
            touch=touch.tolist(),
            qty=(lots * cfg.lot_size).tolist(),
            account=account.tolist(),
            pick=pick.tolist(),
            frac=frac.tolist(),
            levels=levels.tolist(),
            market=market.tolist(),
            delta=delta.tolist(),
            ts=(t * 1e9).astype(np.int64).tolist(),
        )


def _timer_overhead_ns(n: int = 20_000) -> int:
    pc = time.perf_counter_ns
    samples = np.empty(n, dtype=np.int64)
    for i in range(n):
        t0 = pc()
        t1 = pc()
        samples[i] = t1 - t0
    return int(np.median(samples))


def _digest(books: tuple[hb.OrderBook, ...]) -> str:
    h = hashlib.sha256()
    for b in books:
        h.update(b.symbol.encode())
        h.update(str(b.trade_count).encode())
        for side in ("buy", "sell"):
            h.update(b.orders(side).tobytes())
    return h.hexdigest()


class _Progress:
    """A rich progress bar refreshed from the simulation thread only.

    No refresh thread, so the bar never competes with the timed calls for the GIL.
    """

    def __init__(self, cfg: SimulationConfig, enabled: bool) -> None:
        self.enabled = enabled
        self.by_ops = cfg.max_ops is not None
        self.total = float(cfg.max_ops) if cfg.max_ops is not None else cfg.seconds
        self.last = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @contextmanager
    def running(self) -> Iterator[_Progress]:
        if not self.enabled:
            yield self
            return
        progress = Progress(
            TextColumn("[bold]simulate[/]"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[ops]:>12,} ops  {task.fields[rate]:>9,.0f} ops/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
            transient=False,
        )
        with progress:
            self._progress = progress
            self._task = progress.add_task("simulate", total=self.total, ops=0, rate=0.0)
            try:
                yield self
            finally:
                self._progress = None

    def update(self, now_ns: int, start_ns: int, ops: int, force: bool = False) -> None:
        if self._progress is None or self._task is None:
            return
        if not force and now_ns - self.last < 100_000_000:
            return
        self.last = now_ns
        elapsed = (now_ns - start_ns) / 1e9
        done = float(ops) if self.by_ops else min(elapsed, self.total)
        rate = ops / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, completed=done, ops=ops, rate=rate)
        self._progress.refresh()


class _Simulator:
    def __init__(self, cfg: SimulationConfig) -> None:
        self.cfg = cfg
        self.books = tuple(
            hb.OrderBook(
                s,
                tick_size=cfg.tick_size,
                lot_size=cfg.lot_size,
                stp_default=cfg.stp,
                clock="manual",
            )
            for s in cfg.symbols
        )
        for b in self.books:
            b.profiling = True  # the Rust profiler: a TSC read pair per call
        tick = float(Decimal(cfg.tick_size))
        self.gen = _FlowGenerator(cfg, tick)
        self.live: list[list[int]] = [[] for _ in self.books]
        self.ops = 0
        self.volume = 0
        self.crossing_adds = 0
        self.fallbacks = 0
        self.capped_adds = 0
        self.kind_counts = np.zeros(4, dtype=np.int64)
        self.lat_parts: list[list[npt.NDArray[np.int64]]] = [[] for _ in KIND_NAMES]
        self.lat = np.empty(CHUNK_EVENTS, dtype=np.int64)
        self.kinds = np.empty(CHUNK_EVENTS, dtype=np.uint8)
        self.gen_ns = 0

    def run(self, progress: _Progress) -> bool:
        """Drive the books until the op budget or the deadline; True if interrupted."""
        cfg = self.cfg
        pc = time.perf_counter_ns
        start = pc()
        deadline = None if cfg.max_ops is not None else start + int(cfg.seconds * 1e9)
        budget = cfg.max_ops
        while True:
            n = CHUNK_EVENTS if budget is None else min(CHUNK_EVENTS, budget - self.ops)
            if n <= 0:
                break
            g0 = pc()
            chunk = self.gen.next_chunk()
            self.gen_ns += pc() - g0
            done, stop, interrupted = self._drive(chunk, n, deadline, progress, start)
            self._account(done)
            if interrupted:
                return True
            if stop:
                break
        progress.update(pc(), start, self.ops, force=True)
        return False

    def _account(self, done: int) -> None:
        lat, kinds = self.lat[:done], self.kinds[:done]
        for k in range(len(KIND_NAMES)):
            sel = lat[kinds == k]
            if sel.size:
                self.lat_parts[k].append(sel.copy())
        self.kind_counts += np.bincount(kinds, minlength=4)[:4]
        self.ops += done

    def _drive(
        self,
        c: _Chunk,
        n: int,
        deadline: int | None,
        progress: _Progress,
        start: int,
    ) -> tuple[int, bool, bool]:
        """Replay the first ``n`` events of ``c``; return (done, stop, interrupted)."""
        pc = time.perf_counter_ns
        books = self.books
        submit = [b.submit for b in books]
        cancel = [b.cancel for b in books]
        modify = [b.modify for b in books]
        set_time = [b.set_time for b in books]
        order = [b.order for b in books]
        depth = [b.depth for b in books]
        best_opp = ([b.best_ask for b in books], [b.best_bid for b in books])  # by taker side
        contains = [b.__contains__ for b in books]
        cap = self.cfg.max_orders
        # Whether each book is at the depth cap, refreshed every _CHECK_EVERY events (at fixed
        # event indices, so the flow stays deterministic).
        full = [len(bk) >= cap for bk in books]
        lives = self.live
        lat = self.lat.data  # memoryview: fast int64 stores into the preallocated array
        kinds = self.kinds.data
        lot = self.cfg.lot_size
        reprice_p = self.cfg.reprice_fraction
        sides = ("buy", "sell")
        c_book, c_kind, c_side, c_price, c_qty = c.book, c.kind, c.side, c.price, c.qty
        c_touch = c.touch
        c_acct, c_pick, c_frac, c_levels = c.account, c.pick, c.frac, c.levels
        c_market, c_delta, c_ts = c.market, c.delta, c.ts
        volume = crossing = fallbacks = capped = 0
        base_ops = self.ops
        i = 0
        stop = False
        try:
            for i in range(n):
                if not i & (_CHECK_EVERY - 1):
                    now = pc()
                    if deadline is not None and now >= deadline:
                        stop = True
                        break
                    progress.update(now, start, base_ops + i)
                    full = [len(bk) >= cap for bk in books]
                b = c_book[i]
                k = c_kind[i]
                set_time[b](c_ts[i])
                if k == _CANCEL:
                    live = lives[b]
                    u = c_pick[i]
                    while live:
                        j = int(u * len(live))
                        oid = live[j]
                        if contains[b](oid):
                            t0 = pc()
                            cancel[b](oid)
                            t1 = pc()
                            live[j] = live[-1]
                            live.pop()
                            break
                        live[j] = live[-1]  # filled or self-trade-cancelled since: drop it
                        live.pop()
                    else:
                        k = _ADD
                        fallbacks += 1
                elif k == _MODIFY:
                    live = lives[b]
                    u = c_pick[i]
                    while live:
                        j = int(u * len(live))
                        oid = live[j]
                        o = order[b](oid)
                        if o is not None:
                            f = c_frac[i]
                            q = o.qty
                            if f < reprice_p or q <= lot:
                                p = max(1, o.price_ticks + c_delta[i])
                                t0 = pc()
                                r = modify[b](oid, price_ticks=p)
                                t1 = pc()
                            else:
                                f = (f - reprice_p) / (1.0 - reprice_p)
                                nq = max(1, int(q // lot * f)) * lot
                                t0 = pc()
                                r = modify[b](oid, qty=nq)
                                t1 = pc()
                            fq = r.filled_qty
                            if fq:
                                volume += fq
                            break
                        live[j] = live[-1]
                        live.pop()
                    else:
                        k = _ADD
                        fallbacks += 1
                elif k == _MATCH:
                    # Size the order to take every level before the target one and part of
                    # the target. depth() builds numpy arrays (slow): only for 2-3 levels.
                    s = c_side[i]
                    nl = c_levels[i]
                    p = 0
                    if nl == 1:
                        lv = best_opp[s][b]()
                        if lv is not None:
                            prev, last_q, p = 0, lv.qty, lv.price_ticks
                        else:
                            nl = 0
                    else:
                        d = depth[b](nl)
                        levels = d.asks if s == 0 else d.bids
                        nl = len(levels)
                        if nl:
                            qs: list[int] = levels["qty"].tolist()
                            prev, last_q = sum(qs) - qs[-1], qs[-1]
                            p = int(levels["price_ticks"][nl - 1])
                    if nl:
                        q = prev + max(1, math.ceil(c_frac[i] * (last_q // lot))) * lot
                        if c_market[i]:
                            t0 = pc()
                            r = submit[b](sides[s], qty=q, order_type="market", account=c_acct[i])
                            t1 = pc()
                        else:
                            t0 = pc()
                            r = submit[b](
                                sides[s], price_ticks=p, qty=q, tif="ioc", account=c_acct[i]
                            )
                            t1 = pc()
                        volume += r.filled_qty
                    else:
                        k = _ADD
                        fallbacks += 1
                if k == _ADD:
                    if not full[b]:
                        p = c_price[i]
                    else:
                        p = c_touch[i]
                        capped += 1
                    t0 = pc()
                    r = submit[b](sides[c_side[i]], price_ticks=p, qty=c_qty[i], account=c_acct[i])
                    t1 = pc()
                    if r.remaining_qty:
                        lives[b].append(r.order_id)
                    fq = r.filled_qty
                    if fq:
                        volume += fq
                        crossing += 1
                lat[i] = t1 - t0
                kinds[i] = k
            else:
                i = n
        except KeyboardInterrupt:
            self._add(volume, crossing, fallbacks, capped)
            return i, True, True
        self._add(volume, crossing, fallbacks, capped)
        return i, stop, False

    def _add(self, volume: int, crossing: int, fallbacks: int, capped: int) -> None:
        self.volume += volume
        self.crossing_adds += crossing
        self.fallbacks += fallbacks
        self.capped_adds += capped

    def result(self, wall_ns: int, overhead: int, interrupted: bool) -> SimulationResult:
        lats = {
            name: (np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)).astype(
                np.int64, copy=False
            )
            for name, parts in zip(KIND_NAMES, self.lat_parts, strict=True)
        }
        counts = {name: int(v) for name, v in zip(KIND_NAMES, self.kind_counts, strict=True)}
        engine_ns = sum(int(a.sum()) for a in lats.values())
        return SimulationResult(
            config=self.cfg,
            ops=self.ops,
            kind_counts=counts,
            orders_submitted=counts["add"] + counts["match"],
            cancels=counts["cancel"],
            modifies=counts["modify"],
            trades=sum(b.trade_count for b in self.books),
            volume=self.volume,
            crossing_adds=self.crossing_adds,
            fallbacks=self.fallbacks,
            capped_adds=self.capped_adds,
            resting_orders=sum(len(b) for b in self.books),
            wall_time_s=wall_ns / 1e9,
            engine_time_s=engine_ns / 1e9,
            generation_time_s=self.gen_ns / 1e9,
            timer_overhead_ns=overhead,
            latencies=lats,
            books=self.books,
            summaries=tuple(BookSummary.of(b) for b in self.books),
            digest=_digest(self.books),
            interrupted=interrupted,
        )


def run_simulation(config: SimulationConfig, progress: bool = True) -> SimulationResult:
    """Run the synthetic flow of ``config`` and return what it did and how fast.

    With ``config.max_ops`` the run is a fixed number of operations and fully deterministic
    for a seed (trades, volume, final books, ``digest``); otherwise it runs for
    ``config.seconds`` of wall-clock time over a prefix of the same flow. ``progress`` shows
    a rich progress bar on stderr. Ctrl-C stops the run early (``result.interrupted``).

    Example:
        >>> res = run_simulation(SimulationConfig(symbols=("AAPL",), max_ops=3_000), progress=False)
        >>> res.ops, res.cancels + res.modifies + res.orders_submitted
        (3000, 3000)
        >>> all(s.bid_price < s.ask_price for s in res.summaries)
        True
    """
    reset_peak_memory()
    mem0 = memory_stats()
    sim = _Simulator(config)
    overhead = _timer_overhead_ns()
    bar = _Progress(config, enabled=progress)
    cpu = CpuMeter()
    t0 = time.perf_counter_ns()
    with bar.running():
        interrupted = sim.run(bar)
    wall = time.perf_counter_ns() - t0
    usage = cpu.read()
    mem1 = memory_stats()
    res = sim.result(wall, overhead, interrupted)
    res.memory = {
        "live_bytes_start": mem0["live_bytes"],
        "live_bytes_end": mem1["live_bytes"],
        "peak_bytes": mem1["peak_bytes"],
        "allocations": mem1["allocations"] - mem0["allocations"],
    }
    res.cpu = usage
    res.latency_report = LatencyReport.merge(
        (LatencyReport.of(b) for b in sim.books),
        source="hftbook simulate",
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        config=res.to_dict()["config"],
        ops=res.ops,
        books=len(sim.books),
        memory=res.memory,
        cpu={k: v for k, v in usage.to_dict().items() if k != "threads"},
    )
    return res


#: What ``latency.png`` shows: the "Core latency" table's figures, not the per-call table's.
CORE_PLOT_TITLE = (
    "Rust core profiler: time inside the book per operation, Python call overhead excluded\n"
    "kinds by outcome (add = rested without trading, match = traded), as in the Core latency table"
)
#: The timing named on ``latency.png``'s axes.
CORE_PLOT_SUBJECT = "time inside the Rust book"

#: Files :func:`write_reports` writes into a run's output folder.
REPORT_FILES: tuple[str, ...] = ("latency.json", "latency.html", "latency.png", "summary.json")


def write_reports(result: SimulationResult, out_dir: str | Path) -> list[Path]:
    """Write the run's profiler reports into ``out_dir`` (created if missing).

    ``latency.json`` (a :class:`~hftbook.profiling.LatencyReport`, readable by
    ``hftbook perf report``), ``latency.html`` (self-contained page), ``latency.png``
    (histogram and percentile curves) and ``summary.json`` (:meth:`SimulationResult.to_dict`
    plus ``memory`` and ``cpu``). Returns the paths written.

    >>> import tempfile
    >>> res = run_simulation(SimulationConfig(max_ops=2_000), progress=False)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in write_reports(res, d)]
    ['latency.json', 'latency.html', 'latency.png', 'summary.json']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = result.latency_report
    if rep is None:
        raise ValueError("the result has no latency report (not made by run_simulation)")
    paths = [out / name for name in REPORT_FILES]
    rep.to_json(paths[0])
    title = f"hftbook simulate: {result.ops:,} ops, seed {result.config.seed}"
    rep.to_html(paths[1], title=title)
    rep.plot(paths[2], title=f"{title}\n{CORE_PLOT_TITLE}", subject=CORE_PLOT_SUBJECT)
    summary = result.to_dict()
    summary["memory"] = result.memory
    summary["cpu"] = None if result.cpu is None else result.cpu.to_dict()
    paths[3].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return paths


def _fmt_price(p: Decimal | None, qty: int) -> str:
    return "-" if p is None else f"{p} x {qty:,}"


def summary_tables(result: SimulationResult) -> list[Table]:
    """The end-of-run summary as rich Tables: totals, latency percentiles, books.

    The core latency table (the Rust profiler's figures) is there when the result has them.

    >>> res = run_simulation(SimulationConfig(max_ops=2_000), progress=False)
    >>> for t in summary_tables(res):
    ...     print(t.title)
    Simulation summary
    Latency per call (ns)
    Core latency per operation (Rust, TSC, ns)
    Final top of book
    """
    r = result
    cfg = r.config
    run = f"{cfg.max_ops:,} ops" if cfg.max_ops is not None else f"{cfg.seconds:g} s"
    totals = Table(title="Simulation summary", show_header=False, title_justify="left")
    totals.add_column("metric", style="bold")
    totals.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        (
            "run",
            f"{run}, seed {cfg.seed}, {cfg.n_books} book(s)"
            # Plain words: rich would take "[interrupted]" for a style tag and print nothing.
            + (" — INTERRUPTED by Ctrl-C, partial run" if r.interrupted else ""),
        ),
        ("operations", f"{r.ops:,}"),
        ("orders submitted", f"{r.orders_submitted:,}  ({r.kind_counts['match']:,} marketable)"),
        ("cancels", f"{r.cancels:,}"),
        ("modifies", f"{r.modifies:,}"),
        ("trades", f"{r.trades:,}"),
        ("traded volume", f"{r.volume:,}"),
        ("crossing adds", f"{r.crossing_adds:,}"),
        ("resting orders at end", f"{r.resting_orders:,}"),
        ("wall time", f"{r.wall_time_s:.3f} s"),
        ("time in API calls", f"{r.engine_time_s:.3f} s"),
        ("flow generation", f"{r.generation_time_s:.3f} s"),
        ("throughput (wall)", f"{r.throughput:,.0f} ops/s"),
        ("throughput (API calls only)", f"{r.engine_throughput:,.0f} ops/s"),
        ("timer overhead (in samples)", f"{r.timer_overhead_ns} ns"),
    ]
    if r.memory:
        rows.append(
            (
                "Rust heap: live at end / peak",
                _mib(r.memory["live_bytes_end"]) + " / " + _mib(r.memory["peak_bytes"]),
            )
        )
    if r.cpu is not None:
        rows.append(("CPU (process, % of one core)", f"{r.cpu.percent:.0f} %"))
    for name, value in rows:
        totals.add_row(name, value)

    lat = Table(
        title="Latency per call (ns)",
        title_justify="left",
        caption="timed in Python around each call, call overhead included; kinds as sent",
        caption_justify="left",
    )
    for col in ("op", "count", "p50", "p90", "p99", "p99.9", "max", "mean"):
        lat.add_column(col, justify="left" if col == "op" else "right")
    for kind, st in r.latency_stats().items():
        lat.add_row(
            kind,
            f"{st.count:,}",
            f"{st.p50:,}",
            f"{st.p90:,}",
            f"{st.p99:,}",
            f"{st.p999:,}",
            f"{st.max:,}",
            f"{st.mean:,.0f}",
            style="bold" if kind == "all" else None,
        )

    tops = Table(title="Final top of book", title_justify="left")
    for col in ("symbol", "bid (price x qty)", "ask (price x qty)", "spread", "orders", "trades"):
        tops.add_column(col, justify="left" if col == "symbol" else "right")
    for s in r.summaries:
        tops.add_row(
            s.symbol,
            _fmt_price(s.bid_price, s.bid_qty),
            _fmt_price(s.ask_price, s.ask_qty),
            "-" if s.spread is None else str(s.spread),
            f"{s.orders:,}",
            f"{s.trades:,}",
        )
    tables = [totals, lat, tops]
    rep = r.latency_report
    if rep is not None and rep.recorded():
        core = Table(
            title="Core latency per operation (Rust, TSC, ns)",
            title_justify="left",
            caption="time inside the Rust book (latency.png); kinds by outcome: "
            "add rested, match traded",
            caption_justify="left",
        )
        for col in ("op", "count", "p50", "p99", "p99.9", "p99.99", "max"):
            core.add_column(col, justify="left" if col == "op" else "right")
        for o in rep.recorded():
            core.add_row(
                o.name, *(f"{v:,}" for v in (o.count, o.p50, o.p99, o.p99_9, o.p99_99, o.max))
            )
        tables.insert(2, core)
    return tables


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def print_summary(result: SimulationResult, console: Console | None = None) -> None:
    """Print :func:`summary_tables` to ``console`` (a ``rich.console.Console``; stdout if None)."""
    out = console if console is not None else Console()
    for t in summary_tables(result):
        out.print(t)
