//! Background order flow: one zero-intelligence agent per symbol, calibrated to real books.
//!
//! Each agent draws Poisson arrivals in simulated time. An arrival is either
//!
//! * a **marketable** order (probability `marketable_share`): an IOC limit at the far touch,
//!   its size from `aggressor_size`, its side leaning toward the agent's fundamental price
//!   (a driftless geometric Brownian motion) when the mid has strayed from it; or
//! * a **limit order** on a random side, `d` ticks behind the same-side best (`d < 0`
//!   improves inside the spread, never crossing it, by a fitted share of the spread; `d = 0`
//!   joins), `d` drawn from the fitted distance distribution (a table with a power-law tail),
//!   its size from `add_size`. A fitted share of the limit orders placed inside, at or behind
//!   the touch is cancelled after a life drawn from that place's empirical quantile table
//!   (the lognormal when the calibration has none), and a share of them is reduced once (a
//!   partial cancel) before that.
//!
//! The parameters come from `calibration.json` (fitted to the LOBSTER samples by
//! `scripts/calibrate_flow.py`; `docs/flow_calibration.md`). The flow runs `time_scale`
//! times faster than the sample's own message rate: lives and the fundamental's diffusion are
//! compressed by the same factor, so the book keeps the sample's shape at any rate.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Deserialize;

/// Seconds in a trading year (252 days of 6.5 hours): the unit of annualised volatility.
pub const TRADING_YEAR_S: f64 = 252.0 * 6.5 * 3600.0;

/// A discrete size distribution: common values, then a lognormal for the rest.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SizeDist {
    /// The most common sizes.
    pub values: Vec<u64>,
    /// Their probabilities (the rest is the lognormal's).
    pub pmf: Vec<f64>,
    /// Lognormal location of the other sizes.
    pub rest_log_mu: f64,
    /// Lognormal scale of the other sizes.
    pub rest_log_sigma: f64,
}

/// Distance of a new limit order behind the same-side best, in ticks.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct DistanceDist {
    /// The distance of `pmf[0]` (negative: inside the spread).
    pub min: i64,
    /// Probabilities of `min, min + 1, ...`.
    pub pmf: Vec<f64>,
    /// Probability of a distance past the table.
    pub tail_share: f64,
    /// Power-law exponent of the tail.
    pub tail_alpha: f64,
    /// How far an order inside the spread improves, as a share of the spread: quantiles at
    /// `p = 0, 1/(n-1), ..., 1`. Empty: the drawn `d` is used as ticks.
    #[serde(default)]
    pub inside_fraction: Vec<f64>,
}

/// Order lives.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct LifeDist {
    /// Share of limit orders that end cancelled.
    pub cancelled_share: f64,
    /// Share that end fully executed.
    pub executed_share: f64,
    /// Lognormal location of a cancelled order's life, seconds (of the sample's time).
    pub log_mu: f64,
    /// Lognormal scale.
    pub log_sigma: f64,
    /// Lives by where the order went (inside the spread, joining the touch, behind it):
    /// each with its own cancelled share and empirical life table. Absent: every order draws
    /// from the lognormal.
    #[serde(default)]
    pub by_place: Option<PlaceLives>,
}

/// Lives of orders that went to one place in the book.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PlaceLife {
    /// Share of the orders placed there that end cancelled.
    pub cancelled_share: f64,
    /// ln(life in seconds, of the sample's time) at `p = 0, 1/(n-1), ..., 1`.
    pub log_quantiles: Vec<f64>,
}

/// [`PlaceLife`] inside the spread, at the touch and behind it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PlaceLives {
    /// `d < 0`: improving the touch.
    pub inside: PlaceLife,
    /// `d = 0`: joining the touch.
    pub join: PlaceLife,
    /// `d > 0`: behind the touch.
    pub behind: PlaceLife,
}

/// Linear interpolation in a quantile table at `u` in [0, 1].
fn quantile_at(table: &[f64], u: f64) -> f64 {
    match table.len() {
        0 => 0.0,
        1 => table[0],
        n => {
            let x = u.clamp(0.0, 1.0) * (n - 1) as f64;
            let i = (x as usize).min(n - 2);
            let w = x - i as f64;
            table[i] * (1.0 - w) + table[i + 1] * w
        }
    }
}

/// Partial cancels.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct PartialCancel {
    /// Share of limit orders reduced at least once.
    pub share_of_adds: f64,
    /// Mean fraction of the size removed.
    pub fraction_mean: f64,
}

/// The fitted flow (the `fitted` block of `calibration.json`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FlowParams {
    /// The sample's message rate, messages per second.
    pub message_rate_per_s: f64,
    /// Share of new orders that are marketable.
    pub marketable_share: f64,
    /// Distance behind the touch of new limit orders.
    pub add_distance: DistanceDist,
    /// Size of new limit orders, lots.
    pub add_size: SizeDist,
    /// Size of marketable orders, lots.
    pub aggressor_size: SizeDist,
    /// Lives of limit orders.
    pub life: LifeDist,
    /// Partial cancels.
    pub partial_cancel: PartialCancel,
}

#[derive(Deserialize)]
struct CalibrationFile {
    fitted: FlowParams,
}

/// The calibration shipped with hftbook (fitted to the LOBSTER samples).
pub const CALIBRATION_JSON: &str = include_str!("calibration.json");

impl FlowParams {
    /// The shipped calibration.
    ///
    /// # Panics
    /// Never: the file is checked by the crate's tests.
    #[allow(clippy::expect_used)]
    pub fn calibrated() -> FlowParams {
        let f: CalibrationFile =
            serde_json::from_str(CALIBRATION_JSON).expect("shipped calibration.json parses");
        f.fitted
    }

    /// Checks that the tables are distributions.
    ///
    /// # Errors
    /// The first field that is not (its name and the problem).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err((name.to_owned(), format!("{v} is not a probability")))
            }
        };
        share("marketable_share", self.marketable_share)?;
        share("life.cancelled_share", self.life.cancelled_share)?;
        share("life.executed_share", self.life.executed_share)?;
        share(
            "partial_cancel.share_of_adds",
            self.partial_cancel.share_of_adds,
        )?;
        share(
            "partial_cancel.fraction_mean",
            self.partial_cancel.fraction_mean,
        )?;
        share("add_distance.tail_share", self.add_distance.tail_share)?;
        for (name, pmf) in [
            ("add_distance.pmf", &self.add_distance.pmf),
            ("add_size.pmf", &self.add_size.pmf),
            ("aggressor_size.pmf", &self.aggressor_size.pmf),
        ] {
            if pmf.is_empty() || pmf.iter().any(|p| !(0.0..=1.0).contains(p)) {
                return Err((name.to_owned(), "needs probabilities in [0, 1]".into()));
            }
        }
        if self.add_size.values.len() != self.add_size.pmf.len()
            || self.aggressor_size.values.len() != self.aggressor_size.pmf.len()
        {
            return Err(("size.values".into(), "one probability per value".into()));
        }
        if let Some(b) = &self.life.by_place {
            for (name, pl) in [
                ("inside", &b.inside),
                ("join", &b.join),
                ("behind", &b.behind),
            ] {
                share(
                    &format!("life.by_place.{name}.cancelled_share"),
                    pl.cancelled_share,
                )?;
                let t = &pl.log_quantiles;
                if t.len() < 2
                    || t.windows(2)
                        .any(|w| w[0].partial_cmp(&w[1]).is_none_or(|o| o.is_gt()))
                {
                    return Err((
                        format!("life.by_place.{name}.log_quantiles"),
                        "needs at least 2 values, ascending".into(),
                    ));
                }
            }
        }
        let f = &self.add_distance.inside_fraction;
        if f.len() == 1
            || f.windows(2)
                .any(|w| w[0].partial_cmp(&w[1]).is_none_or(|o| o.is_gt()))
            || f.iter().any(|v| !(0.0..=1.0).contains(v))
        {
            return Err((
                "add_distance.inside_fraction".into(),
                "needs ascending shares in [0, 1] (at least 2, or none)".into(),
            ));
        }
        if self.message_rate_per_s.is_nan() || self.message_rate_per_s <= 0.0 {
            return Err((
                "message_rate_per_s".into(),
                format!("{} must be positive", self.message_rate_per_s),
            ));
        }
        Ok(())
    }
}

/// Cumulative table for sampling a discrete distribution.
#[derive(Debug, Clone)]
struct Cdf(Vec<f64>);

impl Cdf {
    fn new(pmf: &[f64]) -> Cdf {
        let total: f64 = pmf.iter().sum();
        let mut acc = 0.0;
        let mut c = Vec::with_capacity(pmf.len());
        for p in pmf {
            acc += p / total.max(f64::MIN_POSITIVE);
            c.push(acc);
        }
        Cdf(c)
    }
    fn sample(&self, u: f64) -> usize {
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

/// What an arrival does (in ticks and lots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A GTC limit order; `cancel_after` ns (if it is to be cancelled), `reduce` = (after
    /// ns, new lots) when it gets a partial cancel.
    Add {
        /// 0 buy, 1 sell.
        side: u8,
        /// Limit price, ticks.
        price: i64,
        /// Lots.
        qty: u64,
        /// Cancel after this long (ns).
        cancel_after: Option<u64>,
        /// Reduce to (lots) after (ns).
        reduce: Option<(u64, u64)>,
    },
    /// An IOC limit at the far touch.
    Take {
        /// 0 buy, 1 sell.
        side: u8,
        /// Limit price, ticks.
        price: i64,
        /// Lots.
        qty: u64,
    },
    /// Nothing (the book cannot take the draw, e.g. a one-sided book for a take).
    Skip,
}

/// One symbol's background agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Symbol index.
    pub symbol: u32,
    rng: Xoshiro256PlusPlus,
    p: FlowParams,
    dist: Cdf,
    add_size: Cdf,
    agg_size: Cdf,
    /// The listed sizes' share of all sizes (the sum of their pmf), new and marketable.
    add_listed: f64,
    agg_listed: f64,
    /// Mean gap between arrivals, ns.
    gap_ns: f64,
    /// Simulated seconds per second of the sample's time.
    compress: f64,
    /// Diffusion per sqrt(simulated ns) of the log fundamental.
    sigma_ns: f64,
    /// Fundamental price, ticks (log-normal walk).
    fundamental: f64,
    last_t: u64,
    /// Share of limit orders scheduled for a cancel (those not executed first).
    p_cancel: f64,
    /// The largest order the symbol takes.
    max_qty: u64,
}

impl Agent {
    /// An agent for `symbol` at `rate` messages per simulated second, its fundamental
    /// starting at `start_ticks`, annualised `volatility` (of the sample's time).
    pub fn new(
        symbol: u32,
        seed: u64,
        params: FlowParams,
        rate: f64,
        volatility: f64,
        start_ticks: i64,
        max_qty: u64,
    ) -> Agent {
        // Messages are ~(1 + cancel share + partial share) per arrival: arrivals run at the
        // rate that gives `rate` messages.
        let per_arrival = 1.0
            + (1.0 - params.marketable_share)
                * (params.life.cancelled_share + params.partial_cancel.share_of_adds);
        let arrivals = rate / per_arrival;
        let compress = rate / params.message_rate_per_s;
        let sigma_s = volatility / TRADING_YEAR_S.sqrt();
        let p_cancel = (params.life.cancelled_share / (1.0 - params.life.executed_share).max(1e-9))
            .clamp(0.0, 1.0);
        Agent {
            symbol,
            rng: Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (u64::from(symbol) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            dist: Cdf::new(&params.add_distance.pmf),
            add_size: Cdf::new(&params.add_size.pmf),
            agg_size: Cdf::new(&params.aggressor_size.pmf),
            add_listed: params.add_size.pmf.iter().sum(),
            agg_listed: params.aggressor_size.pmf.iter().sum(),
            gap_ns: 1e9 / arrivals,
            compress,
            // One simulated ns is `compress` ns of the sample's time.
            sigma_ns: sigma_s * (compress / 1e9).sqrt(),
            fundamental: start_ticks as f64,
            last_t: 0,
            p_cancel,
            p: params,
            max_qty: max_qty.max(1),
        }
    }

    /// The gap to the next arrival, ns (at least 1).
    pub fn next_gap(&mut self) -> u64 {
        let u: f64 = self.rng.random::<f64>();
        ((-(1.0 - u).ln() * self.gap_ns) as u64).max(1)
    }

    fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn size(&mut self, which: bool) -> u64 {
        let (cdf, d, listed) = if which {
            (&self.agg_size, &self.p.aggressor_size, self.agg_listed)
        } else {
            (&self.add_size, &self.p.add_size, self.add_listed)
        };
        let u: f64 = self.rng.random::<f64>();
        let q = if u < listed || d.rest_log_sigma <= 0.0 {
            let i = cdf.sample(u / listed.max(f64::MIN_POSITIVE));
            d.values[i]
        } else {
            let (mu, sigma) = (d.rest_log_mu, d.rest_log_sigma);
            let z = self.normal();
            (mu + sigma * z).exp().round() as u64
        };
        q.clamp(1, self.max_qty)
    }

    fn distance(&mut self) -> i64 {
        let d = &self.p.add_distance;
        let u: f64 = self.rng.random::<f64>();
        if u < d.tail_share && d.tail_alpha > 1.0 {
            // Pareto past the table: P(D > x) = (x / x0)^-(alpha - 1).
            let x0 = (d.min + d.pmf.len() as i64).max(1) as f64;
            let v: f64 = self.rng.random::<f64>();
            let x = x0 * (1.0 - v).powf(-1.0 / (d.tail_alpha - 1.0));
            return (x as i64).min(x0 as i64 * 50);
        }
        let v: f64 = self.rng.random::<f64>();
        d.min + self.dist.sample(v) as i64
    }

    /// The life table of orders placed inside (-1), at (0) or behind (1) the touch.
    fn place_life(&self, place: i8) -> Option<&PlaceLife> {
        let b = self.p.life.by_place.as_ref()?;
        Some(match place {
            -1 => &b.inside,
            0 => &b.join,
            _ => &b.behind,
        })
    }

    /// A cancelled order's life in simulated ns: from its place's life table when the
    /// calibration has one, else from the lognormal.
    fn life_ns(&mut self, place: i8) -> u64 {
        let u: f64 = self.rng.random();
        let life_s = match self.place_life(place) {
            Some(pl) => quantile_at(&pl.log_quantiles, u).exp(),
            None => {
                let z = self.normal();
                (self.p.life.log_mu + self.p.life.log_sigma * z).exp()
            }
        };
        ((life_s * 1e9 / self.compress) as u64).max(1)
    }

    /// Draw the arrival at simulated time `t` given the book's touch.
    pub fn act(&mut self, t: u64, bid: Option<i64>, ask: Option<i64>) -> Action {
        let dt = t.saturating_sub(self.last_t) as f64;
        self.last_t = t;
        if dt > 0.0 && self.sigma_ns > 0.0 {
            let s = self.sigma_ns * dt.sqrt();
            let z = self.normal();
            self.fundamental *= (-0.5 * s * s + s * z).exp();
        }
        let f = self.fundamental.max(1.0);
        let mid = match (bid, ask) {
            (Some(b), Some(a)) => (b + a) as f64 / 2.0,
            (Some(b), None) => b as f64,
            (None, Some(a)) => a as f64,
            (None, None) => f,
        };
        let u: f64 = self.rng.random::<f64>();
        if u < self.p.marketable_share {
            // Lean toward the fundamental: the further the mid from it, the likelier the
            // side that moves the mid back.
            let lean = ((f - mid) / 4.0).tanh() * 0.4;
            let buy = self.rng.random::<f64>() < 0.5 + lean;
            let qty = self.size(true);
            return match (buy, bid, ask) {
                (true, _, Some(a)) => Action::Take {
                    side: 0,
                    price: a,
                    qty,
                },
                (false, Some(b), _) => Action::Take {
                    side: 1,
                    price: b,
                    qty,
                },
                _ => Action::Skip,
            };
        }
        let buy = self.rng.random::<bool>();
        let mut d = self.distance();
        if d < 0 && !self.p.add_distance.inside_fraction.is_empty() {
            // Improve by a share of the spread (a wide spread is improved by more ticks).
            if let (Some(b), Some(a)) = (bid, ask) {
                let share = quantile_at(&self.p.add_distance.inside_fraction, self.rng.random());
                let spread = a - b;
                d = if spread >= 2 {
                    -(((share * spread as f64).round() as i64).clamp(1, spread - 1))
                } else {
                    0
                };
            }
        }
        let fair = f.round() as i64;
        let (price, best) = if buy {
            let best = bid.unwrap_or_else(|| ask.map_or(fair - 1, |a| a - 1).min(fair));
            let mut p = best - d;
            if let Some(a) = ask {
                p = p.min(a - 1);
            }
            (p, best)
        } else {
            let best = ask.unwrap_or_else(|| bid.map_or(fair + 1, |b| b + 1).max(fair));
            let mut p = best + d;
            if let Some(b) = bid {
                p = p.max(b + 1);
            }
            (p, best)
        };
        if price < 1 {
            return Action::Skip;
        }
        // Where the order went (after clamping): its life table.
        let behind = if buy { best - price } else { price - best };
        let place = behind.signum() as i8;
        let p_cancel = match self.place_life(place) {
            Some(pl) => {
                (pl.cancelled_share / (1.0 - self.p.life.executed_share).max(1e-9)).clamp(0.0, 1.0)
            }
            None => self.p_cancel,
        };
        let qty = self.size(false);
        let cancel_after = (self.rng.random::<f64>() < p_cancel).then(|| self.life_ns(place));
        let reduce = (qty > 1 && self.rng.random::<f64>() < self.p.partial_cancel.share_of_adds)
            .then(|| {
                let when = match cancel_after {
                    Some(c) => (c as f64 * self.rng.random::<f64>()) as u64,
                    None => self.life_ns(place),
                };
                let cut = ((qty as f64) * self.p.partial_cancel.fraction_mean).round() as u64;
                (when.max(1), qty - cut.clamp(1, qty - 1))
            });
        Action::Add {
            side: u8::from(!buy),
            price,
            qty,
            cancel_after,
            reduce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_tables_interpolate_linearly_and_clamp() {
        let t = [0.0, 1.0, 3.0];
        assert_eq!(quantile_at(&t, 0.0), 0.0);
        assert_eq!(quantile_at(&t, 0.25), 0.5);
        assert_eq!(quantile_at(&t, 0.75), 2.0);
        assert_eq!(quantile_at(&t, 1.0), 3.0);
        assert_eq!(quantile_at(&t, 7.0), 3.0);
        assert_eq!(quantile_at(&[4.0], 0.3), 4.0);
    }

    #[test]
    fn the_calibration_has_place_lives_and_inside_fractions() {
        let p = FlowParams::calibrated();
        let b = p.life.by_place.as_ref().unwrap();
        // GOOG's quotes inside the spread are the fleeting ones.
        assert!(b.inside.log_quantiles[50] < b.behind.log_quantiles[50] - 2.0);
        assert_eq!(p.add_distance.inside_fraction.len(), 21);
        let mut bad = p.clone();
        bad.life.by_place.as_mut().unwrap().join.log_quantiles = vec![1.0, 0.0];
        assert_eq!(
            bad.validate().unwrap_err().0,
            "life.by_place.join.log_quantiles"
        );
        let mut bad = p;
        bad.add_distance.inside_fraction = vec![0.2, 1.5];
        assert_eq!(
            bad.validate().unwrap_err().0,
            "add_distance.inside_fraction"
        );
    }

    #[test]
    fn improvements_take_a_share_of_the_spread_and_never_cross() {
        let mut p = FlowParams::calibrated();
        p.marketable_share = 0.0;
        p.add_distance.min = -1;
        p.add_distance.pmf = vec![1.0]; // always improve
        p.add_distance.tail_share = 0.0;
        p.add_distance.inside_fraction = vec![0.5, 0.5];
        let mut a = Agent::new(0, 1, p, 1000.0, 0.0, 10_000, 1_000_000);
        for (bid, ask, want_bid, want_ask) in [
            (9_990, 10_010, 10_000, 10_000),  // 20 ticks: half of it
            (9_999, 10_001, 10_000, 10_000),  // 2 ticks: one
            (10_000, 10_001, 10_000, 10_001), // 1 tick: join
        ] {
            for _ in 0..50 {
                match a.act(1, Some(bid), Some(ask)) {
                    Action::Add { side: 0, price, .. } => assert_eq!(price, want_bid),
                    Action::Add { side: 1, price, .. } => assert_eq!(price, want_ask),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
