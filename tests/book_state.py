"""Helpers shared by the tests: an exact snapshot of everything observable about a book."""

from __future__ import annotations

import hftbook as hb


def snapshot(book: hb.OrderBook) -> tuple[object, ...]:
    """Every observable part of a book's state, byte for byte (depth, L3, counters, repr)."""
    d = book.depth(1 << 20)
    return (
        d.bids.tobytes(),
        d.asks.tobytes(),
        book.orders("buy").tobytes(),
        book.orders("sell").tobytes(),
        len(book),
        book.seq,
        book.trade_count,
        repr(book),
    )
