"""Reading an engine's journal: deterministic replay and the audit trail.

A journaled engine (``hb.Engine(..., journal_dir=DIR)``) writes every command it sequences
before its outcome is acknowledged. :func:`replay_journal` rebuilds the state from ``DIR``
and re-emits the event stream; :func:`audit` answers "what happened to order N".
The format, the sync policies and the recovery rules are in ``docs/journal.md``.

>>> import hftbook as hb, tempfile
>>> d = tempfile.mkdtemp()
>>> with hb.Engine(symbols={"AAPL": {}}, journal_dir=d, fsync="always") as e:
...     bid = e.submit("AAPL", "buy", price="100.00", qty=5)
...     ask = e.submit("AAPL", "sell", price="100.00", qty=2)
>>> r = hb.replay_journal(d)
>>> r.records, [hb.EVENT_KINDS[k] for k in r.events["kind"]]
(3, ['accepted', 'accepted', 'fill', 'fill', 'trade'])
>>> r.state_hash == e.state_hash() and r.event_hash == e.event_hash()
True
>>> [(row["source"], row["kind"]) for row in hb.audit(d, order_id=bid).rows()]
[('command', 'submit'), ('event', 'accepted'), ('event', 'fill'), ('event', 'trade')]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from hftbook import _core
from hftbook.data._progress import with_progress

__all__ = [
    "AUDIT_DTYPE",
    "COMMAND_KINDS",
    "AuditTrail",
    "JournalReplay",
    "audit",
    "replay_journal",
]

#: One row of :attr:`AuditTrail.array`: a command (``source`` 0) or an event (``source``
#: 1), in the order they happened. ``ts``: engine time (ns) the shard executed the command
#: or emitted the event. ``kind``: a command kind code (``COMMAND_KINDS``) or an event kind
#: code (``hb.EVENT_KINDS``). ``reason``: the event's reason code (``hb.ENGINE_REASONS``).
AUDIT_DTYPE = np.dtype(
    [
        ("ts", "<u8"),
        ("cmd_seq", "<u8"),
        ("source", "u1"),
        ("kind", "u1"),
        ("side", "u1"),
        ("reason", "u1"),
        ("symbol", "<u4"),
        ("account", "<u4"),
        ("order_id", "<u8"),
        ("client_id", "<u8"),
        ("price_ticks", "<i8"),
        ("qty", "<u8"),
        ("leaves_qty", "<u8"),
        ("maker_id", "<u8"),
        ("taker_id", "<u8"),
    ]
)

#: Command kind names, by code (the journal's records; ``ENGINE_COMMAND_DTYPE``'s ``kind``).
COMMAND_KINDS: tuple[str, ...] = _core.COMMAND_KINDS


@dataclass(frozen=True)
class JournalReplay:
    """The result of :func:`replay_journal`.

    Attributes:
        events: the re-emitted events (numpy, ``hb.EVENT_DTYPE``): each shard's in its
            order, shards interleaved by processing time, ``seq`` renumbered.
        state_hash: hash of the rebuilt state (equals the original engine's
            :meth:`Engine.state_hash` after its stop, and a recovered engine's).
        event_hash: hash of the event stream (equals the original's
            :meth:`Engine.event_hash`).
        records: journal records replayed.
        segments: segment files read.
        repair: the torn tail found, if any (``segment``, ``offset``, ``dropped_bytes``,
            ``reason``); a replay never writes, so it is reported, not cut.
        symbols: symbol names by index.
        seconds: wall time of the replay.
    """

    events: np.ndarray
    state_hash: str
    event_hash: str
    records: int
    segments: int
    repair: dict[str, Any] | None
    symbols: tuple[str, ...]
    seconds: float

    @property
    def records_per_second(self) -> float:
        """Replay speed."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


def replay_journal(
    journal_dir: str | os.PathLike[str],
    *,
    events: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> JournalReplay:
    """Rebuild the state journaled in ``journal_dir`` and re-emit its events (read-only).

    The GIL is released while it runs. ``events=False`` skips collecting the event array
    (the hashes are computed either way). ``progress(done_bytes, total_bytes)`` is called
    about ten times a second from the calling thread while the replay runs.

    Raises:
        JournalError: corruption, a missing segment, another version or configuration.
    """
    path = os.fspath(journal_dir)
    d = with_progress(lambda counter: _core._replay_journal(path, events, counter), progress)
    return JournalReplay(
        events=d["events"],
        state_hash=d["state_hash"],
        event_hash=d["event_hash"],
        records=d["records"],
        segments=d["segments"],
        repair=d["repair"],
        symbols=tuple(d["symbols"]),
        seconds=d["seconds"],
    )


@dataclass(frozen=True)
class AuditTrail:
    """Every command and event of an audit, in the order they happened.

    Attributes:
        array: the rows (numpy, :data:`AUDIT_DTYPE`).
        symbols: symbol names by index.
    """

    array: np.ndarray
    symbols: tuple[str, ...] = field(default=())
    tick_sizes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.array)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts, codes named (``source``, ``kind``, ``side``, ``reason``, ...)."""
        from hftbook.engine import ENGINE_REASONS, EVENT_KINDS

        out = []
        for r in self.array:
            src = "command" if r["source"] == 0 else "event"
            kinds = COMMAND_KINDS if src == "command" else EVENT_KINDS
            k = int(r["kind"])
            sym = int(r["symbol"])
            out.append(
                {
                    "ts": int(r["ts"]),
                    "cmd_seq": int(r["cmd_seq"]),
                    "source": src,
                    "kind": kinds[k] if k < len(kinds) else str(k),
                    "symbol": self.symbols[sym] if sym < len(self.symbols) else None,
                    "side": ("buy", "sell", "both")[int(r["side"])] if r["side"] < 3 else None,
                    "order_id": int(r["order_id"]),
                    "client_id": int(r["client_id"]),
                    "account": int(r["account"]),
                    "price_ticks": int(r["price_ticks"]),
                    "price": self.price(sym, int(r["price_ticks"])),
                    "qty": int(r["qty"]),
                    "leaves_qty": int(r["leaves_qty"]),
                    "reason": ENGINE_REASONS[int(r["reason"])] if src == "event" else "",
                    "maker_id": int(r["maker_id"]),
                    "taker_id": int(r["taker_id"]),
                }
            )
        return out

    def price(self, symbol: int, ticks: int) -> str | None:
        """``ticks`` of ``symbol`` as decimal text (None for 0: market orders, cancels)."""
        if ticks == 0 or symbol >= len(self.tick_sizes):
            return None
        return str(Decimal(ticks) * Decimal(self.tick_sizes[symbol]))

    def to_json(self) -> str:
        """The rows as a JSON array (one object per command or event)."""
        return json.dumps(self.rows(), indent=1)

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(self.rows())


def audit(
    journal_dir: str | os.PathLike[str],
    *,
    order_id: int | None = None,
    client_id: int | None = None,
    account: int | None = None,
    symbol: int | str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> AuditTrail:
    """The commands and events of the journal in ``journal_dir`` that match every filter.

    Together they select an order's whole life (``order_id``: the commands naming it, its
    own events and the public trades it took part in), a client id's, an account's, a
    symbol's, an engine time range ``[start_ns, end_ns)``.

    Raises:
        JournalError: as :func:`replay_journal`.
        UnknownSymbol: a symbol name the journal does not have.
    """
    sym_idx: int | None
    names, ticks = _journal_symbols(journal_dir)
    if isinstance(symbol, str):
        if symbol not in names:
            from hftbook.exceptions import UnknownSymbol

            raise UnknownSymbol(
                f"symbol {symbol!r} is not in the journal (it has {', '.join(names) or 'none'})",
                "symbol",
                symbol,
            )
        sym_idx = names.index(symbol)
    else:
        sym_idx = symbol
    cmds, at, evs, symbols = _core._audit(
        os.fspath(journal_dir), order_id, client_id, account, sym_idx, start_ns, end_ns
    )
    n, m = len(cmds), len(evs)
    out = np.zeros(n + m, dtype=AUDIT_DTYPE)
    c, e = out[:n], out[n:]
    c["ts"] = at
    c["cmd_seq"] = cmds["seq"]
    c["source"] = 0
    for name in (
        "kind",
        "side",
        "symbol",
        "account",
        "order_id",
        "client_id",
        "price_ticks",
        "qty",
    ):
        c[name] = cmds[name]
    e["ts"] = evs["ts_processed"]
    e["source"] = 1
    for name in (
        "kind", "side", "reason", "symbol", "account", "order_id", "client_id",
        "price_ticks", "qty", "leaves_qty", "maker_id", "taker_id",
    ):  # fmt: skip
        e[name] = evs[name]
    e["cmd_seq"] = evs["cmd_seq"]
    # Each command, then the events it caused (events carry the low 32 bits of their
    # command's number); ties at one time keep that order.
    key_seq = np.concatenate([cmds["seq"] & 0xFFFFFFFF, evs["cmd_seq"].astype("<u8")])
    order = np.lexsort((out["source"], key_seq, out["ts"]))
    out = out[order]
    return AuditTrail(out, tuple(symbols), tuple(ticks))


def _journal_symbols(journal_dir: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Symbol names and tick sizes of a journal, by index (from its ``symbols.toml``)."""
    import tomllib

    p = Path(journal_dir) / "symbols.toml"
    data = tomllib.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    syms = data.get("symbol", [])
    return [s["name"] for s in syms], [str(s["config"]["tick_size"]) for s in syms]
