//! What a DAHDI board's spans are doing, for the API: each span's alarms and its
//! D-channel's state, written by the media thread (atomics only), read by anyone.
//!
//! The D-channel of a PRI span is opened with the span's voice channels and kept drained:
//! its layer 1 is up while the span has no red, blue or loss-of-signal alarm, and the
//! frames it carries (HDLC frames with their 2 FCS bytes, checked by the driver) are
//! counted, as are the driver's HDLC errors (abort, bad FCS, overrun). Q.921/Q.931 on it are
//! a later issue; until then Tipring reports the link's physical state and traffic, and
//! answers nothing on it.

use super::sys;
use nix::libc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// One span's figures.
#[derive(Debug)]
pub struct SpanCell {
    /// DAHDI's span number.
    pub span: u32,
    /// The D-channel's DAHDI channel number, if the span has one open.
    pub dchannel: Option<u32>,
    alarms: AtomicU32,
    frames_in: AtomicU64,
    errors: AtomicU64,
}

impl SpanCell {
    pub(crate) fn new(span: u32, dchannel: Option<u32>) -> Self {
        SpanCell {
            span,
            dchannel,
            alarms: AtomicU32::new(0),
            frames_in: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_alarms(&self, bits: u32) {
        self.alarms.store(bits, Relaxed);
    }

    pub(crate) fn frame(&self) {
        self.frames_in.fetch_add(1, Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    /// The span's alarm bits (`sys::ALARM_*`) as last reported.
    pub fn alarm_bits(&self) -> u32 {
        self.alarms.load(Relaxed)
    }

    /// The alarms in operators' words (`red`, `yellow`, `blue`, `loopback`, `recovering`,
    /// `not open`, and a red alarm's cause: `loss of signal`, `loss of frame`,
    /// `loss of multiframe`).
    pub fn alarms(&self) -> Vec<&'static str> {
        let bits = self.alarm_bits() as libc::c_int;
        [
            (sys::ALARM_RED, "red"),
            (sys::ALARM_YELLOW, "yellow"),
            (sys::ALARM_BLUE, "blue"),
            (sys::ALARM_LOOPBACK, "loopback"),
            (sys::ALARM_RECOVER, "recovering"),
            (sys::ALARM_NOTOPEN, "not open"),
            (sys::ALARM_LOS, "loss of signal"),
            (sys::ALARM_LFA, "loss of frame"),
            (sys::ALARM_LMFA, "loss of multiframe"),
        ]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect()
    }

    /// Whether the D-channel's layer 1 is up: no red, blue or not-open alarm on the span.
    pub fn layer1_up(&self) -> bool {
        let bits = self.alarm_bits() as libc::c_int;
        bits & (sys::ALARM_RED | sys::ALARM_BLUE | sys::ALARM_NOTOPEN) == 0
    }

    /// Frames received on the D-channel.
    pub fn frames_in(&self) -> u64 {
        self.frames_in.load(Relaxed)
    }

    /// HDLC errors the driver reported on the D-channel.
    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }
}

/// Every span of a shard.
#[derive(Debug, Default)]
pub struct SpanBoard {
    /// By span number.
    pub spans: Vec<SpanCell>,
}

impl SpanBoard {
    /// The cell of span `span`.
    pub fn span(&self, span: u32) -> Option<&SpanCell> {
        self.spans.iter().find(|c| c.span == span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_read_in_words() {
        let c = SpanCell::new(1, Some(24));
        assert!(c.layer1_up());
        assert!(c.alarms().is_empty());
        c.set_alarms((sys::ALARM_RED | sys::ALARM_YELLOW | sys::ALARM_LOS) as u32);
        assert_eq!(c.alarms(), ["red", "yellow", "loss of signal"]);
        assert!(!c.layer1_up());
        c.set_alarms(sys::ALARM_YELLOW as u32);
        assert!(c.layer1_up(), "a yellow alarm is the far end's problem");
    }
}
