"""``hftbook simulate`` on the engine: the report folder, determinism, user strategies."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

import hftbook as hb
from hftbook.cli import main

FILES = ("config.toml", "report.json", "report.html", "pnl.png", "inventory.png", "callbacks.png")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _run(out: Path, *args: str) -> dict[str, Any]:
    assert main(["simulate", "--no-progress", "--out", str(out), *args]) == 0
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    return data


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("run")
    return out, _run(out, "--sim-seconds", "0.05", "--seed", "5")


def test_default_short_run_writes_a_complete_folder(
    short_run: tuple[Path, dict[str, Any]],
) -> None:
    out, rep = short_run
    for name in FILES:
        assert (out / name).is_file(), name
    assert rep["stopped_by"] == "sim_seconds"
    assert rep["deterministic"] is True
    assert rep["seed"] == 5
    assert rep["symbols"] == ["AAPL", "MSFT", "GOOG"]
    assert set(rep["strategies"]) == {"MarketMaker", "TWAP"}
    assert rep["throughput"]["background_orders"] > 0
    assert rep["throughput"]["simulated_s"] == pytest.approx(0.05, abs=0.002)
    for s in rep["strategies"].values():
        assert s["error"] is None
        assert s["callbacks_us"]["count"] > 0
        assert s["risk_limits"]
    assert len(rep["event_hash"]) == 32
    assert len(rep["state_hash"]) == 32
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert "http://" not in page
    assert "https://" not in page
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["simulation"]["seed"] == 5
    assert cfg["risk"]["accounts"]["1"]["max_position"] > 0


def test_a_strategy_that_reacts_to_no_event_shows_no_reaction_time(
    short_run: tuple[Path, dict[str, Any]],
) -> None:
    """The TWAP's orders all come from timers: its reaction time is "-", not 0 µs."""
    out, rep = short_run
    assert rep["strategies"]["TWAP"]["reaction_us"]["count"] == 0
    assert rep["strategies"]["MarketMaker"]["reaction_us"]["count"] > 0
    page = (out / "report.html").read_text()
    twap_row = page[page.index("<td>TWAP</td>") :].split("</tr>")[0]
    assert "<td>- / -</td>" in twap_row
    mm_row = page[page.index("<td>MarketMaker</td>") :].split("</tr>")[0]
    assert "- / -" not in mm_row


def test_the_run_folders_journal_replays_to_the_reported_state(
    short_run: tuple[Path, dict[str, Any]],
) -> None:
    out, rep = short_run
    assert rep["journal"] == str(out / "journal")
    replay = hb.replay_journal(out / "journal")
    assert replay.state_hash == rep["state_hash"]
    assert replay.event_hash == rep["event_hash"]


def test_config_toml_reproduces_the_run(
    short_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, rep = short_run
    again = _run(tmp_path / "again", "--config", str(out / "config.toml"), "--sim-seconds", "0.05")
    assert again["seed"] == 5
    assert again["event_hash"] == rep["event_hash"]


def test_same_seed_and_max_ops_give_the_same_report(tmp_path: Path) -> None:
    args = ("--max-ops", "6000", "--seed", "11")
    a = _run(tmp_path / "a", *args)
    b = _run(tmp_path / "b", *args)
    assert a["stopped_by"] == b["stopped_by"] == "max_ops"
    for key in ("event_hash", "state_hash", "fills", "trades", "series"):
        assert a[key] == b[key], key
    for name, s in a["strategies"].items():
        t = b["strategies"][name]
        assert (s["pnl"], s["positions"], s["fills"]) == (t["pnl"], t["positions"], t["fills"])
    c = _run(tmp_path / "c", "--max-ops", "6000", "--seed", "12")
    assert c["event_hash"] != a["event_hash"]


def test_market_maker_inventory_stays_within_its_limit(
    short_run: tuple[Path, dict[str, Any]],
) -> None:
    _, rep = short_run
    mm = rep["strategies"]["MarketMaker"]
    limit = mm["max_inventory"]
    assert limit
    series = rep["series"]["inventory"]["MarketMaker"]
    assert len(rep["series"]["t_ns"]) == len(series["AAPL"]) > 2
    assert any(v != 0 for vs in series.values() for v in vs), "the market maker traded"
    assert max(abs(v) for vs in series.values() for v in vs) <= limit


USER_STRATEGY = '''
import hftbook as hb


class Bidder(hb.Strategy):
    """Buy 10 AAPL at the start, below the market."""

    def on_start(self):
        self.buy("AAPL", 10, price="99.00")
'''


def test_user_strategy_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(USER_STRATEGY)
    rep = _run(tmp_path / "out", "--sim-seconds", "0.02", "--strategy", f"{path}:Bidder")
    s = rep["strategies"]["Bidder"]
    assert s["account"] == 100
    assert s["error"] is None
    assert s["callbacks_us"]["count"] > 0


@pytest.mark.parametrize(
    ("source", "spec_class", "needle"),
    [
        ("def broken(:\n", "Bidder", "SyntaxError"),
        ("raise RuntimeError('boom')\n", "Bidder", "RuntimeError: boom"),
        (USER_STRATEGY, "Missing", "has no Missing"),
        ("class NotAStrategy:\n    pass\n", "NotAStrategy", "not a hftbook.Strategy"),
    ],
)
def test_broken_strategy_is_a_one_line_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    spec_class: str,
    needle: str,
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    code = main(
        ["simulate", "--no-progress", "--sim-seconds", "0.01", "--strategy", f"{path}:{spec_class}"]
    )
    assert code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("hftbook simulate: error: --strategy ")
    assert needle in err
    assert "\n" not in err
    assert "Traceback" not in captured.err


def test_missing_strategy_module_and_book_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--strategy", "no_such_module_xyz:X"]) == 2
    assert "ModuleNotFoundError" in capsys.readouterr().err
    assert main(["simulate", "--mix", "0.6,0.2,0.1,0.1"]) == 2
    assert "add --book" in capsys.readouterr().err
    assert main(["simulate", "--book", "--sim-seconds", "1"]) == 2
    assert "not with --book" in capsys.readouterr().err


def test_a_wall_time_run_says_it_is_not_reproducible(tmp_path: Path) -> None:
    rep = _run(tmp_path / "w", "--seconds", "0.3")
    assert rep["stopped_by"] == "wall_seconds"
    assert rep["deterministic"] is False
    assert rep["limits"]["wall_seconds"] == 0.3
    assert rep["throughput"]["run_wall_s"] < 5


def test_every_risk_reason_of_the_engine_counts_as_a_risk_rejection() -> None:
    from hftbook.simulate_engine import RISK_REASONS

    names = list(hb.ENGINE_REASONS)
    risk = set(names[names.index("max_order_qty") :]) - {"not_owner"}
    assert risk == set(RISK_REASONS)


def test_the_summary_never_cuts_a_cell(short_run: tuple[Path, dict[str, Any]]) -> None:
    """Piped: whole lines at the width they need; a narrow terminal: the strategies table
    transposed (one column per strategy), still whole."""
    import io

    from rich.console import Console

    from hftbook.simulate_engine import EngineSimResult, print_engine_summary

    _, rep = short_run
    res = EngineSimResult(report=rep, config={})
    pnl = rep["strategies"]["MarketMaker"]["pnl"]["total"]
    for terminal in (False, True):
        buf = io.StringIO()
        console = Console(file=buf, width=80, force_terminal=terminal, color_system=None)
        print_engine_summary(res, console)
        out = buf.getvalue()
        assert "…" not in out, out
        assert pnl in out
        assert rep["event_hash"] in out
        lines = out.splitlines()
        if terminal:
            assert max(len(line) for line in lines) <= 80, out
            assert any(line.lstrip("│ ").startswith("react p99") for line in lines), out
        else:
            assert any("react p99" in line and "cb max" in line for line in lines), out
