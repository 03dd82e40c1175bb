//! The `stats` channel and the per-strategy metrics: engine throughput, per-stage latency
//! percentiles, lane depths, breaker and halt states, and each account's positions and PnL
//! (with the account labels set by [`crate::FeedServer::label_account`]), sent to the
//! channel's subscribers every `stats_interval`; and, in `/metrics`, the labelled accounts'
//! PnL and positions and the strategies' reaction-time histograms.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram as Hdr;
use hftbook_core::Price;
use hftbook_engine::record::breaker;
use hftbook_engine::stats::Latencies;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::{json, Map, Value};

use crate::Shared;

/// Longest account label, in characters.
pub const MAX_LABEL: usize = 64;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Why a label or a reaction sample was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// An account label that is empty, too long or has control characters.
    #[error("account label {0:?}: give 1 to 64 printable characters")]
    BadLabel(String),
    /// A strategy name that is empty, too long or has control characters.
    #[error("strategy name {0:?}: give 1 to 64 printable characters")]
    BadStrategy(String),
}

fn label_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_LABEL && !s.chars().any(char::is_control)
}

fn reaction_histogram() -> Histogram {
    // 1 µs .. about 1 s.
    Histogram::new(exponential_buckets(1e-6, 2.0, 21))
}

/// Labels and reaction histograms, shared by the server's handle, the ticker and `/metrics`.
#[derive(Debug)]
pub(crate) struct StatsState {
    labels: Mutex<BTreeMap<u32, String>>,
    reactions: Family<Labels, Histogram, fn() -> Histogram>,
    /// Reaction times since the last `stats` message, per strategy (ns).
    recent: Mutex<BTreeMap<String, Hdr<u64>>>,
    /// Every reaction time since the start, all strategies (ns).
    all_reactions: Mutex<Hdr<u64>>,
}

impl Default for StatsState {
    fn default() -> Self {
        StatsState {
            labels: Mutex::new(BTreeMap::new()),
            reactions: Family::new_with_constructor(reaction_histogram as fn() -> Histogram),
            recent: Mutex::new(BTreeMap::new()),
            all_reactions: Mutex::new(
                Hdr::new_with_bounds(1, 3_600_000_000_000, 3)
                    .unwrap_or_else(|_| unreachable!("1 ns .. 1 h at 3 digits are valid bounds")),
            ),
        }
    }
}

impl StatsState {
    fn labels(&self) -> MutexGuard<'_, BTreeMap<u32, String>> {
        self.labels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Name `account` (a strategy's name, usually).
    pub(crate) fn label_account(&self, account: u32, name: &str) -> Result<(), StatsError> {
        if !label_ok(name) {
            return Err(StatsError::BadLabel(name.chars().take(80).collect()));
        }
        self.labels().insert(account, name.to_owned());
        Ok(())
    }

    /// Every strategy's reaction times in one histogram (None before any sample).
    pub(crate) fn reactions_merged(&self) -> Option<crate::metrics::Buckets> {
        let all = self.all_reactions.lock().unwrap_or_else(|p| p.into_inner());
        (!all.is_empty()).then(|| crate::metrics::hdr_buckets(&all))
    }

    /// Record reaction times (ns) of `strategy`.
    pub(crate) fn observe_reaction(&self, strategy: &str, ns: &[u64]) -> Result<(), StatsError> {
        if !label_ok(strategy) {
            return Err(StatsError::BadStrategy(strategy.chars().take(80).collect()));
        }
        if ns.is_empty() {
            return Ok(());
        }
        let h = self
            .reactions
            .get_or_create(&vec![("strategy".to_owned(), strategy.to_owned())]);
        for &v in ns {
            h.observe(v as f64 / 1e9);
        }
        drop(h);
        {
            let mut all = self.all_reactions.lock().unwrap_or_else(|p| p.into_inner());
            for &v in ns {
                all.saturating_record(v.max(1));
            }
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if !recent.contains_key(strategy) {
            // 1 µs .. 1 h at 2 significant digits: small, and plenty for a chart.
            let Ok(h) = Hdr::new_with_bounds(1_000, 3_600_000_000_000, 2) else {
                return Ok(());
            };
            recent.insert(strategy.to_owned(), h);
        }
        if let Some(h) = recent.get_mut(strategy) {
            for &v in ns {
                h.saturating_record(v.max(1));
            }
        }
        Ok(())
    }
}

/// One account's position in one symbol, in display units.
#[derive(Debug, Clone, PartialEq)]
struct Holding {
    account: u32,
    symbol: String,
    /// Lots.
    net: i64,
    realized: f64,
    unrealized: f64,
    fees: f64,
}

impl Holding {
    fn total(&self) -> f64 {
        self.realized + self.unrealized - self.fees
    }
}

/// Every account's positions, money in the quote currency (marked at the last trade, as
/// `Engine.pnl` does).
fn holdings(shared: &Shared) -> Vec<Holding> {
    let table = shared.engine.symbols();
    shared
        .engine
        .positions(None)
        .into_iter()
        .filter_map(|(account, sym, p)| {
            let e = table.entries.get(sym as usize)?;
            let unit = e.cfg.tick.to_f64(Price(1)) * e.cfg.lot_size as f64;
            let last = e.live.last_trade.load(Ordering::Acquire);
            let unrealized = if last == i64::MIN {
                0.0
            } else {
                p.unrealized(last) as f64 * unit
            };
            Some(Holding {
                account,
                symbol: e.name.clone(),
                net: p.net,
                realized: p.realized as f64 * unit,
                unrealized,
                fees: p.fees_bps as f64 / 10_000.0 * unit,
            })
        })
        .collect()
}

/// Fill `reg` with the strategy metrics (labelled accounts only).
pub(crate) fn register(reg: &mut Registry, shared: &Shared) {
    let labels = shared.stats.labels().clone();
    let pnl = Family::<Labels, FloatGauge>::default();
    let position = Family::<Labels, Gauge>::default();
    let mut totals: BTreeMap<u32, f64> = labels.keys().map(|a| (*a, 0.0)).collect();
    for h in holdings(shared) {
        let Some(name) = labels.get(&h.account) else {
            continue;
        };
        *totals.entry(h.account).or_default() += h.total();
        position
            .get_or_create(&vec![
                ("strategy".to_owned(), name.clone()),
                ("symbol".to_owned(), h.symbol.clone()),
            ])
            .set(h.net);
    }
    for (account, total) in totals {
        if let Some(name) = labels.get(&account) {
            pnl.get_or_create(&vec![
                ("strategy".to_owned(), name.clone()),
                ("account".to_owned(), account.to_string()),
            ])
            .set(total);
        }
    }
    reg.register(
        "hftbook_strategy_pnl",
        "Realized + unrealized PnL minus fees of a strategy's account, quote currency \
         (marked at the last trade)",
        pnl,
    );
    reg.register(
        "hftbook_strategy_position",
        "Net position of a strategy in a symbol, lots",
        position,
    );
    reg.register(
        "hftbook_strategy_reaction_seconds",
        "Strategy reaction time: from the events reaching it to each order it sent",
        shared.stats.reactions.clone(),
    );
}

/// Count, p50 / p90 / p99 / max of `h`, ns (null values when empty).
fn percentiles(h: Option<&Hdr<u64>>) -> Value {
    match h {
        Some(h) if !h.is_empty() => json!({
            "count": h.len(),
            "p50": h.value_at_quantile(0.5),
            "p90": h.value_at_quantile(0.9),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
        }),
        _ => json!({"count": 0, "p50": null, "p90": null, "p99": null, "max": null}),
    }
}

/// The ticker's memory: the previous cumulative figures, to report per interval.
#[derive(Debug)]
pub(crate) struct Ticker {
    at: Instant,
    orders: u64,
    events: u64,
    latencies: Vec<Latencies>,
}

impl Ticker {
    pub(crate) fn new(shared: &Shared) -> Ticker {
        let stats = shared.engine.shard_stats();
        Ticker {
            at: Instant::now(),
            orders: shared.engine.orders_issued(),
            events: stats.iter().map(|s| s.events).sum(),
            latencies: stats.into_iter().map(|s| s.latencies).collect(),
        }
    }

    /// The `stats` message body (without `cseq`) for the interval since the last call.
    pub(crate) fn message(&mut self, shared: &Shared) -> String {
        let e = &shared.engine;
        let now = Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64().max(1e-9);
        let stats = e.shard_stats();
        let orders = e.orders_issued();
        let events: u64 = stats.iter().map(|s| s.events).sum();
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / dt;

        // Per stage: this interval's samples of every shard together.
        let mut stage: [Option<Hdr<u64>>; 3] = [None, None, None];
        for (i, s) in stats.iter().enumerate() {
            let prev = self.latencies.get(i);
            let parts = [
                (&s.latencies.queue_wait, prev.map(|p| &p.queue_wait)),
                (&s.latencies.matching, prev.map(|p| &p.matching)),
                (&s.latencies.publish, prev.map(|p| &p.publish)),
            ];
            for (slot, (cur, before)) in stage.iter_mut().zip(parts) {
                let mut d = cur.clone();
                if let Some(b) = before {
                    if d.subtract(b).is_err() {
                        // The snapshot was reset (never, today): take it whole.
                        d = cur.clone();
                    }
                }
                match slot {
                    Some(acc) => {
                        let _ = acc.add(&d);
                    }
                    None => *slot = Some(d),
                }
            }
        }
        let mut latency = Map::new();
        for (name, h) in ["queue_wait", "match", "publish"].iter().zip(&stage) {
            let v = percentiles(h.as_ref());
            latency.insert((*name).to_owned(), v);
        }

        let shards: Vec<Value> = stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "shard": i,
                    "priority": s.depth.0,
                    "normal": s.depth.1,
                    "priority_high": s.high_water.0,
                    "normal_high": s.high_water.1,
                    "waits": s.waits.0 + s.waits.1,
                })
            })
            .collect();
        let table = e.symbols();
        let halted: Vec<&str> = table
            .entries
            .iter()
            .filter(|s| s.live.status.load(Ordering::Relaxed) != 0)
            .map(|s| s.name.as_str())
            .collect();
        let breaker_state = breaker::NAMES
            .get(usize::from(e.breaker_state()))
            .copied()
            .unwrap_or("unknown");

        let labels = shared.stats.labels().clone();
        let mut accounts: BTreeMap<u32, (f64, f64, f64, Map<String, Value>)> = labels
            .keys()
            .map(|a| (*a, (0.0, 0.0, 0.0, Map::new())))
            .collect();
        for h in holdings(shared) {
            let a = accounts.entry(h.account).or_default();
            a.0 += h.realized;
            a.1 += h.unrealized;
            a.2 += h.fees;
            a.3.insert(h.symbol.clone(), json!(h.net));
        }
        let accounts: Vec<Value> = accounts
            .into_iter()
            .map(|(account, (realized, unrealized, fees, positions))| {
                json!({
                    "account": account,
                    "label": labels.get(&account),
                    "pnl": realized + unrealized - fees,
                    "realized": realized,
                    "unrealized": unrealized,
                    "fees": fees,
                    "positions": positions,
                })
            })
            .collect();
        let reaction: Map<String, Value> = {
            let mut recent = shared
                .stats
                .recent
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let out = recent
                .iter()
                .map(|(name, h)| (name.clone(), percentiles(Some(h))))
                .collect();
            for h in recent.values_mut() {
                h.reset();
            }
            out
        };
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let c = &shared.counters;
        let body = json!({
            "ch": "stats",
            "type": "stats",
            "ts": e.now(),
            "wall_ms": wall_ms,
            "interval_s": dt,
            "orders_per_s": rate(orders, self.orders),
            "events_per_s": rate(events, self.events),
            "orders": orders,
            "events": events,
            "latency_ns": latency,
            "reaction_ns": reaction,
            "shards": shards,
            "breaker": breaker_state,
            "halted": halted,
            "accounts": accounts,
            "feed": {
                "clients": c.clients.load(Ordering::Relaxed),
                "conflations": c.conflations.load(Ordering::Relaxed),
            },
        });
        self.at = now;
        self.orders = orders;
        self.events = events;
        self.latencies = stats.into_iter().map(|s| s.latencies).collect();
        body.to_string()
    }
}

/// Run the ticker until the server stops: every `period`, when some client follows
/// `stats`, one message.
pub(crate) async fn run(shared: std::sync::Arc<Shared>, period: Duration) {
    let mut ticker = Ticker::new(&shared);
    let mut every = tokio::time::interval(period.max(Duration::from_millis(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !shared.hub().follows_stats() {
            continue;
        }
        let body = ticker.message(&shared);
        shared.hub().publish_stats(body.into());
    }
}
