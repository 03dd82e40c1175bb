"""``hftbook simulate``: strategies on the engine in simulation mode, and the run's report.

The default run (:func:`default_strategies`): three symbols with background flow
calibrated to LOBSTER, a :class:`~hftbook.strategies.MarketMaker` on account 1 and a
:class:`~hftbook.strategies.TWAP` buyer on account 2, each with engine risk limits; user
strategies (``--strategy``) go on accounts 100, 101, ... The simulated market runs in
chunks of ``sample_ns`` simulated nanoseconds; after each chunk the PnL and the inventory
of every strategy are sampled, so the series are deterministic in simulated time.

A run stops at the first of: ``wall_seconds`` of wall time (not reproducible),
``sim_seconds`` of simulated time or ``max_ops`` background orders (both reproducible for
a seed: same fills, positions, PnL and ``event_hash``); the report says which.

    >>> from hftbook.simulate_engine import EngineSimConfig, run_engine_simulation
    >>> cfg = EngineSimConfig(sim_seconds=0.01, wall_seconds=None, seed=3)
    >>> a = run_engine_simulation(cfg, progress=False)
    >>> b = run_engine_simulation(cfg, progress=False)
    >>> a.stopped_by, a.report["event_hash"] == b.report["event_hash"]
    ('sim_seconds', True)
"""

from __future__ import annotations

import base64
import contextlib
import html
import importlib
import importlib.util
import io
import json
import math
import signal
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import hftbook as hb
from hftbook._console import print_whole
from hftbook.simulation import Simulation
from hftbook.strategy import Strategy

__all__ = [
    "DEFAULT_PRICES",
    "RISK_REASONS",
    "EngineSimConfig",
    "EngineSimResult",
    "StrategyLoadError",
    "default_strategies",
    "load_strategy",
    "print_engine_summary",
    "run_engine_simulation",
    "strategies_table",
    "to_toml",
    "write_engine_reports",
]

#: Reference prices of the default symbols (others start at 100.00).
DEFAULT_PRICES: dict[str, str] = {"AAPL": "100.00", "MSFT": "300.00", "GOOG": "580.00"}

#: Engine reasons of a ``rejected`` event that come from the pre-trade risk checks.
RISK_REASONS: frozenset[str] = frozenset(
    (
        "max_order_qty",
        "max_order_notional",
        "price_collar",
        "max_open_orders",
        "max_position",
        "order_rate",
        "kill_switch",
        "max_gross_exposure",
        "max_net_exposure",
    )
)

#: First account of the user strategies (``--strategy``).
USER_ACCOUNT0 = 100

_KIND = {name: i for i, name in enumerate(hb.EVENT_KINDS)}
_N_KINDS = len(hb.EVENT_KINDS)
_REASONS: tuple[str, ...] = tuple(hb.ENGINE_REASONS)


class StrategyLoadError(Exception):
    """A ``--strategy`` spec that cannot be loaded (one-line message)."""


@dataclass
class EngineSimConfig:
    """What ``hftbook simulate`` runs.

    Attributes:
        symbols: the symbols (default: the keys of :data:`DEFAULT_PRICES`, or the
            ``[symbols]`` of ``config`` when that has some).
        seed: seed of the background flow (overrides the config's ``[simulation] seed``).
        wall_seconds: wall-time budget (``None``: none).
        sim_seconds: simulated-time cap (``None``: none).
        max_ops: background-orders cap (``None``: none).
        config: an engine TOML file (its ``[simulation]`` table included) or a mapping.
        strategies: ``module:Class`` or ``path/file.py:Class`` specs of user strategies.
        batch_ns: width of the windows strategies receive events in (simulated ns).
        sample_ns: PnL and inventory sampling period (simulated ns).
        default_strategies: run the MarketMaker and the TWAP too.
        serve: serve the feed, the metrics and the dashboard on this port of 127.0.0.1
            (0: a free one) while running, and pace the simulation (``None``: neither).
        speed: with ``serve``, simulated seconds per wall second.
    """

    symbols: tuple[str, ...] | None = None
    seed: int | None = None
    wall_seconds: float | None = 10.0
    sim_seconds: float | None = None
    max_ops: int | None = None
    config: str | Path | Mapping[str, Any] | None = None
    strategies: tuple[str, ...] = ()
    batch_ns: int = 1_000_000
    sample_ns: int = 10_000_000
    default_strategies: bool = True
    serve: int | None = None
    speed: float = 1.0


@dataclass
class EngineSimResult:
    """The outcome: the JSON-ready report, the sampled series and the raw callback times."""

    report: dict[str, Any]
    config: dict[str, Any]
    callback_ns: dict[str, list[int]] = field(default_factory=dict)

    @property
    def stopped_by(self) -> str:
        """Which limit stopped the run (``wall_seconds``, ``sim_seconds``, ``max_ops``...)."""
        return str(self.report["stopped_by"])


# -- strategies ------------------------------------------------------------------------------


def default_strategies(symbols: Sequence[str]) -> list[tuple[Strategy, int, dict[str, Any]]]:
    """The default strategies as ``(strategy, account, risk limits)``.

    A MarketMaker quoting every symbol (100 lots, 2 ticks half spread, inventory within
    1,000) on account 1; a TWAP buying 5,000 of the second symbol over 2 simulated
    seconds in 40 slices (each sweeping up to 5 levels) on account 2.
    """
    from hftbook.strategies import TWAP, MarketMaker

    twap_sym = symbols[1] if len(symbols) > 1 else symbols[0]
    return [
        (
            MarketMaker(size=100, half_spread_ticks=2, max_inventory=1000),
            1,
            {"max_position": 1500, "max_order_qty": 500, "max_open_orders": 50},
        ),
        (
            TWAP(twap_sym, "buy", 5_000, duration_s=2.0, slices=40, sweep_levels=5),
            2,
            {"max_position": 5_000, "max_order_qty": 1_000, "max_open_orders": 50},
        ),
    ]


#: Risk limits of each user strategy's account.
USER_LIMITS: dict[str, Any] = {"max_position": 10_000, "max_order_qty": 2_000}


def load_strategy(spec: str) -> type[Strategy]:
    """The :class:`~hftbook.Strategy` subclass named by ``module:Class`` or ``file.py:Class``.

    Raises :class:`StrategyLoadError` with a one-line message otherwise.

    >>> load_strategy("hftbook.strategies:MarketMaker").__name__
    'MarketMaker'
    >>> load_strategy("nope.py:X")
    Traceback (most recent call last):
    ...
    hftbook.simulate_engine.StrategyLoadError: --strategy nope.py:X: no such file nope.py
    """
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise StrategyLoadError(f"--strategy {spec}: expected module:Class or path/file.py:Class")
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            path = Path(where)
            if not path.is_file():
                raise StrategyLoadError(f"--strategy {spec}: no such file {where}")
            mod_name = f"_hftbook_user_strategy_{abs(hash(str(path.resolve())))}"
            mspec = importlib.util.spec_from_file_location(mod_name, path)
            if mspec is None or mspec.loader is None:
                raise StrategyLoadError(f"--strategy {spec}: cannot import {where}")
            module = importlib.util.module_from_spec(mspec)
            sys.modules[mod_name] = module
            mspec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except StrategyLoadError:
        raise
    except BaseException as e:  # a user's file: anything it raises, SyntaxError included
        if isinstance(e, KeyboardInterrupt):
            raise
        msg = " ".join(str(e).split())
        raise StrategyLoadError(
            f"--strategy {spec}: cannot load {where}: {type(e).__name__}: {msg}"
        ) from None
    cls = getattr(module, name, None)
    if cls is None:
        raise StrategyLoadError(f"--strategy {spec}: {where} has no {name}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"--strategy {spec}: {name} is not a hftbook.Strategy subclass")
    return cls


def _instantiate(spec: str, cls: type[Strategy]) -> Strategy:
    try:
        return cls()
    except Exception as e:
        msg = " ".join(str(e).split())
        raise StrategyLoadError(
            f"--strategy {spec}: {cls.__name__}() failed: {type(e).__name__}: {msg}"
        ) from None


# -- configuration ---------------------------------------------------------------------------


def _load_config(config: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        copy: dict[str, Any] = json.loads(json.dumps(dict(config)))  # a deep copy
        return copy
    with open(config, "rb") as f:
        return tomllib.load(f)


def build_config(cfg: EngineSimConfig) -> dict[str, Any]:
    """The engine configuration mapping of the run (``[simulation]`` table included)."""
    base = _load_config(cfg.config)
    syms_cfg: dict[str, Any] = dict(base.get("symbols", {}))
    if cfg.symbols is not None:
        syms_cfg = {s: dict(syms_cfg.get(s, {})) for s in cfg.symbols}
    elif not syms_cfg:
        syms_cfg = {s: {} for s in DEFAULT_PRICES}
    for s, table in syms_cfg.items():
        table.setdefault("reference_price", DEFAULT_PRICES.get(s, "100.00"))
    base["symbols"] = syms_cfg
    engine = dict(base.get("engine", {}))
    engine["book_events"] = True  # the MarketMaker follows book changes
    base["engine"] = engine
    sim = dict(base.get("simulation", {}))
    if cfg.seed is not None:
        sim["seed"] = cfg.seed
    sim.setdefault("seed", 42)
    base["simulation"] = sim
    return base


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, Decimal):
        return json.dumps(str(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def to_toml(data: Mapping[str, Any], _prefix: str = "") -> str:
    """``data`` (nested mappings of strings, numbers, booleans, lists) as TOML text.

    >>> print(to_toml({"a": 1, "t": {"b": "x", "u": {"c": True}}}), end="")
    a = 1
    <BLANKLINE>
    [t]
    b = "x"
    <BLANKLINE>
    [t.u]
    c = true
    """
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)
    ]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        if isinstance(v, Mapping):
            name = f"{_prefix}.{_toml_key(k)}" if _prefix else _toml_key(k)
            out += f"\n[{name}]\n" + to_toml(v, name)
    return out


# -- the run ---------------------------------------------------------------------------------


class _Recorder:
    """Counts the windows' events by kind, account and reason.

    The rows are the public events and the strategies' own private events (rejections and
    fills of the background account are not among them).
    """

    def __init__(self) -> None:
        self.fills: Counter[int] = Counter()
        self.rejected: Counter[tuple[int, str]] = Counter()
        self.status: Counter[str] = Counter()
        self.engine: Counter[str] = Counter()
        self.trades = 0

    def __call__(self, arr: np.ndarray) -> None:
        kinds = arr["kind"]
        counts = np.bincount(kinds, minlength=_N_KINDS)
        self.trades += int(counts[_KIND["trade"]])
        if counts[_KIND["fill"]]:
            self.fills.update(arr["account"][kinds == _KIND["fill"]].tolist())
        if counts[_KIND["rejected"]]:
            rej = arr[kinds == _KIND["rejected"]]
            for a, r in zip(rej["account"].tolist(), rej["reason"].tolist(), strict=True):
                self.rejected[(a, _reason(r))] += 1
        for kind, into in ((_KIND["status"], self.status), (_KIND["engine"], self.engine)):
            if counts[kind]:
                into.update(_reason(r) for r in arr["reason"][kinds == kind].tolist())


def _reason(code: int) -> str:
    return _REASONS[code] if 0 <= code < len(_REASONS) and _REASONS[code] else f"#{code}"


def _dec(d: Any) -> str:
    return str(d)


def _inventory(engine: hb.Engine, accounts: Mapping[int, str]) -> dict[int, dict[str, int]]:
    pos = engine.positions()
    names = engine.symbols
    out: dict[int, dict[str, int]] = {a: {} for a in accounts}
    for row in pos:
        a = int(row["account"])
        if a in out:
            out[a][names[int(row["symbol"])]] = int(row["net"])
    return out


def run_engine_simulation(
    cfg: EngineSimConfig,
    progress: bool = True,
    console: Console | None = None,
    journal_dir: str | Path | None = None,
) -> EngineSimResult:
    """Run the simulation of ``cfg``; the report (see :func:`write_engine_reports`).

    With ``journal_dir`` (a fresh directory) every command is journaled there:
    ``hb.replay_journal(journal_dir)`` reaches the report's ``state_hash`` and ``event_hash``.

    Raises :class:`StrategyLoadError` for a ``--strategy`` that cannot be loaded and
    :class:`hftbook.HftbookError` for an invalid configuration. Ctrl-C stops the run early
    (``stopped_by = "interrupted"``).
    """
    user = [(spec, load_strategy(spec)) for spec in cfg.strategies]
    config = build_config(cfg)
    symbols = tuple(config["symbols"])
    sim = Simulation(config, batch_ns=cfg.batch_ns, journal_dir=journal_dir)
    plan: list[tuple[Strategy, int, dict[str, Any]]] = []
    if cfg.default_strategies:
        plan += default_strategies(symbols)
    plan += [
        (_instantiate(spec, cls), USER_ACCOUNT0 + i, dict(USER_LIMITS))
        for i, (spec, cls) in enumerate(user)
    ]
    names: set[str] = set()
    accounts: dict[int, str] = {}
    for strat, account, limits in plan:
        sim.engine.risk.set_limits(account, **limits)
        name = getattr(strat, "name", None) or type(strat).__name__
        if name in names:
            name = f"{name}#{account}"
        strat.name = name
        names.add(name)
        sim.add_strategy(strat, account=account)
        accounts[account] = name
    limits_of = {accounts[a]: lim for _, a, lim in plan}
    max_inventory = {
        accounts[a]: int(getattr(s, "max_inventory", 0)) or None
        for s, a, _ in plan
        if hasattr(s, "max_inventory")
    }

    rec = _Recorder()
    t_ns: list[int] = []
    pnl_series: dict[str, list[float]] = {n: [] for n in accounts.values()}
    inv_series: dict[str, dict[str, list[int]]] = {
        n: {s: [] for s in symbols} for n in accounts.values()
    }

    def sample() -> None:
        t_ns.append(int(sim.engine.now()))
        inv = _inventory(sim.engine, accounts)
        for a, n in accounts.items():
            pnl_series[n].append(float(sim.engine.pnl(a)["total"]["total"]))
            for s in symbols:
                inv_series[n][s].append(inv[a].get(s, 0))

    sim_cap_ns = None if cfg.sim_seconds is None else round(cfg.sim_seconds * 1e9)
    console = console or Console()
    bar = Progress(
        TextColumn("[bold]simulate[/]"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
        transient=False,
    )
    if cfg.wall_seconds is not None:
        total, unit = cfg.wall_seconds, "wall"
    elif sim_cap_ns is not None:
        total, unit = sim_cap_ns / 1e9, "sim"
    elif cfg.max_ops is not None:
        total, unit = float(cfg.max_ops), "ops"
    else:
        total, unit = 1.0, "none"
    stopped_by = "unknown"
    wall0 = time.perf_counter()
    sim.engine.start()
    sample()
    try:
        pace = _Pacer(sim, cfg, console) if cfg.serve is not None else None
    except BaseException:
        sim.stop()  # e.g. the port is taken: no half-started run left behind
        raise
    with bar, pace or contextlib.nullcontext():
        task = bar.add_task("simulate", total=total, status="starting")
        try:
            while True:
                now = int(sim.engine.now())
                wall = time.perf_counter() - wall0
                if pace is not None and pace.interrupted:
                    stopped_by = "interrupted"
                    break
                c = sim.counters()
                if cfg.max_ops is not None and c.get("background_orders", 0) >= cfg.max_ops:
                    stopped_by = "max_ops"
                    break
                if sim_cap_ns is not None and now >= sim_cap_ns:
                    stopped_by = "sim_seconds"
                    break
                if cfg.wall_seconds is not None and wall >= cfg.wall_seconds:
                    stopped_by = "wall_seconds"
                    break
                until = now + cfg.sample_ns
                if sim_cap_ns is not None:
                    until = min(until, sim_cap_ns)
                if pace is not None:
                    # The same chunks as without --serve (so the same run), each started
                    # when the wall clock reaches its end.
                    limit = None if cfg.wall_seconds is None else wall0 + cfg.wall_seconds
                    if not pace.wait_until(until, limit):
                        continue
                sim.run(
                    until_ns=until,
                    wall_seconds=None if cfg.wall_seconds is None else cfg.wall_seconds - wall,
                    max_orders=cfg.max_ops,
                    on_batch=rec,
                    every_account=False,  # the strategies' private events are enough
                )
                sample()
                c = sim.counters()
                done = {
                    "wall": time.perf_counter() - wall0,
                    "sim": c.get("now", 0) / 1e9,
                    "ops": float(c.get("background_orders", 0)),
                    "none": 0.0,
                }[unit]
                pnl = "  ".join(f"{n} {v[-1]:+,.0f}" for n, v in pnl_series.items())
                bar.update(
                    task,
                    completed=min(done, total),
                    status=f"t={c.get('now', 0) / 1e9:.3f}s sim  "
                    f"{c.get('background_orders', 0):,} bg orders  "
                    f"{2 * rec.trades:,} fills  PnL {pnl}",
                )
        except KeyboardInterrupt:
            stopped_by = "interrupted"
    stats = sim.stats()
    wall_total = time.perf_counter() - wall0
    callback_ns = {s.name: list(getattr(s, "_callback_ns", ())) for s in sim.strategies}
    pnl_end = {a: sim.engine.pnl(a) for a in accounts}
    inv_end = _inventory(sim.engine, accounts)
    estats = sim.engine.stats()
    # After the stop: the strategies' last orders (cancels at on_stop) are in the hashes, as
    # they are in the journal.
    stop = sim.stop()
    event_hash = sim.event_hash()
    state_hash = sim.state_hash()

    risk_by_reason: Counter[str] = Counter()
    for (_a, reason), n in rec.rejected.items():
        if reason in RISK_REASONS:
            risk_by_reason[reason] += n
    strategies: dict[str, Any] = {}
    for s in sim.strategies:
        a = s.account
        st = stats["strategies"].get(s.name, {})
        rej = {r: n for (acc, r), n in sorted(rec.rejected.items()) if acc == a}
        p = pnl_end[a]
        strategies[s.name] = {
            "class": f"{type(s).__module__}.{type(s).__qualname__}",
            "account": a,
            "risk_limits": limits_of.get(s.name, {}),
            "max_inventory": max_inventory.get(s.name),
            "error": st.get("error"),
            "callbacks_us": st.get("callbacks", {}),
            "reaction_us": st.get("reaction_us", {}),
            "pnl": {
                "realized": _dec(p["total"]["realized"]),
                "unrealized": _dec(p["total"]["unrealized"]),
                "fees": _dec(p["total"]["fees"]),
                "total": _dec(p["total"]["total"]),
            },
            "positions": {
                sym: {
                    "net": int(v["net"]),
                    "avg_price": _dec(v["avg_price"]),
                    "bought": int(v["bought"]),
                    "sold": int(v["sold"]),
                    "total": _dec(v["total"]),
                }
                for sym, v in p.items()
                if sym != "total"
            },
            "inventory": inv_end.get(a, {}),
            "fills": rec.fills.get(a, 0),
            "rejections": rej,
            "risk_rejections": sum(n for r, n in rej.items() if r in RISK_REASONS),
        }
    throughput = {
        k: stats.get(k)
        for k in (
            "simulated_s",
            "wall_s",
            "background_orders",
            "background_cancels",
            "api_commands",
            "events",
            "batches",
            "background_orders_per_s",
            "events_per_s",
        )
    }
    throughput["run_wall_s"] = wall_total
    report: dict[str, Any] = {
        "tool": "hftbook simulate",
        "version": hb.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": config["simulation"]["seed"],
        "symbols": list(symbols),
        "batch_ns": cfg.batch_ns,
        "sample_ns": cfg.sample_ns,
        "order_entry_latency_ns": sim.order_entry_latency_ns,
        "market_data_latency_ns": sim.market_data_latency_ns,
        "limits": {
            "wall_seconds": cfg.wall_seconds,
            "sim_seconds": cfg.sim_seconds,
            "max_ops": cfg.max_ops,
        },
        "stopped_by": stopped_by,
        "deterministic": stopped_by in ("sim_seconds", "max_ops"),
        "throughput": throughput,
        # Every trade is two fills (maker and taker); the background account's own fill
        # events are not turned into rows (`every_account=False`).
        "fills": 2 * rec.trades,
        "trades": rec.trades,
        "risk_rejections": {
            "total": sum(risk_by_reason.values()),
            **dict(sorted(risk_by_reason.items())),
        },
        "engine_rejections": estats.get("rejections", {}),
        "breaker": {
            "state": estats.get("breaker"),
            "status_events": dict(sorted(rec.status.items())),
            "engine_events": dict(sorted(rec.engine.items())),
        },
        "strategies": strategies,
        "event_hash": event_hash,
        "state_hash": state_hash,
        "journal": None if journal_dir is None else str(journal_dir),
        "stop": stop,
        "series": {"t_ns": t_ns, "pnl": pnl_series, "inventory": inv_series},
    }
    out_config = json.loads(json.dumps(sim.engine._config_dict))
    out_config["simulation"] = config["simulation"]
    return EngineSimResult(report=report, config=out_config, callback_ns=callback_ns)


class _Pacer:
    """``--serve``: the feed server on the simulation's engine, the pace, and Ctrl-C.

    Simulated time follows the wall clock times ``speed``; Ctrl-C asks the run to stop.
    """

    def __init__(self, sim: Simulation, cfg: EngineSimConfig, console: Console) -> None:
        if not (math.isfinite(cfg.speed) and cfg.speed > 0):
            raise ValueError(f"speed = {cfg.speed}: give a positive number")
        self.sim = sim
        self.speed = cfg.speed
        self.interrupted = False
        self.server = sim.engine.serve(port=int(cfg.serve or 0))
        self.sim0 = int(sim.engine.now())
        self.wall0 = time.perf_counter()
        self._old_handler: Any = None
        url = self.server.dashboard_url
        print(f"dashboard: {url}", flush=True)
        print(f"feed:      {self.server.url}", flush=True)
        print(f"metrics:   {self.server.http_url}/metrics", flush=True)
        console.print(f"watch it live at [bold]{url}[/] (Ctrl-C ends the run)")

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)
            self._old_handler = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupted = True

    def wait_until(self, sim_ns: int, wall_limit: float | None) -> bool:
        """Sleep until simulated time ``sim_ns`` is due on the wall clock.

        False when the wait was cut short (Ctrl-C, or ``wall_limit``, a ``perf_counter``
        time, passed).
        """
        due = self.wall0 + (sim_ns - self.sim0) / 1e9 / self.speed
        while True:
            now = time.perf_counter()
            if self.interrupted or (wall_limit is not None and now >= wall_limit):
                return False
            if now >= due:
                return True
            time.sleep(min(0.05, due - now))


# -- output ----------------------------------------------------------------------------------


def summary_tables(result: EngineSimResult) -> list[Table]:
    """The console summary: throughput, strategies, risk and breaker."""
    r = result.report
    t = r["throughput"]
    run = Table(title=f"hftbook simulate: seed {r['seed']}, stopped by {r['stopped_by']}")
    run.add_column("metric")
    run.add_column("value", justify="right")
    run.add_row("simulated time", f"{t['simulated_s']:.3f} s")
    run.add_row("wall time", f"{t['wall_s']:.2f} s")
    run.add_row("background orders", f"{t['background_orders']:,}")
    run.add_row("background orders/s", f"{t['background_orders_per_s']:,.0f}")
    run.add_row("events", f"{t['events']:,}")
    run.add_row("events/s", f"{t['events_per_s']:,.0f}")
    run.add_row("trades / fills", f"{r['trades']:,} / {r['fills']:,}")
    risk = r["risk_rejections"]
    run.add_row(
        "risk rejections",
        f"{risk['total']:,}"
        + (
            ""
            if not risk["total"]
            else " (" + ", ".join(f"{k} {v}" for k, v in risk.items() if k != "total") + ")"
        ),
    )
    b = r["breaker"]
    run.add_row("breaker", str(b["state"]))
    run.add_row(
        "halt/breaker events",
        ", ".join(f"{k} {v}" for k, v in {**b["status_events"], **b["engine_events"]}.items())
        or "none",
    )
    run.add_row("event_hash", r["event_hash"])

    return [run, strategies_table(result)]


def _reaction_cells(re_: dict[str, Any]) -> tuple[str, str]:
    """A strategy's reaction p50 and p99 (µs) as table cells.

    "-" when none was measured: a strategy whose orders all come from timers, like the TWAP,
    reacts to no event.
    """
    if not re_.get("count"):
        return ("-", "-")
    return (f"{re_['p50']:,.0f}", f"{re_['p99']:,.0f}")


_STRATEGY_COLUMNS = (
    "strategy",
    "acct",
    "PnL",
    "positions",
    "fills",
    "risk rej",
    "cb p50",
    "cb p99",
    "cb max",
    "react p50",
    "react p99",
)


def strategies_table(result: EngineSimResult, *, by_strategy: bool = False) -> Table:
    """The strategies' account, PnL, positions, fills, risk rejections and times.

    Callback and reaction times in µs (wall). One row per strategy, or with
    ``by_strategy=True`` one column per strategy and a row per figure (narrow enough for an
    80-column terminal with a few strategies).
    """
    cells: list[list[str]] = []
    for name, s in result.report["strategies"].items():
        cb, re_ = s["callbacks_us"], s["reaction_us"]
        sep = "\n" if by_strategy else " "  # transposed: one symbol per line
        pos = sep.join(f"{k} {v['net']:+d}" for k, v in s["positions"].items()) or "flat"
        cells.append(
            [
                name + (" [red](error)[/]" if s["error"] else ""),
                str(s["account"]),
                s["pnl"]["total"],
                pos,
                f"{s['fills']:,}",
                f"{s['risk_rejections']:,}",
                f"{cb.get('p50', 0):,.0f}",
                f"{cb.get('p99', 0):,.0f}",
                f"{cb.get('max', 0):,.0f}",
                *_reaction_cells(re_),
            ]
        )
    st = Table(title="strategies (callback and reaction times in µs, wall)")
    if by_strategy:
        st.add_column("", no_wrap=True)
        for row in cells:
            st.add_column(row[0], justify="right", no_wrap=True)
        for i, col in enumerate(_STRATEGY_COLUMNS[1:], start=1):
            st.add_row(col, *(r[i] for r in cells))
        return st
    for col in _STRATEGY_COLUMNS:
        st.add_column(
            col, justify="left" if col in ("strategy", "positions") else "right", no_wrap=True
        )
    for row in cells:
        st.add_row(*row)
    return st


def print_engine_summary(result: EngineSimResult, console: Console | None = None) -> None:
    """Print :func:`summary_tables` and any strategy error, every cell whole.

    To a file or pipe at full width; on a narrow terminal with the strategies table
    transposed.
    """
    console = console or Console()
    run, st = summary_tables(result)
    print_whole(console, run)
    print_whole(console, st, narrow=strategies_table(result, by_strategy=True))
    for name, s in result.report["strategies"].items():
        if s["error"]:
            console.print(f"[red]strategy {name} stopped on an error: {s['error']}[/]")


def _plots(result: EngineSimResult) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = result.report
    ser = r["series"]
    t_ms = np.array(ser["t_ns"], dtype=np.float64) / 1e6
    out: dict[str, bytes] = {}

    def png(fig: Any) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        return buf.getvalue()

    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    for name, v in ser["pnl"].items():
        ax.plot(t_ms, v, label=name)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("PnL (marked to market)")
    ax.set_title("PnL per strategy")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    out["pnl.png"] = png(fig)

    names = list(ser["inventory"])
    fig, axes = plt.subplots(
        max(len(names), 1),
        1,
        figsize=(9, 2.6 * max(len(names), 1)),
        squeeze=False,
        layout="constrained",
    )
    for ax, name in zip(axes[:, 0], names, strict=False):
        for sym, v in ser["inventory"][name].items():
            ax.step(t_ms, v, where="post", label=sym)
        lim = r["strategies"].get(name, {}).get("max_inventory")
        if lim:
            ax.axhline(lim, color="red", ls="--", lw=0.7)
            ax.axhline(-lim, color="red", ls="--", lw=0.7)
        ax.set_title(f"inventory: {name}")
        ax.set_ylabel("net qty")
        ax.legend(loc="upper left", fontsize="small")
    axes[-1, 0].set_xlabel("simulated time (ms)")
    out["inventory.png"] = png(fig)

    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    for name, ns in result.callback_ns.items():
        if ns:
            us = np.maximum(np.array(ns, dtype=np.float64) / 1e3, 1e-3)
            bins = np.logspace(math.log10(us.min()), math.log10(us.max()) + 1e-9, 50)
            ax.hist(us, bins=bins.tolist(), alpha=0.6, label=f"{name} (n={len(ns):,})")
    ax.set_xscale("log")
    ax.set_xlabel("callback time per batch (µs, wall)")
    ax.set_ylabel("batches")
    ax.set_title("strategy callback time")
    ax.legend()
    out["callbacks.png"] = png(fig)
    return out


def _html(result: EngineSimResult, plots: Mapping[str, bytes]) -> str:
    r = result.report
    esc = html.escape

    def table(rows: list[tuple[str, Any]]) -> str:
        return (
            "<table>"
            + "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
            + "</table>"
        )

    t = r["throughput"]
    head = table(
        [
            ("seed", r["seed"]),
            ("symbols", ", ".join(r["symbols"])),
            ("stopped by", r["stopped_by"]),
            ("simulated time (s)", f"{t['simulated_s']:.3f}"),
            ("wall time (s)", f"{t['wall_s']:.2f}"),
            ("background orders", f"{t['background_orders']:,}"),
            ("background orders/s", f"{t['background_orders_per_s']:,.0f}"),
            ("events/s", f"{t['events_per_s']:,.0f}"),
            ("trades / fills", f"{r['trades']:,} / {r['fills']:,}"),
            ("risk rejections", json.dumps(r["risk_rejections"])),
            ("breaker", json.dumps(r["breaker"])),
            ("event_hash", r["event_hash"]),
            ("state_hash", r["state_hash"]),
        ]
    )
    cols = (
        "strategy",
        "account",
        "PnL",
        "positions",
        "fills",
        "risk rejections",
        "callback p50/p99/max µs",
        "reaction p50/p99 µs",
    )
    rows = []
    for name, s in r["strategies"].items():
        cb, re_ = s["callbacks_us"], s["reaction_us"]
        cells = (
            name,
            s["account"],
            s["pnl"]["total"],
            " ".join(f"{k} {v['net']:+d}" for k, v in s["positions"].items()) or "flat",
            s["fills"],
            s["risk_rejections"],
            f"{cb.get('p50', 0):,.0f} / {cb.get('p99', 0):,.0f} / {cb.get('max', 0):,.0f}",
            " / ".join(_reaction_cells(re_)),
        )
        rows.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>")
    strat = (
        "<table><tr>"
        + "".join(f"<th>{c}</th>" for c in cols)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )
    imgs = "".join(
        f'<h2>{esc(name)}</h2><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}">'
        for name, data in plots.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>hftbook simulate</title>'
        f"<style>{style}</style></head><body><h1>hftbook simulate</h1>{head}"
        f"<h2>strategies</h2>{strat}{imgs}</body></html>\n"
    )


def write_engine_reports(result: EngineSimResult, out_dir: str | Path) -> list[Path]:
    """Write ``config.toml``, ``report.json``, ``report.html`` and the PNG plots.

    ``config.toml`` reproduces the run with ``hftbook simulate --config`` (the
    ``[simulation]`` table holds the seed; the limits are in ``report.json``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    p = out / "config.toml"
    p.write_text(to_toml(result.config), encoding="utf-8")
    paths.append(p)
    p = out / "report.json"
    p.write_text(json.dumps(result.report, indent=2) + "\n", encoding="utf-8")
    paths.append(p)
    plots = _plots(result)
    for name, data in plots.items():
        p = out / name
        p.write_bytes(data)
        paths.append(p)
    p = out / "report.html"
    p.write_text(_html(result, plots), encoding="utf-8")
    paths.append(p)
    return paths
