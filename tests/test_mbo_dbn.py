"""Databento's native encoding (DBN) beside the CSV export: the ARL sample, encoded to DBN in a
temporary directory with Databento's encoder, replays to the very MBP-10 rows of the CSV path
(byte for byte the reference file), plain and zstd; the encoding is told by the first bytes;
a file with two instruments gets two books; truncated and corrupt files give DataFormatError
with the byte offset; the decode agrees with Databento's own Python package."""

from __future__ import annotations

import argparse
import gc
import io
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import hftbook.data.mbo as mbo
import test_mbo
from hftbook.cli.replay import REPLAY_FORMATS
from hftbook.exceptions import DataFormatError

#: The size of a DBN MBO record.
REC = 56
#: Fields that a DBN round trip keeps (``line`` is the CSV line or the DBN record number).
FIELDS = [n for n in mbo.MBO_DTYPE.names or () if n != "line"]


# The ARL sample (``arl`` fixture) is located as in test_mbo.
arl = test_mbo.arl


@pytest.fixture(scope="module")
def arl_records(arl: Path) -> npt.NDArray[np.void]:
    return mbo.load(arl / "mbo.csv")


@pytest.fixture
def arl_dbn(arl_records: npt.NDArray[np.void], tmp_path: Path) -> Path:
    p = tmp_path / "arl.dbn"
    mbo.write_dbn(arl_records, p)
    return p


def body_offset(data: bytes) -> int:
    """The offset of the first record: the 8-byte prefix plus the metadata's length."""
    return 8 + int.from_bytes(data[4:8], "little")


@pytest.mark.parametrize("name", ["arl.dbn", "arl.dbn.zst"])
def test_arl_from_dbn_is_the_csv_replay_byte_for_byte(
    arl: Path, arl_records: npt.NDArray[np.void], tmp_path: Path, name: str
) -> None:
    src = tmp_path / name
    mbo.write_dbn(arl_records, src)
    zstd = name.endswith(".zst")
    head = src.read_bytes()[:4]
    assert head == b"\x28\xb5\x2f\xfd" if zstd else head[:3] == b"DBN"

    back = mbo.load(src)
    assert len(back) == 5886
    for f in FIELDS:
        assert np.array_equal(back[f], arl_records[f]), f
    assert back["line"].tolist() == list(range(1, 5887))

    out_dbn, out_csv = tmp_path / "dbn_mbp.csv", tmp_path / "csv_mbp.csv"
    rep = mbo.run_mbo(src, expected=arl / "mbp.csv", out=out_dbn)
    ref = mbo.run_mbo(arl / "mbo.csv", expected=arl / "mbp.csv", out=out_csv)
    assert rep.format == ("dbn.zst" if zstd else "dbn")
    assert ref.format == "csv"
    assert (rep.records, rep.rows, rep.rows_equal, rep.rows_expected) == (5886, 3928, 3928, 3928)
    assert rep.first_mismatch is None
    assert out_dbn.read_bytes() == out_csv.read_bytes() == (arl / "mbp.csv").read_bytes()
    assert rep.instruments == ref.instruments
    assert [(i.instrument_id, i.symbol, i.records, i.rows) for i in rep.instruments] == [
        (1108, "ARL", 5886, 3928)
    ]
    assert rep.to_dict()["encoding"] == rep.format
    assert np.array_equal(mbo.replay_mbo(src), mbo.replay_mbo(arl / "mbo.csv"))


def test_encoding_is_told_by_magic_bytes_not_the_name(
    arl: Path, arl_records: npt.NDArray[np.void], tmp_path: Path
) -> None:
    disguised = tmp_path / "really_dbn.csv"
    mbo.write_dbn(arl_records, disguised, zstd=True)
    csv_named_dbn = tmp_path / "really_csv.dbn.zst"
    csv_named_dbn.write_bytes((arl / "mbo.csv").read_bytes())
    a, b = mbo.run_mbo(disguised), mbo.run_mbo(csv_named_dbn)
    assert (a.format, b.format) == ("dbn.zst", "csv")
    assert a.rows == b.rows == 3928
    # Bytes in memory too.
    assert mbo.read_mbo(disguised.read_bytes())["order_id"].tolist() == (
        arl_records["order_id"].tolist()
    )


def test_two_instruments_get_two_books(arl_records: npt.NDArray[np.void], tmp_path: Path) -> None:
    other = arl_records.copy()
    other["instrument_id"] = 4242
    other["symbol"] = "ARLX"
    other["order_id"] += 10**12
    other["ts_recv"] += 7  # interleave the two streams
    both = np.concatenate([arl_records, other])
    both = both[np.argsort(both["ts_recv"], kind="stable")]
    assert set(both["instrument_id"][:100].tolist()) == {1108, 4242}
    p = tmp_path / "two.dbn.zst"
    mbo.write_dbn(both, p)

    rep = mbo.run_mbo(p)
    counts = [(i.instrument_id, i.symbol, i.records, i.rows) for i in rep.instruments]
    assert counts == [(1108, "ARL", 5886, 3928), (4242, "ARLX", 5886, 3928)]
    assert rep.records == 2 * 5886
    assert rep.rows == 2 * 3928
    # Each book is the single-instrument replay (its rows, its order, its depth).
    alone = mbo.replay_mbo(_write(arl_records, tmp_path))
    for iid, sym in ((1108, "ARL"), (4242, "ARLX")):
        mine = rep.mbp[rep.mbp["instrument_id"] == iid]
        assert set(mine["symbol"].tolist()) == {sym}
        for f in ("action", "side", "depth", "price", "size", "bid_px", "bid_sz", "bid_ct"):
            assert np.array_equal(mine[f], alone[f]), (iid, f)
        for f in ("ask_px", "ask_sz", "ask_ct"):
            assert np.array_equal(mine[f], alone[f]), (iid, f)


def _write(records: npt.NDArray[np.void], tmp_path: Path) -> Path:
    p = tmp_path / "one.dbn"
    mbo.write_dbn(records, p)
    return p


def test_cli_reports_books_by_instrument(
    arl: Path, arl_records: npt.NDArray[np.void], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = arl_records.copy()
    other["instrument_id"] = 9
    other["symbol"] = "ZZZ"
    p = tmp_path / "two.dbn"
    mbo.write_dbn(np.concatenate([arl_records, other]), p)
    js, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [str(p), "--json", str(js), "--png", str(png), "--no-progress"]
    assert REPLAY_FORMATS["mbo"].run(_cli(argv)) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "books by instrument" in text
    assert "ZZZ" in text
    assert "dbn" in text
    d = json.loads(js.read_text())
    assert d["encoding"] == "dbn"
    assert [(i["instrument_id"], i["symbol"], i["records"]) for i in d["instruments"]] == [
        (1108, "ARL", 5886),
        (9, "ZZZ", 5886),
    ]
    # The reference check works on a DBN file as on the CSV.
    argv = [str(_write(arl_records, tmp_path)), "--expected", str(arl / "mbp.csv")]
    assert REPLAY_FORMATS["mbo"].run(_cli([*argv, "--no-progress"])) == 0
    assert "3,928 / 3,928" in capsys.readouterr().out


def _cli(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="hftbook replay mbo")
    REPLAY_FORMATS["mbo"].add_arguments(p)
    return p.parse_args(argv)


def test_truncated_dbn_names_the_offset(arl_dbn: Path, tmp_path: Path) -> None:
    data = arl_dbn.read_bytes()
    body = body_offset(data)
    assert len(data) == body + 5886 * REC
    p = tmp_path / "cut.dbn"
    p.write_bytes(data[: body + 100 * REC + 20])  # 20 bytes into record 101
    with pytest.raises(DataFormatError) as ei:
        mbo.replay_mbo(p)
    e = ei.value
    assert e.offset == body + 100 * REC
    assert f"byte offset {e.offset}" in str(e)
    assert "truncated" in str(e)
    assert e.path == str(p)
    assert e.line is None
    # Cut inside the metadata.
    p.write_bytes(data[: body - 5])
    with pytest.raises(DataFormatError, match="metadata") as ei:
        mbo.load(p)
    assert ei.value.offset == body - 5


def test_truncated_zstd_names_the_offset(arl_records: npt.NDArray[np.void], tmp_path: Path) -> None:
    z = tmp_path / "a.dbn.zst"
    mbo.write_dbn(arl_records, z)
    data = z.read_bytes()
    p = tmp_path / "cut.dbn.zst"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError) as ei:
        mbo.run_mbo(p)
    e = ei.value
    assert e.offset is not None
    assert 0 < e.offset <= len(data) // 2
    assert f"byte offset {e.offset}" in str(e)
    assert "zstd" in str(e)


def test_corrupt_records_name_the_offset(arl_dbn: Path, tmp_path: Path) -> None:
    data = bytearray(arl_dbn.read_bytes())
    body = body_offset(data)
    at = body + 1234 * REC
    bad = bytearray(data)
    bad[at + 1] = 0x01  # rtype of record 1235: MBP-1, not MBO
    p = tmp_path / "bad.dbn"
    p.write_bytes(bad)
    with pytest.raises(DataFormatError, match=r"rtype 0x01") as ei:
        mbo.load(p)
    assert ei.value.offset == at
    assert ei.value.field == "rtype"
    assert "record 1235" in str(ei.value)

    bad = bytearray(data)
    bad[at + 38] = ord("Q")  # the action letter
    p.write_bytes(bad)
    with pytest.raises(DataFormatError, match="action") as ei:
        mbo.load(p)
    assert ei.value.offset == at

    for length in (0, 1, 13, 15, 255):  # the record length byte, in 4-byte words
        bad = bytearray(data)
        bad[at] = length
        p.write_bytes(bad)
        with pytest.raises(DataFormatError) as ei:
            mbo.load(p)
        assert ei.value.offset == at, str(ei.value)

    p.write_bytes(b"DBN\x03" + bytes(40))
    with pytest.raises(DataFormatError) as ei:
        mbo.load(p)
    assert ei.value.offset is not None

    # A replay error in a DBN file names the record and its offset, not a line.
    recs = mbo.load(arl_dbn)
    recs = recs[recs["action"] != b"A"][:5]
    q = tmp_path / "orphan.dbn"
    mbo.write_dbn(recs, q)
    with pytest.raises(DataFormatError, match=r"record \d+ at byte offset \d+") as ei:
        mbo.replay_mbo(q)
    assert ei.value.offset is not None


def test_wrong_schema_is_a_clear_error(arl_dbn: Path, tmp_path: Path) -> None:
    data = bytearray(arl_dbn.read_bytes())
    # DBN metadata: 8-byte prefix, 16-byte dataset, then the schema as a u16 (2 = MBP-10).
    assert data[24:26] == (0).to_bytes(2, "little")
    data[24:26] = (2).to_bytes(2, "little")
    p = tmp_path / "mbp10.dbn"
    p.write_bytes(data)
    with pytest.raises(DataFormatError, match="schema is mbp-10") as ei:
        mbo.run_mbo(p)
    assert ei.value.field == "schema"
    assert ei.value.offset == 8


def test_write_dbn_checks_its_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        mbo.write_dbn(np.zeros(3, dtype=np.int64), tmp_path / "x.dbn")
    recs = np.zeros(1, dtype=mbo.MBO_DTYPE)
    recs["ts_recv"] = -1
    with pytest.raises(DataFormatError, match="before 1970"):
        mbo.write_dbn(recs, tmp_path / "x.dbn")


def _letter(v: object) -> bytes:
    """A databento_dbn ``Action``/``Side`` (a str enum) or plain str as one byte."""
    return str(getattr(v, "value", v)).encode()


def test_decode_agrees_with_databento_dbn(
    arl_records: npt.NDArray[np.void], tmp_path: Path
) -> None:
    dbn = pytest.importorskip("databento_dbn")
    # Our encoder -> Databento's Python decoder: every field of every record, the metadata.
    p = tmp_path / "x.dbn"
    mbo.write_dbn(arl_records, p)
    dec = dbn.DBNDecoder()
    dec.write(p.read_bytes())
    out = dec.decode()
    meta, recs = out[0], out[1:]
    assert meta.schema == dbn.Schema.MBO
    assert meta.dataset == "XNAS.ITCH"
    assert meta.mappings["ARL"][0]["symbol"] == "1108"
    assert len(recs) == len(arl_records)
    ours = mbo.load(p)
    theirs: dict[str, list[object]] = {
        "ts_recv": [r.ts_recv for r in recs],
        "ts_event": [r.ts_event for r in recs],
        "rtype": [int(r.rtype) for r in recs],
        "instrument_id": [r.instrument_id for r in recs],
        "publisher_id": [int(r.publisher_id) for r in recs],
        "price": [r.price for r in recs],
        "size": [r.size for r in recs],
        "order_id": [r.order_id for r in recs],
        "flags": [int(r.flags) for r in recs],
        "sequence": [r.sequence for r in recs],
        "ts_in_delta": [r.ts_in_delta for r in recs],
        "channel_id": [r.channel_id for r in recs],
        "action": [_letter(r.action) for r in recs],
        "side": [_letter(r.side) for r in recs],
    }
    for k, v in theirs.items():
        assert ours[k].tolist() == v, k
        assert arl_records[k].tolist() == v, k

    # Databento's transcoder -> zstd DBN written by Databento's code -> our decoder.
    buf = io.BytesIO()
    tr = dbn.Transcoder(buf, dbn.Encoding.DBN, dbn.Compression.ZSTD)
    tr.write(p.read_bytes())
    tr.flush()
    del tr  # the zstd frame is finished when the transcoder is dropped
    gc.collect()
    z = tmp_path / "theirs.dbn.zst"
    z.write_bytes(buf.getvalue())
    assert z.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    back = mbo.load(z)
    for f in FIELDS:
        assert np.array_equal(back[f], arl_records[f]), f
    assert mbo.run_mbo(z).rows == 3928


def test_cli_dbn_errors_exit_2_with_the_offset(
    arl_dbn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = arl_dbn.read_bytes()
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(data[: body_offset(data) + 7 * REC + 3])
    assert REPLAY_FORMATS["mbo"].run(_cli([str(cut), "--no-progress"])) == 2
    err = capsys.readouterr().err
    assert f"byte offset {body_offset(data) + 7 * REC}" in err
    assert err.count("\n") == 1


def test_csv_with_two_instruments_gets_two_books() -> None:
    t = "2025-07-17T08:00:00.000000000Z"
    head = "ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,"
    head += "channel_id,order_id,flags,ts_in_delta,sequence,symbol\n"
    rows = [  # the second instrument's ask is below the first's bid: one book would cross
        (7, "AAA", "A", "B", "10.00", 5, 1),
        (8, "BBB", "A", "A", "9.00", 3, 2),
        (8, "BBB", "A", "B", "8.00", 4, 3),
        (7, "AAA", "C", "B", "10.00", 5, 1),
    ]
    data = head + "".join(
        f"{t},{t},160,2,{i},{a},{s},{p},{q},0,{o},130,0,{n},{sym}\n"
        for n, (i, sym, a, s, p, q, o) in enumerate(rows)
    )
    rep = mbo.run_mbo(data.encode())
    assert rep.format == "csv"
    assert [
        (i.instrument_id, i.symbol, i.records, i.rows, i.resting_orders) for i in rep.instruments
    ] == [
        (7, "AAA", 2, 2, 0),
        (8, "BBB", 2, 2, 2),
    ]
    bbb = rep.mbp[rep.mbp["instrument_id"] == 8]
    assert bbb["ask_px"][:, 0].tolist() == [9_000_000_000] * 2
    assert bbb["bid_px"][-1, 0] == 8_000_000_000
    assert rep.resting_orders == 2
    assert rep.book_events == 4
