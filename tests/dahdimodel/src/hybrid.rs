//! A 2-wire hybrid's echo path: what the daemon sends comes back, delayed and attenuated,
//! in what it reads.

/// An echo path: `echo[n] = 10^(-erl_db/20) · Σ taps[k] · tx[n - delay_samples - k]`.
///
/// `taps` is the dispersion (the hybrid's impulse response shape); it is scaled to unit
/// energy, so for white-ish signals the echo return loss is `erl_db` whatever the shape.
/// For a single tone the loss also depends on the shape's response at that frequency. No
/// taps means a single unit tap (a pure delay).
#[derive(Debug, Clone, PartialEq)]
pub struct Hybrid {
    /// Bulk delay in samples (8 kHz) before the first tap.
    pub delay_samples: usize,
    /// Echo return loss in dB (6 dB is a poor hybrid, 20 dB a good one).
    pub erl_db: f32,
    /// Dispersion taps (scaled to unit energy); empty for a pure delay.
    pub taps: Vec<f32>,
}

impl Hybrid {
    /// A pure delay of `delay_samples` with `erl_db` of loss.
    pub fn new(delay_samples: usize, erl_db: f32) -> Hybrid {
        Hybrid {
            delay_samples,
            erl_db,
            taps: Vec::new(),
        }
    }

    /// This hybrid with a dispersion of `taps` (scaled to unit energy).
    #[must_use]
    pub fn with_taps(mut self, taps: &[f32]) -> Hybrid {
        self.taps = taps.to_vec();
        self
    }
}

/// The running echo path.
#[derive(Debug, Clone)]
pub(crate) struct EchoPath {
    taps: Vec<f32>,
    delay: usize,
    /// The last `delay + taps.len()` transmitted samples, a ring.
    hist: Vec<f32>,
    pos: usize,
}

/// Longest delay plus dispersion accepted (1 s), to bound memory.
const MAX_SPAN: usize = 8000;

impl EchoPath {
    pub(crate) fn new(h: &Hybrid) -> EchoPath {
        let gain = if h.erl_db.is_finite() {
            10f32.powf(-h.erl_db / 20.0)
        } else {
            0.0
        };
        let mut taps: Vec<f32> = h.taps.iter().copied().filter(|t| t.is_finite()).collect();
        taps.truncate(MAX_SPAN);
        let energy: f32 = taps.iter().map(|t| t * t).sum();
        if taps.is_empty() || energy <= 0.0 {
            taps = vec![1.0];
        } else {
            let norm = energy.sqrt();
            for t in &mut taps {
                *t /= norm;
            }
        }
        for t in &mut taps {
            *t *= gain;
        }
        let delay = h.delay_samples.min(MAX_SPAN);
        let len = delay + taps.len();
        EchoPath {
            taps,
            delay,
            hist: vec![0.0; len],
            pos: 0,
        }
    }

    /// Takes the next transmitted sample and returns the echo to add to the received one.
    pub(crate) fn step(&mut self, tx: i16) -> f32 {
        let len = self.hist.len();
        self.hist[self.pos] = f32::from(tx);
        let mut acc = 0.0;
        for (k, t) in self.taps.iter().enumerate() {
            // The sample sent `delay + k` samples ago.
            let back = self.delay + k;
            let idx = (self.pos + len - back % len) % len;
            acc += t * self.hist[idx];
        }
        self.pos = (self.pos + 1) % len;
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_delay_returns_the_signal_attenuated() {
        let mut p = EchoPath::new(&Hybrid::new(3, 20.0));
        let out: Vec<f32> = [1000, 0, 0, 0, 0].iter().map(|&x| p.step(x)).collect();
        assert_eq!(out[..3], [0.0, 0.0, 0.0]);
        assert!((out[3] - 100.0).abs() < 1e-3, "{out:?}");
        assert_eq!(out[4], 0.0);
    }

    #[test]
    fn no_delay_echoes_the_same_sample() {
        let mut p = EchoPath::new(&Hybrid::new(0, 0.0).with_taps(&[2.0]));
        assert!((p.step(500) - 500.0).abs() < 1e-3);
    }
}
