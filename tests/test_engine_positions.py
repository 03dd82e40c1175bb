"""Positions and PnL from Python: exact Decimals against hand-computed fills (long, short,
through zero, partial closes, fees, lot sizes), the numpy view, and recovery."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import hftbook as hb


def _trade(e: hb.Engine, sym: str, px: str, qty: int, buyer: int, seller: int) -> None:
    """One trade: the seller rests, the buyer takes."""
    e.submit(sym, "sell", price=px, qty=qty, account=seller)
    e.submit(sym, "buy", price=px, qty=qty, account=buyer)


def test_pnl_by_hand_with_fees_and_lots() -> None:
    e = hb.Engine(
        symbols={
            "AAPL": {"tick_size": "0.01", "maker_fee_bps": -1, "taker_fee_bps": 3},
            "ES": {"tick_size": "0.25", "lot_size": 50},
        }
    )
    with e:
        _trade(e, "AAPL", "100.00", 10, buyer=1, seller=2)  # 1 long 10 @ 100 (taker)
        _trade(e, "AAPL", "110.00", 10, buyer=1, seller=2)  # long 20, average 105
        _trade(e, "AAPL", "120.00", 25, buyer=2, seller=1)  # 1 sells 25 as maker: short 5
        _trade(e, "ES", "4000.00", 100, buyer=1, seller=3)  # 2 lots of 50
    r = e.pnl(1, mark={"AAPL": "121.00", "ES": "4001.25"})
    a = r["AAPL"]
    assert a["net"] == Decimal(-5)
    assert a["avg_price"] == Decimal("120.000000")
    assert a["realized"] == Decimal("300.00")  # 20 x (120 - 105)
    assert a["unrealized"] == Decimal("-5.00")  # short 5 from 120, marked 121
    # Taker 3 bps on 2,100 of buys; maker rebate 1 bp on 3,000 of sells.
    assert a["fees"] == Decimal("0.63") - Decimal("0.30")
    assert a["total"] == a["realized"] + a["unrealized"] - a["fees"]
    assert (a["bought"], a["sold"], a["trades"]) == (20, 25, 3)
    es = r["ES"]
    assert es["net"] == Decimal(100)
    assert es["avg_price"] == Decimal("4000.000000")
    assert es["unrealized"] == Decimal("125.00")  # 100 units x 1.25
    assert r["total"]["total"] == a["total"] + es["total"]
    # The counterparties mirror it.
    assert e.pnl(2)["AAPL"]["net"] == Decimal(5)
    assert e.pnl(3)["ES"]["net"] == Decimal(-100)


def test_positions_array_and_tables() -> None:
    with hb.Engine(symbols={"AAPL": {}}) as e:
        _trade(e, "AAPL", "50.00", 3, buyer=7, seller=8)
    p = e.positions()
    assert p.dtype == hb.POSITION_DTYPE
    assert isinstance(p, hb.PositionArray)
    assert list(p["account"]) == [7, 8]
    assert list(p["net"]) == [3, -3]
    assert list(p["cost"]) == [15_000, -15_000]
    assert np.all(p["has_mark"] == 1)
    only = e.positions(account=8)
    assert len(only) == 1
    assert int(only["net"][0]) == -3
    pd = pytest.importorskip("pandas")
    assert isinstance(p.to_pandas(), pd.DataFrame)


def test_account_zero_has_no_position_and_bad_marks_are_named() -> None:
    with hb.Engine(symbols={"AAPL": {}}) as e:
        _trade(e, "AAPL", "10.00", 1, buyer=0, seller=0)
        _trade(e, "AAPL", "10.00", 1, buyer=4, seller=0)
    assert list(e.positions()["account"]) == [4]
    with pytest.raises(hb.InvalidPrice, match=r"mark 10\.005 for AAPL"):
        e.pnl(4, mark={"AAPL": "10.005"})


def test_positions_survive_recovery(tmp_path: Path) -> None:
    d = tmp_path / "j"
    with hb.Engine(symbols={"AAPL": {}}, journal_dir=d, fsync="always") as e:
        for i in range(20):
            _trade(e, "AAPL", f"{100 + i % 3}.00", 1 + i % 4, buyer=1 + i % 2, seller=2 - i % 2)
    before = e.positions()
    rec = hb.Engine.recover(d)
    assert rec.positions().tolist() == before.tolist()
    assert rec.pnl(1) == e.pnl(1)
