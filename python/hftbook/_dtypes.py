"""numpy structured dtypes that mirror the core's plain-data records byte for byte."""

from __future__ import annotations

import numpy as np

__all__ = [
    "BOOK_ORDER_DTYPE",
    "COMMAND_DTYPE",
    "ENGINE_COMMAND_DTYPE",
    "EVENT_DTYPE",
    "FILL_DTYPE",
    "LEVEL_DTYPE",
    "ORDER_DTYPE",
    "POSITION_DTYPE",
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
#: 3 cancel_oldest, 4 cancel_both. ``order_id`` 0 on an add lets the book assign one. A market
#: add takes no price: its ``price_ticks`` must be 0. A modify applies ``price_ticks`` and
#: ``qty`` (0 keeps the current quantity).
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

#: One engine event (112 bytes, the engine's ``Event``), as :meth:`Engine.poll` returns them.
#: ``kind`` indexes :data:`hftbook.EVENT_KINDS`, ``reason`` :data:`hftbook.ENGINE_REASONS`,
#: ``symbol`` :attr:`Engine.symbols`; ``side`` 0 buy / 1 sell; ``flags`` bit 0 = this fill's
#: order was the maker, bit 1 = events were conflated away before this one.
EVENT_DTYPE = _dtype(
    {
        "seq": ("<u8", 0),
        "symbol_seq": ("<u8", 8),
        "order_id": ("<u8", 16),
        "client_id": ("<u8", 24),
        "maker_id": ("<u8", 32),
        "taker_id": ("<u8", 40),
        "price_ticks": ("<i8", 48),
        "qty": ("<u8", 56),
        "leaves_qty": ("<u8", 64),
        "detail": ("<i8", 72),
        "ts_enqueued": ("<u8", 80),
        "ts_processed": ("<u8", 88),
        "account": ("<u4", 96),
        "symbol": ("<u4", 100),
        "cmd_seq": ("<u4", 104),
        "kind": ("u1", 108),
        "side": ("u1", 109),
        "reason": ("u1", 110),
        "flags": ("u1", 111),
    },
    112,
)

#: One command of :meth:`Engine.submit_batch` (96 bytes, the engine's ``Command``).
#: ``kind``: 0 submit, 1 cancel, 2 modify. ``symbol``: index into :attr:`Engine.symbols`.
#: ``side``: 0 buy, 1 sell. ``order_type``: 0 limit, 1 market, 2 stop, 3 stop_limit (market
#: and stop orders take no price: ``price_ticks`` 0). ``tif``: 0 gtc, 1 ioc, 2 fok, 3 day,
#: 4 gtd. ``flags``: 2 post_only (submit), 4 the modify sets ``price_ticks``. ``seq``,
#: ``order_seq``, ``ts_enqueued`` and (on submits) ``order_id`` are filled in by the engine.
ENGINE_COMMAND_DTYPE = _dtype(
    {
        "seq": ("<u8", 0),
        "order_id": ("<u8", 8),
        "client_id": ("<u8", 16),
        "price_ticks": ("<i8", 24),
        "stop_price_ticks": ("<i8", 32),
        "qty": ("<u8", 40),
        "display_qty": ("<u8", 48),
        "expire_at": ("<u8", 56),
        "ts_enqueued": ("<u8", 64),
        "account": ("<u4", 72),
        "symbol": ("<u4", 76),
        "order_seq": ("<u4", 80),
        "kind": ("u1", 84),
        "side": ("u1", 85),
        "order_type": ("u1", 86),
        "tif": ("u1", 87),
        "stp": ("u1", 88),
        "flags": ("u1", 89),
    },
    96,
)


#: One position of :meth:`Engine.positions` (88 bytes): an account's position in a symbol.
#: ``net``, ``bought``, ``sold``: units (lots x lot size), ``net`` negative when short.
#: Money in **tick-lots** (one tick of price on one lot; x tick size x lot size for the
#: quote currency): ``cost`` of the open lots (average cost x net), ``realized`` PnL,
#: ``unrealized`` PnL at ``mark_ticks`` (the symbol's last trade; 0 and ``has_mark`` 0 before
#: one). ``fees_bps``: fees paid in tick-lot basis points (/ 10 000 for tick-lots; negative
#: for net rebates). :meth:`Engine.pnl` gives the same as ``Decimal``s in the currency.
POSITION_DTYPE = _dtype(
    {
        "account": ("<u4", 0),
        "symbol": ("<u4", 4),
        "net": ("<i8", 8),
        "cost": ("<i8", 16),
        "realized": ("<i8", 24),
        "fees_bps": ("<i8", 32),
        "mark_ticks": ("<i8", 40),
        "unrealized": ("<i8", 48),
        "bought": ("<u8", 56),
        "sold": ("<u8", 64),
        "trades": ("<u8", 72),
        "has_mark": ("<u8", 80),
    },
    88,
)
