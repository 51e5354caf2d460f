//! The DAHDI user-space interface: ioctl request numbers, structure layouts, events and
//! constants (magic `0xDA`, LP64 Linux).
//!
//! A request number embeds the size of its argument, so a structure one byte off gives
//! `ENOTTY` or `EINVAL` from the driver: every number and layout here is checked against the
//! real header by `tests/dahdi_abi.rs` (a C probe compiled against `dahdi/user.h`, which
//! `scripts/deps --test` installs from Debian's `dahdi-source`). The request numbers are
//! computed with nix's `request_code_*!` from direction, number and size, as the header's
//! `_IOR`/`_IOW`/`_IOWR` do.
//!
//! Calls go through [`ioctl_int`], [`ioctl_ptr`] and [`ioctl_ptr_mut`]: the caller names
//! the request and the argument; the size is checked against the request number before the
//! call, so a mismatched pair is an error, not a kernel write past a buffer.

// ioctl(2), see the SAFETY notes. The request type is c_ulong on glibc and c_int on musl:
// the casts to u64 are not no-ops everywhere.
#![allow(unsafe_code, clippy::unnecessary_cast)]

use nix::libc;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The ioctl magic of DAHDI.
pub const MAGIC: u8 = 0xDA;

type Req = nix::sys::ioctl::ioctl_num_type;

const fn r(nr: u8, size: usize) -> Req {
    nix::request_code_read!(MAGIC, nr, size)
}
const fn w(nr: u8, size: usize) -> Req {
    nix::request_code_write!(MAGIC, nr, size)
}
const fn rw(nr: u8, size: usize) -> Req {
    nix::request_code_readwrite!(MAGIC, nr, size)
}

const INT: usize = size_of::<libc::c_int>();

/// Samples per read/write block (`int`).
pub const GET_BLOCKSIZE: Req = r(1, INT);
/// Sets the block size (`int`, 16..8192).
pub const SET_BLOCKSIZE: Req = w(1, INT);
/// Flushes buffers (`int`: [`FLUSH_READ`] …).
pub const FLUSH: Req = w(3, INT);
/// Reads a channel's parameters ([`Params`]; on `/dev/dahdi/ctl` set `channo` first).
pub const GET_PARAMS: Req = rw(5, size_of::<Params>());
/// Sets a channel's timing parameters ([`Params`]).
pub const SET_PARAMS: Req = w(5, size_of::<Params>());
/// Hook state / ring (`int`: [`HOOK_ONHOOK`] …).
pub const HOOK: Req = w(7, INT);
/// The next signalling event (`int`, [`EVENT_NONE`] when none).
pub const GETEVENT: Req = r(8, INT);
/// A span's status ([`SpanInfo`], `spanno` 0 = this channel's span).
pub const SPANSTAT: Req = rw(10, size_of::<SpanInfo>());
/// Maintenance (loopbacks, alarm simulation): `{int spanno; int command}`.
pub const MAINT: Req = w(11, 2 * INT);
/// Sends a tone of the tone zone (`int`, −1 stops).
pub const SENDTONE: Req = w(21, INT);
/// Selects a tone zone (`int`).
pub const SETTONEZONE: Req = w(22, INT);
/// The tone zone in force (`int`).
pub const GETTONEZONE: Req = r(22, INT);
/// Reads buffer policy ([`BufferInfo`]).
pub const GET_BUFINFO: Req = r(27, size_of::<BufferInfo>());
/// Sets buffer policy ([`BufferInfo`]).
pub const SET_BUFINFO: Req = w(27, size_of::<BufferInfo>());
/// Dials a string ([`DialOperation`]).
pub const DIAL: Req = w(31, size_of::<DialOperation>());
/// Legacy echo canceller switch (`int` taps, 0 off).
pub const ECHOCANCEL: Req = w(33, INT);
/// Echo canceller parameters: the request encodes only the 8-byte [`EchoCanParams`]
/// header; the driver then reads `param_count` [`EchoCanParam`]s that follow it.
pub const ECHOCANCEL_PARAMS: Req = w(33, size_of::<EchoCanParams>());
/// This fd's channel number (`int`).
pub const CHANNO: Req = r(34, INT);
/// 1 while a [`DIAL`] string is being sent (`int`).
pub const DIALING: Req = r(35, INT);
/// Binds a `/dev/dahdi/channel` fd to a channel (`int`), before any other request.
pub const SPECIFY: Req = w(38, INT);
/// Law for law-mode read/write (`int`: 0 default, 1 μ-law, 2 A-law).
pub const SETLAW: Req = w(39, INT);
/// Linear 16-bit read/write (`int` 1) or law bytes (0).
pub const SETLINEAR: Req = w(40, INT);
/// Ring cadence (`int[16]`, ms on/off pairs).
pub const SETCADENCE: Req = w(42, 16 * INT);
/// Received CAS bits (`int`, A=8 B=4 C=2 D=1).
pub const GETRXBITS: Req = r(43, INT);
/// CAS bits to send (`int`).
pub const SETTXBITS: Req = w(43, INT);
/// On-hook transmission for caller ID on an FXS port (`int` ms).
pub const ONHOOKTRANSFER: Req = w(51, INT);
/// Driver and echo canceller names ([`Version`]).
pub const GETVERSION: Req = r(57, size_of::<Version>());
/// Hardware DTMF detection (`int`: 1 on, 2 mute).
pub const TONEDETECT: Req = w(91, INT);
/// Line polarity (`int`: 0 forward, 1 reverse).
pub const SETPOLARITY: Req = w(92, INT);
/// Hardware message-waiting indication (`int` message count).
pub const VMWI: Req = rw(94, INT);
/// Buffer overrun/underrun events (`int` 1 on).
pub const BUFFER_EVENTS: Req = w(105, INT);

/// Every request above by the header's name (for the ABI check and diagnostics).
pub const REQUESTS: &[(&str, Req)] = &[
    ("DAHDI_GET_BLOCKSIZE", GET_BLOCKSIZE),
    ("DAHDI_SET_BLOCKSIZE", SET_BLOCKSIZE),
    ("DAHDI_FLUSH", FLUSH),
    ("DAHDI_GET_PARAMS", GET_PARAMS),
    ("DAHDI_SET_PARAMS", SET_PARAMS),
    ("DAHDI_HOOK", HOOK),
    ("DAHDI_GETEVENT", GETEVENT),
    ("DAHDI_SPANSTAT", SPANSTAT),
    ("DAHDI_MAINT", MAINT),
    ("DAHDI_SENDTONE", SENDTONE),
    ("DAHDI_SETTONEZONE", SETTONEZONE),
    ("DAHDI_GETTONEZONE", GETTONEZONE),
    ("DAHDI_GET_BUFINFO", GET_BUFINFO),
    ("DAHDI_SET_BUFINFO", SET_BUFINFO),
    ("DAHDI_DIAL", DIAL),
    ("DAHDI_ECHOCANCEL", ECHOCANCEL),
    ("DAHDI_ECHOCANCEL_PARAMS", ECHOCANCEL_PARAMS),
    ("DAHDI_CHANNO", CHANNO),
    ("DAHDI_DIALING", DIALING),
    ("DAHDI_SPECIFY", SPECIFY),
    ("DAHDI_SETLAW", SETLAW),
    ("DAHDI_SETLINEAR", SETLINEAR),
    ("DAHDI_SETCADENCE", SETCADENCE),
    ("DAHDI_GETRXBITS", GETRXBITS),
    ("DAHDI_SETTXBITS", SETTXBITS),
    ("DAHDI_ONHOOKTRANSFER", ONHOOKTRANSFER),
    ("DAHDI_GETVERSION", GETVERSION),
    ("DAHDI_TONEDETECT", TONEDETECT),
    ("DAHDI_SETPOLARITY", SETPOLARITY),
    ("DAHDI_VMWI", VMWI),
    ("DAHDI_BUFFER_EVENTS", BUFFER_EVENTS),
];

/// `struct dahdi_params` (136 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Channel number (set it before `GET_PARAMS` on `/dev/dahdi/ctl`).
    pub channo: libc::c_int,
    /// Span number.
    pub spanno: libc::c_int,
    /// Position in the span.
    pub chanpos: libc::c_int,
    /// Signalling type ([`SIG_FXOKS`] …).
    pub sigtype: libc::c_int,
    /// Signalling types the channel can do.
    pub sigcap: libc::c_int,
    /// Receive hook state.
    pub rxisoffhook: libc::c_int,
    /// Received CAS bits.
    pub rxbits: libc::c_int,
    /// Sent CAS bits.
    pub txbits: libc::c_int,
    /// Sent hook signal.
    pub txhooksig: libc::c_int,
    /// Received hook signal.
    pub rxhooksig: libc::c_int,
    /// Law in use (1 μ-law, 2 A-law).
    pub curlaw: libc::c_int,
    /// Idle CAS bits.
    pub idlebits: libc::c_int,
    /// The channel's name (NUL-terminated).
    pub name: [libc::c_char; 40],
    /// Pre-wink time, ms.
    pub prewinktime: libc::c_int,
    /// Pre-flash time, ms.
    pub preflashtime: libc::c_int,
    /// Wink time, ms.
    pub winktime: libc::c_int,
    /// Flash time, ms.
    pub flashtime: libc::c_int,
    /// Start time, ms.
    pub starttime: libc::c_int,
    /// Received wink time, ms.
    pub rxwinktime: libc::c_int,
    /// Received flash time, ms.
    pub rxflashtime: libc::c_int,
    /// Hook debounce time, ms.
    pub debouncetime: libc::c_int,
    /// Pulse dialling break, ms.
    pub pulsebreaktime: libc::c_int,
    /// Pulse dialling make, ms.
    pub pulsemaketime: libc::c_int,
    /// Pause after a pulse digit, ms.
    pub pulseaftertime: libc::c_int,
    /// The channel's alarms ([`ALARM_RED`] …).
    pub chan_alarms: u32,
}

impl Default for Params {
    fn default() -> Params {
        // SAFETY: all-zero is a valid value of this plain C struct.
        unsafe { core::mem::zeroed() }
    }
}

/// `struct dahdi_bufferinfo` (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferInfo {
    /// Transmit policy ([`POLICY_IMMEDIATE`] …).
    pub txbufpolicy: libc::c_int,
    /// Receive policy.
    pub rxbufpolicy: libc::c_int,
    /// Buffers (2..32).
    pub numbufs: libc::c_int,
    /// Bytes per buffer.
    pub bufsize: libc::c_int,
    /// Buffers holding received data (read only).
    pub readbufs: libc::c_int,
    /// Buffers holding data to send (read only).
    pub writebufs: libc::c_int,
}

/// `struct dahdi_spaninfo` (314 bytes, packed).
#[repr(C, packed)]
#[derive(Debug, Clone, Copy)]
pub struct SpanInfo {
    /// Span number (0: the span of the fd's channel).
    pub spanno: libc::c_int,
    /// Name.
    pub name: [libc::c_char; 20],
    /// Description.
    pub desc: [libc::c_char; 40],
    /// Alarms ([`ALARM_RED`] …).
    pub alarms: libc::c_int,
    /// Transmit level.
    pub txlevel: libc::c_int,
    /// Receive level.
    pub rxlevel: libc::c_int,
    /// Bipolar violations.
    pub bpvcount: libc::c_int,
    /// CRC-4 errors.
    pub crc4count: libc::c_int,
    /// E-bit errors.
    pub ebitcount: libc::c_int,
    /// Frame alignment errors.
    pub fascount: libc::c_int,
    /// Framing errors.
    pub fecount: u32,
    /// Code violations.
    pub cvcount: u32,
    /// Block errors.
    pub becount: u32,
    /// PRBS errors.
    pub prbs: u32,
    /// Errored seconds.
    pub errsec: u32,
    /// Interrupts missed.
    pub irqmisses: libc::c_int,
    /// Timing source.
    pub syncsrc: libc::c_int,
    /// Configured channels.
    pub numchans: libc::c_int,
    /// All channels.
    pub totalchans: libc::c_int,
    /// Spans in the system.
    pub totalspans: libc::c_int,
    /// Line build-out.
    pub lbo: libc::c_int,
    /// Framing and coding in force.
    pub lineconfig: libc::c_int,
    /// Line build-out name.
    pub lboname: [libc::c_char; 40],
    /// Physical location.
    pub location: [libc::c_char; 40],
    /// Manufacturer.
    pub manufacturer: [libc::c_char; 40],
    /// Device type.
    pub devicetype: [libc::c_char; 40],
    /// IRQ.
    pub irq: libc::c_int,
    /// Framing and coding the span can do.
    pub linecompat: libc::c_int,
    /// Span type (`T1`, `E1`, `FXS` …).
    pub spantype: [libc::c_char; 6],
}

impl Default for SpanInfo {
    fn default() -> SpanInfo {
        // SAFETY: all-zero is a valid value of this plain C struct.
        unsafe { core::mem::zeroed() }
    }
}

/// `struct dahdi_dialoperation` (260 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DialOperation {
    /// [`DIAL_OP_APPEND`], [`DIAL_OP_REPLACE`] or [`DIAL_OP_CANCEL`].
    pub op: libc::c_int,
    /// What to dial (`T` DTMF, `P` pulse, `M` MF, `w` pause …), NUL-terminated.
    pub dialstr: [libc::c_char; 256],
}

/// `struct dahdi_echocanparams`: the header of an `ECHOCANCEL_PARAMS` argument.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoCanParams {
    /// Tail in taps (0: off).
    pub tap_length: u32,
    /// [`EchoCanParam`]s that follow.
    pub param_count: u32,
}

/// `struct dahdi_echocanparam` (20 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EchoCanParam {
    /// Parameter name (NUL-terminated).
    pub name: [libc::c_char; 16],
    /// Its value.
    pub value: i32,
}

/// `struct dahdi_versioninfo` (160 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Version {
    /// Driver version.
    pub version: [libc::c_char; 80],
    /// Echo canceller name.
    pub echo_canceller: [libc::c_char; 80],
}

/// Hook values for [`HOOK`].
pub const HOOK_ONHOOK: libc::c_int = 0;
/// Off hook.
pub const HOOK_OFFHOOK: libc::c_int = 1;
/// Wink.
pub const HOOK_WINK: libc::c_int = 2;
/// Hook flash.
pub const HOOK_FLASH: libc::c_int = 3;
/// Start.
pub const HOOK_START: libc::c_int = 4;
/// Ring (FXS port).
pub const HOOK_RING: libc::c_int = 5;
/// Stop ringing.
pub const HOOK_RINGOFF: libc::c_int = 6;

/// Buffer policies.
pub const POLICY_IMMEDIATE: libc::c_int = 0;
/// Send when full.
pub const POLICY_WHEN_FULL: libc::c_int = 1;
/// Send when half full.
pub const POLICY_HALF_FULL: libc::c_int = 2;

/// [`FLUSH`] what.
pub const FLUSH_READ: libc::c_int = 1;
/// Flush the write buffers.
pub const FLUSH_WRITE: libc::c_int = 2;
/// Both.
pub const FLUSH_BOTH: libc::c_int = 3;
/// The event queue.
pub const FLUSH_EVENT: libc::c_int = 4;
/// Everything.
pub const FLUSH_ALL: libc::c_int = 7;

/// [`SETLAW`] values.
pub const LAW_DEFAULT: libc::c_int = 0;
/// μ-law.
pub const LAW_MULAW: libc::c_int = 1;
/// A-law.
pub const LAW_ALAW: libc::c_int = 2;

/// [`DialOperation::op`] values.
pub const DIAL_OP_APPEND: libc::c_int = 1;
/// Replace what is being dialled.
pub const DIAL_OP_REPLACE: libc::c_int = 2;
/// Stop dialling.
pub const DIAL_OP_CANCEL: libc::c_int = 3;

/// Events from [`GETEVENT`].
pub const EVENT_NONE: libc::c_int = 0;
/// FXS port: the phone hung up; FXO port: far-end disconnect (loop current drop).
pub const EVENT_ONHOOK: libc::c_int = 1;
/// FXS port: off hook; FXO port: a ring burst ended.
pub const EVENT_RINGOFFHOOK: libc::c_int = 2;
/// Hook flash (FXS port), wink (E&M).
pub const EVENT_WINKFLASH: libc::c_int = 3;
/// Span alarm raised.
pub const EVENT_ALARM: libc::c_int = 4;
/// Span alarm cleared.
pub const EVENT_NOALARM: libc::c_int = 5;
/// HDLC abort.
pub const EVENT_ABORT: libc::c_int = 6;
/// HDLC overrun.
pub const EVENT_OVERRUN: libc::c_int = 7;
/// HDLC bad FCS.
pub const EVENT_BADFCS: libc::c_int = 8;
/// A [`DIAL`] string finished.
pub const EVENT_DIALCOMPLETE: libc::c_int = 9;
/// FXS port ringer on.
pub const EVENT_RINGERON: libc::c_int = 10;
/// FXS port ringer off.
pub const EVENT_RINGEROFF: libc::c_int = 11;
/// A requested flash or wink is done.
pub const EVENT_HOOKCOMPLETE: libc::c_int = 12;
/// CAS bits changed.
pub const EVENT_BITSCHANGED: libc::c_int = 13;
/// Pulse dialling started.
pub const EVENT_PULSE_START: libc::c_int = 14;
/// Line polarity reversed.
pub const EVENT_POLARITY: libc::c_int = 17;
/// FXO port: a ring burst started.
pub const EVENT_RINGBEGIN: libc::c_int = 18;
/// The echo canceller was disabled (fax/modem tone).
pub const EVENT_EC_DISABLED: libc::c_int = 19;
/// The hardware is gone: close the fd.
pub const EVENT_REMOVED: libc::c_int = 20;
/// Read overrun (after [`BUFFER_EVENTS`]).
pub const EVENT_READ_OVERRUN: libc::c_int = 29;
/// Write underrun (after [`BUFFER_EVENTS`]).
pub const EVENT_WRITE_UNDERRUN: libc::c_int = 30;
/// Pulse digit (`| digit`).
pub const EVENT_PULSEDIGIT: libc::c_int = 1 << 16;
/// Hardware DTMF down (`| digit`).
pub const EVENT_DTMFDOWN: libc::c_int = 1 << 17;
/// Hardware DTMF up (`| digit`).
pub const EVENT_DTMFUP: libc::c_int = 1 << 18;

/// `errno` of a read/write refused because an event is pending (`ELAST` in the header).
pub const ELAST: libc::c_int = 500;

/// Alarm bits.
pub const ALARM_RECOVER: libc::c_int = 1;
/// Loopback.
pub const ALARM_LOOPBACK: libc::c_int = 2;
/// Yellow (remote) alarm.
pub const ALARM_YELLOW: libc::c_int = 4;
/// Red (local) alarm.
pub const ALARM_RED: libc::c_int = 8;
/// Blue (AIS) alarm.
pub const ALARM_BLUE: libc::c_int = 16;
/// The span is not open.
pub const ALARM_NOTOPEN: libc::c_int = 32;
/// Detail of a red alarm: loss of signal.
pub const ALARM_LOS: libc::c_int = 1 << 8;
/// Detail of a red alarm: loss of frame alignment.
pub const ALARM_LFA: libc::c_int = 1 << 9;
/// Detail of a red alarm: loss of multiframe alignment.
pub const ALARM_LMFA: libc::c_int = 1 << 10;

/// Signalling types ([`Params::sigtype`]): FXO port to a CO line, loop start.
pub const SIG_FXSLS: libc::c_int = 0x2001;
/// FXO port, ground start.
pub const SIG_FXSGS: libc::c_int = 0x2002;
/// FXO port, kewlstart.
pub const SIG_FXSKS: libc::c_int = 0x2004;
/// FXS port to a phone, loop start.
pub const SIG_FXOLS: libc::c_int = 0x1008;
/// FXS port, ground start.
pub const SIG_FXOGS: libc::c_int = 0x1010;
/// FXS port, kewlstart.
pub const SIG_FXOKS: libc::c_int = 0x1020;
/// E&M (T1 robbed bit).
pub const SIG_EM: libc::c_int = 0x40;
/// Clear channel (B-channel).
pub const SIG_CLEAR: libc::c_int = 0x80;
/// HDLC with FCS (D-channel).
pub const SIG_HDLCFCS: libc::c_int = 0x380;
/// Hardware HDLC.
pub const SIG_HARDHDLC: libc::c_int = 0x80080;
/// E&M on E1.
pub const SIG_EM_E1: libc::c_int = 0x20000;
/// CAS (MFC/R2).
pub const SIG_CAS: libc::c_int = 0x8000;

/// Every constant above by the header's name (for the ABI check).
pub const CONSTANTS: &[(&str, i64)] = &[
    ("DAHDI_ONHOOK", HOOK_ONHOOK as i64),
    ("DAHDI_OFFHOOK", HOOK_OFFHOOK as i64),
    ("DAHDI_WINK", HOOK_WINK as i64),
    ("DAHDI_FLASH", HOOK_FLASH as i64),
    ("DAHDI_START", HOOK_START as i64),
    ("DAHDI_RING", HOOK_RING as i64),
    ("DAHDI_RINGOFF", HOOK_RINGOFF as i64),
    ("DAHDI_POLICY_IMMEDIATE", POLICY_IMMEDIATE as i64),
    ("DAHDI_POLICY_WHEN_FULL", POLICY_WHEN_FULL as i64),
    ("DAHDI_POLICY_HALF_FULL", POLICY_HALF_FULL as i64),
    ("DAHDI_FLUSH_READ", FLUSH_READ as i64),
    ("DAHDI_FLUSH_WRITE", FLUSH_WRITE as i64),
    ("DAHDI_FLUSH_BOTH", FLUSH_BOTH as i64),
    ("DAHDI_FLUSH_EVENT", FLUSH_EVENT as i64),
    ("DAHDI_FLUSH_ALL", FLUSH_ALL as i64),
    ("DAHDI_LAW_DEFAULT", LAW_DEFAULT as i64),
    ("DAHDI_LAW_MULAW", LAW_MULAW as i64),
    ("DAHDI_LAW_ALAW", LAW_ALAW as i64),
    ("DAHDI_DIAL_OP_APPEND", DIAL_OP_APPEND as i64),
    ("DAHDI_DIAL_OP_REPLACE", DIAL_OP_REPLACE as i64),
    ("DAHDI_DIAL_OP_CANCEL", DIAL_OP_CANCEL as i64),
    ("DAHDI_EVENT_NONE", EVENT_NONE as i64),
    ("DAHDI_EVENT_ONHOOK", EVENT_ONHOOK as i64),
    ("DAHDI_EVENT_RINGOFFHOOK", EVENT_RINGOFFHOOK as i64),
    ("DAHDI_EVENT_WINKFLASH", EVENT_WINKFLASH as i64),
    ("DAHDI_EVENT_ALARM", EVENT_ALARM as i64),
    ("DAHDI_EVENT_NOALARM", EVENT_NOALARM as i64),
    ("DAHDI_EVENT_ABORT", EVENT_ABORT as i64),
    ("DAHDI_EVENT_OVERRUN", EVENT_OVERRUN as i64),
    ("DAHDI_EVENT_BADFCS", EVENT_BADFCS as i64),
    ("DAHDI_EVENT_DIALCOMPLETE", EVENT_DIALCOMPLETE as i64),
    ("DAHDI_EVENT_RINGERON", EVENT_RINGERON as i64),
    ("DAHDI_EVENT_RINGEROFF", EVENT_RINGEROFF as i64),
    ("DAHDI_EVENT_HOOKCOMPLETE", EVENT_HOOKCOMPLETE as i64),
    ("DAHDI_EVENT_BITSCHANGED", EVENT_BITSCHANGED as i64),
    ("DAHDI_EVENT_PULSE_START", EVENT_PULSE_START as i64),
    ("DAHDI_EVENT_POLARITY", EVENT_POLARITY as i64),
    ("DAHDI_EVENT_RINGBEGIN", EVENT_RINGBEGIN as i64),
    ("DAHDI_EVENT_EC_DISABLED", EVENT_EC_DISABLED as i64),
    ("DAHDI_EVENT_REMOVED", EVENT_REMOVED as i64),
    ("DAHDI_EVENT_READ_OVERRUN", EVENT_READ_OVERRUN as i64),
    ("DAHDI_EVENT_WRITE_UNDERRUN", EVENT_WRITE_UNDERRUN as i64),
    ("DAHDI_EVENT_PULSEDIGIT", EVENT_PULSEDIGIT as i64),
    ("DAHDI_EVENT_DTMFDOWN", EVENT_DTMFDOWN as i64),
    ("DAHDI_EVENT_DTMFUP", EVENT_DTMFUP as i64),
    ("ELAST", ELAST as i64),
    ("DAHDI_ALARM_RECOVER", ALARM_RECOVER as i64),
    ("DAHDI_ALARM_LOOPBACK", ALARM_LOOPBACK as i64),
    ("DAHDI_ALARM_YELLOW", ALARM_YELLOW as i64),
    ("DAHDI_ALARM_RED", ALARM_RED as i64),
    ("DAHDI_ALARM_BLUE", ALARM_BLUE as i64),
    ("DAHDI_ALARM_NOTOPEN", ALARM_NOTOPEN as i64),
    ("DAHDI_ALARM_LOS", ALARM_LOS as i64),
    ("DAHDI_ALARM_LFA", ALARM_LFA as i64),
    ("DAHDI_ALARM_LMFA", ALARM_LMFA as i64),
    ("DAHDI_SIG_FXSLS", SIG_FXSLS as i64),
    ("DAHDI_SIG_FXSGS", SIG_FXSGS as i64),
    ("DAHDI_SIG_FXSKS", SIG_FXSKS as i64),
    ("DAHDI_SIG_FXOLS", SIG_FXOLS as i64),
    ("DAHDI_SIG_FXOGS", SIG_FXOGS as i64),
    ("DAHDI_SIG_FXOKS", SIG_FXOKS as i64),
    ("DAHDI_SIG_EM", SIG_EM as i64),
    ("DAHDI_SIG_CLEAR", SIG_CLEAR as i64),
    ("DAHDI_SIG_HDLCFCS", SIG_HDLCFCS as i64),
    ("DAHDI_SIG_HARDHDLC", SIG_HARDHDLC as i64),
    ("DAHDI_SIG_EM_E1", SIG_EM_E1 as i64),
    ("DAHDI_SIG_CAS", SIG_CAS as i64),
];

/// Sizes and field offsets of the structures above by the header's names (for the ABI
/// check): `(struct, field or "", value)`.
pub fn layout() -> Vec<(&'static str, &'static str, usize)> {
    use core::mem::offset_of;
    vec![
        ("dahdi_params", "", size_of::<Params>()),
        ("dahdi_params", "channo", offset_of!(Params, channo)),
        ("dahdi_params", "sigtype", offset_of!(Params, sigtype)),
        (
            "dahdi_params",
            "rxisoffhook",
            offset_of!(Params, rxisoffhook),
        ),
        ("dahdi_params", "curlaw", offset_of!(Params, curlaw)),
        ("dahdi_params", "name", offset_of!(Params, name)),
        (
            "dahdi_params",
            "prewinktime",
            offset_of!(Params, prewinktime),
        ),
        (
            "dahdi_params",
            "debouncetime",
            offset_of!(Params, debouncetime),
        ),
        (
            "dahdi_params",
            "pulseaftertime",
            offset_of!(Params, pulseaftertime),
        ),
        (
            "dahdi_params",
            "chan_alarms",
            offset_of!(Params, chan_alarms),
        ),
        ("dahdi_bufferinfo", "", size_of::<BufferInfo>()),
        (
            "dahdi_bufferinfo",
            "numbufs",
            offset_of!(BufferInfo, numbufs),
        ),
        (
            "dahdi_bufferinfo",
            "writebufs",
            offset_of!(BufferInfo, writebufs),
        ),
        ("dahdi_spaninfo", "", size_of::<SpanInfo>()),
        ("dahdi_spaninfo", "name", offset_of!(SpanInfo, name)),
        ("dahdi_spaninfo", "desc", offset_of!(SpanInfo, desc)),
        ("dahdi_spaninfo", "alarms", offset_of!(SpanInfo, alarms)),
        ("dahdi_spaninfo", "bpvcount", offset_of!(SpanInfo, bpvcount)),
        ("dahdi_spaninfo", "fecount", offset_of!(SpanInfo, fecount)),
        (
            "dahdi_spaninfo",
            "irqmisses",
            offset_of!(SpanInfo, irqmisses),
        ),
        ("dahdi_spaninfo", "numchans", offset_of!(SpanInfo, numchans)),
        (
            "dahdi_spaninfo",
            "lineconfig",
            offset_of!(SpanInfo, lineconfig),
        ),
        ("dahdi_spaninfo", "lboname", offset_of!(SpanInfo, lboname)),
        ("dahdi_spaninfo", "location", offset_of!(SpanInfo, location)),
        (
            "dahdi_spaninfo",
            "manufacturer",
            offset_of!(SpanInfo, manufacturer),
        ),
        (
            "dahdi_spaninfo",
            "devicetype",
            offset_of!(SpanInfo, devicetype),
        ),
        ("dahdi_spaninfo", "irq", offset_of!(SpanInfo, irq)),
        (
            "dahdi_spaninfo",
            "linecompat",
            offset_of!(SpanInfo, linecompat),
        ),
        ("dahdi_spaninfo", "spantype", offset_of!(SpanInfo, spantype)),
        ("dahdi_dialoperation", "", size_of::<DialOperation>()),
        (
            "dahdi_dialoperation",
            "dialstr",
            offset_of!(DialOperation, dialstr),
        ),
        ("dahdi_echocanparams", "", size_of::<EchoCanParams>()),
        ("dahdi_echocanparam", "", size_of::<EchoCanParam>()),
        (
            "dahdi_echocanparam",
            "value",
            offset_of!(EchoCanParam, value),
        ),
        ("dahdi_versioninfo", "", size_of::<Version>()),
        (
            "dahdi_versioninfo",
            "echo_canceller",
            offset_of!(Version, echo_canceller),
        ),
    ]
}

/// The size a request number says its argument has.
pub const fn request_size(req: Req) -> usize {
    ((req as u64 >> 16) & 0x3FFF) as usize
}

/// Why a DAHDI request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IoctlError {
    /// The argument's size is not the one the request number encodes (a bug here, caught
    /// before the kernel writes anything).
    #[error("DAHDI request {req:#x}: argument of {got} bytes, the request says {want}")]
    Size {
        /// The request.
        req: u64,
        /// The argument's size.
        got: usize,
        /// The size in the request number.
        want: usize,
    },
    /// The driver refused it.
    #[error("DAHDI request {req:#x}: {errno}")]
    Os {
        /// The request.
        req: u64,
        /// What the driver said.
        errno: nix::errno::Errno,
    },
}

/// The text of a NUL-terminated `char` array in a DAHDI structure (a channel's or span's
/// name), up to the first NUL; bytes above 127 are taken as Latin-1.
pub fn c_str(chars: &[libc::c_char]) -> String {
    chars
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| char::from(*c as u8))
        .collect()
}

/// A request whose argument is an `int` passed by pointer (as DAHDI's `int` requests are).
///
/// # Errors
/// [`IoctlError`].
pub fn ioctl_int(fd: BorrowedFd<'_>, req: Req, value: &mut libc::c_int) -> Result<(), IoctlError> {
    ioctl_ptr_mut(fd, req, value)
}

/// A request that only reads `*arg`.
///
/// # Errors
/// [`IoctlError`].
pub fn ioctl_ptr<T: Copy>(fd: BorrowedFd<'_>, req: Req, arg: &T) -> Result<(), IoctlError> {
    check(req, size_of::<T>())?;
    // SAFETY: `arg` is a valid `T` for the call, of the size the request encodes (checked
    // above), and the driver only reads it for a write request; the fd is open while
    // borrowed.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *const T) };
    done(req, r)
}

/// A request that may write `*arg`.
///
/// # Errors
/// [`IoctlError`].
pub fn ioctl_ptr_mut<T: Copy>(fd: BorrowedFd<'_>, req: Req, arg: &mut T) -> Result<(), IoctlError> {
    check(req, size_of::<T>())?;
    // SAFETY: `arg` is a valid, writable `T` of the size the request encodes (checked
    // above), so the driver writes within it; `T: Copy` has no invariants a byte-wise write
    // of a plain C struct could break. The fd is open while borrowed.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg as *mut T) };
    done(req, r)
}

fn check(req: Req, got: usize) -> Result<(), IoctlError> {
    let want = request_size(req);
    if got == want {
        Ok(())
    } else {
        Err(IoctlError::Size {
            req: req as u64,
            got,
            want,
        })
    }
}

fn done(req: Req, r: libc::c_int) -> Result<(), IoctlError> {
    if r < 0 {
        Err(IoctlError::Os {
            req: req as u64,
            errno: nix::errno::Errno::last(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_reference_table() {
        // hardware.md §1.2, as the header's _IOR/_IOW/_IOWR make them on LP64.
        for (req, want) in [
            (SPECIFY, 0x4004_DA26u64),
            (GET_BLOCKSIZE, 0x8004_DA01),
            (SET_BUFINFO, 0x4018_DA1B),
            (GET_PARAMS, 0xC088_DA05),
            (SET_PARAMS, 0x4088_DA05),
            (SPANSTAT, 0xC13A_DA0A),
            (DIAL, 0x4104_DA1F),
            (ECHOCANCEL_PARAMS, 0x4008_DA21),
            (GETVERSION, 0x80A0_DA39),
            (SETCADENCE, 0x4040_DA2A),
        ] {
            assert_eq!(req as u64, want, "{req:#x}");
        }
        assert_eq!(size_of::<Params>(), 136);
        assert_eq!(size_of::<SpanInfo>(), 314);
    }

    #[test]
    fn a_mismatched_argument_is_refused_before_the_kernel() {
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&f);
        let mut small = 0u8;
        assert!(matches!(
            ioctl_ptr_mut(fd, GET_PARAMS, &mut small),
            Err(IoctlError::Size {
                got: 1,
                want: 136,
                ..
            })
        ));
        // The right size reaches the driver, which (being /dev/null) does not know it.
        let mut p = Params::default();
        assert!(matches!(
            ioctl_ptr_mut(fd, GET_PARAMS, &mut p),
            Err(IoctlError::Os {
                errno: nix::errno::Errno::ENOTTY,
                ..
            })
        ));
    }
}
