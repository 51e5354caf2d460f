//! The mounted model: mounting and unmounting, the clock thread, and the handles tests use
//! to play the far end and to observe what the daemon did.

use crate::chan::{Chan, Kind};
use crate::error::ModelError;
use crate::fs::DahdiFs;
use crate::hybrid::{EchoPath, Hybrid};
use crate::spec::Spec;
use crate::state::{Shared, State};
use fuser::{BackgroundSession, Config, MountOption, Session, SessionACL};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tipring_dsp::g711::Law;
use tipring_hal::dahdi::sys;

/// The model clock's tick: one driver chunk of 8 samples.
const TICK: Duration = Duration::from_millis(1);
/// How far the clock may fall behind before it skips ahead instead of catching up: a few
/// ticks of ordinary wake-up jitter are made up; a longer stall pauses the model's time.
///
/// Catching up a stall would play tens of milliseconds of audio in one burst while the
/// daemon, stalled with the rest of the machine (a loaded CI runner, a hypervisor stealing
/// the CPU), could not read or write in between: a test would then see underruns and
/// overruns the daemon never caused. To the daemon such a stall now looks like a card that
/// stalled (no block for a while), which it handles as it would on hardware: a stall of
/// three periods or more gives it a tick without audio. How much was skipped is
/// [`Model::stalled_ms`].
const MAX_CATCH_UP: u64 = 4;

/// A DAHDI driver model mounted at a directory. Dropping it unmounts.
#[derive(Debug)]
pub struct Model {
    shared: Arc<Shared>,
    session: Option<BackgroundSession>,
    clock: Option<JoinHandle<()>>,
    root: PathBuf,
}

impl Model {
    /// Mounts a model of `spec` at `root` (created if missing) and serves it from background
    /// threads until the model is dropped.
    ///
    /// # Errors
    /// [`ModelError::Unavailable`] when `/dev/fuse` cannot be opened or mounting is not
    /// permitted (tests skip on it), [`ModelError::Spec`] for a spec with no spans or an
    /// empty span, [`ModelError::MountPoint`], [`ModelError::Mount`] and
    /// [`ModelError::Thread`] for the rest.
    pub fn mount(root: &Path, spec: Spec) -> Result<Model, ModelError> {
        let state = State::new(&spec)?;
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
        {
            return Err(ModelError::Unavailable(format!(
                "cannot open /dev/fuse: {e}"
            )));
        }
        std::fs::create_dir_all(root).map_err(|source| ModelError::MountPoint {
            path: root.to_path_buf(),
            source,
        })?;
        let root = root
            .canonicalize()
            .map_err(|source| ModelError::MountPoint {
                path: root.to_path_buf(),
                source,
            })?;
        let shared = Arc::new(Shared::new(state));
        // SAFETY: geteuid/getegid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let fs = DahdiFs {
            shared: shared.clone(),
            born: SystemTime::now(),
            uid,
            gid,
        };
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("dahdi-model".into()),
            MountOption::Subtype("dahdi-model".into()),
            MountOption::RW,
            MountOption::NoExec,
            MountOption::NoSuid,
            MountOption::NoAtime,
        ];
        // Root: any user may open the nodes (a daemon under test may run as another user).
        config.acl = if uid == 0 {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        // Through fusermount3's auto_unmount first: should the test process be killed
        // (a harness timeout, SIGKILL), fusermount3 still unmounts. Without it (no
        // fusermount3, no allow_other), a plain mount; `Drop` unmounts either way.
        let mut auto = config.clone();
        auto.mount_options.push(MountOption::AutoUnmount);
        let auto = if config.acl == SessionACL::All {
            Session::new(fs.clone(), &root, &auto).ok()
        } else {
            None
        };
        let session = match auto {
            Some(s) => s,
            None => Session::new(fs, &root, &config).map_err(|e| classify(&root, e))?,
        };
        let session = session.spawn().map_err(|source| ModelError::Thread {
            what: "FUSE session",
            source,
        })?;
        let mut model = Model {
            shared: shared.clone(),
            session: Some(session),
            clock: None,
            root,
        };
        let clock = std::thread::Builder::new()
            .name("dahdi-model-clock".into())
            .spawn(move || run_clock(&shared))
            .map_err(|source| ModelError::Thread {
                what: "clock",
                source,
            })?;
        model.clock = Some(clock);
        Ok(model)
    }

    /// Where the model is mounted (the `/dev/dahdi` of the daemon under test).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of node `name` (`"ctl"`, `"channel"`, `"chan/001/002"`, `"5"` …).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The per-channel node `chan/SSS/CCC` of channel `channo`.
    pub fn chan_path(&self, channo: u32) -> Option<PathBuf> {
        let st = self.shared.lock();
        let c = st.chan(channo)?;
        Some(
            self.root
                .join(format!("chan/{:03}/{:03}", c.span, c.chanpos)),
        )
    }

    /// Number of channels over all spans.
    pub fn channels(&self) -> u32 {
        self.shared.lock().chans.len() as u32
    }

    /// The control handle of channel `channo`.
    ///
    /// # Errors
    /// [`ModelError::NoChannel`].
    pub fn channel(&self, channo: u32) -> Result<ChanCtl, ModelError> {
        if self.shared.lock().chan(channo).is_none() {
            return Err(ModelError::NoChannel(channo));
        }
        Ok(ChanCtl {
            shared: self.shared.clone(),
            channo,
        })
    }

    /// Sets span `spanno`'s alarm bits (`sys::ALARM_RED` …; 0 clears). Every channel of the
    /// span whose alarms change gets `ALARM` (or `NOALARM` when cleared); `SPANSTAT` and
    /// `GET_PARAMS` show the bits; while red or blue, reads return silence and nothing the
    /// daemon sends reaches the far end.
    ///
    /// # Errors
    /// [`ModelError::NoSpan`].
    pub fn span_alarm(&self, spanno: u32, bits: i32) -> Result<(), ModelError> {
        if self.shared.with(|st, out| st.set_alarms(spanno, bits, out)) {
            Ok(())
        } else {
            Err(ModelError::NoSpan(spanno))
        }
    }

    /// Span `spanno`'s alarm bits.
    pub fn span_alarms(&self, spanno: u32) -> Option<i32> {
        self.shared.lock().span(spanno).map(|s| s.alarms)
    }

    /// The last `MAINT` command given for span `spanno`.
    pub fn span_maint(&self, spanno: u32) -> Option<i32> {
        self.shared.lock().span(spanno).map(|s| s.maint)
    }

    /// The ioctls made on channel `channo` since the mount, by name (`"SPECIFY"`,
    /// `"SET_BLOCKSIZE"` …; unknown requests as hex numbers), refused ones included.
    pub fn ioctl_log(&self, channo: u32) -> Vec<String> {
        self.shared
            .lock()
            .chan(channo)
            .map(|c| c.log.clone())
            .unwrap_or_default()
    }

    /// Model time: ms of 8 kHz audio the clock has produced since the mount.
    pub fn now_ms(&self) -> u64 {
        self.shared.lock().now_ms
    }

    /// Holds the card's clock (`true`) or lets it run again: while held no block arrives
    /// or leaves on any channel and no signalling timer runs, as when a card stalls.
    pub fn hold_clock(&self, held: bool) {
        self.shared.held.store(held, Ordering::SeqCst);
    }

    /// Wall-clock milliseconds the model's time stood still because its clock thread woke
    /// more than a few ticks late (the machine was stalled). Tests print it when a timing
    /// assertion fails.
    pub fn stalled_ms(&self) -> u64 {
        self.shared.stalled_ms.load(Ordering::Relaxed)
    }

    /// Unmounts now, reporting what went wrong (dropping the model does the same silently).
    ///
    /// # Errors
    /// [`ModelError::Unmount`] when the kernel refused; the mount is then detached lazily.
    pub fn unmount(mut self) -> Result<(), ModelError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ModelError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(clock) = self.clock.take() {
            let _ = clock.join();
        }
        // Nobody may stay blocked in a read or write: the kernel would wait for us forever.
        self.shared.with(|st, out| st.shut_down(out));
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        match umount(&self.root, 0) {
            Ok(()) => {
                // The kernel aborts the connection: the session thread ends at once.
                let _ = session.join();
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // Files still open: detach; the connection ends with the last close.
                let lazy = umount(&self.root, libc::MNT_DETACH);
                drop(session);
                lazy.map_err(|source| ModelError::Unmount {
                    path: self.root.clone(),
                    source,
                })
            }
            Err(_) => {
                // Not root (fuser unmounts through fusermount3) or already unmounted.
                drop(session);
                Ok(())
            }
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn umount(path: &Path, flags: libc::c_int) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let r = unsafe { libc::umount2(c.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn classify(root: &Path, e: io::Error) -> ModelError {
    let denied = matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::ENODEV | libc::ENOENT)
    ) || matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
    );
    if denied {
        ModelError::Unavailable(format!("mounting FUSE at {} failed: {e}", root.display()))
    } else {
        ModelError::Mount {
            path: root.to_path_buf(),
            source: e,
        }
    }
}

/// The model clock: 1 ms ticks of 8 samples at real-time pace, caught up after a slightly
/// late wake-up (up to [`MAX_CATCH_UP`]; beyond that the lost time is skipped).
fn run_clock(shared: &Shared) {
    let start = Instant::now();
    let mut done: u64 = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let due = start.elapsed().as_millis() as u64;
        if shared.held.load(Ordering::SeqCst) {
            // A stalled card: its time stands still, nothing is skipped on release.
            done = due;
            std::thread::sleep(TICK);
            continue;
        }
        if due > done + MAX_CATCH_UP {
            let skipped = due - MAX_CATCH_UP - done;
            shared.stalled_ms.fetch_add(skipped, Ordering::Relaxed);
            done = due - MAX_CATCH_UP;
        }
        if due > done {
            shared.with(|st, out| {
                while done < due {
                    st.tick(out);
                    done += 1;
                }
            });
        }
        let next = start + TICK * (done as u32 + 1);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held. Use it instead
/// of sleeping a guessed time.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One channel's controls (the far end: phone, exchange or network) and observations (what
/// the daemon did). Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct ChanCtl {
    shared: Arc<Shared>,
    channo: u32,
}

impl ChanCtl {
    /// The channel number.
    pub fn channo(&self) -> u32 {
        self.channo
    }

    fn read<R>(&self, f: impl FnOnce(&Chan) -> R) -> R {
        let st = self.shared.lock();
        // The channel exists: `Model::channel` checked, and channels are never removed.
        match st.chan(self.channo) {
            Some(c) => f(c),
            None => unreachable!("channel {} vanished", self.channo),
        }
    }

    fn act(
        &self,
        what: &'static str,
        needs: Option<Kind>,
        f: impl FnOnce(&mut Chan, u64) -> Result<(), &'static str>,
    ) -> Result<(), ModelError> {
        let channo = self.channo;
        self.shared.with(|st, out| {
            let now = st.now_ms;
            let c = st.chan_mut(channo).ok_or(ModelError::NoChannel(channo))?;
            if let Some(k) = needs
                && c.kind != k
            {
                return Err(ModelError::WrongPort {
                    channo,
                    what,
                    needs: k.name(),
                    is: c.kind.name(),
                });
            }
            let r = f(c, now).map_err(|why| ModelError::State { channo, what, why });
            c.service(out);
            r
        })
    }

    // ---- FXS port: the test is the telephone ----

    /// FXS port: the phone goes off hook (`RINGOFFHOOK`; answers a ringing port, whose ringer
    /// stops). Nothing happens when it is off hook already.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXS port.
    pub fn phone_off_hook(&self) -> Result<(), ModelError> {
        self.act("phone_off_hook", Some(Kind::Fxs), |c, _| {
            if !c.far.phone_off_hook {
                c.far.phone_off_hook = true;
                c.sig.ring = None;
                c.raise(sys::EVENT_RINGOFFHOOK);
            }
            Ok(())
        })
    }

    /// FXS port: the phone hangs up (`ONHOOK`). Nothing happens when it is on hook already.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXS port.
    pub fn phone_on_hook(&self) -> Result<(), ModelError> {
        self.act("phone_on_hook", Some(Kind::Fxs), |c, _| {
            if c.far.phone_off_hook {
                c.far.phone_off_hook = false;
                c.raise(sys::EVENT_ONHOOK);
            }
            Ok(())
        })
    }

    /// FXS port: a hook flash (`WINKFLASH`), modelled as one event, not as a timed on-hook
    /// pulse.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXS port, [`ModelError::State`] while on hook.
    pub fn phone_flash(&self) -> Result<(), ModelError> {
        self.act("phone_flash", Some(Kind::Fxs), |c, _| {
            if !c.far.phone_off_hook {
                return Err("the phone is on hook");
            }
            c.raise(sys::EVENT_WINKFLASH);
            Ok(())
        })
    }

    /// FXS port: the handset is off hook.
    pub fn phone_is_off_hook(&self) -> bool {
        self.read(|c| c.far.phone_off_hook)
    }

    /// FXS port: the bell is sounding now (a cadence "on" interval).
    pub fn ringing(&self) -> bool {
        self.read(|c| c.sig.ring.is_some_and(|r| r.idx % 2 == 0))
    }

    /// FXS port: a ring cadence runs (`HOOK(RING)` until `RINGOFF`, an answer or a hang-up).
    pub fn ring_cadence_active(&self) -> bool {
        self.read(|c| c.sig.ring.is_some())
    }

    /// FXS port: the ring cadence in force (ms on/off).
    pub fn cadence(&self) -> Vec<u32> {
        self.read(|c| c.sig.cadence.clone())
    }

    /// FXS port: the daemon reversed the polarity (`SETPOLARITY(1)`).
    pub fn polarity_reversed(&self) -> bool {
        self.read(|c| c.sig.reversed)
    }

    /// FXS port: an on-hook transfer (`ONHOOKTRANSFER`) runs now.
    pub fn onhook_transfer_active(&self) -> bool {
        let st = self.shared.lock();
        st.chan(self.channo)
            .is_some_and(|c| c.oht_active(st.now_ms))
    }

    /// FXS port: the message count of the last `VMWI`.
    pub fn vmwi(&self) -> i32 {
        self.read(|c| c.sig.vmwi)
    }

    // ---- FXO port: the test is the exchange ----

    /// FXO port: a ring burst starts (`RINGBEGIN`; `rxisoffhook` reads 1 until it ends).
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXO port.
    pub fn ring_begin(&self) -> Result<(), ModelError> {
        self.act("ring_begin", Some(Kind::Fxo), |c, _| {
            c.far.ring_on = true;
            c.raise(sys::EVENT_RINGBEGIN);
            Ok(())
        })
    }

    /// FXO port: the ring burst ends (`RINGOFFHOOK`, one per burst).
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXO port.
    pub fn ring_end(&self) -> Result<(), ModelError> {
        self.act("ring_end", Some(Kind::Fxo), |c, _| {
            c.far.ring_on = false;
            c.raise(sys::EVENT_RINGOFFHOOK);
            Ok(())
        })
    }

    /// FXO port: the exchange reverses the line's polarity (`POLARITY`).
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXO port.
    pub fn polarity(&self) -> Result<(), ModelError> {
        self.act("polarity", Some(Kind::Fxo), |c, _| {
            c.far.reversed = !c.far.reversed;
            c.raise(sys::EVENT_POLARITY);
            Ok(())
        })
    }

    /// FXO port: the exchange drops the battery (far-end disconnect): `ONHOOK` on kewlstart
    /// and ground start ports; loop start has no disconnect supervision, so no event.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXO port.
    pub fn battery_drop(&self) -> Result<(), ModelError> {
        self.act("battery_drop", Some(Kind::Fxo), |c, _| {
            c.far.no_battery = true;
            if c.sigtype != sys::SIG_FXSLS {
                c.raise(sys::EVENT_ONHOOK);
            }
            Ok(())
        })
    }

    /// FXO port: the battery comes back (no event).
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an FXO port.
    pub fn battery_restore(&self) -> Result<(), ModelError> {
        self.act("battery_restore", Some(Kind::Fxo), |c, _| {
            c.far.no_battery = false;
            Ok(())
        })
    }

    /// FXO port: the daemon holds the line (off hook and not in a flash).
    pub fn line_seized(&self) -> bool {
        self.read(|c| c.seized())
    }

    // ---- Any channel ----

    /// The daemon's hook state (`HOOK(OFFHOOK)` … `HOOK(ONHOOK)`; a close goes on hook).
    pub fn off_hook(&self) -> bool {
        self.read(|c| c.sig.off_hook)
    }

    /// Hook flashes (and winks) the daemon made.
    pub fn flashes(&self) -> u32 {
        self.read(|c| c.sig.flashes)
    }

    /// A hook flash or wink the daemon asked for is under way.
    pub fn flashing(&self) -> bool {
        self.read(|c| c.sig.pulse_until.is_some())
    }

    /// Queues audio (8 kHz linear) for the daemon to read, after what is queued already;
    /// silence follows. On an FXS port it plays while the phone is off hook.
    pub fn speak(&self, samples: &[i16]) {
        let _ = self.act("speak", None, |c, _| {
            c.far.speak.extend(samples.iter().copied());
            Ok(())
        });
    }

    /// Samples of [`ChanCtl::speak`] not yet played.
    pub fn speaking(&self) -> usize {
        self.read(|c| c.far.speak.len())
    }

    /// A copy of what the far end heard of the daemon (8 kHz linear, the last 60 s at most):
    /// written audio, dialling and tones while the line carries them (FXS: phone off hook or
    /// on-hook transfer; FXO: line seized; digital: always, unless in red or blue alarm),
    /// silence where the daemon sent nothing. Only while the channel is open.
    pub fn heard(&self) -> Vec<i16> {
        self.read(|c| c.far.heard.iter().copied().collect())
    }

    /// Like [`ChanCtl::heard`], and forgets it.
    pub fn take_heard(&self) -> Vec<i16> {
        let mut st = self.shared.lock();
        st.chan_mut(self.channo)
            .map(|c| c.far.heard.drain(..).collect())
            .unwrap_or_default()
    }

    /// Adds (or with `None` removes) an echo path: the daemon reads, on top of the far end's
    /// speech, an echo of what the far end hears of it.
    pub fn set_hybrid(&self, hybrid: Option<Hybrid>) {
        let _ = self.act("set_hybrid", None, |c, _| {
            c.hybrid = hybrid.as_ref().map(EchoPath::new);
            Ok(())
        });
    }

    /// Queues an event for the daemon as the driver would (for events the controls above
    /// do not make: `REMOVED`, `EC_DISABLED`, `PULSEDIGIT | d` …).
    pub fn raise_event(&self, event: i32) {
        let _ = self.act("raise_event", None, |c, _| {
            c.raise(event);
            Ok(())
        });
    }

    /// Events waiting for the daemon's `GETEVENT`, oldest first.
    pub fn pending_events(&self) -> Vec<i32> {
        self.read(|c| c.events.iter().copied().collect())
    }

    /// E&M: sets the received CAS bits. On an E&M channel a change of the A bit is the far
    /// end's hook (`RINGOFFHOOK` when set, `ONHOOK` when cleared), as the driver reports
    /// it; on a raw CAS channel any change is `BITSCHANGED`.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless an E&M channel.
    pub fn set_rx_bits(&self, bits: i32) -> Result<(), ModelError> {
        self.act("set_rx_bits", Some(Kind::Em), |c, _| {
            let old = c.far.rxbits;
            if old != bits & 0xF {
                c.far.rxbits = bits & 0xF;
                if c.sigtype == sys::SIG_CAS {
                    // Raw CAS: the daemon reads the bits itself.
                    c.raise(sys::EVENT_BITSCHANGED);
                } else if (old ^ c.far.rxbits) & 0x8 != 0 {
                    // E&M: the driver turns the A bit into hook events (the far end's
                    // seizure, answer or clear), as dahdi-base does.
                    c.raise(if c.far.rxbits & 0x8 != 0 {
                        sys::EVENT_RINGOFFHOOK
                    } else {
                        sys::EVENT_ONHOOK
                    });
                }
            }
            Ok(())
        })
    }

    /// E&M: the CAS bits the daemon sends.
    pub fn tx_bits(&self) -> i32 {
        self.read(|c| c.sig.txbits)
    }

    /// A channel file is open on it (per-channel node, or `channel` after `SPECIFY`).
    pub fn is_open(&self) -> bool {
        self.read(|c| c.open.is_some())
    }

    /// Digits the daemon dialled (`DIAL`) since the channel was opened, as sent (pauses and
    /// mode letters left out).
    pub fn dialled(&self) -> String {
        self.read(|c| c.dialer.dialled.clone())
    }

    /// A `DIAL` string is being sent.
    pub fn dialing(&self) -> bool {
        self.read(|c| c.dialer.is_dialing())
    }

    /// The last `SENDTONE` (−1: none).
    pub fn sendtone(&self) -> i32 {
        self.read(|c| c.sig.sendtone)
    }

    /// Samples per block in force.
    pub fn blocksize(&self) -> usize {
        self.read(|c| c.io.blocksize)
    }

    /// Buffers per direction in force.
    pub fn numbufs(&self) -> usize {
        self.read(|c| c.io.numbufs)
    }

    /// Linear (`SETLINEAR(1)`) reads and writes are in force.
    pub fn linear(&self) -> bool {
        self.read(|c| c.io.linear)
    }

    /// The law in force for law-mode reads and writes.
    pub fn law(&self) -> Law {
        self.read(|c| c.io.law)
    }

    /// The tone zone set (`SETTONEZONE`).
    pub fn tonezone(&self) -> i32 {
        self.read(|c| c.sig.tonezone)
    }

    /// The echo canceller's taps set by `ECHOCANCEL` or `ECHOCANCEL_PARAMS` (0: off).
    pub fn echo_canceller_taps(&self) -> u32 {
        self.read(|c| c.sig.ec_taps)
    }

    /// Blocks lost because the daemon did not read in time (all read buffers were full).
    pub fn overruns(&self) -> u64 {
        self.read(|c| c.stats.overruns)
    }

    /// Times the written audio ran dry while sending.
    pub fn underruns(&self) -> u64 {
        self.read(|c| c.stats.underruns)
    }

    /// Blocks the daemon read, and writes it made, since the channel was opened.
    pub fn blocks(&self) -> (u64, u64) {
        self.read(|c| (c.stats.blocks_read, c.stats.blocks_written))
    }

    /// Non-blocking writes refused because every buffer was full (`EAGAIN`).
    pub fn writes_refused(&self) -> u64 {
        self.read(|c| c.stats.writes_refused)
    }

    /// The ioctls made on the channel, by name (see [`Model::ioctl_log`]).
    pub fn ioctl_log(&self) -> Vec<String> {
        self.read(|c| c.log.clone())
    }

    /// D-channel: a frame from the far end; the daemon reads it followed by its two FCS
    /// bytes. Lost while the channel is closed or the span in red or blue alarm.
    ///
    /// # Errors
    /// [`ModelError::WrongPort`] unless a D-channel.
    pub fn dchan_send(&self, frame: &[u8]) -> Result<(), ModelError> {
        self.act("dchan_send", Some(Kind::DChan), |c, _| {
            c.frame_in(frame);
            Ok(())
        })
    }

    /// D-channel: the frames the daemon wrote since the last call, FCS placeholders removed.
    pub fn dchan_take(&self) -> Vec<Vec<u8>> {
        let mut st = self.shared.lock();
        st.chan_mut(self.channo)
            .map(|c| c.far.frames_out.drain(..).collect())
            .unwrap_or_default()
    }
}
