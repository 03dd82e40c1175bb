"""A conflated market-data subscriber that falls behind resyncs from an L2 snapshot."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import hftbook as hb


def _levels(engine: hb.Engine, symbol: str) -> dict[tuple[str, int], int]:
    """The engine's book of ``symbol``: (side, price ticks) -> lots."""
    depth = engine.book(symbol).depth(1000)
    out = {
        ("buy", int(p)): int(q)
        for p, q in zip(depth.bids["price_ticks"], depth.bids["qty"], strict=True)
    }
    out |= {
        ("sell", int(p)): int(q)
        for p, q in zip(depth.asks["price_ticks"], depth.asks["qty"], strict=True)
    }
    return out


def _settle(engine: hb.Engine) -> None:
    """Wait until the engine executed every order issued so far."""
    deadline = time.monotonic() + 20
    while (st := engine.stats())["commands"] < st["orders_issued"]:
        assert time.monotonic() < deadline, "the engine never caught up"
        time.sleep(0.01)


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
        _settle(engine)
        truth = _levels(engine, "X")
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


def test_set_symbols_adds_a_symbol_with_its_snapshot() -> None:
    """A conflating subscriber that starts following a symbol gets its book from a snapshot,
    then its deltas (skipping those already in the snapshot): the rebuilt book equals the
    engine's; nothing of a symbol it does not follow; a lossless one gets no snapshot; an
    unknown symbol is refused with its name."""
    engine = hb.Engine(
        symbols={"X": {"tick_size": "0.01"}, "Y": {"tick_size": "0.01"}}, book_events=True
    )
    got: list[hb.Event] = []
    plain: list[hb.Event] = []
    lock = threading.Lock()

    def on(events: list[hb.Event]) -> None:
        with lock:
            got.extend(events)

    def on_plain(events: list[hb.Event]) -> None:
        with lock:
            plain.extend(events)

    with engine:
        sub = engine.subscribe(on, kinds=["book"], symbols=["X"], conflate=True)
        lossless = engine.subscribe(on_plain, kinds=["book"], symbols=["X"])
        rng = np.random.default_rng(9)

        def orders(n: int) -> None:
            for _ in range(n):
                sym = "X" if rng.random() < 0.5 else "Y"
                side = "buy" if rng.random() < 0.5 else "sell"
                px = (
                    int(rng.integers(9000, 9040))
                    if side == "buy"
                    else int(rng.integers(9060, 9100))
                )
                engine.submit(sym, side, price_ticks=px, qty=int(rng.integers(1, 5)))

        orders(400)
        _settle(engine)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if got:
                    break
            time.sleep(0.05)
        time.sleep(0.1)  # Y's events, were any sent, would have come with X's
        with lock:
            assert got
            assert all(e.symbol == "X" for e in got)
        with pytest.raises(hb.UnknownSymbol) as err:
            sub.set_symbols(["X", "NOPE"])
        assert err.value.field == "symbols"
        assert err.value.value == "NOPE"
        sub.set_symbols(["X", "Y"])
        lossless.set_symbols(None)
        orders(400)
        _settle(engine)
        truth = _levels(engine, "Y")

        def rebuilt() -> tuple[dict[tuple[str, int], int], int]:
            book: dict[tuple[str, int], int] = {}
            seq, headers = 0, 0
            with lock:
                ys = [e for e in got if e.symbol == "Y"]
            for e in ys:
                if e.snapshot:
                    if e.side is None:
                        book.clear()
                        seq, headers = e.symbol_seq, headers + 1
                    else:
                        book[(e.side, e.price_ticks)] = e.qty
                    continue
                if e.symbol_seq <= seq:
                    continue  # already in the snapshot
                seq = e.symbol_seq
                if e.qty == 0:
                    book.pop((e.side or "", e.price_ticks), None)
                else:
                    book[(e.side or "", e.price_ticks)] = e.qty
            return book, headers

        deadline = time.monotonic() + 20
        while rebuilt()[0] != truth and time.monotonic() < deadline:
            time.sleep(0.05)
        book, headers = rebuilt()

        def plain_has_y() -> bool:
            with lock:
                return any(e.symbol == "Y" for e in plain)

        # The lossless subscriber's dispatcher delivers on its own thread.
        while not plain_has_y() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert headers == 1
        assert book == truth
        assert plain_has_y()
        with lock:
            ys = [e for e in got if e.symbol == "Y"]
            assert ys[0].snapshot
            assert ys[0].side is None
            assert ys[0].gap
            assert not any(e.snapshot for e in plain), "a lossless subscriber gets no snapshot"
        sub.close()
        lossless.close()
