r"""Real market data: readers and replays that check hftbook against recorded books.

* :mod:`hftbook.data.lobster`: LOBSTER message/orderbook files (plain CSV or the sample zip),
  replayed into an :class:`hftbook.OrderBook`-equivalent Rust book and compared with the
  recorded levels after every message, with queue-position analytics.
* :mod:`hftbook.data.mbo`: Databento MBO CSV replayed into the book, emitting MBP-10 rows
  checked against an expected file.
* :mod:`hftbook.data.itch`: NASDAQ TotalView-ITCH 5.0 binary streams: parser, encoder,
  seeded generator and per-symbol books.
The ``hftbook replay FORMAT ...`` command that drives them is :mod:`hftbook.cli.replay`.

Bad files raise :class:`hftbook.DataFormatError` naming the file, the line and the field::

    >>> from hftbook.data import lobster
    >>> try:
    ...     lobster.parse_messages(b"34200.1,1,5,x,5853300,1\n", name="m.csv")
    ... except lobster.DataFormatError as e:
    ...     print(e.path, e.line, e.field)
    m.csv 1 Size
"""

from __future__ import annotations

__all__: list[str] = []
