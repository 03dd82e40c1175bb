//! The feed server on loopback: snapshot + deltas reproduce the engine's depth, protocol
//! errors close with a reason, slow clients are conflated or disconnected without slowing
//! anyone else, and `/metrics` is well-formed exposition text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hftbook_core::Side;
use hftbook_engine::engine::OrderRequest;
use hftbook_engine::{Engine, EngineConfig, SymbolConfig};
use hftbook_feed::{FeedOptions, FeedServer, SLOW_TRADES};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PATIENCE: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bids and asks as (price string, qty, orders), best first.
type Depth = (Vec<(String, u64, u64)>, Vec<(String, u64, u64)>);

/// A started engine with book events and one symbol, its events drained by a thread.
struct Fixture {
    engine: Arc<Engine>,
    sym: u32,
    stop: Arc<AtomicBool>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Fixture {
    fn new() -> Fixture {
        let mut c = EngineConfig::default();
        c.engine.shards = 1;
        c.engine.book_events = true;
        c.engine.event_capacity = 1 << 16;
        c.engine.park_ms = 2;
        c.breaker.enabled = false;
        let e = Engine::new(c).unwrap();
        let sym = e.add_symbol("AAPL", SymbolConfig::default()).unwrap();
        e.start().unwrap();
        let engine = Arc::new(e);
        let stop = Arc::new(AtomicBool::new(false));
        let drain = {
            let (e, s) = (engine.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut v = Vec::new();
                while !s.load(Ordering::Acquire) {
                    v.clear();
                    e.poll(&mut v, 1 << 14, Duration::from_millis(5));
                }
            })
        };
        Fixture {
            engine,
            sym,
            stop,
            drain: Some(drain),
        }
    }

    fn limit(&self, side: Side, price: i64, qty: u64) {
        self.engine
            .submit(&OrderRequest::limit(self.sym, side, price, qty))
            .unwrap();
    }

    /// Wait until the engine executed every order issued so far.
    fn settle(&self) {
        let deadline = Instant::now() + PATIENCE;
        let want = self.engine.orders_issued();
        while self
            .engine
            .shard_stats()
            .iter()
            .map(|s| s.commands)
            .sum::<u64>()
            < want
        {
            assert!(Instant::now() < deadline, "the engine never caught up");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The engine's book: (bids, asks) as (price string, qty, orders), best first.
    fn depth(&self) -> Depth {
        let t = self.engine.symbols();
        let s = &t.entries[self.sym as usize];
        let (_, b, a) = s.live.reader.depth(100_000);
        let conv = |v: Vec<hftbook_core::LevelView>| {
            v.into_iter()
                .map(|l| (s.cfg.tick.format(l.price), l.qty, u64::from(l.orders)))
                .collect()
        };
        (conv(b), conv(a))
    }

    fn server(&self, queue_capacity: usize) -> FeedServer {
        FeedServer::start(
            self.engine.clone(),
            FeedOptions {
                queue_capacity,
                ..FeedOptions::default()
            },
        )
        .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(d) = self.drain.take() {
            d.join().unwrap();
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(server: &FeedServer, small_rcvbuf: bool) -> Ws {
    connect_to(server, small_rcvbuf, "/ws").await
}

async fn connect_to(server: &FeedServer, small_rcvbuf: bool, path: &str) -> Ws {
    let addr = server.addr();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if small_rcvbuf {
        sock.set_recv_buffer_size(4096).unwrap();
    }
    let stream = sock.connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}{path}"),
        MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn subscribe(ws: &mut Ws, channels: &[&str]) {
    send(
        ws,
        serde_json::json!({"op": "subscribe", "channels": channels}),
    )
    .await;
}

/// The next frame (panics after the patience).
async fn next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("timed out waiting for a frame")
        .map(|m| m.unwrap())
}

/// The close frame the server ends with, skipping data messages.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Close(Some(f))) => return (f.code.into(), f.reason.to_string()),
            Some(Message::Close(None)) | None => panic!("closed without a close frame"),
            Some(_) => {}
        }
    }
}

/// A local book kept from an L2 channel, checking `cseq`.
#[derive(Default, Debug)]
struct Local {
    bids: BTreeMap<i64, (String, u64, u64)>,
    asks: BTreeMap<i64, (String, u64, u64)>,
    cseq: BTreeMap<String, u64>,
    snapshots: u64,
    deltas: u64,
    trades: u64,
    l1: Option<(Value, Value)>,
    /// Binary encoding: symbol id → name.
    names: BTreeMap<u32, String>,
}

fn key(price: &str) -> i64 {
    // Prices are "ddd.cc" at a 0.01 tick.
    (price.parse::<f64>().unwrap() * 100.0).round() as i64
}

impl Local {
    fn apply(&mut self, m: &Value) {
        let ch = m["ch"].as_str().unwrap().to_string();
        let cseq = m["cseq"].as_u64().unwrap();
        let ty = m["type"].as_str().unwrap();
        assert!(m["seq"].as_u64().is_some(), "no seq in {m}");
        if let Some(prev) = self.cseq.get(&ch) {
            // Deltas must follow each other; l1 / status messages are whole states.
            if ty == "delta" {
                assert_eq!(cseq, prev + 1, "cseq skipped on {ch}: {m}");
            }
        }
        self.cseq.insert(ch.clone(), cseq);
        match ty {
            "snapshot" => {
                self.snapshots += 1;
                self.bids.clear();
                self.asks.clear();
                for (side, book) in [("bids", &mut self.bids), ("asks", &mut self.asks)] {
                    for l in m[side].as_array().unwrap() {
                        let p = l[0].as_str().unwrap().to_string();
                        book.insert(key(&p), (p, l[1].as_u64().unwrap(), l[2].as_u64().unwrap()));
                    }
                }
            }
            "delta" => {
                assert!(self.snapshots > 0, "delta before the snapshot: {m}");
                self.deltas += 1;
                let book = if m["side"] == "bid" {
                    &mut self.bids
                } else {
                    &mut self.asks
                };
                let p = m["price"].as_str().unwrap().to_string();
                let q = m["qty"].as_u64().unwrap();
                if q == 0 {
                    book.remove(&key(&p));
                } else {
                    book.insert(key(&p), (p, q, m["orders"].as_u64().unwrap()));
                }
            }
            "trade" => self.trades += 1,
            "l1" => self.l1 = Some((m["bid"].clone(), m["ask"].clone())),
            _ => {}
        }
    }

    /// A binary frame as the JSON message it stands for (None for a `symbol` message,
    /// whose name it records). The symbol's tick is 0.01.
    fn decode(&mut self, b: &[u8]) -> Option<Value> {
        use hftbook_feed::wire;
        use serde_json::json;
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let px = |at: usize| {
            let t = u64_at(at) as i64;
            format!("{}.{:02}", t / 100, t % 100)
        };
        assert_eq!(b[0], wire::VERSION);
        let (seq, cseq) = (u64_at(8), u64_at(16));
        let name = self
            .names
            .get(&u32::from_le_bytes(b[4..8].try_into().unwrap()));
        let msg = match b[1] {
            wire::T_SYMBOL => {
                assert_eq!(u64_at(24), 1, "tick mantissa");
                assert_eq!(b[32], 2, "tick scale");
                let n = b[33] as usize;
                let name = std::str::from_utf8(&b[34..34 + n]).unwrap().to_string();
                self.names
                    .insert(u32::from_le_bytes(b[4..8].try_into().unwrap()), name);
                return None;
            }
            wire::T_SNAPSHOT => {
                let nb = u32::from_le_bytes(b[24..28].try_into().unwrap()) as usize;
                let na = u32::from_le_bytes(b[28..32].try_into().unwrap()) as usize;
                assert_eq!(b.len(), 32 + 24 * (nb + na));
                let lv = |i: usize| {
                    let at = 32 + 24 * i;
                    json!([px(at), u64_at(at + 8), u64_at(at + 16)])
                };
                json!({"ch": format!("l2.{}", name.unwrap()), "type": "snapshot",
                       "bids": (0..nb).map(lv).collect::<Vec<_>>(),
                       "asks": (nb..nb + na).map(lv).collect::<Vec<_>>()})
            }
            wire::T_DELTA => {
                assert_eq!(b.len(), 56);
                json!({"ch": format!("l2.{}", name.unwrap()), "type": "delta",
                       "side": if b[48] == 0 { "bid" } else { "ask" },
                       "price": px(24), "qty": u64_at(32), "orders": u64_at(40)})
            }
            wire::T_L1 => {
                let side = |at: usize| {
                    if u64_at(at + 8) == 0 {
                        Value::Null
                    } else {
                        json!([px(at), u64_at(at + 8)])
                    }
                };
                json!({"ch": format!("l1.{}", name.unwrap()), "type": "l1",
                       "bid": side(24), "ask": side(40)})
            }
            wire::T_TRADE => {
                json!({"ch": format!("trades.{}", name.unwrap()), "type": "trade",
                       "price": px(24), "qty": u64_at(32), "ts": u64_at(40),
                       "aggressor": if b[48] == 0 { "buy" } else { "sell" }})
            }
            wire::T_STATUS => {
                json!({"ch": format!("status.{}", name.unwrap()), "type": "status",
                       "state": if b[24] == 0 { "trading" } else { "halted" }})
            }
            t => panic!("unknown message type {t}"),
        };
        let mut msg = msg;
        msg["seq"] = json!(seq);
        msg["cseq"] = json!(cseq);
        Some(msg)
    }

    fn depth(&self) -> Depth {
        (
            self.bids.values().rev().cloned().collect(),
            self.asks.values().cloned().collect(),
        )
    }
}

/// Read and apply messages until the local book equals the engine's (or panic).
async fn sync_to(ws: &mut Ws, local: &mut Local, fx: &Fixture) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if local.snapshots > 0 && local.depth() == fx.depth() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "local book never matched:\n{:?}\nengine:\n{:?}",
            local.depth(),
            fx.depth()
        );
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                local.apply(&serde_json::from_str(t.as_str()).unwrap());
            }
            Ok(Some(Ok(Message::Binary(b)))) => {
                if let Some(m) = local.decode(&b) {
                    local.apply(&m);
                }
            }
            Ok(Some(Ok(Message::Close(f)))) => panic!("closed: {f:?}"),
            Ok(None) => panic!("stream ended"),
            _ => {}
        }
    }
}

#[test]
fn snapshot_then_deltas_reproduce_the_engines_depth() {
    let fx = Fixture::new();
    // Orders before the server starts: the pump learns them from the engine's snapshot.
    for i in 0..5 {
        fx.limit(Side::Buy, 10_000 - i, 10 + i as u64);
        fx.limit(Side::Sell, 10_010 + i, 5);
    }
    fx.settle();
    let server = fx.server(4096);
    rt().block_on(async {
        let mut ws = connect(&server, false).await;
        subscribe(
            &mut ws,
            &["l2.AAPL", "l1.AAPL", "trades.AAPL", "status.AAPL"],
        )
        .await;
        let mut local = Local::default();
        sync_to(&mut ws, &mut local, &fx).await;
        assert_eq!(local.bids.len(), 5);
        // Deltas: new levels, a trade through two levels, cancels by trading.
        for i in 0..20 {
            fx.limit(Side::Buy, 9_990 - i, 3);
            fx.limit(Side::Sell, 10_020 + i, 4);
        }
        fx.limit(Side::Buy, 10_011, 7); // takes 10_010 (5) and 2 of 10_011
        fx.limit(Side::Sell, 9_999, 30); // takes 10_000 (10), 9_999 (11), rests 9
        fx.settle();
        sync_to(&mut ws, &mut local, &fx).await;
        assert!(local.deltas >= 40, "{local:?}");
        // The trades arrive too.
        let deadline = Instant::now() + PATIENCE;
        while local.trades < 4 {
            assert!(Instant::now() < deadline, "trades: {}", local.trades);
            if let Some(Message::Text(t)) = next(&mut ws).await {
                local.apply(&serde_json::from_str(t.as_str()).unwrap());
            }
        }
        // And the touch, as l1 messages.
        let (b, a) = fx.depth();
        let want = (
            serde_json::json!([b[0].0, b[0].1]),
            serde_json::json!([a[0].0, a[0].1]),
        );
        while local.l1.as_ref() != Some(&want) {
            assert!(Instant::now() < deadline, "l1 {:?} != {want:?}", local.l1);
            if let Some(Message::Text(t)) = next(&mut ws).await {
                local.apply(&serde_json::from_str(t.as_str()).unwrap());
            }
        }
        // Resubscribing is the resync: a fresh snapshot.
        let before = local.snapshots;
        subscribe(&mut ws, &["l2.AAPL"]).await;
        while local.snapshots == before {
            if let Some(Message::Text(t)) = next(&mut ws).await {
                local.apply(&serde_json::from_str(t.as_str()).unwrap());
            }
        }
        assert_eq!(local.depth(), fx.depth());
    });
    drop(server);
}

#[test]
fn binary_and_json_clients_keep_the_same_book() {
    let fx = Fixture::new();
    for i in 0..5 {
        fx.limit(Side::Buy, 10_000 - i, 10 + i as u64);
        fx.limit(Side::Sell, 10_010 + i, 5);
    }
    fx.settle();
    let server = fx.server(4096);
    rt().block_on(async {
        let channels = ["l2.AAPL", "l1.AAPL", "trades.AAPL", "status.AAPL"];
        let mut bin = connect_to(&server, false, "/ws?encoding=binary").await;
        let mut js = connect_to(&server, false, "/ws?encoding=json").await;
        subscribe(&mut bin, &channels).await;
        subscribe(&mut js, &channels).await;
        let (mut lb, mut lj) = (Local::default(), Local::default());
        sync_to(&mut bin, &mut lb, &fx).await;
        sync_to(&mut js, &mut lj, &fx).await;
        assert!(lb.names.values().any(|n| n == "AAPL"));
        for i in 0..20 {
            fx.limit(Side::Buy, 9_990 - i, 3);
            fx.limit(Side::Sell, 10_020 + i, 4);
        }
        fx.limit(Side::Buy, 10_011, 7);
        fx.limit(Side::Sell, 9_999, 30);
        fx.settle();
        sync_to(&mut bin, &mut lb, &fx).await;
        sync_to(&mut js, &mut lj, &fx).await;
        assert!(lb.deltas >= 40, "{lb:?}");
        let deadline = Instant::now() + PATIENCE;
        while lb.trades < 4 {
            assert!(Instant::now() < deadline, "trades: {}", lb.trades);
            match next(&mut bin).await {
                Some(Message::Binary(b)) => {
                    if let Some(m) = lb.decode(&b) {
                        lb.apply(&m);
                    }
                }
                other => panic!("not a binary frame: {other:?}"),
            }
        }
        // Every channel's cseq counts the same way in both encodings.
        while lj.trades < 4 {
            if let Some(Message::Text(t)) = next(&mut js).await {
                lj.apply(&serde_json::from_str(t.as_str()).unwrap());
            }
        }
        assert_eq!(lb.depth(), lj.depth());
        assert_eq!(lb.cseq.get("l2.AAPL"), lj.cseq.get("l2.AAPL"));
        assert_eq!(lb.cseq.get("trades.AAPL"), lj.cseq.get("trades.AAPL"));
    });
    drop(server);
}

#[test]
fn an_unknown_encoding_is_refused() {
    let fx = Fixture::new();
    let server = fx.server(64);
    let url = format!("ws://{}/ws?encoding=xml", server.addr());
    let err = rt()
        .block_on(tokio_tungstenite::connect_async(url))
        .expect_err("an unknown encoding must be refused");
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("not an HTTP refusal: {err}");
    };
    assert_eq!(resp.status(), 400);
    let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
    assert_eq!(body, "unknown encoding \"xml\": use json or binary");
    drop(server);
}

#[test]
fn unknown_channel_closes_with_a_reason() {
    let fx = Fixture::new();
    let server = fx.server(64);
    rt().block_on(async {
        let mut ws = connect(&server, false).await;
        subscribe(&mut ws, &["l2.NOPE"]).await;
        let (code, why) = close_frame(&mut ws).await;
        assert_eq!(code, 1008);
        assert_eq!(why, "unknown channel: l2.NOPE");
        let mut ws = connect(&server, false).await;
        subscribe(&mut ws, &["depth.AAPL"]).await;
        let (code, why) = close_frame(&mut ws).await;
        assert_eq!((code, why.as_str()), (1008, "unknown channel: depth.AAPL"));
    });
}

#[test]
fn bad_json_oversized_and_binary_frames_close() {
    let fx = Fixture::new();
    let server = fx.server(64);
    rt().block_on(async {
        let mut ws = connect(&server, false).await;
        ws.send(Message::text("{not json")).await.unwrap();
        let (code, why) = close_frame(&mut ws).await;
        assert_eq!(code, 1008);
        assert!(why.starts_with("bad request: "), "{why}");

        let mut ws = connect(&server, false).await;
        send(&mut ws, serde_json::json!({"op": "dance", "channels": []})).await;
        assert_eq!(
            close_frame(&mut ws).await,
            (1008, "unknown op: dance".into())
        );

        let mut ws = connect(&server, false).await;
        let big = format!(
            "{{\"op\":\"subscribe\",\"channels\":[\"{}\"]}}",
            "x".repeat(70_000)
        );
        ws.send(Message::text(big)).await.unwrap();
        let (code, why) = close_frame(&mut ws).await;
        assert_eq!(code, 1009);
        assert!(why.starts_with("message too big"), "{why}");

        let mut ws = connect(&server, false).await;
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        let (code, _) = close_frame(&mut ws).await;
        assert_eq!(code, u16::from(CloseCode::Unsupported));
    });
    // The server is still fine.
    rt().block_on(async {
        let mut ws = connect(&server, false).await;
        subscribe(&mut ws, &["l2.AAPL"]).await;
        let mut local = Local::default();
        sync_to(&mut ws, &mut local, &fx).await;
    });
    let c = server.counters();
    assert!(*c.disconnects.lock().unwrap().get("protocol_error").unwrap() >= 4);
}

#[test]
fn slow_clients_are_conflated_or_disconnected_and_others_keep_up() {
    let fx = Fixture::new();
    let server = fx.server(16);
    rt().block_on(async {
        // Two clients that do not read (small receive windows), one that does.
        let mut slow_l2 = connect(&server, true).await;
        subscribe(&mut slow_l2, &["l2.AAPL", "l1.AAPL"]).await;
        let mut slow_trades = connect(&server, true).await;
        subscribe(&mut slow_trades, &["l2.AAPL", "trades.AAPL"]).await;
        let mut slow_bin = connect_to(&server, true, "/ws?encoding=binary").await;
        subscribe(&mut slow_bin, &["l2.AAPL", "l1.AAPL"]).await;
        let mut fast = connect(&server, false).await;
        subscribe(&mut fast, &["l2.AAPL"]).await;
        let mut local = Local::default();
        sync_to(&mut fast, &mut local, &fx).await;

        // A burst of distinct levels, read by the fast client while it comes.
        let t0 = Instant::now();
        let n = 4000i64;
        let producer = {
            let (e, sym) = (fx.engine.clone(), fx.sym);
            std::thread::spawn(move || {
                for i in 0..n {
                    let (side, px) = if i % 2 == 0 {
                        (Side::Buy, 5_000 - i)
                    } else {
                        (Side::Sell, 15_000 + i)
                    };
                    e.submit(&OrderRequest::limit(sym, side, px, 1)).unwrap();
                }
                // A trade for the trades channel.
                e.submit(&OrderRequest::limit(sym, Side::Buy, 15_001, 1))
                    .unwrap();
            })
        };
        while !producer.is_finished() {
            let _ = tokio::time::timeout(Duration::from_millis(5), async {
                if let Some(Ok(Message::Text(t))) = fast.next().await {
                    local.apply(&serde_json::from_str(t.as_str()).unwrap());
                }
            })
            .await;
        }
        producer.join().unwrap();
        fx.settle();
        let submit_time = t0.elapsed();
        sync_to(&mut fast, &mut local, &fx).await;
        assert_eq!(local.bids.len() + local.asks.len(), n as usize - 1);
        eprintln!("burst of {n} orders submitted in {submit_time:?}");

        let c = server.counters();
        assert!(c.conflations.load(Ordering::Relaxed) >= 1, "no conflation");
        assert_eq!(c.disconnects.lock().unwrap().get("slow_consumer"), Some(&1));

        // The trades client: what was on the wire, then the reason.
        let (code, why) = close_frame(&mut slow_trades).await;
        assert_eq!((code, why.as_str()), (1008, SLOW_TRADES));

        // The conflated client: its book still ends equal to the engine's, from a fresh
        // snapshot (cseq never skips between a snapshot and the deltas after it).
        let mut slow = Local::default();
        sync_to(&mut slow_l2, &mut slow, &fx).await;
        assert!(slow.snapshots >= 2, "{} snapshots", slow.snapshots);
        // The same in binary frames.
        let mut slow = Local::default();
        sync_to(&mut slow_bin, &mut slow, &fx).await;
        assert!(slow.snapshots >= 2, "{} snapshots", slow.snapshots);
        assert!(
            c.conflations.load(Ordering::Relaxed) >= 2,
            "binary client not conflated"
        );
    });
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_are_well_formed() {
    let fx = Fixture::new();
    fx.limit(Side::Buy, 100, 1);
    let server = fx.server(64);
    let rt = rt();
    let ws = rt.block_on(connect(&server, false));
    let deadline = Instant::now() + PATIENCE;
    let body = loop {
        let resp = http_get(server.addr(), "/metrics");
        assert!(resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"));
        let body = resp.split_once("\r\n\r\n").unwrap().1.to_string();
        if body.contains("hftbook_feed_clients 1") {
            break body;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(10));
    };
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.rsplit_once(' ').unwrap();
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name: {line}"
        );
        if let Some(l) = name.strip_prefix(bare).filter(|l| !l.is_empty()) {
            assert!(l.starts_with('{') && l.ends_with('}'), "bad labels: {line}");
        }
    }
    for want in [
        "hftbook_feed_messages_sent_total ",
        "hftbook_feed_conflations_total ",
        "hftbook_feed_disconnects_total{reason=\"slow_consumer\"} 0",
        "hftbook_engine_events_total ",
        "hftbook_engine_orders_total 1",
        "hftbook_engine_lane_depth{shard=\"0\",lane=\"normal\"} ",
        "hftbook_engine_breaker_state{state=\"closed\"} 1",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
    drop(ws);
    let resp = http_get(server.addr(), "/nope");
    assert!(resp.contains(" 404 "), "{resp}");
}

#[test]
fn stop_sends_a_close_frame_and_frees_the_port() {
    let fx = Fixture::new();
    let mut server = fx.server(64);
    let addr = server.addr();
    let rt = rt();
    let mut ws = rt.block_on(connect(&server, false));
    rt.block_on(subscribe(&mut ws, &["l1.AAPL"]));
    std::thread::sleep(Duration::from_millis(50));
    let t = std::thread::spawn(move || {
        server.stop();
        server
    });
    let (code, why) = rt.block_on(close_frame(&mut ws));
    assert_eq!((code, why.as_str()), (1001, "server shutting down"));
    let server = t.join().unwrap();
    assert_eq!(server.addr(), addr);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// (nice, scheduling policy) of each of this process's threads whose name starts with
/// `prefix`.
#[cfg(target_os = "linux")]
fn thread_sched(prefix: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after "(comm)": state is field 3, nice field 19, policy field 41.
        let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        out.push((f[16].parse().unwrap(), f[38].parse().unwrap()));
    }
    out
}

/// The nice value of each of this process's threads whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn thread_nice(prefix: &str) -> Vec<i64> {
    thread_sched(prefix)
        .into_iter()
        .map(|(nice, _)| nice)
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn server_threads_run_at_a_lower_priority_than_the_engine() {
    let fx = Fixture::new();
    let server = fx.server(64);
    // The tokio workers start with the runtime, the pump with the server; each lowers its
    // own priority once running, so a thread just started can still show 0 (a CI run saw
    // [19, 19, 19, 0]): wait until every one has done it.
    let deadline = Instant::now() + PATIENCE;
    let lowered = |n: &[i64]| n.len() >= 3 && n.iter().all(|n| *n == 19);
    let mut nice = thread_nice("hftbook-feed");
    while !lowered(&nice) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        nice = thread_nice("hftbook-feed");
    }
    assert!(nice.len() >= 3, "{nice:?}");
    assert!(nice.iter().all(|n| *n == 19), "{nice:?}");
    // The engine's own threads are left alone.
    assert!(thread_nice("hftbook-shard").iter().all(|n| *n == 0));
    drop(server);
}

#[cfg(target_os = "linux")]
#[test]
fn idle_runs_the_server_threads_under_sched_idle() {
    let fx = Fixture::new();
    let server = FeedServer::start(
        fx.engine.clone(),
        FeedOptions {
            idle: true,
            ..FeedOptions::default()
        },
    )
    .unwrap();
    const SCHED_IDLE: i64 = 5;
    // Other tests' servers run in this process too (nice 19, the normal policy): this
    // server's threads are the ones under SCHED_IDLE, the pump and two tokio workers.
    let idle = || {
        thread_sched("hftbook-feed")
            .iter()
            .filter(|(nice, policy)| (*nice, *policy) == (19, SCHED_IDLE))
            .count()
    };
    let deadline = Instant::now() + PATIENCE;
    while idle() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(idle() >= 3, "{:?}", thread_sched("hftbook-feed"));
    // The engine's threads keep the normal policy.
    assert!(thread_sched("hftbook-shard")
        .iter()
        .all(|(n, p)| (*n, *p) == (0, 0)));
    drop(server);
}

#[test]
fn a_nice_value_out_of_range_is_refused() {
    let fx = Fixture::new();
    for nice in [-1, 20] {
        let got = FeedServer::start(
            fx.engine.clone(),
            FeedOptions {
                nice,
                ..FeedOptions::default()
            },
        );
        match got {
            Err(e @ hftbook_feed::FeedError::Option { field: "nice", .. }) => {
                assert!(
                    e.to_string().starts_with(&format!("nice = {nice}: ")),
                    "{e}"
                );
            }
            Err(e) => panic!("nice {nice}: wrong error {e}"),
            Ok(_) => panic!("nice {nice} was taken"),
        }
    }
}

/// The pump receives book and trade events only of symbols someone follows: a second
/// symbol's orders cost the shard nothing for the feed until a client follows it, and its
/// first follower still gets its whole book (from the shard's snapshot).
#[test]
fn the_pump_receives_only_the_symbols_someone_follows() {
    let fx = Fixture::new();
    let msft = fx
        .engine
        .add_symbol("MSFT", SymbolConfig::default())
        .unwrap();
    let server = fx.server(4096);
    let events_in = || server.counters().events_in.load(Ordering::Relaxed);
    let msft_orders = |n: i64| {
        for i in 0..n {
            fx.engine
                .submit(&OrderRequest::limit(msft, Side::Buy, 5_000 - i, 1))
                .unwrap();
        }
    };
    let quiet = || {
        fx.settle();
        std::thread::sleep(Duration::from_millis(50));
    };
    msft_orders(50);
    fx.limit(Side::Buy, 9_000, 1);
    quiet();
    assert_eq!(events_in(), 0, "nobody follows anything yet");
    rt().block_on(async {
        let mut ws = connect(&server, false).await;
        subscribe(&mut ws, &["l2.AAPL"]).await;
        let mut local = Local::default();
        sync_to(&mut ws, &mut local, &fx).await;
        quiet();
        let before = events_in();
        assert!(before > 0, "AAPL's snapshot");
        msft_orders(50);
        quiet();
        assert_eq!(
            events_in(),
            before,
            "MSFT's book events are not sent to the pump"
        );
        fx.limit(Side::Buy, 9_001, 1);
        fx.settle();
        sync_to(&mut ws, &mut local, &fx).await;
        assert!(events_in() > before);
        // MSFT's first follower gets the 100 orders resting there (two per level).
        subscribe(&mut ws, &["l2.MSFT"]).await;
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "no MSFT snapshot");
            if let Some(Message::Text(t)) = next(&mut ws).await {
                let m: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if m["ch"] == "l2.MSFT" {
                    assert_eq!(m["type"], "snapshot", "{m}");
                    let bids = m["bids"].as_array().unwrap();
                    assert_eq!(bids.len(), 50, "{m}");
                    assert!(bids.iter().all(|l| l[1] == 2 && l[2] == 2), "{m}");
                    assert_eq!(bids[0][0], "50.00", "{m}");
                    break;
                }
            }
        }
    });
}
