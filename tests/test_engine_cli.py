"""``hftbook engine``: a synthetic flow through the engine, and a graceful stop on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hftbook.cli import main
from hftbook.engine_run import EngineRunConfig, run_engine


def test_bounded_run_accounts_for_every_order() -> None:
    cfg = EngineRunConfig(symbols=("A", "B", "C"), shards=2, max_orders=30_000, seconds=0, rate=0)
    r = run_engine(cfg)
    assert r.orders + r.cancels == 30_000
    ev = r.events_by_kind
    # every order is accepted or rejected exactly once; cancels add rejections (unknown ids)
    assert ev["accepted"] + r.rejections.get("breaker_open", 0) == r.orders
    assert ev["fill"] == 2 * ev["trade"]
    assert r.stop_report["clean"]
    assert r.stop_report["refused"] == 0
    assert r.interrupted is None
    assert r.stats["commands"] == 30_000
    assert set(r.stats["shards"][0]["latency"]) == {"queue_wait", "match", "publish"}
    assert r.stats["shards"][0]["latency"]["match"]["count"] > 0


def test_same_seed_same_flow() -> None:
    cfg = EngineRunConfig(symbols=("A",), max_orders=8_000, seconds=0, rate=0, seed=3)
    a, b = run_engine(cfg), run_engine(cfg)
    assert (a.orders, a.cancels) == (b.orders, b.cancels)
    assert a.events_by_kind == b.events_by_kind


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shards", "0"], "shards = 0"),
        (["--seconds", "0"], "--max-orders"),
        (["--rate", "-5"], "rate = -5"),
        (["--symbols", "A,,B"], "symbol"),
        (["--tick-size", "abc", "--max-orders", "10"], "abc"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["engine", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hftbook engine: error: "), err
    assert says in err, err
    assert err.count("\n") == 1


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_gracefully(sig: signal.Signals, status: int, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hftbook", "engine", "--seconds", "60", "--json", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    # wait until the engine runs: its shard thread exists (a thread count is not enough,
    # numpy's BLAS starts a thread at import, long before the engine on a loaded machine)
    deadline = time.monotonic() + 30
    task_dir = Path(f"/proc/{proc.pid}/task")

    def engine_started() -> bool:
        names = []
        for t in task_dir.iterdir():
            try:
                names.append((t / "comm").read_text())
            except OSError:  # the thread ended meanwhile
                pass
        return any(n.startswith("hftbook-shard") for n in names)

    while time.monotonic() < deadline and not engine_started():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert f"interrupted by {sig.name}, stopped gracefully" in stdout
    d = json.loads(out.read_text())
    assert d["interrupted"] == sig.name
    assert d["stop_report"]["clean"] is True
    assert d["stop_report"]["refused"] == 0
    assert d["stats"]["state"] == "stopped"
