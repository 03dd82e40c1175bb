"""Many Python producer threads into a two-shard ``hftbook.Engine``: every order accounted for
exactly once, per-symbol sequences gap-free, and each symbol's results identical to a
single-threaded ``hb.OrderBook`` fed the same commands in the order the engine ran them
(recovered from the events: ``symbol_seq`` orders a symbol's events, ``cmd_seq`` groups them
by command). Hypothesis draws the per-thread command lists; the GIL switch interval is cut so
that the threads really interleave."""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hftbook as hb
from engine_util import DEADLINE

pytestmark = pytest.mark.timeout(240)

SYMS = ("S0", "S1", "S2", "S3")

submit_cmd = st.tuples(
    st.just("submit"),
    st.sampled_from(SYMS),
    st.sampled_from(["buy", "sell"]),
    st.integers(-3, 3),  # price offset around 100.00 / 100.01: negative crosses
    st.integers(1, 5),
    st.sampled_from(["gtc", "gtc", "gtc", "ioc"]),
)
cancel_cmd = st.tuples(st.just("cancel"), st.integers(0, 50))
thread_cmds = st.lists(st.one_of(submit_cmd, submit_cmd, cancel_cmd), max_size=25)


@pytest.fixture(autouse=True)
def fast_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_producers(
    e: hb.Engine, plans: list[list[tuple[Any, ...]]]
) -> tuple[dict[int, tuple[Any, ...]], list[int]]:
    """Run one thread per plan; returns the submits by order id and the ids cancelled."""
    submits: dict[int, tuple[Any, ...]] = {}
    cancels: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(plans))

    def produce(plan: list[tuple[Any, ...]]) -> None:
        mine: list[int] = []
        try:
            barrier.wait(DEADLINE)
            for cmd in plan:
                if cmd[0] == "submit":
                    _, sym, side, off, qty, tif = cmd
                    ticks = 10_000 - off if side == "buy" else 10_001 + off
                    oid = e.submit(sym, side, price_ticks=ticks, qty=qty, tif=tif)
                    mine.append(oid)
                    with lock:
                        submits[oid] = (sym, side, ticks, qty, tif)
                elif mine:
                    oid = mine[cmd[1] % len(mine)]
                    e.cancel(oid)
                    with lock:
                        cancels.append(oid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(p,), daemon=True) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
        assert not t.is_alive()
    assert not errors, errors
    return submits, cancels


def check_run(
    e: hb.Engine,
    events: list[hb.Event],
    submits: dict[int, tuple[Any, ...]],
    cancels: list[int],
    cmd_of: dict[int, int],
) -> None:
    # Every order accounted for exactly once: its first event is its submit's outcome.
    by_order: dict[int, list[hb.Event]] = defaultdict(list)
    for ev in events:
        if ev.order_id:
            by_order[ev.order_id].append(ev)
    assert set(by_order) == set(submits)
    assert e.stats()["orders_issued"] == len(submits)
    for evs in by_order.values():
        assert evs[0].kind in ("accepted", "rejected"), evs
        assert sum(ev.kind == "accepted" for ev in evs) == (evs[0].kind == "accepted")
    n_cancel_outcomes = sum(
        1
        for evs in by_order.values()
        for ev in evs
        if (ev.kind == "cancelled" and ev.reason == "user")
        or (ev.kind == "rejected" and ev.reason == "unknown_order")
    )
    assert n_cancel_outcomes == len(cancels)
    assert not [ev for ev in events if ev.kind == "rejected" and ev.reason != "unknown_order"]

    per_symbol: dict[str, list[hb.Event]] = defaultdict(list)
    for ev in events:
        if ev.kind != "engine":
            per_symbol[ev.symbol].append(ev)
    for sym, evs in per_symbol.items():
        # Gap-free per-symbol sequence, in engine sequence order.
        assert [ev.symbol_seq for ev in evs] == list(range(1, len(evs) + 1)), sym
        assert [ev.seq for ev in evs] == sorted(ev.seq for ev in evs)
        replay_symbol(e, sym, evs, submits, cmd_of)


def replay_symbol(
    e: hb.Engine,
    sym: str,
    evs: list[hb.Event],
    submits: dict[int, tuple[Any, ...]],
    cmd_of: dict[int, int],
) -> None:
    """Feed the symbol's commands, in the order the engine ran them, to a fresh OrderBook:
    the same fills, the same cancels and the same final book."""
    groups: list[list[hb.Event]] = []
    for ev in evs:  # the events of one command are contiguous within a symbol
        if groups and cmd_of[groups[-1][0].seq] == cmd_of[ev.seq]:
            groups[-1].append(ev)
        else:
            groups.append([ev])
    book = hb.OrderBook(sym, tick_size="0.01")
    seen: set[int] = set()
    for g in groups:
        oid = g[0].order_id
        if oid not in seen:
            seen.add(oid)
            _, side, ticks, qty, tif = submits[oid]
            rep = book.submit(side, price_ticks=ticks, qty=qty, tif=tif, order_id=oid)
            want = [(f.maker_id, f.taker_id, f.price_ticks, f.qty) for f in rep.fills]
        else:
            want = []
            if book.order(oid) is not None:
                book.cancel(oid)
                assert [(ev.kind, ev.reason) for ev in g] == [("cancelled", "user")], g
            else:
                assert [(ev.kind, ev.reason) for ev in g] == [("rejected", "unknown_order")], g
        got = [
            (ev.maker_id, ev.taker_id, ev.price_ticks, ev.qty)
            for ev in g
            if ev.kind == "fill" and not ev.is_maker
        ]
        assert got == want, (sym, oid, g)
    ours, theirs = e.book(sym).depth(100), book.depth(100)
    for side in ("bids", "asks"):
        a, b = getattr(ours, side), getattr(theirs, side)
        assert (
            a[["price_ticks", "qty", "orders"]].tolist()
            == b[["price_ticks", "qty", "orders"]].tolist()
        ), (sym, side)


def collect(e: hb.Engine) -> tuple[list[hb.Event], dict[int, int]]:
    """Stop, then every event, and each event's command sequence number by event seq."""
    report = e.stop()
    assert report["clean"], report
    rows = e.poll(1 << 20)
    assert len(e.poll(10)) == 0
    cmd_of = dict(zip(rows["seq"].tolist(), rows["cmd_seq"].tolist(), strict=True))
    return e.to_events(rows), cmd_of


@settings(deadline=None, max_examples=30)
@given(plans=st.lists(thread_cmds, min_size=2, max_size=4))
def test_many_producers_two_shards_match_single_threaded_books(
    plans: list[list[tuple[Any, ...]]],
) -> None:
    e = hb.Engine(symbols={s: {"tick_size": "0.01"} for s in SYMS}, shards=2)
    assert set(e.symbol_shards) == {0, 1}
    e.start()
    submits, cancels = run_producers(e, plans)
    events, cmd_of = collect(e)
    check_run(e, events, submits, cancels, cmd_of)


def test_many_producers_bulk() -> None:
    """A bigger run of the same checks: 4 threads x 1500 commands."""
    import random

    plans = []
    for t in range(4):
        rng = random.Random(t)
        plan: list[tuple[Any, ...]] = []
        for _ in range(1500):
            if rng.random() < 0.75:
                plan.append(
                    (
                        "submit",
                        rng.choice(SYMS),
                        rng.choice(["buy", "sell"]),
                        rng.randint(-3, 3),
                        rng.randint(1, 5),
                        rng.choice(["gtc", "gtc", "ioc"]),
                    )
                )
            else:
                plan.append(("cancel", rng.randint(0, 1000)))
        plans.append(plan)
    e = hb.Engine(symbols={s: {"tick_size": "0.01"} for s in SYMS}, shards=2)
    e.start()
    submits, cancels = run_producers(e, plans)
    events, cmd_of = collect(e)
    check_run(e, events, submits, cancels, cmd_of)
