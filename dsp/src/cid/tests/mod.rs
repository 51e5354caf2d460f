//! Tests of the caller-ID module. Every signal is generated here; every test names the clause
//! or target it checks.

mod dtmf;
mod fuzz;
mod messages;
mod modem;
mod receiver;
mod report;

use std::vec::Vec;

use super::*;
use crate::level::{dbm0_to_peak, dbm0_to_power};

/// Deterministic noise and data for the tests.
pub(crate) use crate::synth::Rng;

/// A line between an independent FSK generator and the receiver: rate and tone errors, twist.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub baud: f64,
    pub mark_hz: f64,
    pub space_hz: f64,
    /// Level of the mark tone, dBm0.
    pub mark_dbm0: f64,
    /// Level of the space tone, dBm0.
    pub space_dbm0: f64,
}

impl Line {
    pub(crate) fn nominal(standard: FskStandard, dbm0: f64) -> Self {
        Self {
            baud: 1200.0,
            mark_hz: f64::from(standard.mark_hz()),
            space_hz: f64::from(standard.space_hz()),
            mark_dbm0: dbm0,
            space_dbm0: dbm0,
        }
    }

    /// Mean power of the FSK signal (both tones equally likely).
    pub(crate) fn power(&self) -> f64 {
        (f64::from(dbm0_to_power(self.mark_dbm0 as f32))
            + f64::from(dbm0_to_power(self.space_dbm0 as f32)))
            / 2.0
    }

    /// Continuous-phase FSK of `bits` (true = mark), in f64: an implementation independent of
    /// the crate's modulator.
    pub(crate) fn modulate(&self, bits: &[bool]) -> Vec<f64> {
        let fs = 8000.0;
        let n = (bits.len() as f64 * fs / self.baud).ceil() as usize;
        let mut out = Vec::with_capacity(n);
        let mut phase = 0f64;
        let bit_at = |t: f64| bits[((t * self.baud / fs) as usize).min(bits.len() - 1)];
        let freq = |m: bool| if m { self.mark_hz } else { self.space_hz };
        let amp = |m: bool| {
            f64::from(dbm0_to_peak(
                if m { self.mark_dbm0 } else { self.space_dbm0 } as f32,
            ))
        };
        for i in 0..n {
            let t = i as f64;
            let m = bit_at(t);
            out.push(amp(m) * phase.sin());
            // Integrate the frequency over [t, t + 1), splitting at a bit edge.
            let edge = ((t * self.baud / fs).floor() + 1.0) * fs / self.baud;
            let adv = if edge < t + 1.0 {
                let f = edge - t;
                freq(m) * f + freq(bit_at(t + 1.0)) * (1.0 - f)
            } else {
                freq(m)
            };
            phase += core::f64::consts::TAU * adv / fs;
        }
        out
    }
}

/// Bits of a burst: seizure (0101…), mark, then each byte as 8N1, then `tail` marks.
pub(crate) fn burst_bits(frame: &[u8], seizure: bool, mark: usize, tail: usize) -> Vec<bool> {
    let mut b = Vec::new();
    if seizure {
        b.extend((0..300).map(|i| i % 2 == 1));
    }
    b.extend(core::iter::repeat_n(true, mark));
    for &byte in frame {
        b.push(false);
        b.extend((0..8).map(|k| (byte >> k) & 1 == 1));
        b.push(true);
    }
    b.extend(core::iter::repeat_n(true, tail));
    b
}

/// Adds white Gaussian noise (0–4 kHz) at `snr_db` below `signal_power`, then quantises.
pub(crate) fn add_noise(x: &[f64], signal_power: f64, snr_db: f64, rng: &mut Rng) -> Vec<i16> {
    let sigma = (signal_power / 10f64.powf(snr_db / 10.0)).sqrt();
    x.iter()
        .map(|&v| {
            (v + sigma * rng.gaussian())
                .round()
                .clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

pub(crate) fn quantise(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// `n` samples of digital silence.
pub(crate) fn silence(n: usize) -> Vec<i16> {
    std::vec![0; n]
}

/// Whole burst from the crate's modulator.
pub(crate) fn modulate(cfg: FskConfig, frame: &[u8]) -> Vec<i16> {
    let mut tx = FskModulator::new(cfg);
    tx.load(frame).unwrap();
    let mut out = Vec::new();
    let mut buf = [0i16; 97];
    loop {
        let n = tx.generate(&mut buf);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Runs `audio` through a receiver in chunks of `chunk` samples, polling after each call.
pub(crate) fn receive(cfg: CidRxConfig, audio: &[i16], chunk: usize) -> Vec<CidEvent> {
    let mut rx = CidReceiver::new(cfg);
    let mut events = Vec::new();
    for block in audio.chunks(chunk.max(1)) {
        let mut rest = block;
        while !rest.is_empty() {
            let n = rx.process(rest);
            rest = &rest[n..];
            while let Some(e) = rx.poll_event() {
                events.push(e);
            }
        }
    }
    events
}

/// Surrounds a burst with 100 ms of silence before and 200 ms after.
pub(crate) fn padded(burst: &[i16]) -> Vec<i16> {
    let mut v = silence(800);
    v.extend_from_slice(burst);
    v.extend(silence(1600));
    v
}

/// G.711 μ-law encode then decode.
pub(crate) fn mulaw_round_trip(x: i16) -> i16 {
    crate::g711::ulaw_to_linear(crate::g711::linear_to_ulaw(x))
}

/// Demodulates `audio` into characters with the receiver's own front end and framer, without
/// the message layer: every character the framer completes while carrier is present, with the
/// sample index at which it completed.
pub(crate) fn raw_chars(standard: FskStandard, audio: &[i16]) -> Vec<(usize, u8)> {
    use super::demod::FskFrontEnd;
    use super::uart::{Uart, UartOut};
    let mut front = FskFrontEnd::new(standard, -48.0);
    let mut uart = Uart::new();
    let mut out = Vec::new();
    for (i, &x) in audio.iter().enumerate() {
        let s = front.push(x);
        if !s.carrier {
            uart.reset(s.value);
            continue;
        }
        match uart.push(s.value) {
            Some(UartOut::Byte(b) | UartOut::FramingError(b)) => out.push((i, b)),
            None => {}
        }
    }
    out
}

/// Bit errors of received characters against `sent`, matching each received character to the
/// sent one whose stop bit it follows (by time, so a lost or spurious character costs 8 errors
/// and does not shift the rest). `first_start` is the sample time of the first start bit.
pub(crate) fn bit_errors(sent: &[u8], got: &[(usize, u8)], first_start: f64, baud: f64) -> usize {
    let bit = 8000.0 / baud;
    let mut matched = std::vec![None; sent.len()];
    let mut errors = 0;
    for &(at, b) in got {
        // Stop-bit centre of character i is at first_start + (10 i + 9.5) bits; the front end
        // adds a few samples of delay.
        let i = ((at as f64 - first_start) / bit - 9.5) / 10.0;
        let k = i.round();
        if k < 0.0
            || k as usize >= sent.len()
            || (i - k).abs() > 0.3
            || matched[k as usize].is_some()
        {
            errors += 8; // spurious character
            continue;
        }
        matched[k as usize] = Some(b);
    }
    for (s, m) in sent.iter().zip(&matched) {
        errors += match m {
            Some(b) => (s ^ b).count_ones() as usize,
            None => 8,
        };
    }
    errors
}

/// Measured bit errors and bits of `n_bytes` random 8N1 characters over `line` at `snr_db`
/// (white Gaussian noise over 0–4 kHz).
pub(crate) fn measure_ber(
    standard: FskStandard,
    line: Line,
    snr_db: f64,
    n_bytes: usize,
    seed: u64,
) -> (usize, usize) {
    measure_ber_with(standard, line, snr_db, n_bytes, seed, |x| x)
}

/// [`measure_ber`] with `channel` applied to every sample after the noise (e.g. G.711).
pub(crate) fn measure_ber_with(
    standard: FskStandard,
    line: Line,
    snr_db: f64,
    n_bytes: usize,
    seed: u64,
    channel: fn(i16) -> i16,
) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let data: Vec<u8> = (0..n_bytes).map(|_| rng.byte()).collect();
    let lead = 80;
    let bits = burst_bits(&data, false, lead, 20);
    let x = line.modulate(&bits);
    let audio: Vec<i16> = add_noise(&x, line.power(), snr_db, &mut rng)
        .into_iter()
        .map(channel)
        .collect();
    let got = raw_chars(standard, &audio);
    let first_start = lead as f64 * 8000.0 / line.baud;
    (bit_errors(&data, &got, first_start, line.baud), 8 * n_bytes)
}
