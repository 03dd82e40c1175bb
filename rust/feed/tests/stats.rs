//! The `stats` channel, account labels, the strategy metrics, the dashboard's routes, and the
//! feed on an engine in simulation mode, on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hftbook_core::Side;
use hftbook_engine::engine::OrderRequest;
use hftbook_engine::{Engine, EngineConfig, SimConfig, SymbolConfig};
use hftbook_feed::{FeedOptions, FeedServer, StatsError};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const PATIENCE: Duration = Duration::from_secs(30);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A started engine (one shard, book events, AAPL) whose events a thread drains.
fn live_engine() -> (Arc<Engine>, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let mut c = EngineConfig::default();
    c.engine.shards = 1;
    c.engine.book_events = true;
    c.engine.park_ms = 2;
    c.breaker.enabled = false;
    let e = Engine::new(c).unwrap();
    e.add_symbol("AAPL", SymbolConfig::default()).unwrap();
    e.start().unwrap();
    let e = Arc::new(e);
    let stop = Arc::new(AtomicBool::new(false));
    let drain = {
        let (e, s) = (e.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Acquire) {
                v.clear();
                e.poll(&mut v, 1 << 14, Duration::from_millis(5));
            }
        })
    };
    (e, stop, drain)
}

fn server(engine: &Arc<Engine>) -> FeedServer {
    FeedServer::start(
        engine.clone(),
        FeedOptions {
            stats_interval: Duration::from_millis(50),
            ..FeedOptions::default()
        },
    )
    .unwrap()
}

async fn connect(server: &FeedServer) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .unwrap();
    ws
}

async fn subscribe(ws: &mut Ws, channels: &[&str]) {
    let req = json!({"op": "subscribe", "channels": channels}).to_string();
    ws.send(Message::text(req)).await.unwrap();
}

/// The next JSON message, or None when nothing comes within `wait`.
async fn next_json(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Close(f)))) => panic!("closed: {f:?}"),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("socket ended: {other:?}"),
        }
    }
}

/// `stats` messages until one satisfies `done` (checking `cseq` runs 1, 2, 3, ...).
async fn stats_until(ws: &mut Ws, cseq: &mut u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "no stats message satisfied the test"
        );
        let m = next_json(ws, PATIENCE).await.expect("no stats message");
        assert_eq!(m["ch"], "stats", "{m}");
        assert_eq!(m["type"], "stats", "{m}");
        *cseq += 1;
        assert_eq!(m["cseq"].as_u64(), Some(*cseq), "{m}");
        if done(&m) {
            return m;
        }
    }
}

fn limit(e: &Engine, account: u32, side: Side, price: i64, qty: u64) {
    let mut r = OrderRequest::limit(0, side, price, qty);
    r.account = account;
    e.submit(&r).unwrap();
}

fn account(m: &Value, a: u64) -> Option<&Value> {
    m["accounts"]
        .as_array()?
        .iter()
        .find(|x| x["account"].as_u64() == Some(a))
}

#[test]
fn stats_channel_reports_throughput_latency_lanes_halts_and_labelled_pnl() {
    let (engine, stop, drain) = live_engine();
    let srv = server(&engine);
    srv.label_account(7, "maker").unwrap();
    let rt = rt();
    rt.block_on(async {
        let mut ws = connect(&srv).await;
        subscribe(&mut ws, &["stats"]).await;
        let mut cseq = 0;
        let first = stats_until(&mut ws, &mut cseq, |_| true).await;
        for stage in ["queue_wait", "match", "publish"] {
            let s = &first["latency_ns"][stage];
            assert!(s["count"].as_u64().is_some(), "{first}");
        }
        assert_eq!(first["shards"].as_array().unwrap().len(), 1, "{first}");
        assert_eq!(first["breaker"], "closed");
        assert_eq!(first["halted"], json!([]));
        // Reaction times handed over are reported per interval, then start again.
        srv.observe_reaction("maker", &[5_000, 7_000, 9_000])
            .unwrap();
        let r = stats_until(&mut ws, &mut cseq, |m| {
            m["reaction_ns"]["maker"]["count"] == 3
        })
        .await;
        let p50 = r["reaction_ns"]["maker"]["p50"].as_u64().unwrap();
        assert!((6_900..=7_200).contains(&p50), "{r}"); // 2 significant digits
        stats_until(&mut ws, &mut cseq, |m| {
            m["reaction_ns"]["maker"]["count"] == 0
        })
        .await;
        // A labelled account shows up before it trades.
        let a7 = account(&first, 7).expect("labelled account listed");
        assert_eq!(a7["label"], "maker");
        assert_eq!(a7["pnl"].as_f64(), Some(0.0));

        // Account 7 sells 4 @ 1.00 to account 8, then 8 lifts 9's 2 @ 1.01 (the mark).
        limit(&engine, 7, Side::Sell, 100, 4);
        limit(&engine, 8, Side::Buy, 100, 4);
        limit(&engine, 9, Side::Sell, 101, 2);
        limit(&engine, 8, Side::Buy, 101, 2);
        let m = stats_until(&mut ws, &mut cseq, |m| {
            account(m, 8).is_some_and(|a| a["positions"]["AAPL"] == 6)
        })
        .await;
        let a7 = account(&m, 7).unwrap();
        assert_eq!(a7["positions"]["AAPL"], -4, "{m}");
        // Short 4 from 1.00 marked at 1.01: -0.04.
        assert!((a7["pnl"].as_f64().unwrap() + 0.04).abs() < 1e-9, "{m}");
        assert!((a7["unrealized"].as_f64().unwrap() + 0.04).abs() < 1e-9);
        assert_eq!(account(&m, 8).unwrap()["label"], Value::Null);
        assert!(m["orders"].as_u64().unwrap() >= 4);
        // The orders were counted in some interval's rate.
        assert!(m["events"].as_u64().unwrap() > 0);

        engine.halt(0).unwrap();
        stats_until(&mut ws, &mut cseq, |m| m["halted"] == json!(["AAPL"])).await;
    });
    drop(srv);
    stop.store(true, Ordering::Release);
    drain.join().unwrap();
}

#[test]
fn rates_are_per_interval() {
    let (engine, stop, drain) = live_engine();
    let srv = server(&engine);
    let rt = rt();
    rt.block_on(async {
        let mut ws = connect(&srv).await;
        subscribe(&mut ws, &["stats"]).await;
        let mut cseq = 0;
        stats_until(&mut ws, &mut cseq, |_| true).await;
        for i in 0..50 {
            limit(&engine, 1, Side::Buy, 100 - i, 1);
        }
        let busy = stats_until(&mut ws, &mut cseq, |m| {
            m["orders_per_s"].as_f64().unwrap() > 0.0
        })
        .await;
        let dt = busy["interval_s"].as_f64().unwrap();
        assert!(dt > 0.0 && dt < 10.0, "{busy}");
        // Quiet afterwards: the rate falls back to zero (not an average since start).
        stats_until(&mut ws, &mut cseq, |m| {
            m["orders_per_s"].as_f64() == Some(0.0) && m["orders"].as_u64() == Some(50)
        })
        .await;
    });
    drop(srv);
    stop.store(true, Ordering::Release);
    drain.join().unwrap();
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn labels_and_reactions_reach_the_metrics_and_bad_ones_are_refused() {
    let (engine, stop, drain) = live_engine();
    let srv = server(&engine);
    assert!(matches!(
        srv.label_account(1, ""),
        Err(StatsError::BadLabel(_))
    ));
    assert!(matches!(
        srv.label_account(1, "a\nb"),
        Err(StatsError::BadLabel(_))
    ));
    let long = "x".repeat(65);
    let err = srv.label_account(1, &long).unwrap_err();
    assert!(err.to_string().contains("1 to 64"), "{err}");
    assert!(matches!(
        srv.observe_reaction("", &[1]),
        Err(StatsError::BadStrategy(_))
    ));
    srv.label_account(7, "maker").unwrap();
    srv.label_account(8, "taker").unwrap();
    srv.observe_reaction("maker", &[1_500, 3_000, 2_000_000_000])
        .unwrap();
    srv.observe_reaction("maker", &[]).unwrap();
    limit(&engine, 7, Side::Sell, 100, 10);
    limit(&engine, 8, Side::Buy, 100, 4);
    let deadline = Instant::now() + PATIENCE;
    let body = loop {
        let (head, body) = http_get(srv.addr(), "/metrics");
        assert!(head.starts_with("http/1.0 200") || head.starts_with("http/1.1 200"));
        if body.contains(r#"hftbook_strategy_position{strategy="taker",symbol="AAPL"} 4"#) {
            break body;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        body.contains(r#"hftbook_strategy_position{strategy="maker",symbol="AAPL"} -4"#),
        "{body}"
    );
    assert!(
        body.contains(r#"hftbook_strategy_pnl{strategy="maker",account="7"} 0.0"#),
        "{body}"
    );
    assert!(
        body.contains(r#"hftbook_strategy_reaction_seconds_count{strategy="maker"} 3"#),
        "{body}"
    );
    // Buckets from 1 µs doubling: 1.5 µs is under 2 µs, 3 µs under 4 µs, 2 s only under +Inf.
    for (le, n) in [
        ("0.000001", 0),
        ("0.000002", 1),
        ("0.000004", 2),
        ("+Inf", 3),
    ] {
        let line = format!(
            r#"hftbook_strategy_reaction_seconds_bucket{{le="{le}",strategy="maker"}} {n}"#
        );
        assert!(body.contains(&line), "{line} in {body}");
    }
    assert!(body.contains("# TYPE hftbook_strategy_reaction_seconds histogram"));
    drop(srv);
    stop.store(true, Ordering::Release);
    drain.join().unwrap();
}

#[test]
fn dashboard_assets_symbols_and_security_headers() {
    let (engine, stop, drain) = live_engine();
    let srv = server(&engine);
    let (head, page) = http_get(srv.addr(), "/");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'; connect-src 'self' ws:"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"));
    assert!(page.contains(r#"<script src="/dashboard.js""#));
    assert!(page.contains(r#"id="best-bid""#) && page.contains(r#"id="best-ask""#));
    let (head, js) = http_get(srv.addr(), "/dashboard.js");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(js.contains("cseq"));
    let (head, css) = http_get(srv.addr(), "/dashboard.css");
    assert!(head.contains("content-type: text/css"), "{head}");
    // Self-contained: nothing loaded from elsewhere.
    for text in [&page, &js, &css] {
        assert!(!text.contains("http://") && !text.contains("https://"));
        assert!(!text.contains("@import"));
    }
    engine.add_symbol("MSFT", SymbolConfig::default()).unwrap();
    let (head, body) = http_get(srv.addr(), "/symbols");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["symbols"],
        json!([
            {"name": "AAPL", "tick": "0.01", "halted": false},
            {"name": "MSFT", "tick": "0.01", "halted": false},
        ])
    );
    let (head, _) = http_get(srv.addr(), "/nope");
    assert!(
        head.starts_with("http/1.0 404") || head.starts_with("http/1.1 404"),
        "{head}"
    );
    drop(srv);
    stop.store(true, Ordering::Release);
    drain.join().unwrap();
}

/// The feed on a simulation: the pump's snapshot request is served inside `sim_run`, and a
/// client's book from snapshot + deltas is the engine's when the simulation pauses.
#[test]
fn a_simulation_feeds_clients_an_exact_book() {
    let mut c = EngineConfig::default();
    c.engine.shards = 1;
    c.engine.book_events = true;
    c.breaker.enabled = false;
    c.symbols.insert(
        "AAPL".into(),
        SymbolConfig {
            reference_price: Some(10_000),
            ..SymbolConfig::default()
        },
    );
    let sim = SimConfig {
        seed: 5,
        rate_per_s: 20_000.0,
        ..SimConfig::default()
    };
    let engine = Arc::new(Engine::simulation(c, sim).unwrap());
    engine.start().unwrap();
    let mut out = Vec::new();
    // Orders rest before the server starts: it must learn them from a snapshot.
    engine.sim_run(20_000_000, 0, &mut out).unwrap();
    let srv = server(&engine);
    let run_to = |t: u64| {
        let mut out = Vec::new();
        engine.sim_run(t, 0, &mut out).unwrap();
    };
    let rt = rt();
    rt.block_on(async {
        // No time passes: the snapshot comes all the same (the first follower's snapshot
        // is served at once, the simulation paused).
        run_to(20_000_000);
        let mut ws = connect(&srv).await;
        subscribe(&mut ws, &["l2.AAPL", "trades.AAPL"]).await;
        let mut bids: BTreeMap<i64, u64> = BTreeMap::new();
        let mut asks: BTreeMap<i64, u64> = BTreeMap::new();
        let mut last = 0;
        let mut trades = 0;
        let key = |p: &Value| (p.as_str().unwrap().parse::<f64>().unwrap() * 100.0).round() as i64;
        let mut apply =
            |m: &Value, bids: &mut BTreeMap<i64, u64>, asks: &mut BTreeMap<i64, u64>| {
                if m["ch"] == "trades.AAPL" {
                    trades += 1;
                    return;
                }
                let cseq = m["cseq"].as_u64().unwrap();
                match m["type"].as_str().unwrap() {
                    "snapshot" => {
                        bids.clear();
                        asks.clear();
                        for l in m["bids"].as_array().unwrap() {
                            bids.insert(key(&l[0]), l[1].as_u64().unwrap());
                        }
                        for l in m["asks"].as_array().unwrap() {
                            asks.insert(key(&l[0]), l[1].as_u64().unwrap());
                        }
                    }
                    "delta" => {
                        assert_eq!(cseq, last + 1, "gap");
                        let side = if m["side"] == "bid" {
                            &mut *bids
                        } else {
                            &mut *asks
                        };
                        let q = m["qty"].as_u64().unwrap();
                        if q == 0 {
                            side.remove(&key(&m["price"]));
                        } else {
                            side.insert(key(&m["price"]), q);
                        }
                    }
                    other => panic!("unexpected {other}"),
                }
                last = cseq;
            };
        let snap = next_json(&mut ws, PATIENCE).await.expect("snapshot");
        assert_eq!(snap["type"], "snapshot", "{snap}");
        assert!(!snap["bids"].as_array().unwrap().is_empty());
        apply(&snap, &mut bids, &mut asks);
        for step in 1..=10u64 {
            run_to(20_000_000 + step * 2_000_000);
        }
        while let Some(m) = next_json(&mut ws, Duration::from_millis(500)).await {
            apply(&m, &mut bids, &mut asks);
        }
        let t = engine.symbols();
        let (_, b, a) = t.entries[0].live.reader.depth(100_000);
        let want_b: BTreeMap<i64, u64> = b.iter().map(|l| (l.price.0, l.qty)).collect();
        let want_a: BTreeMap<i64, u64> = a.iter().map(|l| (l.price.0, l.qty)).collect();
        assert_eq!(bids, want_b);
        assert_eq!(asks, want_a);
        assert!(trades > 0, "no trades in 20 ms of flow");
    });
    drop(srv);
    engine.stop(true, Duration::from_secs(5));
}
