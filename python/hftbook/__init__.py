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

from hftbook import feed

# The extension sets its allocator's options itself when it loads (rust/py/src/allocator.rs):
# mimalloc commits arena memory on demand and purges with MADV_FREE unless the environment
# says otherwise. Nothing here touches os.environ.
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
    POSITION_DTYPE,
)
from hftbook.engine import (
    ENGINE_REASONS,
    EVENT_KINDS,
    Engine,
    Event,
    FeedServer,
    PositionArray,
    Subscription,
)
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
    JournalError,
    ReportError,
    UnknownOrder,
    UnknownSymbol,
)
from hftbook.journal import (
    AUDIT_DTYPE,
    COMMAND_KINDS,
    AuditTrail,
    JournalReplay,
    audit,
    replay_journal,
)
from hftbook.profiling import LatencyReport, compare
from hftbook.simulation import Simulation
from hftbook.strategy import Strategy

__all__ = [
    "AUDIT_DTYPE",
    "BOOK_ORDER_DTYPE",
    "COMMAND_DTYPE",
    "COMMAND_KINDS",
    "ENGINE_COMMAND_DTYPE",
    "ENGINE_REASONS",
    "EVENT_DTYPE",
    "EVENT_KINDS",
    "FILL_DTYPE",
    "LEVEL_DTYPE",
    "ORDER_DTYPE",
    "POSITION_DTYPE",
    "REASON_NAMES",
    "STATUS_NAMES",
    "AuditTrail",
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
    "FeedServer",
    "Fill",
    "HftbookError",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidQuantity",
    "JournalError",
    "JournalReplay",
    "LatencyReport",
    "Level",
    "Order",
    "OrderBook",
    "OrderStatus",
    "OrderType",
    "PositionArray",
    "Profiler",
    "ReportError",
    "Side",
    "Simulation",
    "StpMode",
    "Strategy",
    "Subscription",
    "TimeInForce",
    "UnknownOrder",
    "UnknownSymbol",
    "__version__",
    "audit",
    "compare",
    "feed",
    "replay_journal",
]
