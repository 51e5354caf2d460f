//! The simulated board keeps the real-time contract: once built, its media-thread side
//! (`wait_tick`, `read`, `write`, `command`, `poll_signal`) never touches the heap, while
//! 600 lines ring with caller ID, dial, answer, route, play and listen. A counting global
//! allocator counts the heap operations of the thread under test; control-plane calls
//! (which may allocate) run with counting off.

use std::sync::Arc;
use tipring_dsp::cid::CallerId;
use tipring_hal::sim::{self, Destination, Script, SimConfig, Step};
use tipring_hal::{ChannelId, Command, Digits, Pacing, Shard};

#[global_allocator]
static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;

#[test]
fn the_media_side_never_allocates() {
    const PHONES: u32 = 300;
    const TRUNKS: u32 = 300;
    let d = |s| Digits::parse(ChannelId(0), s).unwrap();
    let prompt: Arc<[i16]> = (0..4000).map(|n| ((n * 37) % 2000 - 1000) as i16).collect();
    let talk: Script = [
        Step::Wait { ms: 200 },
        Step::Dial { digits: d("123#") },
        Step::Play {
            audio: Arc::clone(&prompt),
        },
        Step::Tone {
            tone: &tipring_dsp::progress::plan::US_BUSY,
            ms: 2500,
        },
    ]
    .into_iter()
    .collect();
    let (mut shards, mut control) = sim::build(SimConfig {
        phones: PHONES,
        trunks: TRUNKS,
        directory: vec![
            (d("200"), Destination::Busy),
            (
                d("300"),
                Destination::Answer {
                    after_ms: 1000,
                    polarity: true,
                    script: talk.clone(),
                },
            ),
        ],
        pacing: Pacing::Virtual,
        ..SimConfig::default()
    })
    .unwrap();
    let shard = &mut shards[0];
    let caller = CallerId {
        number: Some("5551234".try_into().unwrap()),
        ..CallerId::default()
    };
    for line in 1..=PHONES {
        if line.is_multiple_of(2) {
            control.offhook(line, talk.clone()).unwrap();
        } else {
            control.auto_answer(line, Some(500), talk.clone()).unwrap();
        }
    }
    for line in PHONES + 1..=PHONES + TRUNKS {
        if line % 3 == 0 {
            control
                .ring_in(line, Some(&caller), 3, talk.clone())
                .unwrap();
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    for tick in 0..500u32 {
        let ((), ops) = tipring_testkit::count(|| {
            shard.wait_tick().unwrap();
            for slot in 0..(PHONES + TRUNKS) as usize {
                let mut frame = [0u8; 160];
                shard.read(slot, &mut frame).unwrap();
                // Loop the far end's audio back, so every listener has work.
                shard.write(slot, &frame).unwrap();
            }
            while shard.poll_signal().is_some() {}
            // Board commands at a few moments: ring the odd phones, answer ringing trunks,
            // seize and dial the others.
            for slot in 0..(PHONES + TRUNKS) as usize {
                let line = slot as u32 + 1;
                let phone = line <= PHONES;
                let cmd = match (tick, phone, line % 3) {
                    (5, true, _) if !line.is_multiple_of(2) => Some(Command::Ring),
                    (60, false, 0) => Some(Command::Answer),
                    (10, false, 1) => Some(Command::Seize),
                    (20, false, 1) => Some(Command::Dial(if line.is_multiple_of(2) {
                        Digits::parse(ChannelId(line), "200").unwrap()
                    } else {
                        Digits::parse(ChannelId(line), "300").unwrap()
                    })),
                    (400, false, _) => Some(Command::Hangup(tipring_hal::Cause::NORMAL_CLEARING)),
                    _ => None,
                };
                if let Some(c) = cmd {
                    let _ = shard.command(slot, &c);
                }
            }
        });
        while let Some(r) = control.poll() {
            let kind = format!("{:?}", r.event);
            let kind = kind.split(['(', ' ']).next().unwrap_or("").to_string();
            *seen.entry(kind).or_insert(0u32) += 1;
        }
        assert_eq!(
            ops, 0,
            "tick {tick}: {ops} heap operations on the media side"
        );
    }
    // The run exercised what it claims to.
    for kind in [
        "HeardDigit",
        "HeardTone",
        "Dialled",
        "Answered",
        "ScriptDone",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {seen:?}"
        );
    }
    assert_eq!(shard.signals_lost(), 0);
    assert_eq!(shard.reports_lost(), 0);
}

/// The counter sees heap operations when there are some (the test above can fail).
#[test]
fn the_counter_counts() {
    let ((), ops) = tipring_testkit::count(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(ops, 2);
}
