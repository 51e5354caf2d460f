//! RFC 4733 telephone-event sending: the reports of one digit, one per packet interval.
//!
//! # What does it do?
//! [`EventTx`] yields the event reports of one digit, one per packet interval, which the
//! [`Sender`](crate::Sender) sends instead of audio:
//!
//! * all with the RTP timestamp of the event's start (§2.3);
//! * the first with the marker bit (§2.5.1.2 "the first packet of an event");
//! * one update per interval, the duration growing by the interval (§2.5.1.2, §2.3.5);
//! * the final report (E bit, §2.3.2) with the exact duration asked for, sent three times
//!   at the update interval (§2.5.1.4), each with its own sequence number;
//! * volume 10 (−10 dBm0), a typical DTMF level (§2.3.4).
//!
//! # How does it work?
//! A counter of intervals played. Interval `k` (from 0) reports a duration of
//! `(k + 1) · interval`; the first interval at which that reaches the digit's duration
//! reports the final duration with E, and the next two repeat it.

use crate::telephone_event::EventPayload;

/// The volume sent: −10 dBm0.
pub const VOLUME: u8 = 10;
/// Times the final report is sent (RFC 4733 §2.5.1.4).
const FINAL_REPEATS: u32 = 3;

/// One report to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The four payload bytes' meaning.
    pub payload: EventPayload,
    /// The marker bit.
    pub marker: bool,
    /// The RTP timestamp (the event's start).
    pub timestamp: u32,
}

/// The reports of one digit being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTx {
    event: u8,
    start_ts: u32,
    /// Requested duration, RTP ticks (≤ 65 535).
    duration: u32,
    /// Interval length, RTP ticks.
    interval: u32,
    /// Intervals reported so far.
    sent: u32,
    /// Final reports sent so far.
    finals: u32,
}

impl EventTx {
    /// Starts event `event` at RTP timestamp `start_ts`, lasting `duration` ticks, with one
    /// report every `interval` ticks.
    pub fn new(event: u8, start_ts: u32, duration: u16, interval: u32) -> Self {
        Self {
            event,
            start_ts,
            duration: u32::from(duration),
            interval: interval.max(1),
            sent: 0,
            finals: 0,
        }
    }

    /// Whether every report (three finals included) has been sent.
    pub fn is_done(&self) -> bool {
        self.finals >= FINAL_REPEATS
    }

    /// The report for the next interval, or `None` when done.
    pub fn next_report(&mut self) -> Option<Report> {
        if self.is_done() {
            return None;
        }
        let marker = self.sent == 0;
        let elapsed = (self.sent + 1).saturating_mul(self.interval);
        self.sent += 1;
        let end = elapsed >= self.duration;
        if end {
            self.finals += 1;
        }
        Some(Report {
            payload: EventPayload {
                event: self.event,
                end,
                volume: VOLUME,
                duration: elapsed.min(self.duration) as u16,
            },
            marker,
            timestamp: self.start_ts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4733 §2.5.1.2/§2.5.1.4: marker on the first report only, durations growing by
    /// the interval, the final duration exact, sent three times with E.
    #[test]
    fn rfc4733_2_5_1_report_sequence() {
        let mut tx = EventTx::new(5, 1_000, 800, 160);
        let reports: Vec<Report> = core::iter::from_fn(|| tx.next_report()).collect();
        let durations: Vec<u16> = reports.iter().map(|r| r.payload.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = reports.iter().map(|r| r.payload.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(reports[0].marker);
        assert!(reports[1..].iter().all(|r| !r.marker));
        assert!(reports.iter().all(|r| r.timestamp == 1_000));
        assert!(
            reports
                .iter()
                .all(|r| r.payload.volume == 10 && r.payload.event == 5)
        );
        assert!(tx.is_done());
        // A duration that is not a multiple of the interval ends exactly.
        let mut tx = EventTx::new(1, 0, 700, 160);
        let last = core::iter::from_fn(|| tx.next_report()).last().unwrap();
        assert_eq!(last.payload.duration, 700);
        // Shorter than one interval: the first report is already final, with the marker.
        let mut tx = EventTx::new(1, 0, 100, 160);
        let first = tx.next_report().unwrap();
        assert!(first.marker && first.payload.end);
        assert_eq!(first.payload.duration, 100);
    }
}
