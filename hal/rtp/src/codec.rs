//! Codecs and payload-type maps.
//!
//! # What does it do?
//! [`Codec`] names the audio codecs a call can use and what RTP needs to know about each:
//! its RTP clock rate and how many 8 kHz samples one clock tick is. [`PayloadMap`] says what
//! each payload type number means on one call. Payload types other than the static ones
//! (0 PCMU, 8 PCMA, 13 CN) are dynamic, chosen by the SDP offer/answer, so nothing here
//! assumes a number: the session layer is given the map.
//!
//! # How does it work?
//! Internally every stream is 8 kHz linear audio (the media engine's rate), whatever the
//! codec. G.711 runs at 8 kHz, so one RTP tick is one sample. Opus (feature `opus`) always
//! counts its RTP timestamp at 48 kHz (RFC 7587 §4.1) whatever rate it decodes at; Tipring
//! runs libopus at 8 kHz (narrowband), so one 8 kHz sample is 6 RTP ticks. Opus packets
//! last a multiple of 2.5 ms (120 ticks), so the division is exact.

use crate::error::ConfigError;
use tipring_dsp::g711::Law;

/// Most audio payload types one [`PayloadMap`] holds.
pub const MAX_AUDIO_PAYLOADS: usize = 4;

/// An audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law (RFC 3551 §4.5.14, static payload type 0).
    Pcmu,
    /// G.711 A-law (RFC 3551 §4.5.14, static payload type 8).
    Pcma,
    /// Opus (RFC 7587), decoded and encoded at 8 kHz, RTP clock 48 kHz.
    #[cfg(feature = "opus")]
    Opus,
}

impl Codec {
    /// The RTP clock rate in Hz (what `a=rtpmap` says): 8 000 for G.711, 48 000 for Opus.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8_000,
            #[cfg(feature = "opus")]
            Self::Opus => 48_000,
        }
    }

    /// RTP clock ticks per 8 kHz sample (1 for G.711, 6 for Opus).
    pub const fn ticks_per_sample(self) -> u32 {
        self.clock_rate() / 8_000
    }

    /// The static payload type (RFC 3551 Table 4), if the codec has one.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            #[cfg(feature = "opus")]
            Self::Opus => None,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            #[cfg(feature = "opus")]
            Self::Opus => "opus",
        }
    }

    /// The G.711 law, for the G.711 codecs.
    pub const fn law(self) -> Option<Law> {
        match self {
            Self::Pcmu => Some(Law::Mu),
            Self::Pcma => Some(Law::A),
            #[cfg(feature = "opus")]
            Self::Opus => None,
        }
    }
}

/// What a received payload type means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Audio in this codec.
    Audio(Codec),
    /// RFC 4733 telephone events.
    Event,
    /// RFC 3389 comfort noise.
    ComfortNoise,
    /// Not in the map.
    Unknown,
}

/// The meaning of each payload type on one call: up to [`MAX_AUDIO_PAYLOADS`] audio codecs
/// (all with the same RTP clock rate), optionally telephone-event and comfort noise.
///
/// Built from the SDP answer; checked by [`validate`](Self::validate) (which
/// [`Receiver::new`](crate::Receiver::new) calls).
///
/// ```
/// use tipring_rtp::{Codec, PayloadMap, Payload};
/// let map = PayloadMap::new(0, Codec::Pcmu).with_audio(8, Codec::Pcma).with_events(101);
/// map.validate().unwrap();
/// assert_eq!(map.classify(8), Payload::Audio(Codec::Pcma));
/// assert_eq!(map.classify(101), Payload::Event);
/// assert_eq!(map.classify(18), Payload::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadMap {
    audio: [(u8, Codec); MAX_AUDIO_PAYLOADS],
    audio_len: u8,
    /// More audio entries were added than fit (reported by `validate`).
    overflow: bool,
    event: Option<u8>,
    comfort_noise: Option<u8>,
}

impl PayloadMap {
    /// A map with one audio payload type.
    pub const fn new(pt: u8, codec: Codec) -> Self {
        Self {
            audio: [(pt, codec); MAX_AUDIO_PAYLOADS],
            audio_len: 1,
            overflow: false,
            event: None,
            comfort_noise: None,
        }
    }

    /// Adds an audio payload type (more than [`MAX_AUDIO_PAYLOADS`] is reported by
    /// [`validate`](Self::validate)).
    pub const fn with_audio(mut self, pt: u8, codec: Codec) -> Self {
        if (self.audio_len as usize) < MAX_AUDIO_PAYLOADS {
            self.audio[self.audio_len as usize] = (pt, codec);
            self.audio_len += 1;
        } else {
            self.overflow = true;
        }
        self
    }

    /// Sets the telephone-event (RFC 4733) payload type. Its clock rate must be the audio's
    /// (`telephone-event/8000` with G.711, `/48000` with Opus).
    pub const fn with_events(mut self, pt: u8) -> Self {
        self.event = Some(pt);
        self
    }

    /// Sets the comfort-noise (RFC 3389) payload type, usually 13.
    pub const fn with_comfort_noise(mut self, pt: u8) -> Self {
        self.comfort_noise = Some(pt);
        self
    }

    /// The audio payload types and their codecs.
    pub fn audio(&self) -> &[(u8, Codec)] {
        &self.audio[..usize::from(self.audio_len)]
    }

    /// The telephone-event payload type.
    pub const fn event(&self) -> Option<u8> {
        self.event
    }

    /// The first audio codec (the one the SDP answer preferred).
    pub const fn primary(&self) -> Codec {
        self.audio[0].1
    }

    /// RTP clock ticks per 8 kHz sample for this stream.
    pub const fn ticks_per_sample(&self) -> u32 {
        self.primary().ticks_per_sample()
    }

    /// What payload type `pt` means.
    pub fn classify(&self, pt: u8) -> Payload {
        if let Some(&(_, codec)) = self.audio().iter().find(|(p, _)| *p == pt) {
            Payload::Audio(codec)
        } else if self.event == Some(pt) {
            Payload::Event
        } else if self.comfort_noise == Some(pt) {
            Payload::ComfortNoise
        } else {
            Payload::Unknown
        }
    }

    /// Checks the map: payload types 0–127, each used once, at most
    /// [`MAX_AUDIO_PAYLOADS`] audio entries sharing one clock rate.
    ///
    /// # Errors
    /// [`ConfigError::PayloadType`], [`ConfigError::DuplicatePayloadType`] or
    /// [`ConfigError::Invalid`] naming the problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.overflow {
            return Err(ConfigError::Invalid {
                field: "audio",
                reason: "more than 4 audio payload types",
            });
        }
        let mut all = heapless::Vec::<u8, { MAX_AUDIO_PAYLOADS + 2 }>::new();
        let audio = self.audio().iter().map(|&(pt, _)| ("audio", pt));
        let extra = [("event", self.event), ("comfort_noise", self.comfort_noise)]
            .into_iter()
            .filter_map(|(f, pt)| pt.map(|pt| (f, pt)));
        for (field, pt) in audio.chain(extra) {
            if pt > 127 {
                return Err(ConfigError::PayloadType { field, pt });
            }
            if all.contains(&pt) {
                return Err(ConfigError::DuplicatePayloadType { pt });
            }
            // Capacity is exactly the number of entries there can be.
            let _ = all.push(pt);
        }
        let rate = self.primary().clock_rate();
        if self.audio().iter().any(|(_, c)| c.clock_rate() != rate) {
            return Err(ConfigError::Invalid {
                field: "audio",
                reason: "audio payload types of one stream must share a clock rate",
            });
        }
        #[cfg(feature = "opus")]
        if self
            .audio()
            .iter()
            .filter(|(_, c)| *c == Codec::Opus)
            .count()
            > 1
        {
            return Err(ConfigError::Invalid {
                field: "audio",
                reason: "at most one Opus payload type",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_payload_types_and_clocks_follow_rfc_3551() {
        assert_eq!(Codec::Pcmu.static_payload_type(), Some(0));
        assert_eq!(Codec::Pcma.static_payload_type(), Some(8));
        assert_eq!(Codec::Pcmu.clock_rate(), 8_000);
        assert_eq!(Codec::Pcma.ticks_per_sample(), 1);
        assert_eq!(Codec::Pcma.encoding_name(), "PCMA");
        assert_eq!(Codec::Pcmu.law(), Some(Law::Mu));
    }

    /// RFC 7587 §4.1: the Opus RTP clock is 48 kHz whatever the decoding rate.
    #[cfg(feature = "opus")]
    #[test]
    fn opus_counts_48_khz() {
        assert_eq!(Codec::Opus.clock_rate(), 48_000);
        assert_eq!(Codec::Opus.ticks_per_sample(), 6);
        assert_eq!(Codec::Opus.static_payload_type(), None);
    }

    #[test]
    fn invalid_maps_are_refused_with_the_reason() {
        let ok = PayloadMap::new(0, Codec::Pcmu).with_events(101);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            PayloadMap::new(128, Codec::Pcmu).validate(),
            Err(ConfigError::PayloadType {
                field: "audio",
                pt: 128
            })
        );
        assert_eq!(
            ok.with_comfort_noise(101).validate(),
            Err(ConfigError::DuplicatePayloadType { pt: 101 })
        );
        assert_eq!(
            PayloadMap::new(0, Codec::Pcmu)
                .with_events(200)
                .validate()
                .unwrap_err(),
            ConfigError::PayloadType {
                field: "event",
                pt: 200
            }
        );
        let full = PayloadMap::new(0, Codec::Pcmu)
            .with_audio(8, Codec::Pcma)
            .with_audio(96, Codec::Pcmu)
            .with_audio(97, Codec::Pcma);
        assert_eq!(full.validate(), Ok(()));
        assert!(full.with_audio(98, Codec::Pcmu).validate().is_err());
        assert_eq!(full.classify(97), Payload::Audio(Codec::Pcma));
        assert_eq!(ok.classify(13), Payload::Unknown);
        assert_eq!(
            ok.with_comfort_noise(13).classify(13),
            Payload::ComfortNoise
        );
    }
}
