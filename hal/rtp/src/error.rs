//! What can go wrong: one error type per kind of input.
//!
//! Every error holds only copied data (numbers, `&'static str`), so returning one on the media
//! thread never allocates. Each names what was wrong in terms an operator can act on.

/// Why a received RTP packet was refused. The packet is counted in
/// [`ReceiverStats::malformed`](crate::ReceiverStats::malformed) and otherwise ignored: the
/// receiver's state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header (RFC 3550 §5.1).
    #[error("RTP packet of {len} bytes is shorter than the 12-byte header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// A version field other than 2 (RFC 3550 §5.1): not RTP, or STUN/DTLS on the RTP port.
    #[error("RTP version {version} (only version 2 exists)")]
    Version {
        /// The version field (0–3).
        version: u8,
    },
    /// The CSRC list or header extension announced by the header runs past the end.
    #[error("RTP header needs {needed} bytes (CSRC list and extension), packet has {len}")]
    Truncated {
        /// Header length announced.
        needed: usize,
        /// Bytes received.
        len: usize,
    },
    /// The padding count (last byte, RFC 3550 §5.1 P bit) is 0 or larger than what follows
    /// the header.
    #[error("RTP padding count {count} is 0 or larger than the payload")]
    Padding {
        /// The padding count.
        count: u8,
    },
    /// A packet of a known payload type with nothing in it.
    #[error("empty RTP payload (payload type {pt})")]
    EmptyPayload {
        /// The payload type.
        pt: u8,
    },
    /// A telephone-event payload that is not at least the 4 bytes of one event
    /// (RFC 4733 §2.3).
    #[error("telephone-event payload of {len} bytes (an RFC 4733 event is 4 bytes)")]
    EventPayload {
        /// Payload bytes.
        len: usize,
    },
    /// An audio packet longer than the jitter buffer can hold.
    #[error("audio payload of {samples} samples is longer than the {max} the buffer takes")]
    PayloadTooLong {
        /// Samples (8 kHz) the packet carries.
        samples: usize,
        /// The most a packet may carry.
        max: usize,
    },
    /// libopus refused the payload.
    #[cfg(feature = "opus")]
    #[error("Opus payload: {0}")]
    Opus(tipring_dsp::opus::OpusError),
}

/// Why a [`Receiver`](crate::Receiver), [`Sender`](crate::Sender) or
/// [`Session`](crate::Session) configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A number outside its range.
    #[error("{field} = {value} is outside {min} ..= {max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A payload type above 127 (RFC 3550 §5.1: the field has 7 bits).
    #[error("{field}: payload type {pt} is not 0-127")]
    PayloadType {
        /// The field.
        field: &'static str,
        /// The value given.
        pt: u8,
    },
    /// The same payload type given two meanings.
    #[error("payload type {pt} is mapped twice")]
    DuplicatePayloadType {
        /// The payload type.
        pt: u8,
    },
    /// A field whose value is inconsistent with another.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// libopus could not be set up.
    #[cfg(feature = "opus")]
    #[error("Opus: {0}")]
    Opus(tipring_dsp::opus::OpusError),
}

/// Why a digit could not be queued for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not one of `0-9 * # A-D`.
    #[error("{digit:?} is not a DTMF digit (0-9, *, #, A-D)")]
    BadDigit {
        /// The character.
        digit: char,
    },
    /// The sender has no telephone-event payload type (the peer did not offer RFC 4733):
    /// send the digit in-band instead.
    #[error("no telephone-event payload type was negotiated")]
    NoEventPayloadType,
    /// A digit duration outside the range the event's 16-bit duration field can carry.
    #[error("digit duration {ms} ms is outside {min} ..= {max} ms")]
    DigitDuration {
        /// The duration asked for.
        ms: u32,
        /// Shortest allowed.
        min: u32,
        /// Longest allowed (65 535 RTP clock ticks).
        max: u32,
    },
    /// The digit queue is full.
    #[error("the digit queue is full ({capacity} digits)")]
    QueueFull {
        /// Its capacity.
        capacity: usize,
    },
}

/// Why an RTCP compound packet was refused (RFC 3550 §6.1, A.2), or could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Shorter than one 8-byte RTCP header plus SSRC.
    #[error("RTCP packet of {len} bytes is too short")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// A version field other than 2.
    #[error("RTCP version {version} (only version 2 exists)")]
    Version {
        /// The version field.
        version: u8,
    },
    /// A packet's length field runs past the end of the datagram, or its body is too short
    /// for the report blocks it announces.
    #[error("RTCP packet at byte {at} declares {declared} bytes, {remaining} remain")]
    Length {
        /// Offset of the packet in the compound.
        at: usize,
        /// Bytes declared (or needed).
        declared: usize,
        /// Bytes available.
        remaining: usize,
    },
    /// The first packet of a compound is neither SR nor RR (RFC 3550 §6.1).
    #[error("RTCP compound starts with packet type {pt}, not SR (200) or RR (201)")]
    NotReport {
        /// The packet type found.
        pt: u8,
    },
    /// Padding on a packet other than the last, or a padding count that does not fit.
    #[error("RTCP padding is invalid")]
    Padding,
    /// The caller's buffer cannot hold the report.
    #[error("RTCP report needs {needed} bytes, buffer has {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}
