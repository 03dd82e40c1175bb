"""A conflated market-data subscriber that falls behind resyncs from an L2 snapshot."""

from __future__ import annotations

import threading
import time

import numpy as np

import hftbook as hb


def test_slow_conflated_subscriber_rebuilds_the_true_book() -> None:
    engine = hb.Engine(symbols={"X": {"tick_size": "0.01"}}, book_events=True)
    book: dict[tuple[str, int], int] = {}
    headers = []
    lock = threading.Lock()

    def on_batch(events: list[hb.Event]) -> None:
        with lock:
            for e in events:
                if e.snapshot and e.side is None:
                    assert e.gap
                    headers.append(e.detail)
                    book.clear()
                elif e.qty == 0:
                    book.pop((e.side or "", e.price_ticks), None)
                else:
                    book[(e.side or "", e.price_ticks)] = e.qty
        time.sleep(0.05)  # a slow consumer: the shard outruns it

    with engine:
        sub = engine.subscribe(on_batch, kinds=["book"], capacity=512, conflate=True)
        rng = np.random.default_rng(5)
        for _ in range(3000):
            side = "buy" if rng.random() < 0.5 else "sell"
            px = int(rng.integers(9000, 9090)) if side == "buy" else int(rng.integers(9110, 9200))
            engine.submit("X", side, price_ticks=px, qty=int(rng.integers(1, 5)))
        # Trickle until a snapshot has come through and the subscriber is caught up.
        deadline = time.monotonic() + 20
        k = 0
        while time.monotonic() < deadline and not sub.snapshots:
            engine.submit("X", "buy", price_ticks=9000 + k % 50, qty=1)
            k += 1
            time.sleep(0.02)
        assert sub.conflated > 0, "the subscriber never fell behind: the test proves nothing"
        assert sub.snapshots > 0
        # Submitting only queues: on a loaded machine the shard may still be working through
        # the orders above. The true book is the one after the last of them.
        deadline = time.monotonic() + 20
        while (st := engine.stats())["commands"] < st["orders_issued"]:
            assert time.monotonic() < deadline, "the engine never caught up"
            time.sleep(0.01)
        depth = engine.book("X").depth(1000)
        truth = {
            ("buy", int(p)): int(q)
            for p, q in zip(depth.bids["price_ticks"], depth.bids["qty"], strict=True)
        }
        truth |= {
            ("sell", int(p)): int(q)
            for p, q in zip(depth.asks["price_ticks"], depth.asks["qty"], strict=True)
        }
        # A gap after the last snapshot is repaired by the next one, sent while the engine is
        # quiet; wait for the dispatcher (50 ms a batch) to deliver the tail.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if book == truth:
                    break
            time.sleep(0.05)
        with lock:
            assert headers, "no snapshot header reached the callback"
            assert book == truth
        sub.close()
