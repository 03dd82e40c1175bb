//! Engine configuration: TOML (`hftbook.toml`) or an equivalent table, validated with errors
//! that name the file, the key, the value and the rule.
//!
//! ```toml
//! [engine]
//! shards = 1                # restart-only
//! lane_capacity = 65536     # normal lane, items (restart-only)
//! priority_capacity = 4096  # priority lane, items (restart-only)
//! event_capacity = 1048576  # events buffered per shard for poll() (restart-only)
//! batch_size = 256          # commands a shard takes from the normal lane per loop
//! on_full = "block"         # "block" (wait up to full_timeout_ms) or "reject"
//! full_timeout_ms = 1000
//! idle_spin = 200           # empty polls spent spinning before yielding
//! idle_yield = 50           # empty polls spent yielding before parking
//! park_ms = 50              # longest park (timers are checked at least this often)
//! paused_orders = "queue"   # while paused: "queue" new orders or "reject" them
//! keep_events = true        # keep an event stream for poll() (restart-only)
//! trade_events = true       # public trade prints
//! book_events = false       # L2 level changes
//!
//! [breaker]
//! enabled = true
//! reject_rate = 0.5         # fraction of new orders rejected over a window ...
//! window = 1000             # ... of this many orders
//! max_queue_delay_us = 100000
//! cooldown_ms = 1000        # open -> half-open
//! probe_orders = 100        # healthy orders in half-open before it closes
//!
//! [symbols.AAPL]
//! tick_size = "0.01"
//! lot_size = 1
//! min_qty = 1
//! max_qty = 1000000
//! band_pct = 10.0           # reject prices more than 10 % from the reference
//! band_ticks = 500          # ... or more than 500 ticks (the tighter one applies)
//! reference_price = "150.00"  # reference before the first trade
//! halt_pct = 5.0            # a move of more than 5 % ...
//! halt_window_ms = 1000     # ... within 1 s ...
//! halt_duration_ms = 5000   # ... halts the symbol for 5 s
//! shard = 0                 # default: symbols are dealt to shards round robin
//! stp = "none"              # default self-trade prevention
//! ```

use std::collections::BTreeMap;

use hftbook_core::{StpMode, TickSize};
use toml::Value;

/// A configuration error: where, what and which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{key} = {value}: {rule}", .file.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The file, when the config came from one.
    pub file: Option<String>,
    /// Dotted key (`symbols.AAPL.band_pct`).
    pub key: String,
    /// The value as written.
    pub value: String,
    /// The rule it breaks.
    pub rule: String,
}

/// What to do with a producer's command when its lane is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    /// Wait up to `full_timeout_ms`, then raise `Backpressure`.
    Block,
    /// Raise `Backpressure` at once.
    Reject,
}

/// Engine section.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSection {
    /// Shard threads.
    pub shards: usize,
    /// Normal lane capacity (items).
    pub lane_capacity: usize,
    /// Priority lane capacity (items).
    pub priority_capacity: usize,
    /// Events buffered per shard for `poll`.
    pub event_capacity: usize,
    /// Commands per loop from the normal lane.
    pub batch_size: usize,
    /// Full-lane policy.
    pub on_full: OnFull,
    /// Longest wait for a full lane (ms).
    pub full_timeout_ms: u64,
    /// Empty polls spinning.
    pub idle_spin: u32,
    /// Empty polls yielding.
    pub idle_yield: u32,
    /// Longest park (ms).
    pub park_ms: u64,
    /// Reject (true) or queue (false) new orders while paused.
    pub reject_when_paused: bool,
    /// Keep an event stream for poll().
    pub keep_events: bool,
    /// Publish trade prints.
    pub trade_events: bool,
    /// Publish L2 level changes.
    pub book_events: bool,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            shards: 1,
            lane_capacity: 65536,
            priority_capacity: 4096,
            event_capacity: 1 << 20,
            batch_size: 256,
            on_full: OnFull::Block,
            full_timeout_ms: 1000,
            idle_spin: 200,
            idle_yield: 50,
            park_ms: 50,
            reject_when_paused: false,
            keep_events: true,
            trade_events: true,
            book_events: false,
        }
    }
}

/// Circuit breaker section.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSection {
    /// Whether the breaker can open.
    pub enabled: bool,
    /// Rejected fraction of new orders over `window` that opens it.
    pub reject_rate: f64,
    /// Orders per measurement window.
    pub window: u64,
    /// Queueing delay (enqueue → processing) that opens it, µs.
    pub max_queue_delay_us: u64,
    /// Open → half-open after this long, ms.
    pub cooldown_ms: u64,
    /// Healthy orders in half-open before it closes.
    pub probe_orders: u64,
}

impl Default for BreakerSection {
    fn default() -> Self {
        BreakerSection {
            enabled: true,
            reject_rate: 0.5,
            window: 1000,
            max_queue_delay_us: 100_000,
            cooldown_ms: 1000,
            probe_orders: 100,
        }
    }
}

/// One symbol's options.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolConfig {
    /// Tick size (decimal text as written).
    pub tick_size: String,
    /// Tick size, parsed.
    pub tick: TickSize,
    /// Lot size (units per lot; informational for conversions).
    pub lot_size: u64,
    /// Smallest order, lots.
    pub min_qty: u64,
    /// Largest order, lots.
    pub max_qty: u64,
    /// Band in percent of the reference price.
    pub band_pct: Option<f64>,
    /// Band in ticks from the reference price.
    pub band_ticks: Option<i64>,
    /// Reference price (ticks) before the first trade.
    pub reference_price: Option<i64>,
    /// Volatility halt: move in percent ...
    pub halt_pct: Option<f64>,
    /// ... within this window (ms) ...
    pub halt_window_ms: u64,
    /// ... halts for this long (ms).
    pub halt_duration_ms: u64,
    /// Shard (default: round robin).
    pub shard: Option<usize>,
    /// Default self-trade prevention.
    pub stp: StpMode,
    /// Fee of a resting (maker) fill, basis points of its notional (negative: a rebate).
    pub maker_fee_bps: i64,
    /// Fee of an aggressing (taker) fill, basis points of its notional.
    pub taker_fee_bps: i64,
}

impl Default for SymbolConfig {
    fn default() -> Self {
        SymbolConfig {
            tick_size: "0.01".into(),
            tick: TickSize::CENT,
            lot_size: 1,
            min_qty: 1,
            max_qty: 1 << 48,
            band_pct: None,
            band_ticks: None,
            reference_price: None,
            halt_pct: None,
            halt_window_ms: 1000,
            halt_duration_ms: 5000,
            shard: None,
            stp: StpMode::None,
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        }
    }
}

/// One account's pre-trade risk limits (`[risk.default]`, `[risk.accounts.N]`); `None`
/// means no limit. Quantities are lots; notionals are in the quote currency.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RiskLimits {
    /// Largest order, lots.
    pub max_order_qty: Option<u64>,
    /// Largest order notional (price x quantity) in the quote currency, as decimal text.
    pub max_order_notional: Option<String>,
    /// The same in nano-units of the currency (exact).
    pub max_order_notional_nanos: Option<i128>,
    /// Price collar: farthest from the reference price (last trade, else the symbol's
    /// `reference_price`) in basis points ...
    pub collar_bps: Option<f64>,
    /// ... or in ticks (both apply when both are set).
    pub collar_ticks: Option<u64>,
    /// Most open orders across all symbols.
    pub max_open_orders: Option<u64>,
    /// Largest position per symbol, long or short, counting the open orders on the side that
    /// would increase it, lots.
    pub max_position: Option<u64>,
    /// Order-rate limit, orders per second (a token bucket) ...
    pub max_orders_per_second: Option<f64>,
    /// ... with this burst (default: one second's worth, at least 1).
    pub burst: Option<u64>,
    /// Realized loss (fees included) in the quote currency since the engine started or
    /// the last `end_session` that turns the account's kill switch on, as decimal text.
    pub max_daily_loss: Option<String>,
    /// The same in nano-units of the currency.
    pub max_daily_loss_nanos: Option<i128>,
    /// Gross exposure across every symbol and shard: the sum of |position| x mark (last
    /// trade, else `reference_price`), each position counted with the open orders that would
    /// increase it, in the quote currency, as decimal text (see `crate::risk`).
    pub max_gross_exposure: Option<String>,
    /// The same in nano-units of the currency.
    pub max_gross_exposure_nanos: Option<i128>,
    /// Net exposure across every symbol and shard: |sum of signed position x mark|, counting
    /// the open orders that would move it further from zero, as decimal text.
    pub max_net_exposure: Option<String>,
    /// The same in nano-units of the currency.
    pub max_net_exposure_nanos: Option<i128>,
}

impl RiskLimits {
    /// Whether a portfolio exposure limit (gross or net) is set.
    pub fn has_exposure(&self) -> bool {
        self.max_gross_exposure_nanos.is_some() || self.max_net_exposure_nanos.is_some()
    }
}

/// `[risk]`: limits for every non-zero account (`default`) and per account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RiskSection {
    /// Limits of an account without its own table.
    pub default: Option<RiskLimits>,
    /// Per account.
    pub accounts: BTreeMap<u32, RiskLimits>,
}

impl RiskSection {
    /// The limits that apply to `account` (account 0, the anonymous flow, has none).
    pub fn limits(&self, account: u32) -> Option<&RiskLimits> {
        if account == 0 {
            return None;
        }
        self.accounts.get(&account).or(self.default.as_ref())
    }

    /// Whether any account has a portfolio exposure limit.
    pub fn has_exposure(&self) -> bool {
        self.default.as_ref().is_some_and(RiskLimits::has_exposure)
            || self.accounts.values().any(RiskLimits::has_exposure)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EngineConfig {
    /// `[engine]`.
    pub engine: EngineSection,
    /// `[breaker]`.
    pub breaker: BreakerSection,
    /// `[risk]`.
    pub risk: RiskSection,
    /// `[symbols.*]`, by name (sorted).
    pub symbols: BTreeMap<String, SymbolConfig>,
}

struct Ctx<'a> {
    file: Option<&'a str>,
}

impl Ctx<'_> {
    fn err(&self, key: &str, value: &Value, rule: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.map(str::to_owned),
            key: key.to_owned(),
            value: show(value),
            rule: rule.into(),
        }
    }
    fn uint(&self, key: &str, v: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
        match v {
            Value::Integer(i) if *i >= 0 && (*i as u64) >= min && (*i as u64) <= max => {
                Ok(*i as u64)
            }
            Value::Integer(_) => Err(self.err(key, v, format!("must be between {min} and {max}"))),
            _ => Err(self.err(key, v, "must be an integer")),
        }
    }
    fn int(&self, key: &str, v: &Value, min: i64, max: i64) -> Result<i64, ConfigError> {
        match v {
            Value::Integer(i) if (min..=max).contains(i) => Ok(*i),
            Value::Integer(_) => Err(self.err(key, v, format!("must be between {min} and {max}"))),
            _ => Err(self.err(key, v, "must be an integer")),
        }
    }
    fn float(&self, key: &str, v: &Value, min_excl: f64, max: f64) -> Result<f64, ConfigError> {
        let f = match v {
            Value::Float(f) => *f,
            Value::Integer(i) => *i as f64,
            _ => return Err(self.err(key, v, "must be a number")),
        };
        if !(f > min_excl && f <= max) {
            return Err(self.err(key, v, format!("must be > {min_excl} and <= {max}")));
        }
        Ok(f)
    }
    fn boolean(&self, key: &str, v: &Value) -> Result<bool, ConfigError> {
        v.as_bool()
            .ok_or_else(|| self.err(key, v, "must be true or false"))
    }
    fn choice<'v>(
        &self,
        key: &str,
        v: &'v Value,
        options: &[&str],
    ) -> Result<&'v str, ConfigError> {
        match v.as_str() {
            Some(s) if options.contains(&s) => Ok(s),
            _ => Err(self.err(key, v, format!("must be one of {}", options.join(", ")))),
        }
    }
    fn table<'v>(&self, key: &str, v: &'v Value) -> Result<&'v toml::Table, ConfigError> {
        v.as_table()
            .ok_or_else(|| self.err(key, v, "must be a table"))
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn price_ticks(ctx: &Ctx<'_>, key: &str, v: &Value, tick: &TickSize) -> Result<i64, ConfigError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        _ => return Err(ctx.err(key, v, "must be a decimal price such as \"150.00\"")),
    };
    tick.ticks_from_str(&text)
        .map(|p| p.0)
        .map_err(|e| ctx.err(key, v, e.to_string()))
}

/// Exact nano-units of a decimal amount of currency.
fn nanos(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || frac.len() > 9
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let i: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: i128 = format!("{frac:0<9}").parse().ok()?;
    let v = i.checked_mul(1_000_000_000)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// A positive amount of currency (decimal text, at most 9 decimals, at most `max` nano-units):
/// the text as written and its nano-units.
fn amount(
    ctx: &Ctx<'_>,
    key: &str,
    v: &Value,
    example: &str,
    max: i128,
) -> Result<(String, i128), ConfigError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        _ => return Err(ctx.err(key, v, format!("must be an amount such as \"{example}\""))),
    };
    let n = nanos(&text)
        .filter(|&n| n > 0)
        .ok_or_else(|| ctx.err(key, v, "must be a positive amount with at most 9 decimals"))?;
    if n > max {
        return Err(ctx.err(
            key,
            v,
            format!(
                "must be at most {}.{:09}",
                max / 1_000_000_000,
                max % 1_000_000_000
            ),
        ));
    }
    Ok((text, n))
}

fn parse_risk(ctx: &Ctx<'_>, prefix: &str, t: &toml::Table) -> Result<RiskLimits, ConfigError> {
    let mut l = RiskLimits::default();
    for (k, v) in t {
        let key = format!("{prefix}.{k}");
        match k.as_str() {
            "max_order_qty" => l.max_order_qty = Some(ctx.uint(&key, v, 1, 1 << 48)?),
            "max_order_notional" => {
                let (text, n) = amount(ctx, &key, v, "1000000", i128::MAX)?;
                l.max_order_notional = Some(text);
                l.max_order_notional_nanos = Some(n);
            }
            "collar_bps" => l.collar_bps = Some(ctx.float(&key, v, 0.0, 100_000.0)?),
            "collar_ticks" => l.collar_ticks = Some(ctx.uint(&key, v, 1, 1 << 40)?),
            "max_open_orders" => l.max_open_orders = Some(ctx.uint(&key, v, 1, 1 << 32)?),
            "max_position" => l.max_position = Some(ctx.uint(&key, v, 1, 1 << 48)?),
            "max_orders_per_second" => {
                l.max_orders_per_second = Some(ctx.float(&key, v, 0.0, 1e9)?)
            }
            "burst" => l.burst = Some(ctx.uint(&key, v, 1, 1 << 32)?),
            "max_daily_loss" => {
                let (text, n) = amount(ctx, &key, v, "5000", i128::MAX)?;
                l.max_daily_loss = Some(text);
                l.max_daily_loss_nanos = Some(n);
            }
            "max_gross_exposure" => {
                let (text, n) = amount(ctx, &key, v, "1000000", i128::from(i64::MAX))?;
                l.max_gross_exposure = Some(text);
                l.max_gross_exposure_nanos = Some(n);
            }
            "max_net_exposure" => {
                let (text, n) = amount(ctx, &key, v, "1000000", i128::from(i64::MAX))?;
                l.max_net_exposure = Some(text);
                l.max_net_exposure_nanos = Some(n);
            }
            _ => {
                return Err(ctx.err(
                    &key,
                    v,
                    "unknown key (known: max_order_qty, max_order_notional, collar_bps, \
                     collar_ticks, max_open_orders, max_position, max_orders_per_second, burst, \
                     max_daily_loss, max_gross_exposure, max_net_exposure)",
                ))
            }
        }
    }
    Ok(l)
}

impl RiskLimits {
    /// The limits as a TOML table that reads back equal.
    pub fn to_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        let int = |v: u64| Value::Integer(v.min(i64::MAX as u64) as i64);
        if let Some(v) = self.max_order_qty {
            t.insert("max_order_qty".into(), int(v));
        }
        if let Some(v) = &self.max_order_notional {
            t.insert("max_order_notional".into(), Value::String(v.clone()));
        }
        if let Some(v) = self.collar_bps {
            t.insert("collar_bps".into(), Value::Float(v));
        }
        if let Some(v) = self.collar_ticks {
            t.insert("collar_ticks".into(), int(v));
        }
        if let Some(v) = self.max_open_orders {
            t.insert("max_open_orders".into(), int(v));
        }
        if let Some(v) = self.max_position {
            t.insert("max_position".into(), int(v));
        }
        if let Some(v) = self.max_orders_per_second {
            t.insert("max_orders_per_second".into(), Value::Float(v));
        }
        if let Some(v) = self.burst {
            t.insert("burst".into(), int(v));
        }
        if let Some(v) = &self.max_daily_loss {
            t.insert("max_daily_loss".into(), Value::String(v.clone()));
        }
        if let Some(v) = &self.max_gross_exposure {
            t.insert("max_gross_exposure".into(), Value::String(v.clone()));
        }
        if let Some(v) = &self.max_net_exposure {
            t.insert("max_net_exposure".into(), Value::String(v.clone()));
        }
        t
    }
}

/// Parse one symbol's options from a table (`key` prefix for errors).
///
/// # Errors
/// The first key that breaks a rule, or an unknown key.
pub fn parse_symbol(
    file: Option<&str>,
    prefix: &str,
    t: &toml::Table,
) -> Result<SymbolConfig, ConfigError> {
    let ctx = Ctx { file };
    let mut s = SymbolConfig::default();
    // tick_size first: reference_price needs it.
    if let Some(v) = t.get("tick_size") {
        let key = format!("{prefix}.tick_size");
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            _ => return Err(ctx.err(&key, v, "must be a decimal such as \"0.01\"")),
        };
        s.tick = TickSize::parse(&text).map_err(|e| ctx.err(&key, v, e.to_string()))?;
        s.tick_size = text;
    }
    let tick = s.tick;
    for (k, v) in t {
        let key = format!("{prefix}.{k}");
        match k.as_str() {
            "tick_size" => {}
            "lot_size" => s.lot_size = ctx.uint(&key, v, 1, u32::MAX as u64)?,
            "min_qty" => s.min_qty = ctx.uint(&key, v, 1, 1 << 48)?,
            "max_qty" => s.max_qty = ctx.uint(&key, v, 1, 1 << 48)?,
            "band_pct" => s.band_pct = Some(ctx.float(&key, v, 0.0, 1000.0)?),
            "band_ticks" => s.band_ticks = Some(ctx.uint(&key, v, 1, 1 << 40)? as i64),
            "reference_price" => s.reference_price = Some(price_ticks(&ctx, &key, v, &tick)?),
            "halt_pct" => s.halt_pct = Some(ctx.float(&key, v, 0.0, 1000.0)?),
            "halt_window_ms" => s.halt_window_ms = ctx.uint(&key, v, 1, 86_400_000)?,
            "halt_duration_ms" => s.halt_duration_ms = ctx.uint(&key, v, 1, 86_400_000)?,
            "shard" => s.shard = Some(ctx.uint(&key, v, 0, 1023)? as usize),
            "maker_fee_bps" => s.maker_fee_bps = ctx.int(&key, v, -10_000, 10_000)?,
            "taker_fee_bps" => s.taker_fee_bps = ctx.int(&key, v, -10_000, 10_000)?,
            "stp" => {
                s.stp = match ctx.choice(
                    &key,
                    v,
                    &["none", "cancel_newest", "cancel_oldest", "cancel_both"],
                )? {
                    "cancel_newest" => StpMode::CancelNewest,
                    "cancel_oldest" => StpMode::CancelOldest,
                    "cancel_both" => StpMode::CancelBoth,
                    _ => StpMode::None,
                }
            }
            _ => {
                return Err(ctx.err(
                    &key,
                    v,
                    "unknown key (known: tick_size, lot_size, min_qty, max_qty, band_pct, \
                     band_ticks, reference_price, halt_pct, halt_window_ms, halt_duration_ms, \
                     shard, stp, maker_fee_bps, taker_fee_bps)",
                ))
            }
        }
    }
    if s.min_qty > s.max_qty {
        return Err(ConfigError {
            file: file.map(str::to_owned),
            key: format!("{prefix}.min_qty"),
            value: s.min_qty.to_string(),
            rule: format!("must not exceed max_qty ({})", s.max_qty),
        });
    }
    Ok(s)
}

impl SymbolConfig {
    /// The options as a TOML table that [`parse_symbol`] reads back to an equal config.
    pub fn to_table(&self) -> toml::Table {
        let mut t = toml::Table::new();
        let int = |v: u64| Value::Integer(v.min(i64::MAX as u64) as i64);
        t.insert("tick_size".into(), Value::String(self.tick_size.clone()));
        t.insert("lot_size".into(), int(self.lot_size));
        t.insert("min_qty".into(), int(self.min_qty));
        t.insert("max_qty".into(), int(self.max_qty));
        if let Some(v) = self.band_pct {
            t.insert("band_pct".into(), Value::Float(v));
        }
        if let Some(v) = self.band_ticks {
            t.insert("band_ticks".into(), Value::Integer(v));
        }
        if let Some(v) = self.reference_price {
            t.insert(
                "reference_price".into(),
                Value::String(self.tick.format(hftbook_core::Price(v))),
            );
        }
        if let Some(v) = self.halt_pct {
            t.insert("halt_pct".into(), Value::Float(v));
        }
        t.insert("halt_window_ms".into(), int(self.halt_window_ms));
        t.insert("halt_duration_ms".into(), int(self.halt_duration_ms));
        if let Some(v) = self.shard {
            t.insert("shard".into(), int(v as u64));
        }
        let stp = match self.stp {
            StpMode::CancelNewest => "cancel_newest",
            StpMode::CancelOldest => "cancel_oldest",
            StpMode::CancelBoth => "cancel_both",
            _ => "none",
        };
        t.insert("stp".into(), Value::String(stp.into()));
        if self.maker_fee_bps != 0 {
            t.insert("maker_fee_bps".into(), Value::Integer(self.maker_fee_bps));
        }
        if self.taker_fee_bps != 0 {
            t.insert("taker_fee_bps".into(), Value::Integer(self.taker_fee_bps));
        }
        t
    }
}

impl EngineConfig {
    /// The whole configuration as TOML text that [`EngineConfig::from_toml`] reads back
    /// to an equal config (the journal stores it; its hash identifies the journal).
    pub fn to_toml(&self) -> String {
        let int = |v: u64| Value::Integer(v.min(i64::MAX as u64) as i64);
        let e = &self.engine;
        let mut eng = toml::Table::new();
        eng.insert("shards".into(), int(e.shards as u64));
        eng.insert("lane_capacity".into(), int(e.lane_capacity as u64));
        eng.insert("priority_capacity".into(), int(e.priority_capacity as u64));
        eng.insert("event_capacity".into(), int(e.event_capacity as u64));
        eng.insert("batch_size".into(), int(e.batch_size as u64));
        let on_full = if e.on_full == OnFull::Reject {
            "reject"
        } else {
            "block"
        };
        eng.insert("on_full".into(), Value::String(on_full.into()));
        eng.insert("full_timeout_ms".into(), int(e.full_timeout_ms));
        eng.insert("idle_spin".into(), int(u64::from(e.idle_spin)));
        eng.insert("idle_yield".into(), int(u64::from(e.idle_yield)));
        eng.insert("park_ms".into(), int(e.park_ms));
        let paused = if e.reject_when_paused {
            "reject"
        } else {
            "queue"
        };
        eng.insert("paused_orders".into(), Value::String(paused.into()));
        eng.insert("keep_events".into(), Value::Boolean(e.keep_events));
        eng.insert("trade_events".into(), Value::Boolean(e.trade_events));
        eng.insert("book_events".into(), Value::Boolean(e.book_events));
        let b = &self.breaker;
        let mut brk = toml::Table::new();
        brk.insert("enabled".into(), Value::Boolean(b.enabled));
        brk.insert("reject_rate".into(), Value::Float(b.reject_rate));
        brk.insert("window".into(), int(b.window));
        brk.insert("max_queue_delay_us".into(), int(b.max_queue_delay_us));
        brk.insert("cooldown_ms".into(), int(b.cooldown_ms));
        brk.insert("probe_orders".into(), int(b.probe_orders));
        let mut t = toml::Table::new();
        t.insert("engine".into(), Value::Table(eng));
        t.insert("breaker".into(), Value::Table(brk));
        if self.risk != RiskSection::default() {
            let mut r = toml::Table::new();
            if let Some(d) = &self.risk.default {
                r.insert("default".into(), Value::Table(d.to_table()));
            }
            if !self.risk.accounts.is_empty() {
                let mut a = toml::Table::new();
                for (k, l) in &self.risk.accounts {
                    a.insert(k.to_string(), Value::Table(l.to_table()));
                }
                r.insert("accounts".into(), Value::Table(a));
            }
            t.insert("risk".into(), Value::Table(r));
        }
        if !self.symbols.is_empty() {
            let mut syms = toml::Table::new();
            for (name, s) in &self.symbols {
                syms.insert(name.clone(), Value::Table(s.to_table()));
            }
            t.insert("symbols".into(), Value::Table(syms));
        }
        t.to_string()
    }
}

impl EngineConfig {
    /// Parse TOML text (`file` names it in errors).
    ///
    /// # Errors
    /// A syntax error or the first key that breaks a rule.
    pub fn from_toml(text: &str, file: Option<&str>) -> Result<EngineConfig, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            file: file.map(str::to_owned),
            key: "(syntax)".into(),
            value: e
                .span()
                .map(|s| format!("bytes {}..{}", s.start, s.end))
                .unwrap_or_default(),
            rule: e.message().to_owned(),
        })?;
        Self::from_table(&table, file)
    }

    /// Build from a parsed table.
    ///
    /// # Errors
    /// The first key that breaks a rule, or an unknown key or section.
    pub fn from_table(t: &toml::Table, file: Option<&str>) -> Result<EngineConfig, ConfigError> {
        let ctx = Ctx { file };
        let mut c = EngineConfig::default();
        for (section, v) in t {
            match section.as_str() {
                "engine" => {
                    for (k, v) in ctx.table("engine", v)? {
                        let key = format!("engine.{k}");
                        let e = &mut c.engine;
                        match k.as_str() {
                            "shards" => e.shards = ctx.uint(&key, v, 1, 1024)? as usize,
                            "lane_capacity" => {
                                e.lane_capacity = ctx.uint(&key, v, 2, 1 << 26)? as usize
                            }
                            "priority_capacity" => {
                                e.priority_capacity = ctx.uint(&key, v, 2, 1 << 26)? as usize
                            }
                            "event_capacity" => {
                                e.event_capacity = ctx.uint(&key, v, 64, 1 << 28)? as usize
                            }
                            "batch_size" => e.batch_size = ctx.uint(&key, v, 1, 1 << 20)? as usize,
                            "on_full" => {
                                e.on_full = match ctx.choice(&key, v, &["block", "reject"])? {
                                    "reject" => OnFull::Reject,
                                    _ => OnFull::Block,
                                }
                            }
                            "full_timeout_ms" => {
                                e.full_timeout_ms = ctx.uint(&key, v, 0, 3_600_000)?
                            }
                            "idle_spin" => e.idle_spin = ctx.uint(&key, v, 0, 1 << 24)? as u32,
                            "idle_yield" => e.idle_yield = ctx.uint(&key, v, 0, 1 << 24)? as u32,
                            "park_ms" => e.park_ms = ctx.uint(&key, v, 1, 60_000)?,
                            "paused_orders" => {
                                e.reject_when_paused =
                                    ctx.choice(&key, v, &["queue", "reject"])? == "reject"
                            }
                            "keep_events" => e.keep_events = ctx.boolean(&key, v)?,
                            "trade_events" => e.trade_events = ctx.boolean(&key, v)?,
                            "book_events" => e.book_events = ctx.boolean(&key, v)?,
                            _ => {
                                return Err(ctx.err(
                                    &key,
                                    v,
                                    "unknown key (known: shards, lane_capacity, \
                                     priority_capacity, event_capacity, batch_size, on_full, \
                                     full_timeout_ms, idle_spin, idle_yield, park_ms, \
                                     paused_orders, keep_events, trade_events, book_events)",
                                ))
                            }
                        }
                    }
                }
                "breaker" => {
                    for (k, v) in ctx.table("breaker", v)? {
                        let key = format!("breaker.{k}");
                        let b = &mut c.breaker;
                        match k.as_str() {
                            "enabled" => b.enabled = ctx.boolean(&key, v)?,
                            "reject_rate" => b.reject_rate = ctx.float(&key, v, 0.0, 1.0)?,
                            "window" => b.window = ctx.uint(&key, v, 1, 1 << 32)?,
                            "max_queue_delay_us" => {
                                b.max_queue_delay_us = ctx.uint(&key, v, 1, 3_600_000_000)?
                            }
                            "cooldown_ms" => b.cooldown_ms = ctx.uint(&key, v, 1, 86_400_000)?,
                            "probe_orders" => b.probe_orders = ctx.uint(&key, v, 1, 1 << 32)?,
                            _ => {
                                return Err(ctx.err(
                                    &key,
                                    v,
                                    "unknown key (known: enabled, reject_rate, window, \
                                     max_queue_delay_us, cooldown_ms, probe_orders)",
                                ))
                            }
                        }
                    }
                }
                "risk" => {
                    for (k, v) in ctx.table("risk", v)? {
                        match k.as_str() {
                            "default" => {
                                c.risk.default = Some(parse_risk(
                                    &ctx,
                                    "risk.default",
                                    ctx.table("risk.default", v)?,
                                )?)
                            }
                            "accounts" => {
                                for (a, v) in ctx.table("risk.accounts", v)? {
                                    let key = format!("risk.accounts.{a}");
                                    let acct: u32 =
                                        a.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                                            ctx.err(
                                                &key,
                                                &Value::String(a.clone()),
                                                "an account is a number from 1 to 4294967295",
                                            )
                                        })?;
                                    let l = parse_risk(&ctx, &key, ctx.table(&key, v)?)?;
                                    c.risk.accounts.insert(acct, l);
                                }
                            }
                            _ => {
                                return Err(ctx.err(
                                    &format!("risk.{k}"),
                                    v,
                                    "unknown key (known: default, accounts)",
                                ))
                            }
                        }
                    }
                }
                "symbols" => {
                    for (name, v) in ctx.table("symbols", v)? {
                        let prefix = format!("symbols.{name}");
                        check_symbol_name(&ctx, &prefix, name)?;
                        let s = parse_symbol(file, &prefix, ctx.table(&prefix, v)?)?;
                        c.symbols.insert(name.clone(), s);
                    }
                }
                _ => {
                    return Err(ctx.err(
                        section,
                        v,
                        "unknown section (known: engine, breaker, risk, symbols)",
                    ))
                }
            }
        }
        for (name, s) in &c.symbols {
            if let Some(sh) = s.shard {
                if sh >= c.engine.shards {
                    return Err(ConfigError {
                        file: file.map(str::to_owned),
                        key: format!("symbols.{name}.shard"),
                        value: sh.to_string(),
                        rule: format!("must be below engine.shards ({})", c.engine.shards),
                    });
                }
            }
        }
        Ok(c)
    }

    /// Keys whose change needs a restart, between `self` (running) and `new`.
    pub fn restart_only_changes(&self, new: &EngineConfig) -> Vec<String> {
        let (a, b) = (&self.engine, &new.engine);
        let mut out = Vec::new();
        if a.shards != b.shards {
            out.push("engine.shards".into());
        }
        if a.lane_capacity != b.lane_capacity {
            out.push("engine.lane_capacity".into());
        }
        if a.priority_capacity != b.priority_capacity {
            out.push("engine.priority_capacity".into());
        }
        if a.event_capacity != b.event_capacity {
            out.push("engine.event_capacity".into());
        }
        if a.keep_events != b.keep_events {
            out.push("engine.keep_events".into());
        }
        for (name, old) in &self.symbols {
            match new.symbols.get(name) {
                None => out.push(format!("symbols.{name} (removed)")),
                Some(s) => {
                    if s.tick_size != old.tick_size {
                        out.push(format!("symbols.{name}.tick_size"));
                    }
                    if s.lot_size != old.lot_size {
                        out.push(format!("symbols.{name}.lot_size"));
                    }
                    if s.shard != old.shard {
                        out.push(format!("symbols.{name}.shard"));
                    }
                    if (s.min_qty, s.max_qty, s.stp) != (old.min_qty, old.max_qty, old.stp) {
                        out.push(format!("symbols.{name}.min_qty/max_qty/stp"));
                    }
                }
            }
        }
        out
    }
}

/// Symbol names: 1 to 32 characters, letters, digits and `._-/:`.
///
/// # Errors
/// A name that breaks the rule.
fn check_symbol_name(ctx: &Ctx<'_>, key: &str, name: &str) -> Result<(), ConfigError> {
    if valid_symbol_name(name) {
        Ok(())
    } else {
        Err(ctx.err(
            key,
            &Value::String(name.to_owned()),
            "a symbol is 1 to 32 characters: letters, digits and . _ - / :",
        ))
    }
}

/// Whether `name` is a valid symbol name (1 to 32 of letters, digits, `._-/:`).
pub fn valid_symbol_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_toml_reads_back_equal() {
        let text = r#"
            [engine]
            shards = 3
            on_full = "reject"
            paused_orders = "reject"
            book_events = true
            [breaker]
            reject_rate = 0.1
            enabled = false
            [symbols.AAPL]
            tick_size = "0.005"
            band_pct = 7.5
            band_ticks = 40
            reference_price = "150.125"
            halt_pct = 3.3
            shard = 1
            stp = "cancel_both"
            [symbols."BTC-USD"]
            tick_size = "0.5"
            maker_fee_bps = -1
            taker_fee_bps = 4
            [risk.default]
            max_order_qty = 100
            max_order_notional = "250000.5"
            [risk.accounts.7]
            collar_bps = 50
            collar_ticks = 20
            max_open_orders = 10
            max_position = 500
            max_orders_per_second = 1000
            burst = 20
            max_daily_loss = "5000.25"
            max_gross_exposure = "2000000.5"
            max_net_exposure = 500000
        "#;
        let c = EngineConfig::from_toml(text, None).unwrap();
        let back = EngineConfig::from_toml(&c.to_toml(), None).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_toml(), c.to_toml());
        let d = EngineConfig::default();
        assert_eq!(EngineConfig::from_toml(&d.to_toml(), None).unwrap(), d);
    }

    #[test]
    fn parses_a_full_file() {
        let c = EngineConfig::from_toml(
            r#"
            [engine]
            shards = 2
            on_full = "reject"
            [breaker]
            reject_rate = 0.25
            [symbols.AAPL]
            tick_size = "0.01"
            band_pct = 10
            reference_price = "150.00"
            shard = 1
            "#,
            Some("hftbook.toml"),
        )
        .unwrap();
        assert_eq!(c.engine.shards, 2);
        assert_eq!(c.engine.on_full, OnFull::Reject);
        assert_eq!(c.breaker.reject_rate, 0.25);
        let s = &c.symbols["AAPL"];
        assert_eq!(s.reference_price, Some(15000));
        assert_eq!(s.band_pct, Some(10.0));
    }

    #[test]
    fn errors_name_file_key_value_and_rule() {
        let cases = [
            ("[engine]\nshards = 0", "engine.shards", "0", "between 1"),
            ("[engine]\nbogus = 1", "engine.bogus", "1", "unknown key"),
            (
                "[engine]\non_full = \"drop\"",
                "engine.on_full",
                "\"drop\"",
                "one of",
            ),
            (
                "[breaker]\nreject_rate = 2.0",
                "breaker.reject_rate",
                "2.0",
                "<= 1",
            ),
            (
                "[symbols.X]\ntick_size = \"abc\"",
                "symbols.X.tick_size",
                "\"abc\"",
                "tick",
            ),
            (
                "[symbols.X]\ntick_size = \"0.01\"\nreference_price = \"1.001\"",
                "symbols.X.reference_price",
                "\"1.001\"",
                "multiple",
            ),
            (
                "[symbols.X]\nshard = 3",
                "symbols.X.shard",
                "3",
                "below engine.shards",
            ),
            (
                "[symbols.X]\nmin_qty = 5\nmax_qty = 2",
                "symbols.X.min_qty",
                "5",
                "max_qty",
            ),
            ("[nope]\na = 1", "nope", "", "unknown section"),
            (
                "[risk.default]\nmax_gross_exposure = \"-5\"",
                "risk.default.max_gross_exposure",
                "\"-5\"",
                "positive amount",
            ),
            (
                "[risk.accounts.3]\nmax_net_exposure = \"10000000000\"",
                "risk.accounts.3.max_net_exposure",
                "\"10000000000\"",
                "at most 9223372036.854775807",
            ),
            ("[engine\n", "(syntax)", "", ""),
        ];
        for (text, key, value, rule) in cases {
            let e = EngineConfig::from_toml(text, Some("f.toml")).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.value.contains(value), "{text}: {e}");
            assert!(e.rule.contains(rule), "{text}: {e}");
            assert!(e.to_string().starts_with("f.toml: "), "{e}");
        }
    }

    #[test]
    fn restart_only_changes_are_listed() {
        let a = EngineConfig::from_toml("[symbols.A]\nband_pct = 5", None).unwrap();
        let mut b = a.clone();
        b.engine.shards = 2;
        b.engine.batch_size = 10;
        b.symbols.get_mut("A").unwrap().band_pct = Some(7.0);
        assert_eq!(
            a.restart_only_changes(&b),
            vec!["engine.shards".to_string()]
        );
    }
}
