"""Fan-out of the feed server (``engine.serve``) to loopback WebSocket clients.

Usage: python benches/feed_fanout.py [--rounds 3] [--json out.json]
       python benches/feed_fanout.py --quick

Servers compared, on the same engine flow, in the same run:

- ``feed-json`` / ``feed-binary``: the Rust feed server (``/ws``, ``/ws?encoding=binary``),
  clients subscribed to ``l2.S0`` and ``trades.S0``;
- ``python-ws``: the anchor, what a user would otherwise write: a plain Python
  ``websockets`` server (asyncio, in the engine's process) fed by ``engine.subscribe``
  (conflating, numpy batches, symbol S0, book and trade events), one JSON text per event
  (``json.dumps``, price as decimal text) sent to every client with ``websockets.broadcast``.

The flow is W2 (``benches/engine_py.py``: 4 symbols, 1 shard, book events on, the breaker
off). The clients are ``websockets`` asyncio connections in one separate Python process
(permessage-deflate off on both sides); they count messages, and on every trade take its
engine-to-client latency: engine time of the trade (``ts``) to the client's receipt, both on
the engine's clock (``engine.now()`` and ``time.monotonic_ns()`` compared once, in the
engine's process, before the run).

Two measurements:

1. **delivery**: 1, 10 and 100 clients per server; the flow paced at ``--rate`` orders/s
   (all symbols; S0 gets a quarter) for ``--seconds``; messages/s delivered (all clients'
   messages / the time from the first to the last one received) and the trade latency p50 /
   p99 over all clients.
2. **engine throughput**: the flow (``--ops`` orders) submitted as fast as the engine takes
   it (``--drive python``: ``submit_batch`` slices, ``poll`` after each, as ``engine_py.py
   batch``; ``--drive preloaded``: the engine's own throughput, every command queued before
   the engine starts and no event stream kept, timed from ``start()`` until the shard ran
   them all while this process sleeps), with no
   server, and with each server and 100 clients attached; orders/s and the ratio to "no
   server", taken per pair (each server's run beside a run with no server; the median
   of the pairs' ratios; the pair's order alternates by round, 0.5 s pause after each run;
   ``--servers none`` measures the method's own noise). The feed servers get
   ``queue_capacity=1<<20`` so that no client is
   cut off while the clients (Python, on the same cores) catch up. Per ``--nice`` value:
   ``0``, clients at nice 0 and the server at its default nice 19; ``19``, clients and
   server at nice 19; ``idle``, both at nice 19 under Linux's ``SCHED_IDLE``
   (``engine.serve(idle=True)``). ``--client-impl rust`` runs these clients in one Rust
   thread (``rust/feed/examples/ws_clients.rs``) instead of Python.

Medians over ``--rounds`` rounds. Every client process, server and engine shares the
machine's cores: on a small machine the clients compete with the engine, which this shows.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from engine_py import POLL_MAX, SYMBOLS, build

import hftbook as hb

#: Pause after each throughput run (threads and memory of the last one wind down).
SETTLE_S = 0.5
TRADE = hb.EVENT_KINDS.index("trade")
BOOK = hb.EVENT_KINDS.index("book")
_TS = struct.Struct("<Q")


# ------------------------------------------------------------------------------ clients


async def _client(
    url: str, sub: str | None, binary: bool, offset: int, counts: list[int], lat: list[int]
) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=None, open_timeout=30) as ws:
        if sub is not None:
            await ws.send(sub)
        counts[2] += 1  # connected
        mono = time.monotonic_ns
        async for m in ws:
            now = mono()
            if counts[0] == 0:
                counts[3] = now
            counts[0] += 1
            counts[4] = now
            if binary:
                if isinstance(m, bytes) and m[1] == 4:
                    lat.append(now + offset - _TS.unpack_from(m, 40)[0])
            elif '"trade"' in m:
                lat.append(now + offset - int(json.loads(m)["ts"]))


def _clients_main(
    url: str,
    n: int,
    sub: str | None,
    binary: bool,
    offset: int,
    connected: Any,
    received: Any,
    stop: Any,
    out: Any,
    nice: int | str,
) -> None:
    if nice:
        os.nice(19 if nice == "idle" else int(nice))
    if nice == "idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    counts = [0, 0, 0, 0, 0]  # messages, -, connected, first ns, last ns
    lat: list[int] = []

    async def main() -> None:
        tasks = [
            asyncio.create_task(_client(url, sub, binary, offset, counts, lat)) for _ in range(n)
        ]
        while not stop.is_set():
            connected.value = counts[2]
            received.value = counts[0]
            await asyncio.sleep(0.02)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put((counts[0], counts[3], counts[4], lat))


class Clients:
    """``n`` WebSocket clients in a child process."""

    def __init__(
        self,
        url: str,
        n: int,
        sub: str | None,
        binary: bool,
        offset: int,
        nice: int | str = 0,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.connected = ctx.Value("q", 0)
        self.received = ctx.Value("q", 0)
        self.stop = ctx.Event()
        self.out: Any = ctx.Queue()
        self.n = n
        self.proc = ctx.Process(
            target=_clients_main,
            args=(
                url,
                n,
                sub,
                binary,
                offset,
                self.connected,
                self.received,
                self.stop,
                self.out,
                nice,
            ),
            daemon=True,
        )
        self.proc.start()

    def wait_connected(self, subscribed: Any = None) -> None:
        deadline = time.monotonic() + 60
        while self.connected.value < self.n or (subscribed is not None and not subscribed()):
            if time.monotonic() > deadline or not self.proc.is_alive():
                raise RuntimeError(f"only {self.connected.value} of {self.n} clients connected")
            time.sleep(0.02)
        time.sleep(0.2)  # subscriptions answered (snapshots)

    def wait_quiet(self, quiet: float = 0.5, limit: float = 120.0) -> None:
        """Until no message arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + limit
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            v = self.received.value
            if v != last:
                last, since = v, time.monotonic()
            elif time.monotonic() - since > quiet:
                return
            time.sleep(0.02)

    def finish(self) -> tuple[int, int, int, list[int]]:
        self.stop.set()
        res: tuple[int, int, int, list[int]] = self.out.get(timeout=60)
        self.proc.join(10)
        return res


class _Value:
    def __init__(self) -> None:
        self.value = 0


class RustClients:
    """``n`` WebSocket clients in one Rust process (``rust/feed/examples/ws_clients.rs``).

    The same interface as :class:`Clients` for the throughput measurement (message counts, no
    latency): a subscriber that is not Python, whose own CPU is small beside the engine's.
    """

    BIN = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "release/examples/ws_clients"

    @classmethod
    def build(cls) -> None:
        import subprocess

        root = Path(__file__).resolve().parent.parent
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "hftbook-feed", "--example", "ws_clients"],
            cwd=root,
            check=True,
        )
        if not cls.BIN.is_absolute():
            cls.BIN = root / cls.BIN

    def __init__(self, url: str, n: int, sub: str | None, nice: int | str = 0) -> None:
        import subprocess

        self.n = n
        self.connected = _Value()
        self.received = _Value()
        self.done: int | None = None
        self._p = subprocess.Popen(
            [str(self.BIN), url, str(n), sub or "-", str(nice)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        # `clients.stop.set()`, `clients.proc.is_alive()` ... as `Clients`.
        self.stop = self
        self.proc = self
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._p.stdout is not None
        for line in self._p.stdout:
            w = line.split()
            if w and w[0] == "connected":
                self.connected.value = int(w[1])
                self.received.value = int(w[3])
            elif w and w[0] == "done":
                self.done = int(w[1])

    def set(self) -> None:
        if self._p.stdin is not None and self._p.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self._p.stdin.write("stop\n")
                self._p.stdin.flush()

    def is_alive(self) -> bool:
        return self._p.poll() is None

    def kill(self) -> None:
        self._p.kill()

    def join(self, timeout: float) -> None:
        with contextlib.suppress(Exception):
            self._p.wait(timeout)

    def wait_connected(self, subscribed: Any = None) -> None:
        deadline = time.monotonic() + 60
        while self.connected.value < self.n or (subscribed is not None and not subscribed()):
            if time.monotonic() > deadline or self._p.poll() is not None:
                raise RuntimeError(f"only {self.connected.value} of {self.n} clients connected")
            time.sleep(0.02)
        time.sleep(0.2)  # subscriptions answered (snapshots)

    def finish(self) -> tuple[int, int, int, list[int]]:
        self.set()
        self.join(60)
        self._reader.join(5)
        return (self.done or self.received.value, 0, 0, [])


# ------------------------------------------------------------------------------ anchor


class PythonWsServer:
    """The anchor: asyncio ``websockets`` server fed by ``engine.subscribe``."""

    def __init__(self, engine: hb.Engine) -> None:
        from websockets.asyncio.server import broadcast, serve

        self._broadcast = broadcast
        self.clients: set[Any] = set()
        # Set by stop(): the sends still queued on the loop are dropped (they would go to
        # closed sockets, and keep the loop busy into the next measurement).
        self._closing = False
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.port = 0

        async def handler(ws: Any) -> None:
            self.clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                self.clients.discard(ws)

        async def run() -> None:
            async with serve(handler, "127.0.0.1", 0, compression=None) as srv:
                self.port = next(iter(srv.sockets)).getsockname()[1]
                self._stop = self.loop.create_future()
                started.set()
                await self._stop

        # A daemon: a server slow to close its 100 connections must not keep the
        # interpreter from exiting after the results are written.
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(run(),), daemon=True
        )
        self.thread.start()
        started.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.sub = engine.subscribe(
            self._on_events, kinds=["book", "trade"], symbols=["S0"], conflate=True, as_array=True
        )

    def _on_events(self, arr: np.ndarray) -> None:
        if self._closing:
            return
        msgs = []
        for seq, px, qty, n, side, kind, ts in zip(
            arr["symbol_seq"].tolist(),
            arr["price_ticks"].tolist(),
            arr["qty"].tolist(),
            arr["leaves_qty"].tolist(),
            arr["side"].tolist(),
            arr["kind"].tolist(),
            arr["ts_processed"].tolist(),
            strict=True,
        ):
            price = f"{px / 100:.2f}"
            if kind == BOOK:
                m = {
                    "ch": "l2.S0", "seq": seq, "type": "delta",
                    "side": "bid" if side == 0 else "ask", "price": price, "qty": qty,
                    "orders": n,
                }  # fmt: skip
            else:
                m = {
                    "ch": "trades.S0", "seq": seq, "type": "trade", "price": price, "qty": qty,
                    "aggressor": "buy" if side == 0 else "sell", "ts": ts,
                }  # fmt: skip
            msgs.append(json.dumps(m))
        self.loop.call_soon_threadsafe(self._send, msgs)

    def _send(self, msgs: list[str]) -> None:
        if self._closing:
            return
        for m in msgs:
            self._broadcast(self.clients, m)

    def stop(self) -> None:
        self._closing = True
        self.sub.close()
        self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(30)


# ------------------------------------------------------------------------------ runs


def _engine(preload: int = 0) -> hb.Engine:
    """The engine of a run, started; with ``preload`` commands to queue first, not started
    (no event stream to poll, lanes with room for them all)."""
    syms = {f"S{s}": {"tick_size": "0.01"} for s in range(SYMBOLS)}
    if preload:
        return hb.Engine(
            symbols=syms,
            shards=1,
            breaker={"enabled": False},
            book_events=True,
            keep_events=False,
            lane_capacity=1 << (preload - 1).bit_length(),
        )
    return hb.Engine(symbols=syms, shards=1, breaker={"enabled": False}, book_events=True).start()


def _offset(engine: hb.Engine) -> int:
    """engine.now() - time.monotonic_ns(), the tightest of a few samples."""
    best: tuple[int, int] | None = None
    for _ in range(50):
        a = time.monotonic_ns()
        e = engine.now()
        b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, e - (a + b) // 2)
    assert best is not None
    return best[1]


def _drain(engine: hb.Engine) -> None:
    """Poll until the engine executed every order and the events are back."""
    deadline = time.monotonic() + 60
    while True:
        s = engine.stats()
        engine.poll(POLL_MAX, 0.001)
        if s["commands"] >= s["orders_issued"]:
            while len(engine.poll(POLL_MAX, 0.01)):
                pass
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the engine did not finish the flow")


#: ``--client-impl``: "python" (``Clients``) or "rust" (``RustClients``, throughput only).
CLIENT_IMPL = "python"
#: ``--pump-interval``: the feed server's pump sleep when it found less than a batch.
PUMP_INTERVAL = 0.00025
#: Messages the clients had received by the end of each throughput run, by server.
MESSAGES: dict[str, list[int]] = {}


def _attach(
    engine: hb.Engine, server: str, n: int, nice: int | str = 0, impl: str | None = None
) -> tuple[Any, Any]:
    rust = (impl or CLIENT_IMPL) == "rust"
    if server == "none":
        return None, None
    offset = _offset(engine)
    sub = json.dumps({"op": "subscribe", "channels": ["l2.S0", "trades.S0"]})
    if server == "python-ws":
        anchor = PythonWsServer(engine)
        if rust:
            clients = RustClients(anchor.url, n, None, nice)
        else:
            clients = Clients(anchor.url, n, None, False, offset, nice)
        clients.wait_connected(lambda: len(anchor.clients) >= n)
        return anchor, clients
    # The server's threads at its default nice (19, below the engine); with "idle" under
    # SCHED_IDLE too.
    srv = engine.serve(
        queue_capacity=1 << 20,
        idle=nice == "idle",
        pump_interval=PUMP_INTERVAL,
    )
    binary = server == "feed-binary"
    url = srv.url + ("?encoding=binary" if binary else "")
    clients: Any
    if rust:
        clients = RustClients(url, n, sub, nice)
    else:
        clients = Clients(url, n, sub, binary, offset, nice)
    clients.wait_connected()
    return srv, clients


def _detach(srv: Any) -> None:
    if srv is not None:
        srv.stop()


def delivery(server: str, n: int, flow: np.ndarray, prefill: np.ndarray, a: Any) -> dict[str, Any]:
    engine = _engine()
    try:
        engine.submit_batch(prefill)
        _drain(engine)
        # Python clients: they take each trade's latency.
        srv, clients = _attach(engine, server, n, impl="python")
        assert clients is not None
        base = clients.received.value
        period = 0.005
        chunk = max(1, int(a.rate * period))
        rows = flow[: int(a.rate * a.seconds)]
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(rows), chunk)):
            engine.submit_batch(rows[i : i + chunk])
            engine.poll(POLL_MAX, 0.0)
            sleep = t0 + (k + 1) * period - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
        _drain(engine)
        clients.wait_quiet()
        total, first, last, lat = clients.finish()
        _detach(srv)
        msgs = total - base
        span = max(last - first, 1) / 1e9
        lat_us = np.array(lat, dtype=np.float64) / 1e3
        return {
            "messages": msgs,
            "messages_per_s": msgs / span,
            "p50_us": float(np.percentile(lat_us, 50)) if len(lat_us) else None,
            "p99_us": float(np.percentile(lat_us, 99)) if len(lat_us) else None,
            "trades_seen": len(lat),
        }
    finally:
        engine.stop()


def throughput(
    server: str,
    n: int,
    flow: np.ndarray,
    prefill: np.ndarray,
    chunk: int,
    nice: int | str,
    drive: str = "python",
) -> float:
    preload = len(prefill) + len(flow) if drive == "preloaded" else 0
    engine = _engine(preload)
    srv = clients = None
    try:
        if preload:
            # The engine's own throughput: every command queued before it starts (the
            # prefill's too), timed from start() until the shard ran them all; this process
            # only waits, and the cores the shard leaves are the feed's and the clients'.
            engine.submit_batch(prefill)
            for i in range(0, len(flow), 1 << 16):
                engine.submit_batch(flow[i : i + (1 << 16)])
            srv, clients = _attach(engine, server, n, nice)
            t0 = time.perf_counter()
            engine.start()
            while engine.stats()["commands"] < preload:
                time.sleep(0.0005)
            dt = time.perf_counter() - t0
            done = preload
        else:
            engine.submit_batch(prefill)
            _drain(engine)
            srv, clients = _attach(engine, server, n, nice)
            poll, submit_batch = engine.poll, engine.submit_batch
            t0 = time.perf_counter()
            for i in range(0, len(flow), chunk):
                submit_batch(flow[i : i + chunk])
                poll(POLL_MAX, 0.0)
            _drain(engine)
            dt = time.perf_counter() - t0
            done = len(flow)
        if clients is not None:
            # What the clients had received when the flow was done (counts refresh every
            # 20 ms): proof that they were fed, printed with the throughput.
            time.sleep(0.05)
            MESSAGES.setdefault(server, []).append(clients.received.value)
        return done / dt
    finally:
        # The server first: the anchor would otherwise write to the clients' closed sockets.
        _detach(srv)
        if clients is not None:
            clients.stop.set()
            with contextlib.suppress(Exception):
                clients.finish()
            # A client process still reading its backlog would run into the next
            # measurement (it once cut the "no server" baseline that followed to a seventh).
            if clients.proc.is_alive():
                clients.proc.kill()
                clients.proc.join(10)
        engine.stop()
        time.sleep(SETTLE_S)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=4000.0, help="paced orders/s (delivery)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--ops", type=int, default=1_000_000, help="orders (throughput)")
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--clients", default="1,10,100")
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-delivery", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--servers",
        default="feed-json,feed-binary,python-ws",
        help="servers to measure; 'none' measures the noise: a run without a server paired "
        "with the run without a server before it",
    )
    p.add_argument(
        "--nice",
        default="0,19",
        help="client (and server) priorities of the throughput runs: 0, 19, idle",
    )
    p.add_argument(
        "--client-impl",
        choices=("python", "rust"),
        default="python",
        help="the clients of the throughput runs: Python websockets (one asyncio process) or "
        "rust/feed/examples/ws_clients.rs (one Rust thread; built with cargo if needed)",
    )
    p.add_argument(
        "--drive",
        default="python",
        help="how the throughput runs feed the engine, a comma list: python (submit_batch "
        "and poll from this process, as a user's program does) and preloaded (every command "
        "queued before the engine starts: the engine's own throughput, this process idle)",
    )
    p.add_argument(
        "--pump-interval",
        type=float,
        default=0.00025,
        help="the feed server's pump_interval, s (engine.serve; 250 us by default)",
    )
    a = p.parse_args()
    global CLIENT_IMPL, PUMP_INTERVAL
    CLIENT_IMPL = a.client_impl
    PUMP_INTERVAL = a.pump_interval
    if CLIENT_IMPL == "rust":
        RustClients.build()
    if a.quick:
        a.rounds, a.seconds, a.ops, a.clients = 1, 1.0, 40_000, "1,10"
    ns = [int(x) for x in a.clients.split(",")]
    prefill, flow = build(max(a.ops, int(a.rate * a.seconds) + SYMBOLS), 42)
    servers = [x for x in a.servers.split(",") if x]
    known = {"feed-json", "feed-binary", "python-ws", "none"}
    if not servers or set(servers) - known:
        p.error(f"--servers: a comma list of {sorted(known)}")
    res: dict[str, Any] = {"delivery": {}, "throughput": {}, "args": vars(a) | {"json": None}}
    res["args"]["client_impl"] = CLIENT_IMPL
    for n in [] if a.skip_delivery else ns:
        for s in [x for x in servers if x != "none"]:
            runs = [delivery(s, n, flow, prefill, a) for _ in range(a.rounds)]
            med = {
                k: statistics.median(r[k] for r in runs if r[k] is not None)
                if any(r[k] is not None for r in runs)
                else None
                for k in runs[0]
            }
            res["delivery"][f"{s}/{n}"] = med
            p50 = "-" if med["p50_us"] is None else f"{med['p50_us']:.0f}"
            p99 = "-" if med["p99_us"] is None else f"{med['p99_us']:.0f}"
            print(
                f"delivery {s:12} {n:4} clients: {med['messages_per_s']:>10,.0f} msg/s"
                f"  latency p50 {p50} us  p99 {p99} us  ({med['messages']:.0f} messages)",
                flush=True,
            )
    n = max(ns)
    modes: list[int | str] = [x if x == "idle" else int(x) for x in a.nice.split(",") if x]
    drives = [d for d in a.drive.split(",") if d]
    if set(drives) - {"python", "preloaded"}:
        p.error("--drive: a comma list of python, preloaded")
    for drive, nice in [(d, m) for d in drives for m in modes]:
        # Each server's run right after a run with no server: the ratio of each pair, then
        # the median of the ratios (the machine's speed drifts between rounds).
        tput: dict[str, list[float]] = {s: [] for s in ["none", *servers]}
        ratios: dict[str, list[float]] = {s: [] for s in servers}
        if "none" in servers:
            tput["none (control)"] = tput.pop("none")
            tput["none"] = []
        for r in range(a.rounds):
            for s in servers:
                # Which of the pair runs first alternates (A B, then B A): a run right after
                # a server's teardown started slower, which favoured the server when "no
                # server" always came first ("none" against "none" gave 1.13-1.19).
                if r % 2 == 0:
                    alone = throughput("none", n, flow[: a.ops], prefill, a.chunk, nice, drive)
                    got = throughput(s, n, flow[: a.ops], prefill, a.chunk, nice, drive)
                else:
                    got = throughput(s, n, flow[: a.ops], prefill, a.chunk, nice, drive)
                    alone = throughput("none", n, flow[: a.ops], prefill, a.chunk, nice, drive)
                tput["none"].append(alone)
                tput["none (control)" if s == "none" else s].append(got)
                ratios[s].append(got / alone)
        key = "clients_idle" if nice == "idle" else f"clients_nice_{nice}"
        if drive == "preloaded":
            key = f"preloaded_{key}"
        res["throughput"][key] = {}
        for s, v in tput.items():
            med = statistics.median(v)
            r = ratios.get("none" if s == "none (control)" else s) if s != "none" else None
            ratio = statistics.median(r) if r else 1.0
            got = MESSAGES.pop(s, [])
            msgs = statistics.median(got) if got else 0
            res["throughput"][key][s] = {
                "orders_per_s": med,
                "ratio": ratio,
                "runs": v,
                "client_messages": got,
            }
            unit = "orders/s" if drive == "python" else "commands/s, preloaded"
            print(
                f"engine throughput, {s:14} ({0 if s.startswith('none') else n} clients,"
                f" nice {nice!s:>4}):"
                f" {med:>10,.0f} {unit}  {100 * ratio:5.1f} % of no server (paired)"
                + (f"  clients received {msgs:,.0f} messages" if got else ""),
                flush=True,
            )
    if a.json:
        a.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
