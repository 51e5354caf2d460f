//! DTMF receiver meeting ITU-T Q.24 (AT&T column) and ETSI ES 201 235-3.
//!
//! # What does it do?
//! Finds DTMF digits in 8 kHz linear audio (decode G.711 first) and reports each digit once,
//! at its start ([`DtmfEvent::Begin`], what RFC 4733 and digit collection need) and at its end
//! ([`DtmfEvent::End`], with the duration). Requirements met, each with a unit test below:
//!
//! | requirement | value |
//! |---|---|
//! | frequency deviation | accepts ±1.5 %, rejects ±3.5 % (limit ±2.5 %; +1.53 % above 1477 Hz, see below) |
//! | twist (high − low) | accepts +4 … −8 dB, rejects beyond +8 / −12 dB (limits +6 / −10 dB) |
//! | duration | accepts ≥ 40 ms, rejects ≤ 23 ms |
//! | pause | 40 ms separates two digits, also the same key twice |
//! | interruption | a drop-out ≤ 10 ms (in fact ≤ 20 ms, as ETSI asks) is bridged |
//! | level per tone | −3 … −30 dBm0 accepted (−36 too), −55 dBm0 rejected (limit −42 dBm0) |
//! | white noise | 100 % at 18 dB SNR, ≥ 99 % at 15 dB |
//! | network tones | no digit from dial, ringback, busy, SIT, CAS 2130+2750 Hz, CNG, CED, Bell 202 / V.23 FSK, MF-R1 |
//! | latency | reported 27.5–33.3 ms after tone onset (p95 32.5 ms) |
//!
//! MF-R1 digit 7 is 700 + 1500 Hz: 1500 Hz lies only 1.56 % above 1477 Hz, so a receiver that
//! must accept 1477 Hz + 1.5 % can only reject MF 7 with an upper limit between the two. The
//! 1477 Hz upper limit is therefore +1.53 %, checked on the frequency averaged over the hops
//! that confirm the digit. An MF sender running more than 0.03 % slow on 1500 Hz is still
//! heard as DTMF `3`; no receiver that meets Q.24 can do better on frequency alone.
//!
//! # How does it work?
//! The classic 102-sample rectangular Goertzel block cannot meet the frequency and the 23 ms
//! limits together (its 78 Hz main lobe cannot tell 1.5 % from 3.5 %, and its hit counting
//! lets 21 ms tones through), so this receiver analyses overlapped windows instead:
//!
//! 1. **Analysis.** Every 5 ms (one *hop* = 40 samples) it computes the 20 ms (160 samples)
//!    Hamming-windowed DFT at the 8 DTMF frequencies. The Hamming window is applied in the
//!    frequency domain: `H(f) = 0.54·X(f) − 0.23·(X(f−50 Hz) + X(f+50 Hz))` where `X` is the
//!    rectangular DFT, so 24 Goertzel filters run over each 5 ms sub-block (24 independent
//!    lanes the compiler vectorises), and each window's DFT is the phase-rotated sum of its four
//!    sub-block results.
//! 2. **Frequency from phase.** A tone at `f` advances the window's phase by `2π·f·40/8000`
//!    per hop, so the phase advance against the nominal one measures the frequency error to
//!    about 1 Hz even at 15 dB SNR. The frequency test uses this, not an energy ratio.
//!    Knowing the offset, the window's scalloping loss is undone before levels are compared.
//! 3. **Valid signal (VSC)** for a window: the strongest row and column are each ≥ −42 dBm0,
//!    within their frequency limits, 8 dB above the other tones of their group, twist within
//!    +6 / −10 dB, the pair holds ≥ 80 % of the window's energy, and the window is full of
//!    tone: each of its four 5 ms sub-blocks carries at least half the energy of the
//!    strongest (a window that straddles an edge of the tone fails).
//! 4. **Timing in hops.** A digit begins after 3 consecutive valid windows of that digit (a
//!    40 ms tone gives 4–5, a 23 ms tone 1–2) and ends after 9 consecutive windows that are
//!    not valid for it (a 10 ms drop-out gives 5–6, a 20 ms one 7–8, a 40 ms pause 10–11).
//!
//! Cost: 24 Goertzel updates per sample plus a little work per hop; see `tipring dsp bench`.
//! On x86-64 CPUs with AVX2 and FMA (detected at run time) the Goertzel loop runs in a build of
//! the same code for those features, about twice as fast; results can differ from the portable
//! build in the last bits of a float, never in a test's outcome. State is about 1.7 kB (the
//! fixed tables, 1.1 kB more, are one copy shared by every receiver) and nothing allocates.

use super::{COL_HZ, KEYPAD, ROW_HZ};
use crate::level::dbm0_to_power;
use crate::simd_available;
#[cfg(test)]
use core::f64::consts::PI;
use core::f64::consts::TAU;
use core::fmt;

const FS: f64 = 8000.0;
/// Samples per hop (sub-block): 5 ms.
pub const HOP: usize = 40;
const NSUB: usize = 4;
/// Analysis window, samples: 20 ms.
pub const WINDOW: usize = HOP * NSUB;
const LANES: usize = 24;
/// Bin spacing of the window, Hz.
const BIN_HZ: f64 = FS / WINDOW as f64;
/// Normalisation of |H|² to the mean square of an on-bin sine: 2 / (0.54·N)².
const POWER_NORM: f32 = (2.0 / ((0.54 * WINDOW as f64) * (0.54 * WINDOW as f64))) as f32;
/// Events held before `process` stops consuming.
pub const EVENT_CAPACITY: usize = 16;
/// Upper frequency limit for 1477 Hz (fraction), rejects MF-R1 1500 Hz.
const COL3_UPPER: f32 = 0.0153;

/// Receiver settings. The defaults meet every requirement in the [module docs](self); change
/// them only to trade talk-off against tolerance on a known line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfRxConfig {
    /// Minimum level per tone, dBm0 (default −42).
    pub min_level_dbm0: f32,
    /// Largest accepted reverse twist (high group louder), dB (default 6).
    pub max_reverse_twist_db: f32,
    /// Largest accepted normal twist (low group louder), dB (default 10).
    pub max_normal_twist_db: f32,
    /// Frequency tolerance, percent (default 2.5).
    pub freq_tolerance_pct: f32,
    /// How far the strongest tone of a group must stand above the others, dB (default 8).
    pub relative_peak_db: f32,
    /// Share of the window's energy the two tones must hold (default 0.8).
    pub min_energy_fraction: f32,
    /// Valid windows before a digit is reported (default 3, i.e. 15 ms of hops).
    pub begin_hops: u8,
    /// Invalid windows before a digit ends (default 9).
    pub end_hops: u8,
    /// Use the AVX2 + FMA build of the analysis loop when the CPU has it (default true).
    /// Turn off for results identical to the last bit across machines.
    pub simd: bool,
}

impl Default for DtmfRxConfig {
    fn default() -> Self {
        Self {
            min_level_dbm0: -42.0,
            max_reverse_twist_db: 6.0,
            max_normal_twist_db: 10.0,
            freq_tolerance_pct: 2.5,
            relative_peak_db: 8.0,
            min_energy_fraction: 0.8,
            begin_hops: 3,
            end_hops: 9,
            simd: true,
        }
    }
}

/// Why a receiver configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DtmfRxError {
    /// A field out of its range.
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: f32,
        /// Smallest allowed value.
        min: f32,
        /// Largest allowed value.
        max: f32,
    },
}

impl fmt::Display for DtmfRxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfRange {
                field,
                value,
                min,
                max,
            } => {
                write!(
                    f,
                    "DTMF receiver {field} = {value} is outside {min} ... {max}"
                )
            }
        }
    }
}

impl core::error::Error for DtmfRxError {}

/// What the receiver reports. `at` is the receiver's sample count (samples fed since `new`
/// or `reset`) at the end of the hop that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A digit was recognised (about 30 ms after its tone began).
    Begin {
        /// `0-9 * # A-D`.
        digit: char,
        /// Sample count when recognised.
        at: u64,
    },
    /// The digit's tone has ended (reported 45 ms after the tone stopped).
    End {
        /// `0-9 * # A-D`.
        digit: char,
        /// Sample count when the end was decided.
        at: u64,
        /// Samples from the first to the last valid window's end, an estimate of the tone's
        /// length accurate to about ±5 ms.
        duration: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct C32 {
    re: f32,
    im: f32,
}

impl C32 {
    #[inline]
    fn mul(self, o: C32) -> C32 {
        C32 {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    #[inline]
    fn mul_conj(self, o: C32) -> C32 {
        C32 {
            re: self.re * o.re + self.im * o.im,
            im: self.im * o.re - self.re * o.im,
        }
    }
    #[inline]
    fn norm2(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
    fn from_polar(angle: f64) -> C32 {
        C32 {
            re: angle.cos() as f32,
            im: angle.sin() as f32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle,
    /// In a digit (keypad index).
    Digit(u8),
}

/// The analysis's fixed tables. They depend only on the DTMF frequencies, so every receiver
/// shares one copy: a media thread running thousands of receivers keeps this kilobyte in
/// cache instead of reading a copy per receiver from memory every hop.
#[derive(Debug)]
struct Tables {
    fac: [f32; LANES],
    cosw: [f32; LANES],
    sinw: [f32; LANES],
    /// `rot[k][l] = e^{-jω_l(40k + 39)}`: turns the Goertzel output of the k-th sub-block of
    /// the window into its contribution to the window's DFT.
    rot: [[C32; LANES]; NSUB],
    /// `e^{-j·2π·f_k·40/8000}`: removes the nominal phase advance per hop.
    adv: [C32; 8],
}

/// The eight DTMF frequencies, rows then columns, Hz.
fn tones() -> [f64; 8] {
    core::array::from_fn(|k| f64::from(if k < 4 { ROW_HZ[k] } else { COL_HZ[k - 4] }))
}

impl Tables {
    fn new() -> Tables {
        let tones = tones();
        let mut fac = [0f32; LANES];
        let mut cosw = [0f32; LANES];
        let mut sinw = [0f32; LANES];
        let mut rot = [[C32::default(); LANES]; NSUB];
        for l in 0..LANES {
            // Lanes 0..8 on the tones, 8..16 one bin below, 16..24 one bin above.
            let f = tones[l % 8] + [0.0, -BIN_HZ, BIN_HZ][l / 8];
            let w = TAU * f / FS;
            fac[l] = (2.0 * w.cos()) as f32;
            cosw[l] = w.cos() as f32;
            sinw[l] = w.sin() as f32;
            for (k, r) in rot.iter_mut().enumerate() {
                r[l] = C32::from_polar(-w * (HOP * k + HOP - 1) as f64);
            }
        }
        let adv = core::array::from_fn(|k| C32::from_polar(-TAU * tones[k] * HOP as f64 / FS));
        Tables {
            fac,
            cosw,
            sinw,
            rot,
            adv,
        }
    }
}

static TABLES: std::sync::LazyLock<Tables> = std::sync::LazyLock::new(Tables::new);

/// The DTMF receiver. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DtmfRx {
    // Fixed per configuration.
    t: &'static Tables,
    min_power: f32,
    min_window_power: f32,
    twist_lo: f32,
    twist_hi: f32,
    rel_peak: f32,
    energy_frac: f32,
    /// Per-window frequency limit per tone, as a phase advance (radians per hop), ±.
    tol_hop: [f32; 8],
    /// Limits on the frequency averaged over the confirming run (lower, upper), radians per
    /// hop: the same as `tol_hop` except above 1477 Hz (MF-R1 1500 Hz).
    tol_run: [(f32, f32); 8],
    begin_hops: u8,
    end_hops: u8,
    /// Run the Goertzel lanes with AVX2 + FMA (detected at construction).
    simd: bool,

    // Analysis state.
    s1: [f32; LANES],
    s2: [f32; LANES],
    energy: f32,
    fill: usize,
    y: [[C32; LANES]; NSUB],
    e_sub: [f32; NSUB],
    head: usize,
    subs_seen: usize,
    prev_h: [C32; 8],
    prev_valid: bool,
    /// The previous window was full of signal (its phase is unbiased).
    prev_full: bool,

    // Decision state.
    state: State,
    run_digit: u8,
    run_len: u8,
    run_adv: [C32; 2],
    miss: u8,
    /// First valid hop of the current run (a candidate digit).
    first_valid: u64,
    /// First valid hop of the digit in progress (set when it begins).
    digit_start: u64,
    /// Last valid hop of the digit in progress.
    last_valid: u64,
    pos: u64,
    events: heapless::Deque<DtmfEvent, EVENT_CAPACITY>,
}

fn check(field: &'static str, value: f32, min: f32, max: f32) -> Result<(), DtmfRxError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(DtmfRxError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

impl DtmfRx {
    /// A receiver with the given settings.
    ///
    /// # Errors
    /// A setting outside its range ([`DtmfRxError::OutOfRange`] names it).
    pub fn new(cfg: DtmfRxConfig) -> Result<Self, DtmfRxError> {
        check("min_level_dbm0", cfg.min_level_dbm0, -60.0, -10.0)?;
        check("max_reverse_twist_db", cfg.max_reverse_twist_db, 0.0, 12.0)?;
        check("max_normal_twist_db", cfg.max_normal_twist_db, 0.0, 15.0)?;
        check("freq_tolerance_pct", cfg.freq_tolerance_pct, 0.5, 4.0)?;
        check("relative_peak_db", cfg.relative_peak_db, 3.0, 20.0)?;
        check("min_energy_fraction", cfg.min_energy_fraction, 0.3, 0.99)?;
        check("begin_hops", f32::from(cfg.begin_hops), 2.0, 20.0)?;
        check("end_hops", f32::from(cfg.end_hops), 2.0, 40.0)?;

        let tones = tones();
        let per_hz = (TAU * HOP as f64 / FS) as f32; // radians per hop per Hz
        let t = cfg.freq_tolerance_pct / 100.0;
        let tol_hop = core::array::from_fn(|k| t * tones[k] as f32 * per_hz);
        let tol_run = core::array::from_fn(|k| {
            let f = tones[k] as f32 * per_hz;
            let upper = if k == 6 { t.min(COL3_UPPER) } else { t };
            (-t * f, upper * f)
        });
        let min_power = dbm0_to_power(cfg.min_level_dbm0);
        Ok(Self {
            t: &TABLES,
            min_power,
            min_window_power: 2.0 * min_power * 0.5,
            twist_lo: 10f32.powf(-cfg.max_normal_twist_db / 10.0),
            twist_hi: 10f32.powf(cfg.max_reverse_twist_db / 10.0),
            rel_peak: 10f32.powf(-cfg.relative_peak_db / 10.0),
            energy_frac: cfg.min_energy_fraction,
            tol_hop,
            tol_run,
            begin_hops: cfg.begin_hops,
            end_hops: cfg.end_hops,
            simd: cfg.simd && simd_available(),
            s1: [0.0; LANES],
            s2: [0.0; LANES],
            energy: 0.0,
            fill: 0,
            y: [[C32::default(); LANES]; NSUB],
            e_sub: [0.0; NSUB],
            head: 0,
            subs_seen: 0,
            prev_h: [C32::default(); 8],
            prev_valid: false,
            prev_full: false,
            state: State::Idle,
            run_digit: 0,
            run_len: 0,
            run_adv: [C32::default(); 2],
            miss: 0,
            first_valid: 0,
            digit_start: 0,
            last_valid: 0,
            pos: 0,
            events: heapless::Deque::new(),
        })
    }

    /// Forgets all state and restarts the sample count at zero.
    pub fn reset(&mut self) {
        self.s1 = [0.0; LANES];
        self.s2 = [0.0; LANES];
        self.energy = 0.0;
        self.fill = 0;
        self.subs_seen = 0;
        self.prev_valid = false;
        self.prev_full = false;
        self.state = State::Idle;
        self.run_len = 0;
        self.miss = 0;
        self.pos = 0;
        self.events.clear();
    }

    /// Samples fed since `new` or `reset`.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The digit in progress, if any.
    pub fn current_digit(&self) -> Option<char> {
        match self.state {
            State::Digit(d) => Some(KEYPAD[usize::from(d)]),
            State::Idle => None,
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    /// Accounts for `samples` of lost audio (a missing packet) without inventing any: time
    /// advances, the analysis restarts once audio resumes, and the lost hops count against a
    /// digit in progress, so a short loss keeps the digit and one longer than the end
    /// threshold (45 ms) ends it. Returns `samples`, or less when the event queue is nearly full.
    pub fn fillin(&mut self, samples: usize) -> usize {
        if self.events.len() + 2 > EVENT_CAPACITY {
            return 0;
        }
        self.pos += samples as u64;
        if self.fill == 0 && self.subs_seen == 0 && self.state == State::Idle {
            // Nothing fed since the last reset or fill-in: the analysis is already at rest.
            // (Idle lines and digital silence come here every frame.)
            return samples;
        }
        self.s1 = [0.0; LANES];
        self.s2 = [0.0; LANES];
        self.energy = 0.0;
        self.fill = 0;
        self.subs_seen = 0;
        self.prev_valid = false;
        self.prev_full = false;
        self.run_len = 0;
        if let State::Digit(_) = self.state {
            let hops = u8::try_from(samples.div_ceil(HOP)).unwrap_or(u8::MAX);
            self.miss = self.miss.saturating_add(hops);
            if self.miss >= self.end_hops {
                self.end_digit(self.pos);
            }
        }
        samples
    }

    /// Feeds samples; returns how many were consumed. That is all of them unless the event
    /// queue (capacity [`EVENT_CAPACITY`]) is nearly full, in which case it stops at a hop
    /// boundary: drain [`poll_event`](Self::poll_event) and feed the rest. Callers that feed
    /// up to a few seconds between drains never see a short count.
    pub fn process(&mut self, samples: &[i16]) -> usize {
        let mut done = 0;
        while done < samples.len() {
            if self.events.len() + 2 > EVENT_CAPACITY {
                break;
            }
            let take = (HOP - self.fill).min(samples.len() - done);
            self.accumulate(&samples[done..done + take]);
            done += take;
            self.fill += take;
            self.pos += take as u64;
            if self.fill == HOP {
                self.fill = 0;
                self.end_sub_block();
            }
        }
        done
    }

    #[inline]
    #[allow(unsafe_code)] // the receiver's one unsafe call, see the SAFETY note
    fn accumulate(&mut self, x: &[i16]) {
        let fac = &self.t.fac;
        let (s1, s2, e) = (&mut self.s1, &mut self.s2, &mut self.energy);
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set in `new` only when the CPU reports AVX2 and FMA, the
            // features `goertzel_avx2_fma` is compiled for.
            unsafe { goertzel_avx2_fma(fac, s1, s2, e, x) };
            return;
        }
        goertzel_portable(fac, s1, s2, e, x);
    }

    fn end_sub_block(&mut self) {
        // Goertzel output y = s1 − e^{-jω}·s2 of this sub-block into the ring.
        let slot = &mut self.y[self.head];
        for l in 0..LANES {
            slot[l] = C32 {
                re: self.s1[l] - self.t.cosw[l] * self.s2[l],
                im: self.t.sinw[l] * self.s2[l],
            };
        }
        self.e_sub[self.head] = self.energy;
        self.head = (self.head + 1) % NSUB;
        self.s1 = [0.0; LANES];
        self.s2 = [0.0; LANES];
        self.energy = 0.0;
        if self.subs_seen < NSUB {
            self.subs_seen += 1;
            if self.subs_seen < NSUB {
                return;
            }
        }
        let vsc = self.analyse();
        self.decide(vsc);
    }

    /// Analyses the window ending now; returns the digit (keypad index) and, when the window
    /// before was also full of signal, the phase advances of its two tones.
    fn analyse(&mut self) -> Option<(u8, Option<[C32; 2]>)> {
        let e_total: f32 = self.e_sub.iter().sum();
        let ms = e_total / WINDOW as f32;
        if ms < self.min_window_power {
            self.prev_valid = false;
            self.prev_full = false;
            return None;
        }
        // Stationarity: every sub-block of the window carries signal. A window that straddles
        // an edge of the tone fails, and so does its phase (a truncated window's phase is
        // biased by the frequency offset).
        let (mut emin, mut emax) = (f32::MAX, 0f32);
        for &e in &self.e_sub {
            emin = emin.min(e);
            emax = emax.max(e);
        }
        let full = emin >= 0.5 * emax;
        let prev_full = core::mem::replace(&mut self.prev_full, full);
        // Window DFT per lane: oldest sub-block is at `head`.
        let mut x = [C32::default(); LANES];
        for k in 0..NSUB {
            let y = &self.y[(self.head + k) % NSUB];
            let r = &self.t.rot[k];
            for l in 0..LANES {
                let p = y[l].mul(r[l]);
                x[l].re += p.re;
                x[l].im += p.im;
            }
        }
        let mut h = [C32::default(); 8];
        let mut pw = [0f32; 8];
        for k in 0..8 {
            h[k] = C32 {
                re: 0.54 * x[k].re - 0.23 * (x[8 + k].re + x[16 + k].re),
                im: 0.54 * x[k].im - 0.23 * (x[8 + k].im + x[16 + k].im),
            };
            pw[k] = h[k].norm2() * POWER_NORM;
        }
        let prev = self.prev_h;
        let prev_valid = self.prev_valid;
        self.prev_h = h;
        self.prev_valid = true;
        if !prev_valid {
            return None;
        }

        let r = argmax(&pw[..4]);
        let c = 4 + argmax(&pw[4..]);
        let (pr, pc) = (pw[r], pw[c]);
        for k in 0..8 {
            if k != r && k != c && pw[k] > self.rel_peak * if k < 4 { pr } else { pc } {
                return None;
            }
        }
        if !full {
            return None;
        }
        // Frequency from the phase advance.
        let ar = h[r].mul_conj(prev[r]).mul(self.t.adv[r]);
        let ac = h[c].mul_conj(prev[c]).mul(self.t.adv[c]);
        let dr = ar.im.atan2(ar.re);
        let dc = ac.im.atan2(ac.re);
        if dr.abs() > self.tol_hop[r] || dc.abs() > self.tol_hop[c] {
            return None;
        }
        // Undo the window's scalloping for the measured offset, then level, twist, energy.
        let per_bin = (TAU * HOP as f64 / FS * BIN_HZ) as f32; // phase advance of one bin
        let pr = pr / hamming_gain(dr / per_bin);
        let pc = pc / hamming_gain(dc / per_bin);
        if pr < self.min_power || pc < self.min_power {
            return None;
        }
        let twist = pc / pr;
        if twist < self.twist_lo || twist > self.twist_hi {
            return None;
        }
        if pr + pc < self.energy_frac * ms {
            return None;
        }
        Some(((r * 4 + (c - 4)) as u8, prev_full.then_some([ar, ac])))
    }

    fn decide(&mut self, vsc: Option<(u8, Option<[C32; 2]>)>) {
        let now = self.pos;
        match vsc {
            Some((d, adv)) => {
                if self.state == State::Digit(d) {
                    self.miss = 0;
                    self.run_len = 0;
                    self.last_valid = now;
                    return;
                }
                if self.run_len == 0 || self.run_digit != d {
                    self.run_digit = d;
                    self.run_len = 0;
                    self.run_adv = [C32::default(); 2];
                    self.first_valid = now;
                }
                self.run_len = self.run_len.saturating_add(1);
                if let Some(adv) = adv {
                    for (sum, a) in self.run_adv.iter_mut().zip(adv) {
                        sum.re += a.re;
                        sum.im += a.im;
                    }
                }
                if let State::Digit(_) = self.state {
                    self.miss = self.miss.saturating_add(1);
                }
                if self.run_len >= self.begin_hops && self.run_frequency_ok() {
                    self.end_digit(now);
                    self.state = State::Digit(d);
                    self.run_len = 0;
                    self.miss = 0;
                    self.digit_start = self.first_valid;
                    self.last_valid = now;
                    let _ = self.events.push_back(DtmfEvent::Begin {
                        digit: KEYPAD[usize::from(d)],
                        at: now,
                    });
                } else if let State::Digit(_) = self.state
                    && self.miss >= self.end_hops
                {
                    self.end_digit(now);
                }
            }
            None => {
                self.run_len = 0;
                if let State::Digit(_) = self.state {
                    self.miss = self.miss.saturating_add(1);
                    if self.miss >= self.end_hops {
                        self.end_digit(now);
                    }
                }
            }
        }
    }

    /// The averaged frequency of the confirming run must sit inside the (tighter) limits.
    fn run_frequency_ok(&self) -> bool {
        let d = usize::from(self.run_digit);
        let (r, c) = (d / 4, 4 + d % 4);
        let ok = |k: usize, a: C32| {
            let ph = a.im.atan2(a.re);
            ph >= self.tol_run[k].0 && ph <= self.tol_run[k].1
        };
        ok(r, self.run_adv[0]) && ok(c, self.run_adv[1])
    }

    fn end_digit(&mut self, now: u64) {
        if let State::Digit(d) = self.state {
            let _ = self.events.push_back(DtmfEvent::End {
                digit: KEYPAD[usize::from(d)],
                at: now,
                duration: self.last_valid.saturating_sub(self.digit_start) + WINDOW as u64,
            });
            self.state = State::Idle;
            self.miss = 0;
        }
    }
}

/// The 24 Goertzel lanes over `x`, plus the energy. Written as plain loops over fixed arrays
/// so that the compiler vectorises across lanes (SSE2 here, AVX2 in the FMA build).
#[inline(always)]
fn goertzel_lanes<const FMA: bool>(
    fac: &[f32; LANES],
    s1: &mut [f32; LANES],
    s2: &mut [f32; LANES],
    energy: &mut f32,
    x: &[i16],
) {
    let mut a = *s1;
    let mut b = *s2;
    let mut e = *energy;
    for &v in x {
        let v = f32::from(v);
        e += v * v;
        for l in 0..LANES {
            // (v − s2) is off the critical path: the chain through s1 is one (fused) mul-add.
            let s = if FMA {
                fac[l].mul_add(a[l], v - b[l])
            } else {
                fac[l] * a[l] + (v - b[l])
            };
            b[l] = a[l];
            a[l] = s;
        }
    }
    *s1 = a;
    *s2 = b;
    *energy = e;
}

fn goertzel_portable(
    fac: &[f32; LANES],
    s1: &mut [f32; LANES],
    s2: &mut [f32; LANES],
    e: &mut f32,
    x: &[i16],
) {
    goertzel_lanes::<false>(fac, s1, s2, e, x);
}

/// The same loop compiled for AVX2 + FMA: 24 lanes in three 8-wide registers, one fused
/// mul-add per lane and sample.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn goertzel_avx2_fma(
    fac: &[f32; LANES],
    s1: &mut [f32; LANES],
    s2: &mut [f32; LANES],
    e: &mut f32,
    x: &[i16],
) {
    goertzel_lanes::<true>(fac, s1, s2, e, x);
}

fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..x.len() {
        if x[i] > x[best] {
            best = i;
        }
    }
    best
}

/// `|Ŵ(δ)|²` of the periodic 160-point Hamming window at δ = i/64 bins, i = 0..=64,
/// normalised to 1 at δ = 0: the scalloping loss of a tone δ bins from the analysis frequency.
/// Generated from the closed form [`hamming_gain_exact`] (a test checks every entry).
const HAMMING_GAIN: [f32; 65] = [
    1.0, 0.9996128, 0.9984521, 0.9965203, 0.9938215, 0.9903615, 0.9861476, 0.9811888, 0.9754954,
    0.9690796, 0.9619548, 0.9541359, 0.9456393, 0.9364825, 0.9266845, 0.9162655, 0.9052467,
    0.8936506, 0.8815006, 0.868821, 0.8556371, 0.8419749, 0.8278611, 0.8133232, 0.7983891,
    0.7830871, 0.7674461, 0.7514951, 0.7352635, 0.7187807, 0.7020762, 0.6851794, 0.6681196,
    0.6509261, 0.6336277, 0.6162529, 0.5988299, 0.5813863, 0.5639492, 0.546545, 0.5291995,
    0.5119377, 0.494784, 0.4777617, 0.4608933, 0.4442005, 0.4277038, 0.4114228, 0.3953762,
    0.3795815, 0.364055, 0.3488122, 0.3338673, 0.3192333, 0.3049223, 0.2909451, 0.2773115,
    0.2640299, 0.251108, 0.2385521, 0.2263676, 0.2145587, 0.2031286, 0.1920796, 0.1800752,
];

/// Scalloping loss for an offset of `delta` bins (|δ| ≤ 1; larger offsets are clamped, and
/// are rejected by the frequency test anyway), interpolated from [`HAMMING_GAIN`].
#[inline]
fn hamming_gain(delta: f32) -> f32 {
    let x = (delta.abs() * 64.0).min(63.999);
    let i = x as usize;
    let f = x - i as f32;
    HAMMING_GAIN[i] + f * (HAMMING_GAIN[i + 1] - HAMMING_GAIN[i])
}

/// `|Ŵ(δ)|²` in closed form: the window's transform is
/// `0.54·E(δ) − 0.23·(E(δ+1) + E(δ−1))` with `E` the Dirichlet kernel of length 160.
#[cfg(test)]
fn hamming_gain_exact(delta: f64) -> f64 {
    let n = WINDOW as f64;
    let mut d = delta;
    if (d - d.round()).abs() < 1e-3 {
        d += 2e-3;
    }
    let s = (PI * d).sin();
    let e0 = s / (PI * d / n).sin();
    let ep = s / (PI * (d + 1.0) / n).sin();
    let em = s / (PI * (d - 1.0) / n).sin();
    let th = PI / n;
    let re = 0.54 * e0 - 0.23 * th.cos() * (ep + em);
    let im = -0.23 * th.sin() * (em - ep);
    (re * re + im * im) / (0.54 * n * 0.54 * n)
}

#[cfg(test)]
mod tests;
