"""Latency reports of the Rust profiler, their comparison, and memory / CPU figures.

Every ``OrderBook`` carries a latency profiler (off by default; switching it on costs a
calibrated TSC read pair and a few stores per call, about 20-40 ns). ``book.profile()``
returns its statistics and :class:`LatencyReport` turns them into tables, JSON, CSV, a PNG
and a self-contained HTML page::

    >>> import hftbook as hb
    >>> from hftbook.profiling import LatencyReport
    >>> book = hb.OrderBook("AAPL")
    >>> book.profiling = True
    >>> for i in range(100):
    ...     _ = book.submit("buy", price_ticks=10_000 - i % 7, qty=1)
    >>> _ = book.submit("sell", price_ticks=9_990, qty=5)
    >>> rep = LatencyReport.of(book)
    >>> rep["add"].count, rep["match"].count, rep["cancel"].count
    (100, 1, 0)
    >>> rep["add"].min <= rep["add"].p50 <= rep["add"].p99 <= rep["add"].max
    True
    >>> LatencyReport.from_json(rep.to_json()) == rep
    True

Statistics are in nanoseconds. ``count``, ``min``, ``max``, ``mean`` and ``stddev`` are
exact; percentiles come from a log-linear histogram (exact below 128 ns, buckets at most
1/64 of their value wide above) and are within 0.9 % of a sample of that rank.

:func:`compare` checks a report against a baseline with relative thresholds per statistic
(``hftbook perf compare``); :func:`memory_stats` and :class:`CpuMeter` report the
extension's heap and the process's and threads' CPU use.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hftbook import _core
from hftbook.exceptions import ReportError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COMPARABLE_STATS",
    "DEFAULT_THRESHOLDS",
    "SCHEMA",
    "STAT_NAMES",
    "Comparison",
    "CpuMeter",
    "CpuUsage",
    "LatencyReport",
    "OperationStats",
    "ThreadCpu",
    "compare",
    "comparisons",
    "cpu_times",
    "memory_stats",
    "parse_threshold",
    "reset_peak_memory",
]

#: Schema tag of a report's dict / JSON form.
SCHEMA = "hftbook.latency/1"

#: Statistics of one operation, in table order.
STAT_NAMES: tuple[str, ...] = (
    "count",
    "min",
    "max",
    "mean",
    "stddev",
    "p50",
    "p90",
    "p99",
    "p99_9",
    "p99_99",
)
#: Statistics a threshold may name (latencies: higher is worse).
COMPARABLE_STATS: tuple[str, ...] = STAT_NAMES[1:]
#: Percentile statistics and their percent.
PERCENTILES: dict[str, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p99": 99.0,
    "p99_9": 99.9,
    "p99_99": 99.99,
}
#: Thresholds :func:`compare` uses when given none: relative increase allowed.
DEFAULT_THRESHOLDS: dict[str, float] = {"p50": 0.10, "p99": 0.10}

_OP_RE = re.compile(r"[a-z0-9_]{1,32}")
_INT_STATS = ("count", "min", "max", "p50", "p90", "p99", "p99_9", "p99_99")
_BUCKET_KEYS = ("bucket_low", "bucket_high", "bucket_count")

U64Array = npt.NDArray[np.uint64]


def _bad(where: str, value: object, rule: str) -> ReportError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ReportError(f"{where}: {rule}, got {shown}", field=where, value=value)


def _int(where: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or int(v) < 0:
        raise _bad(where, v, "expected a non-negative integer")
    return int(v)


def _float(where: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise _bad(where, v, "expected a number")
    f = float(v)
    if not (math.isfinite(f) and f >= 0):
        raise _bad(where, v, "expected a finite number >= 0")
    return f


def _u64_array(where: str, v: object) -> U64Array:
    if isinstance(v, np.ndarray):
        if v.ndim != 1 or v.dtype.kind not in "ui":
            raise _bad(where, v, "expected a 1-D integer array")
        if v.size and int(v.min()) < 0:
            raise _bad(where, v, "expected non-negative integers")
        return v.astype(np.uint64)
    if not isinstance(v, list | tuple):
        raise _bad(where, v, "expected a list of non-negative integers")
    return np.array([_int(f"{where}[{i}]", x) for i, x in enumerate(v)], dtype=np.uint64)


@dataclass(frozen=True, eq=False)
class OperationStats:
    """Latency statistics of one operation kind (ns) and its histogram buckets.

    ``bucket_low[i]..=bucket_high[i]`` ns held ``bucket_count[i]`` operations (non-empty
    buckets only, ascending).
    """

    name: str
    count: int
    min: int
    max: int
    mean: float
    stddev: float
    p50: int
    p90: int
    p99: int
    p99_9: int
    p99_99: int
    bucket_low: U64Array = field(repr=False)
    bucket_high: U64Array = field(repr=False)
    bucket_count: U64Array = field(repr=False)

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> OperationStats:
        """Validate and build from one entry of a report's ``operations``.

        Raises :class:`~hftbook.exceptions.ReportError` naming the field at fault.
        """
        where = f"operations.{name}"
        if not isinstance(d, Mapping):
            raise _bad(where, d, "expected an object of statistics")
        missing = [k for k in (*STAT_NAMES, *_BUCKET_KEYS) if k not in d]
        if missing:
            raise _bad(where, sorted(d), f"missing {', '.join(missing)}")
        ints = {k: _int(f"{where}.{k}", d[k]) for k in _INT_STATS}
        lo, hi, n = (_u64_array(f"{where}.{k}", d[k]) for k in _BUCKET_KEYS)
        if not (lo.size == hi.size == n.size):
            raise _bad(f"{where}.bucket_count", n.size, "bucket arrays differ in length")
        if int(n.sum()) < ints["count"]:
            raise _bad(f"{where}.count", ints["count"], "more than the buckets hold")
        if ints["count"] and not ints["min"] <= ints["p50"] <= ints["max"]:
            raise _bad(f"{where}.p50", ints["p50"], "not between min and max")
        return cls(
            name=name,
            mean=_float(f"{where}.mean", d["mean"]),
            stddev=_float(f"{where}.stddev", d["stddev"]),
            bucket_low=lo,
            bucket_high=hi,
            bucket_count=n,
            **ints,
        )

    def stats(self) -> dict[str, int | float]:
        """The statistics (``STAT_NAMES``) as a dict."""
        return {k: getattr(self, k) for k in STAT_NAMES}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (buckets as lists)."""
        d: dict[str, Any] = self.stats()
        for k in _BUCKET_KEYS:
            d[k] = [int(x) for x in getattr(self, k)]
        return d

    def percentile_curve(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(percent, ns)``: the share of operations at or below each bucket's upper bound.

        >>> import numpy as np
        >>> u = np.array([1, 2], dtype=np.uint64)
        >>> op = OperationStats("add", 4, 1, 2, 1.5, 0.5, 1, 2, 2, 2, 2, u, u, u)
        >>> op.percentile_curve()
        (array([ 33.33333333, 100.        ]), array([1., 2.]))
        """
        n = self.bucket_count.astype(np.float64)
        total = n.sum()
        if total == 0:
            return np.empty(0), np.empty(0)
        return 100.0 * np.cumsum(n) / total, self.bucket_high.astype(np.float64)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OperationStats):
            return NotImplemented
        return self.name == other.name and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _merge_ops(name: str, ops: Sequence[OperationStats]) -> OperationStats:
    """Pool the same operation of several reports (all from hftbook's bucket layout)."""
    ops = [o for o in ops if o.count]
    u = np.empty(0, dtype=np.uint64)
    if not ops:
        return OperationStats(name, 0, 0, 0, 0.0, 0.0, 0, 0, 0, 0, 0, u, u, u)
    count = sum(o.count for o in ops)
    mean = sum(o.mean * o.count for o in ops) / count
    sq = sum(o.count * (o.stddev**2 + o.mean**2) for o in ops) / count
    buckets: dict[tuple[int, int], int] = {}
    for o in ops:
        for lo, hi, c in zip(
            o.bucket_low.tolist(), o.bucket_high.tolist(), o.bucket_count.tolist(), strict=True
        ):
            buckets[(lo, hi)] = buckets.get((lo, hi), 0) + c
    keys = sorted(buckets)
    lo_a = np.array([k[0] for k in keys], dtype=np.uint64)
    hi_a = np.array([k[1] for k in keys], dtype=np.uint64)
    n_a = np.array([buckets[k] for k in keys], dtype=np.uint64)
    mn, mx = min(o.min for o in ops), max(o.max for o in ops)
    cum = np.cumsum(n_a)
    mid = lo_a + (hi_a - lo_a) // np.uint64(2)

    def q(p: float) -> int:
        rank = max(1, math.ceil(p / 100.0 * int(cum[-1])))
        i = int(np.searchsorted(cum, rank))
        return min(max(int(mid[i]), mn), mx)

    return OperationStats(
        name=name,
        count=count,
        min=mn,
        max=mx,
        mean=mean,
        stddev=math.sqrt(max(0.0, sq - mean * mean)),
        p50=q(50),
        p90=q(90),
        p99=q(99),
        p99_9=q(99.9),
        p99_99=q(99.99),
        bucket_low=lo_a,
        bucket_high=hi_a,
        bucket_count=n_a,
    )


class LatencyReport:
    """Per-operation latency statistics: from ``book.profile()``, a dict or JSON.

    Index it by operation name (``report["add"]``), iterate :attr:`operations`, export it
    (:meth:`to_dict`, :meth:`to_json`, :meth:`to_csv`), draw it (:meth:`plot`,
    :meth:`to_html`). ``meta`` holds free JSON data about the run (clock source, memory,
    CPU...).

    >>> rep = LatencyReport({"schema": SCHEMA, "operations": {}})
    >>> rep
    LatencyReport(operations=[], clock_source='unknown')
    >>> LatencyReport({"operations": {}, "schema": "other/1"})
    Traceback (most recent call last):
    ...
    hftbook.exceptions.ReportError: schema: expected 'hftbook.latency/1', got 'other/1'
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise _bad("report", data, "expected an object")
        if data.get("schema") != SCHEMA:
            raise _bad("schema", data.get("schema"), f"expected {SCHEMA!r}")
        ops = data.get("operations")
        if not isinstance(ops, Mapping):
            raise _bad("operations", ops, "expected an object of operation name -> statistics")
        self.operations: dict[str, OperationStats] = {}
        for name, d in ops.items():
            if not isinstance(name, str) or not _OP_RE.fullmatch(name):
                raise _bad("operations", name, "operation names are 1-32 of a-z, 0-9, _")
            self.operations[name] = OperationStats.from_dict(name, d)
        unit = data.get("unit", "ns")
        if unit != "ns":
            raise _bad("unit", unit, "expected 'ns'")
        cs = data.get("clock_source", "unknown")
        if not isinstance(cs, str):
            raise _bad("clock_source", cs, "expected a string")
        self.clock_source: str = cs
        self.enabled: bool = bool(data.get("enabled", True))
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise _bad("meta", meta, "expected an object")
        self.meta: dict[str, Any] = dict(meta)

    # ---------------------------------------------------------------------- constructors

    @classmethod
    def of(cls, book: _core.OrderBook, **meta: Any) -> LatencyReport:
        """The report of ``book`` now (``book.profile()``), with ``meta`` attached."""
        rep = cls(book.profile())
        rep.meta.update(meta)
        return rep

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyReport:
        """Same as ``LatencyReport(data)``."""
        return cls(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> LatencyReport:
        """Parse :meth:`to_json` output. Raises ``ReportError`` if it is not a report."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ReportError(f"not JSON: {e}", field="json") from None
        return cls(data)

    @classmethod
    def read(cls, path: str | Path) -> LatencyReport:
        """Read a JSON report file. ``OSError`` if unreadable, ``ReportError`` if invalid."""
        return cls.from_json(Path(path).read_bytes())

    @classmethod
    def merge(cls, reports: Iterable[LatencyReport], **meta: Any) -> LatencyReport:
        """Pool several reports (e.g. one per book) operation by operation.

        Counts, min, max, mean and stddev stay exact; percentiles are recomputed from the
        pooled buckets (each bucket's midpoint, within 1/128).

        >>> a = LatencyReport.from_json(_example_json([100, 100, 300]))
        >>> b = LatencyReport.from_json(_example_json([200]))
        >>> m = LatencyReport.merge([a, b])
        >>> m["add"].count, m["add"].min, m["add"].max, m["add"].mean, m["add"].p50
        (4, 100, 300, 175.0, 100)
        """
        reps = list(reports)
        names: list[str] = []
        for r in reps:
            names += [n for n in r.operations if n not in names]
        out = cls({"schema": SCHEMA, "operations": {}})
        out.operations = {
            n: _merge_ops(n, [r.operations[n] for r in reps if n in r.operations]) for n in names
        }
        sources = {r.clock_source for r in reps}
        out.clock_source = sources.pop() if len(sources) == 1 else "mixed"
        out.enabled = any(r.enabled for r in reps)
        out.meta = dict(meta)
        return out

    # --------------------------------------------------------------------------- access

    def __getitem__(self, name: str) -> OperationStats:
        try:
            return self.operations[name]
        except KeyError:
            known = ", ".join(self.operations) or "none"
            raise ReportError(
                f"unknown operation {name!r} (known: {known})", field="operation", value=name
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.operations

    def recorded(self) -> list[OperationStats]:
        """Operations with at least one sample."""
        return [o for o in self.operations.values() if o.count]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        ops = ", ".join(f"{o.name}: n={o.count} p50={o.p50} p99={o.p99}" for o in self.recorded())
        return f"LatencyReport(operations=[{ops}], clock_source={self.clock_source!r})"

    # -------------------------------------------------------------------------- exports

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``LatencyReport(report.to_dict())`` gives it back."""
        return {
            "schema": SCHEMA,
            "unit": "ns",
            "enabled": self.enabled,
            "clock_source": self.clock_source,
            "operations": {n: o.to_dict() for n, o in self.operations.items()},
            "meta": self.meta,
        }

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 1) -> str:
        """The report as JSON text; also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def to_csv(self, path: str | Path | None = None) -> str:
        """The statistics as CSV, one row per operation; also written to ``path`` if given.

        Columns: ``operation`` then :data:`STAT_NAMES`.

        >>> print(LatencyReport.from_json(_example_json([5, 7])).to_csv(), end="")
        operation,count,min,max,mean,stddev,p50,p90,p99,p99_9,p99_99
        add,2,5,7,6.0,1.0,5,7,7,7,7
        """
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["operation", *STAT_NAMES])
        for o in self.operations.values():
            w.writerow([o.name, *(o.stats()[k] for k in STAT_NAMES)])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def plot(
        self, path: str | Path | None = None, *, title: str | None = None, subject: str = "latency"
    ) -> bytes:
        r"""Draw the latency histograms and percentile curves as PNG; returns its bytes.

        Left: a log-scale latency histogram per recorded operation; right: latency by
        percentile (log scale, up to 99.999 %). Also written to ``path`` if given.
        ``subject`` names the timing in the panel titles and axis labels (``hftbook
        simulate`` says it is the time inside the Rust book). See :meth:`figure`.

        >>> png = LatencyReport.from_json(_example_json([100, 120, 5000])).plot()
        >>> png[:8] == b"\x89PNG\r\n\x1a\n"
        True
        """
        fig = self.figure(title=title, subject=subject)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        png = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(png)
        return png

    def figure(self, *, title: str | None = None, subject: str = "latency") -> Figure:
        """The matplotlib ``Figure`` that :meth:`plot` saves, to inspect or save otherwise.

        >>> fig = LatencyReport.from_json(_example_json([100])).figure(subject="time in X")
        >>> [ax.get_xlabel() for ax in fig.axes]
        ['time in X (ns, log scale)', 'percentile']
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter

        fig = Figure(figsize=(12, 4.8), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax_h, ax_p = fig.subplots(1, 2)
        ops = self.recorded()
        if ops:
            lo_all = max(1.0, float(min(int(o.bucket_low[0]) for o in ops)))
            hi_all = float(max(int(o.bucket_high[-1]) for o in ops)) + 1.0
            edges = np.logspace(
                math.log10(lo_all), math.log10(max(hi_all, lo_all * 1.01)), 61, dtype=np.float64
            )
            for o in ops:
                mid = (o.bucket_low.astype(np.float64) + o.bucket_high.astype(np.float64)) / 2
                hist, _ = np.histogram(
                    np.clip(mid, edges[0], edges[-1]),
                    bins=edges,
                    weights=o.bucket_count.astype(np.float64),
                )
                ax_h.stairs(100.0 * hist / hist.sum(), edges, label=f"{o.name} (n={o.count:,})")
                pct, ns = o.percentile_curve()
                nines = -np.log10(np.clip(1.0 - pct / 100.0, 1e-6, None))
                ax_p.step(
                    np.concatenate([[0.0], nines]), np.concatenate([[ns[0]], ns]), label=o.name
                )
            ax_h.set_xscale("log")
            ax_h.legend(fontsize="small")
            ax_p.set_yscale("log")
            ax_p.legend(fontsize="small")
            ticks = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
            ax_p.xaxis.set_major_locator(FixedLocator(ticks))
            ax_p.xaxis.set_major_formatter(
                FuncFormatter(lambda x, _pos: f"{100 - 100 * 10 ** (-x):.{max(0, int(x) - 2)}f}%")
            )
            ax_p.set_xlim(0, 5)
        else:
            for ax in (ax_h, ax_p):
                ax.text(0.5, 0.5, "no operations recorded", ha="center", va="center")
        what = subject[:1].upper() + subject[1:]
        ax_h.set_title(f"{what}: histogram")
        ax_h.set_xlabel(f"{subject} (ns, log scale)")
        ax_h.set_ylabel("% of operations")
        ax_p.set_title(f"{what} by percentile")
        ax_p.set_xlabel("percentile")
        ax_p.set_ylabel(f"{subject} (ns, log scale)")
        for ax in (ax_h, ax_p):
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle(title or f"hftbook latency (clock: {self.clock_source})")
        return fig

    def to_html(self, path: str | Path | None = None, *, title: str = "hftbook latency") -> str:
        """Render one self-contained HTML page: table, plots (base64 PNG) and meta data.

        Returns the HTML and writes it to ``path`` if given.

        >>> page = LatencyReport.from_json(_example_json([100])).to_html()
        >>> page.startswith("<!DOCTYPE html>"), "data:image/png;base64," in page
        (True, True)
        """
        esc = html.escape
        rows = []
        for o in self.operations.values():
            cells = "".join(
                f"<td>{v:,.1f}</td>" if isinstance(v, float) else f"<td>{v:,}</td>"
                for v in o.stats().values()
            )
            rows.append(f"<tr><th>{esc(o.name)}</th>{cells}</tr>")
        head = "".join(f"<th>{esc(k)}</th>" for k in ("operation", *STAT_NAMES))
        meta_rows = "".join(
            f"<tr><th>{esc(str(k))}</th><td><code>{esc(json.dumps(v))}</code></td></tr>"
            for k, v in {"clock_source": self.clock_source, **self.meta}.items()
        )
        png = base64.b64encode(self.plot(title=title)).decode("ascii")
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }}
th {{ background: #f3f3f3; }} td code {{ white-space: pre-wrap; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Latency in nanoseconds per operation. count, min, max, mean and stddev are exact;
percentiles are within 0.9&nbsp;% (log-linear histogram).</p>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
<img alt="latency histogram and percentile curve" src="data:image/png;base64,{png}">
<h2>Run</h2>
<table><tbody>{meta_rows}</tbody></table>
</body></html>
"""
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page


def _example_json(samples: Sequence[int]) -> str:
    """A one-operation ("add") report JSON of exact small samples (for the examples)."""
    vals = sorted(samples)
    n = len(vals)
    mean = sum(vals) / n
    uniq = sorted(set(vals))

    def q(p: float) -> int:
        return vals[max(1, math.ceil(p / 100 * n)) - 1]

    return json.dumps(
        {
            "schema": SCHEMA,
            "operations": {
                "add": {
                    "count": n,
                    "min": vals[0],
                    "max": vals[-1],
                    "mean": mean,
                    "stddev": math.sqrt(sum((v - mean) ** 2 for v in vals) / n),
                    **{k: q(p) for k, p in PERCENTILES.items()},
                    "bucket_low": uniq,
                    "bucket_high": uniq,
                    "bucket_count": [vals.count(v) for v in uniq],
                }
            },
        }
    )


# ------------------------------------------------------------------------------ compare


@dataclass(frozen=True)
class Comparison:
    """One statistic of one operation, baseline vs current.

    ``change`` is relative (``current / baseline - 1``; ``inf`` from a zero baseline);
    ``regressed`` when it exceeds ``threshold``.
    """

    operation: str
    stat: str
    baseline: float
    current: float
    change: float
    threshold: float
    regressed: bool


def parse_threshold(text: str) -> tuple[str, float]:
    """Parse ``STAT=LIMIT`` or ``OPERATION.STAT=LIMIT`` (``LIMIT`` like ``10%`` or ``0.1``).

    >>> parse_threshold("p99=10%"), parse_threshold("add.p99_9=0.25")
    (('p99', 0.1), ('add.p99_9', 0.25))
    >>> parse_threshold("p98=5%")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hftbook.exceptions.ReportError: threshold 'p98=5%': unknown statistic 'p98' (one of min, ...)
    """
    key, sep, limit = text.partition("=")
    key, limit = key.strip(), limit.strip()
    if not sep or not key or not limit:
        raise ReportError(
            f"threshold {text!r} is not STAT=LIMIT (e.g. p99=10%)", field="threshold", value=text
        )
    _split_key(key, text)
    try:
        v = float(limit[:-1]) / 100.0 if limit.endswith("%") else float(limit)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v >= 0):
        raise ReportError(
            f"threshold {text!r}: limit {limit!r} is not a non-negative number or percentage",
            field="threshold",
            value=text,
        )
    return key, v


def _split_key(key: str, text: str) -> tuple[str | None, str]:
    op, _, stat = key.rpartition(".")
    if stat not in COMPARABLE_STATS:
        known = ", ".join(COMPARABLE_STATS)
        raise ReportError(
            f"threshold {text!r}: unknown statistic {stat!r} (one of {known})",
            field="threshold",
            value=text,
        )
    if op and not _OP_RE.fullmatch(op):
        raise ReportError(
            f"threshold {text!r}: {op!r} is not an operation name", field="threshold", value=text
        )
    return (op or None), stat


def comparisons(
    baseline: LatencyReport,
    current: LatencyReport,
    thresholds: Mapping[str, float] | None = None,
) -> list[Comparison]:
    """Every checked (operation, statistic) pair; see :func:`compare`."""
    th = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    general: dict[str, float] = {}
    specific: dict[tuple[str, str], float] = {}
    for key, limit in th.items():
        op, stat = _split_key(key, f"{key}={limit}")
        if not (isinstance(limit, int | float) and math.isfinite(limit) and limit >= 0):
            raise ReportError(
                f"threshold {key}: limit {limit!r} must be a number >= 0",
                field="threshold",
                value=limit,
            )
        if op is None:
            general[stat] = float(limit)
        else:
            if op not in baseline.operations and op not in current.operations:
                known = ", ".join(sorted({*baseline.operations, *current.operations})) or "none"
                raise ReportError(
                    f"threshold {key}: unknown operation {op!r} (known: {known})",
                    field="operation",
                    value=op,
                )
            specific[(op, stat)] = float(limit)
    out: list[Comparison] = []
    for name, b in baseline.operations.items():
        c = current.operations.get(name)
        if c is None or not b.count or not c.count:
            continue
        stats = dict(general)
        stats.update({s: v for (o, s), v in specific.items() if o == name})
        for stat in COMPARABLE_STATS:
            if stat not in stats:
                continue
            bv, cv = float(getattr(b, stat)), float(getattr(c, stat))
            if bv > 0:
                change = cv / bv - 1.0
            else:
                change = math.inf if cv > 0 else 0.0
            limit = stats[stat]
            out.append(Comparison(name, stat, bv, cv, change, limit, change > limit))
    return out


def compare(
    baseline: LatencyReport,
    current: LatencyReport,
    thresholds: Mapping[str, float] | None = None,
) -> list[Comparison]:
    """The regressions of ``current`` against ``baseline``.

    ``thresholds`` maps a statistic (``"p99"``: every operation) or ``"operation.stat"``
    (``"add.p99"``) to the relative increase allowed (0.1 = 10 %); default
    :data:`DEFAULT_THRESHOLDS`. Operations recorded in both reports are checked; the result
    lists those whose increase exceeds the limit. Raises ``ReportError`` for an unknown
    statistic or operation.

    >>> base = LatencyReport.from_json(_example_json([100, 100, 100]))
    >>> slow = LatencyReport.from_json(_example_json([100, 150, 150]))
    >>> [(r.operation, r.stat, r.change) for r in compare(base, slow, {"p50": 0.1})]
    [('add', 'p50', 0.5)]
    >>> compare(base, base)
    []
    """
    return [c for c in comparisons(baseline, current, thresholds) if c.regressed]


# ------------------------------------------------------------------------- memory, CPU


def memory_stats() -> dict[str, int]:
    """Heap use of hftbook's Rust code, counted by its allocator (mimalloc).

    Keys: ``live_bytes``, ``peak_bytes``, ``allocations``, ``deallocations``,
    ``reallocations``. Python objects are not included.

    >>> import hftbook as hb
    >>> before = memory_stats()["allocations"]
    >>> books = [hb.OrderBook("X") for _ in range(3)]
    >>> memory_stats()["allocations"] > before
    True
    """
    return _core.memory_stats()


def reset_peak_memory() -> None:
    """Restart ``memory_stats()["peak_bytes"]`` from the current live bytes."""
    _core.reset_peak_memory()


def cpu_times() -> dict[str, Any]:
    """CPU seconds now: ``process``, the calling ``thread`` and every one of ``threads``.

    >>> t = cpu_times()
    >>> t["process"]["user_s"] >= 0, sorted(t["process"])
    (True, ['system_s', 'user_s'])
    """
    return _core.cpu_times()


@dataclass(frozen=True)
class ThreadCpu:
    """CPU use of one thread over an interval (``percent`` of one core)."""

    tid: int
    name: str
    user_s: float
    system_s: float
    percent: float


@dataclass(frozen=True)
class CpuUsage:
    """CPU use over an interval: the process and each thread, as % of one core."""

    wall_s: float
    user_s: float
    system_s: float
    percent: float
    threads: tuple[ThreadCpu, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "wall_s": self.wall_s,
            "user_s": self.user_s,
            "system_s": self.system_s,
            "percent": self.percent,
            "threads": [t.__dict__ for t in self.threads],
        }


class CpuMeter:
    """Measures CPU utilisation from its creation (or :meth:`restart`) to :meth:`read`.

    >>> m = CpuMeter()
    >>> x = sum(i * i for i in range(200_000))
    >>> u = m.read()
    >>> u.wall_s > 0 and u.percent >= 0 and u.user_s >= 0
    True
    """

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Start a new interval now."""
        self._t0 = time.perf_counter()
        self._c0 = _core.cpu_times()

    def read(self) -> CpuUsage:
        """CPU use since the interval started (threads started meanwhile count from 0)."""
        c1 = _core.cpu_times()
        wall = max(time.perf_counter() - self._t0, 1e-9)
        p0, p1 = self._c0["process"], c1["process"]
        user = p1["user_s"] - p0["user_s"]
        system = p1["system_s"] - p0["system_s"]
        before = {t["tid"]: t for t in self._c0["threads"]}
        threads = []
        for t in c1["threads"]:
            b = before.get(t["tid"], {"user_s": 0.0, "system_s": 0.0})
            u, s = t["user_s"] - b["user_s"], t["system_s"] - b["system_s"]
            threads.append(ThreadCpu(t["tid"], t["name"], u, s, 100.0 * (u + s) / wall))
        return CpuUsage(wall, user, system, 100.0 * (user + system) / wall, tuple(threads))
