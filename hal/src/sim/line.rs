//! One simulated line: the board's port on one side, a phone or the exchange on the other.

use super::party::{Effect, Heard, Party, Script, samples};
use super::{Destination, Settings, SimEvent};
use crate::audio::MAX_FRAME_SAMPLES;
use crate::cause::Cause;
use crate::channel::{ChannelInfo, ChannelKind};
use crate::error::HalError;
use crate::signal::{Command, Digits, Signal};
use tipring_dsp::cid::{Frame, FskConfig, FskModulator};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::progress::ToneGenerator;
use tipring_dsp::progress::plan::ToneDescriptor;

/// Where the media thread's lines report to: fixed-capacity queues, counted when full.
pub(crate) struct Ctx<'a> {
    /// Sample count at the start of this frame.
    pub now: u64,
    pub settings: &'a Settings,
    pub signals: &'a mut super::Signals,
    pub reports: &'a mut super::Reports,
}

impl Ctx<'_> {
    fn signal(&mut self, slot: usize, s: Signal) {
        self.signals.push(slot, s);
    }
    fn report(&mut self, line: &ChannelInfo, event: SimEvent) {
        self.reports.push(line.id, self.now, event);
    }
}

/// What the exchange is doing on a trunk line.
#[derive(Debug, Clone, PartialEq)]
enum Exchange {
    /// Nothing: the line is idle or the board is on hook.
    Idle,
    /// Ringing the board: `on` during a burst; the next cadence edge at `edge`; `rings`
    /// bursts left before the caller gives up.
    Ringing { on: bool, edge: u64, rings: u32 },
    /// The board is off hook and hears dial tone.
    DialTone,
    /// Digits are coming; the last one at `last`.
    Digits { last: u64 },
    /// Audible ringing; the callee answers at `answer_at` (never if `None`).
    Ringback { answer_at: Option<u64> },
    /// Busy, congestion or SIT, until the board hangs up.
    Refused,
    /// Talking to the party.
    Connected,
    /// The far end cleared; silence until the board hangs up.
    Released,
}

/// The far side of an FXO port.
#[derive(Debug)]
struct Trunk {
    state: Exchange,
    /// The board is off hook.
    board_off_hook: bool,
    /// The board's `Dial` command, sent in band in place of its audio.
    dialler: DtmfGenerator,
    dialling: bool,
    /// The exchange's ear for the board's dialling.
    ear: DtmfRx,
    number: Digits,
    tone: Option<ToneGenerator>,
    fsk: FskModulator,
    /// Caller ID to send after the first ring, and when.
    cid: Option<Frame>,
    cid_at: Option<u64>,
    /// What the caller of an inbound call (or the answering callee) does.
    script: Script,
}

/// The far side of an FXS port.
#[derive(Debug)]
struct Phone {
    off_hook: bool,
    /// The board rings the phone since this sample.
    ringing_since: Option<u64>,
    /// The phone answers a ring after this long, running `answer_script`.
    auto_answer: Option<u64>,
    answer_script: Script,
}

#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "a line is built once; its state stays in one block, with no pointer to chase"
)]
enum Far {
    Phone(Phone),
    Trunk(Trunk),
}

/// A simulated line.
#[derive(Debug)]
pub(crate) struct Line {
    pub(crate) info: ChannelInfo,
    far: Far,
    party: Party,
    /// What the far end sends during the current frame.
    out: [i16; MAX_FRAME_SAMPLES],
    frame: usize,
    /// The party's script had steps left at the previous frame.
    was_busy: bool,
}

impl Line {
    pub(crate) fn new(info: ChannelInfo, settings: &Settings) -> Self {
        let frame = info.format.period.samples();
        let far = match info.kind {
            ChannelKind::Fxo => Far::Trunk(Trunk {
                state: Exchange::Idle,
                board_off_hook: false,
                dialler: DtmfGenerator::new(DtmfGenConfig::default())
                    .expect("the default DTMF generator settings are valid"),
                dialling: false,
                ear: DtmfRx::new(DtmfRxConfig::default())
                    .expect("the default DTMF receiver settings are valid"),
                number: Digits::default(),
                tone: None,
                fsk: FskModulator::new(FskConfig::on_hook(settings.cid_standard)),
                cid: None,
                cid_at: None,
                script: Script::new(),
            }),
            _ => Far::Phone(Phone {
                off_hook: false,
                ringing_since: None,
                auto_answer: None,
                answer_script: Script::new(),
            }),
        };
        Line {
            info,
            far,
            party: Party::new(&settings.detector),
            out: [0; MAX_FRAME_SAMPLES],
            frame,
            was_busy: false,
        }
    }

    /// Advances the far end by one frame: timers, cadences, the party's script; renders the
    /// frame the board will read.
    pub(crate) fn tick(&mut self, slot: usize, ctx: &mut Ctx<'_>) {
        let frame = self.frame;
        let out = &mut self.out[..frame];
        out.fill(0);
        match &mut self.far {
            Far::Phone(p) => {
                if let (Some(since), Some(after)) = (p.ringing_since, p.auto_answer)
                    && !p.off_hook
                    && ctx.now >= since + after
                {
                    p.ringing_since = None;
                    p.off_hook = true;
                    self.party.run(p.answer_script.clone());
                    ctx.signal(slot, Signal::OffHook);
                    ctx.report(&self.info, SimEvent::Answered);
                }
                if p.off_hook {
                    match self.party.talk(out) {
                        Some(Effect::Hangup) => {
                            p.off_hook = false;
                            self.party.reset();
                            ctx.signal(slot, Signal::OnHook);
                        }
                        Some(Effect::Flash) => ctx.signal(slot, Signal::Flash),
                        None => {}
                    }
                }
            }
            Far::Trunk(t) => {
                Self::tick_trunk(t, &mut self.party, &self.info, slot, out, ctx);
            }
        }
        let busy = !self.party.is_idle();
        if self.was_busy && !busy {
            ctx.report(&self.info, SimEvent::ScriptDone);
        }
        self.was_busy = busy;
    }

    fn tick_trunk(
        t: &mut Trunk,
        party: &mut Party,
        info: &ChannelInfo,
        slot: usize,
        out: &mut [i16],
        ctx: &mut Ctx<'_>,
    ) {
        let s = ctx.settings;
        let frame_end = ctx.now + out.len() as u64;
        match t.state {
            Exchange::Ringing { on, edge, rings } if ctx.now >= edge => {
                if on {
                    ctx.signal(slot, Signal::RingEnd);
                    // Caller ID goes in the first silence, 0.5 s after the burst (GR-30).
                    if t.cid.is_some() && t.cid_at.is_none() {
                        t.cid_at = Some(edge + samples(500) as u64);
                    }
                    let rings = rings.saturating_sub(1);
                    t.state = Exchange::Ringing {
                        on: false,
                        edge: edge + samples(s.ring_off_ms) as u64,
                        rings,
                    };
                } else if rings == 0 {
                    t.state = Exchange::Idle;
                    t.cid = None;
                    t.cid_at = None;
                    ctx.report(info, SimEvent::GaveUp);
                } else {
                    ctx.signal(slot, Signal::RingBegin);
                    t.state = Exchange::Ringing {
                        on: true,
                        edge: edge + samples(s.ring_on_ms) as u64,
                        rings,
                    };
                }
            }
            Exchange::Digits { last } if ctx.now >= last + samples(INTERDIGIT_MS) as u64 => {
                Self::route(t, party, info, ctx, true);
            }
            Exchange::Ringback {
                answer_at: Some(at),
            } if ctx.now >= at => {
                t.tone = None;
                t.state = Exchange::Connected;
                party.run(t.script.clone());
                if let Some(Destination::Answer { polarity: true, .. }) = Self::lookup(s, &t.number)
                {
                    ctx.signal(slot, Signal::Polarity);
                }
                ctx.report(info, SimEvent::Answered);
            }
            _ => {}
        }
        // The frame's audio.
        match t.state {
            Exchange::Ringing { .. } | Exchange::Idle => {
                if let (Some(frame), Some(at)) = (&t.cid, t.cid_at)
                    && frame_end > at
                {
                    if !t.fsk.is_busy() && ctx.now <= at {
                        // Loaded once: the frame was checked when the call was set up.
                        let _ = t.fsk.load(frame);
                    }
                    let skip = (at.saturating_sub(ctx.now) as usize).min(out.len());
                    let _ = t.fsk.generate(&mut out[skip..]);
                    if !t.fsk.is_busy() {
                        t.cid = None;
                    }
                }
            }
            Exchange::DialTone | Exchange::Ringback { .. } | Exchange::Refused => {
                if let Some(g) = &mut t.tone {
                    let _ = g.generate(out);
                }
            }
            Exchange::Connected => match party.talk(out) {
                Some(Effect::Hangup) => {
                    t.state = Exchange::Released;
                    party.reset();
                    ctx.signal(slot, Signal::RemoteHangup(Cause::NORMAL_CLEARING));
                }
                Some(Effect::Flash) | None => {}
            },
            Exchange::Digits { .. } | Exchange::Released => {}
        }
    }

    /// The directory entry for `number`, if any.
    fn lookup<'s>(s: &'s Settings, number: &Digits) -> Option<&'s Destination> {
        s.directory
            .iter()
            .find(|(n, _)| n.as_str() == number.as_str())
            .map(|(_, d)| d)
    }

    /// Routes the digits received so far: at once on an exact match that no longer entry
    /// extends, or (when `timeout`) on whatever was dialled; unknown numbers get SIT.
    fn route(
        t: &mut Trunk,
        party: &mut Party,
        info: &ChannelInfo,
        ctx: &mut Ctx<'_>,
        timeout: bool,
    ) {
        let s = ctx.settings;
        let exact = Self::lookup(s, &t.number);
        let longer = s
            .directory
            .iter()
            .any(|(n, _)| n.len() > t.number.len() && n.as_str().starts_with(t.number.as_str()));
        if !timeout && (exact.is_none() || longer) {
            return;
        }
        ctx.report(info, SimEvent::Dialled(t.number.clone()));
        let plan = s.plan;
        let (state, tone): (Exchange, Option<&'static ToneDescriptor>) = match exact {
            None => (Exchange::Refused, Some(plan.sit)),
            Some(Destination::Busy) => (Exchange::Refused, Some(plan.busy)),
            Some(Destination::Congestion) => (Exchange::Refused, Some(plan.congestion)),
            Some(Destination::NoAnswer) => {
                (Exchange::Ringback { answer_at: None }, Some(plan.ringback))
            }
            Some(Destination::Answer {
                after_ms, script, ..
            }) => {
                t.script = script.clone();
                (
                    Exchange::Ringback {
                        answer_at: Some(ctx.now + samples(*after_ms) as u64),
                    },
                    Some(plan.ringback),
                )
            }
        };
        party.reset();
        t.state = state;
        t.tone = tone.map(ToneGenerator::new);
    }

    /// The board's frame for this period: what the far end hears.
    pub(crate) fn hear(&mut self, slot: usize, frame: &mut [i16], ctx: &mut Ctx<'_>) {
        let info = &self.info;
        match &mut self.far {
            Far::Phone(p) => {
                if p.off_hook {
                    self.party.listen(frame, |h| ctx.report(info, heard(h)));
                }
            }
            Far::Trunk(t) => {
                if t.dialling {
                    // The dialler replaces the board's audio, as a card's DAHDI_DIAL does.
                    frame.fill(0);
                    let _ = t.dialler.generate(frame);
                    if t.dialler.is_idle() {
                        t.dialling = false;
                        ctx.signal(slot, Signal::DialComplete);
                    }
                }
                match t.state {
                    Exchange::DialTone | Exchange::Digits { .. } => {
                        let mut rest: &[i16] = frame;
                        while !rest.is_empty() {
                            let k = t.ear.process(rest);
                            rest = &rest[k..];
                            let mut polled = false;
                            while let Some(ev) = t.ear.poll_event() {
                                polled = true;
                                if let DtmfEvent::Begin { digit, .. } = ev {
                                    t.tone = None;
                                    let _ = t.number.push(digit);
                                    t.state = Exchange::Digits { last: ctx.now };
                                }
                            }
                            if k == 0 && !polled {
                                break;
                            }
                        }
                        if matches!(t.state, Exchange::Digits { .. }) {
                            Self::route(t, &mut self.party, info, ctx, false);
                        }
                    }
                    Exchange::Connected => {
                        self.party.listen(frame, |h| ctx.report(info, heard(h)));
                    }
                    _ => {}
                }
            }
        }
    }

    /// The far end's audio for this frame.
    pub(crate) fn far_audio(&self) -> &[i16] {
        &self.out[..self.frame]
    }

    /// A command from the board.
    pub(crate) fn command(&mut self, cmd: &Command, ctx: &mut Ctx<'_>) -> Result<(), HalError> {
        let channel = self.info.id;
        let unsupported = |command| HalError::Unsupported {
            channel,
            kind: self.info.kind,
            command,
        };
        match &mut self.far {
            Far::Phone(p) => match cmd {
                // The sim's phones show no caller ID: they ring.
                Command::Ring | Command::RingCaller(_) => {
                    if p.off_hook {
                        return Err(HalError::InvalidState {
                            channel,
                            command: "ring",
                            state: "off hook",
                        });
                    }
                    p.ringing_since.get_or_insert(ctx.now);
                    Ok(())
                }
                Command::RingOff => {
                    p.ringing_since = None;
                    Ok(())
                }
                Command::Answer if p.off_hook => Ok(()),
                Command::Answer => Err(HalError::InvalidState {
                    channel,
                    command: "answer",
                    state: "on hook",
                }),
                Command::Hangup(_) => {
                    p.ringing_since = None;
                    Ok(())
                }
                Command::Seize | Command::Flash | Command::Dial(_) | Command::Call { .. } => {
                    Err(unsupported(cmd.verb()))
                }
            },
            Far::Trunk(t) => match cmd {
                Command::Seize | Command::Answer => {
                    if t.board_off_hook {
                        return if matches!(cmd, Command::Answer) {
                            Ok(())
                        } else {
                            Err(HalError::InvalidState {
                                channel,
                                command: "seize",
                                state: "off hook",
                            })
                        };
                    }
                    t.board_off_hook = true;
                    if let Exchange::Ringing { .. } = t.state {
                        // Answering (a seize while ringing is glare: it answers too).
                        t.state = Exchange::Connected;
                        t.cid = None;
                        t.cid_at = None;
                        self.party.run(t.script.clone());
                    } else if matches!(cmd, Command::Answer) {
                        t.board_off_hook = false;
                        return Err(HalError::InvalidState {
                            channel,
                            command: "answer",
                            state: "not ringing",
                        });
                    } else {
                        t.number = Digits::default();
                        t.ear.reset();
                        t.state = Exchange::DialTone;
                        t.tone = Some(ToneGenerator::new(ctx.settings.plan.dial));
                    }
                    Ok(())
                }
                Command::Hangup(_) => {
                    t.board_off_hook = false;
                    t.dialler.clear();
                    t.dialling = false;
                    if !matches!(t.state, Exchange::Ringing { .. }) {
                        t.state = Exchange::Idle;
                        t.tone = None;
                        self.party.reset();
                    }
                    Ok(())
                }
                Command::Flash if t.board_off_hook => Ok(()),
                Command::Flash => Err(HalError::InvalidState {
                    channel,
                    command: "flash",
                    state: "on hook",
                }),
                Command::Dial(d) => {
                    if !t.board_off_hook {
                        return Err(HalError::InvalidState {
                            channel,
                            command: "dial",
                            state: "on hook",
                        });
                    }
                    if t.dialling {
                        return Err(HalError::Busy {
                            channel,
                            what: "the dialler",
                        });
                    }
                    // At most 32 digits, already checked: they fit the queue of 64.
                    let _ = t.dialler.queue_digits(d.as_str());
                    t.dialling = true;
                    Ok(())
                }
                Command::Ring
                | Command::RingCaller(_)
                | Command::RingOff
                | Command::Call { .. } => Err(unsupported(cmd.verb())),
            },
        }
    }

    /// A phone's hook, from the sim's control.
    pub(crate) fn phone_hook(
        &mut self,
        slot: usize,
        off_hook: bool,
        script: Script,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), &'static str> {
        let Far::Phone(p) = &mut self.far else {
            return Err("not a phone line");
        };
        if p.off_hook == off_hook {
            return Err(if off_hook {
                "the phone is already off hook"
            } else {
                "the phone is already on hook"
            });
        }
        p.off_hook = off_hook;
        if off_hook {
            let answering = p.ringing_since.take().is_some();
            self.party.run(script);
            ctx.signal(slot, Signal::OffHook);
            if answering {
                ctx.report(&self.info, SimEvent::Answered);
            }
        } else {
            self.party.reset();
            ctx.signal(slot, Signal::OnHook);
        }
        Ok(())
    }

    /// A phone's hook flash, from the sim's control.
    pub(crate) fn phone_flash(
        &mut self,
        slot: usize,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), &'static str> {
        match &self.far {
            Far::Phone(p) if p.off_hook => {
                ctx.signal(slot, Signal::Flash);
                Ok(())
            }
            Far::Phone(_) => Err("the phone is on hook"),
            Far::Trunk(_) => Err("not a phone line"),
        }
    }

    /// Sets how a phone answers the board's ringing.
    pub(crate) fn auto_answer(
        &mut self,
        after_ms: Option<u32>,
        script: Script,
    ) -> Result<(), &'static str> {
        let Far::Phone(p) = &mut self.far else {
            return Err("not a phone line");
        };
        p.auto_answer = after_ms.map(|ms| samples(ms) as u64);
        p.answer_script = script;
        Ok(())
    }

    /// Starts an inbound call from the exchange.
    pub(crate) fn ring_in(
        &mut self,
        cid: Option<Frame>,
        rings: u32,
        script: Script,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), &'static str> {
        let Far::Trunk(t) = &mut self.far else {
            return Err("not an exchange line");
        };
        if t.board_off_hook || t.state != Exchange::Idle {
            return Err("the line is in use");
        }
        t.cid = cid;
        t.cid_at = None;
        t.script = script;
        // The first burst starts at once.
        t.state = Exchange::Ringing {
            on: false,
            edge: ctx.now,
            rings: rings.max(1),
        };
        Ok(())
    }

    /// Replaces what the party is doing (a phone off hook, or a connected trunk's party).
    pub(crate) fn run(&mut self, script: Script) -> Result<(), &'static str> {
        let talking = match &self.far {
            Far::Phone(p) => p.off_hook,
            Far::Trunk(t) => t.state == Exchange::Connected,
        };
        if !talking {
            return Err(match &self.far {
                Far::Phone(_) => "the phone is on hook",
                Far::Trunk(_) => "no call is connected",
            });
        }
        self.party.run(script);
        Ok(())
    }

    pub(crate) fn set_record(&mut self, ring: Option<rtrb::Producer<i16>>) {
        self.party.set_record(ring);
    }
}

/// Inter-digit timeout of the simulated exchange.
const INTERDIGIT_MS: u32 = 3000;

fn heard(h: Heard) -> SimEvent {
    match h {
        Heard::Digit(d) => SimEvent::HeardDigit(d),
        Heard::Tone(t) => SimEvent::HeardTone(t),
    }
}
