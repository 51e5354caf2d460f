//! `tipring bench engine`: the media engine on the simulated board, on the real clock, with
//! DTMF detection on every channel.
//!
//! Every channel is a simulated phone keying DTMF without pause (16 digits every 2.56 s).
//! The media threads tick every 20 ms from a timerfd, as in the daemon. After a second of
//! warm-up the run measures, per media thread, the share of wall time it spent working
//! (so "channels per core at real time" is channels ÷ that share) and how late each tick
//! woke; and it checks every digit every channel sent came out of the detector, in order.
//! The busy share includes the simulated phones' own work (their DTMF generators run on the
//! same thread), so the figure is conservative for real hardware.

use super::Failure;
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tipring_dsp::progress::plan::US;
use tipring_hal::sim::{self, Script, SimConfig, Step};
use tipring_hal::{ChannelId, Digits, Pacing, Shard};

/// The digits every phone keys, over and over.
const DIGITS: &str = "0123456789*#ABCD";

/// Runs the benchmark and prints one JSON line.
///
/// # Errors
/// Bad arguments (exit 2), or the board or a media thread could not be started (exit 1).
pub fn run(channels: u32, seconds: f64, threads: usize) -> Result<(), Failure> {
    if channels == 0 || channels > 20_000 {
        return Err(Failure::input("--channels: between 1 and 20000"));
    }
    if !(1.0..=40.0).contains(&seconds) {
        return Err(Failure::input("--seconds: between 1 and 40"));
    }
    if threads == 0 || threads > 64 {
        return Err(Failure::input("--threads: between 1 and 64"));
    }
    let (shards, mut sim) = sim::build(SimConfig {
        phones: channels,
        trunks: 0,
        shards: threads,
        pacing: Pacing::Realtime,
        ..SimConfig::default()
    })
    .map_err(|e| Failure::runtime(e.to_string()))?;
    let digits =
        Digits::parse(ChannelId(0), DIGITS).map_err(|e| Failure::runtime(e.to_string()))?;
    let script: Script = std::iter::repeat_n(Step::Dial { digits }, sim::MAX_STEPS).collect();
    for line in 1..=channels {
        sim.offhook(line, script.clone())
            .map_err(|e| Failure::runtime(e.to_string()))?;
    }
    let shards: Vec<Box<dyn Shard>> = shards.into_iter().map(|s| Box::new(s) as _).collect();
    let (engines, mut link) = crate::media::build(shards, &US);
    let mut running = Vec::new();
    for (i, e) in engines.into_iter().enumerate() {
        let t = crate::media::spawn(e, &format!("tipring-media-{i}"), Some(10))
            .map_err(|e| Failure::runtime(format!("media thread: {e}")))?;
        running.push(t);
    }
    let fifo = running.iter().all(|t| t.realtime.fifo.is_ok());
    let mut heard: Vec<String> = vec![String::new(); channels as usize + 1];
    let mut drain = |link: &mut crate::media::MediaLink, heard: &mut Vec<String>| {
        while let Some(e) = link.poll() {
            if let crate::media::MediaEvent::Digit { digit } = e.event
                && let Some(h) = heard.get_mut(e.channel.0 as usize)
            {
                h.push(digit);
            }
        }
        while sim.poll().is_some() {}
    };
    // Warm-up.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        drain(&mut link, &mut heard);
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats: Vec<_> = link.stats().to_vec();
    for s in &stats {
        s.clear_lateness();
    }
    let busy0: Vec<u64> = stats.iter().map(|s| s.busy_ns.load(Relaxed)).collect();
    let ticks0: Vec<u64> = stats.iter().map(|s| s.ticks.load(Relaxed)).collect();
    let missed0: u64 = stats.iter().map(|s| s.missed.load(Relaxed)).sum();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        drain(&mut link, &mut heard);
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed().as_nanos() as f64;
    let busy: Vec<f64> = stats
        .iter()
        .zip(&busy0)
        .map(|(s, b)| (s.busy_ns.load(Relaxed) - b) as f64 / wall)
        .collect();
    let ticks: u64 = stats
        .iter()
        .zip(&ticks0)
        .map(|(s, t)| s.ticks.load(Relaxed) - t)
        .sum();
    let quantile = |q: f64| {
        stats
            .iter()
            .filter_map(|s| s.lateness_quantile_us(q))
            .max()
            .map_or(serde_json::Value::Null, |us| json!(us as f64 / 1000.0))
    };
    let (p50, p99, p999) = (quantile(0.5), quantile(0.99), quantile(0.999));
    let missed: u64 = stats.iter().map(|s| s.missed.load(Relaxed)).sum::<u64>() - missed0;
    let lost: u64 = stats.iter().map(|s| s.events_lost.load(Relaxed)).sum();
    for t in running {
        t.stop().map_err(Failure::runtime)?;
    }
    drain(&mut link, &mut heard);
    // Every channel must have detected a prefix of what it keyed, in order.
    let sent: String = DIGITS.repeat(sim::MAX_STEPS);
    let wrong = heard[1..]
        .iter()
        .filter(|h| h.is_empty() || !sent.starts_with(h.as_str()))
        .count();
    let detected: usize = heard.iter().map(String::len).sum();
    let per_thread = f64::from(channels) / threads as f64;
    let worst_busy = busy.iter().copied().fold(0.0f64, f64::max);
    super::dsp::emit(json!({
        "bench": "engine",
        "channels": channels,
        "threads": threads,
        "seconds": seconds,
        "sched_fifo": fifo,
        "busy_per_thread": busy.iter().map(|b| (b * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "channels_per_core": (per_thread / worst_busy.max(1e-9)).round(),
        "realtime": worst_busy < 1.0 && missed == 0,
        "lateness_ms_p50": p50,
        "lateness_ms_p99": p99,
        "lateness_ms_p999": p999,
        "ticks": ticks,
        "missed_ticks": missed,
        "events_lost": lost,
        "digits_detected": detected,
        "channels_with_wrong_digits": wrong,
    }))
}
