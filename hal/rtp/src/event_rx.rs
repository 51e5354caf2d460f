//! RFC 4733 telephone-event reception: one digit per key press, whatever the sender's habits.
//!
//! # What does it do?
//! Turns the stream of event reports of a call into [`RxEvent`]s: a
//! [`DigitBegin`](RxEvent::DigitBegin) as soon as a digit's first report arrives and one
//! [`Digit`](RxEvent::Digit) with its duration when it ends. Each key press is reported
//! exactly once with the senders seen on trunks:
//!
//! | sender habit | handling |
//! |---|---|
//! | start packet sent 3× with duration 0 (Cisco), updates every 50 ms | same timestamp and event: one digit |
//! | end (E) packet sent 3× (RFC 4733 §2.5.1.4) | finished events are remembered by timestamp: repeats are ignored |
//! | E packets all lost | the event ends on the next event, a new timestamp, or 200 ms without a report |
//! | final duration smaller than the last update (Intel PIMG) | the longest duration reported is kept |
//! | marker bit missing, start packets lost | an event is known by (timestamp, code), not by the marker |
//! | the same digit twice in a row | distinct timestamps: two digits |
//! | a report of a finished or older event arriving late | ignored |
//! | an event longer than the 16-bit duration (§2.5.1.3 segments) | a segment continuing the event is not a new digit |
//!
//! It also keeps the intervals of the stream's timeline that the events cover, so the
//! receiver can *squelch* audio carrying the same tones (see
//! [`Receiver::pull`](crate::Receiver::pull)).
//!
//! # How does it work?
//! One event is *active* at a time, keyed by its RTP timestamp and event code. A report of
//! the active event updates it (the duration only grows); an E bit finishes it. A report
//! with another key finishes the active event (missing E) and starts a new one, unless its
//! timestamp is older than the active one's (a stray late report), or it is a segment
//! continuing the active event. Finished events go to a small ring; a report matching one
//! of them is a retransmission. Events 16 and above (flash, tones) are counted and ignored.

use crate::jitter::Squelch;
use crate::telephone_event::EventPayload;
use heapless::Deque;

/// Capacity of the event queue drained by [`Receiver::poll_event`](crate::Receiver::poll_event).
pub const EVENT_QUEUE: usize = 16;
/// Finished events remembered to recognise retransmissions.
const DONE: usize = 8;
/// Audio squelched before an event's start (tone leading the event timestamp), samples.
const SQUELCH_BEFORE: i64 = 80;
/// Audio squelched after an event's end (RFC 4733 leaves the tone's tail to the receiver;
/// 40 ms covers a DTMF receiver's end detection), samples.
const SQUELCH_AFTER: i64 = 320;
/// A segment this long has used up its 16-bit duration field (RFC 4733 §2.5.1.3).
const LONG_SEGMENT: u32 = 0xF000;

/// Why an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventEnd {
    /// A report with the E bit (RFC 4733 §2.3.2).
    EndBit,
    /// A report of another event (or another timestamp) arrived first.
    NextEvent,
    /// No report for the event timeout (200 ms by default).
    Timeout,
}

/// A telephone event received on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxEvent {
    /// A digit's first report arrived (the key went down).
    DigitBegin {
        /// `0-9 * # A-D`.
        digit: char,
        /// The event's RTP timestamp (its start).
        start_ts: u32,
    },
    /// A digit ended. Reported exactly once per key press.
    Digit {
        /// `0-9 * # A-D`.
        digit: char,
        /// The event's RTP timestamp (its start).
        start_ts: u32,
        /// Its duration in 8 kHz samples (the longest duration reported).
        duration: u32,
        /// What ended it.
        end: EventEnd,
    },
}

#[derive(Debug, Clone, Copy)]
struct Active {
    /// Timestamp of the first segment (the event's start).
    start_ts: u32,
    /// Timestamp of the current segment (§2.5.1.3); `start_ts` unless the event is long.
    seg_ts: u32,
    event: u8,
    /// Longest duration reported for the current segment, RTP units.
    seg_duration: u32,
    /// `now` of the first and the latest report.
    first_now: u64,
    last_now: u64,
    /// Start on the receiver's timeline, if the receiver has one yet.
    start_pos: Option<i64>,
}

impl Active {
    fn duration_ticks(&self) -> u32 {
        self.seg_ts
            .wrapping_sub(self.start_ts)
            .wrapping_add(self.seg_duration)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Done {
    start_ts: u32,
    seg_ts: u32,
    event: u8,
    /// Squelch interval on the timeline.
    squelch: Option<(i64, i64)>,
}

/// Counters of the event receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventCounters {
    /// Digits reported.
    pub digits: u32,
    /// Reports of events that had already ended (E retransmissions, late updates).
    pub repeats: u32,
    /// Reports of events other than the 16 DTMF digits (flash, tones), ignored.
    pub ignored: u32,
    /// Reports older than the current event, ignored.
    pub stale: u32,
    /// Events lost because the queue was full (nobody drained it).
    pub queue_overflow: u32,
}

/// The RFC 4733 receive state of one call. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct EventReceiver {
    active: Option<Active>,
    done: [Option<Done>; DONE],
    done_next: usize,
    queue: Deque<RxEvent, EVENT_QUEUE>,
    ticks_per_sample: u32,
    timeout: u64,
    counters: EventCounters,
}

impl EventReceiver {
    /// A receiver for a stream with `ticks_per_sample` RTP ticks per 8 kHz sample, ending an
    /// event after `timeout` samples without a report.
    pub fn new(ticks_per_sample: u32, timeout: u64) -> Self {
        Self {
            active: None,
            done: [None; DONE],
            done_next: 0,
            queue: Deque::new(),
            ticks_per_sample: ticks_per_sample.max(1),
            timeout,
            counters: EventCounters::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> EventCounters {
        self.counters
    }

    /// The next event, oldest first.
    pub fn poll(&mut self) -> Option<RxEvent> {
        self.queue.pop_front()
    }

    /// Whether an event is in progress.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Handles one report received at `now`, of the event starting at RTP timestamp `ts`,
    /// which lies at `start_pos` on the receiver's timeline (if it has one).
    pub fn on_report(&mut self, now: u64, ts: u32, e: EventPayload, start_pos: Option<i64>) {
        self.expire(now);
        if e.event > 15 {
            self.counters.ignored += 1;
            return;
        }
        let dur = u32::from(e.duration);
        // A retransmission or late update of a finished event (RFC 4733 §2.5.1.4)?
        let tps = i64::from(self.ticks_per_sample);
        if let Some(d) = self
            .done
            .iter_mut()
            .flatten()
            .find(|d| d.event == e.event && (d.start_ts == ts || d.seg_ts == ts))
        {
            // It may tell us the tone lasted longer than we thought: squelch to there.
            if let Some((from, to)) = d.squelch.as_mut() {
                let seg_off = i64::from(ts.wrapping_sub(d.start_ts)) / tps;
                *to = (*to)
                    .max(*from + SQUELCH_BEFORE + seg_off + i64::from(dur) / tps + SQUELCH_AFTER);
            }
            self.counters.repeats += 1;
            return;
        }
        if let Some(a) = self.active.as_mut() {
            if a.event == e.event && a.seg_ts == ts {
                // An update of the active event (Cisco's three starts included).
                a.seg_duration = a.seg_duration.max(dur);
                a.last_now = now;
                // The audio may have started the receiver's timeline since the first report.
                a.start_pos = a.start_pos.or(start_pos);
                if e.end {
                    self.finish(now, EventEnd::EndBit);
                }
                return;
            }
            let ahead = ts.wrapping_sub(a.seg_ts) as i32;
            if ahead < 0 {
                // Older than the event in progress: a stray late report.
                self.counters.stale += 1;
                return;
            }
            if a.event == e.event
                && a.seg_duration >= LONG_SEGMENT
                && (ahead as u32) <= a.seg_duration
            {
                // §2.5.1.3: a new segment of a long event starts where the last one ended
                // (its duration field had run out).
                a.seg_ts = ts;
                a.seg_duration = dur;
                a.last_now = now;
                if e.end {
                    self.finish(now, EventEnd::EndBit);
                }
                return;
            }
            self.finish(now, EventEnd::NextEvent);
        } else if let Some(last) = self.last_done()
            && (ts.wrapping_sub(last.start_ts) as i32) < 0
        {
            self.counters.stale += 1;
            return;
        }
        let Some(digit) = tipring_dsp::dtmf::rfc4733_digit(e.event) else {
            return;
        };
        self.push(RxEvent::DigitBegin {
            digit,
            start_ts: ts,
        });
        self.active = Some(Active {
            start_ts: ts,
            seg_ts: ts,
            event: e.event,
            seg_duration: dur,
            first_now: now,
            last_now: now,
            start_pos,
        });
        if e.end {
            // Only end reports arrived (or the event was a single packet).
            self.finish(now, EventEnd::EndBit);
        }
    }

    /// Ends the active event if it has had no report for the timeout.
    pub fn expire(&mut self, now: u64) {
        if let Some(a) = self.active
            && now.saturating_sub(a.last_now) > self.timeout
        {
            self.finish(now, EventEnd::Timeout);
        }
    }

    /// The squelch intervals on the timeline: the active event (open-ended) and the
    /// finished ones with their hangover.
    fn intervals(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let active = self
            .active
            .and_then(|a| a.start_pos)
            .map(|p| (p - SQUELCH_BEFORE, i64::MAX));
        let done = self.done.iter().flatten().filter_map(|d| d.squelch);
        active.into_iter().chain(done)
    }

    /// A new source or a restarted one: the event in progress ends (its digit is reported)
    /// and finished events are forgotten, since the new stream's timestamps are unrelated.
    pub fn new_stream(&mut self, now: u64) {
        if self.active.is_some() {
            self.finish(now, EventEnd::NextEvent);
        }
        self.done = [None; DONE];
    }

    fn last_done(&self) -> Option<Done> {
        self.done[(self.done_next + DONE - 1) % DONE]
    }

    fn finish(&mut self, now: u64, end: EventEnd) {
        let Some(a) = self.active.take() else {
            return;
        };
        let tps = i64::from(self.ticks_per_sample);
        let duration = i64::from(a.duration_ticks()) / tps;
        // Without an E bit the reported duration may lag the tone: squelch at least as long as
        // reports kept coming.
        let heard = (a.last_now.saturating_sub(a.first_now)).min(i64::MAX as u64) as i64;
        let squelch = a.start_pos.map(|p| {
            let len = if end == EventEnd::EndBit {
                duration
            } else {
                duration.max(heard + now.saturating_sub(a.last_now).min(self.timeout) as i64)
            };
            (p - SQUELCH_BEFORE, p + len + SQUELCH_AFTER)
        });
        self.done[self.done_next] = Some(Done {
            start_ts: a.start_ts,
            seg_ts: a.seg_ts,
            event: a.event,
            squelch,
        });
        self.done_next = (self.done_next + 1) % DONE;
        if let Some(digit) = tipring_dsp::dtmf::rfc4733_digit(a.event) {
            self.counters.digits += 1;
            self.push(RxEvent::Digit {
                digit,
                start_ts: a.start_ts,
                duration: duration.clamp(0, i64::from(u32::MAX)) as u32,
                end,
            });
        }
    }

    fn push(&mut self, e: RxEvent) {
        if self.queue.push_back(e).is_err() {
            self.counters.queue_overflow += 1;
        }
    }
}

impl Squelch for EventReceiver {
    fn covers(&self, from: i64, to: i64) -> bool {
        self.intervals().any(|(a, b)| a <= from && to <= b)
    }

    fn apply(&self, from: i64, out: &mut [i16]) -> usize {
        if self.active.is_none() && self.done.iter().all(Option::is_none) {
            return 0;
        }
        let mut zeroed = 0;
        for (i, x) in out.iter_mut().enumerate() {
            let pos = from + i as i64;
            if self.intervals().any(|(a, b)| a <= pos && pos < b) {
                *x = 0;
                zeroed += 1;
            }
        }
        zeroed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(event: u8, end: bool, duration: u16) -> EventPayload {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    fn drain(rx: &mut EventReceiver) -> Vec<RxEvent> {
        core::iter::from_fn(|| rx.poll()).collect()
    }

    /// RFC 4733 §2.5.1.3: an event longer than the 16-bit duration continues in a new
    /// segment whose timestamp is the old one plus 0xFFFF: still one digit, with the total
    /// duration.
    #[test]
    fn rfc4733_2_5_1_3_long_event_segments_are_one_digit() {
        let mut rx = EventReceiver::new(1, 1_600);
        let mut now = 0;
        for d in (0..=0xFFFFu32).step_by(400).chain([0xFFFF]) {
            rx.on_report(now, 1_000, report(0, false, d as u16), Some(0));
            now += 400;
        }
        rx.on_report(now, 1_000 + 0xFFFF, report(0, false, 400), Some(0xFFFF));
        rx.on_report(
            now + 400,
            1_000 + 0xFFFF,
            report(0, true, 800),
            Some(0xFFFF),
        );
        let events = drain(&mut rx);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(
            events[1],
            RxEvent::Digit {
                digit: '0',
                start_ts: 1_000,
                duration: 0xFFFF + 800,
                end: EventEnd::EndBit
            }
        );
    }

    /// A report older than the event in progress is stale; the squelch interval covers the
    /// event plus 40 ms (and 10 ms before it).
    #[test]
    fn stale_reports_and_squelch_intervals() {
        let mut rx = EventReceiver::new(1, 1_600);
        rx.on_report(0, 5_000, report(1, false, 160), Some(10_000));
        rx.on_report(10, 4_000, report(2, false, 160), Some(9_000));
        assert_eq!(rx.counters().stale, 1);
        assert!(rx.covers(9_920, 1_000_000));
        assert!(!rx.covers(9_919, 9_930));
        rx.on_report(20, 5_000, report(1, true, 800), Some(10_000));
        assert!(rx.covers(9_920, 10_800 + 320));
        assert!(!rx.covers(10_000, 10_800 + 321));
        let mut out = [7i16; 100];
        assert_eq!(rx.apply(11_070, &mut out), 50);
        assert_eq!(out[49], 0);
        assert_eq!(out[50], 7);
        assert_eq!(drain(&mut rx).len(), 2);
    }

    /// Nobody draining: the queue keeps the oldest events and counts what it drops.
    #[test]
    fn a_full_queue_counts_overflow() {
        let mut rx = EventReceiver::new(1, 1_600);
        for k in 0..20u32 {
            rx.on_report(u64::from(k), k * 1_000, report(3, true, 400), None);
        }
        assert_eq!(drain(&mut rx).len(), EVENT_QUEUE);
        assert_eq!(rx.counters().queue_overflow, 40 - EVENT_QUEUE as u32);
        assert_eq!(rx.counters().digits, 20);
    }
}
