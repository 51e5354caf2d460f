//! The RFC 4733 telephone-event payload: four bytes per event.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     event     |E|R| volume    |          duration             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The RTP timestamp of every packet of an event is the event's start (RFC 4733 §2.3), the
//! duration grows with each update (§2.3.5), and the E bit marks the end (§2.3.2).

use crate::error::RtpError;

/// Bytes of one event.
pub const EVENT_LEN: usize = 4;

/// One RFC 4733 event report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (§3.2: 0–9, 10 `*`, 11 `#`, 12–15 `A`–`D`, 16 flash; others are tones).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the event's final report.
    pub end: bool,
    /// Power level of the tone, in −dBm0 (0–63), §2.3.4.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units (§2.3.5).
    pub duration: u16,
}

impl EventPayload {
    /// Reads the first event of a payload (RFC 4733 §2.3). Extra bytes (a second event of
    /// the same packet, §2.5.1.5, or padding) are ignored.
    ///
    /// # Errors
    /// [`RtpError::EventPayload`] if fewer than 4 bytes.
    pub fn parse(payload: &[u8]) -> Result<Self, RtpError> {
        let &[event, flags, d0, d1, ..] = payload else {
            return Err(RtpError::EventPayload { len: payload.len() });
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The four bytes of this report (the R bit is sent as 0).
    pub fn to_bytes(self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4733 §2.3: field layout, R bit ignored on receipt.
    #[test]
    fn rfc4733_2_3_layout() {
        let e = EventPayload::parse(&[11, 0x80 | 0x40 | 10, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            EventPayload {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), [11, 0x80 | 10, 0x03, 0x20]);
        assert_eq!(
            EventPayload::parse(&[1, 2, 3]),
            Err(RtpError::EventPayload { len: 3 })
        );
        assert!(EventPayload::parse(&[1, 2, 3, 4, 5, 6, 7, 8]).is_ok());
    }
}
