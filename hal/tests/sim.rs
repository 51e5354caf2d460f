//! The simulated board end to end, heard and driven the way the media engine will: frames
//! read from and written to the shard, every far-end sound checked with the DSP detectors
//! on the board's side. All on the virtual clock.

use tipring_dsp::cid::{CallerId, CidEvent, CidReceiver, CidRxConfig, Message};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::progress::plan::US;
use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ProgressTone};
use tipring_hal::sim::{
    self, Destination, Script, SimConfig, SimControl, SimEvent, SimShard, Step,
};
use tipring_hal::{Cause, ChannelId, Command, Digits, Pacing, Shard, Signal};

/// A board under test: one shard, everything it sent, every signal with its time.
struct Bench {
    shard: SimShard,
    control: SimControl,
    /// Per slot: everything the far end sent, decoded.
    heard: Vec<Vec<i16>>,
    /// Per slot: what the board sends next (consumed frame by frame; silence after).
    say: Vec<Vec<i16>>,
    signals: Vec<(u64, usize, Signal)>,
    reports: Vec<sim::SimReport>,
    ms: u64,
}

impl Bench {
    fn new(phones: u32, trunks: u32, directory: sim::Directory) -> Self {
        let (mut shards, control) = sim::build(SimConfig {
            phones,
            trunks,
            directory,
            pacing: Pacing::Virtual,
            ..SimConfig::default()
        })
        .unwrap();
        let n = (phones + trunks) as usize;
        Bench {
            shard: shards.remove(0),
            control,
            heard: vec![Vec::new(); n],
            say: vec![Vec::new(); n],
            signals: Vec::new(),
            reports: Vec::new(),
            ms: 0,
        }
    }

    /// Runs `ms` of time, 20 ms at a time.
    fn run(&mut self, ms: u64) {
        let slots = self.shard.channels().len();
        for _ in 0..ms / 20 {
            assert_eq!(self.shard.wait_tick().unwrap(), 1);
            for slot in 0..slots {
                let mut bytes = [0u8; 160];
                assert_eq!(self.shard.read(slot, &mut bytes).unwrap(), 160);
                let mut pcm = [0i16; 160];
                tipring_hal::Encoding::Ulaw.decode(&bytes, &mut pcm);
                self.heard[slot].extend_from_slice(&pcm);
                let take = self.say[slot].len().min(160);
                let mut out = [0i16; 160];
                out[..take].copy_from_slice(&self.say[slot][..take]);
                self.say[slot].drain(..take);
                let mut enc = [0u8; 160];
                tipring_hal::Encoding::Ulaw.encode(&out, &mut enc);
                self.shard.write(slot, &enc).unwrap();
            }
            while let Some((slot, s)) = self.shard.poll_signal() {
                self.signals.push((self.ms, slot, s));
            }
            while let Some(r) = self.control.poll() {
                self.reports.push(r);
            }
            self.ms += 20;
        }
    }

    fn events(&self, line: u32) -> Vec<SimEvent> {
        self.reports
            .iter()
            .filter(|r| r.line == ChannelId(line))
            .map(|r| r.event.clone())
            .collect()
    }
}

fn script(steps: &[Step]) -> Script {
    steps.iter().cloned().collect()
}

fn dial(s: &str) -> Step {
    Step::Dial {
        digits: Digits::parse(ChannelId(0), s).unwrap(),
    }
}

fn digits_in(x: &[i16]) -> String {
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut out = String::new();
    let mut rest = x;
    loop {
        let n = rx.process(rest);
        rest = &rest[n..];
        while let Some(ev) = rx.poll_event() {
            if let DtmfEvent::Begin { digit, .. } = ev {
                out.push(digit);
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}

fn tones_in(x: &[i16]) -> Vec<(u64, ProgressTone)> {
    let mut d = ProgressDetector::new(ProgressConfig::new(&US));
    let mut out = Vec::new();
    for chunk in x.chunks(160) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = d.process(rest);
            rest = &rest[n..];
            while let Some(ev) = d.poll_event() {
                out.push((ev.at / 8, ev.tone));
            }
        }
    }
    out
}

/// A phone off hook keys DTMF as audio; the board hears every digit, A–D included.
#[test]
fn a_phone_dials_in_band() {
    let mut b = Bench::new(1, 0, Vec::new());
    b.control
        .offhook(
            1,
            script(&[Step::Wait { ms: 300 }, dial("1234567890*#ABCD")]),
        )
        .unwrap();
    b.run(3500);
    assert_eq!(b.signals, vec![(0, 0, Signal::OffHook)]);
    assert_eq!(digits_in(&b.heard[0]), "1234567890*#ABCD");
    assert_eq!(b.events(1), vec![SimEvent::ScriptDone]);
}

/// The exchange rings with the configured cadence (2 s on, 4 s off), sends Bell 202 MDMF
/// caller ID in the first silence (GR-30: it starts 0.5 s after the first ring), and the
/// caller gives up after the rings asked for.
#[test]
fn the_exchange_rings_with_caller_id() {
    let mut b = Bench::new(0, 1, Vec::new());
    let caller = CallerId {
        number: Some("5551234567".try_into().unwrap()),
        name: Some("TIPRING TEST".try_into().unwrap()),
        datetime: Some(*b"11211530"),
        ..CallerId::default()
    };
    b.control
        .ring_in(1, Some(&caller), 3, Script::new())
        .unwrap();
    b.run(20_000);
    let ring: Vec<(u64, Signal)> = b.signals.iter().map(|&(t, _, s)| (t, s)).collect();
    assert_eq!(
        ring,
        vec![
            (0, Signal::RingBegin),
            (2000, Signal::RingEnd),
            (6000, Signal::RingBegin),
            (8000, Signal::RingEnd),
            (12_000, Signal::RingBegin),
            (14_000, Signal::RingEnd),
        ]
    );
    assert_eq!(b.events(1), vec![SimEvent::GaveUp]);
    let mut rx = CidReceiver::new(CidRxConfig::default());
    let mut got = Vec::new();
    let mut rest: &[i16] = &b.heard[0];
    while !rest.is_empty() {
        let n = rx.process(rest);
        rest = &rest[n..];
        while let Some(ev) = rx.poll_event() {
            if let CidEvent::Message { at, message, .. } = ev {
                got.push((at / 8, message));
            }
        }
    }
    assert_eq!(got.len(), 1, "{got:?}");
    let (at_ms, Message::CallerId(id)) = &got[0] else {
        panic!("{got:?}")
    };
    assert!(
        (2500..6000).contains(at_ms),
        "caller ID ended at {at_ms} ms"
    );
    assert_eq!(id.number.as_deref(), Some("5551234567"));
    assert_eq!(id.name.as_deref(), Some("TIPRING TEST"));
    assert_eq!(id.datetime_str(), Some("11211530"));
}

/// Answering connects the caller: its digits reach the board as audio, what the board
/// sends reaches the caller, and the caller hanging up drops loop current (normal clearing).
#[test]
fn answering_connects_the_caller() {
    let mut b = Bench::new(0, 1, Vec::new());
    b.control
        .ring_in(
            1,
            None,
            5,
            script(&[
                Step::Wait { ms: 1500 },
                dial("42#"),
                Step::Wait { ms: 500 },
                Step::Hangup,
            ]),
        )
        .unwrap();
    b.run(1000);
    b.shard.command(0, &Command::Answer).unwrap();
    // The board sends a digit the caller must hear.
    let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
    g.queue_digits("7").unwrap();
    let mut tone = vec![0i16; 1600];
    g.generate(&mut tone);
    b.say[0] = tone;
    b.run(5000);
    let after_answer: Vec<i16> = b.heard[0][8000..].to_vec();
    assert_eq!(digits_in(&after_answer), "42#");
    assert_eq!(
        b.signals.iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![
            Signal::RingBegin,
            Signal::RemoteHangup(Cause::NORMAL_CLEARING)
        ]
    );
    assert_eq!(
        b.events(1),
        vec![SimEvent::HeardDigit('7'), SimEvent::ScriptDone]
    );
}

fn directory() -> sim::Directory {
    let d = |s| Digits::parse(ChannelId(0), s).unwrap();
    vec![
        (d("5550100"), Destination::Busy),
        (
            d("5550200"),
            Destination::Answer {
                after_ms: 4000,
                polarity: true,
                script: script(&[Step::Wait { ms: 500 }, dial("9")]),
            },
        ),
        (d("5550300"), Destination::NoAnswer),
        (d("5550400"), Destination::Congestion),
    ]
}

/// Seizing a line gives dial tone; the board's `Dial` goes out as DTMF that the exchange
/// decodes; the exchange routes the number to busy, ringback and answer (with a polarity
/// reversal), no answer, congestion, or SIT for a number it doesn't know.
#[test]
fn outbound_calls_meet_every_outcome() {
    let cases: [(&str, &[ProgressTone]); 5] = [
        ("5550100", &[ProgressTone::Dial, ProgressTone::Busy]),
        ("5550200", &[ProgressTone::Dial, ProgressTone::Ringback]),
        ("5550300", &[ProgressTone::Dial, ProgressTone::Ringback]),
        ("5550400", &[ProgressTone::Dial, ProgressTone::Congestion]),
        (
            "5559999",
            &[
                ProgressTone::Dial,
                ProgressTone::Sit(Some(tipring_dsp::progress::SitCause::Ic)),
            ],
        ),
    ];
    for (number, want) in cases {
        let mut b = Bench::new(0, 1, directory());
        b.shard.command(0, &Command::Seize).unwrap();
        b.run(2000);
        b.shard
            .command(
                0,
                &Command::Dial(Digits::parse(ChannelId(1), number).unwrap()),
            )
            .unwrap();
        b.run(14_000);
        let tones: Vec<ProgressTone> = tones_in(&b.heard[0]).into_iter().map(|t| t.1).collect();
        assert_eq!(tones, want, "{number}");
        let signals: Vec<Signal> = b.signals.iter().map(|s| s.2).collect();
        let mut want_signals = vec![Signal::DialComplete];
        if number == "5550200" {
            want_signals.push(Signal::Polarity);
        }
        assert_eq!(signals, want_signals, "{number}");
        let dialled = Digits::parse(ChannelId(1), number).unwrap();
        assert_eq!(
            b.events(1).first(),
            Some(&SimEvent::Dialled(dialled)),
            "{number}"
        );
        if number == "5550200" {
            // The callee's digit comes after the answer (≈ 2 s dialling + 4 s ringing).
            let at = b
                .signals
                .iter()
                .find(|s| s.2 == Signal::Polarity)
                .unwrap()
                .0;
            assert!((5000..8000).contains(&at), "answered at {at} ms");
            assert_eq!(digits_in(&b.heard[0][at as usize * 8..]), "9");
        }
    }
}

/// A phone rung by the board answers by itself after the set delay.
#[test]
fn a_phone_answers_ringing() {
    let mut b = Bench::new(1, 0, Vec::new());
    b.control
        .auto_answer(1, Some(3000), script(&[dial("5")]))
        .unwrap();
    b.run(100);
    b.shard.command(0, &Command::Ring).unwrap();
    b.run(4000);
    assert_eq!(b.signals.len(), 1);
    let (at, _, s) = b.signals[0];
    assert_eq!(s, Signal::OffHook);
    assert!((3000..3200).contains(&at), "{at}");
    assert_eq!(digits_in(&b.heard[0]), "5");
    assert_eq!(b.events(1)[0], SimEvent::Answered);
}

/// Requests that don't fit get errors that name the channel and say why; nothing changes.
#[test]
fn bad_requests_are_refused_precisely() {
    let mut b = Bench::new(1, 1, Vec::new());
    let e = b
        .shard
        .command(0, &Command::Dial(Digits::parse(ChannelId(1), "1").unwrap()))
        .unwrap_err();
    assert_eq!(e.to_string(), "channel 1: fxs channels cannot dial");
    assert_eq!(e.kind(), tipring_hal::ErrorKind::Unsupported);
    let e = b.shard.command(1, &Command::Answer).unwrap_err();
    assert_eq!(e.to_string(), "channel 2: cannot answer while not ringing");
    let e = b
        .shard
        .command(1, &Command::Dial(Digits::parse(ChannelId(2), "1").unwrap()))
        .unwrap_err();
    assert_eq!(e.to_string(), "channel 2: cannot dial while on hook");
    b.shard.command(1, &Command::Seize).unwrap();
    b.shard
        .command(
            1,
            &Command::Dial(Digits::parse(ChannelId(2), "123").unwrap()),
        )
        .unwrap();
    let e = b
        .shard
        .command(1, &Command::Dial(Digits::parse(ChannelId(2), "4").unwrap()))
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(b.shard.command(7, &Command::Seize).is_err());
    assert_eq!(
        b.control
            .ring_in(1, None, 1, Script::new())
            .unwrap_err()
            .to_string(),
        "sim line 1: cannot ring: it faces a phone, not the exchange"
    );
    assert_eq!(
        b.control.offhook(2, Script::new()).unwrap_err().to_string(),
        "sim line 2: cannot go off hook: it faces the exchange, not a phone"
    );
    assert_eq!(
        b.control.onhook(9).unwrap_err().to_string(),
        "sim line 9: no such line (the board has 2)"
    );
}
