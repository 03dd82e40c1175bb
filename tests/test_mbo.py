"""Databento MBO replay: the ARL sample reproduces the reference MBP-10 file row for row, bad
input gives one DataFormatError naming file, line and field, and the CLI reports and plots."""

from __future__ import annotations

import argparse
import doctest
import json
import os
from pathlib import Path

import numpy as np
import pytest

import hftbook.data.mbo as mbo
from hftbook.cli.replay import REPLAY_FORMATS
from hftbook.exceptions import DataFormatError, HftbookError

HEADER = (
    "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
    "channel_id,order_id,flags,ts_in_delta,sequence,symbol\n"
)
T0 = "2025-07-17T08:00:00.000000000Z"


def shared_data() -> Path:
    root = os.environ.get("HFTBOOK_SHARED_DATA")
    d = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (d / "databento_arl" / "mbo.csv").is_file():
        pytest.fail(
            f"shared data not found at {d}: the ARL MBO sample is needed "
            "(set HFTBOOK_SHARED_DATA to the shared/data directory)"
        )
    return d


@pytest.fixture(scope="module")
def arl() -> Path:
    return shared_data() / "databento_arl"


def row(action: str, side: str, price: str, size: int, oid: int, seq: int) -> str:
    return f"{T0},{T0},160,2,7,{action},{side},{price},{size},0,{oid},130,0,{seq},XYZ\n"


def test_docstring_examples() -> None:
    res = doctest.testmod(mbo)
    assert res.attempted > 0
    assert res.failed == 0


def test_arl_reproduces_reference_mbp10_row_for_row(arl: Path, tmp_path: Path) -> None:
    out = tmp_path / "mbp.csv"
    rep = mbo.run_mbo(arl / "mbo.csv", expected=arl / "mbp.csv", out=out)
    assert rep.records == 5886
    assert (rep.rows, rep.rows_expected, rep.rows_equal) == (3928, 3928, 3928)
    assert rep.rows_equal_pct == 100.0
    assert rep.first_mismatch is None
    assert out.read_bytes() == (arl / "mbp.csv").read_bytes()
    assert rep.tick_size == mbo.Decimal("0.001")  # 13.575 is on the book's grid
    assert rep.mbp.dtype == mbo.MBP10_DTYPE
    assert len(rep.mbp) == 3928
    d = rep.to_dict()
    assert d["rows_equal_pct"] == 100.0
    assert json.loads(rep.to_json()) == d
    assert "3928/3928 (100.00 %)" in repr(rep)


def test_arl_arrays_and_python_writer(arl: Path, tmp_path: Path) -> None:
    recs = mbo.read_mbo(arl / "mbo.csv")
    assert recs.dtype == mbo.MBO_DTYPE
    assert len(recs) == 5886
    actions, counts = np.unique(recs["action"], return_counts=True)
    assert dict(zip(actions.tolist(), counts.tolist(), strict=True)) == {
        b"R": 1,
        b"A": 2915,
        b"C": 2913,
        b"T": 46,
        b"F": 11,
    }
    assert recs["price"][1] == 5_510_000_000  # 5.51 dollars in 1e-9 units
    assert recs["price"][0] == mbo.UNDEF_PRICE
    rows = mbo.replay_mbo(arl / "mbo.csv")
    # the book never crosses and every shown level is sorted
    bid, ask = rows["bid_px"], rows["ask_px"]
    both = (bid[:, 0] != mbo.UNDEF_PRICE) & (ask[:, 0] != mbo.UNDEF_PRICE)
    assert (bid[both, 0] < ask[both, 0]).all()
    out = tmp_path / "lf.csv"
    mbo.write_mbp10_csv(rows, out)
    want = (arl / "mbp.csv").read_bytes().replace(b"\r\n", b"\n")
    assert out.read_bytes() == want
    strict = mbo.replay_mbo(arl / "mbo.csv", emit="top_change")
    assert 0 < len(strict) < len(rows)
    fine = mbo.replay_mbo(arl / "mbo.csv", tick_size="0.000000001")
    assert (fine == rows).all()


def test_a_mismatch_names_the_first_row_and_column(arl: Path, tmp_path: Path) -> None:
    lines = (arl / "mbp.csv").read_text().splitlines(keepends=True)
    cells = lines[101].split(",")
    orig = cells[15]
    cells[15] = "999"  # bid_sz_00 of data row 100
    lines[101] = ",".join(cells)
    bad = tmp_path / "expected.csv"
    bad.write_text("".join(lines))
    rep = mbo.run_mbo(arl / "mbo.csv", expected=bad)
    assert rep.rows_equal == 3927
    assert rep.first_mismatch == {
        "row": 100,
        "column": "bid_sz_00",
        "ours": orig,
        "expected": "999",
    }


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.csv"
    with pytest.raises(DataFormatError) as ei:
        mbo.read_mbo(p)
    assert ei.value.path == str(p)
    assert "cannot read" in str(ei.value)
    assert isinstance(ei.value, HftbookError)
    assert isinstance(ei.value, ValueError)


def test_truncated_file(arl: Path, tmp_path: Path) -> None:
    data = (arl / "mbo.csv").read_bytes()
    cut = data[: data.index(b"\n", 50_000) + 40]  # stops 40 bytes into a row
    p = tmp_path / "trunc.csv"
    p.write_bytes(cut)
    with pytest.raises(DataFormatError) as ei:
        mbo.replay_mbo(p)
    e = ei.value
    assert e.path == str(p)
    assert e.line == cut.count(b"\n") + 1
    assert f"line {e.line}" in str(e)
    assert "fields" in str(e)


def test_wrong_column_count(tmp_path: Path) -> None:
    p = tmp_path / "cols.csv"
    p.write_text(HEADER + row("A", "B", "1.00", 1, 1, 1) + "1,2,3\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected 15 .* found 3") as ei:
        mbo.read_mbo(p)
    assert (ei.value.path, ei.value.line) == (str(p), 3)


@pytest.mark.parametrize(
    ("bad", "field", "value"),
    [
        (row("A", "B", "1.0x", 1, 1, 1), "price", "1.0x"),
        (row("A", "B", "1.00", 1, 1, 1).replace(",1,0,1,", ",ten,0,1,"), "size", "ten"),
        (row("A", "B", "1.00", 1, 1, 1).replace(T0, "yesterday", 1), "ts_recv", "yesterday"),
        (row("Q", "B", "1.00", 1, 1, 1), "action", "Q"),
        (row("A", "X", "1.00", 1, 1, 1), "side", "X"),
    ],
)
def test_non_numeric_field_names_file_line_field(
    tmp_path: Path, bad: str, field: str, value: str
) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(HEADER + row("A", "B", "1.00", 1, 9, 0) + bad)
    with pytest.raises(DataFormatError) as ei:
        mbo.read_mbo(p)
    e = ei.value
    assert (e.path, e.line, e.field) == (str(p), 3, field)
    assert str(p) in str(e)
    assert repr(value).replace("'", '"') in str(e)


def test_bad_header_and_empty_input() -> None:
    with pytest.raises(DataFormatError, match="empty") as ei:
        mbo.read_mbo(b"")
    assert ei.value.line == 1
    with pytest.raises(DataFormatError, match='no column "order_id"'):
        mbo.read_mbo(HEADER.replace("order_id", "oid").encode())


def test_replay_errors_name_line_and_field() -> None:
    data = (HEADER + row("A", "B", "1.00", 5, 1, 1) + row("C", "B", "1.00", 9, 1, 2)).encode()
    with pytest.raises(DataFormatError, match="cancel size 9") as ei:
        mbo.replay_mbo(data)
    assert (ei.value.path, ei.value.line, ei.value.field) == ("<bytes>", 3, "size")
    data = (HEADER + row("C", "A", "1.00", 1, 77, 1)).encode()
    with pytest.raises(DataFormatError, match="77") as ei:
        mbo.replay_mbo(data)
    assert ei.value.field == "order_id"
    data = (HEADER + row("A", "A", "1.00", 1, 1, 1) + row("A", "B", "1.00", 1, 2, 2)).encode()
    with pytest.raises(DataFormatError, match="cross") as ei:
        mbo.replay_mbo(data)
    assert (ei.value.line, ei.value.field) == (3, "price")
    with pytest.raises(ValueError, match="tick_size"):
        mbo.replay_mbo(data, tick_size="0.0000000001")
    with pytest.raises(DataFormatError, match="not a multiple"):
        mbo.replay_mbo((HEADER + row("A", "B", "1.005", 1, 1, 1)).encode(), tick_size="0.01")
    with pytest.raises(ValueError, match="emit"):
        mbo.replay_mbo(data, emit="sometimes")


def _cli(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hftbook replay mbo")
    REPLAY_FORMATS["mbo"].add_arguments(p)
    return p.parse_args(argv)


def test_cli_summary_json_png(
    arl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    js, png, out = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "o.csv"
    args = _cli(
        [
            str(arl / "mbo.csv"),
            "--expected",
            str(arl / "mbp.csv"),
            "--out",
            str(out),
            "--json",
            str(js),
            "--png",
            str(png),
        ]
    )
    assert REPLAY_FORMATS["mbo"].run(args) == 0
    text = capsys.readouterr().out
    assert "3,928 / 3,928 (100.00 %)" in text
    assert "records/s" in text
    rep = json.loads(js.read_text())
    assert rep["rows_equal"] == 3928
    assert rep["records"] == 5886
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert out.read_bytes() == (arl / "mbp.csv").read_bytes()


def test_cli_out_is_the_reference_byte_for_byte_as_documented(
    arl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's command, as written: --out follows --expected's CRLF line ends."""
    want = (arl / "mbp.csv").read_bytes()
    assert b"\r\n" in want.split(b"\n", 1)[0] + b"\n"
    out = tmp_path / "mbp10.csv"
    argv = [str(arl / "mbo.csv"), "--expected", str(arl / "mbp.csv"), "--out", str(out)]
    assert REPLAY_FORMATS["mbo"].run(_cli([*argv, "--no-progress"])) == 0
    assert out.read_bytes() == want
    # --lf forces LF (the rows still match: the comparison is by line), --crlf forces CRLF.
    assert REPLAY_FORMATS["mbo"].run(_cli([*argv, "--lf", "--no-progress"])) == 0
    assert out.read_bytes() == want.replace(b"\r\n", b"\n")
    # Without --expected the default is LF; --crlf gives the reference's bytes.
    assert REPLAY_FORMATS["mbo"].run(_cli([str(arl / "mbo.csv"), "--out", str(out)])) == 0
    assert b"\r" not in out.read_bytes()
    assert REPLAY_FORMATS["mbo"].run(_cli([str(arl / "mbo.csv"), "--out", str(out), "--crlf"])) == 0
    assert out.read_bytes() == want
    with pytest.raises(SystemExit):
        _cli([str(arl / "mbo.csv"), "--crlf", "--lf"])
    capsys.readouterr()


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert REPLAY_FORMATS["mbo"].run(_cli([str(tmp_path / "missing.csv")])) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err
    assert "cannot read" in err
