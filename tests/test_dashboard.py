"""The browser dashboard (``/``) in a real headless Chromium, and ``hftbook simulate --serve``.

Chromium is Debian's ``chromium`` (``scripts/test.sh`` installs it), driven by Playwright for
Python with ``executable_path`` (never ``playwright install``). The tests skip, saying why,
only when that browser cannot be launched at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import hftbook as hb
from hftbook.simulate_engine import EngineSimConfig, run_engine_simulation
from hftbook.strategies import MarketMaker

#: What the page shows for a side with no level (an en dash).
NONE = "\u2013"

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install '.[test]')"
)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (scripts/test.sh installs Debian's chromium)")
    pw = playwright_sync.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"], timeout=30_000)
    except Exception as e:  # the browser cannot run here at all
        pw.stop()
        pytest.skip(f"chromium at {exe} cannot be launched: {e}")
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    p = browser.new_page(viewport={"width": 1480, "height": 900})
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "WebSocket" not in m.text else None
        ),
    )
    yield p
    p.close()
    assert not errors, errors


def _simulation(rate: float = 4_000.0) -> hb.Simulation:
    sim = hb.Simulation(
        symbols={"AAPL": {"reference_price": "100.00"}, "MSFT": {"reference_price": "300.00"}},
        seed=11,
        rate_per_s=rate,
    )
    sim.add_strategy(MarketMaker(size=50, half_spread_ticks=2, max_inventory=500), account=1)
    return sim


def _ladder(page: Any) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
    """The page's ladder: (bids best first, asks best first) as (price, qty)."""
    rows = page.evaluate(
        """() => ['ladder-bids', 'ladder-asks'].map(id =>
            Array.from(document.getElementById(id).rows).map(r =>
                [r.cells[2].textContent, r.cells[1].childNodes[0].textContent]))"""
    )
    bids = [(Decimal(p), int(q.replace(",", ""))) for p, q in rows[0]]
    asks = [(Decimal(p), int(q.replace(",", ""))) for p, q in rows[1]][::-1]
    return bids, asks


def _engine_ladder(
    e: hb.Engine, sym: str, n: int = 15
) -> tuple[list[tuple[Decimal, int]], list[tuple[Decimal, int]]]:
    d = e.book(sym).depth(n)
    tick = e.tick_size(sym)
    side = lambda a: [(Decimal(int(r["price_ticks"])) * tick, int(r["qty"])) for r in a]  # noqa: E731
    return side(d.bids), side(d.asks)


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def _shown_touch(page: Any) -> tuple[str, str]:
    """The page's best bid and ask text, read together (one call into the page)."""
    got = page.evaluate(
        "() => [document.getElementById('best-bid').innerText,"
        " document.getElementById('best-ask').innerText]"
    )
    return str(got[0]), str(got[1])


def _touch_matches(page: Any, e: hb.Engine, sym: str) -> bool:
    """Whether the page's best bid and ask are the engine's now."""
    _seq, bid, ask = e.book(sym).top()
    shown = _shown_touch(page)
    if bid is None or ask is None or NONE in shown:
        return False
    return (Decimal(shown[0]), Decimal(shown[1])) == (bid.price, ask.price)


def _ladder_matches(page: Any, e: hb.Engine, sym: str, timeout: float = 1.0) -> None:
    """Wait until the page's 15 levels a side are the engine's (the market stands still).

    The touch can be right before the last deltas of deeper levels have arrived: the page
    shows the book as of the messages it has, so the whole ladder is waited for, not read
    once right after the touch matched.
    """
    _wait(lambda: _ladder(page) == _engine_ladder(e, sym), timeout, f"{sym} ladder")


def _run_a_while(sim: hb.Simulation, seconds: float, chunks: int) -> None:
    for _ in range(chunks):
        sim.run(seconds=seconds / chunks)
        time.sleep(0.02)


def test_dashboard_shows_the_engines_book_tape_and_strategies(page: Any, tmp_path: Path) -> None:
    sim = _simulation()
    sim.engine.start()
    with sim.engine.serve(stats_interval=0.1) as server:
        sim.run(seconds=0.05)  # the books fill before the page opens
        page.goto(server.dashboard_url + "?symbol=AAPL")
        _wait(lambda: page.inner_text("#conn") == "live", 10, "connected")
        headers = page.evaluate("() => document.contentType")
        assert headers == "text/html"
        # The market pauses: the page shows the engine's touch within one second.
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 1.0, "best bid/ask")
        _ladder_matches(page, sim.engine, "AAPL")
        trades0 = page.locator("#tape-rows tr.trade").count()
        count0 = int(page.inner_text("#trade-count").replace(",", ""))
        _run_a_while(sim, 0.2, 10)
        _wait(
            lambda: int(page.inner_text("#trade-count").replace(",", "")) > count0,
            5,
            "the tape grows",
        )
        assert page.locator("#tape-rows tr.trade").count() > trades0
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 1.0, "best bid/ask after trading")
        _ladder_matches(page, sim.engine, "AAPL")
        # The stats channel: the strategy's row (labelled with its name), lanes, breaker.
        _wait(lambda: "MarketMaker" in page.inner_text("#strategies"), 5, "strategy row")
        assert page.inner_text("#breaker") == "closed"
        assert page.locator("#lanes tbody tr").count() == sim.engine.shards
        # Another symbol: the ladder follows.
        page.select_option("#symbol", "MSFT")
        _wait(lambda: _touch_matches(page, sim.engine, "MSFT"), 2.0, "MSFT best bid/ask")
        _ladder_matches(page, sim.engine, "MSFT")
        page.select_option("#symbol", "AAPL")
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 2.0, "back to AAPL")
        _run_a_while(sim, 0.3, 6)
        time.sleep(0.5)  # a few stats messages for the latency chart
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        print(f"dashboard screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        # The page's own strategy figures are the engine's.
        pnl = sim.engine.pnl(1)["total"]["total"]
        _wait(
            lambda: (
                abs(float(page.locator("#strategies tbody td").nth(2).inner_text()) - float(pnl))
                < 0.01
            ),
            2.0,
            "strategy PnL",
        )
    sim.stop()


def test_dashboard_resyncs_after_a_feed_gap(page: Any) -> None:
    sim = _simulation(rate=8_000.0)
    sim.engine.start()
    with sim.engine.serve() as server:
        sim.run(seconds=0.05)
        # Test hook: the page drops every 5th l2 delta, as a lossy link would.
        page.goto(server.dashboard_url + "?symbol=AAPL&drop=5")
        _wait(lambda: page.inner_text("#conn") == "live", 10, "connected")
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 1.0, "first snapshot")
        _run_a_while(sim, 0.2, 10)
        _wait(lambda: int(page.inner_text("#resyncs")) > 0, 5, "a resync")
        dropped = page.evaluate("() => window.hftbookDashboard.dropped")
        assert dropped > 0
        # After the gaps the book is exact again (the page resubscribed and took a snapshot).
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 1.0, "best bid/ask after gaps")
        _wait(lambda: _ladder(page) == _engine_ladder(sim.engine, "AAPL"), 1.0, "ladder after gaps")
        assert page.evaluate("() => window.hftbookDashboard.synced")
    sim.stop()


def test_dashboard_samples_the_book_when_deltas_are_too_many(page: Any) -> None:
    sim = _simulation(rate=200_000.0)
    sim.engine.start()
    with sim.engine.serve() as server:
        sim.run(seconds=0.01)
        page.goto(server.dashboard_url + "?symbol=AAPL")
        _wait(lambda: page.inner_text("#conn") == "live", 10, "connected")
        assert page.text_content("#book-mode") == "streaming"
        # Flat out: far more deltas a second than the page streams.
        deadline = time.monotonic() + 8
        while page.text_content("#book-mode") == "streaming":
            assert time.monotonic() < deadline, page.evaluate(
                "() => window.hftbookDashboard.l2Rate"
            )
            sim.run(seconds=0.005)
        mode = page.text_content("#book-mode")
        assert mode is not None
        assert mode.startswith("sampled")
        # Sampled: the book is still the engine's, within a sample or so.
        _wait(lambda: _touch_matches(page, sim.engine, "AAPL"), 1.0, "best bid/ask, sampled")
        _wait(lambda: _ladder(page) == _engine_ladder(sim.engine, "AAPL"), 1.0, "ladder, sampled")
        sim.run(seconds=0.01)
        _wait(lambda: _ladder(page) == _engine_ladder(sim.engine, "AAPL"), 1.0, "next sample")
    sim.stop()


def _start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "hftbook", "simulate", "--no-progress", "--serve", "0"]
    cmd += ["--out", str(tmp_path / "run"), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    assert proc.stdout is not None
    url = ""
    lines = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        lines.append(line)
        m = re.match(r"dashboard: (http://127\.0\.0\.1:\d+/)\s*$", line)
        if m:
            url = m.group(1)
            break
        assert time.monotonic() < deadline, lines
    assert url, "".join(lines)
    return proc, url


def test_simulate_serve_prints_the_url_serves_the_page_and_ends_with_a_report(
    page: Any, tmp_path: Path
) -> None:
    proc, url = _start_cli(tmp_path, "--seconds", "4", "--speed", "0.05", "--symbols", "AAPL,MSFT")
    assert proc.stdout is not None
    try:
        page.goto(url)
        _wait(lambda: page.inner_text("#conn") == "live", 10, "connected")
        # Both read in one call: the market moves between two reads.
        deadline = time.monotonic() + 5
        shown = _shown_touch(page)
        while NONE in shown and time.monotonic() < deadline:
            time.sleep(0.05)
            shown = _shown_touch(page)
        assert NONE not in shown, f"a best bid and ask: {shown}"
        bid, ask = Decimal(shown[0]), Decimal(shown[1])
        assert bid < ask
        _wait(lambda: page.locator("#tape-rows tr.trade").count() > 0, 5, "trades on the tape")
        n0 = int(page.inner_text("#trade-count").replace(",", ""))
        _wait(lambda: int(page.inner_text("#trade-count").replace(",", "")) > n0, 3, "tape grows")
        _wait(lambda: "MarketMaker" in page.inner_text("#strategies"), 3, "strategies")
        metrics = urllib.request.urlopen(url + "metrics", timeout=5).read().decode()
        assert 'hftbook_strategy_pnl{strategy="MarketMaker",account="1"}' in metrics
        assert 'hftbook_strategy_pnl{strategy="TWAP",account="2"}' in metrics
        assert re.search(
            r'hftbook_strategy_position\{strategy="MarketMaker",symbol="(AAPL|MSFT)"\}', metrics
        )
        assert 'hftbook_strategy_reaction_seconds_count{strategy="MarketMaker"}' in metrics
        symbols = json.loads(urllib.request.urlopen(url + "symbols", timeout=5).read())
        assert [s["name"] for s in symbols["symbols"]] == ["AAPL", "MSFT"]
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["stopped_by"] == "wall_seconds"
    # Paced: about 4 s x 0.05 of simulated time.
    assert 0.1 < rep["throughput"]["simulated_s"] <= 0.21
    assert rep["strategies"]["MarketMaker"]["reaction_us"]["count"] > 0


def test_ctrl_c_ends_a_served_run_with_its_report(tmp_path: Path) -> None:
    proc, url = _start_cli(tmp_path, "--speed", "0.02")  # no --seconds: until Ctrl-C
    try:
        page = urllib.request.urlopen(url, timeout=5)
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "connect-src 'self' ws:" in csp
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["stopped_by"] == "interrupted"
    assert rep["throughput"]["simulated_s"] > 0
    assert "Traceback" not in out
    # The server is gone with the run.
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(url, timeout=2)


def test_serving_and_pacing_do_not_change_the_run() -> None:
    base = EngineSimConfig(sim_seconds=0.04, wall_seconds=None, seed=9)
    plain = run_engine_simulation(base, progress=False).report
    served = run_engine_simulation(
        EngineSimConfig(sim_seconds=0.04, wall_seconds=None, seed=9, serve=0, speed=0.2),
        progress=False,
    ).report
    assert served["stopped_by"] == plain["stopped_by"] == "sim_seconds"
    for key in ("event_hash", "state_hash", "fills", "trades", "series"):
        assert served[key] == plain[key], key
    # Paced: 0.04 s of simulated time took about 0.2 s of wall time.
    assert served["throughput"]["run_wall_s"] >= 0.18


def test_serve_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from hftbook.cli import main

    out = str(tmp_path / "run")
    assert main(["simulate", "--speed", "2", "--out", out]) == 2
    assert "--speed paces a served run: add --serve PORT" in capsys.readouterr().err
    assert main(["simulate", "--serve", "70000"]) == 2
    assert "not a port number" in capsys.readouterr().err
    assert main(["simulate", "--book", "--serve", "0"]) == 2
    assert "--serve runs on the engine" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulate", "--serve", str(port), "--seconds", "1", "--out", out]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_strategies_are_labelled_even_when_added_after_serve() -> None:
    class Quiet(hb.Strategy):
        pass

    sim = _simulation()
    sim.engine.start()
    with sim.engine.serve() as server:
        late = Quiet()
        late.name = "late-comer"
        sim.add_strategy(late, account=5)
        odd = Quiet()
        odd.name = "x" * 65  # cannot be a label: served all the same, not labelled
        sim.add_strategy(odd, account=6)
        sim.run(seconds=0.05)
        metrics = urllib.request.urlopen(server.http_url + "/metrics", timeout=5).read().decode()
        assert 'hftbook_strategy_pnl{strategy="late-comer",account="5"} 0.0' in metrics
        assert 'strategy="MarketMaker",account="1"' in metrics
        assert "x" * 65 not in metrics
        # The MarketMaker reacted: its times reached the histogram, in batches.
        m = re.search(
            r'hftbook_strategy_reaction_seconds_count\{strategy="MarketMaker"\} (\d+)', metrics
        )
        assert m is not None
        assert int(m.group(1)) == sim.strategies[0].reaction_stats()["count"]
        with pytest.raises(ValueError, match="1 to 64"):
            server.label_account(7, "")
        with pytest.raises(ValueError, match="non-negative"):
            server.observe_reaction("MarketMaker", [-1])
    sim.stop()
