"""The latency profiler, LatencyReport, compare(), memory/CPU figures and ``hftbook perf``."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hftbook as hb
from hftbook.cli import main
from hftbook.profiling import (
    SCHEMA,
    STAT_NAMES,
    CpuMeter,
    LatencyReport,
    compare,
    comparisons,
    cpu_times,
    memory_stats,
    parse_threshold,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Stated percentile resolution: half a bucket (1/128) plus the HDR histogram's 1/1024.
RESOLUTION = 1 / 128 + 1 / 1024


def _book(profiling: bool = True) -> hb.OrderBook:
    b = hb.OrderBook("TEST", tick_size="0.01")
    b.profiling = profiling
    return b


def _report_of(samples: dict[str, np.ndarray]) -> LatencyReport:
    """A report of exactly these durations, recorded through the Rust profiler."""
    prof = _book().profiler()
    for kind, v in samples.items():
        prof.record(kind, np.ascontiguousarray(v, dtype=np.uint64))
    return LatencyReport(prof.snapshot())


def _lognormal(n: int, median: float, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(1, rng.lognormal(np.log(median), sigma, n)).astype(np.uint64)


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(("median", "sigma"), [(400.0, 0.6), (30.0, 1.0), (50_000.0, 2.0)])
def test_stats_match_numpy_within_the_stated_resolution(median: float, sigma: float) -> None:
    v = _lognormal(100_000, median, sigma, seed=int(median))
    st = _report_of({"stage_x": v})["stage_x"]
    assert st.count == v.size
    assert (st.min, st.max) == (int(v.min()), int(v.max()))
    assert st.mean == pytest.approx(float(v.mean()), rel=1e-12)
    assert st.stddev == pytest.approx(float(v.std()), rel=1e-6)
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99_9", 99.9), ("p99_99", 99.99)):
        want = float(np.percentile(v, q, method="inverted_cdf"))
        got = getattr(st, name)
        assert abs(got - want) <= RESOLUTION * want, (name, got, want)
    assert int(st.bucket_count.sum()) == v.size
    assert np.all(st.bucket_low <= st.bucket_high)
    assert np.all(st.bucket_high[:-1] < st.bucket_low[1:])


def test_small_values_are_exact() -> None:
    st = _report_of({"tiny": np.array([3, 3, 5, 9, 100, 127], dtype=np.uint64)})["tiny"]
    assert (st.min, st.p50, st.p90, st.max) == (3, 5, 127, 127)


def test_book_times_each_operation_kind() -> None:
    b = _book()
    ids = [b.submit("buy", price_ticks=10_000 - i, qty=5).order_id for i in range(20)]
    b.submit("sell", price_ticks=9_999, qty=7)  # trades -> "match"
    b.cancel(ids[5])
    b.modify(ids[6], qty=2)
    with pytest.raises(hb.UnknownOrder):  # failed calls are not recorded
        b.cancel(ids[5])
    b.submit_batch(np.zeros(0, dtype=hb.ORDER_DTYPE))
    rep = LatencyReport.of(b)
    counts = {o.name: o.count for o in rep.operations.values()}
    assert counts == {"add": 20, "cancel": 1, "modify": 1, "match": 1, "batch": 1}
    assert rep.clock_source in ("tsc", "monotonic")
    for o in rep.recorded():
        assert 0 < o.min <= o.p50 <= o.p99 <= o.max, o


def test_switched_off_records_nothing_and_reset_clears() -> None:
    b = _book(profiling=False)
    assert b.profiling is False
    for i in range(50):
        b.submit("sell", price_ticks=20_000 + i, qty=1)
    b.profiler().record("stage_x", 100)  # off: ignored too
    assert all(o.count == 0 for o in LatencyReport.of(b).operations.values())
    b.profiling = True
    b.submit("buy", price_ticks=20_000, qty=1)
    assert LatencyReport.of(b)["match"].count == 1
    b.reset_profile()
    assert all(o.count == 0 for o in LatencyReport.of(b).operations.values())
    b.submit("buy", price_ticks=10, qty=1)
    assert LatencyReport.of(b)["add"].count == 1


def test_bad_kind_names_raise_report_error() -> None:
    prof = _book().profiler()
    with pytest.raises(hb.ReportError, match="Bad Kind") as ei:
        prof.record("Bad Kind", 5)
    assert ei.value.field == "kind"
    for i in range(11):
        prof.record(f"k{i}", 5)
    with pytest.raises(hb.ReportError, match="at most 16"):
        prof.record("one_too_many", 5)


def test_snapshot_from_another_thread_while_batches_run() -> None:
    b = _book()
    prof = b.profiler()
    _, ops = hb._core.workload_w2(20_000, 3)
    pre, _ = hb._core.workload_w2(10, 3)
    b.apply_batch(pre)
    prof.reset()
    n_batches = 30
    chunks = np.array_split(ops, n_batches)
    done = threading.Event()

    def writer() -> None:
        for c in chunks:
            b.apply_batch(np.ascontiguousarray(c))
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    while not done.is_set():
        seen.append(LatencyReport(prof.snapshot())["batch"].count)
    t.join(timeout=60)
    assert not t.is_alive()
    final = LatencyReport(prof.snapshot())["batch"].count
    assert seen == sorted(seen), "counts went backwards"
    assert all(0 <= s <= n_batches for s in seen)
    assert final == n_batches
    assert prof.enabled
    assert repr(prof).startswith("Profiler(enabled=True")


# ------------------------------------------------------------------ report round trips


def test_json_dict_and_csv_round_trip(tmp_path: Path) -> None:
    rep = _report_of({"add": _lognormal(5000, 300, 0.5, 1), "cancel": _lognormal(50, 200, 0.2, 2)})
    again = LatencyReport.from_json(rep.to_json(tmp_path / "r.json"))
    assert again == rep
    assert LatencyReport.read(tmp_path / "r.json") == rep
    assert LatencyReport(rep.to_dict()) == rep
    csv_text = rep.to_csv(tmp_path / "r.csv")
    lines = csv_text.splitlines()
    assert lines[0] == "operation," + ",".join(STAT_NAMES)
    assert (tmp_path / "r.csv").read_text() == csv_text
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert int(row["p99"]) == rep[row["operation"]].p99
    assert "add: n=5000" in repr(rep)


def test_merge_pools_reports() -> None:
    a_v, b_v = _lognormal(3000, 300, 0.5, 1), _lognormal(1000, 900, 0.5, 2)
    a, b = _report_of({"add": a_v}), _report_of({"add": b_v})
    m = LatencyReport.merge([a, b], note="x")["add"]
    both = np.concatenate([a_v, b_v])
    assert (m.count, m.min, m.max) == (both.size, int(both.min()), int(both.max()))
    assert m.mean == pytest.approx(float(both.mean()), rel=1e-9)
    assert m.stddev == pytest.approx(float(both.std()), rel=1e-6)
    want = float(np.percentile(both, 99, method="inverted_cdf"))
    assert abs(m.p99 - want) <= want / 128


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(schema="nope/1"), "schema"),
        (lambda d: d.pop("operations"), "operations"),
        (lambda d: d["operations"]["add"].update(p99="fast"), "operations.add.p99"),
        (lambda d: d["operations"]["add"].pop("bucket_count"), "operations.add"),
        (lambda d: d["operations"]["add"].update(mean=-1.0), "operations.add.mean"),
        (lambda d: d["operations"].update({"Bad Name": {}}), "operations"),
        (lambda d: d["operations"]["add"].update(count=10**9), "operations.add.count"),
    ],
)
def test_invalid_reports_name_the_field(mutate: Any, field: str) -> None:
    d = _report_of({"add": _lognormal(100, 300, 0.5, 1)}).to_dict()
    mutate(d)
    with pytest.raises(hb.ReportError) as ei:
        LatencyReport(d)
    assert ei.value.field == field
    assert isinstance(ei.value, ValueError)


def test_unknown_operation_lookup() -> None:
    rep = _report_of({"add": _lognormal(10, 300, 0.5, 1)})
    with pytest.raises(hb.ReportError, match="unknown operation 'nope'"):
        rep["nope"]


def test_plot_and_html_files(tmp_path: Path) -> None:
    rep = _report_of({"add": _lognormal(5000, 300, 0.5, 1), "match": _lognormal(500, 2000, 1, 2)})
    png = rep.plot(tmp_path / "r.png")
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 10_000
    assert (tmp_path / "r.png").read_bytes() == png
    page = rep.to_html(tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert text == page
    assert text.startswith("<!DOCTYPE html>")
    assert text.rstrip().endswith("</html>")
    assert "data:image/png;base64,iVBORw0KGgo" in text  # the embedded PNG
    assert "<th>match</th>" in text
    assert f"{rep['add'].p99:,}" in text
    for external in ('src="http', 'href="http', "<script", "<link"):  # self-contained
        assert external not in text
    empty = LatencyReport({"schema": SCHEMA, "operations": {}})
    assert empty.plot().startswith(PNG_MAGIC)


# ------------------------------------------------------------------------------ compare


def test_compare_finds_an_injected_regression_only() -> None:
    base_v = _lognormal(20_000, 400, 0.5, 7)
    tail = base_v.copy()
    tail[np.argsort(tail)[-2000:]] *= np.uint64(3)  # the slowest 10 % get 3x slower
    base = _report_of({"add": base_v, "cancel": base_v})
    worse = _report_of({"add": tail, "cancel": base_v + np.uint64(4)})
    regs = compare(base, worse, {"p50": 0.05, "p99": 0.10})
    assert [(r.operation, r.stat) for r in regs] == [("add", "p99")]
    r = regs[0]
    assert r.regressed
    assert r.threshold == 0.10
    assert r.change > 1.0
    assert r.current == worse["add"].p99
    assert r.baseline == base["add"].p99
    assert compare(base, worse, {"cancel.p99": 0.10}) == []
    assert compare(base, base) == []
    checked = comparisons(base, worse, {"p50": 0.05})
    assert {(c.operation, c.stat) for c in checked} == {("add", "p50"), ("cancel", "p50")}


def test_compare_rejects_unknown_operation_and_stat() -> None:
    rep = _report_of({"add": _lognormal(100, 300, 0.5, 1)})
    with pytest.raises(hb.ReportError, match="unknown operation 'nope'"):
        compare(rep, rep, {"nope.p99": 0.1})
    with pytest.raises(hb.ReportError, match="unknown statistic"):
        compare(rep, rep, {"p98": 0.1})
    assert parse_threshold("add.p99=12.5%") == ("add.p99", 0.125)
    for bad in ("p99", "p99=", "p99=-5%", "p99=abc", "=5%"):
        with pytest.raises(hb.ReportError):
            parse_threshold(bad)


# ------------------------------------------------------------------------- memory, CPU


def test_memory_stats_track_the_books() -> None:
    before = memory_stats()
    b = hb.OrderBook("MEM")
    b.submit_batch(np.zeros(0, dtype=hb.ORDER_DTYPE))
    cmds = hb._core.workload_w1(50_000, 1)
    b.apply_batch(cmds)
    mid = memory_stats()
    assert mid["live_bytes"] - before["live_bytes"] > 50_000 * 24
    assert mid["allocations"] > before["allocations"]
    assert mid["peak_bytes"] >= mid["live_bytes"]
    del b
    after = memory_stats()
    assert after["live_bytes"] < mid["live_bytes"]
    assert after["deallocations"] > mid["deallocations"]


def test_cpu_times_and_meter() -> None:
    t = cpu_times()
    me = threading.get_native_id()
    assert any(th["tid"] == me for th in t["threads"])
    assert t["thread"] is not None
    assert t["thread"]["user_s"] >= 0
    m = CpuMeter()
    x = 0
    while m.read().user_s + m.read().system_s < 0.05:
        x += sum(range(10_000))
    u = m.read()
    assert u.percent > 0
    mine = next(th for th in u.threads if th.tid == me)
    assert mine.user_s + mine.system_s > 0
    assert mine.percent > 0
    assert json.dumps(u.to_dict())


# --------------------------------------------------------------------------------- CLI


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Path, Path, Path]:
    base_v = _lognormal(10_000, 400, 0.5, 1)
    slow = base_v * np.uint64(2)
    base, same, worse = tmp_path / "base.json", tmp_path / "same.json", tmp_path / "worse.json"
    r = _report_of({"add": base_v})
    r.to_json(base)
    r.to_json(same)
    _report_of({"add": slow}).to_json(worse)
    return base, same, worse


def test_perf_report_prints_and_exports(
    reports: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _, _ = reports
    out_html, out_png, out_csv = tmp_path / "o.html", tmp_path / "o.png", tmp_path / "o.csv"
    args = ["perf", "report", str(base), "--html", str(out_html), "--png", str(out_png)]
    assert main([*args, "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "Latency per operation" in out
    assert "add" in out
    assert out_png.read_bytes().startswith(PNG_MAGIC)
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert out_csv.read_text().startswith("operation,count")


def _big_report(tmp_path: Path) -> tuple[Path, LatencyReport]:
    """Wide numbers in every column: 4,611,686-style counts and nanoseconds."""
    rep = _report_of(
        {
            "add": _lognormal(4_611_686, 105_000, 1.5, 2),
            "cancel": _lognormal(1_000, 250_000, 1.0, 3),
        }
    )
    path = tmp_path / "big.json"
    rep.to_json(path)
    return path, LatencyReport.read(path)


def _numbers(rep: LatencyReport) -> list[str]:
    from hftbook.cli.perf import _fmt

    return [_fmt(v) for o in rep.operations.values() for v in o.stats().values()]


def test_perf_report_never_cuts_a_number_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output not a terminal, 80 columns: the whole table, every number whole."""
    path, rep = _big_report(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["perf", "report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    assert "4,611,686" in out
    for n in _numbers(rep):
        assert f" {n} " in out, n
    header = next(line for line in out.splitlines() if "count" in line)
    assert "op" in header
    assert "p99.99" in header  # one row per operation, as on a wide terminal


@pytest.mark.parametrize("width", [80, 60, 40])
def test_perf_report_on_a_narrow_terminal_keeps_numbers_whole(width: int, tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from hftbook.cli.perf import print_whole, report_table

    _, rep = _big_report(tmp_path)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    print_whole(console, report_table(rep), narrow=report_table(rep, by_stat=True))
    out = buf.getvalue()
    assert "…" not in out
    for n in _numbers(rep):
        assert f" {n} " in out, n
    if width == 80:  # a statistic per row fits in 80 columns
        assert max(len(line) for line in out.splitlines()) <= 80


def test_perf_compare_never_cuts_a_number_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hftbook.cli.perf import _fmt

    path, rep = _big_report(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["perf", "compare", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    for c in comparisons(rep, rep):
        assert f" {_fmt(c.baseline)} " in out


def test_perf_compare_exit_codes(
    reports: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base, same, worse = reports
    assert main(["perf", "compare", str(base), str(same)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["perf", "compare", str(base), str(worse), "--threshold", "p99=10%"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out
    assert "1 regression(s)" in out
    args = ["perf", "compare", str(base), str(worse), "--threshold", "p99=150%"]
    assert main(args) == 0


@pytest.mark.parametrize(
    "args", [["perf", "--help"], ["perf", "report", "--help"], ["perf", "compare", "--help"]]
)
def test_perf_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hftbook perf")
    if "compare" in args:
        assert "default p50=10%, p99=10%" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["perf", "report", "{missing}"], "cannot read report"),
        (["perf", "report", "{garbage}"], "is not a latency report: not JSON"),
        (["perf", "report", "{wrong}"], "schema: expected 'hftbook.latency/1'"),
        (["perf", "compare", "{base}", "{missing}"], "cannot read report"),
        (
            ["perf", "compare", "{base}", "{base}", "--threshold", "nope.p99=5%"],
            "unknown operation",
        ),
        (["perf", "compare", "{base}", "{base}", "--threshold", "p99=lots"], "not a non-negative"),
        (["perf", "compare", "{base}", "{base}", "--threshold", "p42=5%"], "unknown statistic"),
        (["perf", "report", "{base}", "--png", "{missing}/x/y.png"], "cannot write --png"),
        (["perf"], "a command is required"),
    ],
)
def test_perf_bad_input_is_one_line_exit_2(
    args: list[str],
    message: str,
    reports: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "wrong.json").write_text(json.dumps({"schema": "x", "operations": {}}))
    paths = {
        "missing": str(tmp_path / "missing.json"),
        "garbage": str(tmp_path / "garbage.json"),
        "wrong": str(tmp_path / "wrong.json"),
        "base": str(reports[0]),
    }
    assert main([a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert err.startswith("hftbook perf")


# ---------------------------------------------------------------------------- simulate


def test_simulate_latency_png_says_it_shows_the_rust_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """latency.png is titled and labelled as the core's time inside the book, not per call."""
    from hftbook.simulate import SimulationConfig, run_simulation, summary_tables, write_reports

    calls: list[dict[str, Any]] = []
    plot = LatencyReport.plot

    def spy(self: LatencyReport, *args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return plot(self, *args, **kwargs)

    monkeypatch.setattr(LatencyReport, "plot", spy)
    res = run_simulation(SimulationConfig(max_ops=2_000), progress=False)
    write_reports(res, tmp_path)
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)
    (kwargs,) = [c for c in calls if "subject" in c]  # to_html draws one too
    assert res.latency_report is not None
    fig = res.latency_report.figure(**kwargs)
    title = fig.get_suptitle()
    assert "Rust core" in title
    assert "time inside the book per operation" in title
    assert "Python call overhead excluded" in title
    assert [ax.get_xlabel() for ax in fig.axes] == [
        "time inside the Rust book (ns, log scale)",
        "percentile",
    ]
    assert fig.axes[1].get_ylabel() == "time inside the Rust book (ns, log scale)"
    assert [ax.get_title() for ax in fig.axes] == [
        "Time inside the Rust book: histogram",
        "Time inside the Rust book by percentile",
    ]
    captions = {t.title: t.caption for t in summary_tables(res)}
    assert "call overhead included" in str(captions["Latency per call (ns)"])
    assert "latency.png" in str(captions["Core latency per operation (Rust, TSC, ns)"])


def test_simulate_writes_the_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run1"
    args = [
        "simulate",
        "--book",
        "--max-ops",
        "4000",
        "--seed",
        "3",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main([*args, "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert f"reports: {out}/" in printed
    assert "Core latency per operation" in printed
    rep = LatencyReport.read(out / "latency.json")
    summary = json.loads((out / "summary.json").read_text())
    assert sum(o.count for o in rep.operations.values()) == summary["ops"] == 4000
    assert rep["batch"].count == 0
    assert rep.meta["source"] == "hftbook simulate"
    assert rep.meta["ops"] == 4000
    assert summary["memory"]["peak_bytes"] >= summary["memory"]["live_bytes_end"] > 0
    assert summary["cpu"]["percent"] > 0
    assert (out / "latency.png").read_bytes().startswith(PNG_MAGIC)
    html_text = (out / "latency.html").read_text()
    assert "data:image/png;base64," in html_text
    assert "peak_bytes" in html_text
    # The report is what `hftbook perf` reads.
    assert main(["perf", "report", str(out / "latency.json")]) == 0
    # Profiling changes no trading result: the same seed gives the same digest.
    again = tmp_path / "run2"
    assert main([*args[:-1], str(again), "--json", str(tmp_path / "t.json")]) == 0
    first = json.loads((tmp_path / "s.json").read_text())
    second = json.loads((tmp_path / "t.json").read_text())
    assert first["digest"] == second["digest"]
    assert first["trades"] == second["trades"]


def test_simulate_default_out_dir_and_no_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--book", "--max-ops", "1000", "--no-progress"]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / "latency.json").is_file()
    assert main(["simulate", "--book", "--max-ops", "1000", "--no-progress"]) == 0
    assert len(list((tmp_path / "runs").iterdir())) == 2
    assert main(["simulate", "--book", "--max-ops", "1000", "--no-progress", "--no-reports"]) == 0
    assert len(list((tmp_path / "runs").iterdir())) == 2
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["simulate", "--book", "--max-ops", "10", "--out", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert "cannot write --out" in err
    assert err.count("\n") == 1
