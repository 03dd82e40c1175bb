"""Helpers shared by the ``test_engine_*`` files: small engines, event collection with
generous deadlines (never timing assertions), and counters that prove a refused call queued
nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import hftbook as hb

#: Generous deadline for things that must eventually happen (never a speed assertion).
DEADLINE = 20.0

SYMBOLS: dict[str, dict[str, Any]] = {
    "AAPL": {"tick_size": "0.01"},
    "MSFT": {"tick_size": "0.05"},
}


def engine(symbols: dict[str, dict[str, Any]] | None = None, **options: Any) -> hb.Engine:
    """A (not started) engine trading ``symbols`` (default AAPL at 0.01 and MSFT at 0.05)."""
    return hb.Engine(symbols=SYMBOLS if symbols is None else symbols, **options)


def queued(e: hb.Engine) -> int:
    """Commands ever pushed into any lane of the engine."""
    return sum(s["priority_queued"] + s["normal_queued"] for s in e.stats()["shards"])


def finish(e: hb.Engine) -> list[hb.Event]:
    """Stop the engine (draining every lane) and return every event left to poll."""
    report = e.stop()
    assert report["clean"], report
    return list(e.events())


class Collector:
    """Accumulates polled events until a predicate holds (or a generous deadline passes)."""

    def __init__(self, e: hb.Engine) -> None:
        self.engine = e
        self.events: list[hb.Event] = []

    def pump(self) -> None:
        self.events.extend(self.engine.events(timeout=0.01))

    def until(self, pred: Callable[[list[hb.Event]], bool], what: str = "") -> list[hb.Event]:
        end = time.monotonic() + DEADLINE
        while True:
            self.pump()
            if pred(self.events):
                return self.events
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}: {self.events[-20:]}")

    def wait_kind(self, kind: str, n: int = 1, **attrs: Any) -> list[hb.Event]:
        """Wait for ``n`` events of ``kind`` whose attributes match ``attrs``; return them."""

        def match(evs: list[hb.Event]) -> list[hb.Event]:
            return [
                ev
                for ev in evs
                if ev.kind == kind and all(getattr(ev, k) == v for k, v in attrs.items())
            ]

        self.until(lambda evs: len(match(evs)) >= n, f"{n} {kind} {attrs}")
        return match(self.events)

    def of(self, order_id: int) -> list[hb.Event]:
        self.pump()
        return [ev for ev in self.events if ev.order_id == order_id]


def kinds(events: Iterable[hb.Event], order_id: int | None = None) -> list[str]:
    return [ev.kind for ev in events if order_id is None or ev.order_id == order_id]


def wait_until(pred: Callable[[], bool], what: str = "") -> None:
    end = time.monotonic() + DEADLINE
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def commands(n: int, **cols: Any) -> np.ndarray:
    """A command array of ``n`` rows: valid GTC limit buys of 1 lot on symbol 0 at 100.00,
    with ``cols`` overriding columns."""
    a = np.zeros(n, dtype=hb.ENGINE_COMMAND_DTYPE)
    a["price_ticks"] = 10_000
    a["qty"] = 1
    for k, v in cols.items():
        a[k] = v
    return a
