"""``hftbook bench``: hftbook side by side with the order books a user would pick instead.

Runs the seeded W1 (non-crossing adds) and W2 (adds, cancels and marketable orders on a
prefilled book) streams through hftbook -- one call per op, and one ``apply_batch`` -- and
through every installed peer (``liquibook``, ``limit-order-book``, ``nautilus-trader``,
``order-book``, a pure-Python SortedDict book, and a no-op call as the floor), interleaved in
one process (row A, B, C, ... then again), and reports medians over the repetitions:

* ops per CPU second of the process and per wall second over the whole loop, and per-call
  latency percentiles (p50/p99/p99.9), each call timed with one :func:`time.perf_counter_ns`
  pair (included in the rates). On a shared machine the wall rate also counts the time the
  process waited for a core; the CPU rate does not, so the table leads with it;
* the ratio to hftbook per call, taken per repetition (same rep, back to back) on the CPU
  rates, then the median;
* bytes per resting order: RSS growth while W1 is built in a fresh child process (plus the
  allocator's live bytes for hftbook when the extension exposes ``memory_stats``);
* agreement: every matching peer must end W2 with the same traded quantity and the same best
  bid / ask as hftbook; the books that do not match (fed hftbook's fills) are checked on the
  final best bid / ask only.

A peer that is not installed is reported as skipped, never as a failure. The workloads, the
driver interface and hftbook's own rows are in :mod:`hftbook.bench._drivers` (re-exported
here); the peers' drivers in :mod:`hftbook.bench.peers`, an optional module imported only
when a peer row runs. The command line is :mod:`hftbook.cli.bench`.

    >>> from hftbook.bench import BenchConfig, run_bench
    >>> res = run_bench(BenchConfig(ops=300, reps=1, rows=("hftbook",), memory=False),
    ...                 progress=False)
    >>> [r.status for r in res.rows], res.rows[0].agreement["verdict"]
    (['ok'], 'agree')
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import hftbook as hb
from hftbook import _core
from hftbook.bench._drivers import (
    PEERS_INSTALL,
    PEERS_MODULE,
    ROWS,
    Driver,
    Outcome,
    Reference,
    Row,
    Workloads,
    _rows,
    derive_feeds,
    driver,
    drivers,
    reference_w2,
)

__all__ = [
    "PEERS_INSTALL",
    "PEERS_MODULE",
    "ROWS",
    "BenchConfig",
    "BenchResult",
    "Driver",
    "Outcome",
    "Reference",
    "RowResult",
    "Stats",
    "Workloads",
    "derive_feeds",
    "driver",
    "drivers",
    "print_summary",
    "reference_w2",
    "run_bench",
    "to_markdown",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class BenchConfig:
    """What to run. ``rows`` None means every row; ``memory_orders`` defaults to ``w1_ops``."""

    ops: int = 100_000
    w1_ops: int | None = None
    reps: int = 3
    seed: int = 42
    rows: tuple[str, ...] | None = None
    memory: bool = True
    memory_orders: int | None = None

    def __post_init__(self) -> None:
        for name in ("ops", "reps"):
            v = getattr(self, name)
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        for name in ("w1_ops", "memory_orders"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.rows is not None:
            for r in self.rows:
                driver(r)  # KeyError naming the unknown row


@dataclass
class Stats:
    """Medians over the repetitions of one row on one workload.

    ``ops_per_s`` is ops over the wall time of the loop; ``cpu_ops_per_s`` ops over the CPU
    time the process used meanwhile (leaves out waits for a core on a shared machine). The
    ratios are taken per repetition against hftbook (per call) in the same repetition, then
    the median: ``ratio_to_hftbook`` on CPU rates, ``wall_ratio_to_hftbook`` on wall rates.
    """

    ops_per_s: float
    cpu_ops_per_s: float | None
    p50_ns: float | None
    p99_ns: float | None
    p999_ns: float | None
    ratio_to_hftbook: float | None
    wall_ratio_to_hftbook: float | None
    reps_ops_per_s: list[float]
    reps_cpu_ops_per_s: list[float]


@dataclass
class RowResult:
    """One contender's figures (``status``: ok, skipped or error)."""

    name: str
    package: str | None
    version: str | None
    kind: str
    what: str
    status: str
    reason: str | None = None
    w1: Stats | None = None
    w2: Stats | None = None
    rss_bytes_per_order: float | None = None
    alloc_bytes_per_order: float | None = None
    agreement: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class BenchResult:
    """Everything a run measured; :meth:`to_dict` is the JSON written by ``--json``."""

    config: BenchConfig
    machine: dict[str, Any]
    reference: dict[str, Any]
    rows: list[RowResult]
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (schema ``version`` 1)."""
        return {
            "version": SCHEMA_VERSION,
            "config": asdict(self.config),
            "machine": self.machine,
            "reference": self.reference,
            "rows": [asdict(r) for r in self.rows],
            "wall_s": self.wall_s,
        }

    def row(self, name: str) -> RowResult:
        """The row called ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load average (1/5/15 min), OS, Python and package versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hftbook": hb.__version__,
    }


# -------------------------------------------------------------------------------- progress


class _Bar:
    """A rich progress bar (or nothing); refreshed between timed passes only."""

    def __init__(self, enabled: bool, total: int, console: Console | None) -> None:
        self.enabled = enabled
        self.total = total
        self.console = console
        self._p: Progress | None = None

    def __enter__(self) -> Self:
        if self.enabled:
            self._p = Progress(
                TextColumn("[bold]bench[/]"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.console,
                auto_refresh=False,
            )
            self._p.start()
            self._task = self._p.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()

    def step(self, what: str, advance: int = 0) -> None:
        if self._p is not None:
            self._p.update(self._task, description=what, advance=advance)
            self._p.refresh()


# ---------------------------------------------------------------------------------- memory


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _alloc_live_bytes() -> int | None:
    """The extension's allocator live bytes, when it exposes ``memory_stats``."""
    fn = getattr(_core, "memory_stats", None)
    if fn is None:
        return None
    s = fn()
    for key in ("live_bytes", "live"):
        if isinstance(s, dict) and key in s:
            return int(s[key])
        if hasattr(s, key):
            return int(getattr(s, key))
    return None


def _chunks(arr: np.ndarray[Any, Any], size: int = 8192) -> Iterator[list[Row]]:
    """W1 as rows, converted a chunk at a time so that only what a book keeps stays alive."""
    for i in range(0, len(arr), size):
        yield _rows(arr[i : i + size])


def memory_child(name: str, w1_path: str) -> dict[str, Any]:
    """Build the W1 commands saved at ``w1_path`` into a fresh ``name`` book; growth per order.

    Meant to run in a fresh process (see :func:`measure_memory`). The commands are loaded
    with numpy before the baseline is read (not generated here: the extension's allocator
    would keep the generator's freed pages and the book would reuse them unseen), and rows
    are made a chunk at a time, so the RSS growth is what the book keeps.
    """
    d = driver(name)
    why = d.unavailable()
    if why is not None:
        raise RuntimeError(f"{name}: {why}")
    arr = np.load(w1_path)
    n = len(arr)
    chunks = _chunks(arr)
    first = next(chunks)  # warms the conversion before the baseline

    def all_chunks() -> Iterator[list[Row]]:
        yield first
        yield from chunks

    track = name == "hftbook"
    rss0, live0 = _rss_bytes(), _alloc_live_bytes() if track else None
    book = d.build_w1(all_chunks())
    rss1, live1 = _rss_bytes(), _alloc_live_bytes() if track else None
    del book
    return {
        "orders": n,
        "rss_bytes_per_order": None if rss0 is None or rss1 is None else (rss1 - rss0) / n,
        "alloc_bytes_per_order": None if live0 is None or live1 is None else (live1 - live0) / n,
    }


def _memory_main() -> int:
    print(json.dumps(memory_child(sys.argv[1], sys.argv[2])))
    return 0


def measure_memory(name: str, n: int, seed: int) -> dict[str, Any]:
    """RSS growth per resting order of ``name`` holding W1 (``n``, ``seed``), in a fresh child.

    Raises RuntimeError if the child fails.
    """
    code = "import sys; from hftbook.bench import _memory_main; sys.exit(_memory_main())"
    with tempfile.TemporaryDirectory(prefix="hftbook-bench-") as tmp:
        path = os.path.join(tmp, "w1.npy")
        np.save(path, _core.workload_w1(n, seed))
        p = subprocess.run(
            [sys.executable, "-c", code, name, path],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        raise RuntimeError(f"memory child for {name} failed: {tail}")
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------------------------- run


def _pcts(lat: list[int]) -> tuple[float, float, float]:
    a = np.asarray(lat, dtype=np.int64)
    p = np.percentile(a, [50, 99, 99.9])
    return float(p[0]), float(p[1]), float(p[2])


def _med(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


Runs = list[tuple[Outcome, tuple[float, float, float] | None]]


def _rates(n: int, runs: Runs) -> tuple[list[float], list[float]]:
    wall = [n / o.seconds for o, _ in runs]
    cpu = [n / o.cpu_seconds for o, _ in runs if o.cpu_seconds]
    return wall, cpu if len(cpu) == len(wall) else []


def _ratio(xs: list[float], base: list[float] | None) -> float | None:
    if not xs or base is None or len(base) != len(xs):
        return None
    return statistics.median(x / b for x, b in zip(xs, base, strict=True))


def _stats(n: int, runs: Runs, base: Runs | None) -> Stats:
    wall, cpu = _rates(n, runs)
    bwall, bcpu = _rates(n, base) if base is not None else (None, None)
    return Stats(
        ops_per_s=statistics.median(wall),
        cpu_ops_per_s=statistics.median(cpu) if cpu else None,
        p50_ns=_med([p[0] if p else None for _, p in runs]),
        p99_ns=_med([p[1] if p else None for _, p in runs]),
        p999_ns=_med([p[2] if p else None for _, p in runs]),
        ratio_to_hftbook=_ratio(cpu, bcpu),
        wall_ratio_to_hftbook=_ratio(wall, bwall),
        reps_ops_per_s=wall,
        reps_cpu_ops_per_s=cpu,
    )


def _agreement(d: Driver, last: Outcome, ref: dict[str, Any], traded: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"traded": traded, "best_bid": last.best_bid, "best_ask": last.best_ask}
    if d.kind == "floor":
        out.update(verdict="n/a", detail="does nothing")
        return out
    diffs = []
    if d.checks_traded:
        if traded != ref["traded"]:
            diffs.append(f"traded {traded} vs {ref['traded']}")
    diffs += [f"{k} {out[k]} vs {ref[k]}" for k in ("best_bid", "best_ask") if out[k] != ref[k]]
    if diffs:
        out.update(verdict="disagree", detail="; ".join(diffs))
    else:
        what = "traded qty, best bid/ask" if d.checks_traded else "best bid/ask (fed the fills)"
        out.update(verdict="agree", detail=what)
    return out


def run_bench(
    config: BenchConfig,
    *,
    progress: bool = True,
    console: Console | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Run the rows of ``config`` interleaved, ``config.reps`` times; return the figures."""
    t_start = time.perf_counter()
    machine = machine_info()  # load average before the run
    selected = drivers(config.rows)  # imports the peer drivers only if a peer row is selected
    rows: dict[str, RowResult] = {}
    active: list[Driver] = []
    for d in selected:
        why = d.unavailable()
        rows[d.name] = RowResult(
            name=d.name,
            package=d.package,
            version=d.version() if why is None else None,
            kind=d.kind,
            what=d.what,
            status="ok" if why is None else "skipped",
            reason=why,
        )
        if why is None:
            active.append(d)

    wl = Workloads.generate(config.ops, config.seed, config.w1_ops)
    n1, n2 = len(wl.w1), len(wl.ops)
    r = reference_w2(wl)
    ref = {"traded": r.traded, "best_bid": r.best_bid, "best_ask": r.best_ask}
    del r
    if any(d.kind in ("book-only", "levels") for d in active):
        wl.feeds()

    mem_rows = [d for d in active if d.memory] if config.memory else []
    total = config.reps * 2 * len(active) + len(mem_rows)
    runs: dict[tuple[str, str], Runs] = {}
    lat1, lat2 = [0] * n1, [0] * n2
    failed: set[str] = set()
    with _Bar(progress, total, console) as bar:
        for rep in range(config.reps):
            for wname, lat, n in (("w2", lat2, n2), ("w1", lat1, n1)):
                for d in active:
                    bar.step(f"rep {rep + 1}/{config.reps} {wname.upper()} {d.name}")
                    if d.name in failed:
                        bar.step("", advance=1)
                        continue
                    try:
                        o = d.w1(wl, lat) if wname == "w1" else d.w2(wl, lat)
                    except Exception as e:  # a peer's bug must not stop the others
                        failed.add(d.name)
                        rows[d.name].status = "error"
                        rows[d.name].reason = f"{wname}: {type(e).__name__}: {e}"
                        bar.step("", advance=1)
                        continue
                    pct = _pcts(lat[:n]) if d.per_call else None
                    runs.setdefault((d.name, wname), []).append((o, pct))
                    bar.step("", advance=1)
        for d in mem_rows:
            bar.step(f"memory {d.name} ({config.memory_orders or n1:,} orders)")
            try:
                m = measure_memory(d.name, config.memory_orders or n1, config.seed)
                rows[d.name].rss_bytes_per_order = m["rss_bytes_per_order"]
                rows[d.name].alloc_bytes_per_order = m["alloc_bytes_per_order"]
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                rows[d.name].notes.append(f"memory not measured: {e}")
                if log is not None:
                    log(f"memory of {d.name} not measured: {e}")
            bar.step("", advance=1)

    def base(w: str) -> Runs | None:
        return None if "hftbook" in failed else runs.get(("hftbook", w))

    for d in active:
        if d.name in failed:
            continue
        row = rows[d.name]
        row.w1 = _stats(n1, runs[(d.name, "w1")], base("w1"))
        row.w2 = _stats(n2, runs[(d.name, "w2")], base("w2"))
        last = runs[(d.name, "w2")][-1][0]
        traded = last.traded
        if traded is None and d.checks_traded:
            traded = d.traded_check(wl)
        row.agreement = _agreement(d, last, ref, traded)
    return BenchResult(
        config=config,
        machine=machine,
        reference=ref,
        rows=[rows[d.name] for d in selected],
        wall_s=time.perf_counter() - t_start,
    )


# --------------------------------------------------------------------------------- reports


def _rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1e3:.0f}k"


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x / 1000:.2f}"


def _bytes(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _times(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _cells(r: RowResult) -> list[str]:
    if r.status != "ok" or r.w1 is None or r.w2 is None:
        return [r.name, r.version or "-", f"{r.status}: {r.reason}", *(["-"] * 7)]
    lat = (
        "-" if r.w2.p50_ns is None else f"{_us(r.w2.p50_ns)}/{_us(r.w2.p99_ns)}/{_us(r.w2.p999_ns)}"
    )
    mem = _bytes(r.rss_bytes_per_order)
    if r.alloc_bytes_per_order is not None:
        mem += f" ({r.alloc_bytes_per_order:.0f} alloc)"
    verdict = r.agreement.get("verdict", "-")
    if verdict == "disagree":
        verdict += f" ({r.agreement.get('detail')})"
    return [
        r.name,
        r.version or "-",
        _rate(r.w1.cpu_ops_per_s),
        _rate(r.w2.cpu_ops_per_s),
        _rate(r.w2.ops_per_s),
        lat,
        _times(r.w2.ratio_to_hftbook),
        _times(r.w1.ratio_to_hftbook),
        mem,
        verdict,
    ]


HEADERS = (
    "row",
    "version",
    "W1 adds/s (CPU)",
    "W2 ops/s (CPU)",
    "W2 ops/s (wall)",
    "W2 p50/p99/p99.9 µs",
    "W2 vs hftbook",
    "W1 vs hftbook",
    "bytes/order",
    "agrees",
)


LEGEND = (
    "Rates: ops per CPU second of the process (leaves out the waits for a core: steadier "
    "than wall time on a shared machine) and per wall second; both include the Python loop "
    "and one perf_counter_ns pair per call (p50/p99/p99.9 are those pairs). 'vs hftbook': "
    "median over the repetitions of the CPU-rate ratio to hftbook per call in the same "
    "repetition. bytes/order: RSS growth per resting order while W1 is built in a fresh "
    "child process."
)


def _memory_note(res: BenchResult) -> str:
    c = res.config
    if not c.memory:
        return " (not measured in this run)"
    n = c.memory_orders or c.w1_ops or c.ops
    note = f" Built from {n:,} orders"
    if n < 1_000_000:
        note += " (below 1M the book's fixed costs weigh in: use --memory-orders 1000000)"
    return note + "."


def summary_table(res: BenchResult) -> Table:
    """The summary as a rich table."""
    c = res.config
    t = Table(
        title=f"hftbook bench: W1 {c.w1_ops or c.ops:,} adds, W2 {c.ops:,} ops, "
        f"median of {c.reps} interleaved reps",
        title_justify="left",
    )
    for i, h in enumerate(HEADERS):
        t.add_column(
            h, justify="left" if i in (0, 1, len(HEADERS) - 1) else "right", no_wrap=i == 0
        )
    for r in res.rows:  # escaped: a reason names the [peers] extra, not a rich style
        t.add_row(*map(escape, _cells(r)), style="dim" if r.status != "ok" else None)
    return t


def print_summary(res: BenchResult, console: Console) -> None:
    """Print the summary table and the reference figures."""
    console.print(summary_table(res))
    ref = res.reference
    console.print(
        f"hftbook reference on W2: traded {ref['traded']:,}, best bid {ref['best_bid']}, "
        f"best ask {ref['best_ask']} (ticks). Ran in {res.wall_s:.1f} s."
    )
    console.print(LEGEND + _memory_note(res))
    missing = [r.name for r in res.rows if r.status == "skipped" and r.package is not None]
    if missing:
        console.print(
            f"Not installed, skipped: {', '.join(missing)}. The peers are the 'peers' extra: "
            + escape(PEERS_INSTALL)
        )


def to_markdown(res: BenchResult, command: str | None = None) -> str:
    """The summary, the agreement details, the machine and the command as Markdown."""
    c, m = res.config, res.machine
    out = [
        f"W1 = {c.w1_ops or c.ops:,} non-crossing adds; W2 = {c.ops:,} ops on a book prefilled "
        f"with 10k orders; seed {c.seed}; median of {c.reps} interleaved repetitions.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in res.rows]
    out += ["", "| row | kind | what | agreement detail |", "|---|---|---|---|"]
    for r in res.rows:
        detail = r.agreement.get("detail") or r.reason or "-"
        out.append(f"| {r.name} | {r.kind} | {r.what} | {detail} |")
    ref = res.reference
    out += [
        "",
        LEGEND + _memory_note(res),
        "",
        f"hftbook on W2: traded {ref['traded']:,}, final best bid {ref['best_bid']}, "
        f"best ask {ref['best_ask']} (ticks).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}, "
        f"numpy {m['numpy']}, hftbook {m['hftbook']}; load average at the start "
        f"{m.get('loadavg')} (1/5/15 min).",
    ]
    if command:
        out += ["", f"Command: `{command}`"]
    return "\n".join(out) + "\n"
