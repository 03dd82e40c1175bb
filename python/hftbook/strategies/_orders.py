"""Working-order bookkeeping shared by the shipped strategies.

A strategy's actions take effect later (latency; in the simulation mode, a later batch) and
may be refused, so the strategies never assume that an order they sent is in the book. They
record every order when they send it and follow it through its events only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hftbook.engine import Event

__all__ = ["OrderTracker", "WorkingOrder", "price_of"]

#: States of a working order: sent and not yet accepted; in the book; a modify in flight;
#: a cancel in flight.
NEW, LIVE, MODIFYING, CANCELLING = "new", "live", "modifying", "cancelling"


def price_of(ticks: int, tick: Decimal) -> Decimal:
    """``ticks`` * ``tick`` as a Decimal at the tick's precision."""
    return (Decimal(ticks) * tick).quantize(tick)


@dataclass
class WorkingOrder:
    """One of the strategy's own orders, as far as its events tell."""

    order_id: int
    symbol: str
    side: str
    price_ticks: int | None  # None: a market order
    qty: int  # open (leaves) quantity, as last known
    state: str = NEW
    prev_price_ticks: int | None = None  # the price before a modify in flight, while it is
    filled: int = 0


class OrderTracker:
    """The strategy's working orders, kept from the orders it sent and their events."""

    def __init__(self) -> None:
        self.orders: dict[int, WorkingOrder] = {}
        # The same orders by symbol (each dict in the order they were sent).
        self._by_symbol: dict[str, dict[int, WorkingOrder]] = {}

    def sent(
        self, order_id: int, symbol: str, side: str, price_ticks: int | None, qty: int
    ) -> WorkingOrder:
        """Record an order just sent."""
        o = WorkingOrder(order_id, symbol, side, price_ticks, qty)
        self.orders[order_id] = o
        self._by_symbol.setdefault(symbol, {})[order_id] = o
        return o

    def _drop(self, o: WorkingOrder) -> None:
        del self.orders[o.order_id]
        del self._by_symbol[o.symbol][o.order_id]

    def modifying(self, order_id: int, price_ticks: int) -> None:
        """Record a price modify just sent."""
        o = self.orders[order_id]
        o.prev_price_ticks, o.price_ticks, o.state = o.price_ticks, price_ticks, MODIFYING

    def cancelling(self, order_id: int) -> None:
        """Record a cancel just sent."""
        self.orders[order_id].state = CANCELLING

    def apply(self, ev: Event) -> WorkingOrder | None:
        """Apply one of the strategy's own order events; the order it is about, if tracked.

        The order is dropped once it is done (filled, cancelled, expired, or refused when
        new); a refused modify puts back the old price, a refused cancel leaves it live.
        """
        return self.apply_fields(
            ev.order_id, ev.kind, ev.price_ticks, ev.qty, ev.leaves_qty, ev.reason
        )

    def apply_fields(
        self, order_id: int, kind: str, price_ticks: int, qty: int, leaves_qty: int, reason: str
    ) -> WorkingOrder | None:
        """:meth:`apply` from an event's fields.

        The columns of an event row, ``kind`` and ``reason`` by name: for strategies that
        read the numpy batch without building :class:`~hftbook.Event` objects.
        """
        o = self.orders.get(order_id)
        if o is None:
            return None
        if kind == "accepted":
            if o.state == NEW:
                o.state = LIVE
            o.qty = leaves_qty
        elif kind == "fill":
            o.filled += qty
            o.qty = leaves_qty
            if o.qty <= 0:
                self._drop(o)
        elif kind == "modified":
            o.price_ticks = price_ticks
            o.qty = leaves_qty
            if o.state == MODIFYING:
                o.state, o.prev_price_ticks = LIVE, None
        elif kind in ("cancelled", "expired"):
            o.qty = 0
            self._drop(o)
        elif kind == "rejected":
            if o.state == NEW or reason == "unknown_order":
                o.qty = 0  # refused, or already gone (its last fill or cancel was seen)
                self._drop(o)
            elif o.state == MODIFYING:
                o.price_ticks, o.prev_price_ticks, o.state = o.prev_price_ticks, None, LIVE
            elif o.state == CANCELLING:
                o.state = LIVE
        return o

    def working(self, symbol: str, side: str | None = None) -> list[WorkingOrder]:
        """The working orders of ``symbol`` (of one side if given), oldest first."""
        mine = self._by_symbol.get(symbol)
        if not mine:
            return []
        if side is None:
            return list(mine.values())
        return [o for o in mine.values() if o.side == side]

    def open_qty(self, symbol: str, side: str) -> int:
        """The open quantity of the working orders of ``symbol`` on ``side``."""
        return sum(o.qty for o in self.working(symbol, side))
