"""nautilus_trader BacktestEngine side of ``benches/sim_throughput.py``.

Runs in its own venv (``/work/venv-naut/bin/python``, nautilus-trader 1.221) and prints one
JSON object on stdout. The quote ticks are built before the timed window; only
``engine.run()`` is timed (engine construction and ``add_data`` are not).

Workloads, each on 3 equities (AAPL, MSFT, GOOG on one venue, L1 book from quote ticks):

- ``idle``: a strategy subscribed to the quote ticks, doing nothing but counting them;
- ``quoting``: every 10 quotes of a symbol, cancel the previous bid and ask and quote a
  new bid and ask one tick behind the touch (the market-maker-like load);
- ``roundtrip``: on every quote, submit K limit buys 100 ticks below the bid and cancel the
  K from the previous quote; accepted and cancelled counted from the order events.

    /work/venv-naut/bin/python benches/nautilus_sim.py --ticks 200000 --workload idle
"""

from __future__ import annotations

import argparse
import json
import random
import time
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

SYMBOLS = {"AAPL": Decimal("100.00"), "MSFT": Decimal("300.00"), "GOOG": Decimal("580.00")}


class BenchConfig(StrategyConfig, frozen=True):
    """The instruments and the workload's parameters."""

    instrument_ids: tuple[str, ...] = ()
    workload: str = "idle"
    k: int = 10
    every: int = 10


class Bench(Strategy):  # type: ignore[misc]
    """One strategy for the three workloads (the workload decides what on_quote_tick does)."""

    def __init__(self, config: BenchConfig) -> None:
        super().__init__(config)
        self.ids = [InstrumentId.from_str(s) for s in config.instrument_ids]
        self.mode = config.workload
        self.k = config.k
        self.every = config.every
        self.quotes = 0
        self.submitted = 0
        self.accepted = 0
        self.cancelled = 0
        self.rejected = 0
        self.denied = 0
        self.seen: dict[InstrumentId, int] = {}
        self.prev: dict[InstrumentId, list[Any]] = {}
        self.qty = Quantity.from_int(100)

    def on_start(self) -> None:
        for i in self.ids:
            self.subscribe_quote_ticks(i)
            self.seen[i] = 0
            self.prev[i] = []

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quotes += 1
        if self.mode == "idle":
            return
        iid = tick.instrument_id
        n = self.seen[iid] = self.seen[iid] + 1
        if self.mode == "quoting" and n % self.every:
            return
        for o in self.prev[iid]:
            if o.is_open:
                self.cancel_order(o)
        new = []
        bid = tick.bid_price.as_double()
        ask = tick.ask_price.as_double()
        if self.mode == "quoting":
            b = self.order_factory.limit(
                iid, OrderSide.BUY, self.qty, Price(round(bid - 0.01, 2), 2), post_only=True
            )
            a = self.order_factory.limit(
                iid, OrderSide.SELL, self.qty, Price(round(ask + 0.01, 2), 2), post_only=True
            )
            new = [b, a]
        else:
            px = Price(round(bid - 1.00, 2), 2)
            new = [
                self.order_factory.limit(iid, OrderSide.BUY, self.qty, px) for _ in range(self.k)
            ]
        for o in new:
            self.submit_order(o)
        self.submitted += len(new)
        self.prev[iid] = new

    def on_order_accepted(self, event: Any) -> None:
        self.accepted += 1

    def on_order_canceled(self, event: Any) -> None:
        self.cancelled += 1

    def on_order_rejected(self, event: Any) -> None:
        self.rejected += 1

    def on_order_denied(self, event: Any) -> None:
        self.denied += 1


def build_ticks(n: int, seed: int) -> tuple[list[Any], list[Any]]:
    """``n`` quote ticks in total over the symbols (random walk, one-tick spread)."""
    rnd = random.Random(seed)
    insts = [TestInstrumentProvider.equity(symbol=s, venue="XNAS") for s in SYMBOLS]
    mids = [int(p * 100) for p in SYMBOLS.values()]
    size = Quantity.from_int(500)
    ticks = []
    for t in range(n):
        j = t % len(insts)
        mids[j] += rnd.choice((-1, 0, 0, 1))
        ticks.append(
            QuoteTick(
                instrument_id=insts[j].id,
                bid_price=Price(mids[j] / 100, 2),
                ask_price=Price((mids[j] + 1) / 100, 2),
                bid_size=size,
                ask_size=size,
                ts_event=1_000 * (t + 1),
                ts_init=1_000 * (t + 1),
            )
        )
    return insts, ticks


def run(workload: str, n: int, k: int, seed: int) -> dict[str, Any]:
    insts, ticks = build_ticks(n, seed)
    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id="BENCH-001",
            logging=LoggingConfig(bypass_logging=True),
            # Its risk checks stay on, but the default 100 orders/s rate limit would deny
            # nearly every order of this load (ticks are 1 µs apart).
            risk_engine=RiskEngineConfig(
                max_order_submit_rate="100000000/00:00:01",
                max_order_modify_rate="100000000/00:00:01",
            ),
        )
    )
    engine.add_venue(
        venue=Venue("XNAS"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000_000, USD)],
    )
    for i in insts:
        engine.add_instrument(i)
    engine.add_data(ticks)
    strat = Bench(
        BenchConfig(instrument_ids=tuple(str(i.id) for i in insts), workload=workload, k=k)
    )
    engine.add_strategy(strat)
    t0 = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - t0
    out = {
        "workload": workload,
        "quotes": strat.quotes,
        "wall_s": wall,
        "quotes_per_s": strat.quotes / wall,
        "submitted": strat.submitted,
        "accepted": strat.accepted,
        "cancelled": strat.cancelled,
        "rejected": strat.rejected,
        "denied": strat.denied,
        "orders_per_s": strat.submitted / wall,
        "us_per_order": wall / strat.submitted * 1e6 if strat.submitted else None,
        "version": __import__("nautilus_trader").__version__,
    }
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", choices=("idle", "quoting", "roundtrip"), required=True)
    ap.add_argument("--ticks", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(run(a.workload, a.ticks, a.k, a.seed)))


if __name__ == "__main__":
    main()
