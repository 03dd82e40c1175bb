//! `/metrics`: the feed's and the engine's figures in the Prometheus text exposition
//! format, encoded by `prometheus-client` from a registry filled at each scrape.

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram as Hdr;
use hftbook_engine::record::{breaker, REASONS};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::Shared;

type Labels = Vec<(String, String)>;

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn sat(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One histogram as it stands: `(upper bound s, count in the bucket)` not cumulative, the
/// last bound `f64::MAX` (+Inf), as `prometheus-client` encodes them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Buckets {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

/// Histograms of one metric, one per label set (a histogram family whose values are copies).
#[derive(Debug, Default)]
pub(crate) struct HistogramSet(pub Vec<(Labels, Buckets)>);

impl TypedMetric for HistogramSet {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for HistogramSet {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            let mut e = encoder.encode_family(labels)?;
            e.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Upper bounds of the stage-latency buckets, seconds: 100 ns × 2^n, 100 ns .. about 6.7 s.
fn stage_bounds() -> impl Iterator<Item = f64> {
    (0..27).map(|n| 1e-7 * f64::from(1u32 << n))
}

/// An HDR histogram of ns as Prometheus buckets (to the HDR's precision, 2 significant
/// digits for the shards' stages: a sample counts in the first bucket whose bound its
/// recorded value is at most).
pub(crate) fn hdr_buckets(h: &Hdr<u64>) -> Buckets {
    let bounds: Vec<f64> = stage_bounds().collect();
    let mut counts = vec![0u64; bounds.len() + 1];
    let mut sum = 0f64;
    for v in h.iter_recorded() {
        let n = v.count_at_value();
        let ns = h.median_equivalent(v.value_iterated_to());
        let secs = ns as f64 / 1e9;
        sum += secs * n as f64;
        let i = bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(bounds.len());
        counts[i] += n;
    }
    let mut buckets: Vec<(f64, u64)> = bounds.into_iter().zip(counts.iter().copied()).collect();
    buckets.push((f64::MAX, counts[counts.len() - 1]));
    Buckets {
        sum,
        count: counts.iter().sum(),
        buckets,
    }
}

/// The engine's per-stage latency histograms (all shards merged) and the journal's.
fn engine_histograms(reg: &mut Registry, shared: &Shared) {
    let stats = shared.engine.shard_stats();
    let mut set = HistogramSet::default();
    for (stage, pick) in [("queue_wait", 0usize), ("match", 1), ("publish", 2)] {
        let mut merged: Option<Hdr<u64>> = None;
        for s in &stats {
            let l = &s.latencies;
            let h = [&l.queue_wait, &l.matching, &l.publish][pick];
            match merged.as_mut() {
                None => merged = Some(h.clone()),
                Some(m) => {
                    // Same bounds in every shard: adding cannot fail.
                    let _ = m.add(h);
                }
            }
        }
        if let Some(m) = merged {
            set.0.push((labels(&[("stage", stage)]), hdr_buckets(&m)));
        }
    }
    // Strategy reaction times, all strategies together (per strategy:
    // hftbook_strategy_reaction_seconds).
    if let Some(b) = shared.stats.reactions_merged() {
        set.0.push((labels(&[("stage", "strategy_reaction")]), b));
    }
    reg.register(
        "hftbook_engine_stage_latency_seconds",
        "Latency of a stage of the engine since it started (queue_wait: enqueue to taken by \
         the shard; match: one command in the book, sampled 1 in 16; publish: one loop's \
         events handed out; strategy_reaction: from events reaching a strategy to its order)",
        set,
    );

    let Some(j) = shared.engine.journal_stats() else {
        return;
    };
    let mut buckets = Vec::with_capacity(j.sync_buckets.len());
    for (bound, n) in &j.sync_buckets {
        let b = bound.map_or(f64::MAX, |ns| ns as f64 / 1e9);
        buckets.push((b, *n));
    }
    reg.register(
        "hftbook_journal_fsync_seconds",
        "Duration of the journal's syncs (fdatasync) since the engine started",
        HistogramSet(vec![(
            Vec::new(),
            Buckets {
                sum: j.sync_ns_total as f64 / 1e9,
                count: j.sync_buckets.iter().map(|(_, n)| n).sum(),
                buckets,
            },
        )]),
    );
    counter(
        reg,
        "hftbook_journal_records",
        "Records the journal thread wrote since the engine started.",
        j.records,
    );
    gauge(
        reg,
        "hftbook_journal_lag_records",
        "Records the journal thread wrote that are not durable yet (waiting for a sync).",
        sat(j.lag),
    );
    counter(
        reg,
        "hftbook_journal_bytes",
        "Bytes of records the journal wrote since the engine started.",
        j.bytes,
    );
}

/// The exposition text.
pub(crate) fn render(shared: &Shared) -> String {
    let mut reg = Registry::default();
    let c = &shared.counters;

    gauge(
        &mut reg,
        "hftbook_feed_clients",
        "WebSocket clients connected.",
        c.clients.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_messages_sent",
        "Messages written to client sockets.",
        c.messages_sent.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_conflations",
        "Client queue overflows answered with fresh snapshots (L1/L2/status).",
        c.conflations.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_messages_dropped",
        "Queued messages dropped by conflation or a slow-consumer disconnection.",
        c.messages_dropped.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_pump_events",
        "Engine events the feed's pump received.",
        c.events_in.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_pump_conflated_events",
        "Engine events the pump's own subscription lost to conflation (the engine then sent snapshots).",
        shared.sub.conflated.load(Ordering::Relaxed),
    );
    counter(
        &mut reg,
        "hftbook_feed_pump_snapshots",
        "Engine snapshots the pump received after gaps.",
        shared.sub.snapshots.load(Ordering::Relaxed),
    );
    let disc = Family::<Labels, Counter>::default();
    for why in [
        "client_closed",
        "closed_by_server",
        "io_error",
        "protocol_error",
        "server_shutdown",
        "slow_consumer",
    ] {
        let _ = disc.get_or_create(&labels(&[("reason", why)]));
    }
    for (why, n) in c
        .disconnects
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        disc.get_or_create(&labels(&[("reason", why)])).inc_by(*n);
    }
    reg.register(
        "hftbook_feed_disconnects",
        "Clients disconnected, by reason.",
        disc,
    );

    let e = &shared.engine;
    let stats = e.shard_stats();
    counter(
        &mut reg,
        "hftbook_engine_events",
        "Events the engine's shards published.",
        stats.iter().map(|s| s.events).sum(),
    );
    counter(
        &mut reg,
        "hftbook_engine_commands",
        "Commands the engine's shards executed.",
        stats.iter().map(|s| s.commands).sum(),
    );
    counter(
        &mut reg,
        "hftbook_engine_orders",
        "Order ids the engine issued.",
        e.orders_issued(),
    );
    let rejects = Family::<Labels, Counter>::default();
    for (code, name) in REASONS.iter().enumerate().skip(1) {
        let n: u64 = stats
            .iter()
            .map(|s| s.rejects.get(code).copied().unwrap_or(0))
            .sum();
        if n > 0 {
            rejects
                .get_or_create(&labels(&[("reason", name)]))
                .inc_by(n);
        }
    }
    reg.register(
        "hftbook_engine_rejections",
        "Requests the engine rejected, by reason.",
        rejects,
    );
    let depth = Family::<Labels, Gauge>::default();
    let high = Family::<Labels, Gauge>::default();
    let waits = Family::<Labels, Counter>::default();
    let refused = Family::<Labels, Counter>::default();
    let cpu = Family::<Labels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
    for (i, s) in stats.iter().enumerate() {
        let shard = i.to_string();
        for (lane, d, h, w, r) in [
            (
                "priority",
                s.depth.0,
                s.high_water.0,
                s.waits.0,
                s.lane_rejections.0,
            ),
            (
                "normal",
                s.depth.1,
                s.high_water.1,
                s.waits.1,
                s.lane_rejections.1,
            ),
        ] {
            let l = labels(&[("shard", &shard), ("lane", lane)]);
            depth.get_or_create(&l).set(sat(d));
            high.get_or_create(&l).set(sat(h));
            waits.get_or_create(&l).inc_by(w);
            refused.get_or_create(&l).inc_by(r);
        }
        cpu.get_or_create(&labels(&[("shard", &shard)]))
            .inc_by(s.cpu_ns as f64 / 1e9);
    }
    reg.register(
        "hftbook_engine_lane_depth",
        "Commands queued in a shard's lane now.",
        depth,
    );
    reg.register(
        "hftbook_engine_lane_high_water",
        "Most commands seen queued in a shard's lane.",
        high,
    );
    reg.register(
        "hftbook_engine_lane_waits",
        "Producer waits on a full lane (backpressure).",
        waits,
    );
    reg.register(
        "hftbook_engine_lane_rejections",
        "Producer calls refused by a full lane.",
        refused,
    );
    reg.register(
        "hftbook_engine_shard_cpu_seconds",
        "CPU time of a shard thread.",
        cpu,
    );
    let state = Family::<Labels, Gauge>::default();
    let now = e.breaker_state();
    for (code, name) in breaker::NAMES.iter().enumerate() {
        state
            .get_or_create(&labels(&[("state", name)]))
            .set(i64::from(usize::from(now) == code));
    }
    reg.register(
        "hftbook_engine_breaker_state",
        "Circuit breaker state (1 for the current one).",
        state,
    );
    let halted = Family::<Labels, Gauge>::default();
    for s in &e.symbols().entries {
        halted
            .get_or_create(&labels(&[("symbol", &s.name)]))
            .set(i64::from(s.live.status.load(Ordering::Relaxed) != 0));
    }
    reg.register(
        "hftbook_engine_symbol_halted",
        "1 while the symbol is halted.",
        halted,
    );

    crate::stats::register(&mut reg, shared);
    engine_histograms(&mut reg, shared);

    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

/// Content type of the OpenMetrics text [`render`] produces.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format 0.0.4 [`to_prometheus_text`] produces.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a scraper's `Accept` header asks for OpenMetrics (Prometheus does, with a
/// preference list; `curl` and plain HTTP clients do not).
pub(crate) fn wants_openmetrics(accept: &str) -> bool {
    accept.contains("application/openmetrics-text")
}

/// OpenMetrics text → Prometheus text format 0.0.4, for scrapers that did not ask for
/// OpenMetrics: a counter family is named with its `_total` suffix in `# HELP` / `# TYPE`
/// (OpenMetrics names the family without it), the help text loses the full stop the encoder
/// appends, and the `# EOF` trailer goes.
pub(crate) fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 256);
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE ", "# UNIT "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some(("# UNIT ", _)) => {}
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let tail = if prefix == "# HELP " {
                    tail.strip_suffix('.').unwrap_or(tail)
                } else {
                    tail
                };
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counters_with_total_and_drops_eof() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n\
                  # HELP g A gauge.\n# TYPE g gauge\ng{x=\"1\"} 2\n# EOF\n";
        let text = to_prometheus_text(om);
        assert_eq!(
            text,
            "# HELP a_b_total Things\n# TYPE a_b_total counter\na_b_total 3\n\
             # HELP g A gauge\n# TYPE g gauge\ng{x=\"1\"} 2\n"
        );
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        ));
        assert!(!wants_openmetrics("*/*"));
    }
}
