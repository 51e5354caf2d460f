//! One channel: its buffers, signalling state, the far end the test plays, and what the
//! model's clock does to it every millisecond.

use crate::dial::{Dialer, Tone};
use crate::hybrid::EchoPath;
use fuser::{PollEvents, PollNotifier, ReplyData, ReplyWrite};
use std::collections::VecDeque;
use tipring_dsp::g711::Law;
use tipring_hal::dahdi::sys;

/// Samples per clock tick (the driver's `DAHDI_CHUNKSIZE`, 1 ms).
pub(crate) const CHUNK: usize = 8;
/// The block size a channel opens with (the driver's default).
pub(crate) const DEFAULT_BLOCKSIZE: usize = 1024;
/// Buffers a channel opens with.
pub(crate) const DEFAULT_NUMBUFS: usize = 2;
/// Events the driver's queue holds (`DAHDI_MAX_EVENTSIZE` less one); later ones are lost.
const MAX_EVENTS: usize = 63;
/// What `heard()` keeps at most: 60 s.
const MAX_HEARD: usize = 60 * 8000;
/// D-channel frames kept at most in each direction.
const MAX_FRAMES: usize = 1024;
/// The default ring cadence, ms on/off.
pub(crate) const DEFAULT_CADENCE: [u32; 2] = [2000, 4000];

/// What a channel is, for its signalling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An FXS port (a telephone plugs in).
    Fxs,
    /// An FXO port (plugs into an exchange).
    Fxo,
    /// A clear channel (B-channel).
    Clear,
    /// E&M / CAS.
    Em,
    /// An HDLC D-channel.
    DChan,
    /// Not configured (`sig` 0): cannot be opened.
    None,
}

impl Kind {
    pub(crate) fn of(sigtype: i32) -> Kind {
        match sigtype {
            sys::SIG_FXOKS | sys::SIG_FXOLS | sys::SIG_FXOGS => Kind::Fxs,
            sys::SIG_FXSKS | sys::SIG_FXSLS | sys::SIG_FXSGS => Kind::Fxo,
            sys::SIG_CLEAR => Kind::Clear,
            sys::SIG_EM | sys::SIG_EM_E1 | sys::SIG_CAS => Kind::Em,
            sys::SIG_HDLCFCS | sys::SIG_HARDHDLC => Kind::DChan,
            _ => Kind::None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Fxs => "an FXS port",
            Kind::Fxo => "an FXO port",
            Kind::Clear => "a clear channel",
            Kind::Em => "an E&M channel",
            Kind::DChan => "a D-channel",
            Kind::None => "an unconfigured channel",
        }
    }
}

/// A read the daemon is blocked in.
#[derive(Debug)]
pub(crate) struct PendingRead {
    pub(crate) reply: ReplyData,
    pub(crate) size: usize,
}

/// A write the daemon is blocked in.
#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub(crate) reply: ReplyWrite,
    pub(crate) data: Vec<u8>,
}

/// Something to send to the kernel once the state lock is released.
#[derive(Debug)]
pub(crate) enum Done {
    Data(ReplyData, Vec<u8>),
    ReadErr(ReplyData, i32),
    Wrote(ReplyWrite, u32),
    WriteErr(ReplyWrite, i32),
    Notify(PollNotifier),
}

/// The ringer of an FXS port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ringer {
    /// Index in the cadence (even: ringing, odd: silent).
    pub(crate) idx: usize,
    pub(crate) left_ms: u32,
}

/// The daemon's settings and buffers, reset at each open.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) blocksize: usize,
    pub(crate) numbufs: usize,
    pub(crate) txpolicy: i32,
    pub(crate) rxpolicy: i32,
    pub(crate) linear: bool,
    pub(crate) law: Law,
    pub(crate) buffer_events: bool,
    /// The block being filled.
    rx_cur: Vec<i16>,
    /// Complete blocks the daemon may read.
    pub(crate) rx_ready: VecDeque<Vec<i16>>,
    /// Reads allowed (policy `WHEN_FULL`/`HALF_FULL` hold them until enough blocks wait).
    rx_gate: bool,
    /// Buffers written and not yet sent; the front one is being sent from `tx_pos`.
    pub(crate) tx_bufs: VecDeque<Vec<i16>>,
    tx_pos: usize,
    /// Sending (policy `WHEN_FULL`/`HALF_FULL` wait until enough buffers are written).
    tx_running: bool,
    /// Frames from the far end for the daemon (D-channel).
    pub(crate) frames_in: VecDeque<Vec<u8>>,
}

impl Io {
    pub(crate) fn new(law: Law) -> Io {
        Io {
            blocksize: DEFAULT_BLOCKSIZE,
            numbufs: DEFAULT_NUMBUFS,
            txpolicy: sys::POLICY_IMMEDIATE,
            rxpolicy: sys::POLICY_IMMEDIATE,
            linear: false,
            law,
            buffer_events: false,
            rx_cur: Vec::new(),
            rx_ready: VecDeque::new(),
            rx_gate: true,
            tx_bufs: VecDeque::new(),
            tx_pos: 0,
            tx_running: false,
            frames_in: VecDeque::new(),
        }
    }

    /// New buffer sizes: everything buffered is dropped, as the driver's `reallocbufs` does.
    pub(crate) fn realloc(&mut self, blocksize: usize, numbufs: usize) {
        self.blocksize = blocksize;
        self.numbufs = numbufs;
        self.flush_read();
        self.flush_write();
    }

    pub(crate) fn flush_read(&mut self) {
        self.rx_cur.clear();
        self.rx_ready.clear();
        self.rx_gate = self.rxpolicy == sys::POLICY_IMMEDIATE;
        self.frames_in.clear();
    }

    pub(crate) fn flush_write(&mut self) {
        self.tx_bufs.clear();
        self.tx_pos = 0;
        self.tx_running = false;
    }

    fn threshold(&self, policy: i32) -> usize {
        match policy {
            sys::POLICY_WHEN_FULL => self.numbufs,
            sys::POLICY_HALF_FULL => self.numbufs.div_ceil(2),
            _ => 1,
        }
    }

    /// Bytes one block has on the wire for the daemon.
    pub(crate) fn block_bytes(&self) -> usize {
        if self.linear {
            2 * self.blocksize
        } else {
            self.blocksize
        }
    }
}

/// The signalling the daemon set.
#[derive(Debug)]
pub(crate) struct Sig {
    /// Off hook (FXO port: line seized; FXS port: loop "answered"/battery on).
    pub(crate) off_hook: bool,
    pub(crate) ring: Option<Ringer>,
    pub(crate) cadence: Vec<u32>,
    /// Reverse polarity toward the phone (FXS port).
    pub(crate) reversed: bool,
    /// On-hook transfer ends at this model time (ms).
    pub(crate) oht_until: u64,
    /// A hook flash (or wink) under way ends at this model time (ms).
    pub(crate) pulse_until: Option<u64>,
    /// Hook flashes and winks the daemon made.
    pub(crate) flashes: u32,
    pub(crate) tonezone: i32,
    pub(crate) ec_taps: u32,
    pub(crate) ec_params: u32,
    pub(crate) sendtone: i32,
    pub(crate) txbits: i32,
    pub(crate) vmwi: i32,
    /// `SET_PARAMS` timing fields, `prewinktime` … `pulseaftertime` (ms).
    pub(crate) timing: [i32; 11],
}

/// Default timing (ms): prewink, preflash, wink, flash, start, rxwink, rxflash, debounce,
/// pulse break, pulse make, pulse after.
const DEFAULT_TIMING: [i32; 11] = [50, 50, 150, 750, 1500, 300, 1250, 600, 50, 50, 750];
/// Index of `flashtime` in [`Sig::timing`].
const FLASHTIME: usize = 3;
/// Index of `winktime` in [`Sig::timing`].
const WINKTIME: usize = 2;

impl Sig {
    pub(crate) fn new() -> Sig {
        Sig {
            off_hook: false,
            ring: None,
            cadence: DEFAULT_CADENCE.to_vec(),
            reversed: false,
            oht_until: 0,
            pulse_until: None,
            flashes: 0,
            tonezone: 0,
            ec_taps: 0,
            ec_params: 0,
            sendtone: -1,
            txbits: 0,
            vmwi: 0,
            timing: DEFAULT_TIMING,
        }
    }
}

/// The far end the test plays: the phone on an FXS port, the exchange on an FXO port, the
/// network on a digital channel.
#[derive(Debug, Default)]
pub(crate) struct Far {
    /// FXS port: the handset is off hook.
    pub(crate) phone_off_hook: bool,
    /// FXO port: a ring burst is on.
    pub(crate) ring_on: bool,
    /// FXO port: reversed polarity.
    pub(crate) reversed: bool,
    /// FXO port: battery dropped.
    pub(crate) no_battery: bool,
    /// E&M: received CAS bits.
    pub(crate) rxbits: i32,
    /// Audio queued for the daemon to read.
    pub(crate) speak: VecDeque<i16>,
    /// What the far end heard of the daemon.
    pub(crate) heard: VecDeque<i16>,
    /// Frames the daemon wrote (D-channel), FCS removed.
    pub(crate) frames_out: VecDeque<Vec<u8>>,
}

/// Counters for tests.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) overruns: u64,
    pub(crate) underruns: u64,
    pub(crate) blocks_read: u64,
    pub(crate) blocks_written: u64,
    /// Non-blocking writes refused for want of a free buffer (`EAGAIN`).
    pub(crate) writes_refused: u64,
}

/// One channel.
#[derive(Debug)]
pub(crate) struct Chan {
    pub(crate) channo: u32,
    /// Span number (from 1).
    pub(crate) span: u32,
    pub(crate) chanpos: u32,
    pub(crate) sigtype: i32,
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) deflaw: Law,
    /// The span's alarms, mirrored.
    pub(crate) alarms: i32,
    /// The file handle that has the channel open.
    pub(crate) open: Option<u64>,
    pub(crate) io: Io,
    pub(crate) sig: Sig,
    pub(crate) far: Far,
    pub(crate) events: VecDeque<i32>,
    pub(crate) log: Vec<String>,
    pub(crate) dialer: Dialer,
    pub(crate) tone: Option<Tone>,
    pub(crate) hybrid: Option<EchoPath>,
    pub(crate) poll: Option<PollNotifier>,
    reported: PollEvents,
    pub(crate) reads: VecDeque<PendingRead>,
    pub(crate) writes: VecDeque<PendingWrite>,
    pub(crate) stats: Stats,
}

impl Chan {
    pub(crate) fn new(channo: u32, span: u32, chanpos: u32, sigtype: i32, law: Law) -> Chan {
        Chan {
            channo,
            span,
            chanpos,
            sigtype,
            kind: Kind::of(sigtype),
            name: format!("MODEL/{span}/{chanpos}"),
            deflaw: law,
            alarms: 0,
            open: None,
            io: Io::new(law),
            sig: Sig::new(),
            far: Far::default(),
            events: VecDeque::new(),
            log: Vec::new(),
            dialer: Dialer::new(),
            tone: None,
            hybrid: None,
            poll: None,
            reported: PollEvents::empty(),
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Queues an event for the daemon (lost when the queue is full, as in the driver).
    pub(crate) fn raise(&mut self, event: i32) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(event);
        }
    }

    /// The driver's `initialize_channel` at open: default buffers and law.
    pub(crate) fn opened(&mut self, fh: u64) {
        self.open = Some(fh);
        self.io = Io::new(self.deflaw);
        self.stats = Stats::default();
        self.dialer.reset();
    }

    /// The driver's `close_channel` at the last close: hang up, drop buffers, events,
    /// tones and settings.
    pub(crate) fn closed(&mut self, out: &mut Vec<Done>) {
        self.open = None;
        self.io = Io::new(self.deflaw);
        self.events.clear();
        self.dialer.cancel();
        self.tone = None;
        self.sig.off_hook = false;
        self.sig.ring = None;
        self.sig.oht_until = 0;
        self.sig.pulse_until = None;
        self.sig.sendtone = -1;
        self.sig.ec_taps = 0;
        self.sig.ec_params = 0;
        self.poll = None;
        self.reported = PollEvents::empty();
        for r in self.reads.drain(..) {
            out.push(Done::ReadErr(r.reply, libc::EBADF));
        }
        for w in self.writes.drain(..) {
            out.push(Done::WriteErr(w.reply, libc::EBADF));
        }
    }

    /// True while the line is down (red or blue alarm): nothing passes.
    fn line_down(&self) -> bool {
        self.alarms & (sys::ALARM_RED | sys::ALARM_BLUE) != 0
    }

    /// True while an FXS port's on-hook transfer runs.
    pub(crate) fn oht_active(&self, now: u64) -> bool {
        self.kind == Kind::Fxs && now < self.sig.oht_until
    }

    /// True when the far end hears what the daemon sends.
    fn audible(&self, now: u64) -> bool {
        if self.line_down() || self.open.is_none() {
            return false;
        }
        match self.kind {
            Kind::Fxs => self.far.phone_off_hook || self.oht_active(now),
            Kind::Fxo => self.sig.off_hook && self.sig.pulse_until.is_none(),
            Kind::Clear | Kind::Em => true,
            Kind::DChan | Kind::None => false,
        }
    }

    /// FXO port: the line is seized (off hook and not in a flash).
    pub(crate) fn seized(&self) -> bool {
        self.kind == Kind::Fxo && self.sig.off_hook && self.sig.pulse_until.is_none()
    }

    /// Starts a hook flash or wink of `ms`; `HOOKCOMPLETE` follows.
    pub(crate) fn start_pulse(&mut self, now: u64, wink: bool) {
        let ms = self.sig.timing[if wink { WINKTIME } else { FLASHTIME }].max(1) as u64;
        self.sig.pulse_until = Some(now + ms);
        self.sig.flashes += 1;
    }

    /// One millisecond of the model clock.
    pub(crate) fn tick(&mut self, now: u64) {
        self.tick_signalling(now);
        if self.kind == Kind::DChan || self.kind == Kind::None {
            return;
        }
        let idle = self.open.is_none() && self.far.speak.is_empty() && self.hybrid.is_none();
        if idle {
            return;
        }
        let mut tx = [0i16; CHUNK];
        if self.open.is_some() {
            self.fill_tx(&mut tx);
        }
        let audible = self.audible(now);
        if !audible {
            tx = [0; CHUNK];
        } else {
            if self.far.heard.len() + CHUNK > MAX_HEARD {
                self.far.heard.drain(..CHUNK);
            }
            self.far.heard.extend(tx);
        }
        let mut rx = [0i16; CHUNK];
        let talks = self.kind != Kind::Fxs || self.far.phone_off_hook;
        for (i, r) in rx.iter_mut().enumerate() {
            let speech = if talks {
                self.far.speak.pop_front().unwrap_or(0)
            } else {
                0
            };
            let echo = self.hybrid.as_mut().map_or(0.0, |h| h.step(tx[i]));
            *r = (f32::from(speech) + echo)
                .round()
                .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
        }
        if self.line_down() {
            rx = [0; CHUNK];
        }
        if self.open.is_some() {
            self.put_rx(&rx);
        }
    }

    fn tick_signalling(&mut self, now: u64) {
        if let Some(mut r) = self.sig.ring {
            r.left_ms = r.left_ms.saturating_sub(1);
            if r.left_ms == 0 {
                r.idx = (r.idx + 1) % self.sig.cadence.len().max(1);
                r.left_ms = self.sig.cadence.get(r.idx).copied().unwrap_or(1).max(1);
                self.raise(if r.idx % 2 == 0 {
                    sys::EVENT_RINGERON
                } else {
                    sys::EVENT_RINGEROFF
                });
            }
            self.sig.ring = Some(r);
        }
        if let Some(until) = self.sig.pulse_until
            && now >= until
        {
            self.sig.pulse_until = None;
            self.raise(sys::EVENT_HOOKCOMPLETE);
        }
    }

    /// The next chunk the line carries: written audio first, then dialling, then a tone.
    fn fill_tx(&mut self, tx: &mut [i16; CHUNK]) {
        let mut n = 0;
        let io = &mut self.io;
        if !io.tx_running && io.tx_bufs.len() >= io.threshold(io.txpolicy) {
            io.tx_running = true;
        }
        if io.tx_running {
            while n < CHUNK {
                let Some(front) = io.tx_bufs.front() else {
                    break;
                };
                let take = (front.len() - io.tx_pos).min(CHUNK - n);
                tx[n..n + take].copy_from_slice(&front[io.tx_pos..io.tx_pos + take]);
                n += take;
                io.tx_pos += take;
                if io.tx_pos >= front.len() {
                    io.tx_bufs.pop_front();
                    io.tx_pos = 0;
                }
            }
            if io.tx_bufs.is_empty() {
                // Ran dry: an underrun, and a policy other than IMMEDIATE waits to refill.
                io.tx_running = false;
                self.stats.underruns += 1;
                if io.buffer_events {
                    self.raise(sys::EVENT_WRITE_UNDERRUN);
                }
            }
        }
        if n < CHUNK {
            let (m, finished) = self.dialer.generate(&mut tx[n..]);
            n += m;
            if finished {
                self.raise(sys::EVENT_DIALCOMPLETE);
            }
        }
        if n < CHUNK
            && let Some(t) = self.tone.as_mut()
        {
            let m = t.generate(&mut tx[n..]);
            if m < CHUNK - n {
                self.tone = None;
            }
        }
    }

    fn put_rx(&mut self, rx: &[i16]) {
        let io = &mut self.io;
        let mut overruns = 0;
        for &s in rx {
            io.rx_cur.push(s);
            if io.rx_cur.len() >= io.blocksize {
                let block = std::mem::replace(&mut io.rx_cur, Vec::with_capacity(io.blocksize));
                if io.rx_ready.len() >= io.numbufs {
                    // Every buffer is full: the driver drops new audio until one is read.
                    overruns += 1;
                } else {
                    io.rx_ready.push_back(block);
                    if io.rx_ready.len() >= io.threshold(io.rxpolicy) {
                        io.rx_gate = true;
                    }
                }
            }
        }
        if overruns > 0 {
            self.stats.overruns += overruns;
            if self.io.buffer_events {
                self.raise(sys::EVENT_READ_OVERRUN);
            }
        }
    }

    /// A frame from the far end for the daemon (D-channel).
    pub(crate) fn frame_in(&mut self, frame: &[u8]) {
        if self.open.is_none() || self.line_down() {
            return;
        }
        if self.io.frames_in.len() < MAX_FRAMES {
            let mut f = frame.to_vec();
            f.extend_from_slice(&crate::hdlc::fcs(frame));
            self.io.frames_in.push_back(f);
        } else {
            self.raise(sys::EVENT_OVERRUN);
        }
    }

    fn readable(&self) -> bool {
        if self.kind == Kind::DChan {
            !self.io.frames_in.is_empty()
        } else {
            self.io.rx_gate && !self.io.rx_ready.is_empty()
        }
    }

    fn writable(&self) -> bool {
        self.kind == Kind::DChan || self.io.tx_bufs.len() < self.io.numbufs
    }

    /// What `poll()` reports now.
    pub(crate) fn readiness(&self) -> PollEvents {
        let mut ev = PollEvents::empty();
        if !self.events.is_empty() {
            ev |= PollEvents::POLLPRI;
        }
        if self.readable() {
            ev |= PollEvents::POLLIN | PollEvents::POLLRDNORM;
        }
        if self.writable() {
            ev |= PollEvents::POLLOUT | PollEvents::POLLWRNORM;
        }
        ev
    }

    /// Remembers what a `poll` reply told the kernel.
    pub(crate) fn polled(&mut self, ev: PollEvents) {
        self.reported = ev;
    }

    /// Takes the next block (or frame) as the daemon's read returns it, `size` bytes at most.
    pub(crate) fn take_read(&mut self, size: usize) -> Option<Vec<u8>> {
        let mut bytes = if self.kind == Kind::DChan {
            self.io.frames_in.pop_front()?
        } else {
            if !self.readable() {
                return None;
            }
            let block = self.io.rx_ready.pop_front()?;
            if self.io.rx_ready.is_empty() && self.io.rxpolicy != sys::POLICY_IMMEDIATE {
                self.io.rx_gate = false;
            }
            self.stats.blocks_read += 1;
            if self.io.linear {
                block.iter().flat_map(|s| s.to_ne_bytes()).collect()
            } else {
                let law = self.io.law;
                block.iter().map(|&s| law.encode(s)).collect()
            }
        };
        bytes.truncate(size);
        Some(bytes)
    }

    /// Takes a write if there is room: `Ok(Some(bytes taken))`, `Ok(None)` when full.
    pub(crate) fn try_write(&mut self, data: &[u8]) -> Result<Option<usize>, i32> {
        if data.is_empty() {
            return Err(libc::EINVAL);
        }
        if self.kind == Kind::DChan {
            if data.len() < 2 {
                return Err(libc::EINVAL);
            }
            if !self.line_down() {
                if self.far.frames_out.len() >= MAX_FRAMES {
                    self.far.frames_out.pop_front();
                }
                self.far
                    .frames_out
                    .push_back(data[..data.len() - 2].to_vec());
            }
            return Ok(Some(data.len()));
        }
        if !self.writable() {
            return Ok(None);
        }
        let amnt = data.len().min(self.io.block_bytes());
        let samples: Vec<i16> = if self.io.linear {
            data[..amnt]
                .chunks_exact(2)
                .map(|b| i16::from_ne_bytes([b[0], b[1]]))
                .collect()
        } else {
            let law = self.io.law;
            data[..amnt].iter().map(|&c| law.decode(c)).collect()
        };
        if !samples.is_empty() {
            self.io.tx_bufs.push_back(samples);
            self.stats.blocks_written += 1;
        }
        Ok(Some(amnt))
    }

    /// Completes blocked reads and writes that can complete, and tells a sleeping `poll`
    /// when something became ready.
    pub(crate) fn service(&mut self, out: &mut Vec<Done>) {
        while let Some(r) = self.reads.front() {
            let size = r.size;
            if !self.events.is_empty() {
                if let Some(r) = self.reads.pop_front() {
                    out.push(Done::ReadErr(r.reply, sys::ELAST));
                }
                continue;
            }
            match self.take_read(size) {
                Some(bytes) => {
                    if let Some(r) = self.reads.pop_front() {
                        out.push(Done::Data(r.reply, bytes));
                    }
                }
                None => break,
            }
        }
        while let Some(w) = self.writes.pop_front() {
            if !self.events.is_empty() {
                out.push(Done::WriteErr(w.reply, sys::ELAST));
                continue;
            }
            match self.try_write(&w.data) {
                Ok(Some(n)) => out.push(Done::Wrote(w.reply, n as u32)),
                Ok(None) => {
                    self.writes.push_front(w);
                    break;
                }
                Err(e) => out.push(Done::WriteErr(w.reply, e)),
            }
        }
        let now = self.readiness();
        if let Some(p) = &self.poll
            && !(now - self.reported).is_empty()
        {
            out.push(Done::Notify(p.clone()));
        }
        self.reported = now;
    }
}
