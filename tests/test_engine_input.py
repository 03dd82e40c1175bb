"""Bad input to ``hftbook.Engine``: every argument of every call gets a typed hftbook error
whose message names the field and the value, and a refused call queues nothing (checked with
the lane counters, the order id generator and the events seen after a draining stop)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hftbook as hb
from engine_util import commands, engine, finish, queued

pytestmark = pytest.mark.timeout(120)

OK = {"price": "100.00", "qty": 5}


def check_refused(
    e: hb.Engine, call: Callable[[], object], exc: type[Exception], field: str, value: str
) -> hb.HftbookError:
    """``call`` raises ``exc`` naming ``field`` and ``value``, and nothing was queued."""
    before_q, before_ids = queued(e), e.stats()["orders_issued"]
    with pytest.raises(exc) as info:
        call()
    err = info.value
    assert isinstance(err, hb.HftbookError), type(err)
    assert err.field == field, (err.field, str(err))
    msg = str(err)
    assert field in msg, msg
    assert value in msg, msg
    assert queued(e) == before_q
    assert e.stats()["orders_issued"] == before_ids
    return err


@pytest.fixture
def eng() -> Any:
    e = engine()
    yield e
    e.stop()


# -- submit ------------------------------------------------------------------------------------

SUBMIT_CASES: list[tuple[str, dict[str, Any], type[Exception], str, str]] = [
    ("symbol unknown", {"symbol": "ZZZ"}, hb.UnknownSymbol, "symbol", "ZZZ"),
    ("symbol index", {"symbol": 7}, hb.UnknownSymbol, "symbol", "7"),
    ("symbol None", {"symbol": None}, hb.UnknownSymbol, "symbol", "None"),
    ("side word", {"side": "up"}, hb.InvalidOrder, "side", "up"),
    ("side int", {"side": 5}, hb.InvalidOrder, "side", "5"),
    ("price off tick", {"price": "100.001"}, hb.InvalidPrice, "price", "100.001"),
    ("price text", {"price": "abc"}, hb.InvalidPrice, "price", "abc"),
    ("price nan", {"price": float("nan")}, hb.InvalidPrice, "price", "NaN"),
    ("price huge", {"price": "1e30"}, hb.InvalidPrice, "price", "1e30"),
    ("price missing", {"price": None}, hb.InvalidPrice, "price", "price"),
    (
        "price_ticks float",
        {"price": None, "price_ticks": 1.5},
        hb.InvalidPrice,
        "price_ticks",
        "1.5",
    ),
    (
        "price_ticks huge",
        {"price": None, "price_ticks": 2**63},
        hb.InvalidPrice,
        "price_ticks",
        str(2**63),
    ),
    ("price and ticks", {"price_ticks": 10_000}, hb.InvalidOrder, "price", "price_ticks"),
    ("qty zero", {"qty": 0}, hb.InvalidQuantity, "qty", "0"),
    ("qty negative", {"qty": -1}, hb.InvalidQuantity, "qty", "-1"),
    ("qty float", {"qty": 1.5}, hb.InvalidQuantity, "qty", "1.5"),
    ("qty text", {"qty": "5"}, hb.InvalidQuantity, "qty", "5"),
    ("qty missing", {"qty": None}, hb.InvalidQuantity, "qty", "qty"),
    ("qty bool", {"qty": True}, hb.InvalidQuantity, "qty", "True"),
    ("order_type", {"order_type": "iceberg"}, hb.InvalidOrder, "order_type", "iceberg"),
    ("order_type code", {"order_type": 9}, hb.InvalidOrder, "order_type", "9"),
    ("market with price", {"order_type": "market"}, hb.InvalidOrder, "price", "market"),
    ("tif", {"tif": "forever"}, hb.InvalidOrder, "tif", "forever"),
    ("tif code", {"tif": 9}, hb.InvalidOrder, "tif", "9"),
    (
        "market gtd",
        {"order_type": "market", "price": None, "tif": "day"},
        hb.InvalidOrder,
        "tif",
        "day",
    ),
    ("stop_price on limit", {"stop_price": "99.00"}, hb.InvalidOrder, "stop_price", "stop_price"),
    (
        "stop_price missing",
        {"order_type": "stop_limit"},
        hb.InvalidPrice,
        "stop_price",
        "stop_price",
    ),
    (
        "stop_price off tick",
        {"order_type": "stop_limit", "stop_price": "99.001"},
        hb.InvalidPrice,
        "stop_price",
        "99.001",
    ),
    (
        "stop_price text",
        {"order_type": "stop", "price": None, "stop_price": "x"},
        hb.InvalidPrice,
        "stop_price",
        "x",
    ),
    ("expire_at without gtd", {"expire_at": 10**18}, hb.InvalidOrder, "expire_at", str(10**18)),
    ("gtd without expire_at", {"tif": "gtd"}, hb.InvalidOrder, "expire_at", "0"),
    ("gtd in the past", {"tif": "gtd", "expire_at": 1}, hb.InvalidOrder, "expire_at", "1"),
    ("expire_at negative", {"tif": "gtd", "expire_at": -5}, hb.InvalidOrder, "expire_at", "-5"),
    ("expire_at text", {"tif": "gtd", "expire_at": "soon"}, hb.InvalidOrder, "expire_at", "soon"),
    ("display above qty", {"display_qty": 6}, hb.InvalidQuantity, "display_qty", "6"),
    ("display negative", {"display_qty": -1}, hb.InvalidQuantity, "display_qty", "-1"),
    ("stp", {"stp": "maybe"}, hb.InvalidOrder, "stp", "maybe"),
    ("account negative", {"account": -1}, hb.InvalidOrder, "account", "-1"),
    ("account too big", {"account": 2**32}, hb.InvalidOrder, "account", str(2**32)),
    ("account text", {"account": "x"}, hb.InvalidOrder, "account", "x"),
    ("client_id negative", {"client_id": -1}, hb.InvalidOrder, "client_id", "-1"),
    ("client_id too big", {"client_id": 2**64}, hb.InvalidOrder, "client_id", str(2**64)),
    ("client_id float", {"client_id": 1.5}, hb.InvalidOrder, "client_id", "1.5"),
    ("post_only text", {"post_only": "yes"}, hb.InvalidOrder, "post_only", "yes"),
    ("urgent int", {"urgent": 2}, hb.InvalidOrder, "urgent", "2"),
    (
        "post_only market",
        {"order_type": "market", "price": None, "post_only": True},
        hb.InvalidOrder,
        "post_only",
        "True",
    ),
    ("post_only fok", {"tif": "fok", "post_only": True}, hb.InvalidOrder, "post_only", "True"),
]


@pytest.mark.parametrize(
    ("args", "exc", "field", "value"),
    [pytest.param(a, x, f, v, id=i) for i, a, x, f, v in SUBMIT_CASES],
)
def test_submit_bad_argument(
    eng: hb.Engine, args: dict[str, Any], exc: type[Exception], field: str, value: str
) -> None:
    kw: dict[str, Any] = {"symbol": "AAPL", "side": "buy", **OK, **args}
    check_refused(eng, lambda: eng.submit(**kw), exc, field, value)


def test_submit_qty_rules_of_the_symbol() -> None:
    e = engine({"LOT": {"tick_size": "0.05", "lot_size": 10, "min_qty": 2, "max_qty": 5}})
    try:
        check_refused(
            e, lambda: e.submit("LOT", "buy", price="1.00", qty=15), hb.InvalidQuantity, "qty", "15"
        )
        # 1 lot (10 units) is under min_qty 2, 60 units (6 lots) over max_qty 5
        check_refused(
            e, lambda: e.submit("LOT", "buy", price="1.00", qty=10), hb.InvalidQuantity, "qty", "1"
        )
        check_refused(
            e, lambda: e.submit("LOT", "buy", price="1.00", qty=60), hb.InvalidQuantity, "qty", "6"
        )
        check_refused(
            e,
            lambda: e.submit("LOT", "buy", price="1.02", qty=20),
            hb.InvalidPrice,
            "price",
            "1.02",
        )
    finally:
        assert finish(e) == []


def test_rejected_calls_enqueue_nothing_and_produce_no_events() -> None:
    """A long run of refused calls on a running engine: no event ever comes out of them."""
    e = engine()
    e.start()
    for _i, args, exc, _f, _v in SUBMIT_CASES:
        kw: dict[str, Any] = {"symbol": "AAPL", "side": "buy", **OK, **args}
        with pytest.raises(exc):
            e.submit(**kw)
    assert queued(e) == 0
    assert e.stats()["orders_issued"] == 0
    assert [ev for ev in finish(e) if ev.kind != "engine"] == []
    assert e.stats()["commands"] == 0


# -- cancel, modify, mass_cancel, halt, resume ---------------------------------------------------


def test_cancel_bad_arguments(eng: hb.Engine) -> None:
    check_refused(eng, lambda: eng.cancel(12345), hb.UnknownOrder, "order_id", "12345")
    check_refused(eng, lambda: eng.cancel(-1), hb.InvalidOrder, "order_id", "-1")
    check_refused(eng, lambda: eng.cancel("x"), hb.InvalidOrder, "order_id", "x")  # type: ignore[arg-type]
    check_refused(eng, lambda: eng.cancel(2**64), hb.InvalidOrder, "order_id", str(2**64))
    check_refused(eng, lambda: eng.cancel(1, symbol="ZZZ"), hb.UnknownSymbol, "symbol", "ZZZ")
    oid = eng.submit("AAPL", "buy", **OK)
    check_refused(eng, lambda: eng.cancel(oid, symbol="MSFT"), hb.InvalidOrder, "symbol", "MSFT")
    check_refused(eng, lambda: eng.cancel(oid, account=-3), hb.InvalidOrder, "account", "-3")


def test_modify_bad_arguments(eng: hb.Engine) -> None:
    check_refused(eng, lambda: eng.modify(999, qty=5), hb.UnknownOrder, "order_id", "999")
    check_refused(eng, lambda: eng.modify(-2, qty=5), hb.InvalidOrder, "order_id", "-2")
    oid = eng.submit("AAPL", "buy", **OK)
    check_refused(eng, lambda: eng.modify(oid), hb.InvalidPrice, "price", "None")
    check_refused(eng, lambda: eng.modify(oid, qty=0), hb.InvalidQuantity, "qty", "0")
    check_refused(eng, lambda: eng.modify(oid, qty=-1), hb.InvalidQuantity, "qty", "-1")
    check_refused(eng, lambda: eng.modify(oid, qty="2"), hb.InvalidQuantity, "qty", "2")
    check_refused(
        eng, lambda: eng.modify(oid, price="100.001"), hb.InvalidPrice, "price", "100.001"
    )
    check_refused(
        eng,
        lambda: eng.modify(oid, price="100.00", price_ticks=10_000),
        hb.InvalidOrder,
        "price",
        "price_ticks",
    )
    check_refused(
        eng, lambda: eng.modify(oid, qty=2, symbol="ZZZ"), hb.UnknownSymbol, "symbol", "ZZZ"
    )
    check_refused(
        eng, lambda: eng.modify(oid, qty=2, symbol="MSFT"), hb.InvalidOrder, "symbol", "MSFT"
    )
    check_refused(eng, lambda: eng.modify(oid, qty=2, account=-1), hb.InvalidOrder, "account", "-1")
    check_refused(eng, lambda: eng.modify(oid, qty=2, urgent="no"), hb.InvalidOrder, "urgent", "no")


def test_mass_cancel_halt_resume_bad_arguments(eng: hb.Engine) -> None:
    check_refused(eng, lambda: eng.mass_cancel(account=-1), hb.InvalidOrder, "account", "-1")
    check_refused(eng, lambda: eng.mass_cancel(account="a"), hb.InvalidOrder, "account", "a")
    check_refused(eng, lambda: eng.mass_cancel(symbol="ZZZ"), hb.UnknownSymbol, "symbol", "ZZZ")
    check_refused(eng, lambda: eng.mass_cancel(side="up"), hb.InvalidOrder, "side", "up")
    check_refused(eng, lambda: eng.halt("ZZZ"), hb.UnknownSymbol, "symbol", "ZZZ")
    check_refused(eng, lambda: eng.halt(3), hb.UnknownSymbol, "symbol", "3")
    check_refused(eng, lambda: eng.resume("ZZZ"), hb.UnknownSymbol, "symbol", "ZZZ")


def test_lifecycle_calls_in_the_wrong_state(eng: hb.Engine) -> None:
    with pytest.raises(hb.EngineStateError) as info:
        eng.resume()
    assert info.value.state == "created"
    eng.start()
    with pytest.raises(hb.EngineStateError, match="start"):
        eng.start()
    with pytest.raises(hb.EngineStateError, match="resume"):
        eng.resume()
    eng.stop()
    with pytest.raises(hb.EngineStopped) as stopped:
        eng.submit("AAPL", "buy", **OK)
    assert stopped.value.state == "stopped"
    for call in (
        lambda: eng.cancel(1, symbol="AAPL"),
        lambda: eng.mass_cancel(),
        lambda: eng.halt("AAPL"),
        lambda: eng.end_session(),
        lambda: eng.submit_batch(commands(1)),
    ):
        with pytest.raises(hb.EngineStopped):
            call()
    assert eng.stop()["clean"]  # a second stop is a no-op


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        ({"max_events": -1}, "max_events", "-1"),
        ({"max_events": "x"}, "max_events", "x"),
        ({"timeout": "x"}, "timeout", "x"),
        ({"timeout": float("nan")}, "timeout", "nan"),
        ({"timeout": -1.0}, "timeout", "-1"),
    ],
)
def test_poll_bad_arguments(eng: hb.Engine, args: dict[str, Any], field: str, value: str) -> None:
    check_refused(eng, lambda: eng.poll(**args), hb.HftbookError, field, value)


def test_infinite_timeouts_do_not_panic(eng: hb.Engine) -> None:
    eng.start()
    eng.submit("AAPL", "buy", **OK)
    arr = eng.poll(1, float("inf"))  # an event is due: returns with it
    assert len(arr) == 1
    assert eng.stop(timeout=float("inf"))["clean"]


# -- add_symbol and configuration ----------------------------------------------------------------


def test_add_symbol_bad_arguments(eng: hb.Engine) -> None:
    check_refused(eng, lambda: eng.add_symbol("AAPL"), hb.InvalidOrder, "symbol", "AAPL")
    check_refused(eng, lambda: eng.add_symbol("A B"), hb.InvalidOrder, "symbol", "A B")
    check_refused(eng, lambda: eng.add_symbol(""), hb.InvalidOrder, "symbol", '""')
    check_refused(eng, lambda: eng.add_symbol("X" * 33), hb.InvalidOrder, "symbol", "X" * 33)
    check_refused(eng, lambda: eng.add_symbol("X", shard=1), hb.InvalidOrder, "shard", "1")
    for opts, key, value in [
        ({"tick_size": "abc"}, "symbols.X.tick_size", "abc"),
        ({"tick_size": "0"}, "symbols.X.tick_size", "0"),
        ({"lot_size": 0}, "symbols.X.lot_size", "0"),
        ({"band_pct": -1}, "symbols.X.band_pct", "-1"),
        ({"bogus": 1}, "symbols.X.bogus", "1"),
        ({"stp": "sometimes"}, "symbols.X.stp", "sometimes"),
        ({"reference_price": "1.001"}, "symbols.X.reference_price", "1.001"),
        ({"min_qty": 5, "max_qty": 2}, "symbols.X.min_qty", "5"),
        ({"halt_window_ms": 0}, "symbols.X.halt_window_ms", "0"),
        ({"tick_size": object()}, "symbols.X.tick_size", "object"),
    ]:
        err = check_refused(
            eng, lambda o=opts: eng.add_symbol("X", **o), hb.ConfigError, key, value
        )
        assert isinstance(err, hb.ConfigError)
        assert err.key == key
        assert value in err.value
        assert err.rule
    assert eng.symbols == ("AAPL", "MSFT")
    assert eng.add_symbol("X", tick_size="0.5") == 2
    assert eng.symbols == ("AAPL", "MSFT", "X")


CONFIG_ERRORS: list[tuple[dict[str, Any], str, str, str]] = [
    ({"engine": {"shards": 0}}, "engine.shards", "0", "between 1"),
    ({"engine": {"shards": "two"}}, "engine.shards", "two", "integer"),
    ({"engine": {"lane_capacity": 1}}, "engine.lane_capacity", "1", "between"),
    ({"engine": {"priority_capacity": 0}}, "engine.priority_capacity", "0", "between"),
    ({"engine": {"event_capacity": 1}}, "engine.event_capacity", "1", "between"),
    ({"engine": {"batch_size": 0}}, "engine.batch_size", "0", "between"),
    ({"engine": {"on_full": "drop"}}, "engine.on_full", "drop", "one of"),
    ({"engine": {"full_timeout_ms": -1}}, "engine.full_timeout_ms", "-1", "between"),
    ({"engine": {"idle_spin": 1.5}}, "engine.idle_spin", "1.5", "integer"),
    ({"engine": {"idle_yield": -1}}, "engine.idle_yield", "-1", "between"),
    ({"engine": {"park_ms": 0}}, "engine.park_ms", "0", "between"),
    ({"engine": {"paused_orders": "drop"}}, "engine.paused_orders", "drop", "one of"),
    ({"engine": {"keep_events": "yes"}}, "engine.keep_events", "yes", "true or false"),
    ({"engine": {"trade_events": 1}}, "engine.trade_events", "1", "true or false"),
    ({"engine": {"book_events": 0}}, "engine.book_events", "0", "true or false"),
    ({"engine": {"bogus": 1}}, "engine.bogus", "1", "unknown key"),
    ({"engine": 3}, "engine", "3", "table"),
    ({"breaker": {"enabled": "no"}}, "breaker.enabled", "no", "true or false"),
    ({"breaker": {"reject_rate": 2.0}}, "breaker.reject_rate", "2.0", "<= 1"),
    ({"breaker": {"window": 0}}, "breaker.window", "0", "between"),
    ({"breaker": {"max_queue_delay_us": 0}}, "breaker.max_queue_delay_us", "0", "between"),
    ({"breaker": {"cooldown_ms": 0}}, "breaker.cooldown_ms", "0", "between"),
    ({"breaker": {"probe_orders": 0}}, "breaker.probe_orders", "0", "between"),
    ({"breaker": {"bogus": 1}}, "breaker.bogus", "1", "unknown key"),
    ({"symbols": {"A B": {}}}, "symbols.A B", "A B", "symbol"),
    ({"symbols": {"X": 5}}, "symbols.X", "5", "table"),
    ({"symbols": {"X": {"tick_size": "abc"}}}, "symbols.X.tick_size", "abc", "tick"),
    ({"symbols": {"X": {"lot_size": 0}}}, "symbols.X.lot_size", "0", "between"),
    ({"symbols": {"X": {"min_qty": 0}}}, "symbols.X.min_qty", "0", "between"),
    ({"symbols": {"X": {"max_qty": 2**60}}}, "symbols.X.max_qty", str(2**60), "between"),
    ({"symbols": {"X": {"band_pct": 0}}}, "symbols.X.band_pct", "0", "> 0"),
    ({"symbols": {"X": {"band_ticks": 0}}}, "symbols.X.band_ticks", "0", "between"),
    (
        {"symbols": {"X": {"reference_price": "1.001"}}},
        "symbols.X.reference_price",
        "1.001",
        "multiple",
    ),
    ({"symbols": {"X": {"halt_pct": "5"}}}, "symbols.X.halt_pct", "5", "number"),
    ({"symbols": {"X": {"halt_duration_ms": 0}}}, "symbols.X.halt_duration_ms", "0", "between"),
    ({"symbols": {"X": {"shard": 3}}}, "symbols.X.shard", "3", "below engine.shards"),
    ({"symbols": {"X": {"stp": "x"}}}, "symbols.X.stp", "x", "one of"),
    ({"symbols": {"X": {"min_qty": 5, "max_qty": 2}}}, "symbols.X.min_qty", "5", "max_qty"),
    ({"nope": {"a": 1}}, "nope", "", "unknown section"),
    ({"engine": {"shards": 2**70}}, "engine.shards", str(2**70), "64-bit"),
    ({"engine": {"shards": object()}}, "engine.shards", "object", "table, list, string"),
]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def _to_toml(cfg: dict[str, Any]) -> str | None:
    """``cfg`` as TOML text, or None if it holds something TOML cannot say."""
    lines = []
    for section, body in cfg.items():
        if not isinstance(body, dict):
            return None
        if section == "symbols":
            for name, opts in body.items():
                if not isinstance(opts, dict):
                    return None
                lines.append(f'[symbols."{name}"]')
                lines += [f"{k} = {_toml_value(v)}" for k, v in opts.items()]
        else:
            lines.append(f"[{section}]")
            for k, v in body.items():
                if not isinstance(v, (int, float, str, bool)) or (
                    isinstance(v, int) and abs(v) >= 2**63
                ):
                    return None
                lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("cfg", "key", "value", "rule"),
    [pytest.param(*c, id=c[1] + "=" + c[2]) for c in CONFIG_ERRORS],
)
def test_config_errors_name_key_value_rule(
    tmp_path: Path, cfg: dict[str, Any], key: str, value: str, rule: str
) -> None:
    with pytest.raises(hb.ConfigError) as info:
        hb.Engine(cfg)
    err = info.value
    assert (err.key, err.field) == (key, key)
    assert value in err.value, str(err)
    assert value in str(err), str(err)
    assert rule in err.rule, str(err)
    assert key in str(err), str(err)
    text = _to_toml(cfg)
    if text is None:
        return
    path = tmp_path / "hftbook.toml"
    path.write_text(text)
    with pytest.raises(hb.ConfigError) as finfo:
        hb.Engine(path)
    ferr = finfo.value
    assert ferr.file == str(path)
    assert str(ferr).startswith(str(path)), str(ferr)
    assert (ferr.key, ferr.rule) == (key, err.rule), str(ferr)
    assert value in ferr.value, str(ferr)


def test_config_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(hb.ConfigError) as info:
        hb.Engine(missing)
    assert info.value.file == str(missing)
    assert str(missing) in str(info.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("[engine\nshards = 1\n")
    with pytest.raises(hb.ConfigError) as info:
        hb.Engine(bad)
    assert info.value.key == "(syntax)"
    assert info.value.file == str(bad)
    assert str(bad) in str(info.value)


def test_constructor_keyword_options_are_validated() -> None:
    for kwargs, key in [
        ({"shards": 0}, "engine.shards"),
        ({"on_full": "explode"}, "engine.on_full"),
        ({"lane_capacity": 0}, "engine.lane_capacity"),
        ({"batch_size": -1}, "engine.batch_size"),
        ({"breaker": {"reject_rate": 0}}, "breaker.reject_rate"),
        ({"symbols": {"X": {"tick_size": "-1"}}}, "symbols.X.tick_size"),
        ({"not_an_option": 1}, "engine.not_an_option"),
    ]:
        with pytest.raises(hb.ConfigError) as info:
            hb.Engine(**kwargs)
        assert info.value.key == key, (kwargs, str(info.value))


# -- submit_batch ---------------------------------------------------------------------------------

BATCH_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("kind", {"kind": 9}, "kind", "9"),
    ("symbol", {"symbol": 99}, "symbol", "99"),
    ("side", {"side": 2}, "side", "2"),
    ("order_type", {"order_type": 4}, "order_type", "4"),
    ("tif", {"tif": 5}, "tif", "5"),
    ("stp", {"stp": 5}, "stp", "5"),
    ("flags", {"flags": 8}, "flags", "8"),
    ("qty zero", {"qty": 0}, "qty", "0"),
    ("qty above max", {"qty": 2**49}, "qty", str(2**49)),
    ("price_ticks", {"price_ticks": 2**62}, "price_ticks", str(2**62)),
    ("stop_price_ticks on a limit", {"stop_price_ticks": 5}, "stop_price_ticks", "5"),
    (
        "stop_price_ticks out of range",
        {"order_type": 3, "stop_price_ticks": -(2**62)},
        "stop_price_ticks",
        str(-(2**62)),
    ),
    ("display_qty", {"display_qty": 2}, "display_qty", "2"),
    ("expire_at without gtd", {"expire_at": 5}, "expire_at", "5"),
    ("gtd expire_at in the past", {"tif": 4, "expire_at": 1}, "expire_at", "1"),
    ("market day", {"order_type": 1, "tif": 3}, "tif", "day"),
    ("market with a price", {"order_type": 1, "tif": 1}, "price_ticks", "10000"),
    ("stop with a price", {"order_type": 2, "stop_price_ticks": 9_000}, "price_ticks", "10000"),
    ("cancel order_id 0", {"kind": 1, "order_id": 0}, "order_id", "0"),
    ("cancel symbol", {"kind": 1, "order_id": 1, "symbol": 9}, "symbol", "9"),
    ("modify nothing", {"kind": 2, "order_id": 1, "qty": 0}, "qty", "0"),
    (
        "modify price",
        {"kind": 2, "order_id": 1, "flags": 4, "price_ticks": 2**62},
        "price_ticks",
        str(2**62),
    ),
]


@pytest.mark.parametrize(
    ("cols", "field", "value"), [pytest.param(c, f, v, id=i) for i, c, f, v in BATCH_CASES]
)
@pytest.mark.parametrize("row", [0, 3])
def test_submit_batch_bad_column(
    eng: hb.Engine, cols: dict[str, Any], field: str, value: str, row: int
) -> None:
    a = commands(5)
    for k, v in cols.items():
        a[k][row] = v
    err = check_refused(eng, lambda: eng.submit_batch(a), hb.InvalidOrder, field, value)
    assert err.row == row
    assert f"row {row}" in str(err)


def test_submit_batch_bad_arrays(eng: hb.Engine) -> None:
    for bad, what in [
        (np.zeros(3, dtype=hb.COMMAND_DTYPE), "dtype"),
        (np.zeros(3, dtype=np.float64), "dtype"),
        ([1, 2, 3], "numpy"),
        (commands(4).reshape(2, 2), "1-dimensional"),
        (commands(1).reshape(()), "1-dimensional"),
    ]:
        before = queued(eng)
        with pytest.raises(TypeError, match=what):
            eng.submit_batch(bad)
        assert queued(eng) == before
    assert eng.stats()["orders_issued"] == 0


def test_submit_batch_engine_columns_are_overwritten_and_views_work() -> None:
    """``seq``, ``order_seq``, ``ts_enqueued`` and submit ``order_id`` are the engine's; a
    non-contiguous view is read row by row like a copy."""
    e = engine()
    e.start()
    a = commands(6, seq=777, order_seq=9, ts_enqueued=123, order_id=4242, client_id=11)
    a["side"] = [0, 1, 0, 1, 0, 1]
    a["price_ticks"] = [10_000, 10_010, 9_990, 10_020, 9_980, 10_030]
    view = a[::2]  # three buys, a strided view
    assert not view.flags["C_CONTIGUOUS"]
    ids = e.submit_batch(view)
    assert ids.tolist() == [1, 2, 3]
    evs = finish(e)
    acc = [ev for ev in evs if ev.kind == "accepted"]
    assert [ev.order_id for ev in acc] == [1, 2, 3]
    assert [ev.price_ticks for ev in acc] == [10_000, 9_990, 9_980]
    assert {ev.client_id for ev in acc} == {11}
    assert all(ev.ts_enqueued != 123 for ev in acc)


def test_empty_batch_is_fine(eng: hb.Engine) -> None:
    assert eng.submit_batch(commands(0)).tolist() == []
    assert queued(eng) == 0
