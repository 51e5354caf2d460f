//! Handler host processes: one supervised process per isolated handler, running its `.so`
//! behind the same host table as in-process handlers, and speaking [`super::wire`] with
//! tipringd over a `SOCK_SEQPACKET` socket pair.
//!
//! **In tipringd** ([`HostProc`]): the host is `tipringd --handler-host FILE` (the daemon's
//! own executable, so there is nothing extra to install), started with its end of the
//! socket as fd 3, its resource limits set, and `PR_SET_PDEATHSIG` so that it dies with
//! tipringd. A reader thread per host turns its datagrams into [`HostNote`]s on a channel
//! the switch drains on its clock; at end of file it reaps the process and reports how it
//! ended, in words. Sends never block the control thread (`MSG_DONTWAIT`): a host that
//! stops reading is killed. Signals go through a pidfd, so a reaped host's recycled pid is
//! never hit.
//!
//! **In the host** ([`host_main`]): load the handler (its `init` runs here, not in
//! tipringd), then serve one message at a time: create instances, deliver events with the
//! switch's view of the call, answer each with the requests the handler queued. Wake
//! tokens from handler threads are forwarded within 5 ms.

use super::host::{CallCtx, WakeBoard, set_op_base};
use super::instance::{Instance, Outcome};
use super::loader::{Handler, LoadOptions, entry, open};
use super::wire::{self, FromHost, MAX_DATAGRAM, ToHost};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tipring_hal::{CallId, ChannelId};

/// The host's end of the socket, in the host.
pub const HOST_FD: RawFd = 3;
/// Messages queued for a host whose socket is full before it counts as not reading.
const MAX_QUEUED: usize = 20_000;

/// Resource limits and time budgets of one handler's hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// An `on_event` slower than this is logged (`handler.slow`).
    pub soft_budget: Duration,
    /// An event unanswered this long kills the host.
    pub hard_budget: Duration,
    /// Resident memory above this kills the host (sampled; the data segment is capped at
    /// twice it as a backstop).
    pub memory_bytes: u64,
    /// CPU seconds over the host's whole life (`RLIMIT_CPU`), if limited.
    pub cpu_seconds: Option<u64>,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            soft_budget: Duration::from_millis(2),
            hard_budget: Duration::from_millis(500),
            memory_bytes: 256 << 20,
            cpu_seconds: None,
            open_files: 256,
        }
    }
}

/// What a host's reader thread reports.
#[derive(Debug)]
pub enum HostNote {
    /// A message.
    Msg(u32, FromHost),
    /// The host ended; why, in words.
    Gone(u32, String),
}

/// Wakes a thread waiting for hosts' reports (the daemon's control loop) as soon as one
/// arrives, so that an answer is acted on at once rather than at the loop's next tick.
#[derive(Debug, Default)]
pub struct Doorbell {
    rung: Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Doorbell {
    /// Rings.
    pub fn ring(&self) {
        if let Ok(mut r) = self.rung.lock() {
            *r = true;
            self.cv.notify_all();
        }
    }

    /// Waits until rung (since the last wait) or `timeout`.
    pub fn wait(&self, timeout: Duration) {
        let Ok(mut r) = self.rung.lock() else {
            return;
        };
        if !*r {
            r = match self.cv.wait_timeout(r, timeout) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
        }
        *r = false;
    }
}

/// Where a host's reader thread reports: a channel, and a bell to ring after each report.
#[derive(Debug, Clone)]
pub struct Notes {
    /// The channel.
    pub tx: mpsc::Sender<HostNote>,
    /// The bell.
    pub bell: Option<Arc<Doorbell>>,
}

impl Notes {
    /// Reports `n`; false if nobody listens any more.
    pub fn send(&self, n: HostNote) -> bool {
        let ok = self.tx.send(n).is_ok();
        if let Some(b) = &self.bell {
            b.ring();
        }
        ok
    }
}

impl From<mpsc::Sender<HostNote>> for Notes {
    fn from(tx: mpsc::Sender<HostNote>) -> Self {
        Notes { tx, bell: None }
    }
}

/// A running host, as tipringd sees it.
#[derive(Debug)]
pub struct HostProc {
    /// Its number (unique in this tipringd; its operation ids start at `id << 40`).
    pub id: u32,
    /// The handler's name.
    pub handler: String,
    /// Its process id.
    pub pid: u32,
    /// When it started.
    pub started: Instant,
    /// Calls whose instance it holds.
    pub calls: std::sync::atomic::AtomicUsize,
    /// When its handler's `init` had finished (it said `Ready`).
    pub ready_at: std::sync::OnceLock<Instant>,
    sock: OwnedFd,
    /// Messages the socket had no room for, sent in order before any new one.
    outq: Mutex<std::collections::VecDeque<Vec<u8>>>,
    pidfd: Option<OwnedFd>,
    exited: Arc<AtomicBool>,
    why: Arc<Mutex<Option<String>>>,
}

fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: a two-int array for socketpair to fill.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh descriptors we now own.
    let pair = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Room for a burst of events to a host that is busy for a moment (the default, 208
    // KiB, is a few hundred small datagrams): beyond the system's maximum only with
    // CAP_NET_ADMIN (FORCE), else as much as it allows.
    let want: libc::c_int = 4 << 20;
    for fd in [pair.0.as_raw_fd(), pair.1.as_raw_fd()] {
        for opt in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
            // SAFETY: setsockopt with an int on our socket.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&raw const want).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
    }
    Ok(pair)
}

fn set_rlimit(what: libc::__rlimit_resource_t, v: u64) -> io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: v,
        rlim_max: v,
    };
    // SAFETY: setrlimit with a valid struct; async-signal-safe (it runs after fork).
    if unsafe { libc::setrlimit(what, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram into `buf` (blocking unless `flags` says otherwise); `Ok(0)` is
/// end of file.
fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: `buf` is readable for its length.
        let n = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                flags | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// How a process ended, in an operator's words.
pub fn describe_exit(st: std::process::ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(0), _) => "exited".into(),
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => {
            let name = match sig {
                libc::SIGSEGV => "SIGSEGV (segmentation fault)",
                libc::SIGABRT => "SIGABRT (aborted)",
                libc::SIGBUS => "SIGBUS (bus error)",
                libc::SIGFPE => "SIGFPE (arithmetic fault)",
                libc::SIGILL => "SIGILL (illegal instruction)",
                libc::SIGKILL => "SIGKILL",
                libc::SIGXCPU => "SIGXCPU (CPU time limit)",
                libc::SIGTERM => "SIGTERM",
                _ => "",
            };
            if name.is_empty() {
                format!("killed by signal {sig}")
            } else {
                format!("killed by {name}")
            }
        }
        (None, None) => "ended".into(),
    }
}

/// Starts `cmd` from one long-lived thread. `PR_SET_PDEATHSIG` fires when the *thread*
/// that forked the child exits, not the process: a host forked from a short-lived thread
/// (tokio's blocking pool, where reloads run) would be killed when that thread retires.
fn spawn_from_spawner(cmd: Command) -> io::Result<std::process::Child> {
    type Job = (Command, mpsc::Sender<io::Result<std::process::Child>>);
    static SPAWNER: std::sync::OnceLock<Mutex<mpsc::Sender<Job>>> = std::sync::OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("host-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            tracing::error!("cannot start the handler-host spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .map_err(|_| io::Error::other("the spawner is poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}

/// Waits until `sock` is readable or the process behind `pidfd` has ended; false when it
/// has ended (its socket may stay open in a grandchild that inherited it).
fn wait_readable(sock: RawFd, pidfd: Option<RawFd>) -> bool {
    let Some(pfd) = pidfd else {
        return true; // recv blocks; EOF tells
    };
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pfd,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return true;
        }
        if fds[0].revents != 0 {
            return true;
        }
        if fds[1].revents != 0 {
            return false;
        }
    }
}

impl HostProc {
    /// Starts a host for the handler in `file` (named `handler` for log lines), sends it
    /// `init`, and starts its reader thread, which reports on `notes`.
    ///
    /// # Errors
    /// The socket, the process or the thread could not be made.
    pub fn spawn(
        program: &Path,
        file: &Path,
        handler: &str,
        id: u32,
        limits: &Limits,
        init: &ToHost,
        notes: impl Into<Notes>,
    ) -> io::Result<Arc<HostProc>> {
        let notes: Notes = notes.into();
        let (mine, theirs) = socket_pair()?;
        let child_fd = theirs.as_raw_fd();
        let data = limits.memory_bytes.saturating_mul(2);
        let cpu = limits.cpu_seconds;
        let files = limits.open_files;
        let mut cmd = Command::new(program);
        cmd.arg("--handler-host")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: the closure only makes async-signal-safe system calls (dup2, fcntl,
        // prctl, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if child_fd == HOST_FD {
                    // dup2 onto itself would keep close-on-exec.
                    if libc::fcntl(HOST_FD, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(child_fd, HOST_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                set_rlimit(libc::RLIMIT_DATA, data)?;
                set_rlimit(libc::RLIMIT_NOFILE, files)?;
                set_rlimit(libc::RLIMIT_CORE, 0)?;
                if let Some(s) = cpu {
                    set_rlimit(libc::RLIMIT_CPU, s)?;
                }
                Ok(())
            });
        }
        let mut child = spawn_from_spawner(cmd)?;
        drop(theirs);
        let pid = child.id();
        // SAFETY: pidfd_open on our own unreaped child.
        let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0) };
        let pidfd = (pfd >= 0).then(|| {
            // SAFETY: a fresh descriptor we now own.
            unsafe { OwnedFd::from_raw_fd(pfd as RawFd) }
        });
        let host = Arc::new(HostProc {
            id,
            handler: handler.to_string(),
            pid,
            started: Instant::now(),
            calls: std::sync::atomic::AtomicUsize::new(0),
            ready_at: std::sync::OnceLock::new(),
            sock: mine,
            outq: Mutex::new(std::collections::VecDeque::new()),
            pidfd,
            exited: Arc::new(AtomicBool::new(false)),
            why: Arc::new(Mutex::new(None)),
        });
        if let Err(e) = host.send(init) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(e));
        }
        let reader = match host.sock.try_clone() {
            Ok(r) => r,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let exited = Arc::clone(&host.exited);
        let why = Arc::clone(&host.why);
        let name = handler.to_string();
        let killer = Arc::clone(&host);
        let pidfd = host.pidfd.as_ref().map(AsRawFd::as_raw_fd);
        let spawned = std::thread::Builder::new()
            .name(format!("host-{id}"))
            .spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM + 1];
                loop {
                    if !wait_readable(reader.as_raw_fd(), pidfd) {
                        // Ended; what it managed to send is still read below.
                        while let Ok(n) = recv(reader.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
                            if n == 0 {
                                break;
                            }
                            if let Ok(m) = wire::decode(&buf[..n]) {
                                notes.send(HostNote::Msg(id, m));
                            }
                        }
                        break;
                    }
                    match recv(reader.as_raw_fd(), &mut buf, 0) {
                        Ok(0) => break,
                        Ok(n) => match wire::decode(&buf[..n]) {
                            Ok(m) => {
                                if !notes.send(HostNote::Msg(id, m)) {
                                    break;
                                }
                            }
                            Err(e) => killer.kill(format!("it sent {e}")),
                        },
                        Err(e) => {
                            killer.kill(format!("its socket failed: {e}"));
                            break;
                        }
                    }
                }
                drop(killer);
                let how = match child.wait() {
                    Ok(st) => describe_exit(st),
                    Err(e) => format!("could not be reaped: {e}"),
                };
                exited.store(true, Ordering::SeqCst);
                let text = match why.lock().map(|w| w.clone()) {
                    Ok(Some(w)) => format!("{w} ({how})"),
                    _ => how,
                };
                tracing::debug!(handler = %name, host = id, "handler host ended: {text}");
                notes.send(HostNote::Gone(id, text));
            });
        if let Err(e) = spawned {
            host.kill("its reader thread could not start".into());
            return Err(e);
        }
        Ok(host)
    }

    /// Sends a message without ever blocking.
    ///
    /// # Errors
    /// The host is gone, or not reading (its socket is full): in words.
    pub fn send(&self, msg: &ToHost) -> Result<(), String> {
        let buf = wire::encode(msg).map_err(|e| e.to_string())?;
        let mut q = self
            .outq
            .lock()
            .map_err(|_| "its queue is poisoned".to_string())?;
        if q.is_empty() {
            match send(self.sock.as_raw_fd(), &buf, libc::MSG_DONTWAIT) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("its socket failed: {e}")),
            }
        }
        // A host busy for a moment (within its budget) catches up; one that stops reading
        // for good is killed by the budget or, at worst, here.
        if q.len() >= MAX_QUEUED {
            return Err(format!(
                "it stopped reading its socket ({MAX_QUEUED} messages waiting)"
            ));
        }
        q.push_back(buf);
        Ok(())
    }

    /// Sends what waited for room in the socket.
    ///
    /// # Errors
    /// The socket failed.
    pub fn flush(&self) -> Result<(), String> {
        let Ok(mut q) = self.outq.lock() else {
            return Ok(());
        };
        while let Some(buf) = q.front() {
            match send(self.sock.as_raw_fd(), buf, libc::MSG_DONTWAIT) {
                Ok(()) => {
                    q.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(format!("its socket failed: {e}")),
            }
        }
        Ok(())
    }

    /// Kills the host (SIGKILL) for `why`, which its end report will carry (the first
    /// reason given wins).
    pub fn kill(&self, why: String) {
        if let Ok(mut w) = self.why.lock()
            && w.is_none()
        {
            *w = Some(why);
        }
        if self.exited.load(Ordering::SeqCst) {
            return;
        }
        match &self.pidfd {
            Some(p) => {
                // SAFETY: pidfd_send_signal on our pidfd, no siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        p.as_raw_fd(),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
            }
            None => {
                // SAFETY: kill on our child's pid, which is not reaped yet (`exited`).
                unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }

    /// Whether it has ended.
    pub fn exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }

    /// Its resident memory, bytes (from `/proc`).
    pub fn resident(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/statm", self.pid)).ok()?;
        let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        Some(pages * page)
    }
}

/// What a probe found.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The handler's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its ABI.
    pub abi: (u16, u16),
    /// The init config it was given.
    pub config: String,
    /// How it is to be loaded.
    pub options: LoadOptions,
}

/// Test-loads `file` in a throwaway host: the entry symbol, the ABI version and `init`
/// (with the config `choose` gives for the handler's name) must all succeed before the
/// handler takes a call.
///
/// # Errors
/// Why the handler cannot be used, in one line.
pub fn probe(
    program: &Path,
    file: &Path,
    id: u32,
    choose: impl Fn(&str) -> (String, LoadOptions),
) -> Result<Probed, String> {
    let (tx, rx) = mpsc::channel();
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("handler");
    // Generous limits: the handler's own (its memory, its files) are not known before it
    // says who it is, and its real host gets those.
    let limits = Limits {
        memory_bytes: 8 << 30,
        open_files: 4096,
        ..Limits::default()
    };
    let host = HostProc::spawn(program, file, stem, id, &limits, &ToHost::Identify, tx)
        .map_err(|e| format!("cannot start a handler host ({}): {e}", program.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut chosen: Option<Probed> = None;
    let answer = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(HostNote::Msg(_, FromHost::Identity { name, version, abi })) => {
                if chosen.is_some() {
                    break Err("the probe host identified itself twice".into());
                }
                let (config, options) = choose(&name);
                let init = ToHost::Init {
                    config: config.clone(),
                    op_base: u64::from(id) << 40,
                    soft_budget_us: options.limits.soft_budget.as_micros() as u64,
                };
                if let Err(e) = host.send(&init) {
                    break Err(format!("the probe host {e}"));
                }
                chosen = Some(Probed {
                    name,
                    version,
                    abi,
                    config,
                    options,
                });
            }
            Ok(HostNote::Msg(_, FromHost::Ready { .. })) => match chosen.take() {
                Some(p) => break Ok(p),
                None => break Err("the probe host answered out of turn".into()),
            },
            Ok(HostNote::Msg(_, FromHost::InitFailed { reason })) => break Err(reason),
            Ok(HostNote::Msg(_, other)) => {
                host.kill("it spoke out of turn while being probed".into());
                break Err(format!(
                    "it sent {} while being probed (its constructors write to the host's socket?)",
                    match other {
                        FromHost::Done { .. } => "an answer",
                        FromHost::Wake { .. } => "a wake-up",
                        _ => "a message",
                    }
                ));
            }
            Ok(HostNote::Gone(_, how)) => {
                break Err(format!("the probe host {how} while loading it"));
            }
            Err(_) => {
                host.kill("the probe took longer than 10 s".into());
                break Err("loading it took longer than 10 s (its init hangs?)".into());
            }
        }
    };
    let _ = host.send(&ToHost::Shutdown);
    // The probe host ends by itself after Shutdown; make sure of it without waiting long.
    loop {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok(HostNote::Gone(..)) => break,
            Ok(_) => continue,
            Err(_) => {
                host.kill("the probe host did not exit after the probe".into());
                break;
            }
        }
    }
    answer
}

// ---- the host process ------------------------------------------------------------------

fn host_send(fd: RawFd, m: &FromHost) -> bool {
    match wire::encode(m) {
        Ok(b) => send(fd, &b, 0).is_ok(),
        Err(e) => match m {
            // A callback that left more behind than one message holds fails, alone: its
            // call is hung up, the host and its other calls go on.
            FromHost::Done { call, .. } => {
                tracing::error!(
                    call = *call,
                    "handler host: the callback's requests and variables do not fit in one \
                     message ({e}); the call is failed"
                );
                host_send(
                    fd,
                    &FromHost::Done {
                        call: *call,
                        rc: -1,
                        requests: Vec::new(),
                        vars: None,
                        took_us: 0,
                    },
                )
            }
            _ => {
                tracing::error!("handler host: cannot send an answer: {e}");
                false
            }
        },
    }
}

fn poll_in(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(n > 0)
}

/// The handler host's main: serves tipringd on fd [`HOST_FD`] until it closes the socket or
/// says `Shutdown`. Returns the process's exit status.
pub fn host_main(file: &Path) -> i32 {
    // A host ends when tipringd says so (Shutdown, or its end of the socket closing) or
    // dies (PR_SET_PDEATHSIG): not on the SIGTERM systemd sends the whole unit, nor on the
    // SIGINT a terminal sends its process group, while tipringd drains its calls.
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: setting a signal's disposition to SIG_IGN, before any thread starts.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    // SAFETY: reading the socket type of fd 3 into an int.
    let is_socket = unsafe {
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::getsockopt(
            HOST_FD,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        ) == 0
            && ty == libc::SOCK_SEQPACKET
    };
    if !is_socket {
        eprintln!(
            "tipringd --handler-host is started by tipringd itself (fd 3 must be its socket)"
        );
        return 2;
    }
    // Whatever the handler starts must not inherit the socket: a grandchild holding it
    // open would hide this host's end from tipringd.
    // SAFETY: fcntl on our own descriptor.
    unsafe { libc::fcntl(HOST_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    let fd = HOST_FD;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut next = || match recv(fd, &mut buf, 0) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(wire::decode_to_host(&buf[..n])),
    };
    let mut first = next();
    if let Some(Ok(ToHost::Identify)) = first {
        let answer = match entry(file) {
            Ok(e) => FromHost::Identity {
                name: e.name.to_string(),
                version: e.version.to_string(),
                abi: e.abi,
            },
            Err(reason) => FromHost::InitFailed { reason },
        };
        let failed = matches!(answer, FromHost::InitFailed { .. });
        host_send(fd, &answer);
        if failed {
            return 1;
        }
        first = next();
    }
    let Some(first) = first else {
        return 1;
    };
    let (config, soft) = match first {
        Ok(ToHost::Init {
            config,
            op_base,
            soft_budget_us,
        }) => {
            set_op_base(op_base);
            (config, Duration::from_micros(soft_budget_us))
        }
        Ok(other) => {
            tracing::error!("handler host: expected Init first, got {other:?}");
            return 3;
        }
        Err(e) => {
            tracing::error!("handler host: {e}");
            return 3;
        }
    };
    let handler = match open(file, &config) {
        Ok(h) => Arc::new(h),
        Err(reason) => {
            host_send(fd, &FromHost::InitFailed { reason });
            return 1;
        }
    };
    host_send(
        fd,
        &FromHost::Ready {
            name: handler.name.clone(),
            version: handler.version.clone(),
            abi: handler.abi,
        },
    );
    let code = serve(fd, &handler, soft, &mut buf);
    if let Some((vtable, global)) = handler.loaded()
        && let Some(shutdown) = vtable.shutdown
    {
        // SAFETY: the handler's shutdown with its global, once, after every instance.
        unsafe { shutdown(global.0) };
    }
    code
}

fn serve(fd: RawFd, handler: &Arc<Handler>, soft: Duration, buf: &mut [u8]) -> i32 {
    let name: Arc<str> = handler.name.as_str().into();
    let board = WakeBoard::default();
    let mut calls: HashMap<u64, Instance> = HashMap::new();
    loop {
        let timeout = if calls.is_empty() { 1000 } else { 5 };
        match poll_in(fd, timeout) {
            Ok(true) => {
                let msg = match recv(fd, buf, 0) {
                    Ok(0) => return 0,
                    Ok(n) => wire::decode_to_host(&buf[..n]),
                    Err(e) => {
                        tracing::error!(handler = %name, "handler host: socket: {e}");
                        return 1;
                    }
                };
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(handler = %name, "handler host: from tipringd: {e}");
                        return 3;
                    }
                };
                match msg {
                    ToHost::Init { .. } | ToHost::Identify => {
                        tracing::error!(handler = %name, "handler host: a second Init");
                        return 3;
                    }
                    ToHost::Create {
                        call,
                        channel,
                        params,
                    } => {
                        let ctx = CallCtx::new(
                            CallId(call),
                            ChannelId(channel),
                            Arc::clone(&name),
                            Arc::clone(&board),
                        );
                        let t0 = Instant::now();
                        let (rc, requests) =
                            match Instance::create(Arc::clone(handler), ctx, &params) {
                                Ok(inst) => {
                                    let r: Vec<_> =
                                        inst.ctx().requests.borrow_mut().drain(..).collect();
                                    calls.insert(call, inst);
                                    (0, r)
                                }
                                Err((rc, _ctx)) => (rc, Vec::new()),
                            };
                        let ok = host_send(
                            fd,
                            &FromHost::Done {
                                call,
                                rc,
                                requests,
                                vars: None,
                                took_us: t0.elapsed().as_micros() as u64,
                            },
                        );
                        if !ok {
                            return 1;
                        }
                    }
                    ToHost::Event { call, state, ev } => {
                        let Some(inst) = calls.get_mut(&call) else {
                            tracing::warn!(handler = %name, call, "handler host: an event for an unknown call");
                            continue;
                        };
                        let ctx = inst.ctx();
                        ctx.media_busy.set(state.media_busy);
                        ctx.gone.set(state.gone);
                        ctx.timers.set(state.timers as usize);
                        let before: BTreeMap<String, String> = ctx.vars.borrow().clone();
                        let kind = ev.kind;
                        let t0 = Instant::now();
                        let outcome = inst.deliver(&ev);
                        let took = t0.elapsed();
                        let ctx = inst.ctx();
                        if took > soft {
                            tracing::warn!(
                                handler = %name,
                                call,
                                channel = ctx.channel.0,
                                event = kind,
                                "handler.slow: on_event took {:.1} ms (budget {:.1} ms)",
                                took.as_secs_f64() * 1e3,
                                soft.as_secs_f64() * 1e3
                            );
                        }
                        let requests: Vec<_> = ctx.requests.borrow_mut().drain(..).collect();
                        let vars = {
                            let v = ctx.vars.borrow();
                            (*v != before).then(|| v.clone())
                        };
                        let rc = match outcome {
                            Outcome::Ok => 0,
                            Outcome::Failed(rc) => rc,
                        };
                        let ok = host_send(
                            fd,
                            &FromHost::Done {
                                call,
                                rc,
                                requests,
                                vars,
                                took_us: took.as_micros() as u64,
                            },
                        );
                        if !ok {
                            return 1;
                        }
                    }
                    ToHost::Destroy { call } => {
                        if let Some(inst) = calls.remove(&call) {
                            inst.destroy();
                        }
                    }
                    ToHost::Shutdown => {
                        for (_, inst) in calls.drain() {
                            inst.destroy();
                        }
                        return 0;
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(handler = %name, "handler host: poll: {e}");
                return 1;
            }
        }
        // Wake tokens from handler threads.
        let woken = match board.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => Vec::new(),
        };
        for id in woken {
            let Some(inst) = calls.get(&id.0) else {
                continue;
            };
            let tokens: Vec<u64> = match inst.ctx().wakes.lock() {
                Ok(mut w) => w.drain(..).collect(),
                Err(_) => Vec::new(),
            };
            for token in tokens {
                if !host_send(fd, &FromHost::Wake { call: id.0, token }) {
                    return 1;
                }
            }
        }
    }
}

/// The default program for handler hosts: this executable when it is `tipringd`, else
/// `tipringd` beside it (a test binary or the CLI).
pub fn default_program() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("tipringd"));
    if exe.file_name().is_some_and(|n| n == "tipringd") {
        return exe;
    }
    let mut dirs = Vec::new();
    if let Some(d) = exe.parent() {
        dirs.push(d.to_path_buf());
        if let Some(p) = d.parent() {
            dirs.push(p.to_path_buf());
        }
    }
    dirs.into_iter()
        .map(|d| d.join("tipringd"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("tipringd"))
}
