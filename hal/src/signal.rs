//! Line signalling: what a channel reports ([`Signal`]) and what call control asks of it
//! ([`Command`]).
//!
//! The words are the line's, seen from the board: on an FXO port (facing an exchange) the
//! exchange rings, answers with a polarity reversal and hangs up by dropping loop current; on
//! an FXS port (facing a phone) the phone goes off hook, flashes and hangs up. Digital and
//! SIP channels report the same events with a cause.

use crate::cause::Cause;
use crate::error::HalError;
use crate::ids::ChannelId;

/// Most digits in one dial string.
pub const MAX_DIGITS: usize = 32;

/// A dial string: `0-9 * # A-D`, at most [`MAX_DIGITS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Digits(heapless::String<MAX_DIGITS>);

impl Digits {
    /// Checks and copies `s` (ASCII case of `A-D` ignored, kept upper case).
    ///
    /// # Errors
    /// [`HalError::BadArgument`] (naming `channel`) for a character that is not a digit or
    /// a string longer than [`MAX_DIGITS`].
    pub fn parse(channel: ChannelId, s: &str) -> Result<Self, HalError> {
        let bad = |reason| HalError::BadArgument {
            channel,
            what: "digits",
            reason,
        };
        let mut d = heapless::String::new();
        for c in s.chars() {
            let c = c.to_ascii_uppercase();
            if !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D') {
                return Err(bad("only 0-9 * # A-D can be dialled"));
            }
            d.push(c).map_err(|_| bad("more than 32 digits"))?;
        }
        Ok(Digits(d))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends one digit; false (and nothing changed) when full or not a digit.
    pub fn push(&mut self, c: char) -> bool {
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D') && self.0.push(c).is_ok()
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Span alarms (ITU-T G.775 / ANSI T1.403 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alarm {
    /// Red: loss of signal or framing on our receive side.
    Red,
    /// Yellow: the far end reports it lost our signal (remote alarm indication).
    Yellow,
    /// Blue: the far end sends all ones (alarm indication signal).
    Blue,
    /// The span is looped back.
    Loopback,
}

/// Something a channel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// FXO port: a ring burst from the exchange began.
    RingBegin,
    /// FXO port: the ring burst ended (caller ID, if any, comes in the silence after the
    /// first one).
    RingEnd,
    /// FXS port: the phone went off hook (a new call, or the answer to our ringing).
    OffHook,
    /// FXS port: the phone hung up.
    OnHook,
    /// FXS port: a hook flash.
    Flash,
    /// E&M / robbed-bit: a wink.
    Wink,
    /// FXO port: the line's polarity reversed (answer supervision on lines that give it).
    Polarity,
    /// A span alarm was raised on the channel's span.
    Alarm(Alarm),
    /// The span's alarms cleared.
    AlarmCleared,
    /// The far end answered (digital and SIP channels).
    RemoteAnswer,
    /// The far end hung up (FXO: loop current dropped; digital and SIP: with their cause).
    RemoteHangup(Cause),
    /// A [`Command::Dial`] string has been sent completely.
    DialComplete,
    /// A digit signalled out of band (RFC 4733 event, SIP INFO, ISDN keypad): call control
    /// treats it as a detected DTMF digit. Backends that also pass the tone in band squelch
    /// it, so each key press is reported once.
    Digit(char),
}

impl Signal {
    /// Lower-case name for logs and the API (`"ring-begin"`).
    pub fn name(&self) -> &'static str {
        match self {
            Signal::RingBegin => "ring-begin",
            Signal::RingEnd => "ring-end",
            Signal::OffHook => "off-hook",
            Signal::OnHook => "on-hook",
            Signal::Flash => "flash",
            Signal::Wink => "wink",
            Signal::Polarity => "polarity",
            Signal::Alarm(_) => "alarm",
            Signal::AlarmCleared => "alarm-cleared",
            Signal::RemoteAnswer => "remote-answer",
            Signal::RemoteHangup(_) => "remote-hangup",
            Signal::DialComplete => "dial-complete",
            Signal::Digit(_) => "digit",
        }
    }
}

/// Something call control asks of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// FXO port: go off hook to place a call (dial tone follows).
    Seize,
    /// FXS port: ring the phone (with the board's cadence) until it answers or [`RingOff`].
    ///
    /// [`RingOff`]: Command::RingOff
    Ring,
    /// FXS port: stop ringing.
    RingOff,
    /// Answer an incoming call (FXO port: go off hook; FXS: the phone is already off hook,
    /// nothing to do).
    Answer,
    /// End the call (FXO port: go on hook; FXS: stop ringing, or release the phone).
    Hangup(Cause),
    /// A hook flash (FXO port).
    Flash,
    /// Send digits in band (DTMF), after a [`Seize`](Command::Seize); completes with
    /// [`Signal::DialComplete`].
    Dial(Digits),
    /// FXS ports: ring the phone and tell it who calls (caller ID, in the board's standard:
    /// between the first and second ring, or before the first). Boards without caller ID
    /// ring as [`Ring`](Command::Ring).
    RingCaller(Caller),
    /// Digital and SIP channels: place a call to `number` in one message (no dial tone);
    /// the outcome is [`Signal::RemoteAnswer`] or [`Signal::RemoteHangup`]. `caller` is the
    /// calling number to present (none: the trunk's own), `withhold` asks the network to
    /// withhold it from the called party (SIP: anonymous `From`, `Privacy: id`).
    Call {
        /// The number called.
        number: Digits,
        /// The calling number presented.
        caller: Option<Digits>,
        /// Withhold the calling number.
        withhold: bool,
    },
}

impl Command {
    /// The command as a verb, for messages (`"dial"`).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Seize => "seize",
            Command::Ring | Command::RingCaller(_) => "ring",
            Command::RingOff => "stop ringing",
            Command::Answer => "answer",
            Command::Hangup(_) => "hang up",
            Command::Flash => "flash",
            Command::Dial(_) => "dial",
            Command::Call { .. } => "call",
        }
    }
}

/// Who calls, as a ringing phone is told.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Caller {
    /// The calling number (none: unavailable).
    pub number: Option<Digits>,
    /// The caller withheld it (the phone shows "private").
    pub withheld: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_checked() {
        let ch = ChannelId(3);
        assert_eq!(Digits::parse(ch, "12ab#*").unwrap().as_str(), "12AB#*");
        let e = Digits::parse(ch, "12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 3: bad digits: only 0-9 * # A-D can be dialled"
        );
        assert!(Digits::parse(ch, &"1".repeat(33)).is_err());
        assert_eq!(Digits::parse(ch, &"1".repeat(32)).unwrap().len(), 32);
    }
}
