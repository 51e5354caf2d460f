//! Cadenced tone generator: plays a [`ToneDescriptor`] sample-exactly.

use crate::level::dbm0_to_peak;
use crate::osc::{Oscillator, sat_i16};

use super::SAMPLE_RATE;
use super::plan::{MAX_COMPONENTS, MAX_SEGMENTS, ToneDescriptor};

/// Deliberate deviations from a descriptor, for line simulation and tests: every frequency
/// multiplied by `freq_scale`, every level moved by `level_db`, every duration multiplied by
/// `time_scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneVariation {
    /// Frequency factor (`1.03` = 3 % high).
    pub freq_scale: f32,
    /// Level change in dB applied to every component.
    pub level_db: f32,
    /// Duration factor (`0.8` = cadence 20 % fast).
    pub time_scale: f32,
}

impl ToneVariation {
    /// No deviation.
    pub const NONE: Self = Self {
        freq_scale: 1.0,
        level_db: 0.0,
        time_scale: 1.0,
    };
}

impl Default for ToneVariation {
    fn default() -> Self {
        Self::NONE
    }
}

/// One segment, resolved to samples, oscillator steps and peaks at construction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SegmentPlan {
    /// Length in samples; `None` = continuous.
    samples: Option<u64>,
    components: usize,
    freq: [f32; MAX_COMPONENTS],
    peak: [f32; MAX_COMPONENTS],
    reverse: bool,
}

/// Plays a [`ToneDescriptor`] at 8 kHz.
///
/// * Each segment lasts exactly `round(duration_ms · 8 · time_scale)` samples; segments never
///   drift, whatever the sizes of the buffers passed to [`ToneGenerator::generate`].
/// * Phase: a tone segment that follows silence (or starts the tone) starts its sines at
///   phase 0; a tone segment that follows another tone segment carries each sine's phase on
///   (changing only its frequency), plus half a turn if the segment
///   [reverses phase](super::plan::Segment::reverses_phase). Within a segment the sines are
///   phase-continuous across calls.
/// * A descriptor that doesn't repeat ends after its last segment: `generate` then returns
///   fewer samples than asked, and 0 from then on. Samples past the returned count are left
///   untouched.
///
/// ```
/// use tipring_dsp::progress::{ToneGenerator, plan::US_BUSY};
///
/// let mut g = ToneGenerator::new(&US_BUSY);
/// let mut buf = [0i16; 8000];
/// assert_eq!(g.generate(&mut buf), 8000); // busy repeats for ever
/// assert!(buf[..4000].iter().any(|&s| s != 0)); // 0.5 s on
/// assert!(buf[4000..].iter().all(|&s| s == 0)); // 0.5 s off
/// ```
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    descriptor: &'static ToneDescriptor,
    segments: heapless::Vec<SegmentPlan, MAX_SEGMENTS>,
    repeat: bool,
    osc: [Oscillator; MAX_COMPONENTS],
    /// Index of the current segment.
    segment: usize,
    /// Samples already played of the current segment.
    played: u64,
    /// Whether the current segment's oscillators have been set up.
    entered: bool,
    /// Whether the previous segment sounded (for the phase rule).
    after_tone: bool,
    done: bool,
}

impl ToneGenerator {
    /// A generator playing `descriptor` as written.
    pub fn new(descriptor: &'static ToneDescriptor) -> Self {
        Self::with_variation(descriptor, ToneVariation::NONE)
    }

    /// A generator playing `descriptor` with `variation` applied.
    pub fn with_variation(descriptor: &'static ToneDescriptor, variation: ToneVariation) -> Self {
        let mut segments = heapless::Vec::new();
        for seg in descriptor.segments().iter().take(MAX_SEGMENTS) {
            let mut p = SegmentPlan {
                samples: None,
                components: 0,
                freq: [0.0; MAX_COMPONENTS],
                peak: [0.0; MAX_COMPONENTS],
                reverse: seg.reverses_phase(),
            };
            if seg.duration_ms() != 0 {
                let n = f64::from(seg.duration_ms())
                    * f64::from(SAMPLE_RATE / 1000)
                    * f64::from(variation.time_scale);
                // Saturating cast: NaN and negatives give 0 (the segment is skipped).
                p.samples = Some(n.round() as u64);
            }
            for (i, c) in seg.components().iter().take(MAX_COMPONENTS).enumerate() {
                p.freq[i] = c.freq_hz * variation.freq_scale;
                p.peak[i] = dbm0_to_peak(c.level_dbm0 + variation.level_db);
                p.components = i + 1;
            }
            // Capacity equals the `take` above.
            let _ = segments.push(p);
        }
        // A tone whose every segment is zero samples long would never produce anything.
        let empty = segments.iter().all(|s| s.samples == Some(0));
        Self {
            descriptor,
            segments,
            repeat: descriptor.repeats(),
            osc: [Oscillator::new(0.0, SAMPLE_RATE, 0.0); MAX_COMPONENTS],
            segment: 0,
            played: 0,
            entered: false,
            after_tone: false,
            done: empty,
        }
    }

    /// The descriptor being played.
    pub fn descriptor(&self) -> &'static ToneDescriptor {
        self.descriptor
    }

    /// True once a non-repeating tone has played its last segment.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Starts the tone over from its first segment (keeps the variation).
    pub fn reset(&mut self) {
        self.segment = 0;
        self.played = 0;
        self.entered = false;
        self.after_tone = false;
        self.done = self.segments.iter().all(|s| s.samples == Some(0));
    }

    /// Writes the next samples of the tone into `out`. Returns how many were written: all of
    /// `out`, unless a non-repeating tone ended (then fewer, and 0 on later calls).
    pub fn generate(&mut self, out: &mut [i16]) -> usize {
        let mut written = 0;
        while written < out.len() && !self.done {
            let Some(&seg) = self.segments.get(self.segment) else {
                self.done = true;
                break;
            };
            if !self.entered {
                self.enter(&seg);
            }
            let room = (out.len() - written) as u64;
            let n = match seg.samples {
                None => room,
                Some(len) => (len - self.played.min(len)).min(room),
            } as usize;
            let dst = &mut out[written..written + n];
            if seg.components == 0 {
                dst.fill(0);
            } else {
                let osc = &mut self.osc[..seg.components];
                for s in dst.iter_mut() {
                    let v: f32 = osc.iter_mut().map(Oscillator::next_sample).sum();
                    *s = sat_i16(v);
                }
            }
            written += n;
            self.played += n as u64;
            if seg.samples.is_some_and(|len| self.played >= len) {
                self.next_segment(seg.components != 0);
            }
        }
        written
    }

    fn enter(&mut self, seg: &SegmentPlan) {
        for i in 0..seg.components {
            let o = &mut self.osc[i];
            o.set_freq(seg.freq[i], SAMPLE_RATE);
            o.set_peak(seg.peak[i]);
            if !self.after_tone {
                o.set_phase(0);
            }
            if seg.reverse {
                o.set_phase(o.phase().wrapping_add(0x8000_0000));
            }
        }
        self.entered = true;
    }

    fn next_segment(&mut self, was_tone: bool) {
        self.after_tone = was_tone;
        self.played = 0;
        self.entered = false;
        self.segment += 1;
        if self.segment >= self.segments.len() {
            if self.repeat {
                self.segment = 0;
            } else {
                self.done = true;
            }
        }
    }
}
