//! Asynchronous 8N1 framer on the soft bit stream, with fractional-sample timing.

use super::{BAUD, SAMPLE_RATE};

/// Samples per bit (8000 / 1200 = 6.67).
pub(crate) const BIT: f32 = SAMPLE_RATE as f32 / BAUD as f32;

/// What the framer produced at a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UartOut {
    /// A character with a good stop bit.
    Byte(u8),
    /// A character whose stop bit was a space (its data bits as read).
    FramingError(u8),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Waiting for a mark → space transition.
    Idle,
    /// In a character: `t` samples since the start edge, `next` the bit to sample
    /// (0 start, 1–8 data, 9 stop).
    Bits { t: f32, next: u8, byte: u8 },
}

/// The framer.
///
/// A start edge is the zero crossing of the soft value from mark (< 0) to space (≥ 0), placed
/// between two samples by linear interpolation. Bit `k` is then read at `(k + ½)·BIT` samples
/// after the edge, again by interpolating between the samples either side, so timing keeps a
/// sub-sample resolution even though a bit is 6.67 samples. The start bit must still be a
/// space at its centre (otherwise it was a glitch and the framer goes back to waiting). Every
/// character re-synchronises on its own start edge, so a ±1.5 % rate error only accumulates
/// over 9.5 bits (0.14 bit).
#[derive(Debug, Clone)]
pub(crate) struct Uart {
    state: State,
    prev: f32,
}

impl Uart {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Idle,
            prev: 0.0,
        }
    }

    /// Back to waiting for a start edge; `prev` is the last soft value seen.
    pub(crate) fn reset(&mut self, prev: f32) {
        self.state = State::Idle;
        self.prev = prev;
    }

    /// True while inside a character.
    pub(crate) fn in_char(&self) -> bool {
        matches!(self.state, State::Bits { .. })
    }

    /// Feeds one soft value.
    #[inline]
    pub(crate) fn push(&mut self, v: f32) -> Option<UartOut> {
        let prev = self.prev;
        self.prev = v;
        match self.state {
            State::Idle => {
                if prev < 0.0 && v >= 0.0 {
                    // Crossing at prev + τ·(v − prev) = 0, τ ∈ (0, 1] samples after `prev`.
                    let tau = prev / (prev - v);
                    self.state = State::Bits {
                        t: 1.0 - tau,
                        next: 0,
                        byte: 0,
                    };
                }
                None
            }
            State::Bits { t, next, byte } => {
                let t = t + 1.0;
                let target = (f32::from(next) + 0.5) * BIT;
                if t < target {
                    self.state = State::Bits { t, next, byte };
                    return None;
                }
                // Value at `target`, between prev (at t − 1) and v (at t).
                let x = v - (v - prev) * (t - target);
                let mark = x < 0.0;
                match next {
                    0 if mark => {
                        self.state = State::Idle;
                        None
                    }
                    0 => {
                        self.state = State::Bits { t, next: 1, byte };
                        None
                    }
                    1..=8 => {
                        let byte = byte | (u8::from(mark) << (next - 1));
                        self.state = State::Bits {
                            t,
                            next: next + 1,
                            byte,
                        };
                        None
                    }
                    _ => {
                        self.state = State::Idle;
                        if mark && v >= 0.0 {
                            // The next start edge already came, between the stop bit's centre
                            // and this sample (a fast sender): start timing from it now rather
                            // than miss it.
                            let since = (t - target) * v / (v - x);
                            self.state = State::Bits {
                                t: since,
                                next: 0,
                                byte: 0,
                            };
                        }
                        Some(if mark {
                            UartOut::Byte(byte)
                        } else {
                            UartOut::FramingError(byte)
                        })
                    }
                }
            }
        }
    }
}
