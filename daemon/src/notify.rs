//! systemd readiness and watchdog: `READY=1` once the API listens and the media threads
//! tick; `WATCHDOG=1` only while they keep ticking; `STATUS=` lines; `STOPPING=1` on
//! SIGTERM. Without `$NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

/// Sends `READY=1` and a status line.
pub fn ready(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Sends a status line.
pub fn status(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
}

/// Sends `STOPPING=1`.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Sends `WATCHDOG=1`.
pub fn watchdog() {
    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
}

/// How often to feed the watchdog (half its period), if systemd set one for us.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec / 2))
    } else {
        None
    }
}
