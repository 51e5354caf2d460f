//! The model's state behind one lock: spans, channels and open file handles, and what the
//! file operations do to them.

use crate::chan::{Chan, Done, Kind, PendingRead, PendingWrite};
use crate::error::ModelError;
use crate::spec::{SpanSpec, Spec};
use fuser::{Errno, PollEvents, PollNotifier, ReplyData, ReplyWrite};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, MutexGuard};
use tipring_hal::dahdi::sys;

/// What the threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Tells the clock thread to stop.
    pub(crate) stop: AtomicBool,
    /// Wall-clock milliseconds the clock skipped because it woke too late.
    pub(crate) stalled_ms: AtomicU64,
    /// The card's clock is held (a test stalls the card): no ticks at all.
    pub(crate) held: AtomicBool,
}

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
            stalled_ms: AtomicU64::new(0),
            held: AtomicBool::new(false),
        }
    }

    /// The state. A panic while it was held (a bug) does not stop the others from using it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then sends the replies and notifications it produced (after
    /// the lock is released).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State, &mut Vec<Done>) -> R) -> R {
        let mut out = Vec::new();
        let r = {
            let mut st = self.lock();
            f(&mut st, &mut out)
        };
        send(out);
        r
    }
}

/// Sends replies and poll notifications to the kernel.
pub(crate) fn send(out: Vec<Done>) {
    for d in out {
        match d {
            Done::Data(r, bytes) => r.data(&bytes),
            Done::ReadErr(r, e) => r.error(Errno::from_i32(e)),
            Done::Wrote(r, n) => r.written(n),
            Done::WriteErr(r, e) => r.error(Errno::from_i32(e)),
            // The kernel forgets poll handles of closed files; nothing to do about an error.
            Done::Notify(p) => {
                let _ = p.notify();
            }
        }
    }
}

/// A span.
#[derive(Debug)]
pub(crate) struct SpanState {
    pub(crate) spec: SpanSpec,
    pub(crate) alarms: i32,
    /// Channel number of its first channel.
    pub(crate) first: u32,
    /// Its channels.
    pub(crate) count: u32,
    /// The last `MAINT` command.
    pub(crate) maint: i32,
}

/// An open file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handle {
    /// Opened on `ctl`.
    pub(crate) ctl: bool,
    /// The channel it is bound to.
    pub(crate) chan: Option<u32>,
}

/// Everything the model knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) spans: Vec<SpanState>,
    pub(crate) chans: Vec<Chan>,
    pub(crate) handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// Model time, ms since mount.
    pub(crate) now_ms: u64,
    /// Set while unmounting: nothing may block any more.
    pub(crate) shut_down: bool,
}

impl State {
    pub(crate) fn new(spec: &Spec) -> Result<State, ModelError> {
        if spec.spans.is_empty() {
            return Err(ModelError::Spec("no spans".into()));
        }
        let mut spans = Vec::new();
        let mut chans = Vec::new();
        for (i, s) in spec.spans.iter().enumerate() {
            let spanno = i as u32 + 1;
            let sigs = s.sigtypes();
            if sigs.is_empty() {
                return Err(ModelError::Spec(format!("span {spanno} has no ports")));
            }
            let first = chans.len() as u32 + 1;
            for (p, &sig) in sigs.iter().enumerate() {
                let channo = chans.len() as u32 + 1;
                chans.push(Chan::new(
                    channo,
                    spanno,
                    p as u32 + 1,
                    sig,
                    s.default_law(),
                ));
            }
            spans.push(SpanState {
                spec: s.clone(),
                alarms: 0,
                first,
                count: sigs.len() as u32,
                maint: 0,
            });
        }
        Ok(State {
            spans,
            chans,
            handles: HashMap::new(),
            next_fh: 1,
            now_ms: 0,
            shut_down: false,
        })
    }

    pub(crate) fn chan(&self, channo: u32) -> Option<&Chan> {
        self.chans
            .get(usize::try_from(channo).ok()?.checked_sub(1)?)
    }

    pub(crate) fn chan_mut(&mut self, channo: u32) -> Option<&mut Chan> {
        self.chans
            .get_mut(usize::try_from(channo).ok()?.checked_sub(1)?)
    }

    pub(crate) fn span(&self, spanno: u32) -> Option<&SpanState> {
        self.spans
            .get(usize::try_from(spanno).ok()?.checked_sub(1)?)
    }

    fn new_handle(&mut self, h: Handle) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, h);
        fh
    }

    /// `open()` of `ctl`.
    pub(crate) fn open_ctl(&mut self) -> u64 {
        self.new_handle(Handle {
            ctl: true,
            chan: None,
        })
    }

    /// `open()` of `channel` (bound later by `SPECIFY`).
    pub(crate) fn open_unbound(&mut self) -> u64 {
        self.new_handle(Handle {
            ctl: false,
            chan: None,
        })
    }

    /// Binds a channel for `fh` as the driver's `dahdi_specchan_open` does.
    pub(crate) fn claim(&mut self, channo: u32) -> Result<(), i32> {
        let chan = self.chan(channo).ok_or(libc::ENXIO)?;
        if chan.kind == Kind::None {
            return Err(libc::ENXIO);
        }
        if chan.open.is_some() {
            return Err(libc::EBUSY);
        }
        Ok(())
    }

    /// `open()` of a per-channel node.
    pub(crate) fn open_chan(&mut self, channo: u32) -> Result<u64, i32> {
        self.claim(channo)?;
        let fh = self.new_handle(Handle {
            ctl: false,
            chan: Some(channo),
        });
        if let Some(c) = self.chan_mut(channo) {
            c.opened(fh);
        }
        Ok(fh)
    }

    /// `SPECIFY` on an unbound handle.
    pub(crate) fn specify(&mut self, fh: u64, channo: i32) -> Result<(), i32> {
        let h = self.handles.get(&fh).copied().ok_or(libc::EBADF)?;
        if h.ctl || h.chan.is_some() {
            return Err(libc::EINVAL);
        }
        let channo = u32::try_from(channo).map_err(|_| libc::ENXIO)?;
        self.claim(channo)?;
        if let Some(h) = self.handles.get_mut(&fh) {
            h.chan = Some(channo);
        }
        if let Some(c) = self.chan_mut(channo) {
            c.opened(fh);
            c.log.push("SPECIFY".into());
        }
        Ok(())
    }

    /// The last close of a file.
    pub(crate) fn release(&mut self, fh: u64, out: &mut Vec<Done>) {
        if let Some(Handle {
            chan: Some(channo), ..
        }) = self.handles.remove(&fh)
            && let Some(c) = self.chan_mut(channo)
            && c.open == Some(fh)
        {
            c.closed(out);
        }
    }

    /// The channel a handle is bound to.
    fn bound(&mut self, fh: u64) -> Result<&mut Chan, i32> {
        let h = self.handles.get(&fh).copied().ok_or(libc::EBADF)?;
        let channo = h.chan.ok_or(libc::EINVAL)?;
        self.chan_mut(channo).ok_or(libc::ENXIO)
    }

    /// `read()`: one block (or frame), now or when the clock has one; `ELAST` while an
    /// event waits.
    pub(crate) fn read(
        &mut self,
        fh: u64,
        size: usize,
        nonblock: bool,
        reply: ReplyData,
        out: &mut Vec<Done>,
    ) {
        let shut_down = self.shut_down;
        let c = match self.bound(fh) {
            Ok(c) => c,
            Err(e) => return out.push(Done::ReadErr(reply, e)),
        };
        if size == 0 {
            return out.push(Done::ReadErr(reply, libc::EINVAL));
        }
        if !c.events.is_empty() {
            return out.push(Done::ReadErr(reply, sys::ELAST));
        }
        // Earlier blocked readers go first.
        if c.reads.is_empty()
            && let Some(bytes) = c.take_read(size)
        {
            out.push(Done::Data(reply, bytes));
        } else if nonblock {
            out.push(Done::ReadErr(reply, libc::EAGAIN));
        } else if shut_down {
            out.push(Done::ReadErr(reply, libc::ENODEV));
        } else {
            c.reads.push_back(PendingRead { reply, size });
        }
        c.service(out);
    }

    /// `write()`: up to one block into a free buffer, now or when one frees up.
    pub(crate) fn write(
        &mut self,
        fh: u64,
        data: &[u8],
        nonblock: bool,
        reply: ReplyWrite,
        out: &mut Vec<Done>,
    ) {
        let shut_down = self.shut_down;
        let c = match self.bound(fh) {
            Ok(c) => c,
            Err(e) => return out.push(Done::WriteErr(reply, e)),
        };
        if !c.events.is_empty() {
            return out.push(Done::WriteErr(reply, sys::ELAST));
        }
        let r = if c.writes.is_empty() {
            c.try_write(data)
        } else {
            Ok(None)
        };
        match r {
            Err(e) => out.push(Done::WriteErr(reply, e)),
            Ok(Some(n)) => out.push(Done::Wrote(reply, n as u32)),
            Ok(None) if nonblock => {
                c.stats.writes_refused += 1;
                out.push(Done::WriteErr(reply, libc::EAGAIN));
            }
            Ok(None) if shut_down => out.push(Done::WriteErr(reply, libc::ENODEV)),
            Ok(None) => c.writes.push_back(PendingWrite {
                reply,
                data: data.to_vec(),
            }),
        }
        c.service(out);
    }

    /// `poll()`: what is ready; remembers the kernel's handle to wake it later.
    pub(crate) fn poll(&mut self, fh: u64, ph: PollNotifier, notify: bool) -> PollEvents {
        match self.bound(fh) {
            Ok(c) => {
                if notify {
                    c.poll = Some(ph);
                }
                let ev = c.readiness();
                c.polled(ev);
                ev
            }
            Err(libc::EBADF) => PollEvents::POLLNVAL,
            Err(_) => PollEvents::POLLERR,
        }
    }

    /// One millisecond of model time.
    pub(crate) fn tick(&mut self, out: &mut Vec<Done>) {
        self.now_ms += 1;
        let now = self.now_ms;
        for c in &mut self.chans {
            c.tick(now);
            c.service(out);
        }
    }

    /// Sets a span's alarms; every channel of the span hears of a change.
    pub(crate) fn set_alarms(&mut self, spanno: u32, bits: i32, out: &mut Vec<Done>) -> bool {
        let Some(span) = self.spans.get_mut((spanno as usize).wrapping_sub(1)) else {
            return false;
        };
        span.alarms = bits;
        let (first, count) = (span.first, span.count);
        for channo in first..first + count {
            if let Some(c) = self.chan_mut(channo)
                && c.alarms != bits
            {
                c.alarms = bits;
                c.raise(if bits != 0 {
                    sys::EVENT_ALARM
                } else {
                    sys::EVENT_NOALARM
                });
                c.service(out);
            }
        }
        true
    }

    /// Fails every blocked read and write: the model is going away.
    pub(crate) fn shut_down(&mut self, out: &mut Vec<Done>) {
        self.shut_down = true;
        for c in &mut self.chans {
            for r in c.reads.drain(..) {
                out.push(Done::ReadErr(r.reply, libc::ENODEV));
            }
            for w in c.writes.drain(..) {
                out.push(Done::WriteErr(w.reply, libc::ENODEV));
            }
        }
    }
}
