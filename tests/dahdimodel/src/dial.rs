//! `DAHDI_DIAL` and `DAHDI_SENDTONE`: the driver's own tone generation into the transmit
//! path. Both play only while the daemon has written nothing (written audio goes first, as in
//! the driver).

use std::collections::VecDeque;
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};
use tipring_dsp::progress::{ToneGenerator, plan};
use tipring_hal::dahdi::sys;

/// Samples per ms.
const MS: u32 = 8;
/// A `w`/`W` pause.
const PAUSE_MS: u32 = 500;
/// DTMF tone and the silence after it (the driver's default `dtmf_tonelen`).
const DTMF_MS: u32 = 100;
/// The longest dial buffer (`DAHDI_MAX_DTMF_BUF`).
const MAX_DIAL: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dtmf,
    Pulse,
    Mf,
    R2,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Digit(char, Mode),
    Pause,
}

#[derive(Debug)]
enum Playing {
    Dtmf,
    Silent(u32),
}

/// What `DAHDI_DIAL` has queued and is sending.
#[derive(Debug)]
pub(crate) struct Dialer {
    queue: VecDeque<Item>,
    /// Characters queued (the driver's `txdialbuf` length, for the APPEND limit).
    queued_chars: usize,
    playing: Option<Playing>,
    mode: Mode,
    dtmf: DtmfGenerator,
    dialing: bool,
    /// Every digit sent since the channel was opened, in order.
    pub(crate) dialled: String,
}

impl Dialer {
    pub(crate) fn new() -> Dialer {
        let cfg = DtmfGenConfig {
            on_ms: DTMF_MS,
            off_ms: DTMF_MS,
            ..DtmfGenConfig::default()
        };
        Dialer {
            queue: VecDeque::new(),
            queued_chars: 0,
            playing: None,
            mode: Mode::Dtmf,
            // A constant configuration inside the generator's ranges (tested below).
            dtmf: DtmfGenerator::new(cfg).expect("valid DTMF timing"),
            dialing: false,
            dialled: String::new(),
        }
    }

    /// True while digits are being sent (`DAHDI_DIALING`).
    pub(crate) fn is_dialing(&self) -> bool {
        self.dialing
    }

    /// Stops at once (`DIAL_OP_CANCEL`, `SENDTONE`, close): no `DIALCOMPLETE`.
    pub(crate) fn cancel(&mut self) {
        self.queue.clear();
        self.queued_chars = 0;
        self.playing = None;
        self.dtmf.clear();
        self.dialing = false;
    }

    /// Back to the state of a freshly opened channel.
    pub(crate) fn reset(&mut self) {
        self.cancel();
        self.mode = Mode::Dtmf;
        self.dialled.clear();
    }

    /// A `DAHDI_DIAL` operation. `Err(errno)` when refused; `Ok(true)` when the string
    /// finished at once (nothing to send: the caller raises `DIALCOMPLETE`).
    pub(crate) fn dial(&mut self, op: i32, s: &[u8]) -> Result<bool, i32> {
        match op {
            sys::DIAL_OP_CANCEL => {
                self.cancel();
                Ok(false)
            }
            sys::DIAL_OP_REPLACE => {
                self.cancel();
                self.push(s);
                self.dialing = true;
                Ok(self.finish_if_empty())
            }
            sys::DIAL_OP_APPEND => {
                if s.len() + self.queued_chars >= MAX_DIAL - 1 {
                    return Err(libc::EBUSY);
                }
                self.push(s);
                if self.dialing {
                    Ok(false)
                } else {
                    self.dialing = true;
                    Ok(self.finish_if_empty())
                }
            }
            _ => Err(libc::EINVAL),
        }
    }

    fn finish_if_empty(&mut self) -> bool {
        if self.queue.is_empty() && self.playing.is_none() {
            self.dialing = false;
            true
        } else {
            false
        }
    }

    fn push(&mut self, s: &[u8]) {
        self.queued_chars += s.len();
        for &b in s {
            let c = char::from(b);
            match c {
                'T' => self.mode = Mode::Dtmf,
                'P' => self.mode = Mode::Pulse,
                'M' => self.mode = Mode::Mf,
                'O' | 'R' => self.mode = Mode::R2,
                'w' | 'W' => self.queue.push_back(Item::Pause),
                _ => {
                    let ok = match self.mode {
                        Mode::Dtmf => tipring_dsp::dtmf::digit_position(c).is_some(),
                        Mode::Pulse => c.is_ascii_digit(),
                        Mode::Mf => c.is_ascii_digit() || "*#ABC".contains(c),
                        Mode::R2 => c.is_ascii_digit() || ('A'..='F').contains(&c),
                    };
                    // The driver skips characters it has no tone for.
                    if ok {
                        self.queue.push_back(Item::Digit(c, self.mode));
                    }
                }
            }
        }
    }

    /// Fills `out` while dialling; returns `(samples written, finished now)`. Samples past
    /// the count are untouched.
    pub(crate) fn generate(&mut self, out: &mut [i16]) -> (usize, bool) {
        if !self.dialing {
            return (0, false);
        }
        let mut n = 0;
        while n < out.len() {
            match self.playing {
                None => {
                    let Some(item) = self.queue.pop_front() else {
                        self.dialing = false;
                        self.queued_chars = 0;
                        return (n, true);
                    };
                    self.playing = Some(match item {
                        Item::Pause => Playing::Silent(PAUSE_MS * MS),
                        Item::Digit(c, mode) => {
                            self.dialled.push(c.to_ascii_uppercase());
                            match mode {
                                Mode::Dtmf => {
                                    let mut b = [0u8; 4];
                                    if self.dtmf.queue_digits(c.encode_utf8(&mut b)).is_ok() {
                                        Playing::Dtmf
                                    } else {
                                        Playing::Silent(2 * DTMF_MS * MS)
                                    }
                                }
                                Mode::Pulse => {
                                    // 100 ms per break/make pulse, then the inter-digit pause.
                                    let pulses =
                                        c.to_digit(10).map_or(10, |d| if d == 0 { 10 } else { d });
                                    Playing::Silent((pulses * 100 + 700) * MS)
                                }
                                Mode::Mf => Playing::Silent(2 * 68 * MS),
                                Mode::R2 => Playing::Silent(2 * 150 * MS),
                            }
                        }
                    });
                }
                Some(Playing::Dtmf) => {
                    let got = self.dtmf.generate(&mut out[n..]);
                    n += got;
                    if n < out.len() {
                        self.playing = None;
                    }
                }
                Some(Playing::Silent(left)) => {
                    let take = (left as usize).min(out.len() - n);
                    out[n..n + take].fill(0);
                    n += take;
                    let left = left - take as u32;
                    self.playing = if left == 0 {
                        None
                    } else {
                        Some(Playing::Silent(left))
                    };
                }
            }
        }
        (n, false)
    }
}

/// `DAHDI_SENDTONE`: a call-progress tone of the US plan, or a continuous DTMF digit.
#[derive(Debug)]
pub(crate) enum Tone {
    Progress(Box<ToneGenerator>),
    Dtmf(Box<DtmfGenerator>, char),
}

impl Tone {
    /// The tone for a `DAHDI_TONE_*` number, or `Err(errno)` for one the model does not have.
    pub(crate) fn new(tone: i32) -> Result<Tone, i32> {
        let us = &plan::US;
        let desc = match tone {
            0 => Some(us.dial),
            1 => Some(us.busy),
            2 => Some(us.ringback),
            3 => Some(us.congestion),
            _ => None,
        };
        if let Some(d) = desc {
            return Ok(Tone::Progress(Box::new(ToneGenerator::new(d))));
        }
        const DIGITS: &str = "0123456789*#ABCD";
        let c = tone
            .checked_sub(64)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| DIGITS.chars().nth(i))
            .ok_or(libc::EINVAL)?;
        let cfg = DtmfGenConfig {
            on_ms: 10_000,
            off_ms: 45,
            ..DtmfGenConfig::default()
        };
        let g = DtmfGenerator::new(cfg).map_err(|_| libc::EINVAL)?;
        Ok(Tone::Dtmf(Box::new(g), c))
    }

    /// Fills `out`; returns the samples written (fewer when a finite tone ended).
    pub(crate) fn generate(&mut self, out: &mut [i16]) -> usize {
        match self {
            Tone::Progress(g) => g.generate(out),
            Tone::Dtmf(g, c) => {
                if g.is_idle() {
                    let mut b = [0u8; 4];
                    let _ = g.queue_digits(c.encode_utf8(&mut b));
                }
                g.generate(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dial_string_plays_its_digits_then_completes() {
        let mut d = Dialer::new();
        assert_eq!(d.dial(sys::DIAL_OP_APPEND, b"Tw12"), Ok(false));
        let mut buf = vec![0i16; 8];
        let mut total = 0;
        loop {
            let (n, done) = d.generate(&mut buf);
            total += n;
            if done {
                break;
            }
            assert!(total < 8000 * 5, "never finished");
        }
        // 500 ms pause + 2 × (100 + 100) ms.
        assert_eq!(total, 8 * (500 + 400));
        assert_eq!(d.dialled, "12");
        assert!(!d.is_dialing());
    }

    #[test]
    fn an_empty_string_completes_at_once_and_bad_ops_are_refused() {
        let mut d = Dialer::new();
        assert_eq!(d.dial(sys::DIAL_OP_REPLACE, b"T"), Ok(true));
        assert_eq!(d.dial(9, b"1"), Err(libc::EINVAL));
        assert_eq!(d.dial(sys::DIAL_OP_APPEND, &[b'1'; 300]), Err(libc::EBUSY));
    }
}
