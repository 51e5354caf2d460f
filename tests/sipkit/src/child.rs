//! A child process that is killed (and reaped) when its owner drops it.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Owns a [`Child`]; on drop, kills it with SIGKILL if it is still running and waits for it.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    child: Child,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    pub(crate) fn new(child: Child) -> Self {
        Self {
            child,
            status: None,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has ended.
    pub(crate) fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for the exit until `deadline`; `None` when still running then.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    /// Sends a signal (ignored if the child has ended).
    pub(crate) fn signal(&mut self, sig: nix::sys::signal::Signal) {
        if self.try_status().is_none()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// Kills the child (SIGKILL) if it is running, and reaps it.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
