"""PNG plot of a reconstructed book over time (best bid/ask and top-10 depth), via matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["book_figure", "bucket_quantiles", "plot_book"]


def bucket_quantiles(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], buckets: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The 25th, 50th and 75th percentile of ``y`` in each of ``buckets`` equal spans of ``x``.

    ``x`` is sorted. Returns ``(edges, q)``: ``buckets + 1`` edges and a ``(3, buckets)``
    array. A span with no sample keeps the last value before it (a book's size holds until it
    changes).

    >>> e, q = bucket_quantiles(np.array([0.0, 1, 2, 3]), np.array([1.0, 3, 5, 7]), 2)
    >>> e.tolist(), q[1].tolist()
    ([0.0, 1.5, 3.0], [2.0, 6.0])
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo, hi = (float(x[0]), float(x[-1])) if len(x) else (0.0, 1.0)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, buckets + 1)
    # Sample i falls in interval j when edges[j] <= x[i] < edges[j + 1] (the last one closed).
    starts = np.searchsorted(x, edges[:-1], side="left")
    ends = np.append(starts[1:], len(x))
    q = np.full((3, buckets), np.nan)
    last = np.full(3, np.nan)
    for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
        vals = y[a:b]
        vals = vals[~np.isnan(vals)]
        if len(vals):
            last = np.percentile(vals, [25, 50, 75])
        elif a > 0:
            last = np.full(3, y[a - 1])
        q[:, j] = last
    return edges, q


def book_figure(
    times_ns: npt.NDArray[np.int64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
    bid_depth: npt.NDArray[np.float64],
    ask_depth: npt.NDArray[np.float64],
    title: str,
    depth_label: str = "displayed size",
    depth_buckets: int | None = None,
) -> Figure:
    """The figure :func:`plot_book` saves.

    With ``depth_buckets`` the size panel shows, per side, the median of the sizes recorded
    in each of that many equal time intervals (a step line) and their 25-75 % range (shaded)
    instead of every change, which thousands of changes would draw as a solid block.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = np.asarray(times_ns, dtype=np.float64)
    hours = (t % 86_400e9) / 3_600e9
    xlabel = "time of day (UTC hours)"
    if len(hours) and hours[-1] - hours[0] < 0.05:  # under 3 minutes: seconds from start
        start = float(hours[0]) * 3600
        hh, mm, ss = int(start // 3600), int(start // 60 % 60), start % 60
        hours = hours * 3600 - start
        xlabel = f"seconds after {hh:02d}:{mm:02d}:{ss:06.3f}"
    fig = Figure(figsize=(10, 6))
    FigureCanvasAgg(fig)
    top, low = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top.step(hours, bid, where="post", color="tab:green", lw=0.8, label="best bid")
    top.step(hours, ask, where="post", color="tab:red", lw=0.8, label="best ask")
    top.set_ylabel("price")
    top.set_title(title)
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    if depth_buckets is None:
        low.step(hours, bid_depth, where="post", color="tab:green", lw=0.8, label="bids")
        low.step(hours, ask_depth, where="post", color="tab:red", lw=0.8, label="asks")
        low.set_ylabel(depth_label)
    else:
        for side, depth, color in (
            ("bids", bid_depth, "tab:green"),
            ("asks", ask_depth, "tab:red"),
        ):
            edges, q = bucket_quantiles(hours, np.asarray(depth, np.float64), depth_buckets)
            low.stairs(q[1], edges, baseline=None, color=color, lw=1.2, label=f"{side}: median")
            low.fill_between(
                edges,
                np.append(q[0], q[0][-1:]),
                np.append(q[2], q[2][-1:]),
                step="post",
                color=color,
                alpha=0.2,
                lw=0,
                label=f"{side}: 25-75 %",
            )
        low.set_ylabel(depth_label)
        low.set_title(
            f"median and 25-75 % range in each of {depth_buckets} equal time intervals",
            fontsize="small",
        )
        low.set_ylim(bottom=0)
    low.set_xlabel(xlabel)
    low.legend(loc="upper right", ncols=2 if depth_buckets else 1, fontsize="small")
    low.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_book(
    path: str | Path,
    times_ns: npt.NDArray[np.int64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
    bid_depth: npt.NDArray[np.float64],
    ask_depth: npt.NDArray[np.float64],
    title: str,
    depth_label: str = "displayed size",
    depth_buckets: int | None = None,
) -> None:
    """Write a two-panel PNG: best bid/ask (NaN = empty side) and displayed size in depth.

    Times are ns since the epoch (or since midnight); they are drawn as hours (seconds for a
    span under 3 minutes). ``depth_buckets``: see :func:`book_figure`.
    """
    fig = book_figure(times_ns, bid, ask, bid_depth, ask_depth, title, depth_label, depth_buckets)
    fig.savefig(Path(path), dpi=110)
