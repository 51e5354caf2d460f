//! The tick of boards without a device clock: a timerfd on the real clock, or a virtual
//! clock that never waits.

use crate::audio::FramePeriod;
use crate::error::HalError;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::time::Duration;

/// How a board's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Frames are due every period of the real (monotonic) clock: the daemon.
    #[default]
    Realtime,
    /// Frames are due at once: the caller drives time (tests run minutes of calls in
    /// milliseconds).
    Virtual,
}

/// A periodic tick.
#[derive(Debug)]
pub struct Ticker {
    timer: Option<TimerFd>,
    ticks: u64,
}

impl Ticker {
    /// A ticker for `period` frames.
    ///
    /// # Errors
    /// The timerfd could not be created or armed.
    pub fn new(period: FramePeriod, pacing: Pacing) -> Result<Self, HalError> {
        let timer = match pacing {
            Pacing::Virtual => None,
            Pacing::Realtime => {
                let os = |what| move |errno| HalError::Os { what, errno };
                let t = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_CLOEXEC)
                    .map_err(os("timerfd create"))?;
                let p = TimeSpec::from_duration(Duration::from_millis(u64::from(period.ms())));
                t.set(Expiration::Interval(p), TimerSetTimeFlags::empty())
                    .map_err(os("timerfd arm"))?;
                Some(t)
            }
        };
        Ok(Ticker { timer, ticks: 0 })
    }

    /// Waits for the next tick; returns the periods elapsed since the last one (1 on time).
    ///
    /// # Errors
    /// Reading the timerfd failed.
    pub fn wait(&mut self) -> Result<u64, HalError> {
        let n = match &self.timer {
            None => 1,
            Some(t) => {
                let mut buf = [0u8; 8];
                loop {
                    match nix::unistd::read(t, &mut buf) {
                        Ok(8) => break u64::from_ne_bytes(buf).max(1),
                        Ok(_) => {
                            return Err(HalError::Os {
                                what: "timerfd read",
                                errno: nix::errno::Errno::EIO,
                            });
                        }
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(errno) => {
                            return Err(HalError::Os {
                                what: "timerfd read",
                                errno,
                            });
                        }
                    }
                }
            }
        };
        self.ticks += n;
        Ok(n)
    }

    /// Periods elapsed since construction.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }
}
