//! The media engine on the simulated board, on a virtual clock: what it detects in what the
//! far ends send, and what the far ends hear of what it sends.

use std::sync::Arc;
use tipring_dsp::progress::ProgressTone;
use tipring_dsp::progress::plan::US;
use tipring_hal::sim::{self, Destination, Script, SimConfig, SimControl, SimEvent, Step};
use tipring_hal::{ChannelId, Command, Digits, Pacing, Shard, Signal};
use tipringd::media::{
    self, ChannelEvent, MediaCommand, MediaEvent, MediaLink, MediaShard, OpEnd, OpId,
};

struct Rig {
    engine: MediaShard,
    link: MediaLink,
    sim: SimControl,
    events: Vec<ChannelEvent>,
    heard: Vec<sim::SimReport>,
}

impl Rig {
    fn new(phones: u32, trunks: u32, directory: sim::Directory) -> Self {
        let (shards, sim) = sim::build(SimConfig {
            phones,
            trunks,
            directory,
            pacing: Pacing::Virtual,
            ..SimConfig::default()
        })
        .unwrap();
        let shards: Vec<Box<dyn Shard>> = shards.into_iter().map(|s| Box::new(s) as _).collect();
        let (mut engines, link) = media::build(shards, &US);
        Rig {
            engine: engines.remove(0),
            link,
            sim,
            events: Vec::new(),
            heard: Vec::new(),
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            self.engine.tick().unwrap();
            while let Some(e) = self.link.poll() {
                self.events.push(e);
            }
            while let Some(r) = self.sim.poll() {
                self.heard.push(r);
            }
        }
    }

    fn send(&mut self, ch: u32, c: MediaCommand) {
        self.link.send(ChannelId(ch), c).unwrap();
    }

    fn digits(&self, ch: u32) -> String {
        self.events
            .iter()
            .filter(|e| e.channel == ChannelId(ch))
            .filter_map(|e| match e.event {
                MediaEvent::Digit { digit } => Some(digit),
                _ => None,
            })
            .collect()
    }

    fn of(&self, ch: u32) -> Vec<MediaEvent> {
        self.events
            .iter()
            .filter(|e| e.channel == ChannelId(ch))
            .map(|e| e.event.clone())
            .collect()
    }

    fn heard_digits(&self, line: u32) -> String {
        self.heard
            .iter()
            .filter(|r| r.line == ChannelId(line))
            .filter_map(|r| match r.event {
                SimEvent::HeardDigit(d) => Some(d),
                _ => None,
            })
            .collect()
    }
}

fn script(steps: &[Step]) -> Script {
    steps.iter().cloned().collect()
}

fn digits(s: &str) -> Digits {
    Digits::parse(ChannelId(0), s).unwrap()
}

/// A caller's in-band DTMF comes out of the engine as digit events, after the hook signal.
#[test]
fn the_engine_hears_a_phone_dial() {
    let mut r = Rig::new(1, 0, Vec::new());
    r.sim
        .offhook(
            1,
            script(&[
                Step::Wait { ms: 200 },
                Step::Dial {
                    digits: digits("2580#"),
                },
            ]),
        )
        .unwrap();
    r.run(2000);
    assert_eq!(r.of(1)[0], MediaEvent::Signal(Signal::OffHook));
    assert_eq!(r.digits(1), "2580#");
}

/// A prompt reaches the phone sample for sample (through μ-law), and the caller's first
/// digit barges in: the playback ends with that digit.
#[test]
fn playback_reaches_the_phone_and_a_digit_barges_in() {
    let mut r = Rig::new(1, 0, Vec::new());
    r.sim.offhook(1, Script::new()).unwrap();
    r.run(100);
    let mut rec = r.sim.record(1, 80_000).unwrap();
    r.run(40);
    let prompt: Arc<[i16]> = (0..16_000)
        .map(|n| (6000.0 * (n as f64 * 0.05).sin()) as i16)
        .collect();
    r.send(
        1,
        MediaCommand::Play {
            op: OpId(7),
            audio: Arc::clone(&prompt),
            barge_in: true,
            loops: 1,
        },
    );
    r.run(1000);
    // The phone heard the prompt from its start, each sample within G.711's step.
    let mut heard = Vec::new();
    while let Ok(s) = rec.pop() {
        heard.push(s);
    }
    let start = heard
        .iter()
        .position(|&s| s != 0)
        .expect("the phone heard the prompt");
    let got = &heard[start..];
    assert!(got.len() >= 7000, "{}", got.len());
    for (i, (a, b)) in prompt.iter().skip(1).zip(got).enumerate().take(7000) {
        assert!(
            (a - b).abs() <= a.abs() / 16 + 16,
            "sample {i}: sent {a}, heard {b}"
        );
    }
    r.sim
        .run(
            1,
            script(&[Step::Dial {
                digits: digits("5"),
            }]),
        )
        .unwrap();
    r.run(500);
    assert!(
        r.of(1).contains(&MediaEvent::Done {
            op: OpId(7),
            end: OpEnd::BargeIn('5'),
            lost: 0
        }),
        "{:?}",
        r.of(1)
    );
    // The media thread handed the buffer back; the control plane freed its reference.
    assert_eq!(Arc::strong_count(&prompt), 1);
}

/// An outbound call: seize, dial tone detected, dial in band, busy detected.
#[test]
fn outbound_progress_is_detected() {
    let dir = vec![(digits("5550100"), Destination::Busy)];
    let mut r = Rig::new(0, 1, dir);
    r.send(1, MediaCommand::DetectProgress(true));
    r.send(1, MediaCommand::Line(Command::Seize));
    r.run(2000);
    r.send(1, MediaCommand::Line(Command::Dial(digits("5550100"))));
    r.run(6000);
    let got: Vec<MediaEvent> = r
        .of(1)
        .into_iter()
        .filter(|e| !matches!(e, MediaEvent::Digit { .. }))
        .collect();
    assert_eq!(
        got,
        vec![
            MediaEvent::Progress(ProgressTone::Dial),
            MediaEvent::Signal(Signal::DialComplete),
            MediaEvent::Progress(ProgressTone::Busy),
        ]
    );
}

/// Two bridged phones: one's DTMF reaches the other in band, both ways; unbridging
/// releases the rings.
#[test]
fn a_bridge_carries_audio_and_dtmf_both_ways() {
    let mut r = Rig::new(2, 0, Vec::new());
    r.sim.offhook(1, Script::new()).unwrap();
    r.sim.offhook(2, Script::new()).unwrap();
    r.run(100);
    let (a_tx, b_rx) = rtrb::RingBuffer::new(1600);
    let (b_tx, a_rx) = rtrb::RingBuffer::new(1600);
    r.send(
        1,
        MediaCommand::Bridge {
            to_peer: a_tx,
            from_peer: a_rx,
        },
    );
    r.send(
        2,
        MediaCommand::Bridge {
            to_peer: b_tx,
            from_peer: b_rx,
        },
    );
    r.run(100);
    r.sim
        .run(
            1,
            script(&[Step::Dial {
                digits: digits("147"),
            }]),
        )
        .unwrap();
    r.sim
        .run(
            2,
            script(&[
                Step::Wait { ms: 600 },
                Step::Dial {
                    digits: digits("9*"),
                },
            ]),
        )
        .unwrap();
    r.run(2000);
    assert_eq!(r.heard_digits(2), "147");
    assert_eq!(r.heard_digits(1), "9*");
    // The engine also reports each caller's own digits.
    assert_eq!(r.digits(1), "147");
    assert_eq!(r.digits(2), "9*");
    r.send(1, MediaCommand::Unbridge);
    r.send(2, MediaCommand::Reset);
    r.run(40);
    assert!(r.of(1).contains(&MediaEvent::Unbridged));
    assert!(r.of(2).contains(&MediaEvent::Unbridged));
    assert_eq!(
        r.engine
            .stats()
            .events_lost
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// DTMF sent by the engine reaches the phone; a tone op ends after its time; a recording
/// ends at its maximum with exactly that many samples; Reset ends whatever runs.
#[test]
fn operations_complete_as_events() {
    let mut r = Rig::new(1, 0, Vec::new());
    r.sim.offhook(1, Script::new()).unwrap();
    r.run(100);
    r.send(
        1,
        MediaCommand::SendDtmf {
            op: OpId(1),
            digits: digits("31#"),
        },
    );
    let (tx, mut rec) = rtrb::RingBuffer::new(16_000);
    r.send(
        1,
        MediaCommand::Record {
            op: OpId(2),
            ring: tx,
            max_ms: 1000,
            final_silence_ms: 0,
        },
    );
    r.run(1500);
    assert_eq!(r.heard_digits(1), "31#");
    let done: Vec<MediaEvent> = r
        .of(1)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Done { .. }))
        .collect();
    assert_eq!(
        done,
        vec![
            MediaEvent::Done {
                op: OpId(1),
                end: OpEnd::Completed,
                lost: 0
            },
            MediaEvent::Done {
                op: OpId(2),
                end: OpEnd::MaxTime,
                lost: 0
            },
        ]
    );
    assert_eq!(rec.slots(), 8000);
    let _ = rec.read_chunk(8000).map(|c| c.commit_all());
    r.send(
        1,
        MediaCommand::Tone {
            op: OpId(3),
            tone: US.dial,
            ms: 300,
        },
    );
    r.send(
        1,
        MediaCommand::Play {
            op: OpId(4),
            audio: vec![100i16; 800].into(),
            barge_in: false,
            loops: 0,
        },
    );
    r.run(1000);
    r.send(1, MediaCommand::Reset);
    r.run(40);
    let tail: Vec<MediaEvent> = r
        .of(1)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Done { .. }))
        .skip(2)
        .collect();
    assert_eq!(
        tail,
        vec![
            MediaEvent::Done {
                op: OpId(3),
                end: OpEnd::Replaced,
                lost: 0
            },
            MediaEvent::Done {
                op: OpId(4),
                end: OpEnd::Reset,
                lost: 0
            },
        ]
    );
}

/// Line commands go to the board; their errors come back as events naming the channel.
#[test]
fn line_errors_are_reported() {
    let mut r = Rig::new(1, 0, Vec::new());
    r.send(1, MediaCommand::Line(Command::Dial(digits("1"))));
    r.run(20);
    let errs: Vec<String> = r
        .of(1)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::LineError(e) => Some(e.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(errs, vec!["channel 1: fxs channels cannot dial"]);
    assert!(r.link.send(ChannelId(9), MediaCommand::Reset).is_err());
}
