"""numpy structured dtypes that mirror the core's plain-data records byte for byte."""

from __future__ import annotations

import numpy as np

__all__ = [
    "BOOK_ORDER_DTYPE",
    "COMMAND_DTYPE",
    "FILL_DTYPE",
    "LEVEL_DTYPE",
    "ORDER_DTYPE",
]

_CMD_FIELDS = {
    "order_id": ("<u8", 0),
    "price_ticks": ("<i8", 8),
    "qty": ("<u8", 16),
    "display_qty": ("<u8", 24),
    "account": ("<u4", 32),
    "kind": ("u1", 36),
    "side": ("u1", 37),
    "order_type": ("u1", 38),
    "tif": ("u1", 39),
    "post_only": ("u1", 40),
    "stp": ("u1", 41),
}


def _dtype(fields: dict[str, tuple[str, int]], itemsize: int) -> np.dtype[np.void]:
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _ in fields.values()],
            "offsets": [o for _, o in fields.values()],
            "itemsize": itemsize,
        }
    )


#: One command of :meth:`OrderBook.apply_batch` (48 bytes, the core's ``Command``).
#: ``kind``: 0 add, 1 cancel, 2 modify. ``side``: 0 buy, 1 sell. ``order_type``: 0 limit,
#: 1 market. ``tif``: 0 gtc, 1 ioc, 2 fok. ``stp``: 0 book default, 1 none, 2 cancel_newest,
#: 3 cancel_oldest, 4 cancel_both. ``order_id`` 0 on an add lets the book assign one. A modify
#: applies ``price_ticks`` and ``qty`` (0 keeps the current quantity).
COMMAND_DTYPE = _dtype(_CMD_FIELDS, 48)

#: One new order of :meth:`OrderBook.submit_batch`: the command record without ``kind``.
ORDER_DTYPE = _dtype({k: v for k, v in _CMD_FIELDS.items() if k != "kind"}, 48)

#: One trade (64 bytes, the core's ``Fill``). ``price_ticks`` is the maker's price.
FILL_DTYPE = _dtype(
    {
        "seq": ("<u8", 0),
        "timestamp": ("<u8", 8),
        "maker_id": ("<u8", 16),
        "taker_id": ("<u8", 24),
        "price_ticks": ("<i8", 32),
        "qty": ("<u8", 40),
        "maker_remaining": ("<u8", 48),
        "taker_side": ("u1", 56),
    },
    64,
)

#: One price level of :meth:`OrderBook.depth`.
LEVEL_DTYPE = np.dtype(
    [("price_ticks", "<i8"), ("price", "<f8"), ("qty", "<u8"), ("orders", "<u4")]
)

#: One resting order of :meth:`OrderBook.orders` (L3), in priority order.
BOOK_ORDER_DTYPE = np.dtype(
    [
        ("order_id", "<u8"),
        ("price_ticks", "<i8"),
        ("price", "<f8"),
        ("qty", "<u8"),
        ("visible_qty", "<u8"),
        ("hidden_qty", "<u8"),
        ("account", "<u4"),
        ("timestamp", "<u8"),
    ]
)
