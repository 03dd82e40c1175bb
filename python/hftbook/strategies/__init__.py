"""Shipped strategies: a market maker, a momentum taker and a TWAP executor.

Each is a :class:`hftbook.Strategy`: attach it with :meth:`hftbook.Engine.add_strategy`.
They take time from the engine's clock only, use no randomness and keep their state from
their callbacks, so they run the same way in the simulation mode. See
``docs/strategies.md`` ("Shipped strategies").
"""

from __future__ import annotations

from hftbook.strategies.market_maker import MarketMaker
from hftbook.strategies.momentum import Momentum
from hftbook.strategies.twap import TWAP

__all__ = ["TWAP", "MarketMaker", "Momentum"]
