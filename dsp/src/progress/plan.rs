//! Immutable call-progress tone descriptors and the national tone plans (US, UK, DE, FR).
//!
//! # What does it do?
//! Describes every tone Tipring plays or listens for as plain `static` data: a
//! [`ToneDescriptor`] is a named sequence of at most [`MAX_SEGMENTS`] [`Segment`]s, each
//! either silence or up to [`MAX_COMPONENTS`] sine [`Component`]s (frequency in Hz, level in
//! dBm0 per component) lasting a number of milliseconds (`0` = continuous), played once or
//! repeated. A [`TonePlan`] groups one country's tones; [`plan_by_name`] and
//! [`TonePlan::tone`] find them by the names the CLI uses
//! (`tipring dsp gen tone NAME --plan PLAN --ms N`).
//!
//! Cadences and frequencies follow `dsp-criteria.md` §3 (Asterisk `indications.conf.sample`,
//! ITU "tones-0203", BT SIN 350):
//!
//! | tone | US | UK | DE | FR |
//! |---|---|---|---|---|
//! | dial | 350+440 cont. | 350+440 cont. | 425 cont. | 440 cont. |
//! | ringback | 440+480 2.0/4.0 | 400+450 0.4/0.2/0.4/2.0 | 425 1.0/4.0 | 440 1.5/3.5 |
//! | busy | 480+620 0.5/0.5 | 400 0.375/0.375 | 425 0.48/0.48 | 440 0.5/0.5 |
//! | congestion | 480+620 0.25/0.25 | 400 0.4/0.35/0.225/0.525 | 425 0.24/0.24 | 440 0.25/0.25 |
//! | call waiting | 440 0.3 once | 400 0.1/4.0 | 425 0.2/0.2/0.2/5.0 | 440 0.3/10 |
//! | SIT | T1.401, 4 causes | ITU E.180 | ITU E.180 | ITU E.180 |
//!
//! Levels (dBm0 per component):
//! * US: Telcordia precise tone plan: dial −13, ringback −19, busy and reorder −24, call
//!   waiting −13, SIT −24. Receiver off-hook (ROH, 1400+2060+2450+2600 Hz) is specified at
//!   +3 dBm0 per tone on the loop, which four tones can't reach in 16-bit PCM without clipping;
//!   we generate −9 dBm0 per tone (−3 dBm0 total, the loudest that doesn't clip).
//! * UK: dial 350 Hz −22 / 440 Hz −18 (Zyxel IES UK profile). Other UK, DE and FR tones have
//!   no level in our sources; we chose −16 dBm0 for single-frequency tones and −19 dBm0 per
//!   component for two-frequency tones (≈ −16 dBm0 total), inside the usual −13…−19 dBm0.
//! * ITU SIT: −24 dBm0 per segment, like the US one. Fax CNG and CED/ANS: −13 dBm0 (chosen;
//!   fax machines send about −10…−15 dBm0).
//!
//! SIT: the US plan carries the four ANSI T1.401 cause variants
//! ([`US_SIT_IC`], [`US_SIT_VC`], [`US_SIT_RO`], [`US_SIT_NC`]: segment 1 913.8 Hz short or
//! 985.2 Hz long, segment 2 1370.6 Hz short or 1428.5 Hz long, segment 3 1776.7 Hz long;
//! short = 274 ms, long = 380 ms, played once); its default `sit` is IC (intercept). UK, DE and
//! FR use the ITU SIT [`ITU_SIT`] (950/1400/1800 Hz, 330 ms each, 15 ms gaps, 1 s silence,
//! repeated). Every plan also reaches the fax tones [`FAX_CNG`] (1100 Hz 0.5 s on / 3 s off),
//! [`FAX_CED`] (V.25 ANS, 2100 Hz for 3.3 s) and [`FAX_ANSAM`] (V.8 ANSam: 2100 Hz with 15 Hz
//! amplitude modulation and a phase reversal every 450 ms, 3.3 s).
//!
//! # How does it work?
//! Everything is `static` and built with `const fn` constructors that check the limits at
//! compile time, so a plan costs nothing at run time and can be shared by every channel. A
//! [`crate::progress::ToneGenerator`] plays a descriptor; the
//! [`crate::progress::ProgressDetector`] derives its filter bank and cadences from a plan.
//! Amplitude modulation is expressed as sidebands (a 20 % AM at 15 Hz is the carrier plus two
//! components 15 Hz away, 20 dB down) and a phase reversal as a flag on the segment that starts
//! with it.
//!
//! ```
//! use tipring_dsp::progress::plan::{plan_by_name, SegmentKind};
//!
//! let us = plan_by_name("us").unwrap();
//! let busy = us.tone("busy").unwrap();
//! assert!(busy.repeats());
//! let on = &busy.segments()[0];
//! assert_eq!(on.duration_ms(), 500);
//! assert_eq!(on.kind(), SegmentKind::Tone);
//! assert_eq!(on.components()[1].freq_hz, 620.0);
//! assert_eq!(us.tone("sit-vc").unwrap().name(), "sit-vc");
//! ```

/// Most segments a descriptor may hold.
pub const MAX_SEGMENTS: usize = 8;

/// Most sine components a segment may hold.
pub const MAX_COMPONENTS: usize = 4;

/// One sine component of a tone segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// Frequency in Hz.
    pub freq_hz: f32,
    /// Level of this component alone, in dBm0 (see [`crate::level`]).
    pub level_dbm0: f32,
}

impl Component {
    /// A component at `freq_hz` and `level_dbm0`.
    pub const fn new(freq_hz: f32, level_dbm0: f32) -> Self {
        Self {
            freq_hz,
            level_dbm0,
        }
    }
}

/// Whether a segment sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// One to [`MAX_COMPONENTS`] sines.
    Tone,
    /// Nothing (digital silence).
    Silence,
}

/// A stretch of a tone: up to [`MAX_COMPONENTS`] sines, or silence, for a duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    components: &'static [Component],
    duration_ms: u32,
    reverse_phase: bool,
}

impl Segment {
    /// A segment of the given components lasting `duration_ms` (`0` = continuous).
    ///
    /// Panics (at compile time when used in a `const`/`static`) with more than
    /// [`MAX_COMPONENTS`] components or none.
    pub const fn tone(components: &'static [Component], duration_ms: u32) -> Self {
        assert!(
            !components.is_empty() && components.len() <= MAX_COMPONENTS,
            "a tone segment has 1 to 4 components"
        );
        Self {
            components,
            duration_ms,
            reverse_phase: false,
        }
    }

    /// Like [`Segment::tone`], but every component starts half a turn away from where the
    /// previous segment left it: a 180° phase reversal (V.25/V.8 answer tones).
    pub const fn tone_reversed(components: &'static [Component], duration_ms: u32) -> Self {
        let mut s = Self::tone(components, duration_ms);
        s.reverse_phase = true;
        s
    }

    /// Silence lasting `duration_ms` (`0` = for ever).
    pub const fn silence(duration_ms: u32) -> Self {
        Self {
            components: &[],
            duration_ms,
            reverse_phase: false,
        }
    }

    /// Tone or silence.
    pub const fn kind(&self) -> SegmentKind {
        if self.components.is_empty() {
            SegmentKind::Silence
        } else {
            SegmentKind::Tone
        }
    }

    /// The sine components (empty for silence).
    pub const fn components(&self) -> &'static [Component] {
        self.components
    }

    /// Duration in milliseconds; `0` means continuous (the segment never ends).
    pub const fn duration_ms(&self) -> u32 {
        self.duration_ms
    }

    /// True when the segment starts with a 180° phase reversal.
    pub const fn reverses_phase(&self) -> bool {
        self.reverse_phase
    }
}

/// A named, immutable tone: a sequence of segments played once or repeated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneDescriptor {
    name: &'static str,
    segments: &'static [Segment],
    repeat: bool,
}

impl ToneDescriptor {
    /// A descriptor. Panics (at compile time in a `static`) with no segment or more than
    /// [`MAX_SEGMENTS`].
    pub const fn new(name: &'static str, segments: &'static [Segment], repeat: bool) -> Self {
        assert!(
            !segments.is_empty() && segments.len() <= MAX_SEGMENTS,
            "a descriptor has 1 to 8 segments"
        );
        Self {
            name,
            segments,
            repeat,
        }
    }

    /// The name the CLI and [`TonePlan::tone`] use (`"busy"`, `"sit-ic"`, …).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The segments, in playing order.
    pub const fn segments(&self) -> &'static [Segment] {
        self.segments
    }

    /// True when the sequence starts over after its last segment.
    pub const fn repeats(&self) -> bool {
        self.repeat
    }

    /// True when the tone never ends: it repeats, or one of its segments is continuous.
    pub fn is_endless(&self) -> bool {
        self.repeat || self.segments.iter().any(|s| s.duration_ms == 0)
    }
}

/// One country's call-progress tones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePlan {
    /// Short name: `"us"`, `"uk"`, `"de"`, `"fr"`.
    pub name: &'static str,
    /// Dial tone.
    pub dial: &'static ToneDescriptor,
    /// Ringback (audible ringing).
    pub ringback: &'static ToneDescriptor,
    /// Busy (subscriber busy).
    pub busy: &'static ToneDescriptor,
    /// Congestion (US "reorder", network busy).
    pub congestion: &'static ToneDescriptor,
    /// Call-waiting tone.
    pub call_waiting: &'static ToneDescriptor,
    /// Special information tone (the US plan's default is the IC variant).
    pub sit: &'static ToneDescriptor,
    /// Further tones of this plan, found by name (US: SIT variants, ROH, stutter; UK: NU).
    pub extras: &'static [&'static ToneDescriptor],
}

impl TonePlan {
    /// The tone called `name` (ASCII case ignored): `dial`, `ringback` (`ring`), `busy`,
    /// `congestion` (`reorder`), `callwaiting` (`call-waiting`), `sit`, the plan's extras
    /// (`sit-ic`, `sit-vc`, `sit-ro`, `sit-nc`, `roh`, `stutter` in the US; `nu` in the UK;
    /// `sit-itu` in UK/DE/FR) and the fax tones every plan has (`cng`, `ced`, `ansam`).
    pub fn tone(&self, name: &str) -> Option<&'static ToneDescriptor> {
        let is = |s: &str| name.eq_ignore_ascii_case(s);
        if is("dial") {
            Some(self.dial)
        } else if is("ringback") || is("ring") {
            Some(self.ringback)
        } else if is("busy") {
            Some(self.busy)
        } else if is("congestion") || is("reorder") {
            Some(self.congestion)
        } else if is("callwaiting") || is("call-waiting") {
            Some(self.call_waiting)
        } else if is("sit") {
            Some(self.sit)
        } else {
            self.extras
                .iter()
                .chain(FAX_TONES.iter())
                .copied()
                .find(|d| is(d.name))
        }
    }

    /// Every tone of the plan, each once: the six named fields, then the extras, then the
    /// fax tones.
    pub fn tones(&self) -> impl Iterator<Item = &'static ToneDescriptor> + '_ {
        [
            self.dial,
            self.ringback,
            self.busy,
            self.congestion,
            self.call_waiting,
            self.sit,
        ]
        .into_iter()
        .chain(
            self.extras
                .iter()
                .copied()
                .filter(move |d| !core::ptr::eq(*d, self.sit)),
        )
        .chain(FAX_TONES.iter().copied())
    }
}

/// All plans, in the order the CLI lists them.
pub static PLANS: [&TonePlan; 4] = [&US, &UK, &DE, &FR];

/// Every tone name [`TonePlan::tone`] knows, in the order tools list them (a plan has a
/// subset: `sit-ic`…`sit-nc`, `roh` and `stutter` are US only, `nu` UK only).
pub const TONE_NAMES: [&str; 17] = [
    "dial",
    "ringback",
    "busy",
    "congestion",
    "callwaiting",
    "sit",
    "sit-ic",
    "sit-vc",
    "sit-ro",
    "sit-nc",
    "sit-itu",
    "cng",
    "ced",
    "ansam",
    "roh",
    "stutter",
    "nu",
];

/// The plan called `name` (`"us"`, `"uk"` or `"gb"`, `"de"`, `"fr"`; ASCII case ignored).
pub fn plan_by_name(name: &str) -> Option<&'static TonePlan> {
    if name.eq_ignore_ascii_case("gb") {
        return Some(&UK);
    }
    PLANS
        .iter()
        .copied()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The fax tones every plan reaches by name.
pub static FAX_TONES: [&ToneDescriptor; 3] = [&FAX_CNG, &FAX_CED, &FAX_ANSAM];

// ---------------------------------------------------------------------------------------
// Shared tones.

/// Fax calling tone (T.30 CNG): 1100 Hz, 0.5 s on / 3 s off, −13 dBm0.
pub static FAX_CNG: ToneDescriptor = ToneDescriptor::new(
    "cng",
    &[
        Segment::tone(&[Component::new(1100.0, -13.0)], 500),
        Segment::silence(3000),
    ],
    true,
);

/// Fax/modem answer tone (T.30 CED, V.25 ANS): 2100 Hz for 3.3 s, −13 dBm0, played once.
pub static FAX_CED: ToneDescriptor = ToneDescriptor::new(
    "ced",
    &[Segment::tone(&[Component::new(2100.0, -13.0)], 3300)],
    false,
);

const ANSAM_COMPONENTS: &[Component] = &[
    Component::new(2100.0, -13.0),
    // 20 % amplitude modulation at 15 Hz = two sidebands at 0.1 of the carrier (−20 dB).
    Component::new(2085.0, -33.0),
    Component::new(2115.0, -33.0),
];

/// V.8 ANSam (also what G.165/G.168 echo-canceller disablers listen for): 2100 Hz with 20 %
/// 15 Hz amplitude modulation, a 180° phase reversal every 450 ms, 3.3 s, played once.
pub static FAX_ANSAM: ToneDescriptor = ToneDescriptor::new(
    "ansam",
    &[
        Segment::tone(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 450),
        Segment::tone_reversed(ANSAM_COMPONENTS, 150),
    ],
    false,
);

/// ITU-T E.180/Q.35 special information tone: 950, 1400, 1800 Hz, 330 ms each with 15 ms
/// gaps, then 1 s of silence, repeated; −24 dBm0.
pub static ITU_SIT: ToneDescriptor = ToneDescriptor::new(
    "sit-itu",
    &[
        Segment::tone(&[Component::new(950.0, -24.0)], 330),
        Segment::silence(15),
        Segment::tone(&[Component::new(1400.0, -24.0)], 330),
        Segment::silence(15),
        Segment::tone(&[Component::new(1800.0, -24.0)], 330),
        Segment::silence(1000),
    ],
    true,
);

// ---------------------------------------------------------------------------------------
// US (Telcordia precise tone plan; SIT per ANSI T1.401).

const US_SIT_LEVEL: f32 = -24.0;
/// Short US SIT segment, ms.
pub const US_SIT_SHORT_MS: u32 = 274;
/// Long US SIT segment, ms.
pub const US_SIT_LONG_MS: u32 = 380;
/// US SIT segment 1, low frequency (Hz).
pub const US_SIT_F1_LOW: f32 = 913.8;
/// US SIT segment 1, high frequency (Hz).
pub const US_SIT_F1_HIGH: f32 = 985.2;
/// US SIT segment 2, low frequency (Hz).
pub const US_SIT_F2_LOW: f32 = 1370.6;
/// US SIT segment 2, high frequency (Hz).
pub const US_SIT_F2_HIGH: f32 = 1428.5;
/// US SIT segment 3 frequency (Hz).
pub const US_SIT_F3: f32 = 1776.7;

const SIT_1L: &[Component] = &[Component::new(US_SIT_F1_LOW, US_SIT_LEVEL)];
const SIT_1H: &[Component] = &[Component::new(US_SIT_F1_HIGH, US_SIT_LEVEL)];
const SIT_2L: &[Component] = &[Component::new(US_SIT_F2_LOW, US_SIT_LEVEL)];
const SIT_2H: &[Component] = &[Component::new(US_SIT_F2_HIGH, US_SIT_LEVEL)];
const SIT_3: &[Component] = &[Component::new(US_SIT_F3, US_SIT_LEVEL)];

/// US SIT, intercept (IC): 913.8 short, 1370.6 short, 1776.7 long; played once.
pub static US_SIT_IC: ToneDescriptor = ToneDescriptor::new(
    "sit-ic",
    &[
        Segment::tone(SIT_1L, US_SIT_SHORT_MS),
        Segment::tone(SIT_2L, US_SIT_SHORT_MS),
        Segment::tone(SIT_3, US_SIT_LONG_MS),
    ],
    false,
);

/// US SIT, vacant code (VC): 985.2 long, 1370.6 short, 1776.7 long; played once.
pub static US_SIT_VC: ToneDescriptor = ToneDescriptor::new(
    "sit-vc",
    &[
        Segment::tone(SIT_1H, US_SIT_LONG_MS),
        Segment::tone(SIT_2L, US_SIT_SHORT_MS),
        Segment::tone(SIT_3, US_SIT_LONG_MS),
    ],
    false,
);

/// US SIT, reorder (RO): 913.8 short, 1428.5 long, 1776.7 long; played once.
pub static US_SIT_RO: ToneDescriptor = ToneDescriptor::new(
    "sit-ro",
    &[
        Segment::tone(SIT_1L, US_SIT_SHORT_MS),
        Segment::tone(SIT_2H, US_SIT_LONG_MS),
        Segment::tone(SIT_3, US_SIT_LONG_MS),
    ],
    false,
);

/// US SIT, no circuit (NC): 985.2 long, 1428.5 long, 1776.7 long; played once.
pub static US_SIT_NC: ToneDescriptor = ToneDescriptor::new(
    "sit-nc",
    &[
        Segment::tone(SIT_1H, US_SIT_LONG_MS),
        Segment::tone(SIT_2H, US_SIT_LONG_MS),
        Segment::tone(SIT_3, US_SIT_LONG_MS),
    ],
    false,
);

const US_DIAL_TONES: &[Component] = &[Component::new(350.0, -13.0), Component::new(440.0, -13.0)];
const US_BUSY_TONES: &[Component] = &[Component::new(480.0, -24.0), Component::new(620.0, -24.0)];

/// US dial tone: 350+440 Hz continuous, −13 dBm0 per tone.
pub static US_DIAL: ToneDescriptor =
    ToneDescriptor::new("dial", &[Segment::tone(US_DIAL_TONES, 0)], false);

/// US audible ringing: 440+480 Hz, 2 s on / 4 s off, −19 dBm0 per tone.
pub static US_RINGBACK: ToneDescriptor = ToneDescriptor::new(
    "ringback",
    &[
        Segment::tone(
            &[Component::new(440.0, -19.0), Component::new(480.0, -19.0)],
            2000,
        ),
        Segment::silence(4000),
    ],
    true,
);

/// US busy: 480+620 Hz, 0.5 s on / 0.5 s off, −24 dBm0 per tone.
pub static US_BUSY: ToneDescriptor = ToneDescriptor::new(
    "busy",
    &[Segment::tone(US_BUSY_TONES, 500), Segment::silence(500)],
    true,
);

/// US reorder (congestion): 480+620 Hz, 0.25 s on / 0.25 s off, −24 dBm0 per tone.
pub static US_CONGESTION: ToneDescriptor = ToneDescriptor::new(
    "congestion",
    &[Segment::tone(US_BUSY_TONES, 250), Segment::silence(250)],
    true,
);

/// US call waiting: one 440 Hz burst of 0.3 s, −13 dBm0 (played once).
pub static US_CALL_WAITING: ToneDescriptor = ToneDescriptor::new(
    "callwaiting",
    &[Segment::tone(&[Component::new(440.0, -13.0)], 300)],
    false,
);

const ROH_TONES: &[Component] = &[
    Component::new(1400.0, -9.0),
    Component::new(2060.0, -9.0),
    Component::new(2450.0, -9.0),
    Component::new(2600.0, -9.0),
];

/// US receiver off-hook: 1400+2060+2450+2600 Hz, 0.1 s on / 0.1 s off, −9 dBm0 per tone
/// (the precise plan's +3 dBm0 would clip in 16-bit PCM).
pub static US_ROH: ToneDescriptor = ToneDescriptor::new(
    "roh",
    &[Segment::tone(ROH_TONES, 100), Segment::silence(100)],
    true,
);

/// US stutter (message-waiting) dial tone: 350+440 Hz 0.1/0.1 three times, then steady.
pub static US_STUTTER: ToneDescriptor = ToneDescriptor::new(
    "stutter",
    &[
        Segment::tone(US_DIAL_TONES, 100),
        Segment::silence(100),
        Segment::tone(US_DIAL_TONES, 100),
        Segment::silence(100),
        Segment::tone(US_DIAL_TONES, 100),
        Segment::silence(100),
        Segment::tone(US_DIAL_TONES, 0),
    ],
    false,
);

/// United States.
pub static US: TonePlan = TonePlan {
    name: "us",
    dial: &US_DIAL,
    ringback: &US_RINGBACK,
    busy: &US_BUSY,
    congestion: &US_CONGESTION,
    call_waiting: &US_CALL_WAITING,
    sit: &US_SIT_IC,
    extras: &[
        &US_SIT_IC,
        &US_SIT_VC,
        &US_SIT_RO,
        &US_SIT_NC,
        &US_ROH,
        &US_STUTTER,
    ],
};

// ---------------------------------------------------------------------------------------
// UK (BT SIN 350 cadences; dial levels from a Zyxel IES UK profile).

const UK_400: &[Component] = &[Component::new(400.0, -16.0)];
const UK_RING_TONES: &[Component] = &[Component::new(400.0, -19.0), Component::new(450.0, -19.0)];

/// UK dial tone: 350 Hz −22 dBm0 + 440 Hz −18 dBm0, continuous.
pub static UK_DIAL: ToneDescriptor = ToneDescriptor::new(
    "dial",
    &[Segment::tone(
        &[Component::new(350.0, -22.0), Component::new(440.0, -18.0)],
        0,
    )],
    false,
);

/// UK ringing tone: 400+450 Hz, 0.4 on / 0.2 off / 0.4 on / 2.0 off, −19 dBm0 per tone.
pub static UK_RINGBACK: ToneDescriptor = ToneDescriptor::new(
    "ringback",
    &[
        Segment::tone(UK_RING_TONES, 400),
        Segment::silence(200),
        Segment::tone(UK_RING_TONES, 400),
        Segment::silence(2000),
    ],
    true,
);

/// UK busy: 400 Hz, 0.375 s on / 0.375 s off, −16 dBm0.
pub static UK_BUSY: ToneDescriptor = ToneDescriptor::new(
    "busy",
    &[Segment::tone(UK_400, 375), Segment::silence(375)],
    true,
);

/// UK congestion: 400 Hz, 0.4 on / 0.35 off / 0.225 on / 0.525 off, −16 dBm0.
pub static UK_CONGESTION: ToneDescriptor = ToneDescriptor::new(
    "congestion",
    &[
        Segment::tone(UK_400, 400),
        Segment::silence(350),
        Segment::tone(UK_400, 225),
        Segment::silence(525),
    ],
    true,
);

/// UK call waiting: 400 Hz, 0.1 s on / 4 s off, −16 dBm0.
pub static UK_CALL_WAITING: ToneDescriptor = ToneDescriptor::new(
    "callwaiting",
    &[Segment::tone(UK_400, 100), Segment::silence(4000)],
    true,
);

/// UK number unobtainable: 400 Hz continuous, −16 dBm0.
pub static UK_NU: ToneDescriptor = ToneDescriptor::new("nu", &[Segment::tone(UK_400, 0)], false);

/// United Kingdom.
pub static UK: TonePlan = TonePlan {
    name: "uk",
    dial: &UK_DIAL,
    ringback: &UK_RINGBACK,
    busy: &UK_BUSY,
    congestion: &UK_CONGESTION,
    call_waiting: &UK_CALL_WAITING,
    sit: &ITU_SIT,
    extras: &[&UK_NU, &ITU_SIT],
};

// ---------------------------------------------------------------------------------------
// Germany.

const DE_425: &[Component] = &[Component::new(425.0, -16.0)];

/// German dial tone: 425 Hz continuous, −16 dBm0.
pub static DE_DIAL: ToneDescriptor =
    ToneDescriptor::new("dial", &[Segment::tone(DE_425, 0)], false);

/// German ringback: 425 Hz, 1 s on / 4 s off, −16 dBm0.
pub static DE_RINGBACK: ToneDescriptor = ToneDescriptor::new(
    "ringback",
    &[Segment::tone(DE_425, 1000), Segment::silence(4000)],
    true,
);

/// German busy: 425 Hz, 0.48 s on / 0.48 s off, −16 dBm0.
pub static DE_BUSY: ToneDescriptor = ToneDescriptor::new(
    "busy",
    &[Segment::tone(DE_425, 480), Segment::silence(480)],
    true,
);

/// German congestion: 425 Hz, 0.24 s on / 0.24 s off, −16 dBm0.
pub static DE_CONGESTION: ToneDescriptor = ToneDescriptor::new(
    "congestion",
    &[Segment::tone(DE_425, 240), Segment::silence(240)],
    true,
);

/// German call waiting: 425 Hz, 0.2 on / 0.2 off / 0.2 on / 5 s off, −16 dBm0.
pub static DE_CALL_WAITING: ToneDescriptor = ToneDescriptor::new(
    "callwaiting",
    &[
        Segment::tone(DE_425, 200),
        Segment::silence(200),
        Segment::tone(DE_425, 200),
        Segment::silence(5000),
    ],
    true,
);

/// Germany.
pub static DE: TonePlan = TonePlan {
    name: "de",
    dial: &DE_DIAL,
    ringback: &DE_RINGBACK,
    busy: &DE_BUSY,
    congestion: &DE_CONGESTION,
    call_waiting: &DE_CALL_WAITING,
    sit: &ITU_SIT,
    extras: &[&ITU_SIT],
};

// ---------------------------------------------------------------------------------------
// France.

const FR_440: &[Component] = &[Component::new(440.0, -16.0)];

/// French dial tone: 440 Hz continuous, −16 dBm0.
pub static FR_DIAL: ToneDescriptor =
    ToneDescriptor::new("dial", &[Segment::tone(FR_440, 0)], false);

/// French ringback: 440 Hz, 1.5 s on / 3.5 s off, −16 dBm0.
pub static FR_RINGBACK: ToneDescriptor = ToneDescriptor::new(
    "ringback",
    &[Segment::tone(FR_440, 1500), Segment::silence(3500)],
    true,
);

/// French busy: 440 Hz, 0.5 s on / 0.5 s off, −16 dBm0.
pub static FR_BUSY: ToneDescriptor = ToneDescriptor::new(
    "busy",
    &[Segment::tone(FR_440, 500), Segment::silence(500)],
    true,
);

/// French congestion: 440 Hz, 0.25 s on / 0.25 s off, −16 dBm0 (cadence not in the French
/// specification; this is the common choice).
pub static FR_CONGESTION: ToneDescriptor = ToneDescriptor::new(
    "congestion",
    &[Segment::tone(FR_440, 250), Segment::silence(250)],
    true,
);

/// French call waiting: 440 Hz, 0.3 s on / 10 s off, −16 dBm0.
pub static FR_CALL_WAITING: ToneDescriptor = ToneDescriptor::new(
    "callwaiting",
    &[Segment::tone(FR_440, 300), Segment::silence(10_000)],
    true,
);

/// France.
pub static FR: TonePlan = TonePlan {
    name: "fr",
    dial: &FR_DIAL,
    ringback: &FR_RINGBACK,
    busy: &FR_BUSY,
    congestion: &FR_CONGESTION,
    call_waiting: &FR_CALL_WAITING,
    sit: &ITU_SIT,
    extras: &[&ITU_SIT],
};
