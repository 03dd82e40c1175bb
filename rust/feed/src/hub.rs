//! The pump's state: per symbol the L2 book, touch, status and sequence number, and the
//! clients with their channels and bounded queues. One mutex guards it; the pump holds it
//! while it applies a batch of engine events and fans the messages out, a client's task
//! while it (un)subscribes, so a snapshot and the deltas after it never interleave wrongly.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hftbook_core::{Price, TickSize};
use hftbook_engine::record::{kind, reason, EVENT_SNAPSHOT, REASONS};
use hftbook_engine::{Engine, Event, Subscription};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::Notify;

use crate::wire;

/// Close code for a policy violation (unknown channel, bad request, slow consumer).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code for a message too big to process.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for data the server cannot accept (binary frames).
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code when the server goes away.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// The reason a slow client subscribed to trades is closed with.
pub const SLOW_TRADES: &str = "slow consumer: trades would be lost";

/// The four channel kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chan {
    /// Best bid / ask.
    L1,
    /// Depth: snapshot then deltas.
    L2,
    /// Trade prints.
    Trades,
    /// Trading status.
    Status,
    /// Engine figures (`stats`, no symbol; see `stats.rs`).
    Stats,
}

/// The key of the `stats` channel.
pub const STATS_KEY: (Chan, u32) = (Chan::Stats, u32::MAX);

impl Chan {
    fn prefix(self) -> &'static str {
        match self {
            Chan::L1 => "l1",
            Chan::L2 => "l2",
            Chan::Trades => "trades",
            Chan::Status => "status",
            Chan::Stats => "stats",
        }
    }
    fn parse(s: &str) -> Option<Chan> {
        Some(match s {
            "l1" => Chan::L1,
            "l2" => Chan::L2,
            "trades" => Chan::Trades,
            "status" => Chan::Status,
            _ => return None,
        })
    }
}

/// Feed counters (read by `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Connected clients.
    pub clients: AtomicI64,
    /// Messages written to client sockets.
    pub messages_sent: AtomicU64,
    /// Client queue overflows answered with fresh snapshots.
    pub conflations: AtomicU64,
    /// Messages dropped from client queues by conflation.
    pub messages_dropped: AtomicU64,
    /// Engine events the pump took from its subscription.
    pub events_in: AtomicU64,
    /// Disconnections by reason.
    pub disconnects: Mutex<BTreeMap<&'static str, u64>>,
}

impl Counters {
    /// Count a disconnection.
    pub fn disconnect(&self, why: &'static str) {
        let mut d = self.disconnects.lock().unwrap_or_else(|p| p.into_inner());
        *d.entry(why).or_default() += 1;
    }
}

/// A level of a symbol's book: (symbol, side 0 bid / 1 ask, price ticks).
type LevelKey = (u32, u8, i64);

/// Best bid and ask: (price ticks, lots) each.
type Touch = (Option<(i64, u64)>, Option<(i64, u64)>);

/// One symbol as the pump knows it.
#[derive(Debug, Default)]
struct SymState {
    /// Price ticks → (lots, orders).
    bids: BTreeMap<i64, (u64, u64)>,
    asks: BTreeMap<i64, (u64, u64)>,
    /// Last symbol sequence number seen.
    seq: u64,
    /// The book is known (a snapshot arrived, or the symbol started empty).
    synced: bool,
    /// Snapshot levels still to come after a snapshot header.
    pending: u64,
    /// 0 trading, 1 halted; and the reason code of the last status event.
    halted: bool,
    status_reason: u8,
    /// Last touch sent: (price, lots) per side.
    touch: Touch,
    /// In the batch's `touched` list.
    l1_dirty: bool,
}

/// A symbol's static facts.
#[derive(Debug, Clone)]
struct SymInfo {
    name: String,
    tick: TickSize,
}

/// How a connection's messages are encoded (`/ws?encoding=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// JSON text frames.
    #[default]
    Json,
    /// Binary frames (`wire.rs`, `docs/feed.md`).
    Binary,
}

/// One message encoded once for every client: JSON text without `cseq`, or binary frame
/// bytes with `cseq` 0.
#[derive(Debug, Clone)]
enum Body {
    Json(Arc<str>),
    Bin(Arc<[u8]>),
}

/// One outgoing message: its channel and its encodings (those some client uses).
#[derive(Debug, Clone)]
struct Out {
    key: (Chan, u32),
    json: Option<Arc<str>>,
    bin: Option<Arc<[u8]>>,
}

/// A queued message: the shared encoding plus this client's `cseq` (the writer puts it in).
#[derive(Debug, Clone)]
pub enum Frame {
    /// JSON body without `cseq`, and the `cseq`.
    Json(Arc<str>, u64),
    /// Binary frame, and the `cseq` to stamp into it.
    Bin(Arc<[u8]>, u64),
    /// Binary frame sent as is (a `symbol` message).
    Raw(Arc<[u8]>),
}

impl Frame {
    fn new(body: Body, cseq: u64) -> Frame {
        match body {
            Body::Json(j) => Frame::Json(j, cseq),
            Body::Bin(b) => Frame::Bin(b, cseq),
        }
    }
}

/// A client's mutable side.
#[derive(Debug, Default)]
pub struct ClientState {
    /// Channel → the last `cseq` given on it.
    subs: FxHashMap<(Chan, u32), u64>,
    /// Symbols whose `symbol` message this (binary) client got.
    announced: std::collections::HashSet<u32>,
    /// Messages waiting for the socket.
    pub queue: VecDeque<Frame>,
    /// Close the connection with this code and reason (after sending what is queued).
    pub close: Option<(u16, String)>,
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    /// Its encoding, chosen at connect time.
    pub encoding: Encoding,
    /// Its mutable side.
    pub st: Mutex<ClientState>,
    /// Woken when messages are queued or a close is requested.
    pub notify: Notify,
    /// Overflows answered by conflation.
    pub conflations: AtomicU64,
}

impl Client {
    /// Lock the client's state.
    pub fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Ask for the connection to be closed.
    pub fn close(&self, code: u16, why: impl Into<String>) {
        let mut st = self.lock();
        if st.close.is_none() {
            st.close = Some((code, why.into()));
        }
        drop(st);
        self.notify.notify_one();
    }
}

/// The pump's state plus the clients.
#[derive(Debug)]
pub struct Hub {
    engine: Arc<Engine>,
    syms: Vec<SymState>,
    info: Vec<SymInfo>,
    by_name: HashMap<String, u32>,
    clients: Vec<Arc<Client>>,
    capacity: usize,
    counters: Arc<Counters>,
    /// Clients subscribed to each channel, per encoding (JSON, binary): a message is built
    /// only for the channels someone follows, in the encodings they use.
    followers: FxHashMap<(Chan, u32), [usize; 2]>,
    /// The pump's engine subscription: its symbols are `followed`.
    sub: Arc<Subscription>,
    /// Symbols whose book or trades someone has followed since the server started: the
    /// shards send the pump their events (every symbol's status events, whoever follows).
    followed: FxHashSet<u32>,
    /// The batch's L2 changes, one per level (symbol, side 0/1, price): its last lots,
    /// orders and `seq`. Sent when the batch ends.
    changes: FxHashMap<LevelKey, (u64, u64, u64)>,
    /// Symbols whose touch may have moved in the batch (their `l1` is checked at its end).
    touched: Vec<u32>,
}

/// JSON string literal of `s`.
fn jstr(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Hub {
    /// The state of the engine's current symbols, none synced yet (the pump asks the engine
    /// for snapshots).
    pub fn new(
        engine: Arc<Engine>,
        capacity: usize,
        counters: Arc<Counters>,
        sub: Arc<Subscription>,
    ) -> Hub {
        let mut h = Hub {
            engine,
            sub,
            followed: FxHashSet::default(),
            changes: FxHashMap::default(),
            touched: Vec::new(),
            syms: Vec::new(),
            info: Vec::new(),
            by_name: HashMap::new(),
            clients: Vec::new(),
            capacity: capacity.max(1),
            counters,
            followers: FxHashMap::default(),
        };
        h.refresh_symbols(false);
        h
    }

    /// Learn symbols added to the engine since; new ones are `synced` (they start empty, and
    /// the pump saw all their events) unless this is the first look.
    fn refresh_symbols(&mut self, synced: bool) {
        let table = self.engine.symbols();
        for (i, e) in table.entries.iter().enumerate().skip(self.info.len()) {
            self.info.push(SymInfo {
                name: e.name.clone(),
                tick: e.cfg.tick,
            });
            self.by_name.insert(e.name.clone(), i as u32);
            let halted = e.live.status.load(Ordering::Relaxed) != 0;
            self.syms.push(SymState {
                synced,
                halted,
                status_reason: if halted {
                    reason::OPERATOR
                } else {
                    reason::TRADING
                },
                ..SymState::default()
            });
        }
    }

    /// Connected clients.
    pub fn clients(&self) -> &[Arc<Client>] {
        &self.clients
    }

    /// Add a client.
    pub fn add_client(&mut self, c: Arc<Client>) {
        self.clients.push(c);
    }

    /// Remove a client (and its subscriptions from the follower counts).
    pub fn remove_client(&mut self, c: &Arc<Client>) {
        let before = self.clients.len();
        self.clients.retain(|x| !Arc::ptr_eq(x, c));
        if self.clients.len() < before {
            let keys: Vec<(Chan, u32)> = c.lock().subs.keys().copied().collect();
            for k in keys {
                self.unfollow(k, c.encoding);
            }
        }
    }

    fn follow(&mut self, key: (Chan, u32), enc: Encoding) {
        self.followers.entry(key).or_default()[enc as usize] += 1;
        let sym = key.1;
        if matches!(key.0, Chan::L1 | Chan::L2 | Chan::Trades)
            && (sym as usize) < self.syms.len()
            && self.followed.insert(sym)
        {
            // The pump starts following the symbol: its book is unknown until the shard's
            // snapshot, which the subscription asks for with the new symbol set. Symbols
            // stay followed (no race between a snapshot and a symbol leaving the set).
            let st = &mut self.syms[sym as usize];
            st.bids.clear();
            st.asks.clear();
            st.synced = false;
            st.pending = 0;
            self.sub.set_symbols(Some(self.followed.clone()), &[sym]);
            // A paused simulation runs no shard loop: serve it now.
            self.engine.sim_serve_snapshots();
        }
    }

    fn unfollow(&mut self, key: (Chan, u32), enc: Encoding) {
        if let Some(n) = self.followers.get_mut(&key) {
            n[enc as usize] = n[enc as usize].saturating_sub(1);
            if *n == [0, 0] {
                self.followers.remove(&key);
            }
        }
    }

    /// The message built by `f` in every encoding a follower of `key` uses (None when the
    /// channel has no follower: nothing is encoded).
    fn out(&self, key: (Chan, u32), f: impl Fn(&Self, Encoding) -> Option<Body>) -> Option<Out> {
        let [json_followers, bin_followers] = self.followers.get(&key).copied()?;
        let json = if json_followers > 0 {
            match f(self, Encoding::Json) {
                Some(Body::Json(j)) => Some(j),
                _ => None,
            }
        } else {
            None
        };
        let bin = if bin_followers > 0 {
            match f(self, Encoding::Binary) {
                Some(Body::Bin(b)) => Some(b),
                _ => None,
            }
        } else {
            None
        };
        (json.is_some() || bin.is_some()).then_some(Out { key, json, bin })
    }

    /// Parse a channel name (`l2.AAPL`).
    pub fn channel(&mut self, name: &str) -> Option<(Chan, u32)> {
        if name == "stats" {
            return Some(STATS_KEY);
        }
        let (k, sym) = name.split_once('.')?;
        let k = Chan::parse(k)?;
        if !self.by_name.contains_key(sym) {
            self.refresh_symbols(true);
        }
        Some((k, *self.by_name.get(sym)?))
    }

    fn price(&self, sym: u32, ticks: i64) -> String {
        self.info[sym as usize].tick.format(Price(ticks))
    }

    fn head(&self, chan: Chan, sym: u32, ty: &str) -> String {
        self.head_at(chan, sym, ty, self.syms[sym as usize].seq)
    }

    /// A message's head with the given `seq`.
    fn head_at(&self, chan: Chan, sym: u32, ty: &str, seq: u64) -> String {
        let mut s = String::with_capacity(128);
        let name = format!("{}.{}", chan.prefix(), self.info[sym as usize].name);
        let _ = write!(
            s,
            "{{\"ch\":{},\"seq\":{seq},\"type\":\"{ty}\"",
            jstr(&name),
        );
        s
    }

    fn level_json(&self, sym: u32, p: Option<(i64, u64)>) -> String {
        match p {
            Some((px, q)) => format!("[\"{}\",{q}]", self.price(sym, px)),
            None => "null".into(),
        }
    }

    /// The `snapshot` message of `sym`'s L2 channel (None while the book is unknown).
    fn l2_snapshot(&self, sym: u32, enc: Encoding) -> Option<Body> {
        let st = &self.syms[sym as usize];
        if !st.synced || st.pending > 0 {
            return None;
        }
        if enc == Encoding::Binary {
            let lv = |(p, (q, n)): (&i64, &(u64, u64))| (*p, *q, *n);
            return Some(Body::Bin(
                wire::snapshot(
                    sym,
                    st.seq,
                    st.bids.iter().rev().map(lv),
                    st.asks.iter().map(lv),
                )
                .into(),
            ));
        }
        let mut s = self.head(Chan::L2, sym, "snapshot");
        let _ = write!(
            s,
            ",\"tick\":\"{}\",\"bids\":[",
            self.info[sym as usize].tick
        );
        let lv = |s: &mut String, (i, (px, (q, n))): (usize, (&i64, &(u64, u64)))| {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(s, "{sep}[\"{}\",{q},{n}]", self.price(sym, *px));
        };
        st.bids.iter().rev().enumerate().for_each(|x| lv(&mut s, x));
        s.push_str("],\"asks\":[");
        st.asks.iter().enumerate().for_each(|x| lv(&mut s, x));
        s.push_str("]}");
        Some(Body::Json(s.into()))
    }

    fn touch(&self, sym: u32) -> Touch {
        let st = &self.syms[sym as usize];
        (
            st.bids.iter().next_back().map(|(p, (q, _))| (*p, *q)),
            st.asks.iter().next().map(|(p, (q, _))| (*p, *q)),
        )
    }

    /// The `l1` message of `sym` (None while the book is unknown).
    fn l1_message(&self, sym: u32, enc: Encoding) -> Option<Body> {
        let st = &self.syms[sym as usize];
        if !st.synced || st.pending > 0 {
            return None;
        }
        let (b, a) = self.touch(sym);
        if enc == Encoding::Binary {
            return Some(Body::Bin(wire::l1(sym, st.seq, b, a).into()));
        }
        let mut s = self.head(Chan::L1, sym, "l1");
        let _ = write!(
            s,
            ",\"bid\":{},\"ask\":{}}}",
            self.level_json(sym, b),
            self.level_json(sym, a)
        );
        Some(Body::Json(s.into()))
    }

    fn status_message(&self, sym: u32, enc: Encoding) -> Body {
        let st = &self.syms[sym as usize];
        let why = REASONS
            .get(st.status_reason as usize)
            .copied()
            .unwrap_or("");
        if enc == Encoding::Binary {
            return Body::Bin(wire::status(sym, st.seq, st.halted, st.status_reason, why).into());
        }
        let mut s = self.head(Chan::Status, sym, "status");
        let _ = write!(
            s,
            ",\"state\":\"{}\",\"reason\":{}}}",
            if st.halted { "halted" } else { "trading" },
            jstr(why)
        );
        Body::Json(s.into())
    }

    /// What a (re)subscription to `key` sends first.
    fn initial(&self, key: (Chan, u32), enc: Encoding) -> Option<Body> {
        match key.0 {
            Chan::L1 => self.l1_message(key.1, enc),
            Chan::L2 => self.l2_snapshot(key.1, enc),
            Chan::Status => Some(self.status_message(key.1, enc)),
            Chan::Trades | Chan::Stats => None,
        }
    }

    /// Subscribe `c` to `key`: queue the channel's snapshot (again, when already subscribed:
    /// that is how a client resyncs). A binary client first gets the symbol's `symbol`
    /// message, once per connection.
    pub fn subscribe(&mut self, c: &Client, key: (Chan, u32)) {
        // Following first: a symbol's first follower makes its book unknown until the
        // shard's snapshot (then sent to everyone on the channel).
        if !c.lock().subs.contains_key(&key) {
            self.follow(key, c.encoding);
        }
        let first = self.initial(key, c.encoding);
        let mut st = c.lock();
        if c.encoding == Encoding::Binary && key.0 != Chan::Stats && st.announced.insert(key.1) {
            let info = &self.info[key.1 as usize];
            st.queue.push_back(Frame::Raw(
                wire::symbol(key.1, info.tick, &info.name).into(),
            ));
        }
        let cseq = st.subs.entry(key).or_insert(0);
        if let Some(body) = first {
            *cseq += 1;
            let f = Frame::new(body, *cseq);
            st.queue.push_back(f);
        }
        drop(st);
        c.notify.notify_one();
    }

    /// Unsubscribe `c` from `key`.
    pub fn unsubscribe(&mut self, c: &Client, key: (Chan, u32)) {
        let was = c.lock().subs.remove(&key).is_some();
        if was {
            self.unfollow(key, c.encoding);
        }
    }

    /// Whether some client follows `stats`.
    pub fn follows_stats(&self) -> bool {
        self.followers.contains_key(&STATS_KEY)
    }

    /// Send a `stats` message (JSON without `cseq`) to its followers (binary clients too:
    /// the `stats` channel is JSON text in both encodings).
    pub fn publish_stats(&self, body: Arc<str>) {
        self.fan_out(&[Out {
            key: STATS_KEY,
            json: Some(body),
            bin: None,
        }]);
    }

    /// Apply a batch of engine events and send the resulting messages to the clients.
    pub fn apply(&mut self, events: &[Event]) {
        self.counters
            .events_in
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let mut out: Vec<Out> = Vec::new();
        for e in events {
            self.apply_one(e, &mut out);
        }
        self.flush_book_changes(&mut out);
        if !out.is_empty() {
            self.fan_out(&out);
        }
    }

    /// The batch's L2 deltas, one per level that changed (its state at the end of the
    /// batch: a level that moved three times in 250 µs is one message) with the `seq` of
    /// its last change, in the order of those (a symbol's `seq` still rises from one delta
    /// to the next), then an `l1` per symbol whose touch moved.
    fn flush_book_changes(&mut self, out: &mut Vec<Out>) {
        let mut changed: Vec<(LevelKey, (u64, u64, u64))> = self.changes.drain().collect();
        changed.sort_unstable_by_key(|&((sym, ..), (.., seq))| (seq, sym));
        for ((sym, side, price), (qty, orders, seq)) in changed {
            out.extend(self.out((Chan::L2, sym), |h, enc| {
                Some(match enc {
                    Encoding::Binary => {
                        Body::Bin(wire::delta(sym, seq, side, price, qty, orders).into())
                    }
                    Encoding::Json => {
                        let mut s = h.head_at(Chan::L2, sym, "delta", seq);
                        let _ = write!(
                            s,
                            ",\"side\":\"{}\",\"price\":\"{}\",\"qty\":{qty},\"orders\":{orders}}}",
                            if side == 0 { "bid" } else { "ask" },
                            h.price(sym, price),
                        );
                        Body::Json(s.into())
                    }
                })
            }));
        }
        // Taken and put back: the buffer is kept between batches.
        let mut touched = std::mem::take(&mut self.touched);
        for &sym in &touched {
            let i = sym as usize;
            self.syms[i].l1_dirty = false;
            let t = self.touch(sym);
            if t != self.syms[i].touch {
                self.syms[i].touch = t;
                out.extend(self.out((Chan::L1, sym), |h, enc| h.l1_message(sym, enc)));
            }
        }
        touched.clear();
        self.touched = touched;
    }

    fn apply_one(&mut self, e: &Event, out: &mut Vec<Out>) {
        let sym = e.symbol;
        if sym as usize >= self.syms.len() {
            self.refresh_symbols(true);
            if sym as usize >= self.syms.len() {
                return;
            }
        }
        let i = sym as usize;
        if e.flags & EVENT_SNAPSHOT != 0 {
            let st = &mut self.syms[i];
            if e.side == 2 {
                st.bids.clear();
                st.asks.clear();
                st.seq = e.symbol_seq;
                st.pending = e.detail.max(0) as u64;
                st.synced = true;
            } else if st.pending > 0 {
                let book = if e.side == 0 {
                    &mut st.bids
                } else {
                    &mut st.asks
                };
                book.insert(e.price, (e.qty, e.leaves_qty));
                st.pending -= 1;
            }
            if self.syms[i].pending == 0 {
                // The batch's changes to this book before the snapshot are in it.
                self.changes.retain(|k, _| k.0 != sym);
                // Complete: everyone on this symbol's book channels starts over from it.
                self.syms[i].touch = self.touch(sym);
                out.extend(self.out((Chan::L2, sym), |h, enc| h.l2_snapshot(sym, enc)));
                out.extend(self.out((Chan::L1, sym), |h, enc| h.l1_message(sym, enc)));
            }
            return;
        }
        if matches!(e.kind, kind::BOOK | kind::TRADE)
            && self.syms[i].synced
            && e.symbol_seq != 0
            && e.symbol_seq <= self.syms[i].seq
        {
            // Already in the snapshot the book was taken from (a symbol's first events
            // after its snapshot, or events the journal held back until durable).
            return;
        }
        {
            let st = &mut self.syms[i];
            st.seq = st.seq.max(e.symbol_seq);
            // A symbol whose first event we see from its very beginning is known (empty).
            if !st.synced && e.symbol_seq == 1 {
                st.synced = true;
            }
        }
        match e.kind {
            kind::BOOK => {
                let st = &mut self.syms[i];
                if !st.synced || st.pending > 0 {
                    return;
                }
                let book = if e.side == 0 {
                    &mut st.bids
                } else {
                    &mut st.asks
                };
                if e.qty == 0 {
                    book.remove(&e.price);
                } else {
                    book.insert(e.price, (e.qty, e.leaves_qty));
                }
                // Sent when the batch ends, one message per level (`flush_book_changes`).
                let side = u8::from(e.side != 0);
                if self.followers.contains_key(&(Chan::L2, sym)) {
                    let seq = self.syms[i].seq;
                    self.changes
                        .insert((sym, side, e.price), (e.qty, e.leaves_qty, seq));
                }
                if !self.syms[i].l1_dirty && self.followers.contains_key(&(Chan::L1, sym)) {
                    self.syms[i].l1_dirty = true;
                    self.touched.push(sym);
                }
            }
            kind::TRADE => {
                let aggressor = u8::from(e.side != 0);
                out.extend(self.out((Chan::Trades, sym), |h, enc| {
                    Some(match enc {
                        Encoding::Binary => Body::Bin(
                            wire::trade(
                                sym,
                                h.syms[i].seq,
                                e.price,
                                e.qty,
                                e.ts_processed,
                                aggressor,
                            )
                            .into(),
                        ),
                        Encoding::Json => {
                            let mut s = h.head(Chan::Trades, sym, "trade");
                            let _ = write!(
                                s,
                                ",\"price\":\"{}\",\"qty\":{},\"aggressor\":\"{}\",\"ts\":{}}}",
                                h.price(sym, e.price),
                                e.qty,
                                if aggressor == 0 { "buy" } else { "sell" },
                                e.ts_processed
                            );
                            Body::Json(s.into())
                        }
                    })
                }));
            }
            kind::STATUS => {
                let st = &mut self.syms[i];
                st.halted = e.reason != reason::TRADING;
                st.status_reason = e.reason;
                out.extend(self.out((Chan::Status, sym), |h, enc| {
                    Some(h.status_message(sym, enc))
                }));
            }
            _ => {}
        }
    }

    /// Queue `out` on every client subscribed; a client whose queue overflows is conflated
    /// (queue cleared, fresh snapshots of its book channels) or, with trades, closed. Only
    /// an `Arc` and a number are queued per client: the writer adds the `cseq`.
    fn fan_out(&self, out: &[Out]) {
        for c in &self.clients {
            let mut guard = c.lock();
            let st = &mut *guard;
            if st.close.is_some() {
                continue;
            }
            let mut pushed = false;
            let mut overflow = false;
            for m in out {
                let Some(cseq) = st.subs.get_mut(&m.key) else {
                    continue;
                };
                let frame = match (c.encoding, &m.json, &m.bin) {
                    (Encoding::Binary, _, Some(b)) => Frame::Bin(b.clone(), *cseq + 1),
                    (_, Some(j), _) => Frame::Json(j.clone(), *cseq + 1),
                    _ => continue,
                };
                if st.queue.len() >= self.capacity {
                    overflow = true;
                    break;
                }
                *cseq += 1;
                st.queue.push_back(frame);
                pushed = true;
            }
            if overflow {
                let dropped = st.queue.len() as u64;
                st.queue.clear();
                self.counters
                    .messages_dropped
                    .fetch_add(dropped, Ordering::Relaxed);
                if st.subs.keys().any(|k| k.0 == Chan::Trades) {
                    st.close = Some((CLOSE_POLICY, SLOW_TRADES.into()));
                    self.counters.disconnect("slow_consumer");
                } else {
                    self.counters.conflations.fetch_add(1, Ordering::Relaxed);
                    c.conflations.fetch_add(1, Ordering::Relaxed);
                    let mut keys: Vec<(Chan, u32)> = st.subs.keys().copied().collect();
                    keys.sort_unstable();
                    if c.encoding == Encoding::Binary {
                        // The cleared queue may have held `symbol` messages not yet sent.
                        st.announced.clear();
                        for k in keys.iter().filter(|k| k.0 != Chan::Stats) {
                            if st.announced.insert(k.1) {
                                let info = &self.info[k.1 as usize];
                                st.queue.push_back(Frame::Raw(
                                    wire::symbol(k.1, info.tick, &info.name).into(),
                                ));
                            }
                        }
                    }
                    for k in keys {
                        if let Some(body) = self.initial(k, c.encoding) {
                            if let Some(cseq) = st.subs.get_mut(&k) {
                                *cseq += 1;
                                st.queue.push_back(Frame::new(body, *cseq));
                            }
                        }
                    }
                }
                pushed = true;
            }
            drop(guard);
            if pushed {
                c.notify.notify_one();
            }
        }
    }
}

/// `body` (a JSON object) with `"cseq":n` put first.
pub fn with_cseq(body: &str, n: u64) -> String {
    let mut s = String::with_capacity(body.len() + 24);
    let _ = write!(s, "{{\"cseq\":{n},");
    s.push_str(body.get(1..).unwrap_or(""));
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn client(encoding: Encoding) -> Arc<Client> {
        Arc::new(Client {
            encoding,
            st: Mutex::new(ClientState::default()),
            notify: Notify::new(),
            conflations: AtomicU64::new(0),
        })
    }

    /// What `out` builds for a trades message of symbol 0: (JSON built, binary built).
    fn built(h: &Hub) -> Option<(bool, bool)> {
        h.out((Chan::Trades, 0), |_, enc| {
            Some(match enc {
                Encoding::Json => Body::Json("{}".into()),
                Encoding::Binary => Body::Bin(vec![0u8].into()),
            })
        })
        .map(|o| (o.json.is_some(), o.bin.is_some()))
    }

    /// A hub on an engine with the symbol AAPL, clients' queues of `queue` messages.
    fn aapl_hub(queue: usize) -> Hub {
        let e = Arc::new(Engine::new(hftbook_engine::EngineConfig::default()).unwrap());
        e.add_symbol("AAPL", hftbook_engine::SymbolConfig::default())
            .unwrap();
        let sub = e.subscribe(hftbook_engine::Filter::default(), 1024, true);
        Hub::new(e, queue, Arc::new(Counters::default()), sub)
    }

    /// A batch's L2 changes go out once per level, in its state at the end of the batch, in
    /// the order of the levels' last changes; the touch once per batch; trades one each.
    #[test]
    fn a_batch_sends_one_delta_per_level_and_one_l1() {
        use hftbook_engine::record::{kind, EVENT_GAP, EVENT_SNAPSHOT};
        let mut h = aapl_hub(64);
        let c = client(Encoding::Json);
        h.add_client(c.clone());
        for ch in ["l2.AAPL", "l1.AAPL", "trades.AAPL"] {
            let key = h.channel(ch).unwrap();
            h.subscribe(&c, key);
        }
        // The shard's snapshot: an empty book as of seq 10.
        h.apply(&[Event {
            kind: kind::BOOK,
            side: 2,
            symbol_seq: 10,
            flags: EVENT_GAP | EVENT_SNAPSHOT,
            ..Event::default()
        }]);
        let texts = |c: &Client| -> Vec<String> {
            c.lock()
                .queue
                .drain(..)
                .map(|f| match f {
                    Frame::Json(j, n) => with_cseq(&j, n),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(texts(&c).len(), 2, "the l2 snapshot and the l1");
        let book = |seq: u64, side: u8, price: i64, qty: u64| Event {
            kind: kind::BOOK,
            symbol_seq: seq,
            side,
            price,
            qty,
            leaves_qty: qty.min(1),
            ..Event::default()
        };
        h.apply(&[
            book(11, 0, 9_900, 5),
            book(12, 1, 10_100, 3),
            book(13, 0, 9_900, 7),
            Event {
                kind: kind::TRADE,
                symbol_seq: 14,
                price: 10_100,
                qty: 1,
                ..Event::default()
            },
            book(15, 0, 9_900, 0),
            book(16, 0, 9_800, 2),
        ]);
        let got = texts(&c);
        let (trades, rest): (Vec<_>, Vec<_>) =
            got.iter().partition(|m| m.contains("\"trades.AAPL\""));
        assert_eq!(trades.len(), 1, "{got:?}");
        let deltas: Vec<_> = rest.iter().filter(|m| m.contains("\"delta\"")).collect();
        assert_eq!(deltas.len(), 3, "{got:?}");
        // In the order of their last change, each with that change's seq.
        let has = |m: &str, a: &str, b: &str| m.contains(a) && m.contains(b);
        assert!(
            has(deltas[0], "\"seq\":12,", "\"price\":\"101.00\",\"qty\":3"),
            "{got:?}"
        );
        assert!(
            has(deltas[1], "\"seq\":15,", "\"price\":\"99.00\",\"qty\":0"),
            "{got:?}"
        );
        assert!(
            has(deltas[2], "\"seq\":16,", "\"price\":\"98.00\",\"qty\":2"),
            "{got:?}"
        );
        let l1: Vec<_> = rest.iter().filter(|m| m.contains("\"l1\"")).collect();
        assert_eq!(l1.len(), 1, "{got:?}");
        assert!(
            l1[0].contains("\"bid\":[\"98.00\",2],\"ask\":[\"101.00\",3]"),
            "{got:?}"
        );
        // The l2 channel's cseq goes on by one per message.
        let cseqs: Vec<_> = deltas
            .iter()
            .map(|m| {
                m.split("\"cseq\":")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(cseqs, ["2", "3", "4"]);
    }

    /// A message is built only for a channel someone follows, in the encodings its
    /// followers use; subscribing twice counts once; a client that leaves takes its
    /// subscriptions with it.
    #[test]
    fn messages_are_built_only_for_followed_channels() {
        let mut h = aapl_hub(16);
        let key = h.channel("trades.AAPL").unwrap();
        let (j, b) = (client(Encoding::Json), client(Encoding::Binary));
        h.add_client(j.clone());
        h.add_client(b.clone());
        assert_eq!(built(&h), None, "nobody follows the channel");
        h.subscribe(&j, key);
        h.subscribe(&j, key); // a resync: still one follower
        assert_eq!(built(&h), Some((true, false)));
        h.subscribe(&b, key);
        assert_eq!(built(&h), Some((true, true)));
        h.unsubscribe(&j, key);
        h.unsubscribe(&j, key);
        assert_eq!(built(&h), Some((false, true)));
        h.remove_client(&b);
        assert_eq!(built(&h), None);
        assert!(h.followers.is_empty());
        assert!(!h.follows_stats());
    }
}
