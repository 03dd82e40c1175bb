"""A liquidity-taking momentum strategy on the trade prints of one symbol.

>>> import hftbook as hb
>>> from hftbook.strategies import Momentum
>>> with hb.Engine(symbols={"AAPL": {"tick_size": "0.01"}}) as e:
...     mo = e.add_strategy(Momentum("AAPL", lookback=3, threshold_bps=5, qty=10), account=7)
...     _ = e.submit("AAPL", "sell", price="101.00", qty=100)  # liquidity to buy from
...     for px in ("100.00", "100.05", "100.10"):  # a rising tape
...         _ = e.submit("AAPL", "sell", price=px, qty=1)
...         _ = e.submit("AAPL", "buy", price=px, qty=1)
...     mo.wait(lambda s: s.position_qty == 10)
>>> mo.entries
1
"""

from __future__ import annotations

from collections import deque

from hftbook.engine import Event
from hftbook.strategies._orders import OrderTracker, price_of
from hftbook.strategy import Strategy

__all__ = ["Momentum"]


class Momentum(Strategy):
    """Buy when the trade prices rose over a window, sell when they fell; flatten on reversal.

    The signal: the window holds the last ``lookback`` trade prices of ``symbol`` (every
    public print, the strategy's own included); once full, after each trade the signal is
    the return over it, ``(last - first) / first`` in basis points.

    On each trade, with ``projected`` = the position + the open quantity of its working
    buys - that of its working sells (orders count from when they are sent until their
    events say they are done):

    1. Flatten: if ``projected > 0`` and the signal is below zero, sell ``projected``; if
       ``projected < 0`` and the signal is above zero, buy ``-projected``. Not subject to the
       cooldown.
    2. Enter: if the signal is above ``+threshold_bps``, buy ``min(qty, max_position -
       projected)``; below ``-threshold_bps``, sell ``min(qty, max_position + projected)``;
       nothing when that is zero or less, or when less than ``cooldown_ms`` of engine time
       (``engine.now()``) passed since the last entry.

    Orders are marketable: an IOC limit at the far touch (the best ask to buy, the best bid
    to sell) moved ``slippage_ticks`` further; no order when that side of the book is empty;
    what does not fill is cancelled by the engine and tried again on a later trade if the
    rule still says so. ``market_orders=True`` sends market orders instead.

    Args:
        symbol: the symbol traded.
        lookback: trade prices in the window (≥ 2).
        threshold_bps: the entry threshold, in basis points (> 0).
        qty: the entry size (qty units).
        max_position: the limit of ``|projected|`` for entries.
        cooldown_ms: engine-time milliseconds between two entries.
        slippage_ticks: how far past the far touch the IOC limit goes.
        market_orders: send market orders instead of IOC limits.
        name: the strategy's name (default: the class name).
    """

    def __init__(
        self,
        symbol: str,
        lookback: int = 20,
        threshold_bps: float = 5.0,
        qty: int = 10,
        max_position: int = 50,
        cooldown_ms: float = 1000.0,
        slippage_ticks: int = 0,
        market_orders: bool = False,
        name: str | None = None,
    ) -> None:
        if lookback < 2:
            raise ValueError("lookback must be at least 2")
        if not threshold_bps > 0:
            raise ValueError("threshold_bps must be positive")
        if qty <= 0 or max_position <= 0:
            raise ValueError("qty and max_position must be positive")
        if cooldown_ms < 0 or slippage_ticks < 0:
            raise ValueError("cooldown_ms and slippage_ticks cannot be negative")
        self.symbol = symbol
        self.lookback = lookback
        self.threshold_bps = float(threshold_bps)
        self.qty = qty
        self.max_position = max_position
        self.cooldown_ns = int(cooldown_ms * 1_000_000)
        self.slippage_ticks = slippage_ticks
        self.market_orders = market_orders
        self.orders = OrderTracker()
        self.prices: deque[int] = deque(maxlen=lookback)
        #: The position (qty units), from the start position and the fills.
        self.position_qty = 0
        #: Entries sent, and flattening orders sent.
        self.entries = 0
        self.flattens = 0
        self._last_entry: int | None = None
        if name:
            self.name = name

    @property
    def signal_bps(self) -> float | None:
        """The return over the window in basis points (None until the window is full)."""
        if len(self.prices) < self.lookback or self.prices[0] <= 0:
            return None
        return (self.prices[-1] - self.prices[0]) / self.prices[0] * 10_000.0

    @property
    def projected(self) -> int:
        """The position plus the open buys minus the open sells."""
        return (
            self.position_qty
            + self.orders.open_qty(self.symbol, "buy")
            - self.orders.open_qty(self.symbol, "sell")
        )

    def on_start(self) -> None:
        """Read the start position."""
        if self.symbol not in self.symbols:
            raise ValueError(f"{self.symbol!r} is not one of the strategy's symbols")
        self.position_qty = int(self.position(self.symbol)["net"])

    def on_trade(self, trade: Event) -> None:
        """Add the print to the window and act on the signal."""
        if trade.symbol != self.symbol:
            return
        self.prices.append(trade.price_ticks)
        sig = self.signal_bps
        if sig is None:
            return
        proj = self.projected
        if proj > 0 and sig < 0:
            if self._send("sell", proj):
                self.flattens += 1
        elif proj < 0 and sig > 0:
            if self._send("buy", -proj):
                self.flattens += 1
        now = self.engine.now()
        if self._last_entry is not None and now - self._last_entry < self.cooldown_ns:
            return
        proj = self.projected
        lot = int(self.engine.lot_sizes[self.engine.symbols.index(self.symbol)])
        if sig > self.threshold_bps:
            side, q = "buy", min(self.qty, self.max_position - proj)
        elif sig < -self.threshold_bps:
            side, q = "sell", min(self.qty, self.max_position + proj)
        else:
            return
        q = q // lot * lot
        if q > 0 and self._send(side, q):
            self.entries += 1
            self._last_entry = now

    def on_fill(self, fill: Event) -> None:
        """Update the position and the working orders."""
        if fill.symbol != self.symbol:
            return
        self.position_qty += fill.qty if fill.side == "buy" else -fill.qty
        self.orders.apply(fill)

    def on_order_event(self, event: Event) -> None:
        """Follow the working orders."""
        self.orders.apply(event)

    def _send(self, side: str, qty: int) -> bool:
        """A marketable order; False when the far side is empty (nothing sent)."""
        act = self.buy if side == "buy" else self.sell
        if self.market_orders:
            oid = act(self.symbol, qty)
            self.orders.sent(oid, self.symbol, side, None, qty)
            return True
        _seq, bid, ask = self.engine.book(self.symbol).top()
        far = ask if side == "buy" else bid
        if far is None:
            return False
        px = far.price_ticks + (self.slippage_ticks if side == "buy" else -self.slippage_ticks)
        if px <= 0:
            return False
        oid = act(
            self.symbol, qty, price=price_of(px, self.engine.tick_size(self.symbol)), tif="ioc"
        )
        self.orders.sent(oid, self.symbol, side, px, qty)
        return True
