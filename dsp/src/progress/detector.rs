//! Call-progress detector: filter bank → per-hop tone class → runs → cadence match → events.

use heapless::Deque;

use crate::level::dbm0_to_power;

use super::cadence::{Cadence, within};
use super::filterbank::{FilterBank, HOP, LAG, MAX_BANDS, WINDOW};
use super::plan::{
    Component, SegmentKind, TonePlan, US_SIT_F1_HIGH, US_SIT_F1_LOW, US_SIT_F2_HIGH, US_SIT_F2_LOW,
    US_SIT_F3, US_SIT_LONG_MS, US_SIT_SHORT_MS,
};
use super::{ProgressEvent, ProgressTone, SAMPLES_PER_MS, SitCause};

/// Events the queue holds; see [`ProgressDetector::process`].
pub const EVENT_CAPACITY: usize = 8;
/// Most events one 10 ms hop can raise; `process` keeps this much room in the queue.
const MAX_EVENTS_PER_HOP: usize = 3;

/// Frequency tolerance around each nominal frequency: ±3 % (dsp-criteria.md §3).
const FREQ_TOLERANCE: f32 = 0.03;
/// Each band reaches this far beyond the tolerance, so a tone inside the tolerance always
/// makes a peak on an interior bin (only interior peaks count; leakage from a tone outside
/// the band slopes up to the edge bin).
const BAND_MARGIN_HZ: f32 = 7.5;
/// Largest level difference between the components of a multi-frequency tone, dB.
const MAX_TWIST_DB: f32 = 10.0;
/// Most a class's components may hold relative to the window's energy (leakage and
/// rounding allowance above 1).
const MAX_RATIO: f32 = 1.2;
/// Hops a new tone class must persist before a run starts (20 ms).
const MIN_ON_HOPS: u32 = 2;
/// Drop-outs of at most this many hops inside a run are bridged (80 ms): they come from
/// phase reversals (ANSam), clicks and codec glitches. The shortest cadence gap we must see
/// is UK ringback's 200 ms − 20 % = 160 ms.
const BRIDGE_HOPS: u64 = 8;
/// Fraction of a window a tone must fill before the window passes the tone-vs-rest test
/// (measured on bursts at random offsets, levels and frequencies; the Hann taper makes it
/// lower than the 10/11 energy ratio). Used to turn the hops at which a run was seen into
/// the tone's true start and end. Measured with the demodulating filter bank, whose
/// window is the Hann window smoothed by the channel filters (0.755 with the exact
/// Goertzel bank it replaced).
const EDGE_FILL: f32 = 0.775;
/// Samples from the first "on" hop end back to the true tone start (the analysis window
/// ends [`LAG`] samples before the hop end).
const START_BACK: i64 = (EDGE_FILL * WINDOW as f32 + LAG + 0.5) as i64 + HOP as i64 / 2;
/// Samples from the last "on" hop end to the true tone end (may be negative).
const END_FWD: i64 = HOP as i64 / 2 - ((1.0 - EDGE_FILL) * WINDOW as f32 + LAG + 0.5) as i64;
/// Runs kept for cadence matching.
const HISTORY: usize = 8;
/// Classes (distinct frequency sets) the detector can hold.
const MAX_CLASSES: usize = 16;
/// Largest gap between SIT segments (ITU: ≤ 30 ms), with margin, samples.
const SIT_MAX_GAP: i64 = 60 * SAMPLES_PER_MS as i64;
/// Shortest and longest SIT segment accepted: 274 ms − 20 % … 380 ms + 20 %, ± 30 ms.
const SIT_MIN_LEN: i64 = (US_SIT_SHORT_MS as i64 * 8 / 10 - 30) * SAMPLES_PER_MS as i64;
const SIT_MAX_LEN: i64 = (US_SIT_LONG_MS as i64 * 12 / 10 + 30) * SAMPLES_PER_MS as i64;
/// CNG burst: 0.5 s (T.30).
const CNG_ON_SAMPLES: u32 = 500 * SAMPLES_PER_MS;
/// Longest off interval of the ITU SIT (1 s) and of CNG (3 s), for the re-report hold.
const SIT_LONGEST_OFF_MS: u32 = 1000;
const CNG_LONGEST_OFF_MS: u32 = 3000;

/// Detector settings. [`ProgressConfig::new`] gives the defaults described on each field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressConfig {
    /// Tone plan whose dial, ringback, busy and congestion tones are detected. SIT (ITU and
    /// US), CNG and CED are detected with every plan.
    pub plan: &'static TonePlan,
    /// Absolute floor: every component of a tone must measure at least this level. Default
    /// −45 dBm0 (the target range ends at −35 dBm0).
    pub min_level_dbm0: f32,
    /// The tone's components must hold this much more energy than everything else in the
    /// 50 ms window. Default 10 dB; this is what rejects speech and noise.
    pub min_tone_to_rest_db: f32,
    /// Continuous dial tone needed before dial is confirmed. `None` (default) derives it from
    /// the plan: 1 s, or longer where a cadenced tone of the plan has the same frequencies
    /// (1.2 × its longest burst + 150 ms: DE 1.35 s, FR 1.95 s), so a ring burst at +20 % is
    /// never taken for dial tone.
    pub dial_confirm_ms: Option<u32>,
    /// Continuous 2100 Hz needed before CED/ANS is confirmed. Default 500 ms (phase reversals
    /// and 15 Hz AM of ANSam allowed).
    pub ced_confirm_ms: u32,
    /// A tone already reported is reported again only after it has been absent this long
    /// (default 1.5 s) and longer than its own longest silence × 1.25 + 300 ms, or after
    /// another tone was confirmed.
    pub rearm_ms: u32,
}

impl ProgressConfig {
    /// The defaults for `plan`.
    pub fn new(plan: &'static TonePlan) -> Self {
        Self {
            plan,
            min_level_dbm0: -45.0,
            min_tone_to_rest_db: 10.0,
            dial_confirm_ms: None,
            ced_confirm_ms: 500,
            rearm_ms: 1500,
        }
    }
}

/// A set of bands whose bins must together hold the window's energy.
#[derive(Debug, Clone, PartialEq)]
struct Class {
    bands: heapless::Vec<u8, 4>,
    /// Nominal frequency of each band (same order).
    nominal: heapless::Vec<f32, 4>,
}

/// A cadenced tone of the plan, bound to its class.
#[derive(Debug, Clone, PartialEq)]
struct Cadenced {
    class: u8,
    cadence: Cadence,
}

/// A finished run: one class seen continuously (drop-outs bridged), with its estimated true
/// start and end in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    class: u8,
    start: i64,
    end: i64,
    mean_freq: f32,
}

impl Run {
    fn len(&self) -> i64 {
        self.end - self.start
    }
}

/// The run in progress; hop positions are the sample counts at the end of each hop.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OpenRun {
    class: u8,
    first: u64,
    last: u64,
    freq_sum: f32,
    hops: u32,
    confirmed: bool,
}

impl OpenRun {
    fn start(&self) -> i64 {
        self.first as i64 - START_BACK
    }
    fn end(&self) -> i64 {
        self.last as i64 + END_FWD
    }
}

/// A class seen for fewer than [`MIN_ON_HOPS`] hops.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    class: u8,
    first: u64,
    hops: u32,
    freq_sum: f32,
}

/// The tone reported last and what keeps it "still playing".
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reported {
    tone: ProgressTone,
    classes: u32,
    hold: u64,
    last_seen: u64,
}

/// Call-progress tone detector for one channel (8 kHz, 16-bit linear).
///
/// Feed audio with [`process`](Self::process), drain [`ProgressEvent`]s with
/// [`poll_event`](Self::poll_event). See the [module docs](super) for the design, the
/// confirmation rules and the reporting semantics.
///
/// ```
/// use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ProgressTone, ToneGenerator};
/// use tipring_dsp::progress::plan::{US, US_BUSY};
///
/// let mut det = ProgressDetector::new(ProgressConfig::new(&US));
/// let mut tone = ToneGenerator::new(&US_BUSY);
/// let mut frame = [0i16; 160]; // 20 ms
/// let mut seen = Vec::new();
/// for _ in 0..200 {
///     tone.generate(&mut frame);
///     let mut rest: &[i16] = &frame;
///     while !rest.is_empty() {
///         let n = det.process(rest);
///         rest = &rest[n..];
///         while let Some(ev) = det.poll_event() {
///             seen.push(ev);
///         }
///     }
/// }
/// assert_eq!(seen.len(), 1); // 4 s of busy: reported once
/// assert_eq!(seen[0].tone, ProgressTone::Busy);
/// ```
#[derive(Debug, Clone)]
pub struct ProgressDetector {
    config: ProgressConfig,
    bank: FilterBank,
    /// Each band's strongest interior peak over the last window (mean-square power, before
    /// the bank's correction; see `classify`).
    band_power: [f32; MAX_BANDS],
    classes: heapless::Vec<Class, MAX_CLASSES>,
    dial: Option<u8>,
    ringback: Option<Cadenced>,
    busy: Option<Cadenced>,
    congestion: Option<Cadenced>,
    cng: Option<u8>,
    ced: Option<u8>,
    sit: Option<[u8; 3]>,
    us_sit_causes: bool,
    floor: f32,
    ratio_min: f32,
    twist: f32,
    dial_confirm: i64,
    /// Longest burst of a cadenced tone (ringback, busy, congestion) on the dial tone's
    /// frequencies, samples: added to `dial_confirm` right after such a tone, when one
    /// burst running straight into the next (ringback, then busy) is not dial tone.
    dial_after_cadence: i64,
    ced_confirm: i64,
    rearm: u64,
    pos: u64,
    open: Option<OpenRun>,
    candidate: Option<Candidate>,
    history: Deque<Run, HISTORY>,
    reported: Option<Reported>,
    events: Deque<ProgressEvent, EVENT_CAPACITY>,
}

/// Builds bands and classes at construction.
struct Builder {
    bank: FilterBank,
    /// (nominal frequency, band index) of the plan's component bands.
    freqs: heapless::Vec<(f32, u8), MAX_BANDS>,
    classes: heapless::Vec<Class, MAX_CLASSES>,
}

impl Builder {
    /// A band covering `lo..=hi` ± the tolerance and margin.
    fn band(&mut self, lo: f32, hi: f32) -> Option<u8> {
        let lo = lo * (1.0 - FREQ_TOLERANCE) - BAND_MARGIN_HZ;
        let hi = hi * (1.0 + FREQ_TOLERANCE) + BAND_MARGIN_HZ;
        self.bank.add_band(lo, hi).map(|b| b as u8)
    }

    fn class_of_bands(&mut self, bands: &[(u8, f32)]) -> Option<u8> {
        let mut c = Class {
            bands: heapless::Vec::new(),
            nominal: heapless::Vec::new(),
        };
        for &(b, f) in bands {
            c.bands.push(b).ok()?;
            c.nominal.push(f).ok()?;
        }
        if let Some(i) = self.classes.iter().position(|x| *x == c) {
            return Some(i as u8);
        }
        self.classes.push(c).ok()?;
        Some((self.classes.len() - 1) as u8)
    }

    fn class_of(&mut self, components: &[Component]) -> Option<u8> {
        let mut bands: heapless::Vec<(u8, f32), 4> = heapless::Vec::new();
        for c in components.iter().take(4) {
            let f = c.freq_hz;
            let b = match self.freqs.iter().find(|(g, _)| *g == f) {
                Some(&(_, b)) => b,
                None => {
                    let b = self.band(f, f)?;
                    self.freqs.push((f, b)).ok()?;
                    b
                }
            };
            if !bands.iter().any(|&(x, _)| x == b) {
                bands.push((b, f)).ok()?;
            }
        }
        bands.sort_unstable_by_key(|&(b, _)| b);
        self.class_of_bands(&bands)
    }

    fn single(&mut self, lo: f32, hi: f32) -> Option<u8> {
        let b = self.band(lo, hi)?;
        self.class_of_bands(&[(b, (lo + hi) / 2.0)])
    }
}

fn first_tone(d: &super::plan::ToneDescriptor) -> Option<&'static [Component]> {
    d.segments()
        .iter()
        .find(|s| s.kind() == SegmentKind::Tone)
        .map(|s| s.components())
}

fn ms(v: u32) -> i64 {
    i64::from(v) * i64::from(SAMPLES_PER_MS)
}

impl ProgressDetector {
    /// A detector for `config`. Sizes everything (about 8 KB inline, and the plan's
    /// coefficient tables, about 9 KB, on the heap); never allocates afterwards.
    ///
    /// Build one detector per plan and [`clone`](Clone::clone) it for each channel: clones
    /// share the tables (read-only), so a thread serving many channels keeps one copy in
    /// cache. A clone carries the original's signal state; [`reset`](Self::reset) clears it. A plan with more distinct frequencies than the bank holds (far beyond the
    /// four built-in plans) loses the tones that don't fit.
    pub fn new(config: ProgressConfig) -> Self {
        let mut b = Builder {
            bank: FilterBank::new(),
            freqs: heapless::Vec::new(),
            classes: heapless::Vec::new(),
        };
        // SIT bands cover ITU 950/1400/1800 and the US 913.8|985.2 / 1370.6|1428.5 / 1776.7.
        let sit = (|| {
            Some([
                b.single(US_SIT_F1_LOW, US_SIT_F1_HIGH)?,
                b.single(US_SIT_F2_LOW, US_SIT_F2_HIGH)?,
                b.single(US_SIT_F3, 1800.0)?,
            ])
        })();
        let cng = b.single(1100.0, 1100.0);
        let ced = b.single(2100.0, 2100.0);
        let plan = config.plan;
        let dial = first_tone(plan.dial).and_then(|c| b.class_of(c));
        let mut cadenced = |d: &super::plan::ToneDescriptor| {
            let cadence = Cadence::of(d)?;
            let class = b.class_of(cadence.components)?;
            Some(Cadenced { class, cadence })
        };
        let ringback = cadenced(plan.ringback);
        let busy = cadenced(plan.busy);
        let congestion = cadenced(plan.congestion);

        let dial_after_cadence = [&ringback, &busy, &congestion]
            .into_iter()
            .flatten()
            .filter(|c| Some(c.class) == dial)
            .map(|c| i64::from(c.cadence.longest_on()) * 6 / 5)
            .max()
            .unwrap_or(0);
        let dial_confirm = match config.dial_confirm_ms {
            Some(v) => ms(v),
            None => {
                let mut d = ms(1000);
                for c in [&ringback, &busy, &congestion].into_iter().flatten() {
                    if Some(c.class) == dial {
                        d = d.max(i64::from(c.cadence.longest_on()) * 6 / 5 + ms(150));
                    }
                }
                d
            }
        };
        let us_sit_causes = plan.sit.segments().iter().any(|s| {
            s.components()
                .iter()
                .any(|c| c.freq_hz == US_SIT_F1_LOW || c.freq_hz == US_SIT_F1_HIGH)
        });
        Self {
            floor: dbm0_to_power(config.min_level_dbm0),
            ratio_min: {
                let r = 10f32.powf(config.min_tone_to_rest_db / 10.0);
                r / (1.0 + r)
            },
            twist: 10f32.powf(MAX_TWIST_DB / 10.0),
            dial_confirm,
            dial_after_cadence,
            ced_confirm: ms(config.ced_confirm_ms),
            rearm: ms(config.rearm_ms) as u64,
            config,
            bank: b.bank,
            band_power: [0.0; MAX_BANDS],
            classes: b.classes,
            dial,
            ringback,
            busy,
            congestion,
            cng,
            ced,
            sit,
            us_sit_causes,
            pos: 0,
            open: None,
            candidate: None,
            history: Deque::new(),
            reported: None,
            events: Deque::new(),
        }
    }

    /// The configuration this detector was built with.
    pub fn config(&self) -> &ProgressConfig {
        &self.config
    }

    /// Samples consumed since construction or [`reset`](Self::reset).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Analysis bins the plan needs: distinct bins of the 10 Hz grid, guard bins included
    /// (for capacity checks and benchmarks; the US plan needs 129).
    pub fn bins(&self) -> usize {
        self.bank.bins()
    }

    /// Forgets all signal history and pending events, as if just built.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.pos = 0;
        self.open = None;
        self.candidate = None;
        self.history.clear();
        self.reported = None;
        self.events.clear();
    }

    /// Analyses `samples` (8 kHz, any length; partial 10 ms hops are carried to the next
    /// call, so the way a signal is cut into calls never changes a result).
    ///
    /// Returns how many samples were consumed: all of them, unless the event queue
    /// ([`EVENT_CAPACITY`] events) is nearly full. Events are raised only at the end of a
    /// 10 ms hop, at most 3 per hop; when fewer than 3 slots are free the detector stops
    /// before feeding the next hop's samples and returns the count so far. Drain
    /// [`poll_event`](Self::poll_event) and call again with the rest: the results are the same
    /// as if nothing had stopped. If events are never polled, `process` ends up consuming
    /// nothing.
    pub fn process(&mut self, samples: &[i16]) -> usize {
        let mut done = 0;
        while done < samples.len() {
            // Events come out only at the end of a hop; keep room for one hop's worth.
            if self.events.len() + MAX_EVENTS_PER_HOP > EVENT_CAPACITY {
                return done;
            }
            let take = self.bank.room().min(samples.len() - done);
            let hop_done = self.bank.push(&samples[done..done + take]);
            self.pos += take as u64;
            done += take;
            if hop_done {
                self.hop();
            }
        }
        done
    }

    /// The oldest pending event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ProgressEvent> {
        self.events.pop_front()
    }

    /// The class the last window holds, with the frequency of its first component.
    fn classify(&self, energy: f32) -> Option<(u8, f32)> {
        if energy.is_nan() || energy <= 0.0 {
            return None;
        }
        let mut best: Option<(u8, f32, f32)> = None;
        let bound = self.bank.refine_bound();
        for (i, class) in self.classes.iter().enumerate() {
            // The bank's peak powers are at most `bound` times too low: skip the classes that
            // can't reach the energy ratio before asking for the exact values.
            let quick: f32 = class
                .bands
                .iter()
                .map(|&b| self.band_power[usize::from(b)])
                .sum();
            if quick * bound < self.ratio_min * energy {
                continue;
            }
            let mut sum = 0.0f32;
            let mut max = 0.0f32;
            let mut min = f32::MAX;
            for &b in &class.bands {
                let p = self.bank.band_power(usize::from(b));
                sum += p;
                max = max.max(p);
                min = min.min(p);
            }
            if min < self.floor || min * self.twist < max {
                continue;
            }
            let ratio = sum / energy;
            // Distinct sines can't hold more than the window's energy: more means one sine
            // between two close bands (e.g. 460 Hz in both the 440 and 480 bands).
            if !(self.ratio_min..=MAX_RATIO).contains(&ratio) || !self.distinct_peaks(class) {
                continue;
            }
            if best.is_none_or(|(_, r, _)| ratio > r) {
                let f = class
                    .bands
                    .first()
                    .map_or(0.0, |&b| self.bank.peak_freq(usize::from(b)));
                best = Some((i as u8, ratio, f));
            }
        }
        best.map(|(c, _, f)| (c, f))
    }

    /// True when the components' strongest bins are at least half their nominal spacing
    /// apart, so two bands aren't lit by one sine.
    fn distinct_peaks(&self, class: &Class) -> bool {
        let n = class.bands.len();
        for i in 0..n {
            for j in i + 1..n {
                let fi = self.bank.peak_freq(usize::from(class.bands[i]));
                let fj = self.bank.peak_freq(usize::from(class.bands[j]));
                if (fi - fj).abs() < 0.5 * (class.nominal[i] - class.nominal[j]).abs() {
                    return false;
                }
            }
        }
        true
    }

    /// One 10 ms hop: classify the window, track runs, confirm tones.
    fn hop(&mut self) {
        let energy = self.bank.measure(&mut self.band_power);
        let seen = self.classify(energy);
        let now = self.pos;

        if let Some(r) = &mut self.reported {
            if seen.is_some_and(|(c, _)| r.classes & (1 << c) != 0) {
                r.last_seen = now;
            } else if now - r.last_seen > r.hold {
                self.reported = None;
            }
        }

        match (self.open, seen) {
            (Some(mut open), Some((c, f))) if open.class == c => {
                open.last = now;
                open.freq_sum += f;
                open.hops = open.hops.saturating_add(1);
                self.open = Some(open);
                self.candidate = None;
            }
            _ => {
                if self
                    .open
                    .is_some_and(|o| now - o.last > BRIDGE_HOPS * HOP as u64)
                {
                    self.finish_open();
                }
                match seen {
                    Some((c, f)) => {
                        let cand = match self.candidate {
                            Some(mut k) if k.class == c => {
                                k.hops += 1;
                                k.freq_sum += f;
                                k
                            }
                            _ => Candidate {
                                class: c,
                                first: now,
                                hops: 1,
                                freq_sum: f,
                            },
                        };
                        self.candidate = Some(cand);
                        if cand.hops >= MIN_ON_HOPS {
                            self.finish_open();
                            self.candidate = None;
                            self.open = Some(OpenRun {
                                class: cand.class,
                                first: cand.first,
                                last: now,
                                freq_sum: cand.freq_sum,
                                hops: cand.hops,
                                confirmed: false,
                            });
                            self.run_started();
                        }
                    }
                    None => self.candidate = None,
                }
            }
        }

        // Tones confirmed by duration while they last.
        if let Some(open) = self.open
            && !open.confirmed
        {
            let len = open.end() - open.start();
            // Right after a cadenced tone on the same frequencies, a run is dial tone only if
            // it outlasts one more of that tone's bursts too.
            let after_cadence = self.reported.as_ref().is_some_and(|r| {
                matches!(
                    r.tone,
                    ProgressTone::Ringback | ProgressTone::Busy | ProgressTone::Congestion
                ) && r.classes & (1 << open.class) != 0
                    && open.start() <= (r.last_seen + r.hold) as i64
            });
            let need = self.dial_confirm
                + if after_cadence {
                    self.dial_after_cadence
                } else {
                    0
                };
            let tone = if Some(open.class) == self.dial && len >= need {
                Some(ProgressTone::Dial)
            } else if Some(open.class) == self.ced && len >= self.ced_confirm {
                Some(ProgressTone::Ced)
            } else {
                None
            };
            if let Some(t) = tone {
                if let Some(o) = &mut self.open {
                    o.confirmed = true;
                }
                self.confirm(t);
            }
        }
    }

    /// Closes the open run (if any), files it and checks the tones that end with a run.
    fn finish_open(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let run = Run {
            class: open.class,
            start: open.start(),
            end: open.end(),
            mean_freq: open.freq_sum / open.hops.max(1) as f32,
        };
        if self.history.is_full() {
            self.history.pop_front();
        }
        let _ = self.history.push_back(run);

        // Ringback: the last runs match one ring (the cadence without its final silence).
        if let Some(rb) = &self.ringback
            && rb.class == run.class
        {
            let ring = rb.cadence.intervals.len().saturating_sub(1);
            let mut obs = [0i64; HISTORY * 2];
            if let Some(n) = self.observed(run.class, ring.div_ceil(2), None, &mut obs)
                && n == ring
                && rb.cadence.matches_at(&obs[..n], 0)
            {
                self.confirm(ProgressTone::Ringback);
            }
        }
        // CNG: one 0.5 s burst of 1100 Hz.
        if Some(run.class) == self.cng && within(run.len(), CNG_ON_SAMPLES) {
            self.confirm(ProgressTone::Cng);
        }
        // SIT: three segments in order, each 189…486 ms, gaps ≤ 60 ms.
        if let Some(sit) = self.sit
            && run.class == sit[2]
            && let Some(t) = self.sit_tone(sit)
        {
            self.confirm(t);
        }
    }

    /// Checks the last three runs for a SIT; returns the tone (with the US cause when the
    /// plan's SIT is a US one and the segments say which).
    fn sit_tone(&self, sit: [u8; 3]) -> Option<ProgressTone> {
        let n = self.history.len();
        if n < 3 {
            return None;
        }
        let r = [
            *self.history.get(n - 3)?,
            *self.history.get(n - 2)?,
            *self.history.get(n - 1)?,
        ];
        for i in 0..3 {
            if r[i].class != sit[i] || r[i].len() < SIT_MIN_LEN || r[i].len() > SIT_MAX_LEN {
                return None;
            }
            if i > 0 && (r[i].start - r[i - 1].end).abs() > SIT_MAX_GAP {
                return None;
            }
        }
        if !self.us_sit_causes {
            return Some(ProgressTone::Sit(None));
        }
        // Segment 3 (1776.7 Hz, long) is common to all causes: use it to take out a common
        // frequency offset and cadence speed, then read low/high and short/long.
        let fscale = US_SIT_F3 / r[2].mean_freq.max(1.0);
        let tscale = ms(US_SIT_LONG_MS) as f32 / r[2].len().max(1) as f32;
        let mut high = [false; 2];
        let mid = [
            (US_SIT_F1_LOW + US_SIT_F1_HIGH) / 2.0,
            (US_SIT_F2_LOW + US_SIT_F2_HIGH) / 2.0,
        ];
        for i in 0..2 {
            high[i] = r[i].mean_freq * fscale > mid[i];
            // Length in units of segment 3's, against the short/long midpoint (0.86).
            let rel = r[i].len() as f32 * tscale;
            let long = rel > ms(US_SIT_SHORT_MS + US_SIT_LONG_MS) as f32 / 2.0;
            if long != high[i] {
                return Some(ProgressTone::Sit(None));
            }
        }
        let cause = match high {
            [false, false] => SitCause::Ic,
            [true, false] => SitCause::Vc,
            [false, true] => SitCause::Ro,
            [true, true] => SitCause::Nc,
        };
        Some(ProgressTone::Sit(Some(cause)))
    }

    /// Fills `out` with the intervals of the last `runs` filed runs of `class` (on, off, on,
    /// …), plus the gap to `open_start` when given. `None` unless all those runs are of
    /// `class`. Returns the number of intervals.
    fn observed(
        &self,
        class: u8,
        runs: usize,
        open_start: Option<i64>,
        out: &mut [i64; HISTORY * 2],
    ) -> Option<usize> {
        let n = self.history.len();
        if runs == 0 || runs > n {
            return None;
        }
        let mut k = 0;
        for i in n - runs..n {
            let r = self.history.get(i)?;
            if r.class != class {
                return None;
            }
            *out.get_mut(k)? = r.len();
            k += 1;
            let next_start = match self.history.get(i + 1) {
                Some(next) => Some(next.start),
                None => open_start,
            };
            if let Some(s) = next_start {
                *out.get_mut(k)? = s - r.end;
                k += 1;
            }
        }
        Some(k)
    }

    /// A run just started: check busy and congestion over two full cadences (on, off, on,
    /// off, the last off ending now), more if both match.
    fn run_started(&mut self) {
        let Some(open) = self.open else {
            return;
        };
        let mut obs = [0i64; HISTORY * 2];
        for runs in 2..=HISTORY / 2 {
            let Some(n) = self.observed(open.class, runs, Some(open.start()), &mut obs) else {
                return;
            };
            let hit = |c: &Option<Cadenced>| {
                c.as_ref().is_some_and(|c| {
                    c.class == open.class && c.cadence.matches_any_phase(&obs[..n])
                })
            };
            match (hit(&self.busy), hit(&self.congestion)) {
                (false, false) => return,
                (true, false) => return self.confirm(ProgressTone::Busy),
                (false, true) => return self.confirm(ProgressTone::Congestion),
                (true, true) => continue,
            }
        }
    }

    /// Classes that show `tone` is still playing, as a bit mask.
    fn classes_of(&self, tone: ProgressTone) -> u32 {
        let bit = |c: Option<u8>| c.map_or(0, |c| 1u32 << c);
        match tone {
            ProgressTone::Dial => bit(self.dial),
            ProgressTone::Ringback => bit(self.ringback.as_ref().map(|c| c.class)),
            ProgressTone::Busy => bit(self.busy.as_ref().map(|c| c.class)),
            ProgressTone::Congestion => bit(self.congestion.as_ref().map(|c| c.class)),
            ProgressTone::Sit(_) => self.sit.map_or(0, |s| s.iter().fold(0, |m, &c| m | 1 << c)),
            ProgressTone::Cng => bit(self.cng),
            ProgressTone::Ced => bit(self.ced),
        }
    }

    /// How long `tone` must be absent before it is reported again.
    fn hold_of(&self, tone: ProgressTone) -> u64 {
        let off = |c: &Option<Cadenced>| c.as_ref().map_or(0, |c| c.cadence.longest_off());
        let longest_off = match tone {
            ProgressTone::Dial | ProgressTone::Ced => 0,
            ProgressTone::Ringback => off(&self.ringback),
            ProgressTone::Busy => off(&self.busy),
            ProgressTone::Congestion => off(&self.congestion),
            ProgressTone::Sit(_) => SIT_LONGEST_OFF_MS * SAMPLES_PER_MS,
            ProgressTone::Cng => CNG_LONGEST_OFF_MS * SAMPLES_PER_MS,
        };
        self.rearm
            .max(u64::from(longest_off) * 5 / 4 + ms(300) as u64)
    }

    /// Reports `tone` unless it is the tone reported last and still playing.
    fn confirm(&mut self, tone: ProgressTone) {
        let now = self.pos;
        if let Some(r) = &mut self.reported
            && r.tone == tone
        {
            r.last_seen = now;
            return;
        }
        self.reported = Some(Reported {
            tone,
            classes: self.classes_of(tone),
            hold: self.hold_of(tone),
            last_seen: now,
        });
        // `process` keeps room for a hop's events, so this never fails.
        let _ = self.events.push_back(ProgressEvent { tone, at: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::plan::{UK, US};
    use crate::progress::tests_support::Rng;

    /// Cadence matching relies on run lengths being right to a few ms (the ±20 % budget is
    /// for the line, not for us): bursts of 400 Hz ±3 % at −35…−10 dBm0, any length and any
    /// sub-hop offset, have their start and end estimated within 9 ms, unbiased.
    #[test]
    fn run_edges_are_within_9_ms_of_the_true_tone() {
        let mut rng = Rng::new(7);
        let (mut sum, mut worst, mut n) = (0i64, 0i64, 0i64);
        for _ in 0..300 {
            let off = (rng.unit() * 160.0) as usize + 800;
            let len = (rng.unit() * 3000.0) as usize + 1500;
            let f = 400.0 * rng.range(0.97, 1.03);
            let a = crate::level::dbm0_to_peak(rng.range(-35.0, -10.0));
            let mut x = vec![0i16; off + len + 2000];
            for i in 0..len {
                x[off + i] = (a * (core::f32::consts::TAU * f * i as f32 / 8000.0).sin()) as i16;
            }
            let mut d = ProgressDetector::new(ProgressConfig::new(&UK));
            assert_eq!(d.process(&x), x.len());
            assert_eq!(d.history.len(), 1, "one burst, one run");
            let r = *d.history.front().unwrap();
            for e in [r.start - off as i64, r.end - (off + len) as i64] {
                sum += e;
                worst = worst.max(e.abs());
                n += 1;
            }
        }
        assert!(worst <= 72, "worst edge error {worst} samples");
        assert!((sum / n).abs() <= 8, "bias {} samples", sum / n);
    }

    /// The built-in plans fit the bank with room to spare, and every tone gets its class.
    #[test]
    fn every_plan_fits_the_filter_bank() {
        for plan in crate::progress::plan::PLANS {
            let d = ProgressDetector::new(ProgressConfig::new(plan));
            assert!(
                d.bins() < super::super::filterbank::MAX_BINS,
                "{}",
                plan.name
            );
            assert!(d.dial.is_some() && d.ringback.is_some(), "{}", plan.name);
            assert!(d.busy.is_some() && d.congestion.is_some(), "{}", plan.name);
            assert!(
                d.sit.is_some() && d.cng.is_some() && d.ced.is_some(),
                "{}",
                plan.name
            );
            assert_eq!(d.us_sit_causes, core::ptr::eq(plan, &US), "{}", plan.name);
        }
    }

    /// The AVX2 + FMA build and the portable build of the analysis report the same events
    /// on the same input (speech, then every tone of the US plan, through μ-law).
    #[test]
    fn simd_and_portable_builds_agree() {
        use crate::progress::ToneVariation;
        use crate::progress::tests_support::{speech, tone, ulaw_round_trip};
        let mut x = speech(4.0, -18.0, 5);
        for d in US.tones() {
            x.extend(tone(d, ToneVariation::NONE, 3_000));
        }
        ulaw_round_trip(&mut x);
        let run = |simd: bool| {
            let mut d = ProgressDetector::new(ProgressConfig::new(&US));
            d.bank.set_simd(simd);
            crate::progress::tests_support::detect_with(&mut d, &x, 160)
        };
        let portable = run(false);
        assert!(portable.len() >= 8, "{portable:?}");
        if crate::simd_available() {
            assert_eq!(run(true), portable);
        }
    }

    /// A media thread serving many channels streams their state through the cache: the
    /// per-channel part stays small (the plan's tables are shared by clones), and a clone of
    /// a fresh detector is a fresh detector.
    #[test]
    fn per_channel_state_is_small_and_clones_are_independent() {
        assert!(
            core::mem::size_of::<ProgressDetector>() <= 9 * 1024,
            "{} bytes",
            core::mem::size_of::<ProgressDetector>()
        );
        let proto = ProgressDetector::new(ProgressConfig::new(&US));
        let busy = crate::progress::tests_support::tone(
            &crate::progress::plan::US_BUSY,
            crate::progress::ToneVariation::NONE,
            3_000,
        );
        let mut a = proto.clone();
        let mut b = proto.clone();
        let seen_a = crate::progress::tests_support::detect_with(&mut a, &busy, 160);
        let seen_b = crate::progress::tests_support::detect_with(&mut b, &vec![0; 24_000], 160);
        assert_eq!(seen_a.len(), 1, "{seen_a:?}");
        assert!(seen_b.is_empty(), "{seen_b:?}");
        let mut fresh = ProgressDetector::new(ProgressConfig::new(&US));
        let mut c = proto.clone();
        assert_eq!(
            crate::progress::tests_support::detect_with(&mut c, &busy, 160),
            crate::progress::tests_support::detect_with(&mut fresh, &busy, 160)
        );
    }
}
