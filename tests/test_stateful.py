"""Stateful property test: ``hb.OrderBook`` against the naive ``ReferenceBook``.

A hypothesis state machine sends the same random requests -- limit/market, GTC/IOC/FOK,
post-only, icebergs, accounts with every STP mode, cancels and modifies of live and dead ids,
caller ids (new, reused after death, duplicates of live ones) and invalid requests -- to both
books, and after every step compares the whole execution report and the whole book (depth,
L3 order lists, single-order lookups, len, seq, trade count, the lock-free reader) and runs
``check_invariants()``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

import hftbook as hb
from reference_book import PRICE_MAX, STP_MODES, ReferenceBook, RefError, RefReport

#: A passing run takes well under a minute; a failing one may shrink for up to five minutes
#: (hypothesis' own limit), which must not be cut short by the suite's 300 s timeout.
pytestmark = pytest.mark.timeout(900)

TICK = Decimal("0.01")
ALL = 1 << 20

# Prices in ticks: mostly a narrow band so that levels collide and cross all the time, some
# far away (deep levels, other ladder regions, negative prices), a few at the range limits.
NARROW = st.integers(9_990, 10_010)
FAR = st.integers(-200_000, 2_000_000)
EXTREME = st.sampled_from([PRICE_MAX, PRICE_MAX - 1, -PRICE_MAX, -PRICE_MAX + 1, 0, -1])
PRICES = st.one_of(NARROW, NARROW, NARROW, NARROW, NARROW, NARROW, FAR, EXTREME)

#: How a price is passed to the API.
PRICE_FORMS = st.sampled_from(["ticks", "str", "decimal", "float", "int"])

SIDES = st.sampled_from(["buy", "sell", "BUY", "Sell", hb.Side.BUY, hb.Side.SELL])
ORDER_TYPES = st.sampled_from(["limit"] * 5 + ["market", "MARKET", hb.OrderType.MARKET])
TIFS = st.sampled_from([None, None, None, "gtc", "ioc", "fok", "FOK", hb.TimeInForce.IOC])
STPS = st.sampled_from([None, None, None, *STP_MODES, hb.StpMode.CANCEL_BOTH])
ACCOUNTS = st.sampled_from([0, 0, 1, 1, 2])
QTYS = st.one_of(st.integers(1, 12), st.integers(1, 12), st.integers(0, 60))
DISPLAYS = st.one_of(st.none(), st.none(), st.integers(1, 4), st.integers(0, 15))


def price_kwargs(ticks: int, form: str) -> dict[str, object]:
    """The same price in one of the accepted forms (falling back to ticks when the form
    cannot express it exactly)."""
    value = Decimal(ticks) * TICK
    if form == "str":
        return {"price": str(value)}
    if form == "decimal":
        return {"price": value}
    if form == "float" and abs(ticks) < 10**12:
        return {"price": ticks / 100}
    if form == "int" and ticks % 100 == 0:
        return {"price": ticks // 100}
    return {"price_ticks": ticks}


def levels_of(arr: object) -> list[tuple[int, int, int]]:
    return [(int(p), int(q), int(n)) for p, q, n in arr[["price_ticks", "qty", "orders"]]]


def norm(v: object) -> str | None:
    return None if v is None else str(v).lower()


class BookComparison(RuleBasedStateMachine):
    """Drives the real book and the reference side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.book: hb.OrderBook | None = None
        self.ref: ReferenceBook | None = None
        self.reader: hb.BookReader | None = None
        self.seen: set[int] = set()
        self.time = 0

    @initialize(
        stp_default=st.sampled_from([*STP_MODES, hb.StpMode.CANCEL_OLDEST, None]),
        limits=st.sampled_from([(None, None), (None, None), (2, None), (None, 40), (2, 40)]),
        keep_reader=st.booleans(),
    )
    def create(
        self,
        stp_default: str | None,
        limits: tuple[int | None, int | None],
        keep_reader: bool,
    ) -> None:
        min_qty, max_qty = limits
        self.book = hb.OrderBook(
            "TEST",
            tick_size="0.01",
            min_qty=min_qty,
            max_qty=max_qty,
            stp_default=stp_default,
            clock="manual",
        )
        kwargs: dict[str, object] = {"stp_default": norm(stp_default) or "cancel_newest"}
        if min_qty is not None:
            kwargs["min_qty"] = min_qty
        if max_qty is not None:
            kwargs["max_qty"] = max_qty
        self.ref = ReferenceBook(**kwargs)  # type: ignore[arg-type]
        # A reader alive for the whole run sees every operation's publication; otherwise a
        # fresh reader per check sees the state published when it is created.
        self.reader = self.book.reader() if keep_reader else None

    # ------------------------------------------------------------------ plumbing

    def advance(self, dt: int) -> None:
        """Both clocks move by ``dt`` ns (0: several operations share a timestamp)."""
        self.time += dt
        self.book.set_time(self.time)
        self.ref.now = self.time

    def live_ids(self) -> list[int]:
        return sorted(self.ref.live())

    def pick_id(self, data: st.DataObject, *, live_bias: bool) -> int:
        live = self.live_ids()
        if live_bias and live and data.draw(st.integers(0, 4), label="live id") > 0:
            return data.draw(st.sampled_from(live), label="order_id")
        choices = [st.integers(0, 45)]
        if self.seen:
            choices.append(st.sampled_from(sorted(self.seen)))
        return data.draw(st.one_of(choices), label="order_id")

    def run(self, call_book, call_ref) -> None:
        """Apply one request to both books and compare the outcome."""
        try:
            expected: RefReport | None = call_ref()
            ref_error: RefError | None = None
        except RefError as e:
            expected, ref_error = None, e
        try:
            got = call_book()
            error: hb.HftbookError | None = None
        except hb.HftbookError as e:
            got, error = None, e
        if ref_error is not None:
            event(f"error {ref_error.kind}")
            assert error is not None, f"expected {ref_error.kind}, got {got!r}"
            assert type(error).__name__ == ref_error.kind, (str(error), ref_error)
            return
        assert error is None, f"unexpected {type(error).__name__}: {error} (expected {expected})"
        assert expected is not None
        self.compare_report(got, expected)

    def compare_report(self, got: hb.ExecutionReport, exp: RefReport) -> None:
        self.seen.add(got.order_id)
        event(f"{exp.status} {exp.reason}")
        if exp.fills:
            event("fills")
        if exp.self_trade_cancels:
            event("self-trade cancels of makers")
        if exp.replenished:
            event("iceberg replenished")
        if len({f.price_ticks for f in exp.fills}) > 1:
            event("swept several levels")
        assert (got.order_id, got.status, got.reason) == (exp.order_id, exp.status, exp.reason)
        assert (got.filled_qty, got.remaining_qty, got.cancelled_qty) == (
            exp.filled_qty,
            exp.remaining_qty,
            exp.cancelled_qty,
        ), (got, exp)
        fills = [
            (
                f.seq,
                f.timestamp,
                f.maker_id,
                f.taker_id,
                f.price_ticks,
                f.qty,
                f.maker_remaining,
                f.taker_side,
            )
            for f in got.fills
        ]
        assert fills == [
            (
                f.seq,
                f.timestamp,
                f.maker_id,
                f.taker_id,
                f.price_ticks,
                f.qty,
                f.maker_remaining,
                f.taker_side,
            )
            for f in exp.fills
        ]
        assert [f.price for f in got.fills] == [Decimal(f.price_ticks) * TICK for f in exp.fills]
        assert got.self_trade_cancels == exp.self_trade_cancels
        assert bool(got) == (exp.status != "rejected")
        assert got.filled_qty == sum(f.qty for f in exp.fills)
        if exp.fills:
            notional = sum(Decimal(f.price_ticks) * TICK * f.qty for f in exp.fills)
            assert got.avg_price == notional / exp.filled_qty
        else:
            assert got.avg_price is None

    # ------------------------------------------------------------------ rules

    @rule(
        data=st.data(),
        side=SIDES,
        ticks=PRICES,
        form=PRICE_FORMS,
        qty=QTYS,
        order_type=ORDER_TYPES,
        tif=TIFS,
        post_only=st.sampled_from([False, False, False, False, True]),
        display_qty=DISPLAYS,
        account=ACCOUNTS,
        stp=STPS,
        id_kind=st.sampled_from(["auto", "auto", "caller"]),
        dt=st.sampled_from([0, 1, 1_000]),
    )
    def submit(
        self,
        data: st.DataObject,
        side: str,
        ticks: int,
        form: str,
        qty: int,
        order_type: str,
        tif: str | None,
        post_only: bool,
        display_qty: int | None,
        account: int,
        stp: str | None,
        id_kind: str,
        dt: int,
    ) -> None:
        self.advance(dt)
        order_id = self.pick_id(data, live_bias=False) if id_kind == "caller" else None
        if order_id == 0:
            order_id = None
        market = norm(order_type) == "market"
        if data.draw(st.integers(0, 3), label="sanitize") > 0:
            # Mostly valid combinations, so that most steps change the book.
            if market or norm(tif) in ("ioc", "fok"):
                post_only, display_qty = False, None
            if display_qty is not None and display_qty > qty:
                display_qty = None
        kwargs: dict[str, object] = {}
        if not market or data.draw(st.booleans(), label="market order with a price"):
            kwargs.update(price_kwargs(ticks, form))
        if tif is not None:
            kwargs["tif"] = tif
        if stp is not None:
            kwargs["stp"] = stp
        if display_qty is not None:
            kwargs["display_qty"] = display_qty
        if order_id is not None:
            kwargs["order_id"] = order_id

        self.run(
            lambda: self.book.submit(
                side,
                qty=qty,
                order_type=order_type,
                post_only=post_only,
                account=account,
                **kwargs,
            ),
            lambda: self.ref.submit(
                norm(side),
                ticks if kwargs.keys() & {"price", "price_ticks"} else None,
                qty,
                order_type=norm(order_type),
                tif=norm(tif),
                post_only=post_only,
                display_qty=display_qty or 0,
                account=account,
                stp=norm(stp),
                order_id=order_id,
            ),
        )

    @rule(
        side=st.sampled_from(["buy", "sell"]),
        ticks=NARROW,
        qty=st.integers(1, 10),
        display_qty=st.sampled_from([None, None, None, 1, 2, 3]),
        account=ACCOUNTS,
    )
    def place(self, side: str, ticks: int, qty: int, display_qty: int | None, account: int) -> None:
        """A plain GTC limit order near the touch: builds the book up."""
        self.advance(1_000)
        if display_qty is not None and display_qty >= qty:
            display_qty = None
        self.run(
            lambda: self.book.submit(
                side, price_ticks=ticks, qty=qty, display_qty=display_qty, account=account
            ),
            lambda: self.ref.submit(
                side, ticks, qty, display_qty=display_qty or 0, account=account
            ),
        )

    @rule(data=st.data(), dt=st.sampled_from([0, 1_000]))
    def cancel(self, data: st.DataObject, dt: int) -> None:
        self.advance(dt)
        order_id = self.pick_id(data, live_bias=True)
        self.run(lambda: self.book.cancel(order_id), lambda: self.ref.cancel(order_id))

    @rule(
        data=st.data(),
        new_price=st.one_of(st.none(), PRICES),
        form=PRICE_FORMS,
        qty=st.one_of(st.none(), st.integers(1, 15), st.integers(0, 50)),
        dt=st.sampled_from([0, 1_000]),
    )
    def modify(
        self,
        data: st.DataObject,
        new_price: int | None,
        form: str,
        qty: int | None,
        dt: int,
    ) -> None:
        self.advance(dt)
        order_id = self.pick_id(data, live_bias=True)
        if new_price is None and qty is None and data.draw(st.booleans()):
            # Often a nearby price, to keep or lose priority at the same level.
            live = self.ref.live().get(order_id)
            if live is not None:
                new_price = live.price + data.draw(st.integers(-2, 2), label="price move")
        kwargs: dict[str, object] = {} if new_price is None else price_kwargs(new_price, form)
        if qty is not None:
            kwargs["qty"] = qty
        self.run(
            lambda: self.book.modify(order_id, **kwargs),
            lambda: self.ref.modify(order_id, new_price, qty),
        )

    @rule(data=st.data(), ticks=PRICES)
    def volume_at(self, data: st.DataObject, ticks: int) -> None:
        live = list(self.ref.live().values())
        if live and data.draw(st.booleans(), label="at a resting order's price"):
            ticks = data.draw(st.sampled_from(live), label="order").price
        assert self.book.volume_at(price_ticks=ticks) == self.ref.volume_at(ticks)
        assert self.book.volume_at(str(Decimal(ticks) * TICK)) == self.ref.volume_at(ticks)

    # ------------------------------------------------------------------ the whole book

    @invariant()
    def book_matches_reference(self) -> None:
        book, ref = self.book, self.ref
        book.check_invariants()
        assert book.seq == ref.seq
        assert book.trade_count == ref.trade_count
        assert len(book) == len(ref)

        depth = book.depth(ALL)
        assert depth.seq == ref.seq
        for side, levels in (("buy", depth.bids), ("sell", depth.asks)):
            got = levels_of(levels)
            assert got == ref.depth(side), side
            assert [float(x) for x in levels["price"]] == [p / 100 for p, _, _ in got]

            l3 = book.orders(side)
            fields = ["order_id", "price_ticks", "qty", "visible_qty", "hidden_qty", "account"]
            got_orders = [(*(int(r[f]) for f in fields), int(r["timestamp"])) for r in l3]
            assert got_orders == ref.orders(side), side

        best = {"buy": book.best_bid(), "sell": book.best_ask()}
        for side, level in best.items():
            levels = ref.depth(side)
            if not levels:
                assert level is None
            else:
                assert (level.price_ticks, level.qty, level.orders) == levels[0]
                assert level.price == Decimal(levels[0][0]) * TICK

        reader = self.reader or book.reader()
        seq, bid, ask = reader.top()
        assert seq == ref.seq
        assert bid == best["buy"]
        assert ask == best["sell"]
        rdepth = reader.depth(ALL)
        assert rdepth.seq == ref.seq
        assert levels_of(rdepth.bids) == ref.depth("buy")
        assert levels_of(rdepth.asks) == ref.depth("sell")

        live = ref.live()
        for oid in self.seen | set(live):
            o = book.order(oid)
            assert (oid in book) == (oid in live) == (o is not None), oid
            if o is not None:
                r = live[oid]
                assert (o.side, o.price_ticks, o.qty, o.visible_qty, o.hidden_qty) == (
                    r.side,
                    r.price,
                    r.open,
                    r.visible,
                    r.hidden,
                )
                assert (o.display_qty, o.account, o.timestamp) == (r.display, r.account, r.ts)


BookComparison.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBookComparison = BookComparison.TestCase


def test_reference_book_basics() -> None:
    """The oracle itself on a hand-checked sequence (so a broken oracle cannot pass silently)."""
    ref = ReferenceBook()
    ref.submit("sell", 101, 5, order_id=1)
    ref.submit("sell", 101, 7, display_qty=2, order_id=2)
    ref.submit("sell", 102, 4, order_id=3)
    r = ref.submit("buy", 102, 10)
    assert r.status == "filled"
    assert [(f.maker_id, f.price_ticks, f.qty) for f in r.fills] == [
        (1, 101, 5),
        (2, 101, 2),
        (2, 101, 2),
        (2, 101, 1),
    ]
    assert ref.depth("sell") == [(101, 1, 1), (102, 4, 1)]
    assert ref.orders("sell")[0][:5] == (2, 101, 2, 1, 1)
    with pytest.raises(RefError):
        ref.cancel(1)
    assert ref.submit("buy", 103, 10, tif="fok").status == "rejected"
    assert ref.depth("sell") == [(101, 1, 1), (102, 4, 1)]
