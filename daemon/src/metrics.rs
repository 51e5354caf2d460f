//! Prometheus metrics (`GET /metrics`, OpenMetrics text, encoded by `prometheus-client`).
//!
//! Nothing is kept for the exposition itself: each scrape reads the counters the parts
//! keep anyway (the switch's, the media threads' lock-free [`TickStats`], the handler
//! hosts' supervisor, the SIP task's) into a fresh registry and encodes it. A scrape takes
//! the switch's lock for as long as copying a few maps takes.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tipring_channels` | gauge | `state` |
//! | `tipring_calls_active` | gauge | |
//! | `tipring_calls_total` | counter | `direction`, `outcome` |
//! | `tipring_calls_refused_at_limit_total` | counter | |
//! | `tipring_call_records_failed_total` | counter | |
//! | `tipring_handler_events_total` | counter | `handler` |
//! | `tipring_handler_event_seconds` | histogram | `handler` (in process: the callback; isolated: the round trip) |
//! | `tipring_handler_host_restarts_total` | counter | `handler` |
//! | `tipring_handler_disabled` | gauge | `handler` |
//! | `tipring_engine_tick_lateness_seconds` | histogram | `thread` |
//! | `tipring_engine_ticks_total`, `…_missed_ticks_total` | counter | `thread` |
//! | `tipring_ring_overflows_total` | counter | `thread`, `ring` (`events`, `bridge`) |
//! | `tipring_dsp_detections_total` | counter | `kind` (`dtmf`, `progress`, `caller_id`) |
//! | `tipring_signalling_errors_total` | counter | `backend` |

use crate::app::Shared;
use crate::media::TickStats;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the handler-event latency buckets, seconds.
pub const EVENT_EDGES: [f64; 14] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0,
];

/// Upper bounds of the tick-lateness buckets, seconds (from the media threads' 10 µs
/// histogram).
const LATENESS_EDGES: [f64; 10] = [
    10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3,
];

/// A latency histogram kept by the switch (no allocation per observation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// Per bucket of [`EVENT_EDGES`], then the overflow.
    pub counts: [u64; EVENT_EDGES.len() + 1],
    /// Sum, seconds.
    pub sum: f64,
}

impl Latency {
    /// Records one.
    pub fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        let i = EVENT_EDGES
            .iter()
            .position(|&e| s <= e)
            .unwrap_or(EVENT_EDGES.len());
        self.counts[i] += 1;
        self.sum += s;
    }

    /// How many.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Counters of control-plane signalling kept outside the switch (the SIP task).
#[derive(Debug, Default)]
pub struct Counters {
    /// SIP messages refused as malformed.
    pub sip_malformed: AtomicU64,
}

/// A histogram's sum, count, and (upper bound, count) buckets, not cumulative.
type Counted = (f64, u64, Vec<(f64, u64)>);

/// A histogram whose buckets are already counted, for the registry.
#[derive(Debug, Default)]
struct Buckets(Mutex<Counted>);

impl Buckets {
    fn set(&self, sum: f64, buckets: Vec<(f64, u64)>) {
        let count = buckets.iter().map(|b| b.1).sum();
        if let Ok(mut g) = self.0.lock() {
            *g = (sum, count, buckets);
        }
    }
}

impl TypedMetric for Buckets {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Buckets {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let g = self.0.lock().map_err(|_| std::fmt::Error)?;
        encoder.encode_histogram::<NoLabelSet>(g.0, g.1, &g.2, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type Labels = Vec<(String, String)>;

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn lateness(stats: &TickStats) -> (f64, Vec<(f64, u64)>) {
    let counts = stats.lateness_counts();
    let width = stats.lateness_bucket_us() as f64 * 1e-6;
    let mut out: Vec<(f64, u64)> = LATENESS_EDGES.iter().map(|&e| (e, 0)).collect();
    out.push((f64::MAX, 0));
    let mut sum = 0.0;
    for (i, c) in counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let upper = (i as f64 + 1.0) * width;
        // The last of the thread's buckets is its own overflow.
        let upper = if i + 1 == counts.len() {
            f64::MAX
        } else {
            upper
        };
        let slot = LATENESS_EDGES
            .iter()
            .position(|&e| upper <= e + 1e-12)
            .unwrap_or(LATENESS_EDGES.len());
        out[slot].1 += c;
        sum += *c as f64 * (i as f64 + 0.5) * width;
    }
    (sum, out)
}

/// The exposition for `GET /metrics`.
pub fn render(shared: &Shared) -> String {
    let mut reg = Registry::default();
    let channels = Family::<Labels, Gauge>::default();
    let active = Gauge::<i64>::default();
    let calls = Family::<Labels, Counter>::default();
    let refused = Counter::<u64>::default();
    let record_failures = Counter::<u64>::default();
    let events = Family::<Labels, Counter>::default();
    let event_seconds = Family::<Labels, Buckets>::default();
    let restarts = Family::<Labels, Counter>::default();
    let disabled = Family::<Labels, Gauge>::default();
    let detections = Family::<Labels, Counter>::default();
    let signalling = Family::<Labels, Counter>::default();
    {
        let sw = shared.switch.lock().unwrap_or_else(|p| p.into_inner());
        for c in sw.channels() {
            channels.get_or_create(&l(&[("state", c.state)])).inc();
        }
        active.set(sw.active() as i64);
        let st = sw.stats();
        for ((dir, outcome), n) in &st.ended {
            calls
                .get_or_create(&l(&[("direction", dir), ("outcome", outcome)]))
                .inc_by(*n);
        }
        refused.inc_by(sw.limit_refusals);
        record_failures.inc_by(sw.record_failures);
        for (h, lat) in &st.events {
            events
                .get_or_create(&l(&[("handler", h)]))
                .inc_by(lat.count());
            let buckets = EVENT_EDGES
                .iter()
                .copied()
                .chain([f64::MAX])
                .zip(lat.counts.iter().copied())
                .collect();
            event_seconds
                .get_or_create(&l(&[("handler", h)]))
                .set(lat.sum, buckets);
        }
        for (h, s) in sw.host_status() {
            restarts
                .get_or_create(&l(&[("handler", &h)]))
                .inc_by(s.restarts);
            disabled
                .get_or_create(&l(&[("handler", &h)]))
                .set(i64::from(s.disabled.is_some()));
        }
        for (kind, n) in &st.detections {
            detections.get_or_create(&l(&[("kind", kind)])).inc_by(*n);
        }
        for (backend, n) in &st.line_errors {
            signalling
                .get_or_create(&l(&[("backend", backend)]))
                .inc_by(*n);
        }
    }
    let sip = shared.counters.sip_malformed.load(Relaxed);
    if sip > 0 {
        signalling
            .get_or_create(&l(&[("backend", "sip")]))
            .inc_by(sip);
    }
    if let Some(spans) = &shared.spans {
        let errors: u64 = spans.spans.iter().map(|s| s.errors()).sum();
        signalling
            .get_or_create(&l(&[("backend", "dahdi")]))
            .inc_by(errors);
    }
    let tick_lateness = Family::<Labels, Buckets>::default();
    let ticks = Family::<Labels, Counter>::default();
    let missed = Family::<Labels, Counter>::default();
    let overflows = Family::<Labels, Counter>::default();
    for (i, m) in shared.media.iter().enumerate() {
        let t = i.to_string();
        let (sum, b) = lateness(m);
        tick_lateness
            .get_or_create(&l(&[("thread", &t)]))
            .set(sum, b);
        ticks
            .get_or_create(&l(&[("thread", &t)]))
            .inc_by(m.ticks.load(Relaxed));
        missed
            .get_or_create(&l(&[("thread", &t)]))
            .inc_by(m.missed.load(Relaxed));
        overflows
            .get_or_create(&l(&[("thread", &t), ("ring", "events")]))
            .inc_by(m.events_lost.load(Relaxed));
        overflows
            .get_or_create(&l(&[("thread", &t), ("ring", "bridge")]))
            .inc_by(m.bridge_slips.load(Relaxed));
    }
    reg.register("tipring_channels", "Channels by state", channels);
    reg.register(
        "tipring_calls_active",
        "Calls up, being set up, or ending (an isolated handler's last answers due)",
        active,
    );
    reg.register(
        "tipring_calls",
        "Calls ended, by direction and outcome",
        calls,
    );
    reg.register(
        "tipring_calls_refused_at_limit",
        "Calls refused at daemon.max_calls or a handler's max_calls",
        refused,
    );
    reg.register(
        "tipring_call_records_failed",
        "Call records the store failed to take (kept in memory only)",
        record_failures,
    );
    reg.register(
        "tipring_handler_events",
        "Events delivered to handlers",
        events,
    );
    reg.register(
        "tipring_handler_event_seconds",
        "Handler event latency: the callback in process, the round trip to an isolated host",
        event_seconds,
    );
    reg.register(
        "tipring_handler_host_restarts",
        "Isolated handler hosts started after the first",
        restarts,
    );
    reg.register(
        "tipring_handler_disabled",
        "1 if the handler is disabled for crashing",
        disabled,
    );
    reg.register(
        "tipring_engine_tick_lateness_seconds",
        "How late each media tick woke after its due time",
        tick_lateness,
    );
    reg.register("tipring_engine_ticks", "Media ticks run", ticks);
    reg.register(
        "tipring_engine_missed_ticks",
        "Frame periods lost to late ticks",
        missed,
    );
    reg.register(
        "tipring_ring_overflows",
        "Items dropped because a lock-free ring was full (events to call control; bridge audio)",
        overflows,
    );
    reg.register(
        "tipring_dsp_detections",
        "DSP detections reported to call control",
        detections,
    );
    reg.register(
        "tipring_signalling_errors",
        "Signalling errors, by backend",
        signalling,
    );
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        return "# encoding failed\n".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets() {
        let mut h = Latency::default();
        h.observe(Duration::from_micros(30));
        h.observe(Duration::from_micros(60));
        h.observe(Duration::from_secs(3));
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[1], 1);
        assert_eq!(h.counts[EVENT_EDGES.len()], 1);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn lateness_is_rebucketed() {
        let s = TickStats::default();
        s.note_lateness(5_000); // 5 µs
        s.note_lateness(700_000); // 0.7 ms
        s.note_lateness(u64::MAX); // overflow
        let (_, b) = lateness(&s);
        assert_eq!(b[0], (10e-6, 1));
        assert_eq!(b[5], (1e-3, 1));
        assert_eq!(b[LATENESS_EDGES.len()].1, 1);
    }
}
