//! SIP trunks: the thin tokio adapter around `tipring_sip::ua::Ua`.
//!
//! The adapter owns the signalling socket and the clock; the core owns the protocol. It
//! turns the core's events into [`LineEvent`]s for the switch (under its lock, briefly) and
//! the switch's line commands for SIP channels (queued by [`SipLine`]) into core commands.
//! Negotiated media goes to the SIP media shard as [`SlotCommand`]s: the RTP itself never
//! touches this task.
//!
//! ```text
//!  UDP socket ──datagram──▶ Ua ──Event──▶ adapter ──LineEvent──▶ Switch ──▶ handler
//!       ◀────transmit──────  ▲              │  ▲                    │
//!                            └── command ───┘  └─(ChannelId, Command)┘ (SipLine queue)
//!                                           └──SlotCommand──▶ SIP media shard (RTP)
//! ```

use crate::app::Shared;
use crate::call::{LineControl, LineEvent, LineSender};
use crate::config::{self, Sip as SipConfig};
use crate::media::TickStats;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tipring_hal::sip::{RtpCodec, RtpParams, SipMediaControl, SlotCommand};
use tipring_hal::{Cause, ChannelId, Command, Signal};
use tipring_sip::auth::{Algorithm, AuthFailure, ClientAuth, Verifier};
use tipring_sip::sdp::{self, Capabilities, Codec, Negotiated};
use tipring_sip::ua::{self, CallRef, Event, Outbound, RegRef, Registration, Transport, Ua};

mod icmp;
mod resolve;
mod tcp;

/// A packet-capture request for a SIP channel: a ring to copy its RTP into, or `None` to
/// stop.
pub type TapRequest = (ChannelId, Option<rtrb::Producer<u8>>);

/// Queues the switch's line commands (and packet-capture requests) for SIP channels to the
/// adapter.
#[derive(Debug)]
pub struct SipLine {
    tx: tokio::sync::mpsc::UnboundedSender<(ChannelId, Command)>,
    taps: std::sync::Mutex<tokio::sync::mpsc::UnboundedSender<TapRequest>>,
}

impl SipLine {
    /// A queue and its receiving ends (for [`run`], through [`Setup`]).
    pub fn new() -> (
        Arc<SipLine>,
        tokio::sync::mpsc::UnboundedReceiver<(ChannelId, Command)>,
        tokio::sync::mpsc::UnboundedReceiver<TapRequest>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ttx, trx) = tokio::sync::mpsc::unbounded_channel();
        (
            Arc::new(SipLine {
                tx,
                taps: std::sync::Mutex::new(ttx),
            }),
            rx,
            trx,
        )
    }
}

impl LineControl for SipLine {
    fn command(&self, channel: ChannelId, command: &Command) {
        // The receiver lives as long as the runtime; after shutdown commands go nowhere.
        let _ = self.tx.send((channel, command.clone()));
    }

    fn tap(&self, channel: ChannelId, ring: Option<rtrb::Producer<u8>>) -> bool {
        self.taps
            .lock()
            .map(|t| t.send((channel, ring)).is_ok())
            .unwrap_or(false)
    }
}

/// A trunk at run time.
#[derive(Debug)]
struct Trunk {
    name: String,
    /// `host` as configured (resolved again when its records expire).
    host_cfg: String,
    /// Its addresses in the order calls try them (RFC 3263); empty while unresolved.
    targets: Vec<SocketAddr>,
    /// The ACL is the targets' addresses (no `acl` configured).
    acl_is_targets: bool,
    /// The registration, when the trunk registers.
    register: Option<Registration>,
    /// Where it was last sent (a new address after a DNS change registers again).
    registered_at: Option<SocketAddr>,
    domain: String,
    auth: Option<ClientAuth>,
    acl: Vec<(IpAddr, u8)>,
    /// OPTIONS keep-alive interval, ms (0: none).
    keepalive_ms: u64,
    /// When the next keep-alive goes, ms on the adapter's clock.
    next_ping: u64,
    /// False after a keep-alive went unanswered, until one is answered again.
    up: bool,
    /// Inbound INVITEs must authenticate.
    challenge: Option<Challenger>,
    /// How requests to the trunk travel.
    transport: Transport,
}

impl Trunk {
    /// Where requests go first.
    fn host(&self) -> Option<SocketAddr> {
        self.targets.first().copied()
    }

    /// Takes new addresses; the default ACL follows them.
    fn set_targets(&mut self, addrs: Vec<SocketAddr>) {
        if addrs != self.targets {
            tracing::info!(
                trunk = self.name,
                "SIP trunk {} is at {addrs:?}",
                self.host_cfg
            );
        }
        if self.acl_is_targets {
            self.acl = addrs
                .iter()
                .map(|a| (a.ip(), if a.is_ipv4() { 32 } else { 128 }))
                .collect();
        }
        self.targets = addrs;
    }

    /// A `sip:` URI at the trunk for `user` (none: the domain itself), with the transport.
    fn uri(&self, user: Option<&str>) -> String {
        let t = match self.transport {
            Transport::Tcp => ";transport=tcp",
            Transport::Udp => "",
        };
        match user {
            Some(u) => format!("sip:{u}@{}{t}", self.domain),
            None => format!("sip:{}{t}", self.domain),
        }
    }
}

/// Digest checks on a trunk's INVITEs.
#[derive(Debug)]
struct Challenger {
    /// 407 with Proxy-Authenticate (else 401 with WWW-Authenticate).
    proxy: bool,
    verifier: Verifier,
    user: String,
    password: String,
}

fn in_net(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A SIP channel slot's call.
#[derive(Debug, Clone)]
struct SlotCall {
    call: CallRef,
    /// Inbound: the answer to send on `Answer`.
    answer: Option<String>,
    /// The negotiated media, once known.
    media: Option<Negotiated>,
    /// The far end ended the call at this time (adapter clock, ms): the slot stays reserved
    /// until the switch's `Hangup` for the call arrives, so that order cannot land on the
    /// next call given this channel. See [`CLOSING_MS`].
    closing_since: Option<u64>,
}

/// How long a slot ended by the far end waits for the switch's `Hangup` before it is given to
/// a new call anyway. The switch sends it within one control step; this only bounds the loss
/// of a channel should it never come.
const CLOSING_MS: u64 = 2_000;

/// How long an INVITE that finds every channel busy, some of them ended by the far end and
/// awaiting the switch's `Hangup`, waits for one of those before it gets 503. The switch
/// takes line events at its next step (5 ms), so a caller that calls again as soon as its
/// last call ended gets that channel instead of a refusal.
const WAIT_FOR_CHANNEL_MS: u64 = 500;

/// What the adapter needs from the daemon.
#[derive(Debug)]
pub struct Setup {
    /// `[sip]`.
    pub cfg: SipConfig,
    /// The media shard's handle.
    pub media: SipMediaControl,
    /// The switch's line commands for SIP channels.
    pub commands: tokio::sync::mpsc::UnboundedReceiver<(ChannelId, Command)>,
    /// Packet-capture requests for SIP channels.
    pub taps: tokio::sync::mpsc::UnboundedReceiver<TapRequest>,
    /// The tick statistics of the media thread running the SIP shard, for the overload
    /// limit (`sip.max_media_load`); none: no limit.
    pub media_load: Option<Arc<TickStats>>,
}

/// The SIP media thread's recent load, for refusing calls it could not carry.
#[derive(Debug)]
struct MediaLoad {
    stats: Arc<TickStats>,
    limit: f64,
    /// When `busy_ns` was read, and its value then.
    at: Instant,
    busy_ns: u64,
    /// The share of a core over the last window.
    share: f64,
}

impl MediaLoad {
    /// The window the share is measured over (at least; longer after a quiet spell).
    const WINDOW: Duration = Duration::from_millis(1000);

    fn new(stats: Arc<TickStats>, limit: f64) -> Self {
        let busy_ns = stats.busy_ns.load(std::sync::atomic::Ordering::Relaxed);
        MediaLoad {
            stats,
            limit,
            at: Instant::now(),
            busy_ns,
            share: 0.0,
        }
    }

    /// The share of its core the media thread used over the last window or so; `Some`
    /// when it is above the limit.
    fn over(&mut self) -> Option<f64> {
        let elapsed = self.at.elapsed();
        if elapsed >= Self::WINDOW {
            let busy = self
                .stats
                .busy_ns
                .load(std::sync::atomic::Ordering::Relaxed);
            self.share = busy.saturating_sub(self.busy_ns) as f64 / elapsed.as_nanos() as f64;
            self.busy_ns = busy;
            self.at = Instant::now();
        }
        (self.share > self.limit).then_some(self.share)
    }
}

/// A warning that may come once per call at load, logged at most every [`Self::EVERY`]
/// with the count of those left out.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    left_out: u64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(10);

    /// `Some(n)` when the warning is due now, with `n` warnings left out since the last.
    fn due(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            self.left_out += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.left_out))
    }
}

struct Adapter {
    /// Signalling counters for `/metrics`.
    counters: Arc<crate::metrics::Counters>,
    ua: Ua,
    sock: tokio::net::UdpSocket,
    conns: tcp::Conns,
    media: SipMediaControl,
    caps: Capabilities,
    trunks: Vec<Trunk>,
    slots: Vec<Option<SlotCall>>,
    by_call: HashMap<CallRef, usize>,
    /// Line events for the switch (the adapter never takes the switch's lock).
    lines: LineSender,
    /// The overload limit (`sip.max_media_load`).
    load: Option<MediaLoad>,
    /// Warnings of refused calls: every channel busy, and overload.
    full_warning: Throttle,
    overload_warning: Throttle,
    /// Per destination: a trunk down shows once per 10 s, and each trunk does.
    unreachable_warnings: HashMap<SocketAddr, Throttle>,
    /// INVITEs waiting for a channel being released (see [`WAIT_FOR_CHANNEL_MS`]), with the
    /// time they give up.
    waiting: VecDeque<(CallRef, ua::Inbound, u64)>,
    start: Instant,
    /// The address in our SDP.
    media_ip: IpAddr,
    symmetric: bool,
    retry_after: u32,
    rng: u64,
    sdp_version: u64,
}

/// Binds the signalling socket; runs the adapter until the runtime stops.
///
/// # Errors
/// The socket could not be bound (the message names the address).
pub async fn run(setup: Setup, shared: Arc<Shared>) -> Result<(), String> {
    let cfg = setup.cfg;
    let listen: SocketAddr = cfg
        .listen
        .get_ref()
        .parse()
        .map_err(|_| format!("sip.listen: {:?} is not an address", cfg.listen.get_ref()))?;
    let sock = tokio::net::UdpSocket::bind(listen)
        .await
        .map_err(|e| format!("SIP: cannot listen on {listen}: {e}"))?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    // Bursts of INVITEs (and SIPp's load runs) overflow the default 200 kB buffer.
    if let Err(e) = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &RCVBUF)
    {
        tracing::warn!("SIP: cannot raise the UDP receive buffer to {RCVBUF} bytes: {e}");
    }
    // ICMP "unreachable" for a datagram we sent: a transport error (module `icmp`).
    if let Err(e) = icmp::enable(&sock, local.is_ipv6()) {
        tracing::warn!(
            "SIP: cannot receive ICMP errors on {local} ({e}); a dead trunk address is only noticed by timeout"
        );
    }
    let tcp = match tokio::net::TcpListener::bind(local).await {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("SIP: cannot listen on tcp:{local} ({e}); UDP only");
            None
        }
    };
    let (tcp_tx, mut tcp_rx) = tokio::sync::mpsc::unbounded_channel();
    let external: SocketAddr = cfg
        .external
        .as_ref()
        .and_then(|e| e.get_ref().parse().ok())
        .unwrap_or(local);
    let mut ucfg = ua::Config::new(external);
    ucfg.user_agent = concat!("Tipring/", env!("CARGO_PKG_VERSION")).into();
    ucfg.session_expires = *cfg.session_expires.get_ref();
    let seed = seed();
    let mut trunks = Vec::new();
    let nameservers = resolve::nameservers();
    let mut rng = seed | 1;
    let mut random = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (dns_tx, mut dns_rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, t) in cfg.trunk.iter().enumerate() {
        let host_cfg = t.host.get_ref().clone();
        let acl: Vec<(IpAddr, u8)> = t
            .acl
            .iter()
            .filter_map(|a| config::parse_cidr(a.get_ref()))
            .collect();
        let transport = match t.transport.as_ref().map(|t| t.get_ref().as_str()) {
            Some("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        };
        // The domain in our URIs defaults to the host (an IPv6 address in brackets).
        let name_of_host = match tipring_sip::hdr::split_host_port(&host_cfg) {
            Some((h, _)) if h.parse::<std::net::Ipv6Addr>().is_ok() => format!("[{h}]"),
            Some((h, _)) => h,
            None => String::new(),
        };
        let resolved = match resolve::resolve(&host_cfg, transport, &nameservers, &mut random).await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    trunk = t.name.get_ref(),
                    "SIP: cannot resolve the trunk host: {e}; trying again in 30 s"
                );
                resolve::Targets {
                    addrs: Vec::new(),
                    ttl: Some(30),
                }
            }
        };
        if let Some(ttl) = resolved.ttl {
            spawn_resolver(
                i,
                host_cfg.clone(),
                transport,
                nameservers.clone(),
                ttl,
                seed,
                dns_tx.clone(),
            );
        }
        let mut trunk = Trunk {
            name: t.name.get_ref().clone(),
            host_cfg,
            targets: Vec::new(),
            acl_is_targets: acl.is_empty(),
            register: None,
            registered_at: None,
            domain: t.domain.clone().unwrap_or(name_of_host),
            auth: match (&t.username, &t.password) {
                (Some(u), Some(p)) => Some(ClientAuth::new(u.clone(), p.clone())),
                _ => None,
            },
            acl,
            keepalive_ms: u64::from(t.keepalive) * 1000,
            // Spread the first pings over the first second.
            next_ping: 100 * i as u64 % 1000,
            up: true,
            transport,
            challenge: match (&t.challenge, &t.username, &t.password) {
                (Some(code), Some(u), Some(p)) => {
                    let mut secret = [0u8; 32];
                    for (j, chunk) in secret.chunks_mut(8).enumerate() {
                        let r = seed.rotate_left(17 * (j as u32 + 1)) ^ (i as u64 + 1);
                        chunk.copy_from_slice(&r.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
                    }
                    Some(Challenger {
                        proxy: *code.get_ref() == 407,
                        verifier: Verifier::new(
                            t.domain.clone().unwrap_or_else(|| "tipring".into()),
                            secret,
                            300_000,
                            Algorithm::Md5,
                        ),
                        user: u.clone(),
                        password: p.clone(),
                    })
                }
                _ => None,
            },
        };
        trunk.set_targets(resolved.addrs);
        if t.register {
            let user = t.username.clone().unwrap_or_default();
            trunk.register = Some(Registration {
                registrar: trunk.host().unwrap_or(local),
                registrar_uri: trunk.uri(None),
                aor: format!("sip:{user}@{}", trunk.domain),
                expires: t.expires,
                auth: trunk.auth.clone(),
                retry_ms: 5_000,
            });
        }
        trunks.push(trunk);
    }
    if trunks.is_empty() {
        tracing::warn!("SIP: no trunks configured: calls are accepted from any address");
    }
    let codecs: Vec<Codec> = cfg
        .codecs
        .iter()
        .filter_map(|c| Codec::from_name(c.get_ref()))
        .collect();
    let limits = ucfg.limits;
    let lines = shared
        .switch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .line_sender();
    let mut a = Adapter {
        counters: Arc::clone(&shared.counters),
        ua: Ua::new(ucfg, seed),
        sock,
        conns: tcp::Conns::new(tcp_tx, limits),
        slots: vec![None; setup.media.slots()],
        media: setup.media,
        caps: Capabilities {
            codecs,
            telephone_event: cfg.telephone_event,
            ptime: *cfg.ptime.get_ref(),
        },
        trunks,
        by_call: HashMap::new(),
        lines,
        load: setup
            .media_load
            .map(|s| MediaLoad::new(s, *cfg.max_media_load.get_ref())),
        full_warning: Throttle::default(),
        overload_warning: Throttle::default(),
        unreachable_warnings: HashMap::new(),
        waiting: VecDeque::new(),
        start: Instant::now(),
        media_ip: external.ip(),
        symmetric: cfg.symmetric_rtp,
        retry_after: cfg.retry_after,
        rng: seed ^ 0x9e37_79b9_7f4a_7c15,
        sdp_version: 1,
    };
    tracing::info!(
        "SIP listening on udp:{local}{} ({} channels, {} trunks)",
        if tcp.is_some() { " and tcp" } else { "" },
        a.slots.len(),
        a.trunks.len()
    );
    for i in 0..a.trunks.len() {
        a.register(i);
    }
    let mut commands = setup.commands;
    let mut taps = setup.taps;
    let mut buf = vec![0u8; 65_536];
    loop {
        a.flush().await;
        let next_ping = a
            .trunks
            .iter()
            .filter(|t| t.keepalive_ms > 0)
            .map(|t| t.next_ping)
            .min();
        let deadline =
            a.ua.poll_timeout()
                .into_iter()
                .chain(next_ping)
                .chain(a.waiting.front().map(|w| w.2))
                .min()
                .map(|t| a.start + Duration::from_millis(t))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = a.sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let now = a.now();
                    a.ua.handle_datagram(now, from, &buf[..n]);
                }
                // A pending ICMP error comes back from recvfrom first; its details wait
                // in the error queue.
                Err(e) => {
                    tracing::debug!("SIP socket: {e}");
                    a.unreachable();
                }
            },
            r = a.sock.ready(tokio::io::Interest::ERROR) => if r.is_ok() {
                // Drain, then clear the readiness (the queue is empty now; a new error
                // sets it again).
                let _ = a.sock.try_io(tokio::io::Interest::ERROR, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
                a.unreachable();
            },
            Some((i, targets)) = dns_rx.recv() => a.resolved(i, targets),
            acc = accept(tcp.as_ref()) => match acc {
                Ok((stream, peer)) => a.conns.accepted(stream, peer),
                Err(e) => tracing::debug!("SIP TCP accept: {e}"),
            },
            Some(input) = tcp_rx.recv() => match input {
                tcp::Input::Message(peer, m) => {
                    let now = a.now();
                    a.ua.handle_stream(now, peer, m);
                }
                tcp::Input::Closed(peer, id) => a.conns.closed(peer, id),
                tcp::Input::Failed(peer, id) => {
                    a.conns.closed(peer, id);
                    let now = a.now();
                    a.ua.handle_transport_error(now, peer, Transport::Tcp);
                }
            },
            c = commands.recv() => match c {
                Some((ch, cmd)) => a.command(ch, cmd),
                None => return Ok(()),
            },
            Some((ch, ring)) = taps.recv() => {
                if let Some(slot) = a.media.slot_of(ch) {
                    let r = match ring {
                        Some(ring) => a.media.tap(slot, ring),
                        None => a.media.untap(slot),
                    };
                    if let Err(e) = r {
                        tracing::warn!(channel = ch.0, "SIP packet capture: {e}");
                    }
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                let now = a.now();
                a.ua.handle_timeout(now);
                a.keepalive(now);
                a.expire_waiting(now);
            }
        }
        a.events();
    }
}

/// Looks trunk `i`'s host up again whenever its records expire, for ever.
fn spawn_resolver(
    i: usize,
    host: String,
    transport: Transport,
    ns: Vec<SocketAddr>,
    first_ttl: u32,
    seed: u64,
    tx: tokio::sync::mpsc::UnboundedSender<(usize, Vec<SocketAddr>)>,
) {
    tokio::spawn(async move {
        let mut rng = seed.rotate_left(i as u32) | 1;
        let mut ttl = first_ttl;
        loop {
            tokio::time::sleep(Duration::from_secs(u64::from(ttl.max(30)))).await;
            let random = || {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                rng >> 33
            };
            match resolve::resolve(&host, transport, &ns, random).await {
                Ok(t) => {
                    ttl = t.ttl.unwrap_or(300);
                    if tx.send((i, t.addrs)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!("SIP: cannot resolve trunk host {host}: {e}");
                    ttl = 30;
                }
            }
        }
    });
}

/// The UDP receive buffer asked for, bytes.
const RCVBUF: usize = 4 << 20;

/// The listener's next connection; never, without a listener.
async fn accept(
    l: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        return t ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

impl Adapter {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    async fn flush(&mut self) {
        while let Some(t) = self.ua.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    if let Err(e) = self.sock.send_to(&t.bytes, t.to).await {
                        tracing::debug!("SIP: sending to {}: {e}", t.to);
                    }
                }
                Transport::Tcp => self.conns.send(t.to, t.bytes),
            }
        }
    }

    /// Reads the ICMP errors queued on the socket and fails the transactions waiting on
    /// the addresses they name.
    fn unreachable(&mut self) {
        // Straight to the error queue (non-blocking): the socket's error readiness is not
        // always set by the time recvfrom has reported the error.
        let list = icmp::drain(&self.sock, 64);
        if list.is_empty() {
            return;
        }
        let now = self.now();
        for u in list {
            if self.unreachable_warnings.len() > 256 {
                self.unreachable_warnings.clear(); // a flood of spoofed errors stays bounded
            }
            if let Some(left_out) = self.unreachable_warnings.entry(u.to).or_default().due() {
                tracing::warn!(
                    "SIP: {} is unreachable ({}): calls to it fail over to the trunk's next address or fail{}",
                    u.to,
                    u.errno.desc(),
                    and_more(left_out)
                );
            }
            self.ua.handle_transport_error(now, u.to, Transport::Udp);
        }
    }

    /// Queues `ev` for the switch (never waits for its lock).
    fn signal(&self, ch: ChannelId, ev: LineEvent) {
        self.lines.send(ch, ev);
    }

    fn start_media(&mut self, slot: usize, n: &Negotiated) {
        let codec = match n.codec {
            Codec::Pcma => RtpCodec::Pcma,
            Codec::Opus => RtpCodec::Opus,
            _ => RtpCodec::Pcmu,
        };
        let r = self.random();
        // We send at the peer's ptime when it asked for one our codec can carry.
        let ptime_ms = match (codec, n.remote_ptime) {
            (RtpCodec::Opus, 10 | 20)
            | (RtpCodec::Pcmu | RtpCodec::Pcma, 10 | 20 | 30 | 40 | 50 | 60) => n.remote_ptime,
            _ => 20,
        };
        let params = RtpParams {
            remote: n.remote,
            codec,
            pt: n.pt,
            event_pt: n.event_pt,
            ssrc: r as u32,
            seq: (r >> 32) as u16,
            ts: (r >> 16) as u32,
            symmetric: self.symmetric,
            ptime_ms,
        };
        if let Err(e) = self.media.send(SlotCommand::Start { slot, params }) {
            tracing::error!(channel = %self.media.channel_of(slot), "{e}");
        }
    }

    fn stop_media(&mut self, slot: usize) {
        if let Err(e) = self.media.send(SlotCommand::Stop { slot }) {
            tracing::error!(channel = %self.media.channel_of(slot), "{e}");
        }
    }

    fn release(&mut self, slot: usize) {
        if let Some(sc) = self.slots[slot].take() {
            self.by_call.remove(&sc.call);
        }
        self.stop_media(slot);
        if let Some((call, info, _)) = self.waiting.pop_front() {
            self.place(call, info);
        }
    }

    /// Refuses the INVITEs that waited too long for a channel.
    fn expire_waiting(&mut self, now: u64) {
        while self.waiting.front().is_some_and(|w| now >= w.2) {
            if let Some((call, info, _)) = self.waiting.pop_front() {
                self.refuse_full(call, &info);
            }
        }
    }

    fn refuse_full(&mut self, call: CallRef, info: &ua::Inbound) {
        if let Some(left_out) = self.full_warning.due() {
            tracing::warn!(
                "SIP: every SIP channel is busy; 503 to {}{}",
                info.source,
                and_more(left_out)
            );
        }
        let ra = self.retry_after;
        let _ = self
            .ua
            .reject(call, 503, "Service Unavailable", Some(ra), Some(34));
    }

    fn local_rtp(&self, slot: usize) -> SocketAddr {
        let port = self.media.local(slot).map_or(0, |a| a.port());
        SocketAddr::new(self.media_ip, port)
    }

    fn trunk_of(&self, ip: IpAddr) -> Option<usize> {
        self.trunks
            .iter()
            .position(|t| t.acl.iter().any(|n| in_net(ip, *n)))
    }

    fn events(&mut self) {
        while let Some(e) = self.ua.poll_event() {
            match e {
                Event::Incoming { call, info } => self.incoming(call, *info),
                Event::Cancelled { call } => self.ended(call, 16, "the caller cancelled"),
                Event::Ended {
                    call,
                    cause,
                    remote,
                } => {
                    if remote {
                        self.ended(call, cause, "the far end hung up");
                    }
                }
                Event::Failed {
                    call, code, cause, ..
                } => {
                    tracing::info!(call = call.0, "SIP call failed: {code} (cause {cause})");
                    self.ended(call, cause, "refused");
                }
                Event::Progress { call, sdp, .. } => {
                    if let (Some(slot), Some(s)) = (self.by_call.get(&call).copied(), sdp)
                        && let Ok(n) = Negotiated::from_answer(&s, &self.caps)
                    {
                        self.start_media(slot, &n);
                        if let Some(sc) = self.slots[slot].as_mut() {
                            sc.media = Some(n);
                        }
                    }
                }
                Event::Answered { call, sdp } => {
                    let Some(slot) = self.by_call.get(&call).copied() else {
                        continue;
                    };
                    match sdp.map(|s| Negotiated::from_answer(&s, &self.caps)) {
                        Some(Ok(n)) => {
                            self.start_media(slot, &n);
                            if let Some(sc) = self.slots[slot].as_mut() {
                                sc.media = Some(n);
                            }
                            let ch = self.media.channel_of(slot);
                            self.signal(ch, LineEvent::Signal(Signal::RemoteAnswer));
                        }
                        other => {
                            tracing::warn!(
                                call = call.0,
                                "SIP: answered without usable SDP ({other:?}); hanging up"
                            );
                            let _ = self.ua.hangup(call, 47);
                            self.ended(call, 47, "no usable media");
                        }
                    }
                }
                Event::Reinvite { call, offer } => self.reinvite(call, offer),
                Event::Acked { call, sdp } => self.acked(call, sdp),
                Event::Dtmf { call, digit } => {
                    // SIP INFO: regenerated in band by the media shard, like RFC 4733
                    // digits, so it is reported once and a bridged line hears it.
                    if let Some(slot) = self.by_call.get(&call).copied()
                        && let Err(e) = self.media.send(SlotCommand::Digit { slot, digit })
                    {
                        tracing::warn!(channel = %self.media.channel_of(slot), "SIP INFO digit {digit}: {e}");
                    }
                }
                Event::Registered { reg, expires } => {
                    let name = self.trunks.get(reg.0 as usize).map_or("?", |t| &t.name);
                    tracing::info!(trunk = name, "SIP registered for {expires} s");
                }
                Event::RegistrationFailed {
                    reg,
                    reason,
                    retry_in_ms,
                    ..
                } => {
                    let name = self.trunks.get(reg.0 as usize).map_or("?", |t| &t.name);
                    tracing::warn!(
                        trunk = name,
                        "SIP registration failed: {reason}; retrying in {} s",
                        retry_in_ms / 1000
                    );
                }
                Event::Pong { id, code } => {
                    if let Some(t) = self.trunks.get_mut(id as usize)
                        && !t.up
                    {
                        t.up = true;
                        tracing::info!(trunk = t.name, "SIP trunk up: OPTIONS answered ({code})");
                    }
                }
                Event::PingTimeout { id } => {
                    if let Some(t) = self.trunks.get_mut(id as usize)
                        && t.up
                    {
                        t.up = false;
                        tracing::warn!(
                            trunk = t.name,
                            "SIP trunk down: no answer to OPTIONS at {}",
                            t.host_cfg
                        );
                    }
                }
                Event::Malformed { source, reason } => {
                    self.counters
                        .sip_malformed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!("SIP: refused a message from {source}: {reason}");
                }
            }
        }
    }

    /// Sends the keep-alives that are due.
    fn keepalive(&mut self, now: u64) {
        for (i, t) in self.trunks.iter_mut().enumerate() {
            if t.keepalive_ms > 0 && t.next_ping <= now {
                t.next_ping = now + t.keepalive_ms;
                if let Some(host) = t.host() {
                    self.ua.ping(now, i as u64, host, &t.uri(None));
                }
            }
        }
    }

    /// Starts trunk `i`'s registration once its registrar's address is known, and moves it
    /// when that address changes.
    fn register(&mut self, i: usize) {
        let now = self.now();
        let Some(t) = self.trunks.get_mut(i) else {
            return;
        };
        let (Some(host), Some(reg)) = (t.host(), t.register.as_mut()) else {
            return;
        };
        if t.registered_at == Some(host) {
            return;
        }
        t.registered_at = Some(host);
        reg.registrar = host;
        let reg = reg.clone();
        self.ua.register(now, RegRef(i as u32), reg);
    }

    /// New addresses for trunk `i`.
    fn resolved(&mut self, i: usize, addrs: Vec<SocketAddr>) {
        if let Some(t) = self.trunks.get_mut(i) {
            t.set_targets(addrs);
        }
        self.register(i);
    }

    fn ended(&mut self, call: CallRef, cause: u8, why: &str) {
        let Some(slot) = self.by_call.get(&call).copied() else {
            // A caller that gave up while waiting for a channel.
            self.waiting.retain(|w| w.0 != call);
            return;
        };
        let ch = self.media.channel_of(slot);
        tracing::debug!(channel = ch.0, "SIP: {why} (cause {cause})");
        self.by_call.remove(&call);
        self.stop_media(slot);
        // Reserved until the switch's Hangup: that order names the channel, not the call.
        let now = self.now();
        if let Some(sc) = self.slots[slot].as_mut() {
            sc.closing_since = Some(now);
            sc.answer = None;
        }
        self.signal(ch, LineEvent::Signal(Signal::RemoteHangup(Cause(cause))));
    }

    fn incoming(&mut self, call: CallRef, info: ua::Inbound) {
        let trunk = self.trunk_of(info.source.ip());
        if !self.trunks.is_empty() && trunk.is_none() {
            tracing::warn!(
                "SIP: call from {} refused: not in any trunk's acl",
                info.source
            );
            let _ = self.ua.reject(call, 403, "Forbidden", None, Some(21));
            return;
        }
        if let Some(t) = trunk.and_then(|i| self.trunks.get(i))
            && let Some(ch) = &t.challenge
        {
            let now = self.now();
            let checked = ch
                .verifier
                .verify(info.authorization.as_deref(), "INVITE", now, |u| {
                    (u == ch.user).then(|| ch.password.clone())
                });
            if let Err(e) = checked {
                match &e {
                    AuthFailure::Missing | AuthFailure::Stale => {}
                    other => tracing::info!(
                        trunk = t.name,
                        call_id = info.call_id,
                        "SIP: INVITE from {} not authenticated ({other:?}); challenged again",
                        info.source
                    ),
                }
                let value = ch.verifier.challenge(now, e == AuthFailure::Stale);
                let proxy = ch.proxy;
                let _ = self.ua.challenge(call, proxy, &value);
                return;
            }
        }
        // A PBX that challenges everything may challenge our BYE too.
        if let Some(auth) = trunk
            .and_then(|i| self.trunks.get(i))
            .and_then(|t| t.auth.clone())
        {
            self.ua.set_dialog_auth(call, auth);
        }
        self.place(call, info);
    }

    /// Gives an accepted INVITE a channel and offers it to the switch; waits for a channel
    /// being released, or refuses with 503 when there is none.
    fn place(&mut self, call: CallRef, info: ua::Inbound) {
        if let Some(share) = self.load.as_mut().and_then(MediaLoad::over) {
            if let Some(left_out) = self.overload_warning.due() {
                tracing::warn!(
                    "SIP: the SIP media thread used {:.0} % of its core over the last second \
                     (sip.max_media_load {:.0} %); 503 to {}{}",
                    share * 100.0,
                    self.load.as_ref().map_or(0.0, |l| l.limit) * 100.0,
                    info.source,
                    and_more(left_out)
                );
            }
            let ra = self.retry_after;
            let _ = self
                .ua
                .reject(call, 503, "Service Unavailable", Some(ra), Some(42));
            return;
        }
        // A slot free here, or ended by the far end and never hung up by the switch (see
        // CLOSING_MS). The switch takes a SIP channel only through this adapter (its calls
        // out arrive as Command::Call), so such a slot is idle there too, but for a call out
        // ordered and not yet received (glare): the switch then refuses this call and this
        // adapter refuses that order.
        let now = self.now();
        let free = (0..self.slots.len()).find(|s| {
            self.slots[*s]
                .as_ref()
                .is_none_or(|sc| sc.closing_since.is_some_and(|t| now >= t + CLOSING_MS))
        });
        let Some(slot) = free else {
            let releasing = self
                .slots
                .iter()
                .flatten()
                .any(|sc| sc.closing_since.is_some());
            if releasing && self.waiting.len() < self.slots.len() {
                tracing::debug!("SIP: INVITE from {} waits for a channel", info.source);
                self.waiting
                    .push_back((call, info, now + WAIT_FOR_CHANNEL_MS));
            } else {
                self.refuse_full(call, &info);
            }
            return;
        };
        self.sdp_version += 1;
        let local = self.local_rtp(slot);
        let session = self.random() >> 1;
        let Some(offer) = info.offer.as_ref() else {
            // Late offer: our offer goes in the 200, the caller answers in the ACK
            // (Event::Acked starts the media).
            let ours = sdp::offer(local, &self.caps, session, self.sdp_version);
            self.slots[slot] = Some(SlotCall {
                call,
                answer: Some(ours.render()),
                media: None,
                closing_since: None,
            });
            self.by_call.insert(call, slot);
            self.offer_call(call, slot, &info);
            return;
        };
        let (answer, negotiated) =
            match sdp::answer(offer, local, &self.caps, session, self.sdp_version) {
                Ok(x) => x,
                Err(e) => {
                    tracing::info!("SIP: call from {} refused: {e}", info.source);
                    let _ = self
                        .ua
                        .reject(call, 488, "Not Acceptable Here", None, Some(65));
                    return;
                }
            };
        self.slots[slot] = Some(SlotCall {
            call,
            answer: Some(answer.render()),
            media: Some(negotiated),
            closing_since: None,
        });
        self.by_call.insert(call, slot);
        // Media flows both ways from now (early media): prompts played before answer reach
        // the caller once the 183/200 goes.
        self.start_media(slot, &negotiated);
        self.offer_call(call, slot, &info);
    }

    /// Rings the caller and offers the call to the switch (480 when nothing takes it).
    fn offer_call(&mut self, call: CallRef, slot: usize, info: &ua::Inbound) {
        let _ = self.ua.ringing(call, None);
        let ch = self.media.channel_of(slot);
        // A call the switch cannot take comes back as Hangup(20): 480 with that cause.
        self.signal(
            ch,
            LineEvent::Incoming {
                caller: info.caller.clone(),
                caller_name: info.caller_name.clone(),
                called: info.called.clone(),
                withheld: info.withheld,
                redirecting: info.diversion.clone(),
            },
        );
    }

    fn reinvite(&mut self, call: CallRef, offer: Option<sdp::Sdp>) {
        let Some(slot) = self.by_call.get(&call).copied() else {
            let _ = self.ua.accept_reinvite(call, None);
            return;
        };
        let local = self.local_rtp(slot);
        self.sdp_version += 1;
        let Some(offer) = offer else {
            // Offerless re-INVITE: offer what we have; the answer comes in the ACK
            // (Event::Acked moves the media).
            let sdp = sdp::offer(local, &self.caps, 1, self.sdp_version).render();
            let _ = self.ua.accept_reinvite(call, Some(&sdp));
            return;
        };
        match sdp::answer(&offer, local, &self.caps, 1, self.sdp_version) {
            Ok((answer, n)) => {
                self.start_media(slot, &n);
                if let Some(sc) = self.slots[slot].as_mut() {
                    sc.media = Some(n);
                }
                let _ = self.ua.accept_reinvite(call, Some(&answer.render()));
            }
            Err(_) => {
                let _ = self.ua.accept_reinvite(call, None);
            }
        }
    }

    /// The ACK answered the offer we put in a 2xx (late offer, offerless re-INVITE).
    fn acked(&mut self, call: CallRef, answer: Option<sdp::Sdp>) {
        let Some(slot) = self.by_call.get(&call).copied() else {
            return;
        };
        match answer.map(|s| Negotiated::from_answer(&s, &self.caps)) {
            Some(Ok(n)) => {
                self.start_media(slot, &n);
                if let Some(sc) = self.slots[slot].as_mut() {
                    sc.media = Some(n);
                }
            }
            other => {
                let ch = self.media.channel_of(slot);
                tracing::warn!(
                    channel = %ch,
                    call = call.0,
                    "SIP: the ACK did not answer our offer usably ({other:?}); hanging up"
                );
                let _ = self.ua.hangup(call, 47);
                self.ended(call, 47, "no usable answer in the ACK");
            }
        }
    }

    fn command(&mut self, ch: ChannelId, cmd: Command) {
        let Some(slot) = self.media.slot_of(ch) else {
            return;
        };
        tracing::debug!(channel = ch.0, "SIP: {}", cmd.verb());
        match cmd {
            Command::Answer => {
                let Some(sc) = self.slots[slot].as_mut() else {
                    return;
                };
                if let Some(answer) = sc.answer.take() {
                    let call = sc.call;
                    if let Err(e) = self.ua.answer(call, &answer) {
                        tracing::warn!(channel = ch.0, "SIP answer: {e}");
                    }
                }
            }
            Command::Hangup(cause) => {
                // A slot the far end already ended only needs freeing.
                if let Some(sc) = self.slots[slot].as_ref()
                    && sc.closing_since.is_none()
                {
                    let call = sc.call;
                    let _ = self.ua.hangup(call, cause.0);
                }
                self.release(slot);
            }
            Command::Call {
                number,
                caller,
                withhold,
            } => {
                // A closing slot is free for the switch: its Hangup, were it coming, would
                // have arrived before this order.
                if self.slots[slot]
                    .as_ref()
                    .is_some_and(|sc| sc.closing_since.is_none())
                {
                    tracing::warn!(channel = ch.0, "SIP: call on a busy channel refused");
                    self.signal(ch, LineEvent::Signal(Signal::RemoteHangup(Cause(34))));
                    return;
                }
                let session = self.random() >> 1;
                // The first trunk answering keep-alives (or the first, when none is) among
                // those with an address.
                let Some(t) = self
                    .trunks
                    .iter()
                    .find(|t| t.up && t.host().is_some())
                    .or_else(|| self.trunks.iter().find(|t| t.host().is_some()))
                else {
                    tracing::warn!(channel = ch.0, "SIP: no trunk to call {}", number.as_str());
                    self.signal(ch, LineEvent::Signal(Signal::RemoteHangup(Cause(38))));
                    return;
                };
                let local = self.local_rtp(slot);
                self.sdp_version += 1;
                let offer = sdp::offer(local, &self.caps, session, self.sdp_version);
                let out = Outbound {
                    target: t.targets[0],
                    alternates: t.targets[1..].to_vec(),
                    request_uri: t.uri(Some(number.as_str())),
                    from_user: caller.map_or_else(
                        || {
                            t.auth
                                .as_ref()
                                .map_or_else(|| "tipring".to_string(), |a| a.username().to_string())
                        },
                        |c| c.as_str().to_string(),
                    ),
                    from_name: None,
                    from_domain: Some(t.domain.clone()),
                    withhold,
                    sdp: offer.render(),
                    auth: t.auth.clone(),
                };
                let now = self.now();
                let call = self.ua.invite(now, out);
                self.slots[slot] = Some(SlotCall {
                    call,
                    answer: None,
                    media: None,
                    closing_since: None,
                });
                self.by_call.insert(call, slot);
            }
            Command::Ring
            | Command::RingCaller(_)
            | Command::RingOff
            | Command::Seize
            | Command::Flash
            | Command::Dial(_) => {
                tracing::debug!(channel = ch.0, "SIP: {} does not apply", cmd.verb());
            }
        }
    }
}

/// ` (and N more in the last 10 s)` for a throttled warning, or nothing.
fn and_more(left_out: u64) -> String {
    if left_out == 0 {
        String::new()
    } else {
        format!(" (and {left_out} more since the last such warning)")
    }
}
