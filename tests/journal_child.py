"""The child of the crash tests (tests/test_journal.py): a journaled engine under load from
several producer threads. It prints ``S <id>`` for every id ``submit`` returned and
``A <id> <price_ticks> <qty>`` for every ``accepted`` event it polled, flushed line by
line, until the parent kills it with SIGKILL.

Usage: python journal_child.py JOURNAL_DIR FSYNC SEED
"""

from __future__ import annotations

import random
import sys
import threading

import hftbook as hb

#: Small, so that kills land before, during and after snapshot writes.
SNAPSHOT_EVERY = 3_000


def main() -> None:
    journal_dir, fsync, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = sys.stdout
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out.write(line + "\n")
            out.flush()

    try:
        e = hb.Engine.recover(journal_dir, fsync=fsync, snapshot_every=SNAPSHOT_EVERY)
    except (hb.JournalError, FileNotFoundError):
        e = hb.Engine(
            symbols={"AAA": {}, "BBB": {"tick_size": "0.05"}},
            shards=2,
            breaker={"enabled": False},
            journal_dir=journal_dir,
            fsync=fsync,
            snapshot_every=SNAPSHOT_EVERY,
        )
    e.start()
    say("READY")

    def producer(k: int) -> None:
        r = random.Random(seed * 10 + k)
        mine: list[tuple[int, str]] = []
        while True:
            sym = r.choice(["AAA", "BBB"])
            if mine and r.random() < 0.3:
                oid, s = mine.pop(r.randrange(len(mine)))
                e.cancel(oid, symbol=s)
                continue
            side = r.choice(["buy", "sell"])
            ticks = (9_990 if side == "buy" else 10_000) + r.randrange(20)
            if sym == "BBB":
                ticks //= 5
            oid = e.submit(sym, side, price_ticks=ticks, qty=r.randrange(1, 10), account=k + 1)
            say(f"S {oid}")
            mine.append((oid, sym))

    for k in range(3):
        threading.Thread(target=producer, args=(k,), daemon=True).start()
    accepted = hb.EVENT_KINDS.index("accepted")
    while True:
        ev = e.poll(timeout=0.01)
        for row in ev[ev["kind"] == accepted]:
            say(f"A {row['order_id']} {row['price_ticks']} {row['qty']}")


if __name__ == "__main__":
    main()
