"""The five market flows (``_core.workload_flow``): shape, determinism, replay, errors."""

from __future__ import annotations

import doctest
import threading
import time

import numpy as np
import pytest

import hftbook as hb
from book_state import snapshot
from hftbook._core import FLOW_NAMES, workload_flow
from test_batch import ADD, CANCEL, MODIFY, assert_same_as_per_call

FLOWS = ("normal", "static", "swing_25", "swing_40", "flash_crash")


def test_flow_names() -> None:
    assert FLOW_NAMES == FLOWS


@pytest.mark.parametrize("name", FLOWS)
def test_shape_and_determinism(name: str) -> None:
    n = 4_000
    a = workload_flow(name, n)
    assert a.dtype == hb.COMMAND_DTYPE
    assert a.ndim == 1
    assert a.flags.c_contiguous
    # About two messages per order: every order is added once, most are cancelled.
    assert 1.7 * n < len(a) < 2.3 * n
    kinds = a["kind"]
    assert set(np.unique(kinds).tolist()) == {ADD, CANCEL, MODIFY}
    adds = a[kinds == ADD]
    assert len(adds) == n
    # Ids numbered along the price path, arriving shuffled: a permutation of 1..n.
    assert sorted(adds["order_id"].tolist()) == list(range(1, n + 1))
    assert (adds["price_ticks"] >= 1).all()
    assert set(np.unique(adds["tif"]).tolist()) == {0, 1}  # GTC and IOC
    # Deterministic: the same arguments give the same bytes; the default seed is 23.
    assert workload_flow(name, n).tobytes() == a.tobytes()
    assert workload_flow(name, n, 23, True).tobytes() == a.tobytes()
    assert workload_flow(name, n, seed=24).tobytes() != a.tobytes()


def test_workload_arrays_have_zeroed_padding() -> None:
    # Bytes 42..48 of a row belong to no field: they are zero, so equal workloads are equal
    # byte for byte (they once carried the Rust struct's uninitialised padding).
    pre, ops = hb._core.workload_w2(2_000, 1)
    for a in (workload_flow("normal", 2_000), hb._core.workload_w1(2_000, 1), pre, ops):
        rows = np.frombuffer(a.tobytes(), dtype=np.uint8).reshape(-1, 48)
        assert not rows[:, 42:].any()
        assert a.ctypes.data % 8 == 0
    assert hb._core.workload_w1(2_000, 1).tobytes() == hb._core.workload_w1(2_000, 1).tobytes()


def test_names_take_dashes_too() -> None:
    assert workload_flow("swing-25", 500).tobytes() == workload_flow("swing_25", 500).tobytes()


def test_shuffled_ids() -> None:
    n = 3_000
    seq = workload_flow("normal", n, 5, shuffled_ids=False)
    shuf = workload_flow("normal", n, 5)
    ids = shuf[shuf["kind"] == ADD]["order_id"]
    assert ids.tolist() != list(range(1, n + 1))
    assert sorted(ids.tolist()) == list(range(1, n + 1))
    assert seq[seq["kind"] == ADD]["order_id"].tolist() == list(range(1, n + 1))
    # The same orders arrive in the same order (their lifecycles are drawn afterwards, so
    # the cancels and modifies differ).
    seq_adds = seq[seq["kind"] == ADD]
    shuf_adds = shuf[shuf["kind"] == ADD]
    for col in ("side", "price_ticks", "qty"):
        assert (seq_adds[col] == shuf_adds[col]).all(), col
    assert workload_flow("normal", n, 5, shuffled_ids=True).tobytes() == shuf.tobytes()


@pytest.mark.parametrize("name", FLOWS)
def test_apply_batch_matches_per_call(name: str) -> None:
    cmds = workload_flow(name, 1_500, 3)
    res = assert_same_as_per_call(cmds, lambda b, a: b.apply_batch(a))
    statuses = {hb.STATUS_NAMES[s] for s in res.status}
    assert {"new", "cancelled", "rejected"} <= statuses
    # The dead cancels and stale modifies are refused as unknown orders.
    rejected = res.reason[res.status == hb.STATUS_NAMES.index("rejected")]
    assert {hb.REASON_NAMES[r] for r in rejected} == {"unknown_order"}


@pytest.mark.parametrize("shuffled_ids", [False, True])
def test_apply_batch_replays_identically(shuffled_ids: bool) -> None:
    cmds = workload_flow("swing_40", 20_000, 11, shuffled_ids=shuffled_ids)
    books = [hb.OrderBook("F", tick_size="0.005", clock="manual") for _ in range(2)]
    results = [b.apply_batch(cmds) for b in books]
    a, b = results
    assert (a.status == b.status).all()
    assert a.fills.tobytes() == b.fills.tobytes()
    assert snapshot(books[0]) == snapshot(books[1])
    assert books[0].trade_count > 0
    books[0].check_invariants()


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match=r"flow 'swing_99'") as e:
        workload_flow("swing_99", 10)
    for name in FLOWS:
        assert name in str(e.value)


def test_generation_releases_the_gil() -> None:
    # Another thread notes the time about every millisecond while the main thread generates
    # a large flow. Holding the GIL all along, the call would leave it at most one switch
    # interval (5 ms) inside the call; released, the thread runs all through it.
    stamps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            if now - last >= 1e-3:
                stamps.append(now)
                last = now

    t = threading.Thread(target=tick)
    t.start()
    try:
        while not stamps:
            time.sleep(1e-3)
        t0 = time.perf_counter()
        workload_flow("swing_25", 600_000)
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join()
    inside = [x for x in stamps if t0 < x < t1]
    assert t1 - t0 > 0.03, "the call is too short to tell"
    assert inside
    assert inside[-1] - inside[0] > 0.5 * (t1 - t0), (len(inside), t1 - t0)


def test_docstring_example(capsys: pytest.CaptureFixture[str]) -> None:
    doc = workload_flow.__doc__
    assert doc is not None
    assert ">>>" in doc
    test = doctest.DocTestParser().get_doctest(doc, {}, "workload_flow", None, 0)
    result = doctest.DocTestRunner().run(test)
    assert result.attempted > 0
    assert result.failed == 0, capsys.readouterr().out
