"""TWAP execution: a parent quantity in evenly timed, marketable child orders.

>>> import hftbook as hb
>>> from hftbook.strategies import TWAP
>>> with hb.Engine(symbols={"AAPL": {"tick_size": "0.01"}}) as e:
...     _ = e.submit("AAPL", "sell", price="100.00", qty=50)
...     _ = e.submit("AAPL", "sell", price="100.02", qty=50)
...     algo = e.add_strategy(TWAP("AAPL", "buy", 60, 0.1, slices=3, sweep_levels=2), account=7)
...     algo.wait(lambda s: s.done)
>>> algo.filled, algo.remaining, algo.avg_price
(60, 0, Decimal('100.003333'))
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hftbook.engine import Event
from hftbook.strategies._orders import OrderTracker, price_of
from hftbook.strategy import Strategy

__all__ = ["TWAP"]

_TIMER = "twap"


class TWAP(Strategy):
    """Buy or sell ``quantity`` of ``symbol`` evenly over ``duration_s`` seconds.

    Slice ``k`` (``0 .. slices-1``) goes out ``k * duration_s / slices`` seconds after the
    start (the first at once in ``on_start``, the others on a repeating timer, so on the
    engine's clock in the simulation mode). Its target is the cumulative schedule:
    ``quantity * (k+1) // slices`` (in lots) filled by then, so what earlier slices did not
    fill carries into it; the last slice's target is the whole ``quantity``. A child order
    is the target minus what is filled minus what is still working, sent as an IOC limit at
    the far touch (the best ask to buy, the best bid to sell), never beyond ``limit_price``
    (a buy above it / a sell below it is not sent: that slice sends nothing and its
    quantity carries). An empty far side sends nothing either. With ``sweep_levels`` > 1
    the limit goes as deep as the first ``sweep_levels`` levels need to hold the child's
    quantity (still capped at ``limit_price``).

    ``done`` turns True once ``quantity`` is filled, or once the last slice went out and
    its order (if any) is finished: what is then not filled stays in ``remaining``. When
    done, no more child orders go out and :meth:`on_done` runs (once).

    Args:
        symbol: the symbol traded.
        side: ``"buy"`` or ``"sell"``.
        quantity: the parent quantity (qty units: a multiple of the lot size).
        duration_s: the schedule's length, seconds (> 0).
        slices: child orders in the schedule (≥ 1).
        limit_price: the worst price a child order may have (None: no limit).
        sweep_levels: book levels a child order may take (1: the far touch only).
        on_done: called with the strategy when it is done (see :meth:`on_done`).
        name: the strategy's name (default: the class name).
        max_child_qty: the largest child order (qty units). Children are also capped at
            the account's ``max_order_qty`` risk limit, so a catch-up child is never
            refused for its size; what a cap holds back carries into the next slices.
    """

    def __init__(
        self,
        symbol: str,
        side: str,
        quantity: int,
        duration_s: float,
        slices: int = 10,
        limit_price: Any = None,
        sweep_levels: int = 1,
        on_done: Callable[[TWAP], object] | None = None,
        name: str | None = None,
        max_child_qty: int | None = None,
    ) -> None:
        if side not in ("buy", "sell"):
            raise ValueError("side must be 'buy' or 'sell'")
        if quantity <= 0 or slices < 1 or not duration_s > 0 or sweep_levels < 1:
            raise ValueError("quantity, slices, duration_s and sweep_levels must be positive")
        if max_child_qty is not None and max_child_qty <= 0:
            raise ValueError("max_child_qty must be positive")
        self.sweep_levels = sweep_levels
        self.max_child_qty = max_child_qty
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.duration_s = float(duration_s)
        self.slices = slices
        self.limit_price = None if limit_price is None else Decimal(str(limit_price))
        self.orders = OrderTracker()
        #: Filled quantity, and child orders sent as ``(order id, qty)``.
        self.filled = 0
        self.children: list[tuple[int, int]] = []
        self.done = False
        self._notional = Decimal(0)
        self._next_slice = 0
        self._callback = on_done
        if name:
            self.name = name

    @property
    def remaining(self) -> int:
        """The quantity not filled yet."""
        return self.quantity - self.filled

    @property
    def avg_price(self) -> Decimal | None:
        """The average fill price (four decimals finer than the tick); None before a fill."""
        if not self.filled:
            return None
        tick = self.engine.tick_size(self.symbol)
        return (self._notional / self.filled).quantize(tick.scaleb(-4))

    def on_done(self) -> None:
        """Called once when the execution is done; calls the ``on_done`` argument if given."""
        if self._callback is not None:
            self._callback(self)

    # -- callbacks ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Send the first slice and start the timer of the others."""
        if self.symbol not in self.symbols:
            raise ValueError(f"{self.symbol!r} is not one of the strategy's symbols")
        lot = int(self.engine.lot_sizes[self.engine.symbols.index(self.symbol)])
        if self.quantity % lot:
            raise ValueError(f"quantity {self.quantity} is not a multiple of lot_size {lot}")
        if self.limit_price is not None:
            tick = self.engine.tick_size(self.symbol)
            if (self.limit_price / tick) % 1:
                raise ValueError(f"limit_price {self.limit_price} is not a multiple of {tick}")
        if self.slices > 1:
            self.set_timer(_TIMER, self.duration_s / self.slices)
        self._slice()

    def on_timer(self, name: str) -> None:
        """The next slice."""
        if name == _TIMER:
            self._slice()

    def on_fill(self, fill: Event) -> None:
        """Count the fill."""
        if fill.symbol != self.symbol or fill.order_id not in self.orders.orders:
            return
        self.filled += fill.qty
        assert fill.price is not None
        self._notional += fill.price * fill.qty
        self.orders.apply(fill)
        self._check_done()

    def on_order_event(self, event: Event) -> None:
        """Follow the child orders."""
        if self.orders.apply(event) is not None:
            self._check_done()

    def on_stop(self) -> None:
        """Stop the schedule."""
        self.cancel_timer(_TIMER)

    # -- machinery ---------------------------------------------------------------------------

    def _slice(self) -> None:
        if self.done or self._next_slice >= self.slices:
            self.cancel_timer(_TIMER)
            return
        k = self._next_slice
        self._next_slice += 1
        if self._next_slice >= self.slices:
            self.cancel_timer(_TIMER)
        lot = int(self.engine.lot_sizes[self.engine.symbols.index(self.symbol)])
        lots = self.quantity // lot
        target = lots * (k + 1) // self.slices * lot
        working = self.orders.open_qty(self.symbol, self.side)
        child = min(target - self.filled - working, self._child_cap(lot))
        if child > 0:
            self._send(child)
        self._check_done()

    def _child_cap(self, lot: int) -> int:
        """The largest child: ``max_child_qty`` and the account's ``max_order_qty``.

        A catch-up child past the account's limit would be refused, and so would every one
        after it (each carries the shortfall): the child is capped and the rest carried on.
        """
        cap = self.max_child_qty if self.max_child_qty is not None else self.quantity
        risk_max = self.engine.risk.limits(self.account).get("max_order_qty")
        if isinstance(risk_max, int) and risk_max > 0:
            cap = min(cap, risk_max * lot)
        return cap // lot * lot

    def _send(self, qty: int) -> None:
        tick = self.engine.tick_size(self.symbol)
        depth = self.engine.book(self.symbol).depth(self.sweep_levels)
        levels = depth.asks if self.side == "buy" else depth.bids
        if not len(levels):
            return
        limit = None if self.limit_price is None else int(self.limit_price / tick)
        px = None
        held = 0
        for level_px, level_qty in zip(
            levels["price_ticks"].tolist(), levels["qty"].tolist(), strict=True
        ):
            beyond = limit is not None and (
                level_px > limit if self.side == "buy" else level_px < limit
            )
            if beyond:
                break
            px, held = int(level_px), held + int(level_qty)
            if held >= qty:
                break
        if px is None:
            return
        act = self.buy if self.side == "buy" else self.sell
        oid = act(self.symbol, qty, price=price_of(px, tick), tif="ioc")
        self.orders.sent(oid, self.symbol, self.side, px, qty)
        self.children.append((oid, qty))

    def _check_done(self) -> None:
        if self.done:
            return
        finished = self._next_slice >= self.slices and not self.orders.orders
        if self.filled >= self.quantity or finished:
            self.done = True
            self.cancel_timer(_TIMER)
            self.on_done()
