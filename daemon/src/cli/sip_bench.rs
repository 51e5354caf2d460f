//! `tipring bench sip-media`: SIP channels' media on one media thread, real clock, real
//! sockets on loopback, DTMF detection on every call.
//!
//! N SIP slots run on one media thread, as in the daemon: each with its RTP session (jitter
//! buffer, RFC 4733 in and out, RTCP), the engine's DTMF and call-progress detectors, and
//! the send path's DTMF receiver (telephone-event is negotiated, so it is on). A peer thread
//! plays N G.711 μ-law streams from one socket, 20 ms packets, each call keying DTMF in band
//! without pause (16 digits every 2.56 s), and drains what the slots send back. After two
//! seconds of warm-up the run measures the media thread's busy share of wall time (so
//! "calls per core" is N ÷ that share), how late each tick woke, and checks that every call's
//! digits came out of the detector in order.
//!
//! The peer's own work runs on another thread and is not counted; the kernel's work to
//! deliver the packets the media thread sends (loopback delivery happens in the sender's
//! context) is counted, which makes the figure conservative.

use super::Failure;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};
use tipring_dsp::g711::Law;
use tipring_dsp::progress::plan::US;
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{Pacing, Shard};

/// The digits every call keys, over and over.
const DIGITS: &str = "0123456789*#ABCD";

/// A free run of `2 * calls` UDP ports on loopback.
fn free_ports(calls: u32) -> Option<u16> {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    (0..20u32).map(|i| 20_000 + i * 2_000).find_map(|base| {
        let end = base + 2 * calls;
        if end > 65_000 {
            return None;
        }
        // Probe a few ports of the run; the shard reports any that turns out taken.
        [base, base + calls, end - 1]
            .iter()
            .all(|p| UdpSocket::bind((lo, *p as u16)).is_ok())
            .then_some(base as u16)
    })
}

/// Runs the benchmark and prints one JSON line.
///
/// # Errors
/// Bad arguments (exit 2), or sockets or the media thread could not be set up (exit 1).
pub fn run(calls: u32, seconds: f64) -> Result<(), Failure> {
    if calls == 0 || calls > 10_000 {
        return Err(Failure::input("--calls: between 1 and 10000"));
    }
    if !(1.0..=60.0).contains(&seconds) {
        return Err(Failure::input("--seconds: between 1 and 60"));
    }
    crate::app::raise_file_limit(2 * u64::from(calls) + 256);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let base = free_ports(calls).ok_or_else(|| Failure::runtime("no free run of UDP ports"))?;
    let (shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 1,
        channels: calls,
        bind: lo,
        rtp_port: base,
        pacing: Pacing::Realtime,
    })
    .map_err(|e| Failure::runtime(e.to_string()))?;
    let peer = UdpSocket::bind((lo, 0)).map_err(|e| Failure::runtime(e.to_string()))?;
    let peer_addr = peer
        .local_addr()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    for slot in 0..calls as usize {
        control
            .send(SlotCommand::Start {
                slot,
                params: RtpParams {
                    remote: Some(peer_addr),
                    codec: RtpCodec::Pcmu,
                    pt: 0,
                    event_pt: Some(101),
                    ssrc: 0x1000 + slot as u32,
                    seq: 1,
                    ts: 0,
                    symmetric: false,
                    ptime_ms: 20,
                },
            })
            .map_err(|e| Failure::runtime(e.to_string()))?;
    }
    let shards: Vec<Box<dyn Shard>> = vec![Box::new(shard)];
    let (engines, mut link) = crate::media::build(shards, &US);
    let mut running = Vec::new();
    for e in engines {
        let t = crate::media::spawn(e, "tipring-media-0", Some(10))
            .map_err(|e| Failure::runtime(format!("media thread: {e}")))?;
        running.push(t);
    }
    let fifo = running.iter().all(|t| t.realtime.fifo.is_ok());

    // The peer: the digit cycle in μ-law, 20 ms per packet, every call in step.
    let mut generator = DtmfGenerator::new(DtmfGenConfig::default())
        .map_err(|e| Failure::runtime(format!("{e:?}")))?;
    generator
        .queue_digits(DIGITS)
        .map_err(|e| Failure::runtime(format!("{e:?}")))?;
    let mut pcm = vec![0i16; generator.remaining_samples() as usize];
    generator.generate(&mut pcm);
    let ulaw: Vec<u8> = pcm.iter().map(|s| Law::Mu.encode(*s)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let returned = Arc::new(AtomicU64::new(0));
    // Two peer threads on one socket: one sends on the 20 ms schedule, one counts what
    // comes back, so a slow drain never delays the sending. The counter drains the socket
    // every millisecond instead of sleeping in recv: a thread asleep on the socket would be woken
    // by every packet, and on loopback that wake-up runs in the sender's context, the
    // media thread under test. A NIC-bound packet wakes nobody on this box.
    let receiver = {
        let (stop, returned) = (Arc::clone(&stop), Arc::clone(&returned));
        let sock = peer
            .try_clone()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        sock.set_nonblocking(true)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        std::thread::Builder::new()
            .name("sip-bench-rx".into())
            .spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Relaxed) {
                    while sock.recv(&mut buf).is_ok() {
                        returned.fetch_add(1, Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .map_err(|e| Failure::runtime(e.to_string()))?
    };
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("sip-bench-tx".into())
            .spawn(move || {
                let frames = ulaw.len() / 160;
                let mut packet = [0u8; 172];
                let start = Instant::now();
                let mut tick: u64 = 0;
                while !stop.load(Relaxed) {
                    let f = (tick as usize % frames) * 160;
                    for slot in 0..calls {
                        packet[0] = 0x80;
                        packet[1] = if tick == 0 { 0x80 } else { 0 };
                        packet[2..4].copy_from_slice(&(tick as u16).to_be_bytes());
                        packet[4..8].copy_from_slice(&((tick * 160) as u32).to_be_bytes());
                        packet[8..12].copy_from_slice(&(0x5000 + slot).to_be_bytes());
                        packet[12..].copy_from_slice(&ulaw[f..f + 160]);
                        let to = SocketAddr::new(lo, base + 2 * slot as u16);
                        let _ = peer.send_to(&packet, to);
                    }
                    tick += 1;
                    let due = start + Duration::from_millis(20 * tick);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            })
            .map_err(|e| Failure::runtime(e.to_string()))?
    };

    let mut heard: Vec<String> = vec![String::new(); calls as usize + 1];
    let drain = |link: &mut crate::media::MediaLink, heard: &mut Vec<String>| {
        while let Some(e) = link.poll() {
            if let crate::media::MediaEvent::Digit { digit } = e.event
                && let Some(h) = heard.get_mut(e.channel.0 as usize)
            {
                h.push(digit);
            }
        }
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        drain(&mut link, &mut heard);
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats: Vec<_> = link.stats().to_vec();
    for s in &stats {
        s.clear_lateness();
    }
    let busy0: u64 = stats.iter().map(|s| s.busy_ns.load(Relaxed)).sum();
    let missed0: u64 = stats.iter().map(|s| s.missed.load(Relaxed)).sum();
    let ticks0: u64 = stats.iter().map(|s| s.ticks.load(Relaxed)).sum();
    let board = control.stats();
    let sent_total = || -> u64 {
        (1..=calls)
            .filter_map(|c| board.get(tipring_hal::ChannelId(c)))
            .map(|s| s.packets_sent)
            .sum()
    };
    let returned0 = returned.load(Relaxed);
    let sent0 = sent_total();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        drain(&mut link, &mut heard);
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    let busy = (stats.iter().map(|s| s.busy_ns.load(Relaxed)).sum::<u64>() - busy0) as f64
        / wall.as_nanos() as f64;
    let ticks: u64 = stats.iter().map(|s| s.ticks.load(Relaxed)).sum::<u64>() - ticks0;
    let missed: u64 = stats.iter().map(|s| s.missed.load(Relaxed)).sum::<u64>() - missed0;
    let back = returned.load(Relaxed) - returned0;
    let sent = sent_total() - sent0;
    let quantile = |q: f64| {
        stats
            .iter()
            .filter_map(|s| s.lateness_quantile_us(q))
            .max()
            .map_or(serde_json::Value::Null, |us| json!(us as f64 / 1000.0))
    };
    let (p50, p99, p999) = (quantile(0.5), quantile(0.99), quantile(0.999));
    stop.store(true, Relaxed);
    let _ = sender.join();
    let _ = receiver.join();
    for t in running {
        t.stop().map_err(Failure::runtime)?;
    }
    drain(&mut link, &mut heard);
    // Every call must have detected consecutive digits of the cycle.
    let cycle = DIGITS.repeat(64);
    let wrong = heard[1..]
        .iter()
        .filter(|h| h.len() < 4 || !cycle.contains(h.as_str()))
        .count();
    let detected: usize = heard.iter().map(String::len).sum();
    super::dsp::emit(json!({
        "bench": "sip-media",
        "calls": calls,
        "seconds": seconds,
        "sched_fifo": fifo,
        "busy_share_of_one_core": (busy * 1000.0).round() / 1000.0,
        "calls_per_core": (f64::from(calls) / busy.max(1e-9)).round(),
        "realtime": busy < 1.0 && missed == 0,
        "lateness_ms_p50": p50,
        "lateness_ms_p99": p99,
        "lateness_ms_p999": p999,
        "ticks": ticks,
        "missed_ticks": missed,
        "packets_sent_per_second": (sent as f64 / wall.as_secs_f64()).round(),
        "packets_expected_per_second": f64::from(calls) * 50.0,
        "packets_the_peer_drained_per_second": (back as f64 / wall.as_secs_f64()).round(),
        "digits_detected": detected,
        "calls_with_wrong_digits": wrong,
    }))
}
