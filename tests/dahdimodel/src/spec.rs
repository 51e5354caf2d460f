//! What cards the model serves: spans, their ports or timeslots, and their law.

use tipring_dsp::g711::Law;
use tipring_hal::dahdi::sys;

/// The cards of a model: spans, numbered from 1 in order. Channel numbers are global and
/// sequential from 1 across the spans, as the driver assigns them when spans register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// The spans, span 1 first.
    pub spans: Vec<SpanSpec>,
}

impl Spec {
    /// No spans yet; add them with [`Spec::span`].
    pub fn new() -> Spec {
        Spec::default()
    }

    /// One analog span with these ports (channel 1 is the first port).
    pub fn analog(ports: &[Port]) -> Spec {
        Spec::new().span(SpanSpec::analog(ports))
    }

    /// This spec with `span` added after the others.
    #[must_use]
    pub fn span(mut self, span: SpanSpec) -> Spec {
        self.spans.push(span);
        self
    }
}

/// One span: its kind and, optionally, a law other than the kind's default.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSpec {
    /// Ports or timeslots.
    pub kind: SpanKind,
    /// The span's default law (`SETLAW(0)`); `None`: μ-law for analog and T1, A-law for E1.
    pub law: Option<Law>,
}

impl SpanSpec {
    /// An analog span with these ports.
    pub fn analog(ports: &[Port]) -> SpanSpec {
        SpanSpec {
            kind: SpanKind::Analog(ports.to_vec()),
            law: None,
        }
    }

    /// A T1 span (24 channels).
    pub fn t1(sig: DigitalSig) -> SpanSpec {
        SpanSpec {
            kind: SpanKind::T1(sig),
            law: None,
        }
    }

    /// An E1 span (31 channels, timeslot 16 is channel 16).
    pub fn e1(sig: DigitalSig) -> SpanSpec {
        SpanSpec {
            kind: SpanKind::E1(sig),
            law: None,
        }
    }

    /// This span with `law` as its default law.
    #[must_use]
    pub fn with_law(mut self, law: Law) -> SpanSpec {
        self.law = Some(law);
        self
    }

    pub(crate) fn default_law(&self) -> Law {
        self.law.unwrap_or(match self.kind {
            SpanKind::E1(_) => Law::A,
            _ => Law::Mu,
        })
    }

    /// The signalling type of each channel of the span, by position (0 = unconfigured).
    pub(crate) fn sigtypes(&self) -> Vec<i32> {
        match &self.kind {
            SpanKind::Analog(ports) => ports.iter().map(|p| p.sigtype()).collect(),
            SpanKind::T1(sig) => (1..=24)
                .map(|pos| match sig {
                    DigitalSig::Pri if pos == 24 => sys::SIG_HDLCFCS,
                    DigitalSig::Pri | DigitalSig::Clear => sys::SIG_CLEAR,
                    DigitalSig::Em => sys::SIG_EM,
                    DigitalSig::FxsLoopStart => sys::SIG_FXOLS,
                    DigitalSig::FxoLoopStart => sys::SIG_FXSLS,
                })
                .collect(),
            SpanKind::E1(sig) => (1..=31)
                .map(|pos| match sig {
                    DigitalSig::Pri if pos == 16 => sys::SIG_HDLCFCS,
                    DigitalSig::Em | DigitalSig::FxsLoopStart | DigitalSig::FxoLoopStart
                        if pos == 16 =>
                    {
                        0
                    }
                    DigitalSig::Pri | DigitalSig::Clear => sys::SIG_CLEAR,
                    DigitalSig::Em => sys::SIG_EM_E1,
                    DigitalSig::FxsLoopStart => sys::SIG_FXOLS,
                    DigitalSig::FxoLoopStart => sys::SIG_FXSLS,
                })
                .collect(),
        }
    }

    /// `SPANSTAT.spantype` as the driver names it (before truncation to 5 characters).
    pub(crate) fn spantype(&self) -> &'static str {
        match &self.kind {
            SpanKind::Analog(ports) => {
                let fxs = ports.iter().filter(|p| p.is_fxs()).count();
                if fxs == ports.len() {
                    "FXS"
                } else if fxs == 0 {
                    "FXO"
                } else {
                    "ANALOG_MIXED"
                }
            }
            SpanKind::T1(_) => "T1",
            SpanKind::E1(_) => "E1",
        }
    }

    /// `SPANSTAT.lineconfig`: framing and coding in force.
    pub(crate) fn lineconfig(&self) -> i32 {
        match &self.kind {
            SpanKind::Analog(_) => 0,
            SpanKind::T1(_) => LINE_ESF | LINE_B8ZS,
            SpanKind::E1(DigitalSig::Em | DigitalSig::FxsLoopStart | DigitalSig::FxoLoopStart) => {
                LINE_HDB3
            }
            SpanKind::E1(_) => LINE_CCS | LINE_HDB3 | LINE_CRC4,
        }
    }

    /// `SPANSTAT.linecompat`: framing and coding the span can do.
    pub(crate) fn linecompat(&self) -> i32 {
        match &self.kind {
            SpanKind::Analog(_) => 0,
            SpanKind::T1(_) => LINE_D4 | LINE_ESF | LINE_AMI | LINE_B8ZS,
            SpanKind::E1(_) => LINE_AMI | LINE_HDB3 | LINE_CCS | LINE_CRC4,
        }
    }
}

const LINE_D4: i32 = 0x10;
const LINE_ESF: i32 = 0x20;
const LINE_AMI: i32 = 0x40;
const LINE_B8ZS: i32 = 0x80;
const LINE_CCS: i32 = 0x100;
const LINE_HDB3: i32 = 0x200;
const LINE_CRC4: i32 = 0x400;

/// What a span carries.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanKind {
    /// Analog ports, one channel each, listed in position order.
    Analog(Vec<Port>),
    /// A T1 (24 channels, μ-law by default).
    T1(DigitalSig),
    /// An E1 (31 channels, A-law by default).
    E1(DigitalSig),
}

/// How a digital span's channels are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitalSig {
    /// ISDN PRI: B-channels `SIG_CLEAR`, the D-channel `SIG_HDLCFCS` (T1 channel 24, E1
    /// timeslot 16).
    Pri,
    /// Every channel `SIG_CLEAR`.
    Clear,
    /// E&M robbed-bit/CAS: `SIG_EM` (T1) or `SIG_EM_E1` (E1, whose timeslot 16 carries the
    /// signalling and is left unconfigured: opening it fails with `ENXIO`).
    Em,
    /// Loop-start emulation in robbed bits/CAS where the span's channels are FXS ports
    /// (a channel bank's FXO ports at the far end): `SIG_FXOLS`, behaving as analog FXS
    /// ports (the test is the phone).
    FxsLoopStart,
    /// Loop-start emulation where the span's channels are FXO ports (the far end is a
    /// channel bank's FXS ports, or an exchange): `SIG_FXSLS`, behaving as analog FXO ports.
    FxoLoopStart,
}

/// An analog port, named as the card's port is named (the far end's signalling is the
/// opposite: an FXS port is configured `fxoks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// FXS port (a telephone plugs in), kewlstart: `SIG_FXOKS`.
    Fxs,
    /// FXS port, loop start: `SIG_FXOLS`.
    FxsLoopStart,
    /// FXS port, ground start: `SIG_FXOGS`.
    FxsGroundStart,
    /// FXO port (plugs into an exchange line), kewlstart: `SIG_FXSKS`.
    Fxo,
    /// FXO port, loop start: `SIG_FXSLS` (no disconnect supervision).
    FxoLoopStart,
    /// FXO port, ground start: `SIG_FXSGS`.
    FxoGroundStart,
}

impl Port {
    /// The port's `sigtype`.
    pub fn sigtype(self) -> i32 {
        match self {
            Port::Fxs => sys::SIG_FXOKS,
            Port::FxsLoopStart => sys::SIG_FXOLS,
            Port::FxsGroundStart => sys::SIG_FXOGS,
            Port::Fxo => sys::SIG_FXSKS,
            Port::FxoLoopStart => sys::SIG_FXSLS,
            Port::FxoGroundStart => sys::SIG_FXSGS,
        }
    }

    /// True for an FXS port (a telephone plugs in).
    pub fn is_fxs(self) -> bool {
        matches!(self, Port::Fxs | Port::FxsLoopStart | Port::FxsGroundStart)
    }
}
