//! The engine's two records: [`Command`] in, [`Event`] out.
//!
//! Both are fixed-size, `#[repr(C)]`, free of padding (proven by `zerocopy`'s derives) and free
//! of pointers, so a slice of them is a numpy structured array, a journal record or a network
//! frame without conversion. Every state change of the engine is caused by exactly one
//! sequenced [`Command`] (including the ones the engine makes itself: timer ticks, breaker
//! transitions), and every outcome is one [`Event`]; replaying the commands of a shard in
//! sequence order reproduces its books and its events.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Command kind codes ([`Command::kind`]).
pub mod cmd {
    /// A new order (any type).
    pub const SUBMIT: u8 = 0;
    /// Cancel `order_id`.
    pub const CANCEL: u8 = 1;
    /// Modify `order_id`: new `price` (when `flags` has [`super::flag::HAS_PRICE`]) and new
    /// `qty` (when non-zero).
    pub const MODIFY: u8 = 2;
    /// Cancel every open order of `symbol` (all symbols when `symbol` is [`super::ALL`]),
    /// optionally only `account`'s (non-zero) and one `side` (0/1; 2 = both).
    pub const MASS_CANCEL: u8 = 3;
    /// Halt `symbol`: new orders are rejected, cancels still work.
    pub const HALT: u8 = 4;
    /// Resume a halted `symbol`.
    pub const RESUME: u8 = 5;
    /// End of the trading session: expire every DAY order of the shard.
    pub const END_SESSION: u8 = 6;
    /// The engine's timer, at engine time `price` (ns): expire GTD orders, end halts.
    pub const TICK: u8 = 7;
    /// Engine circuit breaker changed state to `side` (a [`super::breaker`] code).
    pub const BREAKER: u8 = 8;
    /// Pause (`side` = 1) or resume (`side` = 0) matching on the shard.
    pub const PAUSE: u8 = 9;
    /// Holds the place, in its order's command sequence, of a command a producer could not
    /// queue (refused by backpressure or validation after its number was taken). Does nothing.
    pub const NOOP: u8 = 10;
    /// Kill switch on for `account`: its open orders are cancelled and new ones refused.
    pub const KILL: u8 = 11;
    /// Kill switch off for `account`.
    pub const RESET_KILL: u8 = 12;
    /// The last command kind code.
    pub const LAST: u8 = RESET_KILL;
    /// Names, indexed by code.
    pub const NAMES: [&str; 13] = [
        "submit",
        "cancel",
        "modify",
        "mass_cancel",
        "halt",
        "resume",
        "end_session",
        "tick",
        "breaker",
        "pause",
        "noop",
        "kill",
        "reset_kill",
    ];
}

/// Order type codes ([`Command::order_type`]).
pub mod order_type {
    /// Limit order.
    pub const LIMIT: u8 = 0;
    /// Market order.
    pub const MARKET: u8 = 1;
    /// Stop: a market order once the last trade reaches `stop_price`.
    pub const STOP: u8 = 2;
    /// Stop-limit: a limit order at `price` once the last trade reaches `stop_price`.
    pub const STOP_LIMIT: u8 = 3;
    /// Names, indexed by code.
    pub const NAMES: [&str; 4] = ["limit", "market", "stop", "stop_limit"];
}

/// Time-in-force codes ([`Command::tif`]).
pub mod tif {
    /// Good till cancelled.
    pub const GTC: u8 = 0;
    /// Immediate or cancel.
    pub const IOC: u8 = 1;
    /// Fill or kill.
    pub const FOK: u8 = 2;
    /// Expires at the end of the session ([`super::cmd::END_SESSION`]).
    pub const DAY: u8 = 3;
    /// Good till date: expires at engine time `expire_at` (ns).
    pub const GTD: u8 = 4;
    /// Names, indexed by code.
    pub const NAMES: [&str; 5] = ["gtc", "ioc", "fok", "day", "gtd"];
}

/// Flag bits ([`Command::flags`]).
pub mod flag {
    /// Sent through the priority lane.
    pub const URGENT: u8 = 1;
    /// Post-only.
    pub const POST_ONLY: u8 = 2;
    /// A modify that sets the price.
    pub const HAS_PRICE: u8 = 4;
}

/// Circuit-breaker state codes.
pub mod breaker {
    /// Healthy: orders flow.
    pub const CLOSED: u8 = 0;
    /// Tripped: new orders rejected, cancels allowed.
    pub const OPEN: u8 = 1;
    /// Cool-down over: orders flow again on probation.
    pub const HALF_OPEN: u8 = 2;
    /// Names, indexed by code.
    pub const NAMES: [&str; 3] = ["closed", "open", "half_open"];
}

/// `symbol` value of a command that acts on every symbol of the shard (mass cancel).
pub const ALL: u32 = u32::MAX;

/// One command: fixed size (96 bytes), no padding, no pointers.
///
/// `seq` is 0 while the command is queued; the shard that executes it stamps the engine-wide
/// command sequence number, so a journal of commands in `seq` order replays the shard.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Command {
    /// Engine command sequence number (stamped by the shard).
    pub seq: u64,
    /// Engine order id: the new order's (submit) or the one named (cancel, modify).
    pub order_id: u64,
    /// The user's own id, carried on every event of the order.
    pub client_id: u64,
    /// Limit price in ticks (submit, modify); engine time in ns for [`cmd::TICK`].
    pub price: i64,
    /// Stop trigger price in ticks (stop and stop-limit orders).
    pub stop_price: i64,
    /// Lots (submit; modify: new open lots, 0 = keep).
    pub qty: u64,
    /// Iceberg display lots (0 = fully displayed).
    pub display_qty: u64,
    /// GTD expiry, engine time in ns.
    pub expire_at: u64,
    /// Engine time the command was queued (ns).
    pub ts_enqueued: u64,
    /// Account (risk, positions, self-trade prevention); 0 = none.
    pub account: u32,
    /// Symbol index ([`ALL`] for every symbol of a mass cancel).
    pub symbol: u32,
    /// How many commands named this order before this one (0 for its submit); keeps a
    /// cancel or modify behind the commands sent before it, whichever lane they took.
    pub order_seq: u32,
    /// [`cmd`] code.
    pub kind: u8,
    /// 0 buy, 1 sell (mass cancel: 2 = both sides; breaker/pause: the new state).
    pub side: u8,
    /// [`order_type`] code.
    pub order_type: u8,
    /// [`tif`] code.
    pub tif: u8,
    /// Self-trade prevention: 0 = symbol default, 1 none, 2 cancel newest, 3 cancel oldest,
    /// 4 cancel both.
    pub stp: u8,
    /// [`flag`] bits.
    pub flags: u8,
    /// Always zero.
    pub _pad: [u8; 6],
}

const _: () = assert!(std::mem::size_of::<Command>() == 96);

impl Command {
    /// A GTC limit order (order id 0: the engine's producer API assigns it).
    pub fn limit(symbol: u32, side: u8, price: i64, qty: u64) -> Command {
        Command {
            kind: cmd::SUBMIT,
            symbol,
            side,
            price,
            qty,
            ..Command::default()
        }
    }
    /// A market order.
    pub fn market(symbol: u32, side: u8, qty: u64) -> Command {
        Command {
            order_type: order_type::MARKET,
            tif: tif::IOC,
            ..Command::limit(symbol, side, 0, qty)
        }
    }
    /// Cancel an order.
    pub fn cancel(symbol: u32, order_id: u64) -> Command {
        Command {
            kind: cmd::CANCEL,
            symbol,
            order_id,
            ..Command::default()
        }
    }
    /// Modify an order's price and/or open lots (`qty` 0 keeps it).
    pub fn modify(symbol: u32, order_id: u64, price: Option<i64>, qty: u64) -> Command {
        Command {
            kind: cmd::MODIFY,
            symbol,
            order_id,
            price: price.unwrap_or(0),
            qty,
            flags: if price.is_some() { flag::HAS_PRICE } else { 0 },
            ..Command::default()
        }
    }
    /// Whether the command goes through the priority lane.
    pub fn is_urgent(&self) -> bool {
        matches!(
            self.kind,
            cmd::CANCEL | cmd::MASS_CANCEL | cmd::HALT | cmd::RESUME
        ) || self.flags & flag::URGENT != 0
    }
    /// The command's kind name.
    pub fn kind_name(&self) -> &'static str {
        cmd::NAMES.get(self.kind as usize).copied().unwrap_or("?")
    }
}

/// Event kind codes ([`Event::kind`]); names in [`EVENT_KINDS`].
pub mod kind {
    /// A new order passed the checks and entered the book (or the stop book).
    pub const ACCEPTED: u8 = 0;
    /// A request was refused; `reason` says why, nothing changed.
    pub const REJECTED: u8 = 1;
    /// One side of a trade: `order_id` is the order that traded (two fill events per trade).
    pub const FILL: u8 = 2;
    /// An order's open lots were taken off (`reason`: user, IOC, STP, expiry, mass, halt).
    pub const CANCELLED: u8 = 3;
    /// A modify was applied.
    pub const MODIFIED: u8 = 4;
    /// A stop order's trigger price was reached; it entered the book.
    pub const TRIGGERED: u8 = 5;
    /// A DAY or GTD order expired.
    pub const EXPIRED: u8 = 6;
    /// A public trade print (no accounts).
    pub const TRADE: u8 = 7;
    /// An L2 level changed: `side`, `price`, `qty` = lots now at the level (0 = gone),
    /// `leaves_qty` = orders at the level.
    pub const BOOK: u8 = 8;
    /// A symbol's trading status changed: `reason` = trading / halted (and why).
    pub const STATUS: u8 = 9;
    /// The engine's state changed (running, paused, breaker ...): `reason` says which.
    pub const ENGINE: u8 = 10;
}

/// Event kind names, indexed by code (`hb.EVENT_KINDS`).
pub const EVENT_KINDS: [&str; 11] = [
    "accepted",
    "rejected",
    "fill",
    "cancelled",
    "modified",
    "triggered",
    "expired",
    "trade",
    "book",
    "status",
    "engine",
];

/// Reason codes ([`Event::reason`]); names in [`REASONS`]. 0 = none.
pub mod reason {
    /// No reason (accepted, fills, trades).
    pub const NONE: u8 = 0;
    /// Cancelled: the owner asked.
    pub const USER: u8 = 1;
    /// Cancelled: IOC / market residual.
    pub const UNFILLED_IOC: u8 = 2;
    /// Cancelled or rejected: self-trade prevention.
    pub const SELF_TRADE: u8 = 3;
    /// Cancelled: GTD or DAY expiry.
    pub const EXPIRY: u8 = 4;
    /// Cancelled: mass cancel.
    pub const MASS_CANCEL: u8 = 5;
    /// Cancelled (queued order dropped) or rejected: the symbol is halted.
    pub const HALTED: u8 = 6;
    /// Rejected: FOK could not fill completely.
    pub const FOK_NOT_FILLABLE: u8 = 7;
    /// Rejected: post-only would have taken liquidity.
    pub const POST_ONLY_WOULD_TAKE: u8 = 8;
    /// Rejected: the order named is not open.
    pub const UNKNOWN_ORDER: u8 = 9;
    /// Rejected: market / IOC order found nothing to trade against.
    pub const NO_LIQUIDITY: u8 = 10;
    /// Rejected: price outside the symbol's band (`detail` = the band's edge it crossed).
    pub const PRICE_BAND: u8 = 11;
    /// Rejected: the engine circuit breaker is open.
    pub const BREAKER_OPEN: u8 = 12;
    /// Rejected: the shard is paused and the config rejects new orders while paused.
    pub const PAUSED: u8 = 13;
    /// Rejected: the order broke an instrument rule checked in the book (`detail` = value).
    pub const INVALID: u8 = 14;
    /// Status: trading.
    pub const TRADING: u8 = 15;
    /// Status: halted by the volatility guard (`detail` = move in basis points).
    pub const VOLATILITY: u8 = 16;
    /// Status / engine: by an operator command.
    pub const OPERATOR: u8 = 17;
    /// Engine: breaker state (`detail` = the [`super::breaker`] code).
    pub const BREAKER: u8 = 18;
    /// Engine: paused / resumed (`detail` 1 / 0).
    pub const PAUSE: u8 = 19;
    /// Rejected: the book's arena is full.
    pub const BOOK_FULL: u8 = 20;
    /// Rejected: the engine stopped without draining while the command was queued.
    pub const SHUTDOWN: u8 = 21;
    /// Engine: a reloaded configuration was applied (`detail` = restart-only keys skipped).
    pub const CONFIG_APPLIED: u8 = 22;
    /// Engine: a reloaded configuration was invalid; the running one stays.
    pub const CONFIG_REJECTED: u8 = 23;
    /// Engine: recovery cut a torn journal tail (`detail` = byte offset of the cut).
    pub const JOURNAL_REPAIRED: u8 = 24;
    /// Rejected / engine: the journal cannot write; nothing more is acknowledged.
    pub const JOURNAL_FAILED: u8 = 25;
    /// Rejected by risk: order quantity above the account's `max_order_qty` (`detail` = the
    /// order's lots, `leaves_qty` = the limit). Risk reasons run from here to
    /// [`RISK_RATE`], and [`RISK_GROSS_EXPOSURE`], [`RISK_NET_EXPOSURE`].
    pub const RISK_ORDER_QTY: u8 = 26;
    /// Rejected by risk: notional above `max_order_notional` (`detail` = the order's notional,
    /// `leaves_qty` = the limit, both in tick-lots).
    pub const RISK_ORDER_NOTIONAL: u8 = 27;
    /// Rejected by risk: price outside the collar (`detail` = distance from the reference
    /// in ticks, `leaves_qty` = the widest allowed).
    pub const RISK_PRICE_COLLAR: u8 = 28;
    /// Rejected by risk: the account's open orders at `max_open_orders` (`detail` = open
    /// orders with this one, `leaves_qty` = the limit).
    pub const RISK_OPEN_ORDERS: u8 = 29;
    /// Rejected by risk: the position plus open orders on this side would pass
    /// `max_position` (`detail` = lots it would reach, `leaves_qty` = the limit).
    pub const RISK_POSITION: u8 = 30;
    /// Rejected by risk: above `max_orders_per_second` (`detail` = ns until the next order is
    /// allowed, `leaves_qty` = the limit, orders/s).
    pub const RISK_RATE: u8 = 31;
    /// Rejected: the account's kill switch is on. Engine event: kill switch on (`detail` 1)
    /// or off (0) for `account`.
    pub const KILL_SWITCH: u8 = 32;
    /// Rejected: a cancel or modify named another account's order.
    pub const NOT_OWNER: u8 = 33;
    /// Rejected by risk: the account's gross exposure (all symbols, all shards, open orders
    /// that would increase it included) would pass `max_gross_exposure` (`detail` = the
    /// gross exposure with this order, `leaves_qty` = the limit, both in nano-units of the
    /// quote currency). See [`crate::risk`] for the cross-shard guarantee.
    pub const RISK_GROSS_EXPOSURE: u8 = 34;
    /// Rejected by risk: the account's net exposure would pass `max_net_exposure` on the
    /// side this order moves it (`detail` = the net exposure with this order, `leaves_qty` =
    /// the limit, nano-units of the quote currency).
    pub const RISK_NET_EXPOSURE: u8 = 35;
}

/// Reason names, indexed by code.
pub const REASONS: [&str; 36] = [
    "",
    "user",
    "unfilled_ioc",
    "self_trade",
    "expiry",
    "mass_cancel",
    "halted",
    "fok_not_fillable",
    "post_only_would_take",
    "unknown_order",
    "no_liquidity",
    "price_band",
    "breaker_open",
    "paused",
    "invalid",
    "trading",
    "volatility",
    "operator",
    "breaker",
    "pause",
    "book_full",
    "shutdown",
    "config_applied",
    "config_rejected",
    "journal_repaired",
    "journal_failed",
    "max_order_qty",
    "max_order_notional",
    "price_collar",
    "max_open_orders",
    "max_position",
    "order_rate",
    "kill_switch",
    "not_owner",
    "max_gross_exposure",
    "max_net_exposure",
];

/// One event: fixed size (112 bytes), no padding, no pointers.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Event {
    /// Engine event sequence number (unique engine-wide; increasing within a shard).
    pub seq: u64,
    /// Gap-free per-symbol sequence (1, 2, 3, ...); 0 on engine events.
    pub symbol_seq: u64,
    /// Engine order id (0 on trade, book, status, engine events).
    pub order_id: u64,
    /// The order's client id.
    pub client_id: u64,
    /// Resting order of a fill / trade.
    pub maker_id: u64,
    /// Incoming order of a fill / trade.
    pub taker_id: u64,
    /// Price in ticks.
    pub price: i64,
    /// Lots: ordered (accepted), traded (fill, trade), cancelled (cancelled, expired), new open
    /// lots (modified), lots at the level (book).
    pub qty: u64,
    /// Lots the order still has open after the event (orders at the level for book events).
    pub leaves_qty: u64,
    /// Extra figure for the reason (the band edge, the move in bps, the invalid value); on a
    /// `modified` event, the order's open lots before the modify.
    pub detail: i64,
    /// Engine time the causing command was queued (ns).
    pub ts_enqueued: u64,
    /// Engine time the shard processed it (ns).
    pub ts_processed: u64,
    /// Account of the order (0 on public events).
    pub account: u32,
    /// Symbol index (`u32::MAX` on engine events).
    pub symbol: u32,
    /// Engine command sequence number of the causing command (low 32 bits).
    pub cmd_seq: u32,
    /// [`kind`] code.
    pub kind: u8,
    /// 0 buy, 1 sell (trade: the aggressor's side).
    pub side: u8,
    /// [`reason`] code.
    pub reason: u8,
    /// Bit 0: this fill's order was the maker. Bit 1: first event after a gap (conflated).
    pub flags: u8,
}

const _: () = assert!(std::mem::size_of::<Event>() == 112);

/// [`Event::flags`] bit: the fill's order was the resting (maker) side.
pub const EVENT_MAKER: u8 = 1;
/// [`Event::flags`] bit: events before this one were conflated away for this subscriber.
pub const EVENT_GAP: u8 = 2;
/// [`Event::flags`] bit: part of an L2 snapshot sent to a conflated subscriber after a gap.
/// Per symbol, a header (`kind` book, `side` 2, flags gap + snapshot, `detail` = levels that
/// follow, `symbol_seq` = the symbol's sequence the snapshot is as of), then one event per
/// level (`side`, `price`, `qty`, `leaves_qty` = orders), best first, at most
/// [`SNAPSHOT_LEVELS`] a side.
pub const EVENT_SNAPSHOT: u8 = 4;
/// Levels per side in a conflated subscriber's resync snapshot.
pub const SNAPSHOT_LEVELS: usize = 100;

impl Event {
    /// An event about the order `c` carries (id, client id, account, side, limit price,
    /// qty as leaves), numbered `symbol_seq`, processed at `now` by command `cmd_seq`.
    pub fn of_order(c: &Command, kind_: u8, symbol_seq: u64, now: u64, cmd_seq: u64) -> Event {
        Event {
            symbol_seq,
            symbol: c.symbol,
            kind: kind_,
            order_id: c.order_id,
            client_id: c.client_id,
            account: c.account,
            side: c.side,
            price: c.price,
            qty: c.qty,
            leaves_qty: c.qty,
            ts_enqueued: c.ts_enqueued,
            ts_processed: now,
            cmd_seq: cmd_seq as u32,
            ..Event::default()
        }
    }

    /// The kind's name.
    pub fn kind_name(&self) -> &'static str {
        EVENT_KINDS.get(self.kind as usize).copied().unwrap_or("?")
    }
    /// The reason's name ("" for none).
    pub fn reason_name(&self) -> &'static str {
        REASONS.get(self.reason as usize).copied().unwrap_or("?")
    }
    /// View a slice of events as bytes (numpy, journal).
    pub fn as_bytes_slice(events: &[Event]) -> &[u8] {
        events.as_bytes()
    }
}
