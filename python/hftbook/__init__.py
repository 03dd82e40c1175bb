"""hftbook: a limit order book and matching engine with a Rust hot path.

Quick start::

    >>> import hftbook as hb
    >>> book = hb.OrderBook("AAPL", tick_size="0.01", lot_size=1)
    >>> book.submit("sell", price="100.25", qty=10).status
    'new'
    >>> r = book.submit("buy", price="100.30", qty=4)
    >>> r.status, r.filled_qty, r.fills[0].price
    ('filled', 4, Decimal('100.25'))
    >>> book.best_ask()
    Level(price=100.25, qty=6, orders=1)
"""

from __future__ import annotations

import os as _os

# The extension's allocator is mimalloc. By default it commits whole arena reservations up
# front on Linux, which shows as ~8 bytes more RSS per resting order (69 instead of 61 for 1M
# orders; docs/performance.md). Committing on demand instead costs nothing measurable; it
# must be set before mimalloc starts, i.e. before _core loads. A value set by the user wins.
_os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
# Memory mimalloc frees back is "purged" after a delay. Its default purge, MADV_DONTNEED,
# drops the pages, so the next large allocation (a 1M-row batch writes ~50 MB of results)
# faults every page in again and the kernel zeroes it: on this project's VMs that cost up
# to 70 ms of system time inside a 50 ms batch. MADV_FREE instead leaves the pages mapped
# until the kernel needs them (RSS shown by `top` falls only then; the memory is available
# to other processes all along). Measured in docs/performance.md.
_os.environ.setdefault("MIMALLOC_PURGE_DECOMMITS", "0")

from hftbook._core import (
    REASON_NAMES,
    STATUS_NAMES,
    BatchResult,
    BookReader,
    Depth,
    ExecutionReport,
    Fill,
    Level,
    Order,
    OrderBook,
    Profiler,
    __version__,
)
from hftbook._dtypes import (
    BOOK_ORDER_DTYPE,
    COMMAND_DTYPE,
    ENGINE_COMMAND_DTYPE,
    EVENT_DTYPE,
    FILL_DTYPE,
    LEVEL_DTYPE,
    ORDER_DTYPE,
)
from hftbook.engine import ENGINE_REASONS, EVENT_KINDS, Engine, Event, Subscription
from hftbook.enums import OrderStatus, OrderType, Side, StpMode, TimeInForce
from hftbook.exceptions import (
    Backpressure,
    CapacityError,
    ConfigError,
    DataFormatError,
    DuplicateOrderId,
    EngineStateError,
    EngineStopped,
    HftbookError,
    InvalidOrder,
    InvalidPrice,
    InvalidQuantity,
    ReportError,
    UnknownOrder,
    UnknownSymbol,
)
from hftbook.profiling import LatencyReport, compare

__all__ = [
    "BOOK_ORDER_DTYPE",
    "COMMAND_DTYPE",
    "ENGINE_COMMAND_DTYPE",
    "ENGINE_REASONS",
    "EVENT_DTYPE",
    "EVENT_KINDS",
    "FILL_DTYPE",
    "LEVEL_DTYPE",
    "ORDER_DTYPE",
    "REASON_NAMES",
    "STATUS_NAMES",
    "Backpressure",
    "BatchResult",
    "BookReader",
    "CapacityError",
    "ConfigError",
    "DataFormatError",
    "Depth",
    "DuplicateOrderId",
    "Engine",
    "EngineStateError",
    "EngineStopped",
    "Event",
    "ExecutionReport",
    "Fill",
    "HftbookError",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidQuantity",
    "LatencyReport",
    "Level",
    "Order",
    "OrderBook",
    "OrderStatus",
    "OrderType",
    "Profiler",
    "ReportError",
    "Side",
    "StpMode",
    "Subscription",
    "TimeInForce",
    "UnknownOrder",
    "UnknownSymbol",
    "__version__",
    "compare",
]
