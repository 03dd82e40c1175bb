//! Simulation mode: the engine's own shards driven on the caller's thread in simulated time,
//! with calibrated background flow and a latency model, deterministic by construction.
//!
//! An engine built with [`Engine::simulation`] never starts shard threads. Its clock is a
//! manual one the simulator moves. Everything that would reach a shard goes into one
//! time-ordered queue instead:
//!
//! * commands from the engine's API (a strategy's orders, cancels, halts, kill switches):
//!   queued at the engine time they were issued, and arrive `order_entry_latency_ns` later;
//! * the background flow: one [`flow::Agent`] per symbol draws Poisson arrivals and the
//!   cancels and partial cancels of its own orders, applied at their times (no latency);
//! * the shards' timers (GTD expiry, halt ends), at their due times;
//! * commands a shard addresses to other shards (the daily-loss kill switch), at once.
//!
//! Ties are broken by the order items were queued in, so the same seed, configuration and
//! strategy actions give the same commands in the same order, hence the same events, on any
//! machine at any speed. [`Engine::sim_run`] processes the queue up to a time and returns the
//! events; the caller (the Python strategy driver) decides what strategies see and when
//! (`market_data_latency_ns` after the events happened), and their orders are stamped with
//! the decision time.

pub mod flow;

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hftbook_core::Side;
use serde::Deserialize;

use crate::engine::{Engine, EngineError, OrderRequest};
use crate::record::{tif, Command, Event};
use crate::shard::Shard;

pub use flow::{Action, Agent, FlowParams};

/// Per-symbol background flow settings (`[simulation.symbols.NAME]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolFlow {
    /// Messages per simulated second (default: the section's `rate_per_s`).
    pub rate_per_s: Option<f64>,
    /// Annualised volatility of the fundamental (default: the section's).
    pub volatility: Option<f64>,
    /// Background flow on this symbol (default true).
    pub background: Option<bool>,
    /// Where the fundamental starts, ticks (default: the symbol's `reference_price`, else
    /// 10 000 ticks).
    pub start_ticks: Option<i64>,
}

/// Simulation settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Order entry latency: an API command arrives at the shard this long after it was
    /// issued (ns).
    pub order_entry_latency_ns: u64,
    /// Market-data latency: what strategies see at time `t` happened before
    /// `t - market_data_latency_ns` (ns; applied by the driver).
    pub market_data_latency_ns: u64,
    /// Background flow, messages per simulated second per symbol.
    pub rate_per_s: f64,
    /// Annualised volatility of each symbol's fundamental price (of the sample's time).
    pub volatility: f64,
    /// Background flow at all.
    pub background: bool,
    /// Per-symbol overrides.
    pub symbols: BTreeMap<String, SymbolFlow>,
    /// The fitted flow (default: the shipped calibration).
    #[serde(skip)]
    pub flow: Option<FlowParams>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            order_entry_latency_ns: 20_000,
            market_data_latency_ns: 20_000,
            rate_per_s: 100_000.0,
            volatility: 0.3,
            background: true,
            symbols: BTreeMap::new(),
            flow: None,
        }
    }
}

impl SimConfig {
    /// Parse from JSON (the Python layer passes its dict this way).
    ///
    /// # Errors
    /// [`EngineError::Invalid`] naming the field.
    pub fn from_json(text: &str) -> Result<SimConfig, EngineError> {
        let c: SimConfig = serde_json::from_str(text).map_err(|e| EngineError::Invalid {
            field: "simulation",
            value: text.chars().take(200).collect(),
            rule: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Check values.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |field: &'static str, v: f64, rule: &str| EngineError::Invalid {
            field,
            value: v.to_string(),
            rule: rule.into(),
        };
        let rate_ok = |v: f64| v.is_finite() && v > 0.0 && v <= 1e9;
        let vol_ok = |v: f64| v.is_finite() && (0.0..=10.0).contains(&v);
        if !rate_ok(self.rate_per_s) {
            return Err(bad(
                "rate_per_s",
                self.rate_per_s,
                "messages per second in (0, 1e9]",
            ));
        }
        if !vol_ok(self.volatility) {
            return Err(bad("volatility", self.volatility, "annualised, in [0, 10]"));
        }
        for s in self.symbols.values() {
            if let Some(r) = s.rate_per_s {
                if !rate_ok(r) {
                    return Err(bad(
                        "symbols.rate_per_s",
                        r,
                        "messages per second in (0, 1e9]",
                    ));
                }
            }
            if let Some(v) = s.volatility {
                if !vol_ok(v) {
                    return Err(bad("symbols.volatility", v, "annualised, in [0, 10]"));
                }
            }
        }
        if let Some(f) = &self.flow {
            f.validate().map_err(|(field, rule)| EngineError::Invalid {
                field: "flow",
                value: field,
                rule,
            })?;
        }
        Ok(())
    }
}

/// Counters of a simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Background orders sent (limit and marketable).
    pub background_orders: u64,
    /// Background cancels and partial cancels sent.
    pub background_cancels: u64,
    /// Commands from the engine's API (strategies, operators) applied.
    pub api_commands: u64,
    /// Events emitted.
    pub events: u64,
    /// Simulated time reached, ns.
    pub now: u64,
}

enum What {
    /// A command for a shard; `api`: from the engine's API (not the background flow).
    Cmd(usize, Box<Command>, bool),
    Arrive(u32),
    Cancel(u32, u64),
    Reduce(u32, u64, u64),
}

struct Item {
    t: u64,
    n: u64,
    what: What,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.n) == (o.t, o.n)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    // Reversed: `BinaryHeap` is a max-heap and the earliest item must come first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (o.t, o.n).cmp(&(self.t, self.n))
    }
}

/// The simulation's time line: items in (time, queue order). A calendar: the items of the
/// current slot of [`Timeline::SLOT_BITS`] ns in a small binary heap, the later ones in a
/// vector per slot (a binary heap of every pending item — hundreds of thousands of scheduled
/// cancels — made each pop walk a tree far larger than the caches).
#[derive(Default)]
struct Timeline {
    /// Every item before `horizon`.
    near: BinaryHeap<Item>,
    /// The slots at or after `horizon`, each item in the slot of its time.
    far: BTreeMap<u64, Vec<Item>>,
    /// Start of the first slot not in `near` (0: nothing loaded yet).
    horizon: u64,
}

impl Timeline {
    const SLOT_BITS: u32 = 20;

    fn push(&mut self, item: Item) {
        if item.t < self.horizon {
            self.near.push(item);
        } else {
            self.far
                .entry(item.t >> Self::SLOT_BITS)
                .or_default()
                .push(item);
        }
    }

    /// Make `near` hold the earliest item, if there is one.
    fn load(&mut self) {
        if self.near.is_empty() {
            if let Some((slot, items)) = self.far.pop_first() {
                self.horizon = (slot + 1) << Self::SLOT_BITS;
                self.near = BinaryHeap::from(items);
            }
        }
    }

    fn peek_t(&mut self) -> Option<u64> {
        self.load();
        self.near.peek().map(|i| i.t)
    }

    fn pop(&mut self) -> Option<Item> {
        self.load();
        self.near.pop()
    }

    /// Every item, in time line order.
    fn drain_sorted(&mut self) -> Vec<Item> {
        let mut items: Vec<Item> = std::mem::take(&mut self.near).into_vec();
        for (_, v) in std::mem::take(&mut self.far) {
            items.extend(v);
        }
        items.sort_by(|a, b| b.cmp(a));
        self.horizon = 0;
        items
    }

    fn clear(&mut self) {
        self.near.clear();
        self.far.clear();
        self.horizon = 0;
    }
}

pub(crate) struct SimState {
    pub shards: Vec<Shard>,
    heap: Timeline,
    n: u64,
    agents: Vec<Option<Agent>>,
    /// Symbols whose agent has been set up (or declined).
    seen: usize,
    /// Shard of each symbol (symbols never move).
    shard_of: Vec<usize>,
    counters: SimCounters,
}

impl SimState {
    fn push(&mut self, t: u64, what: What) {
        self.n += 1;
        self.heap.push(Item { t, n: self.n, what });
    }
}

/// The simulator inside an engine in simulation mode.
pub(crate) struct Sim {
    pub cfg: SimConfig,
    flow: FlowParams,
    clock: Arc<AtomicU64>,
    inbox: Mutex<Vec<(usize, Command)>>,
    pub state: Mutex<SimState>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("cfg", &self.cfg).finish()
    }
}

impl Sim {
    pub fn new(cfg: SimConfig, clock: Arc<AtomicU64>) -> Sim {
        let flow = cfg.flow.clone().unwrap_or_else(FlowParams::calibrated);
        Sim {
            cfg,
            flow,
            clock,
            inbox: Mutex::new(Vec::new()),
            state: Mutex::new(SimState {
                shards: Vec::new(),
                heap: Timeline::default(),
                n: 0,
                agents: Vec::new(),
                seen: 0,
                shard_of: Vec::new(),
                counters: SimCounters::default(),
            }),
        }
    }

    /// A command from the engine's API (instead of a lane).
    pub fn enqueue(&self, shard: usize, c: Command) {
        self.inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((shard, c));
    }

    fn take_inbox(&self) -> Vec<(usize, Command)> {
        std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Settings valid, and every symbol they name configured.
pub(crate) fn check_sim(
    config: &crate::config::EngineConfig,
    sim: &SimConfig,
) -> Result<(), EngineError> {
    sim.validate()?;
    for name in sim.symbols.keys() {
        if !config.symbols.iter().any(|(n, _)| n == name) {
            return Err(EngineError::Invalid {
                field: "simulation.symbols",
                value: name.clone(),
                rule: "names a symbol the configuration does not have".into(),
            });
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// An engine in simulation mode (see the [module docs](crate::sim)): no shard threads,
    /// a simulated clock starting at 0, background flow per `sim`.
    ///
    /// # Errors
    /// A symbol that cannot be added; invalid simulation settings.
    pub fn simulation(
        config: crate::config::EngineConfig,
        sim: SimConfig,
    ) -> Result<Engine, EngineError> {
        check_sim(&config, &sim)?;
        let (clock, handle) = hftbook_core::Clock::manual(0);
        let mut e = Engine::with_clock(config, clock)?;
        e.sim = Some(Box::new(Sim::new(sim, handle)));
        Ok(e)
    }

    /// Whether this engine runs in simulation mode.
    pub fn is_simulation(&self) -> bool {
        self.sim.is_some()
    }

    /// The simulation settings (simulation mode).
    pub fn sim_config(&self) -> Option<&SimConfig> {
        self.sim.as_deref().map(|s| &s.cfg)
    }

    /// Counters of the simulation (simulation mode).
    pub fn sim_counters(&self) -> Option<SimCounters> {
        let sim = self.sim.as_deref()?;
        let st = lock(&sim.state);
        let mut c = st.counters;
        c.now = sim.clock.load(Ordering::Acquire);
        Some(c)
    }

    /// Set the simulated clock (never backwards): the time strategies act at.
    pub fn sim_set_time(&self, t: u64) {
        if let Some(sim) = self.sim.as_deref() {
            sim.clock.fetch_max(t, Ordering::AcqRel);
        }
    }

    /// Start in simulation mode: build the shards on this thread.
    pub(crate) fn start_sim(&self, shards: Vec<Shard>) {
        let Some(sim) = self.sim.as_deref() else {
            return;
        };
        let mut st = lock(&sim.state);
        st.shards = shards;
        for s in &mut st.shards {
            s.begin_sim();
        }
    }

    fn sim_agents(&self, sim: &Sim, st: &mut SimState) {
        let table = self.shared.symbols.load();
        while st.seen < table.entries.len() {
            let i = st.seen;
            st.seen += 1;
            let e = &table.entries[i];
            st.shard_of.push(e.shard);
            let o = sim.cfg.symbols.get(&e.name);
            let on = sim.cfg.background && o.and_then(|o| o.background).unwrap_or(true);
            if !on {
                st.agents.push(None);
                continue;
            }
            let rate = o.and_then(|o| o.rate_per_s).unwrap_or(sim.cfg.rate_per_s);
            let vol = o.and_then(|o| o.volatility).unwrap_or(sim.cfg.volatility);
            let start = o
                .and_then(|o| o.start_ticks)
                .or(e.cfg.reference_price)
                .unwrap_or(10_000);
            let mut a = Agent::new(
                i as u32,
                sim.cfg.seed,
                sim.flow.clone(),
                rate,
                vol,
                start,
                e.cfg.max_qty,
            );
            let now = sim.clock.load(Ordering::Acquire);
            let t = now + a.next_gap();
            st.agents.push(Some(a));
            st.push(t, What::Arrive(i as u32));
        }
    }

    /// Move what the API queued into the time line (arriving after the entry latency, or at
    /// once for the simulator's own agents).
    fn sim_intake(sim: &Sim, st: &mut SimState, latency: Option<u64>) {
        for (shard, c) in sim.take_inbox() {
            let t = match latency {
                Some(l) => c.ts_enqueued + l,
                None => sim.clock.load(Ordering::Acquire),
            };
            st.push(t, What::Cmd(shard, Box::new(c), latency.is_some()));
        }
    }

    /// Serve now the snapshots that conflating subscribers asked for
    /// ([`crate::Subscription::set_symbols`], [`crate::Subscription::request_snapshot`]).
    /// A simulation's shards otherwise serve them at the next [`Engine::sim_run`]: a feed
    /// client that follows a symbol of a paused simulation gets its book at once. Waits for
    /// a `sim_run` in progress. No-op on a threaded engine (its shards serve them within
    /// `park_ms`).
    pub fn sim_serve_snapshots(&self) {
        if let Some(sim) = self.sim.as_deref() {
            let mut guard = lock(&sim.state);
            for s in &mut guard.shards {
                s.sim_resync();
            }
        }
    }

    /// Process the simulation up to simulated time `until` (inclusive) and append the events
    /// to `out`. With `period > 0`, stop early at the end of the first `period`-aligned
    /// window in which an event happened (the driver delivers per window). Returns the time
    /// reached; the clock stands there.
    ///
    /// # Errors
    /// Not in simulation mode, or not running.
    pub fn sim_run(
        &self,
        until: u64,
        period: u64,
        out: &mut Vec<Event>,
    ) -> Result<u64, EngineError> {
        let Some(sim) = self.sim.as_deref() else {
            return Err(EngineError::Lifecycle {
                action: "run a simulation on (not in simulation mode)",
                state: crate::engine::STATE_NAMES[self.state() as usize],
            });
        };
        let st_now = self.state();
        if st_now != crate::engine::STATE_RUNNING && st_now != crate::engine::STATE_PAUSED {
            return Err(EngineError::Lifecycle {
                action: "run the simulation of",
                state: crate::engine::STATE_NAMES[st_now as usize],
            });
        }
        let mut guard = lock(&sim.state);
        let st = &mut *guard;
        let latency = sim.cfg.order_entry_latency_ns;
        Self::sim_intake(sim, st, Some(latency));
        self.sim_agents(sim, st);
        let start_events = out.len();
        let mut limit = until;
        loop {
            let next_item = st.heap.peek_t();
            let next_timer = st.shards.iter().filter_map(Shard::next_timer).min();
            let t = match (next_item, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if t > limit {
                break;
            }
            let t = t.max(sim.clock.load(Ordering::Acquire).min(t));
            sim.clock.store(t, Ordering::Release);
            if next_timer.is_some_and(|x| x <= t) && next_item.is_none_or(|x| x >= t) {
                for s in &mut st.shards {
                    if s.next_timer().is_some_and(|x| x <= t) {
                        s.sim_timers(t);
                    }
                }
            } else if let Some(item) = st.heap.pop() {
                self.sim_item(st, item);
            }
            for i in 0..st.shards.len() {
                for (shard, c) in st.shards[i].sim_take_outbox() {
                    st.push(t, What::Cmd(shard, Box::new(c), false));
                }
            }
            if period > 0 && limit == until && st.shards.iter().any(Shard::sim_pending) {
                // The first events: run to the end of their window.
                let end = t.div_ceil(period).saturating_mul(period).max(t);
                limit = end.min(until);
            }
        }
        // Published per call, not per command (numbered and hashed per shard); merged in
        // time order (stable: a shard's own order is kept).
        for s in &mut st.shards {
            s.sim_take_events(out);
            // A subscriber that asked for a snapshot gets it now, events or not (the shard
            // threads do this when idle). Nothing to do without subscribers.
            s.sim_resync();
        }
        if st.shards.len() > 1 {
            out[start_events..].sort_by_key(|e| e.ts_processed);
        }
        st.counters.events += (out.len() - start_events) as u64;
        let reached = limit.max(sim.clock.load(Ordering::Acquire));
        sim.clock.store(reached, Ordering::Release);
        Ok(reached)
    }

    fn sim_item(&self, st: &mut SimState, item: Item) {
        let t = item.t;
        match item.what {
            What::Cmd(shard, c, api) => {
                st.counters.api_commands += u64::from(api);
                if let Some(s) = st.shards.get_mut(shard) {
                    s.sim_apply(*c, t);
                }
            }
            What::Arrive(sym) => {
                let shard = st.shard_of.get(sym as usize).copied().unwrap_or(0);
                let touch = st.shards.get(shard).and_then(|s| s.touch(sym));
                let crate::shard::Touch { bid, ask, trading } = touch.unwrap_or_default();
                let Some(Some(agent)) = st.agents.get_mut(sym as usize) else {
                    return;
                };
                let next = t + agent.next_gap();
                let act = if trading {
                    agent.act(t, bid, ask)
                } else {
                    Action::Skip
                };
                st.push(next, What::Arrive(sym));
                match act {
                    Action::Add {
                        side,
                        price,
                        qty,
                        cancel_after,
                        reduce,
                    } => {
                        let side = if side == 0 { Side::Buy } else { Side::Sell };
                        let r = OrderRequest::limit(sym, side, price, qty);
                        if let Some(id) = self.sim_direct(st, t, |e| e.agent_submit(&r)) {
                            st.counters.background_orders += 1;
                            if let Some(after) = cancel_after {
                                st.push(t + after, What::Cancel(sym, id));
                            }
                            if let Some((after, q)) = reduce {
                                st.push(t + after, What::Reduce(sym, id, q));
                            }
                        }
                    }
                    Action::Take { side, price, qty } => {
                        let side = if side == 0 { Side::Buy } else { Side::Sell };
                        let mut r = OrderRequest::limit(sym, side, price, qty);
                        r.tif = tif::IOC;
                        if self.sim_direct(st, t, |e| e.agent_submit(&r)).is_some() {
                            st.counters.background_orders += 1;
                        }
                    }
                    Action::Skip => {}
                }
            }
            What::Cancel(sym, id) => {
                let shard = st.shard_of.get(sym as usize).copied().unwrap_or(0);
                let live = st
                    .shards
                    .get(shard)
                    .and_then(|s| s.resting_qty(sym, id))
                    .is_some();
                if live
                    && self
                        .sim_direct(st, t, |e| e.cancel_command(id, Some(sym), 0))
                        .is_some()
                {
                    st.counters.background_cancels += 1;
                }
            }
            What::Reduce(sym, id, q) => {
                let shard = st.shard_of.get(sym as usize).copied().unwrap_or(0);
                let open = st.shards.get(shard).and_then(|s| s.resting_qty(sym, id));
                if open.is_some_and(|o| o > q)
                    && self
                        .sim_direct(st, t, |e| {
                            e.modify_command(id, None, Some(q), Some(sym), 0, false)
                        })
                        .is_some()
                {
                    st.counters.background_cancels += 1;
                }
            }
        }
    }

    /// An agent's command, checked and numbered as the API's are, applied at `t` at once
    /// (the agents' latency is in their rates): straight into its shard, not through the
    /// API's queue. Returns the command's order id, or None if it was refused.
    fn sim_direct(
        &self,
        st: &mut SimState,
        t: u64,
        make: impl FnOnce(&Engine) -> Result<(usize, Command), EngineError>,
    ) -> Option<u64> {
        let _intake = self.intake().ok()?;
        let (shard, c) = make(self).ok()?;
        let id = c.order_id;
        st.shards.get_mut(shard)?.sim_apply(c, t);
        Some(id)
    }

    /// Stop in simulation mode: apply what the API queued (in time order; background flow
    /// stops), then finish the shards.
    pub(crate) fn stop_sim(&self, drain: bool) -> (u64, Vec<Shard>) {
        let Some(sim) = self.sim.as_deref() else {
            return (0, Vec::new());
        };
        let mut guard = lock(&sim.state);
        let st = &mut *guard;
        let mut drained = 0;
        if drain {
            Self::sim_intake(sim, st, Some(sim.cfg.order_entry_latency_ns));
            for it in st.heap.drain_sorted() {
                if let What::Cmd(shard, c, _) = it.what {
                    let t = it.t.max(sim.clock.load(Ordering::Acquire));
                    sim.clock.store(t, Ordering::Release);
                    if let Some(s) = st.shards.get_mut(shard) {
                        s.sim_apply(*c, t);
                        drained += 1;
                    }
                }
            }
        }
        st.heap.clear();
        let mut shards = std::mem::take(&mut st.shards);
        for s in &mut shards {
            s.sim_finish();
        }
        (drained, shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(t: u64, n: u64) -> Item {
        Item {
            t,
            n,
            what: What::Arrive(0),
        }
    }

    proptest! {
        /// The calendar gives the items in the order one binary heap of all of them does,
        /// for the simulator's pattern: pops interleaved with pushes at or after the last
        /// popped time, some far ahead (several slots), some in the current slot.
        #[test]
        fn timeline_pops_in_the_order_of_one_heap(
            ops in proptest::collection::vec((0u8..4, 0u64..5_000_000), 1..400)
        ) {
            let mut cal = Timeline::default();
            let mut reference: BinaryHeap<Item> = BinaryHeap::new();
            let (mut now, mut n) = (0u64, 0u64);
            for (op, dt) in ops {
                if op == 0 {
                    let got = cal.pop().map(|i| (i.t, i.n));
                    let want = reference.pop().map(|i| (i.t, i.n));
                    prop_assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        now = t;
                    }
                } else {
                    // Mostly near (inside the slot), sometimes many slots ahead.
                    let t = now + if op == 1 { dt } else { dt % 1000 };
                    n += 1;
                    cal.push(item(t, n));
                    reference.push(item(t, n));
                }
                prop_assert_eq!(cal.peek_t(), reference.peek().map(|i| i.t));
            }
            let rest: Vec<(u64, u64)> = cal.drain_sorted().iter().map(|i| (i.t, i.n)).collect();
            let mut want: Vec<(u64, u64)> = reference.into_iter().map(|i| (i.t, i.n)).collect();
            want.sort_unstable();
            prop_assert_eq!(rest, want);
        }
    }
}
