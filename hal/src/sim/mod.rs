//! The simulated board: analog lines facing simulated phones (FXS ports) and lines facing a
//! simulated exchange (FXO ports), with scripted remote parties.
//!
//! Everything the far ends send is real in-band audio made by the DSP core: a phone keys
//! DTMF with the DTMF generator, the exchange plays the tone plan's dial tone, ringback and
//! busy, and sends caller ID as Bell 202 / V.23 FSK in the silence after the first ring. The
//! board has to detect all of it from the audio, as it would on a real card: there is no
//! out-of-band shortcut. The far ends hear the board with the DSP detectors too: the
//! exchange collects the digits the board dials in band, and every party reports the DTMF
//! digits and call-progress tones it hears.
//!
//! * **Phones** (channels `1..=phones`, kind [`Fxs`](crate::ChannelKind::Fxs)) go off hook,
//!   run a [`Script`], flash and hang up when told through [`SimControl`], and answer the
//!   board's ringing by themselves after a set delay ([`SimControl::auto_answer`]).
//! * **Exchange lines** (the next `trunks` channels, kind [`Fxo`](crate::ChannelKind::Fxo))
//!   ring the board for an inbound call ([`SimControl::ring_in`], 2 s on / 4 s off by
//!   default) and connect the caller's script when the board answers. When the board seizes
//!   one they give dial tone, collect the digits the board dials, and route them through the
//!   [`Directory`]: a callee that answers after a delay (with a polarity reversal if asked),
//!   busy, congestion, no answer; numbers not listed get SIT.
//!
//! **Time.** A shard's clock is its frame count: [`Pacing::Virtual`](crate::Pacing) runs as
//! fast as the engine ticks (minutes of calls in milliseconds), [`Pacing::Realtime`] ticks
//! from a timerfd.
//!
//! **Real time.** The shard's methods never allocate: scripts are fixed-capacity, commands
//! and reports cross between the planes through preallocated [`rtrb`] rings (a full ring is
//! counted, never waited for). Audio for [`Step::Play`] is shared (`Arc<[i16]>`);
//! [`SimControl`] keeps a reference to every buffer it sent, so the media thread never frees
//! one.
//!
//! [`Pacing::Realtime`]: crate::Pacing::Realtime

mod line;
mod party;

pub use party::{MAX_STEPS, Script, Step};

use crate::audio::{AudioFormat, MAX_FRAME_SAMPLES};
use crate::channel::{ChannelInfo, ChannelKind};
use crate::clock::{Pacing, Ticker};
use crate::error::HalError;
use crate::ids::ChannelId;
use crate::shard::Shard;
use crate::signal::{Command, Digits, Signal};
use line::{Ctx, Line};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use tipring_dsp::cid::{CallerId, Format, FskStandard, Message};
use tipring_dsp::progress::plan::TonePlan;
use tipring_dsp::progress::{ProgressDetector, ProgressTone};

/// What the exchange does with a dialled number.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "scripts are inline so that they reach the media thread without allocating"
)]
pub enum Destination {
    /// Ringback, then the callee answers after `after_ms` and runs `script`; with
    /// `polarity`, the line reverses polarity on answer (answer supervision).
    Answer {
        /// Ringing time before the answer, ms.
        after_ms: u32,
        /// Reverse polarity on answer.
        polarity: bool,
        /// What the callee does.
        script: Script,
    },
    /// Busy tone.
    Busy,
    /// Congestion (reorder) tone.
    Congestion,
    /// Ringback for ever.
    NoAnswer,
}

/// The exchange's numbers.
pub type Directory = Vec<(Digits, Destination)>;

/// How to build a simulated board.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Lines facing simulated phones (FXS ports): channels `1..=phones`.
    pub phones: u32,
    /// Lines facing the simulated exchange (FXO ports): the next `trunks` channels.
    pub trunks: u32,
    /// Every channel's audio format.
    pub format: AudioFormat,
    /// The exchange's (and the parties' detectors') tone plan.
    pub plan: &'static TonePlan,
    /// Caller-ID modulation the exchange uses.
    pub cid_standard: FskStandard,
    /// Ring cadence, ms on and off.
    pub ring_on_ms: u32,
    /// See `ring_on_ms`.
    pub ring_off_ms: u32,
    /// The exchange's numbers.
    pub directory: Directory,
    /// Media threads to split the lines across (at least 1).
    pub shards: usize,
    /// Real or virtual clock.
    pub pacing: Pacing,
}

impl Default for SimConfig {
    /// Four phones and four exchange lines, μ-law 20 ms, US tones and Bell 202 caller ID,
    /// one shard on the real clock, an empty directory.
    fn default() -> Self {
        SimConfig {
            phones: 4,
            trunks: 4,
            format: AudioFormat::default(),
            plan: &tipring_dsp::progress::plan::US,
            cid_standard: FskStandard::Bell202,
            ring_on_ms: 2000,
            ring_off_ms: 4000,
            directory: Directory::new(),
            shards: 1,
            pacing: Pacing::Realtime,
        }
    }
}

/// What a board's shards share, read-only.
#[derive(Debug)]
pub(crate) struct Settings {
    pub plan: &'static TonePlan,
    pub cid_standard: FskStandard,
    pub ring_on_ms: u32,
    pub ring_off_ms: u32,
    pub directory: Directory,
    /// A detector of the plan's tones, cloned by every party (sharing its tables).
    pub detector: ProgressDetector,
}

/// Something a simulated far end did or heard.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    /// The party heard a DTMF digit from the board.
    HeardDigit(char),
    /// The party heard a call-progress tone from the board.
    HeardTone(ProgressTone),
    /// The exchange received this number from the board and routed it.
    Dialled(Digits),
    /// A phone answered the board's ringing, or the exchange's callee answered.
    Answered,
    /// An inbound caller gave up: the exchange stopped ringing unanswered.
    GaveUp,
    /// The party's script ran to its end.
    ScriptDone,
}

/// A [`SimEvent`] on a line, at a time of the line's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    /// The line.
    pub line: ChannelId,
    /// Milliseconds of the shard's clock.
    pub at_ms: u64,
    /// What happened.
    pub event: SimEvent,
}

/// Signals waiting for the engine: preallocated, counted when full.
#[derive(Debug)]
pub(crate) struct Signals {
    queue: VecDeque<(usize, Signal)>,
    lost: u64,
}

impl Signals {
    fn new(capacity: usize) -> Self {
        Signals {
            queue: VecDeque::with_capacity(capacity),
            lost: 0,
        }
    }
    pub(crate) fn push(&mut self, slot: usize, s: Signal) {
        if self.queue.len() < self.queue.capacity() {
            self.queue.push_back((slot, s));
        } else {
            self.lost += 1;
        }
    }
}

/// Reports to the control plane: a preallocated ring, counted when full.
#[derive(Debug)]
pub(crate) struct Reports {
    ring: rtrb::Producer<SimReport>,
    lost: u64,
}

impl Reports {
    pub(crate) fn push(&mut self, line: ChannelId, now: u64, event: SimEvent) {
        let at_ms = now / 8;
        if self.ring.push(SimReport { line, at_ms, event }).is_err() {
            self.lost += 1;
        }
    }
}

/// A command from [`SimControl`] to a line.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "scripts are inline so that they reach the media thread without allocating"
)]
enum Action {
    OffHook(Script),
    OnHook,
    Flash,
    Run(Script),
    AutoAnswer(Option<u32>, Script),
    RingIn {
        cid: Option<tipring_dsp::cid::Frame>,
        rings: u32,
        script: Script,
    },
    Record(Option<rtrb::Producer<i16>>),
}

#[derive(Debug)]
struct Order {
    slot: usize,
    action: Action,
}

/// Why the sim refused a control request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No line with this number.
    #[error("sim line {0}: no such line (the board has {1})")]
    NoSuchLine(u32, u32),
    /// The request doesn't fit the line (`ring` on a phone line, `offhook` twice).
    #[error("sim line {line}: cannot {what}: {reason}")]
    Refused {
        /// The line.
        line: u32,
        /// The request.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The media thread has not taken earlier requests yet: try again.
    #[error("sim line {0}: too many requests waiting for the media thread, try again")]
    Full(u32),
    /// Caller ID that can't be sent.
    #[error("sim line {line}: bad caller ID: {reason}")]
    CallerId {
        /// The line.
        line: u32,
        /// Why.
        reason: String,
    },
    /// The board could not be built.
    #[error("sim board: {0}")]
    Build(String),
}

/// Control orders and reports waiting per shard: at least these, and a few per line.
const ORDER_CAPACITY: usize = 1024;
const REPORT_CAPACITY: usize = 8192;

/// Builds a simulated board: its shards (one per media thread) and the handle that plays
/// the far ends.
///
/// # Errors
/// No lines, no shard, or the clock could not be set up.
pub fn build(config: SimConfig) -> Result<(Vec<SimShard>, SimControl), SimError> {
    let total = config.phones + config.trunks;
    if total == 0 {
        return Err(SimError::Build("no lines: set phones or trunks".into()));
    }
    let settings = Arc::new(Settings {
        plan: config.plan,
        cid_standard: config.cid_standard,
        ring_on_ms: config.ring_on_ms,
        ring_off_ms: config.ring_off_ms,
        directory: config.directory,
        detector: party::detector(config.plan),
    });
    let shards_n = config.shards.clamp(1, total as usize);
    let per = (total as usize).div_ceil(shards_n);
    let mut shards = Vec::new();
    let mut control = SimControl {
        orders: Vec::new(),
        reports: Vec::new(),
        lines: Vec::new(),
        kept: Vec::new(),
        total,
    };
    for first in (1..=total).step_by(per) {
        let last = (first + per as u32 - 1).min(total);
        let shard_index = shards.len();
        let mut lines = Vec::new();
        let mut infos = Vec::new();
        for n in first..=last {
            let phone = n <= config.phones;
            let mut location = heapless::String::new();
            let _ = if phone {
                write!(location, "sim phone {n}")
            } else {
                write!(location, "sim exchange line {}", n - config.phones)
            };
            let info = ChannelInfo {
                id: ChannelId(n),
                kind: if phone {
                    ChannelKind::Fxs
                } else {
                    ChannelKind::Fxo
                },
                format: config.format,
                backend: "sim",
                location,
                echo_tail_ms: 0,
            };
            control.lines.push((shard_index, lines.len(), phone));
            lines.push(Line::new(info.clone(), &settings));
            infos.push(info);
        }
        let (order_tx, order_rx) = rtrb::RingBuffer::new(ORDER_CAPACITY.max(4 * lines.len()));
        let (report_tx, report_rx) = rtrb::RingBuffer::new(REPORT_CAPACITY.max(16 * lines.len()));
        control.orders.push(order_tx);
        control.reports.push(report_rx);
        let ticker = Ticker::new(config.format.period, config.pacing)
            .map_err(|e| SimError::Build(e.to_string()))?;
        let count = lines.len();
        shards.push(SimShard {
            infos,
            lines,
            ticker,
            now: 0,
            frame: config.format.period.samples(),
            signals: Signals::new(count * 8 + 64),
            orders: order_rx,
            reports: Reports {
                ring: report_tx,
                lost: 0,
            },
            settings: Arc::clone(&settings),
            scratch: [0; MAX_FRAME_SAMPLES],
        });
    }
    Ok((shards, control))
}

/// One media thread's lines of the simulated board.
#[derive(Debug)]
pub struct SimShard {
    infos: Vec<ChannelInfo>,
    lines: Vec<Line>,
    ticker: Ticker,
    /// Samples since the start.
    now: u64,
    frame: usize,
    signals: Signals,
    orders: rtrb::Consumer<Order>,
    reports: Reports,
    settings: Arc<Settings>,
    scratch: [i16; MAX_FRAME_SAMPLES],
}

impl SimShard {
    /// Signals dropped because the engine did not poll them in time.
    pub fn signals_lost(&self) -> u64 {
        self.signals.lost
    }

    /// Reports dropped because [`SimControl::poll`] did not keep up.
    pub fn reports_lost(&self) -> u64 {
        self.reports.lost
    }

    /// Milliseconds of this shard's clock.
    pub fn now_ms(&self) -> u64 {
        self.now / 8
    }

    fn ctx(&mut self) -> (Ctx<'_>, &mut Vec<Line>) {
        (
            Ctx {
                now: self.now,
                settings: &self.settings,
                signals: &mut self.signals,
                reports: &mut self.reports,
            },
            &mut self.lines,
        )
    }

    fn carry_out(&mut self, order: Order) {
        let (mut ctx, lines) = self.ctx();
        let Some(line) = lines.get_mut(order.slot) else {
            return;
        };
        // Refusals were checked by SimControl where it could; what only the line knows
        // (its hook state) is dropped here, as a real phone ignores a second off-hook.
        let _ = match order.action {
            Action::OffHook(script) => line.phone_hook(order.slot, true, script, &mut ctx),
            Action::OnHook => line.phone_hook(order.slot, false, Script::new(), &mut ctx),
            Action::Flash => line.phone_flash(order.slot, &mut ctx),
            Action::Run(script) => line.run(script),
            Action::AutoAnswer(after, script) => line.auto_answer(after, script),
            Action::RingIn { cid, rings, script } => line.ring_in(cid, rings, script, &mut ctx),
            Action::Record(ring) => {
                line.set_record(ring);
                Ok(())
            }
        };
    }
}

impl Shard for SimShard {
    fn channels(&self) -> &[ChannelInfo] {
        &self.infos
    }

    fn wait_tick(&mut self) -> Result<u64, HalError> {
        let n = self.ticker.wait()?;
        while let Ok(order) = self.orders.pop() {
            self.carry_out(order);
        }
        let (mut ctx, lines) = self.ctx();
        for (slot, line) in lines.iter_mut().enumerate() {
            line.tick(slot, &mut ctx);
        }
        self.now += self.frame as u64;
        Ok(n)
    }

    fn read(&mut self, slot: usize, frame: &mut [u8]) -> Result<usize, HalError> {
        let line = self.lines.get(slot).ok_or(HalError::NoSuchChannel {
            channel: ChannelId(u32::MAX),
        })?;
        let f = line.info.format;
        let n = f.encoding.encode(line.far_audio(), frame);
        Ok(n * f.encoding.bytes_per_sample())
    }

    fn write(&mut self, slot: usize, frame: &[u8]) -> Result<(), HalError> {
        let mut scratch = self.scratch;
        let now = self.now.saturating_sub(self.frame as u64);
        let (mut ctx, lines) = self.ctx();
        ctx.now = now;
        let line = lines.get_mut(slot).ok_or(HalError::NoSuchChannel {
            channel: ChannelId(u32::MAX),
        })?;
        let f = line.info.format;
        let n = f.encoding.decode(frame, &mut scratch[..f.period.samples()]);
        scratch[n..].fill(0);
        line.hear(slot, &mut scratch[..f.period.samples()], &mut ctx);
        Ok(())
    }

    fn command(&mut self, slot: usize, command: &Command) -> Result<(), HalError> {
        let now = self.now.saturating_sub(self.frame as u64);
        let (mut ctx, lines) = self.ctx();
        ctx.now = now;
        let line = lines.get_mut(slot).ok_or(HalError::NoSuchChannel {
            channel: ChannelId(u32::MAX),
        })?;
        line.command(command, &mut ctx)
    }

    fn poll_signal(&mut self) -> Option<(usize, Signal)> {
        self.signals.queue.pop_front()
    }
}

/// Plays the far ends of a simulated board from the control plane: phones' hooks and
/// scripts, inbound calls from the exchange, recordings; and collects what they report.
#[derive(Debug)]
pub struct SimControl {
    orders: Vec<rtrb::Producer<Order>>,
    reports: Vec<rtrb::Consumer<SimReport>>,
    /// Per line (channel number − 1): shard, slot, is a phone.
    lines: Vec<(usize, usize, bool)>,
    /// Every audio buffer sent in a script, so the media thread never frees one.
    kept: Vec<Arc<[i16]>>,
    total: u32,
}

impl SimControl {
    fn line(&self, line: u32) -> Result<(usize, usize, bool), SimError> {
        line.checked_sub(1)
            .and_then(|i| self.lines.get(i as usize))
            .copied()
            .ok_or(SimError::NoSuchLine(line, self.total))
    }

    fn keep(&mut self, script: &Script) {
        for step in script {
            if let Step::Play { audio } = step
                && !self.kept.iter().any(|k| Arc::ptr_eq(k, audio))
            {
                self.kept.push(Arc::clone(audio));
            }
        }
    }

    fn send(&mut self, line: u32, action: Action) -> Result<(), SimError> {
        let (shard, slot, _) = self.line(line)?;
        match &action {
            Action::OffHook(s) | Action::Run(s) | Action::AutoAnswer(_, s) => self.keep(s),
            Action::RingIn { script, .. } => self.keep(script),
            _ => {}
        }
        self.orders[shard]
            .push(Order { slot, action })
            .map_err(|_| SimError::Full(line))
    }

    fn phone(&self, line: u32, what: &'static str) -> Result<(), SimError> {
        if self.line(line)?.2 {
            Ok(())
        } else {
            Err(SimError::Refused {
                line,
                what,
                reason: "it faces the exchange, not a phone".into(),
            })
        }
    }

    /// The phone on `line` goes off hook (answering if the board rings it) and runs `script`.
    ///
    /// # Errors
    /// No such line, not a phone, or the media thread is behind.
    pub fn offhook(&mut self, line: u32, script: Script) -> Result<(), SimError> {
        self.phone(line, "go off hook")?;
        self.send(line, Action::OffHook(script))
    }

    /// The phone on `line` hangs up.
    ///
    /// # Errors
    /// As [`offhook`](Self::offhook).
    pub fn onhook(&mut self, line: u32) -> Result<(), SimError> {
        self.phone(line, "go on hook")?;
        self.send(line, Action::OnHook)
    }

    /// The phone on `line` flashes its hook.
    ///
    /// # Errors
    /// As [`offhook`](Self::offhook).
    pub fn flash(&mut self, line: u32) -> Result<(), SimError> {
        self.phone(line, "flash")?;
        self.send(line, Action::Flash)
    }

    /// The party on `line` (a phone off hook, or a connected caller or callee behind the
    /// exchange) starts `script`, abandoning what it was doing.
    ///
    /// # Errors
    /// No such line, or the media thread is behind.
    pub fn run(&mut self, line: u32, script: Script) -> Result<(), SimError> {
        self.send(line, Action::Run(script))
    }

    /// The phone on `line` answers the board's ringing after `after_ms` (never if `None`),
    /// then runs `script`.
    ///
    /// # Errors
    /// As [`offhook`](Self::offhook).
    pub fn auto_answer(
        &mut self,
        line: u32,
        after_ms: Option<u32>,
        script: Script,
    ) -> Result<(), SimError> {
        self.phone(line, "auto-answer")?;
        self.send(line, Action::AutoAnswer(after_ms, script))
    }

    /// The exchange rings the board on `line` for an inbound call: `rings` bursts at most
    /// (then the caller gives up), caller ID (MDMF) after the first one if given, and
    /// `script` for the caller once the board answers.
    ///
    /// # Errors
    /// No such line, a phone line, caller ID that can't be encoded, or the media thread is
    /// behind.
    pub fn ring_in(
        &mut self,
        line: u32,
        caller: Option<&CallerId>,
        rings: u32,
        script: Script,
    ) -> Result<(), SimError> {
        if self.line(line)?.2 {
            return Err(SimError::Refused {
                line,
                what: "ring",
                reason: "it faces a phone, not the exchange".into(),
            });
        }
        let cid = caller
            .map(|c| tipring_dsp::cid::encode(&Message::CallerId(c.clone()), Format::Mdmf))
            .transpose()
            .map_err(|e| SimError::CallerId {
                line,
                reason: e.to_string(),
            })?;
        self.send(line, Action::RingIn { cid, rings, script })
    }

    /// Records what the party on `line` hears from now on, into a ring of `capacity`
    /// samples; returns its reading end (keep it until the recording is replaced).
    ///
    /// # Errors
    /// No such line, or the media thread is behind.
    pub fn record(&mut self, line: u32, capacity: usize) -> Result<rtrb::Consumer<i16>, SimError> {
        let (tx, rx) = rtrb::RingBuffer::new(capacity);
        self.send(line, Action::Record(Some(tx)))?;
        Ok(rx)
    }

    /// The oldest report from any shard.
    pub fn poll(&mut self) -> Option<SimReport> {
        self.reports.iter_mut().find_map(|r| r.pop().ok())
    }

    /// Number of lines.
    pub fn lines(&self) -> u32 {
        self.total
    }
}
