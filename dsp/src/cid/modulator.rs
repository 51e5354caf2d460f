//! FSK transmitter: channel seizure, mark, then the frame as async 8N1 characters.

use super::error::CidError;
use super::message::{Frame, MAX_FRAME, Message, encode};
use super::{BAUD, Format, FskStandard, SAMPLE_RATE};
use crate::level::dbm0_to_peak;
use crate::osc::{Oscillator, phase_step};

/// Channel-seizure length (GR-30-CORE, EN 300 659-1): 300 alternating bits.
pub const SEIZURE_BITS: u32 = 300;
/// Mark before on-hook data (GR-30-CORE / EN 300 659-1): 180 bits.
pub const MARK_BITS_ON_HOOK: u16 = 180;
/// Mark before call-waiting (type 2, off-hook) data: 80 bits.
pub const MARK_BITS_CIDCW: u16 = 80;

/// Transmitter settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FskConfig {
    /// Bell 202 or V.23 tones.
    pub standard: FskStandard,
    /// Level of the carrier in dBm0, clamped to −60 … +3 (default −13).
    pub level_dbm0: f32,
    /// Send the 300-bit channel seizure (true for on-hook type 1, false for call waiting).
    pub seizure: bool,
    /// Mark bits before the first character (180 on-hook, 80 call waiting).
    pub mark_bits: u16,
    /// Mark bits after the last stop bit (default 0; some line cards like a few).
    pub tail_bits: u16,
}

impl FskConfig {
    /// On-hook (type 1) burst: seizure + 180 mark bits, −13 dBm0.
    pub fn on_hook(standard: FskStandard) -> Self {
        Self {
            standard,
            level_dbm0: -13.0,
            seizure: true,
            mark_bits: MARK_BITS_ON_HOOK,
            tail_bits: 0,
        }
    }

    /// Call-waiting (type 2, off-hook) burst: no seizure, 80 mark bits, −13 dBm0.
    pub fn call_waiting(standard: FskStandard) -> Self {
        Self {
            seizure: false,
            mark_bits: MARK_BITS_CIDCW,
            ..Self::on_hook(standard)
        }
    }
}

impl Default for FskConfig {
    /// [`FskConfig::on_hook`] with Bell 202.
    fn default() -> Self {
        Self::on_hook(FskStandard::Bell202)
    }
}

/// Continuous-phase FSK modulator for one caller-ID / MWI burst at a time.
///
/// Bit edges fall at exact multiples of 8000/1200 samples: when a bit ends inside a sample
/// period, that period's phase advance is split between the two frequencies, so the phase is
/// continuous and the bit timing has no sample-rounding jitter.
///
/// ```
/// use tipring_dsp::cid::{FskConfig, FskModulator, FskStandard};
/// let mut tx = FskModulator::new(FskConfig::on_hook(FskStandard::Bell202));
/// tx.load(&[0x06, 3, 0x42, 0x42, 0x42, 0x31]).unwrap();
/// let mut out = [0i16; 160];
/// let mut total = 0;
/// loop {
///     let n = tx.generate(&mut out);
///     if n == 0 { break; }
///     total += n;
/// }
/// // 300 seizure + 180 mark + 6 characters × 10 bits = 540 bits at 1200 bit/s.
/// assert_eq!(total, 3600);
/// ```
#[derive(Debug, Clone)]
pub struct FskModulator {
    cfg: FskConfig,
    osc: Oscillator,
    mark_step: u32,
    space_step: u32,
    frame: Frame,
    /// Index of the current bit in the burst.
    bit: u32,
    /// Bits in the burst (0 when idle).
    total_bits: u32,
    /// Time into the current bit, in units of 1/(SAMPLE_RATE·BAUD) s: a sample is `BAUD`,
    /// a bit is `SAMPLE_RATE`.
    pos: u32,
}

impl FskModulator {
    /// A modulator with nothing loaded.
    pub fn new(cfg: FskConfig) -> Self {
        let level = if cfg.level_dbm0.is_nan() {
            -13.0
        } else {
            cfg.level_dbm0.clamp(-60.0, 3.0)
        };
        let cfg = FskConfig {
            level_dbm0: level,
            ..cfg
        };
        Self {
            cfg,
            osc: Oscillator::new(cfg.standard.mark_hz(), SAMPLE_RATE, dbm0_to_peak(level)),
            mark_step: phase_step(cfg.standard.mark_hz(), SAMPLE_RATE),
            space_step: phase_step(cfg.standard.space_hz(), SAMPLE_RATE),
            frame: Frame::new(),
            bit: 0,
            total_bits: 0,
            pos: 0,
        }
    }

    /// The configuration in use (level clamped).
    pub fn config(&self) -> &FskConfig {
        &self.cfg
    }

    /// Starts a burst carrying `frame` (normally the output of [`encode`]: type, length, data,
    /// checksum; sent as is, not checked). Abandons any burst in progress.
    ///
    /// # Errors
    /// [`CidError::TooLong`] when `frame` exceeds 258 bytes.
    pub fn load(&mut self, frame: &[u8]) -> Result<(), CidError> {
        if frame.len() > MAX_FRAME {
            return Err(CidError::TooLong {
                field: super::Field::Message,
                max: MAX_FRAME,
                len: frame.len(),
            });
        }
        self.frame.clear();
        // Length checked above.
        let _ = self.frame.extend_from_slice(frame);
        self.total_bits =
            self.preamble_bits() + 10 * self.frame.len() as u32 + u32::from(self.cfg.tail_bits);
        self.bit = 0;
        self.pos = 0;
        self.osc.set_phase(0);
        self.osc.set_freq(self.freq(self.bit_value(0)), SAMPLE_RATE);
        Ok(())
    }

    /// Encodes `message` in `format` and loads it.
    ///
    /// # Errors
    /// Those of [`encode`].
    pub fn load_message(&mut self, message: &Message, format: Format) -> Result<(), CidError> {
        let frame = encode(message, format)?;
        self.load(&frame)
    }

    /// True while a burst has samples left.
    pub fn is_busy(&self) -> bool {
        self.bit < self.total_bits
    }

    /// Samples left in the current burst (0 when idle).
    pub fn remaining_samples(&self) -> usize {
        if !self.is_busy() {
            return 0;
        }
        // Time left = (bits left)·SAMPLE_RATE − pos, in 1/BAUD-sample units; round up.
        let left =
            u64::from(self.total_bits - self.bit) * u64::from(SAMPLE_RATE) - u64::from(self.pos);
        left.div_ceil(u64::from(BAUD)) as usize
    }

    /// Writes burst samples into `out`; returns how many (less than `out.len()` only at the end
    /// of the burst, 0 when idle). Samples past the returned count are left untouched.
    pub fn generate(&mut self, out: &mut [i16]) -> usize {
        let mut n = 0;
        for o in out.iter_mut() {
            if !self.is_busy() {
                break;
            }
            *o = crate::osc::sat_i16(self.osc.next_sample());
            n += 1;
            let old_step = self.step(self.bit_value(self.bit));
            self.pos += BAUD;
            if self.pos >= SAMPLE_RATE {
                // The bit ended inside this sample period: the part of the period after the
                // edge belongs to the next bit's frequency.
                self.pos -= SAMPLE_RATE;
                self.bit += 1;
                if self.is_busy() {
                    let v = self.bit_value(self.bit);
                    let new_step = self.step(v);
                    if new_step != old_step {
                        // Both steps are below half a turn, so their difference is exact
                        // as a signed number; (new − old)·after/BAUD is the phase the old
                        // frequency over-counted, wrapped to 2⁻³² turns.
                        let delta = i64::from(new_step) - i64::from(old_step);
                        let corr = (delta * i64::from(self.pos) / i64::from(BAUD)) as u32;
                        self.osc.set_phase(self.osc.phase().wrapping_add(corr));
                    }
                    self.osc.set_freq(self.freq(v), SAMPLE_RATE);
                }
            }
        }
        n
    }

    fn preamble_bits(&self) -> u32 {
        let seizure = if self.cfg.seizure { SEIZURE_BITS } else { 0 };
        seizure + u32::from(self.cfg.mark_bits)
    }

    /// Value of bit `i` of the burst (true = mark = 1).
    fn bit_value(&self, i: u32) -> bool {
        let seizure = if self.cfg.seizure { SEIZURE_BITS } else { 0 };
        if i < seizure {
            // Alternating, starting with a space: the same waveform as framed 0x55 characters.
            return i % 2 == 1;
        }
        let i = i - seizure;
        let mark = u32::from(self.cfg.mark_bits);
        if i < mark {
            return true;
        }
        let i = i - mark;
        let (byte, b) = ((i / 10) as usize, i % 10);
        match self.frame.get(byte) {
            None => true, // tail
            Some(&v) => match b {
                0 => false,                   // start bit
                9 => true,                    // stop bit
                k => (v >> (k - 1)) & 1 == 1, // LSB first
            },
        }
    }

    fn freq(&self, mark: bool) -> f32 {
        if mark {
            self.cfg.standard.mark_hz()
        } else {
            self.cfg.standard.space_hz()
        }
    }

    fn step(&self, mark: bool) -> u32 {
        if mark {
            self.mark_step
        } else {
            self.space_step
        }
    }
}
