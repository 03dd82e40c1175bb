"""``hftbook simulate``: determinism, the CLI contract, the flow's mix and end-of-run invariants."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hftbook.cli
import hftbook.simulate
from hftbook.cli import main
from hftbook.simulate import KIND_NAMES, SimulationConfig, SimulationResult, run_simulation

SHORT = 20_000
SEED = 7

TOP_KEYS = {
    "version",
    "config",
    "ops",
    "kind_counts",
    "orders_submitted",
    "cancels",
    "modifies",
    "trades",
    "volume",
    "crossing_adds",
    "fallbacks",
    "capped_adds",
    "resting_orders",
    "wall_time_s",
    "engine_time_s",
    "generation_time_s",
    "throughput_ops_s",
    "engine_throughput_ops_s",
    "timer_overhead_ns",
    "latency_ns",
    "books",
    "digest",
    "interrupted",
}
LATENCY_KEYS = {"count", "mean", "p50", "p90", "p99", "p99_9", "max"}
BOOK_KEYS = {"symbol", "bid_price", "bid_qty", "ask_price", "ask_qty", "spread", "orders", "trades"}


def _run(**kw: Any) -> SimulationResult:
    kw.setdefault("max_ops", SHORT)
    kw.setdefault("seed", SEED)
    return run_simulation(SimulationConfig(**kw), progress=False)


def _outcome(r: SimulationResult) -> tuple[object, ...]:
    return (r.ops, r.kind_counts, r.trades, r.volume, r.resting_orders, r.summaries, r.digest)


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `hftbook simulate` writes its reports under ./runs/ by default.
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def short_run() -> SimulationResult:
    return _run()


def _cli_json(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    out = tmp_path / name
    assert main(["simulate", "--book", "--no-progress", "--json", str(out), *args]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_outcome(short_run: SimulationResult) -> None:
    again = _run()
    assert _outcome(again) == _outcome(short_run)
    assert short_run.trades > 0
    assert short_run.volume > 0


def test_other_seed_other_outcome(short_run: SimulationResult) -> None:
    other = _run(seed=SEED + 1)
    assert other.digest != short_run.digest


def test_cli_runs_are_identical(tmp_path: Path) -> None:
    args = ("--max-ops", str(SHORT), "--seed", str(SEED))
    a = _cli_json(tmp_path, "a.json", *args)
    b = _cli_json(tmp_path, "b.json", *args)
    for key in ("ops", "kind_counts", "trades", "volume", "resting_orders", "books", "digest"):
        assert a[key] == b[key], key


def test_time_limited_run_replays_a_prefix_of_the_same_flow() -> None:
    """Wall-clock only chooses where a time-limited run stops, never what the flow is."""
    timed = run_simulation(SimulationConfig(seconds=0.3, seed=SEED), progress=False)
    assert timed.ops > 0
    assert not timed.interrupted
    fixed = _run(max_ops=timed.ops)
    assert _outcome(fixed) == _outcome(timed)


# ---------------------------------------------------------------------------------- the flow


def test_realized_mix_follows_the_configuration() -> None:
    mix = (0.55, 0.25, 0.08, 0.12)
    r = _run(max_ops=40_000, mix=mix, symbols=("AAPL",))
    warmup = r.config.warmup_orders * r.config.n_books
    flow = r.ops - warmup
    assert r.fallbacks < 0.01 * r.ops
    for kind, p in zip(KIND_NAMES, mix, strict=True):
        expected = flow * p + (warmup if kind == "add" else 0)
        assert abs(r.kind_counts[kind] - expected) < 0.015 * r.ops, (kind, r.kind_counts)
    assert r.orders_submitted == r.kind_counts["add"] + r.kind_counts["match"]
    assert r.ops == r.orders_submitted + r.cancels + r.modifies


def test_default_mix_gives_a_deep_two_sided_book(short_run: SimulationResult) -> None:
    r = short_run
    assert r.config.mix == SimulationConfig().mix
    for book in r.books:
        depth = book.depth(1_000_000)
        assert len(depth.bids) >= 20
        assert len(depth.asks) >= 20
    assert r.resting_orders >= 500
    assert r.crossing_adds > 0  # the books lag the moving mid and get picked off


def test_invariants_hold_at_the_end(short_run: SimulationResult) -> None:
    r = short_run
    assert r.resting_orders == sum(len(b) for b in r.books)
    assert r.trades == sum(b.trade_count for b in r.books)
    for book, s in zip(r.books, r.summaries, strict=True):
        book.check_invariants()
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is not None
        assert ask is not None
        assert bid.price_ticks < ask.price_ticks
        assert (s.bid_price, s.ask_price, s.spread) == (bid.price, ask.price, ask.price - bid.price)


def test_latency_samples(short_run: SimulationResult) -> None:
    r = short_run
    sizes = {k: r.latencies[k].size for k in KIND_NAMES}
    assert sizes == r.kind_counts
    for k in KIND_NAMES:
        assert r.latencies[k].dtype == np.int64
        assert (r.latencies[k] > 0).all()
    stats = r.latency_stats()
    assert set(stats) == {*KIND_NAMES, "all"}
    for s in stats.values():
        assert 0 < s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max
    assert stats["all"].count == r.ops
    assert r.engine_time_s == pytest.approx(sum(int(a.sum()) for a in r.latencies.values()) / 1e9)


def test_multi_symbol_rotation_and_lots() -> None:
    r = _run(symbols=("AAPL", "MSFT", "NVDA"), lot_size=10, tick_size="0.05")
    assert [s.symbol for s in r.summaries] == ["AAPL", "MSFT", "NVDA"]
    for book, s in zip(r.books, r.summaries, strict=True):
        book.check_invariants()
        assert s.trades > 0
        assert s.bid_qty % 10 == 0
        assert s.ask_qty % 10 == 0
        assert s.spread is not None
        assert s.spread % book.tick_size == 0
    # Each book has its own mid: they start 50% apart and stay apart.
    bids = [s.bid_price for s in r.summaries if s.bid_price is not None]
    assert len(bids) == 3
    assert bids == sorted(bids)


def test_invalid_config_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="seconds"):
        SimulationConfig(seconds=-1)
    with pytest.raises(ValueError, match="distinct"):
        SimulationConfig(symbols=("A", "A"))
    with pytest.raises(ValueError, match="sum to 1"):
        SimulationConfig(mix=(0.5, 0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="tick"):
        SimulationConfig(tick_size="-0.01")


# ----------------------------------------------------------------------------------- the CLI


def test_cli_writes_the_documented_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _cli_json(tmp_path, "run.json", "--max-ops", "5000", "--symbols", "AAPL,MSFT,NVDA")
    assert set(data) == TOP_KEYS
    assert data["ops"] == 5000
    assert data["config"]["max_ops"] == 5000
    assert data["config"]["symbols"] == ["AAPL", "MSFT", "NVDA"]
    assert set(data["latency_ns"]) == {*KIND_NAMES, "all"}
    for stats in data["latency_ns"].values():
        assert set(stats) == LATENCY_KEYS
    assert [b["symbol"] for b in data["books"]] == ["AAPL", "MSFT", "NVDA"]
    for b in data["books"]:
        assert set(b) == BOOK_KEYS
    assert sum(data["kind_counts"].values()) == data["ops"]
    out = capsys.readouterr().out
    for title in ("Simulation summary", "Latency per call (ns)", "Final top of book"):
        assert title in out


def test_cli_books_option(tmp_path: Path) -> None:
    data = _cli_json(tmp_path, "books.json", "--max-ops", "3000", "--books", "3")
    assert [b["symbol"] for b in data["books"]] == ["BOOK1", "BOOK2", "BOOK3"]


def test_cli_with_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--book", "--max-ops", "3000"]) == 0
    captured = capsys.readouterr()
    assert "Simulation summary" in captured.out
    assert "Traceback" not in captured.err


def test_cli_options_without_a_command_mean_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--book", "--max-ops", "1000", "--no-progress"]) == 0
    assert "Simulation summary" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--seconds", "0"],
        ["--seconds", "-3"],
        ["--seconds", "nan"],
        ["--seconds", "soon"],
        ["--max-ops", "0"],
        ["--symbols", ""],
        ["--symbols", "AAPL,,MSFT"],
        ["--symbols", "AA PL"],
        ["--symbols", "AAPL,AAPL"],
        ["--books", "0"],
        ["--books", "2", "--symbols", "AAPL"],
        ["--tick-size", "abc"],
        ["--tick-size", "0"],
        ["--mix", "0.5,0.5"],
        ["--mix", "0.5,0.5,0.5,0.5"],
        ["--json", "/nonexistent-dir/sub/run.json"],
        ["--no-such-option"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--book", "--max-ops", "100", "--no-progress", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("hftbook simulate: error: ")
    assert "\n" not in err
    assert "Traceback" not in err


def test_json_path_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--book", "--max-ops", "100", "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a directory" in err
    assert "\n" not in err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hftbook: error: ")
    assert "\n" not in err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out
    assert main(["simulate", "--book", "--help"]) == 0
    assert "--max-ops" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert hftbook.__version__ in capsys.readouterr().out


def _python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftbook", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_python_m_hftbook(tmp_path: Path) -> None:
    proc = _python_m("simulate", "--book", "--max-ops", "2000", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Simulation summary" in proc.stdout
    assert proc.stderr == ""


def test_python_m_hftbook_bad_argument(tmp_path: Path) -> None:
    proc = _python_m("simulate", "--book", "--seconds", "-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("hftbook simulate: error: ")


# ------------------------------------------------------------------------------------- docs


@pytest.mark.parametrize("module", [hftbook.simulate, hftbook.cli])
def test_docstring_examples(module: Any) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0
    assert failures == 0


def test_plain_hftbook_says_what_it_runs_and_where_it_writes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hftbook.cli as cli

    ran: list[object] = []
    fake = cli.Command(
        name="simulate", help="x", add_arguments=lambda p: None, run=lambda a: ran.append(a) or 0
    )
    monkeypatch.setattr(cli, "COMMANDS", (fake, *cli.COMMANDS[1:]))
    assert cli.main([]) == 0
    assert ran, "plain hftbook runs simulate"
    err = capsys.readouterr().err
    assert "running `hftbook simulate`" in err
    assert "runs/" in err
    assert "hftbook --help" in err


def test_an_interrupted_run_says_so_in_the_summary_and_the_json(tmp_path: Path) -> None:
    import dataclasses
    import io

    from rich.console import Console

    from hftbook.simulate import SimulationConfig, print_summary, run_simulation, write_reports

    res = run_simulation(SimulationConfig(max_ops=2000), progress=False)
    res = dataclasses.replace(res, interrupted=True)
    out = io.StringIO()
    print_summary(res, Console(file=out, width=120))
    assert "INTERRUPTED by Ctrl-C" in out.getvalue()
    write_reports(res, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["interrupted"] is True
