//! Call control: the switch that turns line signals and media events into calls, runs one
//! handler instance per call, and carries out what the handlers ask.
//!
//! The switch is sans-IO: [`Switch::step`] is given the time (ms of a monotonic clock) and
//! does everything due by then: it drains the media threads' events, fires timers and
//! collection limits, delivers events to handlers one at a time per call, and turns their
//! requests into media commands. The daemon calls it every few milliseconds on its control
//! thread; tests call it on the sim board's virtual clock.
//!
//! **Inbound.** An FXO port that starts ringing is watched for caller ID; the call is
//! offered when caller ID arrives or the second ring begins. A phone going off hook on an
//! FXS port is offered at once. The first matching [`Route`] picks the handler.
//!
//! **Outbound** ([`Switch::originate`], or a handler's `originate`). On an FXS port the
//! phone is rung until it answers (no answer after `no_answer_ms`). On an FXO port the line
//! is seized, dial tone awaited (at most `dial_tone_ms`), the number dialled in band, then
//! supervised by call-progress detection: busy → `busy` (17), congestion → 42, SIT → 1, a
//! polarity reversal or remote answer → answered, nothing after `no_answer_ms` → 19.
//!
//! **Ending.** Every pending operation completes with `HANGUP`, a bridge is taken down
//! (its other leg's bridge operation completes too), legs a handler placed end with it, the
//! handler gets `HANGUP` and its instance is destroyed, and the record is written (then
//! kept for the API). A handler in an isolated host answers `HANGUP` by message: the call is
//! shown as `ending` until that answer is in (or the host's hard budget has passed, or the
//! host died), so the variables the handler sets while handling `HANGUP` reach the record
//! as they do in process, and the record is still written before the call is shown ended.

mod collect;
mod route;
mod view;

pub use collect::{Collected, Collector};
pub use route::{Match, Route, pattern_error};
pub use view::{CallView, ChannelView, EventView, RtpView, StreamEvent};

use crate::handler::host::{CallCtx, Request, WakeBoard};
use crate::handler::instance::HostEvent;
use crate::handler::process::HostNote;
use crate::handler::remote::CREATE;
use crate::handler::wire::FromHost;
use crate::handler::{
    Attached, Delivery, Fallback, Handler, HostStatus, Hosts, Instance, Outcome, Registry, Remote,
};
use crate::media::{MediaCommand, MediaEvent, MediaLink, OpEnd, OpId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, mpsc};
use tipring_dsp::cid::CallerId;
use tipring_dsp::progress::plan::TonePlan;
use tipring_dsp::progress::{ProgressTone, SitCause};
use tipring_hal::{
    Alarm, CallId, Cause, ChannelId, ChannelInfo, ChannelKind, Command, Digits, Signal,
};
use tipring_handler::sys;

/// Timing of call control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Ringing (FXS) or ringback (FXO) before an outbound call counts as unanswered, ms.
    pub no_answer_ms: u64,
    /// Longest wait for dial tone after seizing an FXO line, ms (then dial anyway).
    pub dial_tone_ms: u64,
    /// An inbound FXO call whose ringing stopped this long ago was abandoned, ms.
    pub ring_gone_ms: u64,
    /// A phone that went off hook must dial its first digit within this, ms.
    pub first_digit_ms: u64,
    /// Longest pause between digits before the number counts as complete, ms.
    pub inter_digit_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            no_answer_ms: 30_000,
            dial_tone_ms: 3_000,
            ring_gone_ms: 8_000,
            first_digit_ms: 10_000,
            inter_digit_ms: 4_000,
        }
    }
}

/// Why the switch refused a request from the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// No such channel.
    #[error("channel {0}: no such channel")]
    NoChannel(u32),
    /// The channel is in use.
    #[error("channel {0}: in use by call {1}")]
    ChannelBusy(u32, u64),
    /// The channel is ringing with an inbound call.
    #[error("channel {0}: an inbound call is ringing on it")]
    Ringing(u32),
    /// No handler of that name is loaded.
    #[error("handler {0:?} is not loaded (see GET /v1/handlers)")]
    NoHandler(String),
    /// A bad number.
    #[error("bad number {0:?}: {1}")]
    BadNumber(String, String),
    /// An FXO line needs a number to dial.
    #[error("channel {0}: an FXO line needs a number to dial (\"to\")")]
    NeedNumber(u32),
    /// The channel's kind can't place calls.
    #[error("channel {0}: {1} channels cannot place calls")]
    CannotOriginate(u32, &'static str),
    /// No such call.
    #[error("call {0}: no such call")]
    NoCall(u64),
    /// The media thread is not keeping up.
    #[error("{0}")]
    Media(String),
    /// The daemon is shutting down.
    #[error("the daemon is shutting down: no new calls")]
    Draining,
    /// The channel's span is in alarm.
    #[error("channel {0}: out of service ({1} alarm on its span)")]
    OutOfService(u32, &'static str),
    /// A capture cannot start or stop.
    #[error("{0}")]
    Capture(String),
}

/// The running media operation of a call.
#[derive(Debug)]
enum MediaOp {
    /// Playback (maybe with a collection that outlives it).
    Play {
        op: u64,
        src: String,
        playing: bool,
        collect: Option<Collector>,
    },
    /// A collection without playback.
    Collect { op: u64, collect: Collector },
    /// A recording into a WAV file.
    Record {
        op: u64,
        path: String,
        ring: rtrb::Consumer<i16>,
        writer: Option<WavOut>,
        samples: u64,
        term: String,
    },
    /// DTMF sending.
    Dtmf { op: u64 },
}

impl MediaOp {
    fn op(&self) -> u64 {
        match self {
            MediaOp::Play { op, .. }
            | MediaOp::Collect { op, .. }
            | MediaOp::Record { op, .. }
            | MediaOp::Dtmf { op } => *op,
        }
    }
}

/// A recording's WAV file being written.
struct WavOut(hound::WavWriter<std::io::BufWriter<std::fs::File>>);

impl std::fmt::Debug for WavOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WavOut")
    }
}

/// Sends a media command; a full ring is logged (the media thread is not keeping up).
fn send_to(link: &mut MediaLink, ch: ChannelId, c: MediaCommand) {
    if let Err(e) = link.send(ch, c) {
        tracing::error!(channel = ch.0, "media command lost: {e}");
    }
}

/// An outbound call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Orig {
    /// FXS: ringing the phone.
    Ringing { until: u64 },
    /// FXO: seized, waiting for dial tone.
    DialTone { until: u64 },
    /// FXO: dialling.
    Dialling,
    /// FXO: dialled, watching for the outcome.
    Supervising { until: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    Originating,
    Up,
}

/// A call.
#[derive(Debug)]
struct Call {
    id: CallId,
    channel: ChannelId,
    inbound: bool,
    state: State,
    orig: Option<Orig>,
    number: Option<Digits>,
    /// Outbound: the calling number to present, and whether to withhold it.
    presentation: Presentation,
    instance: Option<Attached>,
    handler: Option<Arc<Handler>>,
    /// The handler failed and the call plays its apology (this op) before it ends.
    apology: Option<u64>,
    /// The call was handed to a fallback handler once already: a second failure ends it
    /// with the apology (no chain, no loop between handlers that fall back to each other).
    fell_back: bool,
    /// The call's tracing span: every line logged while the switch works on the call
    /// carries it (`call{id=… channel=… handler=…}`).
    span: tracing::Span,
    /// A handler's originate: (parent call, its op).
    parent: Option<(CallId, u64)>,
    /// Bridged to (call, our bridge op if we asked for it).
    bridge: Option<(CallId, Option<u64>)>,
    media: Option<MediaOp>,
    /// Media ops that were replaced or stopped but whose `Done` is still to come.
    typeahead: String,
    pending: VecDeque<HostEvent>,
    timers: Vec<(u64, u64)>,
    /// A transfer's op, completed when its dialling is done.
    transfer: Option<u64>,
    /// Answer op to complete (with ANSWERED) when the call is up.
    answer_ops: Vec<u64>,
    view: CallView,
    ending: bool,
}

/// Per channel.
#[derive(Debug)]
struct Line {
    info: ChannelInfo,
    groups: Vec<String>,
    call: Option<CallId>,
    /// FXO: ringing inbound, with the ring count and the last ring's time.
    ringing: Option<(u32, u64)>,
    /// Unix ms of the first ring of the ringing now (for the call's record).
    first_ring: Option<u64>,
    caller: Option<CallerId>,
    /// Why the call was forwarded (SIP `Diversion` reason), with `caller.redirecting`.
    redirect_reason: Option<String>,
    /// The span is in alarm: out of service until it clears.
    alarm: Option<Alarm>,
    /// FXS: the phone is off hook and dialling a number (dial plan on).
    dialling: Option<Dialling>,
    /// FXO: the line's polarity reversed while idle at this time: an ETSI caller ID comes
    /// before the first ring.
    pre_ring: Option<u64>,
}

/// A phone dialling a number: what it dialled, when the last digit came, and whether it
/// now hears dial tone (op) or the number failed (congestion until it hangs up).
#[derive(Debug)]
struct Dialling {
    digits: String,
    last: u64,
    tone: Option<OpId>,
    failed: bool,
}

/// A channel's capture in progress.
#[derive(Debug)]
struct CaptureFile {
    path: std::path::PathBuf,
    rx: rtrb::Consumer<i16>,
    tx: rtrb::Consumer<i16>,
    writer: WavOut,
    /// Stereo frames written.
    frames: u64,
    /// A SIP channel's packets.
    pcap: Option<PcapOut>,
}

/// A SIP channel's packet capture: the tap's ring and the pcap file (IP and UDP headers
/// made up around each RTP packet from the addresses the tap recorded).
struct PcapOut {
    path: std::path::PathBuf,
    ring: rtrb::Consumer<u8>,
    writer: pcap_file::pcap::PcapWriter<std::io::BufWriter<std::fs::File>>,
    /// Unix ms of the capture's start, and the media clock of its first packet.
    start_ms: u64,
    first_at: Option<u64>,
    packets: u64,
}

impl std::fmt::Debug for PcapOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PcapOut({}, {} packets)",
            self.path.display(),
            self.packets
        )
    }
}

impl PcapOut {
    /// Writes every whole record in the ring.
    fn drain(&mut self) {
        while let Some(t) = tipring_hal::sip::tap_record(&mut self.ring) {
            let first = *self.first_at.get_or_insert(t.at_ms);
            let ms = self.start_ms + t.at_ms.saturating_sub(first);
            let (src, dst) = if t.sent {
                (t.local, t.remote)
            } else {
                (t.remote, t.local)
            };
            let builder = match (src, dst) {
                (std::net::SocketAddr::V4(a), std::net::SocketAddr::V4(b)) => {
                    etherparse::PacketBuilder::ipv4(a.ip().octets(), b.ip().octets(), 64)
                        .udp(a.port(), b.port())
                }
                (std::net::SocketAddr::V6(a), std::net::SocketAddr::V6(b)) => {
                    etherparse::PacketBuilder::ipv6(a.ip().octets(), b.ip().octets(), 64)
                        .udp(a.port(), b.port())
                }
                _ => continue,
            };
            let mut data = Vec::with_capacity(builder.size(t.packet.len()));
            if builder.write(&mut data, &t.packet).is_err() {
                continue;
            }
            let pkt = pcap_file::pcap::PcapPacket::new(
                std::time::Duration::from_millis(ms),
                data.len() as u32,
                &data,
            );
            if self.writer.write_packet(&pkt).is_ok() {
                self.packets += 1;
            }
        }
    }
}

/// What the switch counts for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct SwitchStats {
    /// Calls ended, by (direction, outcome).
    pub ended: BTreeMap<(&'static str, &'static str), u64>,
    /// Handler events and their latency, by handler.
    pub events: BTreeMap<String, crate::metrics::Latency>,
    /// DSP detections reported, by kind.
    pub detections: BTreeMap<&'static str, u64>,
    /// Line (signalling) errors, by backend.
    pub line_errors: BTreeMap<&'static str, u64>,
}

/// The switch. See the [module docs](self).
#[derive(Debug)]
pub struct Switch {
    link: MediaLink,
    handlers: Registry,
    /// Isolated handlers' host processes.
    hosts: Hosts,
    /// Calls at once, in all (`None`: no limit but the channels).
    max_calls: Option<u32>,
    /// Calls refused at a limit (in all or a handler's).
    pub limit_refusals: u64,
    /// Counters for `/metrics`.
    stats: SwitchStats,
    /// Channels being captured to WAV.
    captures: HashMap<ChannelId, CaptureFile>,
    /// Packet-capture rings whose media end may still be held: dropped once abandoned.
    closing_taps: Vec<rtrb::Consumer<u8>>,
    /// The cause to refuse the incoming call being offered with (set by `offer`).
    refusal: Option<Cause>,
    routes: Vec<Route>,
    /// Some route names a number: phones that go off hook hear dial tone and dial one.
    dial_plan: bool,
    /// Where finished calls' records go (this run's start, Unix ms, and the store).
    store: Option<(u64, Box<dyn crate::records::CallStore>)>,
    /// Records the store failed to take (kept in memory only).
    pub record_failures: u64,
    plan: &'static TonePlan,
    timing: Timing,
    lines: BTreeMap<ChannelId, Line>,
    calls: BTreeMap<CallId, Call>,
    ended: VecDeque<CallView>,
    /// Ended calls waiting for their isolated handler's last answers.
    closing: BTreeMap<CallId, Closing>,
    prompts: HashMap<String, Arc<[i16]>>,
    stream: VecDeque<StreamEvent>,
    next_call: u64,
    now: u64,
    /// Unix time, ms, at `now == 0`.
    epoch_ms: u64,
    /// Shutting down: no new calls.
    draining: bool,
    /// Channels whose signalling runs on the control plane (SIP): their line commands go
    /// here instead of to the media thread.
    line_control: HashMap<ChannelId, Arc<dyn LineControl>>,
    /// SIP channels' RTP figures.
    rtp: Option<tipring_hal::sip::RtpStatsBoard>,
    /// Calls a handler woke (any thread), for the next step.
    wake_board: WakeBoard,
    /// Line events from control-plane signalling, taken at the next step.
    line_rx: mpsc::Receiver<(ChannelId, LineEvent)>,
    line_tx: mpsc::Sender<(ChannelId, LineEvent)>,
}

/// Queues line events for the switch from a control-plane signalling backend (SIP) without
/// waiting for the switch's lock: the switch takes them at its next step, in order. A
/// backend that waited for the lock would stall, and with it every message it serves (an
/// OPTIONS included), whenever the thread holding the lock was descheduled.
#[derive(Debug, Clone)]
pub struct LineSender(mpsc::Sender<(ChannelId, LineEvent)>);

impl LineSender {
    /// Queues `event` on `channel`. A refused [`LineEvent::Incoming`] comes back as
    /// `Command::Hangup` (cause 20, subscriber absent) through the channel's
    /// [`LineControl`]. After the switch is gone events go nowhere.
    pub fn send(&self, channel: ChannelId, event: LineEvent) {
        let _ = self.0.send((channel, event));
    }
}

/// What a call out presents as the calling number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Presentation {
    /// The calling number (none: the channel's or trunk's own).
    caller: Option<Digits>,
    /// Ask the network to withhold it from the called party.
    withhold: bool,
}

/// Signalling of channels that isn't carried by their media thread (SIP runs on the control
/// plane): takes the switch's line commands. Implementations only queue; they must not
/// block or call back into the switch.
pub trait LineControl: Send + Sync + std::fmt::Debug {
    /// Carries out (or queues) `command` on `channel`.
    fn command(&self, channel: ChannelId, command: &Command);

    /// Starts (a ring) or stops (`None`) copying `channel`'s packets for a capture; false
    /// if the backend has no packets to copy.
    fn tap(&self, channel: ChannelId, ring: Option<rtrb::Producer<u8>>) -> bool {
        let _ = (channel, ring);
        false
    }
}

/// What a control-plane signalling backend reports to the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A new inbound call with the caller's identity and the dialled number.
    Incoming {
        /// Caller's number.
        caller: Option<String>,
        /// Caller's name.
        caller_name: Option<String>,
        /// The number dialled.
        called: Option<String>,
        /// The caller asked for the identity to be withheld.
        withheld: bool,
        /// The number that forwarded the call to us (SIP `Diversion`), and why
        /// (`user-busy`, `no-answer`, `unconditional`…).
        redirecting: Option<(String, Option<String>)>,
    },
    /// A line signal ([`Signal::RemoteAnswer`], [`Signal::RemoteHangup`], [`Signal::Digit`]…).
    Signal(Signal),
}

/// The handler's result and the record's outcome for an outbound call the far end refused
/// with `cause`.
/// The op id of the tones the switch plays to a phone that is dialling (dial tone,
/// congestion): the top of the id space, one per channel, never a handler's.
fn dial_tone_op(ch: ChannelId) -> OpId {
    OpId(u64::MAX - u64::from(ch.0))
}

/// An alarm as operators name it.
fn alarm_name(a: Alarm) -> &'static str {
    match a {
        Alarm::Red => "red",
        Alarm::Yellow => "yellow",
        Alarm::Blue => "blue",
        Alarm::Loopback => "loopback",
    }
}

fn outcome_of(cause: Cause) -> (u32, &'static str) {
    match cause.0 {
        17 => (sys::TIPRING_R_BUSY, "busy"),
        18 | 19 | 102 => (sys::TIPRING_R_NOANSWER, "no-answer"),
        1..=3 | 21 | 22 | 26..=28 | 34 | 38 | 41 | 42 | 47 | 58 | 88 => {
            (sys::TIPRING_R_REJECTED, "rejected")
        }
        _ => (sys::TIPRING_R_FAILED, "failed"),
    }
}

/// Calls kept after they ended, for the API.
const ENDED_KEPT: usize = 1000;

/// A call that has ended while its isolated handler still owes answers (to `HANGUP` at
/// least): its record waits for the variables they carry.
#[derive(Debug)]
struct Closing {
    view: CallView,
    /// Kept so that its host still counts the call (a retired host waits for it).
    instance: Attached,
    /// The answers still to come, oldest first, by what they answer (`TIPRING_EV_*`, or
    /// `CREATE` when the call ended before the instance existed: a refusal there means no
    /// more answers come, as the host ignores events for a call it has no instance of).
    owed: VecDeque<u32>,
    /// When the oldest owed answer was asked for (the event in flight when the call ended,
    /// or the last answer): past the host's hard budget without an answer the record is
    /// written without them, and the host killed.
    since: std::time::Instant,
    /// The stream's `ended: …` line, sent once the record is written.
    ended_note: String,
}
/// Events kept per call view.
const VIEW_EVENTS: usize = 200;
/// Stream events kept for the API's WebSocket readers.
const STREAM_KEPT: usize = 10_000;

fn result_name(r: u32) -> &'static str {
    match r {
        sys::TIPRING_R_DONE => "done",
        sys::TIPRING_R_STOPPED => "stopped",
        sys::TIPRING_R_TIMEOUT => "timeout",
        sys::TIPRING_R_MAXDIGITS => "max-digits",
        sys::TIPRING_R_TERMDIGIT => "term-digit",
        sys::TIPRING_R_BUSY => "busy",
        sys::TIPRING_R_NOANSWER => "no-answer",
        sys::TIPRING_R_REJECTED => "rejected",
        sys::TIPRING_R_FAILED => "failed",
        sys::TIPRING_R_HANGUP => "hangup",
        sys::TIPRING_R_BARGEIN => "barge-in",
        sys::TIPRING_R_SILENCE => "silence",
        sys::TIPRING_R_MAXTIME => "max-time",
        _ => "?",
    }
}

impl Switch {
    /// A switch over the board behind `link`, with loaded `handlers`, `routes`, the
    /// country's tone `plan`, and channel `groups` (channel → group names).
    pub fn new(
        link: MediaLink,
        handlers: Registry,
        routes: Vec<Route>,
        plan: &'static TonePlan,
        groups: &HashMap<u32, Vec<String>>,
    ) -> Self {
        let lines = link
            .channels()
            .iter()
            .map(|i| {
                (
                    i.id,
                    Line {
                        info: i.clone(),
                        groups: groups.get(&i.id.0).cloned().unwrap_or_default(),
                        call: None,
                        ringing: None,
                        first_ring: None,
                        caller: None,
                        redirect_reason: None,
                        alarm: None,
                        dialling: None,
                        pre_ring: None,
                    },
                )
            })
            .collect();
        let (line_tx, line_rx) = mpsc::channel();
        let dial_plan = routes.iter().any(|r| r.number.is_some());
        let mut hosts = Hosts::default();
        for h in handlers.loaded() {
            if let Some(spec) = h.isolated() {
                hosts.add(Arc::clone(h), spec.clone());
            }
        }
        Switch {
            link,
            handlers,
            hosts,
            max_calls: None,
            limit_refusals: 0,
            stats: SwitchStats::default(),
            captures: HashMap::new(),
            closing_taps: Vec::new(),
            refusal: None,
            dial_plan,
            store: None,
            record_failures: 0,
            routes,
            plan,
            timing: Timing::default(),
            lines,
            calls: BTreeMap::new(),
            ended: VecDeque::new(),
            closing: BTreeMap::new(),
            prompts: HashMap::new(),
            stream: VecDeque::new(),
            next_call: 1,
            now: 0,
            epoch_ms: 0,
            draining: false,
            line_control: HashMap::new(),
            rtp: None,
            wake_board: WakeBoard::default(),
            line_rx,
            line_tx,
        }
    }

    /// A queue into [`Switch::line_event`] for a control-plane signalling backend.
    pub fn line_sender(&self) -> LineSender {
        LineSender(self.line_tx.clone())
    }

    /// Hands the signalling of `channels` to `control` (SIP: the control-plane user agent).
    pub fn set_line_control(&mut self, channels: &[ChannelId], control: Arc<dyn LineControl>) {
        for ch in channels {
            self.line_control.insert(*ch, Arc::clone(&control));
        }
    }

    /// Where SIP channels' RTP figures are read for the calls' views.
    pub fn set_rtp_stats(&mut self, board: tipring_hal::sip::RtpStatsBoard) {
        self.rtp = Some(board);
    }

    fn rtp_of(&self, channel: u32) -> Option<RtpView> {
        self.rtp.as_ref()?.get(ChannelId(channel))
    }

    /// A live call's view, with its RTP figures.
    fn live_view(&self, c: &Call) -> CallView {
        let mut v = c.view.clone();
        if let Some(r) = self.rtp_of(v.channel) {
            v.rtp = Some(r);
        }
        v
    }

    /// Takes an event from a control-plane signalling backend at `now`. For
    /// [`LineEvent::Incoming`], returns whether a call was offered to a handler (false: no
    /// route, no handler, shutting down, or the channel is busy; the backend refuses it).
    pub fn line_event(&mut self, now: u64, ch: ChannelId, ev: LineEvent) -> bool {
        self.now = self.now.max(now);
        match ev {
            LineEvent::Incoming {
                caller,
                caller_name,
                called,
                withheld,
                redirecting,
            } => {
                let Some(line) = self.lines.get_mut(&ch) else {
                    return false;
                };
                if line.call.is_some() {
                    return false;
                }
                let mut cid = CallerId::default();
                let fit = |s: &str, cap: usize| {
                    let mut end = s.len().min(cap);
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s[..end].to_string()
                };
                if withheld {
                    cid.number_absent = Some(tipring_dsp::cid::Absence::Private);
                } else {
                    cid.number = caller
                        .as_deref()
                        .and_then(|n| heapless::String::try_from(fit(n, 32).as_str()).ok());
                    cid.name = caller_name
                        .as_deref()
                        .and_then(|n| heapless::String::try_from(fit(n, 64).as_str()).ok());
                }
                cid.dialled = called
                    .as_deref()
                    .and_then(|n| heapless::String::try_from(fit(n, 32).as_str()).ok());
                cid.redirecting = redirecting
                    .as_ref()
                    .and_then(|(n, _)| heapless::String::try_from(fit(n, 32).as_str()).ok());
                line.caller = Some(cid);
                line.redirect_reason = redirecting.and_then(|(_, r)| r).map(|r| fit(&r, 32));
                self.offer(ch);
                self.lines.get(&ch).is_some_and(|l| l.call.is_some())
            }
            LineEvent::Signal(s) => {
                let call = self.lines.get(&ch).and_then(|l| l.call);
                self.signal(ch, call, s);
                true
            }
        }
    }

    /// Sets the timing.
    pub fn set_timing(&mut self, t: Timing) {
        self.timing = t;
    }

    /// The timing, to change.
    pub fn timing_mut(&mut self) -> &mut Timing {
        &mut self.timing
    }

    /// Sets the Unix time (ms) of clock 0, for the timestamps the API shows.
    pub fn set_epoch_ms(&mut self, epoch: u64) {
        self.epoch_ms = epoch;
    }

    /// The handlers.
    pub fn handlers(&self) -> &Registry {
        &self.handlers
    }

    /// The media link (stats).
    pub fn link(&self) -> &MediaLink {
        &self.link
    }

    fn wall(&self) -> u64 {
        self.epoch_ms + self.now
    }

    fn note(&mut self, id: CallId, what: impl Into<String>) {
        let at_ms = self.wall();
        let what = what.into();
        if let Some(c) = self.calls.get_mut(&id) {
            if c.view.events.len() < VIEW_EVENTS {
                c.view.events.push(EventView {
                    at_ms,
                    event: what.clone(),
                });
            }
            let channel = c.channel.0;
            self.push_stream(channel, Some(id.0), what);
        }
    }

    fn push_stream(&mut self, channel: u32, call: Option<u64>, event: String) {
        if self.stream.len() >= STREAM_KEPT {
            self.stream.pop_front();
        }
        self.stream.push_back(StreamEvent {
            at_ms: self.epoch_ms + self.now,
            channel,
            call,
            event,
        });
    }

    /// Takes the events for the API's stream since the last call.
    pub fn drain_stream(&mut self) -> Vec<StreamEvent> {
        self.stream.drain(..).collect()
    }

    fn send(&mut self, ch: ChannelId, c: MediaCommand) {
        if let MediaCommand::Line(cmd) = &c
            && let Some(ctl) = self.line_control.get(&ch)
        {
            ctl.command(ch, cmd);
            return;
        }
        send_to(&mut self.link, ch, c);
    }

    // ---- the clock --------------------------------------------------------------------

    /// Does everything due at `now` (ms, monotonic, never decreasing).
    pub fn step(&mut self, now: u64) {
        self.now = self.now.max(now);
        self.host_notes();
        while let Ok((ch, ev)) = self.line_rx.try_recv() {
            let incoming = matches!(ev, LineEvent::Incoming { .. });
            if !self.line_event(now, ch, ev) && incoming {
                // No route, no handler, shutting down, or the channel taken (glare): the
                // backend refuses the call (a SIP 480). The order names the channel; a
                // backend keeps a channel the far end ended reserved until it comes.
                tracing::info!(channel = ch.0, "no route or handler for the call; refused");
                let cause = self.refusal.take().unwrap_or(Cause(20));
                self.send(ch, MediaCommand::Line(Command::Hangup(cause)));
            }
        }
        while let Some(ev) = self.link.poll() {
            self.media_event(ev.channel, ev.event);
        }
        self.timers();
        self.drain_recordings();
        self.drain_captures();
        let woken = match self.wake_board.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => Vec::new(),
        };
        for id in woken {
            self.wakes(id);
        }
        // In id order, every call: a handler's request can queue an event for a later
        // call (a bridge), which then runs in this step. `run` returns at once when a call
        // has nothing pending.
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.run(id);
        }
    }

    /// The earliest time something is due (a timer or limit), if any.
    pub fn next_due(&self) -> Option<u64> {
        let mut due: Option<u64> = None;
        let mut consider = |t: u64| due = Some(due.map_or(t, |d| d.min(t)));
        for c in self.calls.values() {
            for &(t, _) in &c.timers {
                consider(t);
            }
            match &c.media {
                Some(MediaOp::Play {
                    collect: Some(col), ..
                })
                | Some(MediaOp::Collect { collect: col, .. }) => {
                    if let Some(d) = col.deadline() {
                        consider(d);
                    }
                }
                _ => {}
            }
            match c.orig {
                Some(Orig::Ringing { until })
                | Some(Orig::DialTone { until })
                | Some(Orig::Supervising { until }) => consider(until),
                _ => {}
            }
        }
        for l in self.lines.values() {
            if let Some(d) = &l.dialling
                && !d.failed
            {
                consider(d.last + self.dial_wait(d));
            }
        }
        due
    }

    /// How long a dialling phone may pause now.
    fn dial_wait(&self, d: &Dialling) -> u64 {
        if d.digits.is_empty() {
            self.timing.first_digit_ms
        } else {
            self.timing.inter_digit_ms
        }
    }

    fn timers(&mut self) {
        let now = self.now;
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            // Handler timers.
            let fired: Vec<u64> = match self.calls.get_mut(&id) {
                Some(c) if !c.timers.iter().any(|t| t.0 <= now) => Vec::new(),
                Some(c) => {
                    let (due, keep): (Vec<_>, Vec<_>) = c.timers.iter().partition(|t| t.0 <= now);
                    c.timers = keep;
                    due.into_iter().map(|t| t.1).collect()
                }
                None => continue,
            };
            for op in fired {
                if let Some(c) = self.calls.get_mut(&id) {
                    if let Some(inst) = &c.instance {
                        let t = inst.ctx().timers.get();
                        inst.ctx().timers.set(t.saturating_sub(1));
                    }
                    c.pending.push_back(HostEvent {
                        kind: sys::TIPRING_EV_TIMER,
                        op,
                        ..Default::default()
                    });
                }
            }
            // Collection limits.
            let timeout = self.calls.get_mut(&id).and_then(|c| match &mut c.media {
                Some(MediaOp::Play {
                    collect: Some(col), ..
                })
                | Some(MediaOp::Collect { collect: col, .. }) => col.check(now),
                _ => None,
            });
            if let Some(done) = timeout {
                self.collection_done(id, done);
            }
            // Outbound limits.
            let orig = self.calls.get(&id).and_then(|c| c.orig.clone());
            match orig {
                Some(Orig::Ringing { until }) | Some(Orig::Supervising { until })
                    if now >= until =>
                {
                    self.orig_failed(id, sys::TIPRING_R_NOANSWER, Cause::NO_ANSWER, "no-answer");
                }
                Some(Orig::DialTone { until }) if now >= until => {
                    // No dial tone heard: dial anyway (some lines give none).
                    self.note(id, "no dial tone heard; dialling anyway");
                    self.dial(id);
                }
                _ => {}
            }
        }
        // Phones that stopped dialling: the number is complete (or never came).
        let paused: Vec<ChannelId> = self
            .lines
            .values()
            .filter(|l| {
                l.dialling
                    .as_ref()
                    .is_some_and(|d| !d.failed && now >= d.last + self.dial_wait(d))
            })
            .map(|l| l.info.id)
            .collect();
        for ch in paused {
            self.number_complete(ch);
        }
        // A reversal that no ring followed (a line test, a disconnect): forget it.
        let stale: Vec<ChannelId> = self
            .lines
            .values()
            .filter(|l| {
                l.pre_ring
                    .is_some_and(|t| now >= t + self.timing.ring_gone_ms)
            })
            .map(|l| l.info.id)
            .collect();
        for ch in stale {
            if let Some(l) = self.lines.get_mut(&ch) {
                l.pre_ring = None;
                l.caller = None;
            }
            self.send(ch, MediaCommand::DetectCallerId(false));
        }
        // Inbound calls whose ringing stopped: the caller gave up.
        let gone: Vec<(ChannelId, Option<CallId>)> = self
            .lines
            .values()
            .filter(|l| {
                l.ringing
                    .is_some_and(|(_, last)| now >= last + self.timing.ring_gone_ms)
            })
            .map(|l| (l.info.id, l.call))
            .collect();
        for (ch, call) in gone {
            if let Some(l) = self.lines.get_mut(&ch) {
                l.ringing = None;
                l.caller = None;
            }
            self.send(ch, MediaCommand::DetectCallerId(false));
            if let Some(id) = call
                && self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == State::Offered)
            {
                self.note(id, "the caller gave up");
                self.end_call(id, Cause::NORMAL_CLEARING, false);
            }
        }
    }

    fn wakes(&mut self, id: CallId) {
        let tokens: Vec<u64> = match self.calls.get(&id).and_then(|c| c.instance.as_ref()) {
            Some(inst) => match inst.ctx().wakes.lock() {
                Ok(mut w) => w.drain(..).collect(),
                Err(_) => Vec::new(),
            },
            None => return,
        };
        if let Some(c) = self.calls.get_mut(&id) {
            for t in tokens {
                c.pending.push_back(HostEvent {
                    kind: sys::TIPRING_EV_WAKE,
                    wake_token: t,
                    ..Default::default()
                });
            }
        }
    }

    // ---- media events ------------------------------------------------------------------

    fn media_event(&mut self, ch: ChannelId, ev: MediaEvent) {
        let call = self.lines.get(&ch).and_then(|l| l.call);
        let detected = match &ev {
            MediaEvent::Digit { .. } => Some("dtmf"),
            MediaEvent::Progress(_) => Some("progress"),
            MediaEvent::CallerId(_) => Some("caller_id"),
            _ => None,
        };
        if let Some(k) = detected {
            *self.stats.detections.entry(k).or_default() += 1;
        }
        match ev {
            MediaEvent::Signal(s) => self.signal(ch, call, s),
            MediaEvent::Digit { digit } => {
                if let Some(id) = call {
                    self.digit(id, digit);
                } else {
                    self.dialled_digit(ch, digit);
                }
            }
            MediaEvent::Progress(t) => {
                if let Some(id) = call {
                    if t == ProgressTone::Ringback {
                        let now = self.wall();
                        if let Some(c) = self.calls.get_mut(&id)
                            && c.view.ring_ms.is_none()
                        {
                            c.view.ring_ms = Some(now);
                        }
                    }
                    self.progress(id, t);
                }
            }
            MediaEvent::CallerId(cid) => {
                if let Some(l) = self.lines.get_mut(&ch)
                    && (l.ringing.is_some() || l.pre_ring.is_some())
                {
                    l.caller = Some(cid);
                    // Before the first ring (ETSI) the call is offered when it rings.
                    if l.call.is_none() && l.ringing.is_some() {
                        self.offer(ch);
                    }
                }
            }
            MediaEvent::Done { op, end, lost } => {
                if let Some(id) = call {
                    self.media_done(id, op, end, lost);
                }
            }
            MediaEvent::Unbridged => {}
            MediaEvent::LineError(e) => {
                let backend = self.lines.get(&ch).map_or("?", |l| l.info.backend);
                *self.stats.line_errors.entry(backend).or_default() += 1;
                tracing::warn!(channel = ch.0, "line command failed: {e}");
                if let Some(id) = call {
                    self.note(id, format!("line error: {e}"));
                    if self.calls.get(&id).is_some_and(|c| c.orig.is_some()) {
                        self.orig_failed(
                            id,
                            sys::TIPRING_R_FAILED,
                            Cause::TEMPORARY_FAILURE,
                            "failed",
                        );
                    }
                }
            }
        }
    }

    fn signal(&mut self, ch: ChannelId, call: Option<CallId>, s: Signal) {
        self.push_stream(ch.0, call.map(|c| c.0), format!("signal {}", s.name()));
        match s {
            Signal::RingBegin => {
                let now = self.now;
                let Some(l) = self.lines.get_mut(&ch) else {
                    return;
                };
                if l.call.is_some() && l.ringing.is_none() {
                    return; // ringing on a line we use (glare): ignore
                }
                let rings = l.ringing.map_or(1, |(n, _)| n + 1);
                l.ringing = Some((rings, now));
                if rings == 1 {
                    l.first_ring = Some(self.epoch_ms + now);
                }
                let early = if rings == 1 { l.pre_ring.take() } else { None };
                if rings == 1 && early.is_some() && l.caller.is_some() {
                    // The caller ID came before the ring (ETSI): offer now.
                    if l.call.is_none() {
                        self.offer(ch);
                    }
                } else if rings == 1 {
                    l.caller = None;
                    self.send(ch, MediaCommand::DetectCallerId(true));
                } else if l.call.is_none() {
                    // No caller ID by the second ring: offer without.
                    self.offer(ch);
                }
            }
            Signal::RingEnd => {
                if let Some(l) = self.lines.get_mut(&ch)
                    && let Some((n, _)) = l.ringing
                {
                    l.ringing = Some((n, self.now));
                }
            }
            Signal::OffHook => match call {
                Some(id)
                    if matches!(
                        self.calls.get(&id).and_then(|c| c.orig.clone()),
                        Some(Orig::Ringing { .. })
                    ) =>
                {
                    self.send(ch, MediaCommand::Line(Command::RingOff));
                    self.answered(id);
                }
                Some(_) => {}
                // Phones, and trunks seized by the far end (E&M), send a number first.
                None if self.dial_plan
                    && self.lines.get(&ch).is_some_and(|l| {
                        matches!(
                            l.info.kind,
                            ChannelKind::Fxs | ChannelKind::T1 { .. } | ChannelKind::E1 { .. }
                        )
                    }) =>
                {
                    self.begin_dialling(ch);
                }
                None => self.offer(ch),
            },
            Signal::OnHook => {
                if let Some(id) = call {
                    self.note(id, "the phone hung up");
                    self.end_call(id, Cause::NORMAL_CLEARING, false);
                } else if let Some(d) = self.lines.get_mut(&ch).and_then(|l| l.dialling.take()) {
                    self.push_stream(ch.0, None, format!("hung up after dialling {:?}", d.digits));
                    self.send(
                        ch,
                        MediaCommand::Stop {
                            op: dial_tone_op(ch),
                        },
                    );
                }
            }
            Signal::RemoteHangup(cause) => {
                if let Some(id) = call {
                    self.note(id, format!("the far end hung up ({cause})"));
                    if self.calls.get(&id).is_some_and(|c| c.orig.is_some()) {
                        let (result, outcome) = outcome_of(cause);
                        self.orig_failed(id, result, cause, outcome);
                    } else {
                        self.end_call(id, cause, false);
                    }
                }
            }
            Signal::Polarity
                if call.is_none()
                    && self.lines.get(&ch).is_some_and(|l| {
                        l.info.kind == ChannelKind::Fxo && l.ringing.is_none() && l.alarm.is_none()
                    }) =>
            {
                // An idle line reversing: ETSI's caller ID before the first ring follows.
                // (The reversal back, before the ring, keeps what came.)
                if let Some(l) = self.lines.get_mut(&ch)
                    && l.pre_ring.replace(self.now).is_none()
                {
                    l.caller = None;
                    self.send(ch, MediaCommand::DetectCallerId(true));
                }
            }
            Signal::Polarity | Signal::RemoteAnswer => {
                if let Some(id) = call
                    && matches!(
                        self.calls.get(&id).and_then(|c| c.orig.clone()),
                        Some(Orig::Supervising { .. })
                    )
                {
                    self.answered(id);
                }
            }
            Signal::DialComplete => {
                if let Some(id) = call {
                    let Some(c) = self.calls.get_mut(&id) else {
                        return;
                    };
                    if c.orig == Some(Orig::Dialling) {
                        c.orig = Some(Orig::Supervising {
                            until: self.now + self.timing.no_answer_ms,
                        });
                        self.note(id, "dialled; waiting for the answer");
                    } else if let Some(op) = c.transfer.take() {
                        c.pending.push_back(HostEvent {
                            kind: sys::TIPRING_EV_OP_COMPLETE,
                            op,
                            result: sys::TIPRING_R_DONE,
                            ..Default::default()
                        });
                        self.note(id, "transferred");
                        self.run(id);
                        self.end_call(id, Cause::NORMAL_CLEARING, true);
                    }
                }
            }
            Signal::Digit(d) => {
                if let Some(id) = call {
                    self.digit(id, d);
                }
            }
            Signal::Flash => {
                if let Some(id) = call
                    && let Some(c) = self.calls.get_mut(&id)
                    && c.state == State::Up
                {
                    c.pending.push_back(HostEvent {
                        kind: sys::TIPRING_EV_FLASH,
                        ..Default::default()
                    });
                    self.note(id, "hook flash");
                    self.run(id);
                }
            }
            Signal::Alarm(a) => {
                let Some(l) = self.lines.get_mut(&ch) else {
                    return;
                };
                let first = l.alarm.is_none();
                l.alarm = Some(a);
                l.ringing = None;
                l.caller = None;
                if l.dialling.take().is_some() {
                    self.send(
                        ch,
                        MediaCommand::Stop {
                            op: dial_tone_op(ch),
                        },
                    );
                }
                let Some(l) = self.lines.get(&ch) else {
                    return;
                };
                if first {
                    tracing::warn!(
                        channel = ch.0,
                        location = %l.info.location,
                        "{} alarm on the span: channel out of service",
                        alarm_name(a)
                    );
                }
                if let Some(id) = call {
                    self.note(id, format!("{} alarm on the span", alarm_name(a)));
                    self.end_call(id, Cause::NETWORK_OUT_OF_ORDER, false);
                }
            }
            Signal::AlarmCleared => {
                if let Some(l) = self.lines.get_mut(&ch)
                    && l.alarm.take().is_some()
                {
                    tracing::info!(
                        channel = ch.0,
                        location = %l.info.location,
                        "span alarm cleared: channel back in service"
                    );
                }
            }
            Signal::Wink => {
                // E&M wink start: the far end is ready for the number.
                if let Some(id) = call
                    && matches!(
                        self.calls.get(&id).and_then(|c| c.orig.clone()),
                        Some(Orig::DialTone { .. })
                    )
                {
                    self.note(id, "the far end winked");
                    self.dial(id);
                }
            }
        }
    }

    fn progress(&mut self, id: CallId, t: ProgressTone) {
        self.note(id, format!("heard {}", tone_name(t)));
        if matches!(t, ProgressTone::Busy | ProgressTone::Congestion)
            && self.calls.get(&id).is_some_and(|c| c.state == State::Up)
        {
            self.note(id, "the exchange's tone says the far end hung up");
            self.end_call(id, Cause::NORMAL_CLEARING, false);
            return;
        }
        let Some(orig) = self.calls.get(&id).and_then(|c| c.orig.clone()) else {
            return;
        };
        match (orig, t) {
            (Orig::DialTone { .. }, ProgressTone::Dial) => self.dial(id),
            (Orig::Supervising { .. }, ProgressTone::Busy) => {
                self.orig_failed(id, sys::TIPRING_R_BUSY, Cause::USER_BUSY, "busy");
            }
            (Orig::Supervising { .. }, ProgressTone::Congestion) => self.orig_failed(
                id,
                sys::TIPRING_R_REJECTED,
                Cause::SWITCHING_EQUIPMENT_CONGESTION,
                "congestion",
            ),
            (Orig::Supervising { .. }, ProgressTone::Sit(cause)) => {
                let q = match cause {
                    Some(SitCause::Ro) | Some(SitCause::Nc) => Cause::NO_CIRCUIT_AVAILABLE,
                    _ => Cause::UNALLOCATED_NUMBER,
                };
                self.orig_failed(id, sys::TIPRING_R_REJECTED, q, "sit");
            }
            _ => {}
        }
    }

    fn digit(&mut self, id: CallId, d: char) {
        let now = self.now;
        self.note(id, format!("digit {d}"));
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let done = match &mut c.media {
            Some(MediaOp::Play {
                collect: Some(col), ..
            })
            | Some(MediaOp::Collect { collect: col, .. }) => col.digit(d, now).map(Some),
            Some(MediaOp::Record { op, term, .. }) if term.contains(d) => {
                let op = *op;
                send_to(
                    &mut self.link,
                    c.channel,
                    MediaCommand::Stop { op: OpId(op) },
                );
                None
            }
            _ => {
                if c.typeahead.len() < 64 {
                    c.typeahead.push(d);
                }
                if c.instance.is_some() {
                    c.pending.push_back(HostEvent {
                        kind: sys::TIPRING_EV_DTMF,
                        digits: d.to_string(),
                        ..Default::default()
                    });
                }
                None
            }
        };
        if let Some(Some(done)) = done {
            self.collection_done(id, done);
        }
    }

    fn collection_done(&mut self, id: CallId, done: Collected) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let (op, stop_play) = match &c.media {
            Some(MediaOp::Play { op, playing, .. }) => (*op, *playing),
            Some(MediaOp::Collect { op, .. }) => (*op, false),
            _ => return,
        };
        if stop_play {
            // The prompt is still playing (no barge-in): stop it; its Done is ignored.
            send_to(
                &mut self.link,
                c.channel,
                MediaCommand::Stop { op: OpId(op) },
            );
        }
        c.media = None;
        c.view.digits.push(done.digits.clone());
        self.complete(id, op, done.result, &done.digits, "{}");
    }

    fn media_done(&mut self, id: CallId, op: OpId, end: OpEnd, lost: u64) {
        let now = self.now;
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(m) = &mut c.media else {
            return;
        };
        if m.op() != op.0 {
            return; // an operation already completed for the handler
        }
        match m {
            MediaOp::Play {
                playing,
                collect,
                src,
                ..
            } => {
                *playing = false;
                let src = src.clone();
                if let Some(col) = collect {
                    match end {
                        OpEnd::Completed | OpEnd::BargeIn(_) => {
                            col.arm(now);
                            return; // the collection goes on
                        }
                        _ => {}
                    }
                }
                let result = match end {
                    OpEnd::Completed => sys::TIPRING_R_DONE,
                    OpEnd::BargeIn(_) => sys::TIPRING_R_BARGEIN,
                    OpEnd::Stopped | OpEnd::Replaced => sys::TIPRING_R_STOPPED,
                    _ => sys::TIPRING_R_HANGUP,
                };
                c.media = None;
                self.note(id, format!("play {src}: {}", result_name(result)));
                self.complete(id, op.0, result, "", "{}");
            }
            MediaOp::Record { .. } => {
                let Some(MediaOp::Record {
                    path,
                    mut ring,
                    writer,
                    mut samples,
                    ..
                }) = c.media.take()
                else {
                    return;
                };
                let mut detail = serde_json::json!({"file": path});
                if let Some(WavOut(mut w)) = writer {
                    while let Ok(s) = ring.pop() {
                        let _ = w.write_sample(s);
                        samples += 1;
                    }
                    if let Err(e) = w.finalize() {
                        detail["error"] = e.to_string().into();
                    }
                }
                detail["ms"] = (samples / 8).into();
                detail["lost_samples"] = lost.into();
                let result = match end {
                    OpEnd::MaxTime => sys::TIPRING_R_MAXTIME,
                    OpEnd::Silence => sys::TIPRING_R_SILENCE,
                    OpEnd::Stopped => sys::TIPRING_R_STOPPED,
                    OpEnd::Completed => sys::TIPRING_R_DONE,
                    _ => sys::TIPRING_R_HANGUP,
                };
                self.note(id, format!("recorded {path}: {}", result_name(result)));
                self.complete(id, op.0, result, "", &detail.to_string());
            }
            MediaOp::Dtmf { .. } => {
                c.media = None;
                let result = match end {
                    OpEnd::Completed => sys::TIPRING_R_DONE,
                    OpEnd::Stopped | OpEnd::Replaced => sys::TIPRING_R_STOPPED,
                    _ => sys::TIPRING_R_HANGUP,
                };
                self.complete(id, op.0, result, "", "{}");
            }
            MediaOp::Collect { .. } => {}
        }
    }

    fn drain_recordings(&mut self) {
        for c in self.calls.values_mut() {
            if let Some(MediaOp::Record {
                ring,
                writer: Some(WavOut(w)),
                samples,
                ..
            }) = &mut c.media
            {
                while let Ok(s) = ring.pop() {
                    let _ = w.write_sample(s);
                    *samples += 1;
                }
            }
        }
    }

    /// Queues OP_COMPLETE for the handler and frees the media slot.
    fn complete(&mut self, id: CallId, op: u64, result: u32, digits: &str, detail: &str) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.apology.is_some_and(|a| a == op) {
            // The failed handler's apology was played (or could not be): the call ends.
            c.apology = None;
            self.end_call(id, Cause::TEMPORARY_FAILURE, true);
            return;
        }
        if let Some(inst) = &c.instance
            && c.media.is_none()
        {
            inst.ctx().media_busy.set(false);
        }
        if c.instance.is_some() {
            c.pending.push_back(HostEvent {
                kind: sys::TIPRING_EV_OP_COMPLETE,
                op,
                result,
                digits: digits.to_string(),
                detail: detail.to_string(),
                ..Default::default()
            });
        }
    }

    // ---- phones dialling (dial plan) ---------------------------------------------------

    /// A phone went off hook (dial tone), or a trunk was seized (E&M: the backend has
    /// winked): collect the number that follows.
    fn begin_dialling(&mut self, ch: ChannelId) {
        let now = self.now;
        let Some(l) = self.lines.get_mut(&ch) else {
            return;
        };
        if l.alarm.is_some() || self.draining {
            return;
        }
        let phone = l.info.kind == ChannelKind::Fxs;
        let op = dial_tone_op(ch);
        l.dialling = Some(Dialling {
            digits: String::new(),
            last: now,
            tone: phone.then_some(op),
            failed: false,
        });
        if phone {
            let tone = self.plan.dial;
            self.send(ch, MediaCommand::Tone { op, tone, ms: 0 });
            self.push_stream(ch.0, None, "off hook: dial tone".into());
        } else {
            self.push_stream(ch.0, None, "seized: collecting the number".into());
        }
    }

    /// A digit from a phone that has no call yet.
    fn dialled_digit(&mut self, ch: ChannelId, digit: char) {
        let now = self.now;
        let Some(l) = self.lines.get_mut(&ch) else {
            return;
        };
        let Some(d) = l.dialling.as_mut() else {
            return;
        };
        if d.failed || d.digits.len() >= tipring_hal::MAX_DIGITS {
            return;
        }
        d.digits.push(digit);
        d.last = now;
        let stop = d.tone.take();
        let digits = d.digits.clone();
        let (kind, groups) = (l.info.kind, l.groups.clone());
        if let Some(op) = stop {
            self.send(ch, MediaCommand::Stop { op });
        }
        match route::dialled(&self.routes, ch, &kind, &groups, &digits) {
            Some(true) => self.number_complete(ch),
            Some(false) => {
                // `#` ends a number early: what came before it may be complete.
                if let Some(before) = digits.strip_suffix('#')
                    && !before.is_empty()
                    && route::find(&self.routes, ch, &kind, &groups, Some(before)).is_some()
                {
                    if let Some(d) = self.lines.get_mut(&ch).and_then(|l| l.dialling.as_mut()) {
                        d.digits.pop();
                    }
                    self.number_complete(ch);
                } else {
                    self.number_failed(ch, format!("no route for {digits:?}"));
                }
            }
            None => {}
        }
    }

    /// The phone's number is complete: route it, or tell the phone it failed.
    fn number_complete(&mut self, ch: ChannelId) {
        let Some(l) = self.lines.get(&ch) else {
            return;
        };
        let Some(d) = &l.dialling else {
            return;
        };
        let digits = d.digits.clone();
        if digits.is_empty() {
            self.number_failed(ch, "no number dialled".into());
            return;
        }
        if route::find(&self.routes, ch, &l.info.kind, &l.groups, Some(&digits)).is_none() {
            self.number_failed(ch, format!("no route for {digits:?}"));
            return;
        }
        self.push_stream(ch.0, None, format!("dialled {digits}"));
        self.offer(ch);
        // Not taken (its handler is not loaded, or the daemon is draining): the phone hears
        // congestion rather than being offered again at every step.
        if self.lines.get(&ch).is_some_and(|l| l.dialling.is_some()) {
            self.number_failed(ch, format!("{digits:?} was not taken"));
        }
    }

    /// What the phone dialled goes nowhere (`what` says why): congestion tone until it
    /// hangs up.
    fn number_failed(&mut self, ch: ChannelId, what: String) {
        let Some(d) = self.lines.get_mut(&ch).and_then(|l| l.dialling.as_mut()) else {
            return;
        };
        d.failed = true;
        let op = dial_tone_op(ch);
        d.tone = Some(op);
        let tone = self.plan.congestion;
        self.send(ch, MediaCommand::Tone { op, tone, ms: 0 });
        tracing::info!(
            channel = ch.0,
            "{what}: congestion tone until the phone hangs up"
        );
        self.push_stream(ch.0, None, format!("{what}: congestion"));
    }

    /// A phone off hook that cannot be served: busy tone until it hangs up.
    fn busy_until_on_hook(&mut self, ch: ChannelId) {
        let now = self.now;
        let op = dial_tone_op(ch);
        let Some(l) = self.lines.get_mut(&ch) else {
            return;
        };
        l.dialling = Some(Dialling {
            digits: String::new(),
            last: now,
            tone: Some(op),
            failed: true,
        });
        let tone = self.plan.busy;
        self.send(ch, MediaCommand::Tone { op, tone, ms: 0 });
    }

    /// Why a new call for `handler` would exceed a limit, if it would.
    fn over_limit(&self, handler: &Handler) -> Option<String> {
        if let Some(max) = self.max_calls
            && self.calls.len() >= max as usize
        {
            return Some(format!("{max} calls at once (daemon.max_calls)"));
        }
        let max = handler.policy.max_calls?;
        let n = self
            .calls
            .values()
            .filter(|c| c.handler.as_ref().is_some_and(|h| h.name == handler.name))
            .count();
        (n >= max as usize).then(|| {
            format!(
                "{} has {max} calls at once (policy.{}.max_calls)",
                handler.name, handler.name
            )
        })
    }

    /// Sets the limit of calls at once, in all.
    pub fn set_max_calls(&mut self, max: Option<u32>) {
        self.max_calls = max;
    }

    // ---- inbound -----------------------------------------------------------------------

    fn offer(&mut self, ch: ChannelId) {
        let Some(line) = self.lines.get(&ch) else {
            return;
        };
        if line.call.is_some() || line.alarm.is_some() {
            return;
        }
        if self.draining {
            self.push_stream(ch.0, None, "shutting down: not answered".into());
            return;
        }
        let kind = line.info.kind;
        let dialled = line.dialling.as_ref().map(|d| d.digits.clone());
        let called = dialled.clone().or_else(|| {
            line.caller
                .as_ref()
                .and_then(|c| c.dialled.as_ref().map(|n| n.to_string()))
        });
        let Some(route) =
            route::find(&self.routes, ch, &kind, &line.groups, called.as_deref()).cloned()
        else {
            tracing::warn!(
                channel = ch.0,
                "no route for a new call; it is not answered"
            );
            self.push_stream(ch.0, None, "no route: not answered".into());
            return;
        };
        let Some(handler) = self.handlers.get(&route.handler).cloned() else {
            tracing::error!(
                channel = ch.0,
                handler = %route.handler,
                "the route's handler is not loaded; the call is not answered"
            );
            self.push_stream(
                ch.0,
                None,
                format!("handler {} not loaded: not answered", route.handler),
            );
            return;
        };
        if let Some(why) = self.over_limit(&handler) {
            self.limit_refusals += 1;
            tracing::warn!(channel = ch.0, handler = %handler.name, "{why}: the call is refused");
            self.push_stream(ch.0, None, format!("{why}: refused"));
            // SIP: 503 (cause 34, no circuit available); a phone hears busy until it hangs
            // up; a ringing trunk is left unanswered.
            self.refusal = Some(Cause(34));
            if kind == ChannelKind::Fxs {
                self.busy_until_on_hook(ch);
            }
            return;
        }
        let Some(line) = self.lines.get(&ch) else {
            return;
        };
        let caller = line.caller.clone();
        let line_redirect_reason = line.redirect_reason.clone();
        let first_ring = if line.ringing.is_some() {
            line.first_ring
        } else {
            None
        };
        if let Some(l) = self.lines.get_mut(&ch) {
            l.dialling = None;
        }
        let id = self.new_call(ch, true, Some(Arc::clone(&handler)), None);
        if let Some(c) = self.calls.get_mut(&id) {
            c.state = State::Offered;
            c.view.state = "offered";
            if let Some(cid) = &caller {
                c.view.caller = cid.number.as_ref().map(|n| n.to_string());
                c.view.caller_name = cid.name.as_ref().map(|n| n.to_string());
                c.view.called = cid.dialled.as_ref().map(|n| n.to_string());
                c.view.redirecting = cid.redirecting.as_ref().map(|n| n.to_string());
            }
            if dialled.is_some() {
                c.view.called.clone_from(&dialled);
            }
            c.view.route = Some(route.describe());
            c.view.ring_ms = first_ring;
            c.view.presentation = caller.as_ref().map(|cid| match cid.number_absent {
                Some(tipring_dsp::cid::Absence::Private) => "restricted",
                Some(_) => "unavailable",
                None if cid.number.is_some() => "allowed",
                None => "unavailable",
            });
        }
        self.note(
            id,
            format!("offered to {} {}", handler.name, handler.version),
        );
        let detail = serde_json::json!({
            "direction": "inbound",
            "channel": ch.0,
            "kind": kind.name(),
            "caller": caller.as_ref().and_then(|c| c.number.as_ref().map(|n| n.to_string())),
            "caller_name": caller.as_ref().and_then(|c| c.name.as_ref().map(|n| n.to_string())),
            "called": called,
            "withheld": caller.as_ref().is_some_and(|c| c.number_absent == Some(tipring_dsp::cid::Absence::Private)),
            "redirecting": caller.as_ref().and_then(|c| c.redirecting.as_ref().map(|n| n.to_string())),
            "redirect_reason": line_redirect_reason,
        })
        .to_string();
        if !self.attach(id, handler, &route.params) {
            return;
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.pending.push_back(HostEvent {
                kind: sys::TIPRING_EV_OFFER,
                detail,
                ..Default::default()
            });
        }
        self.run(id);
    }

    fn new_call(
        &mut self,
        ch: ChannelId,
        inbound: bool,
        handler: Option<Arc<Handler>>,
        parent: Option<(CallId, u64)>,
    ) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        let view = CallView {
            id: id.0,
            channel: ch.0,
            direction: if inbound { "inbound" } else { "outbound" },
            state: if inbound { "offered" } else { "originating" },
            handler: handler.as_ref().map(|h| h.name.clone()),
            handler_version: handler.as_ref().map(|h| h.version.clone()),
            parent: parent.map(|p| p.0.0),
            bridged_to: None,
            caller: None,
            caller_name: None,
            called: None,
            redirecting: None,
            presentation: None,
            route: None,
            created_ms: self.wall(),
            ring_ms: None,
            answered_ms: None,
            ended_ms: None,
            cause: None,
            cause_text: None,
            outcome: None,
            digits: Vec::new(),
            recordings: Vec::new(),
            vars: BTreeMap::new(),
            events: Vec::new(),
            rtp: None,
        };
        self.calls.insert(
            id,
            Call {
                id,
                channel: ch,
                inbound,
                state: if inbound {
                    State::Offered
                } else {
                    State::Originating
                },
                orig: None,
                number: None,
                presentation: Presentation::default(),
                instance: None,
                span: tracing::info_span!(
                    "call",
                    id = id.0,
                    channel = ch.0,
                    handler = handler.as_ref().map_or("", |h| h.name.as_str())
                ),
                handler,
                apology: None,
                fell_back: false,
                parent,
                bridge: None,
                media: None,
                typeahead: String::new(),
                pending: VecDeque::new(),
                timers: Vec::new(),
                transfer: None,
                answer_ops: Vec::new(),
                view,
                ending: false,
            },
        );
        if let Some(l) = self.lines.get_mut(&ch) {
            l.call = Some(id);
        }
        id
    }

    /// Creates the handler instance for call `id`; false (and the call ended, or handed to
    /// the fallback) if refused or the handler cannot take it. An isolated handler's
    /// instance is created by message: the call's events wait until its host answers.
    fn attach(&mut self, id: CallId, handler: Arc<Handler>, params: &str) -> bool {
        let _span = self.enter(id);
        let Some(c) = self.calls.get(&id) else {
            return false;
        };
        let ctx = CallCtx::new(
            id,
            c.channel,
            handler.name.as_str().into(),
            Arc::clone(&self.wake_board),
        );
        if handler.is_isolated() {
            return match self.hosts.host(&handler.name) {
                Ok(host) => {
                    let r = Remote::create(host, Arc::clone(&handler), ctx, params);
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.instance = Some(Attached::Remote(r));
                    }
                    true
                }
                Err(why) => {
                    self.fallback(id, &handler, &why);
                    false
                }
            };
        }
        match Instance::create(Arc::clone(&handler), ctx, params) {
            Ok(inst) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.instance = Some(Attached::Local(inst));
                }
                true
            }
            Err((rc, _ctx)) => {
                self.refused(id, &handler.name, rc);
                false
            }
        }
    }

    /// The handler's instance_create refused call `id`.
    fn refused(&mut self, id: CallId, handler: &str, rc: i32) {
        tracing::warn!(call = id.0, handler = %handler, "the handler refused the call ({rc})");
        self.note(id, format!("handler refused the call ({rc})"));
        if let Some(c) = self.calls.get_mut(&id) {
            c.handler = None;
            c.instance = None;
            c.pending.clear();
        }
        self.end_call(id, Cause::CALL_REJECTED, true);
    }

    /// Call `id`'s handler failed (`why`): the handler's fallback takes the call. The
    /// instance is dropped without a word to it (its host is gone or going).
    fn fallback(&mut self, id: CallId, handler: &Arc<Handler>, why: &str) {
        let _span = self.enter(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.ending {
            return;
        }
        c.instance = None;
        c.pending.clear();
        c.timers.clear();
        let up = c.state == State::Up;
        let vars = std::mem::take(&mut c.view.vars);
        c.view.vars = vars;
        tracing::error!(
            call = id.0,
            channel = c.channel.0,
            handler = %handler.name,
            "the handler failed: {why}; its fallback takes the call"
        );
        self.note(id, format!("handler {} failed: {why}", handler.name));
        // Whatever the handler had running stops.
        if let Some(m) = self.calls.get_mut(&id).and_then(|c| c.media.take()) {
            let op = m.op();
            if let MediaOp::Record {
                writer: Some(WavOut(w)),
                ..
            } = m
            {
                let _ = w.finalize();
            }
            if let Some(ch) = self.calls.get(&id).map(|c| c.channel) {
                self.send(ch, MediaCommand::Stop { op: OpId(op) });
            }
        }
        let again = self.calls.get(&id).is_some_and(|c| c.fell_back);
        let fallback = match handler.policy.fallback.clone() {
            Fallback::Handler(_) if again => Fallback::default(),
            f => f,
        };
        match fallback {
            Fallback::Handler(name) if name != handler.name => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.fell_back = true;
                }
                let Some(next) = self.handlers.get(&name).cloned() else {
                    self.note(id, format!("fallback handler {name} is not loaded"));
                    self.end_call(id, Cause::TEMPORARY_FAILURE, true);
                    return;
                };
                self.note(id, format!("handed to {} {}", next.name, next.version));
                if let Some(c) = self.calls.get_mut(&id) {
                    c.handler = Some(Arc::clone(&next));
                    c.view.handler = Some(next.name.clone());
                    c.view.handler_version = Some(next.version.clone());
                }
                let inbound = self.calls.get(&id).is_some_and(|c| c.inbound);
                let detail = serde_json::json!({
                    "direction": if inbound { "inbound" } else { "outbound" },
                    "fallback_from": handler.name,
                    "answered": up,
                })
                .to_string();
                // The fallback's own policy applies if it fails too; never a loop back.
                if self.attach(id, next, "{}") {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.pending.push_back(HostEvent {
                            kind: sys::TIPRING_EV_OFFER,
                            detail,
                            ..Default::default()
                        });
                        // An answered call is connected already: the new handler hears
                        // so right after the offer (its answer completes at once).
                        if up {
                            c.pending.push_back(HostEvent {
                                kind: sys::TIPRING_EV_ANSWERED,
                                ..Default::default()
                            });
                        }
                    }
                    self.run(id);
                }
            }
            Fallback::Apology(src) if up => {
                let op = crate::handler::host::next_op();
                if let Some(c) = self.calls.get_mut(&id) {
                    c.apology = Some(op);
                    c.view.outcome = Some("fallback");
                }
                self.request(
                    id,
                    op,
                    crate::handler::host::Request::Play {
                        src,
                        barge_in: false,
                        loops: 1,
                        collect: None,
                    },
                );
            }
            _ => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.view.outcome = Some("fallback");
                }
                self.end_call(id, Cause::TEMPORARY_FAILURE, true);
            }
        }
    }

    /// Enters call `id`'s span until the guard drops.
    fn enter(&self, id: CallId) -> Option<tracing::span::EnteredSpan> {
        self.calls.get(&id).map(|c| c.span.clone().entered())
    }

    // ---- delivering to handlers ------------------------------------------------------

    /// Delivers the call's pending events one at a time, carrying out the handler's
    /// requests after each. An isolated handler's event goes out by message and the rest
    /// wait for its answer ([`Self::host_note`]).
    fn run(&mut self, id: CallId) {
        let _span = self.enter(id);
        for _ in 0..1000 {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(inst) = c.instance.as_mut() else {
                c.pending.clear();
                return;
            };
            if inst.in_flight().is_some() {
                return;
            }
            let Some(ev) = c.pending.pop_front() else {
                return;
            };
            let t0 = std::time::Instant::now();
            let delivery = inst.deliver(&ev);
            if let Delivery::Done(_) = delivery {
                let took = t0.elapsed();
                let soft = inst.handler().soft_budget();
                if took > soft {
                    tracing::warn!(
                        handler = %inst.handler().name,
                        event = event_name(ev.kind),
                        "handler.slow: on_event took {:.1} ms (budget {:.1} ms), in process: \
                         every call waited",
                        took.as_secs_f64() * 1e3,
                        soft.as_secs_f64() * 1e3
                    );
                }
                let name = &inst.handler().name;
                match self.stats.events.get_mut(name) {
                    Some(l) => l.observe(t0.elapsed()),
                    None => {
                        let mut l = crate::metrics::Latency::default();
                        l.observe(t0.elapsed());
                        self.stats.events.insert(name.clone(), l);
                    }
                }
            }
            match delivery {
                Delivery::Sent => return,
                Delivery::Done(outcome) => {
                    if !self.delivered(id, outcome) {
                        return;
                    }
                }
            }
        }
        tracing::error!(call = id.0, "the handler keeps making events; hanging up");
        self.end_call(id, Cause::TEMPORARY_FAILURE, true);
    }

    /// After a callback returned: carries out its requests; a failed callback hangs the
    /// call up. False if the call is over.
    fn delivered(&mut self, id: CallId, outcome: Outcome) -> bool {
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(inst) = c.instance.as_ref() else {
            return false;
        };
        let reqs: Vec<(u64, Request)> = inst.ctx().requests.borrow_mut().drain(..).collect();
        let vars = inst.ctx().vars.borrow().clone();
        c.view.vars = vars;
        for (op, r) in reqs {
            self.request(id, op, r);
        }
        if let Outcome::Failed(rc) = outcome
            && self.calls.get(&id).is_some_and(|c| !c.ending)
        {
            let name = self
                .calls
                .get(&id)
                .and_then(|c| c.handler.as_ref().map(|h| h.name.clone()))
                .unwrap_or_default();
            tracing::error!(call = id.0, handler = %name, "the handler failed ({rc}); hanging up");
            self.note(id, format!("handler failed ({rc})"));
            self.end_call(id, Cause::TEMPORARY_FAILURE, true);
            return false;
        }
        self.calls.get(&id).is_some_and(|c| !c.ending)
    }

    /// Reports from isolated handlers' hosts: answers, wakes, readiness, deaths. Then the
    /// hard time budget and the hosts' upkeep (restarts, memory).
    fn host_notes(&mut self) {
        // Bounded per step, so that a host flooding its socket cannot starve the rest.
        for _ in 0..10_000 {
            let Some(n) = self.hosts.poll() else {
                break;
            };
            self.host_note(n);
        }
        let now = std::time::Instant::now();
        let mut late: Vec<(u32, String)> = Vec::new();
        for c in self.calls.values() {
            if let Some(Attached::Remote(r)) = &c.instance
                && let Some(f) = r.in_flight
                // The budget counts from when the host was ready: an event sent while its
                // handler's init ran waits for that (which has its own limit).
                && let Some(&ready) = r.host.ready_at.get()
            {
                let since = f.since.max(ready);
                let budget = self.hosts.hard_budget(&r.host.handler);
                if now.duration_since(since) > budget && !late.iter().any(|l| l.0 == r.host.id) {
                    late.push((
                        r.host.id,
                        format!(
                            "it did not answer {} for call {} within {} ms",
                            event_name(f.kind),
                            c.id.0,
                            budget.as_millis()
                        ),
                    ));
                }
            }
        }
        for (host, why) in late {
            self.hosts.kill(host, why);
        }
        // An ended call's last answers are owed within the hard budget too; past it the
        // record is written without them (the host's budget check kills a host that is
        // stuck on a live call; one stuck on HANGUP is killed here).
        let overdue: Vec<(CallId, u32, String)> = self
            .closing
            .iter()
            .filter_map(|(id, cl)| match &cl.instance {
                Attached::Remote(r) => {
                    let budget = self.hosts.hard_budget(&r.host.handler);
                    let since = cl.since.max(*r.host.ready_at.get()?);
                    (now.duration_since(since) > budget).then(|| {
                        (
                            *id,
                            r.host.id,
                            format!(
                                "it did not answer {} for call {} (ended) within {} ms",
                                cl.owed.front().map_or("HANGUP", |&k| event_name(k)),
                                id.0,
                                budget.as_millis()
                            ),
                        )
                    })
                }
                Attached::Local(_) => None,
            })
            .collect();
        for (id, host, why) in overdue {
            self.close(id);
            self.hosts.kill(host, why);
        }
        self.hosts.tick();
    }

    fn host_note(&mut self, note: HostNote) {
        match note {
            HostNote::Msg(host, FromHost::Ready { .. }) => self.hosts.ready(host),
            HostNote::Msg(host, FromHost::Identity { .. }) => {
                self.hosts.kill(host, "it identified itself unasked".into());
            }
            HostNote::Msg(host, FromHost::InitFailed { reason }) => {
                // Its end report follows; this is the reason to give.
                self.hosts.kill(host, format!("its init failed: {reason}"));
            }
            HostNote::Msg(host, FromHost::Wake { call, token }) => {
                if let Some(c) = self.calls.get_mut(&CallId(call))
                    && let Some(Attached::Remote(r)) = &c.instance
                    && r.host.id == host
                    // At most as many waiting as an in-process handler may queue.
                    && c.pending.len() < 1024
                {
                    c.pending.push_back(HostEvent {
                        kind: sys::TIPRING_EV_WAKE,
                        wake_token: token,
                        ..Default::default()
                    });
                }
            }
            HostNote::Msg(
                host,
                FromHost::Done {
                    call,
                    rc,
                    requests,
                    vars,
                    took_us: _,
                },
            ) => {
                let id = CallId(call);
                let Some(c) = self.calls.get_mut(&id) else {
                    // An answer for a call that ended meanwhile: its variables still go
                    // to the record.
                    self.closing_answer(host, id, rc, vars);
                    return;
                };
                let Some(Attached::Remote(r)) = c.instance.as_mut() else {
                    return;
                };
                if r.host.id != host {
                    return;
                }
                let Some(flight) = r.in_flight.take() else {
                    self.hosts
                        .kill(host, format!("it answered for call {call} unasked"));
                    return;
                };
                if let Err(why) = r.answered(requests, vars) {
                    self.hosts.kill(host, why);
                    return;
                }
                let name = r.host.handler.clone();
                self.stats
                    .events
                    .entry(name.clone())
                    .or_default()
                    .observe(flight.since.elapsed());
                if flight.kind == CREATE {
                    if rc != 0 {
                        self.refused(id, &name, rc);
                        return;
                    }
                } else {
                    let outcome = if rc == 0 {
                        Outcome::Ok
                    } else {
                        Outcome::Failed(rc)
                    };
                    if !self.delivered(id, outcome) {
                        return;
                    }
                }
                self.run(id);
            }
            HostNote::Gone(host, why) => {
                // Ended calls waiting for its answers: they will not come.
                let orphans: Vec<CallId> = self
                    .closing
                    .iter()
                    .filter(
                        |(_, cl)| matches!(&cl.instance, Attached::Remote(r) if r.host.id == host),
                    )
                    .map(|(id, _)| *id)
                    .collect();
                for id in orphans {
                    self.close(id);
                }
                let Some(name) = self.hosts.gone(host, &why) else {
                    return;
                };
                let hit: Vec<CallId> = self
                    .calls
                    .values()
                    .filter(
                        |c| matches!(&c.instance, Some(Attached::Remote(r)) if r.host.id == host),
                    )
                    .map(|c| c.id)
                    .collect();
                if !hit.is_empty() {
                    tracing::error!(
                        handler = %name,
                        calls = hit.len(),
                        "the handler's host {why}; its calls get the fallback"
                    );
                }
                for id in hit {
                    if let Some(h) = self.calls.get(&id).and_then(|c| c.handler.clone()) {
                        self.fallback(id, &h, &format!("its host {why}"));
                    }
                }
            }
        }
    }

    /// Rung whenever an isolated handler's host reports: a control loop waiting on it
    /// (instead of sleeping) acts on a host's answer at once.
    pub fn doorbell(&self) -> Arc<crate::handler::process::Doorbell> {
        self.hosts.doorbell()
    }

    /// The channels of group `name`, if any channel is in it.
    pub fn group_members(&self, name: &str) -> Option<Vec<u32>> {
        let v: Vec<u32> = self
            .lines
            .values()
            .filter(|l| l.groups.iter().any(|g| g == name))
            .map(|l| l.info.id.0)
            .collect();
        (!v.is_empty()).then_some(v)
    }

    /// Replaces the routes and the channels' groups (a config reload): calls up keep the
    /// handler they have; new calls follow the new routes.
    pub fn set_routes(&mut self, routes: Vec<Route>, groups: &HashMap<u32, Vec<String>>) {
        self.dial_plan = routes.iter().any(|r| r.number.is_some());
        self.routes = routes;
        for (id, l) in &mut self.lines {
            l.groups = groups.get(&id.0).cloned().unwrap_or_default();
        }
    }

    /// Puts a prepared handler in place (a reload): new calls go to it; calls up keep the
    /// version they have.
    pub fn install_handler(&mut self, h: Handler) {
        let (new, old) = self.handlers.install(h);
        match new.isolated() {
            Some(spec) => self.hosts.upgrade(Arc::clone(&new), spec.clone()),
            None => self.hosts.remove(&new.name),
        }
        match old {
            Some(old) => tracing::info!(
                handler = %new.name,
                from = %old.version,
                to = %new.version,
                file = %new.path.display(),
                "handler replaced: new calls go to the new version"
            ),
            None => tracing::info!(
                handler = %new.name,
                version = %new.version,
                file = %new.path.display(),
                isolation = if new.is_isolated() { "process" } else { "in-process" },
                "handler loaded"
            ),
        }
    }

    /// The files a reload refused.
    pub fn set_refused(&mut self, refused: Vec<crate::handler::Refused>) {
        self.handlers.set_refused(refused);
    }

    /// Hosts of replaced versions still finishing their calls: (handler, version, pid,
    /// calls).
    pub fn retired_hosts(&self) -> Vec<(String, String, u32, usize)> {
        self.hosts.retired()
    }

    /// What the switch counted (`/metrics`).
    pub fn stats(&self) -> &SwitchStats {
        &self.stats
    }

    /// Each isolated handler's host state.
    pub fn host_status(&self) -> BTreeMap<String, HostStatus> {
        self.hosts.status()
    }

    /// Re-enables a handler disabled for crashing; false if it was not disabled.
    pub fn enable_handler(&mut self, name: &str) -> bool {
        self.hosts.enable(name)
    }

    /// Events sent to isolated hosts and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.instance.as_ref().is_some_and(|i| i.in_flight().is_some()))
            .count()
    }

    fn fail_op(&mut self, id: CallId, op: u64, why: &str) {
        tracing::warn!(call = id.0, "operation failed: {why}");
        self.note(id, format!("operation failed: {why}"));
        if let Some(c) = self.calls.get_mut(&id)
            && let Some(inst) = &c.instance
            && c.media.is_none()
        {
            inst.ctx().media_busy.set(false);
        }
        self.complete(
            id,
            op,
            sys::TIPRING_R_FAILED,
            "",
            &serde_json::json!({"error": why}).to_string(),
        );
    }

    fn request(&mut self, id: CallId, op: u64, r: Request) {
        let _span = self.enter(id);
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.ending {
            return;
        }
        let ch = c.channel;
        match r {
            Request::Answer => {
                let c = self.calls.get_mut(&id).expect("checked");
                match c.state {
                    State::Up => self.complete(id, op, sys::TIPRING_R_DONE, "", "{}"),
                    State::Offered => {
                        let fxo = self
                            .lines
                            .get(&ch)
                            .is_some_and(|l| l.info.kind == ChannelKind::Fxo);
                        if fxo {
                            self.send(ch, MediaCommand::Line(Command::Answer));
                            self.send(ch, MediaCommand::DetectCallerId(false));
                            if let Some(l) = self.lines.get_mut(&ch) {
                                l.ringing = None;
                            }
                        } else if self.line_control.contains_key(&ch)
                            || self.lines.get(&ch).is_some_and(|l| {
                                matches!(
                                    l.info.kind,
                                    ChannelKind::T1 { .. } | ChannelKind::E1 { .. }
                                )
                            })
                        {
                            // SIP calls answer with a message; T1/E1 trunks (E&M) go off
                            // hook.
                            self.send(ch, MediaCommand::Line(Command::Answer));
                        }
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.answer_ops.push(op);
                        }
                        self.answered(id);
                    }
                    State::Originating => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.answer_ops.push(op);
                        }
                    }
                }
            }
            Request::Hangup(cause) => {
                self.note(id, format!("the handler hung up ({})", Cause(cause as u8)));
                self.end_call(id, Cause(cause as u8), true);
            }
            Request::Play {
                src,
                barge_in,
                loops,
                collect,
            } => {
                let now = self.now;
                let cmd = if let Some(name) = src.strip_prefix("tone:") {
                    match self.plan.tone(name) {
                        Some(tone) => MediaCommand::Tone {
                            op: OpId(op),
                            tone,
                            ms: if loops == 0 { 0 } else { 3000 * loops },
                        },
                        None => {
                            return self.fail_op(
                                id,
                                op,
                                &format!("no tone {name:?} in the {} plan", self.plan.name),
                            );
                        }
                    }
                } else {
                    let path = src.trim_start_matches("file:").to_string();
                    let audio = match self.prompt(&path) {
                        Ok(a) => a,
                        Err(e) => return self.fail_op(id, op, &e),
                    };
                    MediaCommand::Play {
                        op: OpId(op),
                        audio,
                        barge_in,
                        loops,
                    }
                };
                let c = self.calls.get_mut(&id).expect("checked");
                let collect = collect.map(|spec| {
                    let col = Collector::new(spec, now, false);
                    if col.flushes() {
                        c.typeahead.clear();
                    }
                    col
                });
                let typed: String = if collect.is_some() {
                    std::mem::take(&mut c.typeahead)
                } else {
                    String::new()
                };
                c.media = Some(MediaOp::Play {
                    op,
                    src: src.clone(),
                    playing: true,
                    collect,
                });
                self.send(ch, cmd);
                self.note(id, format!("play {src}"));
                for d in typed.chars() {
                    self.digit(id, d);
                }
            }
            Request::Collect(spec) => {
                let now = self.now;
                let c = self.calls.get_mut(&id).expect("checked");
                let col = Collector::new(spec, now, true);
                if col.flushes() {
                    c.typeahead.clear();
                }
                let typed = std::mem::take(&mut c.typeahead);
                c.media = Some(MediaOp::Collect { op, collect: col });
                for d in typed.chars() {
                    self.digit(id, d);
                }
            }
            Request::Record {
                dest,
                max_ms,
                final_silence_ms,
                term,
                beep: _,
            } => {
                let path = dest.trim_start_matches("file:").to_string();
                let spec = hound::WavSpec {
                    channels: 1,
                    sample_rate: 8000,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                let writer = match hound::WavWriter::create(&path, spec) {
                    Ok(w) => w,
                    Err(e) => return self.fail_op(id, op, &format!("{path}: {e}")),
                };
                let (tx, rx) = rtrb::RingBuffer::new(16_000);
                let c = self.calls.get_mut(&id).expect("checked");
                c.media = Some(MediaOp::Record {
                    op,
                    path: path.clone(),
                    ring: rx,
                    writer: Some(WavOut(writer)),
                    samples: 0,
                    term,
                });
                self.send(
                    ch,
                    MediaCommand::Record {
                        op: OpId(op),
                        ring: tx,
                        max_ms,
                        final_silence_ms,
                    },
                );
                if let Some(c) = self.calls.get_mut(&id) {
                    c.view.recordings.push(path.clone());
                }
                self.note(id, format!("record {path}"));
            }
            Request::Stop(target) => {
                let c = self.calls.get_mut(&id).expect("checked");
                match &c.media {
                    Some(MediaOp::Collect { op: o, collect }) if *o == target => {
                        let digits = collect.digits().to_string();
                        c.media = None;
                        self.complete(id, target, sys::TIPRING_R_STOPPED, &digits, "{}");
                    }
                    Some(MediaOp::Play {
                        op: o,
                        playing: false,
                        collect: Some(col),
                        ..
                    }) if *o == target => {
                        let digits = col.digits().to_string();
                        c.media = None;
                        self.complete(id, target, sys::TIPRING_R_STOPPED, &digits, "{}");
                    }
                    Some(m) if m.op() == target => {
                        self.send(ch, MediaCommand::Stop { op: OpId(target) })
                    }
                    _ => {}
                }
            }
            Request::SendDtmf(d) => {
                let c = self.calls.get_mut(&id).expect("checked");
                c.media = Some(MediaOp::Dtmf { op });
                self.send(
                    ch,
                    MediaCommand::SendDtmf {
                        op: OpId(op),
                        digits: d,
                    },
                );
            }
            Request::Timer(ms) => {
                let due = self.now + u64::from(ms);
                let c = self.calls.get_mut(&id).expect("checked");
                c.timers.push((due, op));
            }
            Request::Originate { dest, opts: _ } => {
                let parsed = parse_dest(&dest);
                match parsed {
                    Ok((n, number)) => {
                        match self.start_outbound(
                            ChannelId(n),
                            number,
                            Presentation::default(),
                            None,
                            "{}",
                            Some((id, op)),
                        ) {
                            Ok(child) => {
                                self.note(id, format!("calling channel {n} (call {})", child.0))
                            }
                            Err(e) => self.fail_op(id, op, &e.to_string()),
                        }
                    }
                    Err(e) => self.fail_op(id, op, &e),
                }
            }
            Request::Bridge(other) => self.bridge(id, op, ChannelId(other)),
            Request::Transfer(dest) => {
                let fxo = self
                    .lines
                    .get(&ch)
                    .is_some_and(|l| l.info.kind == ChannelKind::Fxo);
                match Digits::parse(ch, &dest) {
                    Ok(d) if fxo => {
                        let c = self.calls.get_mut(&id).expect("checked");
                        c.transfer = Some(op);
                        self.send(ch, MediaCommand::Line(Command::Flash));
                        self.send(ch, MediaCommand::Line(Command::Dial(d)));
                        self.note(id, format!("transferring to {dest}"));
                    }
                    Ok(_) => self.fail_op(id, op, "blind transfer needs an FXO line (hook flash)"),
                    Err(e) => self.fail_op(id, op, &e.to_string()),
                }
            }
        }
    }

    fn prompt(&mut self, path: &str) -> Result<Arc<[i16]>, String> {
        if let Some(a) = self.prompts.get(path) {
            return Ok(Arc::clone(a));
        }
        // Decoded on the control thread, once per file; the media thread gets the samples.
        let wav = crate::wav::read(std::path::Path::new(path))?;
        let audio: Arc<[i16]> = wav.samples.into();
        if self.prompts.len() < 4096 {
            self.prompts.insert(path.to_string(), Arc::clone(&audio));
        }
        Ok(audio)
    }

    fn bridge(&mut self, id: CallId, op: u64, other_ch: ChannelId) {
        let Some(other) = self.lines.get(&other_ch).and_then(|l| l.call) else {
            return self.fail_op(id, op, &format!("no call on channel {}", other_ch.0));
        };
        if other == id {
            return self.fail_op(id, op, "a call cannot be bridged to itself");
        }
        let up = |c: Option<&Call>| c.is_some_and(|c| c.state == State::Up && c.bridge.is_none());
        if !up(self.calls.get(&id)) || !up(self.calls.get(&other)) {
            return self.fail_op(id, op, "both calls must be answered and not bridged");
        }
        let ch = self.calls[&id].channel;
        let (a_tx, b_rx) = rtrb::RingBuffer::new(1600);
        let (b_tx, a_rx) = rtrb::RingBuffer::new(1600);
        // A running playback on either side stops (the caller hears the other party now).
        for (call, chan) in [(id, ch), (other, other_ch)] {
            if let Some(c) = self.calls.get(&call)
                && let Some(m) = &c.media
            {
                let o = m.op();
                self.send(chan, MediaCommand::Stop { op: OpId(o) });
            }
        }
        self.send(
            ch,
            MediaCommand::Bridge {
                to_peer: a_tx,
                from_peer: a_rx,
            },
        );
        self.send(
            other_ch,
            MediaCommand::Bridge {
                to_peer: b_tx,
                from_peer: b_rx,
            },
        );
        if let Some(c) = self.calls.get_mut(&id) {
            c.bridge = Some((other, Some(op)));
            c.view.bridged_to = Some(other.0);
        }
        if let Some(c) = self.calls.get_mut(&other) {
            c.bridge = Some((id, None));
            c.view.bridged_to = Some(id.0);
        }
        self.note(
            id,
            format!("bridged to call {} on channel {}", other.0, other_ch.0),
        );
        self.note(other, format!("bridged to call {}", id.0));
    }

    // ---- outbound ----------------------------------------------------------------------

    /// Places a call on `channel` (to `number` on an FXO line), run by `handler` with
    /// `params` once answered. Returns the call's id at once; the outcome is in the call's
    /// record.
    ///
    /// # Errors
    /// The channel doesn't exist or is busy, the handler isn't loaded, the number is bad.
    pub fn originate(
        &mut self,
        channel: u32,
        number: Option<&str>,
        handler: Option<&str>,
        params: &str,
    ) -> Result<CallId, SwitchError> {
        self.originate_as(channel, number, handler, params, None, false)
    }

    /// As [`Switch::originate`], presenting `caller` as the calling number (none: the
    /// channel's own) and asking the network to withhold it when `withhold` (digital and
    /// SIP channels; an analog line has no way to say either).
    ///
    /// # Errors
    /// As [`Switch::originate`]; also a bad `caller`.
    pub fn originate_as(
        &mut self,
        channel: u32,
        number: Option<&str>,
        handler: Option<&str>,
        params: &str,
        caller: Option<&str>,
        withhold: bool,
    ) -> Result<CallId, SwitchError> {
        if self.draining {
            return Err(SwitchError::Draining);
        }
        let h = match handler {
            Some(n) => Some(
                self.handlers
                    .get(n)
                    .cloned()
                    .ok_or_else(|| SwitchError::NoHandler(n.to_string()))?,
            ),
            None => None,
        };
        let number = match number {
            Some(n) => Some(
                Digits::parse(ChannelId(channel), n)
                    .map_err(|e| SwitchError::BadNumber(n.to_string(), e.to_string()))?,
            ),
            None => None,
        };
        let caller = match caller {
            Some(n) => Some(
                Digits::parse(ChannelId(channel), n)
                    .map_err(|e| SwitchError::BadNumber(n.to_string(), e.to_string()))?,
            ),
            None => None,
        };
        let presentation = Presentation { caller, withhold };
        let id = self.start_outbound(ChannelId(channel), number, presentation, h, params, None)?;
        self.run(id);
        Ok(id)
    }

    fn start_outbound(
        &mut self,
        ch: ChannelId,
        number: Option<Digits>,
        presentation: Presentation,
        handler: Option<Arc<Handler>>,
        params: &str,
        parent: Option<(CallId, u64)>,
    ) -> Result<CallId, SwitchError> {
        let line = self.lines.get(&ch).ok_or(SwitchError::NoChannel(ch.0))?;
        if let Some(c) = line.call {
            return Err(SwitchError::ChannelBusy(ch.0, c.0));
        }
        if line.ringing.is_some() {
            return Err(SwitchError::Ringing(ch.0));
        }
        if let Some(a) = line.alarm {
            return Err(SwitchError::OutOfService(ch.0, alarm_name(a)));
        }
        let kind = line.info.kind;
        let orig = match kind {
            ChannelKind::Fxs => Orig::Ringing {
                until: self.now + self.timing.no_answer_ms,
            },
            ChannelKind::Fxo => {
                if number.is_none() {
                    return Err(SwitchError::NeedNumber(ch.0));
                }
                Orig::DialTone {
                    until: self.now + self.timing.dial_tone_ms,
                }
            }
            // T1/E1 timeslots whose signalling the media thread carries (E&M): seize,
            // wait for the far end's go-ahead (a wink), dial.
            ChannelKind::T1 { .. } | ChannelKind::E1 { .. }
                if !self.line_control.contains_key(&ch) =>
            {
                if number.is_none() {
                    return Err(SwitchError::NeedNumber(ch.0));
                }
                Orig::DialTone {
                    until: self.now + self.timing.dial_tone_ms,
                }
            }
            ChannelKind::Sip | ChannelKind::T1 { .. } | ChannelKind::E1 { .. }
                if self.line_control.contains_key(&ch) =>
            {
                if number.is_none() {
                    return Err(SwitchError::NeedNumber(ch.0));
                }
                Orig::Supervising {
                    until: self.now + self.timing.no_answer_ms,
                }
            }
            other => return Err(SwitchError::CannotOriginate(ch.0, other.name())),
        };
        let id = self.new_call(ch, false, handler.clone(), parent);
        if let Some(c) = self.calls.get_mut(&id) {
            c.orig = Some(orig.clone());
            c.view.called = number.as_ref().map(|d| d.as_str().to_string());
            c.view.caller = presentation.caller.as_ref().map(|d| d.as_str().to_string());
            c.view.presentation = if presentation.withhold {
                Some("restricted")
            } else if presentation.caller.is_some() {
                Some("allowed")
            } else {
                None
            };
            c.number = number;
            c.presentation = presentation;
        }
        if let Some(h) = handler
            && !self.attach(id, h, params)
        {
            return Ok(id);
        }
        match orig {
            Orig::Ringing { .. } => {
                // The phone is told who calls when the call says (the API's `caller` or
                // `withhold`, or a bridged call's caller).
                let ring = match self.calls.get(&id).map(|c| c.presentation.clone()) {
                    Some(p) if p.caller.is_some() || p.withhold => {
                        Command::RingCaller(tipring_hal::Caller {
                            number: p.caller,
                            withheld: p.withhold,
                        })
                    }
                    _ => Command::Ring,
                };
                self.send(ch, MediaCommand::Line(ring));
                let now = self.wall();
                if let Some(c) = self.calls.get_mut(&id) {
                    c.view.ring_ms = Some(now);
                }
                self.note(id, "ringing the phone");
            }
            Orig::Supervising { .. } => {
                if let Some((n, p)) = self
                    .calls
                    .get(&id)
                    .and_then(|c| Some((c.number.clone()?, c.presentation.clone())))
                {
                    self.note(id, format!("calling {}", n.as_str()));
                    self.send(
                        ch,
                        MediaCommand::Line(Command::Call {
                            number: n,
                            caller: p.caller,
                            withhold: p.withhold,
                        }),
                    );
                }
            }
            _ => {
                self.send(ch, MediaCommand::DetectProgress(true));
                self.send(ch, MediaCommand::Line(Command::Seize));
                self.note(
                    id,
                    "seized; waiting for dial tone (or, on an E&M trunk, the wink)",
                );
            }
        }
        Ok(id)
    }

    fn dial(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(number) = c.number.clone() else {
            return;
        };
        c.orig = Some(Orig::Dialling);
        let ch = c.channel;
        self.send(ch, MediaCommand::Line(Command::Dial(number.clone())));
        self.note(id, format!("dialling {}", number.as_str()));
    }

    fn answered(&mut self, id: CallId) {
        let now_wall = self.wall();
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.state == State::Up {
            return;
        }
        let outbound = c.orig.take().is_some();
        c.state = State::Up;
        c.view.state = "up";
        c.view.answered_ms = Some(now_wall);
        let ch = c.channel;
        if outbound {
            c.view.outcome = Some("answered");
        }
        // FXO lines: the exchange's busy or congestion tone after the answer is the far
        // end's hang-up on lines that give no other disconnect signal, so the detector
        // keeps listening for the whole call.
        let fxo = self
            .lines
            .get(&ch)
            .is_some_and(|l| l.info.kind == ChannelKind::Fxo);
        if fxo {
            self.send(ch, MediaCommand::DetectProgress(true));
        } else if outbound {
            self.send(ch, MediaCommand::DetectProgress(false));
        }
        let c = self.calls.get_mut(&id).expect("present");
        let ops = std::mem::take(&mut c.answer_ops);
        if c.instance.is_some() {
            c.pending.push_back(HostEvent {
                kind: sys::TIPRING_EV_ANSWERED,
                ..Default::default()
            });
        }
        let parent = c.parent;
        let ch = c.channel;
        for op in ops {
            self.complete(id, op, sys::TIPRING_R_DONE, "", "{}");
        }
        self.note(id, "answered");
        if let Some((p, op)) = parent {
            let detail = serde_json::json!({"channel": ch.0, "call": id.0}).to_string();
            self.complete(p, op, sys::TIPRING_R_DONE, "", &detail);
        }
    }

    fn orig_failed(&mut self, id: CallId, result: u32, cause: Cause, outcome: &'static str) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.orig.take().is_none() {
            return;
        }
        c.view.outcome = Some(outcome);
        let parent = c.parent;
        let ch = c.channel;
        if let Some((p, op)) = parent {
            let detail =
                serde_json::json!({"channel": ch.0, "call": id.0, "outcome": outcome}).to_string();
            if let Some(pc) = self.calls.get_mut(&p) {
                pc.pending.push_back(HostEvent {
                    kind: sys::TIPRING_EV_OP_COMPLETE,
                    op,
                    result,
                    cause: u32::from(cause.0),
                    detail,
                    ..Default::default()
                });
            }
            if let Some(c) = self.calls.get_mut(&id) {
                c.parent = None;
            }
        }
        self.note(id, format!("outcome: {outcome}"));
        self.end_call(id, cause, true);
    }

    // ---- ending ------------------------------------------------------------------------

    /// Ends a call: see the module docs. `local`: we hang up (the line is released).
    fn end_call(&mut self, id: CallId, cause: Cause, local: bool) {
        let _span = self.enter(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.ending {
            return;
        }
        c.ending = true;
        let ch = c.channel;
        let _ = local;
        // Pending operation → HANGUP.
        if let Some(m) = c.media.take() {
            let op = m.op();
            if let MediaOp::Record {
                writer: Some(WavOut(w)),
                ..
            } = m
            {
                let _ = w.finalize();
            }
            if let Some(inst) = &c.instance {
                inst.ctx().media_busy.set(false);
            }
            if c.instance.is_some() {
                c.pending.push_back(HostEvent {
                    kind: sys::TIPRING_EV_OP_COMPLETE,
                    op,
                    result: sys::TIPRING_R_HANGUP,
                    ..Default::default()
                });
            }
        }
        if let Some(op) = c.transfer.take() {
            c.pending.push_back(HostEvent {
                kind: sys::TIPRING_EV_OP_COMPLETE,
                op,
                result: sys::TIPRING_R_HANGUP,
                ..Default::default()
            });
        }
        if let Some(inst) = &c.instance {
            inst.ctx().gone.set(true);
        }
        let bridge = c.bridge.take();
        c.orig = None;
        // The line and the media.
        self.send(ch, MediaCommand::Line(Command::Hangup(cause)));
        self.send(ch, MediaCommand::Reset);
        if let Some(l) = self.lines.get_mut(&ch) {
            l.call = None;
            l.ringing = None;
        }
        // The bridge's other leg.
        if let Some((other, my_op)) = bridge {
            if let Some(op) = my_op {
                self.complete(id, op, sys::TIPRING_R_HANGUP, "", "{}");
            }
            let other_ch = self.calls.get(&other).map(|o| o.channel);
            if let Some(o) = self.calls.get_mut(&other) {
                let their_op = o.bridge.take().and_then(|b| b.1);
                o.view.bridged_to = None;
                if let Some(op) = their_op {
                    o.pending.push_back(HostEvent {
                        kind: sys::TIPRING_EV_OP_COMPLETE,
                        op,
                        result: sys::TIPRING_R_HANGUP,
                        ..Default::default()
                    });
                }
            }
            if let Some(och) = other_ch {
                self.send(och, MediaCommand::Unbridge);
                self.note(other, format!("the bridged call {} ended", id.0));
                // A leg without a handler has nothing left to do.
                if self.calls.get(&other).is_some_and(|o| o.instance.is_none()) {
                    self.end_call(other, Cause::NORMAL_CLEARING, true);
                } else {
                    self.run(other);
                }
            }
        }
        // Legs this call placed end with it.
        let children: Vec<CallId> = self
            .calls
            .values()
            .filter(|x| x.parent.is_some_and(|p| p.0 == id) && x.instance.is_none())
            .map(|x| x.id)
            .collect();
        for child in children {
            if let Some(cc) = self.calls.get_mut(&child) {
                cc.parent = None;
            }
            self.end_call(child, Cause::NORMAL_CLEARING, true);
        }
        // The handler hears the rest, then HANGUP, then goes.
        let now_wall = self.wall();
        if let Some(c) = self.calls.get_mut(&id) {
            c.pending.push_back(HostEvent {
                kind: sys::TIPRING_EV_HANGUP,
                cause: u32::from(cause.0),
                ..Default::default()
            });
            c.view.state = "ended";
            c.view.ended_ms = Some(now_wall);
            if let Some(r) = self
                .rtp
                .as_ref()
                .and_then(|b| b.get(ChannelId(c.view.channel)))
            {
                c.view.rtp = Some(r);
            }
            c.view.cause = Some(u32::from(cause.0));
            c.view.cause_text = Some(cause.name().to_string());
            if c.view.outcome.is_none() && !c.inbound && c.view.answered_ms.is_none() {
                c.view.outcome = Some("failed");
            }
            let outcome = c.view.outcome.unwrap_or(if c.view.answered_ms.is_some() {
                "answered"
            } else {
                "unanswered"
            });
            *self
                .stats
                .ended
                .entry((if c.inbound { "inbound" } else { "outbound" }, outcome))
                .or_default() += 1;
        }
        let ended_note = format!("ended: {cause}");
        let at_ms = self.wall();
        if let Some(mut c) = self.calls.remove(&id) {
            // In the call's events now; on the stream once the record is written.
            if c.view.events.len() < VIEW_EVENTS {
                c.view.events.push(EventView {
                    at_ms,
                    event: ended_note.clone(),
                });
            }
            // Answers an isolated handler still owes: the one in flight, and one per event
            // sent now.
            let in_flight = c.instance.as_ref().and_then(Attached::in_flight);
            let mut owed: VecDeque<u32> = in_flight.iter().map(|f| f.kind).collect();
            while let Some(ev) = c.pending.pop_front() {
                if let Some(inst) = c.instance.as_mut() {
                    // Requests made now are moot: the call is over.
                    inst.deliver_last(&ev);
                    owed.push_back(ev.kind);
                }
            }
            if let Some(inst) = c.instance.take() {
                c.view.vars = inst.ctx().vars.borrow().clone();
                match inst {
                    Attached::Remote(r) if !owed.is_empty() && !r.host.exited() => {
                        r.send_destroy();
                        c.view.state = "ending";
                        self.closing.insert(
                            id,
                            Closing {
                                view: c.view,
                                instance: Attached::Remote(r),
                                owed,
                                since: in_flight.map_or_else(std::time::Instant::now, |f| f.since),
                                ended_note,
                            },
                        );
                        return;
                    }
                    inst => inst.destroy(),
                }
            }
            self.write_record(c.view, ended_note);
        }
    }

    /// Writes an ended call's record, then keeps its view for the API and tells the stream
    /// (`note`): the record is written before anything can see the call as ended.
    fn write_record(&mut self, mut view: CallView, note: String) {
        view.state = "ended";
        if let Some((run, store)) = self.store.as_mut() {
            let r = crate::records::CallRecord::of(*run, &view);
            if let Err(e) = store.record(&r) {
                self.record_failures += 1;
                tracing::error!(
                    call = view.id,
                    channel = view.channel,
                    "{e}: the call's record is kept in memory only"
                );
            }
        }
        self.push_stream(view.channel, Some(view.id), note);
        if self.ended.len() >= ENDED_KEPT {
            self.ended.pop_front();
        }
        self.ended.push_back(view);
    }

    /// An isolated handler's answer for a call that has ended: its variables go to the
    /// record; the last answer writes it.
    fn closing_answer(
        &mut self,
        host: u32,
        id: CallId,
        rc: i32,
        vars: Option<BTreeMap<String, String>>,
    ) {
        let Some(cl) = self.closing.get_mut(&id) else {
            return; // an answer for a call long gone
        };
        let Attached::Remote(r) = &cl.instance else {
            return;
        };
        if r.host.id != host {
            return;
        }
        if let Some(v) = vars {
            if let Err(why) = crate::handler::remote::check_vars(&v) {
                self.hosts.kill(host, why);
                return; // its end report writes the record
            }
            cl.view.vars = v;
        }
        let answered = cl.owed.pop_front();
        cl.since = std::time::Instant::now();
        let refused = answered == Some(CREATE) && rc != 0;
        if cl.owed.is_empty() || refused {
            self.close(id);
        }
    }

    /// Writes the record of an ended call that was waiting for its handler's answers.
    fn close(&mut self, id: CallId) {
        if let Some(cl) = self.closing.remove(&id) {
            // Dropping the instance counts the call off its host.
            drop(cl.instance);
            self.write_record(cl.view, cl.ended_note);
        }
    }

    /// Writes the records of every ended call still waiting for its isolated handler's
    /// answers, without them (at shutdown: nothing is lost for want of an answer).
    pub fn flush_closing(&mut self) {
        // Answers already in are taken first.
        for _ in 0..10_000 {
            let Some(n) = self.hosts.poll() else {
                break;
            };
            self.host_note(n);
        }
        let ids: Vec<CallId> = self.closing.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    // ---- the API -----------------------------------------------------------------------

    /// Stores every finished call's record in `store`, for the run that started at `run`
    /// (Unix ms).
    pub fn set_store(&mut self, run: u64, store: Box<dyn crate::records::CallStore>) {
        self.store = Some((run, store));
    }

    /// Stored call records matching `q`; `None` when no store is configured.
    ///
    /// # Errors
    /// The store could not be read.
    pub fn records(
        &self,
        q: &crate::records::Query,
    ) -> Option<Result<Vec<crate::records::CallRecord>, crate::records::StoreError>> {
        self.store.as_ref().map(|(_, s)| s.query(q))
    }

    /// Hangs up call `id` (normal clearing).
    ///
    /// # Errors
    /// No such live call.
    pub fn hangup(&mut self, id: u64) -> Result<(), SwitchError> {
        if !self.calls.contains_key(&CallId(id)) {
            return Err(SwitchError::NoCall(id));
        }
        self.note(CallId(id), "hung up through the API");
        self.end_call(CallId(id), Cause::NORMAL_CLEARING, true);
        Ok(())
    }

    /// Every live call, then the ended ones kept (newest last).
    pub fn calls(&self) -> Vec<CallView> {
        self.ended
            .iter()
            .map(|v| self.ended_view(v))
            .chain(self.closing.values().map(|c| self.ended_view(&c.view)))
            .chain(self.calls.values().map(|c| self.live_view(c)))
            .collect()
    }

    /// An ended call's view. Its RTP figures were taken when the switch ended it, which
    /// can be before the media thread published the call's last ones (it does so when the
    /// media stops): while the channel's figures are still this call's (same SSRC of
    /// ours), the newer ones are shown.
    ///
    /// A call shorter than the first publication (about a second) ended with no figures;
    /// it takes the channel's last ones when it is the channel's latest call and the
    /// channel is idle (a later call's figures would come after a later record).
    fn ended_view(&self, v: &CallView) -> CallView {
        let mut v = v.clone();
        let Some(now) = self.rtp_of(v.channel) else {
            return v;
        };
        let newer = match v.rtp {
            Some(old) => !old.last && now.ssrc == old.ssrc,
            None => {
                now.last
                    && self
                        .lines
                        .get(&ChannelId(v.channel))
                        .is_some_and(|l| l.call.is_none())
                    // The latest by id, not by place in the ended list: a call whose
                    // isolated handler kept it `ending` is listed after newer ones.
                    && self
                        .ended
                        .iter()
                        .chain(self.closing.values().map(|c| &c.view))
                        .filter(|e| e.channel == v.channel)
                        .map(|e| e.id)
                        .max()
                        == Some(v.id)
            }
        };
        if newer {
            v.rtp = Some(now);
        }
        v
    }

    /// One call, live or ended.
    pub fn call(&self, id: u64) -> Option<CallView> {
        self.calls
            .get(&CallId(id))
            .map(|c| self.live_view(c))
            .or_else(|| {
                self.closing
                    .get(&CallId(id))
                    .map(|c| self.ended_view(&c.view))
            })
            .or_else(|| {
                self.ended
                    .iter()
                    .rev()
                    .find(|v| v.id == id)
                    .map(|v| self.ended_view(v))
            })
    }

    /// Every channel.
    pub fn channels(&self) -> Vec<ChannelView> {
        self.lines
            .values()
            .map(|l| ChannelView {
                id: l.info.id.0,
                kind: l.info.kind.name(),
                backend: l.info.backend,
                location: l.info.location.to_string(),
                state: if l.alarm.is_some() {
                    "alarm"
                } else if l.call.is_some() {
                    "in-call"
                } else if l.ringing.is_some() {
                    "ringing"
                } else {
                    "idle"
                },
                call: l.call.map(|c| c.0),
                capture: self
                    .captures
                    .get(&l.info.id)
                    .map(|c| c.path.display().to_string()),
            })
            .collect()
    }

    /// Starts capturing channel `n`'s audio, both directions, into a stereo WAV file in
    /// `dir` (left: received, after echo cancellation; right: sent); returns the file.
    ///
    /// # Errors
    /// No such channel, a capture already on, or the file cannot be made.
    pub fn capture_start(
        &mut self,
        n: u32,
        dir: &std::path::Path,
    ) -> Result<std::path::PathBuf, SwitchError> {
        let ch = ChannelId(n);
        if !self.lines.contains_key(&ch) {
            return Err(SwitchError::NoChannel(n));
        }
        if let Some(c) = self.captures.get(&ch) {
            return Err(SwitchError::Capture(format!(
                "channel {n} is already captured into {}",
                c.path.display()
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| SwitchError::Capture(format!("{}: {e}", dir.display())))?;
        let path = dir.join(format!("ch{n}-{}.wav", self.wall()));
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&path, spec)
            .map_err(|e| SwitchError::Capture(format!("{}: {e}", path.display())))?;
        // Two seconds each: the control loop drains them every few milliseconds.
        let (rx_p, rx) = rtrb::RingBuffer::new(16_000);
        let (tx_p, tx) = rtrb::RingBuffer::new(16_000);
        self.send(ch, MediaCommand::Capture { rx: rx_p, tx: tx_p });
        // A SIP channel's packets too (1 MiB: seconds of RTP between the loop's drains).
        let mut pcap = None;
        if let Some(lc) = self.line_control.get(&ch) {
            let (p, ring) = rtrb::RingBuffer::new(1 << 20);
            if lc.tap(ch, Some(p)) {
                let ppath = path.with_extension("pcap");
                let header = pcap_file::pcap::PcapHeader {
                    datalink: pcap_file::DataLink::RAW,
                    ..Default::default()
                };
                match std::fs::File::create(&ppath)
                    .map_err(|e| e.to_string())
                    .and_then(|f| {
                        pcap_file::pcap::PcapWriter::with_header(std::io::BufWriter::new(f), header)
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(writer) => {
                        pcap = Some(PcapOut {
                            path: ppath,
                            ring,
                            writer,
                            start_ms: self.wall(),
                            first_at: None,
                            packets: 0,
                        });
                    }
                    Err(e) => {
                        lc.tap(ch, None);
                        self.closing_taps.push(ring);
                        tracing::warn!(channel = n, "no packet capture: {}: {e}", ppath.display());
                    }
                }
            }
        }
        tracing::info!(channel = n, file = %path.display(), "capture started");
        self.captures.insert(
            ch,
            CaptureFile {
                path: path.clone(),
                rx,
                tx,
                writer: WavOut(writer),
                frames: 0,
                pcap,
            },
        );
        Ok(path)
    }

    /// Stops channel `n`'s capture; returns the file and its length, s.
    ///
    /// # Errors
    /// No capture on that channel, or the file cannot be finished.
    pub fn capture_stop(&mut self, n: u32) -> Result<(std::path::PathBuf, f64), SwitchError> {
        let ch = ChannelId(n);
        self.drain_captures();
        let Some(c) = self.captures.remove(&ch) else {
            return Err(SwitchError::Capture(format!(
                "channel {n} is not being captured"
            )));
        };
        self.send(ch, MediaCommand::CaptureStop);
        if let Some(mut p) = c.pcap {
            p.drain();
            if let Some(lc) = self.line_control.get(&ch) {
                lc.tap(ch, None);
            }
            let _ = std::io::Write::flush(&mut p.writer.into_writer());
            tracing::info!(channel = n, file = %p.path.display(), packets = p.packets, "packet capture stopped");
            // The media thread lets go of its end when it takes the untap: the ring is
            // freed here, after that.
            self.closing_taps.push(p.ring);
        }
        let secs = c.frames as f64 / 8000.0;
        c.writer
            .0
            .finalize()
            .map_err(|e| SwitchError::Capture(format!("{}: {e}", c.path.display())))?;
        tracing::info!(channel = n, file = %c.path.display(), seconds = secs, "capture stopped");
        Ok((c.path, secs))
    }

    /// Moves captured audio from the media threads' rings into the files: sample pairs
    /// (received, sent) as far as both directions have arrived.
    fn drain_captures(&mut self) {
        for c in self.captures.values_mut() {
            let n = c.rx.slots().min(c.tx.slots());
            let (Ok(r), Ok(t)) = (c.rx.read_chunk(n), c.tx.read_chunk(n)) else {
                continue;
            };
            for (a, b) in r.into_iter().zip(t) {
                let _ = c.writer.0.write_sample(a);
                let _ = c.writer.0.write_sample(b);
            }
            c.frames += n as u64;
            if let Some(p) = c.pcap.as_mut() {
                p.drain();
            }
        }
        self.closing_taps.retain(|r| !r.is_abandoned());
    }

    /// Live calls, and ended ones whose record waits for their handler's last answers.
    pub fn active(&self) -> usize {
        self.calls.len() + self.closing.len()
    }

    /// Stops taking new calls (inbound ones are left ringing, originate is refused).
    pub fn set_draining(&mut self) {
        self.draining = true;
    }

    /// Hangs up every live call (normal clearing).
    pub fn hangup_all(&mut self) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.end_call(id, Cause::NORMAL_CLEARING, true);
        }
    }

    /// The first idle channel of `channels`.
    pub fn idle_of(&self, channels: &[u32]) -> Option<u32> {
        channels.iter().copied().find(|c| {
            self.lines
                .get(&ChannelId(*c))
                .is_some_and(|l| l.call.is_none() && l.ringing.is_none())
        })
    }
}

/// `channel:N[/NUMBER]`.
fn parse_dest(d: &str) -> Result<(u32, Option<Digits>), String> {
    let rest = d
        .strip_prefix("channel:")
        .ok_or_else(|| format!("destination {d:?} must be channel:N[/NUMBER]"))?;
    let (n, number) = match rest.split_once('/') {
        Some((n, num)) => (n, Some(num)),
        None => (rest, None),
    };
    let n: u32 = n
        .parse()
        .map_err(|_| format!("destination {d:?}: {n:?} is not a channel number"))?;
    let number = number
        .map(|x| Digits::parse(ChannelId(n), x).map_err(|e| e.to_string()))
        .transpose()?;
    Ok((n, number))
}

fn tone_name(t: ProgressTone) -> &'static str {
    match t {
        ProgressTone::Dial => "dial tone",
        ProgressTone::Ringback => "ringback",
        ProgressTone::Busy => "busy",
        ProgressTone::Congestion => "congestion",
        ProgressTone::Sit(_) => "SIT",
        ProgressTone::Cng => "fax CNG",
        ProgressTone::Ced => "fax CED",
    }
}

/// An event kind in words, for log lines.
fn event_name(kind: u32) -> &'static str {
    match kind {
        CREATE => "instance_create",
        sys::TIPRING_EV_OFFER => "OFFER",
        sys::TIPRING_EV_ANSWERED => "ANSWERED",
        sys::TIPRING_EV_OP_COMPLETE => "OP_COMPLETE",
        sys::TIPRING_EV_DTMF => "DTMF",
        sys::TIPRING_EV_HANGUP => "HANGUP",
        sys::TIPRING_EV_TIMER => "TIMER",
        sys::TIPRING_EV_WAKE => "WAKE",
        sys::TIPRING_EV_MESSAGE => "MESSAGE",
        sys::TIPRING_EV_FLASH => "FLASH",
        _ => "an event",
    }
}
