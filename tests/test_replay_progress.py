"""Progress of the ``hftbook replay`` commands and the fast LOBSTER loaders (zip and CSV)."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

import hftbook.data._progress as progress_mod
from hftbook.cli import main
from hftbook.data import itch, lobster, mbo
from hftbook.exceptions import DataFormatError


def _shared() -> Path:
    env = os.environ.get("HFTBOOK_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (root / "lobster").is_dir() or not (root / "databento_arl").is_dir():
        pytest.fail(
            f"shared test data not found at {root} (expected ../shared/data next to the repo, "
            "or set HFTBOOK_SHARED_DATA)"
        )
    return root


AAPL = "lobster/truncated_aapl_10/AAPL_2012-06-21_34200000_57600000_message_10.csv"
GOOG1 = "lobster/LOBSTER_SampleFile_GOOG_2012-06-21_1.zip"


class Calls:
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.seen.append((done, total))


# ----------------------------------------------------------------------------- library


def test_lobster_replay_reports_progress_and_the_same_result() -> None:
    data = lobster.load(_shared() / GOOG1)
    calls = Calls()
    with_bar = lobster.replay(data, progress=calls)
    plain = lobster.replay(data)
    assert calls.seen[-1] == (data.rows, data.rows)
    done = [d for d, _ in calls.seen]
    assert done == sorted(done)
    assert all(t in (0, data.rows) for _, t in calls.seen)  # 0 until the replay starts
    assert with_bar.to_dict()["rows_matched"] == plain.rows_matched == data.rows - 1
    assert np.array_equal(with_bar.queue_position, plain.queue_position)


def test_mbo_run_reports_progress() -> None:
    calls = Calls()
    rep = mbo.run_mbo(_shared() / "databento_arl" / "mbo.csv", progress=calls)
    assert calls.seen[-1] == (rep.records, rep.records) == (5886, 5886)


def test_progress_worker_errors_reach_the_caller(tmp_path: Path) -> None:
    bad = lobster.LobsterData.from_bytes(
        b"34200.1,1,7,5,5800000,1\n34200.2,9,7,5,5800000,1\n",
        b"9999999999,0,5800000,5\n9999999999,0,-9999999999,0\n",
    )
    with pytest.raises(DataFormatError, match="Type"):
        lobster.replay(bad, progress=Calls())
    with pytest.raises(DataFormatError, match="cannot read"):
        mbo.run_mbo(tmp_path / "missing.csv", progress=Calls())


# --------------------------------------------------------------------------------- CLI


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the progress display draws, on a forced terminal instead of stderr."""
    buf = io.StringIO()
    orig = progress_mod.progress_bar

    def bar(*, disable: bool = False, console: Any = None, in_bytes: bool = False) -> Any:
        term = Console(file=buf, force_terminal=True, width=120)
        return orig(disable=disable, console=term, in_bytes=in_bytes)

    monkeypatch.setattr(progress_mod, "progress_bar", bar)
    return buf


def _argv(name: str, tmp_path: Path) -> list[str]:
    d = _shared()
    if name == "lobster":
        return ["replay", "lobster", str(d / AAPL)]
    if name == "mbo":
        return [
            *("replay", "mbo", str(d / "databento_arl" / "mbo.csv")),
            *("--expected", str(d / "databento_arl" / "mbp.csv")),
        ]
    f = tmp_path / "s.itch"
    itch.generate_itch(5_000, seed=3, symbols=("AAPL",)).write(f)
    return ["replay", "itch", str(f)]


# final frame of the bar: units done / total (itch: bytes of the file)
FINAL = {"lobster": r"999/999", "mbo": r"5886/5886", "itch": r"(\d+\.\d)/\1 kB"}


@pytest.mark.parametrize("name", ["lobster", "mbo", "itch"])
def test_cli_progress_bar_and_no_progress(
    name: str,
    tmp_path: Path,
    drawn: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    js = tmp_path / "r.json"
    argv = [*_argv(name, tmp_path), "--json", str(js)]
    assert main(argv) == 0
    with_bar = capsys.readouterr()
    report = json.loads(js.read_text())
    shown = drawn.getvalue()
    assert "━" in shown  # a bar was drawn
    assert re.search(FINAL[name], shown), shown[-500:]
    # The report goes to stdout, clean; the bar never does.
    assert "replaying" not in with_bar.out
    assert with_bar.out.strip()

    drawn.truncate(0)
    drawn.seek(0)
    js.unlink()
    assert main([*argv, "--no-progress"]) == 0
    without = capsys.readouterr()
    assert drawn.getvalue() == ""
    assert "replaying" not in without.out + without.err
    again = json.loads(js.read_text())
    for k in ("messages", "rows_matched", "records", "rows_equal"):
        if k in report:
            assert again[k] == report[k]


def test_cli_default_progress_under_pytest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real stderr display (not a terminal here) neither fails nor mixes into stdout."""
    js = tmp_path / "r.json"
    for name in ("lobster", "mbo", "itch"):
        assert main([*_argv(name, tmp_path), "--json", str(js)]) == 0
        out = capsys.readouterr().out
        assert "replaying" not in out
        json.loads(js.read_text())


# ----------------------------------------------------------------------- fast loaders


def test_zip_loader_matches_python_zipfile_and_csv(tmp_path: Path) -> None:
    z = _shared() / GOOG1
    with zipfile.ZipFile(z) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".csv"))
        blobs = {n: zf.read(n) for n in names}
        zf.extractall(tmp_path, members=names)
    msg_name = next(n for n in names if "_message_" in n)
    book_name = next(n for n in names if "_orderbook_" in n)
    a = lobster.load(z)
    b = lobster.load(tmp_path / msg_name)
    assert np.array_equal(a.messages, lobster.parse_messages(blobs[msg_name]))
    assert np.array_equal(a.orderbook, lobster.parse_orderbook(blobs[book_name]))
    assert np.array_equal(a.messages, b.messages)
    assert np.array_equal(a.orderbook, b.orderbook)
    assert a.message_file == f"{z}!{msg_name}"
    assert b.orderbook_file == str(tmp_path / book_name)
    assert 0 < a.parse_seconds <= a.read_seconds


def test_corrupt_zip_members_name_the_archive(tmp_path: Path) -> None:
    src = (_shared() / GOOG1).read_bytes()
    # A few bytes changed inside the orderbook member's deflate stream.
    with zipfile.ZipFile(_shared() / GOOG1) as zf:
        info = next(i for i in zf.infolist() if "_orderbook_" in i.filename)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 64
    bad = bytearray(src)
    for i in range(start, start + 40, 4):
        bad[i] ^= 0x5A
    z = tmp_path / "bad.zip"
    z.write_bytes(bytes(bad))
    with pytest.raises(DataFormatError, match="not a readable zip archive") as ei:
        lobster.load(z)
    assert ei.value.path == str(z)
    assert info.filename in str(ei.value)
    # Truncated anywhere: an error naming the archive, never a crash.
    for cut in (0, 22, 1000, len(src) // 2, len(src) - 100, len(src) - 1):
        z.write_bytes(src[:cut])
        with pytest.raises(DataFormatError, match="not a readable zip archive") as ei:
            lobster.load(z)
        assert ei.value.path == str(z)


def test_bad_field_in_the_second_half_of_a_large_file(tmp_path: Path) -> None:
    """Large files are parsed in chunks on several threads: lines stay global."""
    row = b"5859400,200,5853300,18,5859500,100,5853200,7\n"
    rows = 200_000  # 9 MB: split into chunks
    bad_line = 170_001
    book = bytearray(row * rows)
    at = (bad_line - 1) * len(row)
    book[at + 8 : at + 11] = b"2x0"
    msgs = b"34200.1,5,0,10,5853300,1\n" * rows
    m = tmp_path / "X_message_2.csv"
    b = tmp_path / "X_orderbook_2.csv"
    m.write_bytes(msgs)
    b.write_bytes(bytes(book))
    with pytest.raises(DataFormatError) as ei:
        lobster.load(m)
    assert (ei.value.path, ei.value.line, ei.value.field) == (str(b), bad_line, "AskSize_1")
    z = tmp_path / "X.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X_message_2.csv", msgs)
        zf.writestr("X_orderbook_2.csv", bytes(book))
    with pytest.raises(DataFormatError) as ei:
        lobster.load(z)
    assert (ei.value.path, ei.value.line, ei.value.field) == (
        f"{z}!X_orderbook_2.csv",
        bad_line,
        "AskSize_1",
    )
