//! RFC 4733 reception in each sender's timing style, and squelch of the in-band copy.
//!
//! Every test plays a stream the way a real sender would (audio packets every 20 ms, event
//! reports in place of them while a digit lasts) through the receiver on the virtual clock,
//! and checks that each key press is reported exactly once.

mod common;

use common::{Media, Network, Peer};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_rtp::{Codec, EventEnd, PayloadMap, Receiver, ReceiverConfig, RxEvent};

fn receiver() -> Receiver {
    Receiver::new(ReceiverConfig::new(
        PayloadMap::new(0, Codec::Pcmu).with_events(101),
    ))
    .unwrap()
}

/// How a sender reports a digit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// RFC 4733 by the book: a report per 20 ms packet interval, marker on the first, the
    /// final report (E) three times (§2.5.1.4).
    Rfc,
    /// Cisco: the start report three times with duration 0, then updates every 50 ms.
    Cisco,
    /// Intel PIMG: the final duration is smaller than the last update.
    Pimg,
    /// No E packet ever arrives (all three lost).
    NoEnd,
    /// Only the three E packets arrive (start and updates lost).
    EndOnly,
    /// No marker bit on any report.
    NoMarker,
    /// The first two reports are lost.
    LostStart,
}

/// A sender's stream: packets with the time they leave.
struct Script {
    peer: Peer,
    packets: Vec<(u64, Vec<u8>)>,
}

impl Script {
    fn new() -> Self {
        Self {
            peer: Peer::new(160),
            packets: Vec::new(),
        }
    }

    /// `ms` of audio.
    fn audio(&mut self, ms: u32) {
        for _ in 0..ms / 20 {
            let p = self.peer.audio();
            self.packets.push((self.peer.n, p));
        }
    }

    /// One digit lasting `on_ms` (a multiple of 20) in `style`.
    fn digit(&mut self, event: u8, on_ms: u32, style: Style) {
        let start = self.peer.ts;
        let on = on_ms as u16 * 8;
        let intervals = on_ms / 20;
        let mut sent: Vec<(bool, u16, bool)> = Vec::new(); // (end, duration, marker) per interval
        match style {
            Style::Cisco => {
                for k in 0..intervals {
                    let d = (k as u16 + 1) * 160;
                    if k < 3 {
                        sent.push((false, 0, k == 0));
                    } else if (k * 20) % 50 < 20 {
                        sent.push((false, d, false));
                    } else {
                        sent.push((false, u16::MAX, false)); // nothing this interval
                    }
                }
            }
            _ => {
                for k in 0..intervals - 1 {
                    sent.push((
                        false,
                        (k as u16 + 1) * 160,
                        k == 0 && style != Style::NoMarker,
                    ));
                }
            }
        }
        // PIMG's final duration falls short of its last update.
        let final_dur = if style == Style::Pimg {
            (intervals as u16 - 1) * 160 - 20
        } else {
            on
        };
        for _ in 0..3 {
            sent.push((true, final_dur, false));
        }
        if let Some(first) = sent.first_mut() {
            first.2 = style != Style::NoMarker;
        }
        for (k, &(end, dur, marker)) in sent.iter().enumerate() {
            self.peer.skip(160);
            let lost = match style {
                Style::NoEnd => end,
                Style::EndOnly => !end,
                Style::LostStart => k < 2,
                Style::Cisco => dur == u16::MAX,
                _ => false,
            };
            let p = self.peer.event(start, event, end, dur, marker);
            if !lost {
                self.packets.push((self.peer.n, p));
            }
        }
    }

    /// Plays the script through a receiver; returns the media loop.
    fn play(self, extra_ms: u64) -> Media {
        let mut net = Network::default();
        let end = self.packets.last().map_or(0, |p| p.0) + extra_ms * 8;
        for (t, p) in self.packets {
            net.send(t, p);
        }
        let mut m = Media::new(receiver(), 160);
        while m.now <= end {
            let due = net.due(m.now);
            m.tick(&due);
        }
        m
    }
}

fn one_digit(style: Style) -> Media {
    let mut s = Script::new();
    s.audio(200);
    s.digit(5, 160, style);
    s.audio(400);
    s.play(300)
}

#[test]
fn rfc4733_by_the_book_gives_one_digit() {
    let m = one_digit(Style::Rfc);
    assert_eq!(m.digits(), "5");
    assert_eq!(m.begins(), "5");
    let e = m
        .events
        .iter()
        .find(|e| matches!(e, RxEvent::Digit { .. }))
        .unwrap();
    assert!(matches!(
        e,
        RxEvent::Digit {
            duration: 1280,
            end: EventEnd::EndBit,
            ..
        }
    ));
    // §2.5.1.4: the two repeats of the final report were recognised as such.
    assert_eq!(m.rx.stats().events.repeats, 2);
}

#[test]
fn cisco_style_three_zero_duration_starts_and_50_ms_updates_give_one_digit() {
    let m = one_digit(Style::Cisco);
    assert_eq!(m.digits(), "5");
    assert_eq!(m.begins(), "5");
}

#[test]
fn intel_pimg_style_shorter_final_duration_gives_one_digit() {
    let m = one_digit(Style::Pimg);
    assert_eq!(m.digits(), "5");
    // The longest duration reported is kept: 1120 of the last update, not the final 1100.
    let d = m.events.iter().find_map(|e| match e {
        RxEvent::Digit { duration, .. } => Some(*duration),
        _ => None,
    });
    assert_eq!(d, Some(1120));
}

#[test]
fn lost_end_packets_end_the_digit_on_timeout() {
    let m = one_digit(Style::NoEnd);
    assert_eq!(m.digits(), "5");
    assert!(m.events.iter().any(|e| matches!(
        e,
        RxEvent::Digit {
            end: EventEnd::Timeout,
            ..
        }
    )));
}

#[test]
fn end_packets_alone_give_one_digit() {
    let m = one_digit(Style::EndOnly);
    assert_eq!(m.digits(), "5");
    assert_eq!(m.begins(), "5");
}

#[test]
fn a_missing_marker_bit_changes_nothing() {
    assert_eq!(one_digit(Style::NoMarker).digits(), "5");
}

#[test]
fn lost_start_reports_change_nothing() {
    assert_eq!(one_digit(Style::LostStart).digits(), "5");
}

/// The same digit twice in a row is two key presses: the timestamps differ.
#[test]
fn the_same_digit_back_to_back_is_two_digits() {
    for style in [Style::Rfc, Style::Cisco, Style::NoEnd, Style::EndOnly] {
        let mut s = Script::new();
        s.audio(100);
        s.digit(5, 100, style);
        s.audio(40);
        s.digit(5, 100, style);
        s.audio(300);
        let m = s.play(300);
        assert_eq!(m.digits(), "55", "{style:?}");
        assert_eq!(m.begins(), "55", "{style:?}");
    }
}

/// A digit whose E packets were lost ends when the next digit starts (another timestamp).
#[test]
fn a_digit_without_end_ends_at_the_next_event() {
    let mut s = Script::new();
    s.audio(100);
    s.digit(1, 100, Style::NoEnd);
    s.digit(2, 100, Style::Rfc);
    s.audio(300);
    let m = s.play(300);
    assert_eq!(m.digits(), "12");
    assert!(m.events.iter().any(|e| matches!(
        e,
        RxEvent::Digit {
            digit: '1',
            end: EventEnd::NextEvent,
            ..
        }
    )));
}

/// The §4 target: 16 digits of 40 ms with 40 ms pauses, each reported once, in every style.
#[test]
fn sixteen_digits_at_40_ms_on_40_ms_off() {
    for style in [
        Style::Rfc,
        Style::Pimg,
        Style::NoEnd,
        Style::EndOnly,
        Style::NoMarker,
        Style::LostStart,
    ] {
        let mut s = Script::new();
        s.audio(100);
        for e in 0..16u8 {
            // 40 ms on: one update and the final report; its two repeats fill the 40 ms off.
            s.digit(e, 40, style);
        }
        s.audio(300);
        let m = s.play(400);
        assert_eq!(m.digits(), "0123456789*#ABCD", "{style:?}");
        assert_eq!(m.begins(), "0123456789*#ABCD", "{style:?}");
    }
}

/// Events are reported promptly: the begin with the first report, the end with the E bit.
#[test]
fn digits_are_reported_within_a_tick_of_their_reports() {
    let m = one_digit(Style::Rfc);
    let begin_tick = m
        .events
        .iter()
        .position(|e| matches!(e, RxEvent::DigitBegin { .. }))
        .unwrap();
    assert!(begin_tick < 2);
    // The E packet leaves at 200 + 160 ms; the digit is out at the next tick.
    let mut t = 0;
    let mut m2 = Media::new(receiver(), 160);
    let mut s = Script::new();
    s.audio(200);
    s.digit(5, 160, Style::Rfc);
    let mut net = Network::default();
    for (at, p) in s.packets {
        net.send(at, p);
    }
    while !m2.events.iter().any(|e| matches!(e, RxEvent::Digit { .. })) {
        let due = net.due(m2.now);
        m2.tick(&due);
        t = m2.now;
    }
    assert!(t <= (360 + 20) * 8, "{t}");
}

/// The squelch: a peer that sends a digit both in-band and as RFC 4733 events reaches an
/// in-band DTMF receiver on `pull`'s output not at all, and the events give each digit once.
/// Without events, the receiver hears the in-band digits.
#[test]
fn squelch_leaves_each_digit_once() {
    let digits = "159#";
    for with_events in [true, false] {
        // In-band: 80 ms tones, 80 ms pauses, from 200 ms on.
        let mut tone = vec![0i16; 1600];
        let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
        g.queue_digits(digits).unwrap();
        let mut rest = vec![0i16; g.remaining_samples() as usize];
        let n = g.generate(&mut rest);
        tone.extend_from_slice(&rest[..n]);
        tone.extend_from_slice(&[0; 4000]);
        let mut peer = Peer::new(160);
        let mut net = Network::default();
        for (k, frame) in tone.chunks_exact(160).enumerate() {
            let start_ts = peer.ts;
            let p = peer.audio_of(frame);
            net.send(peer.n, p);
            if with_events {
                // 80 ms on, 80 ms off: digit i covers frames 10 + 8i .. 10 + 8i + 4.
                let k = k as i64 - 10;
                if k >= 0 && (k % 8) < 4 && ((k / 8) as usize) < digits.len() {
                    let d = digits.as_bytes()[(k / 8) as usize] as char;
                    let ev = tipring_dsp::dtmf::rfc4733_event(d).unwrap();
                    let first_ts = start_ts - (k % 8) as u32 * 160;
                    let dur = ((k % 8) as u16 + 1) * 160;
                    let end = k % 8 == 3;
                    let reps = if end { 3 } else { 1 };
                    for _ in 0..reps {
                        let e = peer.event(first_ts, ev, end, dur, k % 8 == 0);
                        net.send(peer.n, e);
                    }
                }
            }
        }
        let mut m = Media::new(receiver(), 160);
        let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
        let mut heard = String::new();
        let mut squelched = 0;
        while m.now < tone.len() as u64 + 2000 {
            let due = net.due(m.now);
            let before = m.out.len();
            m.tick(&due);
            squelched += m.pulls.last().unwrap().squelched;
            rx.process(&m.out[before..]);
            while let Some(e) = rx.poll_event() {
                if let DtmfEvent::Begin { digit, .. } = e {
                    heard.push(digit);
                }
            }
        }
        println!(
            "events {with_events}: RFC 4733 digits {:?}, in-band receiver heard {heard:?}, \
             squelched {squelched} samples",
            m.digits()
        );
        if with_events {
            assert_eq!(m.digits(), digits);
            assert_eq!(heard, "");
            assert!(squelched > 0);
        } else {
            assert_eq!(m.digits(), "");
            assert_eq!(heard, digits);
            assert_eq!(squelched, 0);
        }
    }
}

/// A report of an event older than the current one (a stray reordered packet) is ignored,
/// and events other than the 16 digits (flash, tones) are counted but give no digit.
#[test]
fn stale_reports_and_non_digit_events_are_ignored() {
    let mut s = Script::new();
    s.audio(100);
    s.digit(3, 100, Style::Rfc);
    s.digit(16, 100, Style::Rfc); // hook flash
    s.audio(100);
    let m = s.play(300);
    assert_eq!(m.digits(), "3");
    assert!(m.rx.stats().events.ignored > 0);
}
