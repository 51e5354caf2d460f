//! A whole Tipring (sim board, media engine, switch, handlers) on the virtual clock.

#![allow(dead_code)]

pub mod proc;

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
