//! Packet loss concealment for 8 kHz speech, in the manner of ITU-T G.711 Appendix I.
//!
//! # What does it do?
//! When a packet of G.711 (or any 8 kHz linear) audio is missing, [`Plc::conceal`] writes a
//! plausible continuation of what was heard, instead of the silence or the click a gap would
//! make. [`Plc::good`] is given every sample that did arrive: it remembers them, and on the
//! first good samples after a loss it cross-fades the concealment into the real signal so the
//! recovery has no step either. Both take any length and carry their state, so 1-sample,
//! odd-sized and whole-frame calls give identical output. Nothing allocates; the state is
//! about 1.6 kB.
//!
//! | behaviour | value |
//! |---|---|
//! | history analysed | 390 samples (48.75 ms) |
//! | pitch search | periods of 40–120 samples (200–66.7 Hz), normalised cross-correlation over 20 ms, coarse (2:1) then fine |
//! | repetition | the last 1 period for the first 10 ms of a loss, 2 periods from 10 ms, 3 from 20 ms |
//! | seams | overlap-add over a quarter period at every cycle wrap and period-count change |
//! | level | full for 10 ms, then −20 % of full level per 10 ms: silent from 60 ms |
//! | recovery | the concealment (continued) is cross-faded into the new signal over 4 ms, plus 1 ms per further 10 ms of loss, at most 10 ms |
//!
//! Measured by the unit tests (waveform SNR over the lost stretches; muting scores 0 dB): on a
//! steady voiced vowel a 20 ms loss is concealed at 16 dB, a 60 ms loss at 5.5 dB. On the
//! seeded speech-like source, whose pitch jitters by 1 % per period and glides, the waveform
//! drifts out of phase within a few periods: 5 dB over the first 5 ms, 0.5 dB over 20 ms and
//! −0.2 dB over 60 ms (libopus's own concealment scores 1.3 dB on a similar source, see
//! `opus.rs`). Waveform SNR is a harsh measure for concealment, whose aim is a continuation
//! that does not sound like a gap. The largest sample step across a recovery stays within
//! that of the signal itself.
//!
//! # How does it work?
//! Voiced speech is locally periodic, so the best guess for a missing stretch is more of the
//! last pitch period. This is the algorithm of G.711 Appendix I, written from its
//! description, without its 3.75 ms output delay:
//!
//! 1. **Pitch.** At the first lost sample the period `P` is the lag in 40…120 that maximises
//!    the normalised cross-correlation between the last 20 ms of history and the 20 ms `P`
//!    samples earlier ([`best_period`]).
//! 2. **Cycle.** The concealment plays the last `N·P` samples of history (`N` periods) over
//!    and over. So that the jump from the end of that cycle back to its start is seamless, the
//!    cycle's last `P/4` samples are cross-faded into the `P/4` samples that precede its
//!    start in the history (what "comes before" the start is what the end should lead into).
//!    Appendix I instead cross-fades the last quarter period of the *real* signal, which is
//!    why it delays its output by 3.75 ms; a telephony media path cannot afford that delay,
//!    so the first concealed sample simply follows on from one period back.
//! 3. **More periods as the loss grows.** After 10 ms the cycle grows to 2 periods, after
//!    20 ms to 3: repeating one period for long sounds buzzy. The switch keeps the phase
//!    (it moves to the same point one period older) and cross-fades over `P/4` samples.
//! 4. **Fade.** The output is multiplied by a gain that stays at 1 for 10 ms and then falls
//!    linearly by 0.2 every 10 ms, reaching 0 at 60 ms: after that the PLC is silent, since
//!    a long repetition is worse than silence.
//! 5. **Recovery.** On the first good sample after a loss, the concealment carries on for
//!    `4 ms + 1 ms` per further 10 ms of loss (at most 10 ms), faded out with a linear ramp
//!    while the real signal is faded in.
//!
//! History records what was *output* (good, concealed and merged samples alike), so a second
//! loss soon after the first continues from what the listener heard. The concealment reads a
//! snapshot of the history taken when the loss began.
//!
//! ```
//! use tipring_dsp::plc::Plc;
//! let mut plc = Plc::new();
//! let mut frame = [0i16; 160];
//! plc.good(&mut frame); // every frame that arrived (merged in place after a loss)
//! plc.conceal(&mut frame); // a frame that did not
//! assert_eq!(plc.lost_samples(), 160);
//! ```

use crate::osc::sat_i16;

/// Samples of history analysed (48.75 ms: three of the longest periods plus a quarter).
pub const HISTORY_LEN: usize = 390;
/// Shortest pitch period searched (samples; 200 Hz).
pub const PITCH_MIN: usize = 40;
/// Longest pitch period searched (samples; 66.7 Hz).
pub const PITCH_MAX: usize = 120;
/// Length of the correlation window of the pitch search (20 ms).
const CORR_LEN: usize = 160;
/// 10 ms: the unit of the period-count steps and of the fade.
const STEP: u32 = 80;
/// From this many lost samples (60 ms) on, the concealment is silent.
pub const MUTE_AFTER: u32 = 480;
/// Largest number of periods repeated.
const MAX_PERIODS: usize = 3;

/// The period (in `min..=max` samples) at which `x` best repeats itself, with its normalised
/// correlation (−1 … 1).
///
/// The reference window is `x[max..]`; each lag `l` compares it with `x[max - l..len - l]`.
/// So `x` must be longer than `max`; the correlation window is `x.len() - max` samples.
/// Returns `None` if `x` is too short, `min` is 0 or above `max`, or `x` is silent.
///
/// As in G.711 Appendix I, the search is coarse first (on `x` decimated 2:1 by summing
/// pairs, every other lag) and then refined at full rate around the best coarse lag: about
/// a sixth of the work of a full search.
pub fn best_period(x: &[i16], min: usize, max: usize) -> Option<(usize, f32)> {
    if min == 0 || min > max || x.len() <= max {
        return None;
    }
    const COARSE_MAX: usize = 512;
    let half = x.len() / 2;
    if max - min < 8 || half > COARSE_MAX || x.len() - max < 32 {
        return search(x, max, min, max);
    }
    // Coarse: pair sums, lags min/2 ..= max/2.
    let mut d = [0.0f32; COARSE_MAX];
    // Align the pairs to the end of `x`, so the reference window ends where it does.
    let skip = x.len() % 2;
    for (k, pair) in x[skip..].chunks_exact(2).enumerate() {
        d[k] = f32::from(pair[0]) + f32::from(pair[1]);
    }
    let d = &d[..half];
    let max2 = max / 2;
    let min2 = min.div_ceil(2);
    let coarse = correlate(d, max2, min2, max2)?.0 * 2;
    // Refine at full rate around it.
    search(
        x,
        max,
        coarse.saturating_sub(2).max(min),
        (coarse + 2).min(max),
    )
}

/// Full-rate search of lags `lo..=hi`, reference window `x[max..]`.
fn search(x: &[i16], max: usize, lo: usize, hi: usize) -> Option<(usize, f32)> {
    let mut r = [0.0f32; 1024];
    let n = (x.len() - max).min(r.len());
    let r = &mut r[..n];
    // The reference window's last `n` samples (all of it unless `x` is huge).
    let base = x.len() - n;
    for (v, &s) in r.iter_mut().zip(&x[base..]) {
        *v = f32::from(s);
    }
    let mut best: Option<(usize, f32)> = None;
    let r_energy: f32 = r.iter().map(|v| v * v).sum();
    if r_energy <= 0.0 {
        return None;
    }
    for lag in lo..=hi {
        let l = &x[base - lag..x.len() - lag];
        let (cross, energy) = cross_energy(r, l, |&b| f32::from(b));
        if energy > 0.0 {
            let score = cross / (r_energy * energy).sqrt();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((lag, score));
            }
        }
    }
    best
}

/// [`search`] on a float signal.
fn correlate(x: &[f32], max: usize, lo: usize, hi: usize) -> Option<(usize, f32)> {
    let r = &x[max..];
    let r_energy: f32 = r.iter().map(|v| v * v).sum();
    if r_energy <= 0.0 {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for lag in lo..=hi {
        let l = &x[max - lag..x.len() - lag];
        let (cross, energy) = cross_energy(r, l, |&b| b);
        if energy > 0.0 {
            let score = cross / (r_energy * energy).sqrt();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((lag, score));
            }
        }
    }
    best
}

/// `(Σ r·f(l), Σ f(l)²)` over the common length of `r` and `l`.
///
/// Summed in eight interleaved partial sums: one running sum must be added in order, which
/// keeps the compiler from vectorising it; eight independent ones fill two SSE registers
/// (this is the pitch search's inner loop, run for every loss and every jitter-buffer cut).
#[inline]
fn cross_energy<T>(r: &[f32], l: &[T], f: impl Fn(&T) -> f32) -> (f32, f32) {
    const W: usize = 8;
    let n = r.len().min(l.len());
    let (r, l) = (&r[..n], &l[..n]);
    let (mut cross, mut energy) = ([0.0f32; W], [0.0f32; W]);
    let (rc, lc) = (r.chunks_exact(W), l.chunks_exact(W));
    let (rt, lt) = (rc.remainder(), lc.remainder());
    for (ra, la) in rc.zip(lc) {
        for k in 0..W {
            let b = f(&la[k]);
            cross[k] += ra[k] * b;
            energy[k] += b * b;
        }
    }
    let (mut c, mut e) = (cross.iter().sum::<f32>(), energy.iter().sum::<f32>());
    for (&a, b) in rt.iter().zip(lt) {
        let b = f(b);
        c += a * b;
        e += b * b;
    }
    (c, e)
}

/// The G.711 Appendix I style concealer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Plc {
    /// The last [`HISTORY_LEN`] output samples, oldest first.
    hist: [i16; HISTORY_LEN],
    /// `hist` as it was when the current loss began: what the concealment repeats.
    snap: [i16; HISTORY_LEN],
    /// Samples concealed in the current loss (0 when not in a loss).
    lost: u32,
    /// Pitch period of the current loss, samples.
    pitch: u16,
    /// Cross-fade length at the seams (a quarter period).
    overlap: u16,
    /// Periods in the current cycle.
    periods: u8,
    /// Position in the current cycle.
    phase: u16,
    /// Period count and phase of the cycle being faded out after a period-count change.
    old_periods: u8,
    old_phase: u16,
    /// Samples left of that fade.
    switch_left: u16,
    /// Recovery merge: its length, samples left, and the loss length it follows.
    merge_len: u16,
    merge_left: u16,
    merge_lost: u32,
}

impl Default for Plc {
    fn default() -> Self {
        Self::new()
    }
}

impl Plc {
    /// A concealer with silent history.
    pub const fn new() -> Self {
        Self {
            hist: [0; HISTORY_LEN],
            snap: [0; HISTORY_LEN],
            lost: 0,
            pitch: PITCH_MAX as u16,
            overlap: (PITCH_MAX / 4) as u16,
            periods: 1,
            phase: 0,
            old_periods: 1,
            old_phase: 0,
            switch_left: 0,
            merge_len: 0,
            merge_left: 0,
            merge_lost: 0,
        }
    }

    /// Forgets history and any loss in progress.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Samples concealed in the loss in progress (0 if the last call was [`good`](Self::good)).
    pub fn lost_samples(&self) -> u32 {
        self.lost
    }

    /// Whether the concealment has faded to silence (a loss of 60 ms or more is in progress).
    pub fn is_muted(&self) -> bool {
        self.lost >= MUTE_AFTER
    }

    /// The last [`HISTORY_LEN`] samples output (good, merged or concealed), oldest first.
    /// Time-scaling code (a jitter buffer stretching speech by a pitch period) reads it.
    pub fn history(&self) -> &[i16] {
        &self.hist
    }

    /// The pitch period (samples) found at the start of the current or last loss.
    pub fn pitch(&self) -> usize {
        usize::from(self.pitch)
    }

    /// Samples that arrived. After a loss the first few milliseconds are cross-faded in place
    /// with the continued concealment (so `frame` is what should be played); then `frame`
    /// joins the history.
    pub fn good(&mut self, frame: &mut [i16]) {
        if self.lost > 0 {
            // A loss just ended: 4 ms, plus 1 ms per further 10 ms of loss, at most 10 ms.
            let extra = (self.lost - 1) / STEP;
            self.merge_len = (32 + 8 * extra).min(80) as u16;
            self.merge_left = self.merge_len;
            self.merge_lost = self.lost;
            self.lost = 0;
        }
        if self.merge_left > 0 {
            let n = frame.len().min(usize::from(self.merge_left));
            for x in &mut frame[..n] {
                let i = u32::from(self.merge_len - self.merge_left);
                let synth = self.next_cycle_sample() * gain(self.merge_lost + i);
                let w = (i + 1) as f32 / (f32::from(self.merge_len) + 1.0);
                *x = sat_i16(synth * (1.0 - w) + f32::from(*x) * w);
                self.merge_left -= 1;
            }
        }
        self.remember(frame);
    }

    /// Fills `out` with concealment for samples that did not arrive.
    pub fn conceal(&mut self, out: &mut [i16]) {
        if out.is_empty() {
            return;
        }
        if self.lost == 0 {
            self.begin_loss();
        }
        for x in out.iter_mut() {
            if self.lost >= MUTE_AFTER {
                *x = 0;
                continue;
            }
            if self.lost == STEP || self.lost == 2 * STEP {
                self.add_period();
            }
            *x = sat_i16(self.next_cycle_sample() * gain(self.lost));
            self.lost += 1;
        }
        // Saturate rather than wrap on endless losses (after MUTE_AFTER nothing changes).
        self.lost = self.lost.min(MUTE_AFTER + STEP);
        self.remember(out);
    }

    /// Appends `x` to the history.
    fn remember(&mut self, x: &[i16]) {
        if x.len() >= HISTORY_LEN {
            self.hist.copy_from_slice(&x[x.len() - HISTORY_LEN..]);
        } else {
            self.hist.copy_within(x.len().., 0);
            self.hist[HISTORY_LEN - x.len()..].copy_from_slice(x);
        }
    }

    /// Snapshot the history and find the pitch for a new loss.
    fn begin_loss(&mut self) {
        self.snap = self.hist;
        // Last 20 ms against the 20 ms one period earlier.
        let window = &self.snap[HISTORY_LEN - CORR_LEN - PITCH_MAX..];
        let pitch = best_period(window, PITCH_MIN, PITCH_MAX).map_or(PITCH_MAX, |(p, _)| p);
        self.pitch = pitch as u16;
        self.overlap = (pitch / 4) as u16;
        self.periods = 1;
        self.phase = 0;
        self.switch_left = 0;
        self.merge_left = 0;
    }

    /// Grows the cycle by one period, keeping the phase and cross-fading from the old cycle.
    fn add_period(&mut self) {
        if usize::from(self.periods) >= MAX_PERIODS {
            return;
        }
        self.old_periods = self.periods;
        self.old_phase = self.phase;
        self.periods += 1;
        // `phase` unchanged: index `c` of the longer cycle is the same point of the waveform
        // one period further back than index `c` of the shorter one.
        self.switch_left = self.overlap;
    }

    /// The next sample of the repeated cycle (before the fade gain).
    fn next_cycle_sample(&mut self) -> f32 {
        let new = self.cycle_value(self.periods, self.phase);
        self.phase = (self.phase + 1) % (u16::from(self.periods) * self.pitch);
        if self.switch_left == 0 {
            return new;
        }
        let old = self.cycle_value(self.old_periods, self.old_phase);
        self.old_phase = (self.old_phase + 1) % (u16::from(self.old_periods) * self.pitch);
        let len = f32::from(self.overlap);
        let w = (len - f32::from(self.switch_left) + 1.0) / (len + 1.0);
        self.switch_left -= 1;
        old * (1.0 - w) + new * w
    }

    /// Sample `c` of the cycle made of the last `periods` periods of the snapshot, with its
    /// end cross-faded into what precedes its start (so the wrap is seamless).
    fn cycle_value(&self, periods: u8, c: u16) -> f32 {
        let len = usize::from(periods) * usize::from(self.pitch);
        let start = HISTORY_LEN - len;
        let c = usize::from(c);
        let ov = usize::from(self.overlap);
        let raw = f32::from(self.snap[start + c]);
        if c + ov < len {
            return raw;
        }
        // Last `ov` samples: blend towards the samples just before the cycle's start.
        let j = c + ov - len;
        let before = f32::from(self.snap[start - ov + j]);
        let w = (j + 1) as f32 / (ov + 1) as f32;
        raw * (1.0 - w) + before * w
    }
}

/// Fade gain for the `n`-th concealed sample of a loss: 1 for 10 ms, then −0.2 per 10 ms.
fn gain(n: u32) -> f32 {
    if n < STEP {
        1.0
    } else if n >= MUTE_AFTER {
        0.0
    } else {
        1.0 - 0.2 * (n - STEP) as f32 / STEP as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Rng, SpeechLike};

    /// A steady voiced vowel /a/: a smooth glottal flow pulse (open for 40 % of the period)
    /// at f0 = 118 Hz (a non-integer period of 67.8 samples), differentiated, through formant
    /// resonators at 700, 1220 and 2600 Hz; about −13 dBm0.
    fn vowel(len: usize) -> Vec<i16> {
        let formants = [
            (700.0f32, 90.0f32, 1.0f32),
            (1220.0, 110.0, 0.5),
            (2600.0, 160.0, 0.25),
        ];
        let coefs: Vec<(f32, f32)> = formants
            .iter()
            .map(|&(f, bw, _)| {
                let r = (-core::f32::consts::PI * bw / 8000.0).exp();
                (
                    2.0 * r * (core::f32::consts::TAU * f / 8000.0).cos(),
                    -r * r,
                )
            })
            .collect();
        let mut state = [[0.0f32; 2]; 3];
        let mut phase = 0.0f32;
        let mut last_flow = 0.0f32;
        (0..len)
            .map(|_| {
                phase = (phase + 118.0 / 8000.0).fract();
                let flow = if phase < 0.4 {
                    (core::f32::consts::PI * phase / 0.4).sin().powi(2)
                } else {
                    0.0
                };
                let excite = (flow - last_flow) * 12_000.0;
                last_flow = flow;
                let mut y = 0.0;
                for k in 0..3 {
                    let v = excite + coefs[k].0 * state[k][0] + coefs[k].1 * state[k][1];
                    state[k][1] = state[k][0];
                    state[k][0] = v;
                    y += v * formants[k].2;
                }
                sat_i16(y)
            })
            .collect()
    }

    fn speech(len: usize, seed: u64) -> Vec<i16> {
        let mut s = SpeechLike::new(seed, -16.0);
        let mut v = Vec::with_capacity(len);
        s.render(&mut v, len as f32 / 8.0);
        v
    }

    /// Runs `x` through a PLC in 20 ms frames, losing the frames in `lost` (frame indices).
    fn run(x: &[i16], lost: impl Fn(usize) -> bool) -> Vec<i16> {
        let mut plc = Plc::new();
        let mut y = x.to_vec();
        for (i, f) in y.chunks_mut(160).enumerate() {
            if lost(i) {
                plc.conceal(f);
            } else {
                plc.good(f);
            }
        }
        y
    }

    fn snr_db(x: &[i16], y: &[i16]) -> f64 {
        let sig: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        let err: f64 = x
            .iter()
            .zip(y)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum();
        10.0 * (sig / err.max(1e-9)).log10()
    }

    /// SNR over the lost stretches (plus the recovery merge) of losses of `frames` frames every
    /// 500 ms, for a PLC and for muting (which is 0 dB by definition).
    fn loss_snr(x: &[i16], frames: usize) -> f64 {
        let period = 25; // frames between loss starts
        let lost = |i: usize| i >= 10 && i % period < frames;
        let y = run(x, lost);
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..x.len() / 160 {
            if lost(i) {
                xs.extend_from_slice(&x[i * 160..(i + 1) * 160]);
                ys.extend_from_slice(&y[i * 160..(i + 1) * 160]);
            }
        }
        snr_db(&xs, &ys)
    }

    #[test]
    fn pitch_search_finds_the_period_of_a_vowel() {
        let x = vowel(4000);
        let (p, score) = best_period(&x[1000..1000 + 280], PITCH_MIN, PITCH_MAX).unwrap();
        // 8000 / 118 = 67.8 samples.
        assert!((67..=68).contains(&p), "{p}");
        assert!(score > 0.9, "{score}");
        // The coarse-then-fine search finds what a full search does.
        for at in (500..3500).step_by(97) {
            let w = &x[at..at + 280];
            assert_eq!(
                best_period(w, PITCH_MIN, PITCH_MAX).map(|b| b.0),
                search(w, PITCH_MAX, PITCH_MIN, PITCH_MAX).map(|b| b.0),
                "at {at}"
            );
        }
        assert_eq!(best_period(&[0; 280], PITCH_MIN, PITCH_MAX), None);
        assert_eq!(best_period(&x[..100], PITCH_MIN, PITCH_MAX), None);
        assert_eq!(best_period(&x[..300], 0, PITCH_MAX), None);
    }

    /// G.711 Appendix I's purpose: a concealed loss is much closer to the lost signal than
    /// silence (muting scores exactly 0 dB SNR).
    #[test]
    fn concealment_beats_muting_on_voiced_speech() {
        let x = vowel(8000 * 10);
        let s20 = loss_snr(&x, 1);
        let s60 = loss_snr(&x, 3);
        let sp = speech(8000 * 30, 7);
        let p20 = loss_snr(&sp, 1);
        let p60 = loss_snr(&sp, 3);
        println!(
            "PLC SNR vs original (muting = 0 dB): vowel 20 ms loss {s20:.1} dB, 60 ms {s60:.1} dB; \
             speech-like 20 ms {p20:.1} dB, 60 ms {p60:.1} dB"
        );
        assert!(s20 > 12.0, "{s20}");
        assert!(s60 > 4.0, "{s60}");
        // Jittery speech drifts out of phase: still better than muting over 20 ms, and no
        // worse than muting over 60 ms (the fade brings it down to silence).
        assert!(p20 > 0.0, "{p20}");
        assert!(p60 > -1.0, "{p60}");
    }

    /// No click where the real signal returns: the largest sample-to-sample step around the
    /// recovery is no larger than the signal's own, while a plain splice of the concealment
    /// onto the new signal would make a much larger one.
    #[test]
    fn recovery_has_no_click() {
        let x = vowel(8000 * 4);
        let own_step = x
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        for lost_frames in [1usize, 2, 3, 5] {
            for offset in [0usize, 37, 101] {
                let start = 3200 + offset;
                let end = start + lost_frames * 160;
                let mut plc = Plc::new();
                let mut y = x.clone();
                plc.good(&mut y[..start]);
                plc.conceal(&mut y[start..end]);
                let mut tail = y[end..].to_vec();
                plc.good(&mut tail);
                y[end..].copy_from_slice(&tail);
                let step = y[end - 20..end + 100]
                    .windows(2)
                    .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
                    .max()
                    .unwrap();
                assert!(
                    step <= own_step * 11 / 10,
                    "loss {lost_frames} frames at +{offset}: step {step} vs signal's {own_step}"
                );
            }
        }
    }

    /// The fade of Appendix I: full level for 10 ms, 20 % less per 10 ms, silent from 60 ms.
    #[test]
    fn silent_after_60_ms() {
        let x = vowel(8000);
        let mut plc = Plc::new();
        let mut y = x[..2000].to_vec();
        plc.good(&mut y);
        let mut out = vec![1i16; 1600];
        plc.conceal(&mut out);
        assert!(out[..80].iter().any(|&v| v.abs() > 1000));
        assert!(out[480..].iter().all(|&v| v == 0));
        assert!(plc.is_muted());
        // Level falls through 20-60 ms.
        let rms = |s: &[i16]| {
            (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        assert!(rms(&out[400..480]) < rms(&out[80..160]) * 0.5);
    }

    /// The DSP contract: the result does not depend on how the calls are chunked.
    #[test]
    fn any_chunking_gives_identical_output() {
        let x = speech(8000 * 3, 3);
        // Loss pattern by sample index: 20 ms, 60 ms and 100 ms losses, one right after
        // another's recovery has started.
        let lost = |n: usize| {
            (4000..4160).contains(&n)
                || (8000..8480).contains(&n)
                || (8520..8600).contains(&n)
                || (12000..12800).contains(&n)
        };
        let reference = {
            let mut plc = Plc::new();
            let mut y = x.clone();
            // whole runs
            let mut n = 0;
            while n < y.len() {
                let l = lost(n);
                let mut m = n;
                while m < y.len() && lost(m) == l {
                    m += 1;
                }
                if l {
                    plc.conceal(&mut y[n..m]);
                } else {
                    plc.good(&mut y[n..m]);
                }
                n = m;
            }
            y
        };
        let mut rng = Rng::new(11);
        for mode in 0..3 {
            let mut plc = Plc::new();
            let mut y = x.clone();
            let mut n = 0;
            while n < y.len() {
                let want = match mode {
                    0 => 1,
                    1 => 7,
                    _ => 1 + (rng.next_u64() % 200) as usize,
                };
                let l = lost(n);
                let mut m = n;
                while m < y.len() && m - n < want && lost(m) == l {
                    m += 1;
                }
                if l {
                    plc.conceal(&mut y[n..m]);
                } else {
                    plc.good(&mut y[n..m]);
                }
                n = m;
            }
            assert_eq!(y, reference, "chunking mode {mode}");
        }
    }

    #[test]
    fn silence_conceals_to_silence_and_long_losses_do_not_overflow() {
        let mut plc = Plc::new();
        let mut out = [5i16; 160];
        plc.conceal(&mut out);
        assert_eq!(out, [0; 160]);
        for _ in 0..100_000 {
            plc.conceal(&mut out);
        }
        assert!(plc.is_muted());
        let mut good = [1000i16; 160];
        plc.good(&mut good);
        // Fades in from silence over the 10 ms merge, then passes through.
        assert!(good[0].abs() < 100);
        assert_eq!(good[80..], [1000; 80]);
        assert_eq!(plc.lost_samples(), 0);
    }
}
