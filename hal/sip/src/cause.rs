//! SIP status ↔ Q.850 cause, as RFC 3398 (§7.2.4.1, §8.2.6.1) maps them, and the `Reason`
//! header (RFC 3326) that carries the cause itself when both sides speak it.

/// The Q.850 cause for a failure status Tipring received (RFC 3398 §8.2.6.1; statuses it
/// doesn't list map to 127, interworking).
pub fn q850_of_status(code: u16) -> u8 {
    match code {
        400 | 481 | 500 | 503 => 41,
        401 | 402 | 403 | 407 | 603 => 21,
        404 | 485 | 604 => 1,
        405 => 63,
        406 | 415 => 79,
        408 | 504 => 102,
        410 => 22,
        480 => 18,
        482 | 483 => 25,
        484 => 28,
        486 | 600 => 17,
        487 => 16,
        501 => 79,
        502 => 38,
        580 => 47,
        606 => 58,
        // A redirect we could not follow (no usable Contact, a loop, too many hops).
        300..=399 => 23,
        _ => 127,
    }
}

/// The status and reason phrase for refusing a call with Q.850 `cause` (RFC 3398 §7.2.4.1;
/// causes it doesn't list map to 500).
pub fn status_of_q850(cause: u8) -> (u16, &'static str) {
    match cause {
        1..=3 | 26 => (404, "Not Found"),
        17 => (486, "Busy Here"),
        18 => (408, "Request Timeout"),
        16 | 19 | 20 | 31 => (480, "Temporarily Unavailable"),
        21 | 55 | 57 | 87 => (403, "Forbidden"),
        22 | 23 => (410, "Gone"),
        27 => (502, "Bad Gateway"),
        28 => (484, "Address Incomplete"),
        29 | 69 | 79 => (501, "Not Implemented"),
        34 | 38 | 41 | 42 | 47 | 58 | 88 => (503, "Service Unavailable"),
        65 | 70 => (488, "Not Acceptable Here"),
        102 => (504, "Server Time-out"),
        _ => (500, "Server Internal Error"),
    }
}

/// A `Reason` header value carrying `cause` (RFC 3326).
pub fn reason_header(cause: u8) -> String {
    format!("Q.850;cause={cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3398_anchor_rows() {
        assert_eq!(q850_of_status(486), 17);
        assert_eq!(q850_of_status(404), 1);
        assert_eq!(q850_of_status(503), 41);
        assert_eq!(q850_of_status(699), 127);
        assert_eq!(q850_of_status(302), 23);
        assert_eq!(status_of_q850(17).0, 486);
        assert_eq!(status_of_q850(34).0, 503);
        assert_eq!(status_of_q850(1).0, 404);
        assert_eq!(status_of_q850(200).0, 500);
        // Busy survives the round trip both ways.
        assert_eq!(q850_of_status(status_of_q850(17).0), 17);
    }
}
