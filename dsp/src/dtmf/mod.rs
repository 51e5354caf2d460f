//! DTMF (dual-tone multi-frequency) signalling: a receiver and a generator.
//!
//! # What does it do?
//! [`DtmfRx`] detects the 16 DTMF digits of ITU-T Q.23 in 8 kHz audio and meets the
//! receiver requirements of ITU-T Q.24 (AT&T column) and ETSI ES 201 235-3; see
//! [`receiver`] for the figures and how they are met. [`DtmfGenerator`] sends digit strings
//! at exact frequencies and configurable levels and timing.
//!
//! Digits are `char`s from `0123456789*#ABCD`. The keypad layout (Q.23):
//!
//! | Hz   | 1209 | 1336 | 1477 | 1633 |
//! |------|------|------|------|------|
//! | 697  | 1    | 2    | 3    | A    |
//! | 770  | 4    | 5    | 6    | B    |
//! | 852  | 7    | 8    | 9    | C    |
//! | 941  | *    | 0    | #    | D    |

pub mod generator;
pub mod receiver;

pub use generator::{DtmfGenConfig, DtmfGenError, DtmfGenerator};
pub use receiver::{DtmfEvent, DtmfRx, DtmfRxConfig, DtmfRxError};

/// Low-group (row) frequencies in Hz, ITU-T Q.23.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz, ITU-T Q.23.
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Digits by `row * 4 + col`.
pub const KEYPAD: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];

/// Row and column of a digit (`0-9 * # A-D`, letters in either case); `None` for anything else.
pub fn digit_position(digit: char) -> Option<(usize, usize)> {
    let d = digit.to_ascii_uppercase();
    KEYPAD.iter().position(|&k| k == d).map(|i| (i / 4, i % 4))
}

/// The two frequencies (row, column) of a digit.
pub fn digit_freqs(digit: char) -> Option<(f32, f32)> {
    digit_position(digit).map(|(r, c)| (ROW_HZ[r], COL_HZ[c]))
}

/// RFC 4733 §3.2 event code of a digit: 0–9, `*` 10, `#` 11, A–D 12–15.
pub fn rfc4733_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The digit of an RFC 4733 event code (0–15).
pub fn rfc4733_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keypad_and_rfc4733_agree() {
        for &d in &KEYPAD {
            let e = rfc4733_event(d).unwrap();
            assert_eq!(rfc4733_digit(e), Some(d));
            assert!(digit_freqs(d).is_some());
        }
        assert_eq!(digit_freqs('5'), Some((770.0, 1336.0)));
        assert_eq!(digit_freqs('d'), Some((941.0, 1633.0)));
        assert_eq!(digit_position('x'), None);
        assert_eq!(rfc4733_digit(16), None);
    }
}
