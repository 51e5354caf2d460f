//! Supervising isolated handlers: one live host per handler, restarted with back-off when
//! it dies, disabled (with the reason) when it keeps dying; memory sampled and the hard
//! time budget enforced by the switch's clock.

use super::loader::Handler;
use super::process::{Doorbell, HostNote, HostProc, Limits, Notes};
use super::wire::ToHost;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Deaths within [`CRASH_WINDOW`] that disable a handler.
pub const CRASH_LIMIT: usize = 5;
/// The window [`CRASH_LIMIT`] counts in.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// The first restart's delay; doubled for each death in the window, at most
/// [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest restart delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a host's `init` may take (the hard budget counts from its end).
pub const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How often hosts' memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How a process-mode handler is run.
#[derive(Debug, Clone)]
pub struct Isolated {
    /// The handler's init config (JSON).
    pub config: String,
    /// Its limits.
    pub limits: Limits,
    /// The host program (`tipringd`).
    pub program: PathBuf,
}

/// A handler's supervision state, for the API and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostStatus {
    /// `running`, `starting`, `restarting` or `disabled`.
    pub state: &'static str,
    /// The live host's process id.
    pub pid: Option<u32>,
    /// Hosts started after the first.
    pub restarts: u64,
    /// How the last host ended.
    pub last_exit: Option<String>,
    /// Why the handler is disabled.
    pub disabled: Option<String>,
}

#[derive(Debug)]
struct Slot {
    handler: Arc<Handler>,
    spec: Isolated,
    host: Option<Arc<HostProc>>,
    ready: bool,
    deaths: VecDeque<Instant>,
    restart_at: Option<Instant>,
    disabled: Option<String>,
    restarts: u64,
    last_exit: Option<String>,
    sampled: Instant,
}

/// Every isolated handler's host.
#[derive(Debug)]
pub struct Hosts {
    slots: BTreeMap<String, Slot>,
    by_id: HashMap<u32, String>,
    /// Hosts of replaced versions, finishing their calls.
    /// (host, version, when it was told to shut down).
    retired: Vec<(Arc<HostProc>, String, Option<Instant>)>,
    retired_sampled: Instant,
    tx: Notes,
    rx: mpsc::Receiver<HostNote>,
    next_id: u32,
}

impl Default for Hosts {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Hosts {
            slots: BTreeMap::new(),
            by_id: HashMap::new(),
            retired: Vec::new(),
            retired_sampled: Instant::now(),
            tx: Notes {
                tx,
                bell: Some(Arc::new(Doorbell::default())),
            },
            rx,
            // 0 is the in-process handlers' op range.
            next_id: 1,
        }
    }
}

impl Hosts {
    /// Supervises `handler` (process mode) and starts its first host.
    pub fn add(&mut self, handler: Arc<Handler>, spec: Isolated) {
        let name = handler.name.clone();
        let mut slot = Slot {
            handler,
            spec,
            host: None,
            ready: false,
            deaths: VecDeque::new(),
            restart_at: None,
            disabled: None,
            restarts: 0,
            last_exit: None,
            sampled: Instant::now(),
        };
        self.start(&mut slot);
        self.slots.insert(name, slot);
    }

    /// The bell rung whenever a host reports.
    pub fn doorbell(&self) -> Arc<Doorbell> {
        self.tx.bell.clone().unwrap_or_default()
    }

    /// A new version of a handler (or a new handler): new calls go to a new host; the old
    /// host keeps its calls until they end, then is asked to finish.
    pub fn upgrade(&mut self, handler: Arc<Handler>, spec: Isolated) {
        let Some(mut s) = self.slots.remove(&handler.name) else {
            self.add(handler, spec);
            return;
        };
        if let Some(old) = s.host.take() {
            tracing::info!(
                handler = %handler.name,
                from = %s.handler.version,
                to = %handler.version,
                pid = old.pid,
                calls = old.calls.load(std::sync::atomic::Ordering::Relaxed),
                "new calls go to the new version; the old host finishes its calls"
            );
            self.retired.push((old, s.handler.version.clone(), None));
        }
        s.handler = handler;
        s.spec = spec;
        s.deaths.clear();
        s.disabled = None;
        s.restart_at = None;
        s.last_exit = None;
        self.start(&mut s);
        self.slots.insert(s.handler.name.clone(), s);
    }

    /// A handler now in process (a reload changed its isolation): its host retires.
    pub fn remove(&mut self, handler: &str) {
        if let Some(mut s) = self.slots.remove(handler)
            && let Some(old) = s.host.take()
        {
            self.retired.push((old, s.handler.version.clone(), None));
        }
    }

    /// Hosts of replaced versions still finishing calls: (handler, version, pid, calls).
    pub fn retired(&self) -> Vec<(String, String, u32, usize)> {
        self.retired
            .iter()
            .map(|(h, v, _)| {
                (
                    h.handler.clone(),
                    v.clone(),
                    h.pid,
                    h.calls.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// A new host number.
    pub fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn start(&mut self, slot: &mut Slot) {
        let id = self.next_id();
        let init = ToHost::Init {
            config: slot.spec.config.clone(),
            op_base: u64::from(id) << 40,
            soft_budget_us: slot.spec.limits.soft_budget.as_micros() as u64,
        };
        match HostProc::spawn(
            &slot.spec.program,
            &slot.handler.path,
            &slot.handler.name,
            id,
            &slot.spec.limits,
            &init,
            self.tx.clone(),
        ) {
            Ok(h) => {
                tracing::info!(
                    handler = %slot.handler.name,
                    version = %slot.handler.version,
                    pid = h.pid,
                    "handler host started"
                );
                self.by_id.insert(id, slot.handler.name.clone());
                slot.host = Some(h);
                slot.ready = false;
            }
            Err(e) => {
                let why = format!("cannot start its host: {e}");
                tracing::error!(handler = %slot.handler.name, "{why}");
                Self::death(slot, why, Instant::now());
            }
        }
    }

    /// Records a death; schedules the restart or disables.
    fn death(slot: &mut Slot, why: String, now: Instant) {
        slot.host = None;
        slot.ready = false;
        slot.deaths.push_back(now);
        while slot
            .deaths
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            slot.deaths.pop_front();
        }
        slot.last_exit = Some(why.clone());
        let n = slot.deaths.len();
        if n >= CRASH_LIMIT {
            let reason = format!(
                "its host died {n} times in {} s; the last {why}",
                CRASH_WINDOW.as_secs()
            );
            tracing::error!(handler = %slot.handler.name, "handler disabled: {reason}");
            slot.disabled = Some(reason);
            slot.restart_at = None;
        } else {
            let delay = FIRST_BACKOFF
                .saturating_mul(1 << (n.saturating_sub(1)).min(16))
                .min(MAX_BACKOFF);
            tracing::warn!(
                handler = %slot.handler.name,
                "handler host {why}; restarting in {} ms",
                delay.as_millis()
            );
            slot.restart_at = Some(now + delay);
        }
    }

    /// The live host for `handler`, or why there is none.
    ///
    /// # Errors
    /// The handler is disabled, restarting, or not isolated.
    pub fn host(&self, handler: &str) -> Result<Arc<HostProc>, String> {
        let Some(s) = self.slots.get(handler) else {
            return Err(format!("{handler} is not an isolated handler"));
        };
        if let Some(d) = &s.disabled {
            return Err(format!("{handler} is disabled: {d}"));
        }
        match &s.host {
            Some(h) if !h.exited() => Ok(Arc::clone(h)),
            _ => Err(format!("{handler}'s host is restarting")),
        }
    }

    /// Whether `handler` is supervised here.
    pub fn isolated(&self, handler: &str) -> bool {
        self.slots.contains_key(handler)
    }

    /// The next report of any host.
    pub fn poll(&mut self) -> Option<HostNote> {
        self.rx.try_recv().ok()
    }

    /// A host said it is ready. A retired host (replaced while it started) is marked too:
    /// the time budgets of the calls it still holds count from then.
    pub fn ready(&mut self, id: u32) {
        let Some(h) = self.find(id) else {
            return;
        };
        let _ = h.ready_at.set(Instant::now());
        if let Some(s) = self.by_id.get(&id).and_then(|n| self.slots.get_mut(n))
            && s.host.as_ref().is_some_and(|h| h.id == id)
        {
            s.ready = true;
        }
    }

    /// Host `id` ended (`why`); returns its handler's name. Its calls are the caller's to
    /// end.
    pub fn gone(&mut self, id: u32, why: &str) -> Option<String> {
        let name = self.by_id.remove(&id)?;
        if let Some(s) = self.slots.get_mut(&name)
            && s.host.as_ref().is_some_and(|h| h.id == id)
        {
            Self::death(s, why.to_string(), Instant::now());
        }
        // A retired host (an old version, or a handler now in process) counts no death,
        // but its calls are the caller's to end all the same.
        Some(name)
    }

    /// Host `id`, live or retired.
    fn find(&self, id: u32) -> Option<&Arc<HostProc>> {
        self.slots
            .values()
            .filter_map(|s| s.host.as_ref())
            .chain(self.retired.iter().map(|(h, _, _)| h))
            .find(|h| h.id == id)
    }

    /// Kills host `id` for `why`.
    pub fn kill(&self, id: u32, why: String) {
        if let Some(h) = self.find(id) {
            tracing::error!(handler = %h.handler, pid = h.pid, "killing the handler host: {why}");
            h.kill(why);
        }
    }

    /// Restarts hosts whose back-off is over; kills hosts over their memory limit; tells
    /// retired hosts without calls to finish.
    pub fn tick(&mut self) {
        let now = Instant::now();
        for h in self
            .slots
            .values()
            .filter_map(|s| s.host.as_ref())
            .chain(self.retired.iter().map(|(h, _, _)| h))
        {
            if let Err(e) = h.flush() {
                h.kill(e);
            }
        }
        let limits: HashMap<String, u64> = self
            .slots
            .iter()
            .map(|(n, s)| (n.clone(), s.spec.limits.memory_bytes))
            .collect();
        let sample = now.duration_since(self.retired_sampled) >= SAMPLE_EVERY;
        if sample {
            self.retired_sampled = now;
        }
        self.retired.retain_mut(|(h, _, told)| {
            if h.exited() {
                return false;
            }
            if let Some(at) = *told {
                // Told to finish; one that does not within a few seconds is made to.
                if now.duration_since(at) > Duration::from_secs(5) {
                    h.kill("it did not exit 5 s after its shutdown".into());
                }
                return true;
            }
            if h.calls.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                tracing::info!(handler = %h.handler, pid = h.pid, "the old version's host finished its calls");
                if h.send(&ToHost::Shutdown).is_err() {
                    h.kill("it did not take its shutdown".into());
                }
                *told = Some(now);
                return true;
            }
            if sample
                && let Some(limit) = limits.get(&h.handler)
                && let Some(rss) = h.resident()
                && rss > *limit
            {
                h.kill(format!(
                    "it used {} MiB of memory (limit {} MiB)",
                    rss >> 20,
                    limit >> 20
                ));
            }
            true
        });
        let due: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.restart_at.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for n in due {
            if let Some(mut s) = self.slots.remove(&n) {
                s.restart_at = None;
                s.restarts += 1;
                self.start(&mut s);
                self.slots.insert(n, s);
            }
        }
        // Retired hosts too: one replaced while its init ran still holds calls.
        let hosts = self
            .slots
            .values()
            .filter_map(|s| s.host.as_ref())
            .chain(self.retired.iter().map(|(h, _, _)| h));
        for h in hosts {
            if h.ready_at.get().is_none()
                && !h.exited()
                && now.duration_since(h.started) > INIT_LIMIT
            {
                tracing::error!(handler = %h.handler, pid = h.pid, "killing the handler host: its init did not finish");
                h.kill(format!(
                    "its init took longer than {} s",
                    INIT_LIMIT.as_secs()
                ));
            }
        }
        for s in self.slots.values_mut() {
            if now.duration_since(s.sampled) < SAMPLE_EVERY {
                continue;
            }
            s.sampled = now;
            if let Some(h) = &s.host
                && let Some(rss) = h.resident()
                && rss > s.spec.limits.memory_bytes
            {
                let why = format!(
                    "it used {} MiB of memory (limit {} MiB)",
                    rss >> 20,
                    s.spec.limits.memory_bytes >> 20
                );
                tracing::error!(handler = %h.handler, pid = h.pid, "killing the handler host: {why}");
                h.kill(why);
            }
        }
    }

    /// The hard budget of `handler`.
    pub fn hard_budget(&self, handler: &str) -> Duration {
        self.slots
            .get(handler)
            .map_or(Limits::default().hard_budget, |s| s.spec.limits.hard_budget)
    }

    /// Each isolated handler's state.
    pub fn status(&self) -> BTreeMap<String, HostStatus> {
        self.slots
            .iter()
            .map(|(n, s)| {
                let state = if s.disabled.is_some() {
                    "disabled"
                } else if s.restart_at.is_some() {
                    "restarting"
                } else if s.ready {
                    "running"
                } else {
                    "starting"
                };
                (
                    n.clone(),
                    HostStatus {
                        state,
                        pid: s.host.as_ref().filter(|h| !h.exited()).map(|h| h.pid),
                        restarts: s.restarts,
                        last_exit: s.last_exit.clone(),
                        disabled: s.disabled.clone(),
                    },
                )
            })
            .collect()
    }

    /// Re-enables a disabled handler (its next host starts at once).
    pub fn enable(&mut self, handler: &str) -> bool {
        let Some(mut s) = self.slots.remove(handler) else {
            return false;
        };
        let was = s.disabled.take().is_some();
        if was {
            s.deaths.clear();
            self.start(&mut s);
        }
        self.slots.insert(handler.to_string(), s);
        was
    }

    /// Asks every host to finish (tipringd is stopping).
    pub fn shutdown(&mut self) {
        for s in self.slots.values() {
            if let Some(h) = &s.host {
                let _ = h.send(&ToHost::Shutdown);
            }
        }
        for (h, _, _) in &self.retired {
            let _ = h.send(&ToHost::Shutdown);
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.shutdown();
    }
}
