//! Cadences as alternating on/off interval lists, and the ±20 % interval matcher.

use super::SAMPLES_PER_MS;
use super::plan::{Component, MAX_SEGMENTS, SegmentKind, ToneDescriptor};

/// Cadence tolerance: ±20 % of each interval (dsp-criteria.md §3 "Tipring CPT detector
/// targets").
pub(crate) const CADENCE_TOLERANCE: f32 = 0.20;
/// Added to the tolerance for the detector's own timing error (hop quantisation, window
/// edges: ±9 ms per edge measured): 30 ms. Every pair of tones told apart by cadence stays
/// apart with it (see `busy_and_congestion_stay_apart_at_the_extremes`).
pub(crate) const SLACK_SAMPLES: i64 = 30 * SAMPLES_PER_MS as i64;

/// A repeating cadence normalised to alternate on, off, on, off… starting with an on
/// interval; lengths in samples.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cadence {
    /// The components of its first tone segment (all of a cadence's bursts are assumed to
    /// share them).
    pub components: &'static [Component],
    /// Interval lengths in samples, even indices on, odd indices off; even count.
    pub intervals: heapless::Vec<u32, MAX_SEGMENTS>,
}

impl Cadence {
    /// The cadence of `d`, or `None` when it has a continuous segment, no tone, or doesn't
    /// repeat (such tones are matched by duration, not cadence).
    pub(crate) fn of(d: &ToneDescriptor) -> Option<Self> {
        if !d.repeats() {
            return None;
        }
        let first_tone = d
            .segments()
            .iter()
            .find(|s| s.kind() == SegmentKind::Tone)?;
        // Merge neighbours of the same kind; remember the kind of the first interval.
        let mut raw: heapless::Vec<(bool, u32), MAX_SEGMENTS> = heapless::Vec::new();
        for s in d.segments() {
            if s.duration_ms() == 0 {
                return None;
            }
            let on = s.kind() == SegmentKind::Tone;
            let len = s.duration_ms().saturating_mul(SAMPLES_PER_MS);
            match raw.last_mut() {
                Some((k, l)) if *k == on => *l = l.saturating_add(len),
                _ => raw.push((on, len)).ok()?,
            }
        }
        // Rotate so it starts with on; merge the wrap-around if both ends have one kind.
        if raw.len() > 1 && raw[0].0 == raw[raw.len() - 1].0 {
            let (_, l) = raw.pop()?;
            raw[0].1 = raw[0].1.saturating_add(l);
        }
        let start = raw.iter().position(|&(on, _)| on)?;
        let mut intervals = heapless::Vec::new();
        for i in 0..raw.len() {
            intervals.push(raw[(start + i) % raw.len()].1).ok()?;
        }
        if intervals.len() % 2 != 0 {
            return None; // only on intervals: a continuous tone in disguise
        }
        Some(Self {
            components: first_tone.components(),
            intervals,
        })
    }

    /// Longest on interval, samples.
    pub(crate) fn longest_on(&self) -> u32 {
        self.intervals.iter().step_by(2).copied().max().unwrap_or(0)
    }

    /// Longest off interval, samples.
    pub(crate) fn longest_off(&self) -> u32 {
        self.intervals
            .iter()
            .skip(1)
            .step_by(2)
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// True when `observed` (alternating on, off, … starting with on) matches the cadence
    /// read from interval `start` on, wrapping, each interval within tolerance.
    pub(crate) fn matches_at(&self, observed: &[i64], start: usize) -> bool {
        let n = self.intervals.len();
        n != 0
            && observed
                .iter()
                .enumerate()
                .all(|(i, &o)| within(o, self.intervals[(start + i) % n]))
    }

    /// True when `observed` matches the cadence from some on interval.
    pub(crate) fn matches_any_phase(&self, observed: &[i64]) -> bool {
        (0..self.intervals.len())
            .step_by(2)
            .any(|start| self.matches_at(observed, start))
    }
}

/// True when `observed` samples is within ±20 % (plus the detector's slack) of `nominal`.
pub(crate) fn within(observed: i64, nominal: u32) -> bool {
    let p = i64::from(nominal);
    let tol = (p as f32 * CADENCE_TOLERANCE) as i64 + SLACK_SAMPLES;
    (observed - p).abs() <= tol
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::plan::{DE_DIAL, UK_CONGESTION, UK_RINGBACK, US_BUSY, US_SIT_IC};

    /// Descriptors become on/off lists in samples (8 per ms); continuous and one-shot tones
    /// have no cadence.
    #[test]
    fn descriptors_become_on_off_lists() {
        let c = Cadence::of(&UK_CONGESTION).unwrap();
        assert_eq!(c.intervals.as_slice(), &[3200, 2800, 1800, 4200]);
        assert_eq!((c.longest_on(), c.longest_off()), (3200, 4200));
        assert_eq!(
            Cadence::of(&UK_RINGBACK).unwrap().intervals.as_slice(),
            &[3200, 1600, 3200, 16_000]
        );
        assert!(Cadence::of(&DE_DIAL).is_none());
        assert!(Cadence::of(&US_SIT_IC).is_none());
    }

    /// ±20 % + 30 ms (dsp-criteria.md §3), read from any on interval.
    #[test]
    fn intervals_match_within_20_percent() {
        assert!(within(4000 * 6 / 5 + 240, 4000));
        assert!(!within(4000 * 6 / 5 + 241, 4000));
        assert!(within(4000 * 4 / 5 - 240, 4000));
        let busy = Cadence::of(&US_BUSY).unwrap();
        assert!(busy.matches_any_phase(&[4000, 4000, 4000, 4000]));
        assert!(!busy.matches_any_phase(&[2000, 2000, 2000, 2000]));
        let cong = Cadence::of(&UK_CONGESTION).unwrap();
        assert!(cong.matches_any_phase(&[1800, 4200, 3200, 2800]));
        assert!(!cong.matches_at(&[1800, 4200, 3200, 2800], 0));
        // UK busy at −20 % (300/300 ms) is not UK congestion.
        assert!(!cong.matches_any_phase(&[2400, 2400, 2400, 2400]));
    }

    /// §3 pairs that share frequencies: each tone at −20 % and +20 % (every interval) never
    /// matches the other tone of its pair, from any phase, with the slack included.
    #[test]
    fn busy_and_congestion_stay_apart_at_the_extremes() {
        use crate::progress::plan::{PLANS, ToneDescriptor};
        let scaled = |c: &Cadence, k: f32| -> heapless::Vec<i64, 16> {
            // Two periods, from each on interval.
            let n = c.intervals.len();
            (0..2 * n)
                .map(|i| (c.intervals[i % n] as f32 * k) as i64)
                .collect()
        };
        for plan in PLANS {
            let pairs: [(&ToneDescriptor, &ToneDescriptor); 2] =
                [(plan.busy, plan.congestion), (plan.congestion, plan.busy)];
            for (a, b) in pairs {
                let (ca, cb) = (Cadence::of(a).unwrap(), Cadence::of(b).unwrap());
                for k in [0.8, 1.0, 1.2] {
                    let obs = scaled(&ca, k);
                    for start in (0..ca.intervals.len()).step_by(2) {
                        let window = &obs[start..start + 4];
                        assert!(
                            ca.matches_any_phase(window),
                            "{} {} ×{k}",
                            plan.name,
                            a.name()
                        );
                        assert!(
                            !cb.matches_any_phase(window),
                            "{} {} ×{k} taken for {}",
                            plan.name,
                            a.name(),
                            b.name()
                        );
                    }
                }
            }
        }
    }
}
