//! Line signalling of DAHDI channels as sans-IO state machines: driver events and commands
//! in, HAL signals and device actions out, time passed in (milliseconds of the media
//! thread's clock). Nothing here touches a file descriptor, so every flow is tested on a
//! virtual clock.
//!
//! DAHDI names signalling from the far end's view; this module names ports from ours:
//!
//! * [`Fxs`]: a telephone plugs into the port (DAHDI `fxoks`/`fxols`/`fxogs`). Tipring rings
//!   it, hears its hook and flashes, and disconnects it by dropping battery.
//! * [`Fxo`]: the port plugs into an exchange or PBX extension line (DAHDI `fxsks`/…).
//!   Tipring hears rings, answers and seizes by going off hook, dials, and supervises the
//!   far end's disconnect (loop-current drop, polarity reversal; busy tone is heard by the
//!   engine's detector).
//! * [`Digital`]: a T1/E1 timeslot whose signalling is carried elsewhere (PRI B-channels):
//!   alarms only.
//!
//! **Hook flash and debounce (FXS).** A phone's hook switch bounces, and a flash is a short
//! on-hook. An on-hook the driver reports is held for `flash_max_ms`: off hook again within
//! `flash_min_ms` is a bounce (nothing), between the two a flash, and a longer one a hang-up
//! (reported when the window closes). A driver that decides flashes itself (`WINKFLASH`)
//! is believed at once.
//!
//! **Disconnect supervision (FXO).** A loop-current drop (`ONHOOK` on kewlstart lines) while
//! off hook is the far end's hang-up. With `hangup_on_polarity`, a second polarity reversal
//! (back to normal after the answer reversed it) is too.
//!
//! **Alarms.** Every kind forwards the driver's `ALARM`/`NOALARM` as [`Signal::Alarm`] and
//! [`Signal::AlarmCleared`]; while in alarm the channel refuses commands.

use super::cid::CidStyle;
use super::sys;
use crate::cause::Cause;
use crate::channel::ChannelKind;
use crate::error::HalError;
use crate::ids::ChannelId;
use crate::signal::{Alarm, Caller, Command, Digits, Signal};

/// A DAHDI event, decoded from `DAHDI_GETEVENT`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceEvent {
    /// Hook on (FXS port: the phone hung up; FXO port: loop current dropped).
    OnHook,
    /// Hook off (FXS port: the phone lifted) or, on an FXO port, a ring burst ended.
    RingOffHook,
    /// A flash (FXS port) or wink (E&M).
    WinkFlash,
    /// A span alarm was raised.
    Alarm,
    /// The span's alarms cleared.
    NoAlarm,
    /// A `DAHDI_DIAL` string has been sent.
    DialComplete,
    /// FXS port ringer: a burst started.
    RingerOn,
    /// FXS port ringer: a burst ended (the gap for caller ID).
    RingerOff,
    /// A flash or wink Tipring asked for is done.
    HookComplete,
    /// The line's polarity reversed.
    Polarity,
    /// FXO port: a ring burst started.
    RingBegin,
    /// The hardware is gone.
    Removed,
    /// A rotary (pulse) digit.
    PulseDigit(char),
    /// Anything else (HDLC errors, fax tones, buffer events): counted, not acted on.
    Other(i32),
}

impl DeviceEvent {
    /// Decodes `DAHDI_GETEVENT`'s value (0, "none", is not an event: `None`).
    pub fn from_raw(code: nix::libc::c_int) -> Option<Self> {
        Some(match code {
            sys::EVENT_NONE => return None,
            sys::EVENT_ONHOOK => DeviceEvent::OnHook,
            sys::EVENT_RINGOFFHOOK => DeviceEvent::RingOffHook,
            sys::EVENT_WINKFLASH => DeviceEvent::WinkFlash,
            sys::EVENT_ALARM => DeviceEvent::Alarm,
            sys::EVENT_NOALARM => DeviceEvent::NoAlarm,
            sys::EVENT_DIALCOMPLETE => DeviceEvent::DialComplete,
            sys::EVENT_RINGERON => DeviceEvent::RingerOn,
            sys::EVENT_RINGEROFF => DeviceEvent::RingerOff,
            sys::EVENT_HOOKCOMPLETE => DeviceEvent::HookComplete,
            sys::EVENT_POLARITY => DeviceEvent::Polarity,
            sys::EVENT_RINGBEGIN => DeviceEvent::RingBegin,
            sys::EVENT_REMOVED => DeviceEvent::Removed,
            c if c & sys::EVENT_PULSEDIGIT != 0 => {
                DeviceEvent::PulseDigit(char::from((c & 0xff) as u8))
            }
            c => DeviceEvent::Other(c),
        })
    }
}

/// What a state machine asks of the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `DAHDI_HOOK` with this value (`sys::HOOK_*`).
    Hook(nix::libc::c_int),
    /// `DAHDI_DIAL` these digits as DTMF.
    Dial(Digits),
    /// `DAHDI_SETPOLARITY`: reversed or not.
    Polarity(bool),
    /// Send a caller-ID burst to the phone (on hook) in the board's style; the shard calls
    /// [`LineSignalling::cid_done`] when it has been sent.
    SendCid(Caller),
    /// Abandon the burst being sent.
    StopCid,
}

/// Up to this many outputs per event or command.
const OUT: usize = 4;

/// What one step produced: signals for call control, actions for the device.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Signals, in order.
    pub signals: heapless::Vec<Signal, OUT>,
    /// Actions, in order.
    pub actions: heapless::Vec<Action, OUT>,
}

impl Outputs {
    fn signal(&mut self, s: Signal) {
        let _ = self.signals.push(s);
    }

    fn act(&mut self, a: Action) {
        let _ = self.actions.push(a);
    }
}

/// Timing of an FXS port's hook switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookTiming {
    /// An on-hook shorter than this is a bounce, ms.
    pub flash_min_ms: u64,
    /// An on-hook up to this long is a flash; longer is a hang-up, ms.
    pub flash_max_ms: u64,
}

impl Default for HookTiming {
    fn default() -> Self {
        // Telephones flash for 100–600 ms (ETSI ES 201 970 allows 60–800 ms); switches use
        // windows of this order.
        HookTiming {
            flash_min_ms: 60,
            flash_max_ms: 800,
        }
    }
}

/// Supervision options of an FXO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervision {
    /// A polarity reversal back to normal after the answer's reversal is the far end's
    /// hang-up (on by default: only a line that reversed at the answer can reverse back,
    /// and one that does means the far end cleared).
    pub hangup_on_polarity: bool,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision {
            hangup_on_polarity: true,
        }
    }
}

/// The signalling of one DAHDI channel.
#[derive(Debug, Clone)]
pub enum LineSignalling {
    /// A phone port.
    Fxs(Fxs),
    /// An exchange-line port.
    Fxo(Fxo),
    /// A digital timeslot.
    Digital(Digital),
    /// A T1/E1 timeslot with E&M wink-start signalling (robbed bits or CAS).
    EmWink(EmWink),
}

impl LineSignalling {
    /// The machine for a channel of `kind`; phones on FXS ports are told who calls in
    /// `cid` style.
    pub fn new(
        kind: &ChannelKind,
        hook: HookTiming,
        supervision: Supervision,
        cid: CidStyle,
    ) -> Self {
        match kind {
            ChannelKind::Fxs => LineSignalling::Fxs(Fxs::new(hook, cid)),
            ChannelKind::Fxo => LineSignalling::Fxo(Fxo::new(supervision)),
            _ => LineSignalling::Digital(Digital::default()),
        }
    }

    /// An E&M wink-start timeslot's machine.
    pub fn em_wink() -> Self {
        LineSignalling::EmWink(EmWink::default())
    }

    fn alarm_mut(&mut self) -> &mut bool {
        match self {
            LineSignalling::Fxs(m) => &mut m.alarm,
            LineSignalling::Fxo(m) => &mut m.alarm,
            LineSignalling::Digital(m) => &mut m.alarm,
            LineSignalling::EmWink(m) => &mut m.alarm,
        }
    }

    /// A driver event at `now` ms.
    pub fn event(&mut self, ev: DeviceEvent, now: u64, out: &mut Outputs) {
        let alarm = self.alarm_mut();
        match ev {
            DeviceEvent::Alarm => {
                *alarm = true;
                // The kind comes from the span status; the shard fills it in.
                out.signal(Signal::Alarm(Alarm::Red));
                return;
            }
            DeviceEvent::NoAlarm => {
                *alarm = false;
                out.signal(Signal::AlarmCleared);
                return;
            }
            _ => {}
        }
        match self {
            LineSignalling::Fxs(m) => m.event(ev, now, out),
            LineSignalling::Fxo(m) => m.event(ev, now, out),
            LineSignalling::EmWink(m) => m.event(ev, out),
            LineSignalling::Digital(_) => {}
        }
    }

    /// The caller-ID burst an [`Action::SendCid`] asked for has been sent.
    pub fn cid_done(&mut self, out: &mut Outputs) {
        if let LineSignalling::Fxs(m) = self {
            m.cid_done(out);
        }
    }

    /// Time passes.
    pub fn tick(&mut self, now: u64, out: &mut Outputs) {
        if let LineSignalling::Fxs(m) = self {
            m.tick(now, out);
        }
    }

    /// A command from call control.
    ///
    /// # Errors
    /// The command doesn't fit the port or its state; nothing was done.
    pub fn command(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        cmd: &Command,
        out: &mut Outputs,
    ) -> Result<(), HalError> {
        let alarm = *self.alarm_mut();
        // Hanging up is always allowed: it only puts the port at rest.
        if alarm && !matches!(cmd, Command::Hangup(_)) {
            return Err(invalid(channel, cmd, "its span is in alarm"));
        }
        match self {
            LineSignalling::Fxs(m) => m.command(channel, kind, cmd, out),
            LineSignalling::Fxo(m) => m.command(channel, kind, cmd, out),
            LineSignalling::EmWink(m) => m.command(channel, kind, cmd, out),
            LineSignalling::Digital(_) => match cmd {
                Command::Answer | Command::Hangup(_) | Command::Seize => Ok(()),
                _ => Err(HalError::Unsupported {
                    channel,
                    kind,
                    command: cmd.verb(),
                }),
            },
        }
    }

    /// Whether the channel's span is in alarm.
    pub fn in_alarm(&self) -> bool {
        match self {
            LineSignalling::Fxs(m) => m.alarm,
            LineSignalling::Fxo(m) => m.alarm,
            LineSignalling::Digital(m) => m.alarm,
            LineSignalling::EmWink(m) => m.alarm,
        }
    }
}

/// `cmd` doesn't fit the line's state `s`.
fn invalid(channel: ChannelId, cmd: &Command, s: &'static str) -> HalError {
    HalError::InvalidState {
        channel,
        command: cmd.verb(),
        state: s,
    }
}

/// A digital timeslot's signalling: alarms only.
#[derive(Debug, Clone, Default)]
pub struct Digital {
    alarm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum EmState {
    /// Both sides on hook.
    #[default]
    Idle,
    /// The far end seized; Tipring winked and collects the address digits.
    Incoming,
    /// Tipring seized (`START`); waiting for the far end's wink.
    Starting,
    /// The far end winked: Tipring dials, then waits for the answer.
    Outgoing,
    /// Answered, either way.
    Up,
}

/// An E&M wink-start trunk timeslot (DAHDI `e&m`, robbed bits on T1 or CAS on E1; the
/// driver turns the far end's A bit into hook events and sends ours). Incoming: the far
/// end's seizure is answered with a wink, then it sends the called number in band (DTMF)
/// and the switch collects it as from a phone (no dial tone); answering goes off hook.
/// Outgoing: Tipring seizes (`DAHDI_HOOK` `START`), the far end's wink says "send the
/// number", `DAHDI_DIAL` sends it, and the far end's off hook is the answer. Either side's
/// on hook clears.
#[derive(Debug, Clone, Default)]
pub struct EmWink {
    state: EmState,
    /// Tipring's side is off hook (answered or seized): a hang-up must put it back, even
    /// after the far end cleared.
    ours: bool,
    alarm: bool,
}

impl EmWink {
    fn event(&mut self, ev: DeviceEvent, out: &mut Outputs) {
        match (ev, self.state) {
            (DeviceEvent::RingOffHook, EmState::Idle) => {
                out.act(Action::Hook(sys::HOOK_WINK));
                self.state = EmState::Incoming;
                out.signal(Signal::OffHook);
            }
            (DeviceEvent::WinkFlash, EmState::Starting) => {
                self.state = EmState::Outgoing;
                out.signal(Signal::Wink);
            }
            (DeviceEvent::RingOffHook, EmState::Outgoing) => {
                self.state = EmState::Up;
                out.signal(Signal::RemoteAnswer);
            }
            (DeviceEvent::DialComplete, EmState::Outgoing) => out.signal(Signal::DialComplete),
            (DeviceEvent::OnHook, EmState::Incoming) => {
                self.state = EmState::Idle;
                out.signal(Signal::OnHook);
            }
            (DeviceEvent::OnHook, EmState::Up | EmState::Outgoing | EmState::Starting) => {
                self.state = EmState::Idle;
                out.signal(Signal::RemoteHangup(Cause::NORMAL_CLEARING));
            }
            _ => {}
        }
    }

    fn command(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        cmd: &Command,
        out: &mut Outputs,
    ) -> Result<(), HalError> {
        let state = |s| invalid(channel, cmd, s);
        match cmd {
            Command::Answer => match self.state {
                EmState::Incoming => {
                    out.act(Action::Hook(sys::HOOK_OFFHOOK));
                    self.state = EmState::Up;
                    self.ours = true;
                    Ok(())
                }
                EmState::Up => Ok(()),
                _ => Err(state("the far end has not seized the trunk")),
            },
            Command::Seize => match self.state {
                EmState::Idle => {
                    out.act(Action::Hook(sys::HOOK_START));
                    self.state = EmState::Starting;
                    self.ours = true;
                    Ok(())
                }
                _ => Err(state("the trunk is in use")),
            },
            Command::Dial(d) => match self.state {
                EmState::Outgoing => {
                    out.act(Action::Dial(d.clone()));
                    Ok(())
                }
                EmState::Starting => Err(state("the far end has not winked yet")),
                _ => Err(state("the trunk is not seized")),
            },
            Command::Hangup(_) => {
                if self.ours || self.state != EmState::Idle {
                    out.act(Action::Hook(sys::HOOK_ONHOOK));
                }
                self.state = EmState::Idle;
                self.ours = false;
                Ok(())
            }
            Command::Ring
            | Command::RingCaller(_)
            | Command::RingOff
            | Command::Flash
            | Command::Call { .. } => Err(HalError::Unsupported {
                channel,
                kind,
                command: cmd.verb(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FxsState {
    /// The phone is on hook.
    Idle,
    /// Tipring sends caller ID before the first ring (polarity reversed for ETSI).
    PreRing,
    /// Tipring rings it.
    Ringing,
    /// The phone is off hook.
    OffHook,
    /// The driver said on hook at this time: flash, bounce or hang-up?
    HookPending(u64),
}

/// A phone port.
#[derive(Debug, Clone)]
pub struct Fxs {
    state: FxsState,
    timing: HookTiming,
    alarm: bool,
    cid: CidStyle,
    /// Caller ID still to send, in the first silence between rings.
    pending: Option<Caller>,
    /// A burst is being sent.
    sending: bool,
}

impl Fxs {
    /// A port with the phone on hook.
    pub fn new(timing: HookTiming, cid: CidStyle) -> Self {
        Fxs {
            state: FxsState::Idle,
            timing,
            alarm: false,
            cid,
            pending: None,
            sending: false,
        }
    }

    fn stop_cid(&mut self, out: &mut Outputs) {
        self.pending = None;
        if self.sending {
            self.sending = false;
            out.act(Action::StopCid);
        }
        if self.state == FxsState::PreRing && self.cid == CidStyle::EtsiLineReversal {
            out.act(Action::Polarity(false));
        }
    }

    fn cid_done(&mut self, out: &mut Outputs) {
        self.sending = false;
        if self.state == FxsState::PreRing {
            if self.cid == CidStyle::EtsiLineReversal {
                out.act(Action::Polarity(false));
            }
            out.act(Action::Hook(sys::HOOK_RING));
            self.state = FxsState::Ringing;
        }
    }

    /// Whether the phone is off hook (as reported so far).
    pub fn off_hook(&self) -> bool {
        matches!(self.state, FxsState::OffHook | FxsState::HookPending(_))
    }

    fn event(&mut self, ev: DeviceEvent, now: u64, out: &mut Outputs) {
        match (ev, self.state) {
            (DeviceEvent::RingOffHook, FxsState::Idle | FxsState::Ringing | FxsState::PreRing) => {
                // Lifted, or answered while ringing (the driver stops the ringer).
                self.stop_cid(out);
                self.state = FxsState::OffHook;
                out.signal(Signal::OffHook);
            }
            (DeviceEvent::RingerOff, FxsState::Ringing) => {
                // The first silence: the caller ID's place (Bell 202, ETSI after ring).
                if let Some(c) = self.pending.take() {
                    self.sending = true;
                    out.act(Action::SendCid(c));
                }
            }
            (DeviceEvent::RingOffHook, FxsState::HookPending(since)) => {
                self.state = FxsState::OffHook;
                if now.saturating_sub(since) >= self.timing.flash_min_ms {
                    out.signal(Signal::Flash);
                }
            }
            (DeviceEvent::OnHook, FxsState::OffHook) => {
                self.state = FxsState::HookPending(now);
            }
            (DeviceEvent::WinkFlash, FxsState::OffHook | FxsState::HookPending(_)) => {
                self.state = FxsState::OffHook;
                out.signal(Signal::Flash);
            }
            (DeviceEvent::PulseDigit(d), FxsState::OffHook) => out.signal(Signal::Digit(d)),
            _ => {}
        }
    }

    fn tick(&mut self, now: u64, out: &mut Outputs) {
        if let FxsState::HookPending(since) = self.state
            && now.saturating_sub(since) > self.timing.flash_max_ms
        {
            self.state = FxsState::Idle;
            out.signal(Signal::OnHook);
        }
    }

    fn command(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        cmd: &Command,
        out: &mut Outputs,
    ) -> Result<(), HalError> {
        let state = |s| invalid(channel, cmd, s);
        match cmd {
            Command::Ring | Command::RingCaller(_) => match self.state {
                FxsState::Idle => {
                    let caller = match cmd {
                        Command::RingCaller(c) if self.cid != CidStyle::None => Some(c.clone()),
                        _ => None,
                    };
                    match caller {
                        Some(c) if self.cid.before_ring() => {
                            if self.cid == CidStyle::EtsiLineReversal {
                                out.act(Action::Polarity(true));
                            }
                            self.sending = true;
                            out.act(Action::SendCid(c));
                            self.state = FxsState::PreRing;
                        }
                        c => {
                            self.pending = c;
                            out.act(Action::Hook(sys::HOOK_RING));
                            self.state = FxsState::Ringing;
                        }
                    }
                    Ok(())
                }
                FxsState::Ringing | FxsState::PreRing => Ok(()),
                _ => Err(state("the phone is off hook")),
            },
            Command::RingOff => {
                match self.state {
                    FxsState::Ringing => {
                        self.stop_cid(out);
                        out.act(Action::Hook(sys::HOOK_RINGOFF));
                        self.state = FxsState::Idle;
                    }
                    FxsState::PreRing => {
                        self.stop_cid(out);
                        self.state = FxsState::Idle;
                    }
                    _ => {}
                }
                Ok(())
            }
            // The phone is off hook already; nothing to do on the line.
            Command::Answer => Ok(()),
            Command::Hangup(_) => {
                match self.state {
                    FxsState::Ringing => {
                        self.stop_cid(out);
                        out.act(Action::Hook(sys::HOOK_RINGOFF));
                        self.state = FxsState::Idle;
                    }
                    FxsState::PreRing => {
                        self.stop_cid(out);
                        self.state = FxsState::Idle;
                    }
                    // Battery drop: on kewlstart ports the driver removes battery for a
                    // moment (the phone's disconnect signal) when told on hook.
                    FxsState::OffHook | FxsState::HookPending(_) => {
                        out.act(Action::Hook(sys::HOOK_ONHOOK));
                    }
                    FxsState::Idle => {}
                }
                Ok(())
            }
            Command::Seize | Command::Flash | Command::Dial(_) | Command::Call { .. } => {
                Err(HalError::Unsupported {
                    channel,
                    kind,
                    command: cmd.verb(),
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FxoState {
    /// On hook, no ringing.
    Idle,
    /// The exchange rings us; a burst is on.
    RingOn,
    /// Between bursts.
    RingOff,
    /// Off hook (answered or seized).
    OffHook,
}

/// An exchange-line port.
#[derive(Debug, Clone)]
pub struct Fxo {
    state: FxoState,
    supervision: Supervision,
    /// The line's polarity is reversed (as last reported).
    reversed: bool,
    /// The far end's answer reversed the polarity during this call.
    answered_by_reversal: bool,
    alarm: bool,
}

impl Fxo {
    /// A line at rest.
    pub fn new(supervision: Supervision) -> Self {
        Fxo {
            state: FxoState::Idle,
            supervision,
            reversed: false,
            answered_by_reversal: false,
            alarm: false,
        }
    }

    fn event(&mut self, ev: DeviceEvent, _now: u64, out: &mut Outputs) {
        match (ev, self.state) {
            (DeviceEvent::RingBegin, FxoState::Idle | FxoState::RingOff) => {
                self.state = FxoState::RingOn;
                out.signal(Signal::RingBegin);
            }
            (DeviceEvent::RingOffHook, FxoState::RingOn) => {
                self.state = FxoState::RingOff;
                out.signal(Signal::RingEnd);
            }
            (DeviceEvent::RingOffHook, FxoState::Idle | FxoState::RingOff) => {
                // A driver built without RINGBEGIN reports each burst at its end only.
                self.state = FxoState::RingOff;
                out.signal(Signal::RingBegin);
                out.signal(Signal::RingEnd);
            }
            (DeviceEvent::OnHook, FxoState::OffHook) => {
                // Loop current dropped: the far end cleared.
                out.signal(Signal::RemoteHangup(Cause::NORMAL_CLEARING));
            }
            (DeviceEvent::Polarity, state) => {
                self.reversed = !self.reversed;
                if state == FxoState::OffHook {
                    if self.answered_by_reversal
                        && !self.reversed
                        && self.supervision.hangup_on_polarity
                    {
                        out.signal(Signal::RemoteHangup(Cause::NORMAL_CLEARING));
                    } else {
                        self.answered_by_reversal |= self.reversed;
                        out.signal(Signal::Polarity);
                    }
                } else {
                    // Before the first ring: an ETSI caller ID follows.
                    out.signal(Signal::Polarity);
                }
            }
            (DeviceEvent::DialComplete, FxoState::OffHook) => out.signal(Signal::DialComplete),
            _ => {}
        }
    }

    fn go_off_hook(&mut self, out: &mut Outputs) {
        out.act(Action::Hook(sys::HOOK_OFFHOOK));
        self.state = FxoState::OffHook;
        self.answered_by_reversal = false;
    }

    fn command(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        cmd: &Command,
        out: &mut Outputs,
    ) -> Result<(), HalError> {
        let state = |s| invalid(channel, cmd, s);
        match cmd {
            Command::Answer => match self.state {
                FxoState::RingOn | FxoState::RingOff => {
                    self.go_off_hook(out);
                    Ok(())
                }
                FxoState::OffHook => Ok(()),
                FxoState::Idle => Err(state("the line is not ringing")),
            },
            Command::Seize => match self.state {
                FxoState::Idle => {
                    self.go_off_hook(out);
                    Ok(())
                }
                FxoState::OffHook => Ok(()),
                _ => Err(state("the line is ringing")),
            },
            Command::Dial(digits) => {
                if self.state != FxoState::OffHook {
                    return Err(state("the line is on hook"));
                }
                out.act(Action::Dial(digits.clone()));
                Ok(())
            }
            Command::Flash => {
                if self.state != FxoState::OffHook {
                    return Err(state("the line is on hook"));
                }
                out.act(Action::Hook(sys::HOOK_FLASH));
                Ok(())
            }
            Command::Hangup(_) => {
                if self.state == FxoState::OffHook {
                    out.act(Action::Hook(sys::HOOK_ONHOOK));
                }
                self.state = FxoState::Idle;
                Ok(())
            }
            Command::Ring | Command::RingCaller(_) | Command::RingOff | Command::Call { .. } => {
                Err(HalError::Unsupported {
                    channel,
                    kind,
                    command: cmd.verb(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: ChannelId = ChannelId(1);

    fn ev(m: &mut LineSignalling, e: DeviceEvent, now: u64) -> Outputs {
        let mut o = Outputs::default();
        m.event(e, now, &mut o);
        o
    }

    fn tick(m: &mut LineSignalling, now: u64) -> Outputs {
        let mut o = Outputs::default();
        m.tick(now, &mut o);
        o
    }

    fn cmd(m: &mut LineSignalling, kind: ChannelKind, c: Command) -> Result<Outputs, HalError> {
        let mut o = Outputs::default();
        m.command(CH, kind, &c, &mut o).map(|()| o)
    }

    fn fxs() -> LineSignalling {
        LineSignalling::new(
            &ChannelKind::Fxs,
            HookTiming::default(),
            Supervision::default(),
            CidStyle::None,
        )
    }

    fn fxo(hangup_on_polarity: bool) -> LineSignalling {
        LineSignalling::new(
            &ChannelKind::Fxo,
            HookTiming::default(),
            Supervision { hangup_on_polarity },
            CidStyle::None,
        )
    }

    #[test]
    fn events_decode() {
        assert_eq!(DeviceEvent::from_raw(0), None);
        assert_eq!(DeviceEvent::from_raw(2), Some(DeviceEvent::RingOffHook));
        assert_eq!(DeviceEvent::from_raw(18), Some(DeviceEvent::RingBegin));
        assert_eq!(
            DeviceEvent::from_raw(sys::EVENT_PULSEDIGIT | i32::from(b'7')),
            Some(DeviceEvent::PulseDigit('7'))
        );
        assert_eq!(DeviceEvent::from_raw(25), Some(DeviceEvent::Other(25)));
    }

    #[test]
    fn fxs_lift_flash_bounce_and_hang_up() {
        let mut m = fxs();
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 0).signals,
            [Signal::OffHook]
        );
        // A 20 ms bounce: nothing.
        assert!(ev(&mut m, DeviceEvent::OnHook, 1_000).signals.is_empty());
        assert!(
            ev(&mut m, DeviceEvent::RingOffHook, 1_020)
                .signals
                .is_empty()
        );
        // A 300 ms on-hook: a flash, reported when the phone is back.
        assert!(ev(&mut m, DeviceEvent::OnHook, 2_000).signals.is_empty());
        assert!(tick(&mut m, 2_290).signals.is_empty());
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 2_300).signals,
            [Signal::Flash]
        );
        // The driver's own flash is believed.
        assert_eq!(
            ev(&mut m, DeviceEvent::WinkFlash, 3_000).signals,
            [Signal::Flash]
        );
        // On hook for good: reported when the flash window closes, not before.
        assert!(ev(&mut m, DeviceEvent::OnHook, 4_000).signals.is_empty());
        assert!(tick(&mut m, 4_800).signals.is_empty());
        assert_eq!(tick(&mut m, 4_801).signals, [Signal::OnHook]);
        assert!(tick(&mut m, 9_000).signals.is_empty());
    }

    #[test]
    fn fxs_ringing_and_answer() {
        let mut m = fxs();
        let o = cmd(&mut m, ChannelKind::Fxs, Command::Ring).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_RING)]);
        // Ringer edges are not signals.
        assert!(ev(&mut m, DeviceEvent::RingerOn, 10).signals.is_empty());
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 500).signals,
            [Signal::OffHook]
        );
        // Answered: RingOff has nothing left to stop.
        assert!(
            cmd(&mut m, ChannelKind::Fxs, Command::RingOff)
                .unwrap()
                .actions
                .is_empty()
        );
        let e = cmd(&mut m, ChannelKind::Fxs, Command::Ring).unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 1: cannot ring while the phone is off hook"
        );
        // Hang-up drops battery.
        let o = cmd(
            &mut m,
            ChannelKind::Fxs,
            Command::Hangup(Cause::NORMAL_CLEARING),
        )
        .unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_ONHOOK)]);
        let e = cmd(&mut m, ChannelKind::Fxs, Command::Seize).unwrap_err();
        assert_eq!(e.to_string(), "channel 1: fxs channels cannot seize");
    }

    fn fxs_with(cid: CidStyle) -> LineSignalling {
        LineSignalling::new(
            &ChannelKind::Fxs,
            HookTiming::default(),
            Supervision::default(),
            cid,
        )
    }

    fn caller() -> Caller {
        Caller {
            number: Some(Digits::parse(CH, "2125551212").unwrap()),
            withheld: false,
        }
    }

    #[test]
    fn fxs_caller_id_between_rings() {
        let mut m = fxs_with(CidStyle::Bell202);
        let o = cmd(&mut m, ChannelKind::Fxs, Command::RingCaller(caller())).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_RING)]);
        assert!(ev(&mut m, DeviceEvent::RingerOn, 0).actions.is_empty());
        // The first silence carries it, once.
        assert_eq!(
            ev(&mut m, DeviceEvent::RingerOff, 2_000).actions,
            [Action::SendCid(caller())]
        );
        ev(&mut m, DeviceEvent::RingerOn, 6_000);
        assert!(ev(&mut m, DeviceEvent::RingerOff, 8_000).actions.is_empty());
        // Answered mid-burst: the burst stops.
        let mut m = fxs_with(CidStyle::Bell202);
        cmd(&mut m, ChannelKind::Fxs, Command::RingCaller(caller())).unwrap();
        ev(&mut m, DeviceEvent::RingerOff, 2_000);
        let o = ev(&mut m, DeviceEvent::RingOffHook, 2_300);
        assert_eq!(o.actions, [Action::StopCid]);
        assert_eq!(o.signals, [Signal::OffHook]);
        // Without caller ID on the board, RingCaller just rings.
        let mut m = fxs_with(CidStyle::None);
        let o = cmd(&mut m, ChannelKind::Fxs, Command::RingCaller(caller())).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_RING)]);
        assert!(ev(&mut m, DeviceEvent::RingerOff, 2_000).actions.is_empty());
    }

    #[test]
    fn fxs_caller_id_before_the_first_ring() {
        let mut m = fxs_with(CidStyle::EtsiLineReversal);
        let o = cmd(&mut m, ChannelKind::Fxs, Command::RingCaller(caller())).unwrap();
        assert_eq!(
            o.actions,
            [Action::Polarity(true), Action::SendCid(caller())]
        );
        let mut o = Outputs::default();
        m.cid_done(&mut o);
        assert_eq!(
            o.actions,
            [Action::Polarity(false), Action::Hook(sys::HOOK_RING)]
        );
        // The caller gives up during the burst: no ring, polarity back.
        let mut m = fxs_with(CidStyle::DtmfClip);
        let o = cmd(&mut m, ChannelKind::Fxs, Command::RingCaller(caller())).unwrap();
        assert_eq!(o.actions, [Action::SendCid(caller())]);
        let o = cmd(&mut m, ChannelKind::Fxs, Command::RingOff).unwrap();
        assert_eq!(o.actions, [Action::StopCid]);
    }

    #[test]
    fn fxo_rings_answer_and_disconnect() {
        let mut m = fxo(false);
        assert_eq!(
            ev(&mut m, DeviceEvent::RingBegin, 0).signals,
            [Signal::RingBegin]
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 2_000).signals,
            [Signal::RingEnd]
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::RingBegin, 6_000).signals,
            [Signal::RingBegin]
        );
        let o = cmd(&mut m, ChannelKind::Fxo, Command::Answer).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_OFFHOOK)]);
        assert_eq!(
            ev(&mut m, DeviceEvent::OnHook, 9_000).signals,
            [Signal::RemoteHangup(Cause::NORMAL_CLEARING)]
        );
        let o = cmd(
            &mut m,
            ChannelKind::Fxo,
            Command::Hangup(Cause::NORMAL_CLEARING),
        )
        .unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_ONHOOK)]);
        let e = cmd(&mut m, ChannelKind::Fxo, Command::Answer).unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 1: cannot answer while the line is not ringing"
        );
    }

    #[test]
    fn fxo_ring_without_ringbegin() {
        let mut m = fxo(false);
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 2_000).signals,
            [Signal::RingBegin, Signal::RingEnd]
        );
    }

    #[test]
    fn fxo_seize_dial_and_polarity_supervision() {
        let mut m = fxo(true);
        cmd(&mut m, ChannelKind::Fxo, Command::Seize).unwrap();
        let d = Digits::parse(CH, "123").unwrap();
        let o = cmd(&mut m, ChannelKind::Fxo, Command::Dial(d.clone())).unwrap();
        assert_eq!(o.actions, [Action::Dial(d)]);
        assert_eq!(
            ev(&mut m, DeviceEvent::DialComplete, 10).signals,
            [Signal::DialComplete]
        );
        // Answer by reversal, hang-up by reversal back.
        assert_eq!(
            ev(&mut m, DeviceEvent::Polarity, 20).signals,
            [Signal::Polarity]
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::Polarity, 30).signals,
            [Signal::RemoteHangup(Cause::NORMAL_CLEARING)]
        );
        // Without the option the second reversal is only reported.
        let mut m = fxo(false);
        cmd(&mut m, ChannelKind::Fxo, Command::Seize).unwrap();
        ev(&mut m, DeviceEvent::Polarity, 20);
        assert_eq!(
            ev(&mut m, DeviceEvent::Polarity, 30).signals,
            [Signal::Polarity]
        );
        let o = cmd(&mut m, ChannelKind::Fxo, Command::Flash).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_FLASH)]);
    }

    #[test]
    fn em_wink_start_both_ways() {
        let t1 = ChannelKind::T1 {
            span: crate::ids::SpanId(1),
            slot: crate::ids::Timeslot(1),
        };
        // Incoming: seizure → wink, digits collected by the switch, answer, far clear.
        let mut m = LineSignalling::em_wink();
        let o = ev(&mut m, DeviceEvent::RingOffHook, 0);
        assert_eq!(
            (o.signals.as_slice(), o.actions.as_slice()),
            (&[Signal::OffHook][..], &[Action::Hook(sys::HOOK_WINK)][..])
        );
        let o = cmd(&mut m, t1, Command::Answer).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_OFFHOOK)]);
        assert_eq!(
            ev(&mut m, DeviceEvent::OnHook, 9_000).signals,
            [Signal::RemoteHangup(Cause::NORMAL_CLEARING)]
        );
        // The far end cleared; our side goes back on hook when the call ends.
        let o = cmd(&mut m, t1, Command::Hangup(Cause::NORMAL_CLEARING)).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_ONHOOK)]);
        // Outgoing: start, wink, dial, answer, our clear.
        let o = cmd(&mut m, t1, Command::Seize).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_START)]);
        let d = Digits::parse(CH, "4001").unwrap();
        let e = cmd(&mut m, t1, Command::Dial(d.clone())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 1: cannot dial while the far end has not winked yet"
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::WinkFlash, 100).signals,
            [Signal::Wink]
        );
        assert_eq!(
            cmd(&mut m, t1, Command::Dial(d.clone())).unwrap().actions,
            [Action::Dial(d)]
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::DialComplete, 600).signals,
            [Signal::DialComplete]
        );
        assert_eq!(
            ev(&mut m, DeviceEvent::RingOffHook, 2_000).signals,
            [Signal::RemoteAnswer]
        );
        let o = cmd(&mut m, t1, Command::Hangup(Cause::NORMAL_CLEARING)).unwrap();
        assert_eq!(o.actions, [Action::Hook(sys::HOOK_ONHOOK)]);
        // A caller who clears before the number is complete is an on-hook.
        ev(&mut m, DeviceEvent::RingOffHook, 10_000);
        assert_eq!(
            ev(&mut m, DeviceEvent::OnHook, 10_500).signals,
            [Signal::OnHook]
        );
    }

    #[test]
    fn alarms_take_the_port_out_of_service() {
        let mut m = fxo(false);
        assert_eq!(
            ev(&mut m, DeviceEvent::Alarm, 0).signals,
            [Signal::Alarm(Alarm::Red)]
        );
        assert!(m.in_alarm());
        let e = cmd(&mut m, ChannelKind::Fxo, Command::Seize).unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 1: cannot seize while its span is in alarm"
        );
        cmd(
            &mut m,
            ChannelKind::Fxo,
            Command::Hangup(Cause::NORMAL_CLEARING),
        )
        .unwrap();
        assert_eq!(
            ev(&mut m, DeviceEvent::NoAlarm, 5).signals,
            [Signal::AlarmCleared]
        );
        cmd(&mut m, ChannelKind::Fxo, Command::Seize).unwrap();
    }
}
