"""LOBSTER replay on the shared real samples: every row matches, queue analytics, bad input, CLI."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import hftbook
from hftbook.cli import main
from hftbook.data import lobster
from hftbook.data.lobster import DataFormatError


def _shared_data() -> Path:
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (root / "lobster").is_dir():
        pytest.fail(
            f"shared test data not found at {root} (expected ../shared/data next to the repo, "
            "or set HFTBOOK_SHARED_DATA)"
        )
    return root / "lobster"


AAPL_STEM = "truncated_aapl_10/AAPL_2012-06-21_34200000_57600000"


def _source(name: str) -> Path:
    if name == "AAPL10":
        return _shared_data() / f"{AAPL_STEM}_message_10.csv"
    return _shared_data() / f"LOBSTER_SampleFile_GOOG_2012-06-21_{name[4:]}.zip"


# name: (rows, known executions, at head, sum of queue positions, sum of qty ahead,
#        sum of time to fill in ns, rows edge-sync touched)
EXPECTED = {
    "GOOG1": (49_482, 5290, 5231, 95, 3864, 57_629_686_343_636, 6169),
    "GOOG5": (112_673, 6921, 6890, 36, 1761, 110_890_458_364_336, 8719),
    "GOOG10": (147_916, 7216, 7188, 35, 880, 143_788_610_422_367, 6279),
    "AAPL10": (999, 94, 94, 0, 0, 332_519_144_891, 14),
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, lobster.LobsterData]:
    return {name: lobster.load(_source(name)) for name in EXPECTED}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_row_matches_and_queue_figures(
    name: str, loaded: dict[str, lobster.LobsterData]
) -> None:
    data = loaded[name]
    rows, known, head, pos_sum, ahead_sum, ttf_sum, synced = EXPECTED[name]
    assert data.rows == rows
    assert data.levels == int(name[4:])
    r = lobster.replay(data)
    assert r.first_mismatch is None
    assert (r.rows_compared, r.rows_matched, r.match_percent) == (rows - 1, rows - 1, 100.0)
    assert r.rows_synced == synced
    assert len(r.queue_position) == known
    assert int(np.count_nonzero(r.at_head)) == head
    assert int(r.queue_position.sum()) == pos_sum
    assert int(r.qty_ahead.sum()) == ahead_sum
    assert int(r.time_to_fill_ns.sum()) == ttf_sum
    fifo = r.fifo_conformity_percent
    assert fifo is not None
    assert fifo == pytest.approx(100.0 * head / known)
    assert 0.0 < fifo <= 100.0

    # Sanity against the file itself: every analysed execution is a type-4 message of that
    # order id, added earlier in the file, and never more than such messages exist.
    m = data.messages
    assert (m[r.exec_index.astype(np.int64), 1] == 4).all()
    assert (m[r.exec_index.astype(np.int64), 2] == r.exec_order_id.astype(np.int64)).all()
    assert (m[r.exec_index.astype(np.int64), 3] == r.exec_size.astype(np.int64)).all()
    first_add: dict[int, int] = {}
    for i in np.flatnonzero(m[:, 1] == 1).tolist():
        first_add.setdefault(int(m[i, 2]), i)
    seen_before = [
        first_add.get(int(m[i, 2]), len(m)) < i for i in np.flatnonzero(m[:, 1] == 4).tolist()
    ]
    assert known <= sum(seen_before)
    for i, oid, ttf in list(
        zip(
            r.exec_index.tolist(), r.exec_order_id.tolist(), r.time_to_fill_ns.tolist(), strict=True
        )
    )[:200]:
        j = first_add[oid]
        assert j < i
        assert ttf == m[i, 0] - m[j, 0]
    assert (r.time_to_fill_ns >= 0).all()
    assert r.type_counts[5] == int((m[:, 1] == 5).sum())
    assert len(r.trades["index"]) == r.type_counts[5] + r.type_counts[6]
    # The top of book after the last message is the recorded last row.
    last = data.orderbook[-1]
    assert (r.best_ask_price[-1], r.best_ask_size[-1]) == (last[0], last[1])
    assert (r.best_bid_price[-1], r.best_bid_size[-1]) == (last[2], last[3])
    summary = r.to_dict()
    assert json.loads(r.to_json())["queue"]["known_executions"] == known
    assert summary["match_percent"] == 100.0
    assert "rows_matched=" in repr(r)


def test_lower_levels_from_a_level10_file(loaded: dict[str, lobster.LobsterData]) -> None:
    r = lobster.replay(loaded["GOOG10"], levels=3)
    assert r.levels == 3
    assert r.rows_matched == r.rows_compared == 147_915


def test_without_edge_sync_the_replay_goes_stale(loaded: dict[str, lobster.LobsterData]) -> None:
    data = loaded["GOOG10"]
    r = lobster.replay(data, edge_sync=False)
    assert r.rows_synced == 0
    assert r.rows_matched < r.rows_compared // 2
    mm = r.first_mismatch
    assert mm is not None
    assert mm["line"] == mm["index"] + 1
    assert mm["message"] == data.messages[mm["index"]].tolist()
    assert mm["recorded"] == data.orderbook[mm["index"]].tolist()
    assert mm["ours"] != mm["recorded"]
    off = lobster.replay(data, validate=False)
    assert (off.rows_compared, off.match_percent) == (0, None)


def test_zip_and_plain_csv_agree(tmp_path: Path) -> None:
    with zipfile.ZipFile(_source("GOOG1")) as z:
        names = [n for n in z.namelist() if n.endswith(".csv")]
        z.extractall(tmp_path, members=names)
    msg = next(tmp_path.glob("*_message_1.csv"))
    book = next(tmp_path.glob("*_orderbook_1.csv"))
    a = lobster.load(_source("GOOG1"))
    b = lobster.load(msg)  # orderbook found by name
    c = lobster.load(msg, book)
    assert np.array_equal(a.messages, b.messages)
    assert np.array_equal(a.orderbook, c.orderbook)
    assert a.messages.dtype == np.int64
    # 34200.015105074,4,15818974,4,5794000,1 with the time in exact nanoseconds
    assert a.messages[0].tolist() == [34_200_015_105_074, 4, 15_818_974, 4, 5_794_000, 1]


# ----------------------------------------------------------------------------- bad input

GOOD_MSG = b"34200.1,1,7,5,5800000,1\n34200.2,3,7,5,5800000,1\n"
GOOD_BOOK = b"9999999999,0,5800000,5\n9999999999,0,-9999999999,0\n"


def _pair(tmp_path: Path, msg: bytes, book: bytes) -> tuple[Path, Path]:
    m = tmp_path / "X_message_1.csv"
    b = tmp_path / "X_orderbook_1.csv"
    m.write_bytes(msg)
    b.write_bytes(book)
    return m, b


def _err(tmp_path: Path, msg: bytes, book: bytes) -> DataFormatError:
    m, b = _pair(tmp_path, msg, book)
    with pytest.raises(DataFormatError) as ei:
        lobster.replay(m, b)
    e = ei.value
    assert isinstance(e, ValueError)
    assert isinstance(e, hftbook.HftbookError)
    assert e.path is not None
    assert e.path in str(e)
    return e


def test_good_pair_replays(tmp_path: Path) -> None:
    m, b = _pair(tmp_path, GOOD_MSG, GOOD_BOOK)
    r = lobster.replay(m, b)
    assert (r.rows_matched, r.rows_compared) == (1, 1)


def test_times_past_nanoseconds_are_rounded_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LOBSTER's own 2012-06-21 sample has a time written with 12 decimals: it loads."""
    rows = GOOD_MSG.split(b"\n")
    msg = b"\n".join([rows[0], rows[1].replace(b",", b"000000000004,", 1), *rows[2:]])
    assert msg != GOOD_MSG
    m, b = _pair(tmp_path, msg, GOOD_BOOK)
    data = lobster.load(m, b)
    clean = lobster.LobsterData.from_bytes(GOOD_MSG, GOOD_BOOK)
    assert (data.rounded_times, clean.rounded_times) == (1, 0)
    assert np.array_equal(data.messages, clean.messages)
    r = lobster.replay(data)
    assert (r.rows_matched, r.rows_compared, r.rounded_times) == (1, 1, 1)
    assert r.to_dict()["rounded_times"] == 1
    assert main(["replay", "lobster", str(m), "--orderbook", str(b), "--no-progress"]) == 0
    assert "times rounded to the nanosecond" in capsys.readouterr().out
    # A time going backwards is malformed: the line and the field are named.
    back = b"\n".join([rows[0].replace(b"34200", b"34300", 1), *rows[1:]])
    e = _err(tmp_path, back, GOOD_BOOK)
    assert (e.line, e.field) == (2, "Time")
    assert "before the previous row" in str(e)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="file not found") as ei:
        lobster.load(tmp_path / "nope_message_1.csv")
    assert ei.value.path is not None
    assert ei.value.path.endswith("nope_message_1.csv")
    m, _ = _pair(tmp_path, GOOD_MSG, GOOD_BOOK)
    with pytest.raises(DataFormatError, match="file not found"):
        lobster.load(m, tmp_path / "other.csv")
    with pytest.raises(DataFormatError, match="give the orderbook"):
        lobster.load(tmp_path / "plain.csv")


def test_truncated_message_file(tmp_path: Path) -> None:
    e = _err(tmp_path, GOOD_MSG[:-10], GOOD_BOOK)
    assert (e.line, e.field) == (2, "Price")
    assert e.path is not None
    assert e.path.endswith("X_message_1.csv")
    assert "line 2, field Price" in str(e)


def test_truncated_zip(tmp_path: Path) -> None:
    z = tmp_path / "cut.zip"
    z.write_bytes(_source("GOOG1").read_bytes()[:100_000])
    with pytest.raises(DataFormatError, match="not a readable zip") as ei:
        lobster.load(z)
    assert ei.value.path == str(z)


def test_zip_without_members(tmp_path: Path) -> None:
    z = tmp_path / "empty.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(DataFormatError, match="exactly one member named"):
        lobster.load(z)


def test_wrong_column_count(tmp_path: Path) -> None:
    e = _err(tmp_path, b"34200.1,1,7,5,5800000,1,9\n", GOOD_BOOK)
    assert (e.line, e.field) == (1, "row")
    assert "too many fields" in str(e)
    e = _err(tmp_path, GOOD_MSG, b"9999999999,0,5800000,5\n9999999999,0,-9999999999\n")
    assert (e.line, e.field) == (2, "BidSize_1")
    assert e.path is not None
    assert e.path.endswith("X_orderbook_1.csv")
    e = _err(tmp_path, GOOD_MSG, b"9999999999,0,5800000\n")
    assert (e.line, e.field) == (1, "row")


def test_non_numeric_field(tmp_path: Path) -> None:
    e = _err(tmp_path, b"34200.1,1,7,five,5800000,1\n34200.2,3,7,5,5800000,1\n", GOOD_BOOK)
    assert (e.line, e.field) == (1, "Size")
    assert "'five'" in str(e) or '"five"' in str(e)
    e = _err(tmp_path, GOOD_MSG, b"9999999999,0,5800000,5\n9999999999,0,-9999999999,x\n")
    assert (e.line, e.field) == (2, "BidSize_1")
    e = _err(tmp_path, b"9:30,1,7,5,5800000,1\n34200.2,3,7,5,5800000,1\n", GOOD_BOOK)
    assert (e.line, e.field) == (1, "Time")


def test_row_count_mismatch(tmp_path: Path) -> None:
    e = _err(tmp_path, GOOD_MSG, GOOD_BOOK.split(b"\n")[0] + b"\n")
    assert (e.line, e.field) == (2, "row count")
    assert "2 rows" in str(e)
    assert "has 1" in str(e)
    # The core checks too when arrays are handed over directly.
    data = lobster.LobsterData.from_bytes(GOOD_MSG, GOOD_BOOK)
    short = lobster.LobsterData(data.messages, data.orderbook[:1])
    with pytest.raises(DataFormatError, match="row count") as ei:
        lobster.replay(short)
    assert ei.value.line == 2


def test_semantic_errors_name_the_field(tmp_path: Path) -> None:
    e = _err(tmp_path, b"34200.1,1,7,5,5800050,1\n34200.2,3,7,5,5800000,1\n", GOOD_BOOK)
    assert (e.line, e.field) == (1, "Price")
    assert "$0.01 tick" in str(e)
    e = _err(tmp_path, b"34200.1,1,7,5,5800000,1\n34200.2,8,7,5,5800000,1\n", GOOD_BOOK)
    assert (e.line, e.field) == (2, "Type")
    e = _err(tmp_path, GOOD_MSG, b"9999999999,0,5800000,5\n9999999999,0,-9999999999,3\n")
    assert (e.line, e.field) == (2, "BidPrice_1")
    m, b = _pair(tmp_path, GOOD_MSG, GOOD_BOOK)
    with pytest.raises(DataFormatError, match="levels=2") as ei:
        lobster.replay(m, b, levels=2)
    assert ei.value.field == "levels"


def test_binding_checks_array_shapes() -> None:
    from hftbook import _core

    data = lobster.LobsterData.from_bytes(GOOD_MSG, GOOD_BOOK)
    with pytest.raises(DataFormatError, match="6 columns"):
        _core.replay_lobster(data.messages[:, :5].copy(), data.orderbook)
    with pytest.raises(DataFormatError, match="C-contiguous"):
        _core.replay_lobster(np.asfortranarray(data.messages), data.orderbook)
    with pytest.raises(DataFormatError, match="levels=3"):
        _core.replay_lobster(data.messages, data.orderbook, 3)
    r = _core.replay_lobster(data.messages, data.orderbook, 1, validate=False)
    assert (r["rows_compared"], r["best_bid_price"].tolist()) == (0, [5_800_000, -9_999_999_999])


def test_empty_file(tmp_path: Path) -> None:
    e = _err(tmp_path, b"", GOOD_BOOK)
    assert (e.line, e.field) == (1, "row")
    assert "empty" in str(e)


# ------------------------------------------------------------------------------------ CLI


def test_cli_replay_lobster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    src = _source("AAPL10")
    code = main(
        [
            *("replay", "lobster", str(src), "--no-progress"),
            *("--json", str(out_json), "--png", str(out_png)),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "rows matched" in text
    assert "998 / 998 (100.000 %)" in text
    assert "FIFO conformity" in text
    rep = json.loads(out_json.read_text())
    assert (rep["rows_matched"], rep["match_percent"]) == (998, 100.0)
    assert rep["queue"]["known_executions"] == EXPECTED["AAPL10"][1]
    assert rep["parse_rows_per_second"] > 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    book = src.with_name(src.name.replace("message", "orderbook"))
    code = main(["replay", "lobster", str(src), "--orderbook", str(book), "--levels", "2"])
    assert code == 0
    assert main(["replay", "lobster", str(src), "--no-edge-sync", "--no-progress"]) == 1
    assert "first mismatch" in capsys.readouterr().out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay"]) == 2
    assert "a format is required" in capsys.readouterr().err
    assert main(["replay", "lobster", str(tmp_path / "x_message_1.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    m, _ = _pair(tmp_path, b"34200.1,1,7,5\n", GOOD_BOOK)
    assert main(["replay", "lobster", str(m)]) == 2
    err = capsys.readouterr().err
    assert "line 1, field Price" in err
    assert main(["replay", "lobster", str(m), "--levels", "0"]) == 2
    assert main(["replay", "lobster", str(m), "--json", str(tmp_path / "no" / "r.json")]) == 2
