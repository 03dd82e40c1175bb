"""Names a trader writes, as string enums.

Every API that takes one also takes the plain (case-insensitive) string, and every string the
API returns compares equal to a member.

    >>> import hftbook as hb
    >>> hb.Side.BUY == "buy"
    True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OrderStatus", "OrderType", "Side", "StpMode", "TimeInForce"]


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """Order type: a limit order may rest; a market order never rests."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    """How long an order's residual lives: GTC rests, IOC cancels, FOK fills all or nothing."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class StpMode(StrEnum):
    """Self-trade prevention between orders of the same non-zero account."""

    NONE = "none"
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"


class OrderStatus(StrEnum):
    """Status of an order after an operation (also the batch status code order)."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
