"""Pre-trade risk from Python: limits from the config and from ``engine.risk``, reasons that
name the limit, the kill switch, account isolation."""

from __future__ import annotations

import pytest

import hftbook as hb
from engine_util import Collector


def _outcome(c: Collector, oid: int) -> hb.Event:
    evs = c.until(
        lambda evs: any(e.order_id == oid and e.kind in ("accepted", "rejected") for e in evs),
        f"order {oid}",
    )
    return next(e for e in evs if e.order_id == oid and e.kind in ("accepted", "rejected"))


def test_limits_from_config_and_set_limits() -> None:
    cfg = {
        "symbols": {"AAPL": {"tick_size": "0.01", "reference_price": "100.00"}},
        "risk": {"default": {"max_order_qty": 10, "collar_ticks": 5}},
    }
    with hb.Engine(cfg) as e:
        c = Collector(e)
        ok = e.submit("AAPL", "buy", price="100.00", qty=10, account=1)
        assert _outcome(c, ok).kind == "accepted"
        big = e.submit("AAPL", "buy", price="100.00", qty=11, account=1)
        r = _outcome(c, big)
        assert (r.kind, r.reason) == ("rejected", "max_order_qty")
        far = e.submit("AAPL", "sell", price="100.06", qty=1, account=1)
        assert _outcome(c, far).reason == "price_collar"
        # Account 0 (no account) has no limits.
        anon = e.submit("AAPL", "buy", price="100.00", qty=1000)
        assert _outcome(c, anon).kind == "accepted"
        # Tighten account 1 only, through a hot reload.
        e.risk.set_limits(1, max_order_qty=5, max_order_notional="400.00")
        assert e.risk.limits(1) == {"max_order_qty": 5, "max_order_notional": "400.00"}
        assert e.risk.limits(2) == {"max_order_qty": 10, "collar_ticks": 5}
        six = e.submit("AAPL", "buy", price="99.00", qty=6, account=1)
        assert _outcome(c, six).reason == "max_order_qty"
        rich = e.submit("AAPL", "buy", price="99.00", qty=5, account=1)
        assert _outcome(c, rich).reason == "max_order_notional"
        with pytest.raises(hb.ConfigError, match="max_orders"):
            e.risk.set_limits(1, max_orders=3)
        with pytest.raises(hb.ConfigError, match=r"risk\.accounts\.1\.max_order_qty"):
            e.risk.set_limits(1, max_order_qty=-1)


def test_kill_switch_and_not_owner() -> None:
    with hb.Engine(symbols={"AAPL": {}}) as e:
        c = Collector(e)
        mine = e.submit("AAPL", "buy", price="10.00", qty=1, account=1)
        theirs = e.submit("AAPL", "buy", price="10.01", qty=1, account=2)
        _outcome(c, theirs)
        e.cancel(mine, account=2)
        evs = c.until(
            lambda evs: any(x.order_id == mine and x.reason == "not_owner" for x in evs),
            "not_owner",
        )
        e.kill(1)
        evs = c.until(
            lambda evs: any(x.order_id == mine and x.reason == "kill_switch" for x in evs),
            "kill",
        )
        refused = e.submit("AAPL", "buy", price="10.00", qty=1, account=1)
        assert _outcome(c, refused).reason == "kill_switch"
        e.reset_kill(1)
        back = e.submit("AAPL", "buy", price="10.00", qty=1, account=1)
        assert _outcome(c, back).kind == "accepted"
        assert not any(x.order_id == theirs and x.kind == "cancelled" for x in evs)
        with pytest.raises(hb.InvalidOrder, match="account"):
            e.kill(0)


def test_daily_loss_turns_the_kill_switch_on() -> None:
    cfg = {"symbols": {"AAPL": {}}, "risk": {"accounts": {"1": {"max_daily_loss": "5.00"}}}}
    with hb.Engine(cfg) as e:
        c = Collector(e)
        for _ in range(2):  # buy 10 at 100.00, sell them at 99.70: -3.00 a round
            e.submit("AAPL", "sell", price="100.00", qty=10, account=2)
            e.submit("AAPL", "buy", price="100.00", qty=10, account=1)
            e.submit("AAPL", "buy", price="99.70", qty=10, account=3)
            e.submit("AAPL", "sell", price="99.70", qty=10, account=1)
        c.until(
            lambda evs: any(
                x.kind == "engine" and x.reason == "kill_switch" and x.account == 1 for x in evs
            ),
            "the kill switch",
        )
        refused = e.submit("AAPL", "buy", price="90.00", qty=1, account=1)
        assert _outcome(c, refused).reason == "kill_switch"
        assert e.pnl(1)["AAPL"]["realized"] == -6


def _probe(e: hb.Engine, c: Collector) -> None:
    """An order on every shard: each has run a loop since the last reload."""
    for sym in ("AAPL", "MSFT"):
        assert _outcome(c, e.submit(sym, "buy", price="1.00", qty=1, account=2)).kind == (
            "accepted"
        )


def test_exposure_limits_name_the_limit_and_the_value() -> None:
    cfg = {
        "engine": {"shards": 2},
        "symbols": {
            "AAPL": {"tick_size": "0.01", "reference_price": "100.00", "shard": 0},
            "MSFT": {"tick_size": "0.01", "reference_price": "100.00", "shard": 1},
        },
    }
    with hb.Engine(cfg) as e:
        c = Collector(e)
        e.risk.set_limits(1, max_gross_exposure="10000", max_net_exposure="2500.5")
        assert e.risk.limits(1) == {"max_gross_exposure": "10000", "max_net_exposure": "2500.5"}
        _probe(e, c)
        # 25 lots of AAPL bid on one shard, 2,500 ...
        long = e.submit("AAPL", "buy", price="100.00", qty=25, account=1)
        assert _outcome(c, long).kind == "accepted"
        # ... then the net on the short side: 7,500 > 2,500.5 (the gross, 10,000, passes).
        short = e.submit("MSFT", "sell", price="100.00", qty=75, account=1)
        r = _outcome(c, short)
        assert (r.kind, r.reason) == ("rejected", "max_net_exposure")
        assert r.text == "net exposure with this order would be 7500, above max_net_exposure 2500.5"
        e.risk.set_limits(1, max_gross_exposure="10000")
        _probe(e, c)
        ok = e.submit("MSFT", "sell", price="100.00", qty=75, account=1)
        assert _outcome(c, ok).kind == "accepted"
        more = e.submit("MSFT", "sell", price="100.01", qty=1, account=1)
        r = _outcome(c, more)
        assert (r.reason, r.detail, r.leaves_qty) == (
            "max_gross_exposure",
            10_100_010_000_000,
            10_000_000_000_000,
        )
        assert r.text == (
            "gross exposure with this order would be 10100.01, above max_gross_exposure 10000"
        )
        for key, bad in (("max_gross_exposure", "-1"), ("max_net_exposure", "1.0000000001")):
            with pytest.raises(hb.ConfigError, match=rf"risk\.accounts\.1\.{key}") as ei:
                e.risk.set_limits(1, **{key: bad})
            assert ei.value.key == f"risk.accounts.1.{key}"
        with pytest.raises(hb.ConfigError, match="at most 9223372036"):
            e.risk.set_limits(None, max_gross_exposure="100000000000")
