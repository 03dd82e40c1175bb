"""PNG plot of a reconstructed book over time (best bid/ask and top-10 depth), via matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["plot_book"]


def plot_book(
    path: str | Path,
    times_ns: npt.NDArray[np.int64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
    bid_depth: npt.NDArray[np.float64],
    ask_depth: npt.NDArray[np.float64],
    title: str,
    depth_label: str = "displayed size",
) -> None:
    """Write a two-panel PNG: best bid/ask (NaN = empty side) and displayed size in depth.

    Times are ns since the epoch (or since midnight); they are drawn as hours.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    t = np.asarray(times_ns, dtype=np.float64)
    hours = (t % 86_400e9) / 3_600e9
    xlabel = "time of day (UTC hours)"
    if len(hours) and hours[-1] - hours[0] < 0.05:  # under 3 minutes: seconds from start
        start = float(hours[0]) * 3600
        hh, mm, ss = int(start // 3600), int(start // 60 % 60), start % 60
        hours = hours * 3600 - start
        xlabel = f"seconds after {hh:02d}:{mm:02d}:{ss:06.3f}"
    fig, (top, low) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    top.step(hours, bid, where="post", color="tab:green", lw=0.8, label="best bid")
    top.step(hours, ask, where="post", color="tab:red", lw=0.8, label="best ask")
    top.set_ylabel("price")
    top.set_title(title)
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    low.step(hours, bid_depth, where="post", color="tab:green", lw=0.8, label="bids")
    low.step(hours, ask_depth, where="post", color="tab:red", lw=0.8, label="asks")
    low.set_ylabel(depth_label)
    low.set_xlabel(xlabel)
    low.legend(loc="upper right")
    low.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(path), dpi=110)
    plt.close(fig)
