//! The engine against a plain `hftbook_core::OrderBook`: for every symbol, the commands in the
//! order the shard executed them (rebuilt from the events' `cmd_seq`) fed to a bare book give
//! the same reports and the same final depth. Plus the event-stream invariants: every order
//! accounted for once, gap-free per-symbol sequences, balanced fills, consistent leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{check_sequences, dump, engine_with, poll_rest, quiet_config, Rng};
use hftbook_core::{
    CancelReason, Clock, NewOrder, OrderBook, OrderType, Price, QtyLimits, RejectReason, Report,
    Side, TimeInForce,
};
use hftbook_engine::record::{kind, order_type, reason, tif, EVENT_MAKER};
use hftbook_engine::{Engine, Event, OrderRequest};
use proptest::prelude::*;

/// A command as its producer sent it.
#[derive(Clone, Debug)]
enum Sent {
    Submit(OrderRequest),
    Cancel,
    Modify(Option<i64>, Option<u64>),
}

/// What one producer sent: per order, the commands naming it, in send order.
#[derive(Default, Debug)]
struct Log {
    per_order: HashMap<u64, Vec<Sent>>,
    symbol_of: HashMap<u64, u32>,
}

impl Log {
    fn merge(&mut self, other: Log) {
        for (k, v) in other.per_order {
            assert!(
                self.per_order.insert(k, v).is_none(),
                "order id {k} issued twice"
            );
        }
        self.symbol_of.extend(other.symbol_of);
    }
}

/// One random operation (indices are reduced modulo what exists).
#[derive(Clone, Debug)]
struct Op {
    what: u8,
    sym: usize,
    buy: bool,
    px: i64,
    qty: u64,
    tif: u8,
    target: usize,
}

fn op_from_rng(r: &mut Rng) -> Op {
    Op {
        what: r.below(100) as u8,
        sym: r.below(64) as usize,
        buy: r.below(2) == 0,
        px: r.below(12) as i64,
        qty: 1 + r.below(9),
        tif: r.below(10) as u8,
        target: r.below(1 << 20) as usize,
    }
}

/// Send one operation; records it in `log`. Orders of this producer are in `mine`.
fn send(e: &Engine, syms: &[u32], op: &Op, account: u32, mine: &mut Vec<u64>, log: &mut Log) {
    // 0..55 limit, 55..65 market, 65..82 cancel, 82..100 modify.
    if op.what < 65 || mine.is_empty() {
        let sym = syms[op.sym % syms.len()];
        let side = if op.buy { Side::Buy } else { Side::Sell };
        // Buys around 95..106, sells around 100..111: plenty of crossing.
        let px = if op.buy { 95 + op.px } else { 100 + op.px };
        let mut r = OrderRequest::limit(sym, side, px, op.qty);
        r.account = account;
        r.client_id = op.target as u64;
        if op.what >= 55 {
            r.order_type = order_type::MARKET;
            r.price = 0;
            r.tif = if op.tif < 7 { tif::IOC } else { tif::FOK };
        } else {
            r.tif = match op.tif {
                0 => tif::IOC,
                1 => tif::FOK,
                _ => tif::GTC,
            };
        }
        let id = e.submit(&r).expect("submit");
        mine.push(id);
        log.per_order.insert(id, vec![Sent::Submit(r)]);
        log.symbol_of.insert(id, sym);
        return;
    }
    let id = mine[op.target % mine.len()];
    let sym = log.symbol_of[&id];
    if op.what < 82 {
        e.cancel(id, Some(sym), account).expect("cancel");
        log.per_order.get_mut(&id).unwrap().push(Sent::Cancel);
    } else {
        let buy = matches!(&log.per_order[&id][0], Sent::Submit(r) if r.side == Side::Buy);
        let price = (op.tif < 7).then_some(if buy { 95 + op.px } else { 100 + op.px });
        let qty = (op.tif >= 4 || price.is_none()).then_some(op.qty);
        e.modify(id, price, qty, Some(sym), account, op.px % 3 == 0)
            .expect("modify");
        log.per_order
            .get_mut(&id)
            .unwrap()
            .push(Sent::Modify(price, qty));
    }
}

/// The normalised form of an outcome, comparable between the engine and a bare book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Norm {
    kind: u8,
    id: u64,
    price: i64,
    qty: u64,
    maker: u64,
    taker: u64,
    reason: u8,
}

fn norm_event(e: &Event) -> Norm {
    match e.kind {
        kind::REJECTED => Norm {
            kind: e.kind,
            id: e.order_id,
            price: 0,
            qty: 0,
            maker: 0,
            taker: 0,
            reason: e.reason,
        },
        _ => Norm {
            kind: e.kind,
            id: e.order_id,
            price: e.price,
            qty: e.qty,
            maker: e.maker_id,
            taker: e.taker_id,
            reason: e.reason,
        },
    }
}

fn norm_reports(reports: &[Report], out: &mut Vec<Norm>) {
    for r in reports {
        let n = |kind, id, price, qty, reason| Norm {
            kind,
            id,
            price,
            qty,
            maker: 0,
            taker: 0,
            reason,
        };
        match *r {
            Report::Accepted { id, price, qty, .. } => {
                out.push(n(kind::ACCEPTED, id, price.0, qty, reason::NONE))
            }
            Report::Fill(f) => {
                for id in [f.taker_id, f.maker_id] {
                    out.push(Norm {
                        maker: f.maker_id,
                        taker: f.taker_id,
                        ..n(kind::FILL, id, f.price, f.qty, reason::NONE)
                    });
                }
            }
            Report::Cancelled {
                id,
                price,
                qty,
                reason: why,
                ..
            } => {
                let rsn = match why {
                    CancelReason::Requested => reason::USER,
                    CancelReason::UnfilledIoc => reason::UNFILLED_IOC,
                    CancelReason::SelfTrade => reason::SELF_TRADE,
                };
                out.push(n(kind::CANCELLED, id, price.0, qty, rsn));
            }
            Report::Modified { id, price, qty, .. } => {
                out.push(n(kind::MODIFIED, id, price.0, qty, reason::NONE))
            }
            Report::Rejected { id, reason: why } => {
                let rsn = match why {
                    RejectReason::FokNotFillable => reason::FOK_NOT_FILLABLE,
                    RejectReason::PostOnlyWouldTake => reason::POST_ONLY_WOULD_TAKE,
                    RejectReason::UnknownOrder => reason::UNKNOWN_ORDER,
                    RejectReason::NoLiquidity => reason::NO_LIQUIDITY,
                    RejectReason::SelfTrade => reason::SELF_TRADE,
                };
                out.push(n(kind::REJECTED, id, 0, 0, rsn));
            }
            Report::Rested { .. } => {}
        }
    }
}

fn to_new_order(id: u64, r: &OrderRequest) -> NewOrder {
    NewOrder {
        id,
        side: r.side,
        order_type: if r.order_type == order_type::MARKET {
            OrderType::Market
        } else {
            OrderType::Limit
        },
        price: Price(r.price),
        qty: r.qty,
        display_qty: r.display_qty,
        tif: match r.tif {
            tif::IOC => TimeInForce::Ioc,
            tif::FOK => TimeInForce::Fok,
            _ => TimeInForce::Gtc,
        },
        post_only: r.post_only,
        account: r.account,
        stp: None,
    }
}

/// Every check of this file on one finished run.
fn check_run(e: &Engine, events: &[Event], log: &Log) {
    check_sequences(events);
    let table = e.symbols();
    let mut by_sym: HashMap<u32, Vec<Event>> = HashMap::new();
    for ev in events {
        if ev.kind != kind::ENGINE {
            by_sym.entry(ev.symbol).or_default().push(*ev);
        }
    }
    // Every issued id: exactly one accepted, or a first event that is its rejection.
    let mut first: HashMap<u64, Event> = HashMap::new();
    let mut accepted: HashMap<u64, usize> = HashMap::new();
    for v in by_sym.values_mut() {
        v.sort_by_key(|ev| ev.symbol_seq);
        for ev in v.iter() {
            if ev.order_id == 0 {
                continue;
            }
            assert!(
                log.per_order.contains_key(&ev.order_id),
                "event names an order nobody sent: {ev:?}"
            );
            first.entry(ev.order_id).or_insert(*ev);
            if ev.kind == kind::ACCEPTED {
                *accepted.entry(ev.order_id).or_default() += 1;
            }
        }
    }
    for id in log.per_order.keys() {
        let f = first
            .get(id)
            .unwrap_or_else(|| panic!("order {id} has no event at all"));
        let acc = accepted.get(id).copied().unwrap_or(0);
        match f.kind {
            kind::ACCEPTED => assert_eq!(acc, 1, "order {id} accepted {acc} times"),
            kind::REJECTED => assert_eq!(acc, 0, "order {id} rejected and accepted"),
            k => panic!(
                "order {id}: first event is {}",
                hftbook_engine::EVENT_KINDS[k as usize]
            ),
        }
    }
    for (&sym, evs) in &by_sym {
        // Fills balance; leaves are consistent with what the stream said before.
        let mut open: HashMap<u64, u64> = HashMap::new();
        for (i, ev) in evs.iter().enumerate() {
            match ev.kind {
                kind::ACCEPTED => {
                    assert_eq!(ev.leaves_qty, ev.qty, "accepted leaves: {ev:?}");
                    open.insert(ev.order_id, ev.qty);
                }
                kind::FILL => {
                    let o = open.entry(ev.order_id).or_default();
                    assert!(*o >= ev.qty, "fill of more than is open ({o}): {ev:?}");
                    *o -= ev.qty;
                    assert_eq!(
                        ev.leaves_qty,
                        *o,
                        "fill leaves_qty disagrees with the order's open lots:\n{}",
                        dump(&evs[i.saturating_sub(6)..(i + 2).min(evs.len())])
                    );
                    if ev.flags & EVENT_MAKER == 0 {
                        assert_eq!(ev.order_id, ev.taker_id, "{ev:?}");
                        let m = &evs[i + 1];
                        assert_eq!(m.kind, kind::FILL, "taker fill without maker fill");
                        assert!(m.flags & EVENT_MAKER != 0, "{m:?}");
                        assert_eq!(
                            (m.order_id, m.maker_id, m.taker_id, m.price, m.qty),
                            (ev.maker_id, ev.maker_id, ev.taker_id, ev.price, ev.qty),
                            "the two sides of a trade differ"
                        );
                        assert_ne!(m.side, ev.side, "both sides of a trade on one side");
                    } else {
                        assert_eq!(ev.order_id, ev.maker_id, "{ev:?}");
                        assert_eq!(evs[i - 1].kind, kind::FILL);
                    }
                }
                kind::MODIFIED => {
                    assert_eq!(ev.leaves_qty, ev.qty, "{ev:?}");
                    open.insert(ev.order_id, ev.qty);
                }
                kind::CANCELLED | kind::EXPIRED => {
                    let o = open.insert(ev.order_id, 0).unwrap_or(0);
                    assert_eq!(ev.qty, o, "cancelled lots differ from open lots: {ev:?}");
                    assert_eq!(ev.leaves_qty, 0, "{ev:?}");
                }
                _ => {}
            }
        }
        // Rebuild the executed command order and replay it on a bare book.
        let mut nth: HashMap<u64, usize> = HashMap::new();
        // The same options the engine gives its books (SymbolConfig::default()).
        let cfg = &table.entries[sym as usize].cfg;
        let mut book: OrderBook = OrderBook::with_options(
            Clock::default(),
            QtyLimits {
                min_qty: cfg.min_qty,
                max_qty: cfg.max_qty,
            },
            cfg.stp,
        );
        let mut reports: Vec<Report> = Vec::new();
        let relevant: Vec<&Event> = evs
            .iter()
            .filter(|ev| {
                matches!(
                    ev.kind,
                    kind::ACCEPTED | kind::REJECTED | kind::FILL | kind::CANCELLED | kind::MODIFIED
                )
            })
            .collect();
        let mut prev_cmd = None;
        for ev in &relevant {
            if prev_cmd == Some(ev.cmd_seq) {
                continue;
            }
            prev_cmd = Some(ev.cmd_seq);
            let id = ev.order_id;
            let k = nth.entry(id).or_default();
            let cmds = &log.per_order[&id];
            let c = cmds.get(*k).unwrap_or_else(|| {
                panic!(
                    "order {id}: command #{k} executed but only {} sent",
                    cmds.len()
                )
            });
            *k += 1;
            match c {
                Sent::Submit(r) => {
                    assert!(
                        matches!(ev.kind, kind::ACCEPTED | kind::REJECTED),
                        "order {id}: submit yielded {ev:?}"
                    );
                    book.submit(&to_new_order(id, r), &mut reports).unwrap();
                }
                Sent::Cancel => {
                    assert!(
                        ev.kind == kind::CANCELLED && ev.reason == reason::USER
                            || ev.kind == kind::REJECTED && ev.reason == reason::UNKNOWN_ORDER,
                        "order {id}: cancel yielded {ev:?}"
                    );
                    let _ = book.cancel(id, &mut reports);
                }
                Sent::Modify(p, q) => {
                    assert!(
                        matches!(ev.kind, kind::MODIFIED | kind::REJECTED),
                        "order {id}: modify yielded {ev:?}"
                    );
                    let _ = book.modify(id, p.map(Price), *q, &mut reports);
                }
            }
        }
        for (id, cmds) in &log.per_order {
            if log.symbol_of[id] == sym {
                assert_eq!(
                    nth.get(id).copied().unwrap_or(0),
                    cmds.len(),
                    "order {id}: not every command sent was executed: {cmds:?}"
                );
            }
        }
        let mut want = Vec::new();
        norm_reports(&reports, &mut want);
        let got: Vec<Norm> = relevant.iter().map(|ev| norm_event(ev)).collect();
        if got != want {
            let at = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            panic!(
                "symbol {sym}: engine and bare-book replay differ at outcome {at} \
                 (engine {} outcomes, replay {}):\n engine {:?}\n replay {:?}",
                got.len(),
                want.len(),
                got.get(at),
                want.get(at)
            );
        }
        // Final depth: the engine's book (read side) equals the replayed book.
        let reader = &table.entries[sym as usize].live.reader;
        let (_, bids, asks) = reader.depth(10_000);
        assert_eq!(bids, book.depth(Side::Buy, 10_000), "symbol {sym} bids");
        assert_eq!(asks, book.depth(Side::Sell, 10_000), "symbol {sym} asks");
        let resting: u64 = bids.iter().chain(&asks).map(|l| l.qty).sum();
        let open_sum: u64 = open.values().sum();
        assert_eq!(
            resting, open_sum,
            "symbol {sym}: lots in the book differ from the open lots of the event stream"
        );
    }
}

fn run_single(ops: &[Op], shards: usize, batch: usize, start_first: bool) {
    let mut cfg = quiet_config(shards);
    cfg.engine.batch_size = batch;
    let (e, syms) = engine_with(cfg, &["S0", "S1", "S2", "S3"]);
    if start_first {
        e.start().unwrap();
    }
    let mut log = Log::default();
    let mut mine = Vec::new();
    for op in ops {
        send(&e, &syms, op, 7, &mut mine, &mut log);
    }
    if !start_first {
        e.start().unwrap();
    }
    let report = e.stop(true, Duration::from_secs(30));
    assert!(report.clean, "{report:?}");
    let mut events = Vec::new();
    poll_rest(&e, &mut events);
    check_run(&e, &events, &log);
}

fn op_strategy() -> impl Strategy<Value = Op> {
    (
        0u8..100,
        0usize..64,
        any::<bool>(),
        0i64..12,
        1u64..10,
        0u8..10,
        0usize..1 << 20,
    )
        .prop_map(|(what, sym, buy, px, qty, tif, target)| Op {
            what,
            sym,
            buy,
            px,
            qty,
            tif,
            target,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// One producer, random flow: the engine equals a bare-book replay of its executed order.
    #[test]
    fn engine_matches_bare_book_replay(
        ops in prop::collection::vec(op_strategy(), 1..250),
        shards in 1usize..4,
        batch in 1usize..6,
        start_first in any::<bool>(),
    ) {
        run_single(&ops, shards, batch, start_first);
    }
}

/// 4 producer threads, 3 shards, 6 symbols, a consumer polling all along.
#[test]
fn threaded_stress_matches_replay() {
    const THREADS: u64 = 4;
    const OPS: usize = 1500;
    let mut cfg = quiet_config(3);
    cfg.engine.batch_size = 8;
    cfg.engine.lane_capacity = 256;
    let (e, syms) = engine_with(cfg, &["A", "B", "C", "D", "E", "F"]);
    let e = Arc::new(e);
    e.start().unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sink = Arc::new(Mutex::new(Vec::new()));
    let consumer = {
        let (e, done, sink) = (e.clone(), done.clone(), sink.clone());
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                e.poll(&mut buf, 4096, Duration::from_millis(2));
            }
            sink.lock().unwrap().extend(buf);
        })
    };
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (e, syms) = (e.clone(), syms.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(t + 1);
                let mut log = Log::default();
                let mut mine = Vec::new();
                for _ in 0..OPS {
                    let op = op_from_rng(&mut rng);
                    send(&e, &syms, &op, t as u32 + 1, &mut mine, &mut log);
                }
                log
            })
        })
        .collect();
    let mut log = Log::default();
    for p in producers {
        log.merge(p.join().unwrap());
    }
    let report = e.stop(true, Duration::from_secs(30));
    assert!(report.clean, "{report:?}");
    done.store(true, std::sync::atomic::Ordering::Release);
    consumer.join().unwrap();
    let mut events = std::mem::take(&mut *sink.lock().unwrap());
    poll_rest(&e, &mut events);
    assert_eq!(log.per_order.len() as u64, e.orders_issued());
    check_run(&e, &events, &log);
}
