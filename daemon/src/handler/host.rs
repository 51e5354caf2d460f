//! The host side of the handler ABI: the function table handlers call, and the per-call
//! context behind each `tipring_channel *`.
//!
//! Host functions run inside the handler's callback, on the control thread, while the
//! switch is in the middle of delivering an event: they never touch the switch. They check
//! their arguments, allocate an operation id, and queue a [`Request`] in the call's
//! [`CallCtx`]; the switch carries the requests out when the callback returns. A
//! thread-local records which call's callback is running, so a host function called from
//! another thread, or with another call's channel, gets `TIPRING_ECONTEXT` (wake excepted).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tipring_hal::{CallId, ChannelId, Digits};
use tipring_handler::sys::{self, tipring_channel, tipring_op, tipring_status, tipring_str};
/// What a handler may ask for, as queued here and relayed by an isolated host: the types
/// live with the handler-host protocol ([`super::wire`]).
pub use tipring_wire::{CollectSpec, Request};

/// Limits on what a handler may ask.
pub(crate) const MAX_TIMERS: usize = 32;
pub(crate) const MAX_VARS: usize = 64;
pub(crate) const MAX_VAR_LEN: usize = 4096;
/// A call's variables together, bytes (names and values): they travel whole from an
/// isolated host.
pub(crate) const MAX_VARS_BYTES: usize = 64 * 1024;
pub(crate) use tipring_wire::{MAX_OPTS, MAX_REQUESTS, MAX_TARGET};

/// The calls with wake tokens queued since the switch last looked, in the order of their
/// first token: shared by the switch and every call's context so that the switch visits
/// only the calls a handler woke, not every call on every step.
pub type WakeBoard = Arc<Mutex<Vec<CallId>>>;

/// The host's state for one call, behind the handler's `tipring_channel *`. Boxed by the
/// switch so that its address is stable; freed only after `instance_destroy` returned.
#[derive(Debug)]
pub struct CallCtx {
    /// The call.
    pub call: CallId,
    /// Its channel.
    pub channel: ChannelId,
    /// The handler's name, for log lines.
    pub handler: Arc<str>,
    /// Requests queued during the current callback.
    pub requests: RefCell<Vec<(u64, Request)>>,
    /// A media operation (play, collect, record, DTMF) is running.
    pub media_busy: Cell<bool>,
    /// The call has ended (hangup requested or happened).
    pub gone: Cell<bool>,
    /// Timers running.
    pub timers: Cell<usize>,
    /// Call variables.
    pub vars: RefCell<BTreeMap<String, String>>,
    /// Wake tokens queued by any thread.
    pub wakes: Arc<Mutex<Vec<u64>>>,
    /// Where this call is listed when its first token is queued.
    pub board: WakeBoard,
}

impl CallCtx {
    /// A context for a new call.
    pub fn new(call: CallId, channel: ChannelId, handler: Arc<str>, board: WakeBoard) -> Box<Self> {
        Box::new(CallCtx {
            call,
            channel,
            handler,
            requests: RefCell::new(Vec::new()),
            media_busy: Cell::new(false),
            gone: Cell::new(false),
            timers: Cell::new(0),
            vars: RefCell::new(BTreeMap::new()),
            wakes: Arc::new(Mutex::new(Vec::new())),
            board,
        })
    }

    /// The pointer handlers get.
    pub fn as_channel(&self) -> *mut tipring_channel {
        std::ptr::from_ref(self).cast_mut().cast()
    }
}

thread_local! {
    /// The call whose callback runs on this thread (null: none).
    static CURRENT: Cell<*const CallCtx> = const { Cell::new(std::ptr::null()) };
    /// The handler whose `init` runs on this thread (for its log lines).
    static INIT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static NEXT_OP: AtomicU64 = AtomicU64::new(1);

/// A new operation id (never 0).
pub fn next_op() -> u64 {
    NEXT_OP.fetch_add(1, Ordering::Relaxed)
}

/// Makes this process hand out operation ids from `base` on (a handler host does, so that
/// ids stay unique across hosts).
pub fn set_op_base(base: u64) {
    NEXT_OP.store(base.max(1), Ordering::Relaxed);
}

/// Runs `f` (a callback into a handler) with `ctx` as the current call.
pub fn with_call<R>(ctx: &CallCtx, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| c.replace(std::ptr::from_ref(ctx)));
    let r = f();
    CURRENT.with(|c| c.set(prev));
    r
}

/// Runs `f` (a handler's `init`) with its name known for log lines.
pub fn with_handler_context<R>(name: &str, f: impl FnOnce() -> R) -> R {
    INIT.with(|i| *i.borrow_mut() = Some(name.to_string()));
    let r = f();
    INIT.with(|i| *i.borrow_mut() = None);
    r
}

/// The call context `ch` names, if it is the one whose callback runs on this thread.
fn current<'a>(ch: *mut tipring_channel) -> Result<&'a CallCtx, tipring_status> {
    let cur = CURRENT.with(Cell::get);
    if cur.is_null() || cur != ch.cast_const().cast::<CallCtx>() {
        return Err(sys::TIPRING_ECONTEXT);
    }
    // SAFETY: `cur` was set by `with_call` from a live `&CallCtx` for the duration of the
    // callback that is running now, on this thread.
    Ok(unsafe { &*cur })
}

/// # Safety
/// `s` must be a valid `(ptr, len)` string for the call (the ABI's contract).
unsafe fn text(s: tipring_str) -> Result<String, tipring_status> {
    if s.len == 0 {
        return Ok(String::new());
    }
    if s.ptr.is_null() || s.len > 1 << 20 {
        return Err(sys::TIPRING_EINVAL);
    }
    // SAFETY: per the contract, `len` readable bytes at `ptr`.
    let b = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| sys::TIPRING_EINVAL)
}

fn refuse(ctx: &CallCtx, what: &str, why: &str) -> tipring_status {
    tracing::warn!(
        call = ctx.call.0,
        channel = ctx.channel.0,
        handler = %ctx.handler,
        "handler request refused: {what}: {why}"
    );
    sys::TIPRING_EINVAL
}

/// Queues `req` as a new operation, writing its id to `op`.
fn queue(ctx: &CallCtx, req: Request, op: *mut tipring_op) -> tipring_status {
    if ctx.gone.get() {
        return sys::TIPRING_EGONE;
    }
    if ctx.requests.borrow().len() >= MAX_REQUESTS {
        return sys::TIPRING_ELIMIT;
    }
    let id = next_op();
    if !op.is_null() {
        // SAFETY: a non-null out-pointer from the handler, valid for the call.
        unsafe { op.write(id) };
    }
    ctx.requests.borrow_mut().push((id, req));
    sys::TIPRING_OK
}

fn media(ctx: &CallCtx, req: Request, op: *mut tipring_op) -> tipring_status {
    if ctx.gone.get() {
        return sys::TIPRING_EGONE;
    }
    if ctx.media_busy.get() {
        return sys::TIPRING_EBUSY;
    }
    let s = queue(ctx, req, op);
    if s == sys::TIPRING_OK {
        ctx.media_busy.set(true);
    }
    s
}

/// # Safety
/// `c` is null or points to a collect-options struct valid for the call.
unsafe fn collect_spec(
    ctx: &CallCtx,
    c: *const sys::tipring_collect_opts,
) -> Result<CollectSpec, tipring_status> {
    if c.is_null() {
        return Err(refuse(ctx, "collect", "no options"));
    }
    // SAFETY: per the contract; the size prefix is read first.
    let size = unsafe { std::ptr::read_unaligned(c.cast::<u32>()) } as usize;
    if size < std::mem::size_of::<sys::tipring_collect_opts>() {
        return Err(refuse(ctx, "collect", "options struct too small"));
    }
    // SAFETY: at least as large as ours.
    let c = unsafe { &*c };
    if !(1..=64).contains(&c.max_digits) {
        return Err(refuse(ctx, "collect", "max_digits must be 1-64"));
    }
    // SAFETY: a string in the options, valid for the call.
    let term = unsafe { text(c.term_digits) }?;
    if !term
        .chars()
        .all(|d| matches!(d, '0'..='9' | '*' | '#' | 'A'..='D'))
    {
        return Err(refuse(ctx, "collect", "term_digits must be digits"));
    }
    Ok(CollectSpec {
        max_digits: c.max_digits,
        term,
        first_digit_ms: c.first_digit_ms,
        inter_digit_ms: c.inter_digit_ms,
        total_ms: c.total_ms,
        flush: c.flush_typeahead != 0,
    })
}

macro_rules! ctx_or_return {
    ($ch:expr) => {
        match current($ch) {
            Ok(c) => c,
            Err(s) => return s,
        }
    };
}

unsafe extern "C" fn h_answer(ch: *mut tipring_channel, op: *mut tipring_op) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    queue(ctx, Request::Answer, op)
}

unsafe extern "C" fn h_hangup(ch: *mut tipring_channel, cause: u32) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    if ctx.gone.get() {
        return sys::TIPRING_OK;
    }
    let cause = if (1..=127).contains(&cause) {
        cause
    } else {
        16
    };
    ctx.requests.borrow_mut().push((0, Request::Hangup(cause)));
    ctx.gone.set(true);
    sys::TIPRING_OK
}

unsafe extern "C" fn h_originate(
    ch: *mut tipring_channel,
    dest: tipring_str,
    opts: tipring_str,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: strings passed by the handler for this call.
    let (dest, opts) = match unsafe { (text(dest), text(opts)) } {
        (Ok(d), Ok(o)) => (d, o),
        _ => return refuse(ctx, "originate", "destination or options are not UTF-8"),
    };
    if !dest.starts_with("channel:") {
        return refuse(ctx, "originate", "destination must be channel:N[/NUMBER]");
    }
    if dest.len() > MAX_TARGET || opts.len() > MAX_OPTS {
        return refuse(ctx, "originate", "destination or options too long");
    }
    queue(ctx, Request::Originate { dest, opts }, op)
}

unsafe extern "C" fn h_bridge(
    ch: *mut tipring_channel,
    other: u32,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    queue(ctx, Request::Bridge(other), op)
}

unsafe extern "C" fn h_transfer(
    ch: *mut tipring_channel,
    dest: tipring_str,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a string passed by the handler for this call.
    match unsafe { text(dest) } {
        Ok(d) if !d.is_empty() && d.len() <= MAX_TARGET => queue(ctx, Request::Transfer(d), op),
        _ => refuse(ctx, "transfer", "empty or non-UTF-8 destination"),
    }
}

unsafe extern "C" fn h_play(
    ch: *mut tipring_channel,
    src: tipring_str,
    opts: *const sys::tipring_play_opts,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a string passed by the handler for this call.
    let Ok(src) = (unsafe { text(src) }) else {
        return refuse(ctx, "play", "source is not UTF-8");
    };
    if !(src.starts_with("file:") || src.starts_with("tone:")) {
        return refuse(ctx, "play", "source must be file:PATH or tone:NAME");
    }
    if src.len() > MAX_TARGET {
        return refuse(ctx, "play", "source too long");
    }
    let (barge_in, loops, collect) = if opts.is_null() {
        (true, 1, None)
    } else {
        // SAFETY: per the contract; the size prefix is read first.
        let size = unsafe { std::ptr::read_unaligned(opts.cast::<u32>()) } as usize;
        if size < std::mem::size_of::<sys::tipring_play_opts>() {
            return refuse(ctx, "play", "options struct too small");
        }
        // SAFETY: at least as large as ours.
        let o = unsafe { &*opts };
        let collect = if o.collect.is_null() {
            None
        } else {
            // SAFETY: a collect struct passed by the handler for this call.
            match unsafe { collect_spec(ctx, o.collect) } {
                Ok(c) => Some(c),
                Err(s) => return s,
            }
        };
        (o.barge_in != 0, o.loops, collect)
    };
    media(
        ctx,
        Request::Play {
            src,
            barge_in,
            loops,
            collect,
        },
        op,
    )
}

unsafe extern "C" fn h_collect(
    ch: *mut tipring_channel,
    opts: *const sys::tipring_collect_opts,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a collect struct passed by the handler for this call.
    match unsafe { collect_spec(ctx, opts) } {
        Ok(c) => media(ctx, Request::Collect(c), op),
        Err(s) => s,
    }
}

unsafe extern "C" fn h_record(
    ch: *mut tipring_channel,
    dest: tipring_str,
    opts: *const sys::tipring_record_opts,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a string passed by the handler for this call.
    let Ok(dest) = (unsafe { text(dest) }) else {
        return refuse(ctx, "record", "destination is not UTF-8");
    };
    if !dest.starts_with("file:") || !dest.ends_with(".wav") {
        return refuse(ctx, "record", "destination must be file:PATH.wav");
    }
    if dest.len() > MAX_TARGET {
        return refuse(ctx, "record", "destination too long");
    }
    if opts.is_null() {
        return refuse(ctx, "record", "no options");
    }
    // SAFETY: per the contract; the size prefix is read first.
    let size = unsafe { std::ptr::read_unaligned(opts.cast::<u32>()) } as usize;
    if size < std::mem::size_of::<sys::tipring_record_opts>() {
        return refuse(ctx, "record", "options struct too small");
    }
    // SAFETY: at least as large as ours.
    let o = unsafe { &*opts };
    if !(1..=3_600_000).contains(&o.max_ms) {
        return refuse(ctx, "record", "max_ms must be 1-3600000");
    }
    // SAFETY: a string in the options, valid for the call.
    let Ok(term) = (unsafe { text(o.term_digits) }) else {
        return refuse(ctx, "record", "term_digits is not UTF-8");
    };
    if term.len() > 16 {
        return refuse(ctx, "record", "term_digits: at most 16");
    }
    media(
        ctx,
        Request::Record {
            dest,
            max_ms: o.max_ms,
            final_silence_ms: o.final_silence_ms,
            term,
            beep: o.beep != 0,
        },
        op,
    )
}

unsafe extern "C" fn h_stop(ch: *mut tipring_channel, op: tipring_op) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    if ctx.gone.get() {
        return sys::TIPRING_EGONE;
    }
    if ctx.requests.borrow().len() >= MAX_REQUESTS {
        return sys::TIPRING_ELIMIT;
    }
    ctx.requests.borrow_mut().push((0, Request::Stop(op)));
    sys::TIPRING_OK
}

unsafe extern "C" fn h_send_dtmf(
    ch: *mut tipring_channel,
    digits: tipring_str,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a string passed by the handler for this call.
    let Ok(d) = (unsafe { text(digits) }) else {
        return refuse(ctx, "send_dtmf", "digits are not UTF-8");
    };
    match Digits::parse(ctx.channel, &d) {
        Ok(d) if !d.is_empty() => media(ctx, Request::SendDtmf(d), op),
        Ok(_) => refuse(ctx, "send_dtmf", "no digits"),
        Err(e) => refuse(ctx, "send_dtmf", &e.to_string()),
    }
}

unsafe extern "C" fn h_set_timer(
    ch: *mut tipring_channel,
    ms: u32,
    op: *mut tipring_op,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    if ctx.timers.get() >= MAX_TIMERS {
        return sys::TIPRING_ELIMIT;
    }
    let s = queue(ctx, Request::Timer(ms), op);
    if s == sys::TIPRING_OK {
        ctx.timers.set(ctx.timers.get() + 1);
    }
    s
}

unsafe extern "C" fn h_get_var(
    ch: *mut tipring_channel,
    name: tipring_str,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: a string passed by the handler for this call.
    let Ok(name) = (unsafe { text(name) }) else {
        return sys::TIPRING_EINVAL;
    };
    let vars = ctx.vars.borrow();
    let Some(v) = vars.get(&name) else {
        return sys::TIPRING_EINVAL;
    };
    if !len.is_null() {
        // SAFETY: a non-null out-pointer from the handler.
        unsafe { len.write(v.len()) };
    }
    if !buf.is_null() {
        let n = v.len().min(cap);
        // SAFETY: the handler's buffer holds `cap` bytes; we copy at most that.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), buf.cast::<u8>(), n) };
    }
    sys::TIPRING_OK
}

unsafe extern "C" fn h_set_var(
    ch: *mut tipring_channel,
    name: tipring_str,
    value: tipring_str,
) -> tipring_status {
    let ctx = ctx_or_return!(ch);
    // SAFETY: strings passed by the handler for this call.
    let (Ok(name), Ok(value)) = (unsafe { text(name) }, unsafe { text(value) }) else {
        return sys::TIPRING_EINVAL;
    };
    if name.is_empty() || name.len() > 64 || value.len() > MAX_VAR_LEN {
        return sys::TIPRING_EINVAL;
    }
    let mut vars = ctx.vars.borrow_mut();
    if !vars.contains_key(&name) && vars.len() >= MAX_VARS {
        return sys::TIPRING_ELIMIT;
    }
    let total: usize = vars
        .iter()
        .filter(|(k, _)| **k != name)
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if total + name.len() + value.len() > MAX_VARS_BYTES {
        return sys::TIPRING_ELIMIT;
    }
    vars.insert(name, value);
    sys::TIPRING_OK
}

unsafe extern "C" fn h_log(ch: *mut tipring_channel, level: u32, msg: tipring_str) {
    // SAFETY: a string passed by the handler for this call.
    let msg = unsafe { text(msg) }.unwrap_or_else(|_| "(a log line that is not UTF-8)".into());
    let ctx = current(ch).ok();
    let init = INIT.with(|i| i.borrow().clone());
    let handler = ctx
        .map(|c| c.handler.to_string())
        .or(init)
        .unwrap_or_else(|| "?".into());
    let (call, channel) = ctx.map_or((0, 0), |c| (c.call.0, c.channel.0));
    match level {
        sys::TIPRING_LOG_ERROR => tracing::error!(%handler, call, channel, "{msg}"),
        sys::TIPRING_LOG_WARN => tracing::warn!(%handler, call, channel, "{msg}"),
        sys::TIPRING_LOG_DEBUG => tracing::debug!(%handler, call, channel, "{msg}"),
        _ => tracing::info!(%handler, call, channel, "{msg}"),
    }
}

unsafe extern "C" fn h_wake(ch: *mut tipring_channel, token: u64) -> tipring_status {
    if ch.is_null() {
        return sys::TIPRING_EINVAL;
    }
    // SAFETY: the ABI allows wake from any thread until instance_destroy returns, and the
    // switch frees a call's context only after that; the fields read are thread-safe (an
    // Arc'd mutexes and the call's id).
    let ctx = unsafe { &*ch.cast_const().cast::<CallCtx>() };
    match ctx.wakes.lock() {
        Ok(mut w) if w.len() < 1024 => {
            // The first token since the switch drained this call lists the call on the
            // board; the switch takes the board before the tokens (never both locks at
            // once), so a call is listed whenever it has tokens.
            if w.is_empty() {
                match ctx.board.lock() {
                    Ok(mut b) => b.push(ctx.call),
                    Err(_) => return sys::TIPRING_EINTERNAL,
                }
            }
            w.push(token);
            sys::TIPRING_OK
        }
        Ok(_) => sys::TIPRING_ELIMIT,
        Err(_) => sys::TIPRING_EINTERNAL,
    }
}

/// The table every handler gets.
pub static HOST_API: sys::tipring_host_api = sys::tipring_host_api {
    struct_size: std::mem::size_of::<sys::tipring_host_api>() as u32,
    abi_major: sys::TIPRING_ABI_MAJOR,
    abi_minor: sys::TIPRING_ABI_MINOR,
    answer: Some(h_answer),
    hangup: Some(h_hangup),
    originate: Some(h_originate),
    bridge: Some(h_bridge),
    transfer: Some(h_transfer),
    play: Some(h_play),
    collect_digits: Some(h_collect),
    record: Some(h_record),
    stop: Some(h_stop),
    send_dtmf: Some(h_send_dtmf),
    set_timer: Some(h_set_timer),
    get_var: Some(h_get_var),
    set_var: Some(h_set_var),
    log: Some(h_log),
    wake: Some(h_wake),
};
