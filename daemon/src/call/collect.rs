//! Digit collection with its termination conditions, enforced by the host (Dialogic style):
//! maximum digits, terminating digits, first-digit, inter-digit and total time limits.

use crate::handler::host::CollectSpec;
use tipring_handler::sys;

/// A running collection. Times are ms of the switch's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    spec: CollectSpec,
    digits: String,
    /// When the timers started (after the prompt, for play-and-collect); `None` while a
    /// prompt still plays.
    armed_at: Option<u64>,
    last_digit: Option<u64>,
    started: u64,
}

/// How a collection ended: a `TIPRING_R_*` result and the digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    /// `TIPRING_R_MAXDIGITS`, `_TERMDIGIT` or `_TIMEOUT`.
    pub result: u32,
    /// The digits (a terminating digit not included).
    pub digits: String,
}

impl Collector {
    /// A collection starting at `now`; timers run from `now` unless `armed` is false (a
    /// prompt plays first: call [`arm`](Self::arm) when it ends).
    pub fn new(spec: CollectSpec, now: u64, armed: bool) -> Self {
        Collector {
            spec,
            digits: String::new(),
            armed_at: armed.then_some(now),
            last_digit: None,
            started: now,
        }
    }

    /// Starts the timers (the prompt ended) if not yet.
    pub fn arm(&mut self, now: u64) {
        self.armed_at.get_or_insert(now);
    }

    /// Whether digits typed ahead should be dropped.
    pub fn flushes(&self) -> bool {
        self.spec.flush
    }

    /// Adds a digit; returns the end if it ends the collection.
    pub fn digit(&mut self, d: char, now: u64) -> Option<Collected> {
        self.last_digit = Some(now);
        if self.spec.term.contains(d) {
            return Some(Collected {
                result: sys::TIPRING_R_TERMDIGIT,
                digits: std::mem::take(&mut self.digits),
            });
        }
        self.digits.push(d);
        (self.digits.len() >= self.spec.max_digits as usize).then(|| Collected {
            result: sys::TIPRING_R_MAXDIGITS,
            digits: std::mem::take(&mut self.digits),
        })
    }

    /// The earliest time a limit expires, if any.
    pub fn deadline(&self) -> Option<u64> {
        let mut d: Option<u64> = None;
        let mut consider = |t: u64| d = Some(d.map_or(t, |x| x.min(t)));
        if self.spec.total_ms > 0 {
            consider(self.started + u64::from(self.spec.total_ms));
        }
        if let Some(armed) = self.armed_at {
            match self.last_digit {
                None if self.spec.first_digit_ms > 0 => {
                    consider(armed + u64::from(self.spec.first_digit_ms));
                }
                Some(last) if self.spec.inter_digit_ms > 0 => {
                    consider(last.max(armed) + u64::from(self.spec.inter_digit_ms));
                }
                _ => {}
            }
        }
        d
    }

    /// Ends the collection on a timeout if a limit has expired at `now`.
    pub fn check(&mut self, now: u64) -> Option<Collected> {
        (self.deadline().is_some_and(|d| now >= d)).then(|| Collected {
            result: sys::TIPRING_R_TIMEOUT,
            digits: std::mem::take(&mut self.digits),
        })
    }

    /// The digits so far.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max: u32, term: &str, first: u32, inter: u32, total: u32) -> CollectSpec {
        CollectSpec {
            max_digits: max,
            term: term.into(),
            first_digit_ms: first,
            inter_digit_ms: inter,
            total_ms: total,
            flush: false,
        }
    }

    #[test]
    fn ends_on_max_term_and_each_timer() {
        let mut c = Collector::new(spec(4, "#", 5000, 3000, 0), 0, true);
        assert_eq!(c.digit('1', 100), None);
        assert_eq!(
            c.digit('#', 200),
            Some(Collected {
                result: sys::TIPRING_R_TERMDIGIT,
                digits: "1".into()
            })
        );
        let mut c = Collector::new(spec(2, "#", 5000, 3000, 0), 0, true);
        c.digit('1', 10);
        assert_eq!(c.digit('2', 20).unwrap().result, sys::TIPRING_R_MAXDIGITS);
        // First digit: 5 s from arming; a prompt delays arming.
        let mut c = Collector::new(spec(4, "", 5000, 3000, 0), 0, false);
        assert_eq!(c.deadline(), None);
        c.arm(2000);
        assert_eq!(c.deadline(), Some(7000));
        assert!(c.check(6999).is_none());
        assert_eq!(c.check(7000).unwrap().result, sys::TIPRING_R_TIMEOUT);
        // Inter-digit: 3 s after the last digit; the digits so far are returned.
        let mut c = Collector::new(spec(4, "", 5000, 3000, 0), 0, true);
        c.digit('7', 1000);
        assert_eq!(c.deadline(), Some(4000));
        let end = c.check(4000).unwrap();
        assert_eq!(
            (end.result, end.digits.as_str()),
            (sys::TIPRING_R_TIMEOUT, "7")
        );
        // Total: from the start, even while digits keep coming.
        let mut c = Collector::new(spec(9, "", 0, 3000, 2500), 0, true);
        c.digit('1', 2000);
        assert_eq!(c.deadline(), Some(2500));
    }
}
