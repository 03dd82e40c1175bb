"""Order-flow statistics: hand-built tables with known answers, and the real LOBSTER samples."""

from __future__ import annotations

import doctest
import importlib.util
import io
import json
import math
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import hftbook as hb
from hftbook import flowstats
from hftbook.flowstats import (
    ADD,
    CANCEL,
    EXECUTION,
    NO_PRICE,
    PARTIAL_CANCEL,
    TABLE_KEYS,
    flow_stats,
    lobster_messages,
    pool,
)

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000_000  # ns per second


def table(rows: list[tuple[float, int, int, int, int, int, int, int]]) -> dict[str, Any]:
    """Rows of (t seconds, kind, order id, side, price, qty, best bid, best ask)."""
    cols = list(zip(*rows, strict=True))
    out = {k: np.array(c, dtype=np.int64) for k, c in zip(TABLE_KEYS[1:], cols[1:], strict=True)}
    out["ts_ns"] = np.array([round(t * S) for t in cols[0]], dtype=np.int64)
    return out


def test_docstring_examples(capsys: pytest.CaptureFixture[str]) -> None:
    result = doctest.testmod(flowstats)
    assert result.attempted > 0
    assert result.failed == 0, capsys.readouterr().out


def test_mix_rate_and_trade_share() -> None:
    t = table(
        [
            (0, ADD, 1, 1, 100, 10, 100, 102),
            (1, ADD, 2, -1, 102, 10, 100, 102),
            (2, PARTIAL_CANCEL, 1, 1, 100, 4, 100, 102),
            (3, CANCEL, 2, -1, 102, 10, 100, 102),
            (4, EXECUTION, 1, 1, 100, 6, 100, 102),
        ]
    )
    s = flow_stats(**t)
    assert s["message_rate_per_s"] == pytest.approx(5 / 4)
    assert s["mix"] == {"add": 0.4, "partial_cancel": 0.2, "cancel": 0.2, "execution": 0.2}
    assert s["trade_share"] == 0.2
    assert sum(s["mix"].values()) == pytest.approx(1.0)


def test_distance_inside_join_behind_and_empty_side() -> None:
    t = table(
        [
            (0, ADD, 1, 1, 102, 1, 100, 105),  # buy improving inside: d = -2
            (1, ADD, 2, 1, 100, 1, 100, 105),  # buy joins the bid: d = 0
            (2, ADD, 3, -1, 107, 1, 100, 105),  # sell two behind the ask: d = 2
            (3, ADD, 4, -1, 103, 1, 100, 105),  # sell improving inside: d = -2
            (4, ADD, 5, 1, 99, 1, NO_PRICE, 105),  # no bid: skipped
            (5, ADD, 6, -1, 120, 1, 100, NO_PRICE),  # no ask: skipped
        ]
    )
    ad = flow_stats(**t, max_bin=3)["add_distance"]
    assert ad["min"] == -2
    assert ad["pmf"] == [0.5, 0.0, 0.25, 0.0, 0.25, 0.0]  # d = -2 .. 3
    assert ad["tail_share"] == 0.0
    assert ad["tail_alpha"] is None
    # a fixed min counts the deeper improvements in its first bin
    assert flow_stats(**t, min_bin=-1, max_bin=3)["add_distance"]["pmf"] == [
        0.5,
        0.25,
        0.0,
        0.25,
        0.0,
    ]


def test_distance_tail() -> None:
    t = table([(i, ADD, i + 1, -1, 100 + d, 1, 90, 100) for i, d in enumerate([0, 1, 60, 80])])
    ad = flow_stats(**t, max_bin=50)["add_distance"]
    assert len(ad["pmf"]) == 51
    assert ad["pmf"][0] == ad["pmf"][1] == 0.25
    assert ad["tail_share"] == 0.5
    assert ad["tail_alpha"] == pytest.approx(1 + 2 / (math.log(60 / 50.5) + math.log(80 / 50.5)))


def test_lifetimes_and_end_states() -> None:
    t = table(
        [
            (0.0, ADD, 1, 1, 100, 10, 100, 102),
            (1.0, ADD, 2, 1, 100, 10, 100, 102),
            (1.5, ADD, 3, -1, 102, 10, 100, 102),
            (2.0, CANCEL, 1, 1, 100, 10, 100, 102),  # life 2 s
            (2.5, EXECUTION, 3, -1, 102, 4, 100, 102),
            (3.0, ADD, 4, -1, 103, 10, 100, 102),
            (3.5, EXECUTION, 3, -1, 102, 6, 100, 102),  # order 3 fully executed
            (4.0, EXECUTION, 4, -1, 103, 3, 100, 102),  # order 4 partly executed: open
            (5.0, CANCEL, 2, 1, 100, 10, 100, 102),  # life 4 s
            (6.0, CANCEL, 99, 1, 100, 10, 100, 102),  # unknown order: ignored
        ]
    )
    life = flow_stats(**t)["life"]
    assert life["cancelled_share"] == 0.5
    assert life["executed_share"] == 0.25
    assert life["open_share"] == 0.25
    assert life["log_mu"] == pytest.approx((math.log(2) + math.log(4)) / 2)
    assert life["log_sigma"] == pytest.approx((math.log(4) - math.log(2)) / 2)
    assert life["quantiles_s"]["p50"] == pytest.approx(3.0)
    assert life["quantiles_s"]["p10"] == pytest.approx(2.2)


def test_partially_executed_then_cancelled_counts_as_cancelled() -> None:
    t = table(
        [
            (0, ADD, 1, 1, 100, 10, 100, 102),
            (1, EXECUTION, 1, 1, 100, 4, 100, 102),
            (2, CANCEL, 1, 1, 100, 6, 100, 102),
        ]
    )
    life = flow_stats(**t)["life"]
    assert (life["cancelled_share"], life["executed_share"], life["open_share"]) == (1, 0, 0)


def test_aggressor_grouping_and_sizes() -> None:
    t = table(
        [
            (0, ADD, 1, -1, 102, 100, 100, 102),
            (1, ADD, 2, -1, 102, 100, 100, 102),
            (1, ADD, 3, 1, 100, 50, 100, 102),
            (2, EXECUTION, 1, -1, 102, 100, 100, 102),  # one buy aggressor sweeps 1 and 2 ...
            (2, EXECUTION, 2, -1, 102, 30, 100, 102),
            (2, EXECUTION, 3, 1, 100, 20, 100, 102),  # ... a sell aggressor at the same time
            (3, EXECUTION, 2, -1, 102, 70, 100, 102),  # a later buy aggressor
        ]
    )
    s = flow_stats(**t, size_coverage=0.5)
    assert s["marketable_share"] == 3 / (3 + 3)
    agg = s["aggressor_size"]
    # group sizes 130, 20, 70: each a third; 0.5 coverage needs two (ties: smaller sizes first)
    assert agg["values"] == [20, 70]
    assert agg["pmf"] == pytest.approx([1 / 3, 1 / 3])
    assert agg["rest_log_mu"] == pytest.approx(math.log(130))
    assert agg["rest_log_sigma"] == 0.0


def test_add_size_coverage() -> None:
    sizes = [100] * 14 + [200] * 4 + [7, 13]  # the two commonest cover exactly 90%
    t = table([(i, ADD, i + 1, 1, 100, q, 100, 102) for i, q in enumerate(sizes)])
    add = flow_stats(**t)["add_size"]
    assert add["values"] == [100, 200]
    assert add["pmf"] == pytest.approx([0.7, 0.2])
    assert add["rest_log_mu"] == pytest.approx((math.log(7) + math.log(13)) / 2)


def test_partial_cancel_fraction_of_remaining_size() -> None:
    t = table(
        [
            (0, ADD, 1, 1, 100, 100, 100, 102),
            (1, ADD, 2, -1, 102, 10, 100, 102),
            (2, ADD, 3, -1, 103, 10, 100, 102),
            (3, EXECUTION, 1, 1, 100, 20, 100, 102),
            (4, PARTIAL_CANCEL, 1, 1, 100, 40, 100, 102),  # 40 of 80
            (5, PARTIAL_CANCEL, 2, -1, 102, 2, 100, 102),  # 2 of 10
            (6, PARTIAL_CANCEL, 1, 1, 100, 20, 100, 102),  # 20 of 40
            (7, PARTIAL_CANCEL, 77, 1, 100, 5, 100, 102),  # unknown order: ignored
        ]
    )
    pc = flow_stats(**t)["partial_cancel"]
    assert pc["share_of_adds"] == pytest.approx(2 / 3)
    assert pc["fraction_mean"] == pytest.approx((0.5 + 0.2 + 0.5) / 3)


def test_spread_and_touch_depth() -> None:
    t = table(
        [
            (0, ADD, 1, 1, 100, 1, 100, 102),
            (1, ADD, 2, 1, 100, 1, 100, 106),
            (2, ADD, 3, 1, 100, 1, NO_PRICE, 106),
        ]
    )
    s = flow_stats(**t, bid_qty=[5, 9, 0])
    assert s["spread_ticks"] == {"p50": 4.0, "mean": 4.0}  # spreads 2 and 6
    assert s["touch_depth_lots"]["p50"] == 7.0
    assert flow_stats(**t)["touch_depth_lots"]["p50"] is None


def test_bad_tables() -> None:
    t = table([(0, ADD, 1, 1, 100, 1, 100, 102), (1, ADD, 1, 1, 100, 1, 100, 102)])
    with pytest.raises(ValueError, match="unique"):
        flow_stats(**t)
    t["ts_ns"] = t["ts_ns"][::-1].copy()
    with pytest.raises(ValueError, match="decrease"):
        flow_stats(**t)
    with pytest.raises(ValueError, match="same length"):
        flow_stats([0], [ADD], [1], [1], [100], [1], [100], [102, 103])


def test_empty_table() -> None:
    s = flow_stats(*([np.zeros(0, dtype=np.int64)] * 8))
    assert s["message_rate_per_s"] is None
    assert s["mix"]["add"] is None
    assert s["life"]["cancelled_share"] is None
    assert s["add_size"]["values"] == []


def test_pool_shifts_time_and_ids() -> None:
    a = table([(0, ADD, 5, 1, 100, 1, 100, 102), (2, CANCEL, 5, 1, 100, 1, 100, 102)])
    b = table([(100, ADD, 5, 1, 100, 1, 100, 102), (101, EXECUTION, 5, 1, 100, 1, 100, 102)])
    p = pool([a, b])
    assert p["ts_ns"].tolist() == [0, 2 * S, 2 * S + 1, 3 * S + 1]
    assert p["order_id"].tolist() == [5, 5, 6, 6]
    assert "bid_qty" not in p
    s = flow_stats(**p)
    assert s["life"]["cancelled_share"] == s["life"]["executed_share"] == 0.5


def test_lobster_messages_normalizes() -> None:
    msgs = (
        b"34200.5,1,11,100,5800000,1\n"
        b"34201.0,5,0,10,5801050,-1\n"  # hidden execution on a half tick
        b"34201.5,7,0,0,-1,-1\n"  # halt: dropped
        b"34202.0,3,11,100,5800000,1\n"
    )
    book = (
        b"5802300,100,5800000,300\n"
        b"5802300,100,5800000,300\n"
        b"5802300,100,5800000,300\n"
        b"9999999999,0,-9999999999,0\n"
    )
    t = lobster_messages(io.BytesIO(msgs), io.BytesIO(book))
    assert t["ts_ns"].tolist() == [34_200_500_000_000, 34_201_000_000_000, 34_202_000_000_000]
    assert t["kind"].tolist() == [ADD, EXECUTION, CANCEL]
    assert t["price_ticks"].tolist() == [58000, 58011, 58000]
    assert t["side"].tolist() == [1, -1, 1]
    assert t["best_bid"].tolist() == [NO_PRICE, 58000, 58000]
    assert t["best_ask"].tolist() == [NO_PRICE, 58023, 58023]
    assert t["bid_qty"].tolist() == [0, 300, 300]
    assert all(a.dtype == np.int64 for a in t.values())


# --- the real samples ---------------------------------------------------------------------------


def _shared_data() -> Path:
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else ROOT.parent / "shared" / "data"
    if not (root / "lobster").is_dir():
        pytest.skip(f"shared test data not found at {root} (set HFTBOOK_SHARED_DATA)")
    return root


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "calibrate_flow", ROOT / "scripts/calibrate_flow.py"
    )
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["calibrate_flow"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def calibration(script: ModuleType) -> dict[str, Any]:
    cal: dict[str, Any] = script.build_calibration(script.load_tables(_shared_data()))
    return cal


def test_real_samples_are_sane(calibration: dict[str, Any]) -> None:
    for name, s in [*calibration["symbols"].items(), ("fitted", calibration["fitted"])]:
        assert sum(s["mix"].values()) == pytest.approx(1.0, abs=1e-5), name
        assert 0.0 < s["trade_share"] < 0.2, name
        assert 0.0 < s["marketable_share"] < 0.3, name
        ad = s["add_distance"]
        assert ad["min"] == -50
        assert len(ad["pmf"]) == 101
        assert sum(ad["pmf"]) + ad["tail_share"] == pytest.approx(1.0, abs=1e-4), name
        life = s["life"]
        shares = life["cancelled_share"] + life["executed_share"] + life["open_share"]
        assert shares == pytest.approx(1.0, abs=1e-5), name
        assert life["cancelled_share"] > 0.5, name
        q = life["quantiles_s"]
        assert 0 < q["p10"] <= q["p50"] <= q["p90"] <= q["p99"] < 3600, name
        for size in ("add_size", "aggressor_size"):
            assert sum(s[size]["pmf"]) >= 0.9 - 1e-6, (name, size)
        assert s["spread_ticks"]["p50"] >= 1
    goog = calibration["symbols"]["GOOG"]
    assert goog["add_distance"]["pmf"][50] == max(goog["add_distance"]["pmf"])  # join: commonest
    assert 5 < goog["message_rate_per_s"] < 8  # 147,916 messages over 6.5 hours
    assert 100 in goog["add_size"]["values"]


def test_calibration_json_is_fresh(script: ModuleType, calibration: dict[str, Any]) -> None:
    on_disk = script.OUT.read_text()
    assert on_disk == script.to_json(calibration), (
        "rust/engine/src/sim/calibration.json is stale: run python scripts/calibrate_flow.py"
    )
    doc = json.loads(on_disk)
    assert doc["source"] == script.SOURCES
    assert doc["tick"] == 0.01
    assert set(doc["fitted"]) - {"note"} == set(doc["symbols"]["GOOG"])


def test_docs_table_is_fresh(script: ModuleType, calibration: dict[str, Any]) -> None:
    assert (
        script.render(calibration, markdown=True) in (ROOT / "docs/flow_calibration.md").read_text()
    )


# --- engine event streams -----------------------------------------------------------------------

EV_FIELDS = ("order_id", "side", "price_ticks", "qty", "leaves_qty", "flags", "cmd_seq")


def events(rows: list[tuple[Any, ...]], symbol: int = 0) -> np.ndarray:
    """Rows of (kind name, order id, side 0/1, price, qty, leaves, flags, cmd); cmd is the time.

    ``reason`` may follow as an eighth item (a reason name).
    """
    ev = np.zeros(len(rows), dtype=hb.EVENT_DTYPE)
    for i, (r, (kind, *vals)) in enumerate(zip(ev, rows, strict=True)):
        r["kind"] = hb.EVENT_KINDS.index(kind)
        for f, v in zip(EV_FIELDS, vals[:7], strict=False):
            r[f] = v
        if len(vals) > 7:
            r["reason"] = hb.ENGINE_REASONS.index(vals[7])
        r["ts_processed"] = r["cmd_seq"] * 1000
        r["symbol_seq"] = i + 1
        r["symbol"] = symbol
    return ev


def rows_of(t: dict[str, Any]) -> list[tuple[int, ...]]:
    keys = ("kind", "order_id", "side", "price_ticks", "qty", "best_bid", "best_ask", "bid_qty")
    return list(zip(*(t[k].tolist() for k in keys), strict=True))


# two resting asks (102: 5 lots, 103: 4 lots) and a bid (99: 7 lots)
BOOK = [
    ("accepted", 1, 1, 102, 5, 5, 0, 1),
    ("book", 0, 1, 102, 5, 1, 0, 1),
    ("accepted", 2, 1, 103, 4, 4, 0, 2),
    ("book", 0, 1, 103, 4, 1, 0, 2),
    ("accepted", 3, 0, 99, 7, 7, 0, 3),
    ("book", 0, 0, 99, 7, 1, 0, 3),
]
BOOK_ROWS = [
    (ADD, 1, -1, 102, 5, NO_PRICE, NO_PRICE, 0),
    (ADD, 2, -1, 103, 4, NO_PRICE, 102, 0),
    (ADD, 3, 1, 99, 7, NO_PRICE, 102, 0),
]


def test_engine_messages_sweep_then_rest_remainder() -> None:
    # a buy of 12 at 103 takes 5 at 102 and 4 at 103, then rests 3 at 103
    ev = events(
        [
            *BOOK,
            ("accepted", 4, 0, 103, 12, 12, 0, 4),
            ("fill", 4, 0, 102, 5, 7, 0, 4),
            ("fill", 1, 1, 102, 5, 0, 1, 4),
            ("trade", 0, 0, 102, 5, 0, 0, 4),
            ("fill", 4, 0, 103, 4, 3, 0, 4),
            ("fill", 2, 1, 103, 4, 0, 1, 4),
            ("trade", 0, 0, 103, 4, 0, 0, 4),
            ("book", 0, 0, 103, 3, 1, 0, 4),
            ("book", 0, 1, 102, 0, 0, 0, 4),
            ("book", 0, 1, 103, 0, 0, 0, 4),
        ]
    )
    t = flowstats.engine_messages(ev, 0)
    assert rows_of(t) == [
        *BOOK_ROWS,
        (EXECUTION, 1, -1, 102, 5, 99, 102, 7),
        (EXECUTION, 2, -1, 103, 4, 99, 103, 7),  # sees the touch the first one left
        (ADD, 4, 1, 103, 3, 99, NO_PRICE, 7),  # the remainder, after the executions
    ]
    assert t["ts_ns"].tolist() == [1000, 2000, 3000, 4000, 4000, 4000]
    assert set(t) == {*TABLE_KEYS, "bid_qty"}
    assert all(a.dtype == np.int64 for a in t.values())
    s = flow_stats(**t)
    assert s["marketable_share"] == 1 / 5  # one aggressor group, four adds
    assert s["life"]["executed_share"] == 0.5


def test_engine_messages_ioc_rest_is_not_a_cancel() -> None:
    ev = events(
        [
            *BOOK,
            # IOC sell of 10 at 99: 7 trade, 3 cancelled unfilled
            ("accepted", 4, 1, 99, 10, 10, 0, 4),
            ("fill", 4, 1, 99, 7, 3, 0, 4),
            ("fill", 3, 0, 99, 7, 0, 1, 4),
            ("trade", 0, 1, 99, 7, 0, 0, 4),
            ("cancelled", 4, 1, 99, 3, 0, 0, 4, "unfilled_ioc"),
            ("book", 0, 0, 99, 0, 0, 0, 4),
            # IOC buy of 2 at 102, fully filled
            ("accepted", 5, 0, 102, 2, 2, 0, 5),
            ("fill", 5, 0, 102, 2, 0, 0, 5),
            ("fill", 1, 1, 102, 2, 3, 1, 5),
            ("trade", 0, 0, 102, 2, 0, 0, 5),
            ("book", 0, 1, 102, 3, 1, 0, 5),
            # a user cancel of a resting order
            ("cancelled", 2, 1, 103, 4, 0, 0, 6, "user"),
            ("book", 0, 1, 103, 0, 0, 0, 6),
            # a rejected cancel, and a cancel of an order from before the stream
            ("rejected", 9, 2, 0, 0, 0, 0, 7, "unknown_order"),
            ("cancelled", 77, 0, 90, 6, 0, 0, 8, "user"),
            ("book", 0, 0, 90, 0, 0, 0, 8),
        ]
    )
    assert rows_of(flowstats.engine_messages(ev, 0)) == [
        *BOOK_ROWS,
        (EXECUTION, 3, 1, 99, 7, 99, 102, 7),
        (EXECUTION, 1, -1, 102, 2, NO_PRICE, 102, 0),
        (CANCEL, 2, -1, 103, 4, NO_PRICE, 102, 0),
        (CANCEL, 77, 1, 90, 6, NO_PRICE, 102, 0),
    ]


def test_engine_messages_modifies() -> None:
    ev = events(
        [
            *BOOK,
            # reduce 7 -> 4 at the same price: a partial cancel of 3
            ("modified", 3, 0, 99, 4, 4, 0, 4),
            ("book", 0, 0, 99, 4, 1, 0, 4),
            # move the bid to 100 with 4 lots: a cancel and a new add
            ("modified", 3, 0, 100, 4, 4, 0, 5),
            ("book", 0, 0, 99, 0, 0, 0, 5),
            ("book", 0, 0, 100, 4, 1, 0, 5),
            # and move it again, through the ask: 4 trade at 102, nothing rests
            ("modified", 3, 0, 102, 4, 4, 0, 6),
            ("fill", 3, 0, 102, 4, 0, 0, 6),
            ("fill", 1, 1, 102, 4, 1, 1, 6),
            ("trade", 0, 0, 102, 4, 0, 0, 6),
            ("book", 0, 0, 100, 0, 0, 0, 6),
            ("book", 0, 1, 102, 1, 1, 0, 6),
        ]
    )
    t = flowstats.engine_messages(ev, 0)
    assert rows_of(t) == [
        *BOOK_ROWS,
        (PARTIAL_CANCEL, 3, 1, 99, 3, 99, 102, 7),
        (CANCEL, 3, 1, 99, 4, 99, 102, 4),
        (ADD, -1, 1, 100, 4, NO_PRICE, 102, 0),
        (CANCEL, -1, 1, 100, 4, 100, 102, 4),
        (EXECUTION, 1, -1, 102, 4, NO_PRICE, 102, 0),
    ]
    s = flow_stats(**t)
    assert s["partial_cancel"]["share_of_adds"] == 1 / 4
    assert s["partial_cancel"]["fraction_mean"] == 3 / 7


def test_engine_messages_other_symbols_order_and_no_book_events() -> None:
    ev = events(BOOK)
    other = events([("accepted", 50, 0, 500, 1, 1, 0, 1), ("book", 0, 0, 500, 1, 1, 0, 1)], 1)
    mixed = np.concatenate([other, ev])[::-1]  # another symbol, and out of order
    assert rows_of(flowstats.engine_messages(mixed, 0)) == BOOK_ROWS
    assert flowstats.engine_messages(mixed, 1)["order_id"].tolist() == [50]
    # without book events an order rests when its command ends with lots left; no touch
    no_book = ev[ev["kind"] != hb.EVENT_KINDS.index("book")]
    t = flowstats.engine_messages(no_book, 0)
    assert t["kind"].tolist() == [ADD] * 3
    assert t["best_ask"].tolist() == [NO_PRICE] * 3
    empty = flowstats.engine_messages(ev[:0], 0)
    assert {k: v.tolist() for k, v in empty.items()} == {k: [] for k in (*TABLE_KEYS, "bid_qty")}


def test_engine_messages_of_a_simulation() -> None:
    sim = hb.Simulation(symbols={"AAPL": {"reference_price": "100.00"}}, seed=3)
    chunks: list[np.ndarray] = []
    sim.run(seconds=0.02, on_batch=chunks.append)
    sim.stop()
    ev = np.concatenate(chunks)
    t = flowstats.engine_messages(ev, 0)
    n = len(t["kind"])
    assert n > 1000
    kinds = hb.EVENT_KINDS
    maker_fills = (ev["kind"] == kinds.index("fill")) & (ev["flags"] & 1 == 1)
    assert (t["kind"] == EXECUTION).sum() == maker_fills.sum()
    user_cancels = (ev["kind"] == kinds.index("cancelled")) & (
        ev["reason"] == hb.ENGINE_REASONS.index("user")
    )
    assert (t["kind"] == CANCEL).sum() == user_cancels.sum()
    assert np.all(np.diff(t["ts_ns"]) >= 0)
    both = (t["best_bid"] != NO_PRICE) & (t["best_ask"] != NO_PRICE)
    assert np.all(t["best_bid"][both] < t["best_ask"][both])  # never crossed

    # replay the table as an order book: its touch before each message is the table's
    orders: dict[int, tuple[int, int, int]] = {}  # id -> (side, price, lots)
    for i, (k, oid, side, px, q, bb, ba, bq) in enumerate(rows_of(t)):
        bids = {p for s_, p, _ in orders.values() if s_ > 0}
        asks = {p for s_, p, _ in orders.values() if s_ < 0}
        touch = (max(bids, default=NO_PRICE), min(asks, default=NO_PRICE))
        assert (bb, ba) == touch, i
        assert bq == sum(q_ for s_, p, q_ in orders.values() if s_ > 0 and p == bb), i
        if k == ADD:
            orders[oid] = (side, px, q)
        else:
            s_, p, left = orders[oid]
            assert (s_, p) == (side, px), i
            assert q <= left, i
            if k == CANCEL or left == q:
                del orders[oid]
            else:
                orders[oid] = (s_, p, left - q)

    s = flow_stats(**t)
    assert sum(s["mix"].values()) == pytest.approx(1.0)
    life = s["life"]
    shares = life["cancelled_share"] + life["executed_share"] + life["open_share"]
    assert shares == pytest.approx(1.0)
    assert 0.0 < s["trade_share"] < 0.3
    assert 0.0 < s["marketable_share"] < 0.3


@pytest.fixture(scope="module")
def flow_vs_real(script: ModuleType) -> ModuleType:
    spec = importlib.util.spec_from_file_location("flow_vs_real", ROOT / "scripts/flow_vs_real.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_simulated_table_is_fresh(flow_vs_real: ModuleType) -> None:
    _shared_data()
    cal, simulated, _ = flow_vs_real.build()
    assert sum(simulated["mix"].values()) == pytest.approx(1.0, abs=1e-5)
    life = simulated["life"]
    shares = life["cancelled_share"] + life["executed_share"] + life["open_share"]
    assert shares == pytest.approx(1.0, abs=1e-5)
    table = flow_vs_real.render(cal, simulated, markdown=True)
    for doc in ("docs/flow_calibration.md", "docs/strategies.md"):
        assert table in (ROOT / doc).read_text(), (
            f"the simulated table in {doc} is stale: run python scripts/flow_vs_real.py --markdown"
        )
    assert 0 < flow_vs_real.PLOT.stat().st_size < 100_000
