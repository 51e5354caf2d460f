//! `tipring dsp …`: the DSP core over WAV files.

use super::Failure;
use crate::wav;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::echo::{EchoCanceller, Tail};
use tipring_dsp::progress::plan::{TONE_NAMES, TonePlan, plan_by_name};
use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ProgressTone, ToneGenerator};

/// Frame size used to feed the detectors: 20 ms, as the daemon's media engine does.
pub(crate) const FRAME: usize = 160;

/// `tipring dsp` subcommands.
#[derive(Debug, Subcommand)]
pub enum DspCommand {
    /// Detect DTMF digits: one JSON line per digit, {"digit":"5","at_ms":1234.5}.
    Dtmf {
        /// Input WAV (8 kHz mono, 16-bit PCM or 8-bit mu-law/A-law).
        file: PathBuf,
    },
    /// Detect call-progress tones: one JSON line per confirmed onset,
    /// {"tone":"dial|ringback|busy|congestion|sit|cng|ced","at_ms":…}. A cadenced tone that
    /// continues is reported once; again only after it stopped for more than 1.5 s or changed.
    Progress {
        /// Tone plan: us, uk, de or fr.
        #[arg(long)]
        plan: String,
        /// Input WAV (8 kHz mono, 16-bit PCM or 8-bit mu-law/A-law).
        file: PathBuf,
    },
    /// Caller ID: decode from or encode to WAV files.
    #[command(subcommand)]
    Cid(super::cid::CidCommand),
    /// Talk-off: run the DTMF receiver (and, with --plan, the call-progress detector) over
    /// recordings that contain no signalling (speech, music) and report everything found as
    /// false, with rates per hour.
    Talkoff {
        /// WAV files, or directories searched recursively for *.wav.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Gain applied to the recordings first, dB (saturating), to test louder or quieter
        /// lines.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        gain_db: f32,
        /// Also run the call-progress detector with this plan and count its (false) tones.
        #[arg(long)]
        plan: Option<String>,
    },
    /// Line echo canceller: removes the echo of FAR (what was sent to the line) from NEAR
    /// (what came back), sample for sample from the start of both files, into OUT (as long
    /// as NEAR; where FAR is shorter it counts as silence). Prints one JSON line with what
    /// the canceller measured.
    Echo {
        /// Echo tail, ms: 32, 64 or 128.
        #[arg(long, default_value_t = 64)]
        tail_ms: u32,
        /// What was sent to the line (8 kHz mono, 16-bit PCM or 8-bit mu-law/A-law).
        #[arg(long)]
        far: PathBuf,
        /// What came back from the line (the same formats).
        #[arg(long)]
        near: PathBuf,
        /// Output WAV (8 kHz mono 16-bit PCM).
        #[arg(long)]
        out: PathBuf,
        /// Leave the non-linear processor (and its comfort noise) off: the linear
        /// canceller's output as it is.
        #[arg(long)]
        no_nlp: bool,
    },
    /// Throughput of the DSP blocks on one core, as JSON lines (x_realtime, channels_per_core).
    Bench {
        /// Wall time per figure, seconds.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
    },
    /// Generate signals into a WAV file.
    #[command(subcommand)]
    Gen(GenCommand),
}

/// `tipring dsp gen` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// DTMF digits (0-9 * # A-D).
    Dtmf(GenDtmf),
    /// A call-progress tone of a plan, cadenced (dial, ringback, busy, congestion,
    /// callwaiting, sit, sit-ic, sit-vc, sit-ro, sit-nc, cng, ced, …).
    Tone(GenTone),
}

/// `tipring dsp gen tone`.
#[derive(Debug, Args)]
pub struct GenTone {
    /// Tone name.
    name: String,
    /// Tone plan: us, uk, de or fr.
    #[arg(long)]
    plan: String,
    /// Length of the file, ms (a tone that ends sooner is followed by silence).
    #[arg(long)]
    ms: u32,
    /// Output WAV (8 kHz mono 16-bit PCM).
    #[arg(long)]
    out: PathBuf,
}

/// `tipring dsp gen dtmf`.
#[derive(Debug, Args)]
pub struct GenDtmf {
    /// Digits to send.
    digits: String,
    /// Output WAV (8 kHz mono 16-bit PCM).
    #[arg(long)]
    out: PathBuf,
    /// Level of each tone in dBm0, -20 ... -3 (default: -10 low group, -8 high group).
    #[arg(long, allow_negative_numbers = true)]
    level_dbm0: Option<f32>,
    /// Tone duration, ms (>= 50).
    #[arg(long, default_value_t = 80)]
    on_ms: u32,
    /// Pause after each tone, ms (>= 45).
    #[arg(long, default_value_t = 80)]
    off_ms: u32,
}

/// Runs a `tipring dsp` command.
///
/// # Errors
/// A [`Failure`] with the message and exit status.
pub fn run(cmd: DspCommand) -> Result<(), Failure> {
    match cmd {
        DspCommand::Dtmf { file } => dtmf(&file),
        DspCommand::Cid(c) => super::cid::run(c),
        DspCommand::Talkoff {
            paths,
            gain_db,
            plan,
        } => talkoff(&paths, gain_db, plan.as_deref()),
        DspCommand::Bench { seconds } => super::bench::run(seconds),
        DspCommand::Echo {
            tail_ms,
            far,
            near,
            out,
            no_nlp,
        } => echo(tail_ms, &far, &near, &out, !no_nlp),
        DspCommand::Progress { plan, file } => progress(&plan, &file),
        DspCommand::Gen(GenCommand::Dtmf(g)) => gen_dtmf(&g),
        DspCommand::Gen(GenCommand::Tone(g)) => gen_tone(&g),
    }
}

pub(crate) fn read_wav(path: &Path) -> Result<Vec<i16>, Failure> {
    let w = wav::read(path).map_err(Failure::input)?;
    if w.truncated {
        eprintln!(
            "tipring: {}: data chunk is cut short; reading what is there",
            path.display()
        );
    }
    Ok(w.samples)
}

pub(crate) fn write_wav(path: &Path, samples: &[i16]) -> Result<(), Failure> {
    wav::write(path, samples).map_err(Failure::runtime)
}

pub(crate) fn emit(line: serde_json::Value) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}") {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): stop quietly, as Unix tools do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::runtime(format!("stdout: {e}"))),
    }
}

pub(crate) fn at_ms(sample: u64) -> f64 {
    sample as f64 / 8.0
}

/// Runs the DTMF receiver over `samples` and returns (digit, at sample) per digit.
pub fn detect_dtmf(samples: &[i16]) -> Vec<(char, u64)> {
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).expect("default DTMF config is valid");
    let mut found = Vec::new();
    let mut drain = |rx: &mut DtmfRx| {
        while let Some(e) = rx.poll_event() {
            if let DtmfEvent::Begin { digit, at } = e {
                found.push((digit, at));
            }
        }
    };
    for frame in samples.chunks(FRAME) {
        let mut done = 0;
        while done < frame.len() {
            done += rx.process(&frame[done..]);
            drain(&mut rx);
        }
    }
    found
}

fn echo(tail_ms: u32, far: &Path, near: &Path, out: &Path, nlp: bool) -> Result<(), Failure> {
    let tail = Tail::from_ms(tail_ms).ok_or_else(|| {
        Failure::input(format!(
            "--tail-ms {tail_ms}: the canceller covers 32, 64 or 128 ms"
        ))
    })?;
    let x = read_wav(far)?;
    let d = read_wav(near)?;
    let mut ec = EchoCanceller::new(tail);
    ec.set_nlp(nlp);
    let mut y = vec![0i16; d.len()];
    for (i, (nf, of)) in d.chunks(FRAME).zip(y.chunks_mut(FRAME)).enumerate() {
        // FAR beyond its end is silence.
        let at = i * FRAME;
        let mut f = [0i16; FRAME];
        if let Some(rest) = x.get(at..) {
            let have = rest.len().min(nf.len());
            f[..have].copy_from_slice(&rest[..have]);
        }
        ec.process(&f[..nf.len()], nf, of);
    }
    write_wav(out, &y)?;
    let st = ec.stats();
    emit(json!({
        "tail_ms": tail_ms,
        "samples": y.len(),
        "far_samples": x.len(),
        "erl_db": if st.path_gain_db.is_finite() { json!((f64::from(-st.path_gain_db) * 10.0).round() / 10.0) } else { json!(null) },
        "filter_updates": st.updates,
        "double_talk_ms": st.double_talk / 8,
        "nlp_ms": st.nlp / 8,
        "disabled_at_end": st.disabled,
    }))
}

fn dtmf(file: &Path) -> Result<(), Failure> {
    let x = read_wav(file)?;
    for (digit, at) in detect_dtmf(&x) {
        emit(json!({ "digit": digit.to_string(), "at_ms": at_ms(at) }))?;
    }
    Ok(())
}

fn gen_dtmf(g: &GenDtmf) -> Result<(), Failure> {
    let mut cfg = DtmfGenConfig {
        on_ms: g.on_ms,
        off_ms: g.off_ms,
        ..DtmfGenConfig::default()
    };
    if let Some(l) = g.level_dbm0 {
        cfg.low_dbm0 = l;
        cfg.high_dbm0 = l;
    }
    let mut tx = DtmfGenerator::new(cfg).map_err(|e| Failure::input(e.to_string()))?;
    if g.digits.is_empty() {
        return Err(Failure::input(
            "no digits to send (expected 0-9, *, #, A-D)",
        ));
    }
    // Refuse a bad digit anywhere before writing anything.
    if let Some((index, ch)) = g
        .digits
        .chars()
        .enumerate()
        .find(|&(_, c)| tipring_dsp::dtmf::digit_position(c).is_none())
    {
        return Err(Failure::input(
            tipring_dsp::dtmf::DtmfGenError::BadDigit { ch, index }.to_string(),
        ));
    }
    // The generator's queue is bounded: feed the string in pieces as it drains.
    let mut x = Vec::new();
    let mut rest = g.digits.chars();
    let mut buf = [0i16; FRAME];
    loop {
        while tx.pending() < 8 {
            let Some(c) = rest.next() else { break };
            let mut one = [0u8; 4];
            tx.queue_digits(c.encode_utf8(&mut one))
                .map_err(|e| Failure::input(e.to_string()))?;
        }
        let n = tx.generate(&mut buf);
        x.extend_from_slice(&buf[..n]);
        if n == 0 {
            break;
        }
    }
    write_wav(&g.out, &x)
}

fn collect_wavs(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), Failure> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Failure::input(format!("{}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() || p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                collect_wavs(&p, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn talkoff(paths: &[PathBuf], gain_db: f32, plan_name: Option<&str>) -> Result<(), Failure> {
    let gain = 10f32.powf(gain_db / 20.0);
    let cpt_plan = plan_name.map(plan).transpose()?;
    let mut tone_hits = 0u64; // call-progress tones found
    let mut files = Vec::new();
    for p in paths {
        collect_wavs(p, &mut files)?;
    }
    let (mut samples, mut hits, mut skipped) = (0u64, 0u64, 0u64);
    for f in &files {
        let w = match wav::read(f) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("tipring: skipped {e}");
                skipped += 1;
                continue;
            }
        };
        samples += w.samples.len() as u64;
        let x: Vec<i16> = w
            .samples
            .iter()
            .map(|&s| tipring_dsp::osc::sat_i16(f32::from(s) * gain))
            .collect();
        for (digit, at) in detect_dtmf(&x) {
            hits += 1;
            emit(
                json!({ "file": f.display().to_string(), "digit": digit.to_string(), "at_ms": at_ms(at) }),
            )?;
        }
        if let Some(p) = cpt_plan {
            for (tone, at) in detect_progress(p, &x) {
                tone_hits += 1;
                let file = f.display().to_string();
                emit(json!({ "file": file, "tone": tone.name(), "at_ms": at_ms(at) }))?;
            }
        }
    }
    let hours = samples as f64 / 8000.0 / 3600.0;
    let per_hour = |n: u64| {
        if hours > 0.0 {
            (n as f64 / hours * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    let mut summary = json!({
        "files": files.len() as u64 - skipped,
        "gain_db": gain_db,
        "skipped": skipped,
        "hours": (hours * 1000.0).round() / 1000.0,
        "false_digits": hits,
        "per_hour": per_hour(hits),
    });
    if let Some(p) = cpt_plan {
        summary["plan"] = json!(p.name);
        summary["false_tones"] = json!(tone_hits);
        summary["tones_per_hour"] = json!(per_hour(tone_hits));
    }
    emit(summary)
}

fn plan(name: &str) -> Result<&'static TonePlan, Failure> {
    plan_by_name(name).ok_or_else(|| {
        Failure::input(format!(
            "unknown tone plan {name:?} (expected us, uk, de or fr)"
        ))
    })
}

/// Runs the call-progress detector over `samples`; returns (tone, at sample) per onset.
pub fn detect_progress(plan: &'static TonePlan, samples: &[i16]) -> Vec<(ProgressTone, u64)> {
    let mut d = ProgressDetector::new(ProgressConfig::new(plan));
    let mut found = Vec::new();
    for frame in samples.chunks(FRAME) {
        let mut done = 0;
        while done < frame.len() {
            done += d.process(&frame[done..]);
            while let Some(e) = d.poll_event() {
                found.push((e.tone, e.at));
            }
        }
    }
    found
}

fn progress(plan_name: &str, file: &Path) -> Result<(), Failure> {
    let plan = plan(plan_name)?;
    let x = read_wav(file)?;
    for (tone, at) in detect_progress(plan, &x) {
        // The CLI reports every SIT as "sit"; the cause variant is in the library event.
        let name = match tone {
            ProgressTone::Sit(_) => "sit",
            t => t.name(),
        };
        emit(json!({ "tone": name, "at_ms": at_ms(at) }))?;
    }
    Ok(())
}

fn gen_tone(g: &GenTone) -> Result<(), Failure> {
    let plan = plan(&g.plan)?;
    let Some(tone) = plan.tone(&g.name) else {
        let known: Vec<&str> = TONE_NAMES
            .iter()
            .copied()
            .filter(|n| plan.tone(n).is_some())
            .collect();
        return Err(Failure::input(format!(
            "plan {} has no tone {:?} (it has: {})",
            plan.name,
            g.name,
            known.join(", ")
        )));
    };
    if g.ms == 0 || g.ms > 3_600_000 {
        return Err(Failure::input(format!(
            "--ms {} is outside 1 ... 3600000",
            g.ms
        )));
    }
    let mut x = vec![0i16; g.ms as usize * 8];
    let mut tx = ToneGenerator::new(tone);
    tx.generate(&mut x);
    write_wav(&g.out, &x)
}
