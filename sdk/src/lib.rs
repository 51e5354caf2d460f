//! # tipring-handler
//!
//! Write Tipring call handlers in Rust. A handler is a shared object (`crate-type =
//! ["cdylib"]`) that tipringd loads; it gets one instance of your type per call, and that
//! call's events, one at a time. Every operation (answer, play, collect digits, record, …)
//! returns at once with an [`OpId`]; its outcome arrives later as
//! [`Event::OpComplete`] with that id. Nothing may block inside
//! [`CallHandler::on_event`].
//!
//! ```no_run
//! use tipring_handler::{CallHandler, Channel, Collect, Event, HandlerError, OpResult, Play};
//!
//! struct Echo;
//!
//! impl CallHandler for Echo {
//!     fn new(_params: &str) -> Result<Self, HandlerError> {
//!         Ok(Echo)
//!     }
//!     fn on_event(&mut self, ch: &mut Channel<'_>, ev: &Event<'_>) -> Result<(), HandlerError> {
//!         match ev {
//!             Event::Offer { .. } => {
//!                 ch.answer()?;
//!             }
//!             Event::Answered => {
//!                 ch.collect(&Collect::digits(4).term("#"))?;
//!             }
//!             Event::OpComplete { digits, .. } => {
//!                 ch.log_info(&format!("caller keyed {digits}"));
//!                 ch.hangup(16)?;
//!             }
//!             _ => {}
//!         }
//!         Ok(())
//!     }
//! }
//!
//! tipring_handler::export_handler!(Echo, name = "echo", version = "1.0.0");
//! ```
//!
//! The SDK catches panics at the boundary: a panic in your code ends that call only (the
//! host hangs it up); keep the default `panic = "unwind"` for this to work. See
//! `sdk/README.md` for the guide, and `include/tipring/handler.h` for the C ABI underneath.

#![deny(missing_docs)]

pub mod sys;

use core::ffi::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};

/// An operation's id, as the host numbered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// Why a host call was refused (the host's log line says more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A bad argument.
    Invalid,
    /// The call has ended.
    Gone,
    /// A media operation is already running on this call.
    Busy,
    /// The channel or host cannot do that.
    Unsupported,
    /// A limit was reached.
    Limit,
    /// The host failed.
    Internal,
    /// Called from the wrong thread or outside a callback.
    Context,
    /// A status this SDK doesn't know.
    Other(u32),
}

impl Status {
    fn from_raw(s: u32) -> Result<(), Status> {
        Err(match s {
            sys::TIPRING_OK => return Ok(()),
            sys::TIPRING_EINVAL => Status::Invalid,
            sys::TIPRING_EGONE => Status::Gone,
            sys::TIPRING_EBUSY => Status::Busy,
            sys::TIPRING_EUNSUPPORTED => Status::Unsupported,
            sys::TIPRING_ELIMIT => Status::Limit,
            sys::TIPRING_EINTERNAL => Status::Internal,
            sys::TIPRING_ECONTEXT => Status::Context,
            other => Status::Other(other),
        })
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Status::Invalid => "invalid argument",
            Status::Gone => "the call has ended",
            Status::Busy => "a media operation is already running",
            Status::Unsupported => "not supported on this channel",
            Status::Limit => "a limit was reached",
            Status::Internal => "host failure",
            Status::Context => "called outside the call's callback",
            Status::Other(n) => return write!(f, "status {n}"),
        };
        f.write_str(s)
    }
}

impl std::error::Error for Status {}

/// A handler's error: the host logs it and hangs the call up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError(pub String);

impl core::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandlerError {}

impl From<Status> for HandlerError {
    fn from(s: Status) -> Self {
        HandlerError(s.to_string())
    }
}

impl From<&str> for HandlerError {
    fn from(s: &str) -> Self {
        HandlerError(s.to_string())
    }
}

impl From<String> for HandlerError {
    fn from(s: String) -> Self {
        HandlerError(s)
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpResult {
    /// It ran to its end.
    Done,
    /// `stop`.
    Stopped,
    /// A time limit.
    Timeout,
    /// Collected the maximum number of digits.
    MaxDigits,
    /// A terminating digit (not included in the digits).
    TermDigit,
    /// Originate: busy.
    Busy,
    /// Originate: no answer.
    NoAnswer,
    /// Refused (congestion, SIT, unallocated number).
    Rejected,
    /// Failed; the cause and detail say why.
    Failed,
    /// The call ended while it ran.
    Hangup,
    /// Play: a digit interrupted it.
    BargeIn,
    /// Record: ended on silence.
    Silence,
    /// Record: reached its maximum length.
    MaxTime,
    /// A result this SDK doesn't know.
    Other(u32),
}

impl OpResult {
    fn from_raw(r: u32) -> Self {
        match r {
            sys::TIPRING_R_DONE => OpResult::Done,
            sys::TIPRING_R_STOPPED => OpResult::Stopped,
            sys::TIPRING_R_TIMEOUT => OpResult::Timeout,
            sys::TIPRING_R_MAXDIGITS => OpResult::MaxDigits,
            sys::TIPRING_R_TERMDIGIT => OpResult::TermDigit,
            sys::TIPRING_R_BUSY => OpResult::Busy,
            sys::TIPRING_R_NOANSWER => OpResult::NoAnswer,
            sys::TIPRING_R_REJECTED => OpResult::Rejected,
            sys::TIPRING_R_FAILED => OpResult::Failed,
            sys::TIPRING_R_HANGUP => OpResult::Hangup,
            sys::TIPRING_R_BARGEIN => OpResult::BargeIn,
            sys::TIPRING_R_SILENCE => OpResult::Silence,
            sys::TIPRING_R_MAXTIME => OpResult::MaxTime,
            other => OpResult::Other(other),
        }
    }
}

/// Something that happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A new call; `detail` is a JSON object (`caller`, `called`, `channel`). Answer it or
    /// hang up.
    Offer {
        /// Facts about the call, JSON.
        detail: &'a str,
    },
    /// The call is connected.
    Answered,
    /// An operation ended.
    OpComplete {
        /// Which.
        op: OpId,
        /// How.
        result: OpResult,
        /// Q.850 cause (failed originate), 0 if none.
        cause: u32,
        /// Collected digits (collect, play-and-collect).
        digits: &'a str,
        /// More facts, JSON (`{}` if none).
        detail: &'a str,
    },
    /// A digit outside any collection.
    Dtmf {
        /// The digit.
        digit: char,
    },
    /// The call ended (the instance is dropped next).
    Hangup {
        /// Q.850 cause.
        cause: u32,
    },
    /// A timer expired.
    Timer {
        /// The timer's op id.
        op: OpId,
    },
    /// [`Waker::wake`] was called.
    Wake {
        /// The token passed.
        token: u64,
    },
    /// A message for the call (from the API), JSON.
    Message {
        /// The message.
        json: &'a str,
    },
    /// A hook flash on the call's line: the phone on an FXS port flashed (ABI 1.1). What it
    /// means is the handler's to decide (transfer, call waiting, a menu's "back").
    Flash,
    /// An event kind this SDK doesn't know (ignore it).
    Unknown(u32),
}

fn host() -> Option<&'static sys::tipring_host_api> {
    let p = HOST.load(Ordering::Acquire);
    // SAFETY: HOST is only ever set (in `init`) to the host table the host passed, which the
    // ABI guarantees stays valid while the handler is loaded (it is never unloaded).
    unsafe { p.as_ref() }
}

static HOST: AtomicPtr<sys::tipring_host_api> = AtomicPtr::new(core::ptr::null_mut());

fn s(v: &str) -> sys::tipring_str {
    sys::tipring_str {
        ptr: v.as_ptr().cast(),
        len: v.len(),
    }
}

/// # Safety
/// `v` must be a valid `(ptr, len)` string for `'a` (the ABI guarantees this for strings the
/// host passes, for the duration of the callback).
unsafe fn borrow<'a>(v: sys::tipring_str) -> &'a str {
    if v.ptr.is_null() || v.len == 0 {
        return "";
    }
    // SAFETY: per this function's contract, `ptr` points to `len` readable bytes for 'a.
    let bytes = unsafe { core::slice::from_raw_parts(v.ptr.cast::<u8>(), v.len) };
    core::str::from_utf8(bytes).unwrap_or("")
}

/// Digit-collection limits (the host enforces them and completes the op).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collect {
    /// Most digits, 1–64.
    pub max_digits: u32,
    /// Digits that end collection (not included in the result).
    pub term_digits: String,
    /// Limit for the first digit, ms (0: none).
    pub first_digit_ms: u32,
    /// Limit between digits, ms (0: none).
    pub inter_digit_ms: u32,
    /// Limit for the whole collection, ms (0: none).
    pub total_ms: u32,
    /// Forget digits typed before the collection started.
    pub flush_typeahead: bool,
}

impl Collect {
    /// Up to `max` digits, 5 s for the first, 3 s between digits, typed-ahead digits kept.
    pub fn digits(max: u32) -> Self {
        Collect {
            max_digits: max,
            term_digits: String::new(),
            first_digit_ms: 5000,
            inter_digit_ms: 3000,
            total_ms: 0,
            flush_typeahead: false,
        }
    }

    /// With terminating digits.
    pub fn term(mut self, digits: &str) -> Self {
        self.term_digits = digits.to_string();
        self
    }

    fn raw(&self) -> sys::tipring_collect_opts {
        sys::tipring_collect_opts {
            struct_size: core::mem::size_of::<sys::tipring_collect_opts>() as u32,
            max_digits: self.max_digits,
            term_digits: s(&self.term_digits),
            first_digit_ms: self.first_digit_ms,
            inter_digit_ms: self.inter_digit_ms,
            total_ms: self.total_ms,
            flush_typeahead: u8::from(self.flush_typeahead),
        }
    }
}

/// Playback options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// What to play: `file:PATH` (a WAV file) or `tone:NAME` (a tone of the channel's plan).
    pub src: String,
    /// The first digit stops playback.
    pub barge_in: bool,
    /// Times to play; 0 for ever.
    pub loops: u32,
    /// Collect digits as part of this operation (it completes with their result).
    pub collect: Option<Collect>,
}

impl Play {
    /// Play `src` once, with barge-in.
    pub fn new(src: &str) -> Self {
        Play {
            src: src.to_string(),
            barge_in: true,
            loops: 1,
            collect: None,
        }
    }

    /// Then collect digits as the same operation.
    pub fn collect(mut self, c: Collect) -> Self {
        self.collect = Some(c);
        self
    }
}

/// Recording options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where: `file:PATH.wav`.
    pub dest: String,
    /// Longest recording, ms.
    pub max_ms: u32,
    /// Silence after speech that ends it, ms (0: none).
    pub final_silence_ms: u32,
    /// Digits that end it.
    pub term_digits: String,
    /// A beep first.
    pub beep: bool,
}

/// The call, as seen from inside a callback.
#[derive(Debug)]
pub struct Channel<'a> {
    ch: *mut sys::tipring_channel,
    _life: core::marker::PhantomData<&'a mut ()>,
}

macro_rules! call {
    ($self:ident, $f:ident $(, $arg:expr)*) => {{
        let Some(h) = host() else { return Err(Status::Context) };
        let Some(f) = h.$f else { return Err(Status::Unsupported) };
        let mut op: sys::tipring_op = 0;
        // SAFETY: `f` comes from the host's table; `ch` is the channel the host passed to this
        // callback; every pointer argument points to a live local for the call's duration.
        let r = unsafe { f($self.ch $(, $arg)*, &mut op) };
        Status::from_raw(r).map(|()| OpId(op))
    }};
}

impl Channel<'_> {
    /// Answers the call; completes with [`Event::Answered`] then `OpComplete`.
    ///
    /// # Errors
    /// The host refused (the call has ended, or the channel can't answer).
    pub fn answer(&mut self) -> Result<OpId, Status> {
        call!(self, answer)
    }

    /// Hangs up with a Q.850 cause (16: normal clearing). Idempotent.
    ///
    /// # Errors
    /// The host refused.
    pub fn hangup(&mut self, cause: u32) -> Result<(), Status> {
        let h = host().ok_or(Status::Context)?;
        let f = h.hangup.ok_or(Status::Unsupported)?;
        // SAFETY: a host function called with the channel the host passed to this callback.
        Status::from_raw(unsafe { f(self.ch, cause) })
    }

    /// Plays audio (and optionally collects digits as the same operation).
    ///
    /// # Errors
    /// Busy (another media op runs), invalid source, or the call has ended.
    pub fn play(&mut self, p: &Play) -> Result<OpId, Status> {
        let collect = p.collect.as_ref().map(Collect::raw);
        let opts = sys::tipring_play_opts {
            struct_size: core::mem::size_of::<sys::tipring_play_opts>() as u32,
            barge_in: u8::from(p.barge_in),
            loops: p.loops,
            collect: collect
                .as_ref()
                .map_or(core::ptr::null(), |c| c as *const _),
        };
        call!(self, play, s(&p.src), &opts)
    }

    /// Collects digits.
    ///
    /// # Errors
    /// Busy, invalid limits, or the call has ended.
    pub fn collect(&mut self, c: &Collect) -> Result<OpId, Status> {
        let raw = c.raw();
        call!(self, collect_digits, &raw)
    }

    /// Records what the caller says.
    ///
    /// # Errors
    /// Busy, invalid destination, or the call has ended.
    pub fn record(&mut self, r: &Record) -> Result<OpId, Status> {
        let opts = sys::tipring_record_opts {
            struct_size: core::mem::size_of::<sys::tipring_record_opts>() as u32,
            max_ms: r.max_ms,
            final_silence_ms: r.final_silence_ms,
            term_digits: s(&r.term_digits),
            beep: u8::from(r.beep),
        };
        call!(self, record, s(&r.dest), &opts)
    }

    /// Stops an operation early (it completes with [`OpResult::Stopped`]).
    ///
    /// # Errors
    /// No such running operation.
    pub fn stop(&mut self, op: OpId) -> Result<(), Status> {
        let h = host().ok_or(Status::Context)?;
        let f = h.stop.ok_or(Status::Unsupported)?;
        // SAFETY: a host function called with the channel the host passed to this callback.
        Status::from_raw(unsafe { f(self.ch, op.0) })
    }

    /// Sends DTMF in band.
    ///
    /// # Errors
    /// Busy, bad digits, or the call has ended.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<OpId, Status> {
        call!(self, send_dtmf, s(digits))
    }

    /// Bridges this call with the call on channel `other` (audio both ways).
    ///
    /// # Errors
    /// No call there, or the call has ended.
    pub fn bridge(&mut self, other: u32) -> Result<OpId, Status> {
        call!(self, bridge, other)
    }

    /// Places a new call to `dest` (`channel:N/NUMBER` or `group:NAME/NUMBER`); completes
    /// with the outcome, and `{"channel":N}` in the detail when answered.
    ///
    /// # Errors
    /// Bad destination, or no channel free.
    pub fn originate(&mut self, dest: &str, opts_json: &str) -> Result<OpId, Status> {
        call!(self, originate, s(dest), s(opts_json))
    }

    /// Blind transfer to `dest`.
    ///
    /// # Errors
    /// Not supported on this channel, or the call has ended.
    pub fn transfer(&mut self, dest: &str) -> Result<OpId, Status> {
        call!(self, transfer, s(dest))
    }

    /// Starts a timer; [`Event::Timer`] after `ms`.
    ///
    /// # Errors
    /// Too many timers, or the call has ended.
    pub fn set_timer(&mut self, ms: u32) -> Result<OpId, Status> {
        call!(self, set_timer, ms)
    }

    /// A call variable.
    ///
    /// # Errors
    /// The host refused.
    pub fn var(&mut self, name: &str) -> Result<Option<String>, Status> {
        let h = host().ok_or(Status::Context)?;
        let f = h.get_var.ok_or(Status::Unsupported)?;
        let mut buf = vec![0u8; 256];
        loop {
            let mut len = 0usize;
            // SAFETY: `buf` is writable for `buf.len()` bytes; `len` is a live local.
            let r = unsafe {
                f(
                    self.ch,
                    s(name),
                    buf.as_mut_ptr().cast::<c_char>(),
                    buf.len(),
                    &mut len,
                )
            };
            match Status::from_raw(r) {
                Ok(()) if len <= buf.len() => {
                    buf.truncate(len);
                    return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
                }
                Ok(()) => buf.resize(len, 0),
                Err(Status::Invalid) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets a call variable (shown with the call in the API).
    ///
    /// # Errors
    /// The host refused.
    pub fn set_var(&mut self, name: &str, value: &str) -> Result<(), Status> {
        let h = host().ok_or(Status::Context)?;
        let f = h.set_var.ok_or(Status::Unsupported)?;
        // SAFETY: a host function called with the channel passed to this callback.
        Status::from_raw(unsafe { f(self.ch, s(name), s(value)) })
    }

    /// Logs a line (the host adds the call, channel and handler).
    pub fn log(&mut self, level: u32, message: &str) {
        if let Some(f) = host().and_then(|h| h.log) {
            // SAFETY: a host function called with the channel passed to this callback.
            unsafe { f(self.ch, level, s(message)) }
        }
    }

    /// Logs at info level.
    pub fn log_info(&mut self, message: &str) {
        self.log(sys::TIPRING_LOG_INFO, message);
    }

    /// A handle any thread may use to wake this call (until it ends).
    pub fn waker(&self) -> Waker {
        Waker {
            ch: self.ch as usize,
        }
    }
}

/// Wakes a call from another thread: [`Event::Wake`] arrives on the call's loop.
#[derive(Debug, Clone, Copy)]
pub struct Waker {
    ch: usize,
}

impl Waker {
    /// Queues [`Event::Wake`] with `token`.
    ///
    /// # Errors
    /// The call has ended.
    pub fn wake(&self, token: u64) -> Result<(), Status> {
        let h = host().ok_or(Status::Context)?;
        let f = h.wake.ok_or(Status::Unsupported)?;
        // SAFETY: `wake` is the ABI's thread-safe entry; the channel pointer stays valid until
        // instance_destroy returns, after which the host answers EGONE for it.
        Status::from_raw(unsafe { f(self.ch as *mut sys::tipring_channel, token) })
    }
}

/// Your per-call handler.
pub trait CallHandler: Sized + Send + 'static {
    /// Once, when the handler is loaded; `config` is its config section as JSON.
    ///
    /// # Errors
    /// Refuse loading (the host logs the message and shows it in the API).
    fn init(config: &str) -> Result<(), HandlerError> {
        let _ = config;
        Ok(())
    }

    /// A new call; `params` is the route's params as JSON.
    ///
    /// # Errors
    /// Refuse the call (it is hung up).
    fn new(params: &str) -> Result<Self, HandlerError>;

    /// The call's next event. Must not block.
    ///
    /// # Errors
    /// The host logs it and hangs the call up.
    fn on_event(&mut self, ch: &mut Channel<'_>, ev: &Event<'_>) -> Result<(), HandlerError>;
}

/// Runtime for [`export_handler!`]; not for direct use.
#[doc(hidden)]
pub mod __rt {
    use super::*;

    /// The vtable in a static (its raw pointers are to static strings).
    #[repr(transparent)]
    #[derive(Debug)]
    pub struct Vtable(pub sys::tipring_handler_vtable);
    // SAFETY: the table is immutable and its pointers are to 'static NUL-terminated strings
    // and functions, which any thread may read.
    unsafe impl Sync for Vtable {}

    pub const fn vtable<T: CallHandler>(name: &'static str, version: &'static str) -> Vtable {
        Vtable(sys::tipring_handler_vtable {
            struct_size: core::mem::size_of::<sys::tipring_handler_vtable>() as u32,
            abi_major: sys::TIPRING_ABI_MAJOR,
            abi_minor: sys::TIPRING_ABI_MINOR,
            name: name.as_ptr().cast(),
            version: version.as_ptr().cast(),
            caps: sys::TIPRING_CAP_THREADSAFE_GLOBAL,
            init: Some(init::<T>),
            shutdown: Some(shutdown),
            instance_create: Some(create::<T>),
            on_event: Some(on_event::<T>),
            instance_destroy: Some(destroy::<T>),
        })
    }

    pub fn entry(major: u16, vtable: &'static Vtable) -> *const sys::tipring_handler_vtable {
        if major == sys::TIPRING_ABI_MAJOR {
            &vtable.0
        } else {
            core::ptr::null()
        }
    }

    unsafe extern "C" fn init<T: CallHandler>(
        host: *const sys::tipring_host_api,
        config: sys::tipring_str,
        global: *mut *mut c_void,
    ) -> c_int {
        if host.is_null() {
            return -1;
        }
        HOST.store(host.cast_mut(), Ordering::Release);
        // SAFETY: the host passes a string valid for this call.
        let config = unsafe { borrow(config) };
        let r = catch_unwind(|| T::init(config));
        if !global.is_null() {
            // SAFETY: non-null out-pointer from the host.
            unsafe { *global = core::ptr::null_mut() };
        }
        match r {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                log_global(&format!("init refused: {e}"));
                -1
            }
            Err(_) => {
                log_global("init panicked");
                -2
            }
        }
    }

    fn log_global(msg: &str) {
        if let Some(f) = host().and_then(|h| h.log) {
            // SAFETY: the ABI allows a null channel for handler-wide log lines.
            unsafe { f(core::ptr::null_mut(), sys::TIPRING_LOG_ERROR, s(msg)) }
        }
    }

    unsafe extern "C" fn shutdown(_global: *mut c_void) {}

    unsafe extern "C" fn create<T: CallHandler>(
        _global: *mut c_void,
        ch: *mut sys::tipring_channel,
        params: sys::tipring_str,
        instance: *mut *mut c_void,
    ) -> c_int {
        if instance.is_null() {
            return -1;
        }
        // SAFETY: the host passes a string valid for this call.
        let params = unsafe { borrow(params) };
        match catch_unwind(|| T::new(params)) {
            Ok(Ok(h)) => {
                // SAFETY: non-null out-pointer from the host.
                unsafe { *instance = Box::into_raw(Box::new(h)).cast() };
                0
            }
            Ok(Err(e)) => {
                let mut c = Channel {
                    ch,
                    _life: core::marker::PhantomData,
                };
                c.log(sys::TIPRING_LOG_ERROR, &format!("refused the call: {e}"));
                -1
            }
            Err(_) => -2,
        }
    }

    unsafe extern "C" fn on_event<T: CallHandler>(
        instance: *mut c_void,
        ch: *mut sys::tipring_channel,
        ev: *const sys::tipring_event,
    ) -> c_int {
        if instance.is_null() || ev.is_null() {
            return -1;
        }
        // SAFETY: `instance` is the Box we made in `create` (the host passes it back
        // unchanged), and events of one call are never delivered concurrently.
        let h = unsafe { &mut *instance.cast::<T>() };
        // SAFETY: the host passes a valid event for this call's duration.
        let ev = unsafe { *ev };
        let has = |end: usize| ev.struct_size as usize >= end;
        // SAFETY: strings in the event are valid during this call.
        let digits = unsafe { borrow(ev.digits) };
        let detail = if has(core::mem::offset_of!(sys::tipring_event, wake_token)) {
            // SAFETY: as above.
            unsafe { borrow(ev.detail_json) }
        } else {
            ""
        };
        let event = match ev.kind {
            sys::TIPRING_EV_OFFER => Event::Offer { detail },
            sys::TIPRING_EV_ANSWERED => Event::Answered,
            sys::TIPRING_EV_OP_COMPLETE => Event::OpComplete {
                op: OpId(ev.op),
                result: OpResult::from_raw(ev.result),
                cause: ev.cause,
                digits,
                detail,
            },
            sys::TIPRING_EV_DTMF => Event::Dtmf {
                digit: digits.chars().next().unwrap_or('?'),
            },
            sys::TIPRING_EV_HANGUP => Event::Hangup { cause: ev.cause },
            sys::TIPRING_EV_TIMER => Event::Timer { op: OpId(ev.op) },
            sys::TIPRING_EV_WAKE => Event::Wake {
                token: ev.wake_token,
            },
            sys::TIPRING_EV_MESSAGE => Event::Message { json: detail },
            sys::TIPRING_EV_FLASH => Event::Flash,
            other => Event::Unknown(other),
        };
        let mut c = Channel {
            ch,
            _life: core::marker::PhantomData,
        };
        match catch_unwind(AssertUnwindSafe(|| h.on_event(&mut c, &event))) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => {
                c.log(sys::TIPRING_LOG_ERROR, &e.0);
                -1
            }
            Err(p) => {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                c.log(sys::TIPRING_LOG_ERROR, &format!("panicked: {what}"));
                -2
            }
        }
    }

    unsafe extern "C" fn destroy<T: CallHandler>(instance: *mut c_void) {
        if instance.is_null() {
            return;
        }
        // SAFETY: the Box made in `create`; the host calls destroy exactly once.
        let b = unsafe { Box::from_raw(instance.cast::<T>()) };
        // A panicking Drop must not cross the boundary.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(b)));
    }
}

/// Exports `$t` (a [`CallHandler`]) as this shared object's handler.
///
/// ```ignore
/// tipring_handler::export_handler!(MyIvr, name = "my-ivr", version = env!("CARGO_PKG_VERSION"));
/// ```
#[macro_export]
macro_rules! export_handler {
    ($t:ty, name = $name:expr, version = $version:expr) => {
        static __TIPRING_VTABLE: $crate::__rt::Vtable =
            $crate::__rt::vtable::<$t>(concat!($name, "\0"), concat!($version, "\0"));

        /// The handler's entry point (see `tipring/handler.h`).
        #[unsafe(no_mangle)]
        pub extern "C" fn tipring_handler_entry_v1(
            host_major: u16,
            _host_minor: u16,
        ) -> *const $crate::sys::tipring_handler_vtable {
            $crate::__rt::entry(host_major, &__TIPRING_VTABLE)
        }
    };
}
