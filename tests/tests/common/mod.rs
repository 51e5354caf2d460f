//! A whole Tipring (sim board, media engine, switch, handlers) on the virtual clock.

#![allow(dead_code)]

pub mod api;
pub mod proc;
pub mod sip;
pub mod steal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tipring_dsp::progress::plan::US;
use tipring_hal::sim::{self, Script, SimConfig, SimControl, Step};
use tipring_hal::{ChannelId, Digits, Pacing, Shard};
use tipringd::call::{Route, Switch};
use tipringd::handler::Registry;
use tipringd::media::{self, MediaShard};

/// A shared object built next to the test binary (a cdylib dependency).
pub fn built_so(file: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().join(file);
    assert!(p.exists(), "{} missing", p.display());
    p
}

/// The examples' prompts, made up for the test: speech-like bursts (no DTMF in them).
pub fn prompts() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tipring-e2e-prompts-{}", std::process::id()));
    if dir.join("goodbye.wav").exists() {
        return dir;
    }
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    let mut names: Vec<String> = [
        "hello-world",
        "goodbye",
        "vm-enter-num-to-call",
        "pls-hold-while-try",
        "pbx-invalid",
        "please-try-call-later",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..10).map(|d| format!("digits/{d}")));
    names.extend(["digits/star".into(), "digits/pound".into()]);
    for (i, n) in names.iter().enumerate() {
        let mut sp = tipring_dsp::synth::SpeechLike::new(i as u64 + 1, -20.0);
        let x: Vec<i16> = (0..3200)
            .map(|_| tipring_dsp::osc::sat_i16(sp.next_sample()))
            .collect();
        tipringd::wav::write(&dir.join(format!("{n}.wav")), &x).unwrap();
    }
    dir
}

/// The params both examples take.
pub fn params() -> String {
    format!("{{\"prompts\": \"{}\"}}", prompts().display())
}

/// Loads the C IVR and the Rust menu.
pub fn examples() -> Registry {
    let mut reg = Registry::default();
    reg.load(Path::new(tipring_example_ivr_c::SO_PATH), "{}")
        .unwrap();
    reg.load(&built_so("libtipring_example_menu.so"), "{}")
        .unwrap();
    reg
}

pub struct Rig {
    pub engine: MediaShard,
    pub switch: Switch,
    pub sim: SimControl,
    pub reports: Vec<sim::SimReport>,
    pub ms: u64,
}

impl Rig {
    pub fn new(
        phones: u32,
        trunks: u32,
        directory: sim::Directory,
        reg: Registry,
        routes: Vec<Route>,
    ) -> Self {
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
            switch: Switch::new(link, reg, routes, &US, &HashMap::new()),
            sim,
            reports: Vec::new(),
            ms: 0,
        }
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            self.engine.tick().unwrap();
            self.ms += 20;
            self.switch.step(self.ms);
            while let Some(r) = self.sim.poll() {
                self.reports.push(r);
            }
        }
    }
}

pub fn script(steps: &[Step]) -> Script {
    steps.iter().cloned().collect()
}

pub fn dial(s: &str) -> Step {
    Step::Dial {
        digits: Digits::parse(ChannelId(0), s).unwrap(),
    }
}

/// A first RTP port for a daemon with `slots` SIP channels (each takes an RTP and an RTCP
/// port), below Linux's ephemeral range (32768 and up) so that no socket bound to port 0
/// — SIPp's, a capture's, another test's — can land in it, and distinct for every call in
/// this process (tests run in parallel threads). Every port of the run was free a moment
/// ago.
pub fn rtp_base(slots: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = 2 * u32::from(slots.max(1));
    let start = 12_000 + (std::process::id() % 97) * 200;
    for _ in 0..200 {
        // Ports handed out so far, not calls: runs of different lengths must not overlap
        // (counting calls, a one-slot run landed inside an earlier four-slot one).
        let k = NEXT.fetch_add(span, Ordering::SeqCst);
        let base = 12_000 + (start - 12_000 + k) % (20_000 - span);
        let free = (base..base + span).all(|p| {
            std::net::UdpSocket::bind(("127.0.0.1", u16::try_from(p).unwrap_or(0))).is_ok()
        });
        if free {
            return base as u16;
        }
    }
    panic!("no free run of {span} UDP ports below 32000");
}
