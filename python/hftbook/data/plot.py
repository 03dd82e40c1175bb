"""PNG plots of a reconstructed book (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["plot_top_of_book"]


def plot_top_of_book(
    path: str | Path,
    time_s: npt.ArrayLike,
    bid_price: npt.ArrayLike,
    ask_price: npt.ArrayLike,
    bid_size: npt.ArrayLike,
    ask_size: npt.ArrayLike,
    *,
    title: str = "",
    max_points: int = 20_000,
) -> Path:
    """Write a two-panel PNG: best bid/ask over time (top) and the size at each (bottom).

    The bid size is drawn below zero so neither series hides the other. Prices are floats
    with NaN where the side is empty; ``time_s`` is seconds after midnight. Long series are
    thinned to at most ``max_points`` points (every k-th row). Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(time_s, dtype=np.float64)
    step = max(1, len(t) // max_points)
    sl = slice(None, None, step)
    hours = t[sl] / 3600.0
    series: dict[str, Any] = {
        "bid": np.asarray(bid_price, dtype=np.float64)[sl],
        "ask": np.asarray(ask_price, dtype=np.float64)[sl],
        "bid_size": np.asarray(bid_size, dtype=np.float64)[sl],
        "ask_size": np.asarray(ask_size, dtype=np.float64)[sl],
    }
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(2, 1))
    try:
        ax1.step(hours, series["ask"], where="post", lw=0.7, color="tab:red", label="best ask")
        ax1.step(hours, series["bid"], where="post", lw=0.7, color="tab:green", label="best bid")
        ax1.set_ylabel("price ($)")
        ax1.legend(loc="upper left")
        ax1.set_title(title)
        ax1.grid(alpha=0.3)
        ax2.step(hours, series["ask_size"], where="post", lw=0.6, color="tab:red", label="ask")
        ax2.step(
            hours, -series["bid_size"], where="post", lw=0.6, color="tab:green", label="bid (< 0)"
        )
        ax2.axhline(0, color="black", lw=0.5)
        ax2.set_ylabel("size at best (shares)")
        ax2.set_xlabel("time (hours after midnight)")
        ax2.legend(loc="upper left")
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
