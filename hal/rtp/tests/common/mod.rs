//! Test support: synthetic RTP peers, a seeded network, and a media-thread loop on a
//! virtual clock.
#![allow(dead_code)]

use tipring_dsp::g711::Law;
use tipring_dsp::synth::Rng;
use tipring_rtp::{Pulled, Receiver, RxEvent, telephone_event::EventPayload};

/// One RTP packet's bytes.
pub fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The source signal: sample `n` of a tone gliding 100–500 Hz (0.7 Hz vibrato) plus 1 kHz,
/// at about −12 dBm0: loud enough to tell from concealment, smooth enough to see a click,
/// and never periodic, so its delay can be measured without ambiguity.
pub fn signal(n: u64) -> i16 {
    use core::f64::consts::TAU;
    let t = n as f64 / 8000.0;
    let glide = TAU * 300.0 * t - (200.0 / 0.7) * (TAU * 0.7 * t).cos();
    let v = 4000.0 * glide.sin() + 2000.0 * (TAU * 1000.0 * t).sin();
    v as i16
}

/// A G.711 sender of the source signal, packetising `ptime` samples per packet.
#[derive(Debug, Clone)]
pub struct Peer {
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub pt: u8,
    pub event_pt: u8,
    pub law: Law,
    pub ptime: usize,
    /// Sample index of the signal at the next packet.
    pub n: u64,
    pub first: bool,
}

impl Peer {
    pub fn new(ptime: usize) -> Self {
        Self {
            ssrc: 0xDEAD_BEEF,
            seq: 1000,
            ts: 160_000,
            pt: 0,
            event_pt: 101,
            law: Law::Mu,
            ptime,
            n: 0,
            first: true,
        }
    }

    /// The next audio packet of the source signal.
    pub fn audio(&mut self) -> Vec<u8> {
        let pcm: Vec<i16> = (0..self.ptime as u64).map(|k| signal(self.n + k)).collect();
        self.audio_of(&pcm)
    }

    /// The next audio packet carrying `pcm`.
    pub fn audio_of(&mut self, pcm: &[i16]) -> Vec<u8> {
        let payload: Vec<u8> = pcm.iter().map(|&x| self.law.encode(x)).collect();
        let p = rtp(self.pt, self.first, self.seq, self.ts, self.ssrc, &payload);
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(pcm.len() as u32);
        self.n += pcm.len() as u64;
        p
    }

    /// An event report (takes a sequence number; the timestamp is the event's start).
    pub fn event(
        &mut self,
        start_ts: u32,
        event: u8,
        end: bool,
        duration: u16,
        marker: bool,
    ) -> Vec<u8> {
        let e = EventPayload {
            event,
            end,
            volume: 10,
            duration,
        };
        let p = rtp(
            self.event_pt,
            marker,
            self.seq,
            start_ts,
            self.ssrc,
            &e.to_bytes(),
        );
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// Skips `samples` of the signal without sending (the audio the events replace).
    pub fn skip(&mut self, samples: usize) {
        self.ts = self.ts.wrapping_add(samples as u32);
        self.n += samples as u64;
    }
}

/// Packets in flight, delivered at the first tick at or after their arrival time.
#[derive(Debug, Default)]
pub struct Network {
    pub queue: Vec<(u64, u64, Vec<u8>)>,
    order: u64,
}

impl Network {
    pub fn send(&mut self, arrival: u64, packet: Vec<u8>) {
        self.queue.push((arrival, self.order, packet));
        self.order += 1;
    }

    /// Everything that has arrived by `now`, in arrival order.
    pub fn due(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.queue.sort_by_key(|&(a, o, _)| (a, o));
        let k = self.queue.iter().take_while(|(a, _, _)| *a <= now).count();
        self.queue.drain(..k).map(|(_, _, p)| p).collect()
    }
}

/// The media thread: pushes what arrived, pulls one frame, collects everything.
#[derive(Debug)]
pub struct Media {
    pub rx: Receiver,
    pub now: u64,
    pub frame: usize,
    pub out: Vec<i16>,
    pub pulls: Vec<Pulled>,
    pub events: Vec<RxEvent>,
}

impl Media {
    pub fn new(rx: Receiver, frame: usize) -> Self {
        Self {
            rx,
            now: 0,
            frame,
            out: Vec::new(),
            pulls: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn tick(&mut self, packets: &[Vec<u8>]) {
        for p in packets {
            let _ = self.rx.push(self.now, p);
        }
        let mut buf = vec![0i16; self.frame];
        let pulled = self.rx.pull(self.now, &mut buf);
        self.out.extend_from_slice(&buf);
        self.pulls.push(pulled);
        while let Some(e) = self.rx.poll_event() {
            self.events.push(e);
        }
        self.now += self.frame as u64;
    }

    /// Total concealed samples in pulls from tick `from` on.
    pub fn concealed_since(&self, from: usize) -> u32 {
        self.pulls[from..].iter().map(|p| p.concealed).sum()
    }

    pub fn digits(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                RxEvent::Digit { digit, .. } => Some(*digit),
                _ => None,
            })
            .collect()
    }

    pub fn begins(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                RxEvent::DigitBegin { digit, .. } => Some(*digit),
                _ => None,
            })
            .collect()
    }
}

/// Largest sample-to-sample step in `x`.
pub fn max_step(x: &[i16]) -> i32 {
    x.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

/// The delay (in samples) at which `out` best matches the source signal, searching
/// `0..max`, with the mean absolute error at that delay, over `out[from..to]`.
pub fn align(out: &[i16], from: usize, to: usize, max: usize) -> (usize, f64) {
    let mut best = (0, f64::MAX);
    for d in 0..max {
        let err: f64 = (from..to)
            .map(|i| {
                let want = if i >= d { signal((i - d) as u64) } else { 0 };
                (f64::from(out[i]) - f64::from(want)).abs()
            })
            .sum::<f64>()
            / (to - from) as f64;
        if err < best.1 {
            best = (d, err);
        }
    }
    best
}

/// A seeded uniform delay in `0..=max` samples.
pub fn jitter(rng: &mut Rng, max: u64) -> u64 {
    rng.next_u64() % (max + 1)
}
