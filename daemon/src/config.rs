//! `tipring.toml`: what the daemon runs. Every key has a default, so no file at all gives
//! the sim board with the example handlers. A bad file is refused as a whole, naming the
//! file, line, column and key.
//!
//! ```toml
//! [daemon]
//! api = "127.0.0.1:8080"          # HTTP API address
//! handlers_dir = "/usr/lib/tipring/handlers"   # default: the example handlers
//! drain_seconds = 30              # SIGTERM: how long active calls may finish
//! rt_priority = 10                # media threads' SCHED_FIFO priority (0: don't ask)
//! max_calls = 500                 # calls at once in all (more are refused: busy, SIP 503)
//! capture_dir = "/var/lib/tipring/capture"   # channel captures (tipring capture N on)
//!
//! [board]
//! kind = "sim"                    # the simulated board (or use a profile:)
//! profile = "analog-4fxo-4fxs"    # a board profile (`tipring board list`) or a profile file:
//!                                 # DAHDI cards; its country, law and groups replace the keys below
//! phones = 4                      # sim FXS ports (channels 1..=phones)
//! trunks = 4                      # sim FXO ports (the next channels)
//! law = "ulaw"                    # ulaw | alaw | linear
//! frame_ms = 20                   # 10 | 20
//! plan = "us"                     # us | uk | de | fr
//! shards = 1                      # media threads
//!
//! [[board.directory]]             # the sim exchange's numbers
//! number = "5550100"
//! outcome = "busy"                # answer | busy | congestion | no-answer
//!
//! [[route]]                       # first match wins: channel = N | kind = "fxo" | group = "g" | any = true
//!                                 # and/or number = "2XX" (X any digit, a final . anything more):
//!                                 # with any number route, phones hear dial tone and dial
//! kind = "fxo"
//! handler = "ivr-c"
//! params = { prompts = "/usr/share/asterisk/sounds/en" }
//!
//! [groups]
//! sales = [5, 6]
//!
//! [records]
//! path = "/var/lib/tipring/calls.db"   # call records (SQLite, WAL); default: calls.db in
//!                                 # $STATE_DIRECTORY under systemd, else memory only
//!
//! [handler.ivr-c]                 # given to the handler's init, as JSON
//!
//! [api]                           # more listeners; authentication; TLS
//! listen = ["0.0.0.0:8443"]       # these authenticate every request (TLS with a certificate)
//! tokens = ["sha256:…"]           # bearer tokens, hashed (tipring api-token makes one)
//! keys = { ops = "hex:…" }        # HMAC-SHA256 signing keys by id (hex:… or file:PATH)
//! replay_window_s = 300           # signed requests: timestamp window and replay memory
//! tls_cert = "/etc/tipring/api.pem"   # TLS (rustls) on the [api] listen listeners
//! tls_key = "/etc/tipring/api.key"
//! auth_on_loopback = false        # [daemon] api (plain HTTP, the local CLI's) authenticates
//!                                 # when it is not loopback, or with this
//!
//! [policy.ivr-c]                  # how tipringd runs the handler (every key optional)
//! isolation = "process"           # process (default: its own supervised host) | in-process
//! fallback = "apology"            # its calls when it fails: apology | handler:NAME
//! apology = "tone:sit"            # file:PATH.wav | tone:NAME, played to answered calls
//! max_calls = 100                 # calls at once (more are refused: busy, SIP 503)
//! soft_budget_ms = 2              # a slower on_event is logged (handler.slow)
//! hard_budget_ms = 500            # an event unanswered this long kills the host
//! memory_mb = 256                 # resident memory that kills the host
//! cpu_seconds = 0                 # RLIMIT_CPU over the host's life (0: none)
//! open_files = 256                # RLIMIT_NOFILE
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default config file.
pub const DEFAULT_PATH: &str = "/etc/tipring/tipring.toml";

/// The whole file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[daemon]`.
    pub daemon: Daemon,
    /// `[board]`.
    pub board: Board,
    /// `[[route]]`, in order.
    pub route: Vec<RouteEntry>,
    /// `[groups]`: name → channels.
    pub groups: BTreeMap<String, Vec<u32>>,
    /// `[handler.NAME]`: each handler's init config.
    pub handler: BTreeMap<String, toml::Table>,
    /// `[policy.NAME]`: how each handler is run.
    pub policy: BTreeMap<String, PolicyEntry>,
    /// `[sip]`: SIP trunks (absent: no SIP).
    pub sip: Option<Sip>,
    /// `[records]`: where call records are stored.
    pub records: Records,
    /// `[api]`: more listeners, credentials, TLS.
    pub api: Api,
    /// The board profile `board.profile` names, resolved and checked.
    #[serde(skip)]
    pub profile: Option<tipring_board::Profile>,
    /// The file it was read from (`None`: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The file's text (a reload compares sections).
    #[serde(skip)]
    pub text: String,
}

/// `[policy.NAME]`: how tipringd runs one handler.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyEntry {
    /// `process` (default) or `in-process`.
    pub isolation: Option<Spanned<String>>,
    /// `apology` (default) or `handler:NAME`.
    pub fallback: Option<Spanned<String>>,
    /// The apology: `file:PATH.wav` or `tone:NAME` (default `tone:sit`).
    pub apology: Option<Spanned<String>>,
    /// Calls at once.
    pub max_calls: Option<Spanned<u32>>,
    /// ms.
    pub soft_budget_ms: Option<Spanned<u64>>,
    /// ms.
    pub hard_budget_ms: Option<Spanned<u64>>,
    /// MiB.
    pub memory_mb: Option<Spanned<u64>>,
    /// Seconds (0: none).
    pub cpu_seconds: Option<u64>,
    /// Open files.
    pub open_files: Option<Spanned<u64>>,
}

impl PolicyEntry {
    /// The load options it gives (checked by [`Config::parse`]).
    pub fn options(&self) -> crate::handler::LoadOptions {
        use crate::handler::{Fallback, Isolation, LoadOptions, Policy};
        let mut o = LoadOptions::default();
        if self
            .isolation
            .as_ref()
            .is_some_and(|i| i.get_ref() == "in-process")
        {
            o.isolation = Isolation::InProcess;
        }
        let apology = self
            .apology
            .as_ref()
            .map_or_else(|| "tone:sit".to_string(), |a| a.get_ref().clone());
        o.policy = Policy {
            fallback: match self.fallback.as_ref().map(|f| f.get_ref().as_str()) {
                Some(f) if f.starts_with("handler:") => {
                    Fallback::Handler(f["handler:".len()..].to_string())
                }
                _ => Fallback::Apology(apology),
            },
            max_calls: self.max_calls.as_ref().map(|m| *m.get_ref()),
        };
        let ms = std::time::Duration::from_millis;
        if let Some(v) = &self.soft_budget_ms {
            o.limits.soft_budget = ms(*v.get_ref());
        }
        if let Some(v) = &self.hard_budget_ms {
            o.limits.hard_budget = ms(*v.get_ref());
        }
        if let Some(v) = &self.memory_mb {
            o.limits.memory_bytes = *v.get_ref() << 20;
        }
        o.limits.cpu_seconds = self.cpu_seconds.filter(|&s| s > 0);
        if let Some(v) = &self.open_files {
            o.limits.open_files = *v.get_ref();
        }
        o
    }
}

/// `[sip]`: the SIP user agent, its channels and trunks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    /// Signalling address (UDP, and TCP on the same port).
    pub listen: Spanned<String>,
    /// The address peers reach us at, when it differs from `listen` (NAT): used in Via,
    /// Contact and SDP.
    pub external: Option<Spanned<String>>,
    /// SIP channel slots (concurrent SIP calls); they are numbered after the board's.
    pub channels: u32,
    /// First RTP port; channel `i` uses `rtp_port + 2i` (RTCP on the odd port above).
    pub rtp_port: u16,
    /// Codecs in preference order: `pcmu`, `pcma`, `opus`.
    pub codecs: Vec<Spanned<String>>,
    /// RTP packet time we send, ms: 10, 20 or 30.
    pub ptime: Spanned<u32>,
    /// Offer and accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// Send RTP to where the peer's packets come from (NAT), not only to its SDP address.
    pub symmetric_rtp: bool,
    /// `Retry-After` seconds on 503 when every SIP channel is busy or the media thread is
    /// overloaded.
    pub retry_after: u32,
    /// Share of its core (0–1] the SIP media thread may use, measured over the last second,
    /// above which new calls get 503 + `Retry-After` (Q.850 cause 42): the calls already up
    /// keep their media on time.
    pub max_media_load: Spanned<f64>,
    /// RFC 4028 session interval asked for and accepted at most, s (90 at least): calls are
    /// refreshed at half of it, and one nobody refreshes ends after it.
    pub session_expires: Spanned<u32>,
    /// Trunks.
    pub trunk: Vec<Trunk>,
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            listen: Spanned::new(0..0, "127.0.0.1:5060".into()),
            external: None,
            channels: 64,
            rtp_port: 20_000,
            codecs: vec![
                Spanned::new(0..0, "pcmu".into()),
                Spanned::new(0..0, "pcma".into()),
            ],
            ptime: Spanned::new(0..0, 20),
            telephone_event: true,
            symmetric_rtp: true,
            retry_after: 5,
            max_media_load: Spanned::new(0..0, 0.9),
            session_expires: Spanned::new(0..0, 1800),
            trunk: Vec::new(),
        }
    }
}

/// `[[sip.trunk]]`: a PBX or carrier Tipring exchanges calls with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// Name, for logs and the API.
    pub name: Spanned<String>,
    /// The proxy or peer (calls out go here): `address:port`, `name:port` (its A/AAAA
    /// records), or a bare `name` (its `_sip._udp`/`_sip._tcp` SRV records, else its
    /// addresses on 5060). Calls fail over along the addresses found on 503 or no answer.
    pub host: Spanned<String>,
    /// SIP domain for From and Request-URIs (default: the host).
    pub domain: Option<String>,
    /// Digest user name (for 401/407 and REGISTER).
    pub username: Option<String>,
    /// Digest password.
    pub password: Option<String>,
    /// Register with the host.
    #[serde(default)]
    pub register: bool,
    /// Expires asked for in REGISTER, s.
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// Source addresses calls may come from (`a.b.c.d` or `a.b.c.d/n`); default: the host.
    #[serde(default)]
    pub acl: Vec<Spanned<String>>,
    /// Send an OPTIONS ping every this many seconds (0: never); a trunk that stops answering
    /// is marked down (logged) and outbound calls prefer trunks that are up.
    #[serde(default)]
    pub keepalive: u32,
    /// Challenge INVITEs from this trunk with digest: `401` (WWW-Authenticate) or `407`
    /// (Proxy-Authenticate); the caller must present `username`/`password`.
    pub challenge: Option<Spanned<u16>>,
    /// How requests to the trunk travel: `udp` (default) or `tcp`. Tipring listens on both,
    /// on `sip.listen`'s port, whatever this says.
    pub transport: Option<Spanned<String>>,
}

fn default_expires() -> u32 {
    3600
}

/// A trunk host: `address:port`, or a DNS name with an optional `:port`.
fn valid_trunk_host(h: &str) -> bool {
    if h.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    let Some((name, _port)) = tipring_sip::hdr::split_host_port(h) else {
        return false;
    };
    // A bare address without a port is an address, not a name: ask for the port.
    name.parse::<std::net::IpAddr>().is_err()
        && !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `a.b.c.d[/n]` → (network, prefix length).
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, n)) => (ip, n.parse().ok()?),
        None => (s, 255),
    };
    let ip: std::net::IpAddr = ip.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = if len == 255 { max } else { len };
    (len <= max).then_some((ip, len))
}

/// `[daemon]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Daemon {
    /// API address.
    pub api: Spanned<String>,
    /// Handlers directory (default: the example handlers built with the daemon).
    pub handlers_dir: Option<PathBuf>,
    /// SIGTERM drain deadline, s.
    pub drain_seconds: u64,
    /// SCHED_FIFO priority of media threads (0: don't ask).
    pub rt_priority: u8,
    /// Calls at once, all handlers together (more are refused: busy, SIP 503).
    pub max_calls: Option<u32>,
    /// Where channel captures go (default: `capture` in systemd's `STATE_DIRECTORY`, else
    /// the system's temporary directory).
    pub capture_dir: Option<PathBuf>,
}

impl Daemon {
    /// Where channel captures go.
    pub fn capture_dir(&self) -> PathBuf {
        self.capture_dir.clone().unwrap_or_else(|| {
            std::env::var_os("STATE_DIRECTORY")
                .map(PathBuf::from)
                .map_or_else(
                    || std::env::temp_dir().join("tipring-capture"),
                    |d| d.join("capture"),
                )
        })
    }
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            api: Spanned::new(0..0, "127.0.0.1:8080".into()),
            handlers_dir: None,
            drain_seconds: 30,
            rt_priority: 10,
            max_calls: None,
            capture_dir: None,
        }
    }
}

/// `[api]`: the API's other listeners and how requests are authenticated.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// More listeners (besides `[daemon] api`), e.g. `"0.0.0.0:8443"`: they authenticate
    /// every request, and speak TLS when a certificate is configured.
    pub listen: Vec<Spanned<String>>,
    /// Accepted bearer tokens, as `sha256:HEX` hashes (`tipring api-token` makes one).
    pub tokens: Vec<Spanned<String>>,
    /// HMAC-SHA256 request-signing keys by id: `hex:…` or `file:PATH` (the file's bytes).
    pub keys: BTreeMap<String, Spanned<String>>,
    /// Signed requests' timestamp window and replay memory, s.
    pub replay_window_s: Option<Spanned<u64>>,
    /// TLS certificate chain (PEM) for the `listen` listeners.
    pub tls_cert: Option<Spanned<String>>,
    /// Its private key (PEM).
    pub tls_key: Option<Spanned<String>>,
    /// Authenticate `[daemon] api` even on loopback (it always does elsewhere).
    pub auth_on_loopback: bool,
}

/// Whether a listener address is loopback (`127.0.0.0/8`, `::1`, `localhost`).
pub fn addr_is_loopback(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => {
            a.ip().is_loopback()
                || matches!(a.ip(), std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))
        }
        Err(_) => addr
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

impl Api {
    /// The credentials, read (key files) and checked.
    ///
    /// # Errors
    /// Which entry is wrong and why.
    pub fn credentials(
        &self,
    ) -> Result<tipring_auth::Credentials, (std::ops::Range<usize>, String)> {
        let mut c = tipring_auth::Credentials::new();
        for (i, t) in self.tokens.iter().enumerate() {
            c.add_token_hash(t.get_ref())
                .map_err(|e| (t.span(), format!("api.tokens[{i}]: {e}")))?;
        }
        for (id, v) in &self.keys {
            let secret = if let Some(hex) = v.get_ref().strip_prefix("hex:") {
                decode_hex(hex).ok_or_else(|| {
                    (
                        v.span(),
                        format!("api.keys.{id}: hex: expects an even number of hex digits"),
                    )
                })?
            } else if let Some(path) = v.get_ref().strip_prefix("file:") {
                std::fs::read(path)
                    .map_err(|e| (v.span(), format!("api.keys.{id}: {path}: {e}")))?
            } else {
                return Err((
                    v.span(),
                    format!("api.keys.{id}: expected hex:… or file:PATH"),
                ));
            };
            c.add_key(id, &secret)
                .map_err(|e| (v.span(), format!("api.keys.{id}: {e}")))?;
        }
        Ok(c)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `[records]`: call records in SQLite.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Records {
    /// The database file. Default: `calls.db` in systemd's `STATE_DIRECTORY` when tipringd
    /// runs under it; otherwise records are kept in memory only (the last 1 000).
    pub path: Option<String>,
}

/// `[board]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Board {
    /// `sim`.
    pub kind: Spanned<String>,
    /// A board profile: a built-in's name or a profile file (relative to this file). It
    /// describes the hardware (DAHDI cards or the sim), and its country, law and channel
    /// groups replace `plan`, `law`, `phones`, `trunks`.
    pub profile: Option<Spanned<String>>,
    /// Sim FXS ports.
    pub phones: u32,
    /// Sim FXO ports.
    pub trunks: u32,
    /// `ulaw`, `alaw`, `linear`.
    pub law: Spanned<String>,
    /// 10 or 20.
    pub frame_ms: Spanned<u32>,
    /// `us`, `uk`, `de`, `fr`.
    pub plan: Spanned<String>,
    /// Media threads.
    pub shards: usize,
    /// Sim exchange ring cadence, ms.
    pub ring_on_ms: u32,
    /// See `ring_on_ms`.
    pub ring_off_ms: u32,
    /// Sim exchange numbers.
    pub directory: Vec<DirEntry>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            kind: Spanned::new(0..0, "sim".into()),
            profile: None,
            phones: 4,
            trunks: 4,
            law: Spanned::new(0..0, "ulaw".into()),
            frame_ms: Spanned::new(0..0, 20),
            plan: Spanned::new(0..0, "us".into()),
            shards: 1,
            ring_on_ms: 2000,
            ring_off_ms: 4000,
            directory: Vec::new(),
        }
    }
}

/// `[[board.directory]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirEntry {
    /// The number.
    pub number: Spanned<String>,
    /// `answer`, `busy`, `congestion`, `no-answer`.
    pub outcome: Spanned<String>,
    /// `answer`: ringing time, ms.
    #[serde(default = "default_answer_ms")]
    pub answer_after_ms: u32,
    /// `answer`: reverse polarity on answer.
    #[serde(default = "yes")]
    pub polarity: bool,
}

fn default_answer_ms() -> u32 {
    3000
}

fn yes() -> bool {
    true
}

/// `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// Match one channel.
    pub channel: Option<u32>,
    /// Match a kind.
    pub kind: Option<String>,
    /// Match a group.
    pub group: Option<String>,
    /// Match everything.
    #[serde(default)]
    pub any: bool,
    /// Match calls to this number (a pattern: digits, `X` any digit, a final `.` anything
    /// more). Alone it matches any channel; phones then dial a number after dial tone.
    pub number: Option<Spanned<String>>,
    /// The handler.
    pub handler: Spanned<String>,
    /// Its params.
    #[serde(default)]
    pub params: toml::Table,
}

/// A config error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong (with the key).
    pub message: String,
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

impl Config {
    /// Reads `path`.
    ///
    /// # Errors
    /// Unreadable, not TOML, unknown keys, wrong types or values: one error naming the
    /// file, line, column and key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        let mut c = Self::parse(&path.display().to_string(), &text)?;
        c.source = Some(path.to_path_buf());
        Ok(c)
    }

    /// Parses `text` (from `file`, for messages).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            ConfigError {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            at(span, e.message().trim().to_string())
        })?;
        cfg.text = text.to_string();
        if let Some(p) = cfg.board.profile.clone() {
            let name = p.get_ref();
            let looks_like_path = name.contains('/') || name.ends_with(".toml");
            let resolved = if looks_like_path && !Path::new(name).is_absolute() {
                let dir = Path::new(file).parent().unwrap_or(Path::new(""));
                dir.join(name).display().to_string()
            } else {
                name.clone()
            };
            let profile = tipring_board::Profile::resolve(&resolved)
                .map_err(|e| at(p.span(), format!("board.profile: {e}")))?;
            cfg.apply_profile(&profile)
                .map_err(|m| at(p.span(), format!("board.profile: {m}")))?;
            cfg.profile = Some(profile);
        }
        let b = &cfg.board;
        let dahdi = cfg.profile.is_some() && b.kind.get_ref() == "dahdi";
        if b.kind.get_ref() != "sim" && !dahdi {
            return Err(at(
                b.kind.span(),
                format!(
                    "board.kind: {:?}: this version drives \"sim\", or DAHDI cards through \
                     board.profile",
                    b.kind.get_ref()
                ),
            ));
        }
        if !matches!(b.law.get_ref().as_str(), "ulaw" | "alaw" | "linear") {
            return Err(at(
                b.law.span(),
                format!(
                    "board.law: {:?}: expected ulaw, alaw or linear",
                    b.law.get_ref()
                ),
            ));
        }
        if !matches!(*b.frame_ms.get_ref(), 10 | 20) {
            return Err(at(
                b.frame_ms.span(),
                format!(
                    "board.frame_ms: {}: expected 10 or 20",
                    b.frame_ms.get_ref()
                ),
            ));
        }
        if tipring_dsp::progress::plan::PLANS
            .iter()
            .all(|p| p.name != b.plan.get_ref().as_str())
        {
            return Err(at(
                b.plan.span(),
                format!(
                    "board.plan: {:?}: expected us, uk, de or fr",
                    b.plan.get_ref()
                ),
            ));
        }
        if !dahdi && (b.phones + b.trunks == 0 || b.phones + b.trunks > 20_000) {
            return Err(at(0..0, "board: phones + trunks must be 1..=20000".into()));
        }
        if b.shards == 0 || b.shards > 64 {
            return Err(at(0..0, "board.shards: must be 1..=64".into()));
        }
        for (i, d) in b.directory.iter().enumerate() {
            if tipring_hal::Digits::parse(tipring_hal::ChannelId(0), d.number.get_ref()).is_err()
                || d.number.get_ref().is_empty()
            {
                return Err(at(
                    d.number.span(),
                    format!(
                        "board.directory[{i}].number: {:?}: only 0-9 * # A-D, 1 to 32 of them",
                        d.number.get_ref()
                    ),
                ));
            }
            if !matches!(
                d.outcome.get_ref().as_str(),
                "answer" | "busy" | "congestion" | "no-answer"
            ) {
                return Err(at(
                    d.outcome.span(),
                    format!(
                        "board.directory[{i}].outcome: {:?}: expected answer, busy, congestion or no-answer",
                        d.outcome.get_ref()
                    ),
                ));
            }
        }
        if cfg
            .daemon
            .api
            .get_ref()
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return Err(at(
                cfg.daemon.api.span(),
                format!(
                    "daemon.api: {:?} is not an address:port",
                    cfg.daemon.api.get_ref()
                ),
            ));
        }
        if let Some(sip) = &cfg.sip {
            for (key, v) in std::iter::once(("sip.listen", &sip.listen))
                .chain(sip.external.as_ref().map(|e| ("sip.external", e)))
            {
                if v.get_ref().parse::<std::net::SocketAddr>().is_err() {
                    return Err(at(
                        v.span(),
                        format!("{key}: {:?} is not an address:port", v.get_ref()),
                    ));
                }
            }
            let unspecified = sip
                .listen
                .get_ref()
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_unspecified());
            if unspecified && sip.external.is_none() {
                return Err(at(
                    sip.listen.span(),
                    format!(
                        "sip.listen: {:?} listens on every address; set sip.external to the address peers reach (it goes in Via, Contact and SDP)",
                        sip.listen.get_ref()
                    ),
                ));
            }
            if sip.channels == 0 || sip.channels > 20_000 {
                return Err(at(0..0, "sip.channels: must be 1..=20000".into()));
            }
            if u32::from(sip.rtp_port) + 2 * sip.channels > 65_535 || sip.rtp_port < 1024 {
                return Err(at(
                    0..0,
                    format!(
                        "sip.rtp_port: {} with {} channels runs past port 65535 (or is below 1024)",
                        sip.rtp_port, sip.channels
                    ),
                ));
            }
            if !matches!(*sip.ptime.get_ref(), 10 | 20 | 30) {
                return Err(at(
                    sip.ptime.span(),
                    format!("sip.ptime: {}: expected 10, 20 or 30", sip.ptime.get_ref()),
                ));
            }
            if *sip.session_expires.get_ref() < tipring_sip::timer::FLOOR {
                return Err(at(
                    sip.session_expires.span(),
                    format!(
                        "sip.session_expires: {} s is below RFC 4028's minimum of 90",
                        sip.session_expires.get_ref()
                    ),
                ));
            }
            let load = *sip.max_media_load.get_ref();
            if !(load > 0.0 && load <= 1.0) {
                return Err(at(
                    sip.max_media_load.span(),
                    format!(
                        "sip.max_media_load: {load}: expected a share of one core above 0 and \
                         at most 1 (0.9 is 90 %)"
                    ),
                ));
            }
            if sip.codecs.is_empty() {
                return Err(at(0..0, "sip.codecs: name at least one codec".into()));
            }
            for c in &sip.codecs {
                if tipring_sip::sdp::Codec::from_name(c.get_ref()).is_none() {
                    return Err(at(
                        c.span(),
                        format!("sip.codecs: {:?}: expected pcmu, pcma or opus", c.get_ref()),
                    ));
                }
            }
            for (i, t) in sip.trunk.iter().enumerate() {
                if !valid_trunk_host(t.host.get_ref()) {
                    return Err(at(
                        t.host.span(),
                        format!(
                            "sip.trunk[{i}].host: {:?} is not address:port, name:port or a name",
                            t.host.get_ref()
                        ),
                    ));
                }
                if t.register && (t.username.is_none() || t.password.is_none()) {
                    return Err(at(
                        t.name.span(),
                        format!("sip.trunk[{i}]: register = true needs username and password"),
                    ));
                }
                if t.keepalive != 0 && t.keepalive < 5 {
                    return Err(at(
                        t.name.span(),
                        format!(
                            "sip.trunk[{i}].keepalive: {} s is too often (0 or at least 5)",
                            t.keepalive
                        ),
                    ));
                }
                if let Some(tr) = &t.transport
                    && !matches!(tr.get_ref().as_str(), "udp" | "tcp")
                {
                    return Err(at(
                        tr.span(),
                        format!(
                            "sip.trunk[{i}].transport: {:?}: expected udp or tcp",
                            tr.get_ref()
                        ),
                    ));
                }
                if let Some(c) = &t.challenge {
                    if !matches!(*c.get_ref(), 401 | 407) {
                        return Err(at(
                            c.span(),
                            format!(
                                "sip.trunk[{i}].challenge: {}: expected 401 or 407",
                                c.get_ref()
                            ),
                        ));
                    }
                    if t.username.is_none() || t.password.is_none() {
                        return Err(at(
                            c.span(),
                            format!(
                                "sip.trunk[{i}].challenge needs username and password (the credentials the trunk must present)"
                            ),
                        ));
                    }
                }
                for a in &t.acl {
                    if parse_cidr(a.get_ref()).is_none() {
                        return Err(at(
                            a.span(),
                            format!(
                                "sip.trunk[{i}].acl: {:?} is not an address or address/prefix",
                                a.get_ref()
                            ),
                        ));
                    }
                }
            }
        }
        for (i, r) in cfg.route.iter().enumerate() {
            let n = usize::from(r.channel.is_some())
                + usize::from(r.kind.is_some())
                + usize::from(r.group.is_some())
                + usize::from(r.any);
            if n > 1 || (n == 0 && r.number.is_none()) {
                return Err(at(
                    r.handler.span(),
                    format!(
                        "route[{i}]: give exactly one of channel, kind, group or any = true \
                         (with or without number), or number alone"
                    ),
                ));
            }
            if let Some(p) = &r.number
                && let Some(why) = crate::call::pattern_error(p.get_ref())
            {
                return Err(at(
                    p.span(),
                    format!("route[{i}].number: {:?}: {why}", p.get_ref()),
                ));
            }
            if let Some(g) = &r.group
                && !cfg.groups.contains_key(g)
            {
                return Err(at(
                    r.handler.span(),
                    format!("route[{i}].group: no group {g:?} in [groups]"),
                ));
            }
        }
        let creds = cfg.api.credentials().map_err(|(span, m)| at(span, m))?;
        let d = &cfg.daemon.api;
        if !addr_is_loopback(d.get_ref()) && creds.is_empty() {
            return Err(at(
                d.span(),
                format!(
                    "daemon.api: {:?} is not a loopback address: the API there needs \
                     credentials ([api] tokens or keys)",
                    d.get_ref()
                ),
            ));
        }
        if let Some(l) = cfg.api.listen.first()
            && creds.is_empty()
        {
            return Err(at(
                l.span(),
                "api.listen: these listeners authenticate every request: set [api] tokens \
                 or keys"
                    .into(),
            ));
        }
        match (&cfg.api.tls_cert, &cfg.api.tls_key) {
            (Some(c), Some(k)) => {
                tipring_auth::tls_config(Path::new(c.get_ref()), Path::new(k.get_ref()))
                    .map_err(|e| at(c.span(), format!("api.tls_cert: {e}")))?;
            }
            (Some(c), None) => {
                return Err(at(c.span(), "api.tls_cert: needs api.tls_key".into()));
            }
            (None, Some(k)) => {
                return Err(at(k.span(), "api.tls_key: needs api.tls_cert".into()));
            }
            (None, None) => {}
        }
        if let Some(w) = &cfg.api.replay_window_s
            && !(1..=3600).contains(w.get_ref())
        {
            return Err(at(
                w.span(),
                format!("api.replay_window_s: {}: expected 1..=3600", w.get_ref()),
            ));
        }
        for (name, p) in &cfg.policy {
            let key = |k: &str| format!("policy.{name}.{k}");
            if let Some(i) = &p.isolation
                && !matches!(i.get_ref().as_str(), "process" | "in-process")
            {
                return Err(at(
                    i.span(),
                    format!(
                        "{}: {:?}: expected \"process\" or \"in-process\"",
                        key("isolation"),
                        i.get_ref()
                    ),
                ));
            }
            if let Some(f) = &p.fallback {
                let v = f.get_ref();
                let ok = v == "apology"
                    || v.strip_prefix("handler:")
                        .is_some_and(|h| !h.is_empty() && h != name);
                if !ok {
                    return Err(at(
                        f.span(),
                        format!(
                            "{}: {v:?}: expected \"apology\" or \"handler:NAME\" (another handler)",
                            key("fallback")
                        ),
                    ));
                }
            }
            if let Some(a) = &p.apology {
                let v = a.get_ref();
                let ok = v.starts_with("tone:") || (v.starts_with("file:") && v.ends_with(".wav"));
                if !ok {
                    return Err(at(
                        a.span(),
                        format!(
                            "{}: {v:?}: expected file:PATH.wav or tone:NAME",
                            key("apology")
                        ),
                    ));
                }
            }
            for (k, v, lo, hi) in [
                (
                    "max_calls",
                    p.max_calls
                        .as_ref()
                        .map(|v| (u64::from(*v.get_ref()), v.span())),
                    1,
                    100_000,
                ),
                (
                    "soft_budget_ms",
                    p.soft_budget_ms.as_ref().map(|v| (*v.get_ref(), v.span())),
                    1,
                    60_000,
                ),
                (
                    "hard_budget_ms",
                    p.hard_budget_ms.as_ref().map(|v| (*v.get_ref(), v.span())),
                    10,
                    600_000,
                ),
                (
                    "memory_mb",
                    p.memory_mb.as_ref().map(|v| (*v.get_ref(), v.span())),
                    16,
                    1 << 20,
                ),
                (
                    "open_files",
                    p.open_files.as_ref().map(|v| (*v.get_ref(), v.span())),
                    16,
                    1 << 20,
                ),
            ] {
                if let Some((v, span)) = v
                    && !(lo..=hi).contains(&v)
                {
                    return Err(at(span, format!("{}: {v}: expected {lo}..={hi}", key(k))));
                }
            }
            if let (Some(s), Some(h)) = (&p.soft_budget_ms, &p.hard_budget_ms)
                && s.get_ref() >= h.get_ref()
            {
                return Err(at(
                    s.span(),
                    format!("{}: must be below hard_budget_ms", key("soft_budget_ms")),
                ));
            }
        }
        let total = cfg.board_channels();
        for (g, chans) in &cfg.groups {
            if let Some(c) = chans.iter().find(|&&c| c == 0 || c > total) {
                return Err(at(
                    0..0,
                    format!("groups.{g}: channel {c} does not exist (the board has 1..={total})"),
                ));
            }
        }
        Ok(cfg)
    }

    /// Takes the board's shape from a profile: a sim profile's ports, or a DAHDI
    /// profile's groups (added to `[groups]`); its country and law in both cases.
    fn apply_profile(&mut self, p: &tipring_board::Profile) -> Result<(), String> {
        self.board.plan = Spanned::new(0..0, p.country.clone());
        self.board.law = Spanned::new(
            0..0,
            match p.law {
                tipring_board::Law::Ulaw => "ulaw",
                tipring_board::Law::Alaw => "alaw",
            }
            .into(),
        );
        match p.hardware {
            tipring_board::Hardware::Sim => {
                if let Some(s) = p.sim {
                    self.board.phones = s.phones;
                    self.board.trunks = s.trunks;
                }
            }
            tipring_board::Hardware::Dahdi => {
                self.board.kind = Spanned::new(0..0, "dahdi".into());
                for g in &p.groups {
                    if self.groups.contains_key(&g.name) {
                        return Err(format!(
                            "its group {:?} is also in [groups]; rename one",
                            g.name
                        ));
                    }
                    self.groups.insert(g.name.clone(), g.channels.clone());
                }
            }
        }
        Ok(())
    }

    /// The highest channel number the board has (SIP channels are numbered after it).
    pub fn board_channels(&self) -> u32 {
        match &self.profile {
            Some(p) if p.hardware == tipring_board::Hardware::Dahdi => p
                .groups
                .iter()
                .flat_map(|g| g.channels.iter().copied())
                .max()
                .unwrap_or(0),
            _ => self.board.phones + self.board.trunks,
        }
    }

    /// The routes, as the switch takes them (the defaults when the file has none: FXO
    /// lines to the C IVR, phones to the Rust menu, with the Debian prompts).
    pub fn routes(&self) -> Vec<crate::call::Route> {
        use crate::call::{Match, Route};
        if self.route.is_empty() {
            let params =
                serde_json::json!({"prompts": "/usr/share/asterisk/sounds/en"}).to_string();
            return vec![
                Route {
                    matches: Match::Kind("fxo".into()),
                    number: None,
                    handler: "ivr-c".into(),
                    params: params.clone(),
                },
                Route {
                    matches: Match::Kind("fxs".into()),
                    number: None,
                    handler: "menu".into(),
                    params,
                },
            ];
        }
        self.route
            .iter()
            .map(|r| Route {
                matches: match (&r.channel, &r.kind, &r.group) {
                    (Some(c), _, _) => Match::Channel(*c),
                    (_, Some(k), _) => Match::Kind(k.clone()),
                    (_, _, Some(g)) => Match::Group(g.clone()),
                    _ => Match::Any,
                },
                number: r.number.as_ref().map(|n| n.get_ref().clone()),
                handler: r.handler.get_ref().clone(),
                params: serde_json::to_string(&r.params).unwrap_or_else(|_| "{}".into()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_the_defaults() {
        let c = Config::parse("t.toml", "").unwrap();
        assert_eq!(c.board.phones, 4);
        assert_eq!(c.daemon.api.get_ref(), "127.0.0.1:8080");
        assert_eq!(c.routes().len(), 2);
    }

    #[test]
    fn sip_section_errors_are_located() {
        let err = |text: &str| Config::parse("t.toml", text).unwrap_err().to_string();
        assert_eq!(
            err("[sip]\nlisten = \"nowhere\"\n"),
            "t.toml:2:10: sip.listen: \"nowhere\" is not an address:port"
        );
        assert!(err("[sip]\nlisten = \"0.0.0.0:5060\"\n").starts_with(
            "t.toml:2:10: sip.listen: \"0.0.0.0:5060\" listens on every address; set sip.external"
        ),);
        assert_eq!(
            err("[sip]\ncodecs = [\"pcmu\", \"g729\"]\n"),
            "t.toml:2:19: sip.codecs: \"g729\": expected pcmu, pcma or opus"
        );
        assert_eq!(
            err("[sip]\nptime = 25\n"),
            "t.toml:2:9: sip.ptime: 25: expected 10, 20 or 30"
        );
        assert!(err("[sip]\nrtp_port = 65000\nchannels = 1000\n").contains("runs past port 65535"));
        assert_eq!(
            err("[sip]\nsession_expires = 60\n"),
            "t.toml:2:19: sip.session_expires: 60 s is below RFC 4028's minimum of 90"
        );
        assert_eq!(
            err("[sip]\nmax_media_load = 1.5\n"),
            "t.toml:2:18: sip.max_media_load: 1.5: expected a share of one core above 0 and \
             at most 1 (0.9 is 90 %)"
        );
        assert_eq!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nchallenge = 403\n"),
            "t.toml:4:13: sip.trunk[0].challenge: 403: expected 401 or 407"
        );
        assert!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nchallenge = 407\n")
                .ends_with("sip.trunk[0].challenge needs username and password (the credentials the trunk must present)")
        );
        assert_eq!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\ntransport = \"tls\"\n"),
            "t.toml:4:13: sip.trunk[0].transport: \"tls\": expected udp or tcp"
        );
        assert!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nkeepalive = 1\n")
                .contains("keepalive: 1 s is too often")
        );
        assert_eq!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"pbx example\"\n"),
            "t.toml:3:8: sip.trunk[0].host: \"pbx example\" is not address:port, name:port or a name"
        );
        assert!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1\"\n")
                .contains("is not address:port")
        );
        for host in [
            "pbx.example.com",
            "pbx.example.com:5080",
            "[2001:db8::1]:5060",
        ] {
            let toml = format!("[[sip.trunk]]\nname = \"pbx\"\nhost = \"{host}\"\n");
            assert!(Config::parse("t.toml", &toml).is_ok(), "{host}");
        }
        assert_eq!(
            err("[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nregister = true\n"),
            "t.toml:2:8: sip.trunk[0]: register = true needs username and password"
        );
        assert_eq!(
            err(
                "[[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nacl = [\"10.0.0.0/40\"]\n"
            ),
            "t.toml:4:8: sip.trunk[0].acl: \"10.0.0.0/40\" is not an address or address/prefix"
        );
        let ok = Config::parse(
            "t.toml",
            "[sip]\nlisten = \"0.0.0.0:5060\"\nexternal = \"203.0.113.7:5060\"\n\
             [[sip.trunk]]\nname = \"pbx\"\nhost = \"10.0.0.1:5060\"\nacl = [\"10.0.0.0/8\"]\n",
        )
        .unwrap();
        assert_eq!(ok.sip.unwrap().trunk.len(), 1);
        assert_eq!(
            parse_cidr("10.1.2.3"),
            Some(("10.1.2.3".parse().unwrap(), 32))
        );
    }

    #[test]
    fn errors_name_file_line_column_and_key() {
        let e = Config::parse("t.toml", "[board]\nphones = 2\nlaw = \"mulaw\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:3:7: board.law: \"mulaw\": expected ulaw, alaw or linear"
        );
        let e = Config::parse("t.toml", "[board]\nfrobs = 1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:1: unknown field `frobs`"),
            "{e}"
        );
        let e = Config::parse("t.toml", "[board]\nphones = \"four\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("t.toml:2:10: invalid type"),
            "{e}"
        );
        let e = Config::parse(
            "t.toml",
            "[[route]]\nkind = \"fxo\"\nany = true\nhandler = \"x\"\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:4:11: route[0]: give exactly one of channel, kind, group or any = true \
             (with or without number), or number alone"
        );
        let e =
            Config::parse("t.toml", "[[route]]\nnumber = \"2.3\"\nhandler = \"x\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2:10: route[0].number: \"2.3\": `.` only at the end, after at least one digit"
        );
        let c = Config::parse("t.toml", "[[route]]\nnumber = \"2XX\"\nhandler = \"x\"\n").unwrap();
        assert_eq!(c.routes()[0].number.as_deref(), Some("2XX"));
        let e = Config::parse("t.toml", "[board]\nframe_ms = 30\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2:12: board.frame_ms: 30: expected 10 or 20"
        );
        let e = Config::parse(
            "t.toml",
            "[[board.directory]]\nnumber = \"55x\"\noutcome = \"busy\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:10: board.directory[0].number"),
            "{e}"
        );
        let e = Config::parse("t.toml", "[daemon]\napi = \"localhost\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:2:7: daemon.api: \"localhost\" is not an address:port"
        );
        let e = Config::parse("t.toml", "[board\n").unwrap_err();
        assert!(e.to_string().starts_with("t.toml:1:"), "{e}");
    }
}
