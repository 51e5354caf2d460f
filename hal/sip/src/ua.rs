//! The user agent core: transactions (RFC 3261 §17), dialogs (§12), calls, registration and
//! keep-alives, as one sans-IO state machine.
//!
//! **Run loop.** The adapter owns the socket and the clock:
//! ```text
//! loop {
//!     select! { datagram => ua.handle_datagram(now, from, &bytes),
//!               tcp message (StreamFramer) => ua.handle_stream(now, from, prepared),
//!               tcp refused, ICMP unreachable => ua.handle_transport_error(now, to, transport),
//!               sleep_until(ua.poll_timeout()) => ua.handle_timeout(now),
//!               command => ua.answer(..) / ua.invite(..) / … }
//!     while let Some(t) = ua.poll_transmit() { send t.bytes to t.to over t.transport }
//!     while let Some(e) = ua.poll_event() { call control }
//! }
//! ```
//! Nothing here reads a clock or a random source: `now` (milliseconds) is passed in, and
//! tags, branches and client nonces come from a generator seeded by the caller.
//!
//! **Transactions.** Server transactions are keyed by the top `Via`'s branch and the method
//! (an `ACK` for a non-2xx final matches its `INVITE`, §17.2.3); a retransmitted request gets
//! the last response again. Final responses to `INVITE` are retransmitted on timer G until
//! the `ACK` (for 2xx too: RFC 6026 leaves that to the core, which is here), and given up on
//! timer H. Client transactions retransmit on timers A/E until a response, time out on B/F,
//! and absorb retransmitted finals on D/K. Over UDP every timer runs; T1 is 500 ms. Over
//! TCP (a `;transport=tcp` URI, or a request that came on a stream) nothing is
//! retransmitted and D/I/J/K are zero; responses go back on the request's transport.
//!
//! **Failover and redirects.** An INVITE answered 503 or 408, or not at all, goes to the
//! next of [`Outbound::alternates`] (a trunk's SRV/A addresses, RFC 3263 §4.3).
//!
//! **Digest.** A 401/407 to our INVITE or REGISTER is answered with the trunk's
//! credentials, at most twice. So is one to our requests inside a dialog (BYE, session
//! refresh, PRACK), which some PBXs and carrier proxies challenge too: the request goes
//! again with the next CSeq, a new branch and `Authorization`/`Proxy-Authorization`. A call
//! out has its trunk's credentials; the adapter gives an inbound call its trunk's with
//! [`Ua::set_dialog_auth`].
//!
//! **Extensions.** Our INVITEs say `Supported: 100rel, timer`: a reliable provisional
//! (`Require: 100rel`, RFC 3262) is acknowledged with PRACK in the early dialog, once per
//! `RSeq`. A caller whose INVITE requires `100rel` gets our 180/183 reliably (§3): with
//! `Require: 100rel` and an `RSeq` (random start), resent at T1, 2·T1… until the PRACK whose
//! `RAck` names it (another gets 481); a 2xx waits for the PRACK of a provisional that
//! carried SDP; no PRACK within 64·T1 refuses the call with 504 and [`Event::Ended`]
//! (cause 102). UPDATE (RFC 3311) is answered in early and confirmed dialogs; one with an offer
//! reaches the application as [`Event::Reinvite`]. Session timers (RFC 4028, decided in
//! [`crate::timer`]) are negotiated on every INVITE/UPDATE 2xx; as refresher the core sends
//! UPDATE (re-INVITE with the last SDP when the peer lacks UPDATE) at half the interval, and
//! a session nobody refreshed ends with a BYE and [`Event::Ended`] with cause 102. A 3xx to
//! our INVITE is followed to its Contacts, best `q` first, at most five redirects, never to
//! a URI already tried.
//!
//! **NAT.** Responses go back to where the request came from (RFC 3581 behaviour for every
//! request, which is Asterisk's `force_rport`), and the top `Via` records `received` and
//! `rport`. Requests inside a dialog go to the dialog's peer address when the remote target
//! is not an IP literal.

use crate::auth::{Challenge, ClientAuth};
use crate::cause;
use crate::frame::{Limits, Prepared};
use crate::hdr::{self, NameAddr, Via};
use crate::msg::{self, Builder, Message, StartLine};
use crate::sdp::Sdp;
use crate::timer::{self, Policy, SessionTimer, UasDecision};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// What the core needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our signalling address as peers reach it (Via, Contact); the external address behind
    /// NAT when one is configured.
    pub local: SocketAddr,
    /// `User-Agent`/`Server` value.
    pub user_agent: String,
    /// Message size limits.
    pub limits: Limits,
    /// RFC 3261 T1 (round-trip estimate), ms.
    pub t1_ms: u64,
    /// T2 (longest retransmit interval for non-INVITE and INVITE responses), ms.
    pub t2_ms: u64,
    /// T4 (how long the network holds a message), ms.
    pub t4_ms: u64,
    /// RFC 4028 session interval we ask for and accept at most, s (`Session-Expires`).
    pub session_expires: u32,
    /// The shortest session interval we accept, s (`Min-SE`; 90 at least).
    pub min_se: u32,
}

impl Config {
    /// The RFC defaults at `local`.
    pub fn new(local: SocketAddr) -> Self {
        Config {
            local,
            user_agent: concat!("Tipring/", env!("CARGO_PKG_VERSION")).into(),
            limits: Limits::default(),
            t1_ms: 500,
            t2_ms: 4_000,
            t4_ms: 5_000,
            session_expires: 1800,
            min_se: 90,
        }
    }
}

/// A call the core tracks (either direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

/// A registration binding the core keeps refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegRef(pub u32);

/// A transport protocol for SIP messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// Datagrams; the core retransmits (RFC 3261 §17 timers A, E, G).
    #[default]
    Udp,
    /// A stream: reliable, so nothing is retransmitted and completed transactions end at
    /// once (timers D, I, J, K are zero, §17). Responses go back on the connection the
    /// request came on (the adapter's job, by source address).
    Tcp,
}

impl Transport {
    /// `UDP`/`TCP`, as in `Via`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// The transport a `sip:` URI asks for with `;transport=` (UDP when none).
    pub fn of_uri(uri: &str) -> Transport {
        match hdr::uri_param(uri, "transport") {
            Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        }
    }

    /// The transport of a message's top `Via` (UDP when unreadable).
    fn of_message(bytes: &[u8]) -> Transport {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
        for line in text.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                break;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("Via") || name.eq_ignore_ascii_case("v") {
                return match Via::parse(value) {
                    Some(v) if v.transport == "TCP" => Transport::Tcp,
                    _ => Transport::Udp,
                };
            }
        }
        Transport::Udp
    }

    fn reliable(self) -> bool {
        self == Transport::Tcp
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// How: a datagram, or on the stream to `to` (reusing the connection the request came
    /// on, else a new one).
    pub transport: Transport,
    /// The message.
    pub bytes: Vec<u8>,
}

/// An inbound call as offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Where the INVITE came from.
    pub source: SocketAddr,
    /// The Request-URI.
    pub request_uri: String,
    /// The dialled number: the Request-URI's user part, else the `To` user.
    pub called: Option<String>,
    /// The caller's number: `P-Asserted-Identity` when present, else `From`.
    pub caller: Option<String>,
    /// The caller's display name.
    pub caller_name: Option<String>,
    /// `Privacy: id` (or `user`): the caller asked for the identity to be withheld.
    pub withheld: bool,
    /// The first `Diversion`: the number that forwarded the call and the reason.
    pub diversion: Option<(String, Option<String>)>,
    /// The offer, when the INVITE carried one (none means we offer in the 200).
    pub offer: Option<Sdp>,
    /// The `Call-ID`, for logs.
    pub call_id: String,
    /// Digest credentials, when the INVITE carried any: the `Authorization` value, else the
    /// `Proxy-Authorization` one (check with [`crate::auth::Verifier`]; refuse with
    /// [`Ua::challenge`]).
    pub authorization: Option<String>,
}

/// What happened, for call control.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new inbound call: answer with [`Ua::ringing`], [`Ua::answer`] or [`Ua::reject`].
    Incoming {
        /// The call.
        call: CallRef,
        /// Who and what.
        info: Box<Inbound>,
    },
    /// The caller cancelled before we answered.
    Cancelled {
        /// The call.
        call: CallRef,
    },
    /// An outbound call's provisional response (180 ringing, 183 progress with early media).
    Progress {
        /// The call.
        call: CallRef,
        /// Status code.
        code: u16,
        /// Early media answer, if the response carried SDP.
        sdp: Option<Sdp>,
    },
    /// An outbound call was answered.
    Answered {
        /// The call.
        call: CallRef,
        /// The answer (or, after an offerless INVITE, the offer).
        sdp: Option<Sdp>,
    },
    /// An outbound call failed before answer.
    Failed {
        /// The call.
        call: CallRef,
        /// Final status (408 for a timeout).
        code: u16,
        /// The Q.850 cause (from `Reason`, else mapped from the status).
        cause: u8,
        /// `Retry-After`, seconds.
        retry_after: Option<u32>,
    },
    /// A call that was up ended (or a call we were asked to end is gone).
    Ended {
        /// The call.
        call: CallRef,
        /// The Q.850 cause.
        cause: u8,
        /// True when the far end ended it.
        remote: bool,
    },
    /// The ACK for a 2xx in which we made the offer arrived (an INVITE or re-INVITE without
    /// SDP: RFC 3264 late offer): it carries the answer. `None` when it carried no usable
    /// SDP; the offer/answer failed and the call should be hung up.
    Acked {
        /// The call.
        call: CallRef,
        /// The peer's answer to the offer in our 2xx.
        sdp: Option<Sdp>,
    },
    /// The peer sent a re-INVITE, or an UPDATE with an offer (RFC 3311, also before answer):
    /// answer with [`Ua::accept_reinvite`]. UPDATEs without SDP (session refreshes) are
    /// answered by the core.
    Reinvite {
        /// The call.
        call: CallRef,
        /// The new offer; `None` for a re-INVITE without SDP (we offer in the 200).
        offer: Option<Sdp>,
    },
    /// A digit arrived by SIP INFO.
    Dtmf {
        /// The call.
        call: CallRef,
        /// `0-9 * # A-D`.
        digit: char,
    },
    /// A registration succeeded (or was refreshed).
    Registered {
        /// The binding.
        reg: RegRef,
        /// Seconds the registrar granted.
        expires: u32,
    },
    /// A registration failed; it is retried after `retry_in_ms`.
    RegistrationFailed {
        /// The binding.
        reg: RegRef,
        /// Status (408 for no answer).
        code: u16,
        /// Why, in words.
        reason: String,
        /// When the next attempt goes out.
        retry_in_ms: u64,
    },
    /// An OPTIONS ping was answered (any final response proves the peer is alive).
    Pong {
        /// The ping's id.
        id: u64,
        /// Status.
        code: u16,
    },
    /// An OPTIONS ping got no answer.
    PingTimeout {
        /// The ping's id.
        id: u64,
    },
    /// A message was refused (answered 400 or dropped): for counters and logs.
    Malformed {
        /// Where it came from.
        source: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// An outbound call's set-up.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Where the INVITE goes (the trunk's proxy, or the peer).
    pub target: SocketAddr,
    /// Request-URI (`sip:1000@pbx.example.com`).
    pub request_uri: String,
    /// `From` user (the calling number) and display name.
    pub from_user: String,
    /// Display name for `From`.
    pub from_name: Option<String>,
    /// Domain for `From` (the trunk's domain; our address when `None`).
    pub from_domain: Option<String>,
    /// Withhold the caller's identity: `From` is anonymous, the number goes in
    /// `P-Asserted-Identity` with `Privacy: id` (RFC 3325, for a trunk that trusts us).
    pub withhold: bool,
    /// The offer.
    pub sdp: String,
    /// Credentials for 401/407.
    pub auth: Option<ClientAuth>,
    /// Where to try next when `target` answers 503 or not at all (the other addresses of a
    /// trunk's SRV/A records, RFC 3263 §4.3), in order.
    pub alternates: Vec<SocketAddr>,
}

/// A registration's set-up.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The registrar's address.
    pub registrar: SocketAddr,
    /// The registrar's URI (`sip:pbx.example.com`).
    pub registrar_uri: String,
    /// Address of record (`sip:100@pbx.example.com`).
    pub aor: String,
    /// Seconds asked for.
    pub expires: u32,
    /// Credentials.
    pub auth: Option<ClientAuth>,
    /// First retry delay after a failure, ms (doubles up to 32×).
    pub retry_ms: u64,
}

/// Why a call command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such call (it ended).
    #[error("no SIP call {0}")]
    NoCall(u64),
    /// The call is not in a state the command fits.
    #[error("SIP call {0}: cannot {1} now")]
    WrongState(u64, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uas,
    Uac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAS: INVITE received, no final response yet. UAC: INVITE sent.
    Setup,
    /// 2xx sent or received; ACK not yet exchanged (UAS) — media may flow.
    Answered,
    /// Dialog confirmed.
    Confirmed,
}

#[derive(Debug)]
struct Call {
    role: Role,
    state: CallState,
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// Our side's name-addr (without tag) as in From (UAC) / To (UAS).
    local_uri: String,
    /// Theirs.
    remote_uri: String,
    local_seq: u32,
    remote_seq: u32,
    remote_target: String,
    route: Vec<String>,
    peer: SocketAddr,
    /// The dialog's transport (the INVITE's).
    transport: Transport,
    /// UAS: the INVITE's server transaction key and the request.
    uas_invite: Option<(String, Prepared)>,
    /// UAS: a re-INVITE or UPDATE offer waiting for the application's answer.
    reinvite: Option<Pending>,
    /// UAC: the INVITE as sent, for authentication retries and CANCEL.
    uac: Option<UacInvite>,
    /// UAS: the session timer decided on the INVITE, for the 2xx.
    uas_timer: UasDecision,
    /// UAC: the last `RSeq` acknowledged by PRACK in the early dialog (RFC 3262 §4).
    rseq: Option<u32>,
    /// The peer listed UPDATE in `Allow`: session refreshes go by UPDATE.
    peer_update: bool,
    /// The SDP we last sent, for refreshes by re-INVITE.
    local_sdp: Option<String>,
    /// The session timer in force and when it is next due (ms).
    timer: Option<(SessionTimer, u64)>,
    /// A refresh of ours is in flight.
    refreshing: bool,
    /// Our 2xx to an INVITE that waits for its ACK: the server transaction and the CSeq.
    unacked: Option<(String, u32)>,
    /// That 2xx carried our offer: the ACK carries the answer.
    offer_in_2xx: bool,
    /// UAS: the INVITE required `100rel`: provisionals go reliably (RFC 3262 §3).
    uas_100rel: bool,
    /// UAS: the `RSeq` of our next reliable provisional.
    next_rseq: u32,
    /// UAS: the reliable provisional awaiting its PRACK.
    reliable: Option<Reliable>,
    /// UAS: the answer to send once that PRACK comes (the provisional carried SDP).
    answer_after_prack: Option<String>,
    /// UAS: a reliable provisional without SDP that our 2xx overtook (§3 allows it): its
    /// `RSeq` and the INVITE's CSeq, so that its PRACK, arriving after the 2xx, gets 200.
    overtaken: Option<(u32, u32)>,
    /// Credentials for a challenge to our requests inside the dialog (BYE, refreshes,
    /// PRACK, INFO): the trunk's, for a call out or [`Ua::set_dialog_auth`].
    dialog_auth: Option<ClientAuth>,
}

/// A reliable provisional response of ours awaiting its PRACK (RFC 3262 §3).
#[derive(Debug)]
struct Reliable {
    rseq: u32,
    /// The INVITE's CSeq number, which the PRACK's `RAck` names.
    cseq: u32,
    bytes: Vec<u8>,
    /// The next retransmission (ms) and the interval to it; none over TCP.
    next: Option<(u64, u64)>,
    /// No PRACK by then (64·T1 after the first send): the INVITE is refused with 504.
    give_up: u64,
    /// It carried SDP: our 2xx waits for its PRACK (§3).
    sdp: bool,
}

/// A received re-INVITE or UPDATE offer the application has to answer.
#[derive(Debug)]
struct Pending {
    key: String,
    req: Prepared,
    timer: UasDecision,
}

#[derive(Debug)]
struct UacInvite {
    out: Outbound,
    branch: String,
    cseq: u32,
    provisional: bool,
    cancel: Option<u8>,
    auth_tries: u8,
    /// The `Authorization`/`Proxy-Authorization` line of the last attempt.
    credentials: Option<(String, String)>,
    /// The session interval we propose (raised by a 422's `Min-SE`).
    session_expires: u32,
    /// The `Min-SE` we send.
    min_se: u32,
    /// 422 retries so far.
    se_tries: u8,
    /// Request-URIs tried (the first and every redirect), lower-cased: loop detection.
    tried: Vec<String>,
    /// Redirect targets not yet tried, best first.
    targets: VecDeque<String>,
    /// Where the first INVITE went: redirects to names go there too.
    first_target: SocketAddr,
}

#[derive(Debug)]
struct ServerTxn {
    invite: bool,
    source: SocketAddr,
    /// The transport the request came on; responses go back on it.
    transport: Transport,
    /// Last response sent: status and bytes.
    last: Option<(u16, Vec<u8>)>,
    call: Option<CallRef>,
    /// Retransmission (timer G): next due and interval.
    retransmit: Option<(u64, u64)>,
    acked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientOwner {
    Invite(CallRef),
    Bye(CallRef),
    Cancel(CallRef),
    Prack(CallRef),
    Refresh(CallRef),
    Info,
    Register(RegRef),
    Ping(u64),
}

#[derive(Debug)]
struct ClientTxn {
    owner: ClientOwner,
    /// An in-dialog request: the credentials to answer a 401/407 with, and how many
    /// challenges this request (through its resends) has answered.
    auth: Option<(ClientAuth, u8)>,
    invite: bool,
    dest: SocketAddr,
    transport: Transport,
    request: Vec<u8>,
    /// The request's header section, to build the ACK for a non-2xx final.
    head: Option<Prepared>,
    retransmit: Option<(u64, u64)>,
    timeout: u64,
    /// Got a final response (Completed).
    done: bool,
    provisional: bool,
}

#[derive(Debug)]
struct Reg {
    cfg: Registration,
    call_id: String,
    tag: String,
    cseq: u32,
    auth_tries: u8,
    failures: u32,
    next: Option<u64>,
    /// The registrar's last challenge, with the credentials' header name and how often it
    /// was answered: every REGISTER answers it afresh (a new `nc`), never replays.
    challenge: Option<(&'static str, Challenge, u32)>,
    expires: u32,
    stopping: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Server(String),
    ServerEnd(String),
    Client(String),
    ClientEnd(String),
    Reg(u32),
    Session(u64),
    Reliable(u64),
}

/// The user agent core.
#[derive(Debug)]
pub struct Ua {
    cfg: Config,
    rng: u64,
    now: u64,
    next_call: u64,
    calls: HashMap<CallRef, Call>,
    /// (Call-ID, our tag) → call.
    dialogs: HashMap<(String, String), CallRef>,
    server: HashMap<String, ServerTxn>,
    client: HashMap<String, ClientTxn>,
    regs: HashMap<RegRef, Reg>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK";

/// Redirects followed for one call at most (3xx Contacts tried).
const MAX_REDIRECTS: usize = 5;

impl Ua {
    /// A core at `cfg.local`; `seed` feeds the tag and branch generator (take it from the
    /// OS's random source in production, a constant in tests).
    pub fn new(cfg: Config, seed: u64) -> Ua {
        Ua {
            cfg,
            rng: seed | 1,
            now: 0,
            next_call: 1,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            server: HashMap::new(),
            client: HashMap::new(),
            regs: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Number of calls the core tracks.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Transactions in progress (server, client): a gauge for stuck-transaction checks.
    pub fn transactions(&self) -> (usize, usize) {
        (self.server.len(), self.client.len())
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn token(&mut self) -> String {
        format!("{:016x}", self.random())
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.random())
    }

    fn schedule(&mut self, at: u64, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    /// When [`handle_timeout`](Ua::handle_timeout) is next due (ms), if anything waits.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event for call control.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends a message on the transport its top `Via` names (a request's is ours, a
    /// response's is the request's).
    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        let transport = Transport::of_message(&bytes);
        self.send_on(to, transport, bytes);
    }

    fn send_on(&mut self, to: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        self.out.push_back(Transmit {
            to,
            transport,
            bytes,
        });
    }

    fn via(&self, branch: &str, t: Transport) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            t.name(),
            self.cfg.local
        )
    }

    /// Our Contact (with `;transport=tcp` on TCP).
    fn contact_on(&self, user: &str, t: Transport) -> String {
        contact_at(self.cfg.local, user, t)
    }

    // ---- input -------------------------------------------------------------------------

    /// Handles one received datagram at `now` (ms).
    pub fn handle_datagram(&mut self, now: u64, source: SocketAddr, bytes: &[u8]) {
        self.now = now;
        if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return; // keep-alive
        }
        let parsed = msg::parse(bytes, &self.cfg.limits);
        self.input(source, Transport::Udp, parsed);
    }

    /// Handles one message framed from the TCP connection with `source` at `now` (ms), as
    /// [`crate::frame::StreamFramer`] delivered it. Responses to it go to `source` with
    /// [`Transport::Tcp`]: the adapter writes them on that connection.
    pub fn handle_stream(&mut self, now: u64, source: SocketAddr, message: Prepared) {
        self.now = now;
        let parsed = msg::parse_prepared(message);
        self.input(source, Transport::Tcp, parsed);
    }

    fn input(
        &mut self,
        source: SocketAddr,
        transport: Transport,
        parsed: Result<Message, msg::ParseError>,
    ) {
        match parsed {
            Ok(m) => match m.start {
                StartLine::Request { .. } => self.request(source, transport, m),
                StartLine::Response { .. } => self.response(m),
            },
            Err(e) => {
                // Answer requests we can address; drop the rest (RFC 3261 §16.3 spirit).
                if let Some(p) = &e.prep
                    && p.is_request()
                    && p.method() != Some("ACK")
                    && p.header("Via").is_some()
                {
                    let reason = format!("Bad Request ({})", e.reason.replace(['\r', '\n'], " "));
                    let r = Builder::response(p, 400, &reason, None)
                        .header("Server", &self.cfg.user_agent)
                        .build();
                    self.send_on(source, transport, r);
                }
                self.events.push_back(Event::Malformed {
                    source,
                    reason: e.reason,
                });
            }
        }
    }

    /// Runs the timers due at `now` (ms).
    pub fn handle_timeout(&mut self, now: u64) {
        self.now = now;
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, t))) = self.timers.pop() else {
                break;
            };
            match t {
                Timer::Server(k) => self.server_retransmit(&k, at),
                Timer::ServerEnd(k) => self.server_end(&k),
                Timer::Client(k) => self.client_retransmit(&k, at),
                Timer::ClientEnd(k) => self.client_end(&k, at),
                Timer::Reg(r) => self.reg_due(RegRef(r), at),
                Timer::Session(c) => self.session_due(CallRef(c), at),
                Timer::Reliable(c) => self.reliable_due(CallRef(c), at),
            }
        }
    }

    // ---- server side -------------------------------------------------------------------

    fn respond(&mut self, key: &str, code: u16, bytes: Vec<u8>) {
        let now = self.now;
        let t1 = self.cfg.t1_ms;
        let Some(tx) = self.server.get_mut(key) else {
            return;
        };
        let (to, transport) = (tx.source, tx.transport);
        let fin = code >= 200;
        if tx.last.as_ref().is_some_and(|(c, _)| *c >= 200) {
            return; // a final response went already
        }
        tx.last = Some((code, bytes.clone()));
        let invite = tx.invite;
        // Over TCP nothing is retransmitted (§17.2.1: timer G only for unreliable ones).
        let repeat = fin && invite && !transport.reliable();
        if repeat {
            tx.retransmit = Some((now + t1, t1));
        }
        self.send_on(to, transport, bytes);
        if fin {
            let k = key.to_string();
            if repeat {
                self.schedule(now + t1, Timer::Server(k.clone())); // timer G
            }
            // Timer H (INVITE: waiting for the ACK) or J (zero over TCP).
            let end = if invite || !transport.reliable() {
                64 * t1
            } else {
                0
            };
            self.schedule(now + end, Timer::ServerEnd(k));
        }
    }

    fn server_retransmit(&mut self, key: &str, at: u64) {
        let t2 = self.cfg.t2_ms;
        let Some(tx) = self.server.get_mut(key) else {
            return;
        };
        let Some((due, interval)) = tx.retransmit else {
            return;
        };
        if due != at || tx.acked {
            return;
        }
        let next = (interval * 2).min(t2);
        tx.retransmit = Some((at + next, next));
        let (to, t, bytes) = (
            tx.source,
            tx.transport,
            tx.last.as_ref().map(|(_, b)| b.clone()),
        );
        if let Some(b) = bytes {
            self.send_on(to, t, b);
        }
        self.schedule(at + next, Timer::Server(key.to_string()));
    }

    fn server_end(&mut self, key: &str) {
        let Some(tx) = self.server.remove(key) else {
            return;
        };
        // Timer H: a 2xx never acknowledged ends the call (RFC 3261 §13.3.1.4).
        if tx.invite
            && !tx.acked
            && tx
                .last
                .as_ref()
                .is_some_and(|(c, _)| (200..300).contains(c))
            && let Some(call) = tx.call
            && self
                .calls
                .get(&call)
                .is_some_and(|c| c.state == CallState::Answered)
        {
            self.bye(call, 102);
            self.events.push_back(Event::Ended {
                call,
                cause: 102,
                remote: true,
            });
        }
    }

    fn request(&mut self, source: SocketAddr, transport: Transport, mut m: Message) {
        // RFC 3581: record where it really came from.
        if let Some((_, v)) = m.prep.headers.iter_mut().find(|(n, _)| n == "Via") {
            v.push_str(&format!(";received={}", source.ip()));
            if v.contains(";rport") && !v.contains(";rport=") {
                *v = v.replacen(";rport", &format!(";rport={}", source.port()), 1);
            }
        }
        let method = m.method().to_string();
        let branch = m
            .top_via()
            .and_then(|v| v.branch().map(str::to_string))
            .unwrap_or_else(|| format!("{}-{}", m.call_id(), m.cseq().0));
        let key_method = if method == "ACK" {
            "INVITE"
        } else {
            method.as_str()
        };
        let key = format!("{branch}|{key_method}");
        if method == "ACK" {
            self.ack(&key, &m);
            return;
        }
        if let Some(tx) = self.server.get(&key) {
            // A retransmission: the last response again.
            if let Some((_, b)) = &tx.last {
                let (to, t, b) = (tx.source, tx.transport, b.clone());
                self.send_on(to, t, b);
            }
            return;
        }
        self.server.insert(
            key.clone(),
            ServerTxn {
                invite: method == "INVITE",
                source,
                transport,
                last: None,
                call: None,
                retransmit: None,
                acked: false,
            },
        );
        // Requests nobody finishes would leave the transaction behind: every path below
        // sends a final response or hands the request to the application with a call.
        let to_tag = m.to().tag().map(str::to_string);
        if let Some(tag) = to_tag {
            let call = self.dialogs.get(&(m.call_id().to_string(), tag)).copied();
            match call {
                Some(call) => self.in_dialog(&key, call, source, m),
                None => self.reply(&key, &m.prep, 481, "Call/Transaction Does Not Exist"),
            }
            return;
        }
        match method.as_str() {
            "INVITE" => self.incoming_invite(&key, source, transport, m),
            "CANCEL" => self.cancel(&key, &branch, &m),
            "OPTIONS" => {
                let r = Builder::response(&m.prep, 200, "OK", Some(&self.token()))
                    .header("Allow", ALLOW)
                    .header("Accept", "application/sdp")
                    .header("Supported", "timer")
                    .header("Server", &self.cfg.user_agent)
                    .build();
                self.respond(&key, 200, r);
            }
            "BYE" | "INFO" | "PRACK" | "UPDATE" => {
                self.reply(&key, &m.prep, 481, "Call/Transaction Does Not Exist")
            }
            "REGISTER" | "SUBSCRIBE" | "NOTIFY" | "MESSAGE" | "PUBLISH" | "REFER" => {
                let r = Builder::response(&m.prep, 405, "Method Not Allowed", Some(&self.token()))
                    .header("Allow", ALLOW)
                    .build();
                self.respond(&key, 405, r);
            }
            _ => self.reply(&key, &m.prep, 501, "Not Implemented"),
        }
    }

    fn reply(&mut self, key: &str, req: &Prepared, code: u16, reason: &str) {
        let tag = self.token();
        let r = Builder::response(req, code, reason, Some(&tag))
            .header("Server", &self.cfg.user_agent)
            .build();
        self.respond(key, code, r);
    }

    /// 422 Session Interval Too Small (RFC 4028 §9).
    fn too_small(&mut self, key: &str, req: &Prepared, min_se: u32) {
        let r = Builder::response(req, 422, "Session Interval Too Small", Some(&self.token()))
            .header("Min-SE", &min_se.to_string())
            .header("Server", &self.cfg.user_agent)
            .build();
        self.respond(key, 422, r);
    }

    fn policy(&self) -> Policy {
        Policy {
            session_expires: self.cfg.session_expires,
            min_se: self.cfg.min_se,
        }
    }

    /// The session timer for a received INVITE or UPDATE.
    fn uas_timer(&self, m: &Message, initial: bool) -> UasDecision {
        let supported = m
            .option_tags("Supported")
            .iter()
            .chain(m.option_tags("Require").iter())
            .any(|t| t == "timer");
        timer::uas(
            &self.policy(),
            m.header("Session-Expires"),
            m.header("Min-SE"),
            supported,
            initial,
        )
    }

    fn incoming_invite(&mut self, key: &str, source: SocketAddr, transport: Transport, m: Message) {
        // Extensions we don't support but the caller requires (RFC 3261 §8.2.2.3).
        let required = m.option_tags("Require");
        let uas_100rel = required.iter().any(|t| t == "100rel");
        let unsupported: Vec<String> = required
            .into_iter()
            .filter(|t| t != "timer" && t != "100rel")
            .collect();
        if !unsupported.is_empty() {
            let r = Builder::response(&m.prep, 420, "Bad Extension", Some(&self.token()))
                .header("Unsupported", &unsupported.join(", "))
                .build();
            self.respond(key, 420, r);
            return;
        }
        let offer = if m.has_sdp() {
            match Sdp::parse(m.body()) {
                Ok(s) => Some(s),
                Err(e) => {
                    let reason = format!("Bad Request ({e})");
                    self.reply(key, &m.prep, 400, &reason);
                    return;
                }
            }
        } else if !m.body().is_empty() {
            let r = Builder::response(&m.prep, 415, "Unsupported Media Type", Some(&self.token()))
                .header("Accept", "application/sdp")
                .build();
            self.respond(key, 415, r);
            return;
        } else {
            None
        };
        let uas_timer = self.uas_timer(&m, true);
        if let UasDecision::TooSmall { min_se } = uas_timer {
            self.too_small(key, &m.prep, min_se);
            return;
        }
        // 100 Trying at once, so the caller stops retransmitting (§17.2.1).
        let trying = Builder::response(&m.prep, 100, "Trying", None).build();
        self.respond(key, 100, trying);

        let from = m.from();
        let to = m.to();
        let pai = m.header("P-Asserted-Identity").and_then(NameAddr::parse);
        let caller_addr = pai.as_ref().unwrap_or(&from);
        let withheld = m.header("Privacy").is_some_and(hdr::privacy_withholds_id);
        let diversion = m
            .header("Diversion")
            .and_then(NameAddr::parse)
            .and_then(|d| d.user().map(|u| (u, d.param("reason").map(str::to_string))));
        let request_uri = m.uri().unwrap_or_default().to_string();
        let called = hdr::uri_user(&request_uri).or_else(|| to.user());
        let info = Inbound {
            source,
            called,
            caller: caller_addr.user(),
            caller_name: caller_addr
                .display
                .clone()
                .or_else(|| from.display.clone())
                .filter(|n| !n.is_empty()),
            withheld,
            diversion,
            offer,
            call_id: m.call_id().to_string(),
            authorization: m
                .header("Authorization")
                .or_else(|| m.header("Proxy-Authorization"))
                .map(str::to_string),
            request_uri,
        };
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let local_tag = self.token();
        let remote_target = m
            .contact()
            .map(|c| c.uri)
            .unwrap_or_else(|| from.uri.clone());
        let route: Vec<String> = m
            .prep
            .headers_named("Record-Route")
            .map(str::to_string)
            .collect();
        let to_value = m.header("To").unwrap_or_default().to_string();
        let local_seq = self.random() as u32 & 0x7fff_ffff;
        // §7.1: the first RSeq is random, below 2**31.
        let first_rseq = 1 + (self.random() as u32 & 0x3fff_ffff);
        self.dialogs
            .insert((m.call_id().to_string(), local_tag.clone()), call);
        if let Some(tx) = self.server.get_mut(key) {
            tx.call = Some(call);
        }
        self.calls.insert(
            call,
            Call {
                role: Role::Uas,
                state: CallState::Setup,
                call_id: m.call_id().to_string(),
                local_tag,
                remote_tag: from.tag().map(str::to_string),
                local_uri: to_value,
                remote_uri: m.header("From").unwrap_or_default().to_string(),
                local_seq,
                remote_seq: m.cseq().0,
                remote_target,
                route,
                peer: source,
                peer_update: allows_update(&m),
                transport,
                uas_invite: Some((key.to_string(), m.prep)),
                reinvite: None,
                uac: None,
                uas_timer,
                rseq: None,
                local_sdp: None,
                timer: None,
                refreshing: false,
                unacked: None,
                offer_in_2xx: false,
                uas_100rel,
                next_rseq: first_rseq,
                reliable: None,
                answer_after_prack: None,
                overtaken: None,
                dialog_auth: None,
            },
        );
        self.events.push_back(Event::Incoming {
            call,
            info: Box::new(info),
        });
    }

    fn cancel(&mut self, key: &str, branch: &str, m: &Message) {
        let invite_key = format!("{branch}|INVITE");
        let pending = self
            .server
            .get(&invite_key)
            .filter(|t| t.last.as_ref().is_none_or(|(c, _)| *c < 200))
            .and_then(|t| t.call);
        match pending {
            Some(call) => {
                self.reply(key, &m.prep, 200, "OK");
                self.finish_uas(call, 487, "Request Terminated", None, None);
                self.events.push_back(Event::Cancelled { call });
            }
            None if self.server.contains_key(&invite_key) => self.reply(key, &m.prep, 200, "OK"),
            None => self.reply(key, &m.prep, 481, "Call/Transaction Does Not Exist"),
        }
    }

    fn ack(&mut self, key: &str, m: &Message) {
        if let Some(tx) = self.server.get_mut(key) {
            tx.acked = true;
            tx.retransmit = None;
        }
        // A 2xx ACK is its own transaction (new branch): match the dialog.
        let Some(call) = m
            .to()
            .tag()
            .and_then(|tag| {
                self.dialogs
                    .get(&(m.call_id().to_string(), tag.to_string()))
            })
            .copied()
        else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        // The 2xx it acknowledges (the first INVITE's or a re-INVITE's) stops repeating.
        if c.unacked.as_ref().is_some_and(|(_, n)| *n == m.cseq().0)
            && let Some((k, _)) = c.unacked.take()
        {
            if let Some(tx) = self.server.get_mut(&k) {
                tx.acked = true;
                tx.retransmit = None;
            }
            if std::mem::take(&mut c.offer_in_2xx) {
                let sdp = if m.has_sdp() {
                    Sdp::parse(m.body()).ok()
                } else {
                    None
                };
                self.events.push_back(Event::Acked { call, sdp });
            }
        }
        if c.state == CallState::Answered {
            c.state = CallState::Confirmed;
            c.uas_invite = None;
        }
    }

    fn in_dialog(&mut self, key: &str, call: CallRef, source: SocketAddr, m: Message) {
        let method = m.method().to_string();
        let Some(c) = self.calls.get_mut(&call) else {
            self.reply(key, &m.prep, 481, "Call/Transaction Does Not Exist");
            return;
        };
        let seq = m.cseq().0;
        if seq < c.remote_seq && method != "ACK" {
            self.reply(
                key,
                &m.prep,
                500,
                "Server Internal Error (CSeq out of order)",
            );
            return;
        }
        c.remote_seq = seq;
        c.peer = source;
        if let Some(t) = m.contact() {
            c.remote_target = t.uri;
        }
        let transport = c.transport;
        match method.as_str() {
            "BYE" => {
                let cause = m.header("Reason").and_then(hdr::reason_q850).unwrap_or(16);
                self.reply(key, &m.prep, 200, "OK");
                self.forget(call);
                self.events.push_back(Event::Ended {
                    call,
                    cause,
                    remote: true,
                });
            }
            "INVITE" | "UPDATE" => {
                let invite = method == "INVITE";
                if invite && c.refreshing {
                    // Glare with our own refresh (RFC 3261 §14.2).
                    self.reply(key, &m.prep, 491, "Request Pending");
                    return;
                }
                let offered = m.has_sdp();
                if c.reinvite.is_some() && (invite || offered)
                    || invite && c.state == CallState::Setup
                {
                    let r = Builder::response(&m.prep, 500, "Server Internal Error", None)
                        .header("Retry-After", "1")
                        .build();
                    self.respond(key, 500, r);
                    return;
                }
                let decision = self.uas_timer(&m, false);
                if let UasDecision::TooSmall { min_se } = decision {
                    self.too_small(key, &m.prep, min_se);
                    return;
                }
                let offer = if offered {
                    match Sdp::parse(m.body()) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            self.reply(key, &m.prep, 488, &format!("Not Acceptable Here ({e})"));
                            return;
                        }
                    }
                } else {
                    None
                };
                if !invite && offer.is_none() {
                    // A session refresh (or a target refresh): nothing to negotiate.
                    let mut b = Builder::response(&m.prep, 200, "OK", None)
                        .header("Contact", &contact_at(self.cfg.local, "", transport))
                        .header("Supported", "timer");
                    for (n, v) in decision.headers() {
                        b = b.header(n, &v);
                    }
                    let bytes = b.build();
                    self.respond(key, 200, bytes);
                    self.set_timer(call, decision.timer());
                    return;
                }
                if invite {
                    let trying = Builder::response(&m.prep, 100, "Trying", None).build();
                    self.respond(key, 100, trying);
                }
                if let Some(tx) = self.server.get_mut(key) {
                    tx.call = Some(call);
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.reinvite = Some(Pending {
                        key: key.to_string(),
                        req: m.prep,
                        timer: decision,
                    });
                }
                self.events.push_back(Event::Reinvite { call, offer });
            }
            // RFC 3262 §3: a PRACK whose RAck names our outstanding reliable provisional.
            "PRACK" => {
                let rack = m.header("RAck").and_then(parse_rack);
                let names = |want: Option<(u32, u32)>| match (want, &rack) {
                    (Some((rs, cs)), Some((rseq, cseq, method))) => {
                        *rseq == rs && *cseq == cs && method == "INVITE"
                    }
                    _ => false,
                };
                if names(c.overtaken) {
                    c.overtaken = None;
                    self.reply(key, &m.prep, 200, "OK");
                    return;
                }
                if !names(c.reliable.as_ref().map(|r| (r.rseq, r.cseq))) {
                    self.reply(key, &m.prep, 481, "Call/Transaction Does Not Exist");
                    return;
                }
                c.reliable = None;
                let waiting = c.answer_after_prack.take();
                self.reply(key, &m.prep, 200, "OK");
                if let Some(sdp) = waiting {
                    let _ = self.answer(call, &sdp);
                }
            }
            "INFO" => {
                let digit = info_digit(&m);
                self.reply(key, &m.prep, 200, "OK");
                if let Some(digit) = digit {
                    self.events.push_back(Event::Dtmf { call, digit });
                }
            }
            "OPTIONS" => self.reply(key, &m.prep, 200, "OK"),
            "CANCEL" => self.reply(key, &m.prep, 481, "Call/Transaction Does Not Exist"),
            _ => self.reply(key, &m.prep, 501, "Not Implemented"),
        }
    }

    fn finish_uas(
        &mut self,
        call: CallRef,
        code: u16,
        reason: &str,
        retry_after: Option<u32>,
        q850: Option<u8>,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some((key, req)) = &c.uas_invite else {
            return;
        };
        let mut b = Builder::response(req, code, reason, Some(&c.local_tag))
            .header("Server", &self.cfg.user_agent);
        if let Some(s) = retry_after {
            b = b.header("Retry-After", &s.to_string());
        }
        if let Some(q) = q850 {
            b = b.header("Reason", &cause::reason_header(q));
        }
        let key = key.clone();
        self.respond(&key, code, b.build());
        self.forget(call);
    }

    fn forget(&mut self, call: CallRef) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&(c.call_id, c.local_tag));
        }
    }

    // ---- application commands (UAS) ----------------------------------------------------

    /// Sends 180 Ringing, or 183 Session Progress with `early_sdp` (early media).
    ///
    /// # Errors
    /// The call is gone or already answered.
    pub fn ringing(&mut self, call: CallRef, early_sdp: Option<&str>) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::NoCall(call.0))?;
        let (Role::Uas, CallState::Setup, Some((key, req))) = (c.role, c.state, &c.uas_invite)
        else {
            return Err(CommandError::WrongState(call.0, "ring"));
        };
        let (code, reason) = if early_sdp.is_some() {
            (183, "Session Progress")
        } else {
            (180, "Ringing")
        };
        if c.reliable.is_some() {
            // §3: no second reliable provisional before the first is acknowledged.
            return Err(CommandError::WrongState(call.0, "ring before the PRACK"));
        }
        let mut b = Builder::response(req, code, reason, Some(&c.local_tag))
            .header("Contact", &contact_at(self.cfg.local, "", c.transport));
        let reliable = c.uas_100rel;
        let rseq = c.next_rseq;
        let cseq = req.header("CSeq").and_then(hdr::cseq).map_or(0, |c| c.0);
        let transport = c.transport;
        if reliable {
            b = b
                .header("Require", "100rel")
                .header("RSeq", &rseq.to_string());
        }
        if let Some(sdp) = early_sdp {
            b = b.body("application/sdp", sdp);
        }
        let key = key.clone();
        let bytes = b.build();
        if reliable {
            let (now, t1) = (self.now, self.cfg.t1_ms);
            let give_up = now + 64 * t1;
            let next = (!transport.reliable()).then_some((now + t1, t1));
            if let Some(c) = self.calls.get_mut(&call) {
                c.next_rseq = rseq.wrapping_add(1);
                c.reliable = Some(Reliable {
                    rseq,
                    cseq,
                    bytes: bytes.clone(),
                    next,
                    give_up,
                    sdp: early_sdp.is_some(),
                });
            }
            if let Some((at, _)) = next {
                self.schedule(at, Timer::Reliable(call.0));
            }
            self.schedule(give_up, Timer::Reliable(call.0));
        }
        self.respond(&key, code, bytes);
        Ok(())
    }

    /// A reliable provisional's retransmission, or its end without PRACK (RFC 3262 §3:
    /// retransmitted at T1, 2·T1, 4·T1…; after 64·T1 the INVITE is refused with 5xx).
    fn reliable_due(&mut self, call: CallRef, at: u64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(r) = c.reliable.as_mut() else {
            return;
        };
        if at >= r.give_up {
            c.reliable = None;
            c.answer_after_prack = None;
            self.finish_uas(call, 504, "Server Time-out", None, Some(102));
            self.events.push_back(Event::Ended {
                call,
                cause: 102,
                remote: true,
            });
            return;
        }
        let Some((due, interval)) = r.next else {
            return;
        };
        if due != at {
            return;
        }
        let next = at + 2 * interval;
        r.next = Some((next, 2 * interval));
        let (bytes, peer, transport) = (r.bytes.clone(), c.peer, c.transport);
        let key = c.uas_invite.as_ref().map(|(k, _)| k.clone());
        // Resent through the INVITE's server transaction, to where its responses go.
        let to = key
            .as_ref()
            .and_then(|k| self.server.get(k))
            .map_or(peer, |tx| tx.source);
        self.send_on(to, transport, bytes);
        if next < r_give_up(&self.calls, call) {
            self.schedule(next, Timer::Reliable(call.0));
        }
    }

    /// Answers an inbound call with 200 OK and `sdp`: the answer to the INVITE's offer, or,
    /// when it had none, our offer, answered in the ACK ([`Event::Acked`]).
    ///
    /// # Errors
    /// The call is gone or already answered.
    pub fn answer(&mut self, call: CallRef, sdp: &str) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(CommandError::NoCall(call.0))?;
        let (Role::Uas, CallState::Setup, Some((key, req))) = (c.role, c.state, &c.uas_invite)
        else {
            return Err(CommandError::WrongState(call.0, "answer"));
        };
        if c.reliable.as_ref().is_some_and(|r| r.sdp) {
            // §3: no 2xx while a reliable provisional with SDP is unacknowledged.
            c.answer_after_prack = Some(sdp.to_string());
            return Ok(());
        }
        // An unacknowledged provisional without SDP stops being resent; its PRACK may
        // still come, after our 2xx.
        c.overtaken = c.reliable.take().map(|r| (r.rseq, r.cseq));
        let mut b = Builder::response(req, 200, "OK", Some(&c.local_tag))
            .header("Contact", &contact_at(self.cfg.local, "", c.transport))
            .header("Allow", ALLOW)
            .header("Supported", "timer");
        for (n, v) in c.uas_timer.headers() {
            b = b.header(n, &v);
        }
        let bytes = b
            .header("Server", &self.cfg.user_agent)
            .body("application/sdp", sdp)
            .build();
        let key = key.clone();
        let seq = req.header("CSeq").and_then(hdr::cseq).map_or(0, |c| c.0);
        c.state = CallState::Answered;
        c.local_sdp = Some(sdp.to_string());
        c.unacked = Some((key.clone(), seq));
        c.offer_in_2xx = req.body.is_empty();
        let t = c.uas_timer.timer();
        self.respond(&key, 200, bytes);
        self.set_timer(call, t);
        Ok(())
    }

    /// Refuses an inbound call with `code` (486 busy, 503 full with `retry_after`…) and a
    /// `Reason` carrying `q850` when given.
    ///
    /// # Errors
    /// The call is gone or already answered.
    pub fn reject(
        &mut self,
        call: CallRef,
        code: u16,
        reason: &str,
        retry_after: Option<u32>,
        q850: Option<u8>,
    ) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::NoCall(call.0))?;
        if c.role != Role::Uas || c.state != CallState::Setup {
            return Err(CommandError::WrongState(call.0, "reject"));
        }
        self.finish_uas(call, code, reason, retry_after, q850);
        Ok(())
    }

    /// Refuses an inbound call with a digest challenge: 401 with `WWW-Authenticate`, or 407
    /// with `Proxy-Authenticate` when `proxy`; `challenge` is the header value (from
    /// [`crate::auth::Verifier::challenge`]). The caller retries with credentials as a new
    /// call.
    ///
    /// # Errors
    /// The call is gone or already answered.
    pub fn challenge(
        &mut self,
        call: CallRef,
        proxy: bool,
        challenge: &str,
    ) -> Result<(), CommandError> {
        let c = self.calls.get(&call).ok_or(CommandError::NoCall(call.0))?;
        let (Role::Uas, CallState::Setup, Some((key, req))) = (c.role, c.state, &c.uas_invite)
        else {
            return Err(CommandError::WrongState(call.0, "challenge"));
        };
        let (code, reason, name) = if proxy {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        } else {
            (401, "Unauthorized", "WWW-Authenticate")
        };
        let bytes = Builder::response(req, code, reason, Some(&c.local_tag))
            .header(name, challenge)
            .header("Server", &self.cfg.user_agent)
            .build();
        let key = key.clone();
        self.respond(&key, code, bytes);
        self.forget(call);
        Ok(())
    }

    /// Answers a pending re-INVITE or UPDATE with 200 OK and `sdp` (or refuses it with 488
    /// when `None`). To a re-INVITE without SDP, `sdp` is our offer, answered in the ACK
    /// ([`Event::Acked`]).
    ///
    /// # Errors
    /// No re-INVITE is pending.
    pub fn accept_reinvite(
        &mut self,
        call: CallRef,
        sdp: Option<&str>,
    ) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(CommandError::NoCall(call.0))?;
        let Pending { key, req, timer } = c
            .reinvite
            .take()
            .ok_or(CommandError::WrongState(call.0, "answer a re-INVITE"))?;
        let Some(s) = sdp else {
            let bytes = Builder::response(&req, 488, "Not Acceptable Here", None).build();
            self.respond(&key, 488, bytes);
            return Ok(());
        };
        let mut b = Builder::response(&req, 200, "OK", None)
            .header("Contact", &contact_at(self.cfg.local, "", c.transport))
            .header("Allow", ALLOW)
            .header("Supported", "timer");
        for (n, v) in timer.headers() {
            b = b.header(n, &v);
        }
        let bytes = b.body("application/sdp", s).build();
        c.local_sdp = Some(s.to_string());
        if req.method() == Some("INVITE") {
            let seq = req.header("CSeq").and_then(hdr::cseq).map_or(0, |c| c.0);
            c.unacked = Some((key.clone(), seq));
            c.offer_in_2xx = req.body.is_empty();
        }
        self.respond(&key, 200, bytes);
        self.set_timer(call, timer.timer());
        Ok(())
    }

    /// Ends a call whatever its state: BYE when up, CANCEL or a final response before. The
    /// call is forgotten at once (its transactions finish in the background); no event
    /// follows for it.
    ///
    /// # Errors
    /// No such call.
    pub fn hangup(&mut self, call: CallRef, q850: u8) -> Result<(), CommandError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(CommandError::NoCall(call.0))?;
        match (c.role, c.state) {
            (Role::Uas, CallState::Setup) => {
                let (code, reason) = cause::status_of_q850(q850);
                self.finish_uas(call, code, reason, None, Some(q850));
            }
            (Role::Uac, CallState::Setup) => {
                if let Some(u) = &mut c.uac {
                    u.cancel = Some(q850);
                    if u.provisional {
                        self.send_cancel(call);
                    }
                }
                // Forgotten when the INVITE's final response (487, or a 2xx we then BYE)
                // arrives or times out.
            }
            _ => {
                self.bye(call, q850);
                self.forget(call);
            }
        }
        Ok(())
    }

    // ---- client side -------------------------------------------------------------------

    fn start_client(
        &mut self,
        branch: String,
        owner: ClientOwner,
        dest: SocketAddr,
        request: Vec<u8>,
        invite: bool,
    ) {
        let now = self.now;
        let t1 = self.cfg.t1_ms;
        let head = if invite {
            msg::parse(&request, &self.cfg.limits).ok().map(|m| m.prep)
        } else {
            None
        };
        let transport = Transport::of_message(&request);
        let auth = match owner {
            ClientOwner::Bye(c) | ClientOwner::Refresh(c) | ClientOwner::Prack(c) => self
                .calls
                .get(&c)
                .and_then(|c| c.dialog_auth.clone())
                .map(|a| (a, 0)),
            _ => None,
        };
        self.send_on(dest, transport, request.clone());
        // Timers A/E run on unreliable transports only (§17.1.1.2, §17.1.2.2).
        let retransmit = (!transport.reliable()).then_some((now + t1, t1));
        self.client.insert(
            branch.clone(),
            ClientTxn {
                owner,
                auth,
                invite,
                dest,
                transport,
                request,
                head,
                retransmit,
                timeout: now + 64 * t1,
                done: false,
                provisional: false,
            },
        );
        if retransmit.is_some() {
            self.schedule(now + t1, Timer::Client(branch.clone()));
        }
        self.schedule(now + 64 * t1, Timer::ClientEnd(branch));
    }

    fn client_retransmit(&mut self, key: &str, at: u64) {
        let t2 = self.cfg.t2_ms;
        let Some(tx) = self.client.get_mut(key) else {
            return;
        };
        let Some((due, interval)) = tx.retransmit else {
            return;
        };
        if due != at || tx.done {
            return;
        }
        // INVITE doubles without bound (timer A); others up to T2 (timer E).
        let next = if tx.invite {
            interval * 2
        } else {
            (interval * 2).min(t2)
        };
        tx.retransmit = Some((at + next, next));
        let (to, b) = (tx.dest, tx.request.clone());
        self.send(to, b);
        self.schedule(at + next, Timer::Client(key.to_string()));
    }

    fn client_end(&mut self, key: &str, at: u64) {
        let Some(tx) = self.client.get(key) else {
            return;
        };
        if tx.done || tx.timeout != at {
            // Completed transactions end here (timer D/K), silently.
            if tx.done {
                self.client.remove(key);
            }
            return;
        }
        self.client_timeout(key);
    }

    /// Timer B/F: the transaction got no final response (408, cause 102).
    fn client_timeout(&mut self, key: &str) {
        self.client_failed(key, 408, 102);
    }

    /// The transaction ends without a final response: timer B/F (408, cause 102) or a
    /// transport error (503, cause 38, RFC 3261 §8.1.3.1).
    fn client_failed(&mut self, key: &str, code: u16, q850: u8) {
        let Some(tx) = self.client.remove(key) else {
            return;
        };
        match tx.owner {
            ClientOwner::Invite(call) => {
                let cancelled = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.uac.as_ref())
                    .and_then(|u| u.cancel);
                if cancelled.is_none()
                    && self
                        .calls
                        .get(&call)
                        .is_some_and(|c| c.state == CallState::Setup)
                    && self.fail_over(call)
                {
                    return;
                }
                self.forget(call);
                if cancelled.is_none() {
                    self.events.push_back(Event::Failed {
                        call,
                        code,
                        cause: q850,
                        retry_after: None,
                    });
                }
            }
            ClientOwner::Register(r) => self.reg_failed(
                r,
                code,
                if code == 408 {
                    "no answer from the registrar".into()
                } else {
                    "the registrar is unreachable".into()
                },
            ),
            ClientOwner::Ping(id) => self.events.push_back(Event::PingTimeout { id }),
            ClientOwner::Refresh(call) => {
                if self.calls.contains_key(&call) {
                    self.expired(call);
                }
            }
            ClientOwner::Bye(_)
            | ClientOwner::Cancel(_)
            | ClientOwner::Prack(_)
            | ClientOwner::Info => {}
        }
    }

    fn response(&mut self, m: Message) {
        let Some(branch) = m.top_via().and_then(|v| v.branch().map(str::to_string)) else {
            return;
        };
        let code = m.code().unwrap_or(0);
        let now = self.now;
        let t4 = self.cfg.t4_ms;
        let t1 = self.cfg.t1_ms;
        let Some(tx) = self.client.get_mut(&branch) else {
            return; // stray
        };
        if tx.invite != (m.method() == "INVITE") {
            return;
        }
        let owner = tx.owner;
        if code < 200 {
            tx.provisional = true;
            if tx.invite {
                tx.retransmit = None; // timer A stops in Proceeding
            } else if let Some((due, _)) = tx.retransmit {
                tx.retransmit = Some((due, self.cfg.t2_ms));
            }
        } else if tx.done {
            // A retransmitted final: re-ACK non-2xx INVITE finals; 2xx are the dialog's.
            if tx.invite && code >= 300 {
                let ack = tx.head.as_ref().map(|h| ack_for(h, &m));
                if let Some(a) = ack {
                    let d = tx.dest;
                    self.send(d, a);
                }
            } else if tx.invite
                && let ClientOwner::Invite(call) | ClientOwner::Refresh(call) = owner
            {
                self.ack_2xx(call, &m);
            }
            return;
        } else {
            tx.done = true;
            tx.retransmit = None;
            // Keep absorbing retransmissions: timer D (32 s) for INVITE, K (T4) otherwise;
            // none come over TCP.
            let hold = match (tx.transport.reliable(), tx.invite) {
                (true, _) => 0,
                (false, true) => 64 * t1,
                (false, false) => t4,
            };
            tx.timeout = now + hold;
            if tx.invite && code >= 300 {
                let ack = tx.head.as_ref().map(|h| ack_for(h, &m));
                if let Some(a) = ack {
                    let d = tx.dest;
                    self.send(d, a);
                }
            }
            self.schedule(now + hold, Timer::ClientEnd(branch.clone()));
        }
        if (code == 401 || code == 407) && self.dialog_challenge(&branch, code, &m) {
            return;
        }
        match owner {
            ClientOwner::Invite(call) => self.invite_response(call, code, &m),
            ClientOwner::Register(r) => self.reg_response(r, code, &m),
            ClientOwner::Refresh(call) => self.refresh_response(call, code, &m),
            ClientOwner::Ping(id) if code >= 200 => self.events.push_back(Event::Pong { id, code }),
            _ => {}
        }
    }

    /// Places an outbound call.
    pub fn invite(&mut self, now: u64, out: Outbound) -> CallRef {
        self.now = now;
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let call_id = format!("{}@{}", self.token(), self.cfg.local.ip());
        let local_tag = self.token();
        let domain = out
            .from_domain
            .clone()
            .unwrap_or_else(|| self.cfg.local.ip().to_string());
        let from_uri = match &out.from_name {
            _ if out.withhold => "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_string(),
            Some(n) => format!(
                "\"{}\" <sip:{}@{domain}>",
                n.replace('"', ""),
                out.from_user
            ),
            None => format!("<sip:{}@{domain}>", out.from_user),
        };
        let to_uri = format!("<{}>", out.request_uri);
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        let cseq = 1 + (self.random() as u32 & 0xffff);
        let peer = out.target;
        let policy = self.policy();
        let first = out.request_uri.to_ascii_lowercase();
        let local_sdp = Some(out.sdp.clone());
        let transport = Transport::of_uri(&out.request_uri);
        let dialog_auth = out.auth.clone();
        self.calls.insert(
            call,
            Call {
                role: Role::Uac,
                state: CallState::Setup,
                call_id,
                local_tag,
                remote_tag: None,
                local_uri: from_uri,
                remote_uri: to_uri,
                local_seq: cseq,
                remote_seq: 0,
                remote_target: out.request_uri.clone(),
                route: Vec::new(),
                peer,
                uas_invite: None,
                reinvite: None,
                uac: Some(UacInvite {
                    first_target: out.target,
                    out,
                    branch: String::new(),
                    cseq,
                    provisional: false,
                    cancel: None,
                    auth_tries: 0,
                    credentials: None,
                    session_expires: policy.proposal(),
                    min_se: policy.min(),
                    se_tries: 0,
                    tried: vec![first],
                    targets: VecDeque::new(),
                }),
                uas_timer: UasDecision::Off,
                rseq: None,
                peer_update: false,
                transport,
                local_sdp,
                timer: None,
                refreshing: false,
                unacked: None,
                offer_in_2xx: false,
                uas_100rel: false,
                next_rseq: 0,
                reliable: None,
                answer_after_prack: None,
                overtaken: None,
                dialog_auth,
            },
        );
        self.send_invite(call);
        call
    }

    fn send_invite(&mut self, call: CallRef) {
        let branch = self.branch();
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let transport = c
            .uac
            .as_ref()
            .map_or(c.transport, |u| Transport::of_uri(&u.out.request_uri));
        let via = self.via(&branch, transport);
        let contact_user = match &c.uac {
            Some(u) if !u.out.withhold => u.out.from_user.clone(),
            _ => String::new(),
        };
        let contact = self.contact_on(&contact_user, transport);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.transport = transport;
        let Some(u) = c.uac.as_mut() else {
            return;
        };
        u.branch = branch.clone();
        u.provisional = false;
        c.local_seq = u.cseq;
        let mut b = Builder::request("INVITE", &u.out.request_uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &format!("{};tag={}", c.local_uri, c.local_tag))
            .header("To", &c.remote_uri)
            .header("Call-ID", &c.call_id)
            .header("CSeq", &format!("{} INVITE", u.cseq))
            .header("Contact", &contact)
            .header("Allow", ALLOW)
            .header("Supported", "100rel, timer")
            .header("Session-Expires", &u.session_expires.to_string())
            .header("Min-SE", &u.min_se.to_string())
            .header("User-Agent", &self.cfg.user_agent);
        if u.out.withhold {
            // RFC 3325 §9.1 / RFC 3323 §4.1: the identity goes to the trusted trunk in
            // P-Asserted-Identity; From is anonymous (set in `invite`).
            let domain = u
                .out
                .from_domain
                .clone()
                .unwrap_or_else(|| self.cfg.local.ip().to_string());
            b = b
                .header(
                    "P-Asserted-Identity",
                    &format!("<sip:{}@{domain}>", u.out.from_user),
                )
                .header("Privacy", "id");
        }
        if let Some((name, value)) = &u.credentials {
            b = b.header(name, value);
        }
        let bytes = b.body("application/sdp", u.out.sdp.clone()).build();
        let dest = u.out.target;
        self.start_client(branch, ClientOwner::Invite(call), dest, bytes, true);
    }

    /// Sends the INVITE to the next alternate target, if one is left (RFC 3263 §4.3).
    fn fail_over(&mut self, call: CallRef) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some(u) = c.uac.as_mut() else {
            return false;
        };
        if u.out.alternates.is_empty() {
            return false;
        }
        let next = u.out.alternates.remove(0);
        u.out.target = next;
        u.first_target = next;
        u.cseq += 1;
        u.credentials = None;
        u.auth_tries = 0;
        c.peer = next;
        c.remote_tag = None;
        c.route.clear();
        c.rseq = None;
        self.send_invite(call);
        true
    }

    fn send_cancel(&mut self, call: CallRef) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(u) = &c.uac else {
            return;
        };
        // CANCEL copies the INVITE's Via (same branch), From, To, Call-ID, CSeq number.
        let bytes = Builder::request("CANCEL", &u.out.request_uri)
            .header("Via", &self.via(&u.branch, c.transport))
            .header("Max-Forwards", "70")
            .header("From", &format!("{};tag={}", c.local_uri, c.local_tag))
            .header("To", &c.remote_uri)
            .header("Call-ID", &c.call_id)
            .header("CSeq", &format!("{} CANCEL", u.cseq))
            .header("Reason", &cause::reason_header(u.cancel.unwrap_or(16)))
            .build();
        let (dest, branch) = (u.out.target, u.branch.clone());
        // The CANCEL's transaction has the INVITE's branch but its own method: key apart.
        self.start_client(
            format!("{branch}|CANCEL"),
            ClientOwner::Cancel(call),
            dest,
            bytes,
            false,
        );
    }

    fn invite_response(&mut self, call: CallRef, code: u16, m: &Message) {
        // Drawn before the call is borrowed; used only to answer a challenge.
        let cnonce = if code == 401 || code == 407 {
            self.token()
        } else {
            String::new()
        };
        let Some(c) = self.calls.get_mut(&call) else {
            if (200..300).contains(&code) {
                // Answered after we gave up on it: acknowledge and hang up. Without the call
                // we rebuild what we need from the response.
                let t = match m.top_via() {
                    Some(v) if v.transport == "TCP" => Transport::Tcp,
                    _ => Transport::Udp,
                };
                self.ack_and_bye_orphan(m, t);
            }
            return;
        };
        let sdp = if m.has_sdp() {
            Sdp::parse(m.body()).ok()
        } else {
            None
        };
        if code < 200 {
            if code == 100 {
                return;
            }
            // A reliable provisional (RFC 3262 §4): acknowledge each new RSeq with PRACK;
            // a repeated one is a retransmission, neither acknowledged nor reported again.
            let reliable = m.option_tags("Require").iter().any(|t| t == "100rel");
            let rseq = m.header("RSeq").and_then(hdr::seconds);
            if reliable {
                match rseq {
                    Some(r) if c.rseq.is_none_or(|last| r > last) => c.rseq = Some(r),
                    _ => return,
                }
            }
            if let Some(tag) = m.to().tag() {
                c.remote_tag = Some(tag.to_string());
            }
            if reliable {
                // The early dialog's target and route set, for the PRACK (§12.1.2).
                if let Some(t) = m.contact() {
                    c.remote_target = t.uri;
                }
                c.route = reversed_record_route(m);
            }
            let cancel_now = c.uac.as_mut().is_some_and(|u| {
                let first = !u.provisional;
                u.provisional = true;
                first && u.cancel.is_some()
            });
            if cancel_now {
                self.send_cancel(call);
                return;
            }
            if reliable && let (Some(r), Some(u)) = (rseq, c.uac.as_ref()) {
                let rack = format!("{r} {} INVITE", u.cseq);
                if let Some((branch, dest, bytes)) =
                    self.in_dialog_request(call, "PRACK", &[("RAck", rack)], None)
                {
                    self.start_client(branch, ClientOwner::Prack(call), dest, bytes, false);
                }
            }
            self.events.push_back(Event::Progress { call, code, sdp });
            return;
        }
        if code < 300 {
            c.remote_tag = m.to().tag().map(str::to_string);
            if let Some(t) = m.contact() {
                c.remote_target = t.uri;
            }
            // The UAC's route set is the Record-Route in reverse (§12.1.2).
            c.route = reversed_record_route(m);
            c.state = CallState::Confirmed;
            c.peer_update = allows_update(m);
            let cancelled = c.uac.as_ref().and_then(|u| u.cancel);
            self.ack_2xx(call, m);
            match cancelled {
                Some(q) => {
                    self.bye(call, q);
                    self.forget(call);
                }
                None => {
                    self.set_timer(call, timer::uac(m.header("Session-Expires")));
                    self.events.push_back(Event::Answered { call, sdp });
                }
            }
            return;
        }
        let Some(u) = c.uac.as_mut() else {
            return;
        };
        if u.cancel.is_none() {
            // Authenticate once per challenge.
            if (code == 401 || code == 407)
                && let Some(auth) = u.out.auth.as_mut()
                && u.auth_tries < 2
            {
                let (ch_name, cred_name) = if code == 401 {
                    ("WWW-Authenticate", "Authorization")
                } else {
                    ("Proxy-Authenticate", "Proxy-Authorization")
                };
                if let Some(ch) = m.header(ch_name).and_then(Challenge::parse) {
                    u.auth_tries += 1;
                    u.cseq += 1;
                    let value = auth.authorize(&ch, "INVITE", &u.out.request_uri, &cnonce);
                    u.credentials = Some((cred_name.to_string(), value));
                    self.send_invite(call);
                    return;
                }
            }
            // The session interval was too small: ask again with theirs (RFC 4028 §7.4).
            if code == 422
                && u.se_tries < 2
                && let Some(min) = m.header("Min-SE").and_then(hdr::seconds)
                && min > u.session_expires
            {
                u.se_tries += 1;
                u.session_expires = u.session_expires.max(min);
                u.min_se = u.min_se.max(min);
                u.cseq += 1;
                self.send_invite(call);
                return;
            }
            // A redirect: queue its Contacts; then try the next target, if any (§8.1.3.4).
            if (300..400).contains(&code) {
                let mut contacts: Vec<(u32, String)> = m
                    .prep
                    .headers_named("Contact")
                    .filter_map(NameAddr::parse)
                    .filter(|n| n.uri.to_ascii_lowercase().starts_with("sip:"))
                    .map(|n| (q_value(n.param("q")), n.uri))
                    .collect();
                // Highest q first; the order given among equals (a stable sort).
                contacts.sort_by_key(|(q, _)| Reverse(*q));
                for (_, uri) in contacts {
                    // A Contact already tried or queued is a loop: skip it.
                    let lower = uri.to_ascii_lowercase();
                    if !u.tried.contains(&lower)
                        && !u.targets.iter().any(|t| t.eq_ignore_ascii_case(&uri))
                    {
                        u.targets.push_back(uri);
                    }
                }
            }
            if u.tried.len() <= MAX_REDIRECTS
                && let Some(uri) = u.targets.pop_front()
            {
                u.tried.push(uri.to_ascii_lowercase());
                u.out.target = ip_dest(&uri).unwrap_or(u.first_target);
                u.out.request_uri = uri.clone();
                u.cseq += 1;
                u.credentials = None;
                u.auth_tries = 0;
                c.remote_target = uri;
                c.peer = u.out.target;
                c.remote_tag = None;
                c.route.clear();
                c.rseq = None;
                self.send_invite(call);
                return;
            }
        }
        if u.cancel.is_none() && matches!(code, 408 | 503) && self.fail_over(call) {
            return;
        }
        let Some(u) = self.calls.get(&call).and_then(|c| c.uac.as_ref()) else {
            return;
        };
        let cancelled = u.cancel;
        self.forget(call);
        if cancelled.is_none() {
            let cause = m
                .header("Reason")
                .and_then(hdr::reason_q850)
                .unwrap_or_else(|| cause::q850_of_status(code));
            let retry_after = m.header("Retry-After").and_then(hdr::seconds);
            self.events.push_back(Event::Failed {
                call,
                code,
                cause,
                retry_after,
            });
        }
    }

    fn ack_2xx(&mut self, call: CallRef, m: &Message) {
        let branch = self.branch();
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (n, _) = m.cseq();
        let mut b = Builder::request("ACK", &c.remote_target)
            .header("Via", &self.via(&branch, c.transport))
            .header("Max-Forwards", "70")
            .header("From", &format!("{};tag={}", c.local_uri, c.local_tag))
            .header("To", m.header("To").unwrap_or_default())
            .header("Call-ID", &c.call_id)
            .header("CSeq", &format!("{n} ACK"));
        for r in &c.route {
            b = b.header("Route", r);
        }
        let dest = self.dest_of(c);
        let bytes = b.build();
        self.send(dest, bytes);
    }

    fn ack_and_bye_orphan(&mut self, m: &Message, transport: Transport) {
        let Some(target) = m.contact().map(|c| c.uri) else {
            return;
        };
        let Some(dest) = ip_dest(&target) else {
            return;
        };
        let (n, _) = m.cseq();
        let head = |method: &str, seq: u32, branch: &str, this: &Self| {
            Builder::request(method, &target)
                .header("Via", &this.via(branch, transport))
                .header("Max-Forwards", "70")
                .header("From", m.header("From").unwrap_or_default())
                .header("To", m.header("To").unwrap_or_default())
                .header("Call-ID", m.call_id())
                .header("CSeq", &format!("{seq} {method}"))
                .build()
        };
        let b1 = self.branch();
        let ack = head("ACK", n, &b1, self);
        self.send(dest, ack);
        let b2 = self.branch();
        let bye = head("BYE", n + 1, &b2, self);
        self.start_client(b2, ClientOwner::Info, dest, bye, false);
    }

    fn dest_of(&self, c: &Call) -> SocketAddr {
        // Loose routing: the first route's address, else the remote target's, else the peer.
        c.route
            .first()
            .and_then(|r| NameAddr::parse(r))
            .and_then(|r| ip_dest(&r.uri))
            .or_else(|| ip_dest(&c.remote_target))
            .unwrap_or(c.peer)
    }

    fn in_dialog_request(
        &mut self,
        call: CallRef,
        method: &str,
        extra: &[(&str, String)],
        sdp: Option<String>,
    ) -> Option<(String, SocketAddr, Vec<u8>)> {
        let branch = self.branch();
        let via = self.via(&branch, self.calls.get(&call)?.transport);
        let c = self.calls.get_mut(&call)?;
        c.local_seq += 1;
        let (from, to) = (
            format!("{};tag={}", strip_tag(&c.local_uri), c.local_tag),
            match &c.remote_tag {
                Some(t) => format!("{};tag={t}", strip_tag(&c.remote_uri)),
                None => c.remote_uri.clone(),
            },
        );
        let mut b = Builder::request(method, &c.remote_target)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &from)
            .header("To", &to)
            .header("Call-ID", &c.call_id)
            .header("CSeq", &format!("{} {method}", c.local_seq));
        for r in &c.route {
            b = b.header("Route", r);
        }
        for (n, v) in extra {
            b = b.header(n, v);
        }
        if let Some(body) = sdp {
            b = b.body("application/sdp", body);
        }
        let c = self.calls.get(&call)?;
        let dest = self.dest_of(c);
        Some((branch, dest, b.build()))
    }

    /// A 401/407 to a request of ours inside a dialog (BYE, a refresh, PRACK): sends it
    /// again with credentials, a new branch and the next CSeq, at most twice per request.
    /// Returns whether it did (the challenge is then not the request's outcome).
    fn dialog_challenge(&mut self, branch: &str, code: u16, m: &Message) -> bool {
        let Some(tx) = self.client.get(branch) else {
            return false;
        };
        let Some((auth, round)) = tx.auth.clone() else {
            return false;
        };
        let (owner, dest, transport) = (tx.owner, tx.dest, tx.transport);
        let request = tx.request.clone();
        let call = match owner {
            ClientOwner::Bye(c) | ClientOwner::Refresh(c) | ClientOwner::Prack(c) => c,
            _ => return false,
        };
        let (ch_name, cred_name) = if code == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let Some(ch) = m.header(ch_name).and_then(Challenge::parse) else {
            return false;
        };
        if round >= 2 {
            return false;
        }
        // The CSeq goes on from the dialog's; a call already forgotten (our BYE) goes on
        // from the request's own.
        let Ok(sent) = msg::parse(&request, &self.cfg.limits) else {
            return false;
        };
        let (seq, method) = sent.cseq();
        let method = method.to_string();
        let uri = sent.uri().unwrap_or_default().to_string();
        let seq = match self.calls.get_mut(&call) {
            Some(c) => {
                c.local_seq = c.local_seq.max(seq) + 1;
                c.local_seq
            }
            None => seq + 1,
        };
        let mut auth = auth;
        let cnonce = self.token();
        let value = auth.authorize(&ch, &method, &uri, &cnonce);
        let new_branch = self.branch();
        let via = self.via(&new_branch, transport);
        let Some(bytes) = reauthorized(&request, &via, seq, &method, (cred_name, &value)) else {
            return false;
        };
        self.start_client(new_branch.clone(), owner, dest, bytes, method == "INVITE");
        if let Some(t) = self.client.get_mut(&new_branch) {
            t.auth = Some((auth, round + 1));
        }
        true
    }

    fn bye(&mut self, call: CallRef, q850: u8) {
        let reason = cause::reason_header(q850);
        if let Some((branch, dest, bytes)) =
            self.in_dialog_request(call, "BYE", &[("Reason", reason)], None)
        {
            self.start_client(branch, ClientOwner::Bye(call), dest, bytes, false);
        }
    }

    // ---- session timers (RFC 4028) ---------------------------------------------------

    /// Puts `t` in force from now (or none): the refresher refreshes at half the interval,
    /// the other side waits for a refresh until the session expires.
    fn set_timer(&mut self, call: CallRef, t: Option<SessionTimer>) {
        let now = self.now;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.refreshing = false;
        c.timer = None;
        let Some(t) = t.filter(|_| c.state != CallState::Setup) else {
            return;
        };
        let due = now
            + if t.we_refresh {
                t.refresh_after_ms()
            } else {
                t.expire_after_ms()
            };
        c.timer = Some((t, due));
        self.schedule(due, Timer::Session(call.0));
    }

    fn session_due(&mut self, call: CallRef, at: u64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((t, due)) = c.timer else {
            return;
        };
        if due != at {
            return;
        }
        if t.we_refresh && !c.refreshing {
            // Refresh, and give up if nothing comes of it before the session would expire.
            c.refreshing = true;
            let give_up = at + t.expire_after_ms().saturating_sub(t.refresh_after_ms());
            c.timer = Some((t, give_up));
            self.schedule(give_up, Timer::Session(call.0));
            self.send_refresh(call, t.interval);
            return;
        }
        self.expired(call);
    }

    /// The session was not refreshed in time: BYE, and the call is over (cause 102).
    fn expired(&mut self, call: CallRef) {
        self.bye(call, 102);
        self.forget(call);
        self.events.push_back(Event::Ended {
            call,
            cause: 102,
            remote: true,
        });
    }

    /// A session refresh: UPDATE without a body when the peer takes UPDATE, else a
    /// re-INVITE with the SDP we last sent, unchanged (RFC 4028 §10).
    fn send_refresh(&mut self, call: CallRef, interval: u32) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let update = c.peer_update || c.local_sdp.is_none();
        let sdp = if update { None } else { c.local_sdp.clone() };
        let extra = [
            ("Contact", self.contact_on("", c.transport)),
            ("Allow", ALLOW.to_string()),
            ("Supported", "timer".to_string()),
            ("Session-Expires", format!("{interval};refresher=uac")),
            ("Min-SE", self.policy().min().to_string()),
        ];
        let method = if update { "UPDATE" } else { "INVITE" };
        if let Some((branch, dest, bytes)) = self.in_dialog_request(call, method, &extra, sdp) {
            self.start_client(branch, ClientOwner::Refresh(call), dest, bytes, !update);
        }
    }

    fn refresh_response(&mut self, call: CallRef, code: u16, m: &Message) {
        if code < 200 {
            return;
        }
        let now = self.now;
        let delay = 2_000 + self.random() % 2_000;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some((t, _)) = c.timer else {
            return;
        };
        let invite = m.method() == "INVITE";
        if (200..300).contains(&code) {
            if invite {
                self.ack_2xx(call, m);
            }
            self.set_timer(call, timer::uac(m.header("Session-Expires")));
            return;
        }
        match code {
            // Too small after all: take their minimum and refresh again at once.
            422 => match m.header("Min-SE").and_then(hdr::seconds) {
                Some(min) if min > t.interval => {
                    let t = SessionTimer { interval: min, ..t };
                    c.timer = c.timer.map(|(_, due)| (t, due));
                    self.send_refresh(call, min);
                }
                _ => {}
            },
            // They don't take UPDATE after all: refresh by re-INVITE.
            405 | 501 if !invite && c.local_sdp.is_some() => {
                c.peer_update = false;
                self.send_refresh(call, t.interval);
            }
            // Glare: try again in 2 to 4 s (RFC 3261 §14.1).
            491 => {
                c.refreshing = false;
                c.timer = Some((t, now + delay));
                self.schedule(now + delay, Timer::Session(call.0));
            }
            // The dialog is gone, or nobody answered (RFC 4028 §10).
            408 | 481 => self.expired(call),
            // Anything else: the session stays up until it would expire.
            _ => {}
        }
    }

    /// Reports that messages to `to` over `transport` cannot be delivered (a refused or
    /// broken TCP connection, an ICMP unreachable for a UDP datagram; RFC 3261 §18.4): the
    /// transactions waiting on `to` end at once, so an INVITE fails over to its next address
    /// without waiting for timer B, and one with no address left fails with 503 (cause 38,
    /// network out of order).
    pub fn handle_transport_error(&mut self, now: u64, to: SocketAddr, transport: Transport) {
        self.now = now;
        let mut keys: Vec<String> = self
            .client
            .iter()
            .filter(|(_, t)| !t.done && t.dest == to && t.transport == transport)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        for k in keys {
            self.client_failed(&k, 503, 38);
        }
    }

    /// Gives a call the credentials to answer a challenge to our requests inside its dialog
    /// (a PBX that challenges the BYE of a call it sent us). A call out has its trunk's
    /// already ([`Outbound::auth`]).
    pub fn set_dialog_auth(&mut self, call: CallRef, auth: ClientAuth) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialog_auth = Some(auth);
        }
    }

    /// Sends an OPTIONS ping to `target` (keep-alive, qualify); answered by
    /// [`Event::Pong`] or [`Event::PingTimeout`].
    pub fn ping(&mut self, now: u64, id: u64, target: SocketAddr, uri: &str) {
        self.now = now;
        let branch = self.branch();
        let tag = self.token();
        let call_id = format!("{}@{}", self.token(), self.cfg.local.ip());
        let bytes = Builder::request("OPTIONS", uri)
            .header("Via", &self.via(&branch, Transport::of_uri(uri)))
            .header("Max-Forwards", "70")
            .header(
                "From",
                &format!("<sip:tipring@{}>;tag={tag}", self.cfg.local),
            )
            .header("To", &format!("<{uri}>"))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 OPTIONS")
            .header("Accept", "application/sdp")
            .header("User-Agent", &self.cfg.user_agent)
            .build();
        self.start_client(branch, ClientOwner::Ping(id), target, bytes, false);
    }

    // ---- registration ------------------------------------------------------------------

    /// Starts (or replaces) registration `reg`; refreshed at half the granted time and
    /// retried with back-off after failures.
    pub fn register(&mut self, now: u64, reg: RegRef, cfg: Registration) {
        self.now = now;
        let call_id = format!("{}@{}", self.token(), self.cfg.local.ip());
        let tag = self.token();
        let cseq = 1;
        self.regs.insert(
            reg,
            Reg {
                expires: cfg.expires,
                cfg,
                call_id,
                tag,
                cseq,
                auth_tries: 0,
                failures: 0,
                next: None,
                challenge: None,
                stopping: false,
            },
        );
        self.send_register(reg);
    }

    /// Removes registration `reg` (REGISTER with `Expires: 0`).
    pub fn unregister(&mut self, now: u64, reg: RegRef) {
        self.now = now;
        if let Some(r) = self.regs.get_mut(&reg) {
            r.stopping = true;
            r.next = None;
            self.send_register(reg);
        }
    }

    fn send_register(&mut self, reg: RegRef) {
        let branch = self.branch();
        let cnonce = self.token();
        let Some(r) = self.regs.get(&reg) else {
            return;
        };
        let transport = Transport::of_uri(&r.cfg.registrar_uri);
        let via = self.via(&branch, transport);
        let contact = self.contact_on(&hdr::uri_user(&r.cfg.aor).unwrap_or_default(), transport);
        let ua = self.cfg.user_agent.clone();
        let Some(r) = self.regs.get_mut(&reg) else {
            return;
        };
        r.cseq += 1;
        let expires = if r.stopping { 0 } else { r.expires };
        let mut b = Builder::request("REGISTER", &r.cfg.registrar_uri)
            .header("Via", &via)
            .header("Max-Forwards", "70")
            .header("From", &format!("<{}>;tag={}", r.cfg.aor, r.tag))
            .header("To", &format!("<{}>", r.cfg.aor))
            .header("Call-ID", &r.call_id)
            .header("CSeq", &format!("{} REGISTER", r.cseq))
            .header("Contact", &contact)
            .header("Expires", &expires.to_string())
            .header("User-Agent", &ua);
        // Credentials for the last challenge with the next nonce count (RFC 7616 §3.4.5);
        // without qop there is no count, so a nonce is used once and the refresh goes
        // without, to be challenged afresh.
        if let Some((name, ch, uses)) = &mut r.challenge
            && let Some(auth) = r.cfg.auth.as_mut()
        {
            if ch.qop_auth || *uses == 0 {
                *uses += 1;
                let v = auth.authorize(ch, "REGISTER", &r.cfg.registrar_uri, &cnonce);
                b = b.header(name, &v);
            } else {
                r.challenge = None;
            }
        }
        let dest = r.cfg.registrar;
        let bytes = b.build();
        self.start_client(branch, ClientOwner::Register(reg), dest, bytes, false);
    }

    fn reg_response(&mut self, reg: RegRef, code: u16, m: &Message) {
        if code < 200 {
            return;
        }
        let now = self.now;
        let Some(r) = self.regs.get_mut(&reg) else {
            return;
        };
        if (200..300).contains(&code) {
            if r.stopping {
                self.regs.remove(&reg);
                return;
            }
            // The registrar's grant: our Contact's expires, else Expires, else what we asked.
            let granted = m
                .prep
                .headers_named("Contact")
                .filter_map(NameAddr::parse)
                .find_map(|c| c.param("expires").and_then(|e| e.parse().ok()))
                .or_else(|| m.header("Expires").and_then(hdr::seconds))
                .unwrap_or(r.expires);
            r.auth_tries = 0;
            r.failures = 0;
            // Refresh at half the grant (the issue's ≤ 50 %), at least a second out.
            let at = now + (u64::from(granted) * 500).max(1_000);
            r.next = Some(at);
            self.schedule(at, Timer::Reg(reg.0));
            self.events.push_back(Event::Registered {
                reg,
                expires: granted,
            });
            return;
        }
        if (code == 401 || code == 407) && r.auth_tries < 2 {
            let ch_name = if code == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            let cred_name = if code == 401 {
                "Authorization"
            } else {
                "Proxy-Authorization"
            };
            if let (Some(ch), Some(_)) = (
                m.header(ch_name).and_then(Challenge::parse),
                r.cfg.auth.as_ref(),
            ) {
                // A stale nonce is not a wrong password: don't count it.
                if !ch.stale {
                    r.auth_tries += 1;
                }
                r.challenge = Some((cred_name, ch, 0));
                self.send_register(reg);
                return;
            }
        }
        if code == 423
            && let Some(min) = m.header("Min-Expires").and_then(hdr::seconds)
            && min > r.expires
        {
            r.expires = min;
            self.send_register(reg);
            return;
        }
        let reason = m
            .start_reason()
            .map(|s| format!("{code} {s}"))
            .unwrap_or_else(|| code.to_string());
        self.reg_failed(reg, code, reason);
    }

    fn reg_failed(&mut self, reg: RegRef, code: u16, reason: String) {
        let now = self.now;
        let Some(r) = self.regs.get_mut(&reg) else {
            return;
        };
        if r.stopping {
            self.regs.remove(&reg);
            return;
        }
        r.failures += 1;
        r.auth_tries = 0;
        let backoff = r.cfg.retry_ms << (r.failures - 1).min(5);
        r.next = Some(now + backoff);
        self.schedule(now + backoff, Timer::Reg(reg.0));
        self.events.push_back(Event::RegistrationFailed {
            reg,
            code,
            reason,
            retry_in_ms: backoff,
        });
    }

    fn reg_due(&mut self, reg: RegRef, at: u64) {
        if self.regs.get(&reg).is_some_and(|r| r.next == Some(at)) {
            if let Some(r) = self.regs.get_mut(&reg) {
                r.next = None;
            }
            self.send_register(reg);
        }
    }
}

impl Message {
    /// A response's reason phrase.
    pub fn start_reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Request-URI, top
/// Via, From, Call-ID, CSeq number and Route, with the response's To.
/// `request` (one we built: `Name: value` lines) sent again: its `Via` replaced by `via`,
/// its `CSeq` by `seq method`, earlier credentials of `cred.0` dropped and `cred` added.
fn reauthorized(
    request: &[u8],
    via: &str,
    seq: u32,
    method: &str,
    cred: (&str, &str),
) -> Option<Vec<u8>> {
    let split = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&request[..split]).ok()?;
    let body = &request[split + 4..];
    let mut lines = head.split("\r\n");
    let mut out = String::with_capacity(request.len() + cred.1.len() + 64);
    out.push_str(lines.next()?);
    out.push_str("\r\n");
    let mut via_done = false;
    for line in lines {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("Via") && !via_done {
            via_done = true;
            out.push_str("Via: ");
            out.push_str(via);
        } else if name.eq_ignore_ascii_case("CSeq") {
            out.push_str(&format!("CSeq: {seq} {method}"));
        } else if name.eq_ignore_ascii_case(cred.0) {
            continue;
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out.push_str(cred.0);
    out.push_str(": ");
    out.push_str(cred.1);
    out.push_str("\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Some(bytes)
}

fn ack_for(invite: &Prepared, resp: &Message) -> Vec<u8> {
    let uri = invite.start.split(' ').nth(1).unwrap_or_default();
    let mut b = Builder::request("ACK", uri)
        .header("Via", invite.header("Via").unwrap_or_default())
        .header("Max-Forwards", "70")
        .header("From", invite.header("From").unwrap_or_default())
        .header("To", resp.header("To").unwrap_or_default())
        .header("Call-ID", invite.header("Call-ID").unwrap_or_default())
        .header("CSeq", &format!("{} ACK", resp.cseq().0));
    for r in invite.headers_named("Route") {
        b = b.header("Route", r);
    }
    b.build()
}

fn strip_tag(name_addr: &str) -> String {
    match NameAddr::parse(name_addr) {
        Some(mut n) => {
            n.params.retain(|(k, _)| k != "tag");
            let mut s = match &n.display {
                Some(d) => format!("\"{}\" <{}>", d.replace('"', ""), n.uri),
                None => format!("<{}>", n.uri),
            };
            for (k, v) in &n.params {
                match v {
                    Some(v) => s.push_str(&format!(";{k}={v}")),
                    None => s.push_str(&format!(";{k}")),
                }
            }
            s
        }
        None => name_addr.to_string(),
    }
}

/// The address of a URI whose host is an IP literal (port 5060 when none).
fn ip_dest(uri: &str) -> Option<SocketAddr> {
    let (host, port) = hdr::uri_host_port(uri)?;
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or(5060)))
}

/// A digit from an INFO body: `application/dtmf-relay` (`Signal=5`) or `application/dtmf`.
fn info_digit(m: &Message) -> Option<char> {
    let ct = m.header("Content-Type")?.to_ascii_lowercase();
    let body = core::str::from_utf8(m.body()).ok()?;
    let raw = if ct.starts_with("application/dtmf-relay") {
        body.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
        })?
    } else if ct.starts_with("application/dtmf") {
        body.trim()
    } else {
        return None;
    };
    let c = match raw {
        "10" => '*',
        "11" => '#',
        s if s.len() == 1 => s.chars().next()?.to_ascii_uppercase(),
        _ => return None,
    };
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

/// The route set of a UAC: the response's `Record-Route`, reversed (RFC 3261 §12.1.2).
fn reversed_record_route(m: &Message) -> Vec<String> {
    let mut r: Vec<String> = m
        .prep
        .headers_named("Record-Route")
        .map(str::to_string)
        .collect();
    r.reverse();
    r
}

/// True when the message's `Allow` lists UPDATE.
fn allows_update(m: &Message) -> bool {
    m.option_tags("Allow").iter().any(|t| t == "update")
}

/// A Contact's `q` in thousandths (1000 when absent or unreadable).
fn q_value(q: Option<&str>) -> u32 {
    q.and_then(|q| q.parse::<f32>().ok())
        .filter(|q| (0.0..=1.0).contains(q))
        .map_or(1000, |q| (q * 1000.0).round() as u32)
}

/// A Contact for `user` at `local` (with `;transport=tcp` on TCP).
fn contact_at(local: SocketAddr, user: &str, t: Transport) -> String {
    let param = if t.reliable() { ";transport=tcp" } else { "" };
    if user.is_empty() {
        format!("<sip:{local}{param}>")
    } else {
        format!("<sip:{user}@{local}{param}>")
    }
}

/// `RAck: <rseq> <cseq> <method>` (RFC 3262 §7.2).
fn parse_rack(v: &str) -> Option<(u32, u32, String)> {
    let mut it = v.split_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let cseq = it.next()?.parse().ok()?;
    let method = it.next()?.to_string();
    Some((rseq, cseq, method))
}

/// When a call's reliable provisional gives up (0: none).
fn r_give_up(calls: &HashMap<CallRef, Call>, call: CallRef) -> u64 {
    calls
        .get(&call)
        .and_then(|c| c.reliable.as_ref())
        .map_or(0, |r| r.give_up)
}
