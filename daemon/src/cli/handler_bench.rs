//! `tipring bench handlers`: what process isolation costs.
//!
//! **Round trip.** One call's instance in an isolated host (`tipringd --handler-host`, the
//! same process tipringd starts), then events one at a time, each sent over the socket,
//! delivered to the handler's `on_event`, answered, read by the host's reader thread and
//! handed to the waiting thread, as the switch's control thread is woken: p50, p99 and max.
//! The event is one the handler ignores (an unknown kind), so the figure is the transport.
//!
//! **Per call.** A whole IVR call on the example C handler (`ivr-c`): create, OFFER,
//! ANSWERED, the greeting with digit collection completing with 4 digits, each digit read
//! back, goodbye, HANGUP, destroy: 10 callbacks. Run in process and isolated, one call
//! after another; reported as wall time and CPU time per call (tipringd's side and the
//! host's), and their ratio to in process.

use super::Failure;
use crate::handler::host::{CallCtx, Request, WakeBoard};
use crate::handler::instance::HostEvent;
use crate::handler::process::{HostNote, HostProc, Limits, default_program};
use crate::handler::wire::{CallState, FromHost, ToHost, WireEvent};
use crate::handler::{Instance, Registry};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tipring_hal::{CallId, ChannelId};
use tipring_handler::sys;

fn cpu_self() -> Duration {
    // SAFETY: getrusage fills the struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn cpu_of(pid: u32) -> Duration {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(f.iter().sum::<u64>() as f64 / hz)
}

/// The next event of the scripted IVR call, given what the handler asked for last.
fn next_event(reqs: &[(u64, Request)]) -> Option<HostEvent> {
    let ev = |kind, op, digits: &str| HostEvent {
        kind,
        op,
        result: sys::TIPRING_R_DONE,
        digits: digits.to_string(),
        ..Default::default()
    };
    for (op, r) in reqs.iter().rev() {
        match r {
            Request::Answer => return Some(ev(sys::TIPRING_EV_ANSWERED, 0, "")),
            Request::Play {
                collect: Some(_), ..
            } => return Some(ev(sys::TIPRING_EV_OP_COMPLETE, *op, "1234")),
            Request::Play { .. } => return Some(ev(sys::TIPRING_EV_OP_COMPLETE, *op, "")),
            Request::Hangup(c) => {
                let mut h = ev(sys::TIPRING_EV_HANGUP, 0, "");
                h.cause = *c;
                return Some(h);
            }
            _ => {}
        }
    }
    None
}

const PARAMS: &str = "{\"prompts\": \"/nonexistent\"}";

/// Runs one scripted call in process; the number of callbacks.
fn call_in_process(reg: &Registry, name: &str, board: &WakeBoard, id: u64) -> u32 {
    let h = Arc::clone(reg.get(name).expect("loaded"));
    let ctx = CallCtx::new(CallId(id), ChannelId(1), name.into(), Arc::clone(board));
    let Ok(mut inst) = Instance::create(h, ctx, PARAMS) else {
        return 1;
    };
    let mut n = 1;
    let mut ev = HostEvent {
        kind: sys::TIPRING_EV_OFFER,
        ..Default::default()
    };
    loop {
        let _ = inst.deliver(&ev);
        n += 1;
        let reqs: Vec<_> = inst.ctx().requests.borrow_mut().drain(..).collect();
        inst.ctx().media_busy.set(false);
        if ev.kind == sys::TIPRING_EV_HANGUP {
            break;
        }
        match next_event(&reqs) {
            Some(e) => ev = e,
            None => break,
        }
    }
    inst.destroy();
    n
}

struct Remote {
    host: Arc<HostProc>,
    rx: mpsc::Receiver<HostNote>,
}

impl Remote {
    fn ask(&self, m: &ToHost) -> Result<(i32, Vec<(u64, Request)>), Failure> {
        self.host.send(m).map_err(Failure::runtime)?;
        loop {
            match self.rx.recv_timeout(Duration::from_secs(5)) {
                Ok(HostNote::Msg(_, FromHost::Done { rc, requests, .. })) => {
                    return Ok((rc, requests));
                }
                Ok(HostNote::Msg(..)) => continue,
                Ok(HostNote::Gone(_, why)) => {
                    return Err(Failure::runtime(format!("the handler host {why}")));
                }
                Err(_) => return Err(Failure::runtime("the handler host did not answer in 5 s")),
            }
        }
    }
}

fn call_isolated(r: &Remote, id: u64) -> Result<u32, Failure> {
    let (rc, _) = r.ask(&ToHost::Create {
        call: id,
        channel: 1,
        params: PARAMS.into(),
    })?;
    if rc != 0 {
        return Ok(1);
    }
    let mut n = 1;
    let mut ev = HostEvent {
        kind: sys::TIPRING_EV_OFFER,
        ..Default::default()
    };
    loop {
        let (_, reqs) = r.ask(&ToHost::Event {
            call: id,
            state: CallState::default(),
            ev: ev.clone(),
        })?;
        n += 1;
        if ev.kind == sys::TIPRING_EV_HANGUP {
            break;
        }
        match next_event(&reqs) {
            Some(e) => ev = e,
            None => break,
        }
    }
    r.host
        .send(&ToHost::Destroy { call: id })
        .map_err(Failure::runtime)?;
    Ok(n)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// Runs the benchmark on the handler in `file` (default: the example C handler) and prints
/// one JSON line per figure.
///
/// # Errors
/// The handler does not load, or its host fails.
pub fn run(file: Option<&Path>, events: u32, calls: u32) -> Result<(), Failure> {
    let file = file.map_or_else(
        || Path::new(tipring_example_ivr_c::SO_PATH).to_path_buf(),
        Path::to_path_buf,
    );
    let program = default_program();
    if !program.exists() {
        return Err(Failure::runtime(format!(
            "no tipringd beside this program to run handler hosts ({})",
            program.display()
        )));
    }
    // The host logs as tipringd does; the in-process run below logs nowhere (the CLI has
    // no subscriber), so the host is told to log only warnings, for a fair comparison.
    // SAFETY: no other thread runs yet in this process (the host's reader starts below).
    unsafe { std::env::set_var("RUST_LOG", "warn") };
    let (tx, rx) = mpsc::channel();
    let init = ToHost::Init {
        config: "{}".into(),
        op_base: 1 << 40,
        soft_budget_us: 1_000_000,
    };
    let host = HostProc::spawn(&program, &file, "bench", 1, &Limits::default(), &init, tx)
        .map_err(|e| Failure::runtime(format!("cannot start a handler host: {e}")))?;
    let name = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(HostNote::Msg(_, FromHost::Ready { name, .. })) => name,
        Ok(HostNote::Msg(_, FromHost::InitFailed { reason })) => {
            return Err(Failure::input(format!("{}: {reason}", file.display())));
        }
        other => {
            return Err(Failure::runtime(format!(
                "the handler host did not start: {other:?}"
            )));
        }
    };
    let remote = Remote { host, rx };

    // Round trips.
    let events = events.max(100);
    let (rc, _) = remote.ask(&ToHost::Create {
        call: 1,
        channel: 1,
        params: PARAMS.into(),
    })?;
    if rc != 0 {
        return Err(Failure::input(format!(
            "{name} refused the benchmark's call ({rc})"
        )));
    }
    let probe = ToHost::Event {
        call: 1,
        state: CallState::default(),
        ev: WireEvent {
            kind: 1000,
            ..Default::default()
        },
    };
    for _ in 0..events / 10 {
        remote.ask(&probe)?;
    }
    let mut rtt = Vec::with_capacity(events as usize);
    for _ in 0..events {
        let t = Instant::now();
        remote.ask(&probe)?;
        rtt.push(t.elapsed());
    }
    rtt.sort();
    remote
        .host
        .send(&ToHost::Destroy { call: 1 })
        .map_err(Failure::runtime)?;
    println!(
        "{}",
        json!({
            "figure": "event round trip, tipringd -> isolated host -> tipringd",
            "handler": name,
            "events": events,
            "p50_us": (pct(&rtt, 0.5) * 10.0).round() / 10.0,
            "p99_us": (pct(&rtt, 0.99) * 10.0).round() / 10.0,
            "max_us": (pct(&rtt, 1.0) * 10.0).round() / 10.0,
        })
    );

    // Whole calls, isolated.
    let calls = calls.max(10);
    let host_cpu0 = cpu_of(remote.host.pid);
    let cpu0 = cpu_self();
    let t0 = Instant::now();
    let mut callbacks = 0;
    for i in 0..calls {
        callbacks = call_isolated(&remote, 10 + u64::from(i))?;
    }
    let wall_iso = t0.elapsed();
    let cpu_iso = cpu_self() - cpu0;
    let host_cpu = cpu_of(remote.host.pid).saturating_sub(host_cpu0);
    let _ = remote.host.send(&ToHost::Shutdown);

    // Whole calls, in process.
    let mut reg = Registry::default();
    if reg.load(&file, "{}").is_none() {
        return Err(Failure::input(format!(
            "{}: {}",
            file.display(),
            reg.refused()
                .first()
                .map_or("refused", |r| r.reason.as_str())
        )));
    }
    let board = WakeBoard::default();
    let cpu0 = cpu_self();
    let t0 = Instant::now();
    for i in 0..calls {
        call_in_process(&reg, &name, &board, 1_000_000 + u64::from(i));
    }
    let wall_in = t0.elapsed();
    let cpu_in = cpu_self() - cpu0;
    let per = |d: Duration| (d.as_secs_f64() * 1e6 / f64::from(calls) * 10.0).round() / 10.0;
    println!(
        "{}",
        json!({
            "figure": "whole IVR call, isolated vs in process",
            "handler": name,
            "calls": calls,
            "callbacks_per_call": callbacks,
            "isolated_wall_us_per_call": per(wall_iso),
            "isolated_tipringd_cpu_us_per_call": per(cpu_iso),
            "isolated_host_cpu_us_per_call": per(host_cpu),
            "in_process_wall_us_per_call": per(wall_in),
            "in_process_cpu_us_per_call": per(cpu_in),
            "isolated_over_in_process_cpu": ((cpu_iso + host_cpu).as_secs_f64()
                / cpu_in.as_secs_f64().max(1e-9) * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
