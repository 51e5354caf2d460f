//! SIPp as a child process: one scenario, its keys and injection file, ports chosen here,
//! logs in a temporary directory, a deadline, and a parsed result.
//!
//! # What does it do?
//! [`Sipp`] builds the command line; [`Sipp::start`] runs it in the foreground (never
//! `-bg`, so the process stays our child) and returns a [`SippProcess`] once SIPp has bound
//! its SIP port; [`SippProcess::wait`] waits for it to stop by itself (`-timeout` with
//! `-timeout_error` is always given) or kills it at a deadline, and reads the statistics
//! CSV, the error log and the last screen into a [`SippReport`]. Every process is killed on
//! drop; every file lives in a [`TempDir`] removed on drop.
//!
//! # Ports
//! SIPp's default SIP port is 5060 (not a random one), and an explicit `-p` or `-mp` that is
//! taken is a fatal error (exit 254 for the SIP socket, 255 with "Unable to bind audio RTP
//! socket" for media). So both are picked here from free ports, and a start that fails to
//! bind is retried with fresh ports (up to [`START_TRIES`] times). SIPp binds the media port
//! and the one two above it, so the media port is chosen with both free. SIPp is ready when
//! a socket of its own (found through `/proc`) is bound to the SIP port. The control port
//! (`-cp`, UDP on 0.0.0.0 from 8888 up) is left to SIPp, which moves up when one is taken.
//!
//! # Exit codes
//! SIPp exits 1 both when a call failed and when it cannot load the scenario or its keys
//! ("Unsupported keyword", "Unable to load or parse"); only a run that started writes
//! statistics, which is how [`Sipp::start`] tells them apart. The global timeout with
//! `-timeout_error` exits 255 ("… timed out after …" in the error log).
//!
//! # Keys
//! Scenario files use `[name]` keywords given with `-key name value`. In SIPp 3.6.1 keys are
//! substituted in messages, in `play_pcap_audio="[pcap]"` (at load time: one capture per
//! run, not per call) and in `verifyauth` credentials, but not in numeric attributes
//! (`<pause milliseconds="[x]"/>` is refused); scenarios read numbers through
//! `assignstr`/`todouble` instead. A key the scenario uses but that is not given is a fatal
//! load error, so [`Sipp`] always passes `rtp_port` (defaulting to SIPp's own media port).

use crate::child::ChildGuard;
use crate::error::{Error, Result};
use crate::ports;
use crate::tempdir::TempDir;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the `sipp` binary (default `/usr/bin/sipp`, then `sipp` on
/// the `PATH`).
pub const SIPP_ENV: &str = "TIPRING_SIPP";
/// How many times a start that fails to bind its ports is retried with fresh ones.
pub const START_TRIES: usize = 5;
/// Extra time after SIPp's own `-timeout` before it is killed.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// Socket buffer size given with `-buff_size` (SIPp's 64 KB default overflows under load).
pub const BUFF_SIZE: u32 = 4 * 1024 * 1024;
/// How much of each log a report keeps (the end of it).
const TAIL: usize = 4000;
/// How much of the `<log>` actions' log a report keeps (the end of it).
const LOG_TAIL: usize = 64 * 1024;
/// SIPp's default behaviours used unless [`Sipp::default_behaviors`] says otherwise:
/// `abortunexp` (an unexpected message aborts the call and counts it failed) and `bye`
/// (an unexpected BYE is answered 200; a call aborted on a timeout or an unexpected message
/// is cleaned up with BYE or CANCEL, even in a REGISTER "dialog"). Not `pingreply`. `-nd`
/// (none of them) is not used: in SIPp 3.6.1 an unexpected message is then logged
/// ("Continuing call on unexpected message") and ignored, and the call goes on.
pub const DEFAULT_BEHAVIORS: &str = "abortunexp,bye";

/// The `sipp` binary to run.
pub fn sipp_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(SIPP_ENV) {
        return PathBuf::from(p);
    }
    let default = Path::new("/usr/bin/sipp");
    if default.exists() {
        default.to_path_buf()
    } else {
        PathBuf::from("sipp")
    }
}

/// True when the `sipp` binary can be run (tests skip themselves otherwise).
pub fn sipp_available() -> bool {
    Command::new(sipp_binary())
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// True when this process has `CAP_NET_RAW` (root has it), which SIPp (a child, without
/// file capabilities) needs to play captures: `play_pcap_audio` sends through a raw
/// socket. Reads `CapEff` in `/proc/self/status`; false when that cannot be read.
pub fn can_play_pcap() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 13) != 0)
}

/// The directory holding the scenario files (`tests/sip` in the source tree).
pub fn scenario_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("sip")
}

/// A scenario file by name (`"uac_options.xml"`).
pub fn scenario(name: &str) -> PathBuf {
    scenario_dir().join(name)
}

/// A SIPp run being set up. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: PathBuf,
    remote: Option<SocketAddr>,
    local_ip: IpAddr,
    sip_port: Option<u16>,
    media_port: Option<u16>,
    keys: Vec<(String, String)>,
    injection: Option<Vec<Vec<String>>>,
    calls: Option<u64>,
    rate: Option<f64>,
    rate_period_ms: Option<u64>,
    limit: Option<u64>,
    timeout: Duration,
    recv_timeout: Option<Duration>,
    service: Option<String>,
    auth: Option<(String, String)>,
    timer_resol_ms: Option<u32>,
    trace_msg: bool,
    trace_rtt: bool,
    default_behaviors: String,
    extra: Vec<String>,
    files: Vec<(String, PathBuf)>,
}

impl Sipp {
    /// A run of the scenario file `scenario` on 127.0.0.1, one call (`-m 1`), stopping
    /// itself after 30 s.
    pub fn new(scenario: impl Into<PathBuf>) -> Self {
        Self {
            scenario: scenario.into(),
            remote: None,
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sip_port: None,
            media_port: None,
            keys: Vec::new(),
            injection: None,
            calls: Some(1),
            rate: None,
            rate_period_ms: None,
            limit: None,
            timeout: Duration::from_secs(30),
            recv_timeout: None,
            service: None,
            auth: None,
            timer_resol_ms: None,
            trace_msg: false,
            trace_rtt: false,
            default_behaviors: DEFAULT_BEHAVIORS.to_string(),
            extra: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Where requests go (a UAC's target; a UAS needs none).
    pub fn remote(mut self, addr: SocketAddr) -> Self {
        self.remote = Some(addr);
        self
    }

    /// The local address for SIP and media (`-i`, `-mi`; default 127.0.0.1).
    pub fn local_ip(mut self, ip: IpAddr) -> Self {
        self.local_ip = ip;
        self
    }

    /// A fixed SIP port (`-p`) instead of a free one (no retry if it is taken).
    pub fn sip_port(mut self, port: u16) -> Self {
        self.sip_port = Some(port);
        self
    }

    /// A fixed media port (`-mp`) instead of a free one.
    pub fn media_port(mut self, port: u16) -> Self {
        self.media_port = Some(port);
        self
    }

    /// Sets the scenario keyword `[name]` (`-key name value`); a later call for the same
    /// name replaces the value.
    pub fn key(mut self, name: &str, value: impl ToString) -> Self {
        let value = value.to_string();
        match self.keys.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.keys.push((name.to_string(), value)),
        }
        self
    }

    /// The value of a key set with [`key`](Self::key).
    pub fn key_value(&self, name: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The RTP port to advertise in SDP (`-key rtp_port`): where the far end should send
    /// its RTP, e.g. an [`RtpCapture`](crate::wire::RtpCapture). Default: SIPp's media port.
    pub fn rtp_port(self, port: u16) -> Self {
        self.key("rtp_port", port)
    }

    /// Per-call fields, one row per call, read in sequence (`-inf`, fields `[field0]`…).
    pub fn inject(mut self, rows: Vec<Vec<String>>) -> Self {
        self.injection = Some(rows);
        self
    }

    /// Stop after this many calls (`-m`; default 1). `None` runs until the timeout.
    pub fn calls(mut self, n: Option<u64>) -> Self {
        self.calls = n;
        self
    }

    /// New calls per second (`-r`).
    pub fn rate(mut self, cps: f64) -> Self {
        self.rate = Some(cps);
        self
    }

    /// The rate's period (`-rp`, ms): `rate` calls every `ms`.
    pub fn rate_period_ms(mut self, ms: u64) -> Self {
        self.rate_period_ms = Some(ms);
        self
    }

    /// At most this many calls at once (`-l`).
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// SIPp stops itself (and counts it a failure) after this long (`-timeout`, rounded up
    /// to whole seconds; default 30 s). It is killed [`KILL_GRACE`] later if still running.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Fails a call whose expected message does not arrive within `d` (`-recv_timeout`).
    pub fn recv_timeout(mut self, d: Duration) -> Self {
        self.recv_timeout = Some(d);
        self
    }

    /// The user part of request URIs, `[service]` (`-s`).
    pub fn service(mut self, user: &str) -> Self {
        self.service = Some(user.to_string());
        self
    }

    /// Credentials for `[authentication]` after a 401/407 (`-au`, `-ap`).
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }

    /// SIPp's timer resolution (`-timer_resol`, ms; SIPp's default is 10). Response times
    /// are measured in whole ms whatever this is.
    pub fn timer_resolution_ms(mut self, ms: u32) -> Self {
        self.timer_resol_ms = Some(ms);
        self
    }

    /// Logs every message sent and received (`-trace_msg`); its tail goes into failure
    /// reports.
    pub fn trace_messages(mut self, on: bool) -> Self {
        self.trace_msg = on;
        self
    }

    /// Records every response time (`-trace_rtt -rtt_freq 1`) into
    /// [`SippReport::rtt`], for percentiles.
    pub fn trace_rtt(mut self, on: bool) -> Self {
        self.trace_rtt = on;
        self
    }

    /// SIPp's default behaviours (`-default_behaviors`, default [`DEFAULT_BEHAVIORS`]):
    /// a comma-separated list of `all`, `none`, `bye`, `abortunexp`, `pingreply`, each
    /// optionally prefixed with `-`.
    pub fn default_behaviors(mut self, list: &str) -> Self {
        self.default_behaviors = list.to_string();
        self
    }

    /// Copies `source` into SIPp's working directory as `name` before it starts. For file
    /// names a scenario must spell literally: SIPp reads `rtp_stream` files when it loads
    /// the scenario, before `-key` values are substituted, and resolves relative names
    /// against its working directory.
    pub fn with_file(mut self, name: &str, source: impl Into<PathBuf>) -> Self {
        self.files.push((name.to_string(), source.into()));
        self
    }

    /// Appends raw arguments.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.extra.push(a.into());
        self
    }

    /// The command line for the given ports and directory (without the binary).
    fn args(&self, dir: &Path, sip_port: u16, media_port: u16) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        if let Some(r) = self.remote {
            push(&[&r.to_string()]);
        }
        let ip = self.local_ip.to_string();
        let d = |name: &str| dir.join(name).display().to_string();
        push(&["-sf", &self.scenario.display().to_string()]);
        push(&["-i", &ip, "-mi", &ip, "-bind_local"]);
        push(&["-p", &sip_port.to_string(), "-mp", &media_port.to_string()]);
        push(&["-t", "u1", "-nostdin"]);
        push(&["-default_behaviors", &self.default_behaviors]);
        push(&["-buff_size", &BUFF_SIZE.to_string()]);
        let secs = self.timeout.as_millis().div_ceil(1000).max(1);
        push(&["-timeout", &format!("{secs}s"), "-timeout_error"]);
        if let Some(m) = self.calls {
            push(&["-m", &m.to_string()]);
        }
        if let Some(r) = self.rate {
            push(&["-r", &r.to_string()]);
        }
        if let Some(rp) = self.rate_period_ms {
            push(&["-rp", &rp.to_string()]);
        }
        if let Some(l) = self.limit {
            push(&["-l", &l.to_string()]);
        }
        if let Some(t) = self.recv_timeout {
            push(&["-recv_timeout", &t.as_millis().to_string()]);
        }
        if let Some(s) = &self.service {
            push(&["-s", s]);
        }
        if let Some((u, p)) = &self.auth {
            push(&["-au", u, "-ap", p]);
        }
        if let Some(t) = self.timer_resol_ms {
            push(&["-timer_resol", &t.to_string()]);
        }
        if self.key_value("rtp_port").is_none() {
            push(&["-key", "rtp_port", &media_port.to_string()]);
        }
        for (k, v) in &self.keys {
            push(&["-key", k, v]);
        }
        if self.injection.is_some() {
            push(&["-inf", &d("inject.csv")]);
        }
        push(&["-trace_stat", "-stf", &d("stat.csv"), "-fd", "1"]);
        push(&["-trace_err", "-error_file", &d("errors.log")]);
        push(&["-trace_screen", "-screen_file", &d("screen.log")]);
        push(&["-trace_logs", "-log_file", &d("logs.log")]);
        if self.trace_msg {
            push(&["-trace_msg", "-message_file", &d("messages.log")]);
        }
        if self.trace_rtt {
            push(&["-trace_rtt", "-rtt_freq", "1"]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    fn check(&self) -> Result<()> {
        if !self.scenario.is_file() {
            return Err(Error::Missing {
                what: "SIPp scenario file",
                path: self.scenario.clone(),
            });
        }
        for (k, v) in &self.keys {
            if k.is_empty() || k.contains(['[', ']', ' ']) || v.contains(['\n', '\r']) {
                return Err(Error::invalid(
                    "SIPp key",
                    format!("{k:?} = {v:?} (names need no brackets or spaces, values one line)"),
                ));
            }
        }
        if let Some(p) = self.key_value("pcap")
            && !Path::new(p).is_file()
        {
            return Err(Error::Missing {
                what: "capture file (key pcap)",
                path: PathBuf::from(p),
            });
        }
        if let Some(rows) = &self.injection {
            for (i, row) in rows.iter().enumerate() {
                if let Some(f) = row.iter().find(|f| f.contains([';', '\n', '\r'])) {
                    return Err(Error::invalid(
                        "injection field",
                        format!("row {i}: {f:?} contains ';' or a line break"),
                    ));
                }
            }
            if rows.is_empty() {
                return Err(Error::invalid("injection file", "no rows"));
            }
        }
        if let Some(r) = self.rate
            && !(r > 0.0 && r.is_finite())
        {
            return Err(Error::invalid("call rate", format!("{r} (must be > 0)")));
        }
        if self.timeout.is_zero() {
            return Err(Error::invalid("timeout", "zero (SIPp must stop by itself)"));
        }
        Ok(())
    }

    /// Starts SIPp and returns once its SIP port is bound (or it has already finished).
    ///
    /// # Errors
    /// [`Error::Missing`] for a missing scenario file, [`Error::Invalid`] for bad keys or
    /// injection fields, [`Error::Start`] when SIPp cannot be run, fails to bind after
    /// [`START_TRIES`] attempts, or exits at once with a fatal error (the message has its
    /// stderr and error log).
    pub fn start(self) -> Result<SippProcess> {
        self.check()?;
        let label = self
            .scenario
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut last_why = String::new();
        for _ in 0..START_TRIES {
            let dir = TempDir::new(&format!("sipp-{label}"))?;
            if let Some(rows) = &self.injection {
                let mut csv = String::from("SEQUENTIAL\n");
                for row in rows {
                    let _ = writeln!(csv, "{};", row.join(";"));
                }
                std::fs::write(dir.join("inject.csv"), csv)
                    .map_err(|e| Error::io("writing the injection file", e))?;
            }
            for (name, source) in &self.files {
                std::fs::copy(source, dir.join(name))
                    .map_err(|e| Error::io(format!("copying {} for SIPp", source.display()), e))?;
            }
            let sip_port = match self.sip_port {
                Some(p) => p,
                None => ports::free_udp_port(self.local_ip)?,
            };
            let media_port = match self.media_port {
                Some(p) => p,
                None => ports::free_udp_port_pair(self.local_ip)?,
            };
            let args = self.args(dir.path(), sip_port, media_port);
            let out = std::fs::File::create(dir.join("stdout.log"))
                .map_err(|e| Error::io("creating SIPp's stdout log", e))?;
            let err = std::fs::File::create(dir.join("stderr.log"))
                .map_err(|e| Error::io("creating SIPp's stderr log", e))?;
            let bin = sipp_binary();
            let child = Command::new(&bin)
                .args(&args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| Error::Start {
                    tool: "sipp",
                    why: format!("running {}: {e}", bin.display()),
                })?;
            let mut child = ChildGuard::new(child);
            let started = Instant::now();
            let ready_by = started + Duration::from_secs(5);
            let status = loop {
                if let Some(s) = child.try_status() {
                    break Some(s);
                }
                if ports::udp_port_bound_by(child.id(), sip_port) {
                    break None;
                }
                if Instant::now() >= ready_by {
                    child.kill();
                    return Err(Error::Start {
                        tool: "sipp",
                        why: format!(
                            "SIP port {sip_port} not bound after 5 s; stderr: {}",
                            tail(&dir.join("stderr.log"))
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let command = command_line(&bin, &args);
            let process = SippProcess {
                child,
                dir,
                sip_addr: SocketAddr::new(self.local_ip, sip_port),
                media_port,
                command,
                scenario: self.scenario.clone(),
                started,
                deadline: started
                    + Duration::from_secs(self.timeout.as_millis().div_ceil(1000) as u64)
                    + KILL_GRACE,
                trace_rtt: self.trace_rtt,
            };
            if let Some(s) = status {
                let stderr = tail(&process.dir.join("stderr.log"));
                let bind_failed = s.code() == Some(254)
                    || stderr.contains("Unable to bind")
                    || stderr.contains("Address already in use");
                let ours = self.sip_port.is_none() && self.media_port.is_none();
                if bind_failed && ours {
                    last_why = format!("exit {s}: {stderr}");
                    continue;
                }
                // SIPp exits 1 for a scenario it cannot load, as for a run with failed
                // calls; only a run writes statistics.
                let ran = process.dir.join("stat.csv").exists();
                if s.code() != Some(0) && (s.code() != Some(1) || !ran) {
                    let report = process.report(Some(s), false);
                    return Err(Error::Start {
                        tool: "sipp",
                        why: report.summary(),
                    });
                }
            }
            return Ok(process);
        }
        Err(Error::Start {
            tool: "sipp",
            why: format!("could not bind free ports in {START_TRIES} tries; last: {last_why}"),
        })
    }

    /// Starts SIPp and waits for it ([`start`](Self::start) then [`SippProcess::wait`]).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn run(self) -> Result<SippReport> {
        Ok(self.start()?.wait())
    }
}

fn command_line(bin: &Path, args: &[String]) -> String {
    let mut s = bin.display().to_string();
    for a in args {
        s.push(' ');
        if a.is_empty() || a.contains([' ', '"', '\'', '<', '>', '&', ';', '[', ']']) {
            let _ = write!(s, "'{}'", a.replace('\'', "'\\''"));
        } else {
            s.push_str(a);
        }
    }
    s
}

/// The end of a log file (at most 4000 characters), empty if unreadable.
fn tail(path: &Path) -> String {
    tail_n(path, TAIL)
}

/// The end of a log file (at most `max` bytes), empty if unreadable.
fn tail_n(path: &Path, max: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// A running SIPp. Killed on drop; its directory (logs, statistics) removed then.
#[derive(Debug)]
pub struct SippProcess {
    child: ChildGuard,
    dir: TempDir,
    sip_addr: SocketAddr,
    media_port: u16,
    command: String,
    scenario: PathBuf,
    started: Instant,
    deadline: Instant,
    trace_rtt: bool,
}

impl SippProcess {
    /// Its SIP address (where a UAS scenario listens).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Its media port (`[media_port]`; it binds this and the port two above).
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// The command line it was started with.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The directory holding its logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// True while it runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_status().is_none()
    }

    /// Waits for SIPp to stop by itself (it always does, at the latest at its `-timeout`),
    /// killing it [`KILL_GRACE`] after that; then reads its results.
    pub fn wait(mut self) -> SippReport {
        let status = self.child.wait_until(self.deadline);
        match status {
            Some(s) => self.report(Some(s), false),
            None => {
                let s = self.child.kill();
                self.report(s, true)
            }
        }
    }

    /// Asks SIPp to finish (SIGUSR1: no new calls, calls in progress end), waits up to
    /// `grace`, kills it if needed, and reads its results.
    pub fn stop(mut self, grace: Duration) -> SippReport {
        self.child.signal(nix::sys::signal::Signal::SIGUSR1);
        match self.child.wait_until(Instant::now() + grace) {
            Some(s) => self.report(Some(s), false),
            None => {
                let s = self.child.kill();
                self.report(s, true)
            }
        }
    }

    fn report(&self, status: Option<std::process::ExitStatus>, killed: bool) -> SippReport {
        let code = status.and_then(|s| s.code());
        let stats = std::fs::read_to_string(self.dir.join("stat.csv"))
            .ok()
            .and_then(|t| SippStats::parse(&t).ok());
        let rtt = if self.trace_rtt {
            let stem = self
                .scenario
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let f = self.dir.join(format!("{stem}_{}_rtt.csv", self.child.id()));
            std::fs::read_to_string(f)
                .map(|t| parse_rtt(&t))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let screen = std::fs::read_to_string(self.dir.join("screen.log")).unwrap_or_default();
        SippReport {
            exit: SippExit::from_code(code),
            exit_code: code,
            killed_at_deadline: killed,
            elapsed: self.started.elapsed(),
            stats,
            rtt,
            errors: tail(&self.dir.join("errors.log")),
            stderr: tail(&self.dir.join("stderr.log")),
            log: tail_n(&self.dir.join("logs.log"), LOG_TAIL),
            messages: tail(&self.dir.join("messages.log")),
            screen: last_screen(&screen),
            command: self.command.clone(),
            sip_addr: self.sip_addr,
            media_port: self.media_port,
        }
    }
}

/// The last screens SIPp dumped (`-trace_screen` appends several).
fn last_screen(s: &str) -> String {
    match s.rfind("------------------------------ Scenario Screen") {
        Some(i) => s[i..].trim_end().to_string(),
        None => s.trim_end().to_string(),
    }
}

/// SIPp's exit codes (`sipp -h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippExit {
    /// 0: all calls succeeded.
    AllSucceeded,
    /// 1: at least one call failed.
    SomeFailed,
    /// 97: exit on internal command (or the global timeout without `-timeout_error`).
    InternalCommand,
    /// 99: normal exit without calls processed.
    NoCalls,
    /// 255 (-1): fatal error, including the global timeout with `-timeout_error`, an
    /// `<error>` action, and a scenario that does not load.
    Fatal,
    /// 254 (-2): fatal error binding a socket.
    BindFailed,
    /// Any other exit code.
    Other(i32),
    /// Ended by a signal (killed at the deadline, or crashed).
    Signalled,
}

impl SippExit {
    /// The meaning of an exit code (`None`: ended by a signal).
    pub fn from_code(code: Option<i32>) -> Self {
        match code {
            Some(0) => Self::AllSucceeded,
            Some(1) => Self::SomeFailed,
            Some(97) => Self::InternalCommand,
            Some(99) => Self::NoCalls,
            Some(255) | Some(-1) => Self::Fatal,
            Some(254) | Some(-2) => Self::BindFailed,
            Some(c) => Self::Other(c),
            None => Self::Signalled,
        }
    }
}

/// A SIPp run's outcome.
#[derive(Debug, Clone)]
pub struct SippReport {
    /// What the exit code means.
    pub exit: SippExit,
    /// The exit code, `None` when ended by a signal.
    pub exit_code: Option<i32>,
    /// True when it had to be killed at the deadline.
    pub killed_at_deadline: bool,
    /// Time from start to exit.
    pub elapsed: Duration,
    /// The last line of the statistics CSV, if one was written.
    pub stats: Option<SippStats>,
    /// Every response time (rtd number, ms) when [`Sipp::trace_rtt`] was on.
    pub rtt: Vec<(u32, f64)>,
    /// The end of the error log (`-trace_err`: unexpected messages, timeouts, errors).
    pub errors: String,
    /// The end of SIPp's stderr.
    pub stderr: String,
    /// The end (64 KB) of the `<log>` actions' log.
    pub log: String,
    /// The end of the message log (when [`Sipp::trace_messages`] was on).
    pub messages: String,
    /// The last statistics screen.
    pub screen: String,
    /// The command line.
    pub command: String,
    /// The SIP address it used.
    pub sip_addr: SocketAddr,
    /// The media port it used.
    pub media_port: u16,
}

impl SippReport {
    /// True when SIPp exited 0 (every call succeeded) by itself.
    pub fn success(&self) -> bool {
        self.exit == SippExit::AllSucceeded && !self.killed_at_deadline
    }

    /// Successful calls, from the statistics.
    pub fn successful_calls(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.successful)
    }

    /// Failed calls, from the statistics.
    pub fn failed_calls(&self) -> u64 {
        self.stats.as_ref().map_or(0, |s| s.failed)
    }

    /// The `p`-th percentile (0–100) of the response times of rtd `n` from
    /// [`rtt`](Self::rtt), ms; `None` without samples.
    pub fn rtt_percentile(&self, n: u32, p: f64) -> Option<f64> {
        let mut v: Vec<f64> = self
            .rtt
            .iter()
            .filter(|(k, _)| *k == n)
            .map(|&(_, ms)| ms)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * v.len() as f64).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }

    /// The rest of each `<log>` line that starts with `prefix`, in order; e.g.
    /// `log_values("INVITE Proxy-Authorization: ")` gives the logged header values.
    pub fn log_values<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.log.lines().filter_map(move |l| l.strip_prefix(prefix))
    }

    /// A one-paragraph account: exit, counts, failure reasons, and the logs' tails.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "sipp exited {:?} (code {:?}){} after {:.1} s",
            self.exit,
            self.exit_code,
            if self.killed_at_deadline {
                ", killed at the deadline"
            } else {
                ""
            },
            self.elapsed.as_secs_f64()
        );
        if let Some(st) = &self.stats {
            let _ = write!(
                s,
                "; calls: {} created, {} successful, {} failed",
                st.created, st.successful, st.failed
            );
            for (why, n) in &st.failures {
                let _ = write!(s, ", {why} {n}");
            }
        }
        let _ = write!(s, "\ncommand: {}", self.command);
        let log_end = {
            let mut start = self.log.len().saturating_sub(TAIL);
            while !self.log.is_char_boundary(start) {
                start += 1;
            }
            self.log[start..].to_string()
        };
        for (name, text) in [
            ("error log", &self.errors),
            ("stderr", &self.stderr),
            ("<log> actions", &log_end),
            ("messages", &self.messages),
        ] {
            if !text.is_empty() {
                let _ = write!(s, "\n--- {name} (end) ---\n{text}");
            }
        }
        s
    }

    /// `Ok(self)` when [`success`](Self::success), else [`Error::Failed`] with the
    /// [`summary`](Self::summary).
    ///
    /// # Errors
    /// As above.
    pub fn check(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::Failed {
                tool: "sipp",
                why: self.summary(),
            })
        }
    }
}

/// A response-time counter (`rtd`) from the statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTime {
    /// The rtd's name (`1` for `rtd="true"`).
    pub name: String,
    /// Mean over the run.
    pub mean: Duration,
    /// Standard deviation over the run.
    pub stdev: Duration,
}

/// A repartition table: (upper bound in ms, count) per bucket, the last one open (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repartition {
    /// `ResponseTimeRepartition1`, `CallLengthRepartition`, …
    pub name: String,
    /// Buckets in order: `Some(b)` counts values below `b` ms, `None` the rest.
    pub buckets: Vec<(Option<u64>, u64)>,
}

impl Repartition {
    /// Count of values below `ms` (summing the buckets whose bound is at most `ms`).
    pub fn below(&self, ms: u64) -> u64 {
        self.buckets
            .iter()
            .filter(|(b, _)| b.is_some_and(|b| b <= ms))
            .map(|(_, n)| n)
            .sum()
    }

    /// Count of all values.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

/// The cumulative figures of the last line of SIPp's statistics CSV (`-trace_stat`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SippStats {
    /// `TotalCallCreated`.
    pub created: u64,
    /// `SuccessfulCall(C)`.
    pub successful: u64,
    /// `FailedCall(C)`.
    pub failed: u64,
    /// `CurrentCall`.
    pub current: u64,
    /// `Retransmissions(C)`.
    pub retransmissions: u64,
    /// `OutOfCallMsgs(C)`.
    pub out_of_call: u64,
    /// `DeadCallMsgs(C)`.
    pub dead_call: u64,
    /// The non-zero `Failed…(C)` counters other than `FailedCall`, e.g.
    /// `("UnexpectedMessage", 1)`.
    pub failures: Vec<(String, u64)>,
    /// `ResponseTime<n>(C)` and its deviation, per rtd.
    pub response_times: Vec<ResponseTime>,
    /// Response-time and call-length repartitions.
    pub repartitions: Vec<Repartition>,
    /// Every column of the last line, as written.
    pub columns: Vec<(String, String)>,
}

impl SippStats {
    /// Parses a statistics CSV (`;`-separated, a header line, then one line per dump).
    ///
    /// # Errors
    /// [`Error::Malformed`] without a header and at least one data line.
    pub fn parse(csv: &str) -> Result<Self> {
        let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| Error::malformed("SIPp statistics", "empty file"))?;
        let last = lines
            .next_back()
            .ok_or_else(|| Error::malformed("SIPp statistics", "a header but no data line"))?;
        let columns: Vec<(String, String)> = header
            .split(';')
            .zip(last.split(';'))
            .map(|(h, v)| (h.trim().to_string(), v.trim().to_string()))
            .filter(|(h, _)| !h.is_empty())
            .collect();
        let num = |name: &str| {
            columns
                .iter()
                .find(|(h, _)| h == name)
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .map_or(0, |x| x as u64)
        };
        let mut st = SippStats {
            created: num("TotalCallCreated"),
            successful: num("SuccessfulCall(C)"),
            failed: num("FailedCall(C)"),
            current: num("CurrentCall"),
            retransmissions: num("Retransmissions(C)"),
            out_of_call: num("OutOfCallMsgs(C)"),
            dead_call: num("DeadCallMsgs(C)"),
            ..SippStats::default()
        };
        for (h, v) in &columns {
            if let Some(why) = h.strip_prefix("Failed").and_then(|r| r.strip_suffix("(C)")) {
                let n = v.parse::<f64>().map_or(0, |x| x as u64);
                if why != "Call" && n > 0 {
                    st.failures.push((why.to_string(), n));
                }
            }
            if let Some(name) = h
                .strip_prefix("ResponseTime")
                .and_then(|r| r.strip_suffix("(C)"))
                .filter(|n| !n.ends_with("StDev"))
            {
                let stdev = columns
                    .iter()
                    .find(|(c, _)| *c == format!("ResponseTime{name}StDev(C)"))
                    .and_then(|(_, v)| parse_sipp_time(v))
                    .unwrap_or_default();
                st.response_times.push(ResponseTime {
                    name: name.to_string(),
                    mean: parse_sipp_time(v).unwrap_or_default(),
                    stdev,
                });
            }
            // `ResponseTimeRepartition1_<10`, `CallLengthRepartition_>=100`.
            if let Some((table, bucket)) = h.split_once('_')
                && table.contains("Repartition")
            {
                let bound = bucket.strip_prefix('<').and_then(|b| b.parse::<u64>().ok());
                let n = v.parse::<u64>().unwrap_or(0);
                match st.repartitions.iter_mut().find(|r| r.name == table) {
                    Some(r) => r.buckets.push((bound, n)),
                    None => st.repartitions.push(Repartition {
                        name: table.to_string(),
                        buckets: vec![(bound, n)],
                    }),
                }
            }
        }
        st.columns = columns;
        Ok(st)
    }

    /// A repartition table by name (`"ResponseTimeRepartition1"`).
    pub fn repartition(&self, name: &str) -> Option<&Repartition> {
        self.repartitions.iter().find(|r| r.name == name)
    }
}

/// SIPp's `HH:MM:SS:uuuuuu` durations.
fn parse_sipp_time(s: &str) -> Option<Duration> {
    let p: Vec<&str> = s.split(':').collect();
    let [h, m, sec, us] = p.as_slice() else {
        return None;
    };
    let n = |x: &str| x.trim().parse::<u64>().ok();
    Some(Duration::from_secs(n(h)? * 3600 + n(m)? * 60 + n(sec)?) + Duration::from_micros(n(us)?))
}

/// The `-trace_rtt` file: `Date_ms;response_time_ms;rtd_no` lines.
fn parse_rtt(t: &str) -> Vec<(u32, f64)> {
    t.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(';');
            let _date = f.next()?;
            let ms = f.next()?.trim().parse::<f64>().ok()?;
            let n = f.next()?.trim().parse::<u32>().ok()?;
            Some((n, ms))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "StartTime;TotalCallCreated;CurrentCall;SuccessfulCall(C);FailedCall(C);\
FailedUnexpectedMessage(C);FailedTimeoutOnRecv(C);Retransmissions(C);ResponseTime1(C);\
ResponseTime1StDev(C);ResponseTimeRepartition1;ResponseTimeRepartition1_<1;\
ResponseTimeRepartition1_<10;ResponseTimeRepartition1_>=10;CallLengthRepartition;\
CallLengthRepartition_<100;CallLengthRepartition_>=100;\n\
2026-01-01\t10:00:00.0\t1;1;1;0;0;0;0;0;00:00:00:000000;00:00:00:000000;;0;0;0;;0;0;\n\
2026-01-01\t10:00:01.0\t1;20;0;18;2;1;1;3;00:00:00:004500;00:00:00:001000;;15;4;1;;20;0;\n";

    #[test]
    fn stats_last_line() {
        let st = SippStats::parse(STATS).unwrap();
        assert_eq!((st.created, st.successful, st.failed), (20, 18, 2));
        assert_eq!(st.retransmissions, 3);
        assert_eq!(
            st.failures,
            vec![
                ("UnexpectedMessage".to_string(), 1),
                ("TimeoutOnRecv".to_string(), 1)
            ]
        );
        assert_eq!(st.response_times.len(), 1);
        assert_eq!(st.response_times[0].mean, Duration::from_micros(4500));
        assert_eq!(st.response_times[0].stdev, Duration::from_millis(1));
        let r = st.repartition("ResponseTimeRepartition1").unwrap();
        assert_eq!(r.buckets, vec![(Some(1), 15), (Some(10), 4), (None, 1)]);
        assert_eq!((r.below(10), r.total()), (19, 20));
        assert!(st.repartition("CallLengthRepartition").is_some());
    }

    #[test]
    fn bad_stats_are_errors() {
        assert!(SippStats::parse("").is_err());
        assert!(SippStats::parse("a;b;c\n").is_err());
        assert_eq!(parse_sipp_time("1:2"), None);
        assert_eq!(
            parse_sipp_time("01:00:02:000010"),
            Some(Duration::from_micros(3_602_000_010))
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(SippExit::from_code(Some(0)), SippExit::AllSucceeded);
        assert_eq!(SippExit::from_code(Some(255)), SippExit::Fatal);
        assert_eq!(SippExit::from_code(Some(254)), SippExit::BindFailed);
        assert_eq!(SippExit::from_code(Some(3)), SippExit::Other(3));
        assert_eq!(SippExit::from_code(None), SippExit::Signalled);
    }

    #[test]
    fn rtt_and_percentiles() {
        let rtt = parse_rtt("Date_ms;response_time_ms;rtd_no\n1;3;1\n2;1;1\n3;2;1\n4;50;2\nbad\n");
        assert_eq!(rtt.len(), 4);
        let r = SippReport {
            exit: SippExit::AllSucceeded,
            exit_code: Some(0),
            killed_at_deadline: false,
            elapsed: Duration::ZERO,
            stats: None,
            rtt,
            errors: String::new(),
            stderr: String::new(),
            log: String::new(),
            messages: String::new(),
            screen: String::new(),
            command: String::new(),
            sip_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 1)),
            media_port: 2,
        };
        assert_eq!(r.rtt_percentile(1, 50.0), Some(2.0));
        assert_eq!(r.rtt_percentile(1, 100.0), Some(3.0));
        assert_eq!(r.rtt_percentile(1, 0.0), Some(1.0));
        assert_eq!(r.rtt_percentile(3, 50.0), None);
        assert!(r.success());
    }

    #[test]
    fn args_and_checks() {
        let dir = TempDir::new("args").unwrap();
        let s = Sipp::new(scenario("uac_options.xml"))
            .remote(SocketAddr::from((Ipv4Addr::LOCALHOST, 5060)))
            .key("a", 1)
            .key("a", 2)
            .calls(Some(10))
            .rate(5.0)
            .timeout(Duration::from_millis(2500));
        let a = s.args(dir.path(), 7000, 7002).join(" ");
        assert!(a.starts_with("127.0.0.1:5060 -sf "), "{a}");
        assert!(a.contains("-p 7000 -mp 7002"), "{a}");
        assert!(a.contains("-timeout 3s -timeout_error"), "{a}");
        assert!(a.contains("-key rtp_port 7002 -key a 2"), "{a}");
        assert!(a.contains("-m 10 -r 5"), "{a}");
        assert!(a.contains("-buff_size 4194304"), "{a}");
        let e = Sipp::new("/nonexistent.xml").start().unwrap_err();
        assert!(matches!(e, Error::Missing { .. }), "{e}");
        let e = Sipp::new(scenario("uac_options.xml"))
            .key("x", "a\nb")
            .start()
            .unwrap_err();
        assert!(e.to_string().contains("SIPp key"), "{e}");
        let e = Sipp::new(scenario("uac_options.xml"))
            .inject(vec![vec!["a;b".into()]])
            .start()
            .unwrap_err();
        assert!(e.to_string().contains("row 0"), "{e}");
    }
}
