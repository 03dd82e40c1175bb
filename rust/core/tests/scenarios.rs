#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runs every matching scenario in `tests/scenarios/*.toml` (see the README there for the
//! format) on each ladder implementation, checking every expectation and the book's internal
//! invariants after every step. The same files are run through the Python API by
//! `tests/test_scenarios.py`.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

use hftbook_core::{
    BTreeLadder, Clock, Execution, Ladder, NewOrder, OrderBook, OrderError, OrderType,
    PlainSkipLadder, Price, QtyLimits, Report, Side, SkipLadder, StpMode, TimeInForce,
};
use serde::Deserialize;

/// At least this many scenario files must exist.
const MIN_FILES: usize = 30;

/// On a step repeated more than this many times, invariants are checked every this many
/// repetitions (and after the last) instead of after each one.
const INVARIANT_EVERY: u32 = 250;

/// Levels to ask for when comparing depth: more than any scenario builds.
const ALL_LEVELS: usize = 1 << 20;

type LevelRow = (i64, u64, u32);
type OrderRow = (u64, String, i64, u64);
type Runner = fn(&Scenario) -> Result<(), String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: Option<String>,
    stp_default: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(rename = "final")]
    final_book: Option<BookExpect>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BookExpect {
    bids: Option<Vec<LevelRow>>,
    asks: Option<Vec<LevelRow>>,
    orders: Option<Vec<OrderRow>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct FillExpect {
    maker: u64,
    taker: u64,
    price: i64,
    qty: u64,
}

impl Debug for FillExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{maker {} taker {} price {} qty {}}}",
            self.maker, self.taker, self.price, self.qty
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    op: String,
    note: Option<String>,
    // --- request ---
    id: Option<u64>,
    side: Option<String>,
    price: Option<i64>,
    qty: Option<u64>,
    #[serde(rename = "type")]
    order_type: Option<String>,
    tif: Option<String>,
    post_only: Option<bool>,
    display_qty: Option<u64>,
    account: Option<u32>,
    stp: Option<String>,
    repeat: Option<u32>,
    price_step: Option<i64>,
    // --- expectations ---
    order_id: Option<u64>,
    status: Option<String>,
    reason: Option<String>,
    filled: Option<u64>,
    remaining: Option<u64>,
    cancelled: Option<u64>,
    error: Option<String>,
    fills: Option<Vec<FillExpect>>,
    fill_count: Option<usize>,
    fills_head: Option<Vec<FillExpect>>,
    fills_tail: Option<Vec<FillExpect>>,
    cancelled_makers: Option<Vec<u64>>,
    bids: Option<Vec<LevelRow>>,
    asks: Option<Vec<LevelRow>>,
    orders: Option<Vec<OrderRow>>,
}

/// What one operation did, in the vocabulary of the scenario files.
#[derive(Debug, Default)]
struct Outcome {
    order_id: Option<u64>,
    status: String,
    reason: Option<String>,
    filled: u64,
    remaining: u64,
    cancelled: u64,
    error: Option<String>,
    fills: Vec<FillExpect>,
    cancelled_makers: Vec<u64>,
}

fn parse_side(s: &str) -> Result<Side, String> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        _ => Err(format!("bad side {s:?}")),
    }
}

fn parse_type(s: &str) -> Result<OrderType, String> {
    match s {
        "limit" => Ok(OrderType::Limit),
        "market" => Ok(OrderType::Market),
        _ => Err(format!("bad type {s:?}")),
    }
}

fn parse_tif(s: &str) -> Result<TimeInForce, String> {
    match s {
        "gtc" => Ok(TimeInForce::Gtc),
        "ioc" => Ok(TimeInForce::Ioc),
        "fok" => Ok(TimeInForce::Fok),
        _ => Err(format!("bad tif {s:?}")),
    }
}

fn parse_stp(s: &str) -> Result<StpMode, String> {
    match s {
        "none" => Ok(StpMode::None),
        "cancel_newest" => Ok(StpMode::CancelNewest),
        "cancel_oldest" => Ok(StpMode::CancelOldest),
        "cancel_both" => Ok(StpMode::CancelBoth),
        _ => Err(format!("bad stp {s:?}")),
    }
}

/// The error family a scenario names (the Python exception class, in snake case).
fn error_name(e: &OrderError) -> &'static str {
    match e {
        OrderError::PriceOutOfRange { .. }
        | OrderError::PriceNotOnTick { .. }
        | OrderError::PriceNotANumber { .. }
        | OrderError::MissingPrice => "invalid_price",
        OrderError::ZeroQuantity { .. }
        | OrderError::QtyBelowMin { .. }
        | OrderError::QtyAboveMax { .. }
        | OrderError::DisplayAboveQty { .. } => "invalid_quantity",
        OrderError::DuplicateOrderId { .. } => "duplicate_order_id",
        OrderError::UnknownOrder { .. } => "unknown_order",
        e if e.is_capacity() => "capacity",
        _ => "invalid_order",
    }
}

/// Fills, STP-cancelled makers and the rejection reason found in a report stream.
fn from_reports(reports: &[Report], taker: Option<u64>, out: &mut Outcome) -> Option<String> {
    let mut rejected = None;
    for r in reports {
        match *r {
            Report::Fill(f) => out.fills.push(FillExpect {
                maker: f.maker_id,
                taker: f.taker_id,
                price: f.price,
                qty: f.qty,
            }),
            Report::Cancelled {
                id,
                reason: hftbook_core::CancelReason::SelfTrade,
                ..
            } if Some(id) != taker => out.cancelled_makers.push(id),
            Report::Rejected { reason, .. } => rejected = Some(reason.as_str().to_string()),
            _ => {}
        }
    }
    rejected
}

fn from_execution(ex: &Execution, reports: &[Report]) -> Outcome {
    let mut out = Outcome {
        order_id: Some(ex.order_id),
        status: ex.status.as_str().to_string(),
        reason: ex.reason.map(|r| r.as_str().to_string()),
        filled: ex.filled_qty,
        remaining: ex.remaining_qty,
        cancelled: ex.cancelled_qty,
        ..Outcome::default()
    };
    from_reports(reports, Some(ex.order_id), &mut out);
    out
}

fn from_error(e: &hftbook_core::OrderError, reports: &[Report]) -> Outcome {
    let mut out = Outcome {
        status: "rejected".into(),
        error: Some(error_name(e).into()),
        ..Outcome::default()
    };
    out.reason = from_reports(reports, None, &mut out);
    out
}

/// One repetition of a step's operation.
fn apply<L: Ladder>(
    book: &mut OrderBook<L>,
    step: &Step,
    id: u64,
    price: Option<i64>,
) -> Result<Outcome, String> {
    let mut reports: Vec<Report> = Vec::new();
    let out = match step.op.as_str() {
        "submit" => {
            let side = parse_side(step.side.as_deref().ok_or("submit needs a side")?)?;
            let order_type = parse_type(step.order_type.as_deref().unwrap_or("limit"))?;
            let default_tif = match order_type {
                OrderType::Limit => "gtc",
                OrderType::Market => "ioc",
            };
            let o = NewOrder {
                id,
                side,
                order_type,
                price: Price(match order_type {
                    OrderType::Limit => price.ok_or("a limit submit needs a price")?,
                    OrderType::Market => price.unwrap_or(0),
                }),
                qty: step.qty.ok_or("submit needs a qty")?,
                display_qty: step.display_qty.unwrap_or(0),
                tif: parse_tif(step.tif.as_deref().unwrap_or(default_tif))?,
                post_only: step.post_only.unwrap_or(false),
                account: step.account.unwrap_or(0),
                stp: step.stp.as_deref().map(parse_stp).transpose()?,
            };
            match book.submit(&o, &mut reports) {
                Ok(ex) => from_execution(&ex, &reports),
                Err(e) => from_error(&e, &reports),
            }
        }
        "cancel" => match book.cancel(id, &mut reports) {
            Ok(qty) => {
                let mut out = Outcome {
                    order_id: Some(id),
                    status: "cancelled".into(),
                    reason: Some("requested".into()),
                    cancelled: qty,
                    ..Outcome::default()
                };
                from_reports(&reports, Some(id), &mut out);
                out
            }
            Err(e) => from_error(&e, &reports),
        },
        "modify" => match book.modify(id, price.map(Price), step.qty, &mut reports) {
            Ok(ex) => from_execution(&ex, &reports),
            Err(e) => from_error(&e, &reports),
        },
        other => return Err(format!("unknown op {other:?}")),
    };
    Ok(out)
}

fn diff<T: PartialEq + Debug>(what: &str, want: Option<&T>, got: &T, diffs: &mut Vec<String>) {
    if let Some(w) = want {
        if w != got {
            diffs.push(format!("{what}: expected {w:?}, got {got:?}"));
        }
    }
}

fn check_outcome(step: &Step, got: &Outcome, diffs: &mut Vec<String>) {
    if step.error.is_none() {
        if let Some(e) = &got.error {
            diffs.push(format!("unexpected error {e:?}"));
        }
    }
    diff(
        "error",
        step.error.as_ref().map(Some).as_ref(),
        &got.error.as_ref(),
        diffs,
    );
    if let (Some(want), Some(got_id)) = (step.order_id, got.order_id) {
        diff("order_id", Some(&want), &got_id, diffs);
    } else if step.order_id.is_some() {
        diffs.push("order_id: expected one, the operation returned none".into());
    }
    diff("status", step.status.as_ref(), &got.status, diffs);
    diff(
        "reason",
        step.reason.as_ref().map(Some).as_ref(),
        &got.reason.as_ref(),
        diffs,
    );
    diff("filled", step.filled.as_ref(), &got.filled, diffs);
    diff("remaining", step.remaining.as_ref(), &got.remaining, diffs);
    diff("cancelled", step.cancelled.as_ref(), &got.cancelled, diffs);
    diff("fills", step.fills.as_ref(), &got.fills, diffs);
    diff(
        "fill_count",
        step.fill_count.as_ref(),
        &got.fills.len(),
        diffs,
    );
    if let Some(head) = &step.fills_head {
        let n = head.len().min(got.fills.len());
        diff("fills_head", Some(head), &got.fills[..n].to_vec(), diffs);
    }
    if let Some(tail) = &step.fills_tail {
        let n = tail.len().min(got.fills.len());
        let t = got.fills[got.fills.len() - n..].to_vec();
        diff("fills_tail", Some(tail), &t, diffs);
    }
    diff(
        "cancelled_makers",
        step.cancelled_makers.as_ref(),
        &got.cancelled_makers,
        diffs,
    );
    // Cross-checks that hold for every operation.
    let traded: u64 = got.fills.iter().map(|f| f.qty).sum();
    if got.error.is_none() && traded != got.filled {
        diffs.push(format!(
            "fills add up to {traded} but filled is {}",
            got.filled
        ));
    }
}

fn check_book<L: Ladder>(book: &OrderBook<L>, want: &BookExpect, diffs: &mut Vec<String>) {
    let levels = |side| -> Vec<LevelRow> {
        book.depth(side, ALL_LEVELS)
            .iter()
            .map(|l| (l.price.ticks(), l.qty, l.orders))
            .collect()
    };
    diff("bids", want.bids.as_ref(), &levels(Side::Buy), diffs);
    diff("asks", want.asks.as_ref(), &levels(Side::Sell), diffs);
    if want.orders.is_some() {
        let l3: Vec<OrderRow> = [Side::Buy, Side::Sell]
            .iter()
            .flat_map(|&s| book.orders(s))
            .map(|o| (o.id, o.side.as_str().to_string(), o.price.ticks(), o.qty))
            .collect();
        diff("orders", want.orders.as_ref(), &l3, diffs);
    }
}

fn run_scenario<L: Ladder>(sc: &Scenario) -> Result<(), String> {
    let stp_default = sc
        .stp_default
        .as_deref()
        .map(parse_stp)
        .transpose()?
        .unwrap_or(StpMode::CancelNewest);
    let (clock, now) = Clock::manual(1);
    let mut book: OrderBook<L> = OrderBook::with_options(clock, QtyLimits::default(), stp_default);
    for (i, step) in sc.steps.iter().enumerate() {
        let label = match &step.note {
            Some(n) => format!("step {} ({} {n:?})", i + 1, step.op),
            None => format!("step {} ({})", i + 1, step.op),
        };
        let repeat = step.repeat.unwrap_or(1);
        if repeat == 0 {
            return Err(format!("{label}: repeat must be at least 1"));
        }
        let base_id = step.id.unwrap_or(0);
        for k in 0..repeat {
            let id = if base_id == 0 {
                0
            } else {
                base_id + u64::from(k)
            };
            let price = step
                .price
                .map(|p| p + step.price_step.unwrap_or(0) * i64::from(k));
            now.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let at = if repeat > 1 {
                format!("{label} repetition {}/{repeat}", k + 1)
            } else {
                label.clone()
            };
            let got = apply(&mut book, step, id, price).map_err(|e| format!("{at}: {e}"))?;
            let mut diffs = Vec::new();
            check_outcome(step, &got, &mut diffs);
            // check_invariants is O(orders): on long repeated steps, sample it (every
            // INVARIANT_EVERY-th repetition and the last one) to keep the run fast.
            let check = repeat <= INVARIANT_EVERY || k % INVARIANT_EVERY == 0 || k + 1 == repeat;
            let invariants = if check {
                book.check_invariants()
            } else {
                Ok(())
            };
            if let Err(e) = invariants {
                diffs.push(format!("invariant broken: {e}"));
            }
            if !diffs.is_empty() {
                return Err(format!("{at}: {}", diffs.join("; ")));
            }
        }
        let want = BookExpect {
            bids: step.bids.clone(),
            asks: step.asks.clone(),
            orders: step.orders.clone(),
        };
        let mut diffs = Vec::new();
        check_book(&book, &want, &mut diffs);
        if !diffs.is_empty() {
            return Err(format!(
                "{label}: book after the step: {}",
                diffs.join("; ")
            ));
        }
    }
    if let Some(want) = &sc.final_book {
        let mut diffs = Vec::new();
        check_book(&book, want, &mut diffs);
        if !diffs.is_empty() {
            return Err(format!("final book: {}", diffs.join("; ")));
        }
    }
    Ok(())
}

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios")
}

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Result<(String, Scenario), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let sc: Scenario = toml::from_str(&text).map_err(|e| format!("parse error: {e}"))?;
    Ok((text, sc))
}

#[test]
fn scenario_files_exist_and_document_their_rule() {
    let files = scenario_files();
    assert!(
        files.len() >= MIN_FILES,
        "expected at least {MIN_FILES} scenario files in {}, found {}",
        scenario_dir().display(),
        files.len()
    );
    for f in &files {
        let (text, sc) = load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            text.starts_with('#'),
            "{}: must open with a header comment saying what rule it checks",
            f.display()
        );
        assert!(!sc.steps.is_empty(), "{}: no steps", f.display());
        let _ = &sc.description;
    }
}

#[test]
fn scenarios_on_every_ladder() {
    let mut failures = Vec::new();
    let files = scenario_files();
    for f in &files {
        let name = f
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let sc = match load(f) {
            Ok((_, sc)) => sc,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let runs: [(&str, Runner); 3] = [
            ("SkipLadder", run_scenario::<SkipLadder>),
            ("BTreeLadder", run_scenario::<BTreeLadder>),
            ("PlainSkipLadder", run_scenario::<PlainSkipLadder>),
        ];
        for (ladder, run) in runs {
            if let Err(e) = run(&sc) {
                failures.push(format!("{name} [{ladder}] {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario failure(s) out of {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
