//! The audio stream of a channel: 8 kHz mono, a fixed frame period, one encoding.

use tipring_dsp::g711::Law;

/// Samples per second on every channel (wideband legs are resampled at their edge).
pub const SAMPLE_RATE: u32 = 8000;

/// How a channel's samples travel between the device and the media engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// G.711 μ-law, one byte per sample (T1, North American analog cards): the default.
    #[default]
    Ulaw,
    /// G.711 A-law, one byte per sample (E1, European analog cards).
    Alaw,
    /// 16-bit signed linear, little endian, two bytes per sample (USB audio, sim).
    Linear,
}

impl Encoding {
    /// Bytes per sample.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Ulaw | Encoding::Alaw => 1,
            Encoding::Linear => 2,
        }
    }

    /// Lower-case name as config files and the API write it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Ulaw => "ulaw",
            Encoding::Alaw => "alaw",
            Encoding::Linear => "linear",
        }
    }

    /// Decodes `bytes` into `out`; returns the number of samples written (as many as both
    /// hold whole).
    pub fn decode(self, bytes: &[u8], out: &mut [i16]) -> usize {
        match self {
            Encoding::Ulaw => Law::Mu.decode_slice(bytes, out),
            Encoding::Alaw => Law::A.decode_slice(bytes, out),
            Encoding::Linear => {
                let n = (bytes.len() / 2).min(out.len());
                for (o, b) in out[..n].iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = i16::from_le_bytes([b[0], b[1]]);
                }
                n
            }
        }
    }

    /// Encodes `samples` into `out`; returns the number of samples encoded.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        match self {
            Encoding::Ulaw => Law::Mu.encode_slice(samples, out),
            Encoding::Alaw => Law::A.encode_slice(samples, out),
            Encoding::Linear => {
                let n = samples.len().min(out.len() / 2);
                for (o, s) in out.chunks_exact_mut(2).zip(&samples[..n]) {
                    o.copy_from_slice(&s.to_le_bytes());
                }
                n
            }
        }
    }
}

/// Length of one frame: the media engine's tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FramePeriod {
    /// 10 ms, 80 samples: lower latency, twice the ticks.
    Ms10,
    /// 20 ms, 160 samples: the default, as RTP packetises G.711.
    #[default]
    Ms20,
}

impl FramePeriod {
    /// Samples per frame at [`SAMPLE_RATE`].
    pub const fn samples(self) -> usize {
        match self {
            FramePeriod::Ms10 => 80,
            FramePeriod::Ms20 => 160,
        }
    }

    /// Milliseconds per frame.
    pub const fn ms(self) -> u32 {
        match self {
            FramePeriod::Ms10 => 10,
            FramePeriod::Ms20 => 20,
        }
    }

    /// The period for `ms` (10 or 20).
    pub fn from_ms(ms: u32) -> Option<Self> {
        match ms {
            10 => Some(FramePeriod::Ms10),
            20 => Some(FramePeriod::Ms20),
            _ => None,
        }
    }
}

/// The most samples a frame holds.
pub const MAX_FRAME_SAMPLES: usize = FramePeriod::Ms20.samples();
/// The most bytes a frame holds.
pub const MAX_FRAME_BYTES: usize = MAX_FRAME_SAMPLES * 2;

/// A channel's stream: encoding and frame period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AudioFormat {
    /// How samples are encoded on the wire to the device.
    pub encoding: Encoding,
    /// Frame length.
    pub period: FramePeriod,
}

impl AudioFormat {
    /// Bytes in one frame.
    pub fn frame_bytes(&self) -> usize {
        self.period.samples() * self.encoding.bytes_per_sample()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_every_encoding() {
        let x: Vec<i16> = (0..160)
            .map(|n| ((n * 397) % 20_000 - 10_000) as i16)
            .collect();
        for encoding in [Encoding::Ulaw, Encoding::Alaw, Encoding::Linear] {
            let f = AudioFormat {
                encoding,
                period: FramePeriod::Ms20,
            };
            let mut bytes = vec![0u8; f.frame_bytes()];
            assert_eq!(encoding.encode(&x, &mut bytes), 160);
            let mut back = [0i16; 160];
            assert_eq!(encoding.decode(&bytes, &mut back), 160);
            for (a, b) in x.iter().zip(&back) {
                // G.711 keeps 4 mantissa bits: within 1/16 of the value, plus a step near 0.
                assert!(
                    (a - b).abs() <= a.abs() / 16 + 16,
                    "{encoding:?}: {a} vs {b}"
                );
            }
        }
    }
}
