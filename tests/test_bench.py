"""``hftbook bench``: the quick run, its JSON/Markdown, skipped peers, and the agreement check."""

from __future__ import annotations

import doctest
import importlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import hftbook as hb
import hftbook.bench as bench
import hftbook.bench.peers as peers
from hftbook.bench import (
    ROWS,
    BenchConfig,
    Outcome,
    Workloads,
    derive_feeds,
    drivers,
    reference_w2,
    run_bench,
)
from hftbook.bench.peers import SortedDictBook, SortedDictDriver
from hftbook.cli import COMMANDS, main
from hftbook.cli.bench import BENCH

pytest.importorskip("sortedcontainers")  # in the test extra; the baseline is built on it

SAMPLE = 20_000
SEED = 42


@pytest.fixture(scope="module")
def wl() -> Workloads:
    return Workloads.generate(SAMPLE, SEED)


def test_bench_is_a_registered_command() -> None:
    assert BENCH in COMMANDS
    assert BENCH.name == "bench"


def test_rows_name_every_driver_in_table_order() -> None:
    assert [d.name for d in drivers()] == list(ROWS)
    builtin = {"hftbook", "hftbook apply_batch", "no-op Python call"}
    assert set(peers.PEER_DRIVERS) == set(ROWS) - builtin


@pytest.mark.parametrize(
    "module",
    ["hftbook.bench", "hftbook.bench._drivers", "hftbook.bench.peers", "hftbook.cli.bench"],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0


def test_cli_quick_run_writes_table_json_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    js, md = tmp_path / "b.json", tmp_path / "b.md"
    rows = "hftbook,hftbook apply_batch,pure-Python SortedDict,no-op Python call"
    code = main(
        [
            "bench",
            "--ops",
            "3000",
            "--reps",
            "2",
            "--rows",
            rows,
            "--memory-orders",
            "30000",
            "--json",
            str(js),
            "--markdown",
            str(md),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "W2 ops/s" in out
    assert "pure-Python SortedDict" in out
    data = json.loads(js.read_text())
    assert data["version"] == bench.SCHEMA_VERSION
    assert data["config"]["ops"] == 3000
    assert data["config"]["reps"] == 2
    assert set(data["machine"]) >= {"cpu", "cores", "python", "hftbook"}
    by = {r["name"]: r for r in data["rows"]}
    assert list(by) == rows.split(",")
    ref = data["reference"]
    assert ref["traded"] > 0
    assert ref["best_bid"] < ref["best_ask"]
    for name, r in by.items():
        assert r["status"] == "ok", (name, r["reason"])
        for w in ("w1", "w2"):
            s = r[w]
            assert len(s["reps_ops_per_s"]) == 2
            assert len(s["reps_cpu_ops_per_s"]) == 2
            assert s["cpu_ops_per_s"] > 0
            assert s["ops_per_s"] > 0
            if name == "hftbook apply_batch":
                assert s["p50_ns"] is None
            else:
                assert 0 < s["p50_ns"] <= s["p99_ns"] <= s["p999_ns"]
    assert by["hftbook"]["w2"]["ratio_to_hftbook"] == pytest.approx(1.0)
    assert by["hftbook"]["w1"]["wall_ratio_to_hftbook"] == pytest.approx(1.0)
    for name in ("hftbook", "hftbook apply_batch", "pure-Python SortedDict"):
        assert by[name]["agreement"]["verdict"] == "agree"
        assert by[name]["agreement"]["traded"] == ref["traded"]
    assert by["no-op Python call"]["agreement"]["verdict"] == "n/a"
    # memory measured in a child for the rows that hold orders, not for batch / floor rows
    assert 10 < by["hftbook"]["rss_bytes_per_order"] < 1000
    assert 10 < by["pure-Python SortedDict"]["rss_bytes_per_order"] < 5000
    assert by["hftbook apply_batch"]["rss_bytes_per_order"] is None
    text = md.read_text()
    assert "Built from 30,000 orders (below 1M" in text
    assert "| hftbook | " in text
    assert "Command: `hftbook bench --ops 3000 --reps 2" in text
    assert text.count("\n| ") >= 2 * len(by)


def test_missing_peer_is_skipped_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(peers.LiquibookDriver, "module", "hftbook_no_such_module")
    monkeypatch.setattr(peers.OrderBookDriver, "module", "hftbook_no_such_module_either")
    js = tmp_path / "b.json"
    code = main(
        [
            "bench",
            "--ops",
            "500",
            "--reps",
            "1",
            "--no-memory",
            "--no-progress",
            "--rows",
            "hftbook,liquibook,order-book",
            "--json",
            str(js),
        ]
    )
    assert code == 0
    by = {r["name"]: r for r in json.loads(js.read_text())["rows"]}
    assert by["hftbook"]["status"] == "ok"
    for name in ("liquibook", "order-book"):
        assert by[name]["status"] == "skipped"
        assert "not installed" in by[name]["reason"]
        assert "pip install 'hftbook[peers]'" in by[name]["reason"]
        assert by[name]["w2"] is None
        assert by[name]["agreement"] == {}
    # the install hint survives rich (its brackets are escaped, not read as a style)
    out = capsys.readouterr().out
    assert "Not installed, skipped: liquibook, order-book" in out
    assert "pip install 'hftbook[peers]'" in out


def test_every_row_runs_by_default_and_installed_peers_agree() -> None:
    res = run_bench(BenchConfig(ops=2000, reps=1, memory=False), progress=False)
    assert [r.name for r in res.rows] == list(ROWS)
    for r in res.rows:
        assert r.status in ("ok", "skipped"), (r.name, r.reason)
        if r.status == "ok" and r.kind != "floor":
            assert r.agreement["verdict"] == "agree", (r.name, r.agreement)


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--ops", "0"]) == 2
    assert main(["bench", "--rows", "hftbook,nope"]) == 2
    assert main(["bench", "--json", "/nonexistent-dir/x.json"]) == 2
    err = capsys.readouterr().err
    assert "--ops" in err
    assert "unknown row 'nope'" in err
    assert "cannot write --json" in err
    with pytest.raises(KeyError, match="unknown bench row"):
        BenchConfig(rows=("nope",))
    with pytest.raises(ValueError, match="reps must be >= 1"):
        BenchConfig(reps=0)


# ------------------------------------------------------------------ the agreement check


def test_sorteddict_baseline_agrees_with_hftbook_on_w2(wl: Workloads) -> None:
    ref = reference_w2(wl)
    out = SortedDictDriver().w2(wl, [0] * len(wl.ops))
    assert ref.traded > 0
    assert (out.traded, out.best_bid, out.best_ask) == (ref.traded, ref.best_bid, ref.best_ask)
    # ... and hftbook one call at a time agrees with its own apply_batch
    hb_out = bench.driver("hftbook").w2(wl, [0] * len(wl.ops))
    assert (hb_out.traded, hb_out.best_bid, hb_out.best_ask) == (
        ref.traded,
        ref.best_bid,
        ref.best_ask,
    )


def test_agreement_reports_a_disagreement() -> None:
    ref = {"traded": 100, "best_bid": 10, "best_ask": 12}
    d = SortedDictDriver()
    ok = bench._agreement(d, Outcome(1.0, 100, 10, 12), ref, 100)
    assert ok["verdict"] == "agree"
    bad = bench._agreement(d, Outcome(1.0, 99, 10, 13), ref, 99)
    assert bad["verdict"] == "disagree"
    assert bad["detail"] == "traded 99 vs 100; best_ask 13 vs 12"
    # a book fed hftbook's fills is judged on its top only
    fed = bench._agreement(peers.OrderBookDriver(), Outcome(1.0, None, 10, 12), ref, None)
    assert fed["verdict"] == "agree"
    assert "best bid/ask" in fed["detail"]


def test_sorteddict_book_price_time_priority() -> None:
    book = SortedDictBook()
    assert book.add(False, 101, 5, 1) == 0
    assert book.add(False, 101, 5, 2) == 0
    assert book.add(False, 102, 5, 3) == 0
    assert book.cancel(1)
    # a buy of 7 at 102 skips the cancelled head: 5 from order 2, then 2 from order 3
    assert book.add(True, 102, 7, 4) == 7
    assert book.best_ask() == 102
    assert book.best_bid() is None
    assert book.orders[3][0] == [3, 3]
    assert 2 not in book.orders
    assert not book.cancel(2)
    # IOC remainder does not rest; a market order sweeps without a limit
    assert book.add(True, 102, 10, 5, ioc=True) == 3
    assert book.best_ask() is None
    assert book.best_bid() is None
    assert book.add(True, 100, 4, 6) == 0
    assert book.add(False, None, 9, 7) == 4
    assert book.best_bid() is None
    assert book.orders == {}


def test_feeds_rebuild_hftbooks_final_book(wl: Workloads) -> None:
    """Replaying the MBO events / level updates given to the non-matching books yields
    exactly hftbook's final orders and levels."""
    mbo, l2 = derive_feeds(wl)
    assert len(mbo) == len(l2) == len(wl.ops)
    orders: dict[int, tuple[bool, int, int]] = {
        oid: (is_buy, price, qty) for _s, is_buy, price, qty, oid in wl.prefill
    }
    levels: dict[tuple[bool, int], int] = defaultdict(int)
    for _s, is_buy, price, qty, _oid in wl.prefill:
        levels[(is_buy, price)] += qty
    for evs, ups in zip(mbo, l2, strict=True):
        for action, is_buy, price, size, oid in evs:
            if action == 0:
                assert oid not in orders
                orders[oid] = (is_buy, price, size)
            elif action == 1:
                assert orders[oid][:2] == (is_buy, price)
                assert 0 < size < orders[oid][2]
                orders[oid] = (is_buy, price, size)
            else:
                assert orders.pop(oid)[:2] == (is_buy, price)
        for is_buy, price, size in ups:
            if size:
                levels[(is_buy, price)] = size
            else:
                del levels[(is_buy, price)]
    book = hb.OrderBook("W2", tick_size="0.01")
    book.apply_batch(wl.prefill_array)
    book.apply_batch(wl.ops_array)
    want: dict[int, tuple[bool, int, int]] = {}
    want_levels: dict[tuple[bool, int], int] = defaultdict(int)
    for side in ("buy", "sell"):
        for o in book.orders(side):
            key = (side == "buy", int(o["price_ticks"]))
            want[int(o["order_id"])] = (*key, int(o["qty"]))
            want_levels[key] += int(o["qty"])
    assert orders == want
    assert dict(levels) == dict(want_levels)


def test_memory_child_measures_a_fresh_process() -> None:
    m = bench.measure_memory("hftbook", 50_000, 1)
    assert m["orders"] == 50_000
    assert 10 < m["rss_bytes_per_order"] < 1000
    alloc: Any = m["alloc_bytes_per_order"]
    if hasattr(hb._core, "memory_stats"):
        assert alloc is not None
        assert alloc > 0
    else:
        assert alloc is None


def test_a_peer_that_raises_is_reported_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def boom(self: Any, wl: Workloads, lat: list[int]) -> Outcome:
        raise RuntimeError("peer broke")

    monkeypatch.setattr(SortedDictDriver, "w2", boom)
    js = tmp_path / "b.json"
    code = main(
        [
            "bench",
            "--ops",
            "500",
            "--reps",
            "2",
            "--no-memory",
            "--no-progress",
            "--rows",
            "hftbook,pure-Python SortedDict",
            "--json",
            str(js),
        ]
    )
    assert code == 1
    by = {r["name"]: r for r in json.loads(js.read_text())["rows"]}
    assert by["hftbook"]["status"] == "ok"
    assert by["hftbook"]["agreement"]["verdict"] == "agree"
    assert by["pure-Python SortedDict"]["status"] == "error"
    assert by["pure-Python SortedDict"]["reason"] == "w2: RuntimeError: peer broke"
