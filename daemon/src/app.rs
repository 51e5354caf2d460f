//! The daemon: builds the board, the media threads, the handlers and the switch from the
//! config, runs the control loop and the API, and shuts down in order.

use crate::call::Switch;
use crate::config::Config;
use crate::handler::Registry;
use crate::media::{self, TickStats};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tipring_hal::sim::{self, Destination, Directory, SimConfig, SimControl};
use tipring_hal::{AudioFormat, ChannelId, Digits, Encoding, FramePeriod, Pacing, Shard};

/// What the API and the control loop share.
#[derive(Debug)]
pub struct Shared {
    /// The switch (call control); every access is short.
    pub switch: Mutex<Switch>,
    /// The sim board's far ends (`None` on real hardware).
    pub sim: Mutex<Option<SimControl>>,
    /// Stream events for `GET /v1/events`, one JSON object per message.
    pub stream: tokio::sync::broadcast::Sender<String>,
    /// Shutting down.
    pub draining: AtomicBool,
    /// Media threads' counters.
    pub media: Vec<Arc<TickStats>>,
    /// What the sim board's far ends did and heard, per line, newest last (at most
    /// [`SIM_HEARD`] each): `GET /v1/sim/lines/{n}/heard`.
    pub sim_heard: Mutex<HashMap<u32, std::collections::VecDeque<(u64, String)>>>,
    /// A DAHDI board's spans: alarms and D-channels (`GET /v1/spans`).
    pub spans: Option<Arc<tipring_hal::dahdi::SpanBoard>>,
    /// The config running (replaced by a reload that succeeds).
    pub config: Mutex<Config>,
    /// Signalling counters kept outside the switch (`/metrics`).
    pub counters: Arc<crate::metrics::Counters>,
}

/// Reports kept per sim line.
pub const SIM_HEARD: usize = 200;

/// A sim far end's report in words (`heard digit 5`, `heard tone dial`, `answered`).
fn sim_report_text(e: &tipring_hal::sim::SimEvent) -> String {
    use tipring_hal::sim::SimEvent;
    match e {
        SimEvent::HeardDigit(d) => format!("heard digit {d}"),
        SimEvent::HeardTone(t) => format!("heard tone {}", t.name()),
        SimEvent::Dialled(d) => format!("dialled {}", d.as_str()),
        SimEvent::Answered => "answered".into(),
        SimEvent::GaveUp => "gave up".into(),
        SimEvent::ScriptDone => "script done".into(),
    }
}

/// Sets up logging on stderr: plain lines without timestamps under systemd (journald adds
/// them), timestamps otherwise. `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // Colours only on a terminal (and never with NO_COLOR).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = if journald {
        b.without_time().with_ansi(false).try_init()
    } else {
        b.with_ansi(ansi).try_init()
    };
}

/// Reads the config: `explicit` must exist; the default path may be absent (defaults).
///
/// # Errors
/// The config error, in words (file:line:column: key: message).
pub fn load_config(explicit: Option<&Path>) -> Result<Config, String> {
    match explicit {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => {
            let p = Path::new(crate::config::DEFAULT_PATH);
            if p.exists() {
                Config::load(p).map_err(|e| e.to_string())
            } else {
                tracing::info!(
                    "no {} — running the sim board with the example handlers",
                    crate::config::DEFAULT_PATH
                );
                Ok(Config::default())
            }
        }
    }
}

fn directory(cfg: &Config) -> Directory {
    let d = |s: &str| Digits::parse(ChannelId(0), s).ok();
    let entries: Vec<(String, String, u32, bool)> = if cfg.board.directory.is_empty() {
        vec![
            ("5550100".into(), "busy".into(), 0, false),
            ("5550200".into(), "answer".into(), 3000, true),
            ("5550300".into(), "no-answer".into(), 0, false),
            ("5550400".into(), "congestion".into(), 0, false),
        ]
    } else {
        cfg.board
            .directory
            .iter()
            .map(|e| {
                (
                    e.number.get_ref().clone(),
                    e.outcome.get_ref().clone(),
                    e.answer_after_ms,
                    e.polarity,
                )
            })
            .collect()
    };
    entries
        .into_iter()
        .filter_map(|(n, o, after, polarity)| {
            let dest = match o.as_str() {
                "busy" => Destination::Busy,
                "congestion" => Destination::Congestion,
                "no-answer" => Destination::NoAnswer,
                _ => Destination::Answer {
                    after_ms: after,
                    polarity,
                    script: sim::Script::new(),
                },
            };
            d(&n).map(|n| (n, dest))
        })
        .collect()
}

/// File descriptors the daemon needs: two per SIP channel (RTP and RTCP) plus room for
/// the API, handlers, logs and devices.
fn files_needed(cfg: &Config) -> u64 {
    cfg.sip.as_ref().map_or(0, |s| 2 * u64::from(s.channels)) + 1024
}

/// Raises the soft open-files limit towards the hard one when the configuration needs more
/// (Linux's default soft limit, 1024, is short of a few hundred SIP channels). Says what it
/// got when even the hard limit is short.
pub(crate) fn raise_file_limit(needed: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= needed {
        return;
    }
    let want = needed.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
        Ok(()) if want >= needed => tracing::info!("open-files limit raised from {soft} to {want}"),
        Ok(()) => tracing::warn!(
            "open-files limit raised to the hard limit {want}, short of the {needed} the \
             configuration needs: raise LimitNOFILE (systemd) or the hard limit"
        ),
        Err(e) => tracing::warn!(
            "open-files limit {soft} is short of the {needed} the configuration needs and \
             could not be raised: {e}"
        ),
    }
}

/// Where call records go: `[records] path`, else `calls.db` in systemd's state directory.
fn records_path(cfg: &Config) -> Option<std::path::PathBuf> {
    if let Some(p) = &cfg.records.path {
        return Some(p.into());
    }
    let dir = std::env::var_os("STATE_DIRECTORY")?;
    // systemd may list several, separated by ':'; the first is ours.
    let first = dir.to_string_lossy().split(':').next()?.to_string();
    Some(std::path::Path::new(&first).join("calls.db"))
}

/// The simulated board of `cfg`.
fn sim_board(
    cfg: &Config,
    plan: &'static tipring_dsp::progress::plan::TonePlan,
    encoding: Encoding,
) -> Result<(Vec<Box<dyn Shard>>, SimControl), tipring_hal::sim::SimError> {
    let (shards, sim) = sim::build(SimConfig {
        phones: cfg.board.phones,
        trunks: cfg.board.trunks,
        format: AudioFormat {
            encoding,
            period: FramePeriod::from_ms(*cfg.board.frame_ms.get_ref()).unwrap_or_default(),
        },
        plan,
        ring_on_ms: cfg.board.ring_on_ms,
        ring_off_ms: cfg.board.ring_off_ms,
        directory: directory(cfg),
        shards: cfg.board.shards,
        pacing: Pacing::Realtime,
        ..SimConfig::default()
    })?;
    Ok((shards.into_iter().map(|s| Box::new(s) as _).collect(), sim))
}

/// A country's ring cadence for phones on FXS ports, as `DAHDI_SETCADENCE` takes it (ms on,
/// ms off, …): the ringer rings in step with the ringback the caller hears.
fn ring_cadence(country: &str) -> Vec<u32> {
    use tipring_dsp::progress::plan::{PLANS, SegmentKind};
    let Some(plan) = PLANS.iter().find(|p| p.name == country) else {
        return Vec::new();
    };
    let mut out: Vec<u32> = Vec::new();
    let mut last_on = None;
    for seg in plan.ringback.segments() {
        let on = seg.kind() != SegmentKind::Silence;
        let ms = seg.duration_ms();
        if ms == 0 {
            return Vec::new(); // a continuous ringback says nothing about a cadence
        }
        match out.last_mut() {
            Some(l) if last_on == Some(on) => *l += ms,
            _ => out.push(ms),
        }
        last_on = Some(on);
    }
    if out.len() > 16 || !out.len().is_multiple_of(2) {
        return Vec::new();
    }
    out
}

/// What the DAHDI backend opens for a profile: every channel of its groups, in the
/// profile's order, under its device root.
pub fn dahdi_config(p: &tipring_board::Profile, frame_ms: u32) -> tipring_hal::dahdi::DahdiConfig {
    use tipring_board::{CallerIdStandard, PortKind, Signalling};
    use tipring_hal::dahdi::{CidStyle, DahdiChannel, DahdiConfig, NodeStyle};
    use tipring_hal::{ChannelKind, SpanId, Timeslot};
    let mut channels = Vec::new();
    for g in &p.groups {
        for &c in &g.channels {
            let span = p.spans.iter().find(|s| s.contains(c));
            let span_no = span.map_or(g.span.unwrap_or(1), |s| s.number);
            let chanpos = span.and_then(|s| s.position(c)).unwrap_or(c);
            let slot = Timeslot(u8::try_from(chanpos).unwrap_or(u8::MAX));
            let sid = SpanId(u16::try_from(span_no).unwrap_or(u16::MAX));
            channels.push(DahdiChannel {
                channo: c,
                span: span_no,
                chanpos,
                // A T1/E1 timeslot with loop-start emulation in robbed bits signals as an
                // analog port does (DAHDI reports the same events), so call control treats
                // it as one; its location still names the span.
                kind: match (g.kind, g.signalling) {
                    (_, Signalling::FxsLoopstart) | (PortKind::Fxs, _) => ChannelKind::Fxs,
                    (_, Signalling::FxoLoopstart) | (PortKind::Fxo, _) => ChannelKind::Fxo,
                    (PortKind::T1, _) => ChannelKind::T1 { span: sid, slot },
                    (PortKind::E1, _) => ChannelKind::E1 { span: sid, slot },
                },
                echo_tail_ms: u16::try_from(g.echo_tail_ms).unwrap_or(128),
                hardware_ec: g.echo_canceller == tipring_board::EchoCanceller::Hardware,
                em_wink: g.signalling == Signalling::EmWink,
            });
        }
    }
    DahdiConfig {
        root: p.dahdi.root.clone(),
        nodes: NodeStyle::Specify,
        channels,
        period: FramePeriod::from_ms(frame_ms).unwrap_or_default(),
        hook: Default::default(),
        supervision: Default::default(),
        ring_cadence_ms: ring_cadence(&p.country),
        spans: p
            .spans
            .iter()
            .map(|s| tipring_hal::dahdi::SpanConfig {
                number: s.number,
                dchannel: s.dchannel,
            })
            .collect(),
        caller_id: match p.caller_id {
            CallerIdStandard::Bell202 => CidStyle::Bell202,
            CallerIdStandard::EtsiV23Dtas => CidStyle::EtsiDtas,
            CallerIdStandard::EtsiV23Lr => CidStyle::EtsiLineReversal,
            CallerIdStandard::EtsiV23Rp => CidStyle::EtsiAfterRing,
            CallerIdStandard::DtmfClip => CidStyle::DtmfClip,
            CallerIdStandard::None => CidStyle::None,
        },
    }
}

/// Runs the daemon until SIGTERM/SIGINT; returns the exit status.
pub fn run(cfg: Config) -> i32 {
    raise_file_limit(files_needed(&cfg));
    let plan = tipring_dsp::progress::plan::PLANS
        .iter()
        .copied()
        .find(|p| p.name == cfg.board.plan.get_ref().as_str())
        .unwrap_or(&tipring_dsp::progress::plan::US);
    let encoding = match cfg.board.law.get_ref().as_str() {
        "alaw" => Encoding::Alaw,
        "linear" => Encoding::Linear,
        _ => Encoding::Ulaw,
    };
    let mut spans = None;
    let (shards, sim): (Vec<Box<dyn Shard>>, _) = match &cfg.profile {
        Some(p) if p.hardware == tipring_board::Hardware::Dahdi => {
            let dc = dahdi_config(p, *cfg.board.frame_ms.get_ref());
            match tipring_hal::dahdi::build(&dc) {
                Ok(shard) => {
                    tracing::info!(
                        profile = %p.name,
                        root = %dc.root.display(),
                        channels = dc.channels.len(),
                        "DAHDI channels open"
                    );
                    spans = Some(shard.spans());
                    (vec![Box::new(shard)], None)
                }
                Err(e) => {
                    tracing::error!(profile = %p.name, "board: {e}");
                    return 1;
                }
            }
        }
        _ => match sim_board(&cfg, plan, encoding) {
            Ok((s, c)) => (s, Some(c)),
            Err(e) => {
                tracing::error!("board: {e}");
                return 1;
            }
        },
    };
    let mut shards = shards;
    // SIP channels: numbered after the board's, on their own media thread.
    let mut sip_setup = None;
    let mut rtp_stats = None;
    if let Some(sc) = &cfg.sip {
        let first = cfg.board_channels() + 1;
        let bind = sc
            .listen
            .get_ref()
            .parse::<std::net::SocketAddr>()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
        match tipring_hal::sip::build(&tipring_hal::sip::SipMediaConfig {
            first_channel: first,
            channels: sc.channels,
            bind,
            rtp_port: sc.rtp_port,
            pacing: Pacing::Realtime,
        }) {
            Ok((shard, control)) => {
                shards.push(Box::new(shard));
                rtp_stats = Some(control.stats());
                let (line, rx, taps) = crate::sip::SipLine::new();
                let chans: Vec<ChannelId> = (first..first + sc.channels).map(ChannelId).collect();
                sip_setup = Some((
                    crate::sip::Setup {
                        cfg: sc.clone(),
                        media: control,
                        commands: rx,
                        taps,
                        media_load: None,
                    },
                    line,
                    chans,
                ));
            }
            Err(e) => {
                tracing::error!("SIP: {e}");
                return 1;
            }
        }
    }
    let (engines, link) = media::build(shards, plan);
    let store = match records_path(&cfg) {
        Some(path) => match crate::records::SqliteStore::open(&path) {
            Ok(s) => {
                tracing::info!(path = %path.display(), "call records are stored");
                Some(s)
            }
            Err(e) => {
                tracing::error!("{e}");
                return 1;
            }
        },
        None => {
            tracing::info!(
                "call records are kept in memory only: set [records] path to store them"
            );
            None
        }
    };
    let stats: Vec<Arc<TickStats>> = link.stats().to_vec();

    let groups: HashMap<String, Vec<u32>> = cfg.groups.clone().into_iter().collect();
    let mut by_channel: HashMap<u32, Vec<String>> = HashMap::new();
    for (g, chans) in &groups {
        for c in chans {
            by_channel.entry(*c).or_default().push(g.clone());
        }
    }
    // Handlers: each probed in a throwaway host, then run as its policy says.
    let switch = Mutex::new(Switch::new(
        link,
        Registry::default(),
        cfg.routes(),
        plan,
        &by_channel,
    ));
    if let Err(e) = crate::reload::handlers(&switch, &cfg) {
        tracing::error!("{e}");
    }
    let mut switch = switch.into_inner().unwrap_or_else(|p| p.into_inner());
    switch.set_max_calls(cfg.daemon.max_calls);
    for r in cfg.routes() {
        if switch.handlers().get(&r.handler).is_none() {
            tracing::error!(
                handler = %r.handler,
                "a route names a handler that is not loaded; its calls will not be answered"
            );
        }
    }
    let sip_setup = sip_setup.map(|(mut setup, line, chans)| {
        switch.set_line_control(&chans, line);
        // The SIP shard was pushed last: it runs on the last media thread.
        setup.media_load = stats.last().cloned();
        setup
    });
    if let Some(board) = rtp_stats {
        switch.set_rtp_stats(board);
    }
    let epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    switch.set_epoch_ms(epoch);
    if let Some(s) = store {
        switch.set_store(epoch, Box::new(s));
    }

    // Media threads.
    let prio = (cfg.daemon.rt_priority > 0).then_some(i32::from(cfg.daemon.rt_priority));
    let mut threads = Vec::new();
    for (i, e) in engines.into_iter().enumerate() {
        match media::spawn(e, &format!("tipring-media-{i}"), prio) {
            Ok(t) => {
                if i == 0 {
                    match (&t.realtime.fifo, &t.realtime.mlock) {
                        (Ok(p), Ok(())) => {
                            tracing::info!("media threads: SCHED_FIFO priority {p}, memory locked")
                        }
                        (fifo, mlock) => tracing::warn!(
                            "media threads run without full real-time guarantees (SCHED_FIFO: {}; mlockall: {}); carrying on",
                            fifo.as_ref()
                                .map_or_else(|e| e.clone(), |p| format!("priority {p}")),
                            mlock.as_ref().map_or_else(|e| e.clone(), |()| "ok".into()),
                        ),
                    }
                }
                threads.push(t);
            }
            Err(e) => {
                tracing::error!("cannot start a media thread: {e}");
                return 1;
            }
        }
    }

    let (tx, _) = tokio::sync::broadcast::channel(4096);
    let shared = Arc::new(Shared {
        switch: Mutex::new(switch),
        sim: Mutex::new(sim),
        stream: tx,
        draining: AtomicBool::new(false),
        media: stats,
        sim_heard: Mutex::new(HashMap::new()),
        spans,
        config: Mutex::new(cfg.clone()),
        counters: Arc::default(),
    });

    // The control loop: the switch's clock.
    let stop = Arc::new(AtomicBool::new(false));
    let control = {
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("tipring-control".into())
            .spawn(move || {
                let start = Instant::now();
                let bell = shared
                    .switch
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .doorbell();
                while !stop.load(Relaxed) {
                    let now = start.elapsed().as_millis() as u64;
                    let events = {
                        let mut sw = shared.switch.lock().unwrap_or_else(|p| p.into_inner());
                        sw.step(now);
                        sw.drain_stream()
                    };
                    // Serialized only for listeners: at hundreds of calls per second the
                    // JSON would otherwise be made and dropped on every step.
                    if shared.stream.receiver_count() > 0 {
                        for e in events {
                            if let Ok(line) = serde_json::to_string(&e) {
                                let _ = shared.stream.send(line);
                            }
                        }
                    }
                    {
                        let mut sim = shared.sim.lock().unwrap_or_else(|p| p.into_inner());
                        let mut heard = shared.sim_heard.lock().unwrap_or_else(|p| p.into_inner());
                        while let Some(r) = sim.as_mut().and_then(|s| s.poll()) {
                            let line = heard.entry(r.line.0).or_default();
                            if line.len() == SIM_HEARD {
                                line.pop_front();
                            }
                            line.push_back((r.at_ms, sim_report_text(&r.event)));
                        }
                    }
                    // The clock's tick, cut short when an isolated handler answers.
                    bell.wait(Duration::from_millis(5));
                }
            })
    };
    let control = match control {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot start the control thread: {e}");
            return 1;
        }
    };

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("tipring-api")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    let api_addr = cfg.daemon.api.get_ref().clone();
    let api_cfg = cfg.api.clone();
    let board = match &cfg.profile {
        Some(p) => format!("{} ({})", p.name, p.hardware.as_str()),
        None => "sim".to_string(),
    };
    let drain = Duration::from_secs(cfg.daemon.drain_seconds);
    let status = rt.block_on(async {
        // Signals are caught from before the API is announced: a SIGTERM sent as soon as
        // the API answers must stop the daemon in order, not kill it.
        let signals = Signals::new();
        // The listeners: `[daemon] api` (plain HTTP, the local CLI's: authenticated when it
        // is not loopback, or with auth_on_loopback), then `[api] listen` (authenticated,
        // TLS when a certificate is configured).
        let verifier = Arc::new(tipring_auth::Verifier::new(
            api_cfg.credentials().unwrap_or_default(),
            Duration::from_secs(
                api_cfg
                    .replay_window_s
                    .as_ref()
                    .map_or(300, |w| *w.get_ref()),
            ),
        ));
        let tls = match (&api_cfg.tls_cert, &api_cfg.tls_key) {
            (Some(c), Some(k)) => {
                match tipring_auth::tls_config(Path::new(c.get_ref()), Path::new(k.get_ref())) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::error!("API: {e}");
                        return 1;
                    }
                }
            }
            _ => None,
        };
        let mut servers = Vec::new();
        let mut first = None;
        for (i, want) in std::iter::once(api_addr.clone())
            .chain(api_cfg.listen.iter().map(|l| l.get_ref().clone()))
            .enumerate()
        {
            let primary = i == 0;
            let listener = match tokio::net::TcpListener::bind(&want).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("API: cannot listen on {want}: {e}");
                    return 1;
                }
            };
            let addr = listener
                .local_addr()
                .map_or_else(|_| want.clone(), |a| a.to_string());
            let loopback = crate::config::addr_is_loopback(&addr);
            let auth = !primary || !loopback || api_cfg.auth_on_loopback;
            let mut app = crate::api::router(Arc::clone(&shared));
            if auth {
                app = app.layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&verifier),
                    tipring_auth::require,
                ));
            }
            let app = app.into_make_service_with_connect_info::<tipring_auth::PeerAddr>();
            let secure = tls.as_ref().filter(|_| !primary);
            let scheme = if secure.is_some() { "https" } else { "http" };
            tracing::info!(
                "API listening on {scheme}://{addr}/v1 (authentication: {})",
                if auth { "required" } else { "none, loopback" }
            );
            if auth && secure.is_none() {
                tracing::warn!(
                    "API on {addr}: no TLS (set [api] tls_cert and tls_key): bearer tokens \
                     travel in clear"
                );
            }
            first.get_or_insert(addr);
            servers.push(match secure {
                Some(t) => {
                    let l = tipring_auth::TlsListener::new(listener, Arc::clone(t));
                    tokio::spawn(async move { axum::serve(l, app).await })
                }
                None => tokio::spawn(async move { axum::serve(listener, app).await }),
            });
        }
        let api_addr = first.unwrap_or(api_addr);
        if let Some(setup) = sip_setup {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                if let Err(e) = crate::sip::run(setup, shared).await {
                    tracing::error!("{e}");
                }
            });
        }

        // Ready once the media threads tick.
        let t0: u64 = shared.media.iter().map(|m| m.ticks.load(Relaxed)).sum();
        for _ in 0..200 {
            let t: u64 = shared.media.iter().map(|m| m.ticks.load(Relaxed)).sum();
            if t > t0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let channels = shared
            .switch
            .lock()
            .map(|s| s.channels().len())
            .unwrap_or(0);
        crate::notify::ready(&format!(
            "{board} board, {channels} channels; API on {api_addr}"
        ));

        // The watchdog: fed only while the media threads tick.
        let watchdog = crate::notify::watchdog_interval().map(|every| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut last: Vec<u64> =
                    shared.media.iter().map(|m| m.ticks.load(Relaxed)).collect();
                loop {
                    tokio::time::sleep(every).await;
                    let now: Vec<u64> =
                        shared.media.iter().map(|m| m.ticks.load(Relaxed)).collect();
                    if now.iter().zip(&last).all(|(n, l)| n > l) {
                        crate::notify::watchdog();
                    } else {
                        tracing::error!("a media thread stopped ticking; not feeding the watchdog");
                    }
                    last = now;
                }
            })
        });

        // SIGHUP: reload the config (and with it the handlers).
        let mut signals = signals;
        if let Some(mut hup) = signals.hup.take() {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let shared = Arc::clone(&shared);
                    let r = tokio::task::spawn_blocking(move || {
                        crate::reload::config(&shared.switch, &shared.config)
                    })
                    .await;
                    match r {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::error!(
                            "SIGHUP: config reload refused, the running config stays: {e}"
                        ),
                        Err(e) => tracing::error!("SIGHUP: config reload failed: {e}"),
                    }
                }
            });
        }
        // A new version dropped into the handlers directory is picked up by itself.
        let watcher = spawn_handler_watch(Arc::clone(&shared));

        signals.wait().await;
        watcher.abort();
        tracing::info!(
            "shutting down: no new calls; active calls have {}s to finish",
            drain.as_secs()
        );
        crate::notify::stopping();
        shared.draining.store(true, Relaxed);
        let deadline = Instant::now() + drain;
        {
            let mut sw = shared.switch.lock().unwrap_or_else(|p| p.into_inner());
            sw.set_draining();
        }
        let mut deadline = deadline;
        let mut hung_up = false;
        loop {
            let active = shared.switch.lock().map(|s| s.active()).unwrap_or(0);
            if active == 0 {
                break;
            }
            if Instant::now() >= deadline {
                if hung_up {
                    break; // the records still waiting are written without those answers
                }
                tracing::warn!("drain deadline reached: hanging up {active} calls");
                shared
                    .switch
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .hangup_all();
                // Isolated handlers answer HANGUP by message: a moment for their answers
                // (the variables they set go to the records).
                hung_up = true;
                deadline = Instant::now() + Duration::from_secs(1);
            }
            crate::notify::status(&format!("draining: {active} calls active"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        for server in servers {
            server.abort();
        }
        0
    });
    stop.store(true, Relaxed);
    let _ = control.join();
    // Every ended call's record is written, answers from its handler or not.
    shared
        .switch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .flush_closing();
    // Let the media threads play out the last hang-ups, then stop them.
    std::thread::sleep(Duration::from_millis(100));
    for t in threads {
        if let Err(e) = t.stop() {
            tracing::error!("media thread: {e}");
        }
    }
    tracing::info!("stopped");
    status
}

/// Watches the handlers directory (each `.so`'s name, size and modification time) and
/// reloads the handlers when it changes and has been quiet for a second (a copy in
/// progress is not probed half written).
fn spawn_handler_watch(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Every file's name, size and time: a file still being copied keeps changing, and
        // one refused half written is tried again once complete.
        let stamp = |shared: &Shared| {
            let dir = shared
                .config
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .daemon
                .handlers_dir
                .clone()?;
            let mut files: Vec<(PathBuf, u64, Option<SystemTime>)> = std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|e| {
                    let e = e.ok()?;
                    let m = e.metadata().ok()?;
                    Some((e.path(), m.len(), m.modified().ok()))
                })
                .filter(|(p, _, _)| p.extension().is_some_and(|x| x == "so"))
                .collect();
            files.sort();
            Some(files)
        };
        let mut seen = stamp(&shared);
        let mut changed_at: Option<Instant> = None;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = stamp(&shared);
            if now != seen {
                seen = now;
                changed_at = Some(Instant::now());
                continue;
            }
            if changed_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(1)) {
                changed_at = None;
                let sh = Arc::clone(&shared);
                let r = tokio::task::spawn_blocking(move || {
                    let cfg = sh.config.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    crate::reload::handlers(&sh.switch, &cfg)
                })
                .await;
                match r {
                    Ok(Ok(rep)) if !rep.installed.is_empty() => {
                        tracing::info!("handlers directory changed: {}", rep.installed.join(", "))
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!("handlers directory: {e}"),
                    Err(e) => tracing::error!("handlers reload failed: {e}"),
                }
            }
        }
    })
}

/// SIGTERM, SIGINT and SIGHUP, caught from creation on.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    /// SIGHUP (config reload), taken by its own task.
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// Until one comes (for ever if they could not be caught).
    async fn wait(mut self) {
        let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ring_cadence;

    #[test]
    fn ring_cadences_follow_the_countries_ringback() {
        assert_eq!(ring_cadence("us"), [2000, 4000]);
        assert_eq!(ring_cadence("uk"), [400, 200, 400, 2000]);
        assert_eq!(ring_cadence("de"), [1000, 4000]);
        assert!(ring_cadence("xx").is_empty());
    }
}
