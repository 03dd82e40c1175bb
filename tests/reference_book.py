"""A pure-Python, deliberately naive reference order book for the stateful test.

It implements the matching rules of ``rust/core/src/book/mod.rs`` as directly as possible, with
no attempt at speed: each side is a list of ``[price, [orders...]]`` levels kept best first,
each level a plain list used as a FIFO. Prices are integer ticks, quantities integer units
(``lot_size`` 1). It is the oracle ``tests/test_stateful.py`` compares ``hb.OrderBook`` to.

Rules (the same as the core):

* price-time priority; a trade prints at the maker's price;
* a limit order trades while its limit crosses the best opposite level, then its residual
  rests (GTC) or is cancelled (IOC, reason ``unfilled_ioc``); a market order never rests;
* FOK: filled completely at once or rejected (``fok_not_fillable``) with no side effect --
  here decided by running the match on a deep copy of the book;
* post-only: rejected (``post_only_would_take``) if its price crosses the opposite best;
* iceberg (``display_qty < qty``): only the display is visible; when the visible part is
  used up it is replenished from the reserve and goes to the BACK of its level with a new
  timestamp;
* self-trade prevention between orders of the same non-zero account, with the taker's mode
  (or the book default): ``none`` trades, ``cancel_newest`` cancels the taker's residual,
  ``cancel_oldest`` cancels the resting order and goes on, ``cancel_both`` does both;
* modify: a size decrease at the same price keeps priority (the cut comes out of the
  iceberg reserve first); a price change or a size increase loses it and may trade;
  a post-only order whose new price would take is rejected and left as it was;
* cancel/modify of an order that is not resting raises ``UnknownOrder``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

STP_MODES = ("none", "cancel_newest", "cancel_oldest", "cancel_both")
PRICE_MAX = (1 << 62) - 1


class RefError(Exception):
    """A request the book must refuse; ``kind`` is the hftbook exception class name."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass
class RefOrder:
    order_id: int
    side: str
    price: int
    visible: int
    hidden: int
    display: int
    account: int
    stp: str
    post_only: bool
    ts: int

    @property
    def open(self) -> int:
        return self.visible + self.hidden


@dataclass(frozen=True)
class RefFill:
    seq: int
    timestamp: int
    maker_id: int
    taker_id: int
    price_ticks: int
    qty: int
    maker_remaining: int
    taker_side: str


@dataclass
class RefReport:
    order_id: int
    status: str
    reason: str | None = None
    filled_qty: int = 0
    remaining_qty: int = 0
    cancelled_qty: int = 0
    fills: list[RefFill] = field(default_factory=list)
    self_trade_cancels: list[tuple[int, int]] = field(default_factory=list)
    #: Iceberg replenishments during the operation (statistics only).
    replenished: int = 0


def _crosses(side: str, limit: int, other: int) -> bool:
    return limit >= other if side == "buy" else limit <= other


def _better(side: str, a: int, b: int) -> bool:
    """Whether price ``a`` has priority over ``b`` on ``side``."""
    return a > b if side == "buy" else a < b


class ReferenceBook:
    """The naive book. ``now`` is the timestamp of the next operation (a manual clock)."""

    def __init__(
        self,
        *,
        stp_default: str = "cancel_newest",
        min_qty: int = 1,
        max_qty: int = (1 << 64) - 1,
    ) -> None:
        self.stp_default = stp_default
        self.min_qty = min_qty
        self.max_qty = max_qty
        self.sides: dict[str, list[list]] = {"buy": [], "sell": []}
        self.next_id = 1
        self.seq = 0
        self.trade_count = 0
        self.now = 0

    # ----------------------------------------------------------------- queries

    def live(self) -> dict[int, RefOrder]:
        return {
            o.order_id: o for levels in self.sides.values() for _, queue in levels for o in queue
        }

    def __len__(self) -> int:
        return len(self.live())

    def __contains__(self, order_id: int) -> bool:
        return order_id in self.live()

    def depth(self, side: str) -> list[tuple[int, int, int]]:
        """``(price_ticks, displayed qty, order count)`` per level, best first."""
        return [(p, sum(o.visible for o in q), len(q)) for p, q in self.sides[side]]

    def orders(self, side: str) -> list[tuple[int, int, int, int, int, int, int]]:
        """L3: ``(id, price_ticks, qty, visible, hidden, account, timestamp)``, priority order."""
        return [
            (o.order_id, o.price, o.open, o.visible, o.hidden, o.account, o.ts)
            for _, q in self.sides[side]
            for o in q
        ]

    def volume_at(self, price: int) -> int:
        for side in ("buy", "sell"):
            for p, q in self.sides[side]:
                if p == price:
                    return sum(o.visible for o in q)
        return 0

    # ----------------------------------------------------------------- helpers

    def _check_qty(self, qty: int) -> None:
        if qty == 0:
            raise RefError("InvalidQuantity", "qty must be positive")
        if qty < self.min_qty:
            raise RefError("InvalidQuantity", "below min_qty")
        if qty > self.max_qty:
            raise RefError("InvalidQuantity", "above max_qty")

    @staticmethod
    def _check_price(price: int | None) -> None:
        if price is not None and abs(price) > PRICE_MAX:
            raise RefError("InvalidPrice", "out of range")

    def _would_cross(self, side: str, price: int) -> bool:
        opp = self.sides["sell" if side == "buy" else "buy"]
        return bool(opp) and _crosses(side, price, opp[0][0])

    def _rest(self, o: RefOrder) -> None:
        levels = self.sides[o.side]
        for i, (p, q) in enumerate(levels):
            if p == o.price:
                q.append(o)
                return
            if _better(o.side, o.price, p):
                levels.insert(i, [o.price, [o]])
                return
        levels.append([o.price, [o]])

    def _remove(self, order_id: int) -> RefOrder:
        for levels in self.sides.values():
            for li, (_, q) in enumerate(levels):
                for i, o in enumerate(q):
                    if o.order_id == order_id:
                        del q[i]
                        if not q:
                            del levels[li]
                        return o
        raise KeyError(order_id)

    def _assign_id(self) -> int:
        live = self.live()
        while True:
            oid = self.next_id
            self.next_id += 1
            if oid != 0 and oid not in live:
                return oid

    def _match(
        self,
        taker_id: int,
        side: str,
        limit: int | None,
        qty: int,
        account: int,
        stp: str,
        report: RefReport,
    ) -> tuple[int, bool]:
        """Trade ``qty`` against the opposite side; returns (filled, stopped by STP)."""
        opp = self.sides["sell" if side == "buy" else "buy"]
        remaining = qty
        stp_stop = False
        while remaining > 0 and opp and not stp_stop:
            price, queue = opp[0]
            if limit is not None and not _crosses(side, limit, price):
                break
            i = 0
            while remaining > 0 and i < len(queue):
                maker = queue[i]
                if account != 0 and stp != "none" and maker.account == account:
                    if stp == "cancel_newest":
                        stp_stop = True
                        break
                    del queue[i]
                    report.self_trade_cancels.append((maker.order_id, maker.open))
                    if stp == "cancel_both":
                        stp_stop = True
                        break
                    continue
                q = min(remaining, maker.visible)
                maker.visible -= q
                remaining -= q
                self.trade_count += 1
                report.fills.append(
                    RefFill(
                        seq=self.trade_count,
                        timestamp=self.now,
                        maker_id=maker.order_id,
                        taker_id=taker_id,
                        price_ticks=price,
                        qty=q,
                        maker_remaining=maker.open,
                        taker_side=side,
                    )
                )
                if maker.visible == 0:
                    del queue[i]
                    if maker.hidden > 0:
                        # Replenish from the reserve and lose priority: back of the level.
                        v = min(maker.display, maker.hidden)
                        maker.hidden -= v
                        maker.visible = v
                        maker.ts = self.now
                        queue.append(maker)
                        report.replenished += 1
            if not queue:
                del opp[0]
        return qty - remaining, stp_stop

    def _match_and_rest(
        self,
        o: RefOrder,
        limit: int | None,
        qty: int,
        rests: bool,
        report: RefReport,
    ) -> RefReport:
        filled, stp_stop = self._match(o.order_id, o.side, limit, qty, o.account, o.stp, report)
        report.filled_qty = filled
        rem = qty - filled
        if rem == 0:
            report.status = "filled"
            return report
        if not stp_stop and rests:
            assert limit is not None
            visible = min(o.display, rem) if o.display > 0 else rem
            o.visible, o.hidden, o.price, o.ts = visible, rem - visible, limit, self.now
            self._rest(o)
            report.remaining_qty = rem
            report.status = "new" if filled == 0 else "partially_filled"
        else:
            report.status = "cancelled"
            report.cancelled_qty = rem
            report.reason = "self_trade" if stp_stop else "unfilled_ioc"
        return report

    # ----------------------------------------------------------------- requests

    def submit(
        self,
        side: str,
        price: int | None,
        qty: int,
        *,
        order_type: str = "limit",
        tif: str | None = None,
        post_only: bool = False,
        display_qty: int = 0,
        account: int = 0,
        stp: str | None = None,
        order_id: int | None = None,
    ) -> RefReport:
        market = order_type == "market"
        if tif is None:
            tif = "ioc" if market else "gtc"
        if market and price is not None:
            raise RefError("InvalidOrder", "a market order takes no price")
        if not market and price is None:
            raise RefError("InvalidPrice", "a limit order needs a price")
        self._check_price(price)
        # The core's validation order: quantity, display, type/tif combinations, id.
        self._check_qty(qty)
        if display_qty > qty:
            raise RefError("InvalidQuantity", "display_qty above qty")
        iceberg = 0 < display_qty < qty
        if market and (post_only or iceberg):
            raise RefError("InvalidOrder", "market orders never rest")
        if not market and (post_only or iceberg) and tif != "gtc":
            raise RefError("InvalidOrder", "needs tif gtc")
        if order_id is not None and order_id in self:
            raise RefError("DuplicateOrderId", str(order_id))
        oid = order_id if order_id is not None else self._assign_id()
        self.seq += 1
        mode = stp if stp is not None else self.stp_default
        limit = None if market else price
        if post_only and self._would_cross(side, price):
            return RefReport(oid, "rejected", "post_only_would_take")
        if tif == "fok":
            trial = copy.deepcopy(self)
            filled, _ = trial._match(oid, side, limit, qty, account, mode, RefReport(oid, ""))
            if filled < qty:
                return RefReport(oid, "rejected", "fok_not_fillable")
        o = RefOrder(
            order_id=oid,
            side=side,
            price=limit if limit is not None else 0,
            visible=0,
            hidden=0,
            display=display_qty if iceberg else 0,
            account=account,
            stp=mode,
            post_only=post_only,
            ts=self.now,
        )
        rests = not market and tif == "gtc"
        return self._match_and_rest(o, limit, qty, rests, RefReport(oid, ""))

    def cancel(self, order_id: int) -> RefReport:
        if order_id not in self:
            raise RefError("UnknownOrder", str(order_id))
        self.seq += 1
        o = self._remove(order_id)
        return RefReport(order_id, "cancelled", "requested", cancelled_qty=o.open)

    def modify(self, order_id: int, price: int | None = None, qty: int | None = None) -> RefReport:
        self._check_price(price)  # the binding converts the price before looking the id up
        live = self.live()
        if order_id not in live:
            raise RefError("UnknownOrder", str(order_id))
        o = live[order_id]
        new_price = o.price if price is None else price
        new_qty = o.open if qty is None else qty
        self._check_qty(new_qty)
        self.seq += 1
        if new_price == o.price and new_qty <= o.open:
            cut = o.open - new_qty
            from_hidden = min(cut, o.hidden)
            o.hidden -= from_hidden
            o.visible -= cut - from_hidden
            return RefReport(order_id, "new", remaining_qty=new_qty)
        if o.post_only and self._would_cross(o.side, new_price):
            return RefReport(order_id, "rejected", "post_only_would_take", remaining_qty=o.open)
        self._remove(order_id)
        return self._match_and_rest(o, new_price, new_qty, True, RefReport(order_id, ""))
