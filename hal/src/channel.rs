//! What a channel is: its number, kind and audio format.

use crate::audio::AudioFormat;
use crate::ids::{ChannelId, SpanId, Timeslot};
use core::fmt;

/// The kind of line behind a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// An FXS port: a telephone (or a PBX's FXO trunk) plugs in here; the board rings it and
    /// hears its hook.
    Fxs,
    /// An FXO port: plugs into an exchange line (or a PBX's FXS extension); the board answers
    /// rings and seizes the line to dial.
    Fxo,
    /// A timeslot of a T1 span.
    T1 {
        /// The span.
        span: SpanId,
        /// The timeslot.
        slot: Timeslot,
    },
    /// A timeslot of an E1 span.
    E1 {
        /// The span.
        span: SpanId,
        /// The timeslot.
        slot: Timeslot,
    },
    /// A USB audio device (handset or headset).
    UsbAudio,
    /// A SIP trunk leg.
    Sip,
}

impl ChannelKind {
    /// Lower-case name as config files and the API write it.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKind::Fxs => "fxs",
            ChannelKind::Fxo => "fxo",
            ChannelKind::T1 { .. } => "t1",
            ChannelKind::E1 { .. } => "e1",
            ChannelKind::UsbAudio => "usb-audio",
            ChannelKind::Sip => "sip",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A channel as the board describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelInfo {
    /// Its number.
    pub id: ChannelId,
    /// Its kind.
    pub kind: ChannelKind,
    /// Its audio stream.
    pub format: AudioFormat,
    /// Which backend drives it (`"sim"`, `"dahdi"`), for status and logs.
    pub backend: &'static str,
    /// Where it is, in the backend's words (`"sim phone 3"`, `"/dev/dahdi/chan/001/004"`).
    pub location: heapless::String<48>,
    /// The line echo canceller's tail for this channel, ms (32, 64 or 128; 0: none). Analog
    /// ports and TDM timeslots toward a 2-wire hybrid need one; the media engine runs it on
    /// what the channel receives, before any detector.
    pub echo_tail_ms: u16,
}
