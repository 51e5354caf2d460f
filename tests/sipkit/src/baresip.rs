//! baresip as a headless SIP phone: a generated config directory, the `ctrl_tcp` JSON
//! interface, events to wait for. Killed on drop.
//!
//! # What does it do?
//! [`Baresip::start`] writes `config` and `accounts` into a temporary directory, starts
//! `baresip -f DIR`, waits for "baresip is ready.", and connects to `ctrl_tcp`. Commands
//! ([`dial`](Baresip::dial), [`send_dtmf`](Baresip::send_dtmf), [`hangup`](Baresip::hangup),
//! …) wait for their response; events (`CALL_ESTABLISHED`, `CALL_DTMF_START`,
//! `CALL_CLOSED`, `REGISTER_OK`, …) are queued and taken with
//! [`wait_for`](Baresip::wait_for).
//!
//! # What is configured
//! UDP SIP on 127.0.0.1 at a free port (also TCP on the same port: baresip listens on
//! both), RTP on 127.0.0.1 (`net_interface 127.0.0.1`; the name `lo` is refused), G.711
//! (`g711.so`), an account for a local UA (`sip:user@127.0.0.1:port`, no registration;
//! with a registrar, a second UA is added over `ctrl_tcp` once connected, `uanew`, so that
//! its `REGISTERING`/`REGISTER_OK` events are seen, and made current), audio from a WAV through `aufile.so` (silence or a tone generated here, or
//! a file given), audio out to ALSA's `null` device (`alsa.so`; Debian's baresip 1.0.0 has
//! no aufile player, and `alsa,null` needs no sound card), `menu.so` (the commands) and
//! `ctrl_tcp.so` on a free TCP port. With [`BaresipConfig::record`], `sndfile.so` writes
//! what is received (`dump-…-dec.wav`) and sent (`-enc.wav`) to a directory.
//!
//! # The protocol
//! `ctrl_tcp` frames JSON in netstrings (`len:json,`). A command is
//! `{"command":"dial","params":"sip:…","token":"7"}`; its response is
//! `{"response":true,"ok":true,"data":"…","token":"7"}`; events are
//! `{"event":true,"type":"CALL_DTMF_START","class":"call","param":"1",…}`.
//! `sndcode` exists only while a call is up (baresip adds the call commands then).

use crate::child::ChildGuard;
use crate::error::{Error, Result};
use crate::ports;
use crate::tempdir::TempDir;
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Environment variable naming the `baresip` binary (default `/usr/bin/baresip`, then
/// `baresip` on the `PATH`).
pub const BARESIP_ENV: &str = "TIPRING_BARESIP";
/// Environment variable naming the module directory (default: the first of
/// `/usr/lib/baresip/modules`, `/usr/lib/x86_64-linux-gnu/baresip/modules`,
/// `/usr/local/lib/baresip/modules` that exists).
pub const MODULES_ENV: &str = "TIPRING_BARESIP_MODULES";
/// The modules loaded (all present in Debian bookworm's baresip-core 1.0.0).
pub const MODULES: [&str; 6] = [
    "g711.so",
    "aufile.so",
    "alsa.so",
    "account.so",
    "menu.so",
    "ctrl_tcp.so",
];
/// How long a start may take before it is given up.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command may take to be answered.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const START_TRIES: usize = 5;
const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The `baresip` binary to run.
pub fn baresip_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(BARESIP_ENV) {
        return PathBuf::from(p);
    }
    let default = Path::new("/usr/bin/baresip");
    if default.exists() {
        default.to_path_buf()
    } else {
        PathBuf::from("baresip")
    }
}

/// baresip's module directory, if one exists.
pub fn module_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(MODULES_ENV) {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/local/lib/baresip/modules",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
}

/// True when baresip and the modules in [`MODULES`] are installed (tests skip otherwise).
pub fn baresip_available() -> bool {
    let Some(dir) = module_dir() else {
        return false;
    };
    MODULES.iter().all(|m| dir.join(m).is_file())
        && Command::new(baresip_binary())
            .arg("-h")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

/// How incoming calls are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerMode {
    /// At once (`answermode=auto`).
    #[default]
    Auto,
    /// Only on [`Baresip::answer`] (`answermode=manual`).
    Manual,
}

/// What the phone sends as audio.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AudioSource {
    /// Digital silence.
    #[default]
    Silence,
    /// A sine at a frequency (Hz) and level (dBm0).
    Tone {
        /// Frequency, Hz.
        freq_hz: f32,
        /// Level, dBm0.
        dbm0: f32,
    },
    /// A WAV file (8 kHz, mono, 16-bit).
    Wav(PathBuf),
}

/// A phone's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BaresipConfig {
    /// The user part of its address (default `alice`).
    pub user: String,
    /// Digest password (`auth_pass`), if it has one.
    pub password: Option<String>,
    /// Digest user name (`auth_user`) when it differs from `user`.
    pub auth_user: Option<String>,
    /// Register at this registrar (the account's domain becomes its address) every
    /// `register_interval` seconds; `None`: no registration.
    pub registrar: Option<SocketAddr>,
    /// Registration interval, s (`regint`, default 3600).
    pub register_interval: u32,
    /// How incoming calls are answered (default auto).
    pub answer: AnswerMode,
    /// Codecs in order of preference (`audio_codecs`, default `pcmu`).
    pub codecs: Vec<String>,
    /// Packet time, ms (`ptime`; default baresip's 20).
    pub ptime: Option<u32>,
    /// What it sends (default silence).
    pub audio: AudioSource,
    /// Length of a generated WAV (default 60 s; after it the source is silent).
    pub audio_secs: u32,
    /// Record received and sent audio as WAVs (`sndfile.so`).
    pub record: bool,
    /// Extra `config` lines, written as given.
    pub extra_config: Vec<String>,
}

impl Default for BaresipConfig {
    fn default() -> Self {
        Self {
            user: "alice".to_string(),
            password: None,
            auth_user: None,
            registrar: None,
            register_interval: 3600,
            answer: AnswerMode::Auto,
            codecs: vec!["pcmu".to_string()],
            ptime: None,
            audio: AudioSource::Silence,
            audio_secs: 60,
            record: false,
            extra_config: Vec::new(),
        }
    }
}

fn check_token(what: &'static str, v: &str) -> Result<()> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>;\"',@:".contains(c))
    {
        return Err(Error::invalid(
            what,
            format!("{v:?} (must be non-empty, without spaces or any of <>;\"',@:)"),
        ));
    }
    Ok(())
}

impl BaresipConfig {
    fn check(&self) -> Result<()> {
        check_token("baresip user", &self.user)?;
        if let Some(p) = &self.password {
            check_token("baresip password", p)?;
        }
        if let Some(u) = &self.auth_user {
            check_token("baresip auth user", u)?;
        }
        for c in &self.codecs {
            if c.is_empty() || c.contains([';', ',', ' ', '>']) {
                return Err(Error::invalid("baresip codec", format!("{c:?}")));
            }
        }
        if self.codecs.is_empty() {
            return Err(Error::invalid("baresip codecs", "none given"));
        }
        if let Some(l) = self.extra_config.iter().find(|l| l.contains('\n')) {
            return Err(Error::invalid(
                "baresip config line",
                format!("{l:?} has a line break"),
            ));
        }
        if let AudioSource::Wav(p) = &self.audio
            && !p.is_file()
        {
            return Err(Error::Missing {
                what: "baresip audio WAV",
                path: p.clone(),
            });
        }
        Ok(())
    }

    /// The account of the local UA (`registrar: None`), or of the registering UA.
    fn account_line(&self, sip_port: u16, registering: bool) -> String {
        let mut a = match self.registrar {
            Some(r) if registering => {
                format!("<sip:{}@{r}>;regint={}", self.user, self.register_interval)
            }
            _ => format!("<sip:{}@127.0.0.1:{sip_port}>;regint=0", self.user),
        };
        if let Some(p) = &self.password {
            let _ = write!(a, ";auth_pass={p}");
        }
        if let Some(u) = &self.auth_user {
            let _ = write!(a, ";auth_user={u}");
        }
        let mode = match self.answer {
            AnswerMode::Auto => "auto",
            AnswerMode::Manual => "manual",
        };
        let _ = write!(
            a,
            ";answermode={mode};audio_codecs={}",
            self.codecs.join(",")
        );
        if let Some(p) = self.ptime {
            let _ = write!(a, ";ptime={p}");
        }
        a
    }

    fn config_file(
        &self,
        dir: &Path,
        modules: &Path,
        sip_port: u16,
        ctrl_port: u16,
        rtp: (u16, u16),
        wav: &Path,
    ) -> String {
        let mut c = String::new();
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(c, "{k:<24}{v}");
        };
        line("poll_method", "epoll");
        line("sip_listen", &format!("127.0.0.1:{sip_port}"));
        line("net_interface", "127.0.0.1");
        line("call_local_timeout", "120");
        line("call_max_calls", "4");
        line("audio_player", "alsa,null");
        line("audio_alert", "alsa,null");
        line("audio_source", &format!("aufile,{}", wav.display()));
        line("audio_buffer", "20-160");
        line("rtp_ports", &format!("{}-{}", rtp.0, rtp.1));
        line("rtcp_mux", "no");
        line("jitter_buffer_delay", "1-10");
        line("statmode_default", "off");
        line("module_path", &modules.display().to_string());
        for m in ["g711.so", "aufile.so", "alsa.so"] {
            line("module", m);
        }
        if self.record {
            line("module", "sndfile.so");
            line("snd_path", &dir.join("rec").display().to_string());
        }
        line("module_tmp", "account.so");
        line("module_app", "menu.so");
        line("module_app", "ctrl_tcp.so");
        line("ctrl_tcp_listen", &format!("127.0.0.1:{ctrl_port}"));
        for l in &self.extra_config {
            let _ = writeln!(c, "{l}");
        }
        c
    }
}

/// One `ctrl_tcp` event.
#[derive(Debug, Clone, PartialEq)]
pub struct BaresipEvent {
    /// `type`: `CALL_ESTABLISHED`, `CALL_DTMF_START`, `REGISTER_OK`, …
    pub kind: String,
    /// `param`: the digit of a DTMF event, the reason of `CALL_CLOSED`, …
    pub param: Option<String>,
    /// `peeruri`, when the event concerns a call.
    pub peer_uri: Option<String>,
    /// When it arrived, after the start.
    pub at: Duration,
    /// The whole JSON object.
    pub raw: Value,
}

/// A running baresip. See the [module docs](self). Killed on drop.
#[derive(Debug)]
pub struct Baresip {
    child: ChildGuard,
    dir: TempDir,
    sip_addr: SocketAddr,
    user: String,
    ctrl: TcpStream,
    rx: Receiver<Value>,
    queue: VecDeque<BaresipEvent>,
    history: Vec<BaresipEvent>,
    next_token: u64,
    started: Instant,
}

impl Baresip {
    /// Starts a phone.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad configuration, [`Error::Missing`] when baresip's
    /// module directory or a module is missing, [`Error::Start`] when it does not come up
    /// (after retries with fresh ports when it failed to bind), [`Error::Io`] for file
    /// errors.
    pub fn start(cfg: BaresipConfig) -> Result<Self> {
        cfg.check()?;
        let modules = module_dir().ok_or_else(|| Error::Missing {
            what: "baresip module directory",
            path: PathBuf::from("/usr/lib/baresip/modules"),
        })?;
        let mut needed: Vec<&str> = MODULES.to_vec();
        if cfg.record {
            needed.push("sndfile.so");
        }
        for m in needed {
            if !modules.join(m).is_file() {
                return Err(Error::Missing {
                    what: "baresip module",
                    path: modules.join(m),
                });
            }
        }
        let mut last = String::new();
        for _ in 0..START_TRIES {
            match Self::try_start(&cfg, &modules)? {
                Ok(b) => return Ok(b),
                Err(why) => last = why,
            }
        }
        Err(Error::Start {
            tool: "baresip",
            why: format!("no start in {START_TRIES} tries with fresh ports; last: {last}"),
        })
    }

    /// One attempt: `Ok(Err(why))` when it failed to bind and may be retried.
    fn try_start(cfg: &BaresipConfig, modules: &Path) -> Result<Result<Self, String>> {
        let dir = TempDir::new(&format!("baresip-{}", cfg.user))?;
        let wav = match &cfg.audio {
            AudioSource::Wav(p) => p.clone(),
            src => {
                let p = dir.join("source.wav");
                write_source_wav(&p, src, cfg.audio_secs)?;
                p
            }
        };
        if cfg.record {
            std::fs::create_dir_all(dir.join("rec"))
                .map_err(|e| Error::io("creating the recording directory", e))?;
        }
        let sip_port = ports::free_udp_port(LO)?;
        let ctrl_port = ports::free_tcp_port(LO)?;
        // A random 64-port RTP range below the ephemeral range; baresip tries others in
        // the range when one is taken.
        let base = 20_000 + (rand_u32() % 5_000) as u16 * 2;
        let rtp = (base, base + 63);
        let config = cfg.config_file(dir.path(), modules, sip_port, ctrl_port, rtp, &wav);
        std::fs::write(dir.join("config"), config)
            .map_err(|e| Error::io("writing baresip's config", e))?;
        std::fs::write(
            dir.join("accounts"),
            cfg.account_line(sip_port, false) + "\n",
        )
        .map_err(|e| Error::io("writing baresip's accounts", e))?;
        std::fs::write(dir.join("contacts"), "")
            .map_err(|e| Error::io("writing baresip's contacts", e))?;
        let log_path = dir.join("baresip.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| Error::io("creating baresip's log", e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("duplicating baresip's log handle", e))?;
        let bin = baresip_binary();
        let child = Command::new(&bin)
            .arg("-f")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| Error::Start {
                tool: "baresip",
                why: format!("running {}: {e}", bin.display()),
            })?;
        let mut child = ChildGuard::new(child);
        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(st) = child.try_status() {
                let bind = text.contains("Address already in use") || text.contains("bind");
                let why = format!("exited ({st}) at start; its output:\n{}", tail(&text));
                return if bind {
                    Ok(Err(why))
                } else {
                    Err(Error::Start {
                        tool: "baresip",
                        why,
                    })
                };
            }
            if text.contains("baresip is ready.") {
                break;
            }
            if Instant::now() >= deadline {
                child.kill();
                return Err(Error::Start {
                    tool: "baresip",
                    why: format!(
                        "not ready after {START_TIMEOUT:?}; its output:\n{}",
                        tail(&text)
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let ctrl_addr = SocketAddr::new(LO, ctrl_port);
        let ctrl = match TcpStream::connect_timeout(&ctrl_addr, Duration::from_secs(2)) {
            Ok(s) => s,
            Err(e) => {
                child.kill();
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Ok(Err(format!(
                    "ctrl_tcp {ctrl_addr}: {e}; its output:\n{}",
                    tail(&text)
                )));
            }
        };
        let reader = ctrl
            .try_clone()
            .map_err(|e| Error::io("duplicating the ctrl_tcp socket", e))?;
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name(format!("baresip-ctrl-{ctrl_port}"))
            .spawn(move || read_netstrings(reader, &tx))
            .map_err(|e| Error::io("starting the ctrl_tcp reader", e))?;
        let mut b = Self {
            child,
            dir,
            sip_addr: SocketAddr::new(LO, sip_port),
            user: cfg.user.clone(),
            ctrl,
            rx,
            queue: VecDeque::new(),
            history: Vec::new(),
            next_token: 1,
            started,
        };
        if let Some(r) = cfg.registrar {
            // A UA in the accounts file registers before the control connection is up, so
            // its REGISTER_OK would be lost: the registering UA is added now instead, and
            // made the current one (calls go out through it).
            b.command("uanew", Some(&cfg.account_line(sip_port, true)))?;
            b.command("uafind", Some(&format!("sip:{}@{r}", cfg.user)))?;
        }
        Ok(Ok(b))
    }

    /// Its SIP address (UDP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Its SIP URI, `sip:user@127.0.0.1:port`.
    pub fn uri(&self) -> String {
        format!("sip:{}@{}", self.user, self.sip_addr)
    }

    /// Its configuration directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its output so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// The WAVs `sndfile.so` has written (with [`BaresipConfig::record`]), oldest first by
    /// name: `dump-<time>-dec.wav` is what it received, `-enc.wav` what it sent.
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.join("rec"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every event received so far, consumed or not.
    pub fn history(&self) -> &[BaresipEvent] {
        &self.history
    }

    /// Sends a command and waits for its response; returns its `data`.
    ///
    /// # Errors
    /// [`Error::Io`] when the control connection fails, [`Error::Timeout`] without a
    /// response within [`COMMAND_TIMEOUT`], [`Error::Failed`] when baresip answers not ok.
    pub fn command(&mut self, command: &str, params: Option<&str>) -> Result<String> {
        let token = self.next_token.to_string();
        self.next_token += 1;
        let mut obj = serde_json::json!({ "command": command, "token": token });
        if let Some(p) = params {
            obj["params"] = Value::String(p.to_string());
        }
        let body = obj.to_string();
        let frame = format!("{}:{body},", body.len());
        self.ctrl
            .write_all(frame.as_bytes())
            .map_err(|e| Error::io(format!("sending {command:?} to baresip"), e))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let v = self.recv_until(deadline).ok_or_else(|| Error::Timeout {
                what: format!("baresip's response to {command:?}"),
                detail: format!("; its output ends:\n{}", tail(&self.log())),
            })?;
            if v.get("response").and_then(Value::as_bool) == Some(true)
                && v.get("token").and_then(Value::as_str) == Some(token.as_str())
            {
                let data = v
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if v.get("ok").and_then(Value::as_bool) == Some(true) {
                    return Ok(data);
                }
                return Err(Error::Failed {
                    tool: "baresip",
                    why: format!("{command} {}: {data}", params.unwrap_or("")),
                });
            }
        }
    }

    /// Calls `uri` (`sip:…`). The call's progress arrives as events.
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub fn dial(&mut self, uri: &str) -> Result<()> {
        self.command("dial", Some(uri)).map(|_| ())
    }

    /// Answers the ringing call ([`AnswerMode::Manual`]).
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub fn answer(&mut self) -> Result<()> {
        self.command("accept", None).map(|_| ())
    }

    /// Hangs up the current call.
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub fn hangup(&mut self) -> Result<()> {
        self.command("hangup", None).map(|_| ())
    }

    /// Sends `digits` as RFC 4733 events in the current call (`sndcode`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a character that is not a DTMF digit, else as
    /// [`command`](Self::command) (a failure when no call is up: the command does not
    /// exist then).
    pub fn send_dtmf(&mut self, digits: &str) -> Result<()> {
        if let Some((i, c)) = digits
            .chars()
            .enumerate()
            .find(|&(_, c)| tipring_dsp::dtmf::rfc4733_event(c).is_none())
        {
            return Err(Error::invalid(
                "DTMF digits",
                format!("{c:?} at position {i} of {digits:?}"),
            ));
        }
        self.command("sndcode", Some(digits)).map(|_| ())
    }

    /// Waits for the next not yet consumed event of type `kind` (earlier events of other
    /// types stay queued), at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`] naming the events seen meanwhile.
    pub fn wait_for(&mut self, kind: &str, timeout: Duration) -> Result<BaresipEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.queue.iter().position(|e| e.kind == kind)
                && let Some(e) = self.queue.remove(i)
            {
                return Ok(e);
            }
            if self.recv_until(deadline).is_none() {
                let seen: Vec<String> = self
                    .history
                    .iter()
                    .map(|e| match &e.param {
                        Some(p) => format!("{}({p})", e.kind),
                        None => e.kind.clone(),
                    })
                    .collect();
                return Err(Error::Timeout {
                    what: format!("baresip event {kind}"),
                    detail: format!(
                        "; events so far: [{}]; its output ends:\n{}",
                        seen.join(", "),
                        tail(&self.log())
                    ),
                });
            }
        }
    }

    /// The queued (not yet consumed) events, taken.
    pub fn events(&mut self) -> Vec<BaresipEvent> {
        while self.recv_until(Instant::now()).is_some() {}
        self.queue.drain(..).collect()
    }

    /// Reads one message (up to `deadline`); events are queued, everything returned.
    fn recv_until(&mut self, deadline: Instant) -> Option<Value> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let v = match self.rx.recv_timeout(wait) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
        };
        if v.get("event").and_then(Value::as_bool) == Some(true) {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let e = BaresipEvent {
                kind: s("type").unwrap_or_default(),
                param: s("param"),
                peer_uri: s("peeruri"),
                at: self.started.elapsed(),
                raw: v.clone(),
            };
            self.history.push(e.clone());
            self.queue.push_back(e);
        }
        Some(v)
    }

    /// Asks baresip to quit and waits for it. A registered UA first unregisters and waits
    /// for the answer (32 s when the registrar is gone), so after 1.5 s it gets SIGTERM,
    /// and half a second later a second one (the first only starts the same graceful
    /// stop; the second ends it). If it still runs 2 s later it is killed.
    ///
    /// # Errors
    /// [`Error::Failed`] when it had to be killed.
    pub fn quit(mut self) -> Result<()> {
        use nix::sys::signal::Signal::SIGTERM;
        let _ = self.command("quit", None);
        if self
            .child
            .wait_until(Instant::now() + Duration::from_millis(1500))
            .is_some()
        {
            return Ok(());
        }
        self.child.signal(SIGTERM);
        if self
            .child
            .wait_until(Instant::now() + Duration::from_millis(500))
            .is_some()
        {
            return Ok(());
        }
        self.child.signal(SIGTERM);
        if self
            .child
            .wait_until(Instant::now() + Duration::from_secs(2))
            .is_some()
        {
            return Ok(());
        }
        self.child.kill();
        Err(Error::Failed {
            tool: "baresip",
            why: "did not quit, even after two SIGTERMs; killed".to_string(),
        })
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.ctrl.shutdown(std::net::Shutdown::Both);
        self.child.kill();
    }
}

/// Parses netstrings (`len:payload,`) of JSON from `r` into `tx` until EOF or garbage.
fn read_netstrings(r: impl Read, tx: &std::sync::mpsc::Sender<Value>) {
    let mut r = BufReader::new(r);
    loop {
        let mut len = Vec::new();
        match r.read_until(b':', &mut len) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        len.pop();
        let Some(n) = std::str::from_utf8(&len)
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n <= 1 << 20)
        else {
            return;
        };
        let mut body = vec![0u8; n + 1];
        if r.read_exact(&mut body).is_err() || body[n] != b',' {
            return;
        }
        body.pop();
        if let Ok(v) = serde_json::from_slice::<Value>(&body)
            && tx.send(v).is_err()
        {
            return;
        }
    }
}

/// Writes an 8 kHz mono 16-bit WAV of `secs` of silence or a tone.
fn write_source_wav(path: &Path, src: &AudioSource, secs: u32) -> Result<()> {
    let samples = match src {
        AudioSource::Tone { freq_hz, dbm0 } => {
            crate::stream::sine(*freq_hz, *dbm0, secs.saturating_mul(1000))?
        }
        _ => vec![0i16; secs as usize * 8000],
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let err = |e: hound::Error| Error::Io {
        context: format!("writing {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for s in samples {
        w.write_sample(s).map_err(err)?;
    }
    w.finalize().map_err(err)
}

/// Reads an 8 kHz mono 16-bit WAV (a [`Baresip::recordings`] file) as samples.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::Malformed`] for another format.
pub fn read_wav(path: &Path) -> Result<Vec<i16>> {
    let r = hound::WavReader::open(path).map_err(|e| Error::Io {
        context: format!("reading {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let spec = r.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 || spec.sample_rate != 8000 {
        return Err(Error::malformed(
            "WAV",
            format!(
                "{}: {} Hz, {} channels, {} bits (expected 8000 Hz mono 16-bit)",
                path.display(),
                spec.sample_rate,
                spec.channels,
                spec.bits_per_sample
            ),
        ));
    }
    // A recording still being written may end mid-sample: keep what was read.
    Ok(r.into_samples::<i16>().map_while(|s| s.ok()).collect())
}

fn tail(s: &str) -> String {
    let s = s.trim_end();
    let mut start = s.len().saturating_sub(3000);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// A few random bits from the clock and the process id (for picking an RTP range).
fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_lines() {
        let c = BaresipConfig::default();
        assert_eq!(
            c.account_line(5070, true),
            "<sip:alice@127.0.0.1:5070>;regint=0;answermode=auto;audio_codecs=pcmu"
        );
        let c = BaresipConfig {
            user: "bob".into(),
            password: Some("pw".into()),
            registrar: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 5099))),
            register_interval: 60,
            answer: AnswerMode::Manual,
            ptime: Some(30),
            ..BaresipConfig::default()
        };
        assert_eq!(
            c.account_line(5070, true),
            "<sip:bob@127.0.0.1:5099>;regint=60;auth_pass=pw;answermode=manual;\
             audio_codecs=pcmu;ptime=30"
        );
        assert!(
            c.account_line(5070, false)
                .starts_with("<sip:bob@127.0.0.1:5070>;regint=0;")
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        for c in [
            BaresipConfig {
                user: "a b".into(),
                ..BaresipConfig::default()
            },
            BaresipConfig {
                password: Some("x;y".into()),
                ..BaresipConfig::default()
            },
            BaresipConfig {
                codecs: vec![],
                ..BaresipConfig::default()
            },
            BaresipConfig {
                audio: AudioSource::Wav("/nonexistent.wav".into()),
                ..BaresipConfig::default()
            },
            BaresipConfig {
                extra_config: vec!["a\nb".into()],
                ..BaresipConfig::default()
            },
        ] {
            assert!(Baresip::start(c).is_err());
        }
    }

    #[test]
    fn netstrings() {
        let (tx, rx) = channel();
        let data = br#"14:{"event":true},2:{},3:{"x,junk"#;
        read_netstrings(&data[..], &tx);
        let got: Vec<Value> = rx.try_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["event"], Value::Bool(true));
    }

    #[test]
    fn source_wav_round_trip() {
        let d = TempDir::new("wav").unwrap();
        let p = d.join("t.wav");
        write_source_wav(
            &p,
            &AudioSource::Tone {
                freq_hz: 1004.0,
                dbm0: -10.0,
            },
            1,
        )
        .unwrap();
        let s = read_wav(&p).unwrap();
        assert_eq!(s.len(), 8000);
        let r = crate::tone::detect(&s, 1004.0);
        assert!(r.heard(Duration::from_millis(950), -10.0, 0.5), "{r:?}");
    }
}
