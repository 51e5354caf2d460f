//! DAHDI channels as a [`Shard`]: open and configure each channel, then move one block per
//! channel per tick, on the card's clock.
//!
//! **Opening** ([`build`]), off the media thread, each channel as chan_dahdi does: open the
//! generic node `ROOT/channel` non-blocking and bind it with `DAHDI_SPECIFY`, or open the
//! per-channel node `ROOT/chan/SSS/CCC`; then block size (one frame), buffer policy
//! (immediate both ways, four buffers), 16-bit linear audio, and `GET_PARAMS` to check that
//! DAHDI's signalling for the channel is the port kind the profile says. Every path comes
//! from the configuration, and the nodes are only required to exist, not to be character
//! devices, so a user-space model of the driver can stand in for it. Every failure names
//! the channel, the node and what the driver said.
//!
//! **The clock.** A card delivers a block on every channel each frame period. The shard's
//! tick is the first channel's block becoming readable (`poll` for `POLLIN`); a late media
//! thread finds the next block ready at once and catches up. If no block comes for three
//! periods (a driver or card stalled), the tick fires anyway so that signalling still runs;
//! such a tick reads silence (counted in `missing_blocks`) and writes nothing, so that the
//! audio sent stays in step with the card's clock: a stalled card's buffers are not filled
//! with blocks that would play late (one period of delay more for each stall) or be dropped
//! once full, and a caller-ID burst resumes where it stopped.
//!
//! **Events.** A pending event makes the channel's `read`/`write` fail with errno 500 until
//! `DAHDI_GETEVENT` drains it; the shard drains and decodes them through the channel's
//! state machine ([`super::analog`]), which turns them into [`Signal`]s and carries out
//! the device actions commands call for.
//!
//! **Real time.** After [`build`], nothing here allocates, locks or logs: reads, writes and
//! ioctls on already-open descriptors, fixed queues, errors as values.

use super::analog::{Action, DeviceEvent, HookTiming, LineSignalling, Outputs, Supervision};
use super::cid::{CidSender, CidStyle};
use super::span::{SpanBoard, SpanCell};
use super::sys;
use crate::audio::{AudioFormat, Encoding, FramePeriod};
use crate::channel::{ChannelInfo, ChannelKind};
use crate::error::HalError;
use crate::ids::ChannelId;
use crate::shard::Shard;
use crate::signal::{Alarm, Command, Signal};
use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write as _};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// How a channel's device node is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeStyle {
    /// `ROOT/channel` bound with `DAHDI_SPECIFY` (what chan_dahdi does).
    #[default]
    Specify,
    /// The per-channel node `ROOT/chan/SSS/CCC` (span and position, three digits each).
    PerChannel,
}

/// One DAHDI channel of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DahdiChannel {
    /// DAHDI's channel number, which is also Tipring's number for the channel (operators
    /// see the same number in both).
    pub channo: u32,
    /// Span number (for the per-channel node and messages).
    pub span: u32,
    /// Position in the span (for the per-channel node).
    pub chanpos: u32,
    /// The port kind, from Tipring's side.
    pub kind: ChannelKind,
    /// Echo canceller tail, ms (0: none): Tipring's, run by the media engine, unless
    /// `hardware_ec`.
    pub echo_tail_ms: u16,
    /// Use the card's hardware echo canceller (enabled with `DAHDI_ECHOCANCEL_PARAMS`)
    /// instead of Tipring's.
    pub hardware_ec: bool,
    /// T1/E1 timeslots: E&M wink-start signalling (else a clear channel).
    pub em_wink: bool,
}

/// A span of the board: its number and its D-channel (PRI), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanConfig {
    /// DAHDI's span number.
    pub number: u32,
    /// The D-channel's DAHDI channel number.
    pub dchannel: Option<u32>,
}

/// What [`build`] opens.
#[derive(Debug, Clone)]
pub struct DahdiConfig {
    /// The DAHDI device root (`/dev/dahdi` on a real box).
    pub root: PathBuf,
    /// How channel nodes are opened.
    pub nodes: NodeStyle,
    /// The channels, in slot order.
    pub channels: Vec<DahdiChannel>,
    /// Frame period (the block size). Audio is always 16-bit linear.
    pub period: FramePeriod,
    /// FXS ports' hook timing.
    pub hook: HookTiming,
    /// FXO lines' supervision.
    pub supervision: Supervision,
    /// FXS ports' ring cadence, ms on/off pairs (empty: the driver's default).
    pub ring_cadence_ms: Vec<u32>,
    /// How phones on FXS ports are told who calls.
    pub caller_id: CidStyle,
    /// The spans (for their status, and their D-channels, which are opened too).
    pub spans: Vec<SpanConfig>,
}

/// Why a DAHDI shard could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DahdiError {
    /// A node could not be opened.
    #[error("DAHDI channel {channo}: cannot open {path}: {source}")]
    Open {
        /// The channel.
        channo: u32,
        /// The node.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The driver refused a request while setting the channel up.
    #[error("DAHDI channel {channo} ({path}): {what}: {errno}")]
    Setup {
        /// The channel.
        channo: u32,
        /// The node.
        path: PathBuf,
        /// The request, in words.
        what: &'static str,
        /// What the driver said.
        errno: Errno,
    },
    /// DAHDI's signalling for the channel is not the kind configured.
    #[error(
        "DAHDI channel {channo} ({name}): the configuration says {kind}, but DAHDI has it as \
         {found} (system.conf); fix one or the other"
    )]
    Signalling {
        /// The channel.
        channo: u32,
        /// The driver's name for it.
        name: String,
        /// The configured kind.
        kind: &'static str,
        /// DAHDI's signalling, in its words.
        found: &'static str,
    },
    /// Nothing to open.
    #[error("a DAHDI shard needs at least one channel")]
    NoChannels,
}

/// DAHDI's name for a signalling type, and the port kind it means on our side.
fn signalling_name(sig: libc::c_int) -> (&'static str, Option<ChannelKind>) {
    match sig {
        sys::SIG_FXOKS => ("fxoks (an FXS port)", Some(ChannelKind::Fxs)),
        sys::SIG_FXOLS => ("fxols (an FXS port)", Some(ChannelKind::Fxs)),
        sys::SIG_FXOGS => ("fxogs (an FXS port)", Some(ChannelKind::Fxs)),
        sys::SIG_FXSKS => ("fxsks (an FXO port)", Some(ChannelKind::Fxo)),
        sys::SIG_FXSLS => ("fxsls (an FXO port)", Some(ChannelKind::Fxo)),
        sys::SIG_FXSGS => ("fxsgs (an FXO port)", Some(ChannelKind::Fxo)),
        sys::SIG_CLEAR => ("clear (a B-channel)", None),
        sys::SIG_EM => ("e&m", None),
        sys::SIG_EM_E1 => ("e&me1", None),
        sys::SIG_CAS => ("cas", None),
        sys::SIG_HDLCFCS => ("dchan (a D-channel)", None),
        sys::SIG_HARDHDLC => ("hardhdlc (a D-channel)", None),
        0 => ("unconfigured", None),
        _ => ("an unknown signalling type", None),
    }
}

fn kind_fits(kind: &ChannelKind, sig: libc::c_int) -> bool {
    match (kind, signalling_name(sig).1) {
        (ChannelKind::Fxs, Some(ChannelKind::Fxs)) | (ChannelKind::Fxo, Some(ChannelKind::Fxo)) => {
            true
        }
        (ChannelKind::T1 { .. } | ChannelKind::E1 { .. }, None) => matches!(
            sig,
            sys::SIG_CLEAR | sys::SIG_EM | sys::SIG_EM_E1 | sys::SIG_CAS
        ),
        _ => false,
    }
}

/// Opens and binds a channel's node; returns it, its path and its parameters.
fn open_node(
    cfg: &DahdiConfig,
    ch: &DahdiChannel,
) -> Result<(File, PathBuf, sys::Params), DahdiError> {
    let path = match cfg.nodes {
        NodeStyle::Specify => cfg.root.join("channel"),
        NodeStyle::PerChannel => cfg
            .root
            .join("chan")
            .join(format!("{:03}", ch.span))
            .join(format!("{:03}", ch.chanpos)),
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|source| DahdiError::Open {
            channo: ch.channo,
            path: path.clone(),
            source,
        })?;
    let fd = file;
    let setup = |what: &'static str, e: sys::IoctlError| setup_error(ch, &path, what, e);
    if cfg.nodes == NodeStyle::Specify {
        let mut n = ch.channo as libc::c_int;
        sys::ioctl_int(fd.as_fd(), sys::SPECIFY, &mut n)
            .map_err(|e| setup("binding the channel (DAHDI_SPECIFY)", e))?;
    }
    let mut params = sys::Params::default();
    sys::ioctl_ptr_mut(fd.as_fd(), sys::GET_PARAMS, &mut params)
        .map_err(|e| setup("reading its parameters (DAHDI_GET_PARAMS)", e))?;
    Ok((fd, path, params))
}

fn setup_error(
    ch: &DahdiChannel,
    path: &std::path::Path,
    what: &'static str,
    e: sys::IoctlError,
) -> DahdiError {
    DahdiError::Setup {
        channo: ch.channo,
        path: path.to_path_buf(),
        what,
        errno: match e {
            sys::IoctlError::Os { errno, .. } => errno,
            sys::IoctlError::Size { .. } => Errno::EINVAL,
        },
    }
}

/// Opens a PRI span's D-channel: bound, checked to be an HDLC channel, with the buffers
/// libpri uses (32 of 1 kB, immediate).
fn open_dchannel(
    cfg: &DahdiConfig,
    span: u32,
    channo: u32,
    chanpos: u32,
) -> Result<File, DahdiError> {
    let ch = DahdiChannel {
        channo,
        span,
        chanpos,
        kind: ChannelKind::T1 {
            span: crate::ids::SpanId(0),
            slot: crate::ids::Timeslot(0),
        },
        echo_tail_ms: 0,
        hardware_ec: false,
        em_wink: false,
    };
    let (fd, path, params) = open_node(cfg, &ch)?;
    if !matches!(params.sigtype, sys::SIG_HDLCFCS | sys::SIG_HARDHDLC) {
        return Err(DahdiError::Signalling {
            channo,
            name: sys::c_str(&params.name),
            kind: "the D-channel",
            found: signalling_name(params.sigtype).0,
        });
    }
    let bufs = sys::BufferInfo {
        txbufpolicy: sys::POLICY_IMMEDIATE,
        rxbufpolicy: sys::POLICY_IMMEDIATE,
        numbufs: 32,
        bufsize: 1024,
        ..Default::default()
    };
    sys::ioctl_ptr(fd.as_fd(), sys::SET_BUFINFO, &bufs).map_err(|e| {
        setup_error(
            &ch,
            &path,
            "setting the D-channel's buffers (DAHDI_SET_BUFINFO)",
            e,
        )
    })?;
    Ok(fd)
}

/// Opens a channel and sets it up; returns the descriptor and its node.
fn open_channel(
    cfg: &DahdiConfig,
    ch: &DahdiChannel,
    block: usize,
) -> Result<(File, PathBuf), DahdiError> {
    let (fd, path, params) = open_node(cfg, ch)?;
    let setup = |what: &'static str, e: sys::IoctlError| setup_error(ch, &path, what, e);
    if !kind_fits(&ch.kind, params.sigtype) {
        let name = sys::c_str(&params.name);
        return Err(DahdiError::Signalling {
            channo: ch.channo,
            name,
            kind: ch.kind.name(),
            found: signalling_name(params.sigtype).0,
        });
    }
    let mut bs = block as libc::c_int;
    sys::ioctl_int(fd.as_fd(), sys::SET_BLOCKSIZE, &mut bs)
        .map_err(|e| setup("setting the block size (DAHDI_SET_BLOCKSIZE)", e))?;
    // A channel with an echo canceller sends with the half-full policy: play-out starts
    // once two of the four buffers are filled and then runs at the card's rate, so a block
    // is heard a fixed time after it was written, whatever the media thread's jitter. The
    // canceller's reference is then aligned to the sample; with the immediate policy the
    // delay would move with the moment of each write (a changing echo path, ~7 dB ERLE
    // measured on the DAHDI model instead of 30). It costs two blocks of latency.
    let bufs = sys::BufferInfo {
        txbufpolicy: if ch.echo_tail_ms > 0 {
            sys::POLICY_HALF_FULL
        } else {
            sys::POLICY_IMMEDIATE
        },
        rxbufpolicy: sys::POLICY_IMMEDIATE,
        numbufs: 4,
        // The driver takes `bufsize` as the block size in law bytes (samples): it must
        // match SET_BLOCKSIZE, or the blocks change length.
        bufsize: block as libc::c_int,
        ..Default::default()
    };
    sys::ioctl_ptr(fd.as_fd(), sys::SET_BUFINFO, &bufs)
        .map_err(|e| setup("setting the buffer policy (DAHDI_SET_BUFINFO)", e))?;
    let mut linear = 1;
    sys::ioctl_int(fd.as_fd(), sys::SETLINEAR, &mut linear)
        .map_err(|e| setup("choosing linear audio (DAHDI_SETLINEAR)", e))?;
    if ch.hardware_ec && ch.echo_tail_ms > 0 {
        let ec = sys::EchoCanParams {
            tap_length: u32::from(ch.echo_tail_ms) * 8,
            param_count: 0,
        };
        sys::ioctl_ptr(fd.as_fd(), sys::ECHOCANCEL_PARAMS, &ec).map_err(|e| {
            setup(
                "enabling the card's echo canceller (DAHDI_ECHOCANCEL_PARAMS; does the card \
                 have one?)",
                e,
            )
        })?;
    }
    if ch.kind == ChannelKind::Fxs && !cfg.ring_cadence_ms.is_empty() {
        let mut cadence = [0 as libc::c_int; 16];
        for (c, ms) in cadence.iter_mut().zip(&cfg.ring_cadence_ms) {
            *c = *ms as libc::c_int;
        }
        sys::ioctl_ptr(fd.as_fd(), sys::SETCADENCE, &cadence)
            .map_err(|e| setup("setting the ring cadence (DAHDI_SETCADENCE)", e))?;
    }
    Ok((fd, path))
}

struct Slot {
    /// FXS ports: the caller-ID burst being written during on-hook transfer.
    cid: Option<Box<CidSender>>,
    /// The driver is sending a `DAHDI_DIAL` string: audio written now would be sent
    /// first and hold the digits back, so the shard writes none until it completes.
    dialling: bool,
    fd: File,
    sig: LineSignalling,
    kind: ChannelKind,
    id: ChannelId,
    /// Index of its span in the board (`None`: a span the configuration doesn't list).
    span: Option<usize>,
}

/// A PRI span's D-channel, kept drained.
struct DChan {
    fd: File,
    /// Index of its span in the board.
    span: usize,
}

/// Signals waiting for the engine.
const SIGNALS: usize = 128;
/// Events drained per channel per visit (a driver queues at most a few).
const EVENTS_PER_VISIT: usize = 16;

/// A shard of DAHDI channels.
pub struct DahdiShard {
    infos: Vec<ChannelInfo>,
    slots: Vec<Slot>,
    block_bytes: usize,
    period_ms: u64,
    caller_id: CidStyle,
    ticks: u64,
    /// This tick's block came (false: it fired on the stall timeout).
    clocked: bool,
    signals: heapless::Deque<(usize, Signal), SIGNALS>,
    board: std::sync::Arc<SpanBoard>,
    dchans: Vec<DChan>,
    /// Frames lost: read found no block (underrun), or write found no room.
    pub missing_blocks: u64,
    /// Signals dropped because the engine did not drain them.
    pub dropped_signals: u64,
    /// Device actions the driver refused (the state machine moved on regardless).
    pub failed_actions: u64,
}

impl std::fmt::Debug for DahdiShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DahdiShard")
            .field("channels", &self.infos.len())
            .field("ticks", &self.ticks)
            .finish_non_exhaustive()
    }
}

/// Opens and sets up every channel of `cfg`.
///
/// # Errors
/// The first channel that could not be opened or set up, with the node and the reason;
/// nothing stays open.
pub fn build(cfg: &DahdiConfig) -> Result<DahdiShard, DahdiError> {
    if cfg.channels.is_empty() {
        return Err(DahdiError::NoChannels);
    }
    let block = cfg.period.samples();
    let format = AudioFormat {
        encoding: Encoding::Linear,
        period: cfg.period,
    };
    let mut infos = Vec::with_capacity(cfg.channels.len());
    let mut slots = Vec::with_capacity(cfg.channels.len());
    for ch in &cfg.channels {
        let (fd, path) = open_channel(cfg, ch, block)?;
        let id = ChannelId(ch.channo);
        let mut location = heapless::String::new();
        let p = path.display().to_string();
        if cfg.nodes == NodeStyle::Specify || p.len() > 40 {
            let _ = write!(location, "DAHDI channel {} (span {})", ch.channo, ch.span);
        } else {
            let _ = write!(location, "{p}");
        }
        infos.push(ChannelInfo {
            id,
            kind: ch.kind,
            format,
            backend: "dahdi",
            location,
            // The engine's canceller only where the card's is not used.
            echo_tail_ms: if ch.hardware_ec { 0 } else { ch.echo_tail_ms },
        });
        slots.push(Slot {
            span: cfg.spans.iter().position(|s| s.number == ch.span),
            cid: (ch.kind == ChannelKind::Fxs && cfg.caller_id != CidStyle::None)
                .then(|| Box::new(CidSender::new())),
            dialling: false,
            fd,
            sig: if ch.em_wink {
                LineSignalling::em_wink()
            } else {
                LineSignalling::new(&ch.kind, cfg.hook, cfg.supervision, cfg.caller_id)
            },
            kind: ch.kind,
            id,
        });
    }
    let mut dchans = Vec::new();
    for (i, sc) in cfg.spans.iter().enumerate() {
        if let Some(d) = sc.dchannel {
            let pos = cfg
                .channels
                .iter()
                .find(|c| c.span == sc.number)
                .map_or(d, |c| d + c.chanpos - c.channo);
            dchans.push(DChan {
                fd: open_dchannel(cfg, sc.number, d, pos)?,
                span: i,
            });
        }
    }
    let board = SpanBoard {
        spans: cfg
            .spans
            .iter()
            .map(|s| SpanCell::new(s.number, s.dchannel))
            .collect(),
    };
    // Each span's alarms as the driver has them now (on any of its channels).
    for (i, cell) in board.spans.iter().enumerate() {
        let fd = slots
            .iter()
            .find(|s| s.span == Some(i))
            .map(|s| s.fd.as_fd())
            .or_else(|| dchans.iter().find(|d| d.span == i).map(|d| d.fd.as_fd()));
        if let Some(fd) = fd {
            let mut p = sys::Params::default();
            if sys::ioctl_ptr_mut(fd, sys::GET_PARAMS, &mut p).is_ok() {
                cell.set_alarms(p.chan_alarms);
            }
        }
    }
    Ok(DahdiShard {
        board: std::sync::Arc::new(board),
        dchans,
        infos,
        slots,
        block_bytes: 2 * block,
        period_ms: u64::from(cfg.period.ms()),
        caller_id: cfg.caller_id,
        ticks: 0,
        clocked: true,
        signals: heapless::Deque::new(),
        missing_blocks: 0,
        dropped_signals: 0,
        failed_actions: 0,
    })
}

impl DahdiShard {
    /// The spans' status board (alarms, D-channels), for the API.
    pub fn spans(&self) -> std::sync::Arc<SpanBoard> {
        std::sync::Arc::clone(&self.board)
    }

    /// Drains the D-channels: frames are counted (nothing answers them yet), events
    /// update the span's alarms and error count.
    fn visit_dchannels(&mut self) {
        let mut frame = [0u8; 1024];
        for d in &self.dchans {
            let cell = &self.board.spans[d.span];
            for _ in 0..32 {
                match (&d.fd).read(&mut frame) {
                    Ok(0) => break,
                    Ok(_) => cell.frame(),
                    Err(e) if e.raw_os_error() == Some(sys::ELAST) => {
                        for _ in 0..EVENTS_PER_VISIT {
                            let mut code = 0;
                            if sys::ioctl_int(d.fd.as_fd(), sys::GETEVENT, &mut code).is_err()
                                || code == sys::EVENT_NONE
                            {
                                break;
                            }
                            match code {
                                sys::EVENT_ALARM | sys::EVENT_NOALARM => {
                                    let mut p = sys::Params::default();
                                    let bits = match sys::ioctl_ptr_mut(
                                        d.fd.as_fd(),
                                        sys::GET_PARAMS,
                                        &mut p,
                                    ) {
                                        Ok(()) => p.chan_alarms,
                                        Err(_) if code == sys::EVENT_ALARM => sys::ALARM_RED as u32,
                                        Err(_) => 0,
                                    };
                                    cell.set_alarms(bits);
                                }
                                sys::EVENT_ABORT | sys::EVENT_OVERRUN | sys::EVENT_BADFCS => {
                                    cell.error();
                                }
                                _ => {}
                            }
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }

    fn now(&self) -> u64 {
        self.ticks * self.period_ms
    }

    fn push(&mut self, slot: usize, s: Signal) {
        if self.signals.push_back((slot, s)).is_err() {
            self.dropped_signals += 1;
        }
    }

    /// Carries out what a state machine produced for `slot`.
    fn apply(&mut self, slot: usize, out: Outputs) {
        for s in out.signals {
            if matches!(s, Signal::DialComplete | Signal::RemoteHangup(_)) {
                self.slots[slot].dialling = false;
            }
            let s = match s {
                Signal::Alarm(_) => Signal::Alarm(self.alarm_kind(slot)),
                Signal::AlarmCleared => {
                    // What is left (a yellow alarm can outlast the red).
                    let _ = self.alarm_kind(slot);
                    Signal::AlarmCleared
                }
                s => s,
            };
            self.push(slot, s);
        }
        for a in out.actions {
            let s = &mut self.slots[slot];
            let fd = s.fd.as_fd();
            let r = match a {
                Action::Hook(v) => {
                    if v == sys::HOOK_ONHOOK {
                        s.dialling = false;
                    }
                    let on_hook = v == sys::HOOK_ONHOOK;
                    let mut v = v;
                    let r = sys::ioctl_int(fd, sys::HOOK, &mut v);
                    if on_hook {
                        // The call is over: what is still buffered either way is stale.
                        let mut both = sys::FLUSH_BOTH;
                        let _ = sys::ioctl_int(fd, sys::FLUSH, &mut both);
                    }
                    r
                }
                Action::Polarity(rev) => {
                    let mut v = libc::c_int::from(rev);
                    sys::ioctl_int(fd, sys::SETPOLARITY, &mut v)
                }
                Action::Dial(digits) => {
                    let mut op = sys::DialOperation {
                        op: sys::DIAL_OP_APPEND,
                        dialstr: [0; 256],
                    };
                    op.dialstr[0] = b'T' as libc::c_char;
                    for (d, c) in op.dialstr[1..].iter_mut().zip(digits.as_str().bytes()) {
                        *d = c as libc::c_char;
                    }
                    let r = sys::ioctl_ptr(fd, sys::DIAL, &op);
                    s.dialling = r.is_ok();
                    r
                }
                Action::SendCid(caller) => match s.cid.as_mut() {
                    Some(c) => {
                        // The driver passes audio to an on-hook phone for this long.
                        let mut ms = c.start(self.caller_id, &caller) as libc::c_int + 100;
                        sys::ioctl_int(fd, sys::ONHOOKTRANSFER, &mut ms)
                    }
                    None => Ok(()),
                },
                Action::StopCid => {
                    if let Some(c) = s.cid.as_mut() {
                        c.stop();
                    }
                    Ok(())
                }
            };
            if r.is_err() {
                self.failed_actions += 1;
            }
        }
    }

    /// The alarm the channel's span reports now (red when the driver can't say); the
    /// span's status follows.
    fn alarm_kind(&self, slot: usize) -> Alarm {
        let mut p = sys::Params::default();
        let bits = match sys::ioctl_ptr_mut(self.slots[slot].fd.as_fd(), sys::GET_PARAMS, &mut p) {
            Ok(()) => p.chan_alarms as libc::c_int,
            Err(_) => sys::ALARM_RED,
        };
        if let Some(i) = self.slots[slot].span {
            self.board.spans[i].set_alarms(bits as u32);
        }
        if bits & sys::ALARM_BLUE != 0 {
            Alarm::Blue
        } else if bits & sys::ALARM_YELLOW != 0 && bits & sys::ALARM_RED == 0 {
            Alarm::Yellow
        } else if bits & sys::ALARM_LOOPBACK != 0 && bits & sys::ALARM_RED == 0 {
            Alarm::Loopback
        } else {
            Alarm::Red
        }
    }

    /// A read or write on `slot` failed: drains the events when that is why (then it is
    /// worth trying again: `Ok(true)`); `Ok(false)` when there is no room or no block now.
    /// (The error comes through std, not nix: nix's `Errno` has no value for DAHDI's
    /// errno 500.)
    fn io_failed(
        &mut self,
        slot: usize,
        e: &std::io::Error,
        what: &'static str,
    ) -> Result<bool, HalError> {
        match e.raw_os_error().unwrap_or(libc::EIO) {
            libc::EAGAIN => Ok(false),
            sys::ELAST => self.drain_events(slot).map(|()| true),
            libc::ENODEV => Err(HalError::Gone {
                channel: self.slots[slot].id,
            }),
            n => Err(os(what, Errno::from_raw(n))),
        }
    }

    /// Drains `slot`'s pending events through its state machine.
    fn drain_events(&mut self, slot: usize) -> Result<(), HalError> {
        let now = self.now();
        for _ in 0..EVENTS_PER_VISIT {
            let mut code = 0;
            match sys::ioctl_int(self.slots[slot].fd.as_fd(), sys::GETEVENT, &mut code) {
                Ok(()) => {}
                Err(sys::IoctlError::Os { errno, .. }) => {
                    return Err(HalError::Os {
                        what: "DAHDI_GETEVENT",
                        errno,
                    });
                }
                Err(sys::IoctlError::Size { .. }) => {
                    return Err(HalError::Os {
                        what: "DAHDI_GETEVENT",
                        errno: Errno::EINVAL,
                    });
                }
            }
            let Some(ev) = DeviceEvent::from_raw(code) else {
                return Ok(());
            };
            if ev == DeviceEvent::Removed {
                return Err(HalError::Gone {
                    channel: self.slots[slot].id,
                });
            }
            let mut out = Outputs::default();
            self.slots[slot].sig.event(ev, now, &mut out);
            self.apply(slot, out);
        }
        Ok(())
    }
}

fn os(what: &'static str, errno: Errno) -> HalError {
    HalError::Os { what, errno }
}

impl Shard for DahdiShard {
    fn channels(&self) -> &[ChannelInfo] {
        &self.infos
    }

    fn wait_tick(&mut self) -> Result<u64, HalError> {
        let timeout = PollTimeout::try_from(3 * self.period_ms as i32).unwrap_or(PollTimeout::MAX);
        // A pending event on the clock channel makes it readable-with-priority, not
        // readable: drain and wait again (a few times at most).
        self.clocked = true;
        for _ in 0..4 {
            let fd = self.slots[0].fd.as_fd();
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN | PollFlags::POLLPRI)];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => {
                    // Stalled: tick anyway, for signalling, without sending audio.
                    self.clocked = false;
                    break;
                }
                Ok(_) => {
                    let r = fds[0].revents().unwrap_or(PollFlags::empty());
                    if r.contains(PollFlags::POLLIN) {
                        break;
                    }
                    if r.contains(PollFlags::POLLPRI) {
                        self.drain_events(0)?;
                        continue;
                    }
                    if r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
                        return Err(HalError::Gone {
                            channel: self.slots[0].id,
                        });
                    }
                    break;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(os("poll on the DAHDI clock channel", e)),
            }
        }
        self.ticks += 1;
        if !self.dchans.is_empty() {
            self.visit_dchannels();
        }
        let now = self.now();
        for slot in 0..self.slots.len() {
            let mut out = Outputs::default();
            self.slots[slot].sig.tick(now, &mut out);
            if !out.signals.is_empty() || !out.actions.is_empty() {
                self.apply(slot, out);
            }
        }
        Ok(1)
    }

    fn read(&mut self, slot: usize, frame: &mut [u8]) -> Result<usize, HalError> {
        if slot >= self.slots.len() {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        }
        let n = self.block_bytes.min(frame.len());
        for _ in 0..2 {
            match (&self.slots[slot].fd).read(&mut frame[..n]) {
                Ok(got) => {
                    frame[got..n].fill(0);
                    return Ok(n);
                }
                Err(e) => {
                    if !self.io_failed(slot, &e, "DAHDI read")? {
                        break;
                    }
                }
            }
        }
        // No block this period: silence, counted.
        self.missing_blocks += 1;
        frame[..n].fill(0);
        Ok(n)
    }

    fn write(&mut self, slot: usize, frame: &[u8]) -> Result<(), HalError> {
        if slot >= self.slots.len() {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        }
        if self.slots[slot].dialling || !self.clocked {
            return Ok(());
        }
        let n = self.block_bytes.min(frame.len());
        // A caller-ID burst replaces the engine's audio while it lasts.
        let mut burst = [0u8; 2 * crate::audio::MAX_FRAME_SAMPLES];
        let mut frame = frame;
        if let Some(c) = self.slots[slot].cid.as_mut()
            && c.busy()
        {
            let mut pcm = [0i16; crate::audio::MAX_FRAME_SAMPLES];
            let samples = (n / 2).min(pcm.len());
            let ended = c.generate(&mut pcm[..samples]);
            for (b, v) in burst.chunks_exact_mut(2).zip(&pcm[..samples]) {
                b.copy_from_slice(&v.to_ne_bytes());
            }
            frame = &burst[..2 * samples];
            if ended {
                let mut out = Outputs::default();
                self.slots[slot].sig.cid_done(&mut out);
                self.apply(slot, out);
            }
        }
        for _ in 0..2 {
            match (&self.slots[slot].fd).write(&frame[..n]) {
                Ok(w) => {
                    // A driver takes a whole block or nothing; count anything short.
                    if w < n {
                        self.missing_blocks += 1;
                    }
                    return Ok(());
                }
                Err(e) => {
                    if !self.io_failed(slot, &e, "DAHDI write")? {
                        break;
                    }
                }
            }
        }
        self.missing_blocks += 1;
        Ok(())
    }

    fn command(&mut self, slot: usize, command: &Command) -> Result<(), HalError> {
        let Some(s) = self.slots.get_mut(slot) else {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        };
        let mut out = Outputs::default();
        let (id, kind) = (s.id, s.kind);
        s.sig.command(id, kind, command, &mut out)?;
        self.apply(slot, out);
        Ok(())
    }

    fn poll_signal(&mut self) -> Option<(usize, Signal)> {
        self.signals.pop_front()
    }
}
