//! Background order flow: one zero-intelligence agent per symbol, calibrated to real books.
//!
//! Each agent draws Poisson arrivals in simulated time. An arrival is either
//!
//! * a **marketable** order (probability `marketable_share`): an IOC limit at the far touch,
//!   its size from `aggressor_size`, its side leaning toward the agent's fundamental price
//!   (a driftless geometric Brownian motion) when the mid has strayed from it; or
//! * a **limit order** on a random side, `d` ticks behind the same-side best (`d < 0`
//!   improves inside the spread, never crossing it; `d = 0` joins), `d` drawn from the
//!   fitted distance distribution (a table with a power-law tail), its size from `add_size`.
//!   A fitted share of the limit orders is cancelled after a lognormal life, and a share of
//!   them is reduced once (a partial cancel) before that.
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
        let (cdf, d) = if which {
            (&self.agg_size, &self.p.aggressor_size)
        } else {
            (&self.add_size, &self.p.add_size)
        };
        let listed: f64 = d.pmf.iter().sum();
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
        let d = self.distance();
        let fair = f.round() as i64;
        let price = if buy {
            let best = bid.unwrap_or_else(|| ask.map_or(fair - 1, |a| a - 1).min(fair));
            let mut p = best - d;
            if let Some(a) = ask {
                p = p.min(a - 1);
            }
            p
        } else {
            let best = ask.unwrap_or_else(|| bid.map_or(fair + 1, |b| b + 1).max(fair));
            let mut p = best + d;
            if let Some(b) = bid {
                p = p.max(b + 1);
            }
            p
        };
        if price < 1 {
            return Action::Skip;
        }
        let qty = self.size(false);
        let cancel_after = (self.rng.random::<f64>() < self.p_cancel).then(|| {
            let z = self.normal();
            let life_s = (self.p.life.log_mu + self.p.life.log_sigma * z).exp();
            ((life_s * 1e9 / self.compress) as u64).max(1)
        });
        let reduce = (qty > 1 && self.rng.random::<f64>() < self.p.partial_cancel.share_of_adds)
            .then(|| {
                let when = match cancel_after {
                    Some(c) => (c as f64 * self.rng.random::<f64>()) as u64,
                    None => {
                        let z = self.normal();
                        ((self.p.life.log_mu + self.p.life.log_sigma * z).exp() * 1e9
                            / self.compress) as u64
                    }
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
