//! Call-progress tones: tone plans, a cadenced tone generator and a call-progress detector.
//!
//! # What does it do?
//! * [`plan`]: immutable descriptors of the call-progress tones of the US (Telcordia precise
//!   tone plan, ANSI T1.401 SIT with its four cause variants), UK (BT SIN 350), DE and FR,
//!   plus ITU-T E.180 SIT and the fax tones CNG (T.30, 1100 Hz) and CED/ANS/ANSam (T.30,
//!   V.25, V.8, 2100 Hz). Values: `dsp-criteria.md` §3.
//! * [`ToneGenerator`] plays any descriptor with sample-exact cadences and phase-continuous
//!   sines (what `tipring dsp gen tone NAME --plan PLAN --ms N` prints).
//! * [`ProgressDetector`] listens to an 8 kHz channel and raises a [`ProgressEvent`] when it
//!   has confirmed dial tone, ringback, busy, congestion, SIT (with the US cause when
//!   identifiable), fax CNG or CED/ANSam for the configured [`TonePlan`](plan::TonePlan).
//!
//! Detector limits (each one is a test of this module):
//! * levels −10…−35 dBm0 per component are required; −5…−44 dBm0 is measured to work;
//!   nothing is reported below the −45 dBm0 floor (tested at −50 dBm0);
//! * ±3 % frequency offset and ±20 % cadence (every on and off interval) are accepted;
//!   measured margins are about ±3.25…4.5 % and ±21…30 %;
//! * G.711 μ-law round trips are harmless;
//! * speech, speech-like signals and noise raise nothing: the tone must hold ≥ 10 dB more
//!   energy than everything else in the window, then pass a duration or cadence check.
//!
//! When each tone is confirmed (`at` in the event is the sample count at that moment;
//! latencies measured from the tone's start with the nominal plan):
//!
//! | tone | confirmed when | latency |
//! |---|---|---|
//! | dial | continuous ≥ 1 s; DE 1.35 s, FR 1.95 s (longer than 1.2 × a same-frequency ring burst); right after ringback, busy or congestion on the same frequencies, 1.2 × that tone's longest burst more (a ring running straight into busy is not dial) | 1.01–1.02 s; DE 1.37, FR 1.97 |
//! | ringback | one ring (the cadence without its last silence) has ended and matched | US 2.10 s, UK/DE 1.10, FR 1.59 |
//! | busy, congestion | two on/off cadences matched (on, off, on, off), when the third burst starts | 1.02–2.06 s |
//! | SIT | three segments (≈950, ≈1400, ≈1800 Hz bands) in order, each 189…486 ms, gaps ≤ 60 ms | 1.03–1.24 s |
//! | CNG | one 1100 Hz burst of 0.5 s ± 20 % has ended | 0.59 s |
//! | CED/ANS/ANSam | 2100 Hz continuous ≥ 0.5 s (phase reversals and 15 Hz AM allowed) | 0.52–0.55 s |
//!
//! Reporting (exactly what the CLI prints): a tone is reported once per onset. While it keeps
//! playing, its cadence's silences included, it isn't reported again. It is reported again
//! once it has been absent for more than 1.5 s **and** for more than 1.25 × its longest
//! cadence gap + 0.3 s (US ringback's 4 s gap belongs to ringback; it is not an end), or as
//! soon as another tone has been confirmed in between.
//!
//! US SIT causes: segment 1 low (913.8 Hz, short) or high (985.2 Hz, long), segment 2 low
//! (1370.6 Hz, short) or high (1428.5 Hz, long) give IC, VC, RO, NC. The detector removes a
//! common frequency offset and cadence speed by referring to segment 3 (1776.7 Hz, long in
//! every variant), then needs frequency and length to agree; otherwise it reports
//! `Sit(None)`. Causes are identified only when the plan's own SIT is a US one; an ITU SIT
//! heard with the US plan is `Sit(None)`.
//!
//! # How does it work?
//! *Analysis.* Bins on a 10 Hz grid cover ±3 % + 7.5 Hz around every frequency the plan
//! uses, the SIT bands (879…1022, 1322…1479, 1716…1862 Hz), 1100 and 2100 Hz. The window is
//! a 50 ms Hann window (20 Hz bins: 440 and 480 Hz are resolved, so ringback is never taken
//! for dial tone) sliding by 10 ms hops. Bands that lie close together share a *channel*
//! (6 to 8 channels for the built-in plans): the signal goes through a complex band-pass
//! filter around each channel (three cascaded 16-sample boxcars, evaluated at 500 Hz only;
//! what could fold onto a channel's bins is ≥ 37 dB down) and is demodulated to 500 Hz. There
//! each bin's window DFT is kept as a running sum over the window, the Hann taper is applied in
//! the frequency domain from the neighbouring bins, and at each peak the filter's gain is
//! divided out. For a sine this gives the Hann-windowed DFT of the last 50 ms within
//! 0.03 dB; the window is that Hann window smoothed by the filter (46 samples) and ends
//! ≈ 1 ms before the hop. The channels run side by side in the lanes of a vector, so a
//! sample costs about 3 multiply-adds per channel instead of one Goertzel step per bin (the
//! US plan has 129 bins).
//!
//! *Classification.* Each hop, every candidate frequency set of the plan (e.g. {350, 440},
//! {440, 480}, {480, 620}, each SIT band, 1100, 2100) is scored. A component's power is the
//! strongest *interior* peak of its band (leakage from a tone outside the band slopes to the
//! edge and doesn't count). Every component must be above the floor, within 10 dB of the
//! others and peak at distinct frequencies; together they must hold ≥ 10/11 of the window's
//! energy (tone ≥ 10 dB above the rest). The best-scoring set, if any, is the hop's class.
//!
//! *Runs.* A class seen for 2 hops starts a run; drop-outs up to 80 ms are bridged; a run
//! ends when another class takes over or after 80 ms without it. Run start and end are
//! moved from hop times to the tone's true edges (the window passes once the tone covers
//! ≈ 78 % of it), measured to within ±9 ms.
//!
//! *Cadence.* Each tone's descriptor is turned into an alternating on/off list in samples;
//! observed intervals must each be within ±20 % + 30 ms of the nominal ones. Busy and
//! congestion, which share frequencies in every plan, are told apart by cadence only (US
//! 0.5/0.5 vs 0.25/0.25, DE 0.48 vs 0.24, UK 0.375/0.375 vs 0.4/0.35/0.225/0.525), over two
//! cadences, longer if both still match.
//!
//! *Real time.* Everything is sized in `new` (≈ 8 KB per channel, plus ≈ 9 KB of plan tables
//! that clones share); `process` and
//! `generate` accept any length and carry partial hops; no allocation, lock, I/O or clock
//! after construction. Events wait in a fixed queue of [`EVENT_CAPACITY`]; when it is nearly
//! full `process` stops consuming and returns how much it took. Samples are only buffered
//! until a hop is complete, then the hop is analysed in one pass. Speed on one core of a
//! 3.2 GHz x86-64 (`cargo bench --bench dsp progress`: 10 s of speech and tones in 20 ms
//! frames; best of several runs on a shared machine): 21 000–24 000× real time for every
//! plan with the build of the analysis for AVX2 + FMA (chosen at run time when the CPU has
//! them), 11 500–14 000× with the portable build; the Goertzel bank before it ran at
//! 4 300–5 200×.
//!
//! ```
//! use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ProgressTone, ToneGenerator};
//! use tipring_dsp::progress::plan::plan_by_name;
//!
//! let plan = plan_by_name("de").unwrap();
//! let mut tone = ToneGenerator::new(plan.tone("dial").unwrap());
//! let mut det = ProgressDetector::new(ProgressConfig::new(plan));
//! let mut audio = vec![0i16; 16_000]; // 2 s
//! assert_eq!(tone.generate(&mut audio), audio.len());
//! assert_eq!(det.process(&audio), audio.len());
//! let ev = det.poll_event().unwrap();
//! assert_eq!(ev.tone, ProgressTone::Dial);
//! assert!(ev.at >= 1350 * 8); // DE dial needs 1.35 s (longer than a DE ring burst)
//! assert!(det.poll_event().is_none());
//! ```

mod cadence;
mod detector;
mod filterbank;
mod generator;
pub mod plan;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::signals as tests_support;

pub use detector::{EVENT_CAPACITY, ProgressConfig, ProgressDetector};
pub use generator::{ToneGenerator, ToneVariation};

/// Sample rate of every signal in this module, Hz.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: u32 = SAMPLE_RATE / 1000;

/// Cause of a US (ANSI T1.401) special information tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SitCause {
    /// Intercept (IC): 913.8 Hz short, 1370.6 Hz short, 1776.7 Hz long.
    Ic,
    /// Vacant code (VC): 985.2 Hz long, 1370.6 Hz short, 1776.7 Hz long.
    Vc,
    /// Reorder (RO): 913.8 Hz short, 1428.5 Hz long, 1776.7 Hz long.
    Ro,
    /// No circuit (NC): 985.2 Hz long, 1428.5 Hz long, 1776.7 Hz long.
    Nc,
}

impl SitCause {
    /// The descriptor name of this variant (`"sit-ic"`, …).
    pub fn name(self) -> &'static str {
        match self {
            SitCause::Ic => "sit-ic",
            SitCause::Vc => "sit-vc",
            SitCause::Ro => "sit-ro",
            SitCause::Nc => "sit-nc",
        }
    }
}

/// A call-progress tone the detector can confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressTone {
    /// Dial tone.
    Dial,
    /// Ringback (audible ringing).
    Ringback,
    /// Busy.
    Busy,
    /// Congestion (US reorder).
    Congestion,
    /// Special information tone; the US cause when identifiable.
    Sit(Option<SitCause>),
    /// Fax calling tone, 1100 Hz.
    Cng,
    /// Fax/modem answer tone, 2100 Hz (CED, V.25 ANS, V.8 ANSam).
    Ced,
}

impl ProgressTone {
    /// Short lower-case name, as the CLI prints it: `dial`, `ringback`, `busy`,
    /// `congestion`, `sit` or `sit-ic`/`sit-vc`/`sit-ro`/`sit-nc`, `cng`, `ced`.
    pub fn name(self) -> &'static str {
        match self {
            ProgressTone::Dial => "dial",
            ProgressTone::Ringback => "ringback",
            ProgressTone::Busy => "busy",
            ProgressTone::Congestion => "congestion",
            ProgressTone::Sit(None) => "sit",
            ProgressTone::Sit(Some(c)) => c.name(),
            ProgressTone::Cng => "cng",
            ProgressTone::Ced => "ced",
        }
    }
}

impl core::fmt::Display for ProgressTone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A confirmed call-progress tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgressEvent {
    /// Which tone.
    pub tone: ProgressTone,
    /// Samples the detector had consumed when it confirmed the tone (the deciding 50 ms
    /// window ends about 1 ms before sample `at`), counted from construction or `reset`.
    pub at: u64,
}
