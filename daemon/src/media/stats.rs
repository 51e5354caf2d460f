//! Tick statistics a media thread keeps without locks or allocation, read by the control
//! plane (watchdog, `tipring bench engine`, status).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Lateness histogram buckets: 10 µs wide up to 20 ms, then one overflow bucket.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 2000 + 1;

/// Counters of one media thread.
#[derive(Debug)]
pub struct TickStats {
    /// Ticks run.
    pub ticks: AtomicU64,
    /// Frame periods lost because a tick came late (the clock reported more than one).
    pub missed: AtomicU64,
    /// Events dropped because the control plane's ring was full.
    pub events_lost: AtomicU64,
    /// Commands refused because the channel slot did not exist.
    pub bad_commands: AtomicU64,
    /// Buffers leaked because the control plane did not collect what the thread let go
    /// of (it never frees on its own).
    pub leaked: AtomicU64,
    /// Bridge audio that arrived late (a frame short) or was skipped (too much queued).
    pub bridge_slips: AtomicU64,
    /// Nanoseconds spent working (from wake-up to the end of the tick), summed.
    pub busy_ns: AtomicU64,
    lateness: Box<[AtomicU64]>,
}

impl Default for TickStats {
    fn default() -> Self {
        TickStats {
            ticks: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            events_lost: AtomicU64::new(0),
            bad_commands: AtomicU64::new(0),
            leaked: AtomicU64::new(0),
            bridge_slips: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            lateness: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl TickStats {
    /// Records one wake-up `late_ns` after its due time.
    pub fn note_lateness(&self, late_ns: u64) {
        let b = ((late_ns / 1000 / BUCKET_US) as usize).min(BUCKETS - 1);
        self.lateness[b].fetch_add(1, Relaxed);
    }

    /// The lateness below which fraction `q` (0–1) of the recorded wake-ups fall, µs
    /// (the bucket's upper edge; `None` before any).
    pub fn lateness_quantile_us(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self.lateness.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some((i as u64 + 1) * BUCKET_US);
            }
        }
        Some(BUCKETS as u64 * BUCKET_US)
    }

    /// The lateness histogram's counts: bucket `i` holds wake-ups `i` to `i + 1` bucket
    /// widths late; the last bucket, everything later.
    pub fn lateness_counts(&self) -> Vec<u64> {
        self.lateness.iter().map(|c| c.load(Relaxed)).collect()
    }

    /// The lateness histogram's bucket width, µs.
    pub fn lateness_bucket_us(&self) -> u64 {
        BUCKET_US
    }

    /// Clears the lateness histogram (a benchmark's warm-up).
    pub fn clear_lateness(&self) {
        for c in self.lateness.iter() {
            c.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_histogram() {
        let s = TickStats::default();
        assert_eq!(s.lateness_quantile_us(0.5), None);
        for _ in 0..990 {
            s.note_lateness(15_000); // 15 µs → bucket 1 (10..20 µs)
        }
        for _ in 0..10 {
            s.note_lateness(3_000_000); // 3 ms
        }
        assert_eq!(s.lateness_quantile_us(0.5), Some(20));
        assert_eq!(s.lateness_quantile_us(0.99), Some(20));
        assert_eq!(s.lateness_quantile_us(0.999), Some(3010));
        s.note_lateness(u64::MAX);
        assert_eq!(s.lateness_quantile_us(1.0), Some(20_010));
    }
}
