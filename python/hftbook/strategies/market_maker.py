"""A market maker: a bid and an ask around the mid, skewed and sized by inventory.

>>> import hftbook as hb
>>> from hftbook.strategies import MarketMaker
>>> with hb.Engine(symbols={"AAPL": {"tick_size": "0.01"}}, book_events=True) as e:
...     _ = e.submit("AAPL", "buy", price="99.00", qty=5)
...     _ = e.submit("AAPL", "sell", price="101.00", qty=5)
...     mm = e.add_strategy(MarketMaker(size=10, half_spread_ticks=2), account=7)
...     mm.wait(lambda s: None not in s.quotes("AAPL"))
...     bid, ask = mm.quotes("AAPL")
>>> bid, ask  # (price, qty) 2 ticks around the mid 100.00; cancelled at the stop
((Decimal('99.98'), 10), (Decimal('100.02'), 10))
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from hftbook._core import _scan_events
from hftbook.engine import ENGINE_REASONS, EVENT_KINDS
from hftbook.exceptions import HftbookError
from hftbook.strategies._orders import LIVE, OrderTracker, WorkingOrder, price_of
from hftbook.strategy import Strategy

__all__ = ["MarketMaker"]

_PRIVATE = frozenset(("accepted", "rejected", "fill", "cancelled", "modified", "expired"))
_TRADE = EVENT_KINDS.index("trade")
_FILL = EVENT_KINDS.index("fill")
#: A bit per event kind code: an own order event the strategy follows (``_OWN_KINDS``); an
#: event after which its symbol is requoted (``_TOUCH_KINDS``: those, trades, book changes).
_OWN_KINDS = sum(1 << EVENT_KINDS.index(k) for k in _PRIVATE)
_TOUCH_KINDS = _OWN_KINDS | (1 << _TRADE) | (1 << EVENT_KINDS.index("book"))


class _Quote:
    """Per symbol state: inventory, last trade price, lot size and book reader."""

    __slots__ = ("inventory", "last_trade", "lot", "reader")

    def __init__(self, inventory: int, lot: int, reader: Any) -> None:
        self.inventory = inventory
        self.last_trade: int | None = None
        self.lot = lot
        self.reader = reader


class MarketMaker(Strategy):
    """Quote a bid and an ask in each symbol around the mid, with inventory skew.

    Pricing, in ticks: ``mid`` is the middle of the best bid and ask of the *others*
    (the strategy's own working quotes are taken out of the book); when either side is
    empty it is the last trade price seen, and with no trade either the strategy does not
    quote (and cancels its quotes). The reservation price is ``r = mid - skew_ticks_per_lot
    * inventory`` (inventory in lots, signed), the bid ``floor(r - half_spread_ticks)``, the
    ask ``ceil(r + half_spread_ticks)``, neither crossing the others' best opposite price
    (the quotes stay passive) nor its own opposite order (still working, or being moved or
    cancelled: no self-trade), and the ask at least a tick above the bid.

    Sizing: the side that adds to the position (the bid when long, the ask when short)
    quotes ``floor(size * (1 - |inventory| / max_inventory))``, the other side ``size``; a
    side is never quoted for more than would take ``|inventory|`` past ``max_inventory``
    (its working order counted), and not at all when that leaves nothing (less than a lot).

    Working orders: at most one per side per symbol, followed from its events only (a new
    quote, a modify and a cancel each wait for the engine's answer before the next action
    on that side). A quote is moved only when its target price moved by ``requote_ticks``
    or more: with a price-only modify when its open quantity is the new target size (a
    price-only modify keeps the open quantity, so a fill racing it cannot overshoot the
    inventory limit), else by a cancel and then, once the cancel is confirmed, a new quote
    of the target size (``requote="cancel"`` always does that). A side whose target size
    falls to zero is cancelled; a size change alone does not requote. ``on_stop`` cancels
    every order of the account.

    When it requotes: after every batch with a trade, a book change or one of its own order
    events in a quoted symbol. The engine publishes book changes only with
    ``book_events = true`` (off by default): without it the quotes follow the others'
    orders only when something trades, or every ``refresh_s`` seconds if given (a timer).

    Args:
        symbols: the symbols to quote (default: every symbol the strategy receives).
        size: the quote size (qty units: a multiple of the symbol's lot size).
        half_spread_ticks: distance of each quote from the reservation price, in ticks (> 0).
        skew_ticks_per_lot: ticks the reservation price moves per lot of inventory.
        max_inventory: the limit of ``|inventory|`` (qty units).
        requote_ticks: move a quote only when its target moved by this many ticks.
        requote: ``"modify"`` (default) or ``"cancel"`` (cancel, then a new quote).
        refresh_s: also requote every ``refresh_s`` seconds (None: only on events).
        name: the strategy's name (default: the class name).
    """

    def __init__(
        self,
        symbols: list[str] | None = None,
        size: int = 10,
        half_spread_ticks: float = 1,
        skew_ticks_per_lot: float = 0.1,
        max_inventory: int = 100,
        requote_ticks: int = 1,
        requote: str = "modify",
        refresh_s: float | None = None,
        name: str | None = None,
    ) -> None:
        if size <= 0 or max_inventory <= 0:
            raise ValueError("size and max_inventory must be positive")
        if not half_spread_ticks > 0:
            raise ValueError("half_spread_ticks must be positive")
        if requote_ticks < 1:
            raise ValueError("requote_ticks must be at least 1")
        if requote not in ("modify", "cancel"):
            raise ValueError("requote must be 'modify' or 'cancel'")
        self.quote_symbols: tuple[str, ...] = tuple(symbols or ())
        self.size = size
        self.half_spread = Fraction(str(half_spread_ticks))
        self.skew = Fraction(str(skew_ticks_per_lot))
        # The pricing's integers (numerators and denominators), taken once.
        self._sn, self._sd = self.skew.numerator, self.skew.denominator
        self._hn, self._hd = self.half_spread.numerator, self.half_spread.denominator
        self.max_inventory = max_inventory
        self.requote_ticks = requote_ticks
        self.requote = requote
        if refresh_s is not None and not refresh_s > 0:
            raise ValueError("refresh_s must be positive")
        self.refresh_s = refresh_s
        self.orders = OrderTracker()
        self._state: dict[str, _Quote] = {}
        self._idx_of: dict[int, _Quote] = {}  # symbol index -> its state
        if name:
            self.name = name

    # -- introspection -----------------------------------------------------------------------

    def inventory(self, symbol: str) -> int:
        """The position in ``symbol`` (qty units), from the start position and the fills."""
        st = self._state.get(symbol)
        return 0 if st is None else st.inventory

    def quotes(self, symbol: str) -> tuple[tuple[Decimal, int] | None, tuple[Decimal, int] | None]:
        """The working bid and ask of ``symbol`` as ``(price, open qty)`` (None: no order).

        As the strategy knows them from its events: only orders the engine accepted.
        """
        tick = self.engine.tick_size(symbol)
        out: list[tuple[Decimal, int] | None] = []
        for side in ("buy", "sell"):
            live = [o for o in self.orders.working(symbol, side) if o.state == LIVE]
            o = live[0] if live else None
            out.append(
                None
                if o is None or o.price_ticks is None
                else (price_of(o.price_ticks, tick), o.qty)
            )
        return out[0], out[1]

    # -- callbacks ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Read the start positions and quote."""
        if not self.quote_symbols:
            self.quote_symbols = self.symbols
        for sym in self.quote_symbols:
            if sym not in self.symbols:
                raise ValueError(f"{sym!r} is not one of the strategy's symbols {self.symbols}")
            net = int(self.position(sym)["net"])
            i = self.engine.symbols.index(sym)
            self._state[sym] = _Quote(
                net,
                int(self.engine.lot_sizes[i]),
                self.engine.book(sym),
            )
            self._idx_of[i] = self._state[sym]
        for sym in self.quote_symbols:
            self._quote(sym)
        if self.refresh_s is not None:
            self.set_timer("refresh", self.refresh_s)

    def on_timer(self, name: str) -> None:
        """Requote every symbol (the ``refresh_s`` timer)."""
        if name == "refresh":
            for sym in self.quote_symbols:
                self._quote(sym)

    def on_events(self, batch: np.ndarray) -> None:
        """Apply the batch's trades and own order events in order, then requote."""
        # One pass in Rust (``_scan_events``): the symbols with a trade, a book change or an
        # own order event, the last trade price of each, and the own order events as tuples.
        # The last trade per symbol and the inventory/order state are independent of each
        # other, so applying the trades first and then the own events (each in batch
        # order) is the same as applying everything in batch order.
        touched, last, own = _scan_events(batch, _TOUCH_KINDS, _OWN_KINDS)
        if not touched:
            return
        idx = self._idx_of
        for s, px in last:
            st = idx.get(s)
            if st is not None:
                st.last_trade = px
        if own:
            apply = self.orders.apply_fields
            nreasons = len(ENGINE_REASONS)
            for oid, k, s, side, px, qty, leaves, reason in own:
                st = idx.get(s)
                if st is None:
                    continue
                if k == _FILL:
                    st.inventory += qty if side == 0 else -qty
                rname = ENGINE_REASONS[reason] if reason < nreasons else "?"
                apply(oid, EVENT_KINDS[k], px, qty, leaves, rname)
        names = self.engine.symbols
        for i, st in idx.items():  # in the strategy's order of symbols
            if i in touched:
                self._quote(names[i], st)

    def on_stop(self) -> None:
        """Cancel every order of the account."""
        try:
            self.cancel_all()
        except HftbookError:
            pass  # the engine already stopped: nothing is open

    # -- quoting -----------------------------------------------------------------------------

    @staticmethod
    def _others_best(st: _Quote, own: dict[tuple[str, int], int]) -> tuple[int | None, int | None]:
        """The best bid and ask (ticks) without the strategy's own orders.

        ``own``: their open quantity by side and price (an order being moved counted at its
        old and its new price).
        """
        # The touch answers unless the strategy's own orders are all there is at a best
        # level: then the next levels are read.
        _, bid, ask = st.reader.top()
        fast: list[int | None] = []
        for side, lv in (("buy", bid), ("sell", ask)):
            if lv is None:
                fast.append(None)
                continue
            px = lv.price_ticks
            if lv.qty - own.get((side, px), 0) <= 0:
                break
            fast.append(px)
        else:
            return fast[0], fast[1]
        depth = st.reader.depth(5)
        best: list[int | None] = []
        for side, levels in (("buy", depth.bids), ("sell", depth.asks)):
            found = None
            for px, qty in zip(levels["price_ticks"].tolist(), levels["qty"].tolist(), strict=True):
                if qty - own.get((side, px), 0) > 0:
                    found = int(px)
                    break
            best.append(found)
        return best[0], best[1]

    def _target_size(self, inventory: int, side: str, lot: int) -> int:
        """The quote size of ``side`` (qty units, lot multiple; 0: do not quote it)."""
        signed = inventory if side == "buy" else -inventory  # the position this side adds to
        raw = self.size
        if signed > 0:
            # floor(size * (1 - signed / max_inventory)), in integers.
            raw = self.size * (self.max_inventory - signed) // self.max_inventory
        q = min(raw, self.max_inventory - signed)
        return max(0, q // lot * lot)

    def _quote(self, symbol: str, st: _Quote | None = None) -> None:
        if st is None:
            st = self._state[symbol]
        # The symbol's working orders, oldest first, in one pass: per side, and where they
        # may be in the book (an order being moved at its old and its new price).
        mine = self.orders.working(symbol)
        buys: list[WorkingOrder] = []
        sells: list[WorkingOrder] = []
        own_bids: list[int] = []
        own_asks: list[int] = []
        own: dict[tuple[str, int], int] = {}
        for o in mine:
            side = o.side
            if side == "buy":
                buys.append(o)
                at = own_bids
            else:
                sells.append(o)
                at = own_asks
            p0, p1 = o.price_ticks, o.prev_price_ticks
            if p0 is not None:
                at.append(p0)
                own[side, p0] = own.get((side, p0), 0) + o.qty
            if p1 is not None:
                at.append(p1)
                if p1 != p0:
                    own[side, p1] = own.get((side, p1), 0) + o.qty
        best_bid, best_ask = self._others_best(st, own)
        # mid = mn / md
        if best_bid is not None and best_ask is not None:
            mn, md = best_bid + best_ask, 2
        elif st.last_trade is not None:
            mn, md = st.last_trade, 1
        else:
            for o in mine:
                self._cancel(o)
            return
        # r = mid - skew * inventory / lot; bid = floor(r - half_spread), ask = ceil(r +
        # half_spread): exact, in integers over the common denominator d.
        sn, sd, hn, hd = self._sn, self._sd, self._hn, self._hd
        lot = st.lot
        inv = st.inventory
        d = md * sd * lot * hd
        r = mn * sd * lot * hd - sn * inv * md * hd
        h = hn * md * sd * lot
        bid = (r - h) // d
        ask = -((-(r + h)) // d)
        if best_ask is not None:
            bid = min(bid, best_ask - 1)
        if best_bid is not None:
            ask = max(ask, best_bid + 1)
        ask = max(ask, bid + 1)
        # Nor its own opposite quote, even one being cancelled or moved: no self-trade.
        if own_asks:
            bid = min(bid, min(own_asks) - 1)
        if own_bids:
            ask = max(ask, max(own_bids) + 1)
        for side, px, working in (("buy", bid, buys), ("sell", ask, sells)):
            size = self._target_size(inv, side, lot) if px > 0 else 0
            if not working:
                if size > 0:
                    self._place(symbol, side, px, size)
                continue
            o = working[0]
            if o.state != LIVE or o.price_ticks is None:
                continue  # an action on it is in flight: wait for its answer
            if size == 0:
                self._cancel(o)
            elif abs(px - o.price_ticks) >= self.requote_ticks:
                if self.requote == "modify" and o.qty == size:
                    self.orders.modifying(o.order_id, px)
                    self.modify(o.order_id, price_ticks=px)
                else:
                    self._cancel(o)  # the new quote follows its confirmation

    def _place(self, symbol: str, side: str, px: int, qty: int) -> None:
        # Never more than max_inventory, counting the working orders of that side.
        inv = self._state[symbol].inventory
        signed = inv if side == "buy" else -inv
        qty = min(qty, self.max_inventory - signed - self.orders.open_qty(symbol, side))
        if qty <= 0:
            return
        act = self.buy if side == "buy" else self.sell
        oid = act(symbol, qty, price_ticks=px)
        self.orders.sent(oid, symbol, side, px, qty)

    def _cancel(self, o: WorkingOrder) -> None:
        if o.state == LIVE:
            self.orders.cancelling(o.order_id)
            self.cancel(o.order_id)

    def __repr__(self) -> str:
        return f"MarketMaker(symbols={list(self.quote_symbols)}, size={self.size})"
