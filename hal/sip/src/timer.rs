//! RFC 4028 session timers: the interval both sides agree on, who refreshes, and when a
//! session nobody refreshed is over.
//!
//! **How it works.** Every 2xx to an INVITE or UPDATE (the first one and every refresh)
//! renegotiates the timer: the request proposes `Session-Expires` (and may name the
//! `refresher`), the answerer may shorten the interval down to the request's `Min-SE`, and
//! refuses one below its own minimum with 422 carrying `Min-SE` (§9); the 2xx states the
//! result. The refresher refreshes at half the interval (§10); the other side gives up, with
//! a BYE, when the interval less `min(32, interval/3)` seconds passes without a refresh.
//!
//! These functions only decide; the user agent core ([`crate::ua`]) keeps the timers.

use crate::hdr::{self, SessionExpires};

/// RFC 4028's floor for any session interval, s (§4: `Min-SE` is never below 90).
pub const FLOOR: u32 = 90;

/// A session timer in force on a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval, s.
    pub interval: u32,
    /// True when this side sends the refreshes.
    pub we_refresh: bool,
}

impl SessionTimer {
    /// How long after a refresh the refresher sends the next one, ms: half the interval.
    pub fn refresh_after_ms(&self) -> u64 {
        u64::from(self.interval) * 500
    }

    /// How long after a refresh the session is over without another, ms: the interval less
    /// `min(32, interval/3)` seconds (§10).
    pub fn expire_after_ms(&self) -> u64 {
        let i = u64::from(self.interval);
        (i - (i / 3).min(32)) * 1000
    }
}

/// Our side's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The interval we ask for, and the longest we accept, s.
    pub session_expires: u32,
    /// The shortest interval we accept, s (raised to [`FLOOR`]).
    pub min_se: u32,
}

impl Policy {
    /// Our `Min-SE`, never below [`FLOOR`].
    pub fn min(&self) -> u32 {
        self.min_se.max(FLOOR)
    }

    /// The interval we propose, at least our minimum.
    pub fn proposal(&self) -> u32 {
        self.session_expires.max(self.min())
    }
}

/// What the answerer of an INVITE or UPDATE does about the session timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasDecision {
    /// No session timer on this dialog (from now on).
    Off,
    /// The proposed interval is below our minimum: answer 422 with `Min-SE: min_se`.
    TooSmall {
        /// Our minimum.
        min_se: u32,
    },
    /// A timer: the 2xx carries [`UasDecision::headers`].
    On {
        /// The timer as it applies to us.
        timer: SessionTimer,
        /// The requester supports timers: the 2xx carries `Require: timer`.
        require: bool,
    },
}

impl UasDecision {
    /// The header fields the 2xx carries (`Session-Expires`, and `Require` when the
    /// requester supports timers).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            UasDecision::On { timer, require } => {
                // `refresher` is named from the request's point of view: we answer (uas).
                let who = if timer.we_refresh { "uas" } else { "uac" };
                let mut h = vec![(
                    "Session-Expires",
                    format!("{};refresher={who}", timer.interval),
                )];
                if *require {
                    h.push(("Require", "timer".into()));
                }
                h
            }
            UasDecision::Off | UasDecision::TooSmall { .. } => Vec::new(),
        }
    }

    /// The timer this decision puts in force.
    pub fn timer(&self) -> Option<SessionTimer> {
        match self {
            UasDecision::On { timer, .. } => Some(*timer),
            UasDecision::Off | UasDecision::TooSmall { .. } => None,
        }
    }
}

/// Decides on a received INVITE or UPDATE (RFC 4028 §9) from its `Session-Expires` and
/// `Min-SE` values and whether the requester supports `timer`. On the dialog's first
/// INVITE (`initial`), a requester that supports timers but proposes none gets ours, with
/// itself as refresher; a refresh without `Session-Expires` turns the timer off.
pub fn uas(
    policy: &Policy,
    session_expires: Option<&str>,
    min_se: Option<&str>,
    supported: bool,
    initial: bool,
) -> UasDecision {
    let requested_min = min_se.and_then(hdr::seconds).unwrap_or(FLOOR);
    match session_expires.and_then(SessionExpires::parse) {
        Some(se) => {
            if se.seconds < policy.min() {
                return UasDecision::TooSmall {
                    min_se: policy.min(),
                };
            }
            // We may shorten the interval, never below what either side asked as minimum.
            let interval = se
                .seconds
                .min(policy.proposal())
                .max(requested_min)
                .max(policy.min());
            // Unnamed refresher: the requester when it supports timers, else us (§9).
            let requester_refreshes = se.refresher_uac.unwrap_or(supported);
            UasDecision::On {
                timer: SessionTimer {
                    interval,
                    we_refresh: !requester_refreshes,
                },
                require: supported,
            }
        }
        None if initial && supported => UasDecision::On {
            timer: SessionTimer {
                interval: policy.proposal().max(requested_min),
                we_refresh: false,
            },
            require: true,
        },
        None => UasDecision::Off,
    }
}

/// The timer a 2xx to our INVITE or UPDATE puts in force (§7.2): none when it carries no
/// `Session-Expires`; we refresh unless it names the answerer (`refresher=uas`).
pub fn uac(session_expires: Option<&str>) -> Option<SessionTimer> {
    let se = SessionExpires::parse(session_expires?)?;
    (se.seconds > 0).then_some(SessionTimer {
        interval: se.seconds.max(FLOOR),
        we_refresh: se.refresher_uac.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        session_expires: 1800,
        min_se: 90,
    };

    #[test]
    fn uas_honours_the_request_rfc4028_9() {
        let d = uas(&P, Some("600;refresher=uac"), None, true, true);
        assert_eq!(
            d,
            UasDecision::On {
                timer: SessionTimer {
                    interval: 600,
                    we_refresh: false
                },
                require: true
            }
        );
        assert_eq!(
            d.headers(),
            [
                ("Session-Expires", "600;refresher=uac".to_string()),
                ("Require", "timer".to_string())
            ]
        );
        // No refresher named and no support for timers: we refresh, and require nothing.
        let d = uas(&P, Some("3600"), None, false, true);
        assert_eq!(
            d.timer(),
            Some(SessionTimer {
                interval: 1800,
                we_refresh: true
            })
        );
        assert_eq!(d.headers().len(), 1);
        assert_eq!(d.headers()[0].1, "1800;refresher=uas");
        // Shortened, but never below the requester's Min-SE.
        let d = uas(&P, Some("7200"), Some("2000"), true, false);
        assert_eq!(d.timer().unwrap().interval, 2000);
    }

    #[test]
    fn too_small_is_422_with_our_minimum() {
        let p = Policy {
            session_expires: 1800,
            min_se: 600,
        };
        assert_eq!(
            uas(&p, Some("300"), None, true, true),
            UasDecision::TooSmall { min_se: 600 }
        );
        assert_eq!(
            uas(&P, Some("60"), None, true, true),
            UasDecision::TooSmall { min_se: 90 }
        );
    }

    #[test]
    fn absent_session_expires() {
        assert_eq!(
            uas(&P, None, None, true, true).timer(),
            Some(SessionTimer {
                interval: 1800,
                we_refresh: false
            })
        );
        assert_eq!(uas(&P, None, None, false, true), UasDecision::Off);
        assert_eq!(uas(&P, None, None, true, false), UasDecision::Off);
    }

    #[test]
    fn uac_reads_the_2xx_rfc4028_7_2() {
        assert_eq!(
            uac(Some("90;refresher=uas")),
            Some(SessionTimer {
                interval: 90,
                we_refresh: false
            })
        );
        assert_eq!(uac(Some("1800")).map(|t| t.we_refresh), Some(true));
        assert_eq!(uac(None), None);
        assert_eq!(uac(Some("soon")), None);
    }

    #[test]
    fn refresh_at_half_expire_before_the_end_rfc4028_10() {
        let t = SessionTimer {
            interval: 90,
            we_refresh: true,
        };
        assert_eq!(t.refresh_after_ms(), 45_000);
        assert_eq!(t.expire_after_ms(), 60_000);
        let t = SessionTimer {
            interval: 1800,
            we_refresh: false,
        };
        assert_eq!(t.expire_after_ms(), 1_768_000);
    }
}
