"""A producer blocked on a full lane does not hold the GIL."""

from __future__ import annotations

import threading
import time

import pytest

import hftbook as hb


def test_blocked_submit_lets_other_python_threads_run() -> None:
    engine = hb.Engine(
        symbols={"X": {"tick_size": "0.01"}}, lane_capacity=2, on_full="block", full_timeout_ms=1500
    )
    engine.submit("X", "buy", price="1.00", qty=1)
    engine.submit("X", "buy", price="1.00", qty=1)  # the lane (not started) is full now
    ticks = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        start = time.monotonic()
        with pytest.raises(hb.Backpressure) as info:
            engine.submit("X", "buy", price="1.00", qty=1)
        waited = time.monotonic() - start
    finally:
        stop.set()
        t.join()
    assert waited >= 1.0, "the policy is to wait up to full_timeout_ms"
    assert info.value.lane == "normal"
    # While the submit waited, the other thread ran: with the GIL held it could not have.
    assert ticks > 10_000, ticks
    assert engine.stats()["orders_issued"] == 3  # the refused order's id is burnt
    report = engine.stop()
    assert report["drained"] == 2
