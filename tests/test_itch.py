"""ITCH 5.0 from Python: encode/parse round trip, books equal to the generator's reference,
truncated and corrupted input give DataFormatError with offset and message type, CLI."""

from __future__ import annotations

import argparse
import doctest
import itertools
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import hftbook.data.itch as itch
from hftbook.cli.replay import REPLAY_FORMATS
from hftbook.exceptions import DataFormatError

SYMBOLS = ("AAPL", "MSFT", "ZVZZT")


@pytest.fixture(scope="module")
def sample() -> itch.ItchSample:
    return itch.generate_itch(30_000, seed=11, symbols=SYMBOLS)


def frame_starts(data: bytes) -> list[int]:
    starts, at = [], 0
    while at < len(data):
        starts.append(at)
        at += 2 + int.from_bytes(data[at : at + 2], "big")
    return starts


def test_docstring_examples() -> None:
    res = doctest.testmod(itch)
    assert res.attempted > 0
    assert res.failed == 0


def test_round_trip_and_every_type(sample: itch.ItchSample, tmp_path: Path) -> None:
    msgs = itch.read_itch(sample.data)
    assert msgs.dtype == itch.ITCH_DTYPE
    assert len(msgs) == 30_000
    assert itch.encode_itch(msgs) == sample.data
    types = set(msgs["msg_type"].tolist())
    assert {b"S", b"R", b"H", b"A", b"F", b"E", b"C", b"X", b"D", b"U", b"P"} <= types
    adds = msgs[msgs["msg_type"] == b"F"]
    assert set(adds["mpid"].tolist()) <= {b"GSCO", b"MSCO", b"JPMS", b"UBSS"}
    assert (adds["price"] % 100 == 0).all()  # cents in 4-decimal fixed point
    directory = msgs["stock"][msgs["msg_type"] == b"R"].tolist()
    assert directory == [b"AAPL    ", b"MSFT    ", b"ZVZZT   "]  # ITCH pads with spaces
    assert (np.diff(msgs["timestamp"].astype(np.int64)) > 0).all()
    p = tmp_path / "s.itch"
    itch.write_itch(msgs, p)
    assert p.read_bytes() == sample.data
    again = itch.read_itch(p)
    assert (again == msgs).all()
    # edit one message from Python and encode: the change survives the round trip
    k = int(np.flatnonzero(msgs["msg_type"] == b"A")[0])
    msgs["shares"][k] += 1
    assert (itch.read_itch(itch.encode_itch(msgs)) == msgs).all()
    # a field the type does not carry (shares of a directory message) is not encoded
    msgs["shares"][1] = 7
    assert itch.read_itch(itch.encode_itch(msgs))["shares"][1] == 0


def test_books_equal_generator_reference(sample: itch.ItchSample) -> None:
    rep = itch.replay_itch(sample.data)
    assert [b.symbol for b in rep.books] == list(SYMBOLS)
    assert rep.matches(sample.reference)
    for sym, (bids, asks) in sample.reference.items():
        b = rep.book(sym)
        assert np.array_equal(b.bids, bids)
        assert np.array_equal(b.asks, asks)
        assert b.best_bid is not None
        assert b.best_ask is not None
        assert b.best_bid < b.best_ask
        assert b.resting_orders == int(bids["orders"].sum() + asks["orders"].sum())
        assert b.trading_state == "T"
    assert rep.messages == 30_000
    assert rep.system_events == "OC"
    assert sum(rep.type_counts.values()) == 30_000
    d = json.loads(rep.to_json())
    assert d["books"][0]["symbol"] == "AAPL"
    assert "messages=30000" in repr(rep)
    # a changed reference is detected
    bids, asks = sample.reference["AAPL"]
    other = bids.copy()
    other["qty"][0] += 1
    assert not rep.matches({"AAPL": (other, asks)})


def test_symbol_filter_and_tracking(sample: itch.ItchSample) -> None:
    rep = itch.replay_itch(sample.data, symbols=["MSFT"], track=True)
    assert [b.symbol for b in rep.books] == ["MSFT"]
    b = rep.book("MSFT")
    assert b.tops is not None
    assert len(b.tops["bid"]) > 100
    bids, asks = sample.reference["MSFT"]
    assert (b.tops["bid"][-1], b.tops["ask"][-1]) == (bids["price"][0], asks["price"][0])
    with pytest.raises(KeyError):
        rep.book("AAPL")


def test_truncated_stream_names_offset_and_type(sample: itch.ItchSample) -> None:
    starts = frame_starts(sample.data)
    last = starts[200]
    data = sample.data[: last + 10]
    with pytest.raises(DataFormatError) as ei:
        itch.read_itch(data)
    e = ei.value
    assert e.offset == last
    assert e.field == "length"
    t = chr(sample.data[last + 2])
    assert f"byte offset {last}, message type '{t}'" in str(e)
    assert "truncated" in str(e)
    with pytest.raises(DataFormatError, match=f"byte offset {last}"):
        itch.replay_itch(data)


def test_corrupted_streams(sample: itch.ItchSample, tmp_path: Path) -> None:
    starts = frame_starts(sample.data)
    # an unknown type byte
    bad = bytearray(sample.data)
    bad[starts[10] + 2] = ord("z")
    p = tmp_path / "bad.itch"
    p.write_bytes(bad)
    with pytest.raises(DataFormatError) as ei:
        itch.read_itch(p)
    assert (ei.value.offset, ei.value.field, ei.value.path) == (starts[10], "message_type", str(p))
    assert "message type 'z'" in str(ei.value)
    assert str(p) in str(ei.value)
    # a length prefix that does not fit the type
    bad = bytearray(sample.data)
    bad[starts[0] : starts[0] + 2] = (13).to_bytes(2, "big")
    with pytest.raises(DataFormatError, match="length prefix 13") as ei:
        itch.read_itch(bytes(bad))
    assert ei.value.offset == 0
    # a bad side on an add
    msgs = itch.read_itch(sample.data)
    k = int(np.flatnonzero(msgs["msg_type"] == b"A")[0])
    bad = bytearray(sample.data)
    bad[starts[k] + 2 + 19] = ord("Q")
    with pytest.raises(DataFormatError, match="field side") as ei:
        itch.read_itch(bytes(bad))
    assert (ei.value.offset, ei.value.field) == (starts[k], "side")
    # a delete of an unknown order parses but cannot be replayed
    k = int(np.flatnonzero(msgs["msg_type"] == b"D")[0])
    msgs["order_ref"][k] = 123_456_789_012
    with pytest.raises(DataFormatError, match="123456789012") as ei:
        itch.replay_itch(itch.encode_itch(msgs))
    assert (ei.value.offset, ei.value.field) == (starts[k], "order_ref")


def test_random_garbage_never_crashes() -> None:
    rng = np.random.default_rng(5)
    offsets = []
    for _ in range(200):
        data = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
        try:
            itch.replay_itch(data)
        except DataFormatError as e:
            offsets.append((e.offset, len(data)))
    assert len(offsets) > 150  # random bytes are nearly never a valid stream
    assert all(off is not None and 0 <= off < n for off, n in offsets)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="cannot read") as ei:
        itch.read_itch(tmp_path / "none.itch")
    assert ei.value.path == str(tmp_path / "none.itch")


def test_generator_arguments() -> None:
    a = itch.generate_itch(500, seed=3, symbols=["AAA"])
    assert a.data == itch.generate_itch(500, seed=3, symbols=["AAA"]).data
    assert a.data != itch.generate_itch(500, seed=4, symbols=["AAA"]).data
    with pytest.raises(ValueError, match="symbol"):
        itch.generate_itch(10, symbols=["WAYTOOLONGSYM"])
    with pytest.raises(ValueError, match="messages"):
        itch.generate_itch(-1)
    with pytest.raises(TypeError, match="ITCH_DTYPE"):
        itch.encode_itch(np.zeros(3))


def _cli(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hftbook replay itch")
    REPLAY_FORMATS["itch"].add_arguments(p)
    return p.parse_args(argv)


def test_cli(sample: itch.ItchSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.itch"
    sample.write(f)
    js, png = tmp_path / "r.json", tmp_path / "r.png"
    assert (
        REPLAY_FORMATS["itch"].run(
            _cli([str(f), "--json", str(js), "--png", str(png), "--symbols", "MSFT,AAPL"])
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "MSFT" in out
    assert "msg/s" in out
    rep = json.loads(js.read_text())
    assert {b["symbol"] for b in rep["books"]} == {"AAPL", "MSFT"}
    assert png.read_bytes()[:4] == b"\x89PNG"
    f.write_bytes(sample.data[:777])
    assert REPLAY_FORMATS["itch"].run(_cli([str(f)])) == 2
    assert "byte offset" in capsys.readouterr().err


def test_file_replay_streams_in_chunks(sample: itch.ItchSample, tmp_path: Path) -> None:
    f = tmp_path / "s.itch"
    sample.write(f)
    from_file = itch.replay_itch(f, track=True)
    from_bytes = itch.replay_itch(sample.data, track=True)
    assert from_file.source == str(f)
    assert from_file.bytes == len(sample.data)
    assert from_file.messages == from_bytes.messages
    assert from_file.matches(sample.reference)
    for a, b in zip(from_file.books, from_bytes.books, strict=True):
        assert a == b
        assert a.tops is not None
        assert b.tops is not None
        assert all(np.array_equal(a.tops[k], b.tops[k]) for k in a.tops)
    starts = frame_starts(sample.data)
    cut = starts[300] + 7
    f.write_bytes(sample.data[:cut])
    with pytest.raises(DataFormatError) as ei:
        itch.replay_itch(f)
    assert ei.value.offset == starts[300]
    assert ei.value.path == str(f)
    with pytest.raises(DataFormatError, match="cannot read"):
        itch.replay_itch(tmp_path / "absent.itch")


def test_progress_callback_reports_bytes_read(sample: itch.ItchSample, tmp_path: Path) -> None:
    f = tmp_path / "s.itch"
    sample.write(f)
    calls: list[tuple[int, int]] = []
    rep = itch.replay_itch(f, progress=lambda done, total: calls.append((done, total)))
    assert rep.matches(sample.reference)
    assert calls
    assert calls[-1] == (len(sample.data), len(sample.data))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    f.write_bytes(sample.data[:1000])
    with pytest.raises(DataFormatError, match="truncated"):
        itch.replay_itch(f, progress=lambda done, total: None)


def test_plot_size_panel_is_a_median_per_time_interval(
    sample: itch.ItchSample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of top-of-book changes: the size panel draws one step per time interval
    (median and 25-75 % range), not one bar per change."""
    import hftbook.data._plot as plot

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    real = plot.plot_book

    def spy(*args: object, **kwargs: object) -> None:
        calls.append((args, kwargs))
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plot, "plot_book", spy)
    rep = itch.replay_itch(sample.data, symbols=["AAPL"], track=True)
    tops = rep.books[0].tops
    assert tops is not None
    changes = np.asarray(tops["bid"]).size
    assert changes > 10 * itch.PLOT_SIZE_BUCKETS
    png = tmp_path / "r.png"
    itch.plot_report(rep, png)
    assert png.read_bytes()[:4] == b"\x89PNG"
    ((args, kwargs),) = calls
    assert kwargs["depth_buckets"] == itch.PLOT_SIZE_BUCKETS
    fig = plot.book_figure(*args[1:], **kwargs)  # type: ignore[arg-type]
    low = fig.axes[1]
    assert "median" in low.get_title()
    assert f"{itch.PLOT_SIZE_BUCKETS} equal time intervals" in low.get_title()
    assert low.get_ylabel() == "size at the best level"
    # Two median steps (bids, asks) of PLOT_SIZE_BUCKETS values each; no line per change.
    assert not low.get_lines()
    medians = [p for p in low.patches if "median" in str(p.get_label())]
    assert len(medians) == 2
    for p in medians:
        assert np.asarray(p.get_path().vertices).shape[0] <= 2 * itch.PLOT_SIZE_BUCKETS + 2


def test_bucket_quantiles_carry_the_last_size_through_empty_intervals() -> None:
    from hftbook.data._plot import bucket_quantiles

    x = np.array([0.0, 0.1, 0.2, 9.0, 10.0])
    y = np.array([1.0, 2.0, 3.0, 7.0, 9.0])
    edges, q = bucket_quantiles(x, y, 10)
    assert len(edges) == 11
    assert q.shape == (3, 10)
    assert q[1, 0] == 2.0  # median of 1, 2, 3
    assert (q[:, 1:9] == 3.0).all()  # no change in between: the size stays 3
    assert q[1, 9] == 8.0  # 7 and 9 (the last interval includes its end)


def test_books_run_on_the_real_tick_and_ticks_can_be_set(
    sample: itch.ItchSample, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rep = itch.replay_itch(sample.data)
    for b in rep.books:
        # the generated stocks trade above $1.00: Reg NMS Rule 612 quotes them in cents
        assert (b.tick, b.reticks) == (Decimal("0.01"), 0), b.symbol
        assert b.to_dict()["tick"] == "0.01"
    assert rep.matches(sample.reference)
    # ITCH's own unit as the tick (the books before): the same levels, in the same units
    fine = itch.replay_itch(sample.data, ticks={s: "0.0001" for s in SYMBOLS})
    assert {b.tick for b in fine.books} == {Decimal("0.0001")}
    assert fine.matches(sample.reference)
    # a tick the prices are not on: a replay error naming the price and the tick
    with pytest.raises(DataFormatError, match=r"is not on the tick 0\.5000 set for"):
        itch.replay_itch(sample.data, ticks={SYMBOLS[0]: "0.50"})
    for bad in ("0", "-0.01", "0.00001", "cheap"):
        with pytest.raises(ValueError, match="ticks"):
            itch.replay_itch(sample.data, ticks={"AAPL": bad})
    f = tmp_path / "s.itch"
    sample.write(f)
    assert REPLAY_FORMATS["itch"].run(_cli([str(f), "--tick", f"{SYMBOLS[0]}=0.0001"])) == 0
    assert "0.0001" in capsys.readouterr().out
    assert REPLAY_FORMATS["itch"].run(_cli([str(f), "--tick", "AAPL"])) == 2
    assert "expected SYMBOL=TICK" in capsys.readouterr().err
