"""Run a seeded synthetic multi-symbol flow through :class:`hftbook.Engine`.

The flow is submitted with ``submit_batch`` from the main thread (limit orders around a
random-walk mid per symbol, marketable IOC orders, cancels of earlier orders), every event is
polled back as numpy, and the run ends with a summary: orders in, events out by kind,
rejections by reason, the stop report, and the engine's own stage latencies and CPU time.

SIGINT (Ctrl-C) and SIGTERM stop the run gracefully: intake closes, the shards drain their
lanes, every thread is joined, and the summary says the run was interrupted and what was
drained (exit status 130 for SIGINT, 143 for SIGTERM).

    >>> from hftbook.engine_run import EngineRunConfig, run_engine
    >>> cfg = EngineRunConfig(symbols=("AAPL", "MSFT"), max_orders=20_000, seconds=0, rate=0)
    >>> r = run_engine(cfg)
    >>> r.orders + r.cancels, r.stop_report["clean"], r.interrupted
    (20000, True, None)
    >>> r.events_by_kind["fill"] == 2 * r.events_by_kind["trade"]
    True
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import hftbook as hb

__all__ = [
    "SIGNAL_EXIT",
    "EngineRunConfig",
    "EngineRunResult",
    "print_engine_summary",
    "run_engine",
]

#: Exit status of a run stopped by a signal (128 + the signal number, as a shell reports it).
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
_SUBMIT, _CANCEL = 0, 1


@dataclass(frozen=True)
class EngineRunConfig:
    """What ``hftbook engine`` runs.

    ``max_orders`` bounds the commands sent (0 = no bound) and ``seconds`` the time (0 = no
    bound); at least one must be set.
    """

    symbols: tuple[str, ...] = ("AAPL", "MSFT", "GOOG", "AMZN")
    shards: int = 1
    seconds: float = 5.0
    max_orders: int = 0
    #: Commands offered per second (0 = as fast as the producer goes).
    rate: float = 500_000.0
    batch: int = 4096
    seed: int = 7
    tick_size: str = "0.01"
    config: str | None = None

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols: at least one symbol is needed")
        if self.shards < 1:
            raise ValueError(f"shards = {self.shards}: must be >= 1")
        if self.seconds < 0 or (self.seconds == 0 and self.max_orders <= 0):
            raise ValueError("give --seconds > 0 or --max-orders > 0")
        if self.max_orders < 0:
            raise ValueError(f"max_orders = {self.max_orders}: must be >= 0")
        if self.rate < 0:
            raise ValueError(f"rate = {self.rate}: must be >= 0 (0 = no pacing)")
        if not 1 <= self.batch <= 1_000_000:
            raise ValueError(f"batch = {self.batch}: must be in 1..1000000")


@dataclass
class EngineRunResult:
    """What a run did."""

    config: EngineRunConfig
    orders: int = 0
    cancels: int = 0
    wall_seconds: float = 0.0
    events_by_kind: dict[str, int] = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    stop_report: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    #: "SIGINT" / "SIGTERM" when a signal stopped the run, else None.
    interrupted: str | None = None

    @property
    def commands_per_second(self) -> float:
        """Commands (orders and cancels) sent per wall-clock second, end to end."""
        return (self.orders + self.cancels) / self.wall_seconds if self.wall_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["commands_per_second"] = self.commands_per_second
        return d


class _Flow:
    """A seeded flow.

    Per symbol a random-walk mid; 60 % passive limits, 10 % marketable IOC, 30 % cancels of
    earlier orders.
    """

    def __init__(self, engine: hb.Engine, n_symbols: int, tick_size: str, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n_symbols
        ticks_per_unit = round(1 / float(tick_size))
        self.mid = np.full(n_symbols, 100 * ticks_per_unit, dtype=np.int64)
        self.live: list[tuple[np.ndarray, np.ndarray]] = []  # (order ids, their symbols)
        self.engine = engine

    def chunk(self, n: int) -> np.ndarray:
        rng = self.rng
        rows = self.engine.commands_array(n)
        sym = rng.integers(0, self.n, n).astype(np.uint32)
        self.mid += rng.integers(-2, 3, self.n)
        np.maximum(self.mid, 1000, out=self.mid)
        u = rng.random(n)
        side = (rng.random(n) < 0.5).astype(np.uint8)
        dist = np.minimum(rng.pareto(1.2, n) * 2, 500).astype(np.int64) + 1
        sign = np.where(side == 0, -1, 1)
        price = self.mid[sym] + sign * dist
        ioc = (u >= 0.6) & (u < 0.7)
        price[ioc] = self.mid[sym[ioc]] - sign[ioc] * 5  # crosses the spread
        rows["kind"] = _SUBMIT
        rows["symbol"] = sym
        rows["side"] = side
        rows["price_ticks"] = price
        rows["qty"] = rng.integers(1, 10, n) * 100
        rows["tif"] = np.where(ioc, 1, 0)
        cancel = u >= 0.7
        if self.live:
            pool_ids = np.concatenate([i for i, _ in self.live])
            pool_syms = np.concatenate([s for _, s in self.live])
            pick = rng.integers(0, len(pool_ids), int(cancel.sum()))
            rows["kind"][cancel] = _CANCEL
            rows["order_id"][cancel] = pool_ids[pick]
            rows["symbol"][cancel] = pool_syms[pick]  # a cancel names the order's own symbol
        return rows

    def remember(self, rows: np.ndarray, ids: np.ndarray) -> None:
        """Keep the last few batches' order ids as cancel targets."""
        new = rows["kind"] == _SUBMIT
        self.live.append((ids[new], rows["symbol"][new]))
        if len(self.live) > 8:
            self.live.pop(0)


@contextmanager
def _graceful(result: EngineRunResult) -> Iterator[None]:
    """Turn SIGINT / SIGTERM into a flag the run loop checks (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        result.interrupted = signal.Signals(signum).name

    try:
        old = {s: signal.signal(s, handler) for s in SIGNAL_EXIT}
    except ValueError:  # not the main thread: no handlers, the run is bounded anyway
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _count(result: EngineRunResult, ev: np.ndarray) -> None:
    if not len(ev):
        return
    kinds = np.bincount(ev["kind"], minlength=len(hb.EVENT_KINDS))
    for i, c in enumerate(kinds):
        if c:
            name = hb.EVENT_KINDS[i]
            result.events_by_kind[name] = result.events_by_kind.get(name, 0) + int(c)
    rej = ev["reason"][ev["kind"] == hb.EVENT_KINDS.index("rejected")]
    for code, c in zip(*np.unique(rej, return_counts=True), strict=True):
        name = hb.ENGINE_REASONS[int(code)]
        result.rejections[name] = result.rejections.get(name, 0) + int(c)


def run_engine(cfg: EngineRunConfig, console: Console | None = None) -> EngineRunResult:
    """Run the flow through a fresh engine and return what it did (see the module doc)."""
    result = EngineRunResult(config=cfg)
    symbols = {s: {"tick_size": cfg.tick_size} for s in cfg.symbols}
    engine = hb.Engine(cfg.config, symbols=symbols, shards=cfg.shards)
    flow = _Flow(engine, len(engine.symbols), cfg.tick_size, cfg.seed)
    deadline = time.monotonic() + cfg.seconds if cfg.seconds > 0 else float("inf")
    with _graceful(result):
        t0 = time.perf_counter()
        engine.start()
        try:
            while result.interrupted is None and time.monotonic() < deadline:
                if cfg.rate:  # open loop: send each batch at its intended time
                    ahead = t0 + (result.orders + result.cancels) / cfg.rate - time.perf_counter()
                    if ahead > 0:
                        time.sleep(ahead)
                n = cfg.batch
                if cfg.max_orders:
                    n = min(n, cfg.max_orders - result.orders - result.cancels)
                    if n <= 0:
                        break
                rows = flow.chunk(n)
                ids = engine.submit_batch(rows)
                flow.remember(rows, ids)
                k = int((rows["kind"] == _CANCEL).sum())
                result.cancels += k
                result.orders += n - k
                _count(result, engine.poll(1 << 20))
        finally:
            result.stop_report = engine.stop(drain=True, timeout=10.0)
            while len(ev := engine.poll(1 << 20)):
                _count(result, ev)
            result.wall_seconds = time.perf_counter() - t0
            result.stats = engine.stats()
    if console is not None and result.interrupted:
        console.print(f"[yellow]{result.interrupted}: stopped gracefully[/yellow]")
    return result


def _latency_table(stats: dict[str, Any]) -> Table:
    t = Table(title="engine stages, µs (queue wait: enqueue → shard; match: sampled 1 in 16)")
    t.add_column("shard", justify="right", no_wrap=True)
    t.add_column("stage", no_wrap=True)
    for col in ("count", "p50", "p99", "p99.9", "max"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for i, s in enumerate(stats["shards"]):
        for stage, h in s["latency"].items():
            t.add_row(
                str(i),
                stage,
                f"{h['count']:,}",
                *(_us(h[k]) for k in ("p50_ns", "p99_ns", "p999_ns", "max_ns")),
            )
    return t


def _us(ns: int) -> str:
    return f"{ns / 1000:,.1f}" if ns < 10_000_000 else f"{ns / 1000:,.0f}"


def print_engine_summary(r: EngineRunResult, console: Console) -> None:
    """The end-of-run summary."""
    t = Table(title="hftbook engine run", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    status = f"interrupted by {r.interrupted}, stopped gracefully" if r.interrupted else "done"
    t.add_row("status", status)
    t.add_row("symbols / shards", f"{len(r.config.symbols)} / {r.config.shards}")
    offered = f"{r.config.rate:,.0f}/s" if r.config.rate else "as fast as possible"
    t.add_row("offered", offered)
    t.add_row("orders sent", f"{r.orders:,}")
    t.add_row("cancels sent", f"{r.cancels:,}")
    t.add_row("wall time", f"{r.wall_seconds:.2f} s")
    t.add_row("commands/s end to end", f"{r.commands_per_second:,.0f}")
    for k in hb.EVENT_KINDS:
        if k in r.events_by_kind:
            t.add_row(f"events: {k}", f"{r.events_by_kind[k]:,}")
    for k, v in sorted(r.rejections.items()):
        t.add_row(f"rejected: {k}", f"{v:,}")
    sr = r.stop_report
    t.add_row(
        "stop",
        f"drained {sr.get('drained', 0):,}, refused {sr.get('refused', 0):,}, "
        f"events discarded {sr.get('events_discarded', 0):,}, "
        f"{'clean' if sr.get('clean') else 'NOT clean'}",
    )
    t.add_row("engine CPU", f"{r.stats.get('cpu_seconds', 0.0):.2f} s")
    t.add_row("breaker", str(r.stats.get("breaker")))
    console.print(t)
    if r.stats.get("shards"):
        console.print(_latency_table(r.stats))
