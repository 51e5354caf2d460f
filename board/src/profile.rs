//! The profile's types: what [`Profile::parse`](crate::Profile::parse) makes of a TOML file.

use std::path::PathBuf;

/// Defines a closed set of names: `as_str`, `from_name` and `NAMES` for an enum whose
/// variants are written in TOML as lower-case strings.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every accepted name, in the order the docs list them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name as written in a profile.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant a profile's name stands for.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named! {
    /// What drives the telephony ports: the built-in simulation or DAHDI.
    Hardware {
        /// The simulated board: phones and an exchange in software (`hardware = "sim"`).
        Sim => "sim",
        /// DAHDI cards (or the FUSE DAHDI model) under [`DahdiPaths::root`] (`"dahdi"`).
        Dahdi => "dahdi",
    }
}

named! {
    /// G.711 companding law on the lines.
    Law {
        /// µ-law (North America, Japan; T1).
        Ulaw => "ulaw",
        /// A-law (Europe and most of the world; E1).
        Alaw => "alaw",
    }
}

named! {
    /// How the lines send on-hook caller ID (analog ports; ISDN carries it in Q.931 instead).
    CallerIdStandard {
        /// Bell 202 FSK between the first and second ring (Telcordia GR-30-CORE).
        Bell202 => "bell202",
        /// V.23 FSK before ringing after a dual-tone alerting signal (ETSI EN 300 659-1 DT-AS).
        EtsiV23Dtas => "etsi-v23-dtas",
        /// V.23 FSK after a line reversal and DT-AS, before ringing (UK, BT SIN 227).
        EtsiV23Lr => "etsi-v23-lr",
        /// V.23 FSK after a short ring pulse alerting signal (ETSI EN 300 659-1 RP-AS).
        EtsiV23Rp => "etsi-v23-rp",
        /// DTMF digits before the first ring (DTMF CLIP, ETSI TS 101 081 style).
        DtmfClip => "dtmf",
        /// No on-hook caller ID.
        None => "none",
    }
}

named! {
    /// What kind of line a DAHDI span is.
    SpanKind {
        /// An analog card's ports (FXS and/or FXO modules): one span per card.
        Analog => "analog",
        /// T1: 24 channels at 1.544 Mbit/s.
        T1 => "t1",
        /// E1: 31 channels (timeslots 1–31) at 2.048 Mbit/s.
        E1 => "e1",
    }
}

named! {
    /// Digital span framing.
    Framing {
        /// T1 superframe (SF, 12 frames).
        D4 => "d4",
        /// T1 extended superframe (24 frames, CRC-6).
        Esf => "esf",
        /// E1 with channel-associated signalling in timeslot 16.
        Cas => "cas",
        /// E1 with common-channel signalling (PRI: the D-channel in timeslot 16).
        Ccs => "ccs",
    }
}

named! {
    /// Digital span line coding.
    Coding {
        /// Alternate mark inversion (T1 or E1).
        Ami => "ami",
        /// Bipolar 8-zero substitution (T1).
        B8zs => "b8zs",
        /// High-density bipolar 3 (E1).
        Hdb3 => "hdb3",
    }
}

named! {
    /// What a group's ports are, named as the appliance's user sees them.
    PortKind {
        /// An FXS port: a telephone plugs in (DAHDI calls its signalling `fxo*`).
        Fxs => "fxs",
        /// An FXO port: it plugs into an exchange line (DAHDI calls its signalling `fxs*`).
        Fxo => "fxo",
        /// Channels of a T1 span.
        T1 => "t1",
        /// Channels of an E1 span.
        E1 => "e1",
    }
}

named! {
    /// Which echo canceller a group's channels use.
    EchoCanceller {
        /// Tipring's own, in the media engine (user space), with `echo_tail_ms`.
        Tipring => "tipring",
        /// The card's hardware canceller (VPM-class modules), enabled through DAHDI with
        /// `echo_tail_ms`; Tipring's own then stays off for these channels.
        Hardware => "hardware",
    }
}

named! {
    /// A group's line signalling.
    Signalling {
        /// Analog loop start with disconnect supervision (loop current drop).
        Kewlstart => "kewlstart",
        /// Analog loop start.
        Loopstart => "loopstart",
        /// Analog ground start.
        Groundstart => "groundstart",
        /// E&M wink start over robbed bits (T1) or CAS (E1).
        EmWink => "em-wink",
        /// FXS loop-start emulation over robbed bits/CAS (the far end is a channel bank's FXO).
        FxsLoopstart => "fxs-loopstart",
        /// FXO loop-start emulation over robbed bits/CAS (the far end is a channel bank's FXS).
        FxoLoopstart => "fxo-loopstart",
        /// Clear 64 kbit/s B-channels of a PRI span.
        Clear => "clear",
    }
}

impl PortKind {
    /// Whether these are analog ports (FXS or FXO).
    pub fn is_analog(self) -> bool {
        matches!(self, PortKind::Fxs | PortKind::Fxo)
    }
}

impl Signalling {
    /// Whether this is analog signalling (kewlstart, loopstart, groundstart).
    pub fn is_analog(self) -> bool {
        matches!(
            self,
            Signalling::Kewlstart | Signalling::Loopstart | Signalling::Groundstart
        )
    }

    /// Whether this is robbed-bit / CAS signalling (E&M, FXS/FXO emulation).
    pub fn is_cas(self) -> bool {
        matches!(
            self,
            Signalling::EmWink | Signalling::FxsLoopstart | Signalling::FxoLoopstart
        )
    }
}

impl SpanKind {
    /// The channels DAHDI gives a digital span (T1 24, E1 31); `None` for analog spans,
    /// whose count is the card's.
    pub fn fixed_channels(self) -> Option<u32> {
        match self {
            SpanKind::Analog => None,
            SpanKind::T1 => Some(24),
            SpanKind::E1 => Some(31),
        }
    }

    /// Upper-case name as DAHDI's sysfs `spantype` and the docs write it (`T1`, `E1`,
    /// `analog`).
    pub fn label(self) -> &'static str {
        match self {
            SpanKind::Analog => "analog",
            SpanKind::T1 => "T1",
            SpanKind::E1 => "E1",
        }
    }
}

/// The tone-plan countries Tipring knows (`board.country`).
pub const COUNTRIES: &[&str] = &["us", "uk", "de", "fr"];

/// Highest DAHDI channel number a profile may use.
pub const MAX_CHANNEL: u32 = 4096;

/// Highest DAHDI span number a profile may use.
pub const MAX_SPAN: u32 = 128;

/// Most simulated ports or SIP channel slots a profile may ask for.
pub const MAX_SLOTS: u32 = 20_000;

/// Echo-canceller tails a group may ask for, ms (0: off).
pub const ECHO_TAILS_MS: &[u32] = &[0, 32, 64, 128];

/// One appliance layout: the hardware, its spans and channel groups, device paths, tone
/// plan, companding law and caller-ID standard. See the [crate docs](crate) for the file
/// format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `board.name`; a built-in's name equals its file stem.
    pub name: String,
    /// `board.description`: one line for `tipring board list`.
    pub description: String,
    /// `board.hardware`.
    pub hardware: Hardware,
    /// `board.country`: the tone plan and DAHDI tone zone, one of [`COUNTRIES`].
    pub country: String,
    /// `board.law`; by default µ-law for `us`, A-law elsewhere.
    pub law: Law,
    /// `board.caller_id`.
    pub caller_id: CallerIdStandard,
    /// `[dahdi]`: where DAHDI's device nodes and sysfs are.
    pub dahdi: DahdiPaths,
    /// `[[span]]`, in ascending span number.
    pub spans: Vec<Span>,
    /// `[[group]]`, in file order.
    pub groups: Vec<Group>,
    /// `[sip]`: SIP channel slots on a mixed box (the trunks stay in `tipring.toml`).
    pub sip: Option<SipSection>,
    /// `[sim]`: the simulated board's ports (`hardware = "sim"` only).
    pub sim: Option<SimSection>,
}

/// `[dahdi]`: where DAHDI is (a FUSE model can serve both elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DahdiPaths {
    /// `root`: DAHDI's device directory (default `/dev/dahdi`).
    pub root: PathBuf,
    /// `sysfs`: the sysfs root DAHDI's inventory is read from (default `/sys`).
    pub sysfs: PathBuf,
}

impl Default for DahdiPaths {
    fn default() -> Self {
        DahdiPaths {
            root: PathBuf::from("/dev/dahdi"),
            sysfs: PathBuf::from("/sys"),
        }
    }
}

/// `[[span]]`: one DAHDI span (a T1/E1 port, or a whole analog card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// `number`: DAHDI's span number (1..).
    pub number: u32,
    /// `kind`.
    pub kind: SpanKind,
    /// `framing` (digital spans).
    pub framing: Option<Framing>,
    /// `coding` (digital spans).
    pub coding: Option<Coding>,
    /// `crc4` (E1 only).
    pub crc4: bool,
    /// `lbo`: line build-out 0..=7 (T1: 0 = 0 dB / 0–133 ft; digital spans only).
    pub lbo: u8,
    /// `timing`: 0 = never the clock source, 1.. = priority as a clock source (1 first).
    pub timing: u8,
    /// `dchannel`: DAHDI channel number of the D-channel (PRI spans).
    pub dchannel: Option<u32>,
    /// `channels`: how many channels the span has (T1 24, E1 31, an analog card its ports).
    pub channels: u32,
    /// `first_channel`: DAHDI's `basechan`, the span's first channel number. By default
    /// the channel after the previous span's last (DAHDI numbers spans' channels one after
    /// the other).
    pub first_channel: u32,
}

impl Span {
    /// The span's DAHDI channel numbers.
    pub fn channel_range(&self) -> std::ops::RangeInclusive<u32> {
        self.first_channel
            ..=self
                .first_channel
                .saturating_add(self.channels.saturating_sub(1))
    }

    /// Whether `channel` is on this span.
    pub fn contains(&self, channel: u32) -> bool {
        self.channel_range().contains(&channel)
    }

    /// `channel`'s position on the span (1-based, DAHDI's `chanpos`), if it is on it.
    pub fn position(&self, channel: u32) -> Option<u32> {
        self.contains(channel)
            .then(|| channel - self.first_channel + 1)
    }
}

/// `[[group]]`: channels that are used alike (a route or a hunt group names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `name`, unique in the profile.
    pub name: String,
    /// `kind`.
    pub kind: PortKind,
    /// `channels`: DAHDI channel numbers, ascending (written `"1-4,7"` or `[1, 2, 3]`).
    pub channels: Vec<u32>,
    /// `span`: the span the channels are on (filled in when they are all on one).
    pub span: Option<u32>,
    /// `signalling`.
    pub signalling: Signalling,
    /// `echo_tail_ms`: the echo canceller's tail, 0 (off), 32, 64 or 128; default 64
    /// for analog ports, 0 for digital ones.
    pub echo_tail_ms: u32,
    /// `echo_canceller`: `tipring` (default) or `hardware`.
    pub echo_canceller: EchoCanceller,
}

/// `[sip]`: SIP channel slots of a mixed box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipSection {
    /// `channels`: concurrent SIP calls.
    pub channels: u32,
}

/// `[sim]`: the simulated board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimSection {
    /// `phones`: simulated FXS ports (telephones).
    pub phones: u32,
    /// `trunks`: simulated FXO ports (exchange lines).
    pub trunks: u32,
}

impl Law {
    /// The law a country's lines use unless the profile says otherwise.
    pub fn default_for(country: &str) -> Law {
        if country == "us" {
            Law::Ulaw
        } else {
            Law::Alaw
        }
    }
}
