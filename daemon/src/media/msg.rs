//! What crosses between the control plane and the media threads.

use std::sync::Arc;
use tipring_dsp::progress::ProgressTone;
use tipring_dsp::progress::plan::ToneDescriptor;
use tipring_hal::{ChannelId, Command, Digits, HalError, Signal};

/// A media operation, numbered by the control plane; its end is reported as
/// [`MediaEvent::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// An order for one channel's media.
///
/// Buffers and ring ends move in by value. The media thread never frees them: when it is
/// done with one it hands it back through a ring, and [`MediaLink::poll`] drops it on the
/// control plane.
///
/// [`MediaLink::poll`]: super::MediaLink::poll
#[derive(Debug)]
pub enum MediaCommand {
    /// Play 8 kHz samples `loops` times (0: until stopped). With `barge_in`, the first DTMF
    /// digit heard stops it. Replaces any playback, tone or DTMF sending.
    Play {
        /// The operation.
        op: OpId,
        /// The samples (decoded off the media thread).
        audio: Arc<[i16]>,
        /// Stop on the first digit.
        barge_in: bool,
        /// Times to play; 0 for ever.
        loops: u32,
    },
    /// Play a tone for `ms` (0: until stopped, or until a finite tone ends).
    Tone {
        /// The operation.
        op: OpId,
        /// The tone.
        tone: &'static ToneDescriptor,
        /// Milliseconds.
        ms: u32,
    },
    /// Send DTMF in band (80 ms on, 80 ms off).
    SendDtmf {
        /// The operation.
        op: OpId,
        /// The digits.
        digits: Digits,
    },
    /// Record what the channel receives into `ring` (8 kHz linear) until `max_ms`, or
    /// `final_silence_ms` of silence after voice (0: no silence limit), or stopped.
    Record {
        /// The operation.
        op: OpId,
        /// Where the samples go; a full ring drops samples (counted).
        ring: rtrb::Producer<i16>,
        /// Longest recording, ms.
        max_ms: u32,
        /// Silence that ends the recording after voice, ms (0: none).
        final_silence_ms: u32,
    },
    /// Stop an operation (playback, tone, DTMF or recording) early.
    Stop {
        /// The operation.
        op: OpId,
    },
    /// Connect this channel's audio to another channel's: what this one receives goes into
    /// `to_peer`; what arrives in `from_peer` is sent on this channel, mixed with any
    /// playback. Replaces an earlier bridge.
    Bridge {
        /// Our receive audio, for the peer.
        to_peer: rtrb::Producer<i16>,
        /// The peer's receive audio, for us.
        from_peer: rtrb::Consumer<i16>,
    },
    /// Disconnect the bridge.
    Unbridge,
    /// Copy what the channel receives (after echo cancellation) into `rx` and what it
    /// sends into `tx`, every tick, until [`MediaCommand::CaptureStop`]: a capture for
    /// troubleshooting, independent of calls (a full ring drops samples).
    Capture {
        /// Received audio.
        rx: rtrb::Producer<i16>,
        /// Sent audio.
        tx: rtrb::Producer<i16>,
    },
    /// End the capture.
    CaptureStop,
    /// Run the call-progress detector on this channel (outbound calls, fax detection).
    DetectProgress(bool),
    /// Run the caller-ID (FSK) receiver on this channel (an FXO port between rings).
    DetectCallerId(bool),
    /// A line command for the backend.
    Line(Command),
    /// The call is over: stop every operation (each reports `Done` with [`OpEnd::Reset`]),
    /// unbridge, clear the detectors.
    Reset,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpEnd {
    /// It ran to its end (played all loops, sent every digit, tone time elapsed).
    Completed,
    /// [`MediaCommand::Stop`].
    Stopped,
    /// A DTMF digit interrupted a barge-in playback.
    BargeIn(char),
    /// The recording reached its `max_ms`.
    MaxTime,
    /// The recording ended on silence after voice.
    Silence,
    /// A newer operation of the same kind took its place.
    Replaced,
    /// [`MediaCommand::Reset`].
    Reset,
}

/// Something a media thread reports about a channel.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "caller ID travels inline: boxing it would allocate on the media thread"
)]
pub enum MediaEvent {
    /// The line signalled.
    Signal(Signal),
    /// A DTMF digit was detected (about 30 ms into its tone).
    Digit {
        /// `0-9 * # A-D`.
        digit: char,
    },
    /// A call-progress tone was confirmed.
    Progress(ProgressTone),
    /// A caller-ID message was received (checksum and fields valid). Fixed-capacity
    /// strings: nothing is allocated on the media thread.
    CallerId(tipring_dsp::cid::CallerId),
    /// An operation ended.
    Done {
        /// The operation.
        op: OpId,
        /// How.
        end: OpEnd,
        /// Samples a recording could not store (its ring was full); 0 otherwise.
        lost: u64,
    },
    /// The bridge's ring ends were released ([`MediaCommand::Unbridge`], a new bridge, or
    /// [`MediaCommand::Reset`]).
    Unbridged,
    /// A line command failed.
    LineError(HalError),
}

/// A [`MediaEvent`] on a channel, at a time of its media thread's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEvent {
    /// The channel.
    pub channel: ChannelId,
    /// Milliseconds since the media thread started.
    pub at_ms: u64,
    /// What happened.
    pub event: MediaEvent,
}
