"""Type stubs for the Rust extension ``hftbook._core`` (import from ``hftbook`` instead)."""

import os
from collections.abc import Sequence
from decimal import Decimal
from os import PathLike
from typing import Any, Final, Literal, Self, TypeAlias, final

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

__all__ = [
    "COMMAND_KINDS",
    "ENGINE_REASONS",
    "EVENT_KINDS",
    "FLOW_NAMES",
    "MBO_UNDEF_PRICE",
    "REASON_NAMES",
    "STATUS_NAMES",
    "BatchResult",
    "BookReader",
    "Depth",
    "EngineCore",
    "ExecutionReport",
    "FeedServer",
    "Fill",
    "Level",
    "Order",
    "OrderBook",
    "Profiler",
    "Subscription",
    "_ByteCounter",
    "_Counter",
    "__version__",
    "_allocator_options",
    "_audit",
    "_itch_encode",
    "_itch_generate",
    "_itch_parse",
    "_itch_replay",
    "_mbo_read",
    "_mbo_replay",
    "_mbo_write_dbn",
    "_mbp10_csv",
    "_panic_in_core",
    "_replay_journal",
    "_scan_events",
    "cpu_times",
    "load_lobster_csv",
    "load_lobster_zip",
    "memory_stats",
    "parse_lobster_messages",
    "parse_lobster_orderbook",
    "replay_lobster",
    "reset_peak_memory",
    "workload_flow",
    "workload_w1",
    "workload_w2",
]

__version__: Final[str]
STATUS_NAMES: Final[tuple[str, ...]]
REASON_NAMES: Final[tuple[str, ...]]
FLOW_NAMES: Final[tuple[str, ...]]

_Side: TypeAlias = Literal["buy", "sell"] | str
_PriceLike: TypeAlias = str | Decimal | int | float
_Stp: TypeAlias = Literal["none", "cancel_newest", "cancel_oldest", "cancel_both"] | str

@final
class Fill:
    """One trade: a resting (maker) order hit by an incoming (taker) order."""

    @property
    def maker_id(self) -> int: ...
    @property
    def taker_id(self) -> int: ...
    @property
    def price(self) -> Decimal:
        """Trade price, always the maker's, exact."""
    @property
    def price_ticks(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def maker_remaining(self) -> int: ...
    @property
    def taker_side(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ExecutionReport:
    """What one submit, cancel or modify did.

    A report of ``cancel()`` acknowledges the cancel the way a venue does: ``side``,
    ``price`` / ``price_ticks`` of the order as it rested and ``cancelled_qty``, its open
    quantity (displayed + iceberg reserve). On reports of ``submit()`` and ``modify()``
    ``side``, ``price`` and ``price_ticks`` are None.
    """

    @property
    def order_id(self) -> int: ...
    @property
    def status(self) -> str:
        """'new', 'partially_filled', 'filled', 'cancelled' or 'rejected'."""
    @property
    def reason(self) -> str | None: ...
    @property
    def filled_qty(self) -> int: ...
    @property
    def remaining_qty(self) -> int: ...
    @property
    def cancelled_qty(self) -> int:
        """Quantity cancelled: IOC residual, self-trade, or for ``cancel()`` the open qty."""
    @property
    def side(self) -> str | None:
        """'buy' or 'sell': the side of the order ``cancel()`` took off; else None."""
    @property
    def price(self) -> Decimal | None:
        """Exact price the order ``cancel()`` took off rested at; else None."""
    @property
    def price_ticks(self) -> int | None:
        """``price`` in ticks; None on reports of ``submit()`` and ``modify()``."""
    @property
    def fills(self) -> list[Fill]: ...
    @property
    def self_trade_cancels(self) -> list[tuple[int, int]]: ...
    @property
    def avg_price(self) -> Decimal | None: ...
    def __bool__(self) -> bool: ...

@final
class Level:
    """One price level: exact price, displayed quantity, order count."""

    @property
    def price(self) -> Decimal: ...
    @property
    def price_ticks(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def orders(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Order:
    """One resting order (L3 view)."""

    @property
    def order_id(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def price_ticks(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def visible_qty(self) -> int: ...
    @property
    def hidden_qty(self) -> int: ...
    @property
    def display_qty(self) -> int: ...
    @property
    def account(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Depth:
    """Both sides' levels as numpy arrays of ``LEVEL_DTYPE``, best first."""

    @property
    def bids(self) -> npt.NDArray[np.void]: ...
    @property
    def asks(self) -> npt.NDArray[np.void]: ...
    @property
    def seq(self) -> int | None: ...
    def __iter__(self) -> Any: ...

@final
class BatchResult:
    """Per-row outcome of ``submit_batch`` / ``apply_batch``."""

    @property
    def order_ids(self) -> npt.NDArray[np.uint64]: ...
    @property
    def status(self) -> npt.NDArray[np.uint8]: ...
    @property
    def reason(self) -> npt.NDArray[np.uint8]: ...
    @property
    def filled_qty(self) -> npt.NDArray[np.uint64]: ...
    @property
    def remaining_qty(self) -> npt.NDArray[np.uint64]: ...
    @property
    def fills(self) -> npt.NDArray[np.void]: ...
    def __len__(self) -> int: ...

@final
class BookReader:
    """Lock-free reader of a book written by another thread."""

    def top(self) -> tuple[int, Level | None, Level | None]: ...
    def depth(self, n: int = 10) -> Depth: ...

def _panic_in_core() -> None: ...
def workload_w1(n: int, seed: int) -> npt.NDArray[np.void]: ...
def workload_w2(n: int, seed: int) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]: ...
def workload_flow(
    name: Literal["normal", "static", "swing_25", "swing_40", "flash_crash"] | str,
    n: int,
    seed: int = 23,
    shuffled_ids: bool = True,
) -> npt.NDArray[np.void]: ...

@final
class OrderBook:
    """A limit order book for one instrument with price-time priority matching."""

    def __new__(
        cls,
        symbol: str,
        tick_size: str | Decimal | float | None = None,
        lot_size: int = 1,
        *,
        min_qty: int | None = None,
        max_qty: int | None = None,
        stp_default: _Stp | None = None,
        clock: Literal["monotonic", "manual"] | str = "monotonic",
    ) -> Self: ...
    @property
    def symbol(self) -> str: ...
    @property
    def tick_size(self) -> Decimal: ...
    @property
    def lot_size(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def trade_count(self) -> int: ...
    def submit(
        self,
        side: _Side,
        price: _PriceLike | None = None,
        qty: int | None = None,
        *,
        price_ticks: int | None = None,
        order_id: int | None = None,
        tif: Literal["gtc", "ioc", "fok"] | str | None = None,
        order_type: Literal["limit", "market"] | str | None = None,
        account: int | None = None,
        display_qty: int | None = None,
        post_only: bool = False,
        stp: _Stp | None = None,
    ) -> ExecutionReport: ...
    def cancel(self, order_id: int) -> ExecutionReport:
        """Cancel a resting order; the report carries its side, price and open qty."""
    def modify(
        self,
        order_id: int,
        price: _PriceLike | None = None,
        qty: int | None = None,
        *,
        price_ticks: int | None = None,
    ) -> ExecutionReport: ...
    def best_bid(self) -> Level | None: ...
    def best_ask(self) -> Level | None: ...
    def spread(self) -> Decimal | None: ...
    def mid(self) -> Decimal | None: ...
    def depth(self, n: int = 10) -> Depth: ...
    def orders(self, side: _Side) -> npt.NDArray[np.void]: ...
    def order(self, order_id: int) -> Order | None: ...
    def volume_at(
        self, price: _PriceLike | None = None, *, price_ticks: int | None = None
    ) -> int: ...
    def submit_batch(self, orders: npt.NDArray[np.void]) -> BatchResult: ...
    def apply_batch(self, commands: npt.NDArray[np.void]) -> BatchResult: ...
    def reader(self) -> BookReader: ...
    def set_time(self, ns: int) -> None: ...
    def _set_arena_chunk_limit(self, chunks: int | None) -> None: ...
    def check_invariants(self) -> None: ...
    def profile(self) -> dict[str, Any]:
        """Per-operation latency statistics (input of ``hftbook.profiling.LatencyReport``)."""
    def reset_profile(self) -> None: ...
    @property
    def profiling(self) -> bool:
        """Whether operations are timed (default False)."""
    @profiling.setter
    def profiling(self, on: bool) -> None: ...
    def profiler(self) -> Profiler: ...
    def __len__(self) -> int: ...
    def __contains__(self, order_id: int, /) -> bool: ...

@final
class Profiler:
    """Thread-safe handle on a book's latency profiler."""

    def snapshot(self) -> dict[str, Any]: ...
    def record(self, kind: str, ns: int | npt.NDArray[np.uint64]) -> None: ...
    def reset(self) -> None: ...
    @property
    def enabled(self) -> bool: ...
    @enabled.setter
    def enabled(self, on: bool) -> None: ...
    @property
    def clock_source(self) -> str: ...
    @property
    def kinds(self) -> list[str]: ...

def memory_stats() -> dict[str, int]: ...
def _allocator_options() -> dict[str, int]: ...
def reset_peak_memory() -> None: ...
def cpu_times() -> dict[str, Any]: ...
def parse_lobster_messages(
    data: bytes, name: str = "messages"
) -> tuple[npt.NDArray[np.int64], int]: ...
def parse_lobster_orderbook(data: bytes, name: str = "orderbook") -> npt.NDArray[np.int64]: ...
def replay_lobster(
    messages: npt.NDArray[np.int64],
    orderbook: npt.NDArray[np.int64],
    levels: int | None = None,
    *,
    edge_sync: bool = True,
    validate: bool = True,
    message_file: str = "messages",
    orderbook_file: str = "orderbook",
    counter: _Counter | None = None,
) -> dict[str, Any]: ...
def load_lobster_zip(
    path: str | PathLike[str], name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], str, str, float, int]: ...
def load_lobster_csv(
    message: str | PathLike[str],
    orderbook: str | PathLike[str],
    message_name: str,
    orderbook_name: str,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], str, str, float, int]: ...

# --- Databento MBO (wrapped by hftbook.data.mbo) ---
MBO_UNDEF_PRICE: Final[int]

def _mbo_read(
    path: str | PathLike[str] | None = None, data: bytes | None = None
) -> dict[str, Any]: ...
def _mbo_replay(
    path: str | PathLike[str] | None = None,
    data: bytes | None = None,
    *,
    tick_nanos: int | None = None,
    emit: str = "reference",
    expected: str | PathLike[str] | None = None,
    out: str | PathLike[str] | None = None,
    crlf: bool | None = None,
    counter: _Counter | None = None,
) -> dict[str, Any]: ...
def _mbp10_csv(
    columns: dict[str, Any],
    levels: dict[str, Any],
    symbols: list[str],
    codes: npt.NDArray[np.uint32],
    crlf: bool = False,
) -> bytes: ...
def _mbo_write_dbn(
    columns: dict[str, Any],
    symbols: list[str],
    codes: npt.NDArray[np.uint32],
    path: str | PathLike[str],
    zstd: bool,
) -> None: ...

# --- NASDAQ ITCH 5.0 (wrapped by hftbook.data.itch) ---
def _itch_parse(
    dtype: np.dtype[Any], path: str | PathLike[str] | None = None, data: bytes | None = None
) -> npt.NDArray[np.void]: ...
def _itch_encode(records: bytes) -> bytes: ...
def _itch_generate(
    messages: int, seed: int, symbols: list[str]
) -> tuple[bytes, list[dict[str, Any]]]: ...
def _itch_replay(
    path: str | PathLike[str] | None = None,
    data: bytes | None = None,
    symbols: list[str] | None = None,
    track: bool = False,
    counter: _ByteCounter | None = None,
    ticks: list[tuple[str, int]] | None = None,
) -> dict[str, Any]: ...

@final
class _ByteCounter:
    """Bytes read so far by a running file replay (for a progress bar)."""

    def __new__(cls) -> Self: ...
    def value(self) -> int: ...

@final
class _Counter:
    """Units done so far by a running replay, and the total (0 while unknown)."""

    def __new__(cls) -> Self: ...
    def value(self) -> int: ...
    def total(self) -> int: ...

EVENT_KINDS: Final[tuple[str, ...]]
ENGINE_REASONS: Final[tuple[str, ...]]
COMMAND_KINDS: Final[tuple[str, ...]]

@disjoint_base
class EngineCore:
    """The engine's Rust side; use :class:`hftbook.Engine`."""

    def __new__(
        cls,
        config: Any,
        file: str | None = None,
        journal_dir: str | os.PathLike[str] | None = None,
        fsync: str | None = None,
        recover: bool = False,
        segment_bytes: int | None = None,
        snapshot_every: int | None = None,
        simulation: str | None = None,
    ) -> Self: ...
    def _sim_run(
        self, until_ns: int, period_ns: int = 0, accounts: Sequence[int] | None = None
    ) -> tuple[int, npt.NDArray[np.void]]: ...
    def _sim_set_time(self, t_ns: int) -> None: ...
    def _sim_counters(self) -> dict[str, int] | None: ...
    @property
    def is_simulation(self) -> bool: ...
    @property
    def _sim_latency(self) -> tuple[int, int] | None: ...
    def _add_symbol(self, symbol: str, options: dict[str, Any]) -> int: ...
    def state_hash(self) -> str: ...
    def _positions(self, account: int | None = None) -> npt.NDArray[np.void]: ...
    def _kill(self, account: int, on: bool) -> None: ...
    def event_hash(self) -> str: ...
    def journal_stats(self) -> dict[str, Any] | None: ...
    def recovery(self) -> dict[str, Any] | None: ...
    def snapshot(self, timeout: float = 10.0) -> list[str]: ...
    @property
    def symbols(self) -> tuple[str, ...]: ...
    @property
    def symbol_shards(self) -> tuple[int, ...]: ...
    @property
    def tick_sizes(self) -> tuple[str, ...]: ...
    @property
    def lot_sizes(self) -> tuple[int, ...]: ...
    @property
    def shards(self) -> int: ...
    @property
    def state(self) -> str: ...
    def now(self) -> int: ...
    def _start(self) -> None: ...
    def _pause(self) -> None: ...
    def _resume(self) -> None: ...
    def _stop(self, drain: bool, timeout: float) -> tuple[int, int, int, bool]: ...
    def _serve(
        self,
        host: str,
        port: int,
        queue_capacity: int,
        stats_interval_ms: int = 250,
        token: str | None = None,
        allowed_origins: list[str] = ...,
        nice: int = 19,
        pump_interval_us: int = 250,
        idle: bool = False,
    ) -> FeedServer: ...
    def submit(
        self,
        symbol: str | int,
        side: Any,
        price: Any = None,
        qty: Any = None,
        *,
        order_type: Any = None,
        tif: Any = None,
        stop_price: Any = None,
        expire_at: int | None = None,
        display_qty: int | None = None,
        post_only: bool | None = None,
        stp: Any = None,
        account: int | None = None,
        client_id: int | None = None,
        urgent: bool | None = None,
        price_ticks: int | None = None,
        stop_price_ticks: int | None = None,
    ) -> int: ...
    def cancel(
        self, order_id: int, *, symbol: str | int | None = None, account: int | None = None
    ) -> None: ...
    def modify(
        self,
        order_id: int,
        *,
        price: Any = None,
        qty: int | None = None,
        price_ticks: int | None = None,
        symbol: str | int | None = None,
        account: int | None = None,
        urgent: bool | None = None,
    ) -> None: ...
    def mass_cancel(
        self,
        *,
        account: int | None = None,
        symbol: str | int | None = None,
        side: Any = None,
    ) -> None: ...
    def halt(self, symbol: str | int) -> None: ...
    def _resume_symbol(self, symbol: str | int) -> None: ...
    def end_session(self) -> None: ...
    def poll(
        self, max_events: int | None = None, timeout: float | None = None
    ) -> npt.NDArray[np.void]: ...
    def submit_batch(self, commands: npt.NDArray[np.void]) -> npt.NDArray[np.uint64]: ...
    def _subscribe(
        self,
        kinds: int = 0,
        symbols: list[int] | None = None,
        accounts: list[int] | None = None,
        capacity: int | None = None,
        conflate: bool = False,
    ) -> Subscription: ...
    def _reload(
        self, config: Any, file: str | None = None
    ) -> tuple[list[str], list[str], list[str]]: ...
    def _config_rejected(self, key: str, value: str, rule: str, file: str | None) -> None: ...
    def _drain_logs(self) -> list[tuple[str, str, int]]: ...
    def _stats(self) -> dict[str, Any]: ...
    def book(self, symbol: str | int) -> BookReader: ...
    def _live(self, symbol: str | int) -> tuple[int | None, int, bool]: ...

@final
class Subscription:
    """A subscriber queue (filters applied in Rust)."""

    def pop(
        self, max_events: int = 65536, timeout: float | None = None
    ) -> npt.NDArray[np.void]: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def conflated(self) -> int: ...
    @property
    def snapshots(self) -> int: ...
    def set_symbols(self, symbols: list[int] | None = None) -> None: ...

@final
class FeedServer:
    """A running market-data feed server (WebSocket feed and ``/metrics``)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def http_url(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def stats(self) -> dict[str, Any]: ...
    def label_account(self, account: int, name: str) -> None: ...
    def observe_reaction(self, strategy: str, ns: Any) -> None: ...
    def stop(self) -> None: ...

def _replay_journal(
    dir: str, events: bool = True, progress: _Counter | None = None
) -> dict[str, Any]: ...
def _audit(
    dir: str,
    order_id: int | None = None,
    client_id: int | None = None,
    account: int | None = None,
    symbol: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint64], npt.NDArray[np.void], tuple[str, ...]]: ...
def _scan_events(
    batch: npt.NDArray[np.void], touch_kinds: int, own_kinds: int
) -> tuple[
    list[int],
    list[tuple[int, int]],
    list[tuple[int, int, int, int, int, int, int, int]],
]: ...
