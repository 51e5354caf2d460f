//! SIP benchmarks of `tipringd` against SIPp on loopback (issue 4's "Benchmarks"). Not a
//! timed test: `scripts/bench-sip` builds the daemon in release and runs this example.
//!
//! ```text
//! sip_bench cps --rate 500 --seconds 60            # calls answered per second
//! sip_bench concurrent --calls 2000 --seconds 30   # calls held at once, OPTIONS latency
//! ```
//!
//! Each run starts its own `tipringd` (the release build next to this example, or
//! `--tipringd PATH`) with a config in a temporary directory: one sim phone (the board needs
//! a channel), `[sip]` on a free loopback port with enough channels, and every SIP call
//! routed to the C IVR (`ivr-c`) with prompts made here. The IVR answers and plays its
//! greeting while collecting digits; the greeting is made long enough that the handler is
//! still playing when SIPp hangs up, so Tipring sends audio for the whole call. Everything
//! (daemon, SIPp, files) is stopped and removed when the run ends or fails.
//!
//! # `cps --rate R --seconds S`
//! SIPp runs `tests/sip/uac_load_stream.xml`: R new calls per second for S seconds (R·S
//! calls), each INVITE → 200 → ACK, 1 s of G.711 μ-law speech-like audio sent with SIPp's
//! `rtp_stream` (`--media pcap`: played from a capture with `uac_load.xml`, see below)
//! while Tipring plays its greeting back, BYE after `--hold-ms` (default 1000). Reported:
//! calls attempted, successful, failed and the failure percentage; the achieved rate
//! (answers per second between the first and the last 200, from SIPp's per-response trace)
//! and the worst whole second; setup time (INVITE → 200, SIPp's response-time counter 1)
//! p50/p99/max and BYE → 200; `tipringd`'s CPU over the run from `/proc/PID/stat` (share of
//! one core, and per thread), with the ratios "CPU ms per call" and "calls/s per core"
//! (achieved rate ÷ cores used); the machine's busy share; SIPp's own CPU; a sample of the
//! calls' RTP counters from the API (media both ways; an ended call keeps the figures the
//! media thread last published, up to a second old); media ticks missed; and OPTIONS
//! response times under that load from this example's own probe (below).
//!
//! # `concurrent --calls N --seconds S`
//! SIPp runs `tests/sip/uac_hold.xml`: N calls set up at `--ramp-rate` per second (default
//! 200), each holding until well after the measurement. The daemon runs with
//! `sip.max_media_load = 1.0`, so that its overload limit does not refuse calls while the
//! media thread's cost is measured (`cps` keeps the default 0.9: a call refused for
//! overload counts as failed). Every call's SDP points at an RTP
//! echo in this example (one socket with 32 MB buffers, one thread; `--echo sipp` uses
//! SIPp's `-rtp_echo` instead, see below). Tipring sends its greeting on every call and the
//! echo sends every packet back to the slot that sent it, so every call has G.711 both
//! ways and the media engine runs its DTMF detector on every received frame (it always
//! does); datagrams dropped by full receive buffers, at the echo and at Tipring's RTP
//! sockets, are counted from `/proc/net/udp`.
//!
//! Once the API reports N active calls and 2 s have passed, S seconds are sampled: the SIP
//! media thread's CPU (`utime + stime` delta of `/proc/PID/task/TID/stat`, and the
//! scheduler's run time from `.../schedstat`, which is finer and is the figure reported,
//! over wall time: percent of one core; the busiest single second too), the whole process,
//! the machine, SIPp and this harness; calls per core at that load (N ÷ the media thread's
//! share); µs of media thread per call per 20 ms tick, per idle channel (measured before
//! the calls) and per call above that, and from those a straight-line projection to the
//! issue's 2 000 calls when N is smaller. Meanwhile a second SIPp sends OPTIONS
//! (`tests/sip/uac_options.xml`) at `--options-rate` per second (default 20) with every
//! response time traced (p50/p99/max), and this example's own probe does the same. At the
//! end of the window the API's per-call RTP counters are summed (packets sent and
//! received, concealment) and the calls must all still be up; then SIPp hangs them up.
//!
//! The SIP media thread is found by name: every SIP channel runs on the daemon's last
//! media thread, `tipring-media-K` with the highest K (the sim board has the others).
//!
//! # OPTIONS probe
//! SIPp reports response times in whole milliseconds, and in practice in steps of its event
//! loop's wake-ups (0, 4, 8 … ms on the development machine), which is coarse against a
//! 10 ms target. So in both modes a thread here also sends OPTIONS (`--options-rate` per
//! second, one at a time) from its own UDP socket and times each 200 on a monotonic clock.
//!
//! # Output
//! A compact table on stdout, then one JSON line (`{"bench":"sip","mode":…}`) with every
//! figure; progress and diagnostics on stderr. Each figure is also judged against the
//! issue's target where one applies (`targets` in the JSON); the run itself exits 0 when it
//! completed, 1 when the harness could not run it.
//!
//! # Limits and SIPp options
//! * Open files: each SIP channel owns two UDP sockets (RTP, RTCP), so 2 000 channels need
//!   more than Linux's default soft limit of 1024. `tipringd` raises its own soft limit to
//!   what the config needs (up to the hard limit); this example also raises its own soft
//!   limit to the hard one, which SIPp and the daemon inherit. If the hard limit is short,
//!   raise it (`ulimit -Hn`, `LimitNOFILE=`) before running.
//! * SIPp runs with `-t u1` (one UDP socket for all calls, so `-max_socket` does not
//!   matter), `-nostdin`, `-buff_size 4194304`, `-timer_resol 1` (response times in whole
//!   ms), `-trace_rtt -rtt_freq 1` (every response time, for percentiles), and
//!   `-recv_timeout` (a lost response fails its call instead of hanging the run); the
//!   runner in `tipring-sipkit` adds the first three itself.
//! * `play_pcap_audio` (`cps --media pcap`) sends through a raw socket: SIPp needs root or
//!   `CAP_NET_RAW`. It also starts one thread per playing call (about R threads at once),
//!   and each such raw `IPPROTO_UDP` socket gets a copy of every UDP datagram on the
//!   machine: at 300 calls/s a fifth of Tipring's media thread went to the kernel copying
//!   its packets to them, and SIPp used 0.56 cores. Hence `rtp_stream` by default (SIPp
//!   0.16 cores, Tipring's CPU per call 1.6 ms instead of 2.2).
//! * SIPp's `-rtp_echo` echoes on one socket whose receive buffer is the system default
//!   (`net.core.rmem_default`, typically 208 kB; `-buff_size` covers only SIP sockets).
//!   Tipring sends every call's packet within the same tick, so the burst overflows it: at
//!   300 calls SIPp dropped about 6 % of the packets (7 466 in 8 s), which the far end then
//!   conceals. Hence the echo here, with large buffers (SO_RCVBUFFORCE as root). With
//!   `--echo sipp`, raise `net.core.rmem_default` first. At 2 000 calls either echo
//!   handles 100 000 packets per second each way, a good part of a core; on a 2-core
//!   machine it competes with the daemon, so the machine's busy share and the harness's own
//!   CPU are reported.
//! * The figures are CPU shares, so they need a quiet machine. The report gives the
//!   machine's busy share and the part of it stolen by the hypervisor (`steal` in
//!   `/proc/stat`): on the shared 2-core development VM steal reached 29 %, and then even
//!   the SCHED_FIFO media threads miss ticks (the `missed ticks` figure) and OPTIONS and
//!   set-up times grow tails of tens of milliseconds. Judge a run by those first.
//! * `-l` (concurrency limit) is the daemon's channel count in `cps` mode, so SIPp never
//!   offers more calls than there are channels; if the daemon is slow the achieved rate
//!   falls below R, which the report shows.
//! * The daemon logs at `warn` (`--log LEVEL` to change): per-call `info` lines at 500 calls
//!   per second would measure the logger. Warnings and errors are counted and the first
//!   few printed. The example IVR does not watch for hang-ups: when the caller hangs up
//!   during its greeting it tries its next prompt on the ended call and logs
//!   "play … failed: status 2" (`TIPRING_EGONE`), once per call here; those are counted
//!   apart, not as errors.
//!
//! # Options
//! `--tipringd PATH` (default: next to this example), `--channels N` (default: enough),
//! `--rtp-port P` (first RTP port; default the first free block from 20000),
//! `--rt-priority P` (the media threads' SCHED_FIFO priority; default the daemon's),
//! `--log LEVEL`, `--options-rate R` (default 20), `--hold-ms MS` and
//! `--media stream|pcap` (`cps`), `--ramp-rate R` and `--echo own|sipp` (`concurrent`).

#![recursion_limit = "256"]

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tipring_sipkit::sipp::{SippProcess, SippReport, SippStats};
use tipring_sipkit::stream::RtpParams;
use tipring_sipkit::tempdir::TempDir;
use tipring_sipkit::{pcap, ports, scenarios, sipp};

type Res<T> = Result<T, String>;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The issue's targets.
const TARGET_CPS: f64 = 500.0;
const TARGET_CPS_SECONDS: u64 = 60;
const TARGET_FAILED_PCT: f64 = 0.1;
const TARGET_CALLS: u64 = 2000;
const TARGET_MEDIA_CPU_PCT: f64 = 70.0;
const TARGET_OPTIONS_MS: f64 = 10.0;

fn main() {
    if let Err(e) = run() {
        eprintln!("sip_bench: {e}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: sip_bench cps [--rate R] [--seconds S] [--hold-ms MS] [options]\n       \
     sip_bench concurrent [--calls N] [--seconds S] [--ramp-rate R] [--options-rate R] [options]\n\
     options: --tipringd PATH --channels N --rtp-port P --rt-priority P --log LEVEL --echo own|sipp --media stream|pcap";

#[derive(Debug, Clone)]
struct Opts {
    mode: String,
    rate: f64,
    seconds: u64,
    hold_ms: u64,
    calls: u64,
    ramp_rate: f64,
    options_rate: f64,
    channels: Option<u32>,
    rtp_port: u16,
    rt_priority: Option<u32>,
    log: String,
    tipringd: Option<PathBuf>,
    sipp_echo: bool,
    pcap_media: bool,
}

fn parse_args() -> Res<Opts> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    if !matches!(mode.as_str(), "cps" | "concurrent") {
        return Err(format!("unknown mode {mode:?}\n{USAGE}"));
    }
    let mut o = Opts {
        mode,
        rate: TARGET_CPS,
        seconds: 0,
        hold_ms: 1000,
        calls: TARGET_CALLS,
        ramp_rate: 200.0,
        options_rate: 20.0,
        channels: None,
        rtp_port: 20_000,
        rt_priority: None,
        log: "warn".into(),
        tipringd: None,
        sipp_echo: false,
        pcap_media: false,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |what: &str| -> Res<f64> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("{what} {value:?}: expected a number above 0"))
        };
        match flag.as_str() {
            "--rate" => o.rate = num("--rate")?,
            "--seconds" => o.seconds = num("--seconds")?.round() as u64,
            "--hold-ms" => o.hold_ms = num("--hold-ms")?.round() as u64,
            "--calls" => o.calls = num("--calls")?.round() as u64,
            "--ramp-rate" => o.ramp_rate = num("--ramp-rate")?,
            "--options-rate" => o.options_rate = num("--options-rate")?,
            "--channels" => o.channels = Some(num("--channels")?.round() as u32),
            "--rtp-port" => {
                o.rtp_port = value
                    .parse()
                    .map_err(|_| format!("--rtp-port {value:?}: expected a port"))?
            }
            "--rt-priority" => {
                o.rt_priority = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--rt-priority {value:?}: expected 0..=99"))?,
                )
            }
            "--log" => o.log = value,
            "--echo" => match value.as_str() {
                "own" => o.sipp_echo = false,
                "sipp" => o.sipp_echo = true,
                _ => return Err(format!("--echo {value:?}: expected own or sipp")),
            },
            "--media" => match value.as_str() {
                "stream" => o.pcap_media = false,
                "pcap" => o.pcap_media = true,
                _ => return Err(format!("--media {value:?}: expected stream or pcap")),
            },
            "--tipringd" => o.tipringd = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if o.seconds == 0 {
        o.seconds = if o.mode == "cps" {
            TARGET_CPS_SECONDS
        } else {
            30
        };
    }
    Ok(o)
}

fn run() -> Res<()> {
    let o = parse_args()?;
    if !sipp::sipp_available() {
        return Err(format!(
            "SIPp is not installed ({} -v failed): apt-get install sip-tester \
             (or set {} to the binary)",
            sipp::sipp_binary().display(),
            sipp::SIPP_ENV
        ));
    }
    let nofile = raise_nofile();
    eprintln!("sip_bench: open-files limit {nofile}");
    match o.mode.as_str() {
        "cps" => bench_cps(&o, nofile),
        _ => bench_concurrent(&o, nofile),
    }
}

// ---------------------------------------------------------------------------------------
// Open-files limit
// ---------------------------------------------------------------------------------------

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

const RLIMIT_NOFILE: i32 = 7;

unsafe extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Raises this process's soft open-files limit to the hard one (children inherit it);
/// returns the soft limit in force.
fn raise_nofile() -> u64 {
    let mut l = RLimit { cur: 0, max: 0 };
    // SAFETY: getrlimit writes one `struct rlimit` (two rlim_t, 64-bit on Linux) to a valid
    // pointer to a value of that layout.
    if unsafe { getrlimit(RLIMIT_NOFILE, &mut l) } != 0 {
        return 0;
    }
    if l.cur < l.max {
        let want = RLimit {
            cur: l.max,
            max: l.max,
        };
        // SAFETY: setrlimit reads one `struct rlimit` from a valid pointer.
        if unsafe { setrlimit(RLIMIT_NOFILE, &want) } == 0 {
            return l.max;
        }
    }
    l.cur
}

/// Sends `sig` to `pid`.
fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) takes plain integers; signalling our own child is harmless.
    unsafe {
        kill(pid as i32, sig);
    }
}

// ---------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------

/// The daemon's stderr: counts and tails.
#[derive(Debug, Default)]
struct LogTail {
    warnings: u64,
    errors: u64,
    /// `ivr-c`'s "play … failed: status 2" (`TIPRING_EGONE`): the example IVR does not
    /// watch for the hang-up, so when the caller hangs up during its greeting it tries the
    /// next prompt on the ended call and logs an error. One per call here, not a fault.
    ivr_after_hangup: u64,
    first_problems: Vec<String>,
    last: VecDeque<String>,
}

/// A running `tipringd`; stopped (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
struct Daemon {
    child: Child,
    api: SocketAddr,
    sip: SocketAddr,
    channels: u32,
    rtp_port: u16,
    log: Arc<Mutex<LogTail>>,
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn start(o: &Opts, channels: u32, prompts: &Path, dir: &Path) -> Res<Daemon> {
        let bin = match &o.tipringd {
            Some(p) => p.clone(),
            None => {
                let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
                // target/<profile>/examples/sip_bench → target/<profile>/tipringd
                exe.parent()
                    .and_then(Path::parent)
                    .map(|d| d.join("tipringd"))
                    .ok_or("cannot place tipringd next to this example")?
            }
        };
        if !bin.is_file() {
            return Err(format!(
                "{} not found: cargo build --release -p tipringd -p tipring-example-ivr-c \
                 (scripts/bench-sip does), or --tipringd PATH",
                bin.display()
            ));
        }
        let sip_port = ports::free_udp_port(LOOPBACK).map_err(|e| e.to_string())?;
        let api_port = ports::free_tcp_port(LOOPBACK).map_err(|e| e.to_string())?;
        let rtp_port = free_port_block(o.rtp_port, 2 * channels, sip_port)?;
        let rt = o
            .rt_priority
            .map_or(String::new(), |p| format!("rt_priority = {p}\n"));
        // `concurrent` measures what the media thread does with every call up, so the
        // overload limit must not refuse any; `cps` keeps the default (0.9).
        let load = if o.mode == "concurrent" {
            "max_media_load = 1.0\n"
        } else {
            ""
        };
        let toml = format!(
            "[daemon]\napi = \"127.0.0.1:{api_port}\"\ndrain_seconds = 1\n{rt}\n\
             [board]\nphones = 1\ntrunks = 0\n\n\
             [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nchannels = {channels}\nrtp_port = {rtp_port}\n{load}\n\
             [[route]]\nkind = \"sip\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
            prompts.display()
        );
        let cfg = dir.join("tipring.toml");
        std::fs::write(&cfg, &toml).map_err(|e| format!("{}: {e}", cfg.display()))?;
        let mut child = Command::new(&bin)
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", &o.log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let log = Arc::new(Mutex::new(LogTail::default()));
        if let Some(err) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                    let warn = line.contains(" WARN ");
                    let mut error = line.contains(" ERROR ");
                    if error && line.contains("failed: status 2") && line.contains("handler=ivr-c")
                    {
                        l.ivr_after_hangup += 1;
                        error = false;
                    }
                    l.warnings += u64::from(warn);
                    l.errors += u64::from(error);
                    if (warn || error) && l.first_problems.len() < 5 {
                        l.first_problems.push(line.clone());
                    }
                    if l.last.len() == 20 {
                        l.last.pop_front();
                    }
                    l.last.push_back(line);
                }
            });
        }
        let mut d = Daemon {
            child,
            api: SocketAddr::new(LOOPBACK, api_port),
            sip: SocketAddr::new(LOOPBACK, sip_port),
            channels,
            rtp_port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = d.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "tipringd exited at start ({st}); it said:\n{}",
                    d.tail()
                ));
            }
            if ports::udp_port_bound_by(d.pid(), sip_port) && http_json(d.api, "/v1/health").is_ok()
            {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "tipringd not ready after 60 s (SIP port {sip_port}, API {}); it said:\n{}",
                    d.api,
                    d.tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tail(&self) -> String {
        let l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        l.last.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn health(&self) -> Value {
        http_json(self.api, "/v1/health").unwrap_or(Value::Null)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The SIP channels' media thread: the `tipring-media-K` with the highest K.
    fn media_thread(&self) -> Res<(u32, String)> {
        let mut best: Option<(u32, u32, String)> = None;
        for (tid, comm) in threads(self.pid()) {
            if let Some(k) = comm
                .strip_prefix("tipring-media-")
                .and_then(|k| k.parse::<u32>().ok())
                && best.as_ref().is_none_or(|b| k > b.0)
            {
                best = Some((k, tid, comm));
            }
        }
        best.map(|(_, tid, comm)| (tid, comm))
            .ok_or_else(|| "no tipring-media-N thread in the daemon".to_string())
    }

    fn log_json(&self) -> Value {
        let l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        json!({"warnings": l.warnings, "errors": l.errors,
               "ivr_play_after_hangup": l.ivr_after_hangup, "first": l.first_problems})
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            signal(self.pid(), 15);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !self.alive() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The first port `p ≥ from` (even) such that `n` ports from `p` are free on loopback and
/// `avoid` is not among them.
fn free_port_block(from: u16, n: u32, avoid: u16) -> Res<u16> {
    let mut p = u32::from(from) & !1;
    while p + n <= 65_535 {
        let taken = (p..p + n)
            .find(|&q| q == u32::from(avoid) || UdpSocket::bind((LOOPBACK, q as u16)).is_err());
        match taken {
            Some(q) => p = (q + 2) & !1,
            None => return Ok(p as u16),
        }
    }
    Err(format!("no block of {n} free UDP ports from {from}"))
}

/// GET `path` on the API; its JSON body.
fn http_json(api: SocketAddr, path: &str) -> Res<Value> {
    let mut s = TcpStream::connect_timeout(&api, Duration::from_secs(2))
        .map_err(|e| format!("connecting to the API: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("API request: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("API answer: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("API answer without a body")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")));
    }
    serde_json::from_str(body.trim()).map_err(|e| format!("GET {path}: {e}"))
}

// ---------------------------------------------------------------------------------------
// Prompts and captures
// ---------------------------------------------------------------------------------------

fn speech(seed: u64, ms: u64) -> Vec<i16> {
    let mut sp = tipring_dsp::synth::SpeechLike::new(seed, -20.0);
    (0..ms * 8)
        .map(|_| tipring_dsp::osc::sat_i16(sp.next_sample()))
        .collect()
}

/// The IVR's prompts: the greeting lasts `greeting_ms`, the rest 400 ms (speech-like
/// bursts, no DTMF in them).
fn make_prompts(dir: &Path, greeting_ms: u64) -> Res<PathBuf> {
    let p = dir.join("prompts");
    std::fs::create_dir_all(p.join("digits")).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut names: Vec<String> = ["goodbye", "pbx-invalid", "please-try-call-later"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend((0..10).map(|d| format!("digits/{d}")));
    names.extend(["digits/star".into(), "digits/pound".into()]);
    for (i, n) in names.iter().enumerate() {
        tipringd::wav::write(&p.join(format!("{n}.wav")), &speech(i as u64 + 2, 400))?;
    }
    tipringd::wav::write(&p.join("hello-world.wav"), &speech(1, greeting_ms))?;
    Ok(p)
}

// ---------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------

/// `(tid, comm)` of every thread of `pid`.
fn threads(pid: u32) -> Vec<(u32, String)> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, comm.trim().to_string()))
        })
        .collect()
}

/// Fields after the `(comm)` of a `stat` file: index 0 is field 3 (state).
fn stat_fields(path: &str) -> Option<Vec<u64>> {
    let t = std::fs::read_to_string(path).ok()?;
    let rest = &t[t.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime (clock ticks) of a `stat` file.
fn cpu_ticks(path: &str) -> Option<u64> {
    let f = stat_fields(path)?;
    Some(f.get(11)? + f.get(12)?)
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// `(busy, steal, total)` jiffies of all CPUs, from `/proc/stat`. Busy includes steal
/// (time the hypervisor gave to other guests: this guest wanted to run and could not).
fn machine_jiffies() -> Option<(u64, u64, u64)> {
    let t = std::fs::read_to_string("/proc/stat").ok()?;
    let line = t.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, v.get(7).copied().unwrap_or(0), total))
}

/// SIPp processes that are our children.
fn sipp_pids() -> Vec<u32> {
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "sipp"
                && stat_fields(&format!("/proc/{pid}/stat"))
                    .and_then(|f| f.get(1).copied())
                    .is_some_and(|ppid| ppid == u64::from(me))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    process: u64,
    /// tid → (comm, ticks, scheduler run time ns)
    threads: BTreeMap<u32, (String, u64, Option<u64>)>,
    machine: Option<(u64, u64, u64)>,
    sipp: BTreeMap<u32, u64>,
    /// This process (the echo and probe threads).
    me: u64,
}

fn snapshot(pid: u32) -> Snapshot {
    let mut threads_map = BTreeMap::new();
    for (tid, comm) in threads(pid) {
        let base = format!("/proc/{pid}/task/{tid}");
        if let Some(t) = cpu_ticks(&format!("{base}/stat")) {
            let ns = std::fs::read_to_string(format!("{base}/schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            threads_map.insert(tid, (comm, t, ns));
        }
    }
    Snapshot {
        at: Instant::now(),
        process: cpu_ticks(&format!("/proc/{pid}/stat")).unwrap_or(0),
        threads: threads_map,
        machine: machine_jiffies(),
        sipp: sipp_pids()
            .into_iter()
            .filter_map(|p| Some((p, cpu_ticks(&format!("/proc/{p}/stat"))?)))
            .collect(),
        me: cpu_ticks("/proc/self/stat").unwrap_or(0),
    }
}

/// CPU use between two snapshots, as percent of one core.
#[derive(Debug, Clone)]
struct CpuDelta {
    wall_s: f64,
    process_pct: f64,
    /// comm → percent of one core (threads of the same name summed).
    threads: Vec<(String, f64)>,
    machine_pct: Option<f64>,
    /// Of which stolen by the hypervisor.
    steal_pct: Option<f64>,
    sipp_pct: f64,
    harness_pct: f64,
}

fn cpu_delta(a: &Snapshot, b: &Snapshot, tck: f64) -> CpuDelta {
    let wall_s = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let pct = |ticks: u64| ticks as f64 / tck / wall_s * 100.0;
    let mut by_name: HashMap<String, u64> = HashMap::new();
    for (tid, (comm, t, _)) in &b.threads {
        let before = a.threads.get(tid).map_or(0, |x| x.1);
        *by_name.entry(comm.clone()).or_default() += t.saturating_sub(before);
    }
    let mut threads: Vec<(String, f64)> = by_name
        .into_iter()
        .map(|(n, t)| (n, pct(t)))
        .filter(|(_, p)| *p > 0.0)
        .collect();
    threads.sort_by(|x, y| y.1.total_cmp(&x.1));
    let (machine_pct, steal_pct) = match (a.machine, b.machine) {
        (Some((ba, sa, ta)), Some((bb, sb, tb))) if tb > ta => {
            let total = (tb - ta) as f64;
            (
                Some((bb - ba) as f64 / total * 100.0),
                Some(sb.saturating_sub(sa) as f64 / total * 100.0),
            )
        }
        _ => (None, None),
    };
    CpuDelta {
        wall_s,
        process_pct: pct(b.process.saturating_sub(a.process)),
        threads,
        machine_pct,
        steal_pct,
        sipp_pct: 0.0,
        harness_pct: pct(b.me.saturating_sub(a.me)),
    }
}

/// SIPp's CPU over a series of snapshots, percent of one core: each process's use between
/// consecutive snapshots that both saw it (SIPp processes start and exit during a run).
fn sipp_pct(snaps: &[Snapshot], tck: f64) -> f64 {
    let (Some(a), Some(b)) = (snaps.first(), snaps.last()) else {
        return 0.0;
    };
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let ticks: u64 = snaps
        .windows(2)
        .map(|w| {
            w[1].sipp
                .iter()
                .filter_map(|(p, t)| Some(t.saturating_sub(*w[0].sipp.get(p)?)))
                .sum::<u64>()
        })
        .sum();
    ticks as f64 / tck / wall * 100.0
}

/// One thread's share of a core between two snapshots: (from utime+stime, from the
/// scheduler's run time when readable).
fn thread_pct(a: &Snapshot, b: &Snapshot, tid: u32, tck: f64) -> (f64, Option<f64>) {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let (Some(x), Some(y)) = (a.threads.get(&tid), b.threads.get(&tid)) else {
        return (0.0, None);
    };
    let ticks = y.1.saturating_sub(x.1) as f64 / tck / wall * 100.0;
    let ns = match (x.2, y.2) {
        (Some(p), Some(q)) => Some(q.saturating_sub(p) as f64 / 1e9 / wall * 100.0),
        _ => None,
    };
    (ticks, ns)
}

// ---------------------------------------------------------------------------------------
// SIPp helpers
// ---------------------------------------------------------------------------------------

/// The statistics SIPp has dumped so far (every second).
fn live_stats(p: &SippProcess) -> Option<SippStats> {
    let t = std::fs::read_to_string(p.dir().join("stat.csv")).ok()?;
    SippStats::parse(&t).ok()
}

/// Every traced response time with its date: `(date_ms, ms, rtd)`.
fn rtt_with_dates(p: &SippProcess) -> Vec<(f64, f64, u32)> {
    let Ok(rd) = std::fs::read_dir(p.dir()) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for e in rd.filter_map(|e| e.ok()) {
        if !e.file_name().to_string_lossy().ends_with("_rtt.csv") {
            continue;
        }
        let t = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in t.lines().skip(1) {
            let mut f = l.split(';');
            let (Some(d), Some(ms), Some(n)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if let (Ok(d), Ok(ms), Ok(n)) = (
                d.trim().parse::<f64>(),
                ms.trim().parse::<f64>(),
                n.trim().parse::<u32>(),
            ) {
                v.push((d, ms, n));
            }
        }
    }
    v
}

fn pctl(r: &SippReport, rtd: u32, p: f64) -> Option<f64> {
    r.rtt_percentile(rtd, p)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets" } else { "MISSES" }
}

/// Waits for a SIPp run to end by itself, sampling the daemon every second; returns the
/// snapshots, the dated response times and the report.
fn wait_sipp(
    p: SippProcess,
    d: &mut Daemon,
    label: &str,
    mut each_second: impl FnMut(&SippProcess, &Snapshot),
) -> (Vec<Snapshot>, Vec<(f64, f64, u32)>, SippReport) {
    let mut p = p;
    let mut snaps = vec![snapshot(d.pid())];
    while p.is_running() {
        std::thread::sleep(Duration::from_millis(1000));
        let s = snapshot(d.pid());
        each_second(&p, &s);
        snaps.push(s);
        if let Some(st) = live_stats(&p) {
            eprintln!(
                "sip_bench: {label}: {} created, {} current, {} ok, {} failed",
                st.created, st.current, st.successful, st.failed
            );
        }
        if !d.alive() {
            eprintln!("sip_bench: tipringd died:\n{}", d.tail());
            break;
        }
    }
    snaps.push(snapshot(d.pid()));
    let rtt = rtt_with_dates(&p);
    (snaps, rtt, p.wait())
}

fn failure_lines(r: &SippReport) -> Value {
    json!(
        r.stats
            .as_ref()
            .map(|s| s.failures.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| json!({ k: v }))
            .collect::<Vec<_>>()
    )
}

// ---------------------------------------------------------------------------------------
// RTP echo
// ---------------------------------------------------------------------------------------

const SOL_SOCKET: i32 = 1;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_SNDBUFFORCE: i32 = 32;
const SO_RCVBUFFORCE: i32 = 33;

unsafe extern "C" {
    fn setsockopt(fd: i32, level: i32, name: i32, value: *const core::ffi::c_void, len: u32)
    -> i32;
}

/// Asks for `bytes` of socket buffer each way (beyond `rmem_max` when root).
fn big_buffers(sock: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
        let v: i32 = bytes;
        let p = (&v as *const i32).cast();
        // SAFETY: setsockopt reads `len` bytes from a valid pointer to an i32, on a socket
        // this process owns.
        if unsafe { setsockopt(fd, SOL_SOCKET, force, p, 4) } != 0 {
            // SAFETY: as above.
            unsafe { setsockopt(fd, SOL_SOCKET, plain, p, 4) };
        }
    }
}

/// The media peer of the `concurrent` calls: every RTP packet that arrives is sent back to
/// where it came from (Tipring's slot socket), on one socket with large buffers, in one
/// thread. RTCP (the port above) is read and dropped. The calls' SDP points here instead
/// of at SIPp's media port (see the module docs, "SIPp's -rtp_echo").
#[derive(Debug)]
struct Echo {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    echoed: Arc<std::sync::atomic::AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Res<Echo> {
        let (rtp, rtcp) = (0..64)
            .find_map(|_| {
                let a = UdpSocket::bind((LOOPBACK, 0)).ok()?;
                let p = a.local_addr().ok()?.port();
                let b = UdpSocket::bind((LOOPBACK, p.checked_add(1)?)).ok()?;
                (p % 2 == 0).then_some((a, b))
            })
            .ok_or("no free even UDP port pair for the RTP echo")?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        big_buffers(&rtp, 32 << 20);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let echoed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut threads = Vec::new();
        for (sock, reply) in [(rtp, true), (rtcp, false)] {
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            let stop = Arc::clone(&stop);
            let echoed = Arc::clone(&echoed);
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok((n, from)) = sock.recv_from(&mut buf)
                        && reply
                        && sock.send_to(&buf[..n], from).is_ok()
                    {
                        echoed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        Ok(Echo {
            port,
            stop,
            echoed,
            threads,
        })
    }

    fn echoed(&self) -> u64 {
        self.echoed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Datagrams the kernel dropped (receive buffer full) on loopback UDP sockets bound to a
/// port for which `want` is true, from `/proc/net/udp`.
fn udp_drops(want: impl Fn(u16) -> bool) -> u64 {
    let Ok(t) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    t.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.split(':').nth(1)?, 16).ok()?;
            let drops = f.last()?.parse::<u64>().ok()?;
            want(port).then_some(drops)
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// OPTIONS probe
// ---------------------------------------------------------------------------------------

/// OPTIONS sent from here, one at a time at `rate` per second, each timed on a monotonic
/// clock to the microsecond: a cross-check of SIPp's response times, which come in whole
/// milliseconds (and in practice in steps of its event loop's wake-ups).
#[derive(Debug)]
struct OptionsProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<f64>, u64)>>,
}

impl OptionsProbe {
    fn start(target: SocketAddr, rate: f64) -> Res<OptionsProbe> {
        let sock = UdpSocket::bind((LOOPBACK, 0)).map_err(|e| format!("probe socket: {e}"))?;
        let local = sock
            .local_addr()
            .map_err(|e| format!("probe socket: {e}"))?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| format!("probe socket: {e}"))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let period = Duration::from_secs_f64(1.0 / rate);
        let thread = std::thread::spawn(move || {
            let mut times = Vec::new();
            let mut lost = 0u64;
            let mut buf = [0u8; 4096];
            let mut next = Instant::now();
            let mut n = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let call_id = format!("sip-bench-probe-{n}-{}", std::process::id());
                let msg = format!(
                    "OPTIONS sip:1000@{target} SIP/2.0\r\n\
                     Via: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{n};rport\r\n\
                     Max-Forwards: 70\r\n\
                     From: <sip:probe@{local}>;tag=probe{n}\r\n\
                     To: <sip:1000@{target}>\r\n\
                     Call-ID: {call_id}\r\n\
                     CSeq: 1 OPTIONS\r\n\
                     Contact: <sip:probe@{local}>\r\n\
                     Accept: application/sdp\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                let sent = Instant::now();
                if sock.send_to(msg.as_bytes(), target).is_err() {
                    lost += 1;
                } else {
                    // Wait up to 2 s for the 200 of this one (stray answers are skipped).
                    let give_up = sent + Duration::from_secs(2);
                    loop {
                        match sock.recv_from(&mut buf) {
                            Ok((k, _)) => {
                                let t = String::from_utf8_lossy(&buf[..k]);
                                if t.starts_with("SIP/2.0 200") && t.contains(call_id.as_str()) {
                                    times.push(sent.elapsed().as_secs_f64() * 1000.0);
                                    break;
                                }
                            }
                            Err(_) if Instant::now() < give_up => {}
                            Err(_) => {
                                lost += 1;
                                break;
                            }
                        }
                    }
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            (times, lost)
        });
        Ok(OptionsProbe {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops it; `{sent, answered, lost, p50_ms, p99_ms, max_ms}`.
    fn finish(mut self) -> Value {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut t, lost) = self
            .thread
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        t.sort_by(f64::total_cmp);
        let q = |p: f64| -> Option<f64> {
            if t.is_empty() {
                return None;
            }
            let rank = ((p / 100.0) * t.len() as f64).ceil() as usize;
            Some(round(t[rank.clamp(1, t.len()) - 1], 3))
        };
        json!({"sent": t.len() as u64 + lost, "answered": t.len(), "lost": lost,
               "p50_ms": q(50.0), "p99_ms": q(99.0), "max_ms": q(100.0)})
    }
}

impl Drop for OptionsProbe {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn probe_line(p: &Value) -> String {
    let f = |k: &str| p[k].as_f64().map_or("-".into(), |x| format!("{x:.2}"));
    format!(
        "{} sent, {} unanswered; response p50 {} p99 {} max {} ms",
        p["sent"],
        p["lost"],
        f("p50_ms"),
        f("p99_ms"),
        f("max_ms")
    )
}

// ---------------------------------------------------------------------------------------
// cps
// ---------------------------------------------------------------------------------------

fn bench_cps(o: &Opts, nofile: u64) -> Res<()> {
    if o.pcap_media && !sipp::can_play_pcap() {
        return Err(
            "SIPp plays captures through a raw socket: run as root or with \
                    CAP_NET_RAW"
                .into(),
        );
    }
    let calls = (o.rate * o.seconds as f64).round() as u64;
    // About R calls are up at once (1 s of media plus set-up); twice that, plus a margin.
    let channels = o
        .channels
        .unwrap_or_else(|| (o.rate * (o.hold_ms as f64 / 1000.0 + 0.5) * 2.0).ceil() as u32 + 16);
    let dir = TempDir::new("sip-bench").map_err(|e| e.to_string())?;
    let prompts = make_prompts(dir.path(), o.hold_ms + 5000)?;
    let caller_audio = speech(99, 1000);
    let media = if o.pcap_media {
        let cap = dir.join("speech-1s.pcap");
        pcap::write_ulaw(&cap, &caller_audio, RtpParams::default()).map_err(|e| e.to_string())?;
        cap
    } else {
        let raw = dir.join("speech-1s.ulaw");
        let bytes: Vec<u8> = caller_audio
            .iter()
            .map(|&x| tipring_dsp::g711::linear_to_ulaw(x))
            .collect();
        std::fs::write(&raw, bytes).map_err(|e| format!("{}: {e}", raw.display()))?;
        raw
    };
    let mut d = Daemon::start(o, channels, &prompts, dir.path())?;
    let tck = clk_tck();
    let health0 = d.health();
    eprintln!(
        "sip_bench: tipringd pid {} SIP {} RTP {}.. ({} channels); SIPp: {calls} calls at {}/s",
        d.pid(),
        d.sip,
        d.rtp_port,
        d.channels,
        o.rate
    );
    let probe = OptionsProbe::start(d.sip, o.options_rate)?;
    let hold = Duration::from_millis(o.hold_ms);
    let load = if o.pcap_media {
        scenarios::uac_load(d.sip, &media, hold)
    } else {
        Ok(scenarios::uac_load_stream(d.sip, &media, hold))
    }
    .map_err(|e| e.to_string())?
    .rate(o.rate)
    .calls(Some(calls))
    .limit(u64::from(channels))
    .timeout(Duration::from_secs(o.seconds + 60 + o.hold_ms / 1000))
    .recv_timeout(Duration::from_secs(10))
    .timer_resolution_ms(1)
    .trace_rtt(true)
    .start()
    .map_err(|e| e.to_string())?;
    let (snaps, dated, report) = wait_sipp(load, &mut d, "load", |_, _| {});
    let probe = probe.finish();
    let first = &snaps[0];
    let last = &snaps[snaps.len() - 1];
    let mut cpu = cpu_delta(first, last, tck);
    cpu.sipp_pct = sipp_pct(&snaps, tck);
    let health1 = d.health();

    let st = report.stats.clone().unwrap_or_default();
    // Calls SIPp created; those neither successful nor failed when it stopped count failed.
    let attempted = st.created;
    let successful = st.successful;
    let failed = attempted.saturating_sub(successful);
    let failed_pct = if attempted > 0 {
        failed as f64 / attempted as f64 * 100.0
    } else {
        100.0
    };
    // Answers (rtd 1) per second between the first and the last.
    let mut answers: Vec<f64> = dated.iter().filter(|x| x.2 == 1).map(|x| x.0).collect();
    answers.sort_by(f64::total_cmp);
    // Dates are ms since SIPp started (`Date_ms` of the `-trace_rtt` file).
    let date_unit_s = 1e-3;
    let achieved = match (answers.first(), answers.last()) {
        (Some(a), Some(b)) if b > a => (answers.len() - 1) as f64 / ((b - a) * date_unit_s),
        _ => 0.0,
    };
    let worst_second = worst_whole_second(&answers, date_unit_s);
    let cores_used = cpu.process_pct / 100.0;
    let cpu_ms_per_call = if successful > 0 {
        cpu.process_pct / 100.0 * cpu.wall_s * 1000.0 / successful as f64
    } else {
        0.0
    };
    let cps_per_core = if cores_used > 0.0 {
        achieved / cores_used
    } else {
        0.0
    };
    let media = sample_calls_rtp(&d, attempted);
    let missed = |h: &Value| h["media"]["missed_ticks"].as_u64().unwrap_or(0);
    let missed_ticks = missed(&health1).saturating_sub(missed(&health0));

    let full_scale = o.rate >= TARGET_CPS && o.seconds >= TARGET_CPS_SECONDS;
    let fail_ok = failed_pct <= TARGET_FAILED_PCT;
    let rate_ok = achieved >= o.rate * 0.99;
    let probe_ok = probe["lost"] == 0
        && probe["max_ms"]
            .as_f64()
            .is_some_and(|m| m <= TARGET_OPTIONS_MS);

    println!(
        "SIP cps: {} calls/s offered for {} s, hold {} ms, {} channels",
        o.rate, o.seconds, o.hold_ms, channels
    );
    println!(
        "  calls        attempted {attempted}, successful {successful}, failed {failed} ({failed_pct:.3} %)  [target ≤ {TARGET_FAILED_PCT} %: {}]",
        verdict(fail_ok)
    );
    println!(
        "  rate         achieved {achieved:.1} calls/s (worst whole second {})  [offered {}: {}]",
        opt(worst_second),
        o.rate,
        verdict(rate_ok)
    );
    println!(
        "  setup ms     INVITE→200 p50 {} p99 {} max {}; BYE→200 p50 {} p99 {}",
        opt(pctl(&report, 1, 50.0)),
        opt(pctl(&report, 1, 99.0)),
        opt(pctl(&report, 1, 100.0)),
        opt(pctl(&report, 2, 50.0)),
        opt(pctl(&report, 2, 99.0))
    );
    println!(
        "  tipringd CPU {:.1} % of one core over {:.1} s ({cores_used:.2} cores); {cpu_ms_per_call:.3} CPU ms per call; {cps_per_core:.0} calls/s per core",
        cpu.process_pct, cpu.wall_s
    );
    println!("  threads      {}", threads_line(&cpu.threads));
    println!(
        "  OPTIONS      own probe (µs clock) at {}/s during the load: {}  [target ≤ {TARGET_OPTIONS_MS} ms: {}]",
        o.options_rate,
        probe_line(&probe),
        verdict(probe_ok)
    );
    println!(
        "  machine      {} % of all cores busy (stolen by the hypervisor: {} %); SIPp {:.1} % of one core; this harness (echo, probe) {:.1} %",
        opt(cpu.machine_pct),
        opt(cpu.steal_pct),
        cpu.sipp_pct,
        cpu.harness_pct
    );
    println!(
        "  media        {}; missed ticks {missed_ticks}",
        media_line(&media)
    );
    if !full_scale {
        println!("  (not the issue's scale: {TARGET_CPS} calls/s for {TARGET_CPS_SECONDS} s)");
    }
    print_log(&d);
    let j = json!({
        "bench": "sip", "mode": "cps",
        "offered_cps": o.rate, "planned": calls, "seconds": o.seconds, "hold_ms": o.hold_ms, "channels": channels,
        "attempted": attempted, "successful": successful, "failed": failed,
        "failed_pct": round(failed_pct, 4),
        "sipp_failures": failure_lines(&report),
        "achieved_cps": round(achieved, 2),
        "worst_second_cps": worst_second,
        "setup_ms": {"p50": pctl(&report, 1, 50.0), "p99": pctl(&report, 1, 99.0), "max": pctl(&report, 1, 100.0),
                      "mean": st.response_times.first().map(|r| r.mean.as_secs_f64() * 1000.0)},
        "bye_ms": {"p50": pctl(&report, 2, 50.0), "p99": pctl(&report, 2, 99.0), "max": pctl(&report, 2, 100.0)},
        "tipringd_cpu_pct_of_core": round(cpu.process_pct, 2),
        "tipringd_cores": round(cores_used, 3),
        "cpu_ms_per_call": round(cpu_ms_per_call, 4),
        "cps_per_core": round(cps_per_core, 1),
        "threads_pct_of_core": threads_json(&cpu.threads),
        "machine_busy_pct": cpu.machine_pct.map(|x| round(x, 1)),
        "machine_steal_pct": cpu.steal_pct.map(|x| round(x, 1)),
        "sipp_cpu_pct_of_core": round(cpu.sipp_pct, 1),
        "harness_cpu_pct_of_core": round(cpu.harness_pct, 1),
        "wall_s": round(cpu.wall_s, 2),
        "media_sample": media,
        "options_probe": probe,
        "missed_ticks": missed_ticks,
        "daemon_log": d.log_json(),
        "open_files_limit": nofile,
        "full_scale": full_scale,
        "targets": {"failed_pct_le_0_1": fail_ok, "achieved_ge_offered": rate_ok,
                    "options_probe_max_le_10ms": probe_ok,
                    "full_scale_met": full_scale && fail_ok && rate_ok},
        "sipp_exit": format!("{:?}", report.exit),
    });
    println!("{j}");
    if !report.success() && successful == 0 {
        eprintln!("sip_bench: SIPp: {}", report.summary());
    }
    Ok(())
}

/// The fewest answers in a whole second strictly between the first and the last.
fn worst_whole_second(dates: &[f64], unit_s: f64) -> Option<f64> {
    let secs: Vec<i64> = dates.iter().map(|d| (d * unit_s).floor() as i64).collect();
    let (a, b) = (*secs.first()?, *secs.last()?);
    if b - a < 2 {
        return None;
    }
    let mut counts: BTreeMap<i64, u64> = (a + 1..b).map(|s| (s, 0)).collect();
    for s in secs {
        if let Some(c) = counts.get_mut(&s) {
            *c += 1;
        }
    }
    counts.values().min().map(|&c| c as f64)
}

/// RTP counters of up to 10 calls among the last 1 000 of ids 1..=n (what the daemon keeps), from the API.
fn sample_calls_rtp(d: &Daemon, n: u64) -> Value {
    // The daemon keeps the last 1 000 ended calls: sample ten among those.
    let first = n.saturating_sub(999).max(1);
    let step = ((n - first.min(n)) / 10).max(1);
    let mut v = Vec::new();
    let mut id = first;
    while id <= n && v.len() < 10 {
        if let Ok(c) = http_json(d.api, &format!("/v1/calls/{id}"))
            && let Some(r) = c.get("rtp").filter(|r| !r.is_null())
        {
            v.push(json!({
                "id": id,
                "state": c["state"],
                "sent": r["packets_sent"],
                "received": r["packets_received"],
                "concealed_ms": r["concealed_ms"],
            }));
        }
        id += step;
    }
    Value::Array(v)
}

fn media_line(m: &Value) -> String {
    let a = m.as_array().cloned().unwrap_or_default();
    if a.is_empty() {
        return "no RTP figures from the API".into();
    }
    let sum = |k: &str| a.iter().map(|x| x[k].as_u64().unwrap_or(0)).sum::<u64>();
    format!(
        "{} calls sampled: on average {} RTP packets sent, {} received, {} ms concealed",
        a.len(),
        sum("sent") / a.len() as u64,
        sum("received") / a.len() as u64,
        sum("concealed_ms") / a.len() as u64
    )
}

fn threads_line(t: &[(String, f64)]) -> String {
    t.iter()
        .take(6)
        .map(|(n, p)| format!("{n} {p:.1} %"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn threads_json(t: &[(String, f64)]) -> Value {
    Value::Object(
        t.iter()
            .map(|(n, p)| (n.clone(), json!(round(*p, 2))))
            .collect(),
    )
}

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

fn print_log(d: &Daemon) {
    let l = d.log.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "  daemon log   {} warnings, {} errors (and {} ivr-c \"play … failed: status 2\" after \
         the caller hung up: a handler that ignores hang-ups)",
        l.warnings, l.errors, l.ivr_after_hangup
    );
    for line in &l.first_problems {
        let cut: String = line.chars().take(200).collect();
        println!("               {cut}");
    }
}

// ---------------------------------------------------------------------------------------
// concurrent
// ---------------------------------------------------------------------------------------

fn bench_concurrent(o: &Opts, nofile: u64) -> Res<()> {
    let n = o.calls;
    let channels = o.channels.unwrap_or_else(|| (n + (n / 20).max(16)) as u32);
    let ramp_s = n as f64 / o.ramp_rate;
    // Every call outlasts the ramp (with slack), the settling and the window; SIPp hangs
    // them up after it. The greeting outlasts the hold, so Tipring sends all along.
    let hold_ms = ((ramp_s * 1.5 + 2.0 + o.seconds as f64 + 5.0) * 1000.0).ceil() as u64;
    let dir = TempDir::new("sip-bench").map_err(|e| e.to_string())?;
    let prompts = make_prompts(dir.path(), hold_ms + 30_000)?;
    let mut d = Daemon::start(o, channels, &prompts, dir.path())?;
    let tck = clk_tck();
    let (media_tid, media_name) = d.media_thread()?;
    eprintln!(
        "sip_bench: tipringd pid {} SIP {} RTP {}.. ({} channels), SIP media thread {media_name} \
         (tid {media_tid}); ramping {n} calls at {}/s, each held {:.1} s",
        d.pid(),
        d.sip,
        d.rtp_port,
        d.channels,
        o.ramp_rate,
        hold_ms as f64 / 1000.0
    );
    let health0 = d.health();
    let idle = {
        let a = snapshot(d.pid());
        std::thread::sleep(Duration::from_secs(2));
        let b = snapshot(d.pid());
        let (t, ns) = thread_pct(&a, &b, media_tid, tck);
        ns.unwrap_or(t)
    };
    let ramp_started = Instant::now();
    let echo = if o.sipp_echo {
        None
    } else {
        Some(Echo::start()?)
    };
    let hold = uac_hold(d.sip, Duration::from_millis(hold_ms));
    let hold = match &echo {
        Some(e) => hold.rtp_port(e.port),
        None => hold.arg("-rtp_echo"),
    };
    let mut load = hold
        .rate(o.ramp_rate)
        .calls(Some(n))
        .limit(n)
        .timeout(Duration::from_millis(hold_ms) + Duration::from_secs_f64(ramp_s + 60.0))
        .recv_timeout(Duration::from_secs(10))
        .timer_resolution_ms(1)
        .trace_rtt(true)
        .start()
        .map_err(|e| e.to_string())?;
    // All up?
    let up_by = ramp_started + Duration::from_secs_f64(ramp_s * 1.5 + 10.0);
    let mut active = 0;
    loop {
        active = d.health()["active_calls"].as_u64().unwrap_or(active);
        if active >= n {
            break;
        }
        if !load.is_running() || !d.alive() || Instant::now() > up_by {
            let st = live_stats(&load);
            return Err(format!(
                "only {active} of {n} calls up after {:.1} s (SIPp: {}); tipringd said:\n{}",
                ramp_started.elapsed().as_secs_f64(),
                st.map_or("no statistics".into(), |s| format!(
                    "{} created, {} current, {} failed {:?}",
                    s.created, s.current, s.failed, s.failures
                )),
                d.tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ramp_took = ramp_started.elapsed().as_secs_f64();
    eprintln!("sip_bench: {n} calls up after {ramp_took:.1} s; settling 2 s");
    std::thread::sleep(Duration::from_secs(2));
    let failed_before = live_stats(&load).map_or(0, |s| s.failed);

    // The window: OPTIONS alongside, the daemon sampled every second.
    let probe = OptionsProbe::start(d.sip, o.options_rate)?;
    let options_calls = ((o.options_rate * o.seconds as f64).round() as u64).max(1);
    let options = scenarios::uac_options(d.sip)
        .rate(o.options_rate)
        .calls(Some(options_calls))
        .timeout(Duration::from_secs(o.seconds + 30))
        .recv_timeout(Duration::from_secs(5))
        .timer_resolution_ms(1)
        .trace_rtt(true)
        .start()
        .map_err(|e| e.to_string())?;
    let echo_port = echo.as_ref().map_or(load.media_port(), |e| e.port);
    let (rtp_lo, rtp_hi) = (d.rtp_port, u32::from(d.rtp_port) + 2 * d.channels);
    let drops = || {
        (
            udp_drops(|p| p == echo_port),
            udp_drops(|p| p >= rtp_lo && u32::from(p) < rtp_hi),
        )
    };
    let drops0 = drops();
    let echoed0 = echo.as_ref().map_or(0, Echo::echoed);
    let w0 = snapshot(d.pid());
    let mut window = vec![w0.clone()];
    let mut per_second: Vec<f64> = Vec::new();
    let mut min_active = u64::MAX;
    let window_end = w0.at + Duration::from_secs(o.seconds);
    while Instant::now() < window_end {
        let left = window_end.saturating_duration_since(Instant::now());
        std::thread::sleep(left.min(Duration::from_secs(1)));
        let s = snapshot(d.pid());
        let (t, ns) = thread_pct(&window[window.len() - 1], &s, media_tid, tck);
        per_second.push(ns.unwrap_or(t));
        window.push(s);
        let a = d.health()["active_calls"].as_u64().unwrap_or(0);
        min_active = min_active.min(a);
        if !d.alive() {
            return Err(format!("tipringd died:\n{}", d.tail()));
        }
    }
    let w1 = window[window.len() - 1].clone();
    let drops1 = drops();
    let echo_pps = echo
        .as_ref()
        .map(|e| (e.echoed() - echoed0) as f64 / w1.at.duration_since(w0.at).as_secs_f64());
    let echo_drops = drops1.0 - drops0.0;
    let tipring_drops = drops1.1 - drops0.1;
    let probe = probe.finish();
    let mut cpu = cpu_delta(&w0, &w1, tck);
    cpu.sipp_pct = sipp_pct(&window, tck);
    let (media_ticks_pct, media_ns_pct) = thread_pct(&w0, &w1, media_tid, tck);
    let media_pct = media_ns_pct.unwrap_or(media_ticks_pct);
    let max_second = per_second.iter().copied().fold(0.0, f64::max);
    let failed_during = live_stats(&load).map_or(0, |s| s.failed) - failed_before;
    let rtp = sum_calls_rtp(&d);
    let health1 = d.health();
    let options_report = options.wait();
    eprintln!("sip_bench: window done; waiting for SIPp to hang up the {n} calls");
    let (_, _, load_report) = wait_sipp(load, &mut d, "hold", |_, _| {});

    let calls_per_core = if media_pct > 0.0 {
        n as f64 / (media_pct / 100.0)
    } else {
        0.0
    };
    // µs of the media thread per 20 ms tick: per call (all of it), per idle channel (before
    // the calls), per call on top of its channel's idle cost; and a straight-line guess at
    // the issue's scale from those (for small runs; not a measurement).
    let tick_us = |pct: f64| pct / 100.0 * 20_000.0;
    let us_per_call = tick_us(media_pct) / n as f64;
    let idle_us_per_channel = tick_us(idle) / f64::from(channels);
    let marginal_us_per_call = (tick_us(media_pct) - tick_us(idle)).max(0.0) / n as f64;
    let target_channels = TARGET_CALLS + (TARGET_CALLS / 20).max(16);
    let projected_pct = (idle_us_per_channel * target_channels as f64
        + marginal_us_per_call * TARGET_CALLS as f64)
        / 20_000.0
        * 100.0;
    let missed = |h: &Value| h["media"]["missed_ticks"].as_u64().unwrap_or(0);
    let missed_ticks = missed(&health1).saturating_sub(missed(&health0));
    let opt_p50 = pctl(&options_report, 1, 50.0);
    let opt_p99 = pctl(&options_report, 1, 99.0);
    let opt_max = pctl(&options_report, 1, 100.0);
    let opt_ok =
        options_report.failed_calls() == 0 && opt_max.is_some_and(|m| m <= TARGET_OPTIONS_MS);
    let probe_ok = probe["lost"] == 0
        && probe["max_ms"]
            .as_f64()
            .is_some_and(|m| m <= TARGET_OPTIONS_MS);
    let cpu_ok = media_pct <= TARGET_MEDIA_CPU_PCT;
    let held_ok = min_active >= n && failed_during == 0;
    let full_scale = n >= TARGET_CALLS;
    let ls = load_report.stats.clone().unwrap_or_default();

    println!(
        "SIP concurrent: {n} calls held with G.711 both ways, {channels} channels, window {} s",
        o.seconds
    );
    println!(
        "  ramp         {n} calls up in {ramp_took:.1} s at {}/s; INVITE→200 p50 {} p99 {} max {} ms",
        o.ramp_rate,
        opt(pctl(&load_report, 1, 50.0)),
        opt(pctl(&load_report, 1, 99.0)),
        opt(pctl(&load_report, 1, 100.0))
    );
    println!(
        "  SIP media    {media_name}: {media_pct:.1} % of one core (utime+stime {media_ticks_pct:.1} %; worst second {max_second:.1} %; before the calls {idle:.1} % with {channels} idle channels)  [target ≤ {TARGET_MEDIA_CPU_PCT} %: {}]",
        verdict(cpu_ok)
    );
    println!(
        "  per core     {calls_per_core:.0} calls per core at that load; media thread per 20 ms tick: {us_per_call:.2} µs per call, {idle_us_per_channel:.2} µs per idle channel, {marginal_us_per_call:.2} µs per call above idle"
    );
    if n < TARGET_CALLS {
        println!(
            "  projection   {projected_pct:.0} % of one core at {TARGET_CALLS} calls on {target_channels} channels (straight line from this run; not a measurement)"
        );
    }
    println!(
        "  tipringd     {:.1} % of one core in all; threads: {}",
        cpu.process_pct,
        threads_line(&cpu.threads)
    );
    println!(
        "  machine      {} % of all cores busy (stolen by the hypervisor: {} %); SIPp {:.1} % of one core; this harness (echo, probe) {:.1} %",
        opt(cpu.machine_pct),
        opt(cpu.steal_pct),
        cpu.sipp_pct,
        cpu.harness_pct
    );
    println!(
        "  calls held   at least {min_active} active during the window, {failed_during} failed in it  [{}]",
        verdict(held_ok)
    );
    println!("  RTP          {}", rtp_line(&rtp));
    println!(
        "  echo         {}; in the window: {echo_drops} datagrams dropped at the echo socket, {tipring_drops} at Tipring's RTP sockets (receive buffers full)",
        match echo_pps {
            Some(pps) => format!("own echo thread, {pps:.0} packets/s"),
            None => "SIPp -rtp_echo".into(),
        }
    );
    println!(
        "  OPTIONS      {} sent at {}/s, {} failed; response p50 {} p99 {} max {} ms (SIPp counts whole ms)  [target ≤ {TARGET_OPTIONS_MS} ms: {}]",
        options_report.stats.as_ref().map_or(0, |s| s.created),
        o.options_rate,
        options_report.failed_calls(),
        opt(opt_p50),
        opt(opt_p99),
        opt(opt_max),
        verdict(opt_ok)
    );
    println!(
        "               own probe (µs clock), {}/s: {}  [{}]",
        o.options_rate,
        probe_line(&probe),
        verdict(probe_ok)
    );
    println!(
        "  hang-up      {} successful, {} failed calls in all; missed ticks {missed_ticks}",
        ls.successful, ls.failed
    );
    if !full_scale {
        println!("  (not the issue's scale: {TARGET_CALLS} calls)");
    }
    print_log(&d);
    let j = json!({
        "bench": "sip", "mode": "concurrent",
        "calls": n, "channels": channels, "seconds": o.seconds, "ramp_cps": o.ramp_rate,
        "ramp_s": round(ramp_took, 2),
        "setup_ms": {"p50": pctl(&load_report, 1, 50.0), "p99": pctl(&load_report, 1, 99.0), "max": pctl(&load_report, 1, 100.0)},
        "media_thread": media_name,
        "media_thread_pct_of_core": round(media_pct, 2),
        "media_thread_pct_of_core_ticks": round(media_ticks_pct, 2),
        "media_thread_worst_second_pct": round(max_second, 2),
        "media_thread_idle_pct": round(idle, 2),
        "media_us_per_idle_channel_per_tick": round(idle_us_per_channel, 3),
        "media_us_per_call_above_idle_per_tick": round(marginal_us_per_call, 3),
        "projected_media_pct_at_2000": if n < TARGET_CALLS { Some(round(projected_pct, 1)) } else { None },
        "calls_per_core": round(calls_per_core, 0),
        "media_us_per_call_per_tick": round(us_per_call, 3),
        "tipringd_cpu_pct_of_core": round(cpu.process_pct, 2),
        "threads_pct_of_core": threads_json(&cpu.threads),
        "machine_busy_pct": cpu.machine_pct.map(|x| round(x, 1)),
        "machine_steal_pct": cpu.steal_pct.map(|x| round(x, 1)),
        "sipp_cpu_pct_of_core": round(cpu.sipp_pct, 1),
        "harness_cpu_pct_of_core": round(cpu.harness_pct, 1),
        "min_active_calls": min_active, "failed_in_window": failed_during,
        "rtp": rtp,
        "echo": if o.sipp_echo { "sipp" } else { "own" },
        "echo_pps": echo_pps.map(|x| round(x, 0)),
        "echo_socket_drops": echo_drops, "tipring_rtp_socket_drops": tipring_drops,
        "options": {"rate": o.options_rate, "sent": options_report.stats.as_ref().map_or(0, |s| s.created),
                    "failed": options_report.failed_calls(),
                    "p50_ms": opt_p50, "p99_ms": opt_p99, "max_ms": opt_max},
        "options_probe": probe,
        "hangup": {"successful": ls.successful, "failed": ls.failed, "sipp_failures": failure_lines(&load_report)},
        "missed_ticks": missed_ticks,
        "daemon_log": d.log_json(),
        "open_files_limit": nofile,
        "full_scale": full_scale,
        "targets": {"media_cpu_le_70": cpu_ok, "options_max_le_10ms": opt_ok,
                    "options_probe_max_le_10ms": probe_ok, "calls_held": held_ok,
                    "full_scale_met": full_scale && cpu_ok && opt_ok && held_ok},
    });
    println!("{j}");
    Ok(())
}

/// The API's RTP counters of the live calls, summed.
fn sum_calls_rtp(d: &Daemon) -> Value {
    let Ok(Value::Array(calls)) = http_json(d.api, "/v1/calls") else {
        return Value::Null;
    };
    let mut n = 0u64;
    let (mut sent, mut received, mut concealed, mut late, mut silent) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for c in calls.iter().filter(|c| c["state"] != "ended") {
        let r = &c["rtp"];
        if r.is_null() {
            continue;
        }
        n += 1;
        sent += r["packets_sent"].as_u64().unwrap_or(0);
        let rx = r["packets_received"].as_u64().unwrap_or(0);
        received += rx;
        silent += u64::from(rx == 0);
        concealed += r["concealed_ms"].as_u64().unwrap_or(0);
        late += r["late"].as_u64().unwrap_or(0);
    }
    json!({"calls": n, "packets_sent": sent, "packets_received": received,
           "calls_receiving_nothing": silent, "concealed_ms": concealed, "late": late})
}

fn rtp_line(r: &Value) -> String {
    if r.is_null() {
        return "no RTP figures from the API".into();
    }
    format!(
        "{} live calls: {} packets sent, {} received ({} calls received nothing), {} ms concealed, {} late",
        r["calls"],
        r["packets_sent"],
        r["packets_received"],
        r["calls_receiving_nothing"],
        r["concealed_ms"],
        r["late"]
    )
}

/// `uac_hold.xml` set up like the scenarios of `tipring_sipkit::scenarios`: calls `remote`,
/// holds `hold` after the ACK, hangs up (response times: 1 INVITE→200, 2 BYE→200).
fn uac_hold(remote: SocketAddr, hold: Duration) -> sipp::Sipp {
    sipp::Sipp::new(sipp::scenario("uac_hold.xml"))
        .remote(remote)
        .service(scenarios::CALLED)
        .caller(scenarios::CALLER)
        .key("hold_ms", hold.as_millis())
}
