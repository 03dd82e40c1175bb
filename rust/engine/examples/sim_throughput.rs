//! Background flow throughput of simulation mode, no strategies:
//! `cargo run --release -p hftbook-engine --example sim_throughput -- [sim_seconds] [symbols]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use hftbook_engine::{Engine, EngineConfig, SimConfig, SymbolConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map_or(2.0, |a| a.parse().unwrap());
    let n_syms: usize = args.next().map_or(3, |a| a.parse().unwrap());
    let mut c = EngineConfig::default();
    c.breaker.enabled = false;
    c.engine.book_events = true;
    for i in 0..n_syms {
        let s = SymbolConfig {
            reference_price: Some(10_000 + 1_000 * i as i64),
            ..SymbolConfig::default()
        };
        c.symbols.insert(format!("SYM{i}"), s);
    }
    let e = Engine::simulation(c, SimConfig::default()).unwrap();
    e.start().unwrap();
    let until = (secs * 1e9) as u64;
    let mut out = Vec::with_capacity(1 << 16);
    let t0 = Instant::now();
    let mut t = 0;
    let mut events = 0usize;
    while t < until {
        t = e.sim_run(until, 1_000_000, &mut out).unwrap();
        events += out.len();
        out.clear();
    }
    let wall = t0.elapsed().as_secs_f64();
    let c = e.sim_counters().unwrap();
    println!(
        "{secs} simulated s, {n_syms} symbols: {} background orders, {} cancels, {events} events in {wall:.3} s wall: {:.0} orders/s, {:.0} messages/s, {:.0} events/s",
        c.background_orders,
        c.background_cancels,
        c.background_orders as f64 / wall,
        (c.background_orders + c.background_cancels) as f64 / wall,
        events as f64 / wall
    );
}
