"""The journal from Python: crash safety under SIGKILL, recovery, replay, audit, errors.

The crash tests run a child process (tests/journal_child.py) that trades under load from
three producer threads with fsync ``always`` or ``batch``; the parent kills it with SIGKILL
at a random moment, recovers the engine from the journal and checks that

* every order whose ``accepted`` event the parent saw is in the journal, with the same
  price and quantity (its ``accepted`` event replays identically),
* the recovered engine's state hash equals a clean replay of the surviving journal,
* ids are never reused after the restart (every id the child was given, acknowledged or
  not, is below the first id the recovered engine issues).

20 kills run in the regular suite; ``pytest -m slow tests/test_journal.py`` runs 200.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import hftbook as hb

CHILD = Path(__file__).with_name("journal_child.py")


def _kill_and_check(tmp: Path, fsync: str, seed: int, restarts: int = 1) -> None:
    journal = tmp / f"j-{fsync}-{seed}"
    seen_ids: set[int] = set()
    accepted: dict[int, tuple[int, int]] = {}
    rng = random.Random(seed)
    for _ in range(restarts):
        p = subprocess.Popen(
            [sys.executable, str(CHILD), str(journal), fsync, str(rng.randrange(1 << 30))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None
        lines: list[str] = []

        def reader(stream=p.stdout, sink=lines) -> None:  # type: ignore[no-untyped-def]
            for line in stream:
                sink.append(line)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + 30
        while not any(line.startswith("READY") for line in lines):
            assert p.poll() is None, p.stderr.read() if p.stderr else ""
            assert time.monotonic() < deadline, "child never became ready"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait()
        t.join(timeout=10)
        p.stdout.close()
        if p.stderr is not None:
            p.stderr.close()
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "S":
                oid = int(parts[1])
                assert oid not in seen_ids, f"id {oid} issued twice across restarts"
                seen_ids.add(oid)
            elif len(parts) == 4 and parts[0] == "A":
                accepted[int(parts[1])] = (int(parts[2]), int(parts[3]))
    assert accepted, "the child acknowledged nothing before the kill"
    rec = hb.Engine.recover(journal, fsync=fsync)
    info = rec.recovery()
    assert info is not None
    assert not info["snapshot_problems"], info
    replay = hb.replay_journal(journal)
    # Snapshots + the tail after them rebuild what a replay of every record does.
    assert rec.state_hash() == replay.state_hash
    assert rec.event_hash() == replay.event_hash
    ev = replay.events
    acc = ev[ev["kind"] == hb.EVENT_KINDS.index("accepted")]
    journaled = {int(r["order_id"]): (int(r["price_ticks"]), int(r["qty"])) for r in acc}
    lost = [oid for oid in accepted if oid not in journaled]
    assert not lost, f"{len(lost)} acknowledged order(s) lost, e.g. {lost[:5]}"
    for oid, v in accepted.items():
        assert journaled[oid] == v, (oid, v, journaled[oid])
    rec.start()
    try:
        new_id = rec.submit("AAA", "buy", price_ticks=9_000, qty=1)
    finally:
        rec.stop()
    assert new_id > max(seen_ids), (new_id, max(seen_ids))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_sigkill_loses_no_acknowledged_order(tmp_path: Path, fsync: str, seed: int) -> None:
    _kill_and_check(tmp_path, fsync, seed, restarts=1 + seed % 2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 200))
@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_sigkill_many(tmp_path: Path, fsync: str, seed: int) -> None:
    _kill_and_check(tmp_path, fsync, seed, restarts=1 + seed % 3)


def _run(journal: Path, fsync: str = "batch", shards: int = 2, batch: int = 64) -> hb.Engine:
    e = hb.Engine(
        symbols={"AAA": {}, "BBB": {"lot_size": 100}},
        shards=shards,
        batch_size=batch,
        book_events=True,
        breaker={"enabled": False},
        journal_dir=journal,
        fsync=fsync,
    )
    e.start()
    r = random.Random(7)
    ids = []
    for _ in range(2_000):
        if ids and r.random() < 0.3:
            oid, sym = ids.pop(r.randrange(len(ids)))
            e.cancel(oid, symbol=sym)
        else:
            sym = r.choice(["AAA", "BBB"])
            side = r.choice(["buy", "sell"])
            qty = r.randrange(1, 5) * (100 if sym == "BBB" else 1)
            px = (99 if side == "buy" else 100) + r.randrange(3)
            ids.append((e.submit(sym, side, price=px, qty=qty), sym))
        if len(ids) % 100 == 0:
            e.poll()
    e.stop()
    return e


@pytest.mark.parametrize(
    ("shards", "batch", "fsync"), [(1, 1, "never"), (2, 64, "batch"), (3, 256, "always")]
)
def test_replay_reproduces_state_and_events(
    tmp_path: Path, shards: int, batch: int, fsync: str
) -> None:
    e = _run(tmp_path / "j", fsync, shards, batch)
    r = hb.replay_journal(tmp_path / "j")
    assert (r.state_hash, r.event_hash) == (e.state_hash(), e.event_hash())
    assert r.events.dtype == hb.EVENT_DTYPE
    assert r.records > 2_000
    assert r.repair is None
    # Quantities come back in units, like poll(): BBB trades in lots of 100.
    bbb = r.events[
        (r.events["symbol"] == 1) & (r.events["kind"] == hb.EVENT_KINDS.index("accepted"))
    ]
    assert len(bbb)
    assert np.all(bbb["qty"] % 100 == 0)
    rec = hb.Engine.recover(tmp_path / "j")
    assert rec.state_hash() == e.state_hash()
    info = rec.recovery()
    assert info is not None
    assert info["records"] == r.records
    assert info["repair"] is None


def test_audit_answers_what_happened_to_an_order(tmp_path: Path) -> None:
    d = tmp_path / "j"
    with hb.Engine(symbols={"AAPL": {}}, journal_dir=d, fsync="always") as e:
        bid = e.submit("AAPL", "buy", price="100.00", qty=5, client_id=42)
        e.modify(bid, qty=4)
        e.submit("AAPL", "sell", price="100.00", qty=1)
        deadline = time.monotonic() + 20
        seen = []
        while not any(ev.kind == "trade" for ev in seen):
            assert time.monotonic() < deadline
            seen.extend(e.events(timeout=0.05))
        e.cancel(bid)
    trail = hb.audit(d, order_id=bid)
    rows = trail.rows()
    assert [(x["source"], x["kind"]) for x in rows] == [
        ("command", "submit"),
        ("event", "accepted"),
        ("command", "modify"),
        ("event", "modified"),
        ("event", "fill"),
        ("event", "trade"),
        ("command", "cancel"),
        ("event", "cancelled"),
    ]
    assert all(x["symbol"] == "AAPL" for x in rows)
    assert trail.array.dtype == hb.AUDIT_DTYPE
    assert np.all(np.diff(trail.array["ts"].astype(np.int64)) >= 0)
    assert len(hb.audit(d, client_id=42)) >= 4
    assert len(hb.audit(d, symbol="AAPL")) > len(rows)
    with pytest.raises(hb.UnknownSymbol, match="MSFT"):
        hb.audit(d, symbol="MSFT")
    assert '"kind": "cancelled"' in trail.to_json()


def test_errors_name_the_file_the_offset_and_what_was_expected(tmp_path: Path) -> None:
    d = tmp_path / "j"
    e = _run(d, "never", 1, 256)
    segs = sorted(d.glob("*.seg"))
    # Another configuration.
    with pytest.raises(hb.JournalError) as ei:
        hb.Engine(symbols={"AAA": {}}, journal_dir=d)
    assert ei.value.kind == "config_mismatch"
    assert ei.value.file.endswith("config.toml")
    # A flipped bit in the middle of the (only) segment, good records after it.
    seg = segs[-1]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x08
    seg.write_bytes(bytes(data))
    with pytest.raises(hb.JournalError) as ei:
        hb.replay_journal(d)
    assert ei.value.kind == "corrupt"
    assert ei.value.file == seg.name
    assert ei.value.offset > 64
    assert "a valid record was expected" in str(ei.value)
    data[len(data) // 2] ^= 0x08
    seg.write_bytes(bytes(data))
    # A torn tail: cut, reported, and the state is the replay's.
    seg.write_bytes(bytes(data[:-5]))
    r = hb.replay_journal(d)
    assert r.repair is not None
    assert r.repair["applied"] is False
    rec = hb.Engine.recover(d, fsync="never")
    info = rec.recovery()
    assert info is not None
    assert info["repair"]["offset"] == r.repair["offset"]
    assert rec.state_hash() == r.state_hash
    assert seg.stat().st_size == r.repair["offset"]
    # Bad arguments.
    with pytest.raises(hb.InvalidOrder, match="fsync must be one of always, batch, never"):
        hb.Engine(symbols={"AAA": {}}, journal_dir=tmp_path / "k", fsync="sometimes")
    with pytest.raises(hb.JournalError) as ei:
        hb.Engine.recover(tmp_path / "nothing-here")
    assert ei.value.kind == "io"
    assert "config.toml" in str(ei.value)
    del e


def test_state_hash_needs_a_stopped_engine(tmp_path: Path) -> None:
    e = hb.Engine(symbols={"AAA": {}}, journal_dir=tmp_path / "j")
    e.start()
    with pytest.raises(hb.EngineStateError):
        e.state_hash()
    e.stop()
    assert len(e.state_hash()) == 32
    stats = e.journal_stats()
    assert stats is not None
    assert stats["fsync"] == "batch"
    assert stats["failed"] is None
    # The sync histogram: bounds rising, the last unbounded, as many syncs as counted.
    hist = stats["sync_histogram_us"]
    bounds = [b for b, _ in hist[:-1]]
    assert bounds == sorted(bounds)
    assert bounds[0] > 0
    assert hist[-1][0] is None
    assert sum(n for _, n in hist) == stats["syncs"] > 0
    assert stats["lag_records"] == 0  # stopped: everything written is durable
    os.sync()


def test_cli_replays_and_audits_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hftbook.cli import main

    d = tmp_path / "j"
    with hb.Engine(symbols={"AAPL": {}}, journal_dir=d, fsync="always") as e:
        bid = e.submit("AAPL", "buy", price="100.25", qty=5)
        e.submit("AAPL", "sell", price="100.25", qty=2)
    assert (
        main(["replay", "journal", str(d), "--no-progress", "--json", str(tmp_path / "r.json")])
        == 0
    )
    out = capsys.readouterr().out
    assert e.state_hash() in out
    assert e.event_hash() in out
    import json

    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["state_hash"] == e.state_hash()
    assert summary["trades"] == 1
    assert (
        main(["replay", "journal", str(d), "--no-progress", "--expect-state-hash", "0" * 32]) == 1
    )
    assert main(["replay", "journal", str(d), "--expect-state-hash", e.state_hash()]) == 0
    capsys.readouterr()
    assert main(["audit", str(d), "--order", str(bid)]) == 0
    out = capsys.readouterr().out
    for word in ("submit", "accepted", "fill", "trade", "100.25"):
        assert word in out
    assert "…" not in out
    assert main(["audit", str(d), "--order", str(bid), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in rows] == ["submit", "accepted", "fill", "trade"]
    assert rows[0]["price"] == "100.25"
    # Bad input: exit 2 with one line on stderr.
    assert main(["audit", str(d)]) == 2
    assert main(["audit", str(tmp_path), "--order", "1"]) == 2
    assert main(["audit", str(d), "--symbol", "MSFT"]) == 2
    assert "MSFT" in capsys.readouterr().err
    seg = next(d.glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[70] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert main(["replay", "journal", str(d), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert seg.name in err


def test_snapshots_on_demand_and_at_stop(tmp_path: Path) -> None:
    d = tmp_path / "j"
    e = hb.Engine(symbols={"AAA": {}, "BBB": {}}, shards=2, journal_dir=d, snapshot_every=0)
    e.start()
    for i in range(50):
        e.submit("AAA" if i % 2 else "BBB", "buy", price=100 - i % 5, qty=1)
    files = e.snapshot(timeout=20)
    assert sorted(Path(f).name[:9] for f in files) == ["snap-0000", "snap-0001"]
    for i in range(30):
        e.submit("AAA", "sell", price=200 + i, qty=1)
    e.stop()
    stats = e.journal_stats()
    assert e.stats()["journal"] == stats
    assert stats is not None
    assert stats["snapshots"] >= 3  # two on demand, then the shard with new records at stop
    rec = hb.Engine.recover(d)
    info = rec.recovery()
    assert info is not None
    assert info["replayed"] == 0
    assert len(info["snapshots"]) == 2
    assert rec.state_hash() == e.state_hash() == hb.replay_journal(d).state_hash
    # A damaged snapshot is passed over, said so, and an older one (or the journal) serves.
    newest = sorted(d.glob("snap-0000-*.snap"))[-1]
    raw = bytearray(newest.read_bytes())
    raw[-10] ^= 0xFF
    newest.write_bytes(bytes(raw))
    rec2 = hb.Engine.recover(d)
    info2 = rec2.recovery()
    assert info2 is not None
    assert any("checksum" in p for p in info2["snapshot_problems"])
    assert rec2.state_hash() == e.state_hash()
