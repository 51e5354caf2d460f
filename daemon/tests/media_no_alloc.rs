//! The media plane's real-time contract over a 1 000-channel sim run: once built, a media
//! thread's tick never touches the heap while its channels detect digits and tones, play,
//! record, send DTMF, bridge and signal. A counting global allocator counts the heap
//! operations of the ticking thread; the control plane's calls run with counting off.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tipring_dsp::progress::plan::US;
use tipring_hal::sim::{self, Destination, Script, SimConfig, Step};
use tipring_hal::{ChannelId, Command, Digits, Pacing, Shard};
use tipringd::media::{self, MediaCommand, MediaEvent, OpId};

#[global_allocator]
static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;

#[test]
fn a_thousand_channels_tick_without_the_heap() {
    const PHONES: u32 = 500;
    const TRUNKS: u32 = 500;
    let d = |s| Digits::parse(ChannelId(0), s).unwrap();
    let talk: Script = [Step::Wait { ms: 300 }, Step::Dial { digits: d("12#") }]
        .into_iter()
        .collect();
    let (shards, mut sim) = sim::build(SimConfig {
        phones: PHONES,
        trunks: TRUNKS,
        directory: vec![(d("200"), Destination::Busy)],
        pacing: Pacing::Virtual,
        ..SimConfig::default()
    })
    .unwrap();
    let shards: Vec<Box<dyn Shard>> = shards.into_iter().map(|s| Box::new(s) as _).collect();
    let (mut engines, mut link) = media::build(shards, &US);
    let engine = &mut engines[0];
    let prompt: Arc<[i16]> = (0..8000).map(|n| ((n * 31) % 4000 - 2000) as i16).collect();
    // Rings and buffers the control plane keeps while the engine uses them.
    let mut keep = Vec::new();
    for line in 1..=PHONES {
        sim.offhook(line, talk.clone()).unwrap();
    }
    for line in PHONES + 1..=PHONES + TRUNKS {
        if line % 2 == 0 {
            let caller = tipring_dsp::cid::CallerId {
                number: Some("5551234".try_into().unwrap()),
                ..Default::default()
            };
            sim.ring_in(line, Some(&caller), 4, talk.clone()).unwrap();
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut keep_capture: Vec<(rtrb::Consumer<i16>, rtrb::Consumer<i16>)> = Vec::new();
    let mut captured = 0u64;
    for tick in 0..400u32 {
        // The control plane's orders for this tick (not counted).
        for ch in 1..=PHONES + TRUNKS {
            let id = ChannelId(ch);
            let phone = ch <= PHONES;
            let c = match (tick, phone, ch % 4) {
                (2, true, 0) => Some(MediaCommand::Play {
                    op: OpId(u64::from(ch)),
                    audio: Arc::clone(&prompt),
                    barge_in: true,
                    loops: 0,
                }),
                (2, true, 1) => {
                    let (tx, rx) = rtrb::RingBuffer::new(16_000);
                    keep.push(rx);
                    Some(MediaCommand::Record {
                        op: OpId(u64::from(ch)),
                        ring: tx,
                        max_ms: 3000,
                        final_silence_ms: 500,
                    })
                }
                (2, true, 2) => {
                    // Bridge with the next phone.
                    let (a_tx, b_rx) = rtrb::RingBuffer::new(1600);
                    let (b_tx, a_rx) = rtrb::RingBuffer::new(1600);
                    link.send(
                        ChannelId(ch + 1),
                        MediaCommand::Bridge {
                            to_peer: b_tx,
                            from_peer: b_rx,
                        },
                    )
                    .unwrap();
                    Some(MediaCommand::Bridge {
                        to_peer: a_tx,
                        from_peer: a_rx,
                    })
                }
                // A capture of both directions from tick 5 to 300 (ended, then its rings
                // come back to be dropped here, not on the media thread).
                (5, _, 3) => {
                    let (rx_p, rx) = rtrb::RingBuffer::new(16_000);
                    let (tx_p, tx) = rtrb::RingBuffer::new(16_000);
                    keep_capture.push((rx, tx));
                    Some(MediaCommand::Capture { rx: rx_p, tx: tx_p })
                }
                (300, _, 3) => Some(MediaCommand::CaptureStop),
                (40, true, 0) => Some(MediaCommand::SendDtmf {
                    op: OpId(10_000 + u64::from(ch)),
                    digits: d("9"),
                }),
                (1, false, 0) => Some(MediaCommand::DetectCallerId(true)),
                (250, false, 0) => Some(MediaCommand::Line(Command::Answer)),
                (3, false, 1) => {
                    link.send(id, MediaCommand::DetectProgress(true)).unwrap();
                    Some(MediaCommand::Line(Command::Seize))
                }
                (60, false, 1) => Some(MediaCommand::Line(Command::Dial(d("200")))),
                (100, false, 3) => Some(MediaCommand::Tone {
                    op: OpId(20_000 + u64::from(ch)),
                    tone: US.ringback,
                    ms: 2000,
                }),
                (350, _, _) => Some(MediaCommand::Reset),
                _ => None,
            };
            if let Some(c) = c {
                link.send(id, c).unwrap();
            }
        }
        let ((), ops) = tipring_testkit::count(|| engine.tick().unwrap());
        assert_eq!(ops, 0, "tick {tick}: {ops} heap operations");
        // The control plane drains the captures (not counted), as the switch does.
        for (rx, tx) in &mut keep_capture {
            while rx.pop().is_ok() {
                captured += 1;
            }
            while tx.pop().is_ok() {}
        }
        while let Some(e) = link.poll() {
            let kind = match e.event {
                MediaEvent::Signal(s) => s.name(),
                MediaEvent::Digit { .. } => "digit",
                MediaEvent::Progress(_) => "progress",
                MediaEvent::CallerId(_) => "caller-id",
                MediaEvent::Done { .. } => "done",
                MediaEvent::Unbridged => "unbridged",
                MediaEvent::LineError(_) => "line-error",
            };
            seen.insert(kind);
        }
        while sim.poll().is_some() {}
    }
    for kind in [
        "off-hook",
        "ring-begin",
        "digit",
        "progress",
        "done",
        "unbridged",
        "dial-complete",
    ] {
        assert!(seen.contains(kind), "no {kind} event in {seen:?}");
    }
    let s = engine.stats();
    assert_eq!(s.events_lost.load(Relaxed), 0);
    assert_eq!(s.bad_commands.load(Relaxed), 0);
    assert_eq!(s.leaked.load(Relaxed), 0);
    // Every playback ended (Reset) and its buffer came back to be freed here.
    assert_eq!(Arc::strong_count(&prompt), 1);
    // The captures ran (frames of 160 samples, 295 ticks on each captured channel) and
    // the media thread has let go of their rings (they come back as trash).
    let frames = captured / 160;
    assert!(
        frames >= keep_capture.len() as u64 * 290,
        "{captured} samples captured"
    );
    assert!(
        keep_capture
            .iter()
            .all(|(rx, tx)| rx.is_abandoned() && tx.is_abandoned())
    );
    drop(keep);
}
