//! ITU-T Q.850 cause values: why a call ended or failed.
//!
//! Every hang-up carries one, whatever the channel: ISDN sends it as is, SIP maps it to a
//! status code (RFC 3398), analog lines infer it (busy tone → 17, no answer → 19).

use core::fmt;

/// A Q.850 cause value (1–127).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cause(pub u8);

impl Cause {
    /// 1: the number is not assigned.
    pub const UNALLOCATED_NUMBER: Cause = Cause(1);
    /// 3: no route to the destination.
    pub const NO_ROUTE_TO_DESTINATION: Cause = Cause(3);
    /// 16: normal call clearing.
    pub const NORMAL_CLEARING: Cause = Cause(16);
    /// 17: the called party is busy.
    pub const USER_BUSY: Cause = Cause(17);
    /// 18: no user responding (no alerting).
    pub const NO_USER_RESPONDING: Cause = Cause(18);
    /// 19: alerted, but no answer.
    pub const NO_ANSWER: Cause = Cause(19);
    /// 21: the call was rejected.
    pub const CALL_REJECTED: Cause = Cause(21);
    /// 27: the destination is out of order.
    pub const DESTINATION_OUT_OF_ORDER: Cause = Cause(27);
    /// 28: the number is incomplete or malformed.
    pub const INVALID_NUMBER_FORMAT: Cause = Cause(28);
    /// 31: normal, unspecified.
    pub const NORMAL_UNSPECIFIED: Cause = Cause(31);
    /// 34: no circuit or channel available.
    pub const NO_CIRCUIT_AVAILABLE: Cause = Cause(34);
    /// 38: the network is out of order.
    pub const NETWORK_OUT_OF_ORDER: Cause = Cause(38);
    /// 41: temporary failure.
    pub const TEMPORARY_FAILURE: Cause = Cause(41);
    /// 42: switching equipment congestion.
    pub const SWITCHING_EQUIPMENT_CONGESTION: Cause = Cause(42);
    /// 102: recovery on timer expiry.
    pub const RECOVERY_ON_TIMER_EXPIRY: Cause = Cause(102);
    /// 127: interworking, unspecified.
    pub const INTERWORKING: Cause = Cause(127);

    /// The cause's name in Q.850's words, lower case (`"user busy"`); `"unknown"` for values
    /// this table doesn't name.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "unallocated number",
            2 => "no route to specified transit network",
            3 => "no route to destination",
            6 => "channel unacceptable",
            16 => "normal call clearing",
            17 => "user busy",
            18 => "no user responding",
            19 => "no answer from user",
            20 => "subscriber absent",
            21 => "call rejected",
            22 => "number changed",
            27 => "destination out of order",
            28 => "invalid number format",
            29 => "facility rejected",
            31 => "normal, unspecified",
            34 => "no circuit/channel available",
            38 => "network out of order",
            41 => "temporary failure",
            42 => "switching equipment congestion",
            44 => "requested circuit/channel not available",
            47 => "resource unavailable, unspecified",
            58 => "bearer capability not presently available",
            63 => "service or option not available",
            65 => "bearer capability not implemented",
            79 => "service or option not implemented",
            88 => "incompatible destination",
            102 => "recovery on timer expiry",
            111 => "protocol error, unspecified",
            127 => "interworking, unspecified",
            _ => "unknown",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q.850 table 1: the values call control relies on carry their standard numbers.
    #[test]
    fn q850_values() {
        assert_eq!(Cause::NORMAL_CLEARING.0, 16);
        assert_eq!(Cause::USER_BUSY.0, 17);
        assert_eq!(Cause::NO_ANSWER.0, 19);
        assert_eq!(Cause::SWITCHING_EQUIPMENT_CONGESTION.0, 42);
        assert_eq!(Cause::USER_BUSY.to_string(), "17 (user busy)");
        assert_eq!(Cause(200).name(), "unknown");
    }
}
