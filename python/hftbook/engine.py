"""The multi-symbol trading engine: shards, lanes, events, lifecycle and hot-reloaded config.

Example::

    >>> import hftbook as hb
    >>> with hb.Engine(symbols={"AAPL": {"tick_size": "0.01"}}) as engine:
    ...     bid = engine.submit("AAPL", "buy", price="100.00", qty=5, client_id=7)
    ...     ask = engine.submit("AAPL", "sell", price="100.00", qty=3)
    ...     report = engine.stop()
    ...     events = list(engine.events())
    >>> [(e.kind, e.order_id == bid, e.qty) for e in events if e.kind == "fill"]
    [('fill', False, 3), ('fill', True, 3)]
    >>> events[-2].price, events[-2].client_id, events[-2].leaves_qty
    (Decimal('100.00'), 7, 2)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from hftbook import _core
from hftbook._dtypes import ENGINE_COMMAND_DTYPE
from hftbook.exceptions import ConfigError, HftbookError, InvalidOrder, InvalidPrice

if TYPE_CHECKING:
    from hftbook.strategy import Strategy

__all__ = [
    "ENGINE_REASONS",
    "EVENT_KINDS",
    "Engine",
    "Event",
    "PositionArray",
    "RiskControl",
    "Subscription",
]

#: Event kind names, indexed by the numpy ``kind`` column.
EVENT_KINDS: tuple[str, ...] = tuple(_core.EVENT_KINDS)
#: Engine reason names, indexed by the numpy ``reason`` column ("" = none).
ENGINE_REASONS: tuple[str, ...] = tuple(_core.ENGINE_REASONS)

_log = logging.getLogger("hftbook")
_SIDES = ("buy", "sell")
_BREAKER = ("closed", "open", "half_open")


class Event:
    """One engine event as an object (``Engine.poll`` gives the same data as numpy rows).

    Attributes: ``seq``, ``symbol`` (str), ``symbol_seq``, ``kind`` (str), ``order_id``,
    ``client_id``, ``account``, ``side`` ("buy"/"sell", None when not about a side),
    ``price`` (Decimal, None when no price), ``price_ticks``, ``qty``, ``leaves_qty``,
    ``maker_id``, ``taker_id``, ``reason`` (str, "" for none), ``text``, ``ts_enqueued``,
    ``ts_processed``, ``is_maker``, ``gap``, ``snapshot``.

    A conflated subscriber (``subscribe(..., conflate=True)``) that lost events gets, per
    symbol, a ``book`` event with ``gap`` and ``snapshot`` set, ``side`` None and ``detail``
    = the number of levels that follow: clear that symbol's book, then apply the ``book``
    events with ``snapshot`` set (the L2 levels, best first, up to 100 a side), then the
    deltas after them.
    """

    __slots__ = (
        "account",
        "client_id",
        "detail",
        "gap",
        "is_maker",
        "kind",
        "leaves_qty",
        "maker_id",
        "order_id",
        "price",
        "price_ticks",
        "qty",
        "reason",
        "seq",
        "side",
        "snapshot",
        "symbol",
        "symbol_seq",
        "taker_id",
        "text",
        "ts_enqueued",
        "ts_processed",
    )

    seq: int
    symbol: str
    symbol_seq: int
    kind: str
    order_id: int
    client_id: int
    account: int
    side: str | None
    price: Decimal | None
    price_ticks: int
    qty: int
    leaves_qty: int
    maker_id: int
    taker_id: int
    reason: str
    text: str
    detail: int
    ts_enqueued: int
    ts_processed: int
    is_maker: bool
    gap: bool
    snapshot: bool

    def __repr__(self) -> str:
        parts = [f"seq={self.seq}", f"kind={self.kind!r}", f"symbol={self.symbol!r}"]
        if self.order_id:
            parts.append(f"order_id={self.order_id}")
        if self.side is not None:
            parts.append(f"side={self.side!r}")
        if self.price is not None:
            parts.append(f"price={self.price}")
        if self.qty:
            parts.append(f"qty={self.qty}")
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        return "Event(" + ", ".join(parts) + ")"


_PRICED = {
    "accepted",
    "rejected",
    "fill",
    "cancelled",
    "modified",
    "triggered",
    "expired",
    "trade",
    "book",
}
_SIDED = _PRICED

#: The event row's fields in order (a column's ``tolist`` is far cheaper than a record's).
_EVENT_FIELDS: tuple[str, ...] = (
    "seq",
    "symbol_seq",
    "order_id",
    "client_id",
    "maker_id",
    "taker_id",
    "price_ticks",
    "qty",
    "leaves_qty",
    "detail",
    "ts_enqueued",
    "ts_processed",
    "account",
    "symbol",
    "cmd_seq",
    "kind",
    "side",
    "reason",
    "flags",
)

#: ``Event.text`` of the (kind, reason) pairs whose text depends on nothing else.
_PLAIN_TEXT: dict[tuple[str, str], str] = {
    (k, r): r.replace("_", " ")
    for k in EVENT_KINDS
    if k not in ("rejected", "status", "engine")
    for r in (*ENGINE_REASONS, "?")
}


def _price(ticks: int, tick: Decimal) -> Decimal:
    exp = tick.as_tuple().exponent
    scaled = ticks * tick
    return scaled.quantize(tick) if isinstance(exp, int) and exp < 0 else scaled


def _nanos(n: int) -> Decimal:
    """Nano-units of the quote currency as an exact amount (no trailing zeros)."""
    d = Decimal(n).scaleb(-9)
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _text(ev: Event, tick: Decimal) -> str:
    r = ev.reason
    if ev.kind == "rejected":
        if r == "price_band":
            return (
                f"price {ev.price} is outside the price band: the limit is "
                f"{_price(ev.detail, tick)}"
            )
        if r == "halted":
            return f"{ev.symbol} is halted: new orders are rejected, cancels work"
        if r == "breaker_open":
            return "the engine circuit breaker is open: new orders are rejected"
        if r == "unknown_order":
            return f"order {ev.order_id} is not open"
        if r == "paused":
            return "the engine is paused and rejects new orders"
        if r == "shutdown":
            return "the engine stopped before this command ran"
        if r in ("max_gross_exposure", "max_net_exposure"):
            which = r.split("_")[1]
            return (
                f"{which} exposure with this order would be {_nanos(ev.detail)}, "
                f"above {r} {_nanos(ev.leaves_qty)}"
            )
        return r.replace("_", " ")
    if ev.kind == "status":
        if r == "volatility":
            return f"{ev.symbol} halted: last trade moved {ev.detail} bps within the halt window"
        if r == "halted":
            return f"{ev.symbol} halted by an operator"
        if r == "trading":
            return f"{ev.symbol} trading"
    if ev.kind == "engine":
        if r == "breaker":
            return f"circuit breaker {_BREAKER[ev.detail % 3]}"
        if r == "pause":
            return "engine paused" if ev.detail else "engine resumed"
        if r == "config_applied":
            return "configuration reloaded"
        if r == "config_rejected":
            return "configuration rejected; the running configuration stays"
    return r.replace("_", " ")


class Subscription:
    """A running subscriber: a dispatcher thread calling ``callback`` with batches."""

    def __init__(
        self, engine: Engine, core: Any, callback: Callable[[Any], object], as_array: bool
    ) -> None:
        self._engine = engine
        self._core = core
        self._callback = callback
        self._as_array = as_array
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="hftbook-dispatch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            arr = self._core.pop(65536, 0.05)
            if len(arr):
                batch: Any = arr if self._as_array else self._engine.to_events(arr)
                try:
                    self._callback(batch)
                except BaseException as e:
                    self.errors.append(e)
                    _log.exception("hftbook subscriber callback raised")
            self._engine._pump_logs()
        # Deliver what is left.
        arr = self._core.pop(65536, 0.0)
        if len(arr):
            self._callback(arr if self._as_array else self._engine.to_events(arr))

    @property
    def conflated(self) -> int:
        """Events this subscriber lost to conflation (``conflate=True`` only)."""
        return int(self._core.conflated)

    @property
    def snapshots(self) -> int:
        """L2 snapshots delivered (after gaps, and for symbols newly followed)."""
        return int(self._core.snapshots)

    def set_symbols(self, symbols: Iterable[str] | None) -> None:
        """Follow ``symbols`` from now on (None: every symbol); the other filters stay.

        A conflating subscriber then receives, for each symbol it did not follow before, an
        L2 snapshot of its book from the symbol's shard (a ``book`` event with ``gap`` and
        ``snapshot`` set, then the levels, as after a gap) ahead of that symbol's events; the
        first of those may already be in the snapshot (``symbol_seq`` up to the header's):
        skip them. A lossless subscriber gets the symbol's events from now on, no snapshot.

        >>> import time
        >>> import hftbook as hb
        >>> with hb.Engine(symbols={"AAPL": {}, "MSFT": {}}, book_events=True) as e:
        ...     got = []
        ...     sub = e.subscribe(got.extend, symbols=["AAPL"], conflate=True)
        ...     _ = e.submit("MSFT", "buy", price="10.00", qty=3)
        ...     time.sleep(0.1)  # MSFT's events: not followed yet
        ...     sub.set_symbols(["AAPL", "MSFT"])
        ...     msft = lambda: [ev for ev in got if ev.symbol == "MSFT"]
        ...     deadline = time.monotonic() + 10
        ...     while len(msft()) < 2 and time.monotonic() < deadline:
        ...         time.sleep(0.01)
        ...     sub.close()
        >>> [(ev.kind, ev.snapshot, ev.price, ev.qty) for ev in msft()]  # header, then the level
        [('book', True, None, 0), ('book', True, Decimal('10.00'), 3)]
        """
        ids = None if symbols is None else self._engine._symbol_ids(symbols, "symbols")
        self._core.set_symbols(ids)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the dispatcher (after delivering what is queued) and unsubscribe."""
        self._stop.set()
        self._thread.join(timeout)
        self._core.close()


class FeedServer:
    """A running market-data feed server (see :meth:`Engine.serve`); a context manager."""

    def __init__(self, core: _core.FeedServer) -> None:
        self._core = core
        self._strategies: list[Strategy] = []
        self._pusher: threading.Thread | None = None
        self._push_stop = threading.Event()

    @property
    def dashboard_url(self) -> str:
        """The browser dashboard, ``http://HOST:PORT/``."""
        return self._core.http_url + "/"

    def label_account(self, account: int, name: str) -> None:
        """Name ``account`` in the ``stats`` channel and the ``hftbook_strategy_*`` metrics.

        :meth:`Engine.serve` names the accounts of the engine's strategies after them. A
        name is 1 to 64 printable characters (else ``ValueError``).
        """
        self._core.label_account(_account(account), name)

    def observe_reaction(self, strategy: str, ns: Any) -> None:
        """Add reaction times (ns: numpy integers or ints) to ``strategy``'s histogram.

        ``hftbook_strategy_reaction_seconds`` in ``/metrics``. For batches: the server pulls
        the reactions of the engine's strategies itself (see :meth:`push_reactions`).
        """
        self._core.observe_reaction(strategy, ns)

    def _follow(self, strategy: Strategy) -> None:
        """Label ``strategy``'s account and collect its reaction times."""
        try:
            self.label_account(strategy.account, strategy.name)
        except ValueError as e:  # a name that cannot be a label: serve all the same
            _log.warning("feed server: strategy %r not labelled: %s", strategy.name, e)
            return
        strategy._take_reactions()  # starts its tap: reactions from now on
        self._strategies.append(strategy)

    def push_reactions(self) -> int:
        """Hand the server the reaction times measured since the last call; returns how many.

        One call per strategy followed. Called every stats interval by a thread (live
        engines) or by :meth:`hftbook.Simulation.run` (simulation mode).
        """
        n = 0
        if not self.running:
            return 0
        for s in self._strategies:
            got = s._take_reactions()
            if got:
                self._core.observe_reaction(s.name, np.asarray(got, dtype=np.int64))
                n += len(got)
        return n

    def _start_pusher(self, every: float) -> None:
        def run() -> None:
            while not self._push_stop.wait(every):
                try:
                    self.push_reactions()
                except Exception:  # a stopped server: nothing more to push
                    _log.exception("feed server: pushing reaction times failed")
                    return

        self._pusher = threading.Thread(target=run, name="hftbook-feed-reactions", daemon=True)
        self._pusher.start()

    @property
    def url(self) -> str:
        """The WebSocket feed's URL, ``ws://HOST:PORT/ws``."""
        return self._core.url

    @property
    def http_url(self) -> str:
        """The HTTP root, ``http://HOST:PORT`` (metrics at ``/metrics``)."""
        return self._core.http_url

    @property
    def host(self) -> str:
        """The interface it listens on."""
        return self._core.host

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._core.port

    @property
    def running(self) -> bool:
        """Whether it still runs."""
        return self._core.running

    def stats(self) -> dict[str, Any]:
        """Feed counters: ``clients``, ``messages_sent``, ``conflations``, ``disconnects``."""
        return self._core.stats()

    def stop(self) -> None:
        """Close every client (close frame "server shutting down") and stop. Idempotent."""
        self._push_stop.set()
        if self._pusher is not None and self._pusher is not threading.current_thread():
            self._pusher.join(5.0)
        self._core.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<FeedServer {self.url} {state}>"


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _load(
    config: str | os.PathLike[str] | Mapping[str, Any] | None,
) -> tuple[dict[str, Any], str | None]:
    if config is None:
        return {}, None
    if isinstance(config, Mapping):
        return dict(config), None
    path = Path(config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            f"{path}: cannot read: {e.strerror}",
            "(file)",
            str(path),
            "must be a readable TOML file",
            str(path),
        ) from e
    try:
        return tomllib.loads(text), str(path)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}", "(syntax)", "", str(e), str(path)) from e


_RISK_KEYS = (
    "max_order_qty",
    "max_order_notional",
    "collar_bps",
    "collar_ticks",
    "max_open_orders",
    "max_position",
    "max_orders_per_second",
    "burst",
    "max_daily_loss",
    "max_gross_exposure",
    "max_net_exposure",
)


def _account(account: int) -> int:
    if isinstance(account, bool) or not isinstance(account, int) or not 0 < account < 2**32:
        raise InvalidOrder(
            f"account = {account!r}: an account is an integer from 1 to 4294967295",
            "account",
            account,
        )
    return account


class RiskControl:
    """Pre-trade risk limits of an engine's accounts (``engine.risk``).

    Limits live in the configuration's ``[risk]`` section (``[risk.default]`` for every
    non-zero account without its own table, ``[risk.accounts.N]`` per account) and are
    hot-reloaded with it. Keys: ``max_order_qty`` (lots), ``max_order_notional`` (quote
    currency), ``collar_bps`` / ``collar_ticks`` (from the last trade, else the symbol's
    ``reference_price``), ``max_open_orders`` (all symbols), ``max_position`` (lots per
    symbol, long or short, counting open orders that would increase it),
    ``max_orders_per_second`` with ``burst``, ``max_daily_loss`` (realized loss with fees in
    the quote currency since the start or the last ``end_session``: past it the account's
    kill switch turns on by itself), ``max_gross_exposure`` / ``max_net_exposure`` (quote
    currency, across every symbol and shard: positions at the last trade, else the
    ``reference_price``, with the open orders that would increase them; see
    ``docs/engine.md`` for the cross-shard bound). A refused order is a ``rejected`` event
    whose reason names the limit (``hb.ENGINE_REASONS``), ``detail`` = the order's value and
    ``leaves_qty`` = the limit (for the exposures, nano-units of the quote currency; its
    ``text`` names both in the currency).

    >>> import hftbook as hb
    >>> with hb.Engine(symbols={"AAPL": {}}) as e:
    ...     e.risk.set_limits(7, max_order_qty=100)
    ...     _ = e.submit("AAPL", "buy", price="10.00", qty=101, account=7)
    ...     ev = [x for x in e.events(timeout=1.0) if x.kind == "rejected"]
    >>> ev[0].reason, e.risk.limits(7)
    ('max_order_qty', {'max_order_qty': 100})
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def limits(self, account: int) -> dict[str, Any]:
        """The limits that apply to ``account`` (its own table, else the default)."""
        risk = self._engine._config_dict.get("risk", {})
        own = risk.get("accounts", {}).get(str(_account(account)))
        return dict(own if own is not None else risk.get("default", {}))

    def set_limits(self, account: int | None, **limits: Any) -> None:
        """Replace the limits of ``account`` (``None``: the default of every account).

        Applied through a hot reload of the configuration (engine event ``config_applied``);
        an invalid value raises :class:`ConfigError` naming the key.
        """
        unknown = sorted(set(limits) - set(_RISK_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown risk limit {unknown[0]!r} (known: {', '.join(_RISK_KEYS)})",
                f"risk.{unknown[0]}",
                str(limits[unknown[0]]),
                "unknown key",
            )
        new = _merge(self._engine._config_dict, {})
        risk = dict(new.get("risk", {}))
        money = ("max_order_notional", "max_daily_loss", "max_gross_exposure", "max_net_exposure")
        table = {k: str(v) if k in money else v for k, v in limits.items()}
        if account is None:
            risk["default"] = table
        else:
            accounts = dict(risk.get("accounts", {}))
            accounts[str(_account(account))] = table
            risk["accounts"] = accounts
        new["risk"] = risk
        self._engine.reload_config(new)
        self._engine._config_dict = new


class PositionArray(np.ndarray):
    """A numpy array of :data:`hftbook.POSITION_DTYPE` with table conversions."""

    def to_pandas(self) -> Any:
        """A pandas DataFrame of the rows (pandas must be installed)."""
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        return pd.DataFrame(np.asarray(self))

    def to_polars(self) -> Any:
        """A polars DataFrame of the rows (polars must be installed)."""
        import polars as pl  # type: ignore[import-not-found,unused-ignore]

        arr = np.asarray(self)
        return pl.DataFrame({name: arr[name] for name in arr.dtype.names or ()})


class Engine(_core.EngineCore):
    """A multi-symbol trading engine: one thread per shard owns its symbols' books.

    Args:
        config: a TOML file path (``hftbook.toml``) or a dict of the same shape
            (``{"engine": {...}, "breaker": {...}, "symbols": {"AAPL": {...}}}``).
        symbols: symbol → options (``tick_size``, ``lot_size``, ``min_qty``, ``max_qty``,
            ``band_pct``, ``band_ticks``, ``reference_price``, ``halt_pct``,
            ``halt_window_ms``, ``halt_duration_ms``, ``shard``, ``stp``); merged over the
            config's ``[symbols]``.
        shards: shard threads (restart-only).
        journal_dir: journal every command into this directory (see ``docs/journal.md``).
            An empty or missing directory starts a journal; one that holds a journal is
            recovered (with the same configuration only; :meth:`recover` uses the
            journal's own).
        fsync: when journal records are made durable, and so when an order counts as
            acknowledged: ``"always"`` (sync after every write; events wait for it),
            ``"batch"`` (group commit every 200 µs or 4096 records; events wait for it;
            the default) or ``"never"`` (the OS writes back; events go out at once and a
            crash can lose acknowledged orders).
        segment_bytes: journal segments roll at this size (default 256 MiB).
        snapshot_every: each shard writes a snapshot of its state after this many of its
            journal records (default 1,000,000; 0: only on :meth:`snapshot` and at a
            graceful stop); recovery loads the newest and replays only what follows.
        **options: any ``[engine]`` key (``batch_size``, ``on_full``, ``lane_capacity``, ...)
            or ``breaker`` (a dict of ``[breaker]`` keys).

    Events arrive three ways: :meth:`poll` (numpy, fastest), :meth:`events` (objects) and
    :meth:`subscribe` (a callback on a dispatcher thread, with filters applied in Rust).
    """

    _config_path: str | None
    _config_dict: dict[str, Any]
    _tick_cache: dict[int, Decimal]
    _price_cache: dict[int, tuple[Decimal, dict[int, Decimal]]]
    _watch: threading.Thread | None
    _watch_stop: threading.Event

    def __new__(
        cls,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        symbols: Mapping[str, Mapping[str, Any]] | None = None,
        shards: int | None = None,
        journal_dir: str | os.PathLike[str] | None = None,
        fsync: str = "batch",
        segment_bytes: int | None = None,
        snapshot_every: int | None = None,
        simulation: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Self:
        """Build the engine from ``config``, ``symbols``, ``shards`` and ``options``."""
        if options.pop("_recover", False):
            if journal_dir is None:
                raise TypeError("recover needs a journal_dir")
            self = super().__new__(
                cls, {}, None, journal_dir, fsync, True, segment_bytes, snapshot_every
            )
            cfg_file = Path(journal_dir) / "config.toml"
            self._config_path = None
            self._config_dict = tomllib.loads(cfg_file.read_text(encoding="utf-8"))
            self._tick_cache = {}
            self._price_cache = {}
            self._watch = None
            self._watch_stop = threading.Event()
            self._pump_logs()
            return self
        base, path = _load(config)
        extra: dict[str, Any] = {}
        engine_opts = {k: v for k, v in options.items() if k != "breaker"}
        if shards is not None:
            engine_opts["shards"] = shards
        if engine_opts:
            extra["engine"] = engine_opts
        if "breaker" in options:
            extra["breaker"] = options["breaker"]
        if symbols:
            extra["symbols"] = {k: dict(v) for k, v in symbols.items()}
        merged = _merge(base, extra)
        sim_table = merged.pop("simulation", None)
        if simulation is not None or sim_table is not None:
            sim = _merge(dict(sim_table or {}), dict(simulation or {}))
            self = super().__new__(
                cls,
                merged,
                path,
                journal_dir,
                fsync,
                False,
                segment_bytes,
                snapshot_every,
                json.dumps(sim),
            )
        elif journal_dir is None:
            self = super().__new__(cls, merged, path)
        else:
            self = super().__new__(
                cls, merged, path, journal_dir, fsync, False, segment_bytes, snapshot_every
            )
        self._config_path = path
        self._config_dict = merged
        self._tick_cache = {}
        self._price_cache = {}
        self._watch = None
        self._watch_stop = threading.Event()
        return self

    @classmethod
    def recover(
        cls,
        journal_dir: str | os.PathLike[str],
        fsync: str = "batch",
        *,
        segment_bytes: int | None = None,
        snapshot_every: int | None = None,
    ) -> Self:
        """The engine journaled in ``journal_dir``, with its own configuration and symbols.

        Cuts a torn tail (a crash mid-write; reported in :meth:`recovery` and the log),
        loads each shard's newest valid snapshot, replays the records after it and returns
        the engine **not started**: :meth:`state_hash`
        equals :func:`hftbook.replay_journal`'s; :meth:`start` goes on writing to the same
        journal. Order ids continue after every id the crashed engine could have issued.

        Raises:
            JournalError: corruption, a missing segment, another version or configuration.

        >>> import hftbook as hb, tempfile
        >>> d = tempfile.mkdtemp()
        >>> with hb.Engine(symbols={"AAPL": {}}, journal_dir=d, fsync="always") as e:
        ...     oid = e.submit("AAPL", "buy", price="100.00", qty=5)
        >>> r = hb.Engine.recover(d)
        >>> r.book("AAPL").top()[1]
        Level(price=100.00, qty=5, orders=1)
        >>> r.state_hash() == hb.replay_journal(d).state_hash
        True
        """
        return cls.__new__(
            cls,
            None,
            journal_dir=journal_dir,
            fsync=fsync,
            segment_bytes=segment_bytes,
            snapshot_every=snapshot_every,
            _recover=True,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Engine:
        """Start the shard threads. Returns the engine."""
        self._start()
        self._pump_logs()
        return self

    def pause(self) -> None:
        """Pause matching.

        Cancels still run; new orders wait in the lanes (or are rejected with ``paused``
        when ``paused_orders = "reject"``). Each shard pauses at its next loop.
        """
        self._pause()
        self._pump_logs()

    def resume(self, symbol: str | None = None) -> None:
        """Resume the engine after :meth:`pause`, or a halted ``symbol``."""
        if symbol is None:
            self._resume()
        else:
            self._resume_symbol(symbol)
        self._pump_logs()

    def stop(self, drain: bool = True, timeout: float = 5.0) -> dict[str, Any]:
        """Stop the engine: close intake, drain every lane, join every thread.

        With ``drain=False`` what is still queued is refused (a ``rejected`` event with
        reason ``shutdown`` each) instead of run. Returns what it did: ``drained``,
        ``refused``, ``events_discarded`` and ``clean`` (False when events could not be
        delivered within ``timeout`` seconds and were discarded).
        """
        self.stop_watching()
        for feed in getattr(self, "_feeds", ()):
            feed.stop()
        for strat in getattr(self, "_strategies", ()):
            strat._join(timeout)
        drained, refused, discarded, clean = self._stop(drain, timeout)
        self._pump_logs()
        return {
            "drained": drained,
            "refused": refused,
            "events_discarded": discarded,
            "clean": clean,
        }

    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        queue_capacity: int = 4096,
        stats_interval: float = 0.25,
        token: str | None = None,
        allowed_origins: Sequence[str] = (),
        nice: int = 19,
        pump_interval: float = 0.00025,
        idle: bool = False,
    ) -> FeedServer:
        """Serve this engine's market data over WebSocket, and its metrics, on ``host:port``.

        A tokio runtime of its own (never a shard thread) serves ``/ws`` (channels
        ``l1.SYM``, ``l2.SYM``, ``trades.SYM``, ``status.SYM``; protocol in ``docs/feed.md``)
        and ``/metrics`` (Prometheus text). ``port=0`` picks a free port: read
        :attr:`FeedServer.url`. Binding another interface than ``127.0.0.1`` must be asked
        for and logs a warning. A client whose queue of ``queue_capacity`` messages
        overflows is sent fresh snapshots, or disconnected when it follows trades. The
        engine needs ``book_events = true`` for L1/L2. :meth:`stop` stops the server too.

        The same server serves the browser dashboard at ``/`` (:attr:`FeedServer.dashboard_url`)
        and, every ``stats_interval`` seconds, the ``stats`` channel. The accounts of the
        engine's strategies (:meth:`add_strategy`, before or after) are labelled with their
        names, and their reaction times feed ``hftbook_strategy_reaction_seconds``.

        ``token`` (16 or more printable characters) adds the operator routes
        ``POST /control/halt/{symbol}``, ``/control/resume/{symbol}``,
        ``/control/kill/{account}``, ``/control/reset_kill/{account}`` and
        ``/control/reload`` (a TOML body), each needing ``Authorization: Bearer <token>``;
        without a token they do not exist. A browser may open ``/ws`` only from the server's
        own pages or from ``allowed_origins`` (``"http://host:port"``; ``"*"`` for any).

        ``nice`` (0 to 19, default 19) is the nice value of the server's threads: above 0 the
        kernel prefers the engine's threads when the cores are busy, and the feed falls
        behind (conflation, the slow-consumer rules) instead of slowing the engine.
        ``idle=True`` also runs them under Linux's ``SCHED_IDLE`` policy, below nice 19: a
        busy engine thread preempts them at once, and the feed runs on the time the engine
        leaves (for a machine whose cores the engine keeps busy; clients fall behind and are
        conflated meanwhile). ``pump_interval`` (10 µs to 0.1 s, default 250 µs) is how long
        the server's pump sleeps when it found less than a full batch of engine events: the
        latency it adds at most, against its CPU use.

        Example::

            with engine.serve() as server:
                client = hftbook.feed.connect(server.url, ["l2.AAPL"])
        """
        if host not in ("127.0.0.1", "localhost", "::1"):
            _log.warning("hftbook feed server binding %s: reachable beyond this machine", host)
        if not (isinstance(stats_interval, int | float) and 0.01 <= stats_interval <= 3600):
            raise HftbookError(
                f"stats_interval = {stats_interval!r}: give 0.01 to 3600 seconds",
                "stats_interval",
                stats_interval,
            )
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19:
            raise HftbookError(
                f"nice = {nice!r}: give an integer from 0 (the engine's priority) to 19",
                "nice",
                nice,
            )
        if not isinstance(idle, bool):
            raise HftbookError(f"idle = {idle!r}: give True or False", "idle", idle)
        if (
            isinstance(pump_interval, bool)
            or not isinstance(pump_interval, int | float)
            or not 0.00001 <= pump_interval <= 0.1
        ):
            raise HftbookError(
                f"pump_interval = {pump_interval!r}: give 0.00001 to 0.1 seconds",
                "pump_interval",
                pump_interval,
            )
        server = FeedServer(
            self._serve(
                host,
                port,
                queue_capacity,
                round(stats_interval * 1000),
                token,
                list(allowed_origins),
                nice,
                round(pump_interval * 1e6),
                idle,
            )
        )
        self._feeds = [f for f in getattr(self, "_feeds", []) if f.running]
        self._feeds.append(server)
        for s in self.strategies:
            server._follow(s)
        if not self.is_simulation:
            server._start_pusher(stats_interval)
        return server

    def __enter__(self) -> Self:
        if self.state == "created":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_symbol(self, symbol: str, **options: Any) -> int:
        """Add a symbol (also while running). Returns its index in :attr:`symbols`."""
        idx = int(self._add_symbol(symbol, options))
        self._config_dict.setdefault("symbols", {})[symbol] = dict(options)
        self._pump_logs()
        return idx

    # -- events ------------------------------------------------------------------------------

    def tick_size(self, symbol: int | str) -> Decimal:
        """A symbol's tick size."""
        idx = symbol if isinstance(symbol, int) else self.symbols.index(symbol)
        t = self._tick_cache.get(idx)
        if t is None:
            t = Decimal(self.tick_sizes[idx])
            self._tick_cache[idx] = t
        return t

    def to_events(self, rows: np.ndarray) -> list[Event]:
        """Numpy event rows (``EVENT_DTYPE``) as :class:`Event` objects."""
        names = self.symbols
        nsym = len(names)
        # Per symbol: its tick and a cache of the prices seen (ticks -> Decimal; Decimals
        # are immutable, so events share them). Rebuilt when a tick size changes.
        ticks: list[Decimal] = []
        caches: list[dict[int, Decimal]] = []
        pc = self._price_cache
        for i in range(nsym):
            tick = self.tick_size(i)
            got = pc.get(i)
            if got is None or got[0] is not tick:
                got = (tick, {})
                pc[i] = got
            elif len(got[1]) > 65536:
                got[1].clear()
            ticks.append(tick)
            caches.append(got[1])
        one = Decimal(1)
        kinds = EVENT_KINDS
        reasons = ENGINE_REASONS
        nreasons = len(reasons)
        plain_text = _PLAIN_TEXT
        priced_kinds = _PRICED
        new = Event.__new__
        out: list[Event] = []
        append = out.append
        for (
            seq,
            symbol_seq,
            order_id,
            client_id,
            maker_id,
            taker_id,
            price_ticks,
            qty,
            leaves_qty,
            detail,
            ts_enq,
            ts_proc,
            account,
            symbol,
            _cmd,
            kind,
            side,
            reason,
            flags,
        ) in zip(*[rows[f].tolist() for f in _EVENT_FIELDS], strict=True):
            ev = new(Event)
            kname = kinds[kind]
            ev.seq = seq
            ev.symbol_seq = symbol_seq
            ev.kind = kname
            ev.order_id = order_id
            ev.client_id = client_id
            ev.account = account
            ev.price_ticks = price_ticks
            ev.qty = qty
            ev.leaves_qty = leaves_qty
            ev.maker_id = maker_id
            ev.taker_id = taker_id
            rname = reasons[reason] if reason < nreasons else "?"
            ev.reason = rname
            ev.detail = detail
            ev.ts_enqueued = ts_enq
            ev.ts_processed = ts_proc
            ev.is_maker = bool(flags & 1)
            ev.gap = bool(flags & 2)
            snapshot = bool(flags & 4)
            ev.snapshot = snapshot
            if symbol < nsym:
                ev.symbol = names[symbol]
                tick = ticks[symbol]
                if kname in priced_kinds:
                    ev.side = _SIDES[side] if side < 2 else None
                    cache = caches[symbol]
                    price = cache.get(price_ticks)
                    if price is None:
                        price = _price(price_ticks, tick)
                        cache[price_ticks] = price
                    if (
                        kname in ("accepted", "cancelled", "expired")
                        and abs(price_ticks) >= 2**62 - 1
                    ):
                        price = None  # market order sentinel
                    ev.price = price
                else:
                    ev.side = None
                    ev.price = None
            else:
                ev.symbol = ""
                tick = one
                ev.side = None
                ev.price = None
            if snapshot and side == 2:
                ev.price = None  # a snapshot header: no level
            text = plain_text.get((kname, rname))
            ev.text = _text(ev, tick) if text is None else text
            append(ev)
        return out

    def events(self, max_events: int | None = None, timeout: float = 0.0) -> Iterator[Event]:
        """Iterate over events as :class:`Event` objects.

        Stops when none arrives within ``timeout`` seconds, or after ``max_events``.
        """
        given = 0
        while max_events is None or given < max_events:
            want = 65536 if max_events is None else min(65536, max_events - given)
            arr = self.poll(want, timeout)
            self._pump_logs()
            if not len(arr):
                return
            for ev in self.to_events(arr):
                yield ev
                given += 1

    def subscribe(
        self,
        callback: Callable[[Any], object],
        kinds: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        accounts: Iterable[int] | None = None,
        *,
        capacity: int = 65536,
        conflate: bool = False,
        as_array: bool = False,
    ) -> Subscription:
        """Call ``callback(batch)`` from a dispatcher thread with each batch of events.

        A batch is a list of :class:`Event` (a numpy array with ``as_array=True``). Filters
        run in Rust. A lossless subscriber (the default) that falls behind makes the engine
        wait (backpressure reaches the producers); ``conflate=True`` (market data) drops
        events instead and marks the next one ``gap=True``.
        """
        mask = 0
        for k in kinds or ():
            if k not in EVENT_KINDS:
                raise HftbookError(
                    f"kinds: {k!r} is not an event kind ({', '.join(EVENT_KINDS)})",
                    field="kinds",
                    value=k,
                )
            mask |= 1 << EVENT_KINDS.index(k)
        syms = None if symbols is None else self._symbol_ids(symbols, "symbols")
        accts = None if accounts is None else [int(a) for a in accounts]
        core = self._subscribe(mask, syms, accts, capacity, conflate)
        return Subscription(self, core, callback, as_array)

    def _symbol_ids(self, symbols: Iterable[str], field: str) -> list[int]:
        """The engine's indices of ``symbols``; :class:`UnknownSymbol` for one it lacks."""
        names = self.symbols
        out = []
        for s in symbols:
            if s not in names:
                from hftbook.exceptions import UnknownSymbol

                raise UnknownSymbol(f"symbol {s!r} is not traded by this engine", field, s)
            out.append(names.index(s))
        return out

    # -- config ------------------------------------------------------------------------------

    def reload_config(
        self, config: str | os.PathLike[str] | Mapping[str, Any] | None = None
    ) -> dict[str, list[str]]:
        """Re-read the config file (or apply ``config``).

        Safe changes apply between batches; restart-only changes are reported, not applied;
        an invalid config raises :class:`ConfigError`, emits an engine event and leaves the
        running config as it was. Returns ``applied``, ``restart_only`` and
        ``added_symbols``.
        """
        source = config if config is not None else self._config_path
        if source is None:
            raise ConfigError(
                "reload_config: this engine has no config file; pass one",
                "(file)",
                "None",
                "a path or a dict is needed",
            )
        try:
            new, path = _load(source)
        except ConfigError as e:
            self._config_rejected(e.key, str(e.value), e.rule, e.file)
            self._pump_logs()
            raise
        applied, restart_only, added = self._reload(new, path)
        self._pump_logs()
        return {
            "applied": list(applied),
            "restart_only": list(restart_only),
            "added_symbols": list(added),
        }

    def watch_config(self, interval: float = 1.0) -> None:
        """Reload the config file whenever it changes (checked every ``interval`` s)."""
        if self._config_path is None:
            raise ConfigError(
                "watch_config: this engine has no config file",
                "(file)",
                "None",
                "create the engine from a TOML path",
            )
        path = Path(self._config_path)
        self._watch_stop.clear()
        # The baseline is taken now: an edit made right after this call is a change.
        start = path.stat().st_mtime_ns if path.exists() else 0

        def loop() -> None:
            last = start
            while not self._watch_stop.wait(interval):
                try:
                    m = path.stat().st_mtime_ns
                except OSError:
                    continue
                if m != last:
                    last = m
                    try:
                        self.reload_config()
                    except HftbookError:
                        pass  # reported as an engine event and a log line

        self._watch = threading.Thread(target=loop, name="hftbook-config-watch", daemon=True)
        self._watch.start()

    def stop_watching(self) -> None:
        """Stop the config file watcher."""
        self._watch_stop.set()
        if self._watch is not None:
            self._watch.join(5)
            self._watch = None

    # -- stats and logs ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The engine's counters and latencies, per shard and in total.

        Counters (commands, events, rejections by reason), lane depths and high-water
        marks, backpressure waits and rejections, breaker state, latency percentiles per
        stage (queue wait, match, publish) and the shard threads' CPU time; ``journal``:
        :meth:`journal_stats` (records, bytes, syncs and their latency, snapshots; None
        without a journal).
        """
        s: dict[str, Any] = self._stats()
        s["journal"] = self.journal_stats()
        shards = s["shards"]
        s["commands"] = sum(x["commands"] for x in shards)
        s["events"] = sum(x["events"] for x in shards)
        rej: dict[str, int] = {}
        for x in shards:
            for k, v in x["rejections"].items():
                rej[k] = rej.get(k, 0) + v
        s["rejections"] = rej
        s["cpu_seconds"] = sum(x["cpu_seconds"] for x in shards)
        self._pump_logs()
        return s

    # -- strategies ----------------------------------------------------------------------

    def add_strategy(
        self, strategy: Strategy, account: int, symbols: Iterable[str] | None = None
    ) -> Strategy:
        """Run ``strategy`` (a :class:`hftbook.Strategy`) on ``account`` against this engine.

        It gets its own dispatcher thread, the public market data of ``symbols`` (all the
        engine's by default) and its own account's order events; its ``on_start`` runs
        first. It stops with the engine (``on_stop``), or on its own :meth:`Strategy.stop`,
        or when a callback raises (logged; its orders cancelled). Returns the strategy.
        """
        from hftbook.strategy import Strategy as _Strategy

        if not isinstance(strategy, _Strategy):
            raise TypeError(f"strategy must be a hftbook.Strategy, got {type(strategy).__name__}")
        if getattr(strategy, "running", False):
            raise HftbookError(f"strategy {strategy.name} is already running", "strategy")
        acct = _account(account)
        for s in symbols or ():
            if s not in self.symbols:
                from hftbook.exceptions import UnknownSymbol

                raise UnknownSymbol(f"symbol {s!r} is not traded by this engine", "symbols", s)
        if not hasattr(self, "_strategies"):
            self._strategies: list[Strategy] = []
        strategy._attach(self, acct, symbols)
        self._strategies.append(strategy)
        for feed in getattr(self, "_feeds", ()):
            if feed.running:
                feed._follow(strategy)
        return strategy

    @property
    def strategies(self) -> tuple[Strategy, ...]:
        """The strategies attached with :meth:`add_strategy`."""
        return tuple(getattr(self, "_strategies", ()))

    # -- risk ----------------------------------------------------------------------------

    @property
    def risk(self) -> RiskControl:
        """Pre-trade risk limits per account (see :class:`RiskControl`)."""
        return RiskControl(self)

    def kill(self, account: int) -> None:
        """Kill switch on for ``account``: its open orders cancelled, new ones refused.

        Every shard cancels the account's open orders (reason ``kill_switch``) and refuses
        its new ones until :meth:`reset_kill`. An engine event (reason ``kill_switch``,
        ``detail`` 1) and a log line say when it took effect.
        """
        self._kill(_account(account), True)
        self._pump_logs()

    def reset_kill(self, account: int) -> None:
        """Kill switch off for ``account`` (engine event ``kill_switch``, ``detail`` 0)."""
        self._kill(_account(account), False)
        self._pump_logs()

    # -- positions and PnL ---------------------------------------------------------------

    def positions(self, account: int | None = None) -> PositionArray:
        """Every account's positions (``account``'s only if given), read lock-free.

        A numpy array of :data:`hftbook.POSITION_DTYPE` (sorted by account, then symbol)
        with ``.to_pandas()`` and ``.to_polars()``. Positions are kept by the shards for every
        non-zero account from its fills, with average-cost accounting in exact integers
        (tick-lots); :meth:`pnl` gives them in the currency as ``Decimal``s.

        >>> import hftbook as hb
        >>> with hb.Engine(symbols={"AAPL": {"taker_fee_bps": 2}}) as e:
        ...     _ = e.submit("AAPL", "sell", price="100.00", qty=10, account=2)
        ...     _ = e.submit("AAPL", "buy", price="100.00", qty=4, account=1)
        >>> p = e.positions(account=1)
        >>> int(p["net"][0]), int(p["cost"][0]), int(p["fees_bps"][0])
        (4, 40000, 80000)
        """
        rows = self._positions(account)
        return rows.view(PositionArray)

    def pnl(self, account: int, mark: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``account``'s positions and PnL in the quote currency, per symbol and in total.

        Per symbol: ``net`` (units), ``avg_price`` (the average cost of the open units, four
        decimals finer than the tick; None when flat), ``realized``, ``unrealized`` (marked
        at ``mark[symbol]`` if given, else the last trade), ``fees``, ``total`` (realized +
        unrealized - fees), ``bought``, ``sold``, ``trades``. ``"total"`` sums the symbols'
        money figures (symbols quoted in one currency). Exact ``Decimal``s.

        >>> import hftbook as hb
        >>> with hb.Engine(symbols={"AAPL": {}}) as e:
        ...     _ = e.submit("AAPL", "sell", price="100.00", qty=10, account=2)
        ...     _ = e.submit("AAPL", "buy", price="100.00", qty=4, account=1)
        >>> r = e.pnl(1, mark={"AAPL": "100.50"})
        >>> r["AAPL"]["net"], r["AAPL"]["avg_price"], r["AAPL"]["unrealized"]
        (Decimal('4'), Decimal('100.000000'), Decimal('2.00'))
        """
        out: dict[str, Any] = {}
        total = {k: Decimal(0) for k in ("realized", "unrealized", "fees", "total")}
        names = self.symbols
        lots_of = self.lot_sizes
        for row in self._positions(account):
            name = names[int(row["symbol"])]
            tick = self.tick_size(name)
            lot = Decimal(lots_of[int(row["symbol"])])
            unit = tick * lot  # currency per tick-lot
            net_units = int(row["net"])
            cost = int(row["cost"])
            m = None if mark is None else mark.get(name)
            if m is not None:
                mark_ticks = self._ticks(name, m)
                unreal = Decimal(mark_ticks * (net_units // int(lot)) - cost) * unit
            else:
                unreal = Decimal(int(row["unrealized"])) * unit
            realized = Decimal(int(row["realized"])) * unit
            fees = Decimal(int(row["fees_bps"])) / Decimal(10_000) * unit
            lots = net_units // int(lot)
            avg = (
                None
                if lots == 0
                else (Decimal(cost) / Decimal(lots) * tick).quantize(tick.scaleb(-4))
            )
            sym: dict[str, Any] = {
                "net": Decimal(net_units),
                "avg_price": avg,
                "realized": realized,
                "unrealized": unreal,
                "fees": fees,
                "total": realized + unreal - fees,
                "bought": int(row["bought"]),
                "sold": int(row["sold"]),
                "trades": int(row["trades"]),
            }
            out[name] = sym
            for k in total:
                total[k] += sym[k]
        out["total"] = total
        return out

    def _ticks(self, symbol: str, price: Any) -> int:
        tick = self.tick_size(symbol)
        q = Decimal(str(price)) / tick
        if q != q.to_integral_value():
            raise InvalidPrice(
                f"mark {price} for {symbol} is not a multiple of tick_size {tick}", "mark", price
            )
        return int(q)

    def last_trade(self, symbol: str) -> Decimal | None:
        """The symbol's last trade price (read lock-free), or None."""
        ticks, _n, _halted = self._live(symbol)
        return None if ticks is None else _price(ticks, self.tick_size(symbol))

    def is_halted(self, symbol: str) -> bool:
        """Whether the symbol is halted now."""
        return bool(self._live(symbol)[2])

    def _pump_logs(self) -> None:
        for topic, message, ts in self._drain_logs():
            _log.info(message, extra={"hftbook_topic": topic, "hftbook_ts_ns": ts})

    def commands_array(self, n: int) -> np.ndarray:
        """An empty (zeroed) command array of ``n`` rows for :meth:`submit_batch`."""
        return np.zeros(n, dtype=ENGINE_COMMAND_DTYPE)

    def __repr__(self) -> str:
        return f"Engine(state={self.state!r}, shards={self.shards}, symbols={list(self.symbols)})"
